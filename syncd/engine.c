/* The delivery engine's state machine. A record moves through two phases: delivery to every
 * target (each target's worker thread takes jobs in arrival order, so per target and account
 * the order of change numbers holds), then the hooks. Results come back to the event loop,
 * which owns all record state, schedules retries, and has the status written back. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "engine-private.h"
#include "errbuf.h"

const double engine_bucket_bounds[NBUCKETS] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
	300 };

/* rgLogTime carries microseconds: delivery latency is measured from them. */
static double
gentime_epoch(const char *s)
{
	struct tm tm;
	double frac = 0;
	const char *dot;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	if ((dot = strchr(s, '.')) != NULL)
		frac = strtod(dot, NULL);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) + frac;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
all_final(struct tstate *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!status_final(v[i].st))
			return 0;
	return 1;
}

void
engine_rec_free(struct rec *rc, size_t nt, size_t nh)
{
	for (size_t i = 0; i < nt; i++) {
		free(rc->ts[i].error);
		if (rc->ts[i].timer != NULL)
			event_free(rc->ts[i].timer);
	}
	for (size_t i = 0; i < nh; i++) {
		free(rc->hs[i].error);
		if (rc->hs[i].timer != NULL)
			event_free(rc->hs[i].timer);
	}
	if (rc->check_timer != NULL)
		event_free(rc->check_timer);
	free(rc->ts);
	free(rc->hs);
	free(rc->rdn_value);
	records_free(&rc->r);
	free(rc);
}

static int
rec_queued(struct engine *e, struct rec *rc)
{
	for (size_t i = 0; i < e->cfg->ntargets; i++)
		if (rc->ts[i].queued)
			return 1;
	for (size_t i = 0; i < e->cfg->nhooks; i++)
		if (rc->hs[i].queued)
			return 1;
	return 0;
}

static int
inflight(struct engine *e)
{
	for (struct rec *rc = e->recs; rc != NULL; rc = rc->next)
		if (rec_queued(e, rc))
			return 1;
	return 0;
}

/* A record is done with once its final status is written, not before: until then it
 * stays here (and a re-read of it from the directory is ignored) so that the write is
 * made again, and its sealed password does not outlive its use. Nor while the directory
 * thread holds a request about it. */
static int
retire(struct engine *e, struct rec *rc)
{
	if (rc->writing || rc->checking || rc->renewing)
		return 0;
	/* a record another instance took goes once no job of it runs, and is not done */
	if (rc->lost ? rec_queued(e, rc) : rc->phase != PH_DONE || (rc->dirty && !rc->released))
		return 0;
	if (!rc->lost) {
		log_msg(LOG_INFO, "record-done", "change %llu for %s is complete", rc->r.number,
			rc->r.account);
		e->recent[e->recent_next++ % RECENT] = rc->r.number;
	}
	if ((*rc->pprev = rc->next) != NULL)
		rc->next->pprev = rc->pprev;
	engine_rec_free(rc, e->cfg->ntargets, e->cfg->nhooks);
	return 1;
}


static void
rewrite_later(struct engine *e)
{
	struct timeval tv;

	if (evtimer_pending(e->rewrite_ev, NULL))
		return;
	e->rewrite_delay = e->rewrite_delay == 0 ? e->cfg->retry_base :
		e->rewrite_delay * 2 > e->cfg->retry_max ? e->cfg->retry_max :
		e->rewrite_delay * 2;
	tv.tv_sec = e->rewrite_delay;
	tv.tv_usec = 0;
	evtimer_add(e->rewrite_ev, &tv);
}

static void write_done(struct dir_req *r, int closing);

/* Asks the directory thread to write rc's status. One write per record at a time: what
 * changes meanwhile is written after it. A write that fails is made again after a delay,
 * or as soon as a new connection is set. */
static void
write_status(struct engine *e, struct rec *rc)
{
	struct rec_req *q;

	/* its final status went with its claim: nothing more is written under that claim */
	if (rc->released) {
		rc->dirty = 0;
		return;
	}
	rc->dirty = 1;
	if (rc->writing)
		return;
	if (!e->connected || (q = records_write_req(e, rc, write_done)) == NULL) {
		log_msg(LOG_ERR, "status-write", "cannot write the status of change %llu on %s: "
			"%s; it stays pending here until it is written", rc->r.number, rc->r.dn,
			e->connected ? "out of memory" : "not connected to the directory");
		rewrite_later(e);
		return;
	}
	rc->writing = 1;
	e->requests++;
	directory_submit(e->dir, &q->req);
}

