/* Unit tests of b64url and evidence (proofing token verification and signing).
 *
 * Keys are generated in-process and written to temporary PEM files, so the tests need no
 * fixtures on disk and never reuse a key between runs. */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "evidence.h"

#define ISS_EC "https://idp.example/ec"
#define ISS_ED "ed-idp"
#define ISS_CERT "cert-idp"
#define SUB "uid=alice,ou=people,dc=example,dc=org"

enum { F_EC, F_ED, F_RSA, F_P384, F_CERT, F_PRIV, NFILES };
static char paths[NFILES][32];
static EVP_PKEY *ec_key, *ed_key, *rsa_key, *p384_key, *cert_key;
static struct rg_issuers issuers;

#define ck_status(got, want, err)                                                                  \
	ck_assert_msg((got) == (want), "status %d, expected %d (err: %s)", (int)(got),             \
		(int)(want), (err))

/* ---- helpers ---- */

static char *
b64s(const char *s)
{
	char *r = rg_b64url_encode((const unsigned char *)s, strlen(s));
	ck_assert_ptr_nonnull(r);
	return r;
}

static char *
join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
	char *r = malloc(n);
	ck_assert_ptr_nonnull(r);
	snprintf(r, n, "%s.%s.%s", a, b, c);
	return r;
}

/* Segment i (0..2) of a compact JWS, malloc'd. */
static char *
seg(const char *tok, int i)
{
	const char *p = tok, *e;
	for (; i > 0; i--) {
		p = strchr(p, '.');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	e = strchr(p, '.');
	return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static json_t *
base_claims(const char *iss)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:[s,s], s:s, s:s}", "iss", iss,
		"sub", SUB, "jti", "jti-0001", "iat", (json_int_t)1700000000, "exp",
		(json_int_t)1700000300, "ial", 2, "amr", "hwk", "face", "approver",
		"uid=bob,ou=people,dc=example,dc=org", "reason", "INC-42");
	ck_assert_ptr_nonnull(o);
	return o;
}

static char *
claims_json(const char *iss)
{
	json_t *c = base_claims(iss);
	char *r = json_dumps(c, JSON_COMPACT);
	ck_assert_ptr_nonnull(r);
	json_decref(c);
	return r;
}

/* Signs claims (consumed) with rg_jws_sign. */
static char *
sign_claims(EVP_PKEY *key, json_t *claims)
{
	char *json = json_dumps(claims, JSON_COMPACT), *tok = NULL, err[256];
	ck_assert_ptr_nonnull(json);
	ck_assert_msg(rg_jws_sign(key, json, &tok, err, sizeof(err)) == 0, "sign: %s", err);
	free(json);
	json_decref(claims);
	return tok;
}

/* Signs arbitrary header and payload text; an EC key yields the DER signature OpenSSL
 * produces, which is what a careless issuer would put in a token. */
static char *
sign_custom(EVP_PKEY *key, const char *hdr, const char *pay)
{
	char *h = b64s(hdr), *p = b64s(pay), *tbs = join3(h, p, ""), *s, *tok;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[256];
	size_t siglen = sizeof(sig);

	tbs[strlen(tbs) - 1] = '\0';
	ck_assert(EVP_DigestSignInit(ctx, NULL, EVP_PKEY_is_a(key, "EC") ? EVP_sha256() : NULL,
			  NULL, key) == 1);
	ck_assert(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)tbs, strlen(tbs)) == 1);
	s = rg_b64url_encode(sig, siglen);
	tok = join3(h, p, s);
	EVP_MD_CTX_free(ctx);
	free(h);
	free(p);
	free(s);
	free(tbs);
	return tok;
}

/* Replaces the signature segment with sig (raw bytes). */
static char *
with_sig(const char *tok, const unsigned char *sig, size_t siglen)
{
	char *h = seg(tok, 0), *p = seg(tok, 1), *s = rg_b64url_encode(sig, siglen), *r;
	r = join3(h, p, s);
	free(h);
	free(p);
	free(s);
	return r;
}

static unsigned char *
sig_bytes(const char *tok, size_t *len)
{
	char *s = seg(tok, 2);
	unsigned char *b;
	ck_assert_int_eq(rg_b64url_decode(s, strlen(s), &b, len), 0);
	free(s);
	return b;
}

static enum rg_ev_status
verify(const char *tok, struct rg_evidence *ev, char *err)
{
	return rg_evidence_verify(&issuers, tok, strlen(tok), ev, err, 256);
}

static void
expect(const char *tok, enum rg_ev_status want, const char *errword)
{
	struct rg_evidence ev, zero;
	char err[256];
	enum rg_ev_status st;

	memset(&ev, 0xa5, sizeof(ev));
	memset(&zero, 0, sizeof(zero));
	st = verify(tok, &ev, err);
	ck_status(st, want, err);
	if (want != RG_EV_OK) {
		ck_assert_msg(memcmp(&ev, &zero, sizeof(ev)) == 0, "evidence not zeroed on failure");
		ck_assert_msg(err[0] != '\0' && strchr(err, '\n') == NULL, "bad err: %s", err);
	}
	if (errword != NULL)
		ck_assert_msg(strstr(err, errword) != NULL, "err lacks %s: %s", errword, err);
	rg_evidence_free(&ev);
}

