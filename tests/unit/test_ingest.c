/* test_ingest.c - applying network events to a migrated index file: every collection created, updated
 * and deleted, identity and account events, bad records skipped, unknown collections ignored, the same
 * batch twice (table dumps compared), deletes seen before older creates, a manifest already pushed
 * through us, tags whose manifest is unknown, the cursor saved with the batch and not with a failing one,
 * and search finding an ingested page description. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "ingest.h"
#include "oci.h"
#include "regindex.h"
#include "tap.h"
#include "uiindex.h"

#define ALICE "did:plc:alice"
#define BOB "did:plc:bob"
#define HOLD "did:web:hold.test"
#define CID "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
#define SRC "jetstream:ws://test"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"

/* "sha256:" and 64 times c. */
static const char *dg(char c, char out[72])
{
	memcpy(out, "sha256:", 7);
	memset(out + 7, c, 64);
	out[71] = '\0';
	return out;
}

/* A commit event (record JSON text or NULL for deletes); release with netevent_clear. */
static netevent commit(netevent_op op, const char *did, const char *collection, const char *rkey, const char *json,
		       long long cursor)
{
	netevent e = {.kind = NETEVENT_COMMIT, .op = op, .cursor = cursor};
	e.did = strdup(did);
	e.collection = strdup(collection);
	e.rkey = strdup(rkey);
	if (json) {
		e.record = json_tokener_parse(json);
		if (!e.record)
			diag("bad test JSON: %s", json);
	}
	return e;
}

/* An io.atcr.manifest record: repository, digest, createdAt, with a config and two layers. */
static char *manifest_json_d(const char *repository, const char *digest, const char *created)
{
	char cfg[72], l1[72], l2[72];
	return buf_strf("{\"$type\":\"io.atcr.manifest\",\"repository\":\"%s\",\"digest\":\"%s\","
			"\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST "\",\"schemaVersion\":2,\"createdAt\":\"%s\","
			"\"holdDid\":\"" HOLD "\",\"manifestBlob\":{\"$type\":\"blob\",\"ref\":{\"$link\":\"" CID "\"},"
			"\"mimeType\":\"" OCI_MT_IMAGE_MANIFEST "\",\"size\":612},"
			"\"config\":{\"mediaType\":\"" MT_CONFIG "\",\"size\":100,\"digest\":\"%s\"},"
			"\"layers\":[{\"mediaType\":\"" MT_LAYER "\",\"size\":200,\"digest\":\"%s\"},"
			"{\"mediaType\":\"" MT_LAYER "\",\"size\":300,\"digest\":\"%s\"}]}",
			repository, digest, created, dg('c', cfg), dg('1', l1), dg('2', l2));
}

/* The same with the digest "sha256:" and 64 times c. */
static char *manifest_json(const char *repository, char c, const char *created)
{
	char d[72];
	return manifest_json_d(repository, dg(c, d), created);
}

static char *tag_json(const char *repository, const char *tag, const char *did, const char *manifest_rkey,
		      const char *created)
{
	return buf_strf("{\"$type\":\"io.atcr.tag\",\"repository\":\"%s\",\"tag\":\"%s\","
			"\"manifest\":\"at://%s/io.atcr.manifest/%s\",\"createdAt\":\"%s\",\"updatedAt\":\"%s\"}",
			repository, tag, did, manifest_rkey, created, created);
}

/* Apply events and free them; returns ingest_apply's answer. */
static int apply(sqlite3 *db, netevent *ev, size_t n, const char *source, long long cursor)
{
	char *err = NULL;
	int rc = ingest_apply(db, ev, n, source, cursor, &err);
	if (rc != 0)
		diag("ingest_apply: %s", err ? err : "(no message)");
	free(err);
	for (size_t i = 0; i < n; i++)
		netevent_clear(&ev[i]);
	return rc;
}

/* Apply one event. */
static int apply1(sqlite3 *db, netevent e)
{
	return apply(db, &e, 1, NULL, 0);
}

