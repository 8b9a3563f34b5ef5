/* Unit tests of the policy core: policy parsing, classification and every decision rule. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"

#define NOW 1800000000LL
#define TARGET "uid=alice,ou=people,dc=example,dc=com"
#define AGENT "cn=portal,ou=services,dc=example,dc=com"
#define HELPDESK "uid=hd,ou=staff,dc=example,dc=com"
#define APPROVER "uid=mgr,ou=staff,dc=example,dc=com"
#define BREAKGLASS "cn=bg,ou=services,dc=example,dc=com"

static struct rg_policy pol;
static struct rg_evidence ev;
static char *amr_store[4];
static struct rg_request req;
static struct rg_decision dec;

static void
set(const char *attr, const char *value)
{
	char err[256];

	ck_assert_int_eq(rg_policy_set(&pol, attr, value, err, sizeof(err)), RG_POLICY_SET_OK);
}

static void
setup(void)
{
	ck_assert_int_eq(rg_policy_init(&pol, "cn=default,ou=policies"), 0);
	set("rgResetAgent", AGENT);
	set("rgBreakGlass", BREAKGLASS);
	set("rgSelfServiceMethod", "hwk");
	set("rgSelfServiceMethod", "face");
	set("rgPrivilegedMethod", "hwk");
	set("rgApproverGroup", "cn=approvers");

	memset(&ev, 0, sizeof(ev));
	ev.iss = "issuer";
	ev.sub = TARGET;
	ev.jti = "j1";
	ev.iat = NOW - 10;
	ev.exp = NOW + 290;
	ev.ial = 2;
	amr_store[0] = "hwk";
	ev.amr = amr_store;
	ev.namr = 1;

	memset(&req, 0, sizeof(req));
	req.kind = RG_KIND_SELF_SERVICE;
	req.target_ndn = TARGET;
	req.target_uid = "alice";
	req.requester_ndn = AGENT;
	req.ev_present = 1;
	req.ev_status = RG_EV_OK;
	req.ev = &ev;
	req.ev_sub_ndn = TARGET;
	req.now = NOW;
	req.clock_skew = 30;
	memset(&dec, 0, sizeof(dec));
}

static void
teardown(void)
{
	rg_policy_free(&pol);
}

static void
delegated(void)
{
	req.kind = RG_KIND_DELEGATED;
	req.requester_ndn = HELPDESK;
	ev.ial = 1;
	ev.namr = 0;
	ev.approver = APPROVER;
	ev.reason = "INC-1";
	req.ev_approver_ndn = APPROVER;
	req.approver_authorized = 1;
}

static void
expect_denied(enum rg_rule rule, int code)
{
	rg_decide(&pol, &req, &dec);
	ck_assert_msg(!dec.allowed, "allowed, expected %s", rg_rule_name(rule));
	ck_assert_str_eq(rg_rule_name(dec.rule), rg_rule_name(rule));
	ck_assert_int_eq(dec.ldap_result, code);
	ck_assert(dec.text[0] != '\0');
}

static void
expect_allowed(void)
{
	rg_decide(&pol, &req, &dec);
	ck_assert_msg(dec.allowed, "denied: %s (%s)", dec.text, rg_rule_name(dec.rule));
}

START_TEST(defaults)
{
	struct rg_policy p;

	ck_assert_int_eq(rg_policy_init(&p, "cn=x"), 0);
	ck_assert_int_eq(p.selfservice_min_ial, 2);
	ck_assert_int_eq(p.privileged_min_ial, 3);
	ck_assert_int_eq(p.max_evidence_age, 900);
	ck_assert(p.require_approver && p.require_reason && p.selfchange_require_old);
	ck_assert(rg_strlist_has(&p.forbidden_methods, "kba"));
	ck_assert(rg_strlist_has(&p.privileged_forbidden, "sms"));
	ck_assert_uint_eq(p.allowed_kinds, (1u << RG_KIND_COUNT) - 1);
	rg_policy_free(&p);
}
END_TEST

START_TEST(stored_values_replace_default_lists)
{
	set("rgForbiddenMethod", "sms");
	ck_assert(!rg_strlist_has(&pol.forbidden_methods, "kba"));
	ck_assert(rg_strlist_has(&pol.forbidden_methods, "sms"));
	set("rgAllowedKind", "self-change");
	ck_assert_uint_eq(pol.allowed_kinds, 1u << RG_KIND_SELF_CHANGE);
	set("rgAllowedKind", "Delegated");
	ck_assert_uint_eq(pol.allowed_kinds,
		(1u << RG_KIND_SELF_CHANGE) | (1u << RG_KIND_DELEGATED));
}
END_TEST

START_TEST(bad_values_are_refused_by_name)
{
	char err[256];

	ck_assert_int_eq(rg_policy_set(&pol, "rgSelfServiceMinIAL", "4", err, sizeof(err)),
		RG_POLICY_SET_BAD_VALUE);
	ck_assert_ptr_nonnull(strstr(err, "rgSelfServiceMinIAL"));
	ck_assert_int_eq(rg_policy_set(&pol, "rgMaxEvidenceAge", "10x", err, sizeof(err)),
		RG_POLICY_SET_BAD_VALUE);
	ck_assert_int_eq(rg_policy_set(&pol, "rgDelegatedRequireReason", "yes", err,
		sizeof(err)), RG_POLICY_SET_BAD_VALUE);
	ck_assert_int_eq(rg_policy_set(&pol, "rgAllowedKind", "reset", err, sizeof(err)),
		RG_POLICY_SET_BAD_VALUE);
	ck_assert_int_eq(rg_policy_set(&pol, "cn", "x", err, sizeof(err)),
		RG_POLICY_SET_UNKNOWN);
	ck_assert(rg_policy_attr_is_dn("rgresetagent"));
	ck_assert(!rg_policy_attr_is_dn("rgForbiddenMethod"));
}
END_TEST

START_TEST(classification)
{
	ck_assert_int_eq(rg_classify(&pol, 1, AGENT, TARGET, RG_GROUP_NO), RG_KIND_PROVISIONING);
	ck_assert_int_eq(rg_classify(&pol, 0, TARGET, TARGET, RG_GROUP_NO), RG_KIND_SELF_CHANGE);
	ck_assert_int_eq(rg_classify(&pol, 0, BREAKGLASS, TARGET, RG_GROUP_NO), RG_KIND_BREAK_GLASS);
	ck_assert_int_eq(rg_classify(&pol, 0, AGENT, TARGET, RG_GROUP_NO), RG_KIND_SELF_SERVICE);
	ck_assert_int_eq(rg_classify(&pol, 0, HELPDESK, TARGET, RG_GROUP_NO), RG_KIND_DELEGATED);
	ck_assert_int_eq(rg_classify(&pol, 0, "", TARGET, RG_GROUP_NO), RG_KIND_DELEGATED);
	ck_assert_int_eq(rg_classify(NULL, 0, AGENT, TARGET, RG_GROUP_NO), RG_KIND_DELEGATED);
	ck_assert_int_eq(rg_classify(&pol, 0, HELPDESK, TARGET, RG_GROUP_YES), RG_KIND_BREAK_GLASS);
	ck_assert_int_eq(rg_classify(&pol, 0, HELPDESK, TARGET, RG_GROUP_UNKNOWN),
		RG_KIND_DELEGATED);
	/* A break-glass identity changing its own password is an ordinary self-change. */
	ck_assert_int_eq(rg_classify(&pol, 0, BREAKGLASS, BREAKGLASS, RG_GROUP_NO), RG_KIND_SELF_CHANGE);
}
END_TEST

