/* Replicated changes of an account against this provider's own, in atomic mode.
 *
 * Plain syncrepl resolves two providers' concurrent changes of one entry by its entryCSN:
 * the consumer reads the entry, drops an incoming one that is older, and otherwise writes
 * the difference. The read and the write are not one step: a reset of the same account
 * committed here in between is overwritten by the older change, while the other provider
 * keeps the newer one, and the two disagree on the password for good (seen with resets of
 * one account on both providers at once). Here the replicated Modify joins the queue of
 * local changes (groupcommit.c), in the order the log lock gives: in its turn, inside the
 * transaction, it sees every local change queued before it, committed or in the same
 * transaction; the entryCSN is compared again there, and the Modify is applied or dropped
 * as older. A local change queued after it gets a newer CSN and wins. */
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

struct repl_job {
	struct rg_group_job job;
	slap_overinst *on;
	struct berval *csn;
	struct rg_hold h;                   /* the backend's answer, held for the commit */
	int dropped;
};

static int
repl_write(Operation *op, struct rg_group_job *j)
{
	struct repl_job *rj = (struct repl_job *)j;
	int rc = RG_JOB_OK;

	if (j->oex == NULL) {
		rg_hold_set_error(op, &rj->h, LDAP_OTHER, "resetguard could not begin the "
			"replicated change's transaction");
		return RG_JOB_TAINTED;
	}
	LDAP_SLIST_INSERT_HEAD(&op->o_extra, j->oex, oe_next);
	if (stored_newer(op, rj->on, rj->csn))
		rj->dropped = 1;
	else
		rg_hold_walk_below(op, rj->on, &rj->h);
	if (!rj->dropped && rj->h.err != LDAP_SUCCESS)
		rc = rg_atomic_wrote_nothing(rj->h.err) ? RG_JOB_FAILED : RG_JOB_TAINTED;
	LDAP_SLIST_REMOVE(&op->o_extra, j->oex, OpExtra, oe_next);
	return rc;
}

int
rg_repl_modify(Operation *op, SlapReply *rs, slap_overinst *on)
{
	rg_info *ri = on->on_bi.bi_private;
	struct berval *csn = incoming_csn(op);
	struct repl_job rj;
	int committed;

	/* Records are written once and their status by syncd alone: only accounts race. */
	if (csn == NULL || !rg_log_in_governed_db(op, ri) ||
	    dnIsSuffix(&op->o_req_ndn, &ri->ri_log_nbase))
		return SLAP_CB_CONTINUE;
	memset(&rj, 0, sizeof(rj));
	rj.csn = csn;
	rj.on = on;
	rj.job.write = repl_write;
	rj.job.dn = &op->o_req_ndn;
	rg_log_lock(ri);
	committed = rg_group_run(op, &ri->ri_group, select_backend(&ri->ri_log_nbase, 0),
		&rj.job, &ri->ri_log_mutex);
	if (rj.dropped) {
		Debug(LDAP_DEBUG_SYNC, "%s resetguard: replicated change of \"%s\" (entryCSN %s) is "
			"older than the entry here: not applied\n", op->o_log_prefix,
			op->o_req_ndn.bv_val, rj.csn->bv_val);
		rs->sr_err = LDAP_SUCCESS;
		send_ldap_result(op, rs);
		/* syncrepl queued the change's CSN and leaves its retirement to the backend. */
		slap_graduate_commit_csn(op);
		return rs->sr_err;
	}
	if (!committed && rj.h.err == LDAP_SUCCESS)
		rg_hold_set_error(op, &rj.h, LDAP_OTHER, "the replicated change was not made: the "
			"transaction it shared with other changes could not be committed");
	rg_hold_replay(op, rs, &rj.h);
	return rs->sr_err;
}
