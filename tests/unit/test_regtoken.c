/* test_regtoken.c - Docker registry token auth: scopes, issue/verify (ES256, RS256), refusals,
 * access checks, challenge strings, the token endpoint's JSON and form, Basic auth. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "encoding.h"
#include "jwt.h"
#include "regtoken.h"
#include "tap.h"

#define NOW 1700000000LL
#define SERVICE "registry.test"

/* ---------------------------------------------------------------- scopes */

static const struct {
	const char *scope;
	const char *canonical; /* regtoken_scope_format after parsing; NULL: must be refused */
} scope_table[] = {
	{"repository:alice.test/app:pull,push", "repository:alice.test/app:pull,push"},
	{"repository:alice.test/app:push,pull", "repository:alice.test/app:pull,push"},
	{"repository:alice.test/app:pull", "repository:alice.test/app:pull"},
	{"registry:catalog:*", "registry:catalog:*"},
	{"repository:did:plc:abc234xyz/app:pull", "repository:did:plc:abc234xyz/app:pull"},
	{"repository:localhost:5000/a/b/c:push", "repository:localhost:5000/a/b/c:push"},
	{"repository(plugin):vendor/x:pull", "repository(plugin):vendor/x:pull"},
	{"repository:a:pull repository:b:push", "repository:a:pull repository:b:push"},
	{"repository:a:pull  repository:a:push", "repository:a:pull,push"},
	{" repository:a:delete,* ", "repository:a:delete,*"},
	{"repository:a:pull,frobnicate", "repository:a:pull"},
	{"repository:my_repo.v2/x-y:pull", "repository:my_repo.v2/x-y:pull"},
	{"", ""},
	{"repository", NULL},
	{"repository:a", NULL},
	{"repository::pull", NULL},
	{":a:pull", NULL},
	{"Repository:a:pull", NULL},
	{"repo..x:a:pull", NULL},
	{"repository(:a:pull", NULL},
	{"repository():a:pull", NULL},
	{"repository:a:pull,,push", NULL},
	{"repository:a:", NULL},
	{"repository:a:PULL", NULL},
	{"repository:/a:pull", NULL},
	{"repository:a/:pull", NULL},
	{"repository:a//b:pull", NULL},
	{"repository:a\"b:pull", NULL},
	{"repository:a,b:pull", NULL},
	{"repository:a\\b:pull", NULL},
	{"repository:a:pull repository:b", NULL},
};

static void scope_parsing(void)
{
	regtoken_access_list l = {0};
	char *err = NULL, *s;
	size_t i;

	for (i = 0; i < sizeof scope_table / sizeof scope_table[0]; i++) {
		regtoken_access_list one = {0};
		int rc = regtoken_scope_parse(&one, scope_table[i].scope, &err);
		if (scope_table[i].canonical) {
			s = rc == 0 ? regtoken_scope_format(&one) : NULL;
			is_str(s, scope_table[i].canonical, "scope '%s'", scope_table[i].scope);
			free(s);
		} else {
			ok(rc == -1 && one.n == 0 && err, "scope '%s' refused (%s)", scope_table[i].scope,
			   err ? err : "no error");
		}
		regtoken_access_list_free(&one);
	}

	/* Fields of one parsed scope, with a DID name. */
	ok(regtoken_scope_parse(&l, "repository:did:plc:abc/app:pull,push", &err) == 0, "parse DID scope");
	is_int(l.n, 1, "one entry");
	is_str(l.v[0].type, "repository", "type");
	is_str(l.v[0].name, "did:plc:abc/app", "name keeps the DID's colons");
	is_int(l.v[0].actions, REGTOKEN_PULL | REGTOKEN_PUSH, "actions");

	/* Repeated scope parameters accumulate; a bad one leaves the list as it was. */
	ok(regtoken_scope_parse(&l, "repository:did:plc:abc/app:delete registry:catalog:*", &err) == 0,
	   "second scope parameter");
	ok(regtoken_scope_parse(&l, "repository:ok:pull repository:bad:", &err) == -1,
	   "a parameter with one bad scope is refused");
	s = regtoken_scope_format(&l);
	is_str(s, "repository:did:plc:abc/app:pull,push,delete registry:catalog:*",
	       "merged, and unchanged by the refused parameter");
	free(s);
	ok(regtoken_scope_parse(&l, NULL, &err) == -1, "NULL scope refused");
	regtoken_access_list_free(&l);
	ok(l.n == 0 && l.v == NULL, "free empties the list");
	free(err);
}

