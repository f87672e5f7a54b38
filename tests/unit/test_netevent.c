/* test_netevent.c - Jetstream v1 messages into netevents: the documented message shapes and every
 * malformed case (firehose/jetstream.json), and agreement with the firehose decoder on the frames
 * recorded from the reference PDS (firehose/frames.json), as a Jetstream built from them would send. */
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "firehose.h"
#include "netevent.h"
#include "tap.h"

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static const char *kind_name(netevent_kind k)
{
	return k == NETEVENT_COMMIT ? "commit" : k == NETEVENT_IDENTITY ? "identity" : "account";
}

static const char *op_name(netevent_op op)
{
	return op == NETEVENT_CREATE ? "create" : op == NETEVENT_UPDATE ? "update" : "delete";
}

/* The event against its expected JSON form ({kind, did, op, collection, rkey, cid, record, handle,
 * active, status}; absent members are expected NULL / false). */
static void check_event(const netevent *e, json_object *want, const char *note)
{
	json_object *rec = NULL, *active = NULL;
	is_str(kind_name(e->kind), str(want, "kind"), "%s: kind", note);
	is_str(e->did, str(want, "did"), "%s: did", note);
	if (e->kind == NETEVENT_COMMIT) {
		is_str(op_name(e->op), str(want, "op"), "%s: operation", note);
		is_str(e->collection, str(want, "collection"), "%s: collection", note);
		is_str(e->rkey, str(want, "rkey"), "%s: rkey", note);
		is_str(e->cid, str(want, "cid"), "%s: cid", note);
		json_object_object_get_ex(want, "record", &rec);
		ok(rec ? e->record && json_object_equal(e->record, rec) : !e->record, "%s: record", note);
	}
	if (e->kind == NETEVENT_IDENTITY)
		is_str(e->handle, str(want, "handle"), "%s: handle", note);
	if (e->kind == NETEVENT_ACCOUNT) {
		json_object_object_get_ex(want, "active", &active);
		is_int(e->active, json_object_get_boolean(active), "%s: active", note);
		is_str(e->status, str(want, "status"), "%s: status", note);
	}
}

static void vectors(void)
{
	json_object *all = json_object_from_file(vector_path("firehose/jetstream.json"));
	size_t good = 0, bad = 0;
	ok(all && json_object_array_length(all) > 40, "jetstream.json loads");
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *v = json_object_array_get_idx(all, i), *msg, *want, *cursor;
		const char *note = str(v, "note");
		const char *text = str(v, "raw");
		if (!text && json_object_object_get_ex(v, "message", &msg))
			text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
		netevent *ev = NULL;
		size_t n = 99;
		long long cur = -1;
		char *err = NULL;
		int rc = netevent_from_jetstream(text, strlen(text), &ev, &n, &cur, &err);
		if (json_object_object_get_ex(v, "error", NULL)) {
			bad++;
			ok(rc == -1 && err && *err && !ev && n == 0, "refused: %s (%s)", note, err ? err : "no error");
		} else {
			good++;
			json_object_object_get_ex(v, "events", &want);
			json_object_object_get_ex(v, "cursor", &cursor);
			ok(rc == 0, "decodes: %s (%s)", note, err ? err : "");
			is_int(cur, json_object_get_int64(cursor), "%s: cursor", note);
			is_int(n, json_object_array_length(want), "%s: event count", note);
			for (size_t k = 0; rc == 0 && k < n && k < json_object_array_length(want); k++) {
				is_int(ev[k].cursor, cur, "%s: the event carries the cursor", note);
				check_event(&ev[k], json_object_array_get_idx(want, k), note);
			}
		}
		netevent_free_all(ev, n);
		free(err);
	}
	ok(good >= 10 && bad >= 30, "%zu good and %zu malformed messages", good, bad);
	json_object_put(all);
}

