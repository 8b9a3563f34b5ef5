/* Unit tests of the revocation hooks: SET construction (caep), the webhook document and its
 * HMAC (known answers), the exec hook's outcomes, the notify hook's message, configuration
 * checks, and the HTTP client against a throwaway listener on loopback.
 *
 * The hook sources are included so their static builders can be tested directly; link
 * with the hooks' shared sources (Makefile.am's SYNCD_COMMON_SOURCES, hookevent.c, http.c)
 * and librgcore. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <openssl/pem.h>

/* Each file has its own DEFAULT_TIMEOUT (and the exec hook its KEEP). */
#include "../../syncd/hooks/caep.c"
#undef DEFAULT_TIMEOUT
#include "../../syncd/hooks/webhook.c"
#undef DEFAULT_TIMEOUT
#include "../../syncd/hooks/exec.c"
#undef DEFAULT_TIMEOUT
#undef KEEP
#include "../../syncd/hooks/notify.c"
#include "b64url.h"

#define ACCOUNT "uid=alice,ou=people,dc=example,dc=org"
#define CC_URI "https://schemas.openid.net/secevent/caep/event-type/credential-change"
#define SR_URI "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

static char dir[64];
static char p_key[96], p_key_open[96], p_key_ed[96], p_secret[96], p_script[96], p_out[96];
static EVP_PKEY *pub; /* public half of p_key, for signature checks */

static const struct hook_event sample = {42, ACCOUNT, "alice", "self-service", ACCOUNT,
	"20240102030405.000000Z", 1704164645};

/* ---- fixtures ---- */

/* Writes text, or the PEM of k when text is NULL. */
static void
write_file(const char *path, const char *text, EVP_PKEY *k, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert(text ? fputs(text, f) >= 0 : PEM_write_PrivateKey(f, k, 0, 0, 0, 0, 0) == 1);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void
slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
}

