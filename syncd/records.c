/* The engine's side of the log records in the directory: their status written back, and
 * the question whether a newer change for the same account exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "engine-private.h"

void
records_write_status(struct engine *e, struct rec *rc)
{
	size_t nt = e->cfg->ntargets, nh = e->cfg->nhooks;
	char **tv = calloc(nt + 1, sizeof(char *)), **hv = calloc(nh + 1, sizeof(char *));
	LDAPMod mt = { 0 }, mh = { 0 }, ms = { 0 }, *mods[4];
	int n = 0, rc_ldap;

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
	if (n == 0)
		goto out;
	rc_ldap = ldap_modify_ext_s(e->ld, rc->r.dn, mods, NULL, NULL);
	if (rc_ldap == LDAP_SUCCESS || rc_ldap == LDAP_NO_SUCH_ATTRIBUTE) {
		if (ms.mod_type != NULL)
			rc->sealed_removed = 1;
	} else {
		log_msg(LOG_ERR, "status-write", "cannot write the status of change %llu on %s: "
			"%s; it is written again with the next change of state", rc->r.number,
			rc->r.dn, ldap_err2string(rc_ldap));
	}
out:
	for (size_t i = 0; tv != NULL && i < nt; i++)
		free(tv[i]);
	for (size_t i = 0; hv != NULL && i < nh; i++)
		free(hv[i]);
	free(tv);
	free(hv);
}

/* Is there an applied change for the same account newer than this one? Then this one must
 * never reach a store, even if syncd crashed after delivering the newer one. */
int
records_newer_change_exists(struct engine *e, const struct log_record *r)
{
	char *filter = NULL, *attrs[] = { LDAP_NO_ATTRS, NULL };
	struct berval acct, esc = { 0, NULL };
	struct timeval tv = { e->cfg->op_timeout, 0 };
	LDAPMessage *res = NULL;
	int found = 0, rc;

	if (e->ld == NULL)
		return 0;
	ber_str2bv(r->account, 0, 0, &acct);
	if (ldap_bv2escaped_filter_value(&acct, &esc) != 0)
		return 0;
	if (asprintf(&filter, "(&(objectClass=rgLogRecord)(rgLogTarget=%s)(rgLogOutcome=applied)"
	    "(rgLogChangeNumber>=%llu))", esc.bv_val, r->number + 1) < 0) {
		filter = NULL;
		goto out;
	}
	rc = ldap_search_ext_s(e->ld, e->cfg->log_base, LDAP_SCOPE_ONELEVEL, filter, attrs, 1,
		NULL, NULL, &tv, 1, &res);
	found = (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) &&
		ldap_count_entries(e->ld, res) > 0;
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
