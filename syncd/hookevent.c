/* The change as the hooks describe it. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "hookevent.h"

char *
hookevent_json(const struct hook_event *ev)
{
	json_t *o;
	char *s;

	if (ev->event != NULL)
		o = json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "event",
			ev->event, "change_number", (json_int_t)ev->number, "account",
			ev->account, "uid", ev->rdn_value, "kind", ev->kind, "requester",
			ev->requester, "time", ev->time, "decision", ev->decision, "rule",
			ev->rule, "reason", ev->alert_reason);
	else
		o = json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "event",
			"password-changed", "change_number", (json_int_t)ev->number, "account",
			ev->account, "uid", ev->rdn_value, "kind", ev->kind, "requester",
			ev->requester, "time", ev->time);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

int
hookevent_txn_id(const struct hook_event *ev, char out[65])
{
	static const char fmt[] = "%s\n%llu\n%s";
	const char *tag = ev->event != NULL ? "resetguard-alert-txn-v1" : "resetguard-txn-v1";
	static const char digits[] = "0123456789abcdef";
	const char *account = ev->account ? ev->account : "";
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *buf;
	int n, rc = -1;
	size_t i;

	/* The account is part of it so that two logs (or a rebuilt log) reusing a change
	 * number for another account do not collide at the receivers. */
	n = snprintf(NULL, 0, fmt, tag, ev->number, account);
	buf = n < 0 ? NULL : malloc((size_t)n + 1);
	if (buf != NULL && snprintf(buf, (size_t)n + 1, fmt, tag, ev->number, account) == n &&
		EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
		mdlen == sizeof(md)) {
		for (i = 0; i < sizeof(md); i++) {
			out[2 * i] = digits[md[i] >> 4];
			out[2 * i + 1] = digits[md[i] & 15];
		}
		out[64] = '\0';
		rc = 0;
	}
	free(buf);
	return rc;
}
