/* ws.c - a blocking WebSocket client. The HTTP/1.1 upgrade is ours (RFC 6455 section 4.1); wslay's
 * event API does the framing, masking, UTF-8 checks, ping replies and the close handshake. The socket
 * stays non-blocking underneath so every wait is a poll() with a deadline. */
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <wslay/wslay.h>

#include "encoding.h"

#ifndef ATCR_VERSION
#define ATCR_VERSION "dev"
#endif

#define WS_DEFAULT_TIMEOUT_MS 10000
#define WS_DEFAULT_MAX_MESSAGE ((size_t)8 << 20)
#define WS_MAX_RESPONSE_HEAD 16384 /* the server's 101 response headers */
#define WS_CLOSE_WAIT_MS 1000      /* how long ws_close waits for the server's close frame */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* A received message waiting for ws_recv. */
typedef struct ws_msg {
	struct ws_msg *next;
	int binary;
	size_t len;
	unsigned char data[];
} ws_msg;

struct ws_conn {
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl;
	BIO_METHOD *bio_method;
	int ssl_want_write; /* the last SSL_read needs the socket writable */
	wslay_event_context_ptr ev;
	char *where; /* "ws://host:port", the prefix of error messages */
	int timeout_ms;
	size_t max_message;
	/* bytes that came after the upgrade response's headers, fed to wslay first */
	unsigned char *pending;
	size_t pending_len, pending_off;
	ws_msg *head, *tail;
	int discard; /* ws_close: drop messages still arriving */
	/* what the transport callbacks saw, and the sticky error that ends the connection */
	char *io_error;
	int failed;
	char *error; /* NULL when even the message could not be allocated */
	/* the server's close frame */
	unsigned close_code;
	char *close_reason;
};

typedef struct {
	int tls;
	char *host;     /* without IPv6 brackets */
	char *port;
	char *hostport; /* for the Host header: as written, port only when not the default */
	char *target;   /* path and query, at least "/" */
} ws_url;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline for poll(): -1 for none (deadline < 0), 0 when past. */
static int remaining_ms(long long deadline)
{
	if (deadline < 0)
		return -1;
	long long left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > 1000000000 ? 1000000000 : (int)left;
}

static void url_free(ws_url *u)
{
	free(u->host);
	free(u->port);
	free(u->hostport);
	free(u->target);
}

static int url_parse(const char *url, ws_url *u, char **err)
{
	memset(u, 0, sizeof *u);
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return buf_error(err, "a WebSocket URL may not contain spaces or control characters");
	const char *rest;
	if (!strncasecmp(url, "ws://", 5)) {
		rest = url + 5;
	} else if (!strncasecmp(url, "wss://", 6)) {
		rest = url + 6;
		u->tls = 1;
	} else {
		return buf_error(err, "%s: not a ws:// or wss:// URL", url);
	}
	if (strchr(rest, '#'))
		return buf_error(err, "%s: a WebSocket URL has no fragment", url);
	size_t alen = strcspn(rest, "/?");
	const char *auth = rest, *auth_end = rest + alen;
	if (memchr(auth, '@', alen))
		return buf_error(err, "%s: user names in WebSocket URLs are not supported", url);
	const char *host_end, *port = NULL;
	if (auth < auth_end && *auth == '[') {
		host_end = memchr(auth, ']', alen);
		if (!host_end)
			return buf_error(err, "%s: unterminated [IPv6] host", url);
		if (host_end + 1 < auth_end) {
			if (host_end[1] != ':')
				return buf_error(err, "%s: junk after the [IPv6] host", url);
			port = host_end + 2;
		}
		u->host = strndup(auth + 1, (size_t)(host_end - auth - 1));
	} else {
		host_end = memchr(auth, ':', alen);
		if (host_end)
			port = host_end + 1;
		else
			host_end = auth_end;
		u->host = strndup(auth, (size_t)(host_end - auth));
	}
	if (!u->host)
		goto oom;
	if (!*u->host) {
		url_free(u);
		return buf_error(err, "%s: no host", url);
	}
	int explicit_port = 0;
	if (port) {
		size_t plen = (size_t)(auth_end - port);
		unsigned long n = 0;
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9' || i >= 5) {
				n = 0;
				break;
			}
			n = n * 10 + (unsigned long)(port[i] - '0');
		}
		if (n < 1 || n > 65535) {
			url_free(u);
			return buf_error(err, "%s: bad port", url);
		}
		u->port = buf_strf("%lu", n);
		explicit_port = n != (u->tls ? 443u : 80u);
	} else {
		u->port = strdup(u->tls ? "443" : "80");
	}
	if (!u->port)
		goto oom;
	int v6 = strchr(u->host, ':') != NULL;
	u->hostport = buf_strf("%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", explicit_port ? ":" : "",
			       explicit_port ? u->port : "");
	u->target = *auth_end == '/' ? strdup(auth_end) : buf_strf("/%s", auth_end);
	if (!u->hostport || !u->target)
		goto oom;
	return 0;
