/* pwmod-load: a small libldap load generator for scripts/bench.
 *
 * Runs requests back-to-back on K concurrent connections (one thread and one connection
 * each), first a warm-up, then the measured part, and prints one line
 *   RESULT mode=M conns=K ops=N secs=S ops_per_s=X p50_ms=A p99_ms=B mean_ms=C max_ms=D errors=E
 * (latencies and ops/s over the measured part; errors over warm-up and measured requests)
 * and, for each LDAP result code that occurred, a line
 *   ERROR code=C count=N first="what failed: error string: diagnostic message of the first"
 * (code=other for a search that did not return exactly one entry)
 * Exit status: 0 when every request succeeded, 1 when any failed, 2 on a usage or setup error.
 *
 * Requests are numbered from -s FIRST (default 0), warm-up ones first: request g targets DN
 * g mod (number of DNs) and carries token g (0-based line number), so that several runs
 * against one token file can each take their own slice of it. -L FILE writes the latency
 * of every measured request (ms, one a line) for a caller that merges several runs.
 *
 * Modes:
 *   pwmod   bind as -D/-w, then RFC 3062 Password Modify of target g (round-robin over the
 *           DNs of -u) with a new password unique to the request; with -t FILE, request g
 *           carries line g of FILE as the raw value of the control -o OID (the resetguard proofing control, a compact JWS), not
 *           critical unless -C is given (ldappasswd -e OID=VALUE sends it not critical too).
 *   bind    simple bind as DN g (round-robin over -u) with password -p, rebinding the same
 *           connection each time.
 *   search  bind as -D/-w, then a base-scope search of DN g (round-robin over -u); exactly
 *           one entry must come back.
 *
 * Build: gcc -O2 -o build/bench/pwmod-load bench/pwmod-load.c -lldap -llber -lpthread */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>

#define LOAD_PROG "pwmod-load"
#include "load-common.h"

#define USAGE                                                                                      \
	"usage: pwmod-load pwmod|bind|search -H URI -u DNFILE [-D DN -w PW] "                      \
	"[-p USERPW] [-t TOKENFILE -o OID [-C]] [-c CONNS] [-n N] [-W WARMUP] [-s FIRST] "         \
	"[-L LATFILE]"

enum mode { M_PWMOD, M_BIND, M_SEARCH };

/* Not an LDAP result code (negative ones are libldap's, -1 is LDAP_SERVER_DOWN). */
#define NOT_ONE_ENTRY (-1000)

static struct {
	enum mode mode;
	const char *mode_name, *uri, *binddn, *bindpw, *userpw, *oid;
	char **dns, **tokens;
	size_t ndns, ntokens;
	long conns, n, warmup, first;
	int critical;
	char pwprefix[32];
} cfg = {.conns = 4, .n = 2000, .warmup = 200};

/* Request indices: warm-up requests are 0..warmup-1, measured ones warmup..warmup+n-1. */
static atomic_long next_req;
static long phase_end;
static double *lat_ms; /* one slot per measured request */
static pthread_barrier_t barrier;

#define MAX_CODE 256
static atomic_long err_count[MAX_CODE + 1]; /* the last slot counts codes out of range */
static char *err_first[MAX_CODE + 1];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long fatal_threads;

static void
record_error(LDAP *ld, int rc, const char *what)
{
	int slot = (rc >= 0 && rc < MAX_CODE) ? rc : MAX_CODE;
	char *diag = NULL, buf[1024];

	if (atomic_fetch_add(&err_count[slot], 1) != 0)
		return;
	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(buf, sizeof(buf), "%s: %s%s%s", what, ldap_err2string(rc),
		diag && *diag ? ": " : "", diag ? diag : "");
	ldap_memfree(diag);
	pthread_mutex_lock(&err_lock);
	if (err_first[slot] == NULL)
		err_first[slot] = strdup(buf);
	pthread_mutex_unlock(&err_lock);
}

static LDAP *
connect_ldap(void)
{
	LDAP *ld = NULL;
	int v3 = LDAP_VERSION3, rc;
	struct berval cred;

	if ((rc = ldap_initialize(&ld, cfg.uri)) != LDAP_SUCCESS)
		die("ldap_initialize %s: %s", cfg.uri, ldap_err2string(rc));
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (cfg.mode == M_BIND)
		return ld;
	cred.bv_val = (char *)cfg.bindpw;
	cred.bv_len = strlen(cfg.bindpw);
	rc = ldap_sasl_bind_s(ld, cfg.binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS)
		die("bind as %s to %s: %s", cfg.binddn, cfg.uri, ldap_err2string(rc));
	return ld;
}

