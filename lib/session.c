/* session.c - UI sessions, pending OAuth logins and OAuth sessions in the index (see session.h). */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "db.h"
#include "encoding.h"
#include "log.h"

/* ---- cookies and CSRF */

char *session_cookie_get(const char *header, const char *name)
{
	size_t nlen = name ? strlen(name) : 0;
	const char *p = header;
	if (!p || !nlen)
		return NULL;
	while (*p) {
		p += strspn(p, " \t;");
		size_t len = strcspn(p, ";");
		const char *eq = memchr(p, '=', len);
		if (eq) {
			const char *k = p, *kend = eq;
			while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
				kend--;
			if ((size_t)(kend - k) == nlen && memcmp(k, name, nlen) == 0) {
				const char *v = eq + 1, *vend = p + len;
				v += strspn(v, " \t");
				while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
					vend--;
				if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
					v++;
					vend--;
				}
				return strndup(v, (size_t)(vend - v));
			}
		}
		p += len;
	}
	return NULL;
}

/* RFC 6265 cookie-octet (and token characters for names): no controls, space, '"', ',', ';', '\\'. */
static int cookie_safe(const char *s, int is_name)
{
	if (!s || (is_name && !*s))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == ',' || *p == ';' || *p == '\\' ||
		    (is_name && *p == '='))
			return 0;
	return 1;
}

char *session_cookie_header(const char *name, const char *value, long long max_age, int secure)
{
	if (!cookie_safe(name, 1) || !cookie_safe(value, 0) || max_age < 0)
		return NULL;
	return buf_strf("%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s", name, value, max_age,
			secure ? "; Secure" : "");
}

char *session_new_secret(void)
{
	unsigned char raw[32];
	if (crypto_random(raw, sizeof raw) != 0)
		return NULL;
	char *s = enc_b64url_encode(raw, sizeof raw);
	memset(raw, 0, sizeof raw);
	return s;
}

int session_csrf_ok(const char *want, const char *got)
{
	if (!want || !got || !*want)
		return 0;
	size_t n = strlen(want);
	/* Length is not secret (always 43 characters); the bytes are compared in constant time. */
	return strlen(got) == n && crypto_memeq(want, got, n);
}

/* Free a string that held a secret (a PEM private key), wiping it first. */
static void free_secret(char *s)
{
	if (s)
		OPENSSL_clear_free(s, strlen(s));
}

/* hex SHA-256 of a cookie value: the only form in which the index knows it. */
static void cookie_hash(const char *cookie, char out[65])
{
	unsigned char h[32];
	crypto_sha256(cookie, strlen(cookie), h);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Run a statement with one text parameter to completion: 0, or -1 (logged). */
static int exec1(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st = db ? db_prepare(db, sql) : NULL;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	if (rc)
		log_warn("session: %s", sqlite3_errmsg(db));
	sqlite3_reset(st);
	return rc;
}

/* ---- UI sessions */

int session_create(sqlite3 *db, const char *did, const char *handle, long long now, long long ttl, char **cookie,
		   char **csrf, char **err)
{
	char *c = session_new_secret(), *t = session_new_secret(), hash[65];
	int rc = -1;
	sqlite3_stmt *st = NULL;
	*cookie = *csrf = NULL;
	if (!c || !t) {
		buf_error(err, "no random bytes for a session");
		goto out;
	}
	cookie_hash(c, hash);
	st = db_prepare(db, "INSERT INTO ui_sessions (id_hash, did, handle, csrf, created_at, expires_at) "
			    "VALUES (?, ?, ?, ?, ?, ?)");
	if (!st) {
		buf_error(err, "cannot store the session: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, did, -1, SQLITE_STATIC);
	bind_opt(st, 3, handle);
	sqlite3_bind_text(st, 4, t, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now + ttl);
	if (sqlite3_step(st) != SQLITE_DONE) {
		buf_error(err, "cannot store the session: %s", sqlite3_errmsg(db));
		goto out;
	}
	*cookie = c;
	*csrf = t;
	c = t = NULL;
	rc = 0;
out:
	if (st)
		sqlite3_reset(st);
	free(c);
	free(t);
	return rc;
}

int session_load(sqlite3 *db, const char *cookie, long long now, ui_session *out)
{
	char hash[65];
	memset(out, 0, sizeof *out);
	if (!cookie || !*cookie)
		return 0;
	sqlite3_stmt *st = db ? db_prepare(db, "SELECT did, handle, csrf, expires_at FROM ui_sessions "
					       "WHERE id_hash = ?")
			      : NULL;
	if (!st)
		return -1;
	cookie_hash(cookie, hash);
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 3) > now) {
		out->did = col_dup(st, 0);
		out->handle = col_dup(st, 1);
		out->csrf = col_dup(st, 2);
		out->expires_at = sqlite3_column_int64(st, 3);
		rc = out->did && out->csrf ? 1 : -1;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_reset(st);
	if (rc != 1)
		ui_session_free(out);
	return rc;
}

int session_delete(sqlite3 *db, const char *cookie)
{
	char hash[65];
	if (!cookie)
		return 0;
	cookie_hash(cookie, hash);
	return exec1(db, "DELETE FROM ui_sessions WHERE id_hash = ?", hash);
}

int session_delete_did(sqlite3 *db, const char *did)
{
	return exec1(db, "DELETE FROM ui_sessions WHERE did = ?", did);
}

int session_expire(sqlite3 *db, long long now)
{
	int total = 0;
	const char *sql[] = {"DELETE FROM ui_sessions WHERE expires_at <= ?",
			     "DELETE FROM oauth_requests WHERE created_at <= ?"};
	long long cut[] = {now, now - SESSION_PENDING_TTL};
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st = db ? db_prepare(db, sql[i]) : NULL;
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, cut[i]);
		int ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_reset(st);
		if (!ok)
			return -1;
		total += sqlite3_changes(db);
	}
	return total;
}

