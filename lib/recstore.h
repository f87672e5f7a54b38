/* recstore.h - an atproto record store in SQLite: records as canonical DAG-CBOR blocks addressed by
 * CIDv1 (dag-cbor, sha-256), indexed by collection and record key, and the repository's head commit
 * (whose MST and commit blocks share the blocks table). The hold keeps its own repo here. */
#ifndef ATCR_RECSTORE_H
#define ATCR_RECSTORE_H
#include <json-c/json.h>
#include <sqlite3.h>

#include "buf.h"
#include "mst.h"

/* The tables this module needs, for the owning program's migration list: records and blocks, then
 * (a later migration) the head commit, the blocks it needs besides the records (repo_blocks), and
 * triggers that mark the head stale whenever a record is created, changed or deleted. */
extern const char recstore_schema_sql[];
extern const char recstore_commit_schema_sql[];

/* Validate (NSID, record key, "$type" equal to the collection, the atproto data model) and store the
 * record, replacing any previous one under the key. *cid_out (may be NULL) gets the CID string (caller
 * frees). 0 ok; -1 with *err (caller frees). */
int recstore_put(sqlite3 *db, const char *collection, const char *rkey, const json_object *record,
		 char **cid_out, char **err);
/* The record's JSON form (caller puts) and CID (caller frees, may pass NULL); NULL when absent. */
json_object *recstore_get(sqlite3 *db, const char *collection, const char *rkey, char **cid_out);
/* 1 deleted, 0 absent, -1 on error. */
int recstore_delete(sqlite3 *db, const char *collection, const char *rkey);
/* A page of {uri, cid, value} objects of repo did, by record key descending (ascending when reverse),
 * starting after cursor (may be NULL); *next_cursor (caller frees) is set when more may follow. */
json_object *recstore_list(sqlite3 *db, const char *did, const char *collection, int limit, const char *cursor,
			   int reverse, char **next_cursor);
/* The collections that hold at least one record, sorted (caller puts). */
json_object *recstore_collections(sqlite3 *db);
/* Number of records in a collection. */
long long recstore_count(sqlite3 *db, const char *collection);
/* Drop the blocks neither a record nor the head commit needs (earlier versions of replaced records,
 * deleted records, MST nodes and commits of earlier heads), so that deleting a user's records leaves no
 * copy of them behind. Number dropped, or -1 on error. */
long long recstore_prune(sqlite3 *db);

/* ---- the repository's head (see hold/repo.c for the commits themselves) */
/* Every record as an MST entry ("<collection>/<rkey>" -> CID), sorted by key as mst_build wants.
 * Free with recstore_entries_free. 0, or -1 with *err. */
int recstore_entries(sqlite3 *db, mst_entry **entries, size_t *n, char **err);
void recstore_entries_free(mst_entry *entries, size_t n);
/* Keep a block (a commit or an MST node) under its CID; already there is fine. 0, or -1 with *err. */
int recstore_put_block(sqlite3 *db, const cid_t *cid, const void *data, size_t len, char **err);
/* A block's bytes appended to out: 1 found, 0 absent, -1 on a database error. */
int recstore_get_block(sqlite3 *db, const char *cid, buf_t *out);
/* The head commit's CID and rev (each may be NULL; caller frees; NULL before the first commit) and
 * whether records changed since it (*stale, may be NULL). 0, or -1 with *err. */
int recstore_head(sqlite3 *db, char **cid, char **rev, int *stale, char **err);
/* Make the commit cid (its block already put) the head at rev, with blocks[0..n) its MST's node blocks
 * (already put), and mark the head current. The earlier head's commit and MST nodes the new one does
 * not share are dropped. 0, or -1 with *err. */
int recstore_set_head(sqlite3 *db, const char *cid, const char *rev, const cid_t *blocks, size_t n, char **err);
/* Call fn for each block of the head: the commit first, then the MST nodes, then the records' blocks
 * (each once). Stops at and returns fn's first non-zero; 0 when all were visited; -1 on a database
 * error. Run it inside a read transaction for a consistent view. */
int recstore_head_blocks(sqlite3 *db, int (*fn)(void *ctx, const char *cid, const void *data, size_t len),
			 void *ctx);

#endif
