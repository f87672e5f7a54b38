/* dagcbor.c - canonical DAG-CBOR encoding (hand-written: libcbor does not sort map keys) and
 * strict decoding through libcbor. */
#include "dagcbor.h"

#include <cbor.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

#define MAX_DEPTH 64

static int fail(char **err, const char *msg)
{
	if (err && !*err)
		*err = strdup(msg);
	return -1;
}

/* CBOR head: major type and argument, in the shortest form. */
static int put_head(buf_t *out, unsigned major, uint64_t v)
{
	unsigned char h[9];
	size_t n;
	major <<= 5;
	if (v < 24) {
		h[0] = (unsigned char)(major | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = (unsigned char)(major | 24);
		h[1] = (unsigned char)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (unsigned char)(major | 25);
		h[1] = (unsigned char)(v >> 8);
		h[2] = (unsigned char)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		h[0] = (unsigned char)(major | 26);
		for (int i = 0; i < 4; i++)
			h[1 + i] = (unsigned char)(v >> (24 - 8 * i));
		n = 5;
	} else {
		h[0] = (unsigned char)(major | 27);
		for (int i = 0; i < 8; i++)
			h[1 + i] = (unsigned char)(v >> (56 - 8 * i));
		n = 9;
	}
	return buf_append(out, h, n);
}

static int put_int(buf_t *out, int64_t v)
{
	return v >= 0 ? put_head(out, 0, (uint64_t)v) : put_head(out, 1, (uint64_t)(-(v + 1)));
}

static int put_text(buf_t *out, const char *s, size_t len)
{
	return put_head(out, 3, len) < 0 || buf_append(out, s, len) < 0 ? -1 : 0;
}

/* The only-key check for {"$link"} and {"$bytes"} objects. */
static int single_key(const json_object *j)
{
	return json_object_object_length(j) == 1;
}

static int put_link(const json_object *v, buf_t *out, char **err)
{
	cid_t cid;
	if (!json_object_is_type(v, json_type_string) || cid_parse(json_object_get_string((json_object *)v), &cid) < 0)
		return fail(err, "$link is not a CID string");
	unsigned char raw[CID_BYTES + 1];
	raw[0] = 0; /* the multibase identity prefix DAG-CBOR requires inside tag 42 */
	memcpy(raw + 1, cid.bytes, CID_BYTES);
	if (put_head(out, 6, 42) < 0 || put_head(out, 2, sizeof raw) < 0 ||
	    buf_append(out, raw, sizeof raw) < 0)
		return fail(err, "out of memory");
	return 0;
}

static int put_bytes(const json_object *v, buf_t *out, char **err)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(err, "$bytes is not a base64 string");
	const char *s = json_object_get_string((json_object *)v);
	if (enc_b64_decode(s, strlen(s), &raw, &len) < 0)
		return fail(err, "$bytes is not valid base64");
	int rc = put_head(out, 2, len) < 0 || buf_append(out, raw, len) < 0 ? -1 : 0;
	free(raw);
	return rc < 0 ? fail(err, "out of memory") : 0;
}

static int check_blob(const json_object *j, char **err)
{
	json_object *ref, *mime, *size, *link;
	if (!json_object_object_get_ex(j, "ref", &ref) || !json_object_is_type(ref, json_type_object) ||
	    !json_object_object_get_ex(ref, "$link", &link))
		return fail(err, "blob without a ref link");
	if (!json_object_object_get_ex(j, "mimeType", &mime) || !json_object_is_type(mime, json_type_string))
		return fail(err, "blob without a mimeType string");
	if (!json_object_object_get_ex(j, "size", &size) || !json_object_is_type(size, json_type_int))
		return fail(err, "blob size is not an integer");
	return 0;
}

struct key_ref {
	const char *key;
	size_t len;
	json_object *val;
};

static int key_order(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->key, y->key, x->len);
}

static int put_value(const json_object *j, buf_t *out, int depth, char **err);

