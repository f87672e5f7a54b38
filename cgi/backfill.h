/* backfill.h - rebuilding the index from the network: every io.atcr record of one repository
 * (listRecords on its PDS), and every repository a relay or a PDS lists, resumably. */
#ifndef ATCR_BACKFILL_H
#define ATCR_BACKFILL_H
#include <sqlite3.h>
#include <stdio.h>

#include "http.h"
#include "identity.h"

typedef struct {
	sqlite3 *db;
	identity_ctx ident; /* with .db set: resolutions refresh the users table (handles for the UI) */
	http_opts http;
	FILE *progress;     /* a line per listing page and a summary; NULL for none */
} backfill_ctx;

/* Index every io.atcr record of did, read with listRecords from the PDS its DID document names,
 * applied as a snapshot (lib/ingest, cursor 0), and take out of the index did's records that the
 * listing no longer shows and the PDS confirms deleted. Adds the records applied to *records and,
 * when removed is not NULL, those taken out to *removed. 0 ok, -1 with *err (caller frees). */
int backfill_repo(const backfill_ctx *b, const char *did, long long *records, long long *removed, char **err);

/* Every repository of a relay (relay not NULL: listReposByCollection for each io.atcr collection)
 * or of a PDS (listRepos), each through backfill_repo. Resumes after the last listing page an
 * earlier run finished, unless restart. A repository that fails is reported and skipped.
 * 0 ok, -1 with *err when a listing cannot be read. */
int backfill_all(const backfill_ctx *b, const char *relay, const char *pds, int restart, char **err);

#endif
