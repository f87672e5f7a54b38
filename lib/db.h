/* db.h - the SQLite index: WAL, busy timeout, numbered migrations, prepared-statement cache.
 * One connection per thread: never share a handle between threads (the statement cache is not locked). */
#ifndef ATCR_DB_H
#define ATCR_DB_H
#include <sqlite3.h>

/* Open (creating) the database at path with WAL, busy_timeout 5000 ms, foreign_keys on, and apply pending
 * migrations when migrate != 0. Returns NULL with *err set (caller frees). Close with db_close. */
sqlite3 *db_open(const char *path, int migrate, char **err);

/* Applies pending migrations, each in one transaction; returns the schema version, or -1 with *err naming
 * the failing migration number and the sqlite message (caller frees). */
int db_migrate(sqlite3 *db, char **err);

/* The applied schema version: 0 for a fresh file, -1 on error. */
int db_schema_version(sqlite3 *db);

/* Highest migration number compiled in. */
int db_latest_version(void);

/* A statement cached per connection (keyed by the sql text), reset and with bindings cleared.
 * Do NOT finalize it (db_close does); sqlite3_reset it when done so it releases its read snapshot.
 * NULL on error (logged to stderr). */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql);

/* *err = "index: <what>: <SQLite's message>" (caller frees); returns -1, for `return db_fail(...)`. */
int db_fail(sqlite3 *db, char **err, const char *what);
/* db_prepare that reports a failure through *err. */
sqlite3_stmt *db_prepare_err(sqlite3 *db, const char *sql, char **err);

/* Run one or more statements without results; 0 ok, -1 with *err set (caller frees). */
int db_exec(sqlite3 *db, const char *sql, char **err);

/* The calling thread's own connection to path, opened (without migrating: start-up does that) on
 * first use and closed when the thread exits. For FastCGI worker threads. NULL with *err set. */
sqlite3 *db_thread(const char *path, char **err);

/* Finalizes cached statements and closes the connection; NULL is ignored. */
void db_close(sqlite3 *db);

/* The numbered schema migrations, in ascending version order (lib/db_migrations.c). */
struct db_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct db_migration db_migrations[];
extern const int db_migrations_count;

/* For tests: db_migrate against an alternative table of n migrations. */
int db_migrate_with(sqlite3 *db, const struct db_migration *m, int n, char **err);

#endif
