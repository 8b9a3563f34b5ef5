/* rglog: the overlay that keeps a reset log append-only. It sits on the log database and
 * lets through resetguard's own writes, replication, the creation of the log's root entry,
 * and exactly two kinds of client write: an auditor's verdict on a record that awaits
 * review (the overlay itself records who and when), and syncd's propagation status and
 * delivery claim.
 * Everything else is refused, the log database's rootdn included: no entry that resetguard
 * did not write can stand among the records, where a purge, a head search, a velocity count
 * or an auditor might take it for one. Offline tools (slapadd, slapmodify) bypass every
 * overlay; the hash chain and the auditors' checkpoints are what reveal their edits.
 *
 * In atomic mode the log is a subtree of the database resetguard governs: rglog then keeps
 * that subtree, by the same rules, and leaves the accounts to resetguard. */
#include "resetguard.h"
#include "slap-config.h"

static slap_overinst rglog;

static int
guard_refuse(Operation *op, SlapReply *rs, int code, const char *text)
{
	Debug(LDAP_DEBUG_ANY, "%s rglog: refused a write of \"%s\" by \"%s\": %s\n",
		op->o_log_prefix, op->o_req_ndn.bv_val, op->o_ndn.bv_val, text);
	rs->sr_err = code;
	rs->sr_text = text;
	send_ldap_result(op, rs);
	return rs->sr_err;
}

static int
trusted(Operation *op)
{
	return rg_is_internal(op) || SLAPD_SYNC_IS_SYNCCONN(op->o_connid) ||
		be_shadow_update(op);
}

/* The log's base in this database when resetguard governs it too (atomic mode); NULL when
 * the whole database is the log. */
static struct berval *
log_subtree(Operation *op)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;

	for (slap_overinst *o = on->on_info->oi_list; o != NULL; o = o->on_next)
		if (strcmp(o->on_bi.bi_type, "resetguard") == 0 && o->on_bi.bi_private != NULL)
			return &((rg_info *)o->on_bi.bi_private)->ri_log_nbase;
	return NULL;
}

static int
in_log(Operation *op, struct berval *ndn)
{
	struct berval *base = log_subtree(op);

	return base == NULL || dnIsSuffix(ndn, base);
}

static int
is_log_root(Operation *op)
{
	struct berval *base = log_subtree(op);

	return base == NULL ? be_issuffix(op->o_bd, &op->o_req_ndn) :
		dn_match(&op->o_req_ndn, base);
}

/* Proxied authorization would let whoever may proxy act as an auditor or as syncd. */
static int
proxied(Operation *op)
{
	return op->o_conn != NULL && !dn_match(&op->o_conn->c_ndn, &op->o_ndn);
}

/* resetguard's group-committed writes (groupcommit.c) wait here for their commit. */
static int
held(Operation *op, SlapReply *rs)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	struct rg_held *w = rg_held_pending(op, on);

	return w == NULL ? SLAP_CB_CONTINUE : rg_held_below(op, rs, on, w);
}

static int
rglog_op_add(Operation *op, SlapReply *rs)
{
	if (rg_is_internal(op))
		return held(op, rs);
	if (!in_log(op, &op->o_req_ndn))
		return SLAP_CB_CONTINUE;
	if (trusted(op)) {
		/* A record of another provider's chain, arriving by syncrepl. */
		if (!rg_is_internal(op) && SLAPD_SYNC_IS_SYNCCONN(op->o_connid))
			rg_log_replicated(op, op->ora_e);
		return SLAP_CB_CONTINUE;
	}
	/* The root entry is the one entry a person creates: the log's base itself, an
	 * rgLogRoot with no anchor yet. */
	if (is_log_root(op) &&
	    is_entry_objectclass(op->ora_e, rg_ad.oc_log_root, 0) &&
	    attr_find(op->ora_e->e_attrs, rg_ad.log_anchor_number) == NULL &&
	    attr_find(op->ora_e->e_attrs, rg_ad.log_anchor_hash) == NULL)
		return SLAP_CB_CONTINUE;
	return guard_refuse(op, rs, LDAP_UNWILLING_TO_PERFORM,
		"only resetguard writes entries in the reset log database; the one entry a "
		"client may add is its root, an rgLogRoot without an anchor");
}

static int
rglog_op_delete(Operation *op, SlapReply *rs)
{
	if (trusted(op) || !in_log(op, &op->o_req_ndn))
		return SLAP_CB_CONTINUE;
	return guard_refuse(op, rs, LDAP_UNWILLING_TO_PERFORM,
		"the reset log is append-only: entries are removed only by resetguard's purge");
}

