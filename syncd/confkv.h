/* Helpers for the kinds' configure() functions, shared by targets and hooks: one wording
 * for the same mistake whichever block it is made in. */
#ifndef RG_CONFKV_H
#define RG_CONFKV_H

#include <stddef.h>

#include "syncd.h"

/* rg_seterr with a "FILE:LINE: " prefix; returns -1 so a caller can return it. */
int confkv_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Keeps a copy of kv's value in *slot, refusing a second one. */
int confkv_set_once(char **slot, const struct conf_kv *kv, char *err, size_t errlen);
/* Refuses a key already given (*seen holds the line it was first given on); records it. */
int confkv_once(const struct conf_kv *kv, int *seen, char *err, size_t errlen);
/* yes/no into *v. */
int confkv_yesno(const struct conf_kv *kv, int *v, char *err, size_t errlen);
/* A whole number of seconds, 1..3600, into *v. */
int confkv_seconds(const struct conf_kv *kv, int *v, char *err, size_t errlen);

#endif
