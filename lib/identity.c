/* identity.c - handle and DID resolution (see identity.h). */
#include "identity.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jsonget.h"
#include "log.h"
#include "multikey.h"
#include "syntax.h"
#include "xrpc.h"

#define DOC_MAX_BYTES (256 * 1024)

const char identity_cache_schema_sql[] =
	"CREATE TABLE users (\n"
	"  did TEXT PRIMARY KEY,\n"
	"  handle TEXT,\n"
	"  handle_verified INTEGER NOT NULL DEFAULT 0,\n"
	"  pds_endpoint TEXT,\n"
	"  signing_key TEXT,      -- the #atproto key as a Multikey\n"
	"  key_type TEXT,\n"
	"  doc TEXT,              -- the DID document, JSON\n"
	"  resolved_at INTEGER    -- unix seconds\n"
	");\n"
	"CREATE INDEX users_handle ON users(handle);\n";

static http_opts opts_for(const identity_ctx *ctx)
{
	http_opts o = {0};
	o.timeout_s = ctx->timeout_s > 0 ? ctx->timeout_s : 10;
	o.connect_timeout_s = 5;
	o.max_response = DOC_MAX_BYTES;
	o.allow_private = ctx->test_mode;
	return o;
}

char *identity_dns_txt_did(const char *txt)
{
	if (strncmp(txt, "did=", 4) != 0 || !syntax_did_ok(txt + 4))
		return NULL;
	return strdup(txt + 4);
}

char *identity_did_web_url(const char *did, int test_mode, char **err)
{
	if (strncmp(did, "did:web:", 8) != 0 || !syntax_did_ok(did)) {
		buf_error(err, "not a did:web: %s", did);
		return NULL;
	}
	buf_t u = BUF_INIT;
	buf_puts(&u, test_mode ? "http://" : "https://");
	const char *p = did + 8;
	int in_host = 1;
	for (; *p; p++) {
		if (*p == ':') {
			buf_puts(&u, "/");
			in_host = 0;
		} else if (p[0] == '%' && p[1] == '3' && (p[2] == 'A' || p[2] == 'a') && in_host) {
			buf_puts(&u, ":");
			p += 2;
		} else if (*p == '%' || *p == '/' || *p == '?' || *p == '#' || *p == '@') {
			buf_free(&u);
			buf_error(err, "unsupported character in did:web: %s", did);
			return NULL;
		} else {
			buf_append(&u, p, 1);
		}
	}
	buf_puts(&u, in_host ? "/.well-known/did.json" : "/did.json");
	return buf_detach(&u);
}

/* The value of a DID-document entry whose id is "#frag" or "<did>#frag". */
static json_object *find_by_fragment(json_object *doc, const char *list, const char *did, const char *frag)
{
	json_object *arr;
	if (!json_object_object_get_ex(doc, list, &arr) || !json_object_is_type(arr, json_type_array))
		return NULL;
	size_t dlen = strlen(did);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i), *id;
		if (!json_object_object_get_ex(e, "id", &id) || !json_object_is_type(id, json_type_string))
			continue;
		const char *v = json_object_get_string(id);
		if (strncmp(v, did, dlen) == 0)
			v += dlen;
		if (v[0] == '#' && strcmp(v + 1, frag) == 0)
			return e;
	}
	return NULL;
}

