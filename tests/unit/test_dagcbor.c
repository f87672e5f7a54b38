/* test_dagcbor.c - DAG-CBOR against the atproto data-model vectors. */
#include <stdlib.h>
#include <string.h>

#include "dagcbor.h"
#include "encoding.h"
#include "tap.h"

static void fixtures(void)
{
	json_object *all = json_object_from_file(vector_path("data-model/data-model-fixtures.json"));
	ok(all && json_object_array_length(all) > 0, "fixtures load");
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *f = json_object_array_get_idx(all, i), *j, *b64, *want_cid;
		json_object_object_get_ex(f, "json", &j);
		json_object_object_get_ex(f, "cbor_base64", &b64);
		json_object_object_get_ex(f, "cid", &want_cid);
		unsigned char *want = NULL;
		size_t want_len = 0;
		enc_b64_decode(json_object_get_string(b64), (size_t)json_object_get_string_len(b64), &want, &want_len);
		buf_t out = BUF_INIT;
		cid_t cid;
		char *err = NULL;
		ok(dagcbor_cid(j, &cid, &out, &err) == 0, "fixture %zu encodes (%s)", i, err ? err : "");
		ok(out.len == want_len && memcmp(out.data, want, want_len) == 0, "fixture %zu: canonical bytes", i);
		char *s = cid_format(&cid);
		is_str(s, json_object_get_string(want_cid), "fixture %zu: CID", i);
		free(s);
		json_object *back = dagcbor_decode(want, want_len, &err);
		ok(back && json_object_equal(back, j), "fixture %zu: decodes back to the same JSON", i);
		json_object_put(back);
		buf_free(&out);
		free(want);
		free(err);
	}
	json_object_put(all);
}

static void validity(const char *file, int want_ok)
{
	json_object *all = json_object_from_file(vector_path(file));
	ok(all != NULL, "%s loads", file);
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *f = json_object_array_get_idx(all, i), *j, *note;
		json_object_object_get_ex(f, "json", &j);
		json_object_object_get_ex(f, "note", &note);
		buf_t out = BUF_INIT;
		char *err = NULL;
		int rc = dagcbor_encode(j, &out, &err);
		ok((rc == 0) == want_ok, "%s: %s", want_ok ? "valid" : "invalid", json_object_get_string(note));
		if (rc == 0 && want_ok) {
			json_object *back = dagcbor_decode(out.data, out.len, &err);
			ok(back != NULL, "valid: %s decodes", json_object_get_string(note));
			json_object_put(back);
		}
		buf_free(&out);
		free(err);
	}
	json_object_put(all);
}

static void malformed(void)
{
	char *err = NULL;
	ok(dagcbor_decode("\xa1\x61" "a\xfb\x40\x09\x21\xfb\x54\x44\x2d\x18", 12, &err) == NULL, "float refused on decode");
	free(err), err = NULL;
	ok(dagcbor_decode("\xa0\x00", 2, &err) == NULL, "trailing bytes refused");
	free(err), err = NULL;
	ok(dagcbor_decode("\xbf\xff", 2, &err) == NULL, "indefinite map refused");
	free(err), err = NULL;
	ok(dagcbor_decode("\xa1\x01\x02", 3, &err) == NULL, "non-string key refused");
	free(err), err = NULL;
	ok(dagcbor_decode("\xa1\x61" "a\xc1\x00", 5, &err) == NULL, "tag other than 42 refused");
	free(err), err = NULL;
	ok(dagcbor_decode("\xa1\x61", 2, &err) == NULL, "truncated input refused");
	free(err), err = NULL;
	/* {"a": [2^39 items]} in 12 bytes: refused before anything is allocated for the items */
	ok(dagcbor_decode("\xa1\x61" "a\x9b\x00\x00\x00\x80\x00\x00\x00\x00", 12, &err) == NULL && err,
	   "a count larger than the input refused (%s)", err ? err : "no error");
	free(err), err = NULL;
	ok(dagcbor_decode("\xa1\x61" "a\x5a\xff\xff\xff\xff", 8, &err) == NULL, "a byte string longer than the input refused");
	free(err), err = NULL;
	json_object *o = dagcbor_decode("\xa2\x61" "a\x20\x61" "b\xf6", 7, &err);
	ok(o && json_object_get_int(json_object_object_get(o, "a")) == -1, "negative int decodes");
	ok(o && json_object_object_get_ex(o, "b", NULL) && json_object_object_get(o, "b") == NULL, "null decodes");
	json_object_put(o);
	/* canonical key order: shorter keys first, then bytewise */
	o = json_tokener_parse("{\"bb\":1,\"a\":2,\"ab\":3,\"c\":4}");
	buf_t out = BUF_INIT;
	dagcbor_encode(o, &out, &err);
	ok(out.len == 15 && memcmp(out.data, "\xa4\x61" "a\x02\x61" "c\x04\x62" "ab\x03\x62" "bb\x01", 15) == 0,
	   "map keys sorted by length then bytes");
	buf_free(&out);
	json_object_put(o);
	free(err);
}

int main(void)
{
	fixtures();
	validity("data-model/data-model-valid.json", 1);
	validity("data-model/data-model-invalid.json", 0);
	malformed();
	return tap_done();
}
