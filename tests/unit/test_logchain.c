/* Unit tests of slapd/logchain.c: what a provider does with a record of another provider's
 * chain that arrives by replication, above all when it cannot tell whether it used the same
 * token itself.
 *
 * That search cannot be made to fail in a running slapd: it is the log database's rootdn's
 * (no ACL, no limit), on a base that exists whenever a record can arrive under it, with a
 * filter built from escaped values. So logchain.c is linked here as slapd loads it, with
 * stand-ins for the slapd functions it calls: a backend whose search answers as each case
 * needs (an error, a record, nothing), and an rg_log_append that keeps the finding instead
 * of writing it. tests/integration/multiprov.sh covers the finding of a real double use
 * between two real providers. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "resetguard.h"

/* slap.h routes free to ch_free: the stand-in below is that, and uses the C library's. */
#undef free

/* ---- stand-ins for slapd and the rest of the overlay ---- */

int slap_debug, ldap_syslog, ldap_syslog_level;
struct rg_ads rg_ad;

void
lutil_debug(int debug, int level, const char *fmt, ...)
{
}

void *
ch_calloc(ber_len_t n, ber_len_t size)
{
	return calloc(n, size);
}

void
ch_free(void *p)
{
	free(p);
}

static BackendInfo fake_bi;
static BackendDB fake_be;

BackendDB *
select_backend(struct berval *dn, int noSubordinates)
{
	return &fake_be;
}

Attribute *
attr_find(Attribute *a, AttributeDescription *desc)
{
	for (; a != NULL; a = a->a_next)
		if (a->a_desc == desc)
			return a;
	return NULL;
}

int
is_entry_objectclass(Entry *e, ObjectClass *oc, unsigned flags)
{
	return oc == rg_ad.oc_log_record;
}

/* The replicated record is not here yet. */
int
be_entry_get_rw(Operation *op, struct berval *ndn, ObjectClass *oc, AttributeDescription *at,
	int rw, Entry **e)
{
	*e = NULL;
	return LDAP_NO_SUCH_OBJECT;
}

int
be_entry_release_rw(Operation *op, Entry *e, int rw)
{
	return 0;
}

static int filter_fails;
static Filter a_filter;

Filter *
str2filter_x(Operation *op, const char *str)
{
	return filter_fails ? NULL : &a_filter;
}

void
filter_free_x(Operation *op, Filter *f, int freeme)
{
}

void
rg_internal_op_init(Operation *op2, Operation *op, BackendDB *be, void **cids)
{
	memset(op2, 0, sizeof(*op2));
	op2->o_hdr = op->o_hdr;
	op2->o_bd = be;
}

unsigned
rg_log_own_chain(void)
{
	return 1;
}

void
rg_log_chain_filter(unsigned chain, char *buf, size_t len)
{
	snprintf(buf, len, "(rgLogChangeNumber>=%llu)", rg_log_chain_base(chain) + 1);
}

void
rg_log_lock(rg_info *ri)
{
}

void
rg_log_unlock(rg_info *ri)
{
}

void
rg_log_settle(Operation *op, rg_info *ri)
{
}

/* No record of this server is being written while a test runs. */
unsigned long long
rg_log_inflight_token(rg_info *ri, const char *iss, const char *jti)
{
	return 0;
}

/* The findings rg_log_append was given. */
static struct finding {
	char rule[64], rule_text[512], outcome_text[256];
	int review_required, alert;
} found[4];
static int nfound;

int
rg_log_append(Operation *op, rg_info *ri, struct rg_log_record *r,
	const struct rg_log_state *st, struct berval *ndn, char *err, size_t errlen)
{
	struct finding *f = &found[nfound++];

	snprintf(f->rule, sizeof(f->rule), "%s", r->rule);
	snprintf(f->rule_text, sizeof(f->rule_text), "%s", r->rule_text ? r->rule_text : "");
	snprintf(f->outcome_text, sizeof(f->outcome_text), "%s",
		st->outcome_text ? st->outcome_text : "");
	f->review_required = r->review_required;
	f->alert = r->alert;
	BER_BVZERO(ndn);
	return 0;
}

/* ---- the backend's search, as each case needs ---- */

enum { SEARCH_FAILS, SEARCH_FINDS, SEARCH_FINDS_NOTHING } search_does;
static int searches;

static AttributeDescription ad_number, ad_decision, ad_issuer, ad_jti, ad_target;
static ObjectClass oc_record;

static Attribute *
attr_new(AttributeDescription *ad, const char *v, Attribute *next)
{
	Attribute *a = calloc(1, sizeof(*a));

	a->a_desc = ad;
	a->a_vals = calloc(2, sizeof(struct berval));
	ber_str2bv(v, 0, 1, &a->a_vals[0]);
	a->a_nvals = a->a_vals;
	a->a_numvals = 1;
	a->a_next = next;
	return a;
}

static void
attrs_drop(Attribute *a)
{
	while (a != NULL) {
		Attribute *next = a->a_next;

		free(a->a_vals[0].bv_val);
		free(a->a_vals);
		free(a);
		a = next;
	}
}

