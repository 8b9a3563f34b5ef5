/* The engine's side of the log records in the directory: their status written back under
 * this instance's claim, and the questions asked before a password goes anywhere (is there
 * a newer change for the account; is the account alone with its RDN value; does another
 * instance still hold an older change of it). The requests are built in the event
 * loop and run in the directory thread (directory.h). */
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "engine-private.h"
#include "directory.h"
#include "errbuf.h"
#include "resetlog.h"

/* The same entry, whatever the spelling of the DN. */
static int
dn_equal(const char *a, const char *b)
{
	char *na = NULL, *nb = NULL;
	int eq;

	if (a == NULL || b == NULL)
		return 0;
	eq = ldap_dn_normalize(a, LDAP_DN_FORMAT_LDAPV3, &na, LDAP_DN_FORMAT_LDAPV3) ==
		LDAP_SUCCESS && ldap_dn_normalize(b, LDAP_DN_FORMAT_LDAPV3, &nb,
		LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && strcasecmp(na, nb) == 0;
	ldap_memfree(na);
	ldap_memfree(nb);
	return eq;
}

static int
broken(LDAP **ld, int rc)
{
	if (!directory_broken(rc))
		return 0;
	/* the next request (or the follower's next attempt) connects again */
	ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
	return 1;
}

/* Directory thread: the write of a record's status as it was when asked. */
static void
write_run(struct directory *d, LDAP **ld, struct dir_req *r)
{
	struct rec_req *q = (struct rec_req *)r;
	LDAPMod mt = { 0 }, mh = { 0 }, ms = { 0 }, mc = { 0 }, *mods[5];
	LDAPControl *ctrl = NULL, *ctrls[2] = { NULL, NULL };
	int n = 0;

	(void)d;
	if (q->tvals != NULL) {
		mt.mod_op = LDAP_MOD_REPLACE;
		mt.mod_type = "rgLogTargetStatus";
		mt.mod_values = q->tvals;
		mods[n++] = &mt;
	}
	if (q->hvals != NULL) {
		mh.mod_op = LDAP_MOD_REPLACE;
		mh.mod_type = "rgLogHookStatus";
		mh.mod_values = q->hvals;
		mods[n++] = &mh;
	}
	if (q->del_sealed) {
		ms.mod_op = LDAP_MOD_DELETE;
		ms.mod_type = "rgLogSealedPassword";
		mods[n++] = &ms;
	}
	if (q->release && q->rc->claim[0] != '\0') {
		mc.mod_op = LDAP_MOD_DELETE;
		mc.mod_type = CLAIM_ATTR;
		mods[n++] = &mc;
	}
	mods[n] = NULL;
	if (n == 0) {
		q->ldap_rc = LDAP_SUCCESS;
		return;
	}
	if (*ld == NULL) {
		q->ldap_rc = LDAP_SERVER_DOWN;
		return;
	}
	/* Written only while the claim is this instance's: the record's claim is changed by
	 * this thread alone, so it is the one the directory holds unless another instance
	 * took it over. */
	if (q->rc->claim[0] != '\0' &&
	    (q->ldap_rc = claimdir_assertion(*ld, q->rc->claim, &ctrl)) != LDAP_SUCCESS)
		return;
	ctrls[0] = ctrl;
	q->ldap_rc = ldap_modify_ext_s(*ld, q->dn, mods, ctrls, NULL);
	ldap_control_free(ctrl);
	/* a record that retention removed meanwhile has nothing left to write to */
	if (q->ldap_rc == LDAP_NO_SUCH_ATTRIBUTE || q->ldap_rc == LDAP_NO_SUCH_OBJECT)
		q->ldap_rc = LDAP_SUCCESS;
	q->lost = broken(ld, q->ldap_rc);
}

/* Directory thread: may the record's password go anywhere? */
static void
check_run(struct directory *d, LDAP **ld, struct dir_req *r)
{
	struct rec_req *q = (struct rec_req *)r;
	const struct syncd_config *cfg = directory_config(d);

	q->newer = records_newer_change_exists(*ld, cfg, q->account, q->number, q->time, q->why,
		sizeof(q->why));
	q->unique = 1;
	if (q->newer == 0 && q->need_rdn)
		q->unique = records_rdn_unique(*ld, cfg, q->account, q->why, sizeof(q->why));
	if (q->newer == 0 && q->unique > 0 && !cfg->single_instance)
		q->blocked = claimdir_older_live(*ld, cfg, q->account, q->number, q->own,
			q->nown, q->why, sizeof(q->why));
	/* could not tell: was it the connection? */
	if (*ld != NULL && (q->newer < 0 || q->unique < 0 || q->blocked < 0) &&
	    ldap_get_option(*ld, LDAP_OPT_RESULT_CODE, &q->ldap_rc) == LDAP_OPT_SUCCESS)
		q->lost = broken(ld, q->ldap_rc);
}

void
records_req_free(struct rec_req *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; q->tvals != NULL && q->tvals[i] != NULL; i++)
		free(q->tvals[i]);
	for (size_t i = 0; q->hvals != NULL && q->hvals[i] != NULL; i++)
		free(q->hvals[i]);
	free(q->tvals);
	free(q->hvals);
	free(q->dn);
	free(q->account);
	free(q->time);
	free(q->own);
	free(q);
}

