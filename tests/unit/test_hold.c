/* test_hold.c - the hold's pure rules: the permission matrix (every cell), did:web from a URL,
 * crew permissions, deterministic record keys. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "hold.h"
#include "tap.h"

#define OWNER "did:plc:owner0000000000000000000"
#define ALICE "did:plc:alice0000000000000000000"

static void matrix(void)
{
	static const char *const actions[] = {"read", "write", "manage crew"};
	/* caller kinds: anonymous, stranger, crew read, crew write, crew admin only, captain */
	struct {
		const char *name, *caller;
		int is_crew;
		unsigned perms;
		int want_public[3], want_private[3];
	} cells[] = {
		{"anonymous", NULL, 0, 0, {1, 0, 0}, {0, 0, 0}},
		{"authenticated stranger", ALICE, 0, 0, {1, 0, 0}, {0, 0, 0}},
		{"crew blob:read", ALICE, 1, HOLD_PERM_READ, {1, 0, 0}, {1, 0, 0}},
		{"crew blob:write", ALICE, 1, HOLD_PERM_WRITE, {1, 1, 0}, {1, 1, 0}},
		{"crew read+write", ALICE, 1, HOLD_PERM_READ | HOLD_PERM_WRITE, {1, 1, 0}, {1, 1, 0}},
		{"crew crew:admin only", ALICE, 1, HOLD_PERM_ADMIN, {1, 0, 1}, {0, 0, 1}},
		{"crew without permissions", ALICE, 1, 0, {1, 0, 0}, {0, 0, 0}},
		{"captain", OWNER, 0, 0, {1, 1, 1}, {1, 1, 1}},
	};
	for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
		for (int a = 0; a < 3; a++) {
			is_int(hold_may(OWNER, 1, cells[i].caller, cells[i].is_crew, cells[i].perms, (hold_action)a),
			       cells[i].want_public[a], "public hold: %s may %s: %s", cells[i].name, actions[a],
			       cells[i].want_public[a] ? "yes" : "no");
			is_int(hold_may(OWNER, 0, cells[i].caller, cells[i].is_crew, cells[i].perms, (hold_action)a),
			       cells[i].want_private[a], "private hold: %s may %s: %s", cells[i].name, actions[a],
			       cells[i].want_private[a] ? "yes" : "no");
		}
}

static void did_web(void)
{
	char *d = hold_did_from_url("http://localhost:8080");
	is_str(d, "did:web:localhost%3A8080", "did:web with port");
	free(d);
	d = hold_did_from_url("https://Hold.Example.com/");
	is_str(d, "did:web:hold.example.com", "did:web lower-cased, trailing slash ignored");
	free(d);
	ok(hold_did_from_url("https://hold.example.com/sub/path") == NULL, "paths refused");
	ok(hold_did_from_url("ftp://hold.example.com") == NULL, "other schemes refused");
	ok(hold_did_from_url("https://user@hold.example.com") == NULL, "userinfo refused");
	ok(hold_did_from_url("https://") == NULL, "empty host refused");
}

static void perms(void)
{
	json_object *p = json_tokener_parse("[\"blob:read\",\"crew:admin\",\"bogus\",7]");
	is_int(hold_perms_from_json(p), HOLD_PERM_READ | HOLD_PERM_ADMIN, "permission strings, unknown ignored");
	json_object_put(p);
	is_int(hold_perms_from_json(NULL), 0, "no permissions");
	char k[27];
	hold_hash_rkey("did:plc:ewvi7nxzyoun6zhxrhs64oiz", k);
	is_str(k, "bgpe5klm2ywalirsgmmftuqms4", "crew key = base32(sha256(did)[:16])");
	hold_hash_rkey("did:plc:ewvi7nxzyoun6zhxrhs64oiz/app", k);
	is_str(k, "k4dy5pugrkcarv7i3owc4pchfm", "stats key = base32(sha256(owner/repo)[:16])");
	char now[32];
	hold_now(now);
	ok(strlen(now) == 24 && now[10] == 'T' && now[23] == 'Z', "datetime shape %s", now);
}

int main(void)
{
	matrix();
	did_web();
	perms();
	return tap_done();
}
