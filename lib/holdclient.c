/* holdclient.c - XRPC calls to a hold on a user's behalf (see holdclient.h). */
#include "holdclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "encoding.h"
#include "svctoken.h"
#include "xrpc.h"

/* The HOLD_* code of a failed XRPC answer, and *err. */
static int failure(long status, const char *error, const char *message, const char *what, char **err)
{
	buf_error(err, "%s: %s%s%s", what, error ? error : status ? "HTTP error" : "no answer",
		  message ? ": " : "", message ? message : "");
	if (error && strcmp(error, "QuotaExceeded") == 0)
		return HOLD_QUOTA;
	if (status == 401 || status == 403)
		return HOLD_REFUSED;
	if (error && (strcmp(error, "InvalidDigest") == 0 || strcmp(error, "DigestMismatch") == 0))
		return HOLD_BAD_DIGEST;
	if (status == 404 || (error && (strcmp(error, "MissingParts") == 0 || strcmp(error, "InvalidUploadId") == 0)))
		return HOLD_NOT_FOUND;
	return HOLD_FAILED;
}

/* A service token for method, or NULL (with *err) when the user has none to give. */
static char *token_for(const hold_client *h, const char *method, char **err)
{
	return svctoken_get(h->db, h->http, h->user_did, h->hold_did, method, err);
}

static json_object *call_once(const hold_client *h, const char *method, json_object *input, int *code, char **err);

/* POST a procedure with a service token; the JSON answer or NULL with *code and *err set. A hold that
 * lets anyone join its crew (allowAllCrew) refuses a stranger's writes until they do: on a refusal the
 * user asks to join (requestCrew) and the call is tried once more. */
static json_object *call(const hold_client *h, const char *method, json_object *input, int *code, char **err)
{
	json_object *out = call_once(h, method, input, code, err);
	if (out || *code != HOLD_REFUSED)
		return out;
	int joined = HOLD_OK;
	char *why = NULL;
	json_object *in = json_object_new_object(), *crew = call_once(h, "io.atcr.hold.requestCrew", in, &joined, &why);
	json_object_put(in);
	free(why);
	if (!crew)
		return NULL; /* keep the first refusal's message */
	json_object_put(crew);
	free(*err);
	*err = NULL;
	return call_once(h, method, input, code, err);
}

static json_object *call_once(const hold_client *h, const char *method, json_object *input, int *code, char **err)
{
	char *token = token_for(h, method, err);
	json_object *out = NULL;
	if (!token) {
		*code = HOLD_FAILED;
		return NULL;
	}
	xrpc_client c = {h->hold_url, token, h->http};
	xrpc_error e = {0};
	out = xrpc_procedure(&c, method, input, &e);
	if (!out)
		*code = failure(e.status, e.error, e.message, method, err);
	xrpc_error_free(&e);
	free(token);
	return out;
}

/* A string member of a JSON answer, copied; NULL when absent. */
static char *member(json_object *o, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
		       ? strdup(json_object_get_string(v)) : NULL;
}

int hold_initiate_upload(const hold_client *h, const char *digest, char **upload_id, char **err)
{
	int code = HOLD_OK;
	json_object *in = json_object_new_object();
	json_object_object_add(in, "digest", json_object_new_string(digest));
	json_object *out = call(h, "io.atcr.hold.initiateUpload", in, &code, err);
	json_object_put(in);
	if (!out)
		return code;
	*upload_id = member(out, "uploadId");
	json_object_put(out);
	if (!*upload_id) {
		buf_error(err, "initiateUpload: no uploadId in the answer");
		return HOLD_FAILED;
	}
	return HOLD_OK;
}

int hold_upload_part(const hold_client *h, const char *upload_id, int part_number,
		     size_t (*read_cb)(void *dst, size_t n, void *ctx), void *ctx, long long len, char **etag,
		     char **err)
{
	const char *method = "io.atcr.hold.uploadPart";
	char *token = token_for(h, method, err), *url = NULL, *auth = NULL, *id = NULL, *num = NULL;
	int code = HOLD_FAILED;
	http_response resp = {0};
	if (!token)
		goto out;
	url = buf_strf("%s/xrpc/%s", h->hold_url, method);
	auth = buf_strf("Authorization: Bearer %s", token);
	id = buf_strf("X-Upload-Id: %s", upload_id);
	num = buf_strf("X-Part-Number: %d", part_number);
	const char *headers[] = {auth, id, num, "Content-Type: application/octet-stream", "Expect:", NULL};
	http_request req = {.method = "PUT", .url = url, .headers = headers, .read_cb = read_cb, .read_ctx = ctx,
			    .read_len = len};
	if (http_do(h->http, &req, &resp) != 0) {
		buf_error(err, "uploadPart: %s", resp.error ? resp.error : "no answer");
		goto out;
	}
	if (resp.status != 200) {
		xrpc_error e = {0};
		xrpc_error_from_response(resp.status, buf_str(&resp.body), resp.body.len, &e);
		code = failure(e.status, e.error, e.message, method, err);
		xrpc_error_free(&e);
		goto out;
	}
	json_object *o = json_tokener_parse(buf_str(&resp.body));
	*etag = o ? member(o, "etag") : NULL;
	json_object_put(o);
	if (!*etag) {
		buf_error(err, "uploadPart: no etag in the answer");
		goto out;
	}
	code = HOLD_OK;
out:
	http_response_free(&resp);
	free(token);
	free(url);
	free(auth);
	free(id);
	free(num);
	return code;
}

