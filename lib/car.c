/* car.c - CAR v1 parsing with every block verified against its CID. */
#include "car.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dagcbor.h"

/* Generous bounds, far above what atproto produces (records are at most a few hundred KiB, a
 * commit's header names one root), so a hostile length never makes us allocate or read far. */
#define CAR_MAX_HEADER (1u << 20)
#define CAR_MAX_BLOCK (4u << 20)

enum { CID_V0_HASH = 0x12, CID_V0_LEN = 0x20, MH_SHA2_256 = 0x12, SHA256_LEN = 32 };

/* An unsigned varint as multiformats define it: little-endian groups of 7 bits, at most 9 bytes,
 * minimally encoded. Reads within p[*pos..end). */
static int read_varint(const unsigned char *p, size_t end, size_t *pos, uint64_t *v, const char *what,
		       char **err)
{
	size_t start = *pos;
	uint64_t x = 0;
	for (int i = 0; i < 9; i++) {
		if (*pos >= end)
			return buf_error(err, "truncated CAR: the %s at byte %zu is cut short", what, start);
		unsigned char b = p[(*pos)++];
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return buf_error(err, "CAR: the %s at byte %zu is not minimally encoded", what, start);
			*v = x;
			return 0;
		}
	}
	return buf_error(err, "CAR: the %s at byte %zu is longer than 9 bytes", what, start);
}

static int parse_roots(json_object *hdr, car_t *out, char **err)
{
	json_object *version, *roots;
	if (!json_object_object_get_ex(hdr, "version", &version) || !json_object_is_type(version, json_type_int))
		return buf_error(err, "CAR header without an integer version");
	if (json_object_get_int64(version) != 1)
		return buf_error(err, "CAR version %lld is not supported (only 1)",
				 (long long)json_object_get_int64(version));
	if (!json_object_object_get_ex(hdr, "roots", &roots) || !json_object_is_type(roots, json_type_array))
		return buf_error(err, "CAR header without a roots array");
	size_t n = json_object_array_length(roots);
	out->roots = calloc(n ? n : 1, sizeof *out->roots);
	if (!out->roots)
		return buf_error(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(roots, i), *link;
		if (!json_object_is_type(r, json_type_object) || json_object_object_length(r) != 1 ||
		    !json_object_object_get_ex(r, "$link", &link) ||
		    cid_parse(json_object_get_string(link), &out->roots[i]) < 0)
			return buf_error(err, "CAR root %zu is not a CIDv1 link", i);
	}
	out->nroots = n;
	return 0;
}

static int parse_header(const unsigned char *p, size_t len, size_t *pos, car_t *out, char **err)
{
	uint64_t hlen;
	size_t used;
	char *derr = NULL;
	int rc = -1;
	json_object *hdr = NULL;
	if (read_varint(p, len, pos, &hlen, "header length", err) < 0)
		return -1;
	if (hlen == 0)
		return buf_error(err, "CAR header is empty");
	if (hlen > CAR_MAX_HEADER)
		return buf_error(err, "CAR header of %llu bytes is too large", (unsigned long long)hlen);
	if (hlen > len - *pos)
		return buf_error(err, "truncated CAR: the header claims %llu bytes, %zu left",
				 (unsigned long long)hlen, len - *pos);
	if (dagcbor_item_size(p + *pos, (size_t)hlen, &used, &derr) < 0 || used != hlen ||
	    !(hdr = dagcbor_decode(p + *pos, (size_t)hlen, &derr))) {
		buf_error(err, "CAR header is not a DAG-CBOR map: %s", derr ? derr : "trailing bytes");
		goto out;
	}
	rc = parse_roots(hdr, out, err);
	*pos += (size_t)hlen;
out:
	free(derr);
	json_object_put(hdr);
	return rc;
}

/* The CID at the start of a section (p[*pos..end)), as binary CIDv1 with varint fields. */
static int parse_cid(const unsigned char *p, size_t end, size_t *pos, cid_t *cid, char **err)
{
	size_t start = *pos;
	uint64_t version, codec, hash, hlen;
	if (end - start >= 2 && p[start] == CID_V0_HASH && p[start + 1] == CID_V0_LEN)
		return buf_error(err, "CAR block at byte %zu has a CIDv0, which atproto does not use", start);
	if (read_varint(p, end, pos, &version, "CID version", err) < 0 ||
	    read_varint(p, end, pos, &codec, "CID codec", err) < 0 ||
	    read_varint(p, end, pos, &hash, "CID hash function", err) < 0 ||
	    read_varint(p, end, pos, &hlen, "CID hash length", err) < 0)
		return -1;
	if (version != 1)
		return buf_error(err, "CAR block at byte %zu has CID version %llu", start, (unsigned long long)version);
	if (codec != CID_CODEC_DAG_CBOR && codec != CID_CODEC_RAW)
		return buf_error(err, "CAR block at byte %zu has codec 0x%llx (only dag-cbor and raw)", start,
				 (unsigned long long)codec);
	if (hash != MH_SHA2_256 || hlen != SHA256_LEN)
		return buf_error(err, "CAR block at byte %zu is not hashed with sha2-256", start);
	if (end - *pos < SHA256_LEN)
		return buf_error(err, "truncated CAR: the CID at byte %zu is cut short", start);
	*pos += SHA256_LEN;
	if (cid_from_bytes(p + start, *pos - start, cid) < 0)
		return buf_error(err, "CAR block at byte %zu has a malformed CID", start);
	return 0;
}

