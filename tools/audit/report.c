/* report and pending-review: the filter, the records in time order (the chains of all
 * providers merged), and the table, CSV (RFC 4180) and JSON outputs. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"

/* ---- the filter ---- */

char *
audit_report_filter(const struct report_opts *o)
{
	const struct {
		const char *attr_op, *value;
	} a[] = {
		{ "rgLogTime>=", o->since }, { "rgLogTime<=", o->until },
		{ "rgLogTarget=", o->target }, { "rgLogRequester=", o->requester },
		{ "rgLogApprover=", o->approver }, { "rgLogKind=", o->kind },
		{ "rgLogDecision=", o->decision }
	};
	size_t cap = 128;       /* the fixed parts */
	char *f;

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (a[i].value != NULL)
			cap += strlen(a[i].attr_op) + 3 * strlen(a[i].value) + 2;
	if ((f = malloc(cap)) == NULL)
		return NULL;
	strcpy(f, "(&(objectClass=rgLogRecord)");
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		struct berval in = { 0, (char *)a[i].value }, out = { 0, NULL };

		if (a[i].value == NULL)
			continue;
		in.bv_len = strlen(a[i].value);
		/* RFC 4515 escapes: at most three bytes for one */
		if (ldap_bv2escaped_filter_value(&in, &out) != 0 || out.bv_len > 3 * in.bv_len) {
			ber_memfree(out.bv_val);
			free(f);
			return NULL;
		}
		strcat(strcat(strcat(strcat(f, "("), a[i].attr_op), out.bv_val), ")");
		ber_memfree(out.bv_val);
	}
	if (o->review_required || o->pending)
		strcat(f, "(rgLogReviewRequired=TRUE)");
	if (o->alert)
		strcat(f, "(rgLogAlert=TRUE)");
	if (o->pending)
		strcat(f, "(!(rgLogReviewVerdict=*))");
	return strcat(f, ")");
}

/* ---- collecting ---- */

struct rstate {
	struct audit_rec **v;
	size_t n, cap;
	struct audit_entry a;
};

static int
collect_cb(LDAP *ld, LDAPMessage *e, void *arg)
{
	struct rstate *st = arg;
	struct audit_entry *a = &st->a;
	struct audit_rec *r;
	const char **methods;
	char *base;

	if (audit_decode(ld, e, a) != 0)
		goto nomem;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		struct audit_rec **p = realloc(st->v, cap * sizeof(*p));

		if (p == NULL)
			goto nomem;
		st->v = p;
		st->cap = cap;
	}
	/* one block: the struct, the methods array, then a copy of the decoder's strings */
	r = malloc(sizeof(*r) + a->r.nmethods * sizeof(char *) + a->len);
	if (r == NULL)
		goto nomem;
	methods = (const char **)(r + 1);
	base = (char *)(methods + a->r.nmethods);
	memcpy(base, a->buf, a->len);
	r->r = a->r;
	r->r.methods = methods;
	r->hash = a->hash;
	r->outcome = a->outcome;
	r->outcome_text = a->outcome_text;
	r->reviewer = a->reviewer;
	r->review_time = a->review_time;
	r->review_verdict = a->review_verdict;
	{
		const char **p[] = { &r->r.time, &r->r.target, &r->r.requester, &r->r.approver,
			&r->r.kind, &r->r.decision, &r->r.rule, &r->r.rule_text, &r->r.policy,
			&r->r.operation, &r->r.issuer, &r->r.jti, &r->r.reason, &r->hash,
			&r->outcome, &r->outcome_text, &r->reviewer, &r->review_time,
			&r->review_verdict };

		/* from the decoder's storage into the copy */
		for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
			if (*p[i] != NULL)
				*p[i] = base + (*p[i] - a->buf);
		for (size_t i = 0; i < a->r.nmethods; i++)
			methods[i] = base + (a->r.methods[i] - a->buf);
	}
	st->v[st->n++] = r;
	return AUDIT_OK;
nomem:
	fprintf(stderr, PROG ": out of memory after %zu records\n", st->n);
	return AUDIT_ERROR;
}

/* Time order, which merges the chains of several providers (each its own numbers); one
 * chain's times rise with its numbers, which break ties. */
static int
by_time(const void *x, const void *y)
{
	const struct audit_rec *a = *(struct audit_rec *const *)x;
	const struct audit_rec *b = *(struct audit_rec *const *)y;
	int c = strcmp(a->r.time ? a->r.time : "", b->r.time ? b->r.time : "");

	if (c != 0)
		return c;
	return a->r.number < b->r.number ? -1 : a->r.number > b->r.number;
}

/* ---- table ---- */

#define NCOLS 8

