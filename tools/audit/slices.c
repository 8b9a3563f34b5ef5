/* Where a parallel verify cuts the log: into slices of change numbers, each read by a search
 * of its own on a connection of its own, so that slapd sends them from as many threads.
 *
 * The cuts only balance the work; they never decide what is read. Slice k is every record
 * whose number is at least cut k and below cut k + 1, the first slice open below (and
 * holding a record with no number at all), the last open above: whatever the cuts, every
 * record the one search of a serial verify returns is in exactly one slice, the records of
 * another chain, a forged number or a record far beyond the head included. A cut in the
 * wrong place makes one slice longer, never a record lost.
 *
 * To place the cuts, the number ranges the chains hold are probed by DN
 * (rgLogChangeNumber=N,<base> exists or not, a base search each): from the first number of
 * a chain, doubling steps until one is missing, then halving between the last found and
 * the first missing, as resetguard finds the head when it starts. Chain 0 starts after the
 * anchor; chain s (serverID s) at s * 2^48 + 1, probed for s = 1, 2, ... until eight in a
 * row have no first record. Some forty base searches for a million records. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#define RANGE_MAX 64 /* chains whose ranges are probed; the rest fall in the last slice */
#define CHAIN_GAP 8  /* serverIDs without a chain in a row that end the probing */

struct range {
	unsigned long long lo, hi;
};

/* 1 when rgLogChangeNumber=no,base is an entry the identity can see, 0 otherwise. */
static int
exists(LDAP *ld, const char *base, unsigned long long no)
{
	char dn[1100];
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL;
	struct timeval tv = { 30, 0 };
	int rc, found;

	if ((size_t)snprintf(dn, sizeof(dn), "rgLogChangeNumber=%llu,%s", no, base) >=
	    sizeof(dn))
		return 0;
	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
		&tv, 1, &res);
	found = rc == LDAP_SUCCESS && ldap_count_entries(ld, res) == 1;
	ldap_msgfree(res);
	return found;
}

/* The last number present from first on, first present: doubling, then halving. */
static unsigned long long
head_from(LDAP *ld, const char *base, unsigned long long first, unsigned long long limit)
{
	unsigned long long found = first, step = 1, missing;

	while (limit - found >= step && exists(ld, base, found + step)) {
		found += step;
		step *= 2;
	}
	if (limit - found < step)
		return found;
	missing = found + step;
	while (missing - found > 1) {
		unsigned long long mid = found + (missing - found) / 2;

		if (exists(ld, base, mid))
			found = mid;
		else
			missing = mid;
	}
	return found;
}

/* The ranges of numbers the chains hold, as far as the probes see them. */
static size_t
probe_ranges(LDAP *ld, const char *base, unsigned long long first0, struct range *r)
{
	size_t n = 0;

	if (rg_log_chain(first0) == 0 && exists(ld, base, first0)) {
		r[n].lo = first0;
		r[n].hi = head_from(ld, base, first0, rg_log_chain_base(1) - 1);
		n++;
	}
	for (unsigned s = 1, missing = 0; s <= RG_LOG_CHAIN_MAX && n < RANGE_MAX &&
	     missing < CHAIN_GAP; s++) {
		unsigned long long lo = rg_log_chain_base(s) + 1;

		if (!exists(ld, base, lo)) {
			missing++;
			continue;
		}
		missing = 0;
		r[n].lo = lo;
		r[n].hi = head_from(ld, base, lo, rg_log_chain_base(s + 1) - 1);
		n++;
	}
	return n;
}

/* The number at offset pos of the ranges laid end to end. */
static unsigned long long
number_at(const struct range *r, size_t n, unsigned long long pos)
{
	for (size_t i = 0; i < n; i++) {
		unsigned long long len = r[i].hi - r[i].lo + 1;

		if (pos < len)
			return r[i].lo + pos;
		pos -= len;
	}
	return r[n - 1].hi;
}

void
audit_slices_free(char **filters, int n)
{
	for (int i = 0; i < n; i++)
		free(filters[i]);
	free(filters);
}

int
audit_slices(LDAP *ld, const char *base, unsigned long long first0, int jobs, int min_each,
	char ***filtersp, int *np)
{
	struct range r[RANGE_MAX];
	unsigned long long cut[AUDIT_JOBS_MAX + 1], total = 0;
	size_t nr = jobs > 1 ? probe_ranges(ld, base, first0, r) : 0;
	char **f = NULL;
	int n = 1, ret = AUDIT_ERROR;

	for (size_t i = 0; i < nr; i++)
		total += r[i].hi - r[i].lo + 1;
	/* cut[k], 0 < k < n: the first number of slice k, strictly ascending */
	if (nr > 0 && jobs > 1) {
		unsigned long long want = (unsigned long long)jobs;

		if (min_each > 0 && total / (unsigned long long)min_each < want)
			want = total / (unsigned long long)min_each;
		if (want > total)
			want = total;
		for (unsigned long long k = 1; k < want; k++) {
			unsigned long long x = number_at(r, nr, total / want * k);

			if (n == 1 || x > cut[n - 1])
				cut[n++] = x;
		}
	}
	if ((f = calloc((size_t)n, sizeof(*f))) == NULL)
		goto out;
	for (int k = 0; k < n; k++) {
		int len;

		if (n == 1)
			len = asprintf(&f[k], "(objectClass=rgLogRecord)");
		else if (k == 0)   /* a record without a number fails >=, so the NOT takes it */
			len = asprintf(&f[k], "(&(!(rgLogChangeNumber>=%llu))"
				"(objectClass=rgLogRecord))", cut[1]);
		else if (k == n - 1)
			len = asprintf(&f[k], "(&(rgLogChangeNumber>=%llu)"
				"(objectClass=rgLogRecord))", cut[k]);
		else
			len = asprintf(&f[k], "(&(rgLogChangeNumber>=%llu)"
				"(!(rgLogChangeNumber>=%llu))(objectClass=rgLogRecord))", cut[k],
				cut[k + 1]);
		if (len < 0) {
			f[k] = NULL;
			goto out;
		}
	}
	*filtersp = f;
	*np = n;
	f = NULL;
	ret = AUDIT_OK;
out:
	if (f != NULL)
		audit_slices_free(f, n);
	if (ret != AUDIT_OK)
		fprintf(stderr, PROG ": out of memory\n");
	return ret;
}
