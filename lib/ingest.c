/* ingest.c - apply network events to the index (see ingest.h).
 *
 * Each handler returns 0 applied, 1 skipped (not ours, invalid or stale: logged) or -1 when the
 * database failed (*err set), which rolls the whole batch back with its cursor.
 *
 * Idempotence: every write either sets values taken from the event (never from the clock) or leaves
 * a row alone when it already says what the event says, so a replayed batch changes nothing.
 *
 * Ordering: events of one stream arrive in order, but a backfill listing (cursor 0) or a replay after
 * a reconnect can bring a create after the delete that followed it. A delete leaves a tombstone with
 * its stream and cursor; a create or update is stale, and skipped, when a tombstone says the record
 * was deleted later: for snapshot events (cursor 0), when their listing was read no later than the
 * delete was indexed, and for events of the same stream whose cursor is not past the delete's. A
 * newer create removes the tombstone. Tombstones are pruned after TOMBSTONE_TTL. */
#include "ingest.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "jsonget.h"
#include "log.h"
#include "markdown.h"
#include "oci.h"
#include "regindex.h"
#include "syntax.h"
#include "uiindex.h"

#define C_MANIFEST "io.atcr.manifest"
#define C_TAG "io.atcr.tag"
#define C_PROFILE "io.atcr.sailor.profile"
#define C_STAR "io.atcr.sailor.star"
#define C_PAGE "io.atcr.repo.page"
#define PAGE_NSID_PATH "/" C_PAGE "/"

/* Longer than any backfill listing or Jetstream replay takes. */
#define TOMBSTONE_TTL (7 * 86400)
/* The lexicon's limits we check beyond what lib/oci does. */
#define LEX_DIGEST_MAX 128
#define STATUS_MAX 64

enum { APPLIED = 0, SKIPPED = 1 };

int ingest_wants(const char *collection)
{
	static const char *const wanted[] = {C_MANIFEST, C_TAG, C_PROFILE, C_STAR, C_PAGE};
	for (size_t i = 0; collection && i < sizeof wanted / sizeof wanted[0]; i++)
		if (strcmp(collection, wanted[i]) == 0)
			return 1;
	return 0;
}

/* ---- small helpers */

static const char *op_name(netevent_op op)
{
	return op == NETEVENT_CREATE ? "create" : op == NETEVENT_UPDATE ? "update" : "delete";
}

/* Log why an event is not applied; returns SKIPPED. */
static int skip(const netevent *e, const char *why)
{
	if (e->kind == NETEVENT_COMMIT)
		log_warn("ingest: %s of %s/%s/%s skipped: %s", op_name(e->op), e->did ? e->did : "?",
			 e->collection ? e->collection : "?", e->rkey ? e->rkey : "?", why);
	else
		log_warn("ingest: %s event of %s skipped: %s", e->kind == NETEVENT_IDENTITY ? "identity" : "account",
			 e->did ? e->did : "?", why);
	return SKIPPED;
}

/* skip() with a malloc'd reason, which it frees. */
static int skip_free(const netevent *e, char *why)
{
	skip(e, why ? why : "out of memory");
	free(why);
	return SKIPPED;
}

/* 1 when the record's "$type" is absent or names collection. */
static int type_ok(json_object *record, const char *collection)
{
	json_object *t;
	if (!json_object_object_get_ex(record, "$type", &t))
		return 1;
	return json_object_is_type(t, json_type_string) && strcmp(json_object_get_string(t), collection) == 0;
}

/* Unix seconds of an atproto datetime (syntax_datetime_ok); 0 ok, -1 when it is not one. */
static int datetime_unix(const char *s, long long *out)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!syntax_datetime_ok(s) || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return -1;
	const char *p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	long long offset = 0;
	if (*p == '+' || *p == '-') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		offset = (*p == '-' ? -1 : 1) * (oh * 3600LL + om * 60LL);
	}
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
	*out = (long long)timegm(&tm) - offset;
	return 0;
}

/* A record's time, but never in the future: a client's clock must not pin a repository to the top. */
static long long not_after(long long t, long long now)
{
	return t > now ? now : t;
}

/* A repository written in a record key: the repository with every '/' as '~' (the tag key's rule),
 * or as it is. Caller frees; NULL when the result is not a repository name. */