void ui_session_free(ui_session *s)
{
	free(s->did);
	free(s->handle);
	free(s->csrf);
	memset(s, 0, sizeof *s);
}

/* ---- pending logins */

int session_pending_put(sqlite3 *db, const oauth_pending *p, char **err)
{
	char *pem = crypto_key_to_pem(p->dpop_key);
	int rc = -1;
	sqlite3_stmt *st = pem ? db_prepare(db, "INSERT INTO oauth_requests (state, did, handle, pds, issuer, "
						 "token_endpoint, revocation_endpoint, verifier, dpop_key, nonce, "
						 "return_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			       : NULL;
	if (!st) {
		buf_error(err, "cannot store the login: %s", pem ? sqlite3_errmsg(db) : "no DPoP key");
		goto out;
	}
	sqlite3_bind_text(st, 1, p->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->did, -1, SQLITE_STATIC);
	bind_opt(st, 3, p->handle);
	sqlite3_bind_text(st, 4, p->pds, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, p->token_endpoint, -1, SQLITE_STATIC);
	bind_opt(st, 7, p->revocation_endpoint);
	sqlite3_bind_text(st, 8, p->verifier, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, pem, -1, SQLITE_STATIC);
	bind_opt(st, 10, p->nonce);
	sqlite3_bind_text(st, 11, p->return_to ? p->return_to : "/", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, p->created_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		buf_error(err, "cannot store the login: %s", sqlite3_errmsg(db));
	else
		rc = 0;
	sqlite3_reset(st);
out:
	free_secret(pem);
	return rc;
}

int session_pending_take(sqlite3 *db, const char *state, long long now, oauth_pending *out)
{
	memset(out, 0, sizeof *out);
	if (!state || !*state || !db)
		return 0;
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM oauth_requests WHERE state = ? RETURNING did, handle, pds, "
					  "issuer, token_endpoint, revocation_endpoint, verifier, dpop_key, nonce, "
					  "return_to, created_at");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 10) > now - SESSION_PENDING_TTL) {
		const char *pem = (const char *)sqlite3_column_text(st, 7);
		out->state = strdup(state);
		out->did = col_dup(st, 0);
		out->handle = col_dup(st, 1);
		out->pds = col_dup(st, 2);
		out->issuer = col_dup(st, 3);
		out->token_endpoint = col_dup(st, 4);
		out->revocation_endpoint = col_dup(st, 5);
		out->verifier = col_dup(st, 6);
		out->dpop_key = pem ? crypto_key_from_pem(pem, strlen(pem), NULL) : NULL;
		out->nonce = col_dup(st, 8);
		out->return_to = col_dup(st, 9);
		out->created_at = sqlite3_column_int64(st, 10);
		rc = out->did && out->pds && out->issuer && out->token_endpoint && out->verifier && out->dpop_key &&
			     out->return_to
			     ? 1
			     : -1;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	}
	/* RETURNING rows are produced before the delete is final: step to the end. */
	while (sqlite3_step(st) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	if (rc != 1)
		oauth_pending_free(out);
	return rc;
}

