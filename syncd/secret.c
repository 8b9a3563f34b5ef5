/* Secrets (bind passwords, HMAC keys) live in files of their own, never in the config:
 * the config can then be world-readable and shown in bug reports. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "syncd.h"

#define MAX_SECRET 4096

int
read_secret_file(const char *path, char **secret, char *err, size_t errlen)
{
	/* one byte more than a line may hold, to tell "too long" from "exactly full" */
	size_t cap = MAX_SECRET + 1, len = 0, line;
	char *buf = NULL, *nl;
	struct stat st;
	int fd = -1, rc = -1;

	*secret = NULL;
	/* O_NOFOLLOW: a symlink planted where the secret should be is refused, not followed;
	 * O_NONBLOCK: a FIFO there must not hang the daemon (fstat refuses it next). */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen, "%s is a symbolic link: name the file itself", path);
		else
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s is %s by group or others: chmod 600 it", path,
			(st.st_mode & 044) ? "readable" : (st.st_mode & 022) ? "writable" :
			"accessible");
		goto out;
	}
	if ((buf = malloc(cap + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	nl = memchr(buf, '\n', len);
	if (nl == NULL && len > MAX_SECRET) {
		snprintf(err, errlen, "%s: the first line is longer than %d bytes", path,
			MAX_SECRET);
		goto out;
	}
	line = nl != NULL ? (size_t)(nl - buf) : len;
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	if (memchr(buf, '\0', line) != NULL) {
		snprintf(err, errlen, "%s: the secret contains a NUL byte", path);
		goto out;
	}
	if (line == 0) {
		snprintf(err, errlen, "%s is empty: put the secret on its first line", path);
		goto out;
	}
	/* whatever followed the first line must not linger in freed memory */
	OPENSSL_cleanse(buf + line, cap + 1 - line);
	buf[line] = '\0';
	*secret = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, cap + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

void
free_secret(char *secret)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}
