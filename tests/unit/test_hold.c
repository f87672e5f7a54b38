/* test_hold.c - the hold's pure rules: the permission matrix (every cell), did:web from a URL,
 * crew permissions, deterministic record keys; and what exportUserData / deleteUserData find and
 * delete in a hold database (matching by the owner field, all or nothing, the captain kept). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hold.h"
#include "recstore.h"
#include "tap.h"

#define OWNER "did:plc:owner0000000000000000000"
#define ALICE "did:plc:alice0000000000000000000"
#define BOB "did:plc:bob000000000000000000000"
#define ALICE_LOOKALIKE ALICE "x" /* another DID that starts with alice's */
#define HOLD "did:web:hold.test"
#define NOW "2026-11-23T09:00:00.000Z"
#define DIGEST(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

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

static void put(sqlite3 *db, const char *collection, const char *rkey, const char *json)
{
	char *err = NULL;
	json_object *v = json_tokener_parse(json);
	if (!v || recstore_put(db, collection, rkey, v, NULL, &err) != 0)
		diag("setup: %s/%s: %s", collection, rkey, err ? err : "bad JSON");
	json_object_put(v);
	free(err);
}

static void put_crew(sqlite3 *db, const char *member, const char *role)
{
	char rkey[27], json[512];
	hold_hash_rkey(member, rkey);
	snprintf(json, sizeof json,
		 "{\"$type\":\"io.atcr.hold.crew\",\"member\":\"%s\",\"role\":\"%s\",\"permissions\":[\"blob:read\","
		 "\"blob:write\"],\"tier\":\"deckhand\",\"addedAt\":\"2026-11-23T08:00:00.000Z\"}",
		 member, role);
	put(db, "io.atcr.hold.crew", rkey, json);
}

/* A layer record and its row in the layer index, as notifyManifest writes them. */
static void put_layer(sqlite3 *db, const char *rkey, const char *user, const char *digest, const char *manifest)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"$type\":\"io.atcr.hold.layer\",\"digest\":\"%s\",\"size\":1234,\"mediaType\":"
		 "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"manifest\":\"%s\",\"userDid\":\"%s\","
		 "\"createdAt\":\"2026-11-23T08:30:00.000Z\"}",
		 digest, manifest, user);
	put(db, "io.atcr.hold.layer", rkey, json);
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO layers (rkey, manifest, user_did, digest, size) VALUES (?,?,?,?,1234)");
	sqlite3_bind_text(st, 1, rkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, manifest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, digest, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		diag("setup: layer row %s: %s", rkey, sqlite3_errmsg(db));
	sqlite3_reset(st);
}

static void put_stats(sqlite3 *db, const char *owner, const char *repo, int pushes)
{
	char key[512], rkey[27], json[1024];
	snprintf(key, sizeof key, "%s/%s", owner, repo);
	hold_hash_rkey(key, rkey);
	snprintf(json, sizeof json,
		 "{\"$type\":\"io.atcr.hold.stats\",\"ownerDid\":\"%s\",\"repository\":\"%s\",\"pullCount\":3,"
		 "\"pushCount\":%d,\"lastPush\":\"2026-11-23T08:30:00.000Z\",\"updatedAt\":\"2026-11-23T08:30:00.000Z\"}",
		 owner, repo, pushes);
	put(db, "io.atcr.hold.stats", rkey, json);
}

static long long count(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	long long n = -1;
	if (!st)
		return -1;
	sqlite3_bind_blob(st, 1, arg, (int)strlen(arg), SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}
#define LAYER_ROWS "SELECT count(*) FROM layers WHERE user_did = CAST(?1 AS TEXT)"
#define BLOCKS_WITH "SELECT count(*) FROM blocks WHERE instr(bytes, ?1) > 0"

static long long owned(sqlite3 *db, const char *collection, const char *field, const char *did)
{
	char *err = NULL;
	json_object *found = hold_records_where(db, collection, field, did, &err);
	long long n = found ? (long long)json_object_array_length(found) : -1;
	json_object_put(found);
	free(err);
	return n;
}

static void is_json(json_object *got, const char *want, const char *name)
{
	json_object *w = json_tokener_parse(want);
	ok(got && w && json_object_equal(got, w), "%s", name);
	if (!(got && w && json_object_equal(got, w)))
		diag("got %s", got ? json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN) : "(null)");
	json_object_put(w);
}

