/* A hook tells downstream systems that a credential changed, so they revoke sessions,
 * refresh tokens, API keys and recovery codes. Each kind exports one const struct
 * hook_ops; fire() runs in a worker thread and may block with its own timeouts. */
#ifndef RG_HOOK_H
#define RG_HOOK_H

#include "syncd.h"

enum hook_result {
	HOOK_DONE,
	HOOK_RETRY,
	HOOK_FAIL,
};

/* What happened, with no secret in it. */
struct hook_event {
	unsigned long long number;         /* change number */
	const char *account;               /* DN in the main directory */
	const char *rdn_value;             /* e.g. uid */
	const char *kind;                  /* self-service, delegated, ... */
	const char *requester;             /* DN */
	const char *time;                  /* generalizedTime of the change */
	long long epoch;                   /* the same, seconds since 1970 */
	/* The values of the attribute the kind names with account_attr, as the main
	 * directory holds them when the hook runs (NULL-terminated, maybe empty); NULL when
	 * the kind names none. */
	char *const *account_values;
	/* NULL for a password change; "alert" for a record the overlay flagged (alerts.c),
	 * which then also carries its decision, rule and the alerts' reason. */
	const char *event;
	const char *decision, *rule, *alert_reason;
};

struct hook_ops {
	const char *kind;
	int (*configure)(struct hook *h, const struct conf_kv *kv, size_t n, char *err,
		size_t errlen);
	enum hook_result (*fire)(struct hook *h, const struct hook_event *ev, char *err,
		size_t errlen);
	void (*free)(struct hook *h);
	/* Optional: an attribute of the account that the worker reads from the main
	 * directory before each run, for fire() to find in ev->account_values. */
	const char *(*account_attr)(const struct hook *h);
};

struct hook {
	char *name;
	const struct hook_ops *ops;
	const char *file;
	int line;
	void *priv;
};

extern const struct hook_ops hook_caep_ops;
extern const struct hook_ops hook_webhook_ops;
extern const struct hook_ops hook_exec_ops;
extern const struct hook_ops hook_notify_ops;

#endif
