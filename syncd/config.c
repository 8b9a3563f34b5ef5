/* resetguard-syncd.conf: a strict line parser. A typo must stop the daemon (or a reload)
 * with the file and line, never be ignored: a silently dropped key would mean passwords
 * going to the wrong place, or not at all. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <ldap.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "confkv.h"
#include "errbuf.h"
#include "instance.h"
#include "registry.h"

#define MAX_LINE 8192
#define MAX_NAME 64

enum vtype { V_URI, V_DN, V_PATH, V_BOOL, V_INT, V_LISTEN, V_LOG, V_USER, V_NAMES, V_INSTANCE };

struct key_def {
	const char *name;
	enum vtype type;
	size_t off;
	int min, max;
};

#define F(field) offsetof(struct syncd_config, field)
static const struct key_def keys[] = {
	{"log-uri", V_URI, F(log_uri), 0, 0},
	{"log-base", V_DN, F(log_base), 0, 0},
	{"bind-dn", V_DN, F(bind_dn), 0, 0},
	{"bind-password-file", V_PATH, F(bind_password_file), 0, 0},
	{"sasl-external", V_BOOL, F(sasl_external), 0, 0},
	{"starttls", V_BOOL, F(starttls), 0, 0},
	{"tls-ca-file", V_PATH, F(tls_ca_file), 0, 0},
	{"key-file", V_PATH, F(key_file), 0, 0},
	{"cert-file", V_PATH, F(cert_file), 0, 0},
	/* obsolete: accepted so existing files load, unused (main.c says so at start) */
	{"state-file", V_PATH, F(state_file), 0, 0},
	{"metrics-listen", V_LISTEN, F(metrics_listen), 0, 0},
	{"log", V_LOG, F(log_mode), 0, 0},
	{"user", V_USER, F(user), 0, 0},
	{"max-attempts", V_INT, F(max_attempts), 1, 1000},
	{"retry-base", V_INT, F(retry_base), 1, 3600},
	/* the lower bound that matters is retry-base, checked once the whole file is read */
	{"retry-max", V_INT, F(retry_max), 1, 86400},
	{"op-timeout", V_INT, F(op_timeout), 1, 300},
	/* hook names, checked against the hooks once the whole file is read */
	{"alert-hooks", V_NAMES, F(alert_hooks_names), 0, 0},
	{"instance", V_INSTANCE, F(instance), 0, 0},
	/* renewed every third of it: under 3 s a renewal could not keep up */
	{"claim-lease", V_INT, F(claim_lease), 3, 3600},
	{"single-instance", V_BOOL, F(single_instance), 0, 0},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

enum block { B_NONE, B_TARGET, B_HOOK };

struct parser {
	struct syncd_config *cfg;
	const char *file;
	int line;
	char *err;
	size_t errlen;
	int seen[NKEYS];  /* line where each global key was set, 0 if not */
	enum block block; /* the open block, if any */
	char *bname;
	int bline;
	char *btype;
	int btype_line;
	struct conf_kv *kv;
	size_t nkv;
};

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
key_index(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
seen(const struct parser *p, const char *name)
{
	return p->seen[key_index(name)];
}

static const char *
block_word(enum block b)
{
	return b == B_TARGET ? "target" : "hook";
}

static void
block_reset(struct parser *p)
{
	for (size_t i = 0; i < p->nkv; i++) {
		free(p->kv[i].key);
		free(p->kv[i].value);
	}
	free(p->kv);
	free(p->bname);
	free(p->btype);
	p->kv = NULL;
	p->nkv = 0;
	p->bname = p->btype = NULL;
	p->block = B_NONE;
}

/* In place: "a \"b\" \\ c" -> a "b" \ c. Only these two escapes, so a Windows-style path
 * or a regex in a value is never silently changed. */
static int
unquote(struct parser *p, char *v)
{
	char *r = v + 1, *w = v;

	if (v[0] != '"')
		return 0;
	while (*r != '\0' && *r != '"') {
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return confkv_err(p->err, p->errlen, p->file, p->line,
					"bad escape \"\\%.1s\" in quoted value: only "
					"\\\" and \\\\ are allowed",
					r + 1);
			r++;
		}
		*w++ = *r++;
	}
	if (*r != '"')
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"quoted value has no closing quote");
	if (r[1] != '\0')
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"text after the closing quote: \"%s\" (comments go on "
			"their own line)",
			r + 1);
	*w = '\0';
	return 0;
}

