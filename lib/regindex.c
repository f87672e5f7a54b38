/* regindex.c - the registry's index: repositories, manifests, manifest_blobs and tags (migration 3).
 * Writes that touch several rows run inside a SAVEPOINT, so they are atomic on their own and nest
 * inside a caller's transaction. */
#include "regindex.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"

/* Bind a string that may be NULL (SQL NULL then). */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Run a statement without result rows; 0 ok, -1 with *err. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, char **err)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, what);
	sqlite3_reset(st);
	return rc;
}

/* A column as a malloc'd string, NULL for SQL NULL. */
static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? strdup((const char *)s) : NULL;
}

/* A cached statement whose first parameters are did, repository and (when key is not NULL) key. */
static sqlite3_stmt *prep_keyed(sqlite3 *db, const char *sql, const char *did, const char *repository,
				const char *key, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, sql, err);
	if (st) {
		sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
		if (key)
			sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
	}
	return st;
}

/* Step a one-column query: 1 with *out (caller frees) for a row, 0 for none, -1 with *err. Resets st. */
static int step_text(sqlite3 *db, sqlite3_stmt *st, char **out, char **err, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = col_text(st, 0);
		rc = *out ? 1 : buf_error(err, "index: out of memory");
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, what);
	}
	sqlite3_reset(st);
	return rc;
}

static int savepoint(sqlite3 *db, char **err)
{
	return db_exec(db, "SAVEPOINT regindex", err);
}

/* Release the savepoint when ok == 0, else roll it back; returns ok, or -1 when the release fails. */
static int savepoint_end(sqlite3 *db, int ok, char **err)
{
	if (ok == 0 && db_exec(db, "RELEASE regindex", err) == 0)
		return 0;
	db_exec(db, "ROLLBACK TO regindex; RELEASE regindex", NULL);
	return -1;
}

/* ---- store */

static int repo_touch(sqlite3 *db, const char *did, const char *repository, long long now, int push, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				push ? "INSERT INTO repositories (did, repository, created_at, updated_at, push_count) "
				       "VALUES (?1, ?2, ?3, ?3, 1) ON CONFLICT (did, repository) DO UPDATE SET "
				       "push_count = push_count + 1, updated_at = excluded.updated_at"
				     : "INSERT INTO repositories (did, repository, created_at, updated_at) "
				       "VALUES (?1, ?2, ?3, ?3) ON CONFLICT (did, repository) DO NOTHING",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	return step_done(db, st, "repository", err);
}

static char *json_text(json_object *o)
{
	return o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
}

static int manifest_upsert(sqlite3 *db, const regindex_entry *e, char **err)
{
	const oci_manifest *m = e->m;
	const char *artifact_type = m->artifact_type ? m->artifact_type
				    : m->config     ? m->config->media_type
						    : NULL;
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT INTO manifests (did, repository, digest, media_type, size, artifact_type, "
				"subject_digest, annotations, hold_did, record_rkey, blob_cid, raw, created_at) "
				"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
				"ON CONFLICT (did, repository, digest) DO UPDATE SET "
				"media_type = excluded.media_type, size = excluded.size, "
				"artifact_type = COALESCE(excluded.artifact_type, artifact_type), "
				"subject_digest = COALESCE(excluded.subject_digest, subject_digest), "
				"annotations = COALESCE(excluded.annotations, annotations), "
				"hold_did = COALESCE(excluded.hold_did, hold_did), "
				"record_rkey = COALESCE(excluded.record_rkey, record_rkey), "
				"blob_cid = COALESCE(excluded.blob_cid, blob_cid), "
				"raw = COALESCE(excluded.raw, raw)",
				err);
	if (!st)
		return -1;
	char *annotations = json_text(m->annotations);
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, m->digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, m->media_type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (long long)m->size);
	bind_text(st, 6, artifact_type);
	bind_text(st, 7, m->subject ? m->subject->digest : NULL);
	bind_text(st, 8, annotations);
	bind_text(st, 9, e->hold_did);
	bind_text(st, 10, e->record_rkey);
	bind_text(st, 11, e->blob_cid);
	if (e->raw)
		sqlite3_bind_blob64(st, 12, e->raw, (sqlite3_uint64)m->size, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int64(st, 13, e->now);
	int rc = step_done(db, st, "manifest", err);
	free(annotations);
	return rc;
}

