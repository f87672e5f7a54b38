/* xrpc.c - XRPC client over lib/http. */
#include "xrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *xrpc_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_t b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_append(&b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			buf_append(&b, e, 3);
		}
	}
	return buf_detach(&b);
}

char *xrpc_url(const char *base, const char *nsid, const char *const *params)
{
	buf_t b = BUF_INIT;
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	buf_append(&b, base, blen);
	buf_printf(&b, "/xrpc/%s", nsid);
	char sep = '?';
	for (size_t i = 0; params && params[i]; i += 2) {
		if (!params[i + 1])
			continue;
		char *k = xrpc_escape(params[i]), *v = xrpc_escape(params[i + 1]);
		buf_printf(&b, "%c%s=%s", sep, k ? k : "", v ? v : "");
		free(k);
		free(v);
		sep = '&';
	}
	return buf_detach(&b);
}

static void set_error(xrpc_error *e, long status, const char *error, const char *message)
{
	if (!e)
		return;
	xrpc_error_free(e);
	e->status = status;
	e->error = strdup(error);
	e->message = message ? strdup(message) : NULL;
}

void xrpc_error_from_response(long status, const char *body, size_t len, xrpc_error *e)
{
	json_object *j = NULL, *v;
	if (body && len > 0) {
		json_tokener *tok = json_tokener_new();
		if (tok) {
			j = json_tokener_parse_ex(tok, body, (int)len);
			json_tokener_free(tok);
		}
	}
	if (j && json_object_is_type(j, json_type_object) && json_object_object_get_ex(j, "error", &v) &&
	    json_object_is_type(v, json_type_string)) {
		json_object *m = NULL;
		json_object_object_get_ex(j, "message", &m);
		set_error(e, status, json_object_get_string(v),
			  m && json_object_is_type(m, json_type_string) ? json_object_get_string(m) : NULL);
	} else {
		char msg[64];
		snprintf(msg, sizeof msg, "HTTP status %ld", status);
		set_error(e, status, "HttpError", msg);
	}
	json_object_put(j);
}

void xrpc_error_free(xrpc_error *e)
{
	if (!e)
		return;
	free(e->error);
	free(e->message);
	e->error = e->message = NULL;
	e->status = 0;
}

/* Perform one call; on a 2xx response fills resp and returns 0, else -1 with e. */
static int call(const xrpc_client *c, const char *method, const char *url, const char *content_type,
		const void *body, size_t body_len, http_response *resp, xrpc_error *e)
{
	char auth[8192], ctype[256];
	const char *headers[4];
	int n = 0;
	if (c->token) {
		if ((size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token) >= sizeof auth) {
			set_error(e, 0, "TransportError", "token too long");
			return -1;
		}
		headers[n++] = auth;
	}
	if (content_type) {
		snprintf(ctype, sizeof ctype, "Content-Type: %s", content_type);
		headers[n++] = ctype;
	}
	headers[n++] = "Accept: application/json, */*";
	headers[n] = NULL;
	http_request req = {0};
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = body_len;
	static const http_opts dflt = {0};
	if (http_do(c->http ? c->http : &dflt, &req, resp) != 0) {
		set_error(e, 0, "TransportError", resp->error ? resp->error : "request failed");
		return -1;
	}
	if (resp->status < 200 || resp->status > 299) {
		xrpc_error_from_response(resp->status, resp->body.data, resp->body.len, e);
		return -1;
	}
	return 0;
}

static json_object *parse_json_result(http_response *resp, xrpc_error *e)
{
	if (resp->body.len == 0)
		return json_object_new_object();
	json_tokener *tok = json_tokener_new();
	json_object *j = tok ? json_tokener_parse_ex(tok, resp->body.data, (int)resp->body.len) : NULL;
	if (tok)
		json_tokener_free(tok);
	if (!j)
		set_error(e, resp->status, "InvalidResponse", "response is not JSON");
	return j;
}

