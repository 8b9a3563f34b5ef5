/* Running a local program for a target or a hook: one way, with the same guards for both.
 *
 * The program runs without a shell, with an empty environment but PATH, in "/", in its own
 * process group (a timeout kills a script's children too), with default signal dispositions
 * and an empty signal mask (the daemon ignores SIGPIPE and its workers may block signals),
 * and with no descriptor of the daemon's but the three it is given. Its standard input is
 * the given bytes, or /dev/null; what it writes on standard output and standard error is
 * kept, up to a bound, for the error text. It is always reaped here: nothing else in the
 * daemon may wait for arbitrary children. */
#ifndef RG_SPAWN_H
#define RG_SPAWN_H

#include <stddef.h>

#define SPAWN_MAX_ARGS 32
#define SPAWN_EXIT_RETRY 75 /* EX_TEMPFAIL from sysexits.h: "try again later" */

struct spawn_run {
	char *const *argv;          /* argv[0] is the absolute path of the program */
	const unsigned char *input; /* NULL: stdin is /dev/null */
	size_t input_len;
	int timeout; /* seconds; then SIGTERM to the group, SIGKILL soon after */
	size_t keep; /* bytes of output kept; the rest is read and dropped */
};

struct spawn_result {
	int timed_out;
	int exited; /* exited normally with status; otherwise killed by signal */
	int status;
	int signal;
	char *output; /* malloc'd, NUL bytes replaced; spawn_result_free cleanses */
	size_t output_len;
};

/* An absolute path to a regular file with an execute bit, owned by root or by the user
 * syncd runs as, and writable by nobody else. Checked when the configuration is read and
 * again before each run: the file may have changed since. */
int spawn_check_program(const char *path, char *err, size_t errlen);

/* Runs the program to its end or its timeout. 0 when it ran (see res), -1 when it could not
 * be started (err says why). */
int spawn_program(const struct spawn_run *run, struct spawn_result *res, char *err, size_t errlen);
void spawn_result_free(struct spawn_result *res);

/* Splits an args value on blanks into argv[1..]: no shell, no quoting, what is written is
 * what runs. argv[0] is set to program; buf is split in place. The number of words is
 * bounded by SPAWN_MAX_ARGS. */
int spawn_split_args(char *buf, const char *program, char *argv[SPAWN_MAX_ARGS + 2]);

#endif
