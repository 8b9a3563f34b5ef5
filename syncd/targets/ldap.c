/* The ldap target: another directory that keeps its own userPassword. The new password goes
 * in by the RFC 3062 Password Modify extended operation (the store hashes it with its own
 * scheme and applies its own policy), or as a pre-hashed userPassword in a scheme the store
 * verifies. This file also holds the directory connection shared with the ad target. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "mapping.h"

/* ---- the kept connection ---- */

static void dc_drop(struct dirconn *c)
{
	if (c->ld)
		ldap_unbind_ext_s(c->ld, NULL, NULL);
	c->ld = NULL;
}

void dirconn_disconnect(struct dirconn *c)
{
	pthread_mutex_lock(&c->lock);
	dc_drop(c);
	pthread_mutex_unlock(&c->lock);
}

void dirconn_free(struct dirconn *c)
{
	dc_drop(c);
	free(c->uri);
	free(c->bind_dn);
	if (c->bind_pw)
		free_secret(c->bind_pw);
	free(c->tls_ca_file);
	map_free(&c->map);
	pthread_mutex_destroy(&c->lock);
}

/* ---- results ---- */

enum delivery_result dirconn_result(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
		return DELIVERY_DONE;
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_TIMEOUT:
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_NO_MEMORY:
		return DELIVERY_RETRY;
	default:
		/* refusals (no such object, access, constraint, credentials, unwilling) and
		 * everything unforeseen: a retry would meet the same answer */
		return DELIVERY_FAIL;
	}
}

enum delivery_result dirconn_error(LDAP *ld, int rc, const char *op, const char *dn, char *err,
	size_t errlen)
{
	char *diag = NULL;

	if (ld)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(err, errlen, "%s%s%s: %s%s%s", op, dn ? " on " : "", dn ? dn : "",
		ldap_err2string(rc), diag && *diag ? ": " : "", diag && *diag ? diag : "");
	ldap_memfree(diag);
	return dirconn_result(rc);
}

static int ld_errno(LDAP *ld)
{
	int rc = LDAP_SUCCESS;

	ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
	return rc;
}

/* ---- connecting ---- */

/* A new handle with the options, the TLS settings and StartTLS done, not bound. *ld is set
 * even on failure (for the diagnostic text); *stage names the step that failed. verify is
 * off only where tls-verify no allows it, and for tls_diagnose(). */
static int dc_open(const struct dirconn *c, int verify, LDAP **ld, const char **stage)
{
	struct timeval tv = { c->timeout, 0 };
	int v3 = LDAP_VERSION3, zero = 0, min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
	int req = verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	int rc;

	*stage = "connect";
	*ld = NULL;
	if ((rc = ldap_initialize(ld, c->uri)) != LDAP_SUCCESS)
		goto out;
	rc = LDAP_LOCAL_ERROR;
	if (ldap_set_option(*ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
		ldap_set_option(*ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
		ldap_set_option(*ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ||
		ldap_set_option(*ld, LDAP_OPT_TIMEOUT, &tv))
		goto out;
	if (dirconn_uses_tls(c)) {
		/* set on the handle, then a new context: no ldap.conf or ldaprc relaxes them */
		*stage = "TLS setup";
		if (ldap_set_option(*ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req) ||
			ldap_set_option(*ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min) ||
			(c->tls_ca_file &&
				ldap_set_option(*ld, LDAP_OPT_X_TLS_CACERTFILE, c->tls_ca_file)) ||
			ldap_set_option(*ld, LDAP_OPT_X_TLS_NEWCTX, &zero))
			goto out;
	}
	rc = LDAP_SUCCESS;
	if (c->starttls) {
		*stage = "StartTLS";
		rc = ldap_start_tls_s(*ld, NULL, NULL);
	}
out:
	return rc;
}

/* libldap over GnuTLS reports a refused certificate only as "(unknown error code)". To say
 * why, the handshake is made again without verification — sending nothing but a StartTLS
 * request, never a credential — and the certificate shown is checked with OpenSSL against
 * the same CAs and the uri's host. why stays empty when that handshake fails too: the
 * trouble was not the certificate. */
static void tls_diagnose(const struct dirconn *c, char *why, size_t whylen)
{
	LDAP *ld = NULL;
	LDAPURLDesc *lud = NULL;
	struct berval der = { 0, NULL };
	const unsigned char *p;
	X509 *x = NULL;
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	const char *stage, *host;
	char issuer[256] = "?";
	int rc = dc_open(c, 0, &ld, &stage);

	why[0] = '\0';
	if (rc == LDAP_SUCCESS && c->scheme == DC_LDAPS)
		rc = ldap_connect(ld);
	if (rc != LDAP_SUCCESS || ldap_get_option(ld, LDAP_OPT_X_TLS_PEERCERT, &der) ||
		!der.bv_val || !st || !ctx || ldap_url_parse(c->uri, &lud) != LDAP_URL_SUCCESS)
		goto out;
	p = (const unsigned char *)der.bv_val;
	if (!(x = d2i_X509(NULL, &p, (long)der.bv_len)))
		goto out;
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof issuer);
	if (!(c->tls_ca_file ? X509_STORE_load_file(st, c->tls_ca_file) :
		X509_STORE_set_default_paths(st)) || !X509_STORE_CTX_init(ctx, st, x, NULL))
		goto out;
	vp = X509_STORE_CTX_get0_param(ctx);
	host = lud->lud_host ? lud->lud_host : "";
	if (!X509_VERIFY_PARAM_set1_ip_asc(vp, host))
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	snprintf(why, whylen, "TLS certificate verification failed: %s (certificate issued by %s; "
		"trusted CAs: %s)", X509_verify_cert(ctx) == 1 ? "refused by the TLS library" :
		X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)), issuer,
		c->tls_ca_file ? c->tls_ca_file : "the system's");
out:
	X509_free(x);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ber_memfree(der.bv_val);
	ldap_free_urldesc(lud);
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
}

