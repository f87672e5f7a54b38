/* db.c - the hold's SQLite file: migrations and one connection per request thread. */
#include <stdlib.h>

#include "db.h"
#include "hold.h"
#include "log.h"
#include "recstore.h"

/* Append only; never edit a migration that has shipped. */
static const struct db_migration hold_migrations[] = {
	{1, "identity cache", identity_cache_schema_sql},
	{2, "record store", recstore_schema_sql},
	{3, "layer index",
	 /* Mirrors the io.atcr.hold.layer records for getLayersForManifest and getQuota. */
	 "CREATE TABLE layers (\n"
	 "  rkey TEXT PRIMARY KEY,\n"
	 "  manifest TEXT NOT NULL,   -- at-uri of the manifest\n"
	 "  user_did TEXT NOT NULL,\n"
	 "  digest TEXT NOT NULL,\n"
	 "  size INTEGER NOT NULL\n"
	 ");\n"
	 "CREATE INDEX layers_manifest ON layers(manifest);\n"
	 "CREATE INDEX layers_user ON layers(user_did, digest);\n"},
	{4, "quota accounting",
	 /* quota.c: a blob's size before it is assembled, and blobs no manifest names yet. */
	 "CREATE TABLE upload_parts (\n"
	 "  upload_id TEXT NOT NULL,\n"
	 "  number INTEGER NOT NULL,\n"
	 "  etag TEXT NOT NULL,\n"
	 "  size INTEGER NOT NULL,\n"
	 "  at INTEGER NOT NULL,       -- unix seconds\n"
	 "  PRIMARY KEY (upload_id, number, etag)\n"
	 ");\n"
	 "CREATE INDEX upload_parts_at ON upload_parts(at);\n"
	 "CREATE TABLE pending_blobs (\n"
	 "  user_did TEXT NOT NULL,\n"
	 "  digest TEXT NOT NULL,\n"
	 "  size INTEGER NOT NULL,\n"
	 "  at INTEGER NOT NULL,       -- unix seconds of the completion\n"
	 "  PRIMARY KEY (user_did, digest)\n"
	 ");\n"
	 "CREATE INDEX pending_blobs_at ON pending_blobs(at);\n"},
	{5, "garbage collection",
	 /* gc.c: what notifyManifest says of a manifest beyond its layers: its config blob (no layer
	  * record names it) and its last push (a push during a collection keeps the manifest). */
	 "CREATE TABLE manifests (\n"
	 "  manifest TEXT PRIMARY KEY,     -- at-uri, as the layer records name it\n"
	 "  user_did TEXT NOT NULL,\n"
	 "  config TEXT,                   -- its config blob's digest; NULL for an index\n"
	 "  notified_at INTEGER NOT NULL   -- unix seconds of the last push (0: learned by gc from the PDS)\n"
	 ");\n"
	 "CREATE INDEX manifests_config ON manifests(config);\n"
	 "CREATE INDEX manifests_user ON manifests(user_did);\n"
	 "CREATE INDEX layers_digest ON layers(digest);\n"},
	/* repo.c: the head commit over the records (the MST and commit blocks live in blocks). */
	{6, "repository commits", recstore_commit_schema_sql},
	{7, "did:plc identity",
	 /* plc.c: the hold's did:plc and its signed genesis, kept before it is posted so that a start-up
	  * that fails after the POST sends the same operation again instead of making another DID. */
	 "CREATE TABLE plc_identity (\n"
	 "  id INTEGER PRIMARY KEY CHECK (id = 1),  -- one row\n"
	 "  did TEXT NOT NULL,\n"
	 "  genesis TEXT NOT NULL,                 -- the signed genesis operation (JSON)\n"
	 "  registered INTEGER NOT NULL,           -- 1 once a PLC directory took the genesis\n"
	 "  created_at INTEGER NOT NULL            -- unix seconds\n"
	 ");\n"},
};

sqlite3 *hold_db_open(const char *path, char **err)
{
	sqlite3 *db = db_open(path, 0, err);
	if (db && db_migrate_with(db, hold_migrations, (int)(sizeof hold_migrations / sizeof *hold_migrations), err) < 0) {
		db_close(db);
		return NULL;
	}
	return db;
}

sqlite3 *hold_db(const hold_ctx *h)
{
	char *err = NULL;
	sqlite3 *db = db_thread(h->db_path, &err);
	if (!db) {
		log_error("database %s: %s", h->db_path, err ? err : "cannot open");
		free(err);
	}
	return db;
}

identity_ctx hold_identity(const hold_ctx *h)
{
	identity_ctx c = h->ident;
	c.db = hold_db(h);
	return c;
}
