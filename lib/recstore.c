/* recstore.c - records as DAG-CBOR blocks in SQLite (see recstore.h). */
#include "recstore.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cid.h"
#include "dagcbor.h"
#include "db.h"
#include "syntax.h"

const char recstore_schema_sql[] =
	"CREATE TABLE blocks (\n"
	"  cid TEXT PRIMARY KEY,      -- CIDv1 string of the bytes\n"
	"  bytes BLOB NOT NULL        -- canonical DAG-CBOR\n"
	");\n"
	"CREATE TABLE records (\n"
	"  collection TEXT NOT NULL,\n"
	"  rkey TEXT NOT NULL,\n"
	"  cid TEXT NOT NULL REFERENCES blocks(cid),\n"
	"  updated_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (collection, rkey)\n"
	");\n";

const char recstore_commit_schema_sql[] =
	"CREATE TABLE repo_head (\n"
	"  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
	"  cid TEXT,                  -- the head commit; NULL before the first\n"
	"  rev TEXT,                  -- its rev (a TID)\n"
	"  stale INTEGER NOT NULL     -- 1 when records changed since the head was made\n"
	");\n"
	"INSERT INTO repo_head (id, cid, rev, stale) VALUES (1, NULL, NULL, 1);\n"
	"CREATE TABLE repo_blocks (\n"
	"  cid TEXT PRIMARY KEY,      -- the head commit's block and its MST nodes (records: see records)\n"
	"  keep INTEGER NOT NULL      -- 0 while a new head replaces this one's (recstore_set_head)\n"
	");\n"
	"CREATE TRIGGER records_created AFTER INSERT ON records BEGIN UPDATE repo_head SET stale = 1; END;\n"
	"CREATE TRIGGER records_changed AFTER UPDATE OF cid ON records WHEN old.cid IS NOT new.cid\n"
	"  BEGIN UPDATE repo_head SET stale = 1; END;\n"
	"CREATE TRIGGER records_deleted AFTER DELETE ON records BEGIN UPDATE repo_head SET stale = 1; END;\n";

int recstore_put(sqlite3 *db, const char *collection, const char *rkey, const json_object *record,
		 char **cid_out, char **err)
{
	json_object *type;
	if (!syntax_nsid_ok(collection))
		return buf_error(err, "invalid collection NSID: %s", collection);
	if (!syntax_rkey_ok(rkey))
		return buf_error(err, "invalid record key: %s", rkey);
	if (!json_object_is_type(record, json_type_object) ||
	    !json_object_object_get_ex(record, "$type", &type) || !json_object_is_type(type, json_type_string) ||
	    strcmp(json_object_get_string(type), collection) != 0)
		return buf_error(err, "record $type must equal the collection: %s", collection);
	buf_t bytes = BUF_INIT;
	cid_t cid;
	char *cidstr = NULL, *cerr = NULL;
	int rc = -1;
	if (dagcbor_cid(record, &cid, &bytes, &cerr) != 0) {
		buf_error(err, "record is not valid atproto data: %s", cerr ? cerr : "?");
		goto out;
	}
	cidstr = cid_format(&cid);
	sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO blocks (cid, bytes) VALUES (?, ?)");
	if (!st)
		goto dberr;
	sqlite3_bind_text(st, 1, cidstr, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, bytes.data, (int)bytes.len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto dberr;
	st = db_prepare(db, "INSERT INTO records (collection, rkey, cid, updated_at) VALUES (?, ?, ?, ?) "
			    "ON CONFLICT (collection, rkey) DO UPDATE SET cid = excluded.cid, updated_at = excluded.updated_at");
	if (!st)
		goto dberr;
	sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cidstr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto dberr;
	rc = 0;
	if (cid_out) {
		*cid_out = cidstr;
		cidstr = NULL;
	}
	goto out;
dberr:
	buf_error(err, "record store: %s", sqlite3_errmsg(db));
out:
	free(cerr);
	free(cidstr);
	buf_free(&bytes);
	return rc;
}

/* Decode the DAG-CBOR block in column bytes_col. */
static json_object *row_value(sqlite3_stmt *st, int bytes_col)
{
	char *err = NULL;
	json_object *v = dagcbor_decode(sqlite3_column_blob(st, bytes_col), (size_t)sqlite3_column_bytes(st, bytes_col), &err);
	free(err);
	return v;
}

json_object *recstore_get(sqlite3 *db, const char *collection, const char *rkey, char **cid_out)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT r.cid, b.bytes FROM records r JOIN blocks b ON b.cid = r.cid "
					  "WHERE r.collection = ? AND r.rkey = ?");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rkey, -1, SQLITE_STATIC);
	json_object *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = row_value(st, 1);
		if (v && cid_out)
			*cid_out = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	return v;
}

