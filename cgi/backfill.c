/* backfill.c - `atcr-jetstream backfill`: what a relay or a PDS holds, read with listRecords and
 * applied as snapshot events, so that an index built from nothing (or after the consumer missed
 * events) shows the network's repositories, tags, stars, pages and profiles. */
#include "backfill.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "ingest.h"
#include "jsonget.h"
#include "log.h"
#include "syntax.h"
#include "xrpc.h"

/* Manifests before tags: a tag's digest is looked up in the manifests already indexed. */
static const char *const collections[] = {
	"io.atcr.sailor.profile", "io.atcr.manifest", "io.atcr.tag", "io.atcr.repo.page", "io.atcr.sailor.star",
};
#define N_COLLECTIONS (sizeof collections / sizeof collections[0])
#define RECORDS_PAGE "100"
#define REPOS_PAGE "500"
#define MAX_PAGES_PER_COLLECTION 10000 /* a million records: beyond that the PDS is looping */

/* One listRecords page as create events (records whose URI does not end in a valid record key are
 * left out). Returns the number of events in *out (malloc'd). */
static size_t page_events(const char *did, const char *collection, json_object *records, netevent **out)
{
	size_t n = json_object_array_length(records), k = 0;
	netevent *ev = calloc(n ? n : 1, sizeof *ev);
	if (!ev) {
		*out = NULL;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(records, i), *value;
		const char *uri = jsonget_str(r, "uri"), *slash = uri ? strrchr(uri, '/') : NULL;
		if (!slash || !syntax_rkey_ok(slash + 1) || !json_object_object_get_ex(r, "value", &value) ||
		    !json_object_is_type(value, json_type_object))
			continue;
		ev[k] = (netevent){.kind = NETEVENT_COMMIT, .op = NETEVENT_CREATE, .did = strdup(did),
				   .collection = strdup(collection), .rkey = strdup(slash + 1),
				   .cid = jsonget_str(r, "cid") ? strdup(jsonget_str(r, "cid")) : NULL,
				   .record = json_object_get(value)};
		k++;
	}
	*out = ev;
	return k;
}

int backfill_repo(const backfill_ctx *b, const char *did, long long *records, char **err)
{
	identity id = {0};
	int rc = -1;
	char *cursor = NULL;
	if (identity_resolve(&b->ident, did, 1, &id, err) != 0)
		goto out;
	xrpc_client c = {id.pds, NULL, &b->http};
	for (size_t i = 0; i < N_COLLECTIONS; i++) {
		for (int page = 0; page < MAX_PAGES_PER_COLLECTION; page++) {
			const char *params[] = {"repo", did, "collection", collections[i], "limit", RECORDS_PAGE,
						cursor ? "cursor" : NULL, cursor, NULL};
			xrpc_error e = {0};
			json_object *list = xrpc_query(&c, "com.atproto.repo.listRecords", params, &e), *recs;
			free(cursor);
			cursor = NULL;
			if (!list || !json_object_object_get_ex(list, "records", &recs) ||
			    !json_object_is_type(recs, json_type_array)) {
				buf_error(err, "listRecords %s %s on %s: %s", did, collections[i], id.pds,
					  e.error ? e.error : "not a record list");
				json_object_put(list);
				xrpc_error_free(&e);
				goto out;
			}
			xrpc_error_free(&e);
			netevent *ev = NULL;
			size_t n = page_events(did, collections[i], recs, &ev);
			int applied = ingest_apply(b->db, ev, n, NULL, 0, err);
			netevent_free_all(ev, n);
			if (applied != 0) {
				json_object_put(list);
				goto out;
			}
			*records += (long long)n;
			const char *next = jsonget_str(list, "cursor");
			if (next && json_object_array_length(recs) > 0)
				cursor = strdup(next);
			json_object_put(list);
			if (!cursor)
				break;
		}
	}
	rc = 0;
out:
	free(cursor);
	identity_free(&id);
	return rc;
}

/* ---- walking a listing, with its progress in backfill_progress */

typedef struct {
	char *cursor;
	long long repos, records;
	int done;
} progress;

static int progress_get(sqlite3 *db, const char *source, progress *p, char **err)
{
	*p = (progress){0};
	sqlite3_stmt *st = db_prepare_err(db, "SELECT cursor, repos, records, done FROM backfill_progress WHERE source = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		const unsigned char *c = sqlite3_column_text(st, 0);
		p->cursor = c ? strdup((const char *)c) : NULL;
		p->repos = sqlite3_column_int64(st, 1);
		p->records = sqlite3_column_int64(st, 2);
		p->done = sqlite3_column_int(st, 3);
	} else if (step != SQLITE_DONE) {
		rc = db_fail(db, err, "backfill progress");
	}
	sqlite3_reset(st);
	return rc;
}

