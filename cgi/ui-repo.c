/* ui-repo.c - the repository page /r/<owner>/<repo>: README from the owner's io.atcr.repo.page record
 * (cached in the index), tags with sizes, platforms and pull commands, counts, and the hold's health.
 * Also parses /r/ paths for the manifest page (ui-manifest.c). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "identity.h"
#include "log.h"
#include "markdown.h"
#include "syntax.h"
#include "tmpl.h"
#include "ttlcache.h"
#include "ui.h"
#include "uiindex.h"
#include "xrpc.h"

/* How long a repository page record is served from the index before asking the PDS again. */
#define PAGE_TTL 300
/* Hold health: answered within HEALTH_TIMEOUT seconds, remembered HEALTH_TTL seconds. */
#define HEALTH_TIMEOUT 2
#define HEALTH_TTL 30

static ttlcache hold_health = TTLCACHE_INIT;

/* The owner's io.atcr.repo.page description: from the index while fresh, else from the PDS (and
 * cached). A PDS that cannot be reached leaves the stale copy in use. Caller frees; NULL when none. */
static char *page_description(ui_req *u, const char *did, const char *repository)
{
	char *desc = NULL, *err = NULL;
	long long fetched = 0, now = (long long)time(NULL);
	int cached = uiindex_page_get(u->db, did, repository, &desc, &fetched, &err);
	if (cached == 1 && fetched + PAGE_TTL > now)
		goto out;
	identity_ctx ictx = appview_identity(u->av);
	identity id = {0};
	if (identity_resolve(&ictx, did, 0, &id, &err) != 0) {
		log_warn("ui: repository page of %s: %s", did, err);
		goto out;
	}
	http_opts http = u->http;
	http.timeout_s = 5;
	xrpc_client c = {id.pds, NULL, &http};
	xrpc_error e = {0};
	json_object *rec = xrpc_get_record(&c, did, "io.atcr.repo.page", repository, &e), *value, *d;
	if (rec || e.status == 400 || e.status == 404) {
		free(desc);
		desc = NULL;
		if (rec && json_object_object_get_ex(rec, "value", &value) && json_object_object_get_ex(value, "description", &d) &&
		    json_object_is_type(d, json_type_string))
			desc = strdup(json_object_get_string(d));
		if (uiindex_page_put(u->db, did, repository, desc, now, &err) != 0)
			log_warn("ui: caching the page of %s/%s: %s", did, repository, err);
	} else {
		log_warn("ui: repository page of %s/%s: %s", did, repository, e.message ? e.message : "unreachable");
	}
	json_object_put(rec);
	xrpc_error_free(&e);
	identity_free(&id);
out:
	free(err);
	return desc;
}

/* 1 when the hold answers GET /xrpc/_health now (cached HEALTH_TTL s), 0 when not. */
static int hold_is_up(ui_req *u, const char *hold_did)
{
	long long now = (long long)time(NULL);
	char *seen = ttlcache_get(&hold_health, hold_did, now), *err = NULL;
	if (seen) {
		int up = strcmp(seen, "up") == 0;
		free(seen);
		return up;
	}
	int up = 0;
	identity_ctx ictx = appview_identity(u->av);
	identity id = {0};
	if (identity_resolve(&ictx, hold_did, 0, &id, &err) == 0) {
		size_t n = strlen(id.pds);
		while (n > 0 && id.pds[n - 1] == '/')
			n--;
		char *url = buf_strf("%.*s/xrpc/_health", (int)n, id.pds);
		http_opts http = u->http;
		http.timeout_s = HEALTH_TIMEOUT;
		http.connect_timeout_s = HEALTH_TIMEOUT;
		http.max_response = 65536;
		http_request req = {.url = url};
		http_response resp = {0};
		up = url && http_do(&http, &req, &resp) == 0 && resp.status == 200;
		http_response_free(&resp);
		free(url);
	} else {
		log_warn("ui: hold %s: %s", hold_did, err);
	}
	identity_free(&id);
	free(err);
	ttlcache_put(&hold_health, hold_did, up ? "up" : "down", now + HEALTH_TTL, now);
	return up;
}

/* The pull command for ref in the viewer's chosen client (their profile's ociClient; docker when
 * they chose none or are not logged in). Caller frees. */
static char *pull_command(const char *client, const char *ref)
{
	if (!client || !*client || strcmp(client, "docker") == 0)
		return buf_strf("docker pull %s", ref);
	if (strcmp(client, "none") == 0)
		return strdup(ref);
	if (strcmp(client, "crane") == 0)
		return buf_strf("crane pull %s image.tar", ref);
	return buf_strf("%s pull %s", client, ref); /* podman, buildah, nerdctl (checked when saved) */
}

/* The logged-in viewer's ociClient, or NULL. Caller frees. */
static char *viewer_client(ui_req *u)
{
	login_user who;
	char *client = NULL, *err = NULL;
	if (login_user_get(u->r, &who) != 1)
		return NULL;
	if (uiindex_oci_client(u->db, who.did, &client, &err) < 0)
		log_warn("ui: %s", err);
	if (!ui_oci_client_ok(client)) {
		free(client);
		client = NULL;
	}
	login_user_free(&who);
	free(err);
	return client;
}

