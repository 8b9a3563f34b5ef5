/* The engine's own structures, shared by its three files: engine.c (record state, retries,
 * supersession), worker.c (the worker threads and their queues) and records.c (reading and
 * writing log records in the directory). Nothing outside the engine includes this. */
#ifndef RG_ENGINE_PRIVATE_H
#define RG_ENGINE_PRIVATE_H

#include <pthread.h>

#include "engine.h"

#define RECENT 4096

#define NBUCKETS 11
extern const double engine_bucket_bounds[NBUCKETS];   /* delivery latency histogram, seconds */

enum phase { PH_DELIVER, PH_HOOKS, PH_DONE };

/* What a job came to, whether a target's delivery_result or a hook's hook_result: the
 * worker translates each, so the two interfaces' enums never stand in for each other. */
enum outcome { OUTCOME_DONE, OUTCOME_RETRY, OUTCOME_FAIL };

struct tstate {
	enum tstatus st;
	int attempts;
	int queued;                 /* a job sits in the worker's queue or runs */
	char time[32];
	char *error;
	struct event *timer;
	struct rec *rec;
	size_t index;
};

struct rec {
	struct log_record r;
	char *rdn_value;
	double epoch;
	enum phase phase;
	int sealed_removed;
	int dirty;                  /* its status changed since it was last written */
	int cleared;                /* the directory said nothing forbids delivering it */
	int checks;                 /* times the directory could not tell */
	struct event *check_timer;  /* asks again after such a time */
	struct tstate *ts;
	struct tstate *hs;
	struct engine *e;
	struct rec *next;
};

struct job {
	struct tstate *state;       /* owned by the event loop: workers never touch it */
	int is_hook;
	unsigned long long number;
	char *account, *rdn_value, *kind, *requester, *time;
	long long epoch;
	unsigned char *sealed;
	size_t sealed_len;
	enum outcome outcome;
	char err[SYNCD_ERR];
	struct job *next;
};

struct worker {
	struct engine *e;
	struct target *target;      /* NULL: the hooks' worker */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	int stop;
	long long attempts, failures, delivered;
	long long buckets[NBUCKETS];
	double latency_sum;
	long long latency_count;
};

struct engine {
	struct event_base *base;
	struct syncd_config *cfg;
	EVP_PKEY *key;
	X509 *cert;
	LDAP *ld;
	struct worker *workers;     /* one per target, then one for the hooks */
	size_t nworkers;
	struct rec *recs;
	unsigned long long recent[RECENT];
	size_t recent_next;
	pthread_mutex_t done_mu;
	struct job *done;
	struct event *done_ev;
	struct event *flush_ev;
	struct event *rewrite_ev;   /* writes statuses again after a failed write */
	int rewrite_delay;          /* seconds, doubling up to retry-max */
	struct event *lost_ev;      /* tells the follower, outside any of its calls */
	void (*lost)(void *);
	void *lost_arg;
	int recheck;                /* a new connection: ask about waiting records again */
	int draining;
	void (*drain_cb)(void *);
	void *drain_arg;
	long long records_total;
	char *health;               /* why the log is not followed; NULL when it is */
};

/* worker.c: every function but worker_main runs in the event loop. */
void *worker_main(void *arg);
struct worker *worker_of(struct engine *e, struct tstate *s, int is_hook);
void worker_enqueue(struct engine *e, struct tstate *s, int is_hook);
int worker_dequeue(struct engine *e, struct tstate *s, int is_hook);
void worker_job_free(struct job *j);

/* records.c */
void records_now_gentime(char buf[32]);
/* An LDAP result code: a status is final only once written (LDAP_SUCCESS). */
int records_write_status(struct engine *e, struct rec *rc);
int records_newer_change_exists(struct engine *e, const struct log_record *r, char *err,
	size_t errlen);
int records_rdn_unique(struct engine *e, const char *account, char *err, size_t errlen);
int records_copy(struct log_record *dst, const struct log_record *src);
char *records_first_rdn_value(const char *dn);

#endif
