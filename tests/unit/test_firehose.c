/* test_firehose.c - subscribeRepos frames into netevents: the frames recorded from the reference PDS
 * (firehose/frames.json) against what the @atproto libraries decoded them to, then malformed frames:
 * every truncation, trailing bytes, missing or corrupted blocks, unknown ops and actions, wrong types. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dagcbor.h"
#include "encoding.h"
#include "firehose.h"
#include "tap.h"

static json_object *frames;

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	json_object_object_get_ex(o, key, &v);
	return v;
}

/* The recorded frame whose name starts with prefix. */
static json_object *recorded(const char *prefix)
{
	for (size_t i = 0; i < json_object_array_length(frames); i++) {
		json_object *f = json_object_array_get_idx(frames, i);
		if (strncmp(str(f, "name"), prefix, strlen(prefix)) == 0)
			return f;
	}
	return NULL;
}

static unsigned char *raw_frame(json_object *f, size_t *len)
{
	unsigned char *raw = NULL;
	const char *b64 = str(f, "frame");
	enc_b64_decode(b64, strlen(b64), &raw, len);
	return raw;
}

/* A frame from JSON-form header and body (the recordings' own form). */
static void encode_frame(json_object *hdr, json_object *body, buf_t *out)
{
	buf_reset(out);
	char *err = NULL;
	if (dagcbor_encode(hdr, out, &err) < 0 || dagcbor_encode(body, out, &err) < 0)
		diag("cannot encode a test frame: %s", err);
	free(err);
}

static const char *op_name(netevent_op op)
{
	return op == NETEVENT_CREATE ? "create" : op == NETEVENT_UPDATE ? "update" : "delete";
}

static void check_commit(json_object *f, const firehose_frame *fr, const netevent *ev, size_t n)
{
	const char *name = str(f, "name");
	json_object *body = get(f, "body"), *ops = get(body, "ops"), *records = get(f, "records");
	is_str(fr->did, str(body, "repo"), "%s: repo", name);
	is_str(fr->rev, str(body, "rev"), "%s: rev", name);
	is_int(fr->too_big, json_object_get_boolean(get(body, "tooBig")), "%s: tooBig", name);
	is_int(n, json_object_array_length(ops), "%s: one event per op", name);
	for (size_t i = 0; i < n && i < json_object_array_length(ops); i++) {
		json_object *op = json_object_array_get_idx(ops, i), *cid = get(op, "cid");
		const char *path = str(op, "path"), *want_cid = cid ? str(cid, "$link") : NULL;
		char *coll = strndup(path, (size_t)(strchr(path, '/') - path));
		ok(ev[i].kind == NETEVENT_COMMIT && ev[i].cursor == fr->seq && strcmp(ev[i].did, fr->did) == 0,
		   "%s op %zu: a commit event of the repo at the frame's seq", name, i);
		is_str(op_name(ev[i].op), str(op, "action"), "%s op %zu: action", name, i);
		is_str(ev[i].collection, coll, "%s op %zu: collection", name, i);
		is_str(ev[i].rkey, strchr(path, '/') + 1, "%s op %zu: rkey", name, i);
		is_str(ev[i].cid, want_cid, "%s op %zu: cid", name, i);
		json_object *want = want_cid ? get(records, want_cid) : NULL;
		ok(want ? ev[i].record && json_object_equal(ev[i].record, want) : !ev[i].record,
		   "%s op %zu: the record is what @atproto/repo read from the CAR", name, i);
		free(coll);
	}
}