static int
fake_search(Operation *op, SlapReply *rs)
{
	searches++;
	if (search_does == SEARCH_FINDS) {
		Entry own = { 0 };
		SlapReply rse = { REP_SEARCH };

		own.e_attrs = attr_new(&ad_number, "281474976710663", NULL);
		rse.sr_entry = &own;
		op->o_callback->sc_response(op, &rse);
		attrs_drop(own.e_attrs);
	}
	rs->sr_type = REP_RESULT;
	rs->sr_err = search_does == SEARCH_FAILS ? LDAP_OTHER : LDAP_SUCCESS;
	rs->sr_text = search_does == SEARCH_FAILS ? "internal error" : NULL;
	return rs->sr_err;
}

/* ---- the cases ---- */

static void
tmpfree(void *p, void *ctx)
{
	ber_memfree_x(p, ctx);
}

static BerMemoryFunctions tmpfuncs;
static rg_info ri;
static Opheader hdr;
static Operation op;
static Entry *record;

static void
setup(void)
{
	ad_number.ad_cname = (struct berval)BER_BVC("rgLogChangeNumber");
	rg_ad.log_number = &ad_number;
	rg_ad.log_decision = &ad_decision;
	rg_ad.log_issuer = &ad_issuer;
	rg_ad.log_jti = &ad_jti;
	rg_ad.log_target = &ad_target;
	rg_ad.oc_log_record = &oc_record;
	fake_bi.bi_op_search = fake_search;
	fake_be.bd_info = &fake_bi;
	ber_str2bv("cn=resetlog", 0, 0, &ri.ri_log_nbase);
	ck_assert_int_eq(rg_log_chain_init(), 0);
	rg_log_chain_register(&ri);
	hdr.oh_log_prefix[0] = '\0';
	op.o_hdr = &hdr;
	tmpfuncs.bmf_free = tmpfree;
	op.o_tmpmfuncs = &tmpfuncs;
	/* record 1 of serverID 2's chain, allowed, with a token */
	record = calloc(1, sizeof(*record));
	ber_str2bv("rgLogChangeNumber=562949953421313,cn=resetlog", 0, 0, &record->e_nname);
	record->e_attrs = attr_new(&ad_number, "562949953421313",
		attr_new(&ad_decision, "allowed", attr_new(&ad_issuer, "https://proofing.example.com",
		attr_new(&ad_jti, "j-(1)*", attr_new(&ad_target,
		"uid=alice,ou=people,dc=example,dc=com", NULL)))));
	nfound = 0;
	searches = 0;
	filter_fails = 0;
}

static void
teardown(void)
{
	rg_log_chain_unregister(&ri);
	attrs_drop(record->e_attrs);
	free(record);
}

START_TEST(search_error_is_flagged)
{
	search_does = SEARCH_FAILS;
	rg_log_replicated(&op, record);
	ck_assert_int_eq(searches, 1);
	ck_assert_int_eq(nfound, 1);
	ck_assert_str_eq(found[0].rule, "token-use-unchecked");
	ck_assert_int_eq(found[0].review_required, 1);
	ck_assert_int_eq(found[0].alert, 1);
	ck_assert_str_eq(found[0].outcome_text,
		"the search of cn=resetlog failed (LDAP error 80: internal error)");
	ck_assert_ptr_nonnull(strstr(found[0].rule_text, "record 562949953421313 of serverID 2 "
		"used the token; whether serverID 1 used it too within the replication lag could "
		"not be checked: the search of cn=resetlog failed"));
}
END_TEST

START_TEST(filter_error_is_flagged)
{
	filter_fails = 1;
	search_does = SEARCH_FINDS_NOTHING;
	rg_log_replicated(&op, record);
	ck_assert_int_eq(searches, 0);
	ck_assert_int_eq(nfound, 1);
	ck_assert_str_eq(found[0].rule, "token-use-unchecked");
	ck_assert_ptr_nonnull(strstr(found[0].outcome_text, "could not parse the search filter"));
	/* the jti went into the filter escaped */
	ck_assert_ptr_nonnull(strstr(found[0].outcome_text, "(rgLogJti=j-\\281\\29\\2A)"));
}
END_TEST

START_TEST(own_use_is_flagged)
{
	search_does = SEARCH_FINDS;
	rg_log_replicated(&op, record);
	ck_assert_int_eq(nfound, 1);
	ck_assert_str_eq(found[0].rule, "token-used-on-two-providers");
	ck_assert_str_eq(found[0].outcome_text, "");
	ck_assert_ptr_nonnull(strstr(found[0].rule_text, "by record 281474976710663 of serverID 1 "
		"and by record 562949953421313 of serverID 2"));
}
END_TEST

START_TEST(no_own_use_no_finding)
{
	search_does = SEARCH_FINDS_NOTHING;
	rg_log_replicated(&op, record);
	ck_assert_int_eq(searches, 1);
	ck_assert_int_eq(nfound, 0);
}
END_TEST

START_TEST(own_chain_not_searched)
{
	Attribute *a = attr_find(record->e_attrs, &ad_number);

	search_does = SEARCH_FAILS;
	free(a->a_vals[0].bv_val);
	ber_str2bv("281474976710664", 0, 1, &a->a_vals[0]);
	rg_log_replicated(&op, record);
	ck_assert_int_eq(searches, 0);
	ck_assert_int_eq(nfound, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("logchain");
	TCase *tc = tcase_create("replicated records");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, search_error_is_flagged);
	tcase_add_test(tc, filter_error_is_flagged);
	tcase_add_test(tc, own_use_is_flagged);
	tcase_add_test(tc, no_own_use_no_finding);
	tcase_add_test(tc, own_chain_not_searched);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
