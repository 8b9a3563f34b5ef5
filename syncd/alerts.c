/* Alert events. The overlay flags a record when a change raised an anomaly alert (a volume
 * of resets, a run of denials); this thread finds those records, sends each to every hook
 * that alert-hooks names (webhook and exec: the JSON document with "event":"alert"), and
 * when each hook has come to a final outcome writes them all onto the record as
 * rgLogAlertStatus values, "NAME STATUS attempts=N time=T[ error=TEXT]". A record with no
 * such value is still to be sent, so a restart sends again what was in flight (receivers
 * deduplicate on the delivery id) and never loses one.
 *
 * Alerts are rare and may wait a second: the log is asked every second, with its own
 * connection, so the delivery engine's thread and its queue of status writes never wait
 * for an alert hook. Denied records have no password and never reach the engine. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <ldap.h>

#include "alerts.h"
#include "engine.h"
#include "errbuf.h"
#include "hook.h"

#define POLL_SECONDS 1
#define BATCH 100 /* records asked for at once; the rest next time */
#define FILTER "(&(objectClass=rgLogRecord)(rgLogAlert=TRUE)(!(rgLogAlertStatus=*)))"

struct pend {
	unsigned long long number;
	char *dn;
	char *v[7]; /* the attributes of want[], in that order */
	char *uid;  /* the value of the account's first RDN */
	struct hook_event ev;
	enum tstatus *st; /* per alert hook */
	int *attempts;
	char **err;
	time_t next_try;
	int seen;
	struct pend *next;
};

static char *want[] = {"rgLogTarget", "rgLogKind", "rgLogRequester", "rgLogTime", "rgLogDecision",
	"rgLogRule", "rgLogAlertReason", "rgLogChangeNumber", NULL};

struct alerts {
	const struct syncd_config *cfg;
	struct directory *dir;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	LDAP *ld;
	int down; /* the last attempt found no connection */
	struct pend *pending;
	atomic_llong records;
	atomic_llong *attempts, *delivered, *failed;
};

static void
pend_free(struct pend *p, size_t nh)
{
	free(p->dn);
	free(p->uid);
	for (size_t i = 0; i < sizeof(p->v) / sizeof(p->v[0]); i++)
		free(p->v[i]);
	for (size_t i = 0; p->err != NULL && i < nh; i++)
		free(p->err[i]);
	free(p->err);
	free(p->st);
	free(p->attempts);
	free(p);
}

static char *
first_value(LDAP *ld, LDAPMessage *entry, const char *attr)
{
	struct berval **v = ldap_get_values_len(ld, entry, attr);
	char *s = NULL;

	if (v != NULL && v[0] != NULL)
		s = strndup(v[0]->bv_val, v[0]->bv_len);
	ldap_value_free_len(v);
	return s;
}

/* As the password-change events give it: the account's uid, for the usual DN. */
static char *
first_rdn_value(const char *dn)
{
	LDAPDN parsed = NULL;
	char *out = NULL;

	if (dn != NULL && ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
		parsed != NULL && parsed[0] != NULL && parsed[0][0] != NULL)
		out = strndup(parsed[0][0]->la_value.bv_val, parsed[0][0]->la_value.bv_len);
	ldap_dnfree(parsed);
	return out;
}

/* A record found in the log: already known, or a new one to send. */
static void
take(struct alerts *a, LDAPMessage *entry)
{
	size_t nh = a->cfg->nalert_hooks;
	char *num = first_value(a->ld, entry, "rgLogChangeNumber"), *end = NULL;
	unsigned long long n = num != NULL ? strtoull(num, &end, 10) : 0;
	int bad = end == NULL || *end != '\0';
	struct pend *p;

	free(num);
	if (bad)
		return;
	for (p = a->pending; p != NULL; p = p->next)
		if (p->number == n) {
			p->seen = 1;
			return;
		}
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->dn = ldap_get_dn(a->ld, entry)) == NULL ||
		(p->st = calloc(nh, sizeof(*p->st))) == NULL ||
		(p->attempts = calloc(nh, sizeof(*p->attempts))) == NULL ||
		(p->err = calloc(nh, sizeof(*p->err))) == NULL) {
		if (p != NULL)
			pend_free(p, nh);
		return;
	}
	for (size_t i = 0; i < sizeof(p->v) / sizeof(p->v[0]); i++)
		p->v[i] = first_value(a->ld, entry, want[i]);
	p->uid = first_rdn_value(p->v[0]);
	p->number = n;
	p->seen = 1;
	p->ev = (struct hook_event){.number = n,
		.account = p->v[0],
		.rdn_value = p->uid,
		.kind = p->v[1],
		.requester = p->v[2],
		.time = p->v[3],
		.event = "alert",
		.decision = p->v[4],
		.rule = p->v[5],
		.alert_reason = p->v[6]};
	p->next = a->pending;
	a->pending = p;
	atomic_fetch_add(&a->records, 1);
	log_msg(LOG_WARNING, "alert", "ALERT change %llu for %s: %s", n,
		p->v[0] != NULL ? p->v[0] : "?", p->v[6] != NULL ? p->v[6] : "(no reason given)");
}

