#include "decide.h"
#include "risk.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const rule_names[RG_RULE_COUNT] = {
	[RG_RULE_ALLOWED] = "allowed",
	[RG_RULE_NO_POLICY] = "no-policy",
	[RG_RULE_KIND_NOT_ALLOWED] = "kind-not-allowed",
	[RG_RULE_OLD_PASSWORD_REQUIRED] = "old-password-required",
	[RG_RULE_NOT_PROVISIONER] = "not-provisioner",
	[RG_RULE_EVIDENCE_MISSING] = "evidence-missing",
	[RG_RULE_EVIDENCE_MALFORMED] = "evidence-malformed",
	[RG_RULE_EVIDENCE_ALG] = "evidence-algorithm",
	[RG_RULE_EVIDENCE_ISSUER] = "evidence-unknown-issuer",
	[RG_RULE_EVIDENCE_SIGNATURE] = "evidence-bad-signature",
	[RG_RULE_EVIDENCE_SUBJECT] = "evidence-wrong-subject",
	[RG_RULE_EVIDENCE_EXPIRED] = "evidence-expired",
	[RG_RULE_EVIDENCE_NOT_YET_VALID] = "evidence-not-yet-valid",
	[RG_RULE_EVIDENCE_TOO_OLD] = "evidence-too-old",
	[RG_RULE_EVIDENCE_REPLAYED] = "evidence-replayed",
	[RG_RULE_METHOD_FORBIDDEN] = "method-forbidden",
	[RG_RULE_METHOD_INSUFFICIENT] = "method-insufficient",
	[RG_RULE_LEVEL_INSUFFICIENT] = "level-insufficient",
	[RG_RULE_STEP_UP_REQUIRED] = "step-up-required",
	[RG_RULE_APPROVER_MISSING] = "approver-missing",
	[RG_RULE_APPROVER_IS_REQUESTER] = "approver-is-requester",
	[RG_RULE_APPROVER_IS_TARGET] = "approver-is-target",
	[RG_RULE_APPROVER_NOT_AUTHORIZED] = "approver-not-authorized",
	[RG_RULE_REASON_MISSING] = "reason-missing",
	[RG_RULE_VELOCITY_EXCEEDED] = "velocity-exceeded",
	[RG_RULE_BREAK_GLASS] = "break-glass",
	[RG_RULE_ROOTDN_EXEMPT] = "rootdn-exempt",
	[RG_RULE_LOG_FAILED] = "log-failed",
	[RG_RULE_INTERNAL] = "internal-error",
	[RG_RULE_PASSWORD_IN_RDN] = "password-in-rdn",
	[RG_RULE_TRANSACTION] = "transaction-refused",
	[RG_RULE_BREAK_GLASS_PROXIED] = "break-glass-proxied",
	[RG_RULE_GROUP_LOOKUP_FAILED] = "group-lookup-failed",
	[RG_RULE_OLD_PASSWORD_AMBIGUOUS] = "old-password-ambiguous",
	[RG_RULE_OLD_PASSWORD_WRONG] = "old-password-wrong",
	[RG_RULE_RISK_TOO_HIGH] = "risk-too-high",
	[RG_RULE_RISK_STEP_UP] = "risk-step-up-required",
	[RG_RULE_RISK_UNKNOWN] = "risk-unknown",
	[RG_RULE_RISK_ANONYMIZER] = "risk-anonymizer",
	[RG_RULE_RISK_UNKNOWN_NETWORK] = "risk-unknown-network",
	[RG_RULE_RISK_UNMANAGED_DEVICE] = "risk-unmanaged-device",
	[RG_RULE_RISK_UNKNOWN_DEVICE] = "risk-unknown-device",
	[RG_RULE_RISK_COUNTRY] = "risk-country",
	[RG_RULE_RECENT_FAILED_BINDS] = "recent-failed-binds",
	[RG_RULE_ACCOUNT_LOCKED] = "account-locked",
	[RG_RULE_RECENT_RESET] = "recent-reset",
	[RG_RULE_RECOVERY_CHANGED] = "recovery-changed",
	[RG_RULE_POSSESSION_REQUIRED] = "possession-required",
	[RG_RULE_POSSESSION_MISMATCH] = "possession-mismatch",
};

const char *
rg_rule_name(enum rg_rule rule)
{
	return (unsigned)rule < RG_RULE_COUNT ? rule_names[rule] : "unknown";
}

