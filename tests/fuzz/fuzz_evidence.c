/* libFuzzer harness: proofing evidence (lib/evidence.c) — rg_evidence_verify with a
 * configured issuer set, and rg_decide on whatever it accepts.
 *
 * Issuers: ISS_P256 and ISS_ED25519 with keys generated at start-up, and, when the test-only
 * keys of tests/fuzz/keys are found (RG_FUZZ_KEYDIR, set by scripts/fuzz), ISS_TEST_P256 and
 * ISS_TEST_ED25519, so that the committed seed tokens verify all the way.
 *
 * The first input byte chooses what the rest is:
 *   0  a token as a client would send it in the proofing control;
 *   1  a claims payload (JSON), signed with the generated P-256 key (rg_jws_sign);
 *   2  the same with the generated Ed25519 key.
 * Modes 1 and 2 get past the signature, so the claims parser sees anything the fuzzer
 * writes: wrong types, huge numbers, exp near 2^63, duplicates, NULs, odd amr arrays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "decide.h"
#include "evidence.h"
#include "fuzz.h"

#define ISS_P256 "https://p256.fuzz.test"
#define ISS_ED25519 "https://ed25519.fuzz.test"
/* The names the seed tokens in tests/fuzz/corpus/evidence were minted with. */
#define ISS_TEST_P256 "https://idp.example.test"
#define ISS_TEST_ED25519 "https://ed-idp.example.test"

/* The overlay's largest clock skew (resetguard-clock-skew, slapd/config.c): it records a
 * used token until exp plus the skew, as a generalizedTime. */
#define MAX_CLOCK_SKEW 3600
/* The clock rg_decide is run with; the seeds' iat. */
#define NOW 1700000000LL

static struct rg_issuers issuers;
static EVP_PKEY *p256, *ed25519;
static struct rg_policy policy;

