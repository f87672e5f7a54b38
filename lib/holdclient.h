/* holdclient.h - the AppView's calls to a hold's XRPC on a user's behalf: multipart blob uploads,
 * blob presence, manifest notifications. Calls that need auth carry a service token from the user's
 * PDS (svctoken) with aud = the hold's DID and lxm = the method. Also the hold's record-key convention,
 * which the hold and the AppView share. */
#ifndef ATCR_HOLDCLIENT_H
#define ATCR_HOLDCLIENT_H
#include <json-c/json.h>
#include <sqlite3.h>
#include <stddef.h>

#include "http.h"

typedef struct {
	sqlite3 *db;           /* the index: the user's PDS session (registry_logins) */
	const http_opts *http;
	const char *user_did;  /* who the calls act for; NULL or "" = anonymous (reads of public holds) */
	const char *hold_did;
	const char *hold_url;  /* "https://hold.example" (no trailing slash) */
} hold_client;

/* A failed call: *err (caller frees) gets "<XRPC error>: <message>". The return codes: */
enum {
	HOLD_OK = 0,
	HOLD_FAILED = -1,      /* transport failure, 5xx, or no service token */
	HOLD_REFUSED = -2,     /* 401/403: the user may not do this on the hold */
	HOLD_BAD_DIGEST = -3,  /* completeUpload: the bytes do not match the digest */
	HOLD_NOT_FOUND = -4,   /* unknown upload id, or a missing part */
	HOLD_QUOTA = -5,       /* QuotaExceeded: the blob would take the user past their storage quota
				* (*err ends with the hold's message); the hold kept nothing */
};

/* io.atcr.hold.initiateUpload; digest may be a placeholder hint (the real one is checked at
 * completion). *upload_id malloc'd. */
int hold_initiate_upload(const hold_client *h, const char *digest, char **upload_id, char **err);

/* Stream one part: read_cb is called until it has given len bytes (0 = end early: an error).
 * *etag (caller frees) on success. */
int hold_upload_part(const hold_client *h, const char *upload_id, int part_number,
		     size_t (*read_cb)(void *dst, size_t n, void *ctx), void *ctx, long long len, char **etag,
		     char **err);

/* io.atcr.hold.completeUpload with parts = JSON [{partNumber, etag}] (not consumed). */
int hold_complete_upload(const hold_client *h, const char *upload_id, const char *digest,
			 json_object *parts, char **err);

/* io.atcr.hold.abortUpload. */
int hold_abort_upload(const hold_client *h, const char *upload_id, char **err);

/* Whether the hold has the blob: 1 present (*size set), 0 absent, <0 HOLD_* error. Uses HEAD on
 * com.atproto.sync.getBlob, with a service token when user_did is set (private holds). */
int hold_blob_stat(const hold_client *h, const char *digest, long long *size, char **err);

/* The URL a client is redirected to for the blob's bytes (getBlob with did and cid = the digest, and
 * token = a getBlob service token when not NULL: private holds). Caller frees. */
char *hold_blob_url(const char *hold_url, const char *hold_did, const char *digest, const char *token);
/* A getBlob service token of h's user for h's hold (for hold_blob_url). Caller frees; NULL with *err. */
char *hold_read_token(const hold_client *h, char **err);

/* io.atcr.hold.notifyManifest: operation "push" or "pull", manifest = the io.atcr.manifest record
 * (its layers become layer records on push; not consumed). user_did is the image owner. */
int hold_notify_manifest(const hold_client *h, const char *repository, const char *manifest_digest,
			 json_object *manifest, const char *operation, char **err);

/* The deterministic record key of a DID-derived record (crew, stats): base32-lower(sha256(text)[:16]),
 * 26 characters. */
void hold_hash_rkey(const char *text, char out[27]);

#endif
