/* What the libFuzzer harnesses share: failing loudly, fixtures in a private temporary
 * directory, generated keys, and a cursor that turns the fuzzer's bytes into fields.
 *
 * Everything is static so each harness stays one translation unit that scripts/fuzz
 * compiles together with the project's sources, with no fuzz library to keep in step. */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not every harness uses every helper. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* A broken invariant is a crash: libFuzzer then saves the input that caused it. */
static void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz invariant violated: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__VA_ARGS__);                                                    \
	} while (0)

/* Set-up failures are not findings: they stop the run before any input is tried. */
static void fuzz_setup_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fuzz_setup_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz harness set-up failed: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* RG_FUZZ_VERBOSE=1 makes harnesses say what became of each input: for writing seeds. */
static int
fuzz_verbose(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("RG_FUZZ_VERBOSE") != NULL;
	return v;
}

/* ---- fixtures ---- */

static char fuzz_dir[4096];

static void
fuzz_rmdir(void)
{
	char cmd[4200];

	/* The directory holds only files this process wrote; its name came from mkdtemp. */
	if (fuzz_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", fuzz_dir);
	}
}

/* A private directory for fixture files, removed at exit. scripts/fuzz points TMPDIR into
 * its work directory, so what a crash leaves behind goes with that. */
static const char *
fuzz_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	if (fuzz_dir[0] != '\0')
		return fuzz_dir;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/rg-fuzz.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL)
		fuzz_setup_fail("mkdtemp %s: %s", fuzz_dir, strerror(errno));
	atexit(fuzz_rmdir);
	return fuzz_dir;
}

/* Writes len bytes to DIR/name with the given mode; returns the path, malloc'd. */
static char *
fuzz_write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", fuzz_tmpdir(), name) < 0)
		fuzz_setup_fail("out of memory");
	f = fopen(path, "w");
	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		fuzz_setup_fail("cannot write %s: %s", path, strerror(errno));
	if (chmod(path, mode) != 0)
		fuzz_setup_fail("chmod %s: %s", path, strerror(errno));
	return path;
}

/* Rewrites a per-input file, as the parsers under test read files by path. */
static void
fuzz_rewrite(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		fuzz_setup_fail("cannot write %s: %s", path, strerror(errno));
}

/* "EC" with "P-256", or "ED25519". */
static EVP_PKEY *
fuzz_keygen(const char *type)
{
	EVP_PKEY *k = strcmp(type, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
					      : EVP_PKEY_Q_keygen(NULL, NULL, type);

	if (k == NULL)
		fuzz_setup_fail("cannot generate a %s key", type);
	return k;
}

/* A PEM public or private key in DIR/name, mode 600; returns the path, malloc'd. */
static char *
fuzz_write_key(const char *name, EVP_PKEY *key, int private)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", fuzz_tmpdir(), name) < 0)
		fuzz_setup_fail("out of memory");
	f = fopen(path, "w");
	if (f == NULL ||
		(private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_PUBKEY(f, key)) != 1 ||
		fclose(f) != 0)
		fuzz_setup_fail("cannot write %s", path);
	/* syncd refuses key and secret files others may read */
	if (chmod(path, 0600) != 0)
		fuzz_setup_fail("chmod %s: %s", path, strerror(errno));
	return path;
}

/* ---- turning bytes into fields ---- */

struct fuzz_cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t
fuzz_byte(struct fuzz_cursor *c)
{
	uint8_t b;

	if (c->n == 0)
		return 0;
	b = *c->p++;
	c->n--;
	return b;
}

static uint64_t
fuzz_u64(struct fuzz_cursor *c, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | fuzz_byte(c);
	return v;
}

/* The bytes up to the next sep (or the end), as a malloc'd NUL-terminated string. NUL
 * bytes inside are kept in *len but end the C string, as they would for the callers. */
static char *
fuzz_field(struct fuzz_cursor *c, uint8_t sep, size_t *len)
{
	const uint8_t *e = memchr(c->p, sep, c->n);
	size_t n = e ? (size_t)(e - c->p) : c->n;
	char *s = malloc(n + 1);

	if (s == NULL)
		fuzz_setup_fail("out of memory");
	if (n > 0)
		memcpy(s, c->p, n);
	s[n] = '\0';
	c->p += n;
	c->n -= n;
	if (e != NULL) {
		c->p++;
		c->n--;
	}
	if (len != NULL)
		*len = n;
	return s;
}

/* err buffers end up in logs and LDAP result texts: they must be terminated and hold
 * printable ASCII only, whatever the input was (log injection). */
static void
fuzz_check_err(const char *what, const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);

	FUZZ_CHECK(n < errlen, "%s: error text is not NUL-terminated", what);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] < 0x7f,
			"%s: error text has byte 0x%02x at %zu: \"%s\"", what,
			(unsigned char)err[i], i, err);
}

#endif
