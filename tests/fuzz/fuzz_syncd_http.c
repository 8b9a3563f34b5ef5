/* libFuzzer harness: HTTP responses as the hooks receive them — http_post in syncd/http.c
 * (libevent's response parser, the body limit, the snippet for error texts), and what the
 * webhook and caep hooks make of the answer (status mapping, RFC 8935 error JSON).
 *
 * The receiver is the outsider here. A thread of the harness plays it on a loopback port:
 * it reads each request and answers with the input's bytes, then closes. Input byte 0
 * picks the client:
 *   0  http_post itself (a POST like the webhook's);
 *   1  the webhook hook's fire();
 *   2  the caep hook's fire() (two SETs, so two requests get the same answer).
 * The hooks are configured through config_load, as the daemon does.
 *
 * Invariants: http_post returns OK or TRANSIENT (the URL is good), a body that is
 * NUL-terminated and within RG_HTTP_MAX_RESPONSE, with truncated set exactly when the
 * answer was longer; error texts never carry a byte of the answer that is not printable
 * ASCII (they go to logs and to the log record).
 *
 * syncd/ is being restructured: the interface used here is named in this block only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz.h"

/* ---- syncd interface used here ---- */
#include "hook.h"
#include "http.h"
#include "syncd.h"
#define SYNCD_CONFIG_T struct syncd_config
#define SYNCD_CONFIG_LOAD config_load
#define SYNCD_HTTP_POST http_post
#define SYNCD_HTTP_RESPONSE_FREE http_response_free
#define SYNCD_HTTP_SNIPPET http_snippet
#define SYNCD_HTTP_OK RG_HTTP_OK
#define SYNCD_HTTP_TRANSIENT RG_HTTP_TRANSIENT
#define SYNCD_HTTP_MAX RG_HTTP_MAX_RESPONSE
/* ---- */

static int listen_fd, port;
static SYNCD_CONFIG_T cfg;
static struct hook *webhook, *caep;

/* The answer the receiver gives, swapped per input. */
static pthread_mutex_t answer_lock = PTHREAD_MUTEX_INITIALIZER;
static char *answer;
static size_t answer_len;

/* Reads a request: the header block, then Content-Length bytes of body. */
static void
read_request(int fd)
{
	char buf[16384], *end;
	size_t len = 0, want = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		if (want == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (want != 0 && len >= want)
			return;
	}
}

