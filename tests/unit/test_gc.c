/* test_gc.c - garbage collection on the hold: the store's primitives (list, open uploads, marks,
 * removal that loses to a completion or a touch, readers reading on), the manifest at-uris, and whole
 * collections of a fixture hold (database, filesystem store) against a small PDS inside the test:
 * manifests present, gone (RecordNotFound, and absent from the owner's listing), undecided (a PDS
 * error, a PDS that does not answer, a DID that does not resolve), one pushed again while it is being
 * checked; blobs shared, young, pending, being uploaded; a dry run that changes nothing; a second run
 * that finds nothing; the references checked again inside the deleting transaction. */
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "hold.h"
#include "log.h"
#include "mini_httpd.h"
#include "recstore.h"
#include "tap.h"

#define OWNER "did:plc:owner0000000000000000000"
#define HEX16(c) c c c c c c c c c c c c c c c c
#define HEX(c) HEX16(c) HEX16(c) HEX16(c) HEX16(c) /* 64 times c */
#define K256_MULTIKEY "zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc"
#define DAY 86400

/* ---- blobs */

typedef struct {
	const unsigned char *p;
	size_t len, off;
} mem_reader;

static ssize_t mem_read(void *ctx, void *dst, size_t n)
{
	mem_reader *m = ctx;
	size_t left = m->len - m->off, k = n < left ? n : left;
	memcpy(dst, m->p + m->off, k);
	m->off += k;
	return (ssize_t)k;
}

