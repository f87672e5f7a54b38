/* manifests.c - manifests, tags, referrers and the catalog of the /v2/ API.
 *
 * The truth lives in each owner's PDS: an io.atcr.manifest record per manifest (its exact bytes as the
 * record's manifestBlob) and an io.atcr.tag record per tag. The index (lib/regindex) is a cache that
 * answers pulls without asking the PDS: a manifest by digest is immutable, a tag is trusted for
 * registry.tag_ttl seconds after it was last confirmed. A push writes the manifest record before the
 * tag record and the index last, so a failure part way never leaves a tag naming a missing manifest.
 *
 * Pull counting: every GET (not HEAD) counts in the index; only a GET by tag is also reported to the
 * manifest's hold (notifyManifest "pull", with the owner's session: the only one the AppView has).
 * Clients fetch platform manifests, configs and referrers by digest after resolving a tag, so the tag
 * GET is the pull; a GET by digest is counted in the index only (so a benchmark of GETs by digest
 * measures the registry, not the hold). */
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "holdclient.h"
#include "jsonget.h"
#include "log.h"
#include "pdsuser.h"
#include "regindex.h"
#include "registry.h"
#include "syntax.h"
#include "tid.h"
#include "ttlcache.h"
#include "xrpc.h"

#define MANIFEST_COLLECTION "io.atcr.manifest"
#define TAG_COLLECTION "io.atcr.tag"
#define PAGE_MAX 1000     /* the largest ?n= honoured by tags/list and _catalog */
#define LIST_LIMIT 100    /* records per listRecords page */
#define LIST_PAGES_MAX 200 /* listRecords pages read at most while looking for one record */
#define MISS_TTL 30        /* seconds a fruitless search of a PDS is not repeated */

/* Searches of owners' PDSes that found nothing (a manifest digest, a repository), so that clients
 * probing unknown names cannot make every request page through someone's records. */
static ttlcache misses = TTLCACHE_INIT;

/* ---- small helpers */

static void time_iso(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}


/* 1 when a PDS read failed because the record, blob or repository is not there (the reference PDS
 * answers "not found" as 400). */
static int pds_gone(const xrpc_error *e)
{
	return e->status == 400 || e->status == 404;
}

/* The owner's PDS, read anonymously: records and blobs are public. */
static xrpc_client owner_pds(const reg_req *q)
{
	return (xrpc_client){q->owner_pds, NULL, &q->http};
}

/* The manifestBlob's CID of a blob ref {"$type":"blob","ref":{"$link":...},...}; NULL if it has none. */
static const char *blob_ref_cid(json_object *ref)
{
	json_object *link;
	return json_object_object_get_ex(ref, "ref", &link) ? jsonget_str(link, "$link") : NULL;
}

static json_object *blob_ref_make(const char *cid, const char *mime, long long size)
{
	json_object *ref = json_object_new_object(), *link = json_object_new_object();
	json_object_object_add(link, "$link", json_object_new_string(cid));
	json_object_object_add(ref, "$type", json_object_new_string("blob"));
	json_object_object_add(ref, "ref", link);
	json_object_object_add(ref, "mimeType", json_object_new_string(mime));
	json_object_object_add(ref, "size", json_object_new_int64(size));
	return ref;
}

/* The io.atcr.manifest record of an indexed manifest (m parsed from its bytes), as notifyManifest
 * wants it. NULL with *err. */
static json_object *record_of(const reg_req *q, const oci_manifest *m, const regindex_manifest *row, char **err)
{
	char created[32];
	time_iso(row->created_at, created);
	json_object *blob = row->blob_cid ? blob_ref_make(row->blob_cid, row->media_type, row->size) : NULL;
	json_object *rec = oci_manifest_record_build(m, registry_repo(q), row->hold_did, blob, created, err);
	json_object_put(blob);
	return rec;
}

/* registry_fail for the "-1 after answering" returns. */
static int answer_error(reg_req *q, oci_code code, const char *message)
{
	registry_fail(q, code, message, NULL);
	return -1;
}

/* ---- writes to the pusher's PDS, with whichever session the user has (lib/pdsuser) */

typedef enum { PDS_UPLOAD_BLOB, PDS_PUT_RECORD, PDS_DELETE_RECORD } pds_op_kind;

typedef struct {
	pds_op_kind kind;
	const char *collection, *rkey; /* records */
	json_object *record;           /* PDS_PUT_RECORD */
	const void *data;              /* PDS_UPLOAD_BLOB */
	size_t len;
	const char *mime;
} pds_op;

/* Run op as did. The result (for an upload: the blob ref; caller puts), or NULL with *err set and
 * *expired = 1 when the user has no session the PDS still honours. */
static json_object *pds_write(reg_req *q, const char *did, const pds_op *op, int *expired, char **err)
{
	xrpc_error e = {0};
	pdsuser_call call = {.method = "POST"};
	json_object *input = NULL, *out = NULL, *blob = NULL;
	if (op->kind == PDS_UPLOAD_BLOB) {
		call.nsid = "com.atproto.repo.uploadBlob";
		call.body = op->data;
		call.body_len = op->len;
		call.content_type = op->mime;
	} else {
		call.nsid = op->kind == PDS_PUT_RECORD ? "com.atproto.repo.putRecord" : "com.atproto.repo.deleteRecord";
		call.input = input = json_object_new_object();
		json_object_object_add(input, "repo", json_object_new_string(did));
		json_object_object_add(input, "collection", json_object_new_string(op->collection));
		json_object_object_add(input, "rkey", json_object_new_string(op->rkey));
		if (op->kind == PDS_PUT_RECORD)
			json_object_object_add(input, "record", json_object_get(op->record));
	}
	out = pdsuser_xrpc(q->db, &q->http, did, &call, &e);
	if (out && op->kind == PDS_UPLOAD_BLOB) {
		blob = jsonget(out, "blob", json_type_object);
		json_object_get(blob);
		json_object_put(out);
		if (!(out = blob))
			buf_error(err, "uploadBlob answered without a blob");
	} else if (!out) {
		buf_error(err, "%s%s%s", e.error ? e.error : "failed", e.message ? ": " : "", e.message ? e.message : "");
	}
	*expired = !out && e.status == 401 && e.error && strcmp(e.error, "AuthRequired") == 0;
	json_object_put(input);
	xrpc_error_free(&e);
	return out;
}