START_TEST(self_service_allowed)
{
	expect_allowed();
	ck_assert(!dec.review_required && !dec.force_change);
	ev.sub = "alice";
	req.ev_sub_ndn = NULL;
	expect_allowed();
}
END_TEST

START_TEST(no_policy)
{
	rg_decide(NULL, &req, &dec);
	ck_assert(!dec.allowed);
	ck_assert_int_eq(dec.rule, RG_RULE_NO_POLICY);
	ck_assert_int_eq(dec.ldap_result, RG_LDAP_UNWILLING_TO_PERFORM);
}
END_TEST

START_TEST(kind_not_allowed)
{
	set("rgAllowedKind", "self-change");
	expect_denied(RG_RULE_KIND_NOT_ALLOWED, RG_LDAP_INSUFFICIENT_ACCESS);
}
END_TEST

START_TEST(self_change)
{
	req.kind = RG_KIND_SELF_CHANGE;
	req.requester_ndn = TARGET;
	req.ev_present = 0;
	expect_denied(RG_RULE_OLD_PASSWORD_REQUIRED, RG_LDAP_CONSTRAINT_VIOLATION);
	req.old_password_given = 1;
	expect_allowed();
	req.old_password_given = 0;
	set("rgSelfChangeRequireOld", "FALSE");
	expect_allowed();
}
END_TEST

