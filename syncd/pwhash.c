/* Pre-hashed userPassword values in the schemes a legacy store verifies itself: {SSHA},
 * {SSHA512} and {CRYPT} with SHA-512 crypt. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "pwhash.h"

void
pwhash_free(char *h)
{
	if (h)
		OPENSSL_cleanse(h, strlen(h));
	free(h);
}

/* "{CRYPT}" + crypt_r(pw, "$6$<16 salt chars>$"): the store verifies it with crypt(3). */
static char *
hash_crypt(const unsigned char *pw, size_t len, char *err, size_t errlen)
{
	static const char abc[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[16];
	char setting[24] = "$6$", *pwz = NULL, *out = NULL;
	struct crypt_data *cd = NULL;
	const char *h;
	size_t i;

	if (memchr(pw, '\0', len)) {
		rg_seterr(err, errlen, "crypt-sha512 cannot hash a password holding a NUL byte");
		goto out;
	}
	if (!(cd = calloc(1, sizeof(*cd))) || !(pwz = malloc(len + 1))) {
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		rg_seterr(err, errlen, "no random bytes for the salt");
		goto out;
	}
	/* 64 symbols: a byte masked to 6 bits picks one without bias */
	for (i = 0; i < sizeof(rnd); i++)
		setting[3 + i] = abc[rnd[i] & 63];
	setting[19] = '$';
	setting[20] = '\0';
	memcpy(pwz, pw, len);
	pwz[len] = '\0';
	h = crypt_r(pwz, setting, cd);
	if (!h || h[0] != '$' || !(out = malloc(strlen(h) + 8))) {
		rg_seterr(err, errlen, "crypt_r with SHA-512 failed");
		goto out;
	}
	snprintf(out, strlen(h) + 8, "{CRYPT}%s", h);
out:
	if (pwz)
		OPENSSL_cleanse(pwz, len + 1);
	free(pwz);
	if (cd)
		OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return out;
}

char *
pwhash_make(enum pwhash_scheme s, const unsigned char *pw, size_t len, char *err, size_t errlen)
{
	unsigned char buf[EVP_MAX_MD_SIZE + 8];
	unsigned int mdlen = 0;
	const char *prefix = s == PWHASH_SSHA ? "{SSHA}" : "{SSHA512}";
	EVP_MD_CTX *ctx = NULL;
	char *out = NULL;
	size_t plen = strlen(prefix);

	if (s == PWHASH_CRYPT_SHA512)
		return hash_crypt(pw, len, err, errlen);
	/* digest(pw || salt) || salt, the layout slapd's {SSHA} and pw-sha2's {SSHA512} check */
	if (!(ctx = EVP_MD_CTX_new()) ||
		!EVP_DigestInit_ex(ctx, s == PWHASH_SSHA ? EVP_sha1() : EVP_sha512(), NULL) ||
		!EVP_DigestUpdate(ctx, pw, len) || RAND_bytes(buf + EVP_MAX_MD_SIZE, 8) != 1 ||
		!EVP_DigestUpdate(ctx, buf + EVP_MAX_MD_SIZE, 8) ||
		!EVP_DigestFinal_ex(ctx, buf, &mdlen)) {
		rg_seterr(err, errlen, "%s hashing failed", prefix);
		goto out;
	}
	memmove(buf + mdlen, buf + EVP_MAX_MD_SIZE, 8);
	if (!(out = malloc(plen + 4 * ((mdlen + 8 + 2) / 3) + 1))) {
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	memcpy(out, prefix, plen);
	EVP_EncodeBlock((unsigned char *)out + plen, buf, (int)mdlen + 8);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_MD_CTX_free(ctx);
	return out;
}
