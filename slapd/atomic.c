/* Atomic mode: when the reset log is a subtree of the governed back-mdb database, an allowed
 * change, its record (outcome "applied", with the sealed password) and the account's
 * operational attributes (the token's use among them) are written by one LMDB transaction,
 * committed once, and only then answered. Any failure aborts all of it: no change without
 * its record, no "applied" record without its change, no pending state to settle after a
 * crash, and one flush per reset.
 *
 * The transaction is back-mdb's bi_op_txn (the one RFC 5805 transactions use): begun here,
 * it is found by every write of this operation through o_extra, and the backend then leaves
 * the commit to us. Both writes have their answers held until the commit (hold.c). */
#include "resetguard.h"

/* The record's Add: held below syncprov like any write of the transaction (hold.c), on a
 * connection of its own until its answer is replayed. */
struct rg_record_op {
	struct rg_held held;
	Connection conn;
};

/* The record's Add, from the top of the stack so that syncprov sees it, inside op's
 * transaction (the copy shares o_extra) and as resetguard's own write (rglog's marker).
 * Not on the client's connection: ppolicy restricts a connection whose password must be
 * changed to that change; an internal one (index -1) it leaves alone. */
static int
add_record(Operation *op, Operation *opr, Opheader *hdr, struct rg_record_op *r, Entry *e,
	void **cids)
{
	OperationBuffer opbuf;
	BackendDB *be = select_backend(&e->e_nname, 0);
	SlapReply rs = { REP_RESULT };
	const char *text = NULL;
	char textbuf[SLAP_TEXT_BUFLEN];

	*opr = *op;
	*hdr = *op->o_hdr;
	connection_fake_init2(&r->conn, &opbuf, op->o_threadctx, 0);
	hdr->oh_conn = &r->conn;
	opr->o_hdr = hdr;
	opr->o_bd = be;
	opr->o_tag = LDAP_REQ_ADD;
	opr->o_dn = be->be_rootdn;
	opr->o_ndn = be->be_rootndn;
	opr->o_req_dn = e->e_name;
	opr->o_req_ndn = e->e_nname;
	opr->ora_e = e;
	opr->ora_modlist = NULL;
	opr->o_controls = cids;
	BER_BVZERO(&opr->o_csn);
	rg_held_init(&r->held, &rg_internal_cb);
	opr->o_callback = &r->held.cb;
	if (slap_add_opattrs(opr, &text, textbuf, sizeof(textbuf), 1) != LDAP_SUCCESS) {
		slap_graduate_commit_csn(opr);
		return -1;
	}
	be->be_add(opr, &rs);
	return r->held.reached && r->held.hold.err == LDAP_SUCCESS ? 0 : -1;
}

/* A reader record of this database left on the operation would be taken for the
 * transaction's (back-mdb then dereferences NULL). */
static int
has_txn_record(Operation *op)
{
	OpExtra *oex;

	LDAP_SLIST_FOREACH(oex, &op->o_extra, oe_next)
		if (oex->oe_key == op->o_bd->be_private)
			return 1;
	return 0;
}

/* The change failed and took its record with it: the attempt is recorded on its own. */
static void
record_failure(Operation *op, rg_info *ri, struct rg_atomic *a, struct berval *text)
{
	struct rg_log_state st = { "failed", NULL, NULL };
	struct berval ndn;
	char err[256];

	st.outcome_text = BER_BVISNULL(text) ? NULL : text->bv_val;
	if (rg_log_append(op, ri, &a->record, &st, &ndn, err, sizeof(err)) != 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s\n", op->o_log_prefix, err);
		return;
	}
	op->o_tmpfree(ndn.bv_val, op->o_tmpmemctx);
}

const char *
rg_atomic_unfit(slap_overinfo *oi)
{
	if (oi->oi_orig->bi_op_txn == NULL)
		return "its backend cannot write a change and its record in one transaction "
			"(back-mdb can)";
	if (!rg_held_below_syncprov(oi, "resetguard"))
		return "syncprov is configured before resetguard, so it would tell consumers "
			"of changes that are not committed yet: configure it after resetguard";
	return NULL;
}

int
rg_atomic_wrote_nothing(int err)
{
	switch (err) {
	case LDAP_NO_SUCH_ATTRIBUTE:
	case LDAP_UNDEFINED_TYPE:
	case LDAP_INAPPROPRIATE_MATCHING:
	case LDAP_CONSTRAINT_VIOLATION:
	case LDAP_TYPE_OR_VALUE_EXISTS:
	case LDAP_INVALID_SYNTAX:
	case LDAP_NO_SUCH_OBJECT:
	case LDAP_INVALID_DN_SYNTAX:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_NAMING_VIOLATION:
	case LDAP_OBJECT_CLASS_VIOLATION:
	case LDAP_NOT_ALLOWED_ON_NONLEAF:
	case LDAP_NOT_ALLOWED_ON_RDN:
	case LDAP_ALREADY_EXISTS:
	case LDAP_NO_OBJECT_CLASS_MODS:
	case LDAP_ASSERTION_FAILED:
		return 1;
	}
	return 0;
}

/* One judged change as a group-commit job: the change and its record, in the transaction
 * it shares with the changes queued with it. */
