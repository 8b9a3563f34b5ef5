#include "resetlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* Where the canonical text goes: a growing string, or, with md set, a digest fed from a fixed
 * block (p, cap bytes), so that hashing a record allocates nothing: verify hashes millions. */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
	EVP_MD_CTX *md;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->md != NULL) {
		while (n > 0) {
			size_t k = b->cap - b->len < n ? b->cap - b->len : n;

			memcpy(b->p + b->len, s, k);
			b->len += k;
			s += k;
			n -= k;
			if (b->len == b->cap) {
				if (EVP_DigestUpdate(b->md, b->p, b->len) != 1) {
					b->failed = 1;
					return;
				}
				b->len = 0;
			}
		}
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* The bytes the canonical form escapes: 1 everywhere, 2 in methods only. */
static const unsigned char escaped[256] = {
	[0x00 ... 0x1f] = 1, ['\\'] = 1, [0x7f] = 1, [','] = 2
};

/* Escaping makes the encoding injective: no value can end its line early or, in methods,
 * split into two values. Runs of plain bytes are copied whole. */
static void
put_escaped(struct buf *b, const char *v, int escape_comma)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)(v ? v : ""), *run = s;
	unsigned char mask = escape_comma ? 3 : 1;
	char esc[4] = { '\\', 'x', 0, 0 };

	for (;; s++) {
		while (*s != '\0' && !(escaped[*s] & mask))
			s++;
		put(b, (const char *)run, (size_t)(s - run));
		if (*s == '\0')
			break;
		if (*s == '\\') {
			put(b, "\\\\", 2);
		} else {
			esc[2] = hex[*s >> 4];
			esc[3] = hex[*s & 15];
			put(b, esc, 4);
		}
		run = s + 1;
	}
}

#define FIELD(b, name, value) field(b, name "=", sizeof(name), value)

/* name ends with its '=', namelen counts it */
static void
field(struct buf *b, const char *name, size_t namelen, const char *value)
{
	put(b, name, namelen);
	put_escaped(b, value, 0);
	put(b, "\n", 1);
}

/* n in decimal into out (24 bytes), returned */
static const char *
decimal(unsigned long long n, char out[24])
{
	char *p = out + 23;

	*p = '\0';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	return p;
}

static void
canonical(struct buf *b, const struct rg_log_record *r)
{
	char num[24];

	put(b, "resetguard-log-v1\n", 18);
	FIELD(b, "number", decimal(r->number, num));
	FIELD(b, "time", r->time);
	FIELD(b, "target", r->target);
	FIELD(b, "requester", r->requester);
	if (r->authenticated != NULL)
		FIELD(b, "authenticated", r->authenticated);
	FIELD(b, "approver", r->approver);
	FIELD(b, "kind", r->kind);
	FIELD(b, "decision", r->decision);
	FIELD(b, "rule", r->rule);
	FIELD(b, "ruleText", r->rule_text);
	FIELD(b, "policy", r->policy);
	FIELD(b, "operation", r->operation);
	FIELD(b, "issuer", r->issuer);
	FIELD(b, "level", r->level > 0 ? decimal((unsigned long long)r->level, num) : "");
	put(b, "methods=", 8);
	for (size_t i = 0; i < r->nmethods; i++) {
		if (i > 0)
			put(b, ",", 1);
		put_escaped(b, r->methods[i], 1);
	}
	put(b, "\n", 1);
	FIELD(b, "jti", r->jti);
	FIELD(b, "reason", r->reason);
	FIELD(b, "reviewRequired", r->review_required ? "TRUE" : "FALSE");
	FIELD(b, "alert", r->alert ? "TRUE" : "FALSE");
	if (r->alert_reason != NULL)
		FIELD(b, "alertReason", r->alert_reason);
	FIELD(b, "prev", r->prev_hash);
}

char *
rg_log_canonical(const struct rg_log_record *r, size_t *len)
{
	struct buf b = { NULL, 0, 0, 0, NULL };

	canonical(&b, r);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}

/* SHA-256, fetched once: EVP_sha256() makes every EVP_DigestInit_ex look the algorithm up
 * again, a twentieth of what verify spends on a record. Threads racing here each fetch; one
 * keeps its fetch, the others free theirs. Never freed: it lives as long as the process. */
static EVP_MD *
sha256(void)
{
	static EVP_MD *md;
	EVP_MD *have = __atomic_load_n(&md, __ATOMIC_ACQUIRE), *mine, *none = NULL;

	if (have != NULL)
		return have;
	if ((mine = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return NULL;
	if (__atomic_compare_exchange_n(&md, &none, mine, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE))
		return mine;
	EVP_MD_free(mine);
	return none;
}

int
rg_log_hash(const struct rg_log_record *r, char hash[RG_LOG_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char block[2048];
	struct buf b = { block, 0, sizeof(block), 0, EVP_MD_CTX_new() };
	const EVP_MD *alg = sha256();
	int ret = -1;

	if (b.md == NULL || alg == NULL || EVP_DigestInit_ex(b.md, alg, NULL) != 1)
		goto out;
	canonical(&b, r);
	if (b.failed || EVP_DigestUpdate(b.md, block, b.len) != 1 ||
	    EVP_DigestFinal_ex(b.md, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	for (unsigned i = 0; i < mdlen; i++) {
		hash[2 * i] = "0123456789abcdef"[md[i] >> 4];
		hash[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	hash[2 * mdlen] = '\0';
	ret = 0;
out:
	EVP_MD_CTX_free(b.md);
	return ret;
}

void
rg_log_format_time(char buf[32], long long sec, long usec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y%m%d%H%M%S", &tm);
	snprintf(buf + 14, 32 - 14, ".%06ldZ", usec % 1000000);
}

/* How many bytes from p on, before end, are in set. */
static size_t
span(const char *p, const char *end, const char *set)
{
	const char *q = p;

	while (q < end && *q != '\0' && strchr(set, *q) != NULL)
		q++;
	return (size_t)(q - p);
}

int
rg_log_claim_ok(const char *v, size_t len)
{
	const char *end = v + len;
	size_t n = span(v, end, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789_.:@-");

	return n > 0 && n <= 64 && len == n + 16 && v[n] == ' ' &&
		span(v + n + 1, end, "0123456789") == 14 && v[n + 15] == 'Z';
}

int
rg_log_status_ok(const char *v, size_t len)
{
	static const char *const states[] = { "pending", "retrying", "delivered", "superseded",
		"failed" };
	const char *p = v, *end = v + len;
	size_t n = span(p, end, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789_.-"), i;

	if (n == 0 || n > 64 || p + n >= end || p[n] != ' ')
		return 0;
	p += n + 1;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		size_t slen = strlen(states[i]);

		if ((size_t)(end - p) > slen && strncmp(p, states[i], slen) == 0 && p[slen] == ' ') {
			p += slen + 1;
			break;
		}
	}
	if (i == sizeof(states) / sizeof(states[0]) || end - p < 9 ||
	    strncmp(p, "attempts=", 9) != 0)
		return 0;
	p += 9;
	n = span(p, end, "0123456789");
	if (n == 0 || n > 9 || end - (p + n) < 6 || strncmp(p + n, " time=", 6) != 0)
		return 0;
	p += n + 6;
	if ((n = span(p, end, "0123456789.Z")) == 0)
		return 0;
	p += n;
	return p == end || (end - p >= 7 && strncmp(p, " error=", 7) == 0);
}
