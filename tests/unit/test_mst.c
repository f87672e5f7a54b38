/* test_mst.c - the Merkle Search Tree against the atproto interop vectors: every key height
 * (mst/key_heights.json, and example_keys.txt whose second character is the key's height), every
 * common-prefix case, and every commit-proof fixture's root CIDs before and after its writes
 * (mst/commit-proof-fixtures.json, the trees @atproto/repo built); node blocks are canonical DAG-CBOR
 * that hash to their CIDs; paths prove present and absent keys. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cid.h"
#include "dagcbor.h"
#include "mst.h"
#include "tap.h"

/* The root of the tree with no keys: a node {l: null, e: []} (atproto's well-known empty root). */
#define EMPTY_ROOT "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"

static json_object *load(const char *rel)
{
	json_object *j = json_object_from_file(vector_path(rel));
	if (!j)
		diag("cannot read %s", vector_path(rel));
	return j;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static void test_key_heights(void)
{
	json_object *cases = load("mst/key_heights.json");
	size_t n = cases ? json_object_array_length(cases) : 0;
	ok(n >= 9, "key_heights.json has its %zu cases", n);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cases, i), *v;
		const char *key = str(c, "key");
		json_object_object_get_ex(c, "height", &v);
		is_int(mst_key_height(key, strlen(key)), json_object_get_int(v), "height of '%s'", key);
	}
	json_object_put(cases);

	FILE *f = fopen(vector_path("mst/example_keys.txt"), "r");
	char line[256];
	int count = 0, wrong = 0, invalid = 0;
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!*line)
			continue;
		count++;
		if (mst_key_height(line, strlen(line)) != line[1] - '0') {
			wrong++;
			diag("height of %s: %d", line, mst_key_height(line, strlen(line)));
		}
		invalid += !mst_key_ok(line);
	}
	if (f)
		fclose(f);
	ok(count >= 150, "example_keys.txt: %d keys", count);
	is_int(wrong, 0, "every example key's height is the digit in its name");
	is_int(invalid, 0, "every example key is a valid MST key");
}

static void test_common_prefix(void)
{
	json_object *cases = load("mst/common_prefix.json");
	size_t n = cases ? json_object_array_length(cases) : 0;
	ok(n >= 13, "common_prefix.json has its %zu cases", n);
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cases, i), *v;
		json_object_object_get_ex(c, "len", &v);
		is_int(mst_common_prefix(str(c, "left"), str(c, "right")), json_object_get_int(v),
		       "common prefix of '%s' and '%s'", str(c, "left"), str(c, "right"));
	}
	json_object_put(cases);
}

static void test_key_syntax(void)
{
	ok(mst_key_ok("io.atcr.hold.crew/abc"), "collection/rkey is a key");
	ok(mst_key_ok("a/b~c:d-e_f.g"), "every allowed character");
	ok(!mst_key_ok(""), "empty refused");
	ok(!mst_key_ok("nocollection"), "no slash refused");
	ok(!mst_key_ok("/rkey"), "empty collection refused");
	ok(!mst_key_ok("coll/"), "empty rkey refused");
	ok(!mst_key_ok("a/b/c"), "two slashes refused");
	ok(!mst_key_ok("a/b c"), "space refused");
	ok(!mst_key_ok("a/\xc3\xa9"), "non-ASCII refused");
	char big[1100];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	big[5] = '/';
	ok(!mst_key_ok(big), "over 1024 bytes refused");
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const mst_entry *)a)->key, ((const mst_entry *)b)->key);
}

/* The root CID string of the tree of keys (all with the value leaf), or NULL on failure. */
static char *root_of(const char **keys, size_t n, const cid_t *leaf, mst_tree **keep)
{
	mst_entry *e = calloc(n ? n : 1, sizeof *e);
	for (size_t i = 0; i < n; i++) {
		e[i].key = keys[i];
		e[i].value = *leaf;
	}
	qsort(e, n, sizeof *e, cmp_key);
	char *err = NULL, *s = NULL;
	mst_tree *t = mst_build(e, n, &err);
	if (t)
		s = cid_format(mst_root(t));
	else
		diag("build: %s", err);
	free(err);
	free(e);
	if (keep)
		*keep = t;
	else
		mst_free(t);
	return s;
}