static char **
status_values(struct tstate *v, struct target **t, struct hook **h, size_t n)
{
	char **out = calloc(n + 1, sizeof(char *));

	for (size_t i = 0; out != NULL && i < n; i++) {
		out[i] = status_format(t != NULL ? t[i]->name : h[i]->name, v[i].st, v[i].attempts,
			v[i].time, v[i].error);
		if (out[i] == NULL) {
			while (i > 0)
				free(out[--i]);
			free(out);
			return NULL;
		}
	}
	return out;
}

struct rec_req *
records_write_req(struct engine *e, struct rec *rc, void (*done)(struct dir_req *, int))
{
	size_t nt = e->cfg->ntargets, nh = e->cfg->nhooks;
	struct rec_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->dn = strdup(rc->r.dn)) == NULL)
		goto fail;
	q->req.run = write_run;
	q->req.done = done;
	q->e = e;
	q->rc = rc;
	q->write = 1;
	q->gen = rc->gen;
	if (nt > 0 && (q->tvals = status_values(rc->ts, e->cfg->targets, NULL, nt)) == NULL)
		goto fail;
	if (rc->phase != PH_DELIVER && nh > 0 &&
	    (q->hvals = status_values(rc->hs, NULL, e->cfg->hooks, nh)) == NULL)
		goto fail;
	/* Every target is final: the sealed password has no further use. */
	q->del_sealed = rc->phase != PH_DELIVER && !rc->sealed_removed;
	/* done, or the daemon stops: the claim goes with the status */
	q->release = rc->phase == PH_DONE || e->draining;
	return q;
fail:
	records_req_free(q);
	return NULL;
}

struct rec_req *
records_check_req(struct engine *e, struct rec *rc, int need_rdn,
	void (*done)(struct dir_req *, int))
{
	struct rec_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->account = strdup(rc->r.account)) == NULL ||
	    (rc->r.time != NULL && (q->time = strdup(rc->r.time)) == NULL)) {
		records_req_free(q);
		return NULL;
	}
	q->req.run = check_run;
	q->req.done = done;
	q->req.urgent = 1; /* a delivery waits for it, not for the status writes queued */
	q->e = e;
	q->rc = rc;
	q->number = rc->r.number;
	q->need_rdn = need_rdn;
	/* This process's own older records of the account keep their order here (one worker
	 * per target, in arrival order): their claims hold nothing up. */
	for (struct rec *o = e->recs; o != NULL; o = o->next) {
		unsigned long long *grown;

		if (o->lost || o->r.number >= rc->r.number ||
		    strcasecmp(o->r.account, rc->r.account) != 0)
			continue;
		if ((grown = realloc(q->own, (q->nown + 1) * sizeof(*grown))) == NULL) {
			records_req_free(q);
			return NULL;
		}
		q->own = grown;
		q->own[q->nown++] = o->r.number;
	}
	return q;
}

/* Which of two changes of one account the directory keeps: within one provider's chain the
 * later one, by number; across the chains of several providers the later by time, since
 * replication keeps the change with the later CSN, taken from the same clock as the
 * record's time (a tie, within a microsecond, goes to the higher number). */
