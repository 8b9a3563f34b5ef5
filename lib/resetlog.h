/* A reset log record and its place in the hash chain.
 *
 * Each record's hash is SHA-256 over a canonical text of its immutable fields, the previous
 * record's hash among them, so removing, reordering or editing a record breaks the chain.
 * The canonical form (documented in slapo-resetguard(5) for auditors' own tools):
 *
 *   "resetguard-log-v1\n" followed by one line "NAME=VALUE\n" per field, in the order of
 *   rg_log_canonical, every field present (absent ones with an empty value) except
 *   "authenticated", written after "requester" only when the record has one, and
 *   "alertReason", written after "alert" only when the record has one, so that the
 *   records written before they existed keep their hashes. VALUE is the
 *   LDAP value as stored, with '\\' written as "\\\\", ',' in methods as "\\x2c", and every
 *   byte below 0x20 or equal to 0x7f as "\\xHH" (lower-case hex). methods is the amr values
 *   in stored order joined by ','; booleans are TRUE or FALSE; level is decimal, empty for
 *   none. hash = lower-case hex SHA-256 of that text; the first record's prev is 64 zeros. */
#ifndef RG_RESETLOG_H
#define RG_RESETLOG_H

#include <stddef.h>

#define RG_LOG_HASH_HEX 65

/* Each provider numbers and chains its own records: serverID s (olcServerID, 0 to 4095)
 * numbers them s * 2^48 + 1, + 2, ... A single provider (serverID 0) thus numbers them 1,
 * 2, ... as before, the numbers of all providers never collide, and a record's chain is its
 * number shifted right by RG_LOG_CHAIN_SHIFT. Each chain starts from the genesis hash. */
#define RG_LOG_CHAIN_SHIFT 48
#define RG_LOG_CHAIN_MAX 4095
#define rg_log_chain(n) ((unsigned)((unsigned long long)(n) >> RG_LOG_CHAIN_SHIFT))
#define rg_log_chain_base(sid) ((unsigned long long)(sid) << RG_LOG_CHAIN_SHIFT)
#define RG_LOG_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

struct rg_log_record {
	unsigned long long number;
	const char *time;         /* generalizedTime, microseconds: YYYYmmddHHMMSS.ffffffZ */
	const char *target;       /* normalized DNs as stored */
	const char *requester;
	const char *authenticated; /* NULL unless the bound identity acted for the requester */
	const char *approver;     /* NULL when none */
	const char *kind;
	const char *decision;     /* "allowed" or "denied" */
	const char *rule;
	const char *rule_text;
	const char *policy;       /* NULL when no policy governed */
	const char *operation;    /* "passwordModify", "modify", "add" or "modrdn" */
	const char *issuer;       /* proofing evidence, NULLs when none was verified */
	int level;                /* 0 when none */
	const char *const *methods;
	size_t nmethods;
	const char *jti;
	const char *reason;
	int review_required;
	int alert;
	const char *alert_reason; /* NULL unless an anomaly alert was raised */
	char prev_hash[RG_LOG_HASH_HEX];
};

/* Canonical text of r (malloc'd, NUL-terminated); NULL on allocation failure. */
char *rg_log_canonical(const struct rg_log_record *r, size_t *len);
/* hash (RG_LOG_HASH_HEX bytes) = hex SHA-256 of the canonical text. 0 on success. */
int rg_log_hash(const struct rg_log_record *r, char hash[RG_LOG_HASH_HEX]);
/* YYYYmmddHHMMSS.ffffffZ in UTC. */
void rg_log_format_time(char buf[32], long long sec, long usec);

/* Whether v (len bytes) is a delivery claim as resetguard-syncd writes it in rgLogClaim:
 * "INSTANCE EXPIRY", an instance id of 1 to 64 letters, digits and _.:@- then a
 * GeneralizedTime to the second. Instances compare claims for equality and read the
 * expiry to take over a dead one's: a value of any other shape would make one instance's
 * claim unreadable to the others, so both servers refuse it. */
int rg_log_claim_ok(const char *v, size_t len);
/* Whether v (len bytes) is a propagation status as resetguard-syncd writes it in
 * rgLogTargetStatus, rgLogHookStatus and rgLogAlertStatus (syncd/status.c): "NAME STATUS
 * attempts=N time=T[ error=TEXT]". An auditor reading the log must be able to trust its
 * shape, so both servers refuse any other. */
int rg_log_status_ok(const char *v, size_t len);

#endif
