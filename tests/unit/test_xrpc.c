/* test_xrpc.c - the pure parts of the XRPC client: escaping, URL building, error parsing. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "xrpc.h"

int main(void)
{
	char *s = xrpc_escape("did:web:localhost%3A8080 a+b/é~");
	is_str(s, "did%3Aweb%3Alocalhost%253A8080%20a%2Bb%2F%C3%A9~", "percent-encoding of reserved and UTF-8");
	free(s);

	const char *p[] = {"repo", "did:plc:abc", "collection", "io.atcr.tag", "cursor", NULL, "limit", "10", NULL};
	s = xrpc_url("http://localhost:2583/", "com.atproto.repo.listRecords", p);
	is_str(s, "http://localhost:2583/xrpc/com.atproto.repo.listRecords?repo=did%3Aplc%3Aabc&collection=io.atcr.tag&limit=10",
	       "URL with params, NULL values skipped, trailing slash of base dropped");
	free(s);
	s = xrpc_url("https://pds.example", "com.atproto.server.describeServer", NULL);
	is_str(s, "https://pds.example/xrpc/com.atproto.server.describeServer", "URL without params");
	free(s);

	xrpc_error e = {0};
	const char *body = "{\"error\":\"RecordNotFound\",\"message\":\"Could not locate record\"}";
	xrpc_error_from_response(400, body, strlen(body), &e);
	is_int(e.status, 400, "status kept");
	is_str(e.error, "RecordNotFound", "error name");
	is_str(e.message, "Could not locate record", "message");
	xrpc_error_free(&e);
	body = "{\"error\":\"AuthenticationRequired\"}";
	xrpc_error_from_response(401, body, strlen(body), &e);
	is_str(e.error, "AuthenticationRequired", "error without message");
	ok(e.message == NULL, "no message");
	xrpc_error_free(&e);
	body = "<html>Bad Gateway</html>";
	xrpc_error_from_response(502, body, strlen(body), &e);
	is_str(e.error, "HttpError", "non-JSON body becomes HttpError");
	is_str(e.message, "HTTP status 502", "message names the status");
	xrpc_error_free(&e);
	xrpc_error_from_response(500, NULL, 0, &e);
	is_str(e.error, "HttpError", "empty body");
	xrpc_error_free(&e);
	body = "{\"error\":42}";
	xrpc_error_from_response(400, body, strlen(body), &e);
	is_str(e.error, "HttpError", "error that is not a string is not trusted");
	xrpc_error_free(&e);

	/* a transport failure is reported, not crashed on */
	http_opts o = {.timeout_s = 2, .connect_timeout_s = 2, .allow_private = 1};
	xrpc_client c = {"http://127.0.0.1:1", NULL, &o};
	json_object *j = xrpc_query(&c, "com.atproto.server.describeServer", NULL, &e);
	ok(j == NULL && e.status == 0, "connection refused -> status 0");
	is_str(e.error, "TransportError", "TransportError");
	xrpc_error_free(&e);
	return tap_done();
}
