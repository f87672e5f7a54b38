/* mst.c - the atproto Merkle Search Tree, built whole from sorted keys (see mst.h).
 *
 * A key's layer is its hash's leading zero bits / 2. The root sits at the highest layer of any key;
 * a node at layer h holds the keys of layer h in its range, and the runs of lower keys between them
 * become subtrees at layer h - 1 (a layer with no key of its own still gets a node holding only the
 * subtree pointer, as @atproto/repo makes them). The same keys always give the same tree. */
#include "mst.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"

#define MST_MAX_KEY 1024

typedef struct {
	long left;            /* node index of the subtree before the first entry, or -1 */
	size_t n;             /* entries */
	size_t *keys;         /* indices into the tree's keys */
	long *right;          /* node index of the subtree after each entry, or -1 */
	cid_t cid;
	unsigned char *data;  /* DAG-CBOR */
	size_t len;
} mst_node;

struct mst_tree {
	char **keys;
	cid_t *values;
	unsigned char *heights;
	size_t nkeys;
	mst_node *nodes;      /* children before their parents; the root is last */
	size_t nnodes, cap;
};

int mst_key_height(const char *key, size_t len)
{
	unsigned char h[32];
	int zeros = 0;
	crypto_sha256(key, len, h);
	for (int i = 0; i < 32; i++) {
		unsigned char b = h[i];
		if (b == 0) {
			zeros += 4;
			continue;
		}
		zeros += b < 4 ? 3 : b < 16 ? 2 : b < 64 ? 1 : 0;
		break;
	}
	return zeros;
}

size_t mst_common_prefix(const char *a, const char *b)
{
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	return i;
}

static int key_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '~' ||
	       c == '-' || c == ':' || c == '.';
}

int mst_key_ok(const char *key)
{
	size_t len = strlen(key), slash = 0, nslash = 0;
	if (len == 0 || len > MST_MAX_KEY)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (key[i] == '/') {
			slash = i;
			nslash++;
		} else if (!key_char_ok((unsigned char)key[i])) {
			return 0;
		}
	}
	return nslash == 1 && slash > 0 && slash < len - 1;
}

/* ---- node encoding: canonical DAG-CBOR written directly (map keys "e" < "l"; "k" < "p" < "t" < "v") */

static int put_head(buf_t *out, unsigned major, uint64_t v)
{
	unsigned char h[9];
	size_t n = 1;
	major <<= 5;
	if (v < 24) {
		h[0] = (unsigned char)(major | v);
	} else {
		int bytes = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
		h[0] = (unsigned char)(major | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27));
		for (int i = bytes - 1; i >= 0; i--)
			h[n++] = (unsigned char)(v >> (8 * i));
	}
	return buf_append(out, h, n);
}

static int put_key(buf_t *out, char name)
{
	unsigned char k[2] = {0x61, (unsigned char)name}; /* text of length 1 */
	return buf_append(out, k, 2);
}

/* A CID link: tag 42 around the bytes 0x00 (multibase identity) + the binary CID. */
static int put_link(buf_t *out, const cid_t *cid)
{
	static const unsigned char zero = 0;
	if (!cid)
		return put_head(out, 7, 22); /* null */
	return put_head(out, 6, 42) < 0 || put_head(out, 2, CID_BYTES + 1) < 0 || buf_append(out, &zero, 1) < 0 ||
			       buf_append(out, cid->bytes, CID_BYTES) < 0
		       ? -1
		       : 0;
}

static const cid_t *node_cid(const mst_tree *t, long idx)
{
	return idx < 0 ? NULL : &t->nodes[idx].cid;
}

static int encode_node(const mst_tree *t, const mst_node *nd, buf_t *out)
{
	const char *prev = "";
	if (put_head(out, 5, 2) < 0 || put_key(out, 'e') < 0 || put_head(out, 4, nd->n) < 0)
		return -1;
	for (size_t i = 0; i < nd->n; i++) {
		const char *key = t->keys[nd->keys[i]];
		size_t p = mst_common_prefix(prev, key), len = strlen(key);
		if (put_head(out, 5, 4) < 0 || put_key(out, 'k') < 0 || put_head(out, 2, len - p) < 0 ||
		    buf_append(out, key + p, len - p) < 0 || put_key(out, 'p') < 0 || put_head(out, 0, p) < 0 ||
		    put_key(out, 't') < 0 || put_link(out, node_cid(t, nd->right[i])) < 0 || put_key(out, 'v') < 0 ||
		    put_link(out, &t->values[nd->keys[i]]) < 0)
			return -1;
		prev = key;
	}
	return put_key(out, 'l') < 0 || put_link(out, node_cid(t, nd->left)) < 0 ? -1 : 0;
}

static void node_release(mst_node *nd)
{
	free(nd->keys);
	free(nd->right);
	free(nd->data);
}

/* Encode nd, hash it and append it to the tree's nodes; its index, or -1 when out of memory (nd is
 * released either way). */
