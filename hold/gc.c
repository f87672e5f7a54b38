/* gc.c - garbage collection (atcr-hold gc): layer records whose manifest left its owner's PDS, the
 * blobs nothing names any more, the record blocks no record points at.
 *
 * It runs from cron next to `atcr-hold serve`. Owners' PDSes are asked outside any transaction; every
 * deletion is one short BEGIN IMMEDIATE transaction that checks again what it deletes (so it is
 * ordered with notifyManifest, which writes in the same way); and the store re-reads a blob's mark
 * once the blob is out of sight (bs_remove), so a blob stored again or asked for (getBlob marks it,
 * gc_blob_asked) while the collection runs stays. A blob being read when it is removed is read to
 * its end: the file is unlinked, not truncated. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "hold.h"
#include "identity.h"
#include "log.h"
#include "recstore.h"
#include "syntax.h"
#include "xrpc.h"

#define MANIFEST_COLLECTION "io.atcr.manifest"
#define LIST_LIMIT 100
#define LIST_PAGES_MAX 2000        /* 200 000 manifest records of one owner; more: undecided */
#define PDS_RESPONSE_MAX (8 << 20) /* a listRecords page of large manifest records */
#define TOUCH_EVERY 3600           /* getBlob marks a blob at most this often (seconds) */

typedef enum { GC_PRESENT, GC_GONE, GC_UNDECIDED } gc_verdict;

/* What one collection carries between its phases. */
typedef struct {
	const hold_ctx *h;
	const gc_options *o;
	gc_report *rep;
	sqlite3 *db;
	http_opts http;
	json_object *gone;      /* a dry run: manifest at-uris found gone (their rows stay but count as removed) */
	json_object *configs;   /* config blob digests of manifests found present, from their records */
	json_object *uploading; /* digests named by open uploads */
	long long unknown_configs; /* undecided manifests whose config blob the hold never recorded */
	long long cutoff;       /* blobs marked at or before it may go */
	long long errors;
	char *first_error;
} gc_state;

/* One owner of manifests, resolved once for all of them. */
typedef struct {
	char *did;
	char *pds;          /* from the DID document; NULL when it did not resolve */
	char *why;          /* set: nothing more of this owner can be decided, and why */
	long long since;    /* when asking began: a manifest pushed again since then stays */
	int listed_read;
	json_object *listed; /* manifest digest -> config digest (or null), from listRecords; NULL if it failed */
	char *list_why;
} gc_owner;

static void say(const gc_state *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const gc_state *g, const char *fmt, ...)
{
	if (!g->o->out)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(g->o->out, fmt, ap);
	va_end(ap);
	fputc('\n', g->o->out);
}

/* Count an error and keep the first message (err is consumed). */
static void failed(gc_state *g, char *err)
{
	log_error("gc: %s", err ? err : "failed");
	g->errors++;
	if (!g->first_error)
		g->first_error = err ? err : strdup("failed");
	else
		free(err);
}

static void rollback(sqlite3 *db)
{
	char *ignored = NULL;
	db_exec(db, "ROLLBACK", &ignored);
	free(ignored);
}

static int in_set(json_object *set, const char *key)
{
	return set && key && json_object_object_get_ex(set, key, NULL);
}

int gc_manifest_ref(const char *uri, char **did, char **rkey, char **digest)
{
	static const char mid[] = "/" MANIFEST_COLLECTION "/";
	*did = *rkey = *digest = NULL;
	if (!uri || strncmp(uri, "at://", 5) != 0)
		return -1;
	const char *d = uri + 5, *slash = strchr(d, '/');
	if (!slash || strncmp(slash, mid, sizeof mid - 1) != 0)
		return -1;
	const char *k = slash + sizeof mid - 1;
	char *owner = strndup(d, (size_t)(slash - d));
	if (!owner || !syntax_did_ok(owner) || !syntax_rkey_ok(k)) {
		free(owner);
		return -1;
	}
	*did = owner;
	*rkey = strdup(k);
	size_t n = strlen(k);
	if (n == 64 || n == 128) {
		*digest = buf_strf("%s:%s", n == 64 ? "sha256" : "sha512", k);
		if (*digest && !blobstore_digest_ok(*digest)) {
			free(*digest);
			*digest = NULL;
		}
	}
	return 0;
}

