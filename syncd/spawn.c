/* One process runner for the exec target and the exec hook. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "errbuf.h"
#include "spawn.h"

#define GRACE_MS 2000 /* between SIGTERM and SIGKILL */

int
spawn_check_program(const char *path, char *err, size_t errlen)
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
	/* the mode bits too: for root, access(X_OK) is true of almost anything */
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111) || access(path, X_OK) != 0) {
		rg_seterr(err, errlen, "command %s is not an executable file", path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		rg_seterr(err, errlen,
			"command %s belongs to uid %u, neither root nor the user "
			"syncd runs as: chown root %s",
			path, (unsigned)st.st_uid, path);
		return -1;
	}
	if (st.st_mode & 022) {
		rg_seterr(err, errlen, "command %s is writable by group or others: chmod go-w %s",
			path, path);
		return -1;
	}
	return 0;
}

int
spawn_split_args(char *buf, const char *program, char *argv[SPAWN_MAX_ARGS + 2])
{
	char *p, *save = NULL;
	int argc = 1;

	argv[0] = (char *)program;
	for (p = buf != NULL ? strtok_r(buf, " \t", &save) : NULL; p != NULL;
		p = strtok_r(NULL, " \t", &save)) {
		if (argc > SPAWN_MAX_ARGS)
			return -1;
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGTERM to the group, SIGKILL after the grace period, then the final wait. */
static void
kill_and_reap(pid_t pid, int *status)
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

static int
start(const struct spawn_run *run, int *in, int *out, pid_t *pid, char *err, size_t errlen)
{
	static char path[] = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	char *env[] = {path, NULL};
	int sp[2] = {-1, -1}, pp[2] = {-1, -1}, rc = -1, e, i;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;

	*pid = -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* stdin is a socket so the write can say MSG_NOSIGNAL: a program that exits without
	 * reading must not raise SIGPIPE in the daemon. O_CLOEXEC: a program started meanwhile
	 * by another worker must not inherit these ends, or ours would never see its EOF. */
	if ((run->input != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) ||
		pipe2(pp, O_CLOEXEC) != 0) {
		rg_seterr(err, errlen, "cannot run %s: %s", run->argv[0], strerror(errno));
		goto out;
	}
	sigemptyset(&none);
	sigfillset(&all);
	if ((e = run->input != NULL
			    ? posix_spawn_file_actions_adddup2(&fa, sp[1], 0)
			    : posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
		(e = posix_spawn_file_actions_adddup2(&fa, pp[1], 1)) ||
		(e = posix_spawn_file_actions_adddup2(&fa, pp[1], 2)) ||
		(e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) ||
		(e = posix_spawn_file_actions_addchdir_np(&fa, "/")) ||
		(e = posix_spawnattr_setflags(&at,
			 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) ||
		(e = posix_spawnattr_setsigmask(&at, &none)) ||
		(e = posix_spawnattr_setsigdefault(&at, &all)) ||
		(e = posix_spawnattr_setpgroup(&at, 0)) ||
		(e = posix_spawn(pid, run->argv[0], &fa, &at, run->argv, env))) {
		*pid = -1;
		rg_seterr(err, errlen, "cannot run %s: %s", run->argv[0], strerror(e));
		goto out;
	}
	if (sp[0] >= 0)
		fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(pp[0], F_SETFL, O_NONBLOCK);
	*in = sp[0];
	*out = pp[0];
	sp[0] = pp[0] = -1;
	rc = 0;
out:
	for (i = 0; i < 2; i++) {
		if (sp[i] >= 0)
			close(sp[i]);
		if (pp[i] >= 0)
			close(pp[i]);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

/* Feeds stdin and collects output until the child exits (0, *status set) or the deadline
 * passes (1). Both at once: a program that writes a lot before reading must not deadlock
 * against us. */
static int
talk(pid_t pid, int *in, int *out, const struct spawn_run *run, struct spawn_result *res,
	long long deadline, int *status)
{
	struct pollfd pf[2];
	char sink[512];
	size_t sent = 0;
	ssize_t n;
	int nf, exited = 0;

	for (;;) {
		if (!exited && waitpid(pid, status, WNOHANG) == pid)
			exited = 1;
		nf = 0;
		if (*out >= 0)
			pf[nf++] = (struct pollfd){.fd = *out, .events = POLLIN};
		if (*in >= 0)
			pf[nf++] = (struct pollfd){.fd = *in, .events = POLLOUT};
		/* exited, and nothing more to read now (or a straggler keeps writing) */
		if (exited && (*out < 0 || poll(pf, 1, 0) <= 0 || now_ms() >= deadline))
			return 0;
		if (now_ms() >= deadline)
			return 1;
		poll(pf, (nfds_t)nf, *out >= 0 ? 50 : 10);
		if (*in >= 0) {
			n = send(*in, run->input + sent, run->input_len - sent,
				MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			/* all sent, or the program closed its stdin: it reads no more either way */
			if (sent == run->input_len ||
				(n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(*in);
				*in = -1;
			}
		}
		if (*out >= 0) {
			if (res->output_len < run->keep)
				n = read(*out, res->output + res->output_len,
					run->keep - res->output_len);
			else
				n = read(*out, sink, sizeof(sink));
			if (n > 0 && res->output_len < run->keep)
				res->output_len += (size_t)n;
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(*out);
				*out = -1;
			}
		}
	}
}

int
spawn_program(const struct spawn_run *run, struct spawn_result *res, char *err, size_t errlen)
{
	int in = -1, out = -1, status = 0;
	pid_t pid = -1;
	size_t i;

	memset(res, 0, sizeof(*res));
	if ((res->output = malloc(run->keep + 1)) == NULL) {
		rg_seterr(err, errlen, "cannot run %s: out of memory", run->argv[0]);
		return -1;
	}
	if (start(run, &in, &out, &pid, err, errlen) != 0) {
		spawn_result_free(res);
		return -1;
	}
	res->timed_out = talk(pid, &in, &out, run, res, now_ms() + run->timeout * 1000LL, &status);
	if (res->timed_out)
		kill_and_reap(pid, &status);
	else
		kill(-pid, SIGKILL); /* the leader is gone; its stragglers in the group follow */
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	for (i = 0; i < res->output_len; i++)
		if (res->output[i] == '\0')
			res->output[i] = ' ';
	res->output[res->output_len] = '\0';
	res->exited = WIFEXITED(status);
	res->status = res->exited ? WEXITSTATUS(status) : 0;
	res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return 0;
}

void
spawn_result_free(struct spawn_result *res)
{
	if (res->output != NULL) {
		OPENSSL_cleanse(res->output, res->output_len + 1);
		free(res->output);
	}
	memset(res, 0, sizeof(*res));
}
