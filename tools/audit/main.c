/* resetguard-audit: verifies the hash chain of a resetguard reset log and reports on it.
 * Needs read access only. See resetguard-audit(1). */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit.h"

#define USAGE \
	"usage: " PROG " [-H URI] [-D BINDDN] [-y PASSWORD-FILE | -w PASSWORD | -Y EXTERNAL] [-Z]\n" \
	"       [-b LOGBASE] [-v] COMMAND [OPTIONS]\n" \
	"commands:\n" \
	"  verify [--checkpoint FILE [--checkpoint-key KEYFILE]] [-j N | --jobs N]\n" \
	"                    check the hash chain of the whole log (and against the head\n" \
	"                    kept in FILE by the last verify, which moves it to the new head),\n" \
	"                    reading it in N slices at once (default: one per CPU, up to 8)\n" \
	"  report [--since T] [--until T] [--target DN] [--requester DN] [--approver DN]\n" \
	"         [--kind KIND] [--decision allowed|denied] [--review-required] [--alert]\n" \
	"         [--format table|csv|json|html] [-o FILE]\n" \
	"                    list records in time order\n" \
	"  pending-review [report options]\n" \
	"                    records that need a review and have no verdict yet\n" \
	"T is YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or a generalizedTime (UTC).\n"

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", USAGE);
	return AUDIT_USAGE;
}

/* The first line of path, without its line end, into pw (AUDIT_PW_MAX bytes). read(2)
 * rather than stdio, so that no stdio buffer keeps a copy. */
static int
read_password_file(const char *path, char *pw)
{
	size_t len = 0;
	ssize_t n;
	char *nl;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, PROG ": cannot read the password file '%s': %s\n", path,
			strerror(errno));
		return AUDIT_ERROR;
	}
	while (len < AUDIT_PW_MAX - 1 &&
	       (n = read(fd, pw + len, AUDIT_PW_MAX - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": cannot read the password file '%s': %s\n", path,
				strerror(errno));
			close(fd);
			return AUDIT_ERROR;
		}
		len += (size_t)n;
		if (memchr(pw, '\n', len) != NULL)
			break;
	}
	close(fd);
	pw[len] = '\0';
	if ((nl = memchr(pw, '\n', len)) != NULL) {
		if (nl > pw && nl[-1] == '\r')
			nl--;
		*nl = '\0';
	} else if (len == AUDIT_PW_MAX - 1) {
		fprintf(stderr, PROG ": the password file '%s' has no line end within %d bytes\n",
			path, AUDIT_PW_MAX - 1);
		return AUDIT_ERROR;
	}
	if (strlen(pw) != (size_t)((nl ? nl : pw + len) - pw)) {
		fprintf(stderr, PROG ": the password in '%s' contains a NUL byte\n", path);
		return AUDIT_ERROR;
	}
	return AUDIT_OK;
}

/* ---- times: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or a generalizedTime ---- */

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
valid_date(int y, int mo, int d, int h, int mi, int s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59)
		return 0;
	return d <= mdays[mo - 1] && !(mo == 2 && d == 29 && !leap);
}

int
audit_parse_time(const char *t, int end_of_day, char out[32])
{
	int y, mo, d, h = 0, mi = 0, s = 0;
	size_t len = strlen(t);
	const char *frac = "";
	size_t flen = 0;

	if (len == 10 && t[4] == '-' && t[7] == '-') {
		if (digits(t, 4, &y) || digits(t + 5, 2, &mo) || digits(t + 8, 2, &d) ||
		    !valid_date(y, mo, d, 0, 0, 0))
			return -1;
		snprintf(out, 32, "%04d%02d%02d%s", y, mo, d,
			end_of_day ? "235959.999999Z" : "000000Z");
		return 0;
	}
	if (len == 20 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
	    t[16] == ':' && t[19] == 'Z') {
		if (digits(t, 4, &y) || digits(t + 5, 2, &mo) || digits(t + 8, 2, &d) ||
		    digits(t + 11, 2, &h) || digits(t + 14, 2, &mi) || digits(t + 17, 2, &s))
			return -1;
	} else if (len >= 15 && t[len - 1] == 'Z') {
		/* generalizedTime: YYYYmmddHHMMSS[.f{1,6}]Z */
		if (digits(t, 4, &y) || digits(t + 4, 2, &mo) || digits(t + 6, 2, &d) ||
		    digits(t + 8, 2, &h) || digits(t + 10, 2, &mi) || digits(t + 12, 2, &s))
			return -1;
		if (len > 15) {
			int ignored;

			frac = t + 14;
			flen = len - 15;
			if (frac[0] != '.' || flen < 2 || flen > 7 ||
			    digits(frac + 1, (int)flen - 1, &ignored))
				return -1;
		}
	} else {
		return -1;
	}
	if (!valid_date(y, mo, d, h, mi, s))
		return -1;
	snprintf(out, 32, "%04d%02d%02d%02d%02d%02d%.*sZ", y, mo, d, h, mi, s, (int)flen, frac);
	return 0;
}

