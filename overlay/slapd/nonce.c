/* Single use of proofing tokens. A token's id is reserved by adding an entry named after
 * it *before* the password change reaches the backend: the backend's uniqueness of DNs makes
 * the check and the claim one atomic step, so two concurrent uses of one token cannot both
 * pass. If the change then fails, the reservation is released. The entries live in the
 * directory (and replicate with it) and are purged once the token has expired. */
#include "resetguard.h"

#include <openssl/evp.h>

#include "ldap_rq.h"

static int
nonce_rdn_value(const struct rg_evidence *ev, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (ctx == NULL)
		return -1;
	/* The issuer is part of the id: two issuers may well mint the same jti. */
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, ev->iss, strlen(ev->iss) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, ev->jti, strlen(ev->jti)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32) {
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

enum rg_nonce_result
rg_nonce_reserve(Operation *op, rg_info *ri, const struct rg_evidence *ev,
	struct berval *target_ndn, struct berval *nonce_ndn, char *err, size_t errlen)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	Operation op2;
	SlapReply rs2 = { REP_RESULT };
	BackendDB *be;
	Entry *e;
	char hex[65], timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	struct berval bv;
	time_t expires = (time_t)ev->exp + ri->ri_clock_skew;
	const char *text = NULL;
	char textbuf[SLAP_TEXT_BUFLEN];

	BER_BVZERO(nonce_ndn);
	if (BER_BVISEMPTY(&ri->ri_nonce_nbase)) {
		snprintf(err, errlen, "resetguard-nonce-base is not configured: proofing tokens "
			"cannot be made single-use");
		return RG_NONCE_ERROR;
	}
	be = select_backend(&ri->ri_nonce_nbase, 0);
	if (be == NULL || BER_BVISEMPTY(&be->be_rootndn)) {
		snprintf(err, errlen, "resetguard-nonce-base %s is in no database with a rootdn",
			ri->ri_nonce_base.bv_val);
		return RG_NONCE_ERROR;
	}
	if (nonce_rdn_value(ev, hex) != 0) {
		snprintf(err, errlen, "cannot hash the proofing token id");
		return RG_NONCE_ERROR;
	}

	e = entry_alloc();
	e->e_name.bv_len = BER_STRLENOF("rgNonceId=") + 64 + 1 + ri->ri_nonce_base.bv_len;
	e->e_name.bv_val = ch_malloc(e->e_name.bv_len + 1);
	snprintf(e->e_name.bv_val, e->e_name.bv_len + 1, "rgNonceId=%s,%s", hex,
		ri->ri_nonce_base.bv_val);
	if (dnNormalize(0, NULL, NULL, &e->e_name, &e->e_nname, NULL) != LDAP_SUCCESS) {
		snprintf(err, errlen, "cannot form a DN under resetguard-nonce-base %s",
			ri->ri_nonce_base.bv_val);
		entry_free(e);
		return RG_NONCE_ERROR;
	}

	attr_merge_one(e, slap_schema.si_ad_objectClass, &rg_ad.oc_nonce->soc_cname, NULL);
	attr_merge_one(e, slap_schema.si_ad_structuralObjectClass,
		&rg_ad.oc_nonce->soc_cname, NULL);
	ber_str2bv(hex, 64, 0, &bv);
	attr_merge_one(e, rg_ad.nonce_id, &bv, NULL);
	bv.bv_val = timebuf;
	bv.bv_len = sizeof(timebuf);
	slap_timestamp(&expires, &bv);
	attr_merge_one(e, rg_ad.nonce_expires, &bv, NULL);
	attr_merge_one(e, rg_ad.nonce_target, target_ndn, target_ndn);

	rg_internal_op_init(&op2, op, be, cids);
	op2.o_tag = LDAP_REQ_ADD;
	op2.o_req_dn = e->e_name;
	op2.o_req_ndn = e->e_nname;
	op2.ora_e = e;
	/* entryUUID and entryCSN, so the reservation replicates to the other providers. */
	if (slap_add_opattrs(&op2, &text, textbuf, sizeof(textbuf), 0) != LDAP_SUCCESS) {
		snprintf(err, errlen, "cannot record the proofing token's use: %s",
			text ? text : "operational attributes");
		entry_free(e);
		return RG_NONCE_ERROR;
	}
	ber_dupbv_x(nonce_ndn, &e->e_nname, op->o_tmpmemctx);
	be->be_add(&op2, &rs2);
	if (e == op2.ora_e)
		entry_free(e);

	switch (rs2.sr_err) {
	case LDAP_SUCCESS:
		return RG_NONCE_RESERVED;
	case LDAP_ALREADY_EXISTS:
		op->o_tmpfree(nonce_ndn->bv_val, op->o_tmpmemctx);
		BER_BVZERO(nonce_ndn);
		return RG_NONCE_REPLAYED;
	default:
		op->o_tmpfree(nonce_ndn->bv_val, op->o_tmpmemctx);
		BER_BVZERO(nonce_ndn);
		snprintf(err, errlen, "cannot record the proofing token's use under %s "
			"(LDAP error %d): check that the container exists",
			ri->ri_nonce_base.bv_val, rs2.sr_err);
		return RG_NONCE_ERROR;
	}
}