static int put_object(const json_object *j, buf_t *out, int depth, char **err)
{
	json_object *v;
	if (json_object_object_get_ex(j, "$link", &v))
		return single_key(j) ? put_link(v, out, err) : fail(err, "$link object with extra fields");
	if (json_object_object_get_ex(j, "$bytes", &v))
		return single_key(j) ? put_bytes(v, out, err) : fail(err, "$bytes object with extra fields");
	if (json_object_object_get_ex(j, "$type", &v)) {
		if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
			return fail(err, "$type must be a non-empty string");
		if (strcmp(json_object_get_string(v), "blob") == 0 && check_blob(j, err) < 0)
			return -1;
	}
	size_t n = (size_t)json_object_object_length(j), i = 0;
	struct key_ref *keys = calloc(n ? n : 1, sizeof *keys);
	if (!keys)
		return fail(err, "out of memory");
	json_object_object_foreach((json_object *)j, k, val)
	{
		keys[i].key = k;
		keys[i].len = strlen(k);
		keys[i].val = val;
		i++;
	}
	qsort(keys, n, sizeof *keys, key_order);
	int rc = put_head(out, 5, n);
	for (i = 0; rc == 0 && i < n; i++) {
		rc = put_text(out, keys[i].key, keys[i].len);
		if (rc == 0)
			rc = put_value(keys[i].val, out, depth + 1, err);
	}
	free(keys);
	return rc < 0 ? fail(err, "out of memory") : 0;
}

static int put_value(const json_object *j, buf_t *out, int depth, char **err)
{
	if (depth > MAX_DEPTH)
		return fail(err, "nested too deeply");
	switch (json_object_get_type(j)) {
	case json_type_null:
		return buf_append(out, "\xf6", 1);
	case json_type_boolean:
		return buf_append(out, json_object_get_boolean(j) ? "\xf5" : "\xf4", 1);
	case json_type_int:
		return put_int(out, json_object_get_int64(j));
	case json_type_double: {
		/* JSON has one number type: 123.0 is the integer 123; a fraction is a float, which
		 * the atproto data model forbids. */
		double d = json_object_get_double(j);
		if (d != floor(d) || fabs(d) > 9007199254740991.0)
			return fail(err, "floats are not allowed in the data model");
		return put_int(out, (int64_t)d);
	}
	case json_type_string:
		return put_text(out, json_object_get_string((json_object *)j),
				(size_t)json_object_get_string_len(j));
	case json_type_array: {
		size_t n = json_object_array_length(j);
		if (put_head(out, 4, n) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (put_value(json_object_array_get_idx(j, i), out, depth + 1, err) < 0)
				return -1;
		return 0;
	}
	case json_type_object:
		return put_object(j, out, depth, err);
	}
	return fail(err, "unknown JSON type");
}

int dagcbor_encode(const json_object *j, buf_t *out, char **err)
{
	if (!j || !json_object_is_type(j, json_type_object))
		return fail(err, "top level must be an object");
	size_t mark = out->len;
	if (put_value(j, out, 0, err) < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		return fail(err, "cannot encode");
	}
	return 0;
}

int dagcbor_cid(const json_object *j, cid_t *cid, buf_t *out, char **err)
{
	buf_t tmp = BUF_INIT;
	buf_t *b = out ? out : &tmp;
	size_t mark = b->len;
	int rc = dagcbor_encode(j, b, err);
	if (rc == 0)
		cid_of(CID_CODEC_DAG_CBOR, b->data + mark, b->len - mark, cid);
	buf_free(&tmp);
	return rc;
}

/* ---- decoding */

static json_object *to_json(cbor_item_t *it, int depth, char **err);

/* CBOR null; libcbor asserts when a float is asked for its control value, so test the width first. */
static int null_item(const cbor_item_t *it)
{
	return cbor_isa_float_ctrl(it) && cbor_float_ctrl_is_ctrl(it) && cbor_is_null(it);
}

static json_object *link_json(cbor_item_t *tagged, char **err)
{
	cid_t cid;
	if (!cbor_isa_bytestring(tagged) || !cbor_bytestring_is_definite(tagged) ||
	    cbor_bytestring_length(tagged) != CID_BYTES + 1 || cbor_bytestring_handle(tagged)[0] != 0 ||
	    cid_from_bytes(cbor_bytestring_handle(tagged) + 1, CID_BYTES, &cid) < 0) {
		fail(err, "tag 42 does not hold a CID");
		return NULL;
	}
	char *s = cid_format(&cid);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "$link", json_object_new_string(s));
	free(s);
	return o;
}

