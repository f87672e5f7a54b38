/* fcgi.h - the FastCGI request/response layer: route table, request parsing, responses, thread pool.
 * Pure parts (routing, query, headers, request ids) work on strings; I/O goes through fcgi_io so tests need no socket. */
#ifndef ATCR_FCGI_H
#define ATCR_FCGI_H
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct json_object;

/* ---- routes */

/* Method bits for the route table. FCGI_GET also answers HEAD (the layer suppresses the body). */
enum {
	FCGI_GET = 1u << 0,
	FCGI_HEAD = 1u << 1,
	FCGI_POST = 1u << 2,
	FCGI_PUT = 1u << 3,
	FCGI_PATCH = 1u << 4,
	FCGI_DELETE = 1u << 5,
	FCGI_OPTIONS = 1u << 6,
	FCGI_ANY = (1u << 7) - 1,
};

typedef struct fcgi_req fcgi_req;

/* A handler answers through the response API and returns 0, or -1 for an internal error
 * (the layer answers 500 if nothing was sent yet). Returning 0 without sending flushes
 * the status and headers set so far with an empty body. */
typedef int (*fcgi_handler)(fcgi_req *r);

/* One route: pattern is exact ("/v2/") or a prefix ending in '*' (e.g. "/v2/" + '*': one or
 * more further characters, given to the handler as r->rest). First match with the method wins. */
typedef struct {
	unsigned methods;
	const char *pattern;
	fcgi_handler handler;
} fcgi_route;

/* The method's bit, or 0 for a method no route can have. */
unsigned fcgi_method_bit(const char *method);

/* Find the route for method+path in a table ended by {0}. Returns 200 (*out set, *rest set to the
 * part matched by '*', "" for exact), 404 (no pattern matches), or 405 (allow filled with
 * "GET, HEAD, ..." for the Allow header). */
int fcgi_route_find(const fcgi_route *routes, const char *method, const char *path,
		    const fcgi_route **out, const char **rest, char *allow, size_t allow_size);

/* ---- pure request helpers */

/* Percent-decode len bytes of s ('+' becomes a space when plus_is_space). Returns a malloc'd
 * string (caller frees) or NULL for a malformed escape ("%zz", "%4", "%00"). */
char *fcgi_url_decode(const char *s, size_t len, int plus_is_space);

/* Iterates name=value pairs of a query string; empty pairs are skipped. */
typedef struct {
	const char *next;
} fcgi_query_iter;
void fcgi_query_iter_init(fcgi_query_iter *it, const char *query);
/* Next pair, both decoded and malloc'd (caller frees both; a bare "name" gives value "").
 * Returns 1, 0 at the end, or -1 for a malformed pair (skipped; iteration may go on). */
int fcgi_query_next(fcgi_query_iter *it, char **name, char **value);
/* First value of name in query: 1 (*value malloc'd, caller frees), 0 absent, -1 malformed. */
int fcgi_query_find(const char *query, const char *name, char **value);
/* 1 when every escape in the query string is well-formed, else 0. */
int fcgi_query_wellformed(const char *query);

/* CGI variable name for an HTTP header name: "Content-Type" -> CONTENT_TYPE, "Content-Length" ->
 * CONTENT_LENGTH, "X-Foo" -> HTTP_X_FOO. Returns 0, or -1 for an empty/invalid/too long name. */
int fcgi_header_env_name(const char *http_name, char *out, size_t size);

/* Split a header value the server folded from repeated lines ("a, b") into trimmed elements,
 * keeping commas inside double quotes. Returns a NULL-terminated malloc'd vector (empty for a
 * NULL value; free with fcgi_strv_free), NULL when out of memory. *count gets the length if non-NULL. */
char **fcgi_header_split(const char *value, size_t *count);
void fcgi_strv_free(char **v);

/* 1 when a client-supplied X-Request-Id is safe to log and echo: 1..64 of [A-Za-z0-9._-]. */
int fcgi_request_id_sane(const char *id);
/* A fresh random request id: 32 hex characters into out (size >= 33). */
void fcgi_request_id_new(char *out, size_t size);

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes we never send. */
const char *fcgi_status_text(int status);

/* ---- request */

/* Where a request's bytes come from and go to: libfcgi in production, memory in tests. */
typedef struct {
	/* Bytes read (0 at the end of input), or -1 on error. */
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	/* 0, or -1 when the client went away. */
	int (*write)(void *ctx, const void *data, size_t n);
	/* A CGI variable, or NULL. */
	const char *(*param)(void *ctx, const char *name);
} fcgi_io;

