/* Holding a write's answer until the transaction it is part of commits.
 *
 * Inside a back-mdb transaction begun with bi_op_txn, the backend answers each write as if
 * it had committed, and the overlays above act on that answer: syncprov above all, which
 * tells consumers and moves contextCSN. A write that must not be seen before its commit is
 * sent down under a marker (struct rg_held); the first resetguard overlay it meets below
 * syncprov (rglog on the log database, resetguard on the governed one) takes it the rest of
 * the way under a holding callback, with the callbacks above it detached, and the answer is
 * sent on through them only once the transaction has ended (rg_held_finish). The write goes
 * down as a copy of its operation, so that the backend does not retire its CSN: syncprov
 * then finds it pending, advances contextCSN to it after the commit, and it is retired
 * here. */
#include "resetguard.h"

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
	/* The backend frees its response controls (pre- and post-read) once this returns. */
	if (rs->sr_ctrls != NULL && h->ctrls == NULL)
		h->ctrls = ldap_controls_dup(rs->sr_ctrls);
	/* Whatever is above learns of this write once it has committed, and not before: the
	 * cleanup that follows this answer must not reach them either. */
	h->cb.sc_next = NULL;
	return LDAP_SUCCESS;
}

static int
held_marker(Operation *op, SlapReply *rs)
{
	return SLAP_CB_CONTINUE;
}

void
rg_hold_walk_below(Operation *op, slap_overinst *on, struct rg_hold *h)
{
	Operation opb = *op;
	SlapReply rsb = { REP_RESULT };
	slap_operation_t which = op->o_tag == LDAP_REQ_ADD ? op_add :
		op->o_tag == LDAP_REQ_MODRDN ? op_modrdn :
		op->o_tag == LDAP_REQ_DELETE ? op_delete : op_modify;

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

void
rg_hold_set_error(Operation *op, struct rg_hold *h, int err, const char *text)
{
	if (!BER_BVISNULL(&h->text))
		op->o_tmpfree(h->text.bv_val, op->o_tmpmemctx);
	h->err = err;
	ber_str2bv_x(text, 0, 1, &h->text, op->o_tmpmemctx);
}

void
rg_hold_replay(Operation *op, SlapReply *rs, struct rg_hold *h)
{
	rs->sr_type = REP_RESULT;
	rs->sr_err = h->err;
	rs->sr_text = BER_BVISNULL(&h->text) ? NULL : h->text.bv_val;
	rs->sr_matched = NULL;
	rs->sr_ref = NULL;
	rs->sr_ctrls = h->err == LDAP_SUCCESS ? h->ctrls : NULL;
	rs->sr_flags = 0;
	send_ldap_result(op, rs);
	rs->sr_ctrls = NULL;
	ldap_controls_free(h->ctrls);
	h->ctrls = NULL;
	slap_graduate_commit_csn(op);
}

void
rg_held_init(struct rg_held *w, slap_callback *next)
{
	memset(w, 0, sizeof(*w));
	w->cb.sc_response = held_marker;
	w->cb.sc_private = w;
	w->cb.sc_next = next;
}

/* Whether an overlay of type after comes after the last syncprov of oi's stack (below it:
 * operations walk the list from its head), or there is no syncprov. */
int
rg_held_below_syncprov(slap_overinfo *oi, const char *type)
{
	int ok = 1;

	for (slap_overinst *o = oi->oi_list; o != NULL; o = o->on_next)
		if (strcmp(o->on_bi.bi_type, "syncprov") == 0)
			ok = 0;
		else if (strcmp(o->on_bi.bi_type, type) == 0)
			ok = 1;
	return ok;
}

struct rg_held *
rg_held_pending(Operation *op, slap_overinst *on)
{
	struct rg_held *w = NULL;

	for (slap_callback *sc = op->o_callback; sc != NULL && w == NULL; sc = sc->sc_next)
		if (sc->sc_response == held_marker)
			w = sc->sc_private;
	if (w == NULL || w->reached)
		return NULL;
	/* Held above a syncprov, the answer would reach it before the commit. */
	for (slap_overinst *o = on->on_next; o != NULL; o = o->on_next)
		if (strcmp(o->on_bi.bi_type, "syncprov") == 0)
			return NULL;
	return w;
}

int
rg_held_below(Operation *op, SlapReply *rs, slap_overinst *on, struct rg_held *w)
{
	w->reached = 1;
	rg_hold_walk_below(op, on, &w->hold);
	/* overlay_op_walk runs the cleanup of every callback above an overlay that stops an
	 * operation: syncprov's would go before it has seen the commit. They are kept out of
	 * its reach for the replay, less the overlay framework's own (its private data is the
	 * stack), which it frees itself. */
	w->above = op->o_callback;
	for (slap_callback **scp = &w->above; *scp != &w->cb;)
		if ((*scp)->sc_private == on->on_info)
			*scp = (*scp)->sc_next;
		else
			scp = &(*scp)->sc_next;
	op->o_callback = &w->cb;
	/* Not SLAP_CB_CONTINUE: the answer goes up after the commit. */
	return LDAP_SUCCESS;
}

void
rg_held_finish(Operation *op, struct rg_held *w, int committed)
{
	SlapReply rs = { REP_RESULT };

	if (!w->reached) {
		slap_graduate_commit_csn(op);
		return;
	}
	op->o_callback = w->above;
	if (!committed)
		w->hold.err = LDAP_OTHER;
	rg_hold_replay(op, &rs, &w->hold);
}
