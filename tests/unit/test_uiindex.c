/* test_uiindex.c - the web UI's queries on a migrated in-memory index: recent tags, popular repositories
 * with stars, tags with sizes and platforms, a user's repositories, manifest blobs, handles, the FTS5
 * query builder, search by name, handle and description with paging, and the repository page cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "tap.h"
#include "uiindex.h"

#define ALICE "did:plc:alice"
#define BOB "did:plc:bob"

static const char fixture_sql[] =
	"INSERT INTO users (did, handle, handle_verified, resolved_at) VALUES "
	"  ('did:plc:alice', 'alice.test', 1, 1), ('did:plc:bob', 'bob.test', 0, 1);\n"
	"INSERT INTO repositories (did, repository, created_at, updated_at, pull_count, push_count) VALUES "
	"  ('did:plc:alice', 'app', 1, 200, 5, 2), ('did:plc:alice', 'tools/cli', 1, 50, 1, 1),"
	"  ('did:plc:alice', 'empty', 1, 300, 0, 0), ('did:plc:bob', 'web', 1, 150, 9, 1);\n"
	"INSERT INTO manifests (did, repository, digest, media_type, size, hold_did, created_at) VALUES "
	"  ('did:plc:alice', 'app', 'sha256:m1', 'application/vnd.oci.image.manifest.v1+json', 500, 'did:web:old', 100),"
	"  ('did:plc:alice', 'app', 'sha256:idx', 'application/vnd.oci.image.index.v1+json', 600, 'did:web:hold', 200),"
	"  ('did:plc:alice', 'app', 'sha256:m2', 'application/vnd.oci.image.manifest.v1+json', 400, NULL, 190),"
	"  ('did:plc:alice', 'app', 'sha256:m3', 'application/vnd.oci.image.manifest.v1+json', 400, NULL, 190),"
	"  ('did:plc:alice', 'tools/cli', 'sha256:c1', 'application/vnd.oci.image.manifest.v1+json', 300, NULL, 50),"
	"  ('did:plc:bob', 'web', 'sha256:w1', 'application/vnd.oci.image.manifest.v1+json', 300, NULL, 150);\n"
	"INSERT INTO manifest_blobs (did, repository, manifest_digest, role, position, digest, size, media_type, platform) VALUES "
	"  ('did:plc:alice', 'app', 'sha256:m1', 'config', 0, 'sha256:cfg', 10, 'application/vnd.oci.image.config.v1+json', NULL),"
	"  ('did:plc:alice', 'app', 'sha256:m1', 'layer', 0, 'sha256:l1', 20, 'application/vnd.oci.image.layer.v1.tar+gzip', NULL),"
	"  ('did:plc:alice', 'app', 'sha256:m1', 'layer', 1, 'sha256:l2', 30, 'application/vnd.oci.image.layer.v1.tar+gzip', NULL),"
	"  ('did:plc:alice', 'app', 'sha256:idx', 'manifest', 0, 'sha256:m2', 400, 'application/vnd.oci.image.manifest.v1+json',"
	"   '{\"architecture\":\"amd64\",\"os\":\"linux\"}'),"
	"  ('did:plc:alice', 'app', 'sha256:idx', 'manifest', 1, 'sha256:m3', 400, 'application/vnd.oci.image.manifest.v1+json',"
	"   '{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}'),"
	"  ('did:plc:alice', 'app', 'sha256:idx', 'manifest', 2, 'sha256:att', 100, 'application/vnd.oci.image.manifest.v1+json',"
	"   '{\"architecture\":\"unknown\",\"os\":\"unknown\"}'),"
	"  ('did:plc:alice', 'app', 'sha256:m2', 'layer', 0, 'sha256:l3', 100, NULL, NULL),"
	"  ('did:plc:alice', 'app', 'sha256:m3', 'layer', 0, 'sha256:l4', 200, NULL, NULL);\n"
	"INSERT INTO tags (did, repository, tag, digest, updated_at, checked_at) VALUES "
	"  ('did:plc:alice', 'app', '1.0', 'sha256:m1', 100, 100),"
	"  ('did:plc:alice', 'app', 'multi', 'sha256:idx', 200, 200),"
	"  ('did:plc:bob', 'web', 'latest', 'sha256:w1', 150, 150);\n"
	"INSERT INTO stars (starrer_did, owner_did, repository, created_at) VALUES "
	"  ('did:plc:bob', 'did:plc:alice', 'app', 1), ('did:plc:carol', 'did:plc:alice', 'app', 1);\n";

/* A string member of the i-th element of arr (NULL when absent). */
static const char *str_at(json_object *arr, size_t i, const char *key)
{
	json_object *v;
	if (!arr || i >= json_object_array_length(arr) ||
	    !json_object_object_get_ex(json_object_array_get_idx(arr, i), key, &v))
		return NULL;
	return json_object_get_string(v);
}

