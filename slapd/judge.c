/* Judging one password change, every stage in the order it runs: what the target entry says
 * (its policy, its uid, its used tokens, the old password), what the requester may do to it,
 * the verified evidence and group facts, the core's decision, the velocity limits and the
 * reset log record under one lock, then either the denial or the change's effects on the
 * same write. The core decides; this file only gathers facts from slapd for it. */
#include "resetguard.h"

#include <openssl/crypto.h>

#include "lutil.h"

/* Everything gathered about one change, released by change_free. */
struct rg_change {
	const struct rg_attempt *at;
	int recreated;                      /* an Add of an account the reset log knows */
	struct rg_history history;
	struct rg_policy policy;
	int have_policy;
	char policy_err[256];
	struct rg_evidence ev;
	char ev_err[256];
	struct berval ev_sub_ndn;
	struct berval ev_approver_ndn;
	struct berval target_uid;
	struct berval authenticated;        /* o_conn's bound DN when it is not o_ndn */
	long long reset_count;
	struct rg_request req;
	struct rg_decision dec;
	BerVarray used_tokens;              /* the target's rgUsedToken values */
	struct berval token;                /* the rgUsedToken value this change adds */
	BerVarray expired_tokens;           /* used_tokens past expiry (shared values) */
	struct berval record_ndn;           /* its reset log record */
	unsigned long long record_number;
	struct berval sealed;               /* the new password sealed to syncd: OPENSSL_malloc'd
					     * DER, or empty */
	struct rg_activity activity;        /* the target's recent activity */
	struct rg_peer peer;                /* the connection's TLS client certificate */
	char alert_reason[512];             /* the anomaly alerts raised (alerts.c), or empty */
	struct rg_atomic atomic;            /* atomic mode: the record the change commits with */
};

enum target_state { TARGET_READ, TARGET_MISSING, TARGET_NO_ACCESS };

static void
copy_first_value(Operation *op, Entry *e, AttributeDescription *ad, int normalized,
	struct berval *out)
{
	Attribute *a = attr_find(e->e_attrs, ad);

	BER_BVZERO(out);
	if (a != NULL && a->a_numvals > 0)
		ber_dupbv_x(out, normalized ? &a->a_nvals[0] : &a->a_vals[0], op->o_tmpmemctx);
}

/* Only a requester the ACLs let make this change is judged at all: anyone else is refused
 * by the backend, and must not be able to fill the reset log with denials. */
static int
may_make_change(Operation *op, Entry *e, const struct rg_attempt *at)
{
	if (at->is_add)
		return access_allowed(op, e, slap_schema.si_ad_entry, NULL, ACL_WADD, NULL);
	if (at->password_in_rdn)
		return access_allowed(op, e, slap_schema.si_ad_entry, NULL, ACL_WRITE, NULL);
	return access_allowed(op, e, slap_schema.si_ad_userPassword, NULL, ACL_WRITE, NULL);
}

static enum target_state
read_target(Operation *op, slap_overinst *on, struct berval *policy_ndn, struct rg_change *ch)
{
	const struct rg_attempt *at = ch->at;
	BackendInfo *bi = op->o_bd->bd_info;
	Entry *e = NULL;
	struct berval count;
	Attribute *a;
	enum target_state st = TARGET_READ;

	if (at->is_add) {
		e = op->ora_e;
	} else {
		op->o_bd->bd_info = (BackendInfo *)on->on_info;
		if (be_entry_get_rw(op, &op->o_req_ndn, NULL, NULL, 0, &e) != LDAP_SUCCESS)
			e = NULL;
		op->o_bd->bd_info = bi;
		if (e == NULL)
			return TARGET_MISSING;
	}
	if (!may_make_change(op, e, at)) {
		st = TARGET_NO_ACCESS;
		goto out;
	}
	/* A self-change by Modify proves knowledge of the old password only if the one deleted
	 * value verifies as it: the stored hash, which the user may be able to read, does not. */
	if (at->n_old_values == 1 && at->old_values != NULL &&
	    (a = attr_find(e->e_attrs, slap_schema.si_ad_userPassword)) != NULL) {
		const char *text;

		if (slap_passwd_check(op, e, a, &at->old_values[0], &text) == 0)
			ch->req.old_password_given = 1;
		else
			ch->req.old_password_wrong = 1;
	}
	copy_first_value(op, e, rg_ad.policy_subentry, 1, policy_ndn);
	if ((a = attr_find(e->e_attrs, rg_ad.used_token)) != NULL)
		ber_bvarray_dup_x(&ch->used_tokens, a->a_vals, op->o_tmpmemctx);
	copy_first_value(op, e, rg_ad.uid, 0, &ch->target_uid);
	copy_first_value(op, e, rg_ad.reset_count, 0, &count);
	ch->reset_count = BER_BVISNULL(&count) ? 0 : strtoll(count.bv_val, NULL, 10);
	if (!BER_BVISNULL(&count))
		op->o_tmpfree(count.bv_val, op->o_tmpmemctx);
	if (!at->is_add) {
		rg_activity_read(op, e, ch->req.now, &ch->activity);
		rg_activity_to_request(&ch->activity, &ch->req);
	}
out:
	if (!at->is_add) {
		op->o_bd->bd_info = (BackendInfo *)on->on_info;
		be_entry_release_r(op, e);
		op->o_bd->bd_info = bi;
	}
	return st;
}

