/* ui-settings.c - the logged-in user's settings, /settings: the default hold (defaultHold of the
 * io.atcr.sailor.profile record in their PDS, written through their OAuth session), and their standing
 * on each hold we know of: what the hold is (public, open to new crew), their crew record there, and
 * the storage they use on it (io.atcr.hold.getQuota); and their devices (cgi/ui-device.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "holdclient.h"
#include "ingest.h"
#include "jsonget.h"
#include "log.h"
#include "syntax.h"
#include "ui.h"
#include "uiindex.h"

#define PROFILE_COLLECTION "io.atcr.sailor.profile"
#define HOLD_TIMEOUT 5      /* seconds per call to a hold: the page waits for each hold it shows */
#define CREW_SCAN_PAGES 3   /* listRecords pages (of 100) read when a hold keys crew records its own way */
#define HOLDS_SHOWN 8

/* did's profile record value (caller puts): NULL with *found = 0 when there is none, NULL with
 * *found = -1 and *why when the PDS could not be asked (*why "AuthRequired" when the session is gone). */
static json_object *profile_get(fcgi_req *r, const char *did, int *found, char **why)
{
	const char *params[] = {"repo", did, "collection", PROFILE_COLLECTION, "rkey", "self", NULL};
	xrpc_error e = {0};
	json_object *rec = login_xrpc(r, did, "GET", "com.atproto.repo.getRecord", params, NULL, &e), *value = NULL;
	*found = 0;
	if (rec && json_object_object_get_ex(rec, "value", &value) && json_object_is_type(value, json_type_object)) {
		json_object_get(value);
		*found = 1;
	} else if (!rec && !(e.status == 400 && e.error && strcmp(e.error, "RecordNotFound") == 0) && e.status != 404) {
		*found = -1;
		*why = buf_strf("%s", e.status == 401 ? "AuthRequired" : e.error ? e.error : "no answer");
	}
	json_object_put(rec);
	xrpc_error_free(&e);
	return *found == 1 ? value : NULL;
}

int ui_hold_open(ui_req *u, const char *did, ui_hold_view *h, char **err)
{
	identity_ctx ictx = appview_identity(u->av);
	identity id = {0};
	*h = (ui_hold_view){.did = did, .http = u->http};
	h->http.timeout_s = HOLD_TIMEOUT;
	h->http.connect_timeout_s = HOLD_TIMEOUT;
	h->http.max_response = 1 << 20;
	if (identity_resolve(&ictx, did, 0, &id, err) == 0) {
		h->url = id.pds;
		id.pds = NULL;
		size_t n = strlen(h->url);
		while (n > 0 && h->url[n - 1] == '/')
			h->url[--n] = '\0';
	}
	identity_free(&id);
	return h->url ? 0 : -1;
}

/* The member's crew record value on the hold (caller puts), else NULL. Our holds key it by
 * hold_hash_rkey(member); other implementations may not, so a short scan follows a miss. */
static json_object *crew_record(const ui_hold_view *h, const char *member)
{
	xrpc_client c = {h->url, NULL, &h->http};
	xrpc_error e = {0};
	char rkey[27], *cursor = NULL;
	json_object *found = NULL, *rec, *value, *records;
	hold_hash_rkey(member, rkey);
	rec = xrpc_get_record(&c, h->did, "io.atcr.hold.crew", rkey, &e);
	if (rec && json_object_object_get_ex(rec, "value", &value) && jsonget_str(value, "member") &&
	    strcmp(jsonget_str(value, "member"), member) == 0)
		found = json_object_get(value);
	json_object_put(rec);
	for (int page = 0; !found && page < CREW_SCAN_PAGES; page++) {
		xrpc_error_free(&e);
		json_object *list = xrpc_list_records(&c, h->did, "io.atcr.hold.crew", 100, cursor, &e);
		free(cursor);
		cursor = NULL;
		if (!list || !json_object_object_get_ex(list, "records", &records)) {
			json_object_put(list);
			break;
		}
		for (size_t i = 0; !found && i < json_object_array_length(records); i++) {
			json_object *v;
			if (json_object_object_get_ex(json_object_array_get_idx(records, i), "value", &v) &&
			    jsonget_str(v, "member") && strcmp(jsonget_str(v, "member"), member) == 0)
				found = json_object_get(v);
		}
		const char *next = jsonget_str(list, "cursor");
		cursor = next && json_object_array_length(records) > 0 ? strdup(next) : NULL;
		json_object_put(list);
		if (!cursor)
			break;
	}
	free(cursor);
	xrpc_error_free(&e);
	return found;
}