static void
setup(void)
{
	EVP_PKEY *ec, *ed;

	signal(SIGPIPE, SIG_IGN);
	strcpy(dir, "/tmp/rg-hooks.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p_key, sizeof(p_key), "%s/sign.pem", dir);
	snprintf(p_key_open, sizeof(p_key_open), "%s/open.pem", dir);
	snprintf(p_key_ed, sizeof(p_key_ed), "%s/ed.pem", dir);
	snprintf(p_secret, sizeof(p_secret), "%s/secret", dir);
	snprintf(p_script, sizeof(p_script), "%s/hook.sh", dir);
	snprintf(p_out, sizeof(p_out), "%s/out", dir);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	ck_assert(ec != NULL && ed != NULL);
	write_file(p_key, NULL, ec, 0600);
	write_file(p_key_open, NULL, ec, 0640);
	write_file(p_key_ed, NULL, ed, 0600);
	pub = ec;
	EVP_PKEY_free(ed);
	write_file(p_secret, "test-webhook-secret\nignored\n", NULL, 0600);
	/* $1: exit status, or "sleep"; stdin and the environment go to the out file. */
	write_file(p_script,
		"#!/bin/sh\ncat > \"$2\"\nenv | sort > \"$2.env\"\n"
		"[ \"$1\" = sleep ] && exec sleep 30\necho \"said $1\" >&2\nexit \"$1\"\n",
		NULL, 0700);
}

static void
teardown(void)
{
	char path[128];
	const char *files[] = {p_key, p_key_open, p_key_ed, p_secret, p_script, p_out};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	snprintf(path, sizeof(path), "%s.env", p_out);
	unlink(path);
	rmdir(dir);
	EVP_PKEY_free(pub);
}

/* ---- helpers ---- */

#define KV(k, v)                                                                                   \
	{                                                                                          \
		(char *)(k), (char *)(v), "test.conf", __LINE__                                    \
	}

static json_t *
decode_seg(const char *tok, int i)
{
	const char *p = tok, *e;
	unsigned char *raw;
	size_t len;
	json_t *j;

	for (; i > 0; i--)
		p = strchr(p, '.') + 1;
	e = strchr(p, '.');
	ck_assert_int_eq(rg_b64url_decode(p, e ? (size_t)(e - p) : strlen(p), &raw, &len), 0);
	j = json_loadb((char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* ES256 over the first two segments, signature R||S converted to DER for OpenSSL. */
static int
sig_ok(const char *tok)
{
	const char *dot2 = strrchr(tok, '.');
	unsigned char *raw = NULL, *der = NULL;
	size_t len;
	int derlen, ok = 0;
	ECDSA_SIG *s = ECDSA_SIG_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (rg_b64url_decode(dot2 + 1, strlen(dot2 + 1), &raw, &len) == 0 && len == 64 &&
		ECDSA_SIG_set0(s, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)) == 1 &&
		(derlen = i2d_ECDSA_SIG(s, &der)) > 0 &&
		EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1)
		ok = EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)tok,
			     (size_t)(dot2 - tok)) == 1;
	free(raw);
	OPENSSL_free(der);
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static struct hook
caep_hook(const char *kid)
{
	struct hook h = {.name = "t", .file = "test.conf", .line = 1};
	struct conf_kv kv[] = {
		KV("url", "https://rp.example/events"),
		KV("issuer", "https://rg.example"),
		KV("audience", "https://rp.example"),
		KV("signing-key", p_key),
		KV("key-id", kid),
	};
	char err[SYNCD_ERR] = "";

	ck_assert_msg(caep_configure(&h, kv, kid ? 5 : 4, err, sizeof(err)) == 0, "%s", err);
	return h;
}

/* ---- caep ---- */

START_TEST(set_exact)
{
	struct hook h = caep_hook("key-1");
	char *tok, err[SYNCD_ERR], txn[65], name[64];
	json_t *hdr, *cl, *want;
	size_t which;
	const char *k;
	json_t *v;

	ck_assert_int_eq(hookevent_txn_id(&sample, txn), 0);
	for (which = 0; which < NEVENTS; which++) {
		ck_assert_msg(caep_build_set(h.priv, &sample, which, 1700000000, &tok, err,
				      sizeof(err)) == 0,
			"%s", err);
		hdr = decode_seg(tok, 0);
		want = json_pack("{s:s, s:s, s:s}", "typ", "secevent+jwt", "alg", "ES256", "kid",
			"key-1");
		ck_assert(json_equal(hdr, want));
		json_decref(want);
		cl = decode_seg(tok, 1);
		ck_assert_int_eq(json_object_size(cl), 7);
		json_object_foreach(cl, k, v)
		{
			snprintf(name, sizeof(name), " %s ", k);
			ck_assert_msg(strstr(" iss aud iat jti txn sub_id events ", name) != NULL,
				"unexpected claim %s", k);
		}
		ck_assert_ptr_null(json_object_get(cl, "sub"));
		ck_assert_ptr_null(json_object_get(cl, "exp"));
		ck_assert_str_eq(json_string_value(json_object_get(cl, "iss")),
			"https://rg.example");
		ck_assert_str_eq(json_string_value(json_object_get(cl, "aud")),
			"https://rp.example");
		ck_assert_int_eq(json_integer_value(json_object_get(cl, "iat")), 1700000000);
		ck_assert_int_eq(strlen(json_string_value(json_object_get(cl, "jti"))), 32);
		ck_assert_str_eq(json_string_value(json_object_get(cl, "txn")), txn);
		want = json_pack("{s:s, s:s, s:s}", "format", "iss_sub", "iss",
			"https://rg.example", "sub", ACCOUNT);
		ck_assert(json_equal(json_object_get(cl, "sub_id"), want));
		json_decref(want);
		if (which == 0)
			want = json_pack("{s:{s:s, s:s, s:s, s:{s:s}, s:I}}", CC_URI,
				"credential_type", "password", "change_type", "update",
				"initiating_entity", "user", "reason_admin", "en",
				"password reset (self-service)", "event_timestamp",
				(json_int_t)1704164645);
		else
			want = json_pack("{s:{s:s, s:{s:s}, s:I}}", SR_URI, "initiating_entity",
				"user", "reason_admin", "en", "password reset (self-service)",
				"event_timestamp", (json_int_t)1704164645);
		ck_assert_msg(json_equal(json_object_get(cl, "events"), want), "events of SET %zu",
			which);
		json_decref(want);
		ck_assert(sig_ok(tok));
		json_decref(hdr);
		json_decref(cl);
		free(tok);
	}
	caep_free(&h);
}
END_TEST

START_TEST(set_ids_and_subjects)
{
	struct hook h = caep_hook(NULL);
	struct hook_event ev = sample;
	char *t1, *t2, err[SYNCD_ERR], a[65], b[65];
	json_t *c1, *c2, *hdr, *ent;

	ck_assert_int_eq(caep_build_set(h.priv, &ev, 1, 1, &t1, err, sizeof(err)), 0);
	ck_assert_int_eq(caep_build_set(h.priv, &ev, 1, 2, &t2, err, sizeof(err)), 0);
	hdr = decode_seg(t1, 0);
	ck_assert_ptr_null(json_object_get(hdr, "kid")); /* no key-id, no kid */
	c1 = decode_seg(t1, 1);
	c2 = decode_seg(t2, 1);
	/* The same change: the same txn on every retry, a new jti for every token. */
	ck_assert(json_equal(json_object_get(c1, "txn"), json_object_get(c2, "txn")));
	ck_assert(!json_equal(json_object_get(c1, "jti"), json_object_get(c2, "jti")));
	json_decref(hdr);
	json_decref(c1);
	json_decref(c2);
	free(t1);
	free(t2);

	ck_assert_int_eq(hookevent_txn_id(&ev, a), 0);
	ck_assert_str_eq(a, "7461d9a262deda73df4395a73386e4d283b306d84974d409989b104423d9631c");
	ev.number = 43;
	ck_assert_int_eq(hookevent_txn_id(&ev, b), 0);
	ck_assert_str_ne(a, b);
	ev.number = 42;
	ev.account = "uid=bob,ou=people,dc=example,dc=org";
	ck_assert_int_eq(hookevent_txn_id(&ev, b), 0);
	ck_assert_str_ne(a, b);

	/* Without an account DN the subject is the RDN value, as an opaque id. */
	ev.account = NULL;
	ev.kind = "break-glass";
	ck_assert_int_eq(caep_build_set(h.priv, &ev, 0, 1, &t1, err, sizeof(err)), 0);
	c1 = decode_seg(t1, 1);
	hdr = json_pack("{s:s, s:s}", "format", "opaque", "id", "alice");
	ck_assert(json_equal(json_object_get(c1, "sub_id"), hdr));
	ent = json_object_get(json_object_get(json_object_get(c1, "events"), CC_URI),
		"initiating_entity");
	ck_assert_str_eq(json_string_value(ent), "admin");
	json_decref(hdr);
	json_decref(c1);
	free(t1);
	ck_assert_str_eq(initiating_entity("self-change"), "user");
	ck_assert_str_eq(initiating_entity("delegated"), "admin");
	ck_assert_str_eq(initiating_entity("something-new"), "system");
	caep_free(&h);
}
END_TEST

/* configure() with one line, expecting failure with msg in the text. */
static void
refused(const struct hook_ops *ops, struct conf_kv *kv, size_t n, const char *msg)
{
	struct hook h = {.name = "t", .file = "test.conf", .line = 1};
	char err[SYNCD_ERR] = "";

	ck_assert_int_ne(ops->configure(&h, kv, n, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, msg) != NULL, "\"%s\" not in \"%s\"", msg, err);
	ck_assert_ptr_null(h.priv);
	ops->free(&h);
}

START_TEST(caep_config)
{
	struct conf_kv kv[] = {
		KV("url", "https://rp.example/"),
		KV("issuer", "i"),
		KV("audience", "a"),
		KV("signing-key", p_key),
		KV("x", "y"),
	};
	char err[SYNCD_ERR];
	char *out = NULL;

	refused(&hook_caep_ops, kv, 5, "unknown key \"x\"");
	refused(&hook_caep_ops, kv + 1, 3, "needs url");
	kv[4] = (struct conf_kv)KV("issuer", "again");
	refused(&hook_caep_ops, kv, 5, "issuer given twice");
	kv[4] = (struct conf_kv)KV("events", "session-revoked sessions");
	refused(&hook_caep_ops, kv, 5, "unknown event \"sessions\"");
	kv[4] = (struct conf_kv)KV("timeout", "0");
	refused(&hook_caep_ops, kv, 5, "timeout takes a whole number of seconds");
	kv[4] = (struct conf_kv)KV("tls-ca-file", p_secret);
	refused(&hook_caep_ops, kv, 5, "holds no PEM certificate");
	kv[3] = (struct conf_kv)KV("signing-key", p_key_open);
	refused(&hook_caep_ops, kv, 4, "readable by group or others");
	kv[3] = (struct conf_kv)KV("signing-key", p_key_ed);
	refused(&hook_caep_ops, kv, 4, "must be an EC P-256 key");
	kv[3] = (struct conf_kv)KV("signing-key", p_key);
	kv[0] = (struct conf_kv)KV("url", "http://rp.example/");
	refused(&hook_caep_ops, kv, 4, "only allowed to a loopback host");

	/* rg_jws_sign_header refuses a header whose alg the key cannot make. */
	ck_assert_int_ne(rg_jws_sign_header(pub, "{\"alg\":\"EdDSA\"}", "{}", &out, err,
				 sizeof(err)),
		0);
	ck_assert_int_ne(rg_jws_sign_header(pub, "[1]", "{}", &out, err, sizeof(err)), 0);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(caep_outcomes)
{
	struct http_response r = {0};
	char err[SYNCD_ERR];

	r.status = 202;
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_DONE);
	r.status = 400;
	r.body = "{\"err\":\"invalid_audience\",\"description\":\"not\\nus\"}";
	r.body_len = strlen(r.body);
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_FAIL);
	ck_assert_str_eq(err, "receiver refused the SET: invalid_audience: not?us");
	r.body = "<html>bad</html>";
	r.body_len = strlen(r.body);
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_FAIL);
	ck_assert_str_eq(err, "receiver answered HTTP 400: <html>bad</html>");
	r.body = NULL;
	r.body_len = 0;
	r.status = 503;
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_RETRY);
	r.status = 429;
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_RETRY);
	r.status = 200; /* RFC 8935 says 202; anything else is not an acceptance */
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_FAIL);
	r.status = 401;
	ck_assert_int_eq(caep_outcome(&r, err, sizeof(err)), HOOK_FAIL);
}
END_TEST

