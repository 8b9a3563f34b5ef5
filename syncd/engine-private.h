/* The engine's own structures, shared by its files: engine.c (record state, retries,
 * supersession), worker.c (the worker threads and their queues), records.c (reading and
 * writing log records in the directory) and claim.c (the claims that let several instances
 * share one log). Nothing outside the engine includes this. */
#ifndef RG_ENGINE_PRIVATE_H
#define RG_ENGINE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "claimdir.h"
#include "directory.h"
#include "engine.h"

#define RECENT 4096
#define SETTLE_MS 500   /* a status that is not final waits this long to be written */

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
	unsigned gen;               /* counts those changes: a write is of one of them */
	int writing;                /* a status write is with the directory thread */
	int checking;               /* a delivery check is with the directory thread */
	int cleared;                /* the directory said nothing forbids delivering it */
	int checks;                 /* times the directory could not tell */
	struct event *check_timer;  /* asks again after such a time */
	char claim[CLAIM_MAX];      /* this instance's claim on it as the directory holds it:
				     * set before the record is taken, then read and changed by
				     * the directory thread only (the writes assert it) */
	atomic_llong claim_until;   /* when that claim runs out (epoch seconds): workers start
				     * no delivery on a claim about to run out */
	int renewing;               /* a renewal of the claim is with the directory thread */
	int lost;                   /* another instance took it: it goes, nothing written */
	int released;               /* its claim went with its final status */
	struct tstate *ts;
	struct tstate *hs;
	struct engine *e;
	struct rec *next, **pprev;  /* in e->recs */
};

/* A request to the directory thread about one record: records.c builds it (in the event
 * loop) and runs it (in the thread); engine.c takes its result. */
struct rec_req {
	struct dir_req req;         /* first: the directory hands this back */
	struct engine *e;
	struct rec *rc;
	int write;                  /* a status write; else a delivery check */
	/* the write: the record's status as it was when asked */
	char *dn;
	char **tvals, **hvals;      /* NULL: not written */
	int del_sealed;
	int release;                /* the claim goes with this write */
	unsigned gen;
	/* the check */
	char *account;
	unsigned long long number;
	char *time;                 /* the record's rgLogTime, NULL if it had none */
	int need_rdn;
	unsigned long long *own;    /* the account's older records this process holds */
	size_t nown;
	/* the result */
	int ldap_rc;
	int newer, unique;          /* 1 yes, 0 no, -1 the directory could not tell */
	int blocked;                /* another instance's live claim on an older change */
	int lost;                   /* the connection was found broken */
	char why[SYNCD_ERR];
};

struct job {
	struct tstate *state;       /* owned by the event loop: workers never touch it */
	int is_hook;
	unsigned long long number;
	char *account, *rdn_value, *kind, *requester, *time;
	long long epoch;
	const atomic_llong *claim_until;   /* the record's: read when the job starts */
	unsigned char *sealed;
	size_t sealed_len;
	enum outcome outcome;
	char err[SYNCD_ERR];
	struct job *next;
};

struct worker {
	struct engine *e;
	struct target *target;      /* the worker's target, or */
	struct hook *hook;          /* its hook */
	LDAP *ld;                   /* a hook's own connection to the main directory, made
				     * when it needs an attribute of the account */
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
	struct directory *dir;      /* every LDAP call on the log's server goes through it */
	int connected;              /* the follower has a working connection */
	size_t requests;            /* the engine's own with the directory, not yet done */
	struct worker *workers;     /* one per target, then one per hook */
	size_t nworkers;
	struct rec *recs;
	unsigned long long recent[RECENT];
	size_t recent_next;
	pthread_mutex_t done_mu;
	struct job *done;
	struct event *done_ev;
	struct event *flush_ev;     /* writes statuses now */
	struct event *settle_ev;    /* writes statuses on the way, SETTLE_MS after a change */
	struct event *rewrite_ev;   /* writes statuses again after a failed write */
	int rewrite_delay;          /* seconds, doubling up to retry-max */
	struct event *lost_ev;      /* tells the follower, outside any of its calls */
	void (*lost)(void *);
	void *lost_arg;
	int recheck;                /* a new connection: ask about waiting records again */
	int draining;
	int drain_flushed;          /* the last statuses were asked to be written */
	void (*drain_cb)(void *);
	void *drain_arg;
	long long records_total;
	struct watch *watches;      /* records claimed now, or held by another instance */
	struct event *renew_ev;     /* renews this instance's claims, every third of a lease */
	/* claim.c hands engine.c a record it claimed, or one it lost, and its own requests'
	 * end, through these */
	void (*take)(struct engine *e, const struct log_record *r, const char *claim,
		time_t until);   /* engine_take */
	void (*lose)(struct engine *e, struct rec *rc);   /* engine_lose */
	void (*check_drained)(struct engine *e);          /* engine_check_drained */
	void (*renewed)(struct engine *e, struct rec *rc); /* engine_renewed */
	long long claims_taken_over, claims_lost;
	char *health;               /* why the log is not followed; NULL when it is */
};

