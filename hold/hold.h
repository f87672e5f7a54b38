/* hold.h - atcr-hold: the storage service. Its shared context and the handlers the route table in
 * xrpc.c names, one file per surface (did.c, records.c, upload.c, blob.c, manifest.c, crew.c, quota.c),
 * and garbage collection (gc.c). */
#ifndef ATCR_HOLD_H
#define ATCR_HOLD_H
#include <sqlite3.h>
#include <stdio.h>

#include "blobstore.h"
#include "cid.h"
#include "config.h"
#include "crypto.h"
#include "fcgi.h"
#include "holdclient.h"
#include "jsonget.h"
#include "identity.h"
#include "tiers.h"

/* Read-only after start-up; every request sees it as r->app. */
typedef struct {
	const config *cfg;
	char *did;            /* did:web:localhost%3A8080, or the stored did:plc (hold.did_method) */
	int did_plc;          /* hold.did_method is plc: the document lives in the PLC directory */
	crypto_key *rotation_key; /* did:plc only: the K-256 key that signs PLC operations */
	char *public_url;     /* http://localhost:8080, no trailing slash */
	crypto_key *key;      /* the hold's K-256 signing key */
	char *multikey;       /* its public Multikey */
	char *owner;          /* the captain's owner DID */
	int is_public;        /* captain.public: anonymous blob reads */
	int allow_all_crew;   /* captain.allowAllCrew */
	blobstore *blobs;
	const char *db_path;
	identity_ctx ident;   /* template: .db is set per thread by hold_identity() */
	hold_tiers *tiers;    /* quota.tiers_file; NULL = no quotas */
} hold_ctx;

extern const cfg_option hold_options[];

/* main.c / db.c: the calling thread's own connection to the hold database (opened on first use). */
sqlite3 *hold_db(const hold_ctx *h);
/* Open the database and apply the hold's migrations; NULL with *err. */
sqlite3 *hold_db_open(const char *path, char **err);
/* The hold's identity resolver bound to this thread's database connection. */
identity_ctx hold_identity(const hold_ctx *h);

/* Start-up: derive the DID (did:web) or load it, registering it on first start (did:plc: plc_identity),
 * load or create the key, write the captain and the owner's crew record. 0 ok, -1 with *err. */
int hold_init(hold_ctx *h, const config *cfg, char **err);
void hold_release(hold_ctx *h);
/* The did:web of a public URL ("http://localhost:8080" -> "did:web:localhost%3A8080"); NULL if unusable. */
char *hold_did_from_url(const char *url);

/* ---- auth.c: service tokens and the permission matrix */
enum {
	HOLD_PERM_READ = 1,     /* blob:read */
	HOLD_PERM_WRITE = 2,    /* blob:write */
	HOLD_PERM_ADMIN = 4,    /* crew:admin */
};
typedef enum { HOLD_READ_BLOBS, HOLD_WRITE_BLOBS, HOLD_MANAGE_CREW } hold_action;
/* Permission bits of a crew record's "permissions" array (unknown strings ignored). */
unsigned hold_perms_from_json(struct json_object *permissions);
/* The matrix (pure): may caller (NULL = anonymous) with crew permissions perms (is_crew = 0 when not
 * crew) do action on a hold owned by owner, public or not? */
int hold_may(const char *owner, int is_public, const char *caller, int is_crew, unsigned perms, hold_action action);
/* The caller's crew permissions from the records (0 when not crew); *is_crew set. */
unsigned hold_crew_perms(const hold_ctx *h, const char *did, int *is_crew);
/* Authenticate (when a token is present or required) and authorize action for method. Returns 0 and
 * *caller (caller frees; NULL for anonymous) or -1 after answering the request with an XRPC error. */
int hold_authorize(fcgi_req *r, const char *method, hold_action action, int token_required, char **caller);
/* Authenticate only: a valid service token for method is required; -1 after answering. */
int hold_authenticate(fcgi_req *r, const char *method, char **caller);
/* The same, answering a token that fails a check with XRPC error invalid_error (401) instead of
 * InvalidToken: for methods whose lexicon names no other authentication error. */
