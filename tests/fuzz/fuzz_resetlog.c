/* libFuzzer harness: the reset log's canonical form and hash (lib/resetlog.c) —
 * rg_log_canonical, rg_log_hash and rg_log_format_time over records built from fuzzed
 * fields.
 *
 * Input: number (8 bytes), level (4 bytes, signed), a flags byte (review, alert, which of
 * approver/policy/issuer/jti/reason are NULL, whether there is an authenticated identity),
 * a time (8 bytes seconds, 4 bytes microseconds), then the string fields separated by
 * 0x1e: time, target, requester, approver, kind, decision, rule, ruleText, policy,
 * operation, issuer, jti, reason, prev, authenticated, and whatever follows is the
 * methods, separated by 0x1f.
 *
 * Invariants: the text is deterministic, starts with the version line and has one line per
 * field in the documented order; decoding it gives back every field (the encoding is
 * injective, which is what makes the chain tamper-evident); the hash is 64 lower-case hex
 * digits equal to SHA-256 of the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "resetlog.h"

#define NSTR 15
#define MAX_METHODS 64

#define MAX_LINES 20

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static int
unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undoes the documented escaping of [s, e), in place into out; NULL when the text is not
 * something the encoder could have written. stop, when not NUL, ends a value (methods). */
static const char *
unescape(const char *s, const char *e, char stop, char *out, size_t *outlen)
{
	size_t o = 0;

	while (s < e && *s != stop) {
		unsigned char c = (unsigned char)*s;

		FUZZ_CHECK(c >= 0x20 && c != 0x7f && (stop == '\0' || c != ','),
			"canonical text has a raw byte 0x%02x", c);
		if (c != '\\') {
			out[o++] = *s++;
			continue;
		}
		FUZZ_CHECK(s + 1 < e, "canonical text ends in a lone backslash");
		if (s[1] == '\\') {
			out[o++] = '\\';
			s += 2;
			continue;
		}
		FUZZ_CHECK(s + 3 < e && s[1] == 'x' && unhex(s[2]) >= 0 && unhex(s[3]) >= 0,
			"canonical text has an unknown escape");
		out[o] = (char)(unhex(s[2]) << 4 | unhex(s[3]));
		c = (unsigned char)out[o++];
		/* only what must be escaped is: one text per record */
		FUZZ_CHECK(c < 0x20 || c == 0x7f || (stop != '\0' && c == ','),
			"canonical text escapes byte 0x%02x needlessly", c);
		s += 4;
	}
	out[o] = '\0';
	*outlen = o;
	return s;
}

static void
check_value(const char *name, const char *got, size_t gotlen, const char *want)
{
	const char *w = want ? want : "";

	FUZZ_CHECK(gotlen == strlen(w) && memcmp(got, w, gotlen) == 0,
		"field %s does not decode to what was given", name);
}

static void
check_methods(const struct rg_log_record *r, const char *p, const char *eol, char *val)
{
	size_t m = 0, vlen;

	/* [] and [""] both print as nothing; the evidence parser never stores an empty amr */
	if (p == eol) {
		FUZZ_CHECK(r->nmethods == 0 || (r->nmethods == 1 && r->methods[0][0] == '\0'),
			"%zu methods printed as nothing", r->nmethods);
		return;
	}
	for (;;) {
		p = unescape(p, eol, ',', val, &vlen);
		FUZZ_CHECK(m < r->nmethods, "methods decode to more than the %zu given",
			r->nmethods);
		check_value("methods", val, vlen, r->methods[m++]);
		if (p == eol)
			break;
		p++; /* the separator */
	}
	FUZZ_CHECK(m == r->nmethods, "methods decode to %zu values, %zu given", m, r->nmethods);
}

/* The lines the canonical form must have for r, in order: methods (want NULL) is checked on
 * its own; authenticated is there only when the record has one. */
static size_t
expected_lines(const struct rg_log_record *r, char *num, char *level, const char **name,
	const char **want)
{
	size_t n = 0;

#define LINE(nm, v)                                                                                \
	do {                                                                                       \
		name[n] = (nm);                                                                    \
		want[n++] = (v);                                                                   \
	} while (0)
	snprintf(num, 32, "%llu", r->number);
	if (r->level > 0)
		snprintf(level, 32, "%d", r->level);
	else
		level[0] = '\0';
	LINE("number", num);
	LINE("time", r->time);
	LINE("target", r->target);
	LINE("requester", r->requester);
	if (r->authenticated != NULL)
		LINE("authenticated", r->authenticated);
	LINE("approver", r->approver);
	LINE("kind", r->kind);
	LINE("decision", r->decision);
	LINE("rule", r->rule);
	LINE("ruleText", r->rule_text);
	LINE("policy", r->policy);
	LINE("operation", r->operation);
	LINE("issuer", r->issuer);
	LINE("level", level);
	LINE("methods", NULL);
	LINE("jti", r->jti);
	LINE("reason", r->reason);
	LINE("reviewRequired", r->review_required ? "TRUE" : "FALSE");
	LINE("alert", r->alert ? "TRUE" : "FALSE");
	LINE("prev", r->prev_hash);
#undef LINE
	return n;
}

