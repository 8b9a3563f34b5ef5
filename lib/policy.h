/* The reset policy: what a directory entry of objectClass rgPolicy says, as a plain struct.
 * Server adapters read the entry and hand each value to rg_policy_set(); DN-valued
 * attributes must be passed in normalized form so the core can compare them as strings. */
#ifndef RG_POLICY_H
#define RG_POLICY_H

#include <stddef.h>

enum rg_kind {
	RG_KIND_SELF_CHANGE,   /* the bound user changes their own password */
	RG_KIND_SELF_SERVICE,  /* a reset agent acts for the user on proofing evidence */
	RG_KIND_DELEGATED,     /* a help desk or admin identity resets someone else's */
	RG_KIND_BREAK_GLASS,   /* a configured emergency identity */
	RG_KIND_PROVISIONING,  /* an Add that carries a password */
	RG_KIND_COUNT
};

const char *rg_kind_name(enum rg_kind kind);
int rg_kind_parse(const char *name, enum rg_kind *kind);

struct rg_strlist {
	char **v;
	size_t n;
};

int rg_strlist_add(struct rg_strlist *l, const char *s);
int rg_strlist_has(const struct rg_strlist *l, const char *s);
void rg_strlist_free(struct rg_strlist *l);

/* rgVelocityLimit: at most `count` allowed changes of the given kinds within `window`
 * seconds, per target account or per requester. */
struct rg_velocity_limit {
	unsigned kinds;                 /* bit (1u << kind) */
	int per_requester;
	long long count;
	long long window;
};

/* rgRiskMax: the highest risk score accepted for a kind of change; "privileged" caps any
 * change of a privileged account besides its kind's own cap. */
#define RG_RISK_SCOPE_PRIVILEGED RG_KIND_COUNT

/* rgRiskUnknown: what a policy that judges risk does when the token does not say. */
enum rg_risk_unknown { RG_UNKNOWN_ALLOW, RG_UNKNOWN_STEP_UP, RG_UNKNOWN_DENY };

/* rgRiskRefuse: facts of the token's risk claim that refuse a reset. */
#define RG_REFUSE_ANONYMIZER        (1u << 0)
#define RG_REFUSE_UNKNOWN_NETWORK   (1u << 1)
#define RG_REFUSE_UNMANAGED_DEVICE  (1u << 2)
#define RG_REFUSE_UNKNOWN_DEVICE    (1u << 3)

/* The account's recent activity, each kept in a rule of its own: "KIND|* COUNT SECONDS" for
 * failed binds, "KIND|* SECONDS" for the others. */
enum rg_activity_type {
	RG_ACTIVITY_FAILED_BINDS,   /* rgFailedBindLimit: ppolicy's pwdFailureTime */
	RG_ACTIVITY_LOCKED,         /* rgLockoutRefuse: ppolicy's pwdAccountLockedTime */
	RG_ACTIVITY_RECENT_RESET,   /* rgMinResetInterval: rgLastResetTime */
	RG_ACTIVITY_RECOVERY,       /* rgRecoveryChangeMinAge: rgRecoveryChangeTime */
};

struct rg_activity_rule {
	enum rg_activity_type type;
	unsigned kinds;                 /* bit (1u << kind) */
	long long count;                /* failed binds only */
	long long window;               /* seconds */
};

struct rg_policy {
	char *dn;
	unsigned allowed_kinds;         /* bit (1u << kind); rgAllowedKind */
	int selfchange_require_old;     /* rgSelfChangeRequireOld */
	int selfservice_min_ial;        /* rgSelfServiceMinIAL */
	struct rg_strlist selfservice_methods;  /* rgSelfServiceMethod: at least one of */
	int delegated_min_ial;          /* rgDelegatedMinIAL */
	struct rg_strlist delegated_methods;    /* rgDelegatedMethod: at least one of */
	struct rg_strlist forbidden_methods;    /* rgForbiddenMethod */
	struct rg_strlist privileged_groups;    /* rgPrivilegedGroup (normalized DNs) */
	int privileged_min_ial;         /* rgPrivilegedMinIAL: step-up by level ... */
	struct rg_strlist privileged_methods;   /* rgPrivilegedMethod: ... or by method */
	struct rg_strlist privileged_forbidden; /* rgPrivilegedForbiddenMethod */
	long long max_evidence_age;     /* rgMaxEvidenceAge, seconds since iat */
	int require_approver;           /* rgDelegatedRequireApprover */
	struct rg_strlist approver_groups;      /* rgApproverGroup (normalized DNs) */
	int require_reason;             /* rgDelegatedRequireReason */
	int force_change;               /* rgForceChangeAfterDelegated -> pwdReset */
	struct rg_strlist reset_agents;         /* rgResetAgent (normalized DNs) */
	struct rg_strlist break_glass;          /* rgBreakGlass (normalized DNs) */
	struct rg_strlist break_glass_groups;   /* rgBreakGlassGroup (normalized DNs) */
	struct rg_strlist provisioners;         /* rgProvisioner (normalized DNs); empty: any */
	struct rg_velocity_limit *velocity;     /* rgVelocityLimit */
	size_t nvelocity;
	int risk_max[RG_KIND_COUNT + 1];        /* rgRiskMax by kind, or privileged; -1: none */
	int stepup_score;                       /* rgRiskStepUp: above this score ... */
	int stepup_ial;                         /* ... IAL this, or an rgPrivilegedMethod */
	enum rg_risk_unknown risk_unknown;      /* rgRiskUnknown */
	unsigned risk_refuse;                   /* rgRiskRefuse facts (RG_REFUSE_*) */
	struct rg_strlist refused_countries;    /* rgRiskRefuse "country:XX" */
	int require_bound;                      /* rgRequireBoundEvidence */
	struct rg_activity_rule *activity;      /* rgFailedBindLimit, rgLockoutRefuse, ... */
	size_t nactivity;
	/* Multi-valued attributes whose defaults are replaced by the first stored value. */
	unsigned seen;
};

enum rg_policy_set_result {
	RG_POLICY_SET_OK = 0,
	RG_POLICY_SET_UNKNOWN,    /* not a policy attribute: the caller skips it */
	RG_POLICY_SET_BAD_VALUE,  /* err says which attribute and why */
	RG_POLICY_SET_NOMEM,
};

/* Fills the documented defaults (see slapo-resetguard(5)). */
int rg_policy_init(struct rg_policy *p, const char *dn);
int rg_policy_set(struct rg_policy *p, const char *attr, const char *value,
	char *err, size_t errlen);
/* Whether attr (case-insensitive) names a DN-valued policy attribute. */
int rg_policy_attr_is_dn(const char *attr);
/* Whether the policy judges risk at all: a cap, a step-up threshold or a refused fact. */
int rg_policy_judges_risk(const struct rg_policy *p);
void rg_policy_free(struct rg_policy *p);

#endif
