/* pds_client.c - lib/ against the real reference PDS + PLC (started by tests/integration/pds.sh):
 * identity resolution, sessions, records, blobs, and service tokens verified by our JWT code.
 * Env: PDS_URL PLC_URL HANDLE DID APP_PASSWORD HANDLE2 DID2 APP_PASSWORD2. TAP output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "encoding.h"
#include "identity.h"
#include "jwt.h"
#include "tap.h"
#include "xrpc.h"

#define HOLD_DID "did:web:localhost%3A8080"

/* Verify a token against key and the expected claims at time now; 0 when everything holds. */
static int verify_token(const char *token, const crypto_key *key, long long now, const char *aud, const char *lxm)
{
	jwt_t t = {0};
	char *err = NULL;
	int rc = -1;
	if (jwt_decode(token, &t, &err) == 0 && jwt_verify(&t, key, &err) == 0 &&
	    jwt_check_claims(&t, now, 30, aud, lxm, &err) == 0)
		rc = 0;
	if (rc != 0)
		diag("refused: %s", err ? err : "?");
	free(err);
	jwt_free(&t);
	return rc;
}

/* The token with one byte of the given part (0 header, 1 payload, 2 signature) changed. */
static char *tamper(const char *token, int part)
{
	char *t = strdup(token), *p = t;
	for (int i = 0; i < part; i++)
		p = strchr(p, '.') + 1;
	size_t n = strcspn(p, ".");
	char *c = &p[n / 2];
	*c = *c == 'A' ? 'B' : 'A';
	return t;
}

