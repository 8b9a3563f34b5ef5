/* Proofing evidence: the issuers a server trusts, and the claims of a verified token.
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
#include "errbuf.h"
#include "evidence.h"
#include "jws.h"

#define MAX_STR_CLAIM 1024
#define MAX_JTI 256
#define MAX_AMR 16
#define MAX_AMR_LEN 64

/* ---- issuers ---- */

int
rg_issuers_add(struct rg_issuers *set, const char *name, const char *pem_path, char *err,
	size_t errlen)
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
		rg_seterr(err, errlen,
			"issuer \"%s\" (%s) is already configured; issuer names must "
			"be unique",
			name, pem_path);
		goto out;
	}
	fp = fopen(pem_path, "r");
	if (fp == NULL || fstat(fileno(fp), &stb) != 0) {
		rg_seterr(err, errlen, "cannot read public key from %s: %s", pem_path,
			strerror(errno));
		goto out;
	}
	/* A FIFO or device would make the PEM reader block or spin at configuration time. */
	if (!S_ISREG(stb.st_mode)) {
		rg_seterr(err, errlen, "cannot read public key from %s: not a regular file",
			pem_path);
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
		rg_seterr(err, errlen,
			"cannot read public key from %s: no PEM \"PUBLIC KEY\" or "
			"\"CERTIFICATE\" block found (give the issuer's public key, not a private "
			"key)",
			pem_path);
		goto out;
	}
	if (rg_jws_key_alg(key) == RG_JWS_NONE) {
		char group[64] = "";
		if (EVP_PKEY_is_a(key, "EC"))
			EVP_PKEY_get_group_name(key, group, sizeof(group), NULL);
		rg_seterr(err, errlen,
			"public key in %s is %s%s%s; only EC P-256 (ES256) and "
			"Ed25519 (EdDSA) keys are supported",
			pem_path,
			EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key)
						     : "of unknown type",
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

const struct rg_issuer *
rg_issuers_find(const struct rg_issuers *set, const char *name)
{
	size_t i;

	if (set == NULL || name == NULL)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

void
rg_issuers_free(struct rg_issuers *set)
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

/* NUL bytes are refused because every consumer treats these as C strings. */
static int
get_string(json_t *obj, const char *name, int required, size_t max, char **out, char *err,
	size_t errlen)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t len;

	if (v == NULL && !required)
		return 0;
	s = json_string_value(v);
	len = json_string_length(v);
	if (s == NULL || len == 0 || len > max || memchr(s, '\0', len) != NULL) {
		rg_seterr(err, errlen,
			"claim \"%s\"%s must be a non-empty string of at most %zu "
			"bytes",
			name, required ? "" : ", when present,", max);
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
static int
number_value(json_t *v, long long *out)
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

static int
get_time(json_t *obj, const char *name, int required, long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	if (v == NULL && !required)
		return 0;
	/* Bounded within year 9999 (RG_EVIDENCE_MAX_TIME): every later step (generalizedTime,
	 * time_t arithmetic with the clock skew) stays exact, and no real token lives that long. */
	if (number_value(v, out) != 0 || *out <= 0 || *out > RG_EVIDENCE_MAX_TIME) {
		*out = 0;
		rg_seterr(err, errlen,
			"claim \"%s\"%s must be a positive integer (seconds since "
			"the epoch) no later than the year 9999",
			name, required ? "" : ", when present,");
		return -1;
	}
	return 0;
}

static int
get_amr(json_t *obj, struct rg_evidence *ev, char *err, size_t errlen)
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
	json_array_foreach(a, i, e)
	{
		const char *s = json_string_value(e);
		size_t len = json_string_length(e);

		if (s == NULL || len == 0 || len > MAX_AMR_LEN || memchr(s, '\0', len) != NULL) {
			rg_seterr(err, errlen,
				"claim \"amr\" entries must be non-empty strings of at "
				"most %d bytes",
				MAX_AMR_LEN);
			return -1;
		}
		/* A method used once is stored and logged once, whatever the token repeats. */
		if (rg_evidence_has_method(ev, s))
			continue;
		ev->amr[ev->namr] = strdup(s);
		if (ev->amr[ev->namr] == NULL) {
			rg_seterr(err, errlen, "out of memory while reading claim \"amr\"");
			return -1;
		}
		/* Counted as they are filled so that rg_evidence_free frees exactly these. */
		ev->namr++;
	}
	return 0;
}

/* ---- risk signals and key binding ---- */

static const char *const level_names[] = {
	[RG_RISK_LEVEL_NONE] = "", [RG_RISK_LOW] = "low", [RG_RISK_MEDIUM] = "medium",
	[RG_RISK_HIGH] = "high",
};

const char *
rg_risk_level_name(enum rg_risk_level level)
{
	return (unsigned)level <= RG_RISK_HIGH ? level_names[level] : "";
}

int
rg_risk_effective_score(const struct rg_risk *risk)
{
	static const int band_top[] = { -1, 33, 66, 100 };

	if (risk->has_score)
		return risk->score;
	return (unsigned)risk->level <= RG_RISK_HIGH ? band_top[risk->level] : -1;
}

/* A member of one of the risk objects that must be a boolean when present. */
static int
get_fact(json_t *obj, const char *parent, const char *name, enum rg_fact *out, char *err,
	size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		rg_seterr(err, errlen, "claim \"risk\": \"%s.%s\" must be true or false", parent,
			name);
		return -1;
	}
	*out = json_is_true(v) ? RG_FACT_YES : RG_FACT_NO;
	return 0;
}

/* An object member that must itself be an object when present; NULL when absent. */
static int
get_object(json_t *obj, const char *name, json_t **out, char *err, size_t errlen)
{
	*out = json_object_get(obj, name);
	if (*out == NULL || json_is_object(*out))
		return 0;
	rg_seterr(err, errlen, "claim \"risk\": \"%s\" must be an object", name);
	return -1;
}

static int
get_country(json_t *network, struct rg_risk *r, char *err, size_t errlen)
{
	json_t *v = json_object_get(network, "country");
	const char *s = json_string_value(v);

	if (v == NULL)
		return 0;
	if (s == NULL || json_string_length(v) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' ||
	    s[1] > 'Z') {
		rg_seterr(err, errlen, "claim \"risk\": \"network.country\" must be an ISO 3166-1 "
			"alpha-2 code in upper case, e.g. \"FR\"");
		return -1;
	}
	memcpy(r->country, s, 3);
	return 0;
}

/* Members the issuer adds beyond these are ignored, as unknown claims are; a known member
 * of the wrong type or range means a broken issuer and refuses the token. */
static int
get_risk(json_t *p, struct rg_risk *r, char *err, size_t errlen)
{
	json_t *risk = json_object_get(p, "risk"), *v, *device, *network;
	long long score;
	const char *level;

	if (risk == NULL)
		return 0;
	if (!json_is_object(risk)) {
		rg_seterr(err, errlen, "claim \"risk\", when present, must be an object");
		return -1;
	}
	if ((v = json_object_get(risk, "score")) != NULL) {
		if (number_value(v, &score) != 0 || score < 0 || score > 100) {
			rg_seterr(err, errlen,
				"claim \"risk\": \"score\" must be an integer from 0 to 100");
			return -1;
		}
		r->has_score = 1;
		r->score = (int)score;
	}
	if ((v = json_object_get(risk, "level")) != NULL) {
		level = json_string_value(v);
		for (int l = RG_RISK_LOW; level != NULL && l <= RG_RISK_HIGH; l++)
			if (strcmp(level, level_names[l]) == 0)
				r->level = l;
		if (r->level == RG_RISK_LEVEL_NONE) {
			rg_seterr(err, errlen, "claim \"risk\": \"level\" must be \"low\", "
				"\"medium\" or \"high\"");
			return -1;
		}
	}
	if (get_object(risk, "device", &device, err, errlen) != 0 ||
	    get_object(risk, "network", &network, err, errlen) != 0)
		return -1;
	if (device != NULL &&
	    (get_fact(device, "device", "managed", &r->device_managed, err, errlen) != 0 ||
	    get_fact(device, "device", "known", &r->device_known, err, errlen) != 0))
		return -1;
	if (network != NULL &&
	    (get_fact(network, "network", "known", &r->network_known, err, errlen) != 0 ||
	    get_fact(network, "network", "anonymizer", &r->network_anonymizer, err,
	    errlen) != 0 || get_country(network, r, err, errlen) != 0))
		return -1;
	return 0;
}

/* RFC 7800 cnf with RFC 8705's x5t#S256. Another confirmation method (jwk, jkt, kid) is
 * refused rather than ignored: ignoring it would turn a bound token into a bearer one. */
static int
get_cnf(json_t *p, struct rg_evidence *ev, char *err, size_t errlen)
{
	json_t *cnf = json_object_get(p, "cnf"), *v;
	const char *s;
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	int rc = -1;

	if (cnf == NULL)
		return 0;
	v = json_object_get(cnf, "x5t#S256");
	s = json_string_value(v);
	if (!json_is_object(cnf) || json_object_size(cnf) != 1 || s == NULL) {
		rg_seterr(err, errlen, "claim \"cnf\" must be an object with only an "
			"\"x5t#S256\" member: other confirmation methods are not supported");
		return -1;
	}
	if (json_string_length(v) != RG_X5T_LEN ||
	    rg_b64url_decode(s, RG_X5T_LEN, &raw, &rawlen) != 0 || rawlen != 32) {
		rg_seterr(err, errlen, "claim \"cnf\": \"x5t#S256\" must be the unpadded "
			"base64url SHA-256 of a certificate (%d characters)", RG_X5T_LEN);
		goto out;
	}
	memcpy(ev->cnf_x5t, s, RG_X5T_LEN + 1);
	rc = 0;
out:
	free(raw);
	return rc;
}

static int
parse_claims(json_t *p, struct rg_evidence *ev, char *err, size_t errlen)
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
	if (ev->exp < ev->iat || (ev->nbf != 0 && ev->nbf > ev->exp)) {
		rg_seterr(err, errlen, "claim \"exp\" is before \"iat\" or \"nbf\": the token "
			"is never valid; check the issuer");
		return -1;
	}
	v = json_object_get(p, "ial");
	if (number_value(v, &ial) != 0 || ial < 1 || ial > 3) {
		rg_seterr(err, errlen, "claim \"ial\" must be an integer from 1 to 3");
		return -1;
	}
	ev->ial = (int)ial;
	if (get_amr(p, ev, err, errlen) != 0 ||
		get_string(p, "approver", 0, MAX_STR_CLAIM, &ev->approver, err, errlen) != 0 ||
		get_string(p, "reason", 0, MAX_STR_CLAIM, &ev->reason, err, errlen) != 0 ||
		get_risk(p, &ev->risk, err, errlen) != 0 || get_cnf(p, ev, err, errlen) != 0)
		return -1;
	return 0;
}

