/* fcgi.c - FastCGI request/response layer over libfcgi, with a thread pool. */
#include "fcgi.h"

#include <ctype.h>
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "encoding.h"
#include "log.h"

/* ---------------------------------------------------------------- routes */

static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
	{FCGI_GET, "GET"},     {FCGI_HEAD, "HEAD"},     {FCGI_POST, "POST"},       {FCGI_PUT, "PUT"},
	{FCGI_PATCH, "PATCH"}, {FCGI_DELETE, "DELETE"}, {FCGI_OPTIONS, "OPTIONS"},
};

unsigned fcgi_method_bit(const char *method)
{
	for (size_t i = 0; method && i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(method, methods[i].name) == 0)
			return methods[i].bit;
	return 0;
}

/* The one place patterns are interpreted: grow it here when routes need more than exact/prefix. */
static int pattern_match(const char *pattern, const char *path, const char **rest)
{
	size_t n = strlen(pattern);
	if (n > 0 && pattern[n - 1] == '*') {
		n--;
		if (strncmp(pattern, path, n) != 0 || path[n] == '\0')
			return 0;
		*rest = path + n;
		return 1;
	}
	if (strcmp(pattern, path) != 0)
		return 0;
	*rest = path + strlen(path);
	return 1;
}

static void allow_list(unsigned allowed, char *out, size_t size)
{
	size_t used = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (!(allowed & methods[i].bit))
			continue;
		int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", methods[i].name);
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

int fcgi_route_find(const fcgi_route *routes, const char *method, const char *path,
		    const fcgi_route **out, const char **rest, char *allow, size_t allow_size)
{
	unsigned want = fcgi_method_bit(method), allowed = 0;
	for (const fcgi_route *rt = routes; rt->pattern; rt++) {
		const char *tail;
		if (!pattern_match(rt->pattern, path, &tail))
			continue;
		unsigned m = rt->methods | ((rt->methods & FCGI_GET) ? FCGI_HEAD : 0);
		allowed |= m;
		if (want & m) {
			*out = rt;
			*rest = tail;
			return 200;
		}
	}
	if (!allowed)
		return 404;
	allow_list(allowed, allow, allow_size);
	return 405;
}

/* ---------------------------------------------------------------- query strings */

char *fcgi_url_decode(const char *s, size_t len, int plus_is_space)
{
	char *out = malloc(len + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < len ? enc_hex_digit((unsigned char)s[i + 1]) : -1;
			int lo = hi >= 0 ? enc_hex_digit((unsigned char)s[i + 2]) : -1;
			/* %00 would cut the C string short and hide what follows from every check. */
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

void fcgi_query_iter_init(fcgi_query_iter *it, const char *query)
{
	it->next = query ? query : "";
}

int fcgi_query_next(fcgi_query_iter *it, char **name, char **value)
{
	*name = *value = NULL;
	while (*it->next == '&')
		it->next++;
	if (*it->next == '\0')
		return 0;
	const char *pair = it->next;
	size_t len = strcspn(pair, "&");
	it->next = pair + len;
	const char *eq = memchr(pair, '=', len);
	size_t name_len = eq ? (size_t)(eq - pair) : len;
	*name = fcgi_url_decode(pair, name_len, 1);
	*value = eq ? fcgi_url_decode(eq + 1, len - name_len - 1, 1) : strdup("");
	if (*name && *value)
		return 1;
	free(*name);
	free(*value);
	*name = *value = NULL;
	return -1;
}

int fcgi_query_wellformed(const char *query)
{
	for (const char *p = query; p && *p; p++) {
		if (*p != '%')
			continue;
		if (enc_hex_digit((unsigned char)p[1]) < 0 || enc_hex_digit((unsigned char)p[2]) < 0 ||
		    (p[1] == '0' && p[2] == '0'))
			return 0;
		p += 2;
	}
	return 1;
}

int fcgi_query_find(const char *query, const char *name, char **value)
{
	fcgi_query_iter it;
	char *k, *v;
	int rc;
	*value = NULL;
	if (!fcgi_query_wellformed(query))
		return -1;
	fcgi_query_iter_init(&it, query);
	while ((rc = fcgi_query_next(&it, &k, &v)) != 0) {
		if (rc < 0)
			return -1; /* only when out of memory: the string is well-formed */
		int hit = strcmp(k, name) == 0;
		free(k);
		if (hit) {
			*value = v;
			return 1;
		}
		free(v);
	}
	return 0;
}

/* ---------------------------------------------------------------- headers, ids, statuses */

int fcgi_header_env_name(const char *http_name, char *out, size_t size)
{
	const char *prefix = "HTTP_";
	if (!http_name || !*http_name)
		return -1;
	if (strcasecmp(http_name, "Content-Type") == 0 || strcasecmp(http_name, "Content-Length") == 0)
		prefix = "";
	size_t need = strlen(prefix) + strlen(http_name) + 1;
	if (need > size)
		return -1;
	char *o = out + strlen(prefix);
	memcpy(out, prefix, strlen(prefix));
	for (const char *p = http_name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '-')
			*o++ = '_';
		else if (isalnum(c))
			*o++ = (char)toupper(c);
		else
			return -1; /* '_' too: servers drop such headers, so no name could match */
	}
	*o = '\0';
	return 0;
}

void fcgi_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **fcgi_header_split(const char *value, size_t *count)
{
	size_t n = 0, cap = 4;
	char **v = calloc(cap, sizeof *v);
	if (!v)
		return NULL;
	const char *p = value;
	while (p && *p) {
		const char *start = p;
		int quoted = 0;
		for (; *p; p++) {
			if (quoted) {
				if (*p == '\\' && p[1])
					p++;
				else if (*p == '"')
					quoted = 0;
			} else if (*p == '"') {
				quoted = 1;
			} else if (*p == ',') {
				break;
			}
		}
		const char *end = p;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*p == ',')
			p++;
		if (end == start)
			continue;
		if (n + 2 > cap) {
			char **nv = realloc(v, 2 * cap * sizeof *v);
			if (!nv)
				goto oom;
			v = nv;
			cap *= 2;
		}
		if (!(v[n] = strndup(start, (size_t)(end - start))))
			goto oom;
		v[++n] = NULL;
	}
	if (count)
		*count = n;
	return v;
oom:
	fcgi_strv_free(v);
	return NULL;
}

int fcgi_request_id_sane(const char *id)
{
	size_t n = 0;
	for (; id && id[n]; n++) {
		unsigned char c = (unsigned char)id[n];
		if (!(isalnum(c) || c == '.' || c == '_' || c == '-') || n >= 64)
			return 0;
	}
	return n > 0;
}

void fcgi_request_id_new(char *out, size_t size)
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		/* Ids only correlate log lines: uniqueness, not secrecy, matters here. */
		static _Atomic unsigned long counter;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned long c = ++counter;
		memset(raw, 0, sizeof raw);
		memcpy(raw, &ts.tv_nsec, sizeof ts.tv_nsec);
		memcpy(raw + 8, &c, sizeof c);
	}
	if (size < 2 * sizeof raw + 1) {
		if (size)
			out[0] = '\0';
		return;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

const char *fcgi_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* ---------------------------------------------------------------- request */

static const char *io_param(const fcgi_req *r, const char *name)
{
	return r->io->param(r->io_ctx, name);
}

static void req_fail(fcgi_req *r, int status, const char *why)
{
	if (!r->bad_request) {
		r->bad_status = status;
		r->bad_request = why;
	}
}

static void parse_content_length(fcgi_req *r)
{
	const char *cl = io_param(r, "CONTENT_LENGTH");
	if (!cl || !*cl)
		return; /* no length: read to the end of FastCGI stdin (Apache passes chunked bodies so) */
	long long n = 0;
	for (const char *p = cl; *p; p++) {
		if (*p < '0' || *p > '9' || n > (LLONG_MAX - 9) / 10) {
			req_fail(r, 400, "invalid Content-Length");
			return;
		}
		n = n * 10 + (*p - '0');
	}
	r->body_left = n;
}

void fcgi_req_init(fcgi_req *r, const fcgi_io *io, void *io_ctx, void *app)
{
	memset(r, 0, sizeof *r);
	r->io = io;
	r->io_ctx = io_ctx;
	r->app = app;
	r->status = 200;
	r->body_left = -1;
	r->rest = "";

	const char *rid = io_param(r, "HTTP_X_REQUEST_ID");
	if (fcgi_request_id_sane(rid))
		snprintf(r->request_id, sizeof r->request_id, "%s", rid);
	else
		fcgi_request_id_new(r->request_id, sizeof r->request_id);

	r->method = io_param(r, "REQUEST_METHOD");
	if (!r->method || !*r->method) {
		r->method = "-";
		req_fail(r, 400, "no REQUEST_METHOD");
	}
	r->head = strcmp(r->method, "HEAD") == 0;

	/* REQUEST_URI is the raw target on lighttpd and Apache alike; PATH_INFO is not. */
	r->uri = io_param(r, "REQUEST_URI");
	if (!r->uri || r->uri[0] != '/') {
		r->uri = "-";
		req_fail(r, 400, "the request target is not an absolute path");
	}
	const char *q = strchr(r->uri, '?');
	size_t plen = q ? (size_t)(q - r->uri) : strlen(r->uri);
	r->path = strndup(r->uri, plen);
	r->query = strdup(q ? q + 1 : "");
	if (!r->path || !r->query) {
		req_fail(r, 500, "out of memory");
		return;
	}
	if (!fcgi_query_wellformed(r->query))
		req_fail(r, 400, "malformed percent-encoding in the query string");
	parse_content_length(r);
}

void fcgi_req_release(fcgi_req *r)
{
	free(r->path);
	free(r->query);
	buf_free(&r->headers);
	r->path = r->query = NULL;
}

const char *fcgi_param(const fcgi_req *r, const char *cgi_name)
{
	return io_param(r, cgi_name);
}

const char *fcgi_header(const fcgi_req *r, const char *http_name)
{
	char name[256];
	if (fcgi_header_env_name(http_name, name, sizeof name) < 0)
		return NULL;
	return io_param(r, name);
}

char *fcgi_query_get(const fcgi_req *r, const char *name)
{
	char *value = NULL;
	return fcgi_query_find(r->query, name, &value) == 1 ? value : NULL;
}

ssize_t fcgi_read(fcgi_req *r, void *buf, size_t n)
{
	if (r->body_left == 0 || n == 0)
		return 0;
	if (r->body_left > 0 && (unsigned long long)r->body_left < n)
		n = (size_t)r->body_left;
	ssize_t got = r->io->read(r->io_ctx, buf, n);
	if (got < 0)
		return -1;
	if (got == 0) {
		if (r->body_left > 0)
			return -1; /* shorter than Content-Length: the client went away */
		r->body_left = 0;
		return 0;
	}
	if (r->body_left > 0)
		r->body_left -= got;
	return got;
}

int fcgi_read_body(fcgi_req *r, buf_t *out, size_t max)
{
	char chunk[16384];
	if (out->len > max || (r->body_left > 0 && (unsigned long long)r->body_left > max - out->len))
		return -1;
	for (;;) {
		ssize_t got = fcgi_read(r, chunk, sizeof chunk);
		if (got < 0)
			return -2;
		if (got == 0)
			return 0;
		if ((size_t)got > max - out->len || buf_append(out, chunk, (size_t)got) < 0)
			return -1;
	}
}

/* ---------------------------------------------------------------- response */

static int raw_write(fcgi_req *r, const void *data, size_t len)
{
	if (r->broken)
		return -1;
	if (len && r->io->write(r->io_ctx, data, len) < 0) {
		r->broken = 1;
		return -1;
	}
	return 0;
}

static int send_headers(fcgi_req *r)
{
	if (r->headers_sent)
		return r->broken ? -1 : 0;
	r->headers_sent = 1;
	buf_t h = BUF_INIT;
	int rc = -1;
	if (buf_printf(&h, "Status: %d %s\r\n", r->status, fcgi_status_text(r->status)) < 0 ||
	    buf_append(&h, buf_str(&r->headers), r->headers.len) < 0 || buf_puts(&h, "\r\n") < 0)
		goto out;
	rc = raw_write(r, h.data, h.len);
out:
	buf_free(&h);
	return rc;
}

static int header_name_ok(const char *name)
{
	if (!name || !*name)
		return 0;
	for (const char *p = name; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

void fcgi_set_status(fcgi_req *r, int status)
{
	if (!r->headers_sent)
		r->status = status;
}

int fcgi_add_header(fcgi_req *r, const char *name, const char *fmt, ...)
{
	buf_t v = BUF_INIT;
	va_list ap;
	int rc = -1;
	if (r->headers_sent || !header_name_ok(name))
		goto out;
	va_start(ap, fmt);
	rc = buf_vprintf(&v, fmt, ap);
	va_end(ap);
	if (rc < 0 || strpbrk(buf_str(&v), "\r\n")) {
		rc = -1;
		goto out;
	}
	rc = buf_printf(&r->headers, "%s: %s\r\n", name, buf_str(&v));
out:
	buf_free(&v);
	return rc;
}

int fcgi_write(fcgi_req *r, const void *data, size_t len)
{
	if (send_headers(r) < 0)
		return -1;
	if (r->head)
		return 0;
	if (raw_write(r, data, len) < 0)
		return -1;
	r->bytes_out += (long long)len;
	return 0;
}

int fcgi_send(fcgi_req *r, int status, const char *content_type, const void *body, size_t len)
{
	if (r->headers_sent)
		return -1;
	r->status = status;
	if (content_type && fcgi_add_header(r, "Content-Type", "%s", content_type) < 0)
		return -1;
	if (fcgi_add_header(r, "Content-Length", "%zu", len) < 0)
		return -1;
	return fcgi_write(r, body, len);
}

int fcgi_send_json(fcgi_req *r, int status, struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -1;
	return fcgi_send(r, status, "application/json", s, strlen(s));
}

int fcgi_send_error_json(fcgi_req *r, int status, const char *json)
{
	return fcgi_send(r, status, "application/json", json, strlen(json));
}

int fcgi_sendfile(fcgi_req *r, const char *path)
{
	if (r->headers_sent || fcgi_add_header(r, "X-Sendfile", "%s", path) < 0)
		return -1;
	return send_headers(r);
}

int fcgi_responded(const fcgi_req *r)
{
	return r->headers_sent;
}

/* ---------------------------------------------------------------- dispatch */

void fcgi_default_error(fcgi_req *r, int status, const char *message)
{
	char name[64];
	size_t n = 0;
	/* "Method Not Allowed" -> "MethodNotAllowed", the XRPC error style. */
	for (const char *p = fcgi_status_text(status); *p && n + 1 < sizeof name; p++)
		if (*p != ' ')
			name[n++] = *p;
	name[n] = '\0';
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "error", json_object_new_string(name));
		json_object_object_add(o, "message", json_object_new_string(message));
	}
	if (!o || fcgi_send_json(r, status, o) < 0)
		fcgi_send_error_json(r, status, "{\"error\":\"InternalServerError\"}");
	json_object_put(o);
}

static void send_error(fcgi_req *r, const fcgi_program *prog, int status, const char *message)
{
	if (prog->error)
		prog->error(r, status, message);
	else
		fcgi_default_error(r, status, message);
	if (!r->headers_sent) /* the hook declined: never leave a request unanswered */
		fcgi_default_error(r, status, message);
}

/* The path as it may appear in a log line: bounded and printable. The query is left out
 * because it can carry secrets (tokens, state). */
static void log_safe_path(const char *path, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = path ? path : "-"; *p && n + 4 < size; p++)
		out[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
	if (path && strlen(path) > n)
		out[n++] = '.', out[n++] = '.', out[n++] = '.';
	out[n] = '\0';
}

int fcgi_dispatch(fcgi_req *r, const fcgi_program *prog)
{
	struct timespec t0, t1;
	char allow[128] = "", logpath[256];
	const fcgi_route *route = NULL;
	const char *rest = "";

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r->app = prog->app;
	log_set_request_id(r->request_id);
	fcgi_add_header(r, "X-Request-Id", "%s", r->request_id);

	if (r->bad_request) {
		send_error(r, prog, r->bad_status, r->bad_request);
		goto done;
	}
	int found = fcgi_route_find(prog->routes, r->method, r->path, &route, &rest, allow, sizeof allow);
	if (found == 404) {
		send_error(r, prog, 404, "no such resource");
		goto done;
	}
	if (found == 405) {
		fcgi_add_header(r, "Allow", "%s", allow);
		send_error(r, prog, 405, "method not allowed here");
		goto done;
	}
	r->rest = rest;
	if (route->handler(r) != 0 && !r->headers_sent) {
		buf_reset(&r->headers);
		fcgi_add_header(r, "X-Request-Id", "%s", r->request_id);
		send_error(r, prog, 500, "internal error");
	} else if (!r->headers_sent) {
		if (r->status != 204 && r->status != 304)
			fcgi_add_header(r, "Content-Length", "0");
		send_headers(r);
	}
done:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_safe_path(r->path, logpath, sizeof logpath);
	log_info("%s %s %d %lld %.1fms%s", r->method, logpath, r->status, r->bytes_out,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		 r->broken ? " (client gone)" : "");
	log_set_request_id(NULL);
	return r->status;
}

/* ---------------------------------------------------------------- libfcgi I/O and the pool */

static ssize_t fx_read(void *ctx, void *buf, size_t n)
{
	FCGX_Request *fx = ctx;
	int got = FCGX_GetStr(buf, n > INT_MAX ? INT_MAX : (int)n, fx->in);
	if (got < 0 || (got == 0 && FCGX_GetError(fx->in)))
		return -1;
	return got;
}

static int fx_write(void *ctx, const void *data, size_t n)
{
	FCGX_Request *fx = ctx;
	const char *p = data;
	while (n > 0) {
		int part = n > INT_MAX ? INT_MAX : (int)n;
		if (FCGX_PutStr(p, part, fx->out) != part)
			return -1;
		p += part;
		n -= (size_t)part;
	}
	return 0;
}

static const char *fx_param(void *ctx, const char *name)
{
	FCGX_Request *fx = ctx;
	return FCGX_GetParam(name, fx->envp);
}

static const fcgi_io fx_io = {fx_read, fx_write, fx_param};

/* Shutdown works without signalling workers: the signal waiter writes one byte to a pipe
 * that is never drained, and every worker polls that pipe next to the listen socket (which is
 * non-blocking, so an accept that loses a race returns instead of blocking). Workers busy with
 * a request finish it first. */
typedef struct {
	const fcgi_program *prog;
	int listen_fd;
	int wake_fd;
	pthread_mutex_t accept_lock; /* one thread polls+accepts at a time, as libfcgi's threaded example */
} pool;

/* 1 = wait for fd became readable, 0 = shutting down. */
static int wait_readable(int fd, int wake_fd)
{
	for (;;) {
		struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return 0;
		}
		if (pf[1].revents)
			return 0;
		if (pf[0].revents & POLLNVAL) {
			log_error("the FastCGI socket is closed");
			return 0;
		}
		if (pf[0].revents)
			return 1;
	}
}

