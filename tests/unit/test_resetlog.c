/* Unit tests of the reset log's canonical form and hash, and of sealing to syncd. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "resetlog.h"
#include "seal.h"

static struct rg_log_record
sample(void)
{
	static const char *methods[] = { "hwk", "face" };
	struct rg_log_record r;

	memset(&r, 0, sizeof(r));
	r.number = 42;
	r.time = "20261123120000.123456Z";
	r.target = "uid=alice,ou=people,dc=example,dc=com";
	r.requester = "cn=portal,ou=services,dc=example,dc=com";
	r.kind = "self-service";
	r.decision = "allowed";
	r.rule = "allowed";
	r.policy = "cn=default,ou=policies,dc=example,dc=com";
	r.operation = "passwordModify";
	r.issuer = "https://proofing.example.com";
	r.level = 2;
	r.methods = methods;
	r.nmethods = 2;
	r.jti = "j-1";
	strcpy(r.prev_hash, RG_LOG_GENESIS);
	return r;
}

START_TEST(canonical_text)
{
	struct rg_log_record r = sample();
	size_t len;
	char *text = rg_log_canonical(&r, &len);

	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_ptr_nonnull(strstr(text, "resetguard-log-v1\nnumber=42\n"));
	ck_assert_ptr_nonnull(strstr(text, "\napprover=\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nlevel=2\nmethods=hwk,face\njti=j-1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nreviewRequired=FALSE\nalert=FALSE\nprev=0000"));
	free(text);
}
END_TEST

/* alertReason is a line only on a record that has one, right after alert=, so that the
 * records written before it existed keep their hashes. */
START_TEST(alert_reason_line)
{
	struct rg_log_record r = sample();
	char *text;

	text = rg_log_canonical(&r, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "alertReason"));
	free(text);
	r.alert = 1;
	r.alert_reason = "target-denials: 3 denied changes";
	text = rg_log_canonical(&r, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text,
		"\nalert=TRUE\nalertReason=target-denials: 3 denied changes\nprev=0000"));
	free(text);
}
END_TEST

/* No value can forge a line or a method boundary: different records, different texts. */
START_TEST(escaping_is_injective)
{
	static const char *one[] = { "a,b" }, *two[] = { "a", "b" };
	struct rg_log_record a = sample(), b = sample();
	char *ta, *tb, ha[RG_LOG_HASH_HEX], hb[RG_LOG_HASH_HEX];

	a.methods = one;
	a.nmethods = 1;
	b.methods = two;
	b.nmethods = 2;
	ck_assert_int_eq(rg_log_hash(&a, ha), 0);
	ck_assert_int_eq(rg_log_hash(&b, hb), 0);
	ck_assert_str_ne(ha, hb);

	a = sample();
	a.reason = "x\nrequester=cn=evil";
	ta = rg_log_canonical(&a, NULL);
	ck_assert_ptr_null(strstr(ta, "\nrequester=cn=evil"));
	ck_assert_ptr_nonnull(strstr(ta, "reason=x\\x0arequester=cn=evil\n"));
	a.reason = "back\\slash";
	tb = rg_log_canonical(&a, NULL);
	ck_assert_ptr_nonnull(strstr(tb, "reason=back\\\\slash\n"));
	free(ta);
	free(tb);
}
END_TEST

START_TEST(hash_covers_every_field)
{
	struct rg_log_record r = sample(), m;
	char base[RG_LOG_HASH_HEX], h[RG_LOG_HASH_HEX];

	ck_assert_int_eq(rg_log_hash(&r, base), 0);
	ck_assert_uint_eq(strlen(base), 64);
#define CHANGED(stmt) do { m = sample(); stmt; ck_assert_int_eq(rg_log_hash(&m, h), 0); \
		ck_assert_str_ne(h, base); } while (0)
	CHANGED(m.number = 43);
	CHANGED(m.time = "20261123120000.123457Z");
	CHANGED(m.target = "uid=carol,ou=people,dc=example,dc=com");
	CHANGED(m.requester = "cn=other");
	CHANGED(m.approver = "uid=mgr");
	CHANGED(m.kind = "delegated");
	CHANGED(m.decision = "denied");
	CHANGED(m.rule = "level-insufficient");
	CHANGED(m.rule_text = "why");
	CHANGED(m.policy = NULL);
	CHANGED(m.operation = "modify");
	CHANGED(m.issuer = "other");
	CHANGED(m.level = 3);
	CHANGED(m.nmethods = 1);
	CHANGED(m.jti = "j-2");
	CHANGED(m.reason = "INC-1");
	CHANGED(m.review_required = 1);
	CHANGED(m.alert = 1);
	CHANGED(m.alert_reason = "volume: 3 or more resets in the last 60 seconds (threshold 3)");
	CHANGED(m.alert_reason = "");
	CHANGED(m.prev_hash[0] = '1');
#undef CHANGED
	/* Deterministic. */
	ck_assert_int_eq(rg_log_hash(&r, h), 0);
	ck_assert_str_eq(h, base);
}
END_TEST

/* rg_log_hash streams the text through a fixed block: the same hash as the text built whole,
 * with values longer than the block and escapes across its edges. */
