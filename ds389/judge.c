/* Judging one password change inside its backend transaction, every stage in the order it
 * runs: what the target entry says (its policy, uid, used tokens, the old password), the
 * verified evidence and group facts, the core's decision, the velocity limits and the reset
 * log record under one lock, then either the denial or the change's effects on the same
 * write. The core decides (lib/decide.c); this file gathers facts from 389-DS for it, as
 * slapd/judge.c does from slapd. 389-DS has already checked the requester's access to the
 * change when this runs. */
#include "rg389.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rg_change {
	const struct rg389_attempt *at;
	const char *target_ndn;
	Slapi_Entry *target;                /* as it was before the change (not owned) */
	int recreated;
	struct rg389_history history;
	struct rg_policy policy;
	int have_policy;
	char policy_err[256];
	struct rg_evidence ev;
	char ev_err[256];
	char *ev_sub, *ev_approver;         /* normalized DNs, or NULL */
	char *requester;                    /* the authorization identity, normalized */
	char *authenticated;                /* the bound identity, when it differs */
	long long reset_count;
	struct rg_request req;
	struct rg_decision dec;
	char token[128];                    /* the rgUsedToken value this change adds */
	char **expired_tokens;
	unsigned long long record_number;
	char record_hash[RG_LOG_HASH_HEX];
	struct berval sealed;               /* OPENSSL_malloc'd DER, or empty */
};

static char *
normalized(const char *dn)
{
	char *ndn = rg389_ndn(dn);

	return ndn != NULL ? ndn : slapi_ch_strdup(dn);
}

/* A Password Modify request acts for the bound user: its internal Modify runs as the
 * server, on the client's connection. Proxied authorization changes the requester of a
 * client operation, never the connection's bound identity. */
static void
read_identities(Slapi_PBlock *pb, struct rg_change *ch)
{
	struct rg_request *req = &ch->req;
	char *conn_dn = NULL, *requestor = NULL;

	slapi_pblock_get(pb, SLAPI_CONN_DN, &conn_dn);        /* a copy */
	if (rg389_thread()->exop) {
		ch->requester = normalized(conn_dn != NULL ? conn_dn : "");
	} else {
		slapi_pblock_get(pb, SLAPI_REQUESTOR_DN, &requestor);
		ch->requester = normalized(requestor != NULL ? requestor : "");
		if (conn_dn != NULL && *conn_dn != '\0') {
			char *bound = normalized(conn_dn);

			if (strcmp(bound, ch->requester) != 0)
				ch->authenticated = bound;
			else
				slapi_ch_free_string(&bound);
		}
	}
	slapi_ch_free_string(&conn_dn);
	req->requester_ndn = ch->requester;
	req->authenticated_ndn = ch->authenticated;
	req->exempt = rg389.cfg.rootdn_exempt && *ch->requester != '\0' &&
		slapi_dn_isroot(ch->requester) &&
		(ch->authenticated == NULL || slapi_dn_isroot(ch->authenticated));
}

/* A self-change by Modify proves knowledge of the old password only if the one deleted
 * value verifies against the stored one. */
static void
check_old_value(struct rg_change *ch)
{
	const struct rg389_attempt *at = ch->at;
	Slapi_Attr *a = NULL;
	Slapi_Value **vals, *v = NULL;
	int n = 0, k = 0;

	if (at->n_old_values != 1 || at->old_values == NULL || at->old_values[0] == NULL ||
	    slapi_entry_attr_find(ch->target, "userPassword", &a) != 0)
		return;
	slapi_attr_get_numvalues(a, &n);
	vals = (Slapi_Value **)slapi_ch_calloc(n + 1, sizeof(*vals));
	for (int i = slapi_attr_first_value(a, &v); i >= 0 && k < n;
	     i = slapi_attr_next_value(a, i, &v))
		vals[k++] = v;
	if (slapi_pw_find_sv(vals, at->old_values[0]) == 0)
		ch->req.old_password_given = 1;
	else
		ch->req.old_password_wrong = 1;
	slapi_ch_free((void **)&vals);
}

