/* Writing the reset log: one record per attempted password change, chained by hash.
 *
 * Records are appended under a mutex (held by the caller, see rg_log_lock) that covers
 * numbering, the timestamp and the hash, so the chain order is the order of change numbers
 * and of times. The head (last number and
 * hash) is kept in memory; after a restart it is found again by probing record DNs, which
 * costs O(log n) lookups and no extra write per record. With several providers each
 * appends to its own chain (see RG_LOG_CHAIN_SHIFT): records of the others arrive by
 * replication and are never numbered or chained here. */
#include "resetguard.h"

#include <sys/time.h>

/* Built as a DN and normalized by slapd, never assembled in normalized form by hand: the
 * normalizer (an integer RDN among others) has the last word on what the backend indexes. */
static int
record_dn(Operation *op, rg_info *ri, unsigned long long n, struct berval *dn,
	struct berval *ndn, void *memctx)
{
	struct berval tmp;

	tmp.bv_len = snprintf(NULL, 0, "rgLogChangeNumber=%llu,%s", n, ri->ri_log_nbase.bv_val);
	tmp.bv_val = op->o_tmpalloc(tmp.bv_len + 1, op->o_tmpmemctx);
	snprintf(tmp.bv_val, tmp.bv_len + 1, "rgLogChangeNumber=%llu,%s", n,
		ri->ri_log_nbase.bv_val);
	if (dn != NULL)
		ber_dupbv_x(dn, &tmp, memctx);
	if (dnNormalize(0, NULL, NULL, &tmp, ndn, memctx) != LDAP_SUCCESS) {
		op->o_tmpfree(tmp.bv_val, op->o_tmpmemctx);
		return -1;
	}
	op->o_tmpfree(tmp.bv_val, op->o_tmpmemctx);
	return 0;
}

unsigned
rg_log_own_chain(void)
{
	/* slapd keeps its serverID within 0..SLAP_SYNC_SID_MAX (0xfff): no clamp needed,
	 * but a chain outside the range would overlap the next one's numbers. */
	return slap_serverID > 0 && slap_serverID <= RG_LOG_CHAIN_MAX ? (unsigned)slap_serverID :
		0;
}

void
rg_log_chain_filter(unsigned chain, char *buf, size_t len)
{
	unsigned long long lo = rg_log_chain_base(chain) + 1,
		hi = rg_log_chain_base(chain + 1) - 1;

	snprintf(buf, len, "(&(rgLogChangeNumber>=%llu)(rgLogChangeNumber<=%llu))", lo, hi);
}

int
rg_log_in_governed_db(Operation *op, rg_info *ri)
{
	BackendDB *log_be = select_backend(&ri->ri_log_nbase, 0);

	/* op->o_bd is the overlay's copy of its database: the suffix array is shared. */
	return log_be != NULL && log_be->be_nsuffix == op->o_bd->be_nsuffix;
}

void
rg_log_lock(rg_info *ri)
{
	ldap_pvt_thread_mutex_lock(&ri->ri_log_mutex);
}

void
rg_log_unlock(rg_info *ri)
{
	ldap_pvt_thread_mutex_unlock(&ri->ri_log_mutex);
}

void
rg_log_record_ndn(Operation *op, rg_info *ri, unsigned long long n, struct berval *ndn)
{
	if (record_dn(op, ri, n, NULL, ndn, op->o_tmpmemctx) != 0)
		ber_str2bv_x("", 0, 1, ndn, op->o_tmpmemctx);
}

/* Reads one value of ad from the entry at ndn in the log database; 0 if the entry exists
 * and is of class oc. */
static int
read_value(Operation *op, BackendDB *be, struct berval *ndn, ObjectClass *oc,
	AttributeDescription *ad, char *out, size_t outlen)
{
	BackendDB *saved = op->o_bd;
	Entry *e = NULL;
	Attribute *a;
	int rc;

	op->o_bd = be;
	rc = be_entry_get_rw(op, ndn, oc, NULL, 0, &e);
	if (rc == LDAP_SUCCESS && e != NULL) {
		if (out != NULL && (a = attr_find(e->e_attrs, ad)) != NULL && a->a_numvals > 0)
			snprintf(out, outlen, "%.*s", (int)a->a_vals[0].bv_len, a->a_vals[0].bv_val);
		be_entry_release_r(op, e);
		rc = 0;
	} else {
		rc = -1;
	}
	op->o_bd = saved;
	return rc;
}

