/* uiindex.c - the web UI's read queries: each SELECT names its columns as the templates want them,
 * and rows_json turns the rows into JSON objects (SQL NULL leaves the key out). */
#include "uiindex.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"

/* The verified handle of the row's did, else the DID: what the UI shows and links to. */
#define OWNER_SQL "CASE WHEN u.handle_verified AND u.handle IS NOT NULL THEN u.handle ELSE r.did END AS owner"
/* The columns every repository object has (r: repositories, u: users, p: repo_pages). */
#define REPO_COLUMNS                                                                                      \
	OWNER_SQL ", r.did AS did, r.repository AS repository, r.pull_count AS pulls, "                   \
		  "(SELECT count(*) FROM stars s WHERE s.owner_did = r.did AND s.repository = r.repository) " \
		  "AS stars, r.updated_at AS pushed_at, p.description AS description"
#define REPO_JOINS                                                  \
	" FROM repositories r LEFT JOIN users u ON u.did = r.did" \
	" LEFT JOIN repo_pages p ON p.did = r.did AND p.repository = r.repository"
#define HAS_MANIFESTS " EXISTS (SELECT 1 FROM manifests m WHERE m.did = r.did AND m.repository = r.repository)"

/* One row as an object keyed by column names; NULL when out of memory. */
static json_object *row_json(sqlite3_stmt *st)
{
	json_object *o = json_object_new_object();
	int n = sqlite3_column_count(st);
	for (int i = 0; o && i < n; i++) {
		json_object *v = NULL;
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_NULL:
			continue;
		case SQLITE_INTEGER:
			v = json_object_new_int64(sqlite3_column_int64(st, i));
			break;
		default:
			v = json_object_new_string((const char *)sqlite3_column_text(st, i));
			break;
		}
		if (!v || json_object_object_add(o, sqlite3_column_name(st, i), v) != 0) {
			json_object_put(v);
			json_object_put(o);
			o = NULL;
		}
	}
	return o;
}

/* Step st to the end, one object per row, then reset it. A new array, or NULL with *err. */
static json_object *rows_json(sqlite3 *db, sqlite3_stmt *st, const char *what, char **err)
{
	json_object *rows = json_object_new_array();
	int rc = SQLITE_DONE;
	while (rows && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *o = row_json(st);
		if (!o || json_object_array_add(rows, o) != 0) {
			json_object_put(o);
			json_object_put(rows);
			rows = NULL;
			buf_error(err, "index: out of memory");
		}
	}
	if (rows && rc != SQLITE_DONE) {
		json_object_put(rows);
		rows = NULL;
		db_fail(db, err, what);
	} else if (!rows && err && !*err) {
		buf_error(err, "index: out of memory");
	}
	sqlite3_reset(st);
	return rows;
}

/* Bind did (1) and repository (2) when given. */
static void bind_keys(sqlite3_stmt *st, const char *did, const char *repository)
{
	if (did)
		sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	if (repository)
		sqlite3_bind_text(st, 2, repository, -1, SQLITE_TRANSIENT);
}

json_object *uiindex_recent_tags(sqlite3 *db, int n, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT " OWNER_SQL ", r.did AS did, r.repository AS repository, r.tag AS tag, "
				"r.digest AS digest, r.updated_at AS pushed_at FROM tags r LEFT JOIN users u ON u.did = r.did "
				"ORDER BY r.updated_at DESC, r.rowid DESC LIMIT ?",
				err);
	if (!st)
		return NULL;
	sqlite3_bind_int(st, 1, n);
	return rows_json(db, st, "recent tags", err);
}

json_object *uiindex_popular(sqlite3 *db, int n, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT " REPO_COLUMNS REPO_JOINS " WHERE" HAS_MANIFESTS
				" ORDER BY pulls DESC, stars DESC, r.updated_at DESC, r.did, r.repository LIMIT ?",
				err);
	if (!st)
		return NULL;
	sqlite3_bind_int(st, 1, n);
	return rows_json(db, st, "popular repositories", err);
}

