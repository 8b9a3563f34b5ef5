/* verify: reads every record, recomputes its hash while streaming, keeps ~80 bytes a record,
 * then walks each chain in change number order and reports its first break. Each provider
 * of a replicated log has a chain of its own (serverID s: numbers s * 2^48 + 1, 2, ...,
 * see resetlog.h); sorted by number the chains lie one after the other, and each is
 * walked alone. With a
 * checkpoint, the head verified last time must still be in the chain, with the same hash:
 * a chain rewritten offline and hashed again, or cut short, is intact in itself but not
 * against what the auditor kept. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"

#define V_HASH_OK  1    /* the stored hash is the hash of the record as read */
#define V_PREV_HEX 2    /* prev is 64 lower-case hex digits, held in prev[] */

struct vrec {
	unsigned long long number;
	unsigned char hash[32];
	unsigned char prev[32];
	unsigned char flags;
};

struct vstate {
	struct vrec *v;
	size_t n, cap;
	struct audit_entry a;
	int has_anchor;
	unsigned long long anchor;
	unsigned long long origin;      /* the number before the chain's first: 0, s << 48 */
	unsigned char anchor_hash[32];
	char anchor_hex[RG_LOG_HASH_HEX];
	unsigned long long ignored;
};

/* Each hex digit's value plus 1; 0 for any other byte. */
static const unsigned char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16
};

/* 64 lower-case hex digits into 32 bytes; -1 for anything else. */
static int
unhex(const char *s, unsigned char out[32])
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < 32; i++) {
		int hi = hexval[(unsigned char)s[2 * i]], lo = hexval[(unsigned char)s[2 * i + 1]];

		if (hi == 0 || lo == 0)
			return -1;
		out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return s[64] == '\0' ? 0 : -1;
}

static void
tohex(const unsigned char in[32], char out[RG_LOG_HASH_HEX])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[64] = '\0';
}

static int
anchor_cb(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct vstate *st = arg;
	struct berval **num = ldap_get_values_len(ld, e, "rgLogAnchorNumber");
	struct berval **hash = ldap_get_values_len(ld, e, "rgLogAnchorHash");
	int ret = AUDIT_OK;

	if (num == NULL && hash == NULL)
		return AUDIT_OK;
	st->has_anchor = 1;
	if (num == NULL || hash == NULL) {
		printf("chain broken: the log root has %s but no %s: the anchor is incomplete\n",
			num ? "rgLogAnchorNumber" : "rgLogAnchorHash",
			num ? "rgLogAnchorHash" : "rgLogAnchorNumber");
		ret = AUDIT_BROKEN;
	} else {
		char n[32] = "", h[RG_LOG_HASH_HEX] = "", *end;
		unsigned long long v = 0;
		int ok = num[0]->bv_len > 0 && num[0]->bv_len < 21 &&
			hash[0]->bv_len < sizeof(h);

		if (ok) {
			memcpy(n, num[0]->bv_val, num[0]->bv_len);
			memcpy(h, hash[0]->bv_val, hash[0]->bv_len);
			ok = unhex(h, st->anchor_hash) == 0 && strspn(n, "0123456789") ==
				strlen(n);
			errno = 0;
			v = strtoull(n, &end, 10);
			ok = ok && errno == 0 && *end == '\0';
		}
		if (!ok) {
			printf("chain broken: the anchor on the log root is malformed (a change "
				"number and a 64-digit lower-case hex hash are expected)\n");
			ret = AUDIT_BROKEN;
		} else {
			st->anchor = v;
			memcpy(st->anchor_hex, h, sizeof(h));
		}
	}
	ldap_value_free_len(num);
	ldap_value_free_len(hash);
	return ret;
}

