/* firehose.c - com.atproto.sync.subscribeRepos frames into netevents. The header and body are decoded
 * into the data model's JSON form (links {"$link"}, bytes {"$bytes"}) and read from there. */
#include "firehose.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonget.h"
#include "car.h"
#include "dagcbor.h"
#include "encoding.h"
#include "syntax.h"

/* One DAG-CBOR item at the start of p; *used says where it ended. */
static json_object *decode_item(const unsigned char *p, size_t len, size_t *used, const char *what, char **err)
{
	char *derr = NULL;
	json_object *o = NULL;
	if (dagcbor_item_size(p, len, used, &derr) == 0)
		o = dagcbor_decode(p, *used, &derr);
	if (!o)
		buf_error(err, "firehose frame %s: %s", what, derr ? derr : "not DAG-CBOR");
	free(derr);
	return o;
}

/* The CID string of a {"$link"} field; NULL when missing, null or not a link. */
static const char *link(json_object *o, const char *key)
{
	json_object *v = jsonget(o, key, json_type_object);
	return v && json_object_object_length(v) == 1 ? jsonget_str(v, "$link") : NULL;
}

/* seq and the account's DID, which every event-bearing message has. */
static int read_seq_did(json_object *body, const char *t, firehose_frame *f, const char *did_key, char **err)
{
	json_object *seq = jsonget(body, "seq", json_type_int);
	if (!seq || json_object_get_int64(seq) < 0)
		return buf_error(err, "%s: seq is missing or not a non-negative integer", t);
	f->seq = json_object_get_int64(seq);
	const char *did = jsonget_str(body, did_key);
	if (!syntax_did_ok(did))
		return buf_error(err, "%s: %s is missing or not a DID", t, did_key);
	f->did = strdup(did);
	return f->did ? 0 : buf_error(err, "out of memory");
}

static int read_rev(json_object *body, const char *t, firehose_frame *f, char **err)
{
	const char *rev = jsonget_str(body, "rev");
	if (!rev)
		return buf_error(err, "%s: rev is missing or not text", t);
	f->rev = strdup(rev);
	return f->rev ? 0 : buf_error(err, "out of memory");
}

/* The record an op names, from the commit's CAR. */
static json_object *op_record(const car_t *car, const char *cidstr, size_t i, char **err)
{
	cid_t cid;
	size_t used;
	char *derr = NULL;
	json_object *rec = NULL;
	if (cid_parse(cidstr, &cid) < 0) {
		buf_error(err, "#commit: op %zu has a malformed cid", i);
		return NULL;
	}
	const car_block *b = car_get(car, &cid);
	if (!b) {
		buf_error(err, "#commit: op %zu: block %s is not in the commit's CAR", i, cidstr);
		return NULL;
	}
	if (dagcbor_item_size(b->data, b->len, &used, &derr) == 0 && used == b->len)
		rec = dagcbor_decode(b->data, b->len, &derr);
	if (!rec)
		buf_error(err, "#commit: op %zu: record %s is not a DAG-CBOR map: %s", i, cidstr,
			  derr ? derr : "trailing bytes");
	free(derr);
	return rec;
}

/* One op ({action, path, cid}) into e. */
static int decode_op(json_object *op, size_t i, const car_t *car, const firehose_frame *f, netevent *e,
		     char **err)
{
	if (!json_object_is_type(op, json_type_object))
		return buf_error(err, "#commit: op %zu is not an object", i);
	const char *action = jsonget_str(op, "action"), *path = jsonget_str(op, "path"), *cid = link(op, "cid");
	if (!action || !path)
		return buf_error(err, "#commit: op %zu has no action or path text", i);
	if (strcmp(action, "create") == 0)
		e->op = NETEVENT_CREATE;
	else if (strcmp(action, "update") == 0)
		e->op = NETEVENT_UPDATE;
	else if (strcmp(action, "delete") == 0)
		e->op = NETEVENT_DELETE;
	else
		return buf_error(err, "#commit: op %zu has an unknown action \"%s\"", i, action);
	const char *slash = strchr(path, '/');
	e->kind = NETEVENT_COMMIT;
	e->cursor = f->seq;
	e->did = strdup(f->did);
	e->collection = slash ? strndup(path, (size_t)(slash - path)) : NULL;
	e->rkey = slash ? strdup(slash + 1) : NULL;
	if (!e->did || !e->collection || !e->rkey || !syntax_nsid_ok(e->collection) || !syntax_rkey_ok(e->rkey))
		return buf_error(err, "#commit: op %zu has a malformed path \"%s\"", i, path);
	if (e->op == NETEVENT_DELETE)
		return 0;
	if (!cid)
		return buf_error(err, "#commit: op %zu (%s) has no cid link", i, action);
	e->cid = strdup(cid);
	e->record = op_record(car, cid, i, err);
	return e->cid && e->record ? 0 : -1;
}

