/* resetguard's own writes (log records, outcomes, anchors, purges) are internal operations
 * with a marker callback, so the log guard can tell them apart from any client's write —
 * the log database's rootdn included, since a client cannot present this pointer. */
#include "resetguard.h"

slap_callback rg_internal_cb = { NULL, slap_null_cb, NULL, NULL };

void
rg_internal_op_init(Operation *op2, Operation *op, BackendDB *be, void **cids)
{
	memset(op2, 0, sizeof(*op2));
	op2->o_hdr = op->o_hdr;
	op2->o_bd = be;
	op2->o_dn = be->be_rootdn;
	op2->o_ndn = be->be_rootndn;
	op2->o_callback = &rg_internal_cb;
	/* Other overlays look at o_controls; give them an empty set, not the client's. */
	op2->o_controls = cids;
}

int
rg_is_internal(Operation *op)
{
	for (slap_callback *sc = op->o_callback; sc != NULL; sc = sc->sc_next)
		if (sc == &rg_internal_cb)
			return 1;
	return 0;
}
