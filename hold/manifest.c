/* manifest.c - io.atcr.hold.notifyManifest (layer and stats records on push and pull),
 * getLayersForManifest and getQuota (unique blob bytes per user, from the layer records; the tier and
 * its limit from quota.c). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "hold.h"
#include "log.h"
#include "recstore.h"
#include "syntax.h"
#include "tid.h"

#define NOTIFY_BODY (1024 * 1024)

/* at://<user>/io.atcr.manifest/<digest hex>: how layer records name their manifest. */
static char *manifest_uri(const char *user, const char *digest)
{
	buf_t b = BUF_INIT;
	buf_printf(&b, "at://%s/io.atcr.manifest/%s", user, strchr(digest, ':') + 1);
	return buf_detach(&b);
}

static int layer_exists(sqlite3 *db, const char *uri, const char *digest)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM layers WHERE manifest = ? AND digest = ?");
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

/* One io.atcr.hold.layer record per new (manifest, layer); returns how many were created or -1. */
static int create_layers(const hold_ctx *h, sqlite3 *db, json_object *layers, const char *user, const char *uri,
			 char **err)
{
	int created = 0;
	char now[32];
	hold_now(now);
	for (size_t i = 0; layers && i < json_object_array_length(layers); i++) {
		json_object *l = json_object_array_get_idx(layers, i), *sz;
		const char *digest = jsonget_str(l, "digest"), *mt = jsonget_str(l, "mediaType");
		int64_t size = json_object_object_get_ex(l, "size", &sz) && json_object_is_type(sz, json_type_int)
				       ? json_object_get_int64(sz) : -1;
		if (!digest || !blobstore_digest_ok(digest) || size < 0 || !mt || strlen(mt) > 128) {
			*err = strdup("each layer needs a digest, a size and a mediaType");
			return -1;
		}
		if (layer_exists(db, uri, digest))
			continue;
		char rkey[14];
		tid_next(rkey);
		json_object *rec = json_object_new_object();
		json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.layer"));
		json_object_object_add(rec, "digest", json_object_new_string(digest));
		json_object_object_add(rec, "size", json_object_new_int64(size));
		json_object_object_add(rec, "mediaType", json_object_new_string(mt));
		json_object_object_add(rec, "manifest", json_object_new_string(uri));
		json_object_object_add(rec, "userDid", json_object_new_string(user));
		json_object_object_add(rec, "createdAt", json_object_new_string(now));
		int rc = hold_put_record(h, "io.atcr.hold.layer", rkey, rec, NULL, err);
		json_object_put(rec);
		if (rc != 0)
			return -1;
		sqlite3_stmt *st = db_prepare(db, "INSERT INTO layers (rkey, manifest, user_did, digest, size) VALUES (?,?,?,?,?)");
		if (!st)
			return -1;
		sqlite3_bind_text(st, 1, rkey, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, uri, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, digest, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, size);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			*err = strdup(sqlite3_errmsg(db));
			return -1;
		}
		created++;
	}
	return created;
}

int manifest_layer_delete(sqlite3 *db, const char *rkey, char **err)
{
	int rc = recstore_delete(db, "io.atcr.hold.layer", rkey);
	if (rc < 0)
		return buf_error(err, "deleting layer record %s: %s", rkey, sqlite3_errmsg(db));
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM layers WHERE rkey = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, rkey, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(db, err, "deleting a layer row");
	sqlite3_reset(st);
	return rc;
}

