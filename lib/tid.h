/* tid.h - atproto TIDs: 13-char base32-sortable timestamp identifiers with a monotonic generator. */
#ifndef ATCR_TID_H
#define ATCR_TID_H

/* Encode microseconds since the epoch (53 bits used) and a clock id (0..1023, masked) as 13 chars + NUL. */
void tid_encode(unsigned long long micros, unsigned clock_id, char out[14]);
/* Decode a TID; returns 0, or -1 if it is not valid TID syntax. Either out-pointer may be NULL. */
int tid_decode(const char *tid, unsigned long long *micros, unsigned *clock_id);
/* Next TID: strictly greater than any previous one returned by this process (thread-safe), from the
 * current time in microseconds and a random clock id chosen once per process. */
void tid_next(char out[14]);

#endif
