/* Following the reset log: an RFC 4533 refreshAndPersist search for the records that still
 * carry a sealed password, driven from the event loop (the connection's descriptor wakes
 * it; nothing polls). On every (re)connect the pending records are read in full first, at
 * any server size limit (logscan.c), and the sync search then asks only for records
 * numbered above the highest one read in each provider's chain (a replicated log has one
 * per provider, resetlog.h, and another's records arrive in any order of numbers against
 * this one's): its refresh, which the size limit also cuts, stays
 * as short as the time between the two, and no cookie is needed to resume -- a record
 * taken just before a crash is found again by the full read. Connecting, binding and that
 * read block, so they are an attempt run by the directory thread (directory.h), whose
 * connection then serves the engine's status writes; the loop only reads the sync search's
 * answers, without waiting. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <lber.h>
#include <openssl/rand.h>

#include "directory.h"
#include "engine.h"
#include "errbuf.h"
#include "logscan.h"
#include "resetlog.h"

#define READ_SLICE 32
#define BATCH 64           /* records of the full read handed to the loop at a time */
#define BACKOFF_MAX 60.0   /* seconds between attempts to follow the log, at most */
#define CHAINS 16          /* providers' chains whose read records the sync search skips */

#define PENDING_FILTER \
	"(&(objectClass=rgLogRecord)(rgLogOutcome=applied)(rgLogSealedPassword=*))"

struct attempt;

struct follower {
	struct event_base *base;
	struct syncd_config *cfg;
	struct engine *e;
	struct directory *dir;
	struct attempt *attempt;    /* with the directory thread */
	LDAP *ld_sync;
	int msgid;
	struct event *read_ev;
	struct event *retry_ev;
	double backoff;             /* the delay's base: doubles with each failure */
	double delay;               /* the last delay, with its jitter */
	int following;              /* the sync search's refresh is done */
};

/* One attempt to follow the log, run by the directory thread: connect both connections,
 * read the pending records, start the sync search. */
struct attempt {
	struct dir_req req;         /* first: the directory hands this back */
	struct follower *f;         /* loop only; NULL once the follower stopped */
	struct engine *e;
	atomic_int cancel;
	struct batch *batch;        /* being filled */
	LDAP *ld_sync;
	int msgid;
	/* The highest number read in each chain; past CHAINS chains, none is skipped: the
	 * engine takes a record it already has only once. */
	struct {
		unsigned chain;
		unsigned long long highest;
	} read[CHAINS];
	size_t nread;
	int unbounded;
	int ok;
	char err[SYNCD_ERR];
};

/* Records of the full read, on their way to the loop. */
struct batch {
	struct dir_req req;
	struct attempt *a;          /* done after its batches: they come first */
	struct log_record r[BATCH];
	size_t n;
};

static char *record_attrs[] = {
	"rgLogChangeNumber", "rgLogTarget", "rgLogKind", "rgLogRequester", "rgLogTime",
	"rgLogSealedPassword", "rgLogTargetStatus", "rgLogHookStatus", NULL
};

static void
submit_entry(struct follower *f, LDAP *ld, LDAPMessage *entry)
{
	struct log_record r;

	if (records_from_entry(ld, entry, &r) != 0)
		return;
	engine_submit(f->e, &r);
	records_free(&r);
}

static void
entry_state(struct follower *f, LDAPMessage *msg)
{
	LDAPControl **ctrls = NULL, *c;
	BerElement *ber = NULL;
	ber_int_t state = -1;
	struct berval uuid;

	if (ldap_get_entry_controls(f->ld_sync, msg, &ctrls) != LDAP_SUCCESS)
		return;
	c = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls, NULL);
	if (c != NULL && (ber = ber_init(&c->ldctl_value)) != NULL &&
	    ber_scanf(ber, "{em", &state, &uuid) != LBER_ERROR) {
		/* A record leaving the filter (its sealed password removed) needs nothing. */
		if (state == LDAP_SYNC_ADD || state == LDAP_SYNC_MODIFY)
			submit_entry(f, f->ld_sync, msg);
	}
	ber_free(ber, 1);
	ldap_controls_free(ctrls);
}

