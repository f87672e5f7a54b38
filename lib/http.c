/* http.c - outbound HTTP client over libcurl.
 *
 * Every connection is checked at socket-open time (CURLOPT_OPENSOCKETFUNCTION), on the address curl
 * actually connects to, so neither DNS rebinding nor a redirect can reach a private network. Each
 * thread keeps its own easy handles (one per allow_private setting, so a connection opened in test
 * mode is never reused by a guarded request); curl keeps their connections alive between requests. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif
#define HTTP_MAX_REDIRECTS 5
#define HTTP_MAX_HEADER_BYTES (256 * 1024) /* all header lines of one response */

/* ---- the address classifier */

static int v4_is_public(uint32_t a) /* a in host byte order */
{
	static const struct {
		uint32_t net;
		int bits;
	} blocked[] = {
		{0x00000000, 8},  /* 0/8 "this network" */
		{0x0a000000, 8},  /* 10/8 private */
		{0x64400000, 10}, /* 100.64/10 CGNAT */
		{0x7f000000, 8},  /* 127/8 loopback */
		{0xa9fe0000, 16}, /* 169.254/16 link-local */
		{0xac100000, 12}, /* 172.16/12 private */
		{0xc0000000, 24}, /* 192.0.0/24 IETF protocol assignments */
		{0xc0000200, 24}, /* 192.0.2/24 TEST-NET-1 */
		{0xc0586300, 24}, /* 192.88.99/24 6to4 relay anycast (deprecated) */
		{0xc0a80000, 16}, /* 192.168/16 private */
		{0xc6120000, 15}, /* 198.18/15 benchmarking */
		{0xc6336400, 24}, /* 198.51.100/24 TEST-NET-2 */
		{0xcb007100, 24}, /* 203.0.113/24 TEST-NET-3 */
		{0xe0000000, 4},  /* 224/4 multicast */
		{0xf0000000, 4},  /* 240/4 reserved, including 255.255.255.255 broadcast */
	};
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		uint32_t mask = 0xffffffffu << (32 - blocked[i].bits);
		if ((a & mask) == blocked[i].net)
			return 0;
	}
	return 1;
}

static uint32_t v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* 1 when the first bits of a match prefix. */
static int v6_in(const unsigned char *a, const unsigned char *prefix, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, prefix, (size_t)full) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (prefix[full] & mask);
}

static int v6_is_public(const unsigned char *a)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	static const unsigned char sixto4[2] = {0x20, 0x02};
	static const struct {
		unsigned char p[16];
		int bits;
	} blocked[] = {
		{{0x20, 0x01, 0x00, 0x00}, 32},             /* Teredo: hides an arbitrary IPv4 peer */
		{{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48}, /* benchmarking */
		{{0x20, 0x01, 0x00, 0x10}, 28},             /* ORCHID */
		{{0x20, 0x01, 0x00, 0x20}, 28},             /* ORCHIDv2 */
		{{0x20, 0x01, 0x0d, 0xb8}, 32},             /* documentation */
		{{0x3f, 0xff, 0x00}, 20},                   /* documentation (RFC 9637) */
	};
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_is_public(v4_at(a + 12));
	if (memcmp(a, sixto4, 2) == 0)
		return v4_is_public(v4_at(a + 2));
	/* Only 2000::/3 is global unicast; this also rules out ::, ::1, fc00::/7, fe80::/10, ff00::/8,
	 * the deprecated site-local and IPv4-compatible forms, and the local-use NAT64 prefix. */
	if ((a[0] & 0xe0) != 0x20)
		return 0;
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
		if (v6_in(a, blocked[i].p, blocked[i].bits))
			return 0;
	return 1;
}

int http_addr_is_public(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return v4_is_public(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return v6_is_public(in6->sin6_addr.s6_addr);
	}
	return 0;
}

/* ---- per-process and per-thread state */

struct thread_handles {
	CURL *easy[2]; /* indexed by allow_private */
	int busy;      /* set while a request runs, so a re-entrant call gets a handle of its own */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t handles_key;

static void handles_destroy(void *p)
{
	struct thread_handles *t = p;
	if (!t)
		return;
	for (int i = 0; i < 2; i++)
		if (t->easy[i])
			curl_easy_cleanup(t->easy[i]);
	free(t);
}

static void global_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_key_create(&handles_key, handles_destroy);
}

void http_global_init(void)
{
	pthread_once(&init_once, global_init_once);
}

void http_thread_cleanup(void)
{
	http_global_init();
	struct thread_handles *t = pthread_getspecific(handles_key);
	if (t && !t->busy) {
		pthread_setspecific(handles_key, NULL);
		handles_destroy(t);
	}
}

