/* The claim attribute in the directory: rgLogClaim on a record says which syncd instance
 * delivers it and until when ("INSTANCE EXPIRY"). Several instances on one log share the
 * work through it; every write of a claim, and every status write of a claimed record, is
 * guarded by the Assertion control (RFC 4528), so that of two instances only one wins. */
#ifndef RG_CLAIMDIR_H
#define RG_CLAIMDIR_H

#include <stddef.h>
#include <time.h>

#include <ldap.h>

#include "syncd.h"

#define CLAIM_MAX 96   /* an instance id of 64, a space, 15 of GeneralizedTime, and a NUL */
#define CLAIM_ATTR "rgLogClaim"

/* "INSTANCE EXPIRY"; -1 when the instance id is not one rglog accepts. */
int claimdir_format(char *buf, size_t len, const char *instance, time_t expires);
/* 0 and the parts of a claim value, -1 when it is not one. */
int claimdir_parse(const char *value, char *instance, size_t ilen, time_t *expires);
/* Whether s is an instance id a claim can carry: 1 to 64 of letters, digits and _.:@- */
int claimdir_instance_ok(const char *s);
/* The critical Assertion control of a write that holds only while the record's claim is
 * value, or, value NULL, while the record has none. Free with ldap_control_free. */
int claimdir_assertion(LDAP *ld, const char *value, LDAPControl **out);
/* Blocking: does a live claim other than this process's own (the records numbered in own,
 * nown of them) hold a record of account numbered below number? 1 yes (err names it), 0
 * no, -1 the directory cannot tell (err says why). While one does, its holder -- another
 * instance, or an earlier run of this one whose store program may still be at work -- may
 * still deliver the older password: the newer one waits. */
int claimdir_older_live(LDAP *ld, const struct syncd_config *cfg, const char *account,
	unsigned long long number, const unsigned long long *own, size_t nown, char *err,
	size_t errlen);

#endif
