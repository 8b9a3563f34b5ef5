/* Unit tests of syncd's targets: configuration errors (each naming file:line), the account
 * mapping's escaping, the AD password encoding, the pre-hashed userPassword formats, and the
 * exec target run against tests/tools/fake-store (copied into a private directory, since
 * the target refuses a group-writable program). The ldap and ad kinds meet real slapd
 * servers in tests/integration/targets.sh. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/evp.h>

#include "target.h"
#include "targets/ad.h"
#include "map.h"
#include "pwhash.h"
#include "scrub.h"

#define ACCOUNT "uid=alice,ou=people,dc=example,dc=org"
#define PW "S3cret-Pw-4711"

static char dir[] = "/tmp/rg-targets-unit.XXXXXX";
static char store[256], argvf[300], recf[300], expectf[300], pwf[300], pwf_open[300];

/* ---- helpers ---- */

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static char *
slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Lines "key value" become kv at lines 10, 11, ... of t.conf; the block starts on line 9. */
static int
configure(const struct target_ops *ops, struct target *t, const char *const *lines, char *err)
{
	struct conf_kv kv[40] = {0};
	size_t n = 0, i;
	int rc;

	memset(t, 0, sizeof(*t));
	t->name = (char *)"t1";
	t->ops = ops;
	t->file = "t.conf";
	t->line = 9;
	for (; lines[n]; n++) {
		const char *sp = strchr(lines[n], ' ');
		kv[n].key = strndup(lines[n], sp ? (size_t)(sp - lines[n]) : strlen(lines[n]));
		kv[n].value = strdup(sp ? sp + 1 : "");
		kv[n].file = "t.conf";
		kv[n].line = 10 + (int)n;
	}
	err[0] = '\0';
	rc = ops->configure(t, kv, n, err, SYNCD_ERR);
	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	return rc;
}

static void
conf_ok(const struct target_ops *ops, const char *const *lines)
{
	struct target t;
	char err[SYNCD_ERR];

	ck_assert_msg(configure(ops, &t, lines, err) == 0, "refused: %s", err);
	ck_assert_ptr_nonnull(t.priv);
	ops->free(&t);
	ck_assert_ptr_null(t.priv);
}

static void
conf_err(const struct target_ops *ops, const char *const *lines, const char *want)
{
	struct target t;
	char err[SYNCD_ERR];

	ck_assert_msg(configure(ops, &t, lines, err) != 0, "accepted, expected \"%s\"", want);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0 ||
			(want[0] == '*' && strstr(err, want + 1)),
		"error \"%s\", expected \"%s\"", err, want);
	ck_assert_msg(strncmp(err, "t.conf:", 7) == 0, "no file:line in \"%s\"", err);
	ck_assert_ptr_null(t.priv);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- configuration ---- */

