/* plc.c - the hold's did:plc identity (hold.did_method: plc): the did:plc method's operations (genesis,
 * update), signed with the hold's rotation key, and the directory calls that register the DID and keep
 * its document pointing at this hold ("auto-recovery": the operator moved it or changed its key).
 * The DID and its signed genesis are kept in the hold's database (plc_identity, migration 7). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cid.h"
#include "crypto.h"
#include "dagcbor.h"
#include "db.h"
#include "encoding.h"
#include "hold.h"
#include "http.h"
#include "log.h"
#include "multikey.h"

#define PLC_DID_CHARS 24 /* base32 characters of the genesis hash in the DID */

json_object *plc_unsigned_op(const char *rotation_key, const char *signing_key, const char *endpoint, const char *prev)
{
	json_object *op = json_object_new_object(), *rot = json_object_new_array(), *vms = json_object_new_object(),
		    *svcs = json_object_new_object(), *pds = json_object_new_object();
	json_object_object_add(op, "type", json_object_new_string("plc_operation"));
	json_object_array_add(rot, json_object_new_string(rotation_key));
	json_object_object_add(op, "rotationKeys", rot);
	json_object_object_add(vms, "atproto", json_object_new_string(signing_key));
	json_object_object_add(op, "verificationMethods", vms);
	json_object_object_add(op, "alsoKnownAs", json_object_new_array());
	json_object_object_add(pds, "type", json_object_new_string("AtprotoPersonalDataServer"));
	json_object_object_add(pds, "endpoint", json_object_new_string(endpoint));
	json_object_object_add(svcs, "atproto_pds", pds);
	json_object_object_add(op, "services", svcs);
	json_object_object_add(op, "prev", prev ? json_object_new_string(prev) : NULL);
	return op;
}

/* The DAG-CBOR of op without its "sig": the bytes a signature covers. 0, or -1 with *err. */
static int unsigned_bytes(const json_object *op, buf_t *out, char **err)
{
	json_object *copy = NULL;
	char *cerr = NULL;
	int rc = -1;
	if (!json_object_is_type(op, json_type_object) || json_object_deep_copy((json_object *)op, &copy, NULL) != 0) {
		buf_error(err, "a PLC operation must be a JSON object");
		goto out;
	}
	json_object_object_del(copy, "sig");
	if (dagcbor_encode(copy, out, &cerr) != 0) {
		buf_error(err, "encoding the PLC operation: %s", cerr ? cerr : "?");
		goto out;
	}
	rc = 0;
out:
	json_object_put(copy);
	free(cerr);
	return rc;
}

int plc_sign_op(const crypto_key *rotation, json_object *op, char **err)
{
	buf_t bytes = BUF_INIT;
	unsigned char sig[64];
	int rc = -1;
	if (unsigned_bytes(op, &bytes, err) != 0)
		goto out;
	if (crypto_ecdsa_sign(rotation, bytes.data, bytes.len, sig) != 0) {
		buf_error(err, "signing the PLC operation failed");
		goto out;
	}
	char *b64 = enc_b64url_encode(sig, sizeof sig);
	if (!b64) {
		buf_error(err, "out of memory");
		goto out;
	}
	json_object_object_add(op, "sig", json_object_new_string(b64));
	free(b64);
	rc = 0;
out:
	buf_free(&bytes);
	return rc;
}

int plc_verify_op(const json_object *op, const char *did_key)
{
	const char *sig = jsonget_str((json_object *)op, "sig");
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	buf_t bytes = BUF_INIT;
	crypto_key *key = NULL;
	char *e = NULL;
	int valid = 0;
	if (!sig || enc_b64url_decode(sig, strlen(sig), &raw, &rawlen) != 0 || unsigned_bytes(op, &bytes, &e) != 0 ||
	    !(key = did_key_decode(did_key, &e)))
		goto out;
	valid = crypto_ecdsa_verify(key, bytes.data, bytes.len, raw, rawlen);
out:
	free(raw);
	free(e);
	buf_free(&bytes);
	crypto_key_free(key);
	return valid;
}