static void
check_canonical(const struct rg_log_record *r, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *name[MAX_LINES], *want[MAX_LINES];
	char *val = malloc(len + 1), num[32], level[32];
	size_t vlen, nlines = expected_lines(r, num, level, name, want);

	if (val == NULL)
		return;
	FUZZ_CHECK(strlen(text) == len, "canonical length %zu, strlen %zu", len, strlen(text));
	FUZZ_CHECK(len >= 18 && memcmp(text, "resetguard-log-v1\n", 18) == 0,
		"canonical text does not start with the version line");
	p += 18;
	for (size_t i = 0; i < nlines; i++) {
		size_t nl = strlen(name[i]);
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		FUZZ_CHECK(eol != NULL, "canonical text has no line for %s", name[i]);
		FUZZ_CHECK((size_t)(eol - p) > nl && memcmp(p, name[i], nl) == 0 && p[nl] == '=',
			"line %zu is not %s=", i + 2, name[i]);
		p += nl + 1;
		if (want[i] == NULL && strcmp(name[i], "methods") == 0) {
			check_methods(r, p, eol, val);
		} else {
			p = unescape(p, eol, '\0', val, &vlen);
			FUZZ_CHECK(p == eol, "%s has a raw newline", name[i]);
			check_value(name[i], val, vlen, want[i]);
		}
		p = eol + 1;
	}
	FUZZ_CHECK(p == end, "canonical text goes on after prev");
	free(val);
}

static void
check_hash(const struct rg_log_record *r, const char *text, size_t len)
{
	char h1[RG_LOG_HASH_HEX], h2[RG_LOG_HASH_HEX], want[RG_LOG_HASH_HEX];
	unsigned char md[32];
	unsigned int mdlen = 0;

	FUZZ_CHECK(rg_log_hash(r, h1) == 0 && rg_log_hash(r, h2) == 0, "rg_log_hash failed");
	FUZZ_CHECK(strcmp(h1, h2) == 0, "rg_log_hash is not deterministic");
	FUZZ_CHECK(strlen(h1) == 64 && strspn(h1, "0123456789abcdef") == 64,
		"hash is not 64 lower-case hex digits: %s", h1);
	FUZZ_CHECK(EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32,
		"SHA-256 failed");
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	FUZZ_CHECK(strcmp(h1, want) == 0, "hash is not SHA-256 of the canonical text");
}

/* In its domain (the years 1970 to 9999, microseconds below a million) the time is always
 * YYYYmmddHHMMSS.ffffffZ. */
static void
check_time(long long sec, long usec)
{
	char buf[32];

	if (sec < 0 || sec > 253402300799LL || usec < 0 || usec > 999999)
		return;
	memset(buf, 'x', sizeof(buf));
	rg_log_format_time(buf, sec, usec);
	FUZZ_CHECK(strlen(buf) == 22 && strspn(buf, "0123456789") == 14 && buf[14] == '.' &&
			strspn(buf + 15, "0123456789") == 6 && buf[21] == 'Z',
		"rg_log_format_time(%lld, %ld) gave \"%s\"", sec, usec, buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = {data, size};
	struct rg_log_record r;
	char *s[NSTR], *text, *again, *m[MAX_METHODS];
	size_t len, len2, nm = 0;
	uint8_t flags;
	long long sec;
	long usec;

	if (size > 64 * 1024)
		return -1;
	memset(&r, 0, sizeof(r));
	r.number = fuzz_u64(&c, 8);
	r.level = (int)(int32_t)fuzz_u64(&c, 4);
	flags = fuzz_byte(&c);
	sec = (long long)fuzz_u64(&c, 8);
	usec = (long)(int32_t)fuzz_u64(&c, 4);
	for (int i = 0; i < NSTR; i++)
		s[i] = fuzz_field(&c, 0x1e, NULL);
	while (c.n > 0 && nm < MAX_METHODS)
		m[nm++] = fuzz_field(&c, 0x1f, NULL);
	r.review_required = flags & 1;
	r.alert = (flags >> 1) & 1;
	r.time = s[0];
	r.target = s[1];
	r.requester = s[2];
	r.approver = flags & 4 ? NULL : s[3];
	r.kind = s[4];
	r.decision = s[5];
	r.rule = s[6];
	r.rule_text = s[7];
	r.policy = flags & 8 ? NULL : s[8];
	r.operation = s[9];
	r.issuer = flags & 16 ? NULL : s[10];
	r.jti = flags & 32 ? NULL : s[11];
	r.reason = flags & 64 ? NULL : s[12];
	r.authenticated = flags & 128 ? s[14] : NULL;
	/* prev is a fixed array: whatever fits, as the decoders copy it */
	snprintf(r.prev_hash, sizeof(r.prev_hash), "%s", s[13]);
	r.methods = (const char *const *)m;
	r.nmethods = nm;

	text = rg_log_canonical(&r, &len);
	again = rg_log_canonical(&r, &len2);
	if (text != NULL && again != NULL) {
		FUZZ_CHECK(len == len2 && memcmp(text, again, len) == 0,
			"rg_log_canonical is not deterministic");
		check_canonical(&r, text, len);
		check_hash(&r, text, len);
	}
	check_time(sec, usec);
	free(text);
	free(again);
	for (int i = 0; i < NSTR; i++)
		free(s[i]);
	for (size_t i = 0; i < nm; i++)
		free(m[i]);
	return 0;
}