START_TEST(test_conf_ldap)
{
	const struct target_ops *o = &target_ldap_ops;
	char id[400], bid[400];

	snprintf(id, sizeof(id), "bind-password-file %s", pwf);
	snprintf(bid, sizeof(bid), "bind-password-file %s", pwf_open);
#define ID "bind-dn cn=sync,dc=x", id
#define MAP "map-template uid=%r,ou=users,dc=legacy"
	conf_ok(o, L("uri ldap://h", ID, MAP));
	conf_ok(o,
		L("uri ldapi://%2Frun%2Fs", "sasl-external yes", MAP, "method hash",
			"hash-scheme crypt-sha512", "timeout 3"));
	conf_ok(o,
		L("uri ldaps://127.0.0.1:636", "tls-verify no", ID, "map-search-base o=l",
			"map-search-filter (&(objectClass=person)(mail=%r@example.com))"));
	conf_err(o, L("uri ldap://h", ID, MAP, "bogus 1"), "t.conf:14: unknown key \"bogus\"");
	conf_err(o, L("uri http://h", ID, MAP), "t.conf:10: uri \"http://h\" is not one LDAP");
	conf_err(o, L("uri ldap://a ldap://b", ID, MAP), "t.conf:10: uri \"ldap://a ldap://b\"");
	conf_err(o, L("uri ldap://h/dc=x", ID, MAP), "t.conf:10: uri takes only");
	conf_err(o, L("uri ldap://h", "uri ldap://g", ID, MAP),
		"t.conf:11: uri given twice (first at line 10)");
	conf_err(o, L(ID, MAP), "t.conf:9: ldap target t1: uri is required");
	conf_err(o, L("uri ldap://h", MAP), "t.conf:9: ldap target t1: no identity");
	conf_err(o, L("uri ldap://h", "bind-dn notadn", id, MAP), "t.conf:11: bind-dn \"notadn\"");
	conf_err(o, L("uri ldap://h", "bind-dn cn=a", MAP), "t.conf:11: bind-dn needs");
	conf_err(o, L("uri ldap://h", id, MAP), "t.conf:11: bind-password-file needs bind-dn");
	conf_err(o, L("uri ldap://h", "bind-dn cn=a", bid, MAP), "*chmod 600");
	conf_err(o, L("uri ldap://h", "bind-dn cn=a", "bind-password-file /nonexistent", MAP),
		"t.conf:12: bind-password-file /nonexistent: cannot open");
	conf_err(o, L("uri ldap://h", "sasl-external maybe", MAP),
		"t.conf:11: sasl-external takes yes or no");
	conf_err(o, L("uri ldap://h", "sasl-external yes", MAP),
		"t.conf:11: sasl-external yes "
		"needs an ldapi://");
	conf_err(o, L("uri ldapi:///", "sasl-external yes", ID, MAP),
		"t.conf:11: give "
		"sasl-external yes or bind-dn");
	conf_err(o, L("uri ldaps://h", "starttls yes", ID, MAP), "t.conf:11: starttls yes goes");
	conf_err(o, L("uri ldaps://h", "tls-ca-file ca.pem", ID, MAP), "t.conf:11: tls-ca-file");
	conf_err(o, L("uri ldap://h", "tls-ca-file /etc/hostname", ID, MAP),
		"t.conf:11: tls-ca-file is used only with");
	conf_err(o, L("uri ldaps://ldap.example.com", "tls-verify no", ID, MAP),
		"t.conf:11: tls-verify no is allowed only for ldapi:// or a loopback host");
	conf_err(o, L("uri ldaps://h", "tls-verify off", ID, MAP), "t.conf:11: tls-verify takes");
	conf_err(o, L("uri ldap://h", "timeout 0", ID, MAP), "t.conf:11: timeout takes a whole");
	conf_err(o, L("uri ldap://h", "timeout 10s", ID, MAP), "t.conf:11: timeout takes a whole");
	conf_ok(o, L("uri ldap://h", ID, MAP, "bind-check no"));
	conf_err(o, L("uri ldap://h", ID, MAP, "bind-check off"),
		"t.conf:14: bind-check takes yes or no");
	conf_err(o, L("uri ldap://h", ID, MAP, "bind-check no", "bind-check yes"),
		"t.conf:15: bind-check given twice (first at line 14)");
	conf_err(o, L("uri ldap://h", ID, MAP, "method exop"), "t.conf:14: method takes passmod");
	conf_err(o, L("uri ldap://h", ID, MAP, "method hash"), "t.conf:14: method hash needs");
	conf_err(o, L("uri ldap://h", ID, MAP, "hash-scheme ssha"),
		"t.conf:14: hash-scheme is used");
	conf_err(o, L("uri ldap://h", ID, MAP, "method hash", "hash-scheme md5"),
		"t.conf:15: hash-scheme takes ssha, ssha512 or crypt-sha512");
}
END_TEST

START_TEST(test_conf_mapping)
{
	const struct target_ops *o = &target_ldap_ops;
	char id[400];

	snprintf(id, sizeof(id), "bind-password-file %s", pwf);
	conf_err(o, L("uri ldap://h", ID), "t.conf:9: no account mapping");
	conf_err(o, L("uri ldap://h", ID, "map-template uid=x,dc=l"),
		"t.conf:13: map-template needs");
	conf_err(o, L("uri ldap://h", ID, "map-template uid=%x,dc=l"),
		"t.conf:13: map-template needs");
	conf_err(o, L("uri ldap://h", ID, "map-template uid=%r,,dc=l"),
		"t.conf:13: map-template \"uid=%r,,dc=l\" does not give a valid DN");
	conf_err(o, L("uri ldap://h", ID, MAP, "map-search-base o=l", "map-search-filter (a=%r)"),
		"t.conf:13: give map-template or");
	conf_err(o, L("uri ldap://h", ID, "map-search-base o=l"), "t.conf:13: map-search-base and");
	conf_err(o, L("uri ldap://h", ID, "map-search-filter (a=%r)"),
		"t.conf:13: map-search-base and");
	conf_err(o, L("uri ldap://h", ID, "map-search-base nodn", "map-search-filter (a=%r)"),
		"t.conf:13: map-search-base \"nodn\" is not a DN");
	conf_err(o, L("uri ldap://h", ID, "map-search-base o=l", "map-search-filter mail=%r"),
		"t.conf:14: map-search-filter must be");
	conf_err(o, L("uri ldap://h", ID, "map-search-base o=l", "map-search-filter (a=%r))("),
		"t.conf:14: map-search-filter must be");
	conf_err(o, L("uri ldap://h", ID, "map-search-base o=l", "map-search-filter (a=b)"),
		"t.conf:14: map-search-filter must be");
}
END_TEST

