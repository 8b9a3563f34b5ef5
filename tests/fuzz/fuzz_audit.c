/* libFuzzer harness: what `resetguard-audit verify` parses of the reset log — the decoding
 * of a record entry into the canonical fields (audit_decode, tools/audit/conn.c), the
 * anchor on the log root, and the chain walk (tools/audit/verify.c).
 *
 * Those take an LDAP handle and LDAPMessages, so there is no pure parser to call. No server
 * is needed either: libldap's ldap_init_fd runs on one end of a socketpair, and the harness
 * writes the server's answers (BER, built with liblber) into the other end before calling
 * audit_verify. Requests are never read; they are small enough to sit in the socket buffer.
 *
 * Input byte 0 picks the mode:
 *   even  raw: the rest is entries separated by 0x1d, the first one the log root; an entry
 *         is attributes separated by 0x1e, each one byte naming the attribute (an index
 *         into audit_hash_attrs; then rgLogReason;lang-de, RGLOGHASH, rgLogAnchorNumber,
 *         rgLogAnchorHash) followed by its values separated by 0x1f;
 *         audit_verify must not crash and must answer OK, BROKEN or ERROR;
 *   odd   a chain: byte 1 is the number of records, byte 2 a corruption, byte 3 an anchor
 *         point, then per record two flags bytes and the string fields separated by 0x1e
 *         (time, target, requester, approver, kind, decision, rule, ruleText, policy,
 *         operation, issuer, jti, reason, authenticated), then bytes to shuffle with. The
 *         harness hashes and links the records itself (as the overlay does) and sends them
 *         in an order taken from the input. An intact chain must verify (a purged prefix
 *         behind an anchor included); an altered value, a deleted or a duplicated record
 *         must be reported as a broken chain. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>
#include <openldap.h>

#include "audit.h"
#include "fuzz.h"

#define MAX_RECORDS 8
#define NSTR 14

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* verify prints its findings on stdout: at tens of thousands of runs a second */
	if (freopen("/dev/null", "w", stdout) == NULL)
		fuzz_setup_fail("cannot silence stdout");
	return 0;
}

/* ---- the server's side: BER messages into a buffer ---- */

struct out {
	char *p;
	size_t len, cap;
};

static void
out_ber(struct out *o, BerElement *ber)
{
	struct berval bv;

	if (ber_flatten2(ber, &bv, 0) != 0)
		fuzz_setup_fail("ber_flatten2 failed");
	if (o->len + bv.bv_len > o->cap) {
		o->cap = (o->len + bv.bv_len) * 2;
		if ((o->p = realloc(o->p, o->cap)) == NULL)
			fuzz_setup_fail("out of memory");
	}
	memcpy(o->p + o->len, bv.bv_val, bv.bv_len);
	o->len += bv.bv_len;
	ber_free(ber, 1);
}

struct attr {
	const char *name;
	const char *vals[MAX_RECORDS * 4 + 8];
	size_t lens[MAX_RECORDS * 4 + 8];
	size_t n;
};

static BerElement *
ber_new(void)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);

	if (ber == NULL)
		fuzz_setup_fail("out of memory");
	return ber;
}

static void
send_entry(struct out *o, int msgid, const char *dn, const struct attr *a, size_t na)
{
	BerElement *ber = ber_new();
	int rc;

	rc = ber_printf(ber, "{it{s{", msgid, (ber_tag_t)LDAP_RES_SEARCH_ENTRY, dn);
	for (size_t i = 0; rc != -1 && i < na; i++) {
		rc = ber_printf(ber, "{s[", a[i].name);
		for (size_t j = 0; rc != -1 && j < a[i].n; j++)
			rc = ber_printf(ber, "o", a[i].vals[j], (ber_len_t)a[i].lens[j]);
		if (rc != -1)
			rc = ber_printf(ber, "]}");
	}
	if (rc == -1 || ber_printf(ber, "}}}") == -1)
		fuzz_setup_fail("ber_printf failed");
	out_ber(o, ber);
}

