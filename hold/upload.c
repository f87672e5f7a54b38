/* upload.c - multipart blob uploads: io.atcr.hold.initiateUpload, getPartUploadUrl, uploadPart,
 * completeUpload, abortUpload. All need blob:write. With a tiers file, uploadPart measures parts and
 * completeUpload refuses a blob the uploader's tier has no room for (QuotaExceeded; quota.c). */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hold.h"
#include "log.h"

#define SMALL_BODY (64 * 1024)
#define COMPLETE_BODY (4 * 1024 * 1024) /* up to 10000 parts with etags */

/* An upload failure in XRPC form; status 500 for storage failures, else 400. */
static int send_bs_error(fcgi_req *r, bs_status st, const char *io_name)
{
	static const char *const msg[] = {
		[BS_INVALID_DIGEST] = "digest is malformed or does not match the uploaded bytes",
		[BS_INVALID_UPLOAD_ID] = "unknown or malformed upload id",
		[BS_INVALID_PART] = "part number out of range, out of order, or an etag that does not match",
		[BS_MISSING_PARTS] = "a listed part was never uploaded",
		[BS_NOT_FOUND] = "no such blob",
		[BS_TOO_LARGE] = "part larger than this hold accepts",
		[BS_IO] = "storage failure",
	};
	int status = st == BS_IO ? 500 : st == BS_TOO_LARGE ? 413 : st == BS_INVALID_UPLOAD_ID ? 404 : 400;
	const char *name = st == BS_IO ? io_name : blobstore_error_name(st);
	return hold_xrpc_error(r, status, name, msg[st]);
}

/* Authorize blob:write for method and read the JSON input; NULL after answering. */
static json_object *writer_input(fcgi_req *r, const char *method, size_t max, char **caller)
{
	if (hold_authorize(r, method, HOLD_WRITE_BLOBS, 1, caller) != 0)
		return NULL;
	return hold_read_json(r, max);
}

int upload_initiate(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL;
	json_object *in = writer_input(r, "io.atcr.hold.initiateUpload", SMALL_BODY, &caller);
	if (!in)
		goto out;
	const char *digest = jsonget_str(in, "digest");
	char id[BS_UPLOAD_ID_LEN + 1];
	if (!digest) {
		hold_xrpc_error(r, 400, "InvalidDigest", "digest is required");
		goto out;
	}
	bs_status st = bs_initiate(h->blobs, digest, id);
	if (st != BS_OK) {
		send_bs_error(r, st, "UploadFailed");
		goto out;
	}
	log_info("upload %s started by %s for %s", id, caller, digest);
	hold_reply(r, "uploadId", id, NULL);
out:
	json_object_put(in);
	free(caller);
	return 0;
}

/* A part number from JSON or a header: 1..BS_MAX_PARTS, else 0. */
static int part_number(const char *s)
{
	if (!s || !*s)
		return 0;
	char *end;
	long n = strtol(s, &end, 10);
	return *end || n < 1 || n > BS_MAX_PARTS ? 0 : (int)n;
}

int upload_part_url(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL;
	json_object *in = writer_input(r, "io.atcr.hold.getPartUploadUrl", SMALL_BODY, &caller), *pn;
	if (!in)
		goto out;
	const char *id = jsonget_str(in, "uploadId");
	if (!id || !blobstore_upload_id_ok(id)) {
		hold_xrpc_error(r, 404, "InvalidUploadId", "unknown or malformed upload id");
		goto out;
	}
	int64_t n = json_object_object_get_ex(in, "partNumber", &pn) && json_object_is_type(pn, json_type_int)
			    ? json_object_get_int64(pn) : 0;
	if (n < 1 || n > BS_MAX_PARTS) {
		hold_xrpc_error(r, 400, "InvalidPartNumber", "partNumber must be 1..10000");
		goto out;
	}
	/* The filesystem driver cannot presign: the part goes to our own uploadPart. */
	char url[1024], num[16];
	snprintf(url, sizeof url, "%s/xrpc/io.atcr.hold.uploadPart", h->public_url);
	snprintf(num, sizeof num, "%d", (int)n);
	json_object *o = json_object_new_object(), *hdrs = json_object_new_object();
	json_object_object_add(hdrs, "X-Upload-Id", json_object_new_string(id));
	json_object_object_add(hdrs, "X-Part-Number", json_object_new_string(num));
	json_object_object_add(o, "url", json_object_new_string(url));
	json_object_object_add(o, "method", json_object_new_string("PUT"));
	json_object_object_add(o, "headers", hdrs);
	fcgi_send_json(r, 200, o);
	json_object_put(o);
out:
	json_object_put(in);
	free(caller);
	return 0;
}