/* Takes path (malloc'd). */
static void
add_issuer(const char *name, char *path)
{
	char err[512];

	if (rg_issuers_add(&issuers, name, path, err, sizeof(err)) != 0)
		fuzz_setup_fail("rg_issuers_add %s: %s", name, err);
	free(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *keydir = getenv("RG_FUZZ_KEYDIR");
	char *path;

	p256 = fuzz_keygen("EC");
	ed25519 = fuzz_keygen("ED25519");
	/* rg_issuers_add reads a PEM path, as the overlay's configuration does. */
	add_issuer(ISS_P256, fuzz_write_key("p256.pub.pem", p256, 0));
	add_issuer(ISS_ED25519, fuzz_write_key("ed25519.pub.pem", ed25519, 0));
	if (keydir != NULL && *keydir != '\0') {
		if (asprintf(&path, "%s/test-only-p256.pub.pem", keydir) < 0)
			fuzz_setup_fail("out of memory");
		add_issuer(ISS_TEST_P256, path);
		if (asprintf(&path, "%s/test-only-ed25519.pub.pem", keydir) < 0)
			fuzz_setup_fail("out of memory");
		add_issuer(ISS_TEST_ED25519, path);
	}
	/* The documented defaults, plus a method list so that the method rules run. */
	if (rg_policy_init(&policy, "cn=fuzz,ou=policies,dc=example,dc=test") != 0 ||
		rg_strlist_add(&policy.selfservice_methods, "hwk") != 0 ||
		rg_strlist_add(&policy.selfservice_methods, "face") != 0 ||
		rg_strlist_add(&policy.privileged_methods, "hwk") != 0)
		fuzz_setup_fail("out of memory");
	return 0;
}

static void
check_string(const char *name, const char *s, size_t max, int required)
{
	size_t n;

	if (s == NULL) {
		FUZZ_CHECK(!required, "verified evidence has no %s", name);
		return;
	}
	n = strlen(s);
	FUZZ_CHECK(n > 0 && n <= max, "verified %s is %zu bytes long", name, n);
}

/* What the overlay does with a verified exp: it keeps the token's use on the account until
 * exp + skew, written as a generalizedTime that is compared as a string with the current
 * time (slapd/judge.c). That needs the sum to exist and to have a four-digit year. */
static void
check_expiry_recordable(long long exp)
{
	long long until;
	time_t t;
	struct tm tm;
	char buf[32];

	FUZZ_CHECK(!__builtin_add_overflow(exp, (long long)MAX_CLOCK_SKEW, &until),
		"verified exp %lld overflows when the clock skew is added", exp);
	t = (time_t)until;
	FUZZ_CHECK(gmtime_r(&t, &tm) != NULL, "verified exp %lld has no calendar date", exp);
	FUZZ_CHECK(strftime(buf, sizeof(buf), "%Y%m%d%H%M%SZ", &tm) == 15,
		"verified exp %lld is not a four-digit-year generalizedTime (%s)", exp, buf);
}

static void
check_evidence(const struct rg_evidence *ev, const char *iss_expected)
{
	check_string("iss", ev->iss, 1024, 1);
	check_string("sub", ev->sub, 1024, 1);
	check_string("jti", ev->jti, 256, 1);
	check_string("approver", ev->approver, 1024, 0);
	check_string("reason", ev->reason, 1024, 0);
	FUZZ_CHECK(rg_issuers_find(&issuers, ev->iss) != NULL, "verified iss is not an issuer");
	if (iss_expected != NULL)
		FUZZ_CHECK(strcmp(ev->iss, iss_expected) == 0,
			"a token signed by %s verified as issued by %s", iss_expected, ev->iss);
	FUZZ_CHECK(ev->iat > 0 && ev->exp >= ev->iat && ev->nbf >= 0 && ev->nbf <= ev->exp &&
			ev->exp <= RG_EVIDENCE_MAX_TIME,
		"verified times iat %lld exp %lld nbf %lld", ev->iat, ev->exp, ev->nbf);
	FUZZ_CHECK(ev->ial >= 1 && ev->ial <= 3, "verified ial %d", ev->ial);
	FUZZ_CHECK(ev->namr <= 16 && (ev->namr == 0 || ev->amr != NULL),
		"verified amr has %zu entries", ev->namr);
	for (size_t i = 0; i < ev->namr; i++) {
		check_string("amr entry", ev->amr[i], 64, 1);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(ev->amr[i], ev->amr[j]) != 0, "amr holds %s twice",
				ev->amr[i]);
	}
	/* the single-use record's key */
	FUZZ_CHECK(strlen(ev->id) == 64 && strspn(ev->id, "0123456789abcdef") == 64,
		"token id \"%.65s\"", ev->id);
	check_expiry_recordable(ev->exp);
}

/* Whether the token names a method as the policy bans it: in any case. */
static int
has_banned(const struct rg_evidence *ev, const char *method)
{
	for (size_t i = 0; i < ev->namr; i++)
		if (strcasecmp(ev->amr[i], method) == 0)
			return 1;
	return 0;
}

/* rg_decide on the evidence, as the overlay would for a reset of the token's subject, and
 * the rules whose violation would let a bad token through. */
static void
decide(const struct rg_evidence *ev, enum rg_kind kind, int privileged)
{
	struct rg_request r;
	struct rg_decision d;

	memset(&r, 0, sizeof(r));
	memset(&d, 0, sizeof(d));
	r.kind = kind;
	r.target_ndn = ev->sub;
	r.requester_ndn = "cn=agent,dc=example,dc=test";
	r.privileged = privileged ? RG_GROUP_YES : RG_GROUP_NO;
	r.approver_authorized = RG_GROUP_YES;
	r.ev_present = 1;
	r.ev_status = RG_EV_OK;
	r.ev_error = "";
	r.ev = ev;
	r.ev_sub_ndn = ev->sub;
	r.ev_approver_ndn = ev->approver;
	r.now = NOW;
	r.clock_skew = 30;
	rg_decide(&policy, &r, &d);
	FUZZ_CHECK((unsigned)d.rule < RG_RULE_COUNT, "rule %d", (int)d.rule);
	FUZZ_CHECK(memchr(d.text, '\0', sizeof(d.text)) != NULL, "decision text unterminated");
	if (!d.allowed)
		return;
	FUZZ_CHECK(d.ldap_result == RG_LDAP_SUCCESS, "allowed with LDAP result %d", d.ldap_result);
	FUZZ_CHECK(ev->exp > r.now - r.clock_skew, "allowed an expired token");
	FUZZ_CHECK(ev->iat <= r.now + r.clock_skew && ev->nbf <= r.now + r.clock_skew,
		"allowed a token that is not valid yet");
	FUZZ_CHECK(r.now - ev->iat <= policy.max_evidence_age, "allowed evidence too old");
	FUZZ_CHECK(!has_banned(ev, "kba"), "allowed a forbidden method");
	if (privileged)
		FUZZ_CHECK(!has_banned(ev, "sms"), "allowed sms for a privileged account");
	if (kind == RG_KIND_DELEGATED)
		FUZZ_CHECK(ev->approver != NULL && ev->reason != NULL &&
				ev->reason[strspn(ev->reason, " \t\n\v\f\r")] != '\0' &&
				strcmp(ev->approver, r.requester_ndn) != 0 &&
				strcmp(ev->approver, r.target_ndn) != 0,
			"allowed a delegated reset without a proper approver and reason");
}