char *plc_did_for_genesis(const json_object *genesis, char **err)
{
	buf_t bytes = BUF_INIT;
	char *cerr = NULL, *b32 = NULL, *did = NULL;
	unsigned char hash[32];
	if (!jsonget_str((json_object *)genesis, "sig")) {
		buf_error(err, "the genesis operation is not signed");
		goto out;
	}
	if (dagcbor_encode(genesis, &bytes, &cerr) != 0) {
		buf_error(err, "encoding the genesis operation: %s", cerr ? cerr : "?");
		goto out;
	}
	crypto_sha256(bytes.data, bytes.len, hash);
	if (!(b32 = enc_base32_lower_encode(hash, sizeof hash)) || !(did = buf_strf("did:plc:%.*s", PLC_DID_CHARS, b32)))
		buf_error(err, "out of memory");
out:
	buf_free(&bytes);
	free(cerr);
	free(b32);
	return did;
}

char *plc_op_cid(const json_object *op, char **err)
{
	cid_t cid;
	char *cerr = NULL, *s = NULL;
	if (dagcbor_cid(op, &cid, NULL, &cerr) != 0)
		buf_error(err, "encoding the PLC operation: %s", cerr ? cerr : "?");
	else if (!(s = cid_format(&cid)))
		buf_error(err, "out of memory");
	free(cerr);
	return s;
}

/* 1 when key is one of the operation's rotationKeys. */
static int has_rotation_key(json_object *op, const char *key)
{
	json_object *keys;
	if (!json_object_object_get_ex(op, "rotationKeys", &keys) || !json_object_is_type(keys, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(keys); i++) {
		const char *k = json_object_get_string(json_object_array_get_idx(keys, i));
		if (k && strcmp(k, key) == 0)
			return 1;
	}
	return 0;
}

json_object *plc_update_op(const json_object *last, const char *rotation_key, const char *signing_key,
			   const char *endpoint, char **err)
{
	json_object *op = NULL, *vms = NULL, *svcs = NULL, *pds;
	const char *type = jsonget_str((json_object *)last, "type");
	char *prev = NULL;
	if (!type || strcmp(type, "plc_operation") != 0) {
		buf_error(err, "the DID's last operation is %s, not a plc_operation%s", type ? type : "untyped",
			  type && strcmp(type, "plc_tombstone") == 0 ? ": the DID was tombstoned" : "");
		goto fail;
	}
	if (!has_rotation_key((json_object *)last, rotation_key)) {
		buf_error(err, "the rotation key %s is not one of the DID's rotation keys: only they may update it",
			  rotation_key);
		goto fail;
	}
	if (!(prev = plc_op_cid(last, err)) || json_object_deep_copy((json_object *)last, &op, NULL) != 0)
		goto fail;
	json_object_object_del(op, "sig");
	/* Everything else (other rotation keys, alsoKnownAs, other services and keys) stays as it was. */
	if (!json_object_object_get_ex(op, "verificationMethods", &vms) || !json_object_is_type(vms, json_type_object) ||
	    !json_object_object_get_ex(op, "services", &svcs) || !json_object_is_type(svcs, json_type_object)) {
		buf_error(err, "the DID's last operation has no verificationMethods or services object");
		goto fail;
	}
	json_object_object_add(vms, "atproto", json_object_new_string(signing_key));
	pds = json_object_new_object();
	json_object_object_add(pds, "type", json_object_new_string("AtprotoPersonalDataServer"));
	json_object_object_add(pds, "endpoint", json_object_new_string(endpoint));
	json_object_object_add(svcs, "atproto_pds", pds);
	json_object_object_add(op, "prev", json_object_new_string(prev));
	free(prev);
	return op;
fail:
	free(prev);
	json_object_put(op);
	return NULL;
}

/* ---- the directory */

typedef struct {
	char *url;            /* hold.plc_url, no trailing slash */
	http_opts http;
} plc_dir;

static void dir_init(plc_dir *d, const hold_ctx *h)
{
	const char *u = config_str(h->cfg, "hold.plc_url");
	size_t n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		n--;
	d->url = strndup(u, n);
	/* The directory is operator configuration, but loopback and plain http only in test mode, as
	 * every other outbound call of the hold. */
	d->http = (http_opts){.timeout_s = (long)config_int(h->cfg, "http.timeout"), .max_response = 1 << 20,
			      .allow_private = config_bool(h->cfg, "server.test_mode")};
}

/* The directory's own words for a refusal: its JSON "message", else the start of the body. */
static char *dir_message(const http_response *resp)
{
	json_object *j = resp->body.data ? json_tokener_parse(resp->body.data) : NULL;
	const char *m = jsonget_str(j, "message");
	char *s = buf_strf("HTTP %ld%s%.300s", resp->status, m || resp->body.len ? ": " : "",
			   m ? m : resp->body.data ? resp->body.data : "");
	json_object_put(j);
	return s;
}

enum { DIR_OK = 0, DIR_NOT_FOUND = 1, DIR_REFUSED = 2, DIR_UNAVAILABLE = -1 };

/* A 4xx says no to the request itself; a timeout or a rate limit only says "not now". */
static int refusal(long status)
{
	return status >= 400 && status < 500 && status != 408 && status != 429;
}

/* GET <plc>/<path>: DIR_OK with *out (caller puts), DIR_NOT_FOUND (404), DIR_REFUSED (another 4xx), or
 * DIR_UNAVAILABLE (no answer, 5xx, not JSON), each but DIR_OK with *err. */
static int dir_get(const plc_dir *d, const char *path, json_object **out, char **err)
{
	char *url = buf_strf("%s/%s", d->url, path);
	const char *headers[] = {"Accept: application/json, application/did+ld+json", NULL};
	http_request req = {.url = url, .headers = headers};
	http_response resp = {0};
	int rc = DIR_UNAVAILABLE;
	*out = NULL;
	if (http_do(&d->http, &req, &resp) != 0) {
		buf_error(err, "%s", resp.error ? resp.error : "no answer");
	} else if (resp.status != 200) {
		char *m = dir_message(&resp);
		buf_error(err, "GET %s: %s", url, m ? m : "?");
		free(m);
		rc = resp.status == 404 ? DIR_NOT_FOUND : refusal(resp.status) ? DIR_REFUSED : DIR_UNAVAILABLE;
	} else if (!(*out = json_tokener_parse(resp.body.data ? resp.body.data : "")) ||
		   !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		buf_error(err, "GET %s: not a JSON object", url);
	} else {
		rc = DIR_OK;
	}
	http_response_free(&resp);
	free(url);
	return rc;
}

/* POST <plc>/<did> with a signed operation: DIR_OK, DIR_REFUSED (4xx) or DIR_UNAVAILABLE, with *err. */
static int dir_post(const plc_dir *d, const char *did, json_object *op, char **err)
{
	char *url = buf_strf("%s/%s", d->url, did);
	const char *body = json_object_to_json_string_ext(op, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	const char *headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
	http_request req = {.method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
	http_response resp = {0};
	int rc = DIR_UNAVAILABLE;
	if (http_do(&d->http, &req, &resp) != 0) {
		buf_error(err, "%s", resp.error ? resp.error : "no answer");
	} else if (resp.status < 200 || resp.status > 299) {
		char *m = dir_message(&resp);
		buf_error(err, "POST %s: %s", url, m ? m : "?");
		free(m);
		rc = refusal(resp.status) ? DIR_REFUSED : DIR_UNAVAILABLE;
	} else {
		rc = DIR_OK;
	}
	http_response_free(&resp);
	free(url);
	return rc;
}

/* ---- the stored identity (one row) */

/* The stored DID, its genesis (caller puts) and whether the directory took it. 1 found, 0 none, -1 with *err. */
static int stored_load(sqlite3 *db, char **did, json_object **genesis, int *registered, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "SELECT did, genesis, registered FROM plc_identity WHERE id = 1", err);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*did = strdup((const char *)sqlite3_column_text(st, 0));
		*genesis = json_tokener_parse((const char *)sqlite3_column_text(st, 1));
		*registered = sqlite3_column_int(st, 2);
		rc = *did && *genesis ? 1 : buf_error(err, "the stored did:plc genesis is not JSON");
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, "reading the stored did:plc");
	}
	sqlite3_reset(st);
	return rc;
}

