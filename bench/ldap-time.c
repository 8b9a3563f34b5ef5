/* ldap-time: times LDAP searches for bench/log.sh, without a process start in the figure.
 *
 * Connects once, binds (simple, -D/-w), then runs the search -W times untimed and -n times
 * timed, one after the other. A search is timed with CLOCK_MONOTONIC from just before the
 * request is sent to the arrival of its SearchResultDone; every entry is received (read off
 * the connection and parsed into a message by libldap, one at a time, and freed) but its
 * attributes are not decoded further. Prints one line
 *   RESULT entries=K n=N min_ms=A median_ms=B max_ms=C times_ms=T1,T2,...
 * Exit status: 0 when every search succeeded and all returned the same number of entries,
 * 1 otherwise, 2 on a usage error.
 *
 * usage: ldap-time -H URI -D DN -w PW -b BASE [-s base|one|sub] -f FILTER [-n N] [-W WARMUP]
 *        [ATTR ...]
 * Build: gcc -O2 -o build/bench/ldap-time bench/ldap-time.c -lldap -llber */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>

#define USAGE "usage: ldap-time -H URI -D DN -w PW -b BASE [-s base|one|sub] -f FILTER " \
	"[-n N] [-W WARMUP] [ATTR ...]\n"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One search: the number of entries, or -1 after printing what failed. */
static long
search(LDAP *ld, const char *base, int scope, const char *filter, char **attrs)
{
	LDAPMessage *m;
	long entries = 0;
	int msgid, rc, err = LDAP_OTHER, done = 0;
	char *matched = NULL, *text = NULL;

	rc = ldap_search_ext(ld, base, scope, filter, attrs, 0, NULL, NULL, NULL, 0, &msgid);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, "ldap-time: search: %s\n", ldap_err2string(rc));
		return -1;
	}
	while (!done) {
		rc = ldap_result(ld, msgid, LDAP_MSG_ONE, NULL, &m);
		if (rc <= 0) {
			ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
			fprintf(stderr, "ldap-time: search: no result: %s\n", ldap_err2string(err));
			return -1;
		}
		switch (ldap_msgtype(m)) {
		case LDAP_RES_SEARCH_ENTRY:
			entries++;
			break;
		case LDAP_RES_SEARCH_RESULT:
			done = 1;
			if (ldap_parse_result(ld, m, &err, &matched, &text, NULL, NULL, 0) !=
			    LDAP_SUCCESS)
				err = LDAP_OTHER;
			break;
		default:
			break;
		}
		ldap_msgfree(m);
	}
	if (err != LDAP_SUCCESS) {
		fprintf(stderr, "ldap-time: search %s under %s: %s%s%s (after %ld entries)\n",
			filter, base, ldap_err2string(err), text && *text ? ": " : "",
			text ? text : "", entries);
		entries = -1;
	}
	ldap_memfree(matched);
	ldap_memfree(text);
	return entries;
}

int
main(int argc, char **argv)
{
	const char *uri = NULL, *dn = NULL, *pw = NULL, *base = NULL, *filter = NULL;
	long n = 5, warmup = 1, entries = -2;
	int scope = LDAP_SCOPE_SUBTREE, c, rc, version = LDAP_VERSION3, ok = 1;
	char **attrs = NULL;
	double *t;
	LDAP *ld;
	struct berval cred;

	while ((c = getopt(argc, argv, "H:D:w:b:s:f:n:W:")) != -1) {
		switch (c) {
		case 'H': uri = optarg; break;
		case 'D': dn = optarg; break;
		case 'w': pw = optarg; break;
		case 'b': base = optarg; break;
		case 'f': filter = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'W': warmup = atol(optarg); break;
		case 's':
			if (strcmp(optarg, "base") == 0)
				scope = LDAP_SCOPE_BASE;
			else if (strcmp(optarg, "one") == 0)
				scope = LDAP_SCOPE_ONELEVEL;
			else if (strcmp(optarg, "sub") == 0)
				scope = LDAP_SCOPE_SUBTREE;
			else {
				fputs(USAGE, stderr);
				return 2;
			}
			break;
		default:
			fputs(USAGE, stderr);
			return 2;
		}
	}
	if (uri == NULL || dn == NULL || pw == NULL || base == NULL || filter == NULL || n < 1 ||
	    warmup < 0) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (optind < argc)
		attrs = argv + optind;
	if ((t = calloc((size_t)n, sizeof(*t))) == NULL)
		return 1;

	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		fprintf(stderr, "ldap-time: %s: %s\n", uri, ldap_err2string(rc));
		return 1;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	cred.bv_val = (char *)pw;
	cred.bv_len = strlen(pw);
	rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, "ldap-time: bind as %s: %s\n", dn, ldap_err2string(rc));
		return 1;
	}
	for (long i = 0; i < warmup + n; i++) {
		double t0 = now_ms(), t1;
		long e = search(ld, base, scope, filter, attrs);

		t1 = now_ms();
		if (e < 0)
			return 1;
		if (entries != -2 && e != entries) {
			fprintf(stderr, "ldap-time: %s: %ld entries, earlier %ld\n", filter, e, entries);
			ok = 0;
		}
		entries = e;
		if (i >= warmup)
			t[i - warmup] = t1 - t0;
	}
	ldap_unbind_ext_s(ld, NULL, NULL);

	printf("RESULT entries=%ld n=%ld", entries, n);
	{
		double *s = malloc((size_t)n * sizeof(*s));

		if (s == NULL)
			return 1;
		memcpy(s, t, (size_t)n * sizeof(*s));
		qsort(s, (size_t)n, sizeof(*s), cmp_double);
		printf(" min_ms=%.3f median_ms=%.3f max_ms=%.3f times_ms=", s[0],
			n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[n - 1]);
		free(s);
	}
	for (long i = 0; i < n; i++)
		printf("%s%.3f", i ? "," : "", t[i]);
	putchar('\n');
	free(t);
	return ok ? 0 : 1;
}
