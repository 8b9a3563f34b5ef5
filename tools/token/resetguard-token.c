/* resetguard-token: mints a proofing token (compact JWS) as a self-service portal or a test
 * would, signed with the proofing service's P-256 or Ed25519 private key.
 *
 * The claim limits mirror what rg_evidence_verify accepts, so that a token this tool prints
 * is never refused for its shape. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "evidence.h"

#define PROG "resetguard-token"
#define USAGE                                                                                      \
	"usage: " PROG " --key FILE --iss NAME --sub DN --ial N --amr LIST "                       \
	"[--approver DN] [--reason TEXT] [--ttl SECONDS] [--jti ID] [--iat EPOCH] [--nbf EPOCH] "  \
	"[--risk-score N] [--risk-level LEVEL] [--device-managed|--device-known|--network-known|"  \
	"--anonymizer yes|no] [--country CC] [--cnf-cert FILE]"

#define MAX_STR 1024
#define MAX_JTI 256
#define MAX_AMR 16
#define MAX_AMR_LEN 64

/* The risk facts, in the order of their options and of the claim's members. */
enum { F_DEVICE_MANAGED, F_DEVICE_KNOWN, F_NETWORK_KNOWN, F_ANONYMIZER, NFACTS };
static const char *const fact_names[NFACTS][2] = {
	{ "device", "managed" }, { "device", "known" }, { "network", "known" },
	{ "network", "anonymizer" },
};

struct args {
	const char *key, *iss, *sub, *amr, *approver, *reason, *jti;
	long long ial, ttl, iat, nbf;
	long long risk_score;           /* -1: none */
	const char *risk_level, *country, *cnf_cert;
	int facts[NFACTS];              /* 0: not given, 1: no, 2: yes */
};

static const char help[] =
	"Prints a signed proofing token (compact JWS) for resetguard on standard output.\n"
	"  --key FILE       PEM private key, EC P-256 (ES256) or Ed25519 (EdDSA), mode 600\n"
	"  --iss NAME       issuer name, as configured for the overlay\n"
	"  --sub DN         the account whose password may be reset\n"
	"  --ial N          identity assurance level, 1 to 3\n"
	"  --amr LIST       comma-separated methods used, e.g. hwk,face (may be empty)\n"
	"  --approver DN    who approved the reset\n"
	"  --reason TEXT    reason or ticket reference\n"
	"  --ttl SECONDS    lifetime, default 300\n"
	"  --jti ID         token id, default 16 random bytes in hex\n"
	"  --iat EPOCH      issue time, default now\n"
	"  --nbf EPOCH      not-before time, default none\n"
	"  --risk-score N   the proofing service's risk score, 0 to 100 (claim risk.score)\n"
	"  --risk-level L   low, medium or high (risk.level)\n"
	"  --device-managed yes|no, --device-known yes|no, --network-known yes|no,\n"
	"  --anonymizer yes|no\n"
	"                   device and network facts (risk.device.*, risk.network.*)\n"
	"  --country CC     ISO 3166-1 alpha-2 country of the network (risk.network.country)\n"
	"  --cnf-cert FILE  bind the token to this PEM certificate (cnf x5t#S256): the reset\n"
	"                   agent must present it as its TLS client certificate\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fprintf(stderr, PROG ": ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "%s\n", USAGE);
	return 2;
}

/* Digits only: strtoll alone would accept signs, spaces and an empty string. */
static int
parse_number(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* jansson refuses strings that are not UTF-8; checking here turns that into a usage error
 * naming the option instead of a failure deep in json_pack. */
static int
check_string(const char *s, size_t max)
{
	json_t *j;
	size_t len = strlen(s);

	if (len == 0 || len > max || (j = json_string(s)) == NULL)
		return -1;
	json_decref(j);
	return 0;
}

static int
build_amr(const char *list, json_t **out)
{
	json_t *a = json_array();
	const char *p = list, *comma;
	char item[MAX_AMR_LEN + 1];
	size_t n;
	int rc = -1;

	if (a == NULL)
		goto out;
	while (*p != '\0') {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n > MAX_AMR_LEN || json_array_size(a) >= MAX_AMR)
			goto out;
		memcpy(item, p, n);
		item[n] = '\0';
		if (json_array_append_new(a, json_string(item)) != 0)
			goto out;
		if (comma == NULL)
			break;
		p = comma + 1;
		/* A trailing comma would otherwise end the loop silently. */
		if (*p == '\0')
			goto out;
	}
	*out = a;
	a = NULL;
	rc = 0;
out:
	json_decref(a);
	return rc;
}

/* Opening first and checking the open descriptor avoids a swap between check and read. */
static EVP_PKEY *
load_key(const char *path)
{
	EVP_PKEY *key = NULL;
	struct stat st;
	FILE *fp = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, PROG ": cannot open private key %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, PROG ": private key %s is not a regular file\n", path);
		goto out;
	}
	if (st.st_mode & 077) {
		fprintf(stderr,
			PROG ": private key %s is accessible by group or others; "
			     "chmod 600 it\n",
			path);
		goto out;
	}
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		fprintf(stderr, PROG ": cannot read private key %s: %s\n", path, strerror(errno));
		goto out;
	}
	fd = -1;
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	if (key == NULL)
		fprintf(stderr, PROG ": cannot read a PEM private key from %s\n", path);
