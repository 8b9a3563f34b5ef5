/* What the hook kinds say about a change, shared so that every receiver sees the same
 * document and the same transaction id for it. */
#ifndef RG_HOOKEVENT_H
#define RG_HOOKEVENT_H

#include "hook.h"

/* The JSON document describing ev that the webhook POSTs and the exec hook writes on the
 * command's stdin: {"event":"password-changed","change_number":N,"account":..,"uid":..,
 * "kind":..,"requester":..,"time":..}, compact, in that order; absent strings are null.
 * An alert event: {"event":"alert", the same members, then "decision","rule","reason"}.
 * malloc'd; NULL on allocation failure. */
char *hookevent_json(const struct hook_event *ev);
/* A stable transaction id for ev: lower-case hex SHA-256 of the change number and the
 * account, so every retry of the same change carries the same id (an alert's differs from
 * the password change's of the same record). 0 on success. */
int hookevent_txn_id(const struct hook_event *ev, char out[65]);

#endif