static json_object *map_json(cbor_item_t *it, int depth, char **err)
{
	if (!cbor_map_is_definite(it)) {
		fail(err, "indefinite-length map");
		return NULL;
	}
	json_object *o = json_object_new_object();
	struct cbor_pair *pairs = cbor_map_handle(it);
	size_t n = cbor_map_size(it);
	for (size_t i = 0; i < n; i++) {
		cbor_item_t *k = pairs[i].key;
		if (!cbor_isa_string(k) || !cbor_string_is_definite(k)) {
			fail(err, "map key is not a definite text string");
			goto bad;
		}
		size_t klen = cbor_string_length(k);
		char *key = strndup((const char *)cbor_string_handle(k), klen);
		if (!key || strlen(key) != klen || json_object_object_get_ex(o, key, NULL)) {
			free(key);
			fail(err, "bad or duplicate map key");
			goto bad;
		}
		json_object *v = to_json(pairs[i].value, depth + 1, err);
		if (!v && !null_item(pairs[i].value)) {
			free(key);
			goto bad;
		}
		json_object_object_add(o, key, v);
		free(key);
	}
	return o;
bad:
	json_object_put(o);
	return NULL;
}

/* Returns NULL both for CBOR null (err untouched) and on error (*err set); callers tell them
 * apart with cbor_is_null. */
static json_object *to_json(cbor_item_t *it, int depth, char **err)
{
	if (depth > MAX_DEPTH) {
		fail(err, "nested too deeply");
		return NULL;
	}
	switch (cbor_typeof(it)) {
	case CBOR_TYPE_UINT:
		if (cbor_get_int(it) > INT64_MAX) {
			fail(err, "integer out of range");
			return NULL;
		}
		return json_object_new_int64((int64_t)cbor_get_int(it));
	case CBOR_TYPE_NEGINT:
		if (cbor_get_int(it) > INT64_MAX) {
			fail(err, "integer out of range");
			return NULL;
		}
		return json_object_new_int64(-1 - (int64_t)cbor_get_int(it));
	case CBOR_TYPE_BYTESTRING: {
		if (!cbor_bytestring_is_definite(it)) {
			fail(err, "indefinite-length bytes");
			return NULL;
		}
		char *b64 = enc_b64_encode(cbor_bytestring_handle(it), cbor_bytestring_length(it));
		if (!b64)
			return NULL;
		char *eq = strchr(b64, '=');
		if (eq)
			*eq = '\0'; /* the data model's $bytes is unpadded */
		json_object *o = json_object_new_object();
		json_object_object_add(o, "$bytes", json_object_new_string(b64));
		free(b64);
		return o;
	}
	case CBOR_TYPE_STRING:
		if (!cbor_string_is_definite(it)) {
			fail(err, "indefinite-length string");
			return NULL;
		}
		return json_object_new_string_len((const char *)cbor_string_handle(it),
						  (int)cbor_string_length(it));
	case CBOR_TYPE_ARRAY: {
		if (!cbor_array_is_definite(it)) {
			fail(err, "indefinite-length array");
			return NULL;
		}
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < cbor_array_size(it); i++) {
			cbor_item_t *e = cbor_array_handle(it)[i];
			json_object *v = to_json(e, depth + 1, err);
			if (!v && !null_item(e)) {
				json_object_put(a);
				return NULL;
			}
			json_object_array_add(a, v);
		}
		return a;
	}
	case CBOR_TYPE_MAP:
		return map_json(it, depth, err);
	case CBOR_TYPE_TAG: {
		if (cbor_tag_value(it) != 42) {
			fail(err, "CBOR tag other than 42");
			return NULL;
		}
		cbor_item_t *inner = cbor_tag_item(it);
		json_object *o = link_json(inner, err);
		cbor_decref(&inner);
		return o;
	}
	case CBOR_TYPE_FLOAT_CTRL:
		/* libcbor asserts when a float is asked for its control value: test the width first */
		if (!cbor_float_ctrl_is_ctrl(it)) {
			fail(err, "floats are not allowed in the data model");
			return NULL;
		}
		if (cbor_is_null(it))
			return NULL;
		if (cbor_is_bool(it))
			return json_object_new_boolean(cbor_get_bool(it));
		fail(err, "floats and undefined are not allowed in the data model");
		return NULL;
	}
	fail(err, "unknown CBOR type");
	return NULL;
}

