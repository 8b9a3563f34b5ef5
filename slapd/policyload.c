/* Reading what the policy core needs from the directory: a policy entry and group
 * membership. */
#include "resetguard.h"

/* The policy may live in any local database; read it through that database so other
 * overlays (and their caches) see a normal entry fetch. */
int
rg_policy_load(Operation *op, struct berval *policy_ndn, struct rg_policy *policy,
	char *err, size_t errlen)
{
	BackendDB *be = select_backend(policy_ndn, 0);
	BackendDB *saved_bd = op->o_bd;
	Entry *e = NULL;
	Attribute *a;
	int rc = -1;

	if (be == NULL) {
		snprintf(err, errlen, "reset policy %s is in no database served here",
			policy_ndn->bv_val);
		return -1;
	}
	op->o_bd = be;
	if (be_entry_get_rw(op, policy_ndn, oc_find("rgPolicy"), NULL, 0, &e) != LDAP_SUCCESS ||
	    e == NULL) {
		snprintf(err, errlen, "reset policy %s does not exist or is not an rgPolicy "
			"entry", policy_ndn->bv_val);
		goto out;
	}
	if (rg_policy_init(policy, policy_ndn->bv_val) != 0) {
		snprintf(err, errlen, "out of memory reading reset policy %s", policy_ndn->bv_val);
		goto out;
	}
	for (a = e->e_attrs; a != NULL; a = a->a_next) {
		const char *name = a->a_desc->ad_cname.bv_val;
		BerVarray vals = rg_policy_attr_is_dn(name) ? a->a_nvals : a->a_vals;

		for (unsigned i = 0; i < a->a_numvals; i++) {
			switch (rg_policy_set(policy, name, vals[i].bv_val, err, errlen)) {
			case RG_POLICY_SET_OK:
			case RG_POLICY_SET_UNKNOWN:
				continue;
			case RG_POLICY_SET_BAD_VALUE:
				rg_policy_free(policy);
				goto out;
			default:
				snprintf(err, errlen, "out of memory reading reset policy %s",
					policy_ndn->bv_val);
				rg_policy_free(policy);
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (e != NULL)
		be_entry_release_r(op, e);
	op->o_bd = saved_bd;
	return rc;
}

/* One group's answer about ndn, with backend_group()'s cache kept apart: it caches by
 * group DN alone, assuming the member asked about is always the requester. These checks
 * ask about other identities (the target, the approver), so their answers must not leak
 * into slapd's ACL decisions for this operation, nor into one another. */
static int
group_has(Operation *op, struct berval *gndn, struct berval *ndn, ObjectClass *oc,
	AttributeDescription *member)
{
	GroupAssertion *saved = op->o_groups, *g;
	BackendDB *saved_bd = op->o_bd;
	int rc = LDAP_NO_SUCH_OBJECT;

	op->o_groups = NULL;
	op->o_bd = select_backend(gndn, 0);
	if (op->o_bd != NULL)
		rc = backend_group(op, NULL, gndn, ndn, oc, member);
	while ((g = op->o_groups) != NULL) {
		op->o_groups = g->ga_next;
		op->o_tmpfree(g, op->o_tmpmemctx);
	}
	op->o_groups = saved;
	op->o_bd = saved_bd;
	return rc;
}

/* groupOfNames/member or groupOfUniqueNames/uniqueMember. A group that cannot be found or
 * read is not "no": the caller fails closed on RG_GROUP_UNKNOWN. */
enum rg_group_fact
rg_group_member(Operation *op, const struct rg_strlist *groups, struct berval *ndn)
{
	static const char *const kinds[][2] = {
		{ "groupOfNames", "member" },
		{ "groupOfUniqueNames", "uniqueMember" },
	};
	enum rg_group_fact fact = RG_GROUP_NO;

	for (size_t i = 0; i < groups->n && fact != RG_GROUP_YES; i++) {
		struct berval gndn;
		int found = 0, rc = LDAP_NO_SUCH_OBJECT;

		ber_str2bv(groups->v[i], 0, 0, &gndn);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && !found; k++) {
			ObjectClass *oc = oc_find(kinds[k][0]);
			AttributeDescription *member = NULL;
			const char *text;

			if (oc == NULL || slap_str2ad(kinds[k][1], &member, &text) != LDAP_SUCCESS)
				continue;
			rc = group_has(op, &gndn, ndn, oc, member);
			/* noSuchObject: not this kind of group (or none at all); try the next */
			found = rc != LDAP_NO_SUCH_OBJECT;
		}
		if (rc == LDAP_SUCCESS)
			fact = RG_GROUP_YES;
		else if (rc != LDAP_COMPARE_FALSE && rc != LDAP_NO_SUCH_ATTRIBUTE)
			fact = RG_GROUP_UNKNOWN;
	}
	return fact;
}
