/* The overlay's counters, and their entries under cn=Monitor when back-monitor is
 * configured.
 *
 * Every counter is a monitorCounter of a monitorCounterObject entry, the classes slapd's own
 * counters use, so that the tools that already read cn=Monitor (OpenLDAP exporters, cn=Monitor
 * dashboards) read these with no schema of their own. One subtree per database:
 *
 *   cn=Database N,cn=Resetguard,cn=Monitor   N as in cn=Database N,cn=Databases,cn=Monitor
 *     cn=Judged, cn=Allowed, cn=Denied       every change judged; cn=KIND below the last two
 *     cn=Rules                               cn=RULE below: changes decided by that rule
 *     cn=Alerts                              cn=volume, cn=target-denials, cn=requester-denials
 *     cn=Log Writes, cn=Log Write Microseconds   records appended; the time their writes took
 *     cn=Log Commits                         transactions that wrote the log (groupcommit.c)
 *
 * The counters are updated with atomic additions by the threads that judge; back-monitor
 * reads them through each entry's update callback when the entry is searched. Without
 * back-monitor they are kept all the same and nothing is registered. */
#include "resetguard.h"

#include <stdatomic.h>

#include "back-monitor/back-monitor.h"

typedef atomic_ullong rg_counter;

struct rg_monitor {
	rg_counter judged, allowed, denied;
	rg_counter kind_allowed[RG_KIND_COUNT], kind_denied[RG_KIND_COUNT];
	rg_counter rule[RG_RULE_COUNT];
	rg_counter alerts, alert[RG_ALERT_COUNT];
	rg_counter log_writes, log_write_usec;
	BerVarray registered;               /* DNs to unregister, parents first */
	int holds_top;                      /* counted in rg_monitor_users */
};

/* Every instance hangs under this entry, created by the first and removed by the last. */
static int rg_monitor_users;
static struct berval rg_monitor_top = BER_BVC("cn=Resetguard,cn=Monitor");
static struct berval rg_monitor_ntop = BER_BVC("cn=resetguard,cn=monitor");

static const char *const alert_names[RG_ALERT_COUNT] = {
	"volume", "target-denials", "requester-denials",
};

const char *
rg_alert_name(enum rg_alert a)
{
	return a < RG_ALERT_COUNT ? alert_names[a] : "unknown";
}

void
rg_monitor_init(rg_info *ri)
{
	ri->ri_monitor = ch_calloc(1, sizeof(*ri->ri_monitor));
}

void
rg_monitor_free(rg_info *ri)
{
	if (ri->ri_monitor == NULL)
		return;
	ber_bvarray_free(ri->ri_monitor->registered);
	ch_free(ri->ri_monitor);
	ri->ri_monitor = NULL;
}

