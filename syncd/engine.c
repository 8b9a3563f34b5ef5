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

static void
rec_free(struct rec *rc, size_t nt, size_t nh)
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
inflight(struct engine *e)
{
	for (struct rec *rc = e->recs; rc != NULL; rc = rc->next) {
		for (size_t i = 0; i < e->cfg->ntargets; i++)
			if (rc->ts[i].queued)
				return 1;
		for (size_t i = 0; i < e->cfg->nhooks; i++)
			if (rc->hs[i].queued)
				return 1;
	}
	return 0;
}

/* A record is done with once its final status is written, not before: until then it
 * stays here (and a re-read of it from the directory is ignored) so that the write is
 * made again, and its sealed password does not outlive its use. */
static void
retire(struct engine *e, struct rec **rp)
{
	struct rec *rc = *rp;

	log_msg(LOG_INFO, "record-done", "change %llu for %s is complete", rc->r.number,
		rc->r.account);
	e->recent[e->recent_next++ % RECENT] = rc->r.number;
	*rp = rc->next;
	rec_free(rc, e->cfg->ntargets, e->cfg->nhooks);
}

/* Writes rc's status; on failure it stays dirty and is written again after a delay, or as
 * soon as a new connection is set. A connection found broken is handed back to its owner
 * from a deferred event: this may run inside one of the follower's own calls. */
static int
write_status(struct engine *e, struct rec *rc)
{
	struct timeval tv;
	int rc_ldap = records_write_status(e, rc);

	if (rc_ldap == LDAP_SUCCESS) {
		rc->dirty = 0;
		e->rewrite_delay = 0;
		return 0;
	}
	rc->dirty = 1;
	if (rc_ldap < 0 && e->ld != NULL)
		event_active(e->lost_ev, EV_READ, 0);
	if (!evtimer_pending(e->rewrite_ev, NULL)) {
		e->rewrite_delay = e->rewrite_delay == 0 ? e->cfg->retry_base :
			e->rewrite_delay * 2 > e->cfg->retry_max ? e->cfg->retry_max :
			e->rewrite_delay * 2;
		tv.tv_sec = e->rewrite_delay;
		tv.tv_usec = 0;
		evtimer_add(e->rewrite_ev, &tv);
	}
	return -1;
}

static void
flush_statuses(struct engine *e)
{
	struct rec **rp = &e->recs;

	while (*rp != NULL) {
		struct rec *rc = *rp;

		if (rc->dirty && write_status(e, rc) != 0 && e->ld == NULL)
			return; /* no connection: the others would fail the same way */
		if (rc->phase == PH_DONE && !rc->dirty)
			retire(e, rp);
		else
			rp = &rc->next;
	}
}

static void check_delivery(struct engine *e, struct rec *rc);

/* Statuses are written once per turn of the event loop, not once per result: a burst of
 * results for one record costs one write, and the loop stays responsive. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	struct rec *rc, *next;

	(void)fd;
	(void)what;
	flush_statuses(e);
	if (!e->recheck || e->ld == NULL || e->draining)
		return;
	e->recheck = 0;
	for (rc = e->recs; rc != NULL; rc = next) {
		next = rc->next;
		if (rc->phase == PH_DELIVER && !rc->cleared) {
			if (rc->check_timer != NULL)
				evtimer_del(rc->check_timer);
			/* the list may lose rc (never next) */
			check_delivery(e, rc);
		}
	}
}

static void
lost_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	(void)fd;
	(void)what;
	if (e->lost != NULL && e->ld != NULL)
		e->lost(e->lost_arg);
}

static void
check_drained(struct engine *e)
{
	if (e->draining && e->drain_cb != NULL && !inflight(e)) {
		void (*cb)(void *) = e->drain_cb;

		flush_statuses(e);
		e->drain_cb = NULL;
		cb(e->drain_arg);
	}
}

