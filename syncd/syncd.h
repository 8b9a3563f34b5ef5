/* resetguard-syncd: follows the reset log, delivers each applied new password to the
 * legacy stores (targets), then fires the revocation hooks, and records every outcome on
 * the log record. The daemon knows targets and hooks only through their operations
 * (target.h, hook.h); each kind lives in its own file. */
#ifndef RG_SYNCD_H
#define RG_SYNCD_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define SYNCD_ERR 256

/* A key/value line of a target or hook block, as written in the config file. */
struct conf_kv {
	char *key;
	char *value;
	const char *file;
	int line;
};

struct target;
struct hook;

struct syncd_config {
	const char *file;                 /* for messages */
	char *log_uri;                    /* the directory holding the reset log */
	char *log_base;                   /* default cn=resetlog */
	char *bind_dn;
	char *bind_password_file;
	int sasl_external;
	int starttls;                     /* StartTLS required before binding */
	char *tls_ca_file;
	char *key_file;                   /* syncd's private key: unseals passwords */
	char *cert_file;                  /* syncd's certificate */
	char *state_file;                 /* obsolete: no cursor is kept any more */
	char *metrics_listen;             /* host:port on loopback, or NULL */
	char *log_mode;                   /* "syslog" or "json" */
	char *user;                       /* drop privileges to this user */
	int max_attempts;                 /* per target per record, then failed */
	int retry_base;                   /* seconds: base of exponential backoff */
	int retry_max;                    /* seconds: cap of the backoff */
	int op_timeout;                   /* seconds for directory operations */
	char *instance;                   /* this instance's id in its claims */
	int claim_lease;                  /* seconds a claim on a record lasts unrenewed */
	int single_instance;              /* the only syncd on the log: it claims nothing */
	struct target **targets;
	size_t ntargets;
	struct hook **hooks;
	size_t nhooks;
	char *alert_hooks_names;          /* alert-hooks as written; moved below at load */
	struct hook **alert_hooks;        /* hooks that take alert events, and only those */
	size_t nalert_hooks;
};

/* Parses path strictly: an unknown key, a bad value, a missing required key, a duplicate
 * name — each is an error naming file and line. On error *cfg is left empty. */
int config_load(const char *path, struct syncd_config *cfg, char *err, size_t errlen);
void config_free(struct syncd_config *cfg);

/* Logging: syslog or JSON lines on standard error. Never pass a password. */
void log_init(const char *mode, int foreground_debug);
void log_msg(int prio, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