int registry_no_session(reg_req *q)
{
	char *msg = buf_strf("this registry has no usable session with your PDS: log in again at %s", q->av->base_url);
	registry_fail(q, OCI_UNAUTHORIZED, msg, NULL);
	free(msg);
	return 0;
}

/* Answer a failed PDS write: 401 when the session is gone for good, else 500 naming the PDS's error. */
static void pds_fail(reg_req *q, const char *what, int expired, const char *err)
{
	log_warn("%s for %s: %s", what, q->subject, err ? err : "failed");
	if (expired) {
		registry_no_session(q);
		return;
	}
	char *msg = buf_strf("%s: your PDS answered %s", what, err ? err : "nothing");
	registry_fail(q, REG_INTERNAL, msg, NULL);
	free(msg);
}

/* The pusher must be the name's owner (tokens grant push and delete only in one's own namespace; this
 * keeps it so whatever the token says). 0 ok; -1 after answering. */
static int owner_is_caller(reg_req *q)
{
	if (registry_owner(q) != 0)
		return -1;
	if (!q->subject || strcmp(q->owner_did, q->subject) != 0) {
		registry_fail(q, OCI_DENIED, "only the owner can change this repository", NULL);
		return -1;
	}
	return 0;
}

/* ---- reading the owner's records */

/* Called for each record of a listing with its value and record key; non-zero stops the listing. */
typedef int (*record_fn)(reg_req *q, json_object *value, const char *rkey, void *ctx);

/* Walk the owner's records of collection page by page. Returns what each() stopped with, 0 when every
 * record was seen, -2 when the PDS did not answer (logged). */
static int list_records(reg_req *q, const char *collection, record_fn each, void *ctx)
{
	xrpc_client c = owner_pds(q);
	char *cursor = NULL;
	int rc = 0;
	for (int page = 0; page < LIST_PAGES_MAX && rc == 0; page++) {
		xrpc_error e = {0};
		json_object *res = xrpc_list_records(&c, q->owner_did, collection, LIST_LIMIT, cursor, &e), *records;
		free(cursor);
		cursor = NULL;
		if (!res) {
			if (!pds_gone(&e)) {
				log_warn("listRecords %s of %s: %s", collection, q->owner_did, e.error ? e.error : "failed");
				rc = -2;
			}
			xrpc_error_free(&e);
			break;
		}
		size_t n = json_object_object_get_ex(res, "records", &records) && json_object_is_type(records, json_type_array)
				   ? json_object_array_length(records)
				   : 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			json_object *item = json_object_array_get_idx(records, i), *value;
			const char *uri = jsonget_str(item, "uri"), *slash = uri ? strrchr(uri, '/') : NULL;
			if (slash && json_object_object_get_ex(item, "value", &value) && json_object_is_type(value, json_type_object))
				rc = each(q, value, slash + 1, ctx);
		}
		const char *next = jsonget_str(res, "cursor");
		if (n > 0 && next && *next)
			cursor = strdup(next);
		json_object_put(res);
		if (!cursor)
			break;
	}
	free(cursor);
	return rc;
}

/* Read an io.atcr.manifest record of the repository, fetch its bytes (manifestBlob) from the owner's
 * PDS, check them against the record's digest and keep both in the index (with tag, when not NULL).
 * want: the digest expected (NULL: any). 1 cached (*digest malloc'd when digest is not NULL), 0 not a
 * usable manifest of this repository (logged), -1 after answering (the PDS or the index failed). */
static int cache_record(reg_req *q, json_object *value, const char *rkey, const char *want, char **digest)
{
	oci_manifest_record r = {0};
	oci_manifest m = {0};
	buf_t bytes = BUF_INIT;
	xrpc_error e = {0};
	char *err = NULL;
	int rc = 0, have_record = 0, have_manifest = 0;
	if (oci_manifest_record_parse(value, &r, &err) != 0) {
		log_info("manifest record %s of %s: %s", rkey, q->owner_did, err);
		goto out;
	}
	have_record = 1;
	if (strcmp(r.repository, registry_repo(q)) != 0 || (want && strcmp(r.m.digest, want) != 0))
		goto out;
	if (!r.blob_cid) {
		log_info("manifest record %s of %s has no manifestBlob", rkey, q->owner_did);
		goto out;
	}
	xrpc_client c = owner_pds(q);
	if (xrpc_get_blob(&c, q->owner_did, r.blob_cid, &bytes, &e) != 0) {
		if (pds_gone(&e)) {
			log_info("manifest blob %s of %s is gone", r.blob_cid, q->owner_did);
			goto out;
		}
		log_warn("getBlob %s of %s: %s", r.blob_cid, q->owner_did, e.error ? e.error : "failed");
		registry_fail(q, REG_INTERNAL, "the owner's PDS did not answer", NULL);
		rc = -1;
		goto out;
	}
	if (!oci_digest_matches(r.m.digest, bytes.data ? bytes.data : "", bytes.len)) {
		log_warn("manifest blob %s of %s does not match its record's digest %s", r.blob_cid, q->owner_did,
			 r.m.digest);
		goto out;
	}
	if (oci_manifest_parse(bytes.data, bytes.len, r.m.media_type, &m, &err) != OCI_OK) {
		log_warn("manifest %s of %s: %s", r.m.digest, q->owner_did, err);
		goto out;
	}
	have_manifest = 1;
	regindex_entry ent = {.did = q->owner_did, .repository = registry_repo(q), .m = &m, .raw = bytes.data,
			      .hold_did = r.hold_did, .record_rkey = rkey, .blob_cid = r.blob_cid,
			      .now = (long long)time(NULL)};
	if (regindex_store(q->db, &ent, 0, &err) != 0) {
		log_error("caching manifest %s of %s: %s", m.digest, q->owner_did, err);
		registry_fail(q, REG_INTERNAL, "the index is unavailable", NULL);
		rc = -1;
		goto out;
	}
	if (digest)
		*digest = strdup(m.digest);
	rc = 1;
out:
	if (have_record)
		oci_manifest_record_free(&r);
	if (have_manifest)
		oci_manifest_free(&m);
	buf_free(&bytes);
	xrpc_error_free(&e);
	free(err);
	return rc;
}

