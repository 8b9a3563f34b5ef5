/* Helpers for the kinds' configure() functions, shared by targets and hooks. */
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "syncd.h"

int
conf_set_once(char **slot, const struct conf_kv *kv, char *err, size_t errlen)
{
	if (*slot != NULL) {
		rg_seterr(err, errlen, "%s:%d: %s given twice", kv->file, kv->line, kv->key);
		return -1;
	}
	*slot = strdup(kv->value);
	if (*slot == NULL) {
		rg_seterr(err, errlen, "%s:%d: out of memory", kv->file, kv->line);
		return -1;
	}
	return 0;
}
