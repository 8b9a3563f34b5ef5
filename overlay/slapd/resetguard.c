/* resetguard: no password in this database is set unless the reset policy allows it.
 *
 * Every way a password can be set ends in a Modify or an Add of userPassword: the Password
 * Modify extended operation (RFC 3062) reaches this overlay as the Modify that passwd_extop
 * builds, so judging Modify and Add judges each change exactly once. A denial is sent
 * before the backend runs, so it changes nothing. On an allowed change the overlay adds its
 * operational attributes to the same write, and consumes the proofing token's id. */
#include "resetguard.h"

#include <ac/time.h>

#include "slap-config.h"

static slap_overinst rg_overinst;

/* Everything gathered about one change, freed in one place. */
struct rg_change {
	struct rg_policy policy;
	int have_policy;
	char policy_err[256];
	struct rg_evidence ev;
	char ev_err[256];
	struct berval ev_sub_ndn;
	struct berval ev_approver_ndn;
	struct berval target_uid;
	long long reset_count;
	struct rg_request req;
	struct rg_decision dec;
	struct berval nonce_ndn;
	int no_target;
};

/* State carried to the response: what to undo if the backend refuses the change. */
struct rg_pending {
	slap_callback cb;
	rg_info *ri;
	struct berval nonce_ndn;
};

static int
rg_response(Operation *op, SlapReply *rs)
{
	struct rg_pending *p = op->o_callback->sc_private;

	if (rs->sr_type != REP_RESULT)
		return SLAP_CB_CONTINUE;
	op->o_callback = p->cb.sc_next;
	if (rs->sr_err != LDAP_SUCCESS && !BER_BVISNULL(&p->nonce_ndn))
		rg_nonce_release(op, p->ri, &p->nonce_ndn);
	if (!BER_BVISNULL(&p->nonce_ndn))
		op->o_tmpfree(p->nonce_ndn.bv_val, op->o_tmpmemctx);
	op->o_tmpfree(p, op->o_tmpmemctx);
	return SLAP_CB_CONTINUE;
}

/* passwd_extop hands be_modify a slap_null_cb callback whose sc_private is the request:
 * the only sign that this Modify is a Password Modify extended operation. */
static req_pwdexop_s *
pwdexop_request(Operation *op)
{
	for (slap_callback *sc = op->o_callback; sc != NULL; sc = sc->sc_next)
		if (sc->sc_response == slap_null_cb && sc->sc_private != NULL)
			return sc->sc_private;
	return NULL;
}

static int
is_password_attr(AttributeDescription *ad)
{
	return is_ad_subtype(ad, slap_schema.si_ad_userPassword);
}

static void
copy_first_value(Operation *op, Entry *e, AttributeDescription *ad, int normalized,
	struct berval *out)
{
	Attribute *a = attr_find(e->e_attrs, ad);

	BER_BVZERO(out);
	if (a != NULL && a->a_numvals > 0)
		ber_dupbv_x(out, normalized ? &a->a_nvals[0] : &a->a_vals[0], op->o_tmpmemctx);
}

/* What the target entry says about itself: its policy, its uid (a proofing token may name
 * the account by uid) and its reset count. */
static int
read_target(Operation *op, slap_overinst *on, int is_add, struct berval *policy_ndn,
	struct rg_change *ch)
{
	Entry *e = NULL;
	BackendInfo *bi = op->o_bd->bd_info;
	struct berval count;

	if (is_add) {
		e = op->ora_e;
	} else {
		op->o_bd->bd_info = (BackendInfo *)on->on_info;
		if (be_entry_get_rw(op, &op->o_req_ndn, NULL, NULL, 0, &e) != LDAP_SUCCESS)
			e = NULL;
		op->o_bd->bd_info = bi;
		if (e == NULL)
			return -1;
	}
	copy_first_value(op, e, rg_ad.policy_subentry, 1, policy_ndn);
	copy_first_value(op, e, rg_ad.uid, 0, &ch->target_uid);
	copy_first_value(op, e, rg_ad.reset_count, 0, &count);
	ch->reset_count = BER_BVISNULL(&count) ? 0 : strtoll(count.bv_val, NULL, 10);
	if (!BER_BVISNULL(&count))
		op->o_tmpfree(count.bv_val, op->o_tmpmemctx);
	if (!is_add) {
		op->o_bd->bd_info = (BackendInfo *)on->on_info;
		be_entry_release_r(op, e);
		op->o_bd->bd_info = bi;
	}
	return 0;
}

