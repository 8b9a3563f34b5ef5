/* The ldap target: another directory that keeps its own userPassword. The new password goes
 * in by the RFC 3062 Password Modify extended operation (the store hashes it with its own
 * scheme and applies its own policy), or as a pre-hashed userPassword in a scheme the store
 * verifies. The connection, the mapping and the pre-bind check are dirconn.h's. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "confkv.h"
#include "dirconn.h"
#include "pwhash.h"

enum { METHOD_PASSMOD, METHOD_HASH };

struct ldap_target {
	struct dirconn c;
	int method, method_line;
	enum pwhash_scheme scheme;
	int scheme_line;
};

static int
ldapt_key(struct ldap_target *p, const struct conf_kv *kv, char *err, size_t errlen)
{
	if (strcmp(kv->key, "method") == 0) {
		if (confkv_once(kv, &p->method_line, err, errlen))
			return -1;
		if (strcmp(kv->value, "passmod") == 0)
			p->method = METHOD_PASSMOD;
		else if (strcmp(kv->value, "hash") == 0)
			p->method = METHOD_HASH;
		else
			return confkv_err(err, errlen, kv->file, kv->line,
				"method takes passmod or hash, not \"%s\"", kv->value);
		return 0;
	}
	if (strcmp(kv->key, "hash-scheme") == 0) {
		if (confkv_once(kv, &p->scheme_line, err, errlen))
			return -1;
		if (strcmp(kv->value, "ssha") == 0)
			p->scheme = PWHASH_SSHA;
		else if (strcmp(kv->value, "ssha512") == 0)
			p->scheme = PWHASH_SSHA512;
		else if (strcmp(kv->value, "crypt-sha512") == 0)
			p->scheme = PWHASH_CRYPT_SHA512;
		else
			return confkv_err(err, errlen, kv->file, kv->line,
				"hash-scheme takes ssha, ssha512 or crypt-sha512, not \"%s\"",
				kv->value);
		return 0;
	}
	return confkv_err(err, errlen, kv->file, kv->line,
		"unknown key \"%s\" in an ldap "
		"target (known: uri, bind-dn, bind-password-file, sasl-external, starttls, "
		"tls-ca-file, tls-verify, map-template, map-search-base, map-search-filter, "
		"method, hash-scheme, bind-check, timeout)",
		kv->key);
}

static int
ldapt_configure(struct target *t, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct ldap_target *p = calloc(1, sizeof(*p));
	int ret = -1, rc;
	size_t i;

	if (!p) {
		confkv_err(err, errlen, t->file, t->line, "out of memory");
		goto out;
	}
	dirconn_init(&p->c, "ldap");
	for (i = 0; i < n; i++) {
		rc = dirconn_conf_key(&p->c, &kv[i], err, errlen);
		if (rc < 0 || (rc == 0 && ldapt_key(p, &kv[i], err, errlen)))
			goto out;
	}
	if (dirconn_conf_check(&p->c, t, err, errlen))
		goto out;
	if (p->method == METHOD_HASH && !p->scheme_line) {
		confkv_err(err, errlen, t->file, p->method_line,
			"method hash needs hash-scheme ssha, ssha512 or crypt-sha512 (the "
			"store's)");
		goto out;
	}
	if (p->method != METHOD_HASH && p->scheme_line) {
		confkv_err(err, errlen, t->file, p->scheme_line,
			"hash-scheme is used only with method hash");
		goto out;
	}
	t->priv = p;
	p = NULL;
	ret = 0;
out:
	if (p) {
		dirconn_free(&p->c);
		free(p);
	}
	return ret;
}

static int
write_passmod(LDAP *ld, const char *dn, const struct delivery *d, void *arg)
{
	struct berval user = {strlen(dn), (char *)dn};
	struct berval pw = {d->password_len, (char *)d->password}, gen = {0, NULL};
	int rc = ldap_passwd_s(ld, &user, NULL, &pw, &gen, NULL, NULL);

	/* a store that generated a password anyway must not leave it lying in memory */
	if (gen.bv_val) {
		OPENSSL_cleanse(gen.bv_val, gen.bv_len);
		ber_memfree(gen.bv_val);
	}
	return rc;
}

static int
write_hash(LDAP *ld, const char *dn, const struct delivery *d, void *arg)
{
	char *vals[] = {arg, NULL};
	LDAPMod mod, *mods[] = {&mod, NULL};

	mod.mod_op = LDAP_MOD_REPLACE;
	mod.mod_type = (char *)"userPassword";
	mod.mod_values = vals;
	return ldap_modify_ext_s(ld, dn, mods, NULL, NULL);
}

static enum delivery_result
ldapt_deliver(struct target *t, const struct delivery *d, char *err, size_t errlen)
{
	struct ldap_target *p = t->priv;
	enum delivery_result r = DELIVERY_FAIL;
	char *h = NULL;

	if (p->method == METHOD_HASH &&
		!(h = pwhash_make(p->scheme, d->password, d->password_len, err, errlen)))
		goto out;
	if (h)
		r = dirconn_deliver(&p->c, d, "modify userPassword", write_hash, h, err, errlen);
	else
		r = dirconn_deliver(&p->c, d, "Password Modify", write_passmod, NULL, err, errlen);
out:
	pwhash_free(h);
	return r;
}

static void
ldapt_disconnect(struct target *t)
{
	struct ldap_target *p = t->priv;

	if (p)
		dirconn_disconnect(&p->c);
}

static void
ldapt_free(struct target *t)
{
	struct ldap_target *p = t->priv;

	if (p) {
		dirconn_free(&p->c);
		free(p);
	}
	t->priv = NULL;
}

const struct target_ops target_ldap_ops = {
	.kind = "ldap",
	.configure = ldapt_configure,
	.deliver = ldapt_deliver,
	.disconnect = ldapt_disconnect,
	.free = ldapt_free,
};