static json_object *platform_json(const oci_platform *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "architecture", json_object_new_string(p->architecture));
	json_object_object_add(o, "os", json_object_new_string(p->os));
	if (p->variant)
		json_object_object_add(o, "variant", json_object_new_string(p->variant));
	if (p->os_version)
		json_object_object_add(o, "os.version", json_object_new_string(p->os_version));
	if (p->os_features) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < p->n_os_features; i++)
			json_object_array_add(a, json_object_new_string(p->os_features[i]));
		json_object_object_add(o, "os.features", a);
	}
	return o;
}

static int blob_row(sqlite3 *db, const regindex_entry *e, const char *role, size_t position,
		    const oci_descriptor *d, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT OR REPLACE INTO manifest_blobs (did, repository, manifest_digest, role, position, "
				"digest, size, media_type, platform) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				err);
	if (!st)
		return -1;
	json_object *platform = d->platform ? platform_json(d->platform) : NULL;
	char *platform_text = json_text(platform);
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, e->m->digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, role, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (long long)position);
	sqlite3_bind_text(st, 6, d->digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, d->size);
	bind_text(st, 8, d->media_type);
	bind_text(st, 9, platform_text);
	int rc = step_done(db, st, "manifest blob", err);
	free(platform_text);
	json_object_put(platform);
	return rc;
}

/* The manifest's config, layers and children, replacing whatever rows it had. */
static int blobs_replace(sqlite3 *db, const regindex_entry *e, char **err)
{
	const oci_manifest *m = e->m;
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM manifest_blobs WHERE did = ? AND repository = ? AND manifest_digest = ?",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, m->digest, -1, SQLITE_TRANSIENT);
	if (step_done(db, st, "manifest blobs", err) != 0)
		return -1;
	if (m->config && blob_row(db, e, "config", 0, m->config, err) != 0)
		return -1;
	for (size_t i = 0; i < m->n_layers; i++)
		if (blob_row(db, e, "layer", i, &m->layers[i], err) != 0)
			return -1;
	for (size_t i = 0; i < m->n_manifests; i++)
		if (blob_row(db, e, "manifest", i, &m->manifests[i], err) != 0)
			return -1;
	return 0;
}

static int tag_upsert(sqlite3 *db, const char *did, const char *repository, const char *tag, const char *digest,
		      long long updated_at, long long checked_at, char **err)
{
	sqlite3_stmt *st = prep_keyed(db,
				"INSERT INTO tags (did, repository, tag, digest, updated_at, checked_at) "
				"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (did, repository, tag) DO UPDATE SET "
				"digest = excluded.digest, updated_at = excluded.updated_at, checked_at = excluded.checked_at", did, repository, tag, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 4, digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, updated_at);
	sqlite3_bind_int64(st, 6, checked_at);
	return step_done(db, st, "tag", err);
}

int regindex_store(sqlite3 *db, const regindex_entry *e, int push, char **err)
{
	if (!e->did || !e->repository || !e->m)
		return buf_error(err, "index: incomplete manifest entry");
	if (savepoint(db, err) != 0)
		return -1;
	int rc = repo_touch(db, e->did, e->repository, e->now, push, err) == 0 && manifest_upsert(db, e, err) == 0 &&
			 blobs_replace(db, e, err) == 0 &&
			 (!e->tag || tag_upsert(db, e->did, e->repository, e->tag, e->m->digest, e->now, e->now, err) == 0)
		     ? 0
		     : -1;
	return savepoint_end(db, rc, err);
}

/* ---- manifests */

