/* Compact JWS (RFC 7515) with the two algorithms resetguard accepts: ES256 (EC P-256) and
 * EdDSA (Ed25519). Splitting, decoding and verifying here; what the payload means is the
 * caller's business (evidence.c for proofing tokens, syncd's CAEP hook for the SETs it
 * signs). */
#ifndef RG_JWS_H
#define RG_JWS_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

/* Larger tokens are refused before any decoding. */
#define RG_JWS_MAX_LEN 8192

enum rg_jws_alg { RG_JWS_NONE, RG_JWS_ES256, RG_JWS_EDDSA };

enum rg_jws_status {
	RG_JWS_OK = 0,
	RG_JWS_MALFORMED,        /* not a compact JWS, bad base64url or JSON */
	RG_JWS_UNSUPPORTED_ALG,  /* alg other than ES256/EdDSA, or not the key's */
	RG_JWS_BAD_SIGNATURE,
};

/* A decoded token whose signature is not checked yet: header and payload are untrusted
 * until rg_jws_verify says otherwise. */
struct rg_jws {
	enum rg_jws_alg alg;
	json_t *header;
	json_t *payload;
	const char *signing_input;   /* points into the caller's token */
	size_t signing_input_len;
	unsigned char *sig;
	size_t siglen;
};

/* The algorithm a key signs with: RG_JWS_NONE for any key other than P-256 or Ed25519. */
enum rg_jws_alg rg_jws_key_alg(EVP_PKEY *key);

/* Only the shape: three parts of base64url characters joined by two dots, at most
 * RG_JWS_MAX_LEN bytes. Cheap enough for a protocol-level check of a control value. */
int rg_jws_is_compact(const char *s, size_t len);

/* Splits and decodes token (len bytes, kept alive by the caller while *t is used), checks
 * that alg is supported and that no "crit" extension is asked for. On failure err names
 * what is wrong, never quoting the token. */
enum rg_jws_status rg_jws_parse(const char *token, size_t len, struct rg_jws *t, char *err,
	size_t errlen);
/* RG_JWS_UNSUPPORTED_ALG when key is not of the token's algorithm (algorithm substitution),
 * RG_JWS_BAD_SIGNATURE when the signature does not verify. */
enum rg_jws_status rg_jws_verify(const struct rg_jws *t, EVP_PKEY *key, char *err,
	size_t errlen);
void rg_jws_free(struct rg_jws *t);

/* Signs payload_json with a P-256 (ES256) or Ed25519 (EdDSA) private key, header
 * {"alg":..,"typ":"JWT"}. *out is malloc'd, NUL-terminated. Returns 0 on success. */
int rg_jws_sign(EVP_PKEY *key, const char *payload_json, char **out, char *err, size_t errlen);
/* The same with the caller's protected header (e.g. typ "secevent+jwt" and a kid), used
 * as given: header_json must be a JSON object whose "alg" is the key's. */
int rg_jws_sign_header(EVP_PKEY *key, const char *header_json, const char *payload_json,
	char **out, char *err, size_t errlen);

#endif
