/* The reset log under multi-provider replication. Every provider runs the overlay and
 * appends to its own chain, numbered from its serverID (RG_LOG_CHAIN_SHIFT), and the log
 * database replicates the records of every chain to every provider. Two providers can
 * accept one token within the replication lag, before either sees the other's use: the
 * second record to arrive reveals it, and this file flags it (a record of this server's
 * chain that requires review and raises an alert, and a log line), never silently. */
#include "resetguard.h"

/* The overlay instances, so that rglog (on the log database) finds the one that writes
 * there. Registered at db_open, removed at db_close. */
static struct chain_user {
	rg_info *ri;
	struct chain_user *next;
} *users;
static ldap_pvt_thread_mutex_t users_mutex;

int
rg_log_chain_init(void)
{
	return ldap_pvt_thread_mutex_init(&users_mutex);
}

void
rg_log_chain_register(rg_info *ri)
{
	struct chain_user *u = ch_calloc(1, sizeof(*u));

	u->ri = ri;
	ldap_pvt_thread_mutex_lock(&users_mutex);
	u->next = users;
	users = u;
	ldap_pvt_thread_mutex_unlock(&users_mutex);
}

void
rg_log_chain_unregister(rg_info *ri)
{
	struct chain_user **p, *u;

	ldap_pvt_thread_mutex_lock(&users_mutex);
	for (p = &users; (u = *p) != NULL; p = &u->next)
		if (u->ri == ri) {
			*p = u->next;
			ch_free(u);
			break;
		}
	ldap_pvt_thread_mutex_unlock(&users_mutex);
}

/* The instance whose log database is be; NULL when none writes there. */
static rg_info *
writer_of(BackendDB *be)
{
	rg_info *ri = NULL;

	ldap_pvt_thread_mutex_lock(&users_mutex);
	for (struct chain_user *u = users; u != NULL; u = u->next)
		if (select_backend(&u->ri->ri_log_nbase, 0) == be) {
			ri = u->ri;
			break;
		}
	ldap_pvt_thread_mutex_unlock(&users_mutex);
	return ri;
}

static const char *
value(Entry *e, AttributeDescription *ad)
{
	Attribute *a = attr_find(e->e_attrs, ad);

	return a != NULL && a->a_numvals > 0 ? a->a_vals[0].bv_val : NULL;
}

static int
found_number(Operation *op, SlapReply *rs)
{
	const char *n;

	if (rs->sr_type == REP_SEARCH && rs->sr_entry != NULL &&
	    (n = value(rs->sr_entry, rg_ad.log_number)) != NULL)
		*(unsigned long long *)op->o_callback->sc_private = strtoull(n, NULL, 10);
	return 0;
}

/* Into *found, the number of an applied or pending allowed record of this server's chain
 * that used the token (iss, jti), 0 when none. -1 when that could not be searched, with
 * why: the caller must not take it for "none". */
static int
own_use(Operation *op, BackendDB *be, rg_info *ri, const char *iss, const char *jti,
	unsigned long long *found, char *why, size_t whylen)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	slap_callback cb = { NULL, found_number, NULL, found };
	AttributeName attrs[2];
	struct berval in, ej = BER_BVNULL, ei = BER_BVNULL;
	char range[128], *filter = NULL;
	Operation op2;
	SlapReply rs2 = { REP_RESULT };
	int rc = -1;

	*found = 0;
	ber_str2bv(jti, 0, 0, &in);
	if (ldap_bv2escaped_filter_value_x(&in, &ej, 0, op->o_tmpmemctx) != 0) {
		rg_seterr(why, whylen, "the token's jti could not be put in a search filter");
		goto out;
	}
	ber_str2bv(iss, 0, 0, &in);
	if (ldap_bv2escaped_filter_value_x(&in, &ei, 0, op->o_tmpmemctx) != 0) {
		rg_seterr(why, whylen, "the token's issuer could not be put in a search filter");
		goto out;
	}
	rg_log_chain_filter(rg_log_own_chain(), range, sizeof(range));
	if (asprintf(&filter, "(&(objectClass=rgLogRecord)(rgLogDecision=allowed)"
	    "(!(rgLogOutcome=failed))(rgLogJti=%s)(rgLogIssuer=%s)%s)", ej.bv_val, ei.bv_val,
	    range) < 0) {
		filter = NULL;
		rg_seterr(why, whylen, "out of memory for the search filter");
		goto out;
	}
	memset(attrs, 0, sizeof(attrs));
	attrs[0].an_desc = rg_ad.log_number;
	attrs[0].an_name = rg_ad.log_number->ad_cname;
	rg_internal_op_init(&op2, op, be, cids);
	op2.o_callback = &cb;
	op2.o_tag = LDAP_REQ_SEARCH;
	op2.o_req_dn = ri->ri_log_nbase;
	op2.o_req_ndn = ri->ri_log_nbase;
	op2.ors_scope = LDAP_SCOPE_ONELEVEL;
	op2.ors_deref = LDAP_DEREF_NEVER;
	op2.ors_tlimit = SLAP_NO_LIMIT;
	op2.ors_slimit = SLAP_NO_LIMIT;
	op2.ors_limit = NULL;
	op2.ors_attrs = attrs;
	ber_str2bv(filter, 0, 0, &op2.ors_filterstr);
	if ((op2.ors_filter = str2filter_x(&op2, filter)) == NULL) {
		rg_seterr(why, whylen, "slapd could not parse the search filter %s", filter);
		goto out;
	}
	be->be_search(&op2, &rs2);
	filter_free_x(&op2, op2.ors_filter, 1);
	if (rs2.sr_err != LDAP_SUCCESS) {
		rg_seterr(why, whylen, "the search of %s failed (LDAP error %d%s%s)",
			ri->ri_log_nbase.bv_val, rs2.sr_err, rs2.sr_text ? ": " : "",
			rs2.sr_text ? rs2.sr_text : "");
		goto out;
	}
	rc = 0;
