/* oauth.c - web login: the AppView as an ATProto OAuth client of each user's PDS (handle -> DID -> PDS ->
 * authorization server, PAR with PKCE and DPoP, callback, token exchange), the UI session cookie, CSRF
 * tokens on every state-changing form, logout with revocation, and the helpers other pages use to know
 * who is logged in and to write to their PDS. */
#include "appview.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "html.h"
#include "log.h"
#include "oauth.h"
#include "session.h"
#include "tmpl.h"
#include "ui.h"

#define FORM_MAX (16 * 1024)

/* ---- per-process state, made on first use and read-only afterwards */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int client_state; /* 0 not tried, 1 ready, -1 failed (retried on the next request) */
static oauth_client client;
static crypto_key *client_key;

/* The client key of a confidential client lives beside the registry token key, in its own file. */
static char *client_key_path(const appview *av)
{
	const char *kp = config_str(av->cfg, "auth.key_path");
	const char *slash = strrchr(kp, '/');
	return slash ? buf_strf("%.*s/oauth-client-key.pem", (int)(slash - kp), kp) : strdup("oauth-client-key.pem");
}

/* This process's OAuth client (loopback public client or confidential), or NULL (logged). */
static const oauth_client *the_client(const appview *av)
{
	char *err = NULL, *path = NULL;
	pthread_mutex_lock(&init_lock);
	if (client_state != 1) {
		path = client_key_path(av);
		if (!client_key)
			client_key = crypto_key_load_or_create(path, CRYPTO_P256, &err);
		if (client_key && oauth_client_init(&client, av->base_url, NULL, client_key, &err) == 0)
			client_state = 1;
		else
			log_error("OAuth client for %s: %s", av->base_url, err ? err : "no key");
	}
	pthread_mutex_unlock(&init_lock);
	free(path);
	free(err);
	return client_state == 1 ? &client : NULL;
}

const oauth_client *login_oauth_client(const appview *av)
{
	return the_client(av);
}

static http_opts http_options(const appview *av)
{
	return (http_opts){.timeout_s = (long)config_int(av->cfg, "http.timeout"),
			   .connect_timeout_s = 10,
			   .max_response = 1 << 20,
			   .allow_private = av->ident.test_mode};
}

static int secure_cookies(const appview *av)
{
	return strncmp(av->base_url, "https://", 8) == 0;
}

/* ---- pages */

/* Render template name with ctx (consumed) as an HTML page inside the UI's layout. */
static int page(fcgi_req *r, int status, const char *name, const char *title, json_object *ctx)
{
	int rc = ui_html(r, status, name, title, ctx);
	json_object_put(ctx);
	return rc;
}

static int error_page(fcgi_req *r, int status, const char *title, const char *message)
{
	json_object *ctx = json_object_new_object();
	json_object_object_add(ctx, "title", json_object_new_string(title));
	json_object_object_add(ctx, "message", json_object_new_string(message));
	return page(r, status, "oauth-error", title, ctx);
}

/* A local path to return to after login: "/..." but not "//host" or "/\host"; else "/". */
static const char *safe_next(const char *next)
{
	if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strlen(next) > 1024)
		return "/";
	for (const unsigned char *p = (const unsigned char *)next; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '\\')
			return "/";
	return next;
}

static void set_cookie(fcgi_req *r, const char *name, const char *value, long long max_age)
{
	char *c = session_cookie_header(name, value, max_age, secure_cookies(r->app));
	if (c)
		fcgi_add_header(r, "Set-Cookie", "%s", c);
	free(c);
}

/* ---- who is logged in */

int login_user_get(fcgi_req *r, login_user *u)
{
	const appview *av = r->app;
	memset(u, 0, sizeof *u);
	char *cookie = session_cookie_get(fcgi_header(r, "Cookie"), SESSION_COOKIE);
	ui_session s;
	int rc = cookie ? session_load(appview_db(av), cookie, (long long)time(NULL), &s) : 0;
	free(cookie);
	if (rc != 1)
		return 0;
	u->did = s.did;
	u->handle = s.handle;
	u->csrf = s.csrf;
	return 1;
}

void login_user_free(login_user *u)
{
	free(u->did);
	free(u->handle);
	free(u->csrf);
	memset(u, 0, sizeof *u);
}

int login_csrf_ok(const login_user *u, const char *form_token)
{
	return u && session_csrf_ok(u->csrf, form_token);
}

