/* Connecting, binding, paged searches and the decoding of a log entry. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "logscan.h"

/* The identity bound as, for the hints that name it in an ACL or a limit (NULL: anonymous). */
static char *bound_identity;

static const char *
hint(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_TIMEOUT:
		return "check the server URI (-H), that slapd is running and reachable, and for "
			"TLS the CA certificate (LDAPTLS_CACERT) and the server's name";
	case LDAP_INVALID_CREDENTIALS:
		return "check the bind DN (-D) and the password";
	case LDAP_INAPPROPRIATE_AUTH:
		return "this identity cannot bind with a password; check -D";
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
		return "the server wants a protected connection: use -Z, ldaps:// or "
			"ldapi:// with -Y EXTERNAL";
	case LDAP_AUTH_METHOD_NOT_SUPPORTED:
		return "EXTERNAL needs ldapi:// or a TLS client certificate";
	case LDAP_UNWILLING_TO_PERFORM:
		return "the server refused; check the bind options and the server's log";
	case LDAP_NO_SUCH_OBJECT:
		return "check the log base (-b): the suffix of the reset log database";
	case LDAP_INSUFFICIENT_ACCESS:
		return "the bind identity needs read access to the reset log";
	case LDAP_SIZELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
		return "the server's size limit cut the search short; give this identity "
			"'limits ... size.prtotal=unlimited' on the reset log database";
	case LDAP_TIMELIMIT_EXCEEDED:
		return "the server's time limit cut the search short; give this identity "
			"'limits ... time=unlimited' on the reset log database";
	case LDAP_UNAVAILABLE_CRITICAL_EXTENSION:
		return "the server does not support the paged results control";
	case LDAP_NO_MEMORY:
		return "out of memory";
	default:
		return NULL;
	}
}

void
audit_ldap_error(LDAP *ld, int rc, const char *what)
{
	char *diag = NULL;
	const char *h = hint(rc);

	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	fprintf(stderr, PROG ": %s: %s (%d)", what, ldap_err2string(rc), rc);
	if (diag != NULL && *diag != '\0')
		fprintf(stderr, ": %s", diag);
	fputc('\n', stderr);
	if (h != NULL)
		fprintf(stderr, PROG ": %s\n", h);
	ldap_memfree(diag);
}

/* libldap reads each message with a poll(2) and two read(2)s, the header then the body:
 * three system calls a record, a third of verify's time over a million of them. A read-ahead
 * layer on top of the connection (above TLS, if any) takes whatever the socket holds in one
 * read, and libldap asks it before polling. Without it the tool is slower, not wrong. */
static void
read_ahead(LDAP *ld)
{
	Sockbuf *sb = NULL;
	int size = 256 * 1024;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL)
		ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_APPLICATION,
			&size);
}

