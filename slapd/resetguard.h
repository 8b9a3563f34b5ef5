/* resetguard's slapd adapter: shared state between the overlay's files. */
#ifndef RESETGUARD_SLAPD_H
#define RESETGUARD_SLAPD_H

#include "portable.h"

#include <stdatomic.h>
#include "slap.h"

#include "decide.h"
#include "errbuf.h"
#include "evidence.h"
#include "policy.h"
#include "resetlog.h"
#include "seal.h"

#define RG_OID_BASE "2.25.30299494411348485370983023088693649332"
#define RG_PROOFING_CONTROL_OID RG_OID_BASE ".3.1"

/* hold.c: a write's answer held below syncprov until its transaction ends. */
struct rg_hold {
	slap_callback cb;
	int answered;
	int err;
	struct berval text;                 /* o_tmpalloc'd: the backend's text may be its own */
	LDAPControl **ctrls;                /* its response controls, a copy */
};
/* Marks a write (its first callback) as one to hold; next: the callbacks after it. */
struct rg_held {
	slap_callback cb;
	int reached;                        /* an overlay below syncprov holds it */
	slap_callback *above;               /* the callbacks of the overlays above */
	struct rg_hold hold;
};
/* op down the rest of the stack below on, its answer kept in h. */
void rg_hold_walk_below(Operation *op, slap_overinst *on, struct rg_hold *h);
void rg_hold_set_error(Operation *op, struct rg_hold *h, int err, const char *text);
/* Sends h's answer up through op's callbacks and retires op's CSN. */
void rg_hold_replay(Operation *op, SlapReply *rs, struct rg_hold *h);
void rg_held_init(struct rg_held *w, slap_callback *next);
int rg_held_below_syncprov(slap_overinfo *oi, const char *type);
/* The marker of a write to hold that overlay on may hold, or NULL. */
struct rg_held *rg_held_pending(Operation *op, slap_overinst *on);
int rg_held_below(Operation *op, SlapReply *rs, slap_overinst *on, struct rg_held *w);
/* After the transaction: the held answer (or, committed or not, failure) sent up. */
void rg_held_finish(Operation *op, struct rg_held *w, int committed);

/* groupcommit.c: writes that arrive together share one transaction and one commit. */
enum { RG_JOB_OK, RG_JOB_FAILED, RG_JOB_TAINTED };
struct rg_group_job {
	/* Makes the write on the job's own thread, with the transaction (oex, NULL when the
	 * write is alone) linked into its operation's o_extra only meanwhile. RG_JOB_FAILED:
	 * it failed and the backend wrote nothing; RG_JOB_TAINTED: the transaction must not
	 * commit. */
	int (*write)(Operation *op, struct rg_group_job *j);
	/* After the batch, written or not (a job can end before its turn): answers held for
	 * the commit go on, what the write allocated is freed. NULL: nothing to do. */
	void (*end)(Operation *op, struct rg_group_job *j, int committed);
	struct berval *dn;                  /* the entry it changes */
	int chained;                        /* a record of this server's chain */
	int may_retry;                      /* write again once if another's failure ended it */
	/* the group's */
	int state, result, committed;
	OpExtra *oex;
	ldap_pvt_thread_cond_t cond;
	struct rg_group_job *next;
};
struct rg_group {
	ldap_pvt_thread_mutex_t mutex;
	ldap_pvt_thread_cond_t lead_cond;   /* the leader waits for a job's turn to end */
	struct rg_group_job *head, **tail;
	int leading;                        /* a batch is being written */
	int broken;                         /* a record was lost: records fail until mended */
	atomic_ullong commits;              /* transactions committed (cn=Log Commits) */
};
/* A record numbered but not yet committed, which velocity limits count all the same. */
struct rg_inflight {
	const struct rg_log_record *record;
	struct rg_inflight *next;
};

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
	unsigned ri_log_chain;              /* the serverID whose chain ri_log_head is in */
	unsigned long long ri_log_head;
	char ri_log_head_hash[RG_LOG_HASH_HEX];
	struct rg_group ri_group;           /* the log's writes (groupcommit.c) */
	struct rg_inflight *ri_inflight;    /* under ri_log_mutex */
	int ri_log_purge_age;               /* seconds; 0: keep records for ever */
	int ri_log_purge_interval;
	struct re_s *ri_log_purge_task;
	int ri_rootdn_exempt;
	int ri_settled;                     /* no pending record of an earlier run is left */
	struct re_s *ri_settle_task;
	int ri_clock_skew;
	AttributeDescription **ri_recovery; /* recovery attributes, NULL-terminated, or NULL */
	struct rg_monitor *ri_monitor;      /* monitor.c: counters, cn=Monitor entries */
	struct rg_alerts *ri_alerts;        /* alerts.c: anomaly thresholds and windows */
} rg_info;

