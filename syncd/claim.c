/* Several syncd instances on one log: each record is delivered under one instance's claim
 * (rgLogClaim, claimdir.h). Every instance follows the whole log and tries to claim each
 * record it sees; the claim is an LDAP Modify guarded by the Assertion control, so of two
 * instances one wins and the other waits for the claim to run out. The winner renews its
 * claims every third of a lease while it lives, and drops each with the record's final
 * status; a dead instance's claims run out and are taken over. The order of an account's
 * changes across instances is kept by the delivery check (records.c): a record waits
 * while another instance holds a live claim on an older change of the same account. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openssl/rand.h>

#include "engine-private.h"
#include "errbuf.h"

enum claim_result { CL_CLAIMED, CL_HELD, CL_GONE, CL_ERROR, CL_LOST, CL_RENEWED };

/* A record this instance is claiming, or one it waits for while another holds it. */
struct watch {
	struct engine *e;
	unsigned long long number;
	char *dn;
	int claiming;               /* a claim request is with the directory thread */
	struct event *timer;        /* tries again when it fires */
	struct watch *next;
};

struct claim_req {
	struct dir_req req;         /* first: the directory hands this back */
	struct engine *e;
	struct watch *w;            /* a claim, or */
	struct rec *rc;             /* a renewal */
	char *dn;
	/* the result */
	enum claim_result result;
	struct log_record r;        /* CL_CLAIMED: the record as the claim found it */
	char value[CLAIM_MAX];      /* CL_CLAIMED: the claim written */
	char previous[CLAIM_MAX];   /* the claim it replaced, "" if none */
	time_t until;               /* CL_CLAIMED: ours; CL_HELD: the holder's */
	int lost;                   /* the connection was found broken */
	char why[SYNCD_ERR];
};

static char *claim_attrs[] = {
	"rgLogChangeNumber", "rgLogTarget", "rgLogKind", "rgLogRequester", "rgLogTime",
	"rgLogSealedPassword", "rgLogTargetStatus", "rgLogHookStatus", "rgLogOutcome",
	CLAIM_ATTR, NULL
};

static int
modify_claim(LDAP *ld, const char *dn, const char *assert_value, const char *new_value)
{
	char *vals[] = { (char *)new_value, NULL };
	LDAPMod mod = { LDAP_MOD_REPLACE, CLAIM_ATTR, { vals } }, *mods[] = { &mod, NULL };
	LDAPControl *ctrl = NULL, *ctrls[2] = { NULL, NULL };
	int rc;

	if ((rc = claimdir_assertion(ld, assert_value, &ctrl)) != LDAP_SUCCESS)
		return rc;
	ctrls[0] = ctrl;
	rc = ldap_modify_ext_s(ld, dn, mods, ctrls, NULL);
	ldap_control_free(ctrl);
	return rc;
}

/* Directory thread: reads the record afresh (what another instance may have delivered
 * meanwhile shows in its status) and claims it if nobody else holds a live claim. */
static void
claim_run(struct directory *d, LDAP **ld, struct dir_req *r)
{
	struct claim_req *q = (struct claim_req *)r;
	const struct syncd_config *cfg = directory_config(d);
	struct timeval tv = { cfg->op_timeout, 0 };
	struct berval **cur = NULL, **outcome = NULL;
	LDAPMessage *res = NULL, *m;
	char holder[CLAIM_MAX];
	time_t now = time(NULL), held_until = 0;
	int rc;

	q->result = CL_ERROR;
	if (*ld == NULL) {
		rg_seterr(q->why, sizeof(q->why), "not connected to %s", cfg->log_uri);
		return;
	}
	rc = ldap_search_ext_s(*ld, q->dn, LDAP_SCOPE_BASE, "(objectClass=rgLogRecord)",
		claim_attrs, 0, NULL, NULL, &tv, 1, &res);
	if (rc == LDAP_NO_SUCH_OBJECT || (rc == LDAP_SUCCESS &&
	    (m = ldap_first_entry(*ld, res)) == NULL)) {
		q->result = CL_GONE;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		rg_seterr(q->why, sizeof(q->why), "cannot read %s: %s", q->dn, ldap_err2string(rc));
		q->lost = directory_broken(rc);
		goto out;
	}
	outcome = ldap_get_values_len(*ld, m, "rgLogOutcome");
	/* delivered and closed meanwhile, or never to be delivered */
	if (outcome == NULL || outcome[0] == NULL || outcome[0]->bv_len != 7 ||
	    memcmp(outcome[0]->bv_val, "applied", 7) != 0 ||
	    records_from_entry(*ld, m, &q->r) != 0) {
		q->result = CL_GONE;
		goto out;
	}
	if ((cur = ldap_get_values_len(*ld, m, CLAIM_ATTR)) != NULL && cur[0] != NULL) {
		snprintf(q->previous, sizeof(q->previous), "%.*s", (int)cur[0]->bv_len,
			cur[0]->bv_val);
		/* An unreadable claim holds nothing: it is replaced like a dead one. One of
		 * this instance's own id, left by an earlier run that died, is waited out like
		 * any other: a delivery of that run (a store program it started) may still be
		 * under way. */
		if (claimdir_parse(q->previous, holder, sizeof(holder), &held_until) == 0 &&
		    held_until >= now) {
			q->result = CL_HELD;
			q->until = held_until;
			goto out;
		}
	}
	q->until = now + cfg->claim_lease;
	if (claimdir_format(q->value, sizeof(q->value), cfg->instance, q->until) != 0) {
		rg_seterr(q->why, sizeof(q->why), "instance %s cannot be written in a claim",
			cfg->instance);
		goto out;
	}
	rc = modify_claim(*ld, q->dn, q->previous[0] != '\0' ? q->previous : NULL, q->value);
	if (rc == LDAP_SUCCESS) {
		q->result = CL_CLAIMED;
	} else if (rc == LDAP_ASSERTION_FAILED) {
		/* another instance was quicker: its claim lasts a lease from now */
		q->result = CL_HELD;
		q->until = now + cfg->claim_lease;
	} else if (rc == LDAP_NO_SUCH_OBJECT) {
		q->result = CL_GONE;
	} else {
		rg_seterr(q->why, sizeof(q->why), "cannot claim %s: %s%s", q->dn,
			ldap_err2string(rc), rc == LDAP_INSUFFICIENT_ACCESS ? "; grant syncd "
			"write access to " CLAIM_ATTR " on the records (see slapo-resetguard(5))" :
			rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION ? "; the log server lacks the "
			"Assertion control (RFC 4528) that claims need: run one instance with "
			"single-instance yes (resetguard-syncd.conf(5))" : "");
		q->lost = directory_broken(rc);
	}
out:
	if (q->result != CL_CLAIMED)
		records_free(&q->r);
	ber_bvecfree(cur);
	ber_bvecfree(outcome);
	ldap_msgfree(res);
}

