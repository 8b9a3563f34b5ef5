#include "policy.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[RG_KIND_COUNT] = {
	[RG_KIND_SELF_CHANGE] = "self-change",
	[RG_KIND_SELF_SERVICE] = "self-service",
	[RG_KIND_DELEGATED] = "delegated",
	[RG_KIND_BREAK_GLASS] = "break-glass",
	[RG_KIND_PROVISIONING] = "provisioning",
};

const char *
rg_kind_name(enum rg_kind kind)
{
	return (unsigned)kind < RG_KIND_COUNT ? kind_names[kind] : "unknown";
}

int
rg_kind_parse(const char *name, enum rg_kind *kind)
{
	for (int k = 0; k < RG_KIND_COUNT; k++) {
		if (strcasecmp(name, kind_names[k]) == 0) {
			*kind = k;
			return 0;
		}
	}
	return -1;
}

int
rg_strlist_add(struct rg_strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	l->v = v;
	if ((v[l->n] = strdup(s)) == NULL)
		return -1;
	l->n++;
	return 0;
}

int
rg_strlist_has(const struct rg_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

void
rg_strlist_free(struct rg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

enum attr_type {
	T_BOOL, T_IAL, T_SECONDS, T_KIND, T_METHOD, T_DN, T_VELOCITY,
	T_RISK_MAX, T_STEP_UP, T_RISK_UNKNOWN, T_RISK_REFUSE,
	T_FAILED_BINDS, T_LOCKED, T_RECENT_RESET, T_RECOVERY,
};

/* One row per policy attribute; `seen_bit` marks multi-valued attributes whose built-in
 * default list is dropped when the entry stores its own values. */
struct attr_def {
	const char *name;
	enum attr_type type;
	size_t offset;
	unsigned seen_bit;
};

#define F(field) offsetof(struct rg_policy, field)
static const struct attr_def attr_defs[] = {
	{ "rgAllowedKind", T_KIND, F(allowed_kinds), 1u << 0 },
	{ "rgSelfChangeRequireOld", T_BOOL, F(selfchange_require_old), 0 },
	{ "rgSelfServiceMinIAL", T_IAL, F(selfservice_min_ial), 0 },
	{ "rgSelfServiceMethod", T_METHOD, F(selfservice_methods), 0 },
	{ "rgDelegatedMinIAL", T_IAL, F(delegated_min_ial), 0 },
	{ "rgDelegatedMethod", T_METHOD, F(delegated_methods), 0 },
	{ "rgForbiddenMethod", T_METHOD, F(forbidden_methods), 1u << 1 },
	{ "rgPrivilegedGroup", T_DN, F(privileged_groups), 0 },
	{ "rgPrivilegedMinIAL", T_IAL, F(privileged_min_ial), 0 },
	{ "rgPrivilegedMethod", T_METHOD, F(privileged_methods), 0 },
	{ "rgPrivilegedForbiddenMethod", T_METHOD, F(privileged_forbidden), 1u << 2 },
	{ "rgMaxEvidenceAge", T_SECONDS, F(max_evidence_age), 0 },
	{ "rgDelegatedRequireApprover", T_BOOL, F(require_approver), 0 },
	{ "rgApproverGroup", T_DN, F(approver_groups), 0 },
	{ "rgDelegatedRequireReason", T_BOOL, F(require_reason), 0 },
	{ "rgForceChangeAfterDelegated", T_BOOL, F(force_change), 0 },
	{ "rgResetAgent", T_DN, F(reset_agents), 0 },
	{ "rgBreakGlass", T_DN, F(break_glass), 0 },
	{ "rgBreakGlassGroup", T_DN, F(break_glass_groups), 0 },
	{ "rgProvisioner", T_DN, F(provisioners), 0 },
	{ "rgVelocityLimit", T_VELOCITY, F(velocity), 0 },
	{ "rgRiskMax", T_RISK_MAX, F(risk_max), 0 },
	{ "rgRiskStepUp", T_STEP_UP, F(stepup_score), 0 },
	{ "rgRiskUnknown", T_RISK_UNKNOWN, F(risk_unknown), 0 },
	{ "rgRiskRefuse", T_RISK_REFUSE, F(risk_refuse), 0 },
	{ "rgRequireBoundEvidence", T_BOOL, F(require_bound), 0 },
	{ "rgFailedBindLimit", T_FAILED_BINDS, F(activity), 0 },
	{ "rgLockoutRefuse", T_LOCKED, F(activity), 0 },
	{ "rgMinResetInterval", T_RECENT_RESET, F(activity), 0 },
	{ "rgRecoveryChangeMinAge", T_RECOVERY, F(activity), 0 },
};
#undef F

static const struct attr_def *
find_attr(const char *name)
{
	for (size_t i = 0; i < sizeof(attr_defs) / sizeof(attr_defs[0]); i++)
		if (strcasecmp(attr_defs[i].name, name) == 0)
			return &attr_defs[i];
	return NULL;
}

int
rg_policy_attr_is_dn(const char *attr)
{
	const struct attr_def *d = find_attr(attr);

	return d != NULL && d->type == T_DN;
}

int
rg_policy_init(struct rg_policy *p, const char *dn)
{
	memset(p, 0, sizeof(*p));
	if ((p->dn = strdup(dn)) == NULL)
		return -1;
	p->allowed_kinds = (1u << RG_KIND_COUNT) - 1;
	p->selfchange_require_old = 1;
	p->selfservice_min_ial = 2;
	p->delegated_min_ial = 1;
	p->privileged_min_ial = 3;
	p->max_evidence_age = 900;
	p->require_approver = 1;
	p->require_reason = 1;
	p->force_change = 1;
	for (int k = 0; k <= RG_KIND_COUNT; k++)
		p->risk_max[k] = -1;
	p->stepup_score = -1;
	p->stepup_ial = 3;
	/* NIST SP 800-63B: knowledge-based answers are never proof of identity, and SMS is a
	 * restricted authenticator that a privileged account must not be recovered with. */
	if (rg_strlist_add(&p->forbidden_methods, "kba") != 0 ||
	    rg_strlist_add(&p->privileged_forbidden, "sms") != 0) {
		rg_policy_free(p);
		return -1;
	}
	return 0;
}

static int
parse_number(const char *value, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "KIND|* target|requester COUNT SECONDS", e.g. "self-service target 3 86400". */
static int
parse_velocity(struct rg_policy *p, const char *value)
{
	char kind[32], who[16];
	long long count, window;
	struct rg_velocity_limit v = { 0 }, *nv;
	enum rg_kind k;
	int used = 0;

	if (sscanf(value, "%31s %15s %lld %lld %n", kind, who, &count, &window, &used) != 4 ||
	    value[used] != '\0' || count < 1 || window < 1 || window > 366LL * 86400)
		return -1;
	if (strcmp(kind, "*") == 0)
		v.kinds = (1u << RG_KIND_COUNT) - 1;
	else if (rg_kind_parse(kind, &k) == 0)
		v.kinds = 1u << k;
	else
		return -1;
	if (strcasecmp(who, "requester") == 0)
		v.per_requester = 1;
	else if (strcasecmp(who, "target") != 0)
		return -1;
	v.count = count;
	v.window = window;
	if ((nv = realloc(p->velocity, (p->nvelocity + 1) * sizeof(*nv))) == NULL)
		return -2;
	p->velocity = nv;
	p->velocity[p->nvelocity++] = v;
	return 0;
}

int
rg_policy_judges_risk(const struct rg_policy *p)
{
	for (int k = 0; k <= RG_KIND_COUNT; k++)
		if (p->risk_max[k] >= 0)
			return 1;
	return p->stepup_score >= 0 || p->risk_refuse != 0 || p->refused_countries.n > 0;
}

/* "self-service|delegated|privileged|* SCORE": risk is judged where there is evidence. */
static int
parse_risk_max(struct rg_policy *p, const char *value)
{
	char scope[32];
	long long score;
	int used = 0;

	if (sscanf(value, "%31s %lld %n", scope, &score, &used) != 2 || value[used] != '\0' ||
	    score < 0 || score > 100)
		return -1;
	if (strcmp(scope, "*") == 0) {
		p->risk_max[RG_KIND_SELF_SERVICE] = p->risk_max[RG_KIND_DELEGATED] = (int)score;
		p->risk_max[RG_RISK_SCOPE_PRIVILEGED] = (int)score;
	} else if (strcasecmp(scope, "privileged") == 0) {
		p->risk_max[RG_RISK_SCOPE_PRIVILEGED] = (int)score;
	} else if (strcasecmp(scope, "self-service") == 0) {
		p->risk_max[RG_KIND_SELF_SERVICE] = (int)score;
	} else if (strcasecmp(scope, "delegated") == 0) {
		p->risk_max[RG_KIND_DELEGATED] = (int)score;
	} else {
		return -1;
	}
	return 0;
}

/* "SCORE IAL", e.g. "40 3". */
static int
parse_step_up(struct rg_policy *p, const char *value)
{
	long long score, ial;
	int used = 0;

	if (sscanf(value, "%lld %lld %n", &score, &ial, &used) != 2 || value[used] != '\0' ||
	    score < 0 || score > 100 || ial < 1 || ial > 3)
		return -1;
	p->stepup_score = (int)score;
	p->stepup_ial = (int)ial;
	return 0;
}

static int
parse_risk_unknown(struct rg_policy *p, const char *value)
{
	if (strcasecmp(value, "allow") == 0)
		p->risk_unknown = RG_UNKNOWN_ALLOW;
	else if (strcasecmp(value, "step-up") == 0)
		p->risk_unknown = RG_UNKNOWN_STEP_UP;
	else if (strcasecmp(value, "deny") == 0)
		p->risk_unknown = RG_UNKNOWN_DENY;
	else
		return -1;
	return 0;
}

static int
parse_risk_refuse(struct rg_policy *p, const char *value)
{
	static const struct {
		const char *name;
		unsigned bit;
	} facts[] = {
		{ "anonymizer", RG_REFUSE_ANONYMIZER },
		{ "unknown-network", RG_REFUSE_UNKNOWN_NETWORK },
		{ "unmanaged-device", RG_REFUSE_UNMANAGED_DEVICE },
		{ "unknown-device", RG_REFUSE_UNKNOWN_DEVICE },
	};
	char cc[3];

	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
		if (strcasecmp(value, facts[i].name) == 0) {
			p->risk_refuse |= facts[i].bit;
			return 0;
		}
	}
	if (strncasecmp(value, "country:", 8) != 0 || strlen(value) != 10)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (value[8 + i] < 'A' || (value[8 + i] > 'Z' && value[8 + i] < 'a') ||
		    value[8 + i] > 'z')
			return -1;
		cc[i] = (char)(value[8 + i] & ~0x20);
	}
	cc[2] = '\0';
	if (rg_strlist_has(&p->refused_countries, cc))
		return 0;
	return rg_strlist_add(&p->refused_countries, cc) == 0 ? 0 : -2;
}

/* "KIND|* [COUNT] SECONDS" over the kinds a history can refuse: break-glass is never refused
 * by it, and a new account has none. */
static int
parse_activity(struct rg_policy *p, enum rg_activity_type type, const char *value)
{
	char kind[32];
	struct rg_activity_rule a = { type }, *na;
	enum rg_kind k;
	int used = 0, counted = type == RG_ACTIVITY_FAILED_BINDS;
	const unsigned judged = (1u << RG_KIND_SELF_CHANGE) | (1u << RG_KIND_SELF_SERVICE) |
		(1u << RG_KIND_DELEGATED);

	if (counted ? sscanf(value, "%31s %lld %lld %n", kind, &a.count, &a.window, &used) != 3 :
	    sscanf(value, "%31s %lld %n", kind, &a.window, &used) != 2)
		return -1;
	if (value[used] != '\0' || (counted && a.count < 1) || a.window < 1 ||
	    a.window > 366LL * 86400)
		return -1;
	if (strcmp(kind, "*") == 0)
		a.kinds = judged;
	else if (rg_kind_parse(kind, &k) == 0 && (judged & (1u << k)))
		a.kinds = 1u << k;
	else
		return -1;
	if ((na = realloc(p->activity, (p->nactivity + 1) * sizeof(*na))) == NULL)
		return -2;
	p->activity = na;
	p->activity[p->nactivity++] = a;
	return 0;
}

/* The risk and activity attributes: 0, -1 for a bad value, -2 out of memory. */
static int
set_risk(struct rg_policy *p, enum attr_type type, const char *value)
{
	switch (type) {
	case T_RISK_MAX:
		return parse_risk_max(p, value);
	case T_STEP_UP:
		return parse_step_up(p, value);
	case T_RISK_UNKNOWN:
		return parse_risk_unknown(p, value);
	case T_RISK_REFUSE:
		return parse_risk_refuse(p, value);
	case T_FAILED_BINDS:
		return parse_activity(p, RG_ACTIVITY_FAILED_BINDS, value);
	case T_LOCKED:
		return parse_activity(p, RG_ACTIVITY_LOCKED, value);
	case T_RECENT_RESET:
		return parse_activity(p, RG_ACTIVITY_RECENT_RESET, value);
	case T_RECOVERY:
		return parse_activity(p, RG_ACTIVITY_RECOVERY, value);
	default:
		return -1;
	}
}

static const char *const risk_syntax[] = {
	[T_RISK_MAX] = "\"self-service|delegated|privileged|* SCORE\" with SCORE from 0 to 100",
	[T_STEP_UP] = "\"SCORE IAL\", SCORE from 0 to 100 and IAL from 1 to 3, e.g. \"40 3\"",
	[T_RISK_UNKNOWN] = "allow, step-up or deny",
	[T_RISK_REFUSE] = "anonymizer, unknown-network, unmanaged-device, unknown-device or "
		"country:XX (an ISO 3166-1 alpha-2 code)",
	[T_FAILED_BINDS] = "\"self-change|self-service|delegated|* COUNT SECONDS\", e.g. "
		"\"self-service 3 3600\"",
	[T_LOCKED] = "\"self-change|self-service|delegated|* SECONDS\", e.g. \"self-service "
		"86400\"",
	[T_RECENT_RESET] = "\"self-change|self-service|delegated|* SECONDS\", e.g. \"* 600\"",
	[T_RECOVERY] = "\"self-change|self-service|delegated|* SECONDS\", e.g. \"self-service "
		"604800\"",
};

int
rg_policy_set(struct rg_policy *p, const char *attr, const char *value,
	char *err, size_t errlen)
{
	const struct attr_def *d = find_attr(attr);
	void *field;
	long long n;
	enum rg_kind kind;

	if (d == NULL)
		return RG_POLICY_SET_UNKNOWN;
	field = (char *)p + d->offset;

	if (d->seen_bit != 0 && !(p->seen & d->seen_bit)) {
		p->seen |= d->seen_bit;
		if (d->type == T_KIND)
			*(unsigned *)field = 0;
		else
			rg_strlist_free(field);
	}

	switch (d->type) {
	case T_BOOL:
		if (strcmp(value, "TRUE") == 0)
			*(int *)field = 1;
		else if (strcmp(value, "FALSE") == 0)
			*(int *)field = 0;
		else
			goto bad;
		return RG_POLICY_SET_OK;
	case T_IAL:
		if (parse_number(value, 1, 3, &n) != 0)
			goto bad;
		*(int *)field = (int)n;
		return RG_POLICY_SET_OK;
	case T_SECONDS:
		if (parse_number(value, 1, 366LL * 24 * 3600, &n) != 0)
			goto bad;
		*(long long *)field = n;
		return RG_POLICY_SET_OK;
	case T_KIND:
		if (rg_kind_parse(value, &kind) != 0)
			goto bad;
		*(unsigned *)field |= 1u << kind;
		return RG_POLICY_SET_OK;
	case T_VELOCITY:
		switch (parse_velocity(p, value)) {
		case 0:
			return RG_POLICY_SET_OK;
		case -2:
			return RG_POLICY_SET_NOMEM;
		default:
			goto bad;
		}
	case T_RISK_MAX:
	case T_STEP_UP:
	case T_RISK_UNKNOWN:
	case T_RISK_REFUSE:
	case T_FAILED_BINDS:
	case T_LOCKED:
	case T_RECENT_RESET:
	case T_RECOVERY:
		switch (set_risk(p, d->type, value)) {
		case 0:
			return RG_POLICY_SET_OK;
		case -2:
			return RG_POLICY_SET_NOMEM;
		default:
			snprintf(err, errlen, "%s must be %s", d->name, risk_syntax[d->type]);
			return RG_POLICY_SET_BAD_VALUE;
		}
	case T_METHOD:
	case T_DN:
		if (*value == '\0')
			goto bad;
		if (rg_strlist_has(field, value))
			return RG_POLICY_SET_OK;
		return rg_strlist_add(field, value) == 0 ? RG_POLICY_SET_OK : RG_POLICY_SET_NOMEM;
	}
bad:
	switch (d->type) {
	case T_BOOL:
		snprintf(err, errlen, "%s must be TRUE or FALSE", d->name);
		break;
	case T_IAL:
		snprintf(err, errlen, "%s must be an assurance level from 1 to 3", d->name);
		break;
	case T_SECONDS:
		snprintf(err, errlen, "%s must be a number of seconds from 1 to 31622400", d->name);
		break;
	case T_KIND:
		snprintf(err, errlen, "%s must be one of self-change, self-service, "
			"delegated, break-glass, provisioning", d->name);
		break;
	case T_VELOCITY:
		snprintf(err, errlen, "%s must be \"KIND|* target|requester COUNT SECONDS\", "
			"e.g. \"self-service target 3 86400\"", d->name);
		break;
	default:
		snprintf(err, errlen, "%s must not be empty", d->name);
		break;
	}
	return RG_POLICY_SET_BAD_VALUE;
}

void
rg_policy_free(struct rg_policy *p)
{
	free(p->dn);
	rg_strlist_free(&p->selfservice_methods);
	rg_strlist_free(&p->delegated_methods);
	rg_strlist_free(&p->forbidden_methods);
	rg_strlist_free(&p->privileged_groups);
	rg_strlist_free(&p->privileged_methods);
	rg_strlist_free(&p->privileged_forbidden);
	rg_strlist_free(&p->approver_groups);
	rg_strlist_free(&p->reset_agents);
	rg_strlist_free(&p->break_glass);
	rg_strlist_free(&p->break_glass_groups);
	rg_strlist_free(&p->provisioners);
	free(p->velocity);
	rg_strlist_free(&p->refused_countries);
	free(p->activity);
	memset(p, 0, sizeof(*p));
}
