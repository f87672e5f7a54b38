/* test_jwt.c - JWS decode/verify/sign, the RFC 7515 A.3 ES256 vector, claim checks. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "encoding.h"
#include "jwt.h"
#include "tap.h"

/* RFC 7515 appendix A.3: the ES256 example (P-256 key as JWK x, y, d) */
static const char *a3_token =
	"eyJhbGciOiJFUzI1NiJ9"
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char *a3_x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char *a3_y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char *a3_d = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";

static const unsigned char p256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static unsigned char *b64u(const char *s, size_t *len)
{
	unsigned char *out = NULL;
	if (enc_b64url_decode(s, strlen(s), &out, len) < 0)
		return NULL;
	return out;
}

/* The A.3 example signature happens to be high-S: RFC 7515 does not care, atproto does. */
static void test_rfc7515_a3(void)
{
	size_t xl, yl, dl, sl;
	unsigned char *x = b64u(a3_x, &xl), *y = b64u(a3_y, &yl), *d = b64u(a3_d, &dl), pt[65];
	crypto_key *pub, *priv;
	jwt_t t;
	char *err = NULL, *fixed = NULL, *s64;
	unsigned char *sig;

	pt[0] = 4;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	pub = crypto_key_from_public(CRYPTO_P256, pt, 65);
	priv = crypto_key_from_private(CRYPTO_P256, d, dl);
	ok(pub && priv, "A.3 key loads from JWK x/y and d");
	{
		unsigned char a[33], b[33];
		ok(priv && crypto_key_public_compressed(pub, a) == 0 &&
			   crypto_key_public_compressed(priv, b) == 0 && memcmp(a, b, 33) == 0,
		   "A.3 private scalar d derives the published x/y");
	}
	ok(jwt_decode(a3_token, &t, &err) == 0, "A.3 decodes");
	is_str(t.alg, "ES256", "A.3 alg");
	is_str(jwt_claim_str(&t, "iss"), "joe", "A.3 iss claim");
	is_int(jwt_claim_int(&t, "exp", 0), 1300819380, "A.3 exp claim");
	ok(jwt_verify(&t, pub, &err) == -1, "A.3 as published is high-S, so refused");
	diag("%s", err ? err : "");
	free(err);
	err = NULL;
	ok(t.siglen == 64 && memcmp(t.sig + 32, "\x7f\xff\xff\xff\x80", 5) > 0,
	   "A.3 signature's S is above n/2");
	jwt_free(&t);

	/* swap in the low-S twin (r, n - s): the same signature in atproto's canonical form */
	sig = b64u(strrchr(a3_token, '.') + 1, &sl);
	{
		int borrow = 0;
		for (int i = 31; i >= 0; i--) {
			int v = p256_n[i] - sig[32 + i] - borrow;
			borrow = v < 0;
			sig[32 + i] = (unsigned char)(v + (borrow ? 256 : 0));
		}
	}
	s64 = enc_b64url_encode(sig, 64);
	if (asprintf(&fixed, "%.*s.%s", (int)(strrchr(a3_token, '.') - a3_token), a3_token, s64) < 0)
		fixed = NULL;
	ok(jwt_decode(fixed, &t, &err) == 0 && jwt_verify(&t, pub, &err) == 0,
	   "A.3 with the low-S signature verifies with the RFC key");
	ok(jwt_verify(&t, priv, &err) == 0, "... and with the key from d");
	is_int(jwt_check_claims(&t, 1300819380 - 10, 0, NULL, NULL, &err), 0,
	       "A.3 claims fine before exp");
	ok(jwt_check_claims(&t, 1300819380 + 61, 60, NULL, NULL, &err) == -1 && err &&
		   strstr(err, "exp"),
	   "A.3 expired after exp + skew");
	free(err);
	err = NULL;
	is_int(jwt_check_claims(&t, 1300819380 + 59, 60, NULL, NULL, &err), 0,
	       "A.3 within the skew is fine");
	jwt_free(&t);
	free(s64);
	free(fixed);
	free(sig);
	free(x);
	free(y);
	free(d);
	crypto_key_free(pub);
	crypto_key_free(priv);
}