static int
normalize_dn(Operation *op, const char *s, struct berval *ndn)
{
	struct berval dn;

	ber_str2bv(s, 0, 0, &dn);
	return dnNormalize(0, NULL, NULL, &dn, ndn, op->o_tmpmemctx) == LDAP_SUCCESS ? 0 : -1;
}

/* Verifies the proofing control, if any, into the request's evidence fields. */
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
			rg_seterr(ch->ev_err, sizeof(ch->ev_err), "claim \"approver\" is not a DN");
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

/* A token is single-use per account, and a token names its account: so its use is recorded
 * on the account itself, as a value the same write adds. Two uses racing each other collide
 * in the backend, which refuses the second value (outcome.c). An account created again has
 * lost those values: the reset log remembers them instead. */
static int
token_used(struct rg_change *ch)
{
	if (ch->recreated)
		return ch->history.token_used;
	for (int i = 0; ch->used_tokens != NULL && !BER_BVISNULL(&ch->used_tokens[i]); i++)
		if (strncmp(ch->used_tokens[i].bv_val, ch->ev.id, 64) == 0)
			return 1;
	return 0;
}

static void
gather_evidence_facts(Operation *op, rg_info *ri, struct rg_change *ch)
{
	struct rg_request *req = &ch->req;

	read_evidence(op, ri, ch);
	rg_possession_read(op, &ch->peer);
	rg_possession_to_request(&ch->peer, req);
	/* For an account created again, replays are looked up in the log. */
	if (ch->recreated && req->ev != NULL &&
	    rg_log_history(op, ri, &op->o_req_ndn, &ch->ev, &ch->history) != 0)
		req->log_error = 1;
	req->token_replayed = req->ev != NULL && token_used(ch);
	req->privileged = rg_group_member(op, &ch->policy.privileged_groups, &op->o_req_ndn);
	if (req->ev_approver_ndn != NULL)
		req->approver_authorized = rg_group_member(op, &ch->policy.approver_groups,
			&ch->ev_approver_ndn);
}

