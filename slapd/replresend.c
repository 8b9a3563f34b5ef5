/* After a crash, the changes that syncprov never announced.
 *
 * syncprov keeps contextCSN in memory and stores it only at a checkpoint, a clean shutdown,
 * or when a consumer's cookie is written; on a backend that may stop uncleanly it searches
 * at start-up for entries newer than the stored value, but back-mdb calls itself always
 * clean. After a kill -9 syncprov so starts from a stale contextCSN: a provider or consumer
 * whose cookie is already that far is told nothing changed, and what committed after it
 * (resets, their records, syncd's statuses) never reaches it; they keep older passwords for
 * good (seen: a burst on provider 1 killed with SIGKILL left provider 2 four accounts and six
 * records short, in atomic mode).
 * At db_open, before slapd listens, the overlay compares the stored contextCSN of this
 * server with the entries: if any of this server's is newer, it writes the database's
 * suffix entry again, unchanged but for a new entryCSN, so that syncprov's contextCSN passes
 * them all and every consumer refreshes from its cookie, receiving each such entry with its
 * own entryCSN (replication's conflict resolution then holds as for any change). One scan of
 * the database at each start; nothing is written after a clean stop. */
#include "resetguard.h"

struct rg_resend {
	BackendDB *be;                      /* the database itself, with its overlays */
	Operation *op;
	char csn[LDAP_PVT_CSNSTR_BUFSIZE];  /* this server's stored contextCSN; "" for none */
	int newer;                          /* entries of this server newer than that */
};

/* This server's value of the stored contextCSN. */
static void
stored_csn(Operation *op, slap_overinst *on, struct rg_resend *rr)
{
	Entry *e = NULL;
	Attribute *a;

	if (overlay_entry_get_ov(op, &rr->be->be_nsuffix[0], NULL, slap_schema.si_ad_contextCSN,
	    0, &e, on) != LDAP_SUCCESS || e == NULL)
		return;
	if ((a = attr_find(e->e_attrs, slap_schema.si_ad_contextCSN)) != NULL)
		for (unsigned i = 0; i < a->a_numvals; i++)
			if (slap_parse_csn_sid(&a->a_nvals[i]) == slap_serverID)
				snprintf(rr->csn, sizeof(rr->csn), "%s", a->a_nvals[i].bv_val);
	overlay_entry_release_ov(op, e, 0, on);
}

static int
count_newer(Operation *op, SlapReply *rs)
{
	struct rg_resend *rr = op->o_callback->sc_private;
	Attribute *a;

	if (rs->sr_type == REP_SEARCH && rs->sr_entry != NULL &&
	    (a = attr_find(rs->sr_entry->e_attrs, slap_schema.si_ad_entryCSN)) != NULL &&
	    a->a_numvals > 0 && slap_parse_csn_sid(&a->a_nvals[0]) == slap_serverID &&
	    strcmp(a->a_nvals[0].bv_val, rr->csn) > 0)
		rr->newer++;
	return 0;
}

/* Run on a thread of its own, as syncprov runs its own search at start-up (ITS#3456: the
 * main thread's stack may be too small for a search). */
