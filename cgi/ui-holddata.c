/* ui-holddata.c - POST /settings/hold-data: what a hold keeps about the logged-in user, from the
 * settings page: download it (io.atcr.hold.exportUserData) or delete it (io.atcr.hold.deleteUserData:
 * the crew record unless captain, layer and stats records; blobs stay). Both calls carry a service
 * token from the user's PDS, fetched through their OAuth session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonget.h"
#include "log.h"
#include "syntax.h"
#include "ui.h"

#define EXPORT_NSID "io.atcr.hold.exportUserData"
#define DELETE_NSID "io.atcr.hold.deleteUserData"
#define EXPORT_MAX (16 << 20) /* an export lists every layer record: allow more than a page's calls */

/* Call nsid on the hold for user with a service token for it: a query (export) or a procedure with
 * body {} (delete). The answer (caller puts), or NULL with *status (401: log in again, 502: the hold
 * or the PDS refused) and *why (caller frees). */
static json_object *hold_call(ui_req *u, const ui_hold_view *h, const char *user, const char *nsid, int *status,
			      char **why)
{
	const char *sa[] = {"aud", h->did, "lxm", nsid, NULL};
	xrpc_error e = {0};
	json_object *tok = login_xrpc(u->r, user, "GET", "com.atproto.server.getServiceAuth", sa, NULL, &e), *out = NULL;
	if (!jsonget_str(tok, "token")) {
		*status = e.status == 401 ? 401 : 502;
		*why = buf_strf("your PDS gave no service token: %s", e.error ? e.error : "no answer");
		goto out;
	}
	xrpc_error_free(&e);
	xrpc_client c = {h->url, jsonget_str(tok, "token"), &h->http};
	if (strcmp(nsid, EXPORT_NSID) == 0) {
		const char *none[] = {NULL};
		out = xrpc_query(&c, nsid, none, &e);
	} else {
		json_object *empty = json_object_new_object();
		out = xrpc_procedure(&c, nsid, empty, &e);
		json_object_put(empty);
	}
	if (!out || !json_object_is_type(out, json_type_object)) {
		*status = 502;
		*why = buf_strf("the hold answered %ld %s%s%s", e.status, e.error ? e.error : "", e.message ? ": " : "",
				e.message ? e.message : "");
		json_object_put(out);
		out = NULL;
	}
out:
	json_object_put(tok);
	xrpc_error_free(&e);
	return out;
}

/* The export as a JSON download named after the hold. */
static int send_export(fcgi_req *r, const char *hold_did, json_object *export)
{
	char name[96];
	size_t k = 0;
	for (const char *p = hold_did; *p && k < 60; p++) /* a file name: DID characters but ':' and '%' */
		name[k++] = (*p == ':' || *p == '%') ? '-' : *p;
	name[k] = '\0';
	const char *text = json_object_to_json_string_ext(export, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	fcgi_add_header(r, "Content-Disposition", "attachment; filename=\"atcr-export-%s.json\"", name);
	fcgi_add_header(r, "Cache-Control", "private, no-store");
	return fcgi_send(r, 200, "application/json", text, strlen(text)) < 0 ? -1 : 0;
}

/* What a deletion did, in words for the settings page. Caller frees. */
static char *deleted_text(const char *hold_did, json_object *answer)
{
	json_object *crew = jsonget(answer, "crewDeleted", json_type_boolean);
	json_object *l = jsonget(answer, "layersDeleted", json_type_int), *st = jsonget(answer, "statsDeleted", json_type_int);
	int crew_deleted = crew && json_object_get_boolean(crew);
	long long layers = l ? json_object_get_int64(l) : 0, stats = st ? json_object_get_int64(st) : 0;
	return buf_strf("Deleted from %s: %lld layer record%s, %lld stats record%s%s.", hold_did, layers, layers == 1 ? "" : "s",
			stats, stats == 1 ? "" : "s", crew_deleted ? " and your crew membership" : "");
}

int ui_hold_data_post(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	buf_t body = {0};
	ui_hold_view h = {0};
	char *hold = NULL, *action = NULL, *confirm = NULL, *why = NULL, *text = NULL;
	json_object *answer = NULL;
	int rc = 0, status = 0, export;
	if (ui_begin(r, &u) != 0)
		return 0;
	if (login_user_get(r, &who) != 1) {
		rc = ui_login_redirect(&u, "/settings");
		goto out;
	}
	if (ui_read_form(r, &who, "hold data", &body) != 0)
		goto out;
	hold = ui_form_get(&body, "hold");
	action = ui_form_get(&body, "action");
	confirm = ui_form_get(&body, "confirm");
	export = action && strcmp(action, "export") == 0;
	if (!hold || !syntax_did_ok(hold) || !action || (!export && strcmp(action, "delete") != 0)) {
		ui_error_page(r, 400, "The form must name a hold by its DID and say export or delete.");
		goto out;
	}
	if (!export && !(confirm && strcmp(confirm, "yes") == 0)) {
		rc = ui_settings_show(&u, &who, 400, "Tick the box to confirm the deletion first: nothing was deleted.", 1);
		goto out;
	}
	if (ui_hold_open(&u, hold, &h, &why) != 0) {
		text = buf_strf("The hold %s could not be found: %s", hold, why ? why : "no DID document");
		rc = ui_settings_show(&u, &who, 400, text, 1);
		goto out;
	}
	if (export)
		h.http.max_response = EXPORT_MAX;
	answer = hold_call(&u, &h, who.did, export ? EXPORT_NSID : DELETE_NSID, &status, &why);
	if (!answer && status == 401) {
		log_info("hold data: %s must log in again: %s", who.did, why);
		rc = ui_login_redirect(&u, "/settings");
	} else if (!answer) {
		log_warn("hold data: %s of %s on %s: %s", action, who.did, hold, why);
		text = buf_strf("The %s on %s did not work: %s", export ? "export" : "deletion", hold, why);
		rc = ui_settings_show(&u, &who, 502, text, 1);
	} else if (export) {
		log_info("hold data: %s exported their data on %s", who.did, hold);
		rc = send_export(r, hold, answer);
	} else {
		text = deleted_text(hold, answer);
		log_info("hold data: %s: %s", who.did, text);
		rc = ui_settings_show(&u, &who, 200, text, 0);
	}
out:
	json_object_put(answer);
	login_user_free(&who);
	buf_free(&body);
	free(h.url);
	free(hold);
	free(action);
	free(confirm);
	free(why);
	free(text);
	return rc;
}
