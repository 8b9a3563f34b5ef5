/* The exec target: a local program that writes the password to a store with no LDAP. It
 * gets "ACCOUNT\nPASSWORD\n" on standard input — never in argv or the environment, which
 * other local users can read in /proc. Exit status 0 means done, 75 (EX_TEMPFAIL) try
 * again later, anything else failed; a program that outlives its timeout is killed and the
 * delivery retried.
 *
 * The program runs without a shell, with an empty environment except PATH, in "/", in its
 * own process group (a timeout kills the script's children too), with default signal
 * dispositions and an empty signal mask, and with no descriptor of the daemon but the
 * three it is given. It is always reaped here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np, addchdir_np */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mapping.h"

#define DEFAULT_TIMEOUT 20
#define EXIT_RETRY 75            /* EX_TEMPFAIL from sysexits.h */
#define MAX_ARGS 32
#define KEEP 1024                /* bytes of the program's output kept for the error text */
#define GRACE_MS 2000            /* between SIGTERM and SIGKILL */

struct exec_target {
	char *command;
	char *argbuf;                /* the args value, split in place */
	char *argv[MAX_ARGS + 2];
	int timeout;
	int command_line, args_line, timeout_line;
};

/* An absolute path to an executable regular file only its owner can replace. Checked at
 * configure time and again before each run: the file may have changed since. */
static int check_command(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path[0] != '/')
		snprintf(err, errlen, "command %s must be an absolute path", path);
	else if (stat(path, &st) != 0)
		snprintf(err, errlen, "command %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0)
		snprintf(err, errlen, "command %s is not an executable file", path);
	else if (st.st_mode & 022)
		snprintf(err, errlen, "command %s is writable by group or others: chmod go-w it",
			path);
	else
		return 0;
	return -1;
}

static void exec_free(struct target *t)
{
	struct exec_target *x = t->priv;

	if (x) {
		free(x->command);
		free(x->argbuf);
		free(x);
	}
	t->priv = NULL;
}

