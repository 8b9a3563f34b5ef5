/* The per-account record of the last allowed change. These attributes are written as part
 * of the same Modify (or Add) that sets the password, so they change atomically with it and
 * only when the backend applies it; clients can never write them. */
#include "resetguard.h"

int
rg_is_maintained_attr(AttributeDescription *ad)
{
	return ad == rg_ad.last_time || ad == rg_ad.last_kind || ad == rg_ad.last_by ||
		ad == rg_ad.last_ial || ad == rg_ad.last_method || ad == rg_ad.last_issuer ||
		ad == rg_ad.last_approver || ad == rg_ad.reset_count ||
		ad == rg_ad.review_required || ad == rg_ad.used_token || ad == rg_ad.last_change ||
		ad == rg_ad.recovery_time;
}

/* A NULL-terminated, ch_malloc'd copy of vals (n of them) and of their normalized form. */
static void
copy_values(AttributeDescription *ad, struct berval *vals, int n, BerVarray *out,
	BerVarray *nout)
{
	int normalize = ad->ad_type->sat_equality != NULL &&
		ad->ad_type->sat_equality->smr_normalize != NULL;

	*out = ch_calloc(n + 1, sizeof(struct berval));
	*nout = normalize ? ch_calloc(n + 1, sizeof(struct berval)) : NULL;
	for (int i = 0; i < n; i++) {
		ber_dupbv(&(*out)[i], &vals[i]);
		if (normalize && attr_normalize_one(ad, &vals[i], &(*nout)[i], NULL) != LDAP_SUCCESS)
			ber_dupbv(&(*nout)[i], &vals[i]);
	}
}

static void
add_mod(Modifications ***tail, short mod_op, AttributeDescription *ad, struct berval *vals,
	int n)
{
	Modifications *m = ch_calloc(1, sizeof(*m));

	m->sml_desc = ad;
	m->sml_type = ad->ad_cname;
	m->sml_op = mod_op;
	m->sml_flags = SLAP_MOD_INTERNAL;
	m->sml_numvals = n;
	if (n > 0)
		copy_values(ad, vals, n, &m->sml_values, &m->sml_nvalues);
	**tail = m;
	*tail = &m->sml_next;
}

/* A REPLACE with no values removes what an earlier reset left behind. */
static void
add_replace(Modifications ***tail, AttributeDescription *ad, struct berval *vals, int n)
{
	add_mod(tail, LDAP_MOD_REPLACE, ad, vals, n);
}

static void
put_entry(Entry *e, AttributeDescription *ad, struct berval *vals, int n)
{
	BerVarray v, nv;

	if (n == 0)
		return;
	attr_delete(&e->e_attrs, ad);
	copy_values(ad, vals, n, &v, &nv);
	attr_merge(e, ad, v, nv);
	ber_bvarray_free(v);
	ber_bvarray_free(nv);
}

struct effect_values {
	char timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	char ialbuf[16], countbuf[32], changebuf[32];
	struct berval time, kind, by, ial, issuer, approver, count, change, yes;
	struct berval *methods;
	int nmethods, has_ev;
};

static void
effect_values(Operation *op, const struct rg_effects *fx, struct effect_values *v)
{
	time_t now = slap_get_time();

	v->time.bv_val = v->timebuf;
	v->time.bv_len = sizeof(v->timebuf);
	slap_timestamp(&now, &v->time);
	ber_str2bv(rg_kind_name(fx->kind), 0, 0, &v->kind);
	v->by = BER_BVISEMPTY(&op->o_ndn) ? (struct berval)BER_BVC("") : op->o_ndn;
	v->count.bv_val = v->countbuf;
	v->count.bv_len = snprintf(v->countbuf, sizeof(v->countbuf), "%lld", fx->reset_count);
	v->change.bv_val = v->changebuf;
	v->change.bv_len = snprintf(v->changebuf, sizeof(v->changebuf), "%llu", fx->change_number);
	ber_str2bv("TRUE", 4, 0, &v->yes);
	v->has_ev = fx->ev != NULL;
	v->nmethods = 0;
	v->methods = NULL;
	if (fx->ev != NULL) {
		v->ial.bv_val = v->ialbuf;
		v->ial.bv_len = snprintf(v->ialbuf, sizeof(v->ialbuf), "%d", fx->ev->ial);
		ber_str2bv(fx->ev->iss, 0, 0, &v->issuer);
		v->methods = op->o_tmpcalloc(fx->ev->namr + 1, sizeof(struct berval),
			op->o_tmpmemctx);
		for (size_t i = 0; i < fx->ev->namr; i++)
			ber_str2bv(fx->ev->amr[i], 0, 0, &v->methods[v->nmethods++]);
	}
	if (fx->approver_ndn != NULL)
		v->approver = *fx->approver_ndn;
	else
		BER_BVZERO(&v->approver);
}

