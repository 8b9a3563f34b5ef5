/* Writing the reset log: the same records, DNs, attributes and chain as the slapd overlay
 * writes (slapd/logwrite.c), so that resetguard-audit and syncd read either server's log.
 *
 * Appends are serialized by the log lock, held by the caller from the velocity count to
 * the end of the record's transaction: the chain order is the order of change numbers and
 * of times. The head (last number and hash) is kept in memory; after a restart it is found
 * again by probing record DNs. */
#include "rg389.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

void
rg389_log_lock(void)
{
	slapi_lock_mutex(rg389.log_lock);
}

void
rg389_log_unlock(void)
{
	slapi_unlock_mutex(rg389.log_lock);
}

static char *
record_dn(unsigned long long n)
{
	return slapi_ch_smprintf("rgLogChangeNumber=%llu,%s", n, rg389.cfg.log_base);
}

/* The first value of attr in the entry at dn, if it exists and is of class oc. */
static int
read_value(const char *dn, const char *oc, const char *attr, char *out, size_t outlen)
{
	Slapi_DN *sdn = slapi_sdn_new_dn_byval(dn);
	char *attrs[] = { (char *)attr, "objectClass", NULL };
	Slapi_Entry *e = NULL;
	int rc = -1;

	if (slapi_search_internal_get_entry(sdn, attrs, &e, rg389.id) == LDAP_SUCCESS &&
	    e != NULL && rg389_has_value(e, "objectClass", oc)) {
		const char *v = slapi_entry_attr_get_ref(e, (char *)attr);

		if (out != NULL)
			snprintf(out, outlen, "%s", v != NULL ? v : "");
		rc = 0;
	}
	slapi_entry_free(e);
	slapi_sdn_free(&sdn);
	return rc;
}

static int
record_exists(unsigned long long n, char *hash)
{
	char *dn = record_dn(n);
	int rc = read_value(dn, "rgLogRecord", "rgLogHash", hash, RG_LOG_HASH_HEX);

	slapi_ch_free_string(&dn);
	return rc == 0;
}

static void
find_head(void)
{
	char anchor[32] = "", hash[RG_LOG_HASH_HEX] = "";
	unsigned long long lo, hi, step;

	strcpy(rg389.head_hash, RG_LOG_GENESIS);
	rg389.head = 0;
	if (read_value(rg389.cfg.log_base, "rgLogRoot", "rgLogAnchorNumber", anchor,
	    sizeof(anchor)) == 0 && anchor[0] != '\0') {
		rg389.head = strtoull(anchor, NULL, 10);
		read_value(rg389.cfg.log_base, "rgLogRoot", "rgLogAnchorHash", rg389.head_hash,
			sizeof(rg389.head_hash));
	}
	/* Records are contiguous above the anchor: gallop to a missing number, then bisect. */
	lo = rg389.head;
	if (!record_exists(lo + 1, NULL))
		goto done;
	lo++;
	for (step = 1; record_exists(lo + step, NULL); step *= 2)
		lo += step;
	hi = lo + step;
	while (hi - lo > 1) {
		unsigned long long mid = lo + (hi - lo) / 2;

		if (record_exists(mid, NULL))
			lo = mid;
		else
			hi = mid;
	}
	if (record_exists(lo, hash)) {
		rg389.head = lo;
		snprintf(rg389.head_hash, sizeof(rg389.head_hash), "%s", hash);
	}
done:
	rg389.head_known = 1;
	slapi_log_error(SLAPI_LOG_INFO, RG389_NAME, "reset log %s continues after change %llu\n",
		rg389.cfg.log_base, rg389.head);
}

static void
put(Slapi_Entry *e, const char *attr, const char *value)
{
	if (value != NULL && *value != '\0')
		slapi_entry_add_string(e, attr, value);
}

