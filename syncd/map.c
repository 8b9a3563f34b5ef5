/* The account mapping: escaping, substitution, and its configuration keys. */
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "confkv.h"
#include "map.h"

char *
map_escape_dn_value(const char *v)
{
	size_t n = strlen(v), i, o = 0;
	char *r = malloc(2 * n + 1);

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		char ch = v[i];
		/* RFC 4514 specials anywhere; space and '#' lead, space trails */
		if (strchr(",+\"\\<>;=", ch) || (i == 0 && (ch == ' ' || ch == '#')) ||
			(i == n - 1 && ch == ' '))
			r[o++] = '\\';
		r[o++] = ch;
	}
	r[o] = '\0';
	return r;
}

char *
map_escape_filter_value(const char *v)
{
	struct berval in = {strlen(v), (char *)v}, out = {0, NULL};
	char *r = NULL;

	if (ldap_bv2escaped_filter_value(&in, &out) == 0)
		r = strdup(out.bv_val);
	ber_memfree(out.bv_val);
	return r;
}

/* The placeholders in s are all known; *vars says whether %r or %d appears. */
static int
placeholders_ok(const char *s, int *vars)
{
	*vars = 0;
	for (; *s; s++) {
		if (*s != '%')
			continue;
		s++;
		if (*s == 'r' || *s == 'd')
			*vars = 1;
		else if (*s != '%')
			return 0;
	}
	return 1;
}

/* tmpl with %r, %d and %% replaced. */
static char *
subst(const char *tmpl, const char *r, const char *d)
{
	size_t n = 1, o = 0;
	const char *s;
	char *out;

	for (s = tmpl; *s; s++)
		n += *s == '%' && s[1] == 'r'      ? strlen(r)
			: *s == '%' && s[1] == 'd' ? strlen(d)
						   : 1;
	if (!(out = malloc(n)))
		return NULL;
	for (s = tmpl; *s; s++) {
		const char *ins = NULL;
		if (*s == '%' && (s[1] == 'r' || s[1] == 'd' || s[1] == '%')) {
			ins = s[1] == 'r' ? r : s[1] == 'd' ? d : "%";
			s++;
		}
		if (ins) {
			memcpy(out + o, ins, strlen(ins));
			o += strlen(ins);
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

static int
dn_valid(const char *s)
{
	LDAPDN dn = NULL;
	int ok = *s && ldap_str2dn(s, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS;

	ldap_dnfree(dn);
	return ok;
}

char *
map_template_dn(const char *tmpl, const char *account, const char *rdn_value)
{
	char *r = map_escape_dn_value(rdn_value), *out = NULL;

	if (!r)
		goto out;
	out = subst(tmpl, r, account);
	if (out && !dn_valid(out)) {
		free(out);
		out = NULL;
	}
out:
	free(r);
	return out;
}

char *
map_search_filter(const char *filter, const char *account, const char *rdn_value)
{
	char *r = map_escape_filter_value(rdn_value), *d = map_escape_filter_value(account);
	char *out = NULL;

	if (r && d)
		out = subst(filter, r, d);
	free(r);
	free(d);
	return out;
}

static int
filter_shape_ok(const char *f)
{
	int depth = 0;
	size_t n = strlen(f);

	if (n < 3 || f[0] != '(' || f[n - 1] != ')')
		return 0;
	for (; *f; f++) {
		depth += *f == '(' ? 1 : *f == ')' ? -1 : 0;
		if (depth < 0)
			return 0;
	}
	return depth == 0;
}

int
map_conf_key(struct map *m, const struct conf_kv *kv, char *err, size_t errlen)
{
	int vars;
	char *probe, **slot;

	if (strcmp(kv->key, "map-template") == 0) {
		if (confkv_once(kv, &m->tmpl_line, err, errlen))
			return -1;
		if (!placeholders_ok(kv->value, &vars) || !vars)
			return confkv_err(err, errlen, kv->file, kv->line,
				"map-template needs %%r (first RDN value) or %%d (account DN), and "
				"no "
				"other %% sequence but %%%%");
		probe = map_template_dn(kv->value, "cn=probe", "probe");
		free(probe);
		if (!probe)
			return confkv_err(err, errlen, kv->file, kv->line,
				"map-template \"%s\" does not give a valid DN", kv->value);
		slot = &m->tmpl;
	} else if (strcmp(kv->key, "map-search-base") == 0) {
		if (confkv_once(kv, &m->base_line, err, errlen))
			return -1;
		if (!dn_valid(kv->value))
			return confkv_err(err, errlen, kv->file, kv->line,
				"map-search-base \"%s\" is not a DN", kv->value);
		slot = &m->search_base;
	} else if (strcmp(kv->key, "map-search-filter") == 0) {
		if (confkv_once(kv, &m->filter_line, err, errlen))
			return -1;
		if (!placeholders_ok(kv->value, &vars) || !vars || !filter_shape_ok(kv->value))
			return confkv_err(err, errlen, kv->file, kv->line,
				"map-search-filter must be a parenthesized LDAP filter using %%r "
				"or %%d, "
				"e.g. (sAMAccountName=%%r)");
		slot = &m->search_filter;
	} else {
		return 0;
	}
	if (!(*slot = strdup(kv->value)))
		return confkv_err(err, errlen, kv->file, kv->line, "out of memory");
	return 1;
}

int
map_conf_check(const struct map *m, const char *file, int line, char *err, size_t errlen)
{
	if (m->tmpl_line && (m->base_line || m->filter_line))
		return confkv_err(err, errlen, file, m->tmpl_line,
			"give map-template or map-search-base with map-search-filter, not both");
	if (m->tmpl_line)
		return 0;
	if (m->base_line && m->filter_line)
		return 0;
	if (m->base_line || m->filter_line)
		return confkv_err(err, errlen, file, m->base_line ? m->base_line : m->filter_line,
			"map-search-base and map-search-filter go together: give both");
	return confkv_err(err, errlen, file, line,
		"no account mapping: give map-template (e.g. uid=%%r,ou=users,dc=example) or "
		"map-search-base with map-search-filter");
}

void
map_free(struct map *m)
{
	free(m->tmpl);
	free(m->search_base);
	free(m->search_filter);
	m->tmpl = m->search_base = m->search_filter = NULL;
}

int
map_uses_rdn(const struct map *m)
{
	const char *s = m->tmpl != NULL ? m->tmpl : m->search_filter;

	for (; s != NULL && *s; s++) {
		if (*s != '%')
			continue;
		if (*++s == 'r')
			return 1;
		if (*s == '\0')
			break;
	}
	return 0;
}