START_TEST(test_conf_ad_exec)
{
	const struct target_ops *a = &target_ad_ops, *x = &target_exec_ops;
	char id[400], cmd[400], gw[300], nx[300];

	snprintf(id, sizeof(id), "bind-password-file %s", pwf);
	conf_ok(a,
		L("uri ldaps://dc1.example.com", ID, "map-search-base dc=ad",
			"map-search-filter (sAMAccountName=%r)"));
	conf_ok(a, L("uri ldap://dc1.example.com", "starttls yes", ID, MAP));
	conf_ok(a, L("uri ldaps://dc1.example.com", ID, MAP, "bind-check no"));
	conf_err(a, L("uri ldap://dc1.example.com", ID, MAP),
		"t.conf:10: Active Directory accepts unicodePwd only over an encrypted connection");
	conf_err(a, L("uri ldaps://dc1", ID, MAP, "method passmod"), "t.conf:14: unknown key");

	snprintf(cmd, sizeof(cmd), "command %s", store);
	snprintf(gw, sizeof(gw), "%s/gw", dir);
	write_file(gw, "#!/bin/sh\n", 0775);
	snprintf(nx, sizeof(nx), "%s/nx", dir);
	write_file(nx, "#!/bin/sh\n", 0644);
	conf_ok(x, L(cmd, "args --argv /x ok", "timeout 5"));
	conf_err(x, L("args a"), "t.conf:9: exec target t1: command is required");
	conf_err(x, L("command bin/true"), "t.conf:10: command bin/true must be an absolute path");
	conf_err(x, L("command /nonexistent/x"), "t.conf:10: command /nonexistent/x: No such");
	snprintf(cmd, sizeof(cmd), "command %s", nx);
	conf_err(x, L(cmd), "*is not an executable file");
	snprintf(cmd, sizeof(cmd), "command %s", gw);
	conf_err(x, L(cmd), "*is writable by group or others");
	snprintf(cmd, sizeof(cmd), "command %s", store);
	conf_err(x, L(cmd, "timeout -1"), "t.conf:11: timeout takes");
	conf_err(x, L(cmd, "env A=B"), "t.conf:11: unknown key \"env\" in an exec target");
	conf_err(x,
		L(cmd,
			"args 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 "
			"26 27 28 29 30 31 32 33"),
		"t.conf:11: args has more than 32 words");
}
END_TEST

/* ---- mapping ---- */

static void
dn_escapes(const char *in, const char *want)
{
	char *got = map_escape_dn_value(in);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_dn_escape)
{
	LDAPDN dn = NULL;
	char *s;

	dn_escapes("alice", "alice");
	dn_escapes("a,b+c\"d\\e<f>g;h=i", "a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\=i");
	dn_escapes(" lead", "\\ lead");
	dn_escapes("trail ", "trail\\ ");
	dn_escapes(" ", "\\ ");
	dn_escapes("#x#", "\\#x#");
	dn_escapes("", "");
	/* the value comes back intact from a real DN parser */
	s = map_template_dn("uid=%r,ou=users,dc=legacy", ACCOUNT, " #a,b+c=d ");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ldap_str2dn(s, &dn, LDAP_DN_FORMAT_LDAPV3), LDAP_SUCCESS);
	ck_assert_int_eq((int)dn[0][0]->la_value.bv_len, 10);
	ck_assert(memcmp(dn[0][0]->la_value.bv_val, " #a,b+c=d ", 10) == 0);
	ck_assert_ptr_null(dn[1][1]);
	ldap_dnfree(dn);
	free(s);
	s = map_template_dn("cn=shadow-%r,%d", ACCOUNT, "alice");
	ck_assert_str_eq(s, "cn=shadow-alice," ACCOUNT);
	free(s);
	s = map_template_dn("cn=100%%-%r,o=x", ACCOUNT, "a");
	ck_assert_str_eq(s, "cn=100%-a,o=x");
	free(s);
	ck_assert_ptr_null(map_template_dn("%d", "not a dn", "x"));
}
END_TEST