/* One integer from a query binding up to three strings; -1 when no row. */
static long long q_int(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		diag("%s: %s", sql, sqlite3_errmsg(db));
		return -2;
	}
	const char *args[] = {a, b, c};
	for (int i = 0; i < 3 && args[i]; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One text value (malloc'd, caller frees) or NULL. */
static char *q_text(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	const char *args[] = {a, b, c};
	for (int i = 0; i < 3 && args[i]; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every row of the tables events write, one sorted line per row: what "the index" is for idempotence. */
static char *dump(sqlite3 *db)
{
	static const char *const tables[] = {
		"repositories", "manifests", "manifest_blobs", "tags", "stars", "repo_pages", "profiles", "users",
		"ingest_tombstones", "(SELECT did, repository, handle, description FROM repo_search)"};
	buf_t out = BUF_INIT;
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
		char *sql = buf_strf("SELECT * FROM %s", tables[t]);
		sqlite3_stmt *st = NULL;
		char **lines = NULL;
		size_t n = 0;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			diag("dump %s: %s", tables[t], sqlite3_errmsg(db));
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			buf_t line = BUF_INIT;
			for (int i = 0; i < sqlite3_column_count(st); i++) {
				const unsigned char *v = sqlite3_column_text(st, i);
				buf_printf(&line, "%s|", v ? (const char *)v : "NULL");
			}
			lines = realloc(lines, (n + 1) * sizeof *lines);
			lines[n++] = buf_detach(&line);
		}
		sqlite3_finalize(st);
		if (n > 0)
			qsort(lines, n, sizeof *lines, cmp_lines);
		buf_printf(&out, "== %s\n", tables[t]);
		for (size_t i = 0; i < n; i++) {
			buf_printf(&out, "%s\n", lines[i] ? lines[i] : "");
			free(lines[i]);
		}
		free(lines);
		free(sql);
	}
	return buf_detach(&out);
}

static long long unix_of(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
	return (long long)timegm(&tm);
}

static void test_wants(void)
{
	ok(ingest_wants("io.atcr.manifest") && ingest_wants("io.atcr.tag") && ingest_wants("io.atcr.sailor.profile") &&
		   ingest_wants("io.atcr.sailor.star") && ingest_wants("io.atcr.repo.page"),
	   "the five io.atcr collections are wanted");
	ok(!ingest_wants("app.bsky.feed.post") && !ingest_wants("io.atcr.hold.crew") && !ingest_wants(NULL) &&
		   !ingest_wants("io.atcr.manifestx"),
	   "others are not");
}

static void test_manifests_and_tags(sqlite3 *db)
{
	char d[72], old[72], *m = manifest_json("team/app", 'a', "2024-05-01T10:00:00.000Z");
	char *t = tag_json("team/app", "1.0", ALICE, "3kaaaaaaaaaa2", "2024-05-01T10:00:05Z");
	netevent ev[] = {commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kaaaaaaaaaa2", m, 10),
			 commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "team~app:1.0", t, 11)};
	is_int(apply(db, ev, 2, SRC, 11), 0, "manifest and tag created");
	free(m);
	free(t);

	regindex_manifest row;
	char *err = NULL;
	is_int(regindex_manifest_get(db, ALICE, "team/app", dg('a', d), &row, &err), 1, "the manifest is indexed");
	is_str(row.media_type, OCI_MT_IMAGE_MANIFEST, "media type");
	is_str(row.hold_did, HOLD, "holdDid");
	is_str(row.record_rkey, "3kaaaaaaaaaa2", "record key");
	is_str(row.blob_cid, CID, "manifestBlob CID");
	is_str(row.artifact_type, MT_CONFIG, "artifact type from the config");
	is_int(row.size, 612, "size from manifestBlob");
	ok(row.raw == NULL, "no bytes cached");
	is_int(row.created_at, unix_of(2024, 5, 1, 10, 0, 0), "created_at is the record's createdAt");
	regindex_manifest_free(&row);
	is_int(q_int(db, "SELECT count(*) FROM manifest_blobs WHERE did = ? AND manifest_digest = ?", ALICE, d, NULL), 3,
	       "config and two layers");
	is_int(q_int(db, "SELECT updated_at FROM repositories WHERE did = ? AND repository = 'team/app'", ALICE, NULL, NULL),
	       unix_of(2024, 5, 1, 10, 0, 0), "the repository's last push is the record's createdAt");
	is_int(q_int(db, "SELECT push_count FROM repositories WHERE did = ? AND repository = 'team/app'", ALICE, NULL, NULL),
	       0, "not counted as a push through us");

	regindex_tag tag;
	is_int(regindex_tag_get(db, ALICE, "team/app", "1.0", &tag, &err), 1, "the tag is indexed");
	is_str(tag.digest, d, "the tag points at the manifest of its record");
	is_int(tag.updated_at, unix_of(2024, 5, 1, 10, 0, 5), "tag updated_at from createdAt");
	ok(tag.checked_at >= time(NULL) - 5, "tag checked now");
	regindex_tag_free(&tag);
	long long cursor = 0;
	is_int(ingest_cursor_get(db, SRC, &cursor, &err), 1, "the cursor is saved");
	is_int(cursor, 11, "with the batch's value");

	/* an older manifest seen later does not move the repository's last push back */
	m = manifest_json("team/app", 'b', "2024-04-01T00:00:00Z");
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3jzzzzzzzzzz2", m, 12)), 0, "older manifest");
	free(m);
	is_int(q_int(db, "SELECT updated_at FROM repositories WHERE did = ? AND repository = 'team/app'", ALICE, NULL, NULL),
	       unix_of(2024, 5, 1, 10, 0, 0), "the last push stays the newest");

	/* a tag update moves the tag */
	t = tag_json("team/app", "1.0", ALICE, "3jzzzzzzzzzz2", "2024-05-02T00:00:00+02:00");
	is_int(apply1(db, commit(NETEVENT_UPDATE, ALICE, "io.atcr.tag", "team~app:1.0", t, 13)), 0, "tag update");
	free(t);
	is_int(regindex_tag_get(db, ALICE, "team/app", "1.0", &tag, &err), 1, "still indexed");
	is_str(tag.digest, dg('b', old), "the tag moved");
	is_int(tag.updated_at, unix_of(2024, 5, 1, 22, 0, 0), "time zone offsets are honoured");
	regindex_tag_free(&tag);

	/* a tag whose manifest is not indexed: no row (pulls read the record), a stale row goes */
	t = tag_json("team/app", "1.0", ALICE, "3kbbbbbbbbbb2", "2024-05-03T00:00:00Z");
	is_int(apply1(db, commit(NETEVENT_UPDATE, ALICE, "io.atcr.tag", "team~app:1.0", t, 14)), 0,
	       "tag naming an unknown manifest");
	free(t);
	is_int(regindex_tag_get(db, ALICE, "team/app", "1.0", &tag, &err), 0, "its stale row is gone");
	/* the deprecated manifestDigest is enough */
	t = buf_strf("{\"repository\":\"team/app\",\"tag\":\"old\",\"manifestDigest\":\"%s\"}", d);
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "team~app:old", t, 15)), 0, "old-style tag");
	free(t);
	is_int(regindex_tag_get(db, ALICE, "team/app", "old", &tag, &err), 1, "indexed by manifestDigest");
	is_str(tag.digest, d, "its digest");
	regindex_tag_free(&tag);

	/* tag delete by its record key */
	is_int(apply1(db, commit(NETEVENT_DELETE, ALICE, "io.atcr.tag", "team~app:old", NULL, 16)), 0, "tag delete");
	is_int(regindex_tag_get(db, ALICE, "team/app", "old", &tag, &err), 0, "the tag is gone");

	/* manifest delete by record key: rows, blobs and tags pointing at it */
	t = tag_json("team/app", "2.0", ALICE, "3kaaaaaaaaaa2", "2024-05-04T00:00:00Z");
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "team~app:2.0", t, 17)), 0, "another tag");
	free(t);
	is_int(apply1(db, commit(NETEVENT_DELETE, ALICE, "io.atcr.manifest", "3kaaaaaaaaaa2", NULL, 18)), 0,
	       "manifest delete");
	is_int(regindex_manifest_exists(db, ALICE, "team/app", d, &err), 0, "the manifest is gone");
	is_int(q_int(db, "SELECT count(*) FROM manifest_blobs WHERE manifest_digest = ?", d, NULL, NULL), 0,
	       "with its blob rows");
	is_int(regindex_tag_get(db, ALICE, "team/app", "2.0", &tag, &err), 0, "and the tag that pointed at it");
	is_int(regindex_manifest_exists(db, ALICE, "team/app", old, &err), 1, "the other manifest stays");

	/* an update of a manifest record that now describes another digest */
	m = manifest_json("team/app", 'e', "2024-04-01T00:00:00Z");
	is_int(apply1(db, commit(NETEVENT_UPDATE, ALICE, "io.atcr.manifest", "3jzzzzzzzzzz2", m, 19)), 0,
	       "manifest record update");
	free(m);
	is_int(regindex_manifest_exists(db, ALICE, "team/app", old, &err), 0, "what it described before is gone");
	is_int(regindex_manifest_exists(db, ALICE, "team/app", dg('e', d), &err), 1, "what it describes now is there");

	/* a record from the future does not pin the repository to the top */
	m = manifest_json("future", 'f', "2999-01-01T00:00:00Z");
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kfffffffff22", m, 20)), 0, "future manifest");
	free(m);
	ok(q_int(db, "SELECT updated_at FROM repositories WHERE did = ? AND repository = 'future'", ALICE, NULL, NULL) <=
		   (long long)time(NULL),
	   "its time is clamped to now");
	free(err);
}

