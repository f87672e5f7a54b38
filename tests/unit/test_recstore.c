/* test_recstore.c - the DAG-CBOR record store: CIDs, validation, replace, paging, delete, pruning blocks;
 * the repository's head: records as sorted MST entries, the stale mark the triggers keep, blocks, moving
 * the head (the earlier head's blocks dropped), pruning that keeps the head's blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"
#include "dagcbor.h"
#include "db.h"
#include "recstore.h"
#include "tap.h"

static int stale_now(sqlite3 *db)
{
	int stale = -1;
	char *err = NULL;
	if (recstore_head(db, NULL, NULL, &stale, &err) != 0)
		diag("head: %s", err);
	free(err);
	return stale;
}

static int count_blocks(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM blocks");
	int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	if (st)
		sqlite3_reset(st);
	return n;
}

static int has_block(sqlite3 *db, const cid_t *cid)
{
	char *s = cid_format(cid);
	buf_t b = BUF_INIT;
	int rc = recstore_get_block(db, s, &b);
	free(s);
	buf_free(&b);
	return rc == 1;
}

/* The blocks recstore_head_blocks visits, as "cid " strings in order. */
static int collect(void *ctx, const char *cid, const void *data, size_t len)
{
	buf_printf(ctx, "%s ", cid);
	return 0;
}

static void head(sqlite3 *db)
{
	char *err = NULL, *cid = NULL, *rev = NULL;
	int stale = -1;
	ok(recstore_head(db, &cid, &rev, &stale, &err) == 0 && !cid && !rev && stale == 1,
	   "before the first commit: no head, and stale");

	mst_entry *e = NULL;
	size_t n = 0;
	ok(recstore_entries(db, &e, &n, &err) == 0 && n == 7, "7 records as MST entries");
	int sorted = 1;
	for (size_t i = 1; i < n; i++)
		sorted &= strcmp(e[i - 1].key, e[i].key) < 0;
	ok(sorted && strcmp(e[0].key, "io.atcr.hold.captain/self") == 0 && strcmp(e[1].key, "io.atcr.hold.layer/k00") == 0,
	   "sorted by collection/rkey: %s, %s", n ? e[0].key : "", n > 1 ? e[1].key : "");
	char *got_cid = NULL;
	json_object_put(recstore_get(db, "io.atcr.hold.captain", "self", &got_cid));
	char *entry_cid = cid_format(&e[0].value);
	is_str(entry_cid, got_cid, "an entry's value is its record's CID");
	free(entry_cid);
	free(got_cid);

	/* Two "heads" of hand-made blocks: a commit and two nodes, then a commit sharing one node. */
	unsigned char c1[] = {0xa1, 0x61, 'a', 0x01}, c2[] = {0xa1, 0x61, 'a', 0x02}, n1[] = {0xa1, 0x61, 'n', 0x01},
		      n2[] = {0xa1, 0x61, 'n', 0x02}, n3[] = {0xa1, 0x61, 'n', 0x03};
	cid_t cc1, cc2, cn1, cn2, cn3;
	cid_of(CID_CODEC_DAG_CBOR, c1, sizeof c1, &cc1);
	cid_of(CID_CODEC_DAG_CBOR, c2, sizeof c2, &cc2);
	cid_of(CID_CODEC_DAG_CBOR, n1, sizeof n1, &cn1);
	cid_of(CID_CODEC_DAG_CBOR, n2, sizeof n2, &cn2);
	cid_of(CID_CODEC_DAG_CBOR, n3, sizeof n3, &cn3);
	int before = count_blocks(db);
	ok(recstore_put_block(db, &cc1, c1, sizeof c1, &err) == 0 && recstore_put_block(db, &cn1, n1, sizeof n1, &err) == 0 &&
		   recstore_put_block(db, &cn2, n2, sizeof n2, &err) == 0 && recstore_put_block(db, &cn2, n2, sizeof n2, &err) == 0,
	   "blocks put (one twice)");
	is_int(count_blocks(db), before + 3, "three more blocks");
	buf_t b = BUF_INIT;
	char *s1 = cid_format(&cc1);
	ok(recstore_get_block(db, s1, &b) == 1 && b.len == sizeof c1 && memcmp(b.data, c1, sizeof c1) == 0, "a block read back");
	buf_free(&b);
	cid_t nodes1[] = {cn1, cn2};
	ok(recstore_set_head(db, s1, "3kaaaaaaaaa22", nodes1, 2, &err) == 0, "head moved (%s)", err ? err : "ok");
	ok(recstore_head(db, &cid, &rev, &stale, &err) == 0 && cid && strcmp(cid, s1) == 0 && rev &&
		   strcmp(rev, "3kaaaaaaaaa22") == 0 && stale == 0,
	   "the head is the commit and rev given, and current");
	free(cid);
	free(rev);

	buf_t order = BUF_INIT, want = BUF_INIT;
	ok(recstore_head_blocks(db, collect, &order) == 0, "the head's blocks visited");
	ok(strncmp(buf_str(&order), s1, strlen(s1)) == 0, "the commit first");
	char *sn1 = cid_format(&cn1), *sn2 = cid_format(&cn2);
	ok(strstr(buf_str(&order), sn1) && strstr(buf_str(&order), sn2), "then the nodes");
	/* 1 commit + 2 nodes + 6 distinct record blocks (k06's is shared by nobody now, k07 is deleted) */
	size_t visited = 0;
	for (const char *p = buf_str(&order); *p; p++)
		visited += *p == ' ';
	is_int(visited, 3 + 7, "and each record's block once");
	buf_free(&order);
	buf_free(&want);

	/* The triggers: a changed record makes the head stale, the same bytes again do not. */
	json_object *captain = recstore_get(db, "io.atcr.hold.captain", "self", NULL);
	recstore_put(db, "io.atcr.hold.captain", "self", captain, NULL, &err);
	is_int(stale_now(db), 0, "the same record put again: the head stays current");
	json_object_object_add(captain, "region", json_object_new_string("eu-west"));
	recstore_put(db, "io.atcr.hold.captain", "self", captain, NULL, &err);
	is_int(stale_now(db), 1, "a changed record: stale");
	recstore_set_head(db, s1, "3kaaaaaaaaa22", nodes1, 2, &err);
	recstore_delete(db, "io.atcr.hold.layer", "k00");
	is_int(stale_now(db), 1, "a deleted record: stale");
	recstore_set_head(db, s1, "3kaaaaaaaaa22", nodes1, 2, &err);
	json_object_put(recstore_get(db, "io.atcr.hold.layer", "k01", NULL));
	json_object *layer = recstore_get(db, "io.atcr.hold.layer", "k01", NULL);
	recstore_put(db, "io.atcr.hold.layer", "k99", layer, NULL, &err);
	is_int(stale_now(db), 1, "a new record: stale");
	json_object_put(layer);
	json_object_put(captain);

	/* Pruning keeps the head's commit and nodes, drops the records' replaced versions. */
	long long pruned = recstore_prune(db);
	ok(pruned == 2, "prune drops the replaced captain and deleted k00 (%lld)", pruned);
	ok(has_block(db, &cc1) && has_block(db, &cn1) && has_block(db, &cn2), "and keeps the head's commit and nodes");

	/* A new head sharing node 2: the old commit and node 1 go, node 2 stays. */
	ok(recstore_put_block(db, &cc2, c2, sizeof c2, &err) == 0 && recstore_put_block(db, &cn3, n3, sizeof n3, &err) == 0,
	   "the next head's blocks");
	char *s2 = cid_format(&cc2);
	cid_t nodes2[] = {cn2, cn3};
	ok(recstore_set_head(db, s2, "3kaaaaaaaab22", nodes2, 2, &err) == 0, "head moved again");
	ok(!has_block(db, &cc1) && !has_block(db, &cn1), "the earlier commit and its node no longer shared are gone");
	ok(has_block(db, &cc2) && has_block(db, &cn2) && has_block(db, &cn3), "the new head's blocks are there");
	is_int(recstore_prune(db), 0, "prune finds nothing more");
	ok(has_block(db, &cc2) && has_block(db, &cn2) && has_block(db, &cn3), "and leaves the head's blocks");
	free(s1);
	free(s2);
	free(sn1);
	free(sn2);
	recstore_entries_free(e, n);
	free(err);
}