static int
record_cb(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct vstate *st = arg;
	struct audit_entry *a = &st->a;
	struct vrec *r;
	char computed[RG_LOG_HASH_HEX];

	if (audit_decode(ld, e, a) != 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return AUDIT_ERROR;
	}
	if (!a->has_number || a->hash == NULL || a->prev == NULL) {
		char *dn = ldap_get_dn(ld, e);

		fprintf(stderr, PROG ": the record '%s' has no readable %s\n" PROG
			": the bind identity needs read access to every rgLog attribute\n",
			dn ? dn : "?", !a->has_number ? "change number" :
			a->hash == NULL ? "rgLogHash" : "rgLogPrevHash");
		ldap_memfree(dn);
		return AUDIT_ERROR;
	}
	if (st->has_anchor && a->r.number <= st->anchor) {
		st->ignored++;
		return AUDIT_OK;
	}
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 4096;
		struct vrec *p = realloc(st->v, cap * sizeof(*p));

		if (p == NULL) {
			fprintf(stderr, PROG ": out of memory after %zu records\n", st->n);
			return AUDIT_ERROR;
		}
		st->v = p;
		st->cap = cap;
	}
	r = &st->v[st->n++];
	memset(r, 0, sizeof(*r));
	r->number = a->r.number;
	if (!a->malformed) {
		if (rg_log_hash(&a->r, computed) != 0) {
			fprintf(stderr, PROG ": cannot compute a hash (out of memory)\n");
			return AUDIT_ERROR;
		}
		if (strcmp(computed, a->hash) == 0 && unhex(a->hash, r->hash) == 0)
			r->flags |= V_HASH_OK;
	}
	if (unhex(a->prev, r->prev) == 0)
		r->flags |= V_PREV_HEX;
	return AUDIT_OK;
}

static int
by_number(const void *x, const void *y)
{
	const struct vrec *a = x, *b = y;

	return a->number < b->number ? -1 : a->number > b->number;
}

/* Prints the first break, if any; 1 when there is one. */
static int
walk(const struct vstate *st, char head[RG_LOG_HASH_HEX])
{
	unsigned long long expect = st->has_anchor ? st->anchor + 1 : st->origin + 1;
	static const unsigned char genesis[32];
	const unsigned char *prev = st->has_anchor ? st->anchor_hash : genesis;

	for (size_t i = 0; i < st->n; i++) {
		const struct vrec *r = &st->v[i];
		unsigned long long before = i > 0 ? st->v[i - 1].number : st->anchor;
		char after[160];

		if (i + 1 < st->n)
			snprintf(after, sizeof(after), "the next record is %llu",
				st->v[i + 1].number);
		else
			snprintf(after, sizeof(after), "it is the last record");
		if (i > 0 && r->number == before) {
			printf("chain broken: record %llu appears twice\n", r->number);
			return 1;
		}
		if (r->number != expect) {
			printf("chain broken: ");
			if (r->number - 1 == expect)
				printf("record %llu is missing (deleted) ", expect);
			else
				printf("records %llu..%llu are missing (deleted) ", expect,
					r->number - 1);
			if (i > 0)
				printf("between %llu and %llu\n", before, r->number);
			else if (st->has_anchor)
				printf("between the anchor %llu and %llu\n", before, r->number);
			else
				printf("before %llu: the chain starts at record %llu\n", r->number,
					st->origin + 1);
			return 1;
		}
		if (!(r->flags & V_HASH_OK)) {
			printf("chain broken: record %llu was altered: its contents do not match "
				"its hash (", r->number);
			if (i > 0)
				printf("records up to %llu are intact; ", before);
			printf("%s)\n", after);
			return 1;
		}
		if (!(r->flags & V_PREV_HEX) || memcmp(r->prev, prev, 32) != 0) {
			if (i > 0)
				printf("chain broken: record %llu does not follow record %llu: its "
					"prev hash does not match (reordered or replaced; %s)\n",
					r->number, before, after);
			else if (st->has_anchor)
				printf("chain broken: record %llu does not follow the anchor (record "
					"%llu): its prev hash does not match the anchor hash "
					"(reordered or replaced, or a wrong anchor; %s)\n",
					r->number, before, after);
			else
				printf("chain broken: record %llu does not start the chain: its prev "
					"hash is not the genesis hash (replaced; %s)\n", r->number,
					after);
			return 1;
		}
		prev = r->hash;
		expect = r->number + 1;
	}
	tohex(prev, head);
	return 0;
}