static void disconnect(struct follower *f);
static void follow_failed(struct follower *f, const char *why);
static void readable(evutil_socket_t fd, short what, void *arg);

/* The engine found the directory thread's connection broken: both connections are made
 * anew, and the engine writes what it could not once the new one is set. */
static void
directory_lost(void *arg)
{
	struct follower *f = arg;

	char why[SYNCD_ERR];

	snprintf(why, sizeof(why), "a status write found the connection to %s broken",
		f->cfg->log_uri);
	follow_failed(f, why);
}

static void
disconnect(struct follower *f)
{
	if (f->read_ev != NULL) {
		event_free(f->read_ev);
		f->read_ev = NULL;
	}
	engine_set_connected(f->e, 0, NULL, NULL);
	if (f->ld_sync != NULL)
		ldap_unbind_ext_s(f->ld_sync, NULL, NULL);
	f->ld_sync = NULL;
}

/* Why the server refused (or ended) the sync search, and what to change. */
static void
refusal(struct follower *f, int rc, const char *text, char *buf, size_t len)
{
	const char *who = f->cfg->bind_dn ? f->cfg->bind_dn : "syncd's SASL EXTERNAL identity";
	char hint[1024] = "";

	if (rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION) {
		rg_seterr(buf, len, "the sync search of %s was refused (%s%s%s): the log "
			"database has no syncprov overlay: add it (see resetguard-syncd(8))",
			f->cfg->log_base, ldap_err2string(rc), text && *text ? ": " : "",
			text ? text : "");
		return;
	}
	if (rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_NO_SUCH_OBJECT ||
	    rc == LDAP_SIZELIMIT_EXCEEDED || rc == LDAP_ADMINLIMIT_EXCEEDED ||
	    rc == LDAP_TIMELIMIT_EXCEEDED)
		logscan_hint(rc, f->cfg->bind_dn, f->cfg->log_base, hint, sizeof(hint));
	if (rc == LDAP_SIZELIMIT_EXCEEDED)
		/* a burst during the full read: the next attempt reads it */
		snprintf(hint, sizeof(hint), "more records arrived during the read of the pending "
			"ones than the size limit of %s allows; reading again", who);
	rg_seterr(buf, len, "the sync search of %s ended: %s%s%s%s%s", f->cfg->log_base,
		ldap_err2string(rc), text && *text ? ": " : "", text ? text : "", *hint ? "; " : "",
		hint);
}

static void
search_done(struct follower *f, LDAPMessage *msg)
{
	int err = LDAP_OTHER;
	char *text = NULL, why[SYNCD_ERR];

	ldap_parse_result(f->ld_sync, msg, &err, NULL, &text, NULL, NULL, 0);
	refusal(f, err, text, why, sizeof(why));
	ldap_memfree(text);
	follow_failed(f, why);
}

/* The refresh is over when the server says so with refreshDone, which defaults to TRUE:
 * from then on the log is followed, and the backoff starts afresh. */
static void
sync_info(struct follower *f, LDAPMessage *msg)
{
	char *oid = NULL;
	struct berval *data = NULL, cookie;
	BerElement *ber = NULL;
	ber_int_t done = 1;
	ber_len_t len;
	ber_tag_t tag;

	if (ldap_parse_intermediate(f->ld_sync, msg, &oid, &data, NULL, 0) != LDAP_SUCCESS ||
	    oid == NULL || strcmp(oid, LDAP_SYNC_INFO) != 0 || data == NULL ||
	    (ber = ber_init(data)) == NULL)
		goto out;
	tag = ber_peek_tag(ber, &len);
	if (tag != LDAP_TAG_SYNC_REFRESH_DELETE && tag != LDAP_TAG_SYNC_REFRESH_PRESENT)
		goto out;
	if (ber_scanf(ber, "{") == LBER_ERROR)
		goto out;
	if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE)
		ber_scanf(ber, "m", &cookie);
	if (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDONE)
		ber_scanf(ber, "b", &done);
	if (done && !f->following) {
		f->following = 1;
		f->backoff = 0;
		engine_set_health(f->e, NULL);
		log_msg(LOG_INFO, "follow", "following %s on %s", f->cfg->log_base,
			f->cfg->log_uri);
	}