void
rg_effects_to_mods(Operation *op, const struct rg_effects *fx, Modifications **tail)
{
	struct effect_values v;
	Modifications **t = tail;

	while (*t != NULL)
		t = &(*t)->sml_next;
	effect_values(op, fx, &v);
	add_replace(&t, rg_ad.last_time, &v.time, 1);
	add_replace(&t, rg_ad.last_kind, &v.kind, 1);
	add_replace(&t, rg_ad.last_by, &v.by, BER_BVISEMPTY(&v.by) ? 0 : 1);
	add_replace(&t, rg_ad.last_ial, &v.ial, v.has_ev);
	add_replace(&t, rg_ad.last_method, v.methods, v.nmethods);
	add_replace(&t, rg_ad.last_issuer, &v.issuer, v.has_ev);
	add_replace(&t, rg_ad.last_approver, &v.approver, BER_BVISNULL(&v.approver) ? 0 : 1);
	add_replace(&t, rg_ad.reset_count, &v.count, 1);
	/* What settles the record after a crash: the account tells whether this write
	 * committed (logsettle.c). */
	add_replace(&t, rg_ad.last_change, &v.change, 1);
	/* Never cleared here: a later ordinary reset must not hide a break-glass one from
	 * review. */
	if (fx->review_required)
		add_replace(&t, rg_ad.review_required, &v.yes, 1);
	if (fx->force_change && rg_ad.pwd_reset != NULL)
		add_replace(&t, rg_ad.pwd_reset, &v.yes, 1);
	/* A soft delete: a concurrent change may have removed the same expired value. */
	for (int i = 0; fx->expired_tokens != NULL && !BER_BVISNULL(&fx->expired_tokens[i]); i++)
		add_mod(&t, SLAP_MOD_SOFTDEL, rg_ad.used_token, &fx->expired_tokens[i], 1);
	/* A plain add: if the same token races this change, the backend refuses one of them. */
	if (fx->token != NULL)
		add_mod(&t, LDAP_MOD_ADD, rg_ad.used_token, fx->token, 1);
	op->o_tmpfree(v.methods, op->o_tmpmemctx);
}

void
rg_effects_to_entry(Operation *op, const struct rg_effects *fx, Entry *e)
{
	struct effect_values v;

	effect_values(op, fx, &v);
	put_entry(e, rg_ad.last_time, &v.time, 1);
	put_entry(e, rg_ad.last_kind, &v.kind, 1);
	put_entry(e, rg_ad.last_by, &v.by, BER_BVISEMPTY(&v.by) ? 0 : 1);
	put_entry(e, rg_ad.last_ial, &v.ial, v.has_ev);
	put_entry(e, rg_ad.last_method, v.methods, v.nmethods);
	put_entry(e, rg_ad.last_issuer, &v.issuer, v.has_ev);
	put_entry(e, rg_ad.last_approver, &v.approver, BER_BVISNULL(&v.approver) ? 0 : 1);
	put_entry(e, rg_ad.reset_count, &v.count, 1);
	put_entry(e, rg_ad.last_change, &v.change, 1);
	if (fx->review_required)
		put_entry(e, rg_ad.review_required, &v.yes, 1);
	if (fx->force_change && rg_ad.pwd_reset != NULL)
		put_entry(e, rg_ad.pwd_reset, &v.yes, 1);
	if (fx->token != NULL)
		put_entry(e, rg_ad.used_token, fx->token, 1);
	op->o_tmpfree(v.methods, op->o_tmpmemctx);
}
