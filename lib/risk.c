#include "risk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int refuse(struct rg_verdict *v, enum rg_rule rule, int ldap_result, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
refuse(struct rg_verdict *v, enum rg_rule rule, int ldap_result, const char *fmt, ...)
{
	va_list ap;

	v->rule = rule;
	v->ldap_result = ldap_result;
	v->alert = 0;
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- proof of possession ---- */

int
rg_risk_check_possession(const struct rg_policy *p, const struct rg_request *r,
	struct rg_verdict *v)
{
	const char *bound = r->ev->cnf_x5t;

	if (bound[0] == '\0') {
		if (!p->require_bound)
			return 0;
		return refuse(v, RG_RULE_POSSESSION_REQUIRED, RG_LDAP_INSUFFICIENT_ACCESS,
			"policy %s accepts only proofing tokens bound to the reset agent's TLS "
			"client certificate (a \"cnf\" claim with \"x5t#S256\")",
			p->dn);
	}
	if (r->peer_unknown)
		refuse(v, RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS,
			"the proofing token is bound to a TLS client certificate, and the "
			"certificate of this connection cannot be read");
	else if (r->peer_x5t == NULL)
		refuse(v, RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS,
			"the proofing token is bound to a TLS client certificate, and this "
			"connection presented none: send it over TLS with that certificate");
	else if (strcmp(r->peer_x5t, bound) != 0)
		refuse(v, RG_RULE_POSSESSION_MISMATCH, RG_LDAP_INSUFFICIENT_ACCESS,
			"the proofing token is bound to another TLS client certificate than the "
			"one of this connection");
	else
		return 0;
	/* Someone holds a token issued to another agent. */
	v->alert = 1;
	return -1;
}

/* ---- risk signals ---- */

static const char *
first_listed(const struct rg_evidence *ev, const struct rg_strlist *l)
{
	for (size_t i = 0; i < ev->namr; i++)
		if (rg_strlist_has(l, ev->amr[i]))
			return ev->amr[i];
	return NULL;
}

/* A fact the policy refuses: definitely present refuses; unstated is noted as unknown. */
static int
refused_fact(enum rg_fact f, enum rg_fact refused, const char *what, const char **unknown)
{
	if (f == RG_FACT_UNKNOWN && *unknown == NULL)
		*unknown = what;
	return f == refused;
}

static int
check_facts(const struct rg_policy *p, const struct rg_risk *risk, const char **unknown,
	struct rg_verdict *v)
{
	if ((p->risk_refuse & RG_REFUSE_ANONYMIZER) &&
		refused_fact(risk->network_anonymizer, RG_FACT_YES, "network.anonymizer", unknown))
		return refuse(v, RG_RULE_RISK_ANONYMIZER, RG_LDAP_CONSTRAINT_VIOLATION,
			"the proofing service saw the request come through an anonymizer (VPN, "
			"proxy or Tor), which policy %s refuses",
			p->dn);
	if ((p->risk_refuse & RG_REFUSE_UNKNOWN_NETWORK) &&
		refused_fact(risk->network_known, RG_FACT_NO, "network.known", unknown))
		return refuse(v, RG_RULE_RISK_UNKNOWN_NETWORK, RG_LDAP_CONSTRAINT_VIOLATION,
			"the proofing service does not know the network the request came from, "
			"which policy %s refuses",
			p->dn);
	if ((p->risk_refuse & RG_REFUSE_UNMANAGED_DEVICE) &&
		refused_fact(risk->device_managed, RG_FACT_NO, "device.managed", unknown))
		return refuse(v, RG_RULE_RISK_UNMANAGED_DEVICE, RG_LDAP_CONSTRAINT_VIOLATION,
			"the request came from a device the organisation does not manage, which "
			"policy %s refuses",
			p->dn);
	if ((p->risk_refuse & RG_REFUSE_UNKNOWN_DEVICE) &&
		refused_fact(risk->device_known, RG_FACT_NO, "device.known", unknown))
		return refuse(v, RG_RULE_RISK_UNKNOWN_DEVICE, RG_LDAP_CONSTRAINT_VIOLATION,
			"the request came from a device never seen for this account, which policy "
			"%s refuses",
			p->dn);
	if (p->refused_countries.n > 0) {
		if (risk->country[0] == '\0' && *unknown == NULL)
			*unknown = "network.country";
		if (risk->country[0] != '\0' &&
			rg_strlist_has(&p->refused_countries, risk->country))
			return refuse(v, RG_RULE_RISK_COUNTRY, RG_LDAP_CONSTRAINT_VIOLATION,
				"the request came from a network in %s, a country policy %s "
				"refuses",
				risk->country, p->dn);
	}
	return 0;
}

/* The lowest rgRiskMax that applies to this change, or -1 when none does. */
static int
risk_cap(const struct rg_policy *p, const struct rg_request *r)
{
	int cap = p->risk_max[r->kind], priv = p->risk_max[RG_RISK_SCOPE_PRIVILEGED];

	if (r->privileged == RG_GROUP_YES && priv >= 0 && (cap < 0 || priv < cap))
		cap = priv;
	return cap;
}

static int
step_up(const struct rg_policy *p, const struct rg_request *r, const char *why,
	struct rg_verdict *v)
{
	if (r->ev->ial >= p->stepup_ial || first_listed(r->ev, &p->privileged_methods) != NULL)
		return 0;
	return refuse(v, RG_RULE_RISK_STEP_UP, RG_LDAP_CONSTRAINT_VIOLATION,
		"%s: policy %s then requires step-up proofing (IAL%d, or a step-up method)", why,
		p->dn, p->stepup_ial);
}

int
rg_risk_check_signals(const struct rg_policy *p, const struct rg_request *r, struct rg_verdict *v)
{
	const struct rg_risk *risk = &r->ev->risk;
	const char *unknown = NULL;
	int score = rg_risk_effective_score(risk), cap = risk_cap(p, r);
	char why[160];

	if (!rg_policy_judges_risk(p))
		return 0;
	if (check_facts(p, risk, &unknown, v) != 0)
		return -1;
	if ((cap >= 0 || p->stepup_score >= 0) && score < 0 && unknown == NULL)
		unknown = "score";
	if (cap >= 0 && score > cap)
		return refuse(v, RG_RULE_RISK_TOO_HIGH, RG_LDAP_CONSTRAINT_VIOLATION,
			"the proofing service rates this request's risk %d, above the %d that "
			"policy "
			"%s accepts for a %s reset%s",
			score, cap, p->dn, rg_kind_name(r->kind),
			r->privileged == RG_GROUP_YES ? " of a privileged account" : "");
	if (unknown != NULL && p->risk_unknown == RG_UNKNOWN_DENY)
		return refuse(v, RG_RULE_RISK_UNKNOWN, RG_LDAP_CONSTRAINT_VIOLATION,
			"the proofing token does not state the risk fact \"%s\" that policy %s "
			"judges, and the policy refuses a reset without it (rgRiskUnknown deny)",
			unknown, p->dn);
	if (p->stepup_score >= 0 && score > p->stepup_score) {
		snprintf(why, sizeof(why), "the request's risk is rated %d, above %d", score,
			p->stepup_score);
		return step_up(p, r, why, v);
	}
	if (unknown != NULL && p->risk_unknown == RG_UNKNOWN_STEP_UP) {
		snprintf(why, sizeof(why),
			"the proofing token does not state the risk fact "
			"\"%s\"",
			unknown);
		return step_up(p, r, why, v);
	}
	return 0;
}

/* ---- recent activity ---- */

static int
recent(long long t, long long now, long long window)
{
	return t == RG_LOCKED_PERMANENT || (t > 0 && t > now - window);
}

static int
check_one(const struct rg_policy *p, const struct rg_request *r, const struct rg_activity_rule *a,
	struct rg_verdict *v)
{
	long long n = 0;

	switch (a->type) {
	case RG_ACTIVITY_FAILED_BINDS:
		for (size_t i = 0; i < r->nfailed_binds; i++)
			n += recent(r->failed_binds[i], r->now, a->window);
		if (n < a->count)
			return 0;
		return refuse(v, RG_RULE_RECENT_FAILED_BINDS, RG_LDAP_CONSTRAINT_VIOLATION,
			"%s had %lld failed binds within the last %lld seconds; policy %s refuses "
			"a "
			"%s reset after %lld: try again later or ask an administrator",
			r->target_ndn, n, a->window, p->dn, rg_kind_name(r->kind), a->count);
	case RG_ACTIVITY_LOCKED:
		if (!recent(r->locked_time, r->now, a->window))
			return 0;
		return refuse(v, RG_RULE_ACCOUNT_LOCKED, RG_LDAP_CONSTRAINT_VIOLATION,
			"%s was locked by the password policy %s; policy %s refuses a %s reset of "
			"an "
			"account locked within %lld seconds: ask an administrator",
			r->target_ndn,
			r->locked_time == RG_LOCKED_PERMANENT ? "until an administrator unlocks it"
							      : "recently",
			p->dn, rg_kind_name(r->kind), a->window);
	case RG_ACTIVITY_RECENT_RESET:
		if (!recent(r->last_reset_time, r->now, a->window))
			return 0;
		return refuse(v, RG_RULE_RECENT_RESET, RG_LDAP_CONSTRAINT_VIOLATION,
			"the password of %s was set %lld seconds ago; policy %s allows a %s change "
			"only %lld seconds after the last one",
			r->target_ndn, r->now - r->last_reset_time, p->dn, rg_kind_name(r->kind),
			a->window);
	case RG_ACTIVITY_RECOVERY:
		if (!recent(r->recovery_change_time, r->now, a->window))
			return 0;
		return refuse(v, RG_RULE_RECOVERY_CHANGED, RG_LDAP_CONSTRAINT_VIOLATION,
			"the recovery attributes of %s changed %lld seconds ago; policy %s allows "
			"a "
			"%s reset only %lld seconds after such a change",
			r->target_ndn, r->now - r->recovery_change_time, p->dn,
			rg_kind_name(r->kind), a->window);
	}
	return 0;
}

int
rg_risk_check_activity(const struct rg_policy *p, const struct rg_request *r, struct rg_verdict *v)
{
	for (size_t i = 0; i < p->nactivity; i++)
		if ((p->activity[i].kinds & (1u << r->kind)) &&
			check_one(p, r, &p->activity[i], v) != 0)
			return -1;
	return 0;
}