/* ---- webhook ---- */

START_TEST(webhook_known_answers)
{
	static const char body[] =
		"{\"event\":\"password-changed\",\"change_number\":42,"
		"\"account\":\"" ACCOUNT "\",\"uid\":\"alice\",\"kind\":\"self-service\","
		"\"requester\":\"" ACCOUNT "\",\"time\":\"20240102030405.000000Z\"}";
	struct hook h = {.name = "t", .file = "test.conf", .line = 1};
	struct conf_kv kv[] = {KV("url", "https://rp.example/hook"), KV("secret-file", p_secret),
		KV("timeout", "5")};
	struct hook_event ev = sample;
	char sig[72], err[SYNCD_ERR], *j;

	j = hookevent_json(&sample);
	ck_assert_str_eq(j, body);
	free(j);
	ev.rdn_value = NULL;
	ev.requester = NULL;
	j = hookevent_json(&ev);
	ck_assert_ptr_nonnull(
		strstr(j, "\"uid\":null,\"kind\":\"self-service\",\"requester\":null"));
	free(j);

	/* RFC 4231 test case 2, then the document above under the test secret. */
	ck_assert_int_eq(webhook_signature("Jefe", "what do ya want for nothing?", 28, sig), 0);
	ck_assert_str_eq(sig,
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	ck_assert_msg(webhook_configure(&h, kv, 3, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(((struct webhook *)h.priv)->secret, "test-webhook-secret");
	ck_assert_int_eq(((struct webhook *)h.priv)->timeout, 5);
	ck_assert_int_eq(webhook_signature(((struct webhook *)h.priv)->secret, body, strlen(body),
				 sig),
		0);
	ck_assert_str_eq(sig,
		"sha256=28090d4775442081131b7affb37e8c712c25126fee6ed6ef3ff6e99413b6e23c");
	webhook_free(&h);

	kv[1] = (struct conf_kv)KV("secret-file", p_key_open);
	refused(&hook_webhook_ops, kv, 2, "readable by group or others");
	refused(&hook_webhook_ops, kv, 1, "needs secret-file");
	kv[0] = (struct conf_kv)KV("url", "ftp://rp.example/");
	refused(&hook_webhook_ops, kv, 1, "scheme must be https");
}
END_TEST

/* ---- exec ---- */

static enum hook_result
run_exec(const char *arg, const char *timeout, char *err, size_t len)
{
	struct hook h = {.name = "t", .file = "test.conf", .line = 1};
	char args[160];
	struct conf_kv kv[] = {KV("command", p_script), KV("args", args), KV("timeout", timeout)};
	enum hook_result r;

	snprintf(args, sizeof(args), "%s %s", arg, p_out);
	ck_assert_msg(exec_configure(&h, kv, 3, err, len) == 0, "%s", err);
	r = exec_fire(&h, &sample, err, len);
	exec_free(&h);
	return r;
}

START_TEST(exec_outcomes)
{
	char err[SYNCD_ERR] = "", buf[1024], path[128], *want;

	setenv("RG_TEST_LEAK", "must-not-reach-the-command", 1);
	ck_assert_int_eq(run_exec("0", "5", err, sizeof(err)), HOOK_DONE);
	/* stdin is exactly the webhook document; the environment is PATH (and what sh adds). */
	slurp(p_out, buf, sizeof(buf));
	want = hookevent_json(&sample);
	ck_assert_str_eq(buf, want);
	free(want);
	snprintf(path, sizeof(path), "%s.env", p_out);
	slurp(path, buf, sizeof(buf));
	ck_assert_ptr_null(strstr(buf, "RG_TEST_LEAK"));
	ck_assert_ptr_nonnull(strstr(buf, "PATH=/usr/local/bin:/usr/bin:/bin"));
	ck_assert_ptr_nonnull(strstr(buf, "PWD=/\n"));

	ck_assert_int_eq(run_exec("75", "5", err, sizeof(err)), HOOK_RETRY);
	ck_assert_ptr_nonnull(strstr(err, "exited with status 75: said 75"));
	ck_assert_int_eq(run_exec("3", "5", err, sizeof(err)), HOOK_FAIL);
	ck_assert_ptr_nonnull(strstr(err, "exited with status 3: said 3"));
	ck_assert_int_eq(run_exec("sleep", "1", err, sizeof(err)), HOOK_RETRY);
	ck_assert_ptr_nonnull(strstr(err, "did not finish within 1 s; killed"));
}
END_TEST

START_TEST(exec_config)
{
	struct conf_kv kv[] = {KV("command", "bin/true"), KV("args", "a")};

	refused(&hook_exec_ops, kv, 1, "must be an absolute path");
	refused(&hook_exec_ops, kv + 1, 1, "needs command");
	ck_assert_int_eq(chmod(p_script, 0720), 0);
	kv[0] = (struct conf_kv)KV("command", p_script);
	refused(&hook_exec_ops, kv, 1, "writable by group or others");
	ck_assert_int_eq(chmod(p_script, 0700), 0);
	kv[0] = (struct conf_kv)KV("command", dir);
	refused(&hook_exec_ops, kv, 1, "not an executable file");
}
END_TEST

/* ---- notify ---- */

/* A sendmail that keeps its arguments and the message: "$out.args", "$out". $RG_EXIT
 * cannot reach it (the environment is PATH only), so the status is in its name. */
static void
fake_sendmail(const char *path, int status)
{
	char text[512];

	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$@\" > %s.args\ncat > %s\n"
		"echo 'sendmail: said so' >&2\nexit %d\n", p_out, p_out, status);
	write_file(path, text, NULL, 0700);
}

static struct hook
notify_hook(const char *program, const char *tmpl)
{
	struct hook h = {.name = "n", .file = "test.conf", .line = 1};
	struct conf_kv kv[] = {
		KV("sendmail-program", program),
		KV("from", "Password service <noreply@example.org>"),
		KV("report-contact", "the service desk, +1 555 0100"),
		KV("template-file", tmpl),
	};
	char err[SYNCD_ERR] = "";

	ck_assert_msg(notify_configure(&h, kv, tmpl ? 4 : 3, err, sizeof(err)) == 0, "%s", err);
	return h;
}

START_TEST(notify_message)
{
	char *mail[] = {"alice@example.org", "not an address", "bcc@evil\nBcc: x@evil",
		"alice.private@example.net", NULL};
	struct hook_event ev = sample;
	struct hook h;
	char err[SYNCD_ERR] = "", buf[4096], args[128], tmpl[128];

	fake_sendmail(p_script, 0);
	h = notify_hook(p_script, NULL);
	ck_assert_str_eq(notify_attr(&h), "mail");
	ev.account_values = mail;
	ev.rdn_value = "alice\nBcc: injected@evil";
	ck_assert_msg(notify_fire(&h, &ev, err, sizeof(err)) == HOOK_DONE, "%s", err);
	slurp(p_out, buf, sizeof(buf));
	snprintf(args, sizeof(args), "%s.args", p_out);
	slurp(args, tmpl, sizeof(tmpl));
	ck_assert_str_eq(tmpl, "-t -oi\n");
	/* the two usable addresses, nothing a value could smuggle in as a header */
	ck_assert_ptr_nonnull(strstr(buf, "From: Password service <noreply@example.org>\n"
		"To: alice@example.org, alice.private@example.net\nSubject: "));
	ck_assert_ptr_null(strstr(buf, "\nBcc:"));
	ck_assert_ptr_nonnull(strstr(buf, "your account alice Bcc: injected@evil was changed "
		"on 2024-01-02 03:04:05 UTC,\nthrough the self-service password reset"));
	ck_assert_ptr_nonnull(strstr(buf, "to the service desk, +1 555 0100, quoting reference 42."));
	notify_free(&h);

	/* every placeholder of a template of one's own */
	snprintf(tmpl, sizeof(tmpl), "%s/tmpl", dir);
	write_file(tmpl, "To: %m\r\nFrom: %f\r\n\r\n%a|%u|%t|%k|%w|%r|%n|%c|100%%\r\n", NULL,
		0644);
	h = notify_hook(p_script, tmpl);
	ev = sample;
	ev.kind = "delegated";
	ev.requester = "uid=hd,ou=staff,dc=example,dc=org";
	ev.account_values = mail;
	ck_assert_msg(notify_fire(&h, &ev, err, sizeof(err)) == HOOK_DONE, "%s", err);
	slurp(p_out, buf, sizeof(buf));
	ck_assert_str_eq(buf, "To: alice@example.org, alice.private@example.net\n"
		"From: Password service <noreply@example.org>\n\n" ACCOUNT "|alice|"
		"2024-01-02 03:04:05 UTC|delegated|by the help desk or an administrator|"
		"uid=hd,ou=staff,dc=example,dc=org|42|the service desk, +1 555 0100|100%\n");

	/* no address: failed, and nothing sent */
	unlink(p_out);
	ev.account_values = (char *[]){"nobody", NULL};
	ck_assert_int_eq(notify_fire(&h, &ev, err, sizeof(err)), HOOK_FAIL);
	ck_assert_ptr_nonnull(strstr(err, "has no usable address in mail: nobody to notify"));
	ck_assert_int_ne(access(p_out, F_OK), 0);
	notify_free(&h);
	unlink(tmpl);

	/* sendmail's temporary failure is a retry, any other a failure, with its words */
	ev.account_values = mail;
	fake_sendmail(p_script, 75);
	h = notify_hook(p_script, NULL);
	ck_assert_int_eq(notify_fire(&h, &ev, err, sizeof(err)), HOOK_RETRY);
	ck_assert_ptr_nonnull(strstr(err, "exited with status 75: sendmail: said so"));
	notify_free(&h);
	fake_sendmail(p_script, 67);
	h = notify_hook(p_script, NULL);
	ck_assert_int_eq(notify_fire(&h, &ev, err, sizeof(err)), HOOK_FAIL);
	notify_free(&h);
	unlink(args);
}
END_TEST

START_TEST(notify_config)
{
	char tmpl[128];
	struct conf_kv kv[] = {
		KV("sendmail-program", p_script),
		KV("from", "noreply@example.org"),
		KV("report-contact", "the service desk"),
		KV("template-file", tmpl),
		KV("colour", "blue"),
	};

	snprintf(tmpl, sizeof(tmpl), "%s/tmpl", dir);
	refused(&hook_notify_ops, kv, 5, "unknown key \"colour\"");
	refused(&hook_notify_ops, kv, 1, "needs from");
	refused(&hook_notify_ops, kv, 2, "needs report-contact");
	if (access(DEFAULT_PROGRAM, X_OK) != 0)
		refused(&hook_notify_ops, kv + 1, 2, "sendmail-program (the default: set it");
	write_file(tmpl, "Subject: x\n\nbody %m\n", NULL, 0644);
	refused(&hook_notify_ops, kv, 4, "no \"To: %m\" header");
	write_file(tmpl, "To: %m\nbody\n", NULL, 0644);
	refused(&hook_notify_ops, kv, 4, "no empty line after the headers");
	write_file(tmpl, "To: %m\n\n%p\n", NULL, 0644);
	refused(&hook_notify_ops, kv, 4, "unknown placeholder \"%p\"");
	write_file(tmpl, "To: %m\n\nfine\n", NULL, 0646);
	refused(&hook_notify_ops, kv, 4, "writable by group or others");
	kv[4] = (struct conf_kv)KV("mail-attribute", "mail)(x");
	refused(&hook_notify_ops, kv + 1, 4, "is not an attribute name");
	kv[1] = (struct conf_kv)KV("from", "a@b\nBcc: c@d");
	refused(&hook_notify_ops, kv, 3, "control characters are not allowed");
	unlink(tmpl);
}
END_TEST

/* ---- http client ---- */

struct canned {
	int fd;
	const char *reply;
	size_t pad; /* bytes of body beyond reply */
	char req[4096];
};

/* Accepts one connection, reads the request head and body, sends the canned reply. */
static void *
serve_once(void *arg)
{
	struct canned *c = arg;
	size_t got = 0;
	ssize_t r;
	char *body, *pad, *cl;
	int s = accept(c->fd, NULL, NULL);

	if (s < 0)
		return NULL;
	while (got < sizeof(c->req) - 1 &&
		(r = read(s, c->req + got, sizeof(c->req) - 1 - got)) > 0) {
		got += (size_t)r;
		c->req[got] = '\0';
		body = strstr(c->req, "\r\n\r\n");
		cl = strcasestr(c->req, "Content-Length:");
		if (body != NULL && (cl == NULL || strlen(body + 4) >= (size_t)atoi(cl + 15)))
			break;
	}
	if (write(s, c->reply, strlen(c->reply)) < 0)
		goto out;
	pad = calloc(1, c->pad + 1);
	memset(pad, 'x', c->pad);
	if (c->pad > 0 && write(s, pad, c->pad) < 0)
		c->pad = 0;
	free(pad);
out:
	close(s);
	return NULL;
}

static void
post_canned(struct canned *c, struct http_response *resp, int *rc, char *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof(sa);
	struct http_header extra = {"X-Test", "1"};
	struct http_request rq = {.content_type = "application/json",
		.accept = "text/plain",
		.headers = &extra,
		.nheaders = 1,
		.body = "{\"a\":1}",
		.body_len = 7,
		.timeout = 5};
	char url[64];
	pthread_t th;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(c->fd, 1), 0);
	ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/p?q=1", ntohs(sa.sin_port));
	rq.url = url;
	ck_assert_int_eq(pthread_create(&th, NULL, serve_once, c), 0);
	*rc = http_post(&rq, resp, err, SYNCD_ERR);
	pthread_join(th, NULL);
	close(c->fd);
}

START_TEST(http_client)
{
	struct canned c = {.reply = "HTTP/1.1 400 Bad\r\nContent-Length: 5\r\n\r\nhello"};
	struct http_response resp;
	char err[SYNCD_ERR] = "";
	int rc;

	post_canned(&c, &resp, &rc, err);
	ck_assert_msg(rc == RG_HTTP_OK, "%s", err);
	ck_assert_int_eq(resp.status, 400);
	ck_assert_str_eq(resp.body, "hello");
	ck_assert_ptr_nonnull(strstr(c.req, "POST /p?q=1 HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strcasestr(c.req, "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strcasestr(c.req, "Accept: text/plain\r\n"));
	ck_assert_ptr_nonnull(strcasestr(c.req, "X-Test: 1\r\n"));
	ck_assert_ptr_nonnull(strstr(c.req, "\r\n\r\n{\"a\":1}"));
	http_response_free(&resp);

	/* A large answer is cut at the cap, the rest read and dropped. */
	c = (struct canned){.reply = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
		.pad = 100000};
	post_canned(&c, &resp, &rc, err);
	ck_assert_msg(rc == RG_HTTP_OK, "%s", err);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.body_len, RG_HTTP_MAX_RESPONSE);
	ck_assert_int_eq(resp.truncated, 1);
	http_response_free(&resp);

	ck_assert_int_eq(http_check_url("https://rp.example:8443/x", err, sizeof(err)), 0);
	ck_assert_int_eq(http_check_url("http://127.0.0.2:8080/", err, sizeof(err)), 0);
	ck_assert_int_eq(http_check_url("http://localhost/", err, sizeof(err)), 0);
	ck_assert_int_eq(http_check_url("http://[::1]:99/", err, sizeof(err)), 0);
	ck_assert_int_ne(http_check_url("http://[::2]/", err, sizeof(err)), 0);
	ck_assert_int_ne(http_check_url("http://rp.example/", err, sizeof(err)), 0);
	ck_assert_int_ne(http_check_url("https://user:pw@rp.example/", err, sizeof(err)), 0);
	ck_assert_int_ne(http_check_url("rp.example/x", err, sizeof(err)), 0);
	ck_assert_int_ne(http_check_url("https://", err, sizeof(err)), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("hooks");
	TCase *tc = tcase_create("hooks");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, set_exact);
	tcase_add_test(tc, set_ids_and_subjects);
	tcase_add_test(tc, caep_config);
	tcase_add_test(tc, caep_outcomes);
	tcase_add_test(tc, webhook_known_answers);
	tcase_add_test(tc, exec_outcomes);
	tcase_add_test(tc, exec_config);
	tcase_add_test(tc, notify_message);
	tcase_add_test(tc, notify_config);
	tcase_add_test(tc, http_client);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
