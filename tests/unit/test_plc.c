/* test_plc.c - the hold's did:plc identity: the genesis and update operations and the DID against known
 * answers made by the reference @did-plc/lib (tests/vectors/plc/generate.mjs), signatures checked with
 * lib/crypto both ways; then start-up against a fake PLC directory: a genesis kept before it is posted
 * and posted again after a failure, a refused one forgotten, the document compared and repaired. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "dagcbor.h"
#include "db.h"
#include "encoding.h"
#include "hold.h"
#include "http.h"
#include "mini_httpd.h"
#include "multikey.h"
#include "recstore.h"
#include "tap.h"

static json_object *vec; /* plc-operations.json */

static const char *vstr(const char *path)
{
	/* "a.b.c" inside the vector */
	static char buf[256];
	json_object *o = vec;
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf, *dot; p; p = dot) {
		dot = strchr(p, '.');
		if (dot)
			*dot++ = '\0';
		if (!json_object_object_get_ex(o, p, &o))
			return NULL;
	}
	return json_object_get_string(o);
}

static json_object *vobj(const char *a, const char *b)
{
	json_object *o = NULL, *p = NULL;
	json_object_object_get_ex(vec, a, &o);
	json_object_object_get_ex(o, b, &p);
	return p;
}

static crypto_key *key_from_hex(const char *hex)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	crypto_key *k = NULL;
	if (hex && enc_hex_decode(hex, strlen(hex), &raw, &n) == 0)
		k = crypto_key_from_private(CRYPTO_K256, raw, n);
	free(raw);
	return k;
}

static char *cbor_hex(const json_object *o)
{
	buf_t b = BUF_INIT;
	char *e = NULL, *hex = NULL;
	if (dagcbor_encode(o, &b, &e) == 0)
		hex = enc_hex_encode(b.data, b.len);
	free(e);
	buf_free(&b);
	return hex;
}

static crypto_key *rotation, *signing, *moved;
static char *rot_dk, *sig_dk, *moved_dk;

static void keys(void)
{
	rotation = key_from_hex(vstr("rotationKeyPrivateHex"));
	signing = key_from_hex(vstr("signingKeyPrivateHex"));
	moved = key_from_hex(vstr("movedSigningKeyPrivateHex"));
	ok(rotation && signing && moved, "the vector's three K-256 keys load");
	rot_dk = did_key_encode(rotation);
	sig_dk = did_key_encode(signing);
	moved_dk = did_key_encode(moved);
	is_str(rot_dk, vstr("rotationDidKey"), "rotation key as did:key");
	is_str(sig_dk, vstr("signingDidKey"), "signing key as did:key");
	is_str(moved_dk, vstr("movedSigningDidKey"), "the moved hold's signing key as did:key");
}