void oauth_pending_free(oauth_pending *p)
{
	free(p->state);
	free(p->did);
	free(p->handle);
	free(p->pds);
	free(p->issuer);
	free(p->token_endpoint);
	free(p->revocation_endpoint);
	free(p->verifier);
	crypto_key_free(p->dpop_key);
	free(p->nonce);
	free(p->return_to);
	memset(p, 0, sizeof *p);
}

/* ---- OAuth sessions */

int session_oauth_put(sqlite3 *db, const oauth_session *s, char **err)
{
	char *pem = crypto_key_to_pem(s->dpop_key);
	int rc = -1;
	sqlite3_stmt *st = pem ? db_prepare(db, "INSERT OR REPLACE INTO oauth_sessions (did, handle, pds, issuer, "
						 "token_endpoint, revocation_endpoint, access_token, refresh_token, "
						 "scope, expires_at, dpop_key, as_nonce, pds_nonce, updated_at) "
						 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			       : NULL;
	if (!st) {
		buf_error(err, "cannot store the OAuth session: %s", pem ? sqlite3_errmsg(db) : "no DPoP key");
		goto out;
	}
	sqlite3_bind_text(st, 1, s->did, -1, SQLITE_STATIC);
	bind_opt(st, 2, s->handle);
	sqlite3_bind_text(st, 3, s->pds, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, s->token_endpoint, -1, SQLITE_STATIC);
	bind_opt(st, 6, s->revocation_endpoint);
	sqlite3_bind_text(st, 7, s->access_token, -1, SQLITE_STATIC);
	bind_opt(st, 8, s->refresh_token);
	bind_opt(st, 9, s->scope);
	sqlite3_bind_int64(st, 10, s->expires_at);
	sqlite3_bind_text(st, 11, pem, -1, SQLITE_STATIC);
	bind_opt(st, 12, s->as_nonce);
	bind_opt(st, 13, s->pds_nonce);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		buf_error(err, "cannot store the OAuth session: %s", sqlite3_errmsg(db));
	else
		rc = 0;
	sqlite3_reset(st);
out:
	free_secret(pem);
	return rc;
}

int session_oauth_load(sqlite3 *db, const char *did, oauth_session *out, char **err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = db && did ? db_prepare(db, "SELECT handle, pds, issuer, token_endpoint, revocation_endpoint, "
						      "access_token, refresh_token, scope, expires_at, dpop_key, "
						      "as_nonce, pds_nonce FROM oauth_sessions WHERE did = ?")
				     : NULL;
	if (!st) {
		buf_error(err, "cannot read OAuth sessions");
		return -1;
	}
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *pem = (const char *)sqlite3_column_text(st, 9);
		out->did = strdup(did);
		out->handle = col_dup(st, 0);
		out->pds = col_dup(st, 1);
		out->issuer = col_dup(st, 2);
		out->token_endpoint = col_dup(st, 3);
		out->revocation_endpoint = col_dup(st, 4);
		out->access_token = col_dup(st, 5);
		out->refresh_token = col_dup(st, 6);
		out->scope = col_dup(st, 7);
		out->expires_at = sqlite3_column_int64(st, 8);
		out->dpop_key = pem ? crypto_key_from_pem(pem, strlen(pem), NULL) : NULL;
		out->as_nonce = col_dup(st, 10);
		out->pds_nonce = col_dup(st, 11);
		rc = out->did && out->pds && out->issuer && out->token_endpoint && out->access_token && out->dpop_key
			     ? 1
			     : -1;
		if (rc < 0)
			buf_error(err, "the stored OAuth session of %s is unreadable", did);
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		buf_error(err, "cannot read OAuth sessions: %s", sqlite3_errmsg(db));
		rc = -1;
	}
	sqlite3_reset(st);
	if (rc != 1)
		oauth_session_free(out);
	return rc;
}