static long add_node(mst_tree *t, mst_node *nd)
{
	buf_t bytes = BUF_INIT;
	if (t->nnodes == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		mst_node *nn = realloc(t->nodes, ncap * sizeof *nn);
		if (!nn)
			goto fail;
		t->nodes = nn;
		t->cap = ncap;
	}
	if (encode_node(t, nd, &bytes) < 0)
		goto fail;
	cid_of(CID_CODEC_DAG_CBOR, bytes.data, bytes.len, &nd->cid);
	nd->len = bytes.len;
	nd->data = (unsigned char *)buf_detach(&bytes);
	t->nodes[t->nnodes] = *nd;
	return (long)t->nnodes++;
fail:
	buf_free(&bytes);
	node_release(nd);
	return -1;
}

/* The node at layer height over keys [lo, hi), whose heights are all <= height; its index, or -1 when
 * out of memory. Children first, so that their CIDs are known when the node is encoded. */
static long build(mst_tree *t, size_t lo, size_t hi, int height)
{
	mst_node nd = {.left = -1};
	size_t count = 0, run = lo;
	for (size_t i = lo; i < hi; i++)
		count += t->heights[i] == height;
	nd.keys = malloc((count ? count : 1) * sizeof *nd.keys);
	nd.right = malloc((count ? count : 1) * sizeof *nd.right);
	if (!nd.keys || !nd.right)
		goto fail;
	for (size_t i = lo; i <= hi; i++) {
		if (i < hi && t->heights[i] != height)
			continue;
		/* The run of lower keys before key i (or before the end) is a subtree one layer down. */
		long sub = -1;
		if (run < i && (sub = build(t, run, i, height - 1)) < 0)
			goto fail;
		if (nd.n == 0)
			nd.left = sub;
		else
			nd.right[nd.n - 1] = sub;
		if (i < hi) {
			nd.keys[nd.n] = i;
			nd.right[nd.n] = -1;
			nd.n++;
		}
		run = i + 1;
	}
	return add_node(t, &nd);
fail:
	node_release(&nd);
	return -1;
}

mst_tree *mst_build(const mst_entry *entries, size_t n, char **err)
{
	mst_tree *t = calloc(1, sizeof *t);
	int top = 0;
	if (!t)
		goto oom;
	t->keys = calloc(n ? n : 1, sizeof *t->keys);
	t->values = malloc((n ? n : 1) * sizeof *t->values);
	t->heights = malloc(n ? n : 1);
	if (!t->keys || !t->values || !t->heights)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *key = entries[i].key;
		if (!key || !mst_key_ok(key)) {
			buf_error(err, "invalid MST key: %s", key ? key : "(null)");
			goto fail;
		}
		if (i > 0 && strcmp(entries[i - 1].key, key) >= 0) {
			buf_error(err, "MST keys out of order or repeated: %s after %s", key, entries[i - 1].key);
			goto fail;
		}
		if (!(t->keys[i] = strdup(key)))
			goto oom;
		t->nkeys = i + 1;
		t->values[i] = entries[i].value;
		int h = mst_key_height(key, strlen(key));
		t->heights[i] = (unsigned char)h;
		if (h > top)
			top = h;
	}
	if (build(t, 0, n, top) < 0)
		goto oom;
	return t;
oom:
	buf_error(err, "out of memory");
fail:
	mst_free(t);
	return NULL;
}

const cid_t *mst_root(const mst_tree *t)
{
	return &t->nodes[t->nnodes - 1].cid;
}

size_t mst_block_count(const mst_tree *t)
{
	return t->nnodes;
}

void mst_block(const mst_tree *t, size_t i, const cid_t **cid, const unsigned char **data, size_t *len)
{
	*cid = &t->nodes[i].cid;
	*data = t->nodes[i].data;
	*len = t->nodes[i].len;
}

int mst_path(const mst_tree *t, const char *key, size_t **nodes, size_t *n, const cid_t **value)
{
	size_t cap = 8, count = 0;
	size_t *path = malloc(cap * sizeof *path);
	long cur = (long)t->nnodes - 1;
	if (value)
		*value = NULL;
	if (!path)
		return -1;
	while (cur >= 0) {
		const mst_node *nd = &t->nodes[cur];
		if (count == cap) {
			size_t *np = realloc(path, (cap *= 2) * sizeof *np);
			if (!np) {
				free(path);
				return -1;
			}
			path = np;
		}
		path[count++] = (size_t)cur;
		size_t i = 0;
		int c = 1;
		while (i < nd->n && (c = strcmp(t->keys[nd->keys[i]], key)) < 0)
			i++;
		if (i < nd->n && c == 0) {
			if (value)
				*value = &t->values[nd->keys[i]];
			break;
		}
		cur = i == 0 ? nd->left : nd->right[i - 1];
	}
	*nodes = path;
	*n = count;
	return 0;
}

void mst_free(mst_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnodes; i++)
		node_release(&t->nodes[i]);
	for (size_t i = 0; i < t->nkeys; i++)
		free(t->keys[i]);
	free(t->nodes);
	free(t->keys);
	free(t->values);
	free(t->heights);
	free(t);
}
