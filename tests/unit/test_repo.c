/* test_repo.c - the hold's signed commits (hold/repo.c): the first commit of an empty repo, one commit
 * per change through the hold's own write paths (crew_put, crew_set_tier, userdata_erase) and none when
 * nothing changed, the commit's fields and its signature checked with lib/crypto (and refused with another
 * key or altered bytes), revs strictly increasing even after a later rev from elsewhere, the data root
 * equal to the MST of the records, pruning keeping the head's blocks, an erased user's keys gone from
 * every block, and the time one commit takes over 5000 records. */
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "car.h"
#include "cid.h"
#include "crypto.h"
#include "dagcbor.h"
#include "db.h"
#include "encoding.h"
#include "hold.h"
#include "mst.h"
#include "recstore.h"
#include "tap.h"
#include "tid.h"

#define HOLD_DID "did:web:hold.example"
#define OWNER "did:plc:owner000000000000000000"
#define ALICE "did:plc:alice000000000000000000"
#define BOB "did:plc:bob00000000000000000000"
#define EMPTY_ROOT "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"

typedef struct {
	char *cid, *rev;
	json_object *commit; /* decoded */
	buf_t bytes;
} head_t;

static void head_free(head_t *hd)
{
	free(hd->cid);
	free(hd->rev);
	json_object_put(hd->commit);
	buf_free(&hd->bytes);
	memset(hd, 0, sizeof *hd);
}

static int read_head(sqlite3 *db, head_t *hd)
{
	char *err = NULL;
	memset(hd, 0, sizeof *hd);
	int rc = recstore_head(db, &hd->cid, &hd->rev, NULL, &err) == 0 && hd->cid &&
		 recstore_get_block(db, hd->cid, &hd->bytes) == 1 &&
		 (hd->commit = dagcbor_decode(hd->bytes.data, hd->bytes.len, &err)) != NULL;
	if (!rc)
		diag("head: %s", err ? err : "missing");
	free(err);
	return rc;
}

/* 1 when the commit's sig verifies with key over the DAG-CBOR of the commit without sig. */
static int sig_ok(json_object *commit, const crypto_key *key)
{
	json_object *copy = NULL, *sig;
	unsigned char *raw = NULL;
	size_t len = 0;
	buf_t unsigned_bytes = BUF_INIT;
	int good = 0;
	if (!json_object_object_get_ex(commit, "sig", &sig) || !json_object_object_get_ex(sig, "$bytes", &sig))
		return 0;
	const char *b64 = json_object_get_string(sig);
	json_object_deep_copy(commit, &copy, NULL);
	json_object_object_del(copy, "sig");
	if (enc_b64_decode(b64, strlen(b64), &raw, &len) == 0 && dagcbor_encode(copy, &unsigned_bytes, NULL) == 0)
		good = crypto_ecdsa_verify(key, unsigned_bytes.data, unsigned_bytes.len, raw, len) == 1;
	free(raw);
	buf_free(&unsigned_bytes);
	json_object_put(copy);
	return good;
}

static const char *field(json_object *o, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

static const char *data_link(json_object *commit)
{
	json_object *d;
	return json_object_object_get_ex(commit, "data", &d) ? field(d, "$link") : NULL;
}

/* The MST root of the records as they are, built here from the records table. */
static char *records_root(sqlite3 *db)
{
	mst_entry *e = NULL;
	size_t n = 0;
	char *err = NULL, *s = NULL;
	mst_tree *t = NULL;
	if (recstore_entries(db, &e, &n, &err) == 0 && (t = mst_build(e, n, &err)))
		s = cid_format(mst_root(t));
	else
		diag("records root: %s", err);
	mst_free(t);
	recstore_entries_free(e, n);
	free(err);
	return s;
}

static json_object *perms(void)
{
	json_object *p = json_object_new_array();
	json_object_array_add(p, json_object_new_string("blob:read"));
	json_object_array_add(p, json_object_new_string("blob:write"));
	return p;
}

static int count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	if (st)
		sqlite3_reset(st);
	return n;
}

