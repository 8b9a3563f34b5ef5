/* Unit tests of resetguard-syncd's configuration parser, secret files and JSON logging.
 *
 * Every error case checks the exact "FILE:LINE: " prefix, because that is what an operator
 * uses to find the mistake, and a phrase saying what is wrong. Missing keys are reported
 * at the last line of the file (line 0 for an empty file). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "hook.h"
#include "syncd.h"
#include "securefile.h"
#include "target.h"

static char dir[] = "/tmp/rg-syncd-test.XXXXXX";
static char conf[PATH_MAX];
static char sec[PATH_MAX];

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void
write_conf(const char *text)
{
	write_file(conf, text, strlen(text), 0644);
}

static int
is_zero(const struct syncd_config *cfg)
{
	static const struct syncd_config zero;

	return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

/* Six lines, valid on their own. */
#define BASE                                                                                       \
	"log-uri ldap://ldap.example.com\n"                                                        \
	"bind-dn cn=syncd,dc=example,dc=com\n"                                                     \
	"bind-password-file /etc/resetguard/bind.pw\n"                                             \
	"key-file /etc/resetguard/syncd.key\n"                                                     \
	"cert-file /etc/resetguard/syncd.crt\n"                                                    \
	"state-file /var/lib/resetguard/syncd.state\n"

#define FULL                                                                                       \
	"# resetguard-syncd test configuration\n"                  /* 1 */                         \
	"\n"                                                       /* 2 */                         \
	"log-uri   ldaps://ldap.example.com:636  \n"               /* 3 */                         \
	"log-base \"ou=reset log,dc=example,dc=com\"\n"            /* 4 */                         \
	"bind-dn cn=syncd,dc=example,dc=com\n"                     /* 5 */                         \
	"\tbind-password-file /etc/resetguard/bind.pw\n"           /* 6 */                         \
	"sasl-external no\n"                                       /* 7 */                         \
	"starttls no\n"                                            /* 8 */                         \
	"tls-ca-file \"/etc/ssl/my \\\"ca\\\" \\\\ dir/ca.pem\"\n" /* 9 */                         \
	"key-file /etc/resetguard/syncd.key\n"                     /* 10 */                        \
	"cert-file /etc/resetguard/syncd.crt\n"                    /* 11 */                        \
	"state-file /var/lib/resetguard/syncd.state\n"             /* 12 */                        \
	"metrics-listen [::1]:9464\n"                              /* 13 */                        \
	"log json\n"                                               /* 14 */                        \
	"user root\n"                                              /* 15 */                        \
	"max-attempts 1000\n"                                      /* 16 */                        \
	"retry-base 5\n"                                           /* 17 */                        \
	"retry-max 5\n"                                            /* 18 */                        \
	"op-timeout 300\n"                                         /* 19 */                        \
	"   # an indented comment\n"                               /* 20 */                        \
	"target legacy-1 {\n"                                      /* 21 */                        \
	"\ttype exec\n"                                            /* 22 */                        \
	"\tcommand /bin/true\n"                                    /* 23 */                        \
	"\ttimeout 5\n"                                            /* 24 */                        \
	"}\n"                                                      /* 25 */                        \
	"target App_2.x{\n"                                        /* 26 */                        \
	"    command \"/bin/true\"\n"                              /* 27 */                        \
	"    type exec\n"                                          /* 28 */                        \
	"  }  \n"                                                  /* 29 */                        \
	"hook notify {\n"                                          /* 30 */                        \
	"\ttype exec\n"                                            /* 31 */                        \
	"\tcommand /bin/true\n"                                    /* 32 */                        \
	"}\n"                                                      /* 33 */                        \
	"hook legacy-1 {\n"                                        /* 34 */                        \
	"\ttype exec\n"                                            /* 35 */                        \
	"\tcommand /bin/true\n"                                    /* 36 */                        \
	"}"                                                        /* 37, no newline */

