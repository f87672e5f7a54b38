/* ui-device.c - the browser's half of the credential helper's device login: /device shows the code a
 * terminal printed and the device's name, and the logged-in user approves (binding the device to their
 * account) or denies it; and the Devices section of /settings, where a device is revoked. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "device.h"
#include "log.h"
#include "ui.h"

#define TYPED_CODE_MAX 32 /* what is kept of a malformed code to show it back */

static void date_text(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

/* The page: ctx (consumed) gets the user and their CSRF token. */
static int device_page(ui_req *u, const login_user *who, int status, json_object *ctx)
{
	json_object_object_add(ctx, "user", ui_str(who->handle ? who->handle : who->did));
	json_object_object_add(ctx, "csrf", ui_str(who->csrf));
	int rc = ui_page(u, status, "device", "Approve a device", ctx);
	json_object_put(ctx);
	return rc;
}

/* The form asking for a code, with a problem to show (or NULL) and the code as typed. */
static int ask_page(ui_req *u, const login_user *who, int status, const char *problem, const char *typed)
{
	json_object *ctx = json_object_new_object();
	json_object_object_add(ctx, "ask", json_object_new_boolean(1));
	if (typed && *typed)
		json_object_object_add(ctx, "typed", json_object_new_string_len(typed, (int)strnlen(typed, TYPED_CODE_MAX)));
	if (problem)
		json_object_object_add(ctx, "problem", ui_str(problem));
	return device_page(u, who, status, ctx);
}

int ui_device(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	device_pending p = {0};
	char *typed = fcgi_query_get(r, "code"), *err = NULL, code[DEVICE_USER_CODE_SIZE];
	int rc = 0;
	if (ui_begin(r, &u) != 0)
		goto out;
	if (login_user_get(r, &who) != 1) {
		/* come back to this very code after the login */
		char *back = typed ? buf_strf("/device?code=%.*s", TYPED_CODE_MAX, typed) : strdup("/device");
		rc = back ? ui_login_redirect(&u, back) : ui_fail(&u, "device page", NULL);
		free(back);
		goto out;
	}
	if (!typed || !*typed) {
		rc = ask_page(&u, &who, 200, NULL, NULL);
		goto out;
	}
	if (device_user_code_normalize(typed, code) != 0) {
		rc = ask_page(&u, &who, 400, "That is not a device code: it has eight letters, like BCDF-GHJK.", typed);
		goto out;
	}
	int found = device_pending_get(u.db, code, (long long)time(NULL), &p, &err);
	if (found < 0) {
		rc = ui_fail(&u, "device page", err);
		err = NULL;
		goto out;
	}
	if (found == 0 || p.state != DEVICE_PENDING) {
		rc = ask_page(&u, &who, 404,
			      found ? "This code was already used. Run the login again in your terminal for a new one."
				    : "This code is unknown or expired (a code lasts ten minutes). Run the login again in "
				      "your terminal for a new one.",
			      code);
		goto out;
	}
	json_object *ctx = json_object_new_object(), *confirm = json_object_new_object();
	json_object_object_add(confirm, "code", ui_str(p.user_code));
	json_object_object_add(confirm, "name", ui_str(p.name));
	json_object_object_add(ctx, "confirm", confirm);
	rc = device_page(&u, &who, 200, ctx);
out:
	device_pending_free(&p);
	login_user_free(&who);
	free(typed);
	free(err);
	return rc;
}

int ui_device_post(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	buf_t body = BUF_INIT;
	char *typed = NULL, *decision = NULL, *err = NULL, code[DEVICE_USER_CODE_SIZE];
	int rc = 0;
	if (ui_begin(r, &u) != 0)
		return 0;
	if (login_user_get(r, &who) != 1) {
		rc = ui_login_redirect(&u, "/device");
		goto out;
	}
	if (ui_read_form(r, &who, "device", &body) != 0)
		goto out;
	typed = ui_form_get(&body, "user_code");
	decision = ui_form_get(&body, "decision");
	int approve = decision && strcmp(decision, "approve") == 0;
	if (!approve && !(decision && strcmp(decision, "deny") == 0)) {
		ui_error_page(r, 400, "The form must approve or deny the device.");
		goto out;
	}
	if (device_user_code_normalize(typed, code) != 0) {
		rc = ask_page(&u, &who, 400, "That is not a device code: it has eight letters, like BCDF-GHJK.", typed);
		goto out;
	}
	int done = device_decide(u.db, code, approve, who.did, who.handle, (long long)time(NULL), &err);
	if (done < 0) {
		rc = ui_fail(&u, "device decision", err);
		err = NULL;
		goto out;
	}
	if (done == 0) {
		rc = ask_page(&u, &who, 400,
			      "This code is unknown, expired or already used. Run the login again in your terminal for "
			      "a new one.",
			      code);
		goto out;
	}
	log_info("device login %s %s by %s", code, approve ? "approved" : "denied", who.did);
	json_object *ctx = json_object_new_object();
	json_object_object_add(ctx, approve ? "approved" : "denied", ui_str(code));
	rc = device_page(&u, &who, 200, ctx);
out:
	login_user_free(&who);
	buf_free(&body);
	free(typed);
	free(decision);
	free(err);
	return rc;
}

int ui_devices_state(fcgi_req *r, sqlite3 *db, const char *did, json_object *ctx)
{
	(void)r;
	char *err = NULL, when[32];
	json_object *list = device_list(db, did, &err);
	if (!list) {
		log_error("devices of %s: %s", did, err);
		free(err);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *d = json_object_array_get_idx(list, i), *v;
		if (json_object_object_get_ex(d, "created_at", &v)) {
			date_text(json_object_get_int64(v), when);
			json_object_object_add(d, "created", json_object_new_string(when));
		}
		if (json_object_object_get_ex(d, "last_used_at", &v) && json_object_get_int64(v) > 0) {
			date_text(json_object_get_int64(v), when);
			json_object_object_add(d, "last_used", json_object_new_string(when));
		}
	}
	json_object_object_add(ctx, "devices", list);
	return 0;
}

int ui_device_revoke(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	buf_t body = BUF_INIT;
	char *id_text = NULL, *end = NULL, *err = NULL;
	int rc = 0;
	if (ui_begin(r, &u) != 0)
		return 0;
	if (login_user_get(r, &who) != 1) {
		rc = ui_login_redirect(&u, "/settings");
		goto out;
	}
	if (ui_read_form(r, &who, "device revocation", &body) != 0)
		goto out;
	id_text = ui_form_get(&body, "device");
	long long id = id_text ? strtoll(id_text, &end, 10) : 0;
	if (!id_text || !*id_text || *end || id <= 0) {
		ui_error_page(r, 400, "The form must name a device.");
		goto out;
	}
	int done = device_revoke(u.db, who.did, id, (long long)time(NULL), &err);
	if (done < 0) {
		rc = ui_fail(&u, "device revocation", err);
		err = NULL;
		goto out;
	}
	if (done == 0) {
		ui_error_page(r, 404, "You have no such device (it may be revoked already).");
		goto out;
	}
	log_info("%s revoked device %lld", who.did, id);
	rc = ui_see_other(r, "/settings?revoked=1");
out:
	login_user_free(&who);
	buf_free(&body);
	free(id_text);
	free(err);
	return rc;
}
