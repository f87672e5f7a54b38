/* test_identity.c - DID document parsing (Multikey and legacy forms), did:web URLs, DNS TXT values, input
 * checks, and a full resolution + cache round trip against a tiny HTTP server inside the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "identity.h"
#include "mini_httpd.h"
#include "tap.h"

#define K256_MULTIKEY "zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc"
#define K256_LEGACY "z25z9DTpsiYYJKGsWmSPJK2NFN8PcJtZig12K59UgW7q5t"
#define P256_MULTIKEY "zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo"

static json_object *doc_json(const char *did, const char *handle, const char *vm_id, const char *vm_type,
			     const char *key, const char *pds)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "{\"@context\":[\"https://www.w3.org/ns/did/v1\"],\"id\":\"%s\","
		 "\"alsoKnownAs\":[\"at://%s\"],"
		 "\"verificationMethod\":[{\"id\":\"%s\",\"type\":\"%s\",\"controller\":\"%s\","
		 "\"publicKeyMultibase\":\"%s\"}],"
		 "\"service\":[{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\","
		 "\"serviceEndpoint\":\"%s\"}]}",
		 did, handle, vm_id, vm_type, did, key, pds);
	return json_tokener_parse(text);
}

static void test_parse(void)
{
	const char *did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
	char *err = NULL;
	identity id = {0};
	json_object *d = doc_json(did, "Alice.Test", "did:plc:ewvi7nxzyoun6zhxrhs64oiz#atproto", "Multikey",
				  K256_MULTIKEY, "https://pds.example.com/");
	ok(identity_parse_doc(did, d, &id, &err) == 0, "modern PLC document parses");
	is_str(id.handle, "alice.test", "handle from alsoKnownAs, normalised");
	is_str(id.pds, "https://pds.example.com", "PDS endpoint without trailing slash");
	is_str(id.signing_key, K256_MULTIKEY, "Multikey signing key");
	is_str(id.key_type, "K-256", "key type K-256");
	identity_free(&id);
	json_object_put(d);

	d = doc_json(did, "alice.test", "#atproto", "EcdsaSecp256k1VerificationKey2019", K256_LEGACY,
		     "https://pds.example.com");
	ok(identity_parse_doc(did, d, &id, &err) == 0, "legacy document (uncompressed key form) parses");
	is_str(id.signing_key, K256_MULTIKEY, "legacy key re-encoded as the same Multikey");
	identity_free(&id);
	json_object_put(d);

	d = doc_json(did, "alice.test", "#atproto", "Multikey", P256_MULTIKEY, "https://pds.example.com");
	ok(identity_parse_doc(did, d, &id, &err) == 0, "P-256 Multikey parses");
	is_str(id.key_type, "P-256", "key type P-256");
	identity_free(&id);
	json_object_put(d);

	d = doc_json("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "alice.test", "#atproto", "Multikey", K256_MULTIKEY,
		     "https://pds.example.com");
	ok(identity_parse_doc(did, d, &id, &err) == -1 && err && strstr(err, "does not match"),
	   "document for another DID refused: %s", err ? err : "");
	free(err);
	err = NULL;
	json_object_put(d);

	d = doc_json(did, "alice.test", "#signing", "Multikey", K256_MULTIKEY, "https://pds.example.com");
	ok(identity_parse_doc(did, d, &id, &err) == -1 && err, "no #atproto key refused");
	free(err);
	err = NULL;
	json_object_put(d);

	d = doc_json(did, "alice.test", "#atproto", "Multikey", "zQ3shBROKENKEY", "https://pds.example.com");
	ok(identity_parse_doc(did, d, &id, &err) == -1 && err, "malformed key refused");
	free(err);
	err = NULL;
	json_object_put(d);

	d = doc_json(did, "alice.test", "#atproto", "Multikey", K256_MULTIKEY, "ftp://pds.example.com");
	ok(identity_parse_doc(did, d, &id, &err) == -1 && err, "non-http PDS endpoint refused");
	free(err);
	err = NULL;
	json_object_put(d);
}

static void test_did_web(void)
{
	char *err = NULL, *u;
	u = identity_did_web_url("did:web:example.com", 0, &err);
	is_str(u, "https://example.com/.well-known/did.json", "did:web host");
	free(u);
	u = identity_did_web_url("did:web:localhost%3A8080", 1, &err);
	is_str(u, "http://localhost:8080/.well-known/did.json", "did:web with port, test mode is http");
	free(u);
	u = identity_did_web_url("did:web:example.com:user:alice", 0, &err);
	is_str(u, "https://example.com/user/alice/did.json", "did:web with a path");
	free(u);
	u = identity_did_web_url("did:plc:ewvi7nxzyoun6zhxrhs64oiz", 0, &err);
	ok(u == NULL && err, "did:plc is not a did:web");
	free(err);
	err = NULL;
	u = identity_did_web_url("did:web:exa%2Fmple.com", 0, &err);
	ok(u == NULL && err, "percent-escapes other than the port colon refused");
	free(err);
}

static void test_txt(void)
{
	char *d = identity_dns_txt_did("did=did:plc:ewvi7nxzyoun6zhxrhs64oiz");
	is_str(d, "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "TXT did= value");
	free(d);
	ok(identity_dns_txt_did("v=spf1 -all") == NULL, "other TXT records ignored");
	ok(identity_dns_txt_did("did=not a did") == NULL, "malformed DID in TXT refused");
}

/* ---- the resolver service and did:web host, answered by a server inside the test */
static mini_httpd srv;
static char srv_did[128];