static json_object *claims_new(long long now)
{
	json_object *c = json_object_new_object();
	json_object_object_add(c, "iss", json_object_new_string("did:plc:abc123"));
	json_object_object_add(c, "aud", json_object_new_string("did:web:hold.example.com"));
	json_object_object_add(c, "lxm", json_object_new_string("com.atproto.repo.uploadBlob"));
	json_object_object_add(c, "iat", json_object_new_int64(now));
	json_object_object_add(c, "exp", json_object_new_int64(now + 60));
	json_object_object_add(c, "url", json_object_new_string("https://x.example/a/b?c"));
	return c;
}

/* The token with one byte of the decoded payload changed (abc123 -> abc124), re-encoded. */
static char *tamper_payload(const char *token)
{
	const char *c = strchr(token, '.') + 1, *sigpart = strrchr(token, '.');
	unsigned char *json = NULL;
	size_t jlen = 0;
	char *p, *c64, *out;

	if (enc_b64url_decode(c, (size_t)(sigpart - c), &json, &jlen) < 0)
		return NULL;
	p = strstr((char *)json, "abc123");
	if (p)
		p[5] = '4';
	c64 = enc_b64url_encode(json, jlen);
	if (!p || asprintf(&out, "%.*s%s%s", (int)(c - token), token, c64, sigpart) < 0)
		out = NULL;
	free(json);
	free(c64);
	return out;
}

static void roundtrip(crypto_alg alg, const char *want_alg)
{
	const long long now = 1700000000;
	crypto_key *k = crypto_key_generate(alg), *pub = crypto_key_public_copy(k);
	crypto_key *other = crypto_key_generate(alg);
	json_object *claims = claims_new(now), *extra = json_object_new_object();
	char *tok, *err = NULL, *bad;
	jwt_t t;

	json_object_object_add(extra, "kid", json_object_new_string("key-1"));
	json_object_object_add(extra, "alg", json_object_new_string("none")); /* must be ignored */
	tok = jwt_sign(extra, claims, k, &err);
	ok(tok != NULL, "%s: sign", want_alg);
	ok(tok && jwt_decode(tok, &t, &err) == 0, "%s: decode", want_alg);
	is_str(t.alg, want_alg, "%s: alg from the key (header_extra cannot override)", want_alg);
	{
		json_object *v;
		is_str(json_object_object_get_ex(t.header, "typ", &v) ? json_object_get_string(v) : NULL,
		       "JWT", "%s: typ", want_alg);
		is_str(json_object_object_get_ex(t.header, "kid", &v) ? json_object_get_string(v) : NULL,
		       "key-1", "%s: extra header field", want_alg);
	}
	is_str(jwt_claim_str(&t, "url"), "https://x.example/a/b?c", "%s: claims survive", want_alg);
	{
		const char *c = strchr(tok, '.') + 1;
		unsigned char *raw = NULL;
		size_t rawlen;
		ok(enc_b64url_decode(c, (size_t)(strrchr(tok, '.') - c), &raw, &rawlen) == 0 &&
			   strstr((char *)raw, "https://x.example/a/b?c") && !strchr((char *)raw, ' '),
		   "%s: compact payload, '/' not escaped", want_alg);
		free(raw);
	}
	is_int(jwt_claim_int(&t, "exp", 0), now + 60, "%s: int claim", want_alg);
	is_int(jwt_claim_int(&t, "nope", -7), -7, "%s: absent int claim gives default", want_alg);
	ok(jwt_claim_str(&t, "exp") == NULL, "%s: non-string claim is NULL as a string", want_alg);
	is_int(jwt_verify(&t, pub, &err), 0, "%s: verifies with the public key", want_alg);
	is_int(jwt_verify(&t, k, &err), 0, "%s: verifies with the private key", want_alg);
	ok(jwt_verify(&t, other, &err) == -1 && err, "%s: wrong key refused", want_alg);
	free(err);
	err = NULL;
	is_int(jwt_check_claims(&t, now, 0, "did:web:hold.example.com", "com.atproto.repo.uploadBlob",
				&err),
	       0, "%s: claims accepted", want_alg);
	ok(jwt_check_claims(&t, now, 0, "did:web:other.example.com", NULL, &err) == -1 && err &&
		   strstr(err, "aud"),
	   "%s: wrong aud refused", want_alg);
	free(err);
	err = NULL;
	ok(jwt_check_claims(&t, now, 0, NULL, "com.atproto.repo.getRecord", &err) == -1 && err &&
		   strstr(err, "lxm"),
	   "%s: wrong lxm refused", want_alg);
	free(err);
	err = NULL;
	ok(jwt_check_claims(&t, now + 61, 0, NULL, NULL, &err) == -1 && err && strstr(err, "exp"),
	   "%s: expired refused", want_alg);
	free(err);
	err = NULL;
	ok(jwt_check_claims(&t, now - 100, 30, NULL, NULL, &err) == -1 && err && strstr(err, "iat"),
	   "%s: iat in the future refused", want_alg);
	free(err);
	err = NULL;
	jwt_free(&t);

	bad = tamper_payload(tok);
	ok(bad && jwt_decode(bad, &t, &err) == 0, "%s: tampered token still decodes", want_alg);
	is_str(jwt_claim_str(&t, "iss"), "did:plc:abc124", "%s: tampered iss", want_alg);
	ok(jwt_verify(&t, pub, &err) == -1 && err, "%s: tampered payload (one byte) refused", want_alg);
	jwt_free(&t);
	free(err);
	err = NULL;
	free(bad);

	/* dropping or mangling the signature */
	bad = strdup(tok);
	*(strrchr(bad, '.') + 1) = '\0';
	ok(jwt_decode(bad, &t, &err) == 0 && jwt_verify(&t, pub, &err) == -1,
	   "%s: empty signature refused", want_alg);
	jwt_free(&t);
	free(err);
	err = NULL;
	free(bad);

	jwt_free(&t);
	free(tok);
	json_object_put(claims);
	json_object_put(extra);
	crypto_key_free(k);
	crypto_key_free(pub);
	crypto_key_free(other);
}

