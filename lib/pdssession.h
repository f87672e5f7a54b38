/* pdssession.h - a user's PDS session as the AppView keeps it in the index (registry_logins, filled by
 * /auth/token): load it, and refresh it when the PDS says the access token expired. */
#ifndef ATCR_PDSSESSION_H
#define ATCR_PDSSESSION_H
#include <sqlite3.h>

#include "http.h"
#include "xrpc.h"

typedef struct {
	char *pds, *access, *refresh;
} pds_session;

/* The stored session of did: 0 ok (free with pds_session_free), -1 when there is none. */
int pds_session_load(sqlite3 *db, const char *did, pds_session *s);
/* Refresh s with its refresh token and store the new tokens: 0 ok, -1 (logged) when the PDS refuses. */
int pds_session_refresh(sqlite3 *db, const http_opts *o, const char *did, pds_session *s);
/* 1 for the XRPC errors after which a refreshed session may succeed (ExpiredToken, InvalidToken...). */
int pds_session_expired(const xrpc_error *e);
void pds_session_free(pds_session *s);

/* An xrpc_client acting as the session's user on its PDS. */
static inline xrpc_client pds_session_client(const pds_session *s, const http_opts *o)
{
	return (xrpc_client){s->pds, s->access, o};
}

#endif
