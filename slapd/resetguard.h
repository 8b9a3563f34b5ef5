/* resetguard's slapd adapter: shared state between the overlay's files. */
#ifndef RESETGUARD_SLAPD_H
#define RESETGUARD_SLAPD_H

#include "portable.h"
#include "slap.h"

#include "decide.h"
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
	int ri_clock_skew;
} rg_info;

/* Attribute descriptions resolved from the loaded schema when a database opens. */
struct rg_ads {
	AttributeDescription *policy_subentry;
	AttributeDescription *last_time, *last_kind, *last_by, *last_ial, *last_method,
		*last_issuer, *last_approver, *reset_count, *review_required;
	AttributeDescription *used_token;
	AttributeDescription *uid;
	AttributeDescription *log_number, *log_time, *log_target, *log_requester,
		*log_approver, *log_kind, *log_decision, *log_rule, *log_rule_text, *log_policy,
		*log_operation, *log_issuer, *log_level, *log_method, *log_jti, *log_reason,
		*log_review_required, *log_alert, *log_prev_hash, *log_hash, *log_outcome,
		*log_outcome_text, *log_reviewer, *log_review_time, *log_review_verdict,
		*log_target_status, *log_hook_status, *log_anchor_number, *log_anchor_hash,
		*log_sealed;
	ObjectClass *oc_log_record, *oc_log_root;
	AttributeDescription *pwd_reset;    /* ppolicy's pwdReset, NULL without ppolicy */
};
extern struct rg_ads rg_ad;

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
int rg_is_member_of_any(Operation *op, const struct rg_strlist *groups, struct berval *ndn);

/* judge.c: everything gathered about one change, freed by rg_change_free. */
struct rg_change {
	int is_add;
	int exempt;                         /* rootdn with resetguard-rootdn exempt */
	const char *operation;              /* passwordModify, modify, add */
	int old_given;                      /* the old password was shown and checked */
	BerVarray old_values;               /* a Modify's deleted password values */
	int no_target;                      /* no such entry: nothing to judge */
	struct rg_policy policy;
	int have_policy;
	char policy_err[256];
	struct rg_evidence ev;
	char ev_err[256];
	struct berval ev_sub_ndn;
	struct berval ev_approver_ndn;
	struct berval target_uid;
	long long reset_count;
	struct rg_request req;
	struct rg_decision dec;
	BerVarray used_tokens;              /* the target's rgUsedToken values */
	struct berval token;                /* the rgUsedToken value this change adds */
	BerVarray expired_tokens;           /* used_tokens past expiry (shared values) */
	struct berval record_ndn;           /* its reset log record */
};
void rg_change_decide(Operation *op, slap_overinst *on, struct rg_change *ch);
int rg_change_log(Operation *op, rg_info *ri, struct rg_change *ch, char *err, size_t errlen);
void rg_change_free(Operation *op, struct rg_change *ch);

/* logwrite.c */
void rg_log_record_ndn(Operation *op, rg_info *ri, unsigned long long n, struct berval *ndn);
int rg_log_append(Operation *op, rg_info *ri, struct rg_log_record *r, int pending,
	struct berval *ndn, char *err, size_t errlen);
void rg_log_outcome(Operation *op, rg_info *ri, struct berval *ndn, int applied,
	const char *text, struct berval *sealed);
long long rg_log_count(Operation *op, rg_info *ri, const struct rg_velocity_limit *v,
	struct berval *who_ndn, long long since);

/* logpurge.c */
int rg_log_purge_start(BackendDB *be, rg_info *ri);
void rg_log_purge_stop(rg_info *ri);

/* logguard.c */
int rg_logguard_register(void);

/* opattrs.c */
struct rg_effects {
	enum rg_kind kind;
	const struct rg_evidence *ev;       /* NULL when none was used */
	struct berval *approver_ndn;        /* NULL when none */
	int review_required;
	int force_change;
	long long reset_count;              /* the new count */
	struct berval *token;               /* rgUsedToken value to add, or NULL */
	BerVarray expired_tokens;           /* rgUsedToken values past their token's expiry */
};
int rg_is_maintained_attr(AttributeDescription *ad);
void rg_effects_to_mods(Operation *op, const struct rg_effects *fx, Modifications **tail);
void rg_effects_to_entry(Operation *op, const struct rg_effects *fx, Entry *e);

#endif