json_object *login_xrpc(fcgi_req *r, const char *did, const char *method, const char *nsid, const char *const *params,
			const json_object *input, xrpc_error *e)
{
	const appview *av = r->app;
	const oauth_client *c = the_client(av);
	http_opts o = http_options(av);
	if (!c) {
		memset(e, 0, sizeof *e);
		e->status = 500;
		e->error = strdup("InternalError");
		e->message = strdup("the OAuth client is not configured");
		return NULL;
	}
	return session_oauth_xrpc(appview_db(av), &o, c, did, method, nsid, params, input, e);
}

/* ---- client metadata and keys */

int login_client_metadata(fcgi_req *r)
{
	const oauth_client *c = the_client(r->app);
	char *err = NULL, *json;
	if (!c)
		return -1;
	if (!c->key) {
		fcgi_default_error(r, 404, "this AppView is a loopback (development) OAuth client: it has no metadata "
					   "document (server.base_url is not public)");
		return 0;
	}
	json = oauth_client_metadata_json(c, &err);
	if (!json) {
		log_error("client metadata: %s", err);
		free(err);
		return -1;
	}
	fcgi_add_header(r, "Cache-Control", "public, max-age=300");
	int rc = fcgi_send(r, 200, "application/json", json, strlen(json));
	free(json);
	return rc;
}

int login_jwks(fcgi_req *r)
{
	const oauth_client *c = the_client(r->app);
	if (!c)
		return -1;
	if (!c->key) {
		fcgi_default_error(r, 404, "a loopback (development) OAuth client has no keys");
		return 0;
	}
	char *json = oauth_jwks_json(c->key);
	if (!json)
		return -1;
	fcgi_add_header(r, "Cache-Control", "public, max-age=300");
	int rc = fcgi_send(r, 200, "application/json", json, strlen(json));
	free(json);
	return rc;
}

/* ---- the login form and the start of the flow */

/* A well-formed token of ours (43 base64url characters): a cookie we may keep using. */
static int token_shaped(const char *s)
{
	return s && strlen(s) == 43 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43;
}

int login_page(fcgi_req *r)
{
	login_user u;
	json_object *ctx = json_object_new_object();
	char *next = fcgi_query_get(r, "next"), *csrf = NULL;
	if (login_user_get(r, &u)) {
		json_object *user = json_object_new_object();
		json_object_object_add(user, "did", json_object_new_string(u.did));
		json_object_object_add(user, "handle", json_object_new_string(u.handle ? u.handle : u.did));
		json_object_object_add(user, "csrf", json_object_new_string(u.csrf));
		json_object_object_add(ctx, "user", user);
		login_user_free(&u);
	} else {
		/* Logged out: the form's token is a double-submit cookie, the same on every visit. */
		csrf = session_cookie_get(fcgi_header(r, "Cookie"), SESSION_CSRF_COOKIE);
		if (!token_shaped(csrf)) {
			free(csrf);
			csrf = session_new_secret();
			if (!csrf) {
				json_object_put(ctx);
				free(next);
				return -1;
			}
		}
		set_cookie(r, SESSION_CSRF_COOKIE, csrf, SESSION_PENDING_TTL * 6);
		json_object_object_add(ctx, "csrf", json_object_new_string(csrf));
		json_object_object_add(ctx, "next", json_object_new_string(safe_next(next)));
	}
	free(next);
	free(csrf);
	return page(r, 200, "oauth-login", "Log in", ctx);
}

/* The form's fields. 0, or an HTTP status (400, 413) when the body cannot be read. */
static int read_form(fcgi_req *r, buf_t *body)
{
	int rc = fcgi_read_body(r, body, FORM_MAX);
	if (rc != 0)
		return rc == -1 ? 413 : 400;
	if (!body->data)
		buf_puts(body, "");
	return fcgi_query_wellformed(body->data) ? 0 : 400;
}

/* Start a login for handle: resolve, discover, PAR, remember. 0 with *authorize_url (caller frees), or an
 * HTTP status with *why (caller frees) for the error page. */