static void
write_done(struct dir_req *r, int closing)
{
	struct rec_req *q = (struct rec_req *)r;
	struct engine *e = q->e;
	struct rec *rc = q->rc;

	if (closing) {
		records_req_free(q);
		return;
	}
	e->requests--;
	rc->writing = 0;
	if (q->ldap_rc == LDAP_ASSERTION_FAILED && !rc->lost) {
		e->claims_lost++;
		log_msg(LOG_WARNING, "claim-lost", "change %llu for %s: another instance holds "
			"its claim now; this instance stops delivering it", rc->r.number,
			rc->r.account);
		records_req_free(q);
		engine_lose(e, rc);   /* rc may be gone */
		engine_check_drained(e);
		return;
	}
	if (rc->lost) {
		records_req_free(q);
		retire(e, rc);
		engine_check_drained(e);
		return;
	}
	if (q->ldap_rc == LDAP_SUCCESS) {
		if (q->del_sealed)
			rc->sealed_removed = 1;
		if (q->release) {   /* done: nothing more is written */
			rc->released = 1;
			rc->dirty = 0;
		}
		if (q->gen == rc->gen)
			rc->dirty = 0;
		e->rewrite_delay = 0;
	} else {
		if (q->ldap_rc == LDAP_INSUFFICIENT_ACCESS)
			log_msg(LOG_ERR, "status-write", "cannot write the status of change %llu "
				"on %s: %s; grant %s write access to rgLogTargetStatus, "
				"rgLogHookStatus and rgLogSealedPassword on the records below %s "
				"(olcAccess, slapd.conf: access); it stays pending here until it is "
				"written", rc->r.number, rc->r.dn, ldap_err2string(q->ldap_rc),
				e->cfg->bind_dn ? e->cfg->bind_dn : "syncd's SASL EXTERNAL identity",
				e->cfg->log_base);
		else
			log_msg(LOG_ERR, "status-write", "cannot write the status of change %llu "
				"on %s: %s; it stays pending here until it is written",
				rc->r.number, rc->r.dn, ldap_err2string(q->ldap_rc));
		if (q->lost && e->connected)
			event_active(e->lost_ev, EV_READ, 0);
		rewrite_later(e);
	}
	records_req_free(q);
	/* changed while it was written: the newer status goes now */
	if (rc->dirty && !evtimer_pending(e->rewrite_ev, NULL))
		write_status(e, rc);
	else
		retire(e, rc);
	engine_check_drained(e);
}

static void
flush_statuses(struct engine *e)
{
	struct rec *rc, *next;

	for (rc = e->recs; rc != NULL; rc = next) {
		next = rc->next;
		if (rc->dirty && !rc->writing && !e->connected) {
			write_status(e, rc); /* says so, once: the others would fail alike */
			return;
		}
		if (rc->dirty && !rc->writing)
			write_status(e, rc);
		else
			retire(e, rc);
	}
}

static void check_delivery(struct engine *e, struct rec *rc);
static void start_job(struct engine *e, struct tstate *s, int is_hook);

/* Statuses are written in batches, not once per result: a burst of results for one
 * record costs one write. */
void
engine_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	struct rec *rc;

	(void)fd;
	(void)what;
	flush_statuses(e);
	if (!e->recheck || !e->connected || e->draining)
		return;
	e->recheck = 0;
	for (rc = e->recs; rc != NULL; rc = rc->next) {
		if (rc->phase == PH_DELIVER && !rc->cleared && !rc->checking) {
			if (rc->check_timer != NULL)
				evtimer_del(rc->check_timer);
			check_delivery(e, rc);
		}
	}
}

void
engine_lost_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	(void)fd;
	(void)what;
	if (e->lost != NULL && e->connected)
		e->lost(e->lost_arg);
}

/* Drained once no job runs or waits in a worker, and the statuses left have been written
 * (or have failed to be: the next start reads the records again). */
