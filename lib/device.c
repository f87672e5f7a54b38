/* device.c - device authorizations and device secrets in the index (see device.h). */
#include "device.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "encoding.h"

#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* ---- pure */

int device_user_code_new(char out[DEVICE_USER_CODE_SIZE])
{
	static const char alphabet[] = DEVICE_USER_CODE_ALPHABET;
	const unsigned n = sizeof alphabet - 1, limit = 256 / n * n; /* no modulo bias */
	unsigned char r[32];
	size_t used = sizeof r, len = 0;
	while (len < 8) {
		if (used == sizeof r) {
			if (crypto_random(r, sizeof r) != 0)
				return -1;
			used = 0;
		}
		unsigned v = r[used++];
		if (v < limit) {
			out[len + (len >= 4)] = alphabet[v % n];
			len++;
		}
	}
	out[4] = '-';
	out[9] = '\0';
	return 0;
}

int device_user_code_normalize(const char *typed, char out[DEVICE_USER_CODE_SIZE])
{
	size_t len = 0;
	for (const unsigned char *p = (const unsigned char *)(typed ? typed : ""); *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '-')
			continue;
		int c = *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p;
		if (len == 8 || !c || !strchr(DEVICE_USER_CODE_ALPHABET, c))
			return -1;
		out[len + (len >= 4)] = (char)c;
		len++;
	}
	if (len != 8)
		return -1;
	out[4] = '-';
	out[9] = '\0';
	return 0;
}

char *device_code_new(void)
{
	unsigned char raw[32];
	if (crypto_random(raw, sizeof raw) != 0)
		return NULL;
	char *s = enc_b64url_encode(raw, sizeof raw);
	memset(raw, 0, sizeof raw);
	return s;
}

char *device_secret_new(void)
{
	char *code = device_code_new(), *secret = code ? buf_strf(DEVICE_SECRET_PREFIX "%s", code) : NULL;
	if (code)
		memset(code, 0, strlen(code));
	free(code);
	return secret;
}

int device_secret_shaped(const char *s)
{
	size_t plen = strlen(DEVICE_SECRET_PREFIX);
	return s && strncmp(s, DEVICE_SECRET_PREFIX, plen) == 0 && strlen(s + plen) == 43 &&
	       strspn(s + plen, B64URL) == 43;
}

void device_hash(const char *secret, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	crypto_sha256(secret, strlen(secret), d);
	for (size_t i = 0; i < sizeof d; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

int device_name_ok(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > DEVICE_NAME_MAX)
		return 0;
	/* UTF-8: lead bytes followed by the right number of continuation bytes; no C0, DEL or C1 controls. */
	for (const unsigned char *p = (const unsigned char *)name; *p;) {
		int extra = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
		if (extra < 0 || *p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0) ||
		    (extra == 1 && *p < 0xc2))
			return 0;
		p++;
		for (int i = 0; i < extra; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

json_object *device_code_response(const char *base_url, const char *device_code, const char *user_code,
				  long long expires_in, long long interval)
{
	json_object *o = json_object_new_object();
	char *uri = buf_strf("%s/device", base_url), *complete = buf_strf("%s/device?code=%s", base_url, user_code);
	if (!o || !uri || !complete) {
		json_object_put(o);
		o = NULL;
		goto out;
	}
	json_object_object_add(o, "device_code", json_object_new_string(device_code));
	json_object_object_add(o, "user_code", json_object_new_string(user_code));
	json_object_object_add(o, "verification_uri", json_object_new_string(uri));
	json_object_object_add(o, "verification_uri_complete", json_object_new_string(complete));
	json_object_object_add(o, "expires_in", json_object_new_int64(expires_in));
	json_object_object_add(o, "interval", json_object_new_int64(interval));
out:
	free(uri);
	free(complete);
	return o;
}

json_object *device_error_response(const char *error, const char *description)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "error", json_object_new_string(error));
	if (description)
		json_object_object_add(o, "error_description", json_object_new_string(description));
	return o;
}

json_object *device_token_response(const char *did, const char *handle, const char *secret)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "did", json_object_new_string(did));
	json_object_object_add(o, "handle", json_object_new_string(handle ? handle : did));
	json_object_object_add(o, "device_secret", json_object_new_string(secret));
	return o;
}

/* ---- pending authorizations */

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? strdup((const char *)s) : NULL;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Remove authorizations that expired, and count those left. -1 with *err. */
static long long pending_sweep(sqlite3 *db, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "DELETE FROM device_codes WHERE expires_at <= ?", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "removing expired device codes");
	if (!(st = db_prepare_err(db, "SELECT count(*) FROM device_codes", err)))
		return -1;
	long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (n < 0)
		db_fail(db, err, "counting device codes");
	return n;
}