static int add_block(car_t *out, size_t *cap, const car_block *b, char **err)
{
	if (out->nblocks == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		car_block *nb = realloc(out->blocks, ncap * sizeof *nb);
		if (!nb)
			return buf_error(err, "out of memory");
		out->blocks = nb;
		*cap = ncap;
	}
	out->blocks[out->nblocks++] = *b;
	return 0;
}

static int block_order(const void *a, const void *b)
{
	return memcmp(((const car_block *)a)->cid.bytes, ((const car_block *)b)->cid.bytes, CID_BYTES);
}

/* One section at p[*pos..len): varint length, CID, block bytes, checked against the CID. */
static int parse_section(const unsigned char *p, size_t len, size_t *pos, car_block *b, char **err)
{
	size_t start = *pos;
	uint64_t slen;
	if (read_varint(p, len, pos, &slen, "section length", err) < 0)
		return -1;
	if (slen == 0)
		return buf_error(err, "CAR section at byte %zu is empty", start);
	if (slen > CAR_MAX_BLOCK + CID_BYTES)
		return buf_error(err, "CAR section at byte %zu of %llu bytes is too large", start,
				 (unsigned long long)slen);
	if (slen > len - *pos)
		return buf_error(err, "truncated CAR: the section at byte %zu claims %llu bytes, %zu left", start,
				 (unsigned long long)slen, len - *pos);
	size_t end = *pos + (size_t)slen;
	if (parse_cid(p, end, pos, &b->cid, err) < 0)
		return -1;
	b->data = p + *pos;
	b->len = end - *pos;
	*pos = end;
	cid_t actual;
	cid_of(cid_codec(&b->cid), b->data, b->len, &actual);
	if (!cid_equal(&actual, &b->cid)) {
		char *s = cid_format(&b->cid);
		buf_error(err, "CAR block %s at byte %zu does not match its bytes", s ? s : "?", start);
		free(s);
		return -1;
	}
	return 0;
}

int car_parse(const void *data, size_t len, car_t *out, char **err)
{
	int rc = -1;
	size_t pos = 0, cap = 0;
	memset(out, 0, sizeof *out);
	if (!data || len == 0)
		return buf_error(err, "empty CAR");
	out->bytes = malloc(len);
	if (!out->bytes) {
		buf_error(err, "out of memory");
		goto out;
	}
	memcpy(out->bytes, data, len);
	if (parse_header(out->bytes, len, &pos, out, err) < 0)
		goto out;
	while (pos < len) {
		car_block b;
		if (parse_section(out->bytes, len, &pos, &b, err) < 0 || add_block(out, &cap, &b, err) < 0)
			goto out;
	}
	if (out->nblocks > 1)
		qsort(out->blocks, out->nblocks, sizeof *out->blocks, block_order);
	rc = 0;
out:
	if (rc < 0)
		car_free(out);
	return rc;
}

const car_block *car_get(const car_t *car, const cid_t *cid)
{
	car_block key = {.cid = *cid};
	if (!car->nblocks)
		return NULL;
	return bsearch(&key, car->blocks, car->nblocks, sizeof *car->blocks, block_order);
}

void car_free(car_t *car)
{
	free(car->roots);
	free(car->blocks);
	free(car->bytes);
	memset(car, 0, sizeof *car);
}

/* ---- writing */

static int write_varint(buf_t *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;
	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return buf_append(out, b, n);
}

int car_write_header(buf_t *out, const cid_t *roots, size_t nroots)
{
	json_object *hdr = json_object_new_object(), *arr = json_object_new_array();
	buf_t cbor = BUF_INIT;
	int rc = -1;
	json_object_object_add(hdr, "version", json_object_new_int(1));
	json_object_object_add(hdr, "roots", arr);
	for (size_t i = 0; i < nroots; i++) {
		char *s = cid_format(&roots[i]);
		json_object *link = json_object_new_object();
		json_object_object_add(link, "$link", json_object_new_string(s ? s : ""));
		json_object_array_add(arr, link);
		free(s);
	}
	if (dagcbor_encode(hdr, &cbor, NULL) == 0 && write_varint(out, cbor.len) == 0 &&
	    buf_append(out, cbor.data, cbor.len) == 0)
		rc = 0;
	buf_free(&cbor);
	json_object_put(hdr);
	return rc;
}

int car_write_block(buf_t *out, const cid_t *cid, const void *data, size_t len)
{
	if (write_varint(out, (uint64_t)CID_BYTES + len) < 0 || buf_append(out, cid->bytes, CID_BYTES) < 0)
		return -1;
	return len ? buf_append(out, data, len) : 0;
}