int hold_complete_upload(const hold_client *h, const char *upload_id, const char *digest,
			 json_object *parts, char **err)
{
	int code = HOLD_OK;
	json_object *in = json_object_new_object();
	json_object_object_add(in, "uploadId", json_object_new_string(upload_id));
	json_object_object_add(in, "digest", json_object_new_string(digest));
	json_object_object_add(in, "parts", json_object_get(parts));
	json_object *out = call(h, "io.atcr.hold.completeUpload", in, &code, err);
	json_object_put(in);
	json_object_put(out);
	return out ? HOLD_OK : code;
}

int hold_abort_upload(const hold_client *h, const char *upload_id, char **err)
{
	int code = HOLD_OK;
	json_object *in = json_object_new_object();
	json_object_object_add(in, "uploadId", json_object_new_string(upload_id));
	json_object *out = call(h, "io.atcr.hold.abortUpload", in, &code, err);
	json_object_put(in);
	json_object_put(out);
	return out ? HOLD_OK : code;
}

char *hold_blob_url(const char *hold_url, const char *hold_did, const char *digest, const char *token)
{
	char *did = xrpc_escape(hold_did), *cid = xrpc_escape(digest), *tok = token ? xrpc_escape(token) : NULL;
	char *url = did && cid && (tok || !token)
			    ? buf_strf("%s/xrpc/com.atproto.sync.getBlob?did=%s&cid=%s%s%s", hold_url, did, cid,
				       tok ? "&token=" : "", tok ? tok : "")
			    : NULL;
	free(did);
	free(cid);
	free(tok);
	return url;
}

char *hold_read_token(const hold_client *h, char **err)
{
	return token_for(h, "com.atproto.sync.getBlob", err);
}

int hold_blob_stat(const hold_client *h, const char *digest, long long *size, char **err)
{
	char *token = NULL, *auth = NULL, *url = hold_blob_url(h->hold_url, h->hold_did, digest, NULL);
	int code = HOLD_FAILED;
	http_response resp = {0};
	if (h->user_did && *h->user_did) {
		token = token_for(h, "com.atproto.sync.getBlob", err);
		if (!token)
			goto out;
		auth = buf_strf("Authorization: Bearer %s", token);
	}
	const char *headers[] = {auth, NULL};
	http_request req = {.method = "HEAD", .url = url, .headers = auth ? headers : NULL};
	if (!url || http_do(h->http, &req, &resp) != 0) {
		buf_error(err, "getBlob: %s", resp.error ? resp.error : "no answer");
		goto out;
	}
	if (resp.status == 404) {
		code = 0;
	} else if (resp.status == 200) {
		const char *cl = http_response_header(&resp, "Content-Length");
		*size = cl ? strtoll(cl, NULL, 10) : -1;
		code = 1;
	} else {
		code = failure(resp.status, NULL, NULL, "getBlob", err);
	}
out:
	http_response_free(&resp);
	free(token);
	free(auth);
	free(url);
	return code;
}

int hold_notify_manifest(const hold_client *h, const char *repository, const char *manifest_digest,
			 json_object *manifest, const char *operation, char **err)
{
	int code = HOLD_OK;
	json_object *in = json_object_new_object();
	json_object_object_add(in, "repository", json_object_new_string(repository));
	json_object_object_add(in, "userDid", json_object_new_string(h->user_did));
	json_object_object_add(in, "manifestDigest", json_object_new_string(manifest_digest));
	json_object_object_add(in, "operation", json_object_new_string(operation));
	json_object_object_add(in, "manifest", json_object_get(manifest));
	json_object *out = call(h, "io.atcr.hold.notifyManifest", in, &code, err);
	json_object_put(in);
	json_object_put(out);
	return out ? HOLD_OK : code;
}

void hold_hash_rkey(const char *text, char out[27])
{
	unsigned char sum[32];
	crypto_sha256(text, strlen(text), sum);
	char *b32 = enc_base32_lower_encode(sum, 16);
	snprintf(out, 27, "%s", b32 ? b32 : "");
	free(b32);
}
