/* Anomaly alerts: what no single decision sees, a volume of resets across the
 * organisation or a run of denials against one account or by one requester.
 *
 * Each is a threshold over a sliding window (resetguard-alert-*, off unless configured).
 * Every change that brings its count within the window to the threshold or above raises
 * the alert: a log line at the level slapd always logs, and its own record flagged
 * (rgLogAlert TRUE, rgLogAlertReason, rgLogReviewRequired TRUE), which syncd turns into an
 * alert event for its hooks.
 *
 * The counts are kept in memory, as the times of the last threshold events (for the whole
 * database, or per account and per requester): O(1) per change. Counting in the reset log
 * instead was measured at 5 times the cost of a denial once a requester had 2000 denied
 * records (the log has no usable index on time, so such a count reads every denied record
 * of that requester): an attacker's every denial would have made the next one dearer. The
 * price: counts start afresh when slapd starts, and each provider counts its own changes. */
#include "resetguard.h"
#include "slap-config.h"

#include "ldap_avl.h"

/* Identities followed per denial alert; past it, stale ones are dropped first, and an
 * identity that finds no room is not followed (said once in the log). */
#define RG_RUNS_MAX 50000

/* The times of the last count events, oldest at next once full. */
struct rg_ring {
	int n, next;
	time_t t[];
};

/* One account's or one requester's denials. */
struct rg_run {
	struct berval dn;                   /* normalized */
	struct rg_ring ring;                /* last: its times follow */
};

struct rg_alerts {
	struct {
		int count;                  /* 0: off */
		int window;                 /* seconds */
	} t[RG_ALERT_COUNT];
	struct rg_ring *volume;             /* t[VOLUME].count resets */
	Avlnode *runs[RG_ALERT_COUNT];      /* struct rg_run, by DN: the denial alerts */
	int nruns[RG_ALERT_COUNT];
	int full_said[RG_ALERT_COUNT];
};

void
rg_alerts_init(rg_info *ri)
{
	ri->ri_alerts = ch_calloc(1, sizeof(*ri->ri_alerts));
}

static int
run_cmp(const void *a, const void *b)
{
	const struct rg_run *x = a, *y = b;

	return ber_bvcmp(&x->dn, &y->dn);
}

static void
run_free(void *p)
{
	ch_free(p);
}

static void
runs_clear(struct rg_alerts *al, enum rg_alert a)
{
	ldap_avl_free(al->runs[a], run_free);
	al->runs[a] = NULL;
	al->nruns[a] = 0;
	al->full_said[a] = 0;
}

void
rg_alerts_free(rg_info *ri)
{
	if (ri->ri_alerts == NULL)
		return;
	ch_free(ri->ri_alerts->volume);
	for (int a = 0; a < RG_ALERT_COUNT; a++)
		runs_clear(ri->ri_alerts, a);
	ch_free(ri->ri_alerts);
	ri->ri_alerts = NULL;
}

/* Adds an event at now; whether count of them (all the ring holds) are within window. */
static int
ring_push(struct rg_ring *r, int count, time_t now, int window)
{
	r->t[r->next] = now;
	r->next = (r->next + 1) % count;
	if (r->n < count)
		r->n++;
	return r->n == count && now - r->t[r->next] < window;
}

static time_t
ring_newest(const struct rg_ring *r, int count)
{
	return r->t[(r->next + count - 1) % count];
}

/* A reset moves passwords away from their holders' knowledge: a self-change does not, and
 * provisioning creates accounts rather than resetting them. */
static int
is_reset(enum rg_kind kind)
{
	return kind == RG_KIND_SELF_SERVICE || kind == RG_KIND_DELEGATED ||
		kind == RG_KIND_BREAK_GLASS;
}

