/* mst.h - the Merkle Search Tree of an atproto repository ("<collection>/<rkey>" -> record CID), built
 * whole from sorted pairs into its DAG-CBOR node blocks, with the root CID and the path proving a key. */
#ifndef ATCR_MST_H
#define ATCR_MST_H
#include <stddef.h>

#include "cid.h"

typedef struct {
	const char *key; /* "<collection>/<rkey>" */
	cid_t value;     /* the record's CID */
} mst_entry;

typedef struct mst_tree mst_tree; /* opaque; mst_free releases it */

/* A key's layer: the number of leading zero bits of SHA-256(key), counted in 2-bit steps (so the
 * tree has a fanout of about 4). Any bytes, valid MST key or not. */
int mst_key_height(const char *key, size_t len);
/* The length in bytes of the common prefix of a and b (prefix compression of node entries). */
size_t mst_common_prefix(const char *a, const char *b);
/* 1 when key is a valid MST key: "<collection>/<rkey>", both parts non-empty of [A-Za-z0-9_~-:.],
 * at most 1024 bytes in all. */
int mst_key_ok(const char *key);

/* Build the tree of n entries, which must be sorted strictly ascending by key (bytewise, as SQLite's
 * BINARY collation orders text). The keys are copied. NULL with *err (caller frees) on an invalid
 * key, keys out of order or duplicated, or no memory. Zero entries give the empty tree. */
mst_tree *mst_build(const mst_entry *entries, size_t n, char **err);
/* The root node's CID: what a commit's "data" names. */
const cid_t *mst_root(const mst_tree *t);
/* Number of node blocks (every node of the tree once, children before their parents). */
size_t mst_block_count(const mst_tree *t);
/* Node block i (0 <= i < mst_block_count): its CID and DAG-CBOR bytes, valid while t lives. */
void mst_block(const mst_tree *t, size_t i, const cid_t **cid, const unsigned char **data, size_t *len);
/* The nodes from the root down to where key is, or would be (what com.atproto.sync.getRecord sends
 * to prove a record's presence or absence): *nodes (caller frees) gets *n block indices, root first.
 * *value (may be NULL) points at the key's CID when the key is in the tree, else NULL.
 * 0 ok, -1 when out of memory. */
int mst_path(const mst_tree *t, const char *key, size_t **nodes, size_t *n, const cid_t **value);
void mst_free(mst_tree *t);

#endif
