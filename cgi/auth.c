/* auth.c - the Docker token endpoint, GET and POST /auth/token: app-password logins checked with the
 * user's own PDS (createSession; remembered as a salted hash so repeated requests do not hit the PDS),
 * device secrets from docker-credential-atcr's device login (checked in the index only), anonymous pull
 * tokens, and registry JWTs with the access the caller may have. */
#include "appview.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "device.h"
#include "log.h"
#include "xrpc.h"

#define FORM_MAX (64 * 1024)

/* 1 when the app password matches the hash remembered for did within the cache lifetime. */
static int remembered(const appview *av, sqlite3 *db, const char *did, const char *password)
{
	long long ttl = config_int(av->cfg, "auth.login_cache_ttl");
	sqlite3_stmt *st = db && ttl > 0 ? db_prepare(db, "SELECT password_hash FROM registry_logins "
							   "WHERE did = ? AND checked_at >= ?")
					: NULL;
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL) - ttl);
	int ok = sqlite3_step(st) == SQLITE_ROW &&
		 crypto_password_verify(password, (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return ok;
}

static void remember(sqlite3 *db, const identity *id, const char *password, const xrpc_session *s)
{
	char *hash = crypto_password_hash(password);
	sqlite3_stmt *st = db && hash ? db_prepare(db, "INSERT OR REPLACE INTO registry_logins "
						       "(did, pds, password_hash, access_jwt, refresh_jwt, checked_at) "
						       "VALUES (?, ?, ?, ?, ?, ?)")
				      : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, id->did, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id->pds, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, s->access_jwt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, s->refresh_jwt, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) != SQLITE_DONE)
			log_warn("remembering the login of %s: %s", id->did, sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	free(hash);
}

/* Check an app password: 0 ok; 401 wrong credentials; 502 the PDS did not answer. *why is set. */
static int check_login(const appview *av, const identity *id, const char *password, char **why)
{
	sqlite3 *db = appview_db(av);
	if (remembered(av, db, id->did, password)) {
		log_debug("login of %s from the remembered hash", id->did);
		return 0;
	}
	http_opts o = {.timeout_s = (long)config_int(av->cfg, "http.timeout"), .connect_timeout_s = 10,
		       .max_response = 1 << 20, .allow_private = av->ident.test_mode};
	xrpc_client c = {id->pds, NULL, &o};
	xrpc_session s = {0};
	xrpc_error e = {0};
	int rc = 0;
	if (xrpc_create_session(&c, id->did, password, &s, &e) != 0) {
		rc = e.status == 401 || e.status == 400 ? 401 : 502;
		buf_error(why, "%s", rc == 401 ? "invalid username or password" : "the user's PDS did not answer");
		log_info("login of %s refused by its PDS: %s", id->did, e.error ? e.error : "?");
	} else if (strcmp(s.did, id->did) != 0) {
		rc = 401;
		buf_error(why, "the PDS answered for another account");
	} else {
		remember(db, id, password, &s);
		log_info("login of %s checked with its PDS", id->did);
	}
	xrpc_session_free(&s);
	xrpc_error_free(&e);
	return rc;
}

/* Check a device secret (from docker-credential-atcr's device login) presented with user, a handle or
 * DID: 0 with *id resolved; 401 unknown, revoked or another user's; 500 the index failed. *why is set.
 * An unknown secret is refused before anything is resolved: no PDS is asked. */
static int check_device(const appview *av, const char *user, const char *secret, identity *id, char **why)
{
	sqlite3 *db = appview_db(av);
	long long device = 0;
	char *owner = NULL, *err = NULL;
	int rc = 401, found = db ? device_find(db, secret, &device, &owner, &err) : -1;
	if (found < 0) {
		log_error("device login of %s: %s", user, err ? err : "no index");
		rc = 500;
		buf_error(why, "the index is unavailable");
		goto out;
	}
	identity_ctx ictx = appview_identity(av);
	if (found == 0) {
		log_info("token request for %s with an unknown or revoked device secret", user);
	} else if (identity_resolve(&ictx, user, 0, id, &err) != 0 || strcmp(id->did, owner) != 0) {
		log_info("token request for %s with device %lld of %s refused: %s", user, device, owner,
			 err ? err : "another user's device");
	} else {
		if (device_touch(db, device, (long long)time(NULL), &err) != 0)
			log_warn("device %lld: %s", device, err);
		log_info("login of %s with device %lld", id->did, device);
		rc = 0;
	}
	if (rc == 401)
		buf_error(why, "invalid username or password");
out:
	free(owner);
	free(err);
	return rc;
}

