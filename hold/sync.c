/* sync.c - com.atproto.sync.* over the hold's repository (getBlob is in blob.c): the head commit
 * (getLatestCommit, getRepoStatus, listRepos) and CAR exports (getRepo: everything; getRecord: the
 * commit, the MST path to the record and the record). Each reads in one transaction, so the commit,
 * its tree and the records are of the same moment. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "car.h"
#include "cid.h"
#include "dagcbor.h"
#include "db.h"
#include "hold.h"
#include "jsonget.h"
#include "log.h"
#include "mst.h"
#include "recstore.h"
#include "syntax.h"

#define CAR_TYPE "application/vnd.ipld.car"

/* The did parameter: required, and this hold's. 0 with *did (caller frees), or -1 once answered. */
static int our_did(fcgi_req *r, char **did)
{
	const hold_ctx *h = r->app;
	*did = fcgi_query_get(r, "did");
	if (!*did) {
		hold_xrpc_error(r, 400, "InvalidRequest", "did is required");
		return -1;
	}
	if (strcmp(*did, h->did) != 0) {
		hold_xrpc_error(r, 404, "RepoNotFound", "this hold serves only its own repo");
		return -1;
	}
	return 0;
}

static void end_read(sqlite3 *db)
{
	char *ignored = NULL;
	db_exec(db, "COMMIT", &ignored);
	free(ignored);
}

/* The head's CID and rev (caller frees both), read on their own. 0, or -1 once answered. */
static int read_head(fcgi_req *r, char **cid, char **rev)
{
	const hold_ctx *h = r->app;
	char *err = NULL;
	sqlite3 *db = hold_db(h);
	if (!db || recstore_head(db, cid, rev, NULL, &err) != 0 || !*cid || !*rev) {
		log_error("reading the repo head: %s", err ? err : "no commit yet");
		free(err);
		free(*cid);
		free(*rev);
		*cid = *rev = NULL;
		hold_xrpc_error(r, 500, "InternalServerError", "the repository has no commit");
		return -1;
	}
	return 0;
}

int sync_latest_commit(fcgi_req *r)
{
	char *did = NULL, *cid = NULL, *rev = NULL;
	if (our_did(r, &did) == 0 && read_head(r, &cid, &rev) == 0)
		hold_reply(r, "cid", cid, "rev", rev, NULL);
	free(did);
	free(cid);
	free(rev);
	return 0;
}

int sync_repo_status(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *did = NULL, *cid = NULL, *rev = NULL;
	if (our_did(r, &did) == 0 && read_head(r, &cid, &rev) == 0) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "did", json_object_new_string(h->did));
		json_object_object_add(o, "active", json_object_new_boolean(1));
		json_object_object_add(o, "rev", json_object_new_string(rev));
		fcgi_send_json(r, 200, o);
		json_object_put(o);
	}
	free(did);
	free(cid);
	free(rev);
	return 0;
}

int sync_list_repos(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *cursor = fcgi_query_get(r, "cursor"), *limit = fcgi_query_get(r, "limit"), *cid = NULL, *rev = NULL;
	long n = 500;
	if (limit) {
		char *end;
		n = strtol(limit, &end, 10);
		if (*end || n < 1 || n > 1000) {
			hold_xrpc_error(r, 400, "InvalidRequest", "limit must be 1..1000");
			goto out;
		}
	}
	json_object *repos = json_object_new_array();
	/* One repo: it is on the first page; any cursor is past it. */
	if (!cursor) {
		if (read_head(r, &cid, &rev) != 0) {
			json_object_put(repos);
			goto out;
		}
		json_object *repo = json_object_new_object();
		json_object_object_add(repo, "did", json_object_new_string(h->did));
		json_object_object_add(repo, "head", json_object_new_string(cid));
		json_object_object_add(repo, "rev", json_object_new_string(rev));
		json_object_object_add(repo, "active", json_object_new_boolean(1));
		json_object_array_add(repos, repo);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "repos", repos);
	fcgi_send_json(r, 200, o);
	json_object_put(o);
out:
	free(cursor);
	free(limit);
	free(cid);
	free(rev);
	return 0;
}

static int write_block(void *ctx, const char *cidstr, const void *data, size_t len)
{
	cid_t cid;
	if (cid_parse(cidstr, &cid) != 0)
		return -1;
	return car_write_block(ctx, &cid, data, len) == 0 ? 0 : -1;
}

/* Begin the CAR in car with the head commit as its root and its block first. *commit (caller puts) gets
 * the decoded commit. Inside the read transaction. 0, or -1 with *err. */