/* Every recorded frame decodes to what the @atproto libraries made of it. */
static void recordings(void)
{
	int seen_create = 0, seen_update = 0, seen_delete = 0, seen_identity = 0, seen_account = 0,
	    seen_inactive = 0, seen_sync = 0, seen_error = 0;
	for (size_t i = 0; i < json_object_array_length(frames); i++) {
		json_object *f = json_object_array_get_idx(frames, i), *hdr = get(f, "header"), *body = get(f, "body");
		const char *name = str(f, "name"), *t = str(hdr, "t");
		size_t len = 0, n = 99;
		unsigned char *raw = raw_frame(f, &len);
		firehose_frame fr;
		netevent *ev = NULL;
		char *err = NULL;
		int rc = firehose_decode(raw, len, &fr, &ev, &n, &err);
		if (json_object_get_int(get(hdr, "op")) == -1) {
			seen_error++;
			ok(rc == -1 && n == 0 && !ev && err, "%s: an error frame is -1 (%s)", name, err ? err : "");
			is_str(fr.name, str(body, "error"), "%s: the error name", name);
			is_str(fr.message, str(body, "message"), "%s: the error message", name);
			ok(fr.type == NULL && fr.seq == 0, "%s: no type, no seq", name);
			goto next;
		}
		ok(rc == 0, "%s decodes (%s)", name, err ? err : "");
		is_str(fr.type, t, "%s: type", name);
		is_int(fr.seq, json_object_get_int64(get(body, "seq")), "%s: seq", name);
		if (strcmp(t, "#commit") == 0) {
			check_commit(f, &fr, ev, n);
			for (size_t k = 0; k < n; k++) {
				seen_create += ev[k].op == NETEVENT_CREATE;
				seen_update += ev[k].op == NETEVENT_UPDATE;
				seen_delete += ev[k].op == NETEVENT_DELETE;
			}
		} else if (strcmp(t, "#identity") == 0) {
			seen_identity++;
			ok(n == 1 && ev[0].kind == NETEVENT_IDENTITY && ev[0].cursor == fr.seq, "%s: one identity event", name);
			if (n == 1) {
				is_str(ev[0].did, str(body, "did"), "%s: did", name);
				is_str(ev[0].handle, str(body, "handle"), "%s: handle", name);
			}
		} else if (strcmp(t, "#account") == 0) {
			seen_account++;
			ok(n == 1 && ev[0].kind == NETEVENT_ACCOUNT && ev[0].cursor == fr.seq, "%s: one account event", name);
			if (n == 1) {
				is_str(ev[0].did, str(body, "did"), "%s: did", name);
				is_int(ev[0].active, json_object_get_boolean(get(body, "active")), "%s: active", name);
				is_str(ev[0].status, str(body, "status"), "%s: status", name);
				seen_inactive += !ev[0].active;
			}
		} else if (strcmp(t, "#sync") == 0) {
			seen_sync++;
			ok(n == 0 && strcmp(fr.did, str(body, "did")) == 0 && strcmp(fr.rev, str(body, "rev")) == 0,
			   "%s: no events; did and rev", name);
		}
	next:
		netevent_free_all(ev, n);
		firehose_frame_clear(&fr);
		free(raw);
		free(err);
	}
	ok(seen_create >= 4 && seen_update >= 2 && seen_delete >= 2, "recordings: %d creates, %d updates, %d deletes",
	   seen_create, seen_update, seen_delete);
	ok(seen_identity >= 2 && seen_account >= 2 && seen_inactive >= 1 && seen_sync >= 1 && seen_error >= 1,
	   "recordings: identity, account (an inactive one), sync and error frames");
}

/* Decode a frame built from JSON; returns the rc, events freed. */
static int decode_built(json_object *hdr, json_object *body, firehose_frame *fr, size_t *n, char **err)
{
	buf_t b = BUF_INIT;
	netevent *ev = NULL;
	encode_frame(hdr, body, &b);
	free(*err);
	*err = NULL;
	int rc = firehose_decode(b.data, b.len, fr, &ev, n, err);
	netevent_free_all(ev, *n);
	buf_free(&b);
	return rc;
}

/* The recorded frame's body with one member replaced (NULL: removed); decoded; -1 expected. */
static void refused_with(const char *frame, const char *key, json_object *val, const char *what)
{
	json_object *f = recorded(frame), *body = NULL;
	json_object_deep_copy(get(f, "body"), &body, NULL);
	if (val)
		json_object_object_add(body, key, val);
	else
		json_object_object_del(body, key);
	firehose_frame fr;
	size_t n = 9;
	char *err = NULL;
	int rc = decode_built(get(f, "header"), body, &fr, &n, &err);
	ok(rc == -1 && n == 0 && err, "refused: %s (%s)", what, err ? err : "accepted");
	firehose_frame_clear(&fr);
	json_object_put(body);
	free(err);
}

/* The first op of a recorded commit with one member replaced. */
static json_object *ops_with(const char *frame, const char *key, json_object *val)
{
	json_object *ops = NULL;
	json_object_deep_copy(get(get(recorded(frame), "body"), "ops"), &ops, NULL);
	json_object *op = json_object_array_get_idx(ops, 0);
	if (val)
		json_object_object_add(op, key, val);
	else
		json_object_object_add(op, key, NULL);
	return ops;
}

static json_object *link_to(const char *cid)
{
	json_object *l = json_object_new_object();
	json_object_object_add(l, "$link", json_object_new_string(cid));
	return l;
}