static int
token_id(struct rg_evidence *ev, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(ctx, ev->iss, strlen(ev->iss) + 1) == 1 &&
		EVP_DigestUpdate(ctx, ev->jti, strlen(ev->jti)) == 1 &&
		EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32) {
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(ev->id + 2 * i, 3, "%02x", md[i]);
		rc = 0;
	} else {
		rg_seterr(err, errlen, "cannot compute the token's id (SHA-256 failed)");
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

enum rg_ev_status
rg_evidence_verify(const struct rg_issuers *issuers, const char *token, size_t len,
	struct rg_evidence *ev, char *err, size_t errlen)
{
	static const enum rg_ev_status from_jws[] = {
		[RG_JWS_OK] = RG_EV_OK,
		[RG_JWS_MALFORMED] = RG_EV_MALFORMED,
		[RG_JWS_UNSUPPORTED_ALG] = RG_EV_UNSUPPORTED_ALG,
		[RG_JWS_BAD_SIGNATURE] = RG_EV_BAD_SIGNATURE,
	};
	enum rg_ev_status st = RG_EV_MALFORMED;
	struct rg_jws t;
	const struct rg_issuer *is;
	const char *iss;
	json_t *j;

	if (ev == NULL) {
		rg_seterr(err, errlen, "internal error: no evidence structure");
		return RG_EV_MALFORMED;
	}
	memset(ev, 0, sizeof(*ev));
	rg_seterr(err, errlen, "%s", "");
	st = from_jws[rg_jws_parse(token, len, &t, err, errlen)];
	if (st != RG_EV_OK)
		return st;
	/* The payload is untrusted here: it is only read for "iss", to pick the key. */
	st = RG_EV_MALFORMED;
	j = json_object_get(t.payload, "iss");
	iss = json_string_value(j);
	if (iss == NULL || json_string_length(j) == 0 || strlen(iss) != json_string_length(j)) {
		rg_seterr(err, errlen, "claim \"iss\" must be a non-empty string");
		goto out;
	}
	is = rg_issuers_find(issuers, iss);
	if (is == NULL) {
		st = RG_EV_UNKNOWN_ISSUER;
		rg_seterr(err, errlen,
			"token issuer is not a configured issuer; check the issuer "
			"names in the configuration");
		goto out;
	}
	st = from_jws[rg_jws_verify(&t, is->key, err, errlen)];
	if (st != RG_EV_OK)
		goto out;
	st = RG_EV_MALFORMED;
	if (parse_claims(t.payload, ev, err, errlen) != 0 || token_id(ev, err, errlen) != 0)
		goto out;
	st = RG_EV_OK;
out:
	if (st != RG_EV_OK)
		rg_evidence_free(ev);
	rg_jws_free(&t);
	return st;
}

void
rg_evidence_free(struct rg_evidence *ev)
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

int
rg_evidence_has_method(const struct rg_evidence *ev, const char *method)
{
	size_t i;

	if (ev == NULL || method == NULL)
		return 0;
	for (i = 0; i < ev->namr; i++)
		if (strcmp(ev->amr[i], method) == 0)
			return 1;
	return 0;
}
