/* xrpc.c - the hold's route table and XRPC plumbing (errors, JSON bodies). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hold.h"

/* Every URL the hold answers, at a glance. FCGI_GET also answers HEAD. */
static int xrpc_unknown(fcgi_req *r);
const fcgi_route hold_routes[] = {
	{FCGI_GET, "/.well-known/did.json", did_json},
	{FCGI_GET, "/.well-known/atproto-did", did_atproto},
	{FCGI_GET, "/xrpc/_health", xrpc_health},
	{FCGI_GET, "/xrpc/com.atproto.server.describeServer", records_describe_server},
	{FCGI_GET, "/xrpc/com.atproto.repo.describeRepo", records_describe_repo},
	{FCGI_GET, "/xrpc/com.atproto.repo.getRecord", records_get},
	{FCGI_GET, "/xrpc/com.atproto.repo.listRecords", records_list},
	{FCGI_POST, "/xrpc/com.atproto.repo.putRecord", records_put},
	{FCGI_POST, "/xrpc/com.atproto.repo.deleteRecord", records_delete},
	{FCGI_GET, "/xrpc/com.atproto.sync.getBlob", blob_get},
	{FCGI_GET, "/xrpc/com.atproto.sync.getLatestCommit", sync_latest_commit},
	{FCGI_GET, "/xrpc/com.atproto.sync.getRepo", sync_repo},
	{FCGI_GET, "/xrpc/com.atproto.sync.getRecord", sync_record},
	{FCGI_GET, "/xrpc/com.atproto.sync.getRepoStatus", sync_repo_status},
	{FCGI_GET, "/xrpc/com.atproto.sync.listRepos", sync_list_repos},
	{FCGI_POST, "/xrpc/io.atcr.hold.initiateUpload", upload_initiate},
	{FCGI_POST, "/xrpc/io.atcr.hold.getPartUploadUrl", upload_part_url},
	{FCGI_PUT | FCGI_POST, "/xrpc/io.atcr.hold.uploadPart", upload_part},
	{FCGI_POST, "/xrpc/io.atcr.hold.completeUpload", upload_complete},
	{FCGI_POST, "/xrpc/io.atcr.hold.abortUpload", upload_abort},
	{FCGI_POST, "/xrpc/io.atcr.hold.notifyManifest", manifest_notify},
	{FCGI_GET, "/xrpc/io.atcr.hold.getLayersForManifest", manifest_layers},
	{FCGI_GET, "/xrpc/io.atcr.hold.getQuota", manifest_quota},
	{FCGI_POST, "/xrpc/io.atcr.hold.requestCrew", crew_request},
	{FCGI_POST, "/xrpc/io.atcr.hold.updateCrewTier", crew_update_tier},
	{FCGI_GET, "/xrpc/io.atcr.hold.exportUserData", userdata_export},
	{FCGI_POST, "/xrpc/io.atcr.hold.deleteUserData", userdata_delete},
	{FCGI_ANY, "/xrpc/*", xrpc_unknown},
	{0, NULL, NULL},
};

static int xrpc_unknown(fcgi_req *r)
{
	return hold_xrpc_error(r, 501, "MethodNotImplemented", "this hold does not implement that method");
}

int hold_xrpc_error(fcgi_req *r, int status, const char *error, const char *message)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(error));
	if (message)
		json_object_object_add(o, "message", json_object_new_string(message));
	fcgi_send_json(r, status, o);
	json_object_put(o);
	return 0;
}

/* The layer's own errors (unknown path, wrong method, bad request), XRPC-shaped. */
void hold_layer_error(fcgi_req *r, int status, const char *message)
{
	const char *name = status == 404 ? "NotFound"
			   : status == 405 ? "MethodNotAllowed"
			   : status == 413 ? "PayloadTooLarge"
			   : status >= 500 ? "InternalServerError"
					   : "InvalidRequest";
	hold_xrpc_error(r, status, name, message);
}

int hold_reply(fcgi_req *r, ...)
{
	json_object *o = json_object_new_object();
	va_list ap;
	va_start(ap, r);
	for (const char *name; (name = va_arg(ap, const char *));)
		json_object_object_add(o, name, json_object_new_string(va_arg(ap, const char *)));
	va_end(ap);
	fcgi_send_json(r, 200, o);
	json_object_put(o);
	return 0;
}

json_object *hold_read_json(fcgi_req *r, size_t max)
{
	buf_t body = BUF_INIT;
	int rc = fcgi_read_body(r, &body, max);
	json_object *j = NULL;
	if (rc == -1) {
		hold_xrpc_error(r, 413, "PayloadTooLarge", "request body too large");
	} else if (rc != 0) {
		hold_xrpc_error(r, 400, "InvalidRequest", "could not read the request body");
	} else {
		json_tokener *tok = json_tokener_new();
		j = json_tokener_parse_ex(tok, body.data ? body.data : "", (int)body.len);
		if (!j || json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(j, json_type_object)) {
			json_object_put(j);
			j = NULL;
			hold_xrpc_error(r, 400, "InvalidRequest", "the body must be a JSON object");
		}
		json_tokener_free(tok);
	}
	buf_free(&body);
	return j;
}