int hold_authenticate_as(fcgi_req *r, const char *method, const char *invalid_error, char **caller);

/* xrpc.c: the route table, and the layer's own errors in XRPC form. */
extern const fcgi_route hold_routes[];
void hold_layer_error(fcgi_req *r, int status, const char *message);
/* xrpc.c: an XRPC error response {"error","message"}. Returns 0 (the request is answered). */
int hold_xrpc_error(fcgi_req *r, int status, const char *error, const char *message);
/* A 200 answer whose body is an object of string fields: name, value, ..., NULL. Returns 0. */
int hold_reply(fcgi_req *r, ...) __attribute__((sentinel));
/* Parse a JSON object body (up to max bytes); NULL after answering with an XRPC error. */
struct json_object *hold_read_json(fcgi_req *r, size_t max);

/* ---- plc.c: the did:plc identity (hold.did_method: plc). Operations are JSON objects of the did:plc
 * method; their signature covers the DAG-CBOR of the operation without "sig". */
/* The unsigned operation {type: plc_operation, rotationKeys: [rotation_key], verificationMethods:
 * {atproto: signing_key}, alsoKnownAs: [], services: {atproto_pds: {AtprotoPersonalDataServer, endpoint}},
 * prev} (keys as did:key; prev NULL for a genesis). Caller puts. */
struct json_object *plc_unsigned_op(const char *rotation_key, const char *signing_key, const char *endpoint,
				    const char *prev);
/* Sign op in place with the rotation key: "sig" = base64url of the low-S K-256 signature. 0, or -1 with *err. */
int plc_sign_op(const crypto_key *rotation, struct json_object *op, char **err);
/* 1 when op's "sig" is a valid signature by did_key (a did:key), else 0. */
int plc_verify_op(const struct json_object *op, const char *did_key);
/* The DID a signed genesis operation makes: "did:plc:" + the first 24 characters of the base32 of the
 * SHA-256 of its DAG-CBOR. Caller frees; NULL with *err. */
char *plc_did_for_genesis(const struct json_object *genesis, char **err);
/* The CID (dag-cbor, sha-256) of a signed operation: the next operation's prev. Caller frees; NULL with *err. */
char *plc_op_cid(const struct json_object *op, char **err);
/* The unsigned update after last (the DID's last signed operation) that points the DID at endpoint and
 * signing_key, everything else kept, prev = last's CID; refused when last is not a plc_operation (a
 * tombstone) or rotation_key is not one of its rotationKeys. Caller puts; NULL with *err. */
struct json_object *plc_update_op(const struct json_object *last, const char *rotation_key, const char *signing_key,
				  const char *endpoint, char **err);
/* Start-up: load or create hold.rotation_key_path, then the stored DID, or on first start a genesis for
 * h->public_url and h->key, kept in the database and posted to hold.plc_url (a genesis the directory has
 * not taken yet is posted again). Sets h->did. 0, or -1 with *err. */
int plc_identity(hold_ctx *h, char **err);
/* The did:plc kept in the hold's database (registered or not), or NULL. Caller frees. */
char *plc_stored_did(sqlite3 *db);
/* serve: compare the directory's document with the configuration and, when the endpoint or the signing
 * key differ, post an update signed with the rotation key. 0 current or updated; 1 the directory is
 * unavailable (no answer, 5xx: *err, try at the next start); -1 with *err. */
int plc_sync(hold_ctx *h, char **err);

/* did.c: the hold's DID document (caller puts). */
struct json_object *did_document(const hold_ctx *h);