static char *rkey_repository(const char *rkey)
{
	char *repo = strdup(rkey);
	for (char *p = repo; p && *p; p++)
		if (*p == '~')
			*p = '/';
	if (repo && !oci_name_ok(repo)) {
		free(repo);
		repo = NULL;
	}
	return repo;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Step a statement that returns no rows and reset it; 0 ok, -1 with *err. */
static int run(sqlite3 *db, sqlite3_stmt *st, const char *what, char **err)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, what);
	sqlite3_reset(st);
	return rc;
}

/* ---- tombstones */

static int tombstones_prune(sqlite3 *db, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM ingest_tombstones WHERE deleted_at < ?", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now - TOMBSTONE_TTL);
	return run(db, st, "tombstones", err);
}

/* 1 when a tombstone says the record of e was deleted after e was produced, 0 not, -1 with *err. */
static int tombstone_says_stale(sqlite3 *db, const netevent *e, const char *source, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"SELECT source, cursor, deleted_at FROM ingest_tombstones WHERE did = ? AND collection = ? AND rkey = ?",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->collection, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, e->rkey, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *tomb_source = (const char *)sqlite3_column_text(st, 0);
		long long tomb_cursor = sqlite3_column_int64(st, 1), deleted_at = sqlite3_column_int64(st, 2);
		/* a listing read after the delete was indexed shows the record made again since */
		rc = e->cursor == 0 ? e->listed_at <= deleted_at
				    : tomb_source && strcmp(tomb_source, source) == 0 && e->cursor <= tomb_cursor;
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, "tombstone");
	}
	sqlite3_reset(st);
	return rc;
}

static int tombstone_put(sqlite3 *db, const netevent *e, const char *source, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT INTO ingest_tombstones (did, collection, rkey, source, cursor, deleted_at) "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (did, collection, rkey) DO UPDATE SET "
				"source = excluded.source, cursor = excluded.cursor, deleted_at = excluded.deleted_at "
				"WHERE source <> excluded.source OR cursor < excluded.cursor",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->collection, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, e->rkey, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, e->cursor);
	sqlite3_bind_int64(st, 6, now);
	return run(db, st, "tombstone", err);
}

static int tombstone_clear(sqlite3 *db, const netevent *e, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM ingest_tombstones WHERE did = ? AND collection = ? AND rkey = ?",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->collection, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, e->rkey, -1, SQLITE_TRANSIENT);
	return run(db, st, "tombstone", err);
}

/* ---- io.atcr.manifest */

/* Lexicon checks lib/oci's parser leaves to us; NULL when fine, else the reason (static). */
static const char *manifest_record_problem(const oci_manifest_record *r)
{
	if (!oci_name_ok(r->repository))
		return "repository is not a valid repository name";
	if (strlen(r->m.digest) > LEX_DIGEST_MAX || strncmp(r->m.digest, "sha256:", 7) != 0)
		return "digest is not a sha256 digest";
	if (r->m.schema_version != 2)
		return "schemaVersion is not 2";
	if (!syntax_datetime_ok(r->created_at))
		return "createdAt is not a datetime";
	if (r->hold_did && !syntax_did_ok(r->hold_did))
		return "holdDid is not a DID";
	if (r->blob_cid && !syntax_cid_ok(r->blob_cid))
		return "manifestBlob is not a CID";
	return NULL;
}

/* Remove the rows of did's manifests whose record key is rkey, except repository/digest (NULL: all).
 * 0 ok, -1 with *err. */
static int manifests_of_rkey_delete(sqlite3 *db, const char *did, const char *rkey, const char *repository,
				    const char *digest, char **err)
{
	/* one row per round; the bound only guards against a row that will not go */
	for (int round = 0; round < 1000; round++) {
		char *repo = NULL, *dig = NULL;
		int found = regindex_manifest_find_rkey(db, did, rkey, &repo, &dig, err);
		if (found == 1 && repository && strcmp(repo, repository) == 0 && strcmp(dig, digest) == 0)
			found = 0; /* the record still describes this one */
		if (found == 1)
			found = regindex_manifest_delete(db, did, repo, dig, err);
		free(repo);
		free(dig);
		if (found <= 0)
			return found;
	}
	return 0;
}

