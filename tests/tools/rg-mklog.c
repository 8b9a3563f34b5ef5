/* rg-mklog: writes a resetguard reset log as LDIF on standard output, for slapadd: the log
 * root and N records chained with rg_log_hash exactly as the overlay chains them. Test
 * fixtures (tampered with afterwards by editing the LDIF) and benchmark data.
 *
 * Record n (n = first, first+1, ...; i = n - first) is made of n alone, so tests can count
 * what a filter must return:
 *   time       start + i * (span / count), microseconds
 *   denied     when --denied-every D and n % D == 0: rule method-forbidden, methods pwd,sms
 *   review     when --review-every R, n % R == 0 and not denied: a break-glass change that
 *              needs a review and has none yet (pending)
 *   kind       break-glass for review records, else by n % 3: 0 self-service,
 *              1 delegated, 2 break-glass
 *   allowed break-glass records need a review; those not chosen by --review-every carry a
 *              verdict already (reviewed)
 *   target     uid=user<n % targets>,ou=people,dc=example,dc=com
 *   requester  by kind, j = n % requesters: cn=reset-portal<j>,ou=services,...,
 *              uid=helpdesk<j>,ou=staff,..., uid=breakglass<j>,ou=admins,...
 *   approver   delegated only: uid=approver<n % 7>,ou=staff,dc=example,dc=com
 *   evidence   none for allowed break-glass; else issuer, level and methods (by n % 4) and
 *              a jti unique to n
 *   alert      when --alert-every A, n % A == 0, allowed and not break-glass */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fputs_unlocked, fwrite_unlocked */
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "resetlog.h"

#define PROG "rg-mklog"
#define USAGE                                                                                      \
	"usage: " PROG " [--count N] [--base DN] [--start EPOCH] [--span-days D]\n"                \
	"       [--targets K] [--requesters K] [--first N] [--prev HASH] [--denied-every M]\n"     \
	"       [--review-every M] [--alert-every M] [--no-root]\n"

struct opts {
	unsigned long long count, targets, requesters, first, denied, review, alert;
	long long start;
	int have_start, no_root;
	double span_days;
	const char *base;
	char prev[RG_LOG_HASH_HEX];
};

static void die_usage(const char *what, const char *arg) __attribute__((noreturn));

static void
die_usage(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s\n%s", what, arg ? ": " : "", arg ? arg : "", USAGE);
	exit(2);
}

static unsigned long long
number(const char *opt, const char *s, unsigned long long min)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		die_usage(opt, "not a number");
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min)
		die_usage(opt, min ? "not a positive number" : "not a number");
	return v;
}

/* LDIF: a SAFE-STRING (RFC 2849) as is, anything else in base64. */
static void
line(const char *name, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t len = strlen(v);
	int safe = len == 0 || (s[0] != ' ' && s[0] != ':' && s[0] != '<' && s[len - 1] != ' ');

	for (size_t i = 0; safe && i < len; i++)
		safe = s[i] != '\n' && s[i] != '\r' && s[i] < 0x80;
	fputs_unlocked(name, stdout);
	if (safe) {
		fputs_unlocked(": ", stdout);
		fwrite_unlocked(v, 1, len, stdout);
	} else {
		unsigned char *b = malloc(4 * (len / 3 + 1) + 1);

		if (b == NULL) {
			fprintf(stderr, PROG ": out of memory\n");
			exit(1);
		}
		EVP_EncodeBlock(b, s, (int)len);
		fputs_unlocked(":: ", stdout);
		fputs_unlocked((char *)b, stdout);
		free(b);
	}
	putc_unlocked('\n', stdout);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->count = 1000;
	o->targets = 100;
	o->requesters = 10;
	o->first = 1;
	o->span_days = 1;
	o->base = "cn=resetlog";
	strcpy(o->prev, RG_LOG_GENESIS);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-root") == 0) {
			o->no_root = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			fputs(USAGE, stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2) != 0)
			die_usage("unexpected argument", a);
		if (v == NULL)
			die_usage(a, "needs a value");
		i++;
		if (strcmp(a, "--count") == 0)
			o->count = number(a, v, 0);
		else if (strcmp(a, "--base") == 0) {
			if (strlen(v) > 1000 || *v == '\0')
				die_usage(a, "empty or too long");
			o->base = v;
		} else if (strcmp(a, "--start") == 0)
			o->start = (long long)number(a, v, 0), o->have_start = 1;
		else if (strcmp(a, "--span-days") == 0) {
			char *end;

			errno = 0;
			o->span_days = strtod(v, &end);
			if (errno || *end || end == v || !(o->span_days >= 0) ||
				o->span_days > 36500)
				die_usage(a, "not a number of days (0 to 36500)");
		} else if (strcmp(a, "--targets") == 0)
			o->targets = number(a, v, 1);
		else if (strcmp(a, "--requesters") == 0)
			o->requesters = number(a, v, 1);
		else if (strcmp(a, "--first") == 0)
			o->first = number(a, v, 1);
		else if (strcmp(a, "--prev") == 0) {
			if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)
				die_usage(a, "not 64 lower-case hex digits");
			strcpy(o->prev, v);
		} else if (strcmp(a, "--denied-every") == 0)
			o->denied = number(a, v, 1);
		else if (strcmp(a, "--review-every") == 0)
			o->review = number(a, v, 1);
		else if (strcmp(a, "--alert-every") == 0)
			o->alert = number(a, v, 1);
		else
			die_usage("unknown option", a);
	}
	if (!o->have_start)
		o->start = (long long)time(NULL) - (long long)(o->span_days * 86400);
}