/* A part's body, counted, and cut off (a read error for the store) past budget bytes. */
typedef struct {
	fcgi_req *r;
	long long budget, total;
	int over;
} part_body;

static ssize_t read_part(void *ctx, void *dst, size_t n)
{
	part_body *b = ctx;
	ssize_t got = fcgi_read(b->r, dst, n);
	if (got > 0 && got > b->budget - b->total) {
		b->over = 1;
		return -1;
	}
	if (got > 0)
		b->total += got;
	return got;
}

/* The XRPC error of a blob the uploader's tier has no room for. QuotaExceeded is a 400: a 401/403 tells
 * an AppView to (re)join the crew and try again, which cannot help here. */
static int quota_error(fcgi_req *r, const char *message)
{
	return hold_xrpc_error(r, 400, "QuotaExceeded", message);
}

/* Refuse the upload for the quota, and keep nothing of it. */
static void quota_refuse(fcgi_req *r, sqlite3 *db, const char *id, const char *caller, const char *message)
{
	const hold_ctx *h = r->app;
	log_info("upload %s by %s refused: %s", id, caller, message);
	bs_abort(h->blobs, id);
	if (db)
		quota_forget_upload(db, id);
	quota_error(r, message);
}

int upload_part(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL;
	if (hold_authorize(r, "io.atcr.hold.uploadPart", HOLD_WRITE_BLOBS, 1, &caller) != 0)
		return 0;
	const char *id = fcgi_header(r, "X-Upload-Id");
	int n = part_number(fcgi_header(r, "X-Part-Number"));
	char etag[BS_ETAG_LEN + 1];
	if (!id || !blobstore_upload_id_ok(id)) {
		hold_xrpc_error(r, 404, "InvalidUploadId", "X-Upload-Id is missing or malformed");
	} else if (!n) {
		hold_xrpc_error(r, 400, "InvalidPartNumber", "X-Part-Number must be 1..10000");
	} else {
		sqlite3 *db = hold_db(h);
		const hold_tier *tier = quota_tier(h, db, caller);
		part_body body = {.r = r, .budget = tier && db ? quota_part_budget(db, tier, id, n) : LLONG_MAX};
		bs_status st = body.budget < 0 ? BS_IO : bs_put_part(h->blobs, id, n, read_part, &body, etag);
		char *err = NULL;
		if (body.over || body.budget < 0) {
			/* Larger than the whole tier: it could never fit, so stop writing it now. */
			char *msg = quota_exceeded_message(tier, -1, tier->limit);
			quota_refuse(r, db, id, caller, msg);
			free(msg);
		} else if (st != BS_OK) {
			send_bs_error(r, st, "UploadFailed");
		} else if (quota_on(h, caller) && (!db || quota_note_part(db, id, n, etag, body.total, (long long)time(NULL),
									     &err) != 0)) {
			log_error("upload %s part %d: %s", id, n, err ? err : "database unavailable");
			hold_xrpc_error(r, 500, "UploadFailed", "the part's size could not be recorded");
		} else {
			hold_reply(r, "etag", etag, NULL);
		}
		free(err);
	}
	free(caller);
	return 0;
}