static int apply_manifest(sqlite3 *db, const netevent *e, long long now, char **err)
{
	oci_manifest_record r;
	char *why = NULL;
	if (oci_manifest_record_parse(e->record, &r, &why) != 0)
		return skip_free(e, why);
	int rc = SKIPPED;
	const char *problem = manifest_record_problem(&r);
	if (problem) {
		skip(e, problem);
		goto out;
	}
	/* an update may have changed what the record describes */
	if (manifests_of_rkey_delete(db, e->did, e->rkey, r.repository, r.m.digest, err) != 0) {
		rc = -1;
		goto out;
	}
	int exists = regindex_manifest_exists(db, e->did, r.repository, r.m.digest, err);
	if (exists < 0) {
		rc = -1;
	} else if (exists) {
		/* Known (a push through us, or an earlier event): its parsed fields stay, they may come from
		 * the manifest's own bytes (artifactType, size), which the record lacks. */
		rc = regindex_manifest_set_record(db, e->did, r.repository, r.m.digest, r.hold_did, e->rkey, r.blob_cid,
						  err) < 0 ? -1 : APPLIED;
	} else {
		long long created = 0;
		datetime_unix(r.created_at, &created);
		created = not_after(created, now);
		r.m.size = r.blob_size > 0 ? (size_t)r.blob_size : 0;
		regindex_entry ent = {.did = e->did, .repository = r.repository, .m = &r.m, .hold_did = r.hold_did,
				      .record_rkey = e->rkey, .blob_cid = r.blob_cid, .now = created};
		rc = regindex_store(db, &ent, 0, err) == 0 && regindex_repo_pushed(db, e->did, r.repository, created, err) == 0
			     ? APPLIED
			     : -1;
	}
out:
	oci_manifest_record_free(&r);
	return rc;
}

static int delete_manifest(sqlite3 *db, const netevent *e, char **err)
{
	return manifests_of_rkey_delete(db, e->did, e->rkey, NULL, NULL, err) == 0 ? APPLIED : -1;
}

/* ---- io.atcr.tag */

/* The digest a tag record points at: its manifest record's, when that is indexed, else its
 * manifestDigest. 1 (*digest malloc'd), 0 not known here, 2 the record names a manifest that is not
 * the tagger's (*why set), -1 with *err. */
static int tag_target(sqlite3 *db, const netevent *e, const oci_tag_record *t, char **digest, const char **why,
		      char **err)
{
	*digest = NULL;
	if (t->manifest_uri) {
		char *prefix = buf_strf("at://%s/" C_MANIFEST "/", e->did);
		size_t n = prefix ? strlen(prefix) : 0;
		int mine = prefix && syntax_aturi_ok(t->manifest_uri) && strncmp(t->manifest_uri, prefix, n) == 0 &&
			   syntax_rkey_ok(t->manifest_uri + n);
		free(prefix);
		if (!mine) {
			*why = "manifest is not an at-uri of the owner's io.atcr.manifest record";
			return 2;
		}
		int rc = regindex_manifest_by_rkey(db, e->did, t->repository, t->manifest_uri + n, digest, err);
		if (rc != 0)
			return rc;
	}
	if (t->manifest_digest) /* oci_tag_record_parse checked it */
		return (*digest = strdup(t->manifest_digest)) ? 1 : buf_error(err, "ingest: out of memory");
	return 0;
}