/* One request; returns the LDAP result code. */
static int
do_request(LDAP *ld, long i)
{
	const char *dn;

	i += cfg.first;
	dn = cfg.dns[i % cfg.ndns];
	int rc;

	switch (cfg.mode) {
	case M_PWMOD: {
		char pw[64];
		struct berval user, newpw, gen = {0, NULL};
		LDAPControl ctrl, *ctrls[2] = {NULL, NULL};

		snprintf(pw, sizeof(pw), "%s-%ld-Xy", cfg.pwprefix, i);
		user.bv_val = (char *)dn;
		user.bv_len = strlen(dn);
		newpw.bv_val = pw;
		newpw.bv_len = strlen(pw);
		if (cfg.tokens != NULL) {
			ctrl.ldctl_oid = (char *)cfg.oid;
			ctrl.ldctl_value.bv_val = cfg.tokens[i];
			ctrl.ldctl_value.bv_len = strlen(cfg.tokens[i]);
			ctrl.ldctl_iscritical = cfg.critical ? 1 : 0;
			ctrls[0] = &ctrl;
		}
		rc = ldap_passwd_s(ld, &user, NULL, &newpw, &gen, cfg.tokens != NULL ? ctrls : NULL,
			NULL);
		if (gen.bv_val != NULL)
			ber_memfree(gen.bv_val);
		if (rc != LDAP_SUCCESS)
			record_error(ld, rc, "password modify");
		return rc;
	}
	case M_BIND: {
		struct berval cred = {strlen(cfg.userpw), (char *)cfg.userpw};

		rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			record_error(ld, rc, "bind");
		return rc;
	}
	case M_SEARCH: {
		LDAPMessage *res = NULL;
		int n;

		rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", NULL, 0, NULL,
			NULL, NULL, 0, &res);
		if (rc == LDAP_SUCCESS && (n = ldap_count_entries(ld, res)) != 1) {
			/* Reported under "other": not a result code. */
			char what[64];

			snprintf(what, sizeof(what), "search returned %d entries, not 1", n);
			record_error(NULL, -1, what);
			rc = NOT_ONE_ENTRY;
		} else if (rc != LDAP_SUCCESS) {
			record_error(ld, rc, "search");
		}
		ldap_msgfree(res);
		return rc;
	}
	}
	return -1;
}

static int
run_phase(LDAP **ld, int measured, long base)
{
	long i;
	double t0;
	int rc;

	while ((i = atomic_fetch_add(&next_req, 1)) < phase_end) {
		if (*ld == NULL)
			return -1;
		t0 = now_ms();
		rc = do_request(*ld, i);
		if (measured)
			lat_ms[i - base] = now_ms() - t0;
		if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
			/* The connection is gone: this thread stops, the others carry on. */
			ldap_unbind_ext_s(*ld, NULL, NULL);
			*ld = NULL;
			atomic_fetch_add(&fatal_threads, 1);
			return -1;
		}
	}
	return 0;
}