int main(void)
{
	const char *pds = tap_env("PDS_URL"), *plc = tap_env("PLC_URL");
	const char *handle = tap_env("HANDLE"), *did = tap_env("DID"), *app_password = tap_env("APP_PASSWORD");
	const char *handle2 = tap_env("HANDLE2"), *did2 = tap_env("DID2");
	http_opts o = {.timeout_s = 30, .connect_timeout_s = 5, .max_response = 16 << 20, .allow_private = 1};
	char *err = NULL;

	/* identity */
	identity_ctx ictx = {.plc_url = plc, .handle_resolver_url = pds, .test_mode = 1, .timeout_s = 10};
	identity id = {0}, id2 = {0};
	ok(identity_resolve(&ictx, handle, 1, &id, &err) == 0, "resolve %s: %s", handle, err ? err : "ok");
	is_str(id.did, did, "handle -> DID");
	is_str(id.pds, pds, "DID -> PDS endpoint");
	is_int(id.handle_verified, 1, "handle verified both ways");
	is_str(id.key_type, "K-256", "PLC signing key is K-256");
	ok(identity_resolve(&ictx, did2, 1, &id2, &err) == 0, "resolve %s by DID", did2);
	is_str(id2.handle, handle2, "DID -> handle of the second account");
	ok(identity_resolve(&ictx, "nobody-here.test", 1, &(identity){0}, &err) == -1, "unknown handle fails: %s",
	   err ? err : "");
	free(err);
	err = NULL;

	/* sessions */
	xrpc_client anon = {pds, NULL, &o};
	xrpc_session s = {0}, s2 = {0};
	xrpc_error e = {0};
	ok(xrpc_create_session(&anon, handle, app_password, &s, &e) == 0, "createSession with the app password: %s",
	   e.error ? e.error : "ok");
	is_str(s.did, did, "session DID");
	is_str(s.pds, pds, "session PDS from its didDoc");
	ok(xrpc_create_session(&anon, handle, "wrong-pass-word", &s2, &e) == -1, "wrong password refused");
	is_str(e.error, "AuthenticationRequired", "as AuthenticationRequired");
	is_int(e.status, 401, "with status 401");
	xrpc_error_free(&e);
	ok(xrpc_refresh_session(&anon, s.refresh_jwt, &s2, &e) == 0 && s2.did && strcmp(s2.did, did) == 0,
	   "refreshSession");
	xrpc_session_free(&s);
	s = s2;
	xrpc_client c = {s.pds, s.access_jwt, &o};

	/* records */
	char rkey[32];
	snprintf(rkey, sizeof rkey, "3m%011lld", (long long)time(NULL) % 100000000000LL);
	for (char *p = rkey + 2; *p; p++)
		*p = "234567abcdefghij"[*p - '0'];
	const char *manifest_text =
		"{\"$type\":\"io.atcr.manifest\",\"repository\":\"app\","
		"\"digest\":\"sha256:4b3a0e7c2f1d5e6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a\","
		"\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2,"
		"\"createdAt\":\"2026-11-23T08:00:00.000Z\",\"holdDid\":\"" HOLD_DID "\","
		"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":1234,"
		"\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\"}]}";
	json_object *rec = json_tokener_parse(manifest_text);
	json_object *put = xrpc_put_record(&c, did, "io.atcr.manifest", rkey, rec, NULL, &e);
	json_object *v;
	ok(put && json_object_object_get_ex(put, "uri", &v) && strstr(json_object_get_string(v), rkey),
	   "putRecord io.atcr.manifest: %s", e.error ? e.error : "ok");
	json_object *got = xrpc_get_record(&anon, did, "io.atcr.manifest", rkey, &e);
	json_object *value = NULL, *digest = NULL;
	ok(got && json_object_object_get_ex(got, "value", &value) &&
	   json_object_object_get_ex(value, "digest", &digest), "getRecord");
	is_str(digest ? json_object_get_string(digest) : NULL,
	       "sha256:4b3a0e7c2f1d5e6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a", "record digest round trip");
	ok(value && json_object_equal(value, rec), "the whole record comes back equal");
	json_object *list = xrpc_list_records(&anon, did, "io.atcr.manifest", 50, NULL, &e), *records;
	int found = 0;
	if (list && json_object_object_get_ex(list, "records", &records))
		for (size_t i = 0; i < json_object_array_length(records); i++) {
			json_object *u;
			json_object_object_get_ex(json_object_array_get_idx(records, i), "uri", &u);
			found += strstr(json_object_get_string(u), rkey) != NULL;
		}
	is_int(found, 1, "listRecords contains it");
	ok(xrpc_put_record(&c, did2, "io.atcr.manifest", rkey, rec, NULL, &e) == NULL, "putRecord into another repo refused");
	xrpc_error_free(&e);
	ok(xrpc_delete_record(&c, did, "io.atcr.manifest", rkey, &e) == 0, "deleteRecord");
	ok(xrpc_get_record(&anon, did, "io.atcr.manifest", rkey, &e) == NULL, "deleted record is gone");
	is_str(e.error, "RecordNotFound", "with the XRPC error name RecordNotFound");
	xrpc_error_free(&e);
	json_object_put(put);
	json_object_put(got);
	json_object_put(list);

	/* blobs */
	unsigned char data[5000];
	crypto_random(data, sizeof data);
	json_object *blob = xrpc_upload_blob(&c, data, sizeof data, "application/octet-stream", &e), *ref, *link;
	ok(blob && json_object_object_get_ex(blob, "ref", &ref) && json_object_object_get_ex(ref, "$link", &link),
	   "uploadBlob returns a blob ref");
	const char *cid = blob ? json_object_get_string(link) : "";
	json_object_object_add(rec, "manifestBlob", json_object_get(blob));
	json_object *put2 = xrpc_put_record(&c, did, "io.atcr.manifest", rkey, rec, NULL, &e);
	ok(put2 != NULL, "record referencing the blob");
	buf_t bytes = BUF_INIT;
	ok(xrpc_get_blob(&anon, did, cid, &bytes, &e) == 0 && bytes.len == sizeof data &&
	   memcmp(bytes.data, data, sizeof data) == 0, "getBlob bytes identical");
	buf_free(&bytes);
	xrpc_delete_record(&c, did, "io.atcr.manifest", rkey, &e);
	json_object_put(put2);
	json_object_put(blob);
	json_object_put(rec);

	/* service auth */
	const char *lxm = "io.atcr.hold.initiateUpload";
	char *token = xrpc_get_service_auth(&c, HOLD_DID, lxm, 0, &e);
	ok(token != NULL, "getServiceAuth: %s", e.error ? e.error : "ok");
	if (!token)
		token = strdup("x.y.z");
	long long now = (long long)time(NULL);
	ok(verify_token(token, id.key, now, HOLD_DID, lxm) == 0, "service token verifies against the PLC key");
	jwt_t t = {0};
	if (jwt_decode(token, &t, &err) == 0) {
		is_str(t.alg, "ES256K", "alg ES256K");
		is_str(jwt_claim_str(&t, "iss"), did, "iss is the account");
		is_str(jwt_claim_str(&t, "lxm"), lxm, "lxm set");
		long long exp = jwt_claim_int(&t, "exp", 0);
		ok(exp > now && exp <= now + 3600, "exp in the near future");
		ok(verify_token(token, id.key, exp + 600, HOLD_DID, lxm) != 0, "refused when expired");
	}
	jwt_free(&t);
	char *bad = tamper(token, 1);
	ok(verify_token(bad, id.key, now, HOLD_DID, lxm) != 0, "refused after a one-byte change of the payload");
	free(bad);
	bad = tamper(token, 2);
	ok(verify_token(bad, id.key, now, HOLD_DID, lxm) != 0, "refused after a one-byte change of the signature");
	free(bad);
	ok(verify_token(token, id.key, now, "did:web:localhost%3A9090", lxm) != 0, "refused for another aud");
	ok(verify_token(token, id.key, now, HOLD_DID, "io.atcr.hold.uploadPart") != 0, "refused for another lxm");
	ok(verify_token(token, id2.key, now, HOLD_DID, lxm) != 0, "refused with the second account's key");
	free(token);

	xrpc_session_free(&s);
	identity_free(&id);
	identity_free(&id2);
	return tap_done();
}