struct atomic_job {
	struct rg_group_job job;
	slap_overinst *on;
	Entry *entry;                       /* the record, numbered, outcome "applied" */
	struct rg_hold h;                   /* the change's answer */
	struct rg_record_op r;              /* the record's Add */
	Operation opr;
	Opheader hdr;
	void *cids[SLAP_MAX_CIDS];
	char csnbuf[LDAP_PVT_CSNSTR_BUFSIZE];
	int sent;                           /* the record's Add went down */
};

static int
atomic_write(Operation *op, struct rg_group_job *j)
{
	struct atomic_job *aj = (struct atomic_job *)j;
	struct berval csn = { sizeof(aj->csnbuf), aj->csnbuf };
	struct rg_log_state failed = { "failed", NULL, NULL };
	int rc = RG_JOB_OK;

	if (j->oex == NULL) {
		rg_hold_set_error(op, &aj->h, LDAP_OTHER, "resetguard could not begin the change's "
			"transaction");
		return RG_JOB_TAINTED;
	}
	LDAP_SLIST_INSERT_HEAD(&op->o_extra, j->oex, oe_next);
	/* back-mdb makes a write's CSN itself, for the operation it is given (the copy), and
	 * retires it before the commit: made here, it is this operation's, and stays pending
	 * until syncprov has seen the committed change. Made under the transaction, as
	 * back-mdb makes it, so that CSNs follow the order of commits. */
	if (BER_BVISEMPTY(&op->o_csn))
		slap_get_csn(op, &csn, 1);
	rg_hold_walk_below(op, aj->on, &aj->h);
	if (aj->h.err != LDAP_SUCCESS) {
		if (!rg_atomic_wrote_nothing(aj->h.err)) {
			rc = RG_JOB_TAINTED;
			goto out;
		}
		/* Nothing was changed; the record, numbered and chained to already, says so in
		 * the same commit. */
		failed.outcome_text = aj->h.text.bv_val;
		rg_log_entry_restate(op, aj->entry, &failed);
	}
	aj->sent = 1;
	if (add_record(op, &aj->opr, &aj->hdr, &aj->r, aj->entry, aj->cids) != 0) {
		if (aj->h.err == LDAP_SUCCESS)
			rg_hold_set_error(op, &aj->h, LDAP_OTHER, "the change was not made because "
				"its reset log record could not be written (resetguard rule "
				"log-failed)");
		rc = RG_JOB_TAINTED;
	}
out:
	LDAP_SLIST_REMOVE(&op->o_extra, j->oex, OpExtra, oe_next);
	if (aj->sent)
		aj->opr.o_extra = op->o_extra;
	return rc;
}

int
rg_atomic_apply(Operation *op, SlapReply *rs, slap_overinst *on, rg_info *ri,
	struct rg_atomic *a)
{
	BackendDB *be = select_backend(&ri->ri_log_nbase, 0);
	struct atomic_job aj;
	struct rg_inflight f;
	const char *unfit = rg_atomic_unfit(on->on_info);
	struct timeval t0, t1;
	int committed = 0;

	memset(&aj, 0, sizeof(aj));
	aj.entry = a->entry;
	a->entry = NULL;
	if (unfit != NULL || has_txn_record(op)) {
		rg_hold_set_error(op, &aj.h, unfit != NULL ? LDAP_UNWILLING_TO_PERFORM : LDAP_OTHER,
			unfit != NULL ? unfit : "resetguard could not begin the change's transaction");
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s\n", op->o_log_prefix, aj.h.text.bv_val);
		record_failure(op, ri, a, &aj.h.text);
		rg_log_unlock(ri);
		goto answer;
	}
	aj.on = on;
	aj.job.write = atomic_write;
	aj.job.dn = &op->o_req_ndn;
	aj.job.chained = 1;
	/* The next reset is numbered after this one while it waits for its turn, and its
	 * velocity count sees this one. */
	rg_log_advance(ri, &a->record, a->hash);
	rg_log_inflight_add(ri, &f, &a->record);
	gettimeofday(&t0, NULL);
	committed = rg_group_run(op, &ri->ri_group, be, &aj.job, &ri->ri_log_mutex);
	gettimeofday(&t1, NULL);
	rg_monitor_log_write(ri, (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_usec - t0.tv_usec));
	rg_log_lock(ri);
	rg_log_inflight_remove(ri, &f);
	if (!committed) {
		if (aj.h.err == LDAP_SUCCESS)
			rg_hold_set_error(op, &aj.h, LDAP_OTHER, "the change was not made: the "
				"transaction it shared with other changes could not be committed; "
				"try again");
		if (rg_group_broken(&ri->ri_group)) {
			rg_log_lost(ri);
			rg_group_mend(&ri->ri_group);
		}
		record_failure(op, ri, a, &aj.h.text);
	}
	rg_log_unlock(ri);
answer:
	rg_hold_replay(op, rs, &aj.h);
	/* syncprov reads the record's entry from the Add. */
	if (aj.sent)
		rg_held_finish(&aj.opr, &aj.r.held, committed);
	if (aj.sent && aj.opr.ora_e != NULL && aj.opr.ora_e != aj.entry)
		entry_free(aj.opr.ora_e);
	entry_free(aj.entry);
	return rs->sr_err;
}
