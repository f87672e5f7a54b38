/* cli.c - operator commands: `atcr-appview migrate`, `atcr-appview resolve <handle|did>`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "identity.h"

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
