/* auth.c - who is calling (service tokens) and what they may do (ATCR's crew permission matrix). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "hold.h"
#include "log.h"
#include "recstore.h"
#include "svcauth.h"

unsigned hold_perms_from_json(json_object *permissions)
{
	unsigned p = 0;
	if (!permissions || !json_object_is_type(permissions, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(permissions); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(permissions, i));
		if (!s)
			continue;
		if (strcmp(s, "blob:read") == 0)
			p |= HOLD_PERM_READ;
		else if (strcmp(s, "blob:write") == 0)
			p |= HOLD_PERM_WRITE;
		else if (strcmp(s, "crew:admin") == 0)
			p |= HOLD_PERM_ADMIN;
	}
	return p;
}

int hold_may(const char *owner, int is_public, const char *caller, int is_crew, unsigned perms, hold_action action)
{
	if (caller && owner && strcmp(caller, owner) == 0)
		return 1; /* the captain may do everything */
	switch (action) {
	case HOLD_READ_BLOBS:
		return is_public || (caller && is_crew && (perms & (HOLD_PERM_READ | HOLD_PERM_WRITE)));
	case HOLD_WRITE_BLOBS:
		return caller && is_crew && (perms & HOLD_PERM_WRITE);
	case HOLD_MANAGE_CREW:
		return caller && is_crew && (perms & HOLD_PERM_ADMIN);
	}
	return 0;
}

unsigned hold_crew_perms(const hold_ctx *h, const char *did, int *is_crew)
{
	char rkey[27];
	*is_crew = 0;
	hold_hash_rkey(did, rkey);
	sqlite3 *db = hold_db(h);
	json_object *rec = db ? recstore_get(db, "io.atcr.hold.crew", rkey, NULL) : NULL, *perms = NULL;
	unsigned p = 0;
	const char *member = rec ? jsonget_str(rec, "member") : NULL;
	if (member && strcmp(member, did) == 0) {
		*is_crew = 1;
		json_object_object_get_ex(rec, "permissions", &perms);
		p = hold_perms_from_json(perms);
	}
	json_object_put(rec);
	return p;
}

int hold_authenticate(fcgi_req *r, const char *method, char **caller)
{
	return hold_authenticate_as(r, method, "InvalidToken", caller);
}

int hold_authenticate_as(fcgi_req *r, const char *method, const char *invalid_error, char **caller)
{
	const hold_ctx *h = r->app;
	const char *auth = fcgi_header(r, "Authorization");
	char *from_query = NULL, *err = NULL;
	int rc = -1;
	*caller = NULL;
	/* A client that follows the AppView's redirect to a private hold's blob cannot carry a header:
	 * the AppView puts the user's service token (lxm getBlob, short-lived) in the URL instead. */
	if ((!auth || !*auth) && strcmp(method, "com.atproto.sync.getBlob") == 0) {
		char *t = fcgi_query_get(r, "token");
		if (t && *t)
			auth = from_query = buf_strf("Bearer %s", t);
		free(t);
	}
	if (!auth || !*auth) {
		hold_xrpc_error(r, 401, "AuthRequired", "a service token (Authorization: Bearer) is required");
		goto out;
	}
	identity_ctx ictx = hold_identity(h);
	if (svcauth_verify(&ictx, auth, h->did, method, (long long)time(NULL), caller, &err) != 0) {
		log_info("service token refused for %s: %s", method, err ? err : "?");
		hold_xrpc_error(r, 401, invalid_error, err ? err : "invalid service token");
		goto out;
	}
	rc = 0;
out:
	free(err);
	free(from_query);
	return rc;
}

int hold_authorize(fcgi_req *r, const char *method, hold_action action, int token_required, char **caller)
{
	const hold_ctx *h = r->app;
	const char *auth = fcgi_header(r, "Authorization");
	*caller = NULL;
	int anonymous_ok = action == HOLD_READ_BLOBS && h->is_public && !token_required;
	if ((!auth || !*auth) && anonymous_ok)
		return 0;
	/* A token that is present is always checked, even where anonymous access would do. */
	if (hold_authenticate(r, method, caller) != 0)
		return -1;
	int is_crew = 0;
	unsigned perms = hold_crew_perms(h, *caller, &is_crew);
	if (!hold_may(h->owner, h->is_public, *caller, is_crew, perms, action)) {
		static const char *const need[] = {"blob:read", "blob:write", "crew:admin"};
		char msg[256];
		snprintf(msg, sizeof msg, "%s needs %s on this hold (%s)", method, need[action],
			 is_crew ? "crew member without it" : "not a crew member");
		hold_xrpc_error(r, 403, "Forbidden", msg);
		free(*caller);
		*caller = NULL;
		return -1;
	}
	return 0;
}
