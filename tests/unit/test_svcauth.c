/* test_svcauth.c - service-token verification: tokens minted here with keys whose did:web documents a
 * server inside the test publishes; every rule of svcauth_verify accepted once and refused once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoding.h"
#include "jwt.h"
#include "mini_httpd.h"
#include "multikey.h"
#include "svcauth.h"
#include "ecdsa_util.h"
#include "tap.h"

#define SERVICE "did:web:localhost%3A8080"
#define METHOD "io.atcr.hold.initiateUpload"

static mini_httpd srv;
static crypto_key *k256, *p256;
static char did_k[96], did_p[96];

static void doc(char *body, size_t size, const char *did, const crypto_key *k)
{
	char *mk = multikey_encode(k);
	snprintf(body, size,
		 "{\"id\":\"%s\",\"alsoKnownAs\":[],\"verificationMethod\":[{\"id\":\"%s#atproto\","
		 "\"type\":\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":\"%s\"}],"
		 "\"service\":[{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\","
		 "\"serviceEndpoint\":\"http://localhost:1\"}]}",
		 did, did, did, mk);
	free(mk);
}

static void answer(const char *line, int *status, char *body, size_t size)
{
	*status = 200;
	if (strstr(line, "GET /k/did.json "))
		doc(body, size, did_k, k256);
	else if (strstr(line, "GET /p/did.json "))
		doc(body, size, did_p, p256);
	else
		*status = 404;
}

/* "Bearer <token>" for claims; lxm/aud NULL = omitted. */
static char *bearer(const crypto_key *k, const char *iss, const char *aud, const char *lxm, long long exp)
{
	json_object *c = json_object_new_object();
	json_object_object_add(c, "iss", json_object_new_string(iss));
	if (aud)
		json_object_object_add(c, "aud", json_object_new_string(aud));
	if (lxm)
		json_object_object_add(c, "lxm", json_object_new_string(lxm));
	json_object_object_add(c, "iat", json_object_new_int64(time(NULL)));
	json_object_object_add(c, "exp", json_object_new_int64(exp));
	char *err = NULL, *t = jwt_sign(NULL, c, k, &err), *out = malloc(strlen(t ? t : "") + 8);
	sprintf(out, "Bearer %s", t ? t : "");
	free(t);
	free(err);
	json_object_put(c);
	return out;
}

/* The last refusal's reason (a copy, so test messages may print it whatever the argument order). */
static char why[512];

static int verify(const identity_ctx *ctx, const char *auth, const char *method)
{
	char *caller = NULL, *err = NULL;
	int rc = svcauth_verify(ctx, auth, SERVICE, method, (long long)time(NULL), &caller, &err);
	snprintf(why, sizeof why, "%s", err ? err : "");
	free(caller);
	free(err);
	return rc;
}