int ui_repo_page(ui_req *u, const char *did, const char *owner, const char *repository)
{
	char *err = NULL, *desc = NULL, *host = NULL, *client = NULL;
	json_object *ctx = NULL, *tags = NULL, *v;
	int found = uiindex_repo(u->db, did, repository, &ctx, &err);
	if (found < 0)
		return ui_fail(u, "repository", err);
	if (found == 0)
		return ui_not_found(u, "No such repository.");
	int rc = 0;
	if (!(tags = uiindex_tags(u->db, did, repository, &err))) {
		rc = ui_fail(u, "tags", err);
		goto out;
	}
	desc = page_description(u, did, repository);
	host = ui_registry_host(u->av);
	client = viewer_client(u);
	size_t n = json_object_array_length(tags);
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tags, i), *tag;
		json_object_object_get_ex(t, "tag", &tag);
		char *ref = buf_strf("%s/%s/%s:%s", host ? host : "", owner, repository, json_object_get_string(tag));
		char *pull = ref ? pull_command(client, ref) : NULL;
		json_object_object_add(t, "pull", ui_str(pull));
		free(pull);
		free(ref);
	}
	char *ref = buf_strf("%s/%s/%s", host ? host : "", owner, repository);
	char *latest = ref ? pull_command(client, ref) : NULL;
	json_object_object_add(ctx, "pull", ui_str(latest));
	free(latest);
	free(ref);
	json_object_object_add(ctx, "owner", ui_str(owner));
	json_object_object_del(ctx, "description"); /* the README below replaces the cached copy */
	if (desc) {
		char *html = md_to_html(desc, strlen(desc), &err);
		if (html) {
			json_object_object_add(ctx, "readme", tmpl_trusted_html(html));
			free(html);
		} else {
			log_warn("ui: README of %s/%s: %s", did, repository, err);
		}
	}
	if (ui_decorate(ctx) != 0 || ui_decorate(tags) != 0) {
		rc = ui_fail(u, "repository", NULL);
		goto out;
	}
	json_object_object_add(ctx, "tags", json_object_get(tags));
	ui_star_state(u->r, u->db, did, repository, ctx); /* the Star / Unstar form (cgi/ui-star.c) */
	if (json_object_object_get_ex(ctx, "hold_did", &v))
		json_object_object_add(ctx, hold_is_up(u, json_object_get_string(v)) ? "hold_up" : "hold_down",
				       json_object_new_boolean(1));
	char *title = buf_strf("%s/%s", owner, repository);
	rc = ui_page(u, 200, "repo", title, ctx);
	free(title);
out:
	json_object_put(ctx);
	json_object_put(tags);
	free(desc);
	free(host);
	free(client);
	free(err);
	return rc;
}

/* Where "/manifests/<digest>" starts in a decoded /r/ path, or NULL. */
static char *manifest_suffix(char *path)
{
	char *hit = NULL;
	for (char *p = strstr(path, "/manifests/"); p; p = strstr(p + 1, "/manifests/"))
		hit = p;
	if (hit && strchr(hit + strlen("/manifests/"), ':') && !strchr(hit + strlen("/manifests/"), '/'))
		return hit;
	return NULL;
}

int ui_repo(fcgi_req *r)
{
	ui_req u;
	if (ui_begin(r, &u) != 0)
		return 0;
	char *path = fcgi_url_decode(r->rest, strlen(r->rest), 0), *did = NULL, *err = NULL, *handle = NULL;
	int rc = 0;
	char *slash = path ? strchr(path, '/') : NULL;
	if (!slash || !slash[1]) {
		rc = ui_not_found(&u, "No such repository.");
		goto out;
	}
	*slash = '\0';
	const char *owner = path, *repository = slash + 1;
	char *digest = NULL, *m = manifest_suffix(slash + 1);
	if (m) {
		*m = '\0';
		digest = m + strlen("/manifests/");
	}
	int found;
	if (strncmp(owner, "did:", 4) == 0) {
		found = syntax_did_ok(owner) ? 1 : 0;
		did = found ? strdup(owner) : NULL;
		if (found && uiindex_handle_for_did(u.db, owner, &handle, &err) < 0)
			found = -1;
	} else {
		found = uiindex_did_for_handle(u.db, owner, &did, &err);
		handle = found == 1 ? strdup(owner) : NULL;
	}
	if (found < 0) {
		rc = ui_fail(&u, "owner", err);
		err = NULL;
	} else if (found == 0 || !*repository) {
		rc = ui_not_found(&u, "No such repository.");
	} else {
		/* links and pull commands name the owner by handle when it is known and verified */
		const char *shown = handle ? handle : did;
		rc = digest ? ui_manifest_page(&u, did, shown, repository, digest) : ui_repo_page(&u, did, shown, repository);
	}
out:
	free(path);
	free(did);
	free(handle);
	free(err);
	return rc;
}
