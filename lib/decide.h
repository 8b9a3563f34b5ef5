/* The policy decision: given who asks, for which account, with what evidence, may this
 * password be set? Pure function of its inputs; the adapters gather them. */
#ifndef RG_DECIDE_H
#define RG_DECIDE_H

#include "evidence.h"
#include "policy.h"

/* LDAP result codes, repeated here so the core needs no LDAP headers. */
#define RG_LDAP_SUCCESS                  0
#define RG_LDAP_CONSTRAINT_VIOLATION     19
#define RG_LDAP_INSUFFICIENT_ACCESS      50
#define RG_LDAP_UNWILLING_TO_PERFORM     53

enum rg_rule {
	RG_RULE_ALLOWED,
	RG_RULE_NO_POLICY,
	RG_RULE_KIND_NOT_ALLOWED,
	RG_RULE_OLD_PASSWORD_REQUIRED,
	RG_RULE_NOT_PROVISIONER,
	RG_RULE_EVIDENCE_MISSING,
	RG_RULE_EVIDENCE_MALFORMED,
	RG_RULE_EVIDENCE_ALG,
	RG_RULE_EVIDENCE_ISSUER,
	RG_RULE_EVIDENCE_SIGNATURE,
	RG_RULE_EVIDENCE_SUBJECT,
	RG_RULE_EVIDENCE_EXPIRED,
	RG_RULE_EVIDENCE_NOT_YET_VALID,
	RG_RULE_EVIDENCE_TOO_OLD,
	RG_RULE_EVIDENCE_REPLAYED,
	RG_RULE_METHOD_FORBIDDEN,
	RG_RULE_METHOD_INSUFFICIENT,
	RG_RULE_LEVEL_INSUFFICIENT,
	RG_RULE_STEP_UP_REQUIRED,
	RG_RULE_APPROVER_MISSING,
	RG_RULE_APPROVER_IS_REQUESTER,
	RG_RULE_APPROVER_IS_TARGET,
	RG_RULE_APPROVER_NOT_AUTHORIZED,
	RG_RULE_REASON_MISSING,
	RG_RULE_VELOCITY_EXCEEDED,
	RG_RULE_BREAK_GLASS,
	RG_RULE_ROOTDN_EXEMPT,
	RG_RULE_LOG_FAILED,
	RG_RULE_INTERNAL,
	RG_RULE_PASSWORD_IN_RDN,
	RG_RULE_TRANSACTION,
	RG_RULE_BREAK_GLASS_PROXIED,
	RG_RULE_GROUP_LOOKUP_FAILED,
	RG_RULE_OLD_PASSWORD_AMBIGUOUS,
	RG_RULE_OLD_PASSWORD_WRONG,
	RG_RULE_RISK_TOO_HIGH,
	RG_RULE_RISK_STEP_UP,
	RG_RULE_RISK_UNKNOWN,
	RG_RULE_RISK_ANONYMIZER,
	RG_RULE_RISK_UNKNOWN_NETWORK,
	RG_RULE_RISK_UNMANAGED_DEVICE,
	RG_RULE_RISK_UNKNOWN_DEVICE,
	RG_RULE_RISK_COUNTRY,
	RG_RULE_RECENT_FAILED_BINDS,
	RG_RULE_ACCOUNT_LOCKED,
	RG_RULE_RECENT_RESET,
	RG_RULE_RECOVERY_CHANGED,
	RG_RULE_POSSESSION_REQUIRED,
	RG_RULE_POSSESSION_MISMATCH,
	RG_RULE_COUNT
};

const char *rg_rule_name(enum rg_rule rule);

/* Everything the decision rests on, gathered by an adapter from its server. Group facts are
 * RG_GROUP_UNKNOWN when the lookup failed: the decision then fails closed. */
enum rg_group_fact { RG_GROUP_NO, RG_GROUP_YES, RG_GROUP_UNKNOWN };

