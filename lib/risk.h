/* The risk rules of the decision: the proofing service's risk signals, proof of possession of
 * the key a token is bound to, and the account's recent activity. Each check returns 0 when
 * its rules pass, or -1 with the refusal in *v, which rg_decide turns into its decision. */
#ifndef RG_RISK_H
#define RG_RISK_H

#include "decide.h"

struct rg_verdict {
	enum rg_rule rule;
	int ldap_result;
	int alert; /* worth an operator's attention, not only a refusal */
	char text[512];
};

/* A token bound by cnf is accepted only from the connection holding that certificate, whatever
 * the policy; a policy with rgRequireBoundEvidence accepts no other token. */
int rg_risk_check_possession(const struct rg_policy *p, const struct rg_request *r,
	struct rg_verdict *v);
/* rgRiskRefuse, rgRiskMax, rgRiskStepUp and rgRiskUnknown over the token's risk claim. */
int rg_risk_check_signals(const struct rg_policy *p, const struct rg_request *r,
	struct rg_verdict *v);
/* rgFailedBindLimit, rgLockoutRefuse, rgMinResetInterval and rgRecoveryChangeMinAge for the
 * request's kind. */
int rg_risk_check_activity(const struct rg_policy *p, const struct rg_request *r,
	struct rg_verdict *v);

#endif