enum rg_kind
rg_classify(const struct rg_policy *p, int is_add, const char *requester_ndn,
	const char *target_ndn, enum rg_group_fact break_glass_member)
{
	if (is_add)
		return RG_KIND_PROVISIONING;
	if (strcmp(requester_ndn, target_ndn) == 0)
		return RG_KIND_SELF_CHANGE;
	if (p != NULL && (rg_strlist_has(&p->break_glass, requester_ndn) ||
		break_glass_member == RG_GROUP_YES))
		return RG_KIND_BREAK_GLASS;
	if (p != NULL && rg_strlist_has(&p->reset_agents, requester_ndn))
		return RG_KIND_SELF_SERVICE;
	return RG_KIND_DELEGATED;
}

void
rg_deny(struct rg_decision *d, enum rg_rule rule, int ldap_result, const char *fmt, ...)
{
	va_list ap;

	d->allowed = 0;
	d->rule = rule;
	d->ldap_result = ldap_result;
	d->review_required = 0;
	d->force_change = 0;
	d->alert = 0;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	rg_utf8_trim(d->text);
}

/* vsnprintf cuts at a byte: drop a trailing partial UTF-8 sequence so the text stays valid
 * as an LDAP result text (an LDAPString is UTF-8). */
void
rg_utf8_trim(char *s)
{
	size_t len = strlen(s), i = len, need;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && len - i < 3)
		i--;
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return;
	need = ((unsigned char)s[i - 1] & 0xe0) == 0xc0 ? 2 :
		((unsigned char)s[i - 1] & 0xf0) == 0xe0 ? 3 :
		((unsigned char)s[i - 1] & 0xf8) == 0xf0 ? 4 : 0;
	if (need != len - i + 1)
		s[i - 1] = '\0';
}

static void
allow(struct rg_decision *d, enum rg_rule rule)
{
	memset(d, 0, sizeof(*d));
	d->allowed = 1;
	d->rule = rule;
	d->ldap_result = RG_LDAP_SUCCESS;
}

static const char *
first_listed(const struct rg_evidence *ev, const struct rg_strlist *l)
{
	for (size_t i = 0; i < ev->namr; i++)
		if (rg_strlist_has(l, ev->amr[i]))
			return ev->amr[i];
	return NULL;
}

/* A ban must not be dodged by spelling: "KBA" is the banned "kba". Accepted methods stay
 * exact, since a looser match there could only widen what is accepted. */
static const char *
first_banned(const struct rg_evidence *ev, const struct rg_strlist *l)
{
	for (size_t i = 0; i < ev->namr; i++)
		for (size_t j = 0; j < l->n; j++)
			if (strcasecmp(ev->amr[i], l->v[j]) == 0)
				return ev->amr[i];
	return NULL;
}

