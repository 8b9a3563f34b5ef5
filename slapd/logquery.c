/* Reading the reset log for the decisions that depend on its past: how many changes a
 * velocity limit has seen, and what the log remembers of an account that is created again.
 * Every search asks for rgLogRecord entries directly below the log base: nothing else
 * there can count (rglog refuses any other entry, and this does not rely on it). */
#include "resetguard.h"

/* A one-level search of the log base with filter; each entry goes to cb. */
static int
search_log(Operation *op, rg_info *ri, const char *filter, AttributeName *attrs,
	slap_callback *cb)
{
	void *cids[SLAP_MAX_CIDS] = { NULL };
	BackendDB *be = select_backend(&ri->ri_log_nbase, 0);
	Operation op2;
	SlapReply rs2 = { REP_RESULT };

	if (be == NULL)
		return -1;
	rg_internal_op_init(&op2, op, be, cids);
	op2.o_callback = cb;
	op2.o_tag = LDAP_REQ_SEARCH;
	op2.o_req_dn = ri->ri_log_nbase;
	op2.o_req_ndn = ri->ri_log_nbase;
	op2.ors_scope = LDAP_SCOPE_ONELEVEL;
	op2.ors_deref = LDAP_DEREF_NEVER;
	op2.ors_tlimit = SLAP_NO_LIMIT;
	op2.ors_slimit = SLAP_NO_LIMIT;
	op2.ors_limit = NULL;
	op2.ors_attrs = attrs;
	op2.ors_attrsonly = attrs == slap_anlist_no_attrs;
	ber_str2bv(filter, 0, 0, &op2.ors_filterstr);
	op2.ors_filter = str2filter_x(&op2, filter);
	if (op2.ors_filter == NULL)
		return -1;
	be->be_search(&op2, &rs2);
	filter_free_x(&op2, op2.ors_filter, 1);
	return rs2.sr_err == LDAP_SUCCESS ? 0 : -1;
}

/* value escaped for a filter (RFC 4515), ch_malloc'd; NULL on error. */
static char *
escaped(Operation *op, const char *value)
{
	struct berval in, out = BER_BVNULL;
	char *s;

	ber_str2bv(value, 0, 0, &in);
	if (ldap_bv2escaped_filter_value_x(&in, &out, 0, op->o_tmpmemctx) != 0)
		return NULL;
	s = ch_strdup(out.bv_val);
	op->o_tmpfree(out.bv_val, op->o_tmpmemctx);
	return s;
}

struct count_scan {
	rg_info *ri;
	long long n;
};

/* A record still being written is counted from memory (rg_log_inflight), once. */
static int
count_entry(Operation *op, SlapReply *rs)
{
	struct count_scan *cs = op->o_callback->sc_private;
	Attribute *a;

	if (rs->sr_type != REP_SEARCH || rs->sr_entry == NULL)
		return 0;
	if ((a = attr_find(rs->sr_entry->e_attrs, rg_ad.log_number)) != NULL &&
	    rg_log_inflight(cs->ri, strtoull(a->a_vals[0].bv_val, NULL, 10)))
		return 0;
	cs->n++;
	return 0;
}

static int
inflight_matches(const struct rg_log_record *r, const struct rg_velocity_limit *v,
	const char *who)
{
	const char *dn = v->per_requester ? r->requester : r->target;

	if (dn == NULL || strcmp(dn, who) != 0)
		return 0;
	for (int k = 0; k < RG_KIND_COUNT; k++)
		if ((v->kinds & (1u << k)) && r->kind != NULL &&
		    strcmp(r->kind, rg_kind_name(k)) == 0)
			return 1;
	return 0;
}

long long
rg_log_count(Operation *op, rg_info *ri, const struct rg_velocity_limit *v,
	struct berval *who_ndn, long long since)
{
	struct count_scan cs = { ri, 0 };
	slap_callback cb = { NULL, count_entry, NULL, &cs };
	AttributeName attrs[2];
	char timebuf[32], kinds[256] = "", *who, *filter = NULL;
	size_t klen = 0;
	int rc;

