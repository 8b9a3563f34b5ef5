/* The connection to a legacy directory and a whole delivery over it, for the ldap and ad
 * targets. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "confkv.h"
#include "dirconn.h"
#include "errbuf.h"
#include "scrub.h"
#include "securefile.h"

void
dirconn_init(struct dirconn *c, const char *kind)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->tls_verify = 1;
	c->timeout = 10;
	c->bind_check = 1;
	pthread_mutex_init(&c->lock, NULL);
}

static int
parse_uri(struct dirconn *c, const struct conf_kv *kv, char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	struct in_addr a4;
	const char *host;
	int ret = -1;

	/* libldap takes a list of URIs; one target is one store, so one URI */
	if (strpbrk(kv->value, " \t,") || ldap_url_parse(kv->value, &lud) != LDAP_URL_SUCCESS) {
		confkv_err(err, errlen, kv->file, kv->line,
			"uri \"%s\" is not one LDAP URI: "
			"use ldap://HOST[:PORT], ldaps://HOST[:PORT] or ldapi://PATH",
			kv->value);
		goto out;
	}
	if (strcasecmp(lud->lud_scheme, "ldap") == 0)
		c->scheme = DC_LDAP;
	else if (strcasecmp(lud->lud_scheme, "ldaps") == 0)
		c->scheme = DC_LDAPS;
	else if (strcasecmp(lud->lud_scheme, "ldapi") == 0)
		c->scheme = DC_LDAPI;
	else {
		confkv_err(err, errlen, kv->file, kv->line,
			"uri scheme %s:// is not supported: use ldap://, ldaps:// or ldapi://",
			lud->lud_scheme);
		goto out;
	}
	if ((lud->lud_dn && *lud->lud_dn) || lud->lud_attrs || lud->lud_filter || lud->lud_exts) {
		confkv_err(err, errlen, kv->file, kv->line,
			"uri takes only a scheme, a host and a port: drop the DN, attributes or "
			"filter");
		goto out;
	}
	host = lud->lud_host;
	c->loopback = c->scheme == DC_LDAPI || !host || !*host ||
		strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
		(inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
	if (!(c->uri = strdup(kv->value))) {
		confkv_err(err, errlen, kv->file, kv->line, "out of memory");
		goto out;
	}
	ret = 0;
out:
	ldap_free_urldesc(lud);
	return ret;
}

static int
dup_value(const struct conf_kv *kv, char **slot, char *err, size_t errlen)
{
	if (!(*slot = strdup(kv->value)))
		return confkv_err(err, errlen, kv->file, kv->line, "out of memory");
	return 0;
}

