/* prop-load: propagation timing for bench/syncd.sh (libldap).
 *
 * Resets go to the provider (-H) as RFC 3062 Password Modify requests bound as -D/-w, each
 * with a proofing token in the control -o OID (not critical). Requests are numbered from
 * -s FIRST: request g resets DN (g mod number of DNs) of -u and carries line g of -t
 * (0-based), with a new password unique to the request and the run. A target (-P, any
 * number) is NAME=URI=DNFILE: a directory to which the change propagates, where the
 * account of request g is line (g mod count) of DNFILE.
 *
 * Modes:
 *   latency  -W warm-up then -n measured resets, one at a time. After each Password Modify
 *            response every target is polled, each from a thread of its own on a kept
 *            connection, with simple binds of the new password: the first at once, then
 *            one each -i microseconds (or at once when a bind took longer) until one
 *            succeeds or -T seconds have passed; the next reset waits for all targets.
 *            -L FILE gets one line per measured reset:
 *              G PWMOD_MS LAT_1 ... LAT_K
 *            LAT_k: ms from the Password Modify response to the response of the first bind
 *            that succeeded on target k, -1 if none did within -T seconds.
 *   burst    -W warm-up resets, then, once syncd's metrics (-m http://HOST:PORT/metrics;
 *            -m again for each further syncd instance sharing the log, whose figures
 *            are summed) show them final, -n measured resets fired over -c connections as fast as they
 *            go while the metrics are polled every -i microseconds until
 *            resetguard_syncd_records_total has grown by the successful resets and every
 *            resetguard_syncd_backlog is 0 (or -T seconds pass). Then, untimed, the last
 *            password set on each account is checked with a bind on every target.
 *
 * Output: one line
 *   RESULT mode=latency resets=N errors=E timeouts=X polls=P
 *   RESULT mode=burst resets=N conns=K errors=E reset_secs=S resets_per_s=R prop_secs=S2
 *          prop_per_s=R2 drain_ms=D records=C failures=F backlog_peak=B metrics_max_ms=X
 *          complete=0|1
 * (prop_secs: from the first reset sent to the metrics poll that saw everything final;
 * drain_ms: from the last reset's response to that poll; backlog_peak: the largest sum of
 * the per-target backlogs seen; metrics_max_ms: the longest a metrics request took during
 * the measured part), for burst one line per target
 *   VERIFY target=NAME checked=C ok=O
 * and a line ERROR ... for each kind of failure. Exit status 0 when every reset succeeded and
 * everything propagated (burst: complete and verified), 1 otherwise, 2 on a usage error.
 *
 * Build: gcc -O2 -o build/bench/prop-load bench/prop-load.c -lldap -llber -lpthread */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>

#define LOAD_PROG "prop-load"
#include "load-common.h"

#define USAGE                                                                                      \
	"usage: prop-load latency|burst -H URI -D DN -w PW -u DNFILE -t TOKENFILE "                \
	"-o OID [-P NAME=URI=DNFILE ...] [-n N] [-W WARMUP] [-s FIRST] [-i POLL_US] "              \
	"[-T TIMEOUT_S] [-L LATFILE] [-c CONNS] [-m METRICS_URL ...]"

#define MAX_TARGETS 64

struct target {
	char *name, *uri;
	char **dns;
	size_t ndns;
	LDAP *ld;
	pthread_t th;
	double lat;
	long polls, reconnects;
	long other_errors;
	int first_other;
};

static struct {
	int burst;
	const char *uri, *binddn, *bindpw, *oid, *metrics;   /* metrics: the first -m */
	char **dns, **tokens;
	size_t ndns, ntokens;
	long n, warmup, first, conns;
	double poll_ms, timeout_ms;
	char pwprefix[40];
	struct target t[MAX_TARGETS];
	int ntargets;
} cfg = {.n = 200, .warmup = 0, .conns = 4, .poll_ms = 1.0, .timeout_ms = 10000};