static void
read_target(struct rg_change *ch, char **policy_ndn)
{
	const char *v;

	check_old_value(ch);
	if ((v = slapi_entry_attr_get_ref(ch->target, "rgPolicySubentry")) != NULL)
		*policy_ndn = normalized(v);
	if ((v = slapi_entry_attr_get_ref(ch->target, "uid")) != NULL)
		ch->req.target_uid = v;
	if ((v = slapi_entry_attr_get_ref(ch->target, "rgResetCount")) != NULL)
		ch->reset_count = strtoll(v, NULL, 10);
}

static void
load_policy(struct rg_change *ch, char **policy_ndn)
{
	if (*policy_ndn == NULL && rg389.cfg.default_policy != NULL)
		*policy_ndn = slapi_ch_strdup(rg389.cfg.default_policy);
	if (*policy_ndn == NULL)
		return;
	if (rg389_policy_load(*policy_ndn, &ch->policy, ch->policy_err,
	    sizeof(ch->policy_err)) == 0)
		ch->have_policy = 1;
	else
		ch->req.policy_error = ch->policy_err;
}

static void
read_evidence(Slapi_PBlock *pb, struct rg_change *ch)
{
	struct rg_request *req = &ch->req;
	LDAPControl **ctrls = NULL;
	struct berval *token = NULL;
	int critical = 0;

	slapi_pblock_get(pb, SLAPI_REQCONTROLS, &ctrls);
	req->ev_present = slapi_control_present(ctrls, RG_PROOFING_CONTROL_OID, &token,
		&critical) && token != NULL;
	if (!req->ev_present)
		return;
	req->ev_status = rg_evidence_verify(&rg389.cfg.issuers, token->bv_val, token->bv_len,
		&ch->ev, ch->ev_err, sizeof(ch->ev_err));
	req->ev_error = ch->ev_err;
	if (req->ev_status != RG_EV_OK)
		return;
	req->ev_sub_ndn = ch->ev_sub = rg389_ndn(ch->ev.sub);
	if (ch->ev.approver != NULL) {
		if ((ch->ev_approver = rg389_ndn(ch->ev.approver)) == NULL) {
			req->ev_status = RG_EV_MALFORMED;
			rg_seterr(ch->ev_err, sizeof(ch->ev_err), "claim \"approver\" is not a DN");
			return;
		}
		req->ev_approver_ndn = ch->ev_approver;
	}
	req->ev = &ch->ev;
}

/* A token is single-use per account, recorded on the account by the same write; an account
 * created again has lost those values, and the reset log remembers them instead. */
static int
token_used(struct rg_change *ch)
{
	Slapi_Attr *a = NULL;
	Slapi_Value *v = NULL;

	if (ch->recreated)
		return ch->history.token_used;
	if (ch->at->is_add || slapi_entry_attr_find(ch->target, "rgUsedToken", &a) != 0)
		return 0;
	for (int i = slapi_attr_first_value(a, &v); i >= 0; i = slapi_attr_next_value(a, i, &v))
		if (strncmp(slapi_value_get_string(v), ch->ev.id, 64) == 0)
			return 1;
	return 0;
}

static void
gather_evidence_facts(Slapi_PBlock *pb, struct rg_change *ch)
{
	struct rg_request *req = &ch->req;

	read_evidence(pb, ch);
	if (ch->recreated && req->ev != NULL &&
	    rg389_log_history(ch->target_ndn, &ch->ev, &ch->history) != 0)
		req->log_error = 1;
	req->token_replayed = req->ev != NULL && token_used(ch);
	req->privileged = rg389_group_member(&ch->policy.privileged_groups, ch->target_ndn);
	if (req->ev_approver_ndn != NULL)
		req->approver_authorized = rg389_group_member(&ch->policy.approver_groups,
			req->ev_approver_ndn);
}

