/* Helpers for the kinds' configure() functions, shared by targets and hooks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confkv.h"
#include "errbuf.h"

int
confkv_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
	char msg[SYNCD_ERR];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rg_seterr(err, errlen, "%s:%d: %s", file != NULL ? file : "?", line, msg);
	return -1;
}

int
confkv_set_once(char **slot, const struct conf_kv *kv, char *err, size_t errlen)
{
	if (*slot != NULL)
		return confkv_err(err, errlen, kv->file, kv->line, "%s given twice", kv->key);
	*slot = strdup(kv->value);
	if (*slot == NULL)
		return confkv_err(err, errlen, kv->file, kv->line, "out of memory");
	return 0;
}

int
confkv_once(const struct conf_kv *kv, int *seen, char *err, size_t errlen)
{
	if (*seen)
		return confkv_err(err, errlen, kv->file, kv->line,
			"%s given twice (first at line %d): keep one", kv->key, *seen);
	*seen = kv->line;
	return 0;
}

int
confkv_yesno(const struct conf_kv *kv, int *v, char *err, size_t errlen)
{
	if (strcmp(kv->value, "yes") == 0)
		*v = 1;
	else if (strcmp(kv->value, "no") == 0)
		*v = 0;
	else
		return confkv_err(err, errlen, kv->file, kv->line, "%s takes yes or no, not \"%s\"",
			kv->key, kv->value);
	return 0;
}

int
confkv_seconds(const struct conf_kv *kv, int *v, char *err, size_t errlen)
{
	char *end;
	long n = strtol(kv->value, &end, 10);

	if (kv->value[0] < '0' || kv->value[0] > '9' || *end != '\0' || n < 1 || n > 3600)
		return confkv_err(err, errlen, kv->file, kv->line,
			"%s takes a whole number of seconds from 1 to 3600, not \"%s\"", kv->key,
			kv->value);
	*v = (int)n;
	return 0;
}