/* A manifest pushed through the registry (bytes, artifactType, push count) and then seen on the network. */
static void test_pushed_manifest(sqlite3 *db)
{
	const char *bytes = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST "\","
			    "\"artifactType\":\"application/vnd.example.sbom\","
			    "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"size\":2,\"digest\":"
			    "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},"
			    "\"layers\":[]}";
	oci_manifest m;
	char *err = NULL;
	if (oci_manifest_parse(bytes, strlen(bytes), NULL, &m, &err) != OCI_OK) {
		ok(0, "test manifest parses: %s", err);
		free(err);
		return;
	}
	regindex_entry ent = {.did = BOB, .repository = "tool", .m = &m, .raw = bytes, .hold_did = HOLD,
			      .record_rkey = "3kpushpushpu2", .blob_cid = CID, .tag = "latest", .now = 1000};
	is_int(regindex_store(db, &ent, 1, &err), 0, "pushed through the registry");
	json_object *blob = json_tokener_parse("{\"$type\":\"blob\",\"ref\":{\"$link\":\"" CID "\"},"
					       "\"mimeType\":\"" OCI_MT_IMAGE_MANIFEST "\",\"size\":2}");
	json_object *rec = oci_manifest_record_build(&m, "tool", HOLD, blob, "2024-06-01T00:00:00.000Z", &err);
	json_object *trec = oci_tag_record_build("tool", "latest", "at://" BOB "/io.atcr.manifest/3kpushpushpu2",
						 OCI_MT_IMAGE_MANIFEST, "2024-06-01T00:00:00.000Z", &err);
	ok(rec && trec, "records built as a push builds them");
	netevent ev[] = {commit(NETEVENT_CREATE, BOB, "io.atcr.manifest", "3kpushpushpu2", NULL, 30),
			 commit(NETEVENT_CREATE, BOB, "io.atcr.tag", "tool:latest", NULL, 31)};
	ev[0].record = rec;
	ev[1].record = trec;
	is_int(apply(db, ev, 2, NULL, 0), 0, "the push's own events");
	regindex_manifest row;
	is_int(regindex_manifest_get(db, BOB, "tool", m.digest, &row, &err), 1, "still indexed");
	ok(row.raw && row.raw_len == strlen(bytes), "the cached bytes stay");
	is_str(row.artifact_type, "application/vnd.example.sbom", "the artifactType from the bytes stays");
	is_int(row.size, (long long)strlen(bytes), "the size from the bytes stays");
	is_int(row.created_at, 1000, "created_at unchanged");
	regindex_manifest_free(&row);
	is_int(q_int(db, "SELECT updated_at FROM repositories WHERE did = ? AND repository = 'tool'", BOB, NULL, NULL),
	       1000, "the repository's push time unchanged");
	regindex_tag tag;
	is_int(regindex_tag_get(db, BOB, "tool", "latest", &tag, &err), 1, "the tag is there");
	is_str(tag.digest, m.digest, "pointing at the pushed manifest");
	regindex_tag_free(&tag);
	json_object_put(blob);
	oci_manifest_free(&m);
	free(err);
}