json_object *xrpc_query(const xrpc_client *c, const char *nsid, const char *const *params, xrpc_error *e)
{
	http_response resp = {0};
	json_object *j = NULL;
	char *url = xrpc_url(c->base, nsid, params);
	if (url && call(c, "GET", url, NULL, NULL, 0, &resp, e) == 0)
		j = parse_json_result(&resp, e);
	http_response_free(&resp);
	free(url);
	return j;
}

int xrpc_query_bytes(const xrpc_client *c, const char *nsid, const char *const *params, buf_t *out,
		     xrpc_error *e)
{
	http_response resp = {0};
	int rc = -1;
	char *url = xrpc_url(c->base, nsid, params);
	if (url && call(c, "GET", url, NULL, NULL, 0, &resp, e) == 0) {
		*out = resp.body; /* hand the buffer over */
		resp.body = (buf_t)BUF_INIT;
		rc = 0;
	}
	http_response_free(&resp);
	free(url);
	return rc;
}

static json_object *procedure_raw(const xrpc_client *c, const char *nsid, const char *content_type,
				  const void *body, size_t len, xrpc_error *e)
{
	http_response resp = {0};
	json_object *j = NULL;
	char *url = xrpc_url(c->base, nsid, NULL);
	if (url && call(c, "POST", url, content_type, body, len, &resp, e) == 0)
		j = parse_json_result(&resp, e);
	http_response_free(&resp);
	free(url);
	return j;
}

