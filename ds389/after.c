/* The hooks around the backend: the Password Modify request before 389-DS turns it into an
 * internal Modify, the end of each change's transaction, and the result sent to the client.
 *
 * 389-DS answers a Password Modify refused by a plugin with its own "Failed to update
 * password" and the plugin's result code. The rule's text is what the client must see, so
 * the pre-result hook sends the response itself, with the same code and the rule's text,
 * and tells the server not to send its own. */
#include "rg389.h"

#include <string.h>

/* PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OPTIONAL, oldPasswd [1]
 * OPTIONAL, newPasswd [2] OPTIONAL } (RFC 3062) */
static void
read_request(Slapi_PBlock *pb, struct rg389_thread *t)
{
	struct berval *value = NULL, bv;
	BerElement *ber = NULL;
	ber_tag_t tag;
	ber_len_t len;

	slapi_pblock_get(pb, SLAPI_EXT_OP_REQ_VALUE, &value);
	if (value == NULL || (ber = ber_init(value)) == NULL)
		return;
	if (ber_scanf(ber, "{") == LBER_ERROR)
		goto out;
	tag = ber_peek_tag(ber, &len);
	if (tag == LDAP_TAG_EXOP_MODIFY_PASSWD_ID) {
		if (ber_scanf(ber, "x") == LBER_ERROR)
			goto out;
		tag = ber_peek_tag(ber, &len);
	}
	if (tag == LDAP_TAG_EXOP_MODIFY_PASSWD_OLD) {
		t->exop_old_given = len > 0;
		if (ber_scanf(ber, "x") == LBER_ERROR)
			goto out;
		tag = ber_peek_tag(ber, &len);
	}
	if (tag == LDAP_TAG_EXOP_MODIFY_PASSWD_NEW && ber_scanf(ber, "m", &bv) != LBER_ERROR &&
	    bv.bv_len > 0) {
		t->exop_new.bv_val = slapi_ch_malloc(bv.bv_len + 1);
		memcpy(t->exop_new.bv_val, bv.bv_val, bv.bv_len);
		t->exop_new.bv_val[bv.bv_len] = '\0';
		t->exop_new.bv_len = bv.bv_len;
	}
out:
	ber_free(ber, 1);
}

int
rg389_pre_extop(Slapi_PBlock *pb)
{
	struct rg389_thread *t = rg389_thread();
	char *oid = NULL;

	slapi_pblock_get(pb, SLAPI_EXT_OP_REQ_OID, &oid);
	if (oid == NULL || strcmp(oid, RG_PASSWD_MODIFY_OID) != 0)
		return 0;
	rg389_thread_clear_exop(t);
	rg389_denial_clear();
	t->exop = 1;
	read_request(pb, t);
	return 0;
}

static int
is_exop(Slapi_PBlock *pb)
{
	int type = 0;

	slapi_pblock_get(pb, SLAPI_OPERATION_TYPE, &type);
	return type == SLAPI_OPERATION_EXTENDED;
}

int
rg389_pre_result(Slapi_PBlock *pb)
{
	struct rg389_thread *t = rg389_thread();
	char *text;
	int code;

	if (t->resending)
		return 0;
	rg389_denial_record();
	if (!is_exop(pb) || !t->exop) {
		/* No state of a Password Modify outlives its response, whatever answered it. */
		rg389_thread_clear_exop(t);
		if (t->denied)
			rg389_denial_clear();
		return 0;
	}
	rg389_thread_clear_exop(t);
	if (!t->denied || t->denial_text == NULL)
		return 0;
	code = t->denial_code;
	text = slapi_ch_strdup(t->denial_text);
	rg389_denial_clear();
	t->resending = 1;
	slapi_send_ldap_result(pb, code, NULL, text, 0, NULL);
	t->resending = 0;
	slapi_ch_free_string(&text);
	return -1;      /* the server's own response, with its generic text, is not sent */
}

/* The end of a change's transaction, just before 389-DS commits or aborts it: the log's head
 * moves only if it commits, and the log lock is let go here, not after the commit, because
 * what 389-DS does between the commit and the post-operation plugins (the password policy's
 * own Modify of the account) waits for the backend that the next change, waiting for the
 * log lock, holds. A commit that fails after this (the disk) leaves a head the next record
 * chains to and no record under it: resetguard-audit verify reports that break. */
int
rg389_betxn_end(Slapi_PBlock *pb)
{
	struct rg389_thread *t = rg389_thread();
	void *op = NULL;
	int opreturn = 0, result = 0;

	if (t->writing)
		return 0;
	slapi_pblock_get(pb, SLAPI_OPERATION, &op);
	if (t->holding_log && op == t->held_op) {
		slapi_pblock_get(pb, SLAPI_PLUGIN_OPRETURN, &opreturn);
		slapi_pblock_get(pb, SLAPI_RESULT_CODE, &result);
		if (opreturn == 0 && result == 0)
			rg389_log_settled(t->held_number, t->held_hash);
		else
			slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "an allowed password change was not "
				"applied (result %d); its reset log record %llu went with it\n",
				result != 0 ? result : opreturn, t->held_number);
		t->holding_log = 0;
		t->held_op = NULL;
		rg389_log_unlock();
	}
	return 0;
}

/* After the transaction: a denial's record, in a transaction of its own. */
int
rg389_post_op(Slapi_PBlock *pb)
{
	if (!rg389_thread()->writing)
		rg389_denial_record();
	return 0;
}