/* Replace s by n - s in a compact K-256 signature (same validity, high-S form). */
static char *high_s(const char *auth)
{
	static const unsigned char n[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
					    0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
					    0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
	const char *sig = strrchr(auth, '.') + 1;
	unsigned char *raw = NULL;
	size_t len = 0;
	enc_b64url_decode(sig, strlen(sig), &raw, &len);
	negate_s(raw, n);
	char *b = enc_b64url_encode(raw, len), *out = malloc(strlen(auth) + 8);
	sprintf(out, "%.*s%s", (int)(sig - auth), auth, b);
	free(raw);
	free(b);
	return out;
}

int main(void)
{
	ok(svcauth_aud_ok(SERVICE, SERVICE), "aud: bare DID");
	ok(svcauth_aud_ok(SERVICE "#atcr_hold", SERVICE), "aud: DID with a service fragment");
	ok(!svcauth_aud_ok(SERVICE "#", SERVICE), "aud: empty fragment refused");
	ok(!svcauth_aud_ok("did:web:localhost%3A80800", SERVICE), "aud: prefix of another DID refused");
	ok(!svcauth_aud_ok(NULL, SERVICE), "aud: missing refused");

	k256 = crypto_key_generate(CRYPTO_K256);
	p256 = crypto_key_generate(CRYPTO_P256);
	ok(mini_httpd_start(&srv, answer) == 0, "DID document server");
	snprintf(did_k, sizeof did_k, "did:web:127.0.0.1%%3A%d:k", srv.port);
	snprintf(did_p, sizeof did_p, "did:web:127.0.0.1%%3A%d:p", srv.port);
	identity_ctx ctx = {.test_mode = 1, .timeout_s = 5};
	long long now = (long long)time(NULL);
	char *err = NULL, *caller = NULL, *t;

	t = bearer(k256, did_k, SERVICE, METHOD, now + 60);
	ok(svcauth_verify(&ctx, t, SERVICE, METHOD, now, &caller, &err) == 0, "ES256K token accepted");
	is_str(caller, did_k, "caller is the issuer");
	free(caller);
	caller = NULL;
	char *hs = high_s(t);
	ok(verify(&ctx, hs, METHOD) != 0, "the same signature in high-S form refused: %s", why);
	free(hs);
	ok(verify(&ctx, t, "io.atcr.hold.uploadPart") != 0, "wrong lxm refused: %s", why);
	char *lower = strdup(t);
	lower[7] = lower[7] == 'e' ? 'f' : 'e'; /* first byte of the header */
	ok(verify(&ctx, lower, METHOD) != 0, "one-byte change refused: %s", why);
	free(lower);
	ok(verify(&ctx, t + 7, METHOD) != 0, "token without the Bearer scheme refused");
	ok(verify(&ctx, NULL, METHOD) != 0, "no token refused");
	free(t);

	t = bearer(k256, did_k, SERVICE "#atcr_hold", NULL, now + 60);
	ok(verify(&ctx, t, METHOD) == 0, "token without lxm and aud with a fragment accepted: %s", why);
	free(t);
	t = bearer(k256, did_k, "did:web:other.example", METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) != 0, "another audience refused: %s", why);
	free(t);
	t = bearer(k256, did_k, NULL, METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) != 0, "no audience refused");
	free(t);
	t = bearer(k256, did_k, SERVICE, METHOD, now - 120);
	ok(verify(&ctx, t, METHOD) != 0, "expired refused: %s", why);
	free(t);
	t = bearer(k256, did_k, SERVICE, METHOD, now - 5);
	ok(verify(&ctx, t, METHOD) == 0, "expired within the skew allowance accepted");
	free(t);
	t = bearer(p256, did_p, SERVICE, METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) == 0, "ES256 (P-256) token accepted: %s", why);
	free(t);
	t = bearer(p256, did_k, SERVICE, METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) != 0, "signed by a key that is not the issuer's refused: %s", why);
	free(t);
	crypto_key *rsa = crypto_key_generate(CRYPTO_RSA);
	t = bearer(rsa, did_k, SERVICE, METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) != 0 && strstr(why, "algorithm"), "RS256 refused for service auth: %s", why);
	free(t);
	crypto_key_free(rsa);

	/* alg none: a header claiming no signature, and an empty signature */
	char *h = enc_b64url_encode("{\"alg\":\"none\",\"typ\":\"JWT\"}", 27), claims[512];
	snprintf(claims, sizeof claims, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld}", did_k, SERVICE, now + 60);
	char *p = enc_b64url_encode(claims, strlen(claims)), none[2048];
	snprintf(none, sizeof none, "Bearer %s.%s.", h, p);
	ok(verify(&ctx, none, METHOD) != 0, "alg none refused: %s", why);
	free(h);
	free(p);
	t = bearer(k256, "did:web:127.0.0.1%3A1:nobody", SERVICE, METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) != 0, "unresolvable issuer refused: %s", why);
	free(t);
	t = bearer(k256, "not-a-did", SERVICE, METHOD, now + 60);
	ok(verify(&ctx, t, METHOD) != 0, "iss that is not a DID refused");
	free(t);
	ok(verify(&ctx, "Bearer a.b.c", METHOD) != 0, "garbage refused");

	free(err);
	mini_httpd_stop(&srv);
	crypto_key_free(k256);
	crypto_key_free(p256);
	return tap_done();
}
