/* Every record of the reset log matching a filter, at any server size limit: a plain or a
 * paged search first (one search when the limits allow it), then, if the limit cut that
 * short, windows of change numbers. A window the limit still cuts is halved. Records are
 * handed over once whichever searches return them, so a search cut short is never a loss
 * and never a duplicate. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errbuf.h"
#include "logscan.h"

#define PAGE_SIZE 1000
#define NUMBER_ATTR "rgLogChangeNumber"

/* The change numbers already handed over. slapd returns records in the order they were added,
 * so they come mostly ascending and contiguous: runs lo..hi (ascending, disjoint; the last one
 * grows) hold those, and an open-addressing hash set (0 marks a free slot, so the number 0 is
 * kept apart) the others, all below the last run's end. A million records are then one run,
 * not a 16 MB table probed at random. */
struct run {
	unsigned long long lo, hi;
};

struct numset {
	unsigned long long *v;
	size_t cap, n;
	int zero;
	struct run *r;
	size_t nr, rcap;
};

struct scan {
	struct logscan *s;
	struct numset seen;
	char **nonum; /* DNs of records without a usable number (the first passes only) */
	size_t nnonum;
	int noted;
	char *nbase;  /* the log base, normalized */
	char *parent; /* the base as the server spells it in a record's DN, once seen */
};

static size_t
slot(unsigned long long x, size_t cap)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static int hash_add(struct numset *s, unsigned long long x);

static int
hash_grow(struct numset *s, size_t cap)
{
	unsigned long long *old = s->v;
	size_t oldcap = s->cap;

	if ((s->v = calloc(cap, sizeof(*s->v))) == NULL) {
		s->v = old;
		return -1;
	}
	s->cap = cap;
	s->n = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != 0)
			hash_add(s, old[i]);
	free(old);
	return 0;
}

/* 1 when x is new, 0 when it was there, -1 when out of memory. */
static int
hash_add(struct numset *s, unsigned long long x)
{
	size_t i;

	if (x == 0) {
		if (s->zero)
			return 0;
		return s->zero = 1;
	}
	if ((s->n + 1) * 2 > s->cap && hash_grow(s, s->cap ? s->cap * 2 : 1024) != 0)
		return -1;
	for (i = slot(x, s->cap); s->v[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == x)
			return 0;
	s->v[i] = x;
	s->n++;
	return 1;
}

/* The first run that does not end below x. */
static size_t
run_at(const struct numset *s, unsigned long long x)
{
	size_t lo = 0, hi = s->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->r[mid].hi < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* 1 when x is new, 0 when it was there, -1 when out of memory. */
static int
numset_add(struct numset *s, unsigned long long x)
{
	struct run *last = s->nr > 0 ? &s->r[s->nr - 1] : NULL;
	size_t at;

	if (last == NULL || x > last->hi) {
		/* above every number held, the hash's included */
		if (last != NULL && x == last->hi + 1) {
			last->hi = x;
			return 1;
		}
		if (s->nr == s->rcap) {
			size_t cap = s->rcap ? s->rcap * 2 : 16;
			struct run *r = realloc(s->r, cap * sizeof(*r));

			if (r == NULL)
				return -1;
			s->r = r;
			s->rcap = cap;
		}
		s->r[s->nr++] = (struct run){x, x};
		return 1;
	}
	at = run_at(s, x);
	if (at < s->nr && s->r[at].lo <= x)
		return 0;
	return hash_add(s, x);
}

/* Forgets the numbers up to upto: the windows have moved past them for good. */
static int
numset_prune(struct numset *s, unsigned long long upto)
{
	struct numset h = {NULL, 0, 0, 0, NULL, 0, 0};
	size_t at = run_at(s, upto), keep;

	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i] > upto && hash_add(&h, s->v[i]) < 0) {
			free(h.v);
			return -1;
		}
	free(s->v);
	s->v = h.v;
	s->cap = h.cap;
	s->n = h.n;
	s->zero = 0;
	/* runs wholly at or below upto go; the one holding upto keeps what is above it */
	if (at < s->nr && s->r[at].hi == upto)
		at++;
	else if (at < s->nr && s->r[at].lo <= upto)
		s->r[at].lo = upto + 1;
	keep = s->nr - at;
	memmove(s->r, s->r + at, keep * sizeof(*s->r));
	s->nr = keep;
	return 0;
}

