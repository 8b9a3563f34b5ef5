/* The reset log is append-only, for the Directory Manager too: only this plugin writes
 * records (rglog's rules on slapd, slapd/rglog.c). A client may create the log's root (an
 * rgLogRoot without an anchor), give one verdict on a record that awaits review (the plugin
 * records who and when), and, as syncd's own identity, write propagation status and remove
 * a sealed password. Everything else under the log base is refused. Offline tools
 * (ldif2db) bypass every plugin; the hash chain and auditors' checkpoints reveal them. */
#include "rg389.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int
rg389_in_log(const char *ndn)
{
	size_t n, b;

	if (ndn == NULL || rg389.cfg.log_base == NULL)
		return 0;
	n = strlen(ndn);
	b = strlen(rg389.cfg.log_base);
	return n >= b && strcasecmp(ndn + n - b, rg389.cfg.log_base) == 0 &&
		(n == b || ndn[n - b - 1] == ',');
}

static int
refuse(Slapi_PBlock *pb, int code, const char *text)
{
	Slapi_DN *sdn = NULL;
	char *who = NULL;

	slapi_pblock_get(pb, SLAPI_TARGET_SDN, &sdn);
	slapi_pblock_get(pb, SLAPI_REQUESTOR_DN, &who);
	slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "refused a write of \"%s\" by \"%s\": %s\n",
		sdn != NULL ? slapi_sdn_get_dn(sdn) : "", who != NULL ? who : "", text);
	return rg389_refuse(pb, code, text);
}

/* Proxied authorization would let whoever may proxy act as an auditor or as syncd. */
static int
proxied(Slapi_PBlock *pb)
{
	char *conn_dn = NULL, *who = NULL;
	int differs;

	slapi_pblock_get(pb, SLAPI_CONN_DN, &conn_dn);        /* a copy */
	slapi_pblock_get(pb, SLAPI_REQUESTOR_DN, &who);
	differs = conn_dn == NULL || who == NULL || slapi_dn_normalize_case(conn_dn) == NULL ||
		strcasecmp(conn_dn, who) != 0;
	slapi_ch_free_string(&conn_dn);
	return differs;
}

static int
is_type(const char *type, const char *name)
{
	return slapi_attr_type_cmp(type, name, SLAPI_TYPE_CMP_BASE) == 0;
}

/* What the server itself adds to every Modify. */
static int
server_maintained(const char *type)
{
	return is_type(type, "modifiersName") || is_type(type, "modifyTimestamp") ||
		is_type(type, "internalModifiersName") || is_type(type, "internalModifyTimestamp") ||
		is_type(type, "entryusn");
}

/* What syncd writes onto a record: delivery to targets and hooks, alert events. */
static int
is_status(const char *type)
{
	return is_type(type, "rgLogTargetStatus") || is_type(type, "rgLogHookStatus") ||
		is_type(type, "rgLogAlertStatus");
}

/* A claim is set whole (a replace with one value) or dropped whole (a delete of the
 * attribute): an add could stand next to another instance's claim. */
static const char *
claim_mod_problem(const LDAPMod *m)
{
	int op = m->mod_op & ~LDAP_MOD_BVALUES;

	if (op == LDAP_MOD_DELETE && (m->mod_bvalues == NULL || m->mod_bvalues[0] == NULL))
		return NULL;
	if (op != LDAP_MOD_REPLACE || m->mod_bvalues == NULL || m->mod_bvalues[0] == NULL ||
	    m->mod_bvalues[1] != NULL)
		return "a delivery claim is replaced with one value or deleted whole";
	if (!rg_log_claim_ok(m->mod_bvalues[0]->bv_val, m->mod_bvalues[0]->bv_len))
		return "a delivery claim has the form \"INSTANCE EXPIRY\": an instance id (letters, "
			"digits, _.:@-, at most 64) and a GeneralizedTime such as 20260101120000Z";
	return NULL;
}

static int
status_write(Slapi_PBlock *pb, LDAPMod **mods)
{
	int isroot = 0;

	/* The Directory Manager passes every ACI: were it allowed, it could mark any record
	 * delivered. syncd writes as an identity of its own, which the ACIs name. */
	slapi_pblock_get(pb, SLAPI_REQUESTOR_ISROOT, &isroot);
	if (isroot || proxied(pb))
		return refuse(pb, LDAP_UNWILLING_TO_PERFORM, "propagation status and delivery "
			"claims are written by syncd's own identity, not by the Directory Manager "
			"nor through proxied authorization");
	for (int i = 0; mods[i] != NULL; i++) {
		int op = mods[i]->mod_op & ~LDAP_MOD_BVALUES;
		const char *problem;

		if (is_type(mods[i]->mod_type, "rgLogClaim") &&
		    (problem = claim_mod_problem(mods[i])) != NULL)
			return refuse(pb, LDAP_CONSTRAINT_VIOLATION, problem);
		if (!is_status(mods[i]->mod_type))
			continue;
		for (int k = 0; op != LDAP_MOD_DELETE && mods[i]->mod_bvalues != NULL &&
		     mods[i]->mod_bvalues[k] != NULL; k++)
			if (!rg_log_status_ok(mods[i]->mod_bvalues[k]->bv_val, mods[i]->mod_bvalues[k]->bv_len))
				return refuse(pb, LDAP_CONSTRAINT_VIOLATION, "a propagation status "
					"value has the form \"NAME STATUS attempts=N time=T[ "
					"error=TEXT]\"");
	}
	return 0;
}