static void
bump(rg_counter *c, unsigned long long by)
{
	atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

void
rg_monitor_judged(rg_info *ri, enum rg_kind kind, enum rg_rule rule, int allowed)
{
	struct rg_monitor *m = ri->ri_monitor;

	bump(&m->judged, 1);
	bump(allowed ? &m->allowed : &m->denied, 1);
	if (kind < RG_KIND_COUNT)
		bump(allowed ? &m->kind_allowed[kind] : &m->kind_denied[kind], 1);
	if (rule < RG_RULE_COUNT)
		bump(&m->rule[rule], 1);
}

void
rg_monitor_log_write(rg_info *ri, long long usec)
{
	bump(&ri->ri_monitor->log_writes, 1);
	bump(&ri->ri_monitor->log_write_usec, usec > 0 ? (unsigned long long)usec : 0);
}

void
rg_monitor_alert(rg_info *ri, enum rg_alert a)
{
	bump(&ri->ri_monitor->alerts, 1);
	if (a < RG_ALERT_COUNT)
		bump(&ri->ri_monitor->alert[a], 1);
}

/* back-monitor's update callback: the entry's monitorCounter from its counter. */
static int
counter_update(Operation *op, SlapReply *rs, Entry *e, void *priv)
{
	AttributeDescription *ad = NULL;
	Attribute *a;
	const char *text;
	char buf[32];
	struct berval bv;

	if (slap_str2ad("monitorCounter", &ad, &text) != LDAP_SUCCESS ||
	    (a = attr_find(e->e_attrs, ad)) == NULL)
		return SLAP_CB_CONTINUE;
	bv.bv_val = buf;
	bv.bv_len = snprintf(buf, sizeof(buf), "%llu",
		atomic_load_explicit((rg_counter *)priv, memory_order_relaxed));
	ber_bvreplace(&a->a_vals[0], &bv);
	if (a->a_nvals != a->a_vals)
		ber_bvreplace(&a->a_nvals[0], &bv);
	return SLAP_CB_CONTINUE;
}

/* Registers name under the entry pdn/pndn: a counter when c is set, else a container with
 * info (may be NULL) as its monitoredInfo. The new entry's DN goes to dn/ndn. */
static int
add_entry(monitor_extra_t *mbe, rg_info *ri, struct berval *pdn, struct berval *pndn,
	const char *name, rg_counter *c, const char *info, struct berval *dn, struct berval *ndn)
{
	struct berval rdn, zero = BER_BVC("0"), now;
	char rdnbuf[128], timebuf[LDAP_LUTIL_GENTIME_BUFSIZE];
	time_t t = slap_get_time();
	ObjectClass *oc = oc_find(c != NULL ? "monitorCounterObject" : "monitorContainer");
	AttributeDescription *ad = NULL;
	monitor_callback_t *cb = NULL;
	const char *text;
	Entry *e;
	int rc = -1;

	rdn.bv_val = rdnbuf;
	rdn.bv_len = snprintf(rdnbuf, sizeof(rdnbuf), "cn=%s", name);
	now.bv_val = timebuf;
	now.bv_len = sizeof(timebuf);
	/* Dated now: before back-monitor opens, its own start time is not set yet. */
	slap_timestamp(&t, &now);
	if (oc == NULL || rdn.bv_len >= sizeof(rdnbuf) ||
	    (e = mbe->entry_stub(pdn, pndn, &rdn, oc, &now, &now)) == NULL)
		return -1;
	if (c != NULL) {
		if (slap_str2ad("monitorCounter", &ad, &text) != LDAP_SUCCESS ||
		    attr_merge_one(e, ad, &zero, NULL) != 0)
			goto out;
		cb = ch_calloc(1, sizeof(*cb));
		cb->mc_update = counter_update;
		cb->mc_private = c;
	} else if (info != NULL) {
		struct berval bv;

		ber_str2bv(info, 0, 0, &bv);
		if (slap_str2ad("monitoredInfo", &ad, &text) != LDAP_SUCCESS ||
		    attr_merge_normalize_one(e, ad, &bv, NULL) != 0)
			goto out;
	}
	if (mbe->register_entry(e, cb, NULL, 0) != 0)
		goto out;
	cb = NULL;                          /* back-monitor owns it now */
	if (dn != NULL) {
		ber_dupbv(dn, &e->e_name);
		ber_dupbv(ndn, &e->e_nname);
	}
	if (ri != NULL)
		ber_bvarray_add(&ri->ri_monitor->registered, ber_dupbv(NULL, &e->e_nname));
	rc = 0;
out:
	ch_free(cb);
	entry_free(e);
	return rc;
}

static int
add_counters(monitor_extra_t *mbe, rg_info *ri, struct berval *pdn, struct berval *pndn,
	const char *name, rg_counter *total, const char *const *names, rg_counter *each,
	int n)
{
	struct berval dn = BER_BVNULL, ndn = BER_BVNULL;
	int rc;

	rc = add_entry(mbe, ri, pdn, pndn, name, total, total == NULL ? "one counter per name below" : NULL, &dn, &ndn);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = add_entry(mbe, ri, &dn, &ndn, names[i], &each[i], NULL, NULL, NULL);
	ch_free(dn.bv_val);
	ch_free(ndn.bv_val);
	return rc;
}

/* The position of be among the databases, as back-monitor numbers them (an overlay is
 * handed a copy of its database: bd_self is the one in the list). */
static int
database_number(BackendDB *be)
{
	BackendDB *b;
	int i = 0;

	LDAP_STAILQ_FOREACH(b, &backendDB, be_next) {
		if (b == be->bd_self)
			return i;
		i++;
	}
	return -1;
}

static int
register_tree(monitor_extra_t *mbe, BackendDB *be, rg_info *ri)
{
	struct rg_monitor *m = ri->ri_monitor;
	struct berval root = BER_BVC("cn=Monitor"), nroot = BER_BVC("cn=monitor");
	struct berval dn = BER_BVNULL, ndn = BER_BVNULL;
	const char *kinds[RG_KIND_COUNT], *rules[RG_RULE_COUNT];
	char name[32];
	int rc = -1;

	for (int k = 0; k < RG_KIND_COUNT; k++)
		kinds[k] = rg_kind_name(k);
	for (int r = 0; r < RG_RULE_COUNT; r++)
		rules[r] = rg_rule_name(r);
	if (rg_monitor_users == 0 && add_entry(mbe, NULL, &root, &nroot, "Resetguard", NULL,
	    "password change governance (resetguard)", NULL, NULL) != 0)
		return -1;
	rg_monitor_users++;
	m->holds_top = 1;
	snprintf(name, sizeof(name), "Database %d", database_number(be));
	if (add_entry(mbe, ri, &rg_monitor_top, &rg_monitor_ntop, name, NULL,
	    be->be_suffix != NULL ? be->be_suffix[0].bv_val : NULL, &dn, &ndn) != 0)
		goto out;
	if (add_entry(mbe, ri, &dn, &ndn, "Judged", &m->judged, NULL, NULL, NULL) == 0 &&
	    add_counters(mbe, ri, &dn, &ndn, "Allowed", &m->allowed, kinds, m->kind_allowed,
		RG_KIND_COUNT) == 0 &&
	    add_counters(mbe, ri, &dn, &ndn, "Denied", &m->denied, kinds, m->kind_denied,
		RG_KIND_COUNT) == 0 &&
	    add_counters(mbe, ri, &dn, &ndn, "Rules", NULL, rules, m->rule, RG_RULE_COUNT) == 0 &&
	    add_counters(mbe, ri, &dn, &ndn, "Alerts", &m->alerts, alert_names, m->alert,
		RG_ALERT_COUNT) == 0 &&
	    add_entry(mbe, ri, &dn, &ndn, "Log Writes", &m->log_writes, NULL, NULL, NULL) == 0 &&
	    add_entry(mbe, ri, &dn, &ndn, "Log Write Microseconds", &m->log_write_usec, NULL,
		NULL, NULL) == 0 &&
	    add_entry(mbe, ri, &dn, &ndn, "Log Commits", &ri->ri_group.commits, NULL, NULL,
		NULL) == 0)
		rc = 0;
out:
	ch_free(dn.bv_val);
	ch_free(ndn.bv_val);
	return rc;
}

void
rg_monitor_open(BackendDB *be, rg_info *ri)
{
	BackendInfo *mi = backend_info("monitor");
	monitor_extra_t *mbe;

	if (mi == NULL || mi->bi_extra == NULL)
		return;
	mbe = mi->bi_extra;
	if (!mbe->is_configured() || ri->ri_monitor->holds_top)
		return;
	/* A failure costs the entries, never the database: the counters go on. */
	if (register_tree(mbe, be, ri) != 0) {
		Debug(LDAP_DEBUG_ANY, "resetguard: cannot publish the counters of %s under %s\n",
			be->be_suffix != NULL ? be->be_suffix[0].bv_val : "?",
			rg_monitor_top.bv_val);
		rg_monitor_close(ri);
	}
}

void
rg_monitor_close(rg_info *ri)
{
	BackendInfo *mi = backend_info("monitor");
	monitor_extra_t *mbe = mi != NULL ? mi->bi_extra : NULL;
	struct rg_monitor *m = ri->ri_monitor;
	int n = 0;

	if (m == NULL || mbe == NULL)
		return;
	for (; m->registered != NULL && !BER_BVISNULL(&m->registered[n]); n++)
		;
	/* Children before their parents. */
	while (n-- > 0)
		mbe->unregister_entry(&m->registered[n]);
	ber_bvarray_free(m->registered);
	m->registered = NULL;
	if (m->holds_top && --rg_monitor_users == 0)
		mbe->unregister_entry(&rg_monitor_ntop);
	m->holds_top = 0;
}