int device_start(sqlite3 *db, const char *name, long long now, long long ttl, int max, char **device_code,
		 char user_code[DEVICE_USER_CODE_SIZE], char **err)
{
	char hash[65];
	int rc = -1;
	*device_code = NULL;
	long long pending = pending_sweep(db, now, err);
	if (pending < 0)
		return -1;
	if (pending >= max)
		return 1;
	sqlite3_stmt *st = db_prepare_err(db, "INSERT INTO device_codes (code_hash, user_code, name, state, created_at, "
					      "expires_at) VALUES (?, ?, ?, 0, ?, ?)", err);
	if (!st)
		return -1;
	/* A user code already pending is drawn again (20^8 codes, at most max pending: rare). */
	for (int attempt = 0; attempt < 8 && rc != 0; attempt++) {
		free(*device_code);
		if (!(*device_code = device_code_new()) || device_user_code_new(user_code) != 0) {
			buf_error(err, "no random values for a device code");
			break;
		}
		device_hash(*device_code, hash);
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, user_code, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, name ? name : "unnamed device", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, now + ttl);
		int step = sqlite3_step(st);
		sqlite3_reset(st);
		if (step == SQLITE_DONE)
			rc = 0;
		else if ((step & 0xff) != SQLITE_CONSTRAINT) {
			db_fail(db, err, "storing a device code");
			break;
		}
	}
	if (rc != 0) {
		if (err && !*err)
			buf_error(err, "no free user code");
		free(*device_code);
		*device_code = NULL;
	}
	return rc;
}

int device_pending_get(sqlite3 *db, const char *user_code, long long now, device_pending *out, char **err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = db_prepare_err(db, "SELECT user_code, name, state, expires_at FROM device_codes "
					      "WHERE user_code = ? AND expires_at > ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, user_code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->user_code = col_dup(st, 0);
		out->name = col_dup(st, 1);
		out->state = sqlite3_column_int(st, 2);
		out->expires_at = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, "reading a device code");
}

void device_pending_free(device_pending *p)
{
	free(p->user_code);
	free(p->name);
	memset(p, 0, sizeof *p);
}

int device_decide(sqlite3 *db, const char *user_code, int approve, const char *did, const char *handle,
		  long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "UPDATE device_codes SET state = ?, did = ?, handle = ?, decided_at = ? "
					      "WHERE user_code = ? AND state = 0 AND expires_at > ?", err);
	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, approve ? DEVICE_APPROVED : DEVICE_DENIED);
	sqlite3_bind_text(st, 2, did, -1, SQLITE_STATIC);
	bind_opt(st, 3, approve ? handle : NULL);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, user_code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "deciding a device code");
	return sqlite3_changes(db) == 1;
}

const char *device_poll_error(device_poll_result r)
{
	switch (r) {
	case DEVICE_POLL_PENDING:
		return "authorization_pending";
	case DEVICE_POLL_SLOW_DOWN:
		return "slow_down";
	case DEVICE_POLL_DENIED:
		return "access_denied";
	case DEVICE_POLL_EXPIRED:
		return "expired_token";
	case DEVICE_POLL_UNKNOWN:
		return "invalid_grant";
	case DEVICE_POLL_APPROVED:
		return NULL;
	case DEVICE_POLL_ERROR:
		break;
	}
	return "server_error";
}

void device_grant_free(device_grant *g)
{
	free(g->did);
	free(g->handle);
	if (g->secret)
		memset(g->secret, 0, strlen(g->secret));
	free(g->secret);
	memset(g, 0, sizeof *g);
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, char **err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, what);
}

/* Turn the approved authorization code_hash into a devices row with a fresh secret (inside the poll's
 * transaction). 0, or -1 with *err. */
