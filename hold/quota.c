/* quota.c - storage quotas by tier. A user's usage is what getQuota counts (each digest of their layer
 * records once) plus the blobs they completed that no manifest names yet ("pending": the other layers
 * of a push in progress), so a push of many layers cannot slip past the limit one layer at a time.
 * Blob sizes are known before a blob is assembled: uploadPart records each part's size. */
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "hold.h"
#include "log.h"

int quota_on(const hold_ctx *h, const char *user)
{
	return h->tiers && user && strcmp(user, h->owner) != 0;
}

const hold_tier *quota_tier(const hold_ctx *h, sqlite3 *db, const char *user)
{
	if (!quota_on(h, user))
		return NULL;
	json_object *crew = db ? crew_get(db, user) : NULL;
	const char *name = crew ? jsonget_str(crew, "tier") : NULL;
	int unknown = 0;
	const hold_tier *t = tiers_for_member(h->tiers, name, &unknown);
	if (unknown)
		log_warn("crew %s: tier '%s' is not in the tiers file; the default tier %s applies", user, name, t->name);
	json_object_put(crew);
	return t;
}

int quota_usage(sqlite3 *db, const char *user, long long *blobs, long long *bytes, char **err)
{
	/* A blob counts once per user however many manifests use it. */
	sqlite3_stmt *st = db_prepare_err(db, "SELECT count(*), coalesce(sum(size), 0) FROM "
					      "(SELECT digest, max(size) AS size FROM layers WHERE user_did = ? GROUP BY digest)",
					  err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_fail(db, err, "counting a user's blobs");
	if (rc == 0) {
		*blobs = sqlite3_column_int64(st, 0);
		*bytes = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc;
}

/* The bytes user holds by the quota's count: layer records and pending blobs since pending_since, each
 * digest once; -1 on a database error. */
static long long used_bytes(sqlite3 *db, const char *user, long long pending_since)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT coalesce(sum(size), 0) FROM (SELECT digest, max(size) AS size FROM ("
					  "SELECT digest, size FROM layers WHERE user_did = ?1 UNION ALL "
					  "SELECT digest, size FROM pending_blobs WHERE user_did = ?1 AND at >= ?2) GROUP BY digest)");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pending_since);
	long long used = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	return used;
}

/* 1 when the quota already counts digest for user, 0 when not, -1 on a database error. */
static int already_counted(sqlite3 *db, const char *user, const char *digest, long long pending_since)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM layers WHERE user_did = ?1 AND digest = ?2 UNION ALL "
					  "SELECT 1 FROM pending_blobs WHERE user_did = ?1 AND digest = ?2 AND at >= ?3 LIMIT 1");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, pending_since);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The listed parts' bytes from uploadPart's records; -1 when one was never recorded (or on an error). */
static long long upload_bytes(sqlite3 *db, const char *upload_id, const bs_part *parts, size_t nparts)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT size FROM upload_parts WHERE upload_id = ? AND number = ? AND etag = ?");
	long long total = 0;
	for (size_t i = 0; st && i < nparts && total >= 0; i++) {
		sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, parts[i].number);
		sqlite3_bind_text(st, 3, parts[i].etag ? parts[i].etag : "", -1, SQLITE_STATIC);
		total = sqlite3_step(st) == SQLITE_ROW ? total + sqlite3_column_int64(st, 0) : -1;
		sqlite3_reset(st);
	}
	return st ? total : -1;
}

long long quota_part_budget(sqlite3 *db, const hold_tier *tier, const char *upload_id, int number)
{
	if (!tier || tier->limit == TIER_UNLIMITED)
		return LLONG_MAX;
	/* Other parts of the upload; a part sent again under its number counts once, at its largest. */
	sqlite3_stmt *st = db_prepare(db, "SELECT coalesce(sum(s), 0) FROM (SELECT max(size) AS s FROM upload_parts "
					  "WHERE upload_id = ? AND number <> ? GROUP BY number)");
	long long others = 0;
	if (st) {
		sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, number);
		if (sqlite3_step(st) == SQLITE_ROW)
			others = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	return tier->limit - others;
}

int quota_note_part(sqlite3 *db, const char *upload_id, int number, const char *etag, long long size, long long now,
		    char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "INSERT OR REPLACE INTO upload_parts (upload_id, number, etag, size, at) "
					      "VALUES (?,?,?,?,?)",
					  err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, number);
	sqlite3_bind_text(st, 3, etag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, size);
	sqlite3_bind_int64(st, 5, now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "recording a part's size");
	sqlite3_reset(st);
	return rc;
}