static void
write_file(int slot, EVP_PKEY *key, X509 *cert, int priv)
{
	int fd;
	FILE *fp;

	snprintf(paths[slot], sizeof(paths)[slot], "/tmp/rgtestXXXXXX");
	fd = mkstemp(paths[slot]);
	fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (fp == NULL ||
		(cert                  ? PEM_write_X509(fp, cert)
				: priv ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)
				       : PEM_write_PUBKEY(fp, key)) != 1 ||
		fclose(fp) != 0) {
		fprintf(stderr, "cannot write %s\n", paths[slot]);
		exit(1);
	}
}

static X509 *
make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (x == NULL || X509_set_version(x, 2) != 1 ||
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
		X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
		X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
		X509_set_pubkey(x, key) != 1 || (n = X509_get_subject_name(x)) == NULL ||
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
			(const unsigned char *)"resetguard test", -1, -1, 0) != 1 ||
		X509_set_issuer_name(x, n) != 1 || X509_sign(x, key, EVP_sha256()) <= 0) {
		fprintf(stderr, "cannot make a test certificate\n");
		exit(1);
	}
	return x;
}

/* ---- b64url ---- */

START_TEST(b64_vectors)
{
	static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	static const unsigned char url[] = {0xfb, 0xff, 0xbf};
	unsigned char *d;
	size_t i, n;
	char *e;

	for (i = 0; i < sizeof(in) / sizeof(in)[0]; i++) {
		e = b64s(in[i]);
		ck_assert_str_eq(e, out[i]);
		ck_assert_int_eq(rg_b64url_decode(e, strlen(e), &d, &n), 0);
		ck_assert_uint_eq(n, strlen(in[i]));
		ck_assert_mem_eq(d, in[i], n);
		ck_assert_int_eq(d[n], 0);
		free(d);
		free(e);
	}
	e = rg_b64url_encode(url, sizeof(url));
	ck_assert_str_eq(e, "-_-_");
	free(e);
}
END_TEST

