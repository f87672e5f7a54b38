/* main.c - atcr-hold: start-up (identity, key, captain), the CLI, and serving FastCGI with background
 * jobs. */
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "hold.h"
#include "http.h"
#include "log.h"
#include "multikey.h"
#include "recstore.h"
#include "syntax.h"

#ifndef ATCR_VERSION
#define ATCR_VERSION "unknown"
#endif

/* Write or refresh the captain record from the configuration (deployedAt is kept), with its commit. */
static int write_captain(const hold_ctx *h, char **err)
{
	sqlite3 *db = hold_db(h);
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	json_object *old = recstore_get(db, "io.atcr.hold.captain", "self", NULL);
	char now[32];
	hold_now(now);
	const char *deployed = old ? jsonget_str(old, "deployedAt") : NULL;
	const char *region = config_str(h->cfg, "hold.region");
	json_object *rec = json_object_new_object();
	json_object_object_add(rec, "$type", json_object_new_string("io.atcr.hold.captain"));
	json_object_object_add(rec, "owner", json_object_new_string(h->owner));
	json_object_object_add(rec, "public", json_object_new_boolean(h->is_public));
	json_object_object_add(rec, "allowAllCrew", json_object_new_boolean(h->allow_all_crew));
	json_object_object_add(rec, "enableBlueskyPosts", json_object_new_boolean(0));
	json_object_object_add(rec, "deployedAt", json_object_new_string(deployed ? deployed : now));
	if (*region)
		json_object_object_add(rec, "region", json_object_new_string(region));
	int rc = 0;
	if (!old || !json_object_equal(old, rec))
		rc = hold_put_record(h, "io.atcr.hold.captain", "self", rec, NULL, err);
	json_object_put(rec);
	json_object_put(old);
	if (rc == 0 && repo_tx_commit(h, db, err) == 0)
		return 0;
	char *ignored = NULL;
	db_exec(db, "ROLLBACK", &ignored);
	free(ignored);
	return -1;
}

static int ensure_owner_crew(const hold_ctx *h, char **err)
{
	int is_crew = 0;
	unsigned perms = hold_crew_perms(h, h->owner, &is_crew);
	if (is_crew && perms == (HOLD_PERM_READ | HOLD_PERM_WRITE | HOLD_PERM_ADMIN))
		return 0;
	json_object *p = json_object_new_array();
	json_object_array_add(p, json_object_new_string("blob:read"));
	json_object_array_add(p, json_object_new_string("blob:write"));
	json_object_array_add(p, json_object_new_string("crew:admin"));
	int rc = crew_put(h, h->owner, "owner", p, err);
	json_object_put(p);
	return rc;
}

int hold_init(hold_ctx *h, const config *cfg, char **err)
{
	memset(h, 0, sizeof *h);
	h->cfg = cfg;
	const char *url = config_str(cfg, "server.public_url");
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	h->public_url = strndup(url, n);
	const char *method = config_str(cfg, "hold.did_method");
	if (strcmp(method, "plc") == 0)
		h->did_plc = 1;
	else if (strcmp(method, "web") != 0)
		return buf_error(err, "hold.did_method must be web or plc: %s", method);
	/* did:plc holds too answer at the root of their URL, as a did:web would. */
	char *web = hold_did_from_url(h->public_url);
	if (!web)
		return buf_error(err, "server.public_url must be http(s)://host[:port], without a path: %s", url);
	if (h->did_plc)
		free(web);
	else
		h->did = web;
	const char *owner = config_str(cfg, "hold.owner");
	if (!syntax_did_ok(owner))
		return buf_error(err, "hold.owner must be the owner's DID (HOLD_HOLD_OWNER): %s", *owner ? owner : "(empty)");
	h->owner = strdup(owner);
	h->is_public = config_bool(cfg, "hold.public");
	h->allow_all_crew = config_bool(cfg, "hold.allow_all_crew");
	h->db_path = config_str(cfg, "database.path");
	h->ident = identity_ctx_from_config(cfg);
	char *e = NULL;
	h->key = crypto_key_load_or_create(config_str(cfg, "hold.key_path"), CRYPTO_K256, &e);
	if (!h->key) {
		buf_error(err, "signing key: %s", e ? e : "?");
		free(e);
		return -1;
	}
	h->multikey = multikey_encode(h->key);
	if (strcmp(config_str(cfg, "storage.driver"), "filesystem") != 0)
		return buf_error(err, "storage.driver: only \"filesystem\" is available: %s", config_str(cfg, "storage.driver"));
	const char *tiers_file = config_str(cfg, "quota.tiers_file");
	if (*tiers_file && !(h->tiers = tiers_load(tiers_file, &e))) {
		buf_error(err, "quota.tiers_file: %s", e ? e : "?");
		free(e);
		return -1;
	}
	h->blobs = blobstore_fs_open(config_str(cfg, "storage.root"), config_int(cfg, "storage.max_part_size"), &e);
	if (!h->blobs) {
		buf_error(err, "storage: %s", e ? e : "?");
		free(e);
		return -1;
	}
	sqlite3 *db = hold_db_open(h->db_path, &e);
	if (!db) {
		buf_error(err, "%s: %s", h->db_path, e ? e : "?");
		free(e);
		return -1;
	}
	db_close(db);
	if (h->did_plc && plc_identity(h, &e) != 0) {
		buf_error(err, "did:plc: %s", e ? e : "?");
		free(e);
		return -1;
	}
	char *plc = h->did_plc || !hold_db(h) ? NULL : plc_stored_did(hold_db(h));
	if (plc) /* not fatal: going back to did:web may be what the operator wants */
		log_warn("hold.did_method is web, but this hold registered %s: serving as %s; users whose "
			 "profile names %s must choose the hold again", plc, h->did, plc);
	free(plc);
	if (!hold_db(h) || write_captain(h, &e) != 0 || ensure_owner_crew(h, &e) != 0) {
		buf_error(err, "writing the captain and crew records: %s", e ? e : "?");
		free(e);
		return -1;
	}
	/* Records kept before the hold made commits (or none at all) get their first commit now. */
	if (repo_update(h, &e) < 0) {
		buf_error(err, "the repository's commit: %s", e ? e : "?");
		free(e);
		return -1;
	}
	return 0;
}

