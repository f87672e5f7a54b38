/* test_ws.c - lib/ws against a scripted WebSocket server on loopback (a thread writing raw frames):
 * the upgrade request and its checks, text/binary/fragmented/large messages, pings, masking, the
 * close handshake both ways, the message size limit, protocol errors, timeouts, URL errors.
 * (TLS and a real server are covered by tests/integration/ws.sh.) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "encoding.h"
#include "tap.h"
#include "ws.h"

/* ---- the scripted server: one connection per scenario ---- */

typedef struct srv srv;
struct srv {
	int lfd, port;
	pthread_t thread;
	void (*script)(srv *s, int fd);
	char head[4096]; /* the client's request head */
	char key[64];
	/* what the script saw from the client */
	int frames, all_masked, pong_ok, close_code, text_ok;
	char text[256];
};

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static int read_exact(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 3000) != 1)
			return -1;
		ssize_t r = recv(fd, c, n, 0);
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read the request head and its Sec-WebSocket-Key. */
static int read_head(srv *s, int fd)
{
	size_t n = 0;
	while (n < sizeof s->head - 1) {
		if (read_exact(fd, s->head + n, 1) < 0)
			return -1;
		n++;
		s->head[n] = '\0';
		if (n >= 4 && !memcmp(s->head + n - 4, "\r\n\r\n", 4))
			break;
	}
	const char *k = strcasestr(s->head, "\r\nSec-WebSocket-Key: ");
	if (!k)
		return -1;
	k += 21;
	size_t kl = strcspn(k, "\r");
	if (kl >= sizeof s->key)
		return -1;
	memcpy(s->key, k, kl);
	s->key[kl] = '\0';
	return 0;
}

static char *accept_of(const char *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char in[128];
	snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	EVP_Digest(in, strlen(in), md, &len, EVP_sha1(), NULL);
	return enc_b64_encode(md, len);
}

/* The 101 response, with extra header lines (may be ""), accept replaced when not NULL. */
static void send_101(srv *s, int fd, const char *accept, const char *extra)
{
	char *a = accept_of(s->key), resp[1024];
	int n = snprintf(resp, sizeof resp,
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n%s\r\n",
			 accept ? accept : a, extra);
	write_all(fd, resp, (size_t)n);
	free(a);
}

/* One server frame (unmasked unless mask). */
static void frame(int fd, int fin, int opcode, const void *data, size_t len, int mask)
{
	unsigned char h[14];
	size_t hl = 2;
	h[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	if (mask) {
		h[1] |= 0x80;
		memset(h + hl, 0, 4); /* a zero mask: the payload reads the same */
		hl += 4;
	}
	write_all(fd, h, hl);
	write_all(fd, data, len);
}

static void close_frame(int fd, int code, const char *reason)
{
	unsigned char p[128] = {(unsigned char)(code >> 8), (unsigned char)code};
	size_t rl = strlen(reason);
	memcpy(p + 2, reason, rl);
	frame(fd, 1, 8, p, 2 + rl, 0);
}

/* Read one client frame: its opcode and unmasked payload (up to cap bytes); -1 at the end. */
static int read_frame(srv *s, int fd, unsigned char *payload, size_t cap, size_t *len)
{
	unsigned char h[2], ext[8], mask[4] = {0};
	if (read_exact(fd, h, 2) < 0)
		return -1;
	uint64_t n = h[1] & 0x7f;
	if (n == 126 || n == 127) {
		size_t el = n == 126 ? 2 : 8;
		if (read_exact(fd, ext, el) < 0)
			return -1;
		n = 0;
		for (size_t i = 0; i < el; i++)
			n = n << 8 | ext[i];
	}
	int masked = (h[1] & 0x80) != 0;
	if (masked && read_exact(fd, mask, 4) < 0)
		return -1;
	if (n > cap || read_exact(fd, payload, (size_t)n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		payload[i] ^= mask[i % 4];
	s->frames++;
	if (!masked)
		s->all_masked = 0;
	*len = (size_t)n;
	return h[0] & 0x0f;
}

/* Read client frames until its close; record pongs of "p1", the text, the close code. */
static void read_until_close(srv *s, int fd)
{
	unsigned char p[256];
	size_t n;
	int op;
	while ((op = read_frame(s, fd, p, sizeof p - 1, &n)) >= 0) {
		p[n] = '\0';
		if (op == 0xa && n == 2 && !memcmp(p, "p1", 2))
			s->pong_ok = 1;
		if (op == 1) {
			s->text_ok = 1;
			snprintf(s->text, sizeof s->text, "%s", (char *)p);
		}
		if (op == 8) {
			s->close_code = n >= 2 ? p[0] << 8 | p[1] : 0;
			return;
		}
	}
}

static void *srv_main(void *arg)
{
	srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd >= 0) {
		if (read_head(s, fd) == 0)
			s->script(s, fd);
		close(fd);
	}
	return NULL;
}

static srv *srv_start(void (*script)(srv *, int))
{
	srv *s = calloc(1, sizeof *s);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	s->script = script;
	s->all_masked = 1;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 4) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0)
		abort();
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thread, NULL, srv_main, s);
	return s;
}

