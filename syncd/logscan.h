/* Reading every record of the reset log that matches a filter, whatever the server's size
 * limit. slapd counts the entries of a paged search against the same limit as a plain one
 * (size.prtotal defaults to the hard limit, itself the soft one), so paging alone stops at
 * 500 records on a stock Debian slapd. The scan searches once plainly or paged; when the
 * limit cuts that short it goes on in windows of change numbers small enough for the limit,
 * each record handed over once. Shared by resetguard-syncd (the pending records) and
 * resetguard-audit (verify, report); blocking, so syncd calls it from its directory thread. */
#ifndef RG_LOGSCAN_H
#define RG_LOGSCAN_H

#include <stddef.h>

#include <ldap.h>

struct logscan {
	LDAP *ld;
	const char *base;     /* the log base: records are its children */
	const char *filter;   /* parenthesized */
	char **attrs;         /* must include rgLogChangeNumber */
	const char *identity; /* the bound identity, for hints; NULL: anonymous */
	int timeout;          /* seconds a search may take; 0: no limit */
	int unpaged_first;    /* try a plain search before a paged one */
	/* Each record once; a positive return stops the scan and is logscan_run's. */
	int (*entry)(LDAP *ld, LDAPMessage *entry, void *arg);
	/* Told once, when the limit forces windows: what is slow, and what to change. */
	void (*note)(const char *text, void *arg);
	void *arg;
	/* Out. */
	int ldap_rc;      /* the LDAP result of a failure */
	int limit;        /* entries the server returned before its limit, 0 if none hit */
	int windowed;     /* the limit held for a paged search too: windows were read */
	size_t searches;  /* made in all */
	size_t delivered; /* records handed to entry */
};

/* 0 when every matching record was handed to entry; entry's own positive value; or -1 with
 * err saying what failed and what to change (the limit or the ACL, naming the identity and
 * the log database). */
int logscan_run(struct logscan *s, char *err, size_t errlen);

/* What to change for an LDAP error of a search of the log by identity: the hint only, or
 * "" when there is none. */
void logscan_hint(int rc, const char *identity, const char *base, char *buf, size_t len);

#endif