static long long int_at(json_object *arr, size_t i, const char *key)
{
	json_object *v;
	if (!arr || i >= json_object_array_length(arr) ||
	    !json_object_object_get_ex(json_object_array_get_idx(arr, i), key, &v))
		return -1;
	return json_object_get_int64(v);
}

static size_t len(json_object *arr)
{
	return arr ? json_object_array_length(arr) : 0;
}

/* The "<owner>/<repository>" names of a search, comma-separated, into out. */
static const char *search_names(sqlite3 *db, const char *q, int page, int per_page, int *more, char *out, size_t size)
{
	json_object *r = NULL;
	char *err = NULL;
	out[0] = '\0';
	if (uiindex_search(db, q, page, per_page, &r, more, &err) != 0) {
		diag("search %s: %s", q, err);
		free(err);
		return "(error)";
	}
	for (size_t i = 0; i < len(r); i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s/%s", i ? "," : "", str_at(r, i, "owner"),
			 str_at(r, i, "repository"));
	json_object_put(r);
	return out;
}

static void test_fts_query(void)
{
	char *q = uiindex_fts_query("busy\"box OR x* NEAR(");
	is_str(q, "\"busy\"* \"box\"* \"OR\"* \"x\"* \"NEAR\"*", "FTS5 syntax becomes quoted prefix terms");
	free(q);
	ok(uiindex_fts_query(" -- \"\" * ") == NULL, "text without words gives no query");
	ok(uiindex_fts_query(NULL) == NULL, "NULL text gives no query");
	q = uiindex_fts_query("caf\xc3\xa9 na\xc3\xafve");
	is_str(q, "\"caf\xc3\xa9\"* \"na\xc3\xafve\"*", "UTF-8 letters stay inside terms");
	free(q);
	char long_word[200];
	memset(long_word, 'a', 199);
	long_word[199] = '\0';
	q = uiindex_fts_query(long_word);
	is_int(q ? strlen(q) : 0, 64 + 3, "a term is cut to 64 bytes");
	free(q);
	q = uiindex_fts_query("a b c d e f g h i j k l m n o p q r s t");
	is_str(q, "\"a\"* \"b\"* \"c\"* \"d\"* \"e\"* \"f\"* \"g\"* \"h\"* \"i\"* \"j\"* \"k\"* \"l\"* \"m\"* \"n\"* \"o\"* \"p\"*",
	       "at most 16 terms");
	free(q);
}

