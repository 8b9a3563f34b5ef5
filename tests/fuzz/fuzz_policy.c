/* libFuzzer harness: the policy entry parser (lib/policy.c) — rg_policy_init and
 * rg_policy_set, fed as slapd/policyload.c feeds them, then rg_classify, rg_decide and
 * rg_velocity_apply on the resulting policy.
 *
 * Input: one attribute value per line, "ATTR: VALUE" (the first ':' splits; a line without
 * one is an attribute with an empty value). Like the adapter, the first refused value ends
 * the entry: the policy is freed and the change would be refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decide.h"
#include "fuzz.h"
#include "policy.h"

#define ALL_KINDS ((1u << RG_KIND_COUNT) - 1)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static const char *const known_attrs[] = {
	"rgAllowedKind",
	"rgSelfChangeRequireOld",
	"rgSelfServiceMinIAL",
	"rgSelfServiceMethod",
	"rgDelegatedMinIAL",
	"rgDelegatedMethod",
	"rgForbiddenMethod",
	"rgPrivilegedGroup",
	"rgPrivilegedMinIAL",
	"rgPrivilegedMethod",
	"rgPrivilegedForbiddenMethod",
	"rgMaxEvidenceAge",
	"rgDelegatedRequireApprover",
	"rgApproverGroup",
	"rgDelegatedRequireReason",
	"rgForceChangeAfterDelegated",
	"rgResetAgent",
	"rgBreakGlass",
	"rgBreakGlassGroup",
	"rgProvisioner",
	"rgVelocityLimit",
	"rgRiskMax",
	"rgRiskStepUp",
	"rgRiskUnknown",
	"rgRiskRefuse",
	"rgRequireBoundEvidence",
	"rgFailedBindLimit",
	"rgLockoutRefuse",
	"rgMinResetInterval",
	"rgRecoveryChangeMinAge",
};

static int
is_known(const char *attr)
{
	for (size_t i = 0; i < sizeof(known_attrs) / sizeof(known_attrs[0]); i++)
		if (strcasecmp(attr, known_attrs[i]) == 0)
			return 1;
	return 0;
}

static void
check_list(const char *name, const struct rg_strlist *l)
{
	FUZZ_CHECK(l->n == 0 || l->v != NULL, "%s: %zu entries, no array", name, l->n);
	for (size_t i = 0; i < l->n; i++) {
		FUZZ_CHECK(l->v[i] != NULL && l->v[i][0] != '\0', "%s has an empty entry", name);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(l->v[i], l->v[j]) != 0, "%s holds \"%s\" twice", name,
				l->v[i]);
	}
}

static void
check_bool(const char *name, int v)
{
	FUZZ_CHECK(v == 0 || v == 1, "%s is %d", name, v);
}

static void
check_policy(const struct rg_policy *p)
{
	FUZZ_CHECK((p->allowed_kinds & ~ALL_KINDS) == 0, "allowed kinds 0x%x", p->allowed_kinds);
	check_bool("rgSelfChangeRequireOld", p->selfchange_require_old);
	check_bool("rgDelegatedRequireApprover", p->require_approver);
	check_bool("rgDelegatedRequireReason", p->require_reason);
	check_bool("rgForceChangeAfterDelegated", p->force_change);
	FUZZ_CHECK(p->selfservice_min_ial >= 1 && p->selfservice_min_ial <= 3 &&
			p->delegated_min_ial >= 1 && p->delegated_min_ial <= 3 &&
			p->privileged_min_ial >= 1 && p->privileged_min_ial <= 3,
		"an IAL outside 1..3");
	FUZZ_CHECK(p->max_evidence_age >= 1 && p->max_evidence_age <= 366LL * 86400,
		"rgMaxEvidenceAge %lld", p->max_evidence_age);
	check_list("rgSelfServiceMethod", &p->selfservice_methods);
	check_list("rgDelegatedMethod", &p->delegated_methods);
	check_list("rgForbiddenMethod", &p->forbidden_methods);
	check_list("rgPrivilegedGroup", &p->privileged_groups);
	check_list("rgPrivilegedMethod", &p->privileged_methods);
	check_list("rgPrivilegedForbiddenMethod", &p->privileged_forbidden);
	check_list("rgApproverGroup", &p->approver_groups);
	check_list("rgResetAgent", &p->reset_agents);
	check_list("rgBreakGlass", &p->break_glass);
	check_list("rgBreakGlassGroup", &p->break_glass_groups);
	check_list("rgProvisioner", &p->provisioners);
	for (size_t i = 0; i < p->nvelocity; i++) {
		const struct rg_velocity_limit *v = &p->velocity[i];

		FUZZ_CHECK(v->kinds != 0 && (v->kinds & ~ALL_KINDS) == 0, "velocity kinds 0x%x",
			v->kinds);
		check_bool("velocity per_requester", v->per_requester);
		FUZZ_CHECK(v->count >= 1 && v->window >= 1 && v->window <= 366LL * 86400,
			"velocity %lld in %lld s", v->count, v->window);
	}
	for (int k = 0; k <= RG_KIND_COUNT; k++)
		FUZZ_CHECK(p->risk_max[k] >= -1 && p->risk_max[k] <= 100, "rgRiskMax %d",
			p->risk_max[k]);
	FUZZ_CHECK(p->stepup_score >= -1 && p->stepup_score <= 100 && p->stepup_ial >= 1 &&
			p->stepup_ial <= 3,
		"rgRiskStepUp %d %d", p->stepup_score, p->stepup_ial);
	check_bool("rgRequireBoundEvidence", p->require_bound);
	check_list("rgRiskRefuse countries", &p->refused_countries);
	for (size_t i = 0; i < p->refused_countries.n; i++)
		FUZZ_CHECK(strlen(p->refused_countries.v[i]) == 2, "country \"%s\"",
			p->refused_countries.v[i]);
	for (size_t i = 0; i < p->nactivity; i++) {
		const struct rg_activity_rule *a = &p->activity[i];

		/* break-glass and provisioning are never refused by an account's history */
		FUZZ_CHECK(a->kinds != 0 && (a->kinds & ((1u << RG_KIND_BREAK_GLASS) |
			(1u << RG_KIND_PROVISIONING) | ~ALL_KINDS)) == 0,
			"activity kinds 0x%x", a->kinds);
		FUZZ_CHECK(a->window >= 1 && a->window <= 366LL * 86400 &&
				(a->type != RG_ACTIVITY_FAILED_BINDS || a->count >= 1),
			"activity %lld in %lld s", a->count, a->window);
	}
}

