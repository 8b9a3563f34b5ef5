/* Hook kind "caep": OpenID Shared Signals / CAEP push delivery.
 *
 * For each configured event type one Security Event Token (RFC 8417) is signed with ES256
 * and POSTed as application/secevent+jwt (RFC 8935). One event per SET, because receivers
 * route on the single event type, and the CAEP interoperability profile requires it. The
 * subject goes in sub_id (iss_sub with the account DN): SETs carry no "sub" claim, and no
 * "exp" either (RFC 8417 section 2.2: a SET is a statement of fact, it does not expire).
 * txn is derived from the change, so receivers can recognise retries and correlate the two
 * SETs of one change; jti is new for every token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "confkv.h"
#include "errbuf.h"
#include "hook.h"
#include "hookevent.h"
#include "http.h"
#include "jws.h"
#include "securefile.h"

#define DEFAULT_TIMEOUT 10
#define NEVENTS 2

static const struct {
	const char *name; /* as written in "events" */
	const char *uri;
} caep_events[NEVENTS] = {
	{"credential-change",
		"https://schemas.openid.net/secevent/caep/event-type/credential-change"},
	{"session-revoked", "https://schemas.openid.net/secevent/caep/event-type/session-revoked"},
};

struct caep {
	char *url;
	char *issuer;
	char *audience;
	char *kid; /* NULL: no kid in the header */
	char *ca_file;
	EVP_PKEY *key;   /* P-256 private key */
	unsigned events; /* bit i: caep_events[i] */
	int timeout;
};

/* CAEP's initiating_entity: who caused the change. A reset someone else performed is the
 * admin's; a user changing (or recovering) their own password is the user's. */
static const char *
initiating_entity(const char *kind)
{
	if (kind == NULL)
		return "system";
	if (strcmp(kind, "self-change") == 0 || strcmp(kind, "self-service") == 0)
		return "user";
	if (strcmp(kind, "delegated") == 0 || strcmp(kind, "break-glass") == 0 ||
		strcmp(kind, "provisioning") == 0)
		return "admin";
	return "system";
}

