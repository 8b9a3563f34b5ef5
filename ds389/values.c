/* Reading values of entries the way their syntax compares them. */
#include "rg389.h"

#include <string.h>

int
rg389_has_value(const Slapi_Entry *e, const char *attr, const char *value)
{
	Slapi_Value *v = slapi_value_new_string(value);
	int found = slapi_entry_attr_has_syntax_value(e, attr, v);

	slapi_value_free(&v);
	return found;
}

/* dn normalized as 389-DS compares DNs (spaces, escapes and case), slapi_ch_strdup'd; NULL
 * when dn is not a DN at all (a uid, say). */
char *
rg389_ndn(const char *dn)
{
	char *src, *dest = NULL, *out = NULL;
	size_t len = 0;
	int rc;

	if (dn == NULL || strchr(dn, '=') == NULL)
		return NULL;
	src = slapi_ch_strdup(dn);
	rc = slapi_dn_normalize_case_ext(src, 0, &dest, &len);
	if (rc >= 0 && dest != NULL) {
		out = slapi_ch_malloc(len + 1);
		memcpy(out, dest, len);
		out[len] = '\0';
	}
	if (rc == 1)
		slapi_ch_free_string(&dest);
	slapi_ch_free_string(&src);
	return out;
}
