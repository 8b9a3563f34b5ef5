/* The exec target: a local program that writes the password to a store with no LDAP. It
 * gets "ACCOUNT\nPASSWORD\n" on standard input — never in argv or the environment, which
 * other local users can read in /proc. Exit status 0 means done, 75 (EX_TEMPFAIL) try
 * again later, anything else failed; a program that outlives its timeout is killed and the
 * delivery retried. How it runs is spawn.h's. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "confkv.h"
#include "errbuf.h"
#include "scrub.h"
#include "spawn.h"
#include "target.h"

#define DEFAULT_TIMEOUT 20
#define KEEP 1024 /* bytes of the program's output kept for the error text */

struct exec_target {
	char *command;
	char *argbuf; /* the args value, split in place */
	char *argv[SPAWN_MAX_ARGS + 2];
	int timeout;
	int command_line, args_line, timeout_line;
};

static void
exec_free(struct target *t)
{
	struct exec_target *x = t->priv;

	if (x) {
		free(x->command);
		free(x->argbuf);
		free(x);
	}
	t->priv = NULL;
}

static int
exec_key(struct exec_target *x, const struct conf_kv *kv, char *err, size_t errlen)
{
	char why[SYNCD_ERR];

	if (strcmp(kv->key, "command") == 0) {
		if (confkv_once(kv, &x->command_line, err, errlen))
			return -1;
		if (spawn_check_program(kv->value, why, sizeof(why)))
			return confkv_err(err, errlen, kv->file, kv->line, "%s", why);
		if (!(x->command = strdup(kv->value)))
			return confkv_err(err, errlen, kv->file, kv->line, "out of memory");
	} else if (strcmp(kv->key, "args") == 0) {
		if (confkv_once(kv, &x->args_line, err, errlen))
			return -1;
		if (!(x->argbuf = strdup(kv->value)))
			return confkv_err(err, errlen, kv->file, kv->line, "out of memory");
	} else if (strcmp(kv->key, "timeout") == 0) {
		if (confkv_once(kv, &x->timeout_line, err, errlen) ||
			confkv_seconds(kv, &x->timeout, err, errlen))
			return -1;
	} else {
		return confkv_err(err, errlen, kv->file, kv->line,
			"unknown key \"%s\" in an exec target (known: command, args, timeout)",
			kv->key);
	}
	return 0;
}

static int
exec_configure(struct target *t, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct exec_target *x = calloc(1, sizeof(*x));
	int ret = -1;
	size_t i;

	t->priv = x;
	if (!x) {
		confkv_err(err, errlen, t->file, t->line, "out of memory");
		goto out;
	}
	x->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < n; i++)
		if (exec_key(x, &kv[i], err, errlen))
			goto out;
	if (!x->command) {
		confkv_err(err, errlen, t->file, t->line,
			"exec target %s: command is required (the absolute path of the program)",
			t->name ? t->name : "");
		goto out;
	}
	if (spawn_split_args(x->argbuf, x->command, x->argv) != 0) {
		confkv_err(err, errlen, t->file, x->args_line, "args has more than %d words",
			SPAWN_MAX_ARGS);
		goto out;
	}
	ret = 0;
out:
	if (ret)
		exec_free(t);
	return ret;
}

/* The captured output as one line of text with no trace of the password. */
static const char *
clean_output(char *c, const struct delivery *d)
{
	size_t i, n;

	scrub_password(c, d->password, d->password_len);
	for (i = 0; c[i]; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			c[i] = ' ';
	/* again: turning control characters into spaces may have spelled it anew */
	scrub_password(c, d->password, d->password_len);
	/* the capture held KEEP bytes plus the password's length so that an occurrence
	 * straddling KEEP was still whole when scrubbed; now cut at KEEP, on a character */
	n = strlen(c);
	if (n > KEEP) {
		n = KEEP;
		while (n > 0 && ((unsigned char)c[n] & 0xc0) == 0x80)
			n--;
		c[n] = '\0';
	}
	while (n > 0 && c[n - 1] == ' ')
		c[--n] = '\0';
	while (*c == ' ')
		c++;
	return c;
}

static enum delivery_result
exec_deliver(struct target *t, const struct delivery *d, char *err, size_t errlen)
{
	struct exec_target *x = t->priv;
	struct spawn_run run = {0};
	struct spawn_result res = {0};
	enum delivery_result r = DELIVERY_FAIL;
	unsigned char *msg = NULL;
	size_t alen = strlen(d->account), msglen = 0;
	const char *text, *sep;

	err[0] = '\0';
	/* the protocol is two lines: a newline or NUL inside either would shift them */
	if (strchr(d->account, '\n') || memchr(d->password, '\n', d->password_len) ||
		memchr(d->password, '\0', d->password_len) || d->password_len == 0) {
		rg_seterr(err, errlen,
			"the account or the password holds a newline or NUL, or the "
			"password is empty: not given to %s",
			x->command);
		goto out;
	}
	if (spawn_check_program(x->command, err, errlen))
		goto out;
	msglen = alen + 1 + d->password_len + 1;
	if (!(msg = malloc(msglen))) {
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	memcpy(msg, d->account, alen);
	msg[alen] = '\n';
	memcpy(msg + alen + 1, d->password, d->password_len);
	msg[msglen - 1] = '\n';
	run.argv = x->argv;
	run.input = msg;
	run.input_len = msglen;
	run.timeout = x->timeout;
	run.keep = KEEP + d->password_len;
	if (spawn_program(&run, &res, err, errlen))
		goto out;
	text = clean_output(res.output, d);
	sep = *text ? ": " : "";
	if (res.timed_out) {
		rg_seterr(err, errlen, "%s timed out after %d s and was killed%s%s", x->command,
			x->timeout, sep, text);
		r = DELIVERY_RETRY;
	} else if (res.exited && res.status == 0) {
		r = DELIVERY_DONE;
	} else if (res.exited && res.status == SPAWN_EXIT_RETRY) {
		rg_seterr(err, errlen, "%s asked to retry (exit status 75)%s%s", x->command, sep,
			text);
		r = DELIVERY_RETRY;
	} else if (res.exited) {
		rg_seterr(err, errlen, "%s exited with status %d%s%s", x->command, res.status, sep,
			text);
	} else {
		rg_seterr(err, errlen, "%s was killed by signal %d (SIG%s)%s%s", x->command,
			res.signal, sigabbrev_np(res.signal) ? sigabbrev_np(res.signal) : "?", sep,
			text);
	}
out:
	if (msg)
		OPENSSL_cleanse(msg, msglen);
	free(msg);
	spawn_result_free(&res);
	scrub_password(err, d->password, d->password_len);
	return r;
}

static void
exec_disconnect(struct target *t)
{
	/* nothing is kept between deliveries */
}

const struct target_ops target_exec_ops = {
	.kind = "exec",
	.configure = exec_configure,
	.deliver = exec_deliver,
	.disconnect = exec_disconnect,
	.free = exec_free,
};
