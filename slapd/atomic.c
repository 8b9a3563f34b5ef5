/* Atomic mode: when the reset log is a subtree of the governed back-mdb database, an allowed
 * change, its record (outcome "applied", with the sealed password) and the account's
 * operational attributes (the token's use among them) are written by one LMDB transaction,
 * committed once, and only then answered. Any failure aborts all of it: no change without
 * its record, no "applied" record without its change, no pending state to settle after a
 * crash, and one flush per reset.
 *
 * The transaction is back-mdb's bi_op_txn (the one RFC 5805 transactions use): begun here,
 * it is found by every write of this operation through o_extra, and the backend then leaves
 * the commit to us. The backend still answers each write as if it had committed, and the
 * overlays above this one (syncprov above all) act on that answer: so each write goes down
 * the stack under a holding callback that keeps its answer, with the callbacks above it
 * detached, and the answer is sent on through them only after the commit. The writes go down
 * as a copy of their operation, so that the backend does not retire their CSN: syncprov then
 * finds it pending, advances contextCSN to it after the commit, and it is retired here. */
#include "resetguard.h"

/* One write's answer, kept until the transaction ends. */
struct rg_hold {
	slap_callback cb;
	int answered;
	int err;
	struct berval text;                 /* o_tmpalloc'd: the backend's text may be its own */
};

/* Carried by the record's Add through the whole stack, so that this overlay knows it when
 * it passes (rg_atomic_record_below). */
struct rg_record_op {
	slap_callback cb;
	int reached;                        /* the Add came down to this overlay */
	slap_callback *above;               /* the callbacks of the overlays above */
	struct rg_hold hold;
	Connection conn;                    /* an internal one, until the answer is replayed */
};

static int
hold_response(Operation *op, SlapReply *rs)
{
	struct rg_hold *h = op->o_callback->sc_private;

	if (rs->sr_type != REP_RESULT)
		return SLAP_CB_CONTINUE;
	h->answered = 1;
	h->err = rs->sr_err;
	if (rs->sr_text != NULL && BER_BVISNULL(&h->text))
		ber_str2bv_x(rs->sr_text, 0, 1, &h->text, op->o_tmpmemctx);
	/* Whatever is above learns of this write once it has committed, and not before: the
	 * cleanup that follows this answer must not reach them either. */
	h->cb.sc_next = NULL;
	return LDAP_SUCCESS;
}

static int
record_marker(Operation *op, SlapReply *rs)
{
	return SLAP_CB_CONTINUE;
}

/* Sends op down the rest of the stack under h; what the backend made of the request (a
 * reordered modlist, a consumed entry) is the operation's. */
static void
walk_below(Operation *op, slap_overinst *on, struct rg_hold *h)
{
	Operation opb = *op;
	SlapReply rsb = { REP_RESULT };
	slap_operation_t which = op->o_tag == LDAP_REQ_ADD ? op_add :
		op->o_tag == LDAP_REQ_MODRDN ? op_modrdn : op_modify;

	h->cb.sc_response = hold_response;
	h->cb.sc_private = h;
	/* Kept linked while going down: ppolicy finds the Password Modify request there. */
	h->cb.sc_next = op->o_callback;
	opb.o_callback = &h->cb;
	overlay_op_walk(&opb, &rsb, which, on->on_info, on->on_next);
	op->o_bd->bd_info = (BackendInfo *)on;
	op->o_request = opb.o_request;
	if (!h->answered) {
		h->err = LDAP_OTHER;
		ber_str2bv_x("the backend did not answer", 0, 1, &h->text, op->o_tmpmemctx);
	}
}

int
rg_atomic_is_record(Operation *op)
{
	for (slap_callback *sc = op->o_callback; sc != NULL; sc = sc->sc_next)
		if (sc->sc_response == record_marker)
			return 1;
	return 0;
}

int
rg_atomic_record_below(Operation *op, SlapReply *rs, slap_overinst *on)
{
	struct rg_record_op *r = NULL;

	for (slap_callback *sc = op->o_callback; sc != NULL; sc = sc->sc_next)
		if (sc->sc_response == record_marker)
			r = sc->sc_private;
	r->reached = 1;
	walk_below(op, on, &r->hold);
	/* overlay_op_walk runs the cleanup of every callback above an overlay that stops an
	 * operation: syncprov's would go before it has seen the commit. They are kept out of
	 * its reach for the replay, less the overlay framework's own (its private data is the
	 * stack), which it frees itself. */
	r->above = op->o_callback;
	for (slap_callback **scp = &r->above; *scp != &r->cb;)
		if ((*scp)->sc_private == on->on_info)
			*scp = (*scp)->sc_next;
		else
			scp = &(*scp)->sc_next;
	op->o_callback = &r->cb;
	/* Not SLAP_CB_CONTINUE: the answer goes up after the commit (replay). */
	return LDAP_SUCCESS;
}

/* The answer sent on to the callbacks above, then the write's CSN retired. */
static void
replay(Operation *op, SlapReply *rs, int err, struct berval *text)
{
	rs->sr_type = REP_RESULT;
	rs->sr_err = err;
	rs->sr_text = BER_BVISNULL(text) ? NULL : text->bv_val;
	rs->sr_matched = NULL;
	rs->sr_ref = NULL;
	rs->sr_ctrls = NULL;
	rs->sr_flags = 0;
	send_ldap_result(op, rs);
	slap_graduate_commit_csn(op);
}