START_TEST(hash_is_of_the_canonical_text)
{
	static const char *methods[] = { "a,b", "c\\d" };
	struct rg_log_record r = sample();
	unsigned char md[32];
	unsigned int mdlen = 0;
	char long_value[9001], want[RG_LOG_HASH_HEX], got[RG_LOG_HASH_HEX], *text;
	size_t len;

	for (size_t i = 0; i + 1 < sizeof(long_value); i++)
		long_value[i] = i % 7 == 0 ? '\\' : i % 11 == 0 ? '\n' : (char)('a' + i % 26);
	long_value[sizeof(long_value) - 1] = '\0';
	r.reason = long_value;
	r.rule_text = long_value + 4000;
	r.methods = methods;
	r.nmethods = 2;
	r.number = 18446744073709551615ULL;
	text = rg_log_canonical(&r, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "number=18446744073709551615\n"));
	ck_assert_int_eq(EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL), 1);
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(want + 2 * i, "%02x", md[i]);
	free(text);
	ck_assert_int_eq(rg_log_hash(&r, got), 0);
	ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(time_format)
{
	char buf[32];

	rg_log_format_time(buf, 1795435200LL, 7);
	ck_assert_str_eq(buf, "20261123120000.000007Z");
}
END_TEST

static X509 *
self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
		(const unsigned char *)"syncd", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, key, EVP_sha256());
	return x;
}

START_TEST(seal_round_trip_and_tamper)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cert = self_signed(key), *other_cert = self_signed(other);
	const char *pw = "S3cret-päss";
	unsigned char *der = NULL, *out = NULL;
	size_t derlen, outlen;
	char err[256] = "";

	ck_assert_int_eq(rg_seal(cert, (const unsigned char *)pw, strlen(pw), &der, &derlen,
		err, sizeof(err)), 0);
	ck_assert_ptr_null(memmem(der, derlen, pw, strlen(pw)));
	ck_assert_int_eq(rg_unseal(key, cert, der, derlen, &out, &outlen, err, sizeof(err)), 0);
	ck_assert_uint_eq(outlen, strlen(pw));
	ck_assert_mem_eq(out, pw, outlen);
	rg_unseal_free(out, outlen);

	/* Another key cannot open it. */
	ck_assert_int_ne(rg_unseal(other, other_cert, der, derlen, &out, &outlen, err,
		sizeof(err)), 0);
	ck_assert_ptr_null(out);
	/* AuthEnvelopedData: a flipped ciphertext byte is detected, not decrypted. */
	der[derlen - 20] ^= 1;
	ck_assert_int_ne(rg_unseal(key, cert, der, derlen, &out, &outlen, err, sizeof(err)), 0);
	ck_assert_int_ne(rg_unseal(key, cert, (const unsigned char *)"junk", 4, &out, &outlen,
		err, sizeof(err)), 0);
	OPENSSL_free(der);
	X509_free(cert);
	X509_free(other_cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(claim_values)
{
#define OK(s) rg_log_claim_ok(s, strlen(s))
	ck_assert(OK("syncd-a 20260101120000Z"));
	ck_assert(OK("host.example:42 20991231000000Z"));
	ck_assert(!OK(""));
	ck_assert(!OK(" 20260101120000Z"));                /* no instance */
	ck_assert(!OK("a*b 20260101120000Z"));             /* a character not allowed */
	ck_assert(!OK("syncd-a 2026010112000Z"));          /* 13 digits */
	ck_assert(!OK("syncd-a 20260101120000"));          /* no Z */
	ck_assert(!OK("syncd-a 20260101120000Z "));        /* trailing blank */
	ck_assert(!OK("syncd-a  20260101120000Z"));
	ck_assert(!rg_log_claim_ok("syncd-a\0 20260101120000Z", 24));
	ck_assert(OK("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 20260101120000Z"));
	ck_assert(!OK("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 20260101120000Z"));
#undef OK
}
END_TEST

START_TEST(status_values)
{
#define OK(s) rg_log_status_ok(s, strlen(s))
	ck_assert(OK("legacy1 delivered attempts=1 time=20260101120000Z"));
	ck_assert(OK("caep retrying attempts=3 time=20260101120000.5Z error=timed out"));
	ck_assert(!OK("legacy1 delivered attempts=1"));
	ck_assert(!OK("legacy1 done attempts=1 time=20260101120000Z"));
	ck_assert(!OK("legacy 1 delivered attempts=1 time=20260101120000Z"));
	ck_assert(!OK("legacy1 delivered attempts= time=20260101120000Z"));
	ck_assert(!OK("legacy1 delivered attempts=1234567890 time=20260101120000Z"));
	ck_assert(!OK("legacy1 delivered attempts=1 time=20260101120000Z trailing"));
	ck_assert(!OK("legacy1 delivered attempts=1 time="));
	ck_assert(!OK("legacy1 delivered"));
	ck_assert(!OK(""));
	/* the length rules, not a NUL: a value cut short is refused */
	ck_assert(!rg_log_status_ok("legacy1 delivered attempts=1 time=2026Z", 30));
#undef OK
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("resetlog");
	TCase *tc = tcase_create("resetlog");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, canonical_text);
	tcase_add_test(tc, alert_reason_line);
	tcase_add_test(tc, escaping_is_injective);
	tcase_add_test(tc, hash_covers_every_field);
	tcase_add_test(tc, hash_is_of_the_canonical_text);
	tcase_add_test(tc, time_format);
	tcase_add_test(tc, claim_values);
	tcase_add_test(tc, status_values);
	tcase_add_test(tc, seal_round_trip_and_tamper);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