static void digest_of(const char *alg, const void *data, size_t len, char *out)
{
	unsigned char md[64];
	unsigned n = 0;
	EVP_Digest(data, len, md, &n, strcmp(alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256(), NULL);
	int k = sprintf(out, "%s:", alg);
	for (unsigned i = 0; i < n; i++)
		k += sprintf(out + k, "%02x", md[i]);
}

static void set_mark(blobstore *bs, const char *digest, long long t)
{
	char *p = bs_local_path(bs, digest);
	struct timespec ts[2] = {{(time_t)t, 0}, {(time_t)t, 0}};
	if (!p || utimensat(AT_FDCWD, p, ts, 0) != 0)
		diag("cannot set the mark of %s", digest);
	free(p);
}

static long long mark_of(blobstore *bs, const char *digest)
{
	char *p = bs_local_path(bs, digest);
	struct stat st;
	long long m = p && stat(p, &st) == 0 ? (long long)st.st_mtime : -1;
	free(p);
	return m;
}

static int stored(blobstore *bs, const char *digest)
{
	return bs_stat(bs, digest, NULL) == BS_OK;
}

/* Store content through an upload (alg sha256 or sha512) and date its mark age seconds back. Returns
 * the digest (caller frees). */
static char *store(blobstore *bs, const char *alg, const char *content, long long age)
{
	char id[BS_UPLOAD_ID_LEN + 1], etag[BS_ETAG_LEN + 1], digest[140];
	size_t len = strlen(content);
	digest_of(alg, content, len, digest);
	mem_reader m = {(const unsigned char *)content, len, 0};
	bs_part part = {1, etag};
	if (bs_initiate(bs, "pending", id) != BS_OK || bs_put_part(bs, id, 1, mem_read, &m, etag) != BS_OK ||
	    bs_complete(bs, id, digest, &part, 1, NULL) != BS_OK)
		diag("cannot store %s", content);
	if (age)
		set_mark(bs, digest, (long long)time(NULL) - age);
	return strdup(digest);
}

/* What bs_list reports, as digest -> [size, mark]. */
static int listed(void *ctx, const char *digest, long long size, long long mark)
{
	json_object *a = json_object_new_array();
	json_object_array_add(a, json_object_new_int64(size));
	json_object_array_add(a, json_object_new_int64(mark));
	json_object_object_add(ctx, digest, a);
	return 0;
}

static int uploads_listed(void *ctx, const char *upload_id, const char *hint)
{
	json_object_object_add(ctx, upload_id, json_object_new_string(hint));
	return 0;
}

static void store_primitives(const char *dir)
{
	char root[512], *err = NULL;
	snprintf(root, sizeof root, "%s/prim", dir);
	blobstore *bs = blobstore_fs_open(root, 0, &err);
	ok(bs != NULL, "a filesystem store: %s", err ? err : "ok");
	if (!bs)
		return;
	long long now = (long long)time(NULL);
	char *a = store(bs, "sha256", "blob a", 0), *b = store(bs, "sha512", "blob b", 0);
	set_mark(bs, a, now - 3 * DAY); /* from this now: store() reads the clock again */
	json_object *all = json_object_new_object(), *v;
	ok(bs_list(bs, listed, all) == 0 && json_object_object_length(all) == 2, "list: both blobs (sha256 and sha512)");
	ok(json_object_object_get_ex(all, a, &v) && json_object_get_int64(json_object_array_get_idx(v, 0)) == 6 &&
		   json_object_get_int64(json_object_array_get_idx(v, 1)) == now - 3 * DAY,
	   "list: the sha256 blob's size and mark");
	ok(json_object_object_get_ex(all, b, &v) && json_object_get_int64(json_object_array_get_idx(v, 1)) >= now,
	   "list: the sha512 blob, marked when it was stored");
	json_object_put(all);

	/* a stray file in the tree is not a blob */
	char stray[700];
	snprintf(stray, sizeof stray, "%s/blobs/sha256/%.2s/notes.txt", root, a + 7);
	FILE *f = fopen(stray, "w");
	if (f)
		fclose(f);
	all = json_object_new_object();
	ok(bs_list(bs, listed, all) == 0 && json_object_object_length(all) == 2, "list: other files are ignored");
	json_object_put(all);

	char id[BS_UPLOAD_ID_LEN + 1], id2[BS_UPLOAD_ID_LEN + 1];
	bs_initiate(bs, "pending", id); /* not a digest: listed too, with its hint */
	bs_initiate(bs, "sha256:" HEX("f"), id2);
	json_object *ups = json_object_new_object();
	ok(bs_list_uploads(bs, uploads_listed, ups) == 0 && json_object_object_length(ups) == 2 &&
		   strcmp(jsonget_str(ups, id2), "sha256:" HEX("f")) == 0,
	   "list_uploads: each open upload with its hint");
	json_object_put(ups);

	/* marks */
	is_int(bs_touch(bs, a, now - 3600), BS_OK, "touch of an old blob");
	ok(mark_of(bs, a) >= now, "its mark is now");
	set_mark(bs, a, now - 600);
	ok(bs_touch(bs, a, now - 3600) == BS_OK && mark_of(bs, a) == now - 600,
	   "a blob marked since the cutoff is left alone");
	is_int(bs_touch(bs, "sha256:" HEX("0"), now), BS_NOT_FOUND, "touch of an absent blob: BS_NOT_FOUND");
	is_int(bs_touch(bs, "sha256:../x", now), BS_INVALID_DIGEST, "touch of a malformed digest");

	/* removal */
	int removed = 7;
	long long size = 0;
	set_mark(bs, a, now - DAY);
	ok(bs_remove(bs, a, now - 2 * DAY, &removed, &size) == BS_OK && removed == 0 && stored(bs, a) &&
		   mark_of(bs, a) == now - DAY,
	   "remove: a blob marked after the cutoff is put back, mark kept");
	int fd = -1;
	char *path = bs_local_path(bs, a);
	fd = open(path, O_RDONLY);
	ok(bs_remove(bs, a, now - DAY, &removed, &size) == BS_OK && removed == 1 && size == 6 && !stored(bs, a),
	   "remove: a blob marked at the cutoff goes (6 bytes)");
	char got[16] = {0};
	ok(fd >= 0 && read(fd, got, sizeof got) == 6 && memcmp(got, "blob a", 6) == 0, "a reader that had it open reads on");
	if (fd >= 0)
		close(fd);
	ok(bs_remove(bs, a, now, &removed, &size) == BS_NOT_FOUND && removed == 0, "remove again: BS_NOT_FOUND");
	char tmpdir[600];
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", root);
	int left = 0;
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		left += e->d_name[0] != '.';
	if (d)
		closedir(d);
	is_int(left, 0, "nothing is left in tmp/");

	/* stored again: the mark restarts, even when the bytes were on disk already */
	set_mark(bs, b, now - 5 * DAY);
	free(store(bs, "sha512", "blob b", 0));
	ok(mark_of(bs, b) >= now, "storing the same bytes again marks the blob now");

	/* start-up removes crash leftovers in tmp/, not what another process is assembling now */
	char fresh[700], stale[700];
	snprintf(fresh, sizeof fresh, "%s/fresh", tmpdir);
	snprintf(stale, sizeof stale, "%s/stale", tmpdir);
	fclose(fopen(fresh, "w"));
	fclose(fopen(stale, "w"));
	struct timespec old[2] = {{(time_t)(now - 2 * 3600), 0}, {(time_t)(now - 2 * 3600), 0}};
	utimensat(AT_FDCWD, stale, old, 0);
	blobstore *again = blobstore_fs_open(root, 0, &err);
	ok(again && access(fresh, F_OK) == 0 && access(stale, F_OK) != 0,
	   "opening the store removes tmp/ files older than an hour only");
	if (again)
		bs_close(again);

	/* getBlob's mark: at most hourly, at half a shorter grace period, never with a grace of 0 */
	set_mark(bs, b, now - 7200);
	ok(gc_blob_asked(bs, b, 0, now) == BS_OK && mark_of(bs, b) == now - 7200, "asked for with grace 0: no mark");
	ok(gc_blob_asked(bs, b, DAY, now) == BS_OK && mark_of(bs, b) >= now,
	   "asked for 2 h after its mark (grace 1 day): marked");
	set_mark(bs, b, now - 1800);
	ok(gc_blob_asked(bs, b, DAY, now) == BS_OK && mark_of(bs, b) == now - 1800, "30 min after its mark: left alone");
	ok(gc_blob_asked(bs, b, 600, now) == BS_OK && mark_of(bs, b) >= now, "grace 600 s: marked 30 min on");
	is_int(gc_blob_asked(bs, "sha256:" HEX("0"), DAY, now), BS_NOT_FOUND, "asked for a blob that is gone: BS_NOT_FOUND");
	free(path);
	free(a);
	free(b);
	free(err);
	bs_close(bs);
}

static void manifest_refs(void)
{
	char *did, *rkey, *digest;
	ok(gc_manifest_ref("at://did:plc:abc/io.atcr.manifest/" HEX("a"), &did, &rkey, &digest) == 0 &&
		   strcmp(did, "did:plc:abc") == 0 && strcmp(rkey, HEX("a")) == 0 && strcmp(digest, "sha256:" HEX("a")) == 0,
	   "the hold's at-uri: DID, key, and the sha256 digest its key spells");
	free(did), free(rkey), free(digest);
	ok(gc_manifest_ref("at://did:web:localhost%3A8080/io.atcr.manifest/" HEX("b") HEX("c"), &did, &rkey, &digest) == 0 &&
		   strcmp(did, "did:web:localhost%3A8080") == 0 && strcmp(digest, "sha512:" HEX("b") HEX("c")) == 0,
	   "128 hex: a sha512 digest; did:web with a port");
	free(did), free(rkey), free(digest);
	ok(gc_manifest_ref("at://did:plc:abc/io.atcr.manifest/3lbxyz2abcd22", &did, &rkey, &digest) == 0 &&
		   strcmp(rkey, "3lbxyz2abcd22") == 0 && digest == NULL,
	   "a TID key: no digest");
	free(did), free(rkey), free(digest);
	ok(gc_manifest_ref("at://did:plc:abc/io.atcr.manifest/" HEX("A"), &did, &rkey, &digest) == 0 && digest == NULL,
	   "upper-case hex is no digest of ours");
	free(did), free(rkey), free(digest);
	static const char *const bad[] = {
		"at://did:plc:abc/io.atcr.tag/x", "at://did:plc:abc/io.atcr.manifest/", "at://did:plc:abc",
		"https://did:plc:abc/io.atcr.manifest/x", "at://alice.test/io.atcr.manifest/x",
		"at://did:plc:abc/io.atcr.manifest/a/b", "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok(gc_manifest_ref(bad[i], &did, &rkey, &digest) == -1 && !did && !rkey && !digest, "not a manifest at-uri: '%s'",
		   bad[i]);
	ok(gc_manifest_ref(NULL, &did, &rkey, &digest) == -1, "NULL");
}

/* ---- a fixture hold and its users' PDS */

static hold_ctx hold;
/* Record blocks, not the head commit's and its MST nodes (repo.c), which change with every commit. */
#define RECORD_BLOCKS "SELECT count(*) FROM blocks WHERE cid NOT IN (SELECT cid FROM repo_blocks)"
static char hold_did[] = "did:web:hold.test";
static mini_httpd pds;
static char alice[128], bob[128], carol[128], dave[128], erin[128];
static char *c1, *c4, *c8; /* config digests the PDS's records name */
static int notes;          /* notifications the PDS thread made while listing */

#define URI(who, key) buf_strf("at://%s/io.atcr.manifest/%s", who, key)

static void doc_for(const char *did, const char *pds_url, char *body, size_t size)
{
	snprintf(body, size,
		 "{\"id\":\"%s\",\"verificationMethod\":[{\"id\":\"%s#atproto\",\"type\":\"Multikey\",\"controller\":\"%s\","
		 "\"publicKeyMultibase\":\"" K256_MULTIKEY "\"}],\"service\":[{\"id\":\"#atproto_pds\","
		 "\"type\":\"AtprotoPersonalDataServer\",\"serviceEndpoint\":\"%s\"}]}",
		 did, did, did, pds_url);
}

static void record_for(const char *digest, const char *config_digest, char *body, size_t size)
{
	snprintf(body, size,
		 "{\"uri\":\"at://x/io.atcr.manifest/y\",\"cid\":\"bafyx\",\"value\":{\"$type\":\"io.atcr.manifest\","
		 "\"digest\":\"%s\",\"config\":{\"digest\":\"%s\",\"size\":2}}}",
		 digest, config_digest);
}

static void pds_answer(const char *line, int *status, char *body, size_t size)
{
	char self[64], rec[1024], rec2[1024];
	snprintf(self, sizeof self, "http://127.0.0.1:%d", pds.port);
	*status = 200;
	if (strstr(line, "GET /u/alice/did.json ")) {
		doc_for(alice, self, body, size);
	} else if (strstr(line, "GET /u/bob/did.json ")) {
		doc_for(bob, "http://127.0.0.1:1", body, size); /* nothing listens there */
	} else if (strstr(line, "GET /u/dave/did.json ")) {
		doc_for(dave, self, body, size);
	} else if (strstr(line, "GET /u/erin/did.json ")) {
		doc_for(erin, self, body, size);
	} else if (strstr(line, "/xrpc/com.atproto.repo.getRecord?") && strstr(line, "rkey=" HEX("3"))) {
		*status = 500;
		snprintf(body, size, "{\"error\":\"InternalServerError\",\"message\":\"disk on fire\"}");
	} else if (strstr(line, "/xrpc/com.atproto.repo.getRecord?") && strstr(line, "u%3Adave") &&
		   strstr(line, "rkey=" HEX("d"))) {
		record_for("sha256:" HEX("d"), c8, body, size);
	} else if (strstr(line, "/xrpc/com.atproto.repo.getRecord?")) {
		*status = 400;
		snprintf(body, size, "{\"error\":\"RecordNotFound\",\"message\":\"Could not locate record\"}");
	} else if (strstr(line, "/xrpc/com.atproto.repo.listRecords?") && strstr(line, "u%3Aalice")) {
		if (!strstr(line, "cursor=")) {
			/* a push of manifest 5 arrives while the collection looks: notifyManifest's write */
			char *uri = URI(alice, HEX("5")), *err = NULL;
			sqlite3 *db = hold_db(&hold);
			if (db && gc_note_manifest(db, uri, alice, NULL, (long long)time(NULL), &err) == 0)
				notes++;
			free(uri);
			free(err);
			record_for("sha256:" HEX("1"), c1, rec, sizeof rec);
			snprintf(body, size, "{\"records\":[%s],\"cursor\":\"page2\"}", rec);
		} else {
			record_for("sha256:" HEX("4"), c4, rec, sizeof rec);
			record_for("sha256:" HEX("9"), "sha256:" HEX("9"), rec2, sizeof rec2); /* another manifest of hers */
			snprintf(body, size, "{\"records\":[%s,%s]}", rec, rec2);
		}
	} else if (strstr(line, "/xrpc/com.atproto.repo.listRecords?")) {
		snprintf(body, size, "{\"records\":[]}");
	} else {
		*status = 404;
		snprintf(body, size, "{\"error\":\"NotFound\"}");
	}
}

/* A layer record and its row, as notifyManifest writes them. */
static void layer(sqlite3 *db, const char *rkey, const char *uri, const char *user, const char *digest)
{
	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.layer"));
	json_object_object_add(rec, "digest", json_object_new_string(digest));
	json_object_object_add(rec, "size", json_object_new_int64(7));
	json_object_object_add(rec, "mediaType", json_object_new_string("application/vnd.oci.image.layer.v1.tar"));
	json_object_object_add(rec, "manifest", json_object_new_string(uri));
	json_object_object_add(rec, "userDid", json_object_new_string(user));
	json_object_object_add(rec, "createdAt", json_object_new_string("2026-11-23T09:00:00.000Z"));
	char *err = NULL;
	if (hold_put_record(&hold, "io.atcr.hold.layer", rkey, rec, NULL, &err) != 0)
		diag("layer record: %s", err);
	free(err);
	json_object_put(rec);
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO layers (rkey, manifest, user_did, digest, size) VALUES (?,?,?,?,7)");
	sqlite3_bind_text(st, 1, rkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, digest, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
}

static long long count(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	return n;
}

/* One collection; its report in *text (caller frees). */
static int collect(int dry_run, long long grace, gc_report *rep, char **text)
{
	char *buf = NULL, *err = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	gc_options o = {.dry_run = dry_run, .grace = grace, .out = out};
	int rc = gc_run(&hold, &o, rep, &err);
	fclose(out);
	if (rc != 0)
		diag("gc_run: %s", err ? err : "?");
	free(err);
	*text = buf;
	return rc;
}

static int says(const char *text, const char *line)
{
	int found = text && strstr(text, line) != NULL;
	if (!found)
		diag("the report does not say: %s", line);
	return found;
}

/* The fixture's blobs, by what names them. */
enum { L1, LS, L2, L3, L4, L5, L6, L7, L8, L9, C2, C3, C6, C7, PEND, UPL, YOUNG, ORPHAN, ORPHAN512, NBLOBS };

static void collections(const char *dir)
{
	char path[512], root[512], *err = NULL, *text = NULL;
	snprintf(path, sizeof path, "%s/hold.db", dir);
	snprintf(root, sizeof root, "%s/blobs", dir);
	sqlite3 *setup = hold_db_open(path, &err);
	ok(setup != NULL, "a hold database with the manifests table (migration 5): %s", err ? err : "ok");
	db_close(setup);
	blobstore *bs = blobstore_fs_open(root, 0, &err);
	ok(bs != NULL && mini_httpd_start(&pds, pds_answer) == 0, "the store, and a PDS on 127.0.0.1:%d", pds.port);
	if (!bs)
		return;
	/* Its key signs the commit every change to the records makes (repo.c). */
	hold = (hold_ctx){.owner = OWNER, .db_path = path, .blobs = bs, .did = hold_did, .key = crypto_key_generate(CRYPTO_K256),
			  .ident = {.plc_url = "http://127.0.0.1:1", .test_mode = 1, .timeout_s = 5}};
	sqlite3 *db = hold_db(&hold);
	snprintf(alice, sizeof alice, "did:web:127.0.0.1%%3A%d:u:alice", pds.port);
	snprintf(bob, sizeof bob, "did:web:127.0.0.1%%3A%d:u:bob", pds.port);
	snprintf(carol, sizeof carol, "did:web:127.0.0.1%%3A%d:u:carol", pds.port);
	snprintf(dave, sizeof dave, "did:web:127.0.0.1%%3A%d:u:dave", pds.port);
	snprintf(erin, sizeof erin, "did:web:127.0.0.1%%3A%d:u:erin", pds.port);

	/* every blob two days old unless said otherwise */
	static const struct {
		const char *alg, *content;
		long long age;
	} made[NBLOBS] = {
		[L1] = {"sha256", "layer 1", 2 * DAY},   [LS] = {"sha256", "shared layer", 2 * DAY},
		[L2] = {"sha256", "layer 2", 2 * DAY},   [L3] = {"sha256", "layer 3", 2 * DAY},
		[L4] = {"sha256", "layer 4", 2 * DAY},   [L5] = {"sha256", "layer 5", 2 * DAY},
		[L6] = {"sha256", "layer 6", 2 * DAY},   [L7] = {"sha256", "layer 7", 2 * DAY},
		[L8] = {"sha256", "layer 8", 2 * DAY},   [L9] = {"sha256", "layer 9", 2 * DAY},
		[C2] = {"sha256", "config 2", 2 * DAY},  [C3] = {"sha256", "config 3", 2 * DAY},
		[C6] = {"sha256", "config 6", 2 * DAY},  [C7] = {"sha256", "config 7", 2 * DAY},
		[PEND] = {"sha256", "pending", 2 * DAY}, [UPL] = {"sha256", "uploading", 2 * DAY},
		[YOUNG] = {"sha256", "young", 3600},     [ORPHAN] = {"sha256", "orphan", 2 * DAY},
		[ORPHAN512] = {"sha512", "orphan 512", 2 * DAY},
	};
	char *b[NBLOBS];
	for (int i = 0; i < NBLOBS; i++)
		b[i] = store(bs, made[i].alg, made[i].content, made[i].age);
	c1 = store(bs, "sha256", "config 1", 2 * DAY);
	c4 = store(bs, "sha256", "config 4", 2 * DAY);
	c8 = store(bs, "sha256", "config 8", 2 * DAY);

	char *ma1 = URI(alice, HEX("1")), *ma2 = URI(alice, HEX("2")), *ma3 = URI(alice, HEX("3")),
	     *ma4 = URI(alice, HEX("4")), *ma5 = URI(alice, HEX("5")), *mb1 = URI(bob, HEX("b")),
	     *mc1 = URI(carol, HEX("c")), *md1 = URI(dave, HEX("d")), *me1 = URI(erin, "3lbxyz2abcd22");
	long long long_ago = (long long)time(NULL) - 3 * DAY;
	/* alice: 1 present (listed), 2 gone (sharing a layer with 1), 3 her PDS fails on, 4 present and
	 * pushed before the hold recorded configs, 5 gone but pushed again while the collection looks */
	layer(db, "3l1", ma1, alice, b[L1]);
	layer(db, "3l2", ma1, alice, b[LS]);
	layer(db, "3l3", ma2, alice, b[L2]);
	layer(db, "3l4", ma2, alice, b[LS]);
	layer(db, "3l5", ma3, alice, b[L3]);
	layer(db, "3l6", ma4, alice, b[L4]);
	layer(db, "3l7", ma5, alice, b[L5]);
	/* bob: his PDS does not answer; carol: her DID does not resolve; dave: his record keyed by the digest;
	 * erin: a manifest named by a record key that is gone */
	layer(db, "3l8", mb1, bob, b[L6]);
	layer(db, "3l9", mc1, carol, b[L7]);
	layer(db, "3la", md1, dave, b[L8]);
	layer(db, "3lb", me1, erin, b[L9]);
	ok(gc_note_manifest(db, ma1, alice, c1, long_ago, &err) == 0 &&
		   gc_note_manifest(db, ma2, alice, b[C2], long_ago, &err) == 0 &&
		   gc_note_manifest(db, ma3, alice, b[C3], long_ago, &err) == 0 &&
		   gc_note_manifest(db, ma5, alice, NULL, long_ago, &err) == 0 &&
		   gc_note_manifest(db, mb1, bob, b[C6], long_ago, &err) == 0 &&
		   gc_note_manifest(db, mc1, carol, b[C7], long_ago, &err) == 0,
	   "notifyManifest's records of configs and pushes: %s", err ? err : "ok");
	ok(gc_note_manifest(db, ma3, alice, NULL, long_ago, &err) == 0 &&
		   count(db, "SELECT count(*) FROM manifests WHERE config IS NOT NULL AND manifest = ?", ma3) == 1,
	   "a later note without a config keeps the one known");
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO pending_blobs (user_did, digest, size, at) VALUES (?, ?, 7, 0)");
	sqlite3_bind_text(st, 1, alice, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b[PEND], -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
	char upload[BS_UPLOAD_ID_LEN + 1];
	bs_initiate(bs, b[UPL], upload); /* an upload that named its digest at the start */
	long long records = count(db, "SELECT count(*) FROM records WHERE collection = 'io.atcr.hold.layer'", NULL);
	long long blocks = count(db, RECORD_BLOCKS, NULL);
	ok(records == 11 && blocks >= 11, "11 layer records in %lld blocks", blocks);

	/* ---- a dry run */
	gc_report rep;
	ok(collect(1, DAY, &rep, &text) == 0, "a dry run");
	ok(says(text, "dry run: nothing is deleted\n"), "it says it is one");
	is_int(rep.manifests, 9, "9 manifests checked");
	ok(rep.present == 3 && rep.gone == 3 && rep.undecided == 3,
	   "present 3 (1, 4, dave's), gone 3 (2, 5, erin's), undecided 3 (%lld %lld %lld)", rep.present, rep.gone,
	   rep.undecided);
	char line[1024];
	snprintf(line, sizeof line, "manifest %s: gone; would remove 2 layer records\n", ma2);
	ok(says(text, line), "manifest 2: gone, its two layer records would go");
	snprintf(line, sizeof line, "manifest %s: gone; would remove 1 layer records\n", me1);
	ok(says(text, line), "erin's manifest (RecordNotFound at its own key): gone");
	snprintf(line, sizeof line,
		 "manifest %s: kept: %s's PDS http://127.0.0.1:%d answered getRecord with 500 InternalServerError: "
		 "disk on fire\n",
		 ma3, alice, pds.port);
	ok(says(text, line), "manifest 3: kept, the PDS's error named");
	snprintf(line, sizeof line, "manifest %s: kept: %s's PDS http://127.0.0.1:1 did not answer getRecord: ", mb1, bob);
	ok(says(text, line), "bob's manifest: kept, his PDS did not answer");
	snprintf(line, sizeof line, "manifest %s: kept: %s does not resolve: ", mc1, carol);
	ok(says(text, line), "carol's manifest: kept, her DID does not resolve");
	is_int(rep.layer_records, 4, "4 layer records would go (2 of manifest 2, 5's, erin's)");
	is_int(rep.blobs, 6, "6 blobs would go");
	char *would[] = {b[L2], b[C2], b[L5], b[L9], b[ORPHAN], b[ORPHAN512]};
	for (size_t i = 0; i < 6; i++) {
		snprintf(line, sizeof line, "blob %s: would remove (", would[i]);
		ok(says(text, line), "named: %.20s", would[i]);
	}
	is_int(rep.blobs_young, 1, "one blob within the grace period");
	is_int(rep.blobs_pending, 2, "two pending or uploading");
	is_int(rep.blocks, 4, "the 4 layer records' blocks would be pruned");
	ok(says(text, "blobs to remove: 6, ") && says(text, "layer records to remove: 4\n") &&
		   says(text, "record blocks to prune: 4\n"),
	   "the summary's dry-run words");
	int all_there = 1;
	for (int i = 0; i < NBLOBS; i++)
		all_there &= stored(bs, b[i]);
	ok(all_there && count(db, "SELECT count(*) FROM records WHERE collection = 'io.atcr.hold.layer'", NULL) == 11 &&
		   count(db, RECORD_BLOCKS, NULL) == blocks && count(db, "SELECT count(*) FROM layers", NULL) == 11,
	   "the dry run changed nothing: blobs, records, rows, blocks");
	ok(count(db, "SELECT count(*) FROM manifests WHERE manifest = ?", ma4) == 0, "nor recorded manifest 4's config");
	free(text);

	/* ---- the collection */
	int notes_before = notes;
	ok(collect(0, DAY, &rep, &text) == 0, "a collection");
	ok(notes > notes_before, "manifest 5 was pushed again while its owner's records were listed");
	ok(rep.present == 4 && rep.gone == 2 && rep.undecided == 3, "present 4, gone 2, undecided 3 (%lld %lld %lld)",
	   rep.present, rep.gone, rep.undecided);
	snprintf(line, sizeof line, "manifest %s: pushed again during the collection; kept\n", ma5);
	ok(says(text, line), "manifest 5 kept: pushed again during the collection");
	snprintf(line, sizeof line, "manifest %s: gone; removed 2 layer records\n", ma2);
	ok(says(text, line), "manifest 2's two layer records removed");
	is_int(rep.layer_records, 3, "3 layer records removed");
	ok(count(db, "SELECT count(*) FROM layers WHERE manifest = ?", ma2) == 0 &&
		   count(db, "SELECT count(*) FROM layers WHERE manifest = ?", me1) == 0 &&
		   count(db, "SELECT count(*) FROM manifests WHERE manifest = ?", ma2) == 0,
	   "their rows are gone, and manifest 2's config row");
	ok(count(db, "SELECT count(*) FROM records WHERE collection = 'io.atcr.hold.layer'", NULL) == 8 &&
		   count(db, "SELECT count(*) FROM layers", NULL) == 8,
	   "8 layer records and rows stay");
	ok(recstore_get(db, "io.atcr.hold.layer", "3l3", NULL) == NULL, "the records themselves are gone");
	is_int(rep.blocks, 3, "their 3 blocks pruned");
	is_int(count(db, RECORD_BLOCKS, NULL), blocks - 3, "3 fewer blocks");
	is_int(count(db, "SELECT count(*) FROM repo_head WHERE cid IS NOT NULL AND stale = 0", NULL), 1,
	       "the removal made a commit: the head is current");
	is_int(count(db, "SELECT count(*) FROM manifests WHERE manifest = ?", ma4), 1,
	       "manifest 4's config is recorded now, learned from its record");
	is_int(rep.blobs, 5, "5 blobs removed");
	char *gone_blobs[] = {b[L2], b[C2], b[L9], b[ORPHAN], b[ORPHAN512]};
	long long freed = 0;
	for (size_t i = 0; i < 5; i++) {
		snprintf(line, sizeof line, "blob %s: removed (", gone_blobs[i]);
		ok(says(text, line) && !stored(bs, gone_blobs[i]), "removed: %.20s", gone_blobs[i]);
	}
	freed = (long long)(strlen("layer 2") + strlen("config 2") + strlen("layer 9") + strlen("orphan") +
			    strlen("orphan 512"));
	is_int(rep.bytes, freed, "bytes freed: their sizes");
	const struct {
		const char *digest, *why;
	} kept[] = {
		{b[L1], "layer of a present manifest"},
		{b[LS], "layer shared with a present manifest"},
		{b[L3], "layer of an undecided manifest"},
		{b[L4], "layer of a present manifest pushed before configs were recorded"},
		{b[L5], "layer of the manifest pushed again"},
		{b[L6], "bob's layer"},
		{b[L7], "carol's layer"},
		{b[L8], "dave's layer"},
		{b[C3], "config of an undecided manifest"},
		{b[C6], "bob's config"},
		{b[C7], "carol's config"},
		{b[PEND], "a pending blob"},
		{b[UPL], "an open upload's digest"},
		{b[YOUNG], "a young blob"},
		{c1, "config of a present manifest"},
		{c4, "config learned from a record"},
		{c8, "dave's config, from his record"},
	};
	for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
		ok(stored(bs, kept[i].digest), "kept: %s", kept[i].why);
	ok(says(text, "blobs removed: 5, ") && says(text, "layer records removed: 3\n") &&
		   says(text, "record blocks pruned: 3\n"),
	   "the summary");
	free(text);

	/* ---- again: nothing more */
	ok(collect(0, DAY, &rep, &text) == 0 && rep.gone == 0 && rep.layer_records == 0 && rep.blobs == 0 && rep.blocks == 0,
	   "a second collection removes nothing");
	ok(says(text, "blobs removed: 0, 0 bytes freed\n"), "and says so");
	free(text);

	/* ---- grace 0: the young blob goes, the pending and uploading ones stay */
	ok(collect(0, 0, &rep, &text) == 0 && rep.blobs == 1 && !stored(bs, b[YOUNG]) && stored(bs, b[PEND]) &&
		   stored(bs, b[UPL]),
	   "grace 0: the young orphan goes; pending and uploading blobs stay");
	free(text);

	/* ---- an undecided manifest whose config the hold never recorded: no blob is swept */
	char *stray = store(bs, "sha256", "stray", 2 * DAY);
	st = db_prepare(db, "DELETE FROM manifests WHERE manifest = ?");
	sqlite3_bind_text(st, 1, mb1, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
	ok(collect(0, DAY, &rep, &text) == 0 && rep.blobs_skipped && rep.blobs == 0 && stored(bs, stray),
	   "bob's manifest undecided and its config unknown: the sweep is skipped");
	ok(says(text, "blobs: not swept: 1 undecided manifests have a config blob the hold never recorded\n"), "and says why");
	free(text);

	/* ---- deleteUserData forgets the user's manifests */
	is_int(gc_forget_user(db, alice, &err), 4, "gc_forget_user: alice's 4 manifest rows (1, 3, 4, 5)");
	is_int(count(db, "SELECT count(*) FROM manifests WHERE user_did = ?", alice), 0, "none of hers left");

	/* ---- the deleting transaction checks again */
	int removed = 0;
	long long size = 0, now = (long long)time(NULL);
	layer(db, "3lz", ma1, alice, stray);
	ok(gc_collect_blob(db, bs, stray, now - DAY, &removed, &size, &err) == 0 && !removed && stored(bs, stray),
	   "a blob a layer record names since the scan stays");
	manifest_layer_delete(db, "3lz", &err);
	gc_note_manifest(db, ma1, alice, stray, now, &err);
	ok(gc_collect_blob(db, bs, stray, now - DAY, &removed, &size, &err) == 0 && !removed && stored(bs, stray),
	   "one a manifest's config names since the scan stays");
	gc_forget_user(db, alice, &err);
	st = db_prepare(db, "INSERT INTO pending_blobs (user_did, digest, size, at) VALUES ('did:plc:x', ?, 5, 0)");
	sqlite3_bind_text(st, 1, stray, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
	ok(gc_collect_blob(db, bs, stray, now - DAY, &removed, &size, &err) == 0 && !removed && stored(bs, stray),
	   "one that became pending stays");
	db_exec(db, "DELETE FROM pending_blobs", &err);
	gc_blob_asked(bs, stray, DAY, now);
	ok(gc_collect_blob(db, bs, stray, now - DAY, &removed, &size, &err) == 0 && !removed && stored(bs, stray),
	   "one asked for since the scan stays");
	set_mark(bs, stray, now - 2 * DAY);
	ok(gc_collect_blob(db, bs, stray, now - DAY, &removed, &size, &err) == 0 && removed && size == 5 && !stored(bs, stray),
	   "and with nothing naming it, old, it goes");
	ok(gc_collect_blob(db, bs, stray, now - DAY, &removed, &size, &err) == 0 && !removed,
	   "a blob already gone: nothing to do");

	mini_httpd_stop(&pds);
	for (int i = 0; i < NBLOBS; i++)
		free(b[i]);
	free(c1), free(c4), free(c8), free(stray);
	free(ma1), free(ma2), free(ma3), free(ma4), free(ma5), free(mb1), free(mc1), free(md1), free(me1);
	free(err);
	bs_close(bs);
	crypto_key_free(hold.key);
}

/* The collections run in a thread of their own: hold_db's per-thread connection closes when it ends. */
static void *run(void *dir)
{
	collections(dir);
	http_thread_cleanup();
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/atcr-test-gc.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char *err = NULL;
	if (log_setup("error", "text", "", &err) != 0) /* the collections' warnings are what the tests ask for */
		diag("log_setup: %s", err ? err : "?");
	free(err);
	manifest_refs();
	store_primitives(dir);
	pthread_t t;
	pthread_create(&t, NULL, run, dir);
	pthread_join(t, NULL);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return tap_done();
}