static int apply_tag(sqlite3 *db, const netevent *e, long long now, char **err)
{
	oci_tag_record t;
	regindex_tag row = {0};
	char *why = NULL, *key = NULL, *digest = NULL;
	const char *problem = NULL;
	if (oci_tag_record_parse(e->record, &t, &why) != 0)
		return skip_free(e, why);
	int rc = SKIPPED;
	/* createdAt is what we write (and ATCR's published lexicon requires); its newer variant has updatedAt */
	const char *when_text = t.created_at ? t.created_at : t.updated_at;
	long long when = 0;
	if (!oci_name_ok(t.repository) || !oci_tag_ok(t.tag))
		problem = "repository or tag is not valid";
	else if (!(key = oci_tag_rkey(t.repository, t.tag)) || strcmp(key, e->rkey) != 0)
		problem = "the record key is not <repository with / as ~>:<tag> of the record";
	else if (when_text && datetime_unix(when_text, &when) != 0)
		problem = "createdAt/updatedAt is not a datetime";
	if (problem) {
		skip(e, problem);
		goto out;
	}
	int found = tag_target(db, e, &t, &digest, &problem, err);
	if (found < 0) {
		rc = -1;
		goto out;
	}
	if (found == 2) {
		skip(e, problem);
		goto out;
	}
	if (found == 0) {
		/* The manifest is not indexed (yet): a row would be stale, so drop any; pulls read the record. */
		log_info("ingest: tag %s of %s/%s: its manifest is not indexed, the tag is left to pulls", t.tag, e->did,
			 t.repository);
		rc = regindex_tag_delete(db, e->did, t.repository, t.tag, err) < 0 ? -1 : APPLIED;
		goto out;
	}
	int have = regindex_tag_get(db, e->did, t.repository, t.tag, &row, err);
	if (have < 0) {
		rc = -1;
		goto out;
	}
	int same_target = have == 1 && strcmp(row.digest, digest) == 0;
	when = when_text ? not_after(when, now) : same_target ? row.updated_at : now;
	if (same_target && row.updated_at == when)
		rc = APPLIED; /* the row already says so */
	else
		rc = regindex_tag_put(db, e->did, t.repository, t.tag, digest, when, now, err) == 0 ? APPLIED : -1;
out:
	regindex_tag_free(&row);
	oci_tag_record_free(&t);
	free(key);
	free(digest);
	return rc;
}

static int delete_tag(sqlite3 *db, const netevent *e, char **err)
{
	char *repository = NULL, *tag = NULL;
	if (oci_tag_rkey_parse(e->rkey, &repository, &tag) != 0)
		return skip(e, "not a tag record key of ours");
	int rc = regindex_tag_delete(db, e->did, repository, tag, err) < 0 ? -1 : APPLIED;
	free(repository);
	free(tag);
	return rc;
}

/* ---- io.atcr.sailor.star */

/* The owner DID and repository of a star's subject at://<did>/io.atcr.repo.page/<repository>, where the
 * repository may keep its '/' (as our UI writes it) or spell them '~'. 0 (both malloc'd), -1. */
static int star_subject(const char *subject, char **owner, char **repository)
{
	*owner = *repository = NULL;
	if (!subject || strncmp(subject, "at://", 5) != 0)
		return -1;
	const char *did = subject + 5, *path = strstr(did, PAGE_NSID_PATH);
	if (!path || !(*owner = strndup(did, (size_t)(path - did))) || !syntax_did_ok(*owner) ||
	    !(*repository = rkey_repository(path + strlen(PAGE_NSID_PATH)))) {
		free(*owner);
		*owner = NULL;
		return -1;
	}
	return 0;
}

static int apply_star(sqlite3 *db, const netevent *e, long long now, char **err)
{
	char *owner = NULL, *repository = NULL;
	long long created;
	if (!type_ok(e->record, C_STAR))
		return skip(e, "$type is not " C_STAR);
	if (datetime_unix(jsonget_str(e->record, "createdAt"), &created) != 0)
		return skip(e, "createdAt is missing or not a datetime");
	if (star_subject(jsonget_str(e->record, "subject"), &owner, &repository) != 0)
		return skip(e, "subject is not at://<did>/" C_PAGE "/<repository>");
	int rc = -1;
	/* an update may have moved the star to another repository */
	sqlite3_stmt *st = db_prepare_err(db,
				"DELETE FROM stars WHERE starrer_did = ?1 AND rkey = ?2 AND NOT (owner_did = ?3 AND repository = ?4)",
				err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->rkey, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, repository, -1, SQLITE_TRANSIENT);
	if (run(db, st, "star", err) != 0)
		goto out;
	st = db_prepare_err(db,
			    "INSERT INTO stars (starrer_did, owner_did, repository, rkey, created_at) VALUES (?, ?, ?, ?, ?) "
			    "ON CONFLICT (starrer_did, owner_did, repository) DO UPDATE SET rkey = excluded.rkey, "
			    "created_at = excluded.created_at",
			    err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, repository, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, e->rkey, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, not_after(created, now));
	rc = run(db, st, "star", err) == 0 ? APPLIED : -1;
out:
	free(owner);
	free(repository);
	return rc;
}

