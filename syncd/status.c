/* The status values syncd writes on a log record, one per target or hook:
 *   NAME STATUS attempts=N time=GENERALIZEDTIME[ error=TEXT]
 * They are what a restarted syncd resumes from, and what an auditor reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* max-attempts is at most 1000 (config.c): a larger stored count is not syncd's. */
#define STATUS_MAX_ATTEMPTS 1000

static const char *const names[] = {
	[TS_PENDING] = "pending",
	[TS_RETRYING] = "retrying",
	[TS_DELIVERED] = "delivered",
	[TS_SUPERSEDED] = "superseded",
	[TS_FAILED] = "failed",
};

const char *
status_name(enum tstatus s)
{
	return names[s];
}

int
status_final(enum tstatus s)
{
	return s == TS_DELIVERED || s == TS_SUPERSEDED || s == TS_FAILED;
}

char *
status_format(const char *name, enum tstatus s, int attempts, const char *time,
	const char *error)
{
	char *out = NULL;
	char clean[SYNCD_ERR]; /* the whole error text the engine keeps */
	size_t i;

	/* One line per value: an error text from a store must not break the format. */
	for (i = 0; error != NULL && error[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = (error[i] == '\n' || error[i] == '\r') ? ' ' : error[i];
	clean[i] = '\0';
	if (asprintf(&out, "%s %s attempts=%d time=%s%s%s", name, status_name(s), attempts,
	    time, clean[0] != '\0' ? " error=" : "", clean) < 0)
		return NULL;
	return out;
}

int
status_parse(char *const *vals, const char *name, enum tstatus *s, int *attempts)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		const char *v = vals[i], *p;

		if (strncmp(v, name, nlen) != 0 || v[nlen] != ' ')
			continue;
		p = v + nlen + 1;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			size_t klen = strlen(names[k]);

			if (strncmp(p, names[k], klen) == 0 && p[klen] == ' ') {
				/* A stored count is read back as a plain, bounded number: a negative
				 * one would retry without delay, a huge one overflow the next +1. */
				char *end;
				long n;

				p += klen + 1;
				if (strncmp(p, "attempts=", 9) != 0 || p[9] < '0' || p[9] > '9')
					return -1;
				errno = 0;
				n = strtol(p + 9, &end, 10);
				if (errno != 0 || n > STATUS_MAX_ATTEMPTS || (*end != ' ' && *end != '\0'))
					return -1;
				*s = (enum tstatus)k;
				*attempts = (int)n;
				return 0;
			}
		}
	}
	return -1;
}