static void userdata(void)
{
	char *err = NULL;
	/* The DID and key sign the commit the erasure makes (repo.c). */
	hold_ctx hold = {.owner = OWNER, .did = HOLD, .key = crypto_key_generate(CRYPTO_K256)};
	sqlite3 *db = hold_db_open(":memory:", &err);
	ok(db != NULL, "hold database with its migrations: %s", err ? err : "ok");
	free(err);
	err = NULL;
	if (!db) {
		crypto_key_free(hold.key);
		return;
	}
	put_crew(db, OWNER, "owner");
	put_crew(db, ALICE, "write");
	put_crew(db, BOB, "write");
	put_layer(db, "3lbaaaaaaaa22", ALICE, DIGEST("a"), "at://" ALICE "/io.atcr.manifest/aa");
	put_layer(db, "3lbaaaaaaab22", ALICE, DIGEST("b"), "at://" ALICE "/io.atcr.manifest/aa");
	/* bob's layer names alice's manifest, the lookalike's its own: neither is alice's */
	put_layer(db, "3lbaaaaaaac22", BOB, DIGEST("c"), "at://" ALICE "/io.atcr.manifest/aa");
	put_layer(db, "3lbaaaaaaad22", ALICE_LOOKALIKE, DIGEST("d"), "at://" ALICE_LOOKALIKE "/io.atcr.manifest/dd");
	put_layer(db, "3lbaaaaaaae22", OWNER, DIGEST("e"), "at://" OWNER "/io.atcr.manifest/ee");
	put_stats(db, ALICE, "alice-private-app", 1);
	put_stats(db, ALICE, "alice-private-app", 2); /* replaced: the first version's block is left over */
	put_stats(db, BOB, "app", 1);
	put_stats(db, ALICE_LOOKALIKE, "app", 1);
	put_stats(db, OWNER, "tools", 1);

	json_object *x = userdata_collect(db, HOLD, OWNER, ALICE, NOW, &err), *v;
	is_json(x,
		"{\"exportedAt\":\"" NOW "\",\"holdDid\":\"" HOLD "\",\"userDid\":\"" ALICE "\",\"isCaptain\":false,"
		"\"crewRecord\":{\"addedAt\":\"2026-11-23T08:00:00.000Z\",\"permissions\":[\"blob:read\",\"blob:write\"],"
		"\"role\":\"write\",\"tier\":\"deckhand\"},"
		"\"layerRecords\":["
		"{\"createdAt\":\"2026-11-23T08:30:00.000Z\",\"digest\":\"" DIGEST("a") "\",\"manifest\":\"at://" ALICE
		"/io.atcr.manifest/aa\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":1234},"
		"{\"createdAt\":\"2026-11-23T08:30:00.000Z\",\"digest\":\"" DIGEST("b") "\",\"manifest\":\"at://" ALICE
		"/io.atcr.manifest/aa\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":1234}],"
		"\"statsRecords\":[{\"repository\":\"alice-private-app\",\"pullCount\":3,\"pushCount\":2,"
		"\"lastPush\":\"2026-11-23T08:30:00.000Z\",\"updatedAt\":\"2026-11-23T08:30:00.000Z\"}],"
		"\"blueskyPosts\":[]}",
		"export: alice's crew record, her two layers (not bob's naming her manifest, not the lookalike's), "
		"her stats, lexicon fields only");
	json_object_put(x);
	x = userdata_collect(db, HOLD, OWNER, OWNER, NOW, &err);
	ok(x && json_object_object_get_ex(x, "isCaptain", &v) && json_object_get_boolean(v), "export: the captain is isCaptain");
	ok(x && json_object_object_get_ex(x, "layerRecords", &v) && json_object_array_length(v) == 1,
	   "export: the captain's one layer");
	json_object_put(x);
	x = userdata_collect(db, HOLD, OWNER, "did:plc:stranger000000000000000", NOW, &err);
	ok(x && !json_object_object_get_ex(x, "crewRecord", NULL), "export of a stranger: no crewRecord");
	ok(x && json_object_object_get_ex(x, "layerRecords", &v) && json_object_array_length(v) == 0 &&
		   json_object_object_get_ex(x, "statsRecords", &v) && json_object_array_length(v) == 0,
	   "export of a stranger: empty layerRecords and statsRecords");
	json_object_put(x);

	/* A failure part way (the stats records, after the crew and layer records): nothing deleted. */
	userdata_erased done = {9, 9, 9};
	db_exec(db,
		"CREATE TEMP TRIGGER fail_stats BEFORE DELETE ON main.records WHEN old.collection = 'io.atcr.hold.stats' "
		"BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
		&err);
	int rc = userdata_erase(&hold, db, ALICE, &done, &err);
	ok(rc == -1 && err && strstr(err, "injected failure"), "erase failing at the stats records: -1 (%s)",
	   err ? err : "no error");
	free(err);
	err = NULL;
	ok(done.crew_deleted == 9 && done.layers == 9, "and *out untouched");
	json_object *crew = crew_get(db, ALICE);
	ok(crew != NULL, "rolled back: alice is still crew");
	json_object_put(crew);
	is_int(owned(db, "io.atcr.hold.layer", "userDid", ALICE), 2, "rolled back: her layer records are there");
	is_int(count(db, LAYER_ROWS, ALICE), 2, "rolled back: and their rows in the layer index");
	is_int(owned(db, "io.atcr.hold.stats", "ownerDid", ALICE), 1, "rolled back: her stats record is there");
	db_exec(db, "DROP TRIGGER fail_stats", &err);

	ok(count(db, BLOCKS_WITH, "alice-private-app") == 2, "before: two blocks name her repository (two versions)");
	rc = userdata_erase(&hold, db, ALICE, &done, &err);
	ok(rc == 0, "erase alice: %s", err ? err : "ok");
	ok(done.crew_deleted == 1 && done.layers == 2 && done.stats == 1, "erase alice: crew, 2 layers, 1 stats (%d %lld %lld)",
	   done.crew_deleted, done.layers, done.stats);
	crew = crew_get(db, ALICE);
	ok(crew == NULL, "alice is no longer crew");
	json_object_put(crew);
	is_int(owned(db, "io.atcr.hold.layer", "userDid", ALICE) + owned(db, "io.atcr.hold.stats", "ownerDid", ALICE), 0,
	       "none of her layer or stats records is left");
	is_int(count(db, LAYER_ROWS, ALICE), 0, "nor her rows in the layer index (getQuota)");
	is_int(count(db, BLOCKS_WITH, "alice-private-app") + count(db, BLOCKS_WITH, DIGEST("a")), 0,
	       "no block keeps her repository or her layer, not even a replaced version");
	crew = crew_get(db, BOB);
	ok(crew != NULL, "bob is still crew");
	json_object_put(crew);
	is_int(owned(db, "io.atcr.hold.layer", "userDid", BOB), 1, "bob's layer naming her manifest stays");
	is_int(count(db, LAYER_ROWS, BOB), 1, "with its index row");
	is_int(owned(db, "io.atcr.hold.layer", "userDid", ALICE_LOOKALIKE) + owned(db, "io.atcr.hold.stats", "ownerDid", ALICE_LOOKALIKE),
	       2, "the lookalike DID's records stay");
	is_int(recstore_count(db, "io.atcr.hold.stats"), 3, "the other stats records stay");

	done = (userdata_erased){9, 9, 9};
	ok(userdata_erase(&hold, db, ALICE, &done, &err) == 0 && done.crew_deleted == 0 && done.layers == 0 && done.stats == 0,
	   "erase alice again: zeros");
	rc = userdata_erase(&hold, db, OWNER, &done, &err);
	ok(rc == 0 && done.crew_deleted == 0 && done.layers == 1 && done.stats == 1, "erase the captain: layer and stats records, crew kept (%d %lld %lld)", done.crew_deleted, done.layers, done.stats);
	crew = crew_get(db, OWNER);
	ok(crew != NULL, "the captain's crew record stays");
	json_object_put(crew);
	free(err);
	db_close(db);
	crypto_key_free(hold.key);
}

int main(void)
{
	matrix();
	did_web();
	perms();
	userdata();
	return tap_done();
}
