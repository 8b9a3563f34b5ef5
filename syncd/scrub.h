/* Error texts may carry a server's or a program's words, and those may quote the password
 * they were given: every such text is scrubbed before it is logged or written anywhere. */
#ifndef RG_SCRUB_H
#define RG_SCRUB_H

#include <stddef.h>

/* Replaces each occurrence of the password in text (NUL-terminated, edited in place) by
 * at most three '*': the text never grows. */
void scrub_password(char *text, const unsigned char *pw, size_t pwlen);

#endif