/* The checkpoint against the verified chain, whose head is record (or anchor) head.
 * AUDIT_OK, AUDIT_BROKEN or AUDIT_CP_PURGED, the finding printed. */
static int
check_checkpoint(const struct vstate *st, unsigned long long head,
	const struct audit_checkpoint *cp, const char *path)
{
	unsigned long long n = cp->number;
	char have[RG_LOG_HASH_HEX];

	if (st->has_anchor && n < st->anchor) {
		printf("checkpoint predates the purge: record %llu of the checkpoint from %s is "
			"below the purge anchor (record %llu), so whether the records up to it were "
			"rewritten cannot be checked; the chain verified from the anchor. If that "
			"purge is expected, move %s aside and verify again to start a new "
			"checkpoint\n", n, cp->time, st->anchor, path);
		return AUDIT_CP_PURGED;
	}
	if (n > head) {
		printf("truncated: the log ends at ");
		if (head == 0)
			printf("no record (it is empty)");
		else
			printf("record %llu", head);
		printf(", but the checkpoint from %s says record %llu (hash %s) was there: "
			"records %llu..%llu were removed\n", cp->time, n, cp->hash, head + 1, n);
		return AUDIT_BROKEN;
	}
	if (st->has_anchor && n == st->anchor) {
		memcpy(have, st->anchor_hex, sizeof(have));
	} else if (n == 0) {
		memcpy(have, RG_LOG_GENESIS, sizeof(have));
	} else {
		/* walk() found the records contiguous from v[0] */
		tohex(st->v[n - st->v[0].number].hash, have);
	}
	if (strcmp(have, cp->hash) != 0) {
		printf("re-chained or edited: record %llu has hash %s, the checkpoint from %s says "
			"%s%s\n", n, have, cp->time, cp->hash, st->has_anchor && n == st->anchor ?
			" (the record was purged: its hash is the purge anchor's)" : "");
		return AUDIT_BROKEN;
	}
	return AUDIT_OK;
}

/* After a verified chain: the checkpoint checked, then moved to the new head. */
static int
checkpoint(const struct vstate *st, const char *head_hex, const struct audit_verify_opts *o)
{
	struct audit_checkpoint next;
	unsigned long long head = st->n > 0 ? st->v[st->n - 1].number :
		st->has_anchor ? st->anchor : 0;
	char err[512];
	int ret;

	if (o->cp->present &&
	    (ret = check_checkpoint(st, head, o->cp, o->checkpoint)) != AUDIT_OK)
		return ret;
	memset(&next, 0, sizeof(next));
	next.base = o->cp->base;
	next.number = head;
	memcpy(next.hash, head_hex, sizeof(next.hash));
	audit_cp_now(next.time);
	if (audit_cp_save(o->checkpoint, &next, o->key, o->keylen, err, sizeof(err)) != AUDIT_OK) {
		fprintf(stderr, PROG ": %s\n", err);
		return AUDIT_ERROR;
	}
	if (o->cp->present)
		printf("checkpoint: record %llu from %s is still in the chain with its hash; %s now "
			"holds record %llu\n", o->cp->number, o->cp->time, o->checkpoint, head);
	else
		printf("checkpoint: %s created at record %llu\n", o->checkpoint, head);
	return AUDIT_OK;
}

/* The checkpoint of chain (serverID) chain > 0: FILE.sidN beside FILE, chain 0's. */
static char *
chain_cp_path(const char *path, unsigned chain)
{
	size_t len = strlen(path) + sizeof(".sid4095");
	char *p = malloc(len);

	if (p != NULL)
		snprintf(p, len, "%s.sid%u", path, chain);
	return p;
}

/* Verifies one chain, seg, as the whole log was verified before there were several: the
 * walk, the summary and the checkpoint (chain 0's in FILE, another's in FILE.sidN). */
