/* base64url without padding (RFC 7515 section 2). */
#ifndef RG_B64URL_H
#define RG_B64URL_H

#include <stddef.h>

/* Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *rg_b64url_encode(const unsigned char *in, size_t len);
/* Rejects padding, whitespace and characters outside the url-safe alphabet, and
 * non-canonical trailing bits. *out is malloc'd (with a NUL after *outlen bytes). */
int rg_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif
