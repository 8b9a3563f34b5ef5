/* A blocking HTTP/1.1 POST client for the hooks' worker threads.
 *
 * Each call builds its own event_base (no state shared between threads), sends one request
 * on a new connection and returns when the response is complete, the connection failed, or
 * the overall timeout passed. https verifies the peer against the system trust store or a
 * given CA file and checks the name (or IP address) in the URL against the certificate.
 * Plain http is refused unless the host is loopback: hook payloads name accounts and the
 * receivers act on them, so they must not travel unauthenticated across a network. */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <stddef.h>

/* Responses beyond this are truncated (the rest is read and dropped). */
#define RG_HTTP_MAX_RESPONSE (64 * 1024)

/* libevent's http.h owns the HTTP_* names. */
enum rg_http_status {
	RG_HTTP_OK = 0,           /* a response arrived; see resp->status */
	RG_HTTP_TRANSIENT = -1,   /* no response: connection, TLS, timeout — worth retrying */
	RG_HTTP_BAD_REQUEST = -2, /* the request itself is unusable (URL, scheme, CA file) */
};

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *url; /* http(s)://host[:port]/path[?query] */
	const char *content_type;
	const char *accept;                /* NULL: no Accept header */
	const struct http_header *headers; /* extra headers, may be NULL */
	size_t nheaders;
	const void *body;
	size_t body_len;
	const char *ca_file; /* NULL: the system's default trust store */
	int timeout;         /* seconds for the whole exchange; <= 0: 10 */
};

struct http_response {
	int status; /* HTTP status code, 0 when none arrived */
	char *body; /* malloc'd, NUL-terminated, NULL when empty */
	size_t body_len;
	int truncated; /* body was longer than RG_HTTP_MAX_RESPONSE */
};

/* Returns an enum rg_http_status. resp is always initialised and must be released with
 * http_response_free. On an error, err names it (the URL's host, never the body). */
int http_post(const struct http_request *req, struct http_response *resp, char *err, size_t errlen);
void http_response_free(struct http_response *resp);

/* A printable excerpt of the response body for an error text: at most len - 1 bytes,
 * control and non-ASCII bytes replaced by '?', so a receiver cannot forge log lines. */
void http_snippet(const struct http_response *resp, char *buf, size_t len);

/* For configure(): the URL parses, its scheme is http or https, it has a host and no
 * userinfo, and plain http names a loopback host. 0 when usable. */
int http_check_url(const char *url, char *err, size_t errlen);

/* For configure(): path holds PEM certificates OpenSSL can load. 0 when usable. */
int http_check_ca_file(const char *path, char *err, size_t errlen);

#endif