static void
root(const struct opts *o)
{
	const char *v = o->base + 3;
	size_t len = strcspn(v, ",");
	char cn[256], num[32];

	if (strncasecmp(o->base, "cn=", 3) != 0 || len == 0 || len >= sizeof(cn) ||
		strpbrk(o->base, "\\+\"") != NULL)
		die_usage("--base: the root entry needs a plain cn=NAME first RDN (or --no-root)",
			o->base);
	memcpy(cn, v, len);
	cn[len] = '\0';
	line("dn", o->base);
	line("objectClass", "rgLogRoot");
	line("cn", cn);
	if (o->first > 1) {
		/* a log whose first records were purged: the anchor is the last purged one */
		snprintf(num, sizeof(num), "%llu", o->first - 1);
		line("rgLogAnchorNumber", num);
		line("rgLogAnchorHash", o->prev);
	}
	putc_unlocked('\n', stdout);
}

/* A bijection of 64-bit integers: distinct n, distinct jti. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

int
main(int argc, char **argv)
{
	static char iobuf[1 << 20];
	static const char *kinds[] = {"self-service", "delegated", "break-glass"};
	static const char *const msets[4][2] = {{"hwk", "face"}, {"hwk", NULL}, {"face", "otp"},
		{"pwd", "hwk"}};
	static const char *const denied_methods[] = {"pwd", "sms"};
	const char *policy = "cn=default,ou=policies,dc=example,dc=com";
	char time_s[32], target[128], requester[128], approver[128], rule_text[512], jti[40];
	char dn[1200], reason[128], num[32], level[16], hash[RG_LOG_HASH_HEX], rtime[32],
		reviewer[128];
	const char *methods[2];
	struct opts o;
	long long span_us, step_us;

	parse(argc, argv, &o);
	setvbuf(stdout, iobuf, _IOFBF, sizeof(iobuf));
	if (!o.no_root)
		root(&o);
	span_us = (long long)(o.span_days * 86400e6);
	step_us = o.count > 0 ? span_us / (long long)o.count : 0;
	for (unsigned long long i = 0; i < o.count; i++) {
		unsigned long long n = o.first + i;
		long long t = o.start * 1000000LL + (long long)i * step_us;
		int denied = o.denied && n % o.denied == 0;
		int review = !denied && o.review && n % o.review == 0;
		const char *kind = review ? "break-glass" : kinds[n % 3];
		int bg = kind == kinds[2], evidence = denied || !bg;
		unsigned long long j = n % o.requesters;
		struct rg_log_record r;

		memset(&r, 0, sizeof(r));
		r.number = n;
		rg_log_format_time(time_s, t / 1000000, (long)(t % 1000000));
		r.time = time_s;
		snprintf(target, sizeof(target), "uid=user%llu,ou=people,dc=example,dc=com",
			n % o.targets);
		r.target = target;
		if (kind == kinds[0])
			snprintf(requester, sizeof(requester),
				"cn=reset-portal%llu,ou=services,dc=example,dc=com", j);
		else if (kind == kinds[1])
			snprintf(requester, sizeof(requester),
				"uid=helpdesk%llu,ou=staff,dc=example,dc=com", j);
		else
			snprintf(requester, sizeof(requester),
				"uid=breakglass%llu,ou=admins,dc=example,dc=com", j);
		r.requester = requester;
		if (kind == kinds[1]) {
			snprintf(approver, sizeof(approver),
				"uid=approver%llu,ou=staff,dc=example,dc=com", n % 7);
			r.approver = approver;
		}
		r.kind = kind;
		r.decision = denied ? "denied" : "allowed";
		r.rule = denied ? "method-forbidden" : bg ? "break-glass" : "allowed";
		if (denied)
			snprintf(rule_text, sizeof(rule_text),
				"proofing method sms is not accepted "
				"for %s resets by %s",
				kind, policy);
		else if (bg)
			snprintf(rule_text, sizeof(rule_text),
				"break-glass reset by %s: allowed, "
				"review required",
				requester);
		else
			snprintf(rule_text, sizeof(rule_text), "%s reset allowed by %s", kind,
				policy);
		r.rule_text = rule_text;
		r.policy = policy;
		r.operation = n % 10 == 0 ? "modify" : "passwordModify";
		if (evidence) {
			r.issuer = "https://proofing.example.com";
			r.level = kind == kinds[0] ? 2 : 3;
			if (denied) {
				r.methods = denied_methods;
				r.nmethods = 2;
			} else {
				methods[0] = msets[n % 4][0];
				methods[1] = msets[n % 4][1];
				r.methods = methods;
				r.nmethods = methods[1] ? 2 : 1;
			}
			snprintf(jti, sizeof(jti), "%016llx", (unsigned long long)mix(n));
			r.jti = jti;
		}
		if (kind == kinds[0])
			snprintf(reason, sizeof(reason), "forgotten password");
		else if (kind == kinds[1])
			snprintf(reason, sizeof(reason), "INC%07llu: locked out after travel",
				n % 10000000);
		else
			snprintf(reason, sizeof(reason),
				"CHG%07llu: emergency access to the payroll "
				"host",
				n % 10000000);
		r.reason = reason;
		r.review_required = !denied && bg;
		r.alert = o.alert && n % o.alert == 0 && !denied && !bg;
		memcpy(r.prev_hash, o.prev, RG_LOG_HASH_HEX);
		if (rg_log_hash(&r, hash) != 0) {
			fprintf(stderr, PROG ": cannot hash record %llu\n", n);
			return 1;
		}

		snprintf(num, sizeof(num), "%llu", n);
		if (snprintf(dn, sizeof(dn), "rgLogChangeNumber=%s,%s", num, o.base) >=
			(int)sizeof(dn))
			die_usage("--base: too long", NULL);
		line("dn", dn);
		fputs_unlocked("objectClass: rgLogRecord\n", stdout);
		line("rgLogChangeNumber", num);
		line("rgLogTime", r.time);
		line("rgLogTarget", r.target);
		line("rgLogRequester", r.requester);
		if (r.approver)
			line("rgLogApprover", r.approver);
		line("rgLogKind", r.kind);
		line("rgLogDecision", r.decision);
		line("rgLogRule", r.rule);
		line("rgLogRuleText", r.rule_text);
		line("rgLogPolicy", r.policy);
		line("rgLogOperation", r.operation);
		if (r.issuer) {
			line("rgLogIssuer", r.issuer);
			snprintf(level, sizeof(level), "%d", r.level);
			line("rgLogLevel", level);
		}
		for (size_t k = 0; k < r.nmethods; k++)
			line("rgLogMethod", r.methods[k]);
		if (r.jti)
			line("rgLogJti", r.jti);
		line("rgLogReason", r.reason);
		if (r.review_required)
			line("rgLogReviewRequired", "TRUE");
		if (r.alert)
			line("rgLogAlert", "TRUE");
		line("rgLogPrevHash", r.prev_hash);
		line("rgLogHash", hash);
		if (!denied)
			line("rgLogOutcome", "applied");
		if (r.review_required && !review) {
			snprintf(reviewer, sizeof(reviewer),
				"uid=auditor%llu,ou=audit,dc=example,"
				"dc=com",
				n % 3);
			rg_log_format_time(rtime, t / 1000000 + 86400, 0);
			line("rgLogReviewer", reviewer);
			line("rgLogReviewTime", rtime);
			line("rgLogReviewVerdict", "approved: matches the change ticket");
		}
		putc_unlocked('\n', stdout);
		memcpy(o.prev, hash, RG_LOG_HASH_HEX);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
