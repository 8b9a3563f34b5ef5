/* After the backend answers an allowed change: record its outcome on the change's reset
 * log record (a refused change also loses its sealed password there), and turn the
 * backend's refusal of a second use of one token into the replay it is. */
#include "resetguard.h"

#define REPLAYED_TEXT \
	"proofing token was already used: each token allows one reset " \
	"(resetguard rule evidence-replayed)"

/* State carried to the response: the outcome to record and what to send on. */
struct rg_pending {
	slap_callback cb;
	rg_info *ri;
	int token_added;
	int pwdexop;
	int replayed;                       /* the Password Modify response needs its text */
	struct berval record_ndn;
};

static int
rg_response(Operation *op, SlapReply *rs)
{
	struct rg_pending *p = op->o_callback->sc_private;
	int applied = rs->sr_err == LDAP_SUCCESS;

	/* back-mdb clears sr_text after sending a Modify's result; for Password Modify that
	 * result is swallowed and the client's response is built later, so this callback stays
	 * on the operation to put the replay text back into that response. */
	if (rs->sr_type == REP_EXTENDED && p->replayed) {
		op->o_callback = p->cb.sc_next;
		rs->sr_err = LDAP_INSUFFICIENT_ACCESS;
		rs->sr_text = REPLAYED_TEXT;
		op->o_tmpfree(p, op->o_tmpmemctx);
		return SLAP_CB_CONTINUE;
	}
	if (rs->sr_type != REP_RESULT)
		return SLAP_CB_CONTINUE;
	/* The same token used twice at once: the backend refused the second rgUsedToken. */
	if (p->token_added && rs->sr_err == LDAP_TYPE_OR_VALUE_EXISTS && rs->sr_text != NULL &&
	    strstr(rs->sr_text, "rgUsedToken") != NULL) {
		rs->sr_err = LDAP_INSUFFICIENT_ACCESS;
		rs->sr_text = REPLAYED_TEXT;
		p->replayed = p->pwdexop;
	}
	if (!BER_BVISNULL(&p->record_ndn))
		rg_log_outcome(op, p->ri, &p->record_ndn, applied, rs->sr_text);
	if (!BER_BVISNULL(&p->record_ndn))
		op->o_tmpfree(p->record_ndn.bv_val, op->o_tmpmemctx);
	BER_BVZERO(&p->record_ndn);
	if (!p->replayed) {
		op->o_callback = p->cb.sc_next;
		op->o_tmpfree(p, op->o_tmpmemctx);
	}
	return SLAP_CB_CONTINUE;
}

void
rg_outcome_expect(Operation *op, rg_info *ri, struct berval *record_ndn, int token_added,
	int pwdexop)
{
	struct rg_pending *p = op->o_tmpcalloc(1, sizeof(*p), op->o_tmpmemctx);

	p->cb.sc_response = rg_response;
	p->cb.sc_private = p;
	p->cb.sc_next = op->o_callback;
	p->ri = ri;
	p->token_added = token_added;
	p->pwdexop = pwdexop;
	p->record_ndn = *record_ndn;
	BER_BVZERO(record_ndn);
	op->o_callback = &p->cb;
}