/* Count blocks whose bytes contain text (as a blob search). */
static int blocks_containing(sqlite3 *db, const char *text)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM blocks WHERE instr(bytes, CAST(? AS BLOB)) > 0");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_reset(st);
	return n;
}

static int add_block(void *ctx, const char *cid, const void *data, size_t len)
{
	cid_t c;
	return cid_parse(cid, &c) == 0 && car_write_block(ctx, &c, data, len) == 0 ? 0 : -1;
}

/* Every block the head needs is there: its CAR parses (each block checked against its CID) and has the
 * commit and every node of the records' tree. */
static int head_complete(sqlite3 *db, const head_t *hd)
{
	buf_t out = BUF_INIT;
	car_t car;
	cid_t root;
	char *err = NULL;
	int good = cid_parse(hd->cid, &root) == 0 && car_write_header(&out, &root, 1) == 0 &&
		   recstore_head_blocks(db, add_block, &out) == 0 && car_parse(out.data, out.len, &car, &err) == 0;
	if (good) {
		good = car_get(&car, &root) != NULL;
		mst_entry *e = NULL;
		size_t n = 0;
		mst_tree *t = NULL;
		if (recstore_entries(db, &e, &n, &err) == 0 && (t = mst_build(e, n, &err))) {
			for (size_t i = 0; i < mst_block_count(t); i++) {
				const cid_t *cid;
				const unsigned char *data;
				size_t len;
				mst_block(t, i, &cid, &data, &len);
				good &= car_get(&car, cid) != NULL;
			}
			for (size_t i = 0; i < n; i++)
				good &= car_get(&car, &e[i].value) != NULL;
		} else {
			good = 0;
		}
		mst_free(t);
		recstore_entries_free(e, n);
		car_free(&car);
	}
	if (!good)
		diag("head incomplete: %s", err ? err : "a block is missing");
	free(err);
	buf_free(&out);
	return good;
}

static void revs(void)
{
	char a[14], b[14], future[14];
	repo_next_rev(NULL, a);
	ok(tid_decode(a, NULL, NULL) == 0, "a first rev is a TID: %s", a);
	int increasing = 1;
	for (int i = 0; i < 100; i++) {
		repo_next_rev(a, b);
		increasing &= strcmp(b, a) > 0 && tid_decode(b, NULL, NULL) == 0;
		memcpy(a, b, sizeof a);
	}
	ok(increasing, "100 revs, each greater than the one before");
	unsigned long long micros;
	tid_decode(a, &micros, NULL);
	tid_encode(micros + 3600ull * 1000000, 7, future);
	repo_next_rev(future, b);
	ok(strcmp(b, future) > 0 && tid_decode(b, NULL, NULL) == 0, "after a rev an hour ahead (another process, a clock set back): %s > %s", b, future);
}

