/* Hook kind "notify": tells the account holder that their password was changed (NIST SP
 * 800-63B asks that the subscriber be notified after a recovery), so that someone whose
 * account was reset by another can say so at once. The address is an attribute of the
 * account in the main directory (mail by default), read by the hook's worker before each
 * run; the message is a template filled in with what happened -- never the password,
 * which a hook never sees -- and handed to a sendmail-compatible program ("-t -oi", the
 * message on its standard input) through spawn.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "confkv.h"
#include "errbuf.h"
#include "hook.h"
#include "securefile.h"
#include "spawn.h"

#define DEFAULT_PROGRAM "/usr/sbin/sendmail"
#define DEFAULT_ATTR "mail"
#define DEFAULT_TIMEOUT 30
#define MAX_TEMPLATE (64 * 1024)
#define MAX_RECIPIENTS 8
#define KEEP 512 /* bytes of the program's output kept for the error text */

/* The message when no template-file is given; the placeholders are those of fill(). */
static const char default_template[] =
	"From: %f\n"
	"To: %m\n"
	"Subject: Your password was changed\n"
	"MIME-Version: 1.0\n"
	"Content-Type: text/plain; charset=UTF-8\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"Hello,\n"
	"\n"
	"the password of your account %u was changed on %t,\n"
	"%w.\n"
	"\n"
	"If you made this change, or asked for it, there is nothing more to do.\n"
	"\n"
	"If you did not, someone else may now hold your account: report it at once\n"
	"to %c, quoting reference %n.\n"
	"\n"
	"This message was sent automatically. It never contains a password.\n";

struct notify {
	char *program;
	char *attr;
	char *from;
	char *contact;
	char *tmpl;
	int timeout;
	char *argv[4];
};

/* Who changed it, in words the account holder understands. */
static const char *
who(const char *kind)
{
	static const struct {
		const char *kind, *words;
	} words[] = {
		{"self-change", "by you, with your previous password"},
		{"self-service",
			"through the self-service password reset, after a check of "
			"your identity"},
		{"delegated", "by the help desk or an administrator"},
		{"break-glass", "by an emergency (break-glass) administrator account"},
		{"provisioning", "when the account was set up"},
	};

	for (size_t i = 0; kind != NULL && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(words[i].kind, kind) == 0)
			return words[i].words;
	return "by an administrator";
}

/* A value as it may stand in a message: one line of printable text. A value from the
 * directory must not add a header (or a recipient) of its own. */
static void
put_clean(FILE *f, const char *v)
{
	for (; v != NULL && *v != '\0'; v++)
		fputc((unsigned char)*v < 0x20 || *v == 0x7f ? ' ' : *v, f);
}

/* An address sendmail -t takes as one recipient and nothing else: local@domain, printable
 * ASCII, none of the characters that separate, quote or comment addresses. */
static int
address_ok(const char *a)
{
	const char *at = strchr(a, '@');

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
		strlen(a) > 254)
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f ||
			strchr("<>()[],;:\"\\", *a) != NULL)
			return 0;
	return 1;
}

