/* oci.c - OCI Distribution primitives: hand-written scanners for the name, tag and digest grammars
 * (linear, no allocation), json-c for manifests and records. Nothing here keeps state between calls,
 * so every function is thread-safe. */
#include "oci.h"

#include <ctype.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "crypto.h"
#include "digest.h"
#include "fcgi.h"
#include "syntax.h"

/* ---------------------------------------------------------------- error codes */

static const struct {
	const char *name;
	int status;
	const char *message;
} code_table[OCI_CODE_COUNT] = {
	[OCI_OK] = {"OK", 200, "ok"},
	[OCI_BLOB_UNKNOWN] = {"BLOB_UNKNOWN", 404, "blob unknown to registry"},
	[OCI_BLOB_UPLOAD_INVALID] = {"BLOB_UPLOAD_INVALID", 400, "blob upload invalid"},
	[OCI_BLOB_UPLOAD_UNKNOWN] = {"BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"},
	[OCI_DIGEST_INVALID] = {"DIGEST_INVALID", 400, "provided digest did not match uploaded content"},
	[OCI_MANIFEST_BLOB_UNKNOWN] = {"MANIFEST_BLOB_UNKNOWN", 400,
				       "manifest references a manifest or blob unknown to registry"},
	[OCI_MANIFEST_INVALID] = {"MANIFEST_INVALID", 400, "manifest invalid"},
	[OCI_MANIFEST_UNKNOWN] = {"MANIFEST_UNKNOWN", 404, "manifest unknown to registry"},
	[OCI_NAME_INVALID] = {"NAME_INVALID", 400, "invalid repository name"},
	[OCI_NAME_UNKNOWN] = {"NAME_UNKNOWN", 404, "repository name not known to registry"},
	[OCI_SIZE_INVALID] = {"SIZE_INVALID", 400, "provided length did not match content length"},
	[OCI_UNAUTHORIZED] = {"UNAUTHORIZED", 401, "authentication required"},
	[OCI_DENIED] = {"DENIED", 403, "requested access to the resource is denied"},
	[OCI_UNSUPPORTED] = {"UNSUPPORTED", 405, "the operation is unsupported"},
	[OCI_TOOMANYREQUESTS] = {"TOOMANYREQUESTS", 429, "too many requests"},
	[OCI_RANGE_INVALID] = {"RANGE_INVALID", 416, "invalid content range"},
	[OCI_TAG_INVALID] = {"TAG_INVALID", 400, "invalid tag"},
	[OCI_PAGINATION_NUMBER_INVALID] = {"PAGINATION_NUMBER_INVALID", 400,
					   "invalid number of results requested"},
	[OCI_NOT_FOUND] = {"NOT_FOUND", 404, "no such endpoint"},
};

static int code_known(oci_code code) { return (int)code >= 0 && code < OCI_CODE_COUNT; }

const char *oci_code_name(oci_code code) { return code_known(code) ? code_table[code].name : "UNKNOWN"; }

int oci_code_status(oci_code code) { return code_known(code) ? code_table[code].status : 500; }

const char *oci_code_message(oci_code code)
{
	return code_known(code) ? code_table[code].message : "unknown error";
}

char *oci_error_body(oci_code code, const char *message, struct json_object *detail)
{
	char *out = NULL;
	json_object *root = json_object_new_object();
	json_object *list = json_object_new_array();
	json_object *e = json_object_new_object();
	if (!root || !list || !e) {
		json_object_put(e);
		json_object_put(list);
		goto out;
	}
	json_object_object_add(root, "errors", list);
	json_object_array_add(list, e);
	json_object_object_add(e, "code", json_object_new_string(oci_code_name(code)));
	json_object_object_add(e, "message",
			       json_object_new_string(message ? message : oci_code_message(code)));
	if (detail)
		json_object_object_add(e, "detail", json_object_get(detail));
	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	out = s ? strdup(s) : NULL;
out:
	json_object_put(root);
	return out;
}

/* ---------------------------------------------------------------- names, tags, digests */

