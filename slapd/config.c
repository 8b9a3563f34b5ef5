/* resetguard's directives, in slapd.conf and in cn=config (olcRgConfig). Every value is
 * checked when it is set, so a bad line is refused with its file and line (c->log). */
#include "resetguard.h"
#include "slap-config.h"
#include "ldap_rq.h"

enum {
	RG_CF_DEFAULT_POLICY = 1,
	RG_CF_ISSUER,
	RG_CF_ROOTDN,
	RG_CF_CLOCK_SKEW,
	RG_CF_LOG,
	RG_CF_LOG_PURGE,
	RG_CF_SEAL_CERT,
	RG_CF_RECOVERY_ATTR,
	RG_CF_ALERT,                        /* + enum rg_alert: alerts.c parses them */
};

static ConfigDriver rg_cf_gen;

static ConfigTable rg_cfats[] = {
	{ "resetguard-default-policy", "dn", 2, 2, 0,
	  ARG_DN | ARG_QUOTE | ARG_MAGIC | RG_CF_DEFAULT_POLICY, rg_cf_gen,
	  "( " RG_OID_BASE ".4.1 NAME 'olcRgDefaultPolicy' "
	  "DESC 'DN of the rgPolicy entry governing entries without rgPolicySubentry' "
	  "EQUALITY distinguishedNameMatch SYNTAX OMsDN SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-issuer", "name> <pem-file", 3, 3, 0,
	  ARG_MAGIC | RG_CF_ISSUER, rg_cf_gen,
	  "( " RG_OID_BASE ".4.2 NAME 'olcRgIssuer' "
	  "DESC 'trusted proofing issuer: iss value and public key PEM file' "
	  "EQUALITY caseExactMatch SYNTAX OMsDirectoryString )", NULL, NULL },
	{ "resetguard-rootdn", "governed|exempt", 2, 2, 0,
	  ARG_MAGIC | RG_CF_ROOTDN, rg_cf_gen,
	  "( " RG_OID_BASE ".4.4 NAME 'olcRgRootDN' "
	  "DESC 'whether the rootdn is governed by the reset policy (default governed)' "
	  "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-clock-skew", "seconds", 2, 2, 0,
	  ARG_MAGIC | ARG_INT | RG_CF_CLOCK_SKEW, rg_cf_gen,
	  "( " RG_OID_BASE ".4.5 NAME 'olcRgClockSkew' "
	  "DESC 'seconds of clock difference tolerated with proofing issuers (default 30)' "
	  "EQUALITY integerMatch SYNTAX OMsInteger SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-log", "dn", 2, 2, 0,
	  ARG_DN | ARG_QUOTE | ARG_MAGIC | RG_CF_LOG, rg_cf_gen,
	  "( " RG_OID_BASE ".4.7 NAME 'olcRgLog' "
	  "DESC 'suffix of the reset log database (default cn=resetlog)' "
	  "EQUALITY distinguishedNameMatch SYNTAX OMsDN SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-log-purge", "age> <interval", 3, 3, 0,
	  ARG_MAGIC | RG_CF_LOG_PURGE, rg_cf_gen,
	  "( " RG_OID_BASE ".4.8 NAME 'olcRgLogPurge' "
	  "DESC 'remove reset log records older than age, every interval ([dd+]hh:mm[:ss])' "
	  "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-seal-cert", "pem-file", 2, 2, 0,
	  ARG_MAGIC | RG_CF_SEAL_CERT, rg_cf_gen,
	  "( " RG_OID_BASE ".4.9 NAME 'olcRgSealCert' "
	  "DESC 'certificate of resetguard-syncd: new passwords are sealed to it' "
	  "EQUALITY caseExactMatch SYNTAX OMsDirectoryString SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-recovery-attr", "attribute", 2, 2, 0,
	  ARG_MAGIC | RG_CF_RECOVERY_ATTR, rg_cf_gen,
	  "( " RG_OID_BASE ".4.20 NAME 'olcRgRecoveryAttr' "
	  "DESC 'an attribute a reset code goes to: a Modify of it sets rgRecoveryChangeTime' "
	  "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString )", NULL, NULL },
	{ "resetguard-alert-volume", "count> <seconds", 3, 3, 0,
	  ARG_MAGIC | (RG_CF_ALERT + RG_ALERT_VOLUME), rg_cf_gen,
	  "( " RG_OID_BASE ".4.25 NAME 'olcRgAlertVolume' "
	  "DESC 'alert when count resets happen within seconds (default off)' "
	  "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-alert-target-denials", "count> <seconds", 3, 3, 0,
	  ARG_MAGIC | (RG_CF_ALERT + RG_ALERT_TARGET_DENIALS), rg_cf_gen,
	  "( " RG_OID_BASE ".4.26 NAME 'olcRgAlertTargetDenials' "
	  "DESC 'alert when count changes of one account are denied within seconds "
	  "(default off)' "
	  "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString SINGLE-VALUE )", NULL, NULL },
	{ "resetguard-alert-requester-denials", "count> <seconds", 3, 3, 0,
	  ARG_MAGIC | (RG_CF_ALERT + RG_ALERT_REQUESTER_DENIALS), rg_cf_gen,
	  "( " RG_OID_BASE ".4.27 NAME 'olcRgAlertRequesterDenials' "
	  "DESC 'alert when count changes by one requester are denied within seconds "
	  "(default off)' "
	  "EQUALITY caseIgnoreMatch SYNTAX OMsDirectoryString SINGLE-VALUE )", NULL, NULL },
	{ NULL, NULL, 0, 0, 0, ARG_IGNORED }
};