/* The config blob digest of an io.atcr.manifest record's value (caller frees); NULL when it has none. */
static char *record_config(json_object *value)
{
	const char *d = jsonget_str(jsonget(value, "config", json_type_object), "digest");
	return d && blobstore_digest_ok(d) ? strdup(d) : NULL;
}

/* ---- the manifests table */

int gc_note_manifest(sqlite3 *db, const char *uri, const char *user, const char *config_digest, long long now,
		     char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "INSERT INTO manifests (manifest, user_did, config, notified_at) "
					      "VALUES (?,?,?,?) ON CONFLICT (manifest) DO UPDATE SET "
					      "config = coalesce(excluded.config, manifests.config), notified_at = excluded.notified_at",
					  err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	if (config_digest && blobstore_digest_ok(config_digest))
		sqlite3_bind_text(st, 3, config_digest, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "recording a manifest");
	sqlite3_reset(st);
	return rc;
}

int gc_forget_user(sqlite3 *db, const char *user, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM manifests WHERE user_did = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) : db_fail(db, err, "forgetting a user's manifests");
	sqlite3_reset(st);
	return rc;
}

/* A manifest found present whose config blob the hold had not recorded (pushed before it did): record
 * it now, so that a later collection that cannot reach the PDS still knows the blob is in use. */
static int remember_present(sqlite3 *db, const char *uri, const char *user, const char *config_digest, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "INSERT INTO manifests (manifest, user_did, config, notified_at) "
					      "VALUES (?,?,?,0) ON CONFLICT (manifest) DO UPDATE SET "
					      "config = coalesce(manifests.config, excluded.config)",
					  err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	if (config_digest)
		sqlite3_bind_text(st, 3, config_digest, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "recording a manifest's config");
	sqlite3_reset(st);
	return rc;
}

/* 1 when the manifests table has a row for uri (its config blob is known, or known to be none). */
static int manifest_known(sqlite3 *db, const char *uri)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM manifests WHERE manifest = ?");
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

/* ---- phase 1: manifests, asked of their owners' PDSes */

/* Why an owner's PDS gave no answer we can use (caller frees). */
static char *pds_failure(const gc_owner *ow, const char *method, const xrpc_error *e)
{
	if (e->status == 0)
		return buf_strf("%s's PDS %s did not answer %s: %s", ow->did, ow->pds, method,
				e->message ? e->message : "no response");
	return buf_strf("%s's PDS %s answered %s with %ld %s%s%s", ow->did, ow->pds, method, e->status,
			e->error ? e->error : "", e->message ? ": " : "", e->message ? e->message : "");
}

static void owner_free(gc_owner *ow)
{
	free(ow->did);
	free(ow->pds);
	free(ow->why);
	json_object_put(ow->listed);
	free(ow->list_why);
	memset(ow, 0, sizeof *ow);
}

static void owner_start(gc_state *g, gc_owner *ow, const char *did)
{
	owner_free(ow);
	ow->did = strdup(did);
	ow->since = (long long)time(NULL);
	/* A fresh document, not the cache: the owner may have moved to another PDS. */
	identity_ctx ic = g->h->ident;
	ic.db = NULL;
	identity id = {0};
	char *e = NULL;
	json_object *doc = identity_fetch_doc(&ic, did, &e);
	if (doc && identity_parse_doc(did, doc, &id, &e) == 0)
		ow->pds = strdup(id.pds);
	else
		ow->why = buf_strf("%s does not resolve: %s", did, e ? e : "no DID document");
	identity_free(&id);
	json_object_put(doc);
	free(e);
}