static int car_start(sqlite3 *db, buf_t *car, json_object **commit, char **err)
{
	char *head = NULL, *derr = NULL;
	buf_t block = BUF_INIT;
	cid_t root;
	int rc = -1;
	*commit = NULL;
	if (recstore_head(db, &head, NULL, NULL, err) != 0)
		goto out;
	if (!head || cid_parse(head, &root) != 0 || recstore_get_block(db, head, &block) != 1) {
		buf_error(err, "the head commit %s is missing", head ? head : "(none)");
		goto out;
	}
	if (!(*commit = dagcbor_decode(block.data, block.len, &derr))) {
		buf_error(err, "the head commit does not decode: %s", derr ? derr : "?");
		goto out;
	}
	if (car_write_header(car, &root, 1) != 0 || car_write_block(car, &root, block.data, block.len) != 0) {
		buf_error(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(head);
	free(derr);
	buf_free(&block);
	return rc;
}

int sync_repo(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *did = NULL, *err = NULL, *head = NULL;
	buf_t car = BUF_INIT;
	sqlite3 *db = hold_db(h);
	cid_t root;
	if (our_did(r, &did) != 0)
		goto out;
	/* `since` is not honoured: the whole repo is a valid answer to any diff request. */
	if (!db || db_exec(db, "BEGIN", &err) != 0) {
		hold_xrpc_error(r, 500, "InternalServerError", "database unavailable");
		goto out;
	}
	int rc = recstore_head(db, &head, NULL, NULL, &err);
	if (rc == 0 && (!head || cid_parse(head, &root) != 0))
		rc = buf_error(&err, "no head commit");
	/* recstore_head_blocks gives the commit first, then the MST nodes, then the records. */
	if (rc == 0 && (car_write_header(&car, &root, 1) != 0 || recstore_head_blocks(db, write_block, &car) != 0))
		rc = buf_error(&err, "reading the repository's blocks failed");
	end_read(db);
	if (rc != 0) {
		log_error("getRepo: %s", err ? err : "failed");
		hold_xrpc_error(r, 500, "InternalServerError", "the repository could not be read");
		goto out;
	}
	fcgi_send(r, 200, CAR_TYPE, car.data, car.len);
out:
	buf_free(&car);
	free(did);
	free(err);
	free(head);
	return 0;
}

/* Append to car the MST nodes from the root to key (the tree rebuilt from the records, which must give
 * the commit's data root) and the record's block when it is there. Inside the read transaction.
 * 0, or -1 with *err. */
static int prove(sqlite3 *db, json_object *commit, const char *key, buf_t *car, char **err)
{
	mst_entry *entries = NULL;
	size_t n = 0, *path = NULL, npath = 0;
	mst_tree *tree = NULL;
	const cid_t *value = NULL;
	char *cerr = NULL, *value_str = NULL;
	buf_t record = BUF_INIT;
	cid_t data;
	int rc = -1;
	const char *link = jsonget_str(jsonget(commit, "data", json_type_object), "$link");
	if (!link || cid_parse(link, &data) != 0) {
		buf_error(err, "the head commit has no data link");
		goto out;
	}
	if (recstore_entries(db, &entries, &n, err) != 0)
		goto out;
	if (!(tree = mst_build(entries, n, &cerr))) {
		buf_error(err, "building the MST: %s", cerr ? cerr : "?");
		goto out;
	}
	if (!cid_equal(mst_root(tree), &data)) {
		buf_error(err, "the records changed without a commit (the tree's root is not the head's)");
		goto out;
	}
	if (mst_path(tree, key, &path, &npath, &value) != 0) {
		buf_error(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < npath; i++) {
		const cid_t *cid;
		const unsigned char *bytes;
		size_t len;
		mst_block(tree, path[i], &cid, &bytes, &len);
		if (car_write_block(car, cid, bytes, len) != 0) {
			buf_error(err, "out of memory");
			goto out;
		}
	}
	if (value) {
		if (!(value_str = cid_format(value)) || recstore_get_block(db, value_str, &record) != 1) {
			buf_error(err, "the block of record %s is missing", key);
			goto out;
		}
		if (car_write_block(car, value, record.data, record.len) != 0) {
			buf_error(err, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	recstore_entries_free(entries, n);
	mst_free(tree);
	free(path);
	free(cerr);
	free(value_str);
	buf_free(&record);
	return rc;
}

int sync_record(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *did = NULL, *coll = fcgi_query_get(r, "collection"), *rkey = fcgi_query_get(r, "rkey"), *err = NULL,
	     *key = NULL;
	buf_t car = BUF_INIT;
	json_object *commit = NULL;
	sqlite3 *db = hold_db(h);
	if (!coll || !rkey || !syntax_nsid_ok(coll) || !syntax_rkey_ok(rkey)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "did, collection (an NSID) and rkey (a record key) are required");
		goto out;
	}
	if (our_did(r, &did) != 0)
		goto out;
	if (!db || db_exec(db, "BEGIN", &err) != 0) {
		hold_xrpc_error(r, 500, "InternalServerError", "database unavailable");
		goto out;
	}
	key = buf_strf("%s/%s", coll, rkey);
	/* An absent record is answered too: the path then proves it is not there (as the reference PDS). */
	int rc = car_start(db, &car, &commit, &err) == 0 && key ? prove(db, commit, key, &car, &err) : -1;
	end_read(db);
	if (rc != 0) {
		log_error("sync.getRecord %s: %s", key ? key : "?", err ? err : "failed");
		hold_xrpc_error(r, 500, "InternalServerError", "the record's proof could not be made");
		goto out;
	}
	fcgi_send(r, 200, CAR_TYPE, car.data, car.len);
out:
	json_object_put(commit);
	buf_free(&car);
	free(did);
	free(coll);
	free(rkey);
	free(key);
	free(err);
	return 0;
}