static int
record_exists(Operation *op, BackendDB *be, rg_info *ri, unsigned long long n, char *hash)
{
	struct berval ndn;
	int rc;

	rg_log_record_ndn(op, ri, n, &ndn);
	rc = read_value(op, be, &ndn, rg_ad.oc_log_record, rg_ad.log_hash, hash, RG_LOG_HASH_HEX);
	op->o_tmpfree(ndn.bv_val, op->o_tmpmemctx);
	return rc == 0;
}

static void
find_head(Operation *op, BackendDB *be, rg_info *ri, unsigned chain)
{
	char anchor[32] = "", hash[RG_LOG_HASH_HEX] = "";
	unsigned long long lo, hi, step;

	strcpy(ri->ri_log_head_hash, RG_LOG_GENESIS);
	ri->ri_log_head = rg_log_chain_base(chain);
	ri->ri_log_chain = chain;
	/* The root's anchor is the purge's, which runs on chain 0 only (logpurge.c). */
	if (chain == 0 && read_value(op, be, &ri->ri_log_nbase, rg_ad.oc_log_root,
	    rg_ad.log_anchor_number, anchor, sizeof(anchor)) == 0 && anchor[0] != '\0') {
		ri->ri_log_head = strtoull(anchor, NULL, 10);
		read_value(op, be, &ri->ri_log_nbase, rg_ad.oc_log_root, rg_ad.log_anchor_hash,
			ri->ri_log_head_hash, sizeof(ri->ri_log_head_hash));
	}
	/* Records are contiguous above the anchor: gallop to a missing number, then bisect. */
	lo = ri->ri_log_head;
	if (!record_exists(op, be, ri, lo + 1, NULL))
		goto done;
	lo++;
	for (step = 1; record_exists(op, be, ri, lo + step, NULL); step *= 2)
		lo += step;
	hi = lo + step;
	while (hi - lo > 1) {
		unsigned long long mid = lo + (hi - lo) / 2;

		if (record_exists(op, be, ri, mid, NULL))
			lo = mid;
		else
			hi = mid;
	}
	if (record_exists(op, be, ri, lo, hash)) {
		ri->ri_log_head = lo;
		snprintf(ri->ri_log_head_hash, sizeof(ri->ri_log_head_hash), "%s", hash);
	}
done:
	ri->ri_log_head_known = 1;
	Debug(LDAP_DEBUG_ANY, "resetguard: reset log %s, chain of serverID %u: continues after "
		"change %llu\n", ri->ri_log_base.bv_val, chain, ri->ri_log_head);
}

static void
put(Operation *op, Entry *e, AttributeDescription *ad, const char *value)
{
	struct berval bv;

	if (value == NULL || *value == '\0')
		return;
	ber_str2bv(value, 0, 0, &bv);
	attr_merge_normalize_one(e, ad, &bv, op->o_tmpmemctx);
}

