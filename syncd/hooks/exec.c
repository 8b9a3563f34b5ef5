/* Hook kind "exec": runs a local command with the change described as JSON on its
 * standard input (the same document the webhook sends). Exit status 0 means done, 75
 * (EX_TEMPFAIL) try again later, anything else failed.
 *
 * The command runs with an empty environment except PATH, in its own process group, with
 * default signal dispositions and an empty signal mask (the daemon ignores SIGPIPE and its
 * workers may block signals; neither should leak into the command), in "/". On timeout the
 * whole group is killed, so a script's own children do not linger. The child is always
 * reaped here: nothing else in the daemon may wait for arbitrary children. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* posix_spawn_file_actions_addchdir_np, pipe2 */
#endif
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "http.h"
#include "errbuf.h"

#define DEFAULT_TIMEOUT 20
#define EXIT_RETRY 75          /* EX_TEMPFAIL from sysexits.h */
#define MAX_ARGS 32
#define STDERR_KEEP 512

struct exec_hook {
	char *command;
	char *argbuf;            /* the args value, split in place */
	char *argv[MAX_ARGS + 2];
	int timeout;
};

/* An absolute path to an executable regular file nobody but its owner can replace.
 * Checked at configure time and again before each run (the file may have changed). */
static int check_command(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path[0] != '/') {
		rg_seterr(err, errlen, "command %s must be an absolute path", path);
		return -1;
	}
	if (stat(path, &st) != 0) {
		rg_seterr(err, errlen, "command %s: %s", path, strerror(errno));
		return -1;
	}
	/* The mode bits too: for root, access(X_OK) is true of almost anything. */
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111) || access(path, X_OK) != 0) {
		rg_seterr(err, errlen, "command %s is not an executable file", path);
		return -1;
	}
	if (st.st_mode & 022) {
		rg_seterr(err, errlen, "command %s is writable by group or others: chmod go-w it",
			path);
		return -1;
	}
	return 0;
}

static void exec_free(struct hook *h)
{
	struct exec_hook *x = h->priv;

	if (x == NULL)
		return;
	free(x->command);
	free(x->argbuf);
	free(x);
	h->priv = NULL;
}

static int exec_configure(struct hook *h, const struct conf_kv *kv, size_t n, char *err,
	size_t errlen)
{
	struct exec_hook *x;
	char why[SYNCD_ERR], *p, *save = NULL;
	int have_timeout = 0, argc = 1;
	size_t i;

	x = calloc(1, sizeof *x);
	if (x == NULL) {
		rg_seterr(err, errlen, "%s:%d: out of memory", h->file, h->line);
		return -1;
	}
	h->priv = x;
	x->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < n; i++) {
		const struct conf_kv *k = &kv[i];
		char **slot = strcmp(k->key, "command") == 0 ? &x->command
			      : strcmp(k->key, "args") == 0 ? &x->argbuf : NULL;

		if (slot != NULL) {
			if (*slot != NULL) {
				rg_seterr(err, errlen, "%s:%d: %s given twice", k->file, k->line, k->key);
				goto fail;
			}
			if ((*slot = strdup(k->value)) == NULL) {
				rg_seterr(err, errlen, "%s:%d: out of memory", k->file, k->line);
				goto fail;
			}
			if (slot == &x->command && check_command(k->value, why, sizeof why) != 0) {
				rg_seterr(err, errlen, "%s:%d: %s", k->file, k->line, why);
				goto fail;
			}
		} else if (strcmp(k->key, "timeout") == 0) {
			if (have_timeout++) {
				rg_seterr(err, errlen, "%s:%d: timeout given twice", k->file, k->line);
				goto fail;
			}
			if (hook_parse_timeout(k, &x->timeout, err, errlen) != 0)
				goto fail;
		} else {
			rg_seterr(err, errlen, "%s:%d: unknown key \"%s\" in an exec hook", k->file,
				k->line, k->key);
			goto fail;
		}
	}
	if (x->command == NULL) {
		rg_seterr(err, errlen, "%s:%d: hook %s: an exec hook needs command", h->file, h->line,
			h->name ? h->name : "");
		goto fail;
	}
	/* args are split on blanks, no shell quoting: what is written is what runs. */
	x->argv[0] = x->command;
	for (p = x->argbuf ? strtok_r(x->argbuf, " \t", &save) : NULL; p != NULL;
	     p = strtok_r(NULL, " \t", &save)) {
		if (argc > MAX_ARGS) {
			rg_seterr(err, errlen, "%s:%d: hook %s: more than %d args", h->file, h->line,
				h->name ? h->name : "", MAX_ARGS);
			goto fail;
		}
		x->argv[argc++] = p;
	}
	x->argv[argc] = NULL;
	return 0;
fail:
	exec_free(h);
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first line of what the command wrote on stderr, made safe for a log line. */
static void first_line(const char *buf, size_t len, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i < len && i + 1 < outlen && buf[i] != '\n'; i++)
		out[i] = (unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f ? buf[i]
										   : '?';
	if (outlen > 0)
		out[i < outlen ? i : outlen - 1] = '\0';
}

