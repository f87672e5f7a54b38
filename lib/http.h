/* http.h - outbound HTTP client over libcurl: timeouts, size limits, connection reuse, SSRF guard. */
#ifndef ATCR_HTTP_H
#define ATCR_HTTP_H
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"

typedef struct {
	long timeout_s;          /* total; 0 = 30 */
	long connect_timeout_s;  /* 0 = 10 */
	size_t max_response;     /* body bytes; 0 = unlimited; exceeding it aborts with an error */
	int allow_private;       /* 1 only in test mode: allows loopback/private addresses and plain http */
} http_opts;

typedef struct {
	const char *method;                 /* NULL = "GET" (or "POST" when a body is given) */
	const char *url;
	const char *const *headers;         /* NULL-terminated "Name: value" list, may be NULL */
	const void *body; size_t body_len;  /* request body from memory, or: */
	size_t (*read_cb)(void *dst, size_t n, void *ctx); void *read_ctx; long long read_len; /* streamed; read_len -1 = chunked */
	int follow_redirects;               /* 0 by default; when set, max 5 and each hop passes the SSRF guard */
} http_request;

typedef struct {
	long status;          /* HTTP status, 0 when no response */
	buf_t body;           /* response body (lib/buf.h) */
	char **headers;       /* "Name: value" lines of the final response, nheaders of them */
	size_t nheaders;
	char *error;          /* malloc'd message on transport failure, NULL otherwise */
} http_response;

/* Once per process (idempotent, thread-safe via pthread_once); http_do calls it too. */
void http_global_init(void);

/* Perform a request. 0 when an HTTP response arrived (any status); -1 on transport failure, refusal by
 * the SSRF guard, a non-http(s) URL, plain http without allow_private, timeout, or a body over max_response,
 * with resp->error set. resp must be zeroed ({0}) by the caller; always free it with http_response_free.
 * read_cb returns the bytes it wrote into dst, 0 at the end, or (size_t)-1 to abort the request.
 * Each thread reuses its own connection cache, so sequential requests to one host share a connection. */
int http_do(const http_opts *o, const http_request *req, http_response *resp);

/* Frees the calling thread's cached handles and closes their connections now rather than at thread
 * exit; for the main thread, which never runs the exit destructor. */
void http_thread_cleanup(void);

/* Case-insensitive, last occurrence, value only (trimmed); NULL if absent. Valid until the response is freed. */
const char *http_response_header(const http_response *r, const char *name);

/* Frees body, headers and error, and zeroes r so it may be reused. */
void http_response_free(http_response *r);

/* 1 when the address may be contacted outside test mode (public unicast); 0 for loopback, private (10/8,
 * 172.16/12, 192.168/16), link-local, CGNAT 100.64/10, multicast, unspecified, broadcast, 0/8, 192.0.0/24,
 * benchmarking 198.18/15, documentation ranges, IPv6 ::1, ::, fc00::/7, fe80::/10, ff00::/8, and v4-mapped
 * (::ffff:a.b.c.d) / NAT64 forms of the private IPv4 ranges. */
int http_addr_is_public(const struct sockaddr *sa);

#endif
