/* xrpc.h - an XRPC client: queries and procedures against a PDS (or any atproto service), XRPC error
 * JSON, and typed helpers for the com.atproto calls ATCR makes (sessions, records, blobs, service auth). */
#ifndef ATCR_XRPC_H
#define ATCR_XRPC_H
#include <json-c/json.h>

#include "buf.h"
#include "http.h"

/* Where and as whom to call. base is the service origin ("https://pds.example"); token (may be NULL)
 * is sent as "Authorization: Bearer <token>". */
typedef struct {
	const char *base;
	const char *token;
	const http_opts *http;
} xrpc_client;

/* An XRPC failure: status 0 for a transport failure (error "TransportError"); otherwise the HTTP
 * status and the body's "error"/"message" (error "HttpError" when the body is not XRPC JSON). */
typedef struct {
	long status;
	char *error;
	char *message;
} xrpc_error;

typedef struct {
	char *did;
	char *handle;
	char *access_jwt;
	char *refresh_jwt;
	char *pds; /* the PDS endpoint from the session's didDoc, or the base the session was made at */
} xrpc_session;

/* Pure helpers (unit tested). */
/* Percent-encode s for a URL query value (RFC 3986 unreserved kept). Caller frees. */
char *xrpc_escape(const char *s);
/* base + "/xrpc/" + nsid + "?k=v&..." from a NULL-terminated key,value,... list (NULL values skipped).
 * Caller frees. */
char *xrpc_url(const char *base, const char *nsid, const char *const *params);
/* Fill e from an error response (status + body); always succeeds. */
void xrpc_error_from_response(long status, const char *body, size_t len, xrpc_error *e);
void xrpc_error_free(xrpc_error *e);

/* GET a query; JSON result (caller puts) or NULL with e filled. */
json_object *xrpc_query(const xrpc_client *c, const char *nsid, const char *const *params, xrpc_error *e);
/* POST a procedure with a JSON input (NULL = no body); JSON result ({} for an empty body) or NULL. */
json_object *xrpc_procedure(const xrpc_client *c, const char *nsid, const json_object *input, xrpc_error *e);
/* GET a query whose output is bytes (getBlob); 0 and the bytes in out, or -1 with e. */
int xrpc_query_bytes(const xrpc_client *c, const char *nsid, const char *const *params, buf_t *out,
		     xrpc_error *e);

/* com.atproto.server.createSession at c->base; 0 ok, -1 with e (e.g. AuthenticationRequired). */
int xrpc_create_session(const xrpc_client *c, const char *identifier, const char *password,
			xrpc_session *out, xrpc_error *e);
/* com.atproto.server.refreshSession with the refresh token. */
int xrpc_refresh_session(const xrpc_client *c, const char *refresh_jwt, xrpc_session *out, xrpc_error *e);
void xrpc_session_free(xrpc_session *s);

/* com.atproto.repo.* : getRecord returns {uri,cid,value}; listRecords {records,cursor?}
 * (limit 0 = server default, cursor may be NULL); putRecord {uri,cid} (swap_cid may be NULL). */
json_object *xrpc_get_record(const xrpc_client *c, const char *repo, const char *collection, const char *rkey,
			     xrpc_error *e);
json_object *xrpc_list_records(const xrpc_client *c, const char *repo, const char *collection, int limit,
			       const char *cursor, xrpc_error *e);
json_object *xrpc_put_record(const xrpc_client *c, const char *repo, const char *collection, const char *rkey,
			     const json_object *record, const char *swap_cid, xrpc_error *e);
int xrpc_delete_record(const xrpc_client *c, const char *repo, const char *collection, const char *rkey,
		       xrpc_error *e);
/* uploadBlob: the blob ref ({"$type":"blob","ref":{"$link"},"mimeType","size"}) or NULL. */
json_object *xrpc_upload_blob(const xrpc_client *c, const void *data, size_t len, const char *mime_type,
			      xrpc_error *e);
/* com.atproto.sync.getBlob bytes. */
int xrpc_get_blob(const xrpc_client *c, const char *did, const char *cid, buf_t *out, xrpc_error *e);
/* com.atproto.server.getServiceAuth: a token for aud, bound to lxm (may be NULL), expiring at exp
 * (unix seconds, 0 = the server's default). Caller frees. */
char *xrpc_get_service_auth(const xrpc_client *c, const char *aud, const char *lxm, long long exp, xrpc_error *e);

#endif
