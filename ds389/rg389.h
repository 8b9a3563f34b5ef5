/* resetguard's 389 Directory Server adapter: state shared between the plugin's files. The
 * decisions, the evidence, the record's canonical form and the sealing are the core's
 * (lib/); these files only gather facts from 389-DS and apply what the core decides. */
#ifndef RG389_H
#define RG389_H

#include <slapi-plugin.h>
#include <openssl/x509.h>

#include "decide.h"
#include "errbuf.h"
#include "evidence.h"
#include "policy.h"
#include "resetlog.h"
#include "seal.h"

#define RG_OID_BASE "2.25.30299494411348485370983023088693649332"
#define RG_PROOFING_CONTROL_OID RG_OID_BASE ".3.1"
#define RG_PASSWD_MODIFY_OID "1.3.6.1.4.1.4203.1.11.1"
#define RG389_NAME "resetguard"

/* The plugin entry's settings (cn=config), as the server loaded them at start. */
struct rg389_config {
	char *default_policy;               /* normalized DN, or NULL */
	struct rg_issuers issuers;
	X509 *seal_cert;                    /* syncd's certificate; NULL: nothing is sealed */
	char *log_base;                     /* normalized DN of the reset log suffix */
	int rootdn_exempt;
	int clock_skew;
};

struct rg389 {
	void *id;                           /* the plugin identity, for internal operations */
	struct rg389_config cfg;
	Slapi_Mutex *log_lock;              /* numbering, time and chain order */
	int head_known;
	unsigned long long head;
	char head_hash[RG_LOG_HASH_HEX];
};
extern struct rg389 rg389;

/* config.c */
/* Reads and checks the plugin entry; on error err names the attribute and what is wrong. */
int rg389_config_read(Slapi_Entry *e, struct rg389_config *c, char *err, size_t errlen);
void rg389_config_free(struct rg389_config *c);
/* Refuses a change of the plugin entry whose result would not load. */
int rg389_config_guard_register(const char *plugin_dn);
void rg389_config_guard_unregister(const char *plugin_dn);

/* values.c */
int rg389_has_value(const Slapi_Entry *e, const char *attr, const char *value);
char *rg389_ndn(const char *dn);

/* thread.c: what one worker thread carries between the hooks of one client operation. A
 * Password Modify request becomes an internal Modify on the same thread; a denial decided
 * inside the backend transaction is recorded after that transaction ends. */
struct rg389_thread {
	int exop;                           /* inside a Password Modify extended operation */
	int exop_old_given;
	struct berval exop_new;             /* its new password (cleartext, cleansed at end) */
	int denied;                         /* a denial waits for its record and its text */
	struct rg_log_record denial;        /* its strings are copies, owned here */
	char **denial_methods;
	int denial_code;
	char *denial_text;                  /* what the client is told */
	int holding_log;                    /* the log lock is held to the transaction's end */
	void *held_op;                      /* by this operation (Slapi_Operation) */
	unsigned long long held_number;
	char held_hash[RG_LOG_HASH_HEX];
	int writing;                        /* the plugin's own write of the reset log */
	int resending;                      /* the plugin's own Password Modify response */
};
struct rg389_thread *rg389_thread(void);
void rg389_thread_clear_exop(struct rg389_thread *t);

/* denial.c: a denial decided in the transaction is recorded once the transaction ended. */
void rg389_denial_stash(const struct rg_log_record *r, int code, const char *text);
void rg389_denial_record(void);
void rg389_denial_clear(void);
/* A refusal with no record (a malformed request): only its text is kept for the response. */
void rg389_denial_text(int code, const char *text);

/* judge.c: one password change, as the backend transaction's pre-operation hook saw it. */
struct rg389_attempt {
	const char *operation;              /* passwordModify, modify, add, modrdn */
	int is_add;
	int old_given;                      /* Password Modify: the server checked oldPasswd */
	Slapi_Value **old_values;           /* a Modify's deleted values (cleartext) */
	int n_old_values;
	int password_in_rdn;
	const struct berval *secret;        /* the new cleartext, NULL when there is none */
};
/* 0: go on with the change (its effects added to it); -1: refused, result set in pb. */
int rg389_judge(Slapi_PBlock *pb, const struct rg389_attempt *at);

/* hooks.c: the transaction hooks, registered by plugin.c. */
int rg389_betxn_modify(Slapi_PBlock *pb);
int rg389_betxn_add(Slapi_PBlock *pb);
int rg389_betxn_modrdn(Slapi_PBlock *pb);
int rg389_betxn_delete(Slapi_PBlock *pb);

/* refuse.c */
int rg389_refuse(Slapi_PBlock *pb, int code, const char *text);

/* after.c: the hooks around the backend: pre-extop, end of transaction, pre-result,
 * post-operation. */
int rg389_pre_extop(Slapi_PBlock *pb);
int rg389_betxn_end(Slapi_PBlock *pb);
int rg389_pre_result(Slapi_PBlock *pb);
int rg389_post_op(Slapi_PBlock *pb);

/* guard.c: the reset log is append-only, for the Directory Manager too. */
int rg389_in_log(const char *ndn);
int rg389_guard(Slapi_PBlock *pb, int optype);

/* policyload.c */
int rg389_policy_load(const char *policy_ndn, struct rg_policy *policy, char *err,
	size_t errlen);
enum rg_group_fact rg389_group_member(const struct rg_strlist *groups, const char *ndn);

/* logwrite.c */
void rg389_log_lock(void);
void rg389_log_unlock(void);
/* Appends r (numbered, timed and chained here) with the log lock held. In a backend
 * transaction (in_txn) the record commits with it, and the head moves only when
 * rg389_log_settled says it committed; otherwise it moves at once. */
int rg389_log_append(struct rg_log_record *r, const struct berval *sealed, int in_txn,
	char hash[RG_LOG_HASH_HEX], char *err, size_t errlen);
void rg389_log_settled(unsigned long long number, const char *hash);

/* logquery.c */
long long rg389_log_count(const struct rg_velocity_limit *v, const char *who_ndn,
	long long since);
struct rg389_history {
	int known;                          /* the log has a record proving the account existed */
	long long applied;
	int unreviewed;
	int token_used;
};
int rg389_log_history(const char *target_ndn, const struct rg_evidence *ev,
	struct rg389_history *h);
/* A one-level search of the log base; each entry goes to cb. */
int rg389_log_search(const char *filter, char **attrs, plugin_search_entry_callback cb,
	void *arg);

/* effects.c */
struct rg389_effects {
	enum rg_kind kind;
	const struct rg_evidence *ev;
	const char *by_ndn;
	const char *approver_ndn;
	int review_required;
	long long reset_count;
	unsigned long long change_number;
	const char *token;                  /* rgUsedToken value to add, or NULL */
	char **expired_tokens;              /* rgUsedToken values to remove */
};
int rg389_is_maintained_attr(const char *type);
int rg389_entry_has_maintained(const Slapi_Entry *e);
void rg389_effects_to_mods(Slapi_Mods *smods, const struct rg389_effects *fx);
void rg389_effects_to_entry(Slapi_Entry *e, const struct rg389_effects *fx);

#endif
