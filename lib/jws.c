/* Compact JWS: parse, verify and sign with ES256 or EdDSA through OpenSSL's EVP.
 *
 * Error texts name the problem but never quote the token: its contents are attacker-chosen
 * until the signature checks out (log injection). */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "b64url.h"
#include "errbuf.h"
#include "jws.h"

enum rg_jws_alg
rg_jws_key_alg(EVP_PKEY *key)
{
	char group[64];

	if (key == NULL)
		return RG_JWS_NONE;
	if (EVP_PKEY_is_a(key, "ED25519"))
		return RG_JWS_EDDSA;
	if (EVP_PKEY_is_a(key, "EC") &&
		EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
		(strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
		return RG_JWS_ES256;
	return RG_JWS_NONE;
}

static int
is_b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_';
}

int
rg_jws_is_compact(const char *s, size_t len)
{
	int dots = 0;

	if (s == NULL || len == 0 || len > RG_JWS_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (!is_b64url_char((unsigned char)s[i]))
			return 0;
	}
	return dots == 2;
}

static json_t *
load_object(const unsigned char *buf, size_t len, const char *what, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	/* jansson's own message quotes the input near the error, so only the offset is kept. */
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			rg_seterr(err, errlen, "token %s has a duplicate key", what);
		else
			rg_seterr(err, errlen, "token %s is not valid JSON (error at byte %d)",
				what, jerr.position);
		return NULL;
	}
	if (!json_is_object(j)) {
		rg_seterr(err, errlen, "token %s is not a JSON object", what);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* JWS carries ES256 as fixed-width R||S; OpenSSL wants a DER ECDSA-Sig-Value. */
static int
es256_to_der(const unsigned char *raw, unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int n, rc = -1;

	*der = NULL;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, 32, NULL);
	s = BN_bin2bn(raw + 32, 32, NULL);
	if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by sig now */
	n = i2d_ECDSA_SIG(sig, der);
	if (n <= 0) {
		*der = NULL;
		goto out;
	}
	*derlen = (size_t)n;
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

static int
verify_sig(EVP_PKEY *key, int es256, const unsigned char *sig, size_t siglen, const char *tbs,
	size_t tbslen)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	int ok = 0;

	/* Both schemes produce exactly 64 bytes; anything else cannot be genuine. */
	if (siglen != 64)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		goto out;
	if (es256) {
		if (es256_to_der(sig, &der, &derlen) != 0 ||
			EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1)
			goto out;
		ok = EVP_DigestVerify(ctx, der, derlen, (const unsigned char *)tbs, tbslen) == 1;
	} else {
		if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1)
			goto out;
		ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)tbs, tbslen) == 1;
	}
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	/* Leave no failure behind in the shared, per-thread OpenSSL error queue. */
	ERR_clear_error();
	return ok;
}

enum rg_jws_status
rg_jws_parse(const char *token, size_t len, struct rg_jws *t, char *err, size_t errlen)
{
	const char *dot1, *dot2, *seg, *alg;
	unsigned char *hdr = NULL, *pay = NULL;
	size_t hdrlen, paylen;
	enum rg_jws_status st = RG_JWS_MALFORMED;

	memset(t, 0, sizeof(*t));
	if (token == NULL || len == 0) {
		rg_seterr(err, errlen, "proofing token is empty");
		goto out;
	}
	if (len > RG_JWS_MAX_LEN) {
		rg_seterr(err, errlen, "proofing token is longer than %d bytes", RG_JWS_MAX_LEN);
		goto out;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	seg = dot2 ? dot2 + 1 : NULL;
	if (dot2 == NULL || memchr(seg, '.', len - (size_t)(seg - token)) != NULL) {
		rg_seterr(err, errlen,
			"proofing token is not a compact JWS (three base64url parts "
			"separated by dots)");
		goto out;
	}
	if (rg_b64url_decode(token, (size_t)(dot1 - token), &hdr, &hdrlen) != 0 ||
		rg_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pay, &paylen) != 0 ||
		rg_b64url_decode(seg, len - (size_t)(seg - token), &t->sig, &t->siglen) != 0) {
		rg_seterr(err, errlen, "proofing token is not valid unpadded base64url");
		goto out;
	}
	if ((t->header = load_object(hdr, hdrlen, "header", err, errlen)) == NULL)
		goto out;
	alg = json_string_value(json_object_get(t->header, "alg"));
	if (alg == NULL) {
		rg_seterr(err, errlen, "token header has no \"alg\" string");
		goto out;
	}
	/* RFC 7515 4.1.11: extensions we do not understand must make the token invalid. */
	if (json_object_get(t->header, "crit") != NULL) {
		rg_seterr(err, errlen,
			"token header has a \"crit\" parameter, which is not "
			"supported");
		goto out;
	}
	if (strcmp(alg, "ES256") == 0) {
		t->alg = RG_JWS_ES256;
	} else if (strcmp(alg, "EdDSA") == 0) {
		t->alg = RG_JWS_EDDSA;
	} else {
		st = RG_JWS_UNSUPPORTED_ALG;
		rg_seterr(err, errlen,
			"token algorithm is not supported; only ES256 and EdDSA are "
			"accepted");
		goto out;
	}
	if ((t->payload = load_object(pay, paylen, "payload", err, errlen)) == NULL)
		goto out;
	/* The signing input is the token's own prefix up to the second dot. */
	t->signing_input = token;
	t->signing_input_len = (size_t)(dot2 - token);
	st = RG_JWS_OK;
out:
	if (st != RG_JWS_OK)
		rg_jws_free(t);
	free(hdr);
	free(pay);
	return st;
}

