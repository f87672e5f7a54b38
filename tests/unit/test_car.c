/* test_car.c - CAR v1 parsing: the CARs of commits recorded from the reference PDS and a getRepo CAR
 * (firehose/cars.json, roots and blocks as @atproto/repo's readCar reported them), every truncation,
 * corrupted bytes and CIDs, bad varints and headers; the writer: what it writes reads back (the recorded
 * getRepo CAR written again, blocks whose lengths need multi-byte varints, zero and two roots). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "car.h"
#include "dagcbor.h"
#include "encoding.h"
#include "tap.h"

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static void put_varint(buf_t *b, unsigned long long v)
{
	do {
		unsigned char c = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		buf_append(b, &c, 1);
	} while (v);
}

/* A CAR header {version, roots: [root]} (no roots when root is NULL). */
static void put_header(buf_t *b, int version, const cid_t *root)
{
	json_object *h = json_object_new_object(), *roots = json_object_new_array();
	json_object_object_add(h, "version", json_object_new_int(version));
	if (root) {
		char *s = cid_format(root);
		json_object *l = json_object_new_object();
		json_object_object_add(l, "$link", json_object_new_string(s));
		json_object_array_add(roots, l);
		free(s);
	}
	json_object_object_add(h, "roots", roots);
	buf_t cbor = BUF_INIT;
	dagcbor_encode(h, &cbor, NULL);
	put_varint(b, cbor.len);
	buf_append(b, cbor.data, cbor.len);
	buf_free(&cbor);
	json_object_put(h);
}

static void put_section(buf_t *b, const void *cid, size_t cidlen, const void *data, size_t len)
{
	put_varint(b, cidlen + len);
	buf_append(b, cid, cidlen);
	buf_append(b, data, len);
}

static int refused(const buf_t *b, const char *what)
{
	car_t car;
	char *err = NULL;
	int rc = car_parse(b->data, b->len, &car, &err);
	ok(rc == -1 && err && car.nblocks == 0 && car.bytes == NULL, "refused: %s (%s)", what, err ? err : "accepted");
	free(err);
	car_free(&car);
	return rc;
}

/* Every recorded CAR parses to what readCar saw; returns the getRepo CAR's bytes for later tests. */
static unsigned char *recorded(size_t *getrepo_len)
{
	unsigned char *keep = NULL;
	json_object *all = json_object_from_file(vector_path("firehose/cars.json"));
	ok(all && json_object_array_length(all) >= 5, "cars.json loads");
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *c = json_object_array_get_idx(all, i), *roots, *blocks;
		const char *name = str(c, "name"), *b64 = str(c, "car");
		json_object_object_get_ex(c, "roots", &roots);
		json_object_object_get_ex(c, "blocks", &blocks);
		unsigned char *raw = NULL;
		size_t len = 0;
		enc_b64_decode(b64, strlen(b64), &raw, &len);
		car_t car;
		char *err = NULL;
		int rc = car_parse(raw, len, &car, &err);
		ok(rc == 0, "%s parses (%s)", name, err ? err : "");
		is_int(car.nroots, json_object_array_length(roots), "%s: root count", name);
		for (size_t r = 0; r < car.nroots && r < json_object_array_length(roots); r++) {
			char *s = cid_format(&car.roots[r]);
			is_str(s, json_object_get_string(json_object_array_get_idx(roots, r)), "%s: root %zu", name, r);
			free(s);
		}
		is_int(car.nblocks, json_object_array_length(blocks), "%s: block count", name);
		size_t found = 0;
		for (size_t k = 0; k < json_object_array_length(blocks); k++) {
			cid_t want;
			cid_parse(json_object_get_string(json_object_array_get_idx(blocks, k)), &want);
			const car_block *b = car_get(&car, &want);
			cid_t again;
			if (b) {
				cid_of(cid_codec(&want), b->data, b->len, &again);
				found += cid_equal(&again, &want);
			}
		}
		is_int(found, json_object_array_length(blocks), "%s: every block found by its CID, bytes matching", name);
		if (strcmp(name, "getRepo") == 0) {
			keep = raw;
			*getrepo_len = len;
			raw = NULL;
		}
		car_free(&car);
		free(raw);
		free(err);
	}
	json_object_put(all);
	return keep;
}