enum { O_SINCE = 256, O_UNTIL, O_TARGET, O_REQUESTER, O_APPROVER, O_KIND, O_DECISION,
	O_REVIEW, O_ALERT, O_FORMAT, O_HELP };

static const struct option report_options[] = {
	{ "since", required_argument, NULL, O_SINCE },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "target", required_argument, NULL, O_TARGET },
	{ "requester", required_argument, NULL, O_REQUESTER },
	{ "approver", required_argument, NULL, O_APPROVER },
	{ "kind", required_argument, NULL, O_KIND },
	{ "decision", required_argument, NULL, O_DECISION },
	{ "review-required", no_argument, NULL, O_REVIEW },
	{ "alert", no_argument, NULL, O_ALERT },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 }
};

enum { O_CHECKPOINT = 300, O_CHECKPOINT_KEY };

static const struct option verify_options[] = {
	{ "checkpoint", required_argument, NULL, O_CHECKPOINT },
	{ "checkpoint-key", required_argument, NULL, O_CHECKPOINT_KEY },
	{ "jobs", required_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 }
};

static const struct option main_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static int
check_dn(const char *opt, const char *dn)
{
	LDAPDN parsed = NULL;

	if (*dn == '\0' || ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return usage_error("%s: '%s' is not a valid DN", opt, dn);
	ldap_dnfree(parsed);
	return AUDIT_OK;
}

/* Options of report and pending-review; argv[0] is the command. */
static int
parse_report(int argc, char **argv, struct report_opts *o, char since[32], char until[32])
{
	const char *cmd = argv[0];
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:vo:", report_options, NULL)) != -1) {
		switch (c) {
		case O_SINCE:
		case O_UNTIL:
			if (audit_parse_time(optarg, c == O_UNTIL, c == O_SINCE ? since : until))
				return usage_error("--%s: '%s' is not a time: use YYYY-MM-DD, "
					"YYYY-MM-DDTHH:MM:SSZ or a generalizedTime such as "
					"20240131235959Z", c == O_SINCE ? "since" : "until", optarg);
			if (c == O_SINCE)
				o->since = since;
			else
				o->until = until;
			break;
		case O_TARGET:
		case O_REQUESTER:
		case O_APPROVER:
			ret = check_dn(c == O_TARGET ? "--target" : c == O_REQUESTER ?
				"--requester" : "--approver", optarg);
			if (ret != AUDIT_OK)
				return ret;
			if (c == O_TARGET)
				o->target = optarg;
			else if (c == O_REQUESTER)
				o->requester = optarg;
			else
				o->approver = optarg;
			break;
		case O_KIND:
			if (*optarg == '\0')
				return usage_error("--kind: the kind is empty");
			o->kind = optarg;
			break;
		case O_DECISION:
			if (strcmp(optarg, "allowed") != 0 && strcmp(optarg, "denied") != 0)
				return usage_error("--decision: '%s': use allowed or denied", optarg);
			o->decision = optarg;
			break;
		case O_REVIEW:
			o->review_required = 1;
			break;
		case O_ALERT:
			o->alert = 1;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "table") == 0)
				o->format = FMT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				o->format = FMT_CSV;
			else if (strcmp(optarg, "json") == 0)
				o->format = FMT_JSON;
			else if (strcmp(optarg, "html") == 0)
				o->format = FMT_HTML;
			else
				return usage_error("--format: '%s': use table, csv, json or html",
					optarg);
			break;
		case 'o':
			if (*optarg == '\0')
				return usage_error("-o: the file name is empty");
			o->output = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case O_HELP:
			fputs(USAGE, stdout);
			exit(AUDIT_OK);
		case ':':
			return usage_error("%s: option '%s' needs a value", cmd, argv[optind - 1]);
		default:
			return usage_error("%s: unknown option '%s'", cmd, argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("%s: unexpected argument '%s'", cmd, argv[optind]);
	if (o->since && o->until && strncmp(o->since, o->until, 14) > 0)
		return usage_error("%s: --since is later than --until", cmd);
	return AUDIT_OK;
}

/* One slice per CPU: slapd sends a search's entries from one thread, and this side hashes
 * them in one, so each pair keeps a CPU busy (on the client's count, which is the server's
 * when both run on one host). At most 8: more connections than that gain nothing a verify
 * needs and cost the server threads. */
static int
default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* Options of verify; argv[0] is the command. */
static int
parse_verify(int argc, char **argv, struct audit_verify_opts *o, const char **keyfile)
{
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:vj:", verify_options, NULL)) != -1) {
		char *end;
		long jobs;

		switch (c) {
		case O_CHECKPOINT:
			if (*optarg == '\0')
				return usage_error("--checkpoint: the file name is empty");
			o->checkpoint = optarg;
			break;
		case O_CHECKPOINT_KEY:
			if (*optarg == '\0')
				return usage_error("--checkpoint-key: the file name is empty");
			*keyfile = optarg;
			break;
		case 'j':
			jobs = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || jobs < 1 || jobs > AUDIT_JOBS_MAX)
				return usage_error("--jobs: '%s': give a number from 1 to %d", optarg,
					AUDIT_JOBS_MAX);
			o->jobs = (int)jobs;
			o->jobs_given = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case O_HELP:
			fputs(USAGE, stdout);
			exit(AUDIT_OK);
		case ':':
			return usage_error("verify: option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("verify: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("verify: unexpected argument '%s'", argv[optind]);
	if (*keyfile != NULL && o->checkpoint == NULL)
		return usage_error("verify: --checkpoint-key needs --checkpoint FILE");
	if (!o->jobs_given)
		o->jobs = default_jobs();
	return AUDIT_OK;
}

int
main(int argc, char **argv)
{
	struct audit_conn_opts co = { 0 };
	struct report_opts ro = { 0 };
	struct audit_verify_opts vo = { 0 };
	struct audit_checkpoint cp = { 0 };
	unsigned char *key = NULL;
	size_t keylen = 0;
	char since[32], until[32], err[512];
	const char *base = "cn=resetlog", *pwfile = NULL, *cmd, *keyfile = NULL;
	char *pw = NULL;
	int c, verbose = 0, ret, is_verify;
	LDAP *lds[AUDIT_JOBS_MAX] = { NULL };
	int nld = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:H:D:y:w:Y:Zb:vh", main_options, NULL)) != -1) {
		switch (c) {
		case 'H':
			co.uri = optarg;
			break;
		case 'D':
			co.binddn = optarg;
			break;
		case 'y':
			pwfile = optarg;
			break;
		case 'w':
			if (pw == NULL && (pw = calloc(1, AUDIT_PW_MAX)) == NULL) {
				ret = AUDIT_ERROR;
				goto out;
			}
			if (strlen(optarg) >= AUDIT_PW_MAX) {
				ret = usage_error("-w: the password is too long");
				goto out;
			}
			strcpy(pw, optarg);
			/* out of ps(1) output, as ldap-utils do */
			memset(optarg, '*', strlen(optarg));
			break;
		case 'Y':
			if (strcasecmp(optarg, "EXTERNAL") != 0) {
				ret = usage_error("-Y: only the EXTERNAL mechanism is supported, "
					"not '%s'", optarg);
				goto out;
			}
			co.sasl_external = 1;
			break;
		case 'Z':
			co.starttls = 1;
			break;
		case 'b':
			base = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(USAGE, stdout);
			ret = AUDIT_OK;
			goto out;
		case ':':
			ret = usage_error("option '%s' needs a value", argv[optind - 1]);
			goto out;
		default:
			if (optopt != 0)
				ret = usage_error("unknown option '-%c'", optopt);
			else
				ret = usage_error("unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	ret = AUDIT_USAGE;
	if (optind >= argc) {
		usage_error("no command given");
		goto out;
	}
	if (pw != NULL && pwfile != NULL) {
		usage_error("-w and -y both give a password: use one");
		goto out;
	}
	if (co.sasl_external && (co.binddn != NULL || pw != NULL || pwfile != NULL)) {
		usage_error("-Y EXTERNAL takes its identity from the connection: no -D, -w or -y");
		goto out;
	}
	if (co.binddn != NULL && pw == NULL && pwfile == NULL) {
		usage_error("-D needs a password: -w PASSWORD or -y PASSWORD-FILE");
		goto out;
	}
	if (co.binddn == NULL && (pw != NULL || pwfile != NULL)) {
		usage_error("a password needs a bind DN: -D BINDDN");
		goto out;
	}
	if (check_dn("-b", base) != AUDIT_OK)
		goto out;
	cmd = argv[optind];
	is_verify = strcmp(cmd, "verify") == 0;
	if (is_verify) {
		if (parse_verify(argc - optind, argv + optind, &vo, &keyfile) != AUDIT_OK)
			goto out;
		vo.verbose |= verbose;
	} else if (strcmp(cmd, "report") == 0 || strcmp(cmd, "pending-review") == 0) {
		ro.pending = cmd[0] == 'p';
		if (parse_report(argc - optind, argv + optind, &ro, since, until) != AUDIT_OK)
			goto out;
		ro.verbose |= verbose;
	} else {
		usage_error("unknown command '%s'", cmd);
		goto out;
	}

	/* The checkpoint is read, and its signature checked, before anything else is done. */
	if (vo.checkpoint != NULL) {
		char *nbase = audit_cp_base(base);

		if (nbase == NULL) {
			ret = AUDIT_ERROR;
			goto out;
		}
		if (keyfile != NULL &&
		    (ret = audit_cp_key_load(keyfile, &key, &keylen, err, sizeof(err))) != AUDIT_OK) {
			fprintf(stderr, PROG ": %s\n", err);
			free(nbase);
			goto out;
		}
		ret = audit_cp_load(vo.checkpoint, nbase, key, keylen, &cp, err, sizeof(err));
		if (ret != AUDIT_OK) {
			if (ret == AUDIT_BROKEN)
				printf("%s\n", err);
			else
				fprintf(stderr, PROG ": %s\n", err);
			free(nbase);
			goto out;
		}
		if (cp.present)
			free(nbase);
		else
			cp.base = nbase;
		vo.cp = &cp;
		vo.key = key;
		vo.keylen = keylen;
	}
	if (pwfile != NULL) {
		if ((pw = calloc(1, AUDIT_PW_MAX)) == NULL) {
			ret = AUDIT_ERROR;
			goto out;
		}
		if ((ret = read_password_file(pwfile, pw)) != AUDIT_OK)
			goto out;
	}
	if (pw != NULL && *pw == '\0') {
		ret = usage_error("the password is empty (that would be an unauthenticated bind)");
		goto out;
	}
	co.password = pw;
	if (is_verify)
		nld = vo.jobs;
	if ((ret = audit_connect(&co, lds, nld)) != AUDIT_OK)
		goto out;
	if (is_verify)
		ret = audit_verify(lds, base, &vo);
	else
		ret = audit_report(lds[0], base, &ro);
	for (int i = 0; i < nld; i++)
		ldap_unbind_ext_s(lds[i], NULL, NULL);
out:
	audit_cp_key_free(key, keylen);
	audit_cp_free(&cp);
	if (pw != NULL) {
		OPENSSL_cleanse(pw, AUDIT_PW_MAX);
		free(pw);
	}
	return ret;
}
