/* ui-star.c - starring a repository from its page: POST /r/<owner>/<repo>/star writes (or deletes) an
 * io.atcr.sailor.star record in the logged-in user's PDS through their OAuth session, and mirrors it in
 * the index's stars table, whose rows are what the pages count. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "syntax.h"
#include "tid.h"
#include "ui.h"
#include "uiindex.h"

#define STAR_COLLECTION "io.atcr.sailor.star"

/* The star row of starrer on did/repository: 1 (*rkey malloc'd, caller frees; may stay NULL when the
 * row has no key), 0 none, -1 with *err. */
static int star_get(sqlite3 *db, const char *starrer, const char *did, const char *repository, char **rkey,
		    char **err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	*rkey = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT rkey FROM stars WHERE starrer_did = ? AND owner_did = ? AND repository = ?", -1,
			       &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, starrer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, repository, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const unsigned char *k = sqlite3_column_text(st, 0);
		*rkey = k ? strdup((const char *)k) : NULL;
		rc = 1;
	} else if (step == SQLITE_DONE) {
		rc = 0;
	}
out:
	if (rc < 0)
		buf_error(err, "stars: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* Insert (rkey not NULL) or delete (rkey NULL) the star row. 0, or -1 with *err. */
static int star_set(sqlite3 *db, const char *starrer, const char *did, const char *repository, const char *rkey,
		    char **err)
{
	sqlite3_stmt *st = NULL;
	const char *sql = rkey ? "INSERT OR REPLACE INTO stars (starrer_did, owner_did, repository, rkey, created_at) "
				 "VALUES (?, ?, ?, ?, ?)"
			       : "DELETE FROM stars WHERE starrer_did = ? AND owner_did = ? AND repository = ?";
	int rc = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, starrer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, repository, -1, SQLITE_STATIC);
	if (rkey) {
		sqlite3_bind_text(st, 4, rkey, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	}
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	if (rc < 0)
		buf_error(err, "stars: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

int ui_star_state(fcgi_req *r, sqlite3 *db, const char *did, const char *repository, json_object *ctx)
{
	login_user who;
	char *rkey = NULL, *err = NULL;
	if (!login_user_get(r, &who))
		return 0;
	int rc = 0, starred = star_get(db, who.did, did, repository, &rkey, &err);
	json_object *star = json_object_new_object();
	if (starred < 0 || !star) {
		log_error("ui: star state: %s", err ? err : "out of memory");
		rc = -1;
		goto out;
	}
	json_object_object_add(star, "csrf", ui_str(who.csrf));
	json_object_object_add(star, "starred", json_object_new_boolean(starred));
	json_object_object_add(ctx, "star", star);
	star = NULL;
out:
	json_object_put(star);
	login_user_free(&who);
	free(rkey);
	free(err);
	return rc;
}

/* Call a com.atproto.repo record procedure on the user's star record rkey (input gets repo, collection
 * and rkey added; not consumed) through the user's OAuth session. 0, or the HTTP status to answer with
 * *why set: 401 when the session is gone, 502 when the PDS refused. */
static int star_record_call(fcgi_req *r, const char *starrer, const char *nsid, const char *rkey, json_object *input,
			    char **why)
{
	xrpc_error e = {0};
	json_object_object_add(input, "repo", json_object_new_string(starrer));
	json_object_object_add(input, "collection", json_object_new_string(STAR_COLLECTION));
	json_object_object_add(input, "rkey", json_object_new_string(rkey));
	json_object *out = login_xrpc(r, starrer, "POST", nsid, NULL, input, &e);
	int status = 0;
	if (!out) {
		status = e.status == 401 ? 401 : 502;
		*why = buf_strf("%s: %s", e.error ? e.error : "error", e.message ? e.message : "no answer");
	}
	json_object_put(out);
	xrpc_error_free(&e);
	return status;
}

/* Write the star record to the user's PDS, then the row. 0 done; else an HTTP status (401: log in again). */
static int do_star(fcgi_req *r, sqlite3 *db, const char *starrer, const char *did, const char *repository, char **why)
{
	char rkey[14], when[32], *subject = NULL, *err = NULL, *existing = NULL;
	int status = 500;
	json_object *input = NULL, *record;
	int have = star_get(db, starrer, did, repository, &existing, &err);
	if (have != 0) {
		status = have == 1 ? 0 : 500; /* already starred: nothing to do */
		goto out;
	}
	tid_next(rkey);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	subject = buf_strf("at://%s/io.atcr.repo.page/%s", did, repository);
	input = json_object_new_object();
	record = json_object_new_object();
	if (!subject || !input || !record) {
		json_object_put(record);
		goto out;
	}
	json_object_object_add(record, "$type", json_object_new_string(STAR_COLLECTION));
	json_object_object_add(record, "subject", json_object_new_string(subject));
	json_object_object_add(record, "createdAt", json_object_new_string(when));
	json_object_object_add(input, "record", record);
	if ((status = star_record_call(r, starrer, "com.atproto.repo.putRecord", rkey, input, why)) != 0)
		goto out;
	status = star_set(db, starrer, did, repository, rkey, &err) == 0 ? 0 : 500;
out:
	if (status == 500 && !*why) {
		*why = err ? err : strdup("out of memory");
		err = NULL;
	}
	json_object_put(input);
	free(subject);
	free(existing);
	free(err);
	return status;
}

/* Delete the star record (by the row's key) from the user's PDS, then the row. 0 or an HTTP status. */
static int do_unstar(fcgi_req *r, sqlite3 *db, const char *starrer, const char *did, const char *repository,
		     char **why)
{
	char *rkey = NULL, *err = NULL;
	int status = 500;
	json_object *input = NULL;
	int have = star_get(db, starrer, did, repository, &rkey, &err);
	if (have <= 0) {
		status = have == 0 ? 0 : 500; /* not starred: nothing to do */
		goto out;
	}
	if (rkey && syntax_rkey_ok(rkey)) {
		if (!(input = json_object_new_object()))
			goto out;
		if ((status = star_record_call(r, starrer, "com.atproto.repo.deleteRecord", rkey, input, why)) != 0)
			goto out;
	}
	status = star_set(db, starrer, did, repository, NULL, &err) == 0 ? 0 : 500;
out:
	if (status == 500 && !*why) {
		*why = err ? err : strdup("out of memory");
		err = NULL;
	}
	json_object_put(input);
	free(rkey);
	free(err);
	return status;
}

/* A raw request path we may put in a Location header as it is. */
static int path_plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return 0;
	return n > 0;
}

int ui_star(fcgi_req *r)
{
	ui_req u;
	login_user who = {0};
	buf_t body = {0};
	char *page = NULL, *path = NULL, *did = NULL, *err = NULL, *why = NULL, *action = NULL;
	if (ui_begin(r, &u) != 0)
		return 0;
	int rc = 0, logged_in = login_user_get(r, &who);
	size_t n = strlen(r->rest), suffix = strlen("/star");
	/* r->rest is "<owner>/<repo>/star", still percent-encoded: the page is /r/ + the part before /star */
	if (n <= suffix || strcmp(r->rest + n - suffix, "/star") != 0 || !path_plain(r->rest, n - suffix) ||
	    !(path = fcgi_url_decode(r->rest, n - suffix, 0))) {
		rc = ui_not_found(&u, "No such repository.");
		goto out;
	}
	page = buf_strf("/r/%.*s", (int)(n - suffix), r->rest);
	char *slash = strchr(path, '/');
	if (!page || !slash || !slash[1] || slash == path) {
		rc = ui_not_found(&u, "No such repository.");
		goto out;
	}
	*slash = '\0';
	const char *owner = path, *repository = slash + 1;
	if (!logged_in) {
		rc = ui_login_redirect(&u, page);
		goto out;
	}
	if (ui_read_form(r, &who, "star", &body) != 0)
		goto out;
	action = ui_form_get(&body, "action");
	if (!action || (strcmp(action, "star") != 0 && strcmp(action, "unstar") != 0)) {
		ui_error_page(r, 400, "The form must say star or unstar.");
		goto out;
	}
	int found;
	if (strncmp(owner, "did:", 4) == 0) {
		found = syntax_did_ok(owner) ? 1 : 0;
		did = found ? strdup(owner) : NULL;
	} else {
		found = uiindex_did_for_handle(u.db, owner, &did, &err);
	}
	json_object *repo = NULL;
	if (found == 1)
		found = uiindex_repo(u.db, did, repository, &repo, &err);
	json_object_put(repo);
	if (found < 0) {
		rc = ui_fail(&u, "star: repository", err);
		err = NULL;
		goto out;
	}
	if (found == 0) {
		rc = ui_not_found(&u, "No such repository.");
		goto out;
	}
	int status = strcmp(action, "star") == 0 ? do_star(r, u.db, who.did, did, repository, &why)
					     : do_unstar(r, u.db, who.did, did, repository, &why);
	if (status == 0) {
		log_info("%s %s %s/%s", who.did, action, did, repository);
		rc = ui_see_other(r, page);
	} else if (status == 401) {
		/* the OAuth session is gone: log in again, then come back to the page */
		log_info("star: %s must log in again: %s", who.did, why ? why : "");
		rc = ui_login_redirect(&u, page);
	} else if (status == 502) {
		log_warn("star: %s's PDS: %s", who.did, why ? why : "failed");
		ui_error_page(r, 502, "Your PDS did not accept the change. Please try again later.");
	} else {
		rc = ui_fail(&u, "star", why);
		why = NULL;
	}
out:
	login_user_free(&who);
	buf_free(&body);
	free(page);
	free(path);
	free(did);
	free(err);
	free(why);
	free(action);
	return rc;
}