/* The record's change number, as the canonical form writes it; -1 when it has none. */
static int
entry_number(LDAP *ld, LDAPMessage *m, unsigned long long *out)
{
	struct berval **v = ldap_get_values_len(ld, m, NUMBER_ATTR);
	char buf[24], *end;
	int rc = -1;

	if (v != NULL && v[0] != NULL && v[0]->bv_len > 0 && v[0]->bv_len < sizeof(buf)) {
		memcpy(buf, v[0]->bv_val, v[0]->bv_len);
		buf[v[0]->bv_len] = '\0';
		if (buf[0] >= '0' && buf[0] <= '9') {
			*out = strtoull(buf, &end, 10);
			rc = *end == '\0' ? 0 : -1;
		}
	}
	ldap_value_free_len(v);
	return rc;
}

/* A record without a number cannot be told apart by it: its DN stands in. */
static int
nonum_new(struct scan *sc, LDAP *ld, LDAPMessage *m)
{
	char *dn = ldap_get_dn(ld, m), **v;
	int fresh = 1;

	if (dn == NULL)
		return -1;
	for (size_t i = 0; i < sc->nnonum && fresh; i++)
		fresh = strcasecmp(sc->nonum[i], dn) != 0;
	if (fresh && (v = realloc(sc->nonum, (sc->nnonum + 1) * sizeof(*v))) != NULL) {
		sc->nonum = v;
		if ((v[sc->nnonum] = strdup(dn)) != NULL)
			sc->nnonum++;
	}
	ldap_memfree(dn);
	return fresh;
}

void
logscan_hint(int rc, const char *identity, const char *base, char *buf, size_t len)
{
	char who[600], limits[600];

	if (identity != NULL) {
		snprintf(who, sizeof(who), "dn.exact=\"%s\"", identity);
		snprintf(limits, sizeof(limits), "dn.exact=\"%s\"", identity);
	} else {
		snprintf(who, sizeof(who), "anonymous");
		snprintf(limits, sizeof(limits), "anonymous");
	}
	switch (rc) {
	case LDAP_SIZELIMIT_EXCEEDED:
		rg_seterr(buf, len,
			"raise the size limit of %s on the log database %s: olcLimits "
			"(slapd.conf: limits) %s size=unlimited",
			identity ? identity : "anonymous", base, limits);
		break;
	case LDAP_ADMINLIMIT_EXCEEDED:
		rg_seterr(buf, len,
			"the server refuses the search as too large for %s: raise "
			"its limits on the log database %s, olcLimits (slapd.conf: limits) %s "
			"size.unchecked=unlimited size.pr=noEstimate",
			identity ? identity : "anonymous", base, limits);
		break;
	case LDAP_TIMELIMIT_EXCEEDED:
		rg_seterr(buf, len,
			"raise the time limit of %s on the log database %s: olcLimits "
			"(slapd.conf: limits) %s time=unlimited",
			identity ? identity : "anonymous", base, limits);
		break;
	case LDAP_INSUFFICIENT_ACCESS:
		rg_seterr(buf, len,
			"grant %s read access to the records of the log database: "
			"olcAccess (slapd.conf: access) to dn.subtree=\"%s\" by %s read",
			identity ? identity : "anonymous", base, who);
		break;
	case LDAP_NO_SUCH_OBJECT:
		rg_seterr(buf, len,
			"check the log base %s, and that %s may see it: olcAccess "
			"(slapd.conf: access) to dn.base=\"%s\" by %s read",
			base, identity ? identity : "anonymous", base, who);
		break;
	default:
		if (len > 0)
			buf[0] = '\0';
	}
}