static void srv_stop(srv *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
	free(s);
}

static char *url_of(const srv *s, const char *path)
{
	return buf_strf("ws://127.0.0.1:%d%s", s->port, path);
}

/* ---- scenarios ---- */

static void script_messages(srv *s, int fd)
{
	/* The 101 and the first frame in one write: bytes after the headers must not be lost. */
	char *a = accept_of(s->key), resp[512];
	int n = snprintf(resp, sizeof resp,
			 "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n\r\n\x81\x05hello",
			 a);
	free(a);
	write_all(fd, resp, (size_t)n);
	frame(fd, 1, 2, "\x00\x01\x02", 3, 0);
	frame(fd, 0, 1, "frag", 4, 0);
	frame(fd, 1, 9, "p1", 2, 0); /* a ping between fragments */
	frame(fd, 0, 0, "men", 3, 0);
	frame(fd, 1, 0, "ted", 3, 0);
	size_t big = 70000; /* a 64-bit length */
	char *b = malloc(big);
	for (size_t i = 0; i < big; i++)
		b[i] = (char)('a' + i % 26);
	frame(fd, 1, 2, b, big, 0);
	free(b);
	frame(fd, 1, 1, "", 0, 0);
	unsigned char p[256];
	size_t len;
	/* the pong, before closing */
	for (int i = 0; i < 2 && !s->pong_ok; i++)
		if (read_frame(s, fd, p, sizeof p, &len) == 0xa && len == 2 && !memcmp(p, "p1", 2))
			s->pong_ok = 1;
	close_frame(fd, 1000, "bye");
	read_until_close(s, fd);
}

static void script_bad_accept(srv *s, int fd)
{
	send_101(s, fd, "dGhlIHNhbXBsZSBub25jZQ==", "");
}

static void script_http_200(srv *s, int fd)
{
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	write_all(fd, r, strlen(r));
}

static void script_no_upgrade_header(srv *s, int fd)
{
	char *a = accept_of(s->key), resp[512];
	int n = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: %s\r\n\r\n", a);
	free(a);
	write_all(fd, resp, (size_t)n);
}