static void
send_done(struct out *o, int msgid)
{
	BerElement *ber = ber_new();

	if (ber_printf(ber, "{it{ess}}", msgid, (ber_tag_t)LDAP_RES_SEARCH_RESULT,
		    (ber_int_t)LDAP_SUCCESS, "", "") == -1)
		fuzz_setup_fail("ber_printf failed");
	out_ber(o, ber);
}

/* Runs audit_verify against the answers in o; returns its result, or -1 when the answers
 * did not fit in the socket (the input is then skipped). */
static int
run_verify(const struct out *o)
{
	/* no checkpoint: that file is fuzz_audit_checkpoint's */
	struct audit_checkpoint cp = {0};
	/* one search, as the answers are written for: no probes, no slices */
	struct audit_verify_opts opts = {.cp = &cp, .jobs = 1};
	LDAP *ld = NULL;
	int sv[2], rc, sndbuf = 4 << 20;
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		fuzz_setup_fail("socketpair: %s", strerror(errno));
	/* As root the cap on socket buffers does not apply; otherwise the default will do
	 * for the input sizes libFuzzer uses. */
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	while (off < o->len) {
		ssize_t n = write(sv[1], o->p + off, o->len - off);

		if (n <= 0) {
			close(sv[0]);
			close(sv[1]);
			return -1;
		}
		off += (size_t)n;
	}
	if (ldap_init_fd(sv[0], LDAP_PROTO_TCP, NULL, &ld) != LDAP_SUCCESS)
		fuzz_setup_fail("ldap_init_fd failed");
	rc = audit_verify(&ld, "cn=resetlog", &opts);
	/* libldap owns sv[0] now; the peer stays open until the unbind is written */
	ldap_unbind_ext_s(ld, NULL, NULL);
	close(sv[1]);
	return rc;
}

/* ---- raw mode ---- */

static const char *
attr_name(uint8_t b)
{
	size_t n = 0;

	while (audit_hash_attrs[n] != NULL)
		n++;
	b %= n + 4;
	if (b < n)
		return audit_hash_attrs[b];
	/* an attribute with options is not the hashed value; names match in any case; and
	 * the anchor's two attributes, which only the log root should carry */
	return b == n        ? "rgLogReason;lang-de"
		: b == n + 1 ? "RGLOGHASH"
		: b == n + 2 ? "rgLogAnchorNumber"
			     : "rgLogAnchorHash";
}

static void
raw_entry(struct out *o, int msgid, const char *dn, struct fuzz_cursor *c)
{
	struct attr a[24];
	size_t na = 0, elen;
	char *entry = fuzz_field(c, 0x1d, &elen), *keep[24 * 40];
	size_t nkeep = 0;
	struct fuzz_cursor e = {(const uint8_t *)entry, elen};

	while (e.n > 0 && na < 24) {
		size_t alen;
		char *spec = fuzz_field(&e, 0x1e, &alen);
		struct fuzz_cursor s = {(const uint8_t *)spec, alen};

		a[na].name = attr_name(fuzz_byte(&s));
		a[na].n = 0;
		while (s.n > 0 && a[na].n < 40 && nkeep < 24 * 40) {
			size_t vlen;
			char *v = fuzz_field(&s, 0x1f, &vlen);

			/* values keep their NUL bytes: LDAP values may carry them */
			a[na].vals[a[na].n] = v;
			a[na].lens[a[na].n++] = vlen;
			keep[nkeep++] = v;
			if (a[na].n >= sizeof(a[na].vals) / sizeof(a[na].vals[0]))
				break;
		}
		na++;
		free(spec);
	}
	send_entry(o, msgid, dn, a, na);
	for (size_t i = 0; i < nkeep; i++)
		free(keep[i]);
	free(entry);
}

static void
raw(struct fuzz_cursor *c)
{
	struct out o = {NULL, 0, 0};
	int rc, n = 0;

	raw_entry(&o, 1, "cn=resetlog", c);
	send_done(&o, 1);
	while (c->n > 0 && n++ < 64)
		raw_entry(&o, 2, "rgLogChangeNumber=1,cn=resetlog", c);
	send_done(&o, 2);
	rc = run_verify(&o);
	FUZZ_CHECK(rc == -1 || rc == AUDIT_OK || rc == AUDIT_BROKEN || rc == AUDIT_ERROR,
		"audit_verify returned %d", rc);
	free(o.p);
}

