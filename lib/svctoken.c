/* svctoken.c - service tokens with a session refresh and an in-memory cache (see svctoken.h). */
#include "svctoken.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jwt.h"
#include "pdssession.h"

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

char *svctoken_get(sqlite3 *db, const http_opts *o, const char *did, const char *aud, const char *lxm, char **err)
{
	long long now = (long long)time(NULL);
	char *key = cache_key(did, aud, lxm), *token = key ? cache_find(key, now) : NULL;
	pds_session s = {0};
	xrpc_error e = {0};
	if (token || !key)
		goto out;
	if (!db || pds_session_load(db, did, &s) != 0) {
		buf_error(err, "no PDS session for %s: log in again (docker login)", did);
		goto out;
	}
	for (int attempt = 0; attempt < 2 && !token; attempt++) {
		xrpc_client c = {s.pds, s.access, o};
		xrpc_error_free(&e);
		token = xrpc_get_service_auth(&c, aud, lxm, 0, &e);
		if (!token && (attempt > 0 || !pds_session_expired(&e) || pds_session_refresh(db, o, did, &s) != 0))
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
	pds_session_free(&s);
	xrpc_error_free(&e);
	return token;
}