static void commits(const char *dir)
{
	char path[512], *err = NULL;
	snprintf(path, sizeof path, "%s/hold.db", dir);
	sqlite3 *setup = hold_db_open(path, &err);
	ok(setup != NULL, "a hold database with migration 6: %s", err ? err : "ok");
	db_close(setup);
	crypto_key *key = crypto_key_generate(CRYPTO_K256), *other = crypto_key_generate(CRYPTO_K256);
	crypto_key *pub = crypto_key_public_copy(key);
	hold_ctx h = {.owner = OWNER, .did = HOLD_DID, .db_path = path, .key = key};
	sqlite3 *db = hold_db(&h);
	head_t hd = {0}, prev = {0};
	if (!db)
		goto out;

	/* The first commit of an empty repo. */
	is_int(repo_update(&h, &err), 1, "an empty repo gets its first commit");
	ok(read_head(db, &hd), "the head commit is stored and decodes");
	is_str(field(hd.commit, "did"), HOLD_DID, "did");
	is_str(field(hd.commit, "version"), "3", "version 3");
	is_str(data_link(hd.commit), EMPTY_ROOT, "data: the empty tree's root");
	is_str(field(hd.commit, "rev"), hd.rev, "rev as the head row says");
	json_object *pv = NULL;
	ok(json_object_object_get_ex(hd.commit, "prev", &pv) && pv == NULL, "prev: null");
	is_int(json_object_object_length(hd.commit), 6, "exactly did, version, data, rev, prev, sig");
	ok(sig_ok(hd.commit, pub), "the signature verifies with the hold's public key");
	ok(!sig_ok(hd.commit, other), "and not with another key");
	cid_t actual, claimed;
	cid_of(CID_CODEC_DAG_CBOR, hd.bytes.data, hd.bytes.len, &actual);
	ok(cid_parse(hd.cid, &claimed) == 0 && cid_equal(&actual, &claimed), "the head's CID is its block's hash");
	json_object_object_add(hd.commit, "rev", json_object_new_string("2222222222222"));
	ok(!sig_ok(hd.commit, pub), "an altered commit does not verify");
	is_int(repo_update(&h, &err), 0, "nothing changed: no new commit");
	prev = hd;
	memset(&hd, 0, sizeof hd);

	/* Writes through the hold's own paths each make a commit. */
	json_object *p = perms();
	ok(crew_put(&h, OWNER, "owner", p, &err) == 0 && read_head(db, &hd), "crew_put: %s", err ? err : "ok");
	ok(strcmp(hd.rev, prev.rev) > 0 && strcmp(hd.cid, prev.cid) != 0, "a new commit, rev %s > %s", hd.rev, prev.rev);
	char *root = records_root(db);
	is_str(data_link(hd.commit), root, "its data is the MST root of the records");
	free(root);
	ok(sig_ok(hd.commit, pub), "signed");
	head_free(&prev);
	prev = hd;
	memset(&hd, 0, sizeof hd);
	ok(crew_put(&h, OWNER, "owner", p, &err) == 0 && read_head(db, &hd), "the same crew record again");
	is_str(hd.cid, prev.cid, "no change, no commit");
	head_free(&hd);
	ok(crew_put(&h, ALICE, "write", p, &err) == 0 && crew_put(&h, BOB, "write", p, &err) == 0 &&
		   crew_set_tier(&h, ALICE, "bosun", &err) == 1 && read_head(db, &hd),
	   "three more writes");
	ok(strcmp(hd.rev, prev.rev) > 0, "the head moved on (rev %s)", hd.rev);
	root = records_root(db);
	is_str(data_link(hd.commit), root, "data: the root over owner, alice, bob");
	free(root);
	is_int(count_rows(db, "SELECT count(*) FROM repo_blocks WHERE cid NOT IN (SELECT cid FROM blocks)"), 0,
	       "every block the head names is stored");
	ok(head_complete(db, &hd), "the head's CAR has the commit, every MST node and every record");
	head_free(&prev);
	prev = hd;
	memset(&hd, 0, sizeof hd);

	/* A failing write leaves the head where it was. */
	db_exec(db, "CREATE TEMP TRIGGER fail_head BEFORE INSERT ON main.repo_blocks BEGIN SELECT RAISE(ABORT, 'injected'); END",
		&err);
	ok(crew_put(&h, "did:plc:carol000000000000000000", "write", p, &err) == -1 && err && strstr(err, "injected"),
	   "a write whose commit fails fails: %s", err ? err : "");
	db_exec(db, "DROP TRIGGER fail_head", &err);
	ok(crew_get(db, "did:plc:carol000000000000000000") == NULL, "and its record is not kept");
	ok(read_head(db, &hd) && strcmp(hd.cid, prev.cid) == 0, "the head is unchanged");
	head_free(&hd);

	/* Erasing a user: a new commit, and no block keeps her key, not even an earlier head's node. */
	char alice_key[27];
	hold_hash_rkey(ALICE, alice_key);
	ok(blocks_containing(db, alice_key) > 0, "before: MST nodes name alice's crew key %s", alice_key);
	userdata_erased done;
	ok(userdata_erase(&h, db, ALICE, &done, &err) == 0 && done.crew_deleted == 1, "alice erased: %s", err ? err : "ok");
	ok(read_head(db, &hd) && strcmp(hd.rev, prev.rev) > 0, "a new commit");
	is_int(blocks_containing(db, alice_key), 0, "no block names her key any more");
	ok(head_complete(db, &hd), "the new head's blocks are all there after the prune");
	is_int(recstore_prune(db), 0, "a later prune finds nothing");
	ok(head_complete(db, &hd), "and keeps every block of the head");
	head_free(&hd);

	/* A database with records and no commit (made before commits existed) gets one at start-up. */
	db_exec(db, "UPDATE repo_head SET cid = NULL, rev = NULL, stale = 1; DELETE FROM repo_blocks", &err);
	is_int(repo_update(&h, &err), 1, "records without a commit: one is made");
	ok(read_head(db, &hd) && sig_ok(hd.commit, pub), "signed");
	head_free(&hd);
	json_object_put(p);

	/* The time of one commit over 5000 records (the whole tree is rebuilt for each). */
	db_exec(db, "BEGIN IMMEDIATE", &err);
	int written = 0;
	for (int i = 0; i < 5000; i++) {
		char rkey[14], digest[80];
		tid_encode(1700000000000000ull + (unsigned long long)i * 1000, 1, rkey);
		snprintf(digest, sizeof digest, "sha256:%064d", i);
		json_object *rec = json_object_new_object();
		json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.layer"));
		json_object_object_add(rec, "digest", json_object_new_string(digest));
		json_object_object_add(rec, "size", json_object_new_int64(1000 + i));
		json_object_object_add(rec, "mediaType", json_object_new_string("application/vnd.oci.image.layer.v1.tar+gzip"));
		json_object_object_add(rec, "manifest", json_object_new_string("at://" BOB "/io.atcr.manifest/aa"));
		json_object_object_add(rec, "userDid", json_object_new_string(BOB));
		json_object_object_add(rec, "createdAt", json_object_new_string("2026-11-23T08:30:00.000Z"));
		written += hold_put_record(&h, "io.atcr.hold.layer", rkey, rec, NULL, &err) == 0;
		json_object_put(rec);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int committed = repo_tx_commit(&h, db, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ok(written == 5000 && committed == 0, "5000 layer records and their commit (%s)", err ? err : "ok");
	diag("one commit over %d records: %.1f ms", count_rows(db, "SELECT count(*) FROM records"), ms);
	ok(read_head(db, &hd) && head_complete(db, &hd), "its head is complete");
	root = records_root(db);
	is_str(data_link(hd.commit), root, "and its data is the records' root");
	free(root);
	head_free(&hd);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p = perms();
	ok(crew_put(&h, BOB, "admin", p, &err) == 0, "one more change");
	json_object_put(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag("a crew change with its commit over 5000+ records: %.1f ms",
	     (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
out:
	head_free(&prev);
	crypto_key_free(key);
	crypto_key_free(other);
	crypto_key_free(pub);
	free(err);
}

/* In a thread of its own: hold_db's per-thread connection closes when it ends. */
static void *commits_thread(void *dir)
{
	commits(dir);
	return NULL;
}

int main(void)
{
	revs();
	char dir[] = "/tmp/test_repo.XXXXXX";
	if (!mkdtemp(dir)) {
		ok(0, "a temporary directory");
		return tap_done();
	}
	pthread_t t;
	if (pthread_create(&t, NULL, commits_thread, dir) == 0)
		pthread_join(t, NULL);
	else
		ok(0, "the commit tests ran");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return tap_done();
}