static void
drop_connection(struct alerts *a, int rc)
{
	if (!directory_broken(rc))
		return;
	ldap_unbind_ext_s(a->ld, NULL, NULL);
	a->ld = NULL;
}

static int
find(struct alerts *a)
{
	struct timeval tv = {a->cfg->op_timeout, 0};
	LDAPMessage *res = NULL;
	char err[SYNCD_ERR];
	int rc;

	if (a->ld == NULL && (a->ld = directory_connect(a->dir, err, sizeof(err))) == NULL) {
		if (!a->down)
			log_msg(LOG_ERR, "alert", "cannot read the reset log for alerts: %s", err);
		a->down = 1;
		return -1;
	}
	a->down = 0;
	rc = ldap_search_ext_s(a->ld, a->cfg->log_base, LDAP_SCOPE_ONELEVEL, FILTER, want, 0, NULL,
		NULL, &tv, BATCH, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		log_msg(LOG_ERR, "alert", "cannot search the reset log for alerts: %s",
			ldap_err2string(rc));
		ldap_msgfree(res);
		drop_connection(a, rc);
		return -1;
	}
	for (struct pend *p = a->pending; p != NULL; p = p->next)
		p->seen = 0;
	for (LDAPMessage *e = ldap_first_entry(a->ld, res); e != NULL;
		e = ldap_next_entry(a->ld, e))
		take(a, e);
	ldap_msgfree(res);
	return 0;
}

static void
now_gentime(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y%m%d%H%M%SZ", &tm);
}

/* Every outcome at once, each hook's value added: 0 when the record has them. */
static int
write_status(struct alerts *a, struct pend *p)
{
	size_t nh = a->cfg->nalert_hooks;
	char **vals = calloc(nh + 1, sizeof(*vals)), when[32];
	LDAPMod mod = {.mod_op = LDAP_MOD_ADD, .mod_type = "rgLogAlertStatus"};
	LDAPMod *mods[] = {&mod, NULL};
	int rc = LDAP_NO_MEMORY;

	now_gentime(when);
	for (size_t i = 0; vals != NULL && i < nh; i++)
		if ((vals[i] = status_format(a->cfg->alert_hooks[i]->name, p->st[i], p->attempts[i],
			     when, p->err[i])) == NULL)
			goto out;
	if (vals == NULL)
		goto out;
	mod.mod_values = vals;
	rc = ldap_modify_ext_s(a->ld, p->dn, mods, NULL, NULL);
	/* Written by another instance, or the record is gone: nothing is left to do. */
	if (rc == LDAP_TYPE_OR_VALUE_EXISTS || rc == LDAP_NO_SUCH_OBJECT)
		rc = LDAP_SUCCESS;
	if (rc != LDAP_SUCCESS) {
		log_msg(LOG_ERR, "alert", "cannot write the alert status of change %llu: %s",
			p->number, ldap_err2string(rc));
		drop_connection(a, rc);
	}
out:
	for (size_t i = 0; vals != NULL && i < nh; i++)
		free(vals[i]);
	free(vals);
	return rc == LDAP_SUCCESS ? 0 : -1;
}

