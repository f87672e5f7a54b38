/* repo.c - the hold's records as a signed atproto repository: after every change to the records, in
 * the same transaction, a new commit {did, version 3, data: MST root, rev, prev: null, sig} signed
 * with the hold's K-256 key. The whole tree is rebuilt from the records for each commit (measured: a
 * few tens of milliseconds for 5000 records, see docs/decisions.md); the head and the blocks it needs
 * are in recstore's repo_head and repo_blocks. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cid.h"
#include "crypto.h"
#include "dagcbor.h"
#include "db.h"
#include "encoding.h"
#include "hold.h"
#include "mst.h"
#include "recstore.h"
#include "tid.h"

void repo_next_rev(const char *prev, char out[14])
{
	unsigned long long micros;
	unsigned clock_id;
	tid_next(out);
	/* Another process (a CLI command beside serve) or a clock set back may have made a later one. */
	if (prev && strcmp(out, prev) <= 0 && tid_decode(prev, &micros, &clock_id) == 0)
		tid_encode(micros + 1, clock_id, out);
}

json_object *repo_unsigned_commit(const char *did, const cid_t *data, const char *rev)
{
	json_object *c = json_object_new_object(), *link = json_object_new_object();
	char *root = cid_format(data);
	json_object_object_add(link, "$link", json_object_new_string(root ? root : ""));
	free(root);
	json_object_object_add(c, "did", json_object_new_string(did));
	json_object_object_add(c, "version", json_object_new_int(3));
	json_object_object_add(c, "data", link);
	json_object_object_add(c, "rev", json_object_new_string(rev));
	json_object_object_add(c, "prev", NULL);
	return c;
}

/* Sign the unsigned commit in place (adds "sig") and encode it: its CID and bytes. 0, or -1 with *err. */
static int sign_commit(const crypto_key *key, json_object *commit, cid_t *cid, buf_t *bytes, char **err)
{
	buf_t unsigned_bytes = BUF_INIT;
	unsigned char sig[64];
	char *b64 = NULL, *cerr = NULL;
	int rc = -1;
	if (dagcbor_encode(commit, &unsigned_bytes, &cerr) != 0) {
		buf_error(err, "encoding the commit: %s", cerr ? cerr : "?");
		goto out;
	}
	if (crypto_ecdsa_sign(key, unsigned_bytes.data, unsigned_bytes.len, sig) != 0) {
		buf_error(err, "signing the commit failed");
		goto out;
	}
	json_object *sigobj = json_object_new_object();
	b64 = enc_b64_encode(sig, sizeof sig);
	json_object_object_add(sigobj, "$bytes", json_object_new_string(b64 ? b64 : ""));
	json_object_object_add(commit, "sig", sigobj);
	if (dagcbor_cid(commit, cid, bytes, &cerr) != 0) {
		buf_error(err, "encoding the signed commit: %s", cerr ? cerr : "?");
		goto out;
	}
	rc = 0;
out:
	buf_free(&unsigned_bytes);
	free(b64);
	free(cerr);
	return rc;
}

/* Store the tree's node blocks; *cids (caller frees) lists them for the head. 0, or -1 with *err. */
static int store_tree(sqlite3 *db, const mst_tree *tree, cid_t **cids, char **err)
{
	size_t n = mst_block_count(tree);
	*cids = malloc(n * sizeof **cids);
	if (!*cids)
		return buf_error(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const cid_t *cid;
		const unsigned char *data;
		size_t len;
		mst_block(tree, i, &cid, &data, &len);
		if (recstore_put_block(db, cid, data, len, err) != 0)
			return -1;
		(*cids)[i] = *cid;
	}
	return 0;
}

/* 1 when the head commit names h->did and h->key signed it. A hold that changed its DID (hold.did_method)
 * or its signing key needs a new commit although no record changed: the old one would not verify
 * against the DID document. */
static int head_is_ours(const hold_ctx *h, sqlite3 *db, const char *head)
{
	buf_t block = BUF_INIT, unsigned_bytes = BUF_INIT;
	json_object *commit = NULL, *sig;
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	char *e = NULL;
	int ours = 0;
	if (recstore_get_block(db, head, &block) != 1 || !(commit = dagcbor_decode(block.data, block.len, &e)))
		goto out;
	const char *did = jsonget_str(commit, "did");
	const char *b64 = json_object_object_get_ex(commit, "sig", &sig) ? jsonget_str(sig, "$bytes") : NULL;
	if (!did || strcmp(did, h->did) != 0 || !b64 || enc_b64_decode(b64, strlen(b64), &raw, &rawlen) != 0)
		goto out;
	json_object_object_del(commit, "sig");
	if (dagcbor_encode(commit, &unsigned_bytes, &e) == 0)
		ours = crypto_ecdsa_verify(h->key, unsigned_bytes.data, unsigned_bytes.len, raw, rawlen);
out:
	buf_free(&block);
	buf_free(&unsigned_bytes);
	json_object_put(commit);
	free(raw);
	free(e);
	return ours;
}

int repo_commit(const hold_ctx *h, sqlite3 *db, char **err)
{
	char *head = NULL, *head_rev = NULL, *cerr = NULL, *commit_str = NULL;
	mst_entry *entries = NULL;
	size_t n = 0;
	mst_tree *tree = NULL;
	cid_t *nodes = NULL, commit_cid;
	json_object *commit = NULL;
	buf_t bytes = BUF_INIT;
	int stale = 1, rc = -1;
	if (!h->did || !h->key)
		return buf_error(err, "the hold has no DID or signing key to commit with");
	if (recstore_head(db, &head, &head_rev, &stale, err) != 0)
		goto out;
	if (head && !stale && head_is_ours(h, db, head)) {
		rc = 0;
		goto out;
	}
	if (recstore_entries(db, &entries, &n, err) != 0)
		goto out;
	if (!(tree = mst_build(entries, n, &cerr))) {
		buf_error(err, "building the MST: %s", cerr ? cerr : "?");
		goto out;
	}
	if (store_tree(db, tree, &nodes, err) != 0)
		goto out;
	char rev[14];
	repo_next_rev(head_rev, rev);
	commit = repo_unsigned_commit(h->did, mst_root(tree), rev);
	if (sign_commit(h->key, commit, &commit_cid, &bytes, err) != 0 ||
	    recstore_put_block(db, &commit_cid, bytes.data, bytes.len, err) != 0)
		goto out;
	if (!(commit_str = cid_format(&commit_cid))) {
		buf_error(err, "out of memory");
		goto out;
	}
	if (recstore_set_head(db, commit_str, rev, nodes, mst_block_count(tree), err) != 0)
		goto out;
	rc = 1;
out:
	free(head);
	free(head_rev);
	free(cerr);
	free(commit_str);
	free(nodes);
	recstore_entries_free(entries, n);
	mst_free(tree);
	json_object_put(commit);
	buf_free(&bytes);
	return rc;
}

int repo_tx_commit(const hold_ctx *h, sqlite3 *db, char **err)
{
	return repo_commit(h, db, err) < 0 || db_exec(db, "COMMIT", err) != 0 ? -1 : 0;
}

int repo_update(const hold_ctx *h, char **err)
{
	sqlite3 *db = hold_db(h);
	if (!db)
		return buf_error(err, "database unavailable");
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	int rc = repo_commit(h, db, err);
	if (rc < 0 || db_exec(db, "COMMIT", err) != 0) {
		char *ignored = NULL;
		db_exec(db, "ROLLBACK", &ignored);
		free(ignored);
		return -1;
	}
	return rc;
}
