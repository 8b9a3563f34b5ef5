/* The ad target: Active Directory keeps its password in unicodePwd, which it accepts only
 * as a REPLACE (an administrative reset) whose value is the password in double quotes,
 * encoded UTF-16LE, and only over an encrypted connection. Like 389-DS winsync, a bind
 * with the new password comes first so that a password AD already has is not written again
 * (AD's history would count it, and two directories syncing each other would ping-pong). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ad.h"
#include "confkv.h"
#include "dirconn.h"
#include "errbuf.h"

static void
put16(unsigned char *buf, size_t *o, unsigned v)
{
	buf[(*o)++] = v & 0xff;
	buf[(*o)++] = v >> 8;
}

int
ad_encode_password(const unsigned char *pw, size_t len, unsigned char **out, size_t *outlen)
{
	/* each UTF-8 sequence of n bytes gives at most n UTF-16 bytes, but ASCII gives 2 */
	unsigned char *buf = malloc(2 * len + 4);
	size_t i = 0, o = 0, k, need;
	unsigned long cp, min;
	int ret = -1;

	*out = NULL;
	*outlen = 0;
	if (!buf)
		goto out;
	put16(buf, &o, '"');
	while (i < len) {
		unsigned char c = pw[i];
		if (c < 0x80) {
			cp = c, need = 0, min = 0;
		} else if ((c & 0xe0) == 0xc0) {
			cp = c & 0x1f, need = 1, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			cp = c & 0x0f, need = 2, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			cp = c & 0x07, need = 3, min = 0x10000;
		} else {
			goto out;
		}
		if (len - i - 1 < need)
			goto out;
		for (k = 1; k <= need; k++) {
			if ((pw[i + k] & 0xc0) != 0x80)
				goto out;
			cp = cp << 6 | (pw[i + k] & 0x3f);
		}
		/* overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8 */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto out;
		i += need + 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			put16(buf, &o, 0xd800 | (unsigned)(cp >> 10));
			put16(buf, &o, 0xdc00 | (unsigned)(cp & 0x3ff));
		} else {
			put16(buf, &o, (unsigned)cp);
		}
	}
	put16(buf, &o, '"');
	*out = buf;
	*outlen = o;
	buf = NULL;
	ret = 0;
out:
	if (buf) {
		OPENSSL_cleanse(buf, 2 * len + 4);
		free(buf);
	}
	return ret;
}

struct ad_target {
	struct dirconn c;
};

static int
ad_configure(struct target *t, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct ad_target *p = calloc(1, sizeof(*p));
	int ret = -1, rc;
	size_t i;

	if (!p) {
		confkv_err(err, errlen, t->file, t->line, "out of memory");
		goto out;
	}
	dirconn_init(&p->c, "ad");
	for (i = 0; i < n; i++) {
		rc = dirconn_conf_key(&p->c, &kv[i], err, errlen);
		if (rc < 0)
			goto out;
		if (rc == 0) {
			confkv_err(err, errlen, kv[i].file, kv[i].line,
				"unknown key \"%s\" in "
				"an ad target (known: uri, bind-dn, bind-password-file, starttls, "
				"tls-ca-file, tls-verify, map-template, map-search-base, "
				"map-search-filter, bind-check, timeout)",
				kv[i].key);
			goto out;
		}
	}
	if (dirconn_conf_check(&p->c, t, err, errlen))
		goto out;
	if (p->c.scheme != DC_LDAPS && !p->c.starttls) {
		confkv_err(err, errlen, t->file, p->c.uri_line,
			"Active Directory accepts "
			"unicodePwd only over an encrypted connection: use an ldaps:// uri or "
			"starttls yes");
		goto out;
	}
	t->priv = p;
	p = NULL;
	ret = 0;
out:
	if (p) {
		dirconn_free(&p->c);
		free(p);
	}
	return ret;
}

/* The value to write, and the write's result code once made. */
struct ad_write {
	struct berval v;
	int rc;
};

static int
write_unicodepwd(LDAP *ld, const char *dn, const struct delivery *d, void *arg)
{
	struct ad_write *w = arg;
	struct berval *vals[] = {&w->v, NULL};
	LDAPMod mod, *mods[] = {&mod, NULL};

	/* a REPLACE is AD's administrative reset: no old password needed, policy applies */
	mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
	mod.mod_type = (char *)"unicodePwd";
	mod.mod_bvalues = vals;
	w->rc = ldap_modify_ext_s(ld, dn, mods, NULL, NULL);
	return w->rc;
}

#define AD_NO_RIGHT "bind-dn lacks the Reset Password right"

/* Active Directory's diagnostic text holds a Win32 error code in hex ("0000052D: ..."),
 * the same whatever the LDAP result code (Windows answers a policy refusal with
 * constraintViolation or unwillingToPerform, and its text names no rule); the codes an
 * operator meets, said plainly first. Both are permanent whatever the result code: a
 * retry meets the same answer. */
static const struct {
	const char *code, *says;
} ad_codes[] = {
	{"0000052D", "refused by the domain's password policy"},
	{"00000005", AD_NO_RIGHT},
};

/* 1 when err holds one of ad_codes, or the write was refused for access (Samba says so
 * with no code), then said plainly first; 0 otherwise. */
static int
ad_explain(int write_rc, char *err, size_t errlen)
{
	char was[SYNCD_ERR], needle[16];
	const char *says = write_rc == LDAP_INSUFFICIENT_ACCESS ? AD_NO_RIGHT : NULL;
	size_t i;

	for (i = 0; !says && i < sizeof(ad_codes) / sizeof(ad_codes[0]); i++) {
		/* ": CODE:", where the server's text starts: not a DN that holds the digits */
		snprintf(needle, sizeof(needle), ": %s:", ad_codes[i].code);
		if (strstr(err, needle))
			says = ad_codes[i].says;
	}
	if (!says)
		return 0;
	snprintf(was, sizeof(was), "%s", err);
	rg_seterr(err, errlen, "%s: %s", says, was);
	return 1;
}

static enum delivery_result
ad_deliver(struct target *t, const struct delivery *d, char *err, size_t errlen)
{
	struct ad_target *p = t->priv;
	struct ad_write w = {{0, NULL}, LDAP_SUCCESS};
	unsigned char *enc = NULL;
	size_t enclen = 0;
	enum delivery_result r = DELIVERY_FAIL;

	if (ad_encode_password(d->password, d->password_len, &enc, &enclen) != 0) {
		rg_seterr(err, errlen, "the new password of %s is not valid UTF-8: not delivered",
			d->account);
		goto out;
	}
	w.v.bv_val = (char *)enc;
	w.v.bv_len = enclen;
	r = dirconn_deliver(&p->c, d, "modify unicodePwd", write_unicodepwd, &w, err, errlen);
	if (r != DELIVERY_DONE && ad_explain(w.rc, err, errlen))
		r = DELIVERY_FAIL;
out:
	if (enc)
		OPENSSL_cleanse(enc, enclen);
	free(enc);
	return r;
}

static void
ad_disconnect(struct target *t)
{
	struct ad_target *p = t->priv;

	if (p)
		dirconn_disconnect(&p->c);
}

static void
ad_free(struct target *t)
{
	struct ad_target *p = t->priv;

	if (p) {
		dirconn_free(&p->c);
		free(p);
	}
	t->priv = NULL;
}

const struct target_ops target_ad_ops = {
	.kind = "ad",
	.configure = ad_configure,
	.deliver = ad_deliver,
	.disconnect = ad_disconnect,
	.free = ad_free,
};
