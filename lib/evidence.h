/* Proofing evidence: a compact JWS (RFC 7515) issued by a trusted proofing service.
 *
 * Verification order matters for the denial texts: the token is split and decoded, the
 * header's alg checked (ES256 or EdDSA only), the unverified payload read just far enough to
 * find "iss", the issuer's key looked up, the signature checked, and only then are the claims
 * parsed strictly. Time, subject and policy checks belong to the caller (decide.c), which has
 * the clock, the target and the policy. */
#ifndef RG_EVIDENCE_H
#define RG_EVIDENCE_H

#include <stddef.h>
#include <openssl/evp.h>

#include "jws.h"

#define RG_EVIDENCE_MAX_LEN RG_JWS_MAX_LEN
/* 9999-12-31T22:59:59Z: the latest iat, exp or nbf accepted. An hour short of the end of
 * the year because the overlay records a used token until exp plus the clock skew (at most
 * an hour) as a generalizedTime: one in year 10000 would sort before the present, be purged
 * as expired, and the token work again. */
#define RG_EVIDENCE_MAX_TIME 253402297199LL

enum rg_ev_status {
	RG_EV_OK = 0,
	RG_EV_MALFORMED,        /* not a compact JWS, bad base64url or JSON, wrong claim types */
	RG_EV_UNSUPPORTED_ALG,  /* alg other than ES256/EdDSA, or not matching the issuer key */
	RG_EV_UNKNOWN_ISSUER,   /* iss names no configured issuer */
	RG_EV_BAD_SIGNATURE,
};

struct rg_issuer {
	char *name;       /* the "iss" value it signs with */
	EVP_PKEY *key;    /* public key: EC P-256 (ES256) or Ed25519 (EdDSA) */
};

struct rg_issuers {
	struct rg_issuer *v;
	size_t n;
};

/* Adds an issuer whose public key is read from a PEM file (SubjectPublicKeyInfo, or a
 * certificate). Refuses keys that are neither P-256 nor Ed25519, and duplicate names. */
int rg_issuers_add(struct rg_issuers *set, const char *name, const char *pem_path,
	char *err, size_t errlen);
const struct rg_issuer *rg_issuers_find(const struct rg_issuers *set, const char *name);
void rg_issuers_free(struct rg_issuers *set);

/* Risk signals of the proofing service (claim "risk"). A zeroed struct states nothing: every
 * fact the token leaves out is unknown, which the policy treats as its rgRiskUnknown says. */
enum rg_fact { RG_FACT_UNKNOWN = 0, RG_FACT_NO, RG_FACT_YES };

enum rg_risk_level { RG_RISK_LEVEL_NONE = 0, RG_RISK_LOW, RG_RISK_MEDIUM, RG_RISK_HIGH };

struct rg_risk {
	int has_score;
	int score;                      /* 0..100 when has_score */
	enum rg_risk_level level;
	enum rg_fact device_managed;
	enum rg_fact device_known;
	enum rg_fact network_known;
	enum rg_fact network_anonymizer;
	char country[3];                /* ISO 3166-1 alpha-2, upper case; "" when absent */
};

/* The length of an unpadded base64url SHA-256 digest (RFC 8705 x5t#S256). */
#define RG_X5T_LEN 43

struct rg_evidence {
	char *iss;
	char *sub;        /* target DN or uid, as issued */
	char *jti;
	char *approver;   /* DN, or NULL */
	char *reason;     /* reason or ticket, or NULL */
	long long iat;
	long long exp;
	long long nbf;    /* 0 when absent */
	int ial;          /* identity assurance level, 1..3 */
	char **amr;       /* RFC 8176 method references */
	size_t namr;
	struct rg_risk risk;
	/* cnf (RFC 7800) x5t#S256: the certificate the token is bound to; "" for a bearer
	 * token. A cnf naming the key any other way is refused, since it could not be checked. */
	char cnf_x5t[RG_X5T_LEN + 1];
	/* hex SHA-256 of iss NUL jti: what single use is recorded by, since two issuers may
	 * well mint the same jti */
	char id[65];
};

/* On RG_EV_OK fills *ev (free with rg_evidence_free); otherwise writes a one-line reason
 * naming what is wrong into err (never any part of a secret) and leaves *ev zeroed. */
enum rg_ev_status rg_evidence_verify(const struct rg_issuers *issuers, const char *jws,
	size_t len, struct rg_evidence *ev, char *err, size_t errlen);
void rg_evidence_free(struct rg_evidence *ev);

int rg_evidence_has_method(const struct rg_evidence *ev, const char *method);
/* The risk score the policy compares: the score when given, else the top of the level's band
 * (low 33, medium 66, high 100), else -1: unknown. */
int rg_risk_effective_score(const struct rg_risk *risk);
const char *rg_risk_level_name(enum rg_risk_level level);

#endif