/* The rgUsedToken value this change adds: the token's id and when it stops mattering. */
static void
claim_token(Operation *op, rg_info *ri, struct rg_change *ch)
{
	char timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	struct berval exp = { sizeof(timebuf), timebuf };
	/* Kept within year 9999: a five-digit year would sort as already expired, and the
	 * value would be pruned while the token could still be presented. */
	time_t expires = (time_t)(ch->ev.exp > RG_EVIDENCE_MAX_TIME - ri->ri_clock_skew ?
		RG_EVIDENCE_MAX_TIME : ch->ev.exp + ri->ri_clock_skew);

	slap_timestamp(&expires, &exp);
	ch->token.bv_len = 64 + 1 + exp.bv_len;
	ch->token.bv_val = op->o_tmpalloc(ch->token.bv_len + 1, op->o_tmpmemctx);
	snprintf(ch->token.bv_val, ch->token.bv_len + 1, "%s %s", ch->ev.id, exp.bv_val);
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

static void
load_policy(Operation *op, rg_info *ri, struct berval *policy_ndn, struct rg_change *ch)
{
	if (BER_BVISNULL(policy_ndn) && !BER_BVISEMPTY(&ri->ri_default_policy))
		ber_dupbv_x(policy_ndn, &ri->ri_default_policy, op->o_tmpmemctx);
	if (BER_BVISNULL(policy_ndn))
		return;
	if (rg_policy_load(op, policy_ndn, &ch->policy, ch->policy_err,
	    sizeof(ch->policy_err)) == 0)
		ch->have_policy = 1;
	else
		ch->req.policy_error = ch->policy_err;
}

static enum rg_group_fact
break_glass_member(Operation *op, struct rg_change *ch)
{
	if (!ch->have_policy || ch->policy.break_glass_groups.n == 0 || BER_BVISEMPTY(&op->o_ndn))
		return RG_GROUP_NO;
	return rg_group_member(op, &ch->policy.break_glass_groups, &op->o_ndn);
}

/* Proxied authorization changes o_ndn, never the connection's bound identity: the request
 * is judged as the authorization identity and records the bound one beside it. */
static void
read_identities(Operation *op, rg_info *ri, struct rg_change *ch)
{
	struct rg_request *req = &ch->req;
	struct berval *bound = op->o_conn != NULL ? &op->o_conn->c_ndn : NULL;

	req->requester_ndn = BER_BVISNULL(&op->o_ndn) ? "" : op->o_ndn.bv_val;
	if (bound != NULL && !BER_BVISNULL(bound) && !dn_match(bound, &op->o_ndn)) {
		ber_dupbv_x(&ch->authenticated, bound, op->o_tmpmemctx);
		req->authenticated_ndn = ch->authenticated.bv_val;
	}
	req->exempt = ri->ri_rootdn_exempt && be_isroot(op) &&
		(req->authenticated_ndn == NULL || be_isroot_dn(op->o_bd, bound));
}

static void
check_velocity(Operation *op, rg_info *ri, struct rg_change *ch)
{
	for (size_t i = 0; i < ch->policy.nvelocity && ch->dec.allowed; i++) {
		const struct rg_velocity_limit *v = &ch->policy.velocity[i];
		struct berval *who = v->per_requester ? &op->o_ndn : &op->o_req_ndn;

		if (BER_BVISEMPTY(who))
			continue;
		rg_velocity_apply(&ch->policy, &ch->req, v,
			rg_log_count(op, ri, v, who, ch->req.now - v->window), &ch->dec);
		if (ch->dec.alert)
			Debug(LDAP_DEBUG_ANY, "%s resetguard: ALERT velocity limit reached for "
				"\"%s\" (%s)\n", op->o_log_prefix, who->bv_val, ch->dec.text);
	}
}

/* Sealed to syncd before the backend runs, so that no copy of the cleartext outlives this
 * operation's own buffers; the sealed form goes with the record, and is removed from it if
 * the backend refuses the change. */
static void
seal_for_syncd(Operation *op, rg_info *ri, struct rg_change *ch)
{
	struct berval *secret = ch->at->secret;
	unsigned char *der;
	size_t len;
	char err[256] = "";

	if (ri->ri_seal_cert == NULL || secret == NULL || BER_BVISEMPTY(secret))
		return;
	if (rg_seal(ri->ri_seal_cert, (unsigned char *)secret->bv_val, secret->bv_len, &der,
	    &len, err, sizeof(err)) != 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s; the legacy stores will not receive "
			"this password\n", op->o_log_prefix, err);
		return;
	}
	ch->sealed.bv_val = (char *)der;
	ch->sealed.bv_len = len;
}

static void
fill_record(Operation *op, struct rg_change *ch, struct rg_log_record *r)
{
	const struct rg_evidence *ev = ch->req.ev_present && ch->req.ev_status == RG_EV_OK ?
		&ch->ev : NULL;

	memset(r, 0, sizeof(*r));
	r->target = op->o_req_ndn.bv_val;
	r->requester = ch->req.requester_ndn;
	r->authenticated = ch->req.authenticated_ndn;
	r->approver = BER_BVISNULL(&ch->ev_approver_ndn) ? NULL : ch->ev_approver_ndn.bv_val;
	r->kind = rg_kind_name(ch->req.kind);
	r->decision = ch->dec.allowed ? "allowed" : "denied";
	r->rule = rg_rule_name(ch->dec.rule);
	r->rule_text = ch->dec.text;
	r->policy = ch->have_policy ? ch->policy.dn : NULL;
	r->operation = ch->at->operation;
	if (ev != NULL) {
		r->issuer = ev->iss;
		r->level = ev->ial;
		r->methods = (const char *const *)ev->amr;
		r->nmethods = ev->namr;
		r->jti = ev->jti;
		r->reason = ev->reason;
	}
	r->review_required = ch->dec.review_required;
	r->alert = ch->dec.alert;
	r->alert_reason = ch->alert_reason[0] != '\0' ? ch->alert_reason : NULL;
}

/* Atomic mode: an allowed change's record is written by the change's own transaction
 * (atomic.c), so here it is only numbered and built. */