void regindex_manifest_free(regindex_manifest *m)
{
	if (!m)
		return;
	free(m->digest);
	free(m->media_type);
	free(m->artifact_type);
	free(m->subject_digest);
	free(m->annotations);
	free(m->hold_did);
	free(m->record_rkey);
	free(m->blob_cid);
	free(m->raw);
	memset(m, 0, sizeof *m);
}

int regindex_manifest_get(sqlite3 *db, const char *did, const char *repository, const char *digest,
			  regindex_manifest *out, char **err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = prep_keyed(db,
				"SELECT digest, media_type, size, artifact_type, subject_digest, annotations, hold_did, "
				"record_rkey, blob_cid, raw, created_at FROM manifests "
				"WHERE did = ? AND repository = ? AND digest = ?", did, repository, digest, err);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = db_fail(db, err, "manifest");
		goto out;
	}
	out->digest = col_text(st, 0);
	out->media_type = col_text(st, 1);
	out->size = sqlite3_column_int64(st, 2);
	out->artifact_type = col_text(st, 3);
	out->subject_digest = col_text(st, 4);
	out->annotations = col_text(st, 5);
	out->hold_did = col_text(st, 6);
	out->record_rkey = col_text(st, 7);
	out->blob_cid = col_text(st, 8);
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		const void *raw = sqlite3_column_blob(st, 9);
		out->raw_len = (size_t)sqlite3_column_bytes(st, 9);
		out->raw = malloc(out->raw_len ? out->raw_len : 1);
		if (out->raw && raw)
			memcpy(out->raw, raw, out->raw_len);
	}
	out->created_at = sqlite3_column_int64(st, 10);
	rc = 1;
	if (!out->digest || !out->media_type || (out->raw_len && !out->raw)) {
		regindex_manifest_free(out);
		rc = buf_error(err, "index: out of memory");
	}
out:
	sqlite3_reset(st);
	return rc;
}

int regindex_manifest_by_rkey(sqlite3 *db, const char *did, const char *repository, const char *rkey, char **digest,
			      char **err)
{
	*digest = NULL;
	sqlite3_stmt *st = prep_keyed(db, "SELECT digest FROM manifests WHERE did = ? AND repository = ? AND record_rkey = ? "
				    "ORDER BY created_at DESC LIMIT 1", did, repository, rkey, err);
	if (!st)
		return -1;
	return step_text(db, st, digest, err, "manifest by record key");
}

int regindex_manifest_find_rkey(sqlite3 *db, const char *did, const char *rkey, char **repository, char **digest,
				char **err)
{
	*repository = *digest = NULL;
	sqlite3_stmt *st = db_prepare_err(db, "SELECT repository, digest FROM manifests WHERE did = ? AND record_rkey = ? "
				    "ORDER BY repository, digest LIMIT 1", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, rkey, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*repository = col_text(st, 0);
		*digest = col_text(st, 1);
		rc = 1;
		if (!*repository || !*digest) {
			free(*repository);
			free(*digest);
			*repository = *digest = NULL;
			rc = buf_error(err, "index: out of memory");
		}
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, "manifest by record key");
	}
	sqlite3_reset(st);
	return rc;
}

int regindex_manifest_set_record(sqlite3 *db, const char *did, const char *repository, const char *digest,
				 const char *hold_did, const char *record_rkey, const char *blob_cid, char **err)
{
	sqlite3_stmt *st = prep_keyed(db,
				"UPDATE manifests SET hold_did = COALESCE(?4, hold_did), record_rkey = COALESCE(?5, record_rkey), "
				"blob_cid = COALESCE(?6, blob_cid) WHERE did = ?1 AND repository = ?2 AND digest = ?3",
				did, repository, digest, err);
	if (!st)
		return -1;
	bind_text(st, 4, hold_did);
	bind_text(st, 5, record_rkey);
	bind_text(st, 6, blob_cid);
	if (step_done(db, st, "manifest record", err) != 0)
		return -1;
	return sqlite3_changes(db) > 0;
}