out:
	ber_free(ber, 1);
	ber_bvfree(data);
	ldap_memfree(oid);
}

static void
readable(evutil_socket_t fd, short what, void *arg)
{
	struct follower *f = arg;
	struct timeval zero = { 0, 0 };
	LDAPMessage *msg;
	char why[SYNCD_ERR];
	int rc, taken = 0;

	(void)fd;
	(void)what;
	/* libldap may read several messages at once: take all it holds before sleeping, but
	 * in slices, so that results, status writes and metrics get their turn in a burst. */
	while (f->ld_sync != NULL) {
		if (taken++ == READ_SLICE) {
			/* More may wait in libldap's buffers, where the descriptor cannot tell. */
			event_active(f->read_ev, EV_READ, 0);
			return;
		}
		if ((rc = ldap_result(f->ld_sync, f->msgid, LDAP_MSG_ONE, &zero, &msg)) == 0)
			break;
		if (rc < 0) {
			snprintf(why, sizeof(why), "lost the connection to %s", f->cfg->log_uri);
			follow_failed(f, why);
			return;
		}
		switch (rc) {
		case LDAP_RES_SEARCH_ENTRY:
			entry_state(f, msg);
			break;
		case LDAP_RES_INTERMEDIATE:
			sync_info(f, msg);
			break;
		case LDAP_RES_SEARCH_RESULT:
			search_done(f, msg);
			ldap_msgfree(msg);
			return;
		default:
			break;
		}
		ldap_msgfree(msg);
	}
}

/* Exponential, with jitter (between half and all of the delay) so that the daemons of a
 * site do not come back in step, up to BACKOFF_MAX. Only following the log resets it: a
 * bind that works while the sync search keeps being refused does not. */
static void
schedule_reconnect(struct follower *f)
{
	unsigned char r;
	double d;
	struct timeval tv;

	f->backoff = f->backoff == 0 ? 1 : f->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
		f->backoff * 2;
	if (RAND_bytes(&r, 1) != 1)
		r = 128;
	d = f->backoff / 2 + f->backoff / 2 * (r / 255.0);
	f->delay = d;
	tv.tv_sec = (time_t)d;
	tv.tv_usec = (suseconds_t)((d - (time_t)d) * 1e6);
	evtimer_add(f->retry_ev, &tv);
}

/* The log cannot be followed now: says why (in the log and on /health), and tries again
 * after the backoff. */
static void
follow_failed(struct follower *f, const char *why)
{
	char health[SYNCD_ERR + 64];

	disconnect(f);
	f->following = 0;
	schedule_reconnect(f);
	log_msg(LOG_WARNING, "follow", "cannot follow the reset log: %s; reconnecting in %.1f s",
		why, f->delay);
	snprintf(health, sizeof(health), "not following the reset log: %s", why);
	engine_set_health(f->e, health);
}

static void
batch_done(struct dir_req *r, int closing)
{
	struct batch *b = (struct batch *)r;

	for (size_t i = 0; i < b->n; i++) {
		/* the follower stopped meanwhile: the engine drains, takes nothing new */
		if (!closing && b->a->f != NULL)
			engine_submit(b->a->e, &b->r[i]);
		records_free(&b->r[i]);
	}
	free(b);
}

static int
post_batch(struct directory *d, struct attempt *a)
{
	struct batch *b = a->batch;

	a->batch = NULL;
	if (b != NULL && b->n > 0) {
		directory_post(d, &b->req);
		return 0;
	}
	free(b);
	return 0;
}

struct scan_arg {
	struct directory *d;
	struct attempt *a;
};