void
rg_nonce_release(Operation *op, rg_info *ri, struct berval *nonce_ndn)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	Operation op2;
	SlapReply rs2 = { REP_RESULT };
	BackendDB *be = select_backend(&ri->ri_nonce_nbase, 0);

	if (be == NULL)
		return;
	rg_internal_op_init(&op2, op, be, cids);
	op2.o_tag = LDAP_REQ_DELETE;
	op2.o_req_dn = *nonce_ndn;
	op2.o_req_ndn = *nonce_ndn;
	be->be_delete(&op2, &rs2);
	if (rs2.sr_err != LDAP_SUCCESS)
		Debug(LDAP_DEBUG_ANY, "%s resetguard: cannot release proofing token id %s "
			"after a failed change (LDAP error %d); the token stays used\n",
			op->o_log_prefix, nonce_ndn->bv_val, rs2.sr_err);
}

struct expired {
	BerVarray ndns;
};

static int
collect_expired(Operation *op, SlapReply *rs)
{
	struct expired *x = op->o_callback->sc_private;

	if (rs->sr_type == REP_SEARCH)
		ber_bvarray_add(&x->ndns, ber_bvdup(&rs->sr_entry->e_nname));
	return 0;
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
	struct expired x = { NULL };
	slap_callback cb = { NULL, collect_expired, NULL, &x };
	Filter f;
	AttributeAssertion ava = ATTRIBUTEASSERTION_INIT;
	char timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	time_t now = slap_get_time();
	BackendDB *be = select_backend(&ri->ri_nonce_nbase, 0);

	if (be == NULL || BER_BVISEMPTY(&be->be_rootndn))
		goto out;
	connection_fake_init(&conn, &opbuf, ctx);
	op = &opbuf.ob_op;
	f.f_choice = LDAP_FILTER_LE;
	f.f_ava = &ava;
	f.f_next = NULL;
	ava.aa_desc = rg_ad.nonce_expires;
	ava.aa_value.bv_val = timebuf;
	ava.aa_value.bv_len = sizeof(timebuf);
	slap_timestamp(&now, &ava.aa_value);

	op->o_tag = LDAP_REQ_SEARCH;
	op->o_bd = be;
	op->o_dn = be->be_rootdn;
	op->o_ndn = be->be_rootndn;
	op->o_req_dn = ri->ri_nonce_nbase;
	op->o_req_ndn = ri->ri_nonce_nbase;
	op->o_callback = &cb;
	op->ors_scope = LDAP_SCOPE_ONELEVEL;
	op->ors_deref = LDAP_DEREF_NEVER;
	op->ors_tlimit = SLAP_NO_LIMIT;
	op->ors_slimit = SLAP_NO_LIMIT;
	op->ors_filter = &f;
	filter2bv_x(op, &f, &op->ors_filterstr);
	op->ors_attrs = slap_anlist_no_attrs;
	op->ors_attrsonly = 1;
	be->be_search(op, &rs);
	op->o_tmpfree(op->ors_filterstr.bv_val, op->o_tmpmemctx);

	op->o_callback = &rg_internal_cb;
	op->o_tag = LDAP_REQ_DELETE;
	for (int i = 0; x.ndns != NULL && !BER_BVISNULL(&x.ndns[i]); i++) {
		if (slapd_shutdown)
			break;
		op->o_req_dn = x.ndns[i];
		op->o_req_ndn = x.ndns[i];
		rs_reinit(&rs, REP_RESULT);
		be->be_delete(op, &rs);
		ldap_pvt_thread_pool_pausecheck(&connection_pool);
	}
	ber_bvarray_free(x.ndns);
out:
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	ldap_pvt_runqueue_stoptask(&slapd_rq, rtask);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	return NULL;
}

int
rg_nonce_purge_start(BackendDB *be, rg_info *ri)
{
	if (BER_BVISEMPTY(&ri->ri_nonce_nbase) || ri->ri_purge_task != NULL)
		return 0;
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	ri->ri_purge_task = ldap_pvt_runqueue_insert(&slapd_rq, ri->ri_purge_interval,
		purge_task, ri, "resetguard_nonce_purge", be->be_suffix[0].bv_val);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	return ri->ri_purge_task != NULL ? 0 : -1;
}

void
rg_nonce_purge_stop(rg_info *ri)
{
	if (ri->ri_purge_task == NULL)
		return;
	ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
	if (ldap_pvt_runqueue_isrunning(&slapd_rq, ri->ri_purge_task))
		ldap_pvt_runqueue_stoptask(&slapd_rq, ri->ri_purge_task);
	ldap_pvt_runqueue_remove(&slapd_rq, ri->ri_purge_task);
	ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
	ri->ri_purge_task = NULL;
}
