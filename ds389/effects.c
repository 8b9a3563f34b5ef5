/* The per-account record of the last allowed change, written by the same Modify (or Add)
 * that sets the password, so it commits with it and only with it. Clients never write
 * these attributes. */
#include "rg389.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>

static const char *const maintained[] = { "rgLastResetTime", "rgLastResetKind",
	"rgLastResetBy", "rgLastResetIAL", "rgLastResetMethod", "rgLastResetIssuer",
	"rgLastResetApprover", "rgResetCount", "rgReviewRequired", "rgUsedToken",
	"rgLastResetChange" };

int
rg389_is_maintained_attr(const char *type)
{
	for (size_t i = 0; i < sizeof(maintained) / sizeof(maintained[0]); i++)
		if (slapi_attr_types_equivalent(type, maintained[i]))
			return 1;
	return 0;
}

/* Looked up by name: an entry's attribute iteration passes over operational attributes. */
int
rg389_entry_has_maintained(const Slapi_Entry *e)
{
	Slapi_Attr *a = NULL;

	for (size_t i = 0; i < sizeof(maintained) / sizeof(maintained[0]); i++)
		if (slapi_entry_attr_find(e, maintained[i], &a) == 0)
			return 1;
	return 0;
}

struct effect_values {
	char time[32], ial[16], count[32], change[32];
};

static void
effect_values(const struct rg389_effects *fx, struct effect_values *v)
{
	time_t now = slapi_current_utc_time();
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(v->time, sizeof(v->time), "%Y%m%d%H%M%SZ", &tm);
	snprintf(v->ial, sizeof(v->ial), "%d", fx->ev != NULL ? fx->ev->ial : 0);
	snprintf(v->count, sizeof(v->count), "%lld", fx->reset_count);
	snprintf(v->change, sizeof(v->change), "%llu", fx->change_number);
}

/* A REPLACE with no values removes what an earlier reset left behind. */
static void
replace(Slapi_Mods *smods, const char *type, const char *value)
{
	if (value != NULL && *value != '\0')
		slapi_mods_add_string(smods, LDAP_MOD_REPLACE, type, value);
	else
		slapi_mods_add_modbvps(smods, LDAP_MOD_REPLACE | LDAP_MOD_BVALUES, type, NULL);
}

void
rg389_effects_to_mods(Slapi_Mods *smods, const struct rg389_effects *fx)
{
	struct effect_values v;
	const struct rg_evidence *ev = fx->ev;

	effect_values(fx, &v);
	replace(smods, "rgLastResetTime", v.time);
	replace(smods, "rgLastResetKind", rg_kind_name(fx->kind));
	replace(smods, "rgLastResetBy", fx->by_ndn);
	replace(smods, "rgLastResetIAL", ev != NULL ? v.ial : NULL);
	replace(smods, "rgLastResetMethod", NULL);
	for (size_t i = 0; ev != NULL && i < ev->namr; i++)
		slapi_mods_add_string(smods, LDAP_MOD_ADD, "rgLastResetMethod", ev->amr[i]);
	replace(smods, "rgLastResetIssuer", ev != NULL ? ev->iss : NULL);
	replace(smods, "rgLastResetApprover", fx->approver_ndn);
	replace(smods, "rgResetCount", v.count);
	replace(smods, "rgLastResetChange", v.change);
	/* Never cleared here: a later ordinary reset must not hide a break-glass one. */
	if (fx->review_required)
		replace(smods, "rgReviewRequired", "TRUE");
	for (int i = 0; fx->expired_tokens != NULL && fx->expired_tokens[i] != NULL; i++)
		slapi_mods_add_string(smods, LDAP_MOD_DELETE, "rgUsedToken", fx->expired_tokens[i]);
	/* A plain add: if the same token races this change, the backend refuses one of them. */
	if (fx->token != NULL)
		slapi_mods_add_string(smods, LDAP_MOD_ADD, "rgUsedToken", fx->token);
}

static void
set(Slapi_Entry *e, const char *type, const char *value)
{
	slapi_entry_attr_delete(e, type);
	if (value != NULL && *value != '\0')
		slapi_entry_add_string(e, type, value);
}

void
rg389_effects_to_entry(Slapi_Entry *e, const struct rg389_effects *fx)
{
	struct effect_values v;
	const struct rg_evidence *ev = fx->ev;

	effect_values(fx, &v);
	set(e, "rgLastResetTime", v.time);
	set(e, "rgLastResetKind", rg_kind_name(fx->kind));
	set(e, "rgLastResetBy", fx->by_ndn);
	set(e, "rgLastResetIAL", ev != NULL ? v.ial : NULL);
	set(e, "rgLastResetMethod", NULL);
	for (size_t i = 0; ev != NULL && i < ev->namr; i++)
		slapi_entry_add_string(e, "rgLastResetMethod", ev->amr[i]);
	set(e, "rgLastResetIssuer", ev != NULL ? ev->iss : NULL);
	set(e, "rgLastResetApprover", fx->approver_ndn);
	set(e, "rgResetCount", v.count);
	set(e, "rgLastResetChange", v.change);
	if (fx->review_required)
		set(e, "rgReviewRequired", "TRUE");
	set(e, "rgUsedToken", fx->token);
}
