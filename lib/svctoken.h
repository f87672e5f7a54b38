/* svctoken.h - service tokens for calling holds on a user's behalf: com.atproto.server.getServiceAuth
 * on the user's PDS with whichever session the index keeps for them (lib/pdsuser: app password, else
 * OAuth), cached in memory (per process, all threads) until shortly before the token's exp. */
#ifndef ATCR_SVCTOKEN_H
#define ATCR_SVCTOKEN_H
#include <sqlite3.h>

#include "http.h"

#define SVCTOKEN_MARGIN 15 /* seconds before exp a cached token is no longer handed out */

/* A token from did's PDS for aud (a service DID) bound to lxm (the method NSID). Caller frees; NULL with
 * *err (caller frees) when the user has no session in db or the PDS refuses. */
char *svctoken_get(sqlite3 *db, const http_opts *o, const char *did, const char *aud, const char *lxm, char **err);
/* Forget every cached token (tests; a user's logout later). */
void svctoken_cache_clear(void);

#endif