static enum delivery_result dc_connect(struct dirconn *c, char *err, size_t errlen)
{
	LDAP *ld = NULL;
	struct berval cred = { 0, NULL };
	const char *stage;
	char what[512], why[SYNCD_ERR];
	int rc = dc_open(c, c->tls_verify, &ld, &stage);
	enum delivery_result r;

	if (rc == LDAP_SUCCESS) {
		stage = "service bind";
		if (c->sasl_external) {
			/* an empty initial response, or slapd answers with an empty challenge */
			cred.bv_val = (char *)"";
			rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
		} else {
			cred.bv_val = c->bind_pw;
			cred.bv_len = strlen(c->bind_pw);
			rc = ldap_sasl_bind_s(ld, c->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
				NULL);
		}
	}
	if (rc == LDAP_SUCCESS) {
		c->ld = ld;
		ld = NULL;
		r = DELIVERY_DONE;
		goto out;
	}
	snprintf(what, sizeof what, "%s to %s as %s", stage, c->uri,
		c->sasl_external ? "SASL EXTERNAL" : c->bind_dn);
	r = dirconn_error(ld, rc, what, NULL, err, errlen);
	if ((rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) && dirconn_uses_tls(c) &&
		c->tls_verify) {
		tls_diagnose(c, why, sizeof why);
		if (why[0])
			snprintf(err, errlen, "%s: %s", what, why);
	}
out:
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return r;
}

/* Like 389-DS winsync: a bind as the account with the new password, on a connection of its
 * own. 1: the store already has it; 0: it does not (write it); -1: store unreachable. */
static int dc_prebind(const struct dirconn *c, const char *dn, const struct delivery *d,
	char *err, size_t errlen)
{
	LDAP *ld = NULL;
	struct berval cred = { d->password_len, (char *)d->password };
	const char *stage;
	int rc = dc_open(c, c->tls_verify, &ld, &stage), ret = 0;

	if (rc == LDAP_SUCCESS)
		rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		ret = 1;
	else if (dirconn_result(rc) == DELIVERY_RETRY) {
		dirconn_error(ld, rc, "bind check", dn, err, errlen);
		ret = -1;
	}
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return ret;
}

/* ---- delivering ---- */

static enum delivery_result try_deliver(struct dirconn *c, const struct delivery *d,
	const char *op, dirconn_write_fn write, void *arg, char *err, size_t errlen)
{
	char *dn = NULL;
	enum delivery_result r;
	int rc;

	if (!c->ld && (r = dc_connect(c, err, errlen)) != DELIVERY_DONE)
		goto out;
	if ((r = map_resolve(&c->map, c->ld, d, &dn, err, errlen)) != DELIVERY_DONE)
		goto out;
	switch (dc_prebind(c, dn, d, err, errlen)) {
	case 1:
		r = DELIVERY_DONE;
		goto out;
	case -1:
		r = DELIVERY_RETRY;
		goto out;
	}
	rc = write(c->ld, dn, d, arg);
	r = rc == LDAP_SUCCESS ? DELIVERY_DONE : dirconn_error(c->ld, rc, op, dn, err, errlen);
out:
	free(dn);
	return r;
}