static int exec_key(struct exec_target *x, const struct conf_kv *kv, char *err, size_t errlen)
{
	char why[SYNCD_ERR], *p, *save = NULL;
	int argc = 1;

	if (strcmp(kv->key, "command") == 0) {
		if (target_conf_once(kv, &x->command_line, err, errlen))
			return -1;
		if (check_command(kv->value, why, sizeof why))
			return target_conf_error(err, errlen, kv->file, kv->line, "%s", why);
		if (!(x->command = strdup(kv->value)))
			return target_conf_error(err, errlen, kv->file, kv->line, "out of memory");
	} else if (strcmp(kv->key, "args") == 0) {
		if (target_conf_once(kv, &x->args_line, err, errlen))
			return -1;
		if (!(x->argbuf = strdup(kv->value)))
			return target_conf_error(err, errlen, kv->file, kv->line, "out of memory");
		/* no shell and no quoting: words separated by blanks, as given */
		for (p = strtok_r(x->argbuf, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
			if (argc > MAX_ARGS)
				return target_conf_error(err, errlen, kv->file, kv->line,
					"args has more than %d words", MAX_ARGS);
			x->argv[argc++] = p;
		}
	} else if (strcmp(kv->key, "timeout") == 0) {
		if (target_conf_once(kv, &x->timeout_line, err, errlen) ||
			target_conf_seconds(kv, &x->timeout, err, errlen))
			return -1;
	} else {
		return target_conf_error(err, errlen, kv->file, kv->line, "unknown key \"%s\" in an "
			"exec target (known: command, args, timeout)", kv->key);
	}
	return 0;
}

static int exec_configure(struct target *t, const struct conf_kv *kv, size_t n, char *err,
	size_t errlen)
{
	struct exec_target *x = calloc(1, sizeof *x);
	int ret = -1;
	size_t i;

	t->priv = x;
	if (!x) {
		target_conf_error(err, errlen, t->file, t->line, "out of memory");
		goto out;
	}
	x->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < n; i++)
		if (exec_key(x, &kv[i], err, errlen))
			goto out;
	if (!x->command) {
		target_conf_error(err, errlen, t->file, t->line, "exec target %s: command is "
			"required (the absolute path of the program)", t->name ? t->name : "");
		goto out;
	}
	x->argv[0] = x->command;
	ret = 0;
out:
	if (ret)
		exec_free(t);
	return ret;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGTERM to the group, SIGKILL after the grace period, then the final wait. */
static void kill_and_reap(pid_t pid, int *status)
{
	long long end = now_ms() + GRACE_MS;

	kill(-pid, SIGTERM);
	while (now_ms() < end) {
		if (waitpid(pid, status, WNOHANG) == pid)
			goto out;
		poll(NULL, 0, 20);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
out:
	/* the group may hold more than the leader */
	kill(-pid, SIGKILL);
}

static int spawn(const struct exec_target *x, int *in, int *out, pid_t *pid, char *err,
	size_t errlen)
{
	static char path[] = "PATH=/usr/bin:/bin";
	char *env[] = { path, NULL };
	int sp[2] = { -1, -1 }, pp[2] = { -1, -1 }, rc = -1, e;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* stdin is a socket so the write can say MSG_NOSIGNAL: a program that exits without
	 * reading must not raise SIGPIPE in the daemon */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0 ||
		pipe2(pp, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot run %s: %s", x->command, strerror(errno));
		goto out;
	}
	sigemptyset(&none);
	sigfillset(&all);
	if ((e = posix_spawn_file_actions_adddup2(&fa, sp[1], 0)) ||
		(e = posix_spawn_file_actions_adddup2(&fa, pp[1], 1)) ||
		(e = posix_spawn_file_actions_adddup2(&fa, pp[1], 2)) ||
		(e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) ||
		(e = posix_spawn_file_actions_addchdir_np(&fa, "/")) ||
		(e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
			POSIX_SPAWN_SETPGROUP)) ||
		(e = posix_spawnattr_setsigmask(&at, &none)) ||
		(e = posix_spawnattr_setsigdefault(&at, &all)) ||
		(e = posix_spawnattr_setpgroup(&at, 0)) ||
		(e = posix_spawn(pid, x->command, &fa, &at, (char *const *)x->argv, env))) {
		*pid = -1;
		snprintf(err, errlen, "cannot run %s: %s", x->command, strerror(e));
		goto out;
	}
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(pp[0], F_SETFL, O_NONBLOCK);
	*in = sp[0];
	*out = pp[0];
	sp[0] = pp[0] = -1;
	rc = 0;
out:
	for (e = 0; e < 2; e++) {
		if (sp[e] >= 0)
			close(sp[e]);
		if (pp[e] >= 0)
			close(pp[e]);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

struct io {
	const unsigned char *msg;
	size_t msglen, sent;
	char *cap;                   /* capmax + 1 bytes */
	size_t caplen, capmax;
};

/* Feeds stdin and collects output until the child exits (0, *status set) or the deadline
 * passes (1). */
static int talk(pid_t pid, int *in, int *out, struct io *io, long long deadline, int *status)
{
	struct pollfd pf[2];
	char sink[512];
	ssize_t n;
	int nf, exited = 0;

	for (;;) {
		if (!exited && waitpid(pid, status, WNOHANG) == pid)
			exited = 1;
		nf = 0;
		if (*out >= 0)
			pf[nf++] = (struct pollfd){ .fd = *out, .events = POLLIN };
		if (*in >= 0)
			pf[nf++] = (struct pollfd){ .fd = *in, .events = POLLOUT };
		/* exited, and nothing more to read now (or a straggler keeps writing) */
		if (exited && (*out < 0 || poll(pf, 1, 0) <= 0 || now_ms() >= deadline))
			return 0;
		if (now_ms() >= deadline)
			return 1;
		poll(pf, (nfds_t)nf, *out >= 0 ? 50 : 10);
		if (*in >= 0) {
			n = send(*in, io->msg + io->sent, io->msglen - io->sent,
				MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				io->sent += (size_t)n;
			/* all sent, or the program closed its stdin: it reads no more either way */
			if (io->sent == io->msglen || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(*in);
				*in = -1;
			}
		}
		if (*out >= 0) {
			if (io->caplen < io->capmax)
				n = read(*out, io->cap + io->caplen, io->capmax - io->caplen);
			else
				n = read(*out, sink, sizeof sink);
			if (n > 0 && io->caplen < io->capmax)
				io->caplen += (size_t)n;
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(*out);
				*out = -1;
			}
		}
	}
}

/* The captured output as one line of text with no trace of the password. */
static const char *clean_output(struct io *io, const struct delivery *d)
{
	size_t i, n;
	char *c = io->cap;

	for (i = 0; i < io->caplen; i++)
		if (c[i] == '\0')
			c[i] = ' ';
	c[io->caplen] = '\0';
	text_scrub(c, d->password, d->password_len);
	for (i = 0; c[i]; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			c[i] = ' ';
	/* again: turning control characters into spaces may have spelled it anew */
	text_scrub(c, d->password, d->password_len);
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

static enum delivery_result exec_deliver(struct target *t, const struct delivery *d, char *err,
	size_t errlen)
{
	struct exec_target *x = t->priv;
	struct io io = { 0 };
	enum delivery_result r = DELIVERY_FAIL;
	unsigned char *msg = NULL;
	size_t alen = strlen(d->account);
	int in = -1, out = -1, status = 0, reaped = 0, timedout;
	pid_t pid = -1;
	const char *text, *sep;

	err[0] = '\0';
	/* the protocol is two lines: a newline or NUL inside either would shift them */
	if (strchr(d->account, '\n') || memchr(d->password, '\n', d->password_len) ||
		memchr(d->password, '\0', d->password_len) || d->password_len == 0) {
		snprintf(err, errlen, "the account or the password holds a newline or NUL, or the "
			"password is empty: not given to %s", x->command);
		goto out;
	}
	if (check_command(x->command, err, errlen))
		goto out;
	io.msglen = alen + 1 + d->password_len + 1;
	io.capmax = KEEP + d->password_len;
	if (!(msg = malloc(io.msglen)) || !(io.cap = malloc(io.capmax + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(msg, d->account, alen);
	msg[alen] = '\n';
	memcpy(msg + alen + 1, d->password, d->password_len);
	msg[io.msglen - 1] = '\n';
	io.msg = msg;
	if (spawn(x, &in, &out, &pid, err, errlen))
		goto out;
	timedout = talk(pid, &in, &out, &io, now_ms() + x->timeout * 1000LL, &status);
	if (timedout)
		kill_and_reap(pid, &status);
	else
		kill(-pid, SIGKILL); /* the leader is gone; its stragglers in the group follow */
	reaped = 1;
	text = clean_output(&io, d);
	sep = *text ? ": " : "";
	if (timedout) {
		snprintf(err, errlen, "%s timed out after %d s and was killed%s%s", x->command,
			x->timeout, sep, text);
		r = DELIVERY_RETRY;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		r = DELIVERY_DONE;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_RETRY) {
		snprintf(err, errlen, "%s asked to retry (exit status 75)%s%s", x->command, sep,
			text);
		r = DELIVERY_RETRY;
	} else if (WIFEXITED(status)) {
		snprintf(err, errlen, "%s exited with status %d%s%s", x->command,
			WEXITSTATUS(status), sep, text);
	} else {
		snprintf(err, errlen, "%s was killed by signal %d (SIG%s)%s%s", x->command,
			WTERMSIG(status), sigabbrev_np(WTERMSIG(status)) ?
			sigabbrev_np(WTERMSIG(status)) : "?", sep, text);
	}
out:
	if (pid > 0 && !reaped)
		kill_and_reap(pid, &status);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (msg)
		OPENSSL_cleanse(msg, io.msglen);
	free(msg);
	if (io.cap)
		OPENSSL_cleanse(io.cap, io.capmax + 1);
	free(io.cap);
	text_scrub(err, d->password, d->password_len);
	return r;
}

static void exec_disconnect(struct target *t)
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
