/* svctoken.c - service tokens with a session refresh and an in-memory cache (see svctoken.h). */
#include "svctoken.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jwt.h"
#include "jsonget.h"
#include "pdsuser.h"
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
	xrpc_error e = {0};
	json_object *answer = NULL;
	if (token || !key)
		goto out;
	const char *params[] = {"aud", aud, "lxm", lxm, NULL};
	pdsuser_call call = {.method = "GET", .nsid = "com.atproto.server.getServiceAuth", .params = params};
	answer = pdsuser_xrpc(db, o, did, &call, &e);
	const char *got = jsonget_str(answer, "token");
	if (!got) {
		if (answer || e.status != 401)
			buf_error(err, "getServiceAuth for %s: %s%s%s", did, answer ? "no token in the answer" : e.error ? e.error : "failed",
				  e.message ? ": " : "", e.message ? e.message : "");
		else
			buf_error(err, "no PDS session for %s: log in again", did);
		goto out;
	}
	token = strdup(got);
	jwt_t t = {0};
	char *jerr = NULL;
	long long exp = token && jwt_decode(token, &t, &jerr) == 0 ? jwt_claim_int(&t, "exp", 0) : 0;
	jwt_free(&t);
	free(jerr);
	if (exp > now)
		ttlcache_put(&cache, key, token, exp - SVCTOKEN_MARGIN, now);
out:
	free(key);
	json_object_put(answer);
	xrpc_error_free(&e);
	return token;
}
