/* syncd's own connection to the main directory, the one holding the reset log: TLS
 * verified whatever ldap.conf says, bound as syncd, and used by one thread that takes
 * requests in order and hands each back to the event loop. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "errbuf.h"

struct directory {
	const struct syncd_config *cfg;
	char *password;
	struct event *done_ev;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dir_req *head, **tail; /* asked, not started */
	struct dir_req **urgent_tail; /* where the next urgent request goes in that list */
	struct dir_req *done, **done_tail; /* run, not yet handed over */
	atomic_int stop;
	size_t pending; /* loop only */
	LDAP *ld;       /* the thread's */
};

int
directory_broken(int rc)
{
	return rc < 0 || rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
		rc == LDAP_TIMEOUT;
}

const struct syncd_config *
directory_config(struct directory *d)
{
	return d->cfg;
}

int
directory_closing(struct directory *d)
{
	return atomic_load(&d->stop);
}

LDAP *
directory_connect(struct directory *d, char *err, size_t errlen)
{
	const struct syncd_config *cfg = d->cfg;
	LDAP *ld = NULL;
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;
	struct timeval tv = { cfg->op_timeout, 0 };
	struct berval cred = { 0, NULL };

	if ((rc = ldap_initialize(&ld, cfg->log_uri)) != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "log-uri %s: %s", cfg->log_uri, ldap_err2string(rc));
		return NULL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	/* Certificates are verified whatever ldap.conf says. */
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (cfg->tls_ca_file != NULL)
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, cfg->tls_ca_file);
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (cfg->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "StartTLS with %s failed: %s", cfg->log_uri,
			ldap_err2string(rc));
		goto fail;
	}
	if (cfg->sasl_external) {
		rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
	} else {
		cred.bv_val = d->password;
		cred.bv_len = d->password != NULL ? strlen(d->password) : 0;
		rc = ldap_sasl_bind_s(ld, cfg->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	}
	if (rc != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "cannot bind to %s as %s: %s%s", cfg->log_uri,
			cfg->sasl_external ? "SASL EXTERNAL" : cfg->bind_dn, ldap_err2string(rc),
			rc == LDAP_INVALID_CREDENTIALS ? ": check bind-dn and the password in "
			"bind-password-file" : directory_broken(rc) ? ": check log-uri, and that "
			"the server runs and is reachable" : "");
		goto fail;
	}
	return ld;
fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

void
directory_post(struct directory *d, struct dir_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&d->mu);
	*d->done_tail = r;
	d->done_tail = &r->next;
	pthread_mutex_unlock(&d->mu);
	event_active(d->done_ev, EV_READ, 0);
}

static void *
directory_main(void *arg)
{
	struct directory *d = arg;
	struct dir_req *r;

	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (d->head == NULL && !atomic_load(&d->stop))
			pthread_cond_wait(&d->cv, &d->mu);
		if (atomic_load(&d->stop)) {
			pthread_mutex_unlock(&d->mu);
			break;
		}
		r = d->head;
		if ((d->head = r->next) == NULL)
			d->tail = &d->head;
		if (d->urgent_tail == &r->next || !r->urgent)
			d->urgent_tail = &d->head;
		pthread_mutex_unlock(&d->mu);

		r->run(d, &d->ld, r);
		r->finished = 1;
		directory_post(d, r);
	}
	if (d->ld != NULL)
		ldap_unbind_ext_s(d->ld, NULL, NULL);
	d->ld = NULL;
	return NULL;
}

/* Results, in the order they came. */
static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct directory *d = arg;
	struct dir_req *list, *r;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&d->mu);
	list = d->done;
	d->done = NULL;
	d->done_tail = &d->done;
	pthread_mutex_unlock(&d->mu);
	while ((r = list) != NULL) {
		list = r->next;
		if (r->finished)
			d->pending--;
		r->done(r, 0);
	}
}

struct directory *
directory_new(struct event_base *base, const struct syncd_config *cfg, const char *password,
	char *err, size_t errlen)
{
	struct directory *d = calloc(1, sizeof(*d));

	if (d == NULL || (password != NULL && (d->password = strdup(password)) == NULL) ||
	    (d->done_ev = event_new(base, -1, EV_PERSIST, done_cb, d)) == NULL) {
		rg_seterr(err, errlen, "out of memory");
		directory_free(d);
		return NULL;
	}
	d->cfg = cfg;
	d->tail = &d->head;
	d->urgent_tail = &d->head;
	d->done_tail = &d->done;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	if (pthread_create(&d->thread, NULL, directory_main, d) != 0) {
		rg_seterr(err, errlen, "cannot start the directory thread: %s", strerror(errno));
		directory_free(d);
		return NULL;
	}
	d->started = 1;
	return d;
}

void
directory_submit(struct directory *d, struct dir_req *r)
{
	r->finished = 0;
	r->next = NULL;
	d->pending++;
	pthread_mutex_lock(&d->mu);
	if (r->urgent) {
		/* after the urgent ones, before the others */
		r->next = *d->urgent_tail;
		*d->urgent_tail = r;
		if (d->tail == d->urgent_tail)
			d->tail = &r->next;
		d->urgent_tail = &r->next;
	} else {
		*d->tail = r;
		d->tail = &r->next;
	}
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

size_t
directory_pending(struct directory *d)
{
	return d->pending;
}

void
directory_free(struct directory *d)
{
	struct dir_req *r;

	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->mu);
		atomic_store(&d->stop, 1);
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
		/* what was run first, then what never was */
		while ((r = d->done) != NULL) {
			d->done = r->next;
			r->done(r, 1);
		}
		while ((r = d->head) != NULL) {
			d->head = r->next;
			r->done(r, 1);
		}
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
	}
	if (d->done_ev != NULL)
		event_free(d->done_ev);
	if (d->password != NULL) {
		explicit_bzero(d->password, strlen(d->password));
		free(d->password);
	}
	free(d);
}