out:
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	return key;
}

/* The RFC 8705 thumbprint of the certificate in a PEM file, malloc'd. */
static char *
cert_x5t(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *cert = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int len = cert != NULL ? i2d_X509(cert, &der) : -1;
	char *x5t = NULL;

	if (len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1)
		x5t = rg_b64url_encode(md, mdlen);
	if (x5t == NULL)
		fprintf(stderr, PROG ": cannot read a PEM certificate from %s%s%s\n", path,
			fp == NULL ? ": " : "", fp == NULL ? strerror(errno) : "");
	OPENSSL_free(der);
	X509_free(cert);
	if (fp != NULL)
		fclose(fp);
	ERR_clear_error();
	return x5t;
}

/* The "risk" claim from the options given, or NULL when none was. */
static json_t *
build_risk(const struct args *a)
{
	json_t *risk = json_object(), *sub;
	int any = 0;

	if (risk == NULL)
		return NULL;
	if (a->risk_score >= 0) {
		json_object_set_new(risk, "score", json_integer(a->risk_score));
		any = 1;
	}
	if (a->risk_level != NULL) {
		json_object_set_new(risk, "level", json_string(a->risk_level));
		any = 1;
	}
	for (int f = 0; f < NFACTS; f++) {
		if (a->facts[f] == 0)
			continue;
		if ((sub = json_object_get(risk, fact_names[f][0])) == NULL) {
			sub = json_object();
			json_object_set_new(risk, fact_names[f][0], sub);
		}
		json_object_set_new(sub, fact_names[f][1], json_boolean(a->facts[f] == 2));
		any = 1;
	}
	if (a->country != NULL) {
		if ((sub = json_object_get(risk, "network")) == NULL) {
			sub = json_object();
			json_object_set_new(risk, "network", sub);
		}
		json_object_set_new(sub, "country", json_string(a->country));
		any = 1;
	}
	if (!any) {
		json_decref(risk);
		return NULL;
	}
	return risk;
}

static int
parse_fact(const char *value, const char *option, int *out)
{
	if (strcmp(value, "yes") == 0)
		*out = 2;
	else if (strcmp(value, "no") == 0)
		*out = 1;
	else
		return usage_error("--%s must be yes or no", option);
	return -1;
}

