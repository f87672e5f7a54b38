/* device.c - the credential helper's device login, ours after RFC 8628 (docs/credential-helper.md):
 * POST /auth/device/code starts an authorization and POST /auth/device/token polls it until the user
 * approves it on /device (cgi/ui-device.c); then it hands out the device's secret, once. Both take a
 * form or a JSON object and answer JSON; errors are RFC 8628 / RFC 6749 {"error", "error_description"}. */
#include "appview.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "device.h"
#include "jsonget.h"
#include "log.h"

#define BODY_MAX 4096
#define DEVICE_GRANT_TYPE "urn:ietf:params:oauth:grant-type:device_code"

static int send_json(fcgi_req *r, int status, json_object *o)
{
	fcgi_add_header(r, "Cache-Control", "no-store");
	int rc = o ? fcgi_send_json(r, status, o) : -1;
	json_object_put(o);
	return rc;
}

static int send_error(fcgi_req *r, int status, const char *error, const char *description)
{
	return send_json(r, status, device_error_response(error, description));
}

/* The posted fields: a JSON object (Content-Type application/json) or a form. 0 with *json or *form set
 * (caller puts / frees), else -1 after answering 400 / 413. */
static int read_fields(fcgi_req *r, json_object **json, buf_t *form)
{
	int rc = fcgi_read_body(r, form, BODY_MAX);
	if (rc != 0) {
		send_error(r, rc == -1 ? 413 : 400, "invalid_request", "the request body could not be read");
		return -1;
	}
	buf_puts(form, "");
	const char *type = fcgi_header(r, "Content-Type");
	if (type && strncasecmp(type, "application/json", 16) == 0) {
		*json = form->len ? json_tokener_parse(form->data) : json_object_new_object();
		if (!json_object_is_type(*json, json_type_object)) {
			json_object_put(*json);
			*json = NULL;
			send_error(r, 400, "invalid_request", "the body is not a JSON object");
			return -1;
		}
		return 0;
	}
	if (!fcgi_query_wellformed(form->data)) {
		send_error(r, 400, "invalid_request", "the form is malformed");
		return -1;
	}
	return 0;
}

/* A field of what read_fields read (caller frees); NULL when absent. *bad = 1 when it is there but not a
 * string. */
static char *field(json_object *json, const buf_t *form, const char *name, int *bad)
{
	char *v = NULL;
	if (json) {
		json_object *o;
		if (!json_object_object_get_ex(json, name, &o) || json_object_is_type(o, json_type_null))
			return NULL;
		if (!json_object_is_type(o, json_type_string)) {
			*bad = 1;
			return NULL;
		}
		return strdup(json_object_get_string(o));
	}
	return form->data && fcgi_query_find(form->data, name, &v) == 1 ? v : NULL;
}

static long long setting(const appview *av, const char *key, long long fallback)
{
	long long v = config_int(av->cfg, key);
	return v > 0 ? v : fallback;
}

int device_code_post(fcgi_req *r)
{
	const appview *av = r->app;
	json_object *json = NULL;
	buf_t form = BUF_INIT;
	char *name = NULL, *code = NULL, *err = NULL, user_code[DEVICE_USER_CODE_SIZE];
	int bad = 0, rc = 0;
	sqlite3 *db = appview_db(av);
	if (read_fields(r, &json, &form) != 0)
		goto out;
	name = field(json, &form, "device_name", &bad);
	if (bad || (name && !device_name_ok(name))) {
		rc = send_error(r, 400, "invalid_request", "device_name must be 1 to 64 bytes of text without control characters");
		goto out;
	}
	long long ttl = setting(av, "auth.device_code_ttl", DEVICE_CODE_TTL);
	long long interval = setting(av, "auth.device_poll_interval", DEVICE_POLL_INTERVAL);
	int started = db ? device_start(db, name, (long long)time(NULL), ttl, DEVICE_PENDING_MAX, &code, user_code, &err) : -1;
	if (started == 1) {
		log_warn("device login refused: %d authorizations are pending", DEVICE_PENDING_MAX);
		rc = send_error(r, 503, "temporarily_unavailable", "too many device logins are waiting: try again in a few minutes");
		goto out;
	}
	if (started != 0) {
		log_error("device login: %s", err ? err : "no index");
		rc = send_error(r, 500, "server_error", "the device login could not be started");
		goto out;
	}
	log_info("device login %s started for \"%s\"", user_code, name ? name : "unnamed device");
	rc = send_json(r, 200, device_code_response(av->base_url, code, user_code, ttl, interval));
out:
	json_object_put(json);
	buf_free(&form);
	free(name);
	free(code);
	free(err);
	return rc;
}

int device_token_post(fcgi_req *r)
{
	const appview *av = r->app;
	json_object *json = NULL;
	buf_t form = BUF_INIT;
	device_grant g = {0};
	char *code = NULL, *grant_type = NULL, *err = NULL;
	int bad = 0, rc = 0;
	sqlite3 *db = appview_db(av);
	if (read_fields(r, &json, &form) != 0)
		goto out;
	code = field(json, &form, "device_code", &bad);
	grant_type = field(json, &form, "grant_type", &bad);
	if (bad || !code || !*code) {
		rc = send_error(r, 400, "invalid_request", "device_code is missing");
		goto out;
	}
	if (grant_type && strcmp(grant_type, DEVICE_GRANT_TYPE) != 0) {
		rc = send_error(r, 400, "unsupported_grant_type", "grant_type must be " DEVICE_GRANT_TYPE " (or absent)");
		goto out;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	device_poll_result res = db ? device_poll(db, code, now_ms, setting(av, "auth.device_poll_interval", DEVICE_POLL_INTERVAL),
						  &g, &err)
				    : DEVICE_POLL_ERROR;
	if (res == DEVICE_POLL_APPROVED) {
		log_info("device %lld of %s redeemed", g.id, g.did);
		rc = send_json(r, 200, device_token_response(g.did, g.handle, g.secret));
	} else if (res == DEVICE_POLL_ERROR) {
		log_error("device token: %s", err ? err : "no index");
		rc = send_error(r, 500, "server_error", "the device login could not be checked");
	} else {
		rc = send_error(r, 400, device_poll_error(res), NULL);
	}
out:
	if (form.data)
		memset(form.data, 0, form.len);
	json_object_put(json);
	buf_free(&form);
	device_grant_free(&g);
	free(code);
	free(grant_type);
	free(err);
	return rc;
}