static enum hook_result exec_fire(struct hook *h, const struct hook_event *ev, char *err,
	size_t errlen)
{
	static char *const envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", NULL };
	struct exec_hook *x = h->priv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	struct pollfd pfd[2];
	enum hook_result res = HOOK_FAIL;
	char *body = NULL, ebuf[STDERR_KEEP], line[200], why[SYNCD_ERR];
	size_t blen = 0, sent = 0, elen = 0;
	int in[2] = { -1, -1 }, ep[2] = { -1, -1 }, fa_ok = 0, attr_ok = 0, reaped = 0;
	int status = 0, rc, timed_out = 0;
	long long deadline;
	pid_t pid = -1;
	ssize_t r;

	if (check_command(x->command, why, sizeof why) != 0) {
		rg_seterr(err, errlen, "%s", why);
		goto out;
	}
	body = hook_event_json(ev);
	if (body == NULL) {
		rg_seterr(err, errlen, "out of memory");
		res = HOOK_RETRY;
		goto out;
	}
	blen = strlen(body);
	/* O_CLOEXEC: a command started meanwhile by another worker must not inherit our
	 * pipe ends, or our child would never see the end of its input. */
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0 ||
	    posix_spawn_file_actions_init(&fa) != 0) {
		rg_seterr(err, errlen, "cannot run %s: %s", x->command, strerror(errno));
		res = HOOK_RETRY;
		goto out;
	}
	fa_ok = 1;
	if (posix_spawnattr_init(&attr) != 0) {
		rg_seterr(err, errlen, "cannot run %s: out of memory", x->command);
		res = HOOK_RETRY;
		goto out;
	}
	attr_ok = 1;
	sigemptyset(&none);
	sigfillset(&all);
	if (posix_spawn_file_actions_adddup2(&fa, in[0], 0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, ep[1], 2) != 0 ||
	    posix_spawn_file_actions_addchdir_np(&fa, "/") != 0 ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
		    POSIX_SPAWN_SETPGROUP) != 0 ||
	    posix_spawnattr_setsigmask(&attr, &none) != 0 ||
	    posix_spawnattr_setsigdefault(&attr, &all) != 0 ||
	    posix_spawnattr_setpgroup(&attr, 0) != 0) {
		rg_seterr(err, errlen, "cannot run %s: out of memory", x->command);
		res = HOOK_RETRY;
		goto out;
	}
	rc = posix_spawn(&pid, x->command, &fa, &attr, x->argv, envp);
	if (rc != 0) {
		pid = -1;
		rg_seterr(err, errlen, "cannot run %s: %s", x->command, strerror(rc));
		res = rc == EAGAIN || rc == ENOMEM ? HOOK_RETRY : HOOK_FAIL;
		goto out;
	}
	close(in[0]);
	close(ep[1]);
	in[0] = ep[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);

	/* Feed stdin and drain stderr together: a command that writes a lot before reading
	 * must not deadlock against us. */
	deadline = now_ms() + (long long)x->timeout * 1000;
	while (in[1] >= 0 || ep[0] >= 0) {
		long long left = deadline - now_ms();

		if (left <= 0) {
			timed_out = 1;
			goto out;
		}
		pfd[0] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		pfd[1] = (struct pollfd){ .fd = ep[0], .events = POLLIN };
		if (poll(pfd, 2, (int)left) < 0 && errno != EINTR) {
			rg_seterr(err, errlen, "%s: poll: %s", x->command, strerror(errno));
			res = HOOK_RETRY;
			goto out;
		}
		if (in[1] >= 0 && (pfd[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			r = write(in[1], body + sent, blen - sent);
			if (r > 0)
				sent += (size_t)r;
			/* EPIPE: the command did not want its input; its exit status says
			 * whether that was fine. */
			if (sent == blen || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (ep[0] >= 0 && (pfd[1].revents & (POLLIN | POLLERR | POLLHUP))) {
			char tmp[512];

			r = read(ep[0], tmp, sizeof tmp);
			if (r > 0 && elen < sizeof ebuf) {
				size_t k = (size_t)r < sizeof ebuf - elen ? (size_t)r : sizeof ebuf - elen;

				memcpy(ebuf + elen, tmp, k);
				elen += k;
			}
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				close(ep[0]);
				ep[0] = -1;
			}
		}
	}
	/* stderr closed; the command has exited or is about to. */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			reaped = 1;
			break;
		}
		if (w < 0 && errno != EINTR) {
			rg_seterr(err, errlen, "%s: waitpid: %s", x->command, strerror(errno));
			reaped = 1;   /* someone else reaped it: nothing left to kill */
			res = HOOK_RETRY;
			goto out;
		}
		if (now_ms() >= deadline) {
			timed_out = 1;
			goto out;
		}
		poll(NULL, 0, 10);
	}
	first_line(ebuf, elen, line, sizeof line);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		res = HOOK_DONE;
	} else if (WIFEXITED(status)) {
		res = WEXITSTATUS(status) == EXIT_RETRY ? HOOK_RETRY : HOOK_FAIL;
		rg_seterr(err, errlen, "%s exited with status %d%s%s", x->command,
			WEXITSTATUS(status), *line ? ": " : "", line);
	} else {
		rg_seterr(err, errlen, "%s was killed by signal %d%s%s", x->command,
			WTERMSIG(status), *line ? ": " : "", line);
	}
out:
	if (pid > 0 && !reaped) {
		/* Timeout (or an error while it ran): kill the whole group and reap. */
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (timed_out) {
			rg_seterr(err, errlen, "%s did not finish within %d s; killed", x->command,
				x->timeout);
			res = HOOK_RETRY;
		}
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	for (rc = 0; rc < 2; rc++) {
		if (in[rc] >= 0)
			close(in[rc]);
		if (ep[rc] >= 0)
			close(ep[rc]);
	}
	free(body);
	return res;
}

const struct hook_ops hook_exec_ops = {
	.kind = "exec",
	.configure = exec_configure,
	.fire = exec_fire,
	.free = exec_free,
};
