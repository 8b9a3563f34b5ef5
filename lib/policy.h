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
void rg_policy_free(struct rg_policy *p);

#endif
