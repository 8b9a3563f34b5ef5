/* Replicated changes of an account against this provider's own, in atomic mode.
 *
 * Plain syncrepl resolves two providers' concurrent changes of one entry by its entryCSN:
 * the consumer reads the entry, drops an incoming one that is older, and otherwise writes
 * the difference. The read and the write are not one step: a reset of the same account
 * committed here in between is overwritten by the older change, while the other provider
 * keeps the newer one, and the two disagree on the password for good (seen with resets of
 * one account on both providers at once). Here every allowed change commits under the log
 * mutex (rg_atomic_apply), so a replicated Modify taken under that mutex sees every local
 * reset committed before it and none in flight: the entryCSN is compared again, and the
 * Modify is applied under the mutex or dropped as older. */
#include "resetguard.h"

/* The entryCSN a replicated Modify carries; NULL when it carries none. */
static struct berval *
incoming_csn(Operation *op)
{
	for (Modifications *m = op->orm_modlist; m != NULL; m = m->sml_next)
		if (m->sml_desc == slap_schema.si_ad_entryCSN && m->sml_op == LDAP_MOD_REPLACE &&
		    m->sml_numvals == 1)
			return m->sml_nvalues != NULL ? &m->sml_nvalues[0] : &m->sml_values[0];
	return NULL;
}

/* Whether the entry here has an entryCSN at least as new as csn (as syncrepl compares:
 * the time leads the CSN's text). A missing entry or CSN is not newer: the backend then
 * answers as it would. */
static int
stored_newer(Operation *op, slap_overinst *on, struct berval *csn)
{
	BackendInfo *bi = op->o_bd->bd_info;
	Entry *e = NULL;
	Attribute *a;
	int newer = 0;

	op->o_bd->bd_info = (BackendInfo *)on->on_info;
	if (be_entry_get_rw(op, &op->o_req_ndn, NULL, NULL, 0, &e) == LDAP_SUCCESS && e != NULL) {
		if ((a = attr_find(e->e_attrs, slap_schema.si_ad_entryCSN)) != NULL &&
		    a->a_numvals > 0) {
			ber_len_t len = a->a_nvals[0].bv_len < csn->bv_len ? a->a_nvals[0].bv_len :
				csn->bv_len;

			newer = memcmp(a->a_nvals[0].bv_val, csn->bv_val, len) >= 0;
		}
		be_entry_release_r(op, e);
	}
	op->o_bd->bd_info = bi;
	return newer;
}

int
rg_repl_modify(Operation *op, SlapReply *rs, slap_overinst *on)
{
	rg_info *ri = on->on_bi.bi_private;
	struct berval *csn = incoming_csn(op);
	int rc;

	/* Records are written once and their status by syncd alone: only accounts race. */
	if (csn == NULL || !rg_atomic_mode(op, ri) || dnIsSuffix(&op->o_req_ndn, &ri->ri_log_nbase))
		return SLAP_CB_CONTINUE;
	rg_log_lock(ri);
	if (stored_newer(op, on, csn)) {
		rg_log_unlock(ri);
		Debug(LDAP_DEBUG_SYNC, "%s resetguard: replicated change of \"%s\" (entryCSN %s) is "
			"older than the entry here: not applied\n", op->o_log_prefix,
			op->o_req_ndn.bv_val, csn->bv_val);
		rs->sr_err = LDAP_SUCCESS;
		send_ldap_result(op, rs);
		return rs->sr_err;
	}
	rc = overlay_op_walk(op, rs, op_modify, on->on_info, on->on_next);
	op->o_bd->bd_info = (BackendInfo *)on;
	rg_log_unlock(ri);
	return rc;
}