static int delete_star(sqlite3 *db, const netevent *e, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM stars WHERE starrer_did = ? AND rkey = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, e->rkey, -1, SQLITE_TRANSIENT);
	return run(db, st, "star", err) == 0 ? APPLIED : -1;
}

/* ---- io.atcr.repo.page (record key: the repository, as the UI reads it) */

/* Cache description (NULL: none) for did/repository unless the cache already says so. */
static int page_set(sqlite3 *db, const char *did, const char *repository, const char *description, int only_if_cached,
		    long long now, char **err)
{
	char *cached = NULL;
	long long fetched;
	int have = uiindex_page_get(db, did, repository, &cached, &fetched, err);
	int same = have == 1 && (cached && description ? strcmp(cached, description) == 0 : cached == description);
	free(cached);
	if (have < 0)
		return -1;
	if (same || (only_if_cached && have == 0))
		return APPLIED;
	return uiindex_page_put(db, did, repository, description, now, err) == 0 ? APPLIED : -1;
}

static int apply_page(sqlite3 *db, const netevent *e, long long now, char **err)
{
	json_object *d;
	long long t;
	const char *repository = jsonget_str(e->record, "repository"), *description = NULL;
	if (!type_ok(e->record, C_PAGE))
		return skip(e, "$type is not " C_PAGE);
	if (!repository || !oci_name_ok(repository))
		return skip(e, "repository is missing or not a repository name");
	if (datetime_unix(jsonget_str(e->record, "createdAt"), &t) != 0 ||
	    datetime_unix(jsonget_str(e->record, "updatedAt"), &t) != 0)
		return skip(e, "createdAt or updatedAt is missing or not a datetime");
	if (json_object_object_get_ex(e->record, "description", &d) && !json_object_is_type(d, json_type_null)) {
		if (!json_object_is_type(d, json_type_string) || json_object_get_string_len(d) > MD_MAX_BYTES)
			return skip(e, "description is not a string of at most 100000 bytes");
		description = json_object_get_string(d);
	}
	char *keyed = rkey_repository(e->rkey);
	int matches = keyed && strcmp(keyed, repository) == 0;
	free(keyed);
	if (!matches)
		return skip(e, "the record key is not the record's repository");
	return page_set(db, e->did, repository, description, 0, now, err);
}

static int delete_page(sqlite3 *db, const netevent *e, long long now, char **err)
{
	char *repository = rkey_repository(e->rkey);
	if (!repository)
		return skip(e, "the record key is not a repository name");
	int rc = page_set(db, e->did, repository, NULL, 1, now, err);
	free(repository);
	return rc;
}

/* ---- io.atcr.sailor.profile (record key "self") */

static int apply_profile(sqlite3 *db, const netevent *e, long long now, char **err)
{
	json_object *hold;
	long long t;
	const char *default_hold = NULL;
	if (strcmp(e->rkey, "self") != 0)
		return skip(e, "the record key is not \"self\"");
	if (!type_ok(e->record, C_PROFILE))
		return skip(e, "$type is not " C_PROFILE);
	if (datetime_unix(jsonget_str(e->record, "createdAt"), &t) != 0)
		return skip(e, "createdAt is missing or not a datetime");
	/* absent or null: the user opted out of a default hold */
	if (json_object_object_get_ex(e->record, "defaultHold", &hold) && !json_object_is_type(hold, json_type_null)) {
		default_hold = json_object_is_type(hold, json_type_string) ? json_object_get_string(hold) : NULL;
		if (!syntax_did_ok(default_hold))
			return skip(e, "defaultHold is not a DID");
	}
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT INTO profiles (did, default_hold, record, updated_at) VALUES (?, ?, ?, ?) "
				"ON CONFLICT (did) DO UPDATE SET default_hold = excluded.default_hold, record = excluded.record, "
				"updated_at = excluded.updated_at WHERE record IS NOT excluded.record",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	bind_opt(st, 2, default_hold);
	sqlite3_bind_text(st, 3, json_object_to_json_string_ext(e->record, JSON_C_TO_STRING_PLAIN), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now);
	return run(db, st, "profile", err) == 0 ? APPLIED : -1;
}