/* A decision on this policy for each kind, with evidence that satisfies the defaults. */
static void
decide_all(const struct rg_policy *p)
{
	static char *amr[] = {"hwk", "face"};
	struct rg_evidence ev = {
		.iss = "https://idp.example.test",
		.sub = "uid=u,dc=example,dc=test",
		.jti = "j",
		.approver = "uid=a,dc=example,dc=test",
		.reason = "INC-1",
		.iat = 1700000000,
		.exp = 1700000300,
		.ial = 3,
		.amr = amr,
		.namr = 2,
	};
	const char *requester = p->reset_agents.n > 0 ? p->reset_agents.v[0]
		: p->break_glass.n > 0                ? p->break_glass.v[0]
						      : "cn=helpdesk,dc=example,dc=test";

	for (int k = 0; k < RG_KIND_COUNT; k++) {
		struct rg_request r;
		struct rg_decision d;

		memset(&r, 0, sizeof(r));
		memset(&d, 0, sizeof(d));
		r.kind = (enum rg_kind)k;
		r.target_ndn = ev.sub;
		r.requester_ndn = k == RG_KIND_SELF_CHANGE ? ev.sub : requester;
		r.old_password_given = 1;
		r.privileged = k & 1 ? RG_GROUP_YES : RG_GROUP_NO;
		r.approver_authorized = RG_GROUP_YES;
		r.ev_present = 1;
		r.ev_status = RG_EV_OK;
		r.ev = &ev;
		r.ev_sub_ndn = ev.sub;
		r.ev_approver_ndn = ev.approver;
		r.now = 1700000010;
		r.clock_skew = 30;
		rg_decide(p, &r, &d);
		FUZZ_CHECK((unsigned)d.rule < RG_RULE_COUNT, "rule %d", (int)d.rule);
		FUZZ_CHECK(memchr(d.text, '\0', sizeof(d.text)) != NULL, "unterminated text");
		if (!(p->allowed_kinds & (1u << k)))
			FUZZ_CHECK(!d.allowed && d.rule == RG_RULE_KIND_NOT_ALLOWED,
				"a %s change was not refused by a policy that does not allow it",
				rg_kind_name(r.kind));
		if (d.allowed && k != RG_KIND_BREAK_GLASS && k != RG_KIND_SELF_CHANGE &&
			k != RG_KIND_PROVISIONING)
			for (size_t i = 0; i < ev.namr; i++)
				for (size_t j = 0; j < p->forbidden_methods.n; j++)
					FUZZ_CHECK(strcasecmp(ev.amr[i],
							   p->forbidden_methods.v[j]) != 0,
						"allowed a forbidden method");
		for (size_t i = 0; i < p->nvelocity; i++) {
			const struct rg_velocity_limit *v = &p->velocity[i];
			struct rg_decision d2 = d;
			int limited =
				d.allowed && k != RG_KIND_BREAK_GLASS && (v->kinds & (1u << k));

			rg_velocity_apply(p, &r, v, v->count, &d);
			if (limited)
				FUZZ_CHECK(!d.allowed && d.rule == RG_RULE_VELOCITY_EXCEEDED &&
						d.alert,
					"a velocity limit reached did not refuse");
			/* a count that failed fails the change */
			rg_velocity_apply(p, &r, v, -1, &d2);
			if (limited)
				FUZZ_CHECK(!d2.allowed && d2.rule == RG_RULE_LOG_FAILED,
					"a velocity count that failed did not refuse");
		}
		/* a group lookup that failed must not be taken for "not privileged" */
		if (k == RG_KIND_SELF_SERVICE || k == RG_KIND_DELEGATED) {
			r.privileged = RG_GROUP_UNKNOWN;
			rg_decide(p, &r, &d);
			FUZZ_CHECK(!d.allowed, "allowed a %s reset when privilege is unknown",
				rg_kind_name(r.kind));
		}
	}
	FUZZ_CHECK(rg_classify(p, 1, "a", "b", RG_GROUP_NO) == RG_KIND_PROVISIONING,
		"an Add not provisioning");
	FUZZ_CHECK(rg_classify(p, 0, "x", "x", RG_GROUP_YES) == RG_KIND_SELF_CHANGE,
		"own change misclassified");
	/* a failed group lookup never makes break-glass, which needs no evidence */
	FUZZ_CHECK(rg_strlist_has(&p->break_glass, requester) ||
			rg_classify(p, 0, requester, "uid=t", RG_GROUP_UNKNOWN) !=
				RG_KIND_BREAK_GLASS,
		"break-glass on an unknown group membership");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = {data, size};
	struct rg_policy p;
	char err[256];
	int ok = 1;

	if (size > 64 * 1024)
		return -1;
	if (rg_policy_init(&p, "cn=fuzz,ou=policies,dc=example,dc=test") != 0)
		return 0;
	check_policy(&p);
	while (c.n > 0 && ok) {
		char *line = fuzz_field(&c, '\n', NULL), *colon = strchr(line, ':');
		const char *attr = line, *value = "";
		enum rg_policy_set_result rc;

		if (colon != NULL) {
			*colon = '\0';
			value = colon + 1 + (colon[1] == ' ');
		}
		memset(err, 0, sizeof(err));
		rc = rg_policy_set(&p, attr, value, err, sizeof(err));
		switch (rc) {
		case RG_POLICY_SET_OK:
			FUZZ_CHECK(is_known(attr), "took unknown attribute \"%s\"", attr);
			break;
		case RG_POLICY_SET_UNKNOWN:
			FUZZ_CHECK(!is_known(attr), "\"%s\" said unknown", attr);
			break;
		case RG_POLICY_SET_BAD_VALUE:
			FUZZ_CHECK(is_known(attr), "bad value for unknown attribute \"%s\"", attr);
			FUZZ_CHECK(err[0] != '\0', "bad value for %s without a reason", attr);
			/* the text names the attribute as defined, never quotes the value */
			fuzz_check_err("rg_policy_set", err, sizeof(err));
			ok = 0;
			break;
		case RG_POLICY_SET_NOMEM:
			ok = 0;
			break;
		default:
			fuzz_fail("rg_policy_set returned %d", (int)rc);
		}
		free(line);
	}
	if (ok) {
		check_policy(&p);
		decide_all(&p);
	}
	rg_policy_free(&p);
	return 0;
}