int uiindex_repo(sqlite3 *db, const char *did, const char *repository, json_object **out, char **err)
{
	*out = NULL;
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT " REPO_COLUMNS ", r.push_count AS pushes, r.created_at AS created_at, "
				"(SELECT m.hold_did FROM manifests m WHERE m.did = r.did AND m.repository = r.repository "
				"AND m.hold_did IS NOT NULL ORDER BY m.created_at DESC LIMIT 1) AS hold_did" REPO_JOINS
				" WHERE r.did = ? AND r.repository = ?",
				err);
	if (!st)
		return -1;
	bind_keys(st, did, repository);
	json_object *rows = rows_json(db, st, "repository", err);
	if (!rows)
		return -1;
	if (json_object_array_length(rows) > 0)
		*out = json_object_get(json_object_array_get_idx(rows, 0));
	json_object_put(rows);
	return *out ? 1 : 0;
}

/* "os/arch[/variant]" from an OCI platform object in JSON text; NULL when absent, malformed or the
 * "unknown/unknown" of attestation manifests. Caller frees. */
static char *platform_name(const char *json)
{
	char *name = NULL;
	json_object *p = json ? json_tokener_parse(json) : NULL, *os, *arch, *variant;
	if (p && json_object_object_get_ex(p, "os", &os) && json_object_object_get_ex(p, "architecture", &arch) &&
	    strcmp(json_object_get_string(os), "unknown") != 0) {
		if (json_object_object_get_ex(p, "variant", &variant))
			name = buf_strf("%s/%s/%s", json_object_get_string(os), json_object_get_string(arch),
					json_object_get_string(variant));
		else
			name = buf_strf("%s/%s", json_object_get_string(os), json_object_get_string(arch));
	}
	json_object_put(p);
	return name;
}

/* The rows of one manifest's blobs with one role, oldest position first; children get "platform"
 * as a name instead of JSON. */
static json_object *blobs_json(sqlite3 *db, const char *did, const char *repository, const char *digest,
			       const char *role, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT digest, size, media_type, platform FROM manifest_blobs WHERE did = ? AND "
				"repository = ? AND manifest_digest = ? AND role = ? ORDER BY position",
				err);
	if (!st)
		return NULL;
	bind_keys(st, did, repository);
	sqlite3_bind_text(st, 3, digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, role, -1, SQLITE_STATIC);
	json_object *rows = rows_json(db, st, "manifest blobs", err);
	size_t n = rows ? json_object_array_length(rows) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(rows, i), *p;
		if (!json_object_object_get_ex(row, "platform", &p))
			continue;
		char *name = platform_name(json_object_get_string(p));
		if (name)
			json_object_object_add(row, "platform", json_object_new_string(name));
		else
			json_object_object_del(row, "platform");
		free(name);
	}
	return rows;
}

json_object *uiindex_tags(sqlite3 *db, const char *did, const char *repository, char **err)
{
	sqlite3_stmt *st = db_prepare_err(
		db,
		"SELECT t.tag AS tag, t.digest AS digest, t.updated_at AS pushed_at, m.media_type AS media_type, "
		"(SELECT coalesce(sum(b.size), 0) FROM manifest_blobs b WHERE b.did = t.did AND b.repository = "
		"t.repository AND b.role = 'layer' AND (b.manifest_digest = t.digest OR b.manifest_digest IN "
		"(SELECT c.digest FROM manifest_blobs c WHERE c.did = t.did AND c.repository = t.repository AND "
		"c.manifest_digest = t.digest AND c.role = 'manifest'))) AS size "
		"FROM tags t LEFT JOIN manifests m ON m.did = t.did AND m.repository = t.repository AND m.digest = t.digest "
		"WHERE t.did = ? AND t.repository = ? ORDER BY t.updated_at DESC, t.tag",
		err);
	if (!st)
		return NULL;
	bind_keys(st, did, repository);
	json_object *tags = rows_json(db, st, "tags", err);
	size_t n = tags ? json_object_array_length(tags) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *tag = json_object_array_get_idx(tags, i), *digest;
		json_object_object_get_ex(tag, "digest", &digest);
		json_object *children = blobs_json(db, did, repository, json_object_get_string(digest), "manifest", err);
		if (!children) {
			json_object_put(tags);
			return NULL;
		}
		json_object *platforms = json_object_new_array();
		size_t nc = json_object_array_length(children);
		for (size_t j = 0; j < nc; j++) {
			json_object *p;
			if (json_object_object_get_ex(json_object_array_get_idx(children, j), "platform", &p))
				json_object_array_add(platforms, json_object_get(p));
		}
		json_object_put(children);
		if (json_object_array_length(platforms) > 0)
			json_object_object_add(tag, "platforms", platforms);
		else
			json_object_put(platforms);
	}
	return tags;
}