/* A value fit for a terminal: control characters as '?', absent as "-". */
static const char *
cell(const char *v, char *buf, size_t size)
{
	size_t i;

	if (v == NULL || *v == '\0')
		return "-";
	for (i = 0; v[i] != '\0' && i + 1 < size; i++)
		buf[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
	buf[i] = '\0';
	return buf;
}

static void
row_cells(const struct audit_rec *r, char bufs[NCOLS][1024], const char *c[NCOLS])
{
	const char *t = r->r.time;

	snprintf(bufs[0], sizeof(bufs[0]), "%llu", r->r.number);
	c[0] = bufs[0];
	/* YYYYmmddHHMMSS.ffffffZ shown as YYYY-mm-ddTHH:MM:SSZ */
	if (t != NULL && strlen(t) >= 15 && strspn(t, "0123456789") == 14) {
		snprintf(bufs[1], sizeof(bufs[1]), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", t, t + 4,
			t + 6, t + 8, t + 10, t + 12);
		c[1] = bufs[1];
	} else {
		c[1] = cell(t, bufs[1], sizeof(bufs[1]));
	}
	c[2] = cell(r->r.kind, bufs[2], sizeof(bufs[2]));
	c[3] = cell(r->r.decision, bufs[3], sizeof(bufs[3]));
	c[4] = cell(r->r.rule, bufs[4], sizeof(bufs[4]));
	c[5] = cell(r->r.target, bufs[5], sizeof(bufs[5]));
	c[6] = cell(r->r.requester, bufs[6], sizeof(bufs[6]));
	c[7] = cell(r->r.approver, bufs[7], sizeof(bufs[7]));
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void
print_row(const char *c[NCOLS], const size_t w[NCOLS])
{
	for (int i = 0; i < NCOLS; i++) {
		fputs(c[i], stdout);
		if (i + 1 < NCOLS)
			printf("%*s", (int)(w[i] - width(c[i]) + 2), "");
	}
	putchar('\n');
}

static void
print_table(struct audit_rec **v, size_t n)
{
	static const char *head[NCOLS] = { "NUMBER", "TIME", "KIND", "DECISION", "RULE",
		"TARGET", "REQUESTER", "APPROVER" };
	static char bufs[NCOLS][1024];
	const char *c[NCOLS];
	size_t w[NCOLS];

	for (int i = 0; i < NCOLS; i++)
		w[i] = strlen(head[i]);
	for (size_t k = 0; k < n; k++) {
		row_cells(v[k], bufs, c);
		for (int i = 0; i < NCOLS; i++)
			if (width(c[i]) > w[i])
				w[i] = width(c[i]);
	}
	print_row(head, w);
	for (size_t k = 0; k < n; k++) {
		row_cells(v[k], bufs, c);
		print_row(c, w);
	}
}

/* ---- CSV and JSON: every field ---- */

enum ctype { C_STR, C_NUM, C_LEVEL, C_BOOL, C_METHODS };

static const struct {
	const char *name;
	enum ctype type;
} cols[] = {
	{ "number", C_NUM }, { "time", C_STR }, { "kind", C_STR }, { "decision", C_STR },
	{ "rule", C_STR }, { "rule_text", C_STR }, { "target", C_STR }, { "requester", C_STR },
	{ "approver", C_STR }, { "policy", C_STR }, { "operation", C_STR }, { "issuer", C_STR },
	{ "level", C_LEVEL }, { "methods", C_METHODS }, { "jti", C_STR }, { "reason", C_STR },
	{ "review_required", C_BOOL }, { "alert", C_BOOL }, { "outcome", C_STR },
	{ "outcome_text", C_STR }, { "reviewer", C_STR }, { "review_time", C_STR },
	{ "review_verdict", C_STR }, { "prev_hash", C_STR }, { "hash", C_STR }
};
#define NFIELDS (sizeof(cols) / sizeof(cols[0]))

/* Column i of r as text (NULL when absent), booleans as TRUE or FALSE; not for methods. */
static const char *
col_text(const struct audit_rec *x, size_t i, char buf[32])
{
	const struct rg_log_record *r = &x->r;
	const char *v[NFIELDS] = {
		NULL, r->time, r->kind, r->decision, r->rule, r->rule_text, r->target,
		r->requester, r->approver, r->policy, r->operation, r->issuer, NULL, NULL, r->jti,
		r->reason, r->review_required ? "TRUE" : "FALSE", r->alert ? "TRUE" : "FALSE",
		x->outcome, x->outcome_text, x->reviewer, x->review_time, x->review_verdict,
		r->prev_hash, x->hash
	};

	if (cols[i].type == C_NUM)
		snprintf(buf, 32, "%llu", r->number);
	else if (cols[i].type == C_LEVEL)
		return r->level > 0 ? (snprintf(buf, 32, "%d", r->level), buf) : NULL;
	else
		return v[i];
	return buf;
}

static void
csv_put(const char *v, int quoted)
{
	for (; *v; v++) {
		if (quoted && *v == '"')
			putchar('"');
		putchar(*v);
	}
}

/* RFC 4180: quoted when it holds a comma, a quote or a line end; quotes doubled. */
static void
csv_field(const char *v, const char *sep)
{
	int q = v != NULL && strpbrk(v, ",\"\r\n") != NULL;

	fputs(q ? "\"" : "", stdout);
	csv_put(v ? v : "", q);
	fputs(q ? "\"" : "", stdout);
	fputs(sep, stdout);
}

/* The methods joined by ';', one field. */
static void
csv_methods(const struct rg_log_record *r, const char *sep)
{
	int q = 0;

	for (size_t j = 0; j < r->nmethods; j++)
		q |= strpbrk(r->methods[j], ",\"\r\n") != NULL;
	fputs(q ? "\"" : "", stdout);
	for (size_t j = 0; j < r->nmethods; j++) {
		fputs(j > 0 ? ";" : "", stdout);
		csv_put(r->methods[j], q);
	}
	fputs(q ? "\"" : "", stdout);
	fputs(sep, stdout);
}

static void
print_csv(struct audit_rec **v, size_t n)
{
	char buf[32];

	for (size_t i = 0; i < NFIELDS; i++)
		csv_field(cols[i].name, i + 1 < NFIELDS ? "," : "\r\n");
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < NFIELDS; i++) {
			const char *sep = i + 1 < NFIELDS ? "," : "\r\n";

			if (cols[i].type == C_METHODS)
				csv_methods(&v[k]->r, sep);
			else
				csv_field(col_text(v[k], i, buf), sep);
		}
	}
}

