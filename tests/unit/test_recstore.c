/* test_recstore.c - the DAG-CBOR record store: CIDs, validation, replace, paging, delete, pruning blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"
#include "dagcbor.h"
#include "db.h"
#include "recstore.h"
#include "tap.h"

int main(void)
{
	char *err = NULL, *cid = NULL;
	sqlite3 *db = db_open(":memory:", 0, &err);
	struct db_migration m[] = {{1, "recstore", recstore_schema_sql}};
	ok(db && db_migrate_with(db, m, 1, &err) == 1, "schema applies: %s", err ? err : "ok");

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
	db_close(db);
	return tap_done();
}