static ConfigOCs rg_cfocs[] = {
	{ "( " RG_OID_BASE ".5.1 NAME 'olcRgConfig' "
	  "DESC 'resetguard overlay configuration' SUP olcOverlayConfig "
	  "MAY ( olcRgDefaultPolicy $ olcRgIssuer $ olcRgRootDN $ olcRgClockSkew $ "
	  "olcRgLog $ olcRgLogPurge $ olcRgSealCert $ olcRgRecoveryAttr $ olcRgAlertVolume $ "
	  "olcRgAlertTargetDenials $ olcRgAlertRequesterDenials ) )",
	  Cft_Overlay, rg_cfats },
	{ NULL, 0, NULL }
};

static int
bad(ConfigArgs *c, const char *fmt, const char *arg)
{
	snprintf(c->cr_msg, sizeof(c->cr_msg), fmt, arg);
	Debug(LDAP_DEBUG_ANY, "%s: %s\n", c->log, c->cr_msg);
	return 1;
}

static int
parse_seconds(ConfigArgs *c, long lo, long hi, int *out)
{
	char *end;
	long v = strtol(c->argv[1], &end, 10);

	if (end == c->argv[1] || *end != '\0' || v < lo || v > hi) {
		snprintf(c->cr_msg, sizeof(c->cr_msg), "%s: \"%s\" is not a number of seconds "
			"from %ld to %ld", c->argv[0], c->argv[1], lo, hi);
		Debug(LDAP_DEBUG_ANY, "%s: %s\n", c->log, c->cr_msg);
		return 1;
	}
	*out = (int)v;
	return 0;
}

/* accesslog's notation, [dd+]hh:mm[:ss], so administrators write retention the same way. */
static int
parse_duration(const char *s, int *out)
{
	unsigned dd = 0, hh = 0, mm = 0, ss = 0;
	int n = 0;

	if (strchr(s, '+') != NULL) {
		if (sscanf(s, "%u+%u:%u%n", &dd, &hh, &mm, &n) != 3)
			return -1;
	} else if (sscanf(s, "%u:%u%n", &hh, &mm, &n) != 2) {
		return -1;
	}
	s += n;
	if (*s == ':') {
		if (sscanf(s, ":%u%n", &ss, &n) != 1)
			return -1;
		s += n;
	}
	if (*s != '\0' || hh > 23 || mm > 59 || ss > 59 || dd > 3650)
		return -1;
	*out = (int)(((dd * 24 + hh) * 60 + mm) * 60 + ss);
	return *out > 0 ? 0 : -1;
}

static void
format_duration(int secs, char *buf, size_t len)
{
	int dd = secs / 86400, hh = secs / 3600 % 24, mm = secs / 60 % 60, ss = secs % 60;

	if (dd > 0)
		snprintf(buf, len, "%d+%02d:%02d:%02d", dd, hh, mm, ss);
	else
		snprintf(buf, len, "%02d:%02d:%02d", hh, mm, ss);
}