START_TEST(test_filter_escape)
{
	char *s = map_escape_filter_value("a*(b)\\c");

	ck_assert_str_eq(s, "a\\2A\\28b\\29\\5Cc");
	free(s);
	s = map_search_filter("(&(mail=%r@example.com)(seeAlso=%d))", "cn=x*,o=y", "j*)(uid=*");
	ck_assert_str_eq(s, "(&(mail=j\\2A\\29\\28uid=\\2A@example.com)(seeAlso=cn=x\\2A,o=y))");
	free(s);
}
END_TEST

START_TEST(test_scrub)
{
	char a[] = "rejected S3cret-Pw-4711 twice: S3cret-Pw-4711!", b[] = "a***b***", c[] = "xaby";

	scrub_password(a, (const unsigned char *)PW, strlen(PW));
	ck_assert_str_eq(a, "rejected *** twice: ***!");
	scrub_password(b, (const unsigned char *)"***", 3); /* no endless loop */
	ck_assert_str_eq(b, "a***b***");
	scrub_password(c, (const unsigned char *)"ab", 2); /* the mask never grows the text */
	ck_assert_str_eq(c, "x**y");
}
END_TEST

/* ---- encodings ---- */

static void
utf16(const char *in, const char *want, size_t wantlen)
{
	unsigned char *out = NULL;
	size_t n = 0;

	ck_assert_int_eq(ad_encode_password((const unsigned char *)in, strlen(in), &out, &n), 0);
	ck_assert_uint_eq(n, wantlen);
	ck_assert(memcmp(out, want, n) == 0);
	free(out);
}

START_TEST(test_utf16le)
{
	static const char *const bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xe0\x80\xaf",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82", "\xf0\x9f\x98"};
	unsigned char *out = (unsigned char *)"x";
	size_t n = 1, i;

	utf16("", "\"\0\"\0", 4);
	utf16("Ab1", "\"\0A\0b\0001\0\"\0", 10);
	utf16("\xc3\xa9", "\"\0\xe9\0\"\0", 6);                   /* é U+00E9 */
	utf16("\xe2\x82\xac", "\"\0\xac\x20\"\0", 6);             /* € U+20AC */
	utf16("\xf0\x9f\x98\x80", "\"\0\x3d\xd8\x00\xde\"\0", 8); /* 😀 U+1F600 */
	utf16("\xf4\x8f\xbf\xbf", "\"\0\xff\xdb\xff\xdf\"\0", 8); /* U+10FFFF */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(ad_encode_password((const unsigned char *)bad[i], strlen(bad[i]),
				      &out, &n) == -1,
			"accepted bad UTF-8 #%zu", i);
		ck_assert_ptr_null(out);
	}
}
END_TEST

static void
check_salted(enum pwhash_scheme s, const char *prefix, const EVP_MD *md, size_t mdlen)
{
	char err[SYNCD_ERR],
		*h = pwhash_make(s, (const unsigned char *)PW, strlen(PW), err, sizeof(err)), *h2;
	unsigned char raw[128], dig[EVP_MAX_MD_SIZE], buf[64];
	unsigned int dl = 0;
	int n;

	ck_assert_msg(h != NULL, "%s", err);
	ck_assert(strncmp(h, prefix, strlen(prefix)) == 0);
	n = EVP_DecodeBlock(raw, (unsigned char *)h + strlen(prefix),
		(int)strlen(h + strlen(prefix)));
	/* EVP_DecodeBlock counts padding as zero bytes */
	n -= (int)(strlen(h) - strlen(prefix) - strcspn(h + strlen(prefix), "="));
	ck_assert_int_eq(n, (int)(mdlen + 8));
	memcpy(buf, PW, strlen(PW));
	memcpy(buf + strlen(PW), raw + mdlen, 8);
	ck_assert(EVP_Digest(buf, strlen(PW) + 8, dig, &dl, md, NULL));
	ck_assert_uint_eq(dl, mdlen);
	ck_assert_msg(memcmp(dig, raw, mdlen) == 0, "%s does not verify", prefix);
	h2 = pwhash_make(s, (const unsigned char *)PW, strlen(PW), err, sizeof(err));
	ck_assert_str_ne(h, h2); /* a fresh salt each time */
	pwhash_free(h);
	pwhash_free(h2);
}

