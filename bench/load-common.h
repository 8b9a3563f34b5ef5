/* load-common.h: helpers shared by bench/pwmod-load.c and bench/prop-load.c.
 * Define LOAD_PROG (the program's name, the prefix of die's messages) before including. */
#ifndef LOAD_COMMON_H
#define LOAD_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

static inline void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Prints "LOAD_PROG: message" and exits 2. */
static inline void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, LOAD_PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Reads non-empty lines; the strings stay allocated for the life of the process. */
static inline char **read_lines(const char *path, size_t *count)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL, **v = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	ssize_t len;

	if (fp == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, fp)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 1024;
			if ((v = realloc(v, alloc * sizeof(*v))) == NULL)
				die("out of memory");
		}
		if ((v[n++] = strdup(line)) == NULL)
			die("out of memory");
	}
	free(line);
	fclose(fp);
	*count = n;
	return v;
}

#endif
