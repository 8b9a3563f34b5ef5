/* The ad target's encoding of a password, apart for the unit tests. */
#ifndef RG_TARGETS_AD_H
#define RG_TARGETS_AD_H

#include <stddef.h>

/* "\"" pw "\"" as UTF-16LE: 0, or -1 when pw is not valid UTF-8. *out is malloc'd; the
 * caller cleanses and frees it. */
int ad_encode_password(const unsigned char *pw, size_t len, unsigned char **out, size_t *outlen);

#endif
