/* svctoken_client.c - lib/svctoken against the real PDS: service tokens from a session kept in the
 * index, the in-memory cache, and the refresh of an expired session. Env: PDS_URL, HANDLE, DID,
 * APP_PASSWORD, DB_PATH (a fresh file). TAP output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "jwt.h"
#include "svctoken.h"
#include "tap.h"
#include "xrpc.h"

#define AUD "did:web:localhost%3A8080"

static char *column(sqlite3 *db, const char *sql, const char *did)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	char *v = NULL;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return v;
}

static void set_column(sqlite3 *db, const char *sql, const char *value, const char *did)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, did, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
}

int main(void)
{
	const char *pds = tap_env("PDS_URL"), *handle = tap_env("HANDLE"), *did = tap_env("DID"), *pw = tap_env("APP_PASSWORD");
	char *err = NULL;
	http_opts o = {.timeout_s = 30, .connect_timeout_s = 5, .max_response = 1 << 20, .allow_private = 1};
	sqlite3 *db = db_open(tap_env("DB_PATH"), 1, &err);
	ok(db != NULL, "index opened and migrated: %s", err ? err : "ok");
	if (!db)
		return tap_done();

	xrpc_client anon = {pds, NULL, &o};
	xrpc_session s = {0};
	xrpc_error e = {0};
	ok(xrpc_create_session(&anon, handle, pw, &s, &e) == 0, "createSession");
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO registry_logins (did, pds, password_hash, access_jwt, refresh_jwt, "
					  "checked_at) VALUES (?, ?, 'unused', ?, ?, 0)");
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s.pds, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s.access_jwt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s.refresh_jwt, -1, SQLITE_STATIC);
	ok(sqlite3_step(st) == SQLITE_DONE, "session stored in registry_logins");
	sqlite3_reset(st);

	char *t1 = svctoken_get(db, &o, did, AUD, "io.atcr.hold.initiateUpload", &err);
	ok(t1 != NULL, "a service token: %s", err ? err : "ok");
	jwt_t t = {0};
	if (t1 && jwt_decode(t1, &t, &err) == 0) {
		is_str(jwt_claim_str(&t, "iss"), did, "iss is the user");
		is_str(jwt_claim_str(&t, "aud"), AUD, "aud is the hold");
		is_str(jwt_claim_str(&t, "lxm"), "io.atcr.hold.initiateUpload", "lxm is the method");
		ok(jwt_claim_int(&t, "exp", 0) > (long long)time(NULL) + SVCTOKEN_MARGIN, "exp beyond the margin");
	}
	jwt_free(&t);
	char *t2 = svctoken_get(db, &o, did, AUD, "io.atcr.hold.initiateUpload", &err);
	is_str(t2, t1, "the second request is served from the cache");
	char *t3 = svctoken_get(db, &o, did, AUD, "io.atcr.hold.uploadPart", &err);
	ok(t3 && t1 && strcmp(t3, t1) != 0, "another method gets its own token");

	/* An access token the PDS no longer takes: the session is refreshed and the call retried. */
	svctoken_cache_clear();
	char *old_refresh = column(db, "SELECT refresh_jwt FROM registry_logins WHERE did = ?", did);
	set_column(db, "UPDATE registry_logins SET access_jwt = ? WHERE did = ?", "eyJhbGciOiJIUzI1NiJ9.e30.bogus", did);
	char *t4 = svctoken_get(db, &o, did, AUD, "io.atcr.hold.initiateUpload", &err);
	ok(t4 != NULL, "a refused access token is refreshed: %s", err ? err : "ok");
	char *new_access = column(db, "SELECT access_jwt FROM registry_logins WHERE did = ?", did),
	     *new_refresh = column(db, "SELECT refresh_jwt FROM registry_logins WHERE did = ?", did);
	ok(new_access && strncmp(new_access, "eyJhbGciOiJIUzI1NiJ9.e30", 24) != 0, "the new access token is stored");
	ok(new_refresh && old_refresh && strcmp(new_refresh, old_refresh) != 0, "and the rotated refresh token");

	/* Both tokens dead: a clear error, no token. */
	svctoken_cache_clear();
	set_column(db, "UPDATE registry_logins SET access_jwt = ? WHERE did = ?", "x.y.z", did);
	set_column(db, "UPDATE registry_logins SET refresh_jwt = ? WHERE did = ?", "x.y.z", did);
	free(err);
	err = NULL;
	char *t5 = svctoken_get(db, &o, did, AUD, "io.atcr.hold.initiateUpload", &err);
	ok(t5 == NULL && err, "dead session: refused with a message: %s", err ? err : "");
	free(err);
	err = NULL;
	char *t6 = svctoken_get(db, &o, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", AUD, "io.atcr.hold.initiateUpload", &err);
	ok(t6 == NULL && err && strstr(err, "no PDS session"), "no session: %s", err ? err : "");

	free(t1);
	free(t2);
	free(t3);
	free(t4);
	free(t5);
	free(t6);
	free(err);
	free(old_refresh);
	free(new_access);
	free(new_refresh);
	xrpc_session_free(&s);
	svctoken_cache_clear();
	db_close(db);
	return tap_done();
}