static void answer(const char *line, int *status, char *body, size_t size)
{
	*status = 200;
	if (strstr(line, "GET /xrpc/com.atproto.identity.resolveHandle?handle=alice.test ")) {
		snprintf(body, size, "{\"did\":\"%s\"}", srv_did);
	} else if (strstr(line, "GET /.well-known/did.json ")) {
		json_object *d = doc_json(srv_did, "alice.test", "#atproto", "Multikey", K256_MULTIKEY,
					  "http://localhost:1234");
		snprintf(body, size, "%s", json_object_to_json_string(d));
		json_object_put(d);
	} else {
		*status = 400;
		snprintf(body, size, "{\"error\":\"InvalidRequest\",\"message\":\"no\"}");
	}
}

static void test_resolve(void)
{
	ok(mini_httpd_start(&srv, answer) == 0, "test server started");
	int srv_port = srv.port;
	snprintf(srv_did, sizeof srv_did, "did:web:127.0.0.1%%3A%d", srv_port);

	char resolver[64], *err = NULL;
	snprintf(resolver, sizeof resolver, "http://127.0.0.1:%d", srv_port);
	sqlite3 *db = db_open(":memory:", 1, &err);
	ok(db != NULL, "index opened");
	identity_ctx ctx = {.plc_url = "http://127.0.0.1:1", .handle_resolver_url = resolver, .test_mode = 1,
			    .cache_ttl = 3600, .timeout_s = 5, .db = db};
	identity id = {0};
	ok(identity_resolve(&ctx, "Alice.Test", 0, &id, &err) == 0, "handle -> did:web -> document: %s",
	   err ? err : "ok");
	is_str(id.did, srv_did, "DID from the resolver service");
	is_str(id.handle, "alice.test", "handle verified both ways");
	is_int(id.handle_verified, 1, "handle_verified");
	is_str(id.pds, "http://localhost:1234", "PDS endpoint");
	identity_free(&id);

	int before = srv.requests;
	ok(identity_resolve(&ctx, srv_did, 0, &id, &err) == 0, "second resolution by DID");
	is_int(srv.requests, before, "served from the cache (no request)");
	is_str(id.signing_key, K256_MULTIKEY, "cached key");
	identity_free(&id);
	ok(identity_resolve(&ctx, "alice.test", 0, &id, &err) == 0 && srv.requests == before,
	   "cached by handle too");
	identity_free(&id);
	ok(identity_resolve(&ctx, srv_did, 1, &id, &err) == 0 && srv.requests > before, "force bypasses the cache");
	identity_free(&id);

	identity_ctx strict = ctx;
	strict.test_mode = 0;
	strict.db = NULL;
	ok(identity_resolve(&strict, srv_did, 1, &id, &err) == -1 && err, "outside test mode loopback is refused: %s",
	   err ? err : "");
	free(err);
	err = NULL;
	ok(identity_resolve(&ctx, "not a handle", 0, &id, &err) == -1 && err, "invalid handle refused");
	free(err);
	err = NULL;
	ok(identity_resolve(&ctx, "did:foo", 0, &id, &err) == -1 && err, "invalid DID refused");
	free(err);
	err = NULL;
	ok(identity_resolve(&ctx, "did:key:" K256_MULTIKEY, 0, &id, &err) == -1 && err, "unsupported DID method");
	free(err);
	mini_httpd_stop(&srv);
	db_close(db);
}

int main(void)
{
	test_parse();
	test_did_web();
	test_txt();
	test_resolve();
	return tap_done();
}
