/* test_session.c - lib/session: cookie parsing and Set-Cookie attributes, CSRF comparison, UI sessions
 * (only the cookie's hash stored, expiry, logout), pending logins (taken once, expiry) and OAuth sessions
 * (round trip with the DPoP key, no refresh before expiry) in a migrated in-memory index. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "session.h"
#include "tap.h"

static void test_cookies(void)
{
	char *v;
	is_str(v = session_cookie_get("a=1; atcr_session=abc; b=2", "atcr_session"), "abc", "cookie in the middle");
	free(v);
	is_str(v = session_cookie_get("atcr_session=first;atcr_session=second", "atcr_session"), "first",
	       "the first of two wins");
	free(v);
	is_str(v = session_cookie_get("  x_atcr_session=no; atcr_session = \"q\" ", "atcr_session"), "q",
	       "names match whole, spaces and quotes trimmed");
	free(v);
	ok(session_cookie_get("atcr_sessionx=1; other=2", "atcr_session") == NULL, "a longer name does not match");
	ok(session_cookie_get(NULL, "atcr_session") == NULL, "no Cookie header");
	ok(session_cookie_get("garbage;;;=;", "atcr_session") == NULL, "garbage");
	is_str(v = session_cookie_get("atcr_session=", "atcr_session"), "", "an empty value is empty");
	free(v);

	v = session_cookie_header("atcr_session", "abc", 3600, 0);
	is_str(v, "atcr_session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax", "Set-Cookie over http");
	free(v);
	v = session_cookie_header("atcr_session", "abc", 0, 1);
	is_str(v, "atcr_session=abc; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure",
	       "Set-Cookie over https carries Secure; Max-Age=0 deletes");
	free(v);
	ok(session_cookie_header("atcr_session", "a;b", 1, 0) == NULL, "a value with ';' is refused");
	ok(session_cookie_header("atcr_session", "a\r\nSet-Cookie: x", 1, 0) == NULL, "CR/LF is refused");
	ok(session_cookie_header("a=b", "v", 1, 0) == NULL, "a name with '=' is refused");

	char *s1 = session_new_secret(), *s2 = session_new_secret();
	ok(s1 && strlen(s1) == 43 && strspn(s1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	   "a secret is 43 base64url characters (256 bits)");
	ok(s1 && s2 && strcmp(s1, s2) != 0, "two secrets differ");
	ok(session_csrf_ok(s1, s1), "CSRF: the same token passes");
	ok(!session_csrf_ok(s1, s2), "CSRF: another token fails");
	char *prefix = s1 ? strndup(s1, 42) : NULL;
	ok(!session_csrf_ok(s1, prefix), "CSRF: a prefix fails");
	ok(!session_csrf_ok(s1, NULL) && !session_csrf_ok(s1, "") && !session_csrf_ok(NULL, s1) &&
		   !session_csrf_ok("", ""),
	   "CSRF: missing or empty tokens fail");
	free(prefix);
	free(s1);
	free(s2);
}

static long long count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_ui_sessions(sqlite3 *db)
{
	char *cookie = NULL, *csrf = NULL, *cookie2 = NULL, *csrf2 = NULL, *cookie3 = NULL, *csrf3 = NULL, *err = NULL;
	ui_session s;
	long long now = 1700000000;
	ok(session_create(db, "did:plc:alice", "alice.test", now, 100, &cookie, &csrf, &err) == 0, "create");
	ok(cookie && csrf && strcmp(cookie, csrf) != 0, "cookie and CSRF token are different secrets");
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ui_sessions WHERE id_hash = '%s'", cookie ? cookie : "");
	is_int(count(db, sql), 0, "the cookie value itself is not stored");
	is_int(count(db, "SELECT count(*) FROM ui_sessions WHERE length(id_hash) = 64"), 1, "its SHA-256 is");

	is_int(session_load(db, cookie, now + 10, &s), 1, "load by cookie");
	is_str(s.did, "did:plc:alice", "did");
	is_str(s.handle, "alice.test", "handle");
	is_str(s.csrf, csrf, "CSRF token");
	ok(session_csrf_ok(s.csrf, csrf), "the form's token matches the session's");
	ui_session_free(&s);
	is_int(session_load(db, "not-a-session", now, &s), 0, "an unknown cookie is no session");
	is_int(session_load(db, NULL, now, &s), 0, "no cookie is no session");
	is_int(session_load(db, cookie, now + 100, &s), 0, "expired at expires_at");

	ok(session_create(db, "did:plc:alice", NULL, now, 100, &cookie2, &csrf2, &err) == 0, "a second browser");
	ok(cookie2 && strcmp(cookie, cookie2) != 0, "gets another cookie");
	ok(session_delete(db, cookie) == 0 && session_load(db, cookie, now, &s) == 0, "logout forgets the session");
	is_int(session_load(db, cookie2, now, &s), 1, "the other browser's session stays");
	ok(s.handle == NULL, "a session without a handle");
	ui_session_free(&s);
	is_int(session_expire(db, now + 100), 1, "expiry removes the expired row");
	is_int(count(db, "SELECT count(*) FROM ui_sessions"), 0, "none left");
	free(cookie2);
	free(csrf2);
	ok(session_create(db, "did:plc:alice", NULL, now, 100, &cookie2, &csrf2, &err) == 0 &&
		   session_create(db, "did:plc:bob", NULL, now, 100, &cookie3, &csrf3, &err) == 0,
	   "sessions of two accounts");
	ok(session_delete_did(db, "did:plc:alice") == 0 && count(db, "SELECT count(*) FROM ui_sessions") == 1 &&
		   session_load(db, cookie3, now, &s) == 1,
	   "deleting every session of a DID keeps the other account's");
	ui_session_free(&s);
	free(cookie3);
	free(csrf3);
	free(csrf2);
	ok(session_delete_did(db, "did:plc:bob") == 0 && count(db, "SELECT count(*) FROM ui_sessions") == 0,
	   "and that one's too");
	free(cookie);
	free(csrf);
	free(cookie2);
}

static void test_pending(sqlite3 *db)
{
	char *err = NULL;
	long long now = 1700000000;
	oauth_pending p = {.state = "st-1", .did = "did:plc:alice", .handle = "alice.test",
			   .pds = "http://localhost:1", .issuer = "http://localhost:1",
			   .token_endpoint = "http://localhost:1/oauth/token", .revocation_endpoint = NULL,
			   .verifier = "v", .dpop_key = crypto_key_generate(CRYPTO_P256), .nonce = "n1",
			   .return_to = "/u/alice.test", .created_at = now};
	oauth_pending got;
	ok(session_pending_put(db, &p, &err) == 0, "store a pending login");
	p.state = "st-old";
	p.created_at = now - SESSION_PENDING_TTL - 1;
	ok(session_pending_put(db, &p, &err) == 0, "and an old one");
	is_int(session_pending_take(db, "st-1", now + 5, &got), 1, "take it by state");
	is_str(got.did, "did:plc:alice", "did");
	is_str(got.return_to, "/u/alice.test", "return_to");
	is_str(got.nonce, "n1", "nonce");
	ok(got.revocation_endpoint == NULL, "no revocation endpoint");
	unsigned char pa[33], pb[33];
	ok(got.dpop_key && crypto_key_public_compressed(got.dpop_key, pa) == 0 &&
		   crypto_key_public_compressed(p.dpop_key, pb) == 0 && memcmp(pa, pb, 33) == 0,
	   "the DPoP key comes back");
	oauth_pending_free(&got);
	is_int(session_pending_take(db, "st-1", now + 5, &got), 0, "a state is good once");
	is_int(session_pending_take(db, "st-old", now, &got), 0, "a pending login older than the limit is refused");
	is_int(count(db, "SELECT count(*) FROM oauth_requests"), 0, "and removed");
	is_int(session_pending_take(db, "nope", now, &got), 0, "an unknown state");
	crypto_key_free(p.dpop_key);
	free(err);
}

static void test_oauth_sessions(sqlite3 *db)
{
	char *err = NULL;
	oauth_session s = {.did = "did:plc:alice", .handle = "alice.test", .pds = "http://localhost:1",
			   .issuer = "http://localhost:1", .token_endpoint = "http://localhost:1/oauth/token",
			   .access_token = "at-1", .refresh_token = "rt-1", .scope = "atproto",
			   .expires_at = 1700003600, .dpop_key = crypto_key_generate(CRYPTO_P256), .as_nonce = "a",
			   .pds_nonce = NULL};
	oauth_session got;
	ok(session_oauth_put(db, &s, &err) == 0, "store an OAuth session");
	is_int(session_oauth_load(db, "did:plc:alice", &got, &err), 1, "load it");
	is_str(got.access_token, "at-1", "access token");
	is_str(got.refresh_token, "rt-1", "refresh token");
	is_str(got.as_nonce, "a", "nonce");
	ok(got.pds_nonce == NULL, "no PDS nonce yet");
	is_int(got.expires_at, 1700003600, "expiry");
	ok(got.dpop_key && crypto_key_is_private(got.dpop_key), "the private DPoP key");
	/* Far from expiry nothing is refreshed: no network, no client needed. */
	http_opts o = {0};
	is_int(session_oauth_fresh(db, &o, NULL, &got, 1700000000, 60, 0, &err), OAUTH_OK,
	       "not refreshed an hour before expiry");
	is_str(got.access_token, "at-1", "the same token");
	oauth_session_free(&got);
	s.access_token = "at-2";
	ok(session_oauth_put(db, &s, &err) == 0, "a second login replaces the session");
	is_int(count(db, "SELECT count(*) FROM oauth_sessions"), 1, "one per DID");
	ok(session_oauth_delete(db, "did:plc:alice") == 0, "delete");
	is_int(session_oauth_load(db, "did:plc:alice", &got, &err), 0, "gone");
	xrpc_error e;
	ok(session_oauth_xrpc(db, &o, NULL, "did:plc:alice", "GET", "com.atproto.server.getSession", NULL, NULL,
			       &e) == NULL &&
		   e.status == 401 && e.error && strcmp(e.error, "AuthRequired") == 0,
	   "an XRPC call without a session: 401 AuthRequired");
	xrpc_error_free(&e);
	crypto_key_free(s.dpop_key);
	free(err);
}

int main(void)
{
	char *err = NULL;
	test_cookies();
	sqlite3 *db = db_open(":memory:", 1, &err);
	ok(db != NULL, "a migrated index (%s)", err ? err : "ok");
	if (db) {
		test_ui_sessions(db);
		test_pending(db);
		test_oauth_sessions(db);
	}
	db_close(db);
	free(err);
	return tap_done();
}