/* Keep a new genesis (not yet registered), before it is posted: a start-up that fails after the POST
 * left us must post the same operation again, not make another DID. 0, or -1 with *err. */
static int stored_create(sqlite3 *db, const char *did, json_object *genesis, char **err)
{
	sqlite3_stmt *st = db_prepare_err(
	    db, "INSERT INTO plc_identity (id, did, genesis, registered, created_at) VALUES (1, ?, ?, 0, ?)", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json_object_to_json_string_ext(genesis, JSON_C_TO_STRING_PLAIN), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "storing the did:plc genesis");
	sqlite3_reset(st);
	return rc;
}

/* One statement without parameters; what names it in the error. 0, or -1 with *err. */
static int stored_exec(sqlite3 *db, const char *sql, const char *what, char **err)
{
	char *e = NULL;
	int rc = db_exec(db, sql, &e) == 0 ? 0 : buf_error(err, "%s: %s", what, e ? e : "?");
	free(e);
	return rc;
}

/* A new genesis for this hold: signed, its DID derived, kept. *did and *genesis (caller frees / puts). */
static int make_genesis(const hold_ctx *h, sqlite3 *db, char **did, json_object **genesis, char **err)
{
	char *rot = did_key_encode(h->rotation_key), *sig = did_key_encode(h->key);
	int rc = -1;
	*did = NULL;
	*genesis = NULL;
	if (!rot || !sig) {
		buf_error(err, "encoding the keys as did:key failed");
		goto out;
	}
	*genesis = plc_unsigned_op(rot, sig, h->public_url, NULL);
	if (plc_sign_op(h->rotation_key, *genesis, err) != 0 || !(*did = plc_did_for_genesis(*genesis, err)) ||
	    stored_create(db, *did, *genesis, err) != 0)
		goto out;
	log_info("did:plc: created %s (rotation key %s); registering it with %s", *did, rot,
		 config_str(h->cfg, "hold.plc_url"));
	rc = 0;
out:
	if (rc != 0) {
		free(*did);
		*did = NULL;
		json_object_put(*genesis);
		*genesis = NULL;
	}
	free(rot);
	free(sig);
	return rc;
}

