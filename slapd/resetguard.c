/* resetguard: no password in this database is set unless the reset policy allows it.
 *
 * Every way a password can be set ends in a Modify or an Add of userPassword: the Password
 * Modify extended operation (RFC 3062) reaches this overlay as the Modify that passwd_extop
 * builds, so judging Modify and Add judges each change exactly once. A denial is sent
 * before the backend runs, so it changes nothing. On an allowed change the overlay adds its
 * operational attributes to the same write, and consumes the proofing token's id. */
#include "resetguard.h"

#include <ac/time.h>
#include <openssl/crypto.h>

#include "lutil.h"

#include "slap-config.h"

static slap_overinst rg_overinst;

#define REPLAYED_TEXT \
	"proofing token was already used: each token allows one reset " \
	"(resetguard rule evidence-replayed)"

/* State carried to the response: the outcome to record and what to send on. */
struct rg_pending {
	slap_callback cb;
	rg_info *ri;
	int token_added;
	int pwdexop;
	int replayed;                       /* the Password Modify response needs its text */
	struct berval record_ndn;
	struct berval sealed;               /* OPENSSL_malloc'd DER, or empty */
};

static int
rg_response(Operation *op, SlapReply *rs)
{
	struct rg_pending *p = op->o_callback->sc_private;
	int applied = rs->sr_err == LDAP_SUCCESS;

	/* back-mdb clears sr_text after sending a Modify's result; for Password Modify that
	 * result is swallowed and the client's response is built later, so this callback stays
	 * on the operation to put the replay text back into that response. */
	if (rs->sr_type == REP_EXTENDED && p->replayed) {
		op->o_callback = p->cb.sc_next;
		rs->sr_err = LDAP_INSUFFICIENT_ACCESS;
		rs->sr_text = REPLAYED_TEXT;
		op->o_tmpfree(p, op->o_tmpmemctx);
		return SLAP_CB_CONTINUE;
	}
	if (rs->sr_type != REP_RESULT)
		return SLAP_CB_CONTINUE;
	/* The same token used twice at once: the backend refused the second rgUsedToken. */
	if (p->token_added && rs->sr_err == LDAP_TYPE_OR_VALUE_EXISTS && rs->sr_text != NULL &&
	    strstr(rs->sr_text, "rgUsedToken") != NULL) {
		rs->sr_err = LDAP_INSUFFICIENT_ACCESS;
		rs->sr_text = REPLAYED_TEXT;
		p->replayed = p->pwdexop;
	}
	if (!BER_BVISNULL(&p->record_ndn))
		rg_log_outcome(op, p->ri, &p->record_ndn, applied, rs->sr_text,
			BER_BVISNULL(&p->sealed) ? NULL : &p->sealed);
	OPENSSL_free(p->sealed.bv_val);
	BER_BVZERO(&p->sealed);
	if (!BER_BVISNULL(&p->record_ndn))
		op->o_tmpfree(p->record_ndn.bv_val, op->o_tmpmemctx);
	BER_BVZERO(&p->record_ndn);
	if (!p->replayed) {
		op->o_callback = p->cb.sc_next;
		op->o_tmpfree(p, op->o_tmpmemctx);
	}
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

/* A value with a known {SCHEME} prefix is already hashed: there is no cleartext to send on
 * to the legacy stores. */
static struct berval *
cleartext(BerVarray vals)
{
	if (vals == NULL || BER_BVISNULL(&vals[0]) || lutil_passwd_scheme(vals[0].bv_val))
		return NULL;
	return &vals[0];
}

/* The new password is sealed to syncd before the backend runs, so no copy of the
 * cleartext outlives this operation's own buffers; the sealed form reaches the log only if
 * the backend applies the change. */
static void
seal_for_syncd(Operation *op, rg_info *ri, struct berval *secret, struct berval *sealed)
{
	unsigned char *der;
	size_t len;
	char err[256] = "";

	BER_BVZERO(sealed);
	if (ri->ri_seal_cert == NULL || secret == NULL || BER_BVISEMPTY(secret))
		return;
	if (rg_seal(ri->ri_seal_cert, (unsigned char *)secret->bv_val, secret->bv_len, &der,
	    &len, err, sizeof(err)) != 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s; the legacy stores will not receive "
			"this password\n", op->o_log_prefix, err);
		return;
	}
	sealed->bv_val = (char *)der;
	sealed->bv_len = len;
}

