/* Account mapping and the directory connection shared by the ldap and ad targets. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <arpa/inet.h>
#include <strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mapping.h"

/* ---- config helpers ---- */

int target_conf_error(char *err, size_t errlen, const char *file, int line, const char *fmt,
	...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s:%d: ", file ? file : "?", line);

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int target_conf_yesno(const struct conf_kv *kv, int *v, char *err, size_t errlen)
{
	if (strcmp(kv->value, "yes") == 0)
		*v = 1;
	else if (strcmp(kv->value, "no") == 0)
		*v = 0;
	else
		return target_conf_error(err, errlen, kv->file, kv->line,
			"%s takes yes or no, not \"%s\"", kv->key, kv->value);
	return 0;
}

int target_conf_seconds(const struct conf_kv *kv, int *v, char *err, size_t errlen)
{
	char *end;
	long n = strtol(kv->value, &end, 10);

	if (kv->value[0] < '0' || kv->value[0] > '9' || *end || n < 1 || n > 3600)
		return target_conf_error(err, errlen, kv->file, kv->line,
			"%s takes a whole number of seconds from 1 to 3600, not \"%s\"", kv->key,
			kv->value);
	*v = (int)n;
	return 0;
}

int target_conf_once(const struct conf_kv *kv, int *seen, char *err, size_t errlen)
{
	if (*seen)
		return target_conf_error(err, errlen, kv->file, kv->line,
			"%s given twice (first at line %d): keep one", kv->key, *seen);
	*seen = kv->line;
	return 0;
}

/* ---- directory connection config ---- */

void dirconn_init(struct dirconn *c, const char *kind)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->tls_verify = 1;
	c->timeout = 10;
	pthread_mutex_init(&c->lock, NULL);
}

