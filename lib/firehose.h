/* firehose.h - decode one com.atproto.sync.subscribeRepos frame (a DAG-CBOR header, then a body; a
 * #commit's records read from its CAR) into netevents. Decoding only: no signature or MST proof checks,
 * no collection filter. */
#ifndef ATCR_FIREHOSE_H
#define ATCR_FIREHOSE_H
#include <stddef.h>

#include "netevent.h"

/* What a frame said besides its events. */
typedef struct {
	char *type;     /* the header's t ("#commit", "#identity", "#account", "#sync", "#info", or a newer
			 * one we do not know and skip); NULL for an error frame */
	long long seq;  /* where to resume after this frame; 0 when it has none (#info, errors, unknown) */
	char *did;      /* the account the frame is about, when it names one */
	char *rev;      /* #commit and #sync: the repository revision */
	int too_big;    /* a #commit marked tooBig: its records are not in the frame, so no events; the
			 * caller fetches the repository itself */
	char *name;     /* #info's name (e.g. "OutdatedCursor") or an error frame's error ("FutureCursor") */
	char *message;  /* #info's or an error frame's message, when it has one */
} firehose_frame;

/* Decode one frame. On 0, *out and *n hold a malloc'd array of events (netevent_free_all): one
 * NETEVENT_COMMIT per op of a #commit (records as JSON, in op order), one NETEVENT_IDENTITY or
 * NETEVENT_ACCOUNT for those frames, none for #sync, #info, tooBig commits and unknown types; every
 * event's cursor is the frame's seq. On -1, *err says why (caller frees) and no events are returned:
 * for an error frame (op -1) frame->name and frame->message are set; for malformed input, what was
 * read before the fault stays in *frame (a seq, to step past the frame). Always firehose_frame_clear. */
int firehose_decode(const void *data, size_t len, firehose_frame *frame, netevent **out, size_t *n,
		    char **err);

/* Free the members of a frame; safe on a zeroed one. */
void firehose_frame_clear(firehose_frame *f);

#endif
