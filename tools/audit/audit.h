/* resetguard-audit: the auditors' view of a resetguard reset log, read over LDAP.
 *
 *   main.c    argument parsing, dispatch
 *   conn.c    connect and bind, paged searches with a per-entry callback, and the decoding
 *             of a log entry into a struct rg_log_record
 *   verify.c  the hash chain check
 *   slices.c  where a parallel verify cuts the log into ranges of change numbers
 *   jobs.c    the slices read at once, a thread and a connection each
 *   checkpoint.c  verify's checkpoint file: the head kept outside the directory
 *   report.c  filters, collecting the records, and the table, CSV and JSON outputs
 *   html.c    the HTML output: one self-contained page with charts */
#ifndef RG_AUDIT_H
#define RG_AUDIT_H

#include <stddef.h>
#include <stdio.h>

#include <ldap.h>

#include "resetlog.h"

#define PROG "resetguard-audit"

enum {
	AUDIT_OK = 0,          /* verified, or the report was printed */
	AUDIT_BROKEN = 1,      /* the chain is broken */
	AUDIT_USAGE = 2,       /* bad arguments */
	AUDIT_ERROR = 3,       /* LDAP or other error */
	AUDIT_CP_PURGED = 4    /* verified, but the checkpoint is older than the purge anchor */
};

#define AUDIT_PAGE_SIZE 1000
#define AUDIT_JOBS_MAX 16       /* verify --jobs: connections, searches and threads at once */
#define AUDIT_PW_MAX 4096

struct audit_conn_opts {
	const char *uri;        /* NULL: libldap's default (ldap.conf) */
	const char *binddn;     /* simple bind DN; NULL with no password: anonymous */
	char *password;         /* AUDIT_PW_MAX bytes, cleansed after the bind; NULL if none */
	int sasl_external;      /* -Y EXTERNAL */
	int starttls;           /* -Z */
};

/* Makes n connections (ldp[0..n-1]), each bound as o says; on failure prints why and what
 * to do, returns AUDIT_ERROR with none left open. Always cleanses o->password. */
int audit_connect(struct audit_conn_opts *o, LDAP **ldp, int n);

/* Prints "PROG: WHAT: <LDAP error text> (code)[: diagnostic]" and a hint for rc. */
void audit_ldap_error(LDAP *ld, int rc, const char *what);

/* Called for each entry; a non-zero return stops the search and is returned by
 * audit_search (use AUDIT_* codes). */
typedef int (*audit_entry_cb)(LDAP *ld, LDAPMessage *entry, void *arg);

/* Every record under base matching filter, each once, at any server size limit (a plain
 * search first if unpaged_first, then a paged one, then windows of change numbers: see
 * syncd/logscan.h); attrs must include rgLogChangeNumber. Returns AUDIT_OK, the callback's
 * code, or AUDIT_ERROR after printing the error and the limit or ACL to change. When the
 * limit forces windows, says so on stderr with what to change; with verbose, how the
 * records were read. */
int audit_scan(LDAP *ld, const char *base, const char *filter, char **attrs, int unpaged_first,
	int verbose, audit_entry_cb cb, void *arg);

/* audit_scan on lds[i] with filters[i], handing entries to cb with args[i], for i < n at
 * once, each in a thread of its own (the last in the caller's). cb must touch nothing but
 * its own argument. Returns AUDIT_OK or the code of the first scan that failed, the others
 * stopped at their next record. */
int audit_scan_jobs(LDAP **lds, int n, const char *base, char **filters, char **attrs,
	int unpaged_first, int verbose, audit_entry_cb cb, void **args);

/* Up to jobs filters that split the records of the log under base between them, each
 * record into exactly one, by ranges of change numbers placed to give each about as many
 * records (see slices.c); fewer when a slice would hold fewer than min_each records (0: no
 * such floor); one, (objectClass=rgLogRecord), when jobs is 1. first0 is the first number
 * chain 0 can have (after the anchor). AUDIT_OK with *filters (free with
 * audit_slices_free) and *n set, or AUDIT_ERROR when out of memory. */
int audit_slices(LDAP *ld, const char *base, unsigned long long first0, int jobs, int min_each,
	char ***filters, int *n);
void audit_slices_free(char **filters, int n);

/* Returned by an unpaged audit_search that a size limit cut short; nothing is printed. */
#define AUDIT_LIMITED 100

/* A search, with paged set, with the Simple Paged Results control (AUDIT_PAGE_SIZE a page);
 * entries are handed to cb one at a time as they arrive. Returns AUDIT_OK, the callback's
 * code, AUDIT_LIMITED (unpaged only), or AUDIT_ERROR after printing the LDAP error (a size
 * limit on a paged search included: never a partial result taken for a whole one). */
int audit_search(LDAP *ld, const char *base, int scope, const char *filter, char **attrs,
	int paged, audit_entry_cb cb, void *arg);

/* A log record as read from an entry: the hashed fields in r (as rg_log_hash wants them),
 * the stored hash and the mutable status fields. All strings point into the decoder's
 * storage and live until the next audit_decode or audit_entry_free. */