enum rg_jws_status
rg_jws_verify(const struct rg_jws *t, EVP_PKEY *key, char *err, size_t errlen)
{
	enum rg_jws_alg kalg = rg_jws_key_alg(key);

	/* Tying alg to the key type prevents algorithm substitution against the key. */
	if (kalg != t->alg) {
		rg_seterr(err, errlen, "token algorithm %s does not match the issuer's %s key",
			t->alg == RG_JWS_ES256 ? "ES256" : "EdDSA",
			kalg == RG_JWS_ES256           ? "P-256"
				: kalg == RG_JWS_EDDSA ? "Ed25519"
						       : "unsupported");
		return RG_JWS_UNSUPPORTED_ALG;
	}
	if (!verify_sig(key, t->alg == RG_JWS_ES256, t->sig, t->siglen, t->signing_input,
		    t->signing_input_len)) {
		rg_seterr(err, errlen, "token signature does not verify with the issuer's key");
		return RG_JWS_BAD_SIGNATURE;
	}
	return RG_JWS_OK;
}

void
rg_jws_free(struct rg_jws *t)
{
	json_decref(t->header);
	json_decref(t->payload);
	free(t->sig);
	memset(t, 0, sizeof(*t));
}

int
rg_jws_sign(EVP_PKEY *key, const char *payload_json, char **out, char *err, size_t errlen)
{
	static const char hdr_es256[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
	static const char hdr_eddsa[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";

	/* The key check in rg_jws_sign_header gives the error for other key types. */
	return rg_jws_sign_header(key, rg_jws_key_alg(key) == RG_JWS_EDDSA ? hdr_eddsa : hdr_es256,
		payload_json, out, err, errlen);
}

/* The header must be a JSON object whose "alg" is the one the key signs with: a token
 * whose header lies about its algorithm would be refused by every careful verifier. */
static int
header_matches_key(const char *header_json, enum rg_jws_alg kind)
{
	json_t *h, *alg;
	int ok;

	h = json_loads(header_json, JSON_REJECT_DUPLICATES, NULL);
	alg = json_is_object(h) ? json_object_get(h, "alg") : NULL;
	ok = json_is_string(alg) &&
		strcmp(json_string_value(alg), kind == RG_JWS_ES256 ? "ES256" : "EdDSA") == 0;
	json_decref(h);
	return ok;
}

int
rg_jws_sign_header(EVP_PKEY *key, const char *header_json, const char *payload_json, char **out,
	char *err, size_t errlen)
{
	enum rg_jws_alg kind = rg_jws_key_alg(key);
	const char *hdr = header_json, *why = "out of memory";
	char *h64 = NULL, *p64 = NULL, *s64 = NULL, *tbs = NULL, *res = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL, raw[64];
	const unsigned char *q;
	size_t sigcap = 0, siglen = 0, tbslen, outlen;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	int rc = -1;

	if (out == NULL || payload_json == NULL || header_json == NULL) {
		why = "internal error: missing signing argument";
		goto out;
	}
	*out = NULL;
	if (kind == RG_JWS_NONE) {
		why = "signing key must be EC P-256 (ES256) or Ed25519 (EdDSA)";
		goto out;
	}
	if (!header_matches_key(header_json, kind)) {
		why = "header must be a JSON object whose alg matches the key (ES256 or EdDSA)";
		goto out;
	}
	h64 = rg_b64url_encode((const unsigned char *)hdr, strlen(hdr));
	p64 = rg_b64url_encode((const unsigned char *)payload_json, strlen(payload_json));
	if (h64 == NULL || p64 == NULL)
		goto out;
	tbslen = strlen(h64) + 1 + strlen(p64);
	tbs = malloc(tbslen + 1);
	if (tbs == NULL)
		goto out;
	snprintf(tbs, tbslen + 1, "%s.%s", h64, p64);

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		goto out;
	why = "OpenSSL refused to sign with this key";
	if (EVP_DigestSignInit(ctx, NULL, kind == RG_JWS_ES256 ? EVP_sha256() : NULL, NULL, key) !=
			1 ||
		EVP_DigestSign(ctx, NULL, &sigcap, (unsigned char *)tbs, tbslen) != 1 ||
		(sig = OPENSSL_malloc(sigcap)) == NULL)
		goto out;
	siglen = sigcap;
	if (EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)tbs, tbslen) != 1)
		goto out;
	why = "signing produced an unexpected signature format";
	if (kind == RG_JWS_ES256) {
		q = sig;
		es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
		if (es == NULL)
			goto out;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
			goto out;
	} else {
		if (siglen != sizeof(raw))
			goto out;
		memcpy(raw, sig, sizeof(raw));
	}
	why = "out of memory";
	s64 = rg_b64url_encode(raw, sizeof(raw));
	if (s64 == NULL)
		goto out;
	outlen = tbslen + 1 + strlen(s64);
	res = malloc(outlen + 1);
	if (res == NULL)
		goto out;
	snprintf(res, outlen + 1, "%s.%s", tbs, s64);
	*out = res;
	rc = 0;
out:
	if (rc != 0)
		rg_seterr(err, errlen, "cannot sign token: %s", why);
	ERR_clear_error();
	OPENSSL_cleanse(raw, sizeof(raw));
	if (sig != NULL) {
		OPENSSL_cleanse(sig, sigcap);
		OPENSSL_free(sig);
	}
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	free(h64);
	free(p64);
	free(s64);
	free(tbs);
	return rc;
}