static int
verify_chain(const struct vstate *seg, unsigned chain, int several,
	const struct audit_verify_opts *o)
{
	struct audit_verify_opts co = *o;
	struct audit_checkpoint cp = { 0 };
	char head[RG_LOG_HASH_HEX], err[512], *path = NULL;
	int ret = AUDIT_OK;

	if (several)
		printf("chain of serverID %u: ", chain);
	if (walk(seg, head) != 0)
		return AUDIT_BROKEN;
	if (seg->n == 0)
		printf("verified 0 records\n");
	else
		printf("verified %zu records (%llu..%llu), head hash %s\n", seg->n,
			seg->v[0].number, seg->v[seg->n - 1].number, head);
	if (seg->has_anchor)
		printf("the chain continues from the anchor: record %llu, hash %s\n", seg->anchor,
			seg->anchor_hex);
	if (o->checkpoint == NULL)
		return AUDIT_OK;
	if (chain != 0) {
		if ((path = chain_cp_path(o->checkpoint, chain)) == NULL)
			return AUDIT_ERROR;
		ret = audit_cp_load(path, o->cp->base, o->key, o->keylen, &cp, err, sizeof(err));
		if (ret != AUDIT_OK) {
			printf("%s\n", err);
			goto out;
		}
		cp.base = o->cp->base;
		co.checkpoint = path;
		co.cp = &cp;
	}
	ret = checkpoint(seg, head, &co);
out:
	if (chain != 0)
		cp.base = NULL;
	audit_cp_free(&cp);
	free(path);
	return ret;
}

/* A chain that has no record left while its checkpoint says it had: removed whole. */
static int
missing_chains(const struct vstate *st, const struct audit_verify_opts *o)
{
	unsigned char present[RG_LOG_CHAIN_MAX + 1] = { 0 };
	int ret = AUDIT_OK;

	if (o->checkpoint == NULL)
		return AUDIT_OK;
	for (size_t i = 0; i < st->n; i++)
		present[rg_log_chain(st->v[i].number)] = 1;
	for (unsigned c = 1; c <= RG_LOG_CHAIN_MAX; c++) {
		struct audit_checkpoint cp = { 0 };
		char *path, err[512];

		if (present[c])
			continue;
		if ((path = chain_cp_path(o->checkpoint, c)) == NULL)
			return AUDIT_ERROR;
		if (access(path, F_OK) != 0) {
			free(path);
			continue;
		}
		if (audit_cp_load(path, o->cp->base, o->key, o->keylen, &cp, err,
		    sizeof(err)) != AUDIT_OK)
			printf("%s\n", err);
		else
			printf("truncated: the chain of serverID %u has no record left, but the "
				"checkpoint %s from %s says record %llu (hash %s) was there\n", c,
				path, cp.time, cp.number, cp.hash);
		ret = AUDIT_BROKEN;
		audit_cp_free(&cp);
		free(path);
	}
	return ret;
}

/* Each chain in turn; the first broken one ends the verification, as a break does. */
static int
verify_chains(const struct vstate *st, const struct audit_verify_opts *o)
{
	size_t i = 0;
	int several = st->n > 0 && rg_log_chain(st->v[st->n - 1].number) != 0, first = 1;
	int ret = AUDIT_OK;

	/* Chain 0 first, even empty: the anchor and the checkpoint file are its. */
	while (first || i < st->n) {
		struct vstate seg = *st;
		unsigned chain = first ? 0 : rg_log_chain(st->v[i].number);
		size_t j = i;

		first = 0;
		while (j < st->n && rg_log_chain(st->v[j].number) == chain)
			j++;
		seg.v = st->v != NULL ? st->v + i : NULL;    /* an empty log has no array */
		seg.n = j - i;
		seg.origin = rg_log_chain_base(chain);
		if (chain != 0)
			seg.has_anchor = 0;
		if ((ret = verify_chain(&seg, chain, several, o)) != AUDIT_OK)
			return ret;
		i = j;
	}
	if (several)
		printf("verified %zu records in all\n", st->n);
	return missing_chains(st, o);
}