oom:
	url_free(u);
	return buf_error(err, "out of memory");
}

/* ---- transport: plain socket or TLS ---- */

/* OpenSSL's socket BIO writes with write(2), which raises SIGPIPE when the peer has gone; this one
 * sends with MSG_NOSIGNAL so a library never kills its process. */
static int bio_sock_write(BIO *b, const char *data, int len)
{
	ws_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = send(c->fd, data, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int bio_sock_read(BIO *b, char *data, int len)
{
	ws_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = recv(c->fd, data, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* The OpenSSL error queue's last entry as text, cleared. */
static void ssl_error_text(char *out, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, out, n);
	else
		snprintf(out, n, "%s", errno ? strerror(errno) : "unexpected end of stream");
	ERR_clear_error();
}

/* Read up to n bytes: > 0 bytes, 0 end of stream, -1 nothing yet (would block), -2 error in c->io_error. */
static ssize_t io_read(ws_conn *c, void *dst, size_t n)
{
	if (!c->ssl) {
		for (;;) {
			ssize_t r = recv(c->fd, dst, n, 0);
			if (r >= 0)
				return r;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -1;
			buf_error(&c->io_error, "receive: %s", strerror(errno));
			return -2;
		}
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_read(c->ssl, dst, n > INT32_MAX ? INT32_MAX : (int)n);
	c->ssl_want_write = 0;
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->ssl_want_write = 1;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_last_error() && (errno == 0 || errno == ECONNRESET))
			return 0; /* closed without close_notify: still the end of the stream */
		/* fall through */
	default: {
		char text[256];
		ssl_error_text(text, sizeof text);
		buf_error(&c->io_error, "TLS receive: %s", text);
		return -2;
	}
	}
}

/* Write up to n bytes: > 0 written, -1 would block, -2 error in c->io_error. */
static ssize_t io_write(ws_conn *c, const void *src, size_t n)
{
	if (!c->ssl) {
		for (;;) {
			ssize_t r = send(c->fd, src, n, MSG_NOSIGNAL);
			if (r >= 0)
				return r;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -1;
			buf_error(&c->io_error, "send: %s", strerror(errno));
			return -2;
		}
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_write(c->ssl, src, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -1;
	char text[256];
	ssl_error_text(text, sizeof text);
	buf_error(&c->io_error, "TLS send: %s", text);
	return -2;
}

/* Wait until fd is ready for events or deadline passes: 1 ready, 0 timeout, -1 error (*err). */
static int wait_fd(ws_conn *c, short events, long long deadline, char **err)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		int r = poll(&p, 1, remaining_ms(deadline));
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return buf_error(err, "%s: poll: %s", c->where, strerror(errno));
	}
}

/* Write all of data before deadline. 0 ok, -1 with *err. */
static int write_all(ws_conn *c, const char *data, size_t len, long long deadline, char **err)
{
	while (len) {
		ssize_t n = io_write(c, data, len);
		if (n == -2)
			return buf_error(err, "%s: %s", c->where, c->io_error);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		int w = wait_fd(c, POLLOUT | POLLIN, deadline, err);
		if (w < 0)
			return -1;
		if (w == 0)
			return buf_error(err, "%s: timed out sending the upgrade request", c->where);
	}
	return 0;
}

static int tcp_connect(ws_conn *c, const ws_url *u, long long deadline, char **err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0)
		return buf_error(err, "%s: cannot resolve %s: %s", c->where, u->host, gai_strerror(rc));
	char *last = NULL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char addr[INET6_ADDRSTRLEN] = "?";
		const void *raw = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
							    : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		inet_ntop(ai->ai_family, raw, addr, sizeof addr);
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			buf_error(&last, "socket: %s", strerror(errno));
			continue;
		}
		int e = 0;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			e = errno;
			if (e == EINPROGRESS) {
				c->fd = fd;
				int w = wait_fd(c, POLLOUT, deadline, err);
				c->fd = -1;
				if (w < 0) {
					close(fd);
					break;
				}
				socklen_t elen = sizeof e;
				if (w == 0)
					e = ETIMEDOUT;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
					e = errno;
			}
		}
		if (e == 0) {
			c->fd = fd;
			break;
		}
		close(fd);
		buf_error(&last, "connect to %s port %s: %s", addr, u->port, strerror(e));
		if (e == ETIMEDOUT && remaining_ms(deadline) == 0)
			break;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		if (last)
			buf_error(err, "%s: %s", c->where, last);
		else if (!err || !*err)
			buf_error(err, "%s: no address for %s", c->where, u->host);
		free(last);
		return -1;
	}
	free(last);
	return 0;
}