START_TEST(provisioning)
{
	req.kind = RG_KIND_PROVISIONING;
	req.ev_present = 0;
	expect_allowed();
	set("rgProvisioner", "cn=idm");
	expect_denied(RG_RULE_NOT_PROVISIONER, RG_LDAP_INSUFFICIENT_ACCESS);
	req.requester_ndn = "cn=idm";
	expect_allowed();
}
END_TEST

START_TEST(break_glass_needs_no_evidence_but_review)
{
	req.kind = RG_KIND_BREAK_GLASS;
	req.requester_ndn = BREAKGLASS;
	req.ev_present = 0;
	expect_allowed();
	ck_assert_int_eq(dec.rule, RG_RULE_BREAK_GLASS);
	ck_assert(dec.review_required);
}
END_TEST

START_TEST(evidence_failures)
{
	static const struct {
		enum rg_ev_status st;
		enum rg_rule rule;
	} map[] = {
		{ RG_EV_MALFORMED, RG_RULE_EVIDENCE_MALFORMED },
		{ RG_EV_UNSUPPORTED_ALG, RG_RULE_EVIDENCE_ALG },
		{ RG_EV_UNKNOWN_ISSUER, RG_RULE_EVIDENCE_ISSUER },
		{ RG_EV_BAD_SIGNATURE, RG_RULE_EVIDENCE_SIGNATURE },
	};

	req.ev_present = 0;
	expect_denied(RG_RULE_EVIDENCE_MISSING, RG_LDAP_INSUFFICIENT_ACCESS);
	req.ev_present = 1;
	req.ev = NULL;
	req.ev_error = "detail";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		req.ev_status = map[i].st;
		expect_denied(map[i].rule, RG_LDAP_INSUFFICIENT_ACCESS);
	}
}
END_TEST

START_TEST(evidence_subject_and_time)
{
	req.ev_sub_ndn = "uid=carol,ou=people,dc=example,dc=com";
	ev.sub = "carol";
	expect_denied(RG_RULE_EVIDENCE_SUBJECT, RG_LDAP_INSUFFICIENT_ACCESS);
	teardown();
	setup();
	ev.exp = NOW - 31;
	expect_denied(RG_RULE_EVIDENCE_EXPIRED, RG_LDAP_INSUFFICIENT_ACCESS);
	ev.exp = NOW - 29;          /* within the clock skew */
	expect_allowed();
	ev.exp = NOW + 300;
	ev.iat = NOW + 31;
	expect_denied(RG_RULE_EVIDENCE_NOT_YET_VALID, RG_LDAP_INSUFFICIENT_ACCESS);
	ev.iat = NOW - 10;
	ev.nbf = NOW + 60;
	expect_denied(RG_RULE_EVIDENCE_NOT_YET_VALID, RG_LDAP_INSUFFICIENT_ACCESS);
	ev.nbf = 0;
	ev.iat = NOW - 901;
	ev.exp = NOW + 3600;
	expect_denied(RG_RULE_EVIDENCE_TOO_OLD, RG_LDAP_CONSTRAINT_VIOLATION);
}
END_TEST

