/* test_fcgi.c - the FastCGI layer without a socket: routing, query strings, headers, request
 * ids, and whole requests through an in-memory fcgi_io (bodies, HEAD, errors, streaming). */
#include "fcgi.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tap.h"

/* ---- an in-memory request */

typedef struct {
	const char *const *params; /* name, value, ..., NULL */
	const char *in;
	size_t in_len, in_pos;
	size_t max_read; /* return at most this much per read, to exercise short reads */
	int fail_writes;
	buf_t out;
} mem;

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	mem *m = ctx;
	size_t left = m->in_len - m->in_pos;
	if (n > left)
		n = left;
	if (m->max_read && n > m->max_read)
		n = m->max_read;
	memcpy(buf, m->in + m->in_pos, n);
	m->in_pos += n;
	return (ssize_t)n;
}

static int mem_write(void *ctx, const void *data, size_t n)
{
	mem *m = ctx;
	if (m->fail_writes)
		return -1;
	return buf_append(&m->out, data, n);
}

static const char *mem_param(void *ctx, const char *name)
{
	mem *m = ctx;
	for (size_t i = 0; m->params[i]; i += 2)
		if (strcmp(m->params[i], name) == 0)
			return m->params[i + 1];
	return NULL;
}

static const fcgi_io mem_io = {mem_read, mem_write, mem_param};

static void mem_init(mem *m, const char *const *params, const char *in)
{
	memset(m, 0, sizeof *m);
	m->params = params;
	m->in = in ? in : "";
	m->in_len = strlen(m->in);
}

/* The body part of a CGI response (after the blank line), or NULL. */
static const char *body_of(const mem *m)
{
	const char *s = strstr(buf_str(&m->out), "\r\n\r\n");
	return s ? s + 4 : NULL;
}

static int has_header(const mem *m, const char *line)
{
	const char *out = buf_str(&m->out), *end = strstr(out, "\r\n\r\n");
	const char *hit = strstr(out, line);
	return hit && end && hit < end && (hit == out || hit[-1] == '\n');
}

/* ---- handlers for dispatch tests */

static int h_hello(fcgi_req *r)
{
	fcgi_add_header(r, "X-Test", "hello");
	return fcgi_send(r, 200, "text/plain", "hello", 5);
}

static int h_fail(fcgi_req *r)
{
	fcgi_add_header(r, "X-Half", "done");
	return -1;
}

static int h_nothing(fcgi_req *r)
{
	fcgi_set_status(r, 202);
	return 0;
}

static int h_stream(fcgi_req *r)
{
	fcgi_add_header(r, "Content-Type", "text/plain");
	if (fcgi_write(r, "ab", 2) < 0 || fcgi_write(r, "cd", 2) < 0)
		return -1;
	/* too late for headers now */
	return fcgi_add_header(r, "X-Late", "1") == -1 ? 0 : -1;
}

static int h_rest(fcgi_req *r)
{
	return fcgi_send(r, 200, "text/plain", r->rest, strlen(r->rest));
}

static int h_echo(fcgi_req *r)
{
	buf_t b = BUF_INIT;
	int rc = fcgi_read_body(r, &b, 16);
	if (rc == -1)
		rc = fcgi_send(r, 413, "text/plain", "big", 3);
	else if (rc == -2)
		rc = fcgi_send(r, 400, "text/plain", "short", 5);
	else
		rc = fcgi_send(r, 200, "application/octet-stream", b.data, b.len);
	buf_free(&b);
	return rc;
}

static int h_query(fcgi_req *r)
{
	char *d = fcgi_query_get(r, "digest");
	int rc = fcgi_send(r, 200, "text/plain", d ? d : "(none)", strlen(d ? d : "(none)"));
	free(d);
	return rc;
}

static int h_auth(fcgi_req *r)
{
	const char *a = fcgi_header(r, "Authorization");
	return fcgi_send(r, 200, "text/plain", a ? a : "-", strlen(a ? a : "-"));
}

static int h_json(fcgi_req *r)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "url", json_object_new_string("a/b"));
	int rc = fcgi_send_json(r, 201, o);
	json_object_put(o);
	return rc;
}

static int h_file(fcgi_req *r)
{
	fcgi_add_header(r, "Content-Type", "application/octet-stream");
	fcgi_add_header(r, "ETag", "\"sha256:abc\"");
	return fcgi_sendfile(r, "/var/lib/atcr/blobs/ab/abc");
}

