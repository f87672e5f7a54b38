/* regindex.h - the registry's index (migration 3): repositories, manifests with their blobs, tags,
 * referrers and the catalog, as the /v2/ manifest endpoints read and write them. Pure SQL, no network. */
#ifndef ATCR_REGINDEX_H
#define ATCR_REGINDEX_H
#include <sqlite3.h>
#include <stddef.h>

#include "oci.h"

/* What a push, or a manifest read back from a PDS, puts into the index. */
typedef struct {
	const char *did, *repository;
	const oci_manifest *m;   /* digest, media type, size, artifact type, config/layers/manifests,
				  * subject, annotations */
	const void *raw;         /* the exact bytes (m->size of them), or NULL when not at hand */
	const char *hold_did;    /* NULL when unknown */
	const char *record_rkey; /* io.atcr.manifest record key; NULL when unknown */
	const char *blob_cid;    /* manifestBlob CID in the PDS; NULL when unknown */
	const char *tag;         /* point this tag at the manifest too; NULL for none */
	long long now;           /* unix seconds */
} regindex_entry;

/* Store e in one transaction: the repository (created if new; push != 0 also counts a push and sets
 * updated_at), the manifest row (known fields of an existing row are kept when e leaves them NULL),
 * its manifest_blobs rows, and the tag (moved if it pointed elsewhere; checked_at = now).
 * 0 ok, -1 with *err set (caller frees). */
int regindex_store(sqlite3 *db, const regindex_entry *e, int push, char **err);

/* A manifest row. */
typedef struct {
	char *digest, *media_type;
	long long size;
	char *artifact_type, *subject_digest, *annotations; /* NULL when absent; annotations is JSON */
	char *hold_did, *record_rkey, *blob_cid;            /* NULL when unknown */
	unsigned char *raw;                                 /* NULL when not cached */
	size_t raw_len;
	long long created_at;
} regindex_manifest;

/* The manifest digest of did/repository: 1 found (*out filled, free with regindex_manifest_free),
 * 0 none, -1 with *err set. */
int regindex_manifest_get(sqlite3 *db, const char *did, const char *repository, const char *digest,
			  regindex_manifest *out, char **err);
void regindex_manifest_free(regindex_manifest *m);
/* The digest of the repository's manifest whose io.atcr.manifest record key is rkey: 1 found (*digest
 * malloc'd, caller frees), 0 none, -1 with *err set. */
int regindex_manifest_by_rkey(sqlite3 *db, const char *did, const char *repository, const char *rkey, char **digest,
			      char **err);
/* The repository and digest of a manifest of did whose record key is rkey, in whichever repository (a
 * record delete names only the key): 1 found (*repository and *digest malloc'd, caller frees both),
 * 0 none, -1 with *err set. */
int regindex_manifest_find_rkey(sqlite3 *db, const char *did, const char *rkey, char **repository, char **digest,
				char **err);
/* Point an existing manifest row at its record: hold, record key and manifestBlob CID (each kept when
 * NULL); the parsed fields stay as they are. 1 updated, 0 no such row, -1 with *err set. */
int regindex_manifest_set_record(sqlite3 *db, const char *did, const char *repository, const char *digest,
				 const char *hold_did, const char *record_rkey, const char *blob_cid, char **err);
/* 1 when the repository has the manifest digest, 0 not, -1 with *err set. */
int regindex_manifest_exists(sqlite3 *db, const char *did, const char *repository, const char *digest, char **err);
/* Remove the manifest, its blob rows and every tag pointing at it, in one transaction.
 * 1 removed, 0 there was no such manifest, -1 with *err set. */
int regindex_manifest_delete(sqlite3 *db, const char *did, const char *repository, const char *digest, char **err);

/* A tag row. */
typedef struct {
	char *digest;
	long long updated_at; /* when the tag was pushed */
	long long checked_at; /* when the row was last confirmed with the PDS */
} regindex_tag;

/* 1 found (*out filled, free with regindex_tag_free), 0 none, -1 with *err set. */
int regindex_tag_get(sqlite3 *db, const char *did, const char *repository, const char *tag, regindex_tag *out,
		     char **err);