/* getRecord of the owner's io.atcr.manifest/rkey, then cache_record. Same returns. */
static int cache_rkey(reg_req *q, const char *rkey, const char *want, char **digest)
{
	xrpc_client c = owner_pds(q);
	xrpc_error e = {0};
	json_object *rec = xrpc_get_record(&c, q->owner_did, MANIFEST_COLLECTION, rkey, &e), *value;
	int rc = 0;
	if (rec && json_object_object_get_ex(rec, "value", &value)) {
		rc = cache_record(q, value, rkey, want, digest);
	} else if (!rec && !pds_gone(&e)) {
		log_warn("getRecord %s/%s of %s: %s", MANIFEST_COLLECTION, rkey, q->owner_did, e.error ? e.error : "failed");
		registry_fail(q, REG_INTERNAL, "the owner's PDS did not answer", NULL);
		rc = -1;
	}
	json_object_put(rec);
	xrpc_error_free(&e);
	return rc;
}

static int cache_if_digest(reg_req *q, json_object *value, const char *rkey, void *ctx)
{
	const char *digest = ctx;
	const char *d = jsonget_str(value, "digest"), *repo = jsonget_str(value, "repository");
	if (!d || !repo || strcmp(d, digest) != 0 || strcmp(repo, registry_repo(q)) != 0)
		return 0;
	return cache_record(q, value, rkey, digest, NULL);
}

/* The manifest digest of the repository with its bytes: the index, else the owner's PDS (then cached).
 * 1 found (*row filled), 0 unknown, -1 after answering. */
static int manifest_load(reg_req *q, const char *digest, regindex_manifest *row)
{
	char *err = NULL;
	int found = regindex_manifest_get(q->db, q->owner_did, registry_repo(q), digest, row, &err);
	if (found == 1 && row->raw)
		return 1;
	if (found < 0) {
		log_error("manifest %s of %s: %s", digest, q->owner_did, err);
		free(err);
		return answer_error(q, REG_INTERNAL, "the index is unavailable");
	}
	int rc = 0;
	if (found == 1 && row->record_rkey) /* known from an import, bytes not fetched yet */
		rc = cache_rkey(q, row->record_rkey, digest, NULL);
	regindex_manifest_free(row);
	if (rc == 0) {
		char *key = buf_strf("manifest\n%s\n%s\n%s", q->owner_did, registry_repo(q), digest);
		long long now = (long long)time(NULL);
		char *miss = key ? ttlcache_get(&misses, key, now) : NULL;
		if (!miss) {
			rc = list_records(q, MANIFEST_COLLECTION, cache_if_digest, (void *)digest);
			if (rc == 0 && key)
				ttlcache_put(&misses, key, "", now + MISS_TTL, now);
		}
		free(miss);
		free(key);
		if (rc == -2)
			return answer_error(q, REG_INTERNAL, "the owner's PDS did not answer");
	}
	if (rc != 1)
		return rc;
	found = regindex_manifest_get(q->db, q->owner_did, registry_repo(q), digest, row, &err);
	free(err);
	if (found == 1 && row->raw)
		return 1;
	regindex_manifest_free(row);
	return answer_error(q, REG_INTERNAL, "the index is unavailable");
}

/* The digest of the manifest record at uri (at://<owner>/io.atcr.manifest/<rkey>): from the index by
 * record key, else read from the PDS and cached. 1 (*digest malloc'd), 0 no such manifest, -1 after
 * answering. */
static int uri_digest(reg_req *q, const char *uri, char **digest)
{
	char *prefix = buf_strf("at://%s/%s/", q->owner_did, MANIFEST_COLLECTION), *err = NULL;
	size_t n = prefix ? strlen(prefix) : 0;
	int rc = 0;
	if (!prefix || strncmp(uri, prefix, n) != 0 || !syntax_rkey_ok(uri + n))
		goto out;
	rc = regindex_manifest_by_rkey(q->db, q->owner_did, registry_repo(q), uri + n, digest, &err);
	if (rc < 0)
		log_warn("manifest record %s: %s", uri, err);
	if (rc != 1)
		rc = cache_rkey(q, uri + n, NULL, digest);
out:
	free(prefix);
	free(err);
	return rc;
}

/* The digest a tag points at: from the index while its row is fresh, else from the owner's tag record
 * (the index follows: moved, confirmed or removed). 1 found (*digest malloc'd), 0 unknown, -1 after
 * answering. */