static Entry *
record_entry(Operation *op, rg_info *ri, const struct rg_log_record *r, const char *hash,
	const struct rg_log_state *st)
{
	Entry *e = entry_alloc();
	char num[32];

	if (record_dn(op, ri, r->number, &e->e_name, &e->e_nname, NULL) != 0) {
		entry_free(e);
		return NULL;
	}
	attr_merge_one(e, slap_schema.si_ad_objectClass, &rg_ad.oc_log_record->soc_cname, NULL);
	attr_merge_one(e, slap_schema.si_ad_structuralObjectClass,
		&rg_ad.oc_log_record->soc_cname, NULL);
	snprintf(num, sizeof(num), "%llu", r->number);
	put(op, e, rg_ad.log_number, num);
	put(op, e, rg_ad.log_time, r->time);
	put(op, e, rg_ad.log_target, r->target);
	put(op, e, rg_ad.log_requester, r->requester);
	put(op, e, rg_ad.log_authenticated, r->authenticated);
	put(op, e, rg_ad.log_approver, r->approver);
	put(op, e, rg_ad.log_kind, r->kind);
	put(op, e, rg_ad.log_decision, r->decision);
	put(op, e, rg_ad.log_rule, r->rule);
	put(op, e, rg_ad.log_rule_text, r->rule_text);
	put(op, e, rg_ad.log_policy, r->policy);
	put(op, e, rg_ad.log_operation, r->operation);
	put(op, e, rg_ad.log_issuer, r->issuer);
	if (r->level > 0) {
		snprintf(num, sizeof(num), "%d", r->level);
		put(op, e, rg_ad.log_level, num);
	}
	for (size_t i = 0; i < r->nmethods; i++)
		put(op, e, rg_ad.log_method, r->methods[i]);
	put(op, e, rg_ad.log_jti, r->jti);
	put(op, e, rg_ad.log_reason, r->reason);
	put(op, e, rg_ad.log_review_required, r->review_required ? "TRUE" : "FALSE");
	put(op, e, rg_ad.log_alert, r->alert ? "TRUE" : "FALSE");
	put(op, e, rg_ad.log_alert_reason, r->alert_reason);
	put(op, e, rg_ad.log_prev_hash, r->prev_hash);
	put(op, e, rg_ad.log_hash, hash);
	put(op, e, rg_ad.log_outcome, st->outcome);
	put(op, e, rg_ad.log_outcome_text, st->outcome_text);
	if (st->sealed != NULL)
		attr_merge_one(e, rg_ad.log_sealed, st->sealed, NULL);
	return e;
}

void
rg_log_entry_restate(Operation *op, Entry *e, const struct rg_log_state *st)
{
	attr_delete(&e->e_attrs, rg_ad.log_outcome);
	attr_delete(&e->e_attrs, rg_ad.log_outcome_text);
	attr_delete(&e->e_attrs, rg_ad.log_sealed);
	put(op, e, rg_ad.log_outcome, st->outcome);
	put(op, e, rg_ad.log_outcome_text, st->outcome_text);
	if (st->sealed != NULL)
		attr_merge_one(e, rg_ad.log_sealed, st->sealed, NULL);
}

Entry *
rg_log_entry(Operation *op, rg_info *ri, struct rg_log_record *r,
	const struct rg_log_state *st, char *timebuf, char *hash, char *err, size_t errlen)
{
	BackendDB *be = select_backend(&ri->ri_log_nbase, 0);
	struct timeval tv;
	Entry *e;
	unsigned chain;

	if (be == NULL || BER_BVISEMPTY(&be->be_rootndn)) {
		rg_seterr(err, errlen, "the reset log %s is in no database with a rootdn",
			ri->ri_log_base.bv_val);
		return NULL;
	}
	chain = rg_log_own_chain();
	if (!ri->ri_log_head_known || ri->ri_log_chain != chain)
		find_head(op, be, ri, chain);
	if (rg_log_chain(ri->ri_log_head + 1) != chain) {
		rg_seterr(err, errlen, "the chain of serverID %u in the reset log %s is full",
			chain, ri->ri_log_base.bv_val);
		return NULL;
	}
	r->number = ri->ri_log_head + 1;
	gettimeofday(&tv, NULL);
	rg_log_format_time(timebuf, tv.tv_sec, tv.tv_usec);
	r->time = timebuf;
	snprintf(r->prev_hash, sizeof(r->prev_hash), "%s", ri->ri_log_head_hash);
	if (rg_log_hash(r, hash) != 0) {
		rg_seterr(err, errlen, "cannot hash the reset log record");
		return NULL;
	}
	if ((e = record_entry(op, ri, r, hash, st)) == NULL)
		rg_seterr(err, errlen, "cannot form the DN of reset log record %llu under %s",
			r->number, ri->ri_log_base.bv_val);
	return e;
}

