/* blobs.c - blobs and blob uploads of the /v2/ API. Bytes never rest in the AppView: reads are a 307 to
 * the hold's getBlob, and upload bodies stream through a running SHA-256 into the hold's multipart upload,
 * part by part. The session (hold upload id, parts, offset, digest state) lives in the index's uploads
 * table, so whichever FastCGI process takes the next request carries on. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "digest.h"
#include "encoding.h"
#include "holdclient.h"
#include "pdsuser.h"
#include "log.h"
#include "regindex.h"
#include "registry.h"

/* ---- reading blobs */

int registry_pull_hold(reg_req *q, const char *digest, char **hold_did, char **hold_url, char **err)
{
	char *did = NULL, *ierr = NULL;
	if (regindex_blob_hold(q->db, q->owner_did, registry_repo(q), digest, &did, &ierr) < 0)
		log_warn("index: %s", ierr);
	free(ierr);
	if (!did)
		return registry_user_hold(q, q->owner_did, hold_did, hold_url, err);
	char *url = registry_hold_url(q, did, err);
	if (!url) {
		free(did);
		return -1;
	}
	*hold_did = did;
	*hold_url = url;
	return 0;
}

int blobs_get(reg_req *q)
{
	char *hold_did = NULL, *hold_url = NULL, *err = NULL, *url = NULL, *token = NULL;
	const char *digest = q->route.ref;
	if (registry_owner(q) != 0)
		goto out;
	/* A HEAD with a push token is a pusher asking whether to upload: the answer must be about the hold
	 * the manifest will name (its push hold), not where older manifests keep the blob, or a push after
	 * a change of default hold would skip blobs the new hold lacks. */
	int pushing = q->r->head && registry_allowed(q, REGTOKEN_PUSH);
	if ((pushing ? registry_push_hold(q, &hold_did, &hold_url, &err)
		     : registry_pull_hold(q, digest, &hold_did, &hold_url, &err)) != 0) {
		log_info("blob %s of %s: %s", digest, q->route.name.full, err);
		registry_fail(q, OCI_BLOB_UNKNOWN, err, NULL);
		goto out;
	}
	/* Ask as nobody first: public holds need no token, so no PDS round trip. A private hold
	 * refuses that, and then the caller's own service token decides. */
	hold_client h = {q->db, &q->http, NULL, hold_did, hold_url};
	long long size = -1;
	int found = hold_blob_stat(&h, digest, &size, &err);
	if (found == HOLD_REFUSED && *q->subject) {
		free(err);
		err = NULL;
		h.user_did = q->subject;
		found = hold_blob_stat(&h, digest, &size, &err);
	}
	if (found == HOLD_REFUSED && !*q->subject) {
		registry_challenge(q, REGTOKEN_PULL);
		goto out;
	}
	/* A pusher not yet crew of a private push hold may not read it: for them the blob is not there,
	 * so the client uploads it, and the upload joins an allowAllCrew hold (or is refused, clearly). */
	if (found == HOLD_REFUSED && pushing) {
		log_info("blob %s on %s: %s may not read it yet: answered as unknown to the push", digest, hold_did, q->subject);
		found = 0;
	}
	if (found < 0) {
		log_info("blob %s on %s for %s: %s", digest, hold_did, *q->subject ? q->subject : "anonymous", err);
		registry_fail(q, found == HOLD_REFUSED ? OCI_DENIED : REG_INTERNAL,
			      found == HOLD_REFUSED ? "the hold refuses you this blob" : "the hold did not answer", NULL);
		goto out;
	}
	if (!found) {
		registry_fail(q, OCI_BLOB_UNKNOWN, NULL, NULL);
		goto out;
	}
	fcgi_add_header(q->r, "Docker-Content-Digest", "%s", digest);
	if (q->r->head) {
		fcgi_add_header(q->r, "Content-Length", "%lld", size);
		fcgi_add_header(q->r, "Content-Type", "application/octet-stream");
		fcgi_set_status(q->r, 200);
		fcgi_write(q->r, "", 0);
		goto out;
	}
	if (h.user_did && !(token = hold_read_token(&h, &err))) {
		log_warn("blob %s on %s: no read token for %s: %s", digest, hold_did, q->subject, err);
		registry_fail(q, REG_INTERNAL, "no token for the hold", NULL);
		goto out;
	}
	url = hold_blob_url(hold_url, hold_did, digest, token);
	fcgi_add_header(q->r, "Location", "%s", url);
	/* A URL with a token is the caller's alone. */
	if (token)
		fcgi_add_header(q->r, "Cache-Control", "private, no-store");
	fcgi_send(q->r, 307, NULL, "", 0);
out:
	free(hold_did);
	free(hold_url);
	free(err);
	free(url);
	free(token);
	return 0;
}

