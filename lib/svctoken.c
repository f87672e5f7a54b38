/* svctoken.c - service tokens with a session refresh and an in-memory cache (see svctoken.h). */
#include "svctoken.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jwt.h"
#include "pdssession.h"
#include "ttlcache.h"

/* (did, aud, lxm) -> token, until SVCTOKEN_MARGIN seconds before the token's exp. */
static ttlcache cache = TTLCACHE_INIT;

static char *cache_key(const char *did, const char *aud, const char *lxm)
{
	return buf_strf("%s\n%s\n%s", did, aud, lxm ? lxm : "");
}

void svctoken_cache_clear(void)
{
	ttlcache_clear(&cache);
}

char *svctoken_get(sqlite3 *db, const http_opts *o, const char *did, const char *aud, const char *lxm, char **err)
{
	long long now = (long long)time(NULL);
	char *key = cache_key(did, aud, lxm), *token = key ? ttlcache_get(&cache, key, now) : NULL;
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
		ttlcache_put(&cache, key, token, exp - SVCTOKEN_MARGIN, now);
out:
	free(key);
	pds_session_free(&s);
	xrpc_error_free(&e);
	return token;
}
