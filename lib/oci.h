/* oci.h - OCI Distribution primitives for the AppView's /v2/ API: names, routes, error codes, manifests,
 * Accept negotiation, upload ranges, pagination, and the io.atcr.manifest / io.atcr.tag records. */
#ifndef ATCR_OCI_H
#define ATCR_OCI_H
#include <stddef.h>

struct json_object;

/* ---- error codes (OCI distribution spec, plus distribution's extras) */

typedef enum {
	OCI_OK = 0,
	OCI_BLOB_UNKNOWN,
	OCI_BLOB_UPLOAD_INVALID,
	OCI_BLOB_UPLOAD_UNKNOWN,
	OCI_DIGEST_INVALID,
	OCI_MANIFEST_BLOB_UNKNOWN,
	OCI_MANIFEST_INVALID,
	OCI_MANIFEST_UNKNOWN,
	OCI_NAME_INVALID,
	OCI_NAME_UNKNOWN,
	OCI_SIZE_INVALID,
	OCI_UNAUTHORIZED,
	OCI_DENIED,
	OCI_UNSUPPORTED,
	OCI_TOOMANYREQUESTS,
	OCI_RANGE_INVALID,             /* distribution's: 416 for out-of-order chunks */
	OCI_TAG_INVALID,               /* distribution's: a reference that is neither tag nor digest */
	OCI_PAGINATION_NUMBER_INVALID, /* distribution's: a bad ?n= */
	OCI_NOT_FOUND,                 /* not a spec code: a /v2/ path that matches no endpoint (404) */
	OCI_CODE_COUNT
} oci_code;

/* The wire name ("BLOB_UNKNOWN"); "UNKNOWN" for values outside the enum. */
const char *oci_code_name(oci_code code);
/* The HTTP status the spec gives the code (BLOB_UNKNOWN 404, RANGE_INVALID 416, ...); 500 outside the enum. */
int oci_code_status(oci_code code);
/* The default human message ("blob unknown to registry"). */
const char *oci_code_message(oci_code code);
/* The error body {"errors":[{"code","message","detail"}]}: message NULL means the default one, detail
 * is any JSON value or NULL (then "detail" is omitted; it is not consumed: the caller keeps its reference).
 * Returns a malloc'd string (caller frees), NULL when out of memory. */
char *oci_error_body(oci_code code, const char *message, struct json_object *detail);

/* ---- names, tags, digests */

#define OCI_NAME_MAX 255
#define OCI_TAG_MAX 128
/* "sha512:" + 128 hex + NUL */
#define OCI_DIGEST_MAX 136

/* 1 when s matches the distribution name grammar
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* and is at most 255 bytes. */
int oci_name_ok(const char *s);
/* 1 when s is a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
int oci_tag_ok(const char *s);
/* 1 when s is a digest we support: sha256:<64 lower hex> or sha512:<128 lower hex>. */
int oci_digest_ok(const char *s);

typedef enum { OCI_IDENT_HANDLE = 1, OCI_IDENT_DID = 2 } oci_ident_kind;

/* An ATCR repository name "<identity>/<repo>": identity is a handle (alice.bsky.social) or a DID
 * (did:plc:xyz, which the OCI grammar would refuse for its ':'); repo may hold further '/'. */
typedef struct {
	char *full;     /* the whole name as given */
	char *identity; /* handle (lower case) or DID */
	char *repo;     /* e.g. "app" or "team/app": the io.atcr.* records' "repository" */
	oci_ident_kind kind;
} oci_name;

/* Split and validate an ATCR name: a handle identity must pass syntax_handle_ok and the name grammar
 * (so no upper case), a DID identity syntax_did_ok; repo must match the grammar; 255 bytes at most in
 * all. Returns OCI_OK (release with oci_name_free) or OCI_NAME_INVALID with *err set (caller frees). */
oci_code oci_name_parse(const char *name, oci_name *out, char **err);
void oci_name_free(oci_name *n);

/* 1 when digest (sha256: or sha512:) is the digest of data, else 0 (also for a malformed digest).
 * To compute a digest, use digest_buffer (digest.h). */
int oci_digest_matches(const char *digest, const void *data, size_t len);

/* ---- routes: the raw path after "/v2/"
 *
 * Percent-encoding: the path is matched as the web server hands it over (raw REQUEST_URI), with no
 * decoding. Every valid part (name grammar, tags, digests, upload ids, handles, DIDs) is made of
 * characters a path carries unescaped, so conforming clients never escape; a '%' outside a DID
 * identity makes the name or reference invalid, and a DID's own escapes (did:web:host%3A8080) stay
 * as the DID spells them. Names contain '/', so endpoints are matched from the right: in
 * "a.test/manifests/manifests/latest" the name is "a.test/manifests". */

