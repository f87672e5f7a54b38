/* netevent.c - network events: freeing them, and decoding Jetstream v1 messages into them. */
#include "netevent.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonget.h"
#include "cid.h"
#include "syntax.h"

#define JSON_MAX_DEPTH 64

void netevent_clear(netevent *e)
{
	free(e->did);
	free(e->collection);
	free(e->rkey);
	free(e->cid);
	json_object_put(e->record);
	free(e->handle);
	free(e->status);
	memset(e, 0, sizeof *e);
}

void netevent_free_all(netevent *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		netevent_clear(&v[i]);
	free(v);
}

static int dup_into(char **dst, const char *s, char **err)
{
	*dst = strdup(s);
	return *dst ? 0 : buf_error(err, "out of memory");
}

static int decode_commit(json_object *msg, netevent *e, char **err)
{
	json_object *c = jsonget(msg, "commit", json_type_object);
	if (!c)
		return buf_error(err, "jetstream commit: commit is missing or not an object");
	const char *rev = jsonget_str(c, "rev"), *op = jsonget_str(c, "operation"), *coll = jsonget_str(c, "collection"),
		   *rkey = jsonget_str(c, "rkey");
	if (!rev || !op || !coll || !rkey)
		return buf_error(err, "jetstream commit: rev, operation, collection or rkey is missing or not text");
	if (strcmp(op, "create") == 0)
		e->op = NETEVENT_CREATE;
	else if (strcmp(op, "update") == 0)
		e->op = NETEVENT_UPDATE;
	else if (strcmp(op, "delete") == 0)
		e->op = NETEVENT_DELETE;
	else
		return buf_error(err, "jetstream commit: unknown operation \"%s\"", op);
	if (!syntax_nsid_ok(coll))
		return buf_error(err, "jetstream commit: \"%s\" is not an NSID", coll);
	if (!syntax_rkey_ok(rkey))
		return buf_error(err, "jetstream commit: \"%s\" is not a record key", rkey);
	e->kind = NETEVENT_COMMIT;
	if (dup_into(&e->collection, coll, err) < 0 || dup_into(&e->rkey, rkey, err) < 0)
		return -1;
	if (e->op == NETEVENT_DELETE)
		return 0;
	json_object *record = jsonget(c, "record", json_type_object);
	const char *cid = jsonget_str(c, "cid");
	cid_t parsed;
	if (!record)
		return buf_error(err, "jetstream commit: a %s without a record object", op);
	if (!cid || cid_parse(cid, &parsed) < 0)
		return buf_error(err, "jetstream commit: a %s without a valid cid", op);
	if (dup_into(&e->cid, cid, err) < 0)
		return -1;
	e->record = json_object_get(record);
	return 0;
}

static int decode_identity(json_object *msg, netevent *e, char **err)
{
	json_object *id = jsonget(msg, "identity", json_type_object);
	if (!id)
		return buf_error(err, "jetstream identity: identity is missing or not an object");
	if (!jsonget_optional_ok(id, "did", json_type_string) || !jsonget_optional_ok(id, "handle", json_type_string))
		return buf_error(err, "jetstream identity: did or handle is not text");
	const char *did = jsonget_str(id, "did"), *handle = jsonget_str(id, "handle");
	if (did && strcmp(did, e->did) != 0)
		return buf_error(err, "jetstream identity: names %s in a message about %s", did, e->did);
	e->kind = NETEVENT_IDENTITY;
	if (handle && !(e->handle = syntax_handle_normalize(handle)))
		return buf_error(err, "jetstream identity: \"%s\" is not a handle", handle);
	return 0;
}

static int decode_account(json_object *msg, netevent *e, char **err)
{
	json_object *acct = jsonget(msg, "account", json_type_object);
	if (!acct)
		return buf_error(err, "jetstream account: account is missing or not an object");
	json_object *active = jsonget(acct, "active", json_type_boolean);
	if (!active)
		return buf_error(err, "jetstream account: active is missing or not a boolean");
	if (!jsonget_optional_ok(acct, "did", json_type_string) || !jsonget_optional_ok(acct, "status", json_type_string))
		return buf_error(err, "jetstream account: did or status is not text");
	const char *did = jsonget_str(acct, "did"), *status = jsonget_str(acct, "status");
	if (did && strcmp(did, e->did) != 0)
		return buf_error(err, "jetstream account: names %s in a message about %s", did, e->did);
	e->kind = NETEVENT_ACCOUNT;
	e->active = json_object_get_boolean(active);
	return status ? dup_into(&e->status, status, err) : 0;
}

static json_object *parse_json(const char *json, size_t len, char **err)
{
	json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	json_object *o = NULL;
	if (!tok) {
		buf_error(err, "out of memory");
		return NULL;
	}
	if (len > (size_t)INT32_MAX) {
		buf_error(err, "jetstream message too large");
		goto out;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		buf_error(err, "jetstream message is not JSON: %s",
			  json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		o = NULL;
		goto out;
	}
	/* one JSON value, nothing after it but white space */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r\n", json[i])) {
			buf_error(err, "jetstream message: bytes after the JSON value");
			json_object_put(o);
			o = NULL;
			goto out;
		}
out:
	json_tokener_free(tok);
	return o;
}

int netevent_from_jetstream(const char *json, size_t len, netevent **out, size_t *n, long long *cursor,
			    char **err)
{
	netevent e = {0};
	int rc = -1;
	*out = NULL;
	*n = 0;
	json_object *msg = parse_json(json, len, err);
	if (!msg)
		return -1;
	json_object *time_us = jsonget(msg, "time_us", json_type_int);
	const char *did = jsonget_str(msg, "did"), *kind = jsonget_str(msg, "kind");
	if (!json_object_is_type(msg, json_type_object)) {
		buf_error(err, "jetstream message is not a JSON object");
		goto out;
	}
	if (!time_us || json_object_get_int64(time_us) < 0) {
		buf_error(err, "jetstream message: time_us is missing or not a non-negative integer");
		goto out;
	}
	*cursor = json_object_get_int64(time_us);
	if (!syntax_did_ok(did)) {
		buf_error(err, "jetstream message: did is missing or not a DID");
		goto out;
	}
	if (!kind) {
		buf_error(err, "jetstream message: kind is missing or not text");
		goto out;
	}
	if (dup_into(&e.did, did, err) < 0)
		goto out;
	e.cursor = *cursor;
	int known = 1;
	if (strcmp(kind, "commit") == 0)
		rc = decode_commit(msg, &e, err);
	else if (strcmp(kind, "identity") == 0)
		rc = decode_identity(msg, &e, err);
	else if (strcmp(kind, "account") == 0)
		rc = decode_account(msg, &e, err);
	else
		rc = known = 0; /* a kind newer than us: nothing to apply, but the cursor moves on */
	if (rc < 0 || !known)
		goto out;
	if (!(*out = malloc(sizeof e))) {
		rc = buf_error(err, "out of memory");
		goto out;
	}
	**out = e;
	*n = 1;
	memset(&e, 0, sizeof e);
out:
	netevent_clear(&e);
	json_object_put(msg);
	return rc;
}