json_object *dagcbor_decode(const void *data, size_t len, char **err)
{
	struct cbor_load_result res;
	size_t used;
	/* libcbor allocates what a header declares before reading it: a few bytes claiming 2^39 items
	 * would ask for 512 GiB. Walk the structure first. */
	if (dagcbor_item_size(data, len, &used, err) != 0)
		return NULL;
	if (used != len) {
		fail(err, "trailing bytes after the CBOR item");
		return NULL;
	}
	cbor_item_t *it = cbor_load(data, len, &res);
	if (!it || res.error.code != CBOR_ERR_NONE) {
		if (it)
			cbor_decref(&it);
		fail(err, "malformed CBOR");
		return NULL;
	}
	json_object *o = NULL;
	if (res.read != len)
		fail(err, "trailing bytes after the CBOR item");
	else if (!cbor_isa_map(it))
		fail(err, "top level is not a map");
	else
		o = to_json(it, 0, err);
	cbor_decref(&it);
	return o;
}

/* ---- item boundaries */

static int scan_item(const unsigned char *p, size_t len, size_t *pos, int depth, char **err)
{
	if (depth > MAX_DEPTH)
		return fail(err, "nested too deeply");
	if (*pos >= len)
		return fail(err, "truncated CBOR");
	unsigned major = p[*pos] >> 5, info = p[*pos] & 31;
	(*pos)++;
	uint64_t v = info;
	if (info >= 24 && info <= 27) {
		size_t n = (size_t)1 << (info - 24);
		if (len - *pos < n)
			return fail(err, "truncated CBOR");
		v = 0;
		for (size_t i = 0; i < n; i++)
			v = v << 8 | p[(*pos)++];
	} else if (info > 27) {
		return fail(err, info == 31 ? "indefinite-length CBOR item" : "reserved CBOR additional information");
	}
	size_t left = len - *pos;
	switch (major) {
	case 2: /* bytes */
	case 3: /* text */
		if (v > left)
			return fail(err, "truncated CBOR");
		*pos += (size_t)v;
		return 0;
	case 4: /* array: each element takes a byte at least */
	case 5: /* map: each pair takes two */
		if (v > left || (major == 5 && v > left / 2))
			return fail(err, "CBOR count larger than the input");
		for (uint64_t i = 0; i < (major == 5 ? 2 * v : v); i++)
			if (scan_item(p, len, pos, depth + 1, err) < 0)
				return -1;
		return 0;
	case 6: /* tag: one item follows */
		return scan_item(p, len, pos, depth + 1, err);
	default: /* integers, simple values and floats: the head was all */
		return 0;
	}
}

int dagcbor_item_size(const void *data, size_t len, size_t *used, char **err)
{
	size_t pos = 0;
	if (scan_item(data, len, &pos, 0, err) < 0)
		return -1;
	*used = pos;
	return 0;
}