static int decode_commit(json_object *body, firehose_frame *f, netevent **out, size_t *n, char **err)
{
	json_object *ops = jsonget(body, "ops", json_type_array), *blocks = jsonget(body, "blocks", json_type_object);
	unsigned char *raw = NULL;
	size_t rawlen = 0, nops = 0;
	car_t car = {0};
	netevent *ev = NULL;
	int rc = -1;
	if (read_seq_did(body, "#commit", f, "repo", err) < 0 || read_rev(body, "#commit", f, err) < 0)
		goto out;
	if (!jsonget_optional_ok(body, "tooBig", json_type_boolean)) {
		buf_error(err, "#commit: tooBig is not a boolean");
		goto out;
	}
	f->too_big = json_object_get_boolean(jsonget(body, "tooBig", json_type_boolean));
	if (f->too_big) {
		rc = 0; /* the records are not here: the caller fetches the repository */
		goto out;
	}
	const char *b64 = blocks && json_object_object_length(blocks) == 1 ? jsonget_str(blocks, "$bytes") : NULL;
	if (!ops || !b64) {
		buf_error(err, "#commit: ops or blocks is missing or of the wrong type");
		goto out;
	}
	if (enc_b64_decode(b64, strlen(b64), &raw, &rawlen) < 0 || car_parse(raw, rawlen, &car, err) < 0) {
		char *why = err ? *err : NULL; /* buf_error frees *err: take the CAR's reason out first */
		if (err)
			*err = NULL;
		buf_error(err, "#commit: blocks: %s", why ? why : "not base64");
		free(why);
		goto out;
	}
	nops = json_object_array_length(ops);
	ev = calloc(nops ? nops : 1, sizeof *ev);
	if (!ev) {
		buf_error(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nops; i++)
		if (decode_op(json_object_array_get_idx(ops, i), i, &car, f, &ev[i], err) < 0)
			goto out;
	*out = ev;
	*n = nops;
	ev = NULL;
	rc = 0;
out:
	netevent_free_all(ev, nops);
	car_free(&car);
	free(raw);
	return rc;
}

/* A single event for #identity or #account. */
static int one_event(netevent *e, netevent **out, size_t *n, char **err)
{
	*out = malloc(sizeof *e);
	if (!*out) {
		netevent_clear(e);
		return buf_error(err, "out of memory");
	}
	**out = *e;
	*n = 1;
	return 0;
}

static int decode_identity(json_object *body, firehose_frame *f, netevent **out, size_t *n, char **err)
{
	netevent e = {.kind = NETEVENT_IDENTITY};
	if (read_seq_did(body, "#identity", f, "did", err) < 0)
		return -1;
	if (!jsonget_optional_ok(body, "handle", json_type_string))
		return buf_error(err, "#identity: handle is not text");
	const char *handle = jsonget_str(body, "handle");
	if (handle && !(e.handle = syntax_handle_normalize(handle)))
		return buf_error(err, "#identity: \"%s\" is not a handle", handle);
	e.did = strdup(f->did);
	e.cursor = f->seq;
	if (!e.did) {
		netevent_clear(&e);
		return buf_error(err, "out of memory");
	}
	return one_event(&e, out, n, err);
}

static int decode_account(json_object *body, firehose_frame *f, netevent **out, size_t *n, char **err)
{
	netevent e = {.kind = NETEVENT_ACCOUNT};
	if (read_seq_did(body, "#account", f, "did", err) < 0)
		return -1;
	json_object *active = jsonget(body, "active", json_type_boolean);
	if (!active)
		return buf_error(err, "#account: active is missing or not a boolean");
	if (!jsonget_optional_ok(body, "status", json_type_string))
		return buf_error(err, "#account: status is not text");
	const char *status = jsonget_str(body, "status");
	e.active = json_object_get_boolean(active);
	e.did = strdup(f->did);
	e.status = status ? strdup(status) : NULL;
	e.cursor = f->seq;
	if (!e.did || (status && !e.status)) {
		netevent_clear(&e);
		return buf_error(err, "out of memory");
	}
	return one_event(&e, out, n, err);
}

/* #info and error frames: a name and an optional message. */
static int read_name(json_object *body, const char *key, firehose_frame *f, char **err)
{
	const char *name = jsonget_str(body, key), *message = jsonget_str(body, "message");
	if (!name || !jsonget_optional_ok(body, "message", json_type_string))
		return buf_error(err, "%s frame: %s is missing or not text, or message is not text",
				 f->type ? f->type : "error", key);
	f->name = strdup(name);
	f->message = message ? strdup(message) : NULL;
	return f->name && (!message || f->message) ? 0 : buf_error(err, "out of memory");
}

static int decode_message(json_object *body, firehose_frame *f, netevent **out, size_t *n, char **err)
{
	if (strcmp(f->type, "#commit") == 0)
		return decode_commit(body, f, out, n, err);
	if (strcmp(f->type, "#identity") == 0)
		return decode_identity(body, f, out, n, err);
	if (strcmp(f->type, "#account") == 0)
		return decode_account(body, f, out, n, err);
	if (strcmp(f->type, "#sync") == 0)
		return read_seq_did(body, "#sync", f, "did", err) < 0 ? -1 : read_rev(body, "#sync", f, err);
	if (strcmp(f->type, "#info") == 0)
		return read_name(body, "name", f, err);
	return 0; /* a message type newer than us: skipped, as the event-stream spec asks */
}

int firehose_decode(const void *data, size_t len, firehose_frame *frame, netevent **out, size_t *n,
		    char **err)
{
	const unsigned char *p = data;
	json_object *hdr = NULL, *body = NULL;
	size_t hlen = 0, blen = 0;
	int rc = -1;
	memset(frame, 0, sizeof *frame);
	*out = NULL;
	*n = 0;
	if (!data || len == 0)
		return buf_error(err, "empty firehose frame");
	if (!(hdr = decode_item(p, len, &hlen, "header", err)) ||
	    !(body = decode_item(p + hlen, len - hlen, &blen, "body", err)))
		goto out;
	if (hlen + blen != len) {
		buf_error(err, "firehose frame: %zu bytes after the body", len - hlen - blen);
		goto out;
	}
	json_object *op = jsonget(hdr, "op", json_type_int);
	if (!op) {
		buf_error(err, "firehose frame header without an integer op");
		goto out;
	}
	if (json_object_get_int64(op) == -1) {
		if (read_name(body, "error", frame, err) == 0)
			buf_error(err, "error frame: %s%s%s", frame->name, frame->message ? ": " : "",
				  frame->message ? frame->message : "");
		goto out;
	}
	if (json_object_get_int64(op) != 1) {
		buf_error(err, "firehose frame with unknown op %lld", (long long)json_object_get_int64(op));
		goto out;
	}
	const char *t = jsonget_str(hdr, "t");
	if (!t) {
		buf_error(err, "firehose message frame without a type (t)");
		goto out;
	}
	if (!(frame->type = strdup(t))) {
		buf_error(err, "out of memory");
		goto out;
	}
	rc = decode_message(body, frame, out, n, err);
out:
	json_object_put(hdr);
	json_object_put(body);
	return rc;
}

void firehose_frame_clear(firehose_frame *f)
{
	free(f->type);
	free(f->did);
	free(f->rev);
	free(f->name);
	free(f->message);
	memset(f, 0, sizeof *f);
}
