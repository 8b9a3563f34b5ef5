#include "resetlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
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

static int
needs_escape(unsigned char c, int escape_comma)
{
	return c == '\\' || c < 0x20 || c == 0x7f || (escape_comma && c == ',');
}

/* Escaping makes the encoding injective: no value can end its line early or, in methods,
 * split into two values. Runs of plain bytes are copied whole: verify hashes millions. */
static void
put_escaped(struct buf *b, const char *v, int escape_comma)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)(v ? v : ""), *run = s;
	char esc[4] = { '\\', 'x', 0, 0 };

	for (; *s != '\0'; s++) {
		if (!needs_escape(*s, escape_comma))
			continue;
		put(b, (const char *)run, (size_t)(s - run));
		if (*s == '\\') {
			put(b, "\\\\", 2);
		} else {
			esc[2] = hex[*s >> 4];
			esc[3] = hex[*s & 15];
			put(b, esc, 4);
		}
		run = s + 1;
	}
	put(b, (const char *)run, (size_t)(s - run));
}

static void
field(struct buf *b, const char *name, const char *value)
{
	put(b, name, strlen(name));
	put(b, "=", 1);
	put_escaped(b, value, 0);
	put(b, "\n", 1);
}

char *
rg_log_canonical(const struct rg_log_record *r, size_t *len)
{
	struct buf b = { NULL, 0, 0, 0 };
	char num[32];

	put(&b, "resetguard-log-v1\n", 18);
	snprintf(num, sizeof(num), "%llu", r->number);
	field(&b, "number", num);
	field(&b, "time", r->time);
	field(&b, "target", r->target);
	field(&b, "requester", r->requester);
	if (r->authenticated != NULL)
		field(&b, "authenticated", r->authenticated);
	field(&b, "approver", r->approver);
	field(&b, "kind", r->kind);
	field(&b, "decision", r->decision);
	field(&b, "rule", r->rule);
	field(&b, "ruleText", r->rule_text);
	field(&b, "policy", r->policy);
	field(&b, "operation", r->operation);
	field(&b, "issuer", r->issuer);
	if (r->level > 0)
		snprintf(num, sizeof(num), "%d", r->level);
	else
		num[0] = '\0';
	field(&b, "level", num);
	put(&b, "methods=", 8);
	for (size_t i = 0; i < r->nmethods; i++) {
		if (i > 0)
			put(&b, ",", 1);
		put_escaped(&b, r->methods[i], 1);
	}
	put(&b, "\n", 1);
	field(&b, "jti", r->jti);
	field(&b, "reason", r->reason);
	field(&b, "reviewRequired", r->review_required ? "TRUE" : "FALSE");
	field(&b, "alert", r->alert ? "TRUE" : "FALSE");
	if (r->alert_reason != NULL)
		field(&b, "alertReason", r->alert_reason);
	field(&b, "prev", r->prev_hash);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}

int
rg_log_hash(const struct rg_log_record *r, char hash[RG_LOG_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t len;
	char *text = rg_log_canonical(r, &len);

	if (text == NULL)
		return -1;
	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		free(text);
		return -1;
	}
	free(text);
	for (unsigned i = 0; i < mdlen; i++) {
		hash[2 * i] = "0123456789abcdef"[md[i] >> 4];
		hash[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	hash[2 * mdlen] = '\0';
	return 0;
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
