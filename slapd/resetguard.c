/* resetguard: no password in this database is set unless the reset policy allows it.
 *
 * Every way a password can be set ends in a Modify, an Add or a ModRDN that touches
 * userPassword (or a subtype or option of it): the Password Modify extended operation
 * (RFC 3062) reaches this overlay as the Modify that passwd_extop builds, so judging these
 * three judges each change exactly once. This file only recognises such operations and
 * hands each to rg_judge (judge.c); it also registers the overlay. */
#include "resetguard.h"

/* Built as a module by default; a slapd built with the overlay inside defines this. */
#ifndef SLAPD_OVER_RESETGUARD
#define SLAPD_OVER_RESETGUARD SLAPD_MOD_DYNAMIC
#endif

#include "lutil.h"

#include "slap-config.h"

static slap_overinst rg_overinst;

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
	rs->sr_text = "the rgLastReset*, rgResetCount, rgReviewRequired, rgUsedToken and "
		"rgRecoveryChangeTime attributes are maintained by resetguard and cannot be written";
	send_ldap_result(op, rs);
	return rs->sr_err;
}

static int
rg_op_modify(Operation *op, SlapReply *rs)
{
	struct rg_attempt at = { "modify" };
	req_pwdexop_s *qpw;
	BerVarray deleted = NULL;
	int touches = 0, adds_value = 0, ndeleted = 0;

	if (is_replication(op))
		return rg_repl_modify(op, rs, (slap_overinst *)op->o_bd->bd_info);
	for (Modifications *m = op->orm_modlist; m != NULL; m = m->sml_next) {
		if (rg_is_maintained_attr(m->sml_desc) &&
		    !(m->sml_flags & SLAP_MOD_INTERNAL))
			return refuse_maintained(op, rs, m->sml_desc);
		if (!is_password_attr(m->sml_desc))
			continue;
		touches = 1;
		if (m->sml_op == LDAP_MOD_DELETE && m->sml_values != NULL) {
			deleted = m->sml_values;
			for (int i = 0; !BER_BVISNULL(&m->sml_values[i]); i++)
				ndeleted++;
		}
		if ((m->sml_op == LDAP_MOD_ADD || m->sml_op == LDAP_MOD_REPLACE) &&
		    m->sml_values != NULL) {
			adds_value = 1;
			at.secret = cleartext(m->sml_values);
		}
	}
	rg_recovery_mark(op, &op->orm_modlist);
	if (!touches)
		return SLAP_CB_CONTINUE;

	/* The frontend has already checked the old password of a Password Modify request;
	 * a Modify's deleted value is checked against the entry when the change is judged. */
	qpw = pwdexop_request(op);
	if (qpw != NULL) {
		at.operation = "passwordModify";
		at.pwdexop = 1;
		at.old_given = !BER_BVISNULL(&qpw->rs_old);
		at.secret = &qpw->rs_new;
	} else if (adds_value) {
		at.old_values = deleted;
		at.n_old_values = ndeleted;
	}
	return rg_judge(op, rs, &at);
}

static int
rg_op_add(Operation *op, SlapReply *rs)
{
	struct rg_attempt at = { "add" };
	int touches = 0;

	struct rg_held *held;

	if ((held = rg_held_pending(op, (slap_overinst *)op->o_bd->bd_info)) != NULL)
		return rg_held_below(op, rs, (slap_overinst *)op->o_bd->bd_info, held);
	if (is_replication(op))
		return SLAP_CB_CONTINUE;
	for (Attribute *a = op->ora_e->e_attrs; a != NULL; a = a->a_next) {
		if (rg_is_maintained_attr(a->a_desc))
			return refuse_maintained(op, rs, a->a_desc);
		if (is_password_attr(a->a_desc)) {
			touches = 1;
			at.secret = cleartext(a->a_vals);
		}
	}
	if (!touches)
		return SLAP_CB_CONTINUE;
	at.is_add = 1;
	return rg_judge(op, rs, &at);
}

/* An RDN that names a password puts it into (or takes it out of) the entry without a
 * Modify; an RDN that cannot be parsed is treated as one, so a parser disagreement cannot
 * let a password through. */