static int h_inject(fcgi_req *r)
{
	int bad = fcgi_add_header(r, "X-Evil", "a\r\nSet-Cookie: x=1");
	int badname = fcgi_add_header(r, "X Evil", "a");
	int good = fcgi_add_header(r, "X-Fine", "%d", 42);
	char msg[64];
	snprintf(msg, sizeof msg, "%d %d %d", bad, badname, good);
	return fcgi_send(r, 200, "text/plain", msg, strlen(msg));
}

static const fcgi_route test_routes[] = {
	{FCGI_GET, "/v2/", h_hello},
	{FCGI_GET, "/fail", h_fail},
	{FCGI_POST, "/nothing", h_nothing},
	{FCGI_GET, "/stream", h_stream},
	{FCGI_PUT | FCGI_PATCH, "/echo", h_echo},
	{FCGI_GET, "/query", h_query},
	{FCGI_GET, "/auth", h_auth},
	{FCGI_POST, "/json", h_json},
	{FCGI_GET, "/file", h_file},
	{FCGI_GET, "/inject", h_inject},
	{FCGI_DELETE, "/v2/*", h_rest},
	{FCGI_GET, "/v2/*", h_rest},
	{0, NULL, NULL},
};

static const fcgi_program test_prog = {test_routes, NULL, NULL};

/* Run one request through fcgi_dispatch; m keeps the output. Returns the status. */
static int run(mem *m, const char *const *params, const char *in)
{
	fcgi_req r;
	mem_init(m, params, in);
	fcgi_req_init(&r, &mem_io, m, NULL);
	int status = fcgi_dispatch(&r, &test_prog);
	fcgi_req_release(&r);
	return status;
}

/* ---- tests */

static void test_routes_find(void)
{
	const fcgi_route *rt = NULL;
	const char *rest = NULL;
	char allow[128];

	is_int(fcgi_route_find(test_routes, "GET", "/v2/", &rt, &rest, allow, sizeof allow), 200, "exact route");
	ok(rt && rt->handler == h_hello && rest && *rest == '\0', "exact route: handler, empty rest");
	is_int(fcgi_route_find(test_routes, "HEAD", "/v2/", &rt, &rest, allow, sizeof allow), 200,
	       "HEAD is answered by a GET route");
	is_int(fcgi_route_find(test_routes, "GET", "/v2/alice/app/manifests/1", &rt, &rest, allow, sizeof allow), 200,
	       "prefix route");
	is_str(rest, "alice/app/manifests/1", "prefix route: rest is what '*' matched");
	is_int(fcgi_route_find(test_routes, "DELETE", "/v2/x", &rt, &rest, allow, sizeof allow), 200,
	       "second route with the same pattern, other method");
	ok(rt == &test_routes[10], "DELETE picked the DELETE route");
	is_int(fcgi_route_find(test_routes, "GET", "/v2", &rt, &rest, allow, sizeof allow), 404,
	       "exact pattern does not match without the slash");
	is_int(fcgi_route_find(test_routes, "GET", "/v2/extra/..", &rt, &rest, allow, sizeof allow), 200,
	       "paths are matched raw");
	is_int(fcgi_route_find(test_routes, "GET", "/nope", &rt, &rest, allow, sizeof allow), 404, "unknown path 404");
	is_int(fcgi_route_find(test_routes, "GET", "/echox", &rt, &rest, allow, sizeof allow), 404,
	       "exact pattern is not a prefix");
	is_int(fcgi_route_find(test_routes, "PUT", "/v2/", &rt, &rest, allow, sizeof allow), 405,
	       "known path, wrong method: 405 ('*' needs at least one character)");
	is_str(allow, "GET, HEAD", "Allow for a GET route");
	is_int(fcgi_route_find(test_routes, "GET", "/echo", &rt, &rest, allow, sizeof allow), 405, "PUT|PATCH route");
	is_str(allow, "PUT, PATCH", "Allow lists the route's methods in a fixed order");
	is_int(fcgi_route_find(test_routes, "POST", "/v2/x", &rt, &rest, allow, sizeof allow), 405,
	       "two routes, neither POST");
	is_str(allow, "GET, HEAD, DELETE", "Allow is the union of every matching route");
	is_int(fcgi_route_find(test_routes, "BREW", "/v2/", &rt, &rest, allow, sizeof allow), 405,
	       "unknown method on a known path: 405");
	is_int(fcgi_method_bit("PATCH"), FCGI_PATCH, "method bit PATCH");
	is_int(fcgi_method_bit("get"), 0, "methods are case-sensitive");
	is_int(fcgi_method_bit(NULL), 0, "no method");
}

