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
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM blocks WHERE cid NOT IN (SELECT cid FROM records)");
	if (!st)
		return -1;
	long long n = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) : -1;
	sqlite3_reset(st);
	return n;
}