/* 1 when the query (binding did, repository, key) has a row, 0 not, -1 with *err. */
static int row_exists(sqlite3 *db, const char *sql, const char *did, const char *repository, const char *key,
		      char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, sql, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
	if (key)
		sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(db, err, "lookup");
	sqlite3_reset(st);
	return rc;
}

int regindex_manifest_exists(sqlite3 *db, const char *did, const char *repository, const char *digest, char **err)
{
	return row_exists(db, "SELECT 1 FROM manifests WHERE did = ? AND repository = ? AND digest = ?", did,
			  repository, digest, err);
}

/* Delete by (did, repository, key) with sql; *changes gets the rows removed. */
static int delete_rows(sqlite3 *db, const char *sql, const char *did, const char *repository, const char *key,
		       int *changes, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, sql, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
	int rc = step_done(db, st, "delete", err);
	if (rc == 0 && changes)
		*changes = sqlite3_changes(db);
	return rc;
}

int regindex_manifest_delete(sqlite3 *db, const char *did, const char *repository, const char *digest, char **err)
{
	int removed = 0;
	if (savepoint(db, err) != 0)
		return -1;
	int rc = delete_rows(db, "DELETE FROM manifests WHERE did = ? AND repository = ? AND digest = ?", did,
			     repository, digest, &removed, err) == 0 &&
			 delete_rows(db, "DELETE FROM manifest_blobs WHERE did = ? AND repository = ? AND manifest_digest = ?",
				     did, repository, digest, NULL, err) == 0 &&
			 delete_rows(db, "DELETE FROM tags WHERE did = ? AND repository = ? AND digest = ?", did,
				     repository, digest, NULL, err) == 0
		     ? 0
		     : -1;
	if (savepoint_end(db, rc, err) != 0)
		return -1;
	return removed > 0;
}

/* ---- tags */

void regindex_tag_free(regindex_tag *t)
{
	if (t) {
		free(t->digest);
		t->digest = NULL;
	}
}

int regindex_tag_get(sqlite3 *db, const char *did, const char *repository, const char *tag, regindex_tag *out,
		     char **err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = prep_keyed(db,
				"SELECT digest, updated_at, checked_at FROM tags WHERE did = ? AND repository = ? AND tag = ?", did, repository, tag, err);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->digest = col_text(st, 0);
		out->updated_at = sqlite3_column_int64(st, 1);
		out->checked_at = sqlite3_column_int64(st, 2);
		rc = out->digest ? 1 : buf_error(err, "index: out of memory");
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, "tag");
	}
	sqlite3_reset(st);
	return rc;
}

int regindex_tag_put(sqlite3 *db, const char *did, const char *repository, const char *tag, const char *digest,
		     long long updated_at, long long checked_at, char **err)
{
	if (savepoint(db, err) != 0)
		return -1;
	int rc = repo_touch(db, did, repository, checked_at, 0, err) == 0 &&
			 tag_upsert(db, did, repository, tag, digest, updated_at, checked_at, err) == 0
		     ? 0
		     : -1;
	return savepoint_end(db, rc, err);
}

int regindex_tag_delete(sqlite3 *db, const char *did, const char *repository, const char *tag, char **err)
{
	int removed = 0;
	if (delete_rows(db, "DELETE FROM tags WHERE did = ? AND repository = ? AND tag = ?", did, repository, tag,
			&removed, err) != 0)
		return -1;
	return removed > 0;
}

void regindex_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Collect column 0 of every row of a bound statement into a NULL-terminated vector; with limit >= 0
 * stop after limit rows and set *more when another row follows. Resets st. */
