/* syncd's own connection to the main directory, the one holding the reset log: TLS
 * verified whatever ldap.conf says, bound as syncd. */
#include <string.h>

#include "directory.h"
#include "errbuf.h"

LDAP *
directory_connect(struct syncd_config *cfg, const char *password, char *err, size_t errlen)
{
	LDAP *ld = NULL;
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;
	struct timeval tv = {cfg->op_timeout, 0};
	struct berval cred = {0, NULL};

	if ((rc = ldap_initialize(&ld, cfg->log_uri)) != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "log-uri %s: %s", cfg->log_uri, ldap_err2string(rc));
		return NULL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	/* Certificates are verified whatever ldap.conf says. */
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (cfg->tls_ca_file != NULL)
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, cfg->tls_ca_file);
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (cfg->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "StartTLS with %s failed: %s", cfg->log_uri,
			ldap_err2string(rc));
		goto fail;
	}
	if (cfg->sasl_external) {
		rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
	} else {
		cred.bv_val = (char *)password;
		cred.bv_len = password != NULL ? strlen(password) : 0;
		rc = ldap_sasl_bind_s(ld, cfg->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	}
	if (rc != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "cannot bind to %s as %s: %s%s", cfg->log_uri,
			cfg->sasl_external ? "SASL EXTERNAL" : cfg->bind_dn, ldap_err2string(rc),
			rc == LDAP_INVALID_CREDENTIALS ? ": check bind-dn and the password in "
			"bind-password-file" : rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
			rc == LDAP_TIMEOUT ? ": check log-uri, and that the server runs and is "
			"reachable" : "");
		goto fail;
	}
	return ld;
fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}