/* The Jetstream message a Jetstream would make of one op of a recorded #commit. */
static json_object *jetstream_of(json_object *body, json_object *op, json_object *records)
{
	json_object *msg = json_object_new_object(), *c = json_object_new_object(), *cid, *rec;
	const char *path = str(op, "path"), *slash = strchr(path, '/');
	json_object_object_add(msg, "did", json_object_new_string(str(body, "repo")));
	json_object_object_add(msg, "time_us", json_object_get(json_object_object_get(body, "seq")));
	json_object_object_add(msg, "kind", json_object_new_string("commit"));
	json_object_object_add(c, "rev", json_object_new_string(str(body, "rev")));
	json_object_object_add(c, "operation", json_object_new_string(str(op, "action")));
	json_object_object_add(c, "collection", json_object_new_string_len(path, (int)(slash - path)));
	json_object_object_add(c, "rkey", json_object_new_string(slash + 1));
	if (json_object_object_get_ex(op, "cid", &cid) && cid) {
		const char *s = str(cid, "$link");
		json_object_object_add(c, "cid", json_object_new_string(s));
		if (json_object_object_get_ex(records, s, &rec))
			json_object_object_add(c, "record", json_object_get(rec));
	}
	json_object_object_add(msg, "commit", c);
	return msg;
}

static int same_event(const netevent *a, const netevent *b)
{
	return a->kind == b->kind && a->op == b->op && a->cursor == b->cursor && strcmp(a->did, b->did) == 0 &&
	       strcmp(a->collection, b->collection) == 0 && strcmp(a->rkey, b->rkey) == 0 &&
	       (a->cid && b->cid ? strcmp(a->cid, b->cid) == 0 : a->cid == b->cid) &&
	       (a->record && b->record ? json_object_equal(a->record, b->record) : a->record == b->record);
}

static void agrees_with_firehose(void)
{
	json_object *all = json_object_from_file(vector_path("firehose/frames.json"));
	size_t compared = 0;
	ok(all != NULL, "frames.json loads");
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *f = json_object_array_get_idx(all, i), *hdr, *body, *ops, *records = NULL;
		json_object_object_get_ex(f, "header", &hdr);
		json_object_object_get_ex(f, "body", &body);
		if (!str(hdr, "t") || strcmp(str(hdr, "t"), "#commit") != 0)
			continue;
		json_object_object_get_ex(body, "ops", &ops);
		json_object_object_get_ex(f, "records", &records);
		unsigned char *raw = NULL;
		size_t rawlen = 0, n = 0;
		const char *b64 = str(f, "frame");
		enc_b64_decode(b64, strlen(b64), &raw, &rawlen);
		firehose_frame fr;
		netevent *fev = NULL;
		char *err = NULL;
		ok(firehose_decode(raw, rawlen, &fr, &fev, &n, &err) == 0, "%s decodes as a frame", str(f, "name"));
		for (size_t k = 0; k < n && k < json_object_array_length(ops); k++) {
			json_object *msg = jetstream_of(body, json_object_array_get_idx(ops, k), records);
			const char *text = json_object_to_json_string(msg);
			netevent *jev = NULL;
			size_t jn = 0;
			long long cur = 0;
			int rc = netevent_from_jetstream(text, strlen(text), &jev, &jn, &cur, &err);
			ok(rc == 0 && jn == 1 && same_event(&jev[0], &fev[k]), "%s op %zu: the Jetstream form gives the same event",
			   str(f, "name"), k);
			compared++;
			netevent_free_all(jev, jn);
			json_object_put(msg);
		}
		netevent_free_all(fev, n);
		firehose_frame_clear(&fr);
		free(raw);
		free(err);
	}
	ok(compared >= 8, "%zu recorded ops compared", compared);
	json_object_put(all);
}

static void clear_is_safe(void)
{
	netevent e = {0};
	netevent_clear(&e);
	netevent_clear(&e);
	netevent_free_all(NULL, 3);
	ok(e.did == NULL && e.record == NULL, "netevent_clear on a zeroed event, twice; free_all(NULL)");
}

int main(void)
{
	vectors();
	agrees_with_firehose();
	clear_is_safe();
	return tap_done();
}