static void *
receiver(void *arg)
{
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		struct timeval tv = {2, 0};
		char *a, sink[4096];
		size_t len, off = 0;

		if (fd < 0)
			continue;
		/* a client that stops talking must not stall the run */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		read_request(fd);
		pthread_mutex_lock(&answer_lock);
		len = answer_len;
		a = malloc(len ? len : 1);
		if (a != NULL && len > 0)
			memcpy(a, answer, len);
		pthread_mutex_unlock(&answer_lock);
		while (a != NULL && off < len) {
			ssize_t n = send(fd, a + off, len - off, MSG_NOSIGNAL);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
		free(a);
		/* the end of the answer is the end of the connection */
		shutdown(fd, SHUT_WR);
		while (recv(fd, sink, sizeof(sink), 0) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void
start_receiver(void)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		listen(listen_fd, 16) != 0 ||
		getsockname(listen_fd, (struct sockaddr *)&sa, &salen) != 0)
		fuzz_setup_fail("cannot listen on loopback: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	if (pthread_create(&t, NULL, receiver, NULL) != 0)
		fuzz_setup_fail("cannot start the receiver thread");
	pthread_detach(t);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k = fuzz_keygen("EC");
	char *secret, *key, *conf, *text, err[SYNCD_ERR];

	/* as the daemon does (syncd/main.c): a receiver that hangs up must not kill it */
	signal(SIGPIPE, SIG_IGN);
	start_receiver();
	secret = fuzz_write_file("secret", "s3cret-for-fuzzing\n", 19, 0600);
	key = fuzz_write_key("p256.pem", k, 1);
	EVP_PKEY_free(k);
	if (asprintf(&text,
		    "log-uri ldap://127.0.0.1:389\n"
		    "sasl-external no\n"
		    "bind-dn cn=syncd,dc=example,dc=test\n"
		    "bind-password-file %s\n"
		    "key-file %s\n"
		    "cert-file %s\n"
		    "state-file /nonexistent/state\n"
		    "hook wh {\n\ttype webhook\n\turl http://127.0.0.1:%d/hook\n"
		    "\tsecret-file %s\n\ttimeout 3\n}\n"
		    "hook ssf {\n\ttype caep\n\turl http://127.0.0.1:%d/ssf\n"
		    "\tissuer https://resetguard.example.test\n"
		    "\taudience https://ssf.example.test\n\tsigning-key %s\n"
		    "\tkey-id k1\n\ttimeout 3\n}\n",
		    secret, key, key, port, secret, port, key) < 0)
		fuzz_setup_fail("out of memory");
	conf = fuzz_write_file("syncd.conf", text, strlen(text), 0644);
	if (SYNCD_CONFIG_LOAD(conf, &cfg, err, sizeof(err)) != 0)
		fuzz_setup_fail("config_load: %s", err);
	for (size_t i = 0; i < cfg.nhooks; i++) {
		if (strcmp(cfg.hooks[i]->name, "wh") == 0)
			webhook = cfg.hooks[i];
		else if (strcmp(cfg.hooks[i]->name, "ssf") == 0)
			caep = cfg.hooks[i];
	}
	if (webhook == NULL || caep == NULL)
		fuzz_setup_fail("the hooks were not configured");
	free(text);
	free(conf);
	free(secret);
	free(key);
	return 0;
}

static void
post(void)
{
	static const char body[] = "{\"event\":\"password-changed\",\"change_number\":1}";
	struct http_request rq;
	struct http_response resp;
	char url[64], err[SYNCD_ERR], snip[160];
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/post?x=1", port);
	memset(&rq, 0, sizeof(rq));
	rq.url = url;
	rq.content_type = "application/json";
	rq.accept = "application/json";
	rq.body = body;
	rq.body_len = sizeof(body) - 1;
	rq.timeout = 3;
	memset(err, 0, sizeof(err));
	rc = SYNCD_HTTP_POST(&rq, &resp, err, sizeof(err));
	if (fuzz_verbose())
		fprintf(stderr, "http_post: %d status %d, %zu bytes%s %s\n", rc, resp.status,
			resp.body_len, resp.truncated ? " (truncated)" : "", err);
	FUZZ_CHECK(rc == SYNCD_HTTP_OK || rc == SYNCD_HTTP_TRANSIENT,
		"http_post returned %d for a good URL: %s", rc, err);
	if (rc != SYNCD_HTTP_OK) {
		FUZZ_CHECK(resp.status == 0 && resp.body == NULL && resp.body_len == 0,
			"a failed http_post left a response");
		fuzz_check_err("http_post", err, sizeof(err));
		return;
	}
	FUZZ_CHECK(resp.status > 0, "an answer without a status");
	FUZZ_CHECK(resp.body_len <= SYNCD_HTTP_MAX, "body of %zu bytes kept", resp.body_len);
	FUZZ_CHECK((resp.body == NULL) == (resp.body_len == 0), "body %p with length %zu",
		(void *)resp.body, resp.body_len);
	if (resp.body != NULL)
		FUZZ_CHECK(resp.body[resp.body_len] == '\0', "body is not NUL-terminated");
	/* more bytes came than were kept: the limit must have been reached */
	if (resp.truncated)
		FUZZ_CHECK(resp.body_len == SYNCD_HTTP_MAX, "truncated at %zu bytes",
			resp.body_len);
	SYNCD_HTTP_SNIPPET(&resp, snip, sizeof(snip));
	fuzz_check_err("http_snippet", snip, sizeof(snip));
	SYNCD_HTTP_RESPONSE_FREE(&resp);
}

static void
fire(struct hook *h)
{
	struct hook_event ev = {
		.number = 42,
		.account = "uid=alice,ou=people,dc=example,dc=test",
		.rdn_value = "alice",
		.kind = "self-service",
		.requester = "cn=agent,dc=example,dc=test",
		.time = "20250101120000.000000Z",
		.epoch = 1735732800,
	};
	char err[SYNCD_ERR];
	enum hook_result r;

	memset(err, 0, sizeof(err));
	r = h->ops->fire(h, &ev, err, sizeof(err));
	if (fuzz_verbose())
		fprintf(stderr, "%s: %d %s\n", h->ops->kind, (int)r, err);
	FUZZ_CHECK(r == HOOK_DONE || r == HOOK_RETRY || r == HOOK_FAIL, "%s fire() returned %d",
		h->ops->kind, (int)r);
	fuzz_check_err(h->ops->kind, err, sizeof(err));
	if (r != HOOK_DONE)
		FUZZ_CHECK(err[0] != '\0', "%s hook failed (%d) without saying why", h->ops->kind,
			(int)r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode;

	if (size < 1 || size > 2 * SYNCD_HTTP_MAX)
		return -1;
	mode = data[0] % 3;
	pthread_mutex_lock(&answer_lock);
	free(answer);
	answer_len = size - 1;
	answer = malloc(answer_len ? answer_len : 1);
	if (answer != NULL)
		memcpy(answer, data + 1, answer_len);
	else
		answer_len = 0;
	pthread_mutex_unlock(&answer_lock);
	if (mode == 0)
		post();
	else
		fire(mode == 1 ? webhook : caep);
	return 0;
}