void
rg_log_advance(rg_info *ri, const struct rg_log_record *r, const char *hash)
{
	ri->ri_log_head = r->number;
	memcpy(ri->ri_log_head_hash, hash, RG_LOG_HASH_HEX);
}

void
rg_log_lost(rg_info *ri)
{
	ri->ri_log_head_known = 0;
}

/* A write of the log as a group-commit job: a record's Add or an outcome's Modify, made as
 * resetguard's own (rg_internal_cb) and held below syncprov until its commit. */
struct log_job {
	struct rg_group_job job;
	BackendDB *be;
	Entry *entry;                       /* an Add: the record, freed at the end */
	struct berval ndn;                  /* a Modify: the record, */
	Modifications *mods, **opattrs;     /* its changes and where the frontend's went */
	Operation op;
	void *cids[SLAP_MAX_CIDS];
	struct rg_held held;
	int prepared, issued, err;
	char text[160];
};

static int
log_job_write(Operation *op, struct rg_group_job *j)
{
	struct log_job *lj = (struct log_job *)j;
	Operation *op2 = &lj->op;
	SlapReply rs = { REP_RESULT };
	const char *text = NULL;
	char textbuf[SLAP_TEXT_BUFLEN];

	rg_internal_op_init(op2, op, lj->be, lj->cids);
	rg_held_init(&lj->held, &rg_internal_cb);
	op2->o_callback = &lj->held.cb;
	lj->prepared = 1;
	lj->issued = 0;
	lj->err = LDAP_SUCCESS;
	if (j->oex != NULL)
		LDAP_SLIST_INSERT_HEAD(&op2->o_extra, j->oex, oe_next);
	if (lj->entry != NULL) {
		op2->o_tag = LDAP_REQ_ADD;
		op2->o_req_dn = lj->entry->e_name;
		op2->o_req_ndn = lj->entry->e_nname;
		op2->ora_e = lj->entry;
		/* The CSN is queued (manage_ctxcsn) so that syncprov moves the contextCSN past
		 * the record: a provider or consumer that reconnects then asks for it. */
		if (slap_add_opattrs(op2, &text, textbuf, sizeof(textbuf), 1) != LDAP_SUCCESS) {
			lj->err = LDAP_OTHER;
			snprintf(lj->text, sizeof(lj->text), "%s", text ? text :
				"operational attributes");
			goto out;
		}
		lj->be->be_add(op2, &rs);
	} else {
		op2->o_tag = LDAP_REQ_MODIFY;
		op2->o_req_dn = lj->ndn;
		op2->o_req_ndn = lj->ndn;
		op2->orm_modlist = lj->mods;
		/* A new entryCSN, or replication would not carry the outcome to other
		 * providers; slap_mods_opattrs appends its allocated mods after ours. */
		for (lj->opattrs = &op2->orm_modlist; *lj->opattrs != NULL;
		     lj->opattrs = &(*lj->opattrs)->sml_next)
			;
		slap_mods_opattrs(op2, &op2->orm_modlist, 1);
		op2->orm_no_opattrs = 1;
		lj->be->be_modify(op2, &rs);
	}
	lj->issued = 1;
	lj->err = lj->held.reached ? lj->held.hold.err : rs.sr_err;
	if (lj->err != LDAP_SUCCESS)
		snprintf(lj->text, sizeof(lj->text), "%s", lj->held.reached ?
			(lj->held.hold.text.bv_val ? lj->held.hold.text.bv_val : "") :
			(rs.sr_text ? rs.sr_text : ""));
out:
	if (j->oex != NULL)
		LDAP_SLIST_REMOVE(&op2->o_extra, j->oex, OpExtra, oe_next);
	if (lj->err == LDAP_SUCCESS)
		return RG_JOB_OK;
	/* A record that is not written breaks the chain of those written after it. */
	return lj->entry != NULL ? RG_JOB_TAINTED : RG_JOB_FAILED;
}