static void test_stars_pages_profiles(sqlite3 *db)
{
	char *err = NULL;
	const char *star = "{\"$type\":\"io.atcr.sailor.star\",\"subject\":\"at://" ALICE "/io.atcr.repo.page/team/app\","
			   "\"createdAt\":\"2024-05-05T00:00:00Z\"}";
	is_int(apply1(db, commit(NETEVENT_CREATE, BOB, "io.atcr.sailor.star", "3kstarstarst2", star, 40)), 0, "star");
	is_int(q_int(db, "SELECT created_at FROM stars WHERE starrer_did = ? AND owner_did = ? AND repository = 'team/app'",
		     BOB, ALICE, NULL),
	       unix_of(2024, 5, 5, 0, 0, 0), "the star row, dated by the record");
	char *rkey = q_text(db, "SELECT rkey FROM stars WHERE starrer_did = ?", BOB, NULL, NULL);
	is_str(rkey, "3kstarstarst2", "with its record key");
	free(rkey);
	star = "{\"subject\":\"at://" ALICE "/io.atcr.repo.page/future\",\"createdAt\":\"2024-05-06T00:00:00Z\"}";
	is_int(apply1(db, commit(NETEVENT_UPDATE, BOB, "io.atcr.sailor.star", "3kstarstarst2", star, 41)), 0, "star moved");
	is_int(q_int(db, "SELECT count(*) FROM stars WHERE starrer_did = ?", BOB, NULL, NULL), 1, "one star row");
	is_int(q_int(db, "SELECT count(*) FROM stars WHERE starrer_did = ? AND repository = 'future'", BOB, NULL, NULL), 1,
	       "on the new subject");
	is_int(apply1(db, commit(NETEVENT_DELETE, BOB, "io.atcr.sailor.star", "3kstarstarst2", NULL, 42)), 0, "unstar");
	is_int(q_int(db, "SELECT count(*) FROM stars WHERE starrer_did = ?", BOB, NULL, NULL), 0, "the star is gone");

	const char *page = "{\"$type\":\"io.atcr.repo.page\",\"repository\":\"team/app\",\"description\":\"# Team app\\n"
			   "A zanzibarian widget.\",\"createdAt\":\"2024-05-01T00:00:00Z\",\"updatedAt\":\"2024-05-01T00:00:00Z\"}";
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.repo.page", "team~app", page, 43)), 0, "repository page");
	char *desc = NULL;
	long long fetched = 0;
	is_int(uiindex_page_get(db, ALICE, "team/app", &desc, &fetched, &err), 1, "the page is cached");
	ok(desc && strstr(desc, "zanzibarian"), "with its description");
	ok(fetched >= time(NULL) - 5, "as fresh");
	free(desc);
	json_object *results = NULL;
	int more = 0;
	is_int(uiindex_search(db, "zanzibarian", 1, 10, &results, &more, &err), 0, "search");
	ok(results && json_object_array_length(results) == 1, "search finds the repository by its ingested description");
	json_object_put(results);
	page = "{\"repository\":\"team/app\",\"description\":\"Now quuxian.\",\"createdAt\":\"2024-05-01T00:00:00Z\","
	       "\"updatedAt\":\"2024-05-02T00:00:00Z\"}";
	is_int(apply1(db, commit(NETEVENT_UPDATE, ALICE, "io.atcr.repo.page", "team~app", page, 44)), 0, "page update");
	is_int(uiindex_search(db, "zanzibarian", 1, 10, &results, &more, &err), 0, "search again");
	ok(results && json_object_array_length(results) == 0, "the old description no longer matches");
	json_object_put(results);
	is_int(apply1(db, commit(NETEVENT_DELETE, ALICE, "io.atcr.repo.page", "team~app", NULL, 45)), 0, "page delete");
	is_int(uiindex_page_get(db, ALICE, "team/app", &desc, &fetched, &err), 1, "cached as");
	ok(desc == NULL, "no page");
	free(desc);
	is_int(uiindex_search(db, "quuxian", 1, 10, &results, &more, &err), 0, "search after the delete");
	ok(results && json_object_array_length(results) == 0, "the deleted description is not searchable");
	json_object_put(results);

	const char *profile = "{\"$type\":\"io.atcr.sailor.profile\",\"defaultHold\":\"" HOLD "\","
			      "\"createdAt\":\"2024-05-01T00:00:00Z\"}";
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.profile", "self", profile, 46)), 0, "profile");
	char *hold = q_text(db, "SELECT default_hold FROM profiles WHERE did = ?", ALICE, NULL, NULL);
	is_str(hold, HOLD, "defaultHold stored");
	free(hold);
	char *record = q_text(db, "SELECT record FROM profiles WHERE did = ?", ALICE, NULL, NULL);
	ok(record && strstr(record, "\"createdAt\""), "with the record");
	free(record);
	profile = "{\"defaultHold\":null,\"createdAt\":\"2024-05-01T00:00:00Z\"}";
	is_int(apply1(db, commit(NETEVENT_UPDATE, ALICE, "io.atcr.sailor.profile", "self", profile, 47)), 0, "profile update");
	is_int(q_int(db, "SELECT count(*) FROM profiles WHERE did = ? AND default_hold IS NULL", ALICE, NULL, NULL), 1,
	       "a null defaultHold opts out");
	is_int(apply1(db, commit(NETEVENT_DELETE, ALICE, "io.atcr.sailor.profile", "self", NULL, 48)), 0, "profile delete");
	is_int(q_int(db, "SELECT count(*) FROM profiles WHERE did = ?", ALICE, NULL, NULL), 0, "the profile is gone");
	free(err);
}