static int
parse_int(struct parser *p, const struct key_def *d, const char *v, int *out)
{
	char *end;
	long n;

	if (!isdigit((unsigned char)v[0]))
		return confkv_err(p->err, p->errlen, p->file, p->line, "%s: \"%s\" is not a number",
			d->name, v);
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end != '\0')
		return confkv_err(p->err, p->errlen, p->file, p->line, "%s: \"%s\" is not a number",
			d->name, v);
	if (errno == ERANGE || n < d->min || n > d->max)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"%s %s is out of range (%d..%d)", d->name, v, d->min, d->max);
	*out = (int)n;
	return 0;
}

static int
check_one_uri(struct parser *p, const char *v)
{
	LDAPURLDesc *lud = NULL;
	int bad;

	if (strncasecmp(v, "ldap://", 7) != 0 && strncasecmp(v, "ldaps://", 8) != 0 &&
		strncasecmp(v, "ldapi://", 8) != 0)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"log-uri \"%s\" must start with ldap://, ldaps:// or "
			"ldapi://",
			v);
	if (ldap_url_parse(v, &lud) != LDAP_URL_SUCCESS)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"log-uri \"%s\" is not a valid LDAP URI (with "
			"a socket path in ldapi:// written as %%2F)",
			v);
	bad = lud->lud_dn != NULL && lud->lud_dn[0] != '\0';
	ldap_free_urldesc(lud);
	if (bad)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"log-uri \"%s\" names a DN: give only the server and set "
			"log-base for the DN",
			v);
	return 0;
}

/* One URI, or several separated by spaces: the providers of a replicated log, tried in
 * that order by libldap whenever syncd connects (see resetguard-syncd.conf(5)). */
static int
check_uri(struct parser *p, const char *v)
{
	char *copy = strdup(v), *save = NULL, *u;
	int rc = 0;

	if (copy == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	for (u = strtok_r(copy, " \t", &save); u != NULL && rc == 0;
	     u = strtok_r(NULL, " \t", &save))
		rc = check_one_uri(p, u);
	free(copy);
	return rc;
}

/* Whether every URI of the list has scheme (with its "://"). */
static int
all_uris(const char *list, const char *scheme)
{
	size_t n = strlen(scheme);

	for (const char *u = list + strspn(list, " \t"); *u != '\0';
	     u += strcspn(u, " \t"), u += strspn(u, " \t"))
		if (strncasecmp(u, scheme, n) != 0)
			return 0;
	return 1;
}

static int
check_dn(struct parser *p, const char *key, const char *v)
{
	LDAPDN dn = NULL;

	if (ldap_str2dn(v, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"%s \"%s\" is not a valid DN", key, v);
	ldap_dnfree(dn);
	return 0;
}

/* Metrics carry account-free counters but no authentication either, so they are never
 * exposed beyond the host; a reverse proxy can publish them deliberately. */
static int
check_listen(struct parser *p, const char *v)
{
	const char *colon = strrchr(v, ':');
	size_t hlen = colon ? (size_t)(colon - v) : 0;
	struct key_def port = {"metrics-listen port", V_INT, 0, 1, 65535};
	int n;

	if (colon == NULL || colon[1] == '\0')
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"metrics-listen \"%s\": expected HOST:PORT, e.g. "
			"127.0.0.1:9464",
			v);
	if (hlen == 3 && strncmp(v, "::1", 3) == 0)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"metrics-listen \"%s\": write IPv6 in brackets: "
			"[::1]:PORT",
			v);
	if (!(hlen == 9 && strncmp(v, "127.0.0.1", 9) == 0) &&
		!(hlen == 5 && strncmp(v, "[::1]", 5) == 0) &&
		!(hlen == 9 && strncmp(v, "localhost", 9) == 0))
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"metrics-listen \"%s\": metrics are served on loopback "
			"only: use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT",
			v);
	return parse_int(p, &port, colon + 1, &n);
}