json_object *uiindex_user_repos(sqlite3 *db, const char *did, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT " REPO_COLUMNS ", (SELECT count(*) FROM tags t WHERE t.did = r.did AND "
				"t.repository = r.repository) AS tags" REPO_JOINS " WHERE r.did = ? AND" HAS_MANIFESTS
				" ORDER BY r.updated_at DESC, r.repository",
				err);
	if (!st)
		return NULL;
	bind_keys(st, did, NULL);
	return rows_json(db, st, "user repositories", err);
}

json_object *uiindex_known_holds(sqlite3 *db, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT hold_did AS did, count(*) AS manifests FROM manifests WHERE hold_did IS NOT NULL "
				"GROUP BY hold_did ORDER BY count(*) DESC, hold_did LIMIT 50",
				err);
	return st ? rows_json(db, st, "known holds", err) : NULL;
}

json_object *uiindex_manifest_blobs(sqlite3 *db, const char *did, const char *repository, const char *digest,
				    char **err)
{
	json_object *out = json_object_new_object(), *config = NULL, *layers = NULL, *children = NULL;
	if (!out)
		goto fail;
	if (!(config = blobs_json(db, did, repository, digest, "config", err)) ||
	    !(layers = blobs_json(db, did, repository, digest, "layer", err)) ||
	    !(children = blobs_json(db, did, repository, digest, "manifest", err)))
		goto fail;
	if (json_object_array_length(config) > 0)
		json_object_object_add(out, "config", json_object_get(json_object_array_get_idx(config, 0)));
	json_object_object_add(out, "layers", layers);
	json_object_object_add(out, "manifests", children);
	json_object_put(config);
	return out;
fail:
	if (err && !*err)
		buf_error(err, "index: out of memory");
	json_object_put(out);
	json_object_put(config);
	json_object_put(layers);
	json_object_put(children);
	return NULL;
}

/* Step a one-text-column query: 1 (*out malloc'd), 0 no row, -1 with *err. Resets st. */
static int one_text(sqlite3 *db, sqlite3_stmt *st, char **out, const char *what, char **err)
{
	*out = NULL;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		*out = strdup((const char *)sqlite3_column_text(st, 0));
		rc = *out ? 1 : buf_error(err, "index: out of memory");
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(db, err, what);
	}
	sqlite3_reset(st);
	return rc;
}

int uiindex_did_for_handle(sqlite3 *db, const char *handle, char **did, char **err)
{
	*did = NULL;
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT did FROM users WHERE handle = lower(?) AND handle_verified = 1 "
				"ORDER BY resolved_at DESC LIMIT 1",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, handle, -1, SQLITE_TRANSIENT);
	return one_text(db, st, did, "handle", err);
}

