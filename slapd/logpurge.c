/* Retention of the reset log, like accesslog's logpurge: records older than the configured
 * age are removed on a schedule. The chain stays verifiable because the purge first moves
 * the anchor on the log root (the number and hash of the last record it removes) and only
 * then deletes; a purge cut short leaves records at or below the anchor, which verification
 * skips. */
#include "resetguard.h"
#include "ldap_rq.h"

struct purge_scan {
	unsigned long long first;    /* lowest number old enough to go */
	unsigned long long last;     /* highest number old enough to go */
	char hash[RG_LOG_HASH_HEX];
};

static int
scan_old(Operation *op, SlapReply *rs)
{
	struct purge_scan *ps = op->o_callback->sc_private;
	Attribute *num, *hash;
	unsigned long long n;

	if (rs->sr_type != REP_SEARCH)
		return 0;
	num = attr_find(rs->sr_entry->e_attrs, rg_ad.log_number);
	hash = attr_find(rs->sr_entry->e_attrs, rg_ad.log_hash);
	if (num == NULL || hash == NULL)
		return 0;
	n = strtoull(num->a_vals[0].bv_val, NULL, 10);
	if (ps->first == 0 || n < ps->first)
		ps->first = n;
	if (n > ps->last) {
		ps->last = n;
		snprintf(ps->hash, sizeof(ps->hash), "%.*s", (int)hash->a_vals[0].bv_len,
			hash->a_vals[0].bv_val);
	}
	return 0;
}

static int
move_anchor(Operation *op, rg_info *ri, struct purge_scan *ps)
{
	Modifications mod[2];
	struct berval vals[2][2];
	SlapReply rs = { REP_RESULT };
	char num[32];

	memset(mod, 0, sizeof(mod));
	memset(vals, 0, sizeof(vals));
	snprintf(num, sizeof(num), "%llu", ps->last);
	ber_str2bv(num, 0, 0, &vals[0][0]);
	mod[0].sml_desc = rg_ad.log_anchor_number;
	ber_str2bv(ps->hash, 0, 0, &vals[1][0]);
	mod[1].sml_desc = rg_ad.log_anchor_hash;
	for (int i = 0; i < 2; i++) {
		mod[i].sml_type = mod[i].sml_desc->ad_cname;
		mod[i].sml_op = LDAP_MOD_REPLACE;
		mod[i].sml_flags = SLAP_MOD_INTERNAL;
		mod[i].sml_numvals = 1;
		mod[i].sml_values = vals[i];
		mod[i].sml_next = i == 0 ? &mod[1] : NULL;
	}
	op->o_tag = LDAP_REQ_MODIFY;
	op->o_req_dn = ri->ri_log_nbase;
	op->o_req_ndn = ri->ri_log_nbase;
	op->orm_modlist = mod;
	op->orm_no_opattrs = 1;
	op->o_bd->be_modify(op, &rs);
	return rs.sr_err;
}