/* Levenshtein distance, for "did you mean": the full list of keys does not fit in an
 * error message next to a long path, and a typo is the usual cause. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[32], diag, up;

	if (la >= 32 || lb >= 32)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			up = row[j];
			row[j] = diag +
				(tolower((unsigned char)a[i - 1]) !=
					tolower((unsigned char)b[j - 1]));
			if (up + 1 < row[j])
				row[j] = up + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			diag = up;
		}
	}
	return row[lb];
}

static int
set_global(struct parser *p, const char *key, const char *v)
{
	int i = key_index(key);
	const struct key_def *d;
	char **sp;
	int *ip;

	if (i < 0) {
		char known[512] = "";
		const char *near = NULL;

		for (size_t k = 0; k < NKEYS; k++) {
			if (near == NULL && distance(key, keys[k].name) <= 2)
				near = keys[k].name;
			strcat(known, keys[k].name);
			strcat(known, ", ");
		}
		if (near != NULL)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"unknown key \"%s\" (did you mean \"%s\"?)", key, near);
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"unknown key \"%s\" (known: %starget, hook)", key, known);
	}
	d = &keys[i];
	if (p->seen[i])
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"duplicate key \"%s\" (first set on line %d): keep one", key, p->seen[i]);
	p->seen[i] = p->line;
	if (*v == '\0')
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"key \"%s\" has an empty value", key);
	sp = (char **)((char *)p->cfg + d->off);
	ip = (int *)((char *)p->cfg + d->off);
	switch (d->type) {
	case V_INT:
		return parse_int(p, d, v, ip);
	case V_BOOL:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"%s must be yes or no, not \"%s\"", key, v);
		*ip = strcmp(v, "yes") == 0;
		return 0;
	case V_URI:
		if (check_uri(p, v) != 0)
			return -1;
		break;
	case V_DN:
		if (check_dn(p, key, v) != 0)
			return -1;
		break;
	case V_PATH:
		/* the daemon runs from / and re-reads files on reload */
		if (v[0] != '/')
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"%s \"%s\" must be an absolute path", key, v);
		break;
	case V_LISTEN:
		if (check_listen(p, v) != 0)
			return -1;
		break;
	case V_LOG:
		if (strcmp(v, "syslog") != 0 && strcmp(v, "json") != 0)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"log must be syslog or json, not \"%s\"", v);
		break;
	case V_NAMES:               /* checked against the hooks in finish() */
		break;
	case V_INSTANCE:
		if (!instance_valid(v))
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"instance \"%s\": use at most %d letters, digits and _.:@- "
				"(it is written in each claim of a record)", v, INSTANCE_MAX);
		break;
	case V_USER:
		if (getpwnam(v) == NULL)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"user \"%s\" does not exist: create it or fix the name", v);
		break;
	}
	if ((*sp = strdup(v)) == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	return 0;
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_NAME)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int
open_block(struct parser *p, enum block b, char *v)
{
	size_t len = strlen(v);
	const char *word = block_word(b);
	char *name;

	if (len == 0 || v[len - 1] != '{')
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"expected \"%s NAME {\" with the \"{\" on the same line", word);
	v[len - 1] = '\0';
	name = trim(v);
	if (!valid_name(name))
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"bad %s name \"%s\": use 1 to %d of A-Z a-z 0-9 _ . -", word, name,
			MAX_NAME);
	for (size_t i = 0; b == B_TARGET && i < p->cfg->ntargets; i++)
		if (strcmp(p->cfg->targets[i]->name, name) == 0)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"duplicate target name \"%s\" (first defined on "
				"line %d): rename one",
				name, p->cfg->targets[i]->line);
	for (size_t i = 0; b == B_HOOK && i < p->cfg->nhooks; i++)
		if (strcmp(p->cfg->hooks[i]->name, name) == 0)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"duplicate hook name \"%s\" (first defined on "
				"line %d): rename one",
				name, p->cfg->hooks[i]->line);
	if ((p->bname = strdup(name)) == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	p->block = b;
	p->bline = p->line;
	return 0;
}

