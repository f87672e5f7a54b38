/* pdsuser.h - XRPC calls to a user's own PDS as that user, with whichever session the AppView holds for
 * them: the app-password session /auth/token keeps (registry_logins) first, else the OAuth session of
 * their web login (DPoP-bound; what a device-secret login pushes with). Either is refreshed when the PDS
 * says its token expired. The registry's writes (manifests, service tokens for holds) go through here. */
#ifndef ATCR_PDSUSER_H
#define ATCR_PDSUSER_H
#include <json-c/json.h>
#include <sqlite3.h>
#include <stddef.h>

#include "http.h"
#include "oauth.h"
#include "xrpc.h"

/* Where OAuth sessions are refreshed from: the program's OAuth client, made when first asked (it may
 * load a key file). Set once at start-up, before any thread calls; without it only app-password
 * sessions are used. get returns NULL when the client cannot be made (logged by get). */
typedef const oauth_client *(*pdsuser_oauth_source)(const void *arg);
void pdsuser_set_oauth_source(pdsuser_oauth_source get, const void *arg);

/* One call. A query ("GET") sends params; a procedure ("POST") sends input as JSON, or body_len bytes of
 * body as content_type (uploadBlob), or nothing. */
typedef struct {
	const char *method;
	const char *nsid;
	const char *const *params;  /* NULL-terminated name, value, ... list (NULL values skipped); may be NULL */
	const json_object *input;
	const void *body;
	size_t body_len;
	const char *content_type;
} pdsuser_call;

/* Which session the index has for did. */
enum { PDSUSER_NONE = 0, PDSUSER_APP_PASSWORD = 1, PDSUSER_OAUTH = 2 };
int pdsuser_session_kind(sqlite3 *db, const char *did);

/* Make call on did's PDS as did. The JSON answer ({} for an empty one; caller puts), or NULL with e filled
 * (caller frees): status 401 and error "AuthRequired" when did has no session the PDS still honours.
 * An app-password session that cannot be renewed any more falls back to the OAuth session. */
json_object *pdsuser_xrpc(sqlite3 *db, const http_opts *o, const char *did, const pdsuser_call *call, xrpc_error *e);

#endif