static void test_identity_account(sqlite3 *db)
{
	char *err = NULL;
	db_exec(db, "INSERT INTO users (did, handle, handle_verified, resolved_at) VALUES ('" ALICE "', 'alice.test', 1, 500)",
		&err);
	netevent e = {.kind = NETEVENT_IDENTITY, .did = strdup(ALICE), .handle = strdup("Alice.Example.COM")};
	is_int(apply1(db, e), 0, "identity event with a new handle");
	char *handle = q_text(db, "SELECT handle FROM users WHERE did = ?", ALICE, NULL, NULL);
	is_str(handle, "alice.example.com", "the new handle, normalised");
	free(handle);
	is_int(q_int(db, "SELECT handle_verified FROM users WHERE did = ?", ALICE, NULL, NULL), 0, "unverified");
	is_int(q_int(db, "SELECT resolved_at FROM users WHERE did = ?", ALICE, NULL, NULL), 0, "due for resolution");
	char *indexed = q_text(db, "SELECT handle FROM repo_search WHERE did = ? LIMIT 1", ALICE, NULL, NULL);
	is_str(indexed, "alice.example.com", "search follows the handle");
	free(indexed);
	e = (netevent){.kind = NETEVENT_IDENTITY, .did = strdup("did:plc:stranger")};
	is_int(apply1(db, e), 0, "identity event of a stranger");
	is_int(q_int(db, "SELECT count(*) FROM users WHERE did = 'did:plc:stranger'", NULL, NULL, NULL), 0,
	       "adds no users row");

	e = (netevent){.kind = NETEVENT_ACCOUNT, .did = strdup(ALICE), .active = 0, .status = strdup("takendown")};
	is_int(apply1(db, e), 0, "account deactivated");
	is_int(q_int(db, "SELECT active FROM users WHERE did = ?", ALICE, NULL, NULL), 0, "marked inactive");
	char *status = q_text(db, "SELECT status FROM users WHERE did = ?", ALICE, NULL, NULL);
	is_str(status, "takendown", "with its status");
	free(status);
	ok(q_int(db, "SELECT count(*) FROM repositories WHERE did = ?", ALICE, NULL, NULL) > 0, "its repositories stay");
	e = (netevent){.kind = NETEVENT_ACCOUNT, .did = strdup(ALICE), .active = 1};
	is_int(apply1(db, e), 0, "account active again");
	is_int(q_int(db, "SELECT count(*) FROM users WHERE did = ? AND active = 1 AND status IS NULL", ALICE, NULL, NULL), 1,
	       "active, no status");
	e = (netevent){.kind = NETEVENT_ACCOUNT, .did = strdup(BOB), .active = 0, .status = strdup("deactivated")};
	is_int(apply1(db, e), 0, "unresolved owner deactivated");
	is_int(q_int(db, "SELECT count(*) FROM users WHERE did = ? AND active = 0", BOB, NULL, NULL), 1,
	       "a row marks an owner of repositories");
	e = (netevent){.kind = NETEVENT_ACCOUNT, .did = strdup("did:plc:stranger"), .active = 0};
	is_int(apply1(db, e), 0, "stranger deactivated");
	is_int(q_int(db, "SELECT count(*) FROM users WHERE did = 'did:plc:stranger'", NULL, NULL, NULL), 0,
	       "no row for a stranger");
	free(err);
}

/* Bad records are skipped, the rest of the batch applies. */
static void test_bad_records(sqlite3 *db)
{
	char *before = dump(db), d[72];
	char sha512[7 + 128 + 1] = "sha512:";
	memset(sha512 + 7, 'a', 128);
	sha512[135] = '\0';
	char *bad_digest = manifest_json_d("bad", sha512, "2024-05-01T00:00:00Z"); /* longer than the lexicon's 128 */
	char *bad_repo = manifest_json("Bad/Name", 'a', "2024-05-01T00:00:00Z");
	char *bad_time = manifest_json("bad", 'a', "yesterday");
	char *bad_tag_key = tag_json("bad", "1.0", ALICE, "3kaaaaaaaaaa2", "2024-05-01T00:00:00Z");
	char *foreign_tag = tag_json("future", "x", BOB, "3kfffffffff22", "2024-05-01T00:00:00Z");
	netevent ev[] = {
		commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kbad0000000a", bad_digest, 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kbad0000000b", bad_repo, 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kbad0000000c", bad_time, 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kbad0000000d", "{\"repository\":\"bad\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kbad0000000e", "{\"$type\":\"io.atcr.tag\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kbad0000000f", NULL, 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "bad:2.0", bad_tag_key, 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "future:x", foreign_tag, 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.star", "3kbad0000000g",
		       "{\"subject\":\"at://alice.test/io.atcr.repo.page/app\",\"createdAt\":\"2024-05-01T00:00:00Z\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.star", "3kbad0000000h",
		       "{\"subject\":\"at://" BOB "/io.atcr.repo.page/tool\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.repo.page", "other",
		       "{\"repository\":\"bad\",\"createdAt\":\"2024-05-01T00:00:00Z\",\"updatedAt\":\"2024-05-01T00:00:00Z\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.repo.page", "bad",
		       "{\"repository\":\"bad\",\"description\":7,\"createdAt\":\"2024-05-01T00:00:00Z\","
		       "\"updatedAt\":\"2024-05-01T00:00:00Z\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.profile", "other", "{\"createdAt\":\"2024-05-01T00:00:00Z\"}", 0),
		commit(NETEVENT_CREATE, BOB, "io.atcr.sailor.profile", "self",
		       "{\"defaultHold\":\"https://hold\",\"createdAt\":\"2024-05-01T00:00:00Z\"}", 0),
		commit(NETEVENT_CREATE, "not-a-did", "io.atcr.sailor.profile", "self", "{\"createdAt\":\"2024-05-01T00:00:00Z\"}",
		       0),
		commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.profile", "bad/key", "{\"createdAt\":\"2024-05-01T00:00:00Z\"}", 0),
		commit(NETEVENT_CREATE, ALICE, "app.bsky.feed.post", "3kpost0000002", "{\"text\":\"hello\"}", 0),
		commit(NETEVENT_DELETE, ALICE, "io.atcr.tag", "not-a-tag-key", NULL, 0),
	};
	size_t n = sizeof ev / sizeof ev[0];
	is_int(apply(db, ev, n, NULL, 0), 0, "a batch of bad records and other collections is not an error");
	char *after = dump(db);
	ok(strcmp(before, after) == 0, "and changes nothing");
	free(after);

	/* the good event of a mixed batch applies */
	char *good = manifest_json("mixed", '9', "2024-05-01T00:00:00Z");
	char *bad = manifest_json("mixed", '8', "not a time");
	netevent mixed[] = {commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kmixed00000a", bad, 0),
			    commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kmixed00000b", good, 0)};
	is_int(apply(db, mixed, 2, NULL, 0), 0, "mixed batch");
	char *err = NULL;
	is_int(regindex_manifest_exists(db, ALICE, "mixed", dg('9', d), &err), 1, "its good record is indexed");
	is_int(regindex_manifest_exists(db, ALICE, "mixed", dg('8', d), &err), 0, "its bad one is not");
	free(err);
	free(good);
	free(bad);
	free(before);
	free(bad_digest);
	free(bad_repo);
	free(bad_time);
	free(bad_tag_key);
	free(foreign_tag);
}