/* Directory thread: one more lease on a claim this instance holds. A claim that came
 * within a quarter lease of running out is given up, not renewed: another instance may
 * already have judged it dead and delivered a newer change of the account; the record is
 * claimed again from scratch, with its delivery check. */
static void
renew_run(struct directory *d, LDAP **ld, struct dir_req *r)
{
	struct claim_req *q = (struct claim_req *)r;
	struct rec *rc = q->rc;
	const struct syncd_config *cfg = directory_config(d);
	time_t now = time(NULL), until = now + cfg->claim_lease;
	char value[CLAIM_MAX];
	int ldrc;

	q->result = CL_ERROR;
	if (atomic_load(&rc->claim_until) - now < cfg->claim_lease / 4) {
		q->result = CL_LOST;
		rg_seterr(q->why, sizeof(q->why), "its claim ran out before it could be renewed");
		return;
	}
	if (*ld == NULL || claimdir_format(value, sizeof(value), cfg->instance, until) != 0)
		return;
	ldrc = modify_claim(*ld, q->dn, rc->claim, value);
	if (ldrc == LDAP_SUCCESS) {
		memcpy(rc->claim, value, sizeof(value));
		atomic_store(&rc->claim_until, until);
		q->result = CL_RENEWED;
	} else if (ldrc == LDAP_ASSERTION_FAILED || ldrc == LDAP_NO_SUCH_OBJECT) {
		q->result = CL_LOST;
		rg_seterr(q->why, sizeof(q->why), "another instance holds its claim now");
	} else {
		q->lost = directory_broken(ldrc);
	}
}

static void
claim_req_free(struct claim_req *q)
{
	records_free(&q->r);
	free(q->dn);
	free(q);
}

static struct watch *
find_watch(struct engine *e, unsigned long long n)
{
	for (struct watch *w = e->watches; w != NULL; w = w->next)
		if (w->number == n)
			return w;
	return NULL;
}

static void
unwatch(struct engine *e, struct watch *w)
{
	for (struct watch **p = &e->watches; *p != NULL; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (w->timer != NULL)
		event_free(w->timer);
	free(w->dn);
	free(w);
}

static void claim_done(struct dir_req *r, int closing);

static void
start_claim(struct engine *e, struct watch *w)
{
	struct claim_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->dn = strdup(w->dn)) == NULL) {
		free(q);
		claim_watch(e, w->number, w->dn, e->cfg->retry_base);
		return;
	}
	q->req.run = claim_run;
	q->req.done = claim_done;
	q->req.urgent = 1;
	q->e = e;
	q->w = w;
	w->claiming = 1;
	e->requests++;
	directory_submit(e->dir, &q->req);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;

	(void)fd;
	(void)what;
	if (w->e->draining)
		unwatch(w->e, w);
	else
		start_claim(w->e, w);
}

