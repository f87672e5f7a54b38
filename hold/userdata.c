/* userdata.c - io.atcr.hold.exportUserData and deleteUserData: everything the hold's records say about
 * the calling user (crew record, layer records by userDid, stats records by ownerDid), out or gone. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "hold.h"
#include "log.h"
#include "recstore.h"

#define EXPORT_NSID "io.atcr.hold.exportUserData"
#define DELETE_NSID "io.atcr.hold.deleteUserData"

/* The owner fields, as the io.atcr.hold.layer and io.atcr.hold.stats lexicons name them. */
#define LAYER_OWNER_FIELD "userDid"
#define STATS_OWNER_FIELD "ownerDid"

/* Only the fields the export lexicon defines, as the record has them. */
static const char *const crew_fields[] = {"addedAt", "permissions", "role", "tier", NULL};
static const char *const layer_fields[] = {"createdAt", "digest", "manifest", "mediaType", "size", NULL};
static const char *const stats_fields[] = {"repository", "pullCount", "pushCount", "lastPull", "lastPush",
					   "updatedAt", NULL};

static json_object *pick(json_object *record, const char *const *fields)
{
	json_object *o = json_object_new_object(), *v;
	for (; *fields; fields++)
		if (json_object_object_get_ex(record, *fields, &v) && v)
			json_object_object_add(o, *fields, json_object_get(v));
	return o;
}

/* The records of collection owned (field) by user, each cut down to fields; NULL with *err. */
static json_object *owned(sqlite3 *db, const char *collection, const char *field, const char *user,
			  const char *const *fields, char **err)
{
	json_object *found = hold_records_where(db, collection, field, user, err);
	if (!found)
		return NULL;
	json_object *out = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(found); i++) {
		json_object *v = NULL;
		json_object_object_get_ex(json_object_array_get_idx(found, i), "value", &v);
		json_object_array_add(out, pick(v, fields));
	}
	json_object_put(found);
	return out;
}

static void rollback(sqlite3 *db)
{
	char *ignored = NULL;
	db_exec(db, "ROLLBACK", &ignored);
	free(ignored);
}

json_object *userdata_collect(sqlite3 *db, const char *hold_did, const char *owner, const char *user,
			      const char *now, char **err)
{
	json_object *o = NULL, *crew = NULL, *layers = NULL, *stats = NULL;
	/* One read transaction: layers and stats from the same moment. */
	if (db_exec(db, "BEGIN", err) != 0)
		return NULL;
	crew = crew_get(db, user);
	layers = owned(db, "io.atcr.hold.layer", LAYER_OWNER_FIELD, user, layer_fields, err);
	stats = layers ? owned(db, "io.atcr.hold.stats", STATS_OWNER_FIELD, user, stats_fields, err) : NULL;
	if (!stats) {
		rollback(db);
		goto out;
	}
	if (db_exec(db, "COMMIT", err) != 0)
		goto out;
	o = json_object_new_object();
	json_object_object_add(o, "exportedAt", json_object_new_string(now));
	json_object_object_add(o, "holdDid", json_object_new_string(hold_did));
	json_object_object_add(o, "userDid", json_object_new_string(user));
	json_object_object_add(o, "isCaptain", json_object_new_boolean(strcmp(user, owner) == 0));
	if (crew)
		json_object_object_add(o, "crewRecord", pick(crew, crew_fields));
	json_object_object_add(o, "layerRecords", json_object_get(layers));
	json_object_object_add(o, "statsRecords", json_object_get(stats));
	json_object_object_add(o, "blueskyPosts", json_object_new_array()); /* the hold posts nothing yet */
out:
	json_object_put(crew);
	json_object_put(layers);
	json_object_put(stats);
	return o;
}

