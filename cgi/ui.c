/* ui.c - the web UI's shared part: the template set (loaded once at start-up), pages rendered inside
 * the layout, HTML error pages, and display fields for index rows. Every value reaches HTML through
 * lib/tmpl, which escapes by default. */
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "html.h"
#include "log.h"
#include "markdown.h"
#include "tmpl.h"

/* Scripts only from our own static/app.js, no framing, no inline script even if an escape failed. */
/* No form-action: the login form's answer redirects to the user's PDS, wherever that is. */
#define UI_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " \
	       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

/* Missing or broken templates do not stop the AppView: the registry works without its UI, whose
 * pages then answer 503 (the reason is logged at start-up). */
int ui_start(appview *av, char **err)
{
	const char *dir = config_str(av->cfg, "ui.templates_dir");
	static const char *const needed[] = {"layout", "error", "home", "repo", "manifest", "user", "search", "settings"};
	char *why = NULL;
	json_object *empty = json_object_new_object();
	buf_t probe = {0};
	av->ui_templates = tmpl_load(dir, &why);
	for (size_t i = 0; av->ui_templates && i < sizeof needed / sizeof needed[0]; i++) {
		/* rendering with an empty context is how tmpl tells whether a template exists */
		if (tmpl_render(av->ui_templates, needed[i], empty, &probe, &why) != 0)
			ui_stop(av);
		buf_reset(&probe);
	}
	if (!av->ui_templates)
		log_error("web UI disabled: ui.templates_dir %s: %s", dir, why ? why : "cannot load the templates");
	json_object_put(empty);
	buf_free(&probe);
	free(why);
	(void)err;
	return 0;
}

void ui_stop(appview *av)
{
	tmpl_free(av->ui_templates);
	av->ui_templates = NULL;
}

int ui_begin(fcgi_req *r, ui_req *u)
{
	const appview *av = r->app;
	*u = (ui_req){.r = r, .av = av};
	u->http = (http_opts){.timeout_s = (long)config_int(av->cfg, "http.timeout"), .connect_timeout_s = 10,
			      .max_response = (size_t)config_int(av->cfg, "http.max_response_bytes"),
			      .allow_private = av->ident.test_mode};
	if (!av->ui_templates) {
		ui_error_page(r, 503, "The web interface is not configured (ui.templates_dir).");
		return -1;
	}
	u->db = appview_db(av);
	if (!u->db) {
		ui_error_page(r, 500, "The index is not available.");
		return -1;
	}
	return 0;
}

json_object *ui_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

char *ui_registry_host(const appview *av)
{
	const char *h = strstr(av->base_url, "://");
	h = h ? h + 3 : av->base_url;
	return strndup(h, strcspn(h, "/"));
}

/* Render tmpl, then the layout around it (with the logged-in user, if any), into out. 0, or -1 with *err. */
static int render(fcgi_req *r, const char *tmpl, const char *title, json_object *ctx, buf_t *out, char **err)
{
	const appview *av = r->app;
	buf_t content = {0};
	int rc = -1;
	login_user who = {0};
	json_object *layout = json_object_new_object();
	if (!layout || !av->ui_templates || tmpl_render(av->ui_templates, tmpl, ctx, &content, err) != 0)
		goto out;
	json_object_object_add(layout, "title", ui_str(title));
	/* our own template's output: the values in it are escaped already */
	json_object_object_add(layout, "content", tmpl_trusted_html(buf_str(&content)));
	char *host = ui_registry_host(av);
	json_object_object_add(layout, "registry", ui_str(host));
	free(host);
	if (login_user_get(r, &who) == 1) {
		json_object *user = json_object_new_object();
		json_object_object_add(user, "name", ui_str(who.handle ? who.handle : who.did));
		json_object_object_add(user, "csrf", ui_str(who.csrf));
		json_object_object_add(layout, "user", user);
	}
	rc = tmpl_render(av->ui_templates, "layout", layout, out, err);
out:
	if ((!layout || !av->ui_templates) && err && !*err)
		buf_error(err, layout ? "no templates" : "out of memory");
	login_user_free(&who);
	json_object_put(layout);
	buf_free(&content);
	return rc;
}

