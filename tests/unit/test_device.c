/* test_device.c - lib/device: user codes (alphabet, shape, normalisation of what people type), device codes
 * and secrets (shape, randomness, the SHA-256 the index keeps, a known answer), device names, the protocol
 * JSON, and in a migrated in-memory index the whole life of a device login: start, approve or deny, polls
 * (pending, slow_down, approved exactly once, denied, expired, unknown), the pending cap, secret lookup in
 * constant time, last use noted once a minute, listing and revocation. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "device.h"
#include "tap.h"

static long long count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_codes(void)
{
	char c1[DEVICE_USER_CODE_SIZE], c2[DEVICE_USER_CODE_SIZE], n[DEVICE_USER_CODE_SIZE];
	ok(device_user_code_new(c1) == 0 && device_user_code_new(c2) == 0, "user codes are made");
	int shaped = strlen(c1) == 9 && c1[4] == '-';
	for (int i = 0; i < 9; i++)
		if (i != 4 && !strchr(DEVICE_USER_CODE_ALPHABET, c1[i]))
			shaped = 0;
	ok(shaped, "a user code is 4 + 4 letters of the alphabet with a dash (%s)", c1);
	ok(strcmp(c1, c2) != 0, "two user codes differ (%s, %s)", c1, c2);
	/* every letter of the alphabet turns up, none outside it: 200 codes give 1600 letters */
	int seen[26] = {0}, outside = 0;
	for (int i = 0; i < 200; i++) {
		device_user_code_new(c2);
		for (int j = 0; j < 9; j++)
			if (j != 4 && c2[j] >= 'A' && c2[j] <= 'Z')
				seen[c2[j] - 'A']++;
			else if (j != 4)
				outside++;
	}
	int all = !outside;
	for (const char *a = DEVICE_USER_CODE_ALPHABET; *a; a++)
		all = all && seen[*a - 'A'] > 0;
	ok(all && !seen['A' - 'A'] && !seen['O' - 'A'] && !seen['I' - 'A'] && !seen['E' - 'A'],
	   "the letters used are exactly the alphabet's (no vowels, no O or I)");

	is_int(device_user_code_normalize("bcdf-ghjk", n), 0, "lower case is accepted");
	is_str(n, "BCDF-GHJK", "and upper-cased");
	is_int(device_user_code_normalize(" BCDFGHJK ", n), 0, "without the dash, with blanks");
	is_str(n, "BCDF-GHJK", "the dash comes back");
	is_int(device_user_code_normalize("bc-df gh-jk", n), 0, "dashes and blanks anywhere");
	ok(device_user_code_normalize("BCDF-GHJ", n) == -1, "7 letters are refused");
	ok(device_user_code_normalize("BCDF-GHJKL", n) == -1, "9 letters are refused");
	ok(device_user_code_normalize("BCDF-GHJA", n) == -1, "a vowel is refused");
	ok(device_user_code_normalize("BCDF-GHJ1", n) == -1, "a digit is refused");
	ok(device_user_code_normalize("", n) == -1 && device_user_code_normalize(NULL, n) == -1, "nothing is refused");
	ok(device_user_code_normalize("BCDF\xc3\xa9GHJK", n) == -1, "non-ASCII is refused");

	char *d1 = device_code_new(), *d2 = device_code_new();
	ok(d1 && strlen(d1) == 43 && strspn(d1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	   "a device code is 43 base64url characters");
	ok(d1 && d2 && strcmp(d1, d2) != 0, "two device codes differ");
	char *s1 = device_secret_new(), *s2 = device_secret_new();
	ok(s1 && strncmp(s1, "atcr_dev_", 9) == 0 && strlen(s1) == 52, "a secret is atcr_dev_ and 43 characters");
	ok(device_secret_shaped(s1) && device_secret_shaped(s2), "secrets are secret-shaped");
	ok(s1 && s2 && strcmp(s1, s2) != 0, "two secrets differ");
	ok(!device_secret_shaped("atcr_dev_short") && !device_secret_shaped(d1) && !device_secret_shaped(NULL) &&
		   !device_secret_shaped("atcr_dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!"),
	   "a short, unprefixed or non-base64url value is not");
	char h[65];
	device_hash("abc", h);
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "the hash is hex SHA-256 (FIPS 180 'abc')");
	free(d1);
	free(d2);
	free(s1);
	free(s2);

	ok(device_name_ok("docker-credential-atcr on build-01"), "a plain name is fine");
	ok(device_name_ok("Ålice’s laptop"), "UTF-8 is fine");
	ok(!device_name_ok(""), "an empty name is not");
	ok(!device_name_ok("a\nb") && !device_name_ok("tab\there") && !device_name_ok("del\x7f"), "control characters are not");
	ok(!device_name_ok("c1 \xc2\x85 control"), "a C1 control is not");
	ok(!device_name_ok("broken \xc3"), "broken UTF-8 is not");
	char long_name[DEVICE_NAME_MAX + 2];
	memset(long_name, 'x', sizeof long_name);
	long_name[DEVICE_NAME_MAX] = '\0';
	ok(device_name_ok(long_name), "64 bytes are fine");
	long_name[DEVICE_NAME_MAX] = 'x';
	long_name[DEVICE_NAME_MAX + 1] = '\0';
	ok(!device_name_ok(long_name), "65 bytes are not");
}

