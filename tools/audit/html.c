/* report --format html: one self-contained page for auditors, from the records report
 * collected. Inline CSS and SVG drawn here, no script, no request to anything (a Content
 * Security Policy forbids them too): resets per day by kind and decision, denials by rule,
 * top requesters and targets, the pending reviews and the records. Every value from the log
 * is escaped; bytes that are not UTF-8 or are control characters are shown as '?'. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

#define TOP 10         /* bars in the requester and target charts */
#define TOP_RULES 15   /* and in the rule chart */
#define LABEL_MAX 44   /* characters of a bar's label; the whole value is its tooltip */
#define SPAN_MAX 1100  /* days drawn one by one, empty ones included; beyond, present days only */

/* ---- escaping ---- */

/* The length of the UTF-8 sequence at s (1 to 4), 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* no overlong form, no surrogate, nothing above U+10FFFF */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/* s as HTML text or attribute value, at most max characters (0: all), "..." after a cut. */
static void
esc_n(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t chars = 0;

	while (*p != '\0') {
		size_t n = utf8_len(p);

		if (max > 0 && chars++ == max) {
			fputs("...", f);
			return;
		}
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			fputc('?', f);
			p++;
			continue;
		}
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fwrite(p, 1, n, f);
		}
		p += n;
	}
}

static void
esc(FILE *f, const char *s)
{
	esc_n(f, s, 0);
}

/* ---- counting ---- */

/* Distinct strings and their counts: open addressing on the strings, which the records own. */
struct tally {
	const char **key;
	unsigned long *count;
	size_t cap, n;
};

static size_t
str_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int tally_add(struct tally *t, const char *key, unsigned long count);

static int
tally_grow(struct tally *t)
{
	struct tally g = { NULL, NULL, t->cap ? t->cap * 2 : 64, 0 };

	g.key = calloc(g.cap, sizeof(*g.key));
	g.count = calloc(g.cap, sizeof(*g.count));
	if (g.key == NULL || g.count == NULL) {
		free(g.key);
		free(g.count);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++)
		if (t->key[i] != NULL)
			tally_add(&g, t->key[i], t->count[i]);
	free(t->key);
	free(t->count);
	*t = g;
	return 0;
}

/* Absent values count as "-". 0, or -1 when out of memory. */
static int
tally_add(struct tally *t, const char *key, unsigned long count)
{
	size_t i;

	if (key == NULL || *key == '\0')
		key = "-";
	if ((t->n + 1) * 2 > t->cap && tally_grow(t) != 0)
		return -1;
	for (i = str_hash(key) & (t->cap - 1); t->key[i] != NULL; i = (i + 1) & (t->cap - 1))
		if (strcmp(t->key[i], key) == 0)
			break;
	if (t->key[i] == NULL) {
		t->key[i] = key;
		t->n++;
	}
	t->count[i] += count;
	return 0;
}

static void
tally_free(struct tally *t)
{
	free(t->key);
	free(t->count);
	memset(t, 0, sizeof(*t));
}

struct entry {
	const char *key;
	unsigned long count;
};

static int
by_count(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return strcmp(a->key, b->key);
}

/* The tally as an array sorted by cmp (malloc'd; NULL with *n 0 when empty or out of memory). */
static struct entry *
sorted(const struct tally *t, int (*cmp)(const void *, const void *), size_t *n)
{
	struct entry *e = t->n > 0 ? malloc(t->n * sizeof(*e)) : NULL;

	*n = 0;
	if (e == NULL)
		return NULL;
	for (size_t i = 0; i < t->cap; i++)
		if (t->key[i] != NULL)
			e[(*n)++] = (struct entry){ t->key[i], t->count[i] };
	qsort(e, *n, sizeof(*e), cmp);
	return e;
}

/* ---- the numbers of the page ---- */

