/* netevent.h - one change seen on the network (a record created, updated or deleted; an identity or
 * account event), whichever way it arrived: a Jetstream v1 JSON message, a firehose frame, a backfill. */
#ifndef ATCR_NETEVENT_H
#define ATCR_NETEVENT_H
#include <json-c/json.h>
#include <stddef.h>

typedef enum {
	NETEVENT_COMMIT,   /* a record operation */
	NETEVENT_IDENTITY, /* the DID's handle or document may have changed */
	NETEVENT_ACCOUNT,  /* the account became active or inactive */
} netevent_kind;

typedef enum { NETEVENT_CREATE, NETEVENT_UPDATE, NETEVENT_DELETE } netevent_op;

typedef struct {
	netevent_kind kind;
	char *did;
	/* Where to resume after this event: Jetstream's time_us, the firehose's seq; 0 for backfill. */
	long long cursor;
	/* Backfill (cursor 0): when the listing that carried the record was read (unix seconds); a
	 * delete indexed before then was followed by this record. 0 when unknown. */
	long long listed_at;
	/* NETEVENT_COMMIT */
	netevent_op op;
	char *collection, *rkey;
	char *cid;           /* the record's CID string; NULL on deletes */
	json_object *record; /* the record in atproto JSON form ({"$link"}, {"$bytes"}); NULL on deletes */
	/* NETEVENT_IDENTITY: the new handle when the event carries one, else NULL */
	char *handle;
	/* NETEVENT_ACCOUNT */
	int active;
	char *status; /* "takendown", "suspended", "deleted", "deactivated"... or NULL */
} netevent;

/* Free the members of one event (not the struct itself); safe on a zeroed event. */
void netevent_clear(netevent *e);
/* Free an array of n events from a decoder. */
void netevent_free_all(netevent *v, size_t n);

/* Decode one Jetstream v1 message (JSON text). Sets *out and *n to a malloc'd array (0 or 1 events:
 * kinds Jetstream sends that we do not use give 0) and *cursor to its time_us.
 * 0 ok, -1 with *err on malformed input (caller frees). */
int netevent_from_jetstream(const char *json, size_t len, netevent **out, size_t *n, long long *cursor,
			    char **err);

#endif