static int
normalize_dn(Operation *op, const char *s, struct berval *ndn)
{
	struct berval dn;

	ber_str2bv(s, 0, 0, &dn);
	return dnNormalize(0, NULL, NULL, &dn, ndn, op->o_tmpmemctx) == LDAP_SUCCESS ? 0 : -1;
}

/* Verifies the proofing control, if any, into ch->req's evidence fields. */
static void
read_evidence(Operation *op, rg_info *ri, struct rg_change *ch)
{
	struct berval *token = op->o_controls[rg_proofing_cid];
	struct rg_request *req = &ch->req;

	req->ev_present = token != NULL;
	if (token == NULL)
		return;
	req->ev_status = rg_evidence_verify(&ri->ri_issuers, token->bv_val, token->bv_len,
		&ch->ev, ch->ev_err, sizeof(ch->ev_err));
	req->ev_error = ch->ev_err;
	if (req->ev_status != RG_EV_OK)
		return;
	if (normalize_dn(op, ch->ev.sub, &ch->ev_sub_ndn) == 0)
		req->ev_sub_ndn = ch->ev_sub_ndn.bv_val;
	if (ch->ev.approver != NULL) {
		if (normalize_dn(op, ch->ev.approver, &ch->ev_approver_ndn) != 0) {
			req->ev_status = RG_EV_MALFORMED;
			snprintf(ch->ev_err, sizeof(ch->ev_err), "claim \"approver\" is not a DN");
			return;
		}
		req->ev_approver_ndn = ch->ev_approver_ndn.bv_val;
	}
	req->ev = &ch->ev;
}

static int
uses_evidence(enum rg_kind kind)
{
	return kind == RG_KIND_SELF_SERVICE || kind == RG_KIND_DELEGATED;
}

static void
decide(Operation *op, slap_overinst *on, int is_add, int old_given, struct rg_change *ch)
{
	rg_info *ri = on->on_bi.bi_private;
	struct rg_request *req = &ch->req;
	struct berval policy_ndn = BER_BVNULL;
	char err[256];

	req->target_ndn = op->o_req_ndn.bv_val;
	req->requester_ndn = BER_BVISNULL(&op->o_ndn) ? "" : op->o_ndn.bv_val;
	req->old_password_given = old_given;
	req->now = slap_get_time();
	req->clock_skew = ri->ri_clock_skew;

	if (rg_ad.nonce_id == NULL && rg_schema_resolve(err, sizeof(err)) != 0) {
		rg_deny(&ch->dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM, "%s", err);
		return;
	}
	if (read_target(op, on, is_add, &policy_ndn, ch) != 0) {
		/* No such entry: the backend gives the client the right error. */
		ch->no_target = 1;
		ch->dec.allowed = 1;
		ch->dec.rule = RG_RULE_ALLOWED;
		return;
	}
	req->target_uid = BER_BVISNULL(&ch->target_uid) ? NULL : ch->target_uid.bv_val;
	if (BER_BVISNULL(&policy_ndn) && !BER_BVISEMPTY(&ri->ri_default_policy))
		ber_dupbv_x(&policy_ndn, &ri->ri_default_policy, op->o_tmpmemctx);
	if (!BER_BVISNULL(&policy_ndn)) {
		if (rg_policy_load(op, &policy_ndn, &ch->policy, ch->policy_err,
		    sizeof(ch->policy_err)) != 0) {
			op->o_tmpfree(policy_ndn.bv_val, op->o_tmpmemctx);
			req->kind = rg_classify(NULL, is_add, req->requester_ndn, req->target_ndn);
			rg_deny(&ch->dec, RG_RULE_NO_POLICY, RG_LDAP_UNWILLING_TO_PERFORM,
				"%s", ch->policy_err);
			return;
		}
		ch->have_policy = 1;
		op->o_tmpfree(policy_ndn.bv_val, op->o_tmpmemctx);
	}

	req->kind = rg_classify(ch->have_policy ? &ch->policy : NULL, is_add,
		req->requester_ndn, req->target_ndn);
	if (ch->have_policy && uses_evidence(req->kind)) {
		read_evidence(op, ri, ch);
		req->privileged = rg_is_member_of_any(op, &ch->policy.privileged_groups,
			&op->o_req_ndn);
		req->approver_authorized = req->ev_approver_ndn != NULL &&
			rg_is_member_of_any(op, &ch->policy.approver_groups, &ch->ev_approver_ndn);
	}
	rg_decide(ch->have_policy ? &ch->policy : NULL, req, &ch->dec);

	if (ch->dec.allowed && req->ev != NULL) {
		switch (rg_nonce_reserve(op, ri, &ch->ev, &op->o_req_ndn, &ch->nonce_ndn,
		    err, sizeof(err))) {
		case RG_NONCE_RESERVED:
			break;
		case RG_NONCE_REPLAYED:
			rg_deny(&ch->dec, RG_RULE_EVIDENCE_REPLAYED, RG_LDAP_INSUFFICIENT_ACCESS,
				"proofing token %s from %s was already used: each token allows "
				"one reset", ch->ev.jti, ch->ev.iss);
			break;
		case RG_NONCE_ERROR:
			rg_deny(&ch->dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM, "%s", err);
			break;
		}
	}
}