void regindex_tag_free(regindex_tag *t);
/* Point tag at digest (insert or move), with its push time and the time it was confirmed. The
 * repository row is created if missing. 0 ok, -1 with *err set. */
int regindex_tag_put(sqlite3 *db, const char *did, const char *repository, const char *tag, const char *digest,
		     long long updated_at, long long checked_at, char **err);
/* 1 removed, 0 there was no such tag, -1 with *err set. */
int regindex_tag_delete(sqlite3 *db, const char *did, const char *repository, const char *tag, char **err);
/* The tags of the repository pointing at digest, sorted: a NULL-terminated vector (caller frees with
 * regindex_strv_free; empty when none) or NULL with *err set. */
char **regindex_tags_for_digest(sqlite3 *db, const char *did, const char *repository, const char *digest,
				char **err);

/* One page of sorted names: the tags of a repository, or the catalog. */
typedef struct {
	char **names;  /* NULL-terminated (regindex_page_free) */
	size_t count;
	int more;      /* 1 when names follow the last one returned */
} regindex_page;

/* The repository's tags sorted (byte order) after last (NULL: from the start), at most n (n < 0: all).
 * 0 ok, -1 with *err set. */
int regindex_tags_list(sqlite3 *db, const char *did, const char *repository, const char *last, int n,
		       regindex_page *out, char **err);
/* Repositories with at least one manifest, named "<handle>/<repository>" (the users table's handle when
 * verified, else the DID), sorted after last, at most n (n < 0: all). 0 ok, -1 with *err set. */
int regindex_catalog(sqlite3 *db, const char *last, int n, regindex_page *out, char **err);
void regindex_page_free(regindex_page *p);

/* 1 when the index knows the repository (a repositories row), 0 not, -1 with *err set. */
int regindex_repo_exists(sqlite3 *db, const char *did, const char *repository, char **err);
/* Move an existing repository's updated_at (its last push) forward to when; never back. 0 ok, -1 with
 * *err set. For pushes seen on the network, which regindex_store (push == 0) does not date. */
int regindex_repo_pushed(sqlite3 *db, const char *did, const char *repository, long long when, char **err);
/* Count a pull (pull_count + 1, last_pull = now) of an existing repository. 0 ok, -1 with *err set. */
int regindex_count_pull(sqlite3 *db, const char *did, const char *repository, long long now, char **err);

/* A manifest whose subject is a given digest, as a referrers response lists it. */
typedef struct {
	char *media_type, *digest, *artifact_type, *annotations; /* artifact_type, annotations may be NULL */
	long long size;
} regindex_referrer;

/* The repository's manifests whose subject is subject_digest, optionally only those of artifact_type
 * (NULL: all), oldest first. 0 ok (*out malloc'd array of *n, free with regindex_referrers_free),
 * -1 with *err set. */
int regindex_referrers(sqlite3 *db, const char *did, const char *repository, const char *subject_digest,
		       const char *artifact_type, regindex_referrer **out, size_t *n, char **err);
void regindex_referrers_free(regindex_referrer *r, size_t n);

/* The hold of the newest manifest of did/repository that references blob digest (as config, layer or
 * child; NULL digest: any manifest of the repository). 1 found (*hold_did malloc'd, caller frees),
 * 0 none, -1 with *err set. For blob pulls. */
int regindex_blob_hold(sqlite3 *db, const char *did, const char *repository, const char *digest, char **hold_did,
		       char **err);

/* The record key for a new io.atcr.manifest record of did/repository/digest, agreed among all the
 * AppView processes sharing the index: fresh (a TID the caller made) is claimed, unless another push
 * of the same manifest claimed a key less than ttl seconds before now; then that key is the answer,
 * so simultaneous first pushes write one record. *rkey malloc'd (caller frees). 0 ok, -1 with *err. */
int regindex_claim_rkey(sqlite3 *db, const char *did, const char *repository, const char *digest, const char *fresh,
			long long now, long long ttl, char **rkey, char **err);

void regindex_strv_free(char **v);

#endif