/* Every kind of event, applied twice: the second time changes nothing. */
static void test_idempotence(sqlite3 *db)
{
	char *m1 = manifest_json("idem", '3', "2024-07-01T00:00:00Z"), *m2 = manifest_json("idem", '4', "2024-07-02T00:00:00Z");
	char *t1 = tag_json("idem", "a", ALICE, "3kidem000000a", "2024-07-01T00:00:01Z");
	char *t2 = tag_json("idem", "b", ALICE, "3kidem000000b", "2024-07-02T00:00:01Z");
	const char *star = "{\"subject\":\"at://" ALICE "/io.atcr.repo.page/idem\",\"createdAt\":\"2024-07-03T00:00:00Z\"}";
	const char *page = "{\"repository\":\"idem\",\"description\":\"twice\",\"createdAt\":\"2024-07-01T00:00:00Z\","
			   "\"updatedAt\":\"2024-07-01T00:00:00Z\"}";
	const char *profile = "{\"defaultHold\":\"" HOLD "\",\"createdAt\":\"2024-07-01T00:00:00Z\"}";
	char *first = NULL;
	for (int round = 0; round < 2; round++) {
		netevent ev[] = {
			commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kidem000000a", m1, 100),
			commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3kidem000000b", m2, 101),
			commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "idem:a", t1, 102),
			commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "idem:b", t2, 103),
			commit(NETEVENT_CREATE, BOB, "io.atcr.sailor.star", "3kidemstar002", star, 104),
			commit(NETEVENT_CREATE, ALICE, "io.atcr.repo.page", "idem", page, 105),
			commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.profile", "self", profile, 106),
			commit(NETEVENT_DELETE, ALICE, "io.atcr.tag", "idem:b", NULL, 107),
			commit(NETEVENT_DELETE, ALICE, "io.atcr.manifest", "3kidem000000b", NULL, 108),
			{.kind = NETEVENT_IDENTITY, .did = strdup(ALICE), .handle = strdup("alice.example.com")},
			{.kind = NETEVENT_ACCOUNT, .did = strdup(ALICE), .active = 0, .status = strdup("suspended")},
		};
		is_int(apply(db, ev, sizeof ev / sizeof ev[0], SRC, 108), 0, "batch, round %d", round + 1);
		if (round == 0) {
			first = dump(db);
			sleep(1); /* so that anything the second round dated "now" would differ */
			continue;
		}
		char *second = dump(db);
		ok(first && second && strcmp(first, second) == 0, "applying the same batch twice leaves identical tables");
		if (first && second && strcmp(first, second) != 0)
			diag("first:\n%s\nsecond:\n%s", first, second);
		free(second);
	}
	char *err = NULL, d[72];
	is_int(regindex_manifest_exists(db, ALICE, "idem", dg('3', d), &err), 1, "the kept manifest is there");
	is_int(regindex_manifest_exists(db, ALICE, "idem", dg('4', d), &err), 0, "the deleted one is not");
	free(err);
	free(first);
	free(m1);
	free(m2);
	free(t1);
	free(t2);
}