/* A generalizedTime's date as days since 1970-01-01 into day; -1 if it has none. */
static int
day_of(const char *t, long *day)
{
	struct tm tm;
	int y, m, d;

	if (t == NULL || strlen(t) < 8 || strspn(t, "0123456789") < 8 ||
	    sscanf(t, "%4d%2d%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*day = (long)(timegm(&tm) / 86400);      /* midnight: a whole number of days */
	return 0;
}

static void
day_text(long day, char out[16])
{
	time_t t = (time_t)day * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

/* A bar's segment: the records of one kind and decision. */
struct series {
	char *key;      /* "KIND\tDECISION" */
	size_t kind;    /* its kind's place among the kinds, in order of first appearance */
};

struct stats {
	unsigned long allowed, denied, review, pending, alerts, dated, undated;
	struct tally rules, requesters, targets;
	struct series *series;  /* in order of first appearance */
	size_t nseries, nkinds;
	long first_day, last_day;
	long *days;             /* the days drawn, ascending */
	size_t ndays;
	unsigned long *per_day; /* ndays x nseries */
	unsigned long day_max;
};

/* The series of r, made when new. -1 when out of memory. */
static long
series_of(struct stats *s, const struct audit_rec *r)
{
	const char *k = r->r.kind && *r->r.kind ? r->r.kind : "-";
	const char *d = r->r.decision && *r->r.decision ? r->r.decision : "-";
	size_t kl = strlen(k), len = kl + strlen(d) + 2, kind = s->nkinds;
	struct series *x;

	for (size_t i = 0; i < s->nseries; i++) {
		const char *key = s->series[i].key;

		if (strncmp(key, k, kl) == 0 && key[kl] == '\t') {
			if (strcmp(key + kl + 1, d) == 0)
				return (long)i;
			kind = s->series[i].kind;
		}
	}
	if ((x = realloc(s->series, (s->nseries + 1) * sizeof(*x))) == NULL)
		return -1;
	s->series = x;
	if ((x[s->nseries].key = malloc(len)) == NULL)
		return -1;
	snprintf(x[s->nseries].key, len, "%s\t%s", k, d);
	x[s->nseries].kind = kind;
	if (kind == s->nkinds)
		s->nkinds++;
	return (long)s->nseries++;
}

static int
day_index(const struct stats *s, long day, size_t *at)
{
	size_t lo = 0, hi = s->ndays;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->days[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < s->ndays && s->days[lo] == day;
}

static int
gather(struct stats *s, struct audit_rec **v, size_t n)
{
	long *rec_series = n > 0 ? malloc(n * sizeof(*rec_series)) : NULL;
	int ret = -1;

	if (n > 0 && rec_series == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct audit_rec *r = v[i];
		int denied = r->r.decision != NULL && strcmp(r->r.decision, "denied") == 0;
		long day;

		if (denied)
			s->denied++;
		else
			s->allowed++;
		s->review += r->r.review_required != 0;
		s->pending += r->r.review_required && r->review_verdict == NULL;
		s->alerts += r->r.alert != 0;
		if (tally_add(&s->requesters, r->r.requester, 1) ||
		    tally_add(&s->targets, r->r.target, 1) ||
		    (denied && tally_add(&s->rules, r->r.rule, 1)) ||
		    (rec_series[i] = series_of(s, r)) < 0)
			goto out;
		if (day_of(r->r.time, &day) != 0) {
			s->undated++;
			continue;
		}
		if (s->dated++ == 0)
			s->first_day = s->last_day = day;
		else if (day < s->first_day)
			s->first_day = day;
		else if (day > s->last_day)
			s->last_day = day;
	}
	/* the days drawn: every day of the span, or those with records when it is too long */
	if (s->dated > 0) {
		size_t cap = s->last_day - s->first_day < SPAN_MAX ?
			(size_t)(s->last_day - s->first_day + 1) : n;

		if ((s->days = malloc(cap * sizeof(*s->days))) == NULL)
			goto out;
		if (s->last_day - s->first_day < SPAN_MAX) {
			for (long d = s->first_day; d <= s->last_day; d++)
				s->days[s->ndays++] = d;
		} else {
			for (size_t i = 0; i < n; i++) {
				long day;
				size_t at;

				if (day_of(v[i]->r.time, &day) != 0 || day_index(s, day, &at))
					continue;
				memmove(s->days + at + 1, s->days + at,
					(s->ndays - at) * sizeof(*s->days));
				s->days[at] = day;
				s->ndays++;
			}
		}
	}
	if (s->ndays > 0 &&
	    (s->per_day = calloc(s->ndays * s->nseries, sizeof(*s->per_day))) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		long day;
		size_t at;

		if (day_of(v[i]->r.time, &day) == 0 && day_index(s, day, &at))
			s->per_day[at * s->nseries + (size_t)rec_series[i]]++;
	}
	for (size_t d = 0; d < s->ndays; d++) {
		unsigned long sum = 0;

		for (size_t k = 0; k < s->nseries; k++)
			sum += s->per_day[d * s->nseries + k];
		if (sum > s->day_max)
			s->day_max = sum;
	}
	ret = 0;
out:
	free(rec_series);
	return ret;
}

static void
stats_free(struct stats *s)
{
	tally_free(&s->rules);
	tally_free(&s->requesters);
	tally_free(&s->targets);
	for (size_t i = 0; i < s->nseries; i++)
		free(s->series[i].key);
	free(s->series);
	free(s->days);
	free(s->per_day);
}

/* ---- drawing ---- */

/* Allowed in a light shade, denied in a dark one of the same hue, per kind. */
static const char *const light[] = { "#7fb3e0", "#8fd19e", "#f2c46d", "#c9a0dc", "#f09a8a",
	"#8fd6d6", "#d6c28f", "#b0b0b0" };
static const char *const dark[] = { "#1f5f99", "#2e8540", "#a86b00", "#6a3d8f", "#b03a2e",
	"#1f7a7a", "#7a6420", "#505050" };
#define NCOLORS (sizeof(light) / sizeof(light[0]))

/* The colour of series k: its kind's hue, dark when denied. */
static const char *
series_color(const struct stats *s, size_t k)
{
	const char *d = strchr(s->series[k].key, '\t') + 1;
	size_t c = s->series[k].kind % NCOLORS;

	return strcmp(d, "denied") == 0 ? dark[c] : light[c];
}

static void
series_name(FILE *f, const char *key)
{
	const char *tab = strchr(key, '\t');
	char kind[256];
	size_t kl = (size_t)(tab - key) < sizeof(kind) ? (size_t)(tab - key) : sizeof(kind) - 1;

	memcpy(kind, key, kl);
	kind[kl] = '\0';
	esc(f, kind);
	fputc(' ', f);
	esc(f, tab + 1);
}

/* A round top for an axis over max: 1, 2 or 5 times a power of ten. */
static unsigned long
axis_top(unsigned long max)
{
	unsigned long p = 1;

	for (;;) {
		if (max <= p)
			return p;
		if (max <= 2 * p)
			return 2 * p;
		if (max <= 5 * p)
			return 5 * p;
		p *= 10;
	}
}

static void
chart_days(FILE *f, const struct stats *s)
{
	const int left = 56, top = 10, plot_w = 880, plot_h = 220, w = left + plot_w + 10,
		  h = top + plot_h + 40;
	unsigned long ymax = axis_top(s->day_max ? s->day_max : 1);
	double bw = (double)plot_w / (double)s->ndays;
	size_t step = s->ndays / 8 + 1;
	char day[16];

	fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
		"aria-label=\"resets per day by kind and decision\">\n", w, h);
	for (int i = 0; i <= 4; i++) {
		double y = top + plot_h - (double)plot_h * i / 4;

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
			"<text x=\"%d\" y=\"%.1f\" class=\"ylab\">%lu</text>\n", left,
			left + plot_w, y, y, left - 6, y + 4, ymax * (unsigned long)i / 4);
	}
	for (size_t d = 0; d < s->ndays; d++) {
		double y = top + plot_h, x = left + bw * (double)d;

		day_text(s->days[d], day);
		for (size_t k = 0; k < s->nseries; k++) {
			unsigned long c = s->per_day[d * s->nseries + k];
			double bh = (double)plot_h * (double)c / (double)ymax;

			if (c == 0)
				continue;
			y -= bh;
			fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
				"fill=\"%s\"><title>%s ", x, y, bw > 2 ? bw - 1 : bw, bh,
				series_color(s, k), day);
			series_name(f, s->series[k].key);
			fprintf(f, ": %lu</title></rect>\n", c);
		}
		if (d % step == 0 || d + 1 == s->ndays)
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xlab\">%s</text>\n",
				x + bw / 2, top + plot_h + 16, day);
	}
	fprintf(f, "</svg>\n<p class=\"legend\">");
	for (size_t k = 0; k < s->nseries; k++) {
		fprintf(f, "<span><i style=\"background:%s\"></i>", series_color(s, k));
		series_name(f, s->series[k].key);
		fputs("</span> ", f);
	}
	fputs("</p>\n", f);
}