START_TEST(test_hash_ssha)
{
	check_salted(PWHASH_SSHA, "{SSHA}", EVP_sha1(), 20);
	check_salted(PWHASH_SSHA512, "{SSHA512}", EVP_sha512(), 64);
}
END_TEST

START_TEST(test_hash_crypt)
{
	char err[SYNCD_ERR],
		*h = pwhash_make(PWHASH_CRYPT_SHA512, (const unsigned char *)PW, strlen(PW), err,
			sizeof(err));
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *again;

	ck_assert_msg(h != NULL, "%s", err);
	ck_assert(strncmp(h, "{CRYPT}$6$", 10) == 0);
	ck_assert_int_eq((int)strcspn(h + 10, "$"), 16);
	again = crypt_r(PW, h + 7, cd);
	ck_assert_str_eq(again, h + 7);
	again = crypt_r("wrong", h + 7, cd);
	ck_assert_str_ne(again, h + 7);
	pwhash_free(h);
	free(cd);
	ck_assert_ptr_null(pwhash_make(PWHASH_CRYPT_SHA512, (const unsigned char *)"a\0b", 3, err,
		sizeof(err)));
}
END_TEST

/* ---- delivery without a server ---- */

static enum delivery_result
run(const struct target_ops *ops, const char *const *lines, const char *pw, size_t pwlen, char *err)
{
	struct target t;
	struct delivery d = {7, ACCOUNT, "alice", (const unsigned char *)pw, pwlen};
	enum delivery_result r;

	ck_assert_msg(configure(ops, &t, lines, err) == 0, "refused: %s", err);
	r = ops->deliver(&t, &d, err, SYNCD_ERR);
	ops->disconnect(&t);
	ops->free(&t);
	ck_assert_msg(!memmem(err, strlen(err), pw, pwlen) || pwlen == 0, "password in: %s", err);
	return r;
}

START_TEST(test_ldap_unreachable)
{
	char err[SYNCD_ERR], id[400];

	snprintf(id, sizeof(id), "bind-password-file %s", pwf);
	/* nothing listens on port 1: refused at once */
	ck_assert_int_eq(run(&target_ldap_ops, L("uri ldap://127.0.0.1:1", ID, MAP), PW, strlen(PW),
				 err),
		DELIVERY_RETRY);
	ck_assert_msg(strstr(err, "Can't contact LDAP server"), "%s", err);
	ck_assert_int_eq(run(&target_ldap_ops, L("uri ldap://127.0.0.1:1", ID, MAP), "", 0, err),
		DELIVERY_FAIL);
	ck_assert_int_eq(run(&target_ad_ops, L("uri ldaps://127.0.0.1:1", ID, MAP), "\xc3(", 2,
				 err),
		DELIVERY_FAIL);
	ck_assert_msg(strstr(err, "not valid UTF-8"), "%s", err);
}
END_TEST

/* ---- exec ---- */

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static enum delivery_result
exec_run(const char *args, const char *timeout, const char *pw, char *err)
{
	char cmd[400], a[1000];

	snprintf(cmd, sizeof(cmd), "command %s", store);
	snprintf(a, sizeof(a), "args --argv %s --record %s %s", argvf, recf, args);
	unlink(argvf);
	return run(&target_exec_ops, L(cmd, a, timeout), pw, strlen(pw), err);
}

