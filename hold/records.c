/* records.c - the hold's own repo: writing records, and com.atproto.repo.describeRepo / getRecord /
 * listRecords / putRecord / deleteRecord over it. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "encoding.h"
#include "hold.h"
#include "log.h"
#include "recstore.h"
#include "syntax.h"

void hold_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

int hold_put_record(const hold_ctx *h, const char *collection, const char *rkey, json_object *record, char **cid,
		    char **err)
{
	sqlite3 *db = hold_db(h);
	if (!db) {
		*err = strdup("database unavailable");
		return -1;
	}
	return recstore_put(db, collection, rkey, record, cid, err);
}

json_object *hold_records_where(sqlite3 *db, const char *collection, const char *field, const char *value,
				char **err)
{
	json_object *out = json_object_new_array();
	char *cursor = NULL;
	do {
		char *next = NULL;
		/* The did only shapes the listing's uris, which are not used here. */
		json_object *page = recstore_list(db, "did:web:hold.invalid", collection, 100, cursor, 1, &next);
		if (!page) {
			buf_error(err, "record store: %s", sqlite3_errmsg(db));
			json_object_put(out);
			out = NULL;
			free(next);
			break;
		}
		for (size_t i = 0; i < json_object_array_length(page); i++) {
			json_object *item = json_object_array_get_idx(page, i), *v = NULL;
			const char *uri = jsonget_str(item, "uri"), *got;
			json_object_object_get_ex(item, "value", &v);
			if (!uri || !v || !(got = jsonget_str(v, field)) || strcmp(got, value) != 0)
				continue;
			json_object *match = json_object_new_object();
			json_object_object_add(match, "rkey", json_object_new_string(strrchr(uri, '/') + 1));
			json_object_object_add(match, "value", json_object_get(v));
			json_object_array_add(out, match);
		}
		json_object_put(page);
		free(cursor);
		cursor = next;
	} while (cursor);
	free(cursor);
	return out;
}

static void rollback(sqlite3 *db)
{
	char *ignored = NULL;
	db_exec(db, "ROLLBACK", &ignored);
	free(ignored);
}

/* The repo parameter must name this hold. */
static int repo_is_ours(const hold_ctx *h, const char *repo)
{
	return repo && strcmp(repo, h->did) == 0;
}

int records_describe_server(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "did", json_object_new_string(h->did));
	json_object_object_add(o, "availableUserDomains", json_object_new_array());
	json_object_object_add(o, "inviteCodeRequired", json_object_new_boolean(1));
	int rc = fcgi_send_json(r, 200, o);
	json_object_put(o);
	return rc;
}

int records_describe_repo(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *repo = fcgi_query_get(r, "repo");
	if (!repo) {
		hold_xrpc_error(r, 400, "InvalidRequest", "repo is required");
		return 0;
	}
	if (!repo_is_ours(h, repo)) {
		free(repo);
		return hold_xrpc_error(r, 404, "RepoNotFound", "this hold serves only its own repo");
	}
	free(repo);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "handle", json_object_new_string("handle.invalid"));
	json_object_object_add(o, "did", json_object_new_string(h->did));
	json_object_object_add(o, "didDoc", did_document(h));
	json_object_object_add(o, "collections", recstore_collections(hold_db(h)));
	json_object_object_add(o, "handleIsCorrect", json_object_new_boolean(0));
	int rc = fcgi_send_json(r, 200, o);
	json_object_put(o);
	return rc;
}

int records_get(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *repo = fcgi_query_get(r, "repo"), *coll = fcgi_query_get(r, "collection"),
	     *rkey = fcgi_query_get(r, "rkey"), *cid = NULL;
	json_object *v = NULL, *o = NULL;
	if (!repo || !coll || !rkey) {
		hold_xrpc_error(r, 400, "InvalidRequest", "repo, collection and rkey are required");
		goto out;
	}
	if (!syntax_nsid_ok(coll) || !syntax_rkey_ok(rkey)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "malformed collection or rkey");
		goto out;
	}
	if (!repo_is_ours(h, repo)) {
		hold_xrpc_error(r, 404, "RepoNotFound", "this hold serves only its own repo");
		goto out;
	}
	v = recstore_get(hold_db(h), coll, rkey, &cid);
	if (!v) {
		hold_xrpc_error(r, 404, "RecordNotFound", "Could not locate record");
		goto out;
	}
	o = json_object_new_object();
	char uri[512];
	snprintf(uri, sizeof uri, "at://%s/%s/%s", h->did, coll, rkey);
	json_object_object_add(o, "uri", json_object_new_string(uri));
	json_object_object_add(o, "cid", json_object_new_string(cid));
	json_object_object_add(o, "value", v);
	fcgi_send_json(r, 200, o);
out:
	json_object_put(o);
	free(repo);
	free(coll);
	free(rkey);
	free(cid);
	return 0;
}