int blobs_delete(reg_req *q)
{
	fcgi_add_header(q->r, "Allow", "GET, HEAD");
	return registry_send_error(q->r, 405, "UNSUPPORTED",
				   "blobs are removed by their hold's garbage collection, not by DELETE", NULL);
}

/* ---- upload sessions */

typedef struct {
	char id[33];
	char *hold_did, *hold_url, *hold_upload_id;
	long long received;
	json_object *parts; /* [{partNumber, etag}] */
	digest_state digest;
} upload;

static void upload_free(upload *u)
{
	free(u->hold_did);
	free(u->hold_url);
	free(u->hold_upload_id);
	json_object_put(u->parts);
}

static hold_client upload_hold(const reg_req *q, const upload *u)
{
	return (hold_client){q->db, &q->http, q->subject, u->hold_did, u->hold_url};
}

/* Load session id for this caller and name; 0 ok, -1 when unknown (or another caller's, or broken). */
static int upload_load(reg_req *q, const char *id, upload *u)
{
	sqlite3_stmt *st = db_prepare(q->db, "SELECT hold_did, hold_url, hold_upload_id, received, parts, digest_state "
					     "FROM uploads WHERE id = ? AND did = ? AND repository = ?");
	int rc = -1;
	if (!st || strlen(id) >= sizeof u->id)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->route.name.full, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char *err = NULL;
		strcpy(u->id, id);
		u->hold_did = strdup((const char *)sqlite3_column_text(st, 0));
		u->hold_url = strdup((const char *)sqlite3_column_text(st, 1));
		u->hold_upload_id = strdup((const char *)sqlite3_column_text(st, 2));
		u->received = sqlite3_column_int64(st, 3);
		u->parts = json_tokener_parse((const char *)sqlite3_column_text(st, 4));
		if (u->parts && digest_load(&u->digest, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5),
					    &err) == 0)
			rc = 0;
		else
			log_warn("upload %s: stored state unreadable: %s", id, err ? err : "parts");
		free(err);
	}
	sqlite3_reset(st);
	if (rc != 0)
		upload_free(u);
	return rc;
}