static Slapi_Entry *
record_entry(const struct rg_log_record *r, const char *hash, const struct berval *sealed)
{
	Slapi_Entry *e = slapi_entry_alloc();
	char num[32];

	slapi_entry_init(e, record_dn(r->number), NULL);
	put(e, "objectClass", "top");
	put(e, "objectClass", "rgLogRecord");
	snprintf(num, sizeof(num), "%llu", r->number);
	put(e, "rgLogChangeNumber", num);
	put(e, "rgLogTime", r->time);
	put(e, "rgLogTarget", r->target);
	put(e, "rgLogRequester", r->requester);
	put(e, "rgLogAuthenticated", r->authenticated);
	put(e, "rgLogApprover", r->approver);
	put(e, "rgLogKind", r->kind);
	put(e, "rgLogDecision", r->decision);
	put(e, "rgLogRule", r->rule);
	put(e, "rgLogRuleText", r->rule_text);
	put(e, "rgLogPolicy", r->policy);
	put(e, "rgLogOperation", r->operation);
	put(e, "rgLogIssuer", r->issuer);
	if (r->level > 0) {
		snprintf(num, sizeof(num), "%d", r->level);
		put(e, "rgLogLevel", num);
	}
	for (size_t i = 0; i < r->nmethods; i++)
		put(e, "rgLogMethod", r->methods[i]);
	put(e, "rgLogJti", r->jti);
	put(e, "rgLogReason", r->reason);
	put(e, "rgLogReviewRequired", r->review_required ? "TRUE" : "FALSE");
	put(e, "rgLogAlert", r->alert ? "TRUE" : "FALSE");
	put(e, "rgLogPrevHash", r->prev_hash);
	put(e, "rgLogHash", hash);
	/* An allowed change commits with its record: it is applied the moment both exist. */
	if (strcmp(r->decision, "allowed") == 0)
		put(e, "rgLogOutcome", "applied");
	if (sealed != NULL) {
		Slapi_Value *v = slapi_value_new_berval(sealed);

		slapi_entry_add_value(e, "rgLogSealedPassword", v);
		slapi_value_free(&v);
	}
	return e;
}

static int
add_entry(Slapi_Entry *e, char *err, size_t errlen)
{
	struct rg389_thread *t = rg389_thread();
	Slapi_PBlock *pb = slapi_pblock_new();
	char *dn = slapi_ch_strdup(slapi_entry_get_dn_const(e));
	int rc = LDAP_OTHER;

	slapi_add_entry_internal_set_pb(pb, e, NULL, rg389.id, 0);
	t->writing = 1;
	slapi_add_internal_pb(pb);
	t->writing = 0;
	slapi_pblock_get(pb, SLAPI_PLUGIN_INTOP_RESULT, &rc);
	slapi_pblock_destroy(pb);
	if (rc != LDAP_SUCCESS)
		rg_seterr(err, errlen, "cannot write reset log record %s (LDAP error %d: %s)", dn,
			rc, ldap_err2string(rc));
	slapi_ch_free_string(&dn);
	return rc == LDAP_SUCCESS ? 0 : -1;
}

int
rg389_log_append(struct rg_log_record *r, const struct berval *sealed, int in_txn,
	char hash[RG_LOG_HASH_HEX], char *err, size_t errlen)
{
	char timebuf[32];
	struct timeval tv;
	Slapi_Entry *e;
	int rc = -1;

	if (!rg389.head_known)
		find_head();
	r->number = rg389.head + 1;
	gettimeofday(&tv, NULL);
	rg_log_format_time(timebuf, tv.tv_sec, tv.tv_usec);
	r->time = timebuf;
	snprintf(r->prev_hash, sizeof(r->prev_hash), "%s", rg389.head_hash);
	if (rg_log_hash(r, hash) != 0) {
		rg_seterr(err, errlen, "cannot hash the reset log record");
		goto out;
	}
	e = record_entry(r, hash, sealed);
	/* the add consumes the entry, whatever its result */
	if (add_entry(e, err, errlen) != 0) {
		/* Someone else wrote this number (a restored backup, a second writer): find the
		 * head again before the next record. */
		rg389.head_known = 0;
		goto out;
	}
	if (!in_txn)
		rg389_log_settled(r->number, hash);
	rc = 0;
out:
	r->time = NULL;
	return rc;
}

void
rg389_log_settled(unsigned long long number, const char *hash)
{
	rg389.head = number;
	snprintf(rg389.head_hash, sizeof(rg389.head_hash), "%s", hash);
}