/* Send an HTML body with the UI's headers. */
static int send_html(fcgi_req *r, int status, const buf_t *body)
{
	fcgi_add_header(r, "Content-Security-Policy", "%s", UI_CSP);
	fcgi_add_header(r, "X-Content-Type-Options", "nosniff");
	fcgi_add_header(r, "Referrer-Policy", "same-origin");
	/* pages carry the logout form's CSRF token: never stored, never framed */
	fcgi_add_header(r, "Cache-Control", "no-store");
	fcgi_add_header(r, "X-Frame-Options", "DENY");
	fcgi_send(r, status, "text/html; charset=utf-8", buf_str(body), body->len);
	return 0;
}

int ui_html(fcgi_req *r, int status, const char *tmpl, const char *title, json_object *ctx)
{
	buf_t out = {0};
	char *err = NULL;
	int rc = 0;
	if (render(r, tmpl, title, ctx, &out, &err) != 0) {
		log_error("ui: rendering %s: %s", tmpl, err ? err : "failed");
		rc = -1; /* the layer answers 500 through ui_error_page */
	} else {
		send_html(r, status, &out);
	}
	free(err);
	buf_free(&out);
	return rc;
}

int ui_page(ui_req *u, int status, const char *tmpl, const char *title, json_object *ctx)
{
	return ui_html(u->r, status, tmpl, title, ctx);
}

void ui_error_page(fcgi_req *r, int status, const char *message)
{
	const appview *av = r->app;
	json_object *ctx = json_object_new_object();
	buf_t out = {0};
	char *err = NULL;
	char title[64];
	snprintf(title, sizeof title, "%d %s", status, fcgi_status_text(status));
	if (ctx) {
		json_object_object_add(ctx, "status", json_object_new_int(status));
		json_object_object_add(ctx, "reason", ui_str(fcgi_status_text(status)));
		json_object_object_add(ctx, "message", ui_str(message));
	}
	if (ctx && av && av->ui_templates && render(r, "error", title, ctx, &out, &err) == 0) {
		send_html(r, status, &out);
	} else {
		/* no templates (or out of memory): still HTML, with nothing from the request in it */
		log_error("ui: error page %d: %s", status, err ? err : "no templates");
		buf_reset(&out);
		buf_printf(&out, "<!doctype html><title>%s</title><h1>%s</h1>\n", title, title);
		send_html(r, status, &out);
	}
	free(err);
	buf_free(&out);
	json_object_put(ctx);
}

int ui_wants_html(const char *path)
{
	static const char *const api[] = {"/v2", "/xrpc/", "/auth/", "/health", "/.well-known/", "/client-metadata.json"};
	if (!path)
		return 0;
	for (size_t i = 0; i < sizeof api / sizeof api[0]; i++)
		if (strncmp(path, api[i], strlen(api[i])) == 0)
			return 0;
	return 1;
}

int ui_not_found(ui_req *u, const char *what)
{
	ui_error_page(u->r, 404, what);
	return 0;
}

int ui_fail(ui_req *u, const char *what, char *err)
{
	log_error("ui: %s: %s", what, err ? err : "failed");
	free(err);
	ui_error_page(u->r, 500, "Something went wrong on our side. Please try again later.");
	return 0;
}

void ui_size_text(long long bytes, char *out, size_t size)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%lld B", bytes);
	else
		snprintf(out, size, "%.*f %s", v < 10 ? 1 : 0, v, units[u]);
}

/* Display fields of one row object. */
/* "1 pull", "3 pulls": o's count field name as text in o's name_text. */
static void count_text(json_object *o, const char *name, const char *one, const char *many)
{
	json_object *v;
	char key[32], text[64];
	if (!json_object_object_get_ex(o, name, &v))
		return;
	long long n = json_object_get_int64(v);
	snprintf(key, sizeof key, "%s_text", name);
	snprintf(text, sizeof text, "%lld %s", n, n == 1 ? one : many);
	json_object_object_add(o, key, json_object_new_string(text));
}

