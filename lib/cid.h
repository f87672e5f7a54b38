/* cid.h - CIDv1 as atproto uses them: sha2-256 over dag-cbor (0x71) or raw (0x55) bytes,
 * in binary form (for DAG-CBOR links and CAR files) and base32 "b..." string form. */
#ifndef ATCR_CID_H
#define ATCR_CID_H
#include <stddef.h>

enum { CID_CODEC_RAW = 0x55, CID_CODEC_DAG_CBOR = 0x71 };
#define CID_BYTES 36 /* version 1, codec, sha2-256 code 0x12, length 0x20, 32-byte digest */

typedef struct {
	unsigned char bytes[CID_BYTES];
} cid_t;

/* The CID of data hashed with sha2-256 under codec (CID_CODEC_RAW or CID_CODEC_DAG_CBOR). */
void cid_of(int codec, const void *data, size_t len, cid_t *out);
/* Parse binary CID bytes (exactly CIDv1 + sha2-256 + a codec we know); 0 ok, -1 otherwise. */
int cid_from_bytes(const unsigned char *b, size_t len, cid_t *out);
/* Parse the multibase base32 string form "b..."; 0 ok, -1 otherwise. */
int cid_parse(const char *s, cid_t *out);
/* The string form "bafy..."; caller frees. */
char *cid_format(const cid_t *c);
int cid_codec(const cid_t *c);
/* The 32-byte sha2-256 digest inside the CID. */
const unsigned char *cid_digest(const cid_t *c);
int cid_equal(const cid_t *a, const cid_t *b);

#endif