static json_object *bytes_of(const void *data, size_t len)
{
	char *b64 = enc_b64_encode(data, len);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "$bytes", json_object_new_string(b64));
	free(b64);
	return o;
}

static void truncated_and_trailing(void)
{
	size_t len = 0, n = 0, accepted = 0;
	unsigned char *raw = raw_frame(recorded("apply-writes"), &len);
	for (size_t cut = 0; cut < len; cut++) {
		firehose_frame fr;
		netevent *ev = NULL;
		char *err = NULL;
		if (firehose_decode(raw, cut, &fr, &ev, &n, &err) == 0 || !err || ev)
			accepted++;
		netevent_free_all(ev, n);
		firehose_frame_clear(&fr);
		free(err);
	}
	is_int(accepted, 0, "every one of %zu truncations of a commit frame is refused with a reason", len);
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, raw, len);
	longer[len] = 0;
	firehose_frame fr;
	netevent *ev = NULL;
	char *err = NULL;
	int rc = firehose_decode(longer, len + 1, &fr, &ev, &n, &err);
	ok(rc == -1 && !ev, "refused: a byte after the body (%s)", err ? err : "accepted");
	firehose_frame_clear(&fr);
	free(err);
	err = NULL;
	ok(firehose_decode(raw, 0, &fr, &ev, &n, &err) == -1, "refused: an empty frame");
	firehose_frame_clear(&fr);
	free(err);
	free(longer);
	free(raw);
}

static void bad_commits(void)
{
	json_object *other_blocks = get(get(recorded("tag-create"), "body"), "blocks");
	refused_with("star-create", "blocks", json_object_get(other_blocks), "the record's block is not in the CAR");
	json_object *blocks = get(get(recorded("star-create"), "body"), "blocks");
	unsigned char *car = NULL;
	size_t carlen = 0;
	enc_b64_decode(str(blocks, "$bytes"), strlen(str(blocks, "$bytes")), &car, &carlen);
	car[carlen - 1] ^= 1;
	refused_with("star-create", "blocks", bytes_of(car, carlen), "a CAR block that does not match its CID");
	free(car);
	refused_with("star-create", "blocks", bytes_of("\x01", 1), "blocks that are not a CAR");
	refused_with("star-create", "blocks", json_object_new_string("abc"), "blocks as text");
	refused_with("star-create", "blocks", NULL, "no blocks");
	refused_with("star-create", "ops", ops_with("star-create", "cid",
						     link_to("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")),
		     "an op whose cid names a block not in the CAR");
	refused_with("star-create", "ops", ops_with("star-create", "cid", NULL), "a create without a cid");
	refused_with("star-create", "ops", ops_with("star-create", "cid", json_object_new_string("bafy")),
		     "a cid that is text, not a link");
	refused_with("star-create", "ops", ops_with("star-create", "action", json_object_new_string("upsert")),
		     "an unknown action");
	refused_with("star-create", "ops", ops_with("star-create", "action", json_object_new_int(1)),
		     "an action that is a number");
	refused_with("star-create", "ops", ops_with("star-create", "path", json_object_new_string("io.atcr.sailor.star")),
		     "a path without a record key");
	refused_with("star-create", "ops", ops_with("star-create", "path", json_object_new_string("not_nsid/3kaaaaaaaaac2")),
		     "a path whose collection is not an NSID");
	refused_with("star-create", "ops", ops_with("star-create", "path", json_object_new_string("io.atcr.sailor.star/..")),
		     "a path whose record key is not one");
	refused_with("star-create", "ops", ops_with("star-create", "path", json_object_new_string("io.atcr.sailor.star/a/b")),
		     "a path with two slashes");
	json_object *not_obj = json_object_new_array();
	json_object_array_add(not_obj, json_object_new_int(1));
	refused_with("star-create", "ops", not_obj, "an op that is not an object");
	refused_with("star-create", "ops", json_object_new_object(), "ops that is a map");
	refused_with("star-create", "seq", json_object_new_string("5"), "seq as text");
	refused_with("star-create", "seq", json_object_new_int(-5), "a negative seq");
	refused_with("star-create", "seq", NULL, "no seq");
	refused_with("star-create", "repo", json_object_new_string("alice.test"), "a repo that is not a DID");
	refused_with("star-create", "rev", NULL, "no rev");
	refused_with("star-create", "tooBig", json_object_new_int(0), "tooBig as a number");

	/* A record block that is not a map: a CAR made by hand with [1] under its dag-cbor CID. */
	buf_t b = BUF_INIT;
	cid_t cid;
	cid_of(CID_CODEC_DAG_CBOR, "\x81\x01", 2, &cid);
	char *cidstr = cid_format(&cid);
	buf_append(&b, "\x11\xa2\x65roots\x80\x67version\x01", 18); /* 17-byte header {roots: [], version: 1} */
	buf_append(&b, "\x26", 1); /* section: 36 + 2 bytes */
	buf_append(&b, cid.bytes, CID_BYTES);
	buf_append(&b, "\x81\x01", 2);
	json_object *f = recorded("star-create"), *body = NULL;
	json_object_deep_copy(get(f, "body"), &body, NULL);
	json_object_object_add(body, "blocks", bytes_of(b.data, b.len));
	json_object_object_add(body, "ops", ops_with("star-create", "cid", link_to(cidstr)));
	firehose_frame fr;
	size_t n = 0;
	char *err = NULL;
	int rc = decode_built(get(f, "header"), body, &fr, &n, &err);
	ok(rc == -1 && n == 0, "refused: a record that is not a map (%s)", err ? err : "accepted");
	ok(fr.seq == json_object_get_int64(get(body, "seq")), "a malformed commit still reports its seq");
	firehose_frame_clear(&fr);
	json_object_put(body);
	free(cidstr);
	free(err);
	buf_free(&b);
}