static char **collect(sqlite3 *db, sqlite3_stmt *st, long long limit, size_t *count, int *more, char **err)
{
	size_t n = 0, cap = 8;
	char **v = calloc(cap + 1, sizeof *v);
	int rc;
	if (more)
		*more = 0;
	if (!v)
		goto oom;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (limit >= 0 && (long long)n == limit) {
			if (more)
				*more = 1;
			break;
		}
		if (n == cap) {
			char **grown = realloc(v, (cap * 2 + 1) * sizeof *v);
			if (!grown)
				goto oom;
			v = grown;
			cap *= 2;
		}
		v[n] = col_text(st, 0);
		if (!v[n])
			goto oom;
		v[++n] = NULL;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, err, "list");
		goto fail;
	}
	sqlite3_reset(st);
	if (count)
		*count = n;
	return v;
oom:
	buf_error(err, "index: out of memory");
fail:
	sqlite3_reset(st);
	regindex_strv_free(v);
	return NULL;
}

char **regindex_tags_for_digest(sqlite3 *db, const char *did, const char *repository, const char *digest,
				char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "SELECT tag FROM tags WHERE did = ? AND repository = ? AND digest = ? ORDER BY tag",
				err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, digest, -1, SQLITE_TRANSIENT);
	return collect(db, st, -1, NULL, NULL, err);
}

void regindex_page_free(regindex_page *p)
{
	if (p) {
		regindex_strv_free(p->names);
		memset(p, 0, sizeof *p);
	}
}

/* One page from st, whose last two parameters are "after" and the row limit. */
static int page(sqlite3 *db, sqlite3_stmt *st, int first_param, const char *last, int n, regindex_page *out,
		char **err)
{
	sqlite3_bind_text(st, first_param, last ? last : "", -1, SQLITE_TRANSIENT);
	/* one row more than asked, to know whether another page follows */
	sqlite3_bind_int64(st, first_param + 1, n < 0 ? -1 : (long long)n + 1);
	out->names = collect(db, st, n, &out->count, &out->more, err);
	return out->names ? 0 : -1;
}

int regindex_tags_list(sqlite3 *db, const char *did, const char *repository, const char *last, int n,
		       regindex_page *out, char **err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = prep_keyed(db,
				"SELECT tag FROM tags WHERE did = ? AND repository = ? AND tag > ? "
				"ORDER BY tag LIMIT ?", did, repository, NULL, err);
	if (!st)
		return -1;
	return page(db, st, 3, last, n, out, err);
}

int regindex_catalog(sqlite3 *db, const char *last, int n, regindex_page *out, char **err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT name FROM (SELECT COALESCE(u.handle, r.did) || '/' || r.repository AS name "
				"FROM repositories r LEFT JOIN users u ON u.did = r.did AND u.handle_verified = 1 "
				"WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.did = r.did AND m.repository = r.repository)) "
				"WHERE name > ? ORDER BY name LIMIT ?",
				err);
	if (!st)
		return -1;
	return page(db, st, 1, last, n, out, err);
}

/* ---- repositories */

int regindex_repo_exists(sqlite3 *db, const char *did, const char *repository, char **err)
{
	return row_exists(db, "SELECT 1 FROM repositories WHERE did = ? AND repository = ?", did, repository, NULL,
			  err);
}

int regindex_repo_pushed(sqlite3 *db, const char *did, const char *repository, long long when, char **err)
{
	sqlite3_stmt *st = prep_keyed(db,
				"UPDATE repositories SET updated_at = ?3 WHERE did = ?1 AND repository = ?2 AND updated_at < ?3",
				did, repository, NULL, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 3, when);
	return step_done(db, st, "repository push time", err);
}

int regindex_count_pull(sqlite3 *db, const char *did, const char *repository, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"UPDATE repositories SET pull_count = pull_count + 1, last_pull = ? "
				"WHERE did = ? AND repository = ?",
				err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, repository, -1, SQLITE_TRANSIENT);
	return step_done(db, st, "pull count", err);
}

/* ---- referrers */

void regindex_referrers_free(regindex_referrer *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].media_type);
		free(r[i].digest);
		free(r[i].artifact_type);
		free(r[i].annotations);
	}
	free(r);
}