static int
append_record(Operation *op, rg_info *ri, struct rg_change *ch, char *err, size_t errlen)
{
	struct rg_log_record *r = &ch->atomic.record;
	struct rg_log_state st = { NULL, NULL, NULL };

	fill_record(op, ch, r);
	if (ch->dec.allowed && !BER_BVISNULL(&ch->sealed))
		st.sealed = &ch->sealed;
	if (ch->atomic.on && ch->dec.allowed) {
		st.outcome = "applied";
		if ((ch->atomic.entry = rg_log_entry(op, ri, r, &st, ch->atomic.time,
		    ch->atomic.hash, err, errlen)) == NULL)
			return -1;
	} else {
		if (ch->dec.allowed)
			st.outcome = "pending";
		if (rg_log_append(op, ri, r, &st, &ch->record_ndn, err, errlen) != 0)
			return -1;
	}
	ch->record_number = r->number;
	return 0;
}

/* Velocity and the record under one lock: a limit counts every change recorded before.
 * Atomic mode keeps the lock for an allowed change until it commits (rg_atomic_apply). */
static void
decide_and_record(Operation *op, rg_info *ri, struct rg_change *ch)
{
	char err[256];

	rg_decide(ch->have_policy ? &ch->policy : NULL, &ch->req, &ch->dec);
	/* Inside a transaction the requester's access cannot be read, so its refusal is only
	 * logged: a record would let anyone write denials of any account. */
	if (ch->req.in_transaction) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: refused a password change of \"%s\" by "
			"\"%s\" inside an LDAP transaction\n", op->o_log_prefix,
			op->o_req_ndn.bv_val, ch->req.requester_ndn);
		return;
	}
	if (ch->dec.allowed)
		seal_for_syncd(op, ri, ch);
	rg_log_lock(ri);
	rg_log_settle(op, ri);
	if (ch->dec.allowed && ch->have_policy && !ch->req.exempt)
		check_velocity(op, ri, ch);
	rg_alerts_check(op, ri, &ch->req, &ch->dec, ch->alert_reason, sizeof(ch->alert_reason));
	if (append_record(op, ri, ch, err, sizeof(err)) != 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s\n", op->o_log_prefix, err);
		/* No unlogged reset: an allowed change whose record cannot be written is refused. */
		if (ch->dec.allowed)
			rg_deny(&ch->dec, RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
				"the change was not made because its reset log record could not be "
				"written: %s", err);
	}
	if (ch->atomic.entry == NULL)
		rg_log_unlock(ri);
}

static int
send_denial(Operation *op, SlapReply *rs, const struct rg_attempt *at, struct rg_decision *d)
{
	const char *rule = rg_rule_name(d->rule);
	size_t len = strlen(d->text) + strlen(rule) + sizeof(" (resetguard rule )");
	char *text = op->o_tmpalloc(len, op->o_tmpmemctx);

	snprintf(text, len, "%s (resetguard rule %s)", d->text, rule);
	rs->sr_err = d->ldap_result;
	rs->sr_text = text;
	send_ldap_result(op, rs);
	/* A Password Modify response is sent after passwd_extop returns, with this text; it
	 * goes with the operation's memory. Any other answer is sent: the text can go now,
	 * which matters where there is no such memory (operations of an LDAP transaction run
	 * at its commit with malloc). */
	if (!at->pwdexop) {
		rs->sr_text = NULL;
		op->o_tmpfree(text, op->o_tmpmemctx);
	}
	return rs->sr_err;
}

static void
apply_effects(Operation *op, struct rg_change *ch)
{
	struct rg_effects fx;

	memset(&fx, 0, sizeof(fx));
	fx.kind = ch->req.kind;
	fx.ev = ch->req.ev;
	fx.approver_ndn = BER_BVISNULL(&ch->ev_approver_ndn) ? NULL : &ch->ev_approver_ndn;
	/* Review markers survive an account's deletion and re-creation. */
	fx.review_required = ch->dec.review_required || ch->history.unreviewed;
	fx.force_change = ch->dec.force_change;
	fx.reset_count = (ch->recreated ? ch->history.applied : ch->reset_count) + 1;
	fx.change_number = ch->record_number;
	fx.token = BER_BVISNULL(&ch->token) ? NULL : &ch->token;
	fx.expired_tokens = ch->expired_tokens;
	if (ch->at->is_add)
		rg_effects_to_entry(op, &fx, op->ora_e);
	else
		rg_effects_to_mods(op, &fx, &op->orm_modlist);
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
	if (!BER_BVISNULL(&ch->authenticated))
		op->o_tmpfree(ch->authenticated.bv_val, op->o_tmpmemctx);
	if (ch->expired_tokens != NULL)
		op->o_tmpfree(ch->expired_tokens, op->o_tmpmemctx);
	if (ch->used_tokens != NULL)
		ber_bvarray_free_x(ch->used_tokens, op->o_tmpmemctx);
	if (!BER_BVISNULL(&ch->token))
		op->o_tmpfree(ch->token.bv_val, op->o_tmpmemctx);
	if (!BER_BVISNULL(&ch->record_ndn))
		op->o_tmpfree(ch->record_ndn.bv_val, op->o_tmpmemctx);
	OPENSSL_free(ch->sealed.bv_val);
	rg_activity_free(op, &ch->activity);
	if (ch->atomic.entry != NULL)
		entry_free(ch->atomic.entry);
}

