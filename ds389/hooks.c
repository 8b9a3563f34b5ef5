/* The backend transaction's pre-operation hooks: which operations set a password, and what
 * the judgement needs from each (judge.c). Writes under the reset log base go to its guard
 * instead. Replicated changes were judged on the server that accepted them; internal
 * operations of the server and of other plugins (a password hash upgrade at bind, say) are
 * trusted as the server itself, except the Modify a Password Modify request becomes. */
#include "rg389.h"

#include <string.h>

static const char maintained_text[] = "the rgLastReset*, rgResetCount, rgReviewRequired and "
	"rgUsedToken attributes are maintained by resetguard and cannot be written";

static const char *
target_ndn(Slapi_PBlock *pb)
{
	Slapi_DN *sdn = NULL;

	slapi_pblock_get(pb, SLAPI_TARGET_SDN, &sdn);
	return sdn != NULL ? slapi_sdn_get_ndn(sdn) : NULL;
}

/* Whether this operation is judged at all (0) or passes (1). */
static int
passes(Slapi_PBlock *pb)
{
	int repl = 0;

	slapi_pblock_get(pb, SLAPI_IS_REPLICATED_OPERATION, &repl);
	if (repl || rg389_thread()->writing)
		return 1;
	return slapi_op_internal(pb) && !rg389_thread()->exop;
}

/* The proofing control's shape, checked as slapd's control parser does (slapd/control.c):
 * a malformed value is a protocol error, before any judgement and with no record. */
static const char *
control_problem(Slapi_PBlock *pb)
{
	LDAPControl **ctrls = NULL;
	LDAPControl *found = NULL;

	slapi_pblock_get(pb, SLAPI_REQCONTROLS, &ctrls);
	for (int i = 0; ctrls != NULL && ctrls[i] != NULL; i++) {
		if (strcmp(ctrls[i]->ldctl_oid, RG_PROOFING_CONTROL_OID) != 0)
			continue;
		if (found != NULL)
			return "resetguard proofing control given twice: send it once";
		found = ctrls[i];
	}
	if (found == NULL)
		return NULL;
	if (found->ldctl_value.bv_val == NULL || found->ldctl_value.bv_len == 0)
		return "resetguard proofing control has no value: its value is the proofing token "
			"(a compact JWS)";
	if (found->ldctl_value.bv_len > RG_JWS_MAX_LEN)
		return "resetguard proofing control value is longer than 8192 bytes";
	if (!rg_jws_is_compact(found->ldctl_value.bv_val, found->ldctl_value.bv_len))
		return "resetguard proofing control value is not a compact JWS (three base64url "
			"parts joined by dots)";
	return NULL;
}

static int
refuse_control(Slapi_PBlock *pb, const char *text)
{
	if (rg389_thread()->exop)
		rg389_denial_text(LDAP_PROTOCOL_ERROR, text);
	return rg389_refuse(pb, LDAP_PROTOCOL_ERROR, text);
}

static int
is_password(const char *type)
{
	return slapi_attr_type_cmp(type, "userPassword", SLAPI_TYPE_CMP_BASE) == 0;
}

static int
count_values(struct berval **bv)
{
	int n = 0;

	while (bv != NULL && bv[n] != NULL)
		n++;
	return n;
}

struct modify_scan {
	int touches, adds_value;
	struct berval **deleted, **clear, **clear_deleted;
	int maintained;
};

static void
scan_mods(LDAPMod **mods, struct modify_scan *s)
{
	for (int i = 0; mods != NULL && mods[i] != NULL; i++) {
		LDAPMod *m = mods[i];
		int op = m->mod_op & ~LDAP_MOD_BVALUES;

		if (rg389_is_maintained_attr(m->mod_type))
			s->maintained = 1;
		if (strcasecmp(m->mod_type, PSEUDO_ATTR_UNHASHEDUSERPASSWORD) == 0 &&
		    count_values(m->mod_bvalues) > 0) {
			if (op == LDAP_MOD_DELETE)
				s->clear_deleted = m->mod_bvalues;
			else
				s->clear = m->mod_bvalues;
		}
		if (!is_password(m->mod_type))
			continue;
		s->touches = 1;
		if (op == LDAP_MOD_DELETE && count_values(m->mod_bvalues) > 0)
			s->deleted = m->mod_bvalues;
		if ((op == LDAP_MOD_ADD || op == LDAP_MOD_REPLACE) &&
		    count_values(m->mod_bvalues) > 0)
			s->adds_value = 1;
	}
}

