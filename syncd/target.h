/* A target is a legacy store that keeps its own copy of passwords. Each kind exports one
 * const struct target_ops; deliver() runs in the target's own worker thread and may block
 * (with its own timeouts), so a slow or dead target never stalls the others. */
#ifndef RG_TARGET_H
#define RG_TARGET_H

#include "syncd.h"

enum delivery_result {
	DELIVERY_DONE,        /* the store has the new password */
	DELIVERY_RETRY,       /* transient: connection refused, timeout, busy */
	DELIVERY_FAIL,        /* permanent: no such account, refused by policy, bad mapping */
};

/* One password to deliver. account is the DN in the main directory; rdn_value the value of
 * its first RDN (e.g. the uid), used by account mappings only once the engine has made
 * sure no other entry of the main directory has it (see maps_by_rdn). */
struct delivery {
	unsigned long long number;         /* change number of the log record */
	const char *account;
	const char *rdn_value;
	const unsigned char *password;     /* cleartext, cleansed by the caller after the call */
	size_t password_len;
};

struct target_ops {
	const char *kind;
	/* Creates the kind's private state from the block's lines (type and name excluded);
	 * an unknown key or a bad value is an error naming kv->file:kv->line. */
	int (*configure)(struct target *t, const struct conf_kv *kv, size_t n, char *err,
		size_t errlen);
	enum delivery_result (*deliver)(struct target *t, const struct delivery *d, char *err,
		size_t errlen);
	/* Drops connections (on reload, shutdown, or after an error). */
	void (*disconnect)(struct target *t);
	void (*free)(struct target *t);
};

struct target {
	char *name;
	const struct target_ops *ops;
	const char *file;                  /* where the block starts, for messages */
	int line;
	void *priv;                        /* the kind's own state */
	int maps_by_rdn;                   /* set by configure(): the kind finds the account
					    * in its store by rdn_value */
	struct target_worker *worker;      /* engine's */
};

extern const struct target_ops target_ldap_ops;
extern const struct target_ops target_ad_ops;
extern const struct target_ops target_exec_ops;

#endif