static void
format_gentime(char *buf, size_t len, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y%m%d%H%M%SZ", &tm);
}

/* The rgUsedToken value: the token's id and when it stops mattering (kept within year
 * 9999, so that it sorts as a time). */
static void
claim_token(struct rg_change *ch)
{
	char exp[32];
	long long until = ch->ev.exp > RG_EVIDENCE_MAX_TIME - rg389.cfg.clock_skew ?
		RG_EVIDENCE_MAX_TIME : ch->ev.exp + rg389.cfg.clock_skew;

	format_gentime(exp, sizeof(exp), until);
	snprintf(ch->token, sizeof(ch->token), "%s %s", ch->ev.id, exp);
}

static void
find_expired_tokens(struct rg_change *ch)
{
	Slapi_Attr *a = NULL;
	Slapi_Value *v = NULL;
	char now[32];

	if (ch->at->is_add || slapi_entry_attr_find(ch->target, "rgUsedToken", &a) != 0)
		return;
	format_gentime(now, sizeof(now), ch->req.now);
	for (int i = slapi_attr_first_value(a, &v); i >= 0; i = slapi_attr_next_value(a, i, &v)) {
		const char *s = slapi_value_get_string(v), *sp = strchr(s, ' ');

		if (sp != NULL && strcmp(sp + 1, now) < 0)
			slapi_ch_array_add(&ch->expired_tokens, slapi_ch_strdup(s));
	}
}

static enum rg_group_fact
break_glass_member(struct rg_change *ch)
{
	if (!ch->have_policy || ch->policy.break_glass_groups.n == 0 || *ch->requester == '\0')
		return RG_GROUP_NO;
	return rg389_group_member(&ch->policy.break_glass_groups, ch->requester);
}

static void
check_velocity(struct rg_change *ch)
{
	for (size_t i = 0; i < ch->policy.nvelocity && ch->dec.allowed; i++) {
		const struct rg_velocity_limit *v = &ch->policy.velocity[i];
		const char *who = v->per_requester ? ch->requester : ch->target_ndn;

		if (*who == '\0')
			continue;
		rg_velocity_apply(&ch->policy, &ch->req, v,
			rg389_log_count(v, who, ch->req.now - v->window), &ch->dec);
		if (ch->dec.alert)
			slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "ALERT velocity limit reached for "
				"\"%s\" (%s)\n", who, ch->dec.text);
	}
}

/* Sealed to syncd before the record is written; the sealed form goes with the record. */
static void
seal_for_syncd(struct rg_change *ch)
{
	const struct berval *secret = ch->at->secret;
	unsigned char *der;
	size_t len;
	char err[256] = "";

	if (rg389.cfg.seal_cert == NULL)
		return;
	if (secret == NULL || secret->bv_len == 0) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "no cleartext of the new password of "
			"\"%s\" reached the plugin (set nsslapd-unhashed-pw-switch to nolog); the "
			"legacy stores will not receive it\n", ch->target_ndn);
		return;
	}
	if (rg_seal(rg389.cfg.seal_cert, (unsigned char *)secret->bv_val, secret->bv_len, &der,
	    &len, err, sizeof(err)) != 0) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "%s; the legacy stores will not receive "
			"this password\n", err);
		return;
	}
	ch->sealed.bv_val = (char *)der;
	ch->sealed.bv_len = len;
}