int
rg389_betxn_modify(Slapi_PBlock *pb)
{
	struct rg389_thread *t = rg389_thread();
	struct rg389_attempt at = { "modify" };
	struct modify_scan s = { 0 };
	LDAPMod **mods = NULL;
	Slapi_Value **old = NULL;
	const char *problem;
	int rc;

	if (rg389_in_log(target_ndn(pb)))
		return rg389_guard(pb, SLAPI_OPERATION_MODIFY);
	if (passes(pb))
		return 0;
	if ((problem = control_problem(pb)) != NULL)
		return refuse_control(pb, problem);
	slapi_pblock_get(pb, SLAPI_MODIFY_MODS, &mods);
	scan_mods(mods, &s);
	if (s.maintained && !t->exop)
		return rg389_refuse(pb, LDAP_CONSTRAINT_VIOLATION, maintained_text);
	if (!s.touches)
		return 0;
	if (t->exop) {
		at.operation = "passwordModify";
		at.old_given = t->exop_old_given;
		at.secret = &t->exop_new;
	} else {
		at.secret = s.clear != NULL ? s.clear[0] : NULL;
		/* 389-DS has already replaced a deleted cleartext value that matched by the
		 * stored hash, and deletes the cleartext from its pseudo-attribute: that
		 * cleartext is what must verify as the old password. */
		if (s.adds_value && s.deleted != NULL) {
			struct berval **given = s.clear_deleted != NULL ? s.clear_deleted : s.deleted;

			at.n_old_values = count_values(s.deleted);
			old = (Slapi_Value **)slapi_ch_calloc(at.n_old_values + 1, sizeof(*old));
			for (int i = 0; i < at.n_old_values && given[i] != NULL; i++)
				old[i] = slapi_value_new_berval(given[i]);
			at.old_values = old;
		}
	}
	rc = rg389_judge(pb, &at);
	for (int i = 0; old != NULL && old[i] != NULL; i++)
		slapi_value_free(&old[i]);
	slapi_ch_free((void **)&old);
	return rc;
}

int
rg389_betxn_add(Slapi_PBlock *pb)
{
	struct rg389_attempt at = { "add" };
	Slapi_Entry *e = NULL;
	Slapi_Attr *a = NULL;
	Slapi_Value **clear = NULL;
	struct berval secret;
	const char *problem;
	int touches = 0;

	if (rg389_in_log(target_ndn(pb)))
		return rg389_guard(pb, SLAPI_OPERATION_ADD);
	if (passes(pb))
		return 0;
	if ((problem = control_problem(pb)) != NULL)
		return refuse_control(pb, problem);
	slapi_pblock_get(pb, SLAPI_ADD_ENTRY, &e);
	if (e == NULL)
		return 0;
	if (rg389_entry_has_maintained(e))
		return rg389_refuse(pb, LDAP_CONSTRAINT_VIOLATION, maintained_text);
	for (slapi_entry_first_attr(e, &a); a != NULL && !touches; slapi_entry_next_attr(e, a, &a)) {
		char *type = NULL;

		slapi_attr_get_type(a, &type);
		touches = is_password(type);
	}
	if (!touches)
		return 0;
	/* 389-DS keeps an Add's cleartext beside the entry, when its switch lets it. */
	if (slapi_pw_get_entry_ext(e, &clear) == LDAP_SUCCESS && clear != NULL &&
	    clear[0] != NULL) {
		secret = *slapi_value_get_berval(clear[0]);
		at.secret = &secret;
	}
	at.is_add = 1;
	return rg389_judge(pb, &at);
}

/* An RDN that names a password puts it into (or takes it out of) the entry without a
 * Modify; an RDN that cannot be parsed is treated as one. */
static int
rdn_has_password(const char *rdn_or_dn)
{
	Slapi_RDN *rdn = slapi_rdn_new_dn(rdn_or_dn);
	char *type = NULL, *value = NULL;
	int found = 0, i;

	if (rdn == NULL)
		return 1;
	i = slapi_rdn_get_first(rdn, &type, &value);
	if (i < 0 || type == NULL)
		found = 1;
	for (; i > 0 && !found; i = slapi_rdn_get_next(rdn, i, &type, &value))
		found = type == NULL || is_password(type);
	slapi_rdn_free(&rdn);
	return found;
}

int
rg389_betxn_modrdn(Slapi_PBlock *pb)
{
	struct rg389_attempt at = { "modrdn" };
	const char *ndn = target_ndn(pb);
	char *newrdn = NULL;

	if (rg389_in_log(ndn))
		return rg389_guard(pb, SLAPI_OPERATION_MODRDN);
	if (passes(pb))
		return 0;
	slapi_pblock_get(pb, SLAPI_MODRDN_NEWRDN, &newrdn);
	if ((newrdn == NULL || !rdn_has_password(newrdn)) && !rdn_has_password(ndn))
		return 0;
	at.password_in_rdn = 1;
	return rg389_judge(pb, &at);
}

int
rg389_betxn_delete(Slapi_PBlock *pb)
{
	if (rg389_in_log(target_ndn(pb)))
		return rg389_guard(pb, SLAPI_OPERATION_DELETE);
	return 0;
}
