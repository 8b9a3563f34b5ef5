/* Reading slices of the log at once: one thread per slice, each with its own connection and
 * its own callback argument, so that nothing a callback touches is shared. slapd answers
 * each connection's search from a thread of its own; one search is bound by slapd's cost per
 * entry on one thread. The first scan that fails stops the others at their next record. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit.h"

struct jobs {
	const char *base;
	char **attrs;
	int verbose;
	int unpaged_first;
	audit_entry_cb cb;
	int stop;               /* atomic: a scan failed, the others give up */
};

struct job {
	struct jobs *all;
	LDAP *ld;
	const char *filter;
	void *arg;
	int ret;
	int stopped;            /* gave up because another failed: its code is not the cause */
	pthread_t thread;
};

static int
job_entry(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct job *j = arg;

	if (__atomic_load_n(&j->all->stop, __ATOMIC_RELAXED)) {
		j->stopped = 1;
		return AUDIT_ERROR;
	}
	return j->all->cb(ld, e, j->arg);
}

static void *
job_run(void *arg)
{
	struct job *j = arg;

	j->ret = audit_scan(j->ld, j->all->base, j->filter, j->all->attrs, j->all->unpaged_first,
		j->all->verbose, job_entry, j);
	if (j->ret != AUDIT_OK)
		__atomic_store_n(&j->all->stop, 1, __ATOMIC_RELAXED);
	return NULL;
}

int
audit_scan_jobs(LDAP **lds, int n, const char *base, char **filters, char **attrs,
	int unpaged_first, int verbose, audit_entry_cb cb, void **args)
{
	struct jobs all = { base, attrs, verbose, unpaged_first, cb, 0 };
	struct job *j = calloc((size_t)n, sizeof(*j));
	int started = 0, ret = AUDIT_OK;

	if (j == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return AUDIT_ERROR;
	}
	for (int i = 0; i < n; i++) {
		j[i].all = &all;
		j[i].ld = lds[i];
		j[i].filter = filters[i];
		j[i].arg = args[i];
	}
	/* The last slice in this thread; the others in threads of their own. */
	for (; started < n - 1; started++) {
		if (pthread_create(&j[started].thread, NULL, job_run, &j[started]) != 0) {
			fprintf(stderr, PROG ": cannot start a thread for slice %d of %d\n",
				started + 1, n);
			__atomic_store_n(&all.stop, 1, __ATOMIC_RELAXED);
			ret = AUDIT_ERROR;
			break;
		}
	}
	if (ret == AUDIT_OK)
		job_run(&j[n - 1]);
	for (int i = 0; i < started; i++)
		pthread_join(j[i].thread, NULL);
	for (int i = 0; i < n && ret == AUDIT_OK; i++)
		if ((i < started || i == n - 1) && j[i].ret != AUDIT_OK && !j[i].stopped)
			ret = j[i].ret;
	for (int i = 0; i < n && ret == AUDIT_OK; i++)
		if ((i < started || i == n - 1) && j[i].ret != AUDIT_OK)
			ret = j[i].ret;
	free(j);
	return ret;
}