static void *
worker(void *arg)
{
	LDAP *ld = connect_ldap();

	(void)arg;
	pthread_barrier_wait(&barrier); /* connected */
	run_phase(&ld, 0, 0); /* a thread whose connection died still takes part in the barriers */
	pthread_barrier_wait(&barrier); /* warm-up done */
	pthread_barrier_wait(&barrier); /* measured part may start */
	if (ld != NULL)
		run_phase(&ld, 1, cfg.warmup);
	if (ld != NULL)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double
percentile(const double *v, long n, double p)
{
	long k = (long)(p / 100.0 * n + 0.999999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
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

int
main(int argc, char **argv)
{
	const char *dnfile = NULL, *tokfile = NULL, *latfile = NULL;
	pthread_t *th;
	double t_start, t_end, secs, sum = 0;
	long errors = 0, done;
	int c;

	if (argc < 2)
		die("%s", USAGE);
	cfg.mode_name = argv[1];
	if (strcmp(argv[1], "pwmod") == 0)
		cfg.mode = M_PWMOD;
	else if (strcmp(argv[1], "bind") == 0)
		cfg.mode = M_BIND;
	else if (strcmp(argv[1], "search") == 0)
		cfg.mode = M_SEARCH;
	else
		die("unknown mode %s\n%s", argv[1], USAGE);
	optind = 2;
	while ((c = getopt(argc, argv, "H:u:D:w:p:t:o:Cc:n:W:s:L:")) != -1) {
		switch (c) {
		case 'H':
			cfg.uri = optarg;
			break;
		case 'u':
			dnfile = optarg;
			break;
		case 'D':
			cfg.binddn = optarg;
			break;
		case 'w':
			cfg.bindpw = optarg;
			break;
		case 'p':
			cfg.userpw = optarg;
			break;
		case 't':
			tokfile = optarg;
			break;
		case 'o':
			cfg.oid = optarg;
			break;
		case 'C':
			cfg.critical = 1;
			break;
		case 'c':
			cfg.conns = parse_long(optarg, "-c", 1);
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
		case 'L':
			latfile = optarg;
			break;
		default:
			die("%s", USAGE);
		}
	}
	if (optind < argc)
		die("unexpected argument %s\n%s", argv[optind], USAGE);
	if (cfg.uri == NULL || dnfile == NULL)
		die("-H and -u are required\n%s", USAGE);
	if (cfg.mode != M_BIND && (cfg.binddn == NULL || cfg.bindpw == NULL))
		die("%s needs -D and -w", cfg.mode_name);
	if (cfg.mode == M_BIND && cfg.userpw == NULL)
		die("bind needs -p, the users' password");
	if (tokfile != NULL && (cfg.mode != M_PWMOD || cfg.oid == NULL))
		die("-t is for pwmod and needs -o OID");
	cfg.dns = read_lines(dnfile, &cfg.ndns);
	if (cfg.ndns == 0)
		die("%s holds no DN", dnfile);
	if (tokfile != NULL) {
		cfg.tokens = read_lines(tokfile, &cfg.ntokens);
		if (cfg.ntokens < (size_t)(cfg.first + cfg.warmup + cfg.n))
			die("%s holds %zu tokens, %ld needed (one per request, warm-up included, "
			    "from token %ld)",
				tokfile, cfg.ntokens, cfg.first + cfg.warmup + cfg.n, cfg.first);
	}
	/* New passwords differ between runs and requests (ppolicy keeps a history). */
	snprintf(cfg.pwprefix, sizeof(cfg.pwprefix), "Bn%lx%x", (long)time(NULL),
		(unsigned)getpid());

	if ((lat_ms = calloc(cfg.n, sizeof(*lat_ms))) == NULL ||
		(th = calloc(cfg.conns, sizeof(*th))) == NULL)
		die("out of memory");
	pthread_barrier_init(&barrier, NULL, cfg.conns + 1);
	atomic_store(&next_req, 0);
	phase_end = cfg.warmup;
	for (long k = 0; k < cfg.conns; k++)
		if (pthread_create(&th[k], NULL, worker, NULL) != 0)
			die("cannot start a thread");
	pthread_barrier_wait(&barrier); /* all connected (and bound) */
	pthread_barrier_wait(&barrier); /* warm-up done */
	atomic_store(&next_req, cfg.warmup);
	phase_end = cfg.warmup + cfg.n;
	t_start = now_ms();
	pthread_barrier_wait(&barrier);
	for (long k = 0; k < cfg.conns; k++)
		pthread_join(th[k], NULL);
	t_end = now_ms();

	done = atomic_load(&next_req);
	if (done > phase_end)
		done = phase_end;
	done -= cfg.warmup; /* measured requests started; fewer than n if threads died */
	secs = (t_end - t_start) / 1e3;
	for (long k = 0; k < done; k++)
		sum += lat_ms[k];
	if (latfile != NULL) {
		FILE *fp = fopen(latfile, "w");

		if (fp == NULL)
			die("cannot write %s: %s", latfile, strerror(errno));
		for (long k = 0; k < done; k++)
			fprintf(fp, "%.6f\n", lat_ms[k]);
		if (fclose(fp) != 0)
			die("cannot write %s: %s", latfile, strerror(errno));
	}
	qsort(lat_ms, done, sizeof(*lat_ms), cmp_double);
	for (int k = 0; k <= MAX_CODE; k++)
		errors += atomic_load(&err_count[k]);
	printf("RESULT mode=%s conns=%ld ops=%ld secs=%.3f ops_per_s=%.1f p50_ms=%.3f "
	       "p99_ms=%.3f mean_ms=%.3f max_ms=%.3f errors=%ld\n",
		cfg.mode_name, cfg.conns, done, secs, done / secs,
		done ? percentile(lat_ms, done, 50) : 0, done ? percentile(lat_ms, done, 99) : 0,
		done ? sum / done : 0, done ? lat_ms[done - 1] : 0, errors);
	for (int k = 0; k <= MAX_CODE; k++) {
		long n = atomic_load(&err_count[k]);

		if (n == 0)
			continue;
		if (k == MAX_CODE)
			printf("ERROR code=other count=%ld first=\"%s\"\n", n,
				err_first[k] ? err_first[k] : "");
		else
			printf("ERROR code=%d count=%ld first=\"%s\"\n", k, n,
				err_first[k] ? err_first[k] : "");
	}
	if (atomic_load(&fatal_threads) > 0)
		printf("ERROR connections_lost=%ld\n", atomic_load(&fatal_threads));
	fflush(stdout);
	return errors || atomic_load(&fatal_threads) ? 1 : 0;
}