int
records_is_newer(unsigned long long na, const char *ta, unsigned long long nb, const char *tb)
{
	int c;

	if (rg_log_chain(na) == rg_log_chain(nb) || ta == NULL || tb == NULL)
		return nb > na;
	c = strcmp(tb, ta);
	return c != 0 ? c > 0 : nb > na;
}

/* The filter of the records newer than (number, time) in the sense of records_is_newer:
 * higher numbers of the same chain, later times (or the same time and a higher number)
 * in the others. NULL when out of memory. */
static char *
newer_filter(const char *esc_account, unsigned long long number, const char *time)
{
	unsigned chain = rg_log_chain(number);
	unsigned long long lo = rg_log_chain_base(chain) + 1,
		hi = rg_log_chain_base(chain) + ((1ULL << RG_LOG_CHAIN_SHIFT) - 1);
	struct berval tv, esc = { 0, NULL };
	char *f = NULL;
	int rc;

	if (time == NULL)
		rc = asprintf(&f, "(&(objectClass=rgLogRecord)(rgLogTarget=%s)"
			"(rgLogOutcome=applied)(rgLogChangeNumber>=%llu))", esc_account, number + 1);
	else if (ber_str2bv(time, 0, 0, &tv) == NULL || ldap_bv2escaped_filter_value(&tv,
	    &esc) != 0)
		return NULL;
	else
		rc = asprintf(&f, "(&(objectClass=rgLogRecord)(rgLogTarget=%s)"
			"(rgLogOutcome=applied)(|(&(rgLogChangeNumber>=%llu)"
			"(rgLogChangeNumber<=%llu))(&(!(&(rgLogChangeNumber>=%llu)"
			"(rgLogChangeNumber<=%llu)))(|(&(rgLogTime>=%s)(!(rgLogTime=%s)))"
			"(&(rgLogTime=%s)(rgLogChangeNumber>=%llu))))))", esc_account, number + 1,
			hi, lo, hi, esc.bv_val, esc.bv_val, esc.bv_val, number + 1);
	ber_memfree(esc.bv_val);
	return rc < 0 ? NULL : f;
}

/* Is there an applied change for the same account newer than this one? Then this one must
 * never reach a store, even if syncd crashed after delivering the newer one. Not knowing is
 * not "no": an error is -1, and the caller delivers nothing until it knows. */
int
records_newer_change_exists(LDAP *ld, const struct syncd_config *cfg, const char *account,
	unsigned long long number, const char *time, char *err, size_t errlen)
{
	char *filter = NULL, *attrs[] = { LDAP_NO_ATTRS, NULL };
	struct berval acct, esc = { 0, NULL };
	struct timeval tv = { cfg->op_timeout, 0 };
	LDAPMessage *res = NULL;
	int found = -1, rc;

	if (ld == NULL) {
		rg_seterr(err, errlen, "cannot tell whether a newer change exists: not connected "
			"to %s", cfg->log_uri);
		return -1;
	}
	ber_str2bv(account, 0, 0, &acct);
	if (ldap_bv2escaped_filter_value(&acct, &esc) != 0 ||
	    (filter = newer_filter(esc.bv_val, number, time)) == NULL) {
		rg_seterr(err, errlen, "cannot tell whether a newer change exists: out of memory");
		goto out;
	}
	/* A size limit of 1: an answer cut short by it still says "there is one". */
	rc = ldap_search_ext_s(ld, cfg->log_base, LDAP_SCOPE_ONELEVEL, filter, attrs, 1,
		NULL, NULL, &tv, 1, &res);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED)
		found = ldap_count_entries(ld, res) > 0;
	else
		rg_seterr(err, errlen, "cannot tell whether a newer change exists: search under "
			"%s: %s", cfg->log_base, ldap_err2string(rc));
out:
	ldap_msgfree(res);
	ber_memfree(esc.bv_val);
	free(filter);
	return found;
}

static char **
values(LDAP *ld, LDAPMessage *entry, const char *attr)
{
	struct berval **v = ldap_get_values_len(ld, entry, attr);
	char **out;
	int n = ldap_count_values_len(v);

	if (v == NULL)
		return NULL;
	if ((out = calloc(n + 1, sizeof(char *))) != NULL)
		for (int i = 0; i < n; i++)
			out[i] = strndup(v[i]->bv_val, v[i]->bv_len);
	ldap_value_free_len(v);
	return out;
}