START_TEST(test_exec)
{
	char err[SYNCD_ERR], a[400];
	int fds = open_fds();

	ck_assert_int_eq(exec_run("ok", "timeout 5", PW, err), DELIVERY_DONE);
	ck_assert_str_eq(err, "");
	ck_assert_ptr_null(strstr(slurp(argvf), PW)); /* neither argv nor environment */
	ck_assert_ptr_nonnull(
		strstr(slurp(argvf), "env=PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n"));
	ck_assert_ptr_null(strstr(slurp(argvf), "env=HOME"));
	ck_assert_str_eq(slurp(recf), "account=" ACCOUNT "\nlength=14\n");
	snprintf(a, sizeof(a), "--expect %s ok", expectf);
	ck_assert_int_eq(exec_run(a, "timeout 5", PW, err), DELIVERY_DONE);
	ck_assert_int_eq(exec_run(a, "timeout 5", "other", err), DELIVERY_FAIL);
	ck_assert_int_eq(exec_run("retry", "timeout 5", PW, err), DELIVERY_RETRY);
	ck_assert_msg(strstr(err, "asked to retry (exit status 75): fake-store: store busy"), "%s",
		err);
	ck_assert_int_eq(exec_run("fail", "timeout 5", PW, err), DELIVERY_FAIL);
	ck_assert_msg(strstr(err,
			      "exited with status 1: fake-store: account " ACCOUNT " is locked"),
		"%s", err);
	ck_assert_int_eq(exec_run("echo", "timeout 5", PW, err), DELIVERY_FAIL);
	ck_assert_msg(strstr(err, "stdout: *** rejected ***!"), "%s", err);
	ck_assert_int_eq(exec_run("chatty", "timeout 5", PW, err), DELIVERY_FAIL);
	ck_assert_int_eq(exec_run("signal", "timeout 5", PW, err), DELIVERY_FAIL);
	ck_assert_msg(strstr(err, "killed by signal 9 (SIGKILL)"), "%s", err);
	ck_assert_int_eq(exec_run("noread", "timeout 5", PW, err), DELIVERY_DONE);
	ck_assert_int_eq(exec_run("ok", "timeout 5", "two\nlines", err), DELIVERY_FAIL);
	ck_assert_msg(strstr(err, "newline"), "%s", err);
	ck_assert_int_eq(exec_run("ok", "timeout 5", "", err), DELIVERY_FAIL);
	/* nothing left behind: no child to reap, no descriptor open */
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(open_fds(), fds);
}
END_TEST

START_TEST(test_exec_timeout)
{
	char err[SYNCD_ERR];
	time_t t0 = time(NULL);

	ck_assert_int_eq(exec_run("sleep 30", "timeout 1", PW, err), DELIVERY_RETRY);
	ck_assert_msg(strstr(err, "timed out after 1 s and was killed"), "%s", err);
	ck_assert_int_le(time(NULL) - t0, 3);
	/* a program that ignores SIGTERM gets SIGKILL after the grace period */
	t0 = time(NULL);
	ck_assert_int_eq(exec_run("stubborn 30", "timeout 1", PW, err), DELIVERY_RETRY);
	ck_assert_int_ge(time(NULL) - t0, 2);
	ck_assert_int_le(time(NULL) - t0, 5);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

/* ---- fixtures ---- */

static void
setup(void)
{
	const char *src = getenv("srcdir") ? getenv("srcdir") : ".";
	char from[512], cmd[1200];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(store, sizeof(store), "%s/fake-store", dir);
	snprintf(from, sizeof(from), "%s/tests/tools/fake-store", src);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0755 '%s'", from, store, store);
	ck_assert_msg(system(cmd) == 0, "cannot copy %s", from);
	snprintf(argvf, sizeof(argvf), "%s/argv", dir);
	snprintf(recf, sizeof(recf), "%s/rec", dir);
	snprintf(expectf, sizeof(expectf), "%s/expect", dir);
	snprintf(pwf, sizeof(pwf), "%s/bind.pw", dir);
	snprintf(pwf_open, sizeof(pwf_open), "%s/open.pw", dir);
	write_file(expectf, PW "\n", 0600);
	write_file(pwf, "service-pw\n", 0600);
	write_file(pwf_open, "service-pw\n", 0644);
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	strcpy(dir, "/tmp/rg-targets-unit.XXXXXX");
}

int
main(void)
{
	Suite *s = suite_create("targets");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_conf_ldap);
	tcase_add_test(tc, test_conf_mapping);
	tcase_add_test(tc, test_conf_ad_exec);
	tcase_add_test(tc, test_dn_escape);
	tcase_add_test(tc, test_filter_escape);
	tcase_add_test(tc, test_scrub);
	tcase_add_test(tc, test_utf16le);
	tcase_add_test(tc, test_hash_ssha);
	tcase_add_test(tc, test_hash_crypt);
	tcase_add_test(tc, test_ldap_unreachable);
	tcase_add_test(tc, test_exec);
	tcase_add_test(tc, test_exec_timeout);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