static void
change_free(Operation *op, struct rg_change *ch)
{
	if (ch->have_policy)
		rg_policy_free(&ch->policy);
	rg_evidence_free(&ch->ev);
	if (!BER_BVISNULL(&ch->ev_sub_ndn))
		op->o_tmpfree(ch->ev_sub_ndn.bv_val, op->o_tmpmemctx);
	if (!BER_BVISNULL(&ch->ev_approver_ndn))
		op->o_tmpfree(ch->ev_approver_ndn.bv_val, op->o_tmpmemctx);
	if (!BER_BVISNULL(&ch->target_uid))
		op->o_tmpfree(ch->target_uid.bv_val, op->o_tmpmemctx);
}

static int
rg_judge(Operation *op, SlapReply *rs, int is_add, int old_given)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	struct rg_change ch;
	struct rg_effects fx;
	struct rg_pending *p;
	int rc = SLAP_CB_CONTINUE;

	memset(&ch, 0, sizeof(ch));
	decide(op, on, is_add, old_given, &ch);

	if (ch.no_target)
		goto out;
	Debug(LDAP_DEBUG_STATS, "%s resetguard: %s change of \"%s\" by \"%s\": %s (%s)\n",
		op->o_log_prefix, rg_kind_name(ch.req.kind), op->o_req_ndn.bv_val,
		ch.req.requester_ndn, ch.dec.allowed ? "allowed" : "denied",
		rg_rule_name(ch.dec.rule));

	if (!ch.dec.allowed) {
		struct berval text;

		text.bv_len = strlen(ch.dec.text) + sizeof(" (resetguard rule )") +
			strlen(rg_rule_name(ch.dec.rule));
		text.bv_val = op->o_tmpalloc(text.bv_len, op->o_tmpmemctx);
		snprintf(text.bv_val, text.bv_len, "%s (resetguard rule %s)", ch.dec.text,
			rg_rule_name(ch.dec.rule));
		rs->sr_err = ch.dec.ldap_result;
		rs->sr_text = text.bv_val;
		send_ldap_result(op, rs);
		rc = rs->sr_err;
		goto out;
	}
	memset(&fx, 0, sizeof(fx));
	fx.kind = ch.req.kind;
	fx.ev = ch.req.ev;
	fx.approver_ndn = BER_BVISNULL(&ch.ev_approver_ndn) ? NULL : &ch.ev_approver_ndn;
	fx.review_required = ch.dec.review_required;
	fx.force_change = ch.dec.force_change;
	fx.reset_count = ch.reset_count + 1;
	if (is_add)
		rg_effects_to_entry(op, &fx, op->ora_e);
	else
		rg_effects_to_mods(op, &fx, &op->orm_modlist);

	if (!BER_BVISNULL(&ch.nonce_ndn)) {
		p = op->o_tmpcalloc(1, sizeof(*p), op->o_tmpmemctx);
		p->cb.sc_response = rg_response;
		p->cb.sc_private = p;
		p->cb.sc_next = op->o_callback;
		p->ri = ri;
		p->nonce_ndn = ch.nonce_ndn;
		BER_BVZERO(&ch.nonce_ndn);
		op->o_callback = &p->cb;
	}
out:
	if (!BER_BVISNULL(&ch.nonce_ndn))
		op->o_tmpfree(ch.nonce_ndn.bv_val, op->o_tmpmemctx);
	change_free(op, &ch);
	return rc;
}

/* Replicated changes were judged on the provider that accepted them. */
static int
is_replication(Operation *op)
{
	return SLAPD_SYNC_IS_SYNCCONN(op->o_connid) || be_shadow_update(op);
}

static int
refuse_maintained(Operation *op, SlapReply *rs, AttributeDescription *ad)
{
	Debug(LDAP_DEBUG_ANY, "%s resetguard: refused a write of %s by \"%s\"\n",
		op->o_log_prefix, ad->ad_cname.bv_val, op->o_ndn.bv_val);
	rs->sr_err = LDAP_CONSTRAINT_VIOLATION;
	rs->sr_text = "the rgLastReset*, rgResetCount and rgReviewRequired attributes are "
		"maintained by resetguard and cannot be written";
	send_ldap_result(op, rs);
	return rs->sr_err;
}