static void
record_outcome(struct alerts *a, struct pend *p, size_t i, enum hook_result res, const char *err)
{
	const struct hook *h = a->cfg->alert_hooks[i];

	p->attempts[i]++;
	atomic_fetch_add(&a->attempts[i], 1);
	free(p->err[i]);
	p->err[i] = res != HOOK_DONE && err[0] != '\0' ? strdup(err) : NULL;
	if (res == HOOK_RETRY && p->attempts[i] < a->cfg->max_attempts) {
		p->st[i] = TS_RETRYING;
		return;
	}
	p->st[i] = res == HOOK_DONE ? TS_DELIVERED : TS_FAILED;
	atomic_fetch_add(res == HOOK_DONE ? &a->delivered[i] : &a->failed[i], 1);
	if (res == HOOK_DONE)
		log_msg(LOG_INFO, "alert", "alert of change %llu sent to hook %s", p->number,
			h->name);
	else
		log_msg(LOG_ERR, "alert", "ALERT change %llu: hook %s failed after %d attempts: %s",
			p->number, h->name, p->attempts[i], err);
}

/* The hooks not final yet, when their time has come; 1 when every hook is final. */
static int
fire_due(struct alerts *a, struct pend *p)
{
	size_t nh = a->cfg->nalert_hooks;
	time_t now = time(NULL);
	int most = 0, final = 1;

	if (p->next_try > now)
		return 0;
	for (size_t i = 0; i < nh; i++) {
		struct hook *h = a->cfg->alert_hooks[i];
		char err[SYNCD_ERR] = "";

		if (status_final(p->st[i]))
			continue;
		record_outcome(a, p, i, h->ops->fire(h, &p->ev, err, sizeof(err)), err);
		if (!status_final(p->st[i])) {
			final = 0;
			most = p->attempts[i] > most ? p->attempts[i] : most;
		}
	}
	if (!final) {
		long delay = (long)a->cfg->retry_base << (most < 20 ? most - 1 : 20);

		p->next_try = now + (delay > a->cfg->retry_max ? a->cfg->retry_max : delay);
	}
	return final;
}

static void
poll_once(struct alerts *a)
{
	size_t nh = a->cfg->nalert_hooks;

	if (find(a) != 0)
		return;
	for (struct pend **pp = &a->pending, *p; (p = *pp) != NULL;) {
		/* Gone from the search: written meanwhile by another instance, or purged. */
		if (!p->seen || (fire_due(a, p) && a->ld != NULL && write_status(a, p) == 0)) {
			*pp = p->next;
			pend_free(p, nh);
		} else {
			pp = &p->next;
		}
	}
}

static void *
alerts_main(void *arg)
{
	struct alerts *a = arg;

	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&a->mu);
		poll_once(a);
		pthread_mutex_lock(&a->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += POLL_SECONDS;
		while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

struct alerts *
alerts_start(const struct syncd_config *cfg, struct directory *dir, char *err, size_t errlen)
{
	struct alerts *a = calloc(1, sizeof(*a));
	size_t nh = cfg->nalert_hooks;

	if (a == NULL || (a->attempts = calloc(nh, sizeof(*a->attempts))) == NULL ||
		(a->delivered = calloc(nh, sizeof(*a->delivered))) == NULL ||
		(a->failed = calloc(nh, sizeof(*a->failed))) == NULL) {
		rg_seterr(err, errlen, "out of memory");
		goto fail;
	}
	a->cfg = cfg;
	a->dir = dir;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (pthread_create(&a->thread, NULL, alerts_main, a) != 0) {
		rg_seterr(err, errlen, "cannot start the alert thread");
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
		goto fail;
	}
	return a;
fail:
	if (a != NULL) {
		free(a->attempts);
		free(a->delivered);
		free(a->failed);
	}
	free(a);
	return NULL;
}

void
alerts_stop(struct alerts *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	while (a->pending != NULL) {
		struct pend *p = a->pending;

		a->pending = p->next;
		pend_free(p, a->cfg->nalert_hooks);
	}
	if (a->ld != NULL)
		ldap_unbind_ext_s(a->ld, NULL, NULL);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->attempts);
	free(a->delivered);
	free(a->failed);
	free(a);
}

long long
alerts_records(struct alerts *a)
{
	return atomic_load(&a->records);
}

size_t
alerts_stats(struct alerts *a, struct alerts_stats *out, size_t max)
{
	size_t n = 0;

	for (; n < a->cfg->nalert_hooks && n < max; n++)
		out[n] = (struct alerts_stats){a->cfg->alert_hooks[n]->name,
			atomic_load(&a->attempts[n]), atomic_load(&a->delivered[n]),
			atomic_load(&a->failed[n])};
	return n;
}
