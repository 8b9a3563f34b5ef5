/* The proofing control: its value is a compact JWS. Parsing here only checks the shape, so
 * that a malformed value is a protocol error before any work is done; the signature and
 * claims are judged with the policy when the password change is (resetguard.c). */
#include "resetguard.h"

#include <ac/string.h>

int rg_proofing_cid;

static char *proofing_exops[] = { LDAP_EXOP_MODIFY_PASSWD, NULL };

static int
rg_proofing_parse(Operation *op, SlapReply *rs, LDAPControl *ctrl)
{
	struct berval *v;

	if (op->o_controls[rg_proofing_cid] != NULL) {
		rs->sr_text = "resetguard proofing control given twice: send it once";
		return LDAP_PROTOCOL_ERROR;
	}
	if (BER_BVISEMPTY(&ctrl->ldctl_value)) {
		rs->sr_text = "resetguard proofing control has no value: its value is the "
			"proofing token (a compact JWS)";
		return LDAP_PROTOCOL_ERROR;
	}
	if (ctrl->ldctl_value.bv_len > RG_JWS_MAX_LEN) {
		rs->sr_text = "resetguard proofing control value is longer than 8192 bytes";
		return LDAP_PROTOCOL_ERROR;
	}
	if (!rg_jws_is_compact(ctrl->ldctl_value.bv_val, ctrl->ldctl_value.bv_len)) {
		rs->sr_text = "resetguard proofing control value is not a compact JWS "
			"(three base64url parts joined by dots)";
		return LDAP_PROTOCOL_ERROR;
	}

	v = op->o_tmpalloc(sizeof(*v) + ctrl->ldctl_value.bv_len + 1, op->o_tmpmemctx);
	v->bv_val = (char *)(v + 1);
	v->bv_len = ctrl->ldctl_value.bv_len;
	memcpy(v->bv_val, ctrl->ldctl_value.bv_val, v->bv_len);
	v->bv_val[v->bv_len] = '\0';
	op->o_controls[rg_proofing_cid] = v;
	op->o_ctrlflag[rg_proofing_cid] = ctrl->ldctl_iscritical ?
		SLAP_CONTROL_CRITICAL : SLAP_CONTROL_NONCRITICAL;
	return LDAP_SUCCESS;
}

int
rg_control_register(void)
{
	int rc = register_supported_control(RG_PROOFING_CONTROL_OID,
		SLAP_CTRL_ADD | SLAP_CTRL_MODIFY, proofing_exops, rg_proofing_parse,
		&rg_proofing_cid);

	if (rc != LDAP_SUCCESS)
		Debug(LDAP_DEBUG_ANY, "resetguard: cannot register the proofing control %s "
			"(error %d)\n", RG_PROOFING_CONTROL_OID, rc);
	return rc;
}

void
rg_control_unregister(void)
{
	unregister_supported_control(RG_PROOFING_CONTROL_OID);
}