out:
	free(filter);
	op->o_tmpfree(ej.bv_val, op->o_tmpmemctx);
	op->o_tmpfree(ei.bv_val, op->o_tmpmemctx);
	return rc;
}

/* Whether the record is already here: a record replicated again is not a second use. */
static int
present(Operation *op, BackendDB *be, struct berval *ndn)
{
	BackendDB *saved = op->o_bd;
	Entry *e = NULL;

	op->o_bd = be;
	if (be_entry_get_rw(op, ndn, NULL, NULL, 0, &e) == LDAP_SUCCESS && e != NULL)
		be_entry_release_r(op, e);
	op->o_bd = saved;
	return e != NULL;
}

/* The finding: a record of this server's chain about the replicated record e, for review
 * and with an alert. mine is this chain's record that used the token too, or 0 when
 * whether one did could not be checked (unchecked says why): fail closed, that too is for
 * an auditor to look at, never silently passed. */
static void
flag(Operation *op, rg_info *ri, Entry *e, unsigned long long mine, const char *theirs,
	const char *unchecked)
{
	struct rg_log_record r;
	struct rg_log_state st = { NULL, NULL, NULL };    /* a finding: no outcome */
	struct berval ndn = BER_BVNULL;
	char text[512], err[256];

	memset(&r, 0, sizeof(r));
	r.target = value(e, rg_ad.log_target);
	r.requester = value(e, rg_ad.log_requester);
	r.kind = value(e, rg_ad.log_kind);
	r.decision = "denied";
	r.operation = value(e, rg_ad.log_operation);
	r.issuer = value(e, rg_ad.log_issuer);
	r.jti = value(e, rg_ad.log_jti);
	r.review_required = 1;
	r.alert = 1;
	if (unchecked == NULL) {
		r.rule = "token-used-on-two-providers";
		snprintf(text, sizeof(text), "the token was used twice within the replication "
			"lag: by record %llu of serverID %u and by record %s of serverID %u; both "
			"changes were applied", mine, rg_log_own_chain(), theirs,
			rg_log_chain(strtoull(theirs, NULL, 10)));
	} else {
		r.rule = "token-use-unchecked";
		snprintf(text, sizeof(text), "record %s of serverID %u used the token; whether "
			"serverID %u used it too within the replication lag could not be checked: %s",
			theirs, rg_log_chain(strtoull(theirs, NULL, 10)), rg_log_own_chain(),
			unchecked);
		st.outcome_text = unchecked;
	}
	r.rule_text = text;
	Debug(LDAP_DEBUG_ANY, "%s resetguard: ALERT: token \"%s\" of \"%s\" on \"%s\": %s; "
		"flagged for review\n", op->o_log_prefix, r.jti, r.issuer,
		r.target ? r.target : "", text);
	rg_log_lock(ri);
	rg_log_settle(op, ri);
	if (rg_log_append(op, ri, &r, &st, &ndn, err, sizeof(err)) != 0)
		Debug(LDAP_DEBUG_ANY, "%s resetguard: ALERT: the review record of token \"%s\" "
			"cannot be written: %s\n", op->o_log_prefix, r.jti, err);
	rg_log_unlock(ri);
	if (!BER_BVISNULL(&ndn))
		op->o_tmpfree(ndn.bv_val, op->o_tmpmemctx);
}

void
rg_log_replicated(Operation *op, Entry *e)
{
	BackendDB *be = select_backend(&e->e_nname, 0);
	rg_info *ri;
	const char *num, *iss, *jti, *decision;
	unsigned long long mine;
	char why[256];
	int rc;

	if (be == NULL || !is_entry_objectclass(e, rg_ad.oc_log_record, 0) ||
	    (num = value(e, rg_ad.log_number)) == NULL ||
	    (decision = value(e, rg_ad.log_decision)) == NULL ||
	    strcmp(decision, "allowed") != 0 ||
	    (iss = value(e, rg_ad.log_issuer)) == NULL || (jti = value(e, rg_ad.log_jti)) == NULL)
		return;
	if (rg_log_chain(strtoull(num, NULL, 10)) == rg_log_own_chain() ||
	    (ri = writer_of(be)) == NULL || present(op, be, &e->e_nname))
		return;
	/* Under the log lock, a record of ours still being written (group commit) is either in
	 * the log or still listed in flight, never in neither. */
	rg_log_lock(ri);
	rc = own_use(op, be, ri, iss, jti, &mine, why, sizeof(why));
	if (rc == 0 && mine == 0)
		mine = rg_log_inflight_token(ri, iss, jti);
	rg_log_unlock(ri);
	if (rc != 0)
		flag(op, ri, e, 0, num, why);
	else if (mine != 0)
		flag(op, ri, e, mine, num, NULL);
}
