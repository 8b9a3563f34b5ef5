/* Error texts into caller-provided buffers, the convention of the core and of syncd: every
 * failing function says what was wrong (and what to do) in err. */
#ifndef RG_ERRBUF_H
#define RG_ERRBUF_H

#include <stddef.h>

/* Formats into err unless err is NULL or errlen is 0. */
void rg_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
