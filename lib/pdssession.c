/* pdssession.c - users' PDS sessions kept in the index (see pdssession.h). */
#include "pdssession.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

void pds_session_free(pds_session *s)
{
	free(s->pds);
	free(s->access);
	free(s->refresh);
}

int pds_session_load(sqlite3 *db, const char *did, pds_session *s)
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

int pds_session_refresh(sqlite3 *db, const http_opts *o, const char *did, pds_session *s)
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

int pds_session_expired(const xrpc_error *e)
{
	return (e->status == 400 || e->status == 401) && e->error &&
	       (strcmp(e->error, "ExpiredToken") == 0 || strcmp(e->error, "InvalidToken") == 0 ||
		strcmp(e->error, "AuthenticationRequired") == 0);
}

