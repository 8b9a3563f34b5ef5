/* Health and Prometheus metrics on a loopback HTTP port (libevent's evhttp). The figures
 * are read in the event loop that owns them, so no locking is needed. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "alerts.h"
#include "engine.h"
#include "errbuf.h"

#define MAX_STATS 512 /* targets and hooks */

struct metrics {
	struct evhttp *http;
	struct engine *e;
	struct alerts *alerts;
};

static void
health(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *out = evbuffer_new();
	const char *problem = engine_health(m->e);
	int ok = problem == NULL;

	if (out == NULL)
		return;
	evbuffer_add_printf(out, "%s\n", ok ? "ok" : problem);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evhttp_send_reply(req, ok ? HTTP_OK : 503, ok ? "OK" : "Service Unavailable", out);
	evbuffer_free(out);
}

/* One family: its HELP and TYPE, then a sample per target (or per hook). */
static void
family(struct evbuffer *out, const struct engine_stats *st, size_t n, int hooks,
	const char *name, const char *type, const char *help, size_t field)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++)
		if (st[i].is_hook == hooks)
			evbuffer_add_printf(out, "%s{%s=\"%s\"} %lld\n", name,
				hooks ? "hook" : "target", st[i].name,
				*(const long long *)((const char *)&st[i] + field));
}

/* The alert events, when alert-hooks names hooks. */
static void
alert_families(struct evbuffer *out, struct alerts *a)
{
	struct alerts_stats st[MAX_STATS];
	size_t n;
	static const struct {
		const char *name, *help;
		size_t field;
	} fam[] = {
		{ "resetguard_syncd_alert_hook_attempts_total", "Alert hook runs.",
		  offsetof(struct alerts_stats, attempts) },
		{ "resetguard_syncd_alert_hook_delivered_total", "Alert events a hook took.",
		  offsetof(struct alerts_stats, delivered) },
		{ "resetguard_syncd_alert_hook_failures_total", "Alert events a hook failed "
		  "for good.", offsetof(struct alerts_stats, failed) },
	};

	if (a == NULL)
		return;
	n = alerts_stats(a, st, MAX_STATS);
	evbuffer_add_printf(out, "# HELP resetguard_syncd_alerts_total Records flagged with an "
		"alert, taken for the alert hooks.\n# TYPE resetguard_syncd_alerts_total counter\n"
		"resetguard_syncd_alerts_total %lld\n", alerts_records(a));
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n", fam[f].name,
			fam[f].help, fam[f].name);
		for (size_t i = 0; i < n; i++)
			evbuffer_add_printf(out, "%s{hook=\"%s\"} %lld\n", fam[f].name, st[i].hook,
				*(const long long *)((const char *)&st[i] + fam[f].field));
	}
}

