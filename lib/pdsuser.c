/* pdsuser.c - calls to a user's PDS with whichever session the user has (see pdsuser.h). */
#include "pdsuser.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "pdssession.h"
#include "session.h"

static pthread_mutex_t source_lock = PTHREAD_MUTEX_INITIALIZER;
static pdsuser_oauth_source source_get;
static const void *source_arg;

void pdsuser_set_oauth_source(pdsuser_oauth_source get, const void *arg)
{
	pthread_mutex_lock(&source_lock);
	source_get = get;
	source_arg = arg;
	pthread_mutex_unlock(&source_lock);
}

static const oauth_client *oauth_source(void)
{
	pthread_mutex_lock(&source_lock);
	pdsuser_oauth_source get = source_get;
	const void *arg = source_arg;
	pthread_mutex_unlock(&source_lock);
	return get ? get(arg) : NULL;
}

static int has_row(sqlite3 *db, const char *sql, const char *did)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

int pdsuser_session_kind(sqlite3 *db, const char *did)
{
	if (!db || !did || !*did)
		return PDSUSER_NONE;
	if (has_row(db, "SELECT 1 FROM registry_logins WHERE did = ?", did))
		return PDSUSER_APP_PASSWORD;
	if (has_row(db, "SELECT 1 FROM oauth_sessions WHERE did = ?", did))
		return PDSUSER_OAUTH;
	return PDSUSER_NONE;
}

/* The request body of call: its raw body, its input as JSON, or none (*len 0, NULL). */
static const void *call_body(const pdsuser_call *call, size_t *len, const char **content_type)
{
	*len = 0;
	*content_type = NULL;
	if (strcmp(call->method, "POST") != 0)
		return NULL;
	if (call->body) {
		*len = call->body_len;
		*content_type = call->content_type ? call->content_type : "application/octet-stream";
		return call->body;
	}
	if (!call->input)
		return NULL;
	const char *json = json_object_to_json_string_ext((json_object *)call->input, JSON_C_TO_STRING_PLAIN);
	*len = json ? strlen(json) : 0;
	*content_type = "application/json";
	return json;
}

/* One call with the app-password session's access token. */
static json_object *bearer_call(const http_opts *o, const pds_session *s, const pdsuser_call *call, xrpc_error *e)
{
	size_t len;
	const char *ctype_value;
	const void *body = call_body(call, &len, &ctype_value);
	char *url = xrpc_url(s->pds, call->nsid, call->params), *auth = buf_strf("Authorization: Bearer %s", s->access);
	char *ctype = ctype_value ? buf_strf("Content-Type: %s", ctype_value) : NULL;
	const char *headers[] = {auth, "Accept: application/json", ctype, NULL};
	http_request req = {.method = call->method, .url = url, .headers = headers, .body = body, .body_len = len};
	http_response resp = {0};
	json_object *out = NULL;
	xrpc_error_free(e);
	if (!url || !auth || (ctype_value && !ctype)) {
		e->error = strdup("TransportError");
		goto out;
	}
	if (http_do(o, &req, &resp) != 0) {
		e->error = strdup("TransportError");
		e->message = resp.error ? strdup(resp.error) : NULL;
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		xrpc_error_from_response(resp.status, resp.body.data, resp.body.len, e);
		goto out;
	}
	out = resp.body.len ? json_tokener_parse(buf_str(&resp.body)) : json_object_new_object();
	if (!out) {
		e->status = resp.status;
		e->error = strdup("InvalidResponse");
		e->message = strdup("the PDS answered something other than JSON");
	}
out:
	http_response_free(&resp);
	free(url);
	free(auth);
	free(ctype);
	return out;
}

/* The call with the app-password session of did, refreshed once when it expired. *usable = 0 when the
 * session is over (none, or the PDS refuses it even after a refresh): the caller tries OAuth then. */
static json_object *app_password_call(sqlite3 *db, const http_opts *o, const char *did, const pdsuser_call *call,
				      int *usable, xrpc_error *e)
{
	pds_session s = {0};
	json_object *out = NULL;
	*usable = pds_session_load(db, did, &s) == 0;
	if (!*usable)
		return NULL;
	out = bearer_call(o, &s, call, e);
	if (!out && pds_session_expired(e)) {
		if (pds_session_refresh(db, o, did, &s) == 0)
			out = bearer_call(o, &s, call, e);
		*usable = out || !pds_session_expired(e);
	}
	pds_session_free(&s);
	return out;
}

json_object *pdsuser_xrpc(sqlite3 *db, const http_opts *o, const char *did, const pdsuser_call *call, xrpc_error *e)
{
	int usable = 0;
	memset(e, 0, sizeof *e);
	json_object *out = db ? app_password_call(db, o, did, call, &usable, e) : NULL;
	if (out || usable)
		return out;
	const oauth_client *c = db ? oauth_source() : NULL;
	xrpc_error_free(e);
	if (!c) {
		e->status = 401;
		e->error = strdup("AuthRequired");
		e->message = strdup("no session with this user's PDS");
		return NULL;
	}
	size_t len;
	const char *ctype;
	const void *body = call_body(call, &len, &ctype);
	out = session_oauth_call(db, o, c, did, call->method, call->nsid, call->params, body, len, ctype, e);
	if (!out && e->status == 401)
		log_info("the OAuth session of %s is not usable: %s", did, e->message ? e->message : e->error);
	return out;
}