int records_list(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *repo = fcgi_query_get(r, "repo"), *coll = fcgi_query_get(r, "collection"),
	     *limit = fcgi_query_get(r, "limit"), *cursor = fcgi_query_get(r, "cursor"),
	     *reverse = fcgi_query_get(r, "reverse"), *next = NULL;
	json_object *o = NULL;
	if (!repo || !coll) {
		hold_xrpc_error(r, 400, "InvalidRequest", "repo and collection are required");
		goto out;
	}
	if (!syntax_nsid_ok(coll)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "malformed collection");
		goto out;
	}
	int n = 50;
	if (limit) {
		char *end;
		long v = strtol(limit, &end, 10);
		if (*end || v < 1 || v > 100) {
			hold_xrpc_error(r, 400, "InvalidRequest", "limit must be 1..100");
			goto out;
		}
		n = (int)v;
	}
	if (!repo_is_ours(h, repo)) {
		hold_xrpc_error(r, 404, "RepoNotFound", "this hold serves only its own repo");
		goto out;
	}
	json_object *records = recstore_list(hold_db(h), h->did, coll, n, cursor,
					     reverse && strcmp(reverse, "true") == 0, &next);
	o = json_object_new_object();
	json_object_object_add(o, "records", records ? records : json_object_new_array());
	if (next)
		json_object_object_add(o, "cursor", json_object_new_string(next));
	fcgi_send_json(r, 200, o);
out:
	json_object_put(o);
	free(repo);
	free(coll);
	free(limit);
	free(cursor);
	free(reverse);
	free(next);
	return 0;
}

/* putRecord/deleteRecord: only crew records, only by the captain or crew:admin. */
static int crew_write_prelude(fcgi_req *r, const char *method, json_object **in, const char **coll,
			      const char **rkey, char **caller)
{
	const hold_ctx *h = r->app;
	if (hold_authorize(r, method, HOLD_MANAGE_CREW, 1, caller) != 0)
		return -1;
	*in = hold_read_json(r, 64 * 1024);
	if (!*in)
		return -1;
	const char *repo = jsonget_str(*in, "repo");
	*coll = jsonget_str(*in, "collection");
	*rkey = jsonget_str(*in, "rkey");
	if (!repo || !*coll || !*rkey || !syntax_rkey_ok(*rkey)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "repo, collection and a valid rkey are required");
		return -1;
	}
	if (!repo_is_ours(h, repo)) {
		hold_xrpc_error(r, 404, "RepoNotFound", "this hold serves only its own repo");
		return -1;
	}
	if (strcmp(*coll, "io.atcr.hold.crew") != 0) {
		hold_xrpc_error(r, 400, "InvalidRequest", "only io.atcr.hold.crew records can be written here");
		return -1;
	}
	return 0;
}

int records_put(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	json_object *in = NULL, *rec, *o = NULL;
	const char *coll, *rkey;
	char *caller = NULL, *cid = NULL, *err = NULL;
	if (crew_write_prelude(r, "com.atproto.repo.putRecord", &in, &coll, &rkey, &caller) != 0)
		goto out;
	const char *member = NULL;
	if (!json_object_object_get_ex(in, "record", &rec) || !(member = jsonget_str(rec, "member")) ||
	    !syntax_did_ok(member)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "record.member must be a DID");
		goto out;
	}
	char want[27];
	hold_hash_rkey(member, want);
	if (strcmp(rkey, want) != 0) {
		hold_xrpc_error(r, 400, "InvalidRequest", "crew record key must be base32(sha256(member)[:16])");
		goto out;
	}
	sqlite3 *db = hold_db(h);
	if (!db || db_exec(db, "BEGIN IMMEDIATE", &err) != 0) {
		hold_xrpc_error(r, 500, "InternalServerError", "database unavailable");
		goto out;
	}
	if (hold_put_record(h, coll, rkey, rec, &cid, &err) != 0) {
		rollback(db);
		hold_xrpc_error(r, 400, "InvalidRequest", err);
		goto out;
	}
	if (repo_tx_commit(h, db, &err) != 0) {
		rollback(db);
		log_error("putRecord %s/%s: %s", coll, rkey, err);
		hold_xrpc_error(r, 500, "InternalServerError", "the record could not be committed");
		goto out;
	}
	log_info("crew record %s written by %s", member, caller);
	o = json_object_new_object();
	char uri[512];
	snprintf(uri, sizeof uri, "at://%s/%s/%s", h->did, coll, rkey);
	json_object_object_add(o, "uri", json_object_new_string(uri));
	json_object_object_add(o, "cid", json_object_new_string(cid));
	fcgi_send_json(r, 200, o);
out:
	json_object_put(in);
	json_object_put(o);
	free(caller);
	free(cid);
	free(err);
	return 0;
}

int records_delete(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	json_object *in = NULL, *o = NULL;
	const char *coll, *rkey;
	char *caller = NULL, *err = NULL;
	sqlite3 *db = hold_db(h);
	if (crew_write_prelude(r, "com.atproto.repo.deleteRecord", &in, &coll, &rkey, &caller) != 0)
		goto out;
	char owner_key[27];
	hold_hash_rkey(h->owner, owner_key);
	if (strcmp(rkey, owner_key) == 0) {
		hold_xrpc_error(r, 400, "InvalidRequest", "the captain's own crew record cannot be deleted");
		goto out;
	}
	if (!db || db_exec(db, "BEGIN IMMEDIATE", &err) != 0 || recstore_delete(db, coll, rkey) < 0 ||
	    repo_tx_commit(h, db, &err) != 0) {
		if (db)
			rollback(db);
		log_error("deleteRecord %s/%s: %s", coll, rkey, err ? err : db ? sqlite3_errmsg(db) : "no database");
		hold_xrpc_error(r, 500, "InternalServerError", "delete failed");
		goto out;
	}
	log_info("crew record %s deleted by %s", rkey, caller);
	o = json_object_new_object();
	fcgi_send_json(r, 200, o);
out:
	json_object_put(in);
	json_object_put(o);
	free(caller);
	free(err);
	return 0;
}