static int tag_digest(reg_req *q, const char *tag, char **digest)
{
	const char *did = q->owner_did, *repo = registry_repo(q);
	regindex_tag t = {0};
	oci_tag_record tr = {0};
	xrpc_error e = {0};
	json_object *rec = NULL, *value;
	char *err = NULL, *rkey = NULL, *d = NULL;
	int rc = 0, have_record = 0;
	long long now = (long long)time(NULL), ttl = config_int(q->av->cfg, "registry.tag_ttl");
	int have = regindex_tag_get(q->db, did, repo, tag, &t, &err);
	if (have < 0)
		log_warn("tag %s of %s/%s: %s", tag, did, repo, err);
	if (have == 1 && now - t.checked_at < ttl) {
		*digest = t.digest;
		t.digest = NULL;
		rc = 1;
		goto out;
	}
	xrpc_client c = owner_pds(q);
	rkey = oci_tag_rkey(repo, tag);
	rec = rkey ? xrpc_get_record(&c, did, TAG_COLLECTION, rkey, &e) : NULL;
	if (!rec) {
		if (rkey && !pds_gone(&e)) {
			log_warn("getRecord %s/%s of %s: %s", TAG_COLLECTION, rkey, did, e.error ? e.error : "failed");
			if (have == 1) { /* the PDS is away: a stale answer beats none */
				*digest = t.digest;
				t.digest = NULL;
				rc = 1;
			} else {
				rc = answer_error(q, REG_INTERNAL, "the owner's PDS did not answer");
			}
		} else if (have == 1 && regindex_tag_delete(q->db, did, repo, tag, &err) < 0) {
			log_warn("removing tag %s of %s/%s: %s", tag, did, repo, err);
		}
		goto out;
	}
	if (!json_object_object_get_ex(rec, "value", &value) || oci_tag_record_parse(value, &tr, &err) != 0) {
		log_info("tag record %s of %s: %s", rkey, did, err ? err : "no value");
		goto out;
	}
	have_record = 1;
	if (strcmp(tr.repository, repo) != 0 || strcmp(tr.tag, tag) != 0)
		goto out;
	if (tr.manifest_uri) {
		rc = uri_digest(q, tr.manifest_uri, &d);
		if (rc != 1)
			goto out;
	} else if (tr.manifest_digest && oci_digest_ok(tr.manifest_digest)) {
		d = strdup(tr.manifest_digest);
	} else {
		goto out;
	}
	long long pushed = have == 1 && strcmp(t.digest, d) == 0 ? t.updated_at : now;
	if (regindex_tag_put(q->db, did, repo, tag, d, pushed, now, &err) != 0)
		log_warn("tag %s of %s/%s: %s", tag, did, repo, err);
	*digest = d;
	d = NULL;
	rc = 1;
out:
	if (have_record)
		oci_tag_record_free(&tr);
	regindex_tag_free(&t);
	json_object_put(rec);
	xrpc_error_free(&e);
	free(rkey);
	free(d);
	free(err);
	return rc;
}

/* 1 when the owner's record collection/rkey exists; 0 when it is gone or the PDS did not say. */
static int record_exists(reg_req *q, const char *collection, const char *rkey)
{
	xrpc_client c = owner_pds(q);
	xrpc_error e = {0};
	json_object *rec = xrpc_get_record(&c, q->owner_did, collection, rkey, &e);
	json_object_put(rec);
	xrpc_error_free(&e);
	return rec != NULL;
}

/* ---- GET/HEAD */

/* Report a pull by tag to the manifest's hold with the owner's session; silently skipped when the
 * owner has none, failures logged only. */
static void notify_pull(reg_req *q, const regindex_manifest *row)
{
	oci_manifest m = {0};
	char *err = NULL, *hold_url = NULL;
	json_object *record = NULL;
	if (!row->hold_did || pdsuser_session_kind(q->db, q->owner_did) == PDSUSER_NONE)
		return;
	hold_url = registry_hold_url(q, row->hold_did, &err);
	if (!hold_url || oci_manifest_parse(row->raw, row->raw_len, row->media_type, &m, &err) != OCI_OK)
		goto out;
	record = record_of(q, &m, row, &err);
	oci_manifest_free(&m);
	if (!record)
		goto out;
	hold_client h = {q->db, &q->http, q->owner_did, row->hold_did, hold_url};
	hold_notify_manifest(&h, registry_repo(q), row->digest, record, "pull", &err);
out:
	if (err)
		log_info("pull of %s/%s reported to %s: %s", q->owner_did, registry_repo(q), row->hold_did, err);
	json_object_put(record);
	free(hold_url);
	free(err);
}

int manifests_get(reg_req *q)
{
	regindex_manifest row = {0};
	char *digest = NULL, *err = NULL, **accept = NULL;
	int found = 0;
	const char *tag = q->route.ref_is_digest ? NULL : q->route.ref;
	if (registry_owner(q) != 0)
		goto out;
	if (tag)
		found = tag_digest(q, tag, &digest);
	else
		found = (digest = strdup(q->route.ref)) != NULL;
	if (found == 1)
		found = manifest_load(q, digest, &row);
	if (found <= 0) {
		if (found == 0)
			registry_fail(q, OCI_MANIFEST_UNKNOWN, tag ? "unknown tag" : NULL, NULL);
		goto out;
	}
	size_t n = 0;
	accept = fcgi_header_split(fcgi_header(q->r, "Accept"), &n);
	if (!oci_accept_ok(accept, accept ? n : 0, row.media_type)) {
		char *msg = buf_strf("the manifest is %s, which the client does not accept", row.media_type);
		registry_fail(q, OCI_MANIFEST_UNKNOWN, msg, NULL);
		free(msg);
		goto out;
	}
	fcgi_add_header(q->r, "Docker-Content-Digest", "%s", row.digest);
	fcgi_add_header(q->r, "ETag", "\"%s\"", row.digest);
	fcgi_send(q->r, 200, row.media_type, row.raw, row.raw_len);
	if (q->r->head)
		goto out;
	if (regindex_count_pull(q->db, q->owner_did, registry_repo(q), (long long)time(NULL), &err) != 0)
		log_warn("counting a pull of %s/%s: %s", q->owner_did, registry_repo(q), err);
	if (tag)
		notify_pull(q, &row);
out:
	regindex_manifest_free(&row);
	fcgi_strv_free(accept);
	free(digest);
	free(err);
	return 0;
}

/* ---- PUT */

static int blob_unknown(reg_req *q, const char *digest, const char *message)
{
	json_object *detail = json_object_new_object();
	json_object_object_add(detail, "digest", json_object_new_string(digest));
	registry_fail(q, OCI_MANIFEST_BLOB_UNKNOWN, message, detail);
	json_object_put(detail);
	return -1;
}

/* Config and layers must be on the push hold (except non-distributable ones, which name their own
 * URLs), an index's children in this repository; a subject need not exist. 0 ok; -1 after answering. */