/* A delete seen before an older create of the same record does not let the create bring it back. */
static void test_out_of_order(sqlite3 *db)
{
	char *err = NULL, d[72];
	char *m = manifest_json("late", '5', "2024-08-01T00:00:00Z");
	is_int(apply1(db, commit(NETEVENT_DELETE, ALICE, "io.atcr.manifest", "3klate000000a", NULL, 200)), 0,
	       "delete of a record never seen");
	is_int(q_int(db, "SELECT count(*) FROM repositories WHERE did = ? AND repository = 'late'", ALICE, NULL, NULL), 0,
	       "leaves no repository behind");
	netevent e = commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3klate000000a", m, 150);
	is_int(apply(db, &e, 1, NULL, 0), 0, "an older create of it (cursor before the delete)");
	is_int(regindex_manifest_exists(db, ALICE, "late", dg('5', d), &err), 0, "does not resurrect it");
	is_int(q_int(db, "SELECT count(*) FROM repositories WHERE did = ? AND repository = 'late'", ALICE, NULL, NULL), 0,
	       "nor its repository");
	is_int(apply1(db, commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3klate000000a", m, 0)), 0,
	       "a backfill listing of it");
	is_int(regindex_manifest_exists(db, ALICE, "late", d, &err), 0, "does not either");

	/* tombstones are per stream: the cursor that counts is the delete's in the same stream */
	e = commit(NETEVENT_DELETE, ALICE, "io.atcr.tag", "late:1", NULL, 500);
	is_int(apply(db, &e, 1, SRC, 500), 0, "tag delete from the stream");
	char *t = tag_json("late", "1", ALICE, "3klate000000b", "2024-08-01T00:00:00Z");
	char *m2 = manifest_json("late", '6', "2024-08-01T00:00:00Z");
	netevent ev[] = {commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3klate000000b", m2, 490),
			 commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "late:1", t, 499)};
	is_int(apply(db, ev, 2, SRC, 499), 0, "the stream replayed from before the delete");
	regindex_tag tag;
	is_int(regindex_tag_get(db, ALICE, "late", "1", &tag, &err), 0, "the deleted tag stays deleted");
	is_int(regindex_manifest_exists(db, ALICE, "late", dg('6', d), &err), 1, "the manifest, never deleted, is indexed");
	e = commit(NETEVENT_CREATE, ALICE, "io.atcr.tag", "late:1", t, 600);
	is_int(apply(db, &e, 1, SRC, 600), 0, "the tag created again later");
	is_int(regindex_tag_get(db, ALICE, "late", "1", &tag, &err), 1, "is indexed");
	regindex_tag_free(&tag);
	is_int(q_int(db, "SELECT count(*) FROM ingest_tombstones WHERE did = ? AND rkey = 'late:1'", ALICE, NULL, NULL), 0,
	       "and its tombstone is gone");

	/* a backfill listing read after a delete was indexed shows the record made again since */
	long long deleted_at = q_int(db, "SELECT deleted_at FROM ingest_tombstones WHERE did = ? AND rkey = '3klate000000a'",
				     ALICE, NULL, NULL);
	ok(deleted_at >= time(NULL) - 60, "the manifest's tombstone is dated when the delete was indexed");
	e = commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3klate000000a", m, 0);
	e.listed_at = deleted_at;
	is_int(apply1(db, e), 0, "a listing read the same second as the delete");
	is_int(regindex_manifest_exists(db, ALICE, "late", dg('5', d), &err), 0, "is not trusted over it");
	e = commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3klate000000a", m, 0);
	e.listed_at = deleted_at + 1;
	is_int(apply1(db, e), 0, "a listing read after the delete");
	is_int(regindex_manifest_exists(db, ALICE, "late", d, &err), 1, "indexes the record made again");
	is_int(q_int(db, "SELECT count(*) FROM ingest_tombstones WHERE did = ? AND rkey = '3klate000000a'", ALICE, NULL,
		     NULL),
	       0, "and clears the tombstone");
	e = commit(NETEVENT_DELETE, ALICE, "io.atcr.manifest", "3klate000000a", NULL, 0);
	is_int(apply1(db, e), 0, "a snapshot delete (a backfill finding the record gone)");
	is_int(regindex_manifest_exists(db, ALICE, "late", d, &err), 0, "takes it out");
	e = commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3klate000000a", m, 700);
	is_int(apply(db, &e, 1, SRC, 700), 0, "a live create after it");
	is_int(regindex_manifest_exists(db, ALICE, "late", d, &err), 1, "is not stale: another stream's delete");
	free(t);
	free(m);
	free(m2);
	free(err);
}

/* 1 when key is one of the n keys. */
static int has_key(char **keys, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return 1;
	return 0;
}

