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

/* The record keys a listing showed, sorted once it is read (for bsearch). */
typedef struct {
	char **v;
	size_t n, cap;
} keyset;

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int keyset_add(keyset *k, const char *key)
{
	if (k->n == k->cap) {
		char **grown = realloc(k->v, (k->cap = k->cap ? 2 * k->cap : 64) * sizeof *k->v);
		if (!grown)
			return -1;
		k->v = grown;
	}
	if (!(k->v[k->n] = strdup(key)))
		return -1;
	k->n++;
	return 0;
}

static int keyset_has(const keyset *k, const char *key)
{
	return k->n && bsearch(&key, k->v, k->n, sizeof *k->v, key_cmp) != NULL;
}

static void keyset_free(keyset *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	*k = (keyset){0};
}

/* One listRecords page, read at listed_at, as create events (records whose URI does not end in a
 * valid record key are left out); their keys go to seen. Returns the number of events in *out
 * (malloc'd), or (size_t)-1 out of memory. */
static size_t page_events(const char *did, const char *collection, json_object *records, long long listed_at,
			  keyset *seen, netevent **out)
{
	size_t n = json_object_array_length(records), k = 0;
	netevent *ev = calloc(n ? n : 1, sizeof *ev);
	*out = ev;
	if (!ev)
		return (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(records, i), *value;
		const char *uri = jsonget_str(r, "uri"), *slash = uri ? strrchr(uri, '/') : NULL;
		if (!slash || !syntax_rkey_ok(slash + 1) || !json_object_object_get_ex(r, "value", &value) ||
		    !json_object_is_type(value, json_type_object))
			continue;
		if (keyset_add(seen, slash + 1) != 0)
			return (size_t)-1;
		ev[k] = (netevent){.kind = NETEVENT_COMMIT, .op = NETEVENT_CREATE, .did = strdup(did),
				   .collection = strdup(collection), .rkey = strdup(slash + 1),
				   .cid = jsonget_str(r, "cid") ? strdup(jsonget_str(r, "cid")) : NULL,
				   .record = json_object_get(value), .listed_at = listed_at};
		k++;
	}
	return k;
}

/* Read and apply every record of did in collection, page by page; the keys listed go to *seen.
 * 1 when the listing was read to its end, 0 when it was cut at MAX_PAGES_PER_COLLECTION (then what
 * it did not show may still exist), -1 with *err. */
static int list_collection(const backfill_ctx *b, const xrpc_client *c, const char *did, const char *collection,
			   keyset *seen, long long *records, char **err)
{
	char *cursor = NULL;
	int rc = 0;
	for (int page = 0; page < MAX_PAGES_PER_COLLECTION; page++) {
		const char *params[] = {"repo", did, "collection", collection, "limit", RECORDS_PAGE,
					cursor ? "cursor" : NULL, cursor, NULL};
		xrpc_error e = {0};
		long long listed_at = (long long)time(NULL);
		json_object *list = xrpc_query(c, "com.atproto.repo.listRecords", params, &e), *recs;
		free(cursor);
		cursor = NULL;
		if (!list || !json_object_object_get_ex(list, "records", &recs) || !json_object_is_type(recs, json_type_array)) {
			buf_error(err, "listRecords %s %s on %s: %s", did, collection, c->base,
				  e.error ? e.error : "not a record list");
			json_object_put(list);
			xrpc_error_free(&e);
			return -1;
		}
		xrpc_error_free(&e);
		netevent *ev = NULL;
		size_t n = page_events(did, collection, recs, listed_at, seen, &ev);
		int applied = n == (size_t)-1 ? (buf_error(err, "out of memory"), -1) : ingest_apply(b->db, ev, n, NULL, 0, err);
		netevent_free_all(ev, n == (size_t)-1 ? 0 : n);
		if (applied != 0) {
			json_object_put(list);
			return -1;
		}
		*records += (long long)n;
		const char *next = jsonget_str(list, "cursor");
		if (next && json_object_array_length(recs) > 0)
			cursor = strdup(next);
		json_object_put(list);
		if (!cursor) {
			rc = 1;
			break;
		}
	}
	free(cursor);
	if (seen->n > 1)
		qsort(seen->v, seen->n, sizeof *seen->v, key_cmp);
	return rc;
}

/* Take out of the index what it mirrors of did's records in collection that the listing did not
 * show and the PDS confirms gone (getRecord: RecordNotFound): deleted while no consumer ran. Asking
 * per record keeps one made after the listing (and indexed by a live consumer since) in place.
 * Adds the records taken out to *removed. 0 ok, -1 with *err. */
static int remove_vanished(const backfill_ctx *b, const xrpc_client *c, const char *did, const char *collection,
			   const keyset *seen, long long *removed, char **err)
{
	char **indexed = NULL;
	size_t n = 0, k = 0;
	netevent *gone = NULL;
	int rc = -1;
	if (ingest_indexed_rkeys(b->db, did, collection, &indexed, &n, err) != 0)
		return -1;
	if (!(gone = calloc(n ? n : 1, sizeof *gone))) {
		buf_error(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (keyset_has(seen, indexed[i]))
			continue;
		const char *params[] = {"repo", did, "collection", collection, "rkey", indexed[i], NULL};
		xrpc_error e = {0};
		json_object *rec = xrpc_query(c, "com.atproto.repo.getRecord", params, &e);
		int absent = !rec && e.error && strcmp(e.error, "RecordNotFound") == 0;
		if (!rec && !absent)
			buf_error(err, "getRecord %s %s %s on %s: %s", did, collection, indexed[i], c->base,
				  e.error ? e.error : "no answer");
		json_object_put(rec);
		xrpc_error_free(&e);
		if (!rec && !absent)
			goto out;
		if (absent)
			gone[k++] = (netevent){.kind = NETEVENT_COMMIT, .op = NETEVENT_DELETE, .did = strdup(did),
					       .collection = strdup(collection), .rkey = strdup(indexed[i])};
	}
	if (k && ingest_apply(b->db, gone, k, NULL, 0, err) != 0)
		goto out;
	*removed += (long long)k;
	rc = 0;
out:
	netevent_free_all(gone, k);
	ingest_rkeys_free(indexed, n);
	return rc;
}

int backfill_repo(const backfill_ctx *b, const char *did, long long *records, long long *removed, char **err)
{
	identity id = {0};
	keyset seen[N_COLLECTIONS] = {0};
	int complete[N_COLLECTIONS] = {0}, rc = -1;
	long long taken_out = 0;
	if (identity_resolve(&b->ident, did, 1, &id, err) != 0)
		goto out;
	xrpc_client c = {id.pds, NULL, &b->http};
	for (size_t i = 0; i < N_COLLECTIONS; i++)
		if ((complete[i] = list_collection(b, &c, did, collections[i], &seen[i], records, err)) < 0)
			goto out;
	/* the other way round: stars and tags go before the manifests they name */
	for (size_t i = N_COLLECTIONS; i-- > 0;)
		if (complete[i] && remove_vanished(b, &c, did, collections[i], &seen[i], &taken_out, err) != 0)
			goto out;
	if (removed)
		*removed += taken_out;
	rc = 0;
out:
	for (size_t i = 0; i < N_COLLECTIONS; i++)
		keyset_free(&seen[i]);
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
	long long removed = 0; /* in this run (the progress row counts what was applied) */
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
			if (backfill_repo(b, did, &p.records, &removed, &why) != 0) {
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
			fprintf(b->progress, "backfill: %s: page %d, %lld repositories, %lld records, %lld removed%s\n", source,
				pages, p.repos, p.records, removed, p.done ? " (done)" : "");
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