static int tls_start(ws_conn *c, const ws_url *u, const ws_options *opt, long long deadline, char **err)
{
	char text[256];
	ERR_clear_error();
	c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ssl_ctx)
		return buf_error(err, "%s: cannot create a TLS context", c->where);
	SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
	/* A TCP close without close_notify reads as the end of the stream; WebSocket framing notices a
	 * truncated message by itself. */
	SSL_CTX_set_options(c->ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (opt && opt->ca_file) {
		if (SSL_CTX_load_verify_locations(c->ssl_ctx, opt->ca_file, NULL) != 1) {
			ssl_error_text(text, sizeof text);
			return buf_error(err, "%s: cannot load the CA file %s: %s", c->where, opt->ca_file, text);
		}
	} else if (SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1) {
		ssl_error_text(text, sizeof text);
		return buf_error(err, "%s: cannot load the system's CA certificates: %s", c->where, text);
	}
	c->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "atcr ws socket");
	if (!c->bio_method || !BIO_meth_set_write(c->bio_method, bio_sock_write) ||
	    !BIO_meth_set_read(c->bio_method, bio_sock_read) || !BIO_meth_set_ctrl(c->bio_method, bio_sock_ctrl) ||
	    !BIO_meth_set_create(c->bio_method, bio_sock_create))
		return buf_error(err, "%s: cannot set up TLS I/O", c->where);
	c->ssl = SSL_new(c->ssl_ctx);
	BIO *bio = c->ssl ? BIO_new(c->bio_method) : NULL;
	if (!bio)
		return buf_error(err, "%s: cannot set up TLS", c->where);
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	/* An IP literal is checked against the certificate's IP addresses and sent no SNI (RFC 6066). */
	unsigned char ipbuf[sizeof(struct in6_addr)];
	int is_ip = inet_pton(AF_INET, u->host, ipbuf) == 1 || inet_pton(AF_INET6, u->host, ipbuf) == 1;
	int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host)
		       : SSL_set_tlsext_host_name(c->ssl, u->host) && SSL_set1_host(c->ssl, u->host);
	if (!ok)
		return buf_error(err, "%s: cannot set the TLS host name", c->where);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int w = wait_fd(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, err);
			if (w < 0)
				return -1;
			if (w == 0)
				return buf_error(err, "%s: timed out in the TLS handshake", c->where);
			continue;
		}
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			ERR_clear_error();
			return buf_error(err, "%s: TLS certificate verification failed: %s", c->where,
					 X509_verify_cert_error_string(vr));
		}
		ssl_error_text(text, sizeof text);
		return buf_error(err, "%s: TLS handshake failed: %s", c->where, text);
	}
}