char *quota_exceeded_message(const hold_tier *tier, long long used, long long blob)
{
	char limit[32], u[32], b[32];
	tiers_format_size(tier->limit, limit);
	tiers_format_size(blob, b);
	if (used < 0)
		return buf_strf("storage quota exceeded: %s tier %s, this blob over %s", limit, tier->name, b);
	tiers_format_size(used, u);
	return buf_strf("storage quota exceeded: %s tier %s, %s used, this blob %s", limit, tier->name, u, b);
}

static void rollback(sqlite3 *db)
{
	char *ignored = NULL;
	db_exec(db, "ROLLBACK", &ignored);
	free(ignored);
}

int quota_reserve(sqlite3 *db, const hold_tier *tier, const char *user, const char *upload_id, const char *digest,
		  const bs_part *parts, size_t nparts, long long now, long long pending_since, char **message, char **err)
{
	if (!tier || tier->limit == TIER_UNLIMITED)
		return QUOTA_FREE;
	long long size = upload_bytes(db, upload_id, parts, nparts);
	if (size < 0) {
		/* Parts sent before this hold had its tiers file (a restart mid-upload), or a listed part that was
		 * never sent: completion refuses the latter on its own. */
		log_warn("upload %s by %s: part sizes unknown, quota not checked", upload_id, user);
		return QUOTA_FREE;
	}
	/* Check and reserve in one write transaction: two blobs completing at once cannot both take the
	 * last free bytes. */
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	int counted = already_counted(db, user, digest, pending_since), rc = -1;
	long long used = counted == 0 ? used_bytes(db, user, pending_since) : 0;
	if (counted < 0 || used < 0) {
		db_fail(db, err, "reading the user's usage");
		goto fail;
	}
	if (counted) {
		rc = QUOTA_FREE; /* the user has this blob already: it never counts twice */
		goto fail;
	}
	if (used + size > tier->limit) {
		*message = quota_exceeded_message(tier, used, size);
		rc = QUOTA_OVER;
		goto fail;
	}
	sqlite3_stmt *st = db_prepare_err(db, "INSERT OR REPLACE INTO pending_blobs (user_did, digest, size, at) "
					      "VALUES (?,?,?,?)",
					  err);
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, size);
	sqlite3_bind_int64(st, 4, now);
	int stepped = sqlite3_step(st);
	sqlite3_reset(st);
	if (stepped != SQLITE_DONE) {
		db_fail(db, err, "reserving the blob's bytes");
		goto fail;
	}
	if (db_exec(db, "COMMIT", err) != 0)
		goto fail;
	return QUOTA_RESERVED;
fail:
	rollback(db);
	return rc;
}

void quota_release(sqlite3 *db, const char *user, const char *digest)
{
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM pending_blobs WHERE user_did = ? AND digest = ?");
	if (!st)
		return;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
}

void quota_forget_upload(sqlite3 *db, const char *upload_id)
{
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM upload_parts WHERE upload_id = ?");
	if (!st)
		return;
	sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
}

int quota_settle(sqlite3 *db, const char *user, json_object *manifest, char **err)
{
	json_object *layers = NULL, *cfg = NULL;
	json_object_object_get_ex(manifest, "layers", &layers);
	json_object_object_get_ex(manifest, "config", &cfg);
	size_t n = layers && json_object_is_type(layers, json_type_array) ? json_object_array_length(layers) : 0;
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM pending_blobs WHERE user_did = ? AND digest = ?", err);
	if (!st)
		return -1;
	/* The layers now count through their layer records; the config never counted in getQuota. */
	for (size_t i = 0; i <= n; i++) {
		const char *digest = jsonget_str(i < n ? json_object_array_get_idx(layers, i) : cfg, "digest");
		if (!digest)
			continue;
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return db_fail(db, err, "settling pending blobs");
	}
	return 0;
}

int quota_expire(sqlite3 *db, long long cutoff, char **err)
{
	static const char *const sql[] = {"DELETE FROM upload_parts WHERE at < ?", "DELETE FROM pending_blobs WHERE at < ?"};
	int n = 0;
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st = db_prepare_err(db, sql[i], err);
		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, cutoff);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return db_fail(db, err, "expiring quota records");
		n += sqlite3_changes(db);
	}
	return n;
}