static void test_json(void)
{
	json_object *o = device_code_response("https://registry.example", "dc", "BCDF-GHJK", 600, 5);
	is_str(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	       "{\"device_code\":\"dc\",\"user_code\":\"BCDF-GHJK\",\"verification_uri\":\"https:\\/\\/registry.example\\/device\","
	       "\"verification_uri_complete\":\"https:\\/\\/registry.example\\/device?code=BCDF-GHJK\",\"expires_in\":600,"
	       "\"interval\":5}",
	       "the device authorization response");
	json_object_put(o);
	o = device_error_response("slow_down", NULL);
	is_str(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"error\":\"slow_down\"}", "an error alone");
	json_object_put(o);
	o = device_error_response("invalid_request", "why");
	is_str(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	       "{\"error\":\"invalid_request\",\"error_description\":\"why\"}", "an error with a description");
	json_object_put(o);
	o = device_token_response("did:plc:a", NULL, "atcr_dev_x");
	is_str(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	       "{\"did\":\"did:plc:a\",\"handle\":\"did:plc:a\",\"device_secret\":\"atcr_dev_x\"}",
	       "the token response names the DID when no handle was verified");
	json_object_put(o);
	is_str(device_poll_error(DEVICE_POLL_PENDING), "authorization_pending", "pending");
	is_str(device_poll_error(DEVICE_POLL_SLOW_DOWN), "slow_down", "slow_down");
	is_str(device_poll_error(DEVICE_POLL_DENIED), "access_denied", "denied");
	is_str(device_poll_error(DEVICE_POLL_EXPIRED), "expired_token", "expired");
	is_str(device_poll_error(DEVICE_POLL_UNKNOWN), "invalid_grant", "unknown");
}