struct fcgi_req {
	/* Read-only for handlers. */
	const char *method;  /* "GET" ... */
	const char *uri;     /* raw REQUEST_URI */
	char *path;          /* raw (undecoded) path part of uri */
	char *query;         /* raw query string after '?', "" when none */
	const char *rest;    /* the part of path matched by a route's '*' */
	char request_id[65];
	void *app;           /* the program's shared context (config etc.) */

	/* Layer-private. */
	const fcgi_io *io;
	void *io_ctx;
	const char *bad_request; /* why the request cannot be routed, or NULL */
	int bad_status;          /* 400, or 500 when out of memory */
	int head;                /* HEAD: body writes are dropped */
	long long body_left;     /* bytes of request body still to read, -1 = read to end of input */
	int status;
	buf_t headers;
	int headers_sent;
	int broken;              /* a write failed: the client is gone */
	long long bytes_out;
};

/* Set up r from the I/O's CGI variables (no allocation failure is fatal: problems are reported
 * by fcgi_dispatch as 400). Release with fcgi_req_release. */
void fcgi_req_init(fcgi_req *r, const fcgi_io *io, void *io_ctx, void *app);
void fcgi_req_release(fcgi_req *r);

/* A CGI variable ("REMOTE_ADDR"), or NULL. */
const char *fcgi_param(const fcgi_req *r, const char *cgi_name);
/* A request header by HTTP name ("Authorization"), or NULL. */
const char *fcgi_header(const fcgi_req *r, const char *http_name);
/* First decoded value of a query parameter, malloc'd (caller frees); NULL when absent or malformed. */
char *fcgi_query_get(const fcgi_req *r, const char *name);

/* Read up to n body bytes: the count, 0 at the end of the body, -1 on error (client gone,
 * short body). Honours CONTENT_LENGTH; without it reads to the end of FastCGI stdin. */
ssize_t fcgi_read(fcgi_req *r, void *buf, size_t n);
/* Append the whole body to out (max bounds out's total length). Returns 0; -1 when it would
 * exceed max (caller answers 413);
 * -2 on a read error (client gone). */
int fcgi_read_body(fcgi_req *r, buf_t *out, size_t max);

/* ---- response: status and headers are collected until the first body byte */

void fcgi_set_status(fcgi_req *r, int status);
/* Add a header (repeatable). Returns 0, or -1 when headers were already sent or the value
 * holds CR/LF (header injection). */
int fcgi_add_header(fcgi_req *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Stream body bytes; the first call sends status and headers (no Content-Length is invented).
 * For HEAD the bytes are dropped. Returns 0, or -1 when the client is gone. */
int fcgi_write(fcgi_req *r, const void *data, size_t len);
/* A whole response with an exact Content-Length. content_type may be NULL when the handler
 * added its own Content-Type header. Returns 0, or -1 (headers already sent, client gone). */
int fcgi_send(fcgi_req *r, int status, const char *content_type, const void *body, size_t len);
/* obj serialised compactly as application/json (obj is not consumed). */
int fcgi_send_json(fcgi_req *r, int status, struct json_object *obj);
/* A ready-made JSON error body. */
int fcgi_send_error_json(fcgi_req *r, int status, const char *json);
/* Let the web server send the file (X-Sendfile; the path must lie under its x-sendfile docroot).
 * Status and the caller's Content-Type/ETag headers go as set. */
int fcgi_sendfile(fcgi_req *r, const char *path);
/* 1 once status and headers have gone out. */
int fcgi_responded(const fcgi_req *r);

/* ---- a program */

typedef struct {
	const fcgi_route *routes; /* ended by {0} */
	/* Renders the layer's own 400/404/405/413/500 answers (405 has Allow set already);
	 * NULL = {"error":"<Reason>","message":"..."}. */
	void (*error)(fcgi_req *r, int status, const char *message);
	void *app; /* copied to each request's r->app */
} fcgi_program;

/* Route and answer one request: request id, routing, handler, 500 fallback, one log line.
 * Returns the status sent. */
int fcgi_dispatch(fcgi_req *r, const fcgi_program *prog);

/* The generic error body, for error hooks that only want to handle some paths. */
void fcgi_default_error(fcgi_req *r, int status, const char *message);

/* Serve FastCGI until SIGTERM/SIGINT with `threads` worker threads. listen "" = the socket on
 * fd 0 (lighttpd bin-path, spawn-fcgi); else "127.0.0.1:9000", ":9000" or a unix socket path.
 * SIGHUP reopens the log. On SIGTERM/SIGINT accepting stops, in-flight requests finish, and it
 * returns 0. Returns -1 with *err (caller frees) when it cannot start. */
int fcgi_serve(const fcgi_program *prog, const char *listen, int threads, char **err);

#endif