/* Read every io.atcr.manifest record of the owner: ow->listed, or ow->list_why. */
static void read_listing(const gc_state *g, gc_owner *ow)
{
	xrpc_client c = {ow->pds, NULL, &g->http};
	json_object *map = json_object_new_object();
	char *cursor = NULL;
	ow->listed_read = 1;
	for (int page = 0;; page++) {
		if (page == LIST_PAGES_MAX) {
			ow->list_why = buf_strf("%s has more than %d manifest records: not all were listed", ow->did,
						LIST_PAGES_MAX * LIST_LIMIT);
			break;
		}
		xrpc_error e = {0};
		json_object *res = xrpc_list_records(&c, ow->did, MANIFEST_COLLECTION, LIST_LIMIT, cursor, &e);
		json_object *recs = res ? jsonget(res, "records", json_type_array) : NULL;
		if (!recs) {
			ow->list_why = res ? buf_strf("%s's PDS %s answered listRecords without records", ow->did, ow->pds)
					   : pds_failure(ow, "listRecords", &e);
			xrpc_error_free(&e);
			json_object_put(res);
			break;
		}
		size_t n = json_object_array_length(recs);
		for (size_t i = 0; i < n; i++) {
			json_object *value = jsonget(json_object_array_get_idx(recs, i), "value", json_type_object);
			const char *d = jsonget_str(value, "digest");
			if (!d)
				continue;
			char *config_digest = record_config(value);
			json_object_object_add(map, d, config_digest ? json_object_new_string(config_digest) : NULL);
			free(config_digest);
		}
		const char *next = jsonget_str(res, "cursor");
		free(cursor);
		cursor = next && *next && n > 0 ? strdup(next) : NULL;
		json_object_put(res);
		if (!cursor) {
			ow->listed = map;
			map = NULL;
			break;
		}
	}
	free(cursor);
	json_object_put(map);
}

/* Is the manifest at uri still in its owner's repository? *config_digest (caller frees) when present and its
 * record names one; *why (caller frees) when undecided. */
static gc_verdict judge(const gc_state *g, gc_owner *ow, const char *rkey, const char *digest, char **config_digest,
			char **why)
{
	if (ow->why) {
		*why = strdup(ow->why);
		return GC_UNDECIDED;
	}
	xrpc_client c = {ow->pds, NULL, &g->http};
	xrpc_error e = {0};
	json_object *rec = xrpc_get_record(&c, ow->did, MANIFEST_COLLECTION, rkey, &e);
	gc_verdict v = GC_UNDECIDED;
	if (rec) {
		*config_digest = record_config(jsonget(rec, "value", json_type_object));
		v = GC_PRESENT;
	} else if (e.error && strcmp(e.error, "RecordNotFound") == 0) {
		/* The hold names manifests by digest, not by their record key: a manifest may live on under a
		 * key of its own, so the owner's manifest records are looked through for its digest. */
		if (!digest) {
			v = GC_GONE;
		} else {
			if (!ow->listed_read)
				read_listing(g, ow);
			json_object *cfg = NULL;
			if (!ow->listed) {
				*why = strdup(ow->list_why);
			} else if (json_object_object_get_ex(ow->listed, digest, &cfg)) {
				*config_digest = cfg ? strdup(json_object_get_string(cfg)) : NULL;
				v = GC_PRESENT;
			} else {
				v = GC_GONE;
			}
		}
	} else {
		*why = pds_failure(ow, "getRecord", &e);
		if (e.status == 0 && !ow->why)
			ow->why = strdup(*why); /* no answer: do not wait for it once per manifest */
	}
	json_object_put(rec);
	xrpc_error_free(&e);
	return v;
}

/* Delete the layer records and the row of a manifest found gone, in one transaction; unless it was
 * pushed again since the owner was first asked (*repushed = 1). *removed: layer records deleted. */
