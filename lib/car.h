/* car.h - CAR v1 files (a DAG-CBOR header naming root CIDs, then blocks each with its CID), as the
 * firehose's commit blocks and com.atproto.sync.getRepo carry them: read with every block checked
 * against its CID, and written (the hold's getRepo and sync.getRecord). */
#ifndef ATCR_CAR_H
#define ATCR_CAR_H
#include <stddef.h>

#include "buf.h"
#include "cid.h"

typedef struct {
	cid_t cid;
	const unsigned char *data; /* points into the car_t's own copy of the input */
	size_t len;
} car_block;

typedef struct {
	cid_t *roots;
	size_t nroots;
	car_block *blocks; /* sorted by CID (for car_get), not in file order */
	size_t nblocks;
	unsigned char *bytes; /* the copy of the input the blocks point into */
} car_t;

/* Parse a whole CAR v1 file into *out (car_free releases it; on failure it is left empty). Refuses
 * truncated input, malformed or non-minimal varints, lengths past the end, a header that is not
 * {version: 1, roots: [links]}, CIDv0 and CIDs other than CIDv1 sha2-256 dag-cbor/raw, and a block
 * whose bytes do not hash to its CID. 0 ok, -1 with *err (caller frees). */
int car_parse(const void *data, size_t len, car_t *out, char **err);

/* The block with this CID, or NULL when the CAR has none. */
const car_block *car_get(const car_t *car, const cid_t *cid);

/* Free what car_parse allocated; safe on a zeroed car_t. */
void car_free(car_t *car);

/* Writing: the header {version: 1, roots} first, then each block; the bytes accumulate in out.
 * Both return 0, or -1 when out of memory. */
int car_write_header(buf_t *out, const cid_t *roots, size_t nroots);
/* One section: varint(CID length + len), the binary CID, the block's bytes (not checked here: the
 * caller hashed them). */
int car_write_block(buf_t *out, const cid_t *cid, const void *data, size_t len);

#endif