/* Every node block decodes as DAG-CBOR, encodes back to the same bytes and hashes to its CID. */
static int blocks_canonical(const mst_tree *t)
{
	int good = 1;
	for (size_t i = 0; i < mst_block_count(t); i++) {
		const cid_t *cid;
		const unsigned char *data;
		size_t len;
		mst_block(t, i, &cid, &data, &len);
		cid_t actual;
		cid_of(CID_CODEC_DAG_CBOR, data, len, &actual);
		char *err = NULL;
		json_object *j = dagcbor_decode(data, len, &err);
		buf_t again = BUF_INIT;
		if (!j || dagcbor_encode(j, &again, &err) != 0 || again.len != len || memcmp(again.data, data, len) != 0 ||
		    !cid_equal(&actual, cid)) {
			diag("block %zu: %s", i, err ? err : "not canonical or wrong CID");
			good = 0;
		}
		free(err);
		buf_free(&again);
		json_object_put(j);
	}
	return good;
}

static int block_index(const mst_tree *t, const char *cidstr)
{
	for (size_t i = 0; i < mst_block_count(t); i++) {
		const cid_t *cid;
		const unsigned char *data;
		size_t len;
		mst_block(t, i, &cid, &data, &len);
		char *s = cid_format(cid);
		int same = strcmp(s, cidstr) == 0;
		free(s);
		if (same)
			return (int)i;
	}
	return -1;
}

static void test_commit_proofs(void)
{
	json_object *fixtures = load("mst/commit-proof-fixtures.json");
	size_t n = fixtures ? json_object_array_length(fixtures) : 0;
	ok(n >= 6, "commit-proof-fixtures.json has its %zu fixtures", n);
	for (size_t f = 0; f < n; f++) {
		json_object *fx = json_object_array_get_idx(fixtures, f), *keys, *adds, *dels, *proof;
		const char *comment = str(fx, "comment");
		cid_t leaf;
		ok(cid_parse(str(fx, "leafValue"), &leaf) == 0, "%s: leaf value parses", comment);
		json_object_object_get_ex(fx, "keys", &keys);
		json_object_object_get_ex(fx, "adds", &adds);
		json_object_object_get_ex(fx, "dels", &dels);
		json_object_object_get_ex(fx, "blocksInProof", &proof);
		size_t nk = json_object_array_length(keys), na = json_object_array_length(adds);
		const char **before = calloc(nk + 1, sizeof *before), **after = calloc(nk + na + 1, sizeof *after);
		size_t nb = 0, nafter = 0;
		for (size_t i = 0; i < nk; i++) {
			const char *k = json_object_get_string(json_object_array_get_idx(keys, i));
			before[nb++] = k;
			int deleted = 0;
			for (size_t d = 0; d < json_object_array_length(dels); d++)
				deleted |= strcmp(k, json_object_get_string(json_object_array_get_idx(dels, d))) == 0;
			if (!deleted)
				after[nafter++] = k;
		}
		for (size_t i = 0; i < na; i++)
			after[nafter++] = json_object_get_string(json_object_array_get_idx(adds, i));
		char *got = root_of(before, nb, &leaf, NULL);
		is_str(got, str(fx, "rootBeforeCommit"), "%s: root before the commit (%zu keys)", comment, nb);
		free(got);
		mst_tree *t = NULL;
		got = root_of(after, nafter, &leaf, &t);
		is_str(got, str(fx, "rootAfterCommit"), "%s: root after the commit (%zu keys)", comment, nafter);
		free(got);
		if (t) {
			ok(blocks_canonical(t), "%s: every node block is canonical DAG-CBOR with its CID", comment);
			/* Each added key's path (root down to its node) is part of the fixture's proof. */
			int covered = 1;
			for (size_t i = 0; i < na; i++) {
				size_t *path = NULL, np = 0;
				const cid_t *value = NULL;
				const char *k = json_object_get_string(json_object_array_get_idx(adds, i));
				if (mst_path(t, k, &path, &np, &value) != 0 || !value || !cid_equal(value, &leaf) ||
				    np == 0 || path[0] != mst_block_count(t) - 1)
					covered = 0;
				for (size_t p = 0; p < np; p++) {
					int found = 0;
					for (size_t q = 0; q < json_object_array_length(proof); q++)
						found |= block_index(t, json_object_get_string(json_object_array_get_idx(proof, q))) ==
							 (int)path[p];
					covered &= found;
				}
				free(path);
			}
			ok(covered, "%s: the path to each added key is found and lies in blocksInProof", comment);
		}
		mst_free(t);
		free(before);
		free(after);
	}
	json_object_put(fixtures);
}

