/* did.c - the hold's identity: did:web from its public URL, /.well-known/did.json and atproto-did.
 * (A did:plc hold's document lives in the PLC directory: plc.c.) */
#include <ctype.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hold.h"
#include "syntax.h"

#ifndef ATCR_VERSION
#define ATCR_VERSION "unknown"
#endif

char *hold_did_from_url(const char *url)
{
	const char *host;
	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return NULL;
	size_t n = strcspn(host, "/?#");
	if (n == 0 || (host[n] && strcmp(host + n, "/") != 0)) /* did:web paths are not supported */
		return NULL;
	buf_t d = BUF_INIT;
	buf_puts(&d, "did:web:");
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)host[i]);
		if (c == ':')
			buf_puts(&d, "%3A");
		else if (isalnum((unsigned char)c) || c == '.' || c == '-')
			buf_append(&d, &c, 1);
		else {
			buf_free(&d);
			return NULL;
		}
	}
	char *did = buf_detach(&d);
	if (!syntax_did_ok(did)) {
		free(did);
		return NULL;
	}
	return did;
}

json_object *did_document(const hold_ctx *h)
{
	json_object *doc = json_object_new_object(), *ctx = json_object_new_array(), *vms = json_object_new_array(),
		    *vm = json_object_new_object(), *svcs = json_object_new_array(), *svc = json_object_new_object();
	json_object_array_add(ctx, json_object_new_string("https://www.w3.org/ns/did/v1"));
	json_object_array_add(ctx, json_object_new_string("https://w3id.org/security/multikey/v1"));
	json_object_array_add(ctx, json_object_new_string("https://w3id.org/security/suites/secp256k1-2019/v1"));
	json_object_object_add(doc, "@context", ctx);
	json_object_object_add(doc, "id", json_object_new_string(h->did));
	json_object_object_add(doc, "alsoKnownAs", json_object_new_array());
	buf_t id = BUF_INIT;
	buf_printf(&id, "%s#atproto", h->did);
	json_object_object_add(vm, "id", json_object_new_string(buf_str(&id)));
	json_object_object_add(vm, "type", json_object_new_string("Multikey"));
	json_object_object_add(vm, "controller", json_object_new_string(h->did));
	json_object_object_add(vm, "publicKeyMultibase", json_object_new_string(h->multikey));
	json_object_array_add(vms, vm);
	json_object_object_add(doc, "verificationMethod", vms);
	json_object_object_add(svc, "id", json_object_new_string("#atproto_pds"));
	json_object_object_add(svc, "type", json_object_new_string("AtprotoPersonalDataServer"));
	json_object_object_add(svc, "serviceEndpoint", json_object_new_string(h->public_url));
	json_object_array_add(svcs, svc);
	json_object_object_add(doc, "service", svcs);
	buf_free(&id);
	return doc;
}

int did_json(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	if (h->did_plc) {
		/* Serving a copy here would only be a second, unauthenticated answer that can disagree. */
		char *msg = buf_strf("this hold is %s: its DID document is in the PLC directory", h->did);
		hold_xrpc_error(r, 404, "NotFound", msg ? msg : "this hold's DID document is in the PLC directory");
		free(msg);
		return 0;
	}
	json_object *doc = did_document(r->app);
	fcgi_add_header(r, "Access-Control-Allow-Origin", "*");
	int rc = fcgi_send_json(r, 200, doc);
	json_object_put(doc);
	return rc;
}

int did_atproto(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	return fcgi_send(r, 200, "text/plain; charset=utf-8", h->did, strlen(h->did));
}

int xrpc_health(fcgi_req *r)
{
	const char body[] = "{\"version\":\"atcr-hold " ATCR_VERSION "\"}";
	return fcgi_send(r, 200, "application/json", body, sizeof body - 1);
}