/* ---- handlers */
int did_json(fcgi_req *r);            /* GET /.well-known/did.json */
int did_atproto(fcgi_req *r);         /* GET /.well-known/atproto-did */
int xrpc_health(fcgi_req *r);         /* GET /xrpc/_health */
int records_describe_server(fcgi_req *r);
int records_describe_repo(fcgi_req *r);
int records_get(fcgi_req *r);
int records_list(fcgi_req *r);
int records_put(fcgi_req *r);         /* crew records only: captain / crew:admin */
int records_delete(fcgi_req *r);
int upload_initiate(fcgi_req *r);
int upload_part_url(fcgi_req *r);
int upload_part(fcgi_req *r);
int upload_complete(fcgi_req *r);
int upload_abort(fcgi_req *r);
int blob_get(fcgi_req *r);            /* GET|HEAD com.atproto.sync.getBlob */
int manifest_notify(fcgi_req *r);
int manifest_layers(fcgi_req *r);     /* getLayersForManifest */
int manifest_quota(fcgi_req *r);      /* getQuota */
int crew_request(fcgi_req *r);        /* requestCrew */
int crew_update_tier(fcgi_req *r);    /* updateCrewTier */
int userdata_export(fcgi_req *r);     /* exportUserData */
int userdata_delete(fcgi_req *r);     /* deleteUserData */
int sync_latest_commit(fcgi_req *r);  /* com.atproto.sync.getLatestCommit */
int sync_repo(fcgi_req *r);           /* com.atproto.sync.getRepo (CAR) */
int sync_record(fcgi_req *r);         /* com.atproto.sync.getRecord (CAR: commit, MST path, record) */
int sync_repo_status(fcgi_req *r);    /* com.atproto.sync.getRepoStatus */
int sync_list_repos(fcgi_req *r);     /* com.atproto.sync.listRepos */

/* ---- repo.c: the hold's records as a signed atproto repository. Every write to the records is a
 * BEGIN IMMEDIATE transaction that ends with repo_tx_commit, so each change has its commit. */
/* Inside a write transaction: when the records changed since the head commit (or there is none yet),
 * the MST of all the records, a commit over it signed with h->key (rev a TID after the head's), its
 * blocks stored and the head moved. 1 committed, 0 the head was current, -1 with *err. */
int repo_commit(const hold_ctx *h, sqlite3 *db, char **err);
/* repo_commit, then COMMIT. 0, or -1 with *err (the caller rolls back). */
int repo_tx_commit(const hold_ctx *h, sqlite3 *db, char **err);
/* repo_commit in a transaction of its own (start-up: records written before commits existed, or a
 * database without a commit yet). 1, 0 or -1 with *err, as repo_commit. */
int repo_update(const hold_ctx *h, char **err);
/* The commit object before it is signed: {did, version: 3, data, rev, prev: null} (caller puts). */
struct json_object *repo_unsigned_commit(const char *did, const cid_t *data, const char *rev);
/* The rev of a commit after one at prev (NULL for the first): a new TID, always greater than prev. */
void repo_next_rev(const char *prev, char out[14]);

/* ---- records.c: the hold's own records */
/* Store a record in the hold's repo, inside a write transaction that ends with repo_tx_commit; 0 ok
 * (CID in *cid if non-NULL, caller frees). */
int hold_put_record(const hold_ctx *h, const char *collection, const char *rkey, struct json_object *record,
		    char **cid, char **err);
/* Every record of collection whose string field equals value (compared whole), oldest key first, as
 * an array of {"rkey", "value"} (caller puts); NULL with *err on a database error. It walks the whole
 * collection: meant for rare requests (exportUserData, deleteUserData). */
struct json_object *hold_records_where(sqlite3 *db, const char *collection, const char *field, const char *value,
				       char **err);
/* hold_hash_rkey (the crew and stats record keys) is in lib/holdclient.h: the AppView uses it too. */
/* Now as an atproto datetime "2026-11-23T08:00:00.000Z". */
void hold_now(char out[32]);

