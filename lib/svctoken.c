/* svctoken.c - service tokens with a session refresh and an in-memory cache (see svctoken.h). */
#include "svctoken.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "jwt.h"
#include "log.h"
#include "xrpc.h"

#define CACHE_SLOTS 256

struct cached {
	char *key; /* did \n aud \n lxm */
	char *token;
	long long exp;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached cache[CACHE_SLOTS];

static char *cache_key(const char *did, const char *aud, const char *lxm)
{
	return buf_strf("%s\n%s\n%s", did, aud, lxm ? lxm : "");
}

static char *cache_find(const char *key, long long now)
{
	char *tok = NULL;
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].key && strcmp(cache[i].key, key) == 0 && cache[i].exp - SVCTOKEN_MARGIN > now) {
			tok = strdup(cache[i].token);
			break;
		}
	pthread_mutex_unlock(&cache_lock);
	return tok;
}

/* Keep the token in the slot of its key, else an empty or expired one, else the soonest to expire. */
static void cache_put(const char *key, const char *token, long long exp, long long now)
{
	pthread_mutex_lock(&cache_lock);
	int slot = -1;
	for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
		if (cache[i].key && strcmp(cache[i].key, key) == 0)
			slot = i;
	for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
		if (!cache[i].key || cache[i].exp - SVCTOKEN_MARGIN <= now)
			slot = i;
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < CACHE_SLOTS; i++)
			if (cache[i].exp < cache[slot].exp)
				slot = i;
	}
	free(cache[slot].key);
	free(cache[slot].token);
	cache[slot].key = strdup(key);
	cache[slot].token = strdup(token);
	cache[slot].exp = exp;
	pthread_mutex_unlock(&cache_lock);
}

void svctoken_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		free(cache[i].key);
		free(cache[i].token);
		cache[i] = (struct cached){0};
	}
	pthread_mutex_unlock(&cache_lock);
}

typedef struct {
	char *pds, *access, *refresh;
} session;

static void session_free(session *s)
{
	free(s->pds);
	free(s->access);
	free(s->refresh);
}

static int session_load(sqlite3 *db, const char *did, session *s)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT pds, access_jwt, refresh_jwt FROM registry_logins WHERE did = ?");
	int rc = -1;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		s->pds = strdup((const char *)sqlite3_column_text(st, 0));
		s->access = strdup((const char *)sqlite3_column_text(st, 1));
		s->refresh = strdup((const char *)sqlite3_column_text(st, 2));
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/* Refresh the stored session with its refresh token; 0 ok (s and the row updated). */
static int session_refresh(sqlite3 *db, const http_opts *o, const char *did, session *s)
{
	xrpc_client c = {s->pds, NULL, o};
	xrpc_session fresh = {0};
	xrpc_error e = {0};
	int rc = -1;
	if (xrpc_refresh_session(&c, s->refresh, &fresh, &e) != 0 || strcmp(fresh.did, did) != 0) {
		log_info("refreshing the PDS session of %s failed: %s", did, e.error ? e.error : "another account");
		goto out;
	}
	sqlite3_stmt *st = db_prepare(db, "UPDATE registry_logins SET access_jwt = ?, refresh_jwt = ? WHERE did = ?");
	if (st) {
		sqlite3_bind_text(st, 1, fresh.access_jwt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, fresh.refresh_jwt, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, did, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	free(s->access);
	free(s->refresh);
	s->access = fresh.access_jwt;
	s->refresh = fresh.refresh_jwt;
	fresh.access_jwt = fresh.refresh_jwt = NULL;
	log_info("refreshed the PDS session of %s", did);
	rc = 0;
out:
	xrpc_session_free(&fresh);
	xrpc_error_free(&e);
	return rc;
}

/* Errors after which a refreshed session may succeed. */
static int session_expired(const xrpc_error *e)
{
	return (e->status == 400 || e->status == 401) && e->error &&
	       (strcmp(e->error, "ExpiredToken") == 0 || strcmp(e->error, "InvalidToken") == 0 ||
		strcmp(e->error, "AuthenticationRequired") == 0);
}

char *svctoken_get(sqlite3 *db, const http_opts *o, const char *did, const char *aud, const char *lxm, char **err)
{
	long long now = (long long)time(NULL);
	char *key = cache_key(did, aud, lxm), *token = key ? cache_find(key, now) : NULL;
	session s = {0};
	xrpc_error e = {0};
	if (token || !key)
		goto out;
	if (!db || session_load(db, did, &s) != 0) {
		buf_error(err, "no PDS session for %s: log in again (docker login)", did);
		goto out;
	}
	for (int attempt = 0; attempt < 2 && !token; attempt++) {
		xrpc_client c = {s.pds, s.access, o};
		xrpc_error_free(&e);
		token = xrpc_get_service_auth(&c, aud, lxm, 0, &e);
		if (!token && (attempt > 0 || !session_expired(&e) || session_refresh(db, o, did, &s) != 0))
			break;
	}
	if (!token) {
		buf_error(err, "getServiceAuth on %s: %s%s%s", s.pds, e.error ? e.error : "failed", e.message ? ": " : "",
			  e.message ? e.message : "");
		goto out;
	}
	jwt_t t = {0};
	char *jerr = NULL;
	long long exp = jwt_decode(token, &t, &jerr) == 0 ? jwt_claim_int(&t, "exp", 0) : 0;
	jwt_free(&t);
	free(jerr);
	if (exp > now)
		cache_put(key, token, exp, now);
out:
	free(key);
	session_free(&s);
	xrpc_error_free(&e);
	return token;
}