static void
sleep_until_ms(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(t / 1e3);
	ts.tv_nsec = (long)((t - ts.tv_sec * 1e3) * 1e6);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void
password_of(long g, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%ld-Xy", cfg.pwprefix, g);
}

static LDAP *
connect_ldap(const char *uri, const char *dn, const char *pw)
{
	LDAP *ld = NULL;
	int v3 = LDAP_VERSION3, rc;
	struct timeval tv = {10, 0};
	struct berval cred;

	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS)
		die("ldap_initialize %s: %s", uri, ldap_err2string(rc));
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	if (dn == NULL)
		return ld;
	cred.bv_val = (char *)pw;
	cred.bv_len = strlen(pw);
	rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS)
		die("bind as %s to %s: %s", dn, uri, ldap_err2string(rc));
	return ld;
}

static int
simple_bind(LDAP *ld, const char *dn, const char *pw)
{
	struct berval cred = {strlen(pw), (char *)pw};

	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* ---- errors ---- */

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long reset_errors;
static char *first_reset_error;

static void
reset_error(LDAP *ld, int rc, long g)
{
	char *diag = NULL, buf[1024];

	if (atomic_fetch_add(&reset_errors, 1) != 0)
		return;
	ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(buf, sizeof(buf), "password modify %ld of %s: %s%s%s", g, cfg.dns[g % cfg.ndns],
		ldap_err2string(rc), diag && *diag ? ": " : "", diag ? diag : "");
	ldap_memfree(diag);
	pthread_mutex_lock(&err_lock);
	if (first_reset_error == NULL)
		first_reset_error = strdup(buf);
	pthread_mutex_unlock(&err_lock);
}

/* One reset on the provider; returns the LDAP result code. */
static int
do_reset(LDAP *ld, long g)
{
	char pw[64];
	const char *dn = cfg.dns[g % cfg.ndns];
	struct berval user = {strlen(dn), (char *)dn}, newpw, gen = {0, NULL};
	LDAPControl ctrl, *ctrls[2] = {&ctrl, NULL};
	int rc;

	password_of(g, pw, sizeof(pw));
	newpw.bv_val = pw;
	newpw.bv_len = strlen(pw);
	ctrl.ldctl_oid = (char *)cfg.oid;
	ctrl.ldctl_value.bv_val = cfg.tokens[g];
	ctrl.ldctl_value.bv_len = strlen(cfg.tokens[g]);
	ctrl.ldctl_iscritical = 0;
	rc = ldap_passwd_s(ld, &user, NULL, &newpw, &gen, ctrls, NULL);
	if (gen.bv_val != NULL)
		ber_memfree(gen.bv_val);
	if (rc != LDAP_SUCCESS)
		reset_error(ld, rc, g);
	return rc;
}

/* ---- latency ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_go = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static long generation, cur_g;
static double cur_t0;
static int pending, quitting;

static void *
poller(void *arg)
{
	struct target *t = arg;
	long seen = 0, g;
	double t0, next, now;
	char pw[64];
	int rc;

	for (;;) {
		pthread_mutex_lock(&mu);
		while (generation == seen && !quitting)
			pthread_cond_wait(&cv_go, &mu);
		if (quitting) {
			pthread_mutex_unlock(&mu);
			break;
		}
		seen = generation;
		g = cur_g;
		t0 = cur_t0;
		pthread_mutex_unlock(&mu);

		const char *dn = t->dns[g % t->ndns];
		double lat = -1;

		password_of(g, pw, sizeof(pw));
		next = t0;
		for (;;) {
			rc = simple_bind(t->ld, dn, pw);
			now = now_ms();
			t->polls++;
			if (rc == LDAP_SUCCESS) {
				lat = now - t0;
				break;
			}
			if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
				ldap_unbind_ext_s(t->ld, NULL, NULL);
				t->ld = connect_ldap(t->uri, NULL, NULL);
				t->reconnects++;
			} else if (rc != LDAP_INVALID_CREDENTIALS) {
				if (t->other_errors++ == 0)
					t->first_other = rc;
			}
			if (now - t0 > cfg.timeout_ms)
				break;
			next += cfg.poll_ms;
			if (next > now)
				sleep_until_ms(next);
			else
				next = now;
		}
		pthread_mutex_lock(&mu);
		t->lat = lat;
		if (--pending == 0)
			pthread_cond_signal(&cv_done);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static int
run_latency(const char *latfile)
{
	LDAP *ld = connect_ldap(cfg.uri, cfg.binddn, cfg.bindpw);
	FILE *fp = NULL;
	long timeouts = 0, polls = 0, errors;
	int bad = 0;

	if (cfg.ntargets == 0)
		die("latency needs at least one -P target");
	if (latfile != NULL && (fp = fopen(latfile, "w")) == NULL)
		die("cannot write %s: %s", latfile, strerror(errno));
	for (int k = 0; k < cfg.ntargets; k++) {
		cfg.t[k].ld = connect_ldap(cfg.t[k].uri, NULL, NULL);
		if (pthread_create(&cfg.t[k].th, NULL, poller, &cfg.t[k]) != 0)
			die("cannot start a thread");
	}
	for (long i = 0; i < cfg.warmup + cfg.n; i++) {
		long g = cfg.first + i;
		double t1 = now_ms(), t0;
		int rc = do_reset(ld, g);

		t0 = now_ms();
		if (rc != LDAP_SUCCESS) {
			if (rc == LDAP_SERVER_DOWN)
				break;
			continue;
		}
		pthread_mutex_lock(&mu);
		cur_g = g;
		cur_t0 = t0;
		pending = cfg.ntargets;
		generation++;
		pthread_cond_broadcast(&cv_go);
		while (pending > 0)
			pthread_cond_wait(&cv_done, &mu);
		pthread_mutex_unlock(&mu);
		if (i < cfg.warmup)
			continue;
		if (fp != NULL)
			fprintf(fp, "%ld %.3f", g, t0 - t1);
		for (int k = 0; k < cfg.ntargets; k++) {
			if (cfg.t[k].lat < 0)
				timeouts++;
			if (fp != NULL)
				fprintf(fp, " %.3f", cfg.t[k].lat);
		}
		if (fp != NULL)
			fputc('\n', fp);
	}
	pthread_mutex_lock(&mu);
	quitting = 1;
	pthread_cond_broadcast(&cv_go);
	pthread_mutex_unlock(&mu);
	for (int k = 0; k < cfg.ntargets; k++) {
		pthread_join(cfg.t[k].th, NULL);
		polls += cfg.t[k].polls;
		if (cfg.t[k].other_errors > 0) {
			printf("ERROR target=%s binds_failed_otherwise=%ld first=\"%s\"\n",
				cfg.t[k].name, cfg.t[k].other_errors,
				ldap_err2string(cfg.t[k].first_other));
		}
		if (cfg.t[k].reconnects > 0)
			printf("ERROR target=%s reconnects=%ld\n", cfg.t[k].name,
				cfg.t[k].reconnects);
		ldap_unbind_ext_s(cfg.t[k].ld, NULL, NULL);
	}
	ldap_unbind_ext_s(ld, NULL, NULL);
	if (fp != NULL && fclose(fp) != 0)
		die("cannot write %s: %s", latfile, strerror(errno));
	errors = atomic_load(&reset_errors);
	printf("RESULT mode=latency resets=%ld errors=%ld timeouts=%ld polls=%ld\n", cfg.n, errors,
		timeouts, polls);
	if (errors > 0) {
		printf("ERROR resets_failed=%ld first=\"%s\"\n", errors,
			first_reset_error ? first_reset_error : "");
		bad = 1;
	}
	if (timeouts > 0) {
		printf("ERROR timeouts=%ld (a new password did not bind within %.0f s)\n", timeouts,
			cfg.timeout_ms / 1e3);
		bad = 1;
	}
	return bad;
}

/* ---- burst ---- */

struct metrics {
	long long records, failures, backlog_sum;
	int ok;
};

/* The longest a metrics request took (syncd serves them from its event loop). */
static double metrics_max_ms;

#define MAX_METRICS 8
static char mhosts[MAX_METRICS][64], mpaths[MAX_METRICS][256];
static int mports[MAX_METRICS], nmetrics;
static const char *mhost, *mpath;
static int mport;

static void
parse_metrics_url(const char *url)
{
	if (nmetrics == MAX_METRICS)
		die("at most %d -m", MAX_METRICS);
	strcpy(mhosts[nmetrics], "127.0.0.1");
	strcpy(mpaths[nmetrics], "/metrics");
	if (sscanf(url, "http://%63[^:/]:%d%255s", mhosts[nmetrics], &mports[nmetrics],
		    mpaths[nmetrics]) < 2 || mports[nmetrics] <= 0)
		die("-m must be http://HOST:PORT/PATH, not %s", url);
	nmetrics++;
}

static struct metrics get_metrics_one(void);

/* Every instance's metrics, summed; ok=0 if one could not be read. */
static struct metrics
get_metrics_once(void)
{
	struct metrics sum = {0, 0, 0, 1};

	for (int i = 0; i < nmetrics; i++) {
		struct metrics m;

		mhost = mhosts[i];
		mpath = mpaths[i];
		mport = mports[i];
		m = get_metrics_one();
		sum.records += m.records;
		sum.failures += m.failures;
		sum.backlog_sum += m.backlog_sum;
		sum.ok &= m.ok;
	}
	return sum;
}

/* GET one metrics page; ok=0 if it could not be read. */
static struct metrics
get_metrics_one(void)
{
	struct metrics m = {0, 0, 0, 0};
	struct sockaddr_in sa;
	static char buf[1 << 20];
	char req[512], *p, *line;
	size_t len = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0), have_records = 0;

	if (fd < 0)
		return m;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)mport);
	if (inet_pton(AF_INET, strcmp(mhost, "localhost") == 0 ? "127.0.0.1" : mhost,
		    &sa.sin_addr) != 1 ||
		connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
		mpath, mhost);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") == NULL ||
		(p = strstr(buf, "\r\n\r\n")) == NULL)
		goto out;
	for (line = strtok(p + 4, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *sp;

		if (line[0] == '#' || (sp = strrchr(line, ' ')) == NULL)
			continue;
		if (strncmp(line, "resetguard_syncd_records_total ", 31) == 0) {
			m.records = atoll(sp + 1);
			have_records = 1;
		} else if (strncmp(line, "resetguard_syncd_backlog{", 25) == 0) {
			m.backlog_sum += atoll(sp + 1);
		} else if (strncmp(line, "resetguard_syncd_failures_total{", 32) == 0) {
			m.failures += atoll(sp + 1);
		}
	}
	m.ok = have_records;
out:
	close(fd);
	return m;
}

