/* test_http.c - the HTTP client: address classifier, and real requests against a tiny server thread. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "tap.h"

/* ---- the address classifier */

static int classify(const char *ip)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET, ip, &in.sin_addr) == 1)
		return http_addr_is_public((struct sockaddr *)&in);
	if (inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1)
		return http_addr_is_public((struct sockaddr *)&in6);
	return -1;
}

static void test_classifier(void)
{
	static const struct {
		const char *ip;
		int is_public;
	} cases[] = {
		{"1.1.1.1", 1}, {"8.8.8.8", 1}, {"93.184.216.34", 1}, {"9.255.255.255", 1}, {"11.0.0.1", 1},
		{"172.15.255.255", 1}, {"172.32.0.1", 1}, {"100.63.255.255", 1}, {"100.128.0.1", 1},
		{"192.0.3.1", 1}, {"198.17.255.255", 1}, {"198.20.0.1", 1}, {"223.255.255.254", 1},
		{"0.0.0.0", 0}, {"0.1.2.3", 0}, {"10.0.0.1", 0}, {"10.255.255.255", 0}, {"127.0.0.1", 0},
		{"127.255.255.254", 0}, {"169.254.169.254", 0}, {"172.16.0.1", 0}, {"172.31.255.255", 0},
		{"192.168.1.1", 0}, {"100.64.0.1", 0}, {"100.127.255.255", 0}, {"192.0.0.8", 0},
		{"192.0.2.1", 0}, {"198.51.100.7", 0}, {"203.0.113.9", 0}, {"198.18.0.1", 0},
		{"198.19.255.255", 0}, {"224.0.0.1", 0}, {"239.255.255.250", 0}, {"240.0.0.1", 0},
		{"255.255.255.255", 0},
		{"2606:4700:4700::1111", 1}, {"2a00:1450:4001::200e", 1}, {"2001:4860:4860::8888", 1},
		{"::ffff:8.8.8.8", 1}, {"64:ff9b::8.8.8.8", 1}, {"2002:808:808::1", 1},
		{"::", 0}, {"::1", 0}, {"fc00::1", 0}, {"fd12:3456::1", 0}, {"fe80::1", 0}, {"febf::1", 0},
		{"ff02::1", 0}, {"ff0e::1", 0}, {"::ffff:127.0.0.1", 0}, {"::ffff:10.0.0.1", 0},
		{"::ffff:192.168.0.1", 0}, {"::ffff:169.254.169.254", 0}, {"::ffff:100.64.0.1", 0},
		{"64:ff9b::10.0.0.1", 0}, {"64:ff9b::7f00:1", 0}, {"64:ff9b:1::1", 0},
		{"2002:7f00:1::", 0}, {"2002:c0a8:101::1", 0}, {"::127.0.0.1", 0}, {"2001:db8::1", 0},
		{"2001::1", 0}, {"100::1", 0}, {"fec0::1", 0}, {"3fff::1", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(classify(cases[i].ip), cases[i].is_public, "%s is %s", cases[i].ip,
		       cases[i].is_public ? "public" : "not public");
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	is_int(http_addr_is_public((struct sockaddr *)&un), 0, "a unix socket address is not public");
	is_int(http_addr_is_public(NULL), 0, "NULL is not public");
}

/* ---- a tiny HTTP/1.1 server on 127.0.0.1 */

#define MAX_HANDLERS 64

static struct {
	int fd, port;
	pthread_t acceptor;
	atomic_int accepts;
	pthread_mutex_t lock;
	pthread_t handlers[MAX_HANDLERS];
	int nhandlers;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct conn {
	int fd;
	char buf[16384];
	size_t len;
};

static int conn_fill(struct conn *c)
{
	if (c->len == sizeof c->buf)
		return -1;
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* One CRLF-terminated line, without the CRLF (caller frees), or NULL at EOF. */
static char *conn_line(struct conn *c)
{
	for (;;) {
		char *eol = memmem(c->buf, c->len, "\r\n", 2);
		if (eol) {
			size_t n = (size_t)(eol - c->buf);
			char *line = strndup(c->buf, n);
			conn_consume(c, n + 2);
			return line;
		}
		if (conn_fill(c) < 0)
			return NULL;
	}
}

static int conn_read(struct conn *c, char *dst, size_t n)
{
	while (n) {
		if (!c->len && conn_fill(c) < 0)
			return -1;
		size_t k = c->len < n ? c->len : n;
		memcpy(dst, c->buf, k);
		conn_consume(c, k);
		dst += k;
		n -= k;
	}
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int respond(int fd, int status, const char *extra_headers, const char *body, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof head, "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\n%s\r\n", status, len,
			 extra_headers ? extra_headers : "");
	if (send_all(fd, head, (size_t)n) < 0)
		return -1;
	return send_all(fd, body, len);
}

/* Reads a chunked body into *out; 0 or -1. */
static int read_chunked(struct conn *c, char **out, size_t *outlen)
{
	for (;;) {
		char *line = conn_line(c);
		if (!line)
			return -1;
		size_t n = strtoul(line, NULL, 16);
		free(line);
		if (n == 0)
			break;
		char *grown = realloc(*out, *outlen + n + 1);
		if (!grown)
			return -1;
		*out = grown;
		if (conn_read(c, *out + *outlen, n) < 0)
			return -1;
		*outlen += n;
		(*out)[*outlen] = '\0';
		char crlf[2];
		if (conn_read(c, crlf, 2) < 0)
			return -1;
	}
	for (;;) { /* trailers, then the empty line */
		char *line = conn_line(c);
		if (!line)
			return -1;
		int empty = !*line;
		free(line);
		if (empty)
			return 0;
	}
}

/* Serves one request; 0 to keep the connection, -1 to close it. */
static int serve_one(struct conn *c)
{
	char method[16] = "", path[256] = "", xtest[256] = "";
	size_t content_length = 0;
	int chunked = 0, expect = 0, rc = -1;
	char *body = NULL, *line = conn_line(c);
	size_t body_len = 0;
	if (!line || sscanf(line, "%15s %255s", method, path) != 2)
		goto out;
	for (;;) {
		free(line);
		line = conn_line(c);
		if (!line)
			goto out;
		if (!*line)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			content_length = strtoul(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
			chunked = 1;
		else if (strncasecmp(line, "Expect:", 7) == 0 && strstr(line, "100-continue"))
			expect = 1;
		else if (strncasecmp(line, "X-Test: ", 8) == 0)
			snprintf(xtest, sizeof xtest, "%s", line + 8);
	}
	path[strcspn(path, "?")] = '\0';
	if (expect && send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		goto out;
	if (chunked) {
		if (read_chunked(c, &body, &body_len) < 0)
			goto out;
	} else if (content_length) {
		body = malloc(content_length);
		if (!body || conn_read(c, body, content_length) < 0)
			goto out;
		body_len = content_length;
	}

	char hdrs[512];
	if (strcmp(path, "/echo-header") == 0) {
		rc = respond(c->fd, 200, NULL, xtest, strlen(xtest));
	} else if (strcmp(path, "/echo-body") == 0) {
		snprintf(hdrs, sizeof hdrs, "X-Method: %s\r\nX-Chunked: %d\r\nX-Expect: %d\r\n", method, chunked,
			 expect);
		rc = respond(c->fd, 200, hdrs, body ? body : "", body_len);
	} else if (strcmp(path, "/headers") == 0) {
		rc = respond(c->fd, 200, "X-One: 1\r\nx-multi: a\r\nX-Multi: b\r\nX-Space:   padded  \r\n", "ok", 2);
	} else if (strcmp(path, "/sleep") == 0) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		poll(&p, 1, 3000); /* returns early when the client gives up and closes */
		respond(c->fd, 200, NULL, "late", 4);
		rc = -1;
	} else if (strcmp(path, "/big") == 0 || strcmp(path, "/big-stream") == 0) {
		char fill[100];
		memset(fill, 'x', sizeof fill);
		int stream = strcmp(path, "/big-stream") == 0; /* no length: the body ends when we close */
		const char *head = stream ? "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
					  : "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
		rc = send_all(c->fd, head, strlen(head));
		for (int i = 0; rc == 0 && i < 1000; i++) /* 1000 x 100 bytes */
			rc = send_all(c->fd, fill, 100);
		if (stream)
			rc = -1;
	} else if (strcmp(path, "/redirect") == 0) {
		rc = respond(c->fd, 302, "Location: /headers\r\nX-Hop: first\r\n", "moved", 5);
	} else if (strcmp(path, "/redirect-loop") == 0) {
		rc = respond(c->fd, 302, "Location: /redirect-loop\r\n", "", 0);
	} else if (strcmp(path, "/redirect-file") == 0) {
		rc = respond(c->fd, 302, "Location: file:///etc/passwd\r\n", "", 0);
	} else if (strcmp(path, "/teapot") == 0) {
		rc = respond(c->fd, 418, NULL, "teapot", 6);
	} else {
		rc = respond(c->fd, 404, NULL, "", 0);
	}
out:
	free(line);
	free(body);
	return rc;
}

static void *handler_main(void *arg)
{
	struct conn *c = arg;
	while (serve_one(c) == 0)
		;
	close(c->fd);
	free(c);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(srv.fd, NULL, NULL);
		if (fd < 0)
			return NULL; /* the listening socket was shut down */
		atomic_fetch_add(&srv.accepts, 1);
		struct conn *c = calloc(1, sizeof *c);
		c->fd = fd;
		pthread_mutex_lock(&srv.lock);
		if (srv.nhandlers < MAX_HANDLERS && pthread_create(&srv.handlers[srv.nhandlers], NULL, handler_main, c) == 0) {
			srv.nhandlers++;
		} else {
			close(fd);
			free(c);
		}
		pthread_mutex_unlock(&srv.lock);
	}
}

static int server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(srv.fd, 16) < 0 ||
	    getsockname(srv.fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	return pthread_create(&srv.acceptor, NULL, acceptor_main, NULL);
}

static void server_stop(void)
{
	shutdown(srv.fd, SHUT_RDWR);
	pthread_join(srv.acceptor, NULL);
	close(srv.fd);
	for (int i = 0; i < srv.nhandlers; i++)
		pthread_join(srv.handlers[i], NULL);
}

static char *url(const char *scheme, const char *host, const char *path)
{
	static char u[256];
	snprintf(u, sizeof u, "%s://%s:%d%s", scheme, host, srv.port, path);
	return u;
}

static const http_opts test_opts = {.timeout_s = 5, .allow_private = 1};

/* ---- requests */

static void test_get_and_headers(void)
{
	static const char *const hdrs[] = {"X-Test: hello-42", "Accept: text/plain", NULL};
	http_request req = {.url = url("http", "127.0.0.1", "/echo-header"), .headers = hdrs};
	http_response r = {0};
	is_int(http_do(&test_opts, &req, &r), 0, "GET succeeds");
	is_int(r.status, 200, "status 200");
	is_str(buf_str(&r.body), "hello-42", "the custom request header reached the server");
	ok(r.error == NULL, "no error on success");
	http_response_free(&r);
	ok(r.body.data == NULL && r.headers == NULL && r.nheaders == 0, "http_response_free zeroes the response");
	http_response_free(&r);

	req = (http_request){.url = url("http", "127.0.0.1", "/headers")};
	is_int(http_do(&test_opts, &req, &r), 0, "GET /headers succeeds");
	is_str(http_response_header(&r, "x-one"), "1", "header lookup is case-insensitive");
	is_str(http_response_header(&r, "X-MULTI"), "b", "the last occurrence wins");
	is_str(http_response_header(&r, "Content-Length"), "2", "Content-Length is readable");
	is_str(http_response_header(&r, "X-Space"), "padded", "values are trimmed");
	ok(http_response_header(&r, "X-Absent") == NULL, "an absent header gives NULL");
	ok(http_response_header(&r, "X-On") == NULL, "a prefix of a name does not match");
	int status_line = 0;
	for (size_t i = 0; i < r.nheaders; i++)
		status_line |= strncmp(r.headers[i], "HTTP/", 5) == 0;
	ok(r.nheaders >= 5 && !status_line, "all %zu header lines are kept, without the status line", r.nheaders);
	http_response_free(&r);

	req = (http_request){.url = url("http", "127.0.0.1", "/teapot")};
	is_int(http_do(&test_opts, &req, &r), 0, "an error status is still a response");
	is_int(r.status, 418, "status 418");
	is_str(buf_str(&r.body), "teapot", "with its body");
	http_response_free(&r);
}

static void test_post_body(void)
{
	static const char body[] = "some body bytes\0with a NUL";
	http_request req = {.url = url("http", "127.0.0.1", "/echo-body"), .body = body, .body_len = sizeof body};
	http_response r = {0};
	is_int(http_do(&test_opts, &req, &r), 0, "POST succeeds");
	ok(r.body.len == sizeof body && memcmp(r.body.data, body, sizeof body) == 0, "the POST body arrived intact");
	is_str(http_response_header(&r, "X-Method"), "POST", "a body without a method means POST");
	http_response_free(&r);

	req.method = "PUT";
	is_int(http_do(&test_opts, &req, &r), 0, "PUT succeeds");
	is_str(http_response_header(&r, "X-Method"), "PUT", "the method is honoured");
	ok(r.body.len == sizeof body, "the PUT body arrived");
	http_response_free(&r);

	req = (http_request){.method = "DELETE", .url = url("http", "127.0.0.1", "/echo-body")};
	is_int(http_do(&test_opts, &req, &r), 0, "DELETE succeeds");
	is_str(http_response_header(&r, "X-Method"), "DELETE", "DELETE without a body");
	http_response_free(&r);
}

struct source {
	size_t len, pos, step;
	int fail_at; /* abort after this many calls; 0 = never */
	int calls;
};

static char pattern_at(size_t i)
{
	return (char)('a' + (i * 7 + i / 13) % 26);
}

static size_t read_source(void *dst, size_t n, void *ctx)
{
	struct source *s = ctx;
	if (s->fail_at && ++s->calls >= s->fail_at)
		return (size_t)-1;
	size_t k = s->len - s->pos;
	if (k > n)
		k = n;
	if (k > s->step)
		k = s->step;
	for (size_t i = 0; i < k; i++)
		((char *)dst)[i] = pattern_at(s->pos + i);
	s->pos += k;
	return k;
}

static int matches_pattern(const buf_t *b, size_t len)
{
	if (b->len != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (b->data[i] != pattern_at(i))
			return 0;
	return 1;
}

static void test_streamed_body(void)
{
	struct source s = {.len = 5000, .step = 7};
	http_request req = {.url = url("http", "127.0.0.1", "/echo-body"), .read_cb = read_source, .read_ctx = &s,
			    .read_len = 5000};
	http_response r = {0};
	is_int(http_do(&test_opts, &req, &r), 0, "streamed POST with a known length succeeds");
	ok(matches_pattern(&r.body, 5000), "the streamed body arrived intact (%zu bytes)", r.body.len);
	is_str(http_response_header(&r, "X-Chunked"), "0", "sent with a Content-Length");
	is_str(http_response_header(&r, "X-Method"), "POST", "a streamed body defaults to POST");
	http_response_free(&r);

	s = (struct source){.len = 3001, .step = 500};
	req.read_len = -1;
	req.method = "PUT";
	is_int(http_do(&test_opts, &req, &r), 0, "streamed PUT of unknown length succeeds");
	ok(matches_pattern(&r.body, 3001), "the chunked body arrived intact (%zu bytes)", r.body.len);
	is_str(http_response_header(&r, "X-Chunked"), "1", "sent chunked");
	is_str(http_response_header(&r, "X-Method"), "PUT", "as PUT");
	http_response_free(&r);

	/* big enough for curl to ask "Expect: 100-continue": the 100 response must not leak into the result */
	size_t big = 2 * 1024 * 1024 + 3;
	s = (struct source){.len = big, .step = 65536};
	req.read_len = (long long)big;
	req.method = NULL;
	is_int(http_do(&test_opts, &req, &r), 0, "a 2 MiB streamed body succeeds");
	ok(matches_pattern(&r.body, big), "and arrives intact");
	diag("server saw Expect: 100-continue: %s", http_response_header(&r, "X-Expect"));
	ok(http_response_header(&r, "X-Method") != NULL, "the final response's headers are kept");
	http_response_free(&r);

	s = (struct source){.len = 5000, .step = 7, .fail_at = 3};
	req.read_len = 5000;
	is_int(http_do(&test_opts, &req, &r), -1, "a read callback can abort the request");
	ok(r.error != NULL, "with an error: %s", r.error ? r.error : "(none)");
	http_response_free(&r);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_timeout_and_limits(void)
{
	static const char *const hdrs[] = {"Authorization: Bearer SECRET-TOKEN-123", NULL};
	http_opts o = {.timeout_s = 1, .allow_private = 1};
	http_request req = {.url = url("http", "user:hunter2@127.0.0.1", "/sleep?token=QUERYSECRET"),
			    .headers = hdrs};
	http_response r = {0};
	double t0 = now_s();
	is_int(http_do(&o, &req, &r), -1, "a server slower than the timeout gives -1");
	double took = now_s() - t0;
	ok(took >= 0.9 && took < 2.5, "after about 1 s (%.2f s)", took);
	ok(r.error && strstr(r.error, "timed out"), "the error says so: %s", r.error ? r.error : "(none)");
	ok(r.error && !strstr(r.error, "SECRET-TOKEN") && !strstr(r.error, "hunter2") && !strstr(r.error, "QUERYSECRET"),
	   "the error carries no credentials");
	is_int(r.status, 0, "status is 0 without a response");
	http_response_free(&r);

	o = (http_opts){.max_response = 1000, .timeout_s = 5, .allow_private = 1};
	req = (http_request){.url = url("http", "127.0.0.1", "/big")};
	is_int(http_do(&o, &req, &r), -1, "a body over max_response gives -1");
	ok(r.error && strstr(r.error, "exceeds"), "the error says so: %s", r.error ? r.error : "(none)");
	ok(r.body.len == 0, "and no partial body is returned");
	http_response_free(&r);

	req.url = url("http", "127.0.0.1", "/big-stream");
	is_int(http_do(&o, &req, &r), -1, "a body of unannounced length over max_response gives -1");
	ok(r.error && strstr(r.error, "exceeds"), "the error says so: %s", r.error ? r.error : "(none)");
	http_response_free(&r);

	o.max_response = 100000;
	req.url = url("http", "127.0.0.1", "/big");
	is_int(http_do(&o, &req, &r), 0, "a body of exactly max_response is fine");
	is_int(r.body.len, 100000, "and complete");
	http_response_free(&r);
}

static void *five_requests(void *arg)
{
	int *okays = arg;
	static const char *const hdrs[] = {"X-Test: again", NULL};
	for (int i = 0; i < 5; i++) {
		http_request req = {.url = url("http", "127.0.0.1", "/echo-header"), .headers = hdrs};
		http_response r = {0};
		if (http_do(&test_opts, &req, &r) == 0 && r.status == 200 && strcmp(buf_str(&r.body), "again") == 0)
			(*okays)++;
		http_response_free(&r);
	}
	return NULL; /* the thread's handle is freed by the thread-exit destructor */
}

static void test_connection_reuse(void)
{
	int okays = 0;
	int before = atomic_load(&srv.accepts);
	pthread_t t;
	pthread_create(&t, NULL, five_requests, &okays);
	pthread_join(t, NULL);
	is_int(okays, 5, "five sequential requests from one thread succeed");
	is_int(atomic_load(&srv.accepts) - before, 1, "over a single connection");
}

static void test_redirects(void)
{
	http_request req = {.url = url("http", "127.0.0.1", "/redirect")};
	http_response r = {0};
	is_int(http_do(&test_opts, &req, &r), 0, "a redirect is not followed by default");
	is_int(r.status, 302, "status 302");
	is_str(http_response_header(&r, "Location"), "/headers", "Location is readable");
	http_response_free(&r);

	req.follow_redirects = 1;
	is_int(http_do(&test_opts, &req, &r), 0, "a redirect is followed when asked");
	is_int(r.status, 200, "to the final 200");
	is_str(buf_str(&r.body), "ok", "with the final body only");
	ok(http_response_header(&r, "X-Hop") == NULL && http_response_header(&r, "Location") == NULL,
	   "the redirect's headers were dropped");
	is_str(http_response_header(&r, "X-One"), "1", "the final response's headers are kept");
	http_response_free(&r);

	req.url = url("http", "127.0.0.1", "/redirect-loop");
	is_int(http_do(&test_opts, &req, &r), -1, "a redirect loop stops with -1");
	ok(r.error && strstr(r.error, "redirects"), "the error says so: %s", r.error ? r.error : "(none)");
	http_response_free(&r);

	req.url = url("http", "127.0.0.1", "/redirect-file");
	is_int(http_do(&test_opts, &req, &r), -1, "a redirect to file:// is refused");
	ok(r.error && r.body.len == 0, "with an error: %s", r.error ? r.error : "(none)");
	http_response_free(&r);
}

static void test_refusals(void)
{
	http_opts guarded = {.timeout_s = 5};
	http_response r = {0};
	int before = atomic_load(&srv.accepts);

	http_request req = {.url = url("https", "127.0.0.1", "/echo-header")};
	is_int(http_do(&guarded, &req, &r), -1, "without allow_private, 127.0.0.1 is refused");
	ok(r.error && strstr(r.error, "non-public address 127.0.0.1"), "by the address guard: %s",
	   r.error ? r.error : "(none)");
	http_response_free(&r);

	req.url = url("https", "localhost", "/echo-header");
	is_int(http_do(&guarded, &req, &r), -1, "a name resolving to loopback is refused");
	ok(r.error && strstr(r.error, "non-public address"), "at connect time: %s", r.error ? r.error : "(none)");
	http_response_free(&r);

	req.url = url("https", "[::ffff:127.0.0.1]", "/echo-header");
	is_int(http_do(&guarded, &req, &r), -1, "a v4-mapped loopback literal is refused");
	http_response_free(&r);

	req.url = url("http", "127.0.0.1", "/echo-header");
	is_int(http_do(&guarded, &req, &r), -1, "without allow_private, plain http is refused");
	ok(r.error && strstr(r.error, "only https"), "with a clear error: %s", r.error ? r.error : "(none)");
	http_response_free(&r);

	req.url = "http://example.com/";
	is_int(http_do(&guarded, &req, &r), -1, "plain http is refused for public hosts too");
	http_response_free(&r);

	req.url = "file:///etc/passwd";
	is_int(http_do(&test_opts, &req, &r), -1, "file:// is refused even in test mode");
	ok(r.error && r.body.len == 0, "with an error and no body: %s", r.error ? r.error : "(none)");
	http_response_free(&r);

	req.url = url("gopher", "127.0.0.1", "/");
	is_int(http_do(&test_opts, &req, &r), -1, "gopher:// is refused");
	http_response_free(&r);

	req.url = url("ftp", "127.0.0.1", "/");
	is_int(http_do(&test_opts, &req, &r), -1, "ftp:// is refused");
	http_response_free(&r);

	req.url = NULL;
	is_int(http_do(&test_opts, &req, &r), -1, "a missing URL is refused");
	http_response_free(&r);

	is_int(atomic_load(&srv.accepts) - before, 0, "no refused request reached the server");
}

int main(void)
{
	http_global_init();
	http_global_init(); /* idempotent */
	test_classifier();
	if (server_start() != 0) {
		ok(0, "start the test server");
		return tap_done();
	}
	test_get_and_headers();
	test_post_body();
	test_streamed_body();
	test_timeout_and_limits();
	test_connection_reuse();
	test_redirects();
	test_refusals();
	http_thread_cleanup(); /* closes the main thread's connections so the server threads can finish */
	server_stop();
	return tap_done();
}