/* Store u's progress, if nobody else moved the session since it stood at `from` bytes. 0 ok, -1 lost. */
static int upload_store(reg_req *q, const upload *u, long long from)
{
	unsigned char saved[DIGEST_SAVED_MAX];
	size_t len = sizeof saved;
	if (digest_save(&u->digest, saved, &len) != 0)
		return -1;
	sqlite3_stmt *st = db_prepare(q->db, "UPDATE uploads SET received = ?, parts = ?, digest_state = ?, updated_at = ? "
					     "WHERE id = ? AND received = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, u->received);
	sqlite3_bind_text(st, 2, json_object_to_json_string_ext(u->parts, JSON_C_TO_STRING_PLAIN), -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, saved, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (long long)time(NULL));
	sqlite3_bind_text(st, 5, u->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, from);
	int ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(q->db) == 1;
	sqlite3_reset(st);
	return ok ? 0 : -1;
}

static void upload_forget(reg_req *q, const char *id)
{
	sqlite3_stmt *st = db_prepare(q->db, "DELETE FROM uploads WHERE id = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
}

/* A HOLD_QUOTA refusal: the session is gone (the hold kept nothing) and the client gets DENIED with
 * the hold's own words (the part of err after "QuotaExceeded: "), which docker and skopeo show. */
static void quota_refused(reg_req *q, const upload *u, const char *err)
{
	const char *m = err ? strstr(err, "QuotaExceeded: ") : NULL;
	upload_forget(q, u->id);
	registry_fail(q, OCI_DENIED, m ? m + strlen("QuotaExceeded: ") : "storage quota exceeded", NULL);
}

/* Open a session on the caller's push hold and record it, hashing with alg. 0 ok; -1 after answering. */
static int upload_create(reg_req *q, upload *u, digest_alg alg)
{
	char *err = NULL;
	unsigned char raw[16];
	int rc = -1;
	if (pdsuser_session_kind(q->db, q->subject) == PDSUSER_NONE) { /* no service token for the hold */
		registry_no_session(q);
		goto out;
	}
	if (registry_push_hold(q, &u->hold_did, &u->hold_url, &err) != 0) {
		log_info("push by %s: %s", q->subject, err);
		registry_fail(q, OCI_DENIED, err, NULL);
		goto out;
	}
	hold_client h = upload_hold(q, u);
	int code = hold_initiate_upload(&h, "pending", &u->hold_upload_id, &err);
	if (code != HOLD_OK) {
		log_warn("initiateUpload on %s for %s: %s", u->hold_did, q->subject, err);
		registry_fail(q, code == HOLD_REFUSED ? OCI_DENIED : REG_INTERNAL,
			      code == HOLD_REFUSED ? "the hold does not let you push" : "the hold did not start the upload",
			      NULL);
		goto out;
	}
	if (crypto_random(raw, sizeof raw) != 0) {
		registry_fail(q, REG_INTERNAL, NULL, NULL);
		goto out;
	}
	char *hex = enc_hex_encode(raw, sizeof raw);
	snprintf(u->id, sizeof u->id, "%s", hex ? hex : "");
	free(hex);
	u->parts = json_object_new_array();
	digest_init(&u->digest, alg);
	unsigned char saved[DIGEST_SAVED_MAX];
	size_t len = sizeof saved;
	digest_save(&u->digest, saved, &len);
	long long now = (long long)time(NULL);
	sqlite3_stmt *st = db_prepare(q->db, "INSERT INTO uploads (id, did, repository, hold_did, hold_url, hold_upload_id, "
					     "digest_state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!st) {
		registry_fail(q, REG_INTERNAL, NULL, NULL);
		goto out;
	}
	sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->route.name.full, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, u->hold_did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, u->hold_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, u->hold_upload_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, saved, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_int64(st, 9, now);
	int done = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_reset(st);
	if (!done) {
		registry_fail(q, REG_INTERNAL, "cannot record the upload", NULL);
		goto out;
	}
	rc = 0;
out:
	free(err);
	return rc;
}

/* ---- streaming a request body into parts */

#define READ_AHEAD (256 * 1024)

typedef struct {
	fcgi_req *r;
	digest_state *digest;
	unsigned char buf[READ_AHEAD];
	size_t pos, len;
	int eof, failed;
	long long part_left; /* bytes the current part may still take */
	long long total;     /* body bytes consumed */
} body_reader;

/* Refill the read-ahead buffer when empty; 1 when bytes are available. */
static int reader_fill(body_reader *b)
{
	if (b->pos < b->len)
		return 1;
	if (b->eof)
		return 0;
	ssize_t n = fcgi_read(b->r, b->buf, sizeof b->buf);
	if (n < 0)
		b->failed = 1;
	if (n <= 0) {
		b->eof = 1;
		return 0;
	}
	b->pos = 0;
	b->len = (size_t)n;
	return 1;
}

/* libcurl's read callback for one part: hashes what it hands over. */
static size_t reader_part(void *dst, size_t n, void *ctx)
{
	body_reader *b = ctx;
	if (b->part_left == 0 || !reader_fill(b))
		return b->failed ? (size_t)-1 : 0;
	size_t k = b->len - b->pos;
	if (k > n)
		k = n;
	if (b->part_left > 0 && (long long)k > b->part_left)
		k = (size_t)b->part_left;
	memcpy(dst, b->buf + b->pos, k);
	digest_update(b->digest, b->buf + b->pos, k);
	b->pos += k;
	b->total += k;
	if (b->part_left > 0)
		b->part_left -= (long long)k;
	return k;
}

/* The request's body length, -1 when the web server gave none. */
static long long body_length(const fcgi_req *r)
{
	const char *cl = fcgi_param(r, "CONTENT_LENGTH");
	return cl && *cl ? strtoll(cl, NULL, 10) : -1;
}

/* Stream the whole request body into new parts of u, storing progress after each part.
 * 0 ok; -1 after answering. */
static int upload_stream(reg_req *q, upload *u)
{
	long long part_size = config_int(q->av->cfg, "registry.part_size"), length = body_length(q->r);
	body_reader *b = calloc(1, sizeof *b);
	int rc = -1;
	char *err = NULL, *etag = NULL;
	if (!b) {
		registry_fail(q, REG_INTERNAL, NULL, NULL);
		return -1;
	}
	if (part_size < 1024)
		part_size = 1024;
	b->r = q->r;
	b->digest = &u->digest;
	hold_client h = upload_hold(q, u);
	while (reader_fill(b)) {
		long long from = u->received, left = length >= 0 ? length - b->total : -1;
		long long len = left >= 0 && left < part_size ? left : left >= 0 ? part_size : -1;
		int number = (int)json_object_array_length(u->parts) + 1;
		digest_state before = u->digest;
		b->part_left = len >= 0 ? len : part_size;
		/* Without a length the part goes chunked; it still ends at part_size bytes. */
		int code = hold_upload_part(&h, u->hold_upload_id, number, reader_part, b, len, &etag, &err);
		if (code != HOLD_OK || b->failed) {
			u->digest = before;
			log_warn("upload %s part %d to %s: %s", u->id, number, u->hold_did,
				 b->failed ? "the client's body ended early" : err);
			if (!b->failed && code == HOLD_QUOTA) {
				quota_refused(q, u, err);
				goto out;
			}
			registry_fail(q, b->failed ? OCI_BLOB_UPLOAD_INVALID : REG_INTERNAL,
				      b->failed ? "the request body ended early" : "the hold did not take the bytes", NULL);
			goto out;
		}
		json_object *p = json_object_new_object();
		json_object_object_add(p, "partNumber", json_object_new_int(number));
		json_object_object_add(p, "etag", json_object_new_string(etag));
		json_object_array_add(u->parts, p);
		u->received = from + (long long)(digest_count(&u->digest) - digest_count(&before));
		free(etag);
		etag = NULL;
		if (upload_store(q, u, from) != 0) {
			registry_fail(q, OCI_BLOB_UPLOAD_INVALID, "the upload moved on in another request", NULL);
			goto out;
		}
	}
	if (b->failed) {
		registry_fail(q, OCI_BLOB_UPLOAD_INVALID, "the request body could not be read", NULL);
		goto out;
	}
	rc = 0;
out:
	free(b);
	free(err);
	free(etag);
	return rc;
}

/* The headers every upload-progress answer carries. */
static void progress_headers(reg_req *q, const upload *u)
{
	char range[48];
	oci_range_header(u->received, range, sizeof range);
	fcgi_add_header(q->r, "Location", "/v2/%s/blobs/uploads/%s", q->route.name.full, u->id);
	fcgi_add_header(q->r, "Range", "%s", range);
	fcgi_add_header(q->r, "Docker-Upload-UUID", "%s", u->id);
}

/* Check that the body continues where the session stands (Content-Range, when sent). */
static int range_ok(reg_req *q, const upload *u)
{
	const char *cr = fcgi_header(q->r, "Content-Range");
	long long start, end;
	if (!cr)
		return 1;
	if (oci_content_range_parse(cr, &start, &end) != 0 || start != u->received) {
		progress_headers(q, u);
		registry_fail(q, OCI_RANGE_INVALID, "the chunk does not start where the upload stands", NULL);
		return 0;
	}
	return 1;
}

/* Finish u as digest: every byte hashed must match, then the hold assembles the parts. 0 ok (the
 * session is gone); -1 after answering. */
static int upload_finish(reg_req *q, upload *u, const char *digest)
{
	char *have = digest_final(&u->digest), *err = NULL, *etag = NULL;
	int rc = -1;
	hold_client h = upload_hold(q, u);
	/* A session hashes with one algorithm: sha256, or sha512 when a monolithic POST named it. */
	if (!have || strcmp(have, digest) != 0) {
		log_info("upload %s: digest %s given, the bytes are %s", u->id, digest, have ? have : "?");
		hold_abort_upload(&h, u->hold_upload_id, &err);
		upload_forget(q, u->id);
		registry_fail(q, OCI_DIGEST_INVALID, "the uploaded bytes do not match the digest", NULL);
		goto out;
	}
	if (json_object_array_length(u->parts) == 0) {
		/* An empty blob still needs one (empty) part. */
		body_reader empty = {.eof = 1, .digest = &u->digest};
		if (hold_upload_part(&h, u->hold_upload_id, 1, reader_part, &empty, 0, &etag, &err) != HOLD_OK) {
			log_warn("upload %s: empty part: %s", u->id, err);
			registry_fail(q, REG_INTERNAL, "the hold did not take the blob", NULL);
			goto out;
		}
		json_object *p = json_object_new_object();
		json_object_object_add(p, "partNumber", json_object_new_int(1));
		json_object_object_add(p, "etag", json_object_new_string(etag));
		json_object_array_add(u->parts, p);
	}
	int code = hold_complete_upload(&h, u->hold_upload_id, digest, u->parts, &err);
	if (code != HOLD_OK) {
		log_warn("upload %s: completeUpload on %s: %s", u->id, u->hold_did, err);
		if (code == HOLD_QUOTA) {
			quota_refused(q, u, err);
			goto out;
		}
		if (code == HOLD_BAD_DIGEST || code == HOLD_NOT_FOUND)
			upload_forget(q, u->id);
		registry_fail(q, code == HOLD_BAD_DIGEST ? OCI_DIGEST_INVALID : REG_INTERNAL,
			      code == HOLD_BAD_DIGEST ? "the hold found the bytes do not match the digest"
						      : "the hold did not complete the upload", NULL);
		goto out;
	}
	upload_forget(q, u->id);
	log_info("blob %s pushed to %s by %s (%lld bytes)", digest, u->hold_did, q->subject, u->received);
	fcgi_add_header(q->r, "Location", "/v2/%s/blobs/%s", q->route.name.full, digest);
	fcgi_add_header(q->r, "Docker-Content-Digest", "%s", digest);
	fcgi_send(q->r, 201, NULL, "", 0);
	rc = 0;
out:
	free(have);
	free(err);
	free(etag);
	return rc;
}

/* The ?digest= of a finishing request: 1 (*digest malloc'd), 0 absent, -1 after answering. */
static int digest_param(reg_req *q, char **digest)
{
	*digest = fcgi_query_get(q->r, "digest");
	if (!*digest)
		return 0;
	if (!oci_digest_ok(*digest)) {
		free(*digest);
		*digest = NULL;
		registry_fail(q, OCI_DIGEST_INVALID, "digest is not a sha256: or sha512: digest", NULL);
		return -1;
	}
	return 1;
}

/* The caller must push as the name's owner: tokens only grant push there, but say so plainly. */
static int own_name(reg_req *q)
{
	if (registry_owner(q) != 0)
		return 0;
	if (strcmp(q->owner_did, q->subject) != 0) {
		registry_fail(q, OCI_DENIED, "you can push only into your own namespace", NULL);
		return 0;
	}
	return 1;
}

/* POST ?mount=<digest>&from=<name>: 201 when the blob is already on the caller's hold. 1 answered,
 * 0 not mountable (go on with a normal session). */
static int try_mount(reg_req *q, const char *digest)
{
	char *hold_did = NULL, *hold_url = NULL, *err = NULL;
	int answered = 0;
	long long size = 0;
	if (registry_push_hold(q, &hold_did, &hold_url, &err) == 0) {
		hold_client h = {q->db, &q->http, q->subject, hold_did, hold_url};
		if (hold_blob_stat(&h, digest, &size, &err) == 1) {
			fcgi_add_header(q->r, "Location", "/v2/%s/blobs/%s", q->route.name.full, digest);
			fcgi_add_header(q->r, "Docker-Content-Digest", "%s", digest);
			fcgi_send(q->r, 201, NULL, "", 0);
			answered = 1;
		}
	}
	free(hold_did);
	free(hold_url);
	free(err);
	return answered;
}

int uploads_start(reg_req *q)
{
	upload u = {0};
	char *digest = NULL, *mount = NULL;
	if (!own_name(q))
		goto out;
	mount = fcgi_query_get(q->r, "mount");
	if (mount && oci_digest_ok(mount) && try_mount(q, mount))
		goto out;
	int has_digest = digest_param(q, &digest);
	digest_alg alg = has_digest > 0 && strncmp(digest, "sha512:", 7) == 0 ? DIGEST_SHA512 : DIGEST_SHA256;
	if (has_digest < 0 || upload_create(q, &u, alg) != 0)
		goto out;
	if (has_digest) {
		/* Monolithic: the whole blob in this request. */
		if (upload_stream(q, &u) == 0)
			upload_finish(q, &u, digest);
		goto out;
	}
	progress_headers(q, &u);
	fcgi_send(q->r, 202, NULL, "", 0);
out:
	upload_free(&u);
	free(digest);
	free(mount);
	return 0;
}

/* Load the session named in the URL; 0 ok, -1 after answering BLOB_UPLOAD_UNKNOWN. */
static int session(reg_req *q, upload *u)
{
	if (!own_name(q))
		return -1;
	if (upload_load(q, q->route.ref, u) != 0) {
		registry_fail(q, OCI_BLOB_UPLOAD_UNKNOWN, NULL, NULL);
		return -1;
	}
	return 0;
}

int uploads_patch(reg_req *q)
{
	upload u = {0};
	if (session(q, &u) != 0)
		return 0;
	if (range_ok(q, &u) && upload_stream(q, &u) == 0) {
		progress_headers(q, &u);
		fcgi_send(q->r, 202, NULL, "", 0);
	}
	upload_free(&u);
	return 0;
}

int uploads_put(reg_req *q)
{
	upload u = {0};
	char *digest = NULL;
	int has = digest_param(q, &digest);
	if (has == 0)
		registry_fail(q, OCI_DIGEST_INVALID, "a digest query parameter is required", NULL);
	if (has <= 0 || session(q, &u) != 0)
		goto out;
	if (range_ok(q, &u) && upload_stream(q, &u) == 0)
		upload_finish(q, &u, digest);
	upload_free(&u);
out:
	free(digest);
	return 0;
}

int uploads_status(reg_req *q)
{
	upload u = {0};
	if (session(q, &u) != 0)
		return 0;
	progress_headers(q, &u);
	fcgi_send(q->r, 204, NULL, "", 0);
	upload_free(&u);
	return 0;
}

int uploads_cancel(reg_req *q)
{
	upload u = {0};
	char *err = NULL;
	if (session(q, &u) != 0)
		return 0;
	hold_client h = upload_hold(q, &u);
	if (hold_abort_upload(&h, u.hold_upload_id, &err) != HOLD_OK)
		log_info("upload %s: abort on %s: %s", u.id, u.hold_did, err);
	upload_forget(q, u.id);
	fcgi_send(q->r, 204, NULL, "", 0);
	upload_free(&u);
	free(err);
	return 0;
}
