/* syntax.h - atproto identifier syntax: handle, DID, NSID, record key, TID, AT-URI, datetime,
 * at-identifier, CID; each check returns 1 when the string is valid and 0 otherwise (also for NULL). */
#ifndef ATCR_SYNTAX_H
#define ATCR_SYNTAX_H

int syntax_handle_ok(const char *s);
int syntax_did_ok(const char *s);
int syntax_nsid_ok(const char *s);
int syntax_rkey_ok(const char *s);
int syntax_tid_ok(const char *s);
int syntax_aturi_ok(const char *s);
/* The atproto datetime profile of RFC 3339 (upper-case T, seconds, a Z or +hh:mm offset, not -00:00). */
int syntax_datetime_ok(const char *s);
/* A handle or a DID. */
int syntax_atidentifier_ok(const char *s);
/* The shape of a multibase CID string (8..256 of [A-Za-z0-9+=]; the legacy CIDv0 "Qm..." refused). */
int syntax_cid_ok(const char *s);
/* Normalise a handle to lower case into a new string (caller frees); NULL if invalid. */
char *syntax_handle_normalize(const char *s);

#endif