/* Cut anywhere: only cuts at a section boundary leave a (shorter) valid CAR. */
static void truncations(const unsigned char *raw, size_t len)
{
	car_t full;
	ok(car_parse(raw, len, &full, NULL) == 0, "the getRepo CAR parses");
	size_t accepted = 0, seen_counts = 0, bad_counts = 0;
	for (size_t cut = 0; cut < len; cut++) {
		car_t car;
		char *err = NULL;
		if (car_parse(raw, cut, &car, &err) == 0) {
			if (car.nblocks < full.nblocks && !(seen_counts & (1u << car.nblocks)))
				seen_counts |= 1u << car.nblocks;
			else
				bad_counts++;
			accepted++;
		} else if (!err) {
			bad_counts++;
		}
		car_free(&car);
		free(err);
	}
	/* the header alone, then after each section but the last */
	is_int(accepted, full.nblocks, "of %zu cuts, exactly one per section boundary parses", len);
	is_int(bad_counts, 0, "each such cut holds the blocks before it, and every other cut says why");
	car_free(&full);
}

static void corrupted(const unsigned char *raw, size_t len)
{
	car_t car;
	car_parse(raw, len, &car, NULL);
	const car_block *last = NULL;
	for (size_t i = 0; i < car.nblocks; i++)
		if (!last || car.blocks[i].data > last->data)
			last = &car.blocks[i];
	size_t data_at = (size_t)(last->data - car.bytes);
	car_free(&car);
	buf_t b = BUF_INIT;

	buf_append(&b, raw, len);
	b.data[data_at] ^= 1;
	refused(&b, "a block byte flipped");
	buf_reset(&b);
	buf_append(&b, raw, len);
	b.data[data_at - 1] ^= 1; /* the last byte of the block's CID digest */
	refused(&b, "a CID digest byte flipped");
	buf_reset(&b);
	buf_append(&b, raw, len);
	b.data[data_at - CID_BYTES + 1] = 0x70; /* dag-pb */
	refused(&b, "a CID codec we do not take (dag-pb)");
	buf_reset(&b);
	buf_append(&b, raw, len);
	b.data[data_at - CID_BYTES + 2] = 0x13; /* sha2-512 */
	refused(&b, "a CID hashed with sha2-512");
	buf_reset(&b);
	buf_append(&b, raw, len);
	b.data[data_at - CID_BYTES] = 2;
	refused(&b, "CID version 2");
	buf_reset(&b);
	buf_append(&b, raw, len);
	buf_append(&b, "\x05", 1);
	refused(&b, "a section length past the end");
	buf_free(&b);
}