START_TEST(b64_roundtrip)
{
	unsigned char buf[100], *d;
	size_t len, n, i;
	char *e;

	srand(7);
	for (len = 0; len <= sizeof(buf); len++) {
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)rand();
		e = rg_b64url_encode(buf, len);
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(strlen(e), (len * 4 + 2) / 3);
		ck_assert_ptr_null(strpbrk(e, "=+/"));
		ck_assert_int_eq(rg_b64url_decode(e, strlen(e), &d, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(len == 0 || memcmp(d, buf, len) == 0);
		free(d);
		free(e);
	}
}
END_TEST

START_TEST(b64_reject)
{
	/* padding, standard alphabet, whitespace, 1 mod 4, non-zero trailing bits, NUL */
	static const char *const bad[] = {"Zg==", "Zm8=", "Zg=", "+w", "/w", "Zm 9v", "Zm9v\n",
		" Zm9v", "Zm9vY", "Zm9vA", "A", "Z", "Zh", "Zm9", "Zm9vYh", "Zm9v.", "Zm9v%",
		"\xc3\xa9Zm9"};
	unsigned char *d = (unsigned char *)"x";
	size_t i, n = 99;

	for (i = 0; i < sizeof(bad) / sizeof(bad)[0]; i++) {
		ck_assert_msg(rg_b64url_decode(bad[i], strlen(bad[i]), &d, &n) != 0,
			"accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(d);
		ck_assert_uint_eq(n, 0);
	}
	ck_assert(rg_b64url_decode("Zm\0v", 4, &d, &n) != 0);
}
END_TEST

/* ---- valid tokens ---- */

START_TEST(valid_es256)
{
	char *tok = sign_claims(ec_key, base_claims(ISS_EC)), *h = seg(tok, 0), err[256];
	struct rg_evidence ev;

	ck_assert_str_eq(h, "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9");
	free(h);
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	ck_assert_str_eq(ev.iss, ISS_EC);
	ck_assert_str_eq(ev.sub, SUB);
	ck_assert_str_eq(ev.jti, "jti-0001");
	ck_assert_str_eq(ev.approver, "uid=bob,ou=people,dc=example,dc=org");
	ck_assert_str_eq(ev.reason, "INC-42");
	ck_assert_int_eq(ev.iat, 1700000000);
	ck_assert_int_eq(ev.exp, 1700000300);
	ck_assert_int_eq(ev.nbf, 0);
	ck_assert_int_eq(ev.ial, 2);
	ck_assert_uint_eq(ev.namr, 2);
	ck_assert_str_eq(ev.amr[0], "hwk");
	ck_assert_str_eq(ev.amr[1], "face");
	ck_assert(rg_evidence_has_method(&ev, "hwk"));
	ck_assert(rg_evidence_has_method(&ev, "face"));
	ck_assert(!rg_evidence_has_method(&ev, "HWK"));
	ck_assert(!rg_evidence_has_method(&ev, "hw"));
	ck_assert(!rg_evidence_has_method(&ev, "hwkx"));
	rg_evidence_free(&ev);
	ck_assert_ptr_null(ev.iss);
	ck_assert_ptr_null(ev.amr);
	ck_assert_uint_eq(ev.namr, 0);
	rg_evidence_free(&ev); /* twice is harmless */
	free(tok);
}
END_TEST

START_TEST(valid_eddsa)
{
	json_t *c = base_claims(ISS_ED);
	char *tok, err[256];
	struct rg_evidence ev;

	json_object_del(c, "approver");
	json_object_del(c, "reason");
	json_object_set_new(c, "amr", json_array());
	json_object_set_new(c, "nbf", json_integer(1699999990));
	json_object_set_new(c, "ial", json_integer(3));
	json_object_set_new(c, "iat", json_real(1700000000.0)); /* integral real is fine */
	json_object_set_new(c, "x-extra", json_pack("{s:[i]}", "ignored", 1));
	tok = sign_claims(ed_key, c);
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	ck_assert_str_eq(ev.iss, ISS_ED);
	ck_assert_str_eq(ev.sub, SUB);
	ck_assert_ptr_null(ev.approver);
	ck_assert_ptr_null(ev.reason);
	ck_assert_int_eq(ev.iat, 1700000000);
	ck_assert_int_eq(ev.nbf, 1699999990);
	ck_assert_int_eq(ev.ial, 3);
	ck_assert_uint_eq(ev.namr, 0);
	ck_assert(!rg_evidence_has_method(&ev, "hwk"));
	rg_evidence_free(&ev);
	free(tok);
}
END_TEST

/* The latest exp accepted is still a four-digit year with the largest clock skew (3600 s)
 * added, as the overlay's record of the token's use needs (found by tests/fuzz). */
START_TEST(latest_exp)
{
	json_t *c = base_claims(ISS_ED);
	char *tok, err[256], buf[32];
	struct rg_evidence ev;
	time_t until;
	struct tm tm;

	json_object_set_new(c, "exp", json_integer(RG_EVIDENCE_MAX_TIME));
	tok = sign_claims(ed_key, c);
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	until = (time_t)(ev.exp + 3600);
	ck_assert_ptr_nonnull(gmtime_r(&until, &tm));
	ck_assert_uint_eq(strftime(buf, sizeof(buf), "%Y%m%d%H%M%SZ", &tm), 15);
	ck_assert_str_eq(buf, "99991231235959Z");
	rg_evidence_free(&ev);
	free(tok);
}
END_TEST

START_TEST(valid_limits)
{
	json_t *c = base_claims(ISS_ED), *amr = json_array();
	char big[1025], *tok;
	int i;

	memset(big, 'x', 1024);
	big[1024] = '\0';
	json_object_set_new(c, "sub", json_string(big));
	json_object_set_new(c, "reason", json_string(big));
	big[256] = '\0';
	json_object_set_new(c, "jti", json_string(big));
	big[64] = '\0';
	for (i = 0; i < 16; i++)
		json_array_append_new(amr, json_string(big));
	json_object_set_new(c, "amr", amr);
	tok = sign_claims(ed_key, c);
	expect(tok, RG_EV_OK, NULL);
	free(tok);
}
END_TEST

/* A token of exactly RG_EVIDENCE_MAX_LEN verifies; one byte more is refused unread. */
START_TEST(max_length)
{
	char *tok = NULL, *fill = calloc(1, 8192), *longer;
	json_t *c;
	size_t n;

	for (n = 5000; n < 7000 && tok == NULL; n++) {
		memset(fill, 'f', n);
		fill[n] = '\0';
		c = base_claims(ISS_EC);
		json_object_set_new(c, "fill", json_string(fill));
		tok = sign_claims(ec_key, c);
		if (strlen(tok) != RG_EVIDENCE_MAX_LEN) {
			free(tok);
			tok = NULL;
		}
	}
	ck_assert_ptr_nonnull(tok);
	expect(tok, RG_EV_OK, NULL);
	longer = malloc(RG_EVIDENCE_MAX_LEN + 2);
	snprintf(longer, RG_EVIDENCE_MAX_LEN + 2, "%sA", tok);
	expect(longer, RG_EV_MALFORMED, "longer than");
	free(longer);
	free(tok);
	free(fill);
}
END_TEST

START_TEST(cert_issuer)
{
	struct rg_issuers set = {0};
	char err[256], *tok = sign_claims(cert_key, base_claims(ISS_CERT));
	struct rg_evidence ev;

	ck_assert_msg(rg_issuers_add(&set, ISS_CERT, paths[F_CERT], err, sizeof(err)) == 0, "%s",
		err);
	ck_status(rg_evidence_verify(&set, tok, strlen(tok), &ev, err, sizeof(err)), RG_EV_OK, err);
	rg_evidence_free(&ev);
	rg_issuers_free(&set);
	ck_assert_uint_eq(set.n, 0);
	free(tok);
}
END_TEST

/* ---- signature ---- */

START_TEST(flipped_signature)
{
	EVP_PKEY *keys[] = {ec_key, ed_key};
	const char *iss[] = {ISS_EC, ISS_ED};
	static const size_t pos[] = {0, 31, 32, 63};
	int k;
	size_t i, n;

	for (k = 0; k < 2; k++) {
		char *tok = sign_claims(keys[k], base_claims(iss[k]));
		unsigned char *s = sig_bytes(tok, &n);
		ck_assert_uint_eq(n, 64);
		expect(tok, RG_EV_OK, NULL);
		for (i = 0; i < 4; i++) {
			char *bad;
			s[pos[i]] ^= 0x01;
			bad = with_sig(tok, s, n);
			expect(bad, RG_EV_BAD_SIGNATURE, "signature");
			s[pos[i]] ^= 0x01;
			free(bad);
		}
		free(s);
		free(tok);
	}
}
END_TEST

START_TEST(payload_altered)
{
	EVP_PKEY *keys[] = {ec_key, ed_key};
	const char *iss[] = {ISS_EC, ISS_ED};
	int k;

	for (k = 0; k < 2; k++) {
		char *tok = sign_claims(keys[k], base_claims(iss[k]));
		json_t *c = base_claims(iss[k]);
		char *json, *h = seg(tok, 0), *p, *s = seg(tok, 2), *bad;

		json_object_set_new(c, "sub", json_string("uid=root,dc=example,dc=org"));
		json = json_dumps(c, JSON_COMPACT);
		p = b64s(json);
		bad = join3(h, p, s);
		expect(bad, RG_EV_BAD_SIGNATURE, NULL);
		json_decref(c);
		free(json);
		free(h);
		free(p);
		free(s);
		free(bad);
		free(tok);
	}
}
END_TEST

START_TEST(signature_length)
{
	char *tok = sign_claims(ec_key, base_claims(ISS_EC)), *bad;
	char *pay = claims_json(ISS_EC);
	unsigned char sig[80];
	size_t n, lens[] = {0, 1, 63, 65, 72};
	unsigned char *s = sig_bytes(tok, &n);
	size_t i;

	memset(sig, 0, sizeof(sig));
	memcpy(sig, s, 64);
	for (i = 0; i < sizeof(lens) / sizeof(lens)[0]; i++) {
		bad = with_sig(tok, sig, lens[i]);
		expect(bad, RG_EV_BAD_SIGNATURE, NULL);
		free(bad);
	}
	/* A genuine signature, but DER-encoded instead of R||S. */
	bad = sign_custom(ec_key, "{\"alg\":\"ES256\"}", pay);
	expect(bad, RG_EV_BAD_SIGNATURE, NULL);
	free(bad);
	free(pay);
	free(s);
	free(tok);
	tok = sign_claims(ed_key, base_claims(ISS_ED));
	s = sig_bytes(tok, &n);
	bad = with_sig(tok, s, 63);
	expect(bad, RG_EV_BAD_SIGNATURE, NULL);
	free(bad);
	free(s);
	free(tok);
}
END_TEST

/* About 1 in 128 ES256 signatures has an R or S with a leading zero byte; those must still
 * be emitted as 32 bytes each. */
START_TEST(es256_many)
{
	char *pay = claims_json(ISS_EC), *tok, err[256];
	struct rg_evidence ev;
	unsigned char *s;
	size_t n;
	int i;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(rg_jws_sign(ec_key, pay, &tok, err, sizeof(err)), 0);
		s = sig_bytes(tok, &n);
		ck_assert_uint_eq(n, 64);
		ck_status(verify(tok, &ev, err), RG_EV_OK, err);
		rg_evidence_free(&ev);
		free(s);
		free(tok);
	}
	free(pay);
}
END_TEST

/* ---- issuer and algorithm ---- */

START_TEST(unknown_issuer)
{
	char *tok = sign_claims(ec_key, base_claims("https://evil.example/zzz")), err[256];
	struct rg_evidence ev;

	ck_status(verify(tok, &ev, err), RG_EV_UNKNOWN_ISSUER, err);
	ck_assert_ptr_null(strstr(err, "evil"));
	free(tok);
	/* Prefix and case variants of a configured name are other names. */
	tok = sign_claims(ec_key, base_claims("https://idp.example/e"));
	expect(tok, RG_EV_UNKNOWN_ISSUER, NULL);
	free(tok);
	tok = sign_claims(ec_key, base_claims("HTTPS://idp.example/ec"));
	expect(tok, RG_EV_UNKNOWN_ISSUER, NULL);
	free(tok);
}
END_TEST

START_TEST(unsupported_alg)
{
	static const char *const hdrs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"HS256\"}",
		"{\"alg\":\"RS256\"}", "{\"alg\":\"ES384\"}", "{\"alg\":\"es256\"}",
		"{\"alg\":\"EdDSA \"}", "{\"alg\":\"\"}", "{\"typ\":\"JWT\",\"alg\":\"HS256\"}"};
	const char *iss[] = {ISS_EC, ISS_ED};
	char err[256];
	struct rg_evidence ev;
	size_t i, k;

	/* Against both key types, so that a wrong alg can never slip through as the other one. */
	for (k = 0; k < 2; k++) {
		char *pay = claims_json(iss[k]), *p = b64s(pay);
		for (i = 0; i < sizeof(hdrs) / sizeof(hdrs)[0]; i++) {
			char *h = b64s(hdrs[i]), *tok = join3(h, p, "");
			char *tok2 = sign_custom(k ? ed_key : ec_key, hdrs[i], pay);
			expect(tok, RG_EV_UNSUPPORTED_ALG, NULL);
			ck_status(verify(tok2, &ev, err), RG_EV_UNSUPPORTED_ALG, err);
			ck_assert_ptr_null(strstr(err, "HS256"));
			free(h);
			free(tok);
			free(tok2);
		}
		free(p);
		free(pay);
	}
}
END_TEST