/* The verdict is the auditor's; who reviewed and when are the plugin's to say. */
static int
review(Slapi_PBlock *pb)
{
	Slapi_Entry *e = NULL;
	Slapi_Attr *a = NULL;
	LDAPMod **mods = NULL;
	Slapi_Mods *smods;
	char *who = NULL, now[32];
	time_t t = slapi_current_utc_time();
	struct tm tm;

	slapi_pblock_get(pb, SLAPI_REQUESTOR_DN, &who);
	if (who == NULL || *who == '\0')
		return refuse(pb, LDAP_INSUFFICIENT_ACCESS, "an anonymous client cannot review a "
			"reset log record: bind as an auditor");
	if (proxied(pb))
		return refuse(pb, LDAP_INSUFFICIENT_ACCESS, "a review verdict cannot be given "
			"through proxied authorization: bind as the auditor who reviewed the record");
	slapi_pblock_get(pb, SLAPI_ENTRY_PRE_OP, &e);
	if (e == NULL || !rg389_has_value(e, "objectClass", "rgLogRecord"))
		return refuse(pb, LDAP_CONSTRAINT_VIOLATION, "only reset log records can be "
			"reviewed");
	if (!rg389_has_value(e, "rgLogReviewRequired", "TRUE"))
		return refuse(pb, LDAP_CONSTRAINT_VIOLATION, "this reset log record does not "
			"require review");
	if (slapi_entry_attr_find(e, "rgLogReviewVerdict", &a) == 0)
		return refuse(pb, LDAP_CONSTRAINT_VIOLATION, "this reset log record was already "
			"reviewed; a verdict is final");
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y%m%d%H%M%SZ", &tm);
	slapi_pblock_get(pb, SLAPI_MODIFY_MODS, &mods);
	smods = slapi_mods_new();
	slapi_mods_init_passin(smods, mods);
	slapi_mods_add_string(smods, LDAP_MOD_REPLACE, "rgLogReviewer", who);
	slapi_mods_add_string(smods, LDAP_MOD_REPLACE, "rgLogReviewTime", now);
	slapi_pblock_set(pb, SLAPI_MODIFY_MODS, slapi_mods_get_ldapmods_passout(smods));
	slapi_mods_free(&smods);
	return 0;
}

static int
guard_modify(Slapi_PBlock *pb)
{
	LDAPMod **mods = NULL;
	int verdicts = 0, status = 0, other = 0;

	slapi_pblock_get(pb, SLAPI_MODIFY_MODS, &mods);
	for (int i = 0; mods != NULL && mods[i] != NULL; i++) {
		const char *type = mods[i]->mod_type;
		int op = mods[i]->mod_op & ~LDAP_MOD_BVALUES;
		int n = 0;

		while (mods[i]->mod_bvalues != NULL && mods[i]->mod_bvalues[n] != NULL)
			n++;
		if (server_maintained(type))
			continue;
		if (is_type(type, "rgLogReviewVerdict") && op != LDAP_MOD_DELETE && n == 1)
			verdicts++;
		else if (is_status(type) || is_type(type, "rgLogClaim") ||
		    (is_type(type, "rgLogSealedPassword") && op == LDAP_MOD_DELETE))
			status++;
		else
			other++;
	}
	if (other == 0 && verdicts == 1 && status == 0)
		return review(pb);
	if (other == 0 && verdicts == 0 && status > 0)
		return status_write(pb, mods);
	return refuse(pb, LDAP_UNWILLING_TO_PERFORM, "reset log records are immutable: a "
		"client may only add one rgLogReviewVerdict to a record awaiting review, or write "
		"propagation status and delivery claims and remove the sealed password");
}

static int
guard_add(Slapi_PBlock *pb)
{
	Slapi_Entry *e = NULL;
	Slapi_Attr *a = NULL;
	Slapi_DN *sdn = NULL;

	slapi_pblock_get(pb, SLAPI_ADD_ENTRY, &e);
	slapi_pblock_get(pb, SLAPI_TARGET_SDN, &sdn);
	if (e != NULL && sdn != NULL &&
	    strcasecmp(slapi_sdn_get_ndn(sdn), rg389.cfg.log_base) == 0 &&
	    rg389_has_value(e, "objectClass", "rgLogRoot") &&
	    slapi_entry_attr_find(e, "rgLogAnchorNumber", &a) != 0 &&
	    slapi_entry_attr_find(e, "rgLogAnchorHash", &a) != 0)
		return 0;
	return refuse(pb, LDAP_UNWILLING_TO_PERFORM, "only resetguard writes entries in the "
		"reset log; the one entry a client may add is its root, an rgLogRoot without an "
		"anchor");
}

int
rg389_guard(Slapi_PBlock *pb, int optype)
{
	int repl = 0;

	slapi_pblock_get(pb, SLAPI_IS_REPLICATED_OPERATION, &repl);
	if (rg389_thread()->writing || repl)
		return 0;
	switch (optype) {
	case SLAPI_OPERATION_ADD:
		return guard_add(pb);
	case SLAPI_OPERATION_MODIFY:
		return guard_modify(pb);
	case SLAPI_OPERATION_MODRDN:
		return refuse(pb, LDAP_UNWILLING_TO_PERFORM, "reset log entries cannot be renamed");
	default:
		return refuse(pb, LDAP_UNWILLING_TO_PERFORM, "the reset log is append-only: no "
			"entry can be removed from it");
	}
}