static void
issuer_remove(rg_info *ri, int idx)
{
	struct rg_issuers *set = &ri->ri_issuers;

	free(set->v[idx].name);
	EVP_PKEY_free(set->v[idx].key);
	memmove(&set->v[idx], &set->v[idx + 1], (set->n - idx - 1) * sizeof(set->v[0]));
	set->n--;
	ber_memfree(ri->ri_issuer_cfg[idx].bv_val);
	for (; !BER_BVISNULL(&ri->ri_issuer_cfg[idx]); idx++)
		ri->ri_issuer_cfg[idx] = ri->ri_issuer_cfg[idx + 1];
	if (BER_BVISNULL(&ri->ri_issuer_cfg[0])) {
		ber_memfree(ri->ri_issuer_cfg);
		ri->ri_issuer_cfg = NULL;
	}
}

static int
rg_cf_emit(ConfigArgs *c, rg_info *ri)
{
	struct berval bv;

	switch (c->type) {
	case RG_CF_DEFAULT_POLICY:
		if (BER_BVISEMPTY(&ri->ri_default_policy))
			return 1;
		value_add_one(&c->rvalue_vals, &ri->ri_default_policy);
		value_add_one(&c->rvalue_nvals, &ri->ri_default_policy);
		return 0;
	case RG_CF_ISSUER:
		if (ri->ri_issuer_cfg == NULL)
			return 1;
		return value_add(&c->rvalue_vals, ri->ri_issuer_cfg);
	case RG_CF_ROOTDN:
		ber_str2bv(ri->ri_rootdn_exempt ? "exempt" : "governed", 0, 0, &bv);
		value_add_one(&c->rvalue_vals, &bv);
		return 0;
	case RG_CF_CLOCK_SKEW:
		c->value_int = ri->ri_clock_skew;
		return 0;
	case RG_CF_LOG:
		value_add_one(&c->rvalue_vals, &ri->ri_log_base);
		value_add_one(&c->rvalue_nvals, &ri->ri_log_nbase);
		return 0;
	case RG_CF_SEAL_CERT:
		if (ri->ri_seal_cert_file == NULL)
			return 1;
		ber_str2bv(ri->ri_seal_cert_file, 0, 0, &bv);
		value_add_one(&c->rvalue_vals, &bv);
		return 0;
	case RG_CF_RECOVERY_ATTR:
		return rg_recovery_attr_emit(ri, &c->rvalue_vals);
	case RG_CF_LOG_PURGE: {
		char age[32], every[32], buf[80];

		if (ri->ri_log_purge_age == 0)
			return 1;
		format_duration(ri->ri_log_purge_age, age, sizeof(age));
		format_duration(ri->ri_log_purge_interval, every, sizeof(every));
		snprintf(buf, sizeof(buf), "%s %s", age, every);
		ber_str2bv(buf, 0, 0, &bv);
		value_add_one(&c->rvalue_vals, &bv);
		return 0;
	}
	}
	return 1;
}

static int
rg_cf_delete(ConfigArgs *c, rg_info *ri)
{
	switch (c->type) {
	case RG_CF_DEFAULT_POLICY:
		ch_free(ri->ri_default_policy.bv_val);
		BER_BVZERO(&ri->ri_default_policy);
		return 0;
	case RG_CF_ISSUER:
		if (c->valx < 0) {
			while (ri->ri_issuers.n > 0)
				issuer_remove(ri, 0);
		} else if ((size_t)c->valx < ri->ri_issuers.n) {
			issuer_remove(ri, c->valx);
		}
		return 0;
	case RG_CF_ROOTDN:
		ri->ri_rootdn_exempt = 0;
		return 0;
	case RG_CF_CLOCK_SKEW:
		ri->ri_clock_skew = 30;
		return 0;
	case RG_CF_LOG:
		ch_free(ri->ri_log_base.bv_val);
		ch_free(ri->ri_log_nbase.bv_val);
		ber_str2bv("cn=resetlog", 0, 1, &ri->ri_log_base);
		ber_str2bv("cn=resetlog", 0, 1, &ri->ri_log_nbase);
		ri->ri_log_head_known = 0;
		return 0;
	case RG_CF_LOG_PURGE:
		rg_log_purge_stop(ri);
		ri->ri_log_purge_age = 0;
		return 0;
	case RG_CF_SEAL_CERT:
		X509_free(ri->ri_seal_cert);
		ri->ri_seal_cert = NULL;
		ch_free(ri->ri_seal_cert_file);
		ri->ri_seal_cert_file = NULL;
		return 0;
	case RG_CF_RECOVERY_ATTR:
		rg_recovery_attr_delete(ri, c->valx);
		return 0;
	}
	return 1;
}

