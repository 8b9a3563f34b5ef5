/* The worker threads: one per target and one per hook. Each takes jobs from its queue in
 * order, so per target the order of change numbers holds, and a target or a hook that
 * hangs delays only its own jobs; the cleartext password exists only inside run_job.
 * Results go back to the event loop, which owns all record state. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "directory.h"
#include "engine-private.h"
#include "errbuf.h"
#include "seal.h"

void
worker_job_free(struct job *j)
{
	free(j->account);
	free(j->rdn_value);
	free(j->kind);
	free(j->requester);
	free(j->time);
	free(j->sealed);
	free(j);
}

struct worker *
worker_of(struct engine *e, struct tstate *s, int is_hook)
{
	return &e->workers[is_hook ? e->cfg->ntargets + s->index : s->index];
}

static enum outcome
delivery_outcome(enum delivery_result r)
{
	switch (r) {
	case DELIVERY_DONE:
		return OUTCOME_DONE;
	case DELIVERY_RETRY:
		return OUTCOME_RETRY;
	default:
		return OUTCOME_FAIL;
	}
}

static enum outcome
hook_outcome(enum hook_result r)
{
	switch (r) {
	case HOOK_DONE:
		return OUTCOME_DONE;
	case HOOK_RETRY:
		return OUTCOME_RETRY;
	default:
		return OUTCOME_FAIL;
	}
}

/* Worker thread: the values of attr on the account, read from the main directory as syncd
 * (the notify hook's address). 1 and *out (NULL-terminated, maybe empty); 0 when the
 * account is gone (err says so); -1 when the directory cannot tell now. */
static int
read_attr(struct worker *w, const char *account, const char *attr, char ***out, char *err,
	size_t errlen)
{
	const struct syncd_config *cfg = w->e->cfg;
	char *attrs[] = { (char *)attr, NULL };
	struct timeval tv = { cfg->op_timeout, 0 };
	struct berval **v = NULL;
	LDAPMessage *res = NULL, *m;
	int rc, n;

	*out = NULL;
	if (w->ld == NULL && (w->ld = directory_connect(w->e->dir, err, errlen)) == NULL)
		return -1;
	rc = ldap_search_ext_s(w->ld, account, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0,
		NULL, NULL, &tv, 1, &res);
	if (rc == LDAP_NO_SUCH_OBJECT) {
		ldap_msgfree(res);
		rg_seterr(err, errlen, "%s is not in the directory any more", account);
		return 0;
	}
	if (rc != LDAP_SUCCESS || (m = ldap_first_entry(w->ld, res)) == NULL) {
		ldap_msgfree(res);
		rg_seterr(err, errlen, "cannot read %s of %s: %s", attr, account,
			ldap_err2string(rc != LDAP_SUCCESS ? rc : LDAP_NO_RESULTS_RETURNED));
		if (directory_broken(rc)) {
			ldap_unbind_ext_s(w->ld, NULL, NULL);
			w->ld = NULL;
		}
		return -1;
	}
	v = ldap_get_values_len(w->ld, m, attr);
	n = ldap_count_values_len(v);
	if ((*out = calloc((size_t)n + 1, sizeof(char *))) != NULL)
		for (int i = 0, k = 0; i < n; i++)
			if (((*out)[k] = strndup(v[i]->bv_val, v[i]->bv_len)) != NULL)
				k++;
	ldap_value_free_len(v);
	ldap_msgfree(res);
	if (*out == NULL) {
		rg_seterr(err, errlen, "cannot read %s of %s: out of memory", attr, account);
		return -1;
	}
	return 1;
}