/* Delete every record of collection owned (field) by user; how many, or -1 with *err. */
static long long erase_owned(sqlite3 *db, const char *collection, const char *field, const char *user, char **err)
{
	json_object *found = hold_records_where(db, collection, field, user, err);
	long long n = 0;
	if (!found)
		return -1;
	for (size_t i = 0; i < json_object_array_length(found) && n >= 0; i++) {
		const char *rkey = jsonget_str(json_object_array_get_idx(found, i), "rkey");
		int rc = strcmp(collection, "io.atcr.hold.layer") == 0 ? manifest_layer_delete(db, rkey, err)
								       : recstore_delete(db, collection, rkey);
		if (rc < 0) {
			if (!*err)
				buf_error(err, "deleting %s/%s: %s", collection, rkey, sqlite3_errmsg(db));
			n = -1;
		} else {
			n += rc;
		}
	}
	json_object_put(found);
	return n;
}

int userdata_erase(const hold_ctx *h, sqlite3 *db, const char *user, userdata_erased *out, char **err)
{
	const char *owner = h->owner;
	userdata_erased done = {0, 0, 0};
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	/* The captain stays crew: a hold without its captain's record could not be managed. */
	if (strcmp(user, owner) != 0) {
		json_object *rec = crew_get(db, user);
		int rc = rec ? crew_remove(db, user) : 0;
		json_object_put(rec);
		if (rc < 0) {
			buf_error(err, "deleting the crew record: %s", sqlite3_errmsg(db));
			goto fail;
		}
		done.crew_deleted = rc;
	}
	if ((done.layers = erase_owned(db, "io.atcr.hold.layer", LAYER_OWNER_FIELD, user, err)) < 0 ||
	    (done.stats = erase_owned(db, "io.atcr.hold.stats", STATS_OWNER_FIELD, user, err)) < 0 ||
	    gc_forget_user(db, user, err) < 0)
		goto fail;
	/* The new head first: pruning then drops the earlier heads' MST nodes, which name her records. */
	if (repo_commit(h, db, err) < 0)
		goto fail;
	if (recstore_prune(db) < 0) {
		buf_error(err, "dropping the deleted records' blocks: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (db_exec(db, "COMMIT", err) != 0)
		goto fail;
	*out = done;
	return 0;
fail:
	rollback(db);
	return -1;
}

int userdata_export(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL, *err = NULL, now[32];
	json_object *o = NULL;
	/* The lexicon names one error for a missing or unusable token: AuthRequired. */
	if (hold_authenticate_as(r, EXPORT_NSID, "AuthRequired", &caller) != 0)
		goto out;
	sqlite3 *db = hold_db(h);
	hold_now(now);
	o = db ? userdata_collect(db, h->did, h->owner, caller, now, &err) : NULL;
	if (!o) {
		log_error("exportUserData for %s: %s", caller, err ? err : "database unavailable");
		hold_xrpc_error(r, 500, "InternalServerError", "the export could not be read");
		goto out;
	}
	log_info("exportUserData for %s", caller);
	fcgi_send_json(r, 200, o);
out:
	json_object_put(o);
	free(caller);
	free(err);
	return 0;
}

int userdata_delete(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL, *err = NULL;
	json_object *in = NULL;
	userdata_erased done;
	if (hold_authenticate_as(r, DELETE_NSID, "AuthRequired", &caller) != 0)
		goto out;
	in = hold_read_json(r, 64 * 1024); /* {}: the lexicon's input has no properties */
	if (!in)
		goto out;
	sqlite3 *db = hold_db(h);
	if (!db || userdata_erase(h, db, caller, &done, &err) != 0) {
		log_error("deleteUserData for %s: %s", caller, err ? err : "database unavailable");
		hold_xrpc_error(r, 500, "DeletionFailed", "nothing was deleted: the hold's records could not be changed");
		goto out;
	}
	log_info("deleteUserData for %s: crew %s, %lld layer records, %lld stats records", caller,
		 done.crew_deleted ? "deleted" : "kept or absent", done.layers, done.stats);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "crewDeleted", json_object_new_boolean(done.crew_deleted));
	json_object_object_add(o, "layersDeleted", json_object_new_int64(done.layers));
	json_object_object_add(o, "statsDeleted", json_object_new_int64(done.stats));
	fcgi_send_json(r, 200, o);
	json_object_put(o);
out:
	json_object_put(in);
	free(caller);
	free(err);
	return 0;
}