/* Moves a record on once its current phase is final; writes its status either way. */
static void
advance(struct engine *e, struct rec *rc)
{
	struct rec **rp;

	if (rc->phase == PH_DELIVER && all_final(rc->ts, e->cfg->ntargets)) {
		int superseded = e->cfg->ntargets > 0;

		for (size_t i = 0; i < e->cfg->ntargets; i++)
			superseded &= rc->ts[i].st == TS_SUPERSEDED;
		/* A superseded change's hooks fire with the change that replaced it. */
		rc->phase = superseded || e->cfg->nhooks == 0 ? PH_DONE : PH_HOOKS;
		if (rc->phase == PH_HOOKS && !e->draining)
			for (size_t i = 0; i < e->cfg->nhooks; i++)
				worker_enqueue(e, &rc->hs[i], 1);
	}
	if (rc->phase == PH_HOOKS && all_final(rc->hs, e->cfg->nhooks))
		rc->phase = PH_DONE;
	if (rc->phase != PH_DONE) {
		rc->dirty = 1;
		event_active(e->flush_ev, EV_READ, 0);
		return;
	}
	if (write_status(e, rc) != 0)
		return;
	for (rp = &e->recs; *rp != NULL; rp = &(*rp)->next) {
		if (*rp == rc) {
			retire(e, rp);
			break;
		}
	}
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
	if (s->st == TS_RETRYING && !e->draining)
		worker_enqueue(e, s, is_hook);
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

static void
done_cb(evutil_socket_t fd, short what, void *arg)
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
	check_drained(e);
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
	size_t nt = e->cfg->ntargets, nh = e->cfg->nhooks;
	struct rec *rc, *other;
	char now[32];

	if (e->draining || r->sealed == NULL || r->account == NULL || recently_done(e, r->number))
		return;
	for (rc = e->recs; rc != NULL; rc = rc->next)
		if (rc->r.number == r->number)
			return;
	if ((rc = calloc(1, sizeof(*rc))) == NULL || records_copy(&rc->r, r) != 0 ||
	    (rc->ts = calloc(nt ? nt : 1, sizeof(*rc->ts))) == NULL ||
	    (rc->hs = calloc(nh ? nh : 1, sizeof(*rc->hs))) == NULL ||
	    (rc->rdn_value = records_first_rdn_value(r->account)) == NULL) {
		log_msg(LOG_ERR, "record", "cannot take change %llu: out of memory or a bad "
			"account DN", r->number);
		if (rc != NULL)
			rec_free(rc, 0, 0);
		return;
	}
	e->records_total++;
	rc->e = e;
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
	rc->next = e->recs;
	e->recs = rc;
	log_msg(LOG_INFO, "record", "change %llu for %s taken", r->number, r->account);

	for (other = e->recs; other != NULL; other = other->next) {
		if (other == rc || strcasecmp(other->r.account, rc->r.account) != 0)
			continue;
		if (other->r.number < rc->r.number && other->phase == PH_DELIVER)
			supersede(e, other, rc->r.number);
		else if (other->r.number > rc->r.number) {
			supersede(e, rc, other->r.number);
			return;
		}
		break;   /* supersede() may have freed other: the list changed under us */
	}
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

/* What the directory must confirm before a record's password goes anywhere: no newer
 * change for the account exists, and, for a target that finds the account by its RDN
 * value, no other entry has that value. Then its deliveries are queued. */
static void
check_delivery(struct engine *e, struct rec *rc)
{
	char why[SYNCD_ERR];
	int uses_rdn = 0, r;

	r = records_newer_change_exists(e, &rc->r, why, sizeof(why));
	if (r < 0) {
		check_later(e, rc, why);
		return;
	}
	if (r > 0) {
		supersede(e, rc, 0);
		return;
	}
	for (size_t i = 0; i < e->cfg->ntargets; i++)
		uses_rdn |= e->cfg->targets[i]->maps_by_rdn && !status_final(rc->ts[i].st);
	r = uses_rdn ? records_rdn_unique(e, rc->r.account, why, sizeof(why)) : 1;
	if (r < 0) {
		check_later(e, rc, why);
		return;
	}
	for (size_t i = 0; r == 0 && i < e->cfg->ntargets; i++) {
		struct tstate *s = &rc->ts[i];

		if (!e->cfg->targets[i]->maps_by_rdn || status_final(s->st))
			continue;
		s->st = TS_FAILED;
		records_now_gentime(s->time);
		free(s->error);
		s->error = strdup(why);
		worker_of(e, s, 0)->failures++;
		log_msg(LOG_ERR, "alert", "ALERT change %llu for %s: target %s failed: %s",
			rc->r.number, rc->r.account, e->cfg->targets[i]->name, why);
	}
	rc->cleared = 1;
	for (size_t i = 0; i < e->cfg->ntargets; i++)
		if (!status_final(rc->ts[i].st))
			worker_enqueue(e, &rc->ts[i], 0);
	advance(e, rc);
}

struct engine *
engine_new(struct event_base *base, struct syncd_config *cfg, EVP_PKEY *key, X509 *cert,
	char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (e == NULL)
		goto nomem;
	e->base = base;
	e->cfg = cfg;
	e->key = key;
	e->cert = cert;
	e->nworkers = cfg->ntargets + 1;
	pthread_mutex_init(&e->done_mu, NULL);
	if ((e->workers = calloc(e->nworkers, sizeof(*e->workers))) == NULL ||
	    (e->done_ev = event_new(base, -1, EV_PERSIST, done_cb, e)) == NULL ||
	    (e->flush_ev = event_new(base, -1, 0, flush_cb, e)) == NULL ||
	    (e->rewrite_ev = evtimer_new(base, flush_cb, e)) == NULL ||
	    (e->lost_ev = event_new(base, -1, 0, lost_cb, e)) == NULL)
		goto nomem;
	for (size_t i = 0; i < e->nworkers; i++) {
		struct worker *w = &e->workers[i];

		w->e = e;
		w->target = i < cfg->ntargets ? cfg->targets[i] : NULL;
		w->tail = &w->head;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rg_seterr(err, errlen, "cannot start a worker thread: %s", strerror(errno));
			engine_free(e);
			return NULL;
		}
		w->started = 1;
	}
	return e;
nomem:
	rg_seterr(err, errlen, "out of memory starting the delivery engine");
	engine_free(e);
	return NULL;
}

