/* appview.h - the atcr-appview program's shared context and the handlers its route table names.
 * Handlers live in one file per surface (registry.c, health.c, ...); appview.c only wires them. */
#ifndef ATCR_APPVIEW_H
#define ATCR_APPVIEW_H
#include "config.h"
#include "crypto.h"
#include "fcgi.h"
#include "identity.h"
#include "oauth.h"
#include "regtoken.h"
#include "xrpc.h"

/* Read-only after startup; every request sees it as r->app. */
typedef struct {
	const config *cfg;
	const char *base_url;     /* server.base_url */
	const char *service_name; /* server.service_name, or the host of base_url */
	crypto_key *token_key;    /* signs registry tokens (auth.key_path) */
	regtoken_config tokens;
	identity_ctx ident;       /* template: .db is set per thread by appview_identity() */
	const char *db_path;
	struct tmpl_set *ui_templates; /* ui.templates_dir, loaded by ui_start */
} appview;

/* This thread's connection to the index (NULL, logged, when it cannot be opened). */
sqlite3 *appview_db(const appview *av);
/* The identity resolver bound to this thread's connection. */
identity_ctx appview_identity(const appview *av);

/* cgi/auth.c: the Docker token endpoint, GET and POST /auth/token. */
int auth_token(fcgi_req *r);

/* cgi/device.c: the credential helper's device login (a form or JSON in, JSON out). POST
 * /auth/device/code starts an authorization; POST /auth/device/token polls it (RFC 8628 errors) and,
 * once approved on /device, answers {did, handle, device_secret} once. */
int device_code_post(fcgi_req *r);
int device_token_post(fcgi_req *r);

/* cgi/registry.c: the OCI Distribution API under /v2/. */

/* GET /v2/ (and /v2): the API version check docker starts with. */
int registry_base(fcgi_req *r);
/* Everything below /v2/ (r->rest is the part after "/v2/"); parses <name>/<endpoint>/<ref>. */
int registry_v2(fcgi_req *r);
/* An OCI error body {"errors":[{"code","message","detail"}]} with the API version header.
 * detail_name, when not NULL, becomes {"name": ...}. */
int registry_send_error(fcgi_req *r, int status, const char *code, const char *message, const char *detail_name);
/* did's profile now names hold_did as defaultHold ("" or NULL: none): the next push uses it at once,
 * not when this process's cached copy of the profile expires (the settings page calls it). */
void registry_profile_changed(const char *did, const char *hold_did);
/* The layer's own errors (400/404/405/413/500) for /v2 paths, in OCI form. */
void registry_layer_error(fcgi_req *r, int status, const char *message);

/* cgi/health.c: GET /health, for load balancers and the test runner. */
int health_get(fcgi_req *r);

/* cgi/oauth.c: web login with ATProto OAuth, the UI session cookie and CSRF tokens. */

/* GET /client-metadata.json and GET /auth/oauth/jwks.json (404 for the loopback development client). */
int login_client_metadata(fcgi_req *r);
int login_jwks(fcgi_req *r);
/* GET /login (the form; when logged in, who and a logout button), POST /auth/login (handle, csrf, next:
 * 303 to the user's authorization server), GET /auth/oauth/callback, POST /auth/logout (csrf). */
int login_page(fcgi_req *r);
int login_post(fcgi_req *r);
int login_callback(fcgi_req *r);
int logout_post(fcgi_req *r);

/* This process's OAuth client (made on first use; NULL, logged, when it cannot be): lib/pdsuser refreshes
 * OAuth sessions with it when the registry writes as a device-secret user. */
const oauth_client *login_oauth_client(const appview *av);

/* The logged-in user of a request. csrf is the token every state-changing form must post as "csrf". */
typedef struct {
	char *did;
	char *handle; /* NULL when the handle was not verified at login */
	char *csrf;
} login_user;
/* 1 with u filled (free with login_user_free) when the request carries a live session cookie, else 0. */
int login_user_get(fcgi_req *r, login_user *u);
void login_user_free(login_user *u);
/* 1 when a posted form's token matches u's session (constant time). Check it on every POST. */
int login_csrf_ok(const login_user *u, const char *form_token);
/* An XRPC call to did's PDS with its OAuth session (DPoP-bound, refreshed as needed): method "GET" for a
 * query (params: NULL-terminated name, value, ... list) or "POST" for a procedure (input JSON or NULL).
 * The result (caller puts), or NULL with e filled (caller frees; 401 AuthRequired: log in again). */
json_object *login_xrpc(fcgi_req *r, const char *did, const char *method, const char *nsid, const char *const *params,
			const json_object *input, xrpc_error *e);

/* cgi/ui*.c: the web UI's read-only pages (server-rendered HTML, lib/tmpl). */

/* Load ui.templates_dir into av->ui_templates (start-up). Always 0: without templates (logged) the
 * registry still serves and UI pages answer 503; err is for a future fatal case. */
int ui_start(appview *av, char **err);
void ui_stop(appview *av);
/* An HTML error page in the layout, for paths where ui_wants_html() says so (the layer's 404 and 500). */
void ui_error_page(fcgi_req *r, int status, const char *message);
/* Render template tmpl with ctx (not consumed) inside the layout and send it with status. 0, or -1 when
 * nothing could be rendered (the layer then answers the 500 page). */
int ui_html(fcgi_req *r, int status, const char *tmpl, const char *title, json_object *ctx);
/* 1 for paths a browser reads (not /v2, /xrpc/, /auth/, /health, /.well-known/, ...). */
int ui_wants_html(const char *path);
int ui_home(fcgi_req *r);   /* GET / */
int ui_repo(fcgi_req *r);   /* GET /r/<owner>/<repo>[/manifests/<digest>] */
int ui_user(fcgi_req *r);   /* GET /u/<owner> */
int ui_search(fcgi_req *r); /* GET /search?q=&page= */

/* cgi/ui-star.c: POST /r/<owner>/<repo>/star (csrf, action=star|unstar): the star record in the logged-in
 * user's PDS and its row in the index, then 303 back to the page (403 bad token, 303 /login logged out). */
int ui_star(fcgi_req *r);
/* GET /settings (logged in: the default hold, crew and storage on each known hold), POST /settings
 * (csrf, default_hold: a hold DID, or "" for the registry's default). */
int ui_settings(fcgi_req *r);
int ui_settings_post(fcgi_req *r);
/* cgi/ui-holddata.c: POST /settings/hold-data (csrf, hold, action=export|delete, confirm=yes for delete):
 * the user's data on a hold as a JSON download, or deleted there (then the settings page says what). */
int ui_hold_data_post(fcgi_req *r);
/* For the repository page: ctx gets "star": {csrf, starred} when r's user is logged in. 0, or -1 logged. */
int ui_star_state(fcgi_req *r, sqlite3 *db, const char *did, const char *repository, json_object *ctx);
/* cgi/ui-device.c: GET /device[?code=] (logged in: the code's device with Approve / Deny; logged out:
 * 303 to the login, back here after), POST /device (csrf, user_code, decision=approve|deny), and
 * POST /settings/devices/revoke (csrf, device: an id of the user's devices). */
int ui_device(fcgi_req *r);
int ui_device_post(fcgi_req *r);
int ui_device_revoke(fcgi_req *r);
/* For the settings page: ctx gets "devices": did's devices with display dates. 0, or -1 logged. */
int ui_devices_state(fcgi_req *r, sqlite3 *db, const char *did, json_object *ctx);

#endif