typedef enum {
	OCI_ROUTE_BASE = 1,     /* ""                          GET: API version check */
	OCI_ROUTE_CATALOG,      /* "_catalog"                  GET */
	OCI_ROUTE_MANIFEST,     /* <name>/manifests/<ref>      GET HEAD PUT DELETE; ref = tag or digest */
	OCI_ROUTE_BLOB,         /* <name>/blobs/<digest>       GET HEAD DELETE */
	OCI_ROUTE_UPLOAD_START, /* <name>/blobs/uploads/       POST (the trailing '/' is optional) */
	OCI_ROUTE_UPLOAD,       /* <name>/blobs/uploads/<id>   GET PATCH PUT DELETE; ref = upload id */
	OCI_ROUTE_TAGS,         /* <name>/tags/list            GET */
	OCI_ROUTE_REFERRERS,    /* <name>/referrers/<digest>   GET */
} oci_route_kind;

typedef struct {
	oci_route_kind kind;
	oci_name name;     /* empty (all NULL) for BASE and CATALOG */
	char *ref;         /* tag, digest or upload id; NULL when the endpoint has none */
	int ref_is_digest; /* 1 when ref is a digest */
} oci_route;

/* Parse the part of a /v2/ path after "/v2/". Returns OCI_OK (release with oci_route_free), or
 * OCI_NOT_FOUND (no endpoint has that shape), OCI_NAME_INVALID, OCI_DIGEST_INVALID (a reference with
 * ':' that is not a supported digest), OCI_TAG_INVALID, OCI_BLOB_UPLOAD_UNKNOWN (an upload id that
 * is not 1..128 of [A-Za-z0-9._-] starting with a letter or digit); *err gets a message (caller frees) when err is not NULL. */
oci_code oci_route_parse(const char *path, oci_route *out, char **err);
void oci_route_free(oci_route *r);

/* ---- manifests */

#define OCI_MANIFEST_MAX (4 * 1024 * 1024)

#define OCI_MT_IMAGE_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_IMAGE_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

typedef enum {
	OCI_KIND_IMAGE_MANIFEST = 1, /* OCI image manifest (also artifacts) */
	OCI_KIND_IMAGE_INDEX,
	OCI_KIND_DOCKER_MANIFEST,    /* Docker schema2 */
	OCI_KIND_DOCKER_LIST,
} oci_manifest_kind;

typedef struct {
	char *architecture, *os;   /* required when a platform is present */
	char *variant, *os_version; /* NULL when absent */
	char **os_features;         /* NULL when absent */
	size_t n_os_features;
} oci_platform;

typedef struct {
	char *media_type;
	char *digest;
	long long size;
	char **urls; /* NULL when absent */
	size_t n_urls;
	char *artifact_type;             /* NULL when absent */
	struct json_object *annotations; /* string -> string object, or NULL */
	oci_platform *platform;          /* index entries only; NULL when absent */
} oci_descriptor;

typedef struct {
	oci_manifest_kind kind;
	const char *media_type;  /* one of the OCI_MT_* strings */
	int schema_version;      /* always 2 once parsed */
	char digest[OCI_DIGEST_MAX]; /* sha256 of the exact bytes */
	size_t size;             /* length of the exact bytes */
	char *artifact_type;     /* NULL when absent */
	oci_descriptor *config;  /* image manifests; NULL for indexes */
	oci_descriptor *layers;  /* image manifests */
	size_t n_layers;
	oci_descriptor *manifests; /* indexes and lists: the children */
	size_t n_manifests;
	oci_descriptor *subject;   /* NULL when absent */
	struct json_object *annotations; /* NULL when absent */
} oci_manifest;

/* Parse and validate manifest bytes (at most OCI_MANIFEST_MAX). content_type is the request's
 * Content-Type (parameters ignored); NULL, "", application/json and application/octet-stream count as
 * absent. The media type is the body's mediaType or content_type; they must agree when both are
 * present, and a Docker schema2 body must name its type (OCI bodies may omit it). Returns OCI_OK
 * (release with oci_manifest_free) or OCI_MANIFEST_INVALID (bad JSON, schemaVersion != 2, unknown
 * or disagreeing media type, Docker schema1, missing parts, bad descriptors, bad digests) with *err
 * set (caller frees). */
oci_code oci_manifest_parse(const void *data, size_t len, const char *content_type, oci_manifest *out,
			    char **err);
void oci_manifest_free(oci_manifest *m);
/* 1 for the four manifest media types we store. */
int oci_manifest_media_type_known(const char *media_type);

/* ---- Accept negotiation */

/* 1 when a stored manifest of media_type may be served to a client that sent these Accept values.
 * Each value may itself be a folded list ("a, b"); parameters are ignored except q=0, which refuses.
 * No values (count 0, or only empty strings) and the wildcards star-slash-star and "application/" star
 * accept anything; otherwise the type must be listed (a Docker client that lists the OCI type gets OCI,
 * one that does not gets nothing: the handler answers MANIFEST_UNKNOWN, as distribution does). */
int oci_accept_ok(char *const *values, size_t count, const char *media_type);

/* ---- upload ranges */

/* Parse a PATCH Content-Range: "<start>-<end>" (docker) or "bytes <start>-<end>" with an optional
 * "/<total>" or "/" "*" after it. Returns 0 with start and end set (end >= start), -1 when malformed
 * (answer RANGE_INVALID). */