static int
rglog_op_modrdn(Operation *op, SlapReply *rs)
{
	/* Nothing moves into the log either. */
	if (trusted(op) || (!in_log(op, &op->o_req_ndn) && (op->orr_nnewSup == NULL ||
	    !in_log(op, op->orr_nnewSup))))
		return SLAP_CB_CONTINUE;
	return guard_refuse(op, rs, LDAP_UNWILLING_TO_PERFORM, "reset log entries cannot be renamed");
}

static void
append_replace(Modifications ***tail, AttributeDescription *ad, struct berval *v)
{
	Modifications *m = ch_calloc(1, sizeof(*m));

	m->sml_desc = ad;
	m->sml_type = ad->ad_cname;
	m->sml_op = LDAP_MOD_REPLACE;
	m->sml_flags = SLAP_MOD_INTERNAL;
	m->sml_numvals = 1;
	m->sml_values = ch_calloc(2, sizeof(struct berval));
	ber_dupbv(&m->sml_values[0], v);
	m->sml_nvalues = ch_calloc(2, sizeof(struct berval));
	if (attr_normalize_one(ad, v, &m->sml_nvalues[0], NULL) != LDAP_SUCCESS)
		ber_dupbv(&m->sml_nvalues[0], v);
	**tail = m;
	*tail = &m->sml_next;
}

/* The verdict is the auditor's; who reviewed and when are the overlay's to say. */
static int
review(Operation *op, SlapReply *rs, slap_overinst *on)
{
	BackendInfo *bi = op->o_bd->bd_info;
	Entry *e = NULL;
	Attribute *a;
	const char *problem = NULL;
	Modifications **tail;
	char timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	struct berval now = { sizeof(timebuf), timebuf };
	time_t t = slap_get_time();

	if (BER_BVISEMPTY(&op->o_ndn))
		return guard_refuse(op, rs, LDAP_INSUFFICIENT_ACCESS,
			"an anonymous client cannot review a reset log record: bind as an auditor");
	if (proxied(op))
		return guard_refuse(op, rs, LDAP_INSUFFICIENT_ACCESS,
			"a review verdict cannot be given through proxied authorization: bind as "
			"the auditor who reviewed the record");
	op->o_bd->bd_info = (BackendInfo *)on->on_info;
	if (be_entry_get_rw(op, &op->o_req_ndn, NULL, NULL, 0, &e) == LDAP_SUCCESS && e != NULL) {
		if (!is_entry_objectclass(e, rg_ad.oc_log_record, 0))
			problem = "only reset log records can be reviewed";
		else if ((a = attr_find(e->e_attrs, rg_ad.log_review_required)) == NULL ||
		    a->a_numvals == 0 || strcmp(a->a_vals[0].bv_val, "TRUE") != 0)
			problem = "this reset log record does not require review";
		else if (attr_find(e->e_attrs, rg_ad.log_review_verdict) != NULL)
			problem = "this reset log record was already reviewed; a verdict is final";
		be_entry_release_r(op, e);
	}
	op->o_bd->bd_info = bi;
	if (e == NULL)
		return SLAP_CB_CONTINUE;    /* the backend answers noSuchObject */
	if (problem != NULL)
		return guard_refuse(op, rs, LDAP_CONSTRAINT_VIOLATION, problem);

	/* An add, never a replace: the backend's single-value check then makes "no verdict
	 * yet" and "this verdict" one atomic step, so concurrent reviewers cannot overwrite
	 * each other. */
	for (tail = &op->orm_modlist; *tail != NULL; tail = &(*tail)->sml_next)
		if ((*tail)->sml_desc == rg_ad.log_review_verdict)
			(*tail)->sml_op = LDAP_MOD_ADD;
	append_replace(&tail, rg_ad.log_reviewer, &op->o_ndn);
	slap_timestamp(&t, &now);
	append_replace(&tail, rg_ad.log_review_time, &now);
	return SLAP_CB_CONTINUE;
}

/* What syncd writes onto a record: delivery to targets, hooks, and alert events. */
static int
is_status(AttributeDescription *ad)
{
	return ad == rg_ad.log_target_status || ad == rg_ad.log_hook_status ||
		ad == rg_ad.log_alert_status;
}

/* A claim is set whole (a replace with one value) or dropped whole (a delete of the
 * attribute): an add could stand next to another instance's claim. */
