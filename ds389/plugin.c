/* resetguard-plugin.so: registration in 389 Directory Server.
 *
 * One plugin entry (a betxnpreoperation plugin) registers four more with the same
 * identity: a pre-extended-operation plugin (the Password Modify request), a preoperation
 * plugin (the result sent to the client), and post-operation plugins for client and internal operations (the end of each
 * change's transaction). The betxn hooks judge each change inside the backend transaction,
 * so an allowed change and its reset log record commit together or not at all. */
#include "rg389.h"

#include <string.h>


static Slapi_PluginDesc desc = { RG389_NAME, "resetguard", "0.1.0",
	"governs every password change by a reset policy and keeps a hash-chained reset log" };
static char *plugin_dn;

static int
preop_init(Slapi_PBlock *pb)
{
	if (slapi_pblock_set(pb, SLAPI_PLUGIN_VERSION, SLAPI_PLUGIN_VERSION_03) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_DESCRIPTION, &desc) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_PRE_RESULT_FN, (void *)rg389_pre_result) != 0)
		return -1;
	return 0;
}

static int
preextop_init(Slapi_PBlock *pb)
{
	if (slapi_pblock_set(pb, SLAPI_PLUGIN_VERSION, SLAPI_PLUGIN_VERSION_03) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_DESCRIPTION, &desc) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_PRE_EXTOP_FN, (void *)rg389_pre_extop) != 0)
		return -1;
	return 0;
}

static int
betxn_postop_init(Slapi_PBlock *pb)
{
	if (slapi_pblock_set(pb, SLAPI_PLUGIN_VERSION, SLAPI_PLUGIN_VERSION_03) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_DESCRIPTION, &desc) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_POST_MODIFY_FN, (void *)rg389_betxn_end) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_POST_ADD_FN, (void *)rg389_betxn_end) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_POST_MODRDN_FN, (void *)rg389_betxn_end) != 0)
		return -1;
	return 0;
}

static int
postop_init(Slapi_PBlock *pb)
{
	if (slapi_pblock_set(pb, SLAPI_PLUGIN_VERSION, SLAPI_PLUGIN_VERSION_03) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_DESCRIPTION, &desc) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_POST_MODIFY_FN, (void *)rg389_post_op) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_POST_ADD_FN, (void *)rg389_post_op) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_POST_MODRDN_FN, (void *)rg389_post_op) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_POST_DELETE_FN, (void *)rg389_post_op) != 0)
		return -1;
	return 0;
}

static int
internal_postop_init(Slapi_PBlock *pb)
{
	if (slapi_pblock_set(pb, SLAPI_PLUGIN_VERSION, SLAPI_PLUGIN_VERSION_03) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_DESCRIPTION, &desc) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_INTERNAL_POST_MODIFY_FN, (void *)rg389_post_op) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_INTERNAL_POST_ADD_FN, (void *)rg389_post_op) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_INTERNAL_POST_MODRDN_FN, (void *)rg389_post_op) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_INTERNAL_POST_DELETE_FN, (void *)rg389_post_op) != 0)
		return -1;
	return 0;
}

/* The plugin entry is handed to the init function only. */
static int
read_config(Slapi_PBlock *pb)
{
	Slapi_Entry *e = NULL;
	char err[512];

	slapi_pblock_get(pb, SLAPI_PLUGIN_CONFIG_ENTRY, &e);
	if (e == NULL) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "no plugin configuration entry\n");
		return -1;
	}
	rg389_config_free(&rg389.cfg);
	if (rg389_config_read(e, &rg389.cfg, err, sizeof(err)) != 0) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "%s: %s\n", slapi_entry_get_dn_const(e),
			err);
		return -1;
	}
	slapi_ch_free_string(&plugin_dn);
	plugin_dn = slapi_ch_strdup(slapi_entry_get_dn_const(e));
	return 0;
}

static int
rg389_start(Slapi_PBlock *pb)
{
	if (plugin_dn == NULL || rg389_config_guard_register(plugin_dn) != 0)
		return -1;
	slapi_log_error(SLAPI_LOG_INFO, RG389_NAME, "governing password changes; reset log %s\n",
		rg389.cfg.log_base);
	return 0;
}

static int
rg389_close(Slapi_PBlock *pb)
{
	if (plugin_dn != NULL)
		rg389_config_guard_unregister(plugin_dn);
	slapi_ch_free_string(&plugin_dn);
	rg389_config_free(&rg389.cfg);
	return 0;
}

int
resetguard_init(Slapi_PBlock *pb)
{
	void *id = NULL;

	slapi_pblock_get(pb, SLAPI_PLUGIN_IDENTITY, &id);
	rg389.id = id;
	if (read_config(pb) != 0)
		return -1;
	if (rg389.log_lock == NULL && (rg389.log_lock = slapi_new_mutex()) == NULL)
		return -1;
	if (slapi_pblock_set(pb, SLAPI_PLUGIN_VERSION, SLAPI_PLUGIN_VERSION_03) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_DESCRIPTION, &desc) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_START_FN, (void *)rg389_start) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_CLOSE_FN, (void *)rg389_close) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_PRE_MODIFY_FN, (void *)rg389_betxn_modify) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_PRE_ADD_FN, (void *)rg389_betxn_add) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_PRE_MODRDN_FN, (void *)rg389_betxn_modrdn) != 0 ||
	    slapi_pblock_set(pb, SLAPI_PLUGIN_BE_TXN_PRE_DELETE_FN, (void *)rg389_betxn_delete) != 0) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "cannot register the plugin's functions\n");
		return -1;
	}
	/* Without this a client marking the proofing control critical is refused with
	 * unavailableCriticalExtension before any hook sees the request. */
	slapi_register_supported_control(RG_PROOFING_CONTROL_OID,
		SLAPI_OPERATION_MODIFY | SLAPI_OPERATION_ADD | SLAPI_OPERATION_EXTENDED);
	if (slapi_register_plugin("preextendedop", 1, "resetguard_preextop_init", preextop_init,
	    "resetguard preextendedop", NULL, id) != 0 ||
	    slapi_register_plugin("preoperation", 1, "resetguard_preop_init", preop_init,
	    "resetguard preoperation", NULL, id) != 0 ||
	    slapi_register_plugin("betxnpostoperation", 1, "resetguard_betxn_postop_init",
	    betxn_postop_init, "resetguard betxnpostoperation", NULL, id) != 0 ||
	    slapi_register_plugin("postoperation", 1, "resetguard_postop_init", postop_init,
	    "resetguard postoperation", NULL, id) != 0 ||
	    slapi_register_plugin("internalpostoperation", 1, "resetguard_internal_postop_init",
	    internal_postop_init, "resetguard internal postoperation", NULL, id) != 0) {
		slapi_log_error(SLAPI_LOG_ERR, RG389_NAME, "cannot register the plugin's parts\n");
		return -1;
	}
	return 0;
}