/* io.atcr.hold.getQuota for user: anonymously (public holds), else with a service token from the
 * user's PDS through their OAuth session. The answer (caller puts) or NULL. */
static json_object *quota_get(fcgi_req *r, const ui_hold_view *h, const char *user)
{
	const char *params[] = {"userDid", user, NULL};
	xrpc_client c = {h->url, NULL, &h->http};
	xrpc_error e = {0};
	json_object *q = xrpc_query(&c, "io.atcr.hold.getQuota", params, &e);
	if (!q && (e.status == 401 || e.status == 403)) {
		const char *sa[] = {"aud", h->did, "lxm", "io.atcr.hold.getQuota", NULL};
		xrpc_error_free(&e);
		json_object *tok = login_xrpc(r, user, "GET", "com.atproto.server.getServiceAuth", sa, NULL, &e);
		if (jsonget_str(tok, "token")) {
			c.token = jsonget_str(tok, "token");
			xrpc_error_free(&e);
			q = xrpc_query(&c, "io.atcr.hold.getQuota", params, &e);
		}
		json_object_put(tok);
	}
	if (!q)
		log_info("settings: getQuota on %s: %s", h->did, e.error ? e.error : "failed");
	xrpc_error_free(&e);
	return q;
}

/* What the settings page shows about one hold for user. */
static json_object *hold_json(ui_req *u, const char *did, const char *user, int is_default)
{
	json_object *o = json_object_new_object(), *captain = NULL, *crew = NULL, *quota = NULL, *v;
	ui_hold_view h;
	char *err = NULL, size[32];
	if (!o)
		return NULL;
	json_object_object_add(o, "did", ui_str(did));
	if (is_default)
		json_object_object_add(o, "default", json_object_new_boolean(1));
	if (ui_hold_open(u, did, &h, &err) != 0) {
		json_object_object_add(o, "fault", ui_str("its DID does not resolve"));
		log_info("settings: hold %s: %s", did, err ? err : "does not resolve");
		goto out;
	}
	json_object_object_add(o, "url", ui_str(h.url));
	xrpc_client c = {h.url, NULL, &h.http};
	xrpc_error e = {0};
	json_object *rec = xrpc_get_record(&c, did, "io.atcr.hold.captain", "self", &e);
	if (rec && json_object_object_get_ex(rec, "value", &v))
		captain = json_object_get(v);
	json_object_put(rec);
	xrpc_error_free(&e);
	if (!captain) {
		json_object_object_add(o, "fault", ui_str("it does not answer as a hold"));
		goto out;
	}
	if (json_object_object_get_ex(captain, "public", &v) && json_object_get_boolean(v))
		json_object_object_add(o, "public", json_object_new_boolean(1));
	if (json_object_object_get_ex(captain, "allowAllCrew", &v) && json_object_get_boolean(v))
		json_object_object_add(o, "open", json_object_new_boolean(1));
	if (jsonget_str(captain, "owner") && strcmp(jsonget_str(captain, "owner"), user) == 0)
		json_object_object_add(o, "captain", json_object_new_boolean(1));
	if ((crew = crew_record(&h, user))) {
		json_object *m = json_object_new_object(), *perms;
		buf_t p = {0};
		json_object_object_add(m, "role", ui_str(jsonget_str(crew, "role")));
		if (json_object_object_get_ex(crew, "permissions", &perms) && json_object_is_type(perms, json_type_array))
			for (size_t i = 0; i < json_object_array_length(perms); i++)
				buf_printf(&p, "%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(perms, i)));
		json_object_object_add(m, "permissions", ui_str(buf_str(&p)));
		json_object_object_add(m, "tier", ui_str(jsonget_str(crew, "tier")));
		json_object_object_add(o, "crew", m);
		buf_free(&p);
	}
	if ((quota = quota_get(u->r, &h, user))) {
		json_object *q = json_object_new_object();
		json_object_object_get_ex(quota, "totalSize", &v);
		ui_size_text(v ? json_object_get_int64(v) : 0, size, sizeof size);
		json_object_object_add(q, "used", ui_str(size));
		long long blobs = json_object_object_get_ex(quota, "uniqueBlobs", &v) ? json_object_get_int64(v) : 0;
		char *blobs_text = buf_strf("%lld blob%s", blobs, blobs == 1 ? "" : "s");
		json_object_object_add(q, "blobs_text", ui_str(blobs_text));
		free(blobs_text);
		if (json_object_object_get_ex(quota, "limit", &v)) {
			ui_size_text(json_object_get_int64(v), size, sizeof size);
			json_object_object_add(q, "limit", ui_str(size));
		}
		json_object_object_add(q, "tier", ui_str(jsonget_str(quota, "tier")));
		json_object_object_add(o, "quota", q);
	}
out:
	json_object_put(captain);
	json_object_put(crew);
	json_object_put(quota);
	free(h.url);
	free(err);
	return o;
}

/* Whether user may push blobs to the hold did now or on their first push (crew with blob:write, the
 * captain, or a hold open to new crew). 1 yes, 0 no (*why says why; caller frees). */
static int hold_usable(ui_req *u, const char *did, const char *user, char **why)
{
	json_object *o = hold_json(u, did, user, 0), *v, *perms;
	int ok = 0;
	if (!o) {
		*why = strdup("out of memory");
		return 0;
	}
	if (jsonget_str(o, "fault"))
		*why = buf_strf("%s: %s.", did, jsonget_str(o, "fault"));
	else if (json_object_object_get_ex(o, "captain", &v) || json_object_object_get_ex(o, "open", &v))
		ok = 1;
	else if (json_object_object_get_ex(o, "crew", &v) && json_object_object_get_ex(v, "permissions", &perms) &&
		 strstr(json_object_get_string(perms), "blob:write"))
		ok = 1;
	else
		*why = buf_strf("You are not in the crew of %s with blob:write, and it does not take new members.", did);
	json_object_put(o);
	return ok;
}

/* The index's copy of a profile we just wrote (what atcr-jetstream would bring later), so that pages
 * rendered for the user follow it at once. A failure only costs that. */
static void profile_mirror(sqlite3 *db, const char *did, json_object *record)
{
	netevent ev = {.kind = NETEVENT_COMMIT, .op = NETEVENT_UPDATE, .did = (char *)did,
		       .collection = (char *)PROFILE_COLLECTION, .rkey = (char *)"self", .record = record};
	char *err = NULL;
	if (ingest_apply(db, &ev, 1, NULL, 0, &err) != 0)
		log_warn("settings: the index's copy of %s's profile: %s", did, err ? err : "failed");
	free(err);
}

/* The settings page. notice: a line to show at the top (saved, or why not), or NULL. */
int ui_settings_show(ui_req *u, const login_user *who, int status, const char *notice, int notice_bad)
{
	char *why = NULL, *err = NULL;
	int found, rc = 0;
	const char *fallback = config_str(u->av->cfg, "registry.default_hold_did");
	json_object *profile = profile_get(u->r, who->did, &found, &why), *ctx = NULL, *holds = NULL, *known = NULL;
	if (found < 0) {
		if (strcmp(why, "AuthRequired") == 0) {
			rc = ui_login_redirect(u, "/settings");
		} else {
			log_warn("settings: %s's PDS: %s", who->did, why);
			ui_error_page(u->r, 502, "Your PDS did not answer. Please try again later.");
		}
		goto out;
	}
	if (profile)
		profile_mirror(u->db, who->did, profile);
	const char *current = jsonget_str(profile, "defaultHold");
	if (!(known = uiindex_known_holds(u->db, &err))) {
		rc = ui_fail(u, "settings: holds", err);
		err = NULL;
		goto out;
	}
	ctx = json_object_new_object();
	holds = json_object_new_array();
	/* The holds to show: the user's default, the registry's, then those the index knows, once each. */
	const char *order[HOLDS_SHOWN];
	size_t n = 0;
	const char *first[] = {current, fallback};
	for (size_t i = 0; i < 2; i++)
		if (first[i] && *first[i])
			order[n++] = first[i];
	for (size_t i = 0; i < json_object_array_length(known) && n < HOLDS_SHOWN; i++)
		order[n++] = jsonget_str(json_object_array_get_idx(known, i), "did");
	for (size_t i = 0; i < n; i++) {
		int seen = !order[i];
		for (size_t j = 0; j < i && !seen; j++)
			seen = order[j] && strcmp(order[j], order[i]) == 0;
		if (seen)
			continue;
		int is_default = current && *current ? strcmp(order[i], current) == 0 : strcmp(order[i], fallback) == 0;
		json_object *h = hold_json(u, order[i], who->did, is_default);
		if (h && fallback && strcmp(order[i], fallback) == 0)
			json_object_object_add(h, "registry_default", json_object_new_boolean(1));
		if (h)
			json_object_array_add(holds, h);
	}
	json_object_object_add(ctx, "user", ui_str(who->handle ? who->handle : who->did));
	json_object_object_add(ctx, "did", ui_str(who->did));
	json_object_object_add(ctx, "csrf", ui_str(who->csrf));
	json_object_object_add(ctx, "default_hold", ui_str(current && *current ? current : NULL));
	json_object_object_add(ctx, "registry_hold", ui_str(fallback && *fallback ? fallback : NULL));
	json_object_object_add(ctx, "holds", holds);
	ui_devices_state(u->r, u->db, who->did, ctx); /* without it (logged) the page shows no devices */
	json_object *clients = json_object_new_array();
	const char *chosen = jsonget_str(profile, "ociClient");
	for (size_t i = 0; ui_oci_clients[i]; i++) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "name", ui_str(ui_oci_clients[i]));
		if (ui_oci_client_ok(chosen) ? strcmp(chosen, ui_oci_clients[i]) == 0 : i == 0)
			json_object_object_add(c, "selected", json_object_new_boolean(1));
		json_object_array_add(clients, c);
	}
	json_object_object_add(ctx, "clients", clients);
	if (notice)
		json_object_object_add(ctx, notice_bad ? "problem" : "notice", ui_str(notice));
	rc = ui_page(u, status, "settings", "Settings", ctx);
