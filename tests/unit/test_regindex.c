/* test_regindex.c - the registry index: manifest upserts, tag moves, tag and catalog pages, referrers,
 * deletes, pull counts, blob holds, and atomic stores, on a migrated in-memory SQLite database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "oci.h"
#include "regindex.h"
#include "tap.h"

#define ALICE "did:plc:alice"
#define BOB "did:plc:bob"
#define CONFIG_MT "application/vnd.oci.image.config.v1+json"
#define LAYER_MT "application/vnd.oci.image.layer.v1.tar+gzip"

/* "sha256:" + 64 times c */
static const char *dg(char c)
{
	static char d[8][80];
	static int next;
	char *out = d[next++ % 8];
	memcpy(out, "sha256:", 7);
	memset(out + 7, c, 64);
	out[71] = '\0';
	return out;
}

static char *image_json(char config, char layer, const char *subject, const char *artifact_type)
{
	char subj[256] = "", art[160] = "";
	if (subject)
		snprintf(subj, sizeof subj,
			 ",\"subject\":{\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST "\",\"digest\":\"%s\",\"size\":7}", subject);
	if (artifact_type)
		snprintf(art, sizeof art, ",\"artifactType\":\"%s\"", artifact_type);
	return buf_strf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST "\"%s,"
			"\"config\":{\"mediaType\":\"" CONFIG_MT "\",\"digest\":\"%s\",\"size\":10},"
			"\"layers\":[{\"mediaType\":\"" LAYER_MT "\",\"digest\":\"%s\",\"size\":20}]%s%s}",
			art, dg(config), dg(layer), subj, subject ? ",\"annotations\":{\"org.example\":\"yes\"}" : "");
}

/* A parsed manifest and its bytes. */
typedef struct {
	char *raw;
	oci_manifest m;
} fixture;

static int fixture_make(fixture *f, char *json)
{
	char *err = NULL;
	memset(f, 0, sizeof *f);
	f->raw = json;
	if (oci_manifest_parse(json, strlen(json), NULL, &f->m, &err) != OCI_OK) {
		diag("parse: %s", err ? err : "?");
		free(err);
		return -1;
	}
	return 0;
}

static void fixture_free(fixture *f)
{
	oci_manifest_free(&f->m);
	free(f->raw);
}