START_TEST(full_config)
{
	struct syncd_config cfg;
	char err[SYNCD_ERR];

	write_conf(FULL);
	ck_assert_msg(config_load(conf, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.file, conf);
	ck_assert_str_eq(cfg.log_uri, "ldaps://ldap.example.com:636");
	ck_assert_str_eq(cfg.log_base, "ou=reset log,dc=example,dc=com");
	ck_assert_str_eq(cfg.bind_dn, "cn=syncd,dc=example,dc=com");
	ck_assert_str_eq(cfg.bind_password_file, "/etc/resetguard/bind.pw");
	ck_assert_int_eq(cfg.sasl_external, 0);
	ck_assert_int_eq(cfg.starttls, 0);
	ck_assert_str_eq(cfg.tls_ca_file, "/etc/ssl/my \"ca\" \\ dir/ca.pem");
	ck_assert_str_eq(cfg.key_file, "/etc/resetguard/syncd.key");
	ck_assert_str_eq(cfg.cert_file, "/etc/resetguard/syncd.crt");
	ck_assert_str_eq(cfg.state_file, "/var/lib/resetguard/syncd.state");
	ck_assert_str_eq(cfg.metrics_listen, "[::1]:9464");
	ck_assert_str_eq(cfg.log_mode, "json");
	ck_assert_str_eq(cfg.user, "root");
	ck_assert_int_eq(cfg.max_attempts, 1000);
	ck_assert_int_eq(cfg.retry_base, 5);
	ck_assert_int_eq(cfg.retry_max, 5);
	ck_assert_int_eq(cfg.op_timeout, 300);

	ck_assert_uint_eq(cfg.ntargets, 2);
	ck_assert_str_eq(cfg.targets[0]->name, "legacy-1");
	ck_assert_ptr_eq(cfg.targets[0]->ops, &target_exec_ops);
	ck_assert_str_eq(cfg.targets[0]->file, conf);
	ck_assert_int_eq(cfg.targets[0]->line, 21);
	ck_assert_ptr_nonnull(cfg.targets[0]->priv);
	ck_assert_str_eq(cfg.targets[1]->name, "App_2.x");
	ck_assert_ptr_eq(cfg.targets[1]->ops, &target_exec_ops);
	ck_assert_int_eq(cfg.targets[1]->line, 26);

	ck_assert_uint_eq(cfg.nhooks, 2);
	ck_assert_str_eq(cfg.hooks[0]->name, "notify");
	ck_assert_ptr_eq(cfg.hooks[0]->ops, &hook_exec_ops);
	ck_assert_int_eq(cfg.hooks[0]->line, 30);
	ck_assert_str_eq(cfg.hooks[1]->name, "legacy-1");
	ck_assert_int_eq(cfg.hooks[1]->line, 34);
	ck_assert_str_eq(cfg.hooks[1]->file, conf);

	config_free(&cfg);
	ck_assert(is_zero(&cfg));
	config_free(&cfg);
}
END_TEST

START_TEST(defaults)
{
	struct syncd_config cfg;
	char err[SYNCD_ERR];

	write_conf("log-uri ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi\r\n"
		   "sasl-external yes\r\n"
		   "key-file /k\r\n"
		   "cert-file /c\r\n"
		   "state-file /s\r\n");
	ck_assert_msg(config_load(conf, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.log_uri, "ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi");
	ck_assert_str_eq(cfg.log_base, "cn=resetlog");
	ck_assert_ptr_null(cfg.bind_dn);
	ck_assert_ptr_null(cfg.bind_password_file);
	ck_assert_int_eq(cfg.sasl_external, 1);
	ck_assert_int_eq(cfg.starttls, 0);
	ck_assert_ptr_null(cfg.tls_ca_file);
	ck_assert_str_eq(cfg.key_file, "/k");
	ck_assert_str_eq(cfg.cert_file, "/c");
	ck_assert_str_eq(cfg.state_file, "/s");
	ck_assert_ptr_null(cfg.metrics_listen);
	ck_assert_str_eq(cfg.log_mode, "syslog");
	ck_assert_ptr_null(cfg.user);
	ck_assert_int_eq(cfg.max_attempts, 8);
	ck_assert_int_eq(cfg.retry_base, 2);
	ck_assert_int_eq(cfg.retry_max, 300);
	ck_assert_int_eq(cfg.op_timeout, 10);
	ck_assert_uint_eq(cfg.ntargets, 0);
	ck_assert_uint_eq(cfg.nhooks, 0);
	config_free(&cfg);

	/* state-file is obsolete: accepted, and no longer required */
	write_conf("log-uri ldap://h\nbind-dn cn=x\nbind-password-file /p\nkey-file /k\n"
		   "cert-file /c\n");
	ck_assert_msg(config_load(conf, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_null(cfg.state_file);
	/* several instances: an id of host:pid, a lease of a minute */
	ck_assert_ptr_nonnull(strchr(cfg.instance, ':'));
	ck_assert_int_eq(cfg.claim_lease, 60);
	ck_assert_int_eq(cfg.single_instance, 0);
	config_free(&cfg);

	/* alone on a log whose server has no Assertion control */
	write_conf("log-uri ldap://h\nbind-dn cn=x\nbind-password-file /p\nkey-file /k\n"
		   "cert-file /c\nsingle-instance yes\n");
	ck_assert_msg(config_load(conf, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(cfg.single_instance, 1);
	config_free(&cfg);

	/* a lease follows a longer op-timeout unless set */
	write_conf("log-uri ldap://h\nbind-dn cn=x\nbind-password-file /p\nkey-file /k\n"
		   "cert-file /c\nop-timeout 45\ninstance syncd-b.example:2\n");
	ck_assert_msg(config_load(conf, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg.instance, "syncd-b.example:2");
	ck_assert_int_eq(cfg.claim_lease, 90);
	config_free(&cfg);
}
END_TEST

START_TEST(other_valid)
{
	static const char *const texts[] = {
		BASE "starttls yes\nmetrics-listen 127.0.0.1:9464\n",
		BASE "metrics-listen localhost:1\nretry-base 3600\nretry-max 86400\n",
		BASE "max-attempts 1\nop-timeout 1\nretry-base 1\nretry-max 1\nlog syslog\n",
		BASE "target a {\n type exec\n command /bin/true\n}\nhook a {\n type exec\n"
		     " command /bin/true\n}\n",
	};
	struct syncd_config cfg;
	char err[SYNCD_ERR];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		write_conf(texts[i]);
		ck_assert_msg(config_load(conf, &cfg, err, sizeof(err)) == 0, "%zu: %s", i, err);
		config_free(&cfg);
	}
}
END_TEST

struct bad {
	const char *text;
	int line;
	const char *phrase;
};

static const struct bad bad[] = {
	{BASE "retry-bsae 5\n", 7, "unknown key \"retry-bsae\" (did you mean \"retry-base\"?)"},
	{BASE "colour blue\n", 7, "unknown key \"colour\" (known: log-uri, log-base, bind-dn"},
	{BASE "type exec\n", 7, "unknown key \"type\" (known: "},
	{BASE "log-base\n", 7, "key \"log-base\" has no value"},
	{BASE "log-base  \t \n", 7, "key \"log-base\" has no value"},
	{BASE "tls-ca-file \"\"\n", 7, "key \"tls-ca-file\" has an empty value"},
	{BASE "max-attempts 8x\n", 7, "max-attempts: \"8x\" is not a number"},
	{BASE "max-attempts -1\n", 7, "max-attempts: \"-1\" is not a number"},
	{BASE "op-timeout 0x10\n", 7, "op-timeout: \"0x10\" is not a number"},
	{BASE "retry-base +5\n", 7, "retry-base: \"+5\" is not a number"},
	{BASE "max-attempts 1001\n", 7, "max-attempts 1001 is out of range (1..1000)"},
	{BASE "max-attempts 0\n", 7, "max-attempts 0 is out of range (1..1000)"},
	{BASE "op-timeout 301\n", 7, "op-timeout 301 is out of range (1..300)"},
	{BASE "retry-base 3601\n", 7, "retry-base 3601 is out of range (1..3600)"},
	{BASE "retry-max 86401\n", 7, "retry-max 86401 is out of range (1..86400)"},
	{BASE "retry-max 99999999999999999999\n", 7, "is out of range (1..86400)"},
	{BASE "retry-base 60\nretry-max 30\n", 8, "retry-max (30) must be >= retry-base (60)"},
	{BASE "retry-base 600\n\n", 7, "retry-max (300) must be >= retry-base (600)"},
	{BASE "metrics-listen 0.0.0.0:9464\n", 7, "metrics are served on loopback only"},
	{BASE "metrics-listen 10.1.2.3:9464\n", 7, "metrics are served on loopback only"},
	{BASE "metrics-listen [::]:9464\n", 7, "metrics are served on loopback only"},
	{BASE "metrics-listen 127.0.0.2:9464\n", 7, "metrics are served on loopback only"},
	{BASE "metrics-listen ::1:9464\n", 7, "write IPv6 in brackets: [::1]:PORT"},
	{BASE "metrics-listen 127.0.0.1\n", 7, "expected HOST:PORT"},
	{BASE "metrics-listen 127.0.0.1:65536\n", 7, "out of range (1..65535)"},
	{BASE "target a {\n type foo\n}\n", 8,
		"unknown target type \"foo\" (known: ldap, ad, exec)"},
	{BASE "hook a {\n\n type ldap\n}\n", 9,
		"unknown hook type \"ldap\" (known: caep, webhook, exec, notify)"},
	{BASE "target a {\n command /bin/true\n}\n", 7,
		"target \"a\" has no type: add \"type KIND\" (known: ldap, ad, exec)"},
	{BASE "hook a {\n type exec\n type exec\n}\n", 9, "duplicate \"type\" in hook \"a\""},
	{BASE "target a {\n type exec\n command /bin/true\n}\ntarget a {\n", 11,
		"duplicate target name \"a\" (first defined on line 7)"},
	{BASE "hook h {\n type exec\n command /bin/true\n}\nhook h {\n", 11,
		"duplicate hook name \"h\" (first defined on line 7)"},
	{BASE "target a {\n type exec\n command /bin/true\n", 7,
		"target \"a\" is not closed: add a \"}\" line"},
	{BASE "target a {\n type exec\n hook b {\n}\n}\n", 9, "nested block"},
	{BASE "target a {\n type exec\n target b {\n", 9, "nested block"},
	{BASE "}\n", 7, "stray \"}\" outside a block"},
	{BASE "target a {\n type exec\n command /bin/true\n} x\n", 10,
		"\"}\" must be alone on its line"},
	{BASE "target a\n{\n type exec\n}\n", 7,
		"expected \"target NAME {\" with the \"{\" on the same line"},
	{BASE "target {\n", 7, "bad target name \"\""},
	{BASE "hook bad/name {\n", 7, "bad hook name \"bad/name\""},
	{BASE "instance a/b\n", 7, "instance \"a/b\": use at most 64"},
	{BASE "claim-lease 2\n", 7, "claim-lease"},
	{BASE "single-instance maybe\n", 7, "single-instance"},
	{BASE "op-timeout 5\nclaim-lease 9\n", 8, "claim-lease (9) must be at least twice op-timeout"},
	{BASE "target a b {\n", 7, "bad target name \"a b\""},
	{BASE "target x0123456789012345678901234567890123456789012345678901234567890123 {\n", 7,
		"bad target name"},
	/* the kind's own error, with the line of its own key */
	{BASE "target a {\n type exec\n command /bin/true\n colour blue\n}\n", 10, "colour"},
	{"bind-dn cn=x\nbind-password-file /p\nkey-file /k\ncert-file /c\nstate-file /s\n", 5,
		"missing required key \"log-uri\""},
	{"log-uri ldap://h\nbind-dn cn=x\nbind-password-file /p\ncert-file /c\n"
	 "state-file /s\n\n# end\n",
		7, "missing required key \"key-file\""},
	{"log-uri ldap://h\nbind-dn cn=x\nbind-password-file /p\nkey-file /k\n"
	 "state-file /s",
		5, "missing required key \"cert-file\""},
	{"", 0, "missing required key \"log-uri\""},
	{"log-uri ldap://h\nbind-password-file /p\nkey-file /k\ncert-file /c\nstate-file /s\n", 5,
		"missing required key \"bind-dn\""},
	{"log-uri ldap://h\nbind-dn cn=x\nkey-file /k\ncert-file /c\nstate-file /s\n", 5,
		"missing required key \"bind-password-file\""},
	{BASE "sasl-external yes\n", 2, "bind-dn is not allowed with sasl-external yes"},
	{BASE "sasl-external maybe\n", 7, "sasl-external must be yes or no, not \"maybe\""},
	{BASE "tls-ca-file \"/etc/ca.pem\" # the CA\n", 7, "text after the closing quote"},
	{BASE "tls-ca-file \"/etc/ca.pem\"x\n", 7, "text after the closing quote: \"x\""},
	{BASE "tls-ca-file \"/etc/ca.pem\n", 7, "quoted value has no closing quote"},
	{BASE "tls-ca-file \"/etc/\\n\"\n", 7, "bad escape \"\\n\""},
	{BASE "tls-ca-file \"/etc/ca.pem\\\"\n", 7, "quoted value has no closing quote"},
	{BASE "tls-ca-file etc/ca.pem\n", 7, "tls-ca-file \"etc/ca.pem\" must be an absolute path"},
	{"log-uri ldaps://h\nbind-dn cn=x\nbind-password-file /p\nkey-file /k\n"
	 "cert-file /c\nstate-file /s\n\nstarttls yes\n\n",
		8, "starttls yes cannot be used with ldaps://"},
	{"log-uri ldapi:///\nbind-dn cn=x\nbind-password-file /p\nstarttls yes\n"
	 "key-file /k\ncert-file /c\nstate-file /s\n",
		4, "starttls yes cannot be used with ldapi://"},
	{BASE "log-uri ldap://other\n", 7, "duplicate key \"log-uri\" (first set on line 1)"},
	{"log-uri http://h\n", 1, "must start with ldap://, ldaps:// or ldapi://"},
	{"log-uri ldap://h/cn=x\n", 1, "names a DN"},
	{"log-uri ldap://a ldap://b/cn=x\n", 1, "names a DN"},
	{"log-uri ldap://a http://b\n", 1, "must start with ldap://, ldaps:// or ldapi://"},
	{BASE "log-base not a dn\n", 7, "log-base \"not a dn\" is not a valid DN"},
	{BASE "log file\n", 7, "log must be syslog or json, not \"file\""},
	{BASE "user rg-no-such-user-here\n", 7, "user \"rg-no-such-user-here\" does not exist"},
	{BASE "LOG-URI ldap://h\n", 7, "unknown key \"LOG-URI\" (did you mean \"log-uri\"?)"},
};

START_TEST(errors)
{
	const struct bad *b = &bad[_i];
	struct syncd_config cfg;
	char err[SYNCD_ERR], prefix[PATH_MAX + 16];

	write_conf(b->text);
	memset(&cfg, 0xa5, sizeof(cfg));
	ck_assert_int_ne(config_load(conf, &cfg, err, sizeof(err)), 0);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", conf, b->line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		"case %d: want prefix \"%s\", "
		"got \"%s\"",
		_i, prefix, err);
	ck_assert_msg(strstr(err, b->phrase) != NULL, "case %d: want \"%s\" in \"%s\"", _i,
		b->phrase, err);
	ck_assert_msg(is_zero(&cfg), "case %d: config not zeroed", _i);
}
END_TEST

START_TEST(no_file)
{
	struct syncd_config cfg;
	char err[SYNCD_ERR], path[PATH_MAX], want[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/absent.conf", dir);
	snprintf(want, sizeof(want), "%s: cannot open: ", path);
	ck_assert_int_ne(config_load(path, &cfg, err, sizeof(err)), 0);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert(is_zero(&cfg));
	/* a NUL byte inside a line is refused rather than cutting the line short */
	write_file(conf, BASE "log json\0x\n", sizeof(BASE "log json\0x\n") - 1, 0644);
	ck_assert_int_ne(config_load(conf, &cfg, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, ":7: line contains a NUL byte") != NULL, "%s", err);
}
END_TEST

static int
secret(const char *data, size_t len, mode_t mode, char **out, char *err, size_t errlen)
{
	write_file(sec, data, len, mode);
	return securefile_read_secret("secret", sec, out, err, errlen);
}

START_TEST(secret_ok)
{
	static const struct {
		const char *data, *want;
	} ok[] = {
		{"s3cret\n", "s3cret"},
		{"s3cret\r\n", "s3cret"},
		{"s3cret", "s3cret"},
		{"first line\nsecond line\n", "first line"},
		{" spaces kept \n", " spaces kept "},
	};
	char err[SYNCD_ERR], *s, *big;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(secret(ok[i].data, strlen(ok[i].data), 0600, &s, err, sizeof(err)) ==
				0,
			"%s", err);
		ck_assert_str_eq(s, ok[i].want);
		securefile_free_secret(s);
	}
	ck_assert_int_eq(secret("x\n", 2, 0400, &s, err, sizeof(err)), 0);
	securefile_free_secret(s);
	securefile_free_secret(NULL);
	big = malloc(4097);
	memset(big, 'a', 4096);
	big[4096] = '\n';
	ck_assert_msg(secret(big, 4097, 0600, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(s), 4096);
	securefile_free_secret(s);
	ck_assert_msg(secret(big, 4096, 0600, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(s), 4096);
	securefile_free_secret(s);
	free(big);
}
END_TEST

START_TEST(secret_refused)
{
	char err[SYNCD_ERR], want[2 * PATH_MAX + 64], link[PATH_MAX], *s = (char *)1, *big;

	ck_assert_int_ne(secret("pw\n", 3, 0644, &s, err, sizeof(err)), 0);
	ck_assert_ptr_null(s);
	snprintf(want, sizeof(want), "secret %s is readable by group or others: chmod 600 %s", sec,
		sec);
	ck_assert_str_eq(err, want);
	ck_assert_int_ne(secret("pw\n", 3, 0604, &s, err, sizeof(err)), 0);
	ck_assert_str_eq(err, want);
	ck_assert_int_ne(secret("pw\n", 3, 0620, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is writable by group or others: chmod 600 "), "%s", err);
	ck_assert_int_ne(secret("pw\n", 3, 0601, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "by group or others: chmod 600 "), "%s", err);

	ck_assert_int_ne(secret("", 0, 0600, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is empty"), "%s", err);
	ck_assert_int_ne(secret("\nsecond\n", 8, 0600, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is empty"), "%s", err);
	ck_assert_int_ne(secret("\r\n", 2, 0600, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is empty"), "%s", err);
	ck_assert_int_ne(secret("a\0b\n", 4, 0600, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "NUL byte"), "%s", err);

	big = malloc(5000);
	memset(big, 'a', 5000);
	ck_assert_int_ne(secret(big, 4097, 0600, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "longer than 4096 bytes"), "%s", err);
	ck_assert_int_ne(secret(big, 5000, 0600, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "longer than 4096 bytes"), "%s", err);
	free(big);

	/* a symlink to a perfectly good secret file is still refused */
	ck_assert_int_eq(secret("pw\n", 3, 0600, &s, err, sizeof(err)), 0);
	securefile_free_secret(s);
	snprintf(link, sizeof(link), "%s/link", dir);
	unlink(link);
	ck_assert_int_eq(symlink(sec, link), 0);
	ck_assert_int_ne(securefile_read_secret("secret", link, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is a symbolic link"), "%s", err);
	unlink(link);

	ck_assert_int_ne(securefile_read_secret("secret", dir, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is not a regular file"), "%s", err);
	/* a FIFO must neither hang the daemon nor pass for a secret */
	snprintf(link, sizeof(link), "%s/fifo", dir);
	unlink(link);
	ck_assert_int_eq(mkfifo(link, 0600), 0);
	ck_assert_int_ne(securefile_read_secret("secret", link, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is not a regular file"), "%s", err);
	ck_assert_ptr_null(securefile_load_key("key-file", link, err, sizeof(err)));
	ck_assert_msg(strstr(err, "key-file ") && strstr(err, "is not a regular file"), "%s", err);
	unlink(link);
	snprintf(link, sizeof(link), "%s/absent", dir);
	ck_assert_int_ne(securefile_read_secret("secret", link, &s, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "cannot open"), "%s", err);
}
END_TEST

START_TEST(json_log)
{
	char path[PATH_MAX], line[2048];
	int saved, fd, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_init("json", 0);
	log_msg(LOG_INFO, "delivered", "target %s: \"quoted\" \\ and\nnewline", "t1");
	log_msg(LOG_DEBUG, "noise", "dropped without -d");
	log_msg(LOG_WARNING, "retry", "latin-1 \xe9 byte");
	log_init("json", 1);
	log_msg(LOG_DEBUG, "detail", "%d", 42);
	log_msg(LOG_CRIT, "failed", "%s", "");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	static const char *const want[][3] = {
		{"info", "delivered", "target t1: \"quoted\" \\ and\nnewline"},
		{"warning", "retry", "latin-1 ? byte"},
		{"debug", "detail", "42"},
		{"err", "failed", ""},
	};
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr);
		const char *time, *level, *event, *msg;

		ck_assert_msg(j != NULL, "not JSON: %s", line);
		ck_assert_int_lt(n, 4);
		ck_assert_int_eq(json_unpack(j, "{s:s, s:s, s:s, s:s !}", "time", &time, "level",
					 &level, "event", &event, "msg", &msg),
			0);
		/* 2026-01-02T03:04:05.678Z */
		ck_assert_uint_eq(strlen(time), 24);
		ck_assert(time[10] == 'T' && time[19] == '.' && time[23] == 'Z');
		ck_assert_str_eq(level, want[n][0]);
		ck_assert_str_eq(event, want[n][1]);
		ck_assert_str_eq(msg, want[n][2]);
		json_decref(j);
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, 4);
}
END_TEST

static Suite *
syncd_config_suite(void)
{
	Suite *s = suite_create("syncd-config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, full_config);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, other_valid);
	tcase_add_loop_test(tc, errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, no_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("secret");
	tcase_add_test(tc, secret_ok);
	tcase_add_test(tc, secret_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("log");
	tcase_add_test(tc, json_log);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	char path[PATH_MAX];
	int failed;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/resetguard-syncd.conf", dir);
	snprintf(sec, sizeof(sec), "%s/secret", dir);
	sr = srunner_create(syncd_config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unlink(conf);
	unlink(sec);
	snprintf(path, sizeof(path), "%s/log", dir);
	unlink(path);
	rmdir(dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