static void access_checks(void)
{
	regtoken_access_list l = {0};
	char *err = NULL, *s;

	regtoken_access_add(&l, "repository", "alice.test/app", REGTOKEN_PULL | REGTOKEN_PUSH, &err);
	regtoken_access_add(&l, "repository", "bob.test/x", REGTOKEN_PULL, &err);
	regtoken_access_add(&l, "registry", "catalog", REGTOKEN_ANY, &err);
	regtoken_access_add(&l, "repository", "carol.test/y", 0, &err);
	regtoken_access_add(&l, "repository", "bob.test/x", REGTOKEN_DELETE, &err);

	ok(regtoken_allows(&l, "repository", "alice.test/app", REGTOKEN_PULL), "alice pull");
	ok(regtoken_allows(&l, "repository", "alice.test/app", REGTOKEN_PUSH), "alice push");
	ok(regtoken_allows(&l, "repository", "alice.test/app", REGTOKEN_PULL | REGTOKEN_PUSH),
	   "alice pull+push");
	ok(!regtoken_allows(&l, "repository", "alice.test/app", REGTOKEN_DELETE), "alice no delete");
	ok(!regtoken_allows(&l, "repository", "alice.test/app", REGTOKEN_PUSH | REGTOKEN_DELETE),
	   "alice not push+delete");
	ok(!regtoken_allows(&l, "repository", "bob.test/x", REGTOKEN_PUSH), "bob no push");
	ok(regtoken_allows(&l, "repository", "bob.test/x", REGTOKEN_DELETE), "bob delete merged in");
	ok(!regtoken_allows(&l, "repository", "carol.test/y", REGTOKEN_PULL), "carol: entry without actions");
	ok(!regtoken_allows(&l, "repository", "alice.test/other", REGTOKEN_PULL), "unknown name");
	ok(!regtoken_allows(&l, "repository", "alice.test", REGTOKEN_PULL), "no prefix match");
	ok(!regtoken_allows(&l, "registry", "alice.test/app", REGTOKEN_PULL), "type must match");
	ok(regtoken_allows(&l, "registry", "catalog", REGTOKEN_PULL), "* grants any action");
	ok(!regtoken_allows(&l, "repository", "alice.test/app", 0), "asking for nothing is no grant");
	ok(!regtoken_allows(NULL, "repository", "alice.test/app", REGTOKEN_PULL), "NULL list");
	is_int(regtoken_access_get(&l, "repository", "bob.test/x"), REGTOKEN_PULL | REGTOKEN_DELETE,
	       "access_get");
	s = regtoken_scope_format(&l);
	is_str(s, "repository:alice.test/app:pull,push repository:bob.test/x:pull,delete registry:catalog:*",
	       "format skips entries without actions");
	free(s);
	ok(regtoken_access_add(&l, "repository", "a b", REGTOKEN_PULL, &err) == -1, "add refuses a bad name");
	ok(regtoken_access_add(&l, "Repo", "a", REGTOKEN_PULL, &err) == -1, "add refuses a bad type");
	is_int(l.n, 4, "refused adds change nothing");
	regtoken_access_list_free(&l);
	free(err);
}

/* ---------------------------------------------------------------- issue and verify */