static void script_extension(srv *s, int fd)
{
	send_101(s, fd, NULL, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
}

static void script_too_big(srv *s, int fd)
{
	send_101(s, fd, NULL, "");
	char b[2000];
	memset(b, 'x', sizeof b);
	frame(fd, 1, 1, b, sizeof b, 0);
	read_until_close(s, fd);
}

static void script_bad_utf8(srv *s, int fd)
{
	send_101(s, fd, NULL, "");
	frame(fd, 1, 1, "\xff\xfe", 2, 0);
	read_until_close(s, fd);
}

static void script_masked_by_server(srv *s, int fd)
{
	send_101(s, fd, NULL, "");
	frame(fd, 1, 1, "hi", 2, 1);
	read_until_close(s, fd);
}

static void script_eof(srv *s, int fd)
{
	send_101(s, fd, NULL, "");
	frame(fd, 1, 1, "last", 4, 0);
}

static void script_slow(srv *s, int fd)
{
	send_101(s, fd, NULL, "");
	usleep(400 * 1000);
	frame(fd, 1, 1, "late", 4, 0);
	read_until_close(s, fd);
	if (s->close_code)
		close_frame(fd, s->close_code, "");
}

static void script_client_talks(srv *s, int fd)
{
	send_101(s, fd, NULL, "");
	read_until_close(s, fd);
	close_frame(fd, 1000, "");
}

static void script_silent(srv *s, int fd)
{
	(void)s;
	usleep(700 * 1000);
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to a scenario expected to fail; the error message (caller frees). */
static char *connect_error(void (*script)(srv *, int), const ws_options *o)
{
	srv *s = srv_start(script);
	char *url = url_of(s, "/"), *err = NULL;
	ws_conn *c = ws_connect(url, o, &err);
	ws_close(c);
	srv_stop(s);
	free(url);
	return c ? NULL : err;
}

/* Connect, then the first ws_recv result and its error (caller frees). */
static int first_recv(void (*script)(srv *, int), const ws_options *o, srv **out, char **err)
{
	srv *s = srv_start(script);
	char *url = url_of(s, "/");
	buf_t m = BUF_INIT;
	int r = -2;
	ws_conn *c = ws_connect(url, o, err);
	if (c)
		r = ws_recv(c, &m, NULL, 3000, err);
	while (r == 1)
		r = ws_recv(c, &m, NULL, 3000, err);
	ws_close(c);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	*out = s; /* the caller reads what the script saw, then frees it */
	buf_free(&m);
	free(url);
	return r;
}

int main(void)
{
	char *err = NULL;
	buf_t m = BUF_INIT;
	int binary = -1;

	/* messages of every shape, a ping answered, the server's close */
	srv *s = srv_start(script_messages);
	char *url = buf_strf("ws://127.0.0.1:%d/subscribe?wantedCollections=io.atcr.*", s->port);
	ws_options o = {.user_agent = "test-agent/1"};
	ws_conn *c = ws_connect(url, &o, &err);
	ok(c != NULL, "connect: %s", err ? err : "ok");
	ok(!strncmp(s->head, "GET /subscribe?wantedCollections=io.atcr.* HTTP/1.1\r\n", 52), "request line keeps path and query");
	char host[64];
	snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", s->port);
	ok(strstr(s->head, host) != NULL, "Host header with the port");
	ok(strstr(s->head, "\r\nSec-WebSocket-Version: 13\r\n") && strstr(s->head, "\r\nUpgrade: websocket\r\n") &&
		   strstr(s->head, "\r\nConnection: Upgrade\r\n"),
	   "upgrade headers");
	ok(strstr(s->head, "\r\nUser-Agent: test-agent/1\r\n") != NULL, "the user agent");
	unsigned char *nonce = NULL;
	size_t nonce_len = 0;
	ok(enc_b64_decode(s->key, strlen(s->key), &nonce, &nonce_len) == 0 && nonce_len == 16,
	   "Sec-WebSocket-Key is 16 random bytes in base64");
	free(nonce);
	if (c) {
		is_int(ws_recv(c, &m, &binary, 3000, &err), 1, "a text message sent with the 101");
		ok(m.len == 5 && !memcmp(m.data, "hello", 5) && binary == 0, "... is hello, text");
		is_int(ws_recv(c, &m, &binary, 3000, &err), 1, "a binary message");
		ok(m.len == 3 && !memcmp(m.data, "\x00\x01\x02", 3) && binary == 1, "... its bytes, binary");
		is_int(ws_recv(c, &m, &binary, 3000, &err), 1, "a fragmented message (a ping between fragments)");
		is_str(m.data, "fragmented", "... reassembled");
		is_int(ws_recv(c, &m, &binary, 3000, &err), 1, "a 70000-byte message");
		int same = m.len == 70000;
		for (size_t i = 0; same && i < m.len; i++)
			same = m.data[i] == (char)('a' + i % 26);
		ok(same && m.data[m.len] == '\0', "... whole and NUL-terminated");
		is_int(ws_recv(c, &m, &binary, 3000, &err), 1, "an empty text message");
		ok(m.len == 0 && binary == 0, "... is empty");
		is_int(ws_recv(c, &m, &binary, 3000, &err), -1, "the server's close ends the stream");
		ok(err && strstr(err, "the server closed the connection (status 1000: bye)"), "... with its code and reason: %s",
		   err ? err : "");
		is_int(ws_recv(c, &m, &binary, 10, &err), -1, "ws_recv after the close stays -1");
	}
	ws_close(c);
	pthread_join(s->thread, NULL);
	ok(s->pong_ok, "the ping was answered with a pong carrying its payload");
	is_int(s->close_code, 1000, "the close was echoed with 1000");
	ok(s->frames >= 2 && s->all_masked, "every client frame was masked (%d frames)", s->frames);
	close(s->lfd);
	free(s);
	free(url);

	/* handshake failures */
	free(err);
	err = connect_error(script_bad_accept, NULL);
	ok(err && strstr(err, "Sec-WebSocket-Accept"), "a wrong Sec-WebSocket-Accept is refused: %s", err ? err : "");
	free(err);
	err = connect_error(script_http_200, NULL);
	ok(err && strstr(err, "answered HTTP 200 OK instead of switching to WebSocket"), "HTTP 200: %s", err ? err : "");
	free(err);
	err = connect_error(script_no_upgrade_header, NULL);
	ok(err && strstr(err, "Upgrade: websocket"), "a 101 without Upgrade is refused: %s", err ? err : "");
	free(err);
	err = connect_error(script_extension, NULL);
	ok(err && strstr(err, "Sec-WebSocket-Extensions, which we did not offer"), "an extension we did not offer: %s", err ? err : "");
	free(err);
	o = (ws_options){.timeout_ms = 200};
	err = NULL;
	s = srv_start(script_silent);
	url = url_of(s, "/");
	long long t0 = ms_now();
	c = ws_connect(url, &o, &err);
	long long took = ms_now() - t0;
	ok(!c && err && strstr(err, "timed out waiting for the upgrade response") && took >= 190 && took < 650,
	   "a silent server times out after timeout_ms (%lld ms): %s", took, err ? err : "");
	srv_stop(s);
	free(url);
	free(err);
	err = NULL;

	/* failures after the upgrade */
	o = (ws_options){.max_message = 1000};
	int r = first_recv(script_too_big, &o, &s, &err);
	ok(r == -1 && err && strstr(err, "exceeded the limit of 1000 bytes"), "a message over max_message: %s",
	   err ? err : "");
	is_int(s->close_code, 1009, "... closed with 1009");
	free(s);
	free(err);
	err = NULL;
	r = first_recv(script_bad_utf8, NULL, &s, &err);
	ok(r == -1 && err && strstr(err, "not UTF-8"),
	   "a text message that is not UTF-8: %s", err ? err : "");
	is_int(s->close_code, 1007, "... closed with 1007");
	free(s);
	free(err);
	err = NULL;
	r = first_recv(script_masked_by_server, NULL, &s, &err);
	ok(r == -1 && err && strstr(err, "protocol error"),
	   "a masked server frame is a protocol error: %s", err ? err : "");
	is_int(s->close_code, 1002, "... closed with 1002");
	free(s);
	free(err);
	err = NULL;
	r = first_recv(script_eof, NULL, &s, &err);
	ok(r == -1 && err && strstr(err, "without a WebSocket close"),
	   "a TCP close without a close frame (after the last message): %s", err ? err : "");
	free(s);
	free(err);
	err = NULL;

	/* waiting, sending, closing from our side */
	s = srv_start(script_slow);
	url = url_of(s, "");
	c = ws_connect(url, NULL, &err);
	ok(c != NULL, "connect to a URL without a path: %s", err ? err : "ok");
	ok(!strncmp(s->head, "GET / HTTP/1.1\r\n", 16), "... requests /");
	if (c) {
		t0 = ms_now();
		r = ws_recv(c, &m, NULL, 100, &err);
		took = ms_now() - t0;
		ok(r == 0 && took >= 90 && took < 390, "ws_recv times out after 100 ms (%lld ms)", took);
		is_int(ws_recv(c, &m, NULL, 3000, &err), 1, "... and the connection stays usable");
		is_str(m.data, "late", "... the late message");
	}
	t0 = ms_now();
	ws_close(c);
	took = ms_now() - t0;
	pthread_join(s->thread, NULL);
	is_int(s->close_code, 1000, "ws_close sends close 1000");
	ok(took < 900, "... and returns once the server answers (%lld ms)", took);
	close(s->lfd);
	free(s);
	free(url);

	s = srv_start(script_client_talks);
	url = url_of(s, "/x");
	c = ws_connect(url, NULL, &err);
	ok(c && ws_send_text(c, "{\"type\":\"options_update\"}", 25, &err) == 0, "ws_send_text: %s", err ? err : "ok");
	ws_close(c);
	pthread_join(s->thread, NULL);
	ok(s->text_ok && !strcmp(s->text, "{\"type\":\"options_update\"}") && s->all_masked,
	   "the server got the text, masked");
	close(s->lfd);
	free(s);
	free(url);

	/* URLs */
	static const struct {
		const char *url, *want;
	} bad[] = {
		{"http://127.0.0.1/", "not a ws:// or wss:// URL"},
		{"ws://", "no host"},
		{"ws://127.0.0.1:0/", "bad port"},
		{"ws://127.0.0.1:99999/", "bad port"},
		{"ws://127.0.0.1:12a/", "bad port"},
		{"ws://[::1/", "unterminated [IPv6] host"},
		{"ws://[::1]x/", "junk after the [IPv6] host"},
		{"ws://a b/", "spaces or control characters"},
		{"ws://h/\tx", "spaces or control characters"},
		{"ws://user@h/", "user names"},
		{"ws://h/p#frag", "no fragment"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(err);
		err = NULL;
		c = ws_connect(bad[i].url, NULL, &err);
		ok(!c && err && strstr(err, bad[i].want), "%s refused: %s", bad[i].url, err ? err : "(accepted)");
		ws_close(c);
	}
	free(err);
	err = NULL;
	c = ws_connect("ws://h/\r\nX-Injected: 1", NULL, &err);
	ok(!c && err && !strpbrk(err, "\r\n"), "a URL with CRLF is refused without echoing it: %s", err ? err : "");
	free(err);
	err = NULL;
	o = (ws_options){.user_agent = "a\r\nX-Injected: 1"};
	s = srv_start(script_silent);
	url = url_of(s, "/");
	c = ws_connect(url, &o, &err);
	ok(!c && err && strstr(err, "line breaks"), "a user agent with CRLF is refused: %s", err ? err : "");
	ws_close(c);
	srv_stop(s);
	free(url);
	free(err);
	buf_free(&m);
	return tap_done();
}