/* Build "header.payload.sig" from raw JSON text. */
static char *forge(const char *header_json, const char *claims_json, const char *sig_b64u)
{
	char *h = enc_b64url_encode(header_json, strlen(header_json));
	char *c = enc_b64url_encode(claims_json, strlen(claims_json));
	char *out;
	if (asprintf(&out, "%s.%s.%s", h, c, sig_b64u) < 0)
		out = NULL;
	free(h);
	free(c);
	return out;
}

static void test_refusals(void)
{
	crypto_key *k256 = crypto_key_generate(CRYPTO_K256), *p256 = crypto_key_generate(CRYPTO_P256);
	crypto_key *rsa = crypto_key_generate(CRYPTO_RSA);
	json_object *claims = claims_new(1700000000);
	char *tok, *err = NULL, *bad;
	jwt_t t;

	/* alg none: a "signature" that is empty */
	bad = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"iss\":\"x\",\"exp\":9999999999}", "");
	ok(jwt_decode(bad, &t, &err) == 0, "alg none token decodes");
	ok(jwt_verify(&t, k256, &err) == -1 && err && strstr(err, "none"), "alg none refused");
	diag("%s", err ? err : "");
	free(err);
	err = NULL;
	jwt_free(&t);
	free(bad);
	bad = forge("{\"alg\":\"HS256\"}", "{\"iss\":\"x\"}", "AAAA");
	ok(jwt_decode(bad, &t, &err) == 0 && jwt_verify(&t, rsa, &err) == -1, "alg HS256 refused");
	free(err);
	err = NULL;
	jwt_free(&t);
	free(bad);

	/* alg/key mismatch: a valid ES256K token offered to a P-256 and an RSA key */
	tok = jwt_sign(NULL, claims, k256, &err);
	ok(tok && jwt_decode(tok, &t, &err) == 0 && jwt_verify(&t, k256, &err) == 0, "ES256K valid");
	ok(jwt_verify(&t, p256, &err) == -1 && err && strstr(err, "match"), "ES256K vs P-256 key refused");
	free(err);
	err = NULL;
	ok(jwt_verify(&t, rsa, &err) == -1, "ES256K vs RSA key refused");
	free(err);
	err = NULL;
	jwt_free(&t);
	/* the same signature relabelled ES256 must not pass with any key */
	{
		char *sigpart = strrchr(tok, '.') + 1;
		char *c = strchr(tok, '.') + 1;
		size_t clen = (size_t)(sigpart - 1 - c);
		char *h = enc_b64url_encode("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", 27);
		if (asprintf(&bad, "%s.%.*s.%s", h, (int)clen, c, sigpart) < 0)
			bad = NULL;
		ok(jwt_decode(bad, &t, &err) == 0 && jwt_verify(&t, k256, &err) == -1,
		   "relabelled alg ES256 with the K-256 key refused");
		free(err);
		err = NULL;
		free(h);
		jwt_free(&t);
		free(bad);
	}
	free(tok);

	/* structural garbage */
	static const char *garbage[] = {
		"", "abc", "a.b", "a.b.c.d", "!!!.e30.AAAA", "e30.e30.AAAA", /* e30 = {} has no alg */
		"eyJhbGciOiJFUzI1NiJ9.W10.AAAA",                           /* payload [] */
		"eyJhbGciOiJFUzI1NiJ9.e30.AA+A",                           /* '+' not base64url */
		"eyJhbGciOjF9.e30.AAAA",                                   /* alg is a number */
		"eyJhbGciOiJFUzI1NiJ9.e30gZ2FyYmFnZQ.AAAA",                /* {} garbage */
	};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
		ok(jwt_decode(garbage[i], &t, &err) == -1 && err && !t.header && !t.claims,
		   "garbage '%s' refused", garbage[i]);
		free(err);
		err = NULL;
	}
	ok(jwt_decode(NULL, &t, &err) == -1, "NULL token refused");
	free(err);
	err = NULL;

	/* a public key cannot sign */
	{
		crypto_key *pub = crypto_key_public_copy(p256);
		ok(jwt_sign(NULL, claims, pub, &err) == NULL && err, "public key cannot sign");
		free(err);
		err = NULL;
		crypto_key_free(pub);
	}

	/* claim checks that need shaped claims */
	bad = forge("{\"alg\":\"ES256\"}", "{\"aud\":[\"a\",\"b\"],\"exp\":100}", "AAAA");
	jwt_decode(bad, &t, &err);
	is_int(jwt_check_claims(&t, 50, 0, "b", "anything", &err), 0,
	       "aud array containing want_aud accepted; absent lxm not required");
	ok(jwt_check_claims(&t, 50, 0, "c", NULL, &err) == -1, "aud array without want_aud refused");
	free(err);
	err = NULL;
	jwt_free(&t);
	free(bad);
	bad = forge("{\"alg\":\"ES256\"}", "{\"aud\":\"a\"}", "AAAA");
	jwt_decode(bad, &t, &err);
	ok(jwt_check_claims(&t, 50, 0, NULL, NULL, &err) == -1 && err && strstr(err, "exp"),
	   "missing exp refused");
	free(err);
	err = NULL;
	jwt_free(&t);
	free(bad);
	bad = forge("{\"alg\":\"ES256\"}", "{\"exp\":100,\"lxm\":7}", "AAAA");
	jwt_decode(bad, &t, &err);
	ok(jwt_check_claims(&t, 50, 0, NULL, "x.y.z", &err) == -1, "non-string lxm refused");
	free(err);
	err = NULL;
	jwt_free(&t);
	jwt_free(&t); /* double free is safe */
	free(bad);

	json_object_put(claims);
	crypto_key_free(k256);
	crypto_key_free(p256);
	crypto_key_free(rsa);
}

