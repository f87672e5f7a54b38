/* registry.c - the OCI Distribution API under /v2/: token check, the endpoint table, OCI errors, and
 * what every endpoint shares (the name's owner, the hold a push lands on). */
#include "registry.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "identity.h"
#include "log.h"
#include "syntax.h"
#include "ttlcache.h"
#include "xrpc.h"

#define API_VERSION_HEADER "Docker-Distribution-Api-Version"
#define API_VERSION "registry/2.0"

int registry_send_error(fcgi_req *r, int status, const char *code, const char *message, const char *detail_name)
{
	int rc = -1;
	json_object *root = json_object_new_object(), *errors = json_object_new_array(),
		    *err = json_object_new_object();
	if (!root || !errors || !err)
		goto out;
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (detail_name) {
		json_object *detail = json_object_new_object();
		json_object_object_add(detail, "name", json_object_new_string(detail_name));
		json_object_object_add(err, "detail", detail);
	}
	json_object_array_add(errors, err);
	err = NULL;
	json_object_object_add(root, "errors", errors);
	errors = NULL;
	fcgi_add_header(r, API_VERSION_HEADER, API_VERSION);
	rc = fcgi_send_json(r, status, root);
out:
	json_object_put(err);
	json_object_put(errors);
	json_object_put(root);
	return rc;
}

void registry_layer_error(fcgi_req *r, int status, const char *message)
{
	/* OCI has no generic "bad request" code; UNSUPPORTED is what clients show as a
	 * refusal, and distribution uses UNKNOWN for server faults. */
	const char *code = status == 404 ? "NAME_UNKNOWN"
			   : status == 413 ? "SIZE_INVALID"
			   : status >= 500 ? "UNKNOWN"
					   : "UNSUPPORTED";
	registry_send_error(r, status, code, message, NULL);
}

int registry_fail(reg_req *q, oci_code code, const char *message, struct json_object *detail)
{
	if (fcgi_responded(q->r))
		return 0;
	char *body = oci_error_body(code, message, detail);
	fcgi_add_header(q->r, API_VERSION_HEADER, API_VERSION);
	if (body)
		fcgi_send_error_json(q->r, oci_code_status(code), body);
	free(body);
	return 0;
}

/* ---- authentication */

/* 401 with the Bearer challenge docker follows to /auth/token. scope may be NULL (the base check). */
static int challenge(fcgi_req *r, const char *scope, const char *error, const char *message)
{
	const appview *av = r->app;
	char *realm = buf_strf("%s/auth/token", av->base_url);
	char *value = realm ? regtoken_challenge(realm, av->service_name, scope, error) : NULL;
	if (value)
		fcgi_add_header(r, "WWW-Authenticate", "%s", value);
	registry_send_error(r, 401, "UNAUTHORIZED", message, NULL);
	free(realm);
	free(value);
	return 0;
}

/* Verify the request's Bearer token: 0 with *subject and access set; -1 when absent or invalid
 * (*why says which). */
static int bearer(fcgi_req *r, char **subject, regtoken_access_list *access, const char **why)
{
	const appview *av = r->app;
	const char *h = fcgi_header(r, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		*why = "authentication required";
		return -1;
	}
	char *err = NULL;
	int rc = regtoken_verify(&av->tokens, h + 7, (long long)time(NULL), subject, access, &err);
	if (rc != 0) {
		log_info("registry token refused: %s", err ? err : "?");
		*why = "invalid or expired token";
	}
	free(err);
	return rc;
}

int registry_base(fcgi_req *r)
{
	char *subject = NULL;
	regtoken_access_list access = {0};
	const char *why = NULL;
	if (bearer(r, &subject, &access, &why) != 0) {
		challenge(r, NULL, NULL, why);
	} else {
		fcgi_add_header(r, API_VERSION_HEADER, API_VERSION);
		fcgi_send(r, 200, "application/json", "{}", 2);
	}
	free(subject);
	regtoken_access_list_free(&access);
	return 0;
}

static const char *action_names(unsigned action)
{
	return action == REGTOKEN_PULL ? "pull" : action == REGTOKEN_DELETE ? "delete" : "pull,push";
}

int registry_challenge(reg_req *q, unsigned action)
{
	char *scope = buf_strf("repository:%s:%s", q->route.name.full, action_names(action));
	challenge(q->r, scope, *q->subject ? "insufficient_scope" : NULL, "authentication required");
	free(scope);
	return 0;
}

int registry_allowed(const reg_req *q, unsigned want)
{
	return regtoken_allows(&q->access, "repository", q->route.name.full, want);
}