/* One connection, bound; the password is left for the next. */
static int
connect_one(struct audit_conn_opts *o, LDAP **ldp)
{
	LDAP *ld = NULL;
	int rc, version = LDAP_VERSION3, ret = AUDIT_ERROR;
	struct timeval tv = { 30, 0 };
	struct berval cred = { 0, NULL };

	*ldp = NULL;
	if ((rc = ldap_initialize(&ld, o->uri)) != LDAP_SUCCESS) {
		fprintf(stderr, PROG ": cannot use the URI '%s': %s\n",
			o->uri ? o->uri : "(default)", ldap_err2string(rc));
		ret = AUDIT_USAGE;
		goto out;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);

	if (o->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		if (rc != LDAP_CONNECT_ERROR) {
			audit_ldap_error(ld, rc, "StartTLS failed");
			goto out;
		}
		/* the handshake failed; libldap rarely says why */
		fprintf(stderr, PROG ": StartTLS failed: %s (%d)\n" PROG ": the server "
			"certificate was not accepted: check that LDAPTLS_CACERT (or TLS_CACERT "
			"in ldap.conf) names the CA that signed it and that the host name of -H "
			"is in it\n", ldap_err2string(rc), rc);
		goto out;
	}
	if (o->sasl_external) {
		/* An empty initial response (no authorization identity); a server that
		 * still answers with a challenge gets the same empty response. */
		cred.bv_val = "";
		for (int round = 0; round < 3; round++) {
			rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
			if (rc != LDAP_SASL_BIND_IN_PROGRESS)
				break;
		}
	} else {
		if (o->password != NULL) {
			cred.bv_val = o->password;
			cred.bv_len = strlen(o->password);
		}
		rc = ldap_sasl_bind_s(ld, o->binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	}
	if (rc != LDAP_SUCCESS) {
		char what[512];

		if (o->sasl_external)
			snprintf(what, sizeof(what), "SASL EXTERNAL bind failed");
		else if (o->binddn != NULL)
			snprintf(what, sizeof(what), "bind as '%.400s' failed", o->binddn);
		else
			snprintf(what, sizeof(what), "anonymous bind failed");
		audit_ldap_error(ld, rc, what);
		goto out;
	}
	/* Asked once: every further connection is the same identity's. */
	if (bound_identity == NULL && o->sasl_external) {
		struct berval *authzid = NULL;

		/* the server derives it: ask, so that hints name it */
		if (ldap_whoami_s(ld, &authzid, NULL, NULL) == LDAP_SUCCESS && authzid != NULL &&
		    authzid->bv_len > 3 && strncmp(authzid->bv_val, "dn:", 3) == 0)
			bound_identity = strndup(authzid->bv_val + 3, authzid->bv_len - 3);
		ber_bvfree(authzid);
	} else if (bound_identity == NULL && o->binddn != NULL) {
		bound_identity = strdup(o->binddn);
	}
	read_ahead(ld);
	*ldp = ld;
	ld = NULL;
	ret = AUDIT_OK;
out:
	if (ld != NULL)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return ret;
}

int
audit_connect(struct audit_conn_opts *o, LDAP **ldp, int n)
{
	int i, ret = AUDIT_OK;

	for (i = 0; i < n && ret == AUDIT_OK; i++)
		ret = connect_one(o, &ldp[i]);
	if (ret != AUDIT_OK)
		for (int k = 0; k < i - 1; k++) {
			ldap_unbind_ext_s(ldp[k], NULL, NULL);
			ldp[k] = NULL;
		}
	if (o->password != NULL)
		OPENSSL_cleanse(o->password, AUDIT_PW_MAX);
	return ret;
}

int
audit_search(LDAP *ld, const char *base, int scope, const char *filter, char **attrs,
	int paged, audit_entry_cb cb, void *arg)
{
	struct berval *cookie = NULL;
	int ret = AUDIT_OK;

	do {
		LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL }, **sctrls = NULL, *pr;
		LDAPMessage *res = NULL;
		int rc, msgid, err = LDAP_SUCCESS, done = 0;
		char *diag = NULL;

		/* Not critical: a server without paging that returns everything is fine, one
		 * that stops at its size limit says so with sizeLimitExceeded. */
		if (paged) {
			rc = ldap_create_page_control(ld, AUDIT_PAGE_SIZE, cookie, 0, &page);
			if (rc != LDAP_SUCCESS) {
				audit_ldap_error(ld, rc, "cannot create the paged results control");
				ret = AUDIT_ERROR;
				break;
			}
			ctrls[0] = page;
		}
		rc = ldap_search_ext(ld, base, scope, filter, attrs, 0, ctrls, NULL, NULL,
			LDAP_NO_LIMIT, &msgid);
		ldap_control_free(page);
		if (rc != LDAP_SUCCESS) {
			audit_ldap_error(ld, rc, "search failed");
			ret = AUDIT_ERROR;
			break;
		}
		while (!done && ret == AUDIT_OK) {
			rc = ldap_result(ld, msgid, LDAP_MSG_ONE, NULL, &res);
			if (rc <= 0) {
				ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
				audit_ldap_error(ld, rc, "search failed");
				ret = AUDIT_ERROR;
				break;
			}
			switch (ldap_msgtype(res)) {
			case LDAP_RES_SEARCH_ENTRY:
				ret = cb(ld, res, arg);
				if (ret != AUDIT_OK)
					ldap_abandon_ext(ld, msgid, NULL, NULL);
				break;
			case LDAP_RES_SEARCH_RESULT:
				done = 1;
				rc = ldap_parse_result(ld, res, &err, NULL, &diag, NULL, &sctrls, 0);
				if (rc == LDAP_SUCCESS)
					rc = err;
				if (!paged && (rc == LDAP_SIZELIMIT_EXCEEDED ||
				    rc == LDAP_ADMINLIMIT_EXCEEDED)) {
					ret = AUDIT_LIMITED;
				} else if (rc != LDAP_SUCCESS) {
					char what[600];

					snprintf(what, sizeof(what), "search of '%.400s' failed", base);
					if (diag != NULL && *diag != '\0')
						ldap_set_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, diag);
					audit_ldap_error(ld, rc, what);
					ret = AUDIT_ERROR;
				}
				ber_bvfree(cookie);
				cookie = NULL;
				pr = paged ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, sctrls,
					NULL) : NULL;
				if (ret == AUDIT_OK && pr != NULL) {
					ber_int_t estimate;
					struct berval c = { 0, NULL };

					if (ldap_parse_pageresponse_control(ld, pr, &estimate, &c)
					    != LDAP_SUCCESS) {
						fprintf(stderr, PROG ": the server's paged results "
							"response cannot be parsed\n");
						ret = AUDIT_ERROR;
					} else if (c.bv_len > 0) {
						cookie = ber_bvdup(&c);
					}
					ber_memfree(c.bv_val);
				}
				ldap_memfree(diag);
				ldap_controls_free(sctrls);
				break;
			default:        /* references, intermediate responses: not ours */
				break;
			}
			ldap_msgfree(res);
			res = NULL;
		}
	} while (ret == AUDIT_OK && cookie != NULL);
	ber_bvfree(cookie);
	return ret;
}