int identity_parse_doc(const char *did, json_object *doc, identity *out, char **err)
{
	const char *id = jsonget_str(doc, "id");
	if (!id || strcmp(id, did) != 0) {
		buf_error(err, "DID document id %s does not match %s", id ? id : "(none)", did);
		return -1;
	}
	json_object *aka;
	const char *handle = NULL;
	if (json_object_object_get_ex(doc, "alsoKnownAs", &aka) && json_object_is_type(aka, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(aka) && !handle; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(aka, i));
			if (s && strncmp(s, "at://", 5) == 0 && syntax_handle_ok(s + 5))
				handle = s + 5;
		}
	}
	json_object *svc = find_by_fragment(doc, "service", did, "atproto_pds");
	const char *type = jsonget_str(svc, "type"), *endpoint = jsonget_str(svc, "serviceEndpoint");
	if (!svc || !type || strcmp(type, "AtprotoPersonalDataServer") != 0 || !endpoint ||
	    (strncmp(endpoint, "https://", 8) != 0 && strncmp(endpoint, "http://", 7) != 0)) {
		buf_error(err, "DID document of %s has no #atproto_pds service endpoint", did);
		return -1;
	}
	json_object *vm = find_by_fragment(doc, "verificationMethod", did, "atproto");
	const char *vtype = jsonget_str(vm, "type"), *mb = jsonget_str(vm, "publicKeyMultibase");
	if (!vm || !vtype || !mb) {
		buf_error(err, "DID document of %s has no #atproto verification method", did);
		return -1;
	}
	char *kerr = NULL;
	crypto_key *key = multikey_from_verification_method(vtype, mb, &kerr);
	if (!key) {
		buf_error(err, "DID document of %s: bad #atproto key: %s", did, kerr ? kerr : "?");
		free(kerr);
		return -1;
	}
	out->did = strdup(did);
	out->handle = handle ? syntax_handle_normalize(handle) : NULL;
	out->pds = strdup(endpoint);
	size_t n = strlen(out->pds);
	while (n > 0 && out->pds[n - 1] == '/')
		out->pds[--n] = '\0';
	out->key = key;
	out->signing_key = multikey_encode(key);
	out->key_type = crypto_key_alg(key) == CRYPTO_K256 ? "K-256" : "P-256";
	return 0;
}

static json_object *fetch_json(const identity_ctx *ctx, const char *url, char **err)
{
	http_opts o = opts_for(ctx);
	const char *headers[] = {"Accept: application/did+ld+json, application/json", NULL};
	http_request req = {0};
	req.url = url;
	req.headers = headers;
	http_response resp = {0};
	json_object *j = NULL;
	if (http_do(&o, &req, &resp) != 0) {
		buf_error(err, "fetching %s: %s", url, resp.error ? resp.error : "failed");
	} else if (resp.status != 200) {
		char st[16];
		snprintf(st, sizeof st, "%ld", resp.status);
		buf_error(err, "fetching %s: HTTP status %s", url, st);
	} else {
		json_tokener *tok = json_tokener_new();
		j = json_tokener_parse_ex(tok, resp.body.data ? resp.body.data : "", (int)resp.body.len);
		json_tokener_free(tok);
		if (!j || !json_object_is_type(j, json_type_object)) {
			json_object_put(j);
			j = NULL;
			buf_error(err, "fetching %s: not a JSON object", url);
		}
	}
	http_response_free(&resp);
	return j;
}

json_object *identity_fetch_doc(const identity_ctx *ctx, const char *did, char **err)
{
	char *url = NULL;
	if (!syntax_did_ok(did)) {
		buf_error(err, "invalid DID: %s", did);
		return NULL;
	}
	if (strncmp(did, "did:plc:", 8) == 0) {
		buf_t u = BUF_INIT;
		const char *plc = ctx->plc_url && *ctx->plc_url ? ctx->plc_url : "https://plc.directory";
		size_t n = strlen(plc);
		while (n > 0 && plc[n - 1] == '/')
			n--;
		buf_append(&u, plc, n);
		buf_printf(&u, "/%s", did);
		url = buf_detach(&u);
	} else if (strncmp(did, "did:web:", 8) == 0) {
		url = identity_did_web_url(did, ctx->test_mode, err);
		if (!url)
			return NULL;
	} else {
		buf_error(err, "unsupported DID method: %s", did);
		return NULL;
	}
	json_object *doc = fetch_json(ctx, url, err);
	free(url);
	return doc;
}