static enum rg_ev_status
verify(const char *tok, size_t len, const char *iss_expected)
{
	struct rg_evidence ev, zero;
	enum rg_ev_status st;
	char err[256];

	memset(&zero, 0, sizeof(zero));
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	st = rg_evidence_verify(&issuers, tok, len, &ev, err, sizeof(err));
	if (fuzz_verbose())
		fprintf(stderr, "rg_evidence_verify: %d %s\n", (int)st, err);
	FUZZ_CHECK(st >= RG_EV_OK && st <= RG_EV_BAD_SIGNATURE, "status %d", (int)st);
	fuzz_check_err("rg_evidence_verify", err, sizeof(err));
	if (st != RG_EV_OK) {
		FUZZ_CHECK(err[0] != '\0', "refused (%d) without a reason", (int)st);
		FUZZ_CHECK(memcmp(&ev, &zero, sizeof(ev)) == 0, "refused evidence is not zeroed");
		return st;
	}
	check_evidence(&ev, iss_expected);
	decide(&ev, RG_KIND_SELF_SERVICE, 0);
	decide(&ev, RG_KIND_SELF_SERVICE, 1);
	decide(&ev, RG_KIND_DELEGATED, 0);
	rg_evidence_free(&ev);
	FUZZ_CHECK(memcmp(&ev, &zero, sizeof(ev)) == 0, "rg_evidence_free left fields set");
	return st;
}

/* The iss a payload names, if it is a JSON object with a string iss; malloc'd. */
static char *
payload_iss(const char *payload)
{
	json_t *j = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	const char *s = json_string_value(json_object_get(j, "iss"));
	char *r = s != NULL ? strdup(s) : NULL;

	json_decref(j);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode;
	char *buf, *tok = NULL, *iss, err[256];
	const char *own;
	EVP_PKEY *key;
	enum rg_ev_status st;

	if (size < 1 || size > 2 * RG_EVIDENCE_MAX_LEN)
		return -1;
	mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0) {
		/* An exact-size copy, as the control's value: ASan sees reads past it. */
		buf = malloc(size ? size : 1);
		if (buf == NULL)
			return 0;
		memcpy(buf, data, size);
		verify(buf, size, NULL);
		free(buf);
		return 0;
	}
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	key = mode == 1 ? p256 : ed25519;
	own = mode == 1 ? ISS_P256 : ISS_ED25519;
	if (rg_jws_sign(key, buf, &tok, err, sizeof(err)) != 0)
		fuzz_fail("rg_jws_sign failed: %s", err);
	iss = payload_iss(buf);
	st = verify(tok, strlen(tok), iss != NULL && strcmp(iss, own) == 0 ? own : NULL);
	/* Signed here with the key of the issuer it names: only the claims may be wrong. */
	if (iss != NULL && strcmp(iss, own) == 0)
		FUZZ_CHECK(st == RG_EV_OK || st == RG_EV_MALFORMED,
			"a token signed by its own issuer was refused with status %d", (int)st);
	free(iss);
	free(tok);
	free(buf);
	return 0;
}
