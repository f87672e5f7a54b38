/* db.c - the SQLite index: connection setup, numbered migrations, per-connection statement cache. */
#include "db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* The statement cache of one connection. Only the registry list is shared between threads (and
 * locked); the cache itself belongs to the connection, which belongs to one thread at a time. */
struct cached_stmt {
	uint64_t hash;
	char *sql;
	sqlite3_stmt *stmt;
};

struct stmt_cache {
	sqlite3 *db;
	struct cached_stmt *v;
	size_t n, cap;
	struct stmt_cache *next;
};

/* SQLite has no per-connection user data before 3.44 (sqlite3_set_clientdata), so caches are found
 * through this list, keyed by the handle. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stmt_cache *registry;

/* Finds (or, when create is set, adds) the cache of db. */
static struct stmt_cache *cache_for(sqlite3 *db, int create)
{
	pthread_mutex_lock(&registry_lock);
	struct stmt_cache *c = registry;
	while (c && c->db != db)
		c = c->next;
	if (!c && create) {
		c = calloc(1, sizeof *c);
		if (c) {
			c->db = db;
			c->next = registry;
			registry = c;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return c;
}

/* Unlinks the cache of db from the registry and returns it (caller frees), or NULL. */
static struct stmt_cache *cache_take(sqlite3 *db)
{
	pthread_mutex_lock(&registry_lock);
	struct stmt_cache **pp = &registry, *c = NULL;
	while (*pp && (*pp)->db != db)
		pp = &(*pp)->next;
	if (*pp) {
		c = *pp;
		*pp = c->next;
	}
	pthread_mutex_unlock(&registry_lock);
	return c;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql)
{
	if (!db || !sql)
		return NULL;
	struct stmt_cache *c = cache_for(db, 1);
	if (!c) {
		fprintf(stderr, "db: out of memory caching a statement\n");
		return NULL;
	}
	uint64_t h = fnv1a(sql);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].hash == h && strcmp(c->v[i].sql, sql) == 0) {
			sqlite3_reset(c->v[i].stmt);
			sqlite3_clear_bindings(c->v[i].stmt);
			return c->v[i].stmt;
		}
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct cached_stmt *v = realloc(c->v, cap * sizeof *v);
		if (!v) {
			fprintf(stderr, "db: out of memory caching a statement\n");
			return NULL;
		}
		c->v = v;
		c->cap = cap;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK || !st) {
		fprintf(stderr, "db: cannot prepare \"%s\": %s\n", sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	char *copy = strdup(sql);
	if (!copy) {
		sqlite3_finalize(st);
		fprintf(stderr, "db: out of memory caching a statement\n");
		return NULL;
	}
	c->v[c->n].hash = h;
	c->v[c->n].sql = copy;
	c->v[c->n].stmt = st;
	c->n++;
	return st;
}

int db_exec(sqlite3 *db, const char *sql, char **err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		buf_error(err, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int found = -1;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &st,
			       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = 1;
	else if (rc == SQLITE_DONE)
		found = 0;
out:
	sqlite3_finalize(st);
	return found;
}

int db_schema_version(sqlite3 *db)
{
	int exists = table_exists(db, "schema_migrations");
	if (exists <= 0)
		return exists;
	sqlite3_stmt *st = NULL;
	int version = -1;
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

int db_latest_version(void)
{
	int v = 0;
	for (int i = 0; i < db_migrations_count; i++)
		if (db_migrations[i].version > v)
			v = db_migrations[i].version;
	return v;
}

/* Applies one migration inside its own write transaction, unless another process got there first. */
static int apply_one(sqlite3 *db, const struct db_migration *m, char **err)
{
	char *msg = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;
	/* IMMEDIATE takes the write lock up front, so two processes starting together serialize here
	 * (waiting on the busy timeout) instead of both applying the migration. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
		buf_error(err, "migration %d (%s): cannot begin: %s", m->version, m->name,
			msg ? msg : sqlite3_errmsg(db));
		goto out;
	}
	int current = db_schema_version(db);
	if (current < 0) {
		buf_error(err, "migration %d (%s): cannot read schema version: %s", m->version, m->name,
			sqlite3_errmsg(db));
		goto rollback;
	}
	if (m->version <= current) {
		rc = 0;
		goto rollback; /* nothing written: rolling back just ends the transaction */
	}
	if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
		buf_error(err, "migration %d (%s) failed: %s", m->version, m->name, msg ? msg : sqlite3_errmsg(db));
		goto rollback;
	}
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO schema_migrations (version, name, applied_at) "
			       "VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
			       -1, &st, NULL) != SQLITE_OK) {
		buf_error(err, "migration %d (%s): cannot record it: %s", m->version, m->name, sqlite3_errmsg(db));
		goto rollback;
	}
	sqlite3_bind_int(st, 1, m->version);
	sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		buf_error(err, "migration %d (%s): cannot record it: %s", m->version, m->name, sqlite3_errmsg(db));
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		buf_error(err, "migration %d (%s): commit failed: %s", m->version, m->name,
			msg ? msg : sqlite3_errmsg(db));
		goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	sqlite3_free(msg);
	return rc;
}