static void test_decode(void)
{
	struct {
		const char *in;
		int plus;
		const char *want;
	} cases[] = {
		{"a%20b", 1, "a b"},
		{"a+b", 1, "a b"},
		{"a+b", 0, "a+b"},
		{"%2B", 1, "+"},
		{"sha256%3Aabc", 1, "sha256:abc"},
		{"%c3%A9", 1, "\xc3\xa9"},
		{"", 1, ""},
		{"100%", 1, NULL},
		{"%4", 1, NULL},
		{"%zz", 1, NULL},
		{"%g0", 1, NULL},
		{"a%00b", 1, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = fcgi_url_decode(cases[i].in, strlen(cases[i].in), cases[i].plus);
		is_str(got, cases[i].want, "decode '%s' (plus=%d)", cases[i].in, cases[i].plus);
		free(got);
	}
	char *got = fcgi_url_decode("ab%41cd", 5, 1);
	is_str(got, "abA", "decode honours len");
	free(got);
	got = fcgi_url_decode("ab%4", 3, 1);
	ok(got == NULL, "an escape cut by len is malformed");
	free(got);
}

static void test_query(void)
{
	const char *q = "n=10&last=a%2Fb&tag=one&&tag=two+2&flag&e=&%74ag=three";
	char *v = NULL;
	is_int(fcgi_query_find(q, "n", &v), 1, "find n");
	is_str(v, "10", "n value");
	free(v);
	is_int(fcgi_query_find(q, "last", &v), 1, "find last");
	is_str(v, "a/b", "percent-decoded value");
	free(v);
	is_int(fcgi_query_find(q, "tag", &v), 1, "find repeated key");
	is_str(v, "one", "first value wins");
	free(v);
	is_int(fcgi_query_find(q, "flag", &v), 1, "bare key");
	is_str(v, "", "bare key has an empty value");
	free(v);
	is_int(fcgi_query_find(q, "e", &v), 1, "empty value");
	is_str(v, "", "empty value is empty");
	free(v);
	is_int(fcgi_query_find(q, "missing", &v), 0, "absent key");
	ok(v == NULL, "absent key leaves NULL");
	is_int(fcgi_query_find("a=%zz&b=1", "b", &v), -1, "malformed query string is refused");
	is_int(fcgi_query_find("", "a", &v), 0, "empty query");

	/* every value of a repeated key, in order, through the iterator */
	fcgi_query_iter it;
	char *k, *val;
	buf_t tags = BUF_INIT;
	int pairs = 0, rc;
	fcgi_query_iter_init(&it, q);
	while ((rc = fcgi_query_next(&it, &k, &val)) == 1) {
		pairs++;
		if (strcmp(k, "tag") == 0)
			buf_printf(&tags, "[%s]", val);
		free(k);
		free(val);
	}
	is_int(rc, 0, "iterator ends with 0");
	is_int(pairs, 7, "iterator skips the empty pair");
	is_str(buf_str(&tags), "[one][two 2][three]", "repeated key: every value, '+' as space, encoded name");
	buf_free(&tags);

	fcgi_query_iter_init(&it, "a=1&b=%zz&c=3");
	is_int(fcgi_query_next(&it, &k, &val), 1, "pair before a malformed one");
	free(k);
	free(val);
	is_int(fcgi_query_next(&it, &k, &val), -1, "malformed pair reported");
	ok(k == NULL && val == NULL, "malformed pair yields no strings");
	is_int(fcgi_query_next(&it, &k, &val), 1, "iteration goes on after a malformed pair");
	is_str(k, "c", "the pair after it");
	free(k);
	free(val);

	ok(fcgi_query_wellformed("a=%41&b=c+d"), "well-formed query");
	ok(!fcgi_query_wellformed("a=%4"), "truncated escape");
	ok(!fcgi_query_wellformed("a=%zz"), "non-hex escape");
	ok(!fcgi_query_wellformed("a=%00"), "NUL escape");
	ok(fcgi_query_wellformed(""), "empty query is well-formed");
}

static void test_header_names(void)
{
	struct {
		const char *http, *cgi;
	} cases[] = {
		{"Content-Type", "CONTENT_TYPE"},     {"content-length", "CONTENT_LENGTH"},
		{"Authorization", "HTTP_AUTHORIZATION"}, {"X-Request-Id", "HTTP_X_REQUEST_ID"},
		{"accept", "HTTP_ACCEPT"},            {"Docker-Content-Digest", "HTTP_DOCKER_CONTENT_DIGEST"},
	};
	char out[64];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = fcgi_header_env_name(cases[i].http, out, sizeof out);
		ok(rc == 0 && strcmp(out, cases[i].cgi) == 0, "%s -> %s", cases[i].http, cases[i].cgi);
	}
	is_int(fcgi_header_env_name("", out, sizeof out), -1, "empty name refused");
	is_int(fcgi_header_env_name("Bad Header", out, sizeof out), -1, "space in name refused");
	is_int(fcgi_header_env_name("X_Under", out, sizeof out), -1, "underscore refused (servers drop those)");
	is_int(fcgi_header_env_name("X-Long-Header", out, 10), -1, "too long for the buffer");
}