int recstore_delete(sqlite3 *db, const char *collection, const char *rkey)
{
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM records WHERE collection = ? AND rkey = ?");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rkey, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(db) > 0) : -1;
	sqlite3_reset(st);
	return rc;
}

json_object *recstore_list(sqlite3 *db, const char *did, const char *collection, int limit, const char *cursor,
			   int reverse, char **next_cursor)
{
	if (limit <= 0 || limit > 100)
		limit = limit <= 0 ? 50 : 100;
	*next_cursor = NULL;
	sqlite3_stmt *st = db_prepare(
		db, reverse ? "SELECT r.cid, b.bytes, r.rkey FROM records r JOIN blocks b ON b.cid = r.cid "
			      "WHERE r.collection = ?1 AND (?2 IS NULL OR r.rkey > ?2) ORDER BY r.rkey ASC LIMIT ?3"
			    : "SELECT r.cid, b.bytes, r.rkey FROM records r JOIN blocks b ON b.cid = r.cid "
			      "WHERE r.collection = ?1 AND (?2 IS NULL OR r.rkey < ?2) ORDER BY r.rkey DESC LIMIT ?3");
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
	if (cursor)
		sqlite3_bind_text(st, 2, cursor, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, limit);
	json_object *arr = json_object_new_array();
	const char *last = NULL;
	int n = 0;
	buf_t lastkey = BUF_INIT;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_object *v = row_value(st, 1);
		if (!v)
			continue;
		const char *rkey = (const char *)sqlite3_column_text(st, 2);
		json_object *o = json_object_new_object();
		buf_t uri = BUF_INIT;
		buf_printf(&uri, "at://%s/%s/%s", did, collection, rkey);
		json_object_object_add(o, "uri", json_object_new_string(buf_str(&uri)));
		json_object_object_add(o, "cid", json_object_new_string((const char *)sqlite3_column_text(st, 0)));
		json_object_object_add(o, "value", v);
		json_object_array_add(arr, o);
		buf_free(&uri);
		buf_reset(&lastkey);
		buf_puts(&lastkey, rkey);
		last = buf_str(&lastkey);
		n++;
	}
	sqlite3_reset(st);
	if (n == limit && last)
		*next_cursor = strdup(last);
	buf_free(&lastkey);
	return arr;
}

json_object *recstore_collections(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT DISTINCT collection FROM records ORDER BY collection");
	json_object *arr = json_object_new_array();
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_object_array_add(arr, json_object_new_string((const char *)sqlite3_column_text(st, 0)));
	if (st)
		sqlite3_reset(st);
	return arr;
}

long long recstore_count(sqlite3 *db, const char *collection)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM records WHERE collection = ?");
	long long n = -1;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

long long recstore_prune(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM blocks WHERE cid NOT IN (SELECT cid FROM records) "
					  "AND cid NOT IN (SELECT cid FROM repo_blocks)");
	if (!st)
		return -1;
	long long n = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) : -1;
	sqlite3_reset(st);
	return n;
}

int recstore_entries(sqlite3 *db, mst_entry **entries, size_t *n, char **err)
{
	/* BINARY collation compares bytes: the MST's order. */
	sqlite3_stmt *st = db_prepare_err(db, "SELECT collection || '/' || rkey AS k, cid FROM records ORDER BY k", err);
	mst_entry *e = NULL;
	size_t count = 0, cap = 0;
	int rc = -1;
	*entries = NULL;
	*n = 0;
	if (!st)
		return -1;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			mst_entry *ne = realloc(e, ncap * sizeof *ne);
			if (!ne) {
				buf_error(err, "out of memory");
				goto out;
			}
			e = ne;
			cap = ncap;
		}
		const char *cid = (const char *)sqlite3_column_text(st, 1);
		if (cid_parse(cid, &e[count].value) < 0) {
			buf_error(err, "record %s has a malformed CID %s", (const char *)sqlite3_column_text(st, 0), cid);
			goto out;
		}
		if (!(e[count].key = strdup((const char *)sqlite3_column_text(st, 0)))) {
			buf_error(err, "out of memory");
			goto out;
		}
		count++;
	}
	if (step != SQLITE_DONE) {
		db_fail(db, err, "listing the records");
		goto out;
	}
	*entries = e;
	*n = count;
	e = NULL;
	rc = 0;