int upload_complete(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL, *message = NULL, *err = NULL;
	bs_part *parts = NULL;
	json_object *in = writer_input(r, "io.atcr.hold.completeUpload", COMPLETE_BODY, &caller), *arr;
	if (!in)
		goto out;
	const char *id = jsonget_str(in, "uploadId"), *digest = jsonget_str(in, "digest");
	if (!id || !blobstore_upload_id_ok(id)) {
		hold_xrpc_error(r, 404, "InvalidUploadId", "unknown or malformed upload id");
		goto out;
	}
	if (!digest) {
		hold_xrpc_error(r, 400, "InvalidDigest", "digest is required");
		goto out;
	}
	if (!json_object_object_get_ex(in, "parts", &arr) || !json_object_is_type(arr, json_type_array) ||
	    json_object_array_length(arr) == 0) {
		hold_xrpc_error(r, 400, "MissingParts", "parts must list the uploaded parts");
		goto out;
	}
	size_t np = json_object_array_length(arr);
	if (np > BS_MAX_PARTS) {
		hold_xrpc_error(r, 400, "InvalidPartNumber", "too many parts");
		goto out;
	}
	parts = calloc(np, sizeof *parts);
	for (size_t i = 0; i < np; i++) {
		json_object *p = json_object_array_get_idx(arr, i), *num;
		parts[i].number = json_object_object_get_ex(p, "partNumber", &num) && json_object_is_type(num, json_type_int)
					  ? (int)json_object_get_int64(num) : 0;
		parts[i].etag = jsonget_str(p, "etag");
	}
	sqlite3 *db = hold_db(h);
	const hold_tier *tier = quota_tier(h, db, caller);
	int quota = QUOTA_FREE;
	if (tier && blobstore_digest_ok(digest)) {
		long long now = (long long)time(NULL), expiry = config_int(h->cfg, "storage.upload_expiry");
		quota = db ? quota_reserve(db, tier, caller, id, digest, parts, np, now, now - expiry, &message, &err) : -1;
		if (quota == QUOTA_OVER) {
			quota_refuse(r, db, id, caller, message);
			goto out;
		}
		if (quota < 0) {
			log_error("upload %s by %s: quota: %s", id, caller, err ? err : "database unavailable");
			hold_xrpc_error(r, 500, "CompletionFailed", "the storage quota could not be checked");
			goto out;
		}
	}
	long long size = 0;
	bs_status st = bs_complete(h->blobs, id, digest, parts, np, &size);
	if (st != BS_OK) {
		if (quota == QUOTA_RESERVED)
			quota_release(db, caller, digest);
		if (st == BS_INVALID_DIGEST && db)
			quota_forget_upload(db, id); /* the store discarded the upload */
		log_info("upload %s by %s not completed: %s", id, caller, blobstore_error_name(st));
		send_bs_error(r, st, "CompletionFailed");
		goto out;
	}
	if (db && h->tiers)
		quota_forget_upload(db, id);
	log_info("upload %s completed by %s: %s (%lld bytes, %zu parts)", id, caller, digest, size, np);
	hold_reply(r, "status", "completed", "digest", digest, NULL);
out:
	free(message);
	free(err);
	free(parts);
	json_object_put(in);
	free(caller);
	return 0;
}

int upload_abort(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL;
	json_object *in = writer_input(r, "io.atcr.hold.abortUpload", SMALL_BODY, &caller);
	if (!in)
		goto out;
	const char *id = jsonget_str(in, "uploadId");
	bs_status st = id ? bs_abort(h->blobs, id) : BS_INVALID_UPLOAD_ID;
	if (st != BS_OK) {
		send_bs_error(r, st, "AbortFailed");
		goto out;
	}
	sqlite3 *db = h->tiers ? hold_db(h) : NULL;
	if (db)
		quota_forget_upload(db, id);
	hold_reply(r, "status", "aborted", NULL);
out:
	json_object_put(in);
	free(caller);
	return 0;
}