static int check_references(reg_req *q, const hold_client *h, const oci_manifest *m)
{
	char *err = NULL;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->n_layers + 1; i++) {
		const oci_descriptor *d = i == 0 ? m->config : &m->layers[i - 1];
		if (!d || d->n_urls > 0)
			continue;
		long long size = -1;
		int found = hold_blob_stat(h, d->digest, &size, &err);
		if (found == 0) {
			rc = blob_unknown(q, d->digest, "a blob of the manifest is not on your hold");
		} else if (found < 0) {
			log_warn("blob %s on %s for %s: %s", d->digest, h->hold_did, q->subject, err);
			registry_fail(q, found == HOLD_REFUSED ? OCI_DENIED : REG_INTERNAL,
				      found == HOLD_REFUSED ? "the hold refuses you its blobs" : "the hold did not answer", NULL);
			rc = -1;
		}
	}
	for (size_t i = 0; rc == 0 && i < m->n_manifests; i++) {
		int found = regindex_manifest_exists(q->db, q->owner_did, registry_repo(q), m->manifests[i].digest, &err);
		if (found == 0) {
			rc = blob_unknown(q, m->manifests[i].digest, "a manifest of the index is not in this repository");
		} else if (found < 0) {
			log_error("index: %s", err);
			rc = answer_error(q, REG_INTERNAL, "the index is unavailable");
		}
	}
	free(err);
	return rc;
}

/* Pushes of the same manifest (owner, repository, digest) take turns within this process; across
 * processes (lighttpd's max-procs > 1) they agree on the new record's key through the index
 * (regindex_claim_rkey), for as long as a push can take. */
#define CLAIM_TTL 600
#define PUSH_LOCKS 64
static pthread_mutex_t push_locks[PUSH_LOCKS] = {[0 ... PUSH_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

/* Lock the stripe of (did, repo, digest) and return its index. */
static int push_lock(const char *did, const char *repo, const char *digest)
{
	unsigned h = 2166136261u; /* FNV-1a */
	for (const char *const *p = (const char *const[]){did, "/", repo, "@", digest, NULL}; *p; p++)
		for (const unsigned char *c = (const unsigned char *)*p; *c; c++)
			h = (h ^ *c) * 16777619u;
	int i = (int)(h % PUSH_LOCKS);
	pthread_mutex_lock(&push_locks[i]);
	return i;
}

int manifests_put(reg_req *q)
{
	int locked = -1;
	buf_t body = BUF_INIT;
	oci_manifest m = {0};
	regindex_manifest old = {0};
	int parsed = 0, expired = 0;
	char *err = NULL, *hold_did = NULL, *hold_url = NULL, *tag_rkey = NULL, *uri = NULL;
	json_object *blob = NULL, *record = NULL, *put = NULL, *tag_record = NULL, *tag_put = NULL;
	char fresh_rkey[14], now_iso[32], *claimed = NULL;
	const char *rkey = NULL, *blob_cid = NULL, *repo = registry_repo(q);
	const char *tag = q->route.ref_is_digest ? NULL : q->route.ref;
	long long now = (long long)time(NULL);

	if (owner_is_caller(q) != 0)
		goto out;
	int got = fcgi_read_body(q->r, &body, OCI_MANIFEST_MAX);
	if (got == -1) {
		registry_send_error(q->r, 413, "SIZE_INVALID", "the manifest is larger than 4 MiB", NULL);
		goto out;
	}
	if (got != 0) {
		registry_fail(q, OCI_MANIFEST_INVALID, "the manifest could not be read", NULL);
		goto out;
	}
	if (oci_manifest_parse(body.data ? body.data : "", body.len, fcgi_header(q->r, "Content-Type"), &m, &err) != OCI_OK) {
		registry_fail(q, OCI_MANIFEST_INVALID, err, NULL);
		goto out;
	}
	parsed = 1;
	if (q->route.ref_is_digest && strcmp(q->route.ref, m.digest) != 0) {
		char *msg = buf_strf("the manifest's digest is %s", m.digest);
		registry_fail(q, OCI_DIGEST_INVALID, msg, NULL);
		free(msg);
		goto out;
	}
	if (pdsuser_session_kind(q->db, q->subject) == PDSUSER_NONE) {
		registry_no_session(q);
		goto out;
	}
	if (registry_push_hold(q, &hold_did, &hold_url, &err) != 0) {
		log_info("push by %s: %s", q->subject, err);
		registry_fail(q, OCI_DENIED, err, NULL);
		goto out;
	}
	hold_client h = {q->db, &q->http, q->subject, hold_did, hold_url};
	if (check_references(q, &h, &m) != 0)
		goto out;
	time_iso(now, now_iso);
	/* From here to the index: two pushes of one new manifest must not both create a record. */
	locked = push_lock(q->owner_did, repo, m.digest);

	int known = regindex_manifest_get(q->db, q->owner_did, repo, m.digest, &old, &err);
	if (known < 0)
		log_warn("index: %s", err);
	if (known == 1 && old.record_rkey && old.blob_cid && old.hold_did && strcmp(old.hold_did, hold_did) == 0 &&
	    record_exists(q, MANIFEST_COLLECTION, old.record_rkey)) {
		/* pushed again, or under another tag: its record stays as it is */
		rkey = old.record_rkey;
		blob_cid = old.blob_cid;
		record = record_of(q, &m, &old, &err);
		if (!record) {
			registry_fail(q, REG_INTERNAL, err, NULL);
			goto out;
		}
	} else {
		/* a known record on another hold is rewritten in place, so no duplicate appears */
		if (known == 1 && old.record_rkey) {
			rkey = old.record_rkey;
		} else {
			tid_next(fresh_rkey);
			if (regindex_claim_rkey(q->db, q->owner_did, repo, m.digest, fresh_rkey, now, CLAIM_TTL, &claimed,
						&err) != 0) {
				log_error("push of %s/%s %s: %s", q->owner_did, repo, m.digest, err);
				registry_fail(q, REG_INTERNAL, "the index is unavailable", NULL);
				goto out;
			}
			rkey = claimed;
		}
		pds_op upload = {.kind = PDS_UPLOAD_BLOB, .data = body.data, .len = body.len, .mime = m.media_type};
		blob = pds_write(q, q->subject, &upload, &expired, &err);
		if (!blob || !(blob_cid = blob_ref_cid(blob))) {
			pds_fail(q, "uploading the manifest blob", expired, blob ? "no blob ref in the answer" : err);
			goto out;
		}
		record = oci_manifest_record_build(&m, repo, hold_did, blob, now_iso, &err);
		if (!record) {
			registry_fail(q, OCI_MANIFEST_INVALID, err, NULL);
			goto out;
		}
		pds_op write = {.kind = PDS_PUT_RECORD, .collection = MANIFEST_COLLECTION, .rkey = rkey, .record = record};
		put = pds_write(q, q->subject, &write, &expired, &err);
		if (!put) {
			pds_fail(q, "writing the manifest record", expired, err);
			goto out;
		}
	}
	if (tag) {
		tag_rkey = oci_tag_rkey(repo, tag);
		uri = buf_strf("at://%s/%s/%s", q->owner_did, MANIFEST_COLLECTION, rkey);
		tag_record = tag_rkey && uri ? oci_tag_record_build(repo, tag, uri, m.media_type, now_iso, &err) : NULL;
		if (!tag_record) {
			registry_fail(q, OCI_TAG_INVALID, err, NULL);
			goto out;
		}
		pds_op write = {.kind = PDS_PUT_RECORD, .collection = TAG_COLLECTION, .rkey = tag_rkey, .record = tag_record};
		tag_put = pds_write(q, q->subject, &write, &expired, &err);
		if (!tag_put) {
			pds_fail(q, "writing the tag record", expired, err);
			goto out;
		}
	}
	if (hold_notify_manifest(&h, repo, m.digest, record, "push", &err) != HOLD_OK)
		log_warn("notifyManifest push of %s/%s to %s: %s", q->owner_did, repo, hold_did, err);
	regindex_entry ent = {.did = q->owner_did, .repository = repo, .m = &m, .raw = body.data, .hold_did = hold_did,
			      .record_rkey = rkey, .blob_cid = blob_cid, .tag = tag, .now = now};
	if (regindex_store(q->db, &ent, 1, &err) != 0)
		log_error("indexing %s of %s/%s (the PDS has it; a pull will fetch it): %s", m.digest, q->owner_did, repo, err);
	log_info("pushed %s/%s %s%s%s", q->owner_did, repo, m.digest, tag ? " as " : "", tag ? tag : "");
	fcgi_add_header(q->r, "Location", "/v2/%s/manifests/%s", q->route.name.full, m.digest);
	fcgi_add_header(q->r, "Docker-Content-Digest", "%s", m.digest);
	if (m.subject)
		fcgi_add_header(q->r, "OCI-Subject", "%s", m.subject->digest);
	fcgi_send(q->r, 201, NULL, "", 0);
out:
	if (locked >= 0)
		pthread_mutex_unlock(&push_locks[locked]);
	free(claimed);
	if (parsed)
		oci_manifest_free(&m);
	regindex_manifest_free(&old);
	json_object_put(blob);
	json_object_put(record);
	json_object_put(put);
	json_object_put(tag_record);
	json_object_put(tag_put);
	buf_free(&body);
	free(hold_did);
	free(hold_url);
	free(tag_rkey);
	free(uri);
	free(err);
	return 0;
}

/* ---- DELETE */

/* Record keys to delete, without repeats. */
typedef struct {
	char **keys;
	size_t n;
	const char *digest, *uri; /* find_tags: what the tag records must point at */
	char *rkey;               /* find_manifest: the record found */
} delete_set;

static void delete_set_add(delete_set *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->keys[i], key) == 0)
			return;
	char **grown = realloc(d->keys, (d->n + 1) * sizeof *grown);
	if (!grown)
		return;
	d->keys = grown;
	if ((d->keys[d->n] = strdup(key)))
		d->n++;
}