static int store(sqlite3 *db, const char *did, const char *repo, const fixture *f, const char *tag, const char *rkey,
		 const char *hold, long long now, int push)
{
	regindex_entry e = {.did = did, .repository = repo, .m = &f->m, .raw = f->raw, .hold_did = hold,
			    .record_rkey = rkey, .blob_cid = rkey ? "bafkreiexample" : NULL, .tag = tag, .now = now};
	char *err = NULL;
	int rc = regindex_store(db, &e, push, &err);
	if (rc != 0)
		diag("store: %s", err ? err : "?");
	free(err);
	return rc;
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The page's names joined with ',' (static buffer). */
static const char *joined(const regindex_page *p)
{
	static char out[1024];
	out[0] = '\0';
	for (size_t i = 0; i < p->count; i++) {
		if (i)
			strcat(out, ",");
		strncat(out, p->names[i], sizeof out - strlen(out) - 2);
	}
	return out;
}

static void test_store_and_get(sqlite3 *db, const fixture *img)
{
	char *err = NULL;
	regindex_manifest m;
	is_int(store(db, ALICE, "app", img, "latest", "3kabc", "did:web:hold.test", 1000, 1), 0, "store a push");
	is_int(regindex_manifest_get(db, ALICE, "app", img->m.digest, &m, &err), 1, "manifest found");
	is_str(m.media_type, OCI_MT_IMAGE_MANIFEST, "media type");
	is_int(m.size, strlen(img->raw), "size is the byte count");
	ok(m.raw && m.raw_len == strlen(img->raw) && memcmp(m.raw, img->raw, m.raw_len) == 0, "raw bytes kept");
	is_str(m.artifact_type, CONFIG_MT, "artifact type falls back to the config media type");
	is_str(m.hold_did, "did:web:hold.test", "hold");
	is_str(m.record_rkey, "3kabc", "record key");
	ok(m.subject_digest == NULL && m.annotations == NULL, "no subject, no annotations");
	is_int(m.created_at, 1000, "created_at");
	regindex_manifest_free(&m);

	is_int(regindex_manifest_get(db, ALICE, "app", dg('9'), &m, &err), 0, "unknown digest: 0");
	is_int(regindex_manifest_get(db, ALICE, "other", img->m.digest, &m, &err), 0, "per repository");
	is_int(regindex_manifest_exists(db, ALICE, "app", img->m.digest, &err), 1, "exists");
	char *by_rkey = NULL;
	is_int(regindex_manifest_by_rkey(db, ALICE, "app", "3kabc", &by_rkey, &err), 1, "found by record key");
	is_str(by_rkey, img->m.digest, "the digest of that record");
	free(by_rkey);
	is_int(regindex_manifest_by_rkey(db, ALICE, "app", "3kzzz", &by_rkey, &err), 0, "unknown record key");
	is_int(regindex_manifest_exists(db, BOB, "app", img->m.digest, &err), 0, "per owner");
	is_int(regindex_repo_exists(db, ALICE, "app", &err), 1, "repository created");
	is_int(regindex_repo_exists(db, ALICE, "nope", &err), 0, "other repository unknown");
	is_int(query_int(db, "SELECT COUNT(*) FROM manifest_blobs WHERE did='" ALICE "' AND repository='app'"), 2,
	       "config and layer rows");
	is_int(query_int(db, "SELECT COUNT(*) FROM manifest_blobs WHERE role='layer' AND position=0"), 1, "layer row");

	/* a second push of the same bytes without a record key keeps the known one */
	regindex_entry e = {.did = ALICE, .repository = "app", .m = &img->m, .raw = NULL, .tag = "v1", .now = 2000};
	is_int(regindex_store(db, &e, 1, &err), 0, "re-push without raw or rkey");
	is_int(regindex_manifest_get(db, ALICE, "app", img->m.digest, &m, &err), 1, "still there");
	is_str(m.record_rkey, "3kabc", "record key kept");
	is_str(m.hold_did, "did:web:hold.test", "hold kept");
	ok(m.raw != NULL, "raw kept");
	is_int(m.created_at, 1000, "created_at kept");
	regindex_manifest_free(&m);
	is_int(query_int(db, "SELECT push_count FROM repositories WHERE did='" ALICE "' AND repository='app'"), 2,
	       "two pushes counted");
	is_int(query_int(db, "SELECT updated_at FROM repositories WHERE did='" ALICE "' AND repository='app'"), 2000,
	       "updated_at is the last push");
	is_int(query_int(db, "SELECT COUNT(*) FROM manifests"), 1, "no duplicate manifest row");
	is_int(query_int(db, "SELECT COUNT(*) FROM manifest_blobs"), 2, "no duplicate blob rows");

	/* caching (push = 0) creates the repository without counting */
	is_int(store(db, BOB, "tool", img, NULL, NULL, NULL, 3000, 0), 0, "cache into another repository");
	is_int(query_int(db, "SELECT push_count FROM repositories WHERE did='" BOB "'"), 0, "a cache is no push");
	is_int(query_int(db, "SELECT COUNT(*) FROM tags WHERE did='" BOB "'"), 0, "no tag without one");
	free(err);
}

static void test_tags(sqlite3 *db, const fixture *img, const fixture *img2)
{
	char *err = NULL;
	regindex_tag t;
	is_int(regindex_tag_get(db, ALICE, "app", "latest", &t, &err), 1, "tag found");
	is_str(t.digest, img->m.digest, "tag points at the pushed manifest");
	is_int(t.updated_at, 1000, "tag updated_at");
	is_int(t.checked_at, 1000, "tag checked_at");
	regindex_tag_free(&t);

	is_int(store(db, ALICE, "app", img2, "latest", "3kdef", "did:web:hold.test", 4000, 1), 0, "push another image as latest");
	is_int(regindex_tag_get(db, ALICE, "app", "latest", &t, &err), 1, "tag still found");
	is_str(t.digest, img2->m.digest, "tag moved");
	is_int(t.updated_at, 4000, "moved tag updated_at");
	regindex_tag_free(&t);

	char **v = regindex_tags_for_digest(db, ALICE, "app", img->m.digest, &err);
	ok(v && v[0] && strcmp(v[0], "v1") == 0 && !v[1], "only v1 still points at the first image");
	regindex_strv_free(v);

	is_int(regindex_tag_put(db, ALICE, "app", "latest", img->m.digest, 5000, 5100, &err), 0, "tag_put moves back");
	is_int(regindex_tag_get(db, ALICE, "app", "latest", &t, &err), 1, "found after tag_put");
	is_str(t.digest, img->m.digest, "tag_put digest");
	is_int(t.updated_at, 5000, "tag_put updated_at");
	is_int(t.checked_at, 5100, "tag_put checked_at");
	regindex_tag_free(&t);
	v = regindex_tags_for_digest(db, ALICE, "app", img->m.digest, &err);
	ok(v && v[0] && v[1] && !v[2] && strcmp(v[0], "latest") == 0 && strcmp(v[1], "v1") == 0,
	   "tags of a digest, sorted");
	regindex_strv_free(v);

	is_int(regindex_tag_put(db, ALICE, "fresh", "x", img->m.digest, 1, 1, &err), 0, "tag_put in a new repository");
	is_int(regindex_repo_exists(db, ALICE, "fresh", &err), 1, "tag_put creates the repository");

	is_int(regindex_tag_delete(db, ALICE, "fresh", "x", &err), 1, "tag deleted");
	is_int(regindex_tag_delete(db, ALICE, "fresh", "x", &err), 0, "deleting again: 0");
	is_int(regindex_tag_get(db, ALICE, "fresh", "x", &t, &err), 0, "deleted tag not found");
	free(err);
}

static void test_tag_pages(sqlite3 *db, const fixture *img)
{
	char *err = NULL;
	const char *names[] = {"b", "latest", "a", "1.0", "Z", "a-b"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		regindex_tag_put(db, ALICE, "paged", names[i], img->m.digest, 1, 1, &err);
	regindex_page p;
	is_int(regindex_tags_list(db, ALICE, "paged", NULL, -1, &p, &err), 0, "list all");
	is_str(joined(&p), "1.0,Z,a,a-b,b,latest", "byte order");
	is_int(p.more, 0, "nothing more");
	regindex_page_free(&p);

	is_int(regindex_tags_list(db, ALICE, "paged", NULL, 2, &p, &err), 0, "first page");
	is_str(joined(&p), "1.0,Z", "first two");
	is_int(p.more, 1, "more follow");
	regindex_page_free(&p);
	regindex_tags_list(db, ALICE, "paged", "Z", 2, &p, &err);
	is_str(joined(&p), "a,a-b", "after Z");
	is_int(p.more, 1, "more follow the second page");
	regindex_page_free(&p);
	regindex_tags_list(db, ALICE, "paged", "a-b", 2, &p, &err);
	is_str(joined(&p), "b,latest", "last page is full");
	is_int(p.more, 0, "and the last");
	regindex_page_free(&p);
	regindex_tags_list(db, ALICE, "paged", "latest", 5, &p, &err);
	ok(p.count == 0 && p.names && !p.names[0] && !p.more, "after the last tag: empty");
	regindex_page_free(&p);
	regindex_tags_list(db, ALICE, "paged", NULL, 0, &p, &err);
	ok(p.count == 0 && p.more == 1, "n=0: nothing, more remain");
	regindex_page_free(&p);
	regindex_tags_list(db, ALICE, "unknown", NULL, -1, &p, &err);
	ok(p.count == 0 && !p.more, "unknown repository: empty");
	regindex_page_free(&p);
	free(err);
}

static void test_referrers(sqlite3 *db, const fixture *img)
{
	char *err = NULL;
	fixture sbom, sig, other;
	if (fixture_make(&sbom, image_json('5', '6', img->m.digest, "application/vnd.example.sbom")) != 0 ||
	    fixture_make(&sig, image_json('7', '8', img->m.digest, NULL)) != 0 ||
	    fixture_make(&other, image_json('5', '6', dg('e'), "application/vnd.example.sbom")) != 0) {
		ok(0, "referrer fixtures parse");
		return;
	}
	store(db, ALICE, "app", &sbom, NULL, "3ks1", "did:web:hold.test", 6000, 1);
	store(db, ALICE, "app", &sig, NULL, "3ks2", "did:web:hold.test", 6001, 1);
	store(db, ALICE, "app", &other, NULL, "3ks3", "did:web:hold.test", 6002, 1);
	store(db, BOB, "app", &sbom, NULL, "3ks4", "did:web:hold.test", 6003, 1);

	regindex_referrer *r = NULL;
	size_t n = 0;
	is_int(regindex_referrers(db, ALICE, "app", img->m.digest, NULL, &r, &n, &err), 0, "referrers");
	is_int(n, 2, "two manifests refer to the image");
	if (n == 2) {
		is_str(r[0].digest, sbom.m.digest, "oldest first");
		is_str(r[0].artifact_type, "application/vnd.example.sbom", "artifactType");
		is_str(r[0].media_type, OCI_MT_IMAGE_MANIFEST, "media type");
		is_int(r[0].size, strlen(sbom.raw), "size");
		is_str(r[0].annotations, "{\"org.example\":\"yes\"}", "annotations as JSON");
		is_str(r[1].artifact_type, CONFIG_MT, "no artifactType: the config media type");
	}
	regindex_referrers_free(r, n);

	is_int(regindex_referrers(db, ALICE, "app", img->m.digest, "application/vnd.example.sbom", &r, &n, &err), 0,
	       "filtered");
	ok(n == 1 && strcmp(r[0].digest, sbom.m.digest) == 0, "artifactType filter keeps one");
	regindex_referrers_free(r, n);
	is_int(regindex_referrers(db, ALICE, "app", dg('f'), NULL, &r, &n, &err), 0, "no referrers");
	ok(n == 0 && r == NULL, "empty list");
	regindex_referrers_free(r, n);
	fixture_free(&sbom);
	fixture_free(&sig);
	fixture_free(&other);
	free(err);
}

static void test_catalog(sqlite3 *db)
{
	char *err = NULL;
	db_exec(db, "INSERT INTO users (did, handle, handle_verified) VALUES ('" ALICE "', 'alice.test', 1), "
		    "('" BOB "', 'bob.test', 0)", NULL);
	regindex_page p;
	is_int(regindex_catalog(db, NULL, -1, &p, &err), 0, "catalog");
	/* alice's "fresh" and "paged" have tags but no manifests; bob's handle is not verified */
	is_str(joined(&p), "alice.test/app,did:plc:bob/app,did:plc:bob/multi,did:plc:bob/tool",
	       "handles when verified, sorted, only with manifests");
	regindex_page_free(&p);
	regindex_catalog(db, NULL, 1, &p, &err);
	ok(p.count == 1 && p.more, "catalog page of one");
	regindex_page_free(&p);
	regindex_catalog(db, "alice.test/app", 1, &p, &err);
	is_str(joined(&p), "did:plc:bob/app", "catalog after last");
	is_int(p.more, 1, "one more");
	regindex_page_free(&p);
	regindex_catalog(db, "did:plc:bob/app", 5, &p, &err);
	is_str(joined(&p), "did:plc:bob/multi,did:plc:bob/tool", "catalog last page");
	is_int(p.more, 0, "nothing more");
	regindex_page_free(&p);
	free(err);
}

static void test_holds_and_pulls(sqlite3 *db)
{
	char *err = NULL, *hold = NULL;
	fixture a, b;
	if (fixture_make(&a, image_json('a', 'c', NULL, NULL)) != 0 || fixture_make(&b, image_json('b', 'c', NULL, NULL)) != 0) {
		ok(0, "hold fixtures parse");
		return;
	}
	store(db, ALICE, "holds", &a, NULL, NULL, "did:web:old.test", 100, 1);
	store(db, ALICE, "holds", &b, NULL, NULL, "did:web:new.test", 200, 1);
	is_int(regindex_blob_hold(db, ALICE, "holds", dg('c'), &hold, &err), 1, "shared layer found");
	is_str(hold, "did:web:new.test", "the newest manifest's hold");
	free(hold);
	is_int(regindex_blob_hold(db, ALICE, "holds", dg('a'), &hold, &err), 1, "config of the older one");
	is_str(hold, "did:web:old.test", "its hold");
	free(hold);
	is_int(regindex_blob_hold(db, ALICE, "holds", dg('d'), &hold, &err), 0, "unknown blob: 0");
	ok(hold == NULL, "no hold");
	is_int(regindex_blob_hold(db, ALICE, "holds", NULL, &hold, &err), 1, "any manifest");
	is_str(hold, "did:web:new.test", "the newest");
	free(hold);

	is_int(regindex_count_pull(db, ALICE, "holds", 300, &err), 0, "count a pull");
	regindex_count_pull(db, ALICE, "holds", 400, &err);
	is_int(query_int(db, "SELECT pull_count FROM repositories WHERE repository='holds'"), 2, "two pulls");
	is_int(query_int(db, "SELECT last_pull FROM repositories WHERE repository='holds'"), 400, "last pull");
	fixture_free(&a);
	fixture_free(&b);
	free(err);
}

static void test_delete(sqlite3 *db, const fixture *img)
{
	char *err = NULL;
	regindex_tag t;
	is_int(regindex_manifest_delete(db, ALICE, "app", img->m.digest, &err), 1, "manifest deleted");
	is_int(regindex_manifest_exists(db, ALICE, "app", img->m.digest, &err), 0, "gone");
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM manifest_blobs WHERE did='%s' AND repository='app' AND manifest_digest='%s'",
		 ALICE, img->m.digest);
	is_int(query_int(db, sql), 0, "its blob rows gone");
	is_int(regindex_tag_get(db, ALICE, "app", "latest", &t, &err), 0, "tags pointing at it gone");
	is_int(regindex_tag_get(db, ALICE, "app", "v1", &t, &err), 0, "every one of them");
	is_int(regindex_manifest_exists(db, BOB, "tool", img->m.digest, &err), 1, "other repositories untouched");
	is_int(regindex_manifest_delete(db, ALICE, "app", img->m.digest, &err), 0, "deleting again: 0");
	free(err);
}

/* A store that fails part way leaves nothing behind. */
static void test_atomic(sqlite3 *db)
{
	char *err = NULL;
	fixture f;
	if (fixture_make(&f, image_json('1', '2', NULL, NULL)) != 0) {
		ok(0, "fixture parses");
		return;
	}
	regindex_entry bad = {.did = ALICE, .repository = "app", .m = NULL, .now = 1};
	is_int(regindex_store(db, &bad, 1, &err), -1, "entry without a manifest refused");
	ok(err && *err, "with a message");
	db_exec(db, "DROP TABLE tags", NULL);
	regindex_entry e = {.did = ALICE, .repository = "atomic", .m = &f.m, .raw = f.raw, .tag = "t", .now = 1};
	is_int(regindex_store(db, &e, 1, &err), -1, "store fails when the tag cannot be written");
	ok(err && strstr(err, "index:"), "error names the index: %s", err ? err : "(null)");
	is_int(regindex_manifest_exists(db, ALICE, "atomic", f.m.digest, &err), 0, "no manifest row left");
	is_int(regindex_repo_exists(db, ALICE, "atomic", &err), 0, "no repository row left");
	regindex_tag t;
	is_int(regindex_tag_get(db, ALICE, "app", "x", &t, &err), -1, "a query on the missing table fails");
	fixture_free(&f);
	free(err);
}

/* Simultaneous first pushes agree on one record key; a claim older than the TTL is replaced. */
static void test_claims(sqlite3 *db)
{
	char *err = NULL, *k1 = NULL, *k2 = NULL, *k3 = NULL, *k4 = NULL;
	const char *d = dg('9');
	is_int(regindex_claim_rkey(db, ALICE, "app", d, "3kfirst000000", 1000, 600, &k1, &err), 0, "first claim");
	is_str(k1, "3kfirst000000", "takes the caller's fresh key");
	is_int(regindex_claim_rkey(db, ALICE, "app", d, "3ksecond00000", 1300, 600, &k2, &err), 0, "a second push meanwhile");
	is_str(k2, "3kfirst000000", "gets the first push's key");
	is_int(regindex_claim_rkey(db, ALICE, "other", d, "3kother000000", 1300, 600, &k3, &err), 0,
	       "the same digest in another repository");
	is_str(k3, "3kother000000", "is a claim of its own");
	is_int(regindex_claim_rkey(db, ALICE, "app", d, "3klater000000", 1601, 600, &k4, &err), 0, "a push after the TTL");
	is_str(k4, "3klater000000", "claims anew");
	is_int(query_int(db, "SELECT COUNT(*) FROM manifest_claims WHERE repository = 'other'"), 1,
	       "claims within the TTL stay");
	free(k1);
	free(k2);
	free(k3);
	free(k4);
	free(err);
}

int main(void)
{
	char *err = NULL;
	sqlite3 *db = NULL;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || db_migrate(db, &err) < 3) {
		printf("Bail out! cannot migrate: %s\n", err ? err : "?");
		return 1;
	}
	fixture img, img2, idx;
	char *index_json = buf_strf("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_IMAGE_INDEX "\",\"manifests\":["
				    "{\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST "\",\"digest\":\"%s\",\"size\":100,"
				    "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}}]}",
				    dg('3'));
	if (fixture_make(&img, image_json('a', 'b', NULL, NULL)) != 0 || fixture_make(&img2, image_json('c', 'd', NULL, NULL)) != 0 ||
	    fixture_make(&idx, index_json) != 0) {
		printf("Bail out! fixtures do not parse\n");
		return 1;
	}
	test_store_and_get(db, &img);
	test_tags(db, &img, &img2);

	is_int(store(db, BOB, "multi", &idx, "latest", "3kidx", NULL, 1, 1), 0, "store an index");
	is_int(query_int(db, "SELECT COUNT(*) FROM manifest_blobs WHERE role='manifest' AND did='" BOB "'"), 1, "child row");
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(db, "SELECT platform FROM manifest_blobs WHERE role='manifest'", -1, &st, NULL);
	ok(st && sqlite3_step(st) == SQLITE_ROW &&
	       strcmp((const char *)sqlite3_column_text(st, 0), "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}") == 0,
	   "child platform as JSON");
	sqlite3_finalize(st);
	regindex_manifest m;
	regindex_manifest_get(db, BOB, "multi", idx.m.digest, &m, &err);
	ok(m.artifact_type == NULL, "an index without artifactType has none");
	regindex_manifest_free(&m);

	test_tag_pages(db, &img);
	test_referrers(db, &img);
	test_catalog(db);
	test_holds_and_pulls(db);
	test_delete(db, &img);
	test_claims(db);
	test_atomic(db);

	fixture_free(&img);
	fixture_free(&img2);
	fixture_free(&idx);
	free(err);
	db_close(db);
	return tap_done();
}