/* The template with every placeholder replaced (malloc'd; NULL when out of memory). */
static char *
fill(const struct notify *n, const struct hook_event *ev, const char *to)
{
	char *out = NULL, when[64] = "", num[24];
	size_t len = 0;
	time_t t = (time_t)ev->epoch;
	struct tm tm;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(num, sizeof(num), "%llu", ev->number);
	for (const char *p = n->tmpl; *p != '\0'; p++) {
		if (*p != '%') {
			fputc(*p, f);
			continue;
		}
		switch (*++p) {
		case 'a':
			put_clean(f, ev->account);
			break;
		case 'u':
			put_clean(f, ev->rdn_value);
			break;
		case 'm':
			put_clean(f, to);
			break;
		case 'f':
			put_clean(f, n->from);
			break;
		case 't':
			put_clean(f, when);
			break;
		case 'k':
			put_clean(f, ev->kind);
			break;
		case 'w':
			put_clean(f, who(ev->kind));
			break;
		case 'r':
			put_clean(f, ev->requester);
			break;
		case 'n':
			put_clean(f, num);
			break;
		case 'c':
			put_clean(f, n->contact);
			break;
		default:
			fputc('%', f);
			break; /* "%%"; configure refused any other */
		}
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Known placeholders only, a header block ended by an empty line, and a To: header that
 * names the recipient: anything else would be a message to nobody, or to someone else. */
static int
template_ok(const char *t, char *err, size_t errlen)
{
	const char *end = strstr(t, "\n\n"), *line;
	int to = 0;

	for (const char *p = t; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '\0' || strchr("aumftkwrnc%", p[1]) == NULL) {
			rg_seterr(err, errlen,
				"unknown placeholder \"%%%.1s\" (known: %%a %%u %%m "
				"%%f %%t %%k %%w %%r %%n %%c %%%%)",
				p + 1);
			return -1;
		}
		p++;
	}
	if (end == NULL) {
		rg_seterr(err, errlen,
			"no empty line after the headers: the template is the "
			"whole message, headers first");
		return -1;
	}
	for (line = t; line < end; line = strchr(line, '\n') + 1)
		if (strncasecmp(line, "To:", 3) == 0 && strstr(line, "%m") != NULL &&
			strstr(line, "%m") < strchr(line, '\n'))
			to = 1;
	if (!to) {
		rg_seterr(err, errlen,
			"no \"To: %%m\" header: the message must go to the account "
			"holder");
		return -1;
	}
	return 0;
}

static void
notify_free(struct hook *h)
{
	struct notify *n = h->priv;

	if (n == NULL)
		return;
	free(n->program);
	free(n->attr);
	free(n->from);
	free(n->contact);
	free(n->tmpl);
	free(n);
	h->priv = NULL;
}

static int
one_line(const struct conf_kv *k, char *err, size_t errlen)
{
	for (const char *p = k->value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return confkv_err(err, errlen, k->file, k->line,
				"%s: control characters are not allowed", k->key);
	return 0;
}

static int
attr_ok(const char *a)
{
	if (!isalpha((unsigned char)a[0]) && !isdigit((unsigned char)a[0]))
		return 0;
	for (; *a != '\0'; a++)
		if (!isalnum((unsigned char)*a) && *a != '-' && *a != '.')
			return 0;
	return 1;
}

static int
notify_configure(struct hook *h, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct notify *x = calloc(1, sizeof(*x));
	const struct conf_kv *tkv = NULL, *pkv = NULL;
	char why[SYNCD_ERR];
	int timeout_line = 0;

	if (x == NULL)
		return confkv_err(err, errlen, h->file, h->line, "out of memory");
	h->priv = x;
	x->timeout = DEFAULT_TIMEOUT;
	for (size_t i = 0; i < n; i++) {
		const struct conf_kv *k = &kv[i];
		int rc;

		if (strcmp(k->key, "sendmail-program") == 0) {
			rc = confkv_set_once(&x->program, k, err, errlen);
			pkv = k;
		} else if (strcmp(k->key, "mail-attribute") == 0) {
			rc = confkv_set_once(&x->attr, k, err, errlen);
			if (rc == 0 && !attr_ok(k->value))
				rc = confkv_err(err, errlen, k->file, k->line,
					"mail-attribute \"%s\" is not an attribute name", k->value);
		} else if (strcmp(k->key, "from") == 0) {
			rc = one_line(k, err, errlen);
			if (rc == 0)
				rc = confkv_set_once(&x->from, k, err, errlen);
		} else if (strcmp(k->key, "report-contact") == 0) {
			rc = one_line(k, err, errlen);
			if (rc == 0)
				rc = confkv_set_once(&x->contact, k, err, errlen);
		} else if (strcmp(k->key, "template-file") == 0) {
			rc = tkv != NULL ? confkv_err(err, errlen, k->file, k->line,
						   "template-file given twice")
					 : 0;
			tkv = k;
		} else if (strcmp(k->key, "timeout") == 0) {
			rc = confkv_once(k, &timeout_line, err, errlen);
			if (rc == 0)
				rc = confkv_seconds(k, &x->timeout, err, errlen);
		} else {
			rc = confkv_err(err, errlen, k->file, k->line,
				"unknown key \"%s\" in a notify hook (known: sendmail-program, "
				"mail-attribute, from, report-contact, template-file, timeout)",
				k->key);
		}
		if (rc != 0)
			goto fail;
	}
	if (x->from == NULL || x->contact == NULL) {
		confkv_err(err, errlen, h->file, h->line, "hook %s: a notify hook needs %s",
			h->name ? h->name : "",
			x->from == NULL ? "from (the sender address)"
					: "report-contact (where to report a change the holder did "
					  "not make)");
		goto fail;
	}
	if ((x->program == NULL && (x->program = strdup(DEFAULT_PROGRAM)) == NULL) ||
		(x->attr == NULL && (x->attr = strdup(DEFAULT_ATTR)) == NULL)) {
		confkv_err(err, errlen, h->file, h->line, "out of memory");
		goto fail;
	}
	if (spawn_check_program(x->program, why, sizeof(why)) != 0) {
		confkv_err(err, errlen, pkv ? pkv->file : h->file, pkv ? pkv->line : h->line,
			"sendmail-program%s: %s",
			pkv ? ""
			    : " (the default: set it to where "
			      "sendmail is)",
			why);
		goto fail;
	}
	if (tkv != NULL) {
		if (securefile_read_text("template-file", tkv->value, MAX_TEMPLATE, &x->tmpl, why,
			    sizeof(why)) != 0) {
			confkv_err(err, errlen, tkv->file, tkv->line, "%s", why);
			goto fail;
		}
		/* CRLF or LF: sendmail -oi reads lines */
		for (char *r = x->tmpl, *w = x->tmpl;; r++) {
			if (*r != '\r' || r[1] != '\n')
				*w++ = *r;
			if (*r == '\0')
				break;
		}
	} else if ((x->tmpl = strdup(default_template)) == NULL) {
		confkv_err(err, errlen, h->file, h->line, "out of memory");
		goto fail;
	}
	if (template_ok(x->tmpl, why, sizeof(why)) != 0) {
		confkv_err(err, errlen, tkv ? tkv->file : h->file, tkv ? tkv->line : h->line,
			"template-file %s: %s", tkv ? tkv->value : "(built in)", why);
		goto fail;
	}
	x->argv[0] = x->program;
	x->argv[1] = "-t";
	x->argv[2] = "-oi";
	x->argv[3] = NULL;
	return 0;
fail:
	notify_free(h);
	return -1;
}

static const char *
notify_attr(const struct hook *h)
{
	return ((const struct notify *)h->priv)->attr;
}

/* The usable addresses among vals, ", " between them. */
static int
recipients(char *const *vals, char *out, size_t outlen)
{
	size_t used = 0;
	int n = 0;

	out[0] = '\0';
	for (size_t i = 0; vals != NULL && vals[i] != NULL && n < MAX_RECIPIENTS; i++) {
		if (!address_ok(vals[i]) || used + strlen(vals[i]) + 3 > outlen)
			continue;
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", n ? ", " : "", vals[i]);
		n++;
	}
	return n;
}

static enum hook_result
notify_fire(struct hook *h, const struct hook_event *ev, char *err, size_t errlen)
{
	struct notify *n = h->priv;
	struct spawn_run run = {0};
	struct spawn_result res = {0};
	enum hook_result r = HOOK_FAIL;
	char to[2048], *msg = NULL;

	if (recipients(ev->account_values, to, sizeof(to)) == 0) {
		rg_seterr(err, errlen, "%s has no usable address in %s: nobody to notify",
			ev->account ? ev->account : "the account", n->attr);
		return HOOK_FAIL;
	}
	if (spawn_check_program(n->program, err, errlen) != 0)
		return HOOK_FAIL;
	if ((msg = fill(n, ev, to)) == NULL) {
		rg_seterr(err, errlen, "cannot build the message: out of memory");
		return HOOK_RETRY;
	}
	run.argv = n->argv;
	run.input = (const unsigned char *)msg;
	run.input_len = strlen(msg);
	run.timeout = n->timeout;
	run.keep = KEEP;
	if (spawn_program(&run, &res, err, errlen) != 0) {
		r = HOOK_RETRY;
	} else if (res.timed_out) {
		rg_seterr(err, errlen, "%s did not finish within %d s; killed", n->program,
			n->timeout);
		r = HOOK_RETRY;
	} else if (res.exited && res.status == 0) {
		r = HOOK_DONE;
	} else {
		/* sendmail's own convention: 75 (EX_TEMPFAIL) is "try again later" */
		r = res.exited && res.status == SPAWN_EXIT_RETRY ? HOOK_RETRY : HOOK_FAIL;
		for (size_t i = 0; i < res.output_len; i++)
			if ((unsigned char)res.output[i] < 0x20 || res.output[i] == 0x7f)
				res.output[i] = ' ';
		if (res.exited)
			rg_seterr(err, errlen, "%s exited with status %d%s%.200s", n->program,
				res.status, res.output_len ? ": " : "", res.output);
		else
			rg_seterr(err, errlen, "%s was killed by signal %d", n->program,
				res.signal);
	}
	spawn_result_free(&res);
	free(msg);
	return r;
}

const struct hook_ops hook_notify_ops = {
	.kind = "notify",
	.configure = notify_configure,
	.fire = notify_fire,
	.free = notify_free,
	.account_attr = notify_attr,
};