/* ---- crew.c: CLI and records */
/* Add or replace member's crew record with role and permissions (a JSON array of strings). */
int crew_put(const hold_ctx *h, const char *member, const char *role, struct json_object *permissions, char **err);
int cli_crew(hold_ctx *h, int argc, char **argv);
/* member's crew record (caller puts); NULL when member is not crew. */
struct json_object *crew_get(sqlite3 *db, const char *member);
/* Delete member's crew record, inside a write transaction (repo_tx_commit ends it): 1 deleted, 0 absent,
 * -1 on a database error. */
int crew_remove(sqlite3 *db, const char *member);
/* Set member's crew record's tier (the rest of the record kept): 1 set, 0 member is not crew, -1 with *err. */
int crew_set_tier(const hold_ctx *h, const char *member, const char *tier, char **err);

/* ---- quota.c: storage quotas by tier (the tiers file: tiers.h). Usage is what getQuota counts plus the
 * blobs a user completed that no manifest names yet ("pending", for storage.upload_expiry seconds). */
/* 1 when user's uploads are measured: a tiers file is configured and user is not the captain. */
int quota_on(const hold_ctx *h, const char *user);
/* The tier user is in: NULL when quotas do not apply (quota_on); else the crew record's tier, or the
 * default one (a name the file does not know is logged). */
const hold_tier *quota_tier(const hold_ctx *h, sqlite3 *db, const char *user);
/* getQuota's numbers: user's unique blob digests in layer records and their bytes. 0, or -1 with *err. */
int quota_usage(sqlite3 *db, const char *user, long long *blobs, long long *bytes, char **err);
/* uploadPart: how many bytes part number may bring before the upload alone is larger than the whole
 * tier (it could never fit then); LLONG_MAX without a limit, negative when already too large. */
long long quota_part_budget(sqlite3 *db, const hold_tier *tier, const char *upload_id, int number);
/* uploadPart: remember the part's size for completeUpload's check. 0, or -1 with *err. */
int quota_note_part(sqlite3 *db, const char *upload_id, int number, const char *etag, long long size, long long now,
		    char **err);
enum { QUOTA_FREE = 0, QUOTA_RESERVED = 1, QUOTA_OVER = 2 };
/* completeUpload, before the blob is assembled: may user's tier take the upload's bytes as digest?
 * QUOTA_FREE (no limit, or the blob already counts for user), QUOTA_RESERVED (it fits and counts as
 * pending from now: quota_release it if the completion fails), QUOTA_OVER (*message for the caller,
 * caller frees), or -1 with *err. Pending blobs older than pending_since no longer count. */
int quota_reserve(sqlite3 *db, const hold_tier *tier, const char *user, const char *upload_id, const char *digest,
		  const bs_part *parts, size_t nparts, long long now, long long pending_since, char **message, char **err);
/* Undo a reservation whose blob was not kept. */
void quota_release(sqlite3 *db, const char *user, const char *digest);
/* The upload is gone (completed or discarded): forget its part sizes. */
void quota_forget_upload(sqlite3 *db, const char *upload_id);
/* notifyManifest (push), inside its transaction: the manifest's layers count through their layer
 * records now, and its config no longer counts. 0, or -1 with *err. */
int quota_settle(sqlite3 *db, const char *user, struct json_object *manifest, char **err);
/* Forget part sizes and pending blobs recorded before cutoff (seconds); how many, or -1 with *err. */
int quota_expire(sqlite3 *db, long long cutoff, char **err);
/* "storage quota exceeded: 3.0 MiB tier deckhand, 1.0 MiB used, this blob 2.5 MiB" (used < 0: "this
 * blob over <blob>", for an upload cut short). Caller frees. */
char *quota_exceeded_message(const hold_tier *tier, long long used, long long blob);

/* ---- manifest.c: layer records */
/* Delete a layer record and its row in the layer index: 1 deleted, 0 absent, -1 with *err. */
int manifest_layer_delete(sqlite3 *db, const char *rkey, char **err);