static int start_login(const appview *av, const char *handle, const char *next, char **authorize_url, char **why)
{
	identity_ctx ic = appview_identity(av);
	identity id = {0};
	oauth_server as = {0};
	oauth_pending p = {0};
	http_opts o = http_options(av);
	const oauth_client *c = the_client(av);
	char *err = NULL, *challenge = NULL, *request_uri = NULL;
	int status = 500;
	*authorize_url = NULL;
	if (!c) {
		buf_error(why, "the OAuth client is not configured (see the AppView's log)");
		goto out;
	}
	if (identity_resolve(&ic, handle, 0, &id, &err) != 0) {
		status = 400;
		buf_error(why, "cannot find the account %s: %s", handle, err);
		goto out;
	}
	if (!id.pds) {
		status = 400;
		buf_error(why, "the account %s names no PDS", handle);
		goto out;
	}
	if (oauth_discover(&o, id.pds, &as, &err) != 0) {
		status = 502;
		buf_error(why, "the account's PDS offers no usable OAuth login: %s", err);
		goto out;
	}
	p.state = oauth_random_string(16);
	p.verifier = oauth_pkce_verifier();
	p.dpop_key = crypto_key_generate(CRYPTO_P256);
	challenge = p.verifier ? oauth_pkce_challenge(p.verifier) : NULL;
	if (!p.state || !challenge || !p.dpop_key) {
		buf_error(why, "no random values for the login");
		goto out;
	}
	oauth_flow f = {.http = &o, .client = c, .server = &as, .dpop_key = p.dpop_key, .nonce = NULL};
	int rc = oauth_par(&f, p.state, challenge, id.handle_verified ? id.handle : id.did, &request_uri, &err);
	p.nonce = f.nonce;
	if (rc != OAUTH_OK) {
		status = 502;
		log_warn("PAR for %s at %s: %s", id.did, as.issuer, err);
		buf_error(why, "the account's PDS refused to start the login: %s", err);
		goto out;
	}
	p.did = id.did;
	p.handle = id.handle_verified ? id.handle : NULL;
	p.pds = id.pds;
	p.issuer = as.issuer;
	p.token_endpoint = as.token_endpoint;
	p.revocation_endpoint = as.revocation_endpoint;
	p.return_to = (char *)next;
	p.created_at = (long long)time(NULL);
	if (session_pending_put(appview_db(av), &p, &err) != 0) {
		log_error("login of %s: %s", id.did, err);
		buf_error(why, "the login cannot be stored");
		goto out;
	}
	*authorize_url = oauth_authorize_url(&f, request_uri);
	status = *authorize_url ? 0 : 500;
	log_info("login of %s started at %s", id.did, as.issuer);
out:
	/* p borrowed id's and as's strings: free only what it owns. */
	free(p.state);
	free(p.verifier);
	free(p.nonce);
	crypto_key_free(p.dpop_key);
	free(challenge);
	free(request_uri);
	free(err);
	identity_free(&id);
	oauth_server_free(&as);
	return status;
}

int login_post(fcgi_req *r)
{
	const appview *av = r->app;
	buf_t body = BUF_INIT;
	login_user u = {0};
	char *token = NULL, *cookie_token = NULL, *handle = NULL, *next = NULL, *url = NULL, *why = NULL;
	int rc, status = read_form(r, &body);
	if (status) {
		rc = error_page(r, status, "Bad request", "The login form could not be read.");
		goto out;
	}
	token = ui_form_get(&body, "csrf");
	cookie_token = session_cookie_get(fcgi_header(r, "Cookie"), SESSION_CSRF_COOKIE);
	int logged_in = login_user_get(r, &u);
	if (!session_csrf_ok(cookie_token, token) && !(logged_in && login_csrf_ok(&u, token))) {
		log_info("login form refused: %s CSRF token", token ? "wrong" : "no");
		rc = error_page(r, 403, "Forbidden",
				"The form's security token is missing or does not match: reload the login page and "
				"try again (cookies must be enabled).");
		goto out;
	}
	handle = ui_form_get(&body, "handle");
	next = ui_form_get(&body, "next");
	if (handle) { /* people type "@alice.bsky.social" and trailing spaces */
		char *h = handle + strspn(handle, " \t@");
		memmove(handle, h, strlen(h) + 1);
		handle[strcspn(handle, " \t\r\n")] = '\0';
	}
	if (!handle || !*handle) {
		rc = error_page(r, 400, "Bad request", "Enter your handle (for example alice.bsky.social) or DID.");
		goto out;
	}
	status = start_login(av, handle, safe_next(next), &url, &why);
	rc = status ? error_page(r, status, "Login failed", why) : ui_see_other(r, url);
out:
	login_user_free(&u);
	buf_free(&body);
	free(token);
	free(cookie_token);
	free(handle);
	free(next);
	free(url);
	free(why);
	return rc;
}

/* ---- the callback */