int session_oauth_delete(sqlite3 *db, const char *did)
{
	return exec1(db, "DELETE FROM oauth_sessions WHERE did = ?", did);
}

void oauth_session_free(oauth_session *s)
{
	free(s->did);
	free(s->handle);
	free(s->pds);
	free(s->issuer);
	free(s->token_endpoint);
	free(s->revocation_endpoint);
	free(s->access_token);
	free(s->refresh_token);
	free(s->scope);
	crypto_key_free(s->dpop_key);
	free(s->as_nonce);
	free(s->pds_nonce);
	memset(s, 0, sizeof *s);
}

/* The authorization server as far as refresh and revocation need it. */
static oauth_server server_of(const oauth_session *s)
{
	return (oauth_server){.issuer = s->issuer,
			      .token_endpoint = s->token_endpoint,
			      .revocation_endpoint = s->revocation_endpoint};
}

/* Replace s with the stored session when that has other tokens (another request refreshed). 1 replaced. */
static int take_newer(sqlite3 *db, oauth_session *s)
{
	oauth_session cur;
	if (session_oauth_load(db, s->did, &cur, NULL) != 1)
		return 0;
	if (strcmp(cur.access_token, s->access_token) == 0) {
		oauth_session_free(&cur);
		return 0;
	}
	oauth_session_free(s);
	*s = cur;
	return 1;
}

int session_oauth_fresh(sqlite3 *db, const http_opts *o, const oauth_client *c, oauth_session *s, long long now,
			long long margin, int force, char **err)
{
	if (take_newer(db, s))
		force = 0;
	if (!force && (!s->expires_at || !oauth_tokens_expiring(s->expires_at, now, margin)))
		return OAUTH_OK;
	if (!s->refresh_token) {
		buf_error(err, "the session expired and has no refresh token");
		return OAUTH_DENIED;
	}
	oauth_server as = server_of(s);
	oauth_flow f = {.http = o, .client = c, .server = &as, .dpop_key = s->dpop_key, .nonce = s->as_nonce};
	oauth_tokens t = {0};
	int rc = oauth_token_refresh(&f, s->refresh_token, s->did, &t, err);
	s->as_nonce = f.nonce;
	if (rc == OAUTH_DENIED && take_newer(db, s)) {
		/* Another request refreshed with the same token a moment ago: use what it stored. */
		free(*err);
		*err = NULL;
		return OAUTH_OK;
	}
	if (rc != OAUTH_OK)
		return rc;
	free(s->access_token);
	free(s->refresh_token);
	free(s->scope);
	s->access_token = t.access_token;
	s->refresh_token = t.refresh_token;
	s->scope = t.scope;
	s->expires_at = t.expires_at;
	t.access_token = t.refresh_token = t.scope = NULL;
	oauth_tokens_free(&t);
	log_info("OAuth session of %s refreshed", s->did);
	return session_oauth_put(db, s, err) == 0 ? OAUTH_OK : OAUTH_ERROR;
}

int session_oauth_revoke(const http_opts *o, const oauth_client *c, oauth_session *s, char **err)
{
	oauth_server as = server_of(s);
	if (!as.revocation_endpoint) {
		buf_error(err, "the authorization server has no revocation endpoint");
		return OAUTH_ERROR;
	}
	oauth_flow f = {.http = o, .client = c, .server = &as, .dpop_key = s->dpop_key, .nonce = s->as_nonce};
	int rc = oauth_revoke(&f, s->refresh_token ? s->refresh_token : s->access_token, err);
	s->as_nonce = f.nonce;
	return rc;
}

/* The PDS refused the access token in a way a refresh can cure. */
static int token_refused(const xrpc_error *e)
{
	return e->status == 401 && e->error &&
	       (strcmp(e->error, "invalid_token") == 0 || strcmp(e->error, "InvalidToken") == 0 ||
		strcmp(e->error, "ExpiredToken") == 0 || strcmp(e->error, "AuthenticationRequired") == 0 ||
		strcmp(e->error, "AuthMissing") == 0);
}

