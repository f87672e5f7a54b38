/* db_migrations.c - the numbered schema migrations of the SQLite index, applied in order by db_migrate.
 *
 * Rules: append only; never edit a migration that has shipped. Everything that mirrors the network
 * can be rebuilt by backfill, but the sessions and devices tables (OAuth/UI sessions, devices and
 * device authorizations) cannot: NO migration may ever drop or recreate them. */
#include "db.h"

const struct db_migration db_migrations[] = {
	{1, "users and jetstream cursor",
	 /* IF NOT EXISTS: db_migrate_with creates it first, so any migration table can be applied */
	 "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
	 "  version INTEGER PRIMARY KEY,\n"
	 "  name TEXT NOT NULL,\n"
	 "  applied_at INTEGER NOT NULL\n"
	 ");\n"
	 "CREATE TABLE users (\n"
	 "  did TEXT PRIMARY KEY,\n"
	 "  handle TEXT,\n"
	 "  handle_verified INTEGER NOT NULL DEFAULT 0,\n"
	 "  pds_endpoint TEXT,\n"
	 "  signing_key TEXT,\n"      /* multibase multikey */
	 "  key_type TEXT,\n"
	 "  doc TEXT,\n"              /* the DID document, JSON */
	 "  resolved_at INTEGER\n"    /* unix seconds */
	 ");\n"
	 "CREATE INDEX users_handle ON users(handle);\n"
	 "CREATE TABLE jetstream_cursor (\n"
	 "  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
	 "  cursor INTEGER\n"
	 ");\n"},
	{2, "registry logins",
	 /* A sessions table: never dropped (see the top of this file). Holds PDS session tokens: the
	  * database file must stay private to the AppView. */
	 "CREATE TABLE registry_logins (\n"
	 "  did TEXT PRIMARY KEY,\n"
	 "  pds TEXT NOT NULL,\n"
	 "  password_hash TEXT NOT NULL,\n"   /* crypto_password_hash of the app password */
	 "  access_jwt TEXT NOT NULL,\n"
	 "  refresh_jwt TEXT NOT NULL,\n"
	 "  checked_at INTEGER NOT NULL\n"    /* unix seconds of the last createSession */
	 ");\n"},
};

const int db_migrations_count = (int)(sizeof db_migrations / sizeof db_migrations[0]);
