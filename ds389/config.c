/* The plugin entry in cn=config: resetguard's settings under the names of the slapd
 * directives (slapo-resetguard(5)), checked strictly. The server reads the entry when the
 * plugin starts; a change takes effect at the next restart, and a change that would not
 * load is refused when it is made, with the same text the start would log. */
#include "rg389.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AT_DEFAULT_POLICY "resetguard-default-policy"
#define AT_ISSUER "resetguard-issuer"
#define AT_SEAL_CERT "resetguard-seal-cert"
#define AT_LOG "resetguard-log"
#define AT_ROOTDN "resetguard-rootdn"
#define AT_CLOCK_SKEW "resetguard-clock-skew"

/* A DN, normalized; NULL and err set when it is not one. */
static char *
normalized_dn(const char *attr, const char *value, char *err, size_t errlen)
{
	char *out = rg389_ndn(value);

	if (out == NULL)
		rg_seterr(err, errlen, "%s: \"%s\" is not a DN", attr, value);
	return out;
}

static int
single(Slapi_Entry *e, const char *attr, const char **value, char *err, size_t errlen)
{
	Slapi_Attr *a = NULL;
	int n = 0;

	*value = NULL;
	if (slapi_entry_attr_find(e, attr, &a) != 0)
		return 0;
	slapi_attr_get_numvalues(a, &n);
	if (n > 1) {
		rg_seterr(err, errlen, "%s: give it once, not %d times", attr, n);
		return -1;
	}
	*value = slapi_entry_attr_get_ref(e, attr);
	return 0;
}

static int
read_issuers(Slapi_Entry *e, struct rg389_config *c, char *err, size_t errlen)
{
	char **vals = slapi_entry_attr_get_charray(e, AT_ISSUER);
	char msg[256];
	int rc = 0;

	for (int i = 0; vals != NULL && vals[i] != NULL && rc == 0; i++) {
		char *sp = strchr(vals[i], ' ');

		if (sp == NULL || sp == vals[i] || sp[1] == '\0') {
			rg_seterr(err, errlen, "%s: \"%s\" is not \"NAME PEM-FILE\"", AT_ISSUER,
				vals[i]);
			rc = -1;
			break;
		}
		*sp = '\0';
		if (rg_issuers_add(&c->issuers, vals[i], sp + 1, msg, sizeof(msg)) != 0) {
			rg_seterr(err, errlen, "%s: %s", AT_ISSUER, msg);
			rc = -1;
		}
	}
	slapi_ch_array_free(vals);
	return rc;
}

static int
read_skew(const char *v, int *skew, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 3600) {
		rg_seterr(err, errlen, "%s: \"%s\" is not a number of seconds from 0 to 3600",
			AT_CLOCK_SKEW, v);
		return -1;
	}
	*skew = (int)n;
	return 0;
}

int
rg389_config_read(Slapi_Entry *e, struct rg389_config *c, char *err, size_t errlen)
{
	const char *v;
	char msg[256];

	memset(c, 0, sizeof(*c));
	c->clock_skew = 30;
	if (single(e, AT_DEFAULT_POLICY, &v, err, errlen) != 0)
		goto fail;
	if (v != NULL && (c->default_policy = normalized_dn(AT_DEFAULT_POLICY, v, err,
	    errlen)) == NULL)
		goto fail;
	if (single(e, AT_LOG, &v, err, errlen) != 0)
		goto fail;
	if ((c->log_base = normalized_dn(AT_LOG, v != NULL ? v : "cn=resetlog", err,
	    errlen)) == NULL)
		goto fail;
	if (single(e, AT_ROOTDN, &v, err, errlen) != 0)
		goto fail;
	if (v != NULL && strcasecmp(v, "exempt") == 0) {
		c->rootdn_exempt = 1;
	} else if (v != NULL && strcasecmp(v, "governed") != 0) {
		rg_seterr(err, errlen, "%s: \"%s\" is neither governed nor exempt", AT_ROOTDN, v);
		goto fail;
	}
	if (single(e, AT_CLOCK_SKEW, &v, err, errlen) != 0 ||
	    (v != NULL && read_skew(v, &c->clock_skew, err, errlen) != 0))
		goto fail;
	if (single(e, AT_SEAL_CERT, &v, err, errlen) != 0)
		goto fail;
	if (v != NULL && (c->seal_cert = rg_seal_load_cert(v, msg, sizeof(msg))) == NULL) {
		rg_seterr(err, errlen, "%s: %s", AT_SEAL_CERT, msg);
		goto fail;
	}
	if (read_issuers(e, c, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	rg389_config_free(c);
	return -1;
}

void
rg389_config_free(struct rg389_config *c)
{
	slapi_ch_free_string(&c->default_policy);
	slapi_ch_free_string(&c->log_base);
	rg_issuers_free(&c->issuers);
	X509_free(c->seal_cert);
	c->seal_cert = NULL;
}

/* dse.c hands a pre-operation modify callback the entry before and after the change. */
static int
check_modify(Slapi_PBlock *pb, Slapi_Entry *before, Slapi_Entry *after, int *returncode,
	char *returntext, void *arg)
{
	struct rg389_config c;
	char err[SLAPI_DSE_RETURNTEXT_SIZE - 32];

	if (after == NULL)
		return SLAPI_DSE_CALLBACK_OK;
	if (rg389_config_read(after, &c, err, sizeof(err)) != 0) {
		*returncode = LDAP_UNWILLING_TO_PERFORM;
		snprintf(returntext, SLAPI_DSE_RETURNTEXT_SIZE, "resetguard: %s", err);
		return SLAPI_DSE_CALLBACK_ERROR;
	}
	rg389_config_free(&c);
	return SLAPI_DSE_CALLBACK_OK;
}

int
rg389_config_guard_register(const char *plugin_dn)
{
	if (slapi_config_register_callback(SLAPI_OPERATION_MODIFY, DSE_FLAG_PREOP, plugin_dn,
	    LDAP_SCOPE_BASE, "(objectClass=*)", check_modify, NULL) != 1) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "cannot watch changes of %s\n",
			plugin_dn);
		return -1;
	}
	return 0;
}

void
rg389_config_guard_unregister(const char *plugin_dn)
{
	slapi_config_remove_callback(SLAPI_OPERATION_MODIFY, DSE_FLAG_PREOP, plugin_dn,
		LDAP_SCOPE_BASE, "(objectClass=*)", check_modify);
}