static int
rg_op_modify(Operation *op, SlapReply *rs)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	req_pwdexop_s *qpw;
	int touches = 0, deletes_value = 0, adds_value = 0;

	if (is_replication(op))
		return SLAP_CB_CONTINUE;
	for (Modifications *m = op->orm_modlist; m != NULL; m = m->sml_next) {
		if (rg_is_maintained_attr(m->sml_desc) &&
		    !(m->sml_flags & SLAP_MOD_INTERNAL))
			return refuse_maintained(op, rs, m->sml_desc);
		if (!is_password_attr(m->sml_desc))
			continue;
		touches = 1;
		if (m->sml_op == LDAP_MOD_DELETE && m->sml_values != NULL)
			deletes_value = 1;
		if (m->sml_op == LDAP_MOD_ADD && m->sml_values != NULL)
			adds_value = 1;
	}
	if (!touches || (ri->ri_rootdn_exempt && be_isroot(op)))
		return SLAP_CB_CONTINUE;

	/* The frontend has already checked the old password of a Password Modify request;
	 * in a Modify, the backend checks the deleted value when it applies it. */
	qpw = pwdexop_request(op);
	if (qpw != NULL)
		return rg_judge(op, rs, 0, !BER_BVISNULL(&qpw->rs_old));
	return rg_judge(op, rs, 0, deletes_value && adds_value);
}

static int
rg_op_add(Operation *op, SlapReply *rs)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	int touches = 0;

	if (is_replication(op))
		return SLAP_CB_CONTINUE;
	for (Attribute *a = op->ora_e->e_attrs; a != NULL; a = a->a_next) {
		if (rg_is_maintained_attr(a->a_desc))
			return refuse_maintained(op, rs, a->a_desc);
		if (is_password_attr(a->a_desc))
			touches = 1;
	}
	if (!touches || (ri->ri_rootdn_exempt && be_isroot(op)))
		return SLAP_CB_CONTINUE;
	return rg_judge(op, rs, 1, 0);
}

static int
rg_db_init(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;
	rg_info *ri = ch_calloc(1, sizeof(*ri));

	ri->ri_clock_skew = 30;
	ri->ri_purge_interval = 3600;
	on->on_bi.bi_private = ri;
	return 0;
}

static int
rg_db_open(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	char err[200];

	if (rg_schema_resolve(err, sizeof(err)) != 0) {
		snprintf(cr->msg, sizeof(cr->msg), "resetguard: %s", err);
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	if (ri->ri_issuers.n > 0 && BER_BVISEMPTY(&ri->ri_nonce_nbase)) {
		snprintf(cr->msg, sizeof(cr->msg), "resetguard: resetguard-issuer is set but "
			"resetguard-nonce-base is not: proofing tokens must be single-use, so name "
			"a container for their ids");
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	if (slapMode & SLAP_SERVER_MODE)
		rg_nonce_purge_start(be, ri);
	return 0;
}

static int
rg_db_close(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;

	rg_nonce_purge_stop(on->on_bi.bi_private);
	return 0;
}

static int
rg_db_destroy(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;
	rg_info *ri = on->on_bi.bi_private;

	if (ri == NULL)
		return 0;
	ch_free(ri->ri_default_policy.bv_val);
	ch_free(ri->ri_nonce_base.bv_val);
	ch_free(ri->ri_nonce_nbase.bv_val);
	rg_issuers_free(&ri->ri_issuers);
	ber_bvarray_free(ri->ri_issuer_cfg);
	ch_free(ri);
	on->on_bi.bi_private = NULL;
	return 0;
}

static int
resetguard_initialize(void)
{
	int rc;

	rg_overinst.on_bi.bi_type = "resetguard";
	rg_overinst.on_bi.bi_flags = SLAPO_BFLAG_SINGLE;
	rg_overinst.on_bi.bi_db_init = rg_db_init;
	rg_overinst.on_bi.bi_db_open = rg_db_open;
	rg_overinst.on_bi.bi_db_close = rg_db_close;
	rg_overinst.on_bi.bi_db_destroy = rg_db_destroy;
	rg_overinst.on_bi.bi_op_modify = rg_op_modify;
	rg_overinst.on_bi.bi_op_add = rg_op_add;

	if ((rc = rg_schema_register()) != 0)
		return rc;
	if ((rc = rg_control_register()) != LDAP_SUCCESS)
		return rc;
	if ((rc = rg_config_init(&rg_overinst)) != 0)
		return rc;
	return overlay_register(&rg_overinst);
}

int
init_module(int argc, char *argv[])
{
	return resetguard_initialize();
}