static void
note_read(struct attempt *a, unsigned long long number)
{
	unsigned chain = rg_log_chain(number);
	size_t i;

	for (i = 0; i < a->nread && a->read[i].chain != chain; i++)
		;
	if (i == CHAINS) {
		a->unbounded = 1;
		return;
	}
	if (i == a->nread) {
		a->read[a->nread].chain = chain;
		a->read[a->nread++].highest = 0;
	}
	if (number > a->read[i].highest)
		a->read[i].highest = number;
}

/* Directory thread: one record of the full read, on to the loop in batches. */
static int
recovered(LDAP *ld, LDAPMessage *entry, void *arg)
{
	struct scan_arg *sa = arg;
	struct attempt *a = sa->a;
	struct batch *b = a->batch;

	if (atomic_load(&a->cancel) || directory_closing(sa->d))
		return 1;
	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return 1;
		b->req.done = batch_done;
		b->a = a;
		a->batch = b;
	}
	if (records_from_entry(ld, entry, &b->r[b->n]) != 0)
		return 0;
	note_read(a, b->r[b->n].number);
	if (++b->n == BATCH)
		post_batch(sa->d, a);
	return 0;
}

static void
scan_note(const char *text, void *arg)
{
	(void)arg;
	log_msg(LOG_WARNING, "limits", "%s", text);
}

/* Directory thread: the records left pending by a crash or an outage, whatever the
 * server's size limit. */
static int
recover_pending(struct directory *d, LDAP *ld, struct attempt *a)
{
	const struct syncd_config *cfg = directory_config(d);
	struct scan_arg sa = { d, a };
	struct logscan s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.ld = ld;
	s.base = cfg->log_base;
	s.filter = PENDING_FILTER;
	s.attrs = record_attrs;
	s.identity = cfg->bind_dn;
	s.timeout = cfg->op_timeout;
	s.entry = recovered;
	s.note = scan_note;
	s.arg = &sa;
	rc = logscan_run(&s, a->err, sizeof(a->err));
	post_batch(d, a);
	if (rc > 0)
		rg_seterr(a->err, sizeof(a->err), "stopped while reading the pending records");
	if (rc != 0)
		return -1;
	log_msg(LOG_DEBUG, "follow", "%zu pending record(s) read in %zu search(es)", s.delivered,
		s.searches);
	return 0;
}

/* Directory thread: the sync search, sent; its answers are read by the loop. */
static int
start_sync(struct directory *d, struct attempt *a)
{
	const struct syncd_config *cfg = directory_config(d);
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	LDAPControl ctrl = { 0 }, *ctrls[2] = { &ctrl, NULL };
	char filter[160 + CHAINS * 96];
	size_t len;
	int rc = -1;

	if (ber == NULL)
		goto out;
	/* Only what the full read cannot have seen: in each chain, records numbered above
	 * the highest it read. */
	len = (size_t)snprintf(filter, sizeof(filter), "(&%s", PENDING_FILTER);
	for (size_t i = 0; !a->unbounded && i < a->nread; i++)
		len += (size_t)snprintf(filter + len, sizeof(filter) - len,
			"(!(&(rgLogChangeNumber>=%llu)(rgLogChangeNumber<=%llu)))",
			rg_log_chain_base(a->read[i].chain) + 1, a->read[i].highest);
	snprintf(filter + len, sizeof(filter) - len, ")");
	ber_printf(ber, "{eb}", LDAP_SYNC_REFRESH_AND_PERSIST, 0);
	if (ber_flatten2(ber, &ctrl.ldctl_value, 0) < 0)
		goto out;
	ctrl.ldctl_oid = LDAP_CONTROL_SYNC;
	ctrl.ldctl_iscritical = 1;
	if ((rc = ldap_search_ext(a->ld_sync, cfg->log_base, LDAP_SCOPE_ONELEVEL, filter,
	    record_attrs, 0, ctrls, NULL, NULL, 0, &a->msgid)) != LDAP_SUCCESS) {
		rg_seterr(a->err, sizeof(a->err), "cannot start following %s: %s", cfg->log_base,
			ldap_err2string(rc));
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && a->err[0] == '\0')
		rg_seterr(a->err, sizeof(a->err), "cannot start following: out of memory");
	ber_free(ber, 1);
	return rc;
}