static int
block_line(struct parser *p, const char *key, const char *v)
{
	struct conf_kv *kv;

	if (strcmp(key, "type") == 0) {
		if (p->btype != NULL)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"duplicate \"type\" in %s \"%s\" (first on line "
				"%d)",
				block_word(p->block), p->bname, p->btype_line);
		if ((p->btype = strdup(v)) == NULL)
			return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
		p->btype_line = p->line;
		return 0;
	}
	if ((kv = realloc(p->kv, (p->nkv + 1) * sizeof(*kv))) == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	p->kv = kv;
	kv = &p->kv[p->nkv];
	kv->key = strdup(key);
	kv->value = strdup(v);
	kv->file = p->file;
	kv->line = p->line;
	p->nkv++;
	if (kv->key == NULL || kv->value == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	return 0;
}

static int
add_target(struct parser *p, const struct target_ops *ops)
{
	struct syncd_config *cfg = p->cfg;
	struct target **v, *t;

	if ((v = realloc(cfg->targets, (cfg->ntargets + 1) * sizeof(*v))) == NULL ||
		(cfg->targets = v, (t = calloc(1, sizeof(*t))) == NULL))
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	t->name = p->bname;
	p->bname = NULL;
	t->ops = ops;
	t->file = p->file;
	t->line = p->bline;
	cfg->targets[cfg->ntargets++] = t;
	return ops->configure(t, p->kv, p->nkv, p->err, p->errlen) != 0 ? -2 : 0;
}

static int
add_hook(struct parser *p, const struct hook_ops *ops)
{
	struct syncd_config *cfg = p->cfg;
	struct hook **v, *h;

	if ((v = realloc(cfg->hooks, (cfg->nhooks + 1) * sizeof(*v))) == NULL ||
		(cfg->hooks = v, (h = calloc(1, sizeof(*h))) == NULL))
		return confkv_err(p->err, p->errlen, p->file, p->line, "out of memory");
	h->name = p->bname;
	p->bname = NULL;
	h->ops = ops;
	h->file = p->file;
	h->line = p->bline;
	cfg->hooks[cfg->nhooks++] = h;
	return ops->configure(h, p->kv, p->nkv, p->err, p->errlen) != 0 ? -2 : 0;
}

/* The object joins the config before configure() runs, so that whatever configure leaves
 * behind on failure is released by config_free() through ops->free, in one place. */
static int
close_block(struct parser *p)
{
	const struct target_ops *tops = NULL;
	const struct hook_ops *hops = NULL;
	const char *word = block_word(p->block);
	char known[128];
	int rc;

	if (p->block == B_TARGET) {
		tops = registry_target_ops(p->btype);
		registry_target_kinds(known, sizeof(known));
	} else {
		hops = registry_hook_ops(p->btype);
		registry_hook_kinds(known, sizeof(known));
	}
	if (p->btype == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->bline,
			"%s \"%s\" has no type: add \"type KIND\" (known: %s)", word, p->bname,
			known);
	if (tops == NULL && hops == NULL)
		return confkv_err(p->err, p->errlen, p->file, p->btype_line,
			"unknown %s type \"%s\" (known: %s)", word, p->btype, known);
	p->err[0] = '\0';
	rc = tops != NULL ? add_target(p, tops) : add_hook(p, hops);
	if (rc == -2 && p->err[0] == '\0')
		confkv_err(p->err, p->errlen, p->file, p->bline, "%s block refused by its type %s",
			word, p->btype);
	if (rc != 0)
		return -1;
	block_reset(p);
	return 0;
}

static int
parse_line(struct parser *p, char *s, size_t n)
{
	char *key, *v;

	if (strlen(s) != n)
		return confkv_err(p->err, p->errlen, p->file, p->line, "line contains a NUL byte");
	if (n > MAX_LINE)
		return confkv_err(p->err, p->errlen, p->file, p->line,
			"line is longer than %d bytes", MAX_LINE);
	s = trim(s);
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '}') {
		if (s[1] != '\0')
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"\"}\" must be alone on its line");
		if (p->block == B_NONE)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"stray \"}\" outside a block: remove it");
		return close_block(p);
	}
	key = s;
	v = s + strcspn(s, " \t\v\f\r");
	if (*v != '\0')
		*v++ = '\0';
	v = trim(v);
	if (strcmp(key, "target") == 0 || strcmp(key, "hook") == 0) {
		if (p->block != B_NONE)
			return confkv_err(p->err, p->errlen, p->file, p->line,
				"nested block: close %s \"%s\" (line %d) with \"}\" "
				"first",
				block_word(p->block), p->bname, p->bline);
		return open_block(p, key[0] == 't' ? B_TARGET : B_HOOK, v);
	}
	if (*v == '\0')
		return confkv_err(p->err, p->errlen, p->file, p->line, "key \"%s\" has no value",
			key);
	if (unquote(p, v) != 0)
		return -1;
	return p->block != B_NONE ? block_line(p, key, v) : set_global(p, key, v);
}