static void
fail(struct scan *sc, int rc, const char *diag, char *err, size_t errlen)
{
	char hint[1024];

	sc->s->ldap_rc = rc;
	logscan_hint(rc, sc->s->identity, sc->s->base, hint, sizeof(hint));
	rg_seterr(err, errlen, "search of the reset log %s failed: %s (%d)%s%s%s%s", sc->s->base,
		ldap_err2string(rc), rc, diag && *diag ? ": " : "", diag ? diag : "",
		*hint ? "; " : "", hint);
}

#define OOM (INT_MIN + 1)

/* LIMITED is no value an entry callback (0 or positive) or an error (-1) takes. */
enum { DONE = 0, LIMITED = INT_MIN };

/* The length of "rgLogChangeNumber=<no>," at the start of dn, 0 if it does not start so. */
static size_t
number_rdn(const char *dn, unsigned long long no)
{
	static const char type[] = NUMBER_ATTR "=";
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%llu", no);

	if (strncasecmp(dn, type, sizeof(type) - 1) != 0 ||
		strncmp(dn + sizeof(type) - 1, digits, (size_t)n) != 0 ||
		dn[sizeof(type) - 1 + (size_t)n] != ',')
		return 0;
	return sizeof(type) + (size_t)n;
}

/* Whether m is rgLogChangeNumber=no directly below the log base, as resetguard names it.
 * Both DNs normalized: a base written with other spacing or case names the same entries.
 * Normalizing is RDN by RDN, so once a DN "rgLogChangeNumber=<n>,P" has matched, any other
 * "rgLogChangeNumber=<m>,P" with the same bytes P does: those skip the two normalizations,
 * most of the time a record takes here. */
static int
own_dn(struct scan *sc, LDAPMessage *m, unsigned long long no)
{
	char *dn = ldap_get_dn(sc->s->ld, m), *want = NULL, *ndn = NULL, *nwant = NULL;
	size_t head = dn != NULL ? number_rdn(dn, no) : 0;
	int own = 0;

	if (head > 0 && sc->parent != NULL && strcmp(dn + head, sc->parent) == 0) {
		own = 1;
	} else if (dn != NULL && sc->nbase != NULL &&
		asprintf(&want, "rgLogChangeNumber=%llu,%s", no, sc->nbase) >= 0 &&
		ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAPV3, &ndn, LDAP_DN_FORMAT_LDAPV3) ==
			LDAP_SUCCESS &&
		ldap_dn_normalize(want, LDAP_DN_FORMAT_LDAPV3, &nwant,
			LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS) {
		own = strcasecmp(ndn, nwant) == 0;
		if (own && head > 0 && sc->parent == NULL)
			sc->parent = strdup(dn + head); /* NULL: the slow way next time */
	}
	free(want);
	ldap_memfree(ndn);
	ldap_memfree(nwant);
	ldap_memfree(dn);
	return own;
}

/* Hands m over unless an earlier search did; tracks what the window saw. */
static int
take(struct scan *sc, LDAPMessage *m, int windowed, unsigned long long *maxno, int *count)
{
	struct logscan *s = sc->s;
	unsigned long long no;
	int fresh;

	(*count)++;
	if (entry_number(s->ld, m, &no) == 0) {
		if (no > *maxno)
			*maxno = no;
		/* Only a record under its own DN is the one a repeated window finds again;
		 * another entry claiming its number is handed over, for verify to report. */
		fresh = own_dn(sc, m, no) ? numset_add(&sc->seen, no) : 1;
	} else {
		/* Windows select by number: none of theirs lacks one. */
		fresh = windowed ? 0 : nonum_new(sc, s->ld, m);
	}
	if (fresh < 0)
		return OOM;
	if (!fresh)
		return 0;
	s->delivered++;
	return s->entry(s->ld, m, s->arg);
}

/* One search, page by page when paged. DONE or LIMITED; -1 on error (err set); or entry's
 * non-zero value. */