static void
scan_note(const char *text, void *arg)
{
	(void)arg;
	fprintf(stderr, PROG ": %s\n", text);
}

int
audit_scan(LDAP *ld, const char *base, const char *filter, char **attrs, int unpaged_first,
	int verbose, audit_entry_cb cb, void *arg)
{
	struct logscan s;
	char err[2048];
	int rc;

	memset(&s, 0, sizeof(s));
	s.ld = ld;
	s.base = base;
	s.filter = filter;
	s.attrs = attrs;
	s.identity = bound_identity;
	s.unpaged_first = unpaged_first;
	s.entry = cb;
	s.note = scan_note;
	s.arg = arg;
	rc = logscan_run(&s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return AUDIT_ERROR;
	}
	if (verbose && s.limit > 0 && !s.windowed)
		fprintf(stderr, PROG ": a size limit stopped the plain search after %d records; "
			"searching again with paged results\n", s.limit);
	if (verbose)
		fprintf(stderr, PROG ": %zu records read in %zu search(es)\n", s.delivered,
			s.searches);
	return rc;
}

/* ---- decoding ---- */

enum {
	F_NUMBER, F_TIME, F_TARGET, F_REQUESTER, F_AUTHENTICATED, F_APPROVER, F_KIND, F_DECISION, F_RULE,
	F_RULE_TEXT, F_POLICY, F_OPERATION, F_ISSUER, F_LEVEL, F_JTI, F_REASON, F_REVIEW_REQ,
	F_ALERT, F_ALERT_REASON, F_PREV, F_HASH,
	F_NHASHED,              /* those above are read by verify */
	F_OUTCOME = F_NHASHED, F_OUTCOME_TEXT, F_REVIEWER, F_REVIEW_TIME, F_REVIEW_VERDICT,
	F_NFIELDS
};
#define F_METHOD F_NFIELDS
_Static_assert(F_NFIELDS + 2 <= sizeof(((struct audit_entry *)0)->next),
	"audit_entry.next holds a slot per field, rgLogMethod's and the start's");
#define NONE ((size_t)-1)

/* In F_* order, then rgLogMethod: every attribute a record is read with, never "*". */
char *audit_record_attrs[F_NFIELDS + 2] = {
	"rgLogChangeNumber", "rgLogTime", "rgLogTarget", "rgLogRequester", "rgLogAuthenticated",
	"rgLogApprover",
	"rgLogKind", "rgLogDecision", "rgLogRule", "rgLogRuleText", "rgLogPolicy",
	"rgLogOperation", "rgLogIssuer", "rgLogLevel", "rgLogJti", "rgLogReason",
	"rgLogReviewRequired", "rgLogAlert", "rgLogAlertReason", "rgLogPrevHash", "rgLogHash",
	"rgLogOutcome", "rgLogOutcomeText", "rgLogReviewer", "rgLogReviewTime",
	"rgLogReviewVerdict", "rgLogMethod", NULL
};