void
engine_set_directory(struct engine *e, LDAP *ld, void (*lost)(void *), void *arg)
{
	e->ld = ld;
	e->lost = lost;
	e->lost_arg = arg;
	if (ld != NULL) {
		/* what waits for the directory is written and asked now, not after a backoff */
		e->recheck = 1;
		event_active(e->flush_ev, EV_READ, 0);
	}
}

void
engine_set_health(struct engine *e, const char *problem)
{
	free(e->health);
	e->health = problem != NULL ? strdup(problem) : NULL;
	if (problem != NULL && e->health == NULL)
		e->health = strdup("out of memory");
}

const char *
engine_health(struct engine *e)
{
	return e->health;
}

void
engine_drain(struct engine *e, void (*done)(void *), void *arg)
{
	e->draining = 1;
	e->drain_cb = done;
	e->drain_arg = arg;
	/* Retries not yet due stay pending on their records: the next start resumes them. */
	for (struct rec *rc = e->recs; rc != NULL; rc = rc->next) {
		for (size_t i = 0; i < e->cfg->ntargets; i++)
			if (rc->ts[i].queued)
				worker_dequeue(e, &rc->ts[i], 0);
		for (size_t i = 0; i < e->cfg->nhooks; i++)
			if (rc->hs[i].queued)
				worker_dequeue(e, &rc->hs[i], 1);
	}
	check_drained(e);
}

void
engine_free(struct engine *e)
{
	struct rec *rc;
	struct job *j;

	if (e == NULL)
		return;
	for (size_t i = 0; e->workers != NULL && i < e->nworkers; i++) {
		struct worker *w = &e->workers[i];

		if (!w->started)
			continue;
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		while ((j = w->head) != NULL) {
			w->head = j->next;
			worker_job_free(j);
		}
		w->tail = &w->head;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
	}
	while ((j = e->done) != NULL) {
		e->done = j->next;
		worker_job_free(j);
	}
	while ((rc = e->recs) != NULL) {
		e->recs = rc->next;
		for (size_t i = 0; i < e->cfg->ntargets; i++)
			if (rc->ts[i].timer != NULL)
				free(event_get_callback_arg(rc->ts[i].timer));
		for (size_t i = 0; i < e->cfg->nhooks; i++)
			if (rc->hs[i].timer != NULL)
				free(event_get_callback_arg(rc->hs[i].timer));
		rec_free(rc, e->cfg->ntargets, e->cfg->nhooks);
	}
	if (e->done_ev != NULL)
		event_free(e->done_ev);
	if (e->flush_ev != NULL)
		event_free(e->flush_ev);
	if (e->rewrite_ev != NULL)
		event_free(e->rewrite_ev);
	if (e->lost_ev != NULL)
		event_free(e->lost_ev);
	pthread_mutex_destroy(&e->done_mu);
	free(e->health);
	free(e->workers);
	free(e);
}

size_t
engine_stats(struct engine *e, struct engine_stats *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < e->cfg->ntargets && n < max; i++, n++) {
		struct worker *w = &e->workers[i];
		long long backlog = 0;

		for (struct rec *rc = e->recs; rc != NULL; rc = rc->next)
			backlog += !status_final(rc->ts[i].st);
		out[n].target = e->cfg->targets[i]->name;
		out[n].backlog = backlog;
		out[n].attempts = w->attempts;
		out[n].failures = w->failures;
		out[n].delivered = w->delivered;
		out[n].bucket_bounds = engine_bucket_bounds;
		out[n].bucket_counts = w->buckets;
		out[n].nbuckets = NBUCKETS;
		out[n].latency_sum = w->latency_sum;
		out[n].latency_count = w->latency_count;
	}
	return n;
}

long long
engine_records_total(struct engine *e)
{
	return e->records_total;
}