static struct metrics
get_metrics(void)
{
	double t = now_ms();
	struct metrics m = get_metrics_once();

	t = now_ms() - t;
	if (t > metrics_max_ms)
		metrics_max_ms = t;
	return m;
}

static atomic_long next_req, resets_ok;
static long burst_end;
static pthread_barrier_t barrier;
static double t_last_response;
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
burst_worker(void *arg)
{
	LDAP *ld = connect_ldap(cfg.uri, cfg.binddn, cfg.bindpw);
	long i;
	int rounds = 2;

	(void)arg;
	/* round 1: warm-up resets; round 2: the measured ones */
	for (int r = 0; r < rounds; r++) {
		pthread_barrier_wait(&barrier);
		while ((i = atomic_fetch_add(&next_req, 1)) < burst_end) {
			int rc = do_reset(ld, cfg.first + i);
			double t = now_ms();

			if (rc == LDAP_SUCCESS)
				atomic_fetch_add(&resets_ok, 1);
			pthread_mutex_lock(&last_mu);
			if (t > t_last_response)
				t_last_response = t;
			pthread_mutex_unlock(&last_mu);
		}
		pthread_barrier_wait(&barrier);
	}
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

/* Polls until the records grew by want and nothing is left in any backlog. */
static int
wait_final(long long base, long long want, double deadline, double *t_done, struct metrics *last,
	long long *peak)
{
	for (;;) {
		double t = now_ms();
		struct metrics m = get_metrics();

		if (m.ok) {
			*last = m;
			if (peak != NULL && m.backlog_sum > *peak)
				*peak = m.backlog_sum;
			if (m.records >= base + want && m.backlog_sum == 0) {
				*t_done = t;
				return 1;
			}
		}
		if (t > deadline)
			return 0;
		sleep_until_ms(t + cfg.poll_ms);
	}
}

static int
run_burst(void)
{
	pthread_t *th;
	struct metrics m0, last = {0, 0, 0, 0};
	double t_start, t_done = 0, dl;
	long long peak = 0, base;
	long warm_ok, errors;
	int complete, bad = 0;

	if (cfg.metrics == NULL)
		die("burst needs -m METRICS_URL");
	m0 = get_metrics();
	metrics_max_ms = 0;
	if (!m0.ok)
		die("cannot read syncd's metrics at %s", cfg.metrics);
	if ((th = calloc(cfg.conns, sizeof(*th))) == NULL)
		die("out of memory");
	pthread_barrier_init(&barrier, NULL, cfg.conns + 1);
	for (long k = 0; k < cfg.conns; k++)
		if (pthread_create(&th[k], NULL, burst_worker, NULL) != 0)
			die("cannot start a thread");
	/* warm-up: connections on both sides, then wait until syncd is idle again */
	atomic_store(&next_req, 0);
	burst_end = cfg.warmup;
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	warm_ok = atomic_load(&resets_ok);
	if (!wait_final(m0.records, warm_ok, now_ms() + cfg.timeout_ms, &t_done, &last, NULL)) {
		printf("ERROR warm-up resets did not become final within %.0f s (records=%lld "
		       "backlog=%lld)\n",
			cfg.timeout_ms / 1e3, last.records, last.backlog_sum);
		bad = 1;
	}
	base = last.records;
	metrics_max_ms = 0;
	atomic_store(&resets_ok, 0);
	atomic_store(&next_req, cfg.warmup);
	burst_end = cfg.warmup + cfg.n;
	t_last_response = 0;
	t_start = now_ms();
	pthread_barrier_wait(&barrier);
	dl = t_start + cfg.timeout_ms;
	/* poll while the resets go out, and after, until everything is final */
	complete = 0;
	for (;;) {
		double t = now_ms();
		struct metrics m = get_metrics();
		long sent = atomic_load(&next_req) - cfg.warmup;

		if (m.ok) {
			last = m;
			if (m.backlog_sum > peak)
				peak = m.backlog_sum;
		}
		if (sent >= cfg.n + cfg.conns) {
			/* all handed out; wait for the last responses before judging */
			break;
		}
		if (t > dl)
			break;
		sleep_until_ms(t + cfg.poll_ms);
	}
	pthread_barrier_wait(&barrier);
	for (long k = 0; k < cfg.conns; k++)
		pthread_join(th[k], NULL);
	complete = wait_final(base, atomic_load(&resets_ok), dl, &t_done, &last, &peak);
	if (!complete)
		t_done = now_ms();
	errors = atomic_load(&reset_errors);
	{
		double reset_secs = (t_last_response - t_start) / 1e3;
		double prop_secs = (t_done - t_start) / 1e3;
		long ok = atomic_load(&resets_ok);

		printf("RESULT mode=burst resets=%ld conns=%ld errors=%ld reset_secs=%.3f "
		       "resets_per_s=%.1f prop_secs=%.3f prop_per_s=%.1f drain_ms=%.1f "
		       "records=%lld "
		       "failures=%lld backlog_peak=%lld metrics_max_ms=%.1f complete=%d\n",
			ok, cfg.conns, errors, reset_secs, reset_secs > 0 ? ok / reset_secs : 0,
			prop_secs, prop_secs > 0 ? ok / prop_secs : 0, t_done - t_last_response,
			last.records - base, last.failures - m0.failures, peak, metrics_max_ms,
			complete);
	}
	if (errors > 0) {
		printf("ERROR resets_failed=%ld first=\"%s\"\n", errors,
			first_reset_error ? first_reset_error : "");
		bad = 1;
	}
	if (!complete) {
		printf("ERROR not everything became final within %.0f s (records=%lld of %ld, "
		       "backlog=%lld)\n",
			cfg.timeout_ms / 1e3, last.records - base, atomic_load(&resets_ok),
			last.backlog_sum);
		bad = 1;
	}
	if (last.failures > m0.failures) {
		printf("ERROR deliveries_failed=%lld\n", last.failures - m0.failures);
		bad = 1;
	}
	/* untimed: the last password of each account reset in the burst binds on every target */
	for (int k = 0; k < cfg.ntargets; k++) {
		struct target *t = &cfg.t[k];
		LDAP *tld = connect_ldap(t->uri, NULL, NULL);
		long checked = 0, okb = 0, end = cfg.first + cfg.warmup + cfg.n;
		char pw[64];

		for (long g = cfg.first + cfg.warmup; g < end; g++) {
			if (g + (long)cfg.ndns < end)
				continue; /* reset again later in the burst */
			password_of(g, pw, sizeof(pw));
			checked++;
			if (simple_bind(tld, t->dns[g % t->ndns], pw) == LDAP_SUCCESS)
				okb++;
		}
		ldap_unbind_ext_s(tld, NULL, NULL);
		printf("VERIFY target=%s checked=%ld ok=%ld\n", t->name, checked, okb);
		if (okb != checked)
			bad = 1;
	}
	return bad;
}

static long
parse_long(const char *s, const char *opt, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min)
		die("%s must be an integer >= %ld", opt, min);
	return v;
}