static int
rg_cf_gen(ConfigArgs *c)
{
	slap_overinst *on = (slap_overinst *)c->bi;
	rg_info *ri = on->on_bi.bi_private;
	char err[256];
	struct berval bv;

	if (c->type >= RG_CF_ALERT && c->type < RG_CF_ALERT + RG_ALERT_COUNT)
		return rg_alerts_config(c, ri, c->type - RG_CF_ALERT);
	if (c->op == SLAP_CONFIG_EMIT)
		return rg_cf_emit(c, ri);
	if (c->op == LDAP_MOD_DELETE)
		return rg_cf_delete(c, ri);

	switch (c->type) {
	case RG_CF_DEFAULT_POLICY:
		ch_free(ri->ri_default_policy.bv_val);
		ri->ri_default_policy = c->value_ndn;
		ch_free(c->value_dn.bv_val);
		return 0;
	case RG_CF_ISSUER:
		if (rg_issuers_add(&ri->ri_issuers, c->argv[1], c->argv[2],
		    err, sizeof(err)) != 0)
			return bad(c, "resetguard-issuer: %s", err);
		bv.bv_len = strlen(c->argv[1]) + 1 + strlen(c->argv[2]);
		bv.bv_val = ch_malloc(bv.bv_len + 1);
		snprintf(bv.bv_val, bv.bv_len + 1, "%s %s", c->argv[1], c->argv[2]);
		ber_bvarray_add(&ri->ri_issuer_cfg, &bv);
		return 0;
	case RG_CF_ROOTDN:
		if (strcasecmp(c->argv[1], "governed") == 0)
			ri->ri_rootdn_exempt = 0;
		else if (strcasecmp(c->argv[1], "exempt") == 0)
			ri->ri_rootdn_exempt = 1;
		else
			return bad(c, "resetguard-rootdn: \"%s\" is neither governed nor exempt",
				c->argv[1]);
		return 0;
	case RG_CF_CLOCK_SKEW:
		return parse_seconds(c, 0, 3600, &ri->ri_clock_skew);
	case RG_CF_SEAL_CERT: {
		X509 *cert = rg_seal_load_cert(c->argv[1], err, sizeof(err));

		if (cert == NULL)
			return bad(c, "resetguard-seal-cert: %s", err);
		X509_free(ri->ri_seal_cert);
		ri->ri_seal_cert = cert;
		ch_free(ri->ri_seal_cert_file);
		ri->ri_seal_cert_file = ch_strdup(c->argv[1]);
		return 0;
	}
	case RG_CF_RECOVERY_ATTR:
		if (rg_recovery_attr_add(ri, c->argv[1], err, sizeof(err)) != 0)
			return bad(c, "resetguard-recovery-attr: %s", err);
		return 0;
	case RG_CF_LOG:
		ch_free(ri->ri_log_base.bv_val);
		ch_free(ri->ri_log_nbase.bv_val);
		ri->ri_log_base = c->value_dn;
		ri->ri_log_nbase = c->value_ndn;
		ri->ri_log_head_known = 0;
		return 0;
	case RG_CF_LOG_PURGE: {
		int age, every;

		if (parse_duration(c->argv[1], &age) != 0)
			return bad(c, "resetguard-log-purge: age \"%s\" is not [dd+]hh:mm[:ss]",
				c->argv[1]);
		if (parse_duration(c->argv[2], &every) != 0)
			return bad(c, "resetguard-log-purge: interval \"%s\" is not "
				"[dd+]hh:mm[:ss]", c->argv[2]);
		ri->ri_log_purge_age = age;
		ri->ri_log_purge_interval = every;
		if (ri->ri_log_purge_task != NULL) {
			ldap_pvt_thread_mutex_lock(&slapd_rq.rq_mutex);
			ri->ri_log_purge_task->interval.tv_sec = every;
			ldap_pvt_thread_mutex_unlock(&slapd_rq.rq_mutex);
		} else if (c->be != NULL && (slapMode & SLAP_SERVER_MODE) &&
		    (SLAP_DBFLAGS(c->be) & SLAP_DBFLAG_OPEN)) {
			rg_log_purge_start(c->be, ri);
		}
		return 0;
	}
	}
	return 1;
}

int
rg_config_init(slap_overinst *on)
{
	on->on_bi.bi_cf_ocs = rg_cfocs;
	return config_register_schema(rg_cfats, rg_cfocs);
}