/* ---- chain mode ---- */

struct rec {
	struct rg_log_record r;
	char *s[NSTR];
	char *methods[4];
	char number[24], level[16], hash[RG_LOG_HASH_HEX];
};

enum corruption { C_NONE, C_ALTER, C_DELETE, C_DUPLICATE, C_COUNT };

static void
add(struct attr *a, size_t *na, const char *name, const char *v)
{
	if (v == NULL)
		return;
	a[*na].name = name;
	a[*na].vals[0] = v;
	a[*na].lens[0] = strlen(v);
	a[*na].n = 1;
	(*na)++;
}

/* A record under its own DN, or under dn: a server returns one entry per DN, so a second
 * copy of a record can only be another entry claiming its number. */
static void
send_record(struct out *o, const struct rec *x, const char *altered_target, const char *dn)
{
	struct attr a[24];
	size_t na = 0;
	char own[64];

	add(a, &na, "rgLogChangeNumber", x->number);
	add(a, &na, "rgLogTime", x->r.time);
	add(a, &na, "rgLogTarget", altered_target ? altered_target : x->r.target);
	add(a, &na, "rgLogRequester", x->r.requester);
	add(a, &na, "rgLogAuthenticated", x->r.authenticated);
	add(a, &na, "rgLogApprover", x->r.approver);
	add(a, &na, "rgLogKind", x->r.kind);
	add(a, &na, "rgLogDecision", x->r.decision);
	add(a, &na, "rgLogRule", x->r.rule);
	add(a, &na, "rgLogRuleText", x->r.rule_text);
	add(a, &na, "rgLogPolicy", x->r.policy);
	add(a, &na, "rgLogOperation", x->r.operation);
	add(a, &na, "rgLogIssuer", x->r.issuer);
	add(a, &na, "rgLogLevel", x->r.level > 0 ? x->level : NULL);
	add(a, &na, "rgLogJti", x->r.jti);
	add(a, &na, "rgLogReason", x->r.reason);
	add(a, &na, "rgLogReviewRequired", x->r.review_required ? "TRUE" : "FALSE");
	add(a, &na, "rgLogAlert", x->r.alert ? "TRUE" : "FALSE");
	add(a, &na, "rgLogPrevHash", x->r.prev_hash);
	add(a, &na, "rgLogHash", x->hash);
	if (x->r.nmethods > 0) {
		a[na].name = "rgLogMethod";
		a[na].n = x->r.nmethods;
		for (size_t i = 0; i < x->r.nmethods; i++) {
			a[na].vals[i] = x->r.methods[i];
			a[na].lens[i] = strlen(x->r.methods[i]);
		}
		na++;
	}
	snprintf(own, sizeof(own), "rgLogChangeNumber=%s,cn=resetlog", x->number);
	send_entry(o, 2, dn != NULL ? dn : own, a, na);
}