static void other_frames(void)
{
	json_object *hdr = json_object_new_object(), *body = json_object_new_object();
	firehose_frame fr;
	size_t n = 9;
	char *err = NULL;

	/* tooBig: no events, the caller is told */
	json_object *f = recorded("star-create"), *big = NULL;
	json_object_deep_copy(get(f, "body"), &big, NULL);
	json_object_object_add(big, "tooBig", json_object_new_boolean(1));
	json_object_object_add(big, "blocks", bytes_of("", 0));
	int rc = decode_built(get(f, "header"), big, &fr, &n, &err);
	ok(rc == 0 && n == 0 && fr.too_big && fr.seq > 0, "a tooBig commit: no events, too_big set, seq kept (%s)",
	   err ? err : "");
	firehose_frame_clear(&fr);
	json_object_put(big);

	json_object_object_add(hdr, "op", json_object_new_int(1));
	json_object_object_add(hdr, "t", json_object_new_string("#info"));
	json_object_object_add(body, "name", json_object_new_string("OutdatedCursor"));
	json_object_object_add(body, "message", json_object_new_string("Requested cursor exceeded limit."));
	rc = decode_built(hdr, body, &fr, &n, &err);
	ok(rc == 0 && n == 0 && fr.seq == 0, "#info: no events (%s)", err ? err : "");
	is_str(fr.name, "OutdatedCursor", "#info: its name for the caller");
	is_str(fr.message, "Requested cursor exceeded limit.", "#info: its message");
	firehose_frame_clear(&fr);
	json_object_object_del(body, "name");
	ok(decode_built(hdr, body, &fr, &n, &err) == -1, "refused: #info without a name");
	firehose_frame_clear(&fr);

	json_object_object_add(hdr, "t", json_object_new_string("#labels"));
	ok(decode_built(hdr, body, &fr, &n, &err) == 0 && n == 0 && fr.seq == 0, "a type we do not know: skipped");
	is_str(fr.type, "#labels", "a type we do not know: named to the caller");
	firehose_frame_clear(&fr);

	json_object_object_add(hdr, "op", json_object_new_int(2));
	rc = decode_built(hdr, body, &fr, &n, &err);
	ok(rc == -1, "refused: unknown op 2 (%s)", err ? err : "accepted");
	firehose_frame_clear(&fr);
	json_object_object_add(hdr, "op", json_object_new_string("1"));
	ok(decode_built(hdr, body, &fr, &n, &err) == -1, "refused: op as text");
	firehose_frame_clear(&fr);
	json_object_object_del(hdr, "op");
	ok(decode_built(hdr, body, &fr, &n, &err) == -1, "refused: a header without op");
	firehose_frame_clear(&fr);
	json_object_object_add(hdr, "op", json_object_new_int(1));
	json_object_object_del(hdr, "t");
	ok(decode_built(hdr, body, &fr, &n, &err) == -1, "refused: a message without t");
	firehose_frame_clear(&fr);

	json_object_object_add(hdr, "op", json_object_new_int(-1));
	ok(decode_built(hdr, body, &fr, &n, &err) == -1 && fr.name == NULL, "refused: an error frame without error");
	firehose_frame_clear(&fr);
	json_object_object_add(body, "error", json_object_new_string("ConsumerTooSlow"));
	json_object_object_del(body, "message");
	rc = decode_built(hdr, body, &fr, &n, &err);
	ok(rc == -1 && err && strstr(err, "ConsumerTooSlow"), "an error frame without a message: -1 naming the error (%s)",
	   err ? err : "");
	is_str(fr.name, "ConsumerTooSlow", "the error name for the caller");
	ok(fr.message == NULL, "no message");
	firehose_frame_clear(&fr);
	json_object_put(hdr);
	json_object_put(body);

	refused_with("identity", "handle", json_object_new_string("not a handle"), "#identity with a malformed handle");
	refused_with("identity", "handle", json_object_new_int(1), "#identity with a numeric handle");
	refused_with("identity", "did", json_object_new_string("did:"), "#identity with a malformed DID");
	refused_with("account-deactivate", "active", NULL, "#account without active");
	refused_with("account-deactivate", "active", json_object_new_int(0), "#account with a numeric active");
	refused_with("account-deactivate", "status", json_object_new_int(0), "#account with a numeric status");
	refused_with("create-account-4-sync", "seq", NULL, "#sync without seq");

	f = recorded("identity");
	json_object *nohandle = NULL;
	json_object_deep_copy(get(f, "body"), &nohandle, NULL);
	json_object_object_del(nohandle, "handle");
	buf_t b = BUF_INIT;
	netevent *ev = NULL;
	encode_frame(get(f, "header"), nohandle, &b);
	ok(firehose_decode(b.data, b.len, &fr, &ev, &n, &err) == 0 && n == 1 && ev[0].handle == NULL,
	   "#identity without a handle: an event with no handle");
	netevent_free_all(ev, n);
	firehose_frame_clear(&fr);
	json_object_put(nohandle);
	buf_free(&b);

	/* a header that is not a map, and a body claiming four billion items: refused before any allocation */
	ok(firehose_decode("\x81\x01\xa0", 3, &fr, &ev, &n, &err) == -1, "refused: a header that is an array");
	firehose_frame_clear(&fr);
	rc = firehose_decode("\xa0\x9a\xff\xff\xff\xff", 6, &fr, &ev, &n, &err);
	ok(rc == -1, "refused: a body claiming 4294967295 items (%s)", err ? err : "");
	firehose_frame_clear(&fr);
	free(err);
}