/* Directory thread: the whole attempt. The thread's own connection is made anew with the
 * sync search's, so that the engine writes on one known to work. */
static void
attempt_run(struct directory *d, LDAP **ld, struct dir_req *r)
{
	struct attempt *a = (struct attempt *)r;

	if (*ld != NULL)
		ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
	if (atomic_load(&a->cancel))
		return;
	if ((*ld = directory_connect(d, a->err, sizeof(a->err))) == NULL ||
	    (a->ld_sync = directory_connect(d, a->err, sizeof(a->err))) == NULL ||
	    recover_pending(d, *ld, a) != 0 || start_sync(d, a) != 0)
		goto fail;
	a->ok = 1;
	return;
fail:
	if (a->ld_sync != NULL)
		ldap_unbind_ext_s(a->ld_sync, NULL, NULL);
	a->ld_sync = NULL;
	if (*ld != NULL)
		ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
}

/* The loop: the attempt's outcome. */
static void
attempt_done(struct dir_req *r, int closing)
{
	struct attempt *a = (struct attempt *)r;
	struct follower *f = a->f;
	evutil_socket_t fd;

	if (closing || f == NULL) {
		if (a->ld_sync != NULL)
			ldap_unbind_ext_s(a->ld_sync, NULL, NULL);
		free(a);
		return;
	}
	f->attempt = NULL;
	if (!a->ok) {
		follow_failed(f, a->err);
		free(a);
		return;
	}
	f->ld_sync = a->ld_sync;
	f->msgid = a->msgid;
	free(a);
	if (ldap_get_option(f->ld_sync, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS ||
	    (f->read_ev = event_new(f->base, fd, EV_READ | EV_PERSIST, readable, f)) == NULL ||
	    event_add(f->read_ev, NULL) != 0) {
		follow_failed(f, "cannot watch the directory connection");
		return;
	}
	engine_set_connected(f->e, 1, directory_lost, f);
	/* Entries may already wait in libldap's buffers. */
	event_active(f->read_ev, EV_READ, 0);
}

static void
connect_all(struct follower *f)
{
	struct attempt *a;

	if (f->attempt != NULL)
		return;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		follow_failed(f, "out of memory");
		return;
	}
	a->req.run = attempt_run;
	a->req.done = attempt_done;
	a->f = f;
	a->e = f->e;
	f->attempt = a;
	directory_submit(f->dir, &a->req);
}

static void
reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct follower *f = arg;

	(void)fd;
	(void)what;
	connect_all(f);
}

struct follower *
follow_start(struct event_base *base, struct syncd_config *cfg, struct engine *e, char *err,
	size_t errlen)
{
	struct follower *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->retry_ev = evtimer_new(base, reconnect_cb, f)) == NULL) {
		rg_seterr(err, errlen, "out of memory");
		follow_stop(f);
		return NULL;
	}
	f->base = base;
	f->cfg = cfg;
	f->e = e;
	f->dir = engine_directory(e);
	engine_set_health(e, "connecting to the reset log");
	/* The directory may come up after syncd: keep trying rather than give up. */
	connect_all(f);
	return f;
}

void
follow_stop(struct follower *f)
{
	if (f == NULL)
		return;
	/* an attempt the thread still runs ends without us */
	if (f->attempt != NULL) {
		atomic_store(&f->attempt->cancel, 1);
		f->attempt->f = NULL;
	}
	if (f->read_ev != NULL)
		event_free(f->read_ev);
	if (f->ld_sync != NULL)
		ldap_unbind_ext_s(f->ld_sync, NULL, NULL);
	/* The directory thread keeps its connection: a drain writes the last statuses on it.
	 * Only the callback to this follower goes. */
	if (f->e != NULL)
		engine_set_connected(f->e, engine_connected(f->e), NULL, NULL);
	if (f->retry_ev != NULL)
		event_free(f->retry_ev);
	free(f);
}
