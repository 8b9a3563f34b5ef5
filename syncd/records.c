/* The engine's side of the log records in the directory: their status written back, and
 * the question whether a newer change for the same account exists. */
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "engine-private.h"
#include "errbuf.h"

/* The same entry, whatever the spelling of the DN. */
static int
dn_equal(const char *a, const char *b)
{
	char *na = NULL, *nb = NULL;
	int eq;

	if (a == NULL || b == NULL)
		return 0;
	eq = ldap_dn_normalize(a, LDAP_DN_FORMAT_LDAPV3, &na, LDAP_DN_FORMAT_LDAPV3) ==
		LDAP_SUCCESS && ldap_dn_normalize(b, LDAP_DN_FORMAT_LDAPV3, &nb,
		LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && strcasecmp(na, nb) == 0;
	ldap_memfree(na);
	ldap_memfree(nb);
	return eq;
}

int
records_write_status(struct engine *e, struct rec *rc)
{
	size_t nt = e->cfg->ntargets, nh = e->cfg->nhooks;
	char **tv = calloc(nt + 1, sizeof(char *)), **hv = calloc(nh + 1, sizeof(char *));
	LDAPMod mt = { 0 }, mh = { 0 }, ms = { 0 }, *mods[4];
	int n = 0, rc_ldap = LDAP_NO_MEMORY;

	if (e->ld == NULL)
		rc_ldap = LDAP_SERVER_DOWN;
	if (tv == NULL || hv == NULL || e->ld == NULL)
		goto out;
	for (size_t i = 0; i < nt; i++)
		tv[i] = status_format(e->cfg->targets[i]->name, rc->ts[i].st, rc->ts[i].attempts,
			rc->ts[i].time, rc->ts[i].error);
	if (nt > 0) {
		mt.mod_op = LDAP_MOD_REPLACE;
		mt.mod_type = "rgLogTargetStatus";
		mt.mod_values = tv;
		mods[n++] = &mt;
	}
	if (rc->phase != PH_DELIVER && nh > 0) {
		for (size_t i = 0; i < nh; i++)
			hv[i] = status_format(e->cfg->hooks[i]->name, rc->hs[i].st,
				rc->hs[i].attempts, rc->hs[i].time, rc->hs[i].error);
		mh.mod_op = LDAP_MOD_REPLACE;
		mh.mod_type = "rgLogHookStatus";
		mh.mod_values = hv;
		mods[n++] = &mh;
	}
	/* Every target is final: the sealed password has no further use. */
	if (rc->phase != PH_DELIVER && !rc->sealed_removed) {
		ms.mod_op = LDAP_MOD_DELETE;
		ms.mod_type = "rgLogSealedPassword";
		mods[n++] = &ms;
	}
	mods[n] = NULL;
	rc_ldap = LDAP_SUCCESS;
	if (n == 0)
		goto out;
	rc_ldap = ldap_modify_ext_s(e->ld, rc->r.dn, mods, NULL, NULL);
	/* a record that retention removed meanwhile has nothing left to write to */
	if (rc_ldap == LDAP_NO_SUCH_ATTRIBUTE || rc_ldap == LDAP_NO_SUCH_OBJECT)
		rc_ldap = LDAP_SUCCESS;
	if (rc_ldap == LDAP_SUCCESS && ms.mod_type != NULL)
		rc->sealed_removed = 1;
out:
	if (rc_ldap == LDAP_INSUFFICIENT_ACCESS)
		log_msg(LOG_ERR, "status-write", "cannot write the status of change %llu on %s: "
			"%s; grant %s write access to rgLogTargetStatus, rgLogHookStatus and "
			"rgLogSealedPassword on the records below %s (olcAccess, slapd.conf: "
			"access); it stays pending here until it is written", rc->r.number, rc->r.dn,
			ldap_err2string(rc_ldap), e->cfg->bind_dn ? e->cfg->bind_dn :
			"syncd's SASL EXTERNAL identity", e->cfg->log_base);
	else if (rc_ldap != LDAP_SUCCESS)
		log_msg(LOG_ERR, "status-write", "cannot write the status of change %llu on %s: "
			"%s; it stays pending here until it is written", rc->r.number, rc->r.dn,
			ldap_err2string(rc_ldap));
	for (size_t i = 0; tv != NULL && i < nt; i++)
		free(tv[i]);
	for (size_t i = 0; hv != NULL && i < nh; i++)
		free(hv[i]);
	free(tv);
	free(hv);
	return rc_ldap;
}

/* Is there an applied change for the same account newer than this one? Then this one must
 * never reach a store, even if syncd crashed after delivering the newer one. Not knowing is
 * not "no": an error is -1, and the caller delivers nothing until it knows. */
int
records_newer_change_exists(struct engine *e, const struct log_record *r, char *err,
	size_t errlen)
{
	char *filter = NULL, *attrs[] = { LDAP_NO_ATTRS, NULL };
	struct berval acct, esc = { 0, NULL };
	struct timeval tv = { e->cfg->op_timeout, 0 };
	LDAPMessage *res = NULL;
	int found = -1, rc;

	if (e->ld == NULL) {
		rg_seterr(err, errlen, "cannot tell whether a newer change exists: not connected "
			"to %s", e->cfg->log_uri);
		return -1;
	}
	ber_str2bv(r->account, 0, 0, &acct);
	if (ldap_bv2escaped_filter_value(&acct, &esc) != 0 ||
	    asprintf(&filter, "(&(objectClass=rgLogRecord)(rgLogTarget=%s)(rgLogOutcome=applied)"
	    "(rgLogChangeNumber>=%llu))", esc.bv_val, r->number + 1) < 0) {
		filter = NULL;
		rg_seterr(err, errlen, "cannot tell whether a newer change exists: out of memory");
		goto out;
	}
	rc = ldap_search_ext_s(e->ld, e->cfg->log_base, LDAP_SCOPE_ONELEVEL, filter, attrs, 1,
		NULL, NULL, &tv, 1, &res);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED)
		found = ldap_count_entries(e->ld, res) > 0;
	else
		rg_seterr(err, errlen, "cannot tell whether a newer change exists: search under "
			"%s: %s", e->cfg->log_base, ldap_err2string(rc));
out:
	ldap_msgfree(res);
	ber_memfree(esc.bv_val);
	free(filter);
	return found;
}