static int
random_jti(char out[33])
{
	unsigned char r[16];
	int i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"iss", required_argument, NULL, 'i'},
		{"sub", required_argument, NULL, 's'},
		{"ial", required_argument, NULL, 'l'},
		{"amr", required_argument, NULL, 'm'},
		{"approver", required_argument, NULL, 'a'},
		{"reason", required_argument, NULL, 'r'},
		{"ttl", required_argument, NULL, 't'},
		{"jti", required_argument, NULL, 'j'},
		{"iat", required_argument, NULL, 'I'},
		{"nbf", required_argument, NULL, 'n'},
		{"risk-score", required_argument, NULL, 'S'},
		{"risk-level", required_argument, NULL, 'L'},
		{"device-managed", required_argument, NULL, '0' + F_DEVICE_MANAGED},
		{"device-known", required_argument, NULL, '0' + F_DEVICE_KNOWN},
		{"network-known", required_argument, NULL, '0' + F_NETWORK_KNOWN},
		{"anonymizer", required_argument, NULL, '0' + F_ANONYMIZER},
		{"country", required_argument, NULL, 'C'},
		{"cnf-cert", required_argument, NULL, 'X'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc, idx;

	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		switch (c) {
		case '0' + F_DEVICE_MANAGED:
		case '0' + F_DEVICE_KNOWN:
		case '0' + F_NETWORK_KNOWN:
		case '0' + F_ANONYMIZER:
			if ((rc = parse_fact(optarg, opts[idx].name, &a->facts[c - '0'])) >= 0)
				return rc;
			break;
		case 'S':
			if (parse_number(optarg, 0, 100, &a->risk_score) != 0)
				return usage_error("--risk-score must be an integer from 0 to 100");
			break;
		case 'L':
			if (strcmp(optarg, "low") != 0 && strcmp(optarg, "medium") != 0 &&
				strcmp(optarg, "high") != 0)
				return usage_error("--risk-level must be low, medium or high");
			a->risk_level = optarg;
			break;
		case 'C':
			if (strlen(optarg) != 2 || optarg[0] < 'A' || optarg[0] > 'Z' ||
				optarg[1] < 'A' || optarg[1] > 'Z')
				return usage_error(
					"--country must be an ISO 3166-1 alpha-2 code in upper "
					"case, e.g. FR");
			a->country = optarg;
			break;
		case 'X':
			a->cnf_cert = optarg;
			break;
		case 'k':
			a->key = optarg;
			break;
		case 'i':
			a->iss = optarg;
			break;
		case 's':
			a->sub = optarg;
			break;
		case 'm':
			a->amr = optarg;
			break;
		case 'a':
			a->approver = optarg;
			break;
		case 'r':
			a->reason = optarg;
			break;
		case 'j':
			a->jti = optarg;
			break;
		case 'l':
			if (parse_number(optarg, 1, 3, &a->ial) != 0)
				return usage_error("--ial must be an integer from 1 to 3");
			break;
		case 't':
			if (parse_number(optarg, 1, LLONG_MAX, &a->ttl) != 0)
				return usage_error("--ttl must be a positive number of seconds");
			break;
		case 'I':
			if (parse_number(optarg, 1, LLONG_MAX, &a->iat) != 0)
				return usage_error("--iat must be a positive epoch time");
			break;
		case 'n':
			if (parse_number(optarg, 1, LLONG_MAX, &a->nbf) != 0)
				return usage_error("--nbf must be a positive epoch time");
			break;
		case 'h':
			printf("%s\n%s", USAGE, help);
			return 0;
		default: /* getopt_long has said what is wrong */
			return usage_error(NULL);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument: %s", argv[optind]);
	if (a->key == NULL || a->iss == NULL || a->sub == NULL || a->ial == 0 || a->amr == NULL)
		return usage_error("--key, --iss, --sub, --ial and --amr are required");
	if (check_string(a->iss, MAX_STR) != 0)
		return usage_error("--iss must be non-empty UTF-8 of at most 1024 bytes");
	if (check_string(a->sub, MAX_STR) != 0)
		return usage_error("--sub must be non-empty UTF-8 of at most 1024 bytes");
	if (a->approver != NULL && check_string(a->approver, MAX_STR) != 0)
		return usage_error("--approver must be non-empty UTF-8 of at most 1024 bytes");
	if (a->reason != NULL && check_string(a->reason, MAX_STR) != 0)
		return usage_error("--reason must be non-empty UTF-8 of at most 1024 bytes");
	if (a->jti != NULL && check_string(a->jti, MAX_JTI) != 0)
		return usage_error("--jti must be non-empty UTF-8 of at most 256 bytes");
	if (a->iat == 0)
		a->iat = (long long)time(NULL);
	if (a->iat > LLONG_MAX - a->ttl)
		return usage_error("--iat plus --ttl is out of range");
	return -1;
}

int
main(int argc, char **argv)
{
	struct args a = {.ttl = 300, .risk_score = -1};
	char jti[33], err[256], *x5t = NULL;
	json_t *payload = NULL, *amr = NULL, *risk = NULL;
	EVP_PKEY *key = NULL;
	char *json = NULL, *token = NULL;
	int rc = 1;

	/* parse_args returns an exit status when it is done, -1 to go on. */
	if ((rc = parse_args(argc, argv, &a)) >= 0)
		goto out;
	rc = 1;
	if (build_amr(a.amr, &amr) != 0) {
		rc = usage_error("--amr must be a comma-separated list of at most 16 non-empty "
				 "method names of at most 64 bytes");
		goto out;
	}
	if (a.jti == NULL) {
		if (random_jti(jti) != 0) {
			fprintf(stderr, PROG ": cannot generate a random jti\n");
			goto out;
		}
		a.jti = jti;
	}
	if (a.cnf_cert != NULL && (x5t = cert_x5t(a.cnf_cert)) == NULL)
		goto out;
	risk = build_risk(&a);
	key = load_key(a.key);
	if (key == NULL)
		goto out;

	payload = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:O}", "iss", a.iss, "sub", a.sub,
		"jti", a.jti, "iat", (json_int_t)a.iat, "exp", (json_int_t)(a.iat + a.ttl), "ial",
		(int)a.ial, "amr", amr);
	if (payload == NULL ||
		(a.nbf != 0 && json_object_set_new(payload, "nbf", json_integer(a.nbf)) != 0) ||
		(a.approver != NULL &&
			json_object_set_new(payload, "approver", json_string(a.approver)) != 0) ||
		(a.reason != NULL &&
			json_object_set_new(payload, "reason", json_string(a.reason)) != 0) ||
		(risk != NULL && json_object_set(payload, "risk", risk) != 0) ||
		(x5t != NULL && json_object_set_new(payload, "cnf",
			json_pack("{s:s}", "x5t#S256", x5t)) != 0) ||
		(json = json_dumps(payload, JSON_COMPACT)) == NULL) {
		fprintf(stderr, PROG ": cannot build the token payload (out of memory?)\n");
		goto out;
	}
	if (rg_jws_sign(key, json, &token, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		goto out;
	}
	if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, PROG ": cannot write the token: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	/* EVP_PKEY_free clears the private key material before releasing it. */
	EVP_PKEY_free(key);
	json_decref(payload);
	json_decref(amr);
	json_decref(risk);
	free(x5t);
	free(json);
	free(token);
	return rc;
}
