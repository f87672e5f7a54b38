/* cli.c - operator commands: `atcr-appview migrate`, `resolve <handle|did>`, `expire-uploads`, `expire-sessions`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "holdclient.h"
#include "identity.h"
#include "session.h"

int cli_migrate(const config *cfg)
{
	char *err = NULL;
	const char *path = config_str(cfg, "database.path");
	sqlite3 *db = db_open(path, 1, &err);
	if (!db) {
		fprintf(stderr, "atcr-appview migrate: %s: %s\n", path, err ? err : "cannot open");
		free(err);
		return 1;
	}
	printf("%s: schema version %d\n", path, db_schema_version(db));
	db_close(db);
	return 0;
}

int cli_resolve(const config *cfg, const char *who)
{
	char *err = NULL;
	/* The cache is only written, never read here: an operator debugging wants a fresh answer. */
	sqlite3 *db = db_open(config_str(cfg, "database.path"), 1, &err);
	if (!db) {
		free(err);
		err = NULL;
	}
	identity_ctx ctx = identity_ctx_from_config(cfg);
	ctx.db = db;
	identity id = {0};
	int rc = 1;
	if (identity_resolve(&ctx, who, 1, &id, &err) != 0) {
		fprintf(stderr, "atcr-appview resolve: %s\n", err ? err : "resolution failed");
		goto out;
	}
	printf("did: %s\n", id.did);
	printf("handle: %s (%s)\n", id.handle, id.handle_verified ? "verified" : "invalid");
	printf("pds: %s\n", id.pds);
	printf("key: %s (%s)\n", id.signing_key, id.key_type);
	rc = 0;
out:
	identity_free(&id);
	free(err);
	if (db)
		db_close(db);
	return rc;
}

int cli_expire_uploads(const config *cfg, long long max_age)
{
	char *err = NULL;
	const char *path = config_str(cfg, "database.path");
	sqlite3 *db = db_open(path, 1, &err);
	int rc = 1, expired = 0, aborted = 0;
	if (!db) {
		fprintf(stderr, "atcr-appview expire-uploads: %s: %s\n", path, err ? err : "cannot open");
		free(err);
		return 1;
	}
	http_opts o = {.timeout_s = (long)config_int(cfg, "http.timeout"), .connect_timeout_s = 10,
		       .max_response = 1 << 20, .allow_private = config_bool(cfg, "server.test_mode")};
	long long cutoff = (long long)time(NULL) - max_age;
	/* Collect first: the hold calls may refresh sessions through the same connection. */
	sqlite3_stmt *st = db_prepare(db, "SELECT id, did, hold_did, hold_url, hold_upload_id FROM uploads "
					  "WHERE updated_at < ? ORDER BY updated_at");
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, cutoff);
	char **rows = NULL;
	size_t n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **grown = realloc(rows, (n + 5) * sizeof *rows);
		if (!grown)
			break;
		rows = grown;
		for (int i = 0; i < 5; i++)
			rows[n++] = strdup((const char *)sqlite3_column_text(st, i));
	}
	sqlite3_reset(st);
	for (size_t i = 0; i + 4 < n; i += 5) {
		hold_client h = {db, &o, rows[i + 1], rows[i + 2], rows[i + 3]};
		if (hold_abort_upload(&h, rows[i + 4], &err) == HOLD_OK)
			aborted++;
		else
			fprintf(stderr, "atcr-appview expire-uploads: %s on %s: %s\n", rows[i], rows[i + 2], err);
		free(err);
		err = NULL;
		sqlite3_stmt *del = db_prepare(db, "DELETE FROM uploads WHERE id = ?");
		if (del) {
			sqlite3_bind_text(del, 1, rows[i], -1, SQLITE_STATIC);
			if (sqlite3_step(del) == SQLITE_DONE)
				expired++;
			sqlite3_reset(del);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
	printf("expired %d upload sessions (%d aborted on their holds)\n", expired, aborted);
	rc = 0;
out:
	http_thread_cleanup();
	db_close(db);
	return rc;
}

int cli_expire_sessions(const config *cfg)
{
	char *err = NULL;
	const char *path = config_str(cfg, "database.path");
	sqlite3 *db = db_open(path, 1, &err);
	if (!db) {
		fprintf(stderr, "atcr-appview expire-sessions: %s: %s\n", path, err ? err : "cannot open");
		free(err);
		return 1;
	}
	int n = session_expire(db, (long long)time(NULL));
	db_close(db);
	if (n < 0) {
		fprintf(stderr, "atcr-appview expire-sessions: the index refused the cleanup\n");
		return 1;
	}
	printf("expired %d UI sessions and pending logins\n", n);
	return 0;
}
