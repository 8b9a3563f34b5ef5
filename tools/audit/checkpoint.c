/* The checkpoint file of verify: the head of the chain as last verified, kept by the auditor
 * outside the directory, so that a log rewritten offline (edited and re-chained, or cut
 * short) no longer verifies. One line (see resetguard-audit(1), CHECKPOINT FILE):
 *
 *   resetguard-checkpoint 1 base=B number=N hash=H time=T[ hmac-sha256=M]\n
 *
 * B is the log base as libldap normalizes it, with every byte outside 0x21..0x7e and '%'
 * written %XX; N a decimal; H the 64 lower-case hex digits of record N's rgLogHash (of the
 * anchor, or the genesis hash, when N has no record); T the time of that verification,
 * YYYY-MM-DDTHH:MM:SSZ; M the HMAC-SHA256, in lower-case hex, of every byte of the line
 * before " hmac-sha256=", with the key of --checkpoint-key. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "audit.h"
#include "errbuf.h"

#define CP_MAGIC "resetguard-checkpoint"
#define CP_VERSION 1
#define CP_MAC_FIELD " hmac-sha256="
#define CP_LINE_MAX 4096
#define CP_KEY_MIN 32
#define CP_KEY_MAX 1024

/* ---- the key ---- */

int
audit_cp_key_load(const char *path, unsigned char **key, size_t *len, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	struct stat sb;
	size_t n = 0;
	ssize_t r;
	int fd, ret = AUDIT_ERROR;

	*key = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rg_seterr(err, errlen, "cannot read the checkpoint key '%s': %s", path,
			strerror(errno));
		return AUDIT_ERROR;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rg_seterr(err, errlen, "the checkpoint key '%s' is not a regular file", path);
		goto out;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		rg_seterr(err, errlen,
			"the checkpoint key '%s' is accessible by group or others "
			"(mode %03o): chmod 600 it",
			path, (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	/* one byte more than allowed, to tell a key that is too long */
	if ((buf = OPENSSL_malloc(CP_KEY_MAX + 1)) == NULL) {
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	while (n <= CP_KEY_MAX && (r = read(fd, buf + n, CP_KEY_MAX + 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rg_seterr(err, errlen, "cannot read the checkpoint key '%s': %s", path,
				strerror(errno));
			goto out;
		}
		n += (size_t)r;
	}
	if (n < CP_KEY_MIN || n > CP_KEY_MAX) {
		rg_seterr(err, errlen,
			"the checkpoint key '%s' has %s bytes: it must hold %d to %d "
			"bytes (for instance: openssl rand -out KEYFILE 32)",
			path, n > CP_KEY_MAX ? "too many" : "too few", CP_KEY_MIN, CP_KEY_MAX);
		goto out;
	}
	*key = buf;
	*len = n;
	buf = NULL;
	ret = AUDIT_OK;
out:
	audit_cp_key_free(buf, 0);
	close(fd);
	return ret;
}

/* Cleanses the whole buffer, whatever part of it the key filled. */
void
audit_cp_key_free(unsigned char *key, size_t len)
{
	(void)len;
	OPENSSL_clear_free(key, CP_KEY_MAX + 1);
}

/* hex = HMAC-SHA256(key, data), 64 lower-case hex digits. */
static int
mac_hex(const unsigned char *key, size_t keylen, const char *data, size_t len,
	char hex[RG_LOG_HASH_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	int rc = -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
		EVP_MAC_update(ctx, (const unsigned char *)data, len) == 1 &&
		EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) == 1 && mdlen == 32) {
		for (size_t i = 0; i < 32; i++) {
			hex[2 * i] = digits[md[i] >> 4];
			hex[2 * i + 1] = digits[md[i] & 15];
		}
		hex[64] = '\0';
		rc = 0;
	}
	OPENSSL_cleanse(md, sizeof(md));
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

/* ---- the line ---- */

static int
is_hex64(const char *s, size_t len)
{
	if (len != 64)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
is_time(const char *s, size_t len)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (len != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return 0;
	return 1;
}

/* base with every byte outside 0x21..0x7e and '%' as %XX; NULL when out of memory. */
static char *
pct_encode(const char *s)
{
	static const char digits[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '%') {
			*p++ = '%';
			*p++ = digits[c >> 4];
			*p++ = digits[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The inverse of pct_encode; NULL for a bad escape, an escaped NUL, a byte pct_encode would
 * have escaped, or no memory. */
static char *
pct_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *p = out;
	int hi, lo;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (len - i < 3 || (hi = hexval(s[i + 1])) < 0 ||
				(lo = hexval(s[i + 2])) < 0 || (hi == 0 && lo == 0))
				goto bad;
			*p++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f) {
			goto bad;
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* The log base as libldap normalizes a DN (RFC 4514 form, types as given), malloc'd. */
char *
audit_cp_base(const char *base)
{
	char *ndn = NULL, *out;

	if (ldap_dn_normalize(base, LDAP_DN_FORMAT_LDAPV3, &ndn, LDAP_DN_FORMAT_LDAPV3) !=
		LDAP_SUCCESS)
		return NULL;
	out = strdup(ndn != NULL ? ndn : "");
	ldap_memfree(ndn);
	return out;
}

void
audit_cp_free(struct audit_checkpoint *cp)
{
	free(cp->base);
	memset(cp, 0, sizeof(*cp));
}

/* Reads at most CP_LINE_MAX + 1 bytes of path into buf; the byte count, or -1 with errno. */
static ssize_t
read_file(int fd, char *buf)
{
	size_t n = 0;
	ssize_t r;

	while (n <= CP_LINE_MAX && (r = read(fd, buf + n, CP_LINE_MAX + 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* Takes the next " NAME=" field of the line at *p, up to the next space or the end; the
 * value's start and length. 0 when the field is there. */
static int
field(const char **p, const char *end, const char *name, const char **val, size_t *len)
{
	size_t nl = strlen(name);
	const char *v, *sp;

	if ((size_t)(end - *p) < nl + 2 || (*p)[0] != ' ' || strncmp(*p + 1, name, nl) != 0 ||
		(*p)[nl + 1] != '=')
		return -1;
	v = *p + nl + 2;
	sp = memchr(v, ' ', (size_t)(end - v));
	*val = v;
	*len = (size_t)((sp != NULL ? sp : end) - v);
	*p = v + *len;
	return 0;
}

int
audit_cp_load(const char *path, const char *base, const unsigned char *key, size_t keylen,
	struct audit_checkpoint *cp, char *err, size_t errlen)
{
	char *buf = NULL, *end, mac[RG_LOG_HASH_HEX];
	const char *p, *v, *macv = NULL;
	size_t len, maclen = 0;
	struct stat sb;
	ssize_t n;
	unsigned long long num = 0;
	int fd, ret = AUDIT_ERROR, version;

	memset(cp, 0, sizeof(*cp));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return AUDIT_OK; /* the first run: the checkpoint is created */
		rg_seterr(err, errlen, "cannot read the checkpoint '%s': %s", path,
			strerror(errno));
		return AUDIT_ERROR;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rg_seterr(err, errlen, "the checkpoint '%s' is not a regular file", path);
		goto out;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' is writable by group or others (mode "
			"%03o): only the auditor may write it",
			path, (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	if ((buf = malloc(CP_LINE_MAX + 2)) == NULL) {
		rg_seterr(err, errlen, "out of memory");
		goto out;
	}
	if ((n = read_file(fd, buf)) < 0) {
		rg_seterr(err, errlen, "cannot read the checkpoint '%s': %s", path,
			strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	/* From here on, a file that is not exactly what this tool writes was changed. */
	ret = AUDIT_BROKEN;
	if (n == 0 || n > CP_LINE_MAX || buf[n - 1] != '\n' ||
		memchr(buf, '\n', (size_t)n - 1) != NULL || strlen(buf) != (size_t)n) {
		rg_seterr(err, errlen, "the checkpoint '%s' is malformed: not one line", path);
		goto out;
	}
	end = buf + n - 1;
	*end = '\0';
	if (strncmp(buf, CP_MAGIC " ", sizeof(CP_MAGIC)) != 0) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' is malformed: it does not start with "
			"\"" CP_MAGIC "\"",
			path);
		goto out;
	}
	p = buf + sizeof(CP_MAGIC);
	len = strspn(p, "0123456789");
	if (len == 0 || len > 4 || p[0] == '0') {
		rg_seterr(err, errlen, "the checkpoint '%s' is malformed: no format version", path);
		goto out;
	}
	version = atoi(p);
	if (version != CP_VERSION) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' has format version %d; this "
			"resetguard-audit reads version %d",
			path, version, CP_VERSION);
		ret = AUDIT_ERROR;
		goto out;
	}
	p += len;
	if (field(&p, end, "base", &v, &len) != 0 || (cp->base = pct_decode(v, len)) == NULL ||
		field(&p, end, "number", &v, &len) != 0 || len == 0 || len > 20 ||
		strspn(v, "0123456789") < len || (v[0] == '0' && len > 1)) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' is malformed: base= and number= are "
			"expected",
			path);
		goto out;
	}
	errno = 0;
	num = strtoull(v, NULL, 10);
	if (errno != 0) {
		rg_seterr(err, errlen, "the checkpoint '%s' is malformed: number out of range",
			path);
		goto out;
	}
	cp->number = num;
	if (field(&p, end, "hash", &v, &len) != 0 || !is_hex64(v, len)) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' is malformed: hash= with 64 lower-case "
			"hex digits is expected",
			path);
		goto out;
	}
	memcpy(cp->hash, v, 64);
	cp->hash[64] = '\0';
	if (field(&p, end, "time", &v, &len) != 0 || !is_time(v, len)) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' is malformed: time= as "
			"YYYY-MM-DDTHH:MM:SSZ is expected",
			path);
		goto out;
	}
	memcpy(cp->time, v, len);
	cp->time[len] = '\0';
	len = (size_t)(p - buf); /* what the MAC covers */
	if (p != end) {
		if (field(&p, end, "hmac-sha256", &macv, &maclen) != 0 || p != end ||
			!is_hex64(macv, maclen)) {
			rg_seterr(err, errlen,
				"the checkpoint '%s' is malformed: unexpected text "
				"after time=",
				path);
			goto out;
		}
	}
	if (key != NULL) {
		if (macv == NULL) {
			rg_seterr(err, errlen,
				"the checkpoint '%s' has no signature, but "
				"--checkpoint-key was given: someone without the key wrote it",
				path);
			goto out;
		}
		if (mac_hex(key, keylen, buf, len, mac) != 0) {
			rg_seterr(err, errlen, "cannot compute HMAC-SHA256 (OpenSSL)");
			ret = AUDIT_ERROR;
			goto out;
		}
		if (CRYPTO_memcmp(mac, macv, 64) != 0) {
			rg_seterr(err, errlen,
				"checkpoint signature does not verify: '%s' was "
				"changed by someone without the key, or another key was given",
				path);
			goto out;
		}
	} else if (macv != NULL) {
		rg_seterr(err, errlen,
			"the checkpoint '%s' is signed: give its key with "
			"--checkpoint-key",
			path);
		ret = AUDIT_USAGE;
		goto out;
	}
	if (strcasecmp(cp->base, base) != 0) {
		rg_seterr(err, errlen, "the checkpoint '%s' is for the log %s, not %s (-b)", path,
			cp->base, base);
		ret = AUDIT_USAGE;
		goto out;
	}
	cp->present = 1;
	ret = AUDIT_OK;
out:
	if (ret != AUDIT_OK)
		audit_cp_free(cp);
	free(buf);
	close(fd);
	return ret;
}

int
audit_cp_save(const char *path, const struct audit_checkpoint *cp, const unsigned char *key,
	size_t keylen, char *err, size_t errlen)
{
	char *enc = NULL, *tmp = NULL, *line = NULL, *dir = NULL, *slash, mac[RG_LOG_HASH_HEX];
	size_t len, cap;
	int fd = -1, dfd, ret = AUDIT_ERROR, n;

	if ((enc = pct_encode(cp->base)) == NULL)
		goto nomem;
	cap = strlen(enc) + 256;
	if ((line = malloc(cap)) == NULL)
		goto nomem;
	n = snprintf(line, cap, CP_MAGIC " %d base=%s number=%llu hash=%s time=%s", CP_VERSION, enc,
		cp->number, cp->hash, cp->time);
	if (n < 0 || (size_t)n >= cap)
		goto nomem;
	len = (size_t)n;
	if (key != NULL) {
		if (mac_hex(key, keylen, line, len, mac) != 0) {
			rg_seterr(err, errlen, "cannot compute HMAC-SHA256 (OpenSSL)");
			goto out;
		}
		len += (size_t)snprintf(line + len, cap - len, CP_MAC_FIELD "%s", mac);
	}
	line[len++] = '\n';
	if (len > CP_LINE_MAX) {
		rg_seterr(err, errlen, "the log base is too long for a checkpoint line");
		goto out;
	}

	/* A temporary file beside it, synced, then renamed over it: a crash leaves the old
	 * checkpoint or the new one, never a torn one. mkstemp creates it 0600. */
	if ((tmp = malloc(strlen(path) + sizeof(".XXXXXX"))) == NULL ||
		(dir = strdup(path)) == NULL)
		goto nomem;
	sprintf(tmp, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		rg_seterr(err, errlen,
			"cannot create a temporary file beside the checkpoint "
			"'%s': %s",
			path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		goto ioerr;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto ioerr;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto ioerr;
	if (close(fd) != 0) {
		fd = -1;
		goto ioerr;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto ioerr;
	free(tmp);
	tmp = NULL;
	/* and the rename itself */
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ret = AUDIT_OK;
	goto out;
ioerr:
	rg_seterr(err, errlen, "cannot write the checkpoint '%s': %s", path, strerror(errno));
	goto out;
nomem:
	rg_seterr(err, errlen, "out of memory");
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	free(line);
	free(enc);
	return ret;
}

void
audit_cp_now(char out[AUDIT_CP_TIME_LEN])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, AUDIT_CP_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
