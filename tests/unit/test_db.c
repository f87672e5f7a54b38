/* test_db.c - the SQLite index: migrations, WAL, statement cache, concurrent writers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "tap.h"

static char dir[] = "/tmp/atcr-test-db-XXXXXX";

static char *path_in_dir(const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void remove_db(const char *name)
{
	static const char *suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		char file[512];
		snprintf(file, sizeof file, "%s/%s%s", dir, name, suffix[i]);
		unlink(file);
	}
}

static int object_exists(sqlite3 *db, const char *type, const char *name)
{
	sqlite3_stmt *st = NULL;
	int found = 0;
	sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *query_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void test_fresh_and_migrate(void)
{
	char *path = path_in_dir("index.db");
	char *err = NULL;

	sqlite3 *db = db_open(path, 0, &err);
	ok(db != NULL, "open without migrating: %s", err ? err : "ok");
	is_int(db_schema_version(db), 0, "a fresh file is at version 0");
	db_close(db);

	ok(db_latest_version() >= 1, "at least one migration is compiled in");
	db = db_open(path, 1, &err);
	ok(db != NULL, "open with migrations: %s", err ? err : "ok");
	is_int(db_schema_version(db), db_latest_version(), "migrated to the latest version");
	ok(object_exists(db, "table", "users"), "users table exists");
	ok(object_exists(db, "table", "jetstream_cursor"), "jetstream_cursor table exists");
	ok(object_exists(db, "table", "schema_migrations"), "schema_migrations table exists");
	ok(object_exists(db, "index", "users_handle"), "index on users(handle) exists");
	is_int(query_int(db, "SELECT COUNT(*) FROM schema_migrations"), db_migrations_count,
	       "one schema_migrations row per migration");
	ok(query_int(db, "SELECT MIN(applied_at) FROM schema_migrations") > 1600000000,
	   "applied_at is a unix time");

	char *mode = query_text(db, "PRAGMA journal_mode");
	is_str(mode, "wal", "journal_mode is wal");
	free(mode);
	is_int(query_int(db, "PRAGMA foreign_keys"), 1, "foreign keys are on");
	is_int(query_int(db, "PRAGMA busy_timeout"), 5000, "busy timeout is 5000 ms");

	is_int(db_migrate(db, &err), db_latest_version(), "migrating again returns the same version");
	is_int(query_int(db, "SELECT COUNT(*) FROM schema_migrations"), db_migrations_count,
	       "migrating again applies nothing");

	ok(db_exec(db, "INSERT INTO jetstream_cursor (id, cursor) VALUES (1, 42)", &err) == 0, "cursor row inserted");
	int rc = db_exec(db, "INSERT INTO jetstream_cursor (id, cursor) VALUES (2, 43)", &err);
	ok(rc != 0 && err, "the cursor table holds one row only: %s", err ? err : "(no error)");
	free(err);
	err = NULL;
	rc = db_exec(db, "THIS IS NOT SQL", &err);
	ok(rc == -1 && err && *err, "db_exec reports bad SQL: %s", err ? err : "(no error)");
	free(err);
	err = NULL;
	db_close(db);

	db = db_open(path, 1, &err);
	is_int(db_schema_version(db), db_latest_version(), "reopening keeps the version");
	is_int(query_int(db, "SELECT cursor FROM jetstream_cursor"), 42, "reopening keeps the data");
	db_close(db);
	free(path);
	remove_db("index.db");
}

static void test_failing_migration(void)
{
	static const struct db_migration bad[] = {
		{1, "first", "CREATE TABLE a (x INTEGER);"},
		{2, "broken", "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1); THIS IS NOT SQL;"},
		{3, "never", "CREATE TABLE c (x INTEGER);"},
	};
	static const struct db_migration fixed[] = {
		{1, "first", "CREATE TABLE a (x INTEGER);"},
		{2, "fixed", "CREATE TABLE b (x INTEGER);"},
	};
	static const struct db_migration unordered[] = {
		{2, "two", "SELECT 1;"},
		{1, "one", "SELECT 1;"},
	};
	char *path = path_in_dir("migrate.db");
	char *err = NULL;
	sqlite3 *db = db_open(path, 0, &err);

	is_int(db_migrate_with(db, bad, 3, &err), -1, "a failing migration returns -1");
	ok(err && strstr(err, "migration 2"), "the error names migration 2: %s", err ? err : "(none)");
	ok(err && strstr(err, "syntax error"), "the error carries the sqlite message");
	free(err);
	err = NULL;
	ok(object_exists(db, "table", "a"), "migration 1 stays applied");
	ok(!object_exists(db, "table", "b"), "migration 2 left no partial table");
	is_int(query_int(db, "SELECT COUNT(*) FROM a"), 0, "migration 2 left no partial rows");
	ok(!object_exists(db, "table", "c"), "migration 3 did not run");
	is_int(db_schema_version(db), 1, "the version stays at 1");

	is_int(db_migrate_with(db, fixed, 2, &err), 2, "the fixed table applies migration 2");
	ok(object_exists(db, "table", "b"), "table b now exists");
	is_int(db_migrate_with(db, fixed, 2, &err), 2, "and applying it again is a no-op");

	is_int(db_migrate_with(db, unordered, 2, &err), -1, "an unordered table is refused");
	ok(err != NULL, "with an error: %s", err ? err : "(none)");
	free(err);
	db_close(db);
	free(path);
	remove_db("migrate.db");
}

static void test_statement_cache(void)
{
	char *path = path_in_dir("cache.db");
	char *err = NULL;
	sqlite3 *db = db_open(path, 1, &err);

	sqlite3_stmt *a = db_prepare(db, "SELECT ?1 + 1");
	sqlite3_stmt *b = db_prepare(db, "SELECT ?1 + 1");
	sqlite3_stmt *c = db_prepare(db, "SELECT ?1 + 2");
	ok(a != NULL, "db_prepare returns a statement");
	ok(a == b, "the same SQL gives the same cached statement");
	ok(c != NULL && c != a, "different SQL gives a different statement");

	sqlite3_bind_int(a, 1, 41);
	ok(sqlite3_step(a) == SQLITE_ROW && sqlite3_column_int(a, 0) == 42, "the statement runs");
	b = db_prepare(db, "SELECT ?1 + 1"); /* left mid-result: must come back reset, bindings cleared */
	ok(b == a && sqlite3_step(b) == SQLITE_ROW && sqlite3_column_type(b, 0) == SQLITE_NULL,
	   "a cached statement comes back reset with bindings cleared");
	sqlite3_reset(b);

	fprintf(stderr, "# (an error about bad SQL is expected next)\n");
	ok(db_prepare(db, "SELEC nonsense") == NULL, "bad SQL gives NULL");
	ok(db_prepare(NULL, "SELECT 1") == NULL, "a NULL handle gives NULL");

	/* many distinct statements: the cache grows and keeps each one */
	sqlite3_stmt *first[40];
	char sql[64];
	for (int i = 0; i < 40; i++) {
		snprintf(sql, sizeof sql, "SELECT %d", i);
		first[i] = db_prepare(db, sql);
	}
	int same = 1;
	for (int i = 0; i < 40; i++) {
		snprintf(sql, sizeof sql, "SELECT %d", i);
		sqlite3_stmt *st = db_prepare(db, sql);
		same &= st == first[i] && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == i;
		sqlite3_reset(st);
	}
	ok(same, "40 distinct statements are each cached and correct");

	/* a second connection has its own cache */
	sqlite3 *db2 = db_open(path, 0, &err);
	sqlite3_stmt *d = db_prepare(db2, "SELECT ?1 + 1");
	ok(d != NULL && d != a, "another connection gets its own statement");
	db_close(db2);
	db_close(db);
	free(path);
	remove_db("cache.db");
}