/* A JSON string, or null; bytes that are not valid UTF-8 become '?'. */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *
col_json(const struct audit_rec *x, size_t i)
{
	const struct rg_log_record *r = &x->r;
	char buf[32];
	json_t *m;

	switch (cols[i].type) {
	case C_NUM:
		return json_integer((json_int_t)r->number);
	case C_LEVEL:
		return r->level > 0 ? json_integer(r->level) : json_null();
	case C_BOOL:
		return json_boolean(strcmp(col_text(x, i, buf), "TRUE") == 0);
	case C_METHODS:
		if ((m = json_array()) == NULL)
			return NULL;
		for (size_t j = 0; j < r->nmethods; j++) {
			if (json_array_append_new(m, jstr(r->methods[j])) != 0) {
				json_decref(m);
				return NULL;
			}
		}
		return m;
	default:
		return jstr(col_text(x, i, buf));
	}
}

static int
print_json(struct audit_rec **v, size_t n)
{
	fputs("[", stdout);
	for (size_t k = 0; k < n; k++) {
		json_t *o = json_object();
		int bad = o == NULL;

		for (size_t i = 0; !bad && i < NFIELDS; i++)
			bad = json_object_set_new(o, cols[i].name, col_json(v[k], i)) != 0;
		if (!bad) {
			fputs(k > 0 ? ",\n  " : "\n  ", stdout);
			bad = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0;
		}
		json_decref(o);
		if (bad) {
			fprintf(stderr, PROG ": cannot build the JSON output (out of memory)\n");
			return AUDIT_ERROR;
		}
	}
	fputs(n > 0 ? "\n]\n" : "]\n", stdout);
	return AUDIT_OK;
}

/* -o FILE: standard output goes there from now on, once the records are read (a search
 * that fails leaves no file). Made with mode 0600 when new: a report names people and what
 * they did. */
static int
output_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || fflush(stdout) != 0 || dup2(fd, STDOUT_FILENO) < 0) {
		fprintf(stderr, PROG ": cannot write the report to '%s': %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return AUDIT_ERROR;
	}
	close(fd);
	return AUDIT_OK;
}

int
audit_report(LDAP *ld, const char *base, const struct report_opts *o)
{
	struct rstate st;
	char *filter = audit_report_filter(o);
	int ret;

	if (filter == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return AUDIT_ERROR;
	}
	memset(&st, 0, sizeof(st));
	if (o->verbose)
		fprintf(stderr, PROG ": filter %s\n", filter);
	/* Unpaged first: slapd computes a search's candidates again for every page, which
	 * for an indexed rgLogTime range means walking the range once a page. Only when a
	 * size limit stops the plain search is it repeated with paging (and, if the limit
	 * holds for that too, in windows of change numbers). */
	ret = audit_scan(ld, base, filter, audit_record_attrs, 1, o->verbose, collect_cb, &st);
	audit_entry_free(&st.a);
	free(filter);
	if (ret == AUDIT_OK && o->output != NULL)
		ret = output_to(o->output);
	if (ret == AUDIT_OK) {
		if (st.n > 0)
			qsort(st.v, st.n, sizeof(*st.v), by_time);
		if (o->format == FMT_TABLE) {
			print_table(st.v, st.n);
		} else if (o->format == FMT_CSV) {
			print_csv(st.v, st.n);
		} else if (o->format == FMT_JSON) {
			ret = print_json(st.v, st.n);
		} else if (audit_html(stdout, st.v, st.n, base, o) != 0) {
			fprintf(stderr, PROG ": cannot build the HTML page (out of memory)\n");
			ret = AUDIT_ERROR;
		}
		if (o->verbose)
			fprintf(stderr, PROG ": %zu records\n", st.n);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, PROG ": cannot write the report to %s%s%s\n",
				o->output ? "'" : "", o->output ? o->output : "standard output",
				o->output ? "'" : "");
			ret = AUDIT_ERROR;
		}
	}
	for (size_t i = 0; i < st.n; i++)
		free(st.v[i]);
	free(st.v);
	return ret;
}