/* What the index mirrors of one DID's records, by record key, per collection. */
static void test_indexed_rkeys(sqlite3 *db)
{
	const char *carol = "did:plc:carol";
	char *err = NULL, **keys = NULL;
	size_t n = 0;
	char *m = manifest_json("tools/cli", '7', "2024-09-01T00:00:00Z");
	char *t = tag_json("tools/cli", "latest", carol, "3kcarol00000a", "2024-09-01T00:00:00Z");
	const char *star = "{\"$type\":\"io.atcr.sailor.star\",\"subject\":\"at://" ALICE "/io.atcr.repo.page/late\","
			   "\"createdAt\":\"2024-09-01T00:00:00Z\"}";
	const char *page = "{\"$type\":\"io.atcr.repo.page\",\"repository\":\"tools/cli\",\"description\":\"CLI\","
			   "\"createdAt\":\"2024-09-01T00:00:00Z\",\"updatedAt\":\"2024-09-01T00:00:00Z\"}";
	const char *profile = "{\"$type\":\"io.atcr.sailor.profile\",\"createdAt\":\"2024-09-01T00:00:00Z\"}";
	netevent ev[] = {commit(NETEVENT_CREATE, carol, "io.atcr.manifest", "3kcarol00000a", m, 0),
			 commit(NETEVENT_CREATE, carol, "io.atcr.tag", "tools~cli:latest", t, 0),
			 commit(NETEVENT_CREATE, carol, "io.atcr.sailor.star", "3kcarolstar01", star, 0),
			 commit(NETEVENT_CREATE, carol, "io.atcr.repo.page", "tools~cli", page, 0),
			 commit(NETEVENT_CREATE, carol, "io.atcr.sailor.profile", "self", profile, 0)};
	is_int(apply(db, ev, 5, NULL, 0), 0, "carol's records, one of each collection");
	static const struct {
		const char *collection, *key;
	} want[] = {{"io.atcr.manifest", "3kcarol00000a"}, {"io.atcr.tag", "tools~cli:latest"},
		    {"io.atcr.sailor.star", "3kcarolstar01"}, {"io.atcr.repo.page", "tools~cli"},
		    {"io.atcr.sailor.profile", "self"}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		is_int(ingest_indexed_rkeys(db, carol, want[i].collection, &keys, &n, &err), 0, want[i].collection);
		ok(n == 1 && has_key(keys, n, want[i].key), "names the one record by its key (%s)", want[i].key);
		ingest_rkeys_free(keys, n);
	}
	is_int(ingest_indexed_rkeys(db, ALICE, "io.atcr.tag", &keys, &n, &err), 0, "alice's tags");
	ok(n >= 1 && has_key(keys, n, "late:1") && !has_key(keys, n, "tools~cli:latest"), "are hers only");
	ingest_rkeys_free(keys, n);
	is_int(apply1(db, commit(NETEVENT_DELETE, carol, "io.atcr.repo.page", "tools~cli", NULL, 0)), 0, "page deleted");
	is_int(ingest_indexed_rkeys(db, carol, "io.atcr.repo.page", &keys, &n, &err), 0, "pages again");
	is_int((long long)n, 0, "a page known to be absent is not a record");
	ingest_rkeys_free(keys, n);
	is_int(ingest_indexed_rkeys(db, carol, "app.bsky.feed.post", &keys, &n, &err), -1, "another collection");
	ok(err && strstr(err, "app.bsky.feed.post"), "is refused by name");
	free(err);
	free(m);
	free(t);
}

/* A batch that fails rolls back with its cursor. */
static void test_cursor_atomicity(const char *path)
{
	char *err = NULL, d[72];
	sqlite3 *db = db_open(path, 1, &err);
	ok(db != NULL, "second index opened");
	if (!db) {
		diag("%s", err);
		free(err);
		return;
	}
	long long cursor = -1;
	is_int(ingest_cursor_get(db, "firehose:x", &cursor, &err), 0, "no cursor yet");
	is_int(apply(db, NULL, 0, "firehose:x", 7), 0, "an empty batch");
	is_int(ingest_cursor_get(db, "firehose:x", &cursor, &err), 1, "saves its cursor");
	is_int(cursor, 7, "the value");
	db_exec(db, "DROP TABLE profiles", &err);
	char *m = manifest_json("atomic", '7', "2024-09-01T00:00:00Z");
	netevent ev[] = {commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3katomic0000a", m, 8),
			 commit(NETEVENT_CREATE, ALICE, "io.atcr.sailor.profile", "self",
				"{\"createdAt\":\"2024-09-01T00:00:00Z\"}", 9)};
	err = NULL;
	int rc = ingest_apply(db, ev, 2, "firehose:x", 9, &err);
	ok(rc == -1 && err, "a batch whose second event fails is an error: %s", err ? err : "");
	free(err);
	err = NULL;
	netevent_clear(&ev[0]);
	netevent_clear(&ev[1]);
	is_int(regindex_manifest_exists(db, ALICE, "atomic", dg('7', d), &err), 0, "its first event is not applied");
	is_int(ingest_cursor_get(db, "firehose:x", &cursor, &err), 1, "the cursor is still there");
	is_int(cursor, 7, "unmoved");
	is_int(ingest_cursor_get(db, "other", &cursor, &err), 0, "other sources have none");
	/* a second connection holding the write lock makes the batch fail cleanly, not half-apply */
	sqlite3 *other = db_open(path, 0, &err);
	ok(other && db_exec(other, "BEGIN IMMEDIATE", &err) == 0, "another writer holds the lock");
	sqlite3_busy_timeout(db, 50);
	netevent e = commit(NETEVENT_CREATE, ALICE, "io.atcr.manifest", "3katomic0000a", m, 10);
	rc = ingest_apply(db, &e, 1, "firehose:x", 10, &err);
	ok(rc == -1 && err, "a busy index is an error for the caller to retry");
	free(err);
	err = NULL;
	netevent_clear(&e);
	db_exec(other, "ROLLBACK", NULL);
	db_close(other);
	is_int(ingest_cursor_get(db, "firehose:x", &cursor, &err), 1, "cursor");
	is_int(cursor, 7, "still unmoved");
	free(m);
	free(err);
	db_close(db);
}

int main(void)
{
	char dir[] = "/tmp/test_ingest.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	char *path = buf_strf("%s/index.db", dir), *path2 = buf_strf("%s/atomic.db", dir), *err = NULL;
	sqlite3 *db = db_open(path, 1, &err);
	if (!db) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_wants();
	test_manifests_and_tags(db);
	test_pushed_manifest(db);
	test_stars_pages_profiles(db);
	test_identity_account(db);
	test_bad_records(db);
	test_idempotence(db);
	test_out_of_order(db);
	test_indexed_rkeys(db);
	db_close(db);
	test_cursor_atomicity(path2);
	char *cmd = buf_strf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	free(cmd);
	free(path);
	free(path2);
	return tap_done();
}
