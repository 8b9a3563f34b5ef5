/* target-driver: runs one syncd target outside the daemon, for the integration tests.
 *
 * usage: target-driver CONFIG ACCOUNT-DN [RDN-VALUE]
 *
 * CONFIG holds one block in the syncd.conf syntax ("target NAME {", "type KIND", key value
 * lines, "}"); its lines go to the kind's configure() with their file and line. Each line
 * of standard input is then one new password (never an argument: argv is public), handed to
 * deliver() in turn on the same target, so connections are kept between them as in the
 * daemon. Each delivery prints DONE, or RETRY or FAIL with the error text. The exit status
 * is that of the last delivery: 0 DONE, 75 RETRY, 1 FAIL; 2 for a usage or config error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getline */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "target.h"

#define MAX_KV 64

static const struct target_ops *const kinds[] = {&target_ldap_ops, &target_ad_ops,
	&target_exec_ops};

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

/* "value" with \" and \\ as in syncd.conf; others are taken as they are. */
static void
unquote(char *v)
{
	char *r = v + 1, *w = v;
	size_t n = strlen(v);

	if (n < 2 || v[0] != '"' || v[n - 1] != '"')
		return;
	v[n - 1] = '\0';
	while (*r) {
		if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
			r++;
		*w++ = *r++;
	}
	*w = '\0';
}

/* The first RDN's value of dn, malloc'd. */
static char *
rdn_value(const char *dn)
{
	LDAPDN d = NULL;
	char *v = NULL;

	if (ldap_str2dn(dn, &d, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && d && d[0] && d[0][0])
		v = strndup(d[0][0]->la_value.bv_val, d[0][0]->la_value.bv_len);
	ldap_dnfree(d);
	return v;
}

static int
load(const char *path, struct target *t, struct conf_kv *kv, size_t *n, char **type)
{
	FILE *f = fopen(path, "r");
	char buf[4096], *s, *v;
	int line = 0;

	if (!f) {
		perror(path);
		return -1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		s = trim(buf);
		if (!*s || *s == '#' || strcmp(s, "}") == 0)
			continue;
		v = s + strcspn(s, " \t");
		if (*v)
			*v++ = '\0';
		v = trim(v);
		unquote(v);
		if (strcmp(s, "target") == 0) {
			v[strcspn(v, " \t{")] = '\0';
			t->name = strdup(v);
			t->line = line;
		} else if (strcmp(s, "type") == 0) {
			*type = strdup(v);
		} else if (*n < MAX_KV) {
			kv[*n] = (struct conf_kv){strdup(s), strdup(v), path, line};
			(*n)++;
		}
	}
	fclose(f);
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf_kv kv[MAX_KV];
	struct target t = {0};
	char err[SYNCD_ERR], *type = NULL, *rdn = NULL, *pw = NULL;
	size_t n = 0, i, cap = 0;
	ssize_t len;
	int rc = 2, configured = 0;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s CONFIG ACCOUNT-DN [RDN-VALUE] <passwords\n", argv[0]);
		return 2;
	}
	t.file = argv[1];
	t.line = 1;
	if (load(argv[1], &t, kv, &n, &type))
		goto out;
	for (i = 0; type && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->kind, type) == 0)
			t.ops = kinds[i];
	if (!t.ops) {
		printf("CONFIG: %s: no known \"type\" (ldap, ad or exec)\n", argv[1]);
		goto out;
	}
	rdn = argc == 4 ? strdup(argv[3]) : rdn_value(argv[2]);
	if (!rdn) {
		printf("CONFIG: %s is not a DN\n", argv[2]);
		goto out;
	}
	err[0] = '\0';
	if (t.ops->configure(&t, kv, n, err, sizeof(err)) != 0) {
		printf("CONFIG: %s\n", err);
		goto out;
	}
	configured = 1;
	while ((len = getline(&pw, &cap, stdin)) >= 0) {
		struct delivery d = {1, argv[2], rdn, (unsigned char *)pw, (size_t)len};
		enum delivery_result r;

		if (len > 0 && pw[len - 1] == '\n')
			d.password_len--;
		err[0] = '\0';
		r = t.ops->deliver(&t, &d, err, sizeof(err));
		OPENSSL_cleanse(pw, cap);
		printf("%s%s%s\n",
			r == DELIVERY_DONE            ? "DONE"
				: r == DELIVERY_RETRY ? "RETRY"
						      : "FAIL",
			*err ? ": " : "", err);
		fflush(stdout);
		rc = r == DELIVERY_DONE ? 0 : r == DELIVERY_RETRY ? 75 : 1;
	}
out:
	if (configured)
		t.ops->disconnect(&t);
	if (t.ops && t.ops->free)
		t.ops->free(&t);
	if (pw)
		OPENSSL_cleanse(pw, cap);
	free(pw);
	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(t.name);
	free(type);
	free(rdn);
	return rc;
}