static void delete_set_free(delete_set *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->keys[i]);
	free(d->keys);
	free(d->rkey);
}

static int find_manifest(reg_req *q, json_object *value, const char *rkey, void *ctx)
{
	delete_set *d = ctx;
	const char *digest = jsonget_str(value, "digest"), *repo = jsonget_str(value, "repository");
	if (!digest || !repo || strcmp(digest, d->digest) != 0 || strcmp(repo, registry_repo(q)) != 0)
		return 0;
	d->rkey = strdup(rkey);
	return 1;
}

static int find_tags(reg_req *q, json_object *value, const char *rkey, void *ctx)
{
	delete_set *d = ctx;
	const char *repo = jsonget_str(value, "repository"), *uri = jsonget_str(value, "manifest"),
		   *digest = jsonget_str(value, "manifestDigest");
	if (repo && strcmp(repo, registry_repo(q)) == 0 &&
	    ((uri && d->uri && strcmp(uri, d->uri) == 0) || (!uri && digest && strcmp(digest, d->digest) == 0)))
		delete_set_add(d, rkey);
	return 0;
}

/* Delete the records of set in collection. 0 ok; -1 after answering. */
static int delete_records(reg_req *q, const char *collection, const delete_set *set)
{
	char *err = NULL;
	int expired = 0;
	for (size_t i = 0; i < set->n; i++) {
		pds_op del = {.kind = PDS_DELETE_RECORD, .collection = collection, .rkey = set->keys[i]};
		json_object *ok = pds_write(q, q->owner_did, &del, &expired, &err);
		if (!ok) {
			pds_fail(q, "deleting a record", expired, err);
			free(err);
			return -1;
		}
		json_object_put(ok);
	}
	return 0;
}