static json_object *token_part(const char *token, int which)
{
	const char *dot = strchr(token, '.');
	const char *start = which == 0 ? token : dot + 1;
	size_t len = which == 0 ? (size_t)(dot - token) : strcspn(start, ".");
	unsigned char *raw = NULL;
	size_t rawlen;
	json_object *o = NULL;

	if (enc_b64url_decode(start, len, &raw, &rawlen) == 0)
		o = json_tokener_parse((const char *)raw);
	free(raw);
	return o;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static long long jint(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

/* A token signed by key whose payload is claims_json (to test what verify makes of it). */
static char *sign_claims(const crypto_key *key, const char *claims_json)
{
	json_object *c = json_tokener_parse(claims_json);
	char *err = NULL, *t = jwt_sign(NULL, c, key, &err);
	json_object_put(c);
	free(err);
	return t;
}

/* Replace the payload segment of token with base64url(json); caller frees. */
static char *swap_payload(const char *token, const char *json)
{
	const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
	char *p = enc_b64url_encode(json, strlen(json));
	char *out = buf_strf("%.*s.%s%s", (int)(dot1 - token), token, p, dot2);
	free(p);
	return out;
}

static void expect_refused(const regtoken_config *cfg, const char *token, long long now,
			   const char *label)
{
	char *err = NULL, *sub = (char *)"untouched";
	regtoken_access_list acc = {0};
	int rc = regtoken_verify(cfg, token, now, &sub, &acc, &err);
	ok(rc == -1 && sub == NULL && acc.n == 0 && err, "refused: %s (%s)", label, err ? err : "no error");
	regtoken_access_list_free(&acc);
	free(err);
}

static void round_trip(crypto_alg alg, const char *alg_name)
{
	crypto_key *key = crypto_key_generate(alg), *pub = key ? crypto_key_public_copy(key) : NULL;
	crypto_key *other = crypto_key_generate(CRYPTO_P256);
	regtoken_access_list want = {0}, got = {0};
	regtoken_config cfg = {.key = key, .service = SERVICE, .kid = "key-1"};
	regtoken_config vcfg = {.key = pub, .service = SERVICE};
	char *err = NULL, *token, *token2, *sub = NULL, *s, *bad;
	json_object *hdr, *claims, *acc;

	ok(key && pub && other, "%s: keys", alg_name);
	regtoken_scope_parse(&want, "repository:alice.test/app:pull,push registry:catalog:*", &err);
	token = regtoken_issue(&cfg, "did:plc:alice", &want, NOW, &err);
	ok(token != NULL, "%s: issued (%s)", alg_name, token ? "" : err);
	if (!token)
		goto out;

	/* What docker and our verifier will read. */
	hdr = token_part(token, 0);
	claims = token_part(token, 1);
	is_str(jstr(hdr, "alg"), alg_name, "%s: header alg", alg_name);
	is_str(jstr(hdr, "kid"), "key-1", "%s: header kid", alg_name);
	is_str(jstr(claims, "iss"), SERVICE, "%s: iss", alg_name);
	is_str(jstr(claims, "aud"), SERVICE, "%s: aud", alg_name);
	is_str(jstr(claims, "sub"), "did:plc:alice", "%s: sub", alg_name);
	is_int(jint(claims, "exp"), NOW + 300, "%s: exp = now + 300 by default", alg_name);
	is_int(jint(claims, "nbf"), NOW, "%s: nbf", alg_name);
	is_int(jint(claims, "iat"), NOW, "%s: iat", alg_name);
	ok(jstr(claims, "jti") && strlen(jstr(claims, "jti")) >= 16, "%s: jti", alg_name);
	json_object_object_get_ex(claims, "access", &acc);
	is_str(json_object_to_json_string_ext(acc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	       "[{\"type\":\"repository\",\"name\":\"alice.test/app\",\"actions\":[\"pull\",\"push\"]},"
	       "{\"type\":\"registry\",\"name\":\"catalog\",\"actions\":[\"*\"]}]",
	       "%s: access claim per the Docker token spec", alg_name);
	token2 = regtoken_issue(&cfg, "did:plc:alice", &want, NOW, &err);
	{
		json_object *claims2 = token2 ? token_part(token2, 1) : NULL;
		ok(claims2 && strcmp(jstr(claims, "jti"), jstr(claims2, "jti")) != 0,
		   "%s: jti differs between tokens", alg_name);
		json_object_put(claims2);
	}

	/* Verify with the public key. */
	ok(regtoken_verify(&vcfg, token, NOW + 10, &sub, &got, &err) == 0, "%s: verifies (%s)",
	   alg_name, err ? err : "");
	is_str(sub, "did:plc:alice", "%s: subject back", alg_name);
	s = regtoken_scope_format(&got);
	is_str(s, "repository:alice.test/app:pull,push registry:catalog:*", "%s: access back", alg_name);
	ok(regtoken_allows(&got, "repository", "alice.test/app", REGTOKEN_PUSH), "%s: allows push",
	   alg_name);
	ok(!regtoken_allows(&got, "repository", "bob.test/app", REGTOKEN_PULL), "%s: not bob", alg_name);
	free(s);
	free(sub);
	sub = NULL;
	ok(regtoken_verify(&vcfg, token, NOW + 300 + 59, NULL, NULL, &err) == 0,
	   "%s: still good within the skew after exp", alg_name);

	/* Refusals. */
	expect_refused(&vcfg, token, NOW + 300 + 61, "expired");
	expect_refused(&vcfg, token, NOW - 61, "verified before it was issued");
	{
		regtoken_config wrong_aud = {.key = pub, .service = "other.test", .issuer = SERVICE};
		regtoken_config wrong_iss = {.key = pub, .service = SERVICE, .issuer = "someone.else"};
		regtoken_config wrong_key = {.key = other, .service = SERVICE};
		expect_refused(&wrong_aud, token, NOW, "wrong aud");
		expect_refused(&wrong_iss, token, NOW, "wrong iss");
		expect_refused(&wrong_key, token, NOW, "another key");
	}
	bad = swap_payload(token, "{\"iss\":\"" SERVICE "\",\"sub\":\"did:plc:mallory\",\"aud\":\"" SERVICE
				  "\",\"exp\":1700000300,\"access\":[]}");
	expect_refused(&vcfg, bad, NOW, "tampered payload");
	free(bad);
	bad = strdup(token);
	bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
	expect_refused(&vcfg, bad, NOW, "tampered signature");
	free(bad);
	expect_refused(&vcfg, "not.a.token", NOW, "garbage");
	expect_refused(&vcfg, NULL, NOW, "NULL token");

	json_object_put(hdr);
	json_object_put(claims);
	free(token2);
out:
	free(token);
	free(err);
	regtoken_access_list_free(&want);
	regtoken_access_list_free(&got);
	crypto_key_free(key);
	crypto_key_free(pub);
	crypto_key_free(other);
}

static void issue_details(void)
{
	crypto_key *key = crypto_key_generate(CRYPTO_P256), *rsa = NULL;
	regtoken_config cfg = {.key = key, .service = SERVICE, .issuer = "atcr-appview", .expiry = 60};
	regtoken_access_list acc = {0};
	char *err = NULL, *token, *sub = NULL, *bad;
	json_object *claims;

	/* Anonymous, nothing granted, custom issuer and expiry. */
	token = regtoken_issue(&cfg, "", NULL, NOW, &err);
	claims = token ? token_part(token, 1) : NULL;
	is_int(jint(claims, "exp"), NOW + 60, "custom expiry");
	is_str(jstr(claims, "iss"), "atcr-appview", "custom issuer");
	ok(regtoken_verify(&cfg, token, NOW, &sub, &acc, &err) == 0, "anonymous token verifies");
	is_str(sub, "", "anonymous subject is empty");
	is_int(acc.n, 0, "anonymous token grants nothing");
	expect_refused(&cfg, token, NOW + 60 + 61, "custom expiry passed");
	json_object_put(claims);
	free(token);
	free(sub);

	/* Signed by our key, but not a registry token we would issue. */
	bad = sign_claims(key, "{\"iss\":\"atcr-appview\",\"aud\":\"" SERVICE "\",\"exp\":1700000300}");
	expect_refused(&cfg, bad, NOW, "no sub");
	free(bad);
	bad = sign_claims(key, "{\"iss\":\"atcr-appview\",\"sub\":\"\",\"aud\":\"" SERVICE "\"}");
	expect_refused(&cfg, bad, NOW, "no exp");
	free(bad);
	bad = sign_claims(key, "{\"iss\":\"atcr-appview\",\"sub\":\"\",\"aud\":\"" SERVICE
			       "\",\"exp\":1700000300,\"iat\":1700000000,\"nbf\":1700000120}");
	expect_refused(&cfg, bad, NOW, "nbf in the future");
	ok(regtoken_verify(&cfg, bad, NOW + 120, NULL, NULL, &err) == 0, "good once nbf has passed");
	free(bad);
	bad = sign_claims(key, "{\"iss\":\"atcr-appview\",\"sub\":\"\",\"aud\":\"" SERVICE
			       "\",\"exp\":1700000300,\"access\":\"repository:a:pull\"}");
	expect_refused(&cfg, bad, NOW, "access not an array");
	free(bad);
	bad = sign_claims(key, "{\"iss\":\"atcr-appview\",\"sub\":\"\",\"aud\":\"" SERVICE
			       "\",\"exp\":1700000300,\"access\":[{\"type\":\"repository\",\"name\":\"a\","
			       "\"actions\":[1]}]}");
	expect_refused(&cfg, bad, NOW, "action not a string");
	free(bad);
	bad = sign_claims(key, "{\"iss\":\"atcr-appview\",\"sub\":\"\",\"aud\":\"" SERVICE
			       "\",\"exp\":1700000300,\"access\":[{\"type\":\"repository\",\"name\":\"a b\","
			       "\"actions\":[\"pull\"]}]}");
	expect_refused(&cfg, bad, NOW, "bad name in access");
	free(bad);

	/* An RS256 token presented to an ES256 verifier. */
	rsa = crypto_key_generate(CRYPTO_RSA);
	{
		regtoken_config rcfg = {.key = rsa, .service = SERVICE, .issuer = "atcr-appview"};
		token = regtoken_issue(&rcfg, "did:plc:x", NULL, NOW, &err);
		expect_refused(&cfg, token, NOW, "RS256 token against the P-256 key");
		free(token);
	}
	{
		regtoken_config nokey = {.service = SERVICE};
		regtoken_config neg = {.key = key, .service = SERVICE, .expiry = -5};
		ok(regtoken_issue(&nokey, "", NULL, NOW, &err) == NULL && err, "issue without a key refused");
		ok(regtoken_issue(&neg, "", NULL, NOW, &err) == NULL && err, "negative expiry refused");
	}
	crypto_key_free(rsa);
	crypto_key_free(key);
	regtoken_access_list_free(&acc);
	free(err);
}

/* ---------------------------------------------------------------- HTTP pieces */

static void challenges(void)
{
	const char *realm = "https://registry.test/auth/token";
	char *c;

	c = regtoken_challenge(realm, SERVICE, NULL, NULL);
	is_str(c, "Bearer realm=\"https://registry.test/auth/token\",service=\"registry.test\"",
	       "challenge for /v2/");
	free(c);
	c = regtoken_challenge(realm, SERVICE, "repository:alice.test/app:pull,push", NULL);
	is_str(c,
	       "Bearer realm=\"https://registry.test/auth/token\",service=\"registry.test\","
	       "scope=\"repository:alice.test/app:pull,push\"",
	       "challenge with scope");
	free(c);
	c = regtoken_challenge(realm, SERVICE, "repository:alice.test/app:pull,push", "insufficient_scope");
	is_str(c,
	       "Bearer realm=\"https://registry.test/auth/token\",service=\"registry.test\","
	       "scope=\"repository:alice.test/app:pull,push\",error=\"insufficient_scope\"",
	       "challenge with insufficient_scope");
	free(c);
	c = regtoken_challenge("http://127.0.0.1:5000/auth/token", "a\"b\\c", NULL, NULL);
	is_str(c, "Bearer realm=\"http://127.0.0.1:5000/auth/token\",service=\"a\\\"b\\\\c\"",
	       "quotes and backslashes escaped");
	free(c);
	ok(regtoken_challenge("https://x/auth/token\r\nSet-Cookie: a=b", SERVICE, NULL, NULL) == NULL,
	   "CRLF in realm refused");
	ok(regtoken_challenge(realm, SERVICE, "x\ny", NULL) == NULL, "newline in scope refused");
	ok(regtoken_challenge(NULL, SERVICE, NULL, NULL) == NULL, "no realm refused");
}

static void response_json(void)
{
	char *j;
	json_object *o;

	j = regtoken_response_json("tok.en.sig", 300, 0, NULL);
	is_str(j, "{\"token\":\"tok.en.sig\",\"access_token\":\"tok.en.sig\",\"expires_in\":300,"
		  "\"issued_at\":\"1970-01-01T00:00:00Z\"}",
	       "token answer");
	free(j);
	j = regtoken_response_json("t", 60, NOW, "refresh-me");
	o = j ? json_tokener_parse(j) : NULL;
	is_str(jstr(o, "token"), "t", "token");
	is_str(jstr(o, "access_token"), "t", "access_token");
	is_int(jint(o, "expires_in"), 60, "expires_in");
	is_str(jstr(o, "issued_at"), "2023-11-14T22:13:20Z", "issued_at RFC 3339 UTC");
	is_str(jstr(o, "refresh_token"), "refresh-me", "refresh_token");
	json_object_put(o);
	free(j);
}

static void forms(void)
{
	regtoken_form f;
	char *err = NULL, *s;
	const char *body = "grant_type=password&username=alice.test&password=p%40ss+word%3A1"
			   "&service=registry.test&scope=repository%3Aalice.test%2Fapp%3Apull%2Cpush"
			   "&scope=repository%3Abob.test%2Fx%3Apull&client_id=containerd-client"
			   "&access_type=offline&unknown=ignored";

	ok(regtoken_form_parse(&f, body, strlen(body), &err) == 0, "containerd POST form parses");
	is_str(f.grant_type, "password", "grant_type");
	is_str(f.username, "alice.test", "username");
	is_str(f.password, "p@ss word:1", "password decoded ('+' is a space)");
	is_str(f.service, SERVICE, "service");
	is_str(f.client_id, "containerd-client", "client_id");
	is_str(f.access_type, "offline", "access_type");
	ok(f.refresh_token == NULL && f.account == NULL, "absent fields NULL");
	s = regtoken_scope_format(&f.scope);
	is_str(s, "repository:alice.test/app:pull,push repository:bob.test/x:pull", "both scopes");
	free(s);
	ok(regtoken_form_check_post(&f, &err) == 0, "password grant complete");
	regtoken_form_free(&f);

	body = "grant_type=refresh_token&refresh_token=abc.def&service=registry.test";
	ok(regtoken_form_parse(&f, body, strlen(body), &err) == 0 &&
	   regtoken_form_check_post(&f, &err) == 0, "refresh_token grant");
	is_str(f.refresh_token, "abc.def", "refresh_token");
	regtoken_form_free(&f);

	body = "account=alice.test&scope=repository%3Aa%3Apull&service=registry.test&offline_token=true";
	ok(regtoken_form_parse(&f, body, strlen(body), &err) == 0, "GET query parses");
	is_str(f.account, "alice.test", "account");
	is_str(f.offline_token, "true", "offline_token");
	ok(regtoken_allows(&f.scope, "repository", "a", REGTOKEN_PULL), "query scope");
	ok(regtoken_form_check_post(&f, &err) == -1, "no grant_type: not a POST form");
	regtoken_form_free(&f);

	body = "service=abc&junk=%zz";
	ok(regtoken_form_parse(&f, body, 11, &err) == 0, "only len bytes are read");
	is_str(f.service, "abc", "service within len");
	regtoken_form_free(&f);
	ok(regtoken_form_parse(&f, "", 0, &err) == 0 && f.service == NULL, "empty form");
	regtoken_form_free(&f);

	static const char *const bad_forms[] = {
		"username=a&username=b",
		"username=%zz",
		"password=%4",
		"username=a%00b",
		"scope=repository%3Aa",
		"scope=repository:a:pull&scope=bad",
	};
	for (size_t i = 0; i < sizeof bad_forms / sizeof bad_forms[0]; i++) {
		int rc = regtoken_form_parse(&f, bad_forms[i], strlen(bad_forms[i]), &err);
		ok(rc == -1 && f.username == NULL && f.scope.n == 0, "form '%s' refused (%s)", bad_forms[i],
		   rc ? err : "accepted");
	}
	ok(regtoken_form_parse(&f, "a=b\0c=d", 7, &err) == -1, "NUL byte in a form refused");

	static const char *const bad_posts[] = {
		"grant_type=client_credentials&username=a&password=b",
		"grant_type=password&username=a",
		"grant_type=password&password=b",
		"grant_type=password&username=&password=b",
		"grant_type=refresh_token",
		"grant_type=refresh_token&refresh_token=",
	};
	for (size_t i = 0; i < sizeof bad_posts / sizeof bad_posts[0]; i++) {
		int rc = regtoken_form_parse(&f, bad_posts[i], strlen(bad_posts[i]), &err);
		rc = rc == 0 ? regtoken_form_check_post(&f, &err) : 0;
		ok(rc == -1, "POST '%s' refused (%s)", bad_posts[i], rc ? err : "accepted");
		regtoken_form_free(&f);
	}
	free(err);
}

/* "Basic " + base64(cred) */
static char *basic(const char *cred, size_t len)
{
	char *b64 = enc_b64_encode(cred, len), *h = buf_strf("Basic %s", b64);
	free(b64);
	return h;
}

static void basic_auth(void)
{
	char *user = NULL, *pass = NULL, *err = NULL, *h;

	h = basic("alice.test:secret", 17);
	ok(regtoken_basic_parse(h, &user, &pass, &err) == 0, "Basic parses");
	is_str(user, "alice.test", "user");
	is_str(pass, "secret", "password");
	free(h);
	free(user);
	free(pass);

	h = basic("did:plc:abc:pa:ss:", 18);
	ok(regtoken_basic_parse(h, &user, &pass, &err) == 0, "DID user");
	is_str(user, "did:plc:abc", "a DID user keeps its own colons");
	is_str(pass, "pa:ss:", "the password keeps every later ':'");
	free(h);
	free(user);
	free(pass);

	h = basic("did:web:localhost%3A8080:pw", 27);
	ok(regtoken_basic_parse(h, &user, &pass, &err) == 0, "did:web user with a port");
	is_str(user, "did:web:localhost%3A8080", "did:web user");
	is_str(pass, "pw", "did:web password");
	free(h);
	free(user);
	free(pass);

	h = basic("alice:pa:ss", 11);
	h[0] = 'b';
	h[2] = 'S';
	ok(regtoken_basic_parse(h, &user, &pass, &err) == 0, "scheme is case-insensitive");
	is_str(pass, "pa:ss", "':' in the password");
	free(h);
	free(user);
	free(pass);

	h = basic("alice:", 6);
	ok(regtoken_basic_parse(h, &user, &pass, &err) == 0 && strcmp(pass, "") == 0,
	   "empty password parses (the caller refuses it)");
	free(h);
	free(user);
	free(pass);

	ok(regtoken_basic_parse("Basic   YWxpY2U6cHc=  ", &user, &pass, &err) == 0 &&
	   strcmp(user, "alice") == 0 && strcmp(pass, "pw") == 0, "extra spaces around the token");
	free(user);
	free(pass);

	static const char *const bad[] = {
		"Basic !!!notbase64",
		"Basic YWxpY2U6cHc=x",
		"Basic",
		"Basic ",
		"BasicYWxpY2U6cHc=",
		"Bearer YWxpY2U6cHc=",
		"Basic c2VjcmV0b25seQ==", /* "secretonly": no ':' */
		"Basic OnB3",             /* ":pw": empty user */
		"Basic YQBiOmM=",         /* "a\0b:c" */
		"Basic ZGlkOnBsYzphYmM=", /* "did:plc:abc": a DID and no password */
		"",
	};
	int echoed = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = regtoken_basic_parse(bad[i], &user, &pass, &err);
		ok(rc == -1 && user == NULL && pass == NULL && err, "Basic '%s' refused (%s)", bad[i],
		   err ? err : "no error");
		if (err && (strstr(err, "secret") || strstr(err, "YWxp")))
			echoed = 1;
	}
	ok(!echoed, "errors never echo credentials");
	ok(regtoken_basic_parse(NULL, &user, &pass, &err) == -1, "NULL header refused");
	free(err);
}

int main(void)
{
	scope_parsing();
	access_checks();
	round_trip(CRYPTO_P256, "ES256");
	round_trip(CRYPTO_RSA, "RS256");
	issue_details();
	challenges();
	response_json();
	forms();
	basic_auth();
	return tap_done();
}