static void test_header_split(void)
{
	size_t n = 99;
	char **v = fcgi_header_split("application/vnd.oci.image.index.v1+json, application/json;q=0.5", &n);
	ok(v && n == 2, "two folded values");
	if (v && n == 2) {
		is_str(v[0], "application/vnd.oci.image.index.v1+json", "first value");
		is_str(v[1], "application/json;q=0.5", "second value, parameters kept");
		ok(v[2] == NULL, "vector is NULL-terminated");
	}
	fcgi_strv_free(v);

	v = fcgi_header_split("  a ,, \t b\t, ", &n);
	ok(v && n == 2 && strcmp(v[0], "a") == 0 && strcmp(v[1], "b") == 0, "trims whitespace, skips empties");
	fcgi_strv_free(v);

	v = fcgi_header_split("text/plain; note=\"x, \\\"y\", c", &n);
	ok(v && n == 2, "comma inside quotes does not split");
	if (v && n == 2)
		is_str(v[0], "text/plain; note=\"x, \\\"y\"", "quoted value kept whole, escaped quote included");
	fcgi_strv_free(v);

	v = fcgi_header_split(NULL, &n);
	ok(v && n == 0 && v[0] == NULL, "NULL value gives an empty vector");
	fcgi_strv_free(v);

	v = fcgi_header_split("one", NULL);
	ok(v && v[0] && strcmp(v[0], "one") == 0 && !v[1], "single value, count optional");
	fcgi_strv_free(v);
}

static void test_request_ids(void)
{
	ok(fcgi_request_id_sane("3f2c1a9e-7b1d-4c55-9a61-2f2b8d1c0e11"), "uuid is sane");
	ok(fcgi_request_id_sane("req_1.2-x"), "letters, digits, . _ -");
	ok(!fcgi_request_id_sane(""), "empty is not");
	ok(!fcgi_request_id_sane(NULL), "absent is not");
	ok(!fcgi_request_id_sane("a b"), "space is not");
	ok(!fcgi_request_id_sane("a\nlevel=error forged"), "newline (log forging) is not");
	ok(!fcgi_request_id_sane("a/b"), "slash is not");
	char id64[65], id65[66];
	memset(id64, 'a', 64);
	id64[64] = '\0';
	memset(id65, 'a', 65);
	id65[65] = '\0';
	ok(fcgi_request_id_sane(id64), "64 characters is sane");
	ok(!fcgi_request_id_sane(id65), "65 characters is not");

	char a[33], b[33];
	fcgi_request_id_new(a, sizeof a);
	fcgi_request_id_new(b, sizeof b);
	ok(strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32, "new id is 32 hex digits");
	ok(strcmp(a, b) != 0, "two new ids differ");
	ok(fcgi_request_id_sane(a), "a new id is itself sane");
}