static void hand_made(void)
{
	static const unsigned char block[] = "\xa1\x61" "a\x01"; /* {"a": 1} */
	static const unsigned char raw_block[] = "some raw bytes";
	cid_t cid, raw_cid;
	cid_of(CID_CODEC_DAG_CBOR, block, sizeof block - 1, &cid);
	cid_of(CID_CODEC_RAW, raw_block, sizeof raw_block - 1, &raw_cid);
	buf_t b = BUF_INIT;
	car_t car;
	char *err = NULL;

	put_header(&b, 1, &cid);
	put_section(&b, raw_cid.bytes, CID_BYTES, raw_block, sizeof raw_block - 1);
	put_section(&b, cid.bytes, CID_BYTES, block, sizeof block - 1);
	put_section(&b, cid.bytes, CID_BYTES, block, sizeof block - 1); /* a repeated block is harmless */
	int rc = car_parse(b.data, b.len, &car, &err);
	ok(rc == 0 && car.nblocks == 3, "dag-cbor and raw blocks parse (%s)", err ? err : "");
	const car_block *got = car_get(&car, &raw_cid);
	ok(got && got->len == sizeof raw_block - 1 && memcmp(got->data, raw_block, got->len) == 0,
	   "car_get finds the raw block");
	ok(car.nroots == 1 && cid_equal(&car.roots[0], &cid), "the root");
	cid_t absent;
	cid_of(CID_CODEC_DAG_CBOR, "x", 1, &absent);
	ok(car_get(&car, &absent) == NULL, "car_get: NULL for a CID not in the CAR");
	car_free(&car);
	car_free(&car);
	ok(car.bytes == NULL, "car_free twice is safe");

	buf_reset(&b);
	put_header(&b, 1, NULL);
	ok(car_parse(b.data, b.len, &car, &err) == 0 && car.nroots == 0 && car.nblocks == 0,
	   "a header without roots or blocks parses");
	ok(car_get(&car, &cid) == NULL, "car_get on an empty CAR");
	car_free(&car);

	ok(car_parse("", 0, &car, &err) == -1, "refused: empty input");
	buf_reset(&b);
	put_header(&b, 2, &cid);
	refused(&b, "version 2");
	buf_reset(&b);
	buf_append(&b, "\x02\x81\x01", 3); /* [1] */
	refused(&b, "a header that is an array");
	buf_reset(&b);
	buf_append(&b, "\x0a\xa1\x67version\x01", 11);
	refused(&b, "a header without roots");
	buf_reset(&b);
	buf_append(&b, "\x12\xa2\x65roots\x81\x01\x67version\x01", 19);
	refused(&b, "a root that is not a link");
	buf_reset(&b);
	buf_append(&b, "\x05\xa0", 2);
	refused(&b, "a header longer than the input");
	buf_reset(&b);
	buf_append(&b, "\x00", 1);
	refused(&b, "an empty header");
	buf_reset(&b);
	buf_append(&b, "\x80\x00", 2);
	refused(&b, "a non-minimal varint");
	buf_reset(&b);
	buf_append(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
	refused(&b, "a varint longer than 9 bytes");
	buf_reset(&b);
	buf_append(&b, "\x81", 1);
	refused(&b, "a varint cut short");

	buf_reset(&b);
	put_header(&b, 1, &cid);
	put_varint(&b, 1ull << 40);
	buf_append(&b, cid.bytes, CID_BYTES);
	refused(&b, "a section claiming a terabyte");
	buf_reset(&b);
	put_header(&b, 1, &cid);
	put_varint(&b, 0);
	refused(&b, "an empty section");
	buf_reset(&b);
	put_header(&b, 1, &cid);
	put_section(&b, cid.bytes, 20, "", 0);
	refused(&b, "a section shorter than its CID");
	buf_reset(&b);
	put_header(&b, 1, &cid);
	put_section(&b, cid.bytes + 2, CID_BYTES - 2, block, sizeof block - 1); /* 0x12 0x20 <digest>: CIDv0 */
	refused(&b, "a CIDv0 block");
	buf_reset(&b);
	put_header(&b, 1, &cid);
	put_section(&b, raw_cid.bytes, CID_BYTES, block, sizeof block - 1);
	refused(&b, "a block under another block's CID");
	buf_free(&b);
	free(err);
}

/* The writer's header is byte for byte the reference's, and the recorded getRepo CAR written again from
 * its blocks reads back to the same roots and blocks. */
static void rewrite(const unsigned char *raw, size_t len)
{
	car_t car, again;
	char *err = NULL;
	buf_t out = BUF_INIT;
	if (car_parse(raw, len, &car, &err) != 0) {
		ok(0, "getRepo parses for the rewrite: %s", err);
		free(err);
		return;
	}
	ok(car_write_header(&out, car.roots, car.nroots) == 0, "header written");
	size_t hlen = (size_t)raw[0] + 1; /* a one-byte varint: headers are short */
	ok(out.len == hlen && memcmp(out.data, raw, hlen) == 0, "the header equals the reference's (%zu bytes)", hlen);
	for (size_t i = 0; i < car.nblocks; i++)
		car_write_block(&out, &car.blocks[i].cid, car.blocks[i].data, car.blocks[i].len);
	is_int(out.len, len, "the same length as the original");
	ok(car_parse(out.data, out.len, &again, &err) == 0, "the rewritten CAR parses (%s)", err ? err : "");
	is_int(again.nroots, car.nroots, "same number of roots");
	ok(again.nroots == car.nroots && cid_equal(&again.roots[0], &car.roots[0]), "same root");
	size_t same = 0;
	for (size_t i = 0; i < car.nblocks; i++) {
		const car_block *b = car_get(&again, &car.blocks[i].cid);
		same += b && b->len == car.blocks[i].len && memcmp(b->data, car.blocks[i].data, b->len) == 0;
	}
	is_int(same, car.nblocks, "every block read back with its bytes");
	car_free(&car);
	car_free(&again);
	buf_free(&out);
	free(err);
}

static void written(void)
{
	/* Sizes around the varint boundaries (127/128 and 16383/16384 with the CID's 36 bytes). */
	static const size_t sizes[] = {1, 91, 92, 200, 16347, 16348, 70000};
	enum { N = sizeof sizes / sizeof *sizes };
	unsigned char *data[N];
	cid_t cids[N];
	buf_t out = BUF_INIT;
	for (size_t i = 0; i < N; i++) {
		data[i] = malloc(sizes[i]);
		for (size_t k = 0; k < sizes[i]; k++)
			data[i][k] = (unsigned char)(k * 31 + i);
		cid_of(i % 2 ? CID_CODEC_RAW : CID_CODEC_DAG_CBOR, data[i], sizes[i], &cids[i]);
	}
	ok(car_write_header(&out, &cids[2], 2) == 0, "a header with two roots");
	for (size_t i = 0; i < N; i++)
		ok(car_write_block(&out, &cids[i], data[i], sizes[i]) == 0, "block of %zu bytes written", sizes[i]);
	car_t car;
	char *err = NULL;
	ok(car_parse(out.data, out.len, &car, &err) == 0, "it parses (%s)", err ? err : "");
	ok(car.nroots == 2 && cid_equal(&car.roots[0], &cids[2]) && cid_equal(&car.roots[1], &cids[3]), "both roots, in order");
	is_int(car.nblocks, N, "every block");
	for (size_t i = 0; i < N; i++) {
		const car_block *b = car_get(&car, &cids[i]);
		ok(b && b->len == sizes[i] && memcmp(b->data, data[i], sizes[i]) == 0, "block of %zu bytes read back", sizes[i]);
	}
	car_free(&car);
	/* A corrupted block is caught by the reader: the writer does not hide a wrong CID. */
	buf_reset(&out);
	car_write_header(&out, NULL, 0);
	car_write_block(&out, &cids[1], data[0], sizes[0]);
	ok(car_parse(out.data, out.len, &car, &err) == -1, "a block written under another CID is refused on reading");
	car_free(&car);
	buf_reset(&out);
	car_write_header(&out, NULL, 0);
	ok(car_parse(out.data, out.len, &car, &err) == 0 && car.nroots == 0 && car.nblocks == 0, "no roots, no blocks");
	car_free(&car);
	for (size_t i = 0; i < N; i++)
		free(data[i]);
	buf_free(&out);
	free(err);
}

int main(void)
{
	size_t len = 0;
	unsigned char *getrepo = recorded(&len);
	ok(getrepo != NULL, "the getRepo CAR is among the vectors");
	if (getrepo) {
		truncations(getrepo, len);
		corrupted(getrepo, len);
		rewrite(getrepo, len);
	}
	free(getrepo);
	hand_made();
	written();
	return tap_done();
}