static int delete_tag(reg_req *q)
{
	const char *did = q->owner_did, *repo = registry_repo(q), *tag = q->route.ref;
	delete_set set = {0};
	regindex_tag t = {0};
	xrpc_error e = {0};
	char *err = NULL, *rkey = oci_tag_rkey(repo, tag);
	json_object *rec = NULL;
	int have = regindex_tag_get(q->db, did, repo, tag, &t, &err);
	if (have != 1 && rkey) {
		xrpc_client c = owner_pds(q);
		rec = xrpc_get_record(&c, did, TAG_COLLECTION, rkey, &e);
		if (!rec && !pds_gone(&e)) {
			log_warn("getRecord %s/%s of %s: %s", TAG_COLLECTION, rkey, did, e.error ? e.error : "failed");
			registry_fail(q, REG_INTERNAL, "your PDS did not answer", NULL);
			goto out;
		}
	}
	if (!rkey || (have != 1 && !rec)) {
		registry_fail(q, OCI_MANIFEST_UNKNOWN, "unknown tag", NULL);
		goto out;
	}
	delete_set_add(&set, rkey);
	if (delete_records(q, TAG_COLLECTION, &set) != 0)
		goto out;
	if (regindex_tag_delete(q->db, did, repo, tag, &err) < 0)
		log_error("index: %s", err);
	log_info("deleted tag %s of %s/%s", tag, did, repo);
	fcgi_send(q->r, 202, NULL, "", 0);
out:
	delete_set_free(&set);
	regindex_tag_free(&t);
	json_object_put(rec);
	xrpc_error_free(&e);
	free(rkey);
	free(err);
	return 0;
}

static int delete_manifest(reg_req *q)
{
	const char *did = q->owner_did, *repo = registry_repo(q), *digest = q->route.ref;
	delete_set tags = {.digest = digest}, manifest = {.digest = digest};
	regindex_manifest row = {0};
	char *err = NULL, **indexed = NULL;
	if (regindex_manifest_get(q->db, did, repo, digest, &row, &err) == 1 && row.record_rkey)
		manifest.rkey = strdup(row.record_rkey);
	if (!manifest.rkey && list_records(q, MANIFEST_COLLECTION, find_manifest, &manifest) == -2) {
		registry_fail(q, REG_INTERNAL, "your PDS did not answer", NULL);
		goto out;
	}
	if (!manifest.rkey) {
		registry_fail(q, OCI_MANIFEST_UNKNOWN, NULL, NULL);
		goto out;
	}
	/* every tag record pointing at it, as the index knows them and as the PDS has them */
	indexed = regindex_tags_for_digest(q->db, did, repo, digest, &err);
	for (char **p = indexed; p && *p; p++) {
		char *key = oci_tag_rkey(repo, *p);
		if (key)
			delete_set_add(&tags, key);
		free(key);
	}
	char *uri = buf_strf("at://%s/%s/%s", did, MANIFEST_COLLECTION, manifest.rkey);
	tags.uri = uri;
	int listed = list_records(q, TAG_COLLECTION, find_tags, &tags);
	tags.uri = NULL;
	free(uri);
	if (listed == -2) {
		registry_fail(q, REG_INTERNAL, "your PDS did not answer", NULL);
		goto out;
	}
	/* the tags first: no tag may point at a missing manifest */
	if (delete_records(q, TAG_COLLECTION, &tags) != 0)
		goto out;
	delete_set_add(&manifest, manifest.rkey);
	if (delete_records(q, MANIFEST_COLLECTION, &manifest) != 0)
		goto out;
	if (regindex_manifest_delete(q->db, did, repo, digest, &err) < 0)
		log_error("index: %s", err);
	log_info("deleted %s of %s/%s and %zu tag(s)", digest, did, repo, tags.n);
	fcgi_send(q->r, 202, NULL, "", 0);
out:
	delete_set_free(&tags);
	delete_set_free(&manifest);
	regindex_manifest_free(&row);
	regindex_strv_free(indexed);
	free(err);
	return 0;
}

int manifests_delete(reg_req *q)
{
	if (owner_is_caller(q) != 0)
		return 0;
	if (pdsuser_session_kind(q->db, q->owner_did) == PDSUSER_NONE) {
		registry_no_session(q);
		return 0;
	}
	if (q->route.ref_is_digest)
		delete_manifest(q);
	else
		delete_tag(q);
	return 0;
}

/* ---- tags/list */

static int import_manifest(reg_req *q, json_object *value, const char *rkey, void *ctx)
{
	(void)ctx;
	oci_manifest_record r = {0};
	char *err = NULL;
	json_object *subject;
	const char *repo = jsonget_str(value, "repository");
	if (!repo || strcmp(repo, registry_repo(q)) != 0)
		return 0;
	/* A referrer's artifactType is only in its bytes (the record lacks it): fetch those now. */
	if (json_object_object_get_ex(value, "subject", &subject))
		return cache_record(q, value, rkey, NULL, NULL) < 0 ? -1 : 0;
	if (oci_manifest_record_parse(value, &r, &err) == 0) {
		r.m.size = r.blob_size > 0 ? (size_t)r.blob_size : 0;
		regindex_entry ent = {.did = q->owner_did, .repository = repo, .m = &r.m, .hold_did = r.hold_did,
				      .record_rkey = rkey, .blob_cid = r.blob_cid, .now = (long long)time(NULL)};
		if (regindex_store(q->db, &ent, 0, &err) != 0)
			log_warn("importing manifest %s of %s: %s", rkey, q->owner_did, err);
		oci_manifest_record_free(&r);
	} else {
		log_info("manifest record %s of %s: %s", rkey, q->owner_did, err);
	}
	free(err);
	return 0;
}

static int import_tag(reg_req *q, json_object *value, const char *rkey, void *ctx)
{
	(void)ctx;
	oci_tag_record t = {0};
	char *err = NULL, *digest = NULL;
	const char *repo = jsonget_str(value, "repository");
	if (!repo || strcmp(repo, registry_repo(q)) != 0)
		return 0;
	if (oci_tag_record_parse(value, &t, &err) != 0) {
		log_info("tag record %s of %s: %s", rkey, q->owner_did, err);
		free(err);
		return 0;
	}
	size_t n = strlen("at://") + strlen(q->owner_did) + strlen("/" MANIFEST_COLLECTION "/");
	if (t.manifest_uri && strlen(t.manifest_uri) > n)
		regindex_manifest_by_rkey(q->db, q->owner_did, repo, t.manifest_uri + n, &digest, &err);
	else if (!t.manifest_uri && t.manifest_digest && oci_digest_ok(t.manifest_digest))
		digest = strdup(t.manifest_digest);
	long long now = (long long)time(NULL);
	if (digest && oci_tag_ok(t.tag) && regindex_tag_put(q->db, q->owner_did, repo, t.tag, digest, now, now, &err) != 0)
		log_warn("importing tag %s of %s: %s", rkey, q->owner_did, err);
	oci_tag_record_free(&t);
	free(digest);
	free(err);
	return 0;
}