static void
metrics(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct engine_stats st[MAX_STATS];
	size_t n = engine_stats(m->e, st, MAX_STATS);
	struct engine_claims cl;
	struct evbuffer *out = evbuffer_new();

	if (out == NULL)
		return;
	evbuffer_add_printf(out,
		"# HELP resetguard_syncd_records_total Log records taken for delivery.\n"
		"# TYPE resetguard_syncd_records_total counter\n"
		"resetguard_syncd_records_total %lld\n", engine_records_total(m->e));
	family(out, st, n, 0, "resetguard_syncd_backlog", "gauge",
		"Records not yet final for a target.", offsetof(struct engine_stats, backlog));
	family(out, st, n, 0, "resetguard_syncd_attempts_total", "counter", "Delivery attempts.",
		offsetof(struct engine_stats, attempts));
	family(out, st, n, 0, "resetguard_syncd_failures_total", "counter",
		"Records that failed for good.", offsetof(struct engine_stats, failures));
	evbuffer_add_printf(out, "# HELP resetguard_syncd_delivery_seconds From the reset to "
		"its delivery.\n# TYPE resetguard_syncd_delivery_seconds histogram\n");
	for (size_t i = 0; i < n; i++) {
		if (st[i].is_hook)
			continue;
		for (size_t b = 0; b < st[i].nbuckets; b++)
			evbuffer_add_printf(out, "resetguard_syncd_delivery_seconds_bucket"
				"{target=\"%s\",le=\"%g\"} %lld\n", st[i].name,
				st[i].bucket_bounds[b], st[i].bucket_counts[b]);
		evbuffer_add_printf(out, "resetguard_syncd_delivery_seconds_bucket{target=\"%s\","
			"le=\"+Inf\"} %lld\n", st[i].name, st[i].latency_count);
		evbuffer_add_printf(out, "resetguard_syncd_delivery_seconds_sum{target=\"%s\"} %g\n",
			st[i].name, st[i].latency_sum);
		evbuffer_add_printf(out, "resetguard_syncd_delivery_seconds_count{target=\"%s\"} "
			"%lld\n", st[i].name, st[i].latency_count);
	}
	family(out, st, n, 1, "resetguard_syncd_hook_backlog", "gauge",
		"Records whose hook has not come to a final status.",
		offsetof(struct engine_stats, backlog));
	family(out, st, n, 1, "resetguard_syncd_hook_attempts_total", "counter", "Hook runs.",
		offsetof(struct engine_stats, attempts));
	family(out, st, n, 1, "resetguard_syncd_hook_failures_total", "counter",
		"Records whose hook failed for good.", offsetof(struct engine_stats, failures));
	family(out, st, n, 0, "resetguard_syncd_delivered_total", "counter",
		"Records delivered to a target.", offsetof(struct engine_stats, delivered));
	family(out, st, n, 1, "resetguard_syncd_hook_delivered_total", "counter",
		"Records whose hook succeeded.", offsetof(struct engine_stats, delivered));
	evbuffer_add_printf(out, "# HELP resetguard_syncd_log_connected Whether the reset log "
		"is followed (1) or not (0).\n# TYPE resetguard_syncd_log_connected gauge\n"
		"resetguard_syncd_log_connected %d\n", engine_health(m->e) == NULL);
	alert_families(out, m->alerts);
	engine_claims(m->e, &cl);
	evbuffer_add_printf(out,
		"# HELP resetguard_syncd_claims_held Records this instance delivers under its claim.\n"
		"# TYPE resetguard_syncd_claims_held gauge\n"
		"resetguard_syncd_claims_held %lld\n"
		"# HELP resetguard_syncd_claims_waiting Records being claimed or held by another "
		"instance.\n# TYPE resetguard_syncd_claims_waiting gauge\n"
		"resetguard_syncd_claims_waiting %lld\n"
		"# HELP resetguard_syncd_claims_taken_over_total Claims of other instances taken "
		"over after they ran out.\n# TYPE resetguard_syncd_claims_taken_over_total counter\n"
		"resetguard_syncd_claims_taken_over_total %lld\n"
		"# HELP resetguard_syncd_claims_lost_total Claims another instance took from this "
		"one.\n# TYPE resetguard_syncd_claims_lost_total counter\n"
		"resetguard_syncd_claims_lost_total %lld\n", cl.held, cl.waiting, cl.taken_over,
		cl.lost);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		"text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

struct metrics *
metrics_start(struct event_base *base, const char *listen, struct engine *e, char *err,
	size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	char host[128];
	const char *colon = strrchr(listen, ':');
	size_t hlen;

	if (m == NULL || colon == NULL || (hlen = (size_t)(colon - listen)) >= sizeof(host)) {
		rg_seterr(err, errlen, "metrics-listen %s is not host:port", listen);
		free(m);
		return NULL;
	}
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	/* [::1]:9464 */
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	m->e = e;
	if ((m->http = evhttp_new(base)) == NULL ||
	    evhttp_bind_socket(m->http, host, (ev_uint16_t)atoi(colon + 1)) != 0) {
		rg_seterr(err, errlen, "cannot listen for metrics on %s: address in use or not "
			"local", listen);
		metrics_stop(m);
		return NULL;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(m->http, "/health", health, m);
	evhttp_set_cb(m->http, "/metrics", metrics, m);
	return m;
}

void
metrics_set_alerts(struct metrics *m, struct alerts *a)
{
	if (m != NULL)
		m->alerts = a;
}

void
metrics_stop(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}