static void
raise_alert(Operation *op, rg_info *ri, enum rg_alert a, struct rg_decision *dec,
	char *reason, size_t len, const char *fmt, ...)
{
	size_t used = strlen(reason);
	va_list ap;

	if (used > 0 && used + 2 < len) {
		memcpy(reason + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	if (used < len)
		vsnprintf(reason + used, len - used, fmt, ap);
	va_end(ap);
	Debug(LDAP_DEBUG_ANY, "%s resetguard: ALERT %s\n", op->o_log_prefix, reason + used);
	rg_monitor_alert(ri, a);
	dec->alert = 1;
	dec->review_required = 1;
}

static void
check_volume(Operation *op, rg_info *ri, const struct rg_request *req,
	struct rg_decision *dec, char *reason, size_t len)
{
	struct rg_alerts *al = ri->ri_alerts;
	int count = al->t[RG_ALERT_VOLUME].count, window = al->t[RG_ALERT_VOLUME].window;

	if (count == 0 || al->volume == NULL || !dec->allowed || !is_reset(req->kind))
		return;
	if (ring_push(al->volume, count, (time_t)req->now, window))
		raise_alert(op, ri, RG_ALERT_VOLUME, dec, reason, len, "volume: %d or more resets "
			"in the last %d seconds (threshold %d)", count, window, count);
}

struct sweep {
	time_t stale;                       /* newest event at or before it: forgotten */
	int count;
	struct rg_run **v;
	int n;
};

static int
collect_stale(void *data, void *arg)
{
	struct rg_run *run = data;
	struct sweep *sw = arg;

	if (ring_newest(&run->ring, sw->count) <= sw->stale)
		sw->v[sw->n++] = run;
	return 0;
}

/* Room for another identity: those with no denial within the window go first. */
static int
make_room(struct rg_alerts *al, enum rg_alert a, time_t now)
{
	struct sweep sw = { now - al->t[a].window, al->t[a].count, NULL, 0 };

	if (al->nruns[a] < RG_RUNS_MAX)
		return 0;
	sw.v = ch_malloc(al->nruns[a] * sizeof(*sw.v));
	ldap_avl_apply(al->runs[a], collect_stale, &sw, -1, AVL_INORDER);
	for (int i = 0; i < sw.n; i++) {
		ldap_avl_delete(&al->runs[a], sw.v[i], run_cmp);
		ch_free(sw.v[i]);
	}
	al->nruns[a] -= sw.n;
	ch_free(sw.v);
	return al->nruns[a] < RG_RUNS_MAX ? 0 : -1;
}

static struct rg_run *
find_run(Operation *op, struct rg_alerts *al, enum rg_alert a, struct berval *dn, time_t now)
{
	struct rg_run key = { *dn }, *run = ldap_avl_find(al->runs[a], &key, run_cmp);

	if (run != NULL)
		return run;
	if (make_room(al, a, now) != 0) {
		if (!al->full_said[a]++)
			Debug(LDAP_DEBUG_ANY, "%s resetguard: %d identities already followed for %s "
				"alerts, all with denials within the window; \"%s\" and others are not "
				"followed until some fall out of it\n", op->o_log_prefix, RG_RUNS_MAX,
				rg_alert_name(a), dn->bv_val);
		return NULL;
	}
	/* The DN's bytes after the ring's times, in one allocation. */
	run = ch_calloc(1, sizeof(*run) + al->t[a].count * sizeof(time_t) + dn->bv_len + 1);
	run->dn.bv_val = (char *)&run->ring.t[al->t[a].count];
	run->dn.bv_len = dn->bv_len;
	memcpy(run->dn.bv_val, dn->bv_val, dn->bv_len);
	ldap_avl_insert(&al->runs[a], run, run_cmp, ldap_avl_dup_error);
	al->nruns[a]++;
	return run;
}

static void
check_denials(Operation *op, rg_info *ri, const struct rg_request *req,
	struct rg_decision *dec, enum rg_alert a, char *reason, size_t len)
{
	struct rg_alerts *al = ri->ri_alerts;
	int per_requester = a == RG_ALERT_REQUESTER_DENIALS;
	struct berval *who = per_requester ? &op->o_ndn : &op->o_req_ndn;
	struct rg_run *run;

	if (al->t[a].count == 0 || dec->allowed || BER_BVISEMPTY(who) ||
	    (run = find_run(op, al, a, who, (time_t)req->now)) == NULL)
		return;
	if (ring_push(&run->ring, al->t[a].count, (time_t)req->now, al->t[a].window))
		raise_alert(op, ri, a, dec, reason, len, "%s: %d or more denied changes %s \"%s\" "
			"in the last %d seconds (threshold %d)", rg_alert_name(a), al->t[a].count,
			per_requester ? "by" : "of", who->bv_val, al->t[a].window, al->t[a].count);
}

void
rg_alerts_check(Operation *op, rg_info *ri, const struct rg_request *req,
	struct rg_decision *dec, char *reason, size_t len)
{
	reason[0] = '\0';
	check_volume(op, ri, req, dec, reason, len);
	check_denials(op, ri, req, dec, RG_ALERT_TARGET_DENIALS, reason, len);
	check_denials(op, ri, req, dec, RG_ALERT_REQUESTER_DENIALS, reason, len);
}

static int
parse_int(ConfigArgs *c, const char *what, const char *s, long hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < 1 || v > hi) {
		snprintf(c->cr_msg, sizeof(c->cr_msg), "%s: %s \"%s\" is not a whole number from "
			"1 to %ld", c->argv[0], what, s, hi);
		Debug(LDAP_DEBUG_ANY, "%s: %s\n", c->log, c->cr_msg);
		return 1;
	}
	*out = (int)v;
	return 0;
}

/* resetguard-alert-volume, -target-denials, -requester-denials: COUNT SECONDS. */
int
rg_alerts_config(ConfigArgs *c, rg_info *ri, enum rg_alert a)
{
	struct rg_alerts *al = ri->ri_alerts;
	int count, window;

	if (c->op == SLAP_CONFIG_EMIT) {
		char buf[64];
		struct berval bv;

		if (al->t[a].count == 0)
			return 1;
		bv.bv_val = buf;
		bv.bv_len = snprintf(buf, sizeof(buf), "%d %d", al->t[a].count, al->t[a].window);
		value_add_one(&c->rvalue_vals, &bv);
		return 0;
	}
	if (c->op == LDAP_MOD_DELETE) {
		count = window = 0;
	} else if (parse_int(c, "count", c->argv[1], a == RG_ALERT_VOLUME ? 1000000 : 1000,
	    &count) != 0 ||
	    parse_int(c, "window", c->argv[2], 30 * 86400, &window) != 0) {
		return 1;
	}
	/* Changed while the server is paused for configuration: no judge runs. The counts
	 * start afresh, sized for the new threshold. */
	al->t[a].count = count;
	al->t[a].window = window;
	if (a == RG_ALERT_VOLUME) {
		ch_free(al->volume);
		al->volume = count > 0 ? ch_calloc(1, sizeof(*al->volume) + count * sizeof(time_t)) :
			NULL;
	} else {
		runs_clear(al, a);
	}
	return 0;
}