/* Runs in the worker thread: the password exists in clear only inside this call. */
static void
run_job(struct worker *w, struct job *j)
{
	struct engine *e = w->e;
	unsigned char *pw = NULL;
	size_t pwlen = 0;

	if (j->is_hook) {
		struct hook *h = w->hook;
		struct hook_event ev = { j->number, j->account, j->rdn_value, j->kind,
			j->requester, j->time, j->epoch, NULL };
		const char *attr = h->ops->account_attr ? h->ops->account_attr(h) : NULL;
		char **vals = NULL;
		int r = attr != NULL ? read_attr(w, j->account, attr, &vals, j->err,
			sizeof(j->err)) : 1;

		if (r <= 0) {
			j->outcome = r < 0 ? OUTCOME_RETRY : OUTCOME_FAIL;
			return;
		}
		ev.account_values = vals;
		j->outcome = hook_outcome(h->ops->fire(h, &ev, j->err, sizeof(j->err)));
		for (size_t i = 0; vals != NULL && vals[i] != NULL; i++)
			free(vals[i]);
		free(vals);
		return;
	}
	/* A delivery starts only with half a lease left on the record's claim: it ends before
	 * the claim could run out and another instance deliver a newer change of the account
	 * (claim-lease is at least twice the time a delivery may take). */
	if (atomic_load(j->claim_until) - time(NULL) < e->cfg->claim_lease / 2) {
		rg_seterr(j->err, sizeof(j->err), "this instance's claim on the record runs out "
			"too soon to deliver under it; waiting for its renewal");
		j->outcome = OUTCOME_RETRY;
		return;
	}
	if (rg_unseal(e->key, e->cert, j->sealed, j->sealed_len, &pw, &pwlen, j->err,
	    sizeof(j->err)) != 0) {
		j->outcome = OUTCOME_FAIL;
		return;
	}
	{
		struct delivery d = { j->number, j->account, j->rdn_value, pw, pwlen };

		j->outcome = delivery_outcome(
			w->target->ops->deliver(w->target, &d, j->err, sizeof(j->err)));
	}
	rg_unseal_free(pw, pwlen);
}

void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->head == NULL) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		j = w->head;
		w->head = j->next;
		if (w->head == NULL)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->mu);

		run_job(w, j);

		pthread_mutex_lock(&w->e->done_mu);
		j->next = w->e->done;
		w->e->done = j;
		pthread_mutex_unlock(&w->e->done_mu);
		event_active(w->e->done_ev, EV_READ, 0);
	}
	if (w->target != NULL)
		w->target->ops->disconnect(w->target);
	if (w->ld != NULL)
		ldap_unbind_ext_s(w->ld, NULL, NULL);
	return NULL;
}

int
worker_enqueue(struct engine *e, struct tstate *s, int is_hook)
{
	struct rec *rc = s->rec;
	struct worker *w = worker_of(e, s, is_hook);
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->state = s;
	j->is_hook = is_hook;
	j->number = rc->r.number;
	j->epoch = (long long)rc->epoch;
	j->claim_until = &rc->claim_until;
	if ((j->account = strdup(rc->r.account)) == NULL ||
	    (j->rdn_value = strdup(rc->rdn_value)) == NULL ||
	    (j->kind = strdup(rc->r.kind ? rc->r.kind : "")) == NULL ||
	    (j->requester = strdup(rc->r.requester ? rc->r.requester : "")) == NULL ||
	    (j->time = strdup(rc->r.time ? rc->r.time : "")) == NULL ||
	    (!is_hook && (j->sealed = malloc(rc->r.sealed_len)) == NULL)) {
		worker_job_free(j);
		return -1;
	}
	if (!is_hook) {
		memcpy(j->sealed, rc->r.sealed, rc->r.sealed_len);
		j->sealed_len = rc->r.sealed_len;
	}
	s->queued = 1;
	pthread_mutex_lock(&w->mu);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Takes s's job back out of its worker's queue; 0 if it is already running. */
int
worker_dequeue(struct engine *e, struct tstate *s, int is_hook)
{
	struct worker *w = worker_of(e, s, is_hook);
	struct job **jp, *j;
	int found = 0;

	pthread_mutex_lock(&w->mu);
	for (jp = &w->head; *jp != NULL; jp = &(*jp)->next) {
		if ((*jp)->state == s) {
			j = *jp;
			*jp = j->next;
			if (*jp == NULL)
				w->tail = jp;
			worker_job_free(j);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	if (found)
		s->queued = 0;
	return found;
}
