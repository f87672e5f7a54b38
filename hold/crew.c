/* crew.c - crew records: io.atcr.hold.requestCrew and updateCrewTier, and `atcr-hold crew
 * add|rm|ls|tier`. A member's record key is base32-lower(sha256(member DID)[:16]), so membership is
 * one lookup. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "hold.h"
#include "log.h"
#include "recstore.h"
#include "syntax.h"

/* Ends the transaction of a read-modify-write of a crew record, with the repository's commit: rc when
 * it commits, else -1. */
static int end_write(const hold_ctx *h, sqlite3 *db, int rc, char **err)
{
	if (rc >= 0 && repo_tx_commit(h, db, err) == 0)
		return rc;
	char *ignored = NULL;
	db_exec(db, "ROLLBACK", &ignored);
	free(ignored);
	return -1;
}

int crew_put(const hold_ctx *h, const char *member, const char *role, json_object *permissions, char **err)
{
	char rkey[27], now[32];
	sqlite3 *db = hold_db(h);
	if (!db)
		return buf_error(err, "database unavailable");
	hold_hash_rkey(member, rkey);
	hold_now(now);
	/* Read and write in one transaction, so that what the old record keeps is not lost to a writer
	 * in between. */
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	json_object *old = recstore_get(db, "io.atcr.hold.crew", rkey, NULL);
	const char *added = old ? jsonget_str(old, "addedAt") : NULL, *tier = old ? jsonget_str(old, "tier") : NULL;
	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.crew"));
	json_object_object_add(rec, "member", json_object_new_string(member));
	json_object_object_add(rec, "role", json_object_new_string(role));
	json_object_object_add(rec, "permissions", json_object_get(permissions));
	json_object_object_add(rec, "addedAt", json_object_new_string(added ? added : now));
	if (tier) /* a change of role or permissions keeps the member's tier */
		json_object_object_add(rec, "tier", json_object_new_string(tier));
	int rc = hold_put_record(h, "io.atcr.hold.crew", rkey, rec, NULL, err);
	json_object_put(rec);
	json_object_put(old);
	return end_write(h, db, rc, err);
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

int crew_set_tier(const hold_ctx *h, const char *member, const char *tier, char **err)
{
	sqlite3 *db = hold_db(h);
	char rkey[27];
	if (!db)
		return buf_error(err, "database unavailable");
	/* Read and write in one transaction: a concurrent crew change is not lost. */
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	json_object *rec = crew_get(db, member);
	int rc = 0;
	if (rec) {
		json_object_object_add(rec, "tier", json_object_new_string(tier));
		hold_hash_rkey(member, rkey);
		rc = hold_put_record(h, "io.atcr.hold.crew", rkey, rec, NULL, err) == 0 ? 1 : -1;
	}
	json_object_put(rec);
	return end_write(h, db, rc, err);
}

int crew_update_tier(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *caller = NULL, *err = NULL, msg[256];
	json_object *in = NULL, *rank;
	/* The lexicon wants "the trusted AppView"'s token; an AppView has no identity of its own yet, so the
	 * hold trusts those who manage its crew: the captain and crew:admin members. */
	if (hold_authenticate_as(r, "io.atcr.hold.updateCrewTier", "AuthRequired", &caller) != 0)
		goto out;
	int is_crew = 0;
	unsigned perms = hold_crew_perms(h, caller, &is_crew);
	if (!hold_may(h->owner, h->is_public, caller, is_crew, perms, HOLD_MANAGE_CREW)) {
		log_info("updateCrewTier refused for %s: not the captain or crew:admin", caller);
		hold_xrpc_error(r, 401, "AuthRequired", "updateCrewTier is accepted from the captain or a crew:admin member");
		goto out;
	}
	in = hold_read_json(r, 64 * 1024);
	if (!in)
		goto out;
	const char *user = jsonget_str(in, "userDid");
	if (!user || !syntax_did_ok(user) || !json_object_object_get_ex(in, "tierRank", &rank) ||
	    !json_object_is_type(rank, json_type_int)) {
		hold_xrpc_error(r, 400, "InvalidRequest", "userDid (a DID) and tierRank (an integer) are required");
		goto out;
	}
	int64_t n = json_object_get_int64(rank);
	size_t count = h->tiers ? h->tiers->count : 0;
	if (n < 0 || (uint64_t)n >= count) {
		if (count)
			snprintf(msg, sizeof msg, "tierRank must be 0..%zu on this hold", count - 1);
		else
			snprintf(msg, sizeof msg, "this hold has no tiers (no quota.tiers_file)");
		hold_xrpc_error(r, 400, "InvalidRequest", msg);
		goto out;
	}
	const char *name = h->tiers->tier[n].name;
	int rc = crew_set_tier(h, user, name, &err);
	if (rc == 0) {
		hold_xrpc_error(r, 404, "UserNotFound", "that user is not a crew member of this hold");
		goto out;
	}
	if (rc < 0) {
		log_error("updateCrewTier %s: %s", user, err ? err : "?");
		hold_xrpc_error(r, 500, "InternalServerError", "the crew record could not be written");
		goto out;
	}
	log_info("crew: %s is now in tier %s (by %s)", user, name, caller);
	hold_reply(r, "tierName", name, NULL);
out:
	json_object_put(in);
	free(caller);
	free(err);
	return 0;
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

/* atcr-hold crew tier DID NAME */
static int cli_crew_tier(hold_ctx *h, const char *member, const char *name)
{
	if (!h->tiers) {
		fprintf(stderr, "atcr-hold crew tier: this hold has no tiers (set quota.tiers_file)\n");
		return 1;
	}
	const hold_tier *t = tiers_find(h->tiers, name);
	if (!t) {
		buf_t known = BUF_INIT;
		for (size_t i = 0; i < h->tiers->count; i++)
			buf_printf(&known, "%s%s", i ? ", " : "", h->tiers->tier[i].name);
		fprintf(stderr, "atcr-hold crew tier: no tier '%s' (tiers: %s)\n", name, buf_str(&known));
		buf_free(&known);
		return 1;
	}
	char *err = NULL;
	int rc = crew_set_tier(h, member, t->name, &err);
	if (rc <= 0) {
		fprintf(stderr, "atcr-hold crew tier: %s\n", rc == 0 ? "not a crew member" : err ? err : "failed");
		free(err);
		return 1;
	}
	char limit[32] = "unlimited";
	if (t->limit != TIER_UNLIMITED)
		tiers_format_size(t->limit, limit);
	printf("%s is in tier %s (%s)%s\n", member, t->name, limit,
	       strcmp(member, h->owner) == 0 ? "; the captain is never limited" : "");
	return 0;
}

static int crew_usage(void)
{
	fprintf(stderr, "usage: atcr-hold crew add DID [--role ROLE] [--perm PERMISSION]...\n"
			"       atcr-hold crew rm DID\n"
			"       atcr-hold crew ls\n"
			"       atcr-hold crew tier DID NAME   (NAME: a tier of quota.tiers_file)\n"
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
				printf("%s\t%s\t%s", jsonget_str(v, "member"), jsonget_str(v, "role"),
				       json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
				if (h->tiers) { /* the tier the member is in, and whether the record names it */
					const char *named = jsonget_str(v, "tier");
					int unknown = 0;
					const hold_tier *t = tiers_for_member(h->tiers, named, &unknown);
					printf("\t%s%s", strcmp(jsonget_str(v, "member"), h->owner) == 0 ? "unlimited (captain)" : t->name,
					       named && !unknown ? "" : " (default)");
				}
				putchar('\n');
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
		char *err = NULL;
		int rc = db_exec(db, "BEGIN IMMEDIATE", &err) == 0 ? crew_remove(db, argv[1]) : -1;
		rc = end_write(h, db, rc, &err);
		if (rc <= 0)
			fprintf(stderr, "atcr-hold crew rm: %s\n", rc == 0 ? "not a crew member" : err ? err : "database error");
		free(err);
		return rc == 1 ? 0 : 1;
	}
	if (argc == 3 && strcmp(argv[0], "tier") == 0)
		return cli_crew_tier(h, argv[1], argv[2]);
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