static void
log_job_end(Operation *op, struct rg_group_job *j, int committed)
{
	struct log_job *lj = (struct log_job *)j;
	Operation *op2 = &lj->op;

	if (lj->issued) {
		rg_held_finish(op2, &lj->held, committed);
		if (lj->entry == NULL) {
			slap_mods_free(*lj->opattrs, 1);
			*lj->opattrs = NULL;
		}
	} else if (lj->prepared) {
		/* a CSN queued and never committed would hold the contextCSN back for good */
		slap_graduate_commit_csn(op2);
	}
	if (lj->prepared && !BER_BVISNULL(&op2->o_csn))
		op->o_tmpfree(op2->o_csn.bv_val, op->o_tmpmemctx);
	if (lj->entry != NULL && (!lj->issued || op2->ora_e == lj->entry))
		entry_free(lj->entry);
	lj->entry = NULL;
	lj->prepared = lj->issued = 0;
	if (lj->err == LDAP_SUCCESS && !committed) {
		lj->err = LDAP_OTHER;
		snprintf(lj->text, sizeof(lj->text), "the transaction it shared was not "
			"committed");
	}
}

static void
log_job_init(struct log_job *lj, BackendDB *be)
{
	memset(lj, 0, sizeof(*lj));
	lj->be = be;
	lj->job.write = log_job_write;
	lj->job.end = log_job_end;
}

void
rg_log_inflight_add(rg_info *ri, struct rg_inflight *f, const struct rg_log_record *r)
{
	f->record = r;
	f->next = ri->ri_inflight;
	ri->ri_inflight = f;
}

void
rg_log_inflight_remove(rg_info *ri, struct rg_inflight *f)
{
	for (struct rg_inflight **fp = &ri->ri_inflight; *fp != NULL; fp = &(*fp)->next)
		if (*fp == f) {
			*fp = f->next;
			return;
		}
}

static long long
elapsed_us(const struct timeval *t0)
{
	struct timeval t1;

	gettimeofday(&t1, NULL);
	return (t1.tv_sec - t0->tv_sec) * 1000000LL + (t1.tv_usec - t0->tv_usec);
}

/* Called and returns with the log lock held, which it lets go while the record is written
 * where writes share commits: the next record can be numbered meanwhile and share this
 * one's commit. It counts for velocity limits all the same (rg_log_inflight). */
int
rg_log_append(Operation *op, rg_info *ri, struct rg_log_record *r,
	const struct rg_log_state *st, struct berval *ndn, char *err, size_t errlen)
{
	BackendDB *be = select_backend(&ri->ri_log_nbase, 0);
	struct log_job lj;
	struct rg_inflight f;
	char hash[RG_LOG_HASH_HEX], timebuf[32];
	struct timeval t0;
	int batched, counted, rc = -1;

	BER_BVZERO(ndn);
	log_job_init(&lj, be);
	if ((lj.entry = rg_log_entry(op, ri, r, st, timebuf, hash, err, errlen)) == NULL)
		goto out;
	lj.job.dn = &lj.entry->e_nname;
	lj.job.chained = 1;
	ber_dupbv_x(ndn, &lj.entry->e_nname, op->o_tmpmemctx);
	batched = rg_group_batchable(be);
	counted = batched && strcmp(r->decision, "allowed") == 0;
	/* Chained to at once: should it fail, the group fails every record after it until
	 * the head is found again. */
	if (batched)
		rg_log_advance(ri, r, hash);
	if (counted)
		rg_log_inflight_add(ri, &f, r);
	gettimeofday(&t0, NULL);
	/* Where each write commits alone, the lock is kept: the next record waits for it. */
	rg_group_run(op, &ri->ri_group, be, &lj.job, batched ? &ri->ri_log_mutex : NULL);
	rg_monitor_log_write(ri, elapsed_us(&t0));
	if (batched)
		rg_log_lock(ri);
	if (counted)
		rg_log_inflight_remove(ri, &f);
	if (!lj.job.committed || lj.err != LDAP_SUCCESS) {
		/* Someone else wrote this number (a restored backup, a second writer), or the
		 * write failed: the head is found again before the next record, by the first
		 * to come back (the lock is held). */
		if (!batched || rg_group_broken(&ri->ri_group)) {
			rg_log_lost(ri);
			rg_group_mend(&ri->ri_group);
		}
		rg_seterr(err, errlen, "cannot write reset log record %llu under %s (LDAP error "
			"%d%s%s)", r->number, ri->ri_log_base.bv_val,
			lj.err != LDAP_SUCCESS ? lj.err : LDAP_OTHER, lj.text[0] ? ": " : "",
			lj.text);
		op->o_tmpfree(ndn->bv_val, op->o_tmpmemctx);
		BER_BVZERO(ndn);
		goto out;
	}
	if (!batched)
		rg_log_advance(ri, r, hash);
	rc = 0;
out:
	r->time = NULL;
	return rc;
}