int db_migrate_with(sqlite3 *db, const struct db_migration *m, int n, char **err)
{
	for (int i = 0; i < n; i++) {
		if (m[i].version <= 0 || (i > 0 && m[i].version <= m[i - 1].version)) {
			buf_error(err, "migration table is not in ascending order at entry %d (version %d)", i,
				m[i].version);
			return -1;
		}
	}
	/* The bookkeeping table exists before migration 1 runs, so any migration table can be applied. */
	if (db_exec(db,
		    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
		    "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
		    err) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (apply_one(db, &m[i], err) != 0)
			return -1;
	int v = db_schema_version(db);
	if (v < 0)
		buf_error(err, "cannot read schema version: %s", sqlite3_errmsg(db));
	return v;
}

int db_migrate(sqlite3 *db, char **err)
{
	return db_migrate_with(db, db_migrations, db_migrations_count, err);
}

/* Runs a pragma and returns its first result column as a malloc'd string (caller frees), or NULL with
 * *rc set to the sqlite error code. */
static char *pragma_text(sqlite3 *db, const char *sql, int *rc)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;
	*rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (*rc == SQLITE_OK) {
		*rc = sqlite3_step(st);
		if (*rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			out = strdup(t ? (const char *)t : "");
			*rc = out ? SQLITE_OK : SQLITE_NOMEM;
		}
	}
	sqlite3_finalize(st);
	return out;
}

/* Switches to WAL. Changing the journal mode does not wait on the busy handler, so when another
 * connection is opening the same fresh file at the same moment, retry for up to the busy timeout. */
static int enable_wal(sqlite3 *db, const char *path, char **err)
{
	const char *file = sqlite3_db_filename(db, "main");
	int in_memory = !file || !*file;
	for (int attempt = 0; attempt < 100; attempt++) {
		int rc;
		char *mode = pragma_text(db, "PRAGMA journal_mode = WAL", &rc);
		if (mode) {
			int wal = in_memory || strcmp(mode, "wal") == 0;
			if (!wal)
				buf_error(err, "cannot switch %s to WAL mode (still %s)", path, mode);
			free(mode);
			return wal ? 0 : -1;
		}
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
			buf_error(err, "cannot switch %s to WAL mode: %s", path, sqlite3_errmsg(db));
			return -1;
		}
		sqlite3_sleep(50);
	}
	buf_error(err, "cannot switch %s to WAL mode: database stayed locked", path);
	return -1;
}

sqlite3 *db_open(const char *path, int migrate, char **err)
{
	sqlite3 *db = NULL;
	if (!path || !*path) {
		buf_error(err, "database path is empty");
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		buf_error(err, "cannot open database %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	if (enable_wal(db, path, err) != 0)
		goto fail;
	if (db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", err) != 0)
		goto fail;
	if (migrate && db_migrate(db, err) < 0)
		goto fail;
	return db;
fail:
	db_close(db);
	return NULL;
}

void db_close(sqlite3 *db)
{
	if (!db)
		return;
	struct stmt_cache *c = cache_take(db);
	if (c) {
		for (size_t i = 0; i < c->n; i++) {
			sqlite3_finalize(c->v[i].stmt);
			free(c->v[i].sql);
		}
		free(c->v);
		free(c);
	}
	/* close_v2 defers the close until statements a caller prepared itself are finalized. */
	sqlite3_close_v2(db);
}

/* ---- one connection per thread and path */

struct thread_db {
	char *path;
	sqlite3 *db;
	struct thread_db *next;
};

static pthread_key_t thread_db_key;
static pthread_once_t thread_db_once = PTHREAD_ONCE_INIT;

static void thread_db_close_all(void *p)
{
	for (struct thread_db *t = p, *next; t; t = next) {
		next = t->next;
		db_close(t->db);
		free(t->path);
		free(t);
	}
}

static void thread_db_init(void)
{
	pthread_key_create(&thread_db_key, thread_db_close_all);
}

sqlite3 *db_thread(const char *path, char **err)
{
	pthread_once(&thread_db_once, thread_db_init);
	struct thread_db *head = pthread_getspecific(thread_db_key);
	for (struct thread_db *t = head; t; t = t->next)
		if (strcmp(t->path, path) == 0)
			return t->db;
	sqlite3 *db = db_open(path, 0, err);
	if (!db)
		return NULL;
	struct thread_db *t = calloc(1, sizeof *t);
	if (!t || !(t->path = strdup(path))) {
		free(t);
		db_close(db);
		buf_error(err, "out of memory");
		return NULL;
	}
	t->db = db;
	t->next = head;
	pthread_setspecific(thread_db_key, t);
	return db;
}

int db_fail(sqlite3 *db, char **err, const char *what)
{
	return buf_error(err, "index: %s: %s", what, sqlite3_errmsg(db));
}

sqlite3_stmt *db_prepare_err(sqlite3 *db, const char *sql, char **err)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	if (!st)
		db_fail(db, err, "prepare");
	return st;
}