/* Facts about the target. Inside a transaction nothing may be read (back-mdb holds that
 * transaction's write lock), so the refusal is decided without them. Returns non-zero when
 * the backend, not resetguard, answers the client. */
static int
gather_target_facts(Operation *op, slap_overinst *on, rg_info *ri, struct rg_change *ch,
	struct berval *policy_ndn)
{
	struct rg_request *req = &ch->req;

	if (req->in_transaction)
		return 0;
	switch (read_target(op, on, policy_ndn, ch)) {
	case TARGET_MISSING:        /* noSuchObject */
	case TARGET_NO_ACCESS:      /* insufficientAccess */
		return 1;
	case TARGET_READ:
		break;
	}
	req->target_uid = BER_BVISNULL(&ch->target_uid) ? NULL : ch->target_uid.bv_val;
	if (ch->at->is_add) {
		if (rg_log_history(op, ri, &op->o_req_ndn, NULL, &ch->history) != 0)
			req->log_error = 1;
		ch->recreated = ch->history.known;
	}
	return 0;
}

int
rg_judge(Operation *op, SlapReply *rs, const struct rg_attempt *at)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	struct rg_change ch;
	struct rg_request *req = &ch.req;
	struct berval policy_ndn = BER_BVNULL;
	char err[200];
	int rc = SLAP_CB_CONTINUE;

	memset(&ch, 0, sizeof(ch));
	ch.at = at;
	req->target_ndn = op->o_req_ndn.bv_val;
	req->now = slap_get_time();
	req->clock_skew = ri->ri_clock_skew;
	req->log_name = ri->ri_log_base.bv_val;
	req->in_transaction = op->o_txnSpec != SLAP_CONTROL_NONE;
	req->password_in_rdn = at->password_in_rdn;
	ch.atomic.on = rg_log_in_governed_db(op, ri);
	req->old_values = at->n_old_values;
	req->old_password_given = at->old_given;
	read_identities(op, ri, &ch);

	if (rg_ad.log_number == NULL && rg_schema_resolve(err, sizeof(err)) != 0) {
		rg_deny(&ch.dec, RG_RULE_INTERNAL, RG_LDAP_UNWILLING_TO_PERFORM, "%s", err);
		rc = send_denial(op, rs, at, &ch.dec);
		goto out;
	}
	if (gather_target_facts(op, on, ri, &ch, &policy_ndn) != 0)
		goto out;
	if (!req->exempt)
		load_policy(op, ri, &policy_ndn, &ch);
	req->kind = rg_classify(ch.have_policy ? &ch.policy : NULL, at->is_add && !ch.recreated,
		req->requester_ndn, req->target_ndn, break_glass_member(op, &ch));
	if (ch.have_policy && uses_evidence(req->kind) && !req->in_transaction)
		gather_evidence_facts(op, ri, &ch);
	decide_and_record(op, ri, &ch);
	rg_monitor_judged(ri, req->kind, ch.dec.rule, ch.dec.allowed);
	Debug(LDAP_DEBUG_STATS, "%s resetguard: %s %s of \"%s\" by \"%s\": %s (%s)\n",
		op->o_log_prefix, rg_kind_name(req->kind), at->operation, op->o_req_ndn.bv_val,
		req->requester_ndn, ch.dec.allowed ? "allowed" : "denied",
		rg_rule_name(ch.dec.rule));
	if (!ch.dec.allowed) {
		rc = send_denial(op, rs, at, &ch.dec);
		goto out;
	}
	if (req->ev != NULL)
		claim_token(op, ri, &ch);
	if (!at->is_add)
		find_expired_tokens(op, &ch);
	apply_effects(op, &ch);
	rg_outcome_expect(op, ri, &ch.record_ndn, !BER_BVISNULL(&ch.token), at->pwdexop);
	if (ch.atomic.entry != NULL)
		rc = rg_atomic_apply(op, rs, on, ri, &ch.atomic);
out:
	if (!BER_BVISNULL(&policy_ndn))
		op->o_tmpfree(policy_ndn.bv_val, op->o_tmpmemctx);
	change_free(op, &ch);
	return rc;
}