/* ---- gc.c: garbage collection (atcr-hold gc). Layer records whose manifest left its owner's PDS go,
 * then blobs nothing names any more once they are older than gc.grace_seconds, then record blocks no
 * record points at. Besides the layer records, the `manifests` table (migration 5) remembers each
 * manifest's config blob (no layer record names it) and when it was last pushed. */
typedef struct {
	int dry_run;          /* report what would go, change nothing */
	long long grace;      /* gc.grace_seconds: blobs marked (stored or asked for) more recently stay */
	FILE *out;            /* the report, one line per thing removed or kept for a reason; NULL = none */
} gc_options;
typedef struct {
	long long manifests, present, gone, undecided; /* manifests checked with their owners' PDSes */
	long long layer_records;                       /* removed (dry run: that would be) */
	long long blobs, bytes;                        /* removed, and the bytes freed (dry run: would be) */
	long long blobs_referenced, blobs_young, blobs_pending; /* kept */
	long long blocks;                              /* record blocks pruned (dry run: would be) */
	int blobs_skipped;    /* the blob sweep did not run: an undecided manifest's config blob is unknown */
} gc_report;
/* One collection with the hold's database and storage. A manifest counts as gone only when its
 * owner's PDS answers RecordNotFound (and, for the hold's own digest-keyed at-uris, lists no
 * manifest record with that digest); an owner whose DID does not resolve or whose PDS does not answer
 * keeps everything. 0 with *rep, or -1 with *err (what was done before the error stays done). */
int gc_run(const hold_ctx *h, const gc_options *o, gc_report *rep, char **err);
/* notifyManifest (push), inside its transaction: remember the manifest's config blob digest (may be
 * NULL) and that it was pushed at now. 0, or -1 with *err. */
int gc_note_manifest(sqlite3 *db, const char *uri, const char *user, const char *config_digest, long long now,
		      char **err);
/* deleteUserData, inside its transaction: forget user's manifests. How many, or -1 with *err. */
int gc_forget_user(sqlite3 *db, const char *user, char **err);
/* getBlob: the blob was asked for at now, so its grace period starts again (at most hourly, and at
 * half the grace period when that is shorter). BS_NOT_FOUND when a collection removed it meanwhile. */
bs_status gc_blob_asked(blobstore *bs, const char *digest, long long grace, long long now);
/* The transactional end of the sweep: within BEGIN IMMEDIATE, check again that nothing names digest
 * and remove it if its mark is at or before cutoff. *removed and *size as bs_remove. 0, or -1 with *err. */
int gc_collect_blob(sqlite3 *db, blobstore *bs, const char *digest, long long cutoff, int *removed, long long *size,
		    char **err);
/* Split a layer record's manifest at-uri "at://<did>/io.atcr.manifest/<rkey>": *did and *rkey, and
 * *digest when the rkey is a digest's hex (the hold's convention: 64 hex = sha256, 128 = sha512; else
 * NULL). Caller frees all three. 0, or -1 when uri names no io.atcr.manifest record. */
int gc_manifest_ref(const char *uri, char **did, char **rkey, char **digest);

/* ---- userdata.c: what the hold keeps about one user (io.atcr.hold.exportUserData / deleteUserData) */
/* The export's body (exportUserData's output; exportedAt = now) for user on hold hold_did whose captain
 * is owner, read in one snapshot. Caller puts; NULL with *err. */
struct json_object *userdata_collect(sqlite3 *db, const char *hold_did, const char *owner, const char *user,
				     const char *now, char **err);
typedef struct {
	int crew_deleted;     /* never the captain's */
	long long layers, stats;
} userdata_erased;
/* Delete user's crew record (unless user is the captain), layer records and stats records, commit, and
 * drop the blocks left without a record or the new head, in one transaction: 0 with *out, or -1 with
 * *err and nothing deleted. */
int userdata_erase(const hold_ctx *h, sqlite3 *db, const char *user, userdata_erased *out, char **err);

#endif