/* Bump the io.atcr.hold.stats record of owner/repository (deterministic key, see hold_hash_rkey). */
static int bump_stats(const hold_ctx *h, sqlite3 *db, const char *owner, const char *repo, int push, char **err)
{
	buf_t keytext = BUF_INIT;
	buf_printf(&keytext, "%s/%s", owner, repo);
	char rkey[27], now[32];
	hold_hash_rkey(buf_str(&keytext), rkey);
	buf_free(&keytext);
	hold_now(now);
	json_object *rec = recstore_get(db, "io.atcr.hold.stats", rkey, NULL), *v;
	long long pulls = 0, pushes = 0;
	if (rec) {
		if (json_object_object_get_ex(rec, "pullCount", &v))
			pulls = json_object_get_int64(v);
		if (json_object_object_get_ex(rec, "pushCount", &v))
			pushes = json_object_get_int64(v);
	} else {
		rec = json_object_new_object();
	}
	json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.stats"));
	json_object_object_add(rec, "ownerDid", json_object_new_string(owner));
	json_object_object_add(rec, "repository", json_object_new_string(repo));
	json_object_object_add(rec, "pullCount", json_object_new_int64(pulls + !push));
	json_object_object_add(rec, "pushCount", json_object_new_int64(pushes + push));
	json_object_object_add(rec, push ? "lastPush" : "lastPull", json_object_new_string(now));
	json_object_object_add(rec, "updatedAt", json_object_new_string(now));
	int rc = hold_put_record(h, "io.atcr.hold.stats", rkey, rec, NULL, err);
	json_object_put(rec);
	return rc;
}

int manifest_notify(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL, *uri = NULL, *err = NULL;
	json_object *in = NULL, *manifest, *layers = NULL;
	sqlite3 *db = hold_db(h);
	/* Peek at the operation only after authenticating: the body is read once. */
	if (hold_authenticate(r, "io.atcr.hold.notifyManifest", &caller) != 0)
		goto out;
	in = hold_read_json(r, NOTIFY_BODY);
	if (!in)
		goto out;
	const char *repo = jsonget_str(in, "repository"), *user = jsonget_str(in, "userDid"),
		   *digest = jsonget_str(in, "manifestDigest"), *op = jsonget_str(in, "operation");
	if (!op)
		op = "push";
	int push = strcmp(op, "push") == 0;
	if (!push && strcmp(op, "pull") != 0) {
		hold_xrpc_error(r, 400, "InvalidOperation", "operation must be push or pull");
		goto out;
	}
	if (!repo || !*repo || strlen(repo) > 256 || !user || !syntax_did_ok(user) || !digest ||
	    !blobstore_digest_ok(digest) || !json_object_object_get_ex(in, "manifest", &manifest) ||
	    !json_object_is_type(manifest, json_type_object)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "repository, userDid, manifestDigest and manifest are required");
		goto out;
	}
	int is_crew = 0;
	unsigned perms = hold_crew_perms(h, caller, &is_crew);
	if (push && strcmp(caller, user) != 0) {
		hold_xrpc_error(r, 403, "UserMismatch", "a push is reported by the image owner's own token");
		goto out;
	}
	if (!hold_may(h->owner, h->is_public, caller, is_crew, perms, push ? HOLD_WRITE_BLOBS : HOLD_READ_BLOBS)) {
		hold_xrpc_error(r, 403, "Forbidden", push ? "pushing needs blob:write on this hold"
							 : "pulling needs blob:read on this hold");
		goto out;
	}
	json_object_object_get_ex(manifest, "layers", &layers);
	if (layers && !json_object_is_type(layers, json_type_array)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "manifest.layers must be an array");
		goto out;
	}
	uri = manifest_uri(user, digest);
	int created = 0;
	if (!db || db_exec(db, "BEGIN IMMEDIATE", &err) != 0) {
		hold_xrpc_error(r, 500, "InternalServerError", "database unavailable");
		goto out;
	}
	if (push)
		created = create_layers(h, db, layers, user, uri, &err);
	/* The config blob has no layer record; garbage collection must know it is in use. */
	if (created >= 0 && push &&
	    gc_note_manifest(db, uri, user, jsonget_str(jsonget(manifest, "config", json_type_object), "digest"),
			     (long long)time(NULL), &err) != 0)
		created = -2;
	/* Its blobs were held as pending by the quota until now (see quota.c). The layers are recorded
	 * even when they take the user over their limit: blobs pushed by others cost the hold nothing
	 * new, and the user's next upload is refused. */
	if (created >= 0 && push && quota_settle(db, user, manifest, &err) != 0)
		created = -2;
	if (created < 0 || bump_stats(h, db, user, repo, push, &err) != 0) {
		char *ignored = NULL;
		db_exec(db, "ROLLBACK", &ignored);
		free(ignored);
		hold_xrpc_error(r, created == -1 ? 400 : 500, created == -1 ? "InvalidRequest" : "InternalServerError", err);
		goto out;
	}
	if (repo_tx_commit(h, db, &err) != 0) {
		char *ignored = NULL;
		db_exec(db, "ROLLBACK", &ignored);
		free(ignored);
		hold_xrpc_error(r, 500, "InternalServerError", err);
		goto out;
	}
	log_info("notifyManifest %s %s/%s %s by %s: %d layer records", op, user, repo, digest, caller, created);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "operation", json_object_new_string(op));
	json_object_object_add(o, "statsUpdated", json_object_new_boolean(1));
	if (push)
		json_object_object_add(o, "layersCreated", json_object_new_int(created));
	json_object_object_add(o, "postCreated", json_object_new_boolean(0));
	fcgi_send_json(r, 200, o);
	json_object_put(o);