/* engine.c: for engine-setup.c, which starts and stops what these serve */
void engine_done_cb(evutil_socket_t fd, short what, void *arg);  /* results of the workers */
void engine_flush_cb(evutil_socket_t fd, short what, void *arg); /* status writes */
void engine_lost_cb(evutil_socket_t fd, short what, void *arg);  /* the connection broke */
/* Calls the drain callback once nothing is left in flight. */
void engine_check_drained(struct engine *e);
void engine_rec_free(struct rec *rc, size_t nt, size_t nh);
/* What claim.c calls through e->take and e->lose (a pointer, not a call: claim.c is below
 * engine.c). */
void engine_take(struct engine *e, const struct log_record *r, const char *claim,
	time_t until);
void engine_lose(struct engine *e, struct rec *rc);
void engine_renewed(struct engine *e, struct rec *rc);

/* worker.c: every function but worker_main runs in the event loop. */
void *worker_main(void *arg);
struct worker *worker_of(struct engine *e, struct tstate *s, int is_hook);
/* -1 when out of memory: nothing was queued. */
int worker_enqueue(struct engine *e, struct tstate *s, int is_hook);
int worker_dequeue(struct engine *e, struct tstate *s, int is_hook);
void worker_job_free(struct job *j);

/* claim.c: a record is delivered only under this instance's claim on it. */
/* Claims r, then hands it to e->take; or, when another instance holds it, waits for that
 * claim to run out, and tries again. */
void claim_submit(struct engine *e, const struct log_record *r);
/* Whether the record numbered n is being claimed or waits for another's claim. */
int claim_known(struct engine *e, unsigned long long n);
/* Tries to claim it again after delay seconds (a claim lost, a take refused). */
void claim_watch(struct engine *e, unsigned long long number, const char *dn, double delay);
void claim_renew_cb(evutil_socket_t fd, short what, void *arg);  /* every lease/3 */
void claim_free_all(struct engine *e);
size_t claim_waiting(struct engine *e);

/* records.c */
void records_now_gentime(char buf[32]);
/* A write of rc's status as it is now (NULL when out of memory); done takes its result. */
struct rec_req *records_write_req(struct engine *e, struct rec *rc,
	void (*done)(struct dir_req *, int));
/* The checks before rc's password goes anywhere: a newer change, and with need_rdn the
 * uniqueness of the account's RDN value. */
struct rec_req *records_check_req(struct engine *e, struct rec *rc, int need_rdn,
	void (*done)(struct dir_req *, int));
void records_req_free(struct rec_req *q);
/* Blocking, for the directory thread: 1 yes, 0 no, -1 cannot tell (err says why). */
int records_newer_change_exists(LDAP *ld, const struct syncd_config *cfg, const char *account,
	unsigned long long number, const char *time, char *err, size_t errlen);
/* Whether record (nb, tb) is newer than record (na, ta): see records.c. */
int records_is_newer(unsigned long long na, const char *ta, unsigned long long nb,
	const char *tb);
int records_rdn_unique(LDAP *ld, const struct syncd_config *cfg, const char *account, char *err,
	size_t errlen);
int records_copy(struct log_record *dst, const struct log_record *src);
char *records_first_rdn_value(const char *dn);

#endif
