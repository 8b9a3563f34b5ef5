/* Anomaly alerts: what no single decision sees, a volume of resets across the
 * organisation or a run of denials against one account or by one requester.
 *
 * Each is a threshold over a sliding window (resetguard-alert-*, off unless configured).
 * Every change that brings its count within the window to the threshold or above raises
 * the alert: a log line at the level slapd always logs, and its own record flagged
 * (rgLogAlert TRUE, rgLogAlertReason, rgLogReviewRequired TRUE), which syncd turns into an
 * alert event for its hooks. Runs of denials are counted in the reset log itself, so they
 * see every record, whichever provider wrote it and across restarts; the volume, counted on
 * every allowed reset, is kept in memory (the times of the last threshold resets) so that a
 * busy directory pays no search for it. */
#include "resetguard.h"
#include "slap-config.h"

struct rg_alerts {
	struct {
		int count;                  /* 0: off */
		int window;                 /* seconds */
	} t[RG_ALERT_COUNT];
	time_t *ring;                       /* times of the last t[VOLUME].count resets */
	int ring_n, ring_next;
};

void
rg_alerts_init(rg_info *ri)
{
	ri->ri_alerts = ch_calloc(1, sizeof(*ri->ri_alerts));
}

void
rg_alerts_free(rg_info *ri)
{
	if (ri->ri_alerts == NULL)
		return;
	ch_free(ri->ri_alerts->ring);
	ch_free(ri->ri_alerts);
	ri->ri_alerts = NULL;
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

	if (count == 0 || al->ring == NULL || !dec->allowed || !is_reset(req->kind))
		return;
	al->ring[al->ring_next] = (time_t)req->now;
	al->ring_next = (al->ring_next + 1) % count;
	if (al->ring_n < count)
		al->ring_n++;
	/* The oldest of the last count resets is within the window: count resets are. */
	if (al->ring_n == count && (time_t)req->now - al->ring[al->ring_next] < window)
		raise_alert(op, ri, RG_ALERT_VOLUME, dec, reason, len, "volume: %d or more resets "
			"in the last %d seconds (threshold %d)", count, window, count);
}

static void
check_denials(Operation *op, rg_info *ri, const struct rg_request *req,
	struct rg_decision *dec, enum rg_alert a, char *reason, size_t len)
{
	struct rg_alerts *al = ri->ri_alerts;
	int per_requester = a == RG_ALERT_REQUESTER_DENIALS;
	struct berval *who = per_requester ? &op->o_ndn : &op->o_req_ndn;
	long long n;

	if (al->t[a].count == 0 || dec->allowed || BER_BVISEMPTY(who))
		return;
	n = rg_log_count_denied(op, ri, per_requester, who, req->now - al->t[a].window + 1);
	if (n < 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: cannot count the denials %s \"%s\" in the "
			"reset log; no %s alert was checked\n", op->o_log_prefix,
			per_requester ? "by" : "of", who->bv_val, rg_alert_name(a));
		return;
	}
	/* This denial is not recorded yet. */
	if (n + 1 >= al->t[a].count)
		raise_alert(op, ri, a, dec, reason, len, "%s: %lld denied changes %s \"%s\" in the "
			"last %d seconds (threshold %d)", rg_alert_name(a), n + 1,
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
	} else if (parse_int(c, "count", c->argv[1], 1000000, &count) != 0 ||
	    parse_int(c, "window", c->argv[2], 30 * 86400, &window) != 0) {
		return 1;
	}
	al->t[a].count = count;
	al->t[a].window = window;
	if (a == RG_ALERT_VOLUME) {
		/* Changed while the server is paused for configuration: no judge runs. */
		ch_free(al->ring);
		al->ring = count > 0 ? ch_calloc(count, sizeof(*al->ring)) : NULL;
		al->ring_n = al->ring_next = 0;
	}
	return 0;
}