/* A repository the index has never seen: read its manifest and tag records from the owner's PDS once
 * (manifests without their bytes, which a pull fetches, except referrers). 0 done, -1 after answering. */
static int import_repository(reg_req *q)
{
	int rc = list_records(q, MANIFEST_COLLECTION, import_manifest, NULL);
	if (rc == 0)
		rc = list_records(q, TAG_COLLECTION, import_tag, NULL);
	if (rc == -2)
		return answer_error(q, REG_INTERNAL, "the owner's PDS did not answer");
	return rc;
}

/* Answer {"<key>": [...]} (plus "name" when name is not NULL) with the Link header of the next page. */
static void send_page(reg_req *q, const char *name, const char *key, const regindex_page *p, int n, const char *path)
{
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	if (name)
		json_object_object_add(root, "name", json_object_new_string(name));
	for (size_t i = 0; i < p->count; i++)
		json_object_array_add(list, json_object_new_string(p->names[i]));
	json_object_object_add(root, key, list);
	if (p->more && n > 0 && p->count > 0) {
		char *link = oci_link_next(path, n, p->names[p->count - 1]);
		if (link)
			fcgi_add_header(q->r, "Link", "%s", link);
		free(link);
	}
	fcgi_send_json(q->r, 200, root);
	json_object_put(root);
}

int tags_list(reg_req *q)
{
	regindex_page page = {0};
	char *last = NULL, *err = NULL, *path = NULL;
	int n = -1;
	if (registry_owner(q) != 0)
		goto out;
	if (oci_page_parse(q->r->query, PAGE_MAX, &n, &last) != OCI_OK) {
		registry_fail(q, OCI_PAGINATION_NUMBER_INVALID, NULL, NULL);
		goto out;
	}
	int known = regindex_repo_exists(q->db, q->owner_did, registry_repo(q), &err);
	char *key = known == 0 ? buf_strf("repository\n%s\n%s", q->owner_did, registry_repo(q)) : NULL, *miss = NULL;
	long long now = (long long)time(NULL);
	if (known == 0 && !(miss = key ? ttlcache_get(&misses, key, now) : NULL)) {
		int rc = import_repository(q);
		known = rc == 0 ? regindex_repo_exists(q->db, q->owner_did, registry_repo(q), &err) : known;
		if (rc == 0 && known == 0 && key)
			ttlcache_put(&misses, key, "", now + MISS_TTL, now);
		if (rc != 0) {
			free(key);
			goto out;
		}
	}
	free(key);
	free(miss);
	if (known == 0) {
		registry_fail(q, OCI_NAME_UNKNOWN, NULL, NULL);
		goto out;
	}
	if (known < 0 || regindex_tags_list(q->db, q->owner_did, registry_repo(q), last, n, &page, &err) != 0) {
		log_error("index: %s", err);
		registry_fail(q, REG_INTERNAL, "the index is unavailable", NULL);
		goto out;
	}
	path = buf_strf("/v2/%s/tags/list", q->route.name.full);
	send_page(q, q->route.name.full, "tags", &page, n, path ? path : "");
out:
	regindex_page_free(&page);
	free(last);
	free(err);
	free(path);
	return 0;
}

/* ---- referrers */

int referrers_list(reg_req *q)
{
	regindex_referrer *refs = NULL;
	size_t n = 0;
	char *err = NULL, *artifact_type = NULL;
	if (registry_owner(q) != 0)
		goto out;
	artifact_type = fcgi_query_get(q->r, "artifactType");
	if (artifact_type && !*artifact_type) {
		free(artifact_type);
		artifact_type = NULL;
	}
	if (regindex_referrers(q->db, q->owner_did, registry_repo(q), q->route.ref, artifact_type, &refs, &n, &err) != 0) {
		log_error("index: %s", err);
		registry_fail(q, REG_INTERNAL, "the index is unavailable", NULL);
		goto out;
	}
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	json_object_object_add(root, "schemaVersion", json_object_new_int(2));
	json_object_object_add(root, "mediaType", json_object_new_string(OCI_MT_IMAGE_INDEX));
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "mediaType", json_object_new_string(refs[i].media_type));
		json_object_object_add(d, "digest", json_object_new_string(refs[i].digest));
		json_object_object_add(d, "size", json_object_new_int64(refs[i].size));
		if (refs[i].artifact_type)
			json_object_object_add(d, "artifactType", json_object_new_string(refs[i].artifact_type));
		json_object *annotations = refs[i].annotations ? json_tokener_parse(refs[i].annotations) : NULL;
		if (annotations)
			json_object_object_add(d, "annotations", annotations);
		json_object_array_add(list, d);
	}
	json_object_object_add(root, "manifests", list);
	if (artifact_type)
		fcgi_add_header(q->r, "OCI-Filters-Applied", "artifactType");
	const char *body = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	fcgi_send(q->r, 200, OCI_MT_IMAGE_INDEX, body, strlen(body));
	json_object_put(root);
out:
	regindex_referrers_free(refs, n);
	free(artifact_type);
	free(err);
	return 0;
}

/* ---- _catalog */

int catalog_list(reg_req *q)
{
	regindex_page page = {0};
	char *last = NULL, *err = NULL;
	int n = -1;
	if (oci_page_parse(q->r->query, PAGE_MAX, &n, &last) != OCI_OK) {
		registry_fail(q, OCI_PAGINATION_NUMBER_INVALID, NULL, NULL);
		goto out;
	}
	if (regindex_catalog(q->db, last, n, &page, &err) != 0) {
		log_error("index: %s", err);
		registry_fail(q, REG_INTERNAL, "the index is unavailable", NULL);
		goto out;
	}
	send_page(q, NULL, "repositories", &page, n, "/v2/_catalog");
out:
	regindex_page_free(&page);
	free(last);
	free(err);
	return 0;
}