static int
search(struct scan *sc, const char *filter, int paged, int windowed, unsigned long long *maxno,
	int *count, char *err, size_t errlen)
{
	struct logscan *s = sc->s;
	struct timeval tv = {s->timeout, 0}, *tvp = s->timeout > 0 ? &tv : NULL;
	struct berval *cookie = NULL;
	int ret = DONE;

	*maxno = 0;
	*count = 0;
	do {
		LDAPControl *page = NULL, *ctrls[2] = {NULL, NULL}, **sctrls = NULL, *pr;
		LDAPMessage *res = NULL;
		int rc, msgid, code = LDAP_OTHER, done = 0;
		char *diag = NULL;

		/* Not critical: a server without paging answers as to a plain search. */
		if (paged &&
			ldap_create_page_control(s->ld, PAGE_SIZE, cookie, 0, &page) !=
				LDAP_SUCCESS) {
			fail(sc, LDAP_NO_MEMORY, NULL, err, errlen);
			ret = -1;
			break;
		}
		ctrls[0] = page;
		rc = ldap_search_ext(s->ld, s->base, LDAP_SCOPE_ONELEVEL, filter, s->attrs, 0,
			ctrls, NULL, tvp, LDAP_NO_LIMIT, &msgid);
		ldap_control_free(page);
		s->searches++;
		if (rc != LDAP_SUCCESS) {
			fail(sc, rc, NULL, err, errlen);
			ret = -1;
			break;
		}
		ber_bvfree(cookie);
		cookie = NULL;
		while (!done && ret == DONE) {
			rc = ldap_result(s->ld, msgid, LDAP_MSG_ONE, tvp, &res);
			if (rc <= 0) {
				if (rc == 0)
					ldap_abandon_ext(s->ld, msgid, NULL, NULL);
				else
					ldap_get_option(s->ld, LDAP_OPT_RESULT_CODE, &rc);
				fail(sc, rc == 0 ? LDAP_TIMEOUT : rc, NULL, err, errlen);
				ret = -1;
				break;
			}
			if (rc == LDAP_RES_SEARCH_ENTRY) {
				ret = take(sc, res, windowed, maxno, count);
				if (ret == OOM) {
					fail(sc, LDAP_NO_MEMORY, NULL, err, errlen);
					ret = -1;
				}
				if (ret != DONE)
					ldap_abandon_ext(s->ld, msgid, NULL, NULL);
			} else if (rc == LDAP_RES_SEARCH_RESULT) {
				done = 1;
				if (ldap_parse_result(s->ld, res, &code, NULL, &diag, NULL, &sctrls,
					    0) != LDAP_SUCCESS)
					code = LDAP_OTHER;
				/* A page size over size.pr is an admin limit: windows need none. */
				if (code == LDAP_SIZELIMIT_EXCEEDED ||
					(paged && code == LDAP_ADMINLIMIT_EXCEEDED)) {
					ret = LIMITED;
				} else if (code != LDAP_SUCCESS) {
					fail(sc, code, diag, err, errlen);
					ret = -1;
				} else if (paged &&
					(pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, sctrls,
						 NULL)) != NULL) {
					ber_int_t estimate;
					struct berval c = {0, NULL};

					if (ldap_parse_pageresponse_control(s->ld, pr, &estimate,
						    &c) != LDAP_SUCCESS) {
						fail(sc, LDAP_DECODING_ERROR,
							"the paged results "
							"response",
							err, errlen);
						ret = -1;
					} else if (c.bv_len > 0) {
						cookie = ber_bvdup(&c);
					}
					ber_memfree(c.bv_val);
				}
				ldap_memfree(diag);
				ldap_controls_free(sctrls);
			}
			ldap_msgfree(res);
			res = NULL;
		}
	} while (ret == DONE && cookie != NULL);
	ber_bvfree(cookie);
	return ret;
}

static void
note_limit(struct scan *sc, int count)
{
	struct logscan *s = sc->s;
	char text[1400], hint[1024];

	if (s->limit == 0)
		s->limit = count;
	if (sc->noted || s->note == NULL)
		return;
	sc->noted = 1;
	logscan_hint(LDAP_SIZELIMIT_EXCEEDED, s->identity, s->base, hint, sizeof(hint));
	snprintf(text, sizeof(text),
		"the server's limits stop a search of the reset log %s at "
		"%d records%s: reading it in windows of change numbers instead, which takes "
		"more searches; to read it in one, %s",
		s->base, s->limit, count == 0 ? " or refuse a paged one" : "", hint);
	s->note(text, s->arg);
}