static void *
purge_task(void *ctx, void *arg)
{
	struct re_s *rtask = arg;
	rg_info *ri = rtask->arg;
	Connection conn = { 0 };
	OperationBuffer opbuf;
	Operation *op;
	SlapReply rs = { REP_RESULT };
	struct purge_scan ps = { 0 };
	slap_callback cb = { NULL, scan_old, NULL, &ps };
	AttributeName attrs[3];
	char timebuf[32], fbuf[128];
	BackendDB *be = select_backend(&ri->ri_log_nbase, 0);
	int rc;

	if (be == NULL || rg_ad.log_number == NULL)
		goto out;
	/* The root holds one anchor, and the chains of several providers would need one
	 * each: with a serverID the records are kept rather than a chain left unverifiable. */
	if (rg_log_own_chain() != 0) {
		Debug(LDAP_DEBUG_ANY, "resetguard: reset log %s is not purged: purge needs "
			"serverID 0 (one provider); records are kept\n", ri->ri_log_base.bv_val);
		goto out;
	}
	connection_fake_init(&conn, &opbuf, ctx);
	op = &opbuf.ob_op;
	op->o_bd = be;
	op->o_dn = be->be_rootdn;
	op->o_ndn = be->be_rootndn;

	rg_log_format_time(timebuf, slap_get_time() - ri->ri_log_purge_age, 0);
	snprintf(fbuf, sizeof(fbuf), "(&(objectClass=rgLogRecord)(rgLogTime<=%s))", timebuf);
	memset(attrs, 0, sizeof(attrs));
	attrs[0].an_desc = rg_ad.log_number;
	attrs[0].an_name = rg_ad.log_number->ad_cname;
	attrs[1].an_desc = rg_ad.log_hash;
	attrs[1].an_name = rg_ad.log_hash->ad_cname;
	op->o_tag = LDAP_REQ_SEARCH;
	op->o_callback = &cb;
	op->o_req_dn = ri->ri_log_nbase;
	op->o_req_ndn = ri->ri_log_nbase;
	op->ors_scope = LDAP_SCOPE_ONELEVEL;
	op->ors_deref = LDAP_DEREF_NEVER;
	op->ors_tlimit = SLAP_NO_LIMIT;
	op->ors_slimit = SLAP_NO_LIMIT;
	op->ors_attrs = attrs;
	ber_str2bv(fbuf, 0, 0, &op->ors_filterstr);
	if ((op->ors_filter = str2filter_x(op, fbuf)) == NULL)
		goto out;
	be->be_search(op, &rs);
	filter_free_x(op, op->ors_filter, 1);
	if (ps.last == 0)
		goto out;

	op->o_callback = &rg_internal_cb;
	rs_reinit(&rs, REP_RESULT);
	/* The log lock orders each write of the purge with appends and velocity counts, so
	 * none of them reads the log in the middle of one. It is released between writes and
	 * so never held across the pause check, where a paused pool would wait for the
	 * threads queued on it. */
	rg_log_lock(ri);
	rc = move_anchor(op, ri, &ps);
	rg_log_unlock(ri);
	if (rc != LDAP_SUCCESS) {
		Debug(LDAP_DEBUG_ANY, "resetguard: cannot move the anchor of reset log %s "
			"(LDAP error %d); nothing purged\n", ri->ri_log_base.bv_val, rc);
		goto out;
	}
	op->o_tag = LDAP_REQ_DELETE;
	/* From the oldest record found, not from the anchor: a purge cut short earlier left
	 * records at or below the anchor, and this one takes them too. */
	for (unsigned long long n = ps.first; n <= ps.last && !slapd_shutdown; n++) {
		struct berval ndn;

		rg_log_record_ndn(op, ri, n, &ndn);
		op->o_req_dn = ndn;
		op->o_req_ndn = ndn;
		rs_reinit(&rs, REP_RESULT);
		rg_log_lock(ri);
		be->be_delete(op, &rs);
		rg_log_unlock(ri);
		op->o_tmpfree(ndn.bv_val, op->o_tmpmemctx);
		ldap_pvt_thread_pool_pausecheck(&connection_pool);
	}
	Debug(LDAP_DEBUG_STATS, "resetguard: purged reset log %s up to change %llu\n",
		ri->ri_log_base.bv_val, ps.last);
out:
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	ldap_pvt_runqueue_stoptask(&slapd_rq, rtask);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	return NULL;
}

int
rg_log_purge_start(BackendDB *be, rg_info *ri)
{
	if (ri->ri_log_purge_age == 0 || ri->ri_log_purge_task != NULL)
		return 0;
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	ri->ri_log_purge_task = ldap_pvt_runqueue_insert(&slapd_rq, ri->ri_log_purge_interval,
		purge_task, ri, "resetguard_log_purge", ri->ri_log_base.bv_val);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	return ri->ri_log_purge_task != NULL ? 0 : -1;
}

void
rg_log_purge_stop(rg_info *ri)
{
	if (ri->ri_log_purge_task == NULL)
		return;
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	if (ldap_pvt_runqueue_isrunning(&slapd_rq, ri->ri_log_purge_task))
		ldap_pvt_runqueue_stoptask(&slapd_rq, ri->ri_log_purge_task);
	ldap_pvt_runqueue_remove(&slapd_rq, ri->ri_log_purge_task);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	ri->ri_log_purge_task = NULL;
}
