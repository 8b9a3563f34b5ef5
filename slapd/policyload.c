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

/* backend_group() caches its answers in op->o_groups by group DN alone, assuming the member
 * asked about is always the requester. These checks ask about other identities (the target,
 * the approver), so they run with a cache of their own: otherwise their answers would leak
 * into slapd's ACL decisions for this operation, and one another's. */
int
rg_is_member_of_any(Operation *op, const struct rg_strlist *groups, struct berval *ndn)
{
	ObjectClass *oc = oc_find(SLAPD_GROUP_CLASS);
	AttributeDescription *member = NULL;
	GroupAssertion *saved = op->o_groups, *g;
	BackendDB *saved_bd = op->o_bd;
	const char *text;
	int is_member = 0;

	if (oc == NULL || slap_str2ad(SLAPD_GROUP_ATTR, &member, &text) != LDAP_SUCCESS)
		return 0;
	for (size_t i = 0; i < groups->n && !is_member; i++) {
		struct berval gndn;

		ber_str2bv(groups->v[i], 0, 0, &gndn);
		op->o_groups = NULL;
		op->o_bd = select_backend(&gndn, 0);
		if (op->o_bd != NULL && backend_group(op, NULL, &gndn, ndn, oc, member) == 0)
			is_member = 1;
		while ((g = op->o_groups) != NULL) {
			op->o_groups = g->ga_next;
			op->o_tmpfree(g, op->o_tmpmemctx);
		}
	}
	op->o_groups = saved;
	op->o_bd = saved_bd;
	return is_member;
}