int main(void)
{
	char *err = NULL, *cid = NULL;
	sqlite3 *db = db_open(":memory:", 0, &err);
	struct db_migration m[] = {{1, "recstore", recstore_schema_sql}, {2, "commits", recstore_commit_schema_sql}};
	ok(db && db_migrate_with(db, m, 2, &err) == 2, "schema applies: %s", err ? err : "ok");

	json_object *rec = json_tokener_parse("{\"$type\":\"io.atcr.hold.captain\",\"owner\":\"did:plc:abc\","
					      "\"public\":true,\"allowAllCrew\":false,\"deployedAt\":\"2026-11-23T08:00:00.000Z\"}");
	ok(recstore_put(db, "io.atcr.hold.captain", "self", rec, &cid, &err) == 0, "put captain");
	cid_t want;
	dagcbor_cid(rec, &want, NULL, &err);
	char *wants = cid_format(&want);
	is_str(cid, wants, "CID is the dag-cbor CIDv1 of the record");
	ok(cid && strncmp(cid, "bafyrei", 7) == 0, "dag-cbor sha-256 CID prefix");
	free(wants);
	char *got_cid = NULL;
	json_object *got = recstore_get(db, "io.atcr.hold.captain", "self", &got_cid);
	ok(got && json_object_equal(got, rec), "get returns the same record");
	is_str(got_cid, cid, "and its CID");
	json_object_put(got);
	free(got_cid);
	free(cid);
	cid = NULL;

	ok(recstore_put(db, "io.atcr.hold.crew", "self", rec, NULL, &err) == -1 && err, "$type must match the collection");
	free(err);
	err = NULL;
	ok(recstore_put(db, "io.atcr.hold.captain", "../x", rec, NULL, &err) == -1, "invalid rkey refused");
	free(err);
	err = NULL;
	ok(recstore_put(db, "not an nsid", "self", rec, NULL, &err) == -1, "invalid collection refused");
	free(err);
	err = NULL;
	json_object *fl = json_tokener_parse("{\"$type\":\"io.atcr.hold.captain\",\"x\":1.5}");
	ok(recstore_put(db, "io.atcr.hold.captain", "self", fl, NULL, &err) == -1 && err, "floats refused: %s", err);
	free(err);
	err = NULL;
	json_object_put(fl);

	json_object_object_add(rec, "public", json_object_new_boolean(0));
	ok(recstore_put(db, "io.atcr.hold.captain", "self", rec, NULL, &err) == 0, "replace");
	got = recstore_get(db, "io.atcr.hold.captain", "self", NULL);
	json_object *pub;
	ok(got && json_object_object_get_ex(got, "public", &pub) && !json_object_get_boolean(pub), "replaced value read back");
	json_object_put(got);
	json_object_put(rec);

	for (int i = 0; i < 7; i++) {
		char key[16], text[256];
		snprintf(key, sizeof key, "k%02d", i);
		snprintf(text, sizeof text, "{\"$type\":\"io.atcr.hold.layer\",\"size\":%d}", i);
		json_object *r = json_tokener_parse(text);
		recstore_put(db, "io.atcr.hold.layer", key, r, NULL, &err);
		json_object_put(r);
	}
	is_int(recstore_count(db, "io.atcr.hold.layer"), 7, "7 layer records");
	char *cursor = NULL, *next = NULL;
	json_object *page = recstore_list(db, "did:web:h", "io.atcr.hold.layer", 3, NULL, 0, &next);
	is_int(json_object_array_length(page), 3, "first page of 3");
	json_object *uri;
	json_object_object_get_ex(json_object_array_get_idx(page, 0), "uri", &uri);
	is_str(json_object_get_string(uri), "at://did:web:h/io.atcr.hold.layer/k06", "newest key first");
	is_str(next, "k04", "cursor");
	json_object_put(page);
	int total = 3;
	while (next) {
		free(cursor);
		cursor = next;
		page = recstore_list(db, "did:web:h", "io.atcr.hold.layer", 3, cursor, 0, &next);
		total += (int)json_object_array_length(page);
		json_object_put(page);
	}
	is_int(total, 7, "paging visits every record once");
	free(cursor);
	page = recstore_list(db, "did:web:h", "io.atcr.hold.layer", 100, NULL, 1, &next);
	json_object_object_get_ex(json_object_array_get_idx(page, 0), "uri", &uri);
	is_str(json_object_get_string(uri), "at://did:web:h/io.atcr.hold.layer/k00", "reverse: oldest first");
	ok(next == NULL, "no cursor after the last page");
	json_object_put(page);

	json_object *colls = recstore_collections(db);
	is_str(json_object_to_json_string_ext(colls, JSON_C_TO_STRING_PLAIN),
	       "[\"io.atcr.hold.captain\",\"io.atcr.hold.layer\"]", "collections");
	json_object_put(colls);
	is_int(recstore_delete(db, "io.atcr.hold.layer", "k03"), 1, "delete");
	is_int(recstore_delete(db, "io.atcr.hold.layer", "k03"), 0, "delete again: absent");
	ok(recstore_get(db, "io.atcr.hold.layer", "k03", NULL) == NULL, "gone");

	/* k07 shares k06's block (same bytes): deleting it must not take the block from k06. */
	json_object *same = recstore_get(db, "io.atcr.hold.layer", "k06", NULL);
	recstore_put(db, "io.atcr.hold.layer", "k07", same, NULL, &err);
	is_int(recstore_delete(db, "io.atcr.hold.layer", "k07"), 1, "delete a record whose block another shares");
	is_int(recstore_prune(db), 2, "prune drops the replaced captain's and the deleted k03's blocks");
	got = recstore_get(db, "io.atcr.hold.layer", "k06", NULL);
	ok(got && json_object_equal(got, same), "the shared block stays for k06");
	json_object_put(got);
	json_object_put(same);
	got = recstore_get(db, "io.atcr.hold.captain", "self", NULL);
	ok(got != NULL, "the captain's current version stays");
	json_object_put(got);
	is_int(recstore_prune(db), 0, "prune again: nothing left to drop");
	head(db);
	db_close(db);
	return tap_done();
}
