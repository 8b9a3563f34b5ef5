/* Settling what a crash left pending. A record is written before the change it records, and
 * its outcome after: slapd stopped in between leaves it "pending" for ever, with the change
 * applied or not, and an applied password that never reaches syncd. The account tells which:
 * the write that sets a password also sets rgLastResetChange to its record's number. Before
 * the first record of a run, every pending record is settled: applied (its sealed password,
 * written with it, then reaches syncd) or failed (the sealed password is removed). One pass
 * over the log per start; an rgLogOutcome index makes it cheap on a large log. */
#include "resetguard.h"

#include "ldap_rq.h"

struct pending_record {
	unsigned long long number;
	struct berval dn, target;
};

struct settle_scan {
	struct pending_record *v;
	size_t n, cap;
};

static int
collect(Operation *op, SlapReply *rs)
{
	struct settle_scan *ss = op->o_callback->sc_private;
	Attribute *num, *target;
	struct pending_record *p;

	if (rs->sr_type != REP_SEARCH || rs->sr_entry == NULL)
		return 0;
	num = attr_find(rs->sr_entry->e_attrs, rg_ad.log_number);
	target = attr_find(rs->sr_entry->e_attrs, rg_ad.log_target);
	if (num == NULL || target == NULL)
		return 0;
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? 2 * ss->cap : 16;
		ss->v = ch_realloc(ss->v, ss->cap * sizeof(*ss->v));
	}
	p = &ss->v[ss->n++];
	p->number = strtoull(num->a_vals[0].bv_val, NULL, 10);
	ber_dupbv(&p->dn, &rs->sr_entry->e_nname);
	ber_dupbv(&p->target, &target->a_nvals[0]);
	return 0;
}

/* Whether the account's last reset is this record's: then the change committed. */
static int
was_applied(Operation *op, struct pending_record *p)
{
	BackendDB *saved = op->o_bd;
	Entry *e = NULL;
	Attribute *a;
	int applied = 0;

	if ((op->o_bd = select_backend(&p->target, 0)) != NULL &&
	    be_entry_get_rw(op, &p->target, NULL, NULL, 0, &e) == LDAP_SUCCESS && e != NULL) {
		a = attr_find(e->e_attrs, rg_ad.last_change);
		applied = a != NULL && strtoull(a->a_vals[0].bv_val, NULL, 10) == p->number;
		be_entry_release_r(op, e);
	}
	op->o_bd = saved;
	return applied;
}

/* Settles every pending record; the caller holds the log lock, and so no record of this
 * run exists yet: each pending one was left by an earlier run. */
static void
settle(Operation *op, rg_info *ri)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	BackendDB *log_be = select_backend(&ri->ri_log_nbase, 0);
	struct settle_scan ss = { 0 };
	slap_callback cb = { NULL, collect, NULL, &ss };
	char range[128], filter[192];
	Operation op2;
	SlapReply rs2 = { REP_RESULT };
	size_t applied = 0;

	if (log_be == NULL || rg_ad.log_number == NULL)
		return;
	/* Only this server's chain: another provider's pending record is its own to settle,
	 * and its outcome arrives by replication. */
	rg_log_chain_filter(rg_log_own_chain(), range, sizeof(range));
	snprintf(filter, sizeof(filter), "(&(objectClass=rgLogRecord)(rgLogOutcome=pending)%s)",
		range);
	rg_internal_op_init(&op2, op, log_be, cids);
	op2.o_callback = &cb;
	op2.o_tag = LDAP_REQ_SEARCH;
	op2.o_req_dn = ri->ri_log_nbase;
	op2.o_req_ndn = ri->ri_log_nbase;
	op2.ors_scope = LDAP_SCOPE_ONELEVEL;
	op2.ors_deref = LDAP_DEREF_NEVER;
	op2.ors_tlimit = SLAP_NO_LIMIT;
	op2.ors_slimit = SLAP_NO_LIMIT;
	op2.ors_attrs = NULL;
	ber_str2bv(filter, 0, 0, &op2.ors_filterstr);
	if ((op2.ors_filter = str2filter_x(&op2, filter)) == NULL)
		return;
	log_be->be_search(&op2, &rs2);
	filter_free_x(&op2, op2.ors_filter, 1);
	ri->ri_settled = rs2.sr_err == LDAP_SUCCESS;
	for (size_t i = 0; i < ss.n; i++) {
		int ok = was_applied(op, &ss.v[i]);

		applied += ok;
		rg_log_outcome(op, ri, &ss.v[i].dn, ok, ok ? NULL :
			"not applied: slapd stopped before the change committed");
		Debug(LDAP_DEBUG_ANY, "resetguard: settled reset log record %llu of \"%s\", left "
			"pending by a stop: %s\n", ss.v[i].number, ss.v[i].target.bv_val,
			ok ? "applied" : "failed");
		ch_free(ss.v[i].dn.bv_val);
		ch_free(ss.v[i].target.bv_val);
	}
	ch_free(ss.v);
}

/* Before this run's first record, whoever comes first: the first judged change or the task
 * below, so that no record left by a crash waits for the next change to reach syncd. */
void
rg_log_settle(Operation *op, rg_info *ri)
{
	if (!ri->ri_settled)
		settle(op, ri);
}

static void *
settle_task(void *ctx, void *arg)
{
	struct re_s *rtask = arg;
	rg_info *ri = rtask->arg;
	Connection conn = { 0 };
	OperationBuffer opbuf;

	connection_fake_init(&conn, &opbuf, ctx);
	rg_log_lock(ri);
	rg_log_settle(&opbuf.ob_op, ri);
	rg_log_unlock(ri);
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	ldap_pvt_runqueue_stoptask(&slapd_rq, rtask);
	ldap_pvt_runqueue_remove(&slapd_rq, rtask);
	ri->ri_settle_task = NULL;
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	return NULL;
}

int
rg_log_settle_start(rg_info *ri)
{
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	ri->ri_settle_task = ldap_pvt_runqueue_insert(&slapd_rq, 1, settle_task, ri,
		"resetguard_log_settle", ri->ri_log_base.bv_val);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	return ri->ri_settle_task != NULL ? 0 : -1;
}
/* A task that has not run yet must not outlive the configuration it points to. */
void
rg_log_settle_stop(rg_info *ri)
{
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	if (ri->ri_settle_task != NULL) {
		if (ldap_pvt_runqueue_isrunning(&slapd_rq, ri->ri_settle_task))
			ldap_pvt_runqueue_stoptask(&slapd_rq, ri->ri_settle_task);
		ldap_pvt_runqueue_remove(&slapd_rq, ri->ri_settle_task);
		ri->ri_settle_task = NULL;
	}
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
}