static int drop_manifest(const hold_ctx *h, sqlite3 *db, const char *uri, long long since, long long *removed,
			 int *repushed, char **err)
{
	json_object *rkeys = json_object_new_array();
	int rc = -1;
	*removed = 0;
	*repushed = 0;
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		goto out;
	sqlite3_stmt *st = db_prepare_err(db, "SELECT notified_at FROM manifests WHERE manifest = ?", err);
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	*repushed = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) >= since;
	sqlite3_reset(st);
	if (*repushed) {
		rollback(db);
		rc = 0;
		goto out;
	}
	if (!(st = db_prepare_err(db, "SELECT rkey FROM layers WHERE manifest = ?", err)))
		goto fail;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_array_add(rkeys, json_object_new_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	for (size_t i = 0; i < json_object_array_length(rkeys); i++) {
		int d = manifest_layer_delete(db, json_object_get_string(json_object_array_get_idx(rkeys, i)), err);
		if (d < 0)
			goto fail;
		*removed += d;
	}
	if (!(st = db_prepare_err(db, "DELETE FROM manifests WHERE manifest = ?", err)))
		goto fail;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	int stepped = sqlite3_step(st);
	sqlite3_reset(st);
	if (stepped != SQLITE_DONE) {
		db_fail(db, err, "deleting a manifest row");
		goto fail;
	}
	if (repo_tx_commit(h, db, err) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	rollback(db);
	*removed = 0;
out:
	json_object_put(rkeys);
	return rc;
}

static long long layer_rows(sqlite3 *db, const char *uri)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM layers WHERE manifest = ?");
	long long n = 0;
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

static void gone(gc_state *g, const gc_owner *ow, const char *uri)
{
	g->rep->gone++;
	if (g->o->dry_run) {
		long long n = layer_rows(g->db, uri);
		json_object_object_add(g->gone, uri, NULL);
		g->rep->layer_records += n;
		say(g, "manifest %s: gone; would remove %lld layer records", uri, n);
		return;
	}
	long long n = 0;
	int repushed = 0;
	char *err = NULL;
	if (drop_manifest(g->h, g->db, uri, ow->since, &n, &repushed, &err) != 0) {
		failed(g, buf_strf("manifest %s: %s", uri, err ? err : "?"));
		free(err);
		return;
	}
	if (repushed) {
		g->rep->gone--;
		g->rep->present++;
		say(g, "manifest %s: pushed again during the collection; kept", uri);
		return;
	}
	g->rep->layer_records += n;
	log_info("gc: manifest %s is gone: %lld layer records removed", uri, n);
	say(g, "manifest %s: gone; removed %lld layer records", uri, n);
}

static void present(gc_state *g, const gc_owner *ow, const char *uri, const char *config_digest)
{
	char *err = NULL;
	g->rep->present++;
	if (config_digest)
		json_object_object_add(g->configs, config_digest, NULL);
	if (!g->o->dry_run && remember_present(g->db, uri, ow->did, config_digest, &err) != 0)
		failed(g, err);
}

static void undecided(gc_state *g, const char *uri, const char *why)
{
	g->rep->undecided++;
	if (!manifest_known(g->db, uri))
		g->unknown_configs++;
	log_warn("gc: manifest %s kept: %s", uri, why);
	say(g, "manifest %s: kept: %s", uri, why);
}

/* Every manifest a layer record or the manifests table names, grouped by owner (caller puts). */
static json_object *manifest_uris(sqlite3 *db, char **err)
{
	sqlite3_stmt *st =
		db_prepare_err(db, "SELECT manifest FROM layers UNION SELECT manifest FROM manifests ORDER BY 1", err);
	if (!st)
		return NULL;
	json_object *uris = json_object_new_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_array_add(uris, json_object_new_string((const char *)sqlite3_column_text(st, 0)));
	if (rc != SQLITE_DONE) {
		db_fail(db, err, "listing manifests");
		json_object_put(uris);
		uris = NULL;
	}
	sqlite3_reset(st);
	return uris;
}

static int check_manifests(gc_state *g, char **err)
{
	json_object *uris = manifest_uris(g->db, err);
	if (!uris)
		return -1;
	gc_owner ow = {0};
	for (size_t i = 0; i < json_object_array_length(uris); i++) {
		const char *uri = json_object_get_string(json_object_array_get_idx(uris, i));
		char *did = NULL, *rkey = NULL, *digest = NULL, *config_digest = NULL, *why = NULL;
		g->rep->manifests++;
		if (gc_manifest_ref(uri, &did, &rkey, &digest) != 0) {
			undecided(g, uri, "not an io.atcr.manifest at-uri");
			continue;
		}
		if (!ow.did || strcmp(ow.did, did) != 0)
			owner_start(g, &ow, did);
		switch (judge(g, &ow, rkey, digest, &config_digest, &why)) {
		case GC_PRESENT:
			present(g, &ow, uri, config_digest);
			break;
		case GC_GONE:
			gone(g, &ow, uri);
			break;
		case GC_UNDECIDED:
			undecided(g, uri, why);
			break;
		}
		free(did);
		free(rkey);
		free(digest);
		free(config_digest);
		free(why);
	}
	owner_free(&ow);
	json_object_put(uris);
	return 0;
}

/* ---- phase 2: blobs */

enum { NAMED_NOT = 0, NAMED_BY_MANIFEST = 1, NAMED_PENDING = 2 };

/* Whether anything on the hold names digest: a layer record or a manifest's config (of a manifest not
 * in ignore), or a completed upload the quota holds as pending. NAMED_*, or -1 with *err. */
static int named(sqlite3 *db, const char *digest, json_object *ignore, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "SELECT manifest FROM layers WHERE digest = ?1 "
					      "UNION SELECT manifest FROM manifests WHERE config = ?1",
					  err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	int rc = NAMED_NOT, stepped = SQLITE_DONE;
	while (rc == NAMED_NOT && (stepped = sqlite3_step(st)) == SQLITE_ROW)
		if (!in_set(ignore, (const char *)sqlite3_column_text(st, 0)))
			rc = NAMED_BY_MANIFEST;
	if (rc == NAMED_NOT && stepped != SQLITE_DONE)
		rc = db_fail(db, err, "looking for a blob's references");
	sqlite3_reset(st);
	if (rc != NAMED_NOT)
		return rc;
	if (!(st = db_prepare_err(db, "SELECT 1 FROM pending_blobs WHERE digest = ? LIMIT 1", err)))
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	stepped = sqlite3_step(st);
	rc = stepped == SQLITE_ROW    ? NAMED_PENDING
	     : stepped == SQLITE_DONE ? NAMED_NOT
				      : db_fail(db, err, "reading pending blobs");
	sqlite3_reset(st);
	return rc;
}

int gc_collect_blob(sqlite3 *db, blobstore *bs, const char *digest, long long cutoff, int *removed, long long *size,
		    char **err)
{
	*removed = 0;
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	int n = named(db, digest, NULL, err);
	bs_status st = n == NAMED_NOT ? bs_remove(bs, digest, cutoff, removed, size) : BS_OK;
	if (n < 0 || (st != BS_OK && st != BS_NOT_FOUND)) {
		if (n >= 0)
			buf_error(err, "removing blob %s: %s", digest, blobstore_error_name(st));
		rollback(db);
		return -1;
	}
	/* Only read: a failing COMMIT changes nothing the removal did not already do. */
	if (db_exec(db, "COMMIT", err) != 0) {
		rollback(db);
		return -1;
	}
	return 0;
}

static int note_upload(void *ctx, const char *upload_id, const char *hint)
{
	(void)upload_id;
	gc_state *g = ctx;
	if (blobstore_digest_ok(hint))
		json_object_object_add(g->uploading, hint, NULL);
	return 0;
}

static int sweep_blob(void *ctx, const char *digest, long long size, long long mark)
{
	gc_state *g = ctx;
	char *err = NULL;
	if (mark > g->cutoff) {
		g->rep->blobs_young++;
		return 0;
	}
	if (in_set(g->uploading, digest)) {
		g->rep->blobs_pending++;
		return 0;
	}
	int n = in_set(g->configs, digest) ? NAMED_BY_MANIFEST : named(g->db, digest, g->gone, &err);
	if (n < 0) {
		failed(g, err);
		return 0;
	}
	if (n == NAMED_PENDING) {
		g->rep->blobs_pending++;
		return 0;
	}
	if (n == NAMED_BY_MANIFEST) {
		g->rep->blobs_referenced++;
		return 0;
	}
	if (g->o->dry_run) {
		g->rep->blobs++;
		g->rep->bytes += size;
		say(g, "blob %s: would remove (%lld bytes)", digest, size);
		return 0;
	}
	int removed = 0;
	long long freed = 0;
	if (gc_collect_blob(g->db, g->h->blobs, digest, g->cutoff, &removed, &freed, &err) != 0) {
		failed(g, err);
		return 0;
	}
	if (removed) {
		g->rep->blobs++;
		g->rep->bytes += freed;
		log_info("gc: blob %s removed (%lld bytes)", digest, freed);
		say(g, "blob %s: removed (%lld bytes)", digest, freed);
	} else {
		g->rep->blobs_referenced++;
		say(g, "blob %s: kept: named, stored or asked for again during the collection", digest);
	}
	return 0;
}

static int sweep_blobs(gc_state *g, char **err)
{
	if (bs_list_uploads(g->h->blobs, note_upload, g) != 0 || bs_list(g->h->blobs, sweep_blob, g) != 0)
		return buf_error(err, "the blob store could not be listed");
	return 0;
}

/* ---- phase 3: record blocks */

static long long prune_blocks(gc_state *g, char **err)
{
	if (g->o->dry_run) {
		/* the blocks of layer records the run would remove count too */
		sqlite3_stmt *st = db_prepare_err(
			g->db,
			"SELECT count(*) FROM blocks b WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.cid = b.cid AND NOT "
			"(r.collection = 'io.atcr.hold.layer' AND r.rkey IN (SELECT rkey FROM layers WHERE manifest IN "
			"(SELECT key FROM json_each(?)))))",
			err);
		if (!st)
			return -1;
		sqlite3_bind_text(st, 1, json_object_to_json_string_ext(g->gone, JSON_C_TO_STRING_PLAIN), -1, SQLITE_TRANSIENT);
		long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : db_fail(g->db, err, "counting blocks");
		sqlite3_reset(st);
		return n;
	}
	if (db_exec(g->db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	long long n = recstore_prune(g->db);
	if (n < 0) {
		db_fail(g->db, err, "pruning record blocks");
		rollback(g->db);
		return -1;
	}
	if (db_exec(g->db, "COMMIT", err) != 0) {
		rollback(g->db);
		return -1;
	}
	return n;
}

/* ---- the whole collection */

static void summary(const gc_state *g)
{
	const gc_report *r = g->rep;
	int dry = g->o->dry_run;
	say(g, "manifests checked: %lld (present %lld, gone %lld, undecided %lld)", r->manifests, r->present, r->gone,
	    r->undecided);
	say(g, "layer records %s: %lld", dry ? "to remove" : "removed", r->layer_records);
	if (r->blobs_skipped)
		say(g, "blobs: not swept: %lld undecided manifests have a config blob the hold never recorded", g->unknown_configs);
	else
		say(g, "blobs %s: %lld, %lld bytes %s", dry ? "to remove" : "removed", r->blobs, r->bytes,
		    dry ? "to free" : "freed");
	say(g, "blobs kept: %lld referenced, %lld within the grace period (%lld s), %lld pending or uploading",
	    r->blobs_referenced, r->blobs_young, g->o->grace, r->blobs_pending);
	say(g, "record blocks %s: %lld", dry ? "to prune" : "pruned", r->blocks);
}

int gc_run(const hold_ctx *h, const gc_options *o, gc_report *rep, char **err)
{
	gc_state g = {.h = h, .o = o, .rep = rep};
	memset(rep, 0, sizeof *rep);
	g.http = (http_opts){.timeout_s = h->ident.timeout_s > 0 ? h->ident.timeout_s : 10, .connect_timeout_s = 5,
			     .max_response = PDS_RESPONSE_MAX, .allow_private = h->ident.test_mode};
	g.cutoff = (long long)time(NULL) - o->grace;
	g.gone = json_object_new_object();
	g.configs = json_object_new_object();
	g.uploading = json_object_new_object();
	int rc = -1;
	if (o->grace < 0) {
		buf_error(err, "the grace period cannot be negative: %lld", o->grace);
		goto out;
	}
	if (!(g.db = hold_db(h))) {
		buf_error(err, "the hold's database %s cannot be opened", h->db_path);
		goto out;
	}
	if (o->dry_run)
		say(&g, "dry run: nothing is deleted");
	if (check_manifests(&g, err) != 0)
		goto out;
	/* An undecided manifest whose config the hold never recorded may use any blob no layer names. */
	rep->blobs_skipped = g.unknown_configs > 0;
	if (!rep->blobs_skipped && sweep_blobs(&g, err) != 0)
		goto out;
	if ((rep->blocks = prune_blocks(&g, err)) < 0)
		goto out;
	summary(&g);
	if (g.errors) {
		buf_error(err, "%lld errors; the first: %s", g.errors, g.first_error);
		goto out;
	}
	log_info("gc%s: %lld manifests checked (%lld gone, %lld undecided), %lld layer records, %lld blobs, %lld bytes",
		 o->dry_run ? " (dry run)" : "", rep->manifests, rep->gone, rep->undecided, rep->layer_records, rep->blobs,
		 rep->bytes);
	rc = 0;
out:
	json_object_put(g.gone);
	json_object_put(g.configs);
	json_object_put(g.uploading);
	free(g.first_error);
	return rc;
}

bs_status gc_blob_asked(blobstore *bs, const char *digest, long long grace, long long now)
{
	if (grace <= 0)
		return BS_OK; /* nothing waits for a grace period of 0 */
	long long every = grace / 2 < TOUCH_EVERY ? grace / 2 : TOUCH_EVERY;
	return bs_touch(bs, digest, now - every);
}
