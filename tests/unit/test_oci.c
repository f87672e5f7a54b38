/* test_oci.c - names, routes, error bodies, manifests (tests/vectors/oci), Accept, ranges, pagination,
 * io.atcr.manifest / io.atcr.tag records and the tag record key. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "oci.h"
#include "syntax.h"
#include "tap.h"

static char *slurp(const char *rel, size_t *len)
{
	FILE *f = fopen(vector_path(rel), "rb");
	buf_t b = BUF_INIT;
	char chunk[4096];
	size_t n;
	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return b.data ? buf_detach(&b) : strdup("");
}

/* The expected digest of a vector file from SHA256SUMS (sha256sum output); NULL when not listed. */
static char *expected_digest(const char *file)
{
	size_t len;
	char *sums = slurp("oci/SHA256SUMS", &len), *out = NULL;
	for (char *line = sums ? strtok(sums, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		char hex[65], name[256];
		if (sscanf(line, "%64s %255s", hex, name) == 2 && strcmp(name, file) == 0)
			out = buf_strf("sha256:%s", hex);
	}
	free(sums);
	return out;
}

/* ------------------------------------------------------------ names, tags, digests */

static void test_grammar(void)
{
	const char *names_ok[] = {"a", "app", "alice.bsky.social/app", "a/b/c", "foo_bar", "foo__bar", "foo---bar",
				  "a.b.c/d-e_f", "0/1", "library/ubuntu", NULL};
	const char *names_bad[] = {"", "A", "App", "a//b", "/a", "a/", "a..b", "a___b", "a_-b", "-a", "a-",
				   "a.", ".a", "did:plc:abc/app", "a b", "a%2fb", "a/B", "ä", NULL};
	for (int i = 0; names_ok[i]; i++)
		ok(oci_name_ok(names_ok[i]), "name ok: %s", names_ok[i]);
	for (int i = 0; names_bad[i]; i++)
		ok(!oci_name_ok(names_bad[i]), "name refused: '%s'", names_bad[i]);
	char long_name[300];
	memset(long_name, 'a', sizeof long_name);
	long_name[255] = '\0';
	ok(oci_name_ok(long_name), "name of 255 bytes ok");
	long_name[255] = 'a';
	long_name[256] = '\0';
	ok(!oci_name_ok(long_name), "name of 256 bytes refused");
	ok(!oci_name_ok(NULL), "NULL name refused");

	const char *tags_ok[] = {"latest", "1.0", "v1.2.3-rc.1", "_x", "A_b-C.d", "12-slim", "0", NULL};
	const char *tags_bad[] = {"", ".x", "-x", "a:b", "a/b", "a b", "sha256:abc", "é", NULL};
	for (int i = 0; tags_ok[i]; i++)
		ok(oci_tag_ok(tags_ok[i]), "tag ok: %s", tags_ok[i]);
	for (int i = 0; tags_bad[i]; i++)
		ok(!oci_tag_ok(tags_bad[i]), "tag refused: '%s'", tags_bad[i]);
	char tag[200];
	memset(tag, 'x', sizeof tag);
	tag[128] = '\0';
	ok(oci_tag_ok(tag), "tag of 128 ok");
	tag[128] = 'x';
	tag[129] = '\0';
	ok(!oci_tag_ok(tag), "tag of 129 refused");

	char d256[80], d512[140];
	snprintf(d256, sizeof d256, "sha256:%064d", 0);
	snprintf(d512, sizeof d512, "sha512:%0128d", 7);
	ok(oci_digest_ok(d256), "sha256 digest ok");
	ok(oci_digest_ok(d512), "sha512 digest ok");
	ok(oci_digest_ok("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "real sha256 ok");
	const char *digests_bad[] = {
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", /* upper case */
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",  /* 63 */
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add", /* 65 */
		"sha384:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:",
		"sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"",
		NULL};
	for (int i = 0; digests_bad[i]; i++)
		ok(!oci_digest_ok(digests_bad[i]), "digest refused: '%s'", digests_bad[i]);
	snprintf(d512, sizeof d512, "sha512:%0127d", 7);
	ok(!oci_digest_ok(d512), "sha512 with 127 hex refused");
	snprintf(d256, sizeof d256, "sha512:%064d", 0);
	ok(!oci_digest_ok(d256), "sha512 with 64 hex refused");

	/* Known answers: FIPS 180-2 "abc". */
	ok(oci_digest_matches("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc", 3),
	   "sha256(abc) matches");
	ok(oci_digest_matches("sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
			      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
			      "abc", 3),
	   "sha512(abc) matches");
	ok(!oci_digest_matches("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abd", 3),
	   "sha256 of other bytes does not match");
	ok(!oci_digest_matches("sha256:xyz", "abc", 3), "malformed digest never matches");
}

static void test_name_parse(void)
{
	oci_name n;
	char *err = NULL;
	is_int(oci_name_parse("alice.bsky.social/app", &n, &err), OCI_OK, "handle name parses");
	is_str(n.identity, "alice.bsky.social", "handle identity");
	is_str(n.repo, "app", "handle repo");
	is_int(n.kind, OCI_IDENT_HANDLE, "kind handle");
	is_str(n.full, "alice.bsky.social/app", "full name kept");
	oci_name_free(&n);

	is_int(oci_name_parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz/team/app-1", &n, &err), OCI_OK, "DID name parses");
	is_str(n.identity, "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "DID identity");
	is_str(n.repo, "team/app-1", "nested repo");
	is_int(n.kind, OCI_IDENT_DID, "kind DID");
	oci_name_free(&n);

	is_int(oci_name_parse("did:web:hold.example.com%3A8080/app", &n, &err), OCI_OK, "did:web with port parses");
	is_str(n.identity, "did:web:hold.example.com%3A8080", "did:web identity keeps its escape");
	oci_name_free(&n);

	const char *bad[] = {"app", "alice/app", "Alice.bsky.social/app", "alice.bsky.social/App",
			     "alice.bsky.social/", "alice.bsky.social//app", "did:plc:/app", "did:PLC:abc/app",
			     "alice_x.test/app", "alice.123/app", "did:plc:abc/a:b", "", NULL};
	for (int i = 0; bad[i]; i++) {
		int rc = oci_name_parse(bad[i], &n, &err);
		ok(rc == OCI_NAME_INVALID && err && *err, "name refused with a message: '%s' (%s)", bad[i],
		   err ? err : "");
		ok(n.full == NULL && n.identity == NULL && n.repo == NULL, "nothing left allocated for '%s'", bad[i]);
	}
	free(err);
}

/* ------------------------------------------------------------ routes */

static void test_routes(void)
{
	static const char *D = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	char p[512];
	struct {
		const char *path;
		oci_code rc;
		oci_route_kind kind;
		const char *name, *ref;
		int is_digest;
	} cases[] = {
		{"", OCI_OK, OCI_ROUTE_BASE, NULL, NULL, 0},
		{"_catalog", OCI_OK, OCI_ROUTE_CATALOG, NULL, NULL, 0},
		{"alice.test/app/manifests/latest", OCI_OK, OCI_ROUTE_MANIFEST, "alice.test/app", "latest", 0},
		{"alice.test/app/manifests/@D", OCI_OK, OCI_ROUTE_MANIFEST, "alice.test/app", "@D", 1},
		{"alice.test/team/app/manifests/1.0", OCI_OK, OCI_ROUTE_MANIFEST, "alice.test/team/app", "1.0", 0},
		{"did:plc:abc234/app/manifests/v1", OCI_OK, OCI_ROUTE_MANIFEST, "did:plc:abc234/app", "v1", 0},
		{"alice.test/manifests/manifests/latest", OCI_OK, OCI_ROUTE_MANIFEST, "alice.test/manifests", "latest", 0},
		{"alice.test/app/blobs/@D", OCI_OK, OCI_ROUTE_BLOB, "alice.test/app", "@D", 1},
		{"alice.test/blobs/uploads/blobs/@D", OCI_OK, OCI_ROUTE_BLOB, "alice.test/blobs/uploads", "@D", 1},
		{"alice.test/app/blobs/uploads/", OCI_OK, OCI_ROUTE_UPLOAD_START, "alice.test/app", NULL, 0},
		{"alice.test/app/blobs/uploads", OCI_OK, OCI_ROUTE_UPLOAD_START, "alice.test/app", NULL, 0},
		{"alice.test/blobs/blobs/uploads/", OCI_OK, OCI_ROUTE_UPLOAD_START, "alice.test/blobs", NULL, 0},
		{"alice.test/blobs/uploads/blobs/uploads/", OCI_OK, OCI_ROUTE_UPLOAD_START, "alice.test/blobs/uploads",
		 NULL, 0},
		{"alice.test/app/blobs/uploads/3f1c9a2e-7b4d-4c1e-9f00-5a6b7c8d9e0f", OCI_OK, OCI_ROUTE_UPLOAD,
		 "alice.test/app", "3f1c9a2e-7b4d-4c1e-9f00-5a6b7c8d9e0f", 0},
		{"did:web:hold.example.com%3A8080/app/blobs/uploads/abc_DEF.1", OCI_OK, OCI_ROUTE_UPLOAD,
		 "did:web:hold.example.com%3A8080/app", "abc_DEF.1", 0},
		{"alice.test/app/tags/list", OCI_OK, OCI_ROUTE_TAGS, "alice.test/app", NULL, 0},
		{"alice.test/tags/list/tags/list", OCI_OK, OCI_ROUTE_TAGS, "alice.test/tags/list", NULL, 0},
		{"did:plc:abc234/x/y/tags/list", OCI_OK, OCI_ROUTE_TAGS, "did:plc:abc234/x/y", NULL, 0},
		{"alice.test/app/referrers/@D", OCI_OK, OCI_ROUTE_REFERRERS, "alice.test/app", "@D", 1},
		{"alice.test/referrers/referrers/@D", OCI_OK, OCI_ROUTE_REFERRERS, "alice.test/referrers", "@D", 1},
		/* errors */
		{"alice.test/app", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"alice.test/app/manifests/", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"alice.test/app/tags", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"alice.test/app/other/x", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"manifests/latest", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"/manifests/latest", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"_catalog/x", OCI_NOT_FOUND, 0, NULL, NULL, 0},
		{"app/manifests/latest", OCI_NAME_INVALID, 0, NULL, NULL, 0},
		{"Alice.test/app/manifests/latest", OCI_NAME_INVALID, 0, NULL, NULL, 0},
		{"alice.test/App/manifests/latest", OCI_NAME_INVALID, 0, NULL, NULL, 0},
		{"alice.test/a%2Fb/manifests/latest", OCI_NAME_INVALID, 0, NULL, NULL, 0},
		{"alice.test//app/tags/list", OCI_NAME_INVALID, 0, NULL, NULL, 0},
		{"alice.test/app/manifests/sha256:abc", OCI_DIGEST_INVALID, 0, NULL, NULL, 0},
		{"alice.test/app/manifests/-bad", OCI_TAG_INVALID, 0, NULL, NULL, 0},
		{"alice.test/app/manifests/la%74est", OCI_TAG_INVALID, 0, NULL, NULL, 0},
		{"alice.test/app/blobs/latest", OCI_DIGEST_INVALID, 0, NULL, NULL, 0},
		{"alice.test/app/referrers/latest", OCI_DIGEST_INVALID, 0, NULL, NULL, 0},
		{"alice.test/app/blobs/uploads/..", OCI_BLOB_UPLOAD_UNKNOWN, 0, NULL, NULL, 0},
		{"alice.test/app/blobs/uploads/a%2e", OCI_BLOB_UPLOAD_UNKNOWN, 0, NULL, NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		oci_route r;
		char *err = NULL;
		/* "@D" stands for the test digest. */
		const char *at = strstr(cases[i].path, "@D");
		if (at)
			snprintf(p, sizeof p, "%.*s%s", (int)(at - cases[i].path), cases[i].path, D);
		else
			snprintf(p, sizeof p, "%s", cases[i].path);
		oci_code rc = oci_route_parse(p, &r, &err);
		is_int(rc, cases[i].rc, "route '%s' -> %s", cases[i].path, oci_code_name(cases[i].rc));
		if (rc != OCI_OK) {
			ok(err && *err, "route '%s' error has a message (%s)", cases[i].path, err ? err : "");
			ok(r.ref == NULL && r.name.full == NULL, "failed route '%s' holds nothing", cases[i].path);
			free(err);
			continue;
		}
		is_int(r.kind, cases[i].kind, "route '%s' kind", cases[i].path);
		is_str(r.name.full, cases[i].name, "route '%s' name", cases[i].path);
		is_str(r.ref, cases[i].ref && strcmp(cases[i].ref, "@D") == 0 ? D : cases[i].ref, "route '%s' ref",
		       cases[i].path);
		is_int(r.ref_is_digest, cases[i].is_digest, "route '%s' ref kind", cases[i].path);
		oci_route_free(&r);
		free(err);
	}

	oci_route r;
	is_int(oci_route_parse("did:plc:abc234/team/app/manifests/latest", &r, NULL), OCI_OK, "DID route, NULL err");
	is_str(r.name.identity, "did:plc:abc234", "route carries the split name: identity");
	is_str(r.name.repo, "team/app", "route carries the split name: repo");
	oci_route_free(&r);
}

/* ------------------------------------------------------------ error codes */

static void test_codes(void)
{
	struct {
		oci_code c;
		const char *name;
		int status;
	} t[] = {
		{OCI_BLOB_UNKNOWN, "BLOB_UNKNOWN", 404},
		{OCI_BLOB_UPLOAD_INVALID, "BLOB_UPLOAD_INVALID", 400},
		{OCI_BLOB_UPLOAD_UNKNOWN, "BLOB_UPLOAD_UNKNOWN", 404},
		{OCI_DIGEST_INVALID, "DIGEST_INVALID", 400},
		{OCI_MANIFEST_BLOB_UNKNOWN, "MANIFEST_BLOB_UNKNOWN", 400},
		{OCI_MANIFEST_INVALID, "MANIFEST_INVALID", 400},
		{OCI_MANIFEST_UNKNOWN, "MANIFEST_UNKNOWN", 404},
		{OCI_NAME_INVALID, "NAME_INVALID", 400},
		{OCI_NAME_UNKNOWN, "NAME_UNKNOWN", 404},
		{OCI_SIZE_INVALID, "SIZE_INVALID", 400},
		{OCI_UNAUTHORIZED, "UNAUTHORIZED", 401},
		{OCI_DENIED, "DENIED", 403},
		{OCI_UNSUPPORTED, "UNSUPPORTED", 405},
		{OCI_TOOMANYREQUESTS, "TOOMANYREQUESTS", 429},
		{OCI_RANGE_INVALID, "RANGE_INVALID", 416},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		is_str(oci_code_name(t[i].c), t[i].name, "code name %s", t[i].name);
		is_int(oci_code_status(t[i].c), t[i].status, "status of %s", t[i].name);
		ok(oci_code_message(t[i].c) && *oci_code_message(t[i].c), "%s has a default message", t[i].name);
	}
	is_str(oci_code_name((oci_code)999), "UNKNOWN", "out-of-range code name");
	is_int(oci_code_status((oci_code)-1), 500, "out-of-range code status");

	json_object *detail = json_object_new_object();
	json_object_object_add(detail, "digest", json_object_new_string("sha256:x"));
	char *body = oci_error_body(OCI_BLOB_UNKNOWN, NULL, detail);
	json_object *root = body ? json_tokener_parse(body) : NULL, *errs, *e, *v;
	ok(root && json_object_object_get_ex(root, "errors", &errs) && json_object_array_length(errs) == 1,
	   "error body has one error: %s", body ? body : "(null)");
	e = root ? json_object_array_get_idx(errs, 0) : NULL;
	ok(e && json_object_object_get_ex(e, "code", &v) && strcmp(json_object_get_string(v), "BLOB_UNKNOWN") == 0,
	   "error code in body");
	ok(e && json_object_object_get_ex(e, "message", &v) &&
		   strcmp(json_object_get_string(v), oci_code_message(OCI_BLOB_UNKNOWN)) == 0,
	   "default message in body");
	ok(e && json_object_object_get_ex(e, "detail", &v) && json_object_object_get_ex(v, "digest", &v) &&
		   strcmp(json_object_get_string(v), "sha256:x") == 0,
	   "detail object in body");
	json_object_put(root);
	free(body);
	json_object_put(detail); /* not consumed by oci_error_body */

	body = oci_error_body(OCI_DENIED, "push to \"bob\" \\ not allowed", NULL);
	root = body ? json_tokener_parse(body) : NULL;
	e = root && json_object_object_get_ex(root, "errors", &errs) ? json_object_array_get_idx(errs, 0) : NULL;
	ok(e && json_object_object_get_ex(e, "message", &v) &&
		   strcmp(json_object_get_string(v), "push to \"bob\" \\ not allowed") == 0,
	   "custom message escaped and kept");
	ok(e && !json_object_object_get_ex(e, "detail", NULL), "no detail when none given");
	json_object_put(root);
	free(body);
}

/* ------------------------------------------------------------ manifests */

static int parse_file(const char *file, const char *ct, oci_manifest *m, char **err)
{
	size_t len;
	char rel[256];
	snprintf(rel, sizeof rel, "oci/%s", file);
	char *data = slurp(rel, &len);
	if (!data) {
		diag("cannot read %s", vector_path(rel));
		memset(m, 0, sizeof *m);
		return -100;
	}
	int rc = (int)oci_manifest_parse(data, len, ct, m, err);
	free(data);
	return rc;
}

static void check_digest(const char *file, const oci_manifest *m)
{
	char *want = expected_digest(file);
	ok(want != NULL, "%s listed in SHA256SUMS", file);
	is_str(m->digest, want, "%s digest of the exact bytes", file);
	free(want);
}

static void test_manifests(void)
{
	oci_manifest m;
	char *err = NULL;
	char d[80];

	/* OCI image manifest, three layers */
	is_int(parse_file("oci-image-manifest.json", OCI_MT_IMAGE_MANIFEST, &m, &err), OCI_OK, "OCI image manifest parses");
	is_int(m.kind, OCI_KIND_IMAGE_MANIFEST, "kind image manifest");
	is_str(m.media_type, OCI_MT_IMAGE_MANIFEST, "media type");
	is_int(m.schema_version, 2, "schemaVersion");
	check_digest("oci-image-manifest.json", &m);
	ok(m.config != NULL, "config present");
	if (m.config) {
		is_str(m.config->media_type, "application/vnd.oci.image.config.v1+json", "config media type");
		is_int(m.config->size, 1469, "config size");
	}
	is_int(m.n_layers, 3, "three layers");
	if (m.n_layers == 3) {
		is_int(m.layers[0].size, 3401613, "layer 0 size");
		is_str(m.layers[2].media_type, "application/vnd.oci.image.layer.v1.tar+zstd", "layer 2 media type");
		is_int(m.layers[2].size, 0, "layer 2 size 0 allowed");
		is_int(m.layers[2].n_urls, 1, "layer 2 urls");
		if (m.layers[2].n_urls)
			is_str(m.layers[2].urls[0], "https://mirror.example.com/layer-3.tar.zst", "layer 2 url");
		json_object *t = NULL;
		ok(m.layers[1].annotations &&
			   json_object_object_get_ex(m.layers[1].annotations, "org.opencontainers.image.title", &t) &&
			   strcmp(json_object_get_string(t), "app.tar.gz") == 0,
		   "layer annotation");
	}
	ok(m.annotations && json_object_object_length(m.annotations) == 2, "manifest annotations");
	ok(m.n_manifests == 0 && m.subject == NULL && m.artifact_type == NULL, "no children, subject, artifactType");
	oci_manifest_free(&m);

	/* the same bytes with Content-Type parameters, absent, or generic */
	is_int(parse_file("oci-image-manifest.json", "application/vnd.oci.image.manifest.v1+json; charset=utf-8", &m, &err),
	       OCI_OK, "Content-Type parameters ignored");
	oci_manifest_free(&m);
	is_int(parse_file("oci-image-manifest.json", NULL, &m, &err), OCI_OK, "no Content-Type: body decides");
	oci_manifest_free(&m);
	is_int(parse_file("oci-image-manifest.json", "application/json", &m, &err), OCI_OK, "application/json: body decides");
	oci_manifest_free(&m);
	is_int(parse_file("oci-image-manifest.json", OCI_MT_DOCKER_MANIFEST, &m, &err), OCI_MANIFEST_INVALID,
	       "body and Content-Type disagree");
	ok(err && strstr(err, "disagrees"), "disagreement named: %s", err ? err : "");
	is_int(parse_file("oci-image-manifest.json", OCI_MT_IMAGE_INDEX, &m, &err), OCI_MANIFEST_INVALID,
	       "manifest sent as an index refused");
	is_int(parse_file("oci-image-manifest.json", "application/vnd.docker.distribution.manifest.v1+prettyjws", &m, &err),
	       OCI_MANIFEST_INVALID, "schema1 Content-Type refused");
	ok(err && strstr(err, "schema1"), "schema1 named: %s", err ? err : "");

	/* OCI image manifest without mediaType */
	is_int(parse_file("oci-image-manifest-no-mediatype.json", NULL, &m, &err), OCI_OK, "OCI manifest without mediaType");
	is_str(m.media_type, OCI_MT_IMAGE_MANIFEST, "inferred OCI image manifest");
	check_digest("oci-image-manifest-no-mediatype.json", &m);
	oci_manifest_free(&m);
	is_int(parse_file("oci-image-manifest-no-mediatype.json", OCI_MT_IMAGE_MANIFEST, &m, &err), OCI_OK,
	       "no mediaType, type from Content-Type");
	oci_manifest_free(&m);
	is_int(parse_file("oci-image-manifest-no-mediatype.json", OCI_MT_DOCKER_MANIFEST, &m, &err), OCI_MANIFEST_INVALID,
	       "a Docker manifest must carry its mediaType");

	/* A Docker-shaped body without mediaType: fine as OCI, refused when sent as Docker schema2. */
	is_int(parse_file("docker-manifest-no-mediatype.json", NULL, &m, &err), OCI_OK, "Docker shape without mediaType");
	is_str(m.media_type, OCI_MT_IMAGE_MANIFEST, "... is read as an OCI image manifest");
	oci_manifest_free(&m);
	is_int(parse_file("docker-manifest-no-mediatype.json", OCI_MT_DOCKER_MANIFEST, &m, &err), OCI_MANIFEST_INVALID,
	       "... and refused as Docker schema2");
	ok(err && strstr(err, "mediaType"), "missing mediaType named: %s", err ? err : "");

	/* OCI index, two platforms */
	is_int(parse_file("oci-image-index.json", OCI_MT_IMAGE_INDEX, &m, &err), OCI_OK, "OCI index parses");
	is_int(m.kind, OCI_KIND_IMAGE_INDEX, "kind index");
	check_digest("oci-image-index.json", &m);
	ok(m.config == NULL && m.n_layers == 0, "index has no config or layers");
	is_int(m.n_manifests, 2, "two children");
	if (m.n_manifests == 2 && m.manifests[0].platform && m.manifests[1].platform) {
		is_str(m.manifests[0].platform->architecture, "amd64", "child 0 arch");
		is_str(m.manifests[0].platform->os, "linux", "child 0 os");
		ok(m.manifests[0].platform->variant == NULL && m.manifests[0].platform->os_version == NULL,
		   "child 0 has no variant/os.version");
		is_str(m.manifests[1].platform->architecture, "arm", "child 1 arch");
		is_str(m.manifests[1].platform->variant, "v7", "child 1 variant");
		is_str(m.manifests[1].platform->os_version, "6.1.0", "child 1 os.version");
		is_int(m.manifests[1].platform->n_os_features, 2, "child 1 os.features");
		if (m.manifests[1].platform->n_os_features == 2)
			is_str(m.manifests[1].platform->os_features[1], "gpu", "child 1 os.features[1]");
		is_int(m.manifests[1].size, 1025, "child 1 size");
	} else {
		ok(0, "both children have a platform");
	}
	oci_manifest_free(&m);

	/* Docker schema2 */
	is_int(parse_file("docker-manifest.json", OCI_MT_DOCKER_MANIFEST, &m, &err), OCI_OK, "Docker schema2 parses");
	is_int(m.kind, OCI_KIND_DOCKER_MANIFEST, "kind docker manifest");
	check_digest("docker-manifest.json", &m);
	is_int(m.n_layers, 2, "two docker layers");
	ok(m.config && strcmp(m.config->media_type, "application/vnd.docker.container.image.v1+json") == 0,
	   "docker config media type");
	oci_manifest_free(&m);

	/* Docker manifest list */
	is_int(parse_file("docker-manifest-list.json", NULL, &m, &err), OCI_OK, "Docker manifest list parses");
	is_int(m.kind, OCI_KIND_DOCKER_LIST, "kind docker list");
	is_str(m.media_type, OCI_MT_DOCKER_LIST, "list media type");
	check_digest("docker-manifest-list.json", &m);
	is_int(m.n_manifests, 2, "two list entries");
	if (m.n_manifests == 2 && m.manifests[0].platform)
		is_str(m.manifests[0].platform->architecture, "ppc64le", "list entry 0 arch");
	oci_manifest_free(&m);

	/* OCI 1.1 artifact with subject */
	is_int(parse_file("oci-artifact-manifest.json", OCI_MT_IMAGE_MANIFEST, &m, &err), OCI_OK, "artifact parses");
	check_digest("oci-artifact-manifest.json", &m);
	is_str(m.artifact_type, "application/vnd.example.sbom.v1+json", "artifactType");
	ok(m.subject != NULL, "subject present");
	if (m.subject) {
		snprintf(d, sizeof d, "%s", m.subject->digest);
		ok(oci_digest_ok(d), "subject digest valid");
		is_int(m.subject->size, 1234, "subject size");
		is_str(m.subject->media_type, OCI_MT_IMAGE_MANIFEST, "subject media type");
	}
	ok(m.config && strcmp(m.config->media_type, "application/vnd.oci.empty.v1+json") == 0, "empty config");
	oci_manifest_free(&m);

	/* invalid ones */
	const char *invalid[] = {"invalid-annotation-not-string.json", "invalid-bad-config-digest.json",
				 "invalid-bad-json.json", "invalid-bad-layer-digest.json",
				 "invalid-docker-schema1.json",
				 "invalid-float-size.json", "invalid-index-no-manifests.json",
				 "invalid-layer-no-mediatype.json", "invalid-missing-config.json",
				 "invalid-missing-layers.json", "invalid-negative-size.json",
				 "invalid-no-schema-version.json", "invalid-not-object.json",
				 "invalid-platform-no-os.json", "invalid-schema-version-3.json",
				 "invalid-string-size.json", "invalid-trailing-garbage.json",
				 "invalid-unknown-media-type.json", NULL};
	for (int i = 0; invalid[i]; i++) {
		int rc = parse_file(invalid[i], NULL, &m, &err);
		is_int(rc, OCI_MANIFEST_INVALID, "%s refused", invalid[i]);
		ok(err && *err, "%s: %s", invalid[i], err ? err : "(no message)");
		ok(m.config == NULL && m.layers == NULL && m.manifests == NULL && m.annotations == NULL,
		   "%s leaves nothing allocated", invalid[i]);
	}
	parse_file("invalid-docker-schema1.json", NULL, &m, &err);
	ok(err && strstr(err, "schema1"), "schema1 body named: %s", err ? err : "");

	/* in-memory edge cases */
	const char *img = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":"
			  "\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"size\":1},"
			  "\"layers\":[]}";
	is_int(oci_manifest_parse(img, strlen(img), NULL, &m, &err), OCI_OK, "minimal manifest, empty layers");
	oci_manifest_free(&m);
	char with_nul[256];
	size_t n = (size_t)snprintf(with_nul, sizeof with_nul, "%s", img);
	with_nul[n] = ' ';
	with_nul[n + 1] = '\0';
	with_nul[n + 2] = ' ';
	is_int(oci_manifest_parse(with_nul, n + 3, NULL, &m, &err), OCI_MANIFEST_INVALID, "NUL byte refused");
	is_int(oci_manifest_parse(img, strlen(img) - 1, NULL, &m, &err), OCI_MANIFEST_INVALID, "truncated JSON refused");
	const char *latin1 = "{\"schemaVersion\":2,\"annotations\":{\"a\":\"\xe9\"},\"manifests\":[]}";
	is_int(oci_manifest_parse(latin1, strlen(latin1), NULL, &m, &err), OCI_MANIFEST_INVALID, "invalid UTF-8 refused");
	const char *both = "{\"schemaVersion\":2,\"manifests\":[],\"config\":{\"mediaType\":\"a/b\",\"digest\":"
			   "\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"size\":1}}";
	is_int(oci_manifest_parse(both, strlen(both), NULL, &m, &err), OCI_MANIFEST_INVALID,
	       "no mediaType with both config and manifests refused");
	const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";
	is_int(oci_manifest_parse(idx, strlen(idx), NULL, &m, &err), OCI_OK, "OCI index without mediaType");
	is_int(m.kind, OCI_KIND_IMAGE_INDEX, "inferred index");
	oci_manifest_free(&m);

	/* 4 MiB limit: a valid manifest padded with whitespace */
	size_t big = OCI_MANIFEST_MAX + 1;
	char *huge = malloc(big);
	if (huge) {
		memset(huge, ' ', big);
		memcpy(huge, img, strlen(img));
		is_int(oci_manifest_parse(huge, big, NULL, &m, &err), OCI_MANIFEST_INVALID, "over 4 MiB refused");
		is_int(oci_manifest_parse(huge, big - 1, NULL, &m, &err), OCI_OK, "exactly 4 MiB accepted");
		oci_manifest_free(&m);
		free(huge);
	}

	ok(oci_manifest_media_type_known(OCI_MT_DOCKER_LIST), "docker list type known");
	ok(!oci_manifest_media_type_known("application/vnd.docker.distribution.manifest.v1+json"), "schema1 type unknown");
	ok(!oci_manifest_media_type_known(NULL), "NULL type unknown");
	free(err);
}

/* ------------------------------------------------------------ Accept */

static void test_accept(void)
{
	struct {
		const char *lines[4];
		const char *stored;
		int want;
	} t[] = {
		{{NULL}, OCI_MT_IMAGE_MANIFEST, 1},
		{{"", NULL}, OCI_MT_IMAGE_MANIFEST, 1},
		{{"*/*", NULL}, OCI_MT_DOCKER_LIST, 1},
		{{"application/*", NULL}, OCI_MT_IMAGE_INDEX, 1},
		{{"text/*", NULL}, OCI_MT_IMAGE_INDEX, 0},
		{{OCI_MT_DOCKER_MANIFEST, NULL}, OCI_MT_DOCKER_MANIFEST, 1},
		{{OCI_MT_DOCKER_MANIFEST, NULL}, OCI_MT_IMAGE_MANIFEST, 0},
		{{OCI_MT_DOCKER_MANIFEST, NULL}, OCI_MT_DOCKER_LIST, 0},
		/* skopeo / containerd: several lines */
		{{OCI_MT_DOCKER_MANIFEST, OCI_MT_DOCKER_LIST, OCI_MT_IMAGE_MANIFEST, OCI_MT_IMAGE_INDEX}, OCI_MT_IMAGE_INDEX, 1},
		{{"application/vnd.docker.distribution.manifest.v1+prettyjws", OCI_MT_DOCKER_MANIFEST, NULL},
		 OCI_MT_IMAGE_INDEX, 0},
		/* folded by the server */
		{{OCI_MT_DOCKER_MANIFEST ", " OCI_MT_DOCKER_LIST ", " OCI_MT_IMAGE_MANIFEST, NULL}, OCI_MT_IMAGE_MANIFEST, 1},
		{{OCI_MT_DOCKER_MANIFEST "," OCI_MT_DOCKER_LIST, NULL}, OCI_MT_IMAGE_INDEX, 0},
		{{OCI_MT_IMAGE_MANIFEST ", */*", NULL}, OCI_MT_DOCKER_LIST, 1},
		/* parameters */
		{{OCI_MT_IMAGE_INDEX "; q=0.5", NULL}, OCI_MT_IMAGE_INDEX, 1},
		{{OCI_MT_IMAGE_INDEX ";q=0", NULL}, OCI_MT_IMAGE_INDEX, 0},
		{{"*/*;q=0.0", NULL}, OCI_MT_IMAGE_INDEX, 0},
		{{"APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON", NULL}, OCI_MT_IMAGE_INDEX, 1},
		{{"application/vnd.oci.image.index.v1+jsonx", NULL}, OCI_MT_IMAGE_INDEX, 0},
		{{" , ,", OCI_MT_DOCKER_MANIFEST, NULL}, OCI_MT_DOCKER_MANIFEST, 1},
		{{"application/json", NULL}, OCI_MT_IMAGE_MANIFEST, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t count = 0;
		while (count < 4 && t[i].lines[count])
			count++;
		char *lines[4];
		for (size_t k = 0; k < count; k++)
			lines[k] = (char *)t[i].lines[k];
		is_int(oci_accept_ok(lines, count, t[i].stored), t[i].want, "Accept case %zu (%s... -> %s)", i,
		       count ? t[i].lines[0] : "none", t[i].stored);
	}
	is_int(oci_accept_ok(NULL, 0, OCI_MT_IMAGE_MANIFEST), 1, "no Accept at all");
}

/* ------------------------------------------------------------ ranges */

static void test_ranges(void)
{
	struct {
		const char *v;
		int rc;
		long long a, b;
	} t[] = {
		{"0-1023", 0, 0, 1023},
		{"1024-2047", 0, 1024, 2047},
		{"bytes 0-1023/*", 0, 0, 1023},
		{"bytes 0-1023/4096", 0, 0, 1023},
		{"bytes=10-19", 0, 10, 19},
		{"  5-5  ", 0, 5, 5},
		{"0-9223372036854775807", 0, 0, 9223372036854775807LL},
		{"0-9223372036854775808", -1, 0, 0},
		{"10-9", -1, 0, 0},
		{"-5", -1, 0, 0},
		{"5-", -1, 0, 0},
		{"a-b", -1, 0, 0},
		{"0-10x", -1, 0, 0},
		{"bytes */59", -1, 0, 0},
		{"bytes 0-1023/1000", -1, 0, 0},
		{"bytes0-5", -1, 0, 0},
		{"+1-5", -1, 0, 0},
		{"", -1, 0, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		long long a = -7, b = -7;
		int rc = oci_content_range_parse(t[i].v, &a, &b);
		is_int(rc, t[i].rc, "Content-Range '%s' %s", t[i].v, t[i].rc ? "refused" : "parses");
		if (rc == 0 && t[i].rc == 0)
			ok(a == t[i].a && b == t[i].b, "Content-Range '%s' = %lld-%lld", t[i].v, a, b);
	}
	ok(oci_content_range_parse(NULL, NULL, NULL) == -1, "NULL Content-Range refused");

	char out[48];
	ok(oci_range_header(0, out, sizeof out) == 0 && strcmp(out, "0-0") == 0, "Range for offset 0: %s", out);
	ok(oci_range_header(1024, out, sizeof out) == 0 && strcmp(out, "0-1023") == 0, "Range for offset 1024: %s", out);
	ok(oci_range_header(9223372036854775807LL, out, sizeof out) == 0 && strcmp(out, "0-9223372036854775806") == 0,
	   "Range for the largest offset");
	ok(oci_range_header(-1, out, sizeof out) == -1, "negative offset refused");
	ok(oci_range_header(123456, out, 4) == -1, "too small a buffer refused");
}

/* ------------------------------------------------------------ pagination */

static void test_pagination(void)
{
	int n;
	char *last;
	is_int(oci_page_parse("", 100, &n, &last), OCI_OK, "empty query");
	ok(n == -1 && last == NULL, "no n, no last");
	is_int(oci_page_parse("n=10&last=v1.2", 100, &n, &last), OCI_OK, "n and last");
	is_int(n, 10, "n = 10");
	is_str(last, "v1.2", "last = v1.2");
	free(last);
	is_int(oci_page_parse("last=team%2Fapp&n=0", 100, &n, &last), OCI_OK, "n=0 and encoded last");
	is_int(n, 0, "n = 0 kept");
	is_str(last, "team/app", "last decoded");
	free(last);
	is_int(oci_page_parse("n=5000", 1000, &n, &last), OCI_OK, "large n");
	is_int(n, 1000, "large n clamped");
	is_int(oci_page_parse("n=99999999999999999999999", 1000, &n, &last), OCI_OK, "huge n");
	is_int(n, 1000, "huge n clamped");
	const char *bad[] = {"n=-1", "n=abc", "n=", "n=1x", "n=%zz", "n=1&last=%zz", "n= 5", NULL};
	for (int i = 0; bad[i]; i++) {
		is_int(oci_page_parse(bad[i], 100, &n, &last), OCI_PAGINATION_NUMBER_INVALID, "query '%s' refused", bad[i]);
		ok(last == NULL, "no last left for '%s'", bad[i]);
	}
	is_int(oci_page_parse(NULL, 100, &n, &last), OCI_OK, "NULL query");

	char *link = oci_link_next("/v2/alice.test/app/tags/list", 50, "v1.2_rc-1");
	is_str(link, "</v2/alice.test/app/tags/list?n=50&last=v1.2_rc-1>; rel=\"next\"", "tags Link header");
	free(link);
	link = oci_link_next("/v2/_catalog", 2, "did:plc:abc/team/app");
	is_str(link, "</v2/_catalog?n=2&last=did%3Aplc%3Aabc%2Fteam%2Fapp>; rel=\"next\"", "catalog Link escapes last");
	free(link);
	link = oci_link_next("/v2/_catalog", 2, NULL);
	is_str(link, "</v2/_catalog?n=2>; rel=\"next\"", "Link without last");
	free(link);
}

/* ------------------------------------------------------------ records */

/* 1 when every key of o is one of the allowed names (a NULL-terminated list). */
static int keys_within(json_object *o, const char *const *allowed)
{
	json_object_object_foreach(o, k, v)
	{
		(void)v;
		int found = 0;
		for (int i = 0; allowed[i] && !found; i++)
			found = strcmp(k, allowed[i]) == 0;
		if (!found) {
			diag("unexpected key %s", k);
			return 0;
		}
	}
	return 1;
}

static const char *const main_keys[] = {"$type", "repository", "digest", "mediaType", "schemaVersion", "createdAt",
					"holdDid", "holdEndpoint", "manifestBlob", "config", "layers", "manifests",
					"subject", "annotations", NULL};
static const char *const blobref_keys[] = {"mediaType", "size", "digest", "urls", "annotations", NULL};
static const char *const manifestref_keys[] = {"mediaType", "size", "digest", "platform", "annotations", NULL};
static const char *const platform_keys[] = {"architecture", "os", "osVersion", "osFeatures", "variant", NULL};

/* The record's fields are the lexicon's, all the way down. */
static int record_shape_ok(json_object *rec)
{
	json_object *v;
	if (!keys_within(rec, main_keys))
		return 0;
	if (json_object_object_get_ex(rec, "config", &v) && !keys_within(v, blobref_keys))
		return 0;
	if (json_object_object_get_ex(rec, "subject", &v) && !keys_within(v, blobref_keys))
		return 0;
	if (json_object_object_get_ex(rec, "layers", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!keys_within(json_object_array_get_idx(v, i), blobref_keys))
				return 0;
	if (json_object_object_get_ex(rec, "manifests", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *c = json_object_array_get_idx(v, i), *p;
			if (!keys_within(c, manifestref_keys))
				return 0;
			if (json_object_object_get_ex(c, "platform", &p) && !keys_within(p, platform_keys))
				return 0;
		}
	return 1;
}

static json_object *blob_ref(void)
{
	return json_tokener_parse("{\"$type\":\"blob\",\"ref\":{\"$link\":"
				  "\"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy\"},"
				  "\"mimeType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1563}");
}

static int descriptors_equal(const oci_descriptor *a, const oci_descriptor *b)
{
	if (strcmp(a->media_type, b->media_type) || strcmp(a->digest, b->digest) || a->size != b->size ||
	    a->n_urls != b->n_urls || !a->annotations != !b->annotations || !a->platform != !b->platform)
		return 0;
	for (size_t i = 0; i < a->n_urls; i++)
		if (strcmp(a->urls[i], b->urls[i]))
			return 0;
	if (a->annotations && !json_object_equal(a->annotations, b->annotations))
		return 0;
	if (a->platform) {
		const oci_platform *p = a->platform, *q = b->platform;
		if (strcmp(p->architecture, q->architecture) || strcmp(p->os, q->os) || !p->variant != !q->variant ||
		    (p->variant && strcmp(p->variant, q->variant)) || !p->os_version != !q->os_version ||
		    (p->os_version && strcmp(p->os_version, q->os_version)) || p->n_os_features != q->n_os_features)
			return 0;
		for (size_t i = 0; i < p->n_os_features; i++)
			if (strcmp(p->os_features[i], q->os_features[i]))
				return 0;
	}
	return 1;
}

static void round_trip(const char *file, const char *repo)
{
	oci_manifest m;
	oci_manifest_record r;
	char *err = NULL;
	json_object *blob = blob_ref();
	if (parse_file(file, NULL, &m, &err) != OCI_OK) {
		ok(0, "%s parses for the round trip: %s", file, err ? err : "");
		free(err);
		json_object_put(blob);
		return;
	}
	json_object *rec = oci_manifest_record_build(&m, repo, "did:web:hold01.atcr.io", blob, "2024-05-01T12:00:00.000Z", &err);
	ok(rec != NULL, "%s: record built (%s)", file, rec ? "" : err);
	if (!rec)
		goto out;
	ok(record_shape_ok(rec), "%s: only lexicon fields", file);
	/* Through text, as it travels to and from the PDS. */
	json_object *back = json_tokener_parse(json_object_to_json_string(rec));
	int rc = oci_manifest_record_parse(back, &r, &err);
	is_int(rc, 0, "%s: record parses back (%s)", file, rc ? err : "");
	if (rc == 0) {
		is_str(r.repository, repo, "%s: repository", file);
		is_str(r.m.digest, m.digest, "%s: digest", file);
		is_str(r.m.media_type, m.media_type, "%s: mediaType", file);
		is_int(r.m.kind, m.kind, "%s: kind", file);
		is_int(r.m.schema_version, 2, "%s: schemaVersion", file);
		is_str(r.created_at, "2024-05-01T12:00:00.000Z", "%s: createdAt", file);
		is_str(r.hold_did, "did:web:hold01.atcr.io", "%s: holdDid", file);
		is_str(r.blob_cid, "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy", "%s: blob cid", file);
		is_str(r.blob_mime_type, OCI_MT_IMAGE_MANIFEST, "%s: blob mimeType", file);
		is_int(r.blob_size, 1563, "%s: blob size", file);
		ok(!m.config == !r.m.config && (!m.config || descriptors_equal(m.config, r.m.config)), "%s: config", file);
		ok(!m.subject == !r.m.subject && (!m.subject || descriptors_equal(m.subject, r.m.subject)), "%s: subject",
		   file);
		int same = m.n_layers == r.m.n_layers && m.n_manifests == r.m.n_manifests;
		for (size_t i = 0; same && i < m.n_layers; i++)
			same = descriptors_equal(&m.layers[i], &r.m.layers[i]);
		for (size_t i = 0; same && i < m.n_manifests; i++)
			same = descriptors_equal(&m.manifests[i], &r.m.manifests[i]);
		ok(same, "%s: layers and manifests (with platforms) survive", file);
		ok(!m.annotations == !r.m.annotations && (!m.annotations || json_object_equal(m.annotations, r.m.annotations)),
		   "%s: annotations", file);
		oci_manifest_record_free(&r);
	}
	json_object_put(back);

	/* The listRecords shape {"uri","cid","value"} reads the same. */
	json_object *wrapped = json_object_new_object();
	json_object_object_add(wrapped, "uri", json_object_new_string("at://did:plc:abc/io.atcr.manifest/3kabc"));
	json_object_object_add(wrapped, "value", json_object_get(rec));
	is_int(oci_manifest_record_parse(wrapped, &r, &err), 0, "%s: wrapped record parses", file);
	oci_manifest_record_free(&r);
	json_object_put(wrapped);
	json_object_put(rec);
out:
	oci_manifest_free(&m);
	json_object_put(blob);
	free(err);
}

/* A record build that must fail with a message (err is read only after the call). */
static void build_refused(const oci_manifest *m, const char *repo, const char *hold, json_object *blob,
			  const char *at, const char *what)
{
	char *err = NULL;
	json_object *rec = oci_manifest_record_build(m, repo, hold, blob, at, &err);
	ok(!rec && err && *err, "%s refused: %s", what, err ? err : "(no message)");
	json_object_put(rec);
	free(err);
}

static void test_manifest_records(void)
{
	round_trip("oci-image-manifest.json", "app");
	round_trip("oci-image-index.json", "team/app");
	round_trip("docker-manifest.json", "app");
	round_trip("docker-manifest-list.json", "app");
	round_trip("oci-artifact-manifest.json", "app");

	oci_manifest m;
	char *err = NULL;
	json_object *rec, *v;
	if (parse_file("oci-image-index.json", NULL, &m, &err) == OCI_OK) {
		rec = oci_manifest_record_build(&m, "app", NULL, NULL, "2024-05-01T12:00:00Z", &err);
		ok(rec && !json_object_object_get_ex(rec, "holdDid", NULL) &&
			   !json_object_object_get_ex(rec, "manifestBlob", NULL),
		   "optional holdDid and manifestBlob left out");
		json_object *p = NULL;
		ok(rec && json_object_object_get_ex(rec, "manifests", &v) &&
			   json_object_object_get_ex(json_object_array_get_idx(v, 1), "platform", &p) &&
			   json_object_object_get_ex(p, "osVersion", NULL) && json_object_object_get_ex(p, "osFeatures", NULL) &&
			   !json_object_object_get_ex(p, "os.version", NULL),
		   "platform written with the lexicon's osVersion/osFeatures");
		ok(rec && json_object_object_get_ex(rec, "$type", &v) && strcmp(json_object_get_string(v), "io.atcr.manifest") == 0,
		   "record $type");
		json_object_put(rec);

		build_refused(&m, "App", NULL, NULL, "2024-05-01T12:00:00Z", "bad repository");
		build_refused(&m, "app", NULL, NULL, "yesterday", "bad createdAt");
		build_refused(&m, "app", "hold01", NULL, "2024-05-01T12:00:00Z", "bad holdDid");
		json_object *notblob = json_tokener_parse("{\"cid\":\"x\"}");
		build_refused(&m, "app", NULL, notblob, "2024-05-01T12:00:00Z", "bad manifestBlob");
		json_object_put(notblob);
		/* a platform field beyond the lexicon's maxLength */
		free(m.manifests[0].platform->architecture);
		m.manifests[0].platform->architecture = strdup("an-architecture-name-of-33-bytes!");
		build_refused(&m, "app", NULL, NULL, "2024-05-01T12:00:00Z", "platform architecture over 32 bytes");
		oci_manifest_free(&m);
	}
	if (parse_file("oci-image-manifest.json", NULL, &m, &err) == OCI_OK) {
		char mt[200];
		memset(mt, 'x', sizeof mt);
		memcpy(mt, "application/", 12);
		mt[129] = '\0';
		free(m.layers[0].media_type);
		m.layers[0].media_type = strdup(mt);
		build_refused(&m, "app", NULL, NULL, "2024-05-01T12:00:00Z", "layer mediaType over 128 bytes");
		oci_manifest_free(&m);
	}

	oci_manifest_record r;
	const char *bad[] = {
		"{\"repository\":\"app\",\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST "\",\"schemaVersion\":2,\"createdAt\":\"x\"}",
		"{\"repository\":\"app\",\"digest\":\"sha256:1\",\"mediaType\":\"" OCI_MT_IMAGE_MANIFEST
		"\",\"schemaVersion\":2,\"createdAt\":\"x\"}",
		"{\"$type\":\"io.atcr.tag\",\"repository\":\"app\"}",
		"[]",
		NULL};
	for (int i = 0; bad[i]; i++) {
		json_object *o = json_tokener_parse(bad[i]);
		int rc = oci_manifest_record_parse(o, &r, &err);
		ok(rc == -1 && err, "bad manifest record %d refused: %s", i, err ? err : "(no message)");
		json_object_put(o);
	}
	free(err);
}

static void test_tag_records(void)
{
	char *err = NULL;
	oci_tag_record t;
	const char *uri = "at://did:plc:abc234/io.atcr.manifest/3kabcdefghi22";
	json_object *rec = oci_tag_record_build("team/app", "1.0", uri, OCI_MT_IMAGE_INDEX, "2024-05-01T12:00:00Z", &err);
	ok(rec != NULL, "tag record built");
	static const char *const tag_keys[] = {"$type", "repository", "tag", "manifest", "mediaType", "createdAt",
					       "updatedAt", NULL};
	ok(rec && keys_within(rec, tag_keys), "tag record fields");
	json_object *back = rec ? json_tokener_parse(json_object_to_json_string(rec)) : NULL;
	is_int(oci_tag_record_parse(back, &t, &err), 0, "tag record parses back");
	is_str(t.repository, "team/app", "tag repository");
	is_str(t.tag, "1.0", "tag");
	is_str(t.manifest_uri, uri, "tag manifest uri");
	is_str(t.media_type, OCI_MT_IMAGE_INDEX, "tag mediaType");
	is_str(t.created_at, "2024-05-01T12:00:00Z", "tag createdAt");
	is_str(t.updated_at, "2024-05-01T12:00:00Z", "tag updatedAt");
	ok(t.manifest_digest == NULL, "no deprecated digest written");
	oci_tag_record_free(&t);
	json_object_put(back);
	json_object_put(rec);

	/* an old record with the deprecated manifestDigest */
	json_object *old = json_tokener_parse("{\"$type\":\"io.atcr.tag\",\"repository\":\"app\",\"tag\":\"latest\","
					      "\"manifestDigest\":\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
					      "\"createdAt\":\"2023-01-01T00:00:00Z\"}");
	is_int(oci_tag_record_parse(old, &t, &err), 0, "old tag record parses");
	is_str(t.manifest_digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "manifestDigest read");
	ok(t.manifest_uri == NULL && t.updated_at == NULL, "absent fields NULL");
	oci_tag_record_free(&t);
	json_object_put(old);

	const char *bad[] = {"{\"repository\":\"app\",\"tag\":\"latest\"}",
			     "{\"repository\":\"app\",\"manifest\":\"at://did:plc:a/io.atcr.manifest/x\"}",
			     "{\"repository\":\"app\",\"tag\":\"latest\",\"manifestDigest\":\"md5:x\"}",
			     "{\"$type\":\"io.atcr.manifest\",\"repository\":\"app\",\"tag\":\"latest\",\"manifest\":\"at://x\"}",
			     NULL};
	for (int i = 0; bad[i]; i++) {
		json_object *o = json_tokener_parse(bad[i]);
		int rc = oci_tag_record_parse(o, &t, &err);
		ok(rc == -1 && err, "bad tag record %d refused: %s", i, err ? err : "(no message)");
		json_object_put(o);
	}
	ok(!oci_tag_record_build("app", "bad tag", uri, NULL, "2024-05-01T12:00:00Z", &err), "bad tag refused");
	ok(!oci_tag_record_build("app", "latest", "https://x", NULL, "2024-05-01T12:00:00Z", &err), "non at-uri refused");
	ok(!oci_tag_record_build("a//b", "latest", uri, NULL, "2024-05-01T12:00:00Z", &err), "bad repository refused");
	ok(!oci_tag_record_build("app", "latest", uri, NULL, "2024-05-01", &err), "bad time refused");
	free(err);
}

/* ------------------------------------------------------------ tag record keys */

static void test_rkeys(void)
{
	/* Pairs that naive encodings confuse. */
	const char *pairs[][2] = {
		{"a/b", "c"},   {"a", "b_c"},   {"a_b", "c"},   {"a", "b-c"},  {"a-b", "c"},   {"a/b/c", "d"},
		{"a/b", "c.d"}, {"a.b", "c"},   {"a", "b.c"},   {"a__b", "c"}, {"a", "_b"},   {"a", "_b_c"},
		{"a/b_c", "d"}, {"a_b/c", "d"}, {"ab", "c"},    {"a", "bc"},   {"a", "B"},     {"a", "b"},
		{"a.b/c", "d"}, {"a/b.c", "d"}, {"x", "latest"}, {"x/latest", "latest"},
	};
	size_t np = sizeof pairs / sizeof pairs[0];
	char *keys[sizeof pairs / sizeof pairs[0]];
	for (size_t i = 0; i < np; i++) {
		char *repo = NULL, *tag = NULL;
		keys[i] = oci_tag_rkey(pairs[i][0], pairs[i][1]);
		ok(keys[i] && syntax_rkey_ok(keys[i]), "rkey(%s, %s) = %s is record-key syntax", pairs[i][0], pairs[i][1],
		   keys[i] ? keys[i] : "(null)");
		ok(oci_tag_rkey_parse(keys[i], &repo, &tag) == 0 && repo && tag && strcmp(repo, pairs[i][0]) == 0 &&
			   strcmp(tag, pairs[i][1]) == 0,
		   "rkey %s parses back to (%s, %s)", keys[i] ? keys[i] : "(null)", pairs[i][0], pairs[i][1]);
		free(repo);
		free(tag);
	}
	int distinct = 1;
	for (size_t i = 0; i < np; i++)
		for (size_t j = i + 1; j < np; j++)
			if (keys[i] && keys[j] && strcmp(keys[i], keys[j]) == 0) {
				diag("collision: %s", keys[i]);
				distinct = 0;
			}
	ok(distinct, "no two tricky pairs share a key");
	is_str(keys[0], "a~b:c", "the documented spelling");
	for (size_t i = 0; i < np; i++)
		free(keys[i]);

	/* Exhaustive over a small alphabet: every (repo, tag) pair whose concatenation is short, from the
	 * characters that matter; a key that parses back to its own pair proves the map injective. */
	const char rchars[] = "ab._-/", tchars[] = "aB._-";
	int checked = 0, all_ok = 1;
	char repo[8], tag[8];
	for (int rl = 1; rl <= 4; rl++) {
		long rmax = 1;
		for (int k = 0; k < rl; k++)
			rmax *= 6;
		for (long ri = 0; ri < rmax; ri++) {
			long x = ri;
			for (int k = 0; k < rl; k++, x /= 6)
				repo[k] = rchars[x % 6];
			repo[rl] = '\0';
			if (!oci_name_ok(repo))
				continue;
			for (int tl = 1; tl <= 2; tl++) {
				long tmax = tl == 1 ? 5 : 25;
				for (long ti = 0; ti < tmax; ti++) {
					tag[0] = tchars[ti % 5];
					tag[1] = tchars[ti / 5];
					tag[tl] = '\0';
					if (!oci_tag_ok(tag))
						continue;
					char *key = oci_tag_rkey(repo, tag), *r2 = NULL, *t2 = NULL;
					checked++;
					if (!key || !syntax_rkey_ok(key) || oci_tag_rkey_parse(key, &r2, &t2) != 0 ||
					    strcmp(r2, repo) || strcmp(t2, tag)) {
						if (all_ok)
							diag("failed for (%s, %s) -> %s", repo, tag, key ? key : "(null)");
						all_ok = 0;
					}
					free(key);
					free(r2);
					free(t2);
				}
			}
		}
	}
	ok(all_ok && checked > 100, "%d generated pairs all round-trip through valid keys", checked);

	/* the longest inputs stay within 512 */
	char longrepo[256], longtag[129];
	memset(longrepo, 'r', 255);
	longrepo[255] = '\0';
	memset(longtag, 't', 128);
	longtag[128] = '\0';
	char *key = oci_tag_rkey(longrepo, longtag);
	ok(key && strlen(key) == 384 && syntax_rkey_ok(key), "longest key is 384 bytes and valid");
	free(key);

	ok(oci_tag_rkey("App", "x") == NULL, "invalid repository gets no key");
	ok(oci_tag_rkey("app", "x:y") == NULL, "invalid tag gets no key");
	char *r = NULL, *t = NULL;
	const char *bad[] = {"a/b:c", "app", "a~~b:c", ":x", "a:", "a:b:c", "~a:b", "A:b", "a:.b", NULL};
	for (int i = 0; bad[i]; i++) {
		ok(oci_tag_rkey_parse(bad[i], &r, &t) == -1 && !r && !t, "rkey '%s' is not one of ours", bad[i]);
	}
}

int main(void)
{
	test_grammar();
	test_name_parse();
	test_routes();
	test_codes();
	test_manifests();
	test_accept();
	test_ranges();
	test_pagination();
	test_manifest_records();
	test_tag_records();
	test_rkeys();
	return tap_done();
}