/* _atproto.<handle> TXT "did=..." through the thread-safe resolver API. */
static char *resolve_dns(const char *handle)
{
	struct __res_state rs;
	memset(&rs, 0, sizeof rs);
	if (res_ninit(&rs) != 0)
		return NULL;
	rs.retrans = 2;
	rs.retry = 1;
	char name[300], *did = NULL;
	unsigned char answer[4096];
	snprintf(name, sizeof name, "_atproto.%s", handle);
	int len = res_nquery(&rs, name, ns_c_in, ns_t_txt, answer, sizeof answer);
	ns_msg msg;
	if (len > 0 && ns_initparse(answer, len, &msg) == 0) {
		int found = 0;
		for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
			ns_rr rr;
			if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_txt)
				continue;
			/* one TXT record = length-prefixed strings, concatenated */
			const unsigned char *p = ns_rr_rdata(rr), *end = p + ns_rr_rdlen(rr);
			buf_t txt = BUF_INIT;
			while (p < end && p + 1 + *p <= end) {
				buf_append(&txt, p + 1, *p);
				p += 1 + *p;
			}
			char *d = identity_dns_txt_did(buf_str(&txt));
			buf_free(&txt);
			if (d) {
				found++;
				free(did);
				did = d;
			}
		}
		if (found > 1) { /* ambiguous: the spec says fail */
			free(did);
			did = NULL;
		}
	}
	res_nclose(&rs);
	return did;
}

static char *resolve_well_known(const identity_ctx *ctx, const char *handle)
{
	http_opts o = opts_for(ctx);
	o.max_response = 2048;
	buf_t u = BUF_INIT;
	buf_printf(&u, "%s://%s/.well-known/atproto-did", ctx->test_mode ? "http" : "https", handle);
	http_request req = {0};
	req.url = buf_str(&u);
	http_response resp = {0};
	char *did = NULL;
	if (http_do(&o, &req, &resp) == 0 && resp.status == 200 && resp.body.len > 0) {
		char *s = resp.body.data;
		size_t n = strcspn(s, "\r\n");
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		s[n] = '\0';
		if (syntax_did_ok(s))
			did = strdup(s);
	}
	http_response_free(&resp);
	buf_free(&u);
	return did;
}

static char *resolve_via_service(const identity_ctx *ctx, const char *handle)
{
	http_opts o = opts_for(ctx);
	xrpc_client c = {ctx->handle_resolver_url, NULL, &o};
	xrpc_error e = {0};
	const char *p[] = {"handle", handle, NULL};
	json_object *j = xrpc_query(&c, "com.atproto.identity.resolveHandle", p, &e);
	const char *d = jsonget_str(j, "did");
	char *did = d && syntax_did_ok(d) ? strdup(d) : NULL;
	json_object_put(j);
	xrpc_error_free(&e);
	return did;
}

identity_ctx identity_ctx_from_config(const config *cfg)
{
	return (identity_ctx){
		.plc_url = config_str(cfg, "identity.plc_url"),
		.handle_resolver_url = config_str(cfg, "identity.handle_resolver_url"),
		.test_mode = config_bool(cfg, "server.test_mode"),
		.cache_ttl = (long)config_int(cfg, "identity.cache_ttl"),
		.timeout_s = (long)config_int(cfg, "http.timeout"),
	};
}

int identity_resolve_handle(const identity_ctx *ctx, const char *handle, char **did, char **err)
{
	*did = NULL;
	if (!syntax_handle_ok(handle)) {
		buf_error(err, "invalid handle: %s", handle);
		return -1;
	}
	char *h = syntax_handle_normalize(handle);
	if (ctx->handle_resolver_url && *ctx->handle_resolver_url)
		*did = resolve_via_service(ctx, h);
	if (!*did)
		*did = resolve_dns(h);
	if (!*did)
		*did = resolve_well_known(ctx, h);
	if (!*did)
		buf_error(err, "could not resolve handle %s (no resolver answer, no _atproto TXT record, no "
			     "/.well-known/atproto-did)", h);
	free(h);
	return *did ? 0 : -1;
}

/* ---- cache in the index's users table */