int
dirconn_conf_key(struct dirconn *c, const struct conf_kv *kv, char *err, size_t errlen)
{
	const char *k = kv->key;
	char e2[SYNCD_ERR];
	LDAPDN dn = NULL;
	int rc = map_conf_key(&c->map, kv, err, errlen);

	if (rc)
		return rc;
	rc = -1;
	if (strcmp(k, "uri") == 0) {
		if (confkv_once(kv, &c->uri_line, err, errlen) || parse_uri(c, kv, err, errlen))
			goto out;
	} else if (strcmp(k, "bind-dn") == 0) {
		if (confkv_once(kv, &c->bind_dn_line, err, errlen))
			goto out;
		if (!*kv->value || ldap_str2dn(kv->value, &dn, LDAP_DN_FORMAT_LDAPV3) != 0) {
			confkv_err(err, errlen, kv->file, kv->line, "bind-dn \"%s\" is not a DN",
				kv->value);
			goto out;
		}
		if (dup_value(kv, &c->bind_dn, err, errlen))
			goto out;
	} else if (strcmp(k, "bind-password-file") == 0) {
		if (confkv_once(kv, &c->pwfile_line, err, errlen))
			goto out;
		if (securefile_read_secret(kv->key, kv->value, &c->bind_pw, e2, sizeof(e2)) != 0) {
			confkv_err(err, errlen, kv->file, kv->line, "%s", e2);
			goto out;
		}
		/* an empty password would make the simple bind an anonymous one */
		if (!c->bind_pw || !*c->bind_pw) {
			confkv_err(err, errlen, kv->file, kv->line,
				"bind-password-file %s holds no password", kv->value);
			goto out;
		}
	} else if (strcmp(k, "sasl-external") == 0) {
		if (confkv_once(kv, &c->sasl_line, err, errlen) ||
			confkv_yesno(kv, &c->sasl_external, err, errlen))
			goto out;
	} else if (strcmp(k, "starttls") == 0) {
		if (confkv_once(kv, &c->starttls_line, err, errlen) ||
			confkv_yesno(kv, &c->starttls, err, errlen))
			goto out;
	} else if (strcmp(k, "tls-ca-file") == 0) {
		if (confkv_once(kv, &c->ca_line, err, errlen))
			goto out;
		if (kv->value[0] != '/') {
			confkv_err(err, errlen, kv->file, kv->line,
				"tls-ca-file %s: give the absolute path of a PEM file", kv->value);
			goto out;
		}
		if (dup_value(kv, &c->tls_ca_file, err, errlen))
			goto out;
	} else if (strcmp(k, "tls-verify") == 0) {
		if (confkv_once(kv, &c->verify_line, err, errlen) ||
			confkv_yesno(kv, &c->tls_verify, err, errlen))
			goto out;
	} else if (strcmp(k, "timeout") == 0) {
		if (confkv_once(kv, &c->timeout_line, err, errlen) ||
			confkv_seconds(kv, &c->timeout, err, errlen))
			goto out;
	} else if (strcmp(k, "bind-check") == 0) {
		if (confkv_once(kv, &c->bind_check_line, err, errlen) ||
			confkv_yesno(kv, &c->bind_check, err, errlen))
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

/* ldaps://, or ldap:// with starttls yes. */
static int
dirconn_uses_tls(const struct dirconn *c)
{
	return c->scheme == DC_LDAPS || c->starttls;
}

int
dirconn_conf_check(struct dirconn *c, struct target *t, char *err, size_t errlen)
{
	const char *f = t->file;
	char why[SYNCD_ERR];

	if (!c->uri_line)
		return confkv_err(err, errlen, f, t->line,
			"%s target %s: uri is required "
			"(ldap://, ldaps:// or ldapi://)",
			c->kind, t->name ? t->name : "");
	if (c->sasl_external && c->bind_dn_line)
		return confkv_err(err, errlen, f, c->sasl_line,
			"give sasl-external yes or bind-dn with bind-password-file, not both");
	if (c->sasl_external && c->scheme != DC_LDAPI)
		return confkv_err(err, errlen, f, c->sasl_line,
			"sasl-external yes needs an ldapi:// uri (the peer credentials are the "
			"identity)");
	if (c->bind_dn_line && !c->pwfile_line)
		return confkv_err(err, errlen, f, c->bind_dn_line,
			"bind-dn needs bind-password-file");
	if (c->pwfile_line && !c->bind_dn_line)
		return confkv_err(err, errlen, f, c->pwfile_line,
			"bind-password-file needs bind-dn");
	if (!c->sasl_external && !c->bind_dn_line)
		return confkv_err(err, errlen, f, t->line,
			"%s target %s: no identity: give "
			"bind-dn and bind-password-file, or sasl-external yes with an ldapi:// uri",
			c->kind, t->name ? t->name : "");
	if (c->starttls && c->scheme != DC_LDAP)
		return confkv_err(err, errlen, f, c->starttls_line,
			"starttls yes goes with an ldap:// uri only (ldaps:// is already TLS)");
	if (c->ca_line && !dirconn_uses_tls(c))
		return confkv_err(err, errlen, f, c->ca_line,
			"tls-ca-file is used only with an ldaps:// uri or starttls yes");
	if (!c->tls_verify && !c->loopback)
		return confkv_err(err, errlen, f, c->verify_line,
			"tls-verify no is allowed "
			"only for ldapi:// or a loopback host: give tls-ca-file with the store's "
			"CA");
	if (c->ca_line && securefile_check_ca("tls-ca-file", c->tls_ca_file, why, sizeof(why)))
		return confkv_err(err, errlen, f, c->ca_line, "%s", why);
	t->maps_by_rdn = map_uses_rdn(&c->map);
	return map_conf_check(&c->map, f, t->line, err, errlen);
}

static enum delivery_result
dirconn_result(int rc)
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

static enum delivery_result
dirconn_error(LDAP *ld, int rc, const char *op, const char *dn, char *err, size_t errlen)
{
	char *diag = NULL;

	if (ld)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	rg_seterr(err, errlen, "%s%s%s: %s%s%s", op, dn ? " on " : "", dn ? dn : "",
		ldap_err2string(rc), diag && *diag ? ": " : "", diag && *diag ? diag : "");
	ldap_memfree(diag);
	return dirconn_result(rc);
}

static int
ld_errno(LDAP *ld)
{
	int rc = LDAP_SUCCESS;

	ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
	return rc;
}

/* The DN of the account in the store: by template, or by a search on ld that must find
 * exactly one entry. *dn is malloc'd on DELIVERY_DONE; err says why otherwise. */
static enum delivery_result
dc_resolve(const struct map *m, LDAP *ld, const struct delivery *d, char **dn, char *err,
	size_t errlen)
{
	char *filter = NULL, *attrs[] = {LDAP_NO_ATTRS, NULL}, *found;
	LDAPMessage *res = NULL;
	enum delivery_result r = DELIVERY_FAIL;
	int rc, n;

	*dn = NULL;
	if (m->tmpl) {
		if (!(*dn = map_template_dn(m->tmpl, d->account, d->rdn_value)))
			rg_seterr(err, errlen, "map-template gives no valid DN for %s", d->account);
		r = *dn ? DELIVERY_DONE : DELIVERY_FAIL;
		goto out;
	}
	if (!(filter = map_search_filter(m->search_filter, d->account, d->rdn_value))) {
		rg_seterr(err, errlen, "map-search-filter: out of memory");
		goto out;
	}
	/* a size limit of 2 is enough to tell one match from several */
	rc = ldap_search_ext_s(ld, m->search_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
		NULL, 2, &res);
	n = res ? ldap_count_entries(ld, res) : 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED || (rc == LDAP_SUCCESS && n > 1)) {
		rg_seterr(err, errlen,
			"ambiguous account mapping: more than one entry matches %s "
			"under %s",
			filter, m->search_base);
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		r = dirconn_error(ld, rc, "search", m->search_base, err, errlen);
		goto out;
	}
	if (n == 0) {
		rg_seterr(err, errlen, "no account matches %s under %s", filter, m->search_base);
		goto out;
	}
	if (!(found = ldap_get_dn(ld, ldap_first_entry(ld, res)))) {
		rg_seterr(err, errlen, "search under %s: the entry found has no DN",
			m->search_base);
		goto out;
	}
	*dn = strdup(found);
	ldap_memfree(found);
	r = *dn ? DELIVERY_DONE : DELIVERY_RETRY;
	if (!*dn)
		rg_seterr(err, errlen, "out of memory");
out:
	ldap_msgfree(res);
	free(filter);
	return r;
}

static void
dc_drop(struct dirconn *c)
{
	if (c->ld)
		ldap_unbind_ext_s(c->ld, NULL, NULL);
	c->ld = NULL;
}

void
dirconn_disconnect(struct dirconn *c)
{
	pthread_mutex_lock(&c->lock);
	dc_drop(c);
	pthread_mutex_unlock(&c->lock);
}

void
dirconn_free(struct dirconn *c)
{
	dc_drop(c);
	free(c->uri);
	free(c->bind_dn);
	if (c->bind_pw)
		securefile_free_secret(c->bind_pw);
	free(c->tls_ca_file);
	map_free(&c->map);
	pthread_mutex_destroy(&c->lock);
}

/* ---- connecting ---- */

/* A new handle with the options, the TLS settings and StartTLS done, not bound. *ld is set
 * even on failure (for the diagnostic text); *stage names the step that failed. verify is
 * off only where tls-verify no allows it, and for tls_diagnose(). */
static int
dc_open(const struct dirconn *c, int verify, LDAP **ld, const char **stage)
{
	struct timeval tv = {c->timeout, 0};
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
static void
tls_diagnose(const struct dirconn *c, char *why, size_t whylen)
{
	LDAP *ld = NULL;
	LDAPURLDesc *lud = NULL;
	struct berval der = {0, NULL};
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
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof(issuer));
	if ((c->tls_ca_file ? securefile_load_ca(st, "tls-ca-file", c->tls_ca_file, NULL, 0) != 0
			    : !X509_STORE_set_default_paths(st)) ||
		!X509_STORE_CTX_init(ctx, st, x, NULL))
		goto out;
	vp = X509_STORE_CTX_get0_param(ctx);
	host = lud->lud_host ? lud->lud_host : "";
	if (!X509_VERIFY_PARAM_set1_ip_asc(vp, host))
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	rg_seterr(why, whylen,
		"TLS certificate verification failed: %s (certificate issued by %s; "
		"trusted CAs: %s)",
		X509_verify_cert(ctx) == 1
			? "refused by the TLS library"
			: X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)),
		issuer, c->tls_ca_file ? c->tls_ca_file : "the system's");