/* Horizontal bars: the first max entries of e, largest first; the rest said in words. */
static void
chart_bars(FILE *f, const char *label, const struct entry *e, size_t n, size_t max)
{
	const int lab_w = 330, bar_w = 560, row = 22;
	size_t shown = n < max ? n : max;
	unsigned long rest = 0, top = 1;

	for (size_t i = 0; i < n; i++) {
		if (i >= shown)
			rest += e[i].count;
		else if (e[i].count > top)
			top = e[i].count;
	}
	fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %d %zu\" role=\"img\" aria-label=\"",
		lab_w + bar_w + 70, shown * row + 6);
	esc(f, label);
	fputs("\">\n", f);
	for (size_t i = 0; i < shown; i++) {
		double len = (double)bar_w * (double)e[i].count / (double)top;
		size_t y = i * row + 4;

		fputs("<g><title>", f);
		esc(f, e[i].key);
		fprintf(f, ": %lu</title><text x=\"%d\" y=\"%zu\" class=\"blab\">", e[i].count,
			lab_w - 8, y + 14);
		esc_n(f, e[i].key, LABEL_MAX);
		fprintf(f, "</text><rect x=\"%d\" y=\"%zu\" width=\"%.2f\" height=\"%d\" "
			"class=\"bar\"/><text x=\"%.1f\" y=\"%zu\" class=\"count\">%lu</text></g>\n",
			lab_w, y, len < 1 ? 1 : len, row - 6, lab_w + len + 6, y + 14, e[i].count);
	}
	fputs("</svg>\n", f);
	if (n > shown)
		fprintf(f, "<p class=\"meta\">and %zu others, with %lu records in all.</p>\n",
			n - shown, rest);
}

