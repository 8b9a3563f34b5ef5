/* libFuzzer harness: the compact JWS (lib/jws.c) — rg_jws_is_compact, rg_jws_parse and
 * rg_jws_verify against a P-256 and an Ed25519 key generated at start-up.
 *
 * The first input byte chooses what the rest is:
 *   0  a token as a client would send it: parsed, then verified with both keys. The keys
 *      are new in every run, so no input can carry a valid signature: verification must
 *      never succeed (a success would be a signature bypass);
 *   1  a payload, signed with the P-256 key (rg_jws_sign), then parsed and verified: it
 *      must round-trip whenever the payload is a JSON object within the size limit;
 *   2  the same with the Ed25519 key;
 *   3  a protected header and a payload separated by a NUL byte, signed with the key the
 *      header's alg names (rg_jws_sign_header): whatever it signs must verify.
 * In modes 1 to 3 the signed token is then changed in one character (position and new
 * character from the input's last two bytes): it must no longer parse and verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "jws.h"

static EVP_PKEY *p256, *ed25519;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	p256 = fuzz_keygen("EC");
	ed25519 = fuzz_keygen("ED25519");
	return 0;
}

static int
is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_';
}

/* The shape rg_jws_is_compact promises, written out independently. */
static int
shape_ok(const char *s, size_t len)
{
	int dots = 0;

	if (len == 0 || len > RG_JWS_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (!is_b64url((unsigned char)s[i]))
			return 0;
	}
	return dots == 2;
}

/* Invariants of a parse, whatever its input; returns the status. */
static enum rg_jws_status
parse_checked(const char *tok, size_t len, struct rg_jws *t)
{
	char err[256];
	enum rg_jws_status st;
	const char *dot1, *dot2;

	err[0] = '\0';
	st = rg_jws_parse(tok, len, t, err, sizeof(err));
	FUZZ_CHECK(st == RG_JWS_OK || st == RG_JWS_MALFORMED || st == RG_JWS_UNSUPPORTED_ALG,
		"rg_jws_parse returned %d", (int)st);
	fuzz_check_err("rg_jws_parse", err, sizeof(err));
	FUZZ_CHECK(rg_jws_is_compact(tok, len) == shape_ok(tok, len),
		"rg_jws_is_compact says %d for a token whose shape is %s",
		rg_jws_is_compact(tok, len), shape_ok(tok, len) ? "compact" : "not compact");
	if (st != RG_JWS_OK) {
		FUZZ_CHECK(err[0] != '\0', "rg_jws_parse failed (%d) without saying why", (int)st);
		FUZZ_CHECK(t->header == NULL && t->payload == NULL && t->sig == NULL,
			"a failed rg_jws_parse left allocations in the token");
		return st;
	}
	/* The shape check is what the proofing control relies on to refuse early: it must
	 * never refuse a token the parser would take. */
	FUZZ_CHECK(shape_ok(tok, len), "rg_jws_parse accepted a token that is not compact");
	FUZZ_CHECK(t->alg == RG_JWS_ES256 || t->alg == RG_JWS_EDDSA, "parsed alg %d", t->alg);
	FUZZ_CHECK(json_is_object(t->header) && json_is_object(t->payload),
		"parsed header or payload is not an object");
	dot1 = memchr(tok, '.', len);
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
	FUZZ_CHECK(t->signing_input == tok && t->signing_input_len == (size_t)(dot2 - tok),
		"the signing input is not the token up to its second dot");
	return st;
}

static void
verify_checked(const struct rg_jws *t, EVP_PKEY *key, enum rg_jws_alg kalg, enum rg_jws_status *out)
{
	char err[256];
	enum rg_jws_status st;

	err[0] = '\0';
	st = rg_jws_verify(t, key, err, sizeof(err));
	fuzz_check_err("rg_jws_verify", err, sizeof(err));
	/* The algorithm is tied to the key: a token never verifies under a key of another
	 * type, whatever its signature. */
	if (t->alg != kalg)
		FUZZ_CHECK(st == RG_JWS_UNSUPPORTED_ALG,
			"alg %d verified against a key of alg %d: status %d", t->alg, kalg,
			(int)st);
	else
		FUZZ_CHECK(st == RG_JWS_OK || st == RG_JWS_BAD_SIGNATURE,
			"rg_jws_verify returned %d", (int)st);
	*out = st;
}