static void test_dispatch(void)
{
	mem m;

	const char *const get_v2[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/v2/", "HTTP_X_REQUEST_ID", "abc-123",
				      "PATH_INFO", "/misleading", NULL};
	is_int(run(&m, get_v2, NULL), 200, "GET /v2/ -> 200 (PATH_INFO ignored)");
	ok(strncmp(buf_str(&m.out), "Status: 200 OK\r\n", 16) == 0, "CGI status line first");
	ok(has_header(&m, "Content-Length: 5\r\n"), "exact Content-Length");
	ok(has_header(&m, "Content-Type: text/plain\r\n"), "Content-Type");
	ok(has_header(&m, "X-Test: hello\r\n"), "handler header");
	ok(has_header(&m, "X-Request-Id: abc-123\r\n"), "sane client request id is kept and echoed");
	is_str(body_of(&m), "hello", "body");
	buf_free(&m.out);

	const char *const head_v2[] = {"REQUEST_METHOD", "HEAD", "REQUEST_URI", "/v2/",
				       "HTTP_X_REQUEST_ID", "bad id\r\nX: y", NULL};
	is_int(run(&m, head_v2, NULL), 200, "HEAD /v2/ -> 200");
	ok(has_header(&m, "Content-Length: 5\r\n"), "HEAD keeps the GET Content-Length");
	is_str(body_of(&m), "", "HEAD: body suppressed by the layer");
	ok(!strstr(buf_str(&m.out), "bad id"), "insane request id is not echoed");
	ok(strstr(buf_str(&m.out), "X-Request-Id: ") != NULL, "a generated id is sent instead");
	buf_free(&m.out);

	const char *const nf[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/nope?x=1", NULL};
	is_int(run(&m, nf, NULL), 404, "unknown path -> 404");
	ok(strstr(body_of(&m) ? body_of(&m) : "", "\"error\":\"NotFound\"") != NULL, "generic JSON error body");
	buf_free(&m.out);

	const char *const wm[] = {"REQUEST_METHOD", "POST", "REQUEST_URI", "/v2/", "CONTENT_LENGTH", "0", NULL};
	is_int(run(&m, wm, NULL), 405, "POST on a GET route -> 405");
	ok(has_header(&m, "Allow: GET, HEAD\r\n"), "405 carries Allow");
	buf_free(&m.out);

	const char *const fail[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/fail", NULL};
	is_int(run(&m, fail, NULL), 500, "handler error -> 500");
	ok(!has_header(&m, "X-Half: done\r\n"), "a failed handler's headers are dropped");
	buf_free(&m.out);

	const char *const nothing[] = {"REQUEST_METHOD", "POST", "REQUEST_URI", "/nothing", NULL};
	is_int(run(&m, nothing, NULL), 202, "handler that only sets a status");
	ok(has_header(&m, "Content-Length: 0\r\n"), "empty body gets Content-Length: 0");
	buf_free(&m.out);

	const char *const stream[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/stream", NULL};
	is_int(run(&m, stream, NULL), 200, "streamed response");
	ok(!strstr(buf_str(&m.out), "Content-Length"), "no Content-Length invented for a streamed body");
	is_str(body_of(&m), "abcd", "streamed body in order, headers once");
	buf_free(&m.out);

	const char *const rest[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/v2/a%2Fb/blobs/x?y=1", NULL};
	run(&m, rest, NULL);
	is_str(body_of(&m), "a%2Fb/blobs/x", "rest is raw and undecoded, without the query");
	buf_free(&m.out);

	const char *const q[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/query?n=1&digest=sha256%3Aab+c",
				 "QUERY_STRING", "digest=wrong", NULL};
	run(&m, q, NULL);
	is_str(body_of(&m), "sha256:ab c", "fcgi_query_get reads the query of REQUEST_URI");
	buf_free(&m.out);

	const char *const badq[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/query?digest=%zz", NULL};
	is_int(run(&m, badq, NULL), 400, "malformed query -> 400 before any handler");
	ok(strstr(body_of(&m) ? body_of(&m) : "", "percent-encoding") != NULL, "400 says why");
	buf_free(&m.out);

	const char *const nouri[] = {"REQUEST_METHOD", "GET", NULL};
	is_int(run(&m, nouri, NULL), 400, "no REQUEST_URI -> 400");
	buf_free(&m.out);

	const char *const auth[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/auth", "HTTP_AUTHORIZATION",
				    "Bearer t0k", NULL};
	run(&m, auth, NULL);
	is_str(body_of(&m), "Bearer t0k", "fcgi_header(Authorization) reads HTTP_AUTHORIZATION");
	buf_free(&m.out);

	const char *const js[] = {"REQUEST_METHOD", "POST", "REQUEST_URI", "/json", NULL};
	is_int(run(&m, js, NULL), 201, "fcgi_send_json status");
	is_str(body_of(&m), "{\"url\":\"a/b\"}", "compact JSON, slashes unescaped");
	ok(has_header(&m, "Content-Type: application/json\r\n"), "JSON content type");
	buf_free(&m.out);

	const char *const file[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/file", NULL};
	is_int(run(&m, file, NULL), 200, "sendfile");
	ok(has_header(&m, "X-Sendfile: /var/lib/atcr/blobs/ab/abc\r\n"), "X-Sendfile header");
	ok(has_header(&m, "ETag: \"sha256:abc\"\r\n"), "caller's ETag kept");
	is_str(body_of(&m), "", "no body: the web server sends the file");
	buf_free(&m.out);

	const char *const inj[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/inject", NULL};
	run(&m, inj, NULL);
	is_str(body_of(&m), "-1 -1 0", "CR/LF in a value and a bad name are refused");
	ok(!strstr(buf_str(&m.out), "Set-Cookie"), "nothing injected");
	buf_free(&m.out);
}

static void test_bodies(void)
{
	mem m;
	const char *const cl[] = {"REQUEST_METHOD", "PUT", "REQUEST_URI", "/echo", "CONTENT_LENGTH", "5", NULL};
	is_int(run(&m, cl, "helloEXTRA"), 200, "Content-Length body");
	is_str(body_of(&m), "hello", "exactly CONTENT_LENGTH bytes are read");
	buf_free(&m.out);

	const char *const chunked[] = {"REQUEST_METHOD", "PATCH", "REQUEST_URI", "/echo", NULL};
	fcgi_req r;
	mem_init(&m, chunked, "streamed-body");
	m.max_read = 3;
	fcgi_req_init(&r, &mem_io, &m, NULL);
	is_int(fcgi_dispatch(&r, &test_prog), 200, "body without CONTENT_LENGTH (Apache chunked)");
	fcgi_req_release(&r);
	is_str(body_of(&m), "streamed-body", "read to the end of stdin, in short reads");
	buf_free(&m.out);

	const char *const big[] = {"REQUEST_METHOD", "PUT", "REQUEST_URI", "/echo", "CONTENT_LENGTH", "17", NULL};
	is_int(run(&m, big, "0123456789abcdefg"), 413, "Content-Length past max refused");
	buf_free(&m.out);
	is_int(run(&m, chunked, "0123456789abcdefg"), 413, "unsized body past max refused");
	buf_free(&m.out);
	is_int(run(&m, chunked, "0123456789abcdef"), 200, "exactly max is fine");
	buf_free(&m.out);

	const char *const shortb[] = {"REQUEST_METHOD", "PUT", "REQUEST_URI", "/echo", "CONTENT_LENGTH", "10", NULL};
	is_int(run(&m, shortb, "abc"), 400, "body shorter than Content-Length is a read error");
	buf_free(&m.out);

	const char *const badcl[] = {"REQUEST_METHOD", "PUT", "REQUEST_URI", "/echo", "CONTENT_LENGTH", "5x", NULL};
	is_int(run(&m, badcl, "hello"), 400, "invalid Content-Length -> 400");
	buf_free(&m.out);

	/* fcgi_read streaming by hand */
	const char *const cl4[] = {"REQUEST_METHOD", "PUT", "REQUEST_URI", "/echo", "CONTENT_LENGTH", "4", NULL};
	char chunk[8];
	mem_init(&m, cl4, "abcdef");
	fcgi_req_init(&r, &mem_io, &m, NULL);
	ssize_t a = fcgi_read(&r, chunk, 3), b = fcgi_read(&r, chunk + 3, 3), c = fcgi_read(&r, chunk, 3);
	ok(a == 3 && b == 1 && c == 0, "fcgi_read stops at CONTENT_LENGTH (%zd %zd %zd)", a, b, c);
	fcgi_req_release(&r);

	/* a client that went away */
	const char *const get_v2[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/v2/", NULL};
	mem_init(&m, get_v2, NULL);
	m.fail_writes = 1;
	fcgi_req_init(&r, &mem_io, &m, NULL);
	is_int(fcgi_send(&r, 200, "text/plain", "x", 1), -1, "write to a gone client fails");
	ok(r.broken, "the request is marked broken");
	is_int(fcgi_write(&r, "y", 1), -1, "and stays failed");
	fcgi_req_release(&r);
}

int main(void)
{
	char *err = NULL;
	/* dispatch logs one info line per request: keep the test output to TAP */
	if (log_setup("warn", NULL, NULL, &err) != 0) {
		diag("log_setup: %s", err ? err : "?");
		free(err);
	}
	test_routes_find();
	test_decode();
	test_query();
	test_header_names();
	test_header_split();
	test_request_ids();
	test_dispatch();
	test_bodies();
	return tap_done();
}