static int
bars_section(FILE *f, const char *title, const char *none, const struct tally *t, size_t max)
{
	size_t n;
	struct entry *e = sorted(t, by_count, &n);

	if (t->n > 0 && e == NULL)
		return -1;
	fprintf(f, "<h2>%s</h2>\n", title);
	if (n == 0)
		fprintf(f, "<p class=\"none\">%s</p>\n", none);
	else
		chart_bars(f, title, e, n, max);
	free(e);
	return 0;
}

/* ---- tables ---- */

static void
time_cell(FILE *f, const char *t)
{
	/* YYYYmmddHHMMSS.ffffffZ shown as YYYY-mm-dd HH:MM:SSZ */
	if (t != NULL && strlen(t) >= 15 && strspn(t, "0123456789") == 14)
		fprintf(f, "<td>%.4s-%.2s-%.2s %.2s:%.2s:%.2sZ</td>", t, t + 4, t + 6, t + 8,
			t + 10, t + 12);
	else {
		fputs("<td>", f);
		esc(f, t);
		fputs("</td>", f);
	}
}

static void
cell(FILE *f, const char *v)
{
	fputs("<td>", f);
	esc(f, v && *v ? v : "-");
	fputs("</td>", f);
}

static void
records_table(FILE *f, struct audit_rec **v, size_t n, int pending_only)
{
	fputs("<table><thead><tr><th>number</th><th>time</th><th>kind</th><th>decision</th>"
		"<th>rule</th><th>target</th><th>requester</th><th>approver</th>", f);
	fputs(pending_only ? "<th>reason</th></tr></thead>\n<tbody>\n" :
		"<th>outcome</th><th>review</th></tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct audit_rec *r = v[i];
		int denied = r->r.decision && strcmp(r->r.decision, "denied") == 0;

		if (pending_only && !(r->r.review_required && r->review_verdict == NULL))
			continue;
		fprintf(f, "<tr%s><td>%llu</td>", denied ? " class=\"denied\"" : "", r->r.number);
		time_cell(f, r->r.time);
		cell(f, r->r.kind);
		cell(f, r->r.decision);
		cell(f, r->r.rule);
		cell(f, r->r.target);
		cell(f, r->r.requester);
		cell(f, r->r.approver);
		if (pending_only) {
			cell(f, r->r.reason);
		} else {
			cell(f, r->outcome);
			cell(f, !r->r.review_required ? NULL : r->review_verdict ?
				r->review_verdict : "pending");
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void
criteria(FILE *f, const char *base, const struct report_opts *o)
{
	const struct {
		const char *name, *value;
	} c[] = { { "since", o->since }, { "until", o->until }, { "target", o->target },
		{ "requester", o->requester }, { "approver", o->approver },
		{ "kind", o->kind }, { "decision", o->decision } };
	int any = 0;

	fputs("<p class=\"meta\">log ", f);
	esc(f, base);
	fputs("; records ", f);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (c[i].value == NULL)
			continue;
		fprintf(f, "%s%s ", any++ ? ", " : "", c[i].name);
		esc(f, c[i].value);
	}
	if (o->review_required || o->pending)
		fprintf(f, "%sreview required", any++ ? ", " : "");
	if (o->pending)
		fprintf(f, ", no verdict yet");
	if (o->alert)
		fprintf(f, "%sraised an alert", any++ ? ", " : "");
	fprintf(f, "%s</p>\n", any ? "" : "all");
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}"
	"h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}"
	".meta{color:#555}.none{color:#555;font-style:italic}"
	".summary{display:flex;flex-wrap:wrap;gap:1em;padding:0}"
	".summary li{list-style:none;border:1px solid #ddd;border-radius:4px;padding:.5em 1em}"
	".summary b{display:block;font-size:1.4em}"
	".chart{width:100%;height:auto;font-size:11px}"
	".grid{stroke:#e5e5e5}.ylab{text-anchor:end;fill:#555}.xlab{text-anchor:middle;fill:#555}"
	".blab{text-anchor:end}.count{fill:#333}.bar{fill:#1f5f99}"
	".legend span{margin-right:1em;white-space:nowrap}"
	".legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;"
	"vertical-align:middle}"
	"table{border-collapse:collapse;font-size:12px;width:100%}"
	"th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;"
	"word-break:break-all}"
	"th{background:#f3f3f3;position:sticky;top:0}tr.denied td{background:#fbecea}";

int
audit_html(FILE *f, struct audit_rec **v, size_t n, const char *base,
	const struct report_opts *o)
{
	struct stats s;
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	int ret = -1;

	memset(&s, 0, sizeof(s));
	if (gather(&s, v, n) != 0)
		goto out;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%SZ", &tm);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		"style-src 'unsafe-inline'\">\n<title>resetguard reset log report</title>\n"
		"<style>%s</style></head>\n<body>\n<h1>resetguard reset log report</h1>\n", style);
	criteria(f, base, o);
	fprintf(f, "<p class=\"meta\">written by " PROG " on %s", now);
	if (n > 0)
		fprintf(f, "; change numbers %llu to %llu", v[0]->r.number, v[n - 1]->r.number);
	fputs("</p>\n<ul class=\"summary\">\n", f);
	fprintf(f, "<li id=\"records\"><b>%zu</b>records</li>\n"
		"<li id=\"allowed\"><b>%lu</b>allowed</li>\n"
		"<li id=\"denied\"><b>%lu</b>denied</li>\n"
		"<li id=\"review\"><b>%lu</b>review required</li>\n"
		"<li id=\"pending\"><b>%lu</b>pending review</li>\n"
		"<li id=\"alerts\"><b>%lu</b>alerts</li>\n</ul>\n", n, s.allowed, s.denied,
		s.review, s.pending, s.alerts);

	fputs("<h2>Resets per day, by kind and decision</h2>\n", f);
	if (s.ndays == 0)
		fputs("<p class=\"none\">No dated records.</p>\n", f);
	else
		chart_days(f, &s);
	if (s.ndays > 0 && s.last_day - s.first_day >= SPAN_MAX)
		fputs("<p class=\"meta\">Only the days with records are drawn.</p>\n", f);
	if (s.undated > 0)
		fprintf(f, "<p class=\"meta\">%lu records have no readable time and are not "
			"drawn.</p>\n", s.undated);
	if (bars_section(f, "Denials by rule", "No denials.", &s.rules, TOP_RULES) != 0 ||
	    bars_section(f, "Top requesters", "No records.", &s.requesters, TOP) != 0 ||
	    bars_section(f, "Top targets", "No records.", &s.targets, TOP) != 0)
		goto out;

	fprintf(f, "<h2>Pending reviews</h2>\n");
	if (s.pending == 0)
		fputs("<p class=\"none\">No change awaits a review.</p>\n", f);
	else
		records_table(f, v, n, 1);
	fprintf(f, "<h2>Records</h2>\n");
	if (n == 0)
		fputs("<p class=\"none\">No records.</p>\n", f);
	else
		records_table(f, v, n, 0);
	fputs("</body></html>\n", f);
	ret = 0;
out:
	stats_free(&s);
	return ret;
}
