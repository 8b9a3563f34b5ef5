/* Secrets, keys and certificates read from files, with the same checks for each. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "errbuf.h"
#include "securefile.h"

#define MAX_SECRET_LINE 4096

#define SECUREFILE_MAX (1024 * 1024)

enum securefile_kind {
	SECUREFILE_SECRET, /* only its owner may access it */
	SECUREFILE_PUBLIC, /* certificates: others may read it, nobody but the owner write it */
};

static int
check_mode(const char *what, const char *path, const struct stat *st, enum securefile_kind kind,
	char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		rg_seterr(err, errlen, "%s %s is not a regular file: name the file itself", what,
			path);
		return -1;
	}
	if (kind == SECUREFILE_SECRET && (st->st_mode & 077) != 0) {
		rg_seterr(err, errlen, "%s %s is %s by group or others: chmod 600 %s", what, path,
			(st->st_mode & 044)           ? "readable"
				: (st->st_mode & 022) ? "writable"
						      : "accessible",
			path);
		return -1;
	}
	/* a certificate others may replace is as good as none */
	if (kind == SECUREFILE_PUBLIC && (st->st_mode & 022) != 0) {
		rg_seterr(err, errlen, "%s %s is writable by group or others: chmod go-w %s", what,
			path, path);
		return -1;
	}
	if (st->st_size > SECUREFILE_MAX) {
		rg_seterr(err, errlen, "%s %s is larger than %d bytes: is it the right file?", what,
			path, SECUREFILE_MAX);
		return -1;
	}
	return 0;
}

struct securefile {
	unsigned char *data; /* NUL-terminated; cleansed by securefile_free */
	size_t len;
};

/* Reads the whole of path (what names the key in messages, e.g. "key-file"). */
static int
securefile_read(const char *what, const char *path, enum securefile_kind kind, struct securefile *f,
	char *err, size_t errlen)
{
	struct stat st;
	size_t cap, len = 0;
	unsigned char *buf = NULL;
	ssize_t n;
	int fd, rc = -1;

	memset(f, 0, sizeof(*f));
	/* O_NOFOLLOW: a symlink planted where the file should be is refused, not followed;
	 * O_NONBLOCK: a FIFO there must not hang the daemon (fstat refuses it next) */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			rg_seterr(err, errlen, "%s %s is a symbolic link: name the file itself",
				what, path);
		else
			rg_seterr(err, errlen, "%s %s: cannot open: %s", what, path,
				strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		rg_seterr(err, errlen, "%s %s: cannot stat: %s", what, path, strerror(errno));
		goto out;
	}
	if (check_mode(what, path, &st, kind, err, errlen) != 0)
		goto out;
	/* one byte more than allowed tells a file that grew since fstat */
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		rg_seterr(err, errlen, "%s %s: out of memory", what, path);
		goto out;
	}
	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rg_seterr(err, errlen, "%s %s: cannot read: %s", what, path,
				strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap) {
		rg_seterr(err, errlen, "%s %s changed while it was read: try again", what, path);
		goto out;
	}
	buf[len] = '\0';
	f->data = buf;
	f->len = len;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, cap + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

static void
securefile_free(struct securefile *f)
{
	if (f->data != NULL) {
		OPENSSL_cleanse(f->data, f->len + 1);
		free(f->data);
	}
	memset(f, 0, sizeof(*f));
}

int
securefile_read_secret(const char *what, const char *path, char **secret, char *err, size_t errlen)
{
	struct securefile f;
	size_t line;
	char *nl, *out;

	*secret = NULL;
	if (securefile_read(what, path, SECUREFILE_SECRET, &f, err, errlen) != 0)
		return -1;
	nl = memchr(f.data, '\n', f.len);
	line = nl != NULL ? (size_t)(nl - (char *)f.data) : f.len;
	if (line > 0 && f.data[line - 1] == '\r')
		line--;
	if (line > MAX_SECRET_LINE) {
		rg_seterr(err, errlen, "%s %s: the first line is longer than %d bytes", what, path,
			MAX_SECRET_LINE);
		goto fail;
	}
	if (memchr(f.data, '\0', line) != NULL) {
		rg_seterr(err, errlen, "%s %s: the secret contains a NUL byte", what, path);
		goto fail;
	}
	if (line == 0) {
		rg_seterr(err, errlen, "%s %s is empty: put the secret on its first line", what,
			path);
		goto fail;
	}
	if ((out = malloc(line + 1)) == NULL) {
		rg_seterr(err, errlen, "%s %s: out of memory", what, path);
		goto fail;
	}
	memcpy(out, f.data, line);
	out[line] = '\0';
	securefile_free(&f);
	*secret = out;
	return 0;
fail:
	securefile_free(&f);
	return -1;
}

void
securefile_free_secret(char *secret)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}

int
securefile_read_text(const char *what, const char *path, size_t max, char **text, char *err,
	size_t errlen)
{
	struct securefile f;

	*text = NULL;
	if (securefile_read(what, path, SECUREFILE_PUBLIC, &f, err, errlen) != 0)
		return -1;
	if (f.len > max) {
		rg_seterr(err, errlen, "%s %s is larger than %zu bytes", what, path, max);
		securefile_free(&f);
		return -1;
	}
	if (memchr(f.data, '\0', f.len) != NULL) {
		rg_seterr(err, errlen, "%s %s contains a NUL byte: is it a text file?", what, path);
		securefile_free(&f);
		return -1;
	}
	*text = (char *)f.data; /* NUL-terminated by securefile_read */
	return 0;
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1; /* never prompt: a daemon has no terminal */
}

EVP_PKEY *
securefile_load_key(const char *what, const char *path, char *err, size_t errlen)
{
	struct securefile f;
	EVP_PKEY *key = NULL;
	BIO *bio;

	if (securefile_read(what, path, SECUREFILE_SECRET, &f, err, errlen) != 0)
		return NULL;
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	securefile_free(&f);
	ERR_clear_error();
	if (key == NULL)
		rg_seterr(err, errlen, "%s %s holds no unencrypted PEM private key", what, path);
	return key;
}

X509 *
securefile_load_cert(const char *what, const char *path, char *err, size_t errlen)
{
	struct securefile f;
	X509 *cert = NULL;
	BIO *bio;

	if (securefile_read(what, path, SECUREFILE_PUBLIC, &f, err, errlen) != 0)
		return NULL;
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) != NULL)
		cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	securefile_free(&f);
	ERR_clear_error();
	if (cert == NULL)
		rg_seterr(err, errlen, "%s %s holds no PEM certificate", what, path);
	return cert;
}

int
securefile_load_ca(X509_STORE *store, const char *what, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_INFO) *infos = NULL;
	struct securefile f;
	BIO *bio;
	int i, n = 0;

	if (securefile_read(what, path, SECUREFILE_PUBLIC, &f, err, errlen) != 0)
		return -1;
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) != NULL)
		infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL);
	for (i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509) == 1)
			n++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	securefile_free(&f);
	ERR_clear_error();
	if (n == 0) {
		rg_seterr(err, errlen, "%s %s holds no PEM certificate", what, path);
		return -1;
	}
	return 0;
}

int
securefile_check_ca(const char *what, const char *path, char *err, size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	int rc = store != NULL ? securefile_load_ca(store, what, path, err, errlen) : -1;

	if (store == NULL)
		rg_seterr(err, errlen, "%s %s: out of memory", what, path);
	X509_STORE_free(store);
	return rc;
}
