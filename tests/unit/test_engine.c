/* Unit tests of resetguard-syncd's delivery engine against a directory that cannot answer
 * (through its directory thread): nothing is delivered while it cannot say whether a newer
 * change exists, and a record whose final status cannot be written is kept until it is. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "engine-private.h"

static int delivered;

static enum delivery_result
count_deliver(struct target *t, const struct delivery *d, char *err, size_t errlen)
{
	delivered++;
	return DELIVERY_DONE;
}

static void
no_disconnect(struct target *t)
{
}

static const struct target_ops counting_ops = {
	.kind = "counting",
	.deliver = count_deliver,
	.disconnect = no_disconnect,
};

static struct target tgt = { .name = "t", .ops = &counting_ops, .file = "t.conf", .line = 1 };
static struct target *tgts[] = { &tgt };
static struct syncd_config cfg;
static struct event_base *base;
static struct engine *e;
static int lost, connected;

static void
on_lost(void *arg)
{
	lost++;
}

/* The directory thread's connection: to a port nobody listens on, so that every operation
 * fails at once, as with a directory that went away. */
static void
connect_run(struct directory *d, LDAP **ld, struct dir_req *r)
{
	struct timeval tv = { 1, 0 };

	ck_assert_int_eq(ldap_initialize(ld, "ldap://127.0.0.1:1"), LDAP_SUCCESS);
	ldap_set_option(*ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
}

static void
connect_done(struct dir_req *r, int closing)
{
	connected = !closing;
}

static struct dir_req connect_req = { .run = connect_run, .done = connect_done };

/* Runs the loop until done() holds, 20 s at most: under valgrind on a loaded machine the
 * directory thread's answers take far longer than the 300 ms a fixed run gave them. */
static void
run_until(int (*done)(void))
{
	struct timeval tv = { 0, 50000 };

	for (int i = 0; i < 400 && !done(); i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int
is_connected(void)
{
	return connected;
}

static int
record_has_error(void)
{
	return e->recs != NULL && e->recs->ts[0].error != NULL;
}

static int
status_write_lost(void)
{
	return lost >= 1;
}

static int
claim_tried(void)
{
	return claim_known(e, 9);
}

static void
setup(void)
{
	char err[SYNCD_ERR];

	memset(&cfg, 0, sizeof(cfg));
	cfg.log_uri = "ldap://127.0.0.1:1";
	cfg.log_base = "cn=resetlog";
	cfg.max_attempts = 3;
	cfg.retry_base = 1;
	cfg.retry_max = 2;
	cfg.op_timeout = 1;
	cfg.instance = "test";
	cfg.claim_lease = 30;
	cfg.targets = tgts;
	cfg.ntargets = 1;
	delivered = lost = connected = 0;
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	ck_assert_ptr_nonnull(base = event_base_new());
	e = engine_new(base, &cfg, NULL, NULL, NULL, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	directory_submit(engine_directory(e), &connect_req);
	run_until(is_connected);
	ck_assert_int_eq(connected, 1);
	engine_set_connected(e, 1, on_lost, NULL);
}

static void
teardown(void)
{
	engine_free(e);
	event_base_free(base);
}

static struct log_record
record(unsigned long long number, char **target_status)
{
	static unsigned char sealed[] = "not really sealed";
	struct log_record r = {
		.number = number,
		.dn = "rgLogChangeNumber=7,cn=resetlog",
		.account = "uid=alice,ou=people,dc=example,dc=com",
		.time = "20260101000000.000000Z",
		.sealed = sealed,
		.sealed_len = sizeof(sealed),
		.target_status = target_status,
	};

	return r;
}

START_TEST(newer_check_fails_closed)
{
	struct log_record r = record(7, NULL);
	char err[SYNCD_ERR] = "";

	ck_assert_int_eq(records_newer_change_exists(NULL, &cfg, r.account, r.number, r.time, err,
		sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot tell whether a newer change exists"), "%s", err);

	/* claimed: what follows the claim is under test */
	engine_take(e, &r, "test 20991231000000Z", 4102358400);
	run_until(record_has_error);
	ck_assert_ptr_nonnull(e->recs);
	ck_assert_int_eq(e->recs->ts[0].queued, 0);
	ck_assert_int_eq(e->recs->ts[0].st, TS_PENDING);
	ck_assert_ptr_nonnull(e->recs->ts[0].error);
	ck_assert_msg(strstr(e->recs->ts[0].error, "newer change"), "%s", e->recs->ts[0].error);
	ck_assert_int_eq(delivered, 0);
}
END_TEST

START_TEST(unwritten_final_status_is_kept)
{
	static char st[] = "t delivered attempts=1 time=20260101000000Z";
	char *vals[] = { st, NULL };
	struct log_record r = record(8, vals);

	engine_take(e, &r, "test 20991231000000Z", 4102358400);
	run_until(status_write_lost);
	/* every target was final already: only the status write is left, and it failed */
	ck_assert_ptr_nonnull(e->recs);
	ck_assert_int_eq(e->recs->phase, PH_DONE);
	ck_assert_int_eq(e->recs->dirty, 1);
	ck_assert_int_eq(e->recs->sealed_removed, 0);
	ck_assert_int_eq(delivered, 0);
	ck_assert_int_ge(lost, 1);
}
END_TEST

/* One provider's chain orders by number, whatever the clock did; the chains of two
 * providers order by time, as replication keeps the later change. */
START_TEST(newer_across_chains_is_later)
{
	const unsigned long long p1 = 1ULL << 48, p2 = 2ULL << 48;
	const char *t1 = "20261203120000.000001Z", *t2 = "20261203120000.000002Z";

	ck_assert_int_eq(records_is_newer(5, t2, 6, t1), 1);
	ck_assert_int_eq(records_is_newer(6, t1, 5, t2), 0);
	ck_assert_int_eq(records_is_newer(p2 + 1, t1, p1 + 9, t2), 1);
	ck_assert_int_eq(records_is_newer(p1 + 9, t2, p2 + 1, t1), 0);
	ck_assert_int_eq(records_is_newer(p1 + 9, t1, p2 + 1, t1), 1);
	ck_assert_int_eq(records_is_newer(p2 + 1, t1, p1 + 9, t1), 0);
}
END_TEST

START_TEST(claim_needs_the_directory)
{
	struct log_record r = record(9, NULL);

	/* unclaimed, nothing is taken: the claim itself cannot be made here */
	engine_submit(e, &r);
	run_until(claim_tried);
	ck_assert_ptr_null(e->recs);
	ck_assert_int_eq(claim_known(e, 9), 1);
	ck_assert_int_eq(delivered, 0);
}
END_TEST

START_TEST(claim_values)
{
	char buf[CLAIM_MAX], inst[CLAIM_MAX];
	time_t until;

	ck_assert_int_eq(claimdir_format(buf, sizeof(buf), "host.example:42", 4102358400), 0);
	ck_assert_str_eq(buf, "host.example:42 20991231000000Z");
	ck_assert_int_eq(claimdir_parse(buf, inst, sizeof(inst), &until), 0);
	ck_assert_str_eq(inst, "host.example:42");
	ck_assert_int_eq(until, 4102358400);
	ck_assert_int_eq(claimdir_format(buf, sizeof(buf), "bad id", 0), -1);
	ck_assert_int_eq(claimdir_parse("nospace", inst, sizeof(inst), &until), -1);
	ck_assert_int_eq(claimdir_parse("a 2026010112000Z", inst, sizeof(inst), &until), -1);
	ck_assert_int_eq(claimdir_parse("a*b 20260101120000Z", inst, sizeof(inst), &until), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init("json", 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, newer_check_fails_closed);
	tcase_add_test(tc, unwritten_final_status_is_kept);
	tcase_add_test(tc, newer_across_chains_is_later);
	tcase_add_test(tc, claim_needs_the_directory);
	tcase_add_test(tc, claim_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
