/* Every file syncd reads a key, a certificate or a secret from goes through here, so the
 * most important one (the unsealing key) gets no weaker checks than the least. The file is
 * opened without following a symbolic link and without blocking on a FIFO, and the checks
 * are made on the descriptor read from: what is checked is what is read. */
#ifndef RG_SECUREFILE_H
#define RG_SECUREFILE_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* The first line of a secret file (bind passwords, HMAC keys), malloc'd and NUL-terminated;
 * release it with securefile_free_secret. */
int securefile_read_secret(const char *what, const char *path, char **secret, char *err,
	size_t errlen);
void securefile_free_secret(char *secret);

/* The whole of a text file others may read but only its owner write (a template), at most
 * max bytes, no NUL byte; *text malloc'd, NUL-terminated. */
int securefile_read_text(const char *what, const char *path, size_t max, char **text, char *err,
	size_t errlen);

/* An unencrypted PEM private key from a secret file. */
EVP_PKEY *securefile_load_key(const char *what, const char *path, char *err, size_t errlen);
/* The first PEM certificate of a certificate file. */
X509 *securefile_load_cert(const char *what, const char *path, char *err, size_t errlen);
/* Adds every PEM certificate of a CA file to store; refuses a file with none. */
int securefile_load_ca(X509_STORE *store, const char *what, const char *path, char *err,
	size_t errlen);
/* Checks that a CA file holds at least one PEM certificate. */
int securefile_check_ca(const char *what, const char *path, char *err, size_t errlen);

#endif