/* ---- the endpoint table */

typedef int (*reg_handler)(reg_req *q);

/* Which handler answers which method on which endpoint, and the token action it needs
 * (0: any valid token, anonymous included). FCGI_GET also covers HEAD. */
static const struct {
	oci_route_kind kind;
	unsigned methods;
	unsigned action;
	reg_handler handler;
} endpoints[] = {
	{OCI_ROUTE_CATALOG, FCGI_GET, 0, catalog_list},
	{OCI_ROUTE_MANIFEST, FCGI_GET, REGTOKEN_PULL, manifests_get},
	{OCI_ROUTE_MANIFEST, FCGI_PUT, REGTOKEN_PUSH, manifests_put},
	{OCI_ROUTE_MANIFEST, FCGI_DELETE, REGTOKEN_DELETE, manifests_delete},
	{OCI_ROUTE_BLOB, FCGI_GET, REGTOKEN_PULL, blobs_get},
	{OCI_ROUTE_BLOB, FCGI_DELETE, REGTOKEN_PULL, blobs_delete}, /* always 405 */
	{OCI_ROUTE_UPLOAD_START, FCGI_POST, REGTOKEN_PUSH, uploads_start},
	{OCI_ROUTE_UPLOAD, FCGI_GET, REGTOKEN_PUSH, uploads_status},
	{OCI_ROUTE_UPLOAD, FCGI_PATCH, REGTOKEN_PUSH, uploads_patch},
	{OCI_ROUTE_UPLOAD, FCGI_PUT, REGTOKEN_PUSH, uploads_put},
	{OCI_ROUTE_UPLOAD, FCGI_DELETE, REGTOKEN_PUSH, uploads_cancel},
	{OCI_ROUTE_TAGS, FCGI_GET, REGTOKEN_PULL, tags_list},
	{OCI_ROUTE_REFERRERS, FCGI_GET, REGTOKEN_PULL, referrers_list},
};

static void reg_req_free(reg_req *q)
{
	oci_route_free(&q->route);
	free(q->subject);
	regtoken_access_list_free(&q->access);
	free(q->owner_did);
	free(q->owner_handle);
	free(q->owner_pds);
}

int registry_v2(fcgi_req *r)
{
	const appview *av = r->app;
	reg_req q = {.r = r, .av = av};
	char *err = NULL, *scope = NULL;
	unsigned bit = fcgi_method_bit(r->method);
	if (bit == FCGI_HEAD)
		bit = FCGI_GET;
	oci_code code = oci_route_parse(r->rest, &q.route, &err);
	if (code == OCI_NOT_FOUND) {
		registry_send_error(r, 404, "UNSUPPORTED", "no such endpoint in the registry API", NULL);
		goto out;
	}
	if (code != OCI_OK) {
		registry_fail(&q, code, err, NULL);
		goto out;
	}
	size_t i, n = sizeof endpoints / sizeof endpoints[0];
	buf_t allow = BUF_INIT;
	for (i = 0; i < n; i++)
		if (endpoints[i].kind == q.route.kind) {
			if (endpoints[i].methods & bit)
				break;
			buf_printf(&allow, "%s%s", allow.len ? ", " : "",
				   endpoints[i].methods == FCGI_GET ? "GET, HEAD"
				   : endpoints[i].methods == FCGI_PUT ? "PUT"
				   : endpoints[i].methods == FCGI_POST ? "POST"
				   : endpoints[i].methods == FCGI_PATCH ? "PATCH" : "DELETE");
		}
	if (i == n) {
		if (allow.len)
			fcgi_add_header(r, "Allow", "%s", buf_str(&allow));
		buf_free(&allow);
		registry_send_error(r, 405, "UNSUPPORTED", "method not allowed on this endpoint", NULL);
		goto out;
	}
	buf_free(&allow);
	unsigned action = endpoints[i].action;
	if (action)
		scope = buf_strf("repository:%s:%s", q.route.name.full, action_names(action));
	const char *why = NULL;
	if (bearer(r, &q.subject, &q.access, &why) != 0) {
		challenge(r, scope, NULL, why);
		goto out;
	}
	if (action && !registry_allowed(&q, action)) {
		if (!*q.subject)
			challenge(r, scope, "insufficient_scope", "authentication required");
		else
			registry_fail(&q, OCI_DENIED, "requested access to the resource is denied", NULL);
		goto out;
	}
	q.db = appview_db(av);
	q.http = (http_opts){.timeout_s = (long)config_int(av->cfg, "http.timeout"), .connect_timeout_s = 10,
			     .max_response = (size_t)config_int(av->cfg, "http.max_response_bytes"),
			     .allow_private = av->ident.test_mode};
	if (!q.db) {
		registry_fail(&q, REG_INTERNAL, "the index is unavailable", NULL);
		goto out;
	}
	endpoints[i].handler(&q);
	if (!fcgi_responded(r))
		registry_fail(&q, REG_INTERNAL, "internal error", NULL);
out:
	reg_req_free(&q);
	free(err);
	free(scope);
	return 0;
}