/* alert-hooks NAME[,NAME...]: those hooks leave the password-change hooks for the alert
 * events (alerts.c). Only the kinds that send the JSON document can say what an alert is:
 * CAEP defines no such event, and notify writes to account holders. */
static int
alert_hooks_take(struct parser *p)
{
	struct syncd_config *cfg = p->cfg;
	int line = seen(p, "alert-hooks");
	char *list, *name, *save = NULL;
	int rc = 0;

	if (cfg->alert_hooks_names == NULL)
		return 0;
	if ((list = strdup(cfg->alert_hooks_names)) == NULL)
		return confkv_err(p->err, p->errlen, p->file, line, "out of memory");
	for (name = strtok_r(list, ", \t", &save); name != NULL && rc == 0;
		name = strtok_r(NULL, ", \t", &save)) {
		size_t i = 0;
		struct hook **v;

		while (i < cfg->nhooks && strcmp(cfg->hooks[i]->name, name) != 0)
			i++;
		if (i == cfg->nhooks) {
			int taken = 0;

			for (size_t j = 0; j < cfg->nalert_hooks; j++)
				taken |= strcmp(cfg->alert_hooks[j]->name, name) == 0;
			rc = confkv_err(p->err, p->errlen, p->file, line,
				taken ? "alert-hooks names hook \"%s\" twice"
				      : "alert-hooks: no hook "
					"\"%s\" is defined",
				name);
		} else if (strcmp(cfg->hooks[i]->ops->kind, "webhook") != 0 &&
			strcmp(cfg->hooks[i]->ops->kind, "exec") != 0) {
			rc = confkv_err(p->err, p->errlen, p->file, line,
				"alert-hooks: hook \"%s\" "
				"is of type %s; alerts go to webhook and exec hooks only",
				name, cfg->hooks[i]->ops->kind);
		} else if ((v = realloc(cfg->alert_hooks, (cfg->nalert_hooks + 1) * sizeof(*v))) ==
			NULL) {
			rc = confkv_err(p->err, p->errlen, p->file, line, "out of memory");
		} else {
			cfg->alert_hooks = v;
			v[cfg->nalert_hooks++] = cfg->hooks[i];
			memmove(&cfg->hooks[i], &cfg->hooks[i + 1],
				(cfg->nhooks - i - 1) * sizeof(*cfg->hooks));
			cfg->nhooks--;
		}
	}
	free(list);
	return rc;
}

/* Checks that need the whole file. Missing keys are reported at the last line: that is
 * where the operator will add them. */
