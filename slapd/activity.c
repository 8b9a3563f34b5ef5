/* The account's recent activity, as the risk rules of the policy read it: failed binds and a
 * lockout that ppolicy recorded, the last reset, and the last change of its recovery
 * attributes (the mail or phone a reset code would go to), which this file also records. */
#include "resetguard.h"

#include "lutil.h"

/* ppolicy's value for an account locked until an administrator unlocks it. */
#define PPOLICY_LOCKED_FOREVER "000001010000Z"

/* Seconds since the epoch; 0 when the value is not a time after 1970. */
static long long
parse_gentime(struct berval *v)
{
	struct lutil_tm tm;
	struct lutil_timet tt;
	char buf[64];

	if (v->bv_len == 0 || v->bv_len >= sizeof(buf))
		return 0;
	memcpy(buf, v->bv_val, v->bv_len);
	buf[v->bv_len] = '\0';
	if (lutil_parsetime(buf, &tm) != 0 || tm.tm_year < 70 || lutil_tm2time(&tm, &tt) != 0)
		return 0;
	return (long long)tt.tt_sec;
}

/* A time the rules compare with "now - window": an unreadable one counts as now, so that a
 * value slapd stored but this code cannot read makes a rule refuse rather than pass. */
static long long
first_time(Entry *e, AttributeDescription *ad, long long now)
{
	Attribute *a = ad != NULL ? attr_find(e->e_attrs, ad) : NULL;
	long long t;

	if (a == NULL || a->a_numvals == 0)
		return 0;
	t = parse_gentime(&a->a_nvals[0]);
	return t > 0 ? t : now;
}

static AttributeDescription *
optional_ad(const char *name)
{
	AttributeDescription *ad = NULL;
	const char *text;

	/* ppolicy's attributes exist only when ppolicy is loaded. */
	if (slap_str2ad(name, &ad, &text) != LDAP_SUCCESS)
		return NULL;
	return ad;
}

void
rg_activity_read(Operation *op, Entry *e, long long now, struct rg_activity *act)
{
	AttributeDescription *failure = optional_ad("pwdFailureTime");
	AttributeDescription *locked = optional_ad("pwdAccountLockedTime");
	Attribute *a;

	memset(act, 0, sizeof(*act));
	if (failure != NULL && (a = attr_find(e->e_attrs, failure)) != NULL && a->a_numvals > 0) {
		act->failed_binds =
			op->o_tmpalloc(a->a_numvals * sizeof(long long), op->o_tmpmemctx);
		for (unsigned i = 0; i < a->a_numvals; i++) {
			long long t = parse_gentime(&a->a_nvals[i]);

			act->failed_binds[act->nfailed_binds++] = t > 0 ? t : now;
		}
	}
	if (locked != NULL && (a = attr_find(e->e_attrs, locked)) != NULL && a->a_numvals > 0) {
		act->locked_time = parse_gentime(&a->a_nvals[0]);
		/* ppolicy locks for good with a time before 1970; an unreadable one fails closed */
		if (act->locked_time == 0)
			act->locked_time = RG_LOCKED_PERMANENT;
	}
	act->last_reset_time = first_time(e, rg_ad.last_time, now);
	act->recovery_change_time = first_time(e, rg_ad.recovery_time, now);
}

void
rg_activity_to_request(const struct rg_activity *act, struct rg_request *req)
{
	req->failed_binds = act->failed_binds;
	req->nfailed_binds = act->nfailed_binds;
	req->locked_time = act->locked_time;
	req->last_reset_time = act->last_reset_time;
	req->recovery_change_time = act->recovery_change_time;
}

void
rg_activity_free(Operation *op, struct rg_activity *act)
{
	if (act->failed_binds != NULL)
		op->o_tmpfree(act->failed_binds, op->o_tmpmemctx);
	memset(act, 0, sizeof(*act));
}

/* ---- recovery attributes ---- */

static int
is_recovery_attr(rg_info *ri, AttributeDescription *ad)
{
	for (int i = 0; ri->ri_recovery != NULL && ri->ri_recovery[i] != NULL; i++)
		if (is_ad_subtype(ad, ri->ri_recovery[i]))
			return 1;
	return 0;
}

/* A ModRDN's RDN changes reach the backend as the modlist slapd built for them. */
void
rg_recovery_mark(Operation *op, Modifications **mods)
{
	slap_overinst *on = (slap_overinst *)op->o_bd->bd_info;
	rg_info *ri = on->on_bi.bi_private;
	char buf[LDAP_LUTIL_GENTIME_BUFSIZE];
	struct berval now = {sizeof(buf), buf};
	time_t t = slap_get_time();
	Modifications **tail = mods, *m;
	int touched = 0;

	if (ri->ri_recovery == NULL || rg_ad.recovery_time == NULL)
		return;
	for (; *tail != NULL; tail = &(*tail)->sml_next)
		if (!((*tail)->sml_flags & SLAP_MOD_INTERNAL) &&
			is_recovery_attr(ri, (*tail)->sml_desc))
			touched = 1;
	if (!touched)
		return;
	slap_timestamp(&t, &now);
	m = ch_calloc(1, sizeof(*m));
	m->sml_desc = rg_ad.recovery_time;
	m->sml_type = rg_ad.recovery_time->ad_cname;
	m->sml_op = LDAP_MOD_REPLACE;
	m->sml_flags = SLAP_MOD_INTERNAL;
	m->sml_numvals = 1;
	m->sml_values = ch_calloc(2, sizeof(struct berval));
	m->sml_nvalues = ch_calloc(2, sizeof(struct berval));
	ber_dupbv(&m->sml_values[0], &now);
	ber_dupbv(&m->sml_nvalues[0], &now);
	*tail = m;
}

int
rg_recovery_attr_add(rg_info *ri, const char *name, char *err, size_t errlen)
{
	AttributeDescription *ad = NULL;
	const char *text;
	int n = 0;

	if (slap_str2ad(name, &ad, &text) != LDAP_SUCCESS) {
		snprintf(err, errlen, "attribute \"%s\" is not defined: %s", name, text);
		return -1;
	}
	if (is_at_operational(ad->ad_type) || is_ad_subtype(ad, slap_schema.si_ad_userPassword)) {
		snprintf(err, errlen,
			"\"%s\" is an operational or password attribute, not a "
			"recovery attribute",
			name);
		return -1;
	}
	while (ri->ri_recovery != NULL && ri->ri_recovery[n] != NULL)
		if (ri->ri_recovery[n++] == ad)
			return 0;
	ri->ri_recovery = ch_realloc(ri->ri_recovery, (n + 2) * sizeof(*ri->ri_recovery));
	ri->ri_recovery[n] = ad;
	ri->ri_recovery[n + 1] = NULL;
	return 0;
}

int
rg_recovery_attr_emit(rg_info *ri, BerVarray *vals)
{
	if (ri->ri_recovery == NULL)
		return 1;
	for (int i = 0; ri->ri_recovery[i] != NULL; i++)
		value_add_one(vals, &ri->ri_recovery[i]->ad_cname);
	return 0;
}

/* idx < 0: all of them. */
void
rg_recovery_attr_delete(rg_info *ri, int idx)
{
	int n = 0;

	while (ri->ri_recovery != NULL && ri->ri_recovery[n] != NULL)
		n++;
	if (idx >= 0 && idx < n) {
		memmove(&ri->ri_recovery[idx], &ri->ri_recovery[idx + 1],
			(n - idx) * sizeof(*ri->ri_recovery));
		n--;
	}
	if (idx < 0 || n == 0) {
		ch_free(ri->ri_recovery);
		ri->ri_recovery = NULL;
	}
}