out:
	json_object_put(profile);
	json_object_put(ctx);
	json_object_put(known);
	free(why);
	free(err);
	return rc;
}

int ui_settings(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	if (ui_begin(r, &u) != 0)
		return 0;
	int rc;
	if (login_user_get(r, &who) != 1) {
		rc = ui_login_redirect(&u, "/settings");
	} else {
		char *saved = NULL, *revoked = NULL;
		int ok = r->query && fcgi_query_find(r->query, "saved", &saved) == 1;
		int gone = r->query && fcgi_query_find(r->query, "revoked", &revoked) == 1;
		free(saved);
		free(revoked);
		rc = ui_settings_show(&u, &who, 200,
				      ok     ? "Saved in the io.atcr.sailor.profile record of your PDS."
				      : gone ? "The device was revoked: its secret no longer works."
					     : NULL,
				      0);
	}
	login_user_free(&who);
	return rc;
}

/* Write the profile with field = value ("" removes it), keeping the record's other fields.
 * 0, or an HTTP status with *why: 401 (log in again), 502 (the PDS refused), 500. */
static int profile_put(ui_req *u, const char *did, const char *field, const char *value, char **why)
{
	fcgi_req *r = u->r;
	char when[32];
	int found, status = 500;
	json_object *record = profile_get(r, did, &found, why), *input = NULL, *out = NULL;
	xrpc_error e = {0};
	if (found < 0) {
		status = strcmp(*why, "AuthRequired") == 0 ? 401 : 502;
		goto out;
	}
	if (!record && !(record = json_object_new_object()))
		goto out;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	json_object_object_add(record, "$type", json_object_new_string(PROFILE_COLLECTION));
	if (!jsonget_str(record, "createdAt"))
		json_object_object_add(record, "createdAt", json_object_new_string(when));
	json_object_object_add(record, "updatedAt", json_object_new_string(when));
	if (*value)
		json_object_object_add(record, field, json_object_new_string(value));
	else
		json_object_object_del(record, field);
	if (!(input = json_object_new_object()))
		goto out;
	json_object_object_add(input, "repo", json_object_new_string(did));
	json_object_object_add(input, "collection", json_object_new_string(PROFILE_COLLECTION));
	json_object_object_add(input, "rkey", json_object_new_string("self"));
	json_object_object_add(input, "record", json_object_get(record));
	if ((out = login_xrpc(r, did, "POST", "com.atproto.repo.putRecord", NULL, input, &e))) {
		status = 0;
		profile_mirror(u->db, did, record);
	} else {
		status = e.status == 401 ? 401 : 502;
		*why = buf_strf("%s: %s", e.error ? e.error : "error", e.message ? e.message : "no answer");
	}
out:
	if (status == 500 && !*why)
		*why = strdup("out of memory");
	json_object_put(record);
	json_object_put(input);
	json_object_put(out);
	xrpc_error_free(&e);
	return status;
}

