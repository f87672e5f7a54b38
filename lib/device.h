/* device.h - the credential helper's device login (ours, after RFC 8628): pending authorizations (a device
 * code the index knows only by its SHA-256, a user code typed in the browser) and the devices they become
 * (a 256-bit secret each, stored as its SHA-256, revocable). docs/credential-helper.md has the protocol. */
#ifndef ATCR_DEVICE_H
#define ATCR_DEVICE_H
#include <json-c/json.h>
#include <sqlite3.h>

#define DEVICE_CODE_TTL 600       /* seconds a pending authorization lives (auth.device_code_ttl) */
#define DEVICE_POLL_INTERVAL 5    /* seconds the helper waits between polls (auth.device_poll_interval) */
#define DEVICE_PENDING_MAX 1000   /* pending authorizations kept at most */
#define DEVICE_NAME_MAX 64        /* bytes of a device's name */
#define DEVICE_SECRET_PREFIX "atcr_dev_"
#define DEVICE_USER_CODE_SIZE 10  /* "ABCD-EFGH" and its NUL */
/* RFC 8628 section 6.1's alphabet: 20 consonants, so no words and no 0/O, 1/I look-alikes. */
#define DEVICE_USER_CODE_ALPHABET "BCDFGHJKLMNPQRSTVWXZ"

/* ---- pure */

/* A fresh user code: 8 letters of DEVICE_USER_CODE_ALPHABET as "ABCD-EFGH". 0, or -1 without randomness. */
int device_user_code_new(char out[DEVICE_USER_CODE_SIZE]);
/* The canonical form of a typed user code (case, blanks and dashes ignored: " bcdf-ghjk " gives
 * "BCDF-GHJK"). 0, or -1 when it is not 8 letters of the alphabet. */
int device_user_code_normalize(const char *typed, char out[DEVICE_USER_CODE_SIZE]);
/* A fresh device code (43 base64url characters: 256 bits). Caller frees; NULL without randomness. */
char *device_code_new(void);
/* A fresh device secret: DEVICE_SECRET_PREFIX and 43 base64url characters (256 bits). Caller frees. */
char *device_secret_new(void);
/* 1 when s has the shape of a device secret (the prefix, then 43 base64url characters). */
int device_secret_shaped(const char *s);
/* The lower-case hex SHA-256 of a device code or secret: what the index keeps. 256 random bits need no
 * salt or stretching. */
void device_hash(const char *secret, char out[65]);
/* 1 when name may name a device: 1..DEVICE_NAME_MAX bytes of UTF-8 without control characters. */
int device_name_ok(const char *name);

/* The device authorization response: {device_code, user_code, verification_uri (<base_url>/device),
 * verification_uri_complete (...?code=<user_code>), expires_in, interval}. Caller puts. */
json_object *device_code_response(const char *base_url, const char *device_code, const char *user_code,
				  long long expires_in, long long interval);
/* An RFC 8628 / RFC 6749 error body {"error", "error_description" (when not NULL)}. Caller puts. */
json_object *device_error_response(const char *error, const char *description);
/* The token response once approved: {did, handle, device_secret}. Caller puts. */
json_object *device_token_response(const char *did, const char *handle, const char *secret);

/* ---- pending authorizations (table device_codes) */

/* Start an authorization for a device called name (NULL: "unnamed device"), living ttl seconds from now.
 * Expired authorizations are removed first. 0 with *device_code (caller frees) and user_code; 1 when
 * max are already pending (try later); -1 with *err. */
int device_start(sqlite3 *db, const char *name, long long now, long long ttl, int max, char **device_code,
		 char user_code[DEVICE_USER_CODE_SIZE], char **err);

typedef struct {
	char *user_code;
	char *name;
	int state;             /* DEVICE_PENDING, DEVICE_APPROVED, DEVICE_DENIED */
	long long expires_at;
} device_pending;
enum { DEVICE_PENDING = 0, DEVICE_APPROVED = 1, DEVICE_DENIED = 2 };

/* The authorization a user code names, while it has not expired: 1 (out filled; free with
 * device_pending_free), 0 unknown or expired, -1 with *err. */
int device_pending_get(sqlite3 *db, const char *user_code, long long now, device_pending *out, char **err);
void device_pending_free(device_pending *p);
/* Approve (binding it to did, with handle when verified, else NULL) or deny a live, undecided
 * authorization. 1 done, 0 none such (unknown, expired or already decided), -1 with *err. */
int device_decide(sqlite3 *db, const char *user_code, int approve, const char *did, const char *handle,
		  long long now, char **err);

/* What one poll of a device code found. */
typedef enum {
	DEVICE_POLL_ERROR = -1,
	DEVICE_POLL_PENDING,   /* authorization_pending */
	DEVICE_POLL_SLOW_DOWN, /* slow_down: polled sooner than interval after the last poll */
	DEVICE_POLL_DENIED,    /* access_denied (the authorization is gone) */
	DEVICE_POLL_EXPIRED,   /* expired_token (the authorization is gone) */
	DEVICE_POLL_UNKNOWN,   /* invalid_grant: no such device code (or already redeemed) */
	DEVICE_POLL_APPROVED,  /* a device was made: the grant is filled */
} device_poll_result;

typedef struct {
	char *did, *handle; /* handle NULL when none was verified */
	char *secret;       /* the device's secret: shown once, never stored */
	long long id;       /* the devices row */
} device_grant;

/* One poll by the holder of device_code at now_ms (unix milliseconds), in one transaction. An approved
 * authorization becomes a devices row whose secret is in out (free with device_grant_free) and is
 * consumed, so the secret is handed out once. The error text for every result: device_poll_error(). */
device_poll_result device_poll(sqlite3 *db, const char *device_code, long long now_ms, long long interval,
			       device_grant *out, char **err);
/* The RFC 8628 error code of a result that is not APPROVED ("authorization_pending", ...). */
const char *device_poll_error(device_poll_result r);
void device_grant_free(device_grant *g);

/* ---- devices (table devices) */

/* The live device whose secret this is: 1 with *id and *did (caller frees), 0 none (unknown or revoked;
 * also for anything not shaped like a secret), -1 with *err. Compares the stored hash in constant time. */
int device_find(sqlite3 *db, const char *secret, long long *id, char **did, char **err);
/* Note a use of device id at now: last_used_at moves at most once a minute. 0, or -1 with *err. */
int device_touch(sqlite3 *db, long long id, long long now, char **err);
/* did's live devices, newest first: [{id, name, created_at, last_used_at (0: never)}]. Caller puts;
 * NULL with *err. */
json_object *device_list(sqlite3 *db, const char *did, char **err);
/* Revoke device id of did: its secret stops working at once. 1 revoked, 0 no such live device of did,
 * -1 with *err. */
int device_revoke(sqlite3 *db, const char *did, long long id, long long now, char **err);

#endif