static void
fill_record(struct rg_change *ch, struct rg_log_record *r)
{
	const struct rg_evidence *ev = ch->req.ev_present && ch->req.ev_status == RG_EV_OK ?
		&ch->ev : NULL;

	memset(r, 0, sizeof(*r));
	r->target = ch->target_ndn;
	r->requester = ch->req.requester_ndn;
	r->authenticated = ch->req.authenticated_ndn;
	r->approver = ch->req.ev_approver_ndn;
	r->kind = rg_kind_name(ch->req.kind);
	r->decision = ch->dec.allowed ? "allowed" : "denied";
	r->rule = rg_rule_name(ch->dec.rule);
	r->rule_text = ch->dec.text;
	r->policy = ch->have_policy ? ch->policy.dn : NULL;
	r->operation = ch->at->operation;
	if (ev != NULL) {
		r->issuer = ev->iss;
		r->level = ev->ial;
		r->methods = (const char *const *)ev->amr;
		r->nmethods = ev->namr;
		r->jti = ev->jti;
		r->reason = ev->reason;
	}
	r->review_required = ch->dec.review_required;
	r->alert = ch->dec.alert;
}

/* An allowed change's record is written in this transaction, and the log lock stays held
 * until it ends (after.c), so that no other record takes its place in the chain. A denial
 * is only kept: the refusal aborts this transaction. */
static void
release_log(struct rg389_thread *t)
{
	t->holding_log = 0;
	t->held_op = NULL;
	rg389_log_unlock();
}

static void
decide_and_record(Slapi_PBlock *pb, struct rg_change *ch)
{
	struct rg389_thread *t = rg389_thread();
	struct rg_log_record r;
	char err[256];

	rg_decide(ch->have_policy ? &ch->policy : NULL, &ch->req, &ch->dec);
	if (ch->dec.allowed)
		seal_for_syncd(ch);
	/* A transaction the backend retries (a deadlock) judges again with the lock held. */
	if (!t->holding_log) {
		rg389_log_lock();
		t->holding_log = 1;
		slapi_pblock_get(pb, SLAPI_OPERATION, &t->held_op);
	}
	if (ch->dec.allowed && ch->have_policy && !ch->req.exempt)
		check_velocity(ch);
	if (!ch->dec.allowed) {
		release_log(t);
		return;
	}
	fill_record(ch, &r);
	if (rg389_log_append(&r, ch->sealed.bv_len > 0 ? &ch->sealed : NULL, 1,
	    ch->record_hash, err, sizeof(err)) != 0) {
		release_log(t);
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "%s\n", err);
		/* No unlogged reset: an allowed change whose record cannot be written is refused. */
		rg_deny(&ch->dec, RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
			"the change was not made because its reset log record could not be "
			"written: %s", err);
		return;
	}
	ch->record_number = r.number;
	t->held_number = r.number;
	memcpy(t->held_hash, ch->record_hash, sizeof(t->held_hash));
}

static int
refuse(Slapi_PBlock *pb, struct rg_change *ch)
{
	const char *rule = rg_rule_name(ch->dec.rule);
	char *text = slapi_ch_smprintf("%s (resetguard rule %s)", ch->dec.text, rule);
	struct rg_log_record r;

	fill_record(ch, &r);
	rg389_denial_stash(&r, ch->dec.ldap_result, text);
	rg389_refuse(pb, ch->dec.ldap_result, text);
	slapi_ch_free_string(&text);
	return -1;
}

static void
apply_effects(Slapi_PBlock *pb, struct rg_change *ch)
{
	struct rg389_effects fx;

	memset(&fx, 0, sizeof(fx));
	fx.kind = ch->req.kind;
	fx.ev = ch->req.ev;
	fx.by_ndn = ch->requester;
	fx.approver_ndn = ch->req.ev_approver_ndn;
	fx.review_required = ch->dec.review_required || ch->history.unreviewed;
	fx.reset_count = (ch->recreated ? ch->history.applied : ch->reset_count) + 1;
	fx.change_number = ch->record_number;
	fx.token = ch->token[0] != '\0' ? ch->token : NULL;
	fx.expired_tokens = ch->expired_tokens;
	if (ch->at->is_add) {
		rg389_effects_to_entry(ch->target, &fx);
	} else {
		LDAPMod **mods = NULL;
		Slapi_Mods *smods = slapi_mods_new();

		slapi_pblock_get(pb, SLAPI_MODIFY_MODS, &mods);
		slapi_mods_init_passin(smods, mods);
		rg389_effects_to_mods(smods, &fx);
		slapi_pblock_set(pb, SLAPI_MODIFY_MODS, slapi_mods_get_ldapmods_passout(smods));
		slapi_mods_free(&smods);
	}
}

