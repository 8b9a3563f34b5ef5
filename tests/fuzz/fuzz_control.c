/* libFuzzer harness: the proofing control's value as slapd hands it to the overlay
 * (slapd/control.c, rg_proofing_parse).
 *
 * There is no BER to decode: the control's value is the token itself, checked for shape
 * only (not empty, at most RG_JWS_MAX_LEN bytes, rg_jws_is_compact) and copied with a NUL
 * after it; the overlay later verifies that copy (slapd/judge.c). The harness repeats those
 * steps on the raw input and checks that the cheap protocol-level check never refuses a
 * value the full parser would accept, and never lets through one that is not a compact
 * JWS: the parse that follows relies on the copy's shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "fuzz.h"
#include "jws.h"

static struct rg_issuers issuers;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256], *path;
	EVP_PKEY *k = fuzz_keygen("EC");

	path = fuzz_write_key("issuer.pub.pem", k, 0);
	if (rg_issuers_add(&issuers, "https://idp.example.test", path, err, sizeof(err)) != 0)
		fuzz_setup_fail("rg_issuers_add: %s", err);
	free(path);
	EVP_PKEY_free(k);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_evidence ev;
	struct rg_jws t;
	char *val, *copy, err[256];
	int compact, dots = 0, b64 = 1;
	enum rg_jws_status js;

	if (size > 2 * RG_JWS_MAX_LEN)
		return -1;
	/* The control value as slapd holds it: exactly size bytes, no terminator. */
	val = malloc(size ? size : 1);
	if (val == NULL)
		return 0;
	memcpy(val, data, size);
	compact = rg_jws_is_compact(val, size);
	for (size_t i = 0; i < size; i++) {
		unsigned char ch = (unsigned char)val[i];

		if (ch == '.')
			dots++;
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				 (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			b64 = 0;
	}
	FUZZ_CHECK(compact == (size > 0 && size <= RG_JWS_MAX_LEN && b64 && dots == 2),
		"rg_jws_is_compact says %d for %zu bytes with %d dots, base64url %d", compact, size,
		dots, b64);
	js = rg_jws_parse(val, size, &t, err, sizeof(err));
	if (js == RG_JWS_OK || js == RG_JWS_UNSUPPORTED_ALG)
		FUZZ_CHECK(compact,
			"the parser got past the header of a value the control refuses");
	if (js == RG_JWS_OK)
		rg_jws_free(&t);
	if (compact) {
		/* what rg_proofing_parse keeps, and what judge.c then verifies */
		copy = malloc(size + 1);
		if (copy != NULL) {
			memcpy(copy, val, size);
			copy[size] = '\0';
			FUZZ_CHECK(strlen(copy) == size, "a compact value holds a NUL byte");
			if (rg_evidence_verify(&issuers, copy, size, &ev, err, sizeof(err)) ==
				RG_EV_OK)
				fuzz_fail("a control value verified under a key made for this run");
			fuzz_check_err("rg_evidence_verify", err, sizeof(err));
			free(copy);
		}
	}
	free(val);
	return 0;
}
