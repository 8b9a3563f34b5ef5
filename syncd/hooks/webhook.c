/* Hook kind "webhook": POSTs a small JSON document about the change, signed with
 * HMAC-SHA256 under a shared secret, so the receiver can tell it came from us and was not
 * altered. The receiver must compare the signature over the exact bytes it received. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "confkv.h"
#include "errbuf.h"
#include "hook.h"
#include "hookevent.h"
#include "http.h"
#include "securefile.h"

#define DEFAULT_TIMEOUT 10

struct webhook {
	char *url;
	char *secret; /* the HMAC key: first line of secret-file */
	char *ca_file;
	int timeout;
};

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* "sha256=" and the lower-case hex HMAC-SHA256 of body under secret. */
static int
webhook_signature(const char *secret, const char *body, size_t len, char out[72])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
		    &maclen) == NULL ||
		maclen != 32)
		return -1;
	memcpy(out, "sha256=", 7);
	hex(mac, maclen, out + 7);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

static void
webhook_free(struct hook *h)
{
	struct webhook *w = h->priv;

	if (w == NULL)
		return;
	free(w->url);
	if (w->secret != NULL)
		securefile_free_secret(w->secret);
	free(w->ca_file);
	free(w);
	h->priv = NULL;
}

static int
webhook_configure(struct hook *h, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct webhook *w;
	const struct conf_kv *secret_kv = NULL;
	char *secret_file = NULL, why[SYNCD_ERR];
	int timeout_line = 0;
	size_t i;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return confkv_err(err, errlen, h->file, h->line, "out of memory");
	h->priv = w;
	w->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < n; i++) {
		const struct conf_kv *k = &kv[i];

		if (strcmp(k->key, "url") == 0) {
			if (confkv_set_once(&w->url, k, err, errlen) != 0)
				goto fail;
			if (http_check_url(k->value, why, sizeof(why)) != 0) {
				confkv_err(err, errlen, k->file, k->line, "url: %s", why);
				goto fail;
			}
		} else if (strcmp(k->key, "secret-file") == 0) {
			if (confkv_set_once(&secret_file, k, err, errlen) != 0)
				goto fail;
			secret_kv = k;
		} else if (strcmp(k->key, "tls-ca-file") == 0) {
			if (confkv_set_once(&w->ca_file, k, err, errlen) != 0)
				goto fail;
			if (http_check_ca_file(k->value, why, sizeof(why)) != 0) {
				confkv_err(err, errlen, k->file, k->line, "%s", why);
				goto fail;
			}
		} else if (strcmp(k->key, "timeout") == 0) {
			if (confkv_once(k, &timeout_line, err, errlen) != 0 ||
				confkv_seconds(k, &w->timeout, err, errlen) != 0)
				goto fail;
		} else {
			confkv_err(err, errlen, k->file, k->line,
				"unknown key \"%s\" in a webhook hook (known: url, secret-file, "
				"tls-ca-file, timeout)",
				k->key);
			goto fail;
		}
	}
	if (w->url == NULL || secret_file == NULL) {
		confkv_err(err, errlen, h->file, h->line, "hook %s: a webhook needs %s",
			h->name ? h->name : "", w->url == NULL ? "url" : "secret-file");
		goto fail;
	}
	/* Read now, so a bad secret file stops the daemon at start (or a reload) rather than
	 * at the first password change. */
	if (securefile_read_secret("secret-file", secret_file, &w->secret, why, sizeof(why)) != 0) {
		confkv_err(err, errlen, secret_kv->file, secret_kv->line, "%s", why);
		goto fail;
	}
	free(secret_file);
	return 0;
fail:
	free(secret_file);
	webhook_free(h);
	return -1;
}

static enum hook_result
webhook_fire(struct hook *h, const struct hook_event *ev, char *err, size_t errlen)
{
	struct webhook *w = h->priv;
	struct http_request rq;
	struct http_response resp;
	struct http_header hdr[2];
	char sig[72], txn[65], why[SYNCD_ERR], snippet[160];
	char *body = NULL;
	enum hook_result res = HOOK_RETRY;
	int rc;

	memset(&resp, 0, sizeof(resp));
	body = hookevent_json(ev);
	if (body == NULL || webhook_signature(w->secret, body, strlen(body), sig) != 0 ||
		hookevent_txn_id(ev, txn) != 0) {
		rg_seterr(err, errlen, "cannot build the webhook request");
		goto out;
	}
	hdr[0] = (struct http_header){"X-Resetguard-Signature", sig};
	hdr[1] = (struct http_header){"X-Resetguard-Delivery", txn};
	memset(&rq, 0, sizeof(rq));
	rq.url = w->url;
	rq.content_type = "application/json";
	rq.accept = "application/json";
	rq.headers = hdr;
	rq.nheaders = 2;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.ca_file = w->ca_file;
	rq.timeout = w->timeout;

	rc = http_post(&rq, &resp, why, sizeof(why));
	if (rc != RG_HTTP_OK) {
		rg_seterr(err, errlen, "%s", why);
		res = rc == RG_HTTP_BAD_REQUEST ? HOOK_FAIL : HOOK_RETRY;
		goto out;
	}
	if (resp.status >= 200 && resp.status < 300) {
		res = HOOK_DONE;
		goto out;
	}
	http_snippet(&resp, snippet, sizeof(snippet));
	rg_seterr(err, errlen, "webhook answered HTTP %d%s%s", resp.status, *snippet ? ": " : "",
		snippet);
	/* 408 and 429 say "later", like 5xx; any other answer will not change on retry. */
	res = resp.status >= 500 || resp.status == 408 || resp.status == 429 ? HOOK_RETRY
									     : HOOK_FAIL;
out:
	http_response_free(&resp);
	free(body);
	return res;
}

const struct hook_ops hook_webhook_ops = {
	.kind = "webhook",
	.configure = webhook_configure,
	.fire = webhook_fire,
	.free = webhook_free,
};
