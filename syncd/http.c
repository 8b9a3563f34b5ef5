/* A blocking HTTP/1.1 POST on libevent 2.1, for hook worker threads.
 *
 * Everything lives for one call: event_base, resolver, TLS context, connection. That costs
 * a handshake per hook firing, which is nothing next to a password change, and means no
 * libevent object is ever touched by two threads. The overall deadline is a timer on the
 * private base; libevent's own connection timeout bounds each connect/read/write step. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "errbuf.h"
#include "http.h"
#include "securefile.h"

#define DEFAULT_TIMEOUT 10
#define MAX_HEADERS_SIZE (16 * 1024)

struct endpoint {
	struct evhttp_uri *uri;
	int https;
	int ip;         /* host is an IP literal: no SNI, check the IP SAN */
	char host[256]; /* without IPv6 brackets */
	int port;
	char where[300]; /* scheme://host:port for messages; never the path */
};

struct call {
	struct http_response *resp;
	int finished; /* the request callback ran */
	int timed_out;
	int reqerr;    /* enum evhttp_request_error + 1; 0 for none */
	int connected; /* TCP (and TLS) were up at some point */
	struct event_base *base;
};

/* Loopback only by address, or the name every resolver maps to it; anything else could be
 * routed off the host. */
static int
is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
			(IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

static int
parse_target(const char *url, struct endpoint *t, char *err, size_t errlen)
{
	const char *scheme, *host;
	struct in_addr a4;
	struct in6_addr a6;
	size_t hl;

	memset(t, 0, sizeof(*t));
	if (url == NULL || *url == '\0') {
		rg_seterr(err, errlen, "no URL given");
		return -1;
	}
	t->uri = evhttp_uri_parse_with_flags(url, 0);
	if (t->uri == NULL) {
		rg_seterr(err, errlen, "URL does not parse");
		return -1;
	}
	scheme = evhttp_uri_get_scheme(t->uri);
	host = evhttp_uri_get_host(t->uri);
	if (scheme == NULL ||
		(strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)) {
		rg_seterr(err, errlen, "URL scheme must be https (or http on loopback)");
		goto bad;
	}
	t->https = strcasecmp(scheme, "https") == 0;
	if (host == NULL || *host == '\0') {
		rg_seterr(err, errlen, "URL has no host");
		goto bad;
	}
	/* Credentials in a URL end up in logs and process listings; use the hook's own
	 * secret instead. */
	if (evhttp_uri_get_userinfo(t->uri) != NULL) {
		rg_seterr(err, errlen, "URL must not contain user information");
		goto bad;
	}
	hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host++;
		hl -= 2;
	}
	if (hl >= sizeof(t->host)) {
		rg_seterr(err, errlen, "URL host is too long");
		goto bad;
	}
	memcpy(t->host, host, hl);
	t->host[hl] = '\0';
	t->ip = inet_pton(AF_INET, t->host, &a4) == 1 || inet_pton(AF_INET6, t->host, &a6) == 1;
	t->port = evhttp_uri_get_port(t->uri);
	if (t->port <= 0)
		t->port = t->https ? 443 : 80;
	snprintf(t->where, sizeof(t->where), strchr(t->host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
		t->https ? "https" : "http", t->host, t->port);
	if (!t->https && !is_loopback(t->host)) {
		rg_seterr(err, errlen,
			"%s: plain http is only allowed to a loopback host; use https", t->where);
		goto bad;
	}
	return 0;
bad:
	evhttp_uri_free(t->uri);
	t->uri = NULL;
	return -1;
}

int
http_check_url(const char *url, char *err, size_t errlen)
{
	struct endpoint t;

	if (parse_target(url, &t, err, errlen) != 0)
		return -1;
	evhttp_uri_free(t.uri);
	return 0;
}

int
http_check_ca_file(const char *path, char *err, size_t errlen)
{
	return securefile_check_ca("tls-ca-file", path, err, errlen);
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

void
http_snippet(const struct http_response *resp, char *buf, size_t len)
{
	size_t i, n;

	if (len == 0)
		return;
	n = resp->body_len < len - 1 ? resp->body_len : len - 1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)resp->body[i];

		buf[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	buf[n] = '\0';
}

/* Keeps the first RG_HTTP_MAX_RESPONSE bytes and drops the rest, so a hostile or broken
 * receiver cannot make the daemon buffer without bound. */
static void
take_body(struct call *c, struct evbuffer *in)
{
	struct http_response *r = c->resp;
	size_t n = evbuffer_get_length(in), room;
	char *nb;

	if (n == 0)
		return;
	room = RG_HTTP_MAX_RESPONSE - r->body_len;
	if (n > room) {
		r->truncated = 1;
		n = room;
	}
	if (n > 0) {
		nb = realloc(r->body, r->body_len + n + 1);
		if (nb == NULL) {
			r->truncated = 1;
		} else {
			r->body = nb;
			evbuffer_copyout(in, r->body + r->body_len, n);
			r->body_len += n;
			r->body[r->body_len] = '\0';
		}
	}
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
on_chunk(struct evhttp_request *req, void *arg)
{
	take_body(arg, evhttp_request_get_input_buffer(req));
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct call *c = arg;

	c->reqerr = (int)e + 1;
}

/* libevent calls this only for a connection that was established (TLS included); that is
 * how a refused connection is told from a peer that hung up. errno is no help: by the time
 * the request callback runs, libevent's cleanup has overwritten it. */
static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct call *c = arg;

	c->connected = 1;
}

static void
on_done(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;

	c->finished = 1;
	if (req != NULL) {
		c->resp->status = evhttp_request_get_response_code(req);
		take_body(c, evhttp_request_get_input_buffer(req));
	}
	/* An idle connection keeps an event pending; the answer is all we wanted. */
	event_base_loopbreak(c->base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;

	c->timed_out = 1;
	event_base_loopbreak(c->base);
}

/* A TLS context that verifies the peer: chain against ca_file (or the system store) and
 * the URL's host name or IP address against the certificate. */
static SSL *
tls_new(const struct endpoint *t, const char *ca_file, SSL_CTX **ctxp, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	SSL *ssl = NULL;

	*ctxp = ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		rg_seterr(err, errlen, "%s: cannot create a TLS context", t->where);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL) {
		if (securefile_load_ca(SSL_CTX_get_cert_store(ctx), "tls-ca-file", ca_file, err,
			    errlen) != 0)
			return NULL;
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		rg_seterr(err, errlen, "cannot load the system's CA certificates");
		return NULL;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto fail;
	if (t->ip) {
		/* RFC 6066: no IP literals in SNI; the certificate needs an IP SAN. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host) != 1)
			goto fail;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(ssl, t->host) != 1 || SSL_set1_host(ssl, t->host) != 1)
			goto fail;
	}
	return ssl;
fail:
	SSL_free(ssl);
	rg_seterr(err, errlen, "%s: cannot set up TLS", t->where);
	return NULL;
}

/* Why no response arrived, as precisely as libevent and OpenSSL let us tell. */
static void
explain_failure(const struct call *c, const struct endpoint *t, SSL *ssl, struct bufferevent *bev,
	int timeout, char *err, size_t errlen)
{
	unsigned long e, last = 0;
	long vr;
	char buf[256];

	if (c->timed_out || c->reqerr == EVREQ_HTTP_TIMEOUT + 1) {
		rg_seterr(err, errlen, "%s: no answer within %d s", t->where, timeout);
		return;
	}
	if (bev != NULL && (e = bufferevent_socket_get_dns_error(bev)) != 0) {
		rg_seterr(err, errlen, "%s: cannot resolve the host: %s", t->where,
			evutil_gai_strerror((int)e));
		return;
	}
	if (ssl != NULL) {
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK) {
			rg_seterr(err, errlen, "%s: TLS certificate verification failed: %s",
				t->where, X509_verify_cert_error_string(vr));
			return;
		}
		/* The queue also holds bare SSL_get_error() codes (no library part) for
		 * socket-level failures; only real OpenSSL errors say something here. */
		while (bev != NULL && (e = bufferevent_get_openssl_error(bev)) != 0)
			if (ERR_GET_LIB(e) != 0)
				last = e;
		if (last != 0) {
			ERR_error_string_n(last, buf, sizeof(buf));
			rg_seterr(err, errlen, "%s: TLS error: %s", t->where, buf);
			return;
		}
	}
	if (!c->connected) {
		rg_seterr(err, errlen, "%s: cannot connect (refused or unreachable)%s", t->where,
			ssl != NULL ? ", or the TLS handshake failed" : "");
		return;
	}
	switch (c->reqerr - 1) {
	case EVREQ_HTTP_INVALID_HEADER:
		rg_seterr(err, errlen, "%s: malformed HTTP response", t->where);
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		rg_seterr(err, errlen, "%s: response headers too large", t->where);
		break;
	default:
		rg_seterr(err, errlen, "%s: connection closed without a response", t->where);
	}
}

int
http_post(const struct http_request *rq, struct http_response *resp, char *err, size_t errlen)
{
	struct endpoint t;
	struct call c;
	struct event_base *base = NULL;
	struct evdns_base *dns = NULL;
	struct event *deadline = NULL;
	struct evhttp_connection *evcon = NULL;
	struct evhttp_request *req = NULL;
	struct bufferevent *bev = NULL;
	struct evkeyvalq *hdrs;
	struct timeval tv;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	const char *path, *query;
	char hosthdr[300], *target = NULL;
	size_t i, tl;
	int timeout, rc = RG_HTTP_TRANSIENT;

	memset(resp, 0, sizeof(*resp));
	memset(&c, 0, sizeof(c));
	c.resp = resp;
	if (parse_target(rq->url, &t, err, errlen) != 0)
		return RG_HTTP_BAD_REQUEST;
	timeout = rq->timeout > 0 ? rq->timeout : DEFAULT_TIMEOUT;

	base = event_base_new();
	if (base == NULL) {
		rg_seterr(err, errlen, "%s: cannot create an event base", t.where);
		goto out;
	}
	c.base = base;
	/* A name is resolved on the event base, so the deadline covers DNS too; if the
	 * resolver cannot be set up, libevent falls back to blocking getaddrinfo. */
	if (!t.ip)
		dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (t.https) {
		ssl = tls_new(&t, rq->ca_file, &ctx, err, errlen);
		if (ssl == NULL) {
			rc = RG_HTTP_BAD_REQUEST;
			goto out;
		}
		/* On failure this frees ssl itself (BEV_OPT_CLOSE_ON_FREE). */
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
			BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL) {
			ssl = NULL;
			rg_seterr(err, errlen, "%s: cannot create a TLS stream", t.where);
			goto out;
		}
		/* Many servers close without close_notify after a complete response. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	/* Takes bev (freed with the connection from here on). */
	evcon = evhttp_connection_base_bufferevent_new(base, dns, bev, t.host,
		(unsigned short)t.port);
	if (evcon == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		bev = NULL;
		ssl = NULL;
		rg_seterr(err, errlen, "%s: cannot create a connection", t.where);
		goto out;
	}
	evhttp_connection_set_timeout(evcon, timeout);
	evhttp_connection_set_closecb(evcon, on_close, &c);
	evhttp_connection_set_max_headers_size(evcon, MAX_HEADERS_SIZE);

	req = evhttp_request_new(on_done, &c);
	if (req == NULL)
		goto nomem;
	evhttp_request_set_chunked_cb(req, on_chunk);
	evhttp_request_set_error_cb(req, on_error);
	hdrs = evhttp_request_get_output_headers(req);
	snprintf(hosthdr, sizeof(hosthdr), strchr(t.host, ':') ? "[%s]" : "%s", t.host);
	if (t.port != (t.https ? 443 : 80))
		snprintf(hosthdr + strlen(hosthdr), sizeof(hosthdr) - strlen(hosthdr), ":%d",
			t.port);
	if (evhttp_add_header(hdrs, "Host", hosthdr) != 0 ||
		evhttp_add_header(hdrs, "User-Agent", "resetguard-syncd") != 0 ||
		evhttp_add_header(hdrs, "Connection", "close") != 0 ||
		(rq->content_type != NULL &&
			evhttp_add_header(hdrs, "Content-Type", rq->content_type) != 0) ||
		(rq->accept != NULL && evhttp_add_header(hdrs, "Accept", rq->accept) != 0))
		goto badhdr;
	for (i = 0; i < rq->nheaders; i++)
		if (evhttp_add_header(hdrs, rq->headers[i].name, rq->headers[i].value) != 0)
			goto badhdr;
	if (rq->body_len > 0 &&
		evbuffer_add(evhttp_request_get_output_buffer(req), rq->body, rq->body_len) != 0)
		goto nomem;

	path = evhttp_uri_get_path(t.uri);
	query = evhttp_uri_get_query(t.uri);
	if (path == NULL || *path == '\0')
		path = "/";
	tl = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	target = malloc(tl);
	if (target == NULL)
		goto nomem;
	snprintf(target, tl, "%s%s%s", path, query ? "?" : "", query ? query : "");

	deadline = evtimer_new(base, on_deadline, &c);
	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	if (deadline == NULL || evtimer_add(deadline, &tv) != 0)
		goto nomem;
	/* From here the connection owns req, also when making the request fails. */
	if (evhttp_make_request(evcon, req, EVHTTP_REQ_POST, target) != 0) {
		req = NULL;
		rg_seterr(err, errlen, "%s: cannot send the request", t.where);
		goto out;
	}
	req = NULL;
	event_base_dispatch(base);

	if (c.finished && resp->status > 0) {
		rc = RG_HTTP_OK;
		goto out;
	}
	/* On a timeout the request is still queued; freeing the connection frees it. */
	explain_failure(&c, &t, ssl, evhttp_connection_get_bufferevent(evcon), timeout, err,
		errlen);
	goto out;
badhdr:
	rg_seterr(err, errlen, "%s: invalid request header", t.where);
	rc = RG_HTTP_BAD_REQUEST;
	goto out;
nomem:
	rg_seterr(err, errlen, "%s: out of memory", t.where);
out:
	if (req != NULL)
		evhttp_request_free(req);
	if (evcon != NULL)
		evhttp_connection_free(evcon); /* and bev, and with it ssl */
	else if (ssl != NULL)
		SSL_free(ssl);
	if (deadline != NULL)
		event_free(deadline);
	if (dns != NULL)
		evdns_base_free(dns, 0);
	if (base != NULL)
		event_base_free(base);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	free(target);
	evhttp_uri_free(t.uri);
	if (rc != RG_HTTP_OK)
		http_response_free(resp);
	return rc;
}