void
engine_check_drained(struct engine *e)
{
	void (*cb)(void *) = e->drain_cb;

	if (!e->draining || cb == NULL || inflight(e))
		return;
	if (!e->drain_flushed) {
		e->drain_flushed = 1;
		/* every claim goes with the last statuses: another instance takes over now,
		 * not a lease later */
		for (struct rec *rc = e->recs; rc != NULL; rc = rc->next)
			rc->dirty = !rc->lost;
		flush_statuses(e);
	}
	if (e->requests > 0)
		return;
	e->drain_cb = NULL;
	cb(e->drain_arg);
}

/* Moves a record on once its current phase is final; has its status written either way:
 * soon, or now when the record is done. */
static void
advance(struct engine *e, struct rec *rc)
{
	if (rc->phase == PH_DELIVER && all_final(rc->ts, e->cfg->ntargets)) {
		int superseded = e->cfg->ntargets > 0;

		for (size_t i = 0; i < e->cfg->ntargets; i++)
			superseded &= rc->ts[i].st == TS_SUPERSEDED;
		/* A superseded change's hooks fire with the change that replaced it. */
		rc->phase = superseded || e->cfg->nhooks == 0 ? PH_DONE : PH_HOOKS;
		if (rc->phase == PH_HOOKS && !e->draining)
			for (size_t i = 0; i < e->cfg->nhooks; i++)
				if (!status_final(rc->hs[i].st))
					start_job(e, &rc->hs[i], 1);
		/* delivered or not, no password leaves for this record any more */
		if (rc->r.sealed != NULL) {
			OPENSSL_cleanse(rc->r.sealed, rc->r.sealed_len);
			free(rc->r.sealed);
			rc->r.sealed = NULL;
			rc->r.sealed_len = 0;
		}
	}
	if (rc->phase == PH_HOOKS && all_final(rc->hs, e->cfg->nhooks))
		rc->phase = PH_DONE;
	rc->gen++;
	rc->dirty = 1;
	if (rc->phase != PH_DONE) {
		/* A status on the way is written within SETTLE_MS, with whatever else changes
		 * meanwhile: a record that completes sooner costs its final write only. */
		if (!evtimer_pending(e->settle_ev, NULL)) {
			struct timeval tv = { 0, SETTLE_MS * 1000 };

			evtimer_add(e->settle_ev, &tv);
		}
		return;
	}
	write_status(e, rc);
}

static double
backoff(struct engine *e, int attempts)
{
	double base = e->cfg->retry_base * pow(2, attempts > 20 ? 20 : attempts - 1);
	unsigned char r;

	if (base > e->cfg->retry_max)
		base = e->cfg->retry_max;
	if (RAND_bytes(&r, 1) != 1)
		r = 128;
	/* Jitter between half and all of the delay: retries of many records spread out. */
	return base / 2 + base / 2 * (r / 255.0);
}

struct timer_arg {
	struct engine *e;
	struct tstate *s;
	int is_hook;
};

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timer_arg *ta = arg;
	struct engine *e = ta->e;
	struct tstate *s = ta->s;
	int is_hook = ta->is_hook;

	(void)fd;
	(void)what;
	free(ta);
	event_free(s->timer);
	s->timer = NULL;
	if (!status_final(s->st) && !e->draining)
		start_job(e, s, is_hook);
}

static void
schedule_retry(struct engine *e, struct tstate *s, int is_hook)
{
	struct timer_arg *ta = malloc(sizeof(*ta));
	double d = backoff(e, s->attempts);
	struct timeval tv = { (time_t)d, (suseconds_t)((d - (time_t)d) * 1e6) };

	if (ta == NULL)
		return;
	ta->e = e;
	ta->s = s;
	ta->is_hook = is_hook;
	s->timer = evtimer_new(e->base, timer_cb, ta);
	if (s->timer == NULL) {
		free(ta);
		return;
	}
	evtimer_add(s->timer, &tv);
}

/* Queues s's job. Short of memory, it is tried again after a backoff, never left neither
 * queued nor final. */
static void
start_job(struct engine *e, struct tstate *s, int is_hook)
{
	struct rec *rc = s->rec;

	if (worker_enqueue(e, s, is_hook) == 0)
		return;
	log_msg(LOG_ERR, "retry", "change %llu for %s: cannot queue %s %s: out of memory; "
		"trying again later", rc->r.number, rc->r.account, is_hook ? "hook" : "target",
		is_hook ? e->cfg->hooks[s->index]->name : e->cfg->targets[s->index]->name);
	if (s->timer == NULL)
		schedule_retry(e, s, is_hook);
}