static void genesis(void)
{
	json_object *op = plc_unsigned_op(rot_dk, sig_dk, vstr("endpoint"), NULL);
	ok(json_object_equal(op, vobj("genesis", "unsigned")), "the unsigned genesis is the reference's");
	char *hex = cbor_hex(op);
	is_str(hex, vstr("genesis.unsignedCborHex"), "its DAG-CBOR is the reference's byte for byte");
	free(hex);
	hex = cbor_hex(vobj("genesis", "signed"));
	is_str(hex, vstr("genesis.signedCborHex"), "the signed genesis encodes as the reference's");
	free(hex);

	char *err = NULL;
	char *did = plc_did_for_genesis(vobj("genesis", "signed"), &err);
	is_str(did, vstr("genesis.did"), "the DID of the reference genesis");
	free(did);
	char *cid = plc_op_cid(vobj("genesis", "signed"), &err);
	is_str(cid, vstr("genesis.cid"), "the CID of the reference genesis");
	free(cid);
	ok(plc_verify_op(vobj("genesis", "signed"), rot_dk) == 1, "the reference's signature verifies with lib/crypto");
	ok(plc_verify_op(vobj("genesis", "signed"), sig_dk) == 0, "but not as the signing key's");
	char *none = plc_did_for_genesis(op, &err);
	ok(none == NULL && err && strstr(err, "not signed"), "an unsigned genesis has no DID: %s", err ? err : "?");

	/* Our own signature (OpenSSL's ECDSA nonces are random, so the bytes differ from the reference's). */
	ok(plc_sign_op(rotation, op, &err) == 0, "plc_sign_op");
	const char *sig = json_object_get_string(json_object_object_get(op, "sig"));
	ok(sig && strlen(sig) == 86 && strspn(sig, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 86,
	   "sig is 64 bytes in base64url without padding: %s", sig ? sig : "(none)");
	unsigned char *raw = NULL, *msg = NULL;
	size_t rawlen = 0, msglen = 0;
	const char *uhex = vstr("genesis.unsignedCborHex");
	ok(sig && enc_b64url_decode(sig, strlen(sig), &raw, &rawlen) == 0 && enc_hex_decode(uhex, strlen(uhex), &msg, &msglen) == 0 &&
	       crypto_ecdsa_verify(rotation, msg, msglen, raw, rawlen) == 1,
	   "it is a low-S signature over the reference's unsigned bytes");
	free(raw);
	free(msg);
	ok(plc_verify_op(op, rot_dk) == 1, "plc_verify_op takes it");
	did = plc_did_for_genesis(op, &err);
	ok(did && strlen(did) == 32 && strncmp(did, "did:plc:", 8) == 0 && strspn(did + 8, "abcdefghijklmnopqrstuvwxyz234567") == 24,
	   "our genesis makes a did:plc of 24 base32 characters: %s", did ? did : "(null)");
	free(did);
	json_object_object_add(json_object_object_get(json_object_object_get(op, "services"), "atproto_pds"), "endpoint",
			       json_object_new_string("https://evil.example.com"));
	ok(plc_verify_op(op, rot_dk) == 0, "a changed operation no longer verifies");
	json_object_put(op);
	free(err);
}

static void update(void)
{
	char *err = NULL;
	json_object *last = vobj("genesis", "signed");
	json_object *op = plc_update_op(last, rot_dk, moved_dk, vstr("movedEndpoint"), &err);
	ok(op != NULL, "plc_update_op: %s", err ? err : "ok");
	is_str(json_object_get_string(json_object_object_get(op, "prev")), vstr("genesis.cid"),
	       "the update's prev is the genesis's CID");
	ok(json_object_equal(op, vobj("update", "unsigned")), "the unsigned update is the reference's");
	char *hex = cbor_hex(op);
	is_str(hex, vstr("update.unsignedCborHex"), "its DAG-CBOR is the reference's");
	free(hex);
	json_object_object_add(op, "sig", json_object_new_string(vstr("update.signed.sig")));
	ok(plc_verify_op(op, rot_dk) == 1, "the reference's signature of the update verifies on our bytes");
	char *cid = plc_op_cid(op, &err);
	is_str(cid, vstr("update.cid"), "and the signed update's CID is the reference's");
	free(cid);
	json_object_put(op);

	/* Only what moved changes: other keys, names and services stay. */
	json_object *rich = json_tokener_parse(
	    "{\"type\":\"plc_operation\",\"rotationKeys\":[\"did:key:zQ3shOther\",\"ROT\"],"
	    "\"verificationMethods\":{\"atproto\":\"did:key:zQ3shOld\",\"labeler\":\"did:key:zQ3shLabel\"},"
	    "\"alsoKnownAs\":[\"at://hold.example.com\"],\"services\":{\"atproto_pds\":{\"type\":\"AtprotoPersonalDataServer\","
	    "\"endpoint\":\"https://old.example.com\"},\"atproto_labeler\":{\"type\":\"AtprotoLabeler\",\"endpoint\":"
	    "\"https://labels.example.com\"}},\"prev\":null,\"sig\":\"AAAA\"}");
	json_object_array_put_idx(json_object_object_get(rich, "rotationKeys"), 1, json_object_new_string(rot_dk));
	op = plc_update_op(rich, rot_dk, moved_dk, "https://new.example.com", &err);
	json_object *want = json_tokener_parse(
	    "{\"type\":\"plc_operation\",\"rotationKeys\":[\"did:key:zQ3shOther\",\"ROT\"],"
	    "\"verificationMethods\":{\"atproto\":\"MOVED\",\"labeler\":\"did:key:zQ3shLabel\"},"
	    "\"alsoKnownAs\":[\"at://hold.example.com\"],\"services\":{\"atproto_pds\":{\"type\":\"AtprotoPersonalDataServer\","
	    "\"endpoint\":\"https://new.example.com\"},\"atproto_labeler\":{\"type\":\"AtprotoLabeler\",\"endpoint\":"
	    "\"https://labels.example.com\"}},\"prev\":\"PREV\"}");
	json_object_array_put_idx(json_object_object_get(want, "rotationKeys"), 1, json_object_new_string(rot_dk));
	json_object_object_add(json_object_object_get(want, "verificationMethods"), "atproto", json_object_new_string(moved_dk));
	cid = plc_op_cid(rich, &err);
	json_object_object_add(want, "prev", json_object_new_string(cid ? cid : ""));
	free(cid);
	ok(op && json_object_equal(op, want), "an update keeps the other rotation keys, names, keys and services");
	json_object_put(op);
	json_object_put(want);
	json_object_put(rich);

	op = plc_update_op(last, moved_dk, moved_dk, "https://x.example.com", &err);
	ok(op == NULL && err && strstr(err, "not one of"), "a key that is not a rotation key cannot update: %s",
	   err ? err : "?");
	json_object *tomb = json_tokener_parse("{\"type\":\"plc_tombstone\",\"prev\":\"bafy\",\"sig\":\"AAAA\"}");
	op = plc_update_op(tomb, rot_dk, sig_dk, "https://x.example.com", &err);
	ok(op == NULL && err && strstr(err, "tombstoned"), "a tombstoned DID cannot be updated: %s", err ? err : "?");
	json_object_put(tomb);
	free(err);
}

/* ---- start-up against a fake directory */

enum { PLC_ACCEPT, PLC_REFUSE, PLC_DOWN };
static int plc_mode;
static char plc_log[4096];                 /* the request lines it saw, one per line */
static char doc_did[64], doc_endpoint[128]; /* what its document says */
static char *doc_key;                      /* Multikey */
static char *last_op;                      /* what /log/last answers */

static void fake_plc(const char *line, int *status, char *body, size_t size)
{
	size_t n = strlen(plc_log);
	const char *end = strrchr(line, ' '); /* before " HTTP/1.1" */
	snprintf(plc_log + n, sizeof plc_log - n, "%.*s\n", (int)(end ? (size_t)(end - line) : strlen(line)), line);
	if (plc_mode == PLC_DOWN) {
		*status = 503;
		snprintf(body, size, "{\"message\":\"down for maintenance\"}");
	} else if (strncmp(line, "POST ", 5) == 0) {
		*status = plc_mode == PLC_REFUSE ? 400 : 200;
		snprintf(body, size, plc_mode == PLC_REFUSE ? "{\"message\":\"Invalid signature on op\"}" : "");
	} else if (strstr(line, "/log/last ")) {
		*status = 200;
		snprintf(body, size, "%s", last_op ? last_op : "{}");
	} else if (*doc_did && strncmp(line + 5, doc_did, strlen(doc_did)) == 0 && line[5 + strlen(doc_did)] == ' ') {
		*status = 200;
		snprintf(body, size,
			 "{\"id\":\"%s\",\"alsoKnownAs\":[],\"verificationMethod\":[{\"id\":\"%s#atproto\",\"type\":\"Multikey\","
			 "\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"}],\"service\":[{\"id\":\"#atproto_pds\",\"type\":"
			 "\"AtprotoPersonalDataServer\",\"serviceEndpoint\":\"%s\"}]}",
			 doc_did, doc_did, doc_did, doc_key, doc_endpoint);
	} else {
		*status = 404;
		snprintf(body, size, "{\"message\":\"DID not registered\"}");
	}
}