/* The key is read as securefile.h reads every key; this adds what ES256 needs. */
static EVP_PKEY *
load_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key = securefile_load_key("signing-key", path, err, errlen);
	char group[64];

	if (key == NULL)
		return NULL;
	if (!EVP_PKEY_is_a(key, "EC") ||
		EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1 ||
		(strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		rg_seterr(err, errlen, "signing-key %s: must be an EC P-256 key (ES256)", path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

static int
parse_events(const struct conf_kv *kv, unsigned *out, char *err, size_t errlen)
{
	const char *p = kv->value, *q;
	size_t len, i;

	*out = 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (q = p; *q != '\0' && *q != ' ' && *q != '\t'; q++)
			;
		len = (size_t)(q - p);
		for (i = 0; i < NEVENTS; i++)
			if (strlen(caep_events[i].name) == len &&
				strncmp(caep_events[i].name, p, len) == 0)
				break;
		if (i == NEVENTS) {
			return confkv_err(err, errlen, kv->file, kv->line,
				"events: unknown event "
				"\"%.*s\" (known: credential-change session-revoked)",
				(int)len, p);
		}
		*out |= 1u << i;
		p = q;
	}
	if (*out == 0) {
		return confkv_err(err, errlen, kv->file, kv->line,
			"events: name at least one event");
	}
	return 0;
}

static void
caep_free(struct hook *h)
{
	struct caep *c = h->priv;

	if (c == NULL)
		return;
	free(c->url);
	free(c->issuer);
	free(c->audience);
	free(c->kid);
	free(c->ca_file);
	EVP_PKEY_free(c->key);
	free(c);
	h->priv = NULL;
}

static int
caep_configure(struct hook *h, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct caep *c;
	const struct conf_kv *keykv = NULL;
	char why[SYNCD_ERR];
	int have_key = 0, have_timeout = 0, have_events = 0;
	size_t i;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return confkv_err(err, errlen, h->file, h->line, "out of memory");
	h->priv = c;
	c->timeout = DEFAULT_TIMEOUT;
	c->events = (1u << NEVENTS) - 1;
	for (i = 0; i < n; i++) {
		const struct conf_kv *k = &kv[i];
		int rc;

		if (strcmp(k->key, "url") == 0) {
			rc = confkv_set_once(&c->url, k, err, errlen);
			if (rc == 0 && http_check_url(k->value, why, sizeof(why)) != 0) {
				confkv_err(err, errlen, k->file, k->line, "url: %s", why);
				rc = -1;
			}
		} else if (strcmp(k->key, "issuer") == 0) {
			rc = confkv_set_once(&c->issuer, k, err, errlen);
		} else if (strcmp(k->key, "audience") == 0) {
			rc = confkv_set_once(&c->audience, k, err, errlen);
		} else if (strcmp(k->key, "key-id") == 0) {
			rc = confkv_set_once(&c->kid, k, err, errlen);
		} else if (strcmp(k->key, "tls-ca-file") == 0) {
			rc = confkv_set_once(&c->ca_file, k, err, errlen);
			if (rc == 0 && http_check_ca_file(k->value, why, sizeof(why)) != 0) {
				confkv_err(err, errlen, k->file, k->line, "%s", why);
				rc = -1;
			}
		} else if (strcmp(k->key, "signing-key") == 0 || strcmp(k->key, "events") == 0 ||
			strcmp(k->key, "timeout") == 0) {
			int *seen = k->key[0] == 's' ? &have_key
				: k->key[0] == 'e'   ? &have_events
						     : &have_timeout;

			if ((*seen)++) {
				confkv_err(err, errlen, k->file, k->line, "%s given twice", k->key);
				rc = -1;
			} else if (k->key[0] == 's') {
				keykv = k; /* loaded once the whole block is known good */
				rc = 0;
			} else if (k->key[0] == 'e') {
				rc = parse_events(k, &c->events, err, errlen);
			} else {
				rc = confkv_seconds(k, &c->timeout, err, errlen);
			}
		} else {
			rc = confkv_err(err, errlen, k->file, k->line,
				"unknown key \"%s\" in a caep "
				"hook (known: url, issuer, audience, key-id, tls-ca-file, "
				"signing-key, "
				"events, timeout)",
				k->key);
		}
		if (rc != 0)
			goto fail;
	}
	if (c->url == NULL || c->issuer == NULL || c->audience == NULL || keykv == NULL) {
		confkv_err(err, errlen, h->file, h->line, "hook %s: a caep hook needs %s",
			h->name ? h->name : "",
			c->url == NULL                ? "url"
				: c->issuer == NULL   ? "issuer"
				: c->audience == NULL ? "audience"
						      : "signing-key");
		goto fail;
	}
	c->key = load_key(keykv->value, why, sizeof(why));
	if (c->key == NULL) {
		confkv_err(err, errlen, keykv->file, keykv->line, "%s", why);
		goto fail;
	}
	return 0;
fail:
	caep_free(h);
	return -1;
}

/* One signed SET for caep_events[which]. *out is malloc'd. */
static int
caep_build_set(const struct caep *c, const struct hook_event *ev, size_t which, long long now,
	char **out, char *err, size_t errlen)
{
	json_t *hdr = NULL, *claims = NULL, *event = NULL, *sub_id;
	unsigned char rnd[16];
	char jti[33], txn[65], reason[96], why[SYNCD_ERR];
	char *hs = NULL, *cs = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || hookevent_txn_id(ev, txn) != 0) {
		rg_seterr(err, errlen, "cannot make the token ids");
		goto out;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	snprintf(reason, sizeof(reason), "password reset (%s)", ev->kind ? ev->kind : "unknown");
	if (ev->account != NULL)
		sub_id = json_pack("{s:s, s:s, s:s}", "format", "iss_sub", "iss", c->issuer, "sub",
			ev->account);
	else
		sub_id = json_pack("{s:s, s:s}", "format", "opaque", "id",
			ev->rdn_value ? ev->rdn_value : "");

	/* Packed separately so the credential-change members can be added; both are
	 * checked before "o" below hands them over. */
	event = json_pack("{s:s, s:{s:s}, s:I}", "initiating_entity", initiating_entity(ev->kind),
		"reason_admin", "en", reason, "event_timestamp", (json_int_t)ev->epoch);
	if (event != NULL && which == 0 &&
		(json_object_set_new(event, "credential_type", json_string("password")) != 0 ||
			json_object_set_new(event, "change_type", json_string("update")) != 0)) {
		json_decref(event);
		event = NULL;
	}
	if (sub_id == NULL || event == NULL) {
		json_decref(sub_id);
		json_decref(event);
		rg_seterr(err, errlen, "cannot build the token: out of memory");
		goto out;
	}
	/* "o" steals the references, also when packing fails (jansson >= 2.11). */
	claims = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:{s:o}}", "iss", c->issuer, "aud",
		c->audience, "iat", (json_int_t)now, "jti", jti, "txn", txn, "sub_id", sub_id,
		"events", caep_events[which].uri, event);
	hdr = json_pack("{s:s, s:s}", "typ", "secevent+jwt", "alg", "ES256");
	if (claims == NULL || hdr == NULL ||
		(c->kid != NULL && json_object_set_new(hdr, "kid", json_string(c->kid)) != 0)) {
		rg_seterr(err, errlen, "cannot build the token: out of memory");
		goto out;
	}
	hs = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cs = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (hs == NULL || cs == NULL) {
		rg_seterr(err, errlen, "cannot build the token: out of memory");
		goto out;
	}
	if (rg_jws_sign_header(c->key, hs, cs, out, why, sizeof(why)) != 0) {
		rg_seterr(err, errlen, "%s", why);
		goto out;
	}
	rc = 0;
out:
	json_decref(hdr);
	json_decref(claims);
	free(hs);
	free(cs);
	return rc;
}