static void item_size(void)
{
	size_t used = 0;
	char *err = NULL;
	ok(dagcbor_item_size("\xa0\x01\x02", 3, &used, &err) == 0 && used == 1, "item size: {} then more");
	ok(dagcbor_item_size("\xa1\x61" "a\xd8\x2a\x42\x00\x01", 8, &used, &err) == 0 && used == 8,
	   "item size: a map holding a tag");
	ok(dagcbor_item_size("\x5a\x00\x00\x01\x00" "x", 6, &used, &err) == -1, "item size: bytes longer than the input");
	free(err), err = NULL;
	ok(dagcbor_item_size("\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 9, &used, &err) == -1,
	   "item size: an array of 2^64-1 items");
	free(err), err = NULL;
	ok(dagcbor_item_size("\xbb\x00\x00\x00\x00\x00\x00\x00\x01\x01", 10, &used, &err) == -1,
	   "item size: a map with a key and no value");
	free(err), err = NULL;
	ok(dagcbor_item_size("\x9f\xff", 2, &used, &err) == -1, "item size: indefinite length refused");
	free(err), err = NULL;
	ok(dagcbor_item_size("\x1c", 1, &used, &err) == -1, "item size: reserved additional information");
	free(err), err = NULL;
	ok(dagcbor_item_size("", 0, &used, &err) == -1, "item size: nothing");
	free(err), err = NULL;
	unsigned char deep[100];
	memset(deep, 0x81, sizeof deep - 1);
	deep[sizeof deep - 1] = 0x01;
	ok(dagcbor_item_size(deep, sizeof deep, &used, &err) == -1, "item size: nested 99 deep refused");
	free(err), err = NULL;
	ok(dagcbor_item_size(deep + 40, sizeof deep - 40, &used, &err) == 0 && used == 60, "item size: nested 59 deep");
	free(err);
}

int main(void)
{
	frames = json_object_from_file(vector_path("firehose/frames.json"));
	ok(frames && json_object_array_length(frames) >= 15, "frames.json loads");
	if (!frames)
		return tap_done();
	recordings();
	truncated_and_trailing();
	bad_commits();
	other_frames();
	item_size();
	json_object_put(frames);
	return tap_done();
}