static void test_flow(sqlite3 *db)
{
	char *err = NULL, *code = NULL, *code2 = NULL, *did = NULL, uc[DEVICE_USER_CODE_SIZE], uc2[DEVICE_USER_CODE_SIZE];
	const long long t0 = 1700000000;
	device_pending p = {0};
	device_grant g = {0};

	is_int(device_start(db, "laptop", t0, 600, 10, &code, uc, &err), 0, "an authorization starts");
	char h[65];
	device_hash(code, h);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM device_codes WHERE code_hash = '%s' AND user_code = '%s'", h, uc);
	is_int(count(db, sql), 1, "the index keeps the code's hash and the user code");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM device_codes WHERE code_hash = '%s'", code);
	is_int(count(db, sql), 0, "but not the device code itself");

	is_int(device_pending_get(db, uc, t0 + 1, &p, &err), 1, "the user code finds it");
	ok(p.name && strcmp(p.name, "laptop") == 0 && p.state == DEVICE_PENDING && p.expires_at == t0 + 600,
	   "with its name, pending, expiring after the TTL");
	device_pending_free(&p);
	is_int(device_pending_get(db, uc, t0 + 600, &p, &err), 0, "not once it expired");
	is_int(device_pending_get(db, "ZZZZ-ZZZZ", t0, &p, &err), strcmp(uc, "ZZZZ-ZZZZ") == 0,
	       "an unknown code finds nothing");
	device_pending_free(&p);

	long long ms = t0 * 1000;
	is_int(device_poll(db, code, ms, 5, &g, &err), DEVICE_POLL_PENDING, "first poll: pending");
	is_int(device_poll(db, code, ms + 1000, 5, &g, &err), DEVICE_POLL_SLOW_DOWN, "a poll a second later: slow_down");
	is_int(device_poll(db, code, ms + 1000 + 4600, 5, &g, &err), DEVICE_POLL_PENDING,
	       "4.6 s after the previous poll: pending (half a second of slack)");
	is_int(device_poll(db, "not-a-code", ms, 5, &g, &err), DEVICE_POLL_UNKNOWN, "an unknown device code: invalid_grant");

	is_int(device_decide(db, "ZZZZ-ZZZZ", 1, "did:plc:alice", "alice.test", t0 + 10, &err),
	       strcmp(uc, "ZZZZ-ZZZZ") == 0, "approving an unknown code does nothing");
	is_int(device_decide(db, uc, 1, "did:plc:alice", "alice.test", t0 + 10, &err), 1, "the user approves");
	is_int(device_decide(db, uc, 0, "did:plc:mallory", NULL, t0 + 11, &err), 0, "a decided code cannot be decided again");
	is_int(device_pending_get(db, uc, t0 + 12, &p, &err), 1, "the approved code is still found");
	is_int(p.state, DEVICE_APPROVED, "as approved");
	device_pending_free(&p);

	is_int(device_poll(db, code, ms + 20000, 5, &g, &err), DEVICE_POLL_APPROVED, "the next poll gets the device");
	ok(g.did && strcmp(g.did, "did:plc:alice") == 0 && g.handle && strcmp(g.handle, "alice.test") == 0,
	   "for the approving user");
	ok(device_secret_shaped(g.secret), "with a device secret");
	char *secret = g.secret ? strdup(g.secret) : NULL;
	long long id = g.id;
	device_grant_free(&g);
	is_int(device_poll(db, code, ms + 30000, 5, &g, &err), DEVICE_POLL_UNKNOWN, "the secret is handed out once");
	is_int(count(db, "SELECT count(*) FROM device_codes"), 0, "the authorization is consumed");
	char sh[65];
	device_hash(secret ? secret : "", sh);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM devices WHERE secret_hash = '%s' AND did = 'did:plc:alice' AND name = 'laptop'", sh);
	is_int(count(db, sql), 1, "the device row keeps the secret's hash, the owner and the name");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM devices WHERE secret_hash = '%s'", secret ? secret : "");
	is_int(count(db, sql), 0, "never the secret");

	long long found_id = 0;
	is_int(device_find(db, secret, &found_id, &did, &err), 1, "the secret finds its device");
	ok(found_id == id && did && strcmp(did, "did:plc:alice") == 0, "and its owner");
	free(did);
	did = NULL;
	char wrong[64];
	snprintf(wrong, sizeof wrong, "%s", secret ? secret : "");
	wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
	is_int(device_find(db, wrong, &found_id, &did, &err), 0, "a secret differing in one character does not");
	is_int(device_find(db, "atcr_dev_wrong", &found_id, &did, &err), 0, "nor a malformed one");

	is_int(device_touch(db, id, t0 + 100, &err), 0, "a use is noted");
	is_int(count(db, "SELECT last_used_at FROM devices"), t0 + 100, "last_used_at set");
	device_touch(db, id, t0 + 130, &err);
	is_int(count(db, "SELECT last_used_at FROM devices"), t0 + 100, "not moved again within the minute");
	device_touch(db, id, t0 + 161, &err);
	is_int(count(db, "SELECT last_used_at FROM devices"), t0 + 161, "moved a minute later");

	/* a second device, denied; a third, listed and revoked */
	is_int(device_start(db, NULL, t0 + 200, 600, 10, &code2, uc2, &err), 0, "a second authorization starts");
	ok(strcmp(uc, uc2) != 0, "with another user code");
	is_int(device_decide(db, uc2, 0, "did:plc:alice", "alice.test", t0 + 201, &err), 1, "the user denies it");
	is_int(device_poll(db, code2, (t0 + 210) * 1000, 5, &g, &err), DEVICE_POLL_DENIED, "the poll says access_denied");
	is_int(device_poll(db, code2, (t0 + 220) * 1000, 5, &g, &err), DEVICE_POLL_UNKNOWN, "then nothing is left");
	is_int(count(db, "SELECT count(*) FROM devices"), 1, "no device was made");
	free(code2);
	code2 = NULL;

	is_int(device_start(db, NULL, t0 + 300, 600, 10, &code2, uc2, &err), 0, "a third authorization starts");
	is_int(device_poll(db, code2, (t0 + 300 + 600) * 1000, 5, &g, &err), DEVICE_POLL_EXPIRED, "after its TTL: expired_token");
	is_int(device_decide(db, uc2, 1, "did:plc:alice", NULL, t0 + 900, &err), 0, "an expired code cannot be approved");
	free(code2);
	code2 = NULL;
	is_int(device_start(db, NULL, t0 + 1000, 600, 10, &code2, uc2, &err), 0, "a fourth, unnamed");
	device_decide(db, uc2, 1, "did:plc:alice", NULL, t0 + 1001, &err);
	is_int(device_poll(db, code2, (t0 + 1002) * 1000, 5, &g, &err), DEVICE_POLL_APPROVED, "approved without a verified handle");
	ok(g.handle == NULL, "the grant has no handle");
	long long id2 = g.id;
	device_grant_free(&g);

	json_object *list = device_list(db, "did:plc:alice", &err);
	ok(list && json_object_array_length(list) == 2, "alice has two devices");
	json_object *first = list ? json_object_array_get_idx(list, 0) : NULL, *v;
	ok(first && json_object_object_get_ex(first, "id", &v) && json_object_get_int64(v) == id2 &&
		   json_object_object_get_ex(first, "name", &v) && strcmp(json_object_get_string(v), "unnamed device") == 0 &&
		   json_object_object_get_ex(first, "last_used_at", &v) && json_object_get_int64(v) == 0,
	   "newest first, named \"unnamed device\", never used");
	json_object_put(list);
	list = device_list(db, "did:plc:bob", &err);
	ok(list && json_object_array_length(list) == 0, "bob has none");
	json_object_put(list);

	is_int(device_revoke(db, "did:plc:bob", id, t0 + 2000, &err), 0, "bob cannot revoke alice's device");
	is_int(device_revoke(db, "did:plc:alice", id, t0 + 2000, &err), 1, "alice revokes it");
	is_int(device_revoke(db, "did:plc:alice", id, t0 + 2001, &err), 0, "once");
	is_int(device_find(db, secret, &found_id, &did, &err), 0, "its secret no longer works");
	list = device_list(db, "did:plc:alice", &err);
	ok(list && json_object_array_length(list) == 1, "and it is no longer listed");
	json_object_put(list);

	/* the cap on pending authorizations, and expired ones making room */
	char *c = NULL;
	int started = 0;
	for (int i = 0; i < 3; i++) {
		if (device_start(db, NULL, t0 + 5000, 60, 3, &c, uc2, &err) == 0)
			started++;
		free(c);
		c = NULL;
	}
	is_int(started, 3, "three authorizations fill a cap of three");
	is_int(device_start(db, NULL, t0 + 5001, 60, 3, &c, uc2, &err), 1, "a fourth is refused");
	ok(c == NULL, "without a code");
	is_int(device_start(db, NULL, t0 + 5060, 60, 3, &c, uc2, &err), 0, "once they expired there is room again");
	is_int(count(db, "SELECT count(*) FROM device_codes"), 1, "the expired ones were removed");
	free(c);

	free(secret);
	free(code);
	free(code2);
	free(err);
}

int main(void)
{
	char *err = NULL;
	test_codes();
	test_json();
	sqlite3 *db = db_open(":memory:", 1, &err);
	ok(db != NULL, "a migrated index (%s)", err ? err : "ok");
	if (db)
		test_flow(db);
	db_close(db);
	free(err);
	return tap_done();
}