int regindex_referrers(sqlite3 *db, const char *did, const char *repository, const char *subject_digest,
		       const char *artifact_type, regindex_referrer **out, size_t *n, char **err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st = prep_keyed(db,
				"SELECT media_type, digest, size, artifact_type, annotations FROM manifests "
				"WHERE did = ?1 AND repository = ?2 AND subject_digest = ?3 "
				"AND (?4 IS NULL OR artifact_type = ?4) ORDER BY created_at, digest", did, repository, subject_digest, err);
	if (!st)
		return -1;
	bind_text(st, 4, artifact_type);
	regindex_referrer *v = NULL;
	size_t count = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		regindex_referrer *grown = realloc(v, (count + 1) * sizeof *v);
		if (!grown) {
			rc = SQLITE_NOMEM;
			break;
		}
		v = grown;
		regindex_referrer *r = &v[count++];
		r->media_type = col_text(st, 0);
		r->digest = col_text(st, 1);
		r->size = sqlite3_column_int64(st, 2);
		r->artifact_type = col_text(st, 3);
		r->annotations = col_text(st, 4);
		if (!r->media_type || !r->digest) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_NOMEM)
			buf_error(err, "index: out of memory");
		else
			db_fail(db, err, "referrers");
		sqlite3_reset(st);
		regindex_referrers_free(v, count);
		return -1;
	}
	sqlite3_reset(st);
	*out = v;
	*n = count;
	return 0;
}

/* ---- holds */

int regindex_blob_hold(sqlite3 *db, const char *did, const char *repository, const char *digest, char **hold_did,
		       char **err)
{
	*hold_did = NULL;
	sqlite3_stmt *st = db_prepare_err(db,
				digest ? "SELECT m.hold_did FROM manifests m JOIN manifest_blobs b ON b.did = m.did "
					 "AND b.repository = m.repository AND b.manifest_digest = m.digest "
					 "WHERE m.did = ? AND m.repository = ? AND b.digest = ? AND m.hold_did IS NOT NULL "
					 "ORDER BY m.created_at DESC, m.rowid DESC LIMIT 1"
				       : "SELECT hold_did FROM manifests WHERE did = ? AND repository = ? "
					 "AND hold_did IS NOT NULL ORDER BY created_at DESC, rowid DESC LIMIT 1",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
	if (digest)
		sqlite3_bind_text(st, 3, digest, -1, SQLITE_TRANSIENT);
	return step_text(db, st, hold_did, err, "hold lookup");
}

/* ---- record key claims */

int regindex_claim_rkey(sqlite3 *db, const char *did, const char *repository, const char *digest, const char *fresh,
			long long now, long long ttl, char **rkey, char **err)
{
	*rkey = NULL;
	/* One statement each (autocommit): a claim is taken or kept atomically, and nobody replaces a
	 * fresh claim, so the read that follows sees the key every simultaneous push agrees on. */
	sqlite3_stmt *st = prep_keyed(db,
				      "INSERT INTO manifest_claims (did, repository, digest, rkey, claimed_at) "
				      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (did, repository, digest) DO UPDATE SET "
				      "rkey = excluded.rkey, claimed_at = excluded.claimed_at WHERE claimed_at < ?6",
				      did, repository, digest, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 4, fresh, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now - ttl);
	if (step_done(db, st, "claim", err) != 0)
		return -1;
	st = prep_keyed(db, "SELECT rkey FROM manifest_claims WHERE did = ? AND repository = ? AND digest = ?", did,
			repository, digest, err);
	if (!st)
		return -1;
	int rc = step_text(db, st, rkey, err, "claim");
	if (rc == 0)
		return buf_error(err, "index: the claim of %s is gone", digest);
	if (rc < 0)
		return -1;
	st = db_prepare_err(db, "DELETE FROM manifest_claims WHERE claimed_at < ?", NULL);
	if (st) {
		sqlite3_bind_int64(st, 1, now - ttl);
		step_done(db, st, "old claims", NULL);
	}
	return 0;
}