struct audit_entry {
	struct rg_log_record r;
	const char *hash;               /* rgLogHash as stored, NULL if absent */
	const char *prev;               /* rgLogPrevHash as stored (r.prev_hash is a copy) */
	const char *outcome, *outcome_text, *reviewer, *review_time, *review_verdict;
	int has_number;                 /* rgLogChangeNumber present and well-formed */
	int malformed;                  /* a value that cannot be put in canonical form as
	                                   stored: an embedded NUL, a prev hash too long, a
	                                   level that is not a plain decimal */
	/* decoder storage */
	char *buf;
	size_t len, cap;
	size_t *off;                    /* value offsets, per field then methods */
	size_t noff, offcap;
	const char **mptr;
	size_t mcap;
signed char next[32];           /* per field (and one for the start), the field after
	                                   it last time, plus 1 (0: none yet) */
};

/* The attributes a record is read with: every rgLog* attribute of rgLogRecord, never "*";
 * and those verify needs. */
extern char *audit_record_attrs[];
extern char *audit_hash_attrs[];

/* 0 on success, -1 when out of memory. */
int audit_decode(LDAP *ld, LDAPMessage *entry, struct audit_entry *a);
void audit_entry_free(struct audit_entry *a);

/* ---- the checkpoint file of verify (checkpoint.c) ---- */

#define AUDIT_CP_TIME_LEN 21    /* YYYY-MM-DDTHH:MM:SSZ */

/* The head of the chain as last verified. */
struct audit_checkpoint {
	char *base;                     /* the log base, as audit_cp_base gives it */
	unsigned long long number;      /* the last record, or the anchor; 0 for an empty log */
	char hash[RG_LOG_HASH_HEX];     /* its hash (the anchor's, or the genesis hash) */
	char time[AUDIT_CP_TIME_LEN];   /* when it was verified, UTC */
	int present;                    /* loaded from a file */
};

/* The key of --checkpoint-key: the file's bytes (32 to 1024 of them), readable by its owner
 * only. AUDIT_OK or AUDIT_ERROR with err set. Free with audit_cp_key_free, which cleanses. */
int audit_cp_key_load(const char *path, unsigned char **key, size_t *len, char *err,
	size_t errlen);
void audit_cp_key_free(unsigned char *key, size_t len);
/* The log base normalized by libldap (malloc'd), NULL if it is not a DN. */
char *audit_cp_base(const char *base);
/* Loads path into cp, checking its HMAC when key is given, and that it is for base (as
 * audit_cp_base gives it). AUDIT_OK (cp->present is 0 when there is no such file),
 * AUDIT_BROKEN (malformed, unsigned while a key is given, or its signature does not verify),
 * AUDIT_USAGE (signed but no key given, or for another log base) or AUDIT_ERROR, with err
 * set. */
int audit_cp_load(const char *path, const char *base, const unsigned char *key, size_t keylen,
	struct audit_checkpoint *cp, char *err, size_t errlen);
/* Writes cp to path atomically (a temporary file, fsync, rename; mode 0600), signed when
 * key is given. AUDIT_OK or AUDIT_ERROR with err set. */
int audit_cp_save(const char *path, const struct audit_checkpoint *cp, const unsigned char *key,
	size_t keylen, char *err, size_t errlen);
void audit_cp_free(struct audit_checkpoint *cp);
void audit_cp_now(char out[AUDIT_CP_TIME_LEN]);

/* Commands. The options have been parsed and checked by main.c. */
struct audit_verify_opts {
	const char *checkpoint;         /* --checkpoint FILE, or NULL */
	struct audit_checkpoint *cp;    /* loaded from it (cp->present 0: none yet) */
	const unsigned char *key;       /* --checkpoint-key, or NULL */
	size_t keylen;
	int jobs;                       /* --jobs: slices read at once, 1..AUDIT_JOBS_MAX */
	int jobs_given;                 /* set on the command line: no floor on a slice's size */
	int verbose;
};
/* lds: o->jobs connections. */
int audit_verify(LDAP **lds, const char *base, const struct audit_verify_opts *o);

enum audit_format { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_HTML };

struct report_opts {
	const char *since, *until;      /* generalizedTime, already converted */
	const char *target, *requester, *approver;
	const char *kind, *decision;
	int review_required, alert;
	int pending;                    /* pending-review: review required, no verdict */
	enum audit_format format;
	const char *output;             /* -o FILE, or NULL: standard output */
	int verbose;
};

/* A record as report collects it: the decoder's strings copied with it, in one block. */
struct audit_rec {
	struct rg_log_record r;
	const char *hash, *outcome, *outcome_text, *reviewer, *review_time, *review_verdict;
};

/* The records (sorted by change number) as one HTML page on f (html.c). 0, or -1 when out of
 * memory. */
int audit_html(FILE *f, struct audit_rec **v, size_t n, const char *base,
	const struct report_opts *o);

/* T as YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or a generalizedTime, into a generalizedTime in
 * out (32 bytes); end_of_day makes a bare date mean its last microsecond. 0 if valid. */
int audit_parse_time(const char *t, int end_of_day, char out[32]);
/* The LDAP filter for o (malloc'd), NULL when out of memory. */
char *audit_report_filter(const struct report_opts *o);
int audit_report(LDAP *ld, const char *base, const struct report_opts *o);

#endif