/* ---- owners and holds */

int registry_owner(reg_req *q)
{
	if (q->owner_did)
		return 0;
	identity_ctx ictx = appview_identity(q->av);
	identity id = {0};
	char *err = NULL;
	if (identity_resolve(&ictx, q->route.name.identity, 0, &id, &err) != 0) {
		log_info("name %s: %s", q->route.name.identity, err ? err : "does not resolve");
		json_object *detail = json_object_new_object();
		json_object_object_add(detail, "name", json_object_new_string(q->route.name.full));
		registry_fail(q, OCI_NAME_UNKNOWN, "the name's identity does not resolve", detail);
		json_object_put(detail);
		free(err);
		return -1;
	}
	q->owner_did = id.did;
	q->owner_handle = id.handle_verified ? id.handle : NULL;
	q->owner_pds = id.pds;
	id.did = id.pds = NULL;
	if (q->owner_handle)
		id.handle = NULL;
	identity_free(&id);
	return 0;
}

char *registry_hold_url(reg_req *q, const char *hold_did, char **err)
{
	identity_ctx ictx = appview_identity(q->av);
	identity id = {0};
	char *url = NULL;
	if (identity_resolve(&ictx, hold_did, 0, &id, err) == 0) {
		url = id.pds;
		id.pds = NULL;
		size_t n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			url[--n] = '\0';
	}
	identity_free(&id);
	return url;
}

/* The defaultHold of did's io.atcr.sailor.profile, kept a little while per process: every blob of a
 * push asks. */
#define PROFILE_TTL 30
static ttlcache profiles = TTLCACHE_INIT;

/* did's profile defaultHold: a DID, "" when the profile has none (or there is no profile), NULL with
 * *err when the PDS could not be asked. */
static char *profile_hold(reg_req *q, const char *did, char **err)
{
	long long now = (long long)time(NULL);
	char *hold = ttlcache_get(&profiles, did, now);
	if (hold)
		return hold;
	identity_ctx ictx = appview_identity(q->av);
	identity id = {0};
	if (identity_resolve(&ictx, did, 0, &id, err) != 0)
		return NULL;
	xrpc_client c = {id.pds, NULL, &q->http};
	xrpc_error e = {0};
	json_object *rec = xrpc_get_record(&c, did, "io.atcr.sailor.profile", "self", &e), *value, *dh;
	if (rec && json_object_object_get_ex(rec, "value", &value) && json_object_object_get_ex(value, "defaultHold", &dh) &&
	    json_object_is_type(dh, json_type_string) && syntax_did_ok(json_object_get_string(dh)))
		hold = strdup(json_object_get_string(dh));
	else if (rec || e.status == 400 || e.status == 404)
		hold = strdup(""); /* RecordNotFound: no profile */
	else
		buf_error(err, "reading the profile of %s: %s", did, e.error ? e.error : "failed");
	if (hold)
		ttlcache_put(&profiles, did, hold, now + PROFILE_TTL, now);
	json_object_put(rec);
	xrpc_error_free(&e);
	identity_free(&id);
	return hold;
}

void registry_profile_changed(const char *did, const char *hold_did)
{
	long long now = (long long)time(NULL);
	ttlcache_put(&profiles, did, hold_did ? hold_did : "", now + PROFILE_TTL, now);
}

int registry_user_hold(reg_req *q, const char *user, char **hold_did, char **hold_url, char **err)
{
	char *did = profile_hold(q, user, err);
	if (!did)
		return -1;
	if (!*did) {
		free(did);
		did = strdup(config_str(q->av->cfg, "registry.default_hold_did"));
	}
	if (!*did) {
		free(did);
		buf_error(err, "no hold: set defaultHold in your io.atcr.sailor.profile (this AppView has no default hold)");
		return -1;
	}
	char *url = registry_hold_url(q, did, err);
	if (!url) {
		free(did);
		return -1;
	}
	*hold_did = did;
	*hold_url = url;
	return 0;
}

int registry_push_hold(reg_req *q, char **hold_did, char **hold_url, char **err)
{
	return registry_user_hold(q, q->subject, hold_did, hold_url, err);
}