/* The records of every slice into st, in slice order: ascending when each slice came
 * ascending, which the sort then finds in one pass. */
static int
merge(struct vstate *st, struct vstate *part, int n)
{
	size_t total = 0, at = 0;

	for (int i = 0; i < n; i++)
		total += part[i].n;
	if (total > 0 && (st->v = malloc(total * sizeof(*st->v))) == NULL) {
		fprintf(stderr, PROG ": out of memory after %zu records\n", total);
		return AUDIT_ERROR;
	}
	for (int i = 0; i < n; i++) {
		if (part[i].n > 0)
			memcpy(st->v + at, part[i].v, part[i].n * sizeof(*st->v));
		at += part[i].n;
		st->ignored += part[i].ignored;
	}
	st->n = st->cap = total;
	return AUDIT_OK;
}

static int
sorted(const struct vstate *st)
{
	for (size_t i = 1; i < st->n; i++)
		if (st->v[i - 1].number > st->v[i].number)
			return 0;
	return 1;
}

/* Every record into st: one search, or o->jobs slices read at once, each into a vstate of
 * its own, then merged. */
static int
read_records(LDAP **lds, const char *base, const struct audit_verify_opts *o,
	struct vstate *st)
{
	struct vstate part[AUDIT_JOBS_MAX];
	void *args[AUDIT_JOBS_MAX];
	char **filters = NULL;
	int n = 0, ret;

	/* A slice per 20,000 records at most, unless --jobs was given: fewer records are not
	 * worth the connections (the tests give it, to put seams in small logs). */
	ret = audit_slices(lds[0], base, st->has_anchor ? st->anchor + 1 : 1, o->jobs,
		o->jobs_given ? 0 : 20000, &filters, &n);
	if (ret != AUDIT_OK)
		return ret;
	if (o->verbose && n > 1) {
		fprintf(stderr, PROG ": reading the log in %d slices at once:\n", n);
		for (int i = 0; i < n; i++)
			fprintf(stderr, PROG ":   slice %d %s\n", i + 1, filters[i]);
	}
	memset(part, 0, sizeof(part));
	for (int i = 0; i < n; i++) {
		part[i].has_anchor = st->has_anchor;
		part[i].anchor = st->anchor;
		args[i] = &part[i];
	}
	ret = audit_scan_jobs(lds, n, base, filters, audit_hash_attrs, 1, o->verbose, record_cb,
		args);
	if (ret == AUDIT_OK)
		ret = merge(st, part, n);
	for (int i = 0; i < n; i++) {
		audit_entry_free(&part[i].a);
		free(part[i].v);
	}
	audit_slices_free(filters, n);
	return ret;
}

int
audit_verify(LDAP **lds, const char *base, const struct audit_verify_opts *o)
{
	struct vstate st;
	char *root_attrs[] = { "rgLogAnchorNumber", "rgLogAnchorHash", NULL };
	struct timespec t0, t1;
	int ret;

	memset(&st, 0, sizeof(st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = audit_search(lds[0], base, LDAP_SCOPE_BASE, "(objectClass=*)", root_attrs, 0,
		anchor_cb, &st);
	if (ret == AUDIT_OK)
		ret = read_records(lds, base, o, &st);
	if (ret != AUDIT_OK)
		goto out;
	if (!sorted(&st))
		qsort(st.v, st.n, sizeof(*st.v), by_number);
	ret = verify_chains(&st, o);
	if (o->verbose) {
		double s;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		fprintf(stderr, PROG ": read and checked %zu records in %.2f s (%.0f records/s)\n",
			st.n, s, s > 0 ? (double)st.n / s : 0.0);
		if (st.ignored > 0)
			fprintf(stderr, PROG ": ignored %llu records at or below the anchor\n",
				st.ignored);
	}
out:
	free(st.v);
	return ret;
}