int main(void)
{
	sqlite3 *db = NULL;
	char *err = NULL, *s = NULL, names[512];
	int more = -1;
	long long when = 0;

	test_fts_query();

	if (sqlite3_open(":memory:", &db) != SQLITE_OK || db_migrate(db, &err) < 4 || db_exec(db, fixture_sql, &err) != 0) {
		diag("setup: %s", err ? err : sqlite3_errmsg(db));
		return 1;
	}

	json_object *recent = uiindex_recent_tags(db, 10, &err);
	is_int(len(recent), 3, "recent: every tag");
	is_str(str_at(recent, 0, "tag"), "multi", "recent: newest push first");
	is_str(str_at(recent, 1, "owner"), BOB, "recent: an unverified handle shows the DID");
	is_str(str_at(recent, 2, "owner"), "alice.test", "recent: a verified handle shows");
	is_str(str_at(recent, 2, "digest"), "sha256:m1", "recent: digest");
	is_int(int_at(recent, 2, "pushed_at"), 100, "recent: push time");
	json_object_put(recent);
	recent = uiindex_recent_tags(db, 1, &err);
	is_int(len(recent), 1, "recent: limited to n");
	json_object_put(recent);

	json_object *pop = uiindex_popular(db, 10, &err);
	is_int(len(pop), 3, "popular: repositories with manifests only");
	is_str(str_at(pop, 0, "repository"), "web", "popular: most pulled first");
	is_str(str_at(pop, 1, "repository"), "app", "popular: then the next");
	is_int(int_at(pop, 1, "pulls"), 5, "popular: pull count");
	is_int(int_at(pop, 1, "stars"), 2, "popular: stars counted from the stars table");
	is_int(int_at(pop, 0, "stars"), 0, "popular: no stars is 0");
	json_object_put(pop);

	json_object *repo = NULL, *v;
	is_int(uiindex_repo(db, ALICE, "app", &repo, &err), 1, "repo: found");
	ok(repo && json_object_object_get_ex(repo, "hold_did", &v) && strcmp(json_object_get_string(v), "did:web:hold") == 0,
	   "repo: hold of the newest manifest");
	ok(repo && json_object_object_get_ex(repo, "pushes", &v) && json_object_get_int(v) == 2, "repo: push count");
	ok(repo && json_object_object_get_ex(repo, "owner", &v) && strcmp(json_object_get_string(v), "alice.test") == 0,
	   "repo: owner handle");
	ok(repo && !json_object_object_get_ex(repo, "description", NULL), "repo: no description before a page is cached");
	json_object_put(repo);
	is_int(uiindex_repo(db, ALICE, "nope", &repo, &err), 0, "repo: unknown repository");
	ok(repo == NULL, "repo: nothing returned for an unknown repository");

	json_object *tags = uiindex_tags(db, ALICE, "app", &err);
	is_int(len(tags), 2, "tags: both tags of the repository");
	is_str(str_at(tags, 0, "tag"), "multi", "tags: newest first");
	is_int(int_at(tags, 0, "size"), 300, "tags: an index sums its children's layers");
	is_int(int_at(tags, 1, "size"), 50, "tags: an image sums its layers (not the config)");
	is_str(str_at(tags, 0, "media_type"), "application/vnd.oci.image.index.v1+json", "tags: media type");
	json_object *plats = NULL;
	ok(tags && json_object_object_get_ex(json_object_array_get_idx(tags, 0), "platforms", &plats), "tags: index platforms");
	is_int(len(plats), 2, "tags: unknown/unknown attestations are left out");
	is_str(plats ? json_object_get_string(json_object_array_get_idx(plats, 1)) : NULL, "linux/arm64/v8",
	       "tags: platform with variant");
	ok(tags && !json_object_object_get_ex(json_object_array_get_idx(tags, 1), "platforms", NULL),
	   "tags: no platforms for an image");
	json_object_put(tags);

	json_object *mine = uiindex_user_repos(db, ALICE, &err);
	is_int(len(mine), 2, "user: repositories with manifests");
	is_str(str_at(mine, 0, "repository"), "app", "user: newest push first");
	is_int(int_at(mine, 0, "tags"), 2, "user: tag count");
	is_str(str_at(mine, 1, "repository"), "tools/cli", "user: a repository name with '/'");
	json_object_put(mine);

	json_object *blobs = uiindex_manifest_blobs(db, ALICE, "app", "sha256:m1", &err), *part = NULL;
	ok(blobs && json_object_object_get_ex(blobs, "config", &part) &&
		   json_object_object_get_ex(part, "size", &v) && json_object_get_int(v) == 10,
	   "manifest blobs: config");
	ok(blobs && json_object_object_get_ex(blobs, "layers", &part) && len(part) == 2, "manifest blobs: layers");
	is_str(str_at(part, 1, "digest"), "sha256:l2", "manifest blobs: layers in order");
	json_object_put(blobs);
	blobs = uiindex_manifest_blobs(db, ALICE, "app", "sha256:idx", &err);
	ok(blobs && !json_object_object_get_ex(blobs, "config", NULL), "manifest blobs: an index has no config");
	ok(blobs && json_object_object_get_ex(blobs, "manifests", &part) && len(part) == 3, "manifest blobs: children");
	is_str(str_at(part, 0, "platform"), "linux/amd64", "manifest blobs: child platform");
	json_object_put(blobs);

	is_int(uiindex_did_for_handle(db, "Alice.Test", &s, &err), 1, "handle: found, case-insensitively");
	is_str(s, ALICE, "handle: the DID");
	free(s);
	is_int(uiindex_did_for_handle(db, "bob.test", &s, &err), 0, "handle: an unverified handle is not trusted");
	is_int(uiindex_handle_for_did(db, ALICE, &s, &err), 1, "handle of a DID");
	is_str(s, "alice.test", "handle of a DID: value");
	free(s);
	is_int(uiindex_handle_for_did(db, BOB, &s, &err), 0, "handle of a DID: unverified is none");

	is_str(search_names(db, "app", 1, 10, &more, names, sizeof names), "alice.test/app", "search: by name prefix");
	is_int(more, 0, "search: no next page");
	is_str(search_names(db, "cli", 1, 10, &more, names, sizeof names), "alice.test/tools/cli",
	       "search: a word of a name with '/'");
	is_str(search_names(db, "bob", 1, 10, &more, names, sizeof names), BOB "/web", "search: by handle");
	is_str(search_names(db, "widgets", 1, 10, &more, names, sizeof names), "", "search: no description yet");
	is_str(search_names(db, "\"", 1, 10, &more, names, sizeof names), "", "search: no words, no results");
	is_str(search_names(db, "nothing-like-it", 1, 10, &more, names, sizeof names), "", "search: no match");

	is_int(uiindex_page_get(db, ALICE, "app", &s, &when, &err), 0, "page: not cached yet");
	is_int(uiindex_page_put(db, ALICE, "app", NULL, 1000, &err), 0, "page: cache 'no page'");
	is_int(uiindex_page_get(db, ALICE, "app", &s, &when, &err), 1, "page: cached");
	ok(s == NULL && when == 1000, "page: no description, fetch time kept");
	is_int(uiindex_page_put(db, ALICE, "app", "Fast **widgets** for you", 2000, &err), 0, "page: cache a description");
	is_int(uiindex_page_get(db, ALICE, "app", &s, &when, &err), 1, "page: cached again");
	is_str(s, "Fast **widgets** for you", "page: description");
	is_int(when, 2000, "page: new fetch time");
	free(s);
	is_str(search_names(db, "widget", 1, 10, &more, names, sizeof names), "alice.test/app", "search: by description");
	is_str(search_names(db, "alice widgets", 1, 10, &more, names, sizeof names), "alice.test/app",
	       "search: every word must match");

	/* bm25 decides the order; what matters is two pages, one repository each, no repeat */
	char page1[128], page2[128];
	search_names(db, "alice", 1, 1, &more, page1, sizeof page1);
	is_int(more, 1, "search paging: more after page 1");
	search_names(db, "alice", 2, 1, &more, page2, sizeof page2);
	is_int(more, 0, "search paging: last page");
	ok((strcmp(page1, "alice.test/app") == 0 && strcmp(page2, "alice.test/tools/cli") == 0) ||
		   (strcmp(page2, "alice.test/app") == 0 && strcmp(page1, "alice.test/tools/cli") == 0),
	   "search paging: both of alice's repositories, one per page (%s | %s)", page1, page2);
	is_str(search_names(db, "alice", 3, 1, &more, names, sizeof names), "", "search paging: past the end");
	json_object *r = NULL;
	is_int(uiindex_search(db, "alice", 0, 10, &r, &more, &err), -1, "search: page 0 refused");
	ok(err != NULL, "search: page 0 has an error message");
	free(err);
	err = NULL;

	ok(db_exec(db, "UPDATE users SET handle = 'alicia.test' WHERE did = 'did:plc:alice'", &err) == 0,
	   "a handle changes");
	search_names(db, "alicia", 1, 10, &more, names, sizeof names);
	ok(strlen(names) == strlen("alicia.test/app,alicia.test/tools/cli") && strstr(names, "alicia.test/app") &&
		   strstr(names, "alicia.test/tools/cli"),
	   "search: follows a handle change (%s)", names);
	ok(db_exec(db, "INSERT INTO repositories (did, repository, created_at, updated_at) VALUES "
		       "('did:plc:bob', 'gadget', 1, 1);"
		       "INSERT INTO manifests (did, repository, digest, media_type, size, created_at) VALUES "
		       "('did:plc:bob', 'gadget', 'sha256:g', 'x', 1, 1)",
		   &err) == 0,
	   "a repository is added");
	is_str(search_names(db, "gadget", 1, 10, &more, names, sizeof names), BOB "/gadget", "search: a new repository");
	ok(db_exec(db, "DELETE FROM repositories WHERE did = 'did:plc:bob' AND repository = 'gadget'", &err) == 0,
	   "a repository is removed");
	is_str(search_names(db, "gadget", 1, 10, &more, names, sizeof names), "", "search: a removed repository is gone");

	db_close(db);
	free(err);
	return tap_done();
}
