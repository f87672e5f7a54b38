/* ingest.h - apply network events (io.atcr.* record changes, identity and account events) to the
 * AppView's index, idempotently, with the consumer's cursor saved in the same transaction. */
#ifndef ATCR_INGEST_H
#define ATCR_INGEST_H
#include <sqlite3.h>
#include <stddef.h>

#include "netevent.h"

/* Apply n events in one transaction and, when source is not NULL, save cursor as source's resume
 * point in that same transaction (source names the stream, e.g. "jetstream:wss://host" or
 * "firehose:http://pds"). Events for collections we do not index are skipped; applying the same
 * events twice leaves the index as applying them once did. A record that does not validate is
 * skipped with a warning in the log, never half-applied. A delete is remembered for a while, so that
 * a create of the same record that is older (a backfill event, cursor 0, whose listing was read no
 * later than the delete was indexed, or an event of the same source with a cursor not past the
 * delete's) does not bring it back. Not inside a transaction of the
 * caller's: it opens its own (BEGIN IMMEDIATE; a busy index is an error to retry).
 * 0 ok, -1 with *err (nothing applied). */
int ingest_apply(sqlite3 *db, const netevent *ev, size_t n, const char *source, long long cursor, char **err);

/* The saved cursor of source: 1 found (*cursor set), 0 none yet, -1 with *err. */
int ingest_cursor_get(sqlite3 *db, const char *source, long long *cursor, char **err);

/* The record keys of did's records in collection (one ingest_wants) that the index mirrors now:
 * what a backfill compares with the PDS's listing to find records deleted while no consumer ran.
 * Sets *rkeys (caller frees with ingest_rkeys_free) and *n. 0 ok, -1 with *err. */
int ingest_indexed_rkeys(sqlite3 *db, const char *did, const char *collection, char ***rkeys, size_t *n, char **err);
void ingest_rkeys_free(char **rkeys, size_t n);

/* Whether collection is one ingest_apply indexes (io.atcr.manifest, io.atcr.tag,
 * io.atcr.sailor.profile, io.atcr.sailor.star, io.atcr.repo.page). */
int ingest_wants(const char *collection);

#endif