static long long stored_count(const char *path, const char *where)
{
	sqlite3 *db = db_open(path, 0, NULL);
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM plc_identity%s%s", *where ? " WHERE " : "", where);
	sqlite3_stmt *st = NULL;
	if (db)
		sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	long long n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	db_close(db);
	return n;
}

static char *stored_did(const char *path)
{
	sqlite3 *db = db_open(path, 0, NULL);
	sqlite3_stmt *st = NULL;
	if (db)
		sqlite3_prepare_v2(db, "SELECT did FROM plc_identity", -1, &st, NULL);
	char *did = st && sqlite3_step(st) == SQLITE_ROW ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
	sqlite3_finalize(st);
	db_close(db);
	return did;
}

static config *load_config(const char *dir, int port, int test_mode)
{
	char v[300];
	snprintf(v, sizeof v, "http://127.0.0.1:%d", port);
	setenv("HOLD_HOLD_PLC_URL", v, 1);
	snprintf(v, sizeof v, "%s/rotation.key", dir);
	setenv("HOLD_HOLD_ROTATION_KEY_PATH", v, 1);
	snprintf(v, sizeof v, "%s/signing.key", dir);
	setenv("HOLD_HOLD_KEY_PATH", v, 1);
	setenv("HOLD_SERVER_TEST_MODE", test_mode ? "true" : "false", 1);
	setenv("HOLD_HOLD_DID_METHOD", "plc", 1);
	char *err = NULL;
	config *c = config_load(hold_options, NULL, "HOLD_", &err);
	if (!c)
		diag("config: %s", err);
	free(err);
	return c;
}