static int
rdn_has_password(Operation *op, struct berval *rdn_str)
{
	LDAPRDN rdn = NULL;
	char *rest;
	int found = 0;

	if (ldap_bv2rdn_x(rdn_str, &rdn, &rest, LDAP_DN_FORMAT_LDAP, op->o_tmpmemctx) !=
	    LDAP_SUCCESS)
		return 1;
	for (int i = 0; rdn[i] != NULL && !found; i++) {
		AttributeDescription *ad = NULL;
		const char *text;

		if (slap_bv2ad(&rdn[i]->la_attr, &ad, &text) == LDAP_SUCCESS)
			found = is_password_attr(ad);
	}
	ldap_rdnfree_x(rdn, op->o_tmpmemctx);
	return found;
}

static int
rg_op_modrdn(Operation *op, SlapReply *rs)
{
	struct rg_attempt at = { "modrdn" };
	struct berval old_rdn;

	if (is_replication(op))
		return SLAP_CB_CONTINUE;
	rg_recovery_mark(op, &op->orr_modlist);
	dnRdn(&op->o_req_dn, &old_rdn);
	if (!rdn_has_password(op, &op->orr_newrdn) && !rdn_has_password(op, &old_rdn))
		return SLAP_CB_CONTINUE;
	at.password_in_rdn = 1;
	return rg_judge(op, rs, &at);
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
	rg_group_init(&ri->ri_group);
	rg_monitor_init(ri);
	rg_alerts_init(ri);
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
	const char *atomic_unfit;
	int atomic;
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
	/* Atomic mode: the log is a subtree of this database (be is a copy of it). */
	atomic = log_be->be_nsuffix == be->be_nsuffix;
	if (atomic && (atomic_unfit = rg_atomic_unfit(on->on_info)) != NULL) {
		snprintf(cr->msg, sizeof(cr->msg), "resetguard: the reset log %s is in the "
			"database the overlay governs, but %s; or give the log a database of its own",
			ri->ri_log_base.bv_val, atomic_unfit);
		Debug(LDAP_DEBUG_ANY, "%s\n", cr->msg);
		return 1;
	}
	/* A change and its record commit together: no record is ever left pending. */
	if (atomic) {
		ri->ri_settled = 1;
		Debug(LDAP_DEBUG_ANY, "resetguard: the reset log %s is in the governed database: "
			"each change commits with its record (atomic mode)\n", ri->ri_log_base.bv_val);
	}
	if (slapMode & SLAP_SERVER_MODE) {
		rg_log_chain_register(ri);
		rg_repl_resend(be, on);
		rg_log_purge_start(be, ri);
		if (!ri->ri_settled)
			rg_log_settle_start(ri);
		rg_monitor_open(be, ri);
	}
	return 0;
}

static int
rg_db_close(BackendDB *be, ConfigReply *cr)
{
	slap_overinst *on = (slap_overinst *)be->bd_info;

	rg_log_purge_stop(on->on_bi.bi_private);
	rg_log_settle_stop(on->on_bi.bi_private);
	rg_monitor_close(on->on_bi.bi_private);
	rg_log_chain_unregister(on->on_bi.bi_private);
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
	rg_group_destroy(&ri->ri_group);
	rg_issuers_free(&ri->ri_issuers);
	X509_free(ri->ri_seal_cert);
	ch_free(ri->ri_seal_cert_file);
	ber_bvarray_free(ri->ri_issuer_cfg);
	rg_recovery_attr_delete(ri, -1);
	rg_monitor_free(ri);
	rg_alerts_free(ri);
	ch_free(ri);
	on->on_bi.bi_private = NULL;
	return 0;
}

int
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
	rg_overinst.on_bi.bi_op_modrdn = rg_op_modrdn;

	if ((rc = rg_schema_register()) != 0)
		return rc;
	if ((rc = rg_control_register()) != LDAP_SUCCESS)
		return rc;
	if ((rc = rg_config_init(&rg_overinst)) != 0)
		return rc;
	if ((rc = rg_rglog_register()) != 0)
		return rc;
	if ((rc = rg_log_chain_init()) != 0)
		return rc;
	return overlay_register(&rg_overinst);
}

#if SLAPD_OVER_RESETGUARD == SLAPD_MOD_DYNAMIC
int
init_module(int argc, char *argv[])
{
	return resetguard_initialize();
}
#endif