START_TEST(alg_key_mismatch)
{
	char *ed_pay = claims_json(ISS_ED), *ec_pay = claims_json(ISS_EC);
	char *tok;

	/* ES256 claimed for the Ed25519 issuer, signed with its own key. */
	tok = sign_custom(ed_key, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", ed_pay);
	expect(tok, RG_EV_UNSUPPORTED_ALG, NULL);
	free(tok);
	tok = sign_custom(ed_key, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", ec_pay);
	expect(tok, RG_EV_UNSUPPORTED_ALG, NULL);
	free(tok);
	/* The right key type but the wrong issuer's key. */
	tok = sign_claims(cert_key, base_claims(ISS_EC));
	expect(tok, RG_EV_BAD_SIGNATURE, NULL);
	free(tok);
	free(ed_pay);
	free(ec_pay);
}
END_TEST

/* ---- structure ---- */

START_TEST(structure)
{
	char *good = sign_claims(ed_key, base_claims(ISS_ED));
	char *h = seg(good, 0), *p = seg(good, 1), *s = seg(good, 2);
	char buf[4096];
	char *bad[12];
	size_t i, n = 0;

	bad[n++] = strdup("");
	bad[n++] = strdup("..");
	bad[n++] = strdup("abc");
	snprintf(buf, sizeof(buf), "%s.%s", h, p);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s.%s.%s.%s", h, p, s, s);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s.%s.%s.", h, p, s);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s==.%s.%s", h, p, s);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s.%s .%s", h, p, s);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s.%s.%s\n", h, p, s);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s.%s.+%s", h, p, s + 1);
	bad[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%s.%s.%s", h, p, "AAAAB"); /* 1 mod 4 */
	bad[n++] = strdup(buf);
	for (i = 0; i < n; i++) {
		expect(bad[i], RG_EV_MALFORMED, NULL);
		free(bad[i]);
	}
	/* NUL inside the given length */
	snprintf(buf, sizeof(buf), "%s", good);
	buf[5] = '\0';
	{
		struct rg_evidence ev;
		char err[256];
		ck_status(rg_evidence_verify(&issuers, buf, strlen(good), &ev, err, sizeof(err)),
			RG_EV_MALFORMED, err);
		ck_status(rg_evidence_verify(&issuers, NULL, 0, &ev, err, sizeof(err)),
			RG_EV_MALFORMED, err);
		/* err may be absent or tiny */
		ck_status(rg_evidence_verify(&issuers, "x", 1, &ev, NULL, 0), RG_EV_MALFORMED, "");
		ck_status(rg_evidence_verify(&issuers, "x", 1, &ev, err, 4), RG_EV_MALFORMED, err);
		ck_assert_uint_eq(strlen(err), 3);
	}
	free(h);
	free(p);
	free(s);
	free(good);
}
END_TEST