/* Parses and verifies with both keys; 1 when the token verified under one of them. */
static int
parse_and_verify(const char *tok, size_t len, json_t **payload)
{
	struct rg_jws t;
	enum rg_jws_status s1, s2;

	if (payload != NULL)
		*payload = NULL;
	if (parse_checked(tok, len, &t) != RG_JWS_OK)
		return 0;
	verify_checked(&t, p256, RG_JWS_ES256, &s1);
	verify_checked(&t, ed25519, RG_JWS_EDDSA, &s2);
	if (payload != NULL)
		*payload = json_incref(t.payload);
	rg_jws_free(&t);
	return s1 == RG_JWS_OK || s2 == RG_JWS_OK;
}

/* Replaces one character of a signed token by another base64url character: the result
 * must be refused, since every character of every part is covered by the signature or is
 * the signature. */
static void
check_tamper(char *tok, uint8_t where, uint8_t what)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t len = strlen(tok), at = len * where / 256;
	char was = tok[at], now = alphabet[what % 64];

	if (was == '.')
		return;
	if (now == was)
		now = alphabet[(what + 1) % 64];
	tok[at] = now;
	FUZZ_CHECK(!parse_and_verify(tok, len, NULL),
		"a token changed at byte %zu (%c -> %c) still verifies", at, was, now);
	tok[at] = was;
}

/* Whether payload would come back out of a token: a JSON object without duplicate keys,
 * in a token within the size limit (header and payload in unpadded base64url, two dots,
 * and 86 characters for a 64-byte signature). */
static json_t *
expected_payload(const char *payload, size_t hdrlen)
{
	size_t plen = strlen(payload);
	json_t *j;

	if ((4 * hdrlen + 2) / 3 + (4 * plen + 2) / 3 + 2 + 86 > RG_JWS_MAX_LEN)
		return NULL;
	j = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void
sign_round_trip(EVP_PKEY *key, const char *header, const char *payload, uint8_t where, uint8_t what)
{
	char err[256], *tok = NULL;
	json_t *want, *got = NULL;
	int rc, ok;

	err[0] = '\0';
	rc = header ? rg_jws_sign_header(key, header, payload, &tok, err, sizeof(err))
		    : rg_jws_sign(key, payload, &tok, err, sizeof(err));
	fuzz_check_err("rg_jws_sign", err, sizeof(err));
	if (header == NULL)
		FUZZ_CHECK(rc == 0, "rg_jws_sign failed: %s", err);
	if (rc != 0) {
		FUZZ_CHECK(tok == NULL, "a failed rg_jws_sign returned a token");
		return;
	}
	FUZZ_CHECK(tok != NULL, "rg_jws_sign succeeded without a token");
	ok = parse_and_verify(tok, strlen(tok), &got);
	/* With a caller's header, crit or a duplicate key may still make it unparseable;
	 * what parses must then verify. */
	want = expected_payload(payload, header ? strlen(header) : 27);
	if (header == NULL && want != NULL)
		FUZZ_CHECK(ok && json_equal(want, got),
			"a signed JSON object did not round-trip (verified %d)", ok);
	if (got != NULL)
		FUZZ_CHECK(ok, "a token signed with the fixture key parses but does not verify");
	if (ok)
		check_tamper(tok, where, what);
	json_decref(want);
	json_decref(got);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode, where = 0, what = 0;
	char *buf, *payload;
	const char *alg;
	json_t *h;
	EVP_PKEY *key;

	if (size < 1 || size > 3 * RG_JWS_MAX_LEN)
		return -1;
	mode = data[0] % 4;
	data++;
	size--;
	if (mode == 0) {
		/* An exact-size copy, so that ASan sees any read past the end. */
		buf = malloc(size ? size : 1);
		if (buf == NULL)
			return 0;
		memcpy(buf, data, size);
		FUZZ_CHECK(!parse_and_verify(buf, size, NULL),
			"an input token verified under a key generated for this run");
		free(buf);
		return 0;
	}
	if (size >= 2) {
		where = data[size - 2];
		what = data[size - 1];
		size -= 2;
	}
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (mode == 1 || mode == 2) {
		sign_round_trip(mode == 1 ? p256 : ed25519, NULL, buf, where, what);
	} else {
		/* header NUL payload; the key is the one the header asks for, so that both
		 * a good and a lying header are tried. */
		payload = memchr(buf, '\0', size) ? buf + strlen(buf) + 1 : buf + size;
		h = json_loads(buf, 0, NULL);
		alg = json_string_value(json_object_get(h, "alg"));
		key = alg != NULL && strcmp(alg, "EdDSA") == 0 ? ed25519 : p256;
		json_decref(h);
		sign_round_trip(key, buf, payload, where, what);
	}
	free(buf);
	return 0;
}