static struct thread_handles *thread_handles(void)
{
	struct thread_handles *t = pthread_getspecific(handles_key);
	if (!t) {
		t = calloc(1, sizeof *t);
		if (t && pthread_setspecific(handles_key, t) != 0) {
			free(t);
			t = NULL;
		}
	}
	return t;
}

/* ---- one transfer */

struct xfer {
	http_response *resp;
	const http_request *req;
	size_t max_response;
	int allow_private;
	size_t header_cap, header_bytes;
	int too_big, headers_too_big, oom, refused;
	char refused_addr[INET6_ADDRSTRLEN];
};

static void free_headers(http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userp)
{
	struct xfer *x = userp;
	http_response *r = x->resp;
	size_t total = size * nitems, len = total;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ' ||
		       data[len - 1] == '\t'))
		len--;
	/* A status line starts a new response (after a redirect or a 100 Continue): forget the last one. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		free_headers(r);
		buf_reset(&r->body);
		x->header_cap = x->header_bytes = 0;
		return total;
	}
	if (len == 0)
		return total;
	x->header_bytes += len;
	if (x->header_bytes > HTTP_MAX_HEADER_BYTES) {
		x->headers_too_big = 1;
		return 0;
	}
	if ((data[0] == ' ' || data[0] == '\t') && r->nheaders) { /* obsolete line folding */
		char **last = &r->headers[r->nheaders - 1];
		size_t old = strlen(*last);
		char *grown = realloc(*last, old + len + 1);
		if (!grown)
			goto oom;
		memcpy(grown + old, data, len);
		grown[old + len] = '\0';
		*last = grown;
		return total;
	}
	if (r->nheaders == x->header_cap) {
		size_t cap = x->header_cap ? x->header_cap * 2 : 16;
		char **v = realloc(r->headers, cap * sizeof *v);
		if (!v)
			goto oom;
		r->headers = v;
		x->header_cap = cap;
	}
	char *line = malloc(len + 1);
	if (!line)
		goto oom;
	memcpy(line, data, len);
	line[len] = '\0';
	r->headers[r->nheaders++] = line;
	return total;
oom:
	x->oom = 1;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nitems;
	if (x->max_response && (x->resp->body.len > x->max_response || n > x->max_response - x->resp->body.len)) {
		x->too_big = 1;
		return 0;
	}
	if (buf_append(&x->resp->body, data, n) < 0) {
		x->oom = 1;
		return 0;
	}
	return n;
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *userp)
{
	struct xfer *x = userp;
	size_t n = x->req->read_cb(dst, size * nitems, x->req->read_ctx);
	return n == (size_t)-1 ? CURL_READFUNC_ABORT : n;
}

static curl_socket_t on_open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = userp;
	const struct sockaddr *sa = (const struct sockaddr *)(const void *)&a->addr;
	if (!x->allow_private && !http_addr_is_public(sa)) {
		x->refused = 1;
		const void *ip = NULL;
		if (sa->sa_family == AF_INET)
			ip = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		else if (sa->sa_family == AF_INET6)
			ip = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (!ip || !inet_ntop(sa->sa_family, ip, x->refused_addr, sizeof x->refused_addr))
			snprintf(x->refused_addr, sizeof x->refused_addr, "(family %d)", sa->sa_family);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* The URL for error messages: no user:password@ and no query or fragment, which may carry secrets. */
static void redacted_url(const char *url, buf_t *out)
{
	const char *auth = strstr(url, "://");
	if (!auth) {
		buf_append(out, url, strcspn(url, "?#"));
		return;
	}
	auth += 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	buf_append(out, url, (size_t)(auth - url));
	const char *host = at ? at + 1 : auth;
	buf_append(out, host, strcspn(host, "?#"));
}

static void set_error(http_response *resp, const char *method, const char *url, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_error(http_response *resp, const char *method, const char *url, const char *fmt, ...)
{
	buf_t b = BUF_INIT;
	va_list ap;
	buf_printf(&b, "%s ", method);
	redacted_url(url ? url : "(no url)", &b);
	buf_puts(&b, ": ");
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(resp->error);
	resp->error = buf_detach(&b);
}

static int has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);
	for (; headers && *headers; headers++)
		if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
			return 1;
	return 0;
}

static int scheme_allowed(const char *url, int allow_private)
{
	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	return allow_private && strncasecmp(url, "http://", 7) == 0;
}

/* Sets every option of one request on a freshly reset handle; 0 or -1 (out of memory). */
static int setup(CURL *h, const http_opts *o, const http_request *req, const char *method, struct xfer *x,
		 struct curl_slist **hdrs, char *errbuf)
{
	const char *protocols = o->allow_private ? "http,https" : "https";
	long timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 30) * 1000L;
	long connect_ms = (o->connect_timeout_s > 0 ? o->connect_timeout_s : 10) * 1000L;
	int has_body = req->body || req->read_cb;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
