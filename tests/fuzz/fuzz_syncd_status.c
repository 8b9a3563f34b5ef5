/* libFuzzer harness: the status values syncd writes on a log record and reads back when it
 * resumes (rgLogTargetStatus / rgLogHookStatus: "NAME STATUS attempts=N time=T[ error=E]"),
 * status_parse and status_format in syncd/status.c.
 *
 * Input byte 0 picks the mode:
 *   even  the rest is a name line, then the values of the attribute, one per line, as
 *         they come back from the directory: status_parse must not crash, and what it
 *         returns must be something status_format could have written — a known status
 *         and the attempt count written in the value (a whole number below INT_MAX, which
 *         the engine counts on from; not a negative one, not one atoi had to truncate);
 *   odd   bytes 1..5 are a status and an attempt count, then name, time and error text
 *         separated by 0x1e: status_format's value must parse back to the same status and
 *         count among other targets' values.
 *
 * syncd/ is being restructured: the interface used here is named in this block only. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* ---- syncd interface used here ---- */
#include "engine.h"
#define SYNCD_STATUS_PARSE status_parse
#define SYNCD_STATUS_FORMAT status_format
#define SYNCD_STATUS_T enum tstatus
#define SYNCD_STATUS_COUNT (TS_FAILED + 1)
/* ---- */

#define MAX_VALS 32

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* Whether v is "NAME STATUS ..." with a status syncd writes; the status words are taken
 * from status_format itself. */
static int
names_status(const char *v, const char *name)
{
	size_t nlen = strlen(name);
	int found = 0;

	if (strncmp(v, name, nlen) != 0 || v[nlen] != ' ')
		return 0;
	for (unsigned k = 0; k < SYNCD_STATUS_COUNT && !found; k++) {
		char *f = SYNCD_STATUS_FORMAT("n", (SYNCD_STATUS_T)k, 0, "t", NULL);
		size_t slen;

		if (f == NULL)
			fuzz_setup_fail("out of memory");
		slen = strcspn(f + 2, " ");
		found = strncmp(v + nlen + 1, f + 2, slen) == 0 && v[nlen + 1 + slen] == ' ';
		free(f);
	}
	return found;
}

/* The attempt count after the status, read strictly; -1 when the value holds none that
 * status_format could have written. */
static long
written_attempts(const char *status)
{
	const char *p = strstr(status, "attempts=");
	char *end;
	long n;

	if (p == NULL)
		return 0; /* status_parse's documented default */
	p += 9;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtol(p, &end, 10);
	/* the engine counts on from it (engine.c: s->attempts++) */
	if (errno != 0 || n >= INT_MAX || (*end != ' ' && *end != '\0'))
		return -1;
	return n;
}

static void
parse_mode(struct fuzz_cursor *c)
{
	char *name = fuzz_field(c, '\n', NULL), *vals[MAX_VALS + 1];
	size_t n = 0;
	SYNCD_STATUS_T st = (SYNCD_STATUS_T)0;
	int attempts = -12345, rc;

	while (c->n > 0 && n < MAX_VALS)
		vals[n++] = fuzz_field(c, '\n', NULL);
	vals[n] = NULL;
	rc = SYNCD_STATUS_PARSE(vals, name, &st, &attempts);
	FUZZ_CHECK(rc == 0 || rc == -1, "status_parse returned %d", rc);
	if (rc == 0) {
		size_t nlen = strlen(name), i;
		long want;

		FUZZ_CHECK((unsigned)st < SYNCD_STATUS_COUNT, "status %d", (int)st);
		/* the first value with this name and a known status is the one it read */
		for (i = 0; i < n; i++)
			if (names_status(vals[i], name))
				break;
		FUZZ_CHECK(i < n, "a status found where no value names one for \"%s\"", name);
		want = written_attempts(vals[i] + nlen + 1);
		FUZZ_CHECK(want >= 0 && attempts == want,
			"value \"%s\" gave attempts=%d; the value holds no count syncd wrote (%ld)",
			vals[i], attempts, want);
	}
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	free(name);
}

static void
format_mode(struct fuzz_cursor *c)
{
	SYNCD_STATUS_T st = (SYNCD_STATUS_T)(fuzz_byte(c) % SYNCD_STATUS_COUNT), got;
	/* syncd writes at most max-attempts, itself at most 1000 (config.c) */
	int attempts = (int)(fuzz_u64(c, 4) % 1001), got_attempts = -1;
	char *name = fuzz_field(c, 0x1e, NULL), *time = fuzz_field(c, 0x1e, NULL);
	char *error = fuzz_field(c, 0x1e, NULL), *v, *vals[4];
	size_t nlen = strlen(name);

	/* config.c's valid_name: what a target or hook may be called */
	if (nlen == 0 || nlen > 64 ||
		strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
			nlen)
		goto out;
	/* the time is syncd's own generalizedTime */
	if (strspn(time, "0123456789.Z") != strlen(time) || time[0] == '\0')
		goto out;
	v = SYNCD_STATUS_FORMAT(name, st, attempts, time, error);
	if (v == NULL)
		goto out;
	FUZZ_CHECK(strchr(v, '\n') == NULL && strchr(v, '\r') == NULL,
		"a status value spans lines: \"%s\"", v);
	/* other targets' values around it, one a prefix of this name */
	vals[0] = "x pending attempts=7 time=20250101000000Z";
	vals[1] = v;
	vals[2] = "y.z failed attempts=3 time=20250101000000Z error=x attempts=9";
	vals[3] = NULL;
	FUZZ_CHECK(SYNCD_STATUS_PARSE(vals, name, &got, &got_attempts) == 0,
		"status_format's value does not parse: \"%s\"", v);
	if (strcmp(name, "x") != 0 && strcmp(name, "y.z") != 0)
		FUZZ_CHECK(got == st && got_attempts == attempts,
			"\"%s\" parsed as status %d attempts %d", v, (int)got, got_attempts);
	free(v);
out:
	free(name);
	free(time);
	free(error);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = {data, size};

	if (size < 1 || size > 64 * 1024)
		return -1;
	if (fuzz_byte(&c) & 1)
		format_mode(&c);
	else
		parse_mode(&c);
	return 0;
}
