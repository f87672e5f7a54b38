/* uiindex.h - the web UI's read queries over the index (migrations 3 and 4): recent pushes, popular
 * repositories, a repository's tags, a user's repositories, full-text search, cached repository pages.
 * Rows come back as json-c values shaped for the templates (lib/tmpl.h). Pure SQL, no network. */
#ifndef ATCR_UIINDEX_H
#define ATCR_UIINDEX_H
#include <json-c/json.h>
#include <sqlite3.h>

/* Every repository object below carries "owner" (the verified handle, else the DID), "did",
 * "repository", "pulls", "stars" (rows of the stars table), "pushed_at" (unix seconds of the last push)
 * and "description" (the cached io.atcr.repo.page Markdown; absent when none). Functions returning
 * json_object * give a new array (caller puts), or NULL with *err (caller frees). */

/* The n most recently pushed tags, newest first: [{owner, did, repository, tag, digest, pushed_at}]. */
json_object *uiindex_recent_tags(sqlite3 *db, int n, char **err);
/* The n repositories with manifests, most pulled first (then most starred, then newest push). */
json_object *uiindex_popular(sqlite3 *db, int n, char **err);
/* One repository, with also "pushes", "created_at" and "hold_did" (of its newest manifest, absent when
 * unknown). 1 found (*out: new object, caller puts), 0 not in the index, -1 with *err. */
int uiindex_repo(sqlite3 *db, const char *did, const char *repository, json_object **out, char **err);
/* The repository's tags, newest push first: [{tag, digest, pushed_at, media_type, size, platforms}]:
 * size sums the layers (of every child, for an index); platforms ("linux/amd64", ...) only for indexes. */
json_object *uiindex_tags(sqlite3 *db, const char *did, const char *repository, char **err);
/* The user's repositories, newest push first, each also with "tags" (their number). */
json_object *uiindex_user_repos(sqlite3 *db, const char *did, char **err);
/* The holds manifests in the index live on, most used first: [{did, manifests}]. Caller puts. */
json_object *uiindex_known_holds(sqlite3 *db, char **err);
/* The ociClient of did's profile in the index: 1 (*client malloc'd), 0 none, -1 with *err. */
int uiindex_oci_client(sqlite3 *db, const char *did, char **client, char **err);

/* The blobs of one manifest: {config: {digest, size, media_type} (absent for an index), layers: [...],
 * manifests: [{digest, size, media_type, platform}]} where platform is "os/arch[/variant]".
 * New object (caller puts), NULL with *err. */
json_object *uiindex_manifest_blobs(sqlite3 *db, const char *did, const char *repository, const char *digest,
				    char **err);

/* The DID whose verified handle is handle (compared in lower case): 1 (*did malloc'd, caller frees),
 * 0 the index knows no such handle, -1 with *err. */
int uiindex_did_for_handle(sqlite3 *db, const char *handle, char **did, char **err);
/* The verified handle of did: 1 (*handle malloc'd, caller frees), 0 none known, -1 with *err. */
int uiindex_handle_for_did(sqlite3 *db, const char *did, char **handle, char **err);

/* An FTS5 query for free text typed by a user: every run of letters and digits (bytes >= 0x80 count
 * as letters) becomes a quoted prefix term, all of them required; at most 16 terms, each at most 64
 * bytes. FTS5 syntax in the text has no effect. Caller frees; NULL when the text has no words. */
char *uiindex_fts_query(const char *text);
/* Repositories with manifests matching text in their name, owner's handle or description, best first: page `page`
 * (from 1) of per_page results. *results: new array (caller puts); *more = 1 when another page follows.
 * Text without words gives an empty page. 0 ok, -1 with *err. */
int uiindex_search(sqlite3 *db, const char *text, int page, int per_page, json_object **results, int *more,
		   char **err);

/* The cached io.atcr.repo.page description of did/repository: 1 cached (*description malloc'd, NULL
 * when the owner has no page; *fetched_at when it was read), 0 never cached, -1 with *err. */
int uiindex_page_get(sqlite3 *db, const char *did, const char *repository, char **description,
		     long long *fetched_at, char **err);
/* Cache the description (NULL: the owner has no page record) read at now; the search index follows.
 * 0 ok, -1 with *err. */
int uiindex_page_put(sqlite3 *db, const char *did, const char *repository, const char *description, long long now,
		     char **err);

#endif