static void test_build_and_paths(void)
{
	char *err = NULL;
	mst_tree *t = mst_build(NULL, 0, &err);
	char *s = t ? cid_format(mst_root(t)) : NULL;
	is_str(s, EMPTY_ROOT, "the empty tree's root");
	is_int(t ? mst_block_count(t) : 0, 1, "the empty tree is one node");
	free(s);
	size_t *path = NULL, np = 0;
	const cid_t *value = (const cid_t *)1;
	ok(t && mst_path(t, "a/b", &path, &np, &value) == 0 && np == 1 && value == NULL,
	   "an absent key's path in the empty tree is the root");
	free(path);
	mst_free(t);

	/* Every example key, with distinct values. */
	const char *keys[200];
	char *copies[200];
	size_t n = 0;
	FILE *f = fopen(vector_path("mst/example_keys.txt"), "r");
	char line[256];
	while (f && n < 200 && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (*line)
			keys[n] = copies[n] = strdup(line), n++;
	}
	if (f)
		fclose(f);
	mst_entry *e = calloc(n, sizeof *e);
	for (size_t i = 0; i < n; i++) {
		e[i].key = keys[i];
		cid_of(CID_CODEC_RAW, keys[i], strlen(keys[i]), &e[i].value);
	}
	qsort(e, n, sizeof *e, cmp_key);
	t = mst_build(e, n, &err);
	ok(t != NULL, "built the tree of %zu example keys", n);
	if (t) {
		ok(blocks_canonical(t), "its node blocks are canonical");
		int found = 1;
		size_t longest = 0;
		for (size_t i = 0; i < n; i++) {
			if (mst_path(t, e[i].key, &path, &np, &value) != 0 || !value || !cid_equal(value, &e[i].value) ||
			    path[0] != mst_block_count(t) - 1)
				found = 0;
			if (np > longest)
				longest = np;
			free(path);
		}
		ok(found, "every key's path starts at the root and ends at its value");
		ok(longest >= 5, "keys of height 0 lie under the root of height 5 (path of %zu nodes)", longest);
		ok(mst_path(t, "M0/000000", &path, &np, &value) == 0 && value == NULL && np >= 1,
		   "an absent key has a path and no value");
		free(path);
	}
	mst_free(t);

	/* Keys out of order, repeated, or invalid are refused. */
	mst_entry two[2] = {{.key = "b/1"}, {.key = "a/1"}};
	t = mst_build(two, 2, &err);
	ok(!t && err && strstr(err, "order"), "keys out of order refused: %s", err ? err : "");
	two[1].key = "b/1";
	mst_free(mst_build(two, 2, &err));
	ok(err && strstr(err, "order"), "a repeated key refused");
	two[0].key = "nocollection";
	t = mst_build(two, 1, &err);
	ok(!t && err && strstr(err, "invalid"), "an invalid key refused: %s", err ? err : "");
	free(err);
	free(e);
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
}

int main(void)
{
	test_key_heights();
	test_common_prefix();
	test_key_syntax();
	test_commit_proofs();
	test_build_and_paths();
	return tap_done();
}