START_TEST(methods_and_levels)
{
	amr_store[0] = "face";
	amr_store[1] = "kba";
	ev.namr = 2;
	expect_denied(RG_RULE_METHOD_FORBIDDEN, RG_LDAP_CONSTRAINT_VIOLATION);
	ck_assert_ptr_nonnull(strstr(dec.text, "'kba'"));
	amr_store[1] = "pwd";
	expect_allowed();
	amr_store[0] = "otp";
	expect_denied(RG_RULE_METHOD_INSUFFICIENT, RG_LDAP_CONSTRAINT_VIOLATION);
	amr_store[0] = "hwk";
	ev.ial = 1;
	expect_denied(RG_RULE_LEVEL_INSUFFICIENT, RG_LDAP_CONSTRAINT_VIOLATION);
}
END_TEST

START_TEST(privileged_step_up)
{
	req.privileged = 1;
	amr_store[0] = "face";
	expect_denied(RG_RULE_STEP_UP_REQUIRED, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.ial = 3;
	expect_allowed();
	ev.ial = 2;
	amr_store[0] = "hwk";
	expect_allowed();
	amr_store[1] = "sms";
	ev.namr = 2;
	expect_denied(RG_RULE_METHOD_FORBIDDEN, RG_LDAP_CONSTRAINT_VIOLATION);
	req.privileged = 0;
	expect_allowed();           /* sms is refused for privileged accounts only */
}
END_TEST

START_TEST(delegation)
{
	delegated();
	expect_allowed();
	ck_assert(dec.force_change);
	set("rgForceChangeAfterDelegated", "FALSE");
	expect_allowed();
	ck_assert(!dec.force_change);

	req.approver_authorized = 0;
	expect_denied(RG_RULE_APPROVER_NOT_AUTHORIZED, RG_LDAP_CONSTRAINT_VIOLATION);
	req.approver_authorized = 1;
	req.ev_approver_ndn = HELPDESK;
	expect_denied(RG_RULE_APPROVER_IS_REQUESTER, RG_LDAP_CONSTRAINT_VIOLATION);
	req.ev_approver_ndn = TARGET;
	expect_denied(RG_RULE_APPROVER_IS_TARGET, RG_LDAP_CONSTRAINT_VIOLATION);
	req.ev_approver_ndn = NULL;
	expect_denied(RG_RULE_APPROVER_MISSING, RG_LDAP_CONSTRAINT_VIOLATION);
	set("rgDelegatedRequireApprover", "FALSE");
	expect_allowed();
	ev.reason = "";
	expect_denied(RG_RULE_REASON_MISSING, RG_LDAP_CONSTRAINT_VIOLATION);
	set("rgDelegatedRequireReason", "FALSE");
	expect_allowed();
}
END_TEST

START_TEST(delegated_levels_and_methods)
{
	delegated();
	set("rgDelegatedMinIAL", "2");
	expect_denied(RG_RULE_LEVEL_INSUFFICIENT, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.ial = 2;
	set("rgDelegatedMethod", "swk");
	expect_denied(RG_RULE_METHOD_INSUFFICIENT, RG_LDAP_CONSTRAINT_VIOLATION);
}
END_TEST

START_TEST(rg_deny_overrides_allow)
{
	expect_allowed();
	rg_deny(&dec, RG_RULE_EVIDENCE_REPLAYED, RG_LDAP_INSUFFICIENT_ACCESS, "used %d", 1);
	ck_assert(!dec.allowed);
	ck_assert_str_eq(dec.text, "used 1");
	ck_assert_str_eq(rg_rule_name(dec.rule), "evidence-replayed");
}
END_TEST


START_TEST(structural_refusals_beat_any_policy)
{
	req.exempt = 1;
	req.in_transaction = 1;
	expect_denied(RG_RULE_TRANSACTION, RG_LDAP_UNWILLING_TO_PERFORM);
	req.in_transaction = 0;
	req.password_in_rdn = 1;
	expect_denied(RG_RULE_PASSWORD_IN_RDN, RG_LDAP_UNWILLING_TO_PERFORM);
	req.password_in_rdn = 0;
	expect_allowed();
	ck_assert_str_eq(rg_rule_name(dec.rule), "rootdn-exempt");
	ck_assert(dec.review_required);
	req.kind = RG_KIND_PROVISIONING;
	expect_allowed();
	ck_assert(!dec.review_required);    /* bulk provisioning floods no review queue */
	req.kind = RG_KIND_SELF_SERVICE;
	req.log_error = 1;
	expect_denied(RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM);
}
END_TEST

START_TEST(self_change_with_many_old_values_is_no_oracle)
{
	req.kind = RG_KIND_SELF_CHANGE;
	req.requester_ndn = TARGET;
	req.old_password_given = 1;
	req.old_values = 1;
	expect_allowed();
	req.old_values = 2;
	expect_denied(RG_RULE_OLD_PASSWORD_AMBIGUOUS, RG_LDAP_CONSTRAINT_VIOLATION);
	req.old_values = 1;
	req.old_password_given = 0;
	expect_denied(RG_RULE_OLD_PASSWORD_REQUIRED, RG_LDAP_CONSTRAINT_VIOLATION);
	req.old_password_wrong = 1;
	expect_denied(RG_RULE_OLD_PASSWORD_WRONG, RG_LDAP_CONSTRAINT_VIOLATION);
}
END_TEST

START_TEST(break_glass_only_as_itself)
{
	req.kind = RG_KIND_BREAK_GLASS;
	req.requester_ndn = BREAKGLASS;
	req.authenticated_ndn = "cn=admin,dc=example,dc=com";
	expect_denied(RG_RULE_BREAK_GLASS_PROXIED, RG_LDAP_INSUFFICIENT_ACCESS);
	req.authenticated_ndn = NULL;
	expect_allowed();
}
END_TEST

START_TEST(unknown_group_facts_fail_closed)
{
	req.privileged = RG_GROUP_UNKNOWN;
	expect_denied(RG_RULE_GROUP_LOOKUP_FAILED, RG_LDAP_UNWILLING_TO_PERFORM);
	req.privileged = RG_GROUP_NO;
	delegated();
	req.approver_authorized = RG_GROUP_UNKNOWN;
	expect_denied(RG_RULE_GROUP_LOOKUP_FAILED, RG_LDAP_UNWILLING_TO_PERFORM);
}
END_TEST

START_TEST(replay_blank_reason_and_banned_spelling)
{
	req.token_replayed = 1;
	expect_denied(RG_RULE_EVIDENCE_REPLAYED, RG_LDAP_INSUFFICIENT_ACCESS);
	req.token_replayed = 0;
	amr_store[1] = "KBA";
	ev.namr = 2;
	expect_denied(RG_RULE_METHOD_FORBIDDEN, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.namr = 1;
	delegated();
	ev.reason = " \t ";
	expect_denied(RG_RULE_REASON_MISSING, RG_LDAP_CONSTRAINT_VIOLATION);
}
END_TEST

START_TEST(failed_velocity_count_denies)
{
	struct rg_velocity_limit v = { .count = 3, .window = 3600,
		.kinds = 1u << RG_KIND_SELF_SERVICE };

	expect_allowed();
	rg_velocity_apply(&pol, &req, &v, 2, &dec);
	ck_assert(dec.allowed);
	rg_velocity_apply(&pol, &req, &v, -1, &dec);
	ck_assert(!dec.allowed);
	ck_assert_str_eq(rg_rule_name(dec.rule), "log-failed");
}
END_TEST

START_TEST(denial_text_is_cut_between_characters)
{
	char big[600];

	/* 2-byte characters from an odd offset: a byte cut would land inside one */
	memset(big, 0, sizeof(big));
	big[0] = 'x';
	for (size_t i = 1; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	rg_deny(&dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM, "%s", big);
	for (size_t i = 0; dec.text[i] != '\0'; i++) {
		unsigned char c = (unsigned char)dec.text[i];

		if (c == 0xc3)
			ck_assert_int_eq((unsigned char)dec.text[i + 1], 0xa9);
	}
	ck_assert_uint_lt(strlen(dec.text), sizeof(dec.text));
}
END_TEST


/* ---- risk signals, proof of possession and recent activity ---- */

static void
set_bad(const char *attr, const char *value)
{
	char err[256] = "";

	ck_assert_int_eq(rg_policy_set(&pol, attr, value, err, sizeof(err)),
		RG_POLICY_SET_BAD_VALUE);
	ck_assert_msg(strstr(err, attr) != NULL, "error does not name %s: %s", attr, err);
}

START_TEST(risk_values_are_checked)
{
	ck_assert(!rg_policy_judges_risk(&pol));
	set_bad("rgRiskMax", "self-service");
	set_bad("rgRiskMax", "self-service 101");
	set_bad("rgRiskMax", "break-glass 10");
	set_bad("rgRiskMax", "delegated -1");
	set_bad("rgRiskStepUp", "40");
	set_bad("rgRiskStepUp", "40 4");
	set_bad("rgRiskUnknown", "maybe");
	set_bad("rgRiskRefuse", "tor");
	set_bad("rgRiskRefuse", "country:FRA");
	set_bad("rgRiskRefuse", "country:1A");
	set_bad("rgFailedBindLimit", "self-service 3");
	set_bad("rgFailedBindLimit", "break-glass 3 60");
	set_bad("rgFailedBindLimit", "self-service 0 60");
	set_bad("rgLockoutRefuse", "provisioning 60");
	set_bad("rgMinResetInterval", "* 0");
	set_bad("rgRecoveryChangeMinAge", "* 60 60");
	set_bad("rgRequireBoundEvidence", "yes");
	ck_assert(!rg_policy_judges_risk(&pol));
	set("rgRiskRefuse", "country:fr");
	ck_assert(rg_policy_judges_risk(&pol));
	ck_assert(rg_strlist_has(&pol.refused_countries, "FR"));
}
END_TEST

START_TEST(risk_score_cap)
{
	set("rgRiskMax", "self-service 60");
	set("rgRiskMax", "delegated 80");
	set("rgRiskMax", "privileged 30");
	ev.risk.has_score = 1;
	ev.risk.score = 60;
	expect_allowed();
	ev.risk.score = 61;
	expect_denied(RG_RULE_RISK_TOO_HIGH, RG_LDAP_CONSTRAINT_VIOLATION);
	ck_assert(strstr(dec.text, "61") != NULL && strstr(dec.text, "60") != NULL);
	/* a privileged account takes the lower of its kind's cap and the privileged one */
	req.privileged = RG_GROUP_YES;
	ev.ial = 3;
	ev.risk.score = 30;
	expect_allowed();
	ev.risk.score = 31;
	expect_denied(RG_RULE_RISK_TOO_HIGH, RG_LDAP_CONSTRAINT_VIOLATION);
	req.privileged = RG_GROUP_NO;
	/* delegated has its own cap */
	delegated();
	ev.risk.score = 80;
	expect_allowed();
	ev.risk.score = 81;
	expect_denied(RG_RULE_RISK_TOO_HIGH, RG_LDAP_CONSTRAINT_VIOLATION);
	/* a level alone counts as the top of its band: medium 66, low 33 */
	ev.risk.has_score = 0;
	ev.risk.level = RG_RISK_HIGH;
	expect_denied(RG_RULE_RISK_TOO_HIGH, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.risk.level = RG_RISK_MEDIUM;
	expect_allowed();
}
END_TEST

START_TEST(risk_step_up)
{
	set("rgRiskStepUp", "40 3");
	amr_store[0] = "face";
	ev.risk.has_score = 1;
	ev.risk.score = 40;
	expect_allowed();
	ev.risk.score = 41;
	expect_denied(RG_RULE_RISK_STEP_UP, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.ial = 3;
	expect_allowed();
	/* or a step-up method (rgPrivilegedMethod) instead of the level */
	ev.ial = 2;
	amr_store[0] = "hwk";
	expect_allowed();
}
END_TEST

START_TEST(risk_unknown)
{
	/* a policy that judges no risk ignores its absence */
	expect_allowed();
	set("rgRiskMax", "self-service 50");
	/* the default: a token without risk is accepted as before */
	expect_allowed();
	set("rgRiskUnknown", "deny");
	expect_denied(RG_RULE_RISK_UNKNOWN, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.risk.has_score = 1;
	ev.risk.score = 10;
	expect_allowed();
	ev.risk.has_score = 0;
	set("rgRiskUnknown", "step-up");
	amr_store[0] = "face";
	expect_denied(RG_RULE_RISK_STEP_UP, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.ial = 3;
	expect_allowed();
}
END_TEST

START_TEST(risk_facts)
{
	set("rgRiskRefuse", "anonymizer");
	set("rgRiskRefuse", "unknown-network");
	set("rgRiskRefuse", "unmanaged-device");
	set("rgRiskRefuse", "unknown-device");
	set("rgRiskRefuse", "country:KP");
	ev.risk.network_anonymizer = RG_FACT_NO;
	ev.risk.network_known = RG_FACT_YES;
	ev.risk.device_managed = RG_FACT_YES;
	ev.risk.device_known = RG_FACT_YES;
	memcpy(ev.risk.country, "FR", 3);
	expect_allowed();
	ev.risk.network_anonymizer = RG_FACT_YES;
	expect_denied(RG_RULE_RISK_ANONYMIZER, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.risk.network_anonymizer = RG_FACT_NO;
	ev.risk.network_known = RG_FACT_NO;
	expect_denied(RG_RULE_RISK_UNKNOWN_NETWORK, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.risk.network_known = RG_FACT_YES;
	ev.risk.device_managed = RG_FACT_NO;
	expect_denied(RG_RULE_RISK_UNMANAGED_DEVICE, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.risk.device_managed = RG_FACT_YES;
	ev.risk.device_known = RG_FACT_NO;
	expect_denied(RG_RULE_RISK_UNKNOWN_DEVICE, RG_LDAP_CONSTRAINT_VIOLATION);
	ev.risk.device_known = RG_FACT_YES;
	memcpy(ev.risk.country, "KP", 3);
	expect_denied(RG_RULE_RISK_COUNTRY, RG_LDAP_CONSTRAINT_VIOLATION);
	/* an unstated fact is unknown: allowed by default, refused under rgRiskUnknown deny */
	ev.risk.country[0] = '\0';
	expect_allowed();
	set("rgRiskUnknown", "deny");
	expect_denied(RG_RULE_RISK_UNKNOWN, RG_LDAP_CONSTRAINT_VIOLATION);
	ck_assert(strstr(dec.text, "network.country") != NULL);
}
END_TEST

#define X5T_A "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
#define X5T_B "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"

START_TEST(possession)
{
	/* a bearer token passes unless the policy requires binding */
	expect_allowed();
	set("rgRequireBoundEvidence", "TRUE");
	expect_denied(RG_RULE_POSSESSION_REQUIRED, RG_LDAP_INSUFFICIENT_ACCESS);
	memcpy(ev.cnf_x5t, X5T_A, sizeof(X5T_A));
	req.peer_x5t = X5T_A;
	expect_allowed();
	req.peer_x5t = X5T_B;
	expect_denied(RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS);
	ck_assert(dec.alert);
	req.peer_x5t = NULL;
	expect_denied(RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS);
	req.peer_x5t = X5T_A;
	req.peer_unknown = 1;
	expect_denied(RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS);
	/* a bound token is held to its certificate even where the policy does not ask */
	req.peer_unknown = 0;
	set("rgRequireBoundEvidence", "FALSE");
	req.peer_x5t = X5T_B;
	expect_denied(RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS);
	delegated();
	expect_denied(RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS);
	req.peer_x5t = X5T_A;
	expect_allowed();
}
END_TEST

START_TEST(recent_failed_binds)
{
	long long fails[3] = { NOW - 100, NOW - 200, NOW - 5000 };

	set("rgFailedBindLimit", "self-service 2 3600");
	req.failed_binds = fails;
	req.nfailed_binds = 1;
	expect_allowed();
	req.nfailed_binds = 3;      /* two within the hour, one before */
	expect_denied(RG_RULE_RECENT_FAILED_BINDS, RG_LDAP_CONSTRAINT_VIOLATION);
	fails[1] = NOW - 4000;
	expect_allowed();
	/* other kinds are not limited by a self-service rule */
	fails[1] = NOW - 200;
	delegated();
	expect_allowed();
}
END_TEST

START_TEST(account_locked)
{
	set("rgLockoutRefuse", "self-service 86400");
	req.locked_time = NOW - 86400;
	expect_allowed();
	req.locked_time = NOW - 86399;
	expect_denied(RG_RULE_ACCOUNT_LOCKED, RG_LDAP_CONSTRAINT_VIOLATION);
	req.locked_time = RG_LOCKED_PERMANENT;
	expect_denied(RG_RULE_ACCOUNT_LOCKED, RG_LDAP_CONSTRAINT_VIOLATION);
	delegated();
	expect_allowed();
}
END_TEST

START_TEST(recent_reset)
{
	set("rgMinResetInterval", "* 600");
	req.last_reset_time = NOW - 600;
	expect_allowed();
	req.last_reset_time = NOW - 599;
	expect_denied(RG_RULE_RECENT_RESET, RG_LDAP_CONSTRAINT_VIOLATION);
	/* "*" covers self-change too, with the old password right */
	req.kind = RG_KIND_SELF_CHANGE;
	req.requester_ndn = TARGET;
	req.old_password_given = 1;
	expect_denied(RG_RULE_RECENT_RESET, RG_LDAP_CONSTRAINT_VIOLATION);
	req.last_reset_time = 0;
	expect_allowed();
	/* break-glass never */
	req.last_reset_time = NOW - 1;
	req.kind = RG_KIND_BREAK_GLASS;
	req.requester_ndn = BREAKGLASS;
	expect_allowed();
}
END_TEST

START_TEST(recovery_changed)
{
	set("rgRecoveryChangeMinAge", "self-service 604800");
	req.recovery_change_time = NOW - 604800;
	expect_allowed();
	req.recovery_change_time = NOW - 3600;
	expect_denied(RG_RULE_RECOVERY_CHANGED, RG_LDAP_CONSTRAINT_VIOLATION);
	ck_assert(strstr(dec.text, "3600 seconds ago") != NULL);
	/* evidence problems are reported first: activity is judged on a sound request */
	req.ev_present = 0;
	expect_denied(RG_RULE_EVIDENCE_MISSING, RG_LDAP_INSUFFICIENT_ACCESS);
}
END_TEST

START_TEST(every_rule_has_a_name)
{
	for (int r = 0; r < RG_RULE_COUNT; r++)
		ck_assert_msg(rg_rule_name(r) != NULL && strcmp(rg_rule_name(r), "unknown") != 0,
			"rule %d has no name", r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("decide");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, stored_values_replace_default_lists);
	tcase_add_test(tc, bad_values_are_refused_by_name);
	tcase_add_test(tc, classification);
	tcase_add_test(tc, self_service_allowed);
	tcase_add_test(tc, no_policy);
	tcase_add_test(tc, kind_not_allowed);
	tcase_add_test(tc, self_change);
	tcase_add_test(tc, provisioning);
	tcase_add_test(tc, break_glass_needs_no_evidence_but_review);
	tcase_add_test(tc, evidence_failures);
	tcase_add_test(tc, evidence_subject_and_time);
	tcase_add_test(tc, methods_and_levels);
	tcase_add_test(tc, privileged_step_up);
	tcase_add_test(tc, delegation);
	tcase_add_test(tc, delegated_levels_and_methods);
	tcase_add_test(tc, rg_deny_overrides_allow);
	tcase_add_test(tc, structural_refusals_beat_any_policy);
	tcase_add_test(tc, self_change_with_many_old_values_is_no_oracle);
	tcase_add_test(tc, break_glass_only_as_itself);
	tcase_add_test(tc, unknown_group_facts_fail_closed);
	tcase_add_test(tc, replay_blank_reason_and_banned_spelling);
	tcase_add_test(tc, failed_velocity_count_denies);
	tcase_add_test(tc, denial_text_is_cut_between_characters);
	tcase_add_test(tc, risk_values_are_checked);
	tcase_add_test(tc, risk_score_cap);
	tcase_add_test(tc, risk_step_up);
	tcase_add_test(tc, risk_unknown);
	tcase_add_test(tc, risk_facts);
	tcase_add_test(tc, possession);
	tcase_add_test(tc, recent_failed_binds);
	tcase_add_test(tc, account_locked);
	tcase_add_test(tc, recent_reset);
	tcase_add_test(tc, recovery_changed);
	tcase_add_test(tc, every_rule_has_a_name);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
