/* rgLogClaim values, the assertions that guard their writes, and the search for claims of
 * other instances that an account's newer record must wait for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimdir.h"
#include "errbuf.h"

static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	"0123456789_.:@-";

int
claimdir_instance_ok(const char *s)
{
	size_t n = strspn(s, id_chars);

	return n > 0 && n <= 64 && s[n] == '\0';
}

int
claimdir_format(char *buf, size_t len, const char *instance, time_t expires)
{
	struct tm tm;
	char t[16];

	if (!claimdir_instance_ok(instance) || gmtime_r(&expires, &tm) == NULL ||
	    strftime(t, sizeof(t), "%Y%m%d%H%M%SZ", &tm) != 15)
		return -1;
	return snprintf(buf, len, "%s %s", instance, t) < (int)len ? 0 : -1;
}

int
claimdir_parse(const char *value, char *instance, size_t ilen, time_t *expires)
{
	const char *sp = strchr(value, ' ');
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sp == NULL || (size_t)(sp - value) >= ilen || strlen(sp + 1) != 15 ||
	    strspn(sp + 1, "0123456789") != 14 || sscanf(sp + 1, "%4d%2d%2d%2d%2d%2d",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	memcpy(instance, value, sp - value);
	instance[sp - value] = '\0';
	if (!claimdir_instance_ok(instance))
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*expires = timegm(&tm);
	return 0;
}

int
claimdir_assertion(LDAP *ld, const char *value, LDAPControl **out)
{
	struct berval v, esc = { 0, NULL };
	char *filter = NULL;
	int rc;

	*out = NULL;
	if (value == NULL)
		return ldap_create_assertion_control(ld, "(!(" CLAIM_ATTR "=*))", 1, out);
	ber_str2bv(value, 0, 0, &v);
	if (ldap_bv2escaped_filter_value(&v, &esc) != 0 ||
	    asprintf(&filter, "(" CLAIM_ATTR "=%s)", esc.bv_val) < 0) {
		ber_memfree(esc.bv_val);
		return LDAP_NO_MEMORY;
	}
	rc = ldap_create_assertion_control(ld, filter, 1, out);
	ber_memfree(esc.bv_val);
	free(filter);
	return rc;
}

static int
listed(const unsigned long long *own, size_t nown, const struct berval *num)
{
	unsigned long long n;
	char buf[24];

	if (num == NULL || num->bv_len >= sizeof(buf))
		return 0;
	memcpy(buf, num->bv_val, num->bv_len);
	buf[num->bv_len] = '\0';
	n = strtoull(buf, NULL, 10);
	for (size_t i = 0; i < nown; i++)
		if (own[i] == n)
			return 1;
	return 0;
}

int
claimdir_older_live(LDAP *ld, const struct syncd_config *cfg, const char *account,
	unsigned long long number, const unsigned long long *own, size_t nown, char *err,
	size_t errlen)
{
	char *filter = NULL, *attrs[] = { CLAIM_ATTR, "rgLogChangeNumber", NULL };
	char inst[CLAIM_MAX];
	struct berval acct, esc = { 0, NULL }, **v = NULL, **num = NULL;
	struct timeval tv = { cfg->op_timeout, 0 };
	LDAPMessage *res = NULL, *m;
	time_t until, now = time(NULL);
	int ret = -1, rc;

	if (ld == NULL) {
		rg_seterr(err, errlen, "cannot tell whether another instance holds an older "
			"change of the account: not connected to %s", cfg->log_uri);
		return -1;
	}
	ber_str2bv(account, 0, 0, &acct);
	if (ldap_bv2escaped_filter_value(&acct, &esc) != 0 ||
	    asprintf(&filter, "(&(objectClass=rgLogRecord)(rgLogTarget=%s)(" CLAIM_ATTR "=*)"
	    "(!(rgLogChangeNumber>=%llu)))", esc.bv_val, number) < 0) {
		filter = NULL;
		rg_seterr(err, errlen, "cannot tell whether another instance holds an older "
			"change of the account: out of memory");
		goto out;
	}
	/* Claims are dropped as records complete: a handful at most. */
	rc = ldap_search_ext_s(ld, cfg->log_base, LDAP_SCOPE_ONELEVEL, filter, attrs, 0, NULL,
		NULL, &tv, 0, &res);
	if (rc != LDAP_SUCCESS) {
		rg_seterr(err, errlen, "cannot tell whether another instance holds an older "
			"change of the account: search under %s: %s", cfg->log_base,
			ldap_err2string(rc));
		goto out;
	}
	ret = 0;
	for (m = ldap_first_entry(ld, res); m != NULL && ret == 0; m = ldap_next_entry(ld, m)) {
		char value[CLAIM_MAX];

		v = ldap_get_values_len(ld, m, CLAIM_ATTR);
		num = ldap_get_values_len(ld, m, "rgLogChangeNumber");
		if (v != NULL && v[0] != NULL && v[0]->bv_len < sizeof(value)) {
			memcpy(value, v[0]->bv_val, v[0]->bv_len);
			value[v[0]->bv_len] = '\0';
			/* A claim no instance can read is held by nobody it can wait for. */
			if (claimdir_parse(value, inst, sizeof(inst), &until) == 0 &&
			    until >= now && !(strcmp(inst, cfg->instance) == 0 &&
			    listed(own, nown, num != NULL ? num[0] : NULL))) {
				rg_seterr(err, errlen, "instance %s may still deliver change %.*s "
					"of the account (its claim runs until %s): this one waits",
					inst, num != NULL && num[0] != NULL ? (int)num[0]->bv_len : 1,
					num != NULL && num[0] != NULL ? num[0]->bv_val : "?",
					value + strlen(inst) + 1);
				ret = 1;
			}
		}
		ber_bvecfree(v);
		ber_bvecfree(num);
		v = num = NULL;
	}
out:
	ldap_msgfree(res);
	ber_memfree(esc.bv_val);
	free(filter);
	return ret;
}