/* Attribute descriptions resolved from the loaded schema when a database opens. */
struct rg_ads {
	AttributeDescription *policy_subentry;
	AttributeDescription *last_time, *last_kind, *last_by, *last_ial, *last_method,
		*last_issuer, *last_approver, *reset_count, *review_required, *last_change;
	AttributeDescription *used_token;
	AttributeDescription *recovery_time;
	AttributeDescription *uid;
	AttributeDescription *log_number, *log_time, *log_target, *log_requester, *log_authenticated,
		*log_approver, *log_kind, *log_decision, *log_rule, *log_rule_text, *log_policy,
		*log_operation, *log_issuer, *log_level, *log_method, *log_jti, *log_reason,
		*log_review_required, *log_alert, *log_prev_hash, *log_hash, *log_outcome,
		*log_outcome_text, *log_reviewer, *log_review_time, *log_review_verdict,
		*log_target_status, *log_hook_status, *log_anchor_number, *log_anchor_hash,
		*log_sealed, *log_alert_reason, *log_alert_status;
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
/* Whether the log is a subtree of op's database (op->o_bd): atomic mode. */
int rg_log_in_governed_db(Operation *op, rg_info *ri);
void rg_log_unlock(rg_info *ri);
void rg_log_record_ndn(Operation *op, rg_info *ri, unsigned long long n, struct berval *ndn);
/* This server's chain: slapd's serverID (olcServerID), 0 when none is set. */
unsigned rg_log_own_chain(void);
/* The filter "(&(rgLogChangeNumber>=..)(rgLogChangeNumber<=..))" selecting the records of
 * chain, in buf (96 bytes are enough). */
void rg_log_chain_filter(unsigned chain, char *buf, size_t len);
/* What a record says beyond its hashed fields: its outcome (NULL: none, for a denial),
 * the outcome's text, and the sealed password (NULL: none). A pending record carries the
 * sealed password from the start, so that a change applied just before a crash still
 * reaches syncd once its record is settled. */
struct rg_log_state {
	const char *outcome;
	const char *outcome_text;
	struct berval *sealed;
};
int rg_log_append(Operation *op, rg_info *ri, struct rg_log_record *r,
	const struct rg_log_state *st, struct berval *ndn, char *err, size_t errlen);
/* The next record as an entry to add (r numbered, timed and chained after the head; timebuf
 * of 32 bytes holds its time, hash its hash); the head moves only by rg_log_advance, once
 * the entry is committed, or is found again after rg_log_lost. */
Entry *rg_log_entry(Operation *op, rg_info *ri, struct rg_log_record *r,
	const struct rg_log_state *st, char *timebuf, char *hash, char *err, size_t errlen);
void rg_log_advance(rg_info *ri, const struct rg_log_record *r, const char *hash);
void rg_log_lost(rg_info *ri);
/* Whether record number is an allowed change's, written but not yet committed; with the
 * log lock held. */
int rg_log_inflight(rg_info *ri, unsigned long long number);
/* The number of an allowed record in flight that used the token (iss, jti), or 0. */
unsigned long long rg_log_inflight_token(rg_info *ri, const char *iss, const char *jti);
/* r (an allowed change's record, numbered) is being written: f, the caller's, lists it until
 * removed; both with the log lock held. */
void rg_log_inflight_add(rg_info *ri, struct rg_inflight *f, const struct rg_log_record *r);
void rg_log_inflight_remove(rg_info *ri, struct rg_inflight *f);
/* The state attributes of a record entry made by rg_log_entry, changed to st's (the hash
 * does not cover them). */
void rg_log_entry_restate(Operation *op, Entry *e, const struct rg_log_state *st);
/* applied, or failed with text (the sealed password then goes). */
void rg_log_outcome(Operation *op, rg_info *ri, struct berval *ndn, int applied,
	const char *text);

/* logchain.c: multi-provider replication of the log. */
/* rglog hands over each record that arrives by replication: a token that this server's
 * chain used too is flagged for review with an alert. */
void rg_log_replicated(Operation *op, Entry *e);
int rg_log_chain_init(void);
void rg_log_chain_register(rg_info *ri);
void rg_log_chain_unregister(rg_info *ri);
/* atomic.c: one transaction for a change and its record, when the log is in its database. */
struct rg_atomic {
	int on;                             /* the log is in the governed database */
	Entry *entry;                       /* the record, numbered; the log lock is held */
	struct rg_log_record record;
	char time[32];
	char hash[RG_LOG_HASH_HEX];
};
/* Why atomic mode cannot govern the database of oi, or NULL. */
const char *rg_atomic_unfit(slap_overinfo *oi);
/* Makes the change (op, its effects on it already) and a->entry in one transaction, releases
 * the log lock, then answers; returns the answer's code. */
int rg_atomic_apply(Operation *op, SlapReply *rs, slap_overinst *on, rg_info *ri,
	struct rg_atomic *a);
/* Whether err is a refusal that back-mdb (or ppolicy below resetguard) gives before it writes
 * anything: the transaction the change shares with others stays good. */
int rg_atomic_wrote_nothing(int err);


/* groupcommit.c */
void rg_group_init(struct rg_group *g);
void rg_group_destroy(struct rg_group *g);
/* Queues j, lets go of release (if not NULL) once it is queued, and returns whether it
 * committed, once j->end has run. */
int rg_group_run(Operation *op, struct rg_group *g, BackendDB *be, struct rg_group_job *j,
	ldap_pvt_thread_mutex_t *release);
/* Writes to be can share a commit: back-mdb, and an rglog (or resetguard, for an Add)
 * below every syncprov to hold them. */
int rg_group_batchable(BackendDB *be);
int rg_group_broken(struct rg_group *g);
void rg_group_mend(struct rg_group *g);

/* replorder.c: a replicated Modify of an account, in atomic mode, applied in its turn among
 * the local changes unless the entry here is newer; SLAP_CB_CONTINUE when it is not for it
 * to order. */
int rg_repl_modify(Operation *op, SlapReply *rs, slap_overinst *on);

/* replresend.c: at db_open, with syncprov on the database, this server's changes newer than
 * its stored contextCSN (a crash) are made to reach consumers. */
void rg_repl_resend(BackendDB *be, slap_overinst *on);

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

/* activity.c: the target's recent activity for the policy's activity rules. */
struct rg_activity {
	long long *failed_binds;            /* op->o_tmpmemctx */
	size_t nfailed_binds;
	long long locked_time, last_reset_time, recovery_change_time;
};
void rg_activity_read(Operation *op, Entry *e, long long now, struct rg_activity *act);
void rg_activity_to_request(const struct rg_activity *act, struct rg_request *req);
void rg_activity_free(Operation *op, struct rg_activity *act);
/* A Modify or ModRDN (mods: its modlist) that changes a recovery attribute
 * (resetguard-recovery-attr) also sets rgRecoveryChangeTime. */
void rg_recovery_mark(Operation *op, Modifications **mods);
int rg_recovery_attr_add(rg_info *ri, const char *name, char *err, size_t errlen);
int rg_recovery_attr_emit(rg_info *ri, BerVarray *vals);
void rg_recovery_attr_delete(rg_info *ri, int idx);

/* possession.c: the connection's TLS client certificate, for tokens bound by cnf. */
struct rg_peer {
	int present;                        /* a client certificate was presented */
	int unknown;                        /* it could not be read */
	char x5t[RG_X5T_LEN + 1];
};
void rg_possession_read(Operation *op, struct rg_peer *peer);
void rg_possession_to_request(const struct rg_peer *peer, struct rg_request *req);

/* logpurge.c */
int rg_log_purge_start(BackendDB *be, rg_info *ri);
void rg_log_purge_stop(rg_info *ri);

/* rglog.c */
int rg_rglog_register(void);

/* monitor.c: counters kept by atomic additions, published under cn=Monitor when
 * back-monitor is configured. */
enum rg_alert {
	RG_ALERT_VOLUME,                    /* organisation-wide resets within a window */
	RG_ALERT_TARGET_DENIALS,            /* denied changes of one account within a window */
	RG_ALERT_REQUESTER_DENIALS,         /* denied changes by one requester within a window */
	RG_ALERT_COUNT
};
const char *rg_alert_name(enum rg_alert a);
void rg_monitor_init(rg_info *ri);
void rg_monitor_open(BackendDB *be, rg_info *ri);
void rg_monitor_close(rg_info *ri);
void rg_monitor_free(rg_info *ri);
void rg_monitor_judged(rg_info *ri, enum rg_kind kind, enum rg_rule rule, int allowed);
void rg_monitor_log_write(rg_info *ri, long long usec);
void rg_monitor_alert(rg_info *ri, enum rg_alert a);

/* alerts.c: anomalies over sliding windows. With the log lock held, before the record is
 * appended: flags dec (alert, review) and writes why into reason (empty: no alert). */
void rg_alerts_init(rg_info *ri);
void rg_alerts_free(rg_info *ri);
void rg_alerts_check(Operation *op, rg_info *ri, const struct rg_request *req,
	struct rg_decision *dec, char *reason, size_t len);
/* The resetguard-alert-* directives (config.c's table hands them over). */
struct config_args_s;
int rg_alerts_config(struct config_args_s *c, rg_info *ri, enum rg_alert a);

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
