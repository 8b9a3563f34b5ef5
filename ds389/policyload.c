/* Reading what the policy core needs from the directory: a policy entry and group
 * membership, through internal searches (inside the change's transaction when there is
 * one, so they see the directory as the change will). */
#include "rg389.h"

#include <stdio.h>

static Slapi_Entry *
get_entry(const char *ndn, char **attrs)
{
	Slapi_DN *sdn = slapi_sdn_new_dn_byval(ndn);
	Slapi_Entry *e = NULL;

	if (slapi_search_internal_get_entry(sdn, attrs, &e, rg389.id) != LDAP_SUCCESS)
		e = NULL;
	slapi_sdn_free(&sdn);
	return e;
}

/* DN-valued attributes go to the core normalized, as the core compares strings. */
static int
set_value(struct rg_policy *p, const char *type, const char *value, char *err, size_t errlen)
{
	char *ndn = NULL;
	int rc;

	if (rg_policy_attr_is_dn(type)) {
		if ((ndn = rg389_ndn(value)) == NULL) {
			rg_seterr(err, errlen, "%s of reset policy %s is not a DN", type, p->dn);
			return RG_POLICY_SET_BAD_VALUE;
		}
		value = ndn;
	}
	rc = rg_policy_set(p, type, value, err, errlen);
	slapi_ch_free_string(&ndn);
	return rc;
}

int
rg389_policy_load(const char *policy_ndn, struct rg_policy *policy, char *err, size_t errlen)
{
	Slapi_Entry *e = get_entry(policy_ndn, NULL);
	Slapi_Attr *a = NULL;
	int rc = -1;

	if (e == NULL || !rg389_has_value(e, "objectClass", "rgPolicy")) {
		rg_seterr(err, errlen, "reset policy %s does not exist or is not an rgPolicy entry",
			policy_ndn);
		goto out;
	}
	if (rg_policy_init(policy, policy_ndn) != 0) {
		rg_seterr(err, errlen, "out of memory reading reset policy %s", policy_ndn);
		goto out;
	}
	for (slapi_entry_first_attr(e, &a); a != NULL; slapi_entry_next_attr(e, a, &a)) {
		char *type = NULL;
		Slapi_Value *v = NULL;

		slapi_attr_get_type(a, &type);
		for (int i = slapi_attr_first_value(a, &v); i >= 0;
		     i = slapi_attr_next_value(a, i, &v)) {
			switch (set_value(policy, type, slapi_value_get_string(v), err, errlen)) {
			case RG_POLICY_SET_OK:
			case RG_POLICY_SET_UNKNOWN:
				continue;
			case RG_POLICY_SET_BAD_VALUE:
				rg_policy_free(policy);
				goto out;
			default:
				rg_seterr(err, errlen, "out of memory reading reset policy %s",
					policy_ndn);
				rg_policy_free(policy);
				goto out;
			}
		}
	}
	rc = 0;
out:
	slapi_entry_free(e);
	return rc;
}

/* groupOfNames/member or groupOfUniqueNames/uniqueMember. A group that cannot be found or
 * read is not "no": the caller fails closed on RG_GROUP_UNKNOWN. */
enum rg_group_fact
rg389_group_member(const struct rg_strlist *groups, const char *ndn)
{
	char *attrs[] = { "objectClass", "member", "uniqueMember", NULL };
	enum rg_group_fact fact = RG_GROUP_NO;

	for (size_t i = 0; i < groups->n && fact != RG_GROUP_YES; i++) {
		Slapi_Entry *g = get_entry(groups->v[i], attrs);

		if (g == NULL || (!rg389_has_value(g, "objectClass", "groupOfNames") &&
		    !rg389_has_value(g, "objectClass", "groupOfUniqueNames")))
			fact = RG_GROUP_UNKNOWN;
		else if (rg389_has_value(g, "member", ndn) || rg389_has_value(g, "uniqueMember", ndn))
			fact = RG_GROUP_YES;
		slapi_entry_free(g);
	}
	return fact;
}