static int lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static int lower_hex(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'); }

/* 1 when the n bytes at s are one name component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static int component_ok(const char *s, size_t n)
{
	size_t i = 0;
	for (;;) {
		if (i >= n || !lower_alnum(s[i]))
			return 0;
		while (i < n && lower_alnum(s[i]))
			i++;
		if (i == n)
			return 1;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
	}
}

/* 1 when the n bytes at s are components joined by single '/'. */
static int path_ok(const char *s, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (!component_ok(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

int oci_name_ok(const char *s)
{
	if (!s)
		return 0;
	size_t n = strlen(s);
	return n >= 1 && n <= OCI_NAME_MAX && path_ok(s, n);
}

static int tag_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
		return 1;
	return !first && (c == '.' || c == '-');
}

int oci_tag_ok(const char *s)
{
	if (!s || !*s)
		return 0;
	size_t n = strlen(s);
	if (n > OCI_TAG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!tag_char(s[i], i == 0))
			return 0;
	return 1;
}

int oci_digest_ok(const char *s)
{
	size_t hex;
	if (!s)
		return 0;
	if (strncmp(s, "sha256:", 7) == 0)
		hex = 64;
	else if (strncmp(s, "sha512:", 7) == 0)
		hex = 128;
	else
		return 0;
	s += 7;
	for (size_t i = 0; i < hex; i++)
		if (!lower_hex(s[i])) /* also stops at the NUL of a short digest */
			return 0;
	return s[hex] == '\0';
}

int oci_digest_matches(const char *digest, const void *data, size_t len)
{
	if (!oci_digest_ok(digest))
		return 0;
	digest_alg alg = digest_alg_from_name(digest, 6);
	char *got = digest_buffer(alg, data, len);
	int same = got && strcmp(got, digest) == 0; /* digests are public: no constant time needed */
	free(got);
	return same;
}

void oci_name_free(oci_name *n)
{
	if (!n)
		return;
	free(n->full);
	free(n->identity);
	free(n->repo);
	memset(n, 0, sizeof *n);
}

oci_code oci_name_parse(const char *name, oci_name *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (!name || !*name) {
		buf_error(err, "empty repository name");
		return OCI_NAME_INVALID;
	}
	size_t len = strlen(name);
	if (len > OCI_NAME_MAX) {
		buf_error(err, "repository name longer than %d bytes", OCI_NAME_MAX);
		return OCI_NAME_INVALID;
	}
	const char *slash = strchr(name, '/');
	if (!slash) {
		buf_error(err, "repository name must be <handle or DID>/<repository>");
		return OCI_NAME_INVALID;
	}
	size_t ident_len = (size_t)(slash - name);
	const char *repo = slash + 1;
	if (!path_ok(repo, strlen(repo))) {
		buf_error(err, "repository \"%s\" does not match the OCI name grammar (lower case)", repo);
		return OCI_NAME_INVALID;
	}
	char *ident = strndup(name, ident_len);
	if (!ident) {
		buf_error(err, "out of memory");
		return OCI_NAME_INVALID;
	}
	oci_ident_kind kind;
	if (strncmp(ident, "did:", 4) == 0) {
		kind = OCI_IDENT_DID;
		if (!syntax_did_ok(ident)) {
			buf_error(err, "\"%s\" is not a valid DID", ident);
			free(ident);
			return OCI_NAME_INVALID;
		}
	} else {
		kind = OCI_IDENT_HANDLE;
		/* The grammar check keeps handles lower case, as docker insists. */
		if (!component_ok(ident, ident_len) || !syntax_handle_ok(ident)) {
			buf_error(err, "\"%s\" is neither a lower-case handle nor a DID", ident);
			free(ident);
			return OCI_NAME_INVALID;
		}
	}
	out->kind = kind;
	out->identity = ident;
	out->full = strdup(name);
	out->repo = strdup(repo);
	if (!out->full || !out->repo) {
		oci_name_free(out);
		buf_error(err, "out of memory");
		return OCI_NAME_INVALID;
	}
	return OCI_OK;
}

/* ---------------------------------------------------------------- routes */

static int has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int upload_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 128 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

void oci_route_free(oci_route *r)
{
	if (!r)
		return;
	oci_name_free(&r->name);
	free(r->ref);
	memset(r, 0, sizeof *r);
}

oci_code oci_route_parse(const char *path, oci_route *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (!path)
		path = "";
	size_t len = strlen(path);
	size_t name_len = 0;
	const char *ref = NULL;
	oci_code rc = OCI_OK;
	char *name = NULL;
	int oom = 0; /* then the message says so, not "no endpoint" */

	if (len == 0) {
		out->kind = OCI_ROUTE_BASE;
		return OCI_OK;
	}
	if (strcmp(path, "_catalog") == 0) {
		out->kind = OCI_ROUTE_CATALOG;
		return OCI_OK;
	}
	if (has_suffix(path, len, "/tags/list")) {
		out->kind = OCI_ROUTE_TAGS;
		name_len = len - strlen("/tags/list");
	} else if (has_suffix(path, len, "/blobs/uploads/") || has_suffix(path, len, "/blobs/uploads")) {
		out->kind = OCI_ROUTE_UPLOAD_START;
		name_len = len - strlen("/blobs/uploads") - (path[len - 1] == '/');
	} else {
		const char *slash = strrchr(path, '/');
		if (!slash || !slash[1]) {
			rc = OCI_NOT_FOUND;
			goto fail;
		}
		size_t prefix = (size_t)(slash - path);
		ref = slash + 1;
		static const struct {
			const char *suffix;
			oci_route_kind kind;
		} ends[] = {
			{"/blobs/uploads", OCI_ROUTE_UPLOAD},
			{"/manifests", OCI_ROUTE_MANIFEST},
			{"/blobs", OCI_ROUTE_BLOB},
			{"/referrers", OCI_ROUTE_REFERRERS},
		};
		for (size_t i = 0; i < sizeof ends / sizeof ends[0] && !out->kind; i++)
			if (has_suffix(path, prefix, ends[i].suffix)) {
				out->kind = ends[i].kind;
				name_len = prefix - strlen(ends[i].suffix);
			}
		if (!out->kind) {
			rc = OCI_NOT_FOUND;
			goto fail;
		}
	}
	if (name_len == 0) {
		rc = OCI_NOT_FOUND;
		goto fail;
	}
	name = strndup(path, name_len);
	if (!name) {
		rc = OCI_NOT_FOUND;
		oom = buf_error(err, "out of memory");
		goto fail;
	}
	rc = oci_name_parse(name, &out->name, err);
	if (rc != OCI_OK)
		goto fail;

	if (ref) {
		switch (out->kind) {
		case OCI_ROUTE_MANIFEST:
			out->ref_is_digest = strchr(ref, ':') != NULL;
			if (out->ref_is_digest && !oci_digest_ok(ref)) {
				rc = OCI_DIGEST_INVALID;
				buf_error(err, "\"%s\" is not a sha256 or sha512 digest", ref);
			} else if (!out->ref_is_digest && !oci_tag_ok(ref)) {
				rc = OCI_TAG_INVALID;
				buf_error(err, "\"%s\" is not a valid tag", ref);
			}
			break;
		case OCI_ROUTE_UPLOAD:
			if (!upload_id_ok(ref)) {
				rc = OCI_BLOB_UPLOAD_UNKNOWN;
				buf_error(err, "no such upload");
			}
			break;
		default: /* blobs and referrers name a digest */
			out->ref_is_digest = 1;
			if (!oci_digest_ok(ref)) {
				rc = OCI_DIGEST_INVALID;
				buf_error(err, "\"%s\" is not a sha256 or sha512 digest", ref);
			}
			break;
		}
		if (rc != OCI_OK)
			goto fail;
		out->ref = strdup(ref);
		if (!out->ref) {
			rc = OCI_NOT_FOUND;
			oom = buf_error(err, "out of memory");
			goto fail;
		}
	}
	free(name);
	return OCI_OK;
fail:
	if (rc == OCI_NOT_FOUND && !oom)
		buf_error(err, "no /v2/ endpoint matches \"%s\"", path);
	free(name);
	oci_route_free(out);
	return rc;
}

/* ---------------------------------------------------------------- JSON helpers */

/* The member key of o, or NULL when absent or JSON null (we treat null like absence). */
static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* A string member copied into *out (NULL when absent and optional). 0, or -1 with *err set. */
static int get_string(json_object *o, const char *key, int required, const char *where, char **out,
		      char **err)
{
	json_object *v = member(o, key);
	*out = NULL;
	if (!v)
		return required ? buf_error(err, "%s%s is missing", where, key) : 0;
	if (!json_object_is_type(v, json_type_string))
		return buf_error(err, "%s%s must be a string", where, key);
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : buf_error(err, "out of memory");
}

/* An array of strings member; absent gives NULL/0. */
static int get_string_array(json_object *o, const char *key, const char *where, char ***out, size_t *n,
			    char **err)
{
	json_object *v = member(o, key);
	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return buf_error(err, "%s%s must be an array of strings", where, key);
	size_t count = json_object_array_length(v);
	char **list = calloc(count + 1, sizeof *list);
	if (!list)
		return buf_error(err, "out of memory");
	for (size_t i = 0; i < count; i++) {
		json_object *item = json_object_array_get_idx(v, i);
		if (!json_object_is_type(item, json_type_string) ||
		    !(list[i] = strdup(json_object_get_string(item)))) {
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			return buf_error(err, "%s%s[%zu] must be a string", where, key, i);
		}
	}
	*out = list;
	*n = count;
	return 0;
}

static void free_strings(char **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

/* An annotations-style member: an object whose values are all strings; a new reference or NULL. */
static int get_string_map(json_object *o, const char *key, const char *where, json_object **out, char **err)
{
	json_object *v = member(o, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return buf_error(err, "%s%s must be an object", where, key);
	json_object_object_foreach(v, k, val)
	{
		if (!json_object_is_type(val, json_type_string))
			return buf_error(err, "%s%s[\"%s\"] must be a string", where, key, k);
	}
	*out = json_object_get(v);
	return 0;
}

/* A required non-negative integer member (a JSON integer, not 1.0 or "1"). */
static int get_size(json_object *o, const char *key, const char *where, long long *out, char **err)
{
	json_object *v = member(o, key);
	if (!v)
		return buf_error(err, "%s%s is missing", where, key);
	if (!json_object_is_type(v, json_type_int))
		return buf_error(err, "%s%s must be an integer", where, key);
	int64_t n = json_object_get_int64(v);
	if (n < 0 || n == INT64_MAX)
		return buf_error(err, "%s%s is out of range", where, key);
	*out = (long long)n;
	return 0;
}

/* ---------------------------------------------------------------- descriptors */

static void platform_free(oci_platform *p)
{
	if (!p)
		return;
	free(p->architecture);
	free(p->os);
	free(p->variant);
	free(p->os_version);
	free_strings(p->os_features, p->n_os_features);
	free(p);
}

static void descriptor_clear(oci_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->digest);
	free_strings(d->urls, d->n_urls);
	free(d->artifact_type);
	json_object_put(d->annotations);
	platform_free(d->platform);
	memset(d, 0, sizeof *d);
}

static void descriptors_free(oci_descriptor *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		descriptor_clear(&list[i]);
	free(list);
}

/* 1 for a plausible media type: type "/" subtype of RFC 6838 restricted-name characters. */
static int media_type_ok(const char *s)
{
	int slashes = 0;
	if (!s || !*s || strlen(s) > 255)
		return 0;
	for (const char *p = s; *p; p++) {
		if (*p == '/')
			slashes++;
		else if (!isalnum((unsigned char)*p) && !strchr("!#$&^_.+-", *p))
			return 0;
	}
	return slashes == 1 && s[0] != '/' && s[strlen(s) - 1] != '/';
}

/* Platform keys: manifests spell them "os.version"/"os.features", the record "osVersion"/"osFeatures". */
typedef enum { KEYS_OCI, KEYS_RECORD } key_style;

static int parse_platform(json_object *o, key_style style, const char *where, oci_platform **out, char **err)
{
	char w[112];
	*out = NULL;
	if (!json_object_is_type(o, json_type_object))
		return buf_error(err, "%splatform must be an object", where);
	oci_platform *p = calloc(1, sizeof *p);
	if (!p)
		return buf_error(err, "out of memory");
	snprintf(w, sizeof w, "%splatform.", where);
	if (get_string(o, "architecture", 1, w, &p->architecture, err) < 0 ||
	    get_string(o, "os", 1, w, &p->os, err) < 0 || get_string(o, "variant", 0, w, &p->variant, err) < 0 ||
	    get_string(o, style == KEYS_OCI ? "os.version" : "osVersion", 0, w, &p->os_version, err) < 0 ||
	    get_string_array(o, style == KEYS_OCI ? "os.features" : "osFeatures", w, &p->os_features,
			     &p->n_os_features, err) < 0) {
		platform_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static int parse_descriptor(json_object *o, key_style style, const char *where, oci_descriptor *d, char **err)
{
	json_object *plat;
	memset(d, 0, sizeof *d);
	if (!json_object_is_type(o, json_type_object))
		return buf_error(err, "%s must be an object", where);
	char w[80];
	snprintf(w, sizeof w, "%s.", where);
	if (get_string(o, "mediaType", 1, w, &d->media_type, err) < 0)
		goto fail;
	if (!media_type_ok(d->media_type)) {
		buf_error(err, "%smediaType \"%s\" is not a media type", w, d->media_type);
		goto fail;
	}
	if (get_string(o, "digest", 1, w, &d->digest, err) < 0)
		goto fail;
	if (!oci_digest_ok(d->digest)) {
		buf_error(err, "%sdigest \"%s\" is not a sha256 or sha512 digest", w, d->digest);
		goto fail;
	}
	if (get_size(o, "size", w, &d->size, err) < 0 ||
	    get_string_array(o, "urls", w, &d->urls, &d->n_urls, err) < 0 ||
	    get_string(o, "artifactType", 0, w, &d->artifact_type, err) < 0 ||
	    get_string_map(o, "annotations", w, &d->annotations, err) < 0)
		goto fail;
	if ((plat = member(o, "platform")) && parse_platform(plat, style, w, &d->platform, err) < 0)
		goto fail;
	return 0;
fail:
	descriptor_clear(d);
	return -1;
}

/* A required or optional array of descriptors. */
static int parse_descriptors(json_object *o, const char *key, int required, key_style style,
			     oci_descriptor **out, size_t *n, char **err)
{
	json_object *v = member(o, key);
	*out = NULL;
	*n = 0;
	if (!v)
		return required ? buf_error(err, "%s is missing", key) : 0;
	if (!json_object_is_type(v, json_type_array))
		return buf_error(err, "%s must be an array", key);
	size_t count = json_object_array_length(v);
	oci_descriptor *list = calloc(count ? count : 1, sizeof *list);
	if (!list)
		return buf_error(err, "out of memory");
	for (size_t i = 0; i < count; i++) {
		char where[64];
		snprintf(where, sizeof where, "%s[%zu]", key, i);
		if (parse_descriptor(json_object_array_get_idx(v, i), style, where, &list[i], err) < 0) {
			descriptors_free(list, i);
			return -1;
		}
	}
	*out = list;
	*n = count;
	return 0;
}

/* An optional single descriptor member (config, subject); *out NULL when absent. */
static int parse_descriptor_member(json_object *o, const char *key, int required, key_style style,
				   oci_descriptor **out, char **err)
{
	json_object *v = member(o, key);
	*out = NULL;
	if (!v)
		return required ? buf_error(err, "%s is missing", key) : 0;
	oci_descriptor *d = calloc(1, sizeof *d);
	if (!d)
		return buf_error(err, "out of memory");
	if (parse_descriptor(v, style, key, d, err) < 0) {
		free(d);
		return -1;
	}
	*out = d;
	return 0;
}

/* ---------------------------------------------------------------- manifests */

static const struct {
	const char *media_type;
	oci_manifest_kind kind;
} manifest_types[] = {
	{OCI_MT_IMAGE_MANIFEST, OCI_KIND_IMAGE_MANIFEST},
	{OCI_MT_IMAGE_INDEX, OCI_KIND_IMAGE_INDEX},
	{OCI_MT_DOCKER_MANIFEST, OCI_KIND_DOCKER_MANIFEST},
	{OCI_MT_DOCKER_LIST, OCI_KIND_DOCKER_LIST},
};

/* The static media type string and kind of a manifest type; NULL for others. */
static const char *manifest_type(const char *mt, oci_manifest_kind *kind)
{
	for (size_t i = 0; mt && i < sizeof manifest_types / sizeof manifest_types[0]; i++)
		if (strcmp(mt, manifest_types[i].media_type) == 0) {
			if (kind)
				*kind = manifest_types[i].kind;
			return manifest_types[i].media_type;
		}
	return NULL;
}

int oci_manifest_media_type_known(const char *media_type) { return manifest_type(media_type, NULL) != NULL; }

static int is_schema1(const char *mt)
{
	return mt && (strcmp(mt, "application/vnd.docker.distribution.manifest.v1+json") == 0 ||
		      strcmp(mt, "application/vnd.docker.distribution.manifest.v1+prettyjws") == 0);
}

static int is_index_kind(oci_manifest_kind k) { return k == OCI_KIND_IMAGE_INDEX || k == OCI_KIND_DOCKER_LIST; }

/* The Content-Type without parameters, trimmed and lower-cased into out; "" when it names no manifest
 * type in particular (absent, application/json, application/octet-stream). */
static void content_type_base(const char *ct, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	if (!ct)
		return;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t' && n + 1 < size) {
		out[n] = (char)tolower((unsigned char)ct[n]);
		n++;
	}
	out[n] = '\0';
	if (strcmp(out, "application/json") == 0 || strcmp(out, "application/octet-stream") == 0)
		out[0] = '\0';
}

void oci_manifest_free(oci_manifest *m)
{
	if (!m)
		return;
	free(m->artifact_type);
	if (m->config) {
		descriptor_clear(m->config);
		free(m->config);
	}
	descriptors_free(m->layers, m->n_layers);
	descriptors_free(m->manifests, m->n_manifests);
	if (m->subject) {
		descriptor_clear(m->subject);
		free(m->subject);
	}
	json_object_put(m->annotations);
	memset(m, 0, sizeof *m);
}

/* A whole JSON object from exactly len bytes (strict JSON, valid UTF-8, nothing after it). */
static json_object *parse_json_object(const void *data, size_t len, char **err)
{
	json_object *root = NULL;
	if (len > INT_MAX || memchr(data, 0, len)) {
		buf_error(err, "not JSON text");
		return NULL;
	}
	json_tokener *tok = json_tokener_new();
	if (!tok) {
		buf_error(err, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success) {
		buf_error(err, "bad JSON: %s",
			  jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
		json_object_put(root);
		root = NULL;
		goto out;
	}
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		char c = ((const char *)data)[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			buf_error(err, "bad JSON: text after the object");
			json_object_put(root);
			root = NULL;
			goto out;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		buf_error(err, "a manifest is a JSON object");
		json_object_put(root);
		root = NULL;
	}
out:
	json_tokener_free(tok);
	return root;
}

static void sha256_digest(const void *data, size_t len, char out[OCI_DIGEST_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	crypto_sha256(data, len, md);
	memcpy(out, "sha256:", 7);
	for (size_t i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + 64] = '\0';
}

oci_code oci_manifest_parse(const void *data, size_t len, const char *content_type, oci_manifest *out,
			    char **err)
{
	json_object *root = NULL, *v;
	char ct[160];
	char *body_mt = NULL;
	const char *mt;
	oci_code rc = OCI_MANIFEST_INVALID;

	memset(out, 0, sizeof *out);
	if (len > OCI_MANIFEST_MAX) {
		buf_error(err, "manifest larger than %d bytes", OCI_MANIFEST_MAX);
		return OCI_MANIFEST_INVALID;
	}
	content_type_base(content_type, ct, sizeof ct);
	if (is_schema1(ct)) {
		buf_error(err, "Docker schema1 manifests are not supported");
		return OCI_MANIFEST_INVALID;
	}
	if (!(root = parse_json_object(data, len, err)))
		return OCI_MANIFEST_INVALID;

	if (!(v = member(root, "schemaVersion"))) {
		buf_error(err, "schemaVersion is missing");
		goto out;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 2) {
		if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 1)
			buf_error(err, "Docker schema1 manifests are not supported");
		else
			buf_error(err, "schemaVersion must be 2");
		goto out;
	}
	if (get_string(root, "mediaType", 0, "", &body_mt, err) < 0)
		goto out;
	if (is_schema1(body_mt)) {
		buf_error(err, "Docker schema1 manifests are not supported");
		goto out;
	}
	if (body_mt && ct[0] && strcmp(body_mt, ct) != 0) {
		buf_error(err, "mediaType \"%s\" disagrees with Content-Type \"%s\"", body_mt, ct);
		goto out;
	}
	mt = body_mt ? body_mt : ct[0] ? ct : NULL;
	if (!mt) {
		/* OCI manifests may omit mediaType: the shape says which one it is. */
		int has_config = member(root, "config") != NULL, has_children = member(root, "manifests") != NULL;
		if (has_config == has_children) {
			buf_error(err, "no mediaType, and the body is neither clearly an image manifest nor an index");
			goto out;
		}
		mt = has_config ? OCI_MT_IMAGE_MANIFEST : OCI_MT_IMAGE_INDEX;
	}
	if (!(out->media_type = manifest_type(mt, &out->kind))) {
		buf_error(err, "unsupported manifest media type \"%s\"", mt);
		goto out;
	}
	if ((out->kind == OCI_KIND_DOCKER_MANIFEST || out->kind == OCI_KIND_DOCKER_LIST) && !body_mt) {
		buf_error(err, "a Docker manifest must name its mediaType");
		goto out;
	}
	out->schema_version = 2;
	out->size = len;
	sha256_digest(data, len, out->digest);

	if (is_index_kind(out->kind)) {
		if (member(root, "config")) {
			buf_error(err, "an index has no config");
			goto out;
		}
		if (parse_descriptors(root, "manifests", 1, KEYS_OCI, &out->manifests, &out->n_manifests, err) < 0)
			goto out;
	} else {
		if (member(root, "manifests")) {
			buf_error(err, "an image manifest has no manifests");
			goto out;
		}
		if (parse_descriptor_member(root, "config", 1, KEYS_OCI, &out->config, err) < 0 ||
		    parse_descriptors(root, "layers", 1, KEYS_OCI, &out->layers, &out->n_layers, err) < 0)
			goto out;
	}
	if (parse_descriptor_member(root, "subject", 0, KEYS_OCI, &out->subject, err) < 0 ||
	    get_string(root, "artifactType", 0, "", &out->artifact_type, err) < 0 ||
	    get_string_map(root, "annotations", "", &out->annotations, err) < 0)
		goto out;
	rc = OCI_OK;
out:
	free(body_mt);
	json_object_put(root);
	if (rc != OCI_OK)
		oci_manifest_free(out);
	return rc;
}

/* ---------------------------------------------------------------- Accept negotiation */

/* Does one Accept element (a media range with parameters, already trimmed, n bytes) take mt? */
static int accept_element_ok(const char *s, size_t n, const char *mt)
{
	const char *semi = memchr(s, ';', n);
	size_t tlen = semi ? (size_t)(semi - s) : n;
	while (tlen && (s[tlen - 1] == ' ' || s[tlen - 1] == '\t'))
		tlen--;
	/* q=0 means "not acceptable". */
	for (const char *p = semi; p && p < s + n; p = memchr(p + 1, ';', (size_t)(s + n - p - 1))) {
		const char *q = p + 1;
		while (q < s + n && (*q == ' ' || *q == '\t'))
			q++;
		if (q + 1 < s + n && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
			char num[16] = {0};
			size_t k = 0;
			for (q += 2; q < s + n && k + 1 < sizeof num && *q != ';'; q++)
				num[k++] = *q;
			if (strtod(num, NULL) <= 0.0)
				return 0;
		}
	}
	if (tlen == 3 && memcmp(s, "*/*", 3) == 0)
		return 1;
	const char *slash = strchr(mt, '/');
	if (slash && tlen >= 2 && s[tlen - 1] == '*' && s[tlen - 2] == '/')
		return (size_t)(slash - mt) == tlen - 2 && strncasecmp(s, mt, tlen - 2) == 0;
	return strlen(mt) == tlen && strncasecmp(s, mt, tlen) == 0;
}

int oci_accept_ok(char *const *values, size_t count, const char *media_type)
{
	int listed = 0;
	for (size_t i = 0; values && i < count; i++) {
		const char *p = values[i];
		while (p && *p) {
			/* One comma-separated element, commas inside quoted parameters kept. */
			const char *start = p;
			int quoted = 0;
			while (*p && (quoted || *p != ',')) {
				if (*p == '"')
					quoted = !quoted;
				p++;
			}
			const char *end = p;
			if (*p == ',')
				p++;
			while (start < end && (*start == ' ' || *start == '\t'))
				start++;
			while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if (start == end)
				continue;
			listed = 1;
			if (media_type && accept_element_ok(start, (size_t)(end - start), media_type))
				return 1;
		}
	}
	return !listed;
}

/* ---------------------------------------------------------------- upload ranges */

/* Decimal digits at *p into *out, advancing *p; -1 when none or on overflow. */
static int parse_decimal(const char **p, long long *out)
{
	long long v = 0;
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		int d = *s - '0';
		if (v > (LLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

int oci_content_range_parse(const char *value, long long *start, long long *end)
{
	long long a, b, total;
	const char *p = value;
	if (!p)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "bytes", 5) == 0) {
		p += 5;
		if (*p != ' ' && *p != '=')
			return -1;
		while (*p == ' ' || *p == '=')
			p++;
	}
	if (parse_decimal(&p, &a) < 0 || *p++ != '-' || parse_decimal(&p, &b) < 0)
		return -1;
	if (*p == '/') {
		p++;
		if (*p == '*')
			p++;
		else if (parse_decimal(&p, &total) < 0 || total <= b)
			return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p || b < a)
		return -1;
	*start = a;
	*end = b;
	return 0;
}

int oci_range_header(long long offset, char *out, size_t size)
{
	if (offset < 0 || !out)
		return -1;
	int n = snprintf(out, size, "0-%lld", offset > 0 ? offset - 1 : 0);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---------------------------------------------------------------- pagination */

oci_code oci_page_parse(const char *query, int max_n, int *n, char **last)
{
	char *num = NULL;
	*n = -1;
	*last = NULL;
	if (!query)
		query = "";
	int rc = fcgi_query_find(query, "n", &num);
	if (rc < 0)
		return OCI_PAGINATION_NUMBER_INVALID;
	if (rc == 1) {
		long long v = -1;
		const char *p = num;
		if (*num && strspn(num, "0123456789") == strlen(num) && parse_decimal(&p, &v) < 0)
			v = LLONG_MAX; /* all digits but beyond long long: still a number, clamped below */
		free(num);
		if (v < 0)
			return OCI_PAGINATION_NUMBER_INVALID;
		*n = v > max_n ? max_n : (int)v;
	}
	if (fcgi_query_find(query, "last", last) < 0) {
		*n = -1;
		return OCI_PAGINATION_NUMBER_INVALID;
	}
	return OCI_OK;
}

char *oci_link_next(const char *path, int n, const char *last)
{
	buf_t b = BUF_INIT;
	if (buf_printf(&b, "<%s?n=%d", path, n) < 0)
		goto fail;
	if (last) {
		if (buf_puts(&b, "&last=") < 0)
			goto fail;
		for (const unsigned char *p = (const unsigned char *)last; *p; p++) {
			int plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
			if ((plain ? buf_append(&b, p, 1) : buf_printf(&b, "%%%02X", *p)) < 0)
				goto fail;
		}
	}
	if (buf_puts(&b, ">; rel=\"next\"") < 0)
		goto fail;
	return buf_detach(&b);
fail:
	buf_free(&b);
	return NULL;
}

/* ---------------------------------------------------------------- records */

#define LEX_MEDIA_TYPE_MAX 128
#define LEX_DIGEST_MAX 128

static int add_string(json_object *o, const char *key, const char *value)
{
	json_object *s = json_object_new_string(value);
	if (!s)
		return -1;
	json_object_object_add(o, key, s);
	return 0;
}

/* A string no longer than max bytes (lexicon maxLength counts UTF-8 bytes). */
static int fits(const char *s, size_t max) { return s && strlen(s) <= max; }

/* The shape of a URI the lexicon's "uri" format takes: scheme ":" and no spaces or controls. */
static int uri_ok(const char *s)
{
	const char *p = s;
	if (!s || !isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '.' || *p == '-')
		p++;
	if (*p != ':' || !p[1] || strlen(s) > 8192)
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static int annotations_ok(json_object *a, const char *where, char **err)
{
	json_object_object_foreach(a, k, v)
	{
		(void)v;
		if (k[0] == '$')
			return buf_error(err, "%sannotations key \"%s\" cannot be stored in a record", where, k);
	}
	return 0;
}

/* One #blobReference (with_urls) or #manifestReference (with platform) object; NULL with *err set. */
static json_object *descriptor_record(const oci_descriptor *d, int manifest_ref, const char *where, char **err)
{
	json_object *o = json_object_new_object();
	if (!o) {
		buf_error(err, "out of memory");
		return NULL;
	}
	if (!fits(d->media_type, LEX_MEDIA_TYPE_MAX)) {
		buf_error(err, "%s.mediaType longer than %d bytes", where, LEX_MEDIA_TYPE_MAX);
		goto fail;
	}
	if (!oci_digest_ok(d->digest) || d->size < 0) {
		buf_error(err, "%s has a bad digest or size", where);
		goto fail;
	}
	if (add_string(o, "mediaType", d->media_type) < 0 || add_string(o, "digest", d->digest) < 0)
		goto oom;
	json_object_object_add(o, "size", json_object_new_int64(d->size));
	if (!manifest_ref && d->n_urls) {
		json_object *urls = json_object_new_array();
		if (!urls)
			goto oom;
		json_object_object_add(o, "urls", urls);
		for (size_t i = 0; i < d->n_urls; i++) {
			if (!uri_ok(d->urls[i])) {
				buf_error(err, "%s.urls[%zu] is not a URI", where, i);
				goto fail;
			}
			json_object_array_add(urls, json_object_new_string(d->urls[i]));
		}
	}
	if (manifest_ref && d->platform) {
		const oci_platform *p = d->platform;
		json_object *po = json_object_new_object();
		if (!po)
			goto oom;
		json_object_object_add(o, "platform", po);
		if (!fits(p->architecture, 32) || !fits(p->os, 32) || (p->variant && !fits(p->variant, 32)) ||
		    (p->os_version && !fits(p->os_version, 64))) {
			buf_error(err, "%s.platform has a field beyond the lexicon's length", where);
			goto fail;
		}
		if (add_string(po, "architecture", p->architecture) < 0 || add_string(po, "os", p->os) < 0 ||
		    (p->os_version && add_string(po, "osVersion", p->os_version) < 0) ||
		    (p->variant && add_string(po, "variant", p->variant) < 0))
			goto oom;
		if (p->os_features) {
			json_object *f = json_object_new_array();
			if (!f)
				goto oom;
			json_object_object_add(po, "osFeatures", f);
			for (size_t i = 0; i < p->n_os_features; i++) {
				if (!fits(p->os_features[i], 64)) {
					buf_error(err, "%s.platform.osFeatures[%zu] longer than 64 bytes", where, i);
					goto fail;
				}
				json_object_array_add(f, json_object_new_string(p->os_features[i]));
			}
		}
	}
	if (d->annotations) {
		char w[96];
		snprintf(w, sizeof w, "%s.", where);
		if (annotations_ok(d->annotations, w, err) < 0)
			goto fail;
		json_object_object_add(o, "annotations", json_object_get(d->annotations));
	}
	return o;
oom:
	buf_error(err, "out of memory");
fail:
	json_object_put(o);
	return NULL;
}

static int blob_ref_ok(json_object *b)
{
	json_object *t, *ref, *link, *mime, *size;
	return json_object_is_type(b, json_type_object) && (t = member(b, "$type")) &&
	       json_object_is_type(t, json_type_string) && strcmp(json_object_get_string(t), "blob") == 0 &&
	       (ref = member(b, "ref")) && (link = member(ref, "$link")) &&
	       syntax_cid_ok(json_object_get_string(link)) && (mime = member(b, "mimeType")) &&
	       json_object_is_type(mime, json_type_string) && (size = member(b, "size")) &&
	       json_object_is_type(size, json_type_int) && json_object_get_int64(size) >= 0;
}

struct json_object *oci_manifest_record_build(const oci_manifest *m, const char *repository,
					      const char *hold_did, struct json_object *manifest_blob,
					      const char *created_at, char **err)
{
	json_object *rec = NULL, *d;
	if (!m || !m->media_type || !oci_digest_ok(m->digest)) {
		buf_error(err, "no parsed manifest");
		return NULL;
	}
	if (!oci_name_ok(repository)) {
		buf_error(err, "repository \"%s\" is not a valid repository name", repository ? repository : "");
		return NULL;
	}
	if (!syntax_datetime_ok(created_at)) {
		buf_error(err, "createdAt \"%s\" is not an atproto datetime", created_at ? created_at : "");
		return NULL;
	}
	if (hold_did && !syntax_did_ok(hold_did)) {
		buf_error(err, "holdDid \"%s\" is not a DID", hold_did);
		return NULL;
	}
	if (manifest_blob && !blob_ref_ok(manifest_blob)) {
		buf_error(err, "manifestBlob is not a blob ref");
		return NULL;
	}
	if (!(rec = json_object_new_object()))
		goto oom;
	if (add_string(rec, "$type", "io.atcr.manifest") < 0 || add_string(rec, "repository", repository) < 0 ||
	    add_string(rec, "digest", m->digest) < 0 || add_string(rec, "mediaType", m->media_type) < 0)
		goto oom;
	json_object_object_add(rec, "schemaVersion", json_object_new_int(m->schema_version));
	if (add_string(rec, "createdAt", created_at) < 0 || (hold_did && add_string(rec, "holdDid", hold_did) < 0))
		goto oom;
	if (manifest_blob)
		json_object_object_add(rec, "manifestBlob", json_object_get(manifest_blob));
	if (m->config) {
		if (!(d = descriptor_record(m->config, 0, "config", err)))
			goto fail;
		json_object_object_add(rec, "config", d);
	}
	if (!is_index_kind(m->kind)) {
		json_object *layers = json_object_new_array();
		if (!layers)
			goto oom;
		json_object_object_add(rec, "layers", layers);
		for (size_t i = 0; i < m->n_layers; i++) {
			char where[32];
			snprintf(where, sizeof where, "layers[%zu]", i);
			if (!(d = descriptor_record(&m->layers[i], 0, where, err)))
				goto fail;
			json_object_array_add(layers, d);
		}
	} else {
		json_object *children = json_object_new_array();
		if (!children)
			goto oom;
		json_object_object_add(rec, "manifests", children);
		for (size_t i = 0; i < m->n_manifests; i++) {
			char where[32];
			snprintf(where, sizeof where, "manifests[%zu]", i);
			if (!(d = descriptor_record(&m->manifests[i], 1, where, err)))
				goto fail;
			json_object_array_add(children, d);
		}
	}
	if (m->subject) {
		if (!(d = descriptor_record(m->subject, 0, "subject", err)))
			goto fail;
		json_object_object_add(rec, "subject", d);
	}
	if (m->annotations) {
		if (annotations_ok(m->annotations, "", err) < 0)
			goto fail;
		json_object_object_add(rec, "annotations", json_object_get(m->annotations));
	}
	return rec;
oom:
	buf_error(err, "out of memory");
fail:
	json_object_put(rec);
	return NULL;
}

/* A listRecords/getRecord entry carries the record under "value"; accept either form, and check
 * "$type" when present. */
static json_object *record_value(json_object *record, const char *nsid, char **err)
{
	json_object *v, *t;
	if (!json_object_is_type(record, json_type_object)) {
		buf_error(err, "a record is a JSON object");
		return NULL;
	}
	if (!member(record, "repository") && (v = member(record, "value")) && json_object_is_type(v, json_type_object))
		record = v;
	if ((t = member(record, "$type")) &&
	    (!json_object_is_type(t, json_type_string) || strcmp(json_object_get_string(t), nsid) != 0)) {
		buf_error(err, "record $type is not %s", nsid);
		return NULL;
	}
	return record;
}

void oci_manifest_record_free(oci_manifest_record *r)
{
	if (!r)
		return;
	free(r->repository);
	free(r->created_at);
	free(r->hold_did);
	free(r->hold_endpoint);
	free(r->blob_cid);
	free(r->blob_mime_type);
	oci_manifest_free(&r->m);
	memset(r, 0, sizeof *r);
}

int oci_manifest_record_parse(struct json_object *record, oci_manifest_record *out, char **err)
{
	json_object *v, *blob;
	char *digest = NULL, *mt = NULL;
	memset(out, 0, sizeof *out);
	if (!(record = record_value(record, "io.atcr.manifest", err)))
		return -1;
	if (get_string(record, "repository", 1, "", &out->repository, err) < 0 ||
	    get_string(record, "digest", 1, "", &digest, err) < 0 ||
	    get_string(record, "mediaType", 1, "", &mt, err) < 0 ||
	    get_string(record, "createdAt", 1, "", &out->created_at, err) < 0 ||
	    get_string(record, "holdDid", 0, "", &out->hold_did, err) < 0 ||
	    get_string(record, "holdEndpoint", 0, "", &out->hold_endpoint, err) < 0)
		goto fail;
	if (!oci_digest_ok(digest)) {
		buf_error(err, "digest \"%s\" is not a sha256 or sha512 digest", digest);
		goto fail;
	}
	snprintf(out->m.digest, sizeof out->m.digest, "%s", digest);
	if (!(out->m.media_type = manifest_type(mt, &out->m.kind))) {
		buf_error(err, "unsupported manifest media type \"%s\"", mt);
		goto fail;
	}
	if (!(v = member(record, "schemaVersion")) || !json_object_is_type(v, json_type_int)) {
		buf_error(err, "schemaVersion is missing or not an integer");
		goto fail;
	}
	out->m.schema_version = json_object_get_int(v);
	if ((blob = member(record, "manifestBlob"))) {
		json_object *ref = member(blob, "ref");
		json_object *link = ref ? member(ref, "$link") : NULL;
		if (!link || !json_object_is_type(link, json_type_string)) {
			buf_error(err, "manifestBlob.ref.$link is missing");
			goto fail;
		}
		if (!(out->blob_cid = strdup(json_object_get_string(link))) ||
		    get_string(blob, "mimeType", 0, "manifestBlob.", &out->blob_mime_type, err) < 0)
			goto fail;
		json_object *size = member(blob, "size");
		out->blob_size = size && json_object_is_type(size, json_type_int) ? json_object_get_int64(size) : -1;
	}
	if (parse_descriptor_member(record, "config", 0, KEYS_RECORD, &out->m.config, err) < 0 ||
	    parse_descriptors(record, "layers", 0, KEYS_RECORD, &out->m.layers, &out->m.n_layers, err) < 0 ||
	    parse_descriptors(record, "manifests", 0, KEYS_RECORD, &out->m.manifests, &out->m.n_manifests, err) < 0 ||
	    parse_descriptor_member(record, "subject", 0, KEYS_RECORD, &out->m.subject, err) < 0 ||
	    get_string_map(record, "annotations", "", &out->m.annotations, err) < 0)
		goto fail;
	free(digest);
	free(mt);
	return 0;
fail:
	free(digest);
	free(mt);
	oci_manifest_record_free(out);
	return -1;
}

struct json_object *oci_tag_record_build(const char *repository, const char *tag,
					 const char *manifest_uri, const char *media_type,
					 const char *time, char **err)
{
	json_object *rec;
	if (!oci_name_ok(repository)) {
		buf_error(err, "repository \"%s\" is not a valid repository name", repository ? repository : "");
		return NULL;
	}
	if (!oci_tag_ok(tag)) {
		buf_error(err, "\"%s\" is not a valid tag", tag ? tag : "");
		return NULL;
	}
	if (!syntax_aturi_ok(manifest_uri)) {
		buf_error(err, "manifest \"%s\" is not an at-uri", manifest_uri ? manifest_uri : "");
		return NULL;
	}
	if (media_type && !fits(media_type, 255)) {
		buf_error(err, "mediaType longer than 255 bytes");
		return NULL;
	}
	if (!syntax_datetime_ok(time)) {
		buf_error(err, "\"%s\" is not an atproto datetime", time ? time : "");
		return NULL;
	}
	if (!(rec = json_object_new_object()) || add_string(rec, "$type", "io.atcr.tag") < 0 ||
	    add_string(rec, "repository", repository) < 0 || add_string(rec, "tag", tag) < 0 ||
	    add_string(rec, "manifest", manifest_uri) < 0 || (media_type && add_string(rec, "mediaType", media_type) < 0) ||
	    add_string(rec, "createdAt", time) < 0 || add_string(rec, "updatedAt", time) < 0) {
		json_object_put(rec);
		buf_error(err, "out of memory");
		return NULL;
	}
	return rec;
}

void oci_tag_record_free(oci_tag_record *t)
{
	if (!t)
		return;
	free(t->repository);
	free(t->tag);
	free(t->manifest_uri);
	free(t->manifest_digest);
	free(t->media_type);
	free(t->created_at);
	free(t->updated_at);
	memset(t, 0, sizeof *t);
}

int oci_tag_record_parse(struct json_object *record, oci_tag_record *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (!(record = record_value(record, "io.atcr.tag", err)))
		return -1;
	if (get_string(record, "repository", 1, "", &out->repository, err) < 0 ||
	    get_string(record, "tag", 1, "", &out->tag, err) < 0 ||
	    get_string(record, "manifest", 0, "", &out->manifest_uri, err) < 0 ||
	    get_string(record, "manifestDigest", 0, "", &out->manifest_digest, err) < 0 ||
	    get_string(record, "mediaType", 0, "", &out->media_type, err) < 0 ||
	    get_string(record, "createdAt", 0, "", &out->created_at, err) < 0 ||
	    get_string(record, "updatedAt", 0, "", &out->updated_at, err) < 0)
		goto fail;
	if (!out->manifest_uri && !out->manifest_digest) {
		buf_error(err, "tag record has neither manifest nor manifestDigest");
		goto fail;
	}
	if (out->manifest_digest && !oci_digest_ok(out->manifest_digest)) {
		buf_error(err, "manifestDigest \"%s\" is not a digest", out->manifest_digest);
		goto fail;
	}
	return 0;
fail:
	oci_tag_record_free(out);
	return -1;
}

char *oci_tag_rkey(const char *repository, const char *tag)
{
	if (!oci_name_ok(repository) || !oci_tag_ok(tag))
		return NULL;
	char *key = buf_strf("%s:%s", repository, tag);
	for (char *p = key; p && *p != ':'; p++)
		if (*p == '/')
			*p = '~';
	return key;
}

int oci_tag_rkey_parse(const char *rkey, char **repository, char **tag)
{
	*repository = *tag = NULL;
	/* Record-key syntax first: a '/' in the key would otherwise alias the '~' that stands for it. */
	const char *colon = syntax_rkey_ok(rkey) ? strchr(rkey, ':') : NULL;
	if (!colon)
		return -1;
	char *repo = strndup(rkey, (size_t)(colon - rkey));
	if (!repo)
		return -1;
	for (char *p = repo; *p; p++)
		if (*p == '~')
			*p = '/';
	if (!oci_name_ok(repo) || !oci_tag_ok(colon + 1)) {
		free(repo);
		return -1;
	}
	if (!(*tag = strdup(colon + 1))) {
		free(repo);
		return -1;
	}
	*repository = repo;
	return 0;
}
