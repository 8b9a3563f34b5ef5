/* The account mapping of the ldap and ad targets: how the DN of an account in the main
 * directory becomes the DN of the same account in a legacy store — a DN template, or a
 * search under a base that must find exactly one entry. */
#ifndef RG_MAP_H
#define RG_MAP_H

#include "syncd.h"

struct map {
	char *tmpl;          /* map-template: %r, %d, %% */
	char *search_base;   /* map-search-base */
	char *search_filter; /* map-search-filter: %r, %d, %% */
	int tmpl_line, base_line, filter_line;
};

/* Returns 1 when kv is a map key (consumed), 0 when it is not, -1 on a bad value. */
int map_conf_key(struct map *m, const struct conf_kv *kv, char *err, size_t errlen);
/* Checks the keys given form one complete mapping; file:line is the block's. */
int map_conf_check(const struct map *m, const char *file, int line, char *err, size_t errlen);
void map_free(struct map *m);
/* The mapping names the account by the value of its first RDN (%r): the engine then makes
 * sure that value names one entry only in the main directory before anything is written. */
int map_uses_rdn(const struct map *m);

/* The DN the template gives for an account: %r the escaped first RDN value, %d the account
 * DN itself (already a DN: inserted as is). NULL when the result is not a valid DN. */
char *map_template_dn(const char *tmpl, const char *account, const char *rdn_value);
/* The filter with %r and %d replaced by filter-escaped values. NULL on error. */
char *map_search_filter(const char *filter, const char *account, const char *rdn_value);
/* RFC 4514 escaping of one attribute value (malloc'd; NULL when out of memory). */
char *map_escape_dn_value(const char *v);
/* RFC 4515 escaping of one assertion value (malloc'd; NULL when out of memory). */
char *map_escape_filter_value(const char *v);

#endif
