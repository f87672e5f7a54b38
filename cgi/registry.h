/* registry.h - the pieces of the OCI Distribution API (/v2/) shared by its handler files: the
 * authenticated request, OCI errors, the repository's owner, the hold that takes a push.
 * registry.c authenticates and dispatches; blobs.c serves blobs and uploads; manifests.c manifests,
 * tags, referrers and the catalog. */
#ifndef ATCR_REGISTRY_H
#define ATCR_REGISTRY_H
#include <sqlite3.h>

#include "appview.h"
#include "http.h"
#include "oci.h"
#include "regtoken.h"

/* One /v2/ request after routing and authentication. */
typedef struct {
	fcgi_req *r;
	const appview *av;
	oci_route route;       /* kind, name (identity + repo), ref */
	char *subject;         /* the token's subject DID; "" for anonymous */
	regtoken_access_list access;
	sqlite3 *db;           /* this thread's index connection */
	http_opts http;        /* outbound requests (test mode allows loopback) */
	/* The name's identity, resolved: NULL until registry_owner() succeeds. */
	char *owner_did;
	char *owner_handle;
	char *owner_pds;
} reg_req;

/* A server fault for registry_fail: answered as 500 "UNKNOWN". */
#define REG_INTERNAL OCI_CODE_COUNT

/* An OCI error: the code's status and default message unless message is given; detail may be NULL
 * (it is not consumed). Always returns 0 so handlers can `return registry_fail(...)`. */
int registry_fail(reg_req *q, oci_code code, const char *message, struct json_object *detail);

/* Resolve the name's identity (handle or DID) into q->owner_did/handle/pds. 0 ok; -1 after answering
 * (NAME_UNKNOWN when the identity does not resolve). */
int registry_owner(reg_req *q);

/* 401 with the Bearer challenge for action on the request's name (a caller who must log in first). */
int registry_challenge(reg_req *q, unsigned action);

/* 1 when the caller's token grants want (REGTOKEN_PULL/PUSH/DELETE) on the request's name. */
int registry_allowed(const reg_req *q, unsigned want);

/* The hold a push by q->subject lands on: the user's io.atcr.sailor.profile defaultHold, else the
 * AppView's registry.default_hold_did; its URL from the hold's DID document. 0 ok (both malloc'd,
 * caller frees); -1 with *err set (no hold configured, profile unreadable, hold unresolvable). */
int registry_push_hold(reg_req *q, char **hold_did, char **hold_url, char **err);
/* The same for any user: the hold user's pushes land on now. */
int registry_user_hold(reg_req *q, const char *user, char **hold_did, char **hold_url, char **err);

/* The URL of a hold (the #atproto_pds service of its DID document, cached in the index).
 * Caller frees; NULL with *err set. */
char *registry_hold_url(reg_req *q, const char *hold_did, char **err);

/* The repository as records name it (q->route.name.repo) and the owner's DID form of the full
 * name ("<did>/<repo>"). */
static inline const char *registry_repo(const reg_req *q)
{
	return q->route.name.repo;
}

/* ---- blobs.c */
int blobs_get(reg_req *q);          /* GET/HEAD /v2/<name>/blobs/<digest> */
int blobs_delete(reg_req *q);       /* DELETE /v2/<name>/blobs/<digest>: UNSUPPORTED (hold GC) */
int uploads_start(reg_req *q);      /* POST /v2/<name>/blobs/uploads/ (incl. monolithic and mount) */
int uploads_patch(reg_req *q);      /* PATCH /v2/<name>/blobs/uploads/<id> */
int uploads_put(reg_req *q);        /* PUT /v2/<name>/blobs/uploads/<id>?digest= */
int uploads_status(reg_req *q);     /* GET /v2/<name>/blobs/uploads/<id> */
int uploads_cancel(reg_req *q);     /* DELETE /v2/<name>/blobs/uploads/<id> */

/* The hold that holds the blobs of q's repository for a pull: the holdDid of the newest manifest
 * of the repository in the index that references digest (NULL digest: any manifest), else the
 * owner's push hold. Caller frees both; -1 with *err set. (blobs.c) */
int registry_pull_hold(reg_req *q, const char *digest, char **hold_did, char **hold_url, char **err);

/* ---- manifests.c */
/* 401 UNAUTHORIZED "log in again at <base_url>": q->subject has no session with their PDS (neither an
 * app-password login nor a web login), so nothing can be written there or on holds. Returns 0. */
int registry_no_session(reg_req *q);
int manifests_get(reg_req *q);      /* GET/HEAD /v2/<name>/manifests/<ref> */
int manifests_put(reg_req *q);      /* PUT */
int manifests_delete(reg_req *q);   /* DELETE */
int tags_list(reg_req *q);          /* GET /v2/<name>/tags/list */
int referrers_list(reg_req *q);     /* GET /v2/<name>/referrers/<digest> */
int catalog_list(reg_req *q);       /* GET /v2/_catalog */

#endif