/* One DPoP-bound XRPC request with s's access token (body: NULL, or body_len bytes of content_type):
 * the parsed JSON, or NULL with e filled. */
static json_object *dpop_xrpc(const http_opts *o, oauth_session *s, const char *method, const char *nsid,
			      const char *const *params, const void *body, size_t body_len, const char *content_type,
			      xrpc_error *e)
{
	char *url = xrpc_url(s->pds, nsid, params), *err = NULL;
	char *ctype = body ? buf_strf("Content-Type: %s", content_type ? content_type : "application/octet-stream") : NULL;
	const char *headers[] = {ctype, "Accept: application/json", NULL};
	http_request req = {.method = method, .url = url, .headers = body ? headers : headers + 1, .body = body,
			    .body_len = body ? body_len : 0};
	http_response resp = {0};
	json_object *out = NULL;
	xrpc_error_free(e);
	if (!url || (body && !ctype)) {
		e->error = strdup("TransportError");
		goto out;
	}
	if (oauth_dpop_do(o, s->dpop_key, &s->pds_nonce, s->access_token, &req, &resp, &err) != 0) {
		e->error = strdup("TransportError");
		e->message = err;
		err = NULL;
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		xrpc_error_from_response(resp.status, resp.body.data, resp.body.len, e);
		/* RFC 6750 / 9449: the resource server names the problem in WWW-Authenticate. */
		const char *wa = http_response_header(&resp, "WWW-Authenticate");
		if (resp.status == 401 && wa && strstr(wa, "invalid_token")) {
			free(e->error);
			e->error = strdup("invalid_token");
		}
		goto out;
	}
	out = resp.body.len ? json_tokener_parse(buf_str(&resp.body)) : json_object_new_object();
	if (!out) {
		e->status = resp.status;
		e->error = strdup("HttpError");
		e->message = strdup("the PDS answered something other than JSON");
	}
out:
	http_response_free(&resp);
	free(url);
	free(ctype);
	free(err);
	return out;
}

json_object *session_oauth_xrpc(sqlite3 *db, const http_opts *o, const oauth_client *c, const char *did,
				const char *method, const char *nsid, const char *const *params,
				const json_object *input, xrpc_error *e)
{
	const char *body = strcmp(method, "POST") == 0 && input
				   ? json_object_to_json_string_ext((json_object *)input, JSON_C_TO_STRING_PLAIN)
				   : NULL;
	return session_oauth_call(db, o, c, did, method, nsid, params, body, body ? strlen(body) : 0,
				  "application/json", e);
}

json_object *session_oauth_call(sqlite3 *db, const http_opts *o, const oauth_client *c, const char *did,
				const char *method, const char *nsid, const char *const *params, const void *body,
				size_t body_len, const char *content_type, xrpc_error *e)
{
	oauth_session s;
	char *err = NULL;
	json_object *out = NULL;
	long long now = (long long)time(NULL);
	memset(e, 0, sizeof *e);
	if (session_oauth_load(db, did, &s, &err) != 1 ||
	    session_oauth_fresh(db, o, c, &s, now, 60, 0, &err) != OAUTH_OK) {
		e->status = 401;
		e->error = strdup("AuthRequired");
		e->message = err ? err : strdup("no OAuth session for this account: log in again");
		err = NULL;
		goto out;
	}
	out = dpop_xrpc(o, &s, method, nsid, params, body, body_len, content_type, e);
	if (!out && token_refused(e) && session_oauth_fresh(db, o, c, &s, now, 60, 1, &err) == OAUTH_OK)
		out = dpop_xrpc(o, &s, method, nsid, params, body, body_len, content_type, e);
	/* Keep the latest nonces for the next call (tokens were stored by the refresh). An UPDATE, so a
	 * logout meanwhile is not undone. */
	sqlite3_stmt *st = db_prepare(db, "UPDATE oauth_sessions SET as_nonce = ?, pds_nonce = ? WHERE did = ?");
	if (st) {
		bind_opt(st, 1, s.as_nonce);
		bind_opt(st, 2, s.pds_nonce);
		sqlite3_bind_text(st, 3, did, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_warn("OAuth session of %s: %s", did, sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
out:
	oauth_session_free(&s);
	free(err);
	return out;
}