static void
set_error(Operation *op, struct rg_hold *h, int err, const char *text)
{
	if (!BER_BVISNULL(&h->text))
		op->o_tmpfree(h->text.bv_val, op->o_tmpmemctx);
	h->err = err;
	ber_str2bv_x(text, 0, 1, &h->text, op->o_tmpmemctx);
}

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
	r->cb.sc_response = record_marker;
	r->cb.sc_private = r;
	r->cb.sc_next = &rg_internal_cb;
	opr->o_callback = &r->cb;
	if (slap_add_opattrs(opr, &text, textbuf, sizeof(textbuf), 1) != LDAP_SUCCESS) {
		slap_graduate_commit_csn(opr);
		return -1;
	}
	be->be_add(opr, &rs);
	if (r->reached)
		opr->o_callback = r->above;
	return r->reached && r->hold.err == LDAP_SUCCESS ? 0 : -1;
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
	int below = 0;

	if (oi->oi_orig->bi_op_txn == NULL)
		return "its backend cannot write a change and its record in one transaction "
			"(back-mdb can)";
	for (slap_overinst *o = oi->oi_list; o != NULL; o = o->on_next) {
		if (strcmp(o->on_bi.bi_type, "resetguard") == 0)
			below = 1;
		else if (below && strcmp(o->on_bi.bi_type, "syncprov") == 0)
			return "syncprov is configured before resetguard, so it would tell consumers "
				"of changes that are not committed yet: configure it after resetguard";
	}
	return NULL;
}

int
rg_atomic_mode(Operation *op, rg_info *ri)
{
	BackendDB *log_be = select_backend(&ri->ri_log_nbase, 0);

	/* op->o_bd is the overlay's copy of its database: the suffix array is shared. */
	return log_be != NULL && log_be->be_nsuffix == op->o_bd->be_nsuffix;
}

int
rg_atomic_apply(Operation *op, SlapReply *rs, slap_overinst *on, rg_info *ri,
	struct rg_atomic *a)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	BackendInfo *orig = on->on_info->oi_orig;
	OpExtra *oex = NULL;
	Operation opr;
	Opheader hdr;
	SlapReply rsr = { REP_RESULT };
	struct rg_hold h = { 0 };
	struct rg_record_op r = { 0 };
	char csnbuf[LDAP_PVT_CSNSTR_BUFSIZE];
	struct berval csn = { sizeof(csnbuf), csnbuf };
	Entry *e = a->entry;
	const char *unfit = rg_atomic_unfit(on->on_info);
	int sent = 0, committed = 0;

	a->entry = NULL;
	if (unfit != NULL || has_txn_record(op) || orig->bi_op_txn(op, SLAP_TXN_BEGIN, &oex) != 0) {
		set_error(op, &h, unfit != NULL ? LDAP_UNWILLING_TO_PERFORM : LDAP_OTHER,
			unfit != NULL ? unfit : "resetguard could not begin the change's transaction");
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s\n", op->o_log_prefix, h.text.bv_val);
		record_failure(op, ri, a, &h.text);
		rg_log_unlock(ri);
		goto answer;
	}
	/* back-mdb makes a write's CSN itself, for the operation it is given (the copy), and
	 * retires it before the commit: made here, it is this operation's, and stays pending
	 * until syncprov has seen the committed change. Made under the transaction, as
	 * back-mdb makes it, so that CSNs follow the order of commits. */
	if (BER_BVISEMPTY(&op->o_csn))
		slap_get_csn(op, &csn, 1);
	walk_below(op, on, &h);
	if (h.err == LDAP_SUCCESS) {
		sent = 1;
		if (add_record(op, &opr, &hdr, &r, e, cids) != 0)
			set_error(op, &h, LDAP_OTHER, "the change was not made because its reset "
				"log record could not be written (resetguard rule log-failed)");
	}
	/* COMMIT and ABORT free the transaction's record without unlinking it. */
	LDAP_SLIST_REMOVE(&op->o_extra, oex, OpExtra, oe_next);
	if (sent)
		opr.o_extra = op->o_extra;
	if (h.err == LDAP_SUCCESS) {
		committed = orig->bi_op_txn(op, SLAP_TXN_COMMIT, &oex) == 0;
		if (!committed)
			set_error(op, &h, LDAP_OTHER, "commit failed");
	} else {
		orig->bi_op_txn(op, SLAP_TXN_ABORT, &oex);
	}
	if (committed)
		rg_log_advance(ri, &a->record, a->hash);
	else
		record_failure(op, ri, a, &h.text);
	rg_log_unlock(ri);
answer:
	replay(op, rs, h.err, &h.text);
	/* syncprov reads the record's entry from the Add. */
	if (r.reached)
		replay(&opr, &rsr, committed ? LDAP_SUCCESS : LDAP_OTHER, &r.hold.text);
	else if (sent)
		slap_graduate_commit_csn(&opr);
	if (sent && opr.ora_e != NULL && opr.ora_e != e)
		entry_free(opr.ora_e);
	entry_free(e);
	return rs->sr_err;
}