static int progress_put(sqlite3 *db, const char *source, const progress *p, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT OR REPLACE INTO backfill_progress (source, cursor, repos, records, done, updated_at) "
				"VALUES (?, ?, ?, ?, ?, ?)",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	if (p->cursor)
		sqlite3_bind_text(st, 2, p->cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, p->repos);
	sqlite3_bind_int64(st, 4, p->records);
	sqlite3_bind_int(st, 5, p->done);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "backfill progress");
	sqlite3_reset(st);
	return rc;
}

/* Walk one listing (listRepos of a PDS, or listReposByCollection of a relay for collection) from
 * where source's progress says, each repository through backfill_repo. 0, or -1 with *err. */
static int walk(const backfill_ctx *b, const char *base, const char *collection, int restart, long long *failed,
		char **err)
{
	char *source = collection ? buf_strf("listReposByCollection:%s:%s", base, collection)
				  : buf_strf("listRepos:%s", base);
	const char *nsid = collection ? "com.atproto.sync.listReposByCollection" : "com.atproto.sync.listRepos";
	progress p = {0};
	int rc = -1, pages = 0;
	if (!source || progress_get(b->db, source, &p, err) != 0)
		goto out;
	if (restart || p.done) {
		free(p.cursor);
		p = (progress){0};
	} else if (p.cursor) {
		if (b->progress)
			fprintf(b->progress, "backfill: %s: resuming after %lld repositories\n", source, p.repos);
	}
	xrpc_client c = {base, NULL, &b->http};
	for (;;) {
		const char *params[] = {"limit", REPOS_PAGE, collection ? "collection" : NULL, collection, NULL, NULL, NULL};
		if (p.cursor) {
			params[collection ? 4 : 2] = "cursor";
			params[collection ? 5 : 3] = p.cursor;
		}
		xrpc_error e = {0};
		json_object *list = xrpc_query(&c, nsid, params, &e), *repos;
		if (!list || !json_object_object_get_ex(list, "repos", &repos) || !json_object_is_type(repos, json_type_array)) {
			buf_error(err, "%s on %s: %s%s%s", nsid, base, e.error ? e.error : "not a repository list",
				  e.message ? ": " : "", e.message ? e.message : "");
			json_object_put(list);
			xrpc_error_free(&e);
			goto out;
		}
		xrpc_error_free(&e);
		for (size_t i = 0; i < json_object_array_length(repos); i++) {
			json_object *r = json_object_array_get_idx(repos, i), *active;
			const char *did = jsonget_str(r, "did");
			char *why = NULL;
			if (!did || !syntax_did_ok(did))
				continue;
			if (json_object_object_get_ex(r, "active", &active) && !json_object_get_boolean(active))
				continue; /* deactivated or taken down: its records are not served */
			p.repos++;
			if (backfill_repo(b, did, &p.records, &why) != 0) {
				(*failed)++;
				log_warn("backfill: %s: %s", did, why ? why : "failed");
				if (b->progress)
					fprintf(b->progress, "backfill: %s skipped: %s\n", did, why ? why : "failed");
			}
			free(why);
		}
		const char *next = jsonget_str(list, "cursor");
		free(p.cursor);
		p.cursor = next && json_object_array_length(repos) > 0 ? strdup(next) : NULL;
		p.done = !p.cursor;
		json_object_put(list);
		if (progress_put(b->db, source, &p, err) != 0)
			goto out;
		pages++;
		if (b->progress)
			fprintf(b->progress, "backfill: %s: page %d, %lld repositories, %lld records%s\n", source, pages,
				p.repos, p.records, p.done ? " (done)" : "");
		if (p.done)
			break;
	}
	rc = 0;
out:
	free(p.cursor);
	free(source);
	return rc;
}

int backfill_all(const backfill_ctx *b, const char *relay, const char *pds, int restart, char **err)
{
	long long failed = 0;
	int rc = 0;
	if (relay) {
		/* a repository with records in several collections is listed (and read) once per collection:
		 * applying it again changes nothing */
		for (size_t i = 0; rc == 0 && i < N_COLLECTIONS; i++)
			rc = walk(b, relay, collections[i], restart, &failed, err);
	} else {
		rc = walk(b, pds, NULL, restart, &failed, err);
	}
	if (rc == 0 && b->progress && failed)
		fprintf(b->progress, "backfill: finished, %lld repositories skipped (see above)\n", failed);
	else if (rc == 0 && b->progress)
		fprintf(b->progress, "backfill: finished\n");
	return rc;
}