static void
record_result(struct engine *e, struct job *j)
{
	struct tstate *s = j->state;
	struct rec *rc = s->rec;
	struct worker *w = worker_of(e, s, j->is_hook);
	const char *name = j->is_hook ? e->cfg->hooks[s->index]->name :
		e->cfg->targets[s->index]->name;
	enum outcome outcome = j->outcome;

	s->queued = 0;
	if (rc->lost) {
		retire(e, rc);
		return;
	}
	if (s->st == TS_SUPERSEDED)
		goto out;   /* a newer change overtook it while it ran; its result is moot */
	s->attempts++;
	w->attempts++;
	records_now_gentime(s->time);
	free(s->error);
	s->error = j->err[0] != '\0' ? strdup(j->err) : NULL;
	if (outcome == OUTCOME_DONE) {
		double secs = now_seconds() - rc->epoch;

		s->st = TS_DELIVERED;
		free(s->error);
		s->error = NULL;
		w->delivered++;
		w->latency_sum += secs;
		w->latency_count++;
		for (size_t i = 0; i < NBUCKETS; i++)
			if (secs <= engine_bucket_bounds[i])
				w->buckets[i]++;
		log_msg(LOG_INFO, "delivered", "change %llu for %s: %s %s after %d attempt(s)",
			rc->r.number, rc->r.account, j->is_hook ? "hook" : "target", name,
			s->attempts);
	} else if (outcome == OUTCOME_RETRY && s->attempts < e->cfg->max_attempts) {
		s->st = TS_RETRYING;
		log_msg(LOG_WARNING, "retry", "change %llu for %s: %s %s attempt %d failed (%s); "
			"retrying", rc->r.number, rc->r.account, j->is_hook ? "hook" : "target",
			name, s->attempts, j->err);
		if (!e->draining)
			schedule_retry(e, s, j->is_hook);
	} else {
		s->st = TS_FAILED;
		w->failures++;
		log_msg(LOG_ERR, "alert", "ALERT change %llu for %s: %s %s failed after %d "
			"attempt(s): %s", rc->r.number, rc->r.account, j->is_hook ? "hook" : "target",
			name, s->attempts, j->err);
	}
out:
	advance(e, rc);
}

void
engine_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	struct job *list, *j, *rev = NULL;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&e->done_mu);
	list = e->done;
	e->done = NULL;
	pthread_mutex_unlock(&e->done_mu);
	/* The list was built newest first; results are applied in completion order. */
	while (list != NULL) {
		j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev != NULL) {
		j = rev;
		rev = j->next;
		record_result(e, j);
		OPENSSL_cleanse(j->err, sizeof(j->err));
		worker_job_free(j);
	}
	engine_check_drained(e);
}

static void
supersede(struct engine *e, struct rec *rc, unsigned long long by)
{
	char why[64];

	if (by > 0)
		snprintf(why, sizeof(why), "superseded by change %llu", by);
	else
		snprintf(why, sizeof(why), "superseded by a newer change");
	for (size_t i = 0; i < e->cfg->ntargets; i++) {
		struct tstate *s = &rc->ts[i];

		if (status_final(s->st))
			continue;
		/* A job already running finishes; the newer one is queued behind it. */
		if (s->queued && !worker_dequeue(e, s, 0))
			continue;
		if (s->timer != NULL) {
			void *ta = event_get_callback_arg(s->timer);

			event_free(s->timer);
			free(ta);
			s->timer = NULL;
		}
		s->st = TS_SUPERSEDED;
		records_now_gentime(s->time);
		free(s->error);
		s->error = strdup(why);
	}
	advance(e, rc);
}

static int
recently_done(struct engine *e, unsigned long long n)
{
	for (size_t i = 0; i < RECENT; i++)
		if (e->recent[i] == n)
			return 1;
	return 0;
}

void
engine_submit(struct engine *e, const struct log_record *r)
{
	if (e->draining || r->sealed == NULL || r->account == NULL ||
	    recently_done(e, r->number) || claim_known(e, r->number))
		return;
	for (struct rec *rc = e->recs; rc != NULL; rc = rc->next)
		if (rc->r.number == r->number)
			return;
	claim_submit(e, r);
}