struct writer {
	const char *path;
	int id;
	int inserted;
	char *err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	sqlite3 *db = db_open(w->path, 1, &w->err); /* both threads migrate concurrently too */
	if (!db)
		return NULL;
	for (int i = 0; i < 500; i++) {
		sqlite3_stmt *st = db_prepare(db, "INSERT INTO users (did, handle) VALUES (?, ?)");
		if (!st)
			break;
		char did[64];
		snprintf(did, sizeof did, "did:plc:writer%dn%d", w->id, i);
		sqlite3_bind_text(st, 1, did, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, "someone.test", -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			if (!w->err)
				w->err = strdup(sqlite3_errmsg(db));
			break;
		}
		w->inserted++;
	}
	db_close(db);
	return NULL;
}

static void test_concurrent_writers(void)
{
	char *path = path_in_dir("concurrent.db");
	struct writer w[2] = {{path, 0, 0, NULL}, {path, 1, 0, NULL}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, writer_main, &w[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		is_int(w[i].inserted, 500, "writer %d inserted all its rows", i);
		ok(w[i].err == NULL, "writer %d saw no error: %s", i, w[i].err ? w[i].err : "none");
		free(w[i].err);
	}
	char *err = NULL;
	sqlite3 *db = db_open(path, 0, &err);
	is_int(query_int(db, "SELECT COUNT(*) FROM users"), 1000, "1000 rows in total");
	is_int(query_int(db, "SELECT COUNT(*) FROM schema_migrations"), db_migrations_count,
	       "concurrent migrations applied each migration once");
	db_close(db);
	free(path);
	remove_db("concurrent.db");
}

static void test_open_errors(void)
{
	char *err = NULL;
	sqlite3 *db = db_open("/nonexistent-dir-atcr/x/index.db", 1, &err);
	ok(db == NULL && err && strstr(err, "/nonexistent-dir-atcr"), "an unopenable path gives an error: %s",
	   err ? err : "(none)");
	free(err);
	err = NULL;
	ok(db_open("", 1, &err) == NULL && err, "an empty path gives an error");
	free(err);
	db_close(NULL);
	ok(1, "db_close(NULL) is harmless");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_fresh_and_migrate();
	test_failing_migration();
	test_statement_cache();
	test_concurrent_writers();
	test_open_errors();
	rmdir(dir);
	return tap_done();
}
