/* blobstore.h - the hold's blob storage behind a driver interface (the filesystem driver here; an S3
 * driver implements the same operations). Blobs are content-addressed by OCI digest and appear whole or
 * not at all: multipart uploads are assembled in private space, verified, fsync'd and renamed. */
#ifndef ATCR_BLOBSTORE_H
#define ATCR_BLOBSTORE_H
#include <stddef.h>
#include <sys/types.h>

/* Outcomes; each maps onto an XRPC error name of the io.atcr.hold.* lexicons. */
typedef enum {
	BS_OK = 0,
	BS_INVALID_DIGEST,    /* malformed digest, or the bytes do not hash to it (InvalidDigest) */
	BS_INVALID_UPLOAD_ID, /* malformed or unknown upload id (InvalidUploadId) */
	BS_INVALID_PART,      /* part number out of range, or an etag that does not match (InvalidPartNumber) */
	BS_MISSING_PARTS,     /* a listed part was never uploaded, or no parts (MissingParts) */
	BS_NOT_FOUND,         /* no such blob */
	BS_TOO_LARGE,         /* a part over the size limit */
	BS_IO,                /* storage failure (UploadFailed / CompletionFailed) */
} bs_status;

#define BS_UPLOAD_ID_LEN 32 /* hex characters */
#define BS_ETAG_LEN 64      /* 64 hex digits (see blobstore_fs.c for what they hash) */
#define BS_MAX_PARTS 10000

typedef struct {
	int number;
	const char *etag;
} bs_part;

/* Streams a part body: returns bytes read into dst (0 at the end), or -1 on a read error. */
typedef ssize_t (*bs_reader)(void *ctx, void *dst, size_t n);
/* Called by list for each stored blob; mark is when it was stored or last touched (unix seconds).
 * Nonzero stops the listing. */
typedef int (*bs_blob_fn)(void *ctx, const char *digest, long long size, long long mark);
/* Called by list_uploads for each open upload, with the digest hint it was initiated with. */
typedef int (*bs_upload_fn)(void *ctx, const char *upload_id, const char *hint);

typedef struct blobstore blobstore;
typedef struct {
	const char *name;
	/* digest: the expected digest or a placeholder (blobstore_upload_hint_ok). */
	bs_status (*initiate)(blobstore *s, const char *digest, char upload_id[BS_UPLOAD_ID_LEN + 1]);
	bs_status (*put_part)(blobstore *s, const char *upload_id, int number, bs_reader read, void *ctx,
			      char etag[BS_ETAG_LEN + 1]);
	bs_status (*complete)(blobstore *s, const char *upload_id, const char *digest, const bs_part *parts,
			      size_t nparts, long long *size);
	bs_status (*abort)(blobstore *s, const char *upload_id);
	/* Size of a stored blob; BS_NOT_FOUND when absent. */
	bs_status (*stat)(blobstore *s, const char *digest, long long *size);
	/* A local file path for X-Sendfile (caller frees); NULL for drivers that cannot serve files. */
	char *(*local_path)(blobstore *s, const char *digest);
	/* Remove uploads untouched for max_age seconds; returns how many. */
	int (*expire_uploads)(blobstore *s, long max_age);
	/* For garbage collection. Every stored blob, in no particular order: 0, or -1 when the store
	 * cannot be read. */
	int (*list)(blobstore *s, bs_blob_fn fn, void *ctx);
	/* Every open upload: 0, or -1. */
	int (*list_uploads)(blobstore *s, bs_upload_fn fn, void *ctx);
	/* Restart a blob's mark (now) when it is at or before cutoff: it is in use. BS_NOT_FOUND when
	 * absent (or removed meanwhile). */
	bs_status (*touch)(blobstore *s, const char *digest, long long cutoff);
	/* Delete a blob whose mark is at or before cutoff. The mark is read again once the blob is out of
	 * sight, so a completion or touch that races the removal wins: the blob stays and *removed = 0.
	 * Readers that opened it read on. *size = its size. BS_NOT_FOUND when absent. */
	bs_status (*remove)(blobstore *s, const char *digest, long long cutoff, int *removed, long long *size);
	void (*close)(blobstore *s);
} bs_driver;

struct blobstore {
	const bs_driver *drv;
	void *impl;
};

/* Open the filesystem driver rooted at dir (created, mode 0750); NULL with *err (caller frees). Leftover
 * temporary files from a crash are removed here. */
blobstore *blobstore_fs_open(const char *dir, long long max_part_size, char **err);

/* Pure helpers. */
/* 1 for "sha256:<64 lower hex>" or "sha512:<128 lower hex>". */
int blobstore_digest_ok(const char *digest);
/* 1 for what initiateUpload may name: the final digest, or any placeholder (an AppView streaming a
 * blob does not know its digest yet): 1..256 printable ASCII characters. Only completeUpload's digest
 * is checked against the bytes, and the hint never becomes part of a path. */
int blobstore_upload_hint_ok(const char *hint);
/* 1 for an upload id we could have issued (BS_UPLOAD_ID_LEN lower hex). */
int blobstore_upload_id_ok(const char *id);
/* The XRPC error name for a status ("InvalidDigest", ...). */
const char *blobstore_error_name(bs_status st);

/* Convenience wrappers over s->drv. */
#define bs_initiate(s, d, id) ((s)->drv->initiate((s), (d), (id)))
#define bs_put_part(s, id, n, r, c, e) ((s)->drv->put_part((s), (id), (n), (r), (c), (e)))
#define bs_complete(s, id, d, p, n, sz) ((s)->drv->complete((s), (id), (d), (p), (n), (sz)))
#define bs_abort(s, id) ((s)->drv->abort((s), (id)))
#define bs_stat(s, d, sz) ((s)->drv->stat((s), (d), (sz)))
#define bs_local_path(s, d) ((s)->drv->local_path((s), (d)))
#define bs_expire_uploads(s, a) ((s)->drv->expire_uploads((s), (a)))
#define bs_list(s, fn, c) ((s)->drv->list((s), (fn), (c)))
#define bs_list_uploads(s, fn, c) ((s)->drv->list_uploads((s), (fn), (c)))
#define bs_touch(s, d, cut) ((s)->drv->touch((s), (d), (cut)))
#define bs_remove(s, d, cut, rm, sz) ((s)->drv->remove((s), (d), (cut), (rm), (sz)))
#define bs_close(s) ((s)->drv->close(s))

#endif
