/* The schema resetguard needs. slapd takes operational attributes only from code, so the
 * per-account attributes are registered here when the module loads; the policy and log
 * schema (user attributes) comes from schema/resetguard.schema or .ldif, and is looked up
 * when a database using the overlay opens. */
#include "resetguard.h"

struct rg_ads rg_ad;

static const struct {
	const char *def;
	AttributeDescription **ad;
} operational_ats[] = {
	{ "( " RG_OID_BASE ".1.2.1 NAME 'rgPolicySubentry' "
	  "DESC 'the reset policy governing this entry, overriding the default' "
	  "EQUALITY distinguishedNameMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE USAGE directoryOperation )",
	  &rg_ad.policy_subentry },
	{ "( " RG_OID_BASE ".1.2.2 NAME 'rgLastResetTime' "
	  "DESC 'when the password was last set' "
	  "EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_time },
	{ "( " RG_OID_BASE ".1.2.3 NAME 'rgLastResetKind' "
	  "DESC 'self-change, self-service, delegated, break-glass or provisioning' "
	  "EQUALITY caseIgnoreIA5Match "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_kind },
	{ "( " RG_OID_BASE ".1.2.4 NAME 'rgLastResetBy' "
	  "DESC 'the identity that set the password' "
	  "EQUALITY distinguishedNameMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_by },
	{ "( " RG_OID_BASE ".1.2.5 NAME 'rgLastResetIAL' "
	  "DESC 'identity assurance level of the evidence of the last reset' "
	  "EQUALITY integerMatch ORDERING integerOrderingMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_ial },
	{ "( " RG_OID_BASE ".1.2.6 NAME 'rgLastResetMethod' "
	  "DESC 'proofing methods (amr) of the evidence of the last reset' "
	  "EQUALITY caseExactIA5Match "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_method },
	{ "( " RG_OID_BASE ".1.2.7 NAME 'rgLastResetIssuer' "
	  "DESC 'the proofing service that issued the evidence of the last reset' "
	  "EQUALITY caseExactMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_issuer },
	{ "( " RG_OID_BASE ".1.2.8 NAME 'rgLastResetApprover' "
	  "DESC 'the approver of the last delegated reset' "
	  "EQUALITY distinguishedNameMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_approver },
	{ "( " RG_OID_BASE ".1.2.9 NAME 'rgResetCount' "
	  "DESC 'number of password changes resetguard has allowed on this entry' "
	  "EQUALITY integerMatch ORDERING integerOrderingMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.reset_count },
	{ "( " RG_OID_BASE ".1.2.10 NAME 'rgReviewRequired' "
	  "DESC 'the last reset was a break-glass reset that an auditor must review' "
	  "EQUALITY booleanMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.review_required },
	{ "( " RG_OID_BASE ".1.2.11 NAME 'rgUsedToken' "
	  "DESC 'a proofing token used on this entry: hex SHA-256 of its issuer, NUL and jti, "
	  "then its expiry' "
	  "EQUALITY caseExactIA5Match "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.used_token },
	{ "( " RG_OID_BASE ".1.2.12 NAME 'rgLastResetChange' "
	  "DESC 'the change number of the reset log record of the last reset' "
	  "EQUALITY integerMatch ORDERING integerOrderingMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.last_change },
	{ "( " RG_OID_BASE ".1.2.15 NAME 'rgRecoveryChangeTime' "
	  "DESC 'when a recovery attribute (resetguard-recovery-attr) of this entry last changed' "
	  "EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch "
	  "SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE "
	  "NO-USER-MODIFICATION USAGE directoryOperation )",
	  &rg_ad.recovery_time },
};

static const struct {
	const char *name;
	AttributeDescription **ad;
} schema_file_ats[] = {
	{ "uid", &rg_ad.uid },
	{ "rgLogChangeNumber", &rg_ad.log_number },
	{ "rgLogTime", &rg_ad.log_time },
	{ "rgLogTarget", &rg_ad.log_target },
	{ "rgLogRequester", &rg_ad.log_requester },
	{ "rgLogAuthenticated", &rg_ad.log_authenticated },
	{ "rgLogApprover", &rg_ad.log_approver },
	{ "rgLogKind", &rg_ad.log_kind },
	{ "rgLogDecision", &rg_ad.log_decision },
	{ "rgLogRule", &rg_ad.log_rule },
	{ "rgLogRuleText", &rg_ad.log_rule_text },
	{ "rgLogPolicy", &rg_ad.log_policy },
	{ "rgLogOperation", &rg_ad.log_operation },
	{ "rgLogIssuer", &rg_ad.log_issuer },
	{ "rgLogLevel", &rg_ad.log_level },
	{ "rgLogMethod", &rg_ad.log_method },
	{ "rgLogJti", &rg_ad.log_jti },
	{ "rgLogReason", &rg_ad.log_reason },
	{ "rgLogReviewRequired", &rg_ad.log_review_required },
	{ "rgLogAlert", &rg_ad.log_alert },
	{ "rgLogAlertReason", &rg_ad.log_alert_reason },
	{ "rgLogAlertStatus", &rg_ad.log_alert_status },
	{ "rgLogPrevHash", &rg_ad.log_prev_hash },
	{ "rgLogHash", &rg_ad.log_hash },
	{ "rgLogOutcome", &rg_ad.log_outcome },
	{ "rgLogOutcomeText", &rg_ad.log_outcome_text },
	{ "rgLogReviewer", &rg_ad.log_reviewer },
	{ "rgLogReviewTime", &rg_ad.log_review_time },
	{ "rgLogReviewVerdict", &rg_ad.log_review_verdict },
	{ "rgLogTargetStatus", &rg_ad.log_target_status },
	{ "rgLogHookStatus", &rg_ad.log_hook_status },
	{ "rgLogAnchorNumber", &rg_ad.log_anchor_number },
	{ "rgLogAnchorHash", &rg_ad.log_anchor_hash },
	{ "rgLogSealedPassword", &rg_ad.log_sealed },
	{ "rgLogClaim", &rg_ad.log_claim },
};

int
rg_schema_register(void)
{
	for (size_t i = 0; i < sizeof(operational_ats) / sizeof(operational_ats[0]); i++) {
		int rc = register_at(operational_ats[i].def, operational_ats[i].ad, 0);

		if (rc != 0) {
			Debug(LDAP_DEBUG_ANY, "resetguard: cannot register attribute type "
				"\"%s\" (error %d)\n", operational_ats[i].def, rc);
			return rc;
		}
	}
	return 0;
}

int
rg_schema_resolve(char *err, size_t errlen)
{
	const char *text;

	for (size_t i = 0; i < sizeof(schema_file_ats) / sizeof(schema_file_ats[0]); i++) {
		*schema_file_ats[i].ad = NULL;
		if (slap_str2ad(schema_file_ats[i].name, schema_file_ats[i].ad, &text) !=
		    LDAP_SUCCESS) {
			snprintf(err, errlen, "attribute %s is not defined: load resetguard.schema "
				"(or resetguard.ldif) before configuring the overlay",
				schema_file_ats[i].name);
			return -1;
		}
	}
	if (oc_find("rgPolicy") == NULL ||
	    (rg_ad.oc_log_record = oc_find("rgLogRecord")) == NULL ||
	    (rg_ad.oc_log_root = oc_find("rgLogRoot")) == NULL) {
		snprintf(err, errlen, "the rgPolicy and rgLog* object classes are not "
			"defined: load resetguard.schema (or resetguard.ldif) before configuring "
			"the overlay");
		return -1;
	}
	/* Optional: only there when ppolicy is loaded; force-change needs it. */
	rg_ad.pwd_reset = NULL;
	slap_str2ad("pwdReset", &rg_ad.pwd_reset, &text);
	return 0;
}