static int decorate_one(json_object *o)
{
	json_object *v, *owner, *repo;
	char text[64];
	count_text(o, "pulls", "pull", "pulls");
	count_text(o, "stars", "star", "stars");
	count_text(o, "tags", "tag", "tags");
	if (json_object_object_get_ex(o, "pushed_at", &v)) {
		time_t t = (time_t)json_object_get_int64(v);
		struct tm tm;
		if (gmtime_r(&t, &tm) && strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm) > 0)
			json_object_object_add(o, "pushed", json_object_new_string(text));
	}
	if (json_object_object_get_ex(o, "size", &v)) {
		ui_size_text(json_object_get_int64(v), text, sizeof text);
		json_object_object_add(o, "size_text", json_object_new_string(text));
	}
	if (json_object_object_get_ex(o, "digest", &v)) {
		const char *d = json_object_get_string(v), *colon = strchr(d, ':');
		size_t keep = colon ? (size_t)(colon - d) + 1 + 12 : 12;
		json_object_object_add(o, "short_digest", json_object_new_string_len(d, (int)(strlen(d) < keep ? strlen(d) : keep)));
	}
	if (json_object_object_get_ex(o, "description", &v)) {
		char *summary = md_plain_summary(json_object_get_string(v), 200);
		if (!summary)
			return -1;
		json_object_object_add(o, "summary", json_object_new_string(summary));
		free(summary);
	}
	if (json_object_object_get_ex(o, "owner", &owner) && json_object_object_get_ex(o, "repository", &repo)) {
		buf_t path = {0}, name = {0};
		int rc = buf_printf(&name, "%s/%s", json_object_get_string(owner), json_object_get_string(repo)) != 0 ||
				 html_pct_encode_path(&path, buf_str(&name)) != 0
			 ? -1
			 : 0;
		if (rc == 0)
			json_object_object_add(o, "repo_path", json_object_new_string(buf_str(&path)));
		buf_free(&path);
		buf_free(&name);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int ui_decorate(json_object *rows)
{
	if (json_object_is_type(rows, json_type_object))
		return decorate_one(rows);
	size_t n = json_object_array_length(rows);
	for (size_t i = 0; i < n; i++)
		if (decorate_one(json_object_array_get_idx(rows, i)) != 0)
			return -1;
	return 0;
}

/* s percent-encoded for a query value, '/' kept. Caller frees. */
static char *query_escape(const char *s)
{
	buf_t b = {0};
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			buf_printf(&b, "%c", *p);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	buf_puts(&b, "");
	return buf_detach(&b);
}

const char *const ui_oci_clients[] = {"docker", "podman", "buildah", "nerdctl", "crane", "none", NULL};

int ui_oci_client_ok(const char *client)
{
	for (size_t i = 0; client && ui_oci_clients[i]; i++)
		if (strcmp(client, ui_oci_clients[i]) == 0)
			return 1;
	return 0;
}

int ui_see_other(fcgi_req *r, const char *location)
{
	fcgi_add_header(r, "Location", "%s", location);
	fcgi_add_header(r, "Cache-Control", "no-store");
	return fcgi_send(r, 303, NULL, "", 0);
}

int ui_login_redirect(ui_req *u, const char *page)
{
	char *next = query_escape(page), *login = next ? buf_strf("/login?next=%s", next) : NULL;
	int rc = login ? ui_see_other(u->r, login) : ui_fail(u, "login redirect", NULL);
	free(next);
	free(login);
	return rc;
}

int ui_read_form(fcgi_req *r, const login_user *who, const char *what, buf_t *body)
{
	int status = fcgi_read_body(r, body, UI_FORM_MAX);
	if (status != 0 || (body->data && !fcgi_query_wellformed(body->data))) {
		ui_error_page(r, status == -1 ? 413 : 400, "The form could not be read.");
		return -1;
	}
	char *token = ui_form_get(body, "csrf");
	int ok = login_csrf_ok(who, token);
	if (!ok) {
		log_info("%s form refused: %s CSRF token", what, token ? "wrong" : "no");
		ui_error_page(r, 403, "The form's security token is missing or does not match: reload the page and try again.");
	}
	free(token);
	return ok ? 0 : -1;
}

char *ui_form_get(const buf_t *body, const char *name)
{
	char *v = NULL;
	return body->data && fcgi_query_find(body->data, name, &v) == 1 ? v : NULL;
}