int oci_content_range_parse(const char *value, long long *start, long long *end);
/* The Range header value of an upload status: "0-<offset-1>", and "0-0" for offset 0 as distribution
 * answers. Writes into out (size >= 48 always suffices); returns 0, -1 if out is too small. */
int oci_range_header(long long offset, char *out, size_t size);

/* ---- pagination (tags/list, _catalog) */

/* Read n and last from a raw query string. *n = -1 when absent, else clamped to max_n; *last is
 * malloc'd (caller frees) or NULL when absent. Returns OCI_OK, or OCI_PAGINATION_NUMBER_INVALID when n
 * is not a non-negative decimal integer or the query is malformed (*last is NULL then). */
oci_code oci_page_parse(const char *query, int max_n, int *n, char **last);
/* The Link header value of the next page: </v2/<name>/tags/list?n=N&last=T>; rel="next", where path is
 * "/v2/<name>/tags/list" (or "/v2/_catalog") and last is percent-encoded. Caller frees; NULL on OOM. */
char *oci_link_next(const char *path, int n, const char *last);

/* ---- records: io.atcr.manifest and io.atcr.tag */

/* An io.atcr.manifest record, as read back from a PDS. */
typedef struct {
	char *repository;
	char *created_at;
	char *hold_did;      /* NULL when absent */
	char *hold_endpoint; /* deprecated form of holdDid; NULL when absent */
	char *blob_cid;      /* manifestBlob.ref.$link; NULL when absent */
	char *blob_mime_type;
	long long blob_size;
	oci_manifest m;      /* digest, media type, schemaVersion, config/layers/manifests/subject/annotations;
			      * m.size and m.artifact_type are 0/NULL: the record does not carry them */
} oci_manifest_record;

/* The io.atcr.manifest record (with "$type") for a parsed manifest, with exactly the lexicon's fields:
 * repository, digest, mediaType, schemaVersion, createdAt, holdDid (if not NULL), manifestBlob (if not
 * NULL: a blob ref {"$type":"blob","ref":{"$link"},"mimeType","size"} as uploadBlob returns it; not
 * consumed), config, layers, manifests (with platform), subject, annotations. Refuses values beyond
 * the lexicon's limits (repository 255, media types and digests 128, platform fields 32/64), a bad
 * holdDid or createdAt, and annotation keys starting with '$'. Returns a new object (caller
 * json_object_put) or NULL with *err set. */
struct json_object *oci_manifest_record_build(const oci_manifest *m, const char *repository,
					      const char *hold_did, struct json_object *manifest_blob,
					      const char *created_at, char **err);
/* Read an io.atcr.manifest record (object or its value with or without "$type"). Returns 0 (release
 * with oci_manifest_record_free) or -1 with *err set: missing required fields, bad digest, bad
 * descriptors. */
int oci_manifest_record_parse(struct json_object *record, oci_manifest_record *out, char **err);
void oci_manifest_record_free(oci_manifest_record *r);

/* An io.atcr.tag record. */
typedef struct {
	char *repository;
	char *tag;
	char *manifest_uri;    /* at-uri of the io.atcr.manifest record; NULL in old records */
	char *manifest_digest; /* deprecated field, read from old records; NULL when absent */
	char *media_type;      /* NULL when absent */
	char *created_at;      /* createdAt, NULL when absent */
	char *updated_at;      /* updatedAt, NULL when absent */
} oci_tag_record;

/* The io.atcr.tag record: repository, tag, manifest (at-uri), mediaType (if not NULL), and the time as
 * both createdAt (the field ATCR's published lexicon requires) and updatedAt (its newer variant), so
 * readers of either version accept it. Returns a new object (caller json_object_put) or NULL with
 * *err set (bad repository, tag, at-uri or datetime). */
struct json_object *oci_tag_record_build(const char *repository, const char *tag,
					 const char *manifest_uri, const char *media_type,
					 const char *time, char **err);
/* Read an io.atcr.tag record; it needs repository, tag, and manifest or manifestDigest. Returns 0
 * (release with oci_tag_record_free) or -1 with *err set. */
int oci_tag_record_parse(struct json_object *record, oci_tag_record *out, char **err);
void oci_tag_record_free(oci_tag_record *t);

/* The io.atcr.tag record key for repository + tag: the repository with every '/' written as '~',
 * then ':', then the tag ("team/app" + "1.0" -> "team~app:1.0"). Injective because repositories
 * never contain '~' or ':' and tags never contain ':', so the single ':' splits the key and '~'
 * maps back to '/'; every key is valid record-key syntax, at most 255+1+128 bytes, and never "." or "..".
 * Returns a malloc'd key (caller frees) or NULL when repository or tag is invalid (or OOM). */
char *oci_tag_rkey(const char *repository, const char *tag);
/* The inverse: 0 with *repository and *tag malloc'd (caller frees both), -1 when rkey is not such a key. */
int oci_tag_rkey_parse(const char *rkey, char **repository, char **tag);

#endif