int uiindex_handle_for_did(sqlite3 *db, const char *did, char **handle, char **err)
{
	*handle = NULL;
	sqlite3_stmt *st = db_prepare_err(db, "SELECT handle FROM users WHERE did = ? AND handle_verified = 1", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	return one_text(db, st, handle, "handle", err);
}

int uiindex_oci_client(sqlite3 *db, const char *did, char **client, char **err)
{
	*client = NULL;
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT json_extract(record, '$.ociClient') FROM profiles WHERE did = ? "
				"AND json_type(record, '$.ociClient') = 'text'",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	return one_text(db, st, client, "profile", err);
}

#define FTS_MAX_TERMS 16
#define FTS_MAX_TERM 64

char *uiindex_fts_query(const char *text)
{
	buf_t q = {0};
	int terms = 0;
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	while (*s && terms < FTS_MAX_TERMS) {
		while (*s && !(isalnum(*s) || *s >= 0x80))
			s++;
		const unsigned char *start = s;
		while (*s && (isalnum(*s) || *s >= 0x80))
			s++;
		size_t len = (size_t)(s - start);
		if (len == 0)
			break;
		if (len > FTS_MAX_TERM) {
			len = FTS_MAX_TERM;
			while (len > 0 && (start[len] & 0xC0) == 0x80) /* cut on a UTF-8 boundary */
				len--;
		}
		/* A term holds no '"' (not a letter), so quoting cannot be escaped. */
		if (buf_puts(&q, terms ? " \"" : "\"") != 0 || buf_append(&q, start, len) != 0 || buf_puts(&q, "\"*") != 0) {
			buf_free(&q);
			return NULL;
		}
		terms++;
	}
	return terms ? buf_detach(&q) : NULL;
}

int uiindex_search(sqlite3 *db, const char *text, int page, int per_page, json_object **results, int *more,
		   char **err)
{
	*more = 0;
	*results = NULL;
	if (page < 1 || per_page < 1)
		return buf_error(err, "search: page and per_page start at 1");
	char *match = uiindex_fts_query(text);
	if (!match) {
		*results = json_object_new_array();
		return *results ? 0 : buf_error(err, "index: out of memory");
	}
	int rc = -1;
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT " REPO_COLUMNS " FROM repo_search f JOIN repositories r ON r.did = f.did AND "
				"r.repository = f.repository LEFT JOIN users u ON u.did = r.did "
				"LEFT JOIN repo_pages p ON p.did = r.did AND p.repository = r.repository "
				"WHERE repo_search MATCH ? AND" HAS_MANIFESTS " ORDER BY f.rank, r.did, r.repository LIMIT ? OFFSET ?",
				err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, match, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, per_page + 1); /* one more tells whether a next page exists */
	sqlite3_bind_int64(st, 3, (long long)(page - 1) * per_page);
	json_object *rows = rows_json(db, st, "search", err);
	if (!rows)
		goto out;
	if ((int)json_object_array_length(rows) > per_page) {
		*more = 1;
		json_object_array_del_idx(rows, (size_t)per_page, 1);
	}
	*results = rows;
	rc = 0;
out:
	free(match);
	return rc;
}

int uiindex_page_get(sqlite3 *db, const char *did, const char *repository, char **description,
		     long long *fetched_at, char **err)
{
	*description = NULL;
	*fetched_at = 0;
	sqlite3_stmt *st = db_prepare_err(db, "SELECT description, fetched_at FROM repo_pages WHERE did = ? AND repository = ?", err);
	if (!st)
		return -1;
	bind_keys(st, did, repository);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_text(st, 0);
		*fetched_at = sqlite3_column_int64(st, 1);
		rc = 1;
		if (d && !(*description = strdup((const char *)d)))
			rc = buf_error(err, "index: out of memory");
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, "repository page");
	}
	sqlite3_reset(st);
	return rc;
}

int uiindex_page_put(sqlite3 *db, const char *did, const char *repository, const char *description, long long now,
		     char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT INTO repo_pages (did, repository, description, fetched_at) VALUES (?, ?, ?, ?) "
				"ON CONFLICT (did, repository) DO UPDATE SET description = excluded.description, "
				"fetched_at = excluded.fetched_at",
				err);
	if (!st)
		return -1;
	bind_keys(st, did, repository);
	if (description)
		sqlite3_bind_text(st, 3, description, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "repository page");
	sqlite3_reset(st);
	return rc;
}