static int redeem(sqlite3 *db, const char *code_hash, const char *name, long long now, device_grant *g, char **err)
{
	char hash[65];
	if (!(g->secret = device_secret_new()))
		return buf_error(err, "no random values for a device secret");
	device_hash(g->secret, hash);
	sqlite3_stmt *st = db_prepare_err(db, "INSERT INTO devices (did, name, secret_hash, created_at) "
					      "VALUES (?, ?, ?, ?)", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, g->did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (step_done(db, st, "storing a device", err) != 0)
		return -1;
	g->id = (long long)sqlite3_last_insert_rowid(db);
	if (!(st = db_prepare_err(db, "DELETE FROM device_codes WHERE code_hash = ?", err)))
		return -1;
	sqlite3_bind_text(st, 1, code_hash, -1, SQLITE_STATIC);
	return step_done(db, st, "consuming a device code", err);
}

device_poll_result device_poll(sqlite3 *db, const char *device_code, long long now_ms, long long interval,
			       device_grant *out, char **err)
{
	char hash[65];
	char *name = NULL;
	device_poll_result r = DEVICE_POLL_ERROR;
	long long now = now_ms / 1000;
	memset(out, 0, sizeof *out);
	device_hash(device_code, hash);
	if (db_exec(db, "BEGIN IMMEDIATE", err) != 0)
		return DEVICE_POLL_ERROR;
	sqlite3_stmt *st = db_prepare_err(db, "SELECT state, did, handle, name, expires_at, last_poll_ms "
					      "FROM device_codes WHERE code_hash = ?", err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int state = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	long long expires_at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 4) : 0;
	long long last_ms = rc == SQLITE_ROW ? sqlite3_column_int64(st, 5) : 0;
	if (rc == SQLITE_ROW) {
		out->did = col_dup(st, 1);
		out->handle = col_dup(st, 2);
		name = col_dup(st, 3);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			r = DEVICE_POLL_UNKNOWN;
		else
			db_fail(db, err, "reading a device code");
		goto out;
	}
	if (now >= expires_at || state == DEVICE_DENIED) {
		/* answered once; the next poll finds nothing (invalid_grant) */
		if (!(st = db_prepare_err(db, "DELETE FROM device_codes WHERE code_hash = ?", err)))
			goto out;
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		if (step_done(db, st, "removing a device code", err) == 0)
			r = now >= expires_at ? DEVICE_POLL_EXPIRED : DEVICE_POLL_DENIED;
		goto out;
	}
	if (state == DEVICE_APPROVED) {
		if (redeem(db, hash, name, now, out, err) == 0)
			r = DEVICE_POLL_APPROVED;
		goto out;
	}
	/* Pending. Half a second of slack: the client times its wait from our previous answer. */
	int too_soon = last_ms > 0 && now_ms - last_ms < interval * 1000 - 500;
	if (!(st = db_prepare_err(db, "UPDATE device_codes SET last_poll_ms = ? WHERE code_hash = ?", err)))
		goto out;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	if (step_done(db, st, "noting a poll", err) == 0)
		r = too_soon ? DEVICE_POLL_SLOW_DOWN : DEVICE_POLL_PENDING;
out:
	if (r != DEVICE_POLL_ERROR && db_exec(db, "COMMIT", err) != 0)
		r = DEVICE_POLL_ERROR;
	if (r == DEVICE_POLL_ERROR) {
		char *ignored = NULL;
		db_exec(db, "ROLLBACK", &ignored);
		free(ignored);
	}
	if (r != DEVICE_POLL_APPROVED)
		device_grant_free(out);
	free(name);
	return r;
}

/* ---- devices */

int device_find(sqlite3 *db, const char *secret, long long *id, char **did, char **err)
{
	char hash[65];
	*did = NULL;
	if (!device_secret_shaped(secret))
		return 0;
	device_hash(secret, hash);
	sqlite3_stmt *st = db_prepare_err(db, "SELECT id, did, secret_hash FROM devices "
					      "WHERE secret_hash = ? AND revoked_at IS NULL", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		const char *stored = (const char *)sqlite3_column_text(st, 2);
		/* The lookup used the hash; the final word is a constant-time comparison of it. */
		found = stored && strlen(stored) == 64 && crypto_memeq(stored, hash, 64);
		if (found) {
			*id = sqlite3_column_int64(st, 0);
			*did = col_dup(st, 1);
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, err, "looking up a device");
	if (found && !*did)
		return buf_error(err, "out of memory");
	return found;
}

int device_touch(sqlite3 *db, long long id, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "UPDATE devices SET last_used_at = ? "
					      "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, now - 60);
	return step_done(db, st, "noting a device's use", err);
}

json_object *device_list(sqlite3 *db, const char *did, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "SELECT id, name, created_at, coalesce(last_used_at, 0) FROM devices "
					      "WHERE did = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC", err);
	if (!st)
		return NULL;
	json_object *list = json_object_new_array();
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	int rc = SQLITE_DONE;
	while (list && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "id", json_object_new_int64(sqlite3_column_int64(st, 0)));
		json_object_object_add(d, "name", json_object_new_string((const char *)sqlite3_column_text(st, 1)));
		json_object_object_add(d, "created_at", json_object_new_int64(sqlite3_column_int64(st, 2)));
		json_object_object_add(d, "last_used_at", json_object_new_int64(sqlite3_column_int64(st, 3)));
		json_object_array_add(list, d);
	}
	sqlite3_reset(st);
	if (list && rc != SQLITE_DONE) {
		json_object_put(list);
		db_fail(db, err, "listing devices");
		return NULL;
	}
	if (!list)
		buf_error(err, "out of memory");
	return list;
}

int device_revoke(sqlite3 *db, const char *did, long long id, long long now, char **err)
{
	sqlite3_stmt *st = db_prepare_err(db, "UPDATE devices SET revoked_at = ? "
					      "WHERE id = ? AND did = ? AND revoked_at IS NULL", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_text(st, 3, did, -1, SQLITE_STATIC);
	if (step_done(db, st, "revoking a device", err) != 0)
		return -1;
	return sqlite3_changes(db) == 1;
}