static int delete_profile(sqlite3 *db, const netevent *e, char **err)
{
	if (strcmp(e->rkey, "self") != 0)
		return skip(e, "the record key is not \"self\"");
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM profiles WHERE did = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	return run(db, st, "profile", err) == 0 ? APPLIED : -1;
}

/* ---- identity and account events */

/* Only DIDs the index already knows are touched: the network sends these events for everyone. */
static int apply_identity(sqlite3 *db, const netevent *e, char **err)
{
	char *handle = e->handle ? syntax_handle_normalize(e->handle) : NULL;
	if (e->handle && !handle)
		log_info("ingest: identity event of %s: ignoring the handle \"%s\"", e->did, e->handle);
	/* resolved_at 0: the next resolution refreshes the row; a new handle is unverified until then */
	sqlite3_stmt *st = db_prepare_err(db,
				"UPDATE users SET resolved_at = 0, handle = COALESCE(?2, handle), handle_verified = "
				"CASE WHEN ?2 IS NULL OR ?2 IS handle THEN handle_verified ELSE 0 END WHERE did = ?1",
				err);
	int rc = -1;
	if (st) {
		sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
		bind_opt(st, 2, handle);
		rc = run(db, st, "identity", err) == 0 ? APPLIED : -1;
	}
	free(handle);
	return rc;
}

static int apply_account(sqlite3 *db, const netevent *e, char **err)
{
	const char *status = e->status && strlen(e->status) <= STATUS_MAX ? e->status : NULL;
	int active = e->active ? 1 : 0;
	sqlite3_stmt *st = db_prepare_err(db, "UPDATE users SET active = ?2, status = ?3 WHERE did = ?1", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, active);
	bind_opt(st, 3, status);
	if (run(db, st, "account", err) != 0)
		return -1;
	if (sqlite3_changes(db) > 0 || active)
		return APPLIED;
	/* Not resolved yet but with repositories here: a row to mark them by (resolution fills the rest). */
	st = db_prepare_err(db,
			    "INSERT INTO users (did, active, status) SELECT ?1, ?2, ?3 "
			    "WHERE EXISTS (SELECT 1 FROM repositories WHERE did = ?1)",
			    err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, e->did, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, active);
	bind_opt(st, 3, status);
	return run(db, st, "account", err) == 0 ? APPLIED : -1;
}

/* ---- one event, a batch */

static int apply_commit(sqlite3 *db, const netevent *e, const char *source, long long now, char **err)
{
	const char *c = e->collection;
	int rc;
	if (!c || !ingest_wants(c))
		return SKIPPED;
	if (!syntax_rkey_ok(e->rkey))
		return skip(e, "not a valid record key");
	if (e->op == NETEVENT_DELETE) {
		rc = strcmp(c, C_MANIFEST) == 0 ? delete_manifest(db, e, err)
		     : strcmp(c, C_TAG) == 0	? delete_tag(db, e, err)
		     : strcmp(c, C_STAR) == 0	? delete_star(db, e, err)
		     : strcmp(c, C_PAGE) == 0	? delete_page(db, e, now, err)
						: delete_profile(db, e, err);
		return rc == APPLIED ? tombstone_put(db, e, source, now, err) : rc;
	}
	if (!e->record || !json_object_is_type(e->record, json_type_object))
		return skip(e, "no record");
	rc = tombstone_says_stale(db, e, source, err);
	if (rc != 0) {
		if (rc == 1)
			log_info("ingest: %s of %s/%s/%s skipped: the record was deleted after it", op_name(e->op), e->did, c,
				 e->rkey);
		return rc == 1 ? SKIPPED : -1;
	}
	rc = strcmp(c, C_MANIFEST) == 0 ? apply_manifest(db, e, now, err)
	     : strcmp(c, C_TAG) == 0	? apply_tag(db, e, now, err)
	     : strcmp(c, C_STAR) == 0	? apply_star(db, e, now, err)
	     : strcmp(c, C_PAGE) == 0	? apply_page(db, e, now, err)
					: apply_profile(db, e, now, err);
	return rc == APPLIED ? tombstone_clear(db, e, err) : rc;
}

