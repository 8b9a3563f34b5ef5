/* The connection to a legacy directory, shared by the ldap and ad targets: its keys (URI,
 * service identity, TLS, timeout, account mapping), and a whole delivery — connect, find
 * the account, the pre-bind check, the kind's write, and what the result means. Each kind
 * only adds its own keys and its own write. */
#ifndef RG_DIRCONN_H
#define RG_DIRCONN_H

#include <pthread.h>
#include <ldap.h>

#include "map.h"
#include "target.h"

enum { DC_LDAP, DC_LDAPS, DC_LDAPI };

struct dirconn {
	char *uri;
	char *bind_dn;
	char *bind_pw; /* read from bind-password-file; cleansed on free */
	int sasl_external;
	int starttls;
	char *tls_ca_file;
	int tls_verify;
	int timeout; /* seconds */
	int bind_check; /* the pre-bind with the new password (bind-check, default yes) */
	struct map map;
	const char *kind; /* "ldap" or "ad", for messages */
	int scheme;       /* DC_LDAP, DC_LDAPS or DC_LDAPI, from uri */
	int loopback;     /* the uri's host is the local machine */
	/* config bookkeeping: the line each key was given on, 0 when not given */
	int uri_line, bind_dn_line, pwfile_line, sasl_line, starttls_line, ca_line;
	int verify_line, timeout_line, bind_check_line;
	/* runtime: one kept connection, used by the worker thread; the lock keeps a
	 * disconnect() from another thread from pulling it away mid-delivery */
	pthread_mutex_t lock;
	LDAP *ld;
};

void dirconn_init(struct dirconn *c, const char *kind);
/* Returns 1 when kv is a connection or map key (consumed), 0 when it is not, -1 on error. */
int dirconn_conf_key(struct dirconn *c, const struct conf_kv *kv, char *err, size_t errlen);
/* The checks across keys (required keys, combinations); tells t whether its mapping names
 * accounts by their RDN value. */
int dirconn_conf_check(struct dirconn *c, struct target *t, char *err, size_t errlen);
void dirconn_free(struct dirconn *c);
void dirconn_disconnect(struct dirconn *c);

/* The kind's write of the new password to dn: returns an LDAP result code. */
typedef int (*dirconn_write_fn)(LDAP *ld, const char *dn, const struct delivery *d, void *arg);

/* The whole delivery: connect (lazily), map the account, pre-bind with the new password
 * unless bind-check is no (already there: DONE without writing), then write; maps the
 * result and composes err as
 * "<op> on <dn>: <error>[: <server text>]" with any occurrence of the password scrubbed. */
enum delivery_result dirconn_deliver(struct dirconn *c, const struct delivery *d, const char *op,
	dirconn_write_fn write, void *arg, char *err, size_t errlen);

#endif