static const char *
claim_mod_problem(const Modifications *m)
{
	if (m->sml_op == LDAP_MOD_DELETE && m->sml_values == NULL)
		return NULL;
	if (m->sml_op != LDAP_MOD_REPLACE || m->sml_values == NULL ||
	    BER_BVISNULL(&m->sml_values[0]) || !BER_BVISNULL(&m->sml_values[1]))
		return "a delivery claim is replaced with one value or deleted whole";
	if (!rg_log_claim_ok(m->sml_values[0].bv_val, m->sml_values[0].bv_len))
		return "a delivery claim has the form \"INSTANCE EXPIRY\": an instance id (letters, "
			"digits, _.:@-, at most 64) and a GeneralizedTime such as 20260101120000Z";
	return NULL;
}

static int
status_write(Operation *op, SlapReply *rs)
{
	/* The log's rootdn passes every ACL: were it allowed, it could mark any record
	 * delivered. syncd writes as an identity of its own, which the ACLs name. */
	if (be_isroot(op) || proxied(op))
		return guard_refuse(op, rs, LDAP_UNWILLING_TO_PERFORM,
			"propagation status and delivery claims are written by syncd's own "
			"identity, not by the log database's rootdn nor through proxied "
			"authorization");
	for (Modifications *m = op->orm_modlist; m != NULL; m = m->sml_next) {
		const char *problem;

		if (m->sml_desc == rg_ad.log_claim && (problem = claim_mod_problem(m)) != NULL)
			return guard_refuse(op, rs, LDAP_CONSTRAINT_VIOLATION, problem);
		if (!is_status(m->sml_desc))
			continue;
		for (int i = 0; m->sml_op != LDAP_MOD_DELETE && m->sml_values != NULL &&
		     !BER_BVISNULL(&m->sml_values[i]); i++)
			if (!rg_log_status_ok(m->sml_values[i].bv_val, m->sml_values[i].bv_len))
				return guard_refuse(op, rs, LDAP_CONSTRAINT_VIOLATION,
					"a propagation status value has the form \"NAME STATUS "
					"attempts=N time=T[ error=TEXT]\"");
	}
	return SLAP_CB_CONTINUE;    /* the ACLs say who */
}

static int
rglog_op_modify(Operation *op, SlapReply *rs)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	int verdicts = 0, status = 0, other = 0;

	if (rg_is_internal(op))
		return held(op, rs);
	if (trusted(op) || !in_log(op, &op->o_req_ndn))
		return SLAP_CB_CONTINUE;
	for (Modifications *m = op->orm_modlist; m != NULL; m = m->sml_next) {
		/* modifiersName and modifyTimestamp, added by the frontend */
		if (m->sml_flags & SLAP_MOD_INTERNAL)
			continue;
		if (m->sml_desc == rg_ad.log_review_verdict && m->sml_op != LDAP_MOD_DELETE &&
		    m->sml_numvals == 1)
			verdicts++;
		else if (is_status(m->sml_desc) || m->sml_desc == rg_ad.log_claim ||
		    (m->sml_desc == rg_ad.log_sealed && m->sml_op == LDAP_MOD_DELETE))
			status++;
		else
			other++;
	}
	if (other == 0 && verdicts == 1 && status == 0)
		return review(op, rs, on);
	if (other == 0 && verdicts == 0 && status > 0)
		return status_write(op, rs);
	return guard_refuse(op, rs, LDAP_UNWILLING_TO_PERFORM,
		"reset log records are immutable: a client may only add one rgLogReviewVerdict "
		"to a record awaiting review, or write propagation status and delivery claims and "
		"remove the sealed password");
}

static int
rglog_db_open(BackendDB *be, ConfigReply *cr)
{
	BackendDB *db;
	char err[200];

	if (rg_schema_resolve(err, sizeof(err)) != 0) {
		snprintf(cr->msg, sizeof(cr->msg), "rglog: %s", err);
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	/* The log's own database (separate mode); in atomic mode resetguard does it. */
	db = select_backend(&be->be_nsuffix[0], 0);
	if (db != NULL && !overlay_is_inst(db, "resetguard"))
		rg_repl_resend(be, (slap_overinst *)be->bd_info);
	return 0;
}

int
rg_rglog_register(void)
{
	rglog.on_bi.bi_type = "rglog";
	rglog.on_bi.bi_flags = SLAPO_BFLAG_SINGLE;
	rglog.on_bi.bi_db_open = rglog_db_open;
	rglog.on_bi.bi_op_add = rglog_op_add;
	rglog.on_bi.bi_op_delete = rglog_op_delete;
	rglog.on_bi.bi_op_modrdn = rglog_op_modrdn;
	rglog.on_bi.bi_op_modify = rglog_op_modify;
	return overlay_register(&rglog);
}