static int parse_uri(struct dirconn *c, const struct conf_kv *kv, char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	struct in_addr a4;
	const char *host;
	int ret = -1;

	/* libldap takes a list of URIs; one target is one store, so one URI */
	if (strpbrk(kv->value, " \t,") || ldap_url_parse(kv->value, &lud) != LDAP_URL_SUCCESS) {
		target_conf_error(err, errlen, kv->file, kv->line, "uri \"%s\" is not one LDAP URI: "
			"use ldap://HOST[:PORT], ldaps://HOST[:PORT] or ldapi://PATH", kv->value);
		goto out;
	}
	if (strcasecmp(lud->lud_scheme, "ldap") == 0)
		c->scheme = DC_LDAP;
	else if (strcasecmp(lud->lud_scheme, "ldaps") == 0)
		c->scheme = DC_LDAPS;
	else if (strcasecmp(lud->lud_scheme, "ldapi") == 0)
		c->scheme = DC_LDAPI;
	else {
		target_conf_error(err, errlen, kv->file, kv->line,
			"uri scheme %s:// is not supported: use ldap://, ldaps:// or ldapi://",
			lud->lud_scheme);
		goto out;
	}
	if ((lud->lud_dn && *lud->lud_dn) || lud->lud_attrs || lud->lud_filter || lud->lud_exts) {
		target_conf_error(err, errlen, kv->file, kv->line,
			"uri takes only a scheme, a host and a port: drop the DN, attributes or filter");
		goto out;
	}
	host = lud->lud_host;
	c->loopback = c->scheme == DC_LDAPI || !host || !*host ||
		strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
		(inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
	if (!(c->uri = strdup(kv->value))) {
		target_conf_error(err, errlen, kv->file, kv->line, "out of memory");
		goto out;
	}
	ret = 0;
out:
	ldap_free_urldesc(lud);
	return ret;
}

static int dup_value(const struct conf_kv *kv, char **slot, char *err, size_t errlen)
{
	if (!(*slot = strdup(kv->value)))
		return target_conf_error(err, errlen, kv->file, kv->line, "out of memory");
	return 0;
}

int dirconn_conf_key(struct dirconn *c, const struct conf_kv *kv, char *err, size_t errlen)
{
	const char *k = kv->key;
	char e2[SYNCD_ERR];
	LDAPDN dn = NULL;
	int rc = map_conf_key(&c->map, kv, err, errlen);

	if (rc)
		return rc;
	rc = -1;
	if (strcmp(k, "uri") == 0) {
		if (target_conf_once(kv, &c->uri_line, err, errlen) || parse_uri(c, kv, err, errlen))
			goto out;
	} else if (strcmp(k, "bind-dn") == 0) {
		if (target_conf_once(kv, &c->bind_dn_line, err, errlen))
			goto out;
		if (!*kv->value || ldap_str2dn(kv->value, &dn, LDAP_DN_FORMAT_LDAPV3) != 0) {
			target_conf_error(err, errlen, kv->file, kv->line,
				"bind-dn \"%s\" is not a DN", kv->value);
			goto out;
		}
		if (dup_value(kv, &c->bind_dn, err, errlen))
			goto out;
	} else if (strcmp(k, "bind-password-file") == 0) {
		if (target_conf_once(kv, &c->pwfile_line, err, errlen))
			goto out;
		if (read_secret_file(kv->value, &c->bind_pw, e2, sizeof e2) != 0) {
			c->bind_pw = NULL;
			target_conf_error(err, errlen, kv->file, kv->line, "bind-password-file: %s", e2);
			goto out;
		}
		/* an empty password would make the simple bind an anonymous one */
		if (!c->bind_pw || !*c->bind_pw) {
			target_conf_error(err, errlen, kv->file, kv->line,
				"bind-password-file %s holds no password", kv->value);
			goto out;
		}
	} else if (strcmp(k, "sasl-external") == 0) {
		if (target_conf_once(kv, &c->sasl_line, err, errlen) ||
			target_conf_yesno(kv, &c->sasl_external, err, errlen))
			goto out;
	} else if (strcmp(k, "starttls") == 0) {
		if (target_conf_once(kv, &c->starttls_line, err, errlen) ||
			target_conf_yesno(kv, &c->starttls, err, errlen))
			goto out;
	} else if (strcmp(k, "tls-ca-file") == 0) {
		if (target_conf_once(kv, &c->ca_line, err, errlen))
			goto out;
		if (kv->value[0] != '/' || access(kv->value, R_OK) != 0) {
			target_conf_error(err, errlen, kv->file, kv->line,
				"tls-ca-file %s: give the absolute path of a readable PEM file", kv->value);
			goto out;
		}
		if (dup_value(kv, &c->tls_ca_file, err, errlen))
			goto out;
	} else if (strcmp(k, "tls-verify") == 0) {
		if (target_conf_once(kv, &c->verify_line, err, errlen) ||
			target_conf_yesno(kv, &c->tls_verify, err, errlen))
			goto out;
	} else if (strcmp(k, "timeout") == 0) {
		if (target_conf_once(kv, &c->timeout_line, err, errlen) ||
			target_conf_seconds(kv, &c->timeout, err, errlen))
			goto out;
	} else {
		rc = 0;
		goto out;
	}
	rc = 1;
out:
	ldap_dnfree(dn);
	return rc;
}

int dirconn_uses_tls(const struct dirconn *c)
{
	return c->scheme == DC_LDAPS || c->starttls;
}

int dirconn_conf_check(struct dirconn *c, const struct target *t, char *err, size_t errlen)
{
	const char *f = t->file;

	if (!c->uri_line)
		return target_conf_error(err, errlen, f, t->line, "%s target %s: uri is required "
			"(ldap://, ldaps:// or ldapi://)", c->kind, t->name ? t->name : "");
	if (c->sasl_external && c->bind_dn_line)
		return target_conf_error(err, errlen, f, c->sasl_line,
			"give sasl-external yes or bind-dn with bind-password-file, not both");
	if (c->sasl_external && c->scheme != DC_LDAPI)
		return target_conf_error(err, errlen, f, c->sasl_line,
			"sasl-external yes needs an ldapi:// uri (the peer credentials are the identity)");
	if (c->bind_dn_line && !c->pwfile_line)
		return target_conf_error(err, errlen, f, c->bind_dn_line,
			"bind-dn needs bind-password-file");
	if (c->pwfile_line && !c->bind_dn_line)
		return target_conf_error(err, errlen, f, c->pwfile_line,
			"bind-password-file needs bind-dn");
	if (!c->sasl_external && !c->bind_dn_line)
		return target_conf_error(err, errlen, f, t->line, "%s target %s: no identity: give "
			"bind-dn and bind-password-file, or sasl-external yes with an ldapi:// uri",
			c->kind, t->name ? t->name : "");
	if (c->starttls && c->scheme != DC_LDAP)
		return target_conf_error(err, errlen, f, c->starttls_line,
			"starttls yes goes with an ldap:// uri only (ldaps:// is already TLS)");
	if (c->ca_line && !dirconn_uses_tls(c))
		return target_conf_error(err, errlen, f, c->ca_line,
			"tls-ca-file is used only with an ldaps:// uri or starttls yes");
	if (!c->tls_verify && !c->loopback)
		return target_conf_error(err, errlen, f, c->verify_line, "tls-verify no is allowed "
			"only for ldapi:// or a loopback host: give tls-ca-file with the store's CA");
	return map_conf_check(&c->map, f, t->line, err, errlen);
}

/* ---- escaping and substitution ---- */

char *map_escape_dn_value(const char *v)
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

char *map_escape_filter_value(const char *v)
{
	struct berval in = { strlen(v), (char *)v }, out = { 0, NULL };
	char *r = NULL;

	if (ldap_bv2escaped_filter_value(&in, &out) == 0)
		r = strdup(out.bv_val);
	ber_memfree(out.bv_val);
	return r;
}

/* The placeholders in s are all known; *vars says whether %r or %d appears. */
static int placeholders_ok(const char *s, int *vars)
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
static char *subst(const char *tmpl, const char *r, const char *d)
{
	size_t n = 1, o = 0;
	const char *s;
	char *out;

	for (s = tmpl; *s; s++)
		n += *s == '%' && s[1] == 'r' ? strlen(r) : *s == '%' && s[1] == 'd' ? strlen(d) : 1;
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

static int dn_valid(const char *s)
{
	LDAPDN dn = NULL;
	int ok = *s && ldap_str2dn(s, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS;

	ldap_dnfree(dn);
	return ok;
}

char *map_template_dn(const char *tmpl, const char *account, const char *rdn_value)
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

char *map_search_filter(const char *filter, const char *account, const char *rdn_value)
{
	char *r = map_escape_filter_value(rdn_value), *d = map_escape_filter_value(account);
	char *out = NULL;

	if (r && d)
		out = subst(filter, r, d);
	free(r);
	free(d);
	return out;
}

/* ---- mapping config ---- */

static int filter_shape_ok(const char *f)
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

int map_conf_key(struct map *m, const struct conf_kv *kv, char *err, size_t errlen)
{
	int vars;
	char *probe, **slot;

	if (strcmp(kv->key, "map-template") == 0) {
		if (target_conf_once(kv, &m->tmpl_line, err, errlen))
			return -1;
		if (!placeholders_ok(kv->value, &vars) || !vars)
			return target_conf_error(err, errlen, kv->file, kv->line,
				"map-template needs %%r (first RDN value) or %%d (account DN), and no "
				"other %% sequence but %%%%");
		probe = map_template_dn(kv->value, "cn=probe", "probe");
		free(probe);
		if (!probe)
			return target_conf_error(err, errlen, kv->file, kv->line,
				"map-template \"%s\" does not give a valid DN", kv->value);
		slot = &m->tmpl;
	} else if (strcmp(kv->key, "map-search-base") == 0) {
		if (target_conf_once(kv, &m->base_line, err, errlen))
			return -1;
		if (!dn_valid(kv->value))
			return target_conf_error(err, errlen, kv->file, kv->line,
				"map-search-base \"%s\" is not a DN", kv->value);
		slot = &m->search_base;
	} else if (strcmp(kv->key, "map-search-filter") == 0) {
		if (target_conf_once(kv, &m->filter_line, err, errlen))
			return -1;
		if (!placeholders_ok(kv->value, &vars) || !vars || !filter_shape_ok(kv->value))
			return target_conf_error(err, errlen, kv->file, kv->line,
				"map-search-filter must be a parenthesized LDAP filter using %%r or %%d, "
				"e.g. (sAMAccountName=%%r)");
		slot = &m->search_filter;
	} else {
		return 0;
	}
	if (!(*slot = strdup(kv->value)))
		return target_conf_error(err, errlen, kv->file, kv->line, "out of memory");
	return 1;
}

int map_conf_check(const struct map *m, const char *file, int line, char *err, size_t errlen)
{
	if (m->tmpl_line && (m->base_line || m->filter_line))
		return target_conf_error(err, errlen, file, m->tmpl_line,
			"give map-template or map-search-base with map-search-filter, not both");
	if (m->tmpl_line)
		return 0;
	if (m->base_line && m->filter_line)
		return 0;
	if (m->base_line || m->filter_line)
		return target_conf_error(err, errlen, file, m->base_line ? m->base_line :
			m->filter_line, "map-search-base and map-search-filter go together: give both");
	return target_conf_error(err, errlen, file, line,
		"no account mapping: give map-template (e.g. uid=%%r,ou=users,dc=example) or "
		"map-search-base with map-search-filter");
}

void map_free(struct map *m)
{
	free(m->tmpl);
	free(m->search_base);
	free(m->search_filter);
	m->tmpl = m->search_base = m->search_filter = NULL;
}

/* ---- resolving an account ---- */

enum delivery_result map_resolve(const struct map *m, LDAP *ld, const struct delivery *d,
	char **dn, char *err, size_t errlen)
{
	char *filter = NULL, *attrs[] = { LDAP_NO_ATTRS, NULL }, *found;
	LDAPMessage *res = NULL;
	enum delivery_result r = DELIVERY_FAIL;
	int rc, n;

	*dn = NULL;
	if (m->tmpl) {
		if (!(*dn = map_template_dn(m->tmpl, d->account, d->rdn_value)))
			snprintf(err, errlen, "map-template gives no valid DN for %s", d->account);
		r = *dn ? DELIVERY_DONE : DELIVERY_FAIL;
		goto out;
	}
	if (!(filter = map_search_filter(m->search_filter, d->account, d->rdn_value))) {
		snprintf(err, errlen, "map-search-filter: out of memory");
		goto out;
	}
	/* a size limit of 2 is enough to tell one match from several */
	rc = ldap_search_ext_s(ld, m->search_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
		NULL, NULL, 2, &res);
	n = res ? ldap_count_entries(ld, res) : 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED || (rc == LDAP_SUCCESS && n > 1)) {
		snprintf(err, errlen, "ambiguous account mapping: more than one entry matches %s "
			"under %s", filter, m->search_base);
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		r = dirconn_error(ld, rc, "search", m->search_base, err, errlen);
		goto out;
	}
	if (n == 0) {
		snprintf(err, errlen, "no account matches %s under %s", filter, m->search_base);
		goto out;
	}
	if (!(found = ldap_get_dn(ld, ldap_first_entry(ld, res)))) {
		snprintf(err, errlen, "search under %s: the entry found has no DN", m->search_base);
		goto out;
	}
	*dn = strdup(found);
	ldap_memfree(found);
	r = *dn ? DELIVERY_DONE : DELIVERY_RETRY;
	if (!*dn)
		snprintf(err, errlen, "out of memory");
out:
	ldap_msgfree(res);
	free(filter);
	return r;
}

/* ---- scrubbing ---- */

void text_scrub(char *text, const unsigned char *pw, size_t pwlen)
{
	size_t n, at = 0, rep = pwlen < 3 ? pwlen : 3;
	char *p;

	if (!text || !pw || !pwlen)
		return;
	n = strlen(text);
	/* the search resumes after each mask, so a password made of '*' cannot loop; the
	 * mask is never longer than the password, so this edits in place */
	while (at < n && (p = memmem(text + at, n - at, pw, pwlen))) {
		memset(p, '*', rep);
		memmove(p + rep, p + pwlen, n - (size_t)(p - text) - pwlen + 1);
		n -= pwlen - rep;
		at = (size_t)(p - text) + rep;
	}
}