struct rg_request {
	enum rg_kind kind;
	const char *target_ndn;
	const char *target_uid;        /* may be NULL */
	const char *requester_ndn;     /* the authorization identity; "" for anonymous */
	const char *authenticated_ndn; /* the bound identity, when it differs (proxied authz) */
	int exempt;                    /* an exempt rootdn, bound and authorized as itself */
	int in_transaction;            /* inside an RFC 5805 transaction */
	int password_in_rdn;           /* a rename whose old or new RDN holds a password */
	int old_values;                /* password values a Modify deletes */
	int old_password_given;
	int old_password_wrong;        /* an old value was given and did not verify */
	enum rg_group_fact privileged; /* target is in one of the policy's privileged groups */
	enum rg_group_fact approver_authorized; /* approver is in an approver group */
	int token_replayed;            /* the token's id is already recorded as used */
	const char *policy_error;      /* why the governing policy could not be read */
	int log_error;                 /* the reset log could not be read for a needed fact */
	const char *log_name;          /* the reset log, as messages name it */
	/* Evidence: ev_present says a proofing control came; ev_status is the verification
	 * result with ev_error its text; ev, ev_sub_ndn and ev_approver_ndn are set when OK. */
	int ev_present;
	enum rg_ev_status ev_status;
	const char *ev_error;
	const struct rg_evidence *ev;
	const char *ev_sub_ndn;        /* sub normalized as a DN, or NULL if it is not one */
	const char *ev_approver_ndn;
	long long now;
	long long clock_skew;
	/* The target's recent activity, in seconds since the epoch; 0 when none is recorded. */
	const long long *failed_binds;  /* ppolicy's pwdFailureTime values */
	size_t nfailed_binds;
	long long locked_time;          /* pwdAccountLockedTime; RG_LOCKED_PERMANENT: until an
					 * administrator unlocks it */
	long long last_reset_time;      /* rgLastResetTime */
	long long recovery_change_time; /* rgRecoveryChangeTime */
	/* Proof of possession: the x5t#S256 of the TLS client certificate of the connection
	 * that presents the token, NULL when it presented none; peer_unknown when it could not
	 * be read, which refuses any bound token. */
	const char *peer_x5t;
	int peer_unknown;
};

#define RG_LOCKED_PERMANENT (-1LL)

struct rg_decision {
	int allowed;
	enum rg_rule rule;
	int ldap_result;
	int review_required;
	int force_change;
	int alert;
	char text[512];
};

/* A new entry is provisioning; so is no other change. break_glass_member says whether the
 * requester is in one of the policy's rgBreakGlassGroup groups (unknown counts as no: the
 * change is then judged as delegated and needs evidence). A re-created account (an Add of a DN
 * the reset log already knows) is classified with is_add 0: it is a reset of that account. */
enum rg_kind rg_classify(const struct rg_policy *p, int is_add, const char *requester_ndn,
	const char *target_ndn, enum rg_group_fact break_glass_member);
/* The whole decision but the velocity limits. Refusals that no policy can lift
 * (transactions, passwords in RDNs, ambiguous old values) come first; an exempt rootdn's
 * change is then allowed without judgement but always marked for review. */
void rg_decide(const struct rg_policy *p, const struct rg_request *req, struct rg_decision *d);
/* Applies a velocity limit to an allowed decision, given how many allowed changes the log
 * already holds for it within its window (seen < 0: the count failed, and so does the
 * change). Break-glass is never limited. */
void rg_velocity_apply(const struct rg_policy *p, const struct rg_request *req,
	const struct rg_velocity_limit *v, long long seen, struct rg_decision *d);
/* Turns an allowed decision into a denial found after rg_decide: the reset log could not
 * record it. The text is cut at a character boundary, never inside a UTF-8 sequence. */
void rg_deny(struct rg_decision *d, enum rg_rule rule, int ldap_result, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Drops a partial UTF-8 sequence that a length cut left at the end of s. */
void rg_utf8_trim(char *s);

#endif