/* Post the stored genesis. The directory refusing an operation it never took means it never will: the
 * genesis is forgotten, so the next start makes another (nobody can have used a DID that never
 * resolved). 0, or -1 with *err. */
static int register_genesis(const plc_dir *d, sqlite3 *db, const char *did, json_object *genesis, int registered,
			    char **err)
{
	char *e = NULL;
	json_object *doc = NULL;
	int rc = DIR_NOT_FOUND, posted = 0;
	/* A start that stopped after its POST went through: the directory has the DID, and would refuse a
	 * second genesis (which must not make us forget the first). */
	if (!registered)
		rc = dir_get(d, did, &doc, &e);
	if (rc == DIR_NOT_FOUND) {
		rc = dir_post(d, did, genesis, &e);
		posted = 1;
	}
	if (rc == DIR_OK) {
		log_info("did:plc: %s %s %s", did, posted ? "registered with" : "found registered with", d->url);
		rc = stored_exec(db, "UPDATE plc_identity SET registered = 1 WHERE id = 1", "recording the registration",
				 err);
	} else if (rc == DIR_REFUSED && posted && !registered) {
		char *ignored = NULL;
		stored_exec(db, "DELETE FROM plc_identity WHERE id = 1", "forgetting the refused genesis", &ignored);
		free(ignored);
		rc = buf_error(err, "the PLC directory refused the genesis operation of %s (forgotten; the next start "
				    "makes another): %s", did, e ? e : "?");
	} else {
		rc = buf_error(err, "registering %s with the PLC directory (the next start tries again with the same "
				    "operation): %s", did, e ? e : "?");
	}
	json_object_put(doc);
	free(e);
	return rc;
}

char *plc_stored_did(sqlite3 *db)
{
	char *did = NULL, *e = NULL;
	json_object *genesis = NULL;
	int registered = 0;
	if (stored_load(db, &did, &genesis, &registered, &e) != 1) {
		free(did);
		did = NULL;
	}
	json_object_put(genesis);
	free(e);
	return did;
}

int plc_identity(hold_ctx *h, char **err)
{
	sqlite3 *db = hold_db(h);
	char *did = NULL, *e = NULL;
	json_object *genesis = NULL;
	int registered = 0, rc = -1;
	plc_dir d;
	dir_init(&d, h);
	if (!db) {
		buf_error(err, "database unavailable");
		goto out;
	}
	if (strcmp(config_str(h->cfg, "hold.rotation_key_path"), config_str(h->cfg, "hold.key_path")) == 0) {
		buf_error(err, "hold.rotation_key_path must be another file than hold.key_path: the rotation key "
			       "controls the DID, the signing key only signs");
		goto out;
	}
	if (!h->rotation_key &&
	    !(h->rotation_key = crypto_key_load_or_create(config_str(h->cfg, "hold.rotation_key_path"), CRYPTO_K256, &e))) {
		buf_error(err, "rotation key: %s", e ? e : "?");
		goto out;
	}
	int found = stored_load(db, &did, &genesis, &registered, err);
	if (found < 0 || (found == 0 && make_genesis(h, db, &did, &genesis, err) != 0))
		goto out;
	if (!registered && register_genesis(&d, db, did, genesis, 0, err) != 0)
		goto out;
	free(h->did);
	h->did = did;
	did = NULL;
	rc = 0;
out:
	free(did);
	free(e);
	free(d.url);
	json_object_put(genesis);
	http_thread_cleanup();
	return rc;
}