/* 1 = fx holds a request, 0 = stop this worker. */
static int next_request(pool *p, FCGX_Request *fx)
{
	/* A connection kept open by the web server (FCGI_KEEP_CONN) brings its next request itself. */
	if (fx->ipcFd >= 0) {
		if (!wait_readable(fx->ipcFd, p->wake_fd))
			return 0;
		if (FCGX_Accept_r(fx) == 0)
			return 1;
	}
	pthread_mutex_lock(&p->accept_lock);
	int got = 0;
	while (!got && wait_readable(p->listen_fd, p->wake_fd)) {
		int rc = FCGX_Accept_r(fx);
		if (rc == 0)
			got = 1;
		else if (rc == -EBADF || rc == -EINVAL || rc == -ENOTSOCK) {
			log_error("FastCGI accept: %s", strerror(-rc));
			break;
		} else if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
			log_warn("FastCGI accept: %s", rc < -9000 ? "failed" : strerror(-rc));
			usleep(100000); /* e.g. EMFILE: do not spin */
		}
	}
	pthread_mutex_unlock(&p->accept_lock);
	return got;
}

static void *worker(void *arg)
{
	pool *p = arg;
	FCGX_Request fx;
	if (FCGX_InitRequest(&fx, p->listen_fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		return NULL;
	}
	while (next_request(p, &fx)) {
		fcgi_req r;
		fcgi_req_init(&r, &fx_io, &fx, p->prog->app);
		fcgi_dispatch(&r, p->prog);
		fcgi_req_release(&r);
		FCGX_Finish_r(&fx);
	}
	FCGX_Free(&fx, 1);
	return NULL;
}

static int open_listener(const char *listen, int *opened, char **err)
{
	*opened = 0;
	if (!listen || !*listen) {
		if (FCGX_IsCGI()) {
			*err = strdup("stdin is not a FastCGI listen socket: run under the web server's "
				      "FastCGI spawner, or set server.listen");
			return -1;
		}
		return 0;
	}
	int fd = FCGX_OpenSocket(listen, 128);
	if (fd < 0) {
		if (asprintf(err, "cannot listen on %s: %s", listen, strerror(errno)) < 0)
			*err = NULL;
		return -1;
	}
	*opened = 1;
	return fd;
}

int fcgi_serve(const fcgi_program *prog, const char *listen, int threads, char **err)
{
	pool p = {.prog = prog, .listen_fd = -1, .wake_fd = -1};
	pthread_t *tids = NULL;
	int wake[2] = {-1, -1}, opened = 0, started = 0, rc = -1, sig;
	sigset_t stop, old;

	*err = NULL;
	if (threads < 1 || threads > 1024) {
		if (asprintf(err, "server.threads must be 1..1024, not %d", threads) < 0)
			*err = NULL;
		return -1;
	}
	if (FCGX_Init() != 0) {
		*err = strdup("FCGX_Init failed");
		return -1;
	}
	p.listen_fd = open_listener(listen, &opened, err);
	if (p.listen_fd < 0)
		return -1;
	int fl = fcntl(p.listen_fd, F_GETFL);
	if (fl < 0 || fcntl(p.listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 || pipe2(wake, O_CLOEXEC) < 0) {
		if (asprintf(err, "FastCGI socket setup: %s", strerror(errno)) < 0)
			*err = NULL;
		goto out;
	}
	p.wake_fd = wake[0];
	pthread_mutex_init(&p.accept_lock, NULL);

	/* Workers inherit this mask, so only sigwait below ever sees these signals. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, &old);

	tids = calloc((size_t)threads, sizeof *tids);
	for (; tids && started < threads; started++)
		if (pthread_create(&tids[started], NULL, worker, &p) != 0)
			break;
	if (started == 0) {
		*err = strdup("cannot start worker threads");
		goto stop_workers;
	}
	log_info("serving FastCGI with %d threads on %s", started, listen && *listen ? listen : "fd 0");
	while (sigwait(&stop, &sig) == 0) {
		if (sig != SIGHUP)
			break;
		if (log_reopen() != 0)
			log_warn("SIGHUP: could not reopen the log");
	}
	log_info("signal %d: finishing in-flight requests", sig);
	rc = 0;
stop_workers:
	if (write(wake[1], "x", 1) != 1)
		log_error("cannot wake workers: %s", strerror(errno));
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_destroy(&p.accept_lock);
out:
	if (wake[0] >= 0)
		close(wake[0]);
	if (wake[1] >= 0)
		close(wake[1]);
	if (opened) {
		close(p.listen_fd);
		if (!strchr(listen, ':'))
			unlink(listen); /* our unix socket */
	}
	return rc;
}