out:
	X509_free(x);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ber_memfree(der.bv_val);
	ldap_free_urldesc(lud);
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
}

static enum delivery_result
dc_connect(struct dirconn *c, char *err, size_t errlen)
{
	LDAP *ld = NULL;
	struct berval cred = {0, NULL};
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
	snprintf(what, sizeof(what), "%s to %s as %s", stage, c->uri,
		c->sasl_external ? "SASL EXTERNAL" : c->bind_dn);
	r = dirconn_error(ld, rc, what, NULL, err, errlen);
	if ((rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) && dirconn_uses_tls(c) &&
		c->tls_verify) {
		tls_diagnose(c, why, sizeof(why));
		if (why[0])
			rg_seterr(err, errlen, "%s: %s", what, why);
	}
out:
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return r;
}

/* Like 389-DS winsync: a bind as the account with the new password, on a connection of its
 * own. 1: the store already has it; 0: it does not (write it); -1: store unreachable. */
static int
dc_prebind(const struct dirconn *c, const char *dn, const struct delivery *d, char *err,
	size_t errlen)
{
	LDAP *ld = NULL;
	struct berval cred = {d->password_len, (char *)d->password};
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

static enum delivery_result
try_deliver(struct dirconn *c, const struct delivery *d, const char *op, dirconn_write_fn write,
	void *arg, char *err, size_t errlen)
{
	char *dn = NULL;
	enum delivery_result r;
	int rc;

	if (!c->ld && (r = dc_connect(c, err, errlen)) != DELIVERY_DONE)
		goto out;
	if ((r = dc_resolve(&c->map, c->ld, d, &dn, err, errlen)) != DELIVERY_DONE)
		goto out;
	/* Each pre-bind that finds the old password is a failed logon for the store: under an
	 * account lockout policy, resets in a row with no logon between lock the account
	 * (seen on Samba's AD DC with lockoutThreshold). bind-check no skips it there. */
	switch (c->bind_check ? dc_prebind(c, dn, d, err, errlen) : 0) {
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

enum delivery_result
dirconn_deliver(struct dirconn *c, const struct delivery *d, const char *op, dirconn_write_fn write,
	void *arg, char *err, size_t errlen)
{
	enum delivery_result r = DELIVERY_FAIL;
	int reused;

	err[0] = '\0';
	/* an empty password would turn the pre-bind into an anonymous bind that "succeeds" */
	if (d->password_len == 0 || memchr(d->password, '\0', d->password_len)) {
		rg_seterr(err, errlen,
			"the new password is empty or holds a NUL byte: not delivered");
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	reused = c->ld != NULL;
	r = try_deliver(c, d, op, write, arg, err, errlen);
	if (r == DELIVERY_RETRY && reused && c->ld && ld_errno(c->ld) == LDAP_SERVER_DOWN) {
		/* the store closed the kept connection while idle (or restarted): reconnect now,
		 * not after a backoff; a write that did land is then seen by the pre-bind (or,
		 * with bind-check no, made again) */
		dc_drop(c);
		err[0] = '\0';
		r = try_deliver(c, d, op, write, arg, err, errlen);
	}
	/* a connection that failed on the client side or timed out is not trusted again */
	if (c->ld && (r == DELIVERY_RETRY || ld_errno(c->ld) < 0))
		dc_drop(c);
	pthread_mutex_unlock(&c->lock);
out:
	scrub_password(err, d->password, d->password_len);
	return r;
}