void
claim_watch(struct engine *e, unsigned long long number, const char *dn, double delay)
{
	struct watch *w = find_watch(e, number);
	unsigned char jitter;
	struct timeval tv;

	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL || (w->dn = strdup(dn)) == NULL) {
			free(w);
			log_msg(LOG_ERR, "claim", "change %llu: out of memory; it is taken again "
				"after a restart", number);
			return;
		}
		w->e = e;
		w->number = number;
		w->next = e->watches;
		e->watches = w;
	}
	if (w->timer == NULL && (w->timer = evtimer_new(e->base, watch_cb, w)) == NULL) {
		log_msg(LOG_ERR, "claim", "change %llu: out of memory; it is taken again after a "
			"restart", number);
		return;
	}
	/* Instances waiting for the same dead claim do not all ask at the same instant. */
	if (RAND_bytes(&jitter, 1) != 1)
		jitter = 128;
	delay += jitter / 512.0;
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (time_t)delay) * 1e6);
	evtimer_add(w->timer, &tv);
}

static void
claim_done(struct dir_req *r, int closing)
{
	struct claim_req *q = (struct claim_req *)r;
	struct engine *e = q->e;
	struct watch *w = q->w;
	time_t now = time(NULL);

	if (closing) {
		claim_req_free(q);
		return;
	}
	e->requests--;
	w->claiming = 0;
	if (q->lost && e->connected)
		event_active(e->lost_ev, EV_READ, 0);
	switch (q->result) {
	case CL_CLAIMED:
		if (q->previous[0] != '\0') {
			e->claims_taken_over++;
			log_msg(LOG_WARNING, "claim-taken-over", "change %llu for %s: claimed "
				"after the claim \"%s\" ran out", q->r.number, q->r.account,
				q->previous);
		}
		unwatch(e, w);
		e->take(e, &q->r, q->value, q->until);
		break;
	case CL_HELD:
		log_msg(LOG_DEBUG, "claim", "change %llu is another instance's until %lld",
			w->number, (long long)q->until);
		claim_watch(e, w->number, w->dn, q->until > now ? q->until - now + 1 : 1);
		break;
	case CL_ERROR:
		log_msg(LOG_WARNING, "claim", "change %llu: %s; trying again", w->number, q->why);
		claim_watch(e, w->number, w->dn, e->cfg->retry_base);
		break;
	default:   /* CL_GONE */
		unwatch(e, w);
		break;
	}
	claim_req_free(q);
	e->check_drained(e);
}

void
claim_submit(struct engine *e, const struct log_record *r)
{
	struct watch *w = find_watch(e, r->number);

	/* Alone on the log (single-instance yes), it delivers every record without a claim:
	 * the one way on a server without the Assertion control. */
	if (e->cfg->single_instance) {
		e->take(e, r, "", (time_t)LLONG_MAX);
		return;
	}
	if (w != NULL)
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->dn = strdup(r->dn)) == NULL) {
		free(w);
		log_msg(LOG_ERR, "claim", "cannot claim change %llu: out of memory; it is taken "
			"again after a restart", r->number);
		return;
	}
	w->e = e;
	w->number = r->number;
	w->next = e->watches;
	e->watches = w;
	start_claim(e, w);
}

int
claim_known(struct engine *e, unsigned long long n)
{
	return find_watch(e, n) != NULL;
}

static void
renew_done(struct dir_req *r, int closing)
{
	struct claim_req *q = (struct claim_req *)r;
	struct engine *e = q->e;
	struct rec *rc = q->rc;

	if (closing) {
		claim_req_free(q);
		return;
	}
	e->requests--;
	rc->renewing = 0;
	if (q->lost && e->connected)
		event_active(e->lost_ev, EV_READ, 0);
	/* a claim dropped with the final status while this renewal waited is not lost */
	if (q->result == CL_LOST && !rc->lost && !rc->released) {
		e->claims_lost++;
		log_msg(LOG_WARNING, "claim-lost", "change %llu for %s: %s; this instance stops "
			"delivering it", rc->r.number, rc->r.account, q->why);
		claim_req_free(q);
		e->lose(e, rc);   /* rc may be gone */
		e->check_drained(e);
		return;
	}
	if (q->result == CL_ERROR)
		log_msg(LOG_WARNING, "claim", "change %llu: cannot renew its claim now; "
			"trying again", rc->r.number);
	claim_req_free(q);
	e->renewed(e, rc);   /* rc may be gone */
	e->check_drained(e);
}

void
claim_renew_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	(void)fd;
	(void)what;
	if (e->cfg->single_instance)
		return;
	for (struct rec *rc = e->recs; rc != NULL; rc = rc->next) {
		struct claim_req *q;

		if (rc->renewing || rc->lost || rc->released)
			continue;
		if ((q = calloc(1, sizeof(*q))) == NULL || (q->dn = strdup(rc->r.dn)) == NULL) {
			free(q);
			return;   /* the next round tries again */
		}
		q->req.run = renew_run;
		q->req.done = renew_done;
		q->req.urgent = 1;
		q->e = e;
		q->rc = rc;
		rc->renewing = 1;
		e->requests++;
		directory_submit(e->dir, &q->req);
	}
}

size_t
claim_waiting(struct engine *e)
{
	size_t n = 0;

	for (struct watch *w = e->watches; w != NULL; w = w->next)
		n++;
	return n;
}

void
claim_free_all(struct engine *e)
{
	while (e->watches != NULL)
		unwatch(e, e->watches);
}
