/* The delivery engine: records in flight, one worker thread per target (and one for the
 * hooks), retries, supersession, and the status written back onto each record. Everything
 * but deliver()/fire() runs in the libevent thread. */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include <event2/event.h>
#include <ldap.h>

#include "hook.h"
#include "target.h"

struct engine;

/* A record as read from the log: what the engine needs to act on it. */
struct log_record {
	unsigned long long number;
	char *dn;
	char *account;
	char *kind;
	char *requester;
	char *time;
	unsigned char *sealed;
	size_t sealed_len;
	char **target_status;   /* rgLogTargetStatus values, NULL-terminated, or NULL */
	char **hook_status;
};

/* password: bind-dn's, for the directory thread's connection (copied). */
struct engine *engine_new(struct event_base *base, struct syncd_config *cfg, EVP_PKEY *key,
	X509 *cert, const char *password, char *err, size_t errlen);
/* The directory thread through which status writes and checks go, and the follower makes
 * its connections. */
struct directory *engine_directory(struct engine *e);
/* Whether the directory thread holds a working connection, as the follower last made it;
 * lost(arg) is called, from the event loop, when a request finds it broken: the follower
 * connects again and says so here. */
void engine_set_connected(struct engine *e, int connected, void (*lost)(void *), void *arg);
int engine_connected(struct engine *e);
/* Takes a record seen in the log. Records already known are ignored. */
void engine_submit(struct engine *e, const struct log_record *r);
/* Stops taking work; calls done(arg) once in-flight deliveries have finished. */
void engine_drain(struct engine *e, void (*done)(void *), void *arg);
void engine_free(struct engine *e);
/* records.c */
void records_free(struct log_record *r);
/* The record an entry holds; 0 when it has all the engine needs. Any thread. */
int records_from_entry(LDAP *ld, LDAPMessage *entry, struct log_record *r);

/* For metrics.c */
/* For metrics.c: the targets, then the hooks (no latency histogram). */
struct engine_stats {
	const char *name;
	int is_hook;
	long long backlog;
	long long attempts;
	long long failures;
	long long delivered;
	const double *bucket_bounds;            /* seconds, ascending */
	const long long *bucket_counts;  /* cumulative per bound */
	size_t nbuckets;
	double latency_sum;
	long long latency_count;
};
size_t engine_stats(struct engine *e, struct engine_stats *out, size_t max);
long long engine_records_total(struct engine *e);
/* This instance's claims on log records (several instances on one log). */
struct engine_claims {
	long long held;          /* records delivered under its claim now */
	long long waiting;       /* records being claimed, or held by another instance */
	long long taken_over;    /* claims of others taken over after they ran out */
	long long lost;          /* claims another instance took from this one */
};
void engine_claims(struct engine *e, struct engine_claims *out);
/* /health: NULL while the log is followed, else why not (a copy is kept). */
void engine_set_health(struct engine *e, const char *problem);
const char *engine_health(struct engine *e);

/* status.c: rgLogTargetStatus / rgLogHookStatus values */
enum tstatus { TS_PENDING, TS_RETRYING, TS_DELIVERED, TS_SUPERSEDED, TS_FAILED };
const char *status_name(enum tstatus s);
int status_final(enum tstatus s);
/* "NAME STATUS attempts=N time=T[ error=TEXT]"; *out malloc'd. */
char *status_format(const char *name, enum tstatus s, int attempts, const char *time,
	const char *error);
/* Finds NAME's value among vals; 0 and fills s/attempts when present. */
int status_parse(char *const *vals, const char *name, enum tstatus *s, int *attempts);

/* follow.c */
struct follower;
struct follower *follow_start(struct event_base *base, struct syncd_config *cfg,
	struct engine *e, char *err, size_t errlen);
void follow_stop(struct follower *f);

/* metrics.c */
struct metrics;
struct metrics *metrics_start(struct event_base *base, const char *listen, struct engine *e,
	char *err, size_t errlen);
void metrics_stop(struct metrics *m);
/* The alert thread's figures join the metrics (a may be NULL; m may be NULL). */
struct alerts;
void metrics_set_alerts(struct metrics *m, struct alerts *a);

#endif