/* Those verify needs: the hashed fields and rgLogHash. */
char *audit_hash_attrs[] = {
	"rgLogChangeNumber", "rgLogTime", "rgLogTarget", "rgLogRequester", "rgLogAuthenticated",
	"rgLogApprover",
	"rgLogKind", "rgLogDecision", "rgLogRule", "rgLogRuleText", "rgLogPolicy",
	"rgLogOperation", "rgLogIssuer", "rgLogLevel", "rgLogJti", "rgLogReason",
	"rgLogReviewRequired", "rgLogAlert", "rgLogAlertReason", "rgLogPrevHash", "rgLogHash",
	"rgLogMethod", NULL
};

/* The length of each name of audit_record_attrs, set once (verify decodes in threads). */
static size_t field_len[F_NFIELDS + 1];
static pthread_once_t field_len_once = PTHREAD_ONCE_INIT;

static void
field_len_init(void)
{
	for (int i = 0; i <= F_NFIELDS; i++)
		field_len[i] = strlen(audit_record_attrs[i]);
}

static int
is_field(int i, const struct berval *name)
{
	/* Exact names only: a subtype with options (rgLogReason;lang-de) is not the hashed
	 * value and is ignored. */
	return field_len[i] == name->bv_len &&
		(memcmp(audit_record_attrs[i], name->bv_val, name->bv_len) == 0 ||
		strncasecmp(audit_record_attrs[i], name->bv_val, name->bv_len) == 0);
}

/* The field of an attribute named name that follows one of field prev (F_NFIELDS + 1 for
 * none: the first). The server sends every record's attributes in the order they were
 * added, the same for all, though not every record has every one: the field that followed
 * prev last time is tried first. */
static int
field_of(struct audit_entry *a, int prev, const struct berval *name)
{
	int f = a->next[prev] - 1;

	if (f < 0 || !is_field(f, name)) {
		for (f = 0; f <= F_NFIELDS && !is_field(f, name); f++)
			;
		if (f > F_NFIELDS)
			f = -1;
		a->next[prev] = (signed char)(f + 1);
	}
	return f;
}

static int
store(struct audit_entry *a, const struct berval *v, size_t *off)
{
	size_t need = a->len + v->bv_len + 1;

	if (need > a->cap) {
		size_t cap = a->cap ? a->cap : 1024;
		char *p;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(a->buf, cap)) == NULL)
			return -1;
		a->buf = p;
		a->cap = cap;
	}
	if (v->bv_len > 0 && memchr(v->bv_val, '\0', v->bv_len) != NULL)
		a->malformed = 1;
	memcpy(a->buf + a->len, v->bv_val, v->bv_len);
	a->buf[a->len + v->bv_len] = '\0';
	*off = a->len;
	a->len = need;
	return 0;
}

