/* Masking a password inside an error text. */
#include <string.h>

#include "scrub.h"

void
scrub_password(char *text, const unsigned char *pw, size_t pwlen)
{
	size_t n, at = 0, rep = pwlen < 3 ? pwlen : 3;
	char *p;

	if (text == NULL || pw == NULL || pwlen == 0)
		return;
	n = strlen(text);
	/* the search resumes after each mask, so a password made of '*' cannot loop */
	while (at < n && (p = memmem(text + at, n - at, pw, pwlen)) != NULL) {
		memset(p, '*', rep);
		memmove(p + rep, p + pwlen, n - (size_t)(p - text) - pwlen + 1);
		n -= pwlen - rep;
		at = (size_t)(p - text) + rep;
	}
}