/* The directory's document of did names this hold's endpoint and signing key? 1 yes, 0 no (*what says
 * what differs, caller frees). */
static int document_current(const hold_ctx *h, const char *did, json_object *doc, char **what)
{
	identity id = {0};
	unsigned char ours[33], theirs[33];
	char *e = NULL;
	int rc = 0;
	if (identity_parse_doc(did, doc, &id, &e) != 0) {
		/* A document without a usable endpoint or key is one to repair, not a reason to stop. */
		*what = buf_strf("the document is not usable (%s)", e ? e : "?");
		goto out;
	}
	int same_key = crypto_key_public_compressed(id.key, theirs) == 0 && crypto_key_public_compressed(h->key, ours) == 0 &&
		       memcmp(ours, theirs, sizeof ours) == 0;
	int same_url = strcmp(id.pds, h->public_url) == 0;
	if (same_key && same_url)
		rc = 1;
	else
		*what = buf_strf("%s%s%s%s%s", same_url ? "" : "endpoint ", same_url ? "" : id.pds,
				 same_url ? "" : " -> ", same_url ? "" : h->public_url,
				 same_key ? "" : same_url ? "signing key changed" : ", signing key changed");
out:
	free(e);
	identity_free(&id);
	return rc;
}

int plc_sync(hold_ctx *h, char **err)
{
	sqlite3 *db = hold_db(h);
	char *did = NULL, *e = NULL, *what = NULL, *rot = NULL, *sig = NULL;
	json_object *genesis = NULL, *doc = NULL, *last = NULL, *op = NULL;
	int registered = 0, rc = -1, st;
	char *path = NULL;
	plc_dir d;
	dir_init(&d, h);
	if (!db || !h->rotation_key) {
		buf_error(err, "the hold has no did:plc identity to check");
		goto out;
	}
	if ((st = stored_load(db, &did, &genesis, &registered, &e)) != 1) {
		buf_error(err, "%s", st < 0 ? e : "no did:plc is stored in the hold's database");
		goto out;
	}
	st = dir_get(&d, did, &doc, &e);
	if (st == DIR_NOT_FOUND) {
		/* Registered once, unknown here: another (or a reset) directory. Its history starts again from
		 * the genesis, and the update below brings it to the present configuration. */
		log_warn("did:plc: %s is not in %s (%s); posting its genesis operation again", did, d.url, e ? e : "?");
		if (register_genesis(&d, db, did, genesis, registered, err) != 0)
			goto out;
		st = dir_get(&d, did, &doc, &e);
	}
	if (st != DIR_OK) {
		buf_error(err, "reading the document of %s: %s", did, e ? e : "?");
		rc = st == DIR_UNAVAILABLE ? 1 : -1;
		goto out;
	}
	if (document_current(h, did, doc, &what)) {
		rc = 0;
		goto out;
	}
	/* The operator moved the hold or changed its key: one update, prev = the last operation. */
	path = buf_strf("%s/log/last", did);
	st = dir_get(&d, path, &last, &e);
	if (st != DIR_OK) {
		buf_error(err, "reading the last operation of %s: %s", did, e ? e : "?");
		rc = st == DIR_UNAVAILABLE ? 1 : -1;
		goto out;
	}
	if (!(rot = did_key_encode(h->rotation_key)) || !(sig = did_key_encode(h->key))) {
		buf_error(err, "encoding the keys as did:key failed");
		goto out;
	}
	if (!(op = plc_update_op(last, rot, sig, h->public_url, &e)) || plc_sign_op(h->rotation_key, op, &e) != 0) {
		buf_error(err, "updating %s (%s): %s", did, what, e ? e : "?");
		goto out;
	}
	if ((st = dir_post(&d, did, op, &e)) != DIR_OK) {
		buf_error(err, "the PLC directory did not take the update of %s (%s): %s", did, what, e ? e : "?");
		rc = st == DIR_UNAVAILABLE ? 1 : -1;
		goto out;
	}
	log_info("did:plc: updated %s at %s: %s", did, d.url, what);
	rc = 0;
out:
	free(did);
	free(e);
	free(what);
	free(rot);
	free(sig);
	free(path);
	free(d.url);
	json_object_put(genesis);
	json_object_put(doc);
	json_object_put(last);
	json_object_put(op);
	http_thread_cleanup();
	return rc;
}
