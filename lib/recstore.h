/* recstore.h - an atproto record store in SQLite: records as canonical DAG-CBOR blocks addressed by
 * CIDv1 (dag-cbor, sha-256), indexed by collection and record key. The hold keeps its own records here;
 * the MST, signed commits and CAR export build on the blocks table. */
#ifndef ATCR_RECSTORE_H
#define ATCR_RECSTORE_H
#include <json-c/json.h>
#include <sqlite3.h>

/* The tables this module needs, for the owning program's migration list. */
extern const char recstore_schema_sql[];

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
/* Drop the blocks no record points at any more (earlier versions of replaced records, deleted records),
 * so that deleting a user's records leaves no copy of them behind. The blocks table holds record blocks
 * only: the MST and commits, when they come, must keep theirs. Number dropped, or -1 on error. */
long long recstore_prune(sqlite3 *db);

#endif