/* Another instance holds rc's claim now: rc goes without a word written, its jobs not yet
 * started with it; this instance claims it again should that one die too. */
void
engine_lose(struct engine *e, struct rec *rc)
{
	struct tstate *all[2] = { rc->ts, rc->hs };
	size_t n[2] = { e->cfg->ntargets, e->cfg->nhooks };

	rc->lost = 1;
	rc->dirty = 0;
	rc->phase = PH_DONE;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < n[k]; i++) {
			struct tstate *s = &all[k][i];

			if (s->queued)
				worker_dequeue(e, s, k);
			if (s->timer != NULL) {
				free(event_get_callback_arg(s->timer));
				event_free(s->timer);
				s->timer = NULL;
			}
		}
	if (rc->check_timer != NULL)
		evtimer_del(rc->check_timer);
	claim_watch(e, rc->r.number, rc->r.dn, e->cfg->claim_lease);
	retire(e, rc);
}

/* claim.c, once a renewal is done: a record whose final status went while it was renewed
 * goes now. */
void
engine_renewed(struct engine *e, struct rec *rc)
{
	retire(e, rc);
}

/* A record this instance claimed (claim.c): it is delivered under that claim. */
void
engine_take(struct engine *e, const struct log_record *r, const char *claim, time_t until)
{
	size_t nt = e->cfg->ntargets, nh = e->cfg->nhooks;
	struct rec *rc, *other;
	char now[32];

	for (rc = e->recs; rc != NULL; rc = rc->next)
		if (rc->r.number == r->number) {
			/* lost, and a job of it still runs: its claim lapses, and it is claimed
			 * again once that job is over */
			claim_watch(e, r->number, r->dn, e->cfg->claim_lease);
			return;
		}
	if ((rc = calloc(1, sizeof(*rc))) == NULL || records_copy(&rc->r, r) != 0 ||
	    (rc->ts = calloc(nt ? nt : 1, sizeof(*rc->ts))) == NULL ||
	    (rc->hs = calloc(nh ? nh : 1, sizeof(*rc->hs))) == NULL ||
	    (rc->rdn_value = records_first_rdn_value(r->account)) == NULL) {
		log_msg(LOG_ERR, "record", "cannot take change %llu: out of memory or a bad "
			"account DN", r->number);
		if (rc != NULL)
			engine_rec_free(rc, 0, 0);
		return;
	}
	e->records_total++;
	rc->e = e;
	snprintf(rc->claim, sizeof(rc->claim), "%s", claim);
	atomic_store(&rc->claim_until, until);
	rc->epoch = gentime_epoch(r->time);
	records_now_gentime(now);
	for (size_t i = 0; i < nt; i++) {
		struct tstate *s = &rc->ts[i];

		s->rec = rc;
		s->index = i;
		memcpy(s->time, now, sizeof(now));
		if (status_parse(r->target_status, e->cfg->targets[i]->name, &s->st,
		    &s->attempts) != 0)
			s->st = TS_PENDING;
	}
	for (size_t i = 0; i < nh; i++) {
		struct tstate *s = &rc->hs[i];

		s->rec = rc;
		s->index = i;
		memcpy(s->time, now, sizeof(now));
		if (status_parse(r->hook_status, e->cfg->hooks[i]->name, &s->st, &s->attempts) != 0)
			s->st = TS_PENDING;
	}
	if ((rc->next = e->recs) != NULL)
		rc->next->pprev = &rc->next;
	rc->pprev = &e->recs;
	e->recs = rc;
	log_msg(LOG_INFO, "record", "change %llu for %s taken", r->number, r->account);

	for (other = e->recs; other != NULL; other = other->next) {
		if (other == rc || other->lost ||
		    strcasecmp(other->r.account, rc->r.account) != 0)
			continue;
		if (records_is_newer(other->r.number, other->r.time, rc->r.number, rc->r.time) &&
		    other->phase == PH_DELIVER)
			supersede(e, other, rc->r.number);
		else if (records_is_newer(rc->r.number, rc->r.time, other->r.number,
		    other->r.time)) {
			supersede(e, rc, other->r.number);
			return;
		}
		break;   /* an account has one record in delivery at a time */
	}
	if (e->draining)
		write_status(e, rc);   /* taken as the daemon stops: the claim goes again */
	else
		check_delivery(e, rc);
}

