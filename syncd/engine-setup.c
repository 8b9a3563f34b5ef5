/* The delivery engine's life: starting it (its worker threads and its directory thread),
 * draining and stopping it, and what it reports for /metrics and /health. The state
 * machine itself is engine.c's. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine-private.h"
#include "errbuf.h"

struct engine *
engine_new(struct event_base *base, struct syncd_config *cfg, EVP_PKEY *key, X509 *cert,
	const char *password, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (e == NULL)
		goto nomem;
	e->base = base;
	e->cfg = cfg;
	e->key = key;
	e->cert = cert;
	e->nworkers = cfg->ntargets + cfg->nhooks;
	pthread_mutex_init(&e->done_mu, NULL);
	if ((e->workers = calloc(e->nworkers ? e->nworkers : 1, sizeof(*e->workers))) == NULL ||
	    (e->done_ev = event_new(base, -1, EV_PERSIST, engine_done_cb, e)) == NULL ||
	    (e->flush_ev = event_new(base, -1, 0, engine_flush_cb, e)) == NULL ||
	    (e->settle_ev = evtimer_new(base, engine_flush_cb, e)) == NULL ||
	    (e->rewrite_ev = evtimer_new(base, engine_flush_cb, e)) == NULL ||
	    (e->lost_ev = event_new(base, -1, 0, engine_lost_cb, e)) == NULL ||
	    (e->renew_ev = event_new(base, -1, EV_PERSIST, claim_renew_cb, e)) == NULL)
		goto nomem;
	e->take = engine_take;
	e->lose = engine_lose;
	e->check_drained = engine_check_drained;
	e->renewed = engine_renewed;
	{
		struct timeval renew = { cfg->claim_lease / 3, cfg->claim_lease % 3 * 333333 };

		evtimer_add(e->renew_ev, &renew);
	}
	if ((e->dir = directory_new(base, cfg, password, err, errlen)) == NULL) {
		engine_free(e);
		return NULL;
	}
	for (size_t i = 0; i < e->nworkers; i++) {
		struct worker *w = &e->workers[i];

		w->e = e;
		w->target = i < cfg->ntargets ? cfg->targets[i] : NULL;
		w->hook = i < cfg->ntargets ? NULL : cfg->hooks[i - cfg->ntargets];
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

struct directory *
engine_directory(struct engine *e)
{
	return e->dir;
}

void
engine_set_connected(struct engine *e, int connected, void (*lost)(void *), void *arg)
{
	e->connected = connected;
	e->lost = lost;
	e->lost_arg = arg;
	if (connected) {
		/* what waits for the directory is written and asked now, not after a backoff */
		e->recheck = 1;
		event_active(e->flush_ev, EV_READ, 0);
	}
}

int
engine_connected(struct engine *e)
{
	return e->connected;
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
	engine_check_drained(e);
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
	/* the directory's requests about records go before the records */
	directory_free(e->dir);
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
		engine_rec_free(rc, e->cfg->ntargets, e->cfg->nhooks);
	}
	if (e->done_ev != NULL)
		event_free(e->done_ev);
	if (e->flush_ev != NULL)
		event_free(e->flush_ev);
	if (e->settle_ev != NULL)
		event_free(e->settle_ev);
	if (e->rewrite_ev != NULL)
		event_free(e->rewrite_ev);
	if (e->lost_ev != NULL)
		event_free(e->lost_ev);
	if (e->renew_ev != NULL)
		event_free(e->renew_ev);
	claim_free_all(e);
	pthread_mutex_destroy(&e->done_mu);
	free(e->health);
	free(e->workers);
	free(e);
}

size_t
engine_stats(struct engine *e, struct engine_stats *out, size_t max)
{
	size_t nt = e->cfg->ntargets, n = 0;

	for (size_t i = 0; i < nt + e->cfg->nhooks && n < max; i++, n++) {
		struct worker *w = &e->workers[i];
		long long backlog = 0;

		/* Final, but not yet written on the record, is not done either: for a target
		 * that is the write that also removes the sealed password. */
		for (struct rec *rc = e->recs; rc != NULL; rc = rc->next)
			backlog += i < nt ? !status_final(rc->ts[i].st) || !rc->sealed_removed :
				!status_final(rc->hs[i - nt].st) || rc->dirty || rc->writing;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].name = i < nt ? e->cfg->targets[i]->name : e->cfg->hooks[i - nt]->name;
		out[n].is_hook = i >= nt;
		out[n].backlog = backlog;
		out[n].attempts = w->attempts;
		out[n].failures = w->failures;
		out[n].delivered = w->delivered;
		if (i >= nt)
			continue;
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

void
engine_claims(struct engine *e, struct engine_claims *out)
{
	memset(out, 0, sizeof(*out));
	for (struct rec *rc = e->recs; rc != NULL; rc = rc->next)
		out->held += !rc->lost;
	out->waiting = (long long)claim_waiting(e);
	out->taken_over = e->claims_taken_over;
	out->lost = e->claims_lost;
}
