/* dagcbor.h - the atproto data model: its JSON form ({"$link"}, {"$bytes"}, blobs) <-> canonical
 * DAG-CBOR bytes, with the data-model checks (no floats, well-formed links, bytes and blobs). */
#ifndef ATCR_DAGCBOR_H
#define ATCR_DAGCBOR_H
#include <json-c/json.h>

#include "buf.h"
#include "cid.h"

/* Encode a JSON-form object as canonical DAG-CBOR (map keys by length, then bytes; minimal ints).
 * Refuses what the data model forbids; 0 ok, -1 with *err (caller frees). */
int dagcbor_encode(const json_object *j, buf_t *out, char **err);
/* Decode DAG-CBOR into the JSON form (links as {"$link": cid}, bytes as {"$bytes": base64});
 * NULL with *err on malformed or non-DAG-CBOR input (floats, indefinite lengths, trailing bytes). */
json_object *dagcbor_decode(const void *data, size_t len, char **err);
/* The size of the one CBOR item at the start of data, for input holding items back to back (a
 * firehose frame: header, then body). Checks structure only: the item is complete, lengths are
 * definite, and no declared length or count exceeds the bytes left, so decoding the item afterwards
 * never allocates for bytes that are not there. 0 ok (*used set), -1 with *err (caller frees). */
int dagcbor_item_size(const void *data, size_t len, size_t *used, char **err);
/* Encode and hash: the CID (dag-cbor, sha2-256) of a JSON-form object; bytes in *out if non-NULL. */
int dagcbor_cid(const json_object *j, cid_t *cid, buf_t *out, char **err);

#endif