#else
	long mask = o->allow_private ? (CURLPROTO_HTTP | CURLPROTO_HTTPS) : CURLPROTO_HTTPS;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, mask);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, mask);
#endif
	(void)protocols;
	/* A proxy from the environment would be the address the guard sees: never use one. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRECTS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "atcr/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	/* libcurl checks a HEAD answer's Content-Length against this too: a HEAD of a big blob has no body. */
	if (o->max_response && strcmp(method, "HEAD") != 0)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_response);

	for (const char *const *p = req->headers; p && *p; p++)
		if (!(*hdrs = curl_slist_append(*hdrs, *p)))
			return -1;
	/* Without this curl would label a body as a form (application/x-www-form-urlencoded). */
	if (has_body && !has_header(req->headers, "Content-Type") &&
	    !(*hdrs = curl_slist_append(*hdrs, "Content-Type: application/octet-stream")))
		return -1;

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (req->read_cb) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(req->read_len >= 0 ? req->read_len : -1));
		if (strcmp(method, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (*hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	return 0;
}

int http_do(const http_opts *o, const http_request *req, http_response *resp)
{
	static const http_opts defaults = {0};
	struct curl_slist *hdrs = NULL;
	struct thread_handles *t = NULL;
	CURL *h = NULL, *own = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = -1;

	http_global_init();
	if (!o)
		o = &defaults;
	if (!req || !req->url) {
		set_error(resp, "?", NULL, "no URL given");
		return -1;
	}
	const char *method = req->method ? req->method : (req->body || req->read_cb) ? "POST" : "GET";
	if (!scheme_allowed(req->url, o->allow_private)) {
		set_error(resp, method, req->url, "%s", o->allow_private ? "only http and https URLs are allowed"
									: "only https URLs are allowed");
		return -1;
	}

	t = thread_handles();
	int slot = o->allow_private ? 1 : 0;
	if (t && !t->busy) {
		if (!t->easy[slot])
			t->easy[slot] = curl_easy_init();
		h = t->easy[slot];
	} else {
		h = own = curl_easy_init(); /* re-entrant call or no thread state: a one-off handle */
		t = NULL;
	}
	if (!h) {
		set_error(resp, method, req->url, "cannot create a curl handle");
		return -1;
	}
	curl_easy_reset(h); /* forgets options, keeps live connections */

	struct xfer x = {.resp = resp, .req = req, .max_response = o->max_response,
			 .allow_private = o->allow_private};
	free_headers(resp);
	buf_reset(&resp->body);
	resp->status = 0;
	if (setup(h, o, req, method, &x, &hdrs, errbuf) != 0) {
		set_error(resp, method, req->url, "out of memory");
		goto out;
	}
	if (t)
		t->busy = 1;
	CURLcode cc = curl_easy_perform(h);
	if (t)
		t->busy = 0;
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

	if (x.refused)
		set_error(resp, method, req->url, "refused to connect to non-public address %s", x.refused_addr);
	else if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED)
		set_error(resp, method, req->url, "response body exceeds %zu bytes", o->max_response);
	else if (x.headers_too_big)
		set_error(resp, method, req->url, "response headers exceed %d bytes", HTTP_MAX_HEADER_BYTES);
	else if (x.oom)
		set_error(resp, method, req->url, "out of memory");
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		set_error(resp, method, req->url, "timed out (%s)", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else if (cc == CURLE_TOO_MANY_REDIRECTS)
		set_error(resp, method, req->url, "more than %d redirects", HTTP_MAX_REDIRECTS);
	else if (cc != CURLE_OK)
		set_error(resp, method, req->url, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else {
		resp->status = status;
		rc = 0;
	}
out:
	if (rc != 0) {
		resp->status = 0;
		free_headers(resp);
		buf_reset(&resp->body);
	}
	curl_slist_free_all(hdrs);
	if (own)
		curl_easy_cleanup(own);
	else
		curl_easy_reset(h); /* drop pointers into this call's stack */
	return rc;
}

const char *http_response_header(const http_response *r, const char *name)
{
	if (!r || !name)
		return NULL;
	size_t n = strlen(name);
	for (size_t i = r->nheaders; i-- > 0;) {
		const char *line = r->headers[i];
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

void http_response_free(http_response *r)
{
	if (!r)
		return;
	free_headers(r);
	buf_free(&r->body);
	free(r->error);
	memset(r, 0, sizeof *r);
}