/* ES256K tokens from many keys: signatures always 64 bytes and low-S. */
static void test_many_es256k(void)
{
	json_object *claims = claims_new(1700000000);
	int bad = 0;
	for (int i = 0; i < 50; i++) {
		crypto_key *k = crypto_key_generate(CRYPTO_K256);
		char *tok = jwt_sign(NULL, claims, k, NULL);
		jwt_t t;
		if (!tok || jwt_decode(tok, &t, NULL) < 0 || t.siglen != 64 ||
		    memcmp(t.sig + 32, "\x7f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
				       "\x5d\x57\x6e\x73\x57\xa4\x50\x1d\xdf\xe9\x2f\x46\x68\x1b\x20\xa0",
			   32) > 0 ||
		    jwt_verify(&t, k, NULL) != 0)
			bad++;
		jwt_free(&t);
		free(tok);
		crypto_key_free(k);
	}
	is_int(bad, 0, "50 ES256K tokens: 64-byte low-S signatures that verify");
	json_object_put(claims);
}

int main(void)
{
	test_rfc7515_a3();
	roundtrip(CRYPTO_K256, "ES256K");
	roundtrip(CRYPTO_P256, "ES256");
	roundtrip(CRYPTO_RSA, "RS256");
	test_refusals();
	test_many_es256k();
	return tap_done();
}