START_TEST(bad_json)
{
	static const char *const pays[] = {"not json", "[1,2]", "\"iss\"", "42", "",
		"{\"iss\":\"" ISS_ED "\"} x", "{\"iss\":\"" ISS_ED "\",\"iss\":\"" ISS_ED "\"}",
		"{\"iss\":\"" ISS_ED "\",\"sub\":\"a\\u0000b\"}"};
	static const char *const hdrs[] = {"nope", "[\"EdDSA\"]", "{}", "{\"alg\":5}",
		"{\"alg\":\"EdDSA\"} x", "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\"}",
		"{\"alg\":\"EdDSA\",\"crit\":[\"exp\"]}", "{\"alg\":null}"};
	char *good = claims_json(ISS_ED);
	size_t i;
	char *tok;

	for (i = 0; i < sizeof(pays) / sizeof(pays)[0]; i++) {
		tok = sign_custom(ed_key, "{\"alg\":\"EdDSA\"}", pays[i]);
		expect(tok, RG_EV_MALFORMED, NULL);
		free(tok);
	}
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs)[0]; i++) {
		tok = sign_custom(ed_key, hdrs[i], good);
		expect(tok, RG_EV_MALFORMED, NULL);
		free(tok);
	}
	/* Sanity: the same construction with a proper header verifies. */
	tok = sign_custom(ed_key, "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JWT\"}", good);
	expect(tok, RG_EV_OK, NULL);
	free(tok);
	free(good);
}
END_TEST

/* ---- claims ---- */

/* value: JSON text, NULL to delete the claim, or "S<n>" / "A<n>" / "L<n>" for a string of
 * n bytes / an amr of n entries / an amr entry of n bytes. */
