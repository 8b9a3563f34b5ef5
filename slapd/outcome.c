/* After the backend answers an allowed change: record its outcome (and, for syncd, the
 * sealed new password) on the change's reset log record, and turn the backend's refusal of
 * a second use of one token into the replay it is. */
#include "resetguard.h"

#include <openssl/crypto.h>

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
	struct berval sealed;               /* OPENSSL_malloc'd DER, or empty */
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
		rg_log_outcome(op, p->ri, &p->record_ndn, applied, rs->sr_text,
			BER_BVISNULL(&p->sealed) ? NULL : &p->sealed);
	OPENSSL_free(p->sealed.bv_val);
	BER_BVZERO(&p->sealed);
	if (!BER_BVISNULL(&p->record_ndn))
		op->o_tmpfree(p->record_ndn.bv_val, op->o_tmpmemctx);
	BER_BVZERO(&p->record_ndn);
	if (!p->replayed) {
		op->o_callback = p->cb.sc_next;
		op->o_tmpfree(p, op->o_tmpmemctx);
	}
	return SLAP_CB_CONTINUE;
}

/* The new password is sealed to syncd before the backend runs, so no copy of the
 * cleartext outlives this operation's own buffers; the sealed form reaches the log only if
 * the backend applies the change. */
static void
seal_for_syncd(Operation *op, rg_info *ri, struct berval *secret, struct berval *sealed)
{
	unsigned char *der;
	size_t len;
	char err[256] = "";

	BER_BVZERO(sealed);
	if (ri->ri_seal_cert == NULL || secret == NULL || BER_BVISEMPTY(secret))
		return;
	if (rg_seal(ri->ri_seal_cert, (unsigned char *)secret->bv_val, secret->bv_len, &der,
	    &len, err, sizeof(err)) != 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s; the legacy stores will not receive "
			"this password\n", op->o_log_prefix, err);
		return;
	}
	sealed->bv_val = (char *)der;
	sealed->bv_len = len;
}

void
rg_outcome_expect(Operation *op, rg_info *ri, struct berval *record_ndn, int token_added,
	int pwdexop, struct berval *secret)
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
	seal_for_syncd(op, ri, secret, &p->sealed);
	op->o_callback = &p->cb;
}
