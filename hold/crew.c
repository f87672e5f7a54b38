/* crew.c - crew records: io.atcr.hold.requestCrew, and `atcr-hold crew add|rm|ls`.
 * A member's record key is base32-lower(sha256(member DID)[:16]), so membership is one lookup. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hold.h"
#include "log.h"
#include "recstore.h"
#include "syntax.h"

int crew_put(const hold_ctx *h, const char *member, const char *role, json_object *permissions, char **err)
{
	char rkey[27], now[32];
	hold_hash_rkey(member, rkey);
	hold_now(now);
	json_object *old = recstore_get(hold_db(h), "io.atcr.hold.crew", rkey, NULL);
	const char *added = old ? jsonget_str(old, "addedAt") : NULL;
	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.crew"));
	json_object_object_add(rec, "member", json_object_new_string(member));
	json_object_object_add(rec, "role", json_object_new_string(role));
	json_object_object_add(rec, "permissions", json_object_get(permissions));
	json_object_object_add(rec, "addedAt", json_object_new_string(added ? added : now));
	int rc = hold_put_record(h, "io.atcr.hold.crew", rkey, rec, NULL, err);
	json_object_put(rec);
	json_object_put(old);
	return rc;
}

json_object *crew_get(sqlite3 *db, const char *member)
{
	char rkey[27];
	hold_hash_rkey(member, rkey);
	json_object *rec = recstore_get(db, "io.atcr.hold.crew", rkey, NULL);
	const char *who = rec ? jsonget_str(rec, "member") : NULL;
	if (who && strcmp(who, member) == 0)
		return rec;
	json_object_put(rec);
	return NULL;
}

int crew_remove(sqlite3 *db, const char *member)
{
	char rkey[27];
	hold_hash_rkey(member, rkey);
	return recstore_delete(db, "io.atcr.hold.crew", rkey);
}

static json_object *default_permissions(void)
{
	json_object *p = json_object_new_array();
	json_object_array_add(p, json_object_new_string("blob:read"));
	json_object_array_add(p, json_object_new_string("blob:write"));
	return p;
}

int crew_request(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL, *err = NULL;
	json_object *in = NULL, *perms = NULL, *o = NULL;
	if (hold_authenticate(r, "io.atcr.hold.requestCrew", &caller) != 0)
		goto out;
	in = hold_read_json(r, 64 * 1024);
	if (!in)
		goto out;
	int is_crew = 0;
	hold_crew_perms(h, caller, &is_crew);
	o = json_object_new_object();
	if (is_crew) {
		json_object_object_add(o, "status", json_object_new_string("already_member"));
		fcgi_send_json(r, 200, o);
		goto out;
	}
	if (!h->allow_all_crew && strcmp(caller, h->owner) != 0) {
		hold_xrpc_error(r, 403, "RegistrationDisabled", "this hold does not let users join its crew");
		goto out;
	}
	const char *role = jsonget_str(in, "role");
	if (!role)
		role = "member";
	if (strcmp(role, "member") != 0 && strcmp(role, "read") != 0 && strcmp(role, "write") != 0) {
		hold_xrpc_error(r, 400, "InvalidRequest", "role must be member, read or write");
		goto out;
	}
	json_object *asked;
	if (json_object_object_get_ex(in, "permissions", &asked)) {
		/* Self-registration grants blob access only, never crew:admin. */
		unsigned p = hold_perms_from_json(asked);
		if (!json_object_is_type(asked, json_type_array) || json_object_array_length(asked) == 0 ||
		    (p & HOLD_PERM_ADMIN) || (int)json_object_array_length(asked) != __builtin_popcount(p)) {
			hold_xrpc_error(r, 400, "InvalidRequest", "permissions may be blob:read and blob:write");
			goto out;
		}
		perms = json_object_get(asked);
	} else {
		perms = default_permissions();
	}
	if (crew_put(h, caller, role, perms, &err) != 0) {
		hold_xrpc_error(r, 500, "InternalServerError", err);
		goto out;
	}
	log_info("crew: %s joined as %s", caller, role);
	char rkey[27], uri[512], *cid = NULL;
	hold_hash_rkey(caller, rkey);
	snprintf(uri, sizeof uri, "at://%s/io.atcr.hold.crew/%s", h->did, rkey);
	json_object_put(recstore_get(hold_db(h), "io.atcr.hold.crew", rkey, &cid));
	json_object_object_add(o, "status", json_object_new_string("created"));
	json_object_object_add(o, "uri", json_object_new_string(uri));
	if (cid)
		json_object_object_add(o, "cid", json_object_new_string(cid));
	free(cid);
	fcgi_send_json(r, 200, o);