/* Every record numbered lo..hi: halves the range while the limit cuts it. */
static int
window(struct scan *sc, unsigned long long lo, unsigned long long hi, char *err, size_t errlen)
{
	unsigned long long maxno, mid;
	char *f = NULL;
	int count, ret;

	if (asprintf(&f, "(&%s(" NUMBER_ATTR ">=%llu)(" NUMBER_ATTR "<=%llu))", sc->s->filter, lo,
		    hi) < 0) {
		fail(sc, LDAP_NO_MEMORY, NULL, err, errlen);
		return -1;
	}
	ret = search(sc, f, 0, 1, &maxno, &count, err, errlen);
	free(f);
	if (ret != LIMITED)
		return ret;
	if (lo == hi) {
		fail(sc, LDAP_SIZELIMIT_EXCEEDED, "not even one record fits the limit", err,
			errlen);
		return -1;
	}
	mid = lo + (hi - lo) / 2;
	if ((ret = window(sc, lo, mid, err, errlen)) != DONE)
		return ret;
	return window(sc, mid + 1, hi, err, errlen);
}

/* From lo up: a search of everything above lo; when the limit cuts it, the range up to the
 * highest number it returned is read in windows, and the search goes on above that. */
static int
windows(struct scan *sc, char *err, size_t errlen)
{
	unsigned long long lo = 0, maxno;
	char *f = NULL;
	int count, ret;

	for (;;) {
		free(f);
		f = NULL;
		if (asprintf(&f, "(&%s(" NUMBER_ATTR ">=%llu))", sc->s->filter, lo) < 0) {
			fail(sc, LDAP_NO_MEMORY, NULL, err, errlen);
			return -1;
		}
		ret = search(sc, f, 0, 1, &maxno, &count, err, errlen);
		if (ret != LIMITED)
			break;
		if (count == 0 || maxno < lo) {
			fail(sc, LDAP_SIZELIMIT_EXCEEDED, "the limit returns no record at all", err,
				errlen);
			ret = -1;
			break;
		}
		if ((ret = window(sc, lo, maxno, err, errlen)) != DONE)
			break;
		if (maxno == ~0ULL)
			break;
		if (numset_prune(&sc->seen, maxno) != 0) {
			fail(sc, LDAP_NO_MEMORY, NULL, err, errlen);
			ret = -1;
			break;
		}
		lo = maxno + 1;
	}
	free(f);
	return ret;
}

int
logscan_run(struct logscan *s, char *err, size_t errlen)
{
	struct scan sc;
	unsigned long long maxno;
	int count, ret = LIMITED;

	memset(&sc, 0, sizeof(sc));
	sc.s = s;
	if (ldap_dn_normalize(s->base, LDAP_DN_FORMAT_LDAPV3, &sc.nbase, LDAP_DN_FORMAT_LDAPV3) !=
	    LDAP_SUCCESS)
		sc.nbase = NULL; /* a base that is no DN: the server says so at the first search */
	s->ldap_rc = LDAP_SUCCESS;
	s->limit = 0;
	s->searches = s->delivered = 0;
	s->windowed = 0;
	/* A plain search first where the caller prefers it: slapd works out a search's
	 * candidates anew for every page. */
	if (s->unpaged_first) {
		ret = search(&sc, s->filter, 0, 0, &maxno, &count, err, errlen);
		if (ret == LIMITED && s->limit == 0)
			s->limit = count;
	}
	if (ret == LIMITED)
		ret = search(&sc, s->filter, 1, 0, &maxno, &count, err, errlen);
	if (ret == LIMITED) {
		s->windowed = 1;
		note_limit(&sc, count);
		ret = windows(&sc, err, errlen);
	}
	free(sc.seen.v);
	free(sc.seen.r);
	ldap_memfree(sc.nbase);
	free(sc.parent);
	for (size_t i = 0; i < sc.nnonum; i++)
		free(sc.nonum[i]);
	free(sc.nonum);
	return ret == DONE ? 0 : ret;
}
