/* resetguard's slapd adapter: shared state between the overlay's files. */
#ifndef RESETGUARD_SLAPD_H
#define RESETGUARD_SLAPD_H

#include "portable.h"
#include "slap.h"

#include "decide.h"
#include "evidence.h"
#include "policy.h"

#define RG_OID_BASE "2.25.30299494411348485370983023088693649332"
#define RG_PROOFING_CONTROL_OID RG_OID_BASE ".3.1"

typedef struct rg_info {
	struct berval ri_default_policy;    /* normalized DN, or empty */
	struct berval ri_nonce_base;        /* DN as configured */
	struct berval ri_nonce_nbase;       /* normalized */
	struct rg_issuers ri_issuers;
	BerVarray ri_issuer_cfg;            /* "NAME FILE" values, for cn=config */
	int ri_rootdn_exempt;
	int ri_clock_skew;
	int ri_purge_interval;
	struct re_s *ri_purge_task;
} rg_info;

/* Attribute descriptions resolved from the loaded schema when a database opens. */
struct rg_ads {
	AttributeDescription *policy_subentry;
	AttributeDescription *last_time, *last_kind, *last_by, *last_ial, *last_method,
		*last_issuer, *last_approver, *reset_count, *review_required;
	AttributeDescription *nonce_id, *nonce_expires, *nonce_target;
	AttributeDescription *uid;
	AttributeDescription *pwd_reset;    /* ppolicy's pwdReset, NULL without ppolicy */
	ObjectClass *oc_nonce;
};
extern struct rg_ads rg_ad;

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

/* nonce.c */
enum rg_nonce_result { RG_NONCE_RESERVED, RG_NONCE_REPLAYED, RG_NONCE_ERROR };
enum rg_nonce_result rg_nonce_reserve(Operation *op, rg_info *ri,
	const struct rg_evidence *ev, struct berval *target_ndn, struct berval *nonce_ndn,
	char *err, size_t errlen);
void rg_nonce_release(Operation *op, rg_info *ri, struct berval *nonce_ndn);
int rg_nonce_purge_start(BackendDB *be, rg_info *ri);
void rg_nonce_purge_stop(rg_info *ri);

/* opattrs.c */
struct rg_effects {
	enum rg_kind kind;
	const struct rg_evidence *ev;       /* NULL when none was used */
	struct berval *approver_ndn;        /* NULL when none */
	int review_required;
	int force_change;
	long long reset_count;              /* the new count */
};
int rg_is_maintained_attr(AttributeDescription *ad);
void rg_effects_to_mods(Operation *op, const struct rg_effects *fx, Modifications **tail);
void rg_effects_to_entry(Operation *op, const struct rg_effects *fx, Entry *e);

#endif