void hold_release(hold_ctx *h)
{
	free(h->did);
	free(h->public_url);
	free(h->owner);
	free(h->multikey);
	crypto_key_free(h->key);
	crypto_key_free(h->rotation_key);
	tiers_free(h->tiers);
	if (h->blobs)
		bs_close(h->blobs);
	memset(h, 0, sizeof *h);
}

/* Background jobs: expire abandoned uploads, and the quota's records of them. */
static void *jobs(void *arg)
{
	hold_ctx *h = arg;
	long expiry = (long)config_int(h->cfg, "storage.upload_expiry");
	for (;;) {
		int n = bs_expire_uploads(h->blobs, expiry);
		if (n > 0)
			log_info("expired %d abandoned uploads", n);
		char *err = NULL;
		sqlite3 *db = hold_db(h);
		if (db && quota_expire(db, (long long)time(NULL) - expiry, &err) < 0)
			log_warn("expiring quota records: %s", err ? err : "?");
		free(err);
		sleep(300);
	}
	return NULL;
}

static int serve(hold_ctx *h)
{
	char *err = NULL;
	pthread_t t;
	if (h->did_plc) {
		/* The directory must say where the hold is now and which key signs for it: each start
		 * repairs a document the operator's move (or a new signing key) left behind. */
		int rc = plc_sync(h, &err);
		if (rc < 0) {
			log_error("did:plc: %s", err ? err : "?");
			fprintf(stderr, "atcr-hold: did:plc: %s\n", err ? err : "?");
			free(err);
			return 1;
		}
		if (rc > 0) /* a directory outage must not keep the hold down: the next start tries again */
			log_warn("did:plc: the PLC directory is unavailable; the document was not checked: %s", err ? err : "?");
		free(err);
		err = NULL;
	}
	if (pthread_create(&t, NULL, jobs, h) == 0)
		pthread_detach(t);
	log_info("atcr-hold %s serving %s (%s) on %s", ATCR_VERSION, h->did, h->public_url,
		 *config_str(h->cfg, "server.listen") ? config_str(h->cfg, "server.listen") : "fd 0");
	fcgi_program prog = {.routes = hold_routes, .error = hold_layer_error, .app = h};
	if (fcgi_serve(&prog, config_str(h->cfg, "server.listen"), (int)config_int(h->cfg, "server.threads"), &err) != 0) {
		log_error("serve: %s", err ? err : "failed");
		fprintf(stderr, "atcr-hold: %s\n", err ? err : "cannot serve");
		free(err);
		return 1;
	}
	log_info("atcr-hold stopped");
	return 0;
}

static int status(hold_ctx *h)
{
	sqlite3 *db = hold_db(h);
	printf("did: %s\n", h->did);
	if (h->did_plc) {
		char *rot = did_key_encode(h->rotation_key);
		printf("plc: %s (rotation key %s)\n", config_str(h->cfg, "hold.plc_url"), rot ? rot : "?");
		free(rot);
	}
	printf("url: %s\n", h->public_url);
	printf("key: %s (K-256)\n", h->multikey);
	printf("owner: %s\n", h->owner);
	printf("public: %s\n", h->is_public ? "true" : "false");
	printf("allowAllCrew: %s\n", h->allow_all_crew ? "true" : "false");
	printf("storage: %s %s\n", h->blobs->drv->name, config_str(h->cfg, "storage.root"));
	printf("crew: %lld\n", recstore_count(db, "io.atcr.hold.crew"));
	printf("layers: %lld\n", recstore_count(db, "io.atcr.hold.layer"));
	if (!h->tiers) {
		printf("quota: none (quota.tiers_file is empty)\n");
		return 0;
	}
	for (size_t i = 0; i < h->tiers->count; i++) {
		char limit[32] = "unlimited";
		if (h->tiers->tier[i].limit != TIER_UNLIMITED)
			tiers_format_size(h->tiers->tier[i].limit, limit);
		printf("tier %zu: %s %s%s\n", i, h->tiers->tier[i].name, limit,
		       i == h->tiers->default_rank ? " (new crew)" : "");
	}
	return 0;
}