json_object *xrpc_procedure(const xrpc_client *c, const char *nsid, const json_object *input, xrpc_error *e)
{
	if (!input)
		return procedure_raw(c, nsid, NULL, "", 0, e);
	const char *s = json_object_to_json_string_ext((json_object *)input, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	return procedure_raw(c, nsid, "application/json", s, strlen(s), e);
}

static char *dup_field(json_object *j, const char *name)
{
	json_object *v;
	if (!json_object_object_get_ex(j, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

/* The #atproto_pds endpoint of a session's didDoc, if any. */
static char *session_pds(json_object *j)
{
	json_object *doc, *services;
	if (!json_object_object_get_ex(j, "didDoc", &doc) ||
	    !json_object_object_get_ex(doc, "service", &services) || !json_object_is_type(services, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(services); i++) {
		json_object *s = json_object_array_get_idx(services, i), *id;
		if (json_object_object_get_ex(s, "id", &id) && json_object_is_type(id, json_type_string)) {
			const char *v = json_object_get_string(id);
			const char *h = strchr(v, '#');
			if (h && strcmp(h, "#atproto_pds") == 0)
				return dup_field(s, "serviceEndpoint");
		}
	}
	return NULL;
}

static int fill_session(const xrpc_client *c, json_object *j, xrpc_session *out, xrpc_error *e)
{
	memset(out, 0, sizeof *out);
	out->did = dup_field(j, "did");
	out->handle = dup_field(j, "handle");
	out->access_jwt = dup_field(j, "accessJwt");
	out->refresh_jwt = dup_field(j, "refreshJwt");
	out->pds = session_pds(j);
	if (!out->pds)
		out->pds = strdup(c->base);
	if (!out->did || !out->access_jwt || !out->refresh_jwt) {
		xrpc_session_free(out);
		set_error(e, 200, "InvalidResponse", "session response lacks did/accessJwt/refreshJwt");
		return -1;
	}
	return 0;
}

int xrpc_create_session(const xrpc_client *c, const char *identifier, const char *password,
			xrpc_session *out, xrpc_error *e)
{
	json_object *in = json_object_new_object();
	json_object_object_add(in, "identifier", json_object_new_string(identifier));
	json_object_object_add(in, "password", json_object_new_string(password));
	xrpc_client anon = *c;
	anon.token = NULL;
	json_object *j = xrpc_procedure(&anon, "com.atproto.server.createSession", in, e);
	json_object_put(in);
	int rc = j ? fill_session(c, j, out, e) : -1;
	json_object_put(j);
	return rc;
}

int xrpc_refresh_session(const xrpc_client *c, const char *refresh_jwt, xrpc_session *out, xrpc_error *e)
{
	xrpc_client rc_client = *c;
	rc_client.token = refresh_jwt;
	json_object *j = xrpc_procedure(&rc_client, "com.atproto.server.refreshSession", NULL, e);
	int rc = j ? fill_session(c, j, out, e) : -1;
	json_object_put(j);
	return rc;
}

void xrpc_session_free(xrpc_session *s)
{
	if (!s)
		return;
	free(s->did);
	free(s->handle);
	free(s->access_jwt);
	free(s->refresh_jwt);
	free(s->pds);
	memset(s, 0, sizeof *s);
}

json_object *xrpc_get_record(const xrpc_client *c, const char *repo, const char *collection, const char *rkey,
			     xrpc_error *e)
{
	const char *p[] = {"repo", repo, "collection", collection, "rkey", rkey, NULL};
	return xrpc_query(c, "com.atproto.repo.getRecord", p, e);
}

json_object *xrpc_list_records(const xrpc_client *c, const char *repo, const char *collection, int limit,
			       const char *cursor, xrpc_error *e)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%d", limit);
	const char *p[] = {"repo", repo, "collection", collection, "limit", limit > 0 ? lim : NULL,
			   "cursor", cursor, NULL};
	return xrpc_query(c, "com.atproto.repo.listRecords", p, e);
}

json_object *xrpc_put_record(const xrpc_client *c, const char *repo, const char *collection, const char *rkey,
			     const json_object *record, const char *swap_cid, xrpc_error *e)
{
	json_object *in = json_object_new_object();
	json_object_object_add(in, "repo", json_object_new_string(repo));
	json_object_object_add(in, "collection", json_object_new_string(collection));
	json_object_object_add(in, "rkey", json_object_new_string(rkey));
	json_object_object_add(in, "record", json_object_get((json_object *)record));
	if (swap_cid)
		json_object_object_add(in, "swapRecord", json_object_new_string(swap_cid));
	json_object *j = xrpc_procedure(c, "com.atproto.repo.putRecord", in, e);
	json_object_put(in);
	return j;
}

int xrpc_delete_record(const xrpc_client *c, const char *repo, const char *collection, const char *rkey,
		       xrpc_error *e)
{
	json_object *in = json_object_new_object();
	json_object_object_add(in, "repo", json_object_new_string(repo));
	json_object_object_add(in, "collection", json_object_new_string(collection));
	json_object_object_add(in, "rkey", json_object_new_string(rkey));
	json_object *j = xrpc_procedure(c, "com.atproto.repo.deleteRecord", in, e);
	json_object_put(in);
	int rc = j ? 0 : -1;
	json_object_put(j);
	return rc;
}

json_object *xrpc_upload_blob(const xrpc_client *c, const void *data, size_t len, const char *mime_type,
			      xrpc_error *e)
{
	json_object *j = procedure_raw(c, "com.atproto.repo.uploadBlob", mime_type, data, len, e), *blob = NULL;
	if (j && json_object_object_get_ex(j, "blob", &blob) && json_object_is_type(blob, json_type_object))
		json_object_get(blob);
	else if (j) {
		blob = NULL;
		set_error(e, 200, "InvalidResponse", "uploadBlob response lacks blob");
	}
	json_object_put(j);
	return blob;
}

int xrpc_get_blob(const xrpc_client *c, const char *did, const char *cid, buf_t *out, xrpc_error *e)
{
	const char *p[] = {"did", did, "cid", cid, NULL};
	return xrpc_query_bytes(c, "com.atproto.sync.getBlob", p, out, e);
}

char *xrpc_get_service_auth(const xrpc_client *c, const char *aud, const char *lxm, long long exp, xrpc_error *e)
{
	char exps[24];
	snprintf(exps, sizeof exps, "%lld", exp);
	const char *p[] = {"aud", aud, "lxm", lxm, "exp", exp > 0 ? exps : NULL, NULL};
	json_object *j = xrpc_query(c, "com.atproto.server.getServiceAuth", p, e);
	char *tok = j ? dup_field(j, "token") : NULL;
	if (j && !tok)
		set_error(e, 200, "InvalidResponse", "getServiceAuth response lacks token");
	json_object_put(j);
	return tok;
}