int
records_copy(struct log_record *dst, const struct log_record *src)
{
	size_t n;

	memset(dst, 0, sizeof(*dst));
	dst->number = src->number;
	if ((dst->dn = strdup(src->dn)) == NULL || (dst->account = strdup(src->account)) == NULL)
		return -1;
	dst->kind = src->kind ? strdup(src->kind) : NULL;
	dst->requester = src->requester ? strdup(src->requester) : NULL;
	dst->time = src->time ? strdup(src->time) : NULL;
	if ((dst->sealed = malloc(src->sealed_len)) == NULL)
		return -1;
	memcpy(dst->sealed, src->sealed, src->sealed_len);
	dst->sealed_len = src->sealed_len;
	for (n = 0; src->target_status != NULL && src->target_status[n] != NULL; n++)
		;
	if (n > 0 && (dst->target_status = calloc(n + 1, sizeof(char *))) != NULL)
		for (size_t i = 0; i < n; i++)
			dst->target_status[i] = strdup(src->target_status[i]);
	for (n = 0; src->hook_status != NULL && src->hook_status[n] != NULL; n++)
		;
	if (n > 0 && (dst->hook_status = calloc(n + 1, sizeof(char *))) != NULL)
		for (size_t i = 0; i < n; i++)
			dst->hook_status[i] = strdup(src->hook_status[i]);
	return 0;
}

/* Entries of the main directory whose first RDN has this account's first RDN value: %r
 * names the account in a legacy store only when the account is the one entry with it, or
 * an entry made elsewhere in the tree with the same uid would set the real user's legacy
 * password. Searched in every naming context the root DSE lists. 1 when the account is
 * alone with its value, 0 when not (err says why), -1 when the directory cannot tell. */