static void
add_target(char *spec)
{
	char *a = strchr(spec, '='), *b;
	struct target *t;

	if (a == NULL || (b = strchr(a + 1, '=')) == NULL)
		die("-P takes NAME=URI=DNFILE, not %s", spec);
	if (cfg.ntargets == MAX_TARGETS)
		die("at most %d targets", MAX_TARGETS);
	t = &cfg.t[cfg.ntargets++];
	*a = *b = '\0';
	t->name = spec;
	t->uri = a + 1;
	t->dns = read_lines(b + 1, &t->ndns);
	if (t->ndns == 0)
		die("%s holds no DN", b + 1);
}

int
main(int argc, char **argv)
{
	const char *dnfile = NULL, *tokfile = NULL, *latfile = NULL;
	int c;

	if (argc < 2)
		die("%s", USAGE);
	if (strcmp(argv[1], "latency") == 0)
		cfg.burst = 0;
	else if (strcmp(argv[1], "burst") == 0)
		cfg.burst = 1;
	else
		die("unknown mode %s\n%s", argv[1], USAGE);
	optind = 2;
	while ((c = getopt(argc, argv, "H:D:w:u:t:o:P:n:W:s:i:T:L:c:m:")) != -1) {
		switch (c) {
		case 'H':
			cfg.uri = optarg;
			break;
		case 'D':
			cfg.binddn = optarg;
			break;
		case 'w':
			cfg.bindpw = optarg;
			break;
		case 'u':
			dnfile = optarg;
			break;
		case 't':
			tokfile = optarg;
			break;
		case 'o':
			cfg.oid = optarg;
			break;
		case 'P':
			add_target(optarg);
			break;
		case 'n':
			cfg.n = parse_long(optarg, "-n", 1);
			break;
		case 'W':
			cfg.warmup = parse_long(optarg, "-W", 0);
			break;
		case 's':
			cfg.first = parse_long(optarg, "-s", 0);
			break;
		case 'i':
			cfg.poll_ms = parse_long(optarg, "-i", 1) / 1e3;
			break;
		case 'T':
			cfg.timeout_ms = parse_long(optarg, "-T", 1) * 1e3;
			break;
		case 'L':
			latfile = optarg;
			break;
		case 'c':
			cfg.conns = parse_long(optarg, "-c", 1);
			break;
		case 'm':
			if (cfg.metrics == NULL)
				cfg.metrics = optarg;
			parse_metrics_url(optarg);
			break;
		default:
			die("%s", USAGE);
		}
	}
	if (optind < argc)
		die("unexpected argument %s\n%s", argv[optind], USAGE);
	if (cfg.uri == NULL || cfg.binddn == NULL || cfg.bindpw == NULL || dnfile == NULL ||
		tokfile == NULL || cfg.oid == NULL)
		die("-H, -D, -w, -u, -t and -o are required\n%s", USAGE);
	cfg.dns = read_lines(dnfile, &cfg.ndns);
	if (cfg.ndns == 0)
		die("%s holds no DN", dnfile);
	cfg.tokens = read_lines(tokfile, &cfg.ntokens);
	if (cfg.ntokens < (size_t)(cfg.first + cfg.warmup + cfg.n))
		die("%s holds %zu tokens, %ld needed (from token %ld)", tokfile, cfg.ntokens,
			cfg.first + cfg.warmup + cfg.n, cfg.first);
	/* New passwords differ between runs and requests. */
	snprintf(cfg.pwprefix, sizeof(cfg.pwprefix), "Pr%lx%x", (long)time(NULL),
		(unsigned)getpid());
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cfg.burst ? run_burst() : run_latency(latfile);
}