static char *
first_value(LDAP *ld, LDAPMessage *entry, const char *attr)
{
	char **v = values(ld, entry, attr), *out = NULL;

	if (v != NULL && v[0] != NULL) {
		out = v[0];
		v[0] = NULL;
	}
	for (size_t i = 1; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
	return out;
}

int
records_from_entry(LDAP *ld, LDAPMessage *entry, struct log_record *r)
{
	struct berval **sealed = ldap_get_values_len(ld, entry, "rgLogSealedPassword");
	char *dn = ldap_get_dn(ld, entry), *num = first_value(ld, entry, "rgLogChangeNumber");
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (dn == NULL || num == NULL || sealed == NULL || sealed[0] == NULL)
		goto out;
	r->number = strtoull(num, NULL, 10);
	r->dn = strdup(dn);
	r->account = first_value(ld, entry, "rgLogTarget");
	r->kind = first_value(ld, entry, "rgLogKind");
	r->requester = first_value(ld, entry, "rgLogRequester");
	r->time = first_value(ld, entry, "rgLogTime");
	r->target_status = values(ld, entry, "rgLogTargetStatus");
	r->hook_status = values(ld, entry, "rgLogHookStatus");
	if ((r->sealed = malloc(sealed[0]->bv_len)) != NULL) {
		memcpy(r->sealed, sealed[0]->bv_val, sealed[0]->bv_len);
		r->sealed_len = sealed[0]->bv_len;
	}
	rc = r->dn != NULL && r->account != NULL && r->sealed != NULL ? 0 : -1;
out:
	if (rc != 0)
		records_free(r);
	ldap_value_free_len(sealed);
	ldap_memfree(dn);
	free(num);
	return rc;
}

int
records_copy(struct log_record *dst, const struct log_record *src)
{
	size_t n;

	memset(dst, 0, sizeof(*dst));
	dst->number = src->number;
	if ((dst->dn = strdup(src->dn)) == NULL || (dst->account = strdup(src->account)) == NULL)
		return -1;
	dst->kind = src->kind ? strdup(src->kind) : NULL;
	dst->requester = src->requester ? strdup(src->requester) : NULL;
	dst->time = src->time ? strdup(src->time) : NULL;
	if ((dst->sealed = malloc(src->sealed_len)) == NULL)
		return -1;
	memcpy(dst->sealed, src->sealed, src->sealed_len);
	dst->sealed_len = src->sealed_len;
	for (n = 0; src->target_status != NULL && src->target_status[n] != NULL; n++)
		;
	if (n > 0 && (dst->target_status = calloc(n + 1, sizeof(char *))) != NULL)
		for (size_t i = 0; i < n; i++)
			dst->target_status[i] = strdup(src->target_status[i]);
	for (n = 0; src->hook_status != NULL && src->hook_status[n] != NULL; n++)
		;
	if (n > 0 && (dst->hook_status = calloc(n + 1, sizeof(char *))) != NULL)
		for (size_t i = 0; i < n; i++)
			dst->hook_status[i] = strdup(src->hook_status[i]);
	return 0;
}

/* Entries of the main directory whose first RDN has this account's first RDN value: %r
 * names the account in a legacy store only when the account is the one entry with it, or
 * an entry made elsewhere in the tree with the same uid would set the real user's legacy
 * password. Searched in every naming context the root DSE lists. 1 when the account is
 * alone with its value, 0 when not (err says why), -1 when the directory cannot tell. */
int
records_rdn_unique(LDAP *ld, const struct syncd_config *cfg, const char *account, char *err,
	size_t errlen)
{
	char *rootattrs[] = { "namingContexts", NULL }, *attrs[] = { LDAP_NO_ATTRS, NULL };
	char *filter = NULL, *found_dn = NULL, *dn;
	struct berval **ctx = NULL, esc = { 0, NULL };
	struct timeval tv = { cfg->op_timeout, 0 };
	LDAPMessage *root = NULL, *res = NULL, *m;
	LDAPDN parsed = NULL;
	int n = 0, rc, ret = -1;

	if (ld == NULL) {
		rg_seterr(err, errlen, "cannot check that %s is the only entry with its RDN value: "
			"not connected to %s", account, cfg->log_uri);
		return -1;
	}
	if (ldap_str2dn(account, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    parsed == NULL || parsed[0] == NULL || parsed[0][0] == NULL) {
		rg_seterr(err, errlen, "the account %s is not a DN", account);
		ret = 0;
		goto out;
	}
	if (ldap_bv2escaped_filter_value(&parsed[0][0]->la_value, &esc) != 0 ||
	    asprintf(&filter, "(%.*s=%s)", (int)parsed[0][0]->la_attr.bv_len,
	    parsed[0][0]->la_attr.bv_val, esc.bv_val) < 0) {
		filter = NULL;
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	rc = ldap_search_ext_s(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", rootattrs, 0, NULL,
		NULL, &tv, 0, &root);
	if (rc != LDAP_SUCCESS || (m = ldap_first_entry(ld, root)) == NULL ||
	    (ctx = ldap_get_values_len(ld, m, "namingContexts")) == NULL) {
		rg_seterr(err, errlen, "cannot read the naming contexts of %s: %s",
			cfg->log_uri, ldap_err2string(rc != LDAP_SUCCESS ? rc : LDAP_NO_SUCH_OBJECT));
		goto out;
	}
	for (size_t i = 0; ctx[i] != NULL && n < 2; i++) {
		char *base = strndup(ctx[i]->bv_val, ctx[i]->bv_len);

		ldap_msgfree(res);
		res = NULL;
		rc = base == NULL ? LDAP_NO_MEMORY : ldap_search_ext_s(ld, base,
			LDAP_SCOPE_SUBTREE, filter, attrs, 1, NULL, NULL, &tv, 2, &res);
		free(base);
		if (rc == LDAP_NO_SUCH_OBJECT)
			continue;
		if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
			rg_seterr(err, errlen, "cannot check that %s is the only entry with %s: %s",
				account, filter, ldap_err2string(rc));
			goto out;
		}
		if (rc == LDAP_SIZELIMIT_EXCEEDED)
			n = 2;
		for (m = ldap_first_entry(ld, res); m != NULL && n < 2;
		    m = ldap_next_entry(ld, m), n++) {
			if ((dn = ldap_get_dn(ld, m)) != NULL && found_dn == NULL)
				found_dn = strdup(dn);
			ldap_memfree(dn);
		}
	}
	ret = 0;
	if (n > 1)
		rg_seterr(err, errlen, "another entry than %s has %s in the main directory: a "
			"mapping by %%r would be a guess; map by %%d, or make the value unique",
			account, filter);
	else if (n == 0 || !dn_equal(found_dn, account))
		rg_seterr(err, errlen, "%s is not the entry the main directory holds with %s: "
			"a mapping by %%r would be a guess", account, filter);
	else
		ret = 1;
out:
	ber_bvecfree(ctx);
	ldap_msgfree(root);
	ldap_msgfree(res);
	ber_memfree(esc.bv_val);
	ldap_dnfree(parsed);
	free(filter);
	free(found_dn);
	return ret;
}

/* The value of the account DN's first RDN, unescaped: what mappings call %r. */
char *
records_first_rdn_value(const char *dn)
{
	LDAPDN parsed = NULL;
	char *out = NULL;

	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || parsed == NULL ||
	    parsed[0] == NULL || parsed[0][0] == NULL)
		goto out;
	out = strndup(parsed[0][0]->la_value.bv_val, parsed[0][0]->la_value.bv_len);
out:
	ldap_dnfree(parsed);
	return out;
}

void
records_free(struct log_record *r)
{
	free(r->dn);
	free(r->account);
	free(r->kind);
	free(r->requester);
	free(r->time);
	free(r->sealed);
	for (size_t i = 0; r->target_status != NULL && r->target_status[i] != NULL; i++)
		free(r->target_status[i]);
	free(r->target_status);
	for (size_t i = 0; r->hook_status != NULL && r->hook_status[i] != NULL; i++)
		free(r->hook_status[i]);
	free(r->hook_status);
	memset(r, 0, sizeof(*r));
}

void
records_now_gentime(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y%m%d%H%M%SZ", &tm);
}