static void *
find_newer(void *arg)
{
	struct rg_resend *rr = arg;
	void *cids[SLAP_MAX_CIDS] = { NULL };
	slap_callback cb = { NULL, count_newer, NULL, rr };
	AttributeName attrs[2];
	Operation op2;
	SlapReply rs2 = { REP_RESULT };
	char filter[LDAP_PVT_CSNSTR_BUFSIZE + 16];

	snprintf(filter, sizeof(filter), "(entryCSN>=%s)", rr->csn);
	memset(attrs, 0, sizeof(attrs));
	attrs[0].an_desc = slap_schema.si_ad_entryCSN;
	attrs[0].an_name = slap_schema.si_ad_entryCSN->ad_cname;
	rg_internal_op_init(&op2, rr->op, rr->be, cids);
	op2.o_callback = &cb;
	op2.o_tag = LDAP_REQ_SEARCH;
	op2.o_req_dn = rr->be->be_nsuffix[0];
	op2.o_req_ndn = rr->be->be_nsuffix[0];
	op2.ors_scope = LDAP_SCOPE_SUBTREE;
	op2.ors_deref = LDAP_DEREF_NEVER;
	op2.ors_tlimit = SLAP_NO_LIMIT;
	op2.ors_slimit = SLAP_NO_LIMIT;
	op2.ors_attrs = attrs;
	ber_str2bv(filter, 0, 0, &op2.ors_filterstr);
	if ((op2.ors_filter = str2filter_x(&op2, filter)) == NULL)
		return NULL;
	rr->be->be_search(&op2, &rs2);
	filter_free_x(&op2, op2.ors_filter, 1);
	if (rs2.sr_err != LDAP_SUCCESS)
		Debug(LDAP_DEBUG_ANY, "resetguard: the search of %s for changes newer than "
			"contextCSN %s failed (LDAP error %d): if slapd stopped uncleanly, some may not "
			"replicate\n", rr->be->be_suffix[0].bv_val, rr->csn, rs2.sr_err);
	return NULL;
}

/* The suffix entry written again with no change but its operational attributes. */
static int
touch_suffix(struct rg_resend *rr)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	Operation op2;
	SlapReply rs2 = { REP_RESULT };

	rg_internal_op_init(&op2, rr->op, rr->be, cids);
	op2.o_tag = LDAP_REQ_MODIFY;
	op2.o_req_dn = rr->be->be_nsuffix[0];
	op2.o_req_ndn = rr->be->be_nsuffix[0];
	op2.orm_modlist = NULL;
	slap_mods_opattrs(&op2, &op2.orm_modlist, 1);
	op2.orm_no_opattrs = 1;
	rr->be->be_modify(&op2, &rs2);
	slap_mods_free(op2.orm_modlist, 1);
	if (!BER_BVISNULL(&op2.o_csn))
		rr->op->o_tmpfree(op2.o_csn.bv_val, rr->op->o_tmpmemctx);
	return rs2.sr_err;
}

void
rg_repl_resend(BackendDB *be, slap_overinst *on)
{
	struct rg_resend rr;
	Connection conn = { 0 };
	OperationBuffer opbuf;
	ldap_pvt_thread_t tid;
	int rc;

	memset(&rr, 0, sizeof(rr));
	/* be is the copy the overlays open with; the database itself says what is on it. */
	rr.be = select_backend(&be->be_nsuffix[0], 0);
	if (!(slapMode & SLAP_SERVER_MODE) || rr.be == NULL || !overlay_is_inst(rr.be, "syncprov"))
		return;
	connection_fake_init2(&conn, &opbuf, ldap_pvt_thread_pool_context(), 0);
	rr.op = &opbuf.ob_op;
	rr.op->o_bd = be;
	rr.op->o_dn = be->be_rootdn;
	rr.op->o_ndn = be->be_rootndn;
	stored_csn(rr.op, on, &rr);
	/* Without a stored value syncprov makes one from the database itself. */
	if (rr.csn[0] == '\0' || ldap_pvt_thread_create(&tid, 0, find_newer, &rr) != 0)
		return;
	ldap_pvt_thread_join(tid, NULL);
	if (rr.newer == 0)
		return;
	rc = touch_suffix(&rr);
	Debug(LDAP_DEBUG_ANY, "resetguard: %d entries of %s are newer than its stored contextCSN "
		"%s (slapd stopped uncleanly): %s\n", rr.newer, be->be_suffix[0].bv_val, rr.csn,
		rc == LDAP_SUCCESS ? "its suffix entry was written again, so that consumers "
		"refresh past them" : "writing its suffix entry again failed; they may not "
		"replicate");
}