int
records_rdn_unique(struct engine *e, const char *account, char *err, size_t errlen)
{
	char *rootattrs[] = { "namingContexts", NULL }, *attrs[] = { LDAP_NO_ATTRS, NULL };
	char *filter = NULL, *found_dn = NULL, *dn;
	struct berval **ctx = NULL, esc = { 0, NULL };
	struct timeval tv = { e->cfg->op_timeout, 0 };
	LDAPMessage *root = NULL, *res = NULL, *m;
	LDAPDN parsed = NULL;
	int n = 0, rc, ret = -1;

	if (e->ld == NULL) {
		rg_seterr(err, errlen, "cannot check that %s is the only entry with its RDN value: "
			"not connected to %s", account, e->cfg->log_uri);
		return -1;
	}
	if (ldap_str2dn(account, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    parsed == NULL || parsed[0] == NULL || parsed[0][0] == NULL) {
		rg_seterr(err, errlen, "the account %s is not a DN", account);
		ret = 0;
		goto out;
	}
	if (ldap_bv2escaped_filter_value(&parsed[0][0]->la_value, &esc) != 0 ||
	    asprintf(&filter, "(%.*s=%s)", (int)parsed[0][0]->la_attr.bv_len,
	    parsed[0][0]->la_attr.bv_val, esc.bv_val) < 0) {
		filter = NULL;
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	rc = ldap_search_ext_s(e->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", rootattrs, 0, NULL,
		NULL, &tv, 0, &root);
	if (rc != LDAP_SUCCESS || (m = ldap_first_entry(e->ld, root)) == NULL ||
	    (ctx = ldap_get_values_len(e->ld, m, "namingContexts")) == NULL) {
		rg_seterr(err, errlen, "cannot read the naming contexts of %s: %s",
			e->cfg->log_uri, ldap_err2string(rc != LDAP_SUCCESS ? rc : LDAP_NO_SUCH_OBJECT));
		goto out;
	}
	for (size_t i = 0; ctx[i] != NULL && n < 2; i++) {
		char *base = strndup(ctx[i]->bv_val, ctx[i]->bv_len);

		ldap_msgfree(res);
		res = NULL;
		rc = base == NULL ? LDAP_NO_MEMORY : ldap_search_ext_s(e->ld, base,
			LDAP_SCOPE_SUBTREE, filter, attrs, 1, NULL, NULL, &tv, 2, &res);
		free(base);
		if (rc == LDAP_NO_SUCH_OBJECT)
			continue;
		if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
			rg_seterr(err, errlen, "cannot check that %s is the only entry with %s: %s",
				account, filter, ldap_err2string(rc));
			goto out;
		}
		if (rc == LDAP_SIZELIMIT_EXCEEDED)
			n = 2;
		for (m = ldap_first_entry(e->ld, res); m != NULL && n < 2;
		    m = ldap_next_entry(e->ld, m), n++) {
			if ((dn = ldap_get_dn(e->ld, m)) != NULL && found_dn == NULL)
				found_dn = strdup(dn);
			ldap_memfree(dn);
		}
	}
	ret = 0;
	if (n > 1)
		rg_seterr(err, errlen, "another entry than %s has %s in the main directory: a "
			"mapping by %%r would be a guess; map by %%d, or make the value unique",
			account, filter);
	else if (n == 0 || !dn_equal(found_dn, account))
		rg_seterr(err, errlen, "%s is not the entry the main directory holds with %s: "
			"a mapping by %%r would be a guess", account, filter);
	else
		ret = 1;
out:
	ber_bvecfree(ctx);
	ldap_msgfree(root);
	ldap_msgfree(res);
	ber_memfree(esc.bv_val);
	ldap_dnfree(parsed);
	free(filter);
	free(found_dn);
	return ret;
}

/* The value of the account DN's first RDN, unescaped: what mappings call %r. */
char *
records_first_rdn_value(const char *dn)
{
	LDAPDN parsed = NULL;
	char *out = NULL;

	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || parsed == NULL ||
	    parsed[0] == NULL || parsed[0][0] == NULL)
		goto out;
	out = strndup(parsed[0][0]->la_value.bv_val, parsed[0][0]->la_value.bv_len);
out:
	ldap_dnfree(parsed);
	return out;
}

void
records_free(struct log_record *r)
{
	free(r->dn);
	free(r->account);
	free(r->kind);
	free(r->requester);
	free(r->time);
	free(r->sealed);
	for (size_t i = 0; r->target_status != NULL && r->target_status[i] != NULL; i++)
		free(r->target_status[i]);
	free(r->target_status);
	for (size_t i = 0; r->hook_status != NULL && r->hook_status[i] != NULL; i++)
		free(r->hook_status[i]);
	free(r->hook_status);
	memset(r, 0, sizeof(*r));
}

void
records_now_gentime(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y%m%d%H%M%SZ", &tm);
}