int login_callback(fcgi_req *r)
{
	const appview *av = r->app;
	http_opts o = http_options(av);
	const oauth_client *c = the_client(av);
	oauth_pending p = {0};
	oauth_tokens t = {0};
	oauth_session s = {0};
	char *state = fcgi_query_get(r, "state"), *err = NULL, *code = NULL, *cookie = NULL, *csrf = NULL;
	sqlite3 *db = appview_db(av);
	long long now = (long long)time(NULL);
	int rc, got = state && c ? session_pending_take(db, state, now, &p) : 0;
	if (got != 1) {
		rc = error_page(r, 400, "Login failed",
				"This login is unknown or expired (each login link works once, for ten minutes): "
				"start again.");
		goto out;
	}
	oauth_server as = {.issuer = p.issuer, .token_endpoint = p.token_endpoint,
			   .revocation_endpoint = p.revocation_endpoint};
	oauth_flow f = {.http = &o, .client = c, .server = &as, .dpop_key = p.dpop_key, .nonce = p.nonce};
	p.nonce = NULL; /* the flow owns it now */
	int orc = oauth_callback_parse(r->query, p.state, p.issuer, &code, &err);
	if (orc == OAUTH_OK)
		orc = oauth_token_code(&f, code, p.verifier, p.did, &t, &err);
	if (orc != OAUTH_OK) {
		log_info("login of %s failed: %s", p.did, err);
		rc = error_page(r, orc == OAUTH_DENIED ? 403 : 502, "Login failed", err);
		free(f.nonce);
		goto out;
	}
	s = (oauth_session){.did = p.did, .handle = p.handle, .pds = p.pds, .issuer = p.issuer,
			    .token_endpoint = p.token_endpoint, .revocation_endpoint = p.revocation_endpoint,
			    .access_token = t.access_token, .refresh_token = t.refresh_token, .scope = t.scope,
			    .expires_at = t.expires_at, .dpop_key = p.dpop_key, .as_nonce = f.nonce};
	int stored = session_oauth_put(db, &s, &err) == 0 &&
		     session_create(db, p.did, p.handle, now, SESSION_TTL, &cookie, &csrf, &err) == 0;
	free(f.nonce);
	if (!stored) {
		log_error("login of %s: %s", p.did, err);
		rc = error_page(r, 500, "Login failed", "The session could not be stored.");
		goto out;
	}
	log_info("login of %s (%s) done", p.did, p.handle ? p.handle : "no verified handle");
	set_cookie(r, SESSION_COOKIE, cookie, SESSION_TTL);
	rc = ui_see_other(r, safe_next(p.return_to));
out:
	oauth_tokens_free(&t);
	oauth_pending_free(&p);
	free(state);
	free(err);
	free(code);
	free(cookie);
	free(csrf);
	return rc;
}

/* ---- logout */

int logout_post(fcgi_req *r)
{
	const appview *av = r->app;
	buf_t body = BUF_INIT;
	login_user u = {0};
	oauth_session s = {0};
	http_opts o = http_options(av);
	sqlite3 *db = appview_db(av);
	char *token = NULL, *err = NULL, *cookie = NULL;
	int rc, status = read_form(r, &body);
	if (status) {
		rc = error_page(r, status, "Bad request", "The logout form could not be read.");
		goto out;
	}
	token = ui_form_get(&body, "csrf");
	if (!login_user_get(r, &u)) {
		set_cookie(r, SESSION_COOKIE, "", 0);
		rc = ui_see_other(r, "/login");
		goto out;
	}
	if (!login_csrf_ok(&u, token)) {
		log_info("logout of %s refused: %s CSRF token", u.did, token ? "wrong" : "no");
		rc = error_page(r, 403, "Forbidden", "The form's security token is missing or does not match: reload "
						     "the page and try again.");
		goto out;
	}
	const oauth_client *c = the_client(av);
	if (c && session_oauth_load(db, u.did, &s, &err) == 1 &&
	    session_oauth_revoke(&o, c, &s, &err) != OAUTH_OK)
		log_warn("logout of %s: revocation failed: %s", u.did, err);
	/* The OAuth session is gone, so every browser of this account is logged out. */
	session_oauth_delete(db, u.did);
	session_delete_did(db, u.did);
	cookie = session_cookie_get(fcgi_header(r, "Cookie"), SESSION_COOKIE);
	session_delete(db, cookie);
	log_info("logout of %s", u.did);
	set_cookie(r, SESSION_COOKIE, "", 0);
	rc = ui_see_other(r, "/");
out:
	oauth_session_free(&s);
	login_user_free(&u);
	buf_free(&body);
	free(token);
	free(err);
	free(cookie);
	return rc;
}