unsigned long long
rg_log_inflight_token(rg_info *ri, const char *iss, const char *jti)
{
	for (struct rg_inflight *f = ri->ri_inflight; f != NULL; f = f->next)
		if (f->record->jti != NULL && f->record->issuer != NULL &&
		    strcmp(f->record->jti, jti) == 0 && strcmp(f->record->issuer, iss) == 0)
			return f->record->number;
	return 0;
}

int
rg_log_inflight(rg_info *ri, unsigned long long number)
{
	for (struct rg_inflight *f = ri->ri_inflight; f != NULL; f = f->next)
		if (f->record->number == number)
			return 1;
	return 0;
}

void
rg_log_outcome(Operation *op, rg_info *ri, struct berval *ndn, int applied, const char *text)
{
	BackendDB *be = select_backend(&ri->ri_log_nbase, 0);
	struct log_job lj;
	Modifications mod[3], **tail = &mod[0].sml_next;
	struct berval vals[2][2];

	if (be == NULL)
		return;
	/* One write: the outcome and, for a refused change, its text and the end of its
	 * sealed password (a soft delete: a record may have none). */
	memset(mod, 0, sizeof(mod));
	memset(vals, 0, sizeof(vals));
	ber_str2bv(applied ? "applied" : "failed", 0, 0, &vals[0][0]);
	mod[0].sml_desc = rg_ad.log_outcome;
	mod[0].sml_op = LDAP_MOD_REPLACE;
	mod[0].sml_numvals = 1;
	mod[0].sml_values = vals[0];
	if (!applied) {
		mod[1].sml_desc = rg_ad.log_sealed;
		mod[1].sml_op = SLAP_MOD_SOFTDEL;
		*tail = &mod[1];
		tail = &mod[1].sml_next;
	}
	if (!applied && text != NULL && *text != '\0') {
		ber_str2bv(text, 0, 0, &vals[1][0]);
		mod[2].sml_desc = rg_ad.log_outcome_text;
		mod[2].sml_op = LDAP_MOD_REPLACE;
		mod[2].sml_numvals = 1;
		mod[2].sml_values = vals[1];
		*tail = &mod[2];
	}
	for (int i = 0; i < 3; i++) {
		mod[i].sml_type = mod[i].sml_desc != NULL ? mod[i].sml_desc->ad_cname :
			(struct berval)BER_BVNULL;
		mod[i].sml_flags = SLAP_MOD_INTERNAL;
	}
	log_job_init(&lj, be);
	lj.ndn = *ndn;
	lj.mods = mod;
	lj.job.dn = &lj.ndn;
	lj.job.may_retry = 1;
	if (!rg_group_run(op, &ri->ri_group, be, &lj.job, NULL) || lj.err != LDAP_SUCCESS)
		Debug(LDAP_DEBUG_ANY, "%s resetguard: cannot record the outcome (%s) on reset log "
			"record %s (LDAP error %d%s%s); it is settled when slapd next starts\n",
			op->o_log_prefix, applied ? "applied" : "failed", ndn->bv_val, lj.err,
			lj.text[0] ? ": " : "", lj.text);
}