static int
add_offset(struct audit_entry *a, size_t off)
{
	if (a->noff == a->offcap) {
		size_t cap = a->offcap ? a->offcap * 2 : F_NFIELDS + 16;
		size_t *p = realloc(a->off, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		a->off = p;
		a->offcap = cap;
	}
	a->off[a->noff++] = off;
	return 0;
}

/* A decimal as the canonical form prints it: digits, no sign, no leading zero. */
static int
plain_decimal(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (max - (unsigned)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
boolean(struct audit_entry *a, const char *v)
{
	if (v == NULL || strcmp(v, "FALSE") == 0)
		return 0;
	if (strcmp(v, "TRUE") != 0)
		a->malformed = 1;
	return 1;
}

int
audit_decode(LDAP *ld, LDAPMessage *entry, struct audit_entry *a)
{
	BerElement *ber = NULL;
	struct berval name, *vals = NULL;
	const char *s[F_NFIELDS];
	size_t nm;
	int rc, prev = F_NFIELDS + 1;

	pthread_once(&field_len_once, field_len_init);
	a->len = 0;
	a->noff = 0;
	a->malformed = 0;
	for (int i = 0; i < F_NFIELDS; i++)
		if (add_offset(a, NONE) != 0)
			return -1;
	if (ldap_get_dn_ber(ld, entry, &ber, &name) != LDAP_SUCCESS)
		return -1;
	for (rc = ldap_get_attribute_ber(ld, entry, ber, &name, &vals);
	     rc == LDAP_SUCCESS && name.bv_val != NULL;
	     rc = ldap_get_attribute_ber(ld, entry, ber, &name, &vals)) {
		int f = field_of(a, prev, &name);
		size_t off;

		if (f >= 0)
			prev = f;

		for (size_t i = 0; f >= 0 && vals != NULL && vals[i].bv_val != NULL; i++) {
			if (f != F_METHOD && a->off[f] != NONE)
				break;          /* single-valued: the schema allows one */
			if (store(a, &vals[i], &off) != 0 ||
			    (f == F_METHOD && add_offset(a, off) != 0)) {
				ber_memfree(vals);
				ber_free(ber, 0);
				return -1;
			}
			if (f != F_METHOD)
				a->off[f] = off;
		}
		ber_memfree(vals);
		vals = NULL;
	}
	ber_free(ber, 0);

	/* offsets to pointers, now that buf no longer moves */
	nm = a->noff - F_NFIELDS;
	if (nm > a->mcap) {
		const char **p = realloc(a->mptr, nm * sizeof(*p));

		if (p == NULL)
			return -1;
		a->mptr = p;
		a->mcap = nm;
	}
	for (int i = 0; i < F_NFIELDS; i++)
		s[i] = a->off[i] == NONE ? NULL : a->buf + a->off[i];
	for (size_t i = 0; i < nm; i++)
		a->mptr[i] = a->buf + a->off[F_NFIELDS + i];

	memset(&a->r, 0, sizeof(a->r));
	a->has_number = s[F_NUMBER] != NULL &&
		plain_decimal(s[F_NUMBER], ~0ULL, &a->r.number) == 0;
	a->r.time = s[F_TIME];
	a->r.target = s[F_TARGET];
	a->r.requester = s[F_REQUESTER];
	a->r.authenticated = s[F_AUTHENTICATED];
	a->r.approver = s[F_APPROVER];
	a->r.kind = s[F_KIND];
	a->r.decision = s[F_DECISION];
	a->r.rule = s[F_RULE];
	a->r.rule_text = s[F_RULE_TEXT];
	a->r.policy = s[F_POLICY];
	a->r.operation = s[F_OPERATION];
	a->r.issuer = s[F_ISSUER];
	if (s[F_LEVEL] != NULL) {
		unsigned long long lv;

		if (plain_decimal(s[F_LEVEL], 0x7fffffff, &lv) == 0)
			a->r.level = (int)lv;
		else
			a->malformed = 1;
	}
	a->r.methods = nm > 0 ? a->mptr : NULL;
	a->r.nmethods = nm;
	a->r.jti = s[F_JTI];
	a->r.reason = s[F_REASON];
	a->r.review_required = boolean(a, s[F_REVIEW_REQ]);
	a->r.alert = boolean(a, s[F_ALERT]);
	a->r.alert_reason = s[F_ALERT_REASON];
	a->prev = s[F_PREV];
	if (s[F_PREV] != NULL) {
		if (strlen(s[F_PREV]) < RG_LOG_HASH_HEX)
			strcpy(a->r.prev_hash, s[F_PREV]);
		else
			a->malformed = 1;
	}
	a->hash = s[F_HASH];
	a->outcome = s[F_OUTCOME];
	a->outcome_text = s[F_OUTCOME_TEXT];
	a->reviewer = s[F_REVIEWER];
	a->review_time = s[F_REVIEW_TIME];
	a->review_verdict = s[F_REVIEW_VERDICT];
	return 0;
}

void
audit_entry_free(struct audit_entry *a)
{
	free(a->buf);
	free(a->off);
	free(a->mptr);
	memset(a, 0, sizeof(*a));
}
