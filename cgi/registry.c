/* registry.c - the OCI Distribution API under /v2/: version check, endpoint parsing, OCI errors. */
#include "appview.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define API_VERSION_HEADER "Docker-Distribution-Api-Version"
#define API_VERSION "registry/2.0"

int registry_send_error(fcgi_req *r, int status, const char *code, const char *message, const char *detail_name)
{
	int rc = -1;
	json_object *root = json_object_new_object(), *errors = json_object_new_array(),
		    *err = json_object_new_object();
	if (!root || !errors || !err)
		goto out;
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (detail_name) {
		json_object *detail = json_object_new_object();
		json_object_object_add(detail, "name", json_object_new_string(detail_name));
		json_object_object_add(err, "detail", detail);
	}
	json_object_array_add(errors, err);
	err = NULL;
	json_object_object_add(root, "errors", errors);
	errors = NULL;
	fcgi_add_header(r, API_VERSION_HEADER, API_VERSION);
	rc = fcgi_send_json(r, status, root);
out:
	json_object_put(err);
	json_object_put(errors);
	json_object_put(root);
	return rc;
}

void registry_layer_error(fcgi_req *r, int status, const char *message)
{
	/* OCI has no generic "bad request" code; UNSUPPORTED is what clients show as a
	 * refusal, and distribution uses UNKNOWN for server faults. */
	const char *code = status == 404 ? "NAME_UNKNOWN"
			   : status == 413 ? "SIZE_INVALID"
			   : status >= 500 ? "UNKNOWN"
					   : "UNSUPPORTED";
	registry_send_error(r, status, code, message, NULL);
}

int registry_base(fcgi_req *r)
{
	fcgi_add_header(r, API_VERSION_HEADER, API_VERSION);
	return fcgi_send(r, 200, "application/json", "{}", 2);
}

/* The endpoint words of the OCI API; <name> (which may hold slashes) is everything before
 * the last of them, so that a repository called "blobs" still parses. */
static const char *const endpoints[] = {"/manifests/", "/blobs/", "/tags/", "/referrers/"};

/* Length of <name> in rest ("alice.bsky.social/app/manifests/1.0"), or 0 when rest is not
 * <name>/<endpoint>/... at all. */
static size_t oci_name_len(const char *rest)
{
	size_t best = 0;
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
		for (const char *p = strstr(rest, endpoints[i]); p; p = strstr(p + 1, endpoints[i]))
			if ((size_t)(p - rest) > best)
				best = (size_t)(p - rest);
	}
	return best;
}

int registry_v2(fcgi_req *r)
{
	size_t n = oci_name_len(r->rest);
	if (n == 0)
		return registry_send_error(r, 404, "UNSUPPORTED", "no such endpoint in the registry API", NULL);
	/* No repository exists yet: the index and the users' PDSes arrive with the push/pull work. */
	char *name = strndup(r->rest, n);
	int rc = registry_send_error(r, 404, "NAME_UNKNOWN", "repository name not known to registry", name);
	free(name);
	return rc;
}