/* atcr-hold gc [--dry-run]: one collection, reported on stdout. */
static int cli_gc(hold_ctx *h, int argc, char **argv)
{
	gc_options o = {.grace = config_int(h->cfg, "gc.grace_seconds"), .out = stdout};
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") != 0) {
			fprintf(stderr, "atcr-hold gc: unknown argument: %s (only --dry-run)\n", argv[i]);
			return 2;
		}
		o.dry_run = 1;
	}
	gc_report rep;
	char *err = NULL;
	int rc = gc_run(h, &o, &rep, &err);
	http_thread_cleanup(); /* the main thread's connections to owners' PDSes */
	fflush(stdout);
	if (rc != 0)
		fprintf(stderr, "atcr-hold gc: %s\n", err ? err : "failed");
	free(err);
	return rc == 0 ? 0 : 1;
}

static int config_init(const char *path)
{
	char *err = NULL;
	if (!path)
		return config_write_template(hold_options, "HOLD_", stdout) == 0 ? 0 : 1;
	if (config_write_template_file(hold_options, "HOLD_", path, &err) != 0) {
		fprintf(stderr, "atcr-hold config init: %s\n", err);
		free(err);
		return 1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: atcr-hold [--config FILE] COMMAND\n"
		     "\n"
		     "commands:\n"
		     "  serve               run the hold (FastCGI on server.listen) until SIGTERM\n"
		     "  config init [FILE]  write a commented configuration with every default\n"
		     "  status              print the hold's DID, key, owner and policy\n"
		     "  crew add DID [--role R] [--perm P]... | crew rm DID | crew ls\n"
		     "  crew tier DID NAME  put a crew member in a tier of quota.tiers_file\n"
		     "  gc [--dry-run]      remove layer records of manifests gone from their PDS, then blobs\n"
		     "                      nothing names (older than gc.grace_seconds); --dry-run only reports\n"
		     "\n"
		     "options:\n"
		     "  --config FILE       YAML configuration (default: $HOLD_CONFIG); HOLD_* variables override\n"
		     "                      it, e.g. HOLD_HOLD_OWNER for hold.owner\n"
		     "  --help, --version\n");
}

int main(int argc, char **argv)
{
	const char *config_path = getenv("HOLD_CONFIG");
	int exit_code = 0;
	int i = config_parse_options(argc, argv, "atcr-hold", ATCR_VERSION, usage, &config_path, &exit_code);
	if (i < 0)
		return exit_code;
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i++];
	int nargs = argc - i;
	char **args = argv + i;
	if (strcmp(cmd, "config") == 0) {
		if (nargs < 1 || nargs > 2 || strcmp(args[0], "init") != 0) {
			usage(stderr);
			return 2;
		}
		return config_init(nargs == 2 ? args[1] : NULL);
	}
	if (!(strcmp(cmd, "serve") == 0 && nargs == 0) && !(strcmp(cmd, "status") == 0 && nargs == 0) &&
	    strcmp(cmd, "crew") != 0 && strcmp(cmd, "gc") != 0) {
		fprintf(stderr, "atcr-hold: bad command: %s\n", cmd);
		usage(stderr);
		return 2;
	}
	char *err = NULL;
	config *cfg = config_load(hold_options, config_path && *config_path ? config_path : NULL, "HOLD_", &err);
	if (!cfg) {
		fprintf(stderr, "atcr-hold: %s\n", err ? err : "bad configuration");
		free(err);
		return 1;
	}
	int rc = 1;
	hold_ctx h;
	if (log_setup(config_str(cfg, "log.level"), config_str(cfg, "log.format"),
		      strcmp(cmd, "serve") == 0 ? config_str(cfg, "log.file") : "", &err) != 0) {
		fprintf(stderr, "atcr-hold: log: %s\n", err ? err : "cannot set up logging");
		goto out;
	}
	if (hold_init(&h, cfg, &err) != 0) {
		fprintf(stderr, "atcr-hold: %s\n", err ? err : "cannot start");
		log_error("start-up: %s", err ? err : "failed");
		hold_release(&h); /* what start-up had made before it stopped */
		goto out;
	}
	if (strcmp(cmd, "serve") == 0)
		rc = serve(&h);
	else if (strcmp(cmd, "status") == 0)
		rc = status(&h);
	else if (strcmp(cmd, "gc") == 0)
		rc = cli_gc(&h, nargs, args);
	else
		rc = cli_crew(&h, nargs, args);
	hold_release(&h);
out:
	free(err);
	config_free(cfg);
	return rc;
}