out:
	json_object_put(in);
	json_object_put(perms);
	json_object_put(o);
	free(caller);
	free(err);
	return 0;
}

static int crew_usage(void)
{
	fprintf(stderr, "usage: atcr-hold crew add DID [--role ROLE] [--perm PERMISSION]...\n"
			"       atcr-hold crew rm DID\n"
			"       atcr-hold crew ls\n"
			"permissions: blob:read, blob:write, crew:admin (default: blob:read blob:write)\n");
	return 2;
}

int cli_crew(hold_ctx *h, int argc, char **argv)
{
	sqlite3 *db = hold_db(h);
	if (!db)
		return 1;
	if (argc == 1 && strcmp(argv[0], "ls") == 0) {
		char *cursor = NULL;
		do {
			char *next = NULL;
			json_object *page = recstore_list(db, h->did, "io.atcr.hold.crew", 100, cursor, 1, &next);
			for (size_t i = 0; page && i < json_object_array_length(page); i++) {
				json_object *v, *p;
				json_object_object_get_ex(json_object_array_get_idx(page, i), "value", &v);
				json_object_object_get_ex(v, "permissions", &p);
				printf("%s\t%s\t%s\n", jsonget_str(v, "member"), jsonget_str(v, "role"),
				       json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
			}
			json_object_put(page);
			free(cursor);
			cursor = next;
		} while (cursor);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "rm") == 0) {
		if (strcmp(argv[1], h->owner) == 0) {
			fprintf(stderr, "atcr-hold crew rm: %s is the captain\n", argv[1]);
			return 1;
		}
		int rc = crew_remove(db, argv[1]);
		if (rc <= 0)
			fprintf(stderr, "atcr-hold crew rm: %s\n", rc == 0 ? "not a crew member" : "database error");
		return rc == 1 ? 0 : 1;
	}
	if (argc >= 2 && strcmp(argv[0], "add") == 0) {
		const char *member = argv[1], *role = "write";
		if (!syntax_did_ok(member)) {
			fprintf(stderr, "atcr-hold crew add: not a DID: %s\n", member);
			return 1;
		}
		json_object *perms = json_object_new_array();
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
				role = argv[++i];
			} else if (strcmp(argv[i], "--perm") == 0 && i + 1 < argc) {
				const char *p = argv[++i];
				if (strcmp(p, "blob:read") && strcmp(p, "blob:write") && strcmp(p, "crew:admin")) {
					fprintf(stderr, "atcr-hold crew add: unknown permission %s\n", p);
					json_object_put(perms);
					return 1;
				}
				json_object_array_add(perms, json_object_new_string(p));
			} else {
				json_object_put(perms);
				return crew_usage();
			}
		}
		if (json_object_array_length(perms) == 0) {
			json_object_put(perms);
			perms = default_permissions();
		}
		char *err = NULL;
		int rc = crew_put(h, member, role, perms, &err);
		json_object_put(perms);
		if (rc != 0) {
			fprintf(stderr, "atcr-hold crew add: %s\n", err ? err : "failed");
			free(err);
			return 1;
		}
		printf("%s is crew (%s)\n", member, role);
		return 0;
	}
	return crew_usage();
}