/* Check the posted default hold (trimmed in place). 0 ok; else an HTTP status with *problem set. */
static int check_hold(ui_req *u, const char *user, char *hold, char **problem)
{
	/* surrounding blanks from a pasted DID are not part of it */
	size_t len = strlen(hold), lead = strspn(hold, " \t");
	while (len > lead && (hold[len - 1] == ' ' || hold[len - 1] == '\t'))
		hold[--len] = '\0';
	memmove(hold, hold + lead, len - lead + 1);
	if (*hold && !syntax_did_ok(hold)) {
		*problem = strdup("A hold is named by its DID, like did:web:hold.example.com.");
		return 400;
	}
	return *hold && !hold_usable(u, hold, user, problem) ? 400 : 0;
}

int ui_settings_post(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	buf_t body = {0};
	char *hold = NULL, *client = NULL, *why = NULL;
	int rc = 0, status;
	if (ui_begin(r, &u) != 0)
		return 0;
	if (login_user_get(r, &who) != 1) {
		rc = ui_login_redirect(&u, "/settings");
		goto out;
	}
	if (ui_read_form(r, &who, "settings", &body) != 0)
		goto out;
	hold = ui_form_get(&body, "default_hold");
	client = ui_form_get(&body, "oci_client");
	if (!hold == !client) {
		ui_error_page(r, 400, "The form must name a default hold (or none), or a client for pull commands.");
		goto out;
	}
	if (hold && (status = check_hold(&u, who.did, hold, &why)) != 0) {
		rc = ui_settings_show(&u, &who, status, why, 1);
		goto out;
	}
	if (client && *client && !ui_oci_client_ok(client)) {
		rc = ui_settings_show(&u, &who, 400, "Pull commands can be shown for docker, podman, buildah, nerdctl or crane, or none.", 1);
		goto out;
	}
	free(why);
	why = NULL;
	status = hold ? profile_put(&u, who.did, "defaultHold", hold, &why) : profile_put(&u, who.did, "ociClient", client, &why);
	if (status == 0) {
		if (hold)
			registry_profile_changed(who.did, hold);
		log_info("%s set %s to %s", who.did, hold ? "defaultHold" : "ociClient",
			 *(hold ? hold : client) ? (hold ? hold : client) : "(none)");
		rc = ui_see_other(r, "/settings?saved=1");
	} else if (status == 401) {
		log_info("settings: %s must log in again: %s", who.did, why ? why : "");
		rc = ui_login_redirect(&u, "/settings");
	} else if (status == 502) {
		log_warn("settings: %s's PDS: %s", who.did, why ? why : "failed");
		ui_error_page(r, 502, "Your PDS did not accept the change. Please try again later.");
	} else {
		rc = ui_fail(&u, "settings", why);
		why = NULL;
	}
out:
	login_user_free(&who);
	buf_free(&body);
	free(hold);
	free(client);
	free(why);
	return rc;
}