/* What a caller gets of what was asked: everything on repositories under their own identity
 * (handle or DID), pull on everyone else's; anonymous callers pull only. */
static void grant(const regtoken_access_list *asked, const identity *id, regtoken_access_list *granted)
{
	for (size_t i = 0; i < asked->n; i++) {
		const regtoken_access *a = &asked->v[i];
		if (strcmp(a->type, "repository") != 0)
			continue;
		size_t n = strcspn(a->name, "/");
		int own = id->did && ((strlen(id->did) == n && strncmp(a->name, id->did, n) == 0) ||
				      (id->handle_verified && strlen(id->handle) == n &&
				       strncasecmp(a->name, id->handle, n) == 0));
		unsigned want = a->actions & REGTOKEN_ANY ? REGTOKEN_PULL | REGTOKEN_PUSH | REGTOKEN_DELETE : a->actions;
		unsigned give = want & (own ? REGTOKEN_PULL | REGTOKEN_PUSH | REGTOKEN_DELETE : REGTOKEN_PULL);
		char *err = NULL;
		if (give && regtoken_access_add(granted, "repository", a->name, give, &err) != 0)
			log_warn("token grant for %s: %s", a->name, err);
		free(err);
	}
}

static int refuse(fcgi_req *r, int status, const char *message)
{
	return registry_send_error(r, status, status == 401 ? "UNAUTHORIZED" : status == 400 ? "UNSUPPORTED" : "UNAVAILABLE",
				   message, NULL);
}

int auth_token(fcgi_req *r)
{
	const appview *av = r->app;
	regtoken_form f = {0};
	regtoken_access_list granted = {0};
	identity id = {0};
	buf_t body = BUF_INIT;
	char *err = NULL, *user = NULL, *pass = NULL, *token = NULL, *json = NULL;
	if (strcmp(r->method, "POST") == 0) {
		int rc = fcgi_read_body(r, &body, FORM_MAX);
		if (rc != 0) {
			refuse(r, rc == -1 ? 413 : 400, "the token request body could not be read");
			goto out;
		}
		if (regtoken_form_parse(&f, body.data ? body.data : "", body.len, &err) != 0 ||
		    regtoken_form_check_post(&f, &err) != 0) {
			refuse(r, 400, err);
			goto out;
		}
		if (strcmp(f.grant_type, "password") != 0) {
			refuse(r, 401, "refresh tokens are not issued here: use grant_type=password");
			goto out;
		}
		user = strdup(f.username);
		pass = strdup(f.password);
	} else {
		if (regtoken_form_parse(&f, r->query, strlen(r->query), &err) != 0) {
			refuse(r, 400, err);
			goto out;
		}
		const char *auth = fcgi_header(r, "Authorization");
		if (auth && *auth && regtoken_basic_parse(auth, &user, &pass, &err) != 0) {
			refuse(r, 401, err);
			goto out;
		}
	}
	if (user && pass && strncmp(pass, DEVICE_SECRET_PREFIX, strlen(DEVICE_SECRET_PREFIX)) == 0) {
		int rc = check_device(av, user, pass, &id, &err);
		if (rc != 0) {
			refuse(r, rc, err);
			goto out;
		}
	} else if (user) {
		identity_ctx ictx = appview_identity(av);
		if (identity_resolve(&ictx, user, 0, &id, &err) != 0) {
			log_info("token request for unknown user %s: %s", user, err);
			refuse(r, 401, "invalid username or password");
			goto out;
		}
		int rc = check_login(av, &id, pass, &err);
		if (rc != 0) {
			refuse(r, rc, err);
			goto out;
		}
	}
	grant(&f.scope, &id, &granted);
	long long now = (long long)time(NULL);
	token = regtoken_issue(&av->tokens, id.did ? id.did : "", &granted, now, &err);
	json = token ? regtoken_response_json(token, av->tokens.expiry ? av->tokens.expiry : REGTOKEN_DEFAULT_EXPIRY,
					      now, NULL)
		     : NULL;
	if (!json) {
		log_error("issuing a registry token: %s", err ? err : "out of memory");
		refuse(r, 500, "could not issue a token");
		goto out;
	}
	fcgi_add_header(r, "Cache-Control", "no-store");
	fcgi_send(r, 200, "application/json", json, strlen(json));
out:
	if (pass)
		OPENSSL_cleanse(pass, strlen(pass));
	if (body.data)
		OPENSSL_cleanse(body.data, body.len);
	free(user);
	free(pass);
	free(token);
	free(json);
	free(err);
	buf_free(&body);
	identity_free(&id);
	regtoken_access_list_free(&granted);
	regtoken_form_free(&f);
	return 0;
}