static void
push_pending(Operation *op, rg_info *ri, struct rg_change *ch, struct berval *secret)
{
	struct rg_pending *p = op->o_tmpcalloc(1, sizeof(*p), op->o_tmpmemctx);

	p->cb.sc_response = rg_response;
	p->cb.sc_private = p;
	p->cb.sc_next = op->o_callback;
	p->ri = ri;
	p->token_added = !BER_BVISNULL(&ch->token);
	p->pwdexop = pwdexop_request(op) != NULL;
	p->record_ndn = ch->record_ndn;
	BER_BVZERO(&ch->record_ndn);
	seal_for_syncd(op, ri, secret, &p->sealed);
	op->o_callback = &p->cb;
}

static void
apply_effects(Operation *op, struct rg_change *ch)
{
	struct rg_effects fx;

	memset(&fx, 0, sizeof(fx));
	fx.kind = ch->req.kind;
	fx.ev = ch->req.ev;
	fx.approver_ndn = BER_BVISNULL(&ch->ev_approver_ndn) ? NULL : &ch->ev_approver_ndn;
	fx.review_required = ch->dec.review_required;
	fx.force_change = ch->dec.force_change;
	fx.reset_count = ch->reset_count + 1;
	fx.token = BER_BVISNULL(&ch->token) ? NULL : &ch->token;
	fx.expired_tokens = ch->expired_tokens;
	if (ch->is_add)
		rg_effects_to_entry(op, &fx, op->ora_e);
	else
		rg_effects_to_mods(op, &fx, &op->orm_modlist);
}

static int
send_denial(Operation *op, SlapReply *rs, struct rg_decision *d)
{
	const char *rule = rg_rule_name(d->rule);
	size_t len = strlen(d->text) + strlen(rule) + sizeof(" (resetguard rule )");
	char *text = op->o_tmpalloc(len, op->o_tmpmemctx);

	/* The text must outlive this call: a Password Modify response is sent after
	 * passwd_extop returns. */
	snprintf(text, len, "%s (resetguard rule %s)", d->text, rule);
	rs->sr_err = d->ldap_result;
	rs->sr_text = text;
	send_ldap_result(op, rs);
	return rs->sr_err;
}

static int
rg_judge(Operation *op, SlapReply *rs, int is_add, int old_given, BerVarray old_values,
	struct berval *secret, const char *operation)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	struct rg_change ch;
	char err[256];
	int rc = SLAP_CB_CONTINUE;

	memset(&ch, 0, sizeof(ch));
	ch.is_add = is_add;
	ch.operation = operation;
	ch.exempt = ri->ri_rootdn_exempt && be_isroot(op);
	ch.old_given = old_given;
	ch.old_values = old_values;
	rg_change_decide(op, on, &ch);
	if (ch.no_target)
		goto out;

	/* No unlogged reset: an allowed change whose record cannot be written is refused. */
	if (rg_change_log(op, ri, &ch, err, sizeof(err)) != 0) {
		Debug(LDAP_DEBUG_ANY, "%s resetguard: %s\n", op->o_log_prefix, err);
		if (ch.dec.allowed) {
			rg_deny(&ch.dec, RG_RULE_LOG_FAILED, RG_LDAP_UNWILLING_TO_PERFORM,
				"the change was not made because its reset log record could not be "
				"written: %s", err);
		}
	}
	Debug(LDAP_DEBUG_STATS, "%s resetguard: %s %s of \"%s\" by \"%s\": %s (%s)\n",
		op->o_log_prefix, rg_kind_name(ch.req.kind), operation, op->o_req_ndn.bv_val,
		ch.req.requester_ndn, ch.dec.allowed ? "allowed" : "denied",
		rg_rule_name(ch.dec.rule));

	if (!ch.dec.allowed) {
		rc = send_denial(op, rs, &ch.dec);
		goto out;
	}
	apply_effects(op, &ch);
	push_pending(op, ri, &ch, secret);
out:
	rg_change_free(op, &ch);
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
	rs->sr_text = "the rgLastReset*, rgResetCount, rgReviewRequired and rgUsedToken "
		"attributes are maintained by resetguard and cannot be written";
	send_ldap_result(op, rs);
	return rs->sr_err;
}

