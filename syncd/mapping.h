/* What the ldap and ad targets share: the account mapping (a DN template or a search) and
 * the directory connection (URI, service identity, TLS, timeouts, result mapping, the
 * pre-bind check). Each kind only adds its own keys and its own write. */
#ifndef RG_MAPPING_H
#define RG_MAPPING_H

#include <pthread.h>
#include <ldap.h>

#include "target.h"

/* ---- account mapping ---- */

struct map {
	char *tmpl;                 /* map-template: %r, %d, %% */
	char *search_base;          /* map-search-base */
	char *search_filter;        /* map-search-filter: %r, %d, %% */
	int tmpl_line, base_line, filter_line;
};

/* Returns 1 when kv is a map key (consumed), 0 when it is not, -1 on a bad value. */
int map_conf_key(struct map *m, const struct conf_kv *kv, char *err, size_t errlen);
/* Checks the keys given form one complete mapping; file:line is the block's. */
int map_conf_check(const struct map *m, const char *file, int line, char *err, size_t errlen);
void map_free(struct map *m);

/* The DN the template gives for an account: %r the escaped first RDN value, %d the account
 * DN itself (already a DN: inserted as is). NULL when the result is not a valid DN. */
char *map_template_dn(const char *tmpl, const char *account, const char *rdn_value);
/* The filter with %r and %d replaced by filter-escaped values. NULL on error. */
char *map_search_filter(const char *filter, const char *account, const char *rdn_value);
/* The DN of the account in the store: by template, or by a search on ld that must find
 * exactly one entry. *dn is malloc'd on DELIVERY_DONE; err says why otherwise. */
enum delivery_result map_resolve(const struct map *m, LDAP *ld, const struct delivery *d,
	char **dn, char *err, size_t errlen);
/* RFC 4514 escaping of one attribute value (malloc'd; NULL when out of memory). */
char *map_escape_dn_value(const char *v);
/* RFC 4515 escaping of one assertion value (malloc'd; NULL when out of memory). */
char *map_escape_filter_value(const char *v);

/* ---- config helpers shared by the target kinds ---- */

/* Writes "FILE:LINE: " and the message into err; returns -1. */
int target_conf_error(char *err, size_t errlen, const char *file, int line, const char *fmt,
	...) __attribute__((format(printf, 5, 6)));
/* yes/no into *v; -1 with err on anything else. */
int target_conf_yesno(const struct conf_kv *kv, int *v, char *err, size_t errlen);
/* A whole number of seconds, 1..3600, into *v; -1 with err otherwise. */
int target_conf_seconds(const struct conf_kv *kv, int *v, char *err, size_t errlen);
/* -1 with err when the key was already given (at *seen, a line number); records it. */
int target_conf_once(const struct conf_kv *kv, int *seen, char *err, size_t errlen);

/* ---- directory connection (config in mapping.c, runtime in target_ldap.c) ---- */

enum { DC_LDAP, DC_LDAPS, DC_LDAPI };

struct dirconn {
	char *uri;
	char *bind_dn;
	char *bind_pw;              /* read from bind-password-file; cleansed on free */
	int sasl_external;
	int starttls;
	char *tls_ca_file;
	int tls_verify;
	int timeout;                /* seconds */
	struct map map;
	const char *kind;           /* "ldap" or "ad", for messages */
	int scheme;                 /* DC_LDAP, DC_LDAPS or DC_LDAPI, from uri */
	int loopback;               /* the uri's host is the local machine */
	/* config bookkeeping: the line each key was given on, 0 when not given */
	int uri_line, bind_dn_line, pwfile_line, sasl_line, starttls_line, ca_line;
	int verify_line, timeout_line;
	/* runtime: one kept connection, used by the worker thread; the lock keeps a
	 * disconnect() from another thread from pulling it away mid-delivery */
	pthread_mutex_t lock;
	LDAP *ld;
};

void dirconn_init(struct dirconn *c, const char *kind);
/* Returns 1 when kv is a connection or map key (consumed), 0 when it is not, -1 on error. */
int dirconn_conf_key(struct dirconn *c, const struct conf_kv *kv, char *err, size_t errlen);
/* The checks across keys (required keys, combinations), then reads the bind password. */
int dirconn_conf_check(struct dirconn *c, const struct target *t, char *err, size_t errlen);
void dirconn_free(struct dirconn *c);
/* ldaps://, or ldap:// with starttls yes. */
int dirconn_uses_tls(const struct dirconn *c);
void dirconn_disconnect(struct dirconn *c);

/* The kind's write of the new password to dn: returns an LDAP result code. */
typedef int (*dirconn_write_fn)(LDAP *ld, const char *dn, const struct delivery *d, void *arg);

/* The whole delivery: connect (lazily), map the account, pre-bind with the new password
 * (already there: DONE without writing), then write; maps the result and composes err as
 * "<op> on <dn>: <error>[: <server text>]" with any occurrence of the password scrubbed. */
enum delivery_result dirconn_deliver(struct dirconn *c, const struct delivery *d,
	const char *op, dirconn_write_fn write, void *arg, char *err, size_t errlen);

/* The delivery result an LDAP result code means. */
enum delivery_result dirconn_result(int rc);
/* Writes "<op> on <dn>: <error>[: <server text>]" into err; returns dirconn_result(rc). */
enum delivery_result dirconn_error(LDAP *ld, int rc, const char *op, const char *dn, char *err,
	size_t errlen);

/* Replaces each occurrence of the password in text (NUL-terminated, edited in place) by
 * "***". Used on every error text that may carry a server's or a program's words. */
void text_scrub(char *text, const unsigned char *pw, size_t pwlen);

/* ---- the kinds' encodings, exposed for the unit tests ---- */

enum hash_scheme { HASH_SSHA, HASH_SSHA512, HASH_CRYPT_SHA512 };
/* "{SSHA}...", "{SSHA512}..." or "{CRYPT}$6$...": malloc'd, the caller cleanses and frees
 * it (target_hash_free). NULL on error (err says why; never the password). */
char *target_hash_password(enum hash_scheme s, const unsigned char *pw, size_t len, char *err,
	size_t errlen);
void target_hash_free(char *h);
/* "\"" pw "\"" as UTF-16LE: 0, or -1 when pw is not valid UTF-8. *out is malloc'd; the
 * caller cleanses and frees it. */
int ad_encode_password(const unsigned char *pw, size_t len, unsigned char **out,
	size_t *outlen);

#endif