static void
chain(struct fuzz_cursor *c)
{
	struct rec recs[MAX_RECORDS];
	struct out o = {NULL, 0, 0};
	struct attr anchor[2];
	size_t n = 1 + fuzz_byte(c) % MAX_RECORDS, order[MAX_RECORDS], na = 0, first = 0, j;
	uint8_t cb = fuzz_byte(c), ab = fuzz_byte(c);
	enum corruption corrupt = (enum corruption)(cb % C_COUNT);
	size_t victim = (cb >> 2) % n, anchored = ab % (n + 1); /* records 1..anchored purged */
	const char *prev = RG_LOG_GENESIS;
	char *altered = NULL;
	int rc;

	memset(recs, 0, sizeof(recs));
	for (size_t i = 0; i < n; i++) {
		struct rec *x = &recs[i];
		uint8_t f = fuzz_byte(c), f2 = fuzz_byte(c);

		for (int k = 0; k < NSTR; k++)
			x->s[k] = fuzz_field(c, 0x1e, NULL);
		x->r.number = i + 1;
		snprintf(x->number, sizeof(x->number), "%zu", i + 1);
		x->r.time = x->s[0];
		x->r.target = x->s[1];
		x->r.requester = x->s[2];
		x->r.authenticated = f2 & 1 ? x->s[13] : NULL;
		x->r.approver = f & 1 ? x->s[3] : NULL;
		x->r.kind = x->s[4];
		x->r.decision = x->s[5];
		x->r.rule = x->s[6];
		x->r.rule_text = x->s[7];
		x->r.policy = f & 2 ? x->s[8] : NULL;
		x->r.operation = x->s[9];
		x->r.issuer = f & 4 ? x->s[10] : NULL;
		x->r.jti = f & 4 ? x->s[11] : NULL;
		x->r.reason = f & 8 ? x->s[12] : NULL;
		x->r.level = (f >> 4) & 3;
		snprintf(x->level, sizeof(x->level), "%d", x->r.level);
		x->r.review_required = (f >> 6) & 1;
		x->r.alert = f >> 7;
		/* methods: the amr values the evidence parser keeps are never empty */
		if (x->r.issuer != NULL) {
			static const char *const amr[] = {"hwk", "face", "pwd", "sms,otp"};

			for (int k = 0; k < (f & 3) + 1 && k < 4; k++)
				x->methods[x->r.nmethods++] = (char *)amr[(k + i) % 4];
			x->r.methods = (const char *const *)x->methods;
		}
		snprintf(x->r.prev_hash, sizeof(x->r.prev_hash), "%s", prev);
		if (rg_log_hash(&x->r, x->hash) != 0)
			fuzz_setup_fail("rg_log_hash failed");
		prev = x->hash;
	}
	/* the order the server returns them in */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t k = fuzz_byte(c) % i, t = order[i - 1];

		order[i - 1] = order[k];
		order[k] = t;
	}

	/* An anchor at record `anchored` stands for the purged records up to it. */
	if (anchored > 0) {
		anchor[0].name = "rgLogAnchorNumber";
		anchor[0].vals[0] = recs[anchored - 1].number;
		anchor[0].lens[0] = strlen(recs[anchored - 1].number);
		anchor[0].n = 1;
		anchor[1].name = "rgLogAnchorHash";
		anchor[1].vals[0] = recs[anchored - 1].hash;
		anchor[1].lens[0] = 64;
		anchor[1].n = 1;
		na = 2;
		first = anchored;
	}
	/* Corruptions must touch a record the walk looks at; deleting the newest record is
	 * not detectable from the log alone (that is what an external head hash is for). */
	if (victim < first)
		victim = first;
	if (first == n)
		corrupt = C_NONE; /* nothing left to walk */
	if (corrupt == C_DELETE && victim == n - 1) {
		if (n - first >= 2)
			victim = first;
		else
			corrupt = C_NONE;
	}
	if (corrupt == C_ALTER &&
		asprintf(&altered, "%s.", recs[victim].r.target ? recs[victim].r.target : "") < 0)
		fuzz_setup_fail("out of memory");

	send_entry(&o, 1, "cn=resetlog", anchor, na);
	send_done(&o, 1);
	for (size_t i = 0; i < n; i++) {
		j = order[i];
		if (j < first || (corrupt == C_DELETE && j == victim))
			continue;
		send_record(&o, &recs[j], corrupt == C_ALTER && j == victim ? altered : NULL,
			NULL);
		if (corrupt == C_DUPLICATE && j == victim)
			send_record(&o, &recs[j], NULL, "cn=forged,cn=resetlog");
	}
	send_done(&o, 2);
	rc = run_verify(&o);
	if (rc != -1) {
		if (corrupt == C_NONE)
			FUZZ_CHECK(rc == AUDIT_OK,
				"an intact chain of %zu records (anchor at %zu) did not verify: %d",
				n, anchored, rc);
		else
			FUZZ_CHECK(rc == AUDIT_BROKEN,
				"corruption %d of record %zu of %zu (anchor at %zu) went "
				"unreported: %d",
				(int)corrupt, victim + 1, n, anchored, rc);
	}
	free(altered);
	free(o.p);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < NSTR; k++)
			free(recs[i].s[k]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cursor c = {data, size};

	if (size < 1 || size > 16 * 1024)
		return -1;
	if (fuzz_byte(&c) & 1)
		chain(&c);
	else
		raw(&c);
	return 0;
}