	for (int k = 0; k < RG_KIND_COUNT; k++)
		if (v->kinds & (1u << k))
			klen += snprintf(kinds + klen, sizeof(kinds) - klen, "(rgLogKind=%s)",
				rg_kind_name(k));
	rg_log_format_time(timebuf, since, 0);
	if ((who = escaped(op, who_ndn->bv_val)) == NULL)
		return -1;
	/* Indexed on target and requester: the count reads only the matching records. */
	rc = asprintf(&filter, "(&(objectClass=rgLogRecord)(rgLogDecision=allowed)"
		"(!(rgLogOutcome=failed))(%s=%s)(rgLogTime>=%s)(|%s))",
		v->per_requester ? "rgLogRequester" : "rgLogTarget", who, timebuf, kinds);
	ch_free(who);
	if (rc < 0)
		return -1;
	memset(attrs, 0, sizeof(attrs));
	attrs[0].an_desc = rg_ad.log_number;
	attrs[0].an_name = rg_ad.log_number->ad_cname;
	rc = search_log(op, ri, filter, attrs, &cb);
	free(filter);
	if (rc != 0)
		return -1;
	for (struct rg_inflight *f = ri->ri_inflight; f != NULL; f = f->next)
		if (inflight_matches(f->record, v, who_ndn->bv_val))
			cs.n++;
	return cs.n;
}

struct history_scan {
	struct rg_history *h;
	const char *id_iss, *id_jti;
};

static int
has_value(Entry *e, AttributeDescription *ad, const char *value)
{
	Attribute *a = attr_find(e->e_attrs, ad);

	for (unsigned i = 0; a != NULL && i < a->a_numvals; i++)
		if (strcmp(a->a_vals[i].bv_val, value) == 0)
			return 1;
	return 0;
}

/* Whether a record proves that the account existed: a change of an entry (judged only when
 * the entry was there), or an Add that was applied. A refused Add proves nothing. */
static int
proves_existence(Entry *e, int allowed)
{
	return !has_value(e, rg_ad.log_operation, "add") ||
		(allowed && has_value(e, rg_ad.log_outcome, "applied"));
}

static int
history_entry(Operation *op, SlapReply *rs)
{
	struct history_scan *hs = op->o_callback->sc_private;
	Entry *e = rs->sr_entry;
	int allowed, not_failed;

	if (rs->sr_type != REP_SEARCH || e == NULL)
		return 0;
	allowed = has_value(e, rg_ad.log_decision, "allowed");
	not_failed = allowed && !has_value(e, rg_ad.log_outcome, "failed");
	if (proves_existence(e, allowed))
		hs->h->known = 1;
	if (not_failed)
		hs->h->applied++;
	if (has_value(e, rg_ad.log_review_required, "TRUE") &&
	    attr_find(e->e_attrs, rg_ad.log_review_verdict) == NULL)
		hs->h->unreviewed = 1;
	/* As on the account: a token whose change failed was not used. */
	if (not_failed && hs->id_jti != NULL && has_value(e, rg_ad.log_jti, hs->id_jti) &&
	    has_value(e, rg_ad.log_issuer, hs->id_iss))
		hs->h->token_used = 1;
	return 0;
}

int
rg_log_history(Operation *op, rg_info *ri, struct berval *target_ndn,
	const struct rg_evidence *ev, struct rg_history *h)
{
	struct history_scan hs = { h, ev != NULL ? ev->iss : NULL, ev != NULL ? ev->jti : NULL };
	slap_callback cb = { NULL, history_entry, NULL, &hs };
	AttributeName attrs[8];
	AttributeDescription *ads[] = { rg_ad.log_operation, rg_ad.log_decision, rg_ad.log_outcome,
		rg_ad.log_review_required, rg_ad.log_review_verdict, rg_ad.log_jti,
		rg_ad.log_issuer };
	char *target, *filter = NULL;
	int rc;

	memset(h, 0, sizeof(*h));
	memset(attrs, 0, sizeof(attrs));
	for (size_t i = 0; i < sizeof(ads) / sizeof(ads[0]); i++) {
		attrs[i].an_desc = ads[i];
		attrs[i].an_name = ads[i]->ad_cname;
	}
	if ((target = escaped(op, target_ndn->bv_val)) == NULL)
		return -1;
	rc = asprintf(&filter, "(&(objectClass=rgLogRecord)(rgLogTarget=%s))", target);
	ch_free(target);
	if (rc < 0)
		return -1;
	rc = search_log(op, ri, filter, attrs, &cb);
	free(filter);
	return rc;
}