static void
change_free(struct rg_change *ch)
{
	if (ch->have_policy)
		rg_policy_free(&ch->policy);
	rg_evidence_free(&ch->ev);
	slapi_ch_free_string(&ch->ev_sub);
	slapi_ch_free_string(&ch->ev_approver);
	slapi_ch_free_string(&ch->requester);
	slapi_ch_free_string(&ch->authenticated);
	slapi_ch_array_free(ch->expired_tokens);
	OPENSSL_free(ch->sealed.bv_val);
}

static Slapi_Entry *
target_entry(Slapi_PBlock *pb, const struct rg389_attempt *at)
{
	Slapi_Entry *e = NULL;

	slapi_pblock_get(pb, at->is_add ? SLAPI_ADD_ENTRY : SLAPI_ENTRY_PRE_OP, &e);
	if (e == NULL && at->password_in_rdn)
		slapi_pblock_get(pb, SLAPI_MODRDN_EXISTING_ENTRY, &e);
	return e;
}

int
rg389_judge(Slapi_PBlock *pb, const struct rg389_attempt *at)
{
	struct rg_change ch;
	struct rg_request *req = &ch.req;
	Slapi_DN *sdn = NULL;
	char *policy_ndn = NULL;
	int rc = 0;

	memset(&ch, 0, sizeof(ch));
	ch.at = at;
	slapi_pblock_get(pb, SLAPI_TARGET_SDN, &sdn);
	ch.target_ndn = sdn != NULL ? slapi_sdn_get_ndn(sdn) : NULL;
	ch.target = target_entry(pb, at);
	req->now = slapi_current_utc_time();
	req->clock_skew = rg389.cfg.clock_skew;
	req->log_name = rg389.cfg.log_base;
	req->password_in_rdn = at->password_in_rdn;
	req->old_values = at->n_old_values;
	req->old_password_given = at->old_given;
	read_identities(pb, &ch);
	if (ch.target_ndn == NULL || ch.target == NULL) {
		rg_deny(&ch.dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM,
			"the entry whose password is changed could not be read");
		rc = refuse(pb, &ch);
		goto out;
	}
	req->target_ndn = ch.target_ndn;
	read_target(&ch, &policy_ndn);
	if (at->is_add) {
		if (rg389_log_history(ch.target_ndn, NULL, &ch.history) != 0)
			req->log_error = 1;
		ch.recreated = ch.history.known;
	}
	if (!req->exempt)
		load_policy(&ch, &policy_ndn);
	req->kind = rg_classify(ch.have_policy ? &ch.policy : NULL, at->is_add && !ch.recreated,
		req->requester_ndn, req->target_ndn, break_glass_member(&ch));
	if (ch.have_policy && (req->kind == RG_KIND_SELF_SERVICE ||
	    req->kind == RG_KIND_DELEGATED))
		gather_evidence_facts(pb, &ch);
	decide_and_record(pb, &ch);
	slapi_log_error(SLAPI_LOG_PLUGIN, RG389_NAME, "%s %s of \"%s\" by \"%s\": %s (%s)\n",
		rg_kind_name(req->kind), at->operation, ch.target_ndn, req->requester_ndn,
		ch.dec.allowed ? "allowed" : "denied", rg_rule_name(ch.dec.rule));
	if (!ch.dec.allowed) {
		rc = refuse(pb, &ch);
		goto out;
	}
	if (req->ev != NULL)
		claim_token(&ch);
	find_expired_tokens(&ch);
	apply_effects(pb, &ch);
out:
	slapi_ch_free_string(&policy_ndn);
	change_free(&ch);
	return rc;
}