static int
is_blank(const char *s)
{
	if (s == NULL)
		return 1;
	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

static int
group_unknown(enum rg_group_fact f, const char *what, const struct rg_policy *p,
	struct rg_decision *d)
{
	if (f != RG_GROUP_UNKNOWN)
		return 0;
	rg_deny(d, RG_RULE_GROUP_LOOKUP_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
		"cannot tell whether %s of policy %s: a group lookup failed; check that every "
		"group the policy names exists and is readable", what, p->dn);
	return -1;
}

/* Signature, issuer and shape were checked by rg_evidence_verify; what remains needs
 * the clock, the target and the policy. Returns 0 when the evidence is acceptable. */
static int
check_evidence(const struct rg_policy *p, const struct rg_request *r, struct rg_decision *d)
{
	const struct rg_evidence *ev = r->ev;
	const char *kind = rg_kind_name(r->kind);
	const char *m;

	if (!r->ev_present) {
		rg_deny(d, RG_RULE_EVIDENCE_MISSING, RG_LDAP_INSUFFICIENT_ACCESS,
			"a %s reset needs proofing evidence: attach a proofing token from a "
			"trusted issuer in the resetguard proofing control", kind);
		return -1;
	}
	switch (r->ev_status) {
	case RG_EV_OK:
		break;
	case RG_EV_MALFORMED:
		rg_deny(d, RG_RULE_EVIDENCE_MALFORMED, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token is malformed: %s", r->ev_error);
		return -1;
	case RG_EV_UNSUPPORTED_ALG:
		rg_deny(d, RG_RULE_EVIDENCE_ALG, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token algorithm refused: %s", r->ev_error);
		return -1;
	case RG_EV_UNKNOWN_ISSUER:
		rg_deny(d, RG_RULE_EVIDENCE_ISSUER, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token issuer is not trusted: %s", r->ev_error);
		return -1;
	case RG_EV_BAD_SIGNATURE:
	default:
		rg_deny(d, RG_RULE_EVIDENCE_SIGNATURE, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token signature does not verify with the issuer's key");
		return -1;
	}

	if (!(r->ev_sub_ndn != NULL && strcmp(r->ev_sub_ndn, r->target_ndn) == 0) &&
	    !(r->target_uid != NULL && strcmp(ev->sub, r->target_uid) == 0)) {
		rg_deny(d, RG_RULE_EVIDENCE_SUBJECT, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token was issued for another account, not for %s", r->target_ndn);
		return -1;
	}
	if (ev->exp <= r->now - r->clock_skew) {
		rg_deny(d, RG_RULE_EVIDENCE_EXPIRED, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token expired %lld seconds ago: obtain fresh evidence",
			r->now - ev->exp);
		return -1;
	}
	if (ev->iat > r->now + r->clock_skew || ev->nbf > r->now + r->clock_skew) {
		rg_deny(d, RG_RULE_EVIDENCE_NOT_YET_VALID, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token is not valid yet (issued or usable in the future): "
			"check the issuer's clock");
		return -1;
	}
	if (r->now - ev->iat > p->max_evidence_age) {
		rg_deny(d, RG_RULE_EVIDENCE_TOO_OLD, RG_LDAP_CONSTRAINT_VIOLATION,
			"proofing evidence is %lld seconds old; policy %s accepts at most %lld",
			r->now - ev->iat, p->dn, p->max_evidence_age);
		return -1;
	}
	if (r->token_replayed) {
		rg_deny(d, RG_RULE_EVIDENCE_REPLAYED, RG_LDAP_INSUFFICIENT_ACCESS,
			"proofing token %s from %s was already used: each token allows one reset",
			ev->jti, ev->iss);
		return -1;
	}
	if ((m = first_banned(ev, &p->forbidden_methods)) != NULL) {
		rg_deny(d, RG_RULE_METHOD_FORBIDDEN, RG_LDAP_CONSTRAINT_VIOLATION,
			"proofing method '%s' is never accepted by policy %s", m, p->dn);
		return -1;
	}
	if (group_unknown(r->privileged, "the account is privileged", p, d) != 0)
		return -1;
	if (r->privileged && (m = first_banned(ev, &p->privileged_forbidden)) != NULL) {
		rg_deny(d, RG_RULE_METHOD_FORBIDDEN, RG_LDAP_CONSTRAINT_VIOLATION,
			"proofing method '%s' is never accepted for a privileged account "
			"by policy %s", m, p->dn);
		return -1;
	}
	return 0;
}

static int
check_level(const struct rg_policy *p, const struct rg_request *r, struct rg_decision *d)
{
	const struct rg_evidence *ev = r->ev;
	int self = r->kind == RG_KIND_SELF_SERVICE;
	int min_ial = self ? p->selfservice_min_ial : p->delegated_min_ial;
	const struct rg_strlist *methods = self ? &p->selfservice_methods : &p->delegated_methods;

	if (ev->ial < min_ial) {
		rg_deny(d, RG_RULE_LEVEL_INSUFFICIENT, RG_LDAP_CONSTRAINT_VIOLATION,
			"proofing level IAL%d is below the IAL%d that policy %s requires for a "
			"%s reset", ev->ial, min_ial, p->dn, rg_kind_name(r->kind));
		return -1;
	}
	if (methods->n > 0 && first_listed(ev, methods) == NULL) {
		rg_deny(d, RG_RULE_METHOD_INSUFFICIENT, RG_LDAP_CONSTRAINT_VIOLATION,
			"no proofing method accepted by policy %s for a %s reset was used",
			p->dn, rg_kind_name(r->kind));
		return -1;
	}
	if (r->privileged && ev->ial < p->privileged_min_ial &&
	    first_listed(ev, &p->privileged_methods) == NULL) {
		rg_deny(d, RG_RULE_STEP_UP_REQUIRED, RG_LDAP_CONSTRAINT_VIOLATION,
			"%s is a privileged account: policy %s requires step-up proofing "
			"(IAL%d, or a step-up method)", r->target_ndn, p->dn, p->privileged_min_ial);
		return -1;
	}
	return 0;
}

static int
check_delegation(const struct rg_policy *p, const struct rg_request *r, struct rg_decision *d)
{
	const struct rg_evidence *ev = r->ev;

	if (p->require_approver) {
		if (r->ev_approver_ndn == NULL) {
			rg_deny(d, RG_RULE_APPROVER_MISSING, RG_LDAP_CONSTRAINT_VIOLATION,
				"a delegated reset needs an approver named in the proofing token "
				"(policy %s)", p->dn);
			return -1;
		}
		if (strcmp(r->ev_approver_ndn, r->requester_ndn) == 0) {
			rg_deny(d, RG_RULE_APPROVER_IS_REQUESTER, RG_LDAP_CONSTRAINT_VIOLATION,
				"the approver of a delegated reset must not be the requester");
			return -1;
		}
		if (strcmp(r->ev_approver_ndn, r->target_ndn) == 0) {
			rg_deny(d, RG_RULE_APPROVER_IS_TARGET, RG_LDAP_CONSTRAINT_VIOLATION,
				"the approver of a delegated reset must not be the account's owner");
			return -1;
		}
		if (p->approver_groups.n > 0 &&
		    group_unknown(r->approver_authorized, "the approver may approve", p, d) != 0)
			return -1;
		if (p->approver_groups.n > 0 && r->approver_authorized != RG_GROUP_YES) {
			rg_deny(d, RG_RULE_APPROVER_NOT_AUTHORIZED, RG_LDAP_CONSTRAINT_VIOLATION,
				"%s is not in an approver group of policy %s", r->ev_approver_ndn, p->dn);
			return -1;
		}
	}
	if (p->require_reason && is_blank(ev->reason)) {
		rg_deny(d, RG_RULE_REASON_MISSING, RG_LDAP_CONSTRAINT_VIOLATION,
			"a delegated reset needs a reason or ticket in the proofing token "
			"(policy %s)", p->dn);
		return -1;
	}
	return 0;
}

/* The risk rules (risk.c) for this change; verdict says which one refused, if any. */
static int
check_risk(int (*check)(const struct rg_policy *, const struct rg_request *,
	struct rg_verdict *), const struct rg_policy *p, const struct rg_request *r,
	struct rg_decision *d)
{
	struct rg_verdict v;

	if (check(p, r, &v) == 0)
		return 0;
	rg_deny(d, v.rule, v.ldap_result, "%s", v.text);
	d->alert = v.alert;
	return -1;
}

/* Refusals no policy and no exemption lifts. */
static int
check_structure(const struct rg_request *r, struct rg_decision *d)
{
	if (r->in_transaction) {
		rg_deny(d, RG_RULE_TRANSACTION, RG_LDAP_UNWILLING_TO_PERFORM,
			"a password change cannot be part of an LDAP transaction: its reset log "
			"record, sealed password and token use would not commit with it; send it "
			"on its own");
		return -1;
	}
	if (r->password_in_rdn) {
		rg_deny(d, RG_RULE_PASSWORD_IN_RDN, RG_LDAP_UNWILLING_TO_PERFORM,
			"a password attribute cannot be part of an RDN: rename the entry with "
			"another naming attribute, and change the password on its own");
		return -1;
	}
	return 0;
}

void
rg_decide(const struct rg_policy *p, const struct rg_request *r, struct rg_decision *d)
{
	if (check_structure(r, d) != 0)
		return;
	if (r->log_error) {
		rg_deny(d, RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
			"cannot read the history of %s in the reset log %s, which this change "
			"depends on", r->target_ndn, r->log_name ? r->log_name : "");
		return;
	}
	if (r->exempt) {
		allow(d, RG_RULE_ROOTDN_EXEMPT);
		/* A new account has no holder yet whose reset could need review: marking every
		 * Add would bury the resets of real accounts under bulk provisioning. */
		d->review_required = r->kind != RG_KIND_PROVISIONING;
		snprintf(d->text, sizeof(d->text), "the rootdn is exempt from the reset policy "
			"(resetguard-rootdn exempt)");
		return;
	}
	if (p == NULL && r->policy_error != NULL) {
		rg_deny(d, RG_RULE_NO_POLICY, RG_LDAP_UNWILLING_TO_PERFORM, "%s", r->policy_error);
		return;
	}
	if (p == NULL) {
		rg_deny(d, RG_RULE_NO_POLICY, RG_LDAP_UNWILLING_TO_PERFORM,
			"no reset policy governs %s: configure resetguard-default-policy or give "
			"the entry an rgPolicySubentry", r->target_ndn);
		return;
	}
	if (!(p->allowed_kinds & (1u << r->kind))) {
		rg_deny(d, RG_RULE_KIND_NOT_ALLOWED, RG_LDAP_INSUFFICIENT_ACCESS,
			"policy %s does not allow %s password changes", p->dn, rg_kind_name(r->kind));
		return;
	}

	switch (r->kind) {
	case RG_KIND_SELF_CHANGE:
		/* Many guesses in one Modify would be an oracle outside ppolicy's lockout. */
		if (r->old_values > 1) {
			rg_deny(d, RG_RULE_OLD_PASSWORD_AMBIGUOUS, RG_LDAP_CONSTRAINT_VIOLATION,
				"a change of your own password deletes exactly one old value: give "
				"only the current password");
			return;
		}
		/* Told apart so that an auditor can: a wrong current password is a guess, while a
		 * missing one is what clients such as nslcd send first, before retrying with it. */
		if (p->selfchange_require_old && r->old_password_wrong) {
			rg_deny(d, RG_RULE_OLD_PASSWORD_WRONG, RG_LDAP_CONSTRAINT_VIOLATION,
				"the old password given does not match your current password");
			return;
		}
		if (p->selfchange_require_old && !r->old_password_given) {
			rg_deny(d, RG_RULE_OLD_PASSWORD_REQUIRED, RG_LDAP_CONSTRAINT_VIOLATION,
				"changing your own password needs the old one: send it as oldPasswd "
				"in Password Modify, or delete the old value in the same Modify");
			return;
		}
		if (check_risk(rg_risk_check_activity, p, r, d) != 0)
			return;
		allow(d, RG_RULE_ALLOWED);
		return;
	case RG_KIND_PROVISIONING:
		if (p->provisioners.n > 0 && !rg_strlist_has(&p->provisioners, r->requester_ndn)) {
			rg_deny(d, RG_RULE_NOT_PROVISIONER, RG_LDAP_INSUFFICIENT_ACCESS,
				"only the provisioning identities of policy %s may create an entry "
				"with a password", p->dn);
			return;
		}
		allow(d, RG_RULE_ALLOWED);
		return;
	case RG_KIND_BREAK_GLASS:
		/* Emergency access belongs to whoever holds the break-glass credentials, not to
		 * anyone allowed to proxy as them. */
		if (r->authenticated_ndn != NULL &&
		    strcmp(r->authenticated_ndn, r->requester_ndn) != 0) {
			rg_deny(d, RG_RULE_BREAK_GLASS_PROXIED, RG_LDAP_INSUFFICIENT_ACCESS,
				"break-glass resets must be made bound as the break-glass identity "
				"itself, not through proxied authorization by %s",
				r->authenticated_ndn);
			return;
		}
		allow(d, RG_RULE_BREAK_GLASS);
		d->review_required = 1;
		return;
	case RG_KIND_SELF_SERVICE:
	case RG_KIND_DELEGATED:
		if (check_evidence(p, r, d) != 0 ||
		    check_risk(rg_risk_check_possession, p, r, d) != 0 ||
		    check_level(p, r, d) != 0 || check_risk(rg_risk_check_signals, p, r, d) != 0)
			return;
		if (r->kind == RG_KIND_DELEGATED && check_delegation(p, r, d) != 0)
			return;
		if (check_risk(rg_risk_check_activity, p, r, d) != 0)
			return;
		allow(d, RG_RULE_ALLOWED);
		d->force_change = r->kind == RG_KIND_DELEGATED && p->force_change;
		return;
	default:
		rg_deny(d, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM,
			"internal error: unknown change kind");
		return;
	}
}

void
rg_velocity_apply(const struct rg_policy *p, const struct rg_request *r,
	const struct rg_velocity_limit *v, long long seen, struct rg_decision *d)
{
	if (!d->allowed || r->kind == RG_KIND_BREAK_GLASS || !(v->kinds & (1u << r->kind)))
		return;
	if (seen < 0) {
		rg_deny(d, RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
			"cannot count earlier changes in the reset log %s for the velocity limits "
			"of policy %s", r->log_name ? r->log_name : "", p->dn);
		return;
	}
	if (seen < v->count)
		return;
	rg_deny(d, RG_RULE_VELOCITY_EXCEEDED, RG_LDAP_CONSTRAINT_VIOLATION,
		"velocity limit reached: %lld %s password changes %s %s within %lld seconds "
		"(policy %s); try again later or ask an administrator",
		seen, rg_kind_name(r->kind), v->per_requester ? "by" : "of",
		v->per_requester ? r->requester_ndn : r->target_ndn, v->window, p->dn);
	d->alert = 1;
}