/* ---- the upgrade handshake ---- */

/* The Sec-WebSocket-Accept value a server must answer key with (RFC 6455 section 4.2.2). */
static char *accept_for(const char *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *joined = buf_strf("%s%s", key, WS_GUID);
	if (!joined)
		return NULL;
	int ok = EVP_Digest(joined, strlen(joined), md, &mdlen, EVP_sha1(), NULL);
	free(joined);
	return ok ? enc_b64_encode(md, mdlen) : NULL;
}

/* Whether the comma-separated header value contains token (case-insensitive). */
static int has_token(const char *value, size_t vlen, const char *token)
{
	size_t tlen = strlen(token), i = 0;
	while (i < vlen) {
		while (i < vlen && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		size_t start = i;
		while (i < vlen && value[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
			end--;
		if (end - start == tlen && !strncasecmp(value + start, token, tlen))
			return 1;
	}
	return 0;
}

/* Check the server's response head (NUL-terminated, CRLFs included). 0 ok, -1 with *err. */
static int check_response(ws_conn *c, const char *head, const char *want_accept, char **err)
{
	int status = 0;
	const char *eol = strstr(head, "\r\n");
	size_t line_len = eol ? (size_t)(eol - head) : strlen(head);
	if (sscanf(head, "HTTP/1.%*1[01] %3d", &status) != 1)
		return buf_error(err, "%s: not an HTTP response to the upgrade request: %.*s", c->where,
				 (int)(line_len > 80 ? 80 : line_len), head);
	if (status != 101) {
		const char *reason = head + (line_len > 12 ? 13 : line_len);
		return buf_error(err, "%s: the server answered HTTP %d%s%.*s instead of switching to WebSocket",
				 c->where, status, reason < head + line_len ? " " : "",
				 (int)(head + line_len - reason > 80 ? 80 : head + line_len - reason), reason);
	}
	int upgrade = 0, connection = 0, accepted = 0;
	for (const char *line = eol + 2; *line && strncmp(line, "\r\n", 2); line = strstr(line, "\r\n") + 2) {
		const char *end = strstr(line, "\r\n");
		const char *colon = memchr(line, ':', (size_t)(end - line));
		if (!colon)
			return buf_error(err, "%s: malformed header line in the upgrade response", c->where);
		size_t nlen = (size_t)(colon - line);
		const char *v = colon + 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		size_t vlen = (size_t)(end - v);
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
#define IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(line, name, nlen))
		if (IS("Upgrade"))
			upgrade = vlen == 9 && !strncasecmp(v, "websocket", 9);
		else if (IS("Connection"))
			connection = has_token(v, vlen, "upgrade");
		else if (IS("Sec-WebSocket-Accept"))
			accepted = vlen == strlen(want_accept) && !memcmp(v, want_accept, vlen);
		else if (IS("Sec-WebSocket-Extensions") || IS("Sec-WebSocket-Protocol"))
			return buf_error(err, "%s: the server answered with %.*s, which we did not offer", c->where,
					 (int)nlen, line);
#undef IS
	}
	if (!upgrade || !connection)
		return buf_error(err, "%s: the 101 response lacks Upgrade: websocket / Connection: Upgrade", c->where);
	if (!accepted)
		return buf_error(err, "%s: wrong or missing Sec-WebSocket-Accept in the upgrade response", c->where);
	return 0;
}

static int upgrade(ws_conn *c, const ws_url *u, const ws_options *opt, long long deadline, char **err)
{
	unsigned char nonce[16];
	char *key = NULL, *want = NULL, *req = NULL, *head = NULL;
	int rc = -1;
	const char *ua = opt && opt->user_agent ? opt->user_agent : "atcr/" ATCR_VERSION;
	if (strpbrk(ua, "\r\n")) {
		buf_error(err, "the user agent may not contain line breaks");
		goto out;
	}
	if (RAND_bytes(nonce, sizeof nonce) != 1 || !(key = enc_b64_encode(nonce, sizeof nonce)) ||
	    !(want = accept_for(key))) {
		buf_error(err, "%s: cannot make a Sec-WebSocket-Key", c->where);
		goto out;
	}
	req = buf_strf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: %s\r\n\r\n",
		       u->target, u->hostport, key, ua);
	head = malloc(WS_MAX_RESPONSE_HEAD + 1);
	if (!req || !head) {
		buf_error(err, "out of memory");
		goto out;
	}
	if (write_all(c, req, strlen(req), deadline, err) < 0)
		goto out;
	size_t have = 0;
	char *end = NULL;
	while (!end) {
		if (have == WS_MAX_RESPONSE_HEAD) {
			buf_error(err, "%s: the upgrade response headers exceed %d bytes", c->where, WS_MAX_RESPONSE_HEAD);
			goto out;
		}
		ssize_t n = io_read(c, head + have, WS_MAX_RESPONSE_HEAD - have);
		if (n == -2) {
			buf_error(err, "%s: %s", c->where, c->io_error);
			goto out;
		}
		if (n == 0) {
			buf_error(err, "%s: the server closed the connection without answering the upgrade request",
				  c->where);
			goto out;
		}
		if (n < 0) {
			int w = wait_fd(c, c->ssl_want_write ? POLLOUT : POLLIN, deadline, err);
			if (w < 0)
				goto out;
			if (w == 0) {
				buf_error(err, "%s: timed out waiting for the upgrade response", c->where);
				goto out;
			}
			continue;
		}
		size_t from = have > 3 ? have - 3 : 0;
		have += (size_t)n;
		head[have] = '\0';
		end = memmem(head + from, have - from, "\r\n\r\n", 4);
	}
	size_t head_len = (size_t)(end + 4 - head);
	if (memchr(head, '\0', head_len)) {
		buf_error(err, "%s: NUL byte in the upgrade response", c->where);
		goto out;
	}
	if (have > head_len) {
		c->pending_len = have - head_len;
		c->pending = malloc(c->pending_len);
		if (!c->pending) {
			buf_error(err, "out of memory");
			goto out;
		}
		memcpy(c->pending, head + head_len, c->pending_len);
	}
	end[2] = '\0'; /* keep the last header's CRLF */
	rc = check_response(c, head, want, err);
out:
	free(key);
	free(want);
	free(req);
	free(head);
	return rc;
}

/* ---- wslay callbacks ---- */

static ssize_t on_wslay_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *ud)
{
	ws_conn *c = ud;
	if (c->pending_off < c->pending_len) {
		size_t n = c->pending_len - c->pending_off;
		if (n > len)
			n = len;
		memcpy(buf, c->pending + c->pending_off, n);
		c->pending_off += n;
		return (ssize_t)n;
	}
	if (c->head) {
		/* A whole message is waiting: stop reading, so memory stays bounded by max_message. */
		wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	ssize_t n = io_read(c, buf, len);
	if (n > 0)
		return n;
	if (n == -1) {
		wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n == 0)
		buf_error(&c->io_error, "the server closed the connection without a WebSocket close");
	wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags, void *ud)
{
	ssize_t n = io_write(ud, data, len);
	if (n >= 0)
		return n;
	wslay_event_set_error(ev, n == -1 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static int on_wslay_genmask(wslay_event_context_ptr ev, uint8_t *buf, size_t len, void *ud)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void on_wslay_msg(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
	ws_conn *c = ud;
	if (a->opcode == WSLAY_CONNECTION_CLOSE) {
		c->close_code = a->status_code;
		free(c->close_reason);
		c->close_reason = NULL;
		if (a->msg_length > 2) {
			size_t n = a->msg_length - 2 > 123 ? 123 : a->msg_length - 2;
			c->close_reason = strndup((const char *)a->msg + 2, n);
			for (char *p = c->close_reason; p && *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
		}
		return;
	}
	if ((a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME) || c->discard)
		return;
	ws_msg *m = malloc(sizeof *m + a->msg_length + 1);
	if (!m) {
		buf_error(&c->io_error, "out of memory for a %zu-byte message", a->msg_length);
		wslay_event_shutdown_read(ev);
		return;
	}
	m->next = NULL;
	m->binary = a->opcode == WSLAY_BINARY_FRAME;
	m->len = a->msg_length;
	if (a->msg_length)
		memcpy(m->data, a->msg, a->msg_length);
	m->data[a->msg_length] = '\0';
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
}

/* ---- the connection ---- */

static void fail(ws_conn *c, const char *what)
{
	if (c->failed)
		return;
	c->failed = 1;
	c->error = buf_strf("%s: %s", c->where, what);
}

static int failed_error(ws_conn *c, char **err)
{
	return buf_error(err, "%s", c->error ? c->error : "out of memory");
}

/* Why reading stopped without a transport error: the server's close, or a close wslay sent. */
static void fail_closed(ws_conn *c)
{
	char what[256];
	if (wslay_event_get_close_received(c->ev)) {
		if (c->close_code)
			snprintf(what, sizeof what, "the server closed the connection (status %u%s%s)", c->close_code,
				 c->close_reason ? ": " : "", c->close_reason ? c->close_reason : "");
		else
			snprintf(what, sizeof what, "the server closed the connection");
	} else {
		switch (wslay_event_get_status_code_sent(c->ev)) {
		case WSLAY_CODE_MESSAGE_TOO_BIG:
			snprintf(what, sizeof what, "a message exceeded the limit of %zu bytes", c->max_message);
			break;
		case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
			snprintf(what, sizeof what, "the server sent a text message that is not UTF-8");
			break;
		case WSLAY_CODE_PROTOCOL_ERROR:
			snprintf(what, sizeof what, "WebSocket protocol error in the server's frames");
			break;
		default:
			snprintf(what, sizeof what, "the connection was closed (%s)",
				 c->io_error ? c->io_error : "a WebSocket protocol error");
		}
	}
	fail(c, what);
}

/* Read what has arrived and send what is queued, without waiting. Sets c->error when the connection
 * can carry no more messages. */
static void pump(ws_conn *c)
{
	if (c->failed)
		return;
	if (wslay_event_want_read(c->ev) && wslay_event_recv(c->ev) != 0) {
		fail(c, c->io_error ? c->io_error : "receive failed");
		return;
	}
	if (wslay_event_want_write(c->ev) && wslay_event_send(c->ev) != 0) {
		fail(c, c->io_error ? c->io_error : "send failed");
		return;
	}
	if (c->io_error && !wslay_event_get_read_enabled(c->ev) && !wslay_event_get_close_received(c->ev)) {
		fail(c, c->io_error);
		return;
	}
	if (!wslay_event_get_read_enabled(c->ev) && !wslay_event_want_write(c->ev))
		fail_closed(c);
}

/* Events to poll for: readable while wslay reads, writable while it has frames to send. */
static short wanted_events(ws_conn *c)
{
	short ev = 0;
	if (wslay_event_want_read(c->ev))
		ev |= POLLIN;
	if (wslay_event_want_write(c->ev) || c->ssl_want_write)
		ev |= POLLOUT;
	return ev;
}

ws_conn *ws_connect(const char *url, const ws_options *opt, char **err)
{
	ws_url u;
	if (!url)
		return buf_error(err, "no WebSocket URL"), NULL;
	if (url_parse(url, &u, err) < 0)
		return NULL;
	ws_conn *c = calloc(1, sizeof *c);
	if (!c) {
		url_free(&u);
		buf_error(err, "out of memory");
		return NULL;
	}
	c->fd = -1;
	c->timeout_ms = opt && opt->timeout_ms > 0 ? opt->timeout_ms : WS_DEFAULT_TIMEOUT_MS;
	c->max_message = opt && opt->max_message ? opt->max_message : WS_DEFAULT_MAX_MESSAGE;
	int v6 = strchr(u.host, ':') != NULL;
	c->where = buf_strf("%s://%s%s%s:%s", u.tls ? "wss" : "ws", v6 ? "[" : "", u.host, v6 ? "]" : "", u.port);
	if (!c->where) {
		buf_error(err, "out of memory");
		goto fail;
	}
	long long deadline = now_ms() + c->timeout_ms;
	if (tcp_connect(c, &u, deadline, err) < 0)
		goto fail;
	if (u.tls && tls_start(c, &u, opt, deadline, err) < 0)
		goto fail;
	if (upgrade(c, &u, opt, deadline, err) < 0)
		goto fail;
	struct wslay_event_callbacks cb = {
		.recv_callback = on_wslay_recv,
		.send_callback = on_wslay_send,
		.genmask_callback = on_wslay_genmask,
		.on_msg_recv_callback = on_wslay_msg,
	};
	if (wslay_event_context_client_init(&c->ev, &cb, c) != 0) {
		c->ev = NULL;
		buf_error(err, "out of memory");
		goto fail;
	}
	wslay_event_config_set_max_recv_msg_length(c->ev, c->max_message);
	url_free(&u);
	return c;
fail:
	url_free(&u);
	ws_close(c);
	return NULL;
}

int ws_recv(ws_conn *c, buf_t *msg, int *binary, int timeout_ms, char **err)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		if (c->head) {
			ws_msg *m = c->head;
			c->head = m->next;
			if (!c->head)
				c->tail = NULL;
			buf_reset(msg);
			int rc = buf_append(msg, m->data, m->len);
			if (binary)
				*binary = m->binary;
			free(m);
			return rc < 0 ? buf_error(err, "out of memory") : 1;
		}
		if (c->failed)
			return failed_error(c, err);
		pump(c);
		if (c->head || c->failed)
			continue;
		int w = wait_fd(c, wanted_events(c), deadline, err);
		if (w < 0)
			return -1;
		if (w == 0)
			return 0;
	}
}

int ws_send_text(ws_conn *c, const char *text, size_t len, char **err)
{
	if (c->failed)
		return failed_error(c, err);
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
	if (wslay_event_queue_msg(c->ev, &m) != 0)
		return buf_error(err, "%s: cannot send: the connection is closing", c->where);
	long long deadline = now_ms() + c->timeout_ms;
	while (wslay_event_want_write(c->ev)) {
		if (wslay_event_send(c->ev) != 0) {
			fail(c, c->io_error ? c->io_error : "send failed");
			return failed_error(c, err);
		}
		if (!wslay_event_want_write(c->ev))
			break;
		int w = wait_fd(c, POLLOUT, deadline, err);
		if (w < 0)
			return -1;
		if (w == 0)
			return buf_error(err, "%s: timed out sending a message", c->where);
	}
	return 0;
}

void ws_close(ws_conn *c)
{
	if (!c)
		return;
	if (c->ev && !c->failed) {
		/* The close handshake: our 1000, then read (dropping messages) until the server's close. */
		c->discard = 1;
		wslay_event_queue_close(c->ev, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
		long long deadline = now_ms() + WS_CLOSE_WAIT_MS;
		while (!c->failed) {
			while (c->head) {
				ws_msg *m = c->head;
				c->head = m->next;
				free(m);
			}
			c->tail = NULL;
			pump(c);
			if (c->failed || wait_fd(c, wanted_events(c), deadline, NULL) != 1)
				break;
		}
	}
	if (c->ssl) {
		if (c->ev && wslay_event_get_close_received(c->ev))
			SSL_shutdown(c->ssl); /* one non-blocking try at close_notify; the socket closes anyway */
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ssl_ctx);
	BIO_meth_free(c->bio_method);
	if (c->ev)
		wslay_event_context_free(c->ev);
	if (c->fd >= 0)
		close(c->fd);
	while (c->head) {
		ws_msg *m = c->head;
		c->head = m->next;
		free(m);
	}
	free(c->pending);
	free(c->where);
	free(c->io_error);
	free(c->error);
	free(c->close_reason);
	free(c);
}
