/* resetguard's slapd adapter: shared state between the overlay's files. */
#ifndef RESETGUARD_SLAPD_H
#define RESETGUARD_SLAPD_H

#include "portable.h"
#include "slap.h"

#include "decide.h"
#include "errbuf.h"
#include "evidence.h"
#include "policy.h"
#include "resetlog.h"
#include "seal.h"

#define RG_OID_BASE "2.25.30299494411348485370983023088693649332"
#define RG_PROOFING_CONTROL_OID RG_OID_BASE ".3.1"

typedef struct rg_info {
	struct berval ri_default_policy;    /* normalized DN, or empty */
	struct rg_issuers ri_issuers;
	X509 *ri_seal_cert;                 /* syncd's certificate; NULL: nothing is sealed */
	char *ri_seal_cert_file;
	BerVarray ri_issuer_cfg;            /* "NAME FILE" values, for cn=config */
	struct berval ri_log_base;          /* the reset log suffix, as configured */
	struct berval ri_log_nbase;
	ldap_pvt_thread_mutex_t ri_log_mutex;   /* numbering, time and chain order */
	int ri_log_head_known;
	unsigned long long ri_log_head;
	char ri_log_head_hash[RG_LOG_HASH_HEX];
	int ri_log_purge_age;               /* seconds; 0: keep records for ever */
	int ri_log_purge_interval;
	struct re_s *ri_log_purge_task;
	int ri_rootdn_exempt;
	int ri_settled;                     /* no pending record of an earlier run is left */
	struct re_s *ri_settle_task;
	int ri_clock_skew;
} rg_info;

/* Attribute descriptions resolved from the loaded schema when a database opens. */
struct rg_ads {
	AttributeDescription *policy_subentry;
	AttributeDescription *last_time, *last_kind, *last_by, *last_ial, *last_method,
		*last_issuer, *last_approver, *reset_count, *review_required, *last_change;
	AttributeDescription *used_token;
	AttributeDescription *uid;
	AttributeDescription *log_number, *log_time, *log_target, *log_requester, *log_authenticated,
		*log_approver, *log_kind, *log_decision, *log_rule, *log_rule_text, *log_policy,
		*log_operation, *log_issuer, *log_level, *log_method, *log_jti, *log_reason,
		*log_review_required, *log_alert, *log_prev_hash, *log_hash, *log_outcome,
		*log_outcome_text, *log_reviewer, *log_review_time, *log_review_verdict,
		*log_target_status, *log_hook_status, *log_anchor_number, *log_anchor_hash,
		*log_sealed;
	AttributeDescription *log_claim;    /* syncd's claim on a record (syncd/claim.c) */
	ObjectClass *oc_log_record, *oc_log_root;
	AttributeDescription *pwd_reset;    /* ppolicy's pwdReset, NULL without ppolicy */
};
extern struct rg_ads rg_ad;

/* resetguard.c */
int resetguard_initialize(void);

/* internal.c */
extern slap_callback rg_internal_cb;
void rg_internal_op_init(Operation *op2, Operation *op, BackendDB *be, void **cids);
int rg_is_internal(Operation *op);

/* control.c */
extern int rg_proofing_cid;
int rg_control_register(void);
void rg_control_unregister(void);

/* config.c */
int rg_config_init(slap_overinst *on);

/* schema.c */
int rg_schema_register(void);
int rg_schema_resolve(char *err, size_t errlen);

/* policyload.c */
int rg_policy_load(Operation *op, struct berval *policy_ndn, struct rg_policy *policy,
	char *err, size_t errlen);
/* Whether ndn is a member of one of groups (groupOfNames or groupOfUniqueNames):
 * RG_GROUP_UNKNOWN when a group cannot be read, so the decision fails closed. */
enum rg_group_fact rg_group_member(Operation *op, const struct rg_strlist *groups,
	struct berval *ndn);

/* judge.c: one password change as the hooks in resetguard.c saw it. */
struct rg_attempt {
	const char *operation;              /* passwordModify, modify, add, modrdn */
	int pwdexop;                        /* the Modify that passwd_extop made */
	int is_add;
	int old_given;                      /* Password Modify: the frontend checked oldPasswd */
	BerVarray old_values;               /* a Modify's deleted values, checked against the
					     * entry when the Modify also adds one */
	int n_old_values;
	int password_in_rdn;
	struct berval *secret;              /* the new cleartext, NULL when there is none */
};
/* Every stage of the judgement; sends the denial, or puts the effects on the write and
 * leaves outcome.c's callback to record the backend's answer. */
int rg_judge(Operation *op, SlapReply *rs, const struct rg_attempt *at);

/* outcome.c */
/* Takes *record_ndn (zeroed): the record whose outcome the backend's answer settles. */
void rg_outcome_expect(Operation *op, rg_info *ri, struct berval *record_ndn, int token_added,
	int pwdexop);

/* logwrite.c: appends are serialized by ri_log_mutex, held by the caller across the
 * velocity count and the append so that parallel resets cannot pass a limit together. */
void rg_log_lock(rg_info *ri);
void rg_log_unlock(rg_info *ri);
void rg_log_record_ndn(Operation *op, rg_info *ri, unsigned long long n, struct berval *ndn);
/* A pending record carries the sealed password (NULL: none) from the start, so that a
 * change applied just before a crash still reaches syncd once its record is settled. */
int rg_log_append(Operation *op, rg_info *ri, struct rg_log_record *r, int pending,
	struct berval *sealed, struct berval *ndn, char *err, size_t errlen);
/* applied, or failed with text (the sealed password then goes). */
void rg_log_outcome(Operation *op, rg_info *ri, struct berval *ndn, int applied,
	const char *text);

/* logsettle.c */
int rg_log_settle_start(rg_info *ri);
/* With the log lock held. */
void rg_log_settle(Operation *op, rg_info *ri);
void rg_log_settle_stop(rg_info *ri);

/* logquery.c: reading the log's records (and nothing else under its base). */
long long rg_log_count(Operation *op, rg_info *ri, const struct rg_velocity_limit *v,
	struct berval *who_ndn, long long since);
/* What the log knows of an account that is being created again. */
struct rg_history {
	int known;                          /* the log has a record for this DN */
	long long applied;                  /* allowed changes that were not refused */
	int unreviewed;                     /* a record awaits review */
	int token_used;                     /* the token given was already used on it */
};
int rg_log_history(Operation *op, rg_info *ri, struct berval *target_ndn,
	const struct rg_evidence *ev, struct rg_history *h);

/* logpurge.c */
int rg_log_purge_start(BackendDB *be, rg_info *ri);
void rg_log_purge_stop(rg_info *ri);

/* rglog.c */
int rg_rglog_register(void);

/* opattrs.c */
struct rg_effects {
	enum rg_kind kind;
	const struct rg_evidence *ev;       /* NULL when none was used */
	struct berval *approver_ndn;        /* NULL when none */
	int review_required;
	int force_change;
	long long reset_count;              /* the new count */
	unsigned long long change_number;   /* its reset log record */
	struct berval *token;               /* rgUsedToken value to add, or NULL */
	BerVarray expired_tokens;           /* rgUsedToken values past their token's expiry */
};
int rg_is_maintained_attr(AttributeDescription *ad);
void rg_effects_to_mods(Operation *op, const struct rg_effects *fx, Modifications **tail);
void rg_effects_to_entry(Operation *op, const struct rg_effects *fx, Entry *e);

#endif