out:
	json_object_put(in);
	free(caller);
	free(uri);
	free(err);
	return 0;
}

int manifest_layers(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *uri = fcgi_query_get(r, "manifest"), *caller = NULL;
	sqlite3 *db = hold_db(h);
	if (!uri || !syntax_aturi_ok(uri)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "manifest must be an at-uri");
		goto out;
	}
	if (hold_authorize(r, "io.atcr.hold.getLayersForManifest", HOLD_READ_BLOBS, 0, &caller) != 0)
		goto out;
	sqlite3_stmt *st = db ? db_prepare(db, "SELECT rkey FROM layers WHERE manifest = ? ORDER BY rkey") : NULL;
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	if (st) {
		sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_object *v = recstore_get(db, "io.atcr.hold.layer", (const char *)sqlite3_column_text(st, 0), NULL);
			if (v)
				json_object_array_add(arr, v);
		}
		sqlite3_reset(st);
	}
	json_object_object_add(o, "layers", arr);
	fcgi_send_json(r, 200, o);
	json_object_put(o);
out:
	free(uri);
	free(caller);
	return 0;
}

int manifest_quota(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *user = fcgi_query_get(r, "userDid"), *caller = NULL, *err = NULL;
	sqlite3 *db = hold_db(h);
	long long blobs = 0, total = 0;
	if (!user || !syntax_did_ok(user)) {
		hold_xrpc_error(r, 400, "InvalidUserDid", "userDid must be a DID");
		goto out;
	}
	if (hold_authorize(r, "io.atcr.hold.getQuota", HOLD_READ_BLOBS, 0, &caller) != 0)
		goto out;
	if (!db || quota_usage(db, user, &blobs, &total, &err) != 0) {
		log_error("getQuota for %s: %s", user, err ? err : "database unavailable");
		hold_xrpc_error(r, 500, "InternalServerError", "the usage could not be read");
		goto out;
	}
	/* The captain, and everyone on a hold without a tiers file, has no tier and no limit. */
	const hold_tier *tier = quota_tier(h, db, user);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "userDid", json_object_new_string(user));
	json_object_object_add(o, "uniqueBlobs", json_object_new_int64(blobs));
	json_object_object_add(o, "totalSize", json_object_new_int64(total));
	if (tier && tier->limit != TIER_UNLIMITED)
		json_object_object_add(o, "limit", json_object_new_int64(tier->limit));
	if (tier)
		json_object_object_add(o, "tier", json_object_new_string(tier->name));
	fcgi_send_json(r, 200, o);
	json_object_put(o);
out:
	free(user);
	free(caller);
	free(err);
	return 0;
}
