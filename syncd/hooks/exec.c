/* Hook kind "exec": runs a local command with the change described as JSON on its
 * standard input (the same document the webhook sends). Exit status 0 means done, 75
 * (EX_TEMPFAIL) try again later, anything else failed; a command that outlives its timeout
 * is killed and the hook retried. How it runs is spawn.h's. */
#include <stdlib.h>
#include <string.h>

#include "confkv.h"
#include "errbuf.h"
#include "hook.h"
#include "hookevent.h"
#include "spawn.h"

#define DEFAULT_TIMEOUT 20
#define KEEP 512 /* bytes of the command's output kept for the error text */

struct exec_hook {
	char *command;
	char *argbuf; /* the args value, split in place */
	char *argv[SPAWN_MAX_ARGS + 2];
	int timeout;
};

static void
exec_free(struct hook *h)
{
	struct exec_hook *x = h->priv;

	if (x == NULL)
		return;
	free(x->command);
	free(x->argbuf);
	free(x);
	h->priv = NULL;
}

static int
exec_configure(struct hook *h, const struct conf_kv *kv, size_t n, char *err, size_t errlen)
{
	struct exec_hook *x;
	char why[SYNCD_ERR];
	int timeout_line = 0;
	size_t i;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return confkv_err(err, errlen, h->file, h->line, "out of memory");
	h->priv = x;
	x->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < n; i++) {
		const struct conf_kv *k = &kv[i];

		if (strcmp(k->key, "command") == 0) {
			if (confkv_set_once(&x->command, k, err, errlen) != 0)
				goto fail;
			if (spawn_check_program(k->value, why, sizeof(why)) != 0) {
				confkv_err(err, errlen, k->file, k->line, "%s", why);
				goto fail;
			}
		} else if (strcmp(k->key, "args") == 0) {
			if (confkv_set_once(&x->argbuf, k, err, errlen) != 0)
				goto fail;
		} else if (strcmp(k->key, "timeout") == 0) {
			if (confkv_once(k, &timeout_line, err, errlen) != 0 ||
				confkv_seconds(k, &x->timeout, err, errlen) != 0)
				goto fail;
		} else {
			confkv_err(err, errlen, k->file, k->line,
				"unknown key \"%s\" in an exec hook (known: command, args, "
				"timeout)",
				k->key);
			goto fail;
		}
	}
	if (x->command == NULL) {
		confkv_err(err, errlen, h->file, h->line, "hook %s: an exec hook needs command",
			h->name ? h->name : "");
		goto fail;
	}
	if (spawn_split_args(x->argbuf, x->command, x->argv) != 0) {
		confkv_err(err, errlen, h->file, h->line, "hook %s: more than %d args",
			h->name ? h->name : "", SPAWN_MAX_ARGS);
		goto fail;
	}
	return 0;
fail:
	exec_free(h);
	return -1;
}

/* The first line of what the command wrote, made safe for a log line. */
static void
first_line(const char *buf, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; buf[i] != '\0' && buf[i] != '\n' && i + 1 < outlen; i++)
		out[i] = (unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f ? buf[i]
										       : '?';
	out[i] = '\0';
}

static enum hook_result
exec_fire(struct hook *h, const struct hook_event *ev, char *err, size_t errlen)
{
	struct exec_hook *x = h->priv;
	struct spawn_run run = {0};
	struct spawn_result res = {0};
	enum hook_result r = HOOK_FAIL;
	char *body = NULL, line[200];

	if (spawn_check_program(x->command, err, errlen) != 0)
		goto out;
	if ((body = hookevent_json(ev)) == NULL) {
		rg_seterr(err, errlen, "out of memory");
		r = HOOK_RETRY;
		goto out;
	}
	run.argv = x->argv;
	run.input = (const unsigned char *)body;
	run.input_len = strlen(body);
	run.timeout = x->timeout;
	run.keep = KEEP;
	if (spawn_program(&run, &res, err, errlen) != 0) {
		r = HOOK_RETRY;
		goto out;
	}
	first_line(res.output, line, sizeof(line));
	if (res.timed_out) {
		rg_seterr(err, errlen, "%s did not finish within %d s; killed", x->command,
			x->timeout);
		r = HOOK_RETRY;
	} else if (res.exited && res.status == 0) {
		r = HOOK_DONE;
	} else if (res.exited) {
		r = res.status == SPAWN_EXIT_RETRY ? HOOK_RETRY : HOOK_FAIL;
		rg_seterr(err, errlen, "%s exited with status %d%s%s", x->command, res.status,
			*line ? ": " : "", line);
	} else {
		rg_seterr(err, errlen, "%s was killed by signal %d%s%s", x->command, res.signal,
			*line ? ": " : "", line);
	}
out:
	spawn_result_free(&res);
	free(body);
	return r;
}

const struct hook_ops hook_exec_ops = {
	.kind = "exec",
	.configure = exec_configure,
	.fire = exec_fire,
	.free = exec_free,
};