static void startup(void)
{
	char dir[] = "/tmp/test_plc.XXXXXX", path[300], *err = NULL;
	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof path, "%s/hold.db", dir);
	sqlite3 *db = hold_db_open(path, &err);
	ok(db != NULL, "the hold's database with its migrations: %s", err ? err : "ok");
	db_close(db);
	mini_httpd srv;
	if (mini_httpd_start(&srv, fake_plc) != 0) {
		ok(0, "fake PLC directory");
		return;
	}
	hold_ctx h = {.db_path = path, .public_url = "http://localhost:20480", .key = signing};
	crypto_key *rot = NULL;
	sqlite3 *sdb;
	int rc;

	/* Outside test mode a directory on loopback is refused (the SSRF rule of every outbound call). */
	config *cfg = load_config(dir, srv.port, 0);
	h.cfg = cfg;
	free(err);
	err = NULL;
	rc = plc_identity(&h, &err);
	ok(rc == -1 && h.did == NULL && !*plc_log && err && strstr(err, "only https"),
	   "outside test mode a loopback directory is not contacted: %s", err ? err : "?");
	ok(stored_count(path, "registered = 0") == 1, "but the genesis is kept, not yet registered");
	char *first = stored_did(path);
	config_free(cfg);

	/* In test mode; the directory is down: same genesis, still pending. */
	cfg = load_config(dir, srv.port, 1);
	h.cfg = cfg;
	plc_mode = PLC_DOWN;
	free(err);
	err = NULL;
	rc = plc_identity(&h, &err);
	ok(rc == -1 && strstr(err, "tries again") && strstr(err, "down for maintenance"),
	   "a directory that is down: start-up fails, saying so: %s", err ? err : "?");
	char *second = stored_did(path);
	ok(first && second && strcmp(first, second) == 0, "and the same DID is posted at the next start: %s", second);
	free(second);
	struct stat sb;
	char kp[300];
	snprintf(kp, sizeof kp, "%s/rotation.key", dir);
	ok(stat(kp, &sb) == 0 && (sb.st_mode & 0777) == 0600, "the rotation key was created with mode 0600");
	rot = h.rotation_key;

	/* A refusal of a genesis the directory never took: it is forgotten, the next start makes another. */
	plc_mode = PLC_REFUSE;
	free(err);
	err = NULL;
	rc = plc_identity(&h, &err);
	ok(rc == -1 && strstr(err, "refused") && strstr(err, "Invalid signature on op"),
	   "a refused genesis: %s", err ? err : "?");
	ok(stored_count(path, "") == 0, "is forgotten");
	ok(h.rotation_key == rot, "the rotation key stays loaded");

	/* The directory takes it. */
	plc_mode = PLC_ACCEPT;
	plc_log[0] = '\0';
	free(err);
	err = NULL;
	rc = plc_identity(&h, &err);
	ok(rc == 0 && h.did && strncmp(h.did, "did:plc:", 8) == 0, "registered: %s",
	   h.did ? h.did : err);
	char *did = stored_did(path);
	is_str(h.did, did, "h->did is the stored DID");
	ok(first && did && strcmp(did, first) != 0, "a new genesis after the refusal (another DID)");
	char want[200];
	snprintf(want, sizeof want, "GET /%s\nPOST /%s\n", did ? did : "?", did ? did : "?");
	is_str(plc_log, want, "is it there yet? no: one POST of the genesis to <plc>/<did>");
	ok(stored_count(path, "registered = 1") == 1, "recorded as registered");

	/* A start that stopped after its POST went through: the directory has the DID; no second genesis
	 * (the directory would refuse it, and that must not make us forget the DID). */
	sdb = db_open(path, 0, NULL);
	db_exec(sdb, "UPDATE plc_identity SET registered = 0", NULL);
	db_close(sdb);
	snprintf(doc_did, sizeof doc_did, "%s", did ? did : "");
	snprintf(doc_endpoint, sizeof doc_endpoint, "%s", h.public_url);
	doc_key = multikey_encode(signing);
	plc_mode = PLC_REFUSE;
	plc_log[0] = '\0';
	free(h.did);
	h.did = NULL;
	free(err);
	err = NULL;
	rc = plc_identity(&h, &err);
	snprintf(want, sizeof want, "GET /%s\n", did ? did : "?");
	ok(rc == 0 && h.did && did && strcmp(h.did, did) == 0 && stored_count(path, "registered = 1") == 1,
	   "a pending genesis the directory already has: registered, same DID: %s", err ? err : "ok");
	is_str(plc_log, want, "found with a GET, nothing posted");
	plc_mode = PLC_ACCEPT;
	plc_log[0] = '\0';
	free(h.did);
	h.did = NULL;
	free(err);
	err = NULL;
	rc = plc_identity(&h, &err);
	ok(rc == 0 && h.did && strcmp(h.did, did) == 0 && !*plc_log,
	   "the next start loads it without asking the directory");

	/* serve: the document agrees, nothing is posted. */
	free(err);
	err = NULL;
	rc = plc_sync(&h, &err);
	ok(rc == 0, "plc_sync with a current document: %s", err ? err : "ok");
	snprintf(want, sizeof want, "GET /%s\n", did ? did : "?");
	is_str(plc_log, want, "only the document was read");

	/* The hold moved: the document names the old endpoint. */
	plc_log[0] = '\0';
	snprintf(doc_endpoint, sizeof doc_endpoint, "https://old.example.com");
	sdb = db_open(path, 0, NULL);
	sqlite3_stmt *st = NULL;
	if (sdb)
		sqlite3_prepare_v2(sdb, "SELECT genesis FROM plc_identity", -1, &st, NULL);
	last_op = st && sqlite3_step(st) == SQLITE_ROW ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
	sqlite3_finalize(st);
	db_close(sdb);
	free(err);
	err = NULL;
	rc = plc_sync(&h, &err);
	ok(rc == 0, "plc_sync after a move: %s", err ? err : "ok");
	snprintf(want, sizeof want, "GET /%s\nGET /%s/log/last\nPOST /%s\n", did, did, did);
	is_str(plc_log, want, "document, last operation, then the update posted");

	/* A new signing key is a change too. */
	plc_log[0] = '\0';
	snprintf(doc_endpoint, sizeof doc_endpoint, "%s", h.public_url);
	free(doc_key);
	doc_key = multikey_encode(moved);
	free(err);
	err = NULL;
	rc = plc_sync(&h, &err);
	ok(rc == 0 && strstr(plc_log, "POST"), "a document with another signing key is updated too");

	/* Not ours to update: the rotation key is not in the last operation. */
	plc_log[0] = '\0';
	free(last_op);
	last_op = strdup(json_object_to_json_string(vobj("genesis", "signed")));
	free(err);
	err = NULL;
	rc = plc_sync(&h, &err);
	ok(rc == -1 && strstr(err, "not one of the DID's rotation keys") && !strstr(plc_log, "POST"),
	   "a DID whose rotation keys are not ours is not updated: %s", err ? err : "?");

	/* A directory that is down when serve starts: 1, the hold serves anyway. */
	plc_mode = PLC_DOWN;
	free(err);
	err = NULL;
	rc = plc_sync(&h, &err);
	ok(rc == 1, "a directory outage at serve: 1 (%s)", err ? err : "?");

	/* A directory that never heard of the DID (reset, or another one): the genesis again, then the update. */
	plc_mode = PLC_ACCEPT;
	plc_log[0] = '\0';
	doc_did[0] = '\0';
	free(err);
	err = NULL;
	rc = plc_sync(&h, &err);
	ok(rc == -1 && strstr(plc_log, "POST") && stored_count(path, "registered = 1") == 1,
	   "an unknown DID: its genesis is posted again (the fake still does not know it), the DID is kept: %s",
	   err ? err : "?");

	mini_httpd_stop(&srv);
	http_thread_cleanup();
	free(h.did);
	crypto_key_free(h.rotation_key);
	free(doc_key);
	free(last_op);
	free(first);
	free(did);
	free(err);
	config_free(cfg);
	snprintf(kp, sizeof kp, "rm -rf '%s'", dir);
	if (system(kp) != 0)
		diag("could not remove %s", dir);
}