/* RFC 8935 section 2.3: 202 is success; 400 carries {"err","description"}. */
static enum hook_result
caep_outcome(const struct http_response *resp, char *err, size_t errlen)
{
	json_t *j, *e, *d;
	char snippet[160];
	struct http_response clean;

	if (resp->status == 202)
		return HOOK_DONE;
	if (resp->status == 400 && resp->body != NULL) {
		j = json_loads(resp->body, 0, NULL);
		e = json_object_get(j, "err");
		d = json_object_get(j, "description");
		if (json_is_string(e)) {
			/* Sanitised like any other receiver text: it goes to logs. */
			clean.body = (char *)json_string_value(e);
			clean.body_len = strlen(clean.body);
			http_snippet(&clean, snippet, 64);
			rg_seterr(err, errlen, "receiver refused the SET: %s", snippet);
			if (json_is_string(d)) {
				clean.body = (char *)json_string_value(d);
				clean.body_len = strlen(clean.body);
				http_snippet(&clean, snippet, sizeof(snippet));
				rg_seterr(err + strlen(err), errlen - strlen(err), ": %s", snippet);
			}
			json_decref(j);
			return HOOK_FAIL;
		}
		json_decref(j);
	}
	http_snippet(resp, snippet, sizeof(snippet));
	rg_seterr(err, errlen, "receiver answered HTTP %d%s%s", resp->status, *snippet ? ": " : "",
		snippet);
	return resp->status >= 500 || resp->status == 408 || resp->status == 429 ? HOOK_RETRY
										 : HOOK_FAIL;
}

static enum hook_result
caep_fire(struct hook *h, const struct hook_event *ev, char *err, size_t errlen)
{
	struct caep *c = h->priv;
	struct http_request rq;
	struct http_response resp;
	enum hook_result res, all = HOOK_DONE;
	char why[SYNCD_ERR], *set;
	size_t i, used = 0;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	/* Every event is attempted even after one failed: a receiver that refuses one
	 * type may still act on the other. Any retry makes the whole a retry (the engine
	 * re-fires, receivers deduplicate on txn); otherwise any failure makes it fail. */
	for (i = 0; i < NEVENTS; i++) {
		if (!(c->events & (1u << i)))
			continue;
		memset(&resp, 0, sizeof(resp));
		if (caep_build_set(c, ev, i, (long long)time(NULL), &set, why, sizeof(why)) != 0) {
			res = HOOK_FAIL;
		} else {
			memset(&rq, 0, sizeof(rq));
			rq.url = c->url;
			rq.content_type = "application/secevent+jwt";
			rq.accept = "application/json";
			rq.body = set;
			rq.body_len = strlen(set);
			rq.ca_file = c->ca_file;
			rq.timeout = c->timeout;
			rc = http_post(&rq, &resp, why, sizeof(why));
			if (rc == RG_HTTP_OK)
				res = caep_outcome(&resp, why, sizeof(why));
			else
				res = rc == RG_HTTP_BAD_REQUEST ? HOOK_FAIL : HOOK_RETRY;
			http_response_free(&resp);
			free(set);
		}
		if (res == HOOK_DONE)
			continue;
		if (res == HOOK_RETRY || all == HOOK_DONE)
			all = res;
		if (used < errlen) {
			rg_seterr(err + used, errlen - used, "%s%s: %s", used ? "; " : "",
				caep_events[i].name, why);
			used += strlen(err + used);
		}
	}
	return all;
}

const struct hook_ops hook_caep_ops = {
	.kind = "caep",
	.configure = caep_configure,
	.fire = caep_fire,
	.free = caep_free,
};