static int apply_one(sqlite3 *db, const netevent *e, const char *source, long long now, char **err)
{
	if (!syntax_did_ok(e->did))
		return skip(e, "not a valid DID");
	switch (e->kind) {
	case NETEVENT_COMMIT:
		return apply_commit(db, e, source, now, err);
	case NETEVENT_IDENTITY:
		return apply_identity(db, e, err);
	case NETEVENT_ACCOUNT:
		return apply_account(db, e, err);
	}
	return skip(e, "unknown event kind");
}

static int cursor_save(sqlite3 *db, const char *source, long long cursor, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db,
				"INSERT INTO ingest_cursors (source, cursor, updated_at) VALUES (?, ?, ?) "
				"ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
				err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, cursor);
	sqlite3_bind_int64(st, 3, now);
	return run(db, st, "cursor", err);
}

int ingest_apply(sqlite3 *db, const netevent *ev, size_t n, const char *source, long long cursor, char **err)
{
	long long now = (long long)time(NULL);
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	int rc = tombstones_prune(db, now, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = apply_one(db, &ev[i], source ? source : "", now, err) < 0 ? -1 : 0;
	if (rc == 0 && source)
		rc = cursor_save(db, source, cursor, now, err);
	if (rc == 0 && db_exec(db, "COMMIT", err) == 0)
		return 0;
	db_exec(db, "ROLLBACK", NULL);
	return -1;
}

/* The SQL listing what the index mirrors of one DID's records in collection: one or two text
 * columns (tags: repository and tag, whose key oci_tag_rkey gives; pages: the repository, keyed
 * with '/' as '~'). */
static const char *indexed_sql(const char *collection)
{
	if (strcmp(collection, C_MANIFEST) == 0)
		return "SELECT record_rkey FROM manifests WHERE did = ? AND record_rkey IS NOT NULL";
	if (strcmp(collection, C_TAG) == 0)
		return "SELECT repository, tag FROM tags WHERE did = ?";
	if (strcmp(collection, C_STAR) == 0)
		return "SELECT rkey FROM stars WHERE starrer_did = ? AND rkey IS NOT NULL";
	if (strcmp(collection, C_PAGE) == 0)
		return "SELECT replace(repository, '/', '~') FROM repo_pages WHERE did = ? AND description IS NOT NULL";
	if (strcmp(collection, C_PROFILE) == 0)
		return "SELECT 'self' FROM profiles WHERE did = ?";
	return NULL;
}

int ingest_indexed_rkeys(sqlite3 *db, const char *did, const char *collection, char ***rkeys, size_t *n, char **err)
{
	const char *sql = collection ? indexed_sql(collection) : NULL;
	char **v = NULL;
	size_t k = 0, cap = 0;
	int rc = -1, step;
	*rkeys = NULL;
	*n = 0;
	if (!sql) {
		buf_error(err, "%s is not a collection the index mirrors", collection ? collection : "(null)");
		return -1;
	}
	sqlite3_stmt *st = db_prepare_err(db, sql, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		const char *b = sqlite3_column_count(st) > 1 ? (const char *)sqlite3_column_text(st, 1) : NULL;
		char *key = !a ? NULL : sqlite3_column_count(st) > 1 ? (b ? oci_tag_rkey(a, b) : NULL) : strdup(a);
		if (!key)
			continue; /* a row no record key names (cannot come from a record) */
		if (k == cap) {
			char **grown = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
			if (!grown) {
				free(key);
				buf_error(err, "out of memory");
				goto out;
			}
			v = grown;
		}
		v[k++] = key;
	}
	if (step != SQLITE_DONE) {
		db_fail(db, err, "indexed records");
		goto out;
	}
	*rkeys = v;
	*n = k;
	v = NULL;
	rc = 0;
out:
	sqlite3_reset(st);
	ingest_rkeys_free(v, k);
	return rc;
}

void ingest_rkeys_free(char **rkeys, size_t n)
{
	for (size_t i = 0; rkeys && i < n; i++)
		free(rkeys[i]);
	free(rkeys);
}

int ingest_cursor_get(sqlite3 *db, const char *source, long long *cursor, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "SELECT cursor FROM ingest_cursors WHERE source = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*cursor = sqlite3_column_int64(st, 0);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, "cursor");
	}
	sqlite3_reset(st);
	return rc;
}