/* The head commit's "did", or NULL. Caller frees. */
static char *head_did(const char *path)
{
	sqlite3 *db = db_open(path, 0, NULL);
	char *cid = NULL, *did = NULL, *e = NULL;
	buf_t block = BUF_INIT;
	json_object *commit = NULL;
	if (db && recstore_head(db, &cid, NULL, NULL, &e) == 0 && cid && recstore_get_block(db, cid, &block) == 1 &&
	    (commit = dagcbor_decode(block.data, block.len, &e)))
		did = strdup(json_object_get_string(json_object_object_get(commit, "did")));
	json_object_put(commit);
	buf_free(&block);
	free(cid);
	free(e);
	db_close(db);
	return did;
}

/* A hold that changes its DID (did:web to did:plc) or its key makes a new commit although no record
 * changed: its repo must verify against its (new) document. */
static void commits(void)
{
	char dir[] = "/tmp/test_plc_repo.XXXXXX", path[300], *err = NULL, *d;
	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof path, "%s/hold.db", dir);
	sqlite3 *db = hold_db_open(path, &err);
	db_close(db);
	hold_ctx h = {.owner = "did:plc:owner0000000000000000000", .did = "did:web:hold.example.com", .db_path = path,
		      .key = signing};
	is_int(repo_update(&h, &err), 1, "a did:web hold's first commit");
	is_int(repo_update(&h, &err), 0, "nothing changed: no new commit");
	h.did = (char *)vstr("genesis.did");
	is_int(repo_update(&h, &err), 1, "the hold is now a did:plc: a new commit");
	is_str(d = head_did(path), vstr("genesis.did"), "naming the did:plc");
	free(d);
	is_int(repo_update(&h, &err), 0, "then none again");
	h.key = moved;
	is_int(repo_update(&h, &err), 1, "another signing key: a new commit, signed with it");
	is_int(repo_update(&h, &err), 0, "then none again");
	free(err);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	if (system(path) != 0)
		diag("could not remove %s", dir);
}

int main(void)
{
	vec = json_object_from_file(vector_path("plc/plc-operations.json"));
	ok(vec != NULL, "the did:plc vector file loads");
	if (!vec)
		return tap_done();
	keys();
	genesis();
	update();
	startup();
	commits();
	crypto_key_free(rotation);
	crypto_key_free(signing);
	crypto_key_free(moved);
	free(rot_dk);
	free(sig_dk);
	free(moved_dk);
	json_object_put(vec);
	return tap_done();
}