static const struct {
	const char *claim, *value;
} bad_claims[] = {
	{"iss", NULL},
	{"iss", "5"},
	{"iss", "\"\""},
	{"iss", "null"},
	{"sub", NULL},
	{"sub", "\"\""},
	{"sub", "42"},
	{"sub", "null"},
	{"sub", "S1025"},
	{"jti", NULL},
	{"jti", "\"\""},
	{"jti", "[]"},
	{"jti", "S257"},
	{"iat", NULL},
	{"iat", "\"1700000000\""},
	{"iat", "1.5"},
	{"iat", "0"},
	{"iat", "-1"},
	{"iat", "1e300"},
	{"iat", "null"},
	{"exp", NULL},
	{"exp", "true"},
	{"exp", "{}"},
	{"exp", "1700000300.25"},
	{"nbf", "\"x\""},
	{"nbf", "0"},
	{"nbf", "null"},
	{"nbf", "-3"},
	/* past year 9999, near 2^62, before iat, after exp: never a real token */
	{"exp", "253402300800"},
	/* 9999-12-31T23:59:59Z, a "never expires": plus the clock skew it is year 10000 */
	{"exp", "253402300799"},
	{"exp", "4611686018427387904"},
	{"exp", "1699999999"},
	{"iat", "253402300800"},
	{"nbf", "1800000000"},
	{"ial", NULL},
	{"ial", "0"},
	{"ial", "4"},
	{"ial", "\"2\""},
	{"ial", "2.5"},
	{"ial", "-1"},
	{"ial", "true"},
	{"amr", NULL},
	{"amr", "\"hwk\""},
	{"amr", "[1]"},
	{"amr", "[\"hwk\",null]"},
	{"amr", "[\"\"]"},
	{"amr", "{}"},
	{"amr", "[[\"hwk\"]]"},
	{"amr", "A17"},
	{"amr", "L65"},
	{"approver", "5"},
	{"approver", "\"\""},
	{"approver", "S1025"},
	{"reason", "[]"},
	{"reason", "false"},
	{"reason", "S1025"},
	{"risk", "5"},
	{"risk", "[]"},
	{"risk", "{\"score\":101}"},
	{"risk", "{\"score\":-1}"},
	{"risk", "{\"score\":\"10\"}"},
	{"risk", "{\"score\":10.5}"},
	{"risk", "{\"level\":\"severe\"}"},
	{"risk", "{\"level\":2}"},
	{"risk", "{\"device\":true}"},
	{"risk", "{\"device\":{\"managed\":\"yes\"}}"},
	{"risk", "{\"device\":{\"known\":1}}"},
	{"risk", "{\"network\":[]}"},
	{"risk", "{\"network\":{\"anonymizer\":null}}"},
	{"risk", "{\"network\":{\"known\":0}}"},
	{"risk", "{\"network\":{\"country\":\"fr\"}}"},
	{"risk", "{\"network\":{\"country\":\"FRA\"}}"},
	{"risk", "{\"network\":{\"country\":33}}"},
	{"cnf", "\"x\""},
	{"cnf", "{}"},
	{"cnf", "{\"jkt\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"}"},
	{"cnf", "{\"x5t#S256\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\",\"jwk\":{}}"},
	{"cnf", "{\"x5t#S256\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuF\"}"},
	{"cnf", "{\"x5t#S256\":\"47DEQpj8HBSa+/TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"}"},
	{"cnf", "{\"x5t#S256\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\"}"},
	{"cnf", "{\"x5t#S256\":5}"},
};

static json_t *
make_value(const char *v)
{
	size_t n = v[0] && strchr("SAL", v[0]) ? strtoul(v + 1, NULL, 10) : 0;
	char *s;
	json_t *j;

	if (n == 0)
		return json_loads(v, JSON_DECODE_ANY, NULL);
	s = malloc(n + 1);
	memset(s, 'x', n);
	s[v[0] == 'A' ? 1 : n] = '\0';
	if (v[0] == 'S') {
		j = json_string(s);
	} else {
		j = json_array();
		for (size_t i = 0; i < (v[0] == 'A' ? n : 1); i++)
			json_array_append_new(j, json_string(s));
	}
	free(s);
	return j;
}

START_TEST(claims_rejected)
{
	json_t *c = base_claims(ISS_ED);
	char *tok, quoted[32];

	if (bad_claims[_i].value == NULL) {
		json_object_del(c, bad_claims[_i].claim);
	} else {
		json_t *v = make_value(bad_claims[_i].value);
		ck_assert_ptr_nonnull(v);
		json_object_set_new(c, bad_claims[_i].claim, v);
	}
	tok = sign_claims(ed_key, c);
	snprintf(quoted, sizeof(quoted), "\"%s\"", bad_claims[_i].claim);
	expect(tok, RG_EV_MALFORMED, quoted);
	free(tok);
}
END_TEST

START_TEST(amr_duplicates_and_token_id)
{
	json_t *c = base_claims(ISS_ED);
	char *tok, err[256], id[65];
	struct rg_evidence ev;

	json_object_set_new(c, "amr", json_pack("[s,s,s]", "hwk", "hwk", "face"));
	tok = sign_claims(ed_key, c);
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	ck_assert_uint_eq(ev.namr, 2);
	ck_assert_str_eq(ev.amr[0], "hwk");
	ck_assert_str_eq(ev.amr[1], "face");
	/* SHA-256 of iss NUL jti, as the reset log and rgUsedToken record it */
	ck_assert_uint_eq(strlen(ev.id), 64);
	ck_assert_uint_eq(strspn(ev.id, "0123456789abcdef"), 64);
	snprintf(id, sizeof(id), "%s", ev.id);
	rg_evidence_free(&ev);
	free(tok);
	tok = sign_claims(ec_key, base_claims(ISS_EC));
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	ck_assert_str_eq(ev.jti, "jti-0001");
	ck_assert_str_ne(ev.id, id); /* same jti, another issuer */
	rg_evidence_free(&ev);
	free(tok);
}
END_TEST