static int
finish(struct parser *p)
{
	static const char *const required[] = {"log-uri", "key-file", "cert-file"};
	struct syncd_config *cfg = p->cfg;
	int last = p->line;

	if (p->block != B_NONE)
		return confkv_err(p->err, p->errlen, p->file, p->bline,
			"%s \"%s\" is not closed: add a \"}\" line", block_word(p->block),
			p->bname);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!seen(p, required[i]))
			return confkv_err(p->err, p->errlen, p->file, last,
				"missing required key \"%s\"", required[i]);
	if (cfg->sasl_external) {
		if (cfg->bind_dn != NULL)
			return confkv_err(p->err, p->errlen, p->file, seen(p, "bind-dn"),
				"bind-dn is not allowed with "
				"sasl-external yes: remove one");
		if (cfg->bind_password_file != NULL)
			return confkv_err(p->err, p->errlen, p->file, seen(p, "bind-password-file"),
				"bind-password-file is not "
				"allowed with sasl-external yes: remove one");
	} else {
		if (cfg->bind_dn == NULL)
			return confkv_err(p->err, p->errlen, p->file, last,
				"missing required key \"bind-dn\" (set bind-dn and "
				"bind-password-file, or sasl-external yes)");
		if (cfg->bind_password_file == NULL)
			return confkv_err(p->err, p->errlen, p->file, last,
				"missing required key \"bind-password-file\" (it "
				"goes with bind-dn)");
	}
	if (cfg->starttls && !all_uris(cfg->log_uri, "ldap://"))
		return confkv_err(p->err, p->errlen, p->file, seen(p, "starttls"),
			"starttls yes cannot be used with %.8s URIs "
			"(%s): use ldap:// or remove starttls",
			cfg->log_uri,
			strncasecmp(cfg->log_uri, "ldaps", 5) == 0 ? "already TLS"
								   : "a local socket");
	if (cfg->retry_max < cfg->retry_base)
		return confkv_err(p->err, p->errlen, p->file,
			seen(p, "retry-max") ? seen(p, "retry-max") : seen(p, "retry-base"),
			"retry-max (%d) must be >= retry-base (%d)", cfg->retry_max,
			cfg->retry_base);
	if (alert_hooks_take(p) != 0)
		return -1;
	if (cfg->log_base == NULL && (cfg->log_base = strdup("cn=resetlog")) == NULL)
		return confkv_err(p->err, p->errlen, p->file, last, "out of memory");
	if (cfg->log_mode == NULL && (cfg->log_mode = strdup("syslog")) == NULL)
		return confkv_err(p->err, p->errlen, p->file, last, "out of memory");
	if (cfg->instance == NULL && instance_default(&cfg->instance) != 0)
		return confkv_err(p->err, p->errlen, p->file, last, "out of memory");
	if (!seen(p, "claim-lease") && cfg->claim_lease < 2 * cfg->op_timeout)
		cfg->claim_lease = 2 * cfg->op_timeout;
	if (cfg->claim_lease < 2 * cfg->op_timeout)
		return confkv_err(p->err, p->errlen, p->file,
			seen(p, "claim-lease") ? seen(p, "claim-lease") : seen(p, "op-timeout"),
			"claim-lease (%d) must be at least twice op-timeout (%d): a claim must "
			"outlive the directory operations made under it", cfg->claim_lease,
			cfg->op_timeout);
	return 0;
}

int
config_load(const char *path, struct syncd_config *cfg, char *err, size_t errlen)
{
	char scratch[SYNCD_ERR];
	struct parser p = {0};
	FILE *f = NULL;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	/* configure() and the parser always have somewhere to write */
	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	p.cfg = cfg;
	p.err = err;
	p.errlen = errlen;
	cfg->max_attempts = 8;
	cfg->retry_base = 2;
	cfg->retry_max = 300;
	cfg->op_timeout = 10;
	cfg->claim_lease = 60;
	if ((cfg->file = strdup(path)) == NULL) {
		rg_seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	p.file = cfg->file;
	if ((f = fopen(path, "re")) == NULL) {
		rg_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	while ((n = getline(&buf, &cap, f)) != -1) {
		p.line++;
		if (parse_line(&p, buf, (size_t)n) != 0)
			goto out;
	}
	if (ferror(f)) {
		rg_seterr(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (finish(&p) != 0)
		goto out;
	rc = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	block_reset(&p);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

static void
hook_free(struct hook *h)
{
	if (h->ops->free != NULL)
		h->ops->free(h);
	free(h->name);
	free(h);
}

void
config_free(struct syncd_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->ntargets; i++) {
		struct target *t = cfg->targets[i];

		if (t->ops->free != NULL)
			t->ops->free(t);
		free(t->name);
		free(t);
	}
	for (size_t i = 0; i < cfg->nhooks; i++)
		hook_free(cfg->hooks[i]);
	for (size_t i = 0; i < cfg->nalert_hooks; i++)
		hook_free(cfg->alert_hooks[i]);
	free(cfg->targets);
	free(cfg->hooks);
	free(cfg->alert_hooks);
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type != V_INT && keys[i].type != V_BOOL)
			free(*(char **)((char *)cfg + keys[i].off));
	free((char *)cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}
