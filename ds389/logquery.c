/* Reading the reset log for the decisions that depend on its past: how many changes a
 * velocity limit has seen, and what the log remembers of an account created again. Every
 * search asks for rgLogRecord entries directly below the log base. */
#include "rg389.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
rg389_log_search(const char *filter, char **attrs, plugin_search_entry_callback cb, void *arg)
{
	Slapi_PBlock *pb = slapi_pblock_new();
	int rc = LDAP_OTHER;

	slapi_search_internal_set_pb(pb, rg389.cfg.log_base, LDAP_SCOPE_ONELEVEL, filter, attrs,
		0, NULL, NULL, rg389.id, 0);
	slapi_search_internal_callback_pb(pb, arg, NULL, cb, NULL);
	slapi_pblock_get(pb, SLAPI_PLUGIN_INTOP_RESULT, &rc);
	slapi_pblock_destroy(pb);
	return rc == LDAP_SUCCESS ? 0 : -1;
}

/* value escaped for a filter (RFC 4515); slapi_ch_free it. */
static char *
escaped(const char *value)
{
	size_t n = strlen(value);
	char *out = slapi_ch_malloc(3 * n + 1), *p = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f)
			p += sprintf(p, "\\%02x", c);
		else
			*p++ = (char)c;
	}
	*p = '\0';
	return out;
}

static int
count_entry(Slapi_Entry *e, void *arg)
{
	(*(long long *)arg)++;
	return 0;
}

long long
rg389_log_count(const struct rg_velocity_limit *v, const char *who_ndn, long long since)
{
	char timebuf[32], kinds[256] = "", *who, *filter;
	char *attrs[] = { "1.1", NULL };
	long long n = 0;
	size_t klen = 0;
	int rc;

	for (int k = 0; k < RG_KIND_COUNT; k++)
		if (v->kinds & (1u << k))
			klen += snprintf(kinds + klen, sizeof(kinds) - klen, "(rgLogKind=%s)",
				rg_kind_name(k));
	rg_log_format_time(timebuf, since, 0);
	who = escaped(who_ndn);
	filter = slapi_ch_smprintf("(&(objectClass=rgLogRecord)(rgLogDecision=allowed)"
		"(!(rgLogOutcome=failed))(%s=%s)(rgLogTime>=%s)(|%s))",
		v->per_requester ? "rgLogRequester" : "rgLogTarget", who, timebuf, kinds);
	rc = rg389_log_search(filter, attrs, count_entry, &n);
	slapi_ch_free_string(&who);
	slapi_ch_free_string(&filter);
	return rc == 0 ? n : -1;
}

struct history_scan {
	struct rg389_history *h;
	const char *iss, *jti;
};

static int
history_entry(Slapi_Entry *e, void *arg)
{
	struct history_scan *hs = arg;
	int allowed = rg389_has_value(e, "rgLogDecision", "allowed");
	int not_failed = allowed && !rg389_has_value(e, "rgLogOutcome", "failed");
	Slapi_Attr *a = NULL;

	/* A change of an entry proves it existed; so does an Add that was applied. */
	if (!rg389_has_value(e, "rgLogOperation", "add") ||
	    (allowed && rg389_has_value(e, "rgLogOutcome", "applied")))
		hs->h->known = 1;
	if (not_failed)
		hs->h->applied++;
	if (rg389_has_value(e, "rgLogReviewRequired", "TRUE") &&
	    slapi_entry_attr_find(e, "rgLogReviewVerdict", &a) != 0)
		hs->h->unreviewed = 1;
	if (not_failed && hs->jti != NULL && rg389_has_value(e, "rgLogJti", hs->jti) &&
	    rg389_has_value(e, "rgLogIssuer", hs->iss))
		hs->h->token_used = 1;
	return 0;
}

int
rg389_log_history(const char *target_ndn, const struct rg_evidence *ev,
	struct rg389_history *h)
{
	struct history_scan hs = { h, ev != NULL ? ev->iss : NULL, ev != NULL ? ev->jti : NULL };
	char *attrs[] = { "rgLogOperation", "rgLogDecision", "rgLogOutcome",
		"rgLogReviewRequired", "rgLogReviewVerdict", "rgLogJti", "rgLogIssuer", NULL };
	char *target = escaped(target_ndn), *filter;
	int rc;

	memset(h, 0, sizeof(*h));
	filter = slapi_ch_smprintf("(&(objectClass=rgLogRecord)(rgLogTarget=%s))", target);
	rc = rg389_log_search(filter, attrs, history_entry, &hs);
	slapi_ch_free_string(&target);
	slapi_ch_free_string(&filter);
	return rc;
}