static int cache_load(const identity_ctx *ctx, const char *col, const char *value, identity *out)
{
	if (!ctx->db || ctx->cache_ttl <= 0)
		return -1;
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT did, handle, handle_verified, pds_endpoint, signing_key, doc FROM users "
		 "WHERE %s = ? AND resolved_at >= ?%s",
		 col, strcmp(col, "handle") == 0 ? " AND handle_verified = 1" : "");
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL) - ctx->cache_ttl);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	const char *doc = (const char *)sqlite3_column_text(st, 5);
	json_object *j = doc ? json_tokener_parse(doc) : NULL;
	char *e = NULL;
	identity tmp = {0};
	if (!j || identity_parse_doc((const char *)sqlite3_column_text(st, 0), j, &tmp, &e) != 0) {
		free(e);
		json_object_put(j);
		identity_free(&tmp);
		goto out;
	}
	tmp.doc = j;
	free(tmp.handle);
	const char *h = (const char *)sqlite3_column_text(st, 1);
	tmp.handle = strdup(h ? h : "handle.invalid");
	tmp.handle_verified = sqlite3_column_int(st, 2);
	*out = tmp;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static void cache_store(const identity_ctx *ctx, const identity *id)
{
	if (!ctx->db)
		return;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(ctx->db,
			       "INSERT INTO users (did, handle, handle_verified, pds_endpoint, signing_key, key_type, "
			       "doc, resolved_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(did) DO UPDATE SET "
			       "handle=excluded.handle, handle_verified=excluded.handle_verified, "
			       "pds_endpoint=excluded.pds_endpoint, signing_key=excluded.signing_key, "
			       "key_type=excluded.key_type, doc=excluded.doc, resolved_at=excluded.resolved_at",
			       -1, &st, NULL) != SQLITE_OK) {
		log_warn("identity cache: %s", sqlite3_errmsg(ctx->db));
		return;
	}
	sqlite3_bind_text(st, 1, id->did, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id->handle, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, id->handle_verified);
	sqlite3_bind_text(st, 4, id->pds, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, id->signing_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, id->key_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, json_object_to_json_string_ext(id->doc, JSON_C_TO_STRING_PLAIN), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("identity cache: %s", sqlite3_errmsg(ctx->db));
	sqlite3_finalize(st);
}

int identity_resolve(const identity_ctx *ctx, const char *who, int force, identity *out, char **err)
{
	char *did = NULL, *asked_handle = NULL;
	json_object *doc = NULL;
	int rc = -1;
	memset(out, 0, sizeof *out);
	if (strncmp(who, "did:", 4) == 0) {
		if (!syntax_did_ok(who)) {
			buf_error(err, "invalid DID: %s", who);
			return -1;
		}
		if (!force && cache_load(ctx, "did", who, out) == 0)
			return 0;
		did = strdup(who);
	} else {
		if (!syntax_handle_ok(who)) {
			buf_error(err, "invalid handle: %s", who);
			return -1;
		}
		asked_handle = syntax_handle_normalize(who);
		if (!force && cache_load(ctx, "handle", asked_handle, out) == 0) {
			rc = 0;
			goto done;
		}
		if (identity_resolve_handle(ctx, asked_handle, &did, err) != 0)
			goto done;
	}
	doc = identity_fetch_doc(ctx, did, err);
	if (!doc || identity_parse_doc(did, doc, out, err) != 0)
		goto done;
	out->doc = doc;
	doc = NULL;
	/* Bidirectional check: the document's handle must resolve back to this DID. */
	if (out->handle) {
		char *back = NULL, *ignored = NULL;
		if (asked_handle && strcmp(asked_handle, out->handle) == 0)
			back = strdup(did);
		else
			identity_resolve_handle(ctx, out->handle, &back, &ignored);
		out->handle_verified = back && strcmp(back, did) == 0;
		free(back);
		free(ignored);
	}
	if (!out->handle_verified) {
		free(out->handle);
		out->handle = strdup("handle.invalid");
	}
	if (asked_handle && !out->handle_verified) {
		buf_error(err, "handle %s resolves to %s, whose document does not claim it back", asked_handle, did);
		goto done;
	}
	cache_store(ctx, out);
	rc = 0;
done:
	if (rc != 0)
		identity_free(out);
	json_object_put(doc);
	free(did);
	free(asked_handle);
	return rc;
}

void identity_free(identity *id)
{
	if (!id)
		return;
	free(id->did);
	free(id->handle);
	free(id->pds);
	free(id->signing_key);
	crypto_key_free(id->key);
	json_object_put(id->doc);
	memset(id, 0, sizeof *id);
}
