/* session.h - web logins kept in the index: UI sessions (a random cookie of which only the SHA-256 is
 * stored, a CSRF token each, expiry), pending OAuth logins, and the OAuth sessions that write to PDSes. */
#ifndef ATCR_SESSION_H
#define ATCR_SESSION_H
#include <sqlite3.h>

#include "crypto.h"
#include "http.h"
#include "oauth.h"
#include "xrpc.h"

#define SESSION_COOKIE "atcr_session"
/* A logged-out browser's CSRF token (double-submit cookie) for the login form. */
#define SESSION_CSRF_COOKIE "atcr_csrf"
/* UI sessions last this long (seconds); the OAuth session behind one is refreshed as needed. */
#define SESSION_TTL (30LL * 24 * 3600)
/* A pending login (PAR to callback) is honoured this long (seconds). */
#define SESSION_PENDING_TTL 600

/* ---- cookies and CSRF (pure) */

/* The value of cookie name in a Cookie request header ("a=1; b=2"); the first one wins. Caller frees;
 * NULL when absent or when header is NULL. */
char *session_cookie_get(const char *header, const char *name);
/* A Set-Cookie value: name=value; Path=/; Max-Age=max_age; HttpOnly; SameSite=Lax, and Secure when secure.
 * max_age 0 deletes the cookie. NULL when name or value hold characters a cookie cannot carry. Caller frees. */
char *session_cookie_header(const char *name, const char *value, long long max_age, int secure);
/* A fresh secret: base64url of 32 random bytes (43 characters). Caller frees; NULL on failure. */
char *session_new_secret(void);
/* 1 when the CSRF token got equals want (constant time in the token's length); 0 when either is NULL or
 * empty, or they differ. */
int session_csrf_ok(const char *want, const char *got);

/* ---- UI sessions */

typedef struct {
	char *did;
	char *handle;
	char *csrf;
	long long expires_at;
} ui_session;

/* Create a session for did that lasts ttl seconds from now: the cookie value (*cookie) and its CSRF token
 * (*csrf), both caller frees. 0, or -1 with *err set. */
int session_create(sqlite3 *db, const char *did, const char *handle, long long now, long long ttl, char **cookie,
		   char **csrf, char **err);
/* The session a cookie value names: 1 (out filled; free with ui_session_free), 0 when there is none or it
 * expired, -1 on a database error. */
int session_load(sqlite3 *db, const char *cookie, long long now, ui_session *out);
/* Forget one session (logout). 0, or -1 on a database error. */
int session_delete(sqlite3 *db, const char *cookie);
/* Forget every UI session of did (its OAuth session ended). 0 or -1. */
int session_delete_did(sqlite3 *db, const char *did);
/* Remove expired UI sessions and stale pending logins (cron or opportunistically). Rows removed, or -1. */
int session_expire(sqlite3 *db, long long now);
void ui_session_free(ui_session *s);

/* ---- pending OAuth logins: from PAR to the callback */

typedef struct {
	char *state;               /* the key: the OAuth state parameter */
	char *did, *handle, *pds;  /* who is logging in, as resolved before PAR */
	char *issuer, *token_endpoint, *revocation_endpoint;
	char *verifier;            /* PKCE */
	crypto_key *dpop_key;      /* the session-to-be's DPoP key (owned) */
	char *nonce;               /* the authorization server's last DPoP nonce */
	char *return_to;           /* local path to go back to */
	long long created_at;
} oauth_pending;

/* Store p. 0, or -1 with *err set. */
int session_pending_put(sqlite3 *db, const oauth_pending *p, char **err);
/* Take (load and delete: a state is good once) the pending login of state if it is at most
 * SESSION_PENDING_TTL old. 1 (out filled; free with oauth_pending_free), 0 none, -1 on error. */
int session_pending_take(sqlite3 *db, const char *state, long long now, oauth_pending *out);
void oauth_pending_free(oauth_pending *p);

/* ---- OAuth sessions: one per DID, the tokens that write to the user's PDS */

typedef struct {
	char *did, *handle, *pds;
	char *issuer, *token_endpoint, *revocation_endpoint;
	char *access_token, *refresh_token, *scope;
	long long expires_at;
	crypto_key *dpop_key; /* owned */
	char *as_nonce;       /* DPoP nonces: the authorization server's and the PDS's */
	char *pds_nonce;
} oauth_session;

/* Insert or replace the session of s->did. 0, or -1 with *err set. */
int session_oauth_put(sqlite3 *db, const oauth_session *s, char **err);
/* 1 (out filled; free with oauth_session_free), 0 when did has none, -1 on error (*err set). */
int session_oauth_load(sqlite3 *db, const char *did, oauth_session *out, char **err);
/* Forget the OAuth session of did. 0 or -1. */
int session_oauth_delete(sqlite3 *db, const char *did);
void oauth_session_free(oauth_session *s);

/* Refresh s's tokens with its authorization server when they expire within margin seconds, or always when
 * force. Another request may have refreshed it first (the old refresh token is then retired): the stored
 * session is re-read before and after. 0 (s current, stored), OAUTH_DENIED when the session is over (the
 * caller logs the user out), OAUTH_ERROR; *err set on failure. */
int session_oauth_fresh(sqlite3 *db, const http_opts *o, const oauth_client *c, oauth_session *s, long long now,
			long long margin, int force, char **err);
/* Revoke the session's refresh token (else access token) at its authorization server; errors are only
 * reported (logout goes on). OAUTH_OK, OAUTH_DENIED or OAUTH_ERROR. */
int session_oauth_revoke(const http_opts *o, const oauth_client *c, oauth_session *s, char **err);

/* An XRPC call as did with its OAuth session (DPoP-bound): method "GET" (query: params) or "POST"
 * (procedure: input JSON, NULL for none). Tokens are refreshed before they expire and once more when the
 * PDS refuses them; new nonces and tokens are stored. The JSON result ({} for an empty body; caller puts),
 * or NULL with e filled (status 401, error "AuthRequired" when did has no usable session). */
json_object *session_oauth_xrpc(sqlite3 *db, const http_opts *o, const oauth_client *c, const char *did,
				const char *method, const char *nsid, const char *const *params,
				const json_object *input, xrpc_error *e);
/* The same with a raw body (NULL, or body_len bytes of content_type): uploadBlob. */
json_object *session_oauth_call(sqlite3 *db, const http_opts *o, const oauth_client *c, const char *did,
				const char *method, const char *nsid, const char *const *params, const void *body,
				size_t body_len, const char *content_type, xrpc_error *e);

#endif
