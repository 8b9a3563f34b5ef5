/* Judging one change: gather what the decision needs from the directory (the target, its
 * policy, the verified evidence, group memberships, velocity counts), let the core decide,
 * claim the token's id, and write the decision to the reset log. */
#include "resetguard.h"

#include <openssl/evp.h>

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
read_target(Operation *op, slap_overinst *on, struct berval *policy_ndn, struct rg_change *ch)
{
	Entry *e = NULL;
	BackendInfo *bi = op->o_bd->bd_info;
	struct berval count;

	if (ch->is_add) {
		e = op->ora_e;
	} else {
		op->o_bd->bd_info = (BackendInfo *)on->on_info;
		if (be_entry_get_rw(op, &op->o_req_ndn, NULL, NULL, 0, &e) != LDAP_SUCCESS)
			e = NULL;
		op->o_bd->bd_info = bi;
		if (e == NULL)
			return -1;
	}
	/* A self-change by Modify proves knowledge of the old password only if a deleted value
	 * verifies as it: the stored hash, which the user may be able to read, does not. */
	if (ch->old_values != NULL) {
		Attribute *pw = attr_find(e->e_attrs, slap_schema.si_ad_userPassword);
		const char *text;

		for (int i = 0; pw != NULL && !BER_BVISNULL(&ch->old_values[i]); i++)
			if (slap_passwd_check(op, e, pw, &ch->old_values[i], &text) == 0)
				ch->old_given = 1;
	}
	copy_first_value(op, e, rg_ad.policy_subentry, 1, policy_ndn);
	{
		Attribute *used = attr_find(e->e_attrs, rg_ad.used_token);

		if (used != NULL)
			ber_bvarray_dup_x(&ch->used_tokens, used->a_vals, op->o_tmpmemctx);
	}
	copy_first_value(op, e, rg_ad.uid, 0, &ch->target_uid);
	copy_first_value(op, e, rg_ad.reset_count, 0, &count);
	ch->reset_count = BER_BVISNULL(&count) ? 0 : strtoll(count.bv_val, NULL, 10);
	if (!BER_BVISNULL(&count))
		op->o_tmpfree(count.bv_val, op->o_tmpmemctx);
	if (!ch->is_add) {
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
check_velocity(Operation *op, rg_info *ri, struct rg_change *ch)
{
	for (size_t i = 0; i < ch->policy.nvelocity && ch->dec.allowed; i++) {
		const struct rg_velocity_limit *v = &ch->policy.velocity[i];
		struct berval *who = v->per_requester ? &op->o_ndn : &op->o_req_ndn;
		long long seen;

		if (BER_BVISEMPTY(who))
			continue;
		seen = rg_log_count(op, ri, v, who, ch->req.now - v->window);
		if (seen < 0) {
			rg_deny(&ch->dec, RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
				"cannot count earlier changes in the reset log %s for the velocity "
				"limits of policy %s", ri->ri_log_base.bv_val, ch->policy.dn);
			return;
		}
		rg_velocity_apply(&ch->policy, &ch->req, v, seen, &ch->dec);
		if (ch->dec.alert)
			Debug(LDAP_DEBUG_ANY, "%s resetguard: ALERT velocity limit reached for "
				"\"%s\" (%s)\n", op->o_log_prefix, who->bv_val, ch->dec.text);
	}
}

/* hex SHA-256 of issuer NUL jti: two issuers may well mint the same jti. */
static int
token_id(const struct rg_evidence *ev, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
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

/* A token is single-use per account, and a token names its account: so its use is recorded
 * on the account itself, as a value the same Modify adds. A replay is refused here; two
 * uses racing each other collide in the backend, which refuses the second value. Values
 * whose token has expired are removed by the same write. */
static void
claim_token(Operation *op, rg_info *ri, struct rg_change *ch)
{
	char hex[65], timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	struct berval exp = { sizeof(timebuf), timebuf };
	time_t expires = (time_t)ch->ev.exp + ri->ri_clock_skew;

	if (token_id(&ch->ev, hex) != 0) {
		rg_deny(&ch->dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM,
			"cannot compute the proofing token's id");
		return;
	}
	for (int i = 0; ch->used_tokens != NULL && !BER_BVISNULL(&ch->used_tokens[i]); i++) {
		if (strncmp(ch->used_tokens[i].bv_val, hex, 64) == 0) {
			rg_deny(&ch->dec, RG_RULE_EVIDENCE_REPLAYED, RG_LDAP_INSUFFICIENT_ACCESS,
				"proofing token %s from %s was already used: each token allows one "
				"reset", ch->ev.jti, ch->ev.iss);
			return;
		}
	}
	slap_timestamp(&expires, &exp);
	ch->token.bv_len = 64 + 1 + exp.bv_len;
	ch->token.bv_val = op->o_tmpalloc(ch->token.bv_len + 1, op->o_tmpmemctx);
	snprintf(ch->token.bv_val, ch->token.bv_len + 1, "%s %s", hex, exp.bv_val);
}

/* Token ids are worth keeping only while their token could still be presented. */
static void
find_expired_tokens(Operation *op, struct rg_change *ch)
{
	char now[LDAP_LUTIL_GENTIME_BUFSIZE];
	struct berval bv = { sizeof(now), now };
	time_t t = slap_get_time();
	int n = 0;

	if (ch->used_tokens == NULL)
		return;
	slap_timestamp(&t, &bv);
	for (int i = 0; !BER_BVISNULL(&ch->used_tokens[i]); i++) {
		const char *sp = strchr(ch->used_tokens[i].bv_val, ' ');

		if (sp == NULL || strcmp(sp + 1, now) >= 0)
			continue;
		ch->expired_tokens = op->o_tmprealloc(ch->expired_tokens,
			(n + 2) * sizeof(struct berval), op->o_tmpmemctx);
		ch->expired_tokens[n++] = ch->used_tokens[i];
		BER_BVZERO(&ch->expired_tokens[n]);
	}
}

static int
load_policy(Operation *op, rg_info *ri, struct berval *policy_ndn, struct rg_change *ch)
{
	if (BER_BVISNULL(policy_ndn) && !BER_BVISEMPTY(&ri->ri_default_policy))
		ber_dupbv_x(policy_ndn, &ri->ri_default_policy, op->o_tmpmemctx);
	if (BER_BVISNULL(policy_ndn))
		return 0;
	if (rg_policy_load(op, policy_ndn, &ch->policy, ch->policy_err,
	    sizeof(ch->policy_err)) != 0)
		return -1;
	ch->have_policy = 1;
	return 0;
}

void
rg_change_decide(Operation *op, slap_overinst *on, struct rg_change *ch)
{
	rg_info *ri = on->on_bi.bi_private;
	struct rg_request *req = &ch->req;
	struct berval policy_ndn = BER_BVNULL;
	char err[200];
	int policy_rc;

	req->target_ndn = op->o_req_ndn.bv_val;
	req->requester_ndn = BER_BVISNULL(&op->o_ndn) ? "" : op->o_ndn.bv_val;
	req->now = slap_get_time();
	req->clock_skew = ri->ri_clock_skew;

	if (rg_ad.log_number == NULL && rg_schema_resolve(err, sizeof(err)) != 0) {
		rg_deny(&ch->dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM, "%s", err);
		return;
	}
	if (read_target(op, on, &policy_ndn, ch) != 0) {
		/* No such entry: the backend gives the client the right error. */
		ch->no_target = 1;
		return;
	}
	req->target_uid = BER_BVISNULL(&ch->target_uid) ? NULL : ch->target_uid.bv_val;
	req->old_password_given = ch->old_given;
	if (ch->exempt) {
		req->kind = rg_classify(NULL, ch->is_add, req->requester_ndn, req->target_ndn);
		rg_decide_exempt(&ch->dec);
		goto out;
	}
	policy_rc = load_policy(op, ri, &policy_ndn, ch);
	req->kind = rg_classify(ch->have_policy ? &ch->policy : NULL, ch->is_add,
		req->requester_ndn, req->target_ndn);
	if (policy_rc != 0) {
		rg_deny(&ch->dec, RG_RULE_NO_POLICY, RG_LDAP_UNWILLING_TO_PERFORM, "%s",
			ch->policy_err);
		goto out;
	}
	if (ch->have_policy && uses_evidence(req->kind)) {
		read_evidence(op, ri, ch);
		req->privileged = rg_is_member_of_any(op, &ch->policy.privileged_groups,
			&op->o_req_ndn);
		req->approver_authorized = req->ev_approver_ndn != NULL &&
			rg_is_member_of_any(op, &ch->policy.approver_groups, &ch->ev_approver_ndn);
	}
	rg_decide(ch->have_policy ? &ch->policy : NULL, req, &ch->dec);
	if (ch->dec.allowed && ch->have_policy)
		check_velocity(op, ri, ch);
	if (ch->dec.allowed && req->ev != NULL && !ch->is_add)
		claim_token(op, ri, ch);
	if (ch->dec.allowed && !ch->is_add)
		find_expired_tokens(op, ch);
out:
	if (!BER_BVISNULL(&policy_ndn))
		op->o_tmpfree(policy_ndn.bv_val, op->o_tmpmemctx);
}

int
rg_change_log(Operation *op, rg_info *ri, struct rg_change *ch, char *err, size_t errlen)
{
	struct rg_log_record r;
	const struct rg_evidence *ev = ch->req.ev_present && ch->req.ev_status == RG_EV_OK ?
		&ch->ev : NULL;

	memset(&r, 0, sizeof(r));
	r.target = op->o_req_ndn.bv_val;
	r.requester = ch->req.requester_ndn;
	r.approver = BER_BVISNULL(&ch->ev_approver_ndn) ? NULL : ch->ev_approver_ndn.bv_val;
	r.kind = rg_kind_name(ch->req.kind);
	r.decision = ch->dec.allowed ? "allowed" : "denied";
	r.rule = rg_rule_name(ch->dec.rule);
	r.rule_text = ch->dec.text;
	r.policy = ch->have_policy ? ch->policy.dn : NULL;
	r.operation = ch->operation;
	if (ev != NULL) {
		r.issuer = ev->iss;
		r.level = ev->ial;
		r.methods = (const char *const *)ev->amr;
		r.nmethods = ev->namr;
		r.jti = ev->jti;
		r.reason = ev->reason;
	}
	r.review_required = ch->dec.review_required;
	r.alert = ch->dec.alert;
	return rg_log_append(op, ri, &r, ch->dec.allowed, &ch->record_ndn, err, errlen);
}

void
rg_change_free(Operation *op, struct rg_change *ch)
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
	if (ch->expired_tokens != NULL)
		op->o_tmpfree(ch->expired_tokens, op->o_tmpmemctx);
	if (ch->used_tokens != NULL)
		ber_bvarray_free_x(ch->used_tokens, op->o_tmpmemctx);
	if (!BER_BVISNULL(&ch->token))
		op->o_tmpfree(ch->token.bv_val, op->o_tmpmemctx);
	if (!BER_BVISNULL(&ch->record_ndn))
		op->o_tmpfree(ch->record_ndn.bv_val, op->o_tmpmemctx);
}