START_TEST(risk_and_cnf)
{
	json_t *c = base_claims(ISS_ED);
	char *tok, err[256];
	struct rg_evidence ev;

	/* absent: nothing is stated, the token is a bearer token */
	tok = sign_claims(ed_key, base_claims(ISS_ED));
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	ck_assert(!ev.risk.has_score && ev.risk.level == RG_RISK_LEVEL_NONE);
	ck_assert(ev.risk.device_managed == RG_FACT_UNKNOWN && ev.risk.country[0] == '\0');
	ck_assert_int_eq(rg_risk_effective_score(&ev.risk), -1);
	ck_assert_str_eq(ev.cnf_x5t, "");
	rg_evidence_free(&ev);
	free(tok);

	json_object_set_new(c, "risk",
		json_pack("{s:i, s:s, s:{s:b, s:b}, s:{s:b, s:b, s:s, s:s}, s:i}", "score", 72,
			"level", "high", "device", "managed", 0, "known", 1, "network", "known", 1,
			"anonymizer", 0, "country", "FR", "asn", "AS3215", "extra", 1));
	json_object_set_new(c, "cnf", json_pack("{s:s}", "x5t#S256",
		"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"));
	tok = sign_claims(ed_key, c);
	ck_status(verify(tok, &ev, err), RG_EV_OK, err);
	ck_assert(ev.risk.has_score);
	ck_assert_int_eq(ev.risk.score, 72);
	ck_assert_int_eq(ev.risk.level, RG_RISK_HIGH);
	ck_assert_int_eq(ev.risk.device_managed, RG_FACT_NO);
	ck_assert_int_eq(ev.risk.device_known, RG_FACT_YES);
	ck_assert_int_eq(ev.risk.network_known, RG_FACT_YES);
	ck_assert_int_eq(ev.risk.network_anonymizer, RG_FACT_NO);
	ck_assert_str_eq(ev.risk.country, "FR");
	ck_assert_str_eq(ev.cnf_x5t, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
	ck_assert_int_eq(rg_risk_effective_score(&ev.risk), 72);
	ev.risk.has_score = 0;
	ck_assert_int_eq(rg_risk_effective_score(&ev.risk), 100);
	rg_evidence_free(&ev);
	free(tok);
}
END_TEST

/* ---- error texts ---- */

/* Whether err contains any 10-byte run of text, i.e. quotes any part of it. */
static int
quotes(const char *err, const char *text)
{
	size_t i, n = strlen(text);

	for (i = 0; i + 10 <= n; i++)
		if (memmem(err, strlen(err), text + i, 10) != NULL)
			return 1;
	return 0;
}

START_TEST(err_never_quotes_token)
{
	char *toks[5], err[256];
	json_t *c;
	struct rg_evidence ev;
	int i;
	size_t n;
	unsigned char *s;

	toks[0] = sign_claims(ec_key, base_claims("https://evil.example/issuer"));
	c = base_claims(ISS_EC);
	json_object_set_new(c, "ial", json_string("uid=mallory"));
	toks[1] = sign_claims(ec_key, c);
	toks[2] = sign_claims(ed_key, base_claims(ISS_ED));
	s = sig_bytes(toks[2], &n);
	s[10] ^= 0xff;
	toks[3] = with_sig(toks[2], s, n);
	free(s);
	free(toks[2]);
	toks[2] = sign_custom(ed_key, "{\"alg\":\"HS256\"}", "{\"iss\":\"" ISS_ED "\"}");
	toks[4] = sign_custom(ed_key, "{\"alg\":\"ES256\"}", "{\"iss\":\"" ISS_ED "\"}");
	for (i = 0; i < 5; i++) {
		char *h = seg(toks[i], 0), *p = seg(toks[i], 1), *sg = seg(toks[i], 2);
		ck_assert_int_ne(verify(toks[i], &ev, err), RG_EV_OK);
		ck_assert_msg(!quotes(err, sg), "err quotes the signature: %s", err);
		ck_assert_msg(!quotes(err, h) && !quotes(err, p), "err quotes the token: %s", err);
		ck_assert_ptr_null(strstr(err, "evil"));
		ck_assert_ptr_null(strstr(err, "mallory"));
		ck_assert_ptr_null(strstr(err, SUB));
		free(h);
		free(p);
		free(sg);
		free(toks[i]);
	}
}
END_TEST

/* ---- issuers and signing ---- */

START_TEST(issuers_add)
{
	struct rg_issuers set = {0};
	char err[512];

	ck_assert_int_ne(rg_issuers_add(&set, "rsa", paths[F_RSA], err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, paths[F_RSA]));
	ck_assert_ptr_nonnull(strstr(err, "RSA"));
	ck_assert_int_ne(rg_issuers_add(&set, "p384", paths[F_P384], err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "secp384r1"));
	ck_assert_int_ne(rg_issuers_add(&set, "gone", "/nonexistent/x.pem", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "cannot read public key from /nonexistent/x.pem"));
	ck_assert_int_ne(rg_issuers_add(&set, "priv", paths[F_PRIV], err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, paths[F_PRIV]));
	ck_assert_int_ne(rg_issuers_add(&set, "dir", "/tmp", err, sizeof(err)), 0);
	ck_assert_int_ne(rg_issuers_add(&set, "", paths[F_EC], err, sizeof(err)), 0);
	ck_assert_uint_eq(set.n, 0);

	ck_assert_msg(rg_issuers_add(&set, "a", paths[F_EC], err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(rg_issuers_add(&set, "b", paths[F_ED], err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ne(rg_issuers_add(&set, "a", paths[F_ED], err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "already"));
	ck_assert_uint_eq(set.n, 2);
	ck_assert_ptr_eq(rg_issuers_find(&set, "a"), &set.v[0]);
	ck_assert_ptr_eq(rg_issuers_find(&set, "b"), &set.v[1]);
	ck_assert_ptr_null(rg_issuers_find(&set, "A"));
	ck_assert_ptr_null(rg_issuers_find(&set, "ab"));
	ck_assert_ptr_null(rg_issuers_find(&set, ""));
	ck_assert_ptr_null(rg_issuers_find(&set, NULL));
	ck_assert_ptr_null(rg_issuers_find(NULL, "a"));
	ck_assert(EVP_PKEY_is_a(set.v[1].key, "ED25519"));
	rg_issuers_free(&set);
	ck_assert_ptr_null(set.v);
	ck_assert_uint_eq(set.n, 0);
	rg_issuers_free(&set);
}
END_TEST

START_TEST(sign_refuses)
{
	char *tok = (char *)"x", err[256];

	ck_assert_int_ne(rg_jws_sign(rsa_key, "{}", &tok, err, sizeof(err)), 0);
	ck_assert_ptr_null(tok);
	ck_assert_int_ne(rg_jws_sign(p384_key, "{}", &tok, err, sizeof(err)), 0);
	ck_assert_int_ne(rg_jws_sign(NULL, "{}", &tok, err, sizeof(err)), 0);
	ck_assert_int_ne(rg_jws_sign(ec_key, NULL, &tok, err, sizeof(err)), 0);
}
END_TEST

static Suite *
evidence_suite(void)
{
	Suite *s = suite_create("evidence");
	TCase *tc = tcase_create("b64url");

	tcase_add_test(tc, b64_vectors);
	tcase_add_test(tc, b64_roundtrip);
	tcase_add_test(tc, b64_reject);
	suite_add_tcase(s, tc);
	tc = tcase_create("verify");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, valid_es256);
	tcase_add_test(tc, valid_eddsa);
	tcase_add_test(tc, valid_limits);
	tcase_add_test(tc, latest_exp);
	tcase_add_test(tc, max_length);
	tcase_add_test(tc, cert_issuer);
	tcase_add_test(tc, flipped_signature);
	tcase_add_test(tc, payload_altered);
	tcase_add_test(tc, signature_length);
	tcase_add_test(tc, es256_many);
	tcase_add_test(tc, unknown_issuer);
	tcase_add_test(tc, unsupported_alg);
	tcase_add_test(tc, alg_key_mismatch);
	tcase_add_test(tc, structure);
	tcase_add_test(tc, bad_json);
	tcase_add_test(tc, amr_duplicates_and_token_id);
	tcase_add_test(tc, risk_and_cnf);
	tcase_add_loop_test(tc, claims_rejected, 0,
		(int)(sizeof(bad_claims) / sizeof(bad_claims)[0]));
	tcase_add_test(tc, err_never_quotes_token);
	suite_add_tcase(s, tc);
	tc = tcase_create("issuers");
	tcase_add_test(tc, issuers_add);
	tcase_add_test(tc, sign_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	X509 *cert;
	char err[512];
	int failed, i;

	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	cert_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (!ec_key || !ed_key || !cert_key || !p384_key || !rsa_key) {
		fprintf(stderr, "key generation failed\n");
		return 1;
	}
	cert = make_cert(cert_key);
	write_file(F_EC, ec_key, NULL, 0);
	write_file(F_ED, ed_key, NULL, 0);
	write_file(F_RSA, rsa_key, NULL, 0);
	write_file(F_P384, p384_key, NULL, 0);
	write_file(F_CERT, NULL, cert, 0);
	write_file(F_PRIV, ec_key, NULL, 1);
	X509_free(cert);
	if (rg_issuers_add(&issuers, ISS_EC, paths[F_EC], err, sizeof(err)) != 0 ||
		rg_issuers_add(&issuers, ISS_ED, paths[F_ED], err, sizeof(err)) != 0) {
		fprintf(stderr, "issuer setup: %s\n", err);
		return 1;
	}

	sr = srunner_create(evidence_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	rg_issuers_free(&issuers);
	for (i = 0; i < NFILES; i++)
		unlink(paths[i]);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ed_key);
	EVP_PKEY_free(cert_key);
	EVP_PKEY_free(p384_key);
	EVP_PKEY_free(rsa_key);
	return failed ? 1 : 0;
}