static int
rg_op_modify(Operation *op, SlapReply *rs)
{
	req_pwdexop_s *qpw;
	BerVarray deleted = NULL;
	struct berval *secret = NULL;
	int touches = 0, adds_value = 0;

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
			deleted = m->sml_values;
		if (m->sml_op == LDAP_MOD_ADD && m->sml_values != NULL)
			adds_value = 1;
		if ((m->sml_op == LDAP_MOD_ADD || m->sml_op == LDAP_MOD_REPLACE) &&
		    m->sml_values != NULL)
			secret = cleartext(m->sml_values);
	}
	if (!touches)
		return SLAP_CB_CONTINUE;

	/* The frontend has already checked the old password of a Password Modify request;
	 * a Modify's deleted value is checked against the entry when the change is judged. */
	qpw = pwdexop_request(op);
	if (qpw != NULL)
		return rg_judge(op, rs, 0, !BER_BVISNULL(&qpw->rs_old), NULL, &qpw->rs_new,
			"passwordModify");
	return rg_judge(op, rs, 0, 0, adds_value ? deleted : NULL, secret, "modify");
}

static int
rg_op_add(Operation *op, SlapReply *rs)
{
	struct berval *secret = NULL;
	int touches = 0;

	if (is_replication(op))
		return SLAP_CB_CONTINUE;
	for (Attribute *a = op->ora_e->e_attrs; a != NULL; a = a->a_next) {
		if (rg_is_maintained_attr(a->a_desc))
			return refuse_maintained(op, rs, a->a_desc);
		if (is_password_attr(a->a_desc)) {
			touches = 1;
			secret = cleartext(a->a_vals);
		}
	}
	if (!touches)
		return SLAP_CB_CONTINUE;
	return rg_judge(op, rs, 1, 0, NULL, secret, "add");
}

static int
rg_db_init(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;
	rg_info *ri = ch_calloc(1, sizeof(*ri));

	ri->ri_clock_skew = 30;
	ri->ri_log_purge_interval = 86400;
	ber_str2bv("cn=resetlog", 0, 1, &ri->ri_log_base);
	ber_str2bv("cn=resetlog", 0, 1, &ri->ri_log_nbase);
	ldap_pvt_thread_mutex_init(&ri->ri_log_mutex);
	on->on_bi.bi_private = ri;
	/* Without this a client marking the proofing control critical is refused with
	 * unavailableCriticalExtension before the overlay sees the request. */
	return overlay_register_control(be, RG_PROOFING_CONTROL_OID);
}

static int
rg_db_open(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	BackendDB *log_be;
	char err[200];

	if (rg_schema_resolve(err, sizeof(err)) != 0) {
		snprintf(cr->msg, sizeof(cr->msg), "resetguard: %s", err);
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	log_be = select_backend(&ri->ri_log_nbase, 0);
	if (log_be == NULL || !overlay_is_inst(log_be, "rglog")) {
		snprintf(cr->msg, sizeof(cr->msg), "resetguard: the reset log %s %s: configure a "
			"database with that suffix and the rglog overlay on it, or name another one "
			"with resetguard-log", ri->ri_log_base.bv_val, log_be == NULL ?
			"is in no database" : "database lacks the rglog overlay that keeps its "
			"records immutable");
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	if (log_be == be) {
		snprintf(cr->msg, sizeof(cr->msg), "resetguard: the reset log %s must be a "
			"database of its own, not the one the overlay governs", ri->ri_log_base.bv_val);
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	if (slapMode & SLAP_SERVER_MODE)
		rg_log_purge_start(be, ri);
	return 0;
}

static int
rg_db_close(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;

	rg_log_purge_stop(on->on_bi.bi_private);
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
	ch_free(ri->ri_log_base.bv_val);
	ch_free(ri->ri_log_nbase.bv_val);
	ldap_pvt_thread_mutex_destroy(&ri->ri_log_mutex);
	rg_issuers_free(&ri->ri_issuers);
	X509_free(ri->ri_seal_cert);
	ch_free(ri->ri_seal_cert_file);
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
	if ((rc = rg_logguard_register()) != 0)
		return rc;
	return overlay_register(&rg_overinst);
}

int
init_module(int argc, char *argv[])
{
	return resetguard_initialize();
}