enum delivery_result dirconn_deliver(struct dirconn *c, const struct delivery *d,
	const char *op, dirconn_write_fn write, void *arg, char *err, size_t errlen)
{
	enum delivery_result r = DELIVERY_FAIL;
	int reused;

	err[0] = '\0';
	/* an empty password would turn the pre-bind into an anonymous bind that "succeeds" */
	if (d->password_len == 0 || memchr(d->password, '\0', d->password_len)) {
		snprintf(err, errlen, "the new password is empty or holds a NUL byte: not delivered");
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	reused = c->ld != NULL;
	r = try_deliver(c, d, op, write, arg, err, errlen);
	if (r == DELIVERY_RETRY && reused && c->ld && ld_errno(c->ld) == LDAP_SERVER_DOWN) {
		/* the store closed the kept connection while idle (or restarted): reconnect now,
		 * not after a backoff; a write that did land is then seen by the pre-bind */
		dc_drop(c);
		err[0] = '\0';
		r = try_deliver(c, d, op, write, arg, err, errlen);
	}
	/* a connection that failed on the client side or timed out is not trusted again */
	if (c->ld && (r == DELIVERY_RETRY || ld_errno(c->ld) < 0))
		dc_drop(c);
	pthread_mutex_unlock(&c->lock);
out:
	text_scrub(err, d->password, d->password_len);
	return r;
}

/* ---- pre-hashed userPassword ---- */

void target_hash_free(char *h)
{
	if (h)
		OPENSSL_cleanse(h, strlen(h));
	free(h);
}

/* "{CRYPT}" + crypt_r(pw, "$6$<16 salt chars>$"): the store verifies it with crypt(3). */
static char *hash_crypt(const unsigned char *pw, size_t len, char *err, size_t errlen)
{
	static const char abc[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[16];
	char setting[24] = "$6$", *pwz = NULL, *out = NULL;
	struct crypt_data *cd = NULL;
	const char *h;
	size_t i;

	if (memchr(pw, '\0', len)) {
		snprintf(err, errlen, "crypt-sha512 cannot hash a password holding a NUL byte");
		goto out;
	}
	if (!(cd = calloc(1, sizeof *cd)) || !(pwz = malloc(len + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		snprintf(err, errlen, "no random bytes for the salt");
		goto out;
	}
	/* 64 symbols: a byte masked to 6 bits picks one without bias */
	for (i = 0; i < sizeof rnd; i++)
		setting[3 + i] = abc[rnd[i] & 63];
	setting[19] = '$';
	setting[20] = '\0';
	memcpy(pwz, pw, len);
	pwz[len] = '\0';
	h = crypt_r(pwz, setting, cd);
	if (!h || h[0] != '$' || !(out = malloc(strlen(h) + 8))) {
		snprintf(err, errlen, "crypt_r with SHA-512 failed");
		goto out;
	}
	snprintf(out, strlen(h) + 8, "{CRYPT}%s", h);
out:
	if (pwz)
		OPENSSL_cleanse(pwz, len + 1);
	free(pwz);
	if (cd)
		OPENSSL_cleanse(cd, sizeof *cd);
	free(cd);
	return out;
}

char *target_hash_password(enum hash_scheme s, const unsigned char *pw, size_t len, char *err,
	size_t errlen)
{
	unsigned char buf[EVP_MAX_MD_SIZE + 8];
	unsigned int mdlen = 0;
	const char *prefix = s == HASH_SSHA ? "{SSHA}" : "{SSHA512}";
	EVP_MD_CTX *ctx = NULL;
	char *out = NULL;
	size_t plen = strlen(prefix);

	if (s == HASH_CRYPT_SHA512)
		return hash_crypt(pw, len, err, errlen);
	/* digest(pw || salt) || salt, the layout slapd's {SSHA} and pw-sha2's {SSHA512} check */
	if (!(ctx = EVP_MD_CTX_new()) ||
		!EVP_DigestInit_ex(ctx, s == HASH_SSHA ? EVP_sha1() : EVP_sha512(), NULL) ||
		!EVP_DigestUpdate(ctx, pw, len) || RAND_bytes(buf + EVP_MAX_MD_SIZE, 8) != 1 ||
		!EVP_DigestUpdate(ctx, buf + EVP_MAX_MD_SIZE, 8) ||
		!EVP_DigestFinal_ex(ctx, buf, &mdlen)) {
		snprintf(err, errlen, "%s hashing failed", prefix);
		goto out;
	}
	memmove(buf + mdlen, buf + EVP_MAX_MD_SIZE, 8);
	if (!(out = malloc(plen + 4 * ((mdlen + 8 + 2) / 3) + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(out, prefix, plen);
	EVP_EncodeBlock((unsigned char *)out + plen, buf, (int)mdlen + 8);
out:
	OPENSSL_cleanse(buf, sizeof buf);
	EVP_MD_CTX_free(ctx);
	return out;
}

/* ---- the ldap kind ---- */

enum { METHOD_PASSMOD, METHOD_HASH };

struct ldap_target {
	struct dirconn c;
	int method, method_line;
	enum hash_scheme scheme;
	int scheme_line;
};

static int ldapt_key(struct ldap_target *p, const struct conf_kv *kv, char *err, size_t errlen)
{
	if (strcmp(kv->key, "method") == 0) {
		if (target_conf_once(kv, &p->method_line, err, errlen))
			return -1;
		if (strcmp(kv->value, "passmod") == 0)
			p->method = METHOD_PASSMOD;
		else if (strcmp(kv->value, "hash") == 0)
			p->method = METHOD_HASH;
		else
			return target_conf_error(err, errlen, kv->file, kv->line,
				"method takes passmod or hash, not \"%s\"", kv->value);
		return 0;
	}
	if (strcmp(kv->key, "hash-scheme") == 0) {
		if (target_conf_once(kv, &p->scheme_line, err, errlen))
			return -1;
		if (strcmp(kv->value, "ssha") == 0)
			p->scheme = HASH_SSHA;
		else if (strcmp(kv->value, "ssha512") == 0)
			p->scheme = HASH_SSHA512;
		else if (strcmp(kv->value, "crypt-sha512") == 0)
			p->scheme = HASH_CRYPT_SHA512;
		else
			return target_conf_error(err, errlen, kv->file, kv->line,
				"hash-scheme takes ssha, ssha512 or crypt-sha512, not \"%s\"", kv->value);
		return 0;
	}
	return target_conf_error(err, errlen, kv->file, kv->line, "unknown key \"%s\" in an ldap "
		"target (known: uri, bind-dn, bind-password-file, sasl-external, starttls, "
		"tls-ca-file, tls-verify, map-template, map-search-base, map-search-filter, "
		"method, hash-scheme, timeout)", kv->key);
}

static int ldapt_configure(struct target *t, const struct conf_kv *kv, size_t n, char *err,
	size_t errlen)
{
	struct ldap_target *p = calloc(1, sizeof *p);
	int ret = -1, rc;
	size_t i;

	if (!p) {
		target_conf_error(err, errlen, t->file, t->line, "out of memory");
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
		target_conf_error(err, errlen, t->file, p->method_line,
			"method hash needs hash-scheme ssha, ssha512 or crypt-sha512 (the store's)");
		goto out;
	}
	if (p->method != METHOD_HASH && p->scheme_line) {
		target_conf_error(err, errlen, t->file, p->scheme_line,
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

static int write_passmod(LDAP *ld, const char *dn, const struct delivery *d, void *arg)
{
	struct berval user = { strlen(dn), (char *)dn };
	struct berval pw = { d->password_len, (char *)d->password }, gen = { 0, NULL };
	int rc = ldap_passwd_s(ld, &user, NULL, &pw, &gen, NULL, NULL);

	/* a store that generated a password anyway must not leave it lying in memory */
	if (gen.bv_val) {
		OPENSSL_cleanse(gen.bv_val, gen.bv_len);
		ber_memfree(gen.bv_val);
	}
	return rc;
}

static int write_hash(LDAP *ld, const char *dn, const struct delivery *d, void *arg)
{
	char *vals[] = { arg, NULL };
	LDAPMod mod, *mods[] = { &mod, NULL };

	mod.mod_op = LDAP_MOD_REPLACE;
	mod.mod_type = (char *)"userPassword";
	mod.mod_values = vals;
	return ldap_modify_ext_s(ld, dn, mods, NULL, NULL);
}

static enum delivery_result ldapt_deliver(struct target *t, const struct delivery *d,
	char *err, size_t errlen)
{
	struct ldap_target *p = t->priv;
	enum delivery_result r = DELIVERY_FAIL;
	char *h = NULL;

	if (p->method == METHOD_HASH &&
		!(h = target_hash_password(p->scheme, d->password, d->password_len, err, errlen)))
		goto out;
	if (h)
		r = dirconn_deliver(&p->c, d, "modify userPassword", write_hash, h, err, errlen);
	else
		r = dirconn_deliver(&p->c, d, "Password Modify", write_passmod, NULL, err, errlen);
out:
	target_hash_free(h);
	return r;
}

static void ldapt_disconnect(struct target *t)
{
	struct ldap_target *p = t->priv;

	if (p)
		dirconn_disconnect(&p->c);
}

static void ldapt_free(struct target *t)
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
