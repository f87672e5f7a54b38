/* ui.h - what the web UI's page files (cgi/ui-*.c, like cgit's ui-*.c) share from cgi/ui.c: the request
 * context, rendering a page inside the layout, error pages, and decorating index rows for templates. */
#ifndef ATCR_UI_H
#define ATCR_UI_H
#include <json-c/json.h>
#include <sqlite3.h>

#include "appview.h"
#include "buf.h"
#include "http.h"

/* One UI request. */
typedef struct {
	fcgi_req *r;
	const appview *av;
	sqlite3 *db;     /* this thread's index connection */
	http_opts http;  /* outbound requests (test mode allows loopback) */
} ui_req;

/* Fill u for r. 0, or -1 after answering 500 (no index connection). */
int ui_begin(fcgi_req *r, ui_req *u);

/* Render template tmpl with ctx (not consumed) inside the layout, titled title, and send it with
 * status. Returns 0 (also when the client went away), -1 when nothing could be sent. */
int ui_page(ui_req *u, int status, const char *tmpl, const char *title, json_object *ctx);
/* The 404 page in the layout ("what" says what was not found). Returns 0. */
int ui_not_found(ui_req *u, const char *what);
/* Log what failed (with err, which is freed) and answer the 500 page. Returns 0. */
int ui_fail(ui_req *u, const char *what, char *err);

/* The clients a profile's ociClient may name for pull commands (the lexicon's knownValues), docker
 * first (the default); NULL-terminated. */
extern const char *const ui_oci_clients[];
/* 1 when client is one of them. */
int ui_oci_client_ok(const char *client);

/* Forms: the most a form body may carry, a field's value (caller frees; NULL when absent), a 303 to
 * location after a POST, and a 303 to the login page that comes back to page afterwards. */
#define UI_FORM_MAX 4096
char *ui_form_get(const buf_t *body, const char *name);
/* Read a posted form into body and check its CSRF token against who's session. 0 ok; -1 after
 * answering (413/400 unreadable, 403 wrong or missing token; what names the form in the log). */
int ui_read_form(fcgi_req *r, const login_user *who, const char *what, buf_t *body);
int ui_see_other(fcgi_req *r, const char *location);
int ui_login_redirect(ui_req *u, const char *page);

/* Add display fields to each object of rows (an array) or to one object: "pushed" (a UTC date) from
 * pushed_at, "size_text" from size, "short_digest" from digest, "summary" (plain text) from the
 * Markdown description, and "repo_path" ("<owner>/<repository>", percent-encoded for /r/ links) from
 * owner and repository. 0, or -1 when out of memory. */
int ui_decorate(json_object *rows);

/* "1.5 MB" style size into out. */
void ui_size_text(long long bytes, char *out, size_t size);
/* The registry's host[:port] from server.base_url, as `docker pull` names it. Caller frees. */
char *ui_registry_host(const appview *av);
/* A string value, or JSON null for NULL (for json_object_object_add). */
json_object *ui_str(const char *s);

/* A hold as the settings page sees it: where it answers (its DID document's service), and a client
 * with the UI's outbound options and short timeouts (the page waits for each hold it shows). */
typedef struct {
	const char *did;
	char *url; /* caller frees */
	http_opts http;
} ui_hold_view;
/* Resolve the hold did into h. 0, or -1 with *err (h->url NULL). */
int ui_hold_open(ui_req *u, const char *did, ui_hold_view *h, char **err);
/* The settings page for who, with status and an optional notice (notice_bad: shown as a problem). */
int ui_settings_show(ui_req *u, const login_user *who, int status, const char *notice, int notice_bad);

/* The pages (one file each). */
int ui_repo_page(ui_req *u, const char *did, const char *owner, const char *repository);        /* ui-repo.c */
int ui_manifest_page(ui_req *u, const char *did, const char *owner, const char *repository,
		     const char *digest);                                                         /* ui-manifest.c */

#endif