out:
	sqlite3_reset(st);
	if (e)
		recstore_entries_free(e, count);
	return rc;
}

void recstore_entries_free(mst_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)entries[i].key);
	free(entries);
}

int recstore_put_block(sqlite3 *db, const cid_t *cid, const void *data, size_t len, char **err)
{
	char *s = cid_format(cid);
	sqlite3_stmt *st = s ? db_prepare_err(db, "INSERT OR IGNORE INTO blocks (cid, bytes) VALUES (?, ?)", err) : NULL;
	int rc = -1;
	if (st) {
		sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "storing a block");
		sqlite3_reset(st);
	} else if (!s) {
		buf_error(err, "out of memory");
	}
	free(s);
	return rc;
}

int recstore_get_block(sqlite3 *db, const char *cid, buf_t *out)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT bytes FROM blocks WHERE cid = ?");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	int step = sqlite3_step(st), rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
	if (rc == 1 && buf_append(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)) < 0)
		rc = -1;
	sqlite3_reset(st);
	return rc;
}

static char *column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	return v ? strdup((const char *)v) : NULL;
}

int recstore_head(sqlite3 *db, char **cid, char **rev, int *stale, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "SELECT cid, rev, stale FROM repo_head WHERE id = 1", err);
	if (cid)
		*cid = NULL;
	if (rev)
		*rev = NULL;
	if (!st)
		return -1;
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		if (cid)
			*cid = column_dup(st, 0);
		if (rev)
			*rev = column_dup(st, 1);
		if (stale)
			*stale = sqlite3_column_int(st, 2) != 0;
	} else {
		rc = step == SQLITE_DONE ? buf_error(err, "the repository has no head row") : db_fail(db, err, "reading the head");
	}
	sqlite3_reset(st);
	return rc;
}

/* Run one statement binding text a (may be NULL) and b (may be NULL). */
static int exec2(sqlite3 *db, const char *sql, const char *a, const char *b, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, sql, err);
	if (!st)
		return -1;
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "moving the head");
	sqlite3_reset(st);
	return rc;
}

int recstore_set_head(sqlite3 *db, const char *cid, const char *rev, const cid_t *blocks, size_t n, char **err)
{
	/* The earlier head's commit and the nodes the new tree no longer has go at once: nothing reads an
	 * earlier head (readers in a transaction of their own keep their snapshot). */
	static const char keep[] = "INSERT INTO repo_blocks (cid, keep) VALUES (?, 1) ON CONFLICT (cid) DO UPDATE SET keep = 1";
	if (exec2(db, "UPDATE repo_blocks SET keep = 0", NULL, NULL, err) < 0 || exec2(db, keep, cid, NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *s = cid_format(&blocks[i]);
		int rc = s ? exec2(db, keep, s, NULL, err) : buf_error(err, "out of memory");
		free(s);
		if (rc < 0)
			return -1;
	}
	return exec2(db, "DELETE FROM blocks WHERE cid IN (SELECT cid FROM repo_blocks WHERE keep = 0) "
			 "AND cid NOT IN (SELECT cid FROM records)", NULL, NULL, err) < 0 ||
			       exec2(db, "DELETE FROM repo_blocks WHERE keep = 0", NULL, NULL, err) < 0
		       ? -1
		       : exec2(db, "UPDATE repo_head SET cid = ?1, rev = ?2, stale = 0 WHERE id = 1", cid, rev, err);
}

int recstore_head_blocks(sqlite3 *db, int (*fn)(void *ctx, const char *cid, const void *data, size_t len), void *ctx)
{
	/* Commit, MST nodes, record blocks: the order a reader of the CAR meets them walking from the root. */
	static const char *const queries[] = {
		"SELECT b.cid, b.bytes FROM repo_head h JOIN blocks b ON b.cid = h.cid",
		"SELECT b.cid, b.bytes FROM repo_blocks r JOIN blocks b ON b.cid = r.cid "
		"WHERE r.cid IS NOT (SELECT cid FROM repo_head)",
		"SELECT cid, bytes FROM blocks WHERE cid IN (SELECT cid FROM records)",
	};
	for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
		sqlite3_stmt *st = db_prepare(db, queries[q]);
		if (!st)
			return -1;
		int step = SQLITE_DONE, rc = 0;
		while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
			rc = fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
				(size_t)sqlite3_column_bytes(st, 1));
		if (rc == 0 && step != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(st);
		if (rc != 0)
			return rc;
	}
	return 0;
}