static void
check_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *rc = arg;

	(void)fd;
	(void)what;
	if (!rc->e->draining)
		check_delivery(rc->e, rc);
}

/* The directory could not say whether rc may be delivered: nothing is delivered, the
 * targets stay pending with the reason, and the question is asked again later (or as soon
 * as a new connection is set). An error is "not delivered yet", never "deliver". */
static void
check_later(struct engine *e, struct rec *rc, const char *why)
{
	double d = backoff(e, ++rc->checks);
	struct timeval tv = { (time_t)d, (suseconds_t)((d - (time_t)d) * 1e6) };

	log_msg(LOG_WARNING, "retry", "change %llu for %s: %s; nothing is delivered until "
		"that is known", rc->r.number, rc->r.account, why);
	for (size_t i = 0; i < e->cfg->ntargets; i++) {
		struct tstate *s = &rc->ts[i];

		if (status_final(s->st))
			continue;
		records_now_gentime(s->time);
		free(s->error);
		s->error = strdup(why);
	}
	if (rc->check_timer == NULL)
		rc->check_timer = evtimer_new(e->base, check_timer_cb, rc);
	if (rc->check_timer != NULL)
		evtimer_add(rc->check_timer, &tv);
	advance(e, rc);
}

static void check_done(struct dir_req *r, int closing);

/* What the directory must confirm before a record's password goes anywhere: no newer
 * change for the account exists, and, for a target that finds the account by its RDN
 * value, no other entry has that value. Asked of the directory thread; check_done acts on
 * the answer. */
static void
check_delivery(struct engine *e, struct rec *rc)
{
	struct rec_req *q;
	int uses_rdn = 0;

	if (rc->checking)
		return;
	/* nothing left to deliver (a record taken again after a restart): no question */
	if (all_final(rc->ts, e->cfg->ntargets)) {
		advance(e, rc);
		return;
	}
	for (size_t i = 0; i < e->cfg->ntargets; i++)
		uses_rdn |= e->cfg->targets[i]->maps_by_rdn && !status_final(rc->ts[i].st);
	if ((q = records_check_req(e, rc, uses_rdn, check_done)) == NULL) {
		check_later(e, rc, "cannot ask the directory: out of memory");
		return;
	}
	rc->checking = 1;
	e->requests++;
	directory_submit(e->dir, &q->req);
}

static void
check_done(struct dir_req *r, int closing)
{
	struct rec_req *q = (struct rec_req *)r;
	struct engine *e = q->e;
	struct rec *rc = q->rc;

	if (closing) {
		records_req_free(q);
		return;
	}
	e->requests--;
	rc->checking = 0;
	if (q->lost && e->connected)
		event_active(e->lost_ev, EV_READ, 0);
	/* the daemon stops, or superseded meanwhile: nothing to deliver now */
	if (rc->phase != PH_DELIVER || e->draining) {
		retire(e, rc);
	} else if (all_final(rc->ts, e->cfg->ntargets)) {
		advance(e, rc);
	} else if (q->newer < 0 || q->unique < 0 || q->blocked < 0) {
		check_later(e, rc, q->why);
	} else if (q->newer > 0) {
		supersede(e, rc, 0);
	} else if (q->blocked > 0) {
		/* another instance's older change ends within its lease: asked again at the
		 * base delay, not a backoff that would outlast it */
		rc->checks = 0;
		check_later(e, rc, q->why);
	} else {
		for (size_t i = 0; q->unique == 0 && i < e->cfg->ntargets; i++) {
			struct tstate *s = &rc->ts[i];

			if (!e->cfg->targets[i]->maps_by_rdn || status_final(s->st))
				continue;
			s->st = TS_FAILED;
			records_now_gentime(s->time);
			free(s->error);
			s->error = strdup(q->why);
			worker_of(e, s, 0)->failures++;
			log_msg(LOG_ERR, "alert", "ALERT change %llu for %s: target %s failed: %s",
				rc->r.number, rc->r.account, e->cfg->targets[i]->name, q->why);
		}
		rc->cleared = 1;
		for (size_t i = 0; i < e->cfg->ntargets; i++)
			if (!status_final(rc->ts[i].st))
				start_job(e, &rc->ts[i], 0);
		/* nothing to write unless a target was failed here */
		if (q->unique == 0)
			advance(e, rc);
	}
	records_req_free(q);
	engine_check_drained(e);
}

