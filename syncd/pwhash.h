/* Pre-hashed userPassword values for a legacy store that cannot take the Password Modify
 * operation. */
#ifndef RG_PWHASH_H
#define RG_PWHASH_H

#include <stddef.h>

enum pwhash_scheme { PWHASH_SSHA, PWHASH_SSHA512, PWHASH_CRYPT_SHA512 };

/* "{SSHA}...", "{SSHA512}..." or "{CRYPT}$6$...": malloc'd, the caller releases it with
 * pwhash_free, which cleanses it. NULL on error (err says why; never the password). */
char *pwhash_make(enum pwhash_scheme s, const unsigned char *pw, size_t len, char *err,
	size_t errlen);
void pwhash_free(char *h);

#endif
