/* Proofing evidence: verification of compact JWS tokens and signing for the tools.
 *
 * Error texts go to logs and LDAP result text. They name the problem but never quote the
 * token: its contents are attacker-chosen until the signature checks out (log injection), and
 * even after that they identify a person. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "evidence.h"
#include "errbuf.h"

#define MAX_STR_CLAIM 1024
#define MAX_JTI 256
#define MAX_AMR 16
#define MAX_AMR_LEN 64

enum keykind { KEY_OTHER, KEY_P256, KEY_ED25519 };

static enum keykind key_kind(EVP_PKEY *key)
{
	char group[64];

	if (key == NULL)
		return KEY_OTHER;
	if (EVP_PKEY_is_a(key, "ED25519"))
		return KEY_ED25519;
	if (EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_group_name(key, group, sizeof group, NULL) == 1 &&
	    (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
		return KEY_P256;
	return KEY_OTHER;
}

/* ---- issuers ---- */

int rg_issuers_add(struct rg_issuers *set, const char *name, const char *pem_path,
	char *err, size_t errlen)
{
	FILE *fp = NULL;
	struct stat stb;
	BIO *bio = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	struct rg_issuer *v;
	char *dup = NULL;
	int rc = -1;

	if (set == NULL || name == NULL || pem_path == NULL) {
		rg_seterr(err, errlen, "internal error: missing issuer argument");
		goto out;
	}
	if (name[0] == '\0') {
		rg_seterr(err, errlen, "issuer name for %s is empty", pem_path);
		goto out;
	}
	if (strlen(name) > MAX_STR_CLAIM) {
		rg_seterr(err, errlen, "issuer name for %s is longer than %d bytes", pem_path,
			MAX_STR_CLAIM);
		goto out;
	}
	if (rg_issuers_find(set, name) != NULL) {
		rg_seterr(err, errlen, "issuer \"%s\" (%s) is already configured; issuer names must "
			"be unique", name, pem_path);
		goto out;
	}
	fp = fopen(pem_path, "r");
	if (fp == NULL || fstat(fileno(fp), &stb) != 0) {
		rg_seterr(err, errlen, "cannot read public key from %s: %s", pem_path, strerror(errno));
		goto out;
	}
	/* A FIFO or device would make the PEM reader block or spin at configuration time. */
	if (!S_ISREG(stb.st_mode)) {
		rg_seterr(err, errlen, "cannot read public key from %s: not a regular file", pem_path);
		goto out;
	}
	bio = BIO_new_fp(fp, BIO_NOCLOSE);
	if (bio == NULL) {
		rg_seterr(err, errlen, "cannot read public key from %s: out of memory", pem_path);
		goto out;
	}
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	/* File BIOs report a successful reset as 0, not 1. */
	if (key == NULL && BIO_reset(bio) >= 0) {
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (cert != NULL)
			key = X509_get_pubkey(cert);
	}
	ERR_clear_error();
	if (key == NULL) {
		rg_seterr(err, errlen, "cannot read public key from %s: no PEM \"PUBLIC KEY\" or "
			"\"CERTIFICATE\" block found (give the issuer's public key, not a private "
			"key)", pem_path);
		goto out;
	}
	if (key_kind(key) == KEY_OTHER) {
		char group[64] = "";
		if (EVP_PKEY_is_a(key, "EC"))
			EVP_PKEY_get_group_name(key, group, sizeof group, NULL);
		rg_seterr(err, errlen, "public key in %s is %s%s%s; only EC P-256 (ES256) and "
			"Ed25519 (EdDSA) keys are supported", pem_path,
			EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "of unknown type",
			group[0] ? " on curve " : "", group);
		goto out;
	}
	dup = strdup(name);
	v = dup ? realloc(set->v, (set->n + 1) * sizeof *v) : NULL;
	if (v == NULL) {
		rg_seterr(err, errlen, "cannot add issuer from %s: out of memory", pem_path);
		goto out;
	}
	set->v = v;
	v[set->n].name = dup;
	v[set->n].key = key;
	set->n++;
	dup = NULL;
	key = NULL;
	rc = 0;
out:
	free(dup);
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(bio);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

const struct rg_issuer *rg_issuers_find(const struct rg_issuers *set, const char *name)
{
	size_t i;

	if (set == NULL || name == NULL)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

void rg_issuers_free(struct rg_issuers *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		free(set->v[i].name);
		EVP_PKEY_free(set->v[i].key);
	}
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

/* ---- verification ---- */

static json_t *load_object(const unsigned char *buf, size_t len, const char *what,
	char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	/* jansson's own message quotes the input near the error, so only the offset is kept. */
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			rg_seterr(err, errlen, "token %s has a duplicate key", what);
		else
			rg_seterr(err, errlen, "token %s is not valid JSON (error at byte %d)", what,
				jerr.position);
		return NULL;
	}
	if (!json_is_object(j)) {
		rg_seterr(err, errlen, "token %s is not a JSON object", what);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* NUL bytes are refused because every consumer treats these as C strings. */
static int get_string(json_t *obj, const char *name, int required, size_t max,
	char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t len;

	if (v == NULL && !required)
		return 0;
	s = json_string_value(v);
	len = json_string_length(v);
	if (s == NULL || len == 0 || len > max || memchr(s, '\0', len) != NULL) {
		rg_seterr(err, errlen, "claim \"%s\"%s must be a non-empty string of at most %zu "
			"bytes", name, required ? "" : ", when present,", max);
		return -1;
	}
	*out = strdup(s);
	if (*out == NULL) {
		rg_seterr(err, errlen, "out of memory while reading claim \"%s\"", name);
		return -1;
	}
	return 0;
}

/* A real is accepted when integral because some JSON encoders emit every number as a
 * double (e.g. 1700000000.0); fractions or out-of-range values mean a broken issuer. */
static int number_value(json_t *v, long long *out)
{
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	/* Range first: converting an out-of-range double to an integer is undefined. floor()
	 * is avoided so that users of the core need not link libm. */
	if (!(d >= -0x1p62 && d <= 0x1p62) || (double)(long long)d != d)
		return -1;
	*out = (long long)d;
	return 0;
}

static int get_time(json_t *obj, const char *name, int required, long long *out,
	char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	if (v == NULL && !required)
		return 0;
	if (number_value(v, out) != 0 || *out <= 0) {
		*out = 0;
		rg_seterr(err, errlen, "claim \"%s\"%s must be a positive integer (seconds since "
			"the epoch)", name, required ? "" : ", when present,");
		return -1;
	}
	return 0;
}

static int get_amr(json_t *obj, struct rg_evidence *ev, char *err, size_t errlen)
{
	json_t *a = json_object_get(obj, "amr"), *e;
	size_t i, n;

	if (!json_is_array(a) || (n = json_array_size(a)) > MAX_AMR) {
		rg_seterr(err, errlen, "claim \"amr\" must be an array of at most %d method names",
			MAX_AMR);
		return -1;
	}
	if (n == 0)
		return 0;
	ev->amr = calloc(n, sizeof *ev->amr);
	if (ev->amr == NULL) {
		rg_seterr(err, errlen, "out of memory while reading claim \"amr\"");
		return -1;
	}
	json_array_foreach(a, i, e) {
		const char *s = json_string_value(e);
		size_t len = json_string_length(e);

		if (s == NULL || len == 0 || len > MAX_AMR_LEN || memchr(s, '\0', len) != NULL) {
			rg_seterr(err, errlen, "claim \"amr\" entries must be non-empty strings of at "
				"most %d bytes", MAX_AMR_LEN);
			return -1;
		}
		ev->amr[i] = strdup(s);
		if (ev->amr[i] == NULL) {
			rg_seterr(err, errlen, "out of memory while reading claim \"amr\"");
			return -1;
		}
		/* Counted as they are filled so that rg_evidence_free frees exactly these. */
		ev->namr = i + 1;
	}
	return 0;
}

static int parse_claims(json_t *p, struct rg_evidence *ev, char *err, size_t errlen)
{
	long long ial = 0;
	json_t *v;

	if (get_string(p, "iss", 1, MAX_STR_CLAIM, &ev->iss, err, errlen) != 0 ||
	    get_string(p, "sub", 1, MAX_STR_CLAIM, &ev->sub, err, errlen) != 0 ||
	    get_string(p, "jti", 1, MAX_JTI, &ev->jti, err, errlen) != 0 ||
	    get_time(p, "iat", 1, &ev->iat, err, errlen) != 0 ||
	    get_time(p, "exp", 1, &ev->exp, err, errlen) != 0 ||
	    get_time(p, "nbf", 0, &ev->nbf, err, errlen) != 0)
		return -1;
	v = json_object_get(p, "ial");
	if (number_value(v, &ial) != 0 || ial < 1 || ial > 3) {
		rg_seterr(err, errlen, "claim \"ial\" must be an integer from 1 to 3");
		return -1;
	}
	ev->ial = (int)ial;
	if (get_amr(p, ev, err, errlen) != 0 ||
	    get_string(p, "approver", 0, MAX_STR_CLAIM, &ev->approver, err, errlen) != 0 ||
	    get_string(p, "reason", 0, MAX_STR_CLAIM, &ev->reason, err, errlen) != 0)
		return -1;
	return 0;
}

/* JWS carries ES256 as fixed-width R||S; OpenSSL wants a DER ECDSA-Sig-Value. */
static int es256_to_der(const unsigned char *raw, unsigned char **der, size_t *derlen)
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

static int verify_sig(EVP_PKEY *key, int es256, const unsigned char *sig, size_t siglen,
	const char *tbs, size_t tbslen)
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

enum rg_ev_status rg_evidence_verify(const struct rg_issuers *issuers, const char *jws,
	size_t len, struct rg_evidence *ev, char *err, size_t errlen)
{
	enum rg_ev_status st = RG_EV_MALFORMED;
	const char *dot1, *dot2, *seg;
	unsigned char *hdr = NULL, *pay = NULL, *sig = NULL;
	size_t hdrlen, paylen, siglen;
	json_t *h = NULL, *p = NULL, *j;
	const char *alg, *iss;
	const struct rg_issuer *is;
	int es256;

	if (ev == NULL) {
		rg_seterr(err, errlen, "internal error: no evidence structure");
		return RG_EV_MALFORMED;
	}
	memset(ev, 0, sizeof *ev);
	rg_seterr(err, errlen, "%s", "");
	if (jws == NULL || len == 0) {
		rg_seterr(err, errlen, "proofing token is empty");
		goto out;
	}
	if (len > RG_EVIDENCE_MAX_LEN) {
		rg_seterr(err, errlen, "proofing token is longer than %d bytes", RG_EVIDENCE_MAX_LEN);
		goto out;
	}
	dot1 = memchr(jws, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jws)) : NULL;
	seg = dot2 ? dot2 + 1 : NULL;
	if (dot2 == NULL || memchr(seg, '.', len - (size_t)(seg - jws)) != NULL) {
		rg_seterr(err, errlen, "proofing token is not a compact JWS (three base64url parts "
			"separated by dots)");
		goto out;
	}
	if (rg_b64url_decode(jws, (size_t)(dot1 - jws), &hdr, &hdrlen) != 0 ||
	    rg_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pay, &paylen) != 0 ||
	    rg_b64url_decode(seg, len - (size_t)(seg - jws), &sig, &siglen) != 0) {
		rg_seterr(err, errlen, "proofing token is not valid unpadded base64url");
		goto out;
	}

	if ((h = load_object(hdr, hdrlen, "header", err, errlen)) == NULL)
		goto out;
	alg = json_string_value(json_object_get(h, "alg"));
	if (alg == NULL) {
		rg_seterr(err, errlen, "token header has no \"alg\" string");
		goto out;
	}
	/* RFC 7515 4.1.11: extensions we do not understand must make the token invalid. */
	if (json_object_get(h, "crit") != NULL) {
		rg_seterr(err, errlen, "token header has a \"crit\" parameter, which is not supported");
		goto out;
	}
	if (strcmp(alg, "ES256") == 0) {
		es256 = 1;
	} else if (strcmp(alg, "EdDSA") == 0) {
		es256 = 0;
	} else {
		st = RG_EV_UNSUPPORTED_ALG;
		rg_seterr(err, errlen, "token algorithm is not supported; only ES256 and EdDSA are "
			"accepted");
		goto out;
	}

	/* The payload is untrusted here: it is only read for "iss", to pick the key. */
	if ((p = load_object(pay, paylen, "payload", err, errlen)) == NULL)
		goto out;
	j = json_object_get(p, "iss");
	iss = json_string_value(j);
	if (iss == NULL || json_string_length(j) == 0 || strlen(iss) != json_string_length(j)) {
		rg_seterr(err, errlen, "claim \"iss\" must be a non-empty string");
		goto out;
	}
	is = rg_issuers_find(issuers, iss);
	if (is == NULL) {
		st = RG_EV_UNKNOWN_ISSUER;
		rg_seterr(err, errlen, "token issuer is not a configured issuer; check the issuer "
			"names in the configuration");
		goto out;
	}
	/* Tying alg to the key type prevents algorithm substitution against the issuer's key. */
	if (key_kind(is->key) != (es256 ? KEY_P256 : KEY_ED25519)) {
		st = RG_EV_UNSUPPORTED_ALG;
		rg_seterr(err, errlen, "token algorithm %s does not match the issuer's %s key",
			es256 ? "ES256" : "EdDSA", es256 ? "Ed25519" : "P-256");
		goto out;
	}
	/* The signing input is the token's own prefix up to the second dot. */
	if (!verify_sig(is->key, es256, sig, siglen, jws, (size_t)(dot2 - jws))) {
		st = RG_EV_BAD_SIGNATURE;
		rg_seterr(err, errlen, "token signature does not verify with the issuer's key");
		goto out;
	}

	if (parse_claims(p, ev, err, errlen) != 0)
		goto out;
	st = RG_EV_OK;
out:
	if (st != RG_EV_OK)
		rg_evidence_free(ev);
	json_decref(h);
	json_decref(p);
	free(hdr);
	free(pay);
	free(sig);
	return st;
}

void rg_evidence_free(struct rg_evidence *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	free(ev->iss);
	free(ev->sub);
	free(ev->jti);
	free(ev->approver);
	free(ev->reason);
	for (i = 0; i < ev->namr; i++)
		free(ev->amr[i]);
	free(ev->amr);
	memset(ev, 0, sizeof *ev);
}

int rg_evidence_has_method(const struct rg_evidence *ev, const char *method)
{
	size_t i;

	if (ev == NULL || method == NULL)
		return 0;
	for (i = 0; i < ev->namr; i++)
		if (strcmp(ev->amr[i], method) == 0)
			return 1;
	return 0;
}

/* ---- signing ---- */

int rg_jws_sign(EVP_PKEY *key, const char *payload_json, char **out, char *err, size_t errlen)
{
	static const char hdr_es256[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
	static const char hdr_eddsa[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";

	/* The key check in rg_jws_sign_header gives the error for other key types. */
	return rg_jws_sign_header(key, key_kind(key) == KEY_ED25519 ? hdr_eddsa : hdr_es256,
		payload_json, out, err, errlen);
}

/* The header must be a JSON object whose "alg" is the one the key signs with: a token
 * whose header lies about its algorithm would be refused by every careful verifier. */
static int header_matches_key(const char *header_json, enum keykind kind)
{
	json_t *h, *alg;
	int ok;

	h = json_loads(header_json, JSON_REJECT_DUPLICATES, NULL);
	alg = json_is_object(h) ? json_object_get(h, "alg") : NULL;
	ok = json_is_string(alg) &&
	     strcmp(json_string_value(alg), kind == KEY_P256 ? "ES256" : "EdDSA") == 0;
	json_decref(h);
	return ok;
}

int rg_jws_sign_header(EVP_PKEY *key, const char *header_json, const char *payload_json,
	char **out, char *err, size_t errlen)
{
	enum keykind kind = key_kind(key);
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
	if (kind == KEY_OTHER) {
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
	if (EVP_DigestSignInit(ctx, NULL, kind == KEY_P256 ? EVP_sha256() : NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sigcap, (unsigned char *)tbs, tbslen) != 1 ||
	    (sig = OPENSSL_malloc(sigcap)) == NULL)
		goto out;
	siglen = sigcap;
	if (EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)tbs, tbslen) != 1)
		goto out;
	why = "signing produced an unexpected signature format";
	if (kind == KEY_P256) {
		q = sig;
		es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
		if (es == NULL)
			goto out;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
			goto out;
	} else {
		if (siglen != sizeof raw)
			goto out;
		memcpy(raw, sig, sizeof raw);
	}
	why = "out of memory";
	s64 = rg_b64url_encode(raw, sizeof raw);
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
	OPENSSL_cleanse(raw, sizeof raw);
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
