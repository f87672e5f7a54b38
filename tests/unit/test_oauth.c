/* test_oauth.c - lib/oauth: PKCE (RFC 7636 vector), JWK thumbprints (RFC 9449 vector and one made with
 * Python's cryptography), DPoP proofs checked with lib/jwt, discovery and token validation on fixtures,
 * client metadata, callbacks, and the PAR/token/revoke calls against an in-process authorization server
 * that demands and rotates DPoP nonces. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "encoding.h"
#include "jwt.h"
#include "oauth.h"
#include "tap.h"

/* ok() with the condition evaluated before the message arguments: messages print the *err that the
 * call in the condition sets. */
#define check(cond, ...)                                                                                               \
	do {                                                                                                           \
		int c_ = !!(cond);                                                                                     \
		tap_ok(c_, __VA_ARGS__);                                                                               \
	} while (0)

/* ---- fixtures */

/* RFC 9449 section 6.1: a public JWK and its thumbprint (the "jkt" of its example). */
#define RFC9449_X "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"
#define RFC9449_Y "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
#define RFC9449_JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
/* A fixed P-256 scalar (sha256("atcr oauth test key")); x, y and the thumbprint were computed once with
 * Python's cryptography + hashlib, not with this code. */
#define FIXED_D "5e337df7a0c80848a305b15f536a870b5c62c6df65d4ca216de9b05a85ea871c"
#define FIXED_X "v7oacY81OYCAZr98dKRVtGZmgw5CwRtavw_-ZrF9pAY"
#define FIXED_Y "geCKtvurO6WO8E1g59vtpAPe8RnhCgYOAmwcpAEfr9w"
#define FIXED_JKT "ZIdx0T2vrFPiLGJce5XtkMeWjYR-wu9iIdZkpUgRJok"

/* The reference PDS's (@atproto/oauth-provider 0.22) answers, trimmed to what matters. */
static const char *resource_doc =
	"{\"resource\":\"http://localhost:12783\",\"authorization_servers\":[\"http://localhost:12783\"],"
	"\"scopes_supported\":[],\"bearer_methods_supported\":[\"header\"]}";
static const char *server_doc_tmpl =
	"{\"issuer\":\"%s\",\"scopes_supported\":[\"atproto\",\"transition:generic\"],"
	"\"response_types_supported\":[\"code\"],\"response_modes_supported\":[\"query\",\"fragment\",\"form_post\"],"
	"\"grant_types_supported\":[\"authorization_code\",\"refresh_token\"],"
	"\"code_challenge_methods_supported\":[\"S256\"],\"authorization_response_iss_parameter_supported\":true,"
	"\"authorization_endpoint\":\"%s/oauth/authorize\",\"token_endpoint\":\"%s/oauth/token\","
	"\"token_endpoint_auth_methods_supported\":[\"none\",\"private_key_jwt\"],"
	"\"revocation_endpoint\":\"%s/oauth/revoke\",\"pushed_authorization_request_endpoint\":\"%s/oauth/par\","
	"\"require_pushed_authorization_requests\":true,"
	"\"dpop_signing_alg_values_supported\":[\"RS256\",\"ES256\",\"ES256K\"],"
	"\"client_id_metadata_document_supported\":true}";
#define DID "did:plc:2efzg6snlwqvw7tdyo75o7l5"
static const char *token_doc =
	"{\"access_token\":\"eyJ0eXAiOiJhdCtqd3QifQ.e30.sig\",\"token_type\":\"DPoP\",\"refresh_token\":\"ref-59d6\","
	"\"scope\":\"atproto transition:generic\",\"expires_in\":3599,\"sub\":\"" DID "\"}";

static const char *jstr_or_null(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static size_t no_body(void *dst, size_t n, void *ctx)
{
	(void)dst, (void)n, (void)ctx;
	return 0;
}

static char *server_doc(const char *issuer)
{
	return buf_strf(server_doc_tmpl, issuer, issuer, issuer, issuer, issuer);
}

/* The server document for issuer with one member replaced (value JSON text) or removed (value NULL). */
static char *server_doc_with(const char *issuer, const char *key, const char *value)
{
	char *doc = server_doc(issuer), *out;
	json_object *j = json_tokener_parse(doc);
	free(doc);
	json_object_object_del(j, key);
	if (value)
		json_object_object_add(j, key, json_tokener_parse(value));
	out = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return out;
}

static crypto_key *fixed_key(void)
{
	unsigned char *d = NULL;
	size_t dl = 0;
	crypto_key *k = NULL;
	if (enc_hex_decode(FIXED_D, strlen(FIXED_D), &d, &dl) == 0)
		k = crypto_key_from_private(CRYPTO_P256, d, dl);
	free(d);
	return k;
}

/* ---- an in-process authorization + resource server */

#define MAX_SEEN 32
typedef struct {
	char method[8], path[256], dpop[2048], auth[1024], body[8192];
} seen_request;

static struct {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t mu;
	seen_request seen[MAX_SEEN];
	int nseen;
	int nonce_serial; /* the current nonce is "nonce-<serial>" */
	char issuer[64];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void header_value(const char *head, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 3 + nl;
			v += strspn(v, " ");
			size_t n = strcspn(v, "\r\n");
			snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v);
			return;
		}
	}
}

/* The nonce claim of a DPoP proof, or "". */
static void proof_nonce(const char *proof, char *out, size_t size)
{
	jwt_t t = {0};
	out[0] = '\0';
	if (jwt_decode(proof, &t, NULL) == 0 && jwt_claim_str(&t, "nonce"))
		snprintf(out, size, "%s", jwt_claim_str(&t, "nonce"));
	jwt_free(&t);
}

/* Decide the answer to one request: status, extra header lines, body. Called with srv.mu held. */
static void answer(const seen_request *r, int *status, char *hdrs, size_t hsize, char *body, size_t bsize)
{
	char nonce[64], want[64];
	snprintf(want, sizeof want, "nonce-%d", srv.nonce_serial);
	proof_nonce(r->dpop, nonce, sizeof nonce);
	*status = 200;
	hdrs[0] = body[0] = '\0';
	if (strcmp(r->path, "/.well-known/oauth-protected-resource") == 0) {
		snprintf(body, bsize, "{\"authorization_servers\":[\"%s\"]}", srv.issuer);
		return;
	}
	if (strcmp(r->path, "/.well-known/oauth-authorization-server") == 0) {
		char *doc = server_doc(srv.issuer);
		snprintf(body, bsize, "%s", doc);
		free(doc);
		return;
	}
	if (strcmp(r->path, "/oauth/always-new-nonce") == 0) {
		srv.nonce_serial++;
		snprintf(hdrs, hsize, "DPoP-Nonce: nonce-%d\r\n", srv.nonce_serial);
		*status = 400;
		snprintf(body, bsize, "{\"error\":\"use_dpop_nonce\",\"error_description\":\"again\"}");
		return;
	}
	if (strcmp(r->path, "/oauth/broken") == 0) {
		*status = 500;
		snprintf(body, bsize, "oops");
		return;
	}
	int resource = strncmp(r->path, "/xrpc/", 6) == 0;
	if (!r->dpop[0] || strcmp(nonce, want) != 0) {
		snprintf(hdrs, hsize, "DPoP-Nonce: %s\r\n%s", want,
			 resource ? "WWW-Authenticate: DPoP error=\"use_dpop_nonce\"\r\n" : "");
		*status = resource ? 401 : 400;
		snprintf(body, bsize, "{\"error\":\"use_dpop_nonce\",\"error_description\":\"nonce required\"}");
		return;
	}
	/* Rotate the nonce on success, as servers do now and then. */
	srv.nonce_serial++;
	snprintf(hdrs, hsize, "DPoP-Nonce: nonce-%d\r\n", srv.nonce_serial);
	if (resource) {
		snprintf(body, bsize, "{\"did\":\"%s\"}", DID);
	} else if (strcmp(r->path, "/oauth/par") == 0) {
		*status = 201;
		snprintf(body, bsize,
			 "{\"request_uri\":\"urn:ietf:params:oauth:request_uri:req-1\",\"expires_in\":299}");
	} else if (strcmp(r->path, "/oauth/token") == 0) {
		if (strstr(r->body, "code=good") || strstr(r->body, "refresh_token=ref-59d6")) {
			snprintf(body, bsize, "%s", token_doc);
		} else {
			*status = 400;
			snprintf(body, bsize, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid code\"}");
		}
	} else if (strcmp(r->path, "/oauth/revoke") == 0) {
		body[0] = '\0';
	} else {
		*status = 404;
		snprintf(body, bsize, "{\"error\":\"not_found\"}");
	}
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			return NULL;
		static char req[32768];
		char hdrs[512], body[4096], head[1024], cl[32], target[512];
		size_t len = 0;
		ssize_t n;
		char *end = NULL;
		while (len < sizeof req - 1 && (n = read(c, req + len, sizeof req - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = '\0';
			if (!end && (end = strstr(req, "\r\n\r\n")) != NULL) {
				*end = '\0';
				header_value(req, "Content-Length", cl, sizeof cl);
				*end = '\r';
			}
			if (end && len >= (size_t)(end + 4 - req) + (size_t)atol(cl))
				break;
		}
		req[len] = '\0';
		seen_request r = {0};
		if (end) {
			*end = '\0';
			sscanf(req, "%7s %511s", r.method, target);
			snprintf(r.path, sizeof r.path, "%.*s", (int)strcspn(target, "?"), target);
			header_value(req, "DPoP", r.dpop, sizeof r.dpop);
			header_value(req, "Authorization", r.auth, sizeof r.auth);
			snprintf(r.body, sizeof r.body, "%s", end + 4);
		}
		int status;
		pthread_mutex_lock(&srv.mu);
		answer(&r, &status, hdrs, sizeof hdrs, body, sizeof body);
		if (srv.nseen < MAX_SEEN)
			srv.seen[srv.nseen++] = r;
		pthread_mutex_unlock(&srv.mu);
		int hl = snprintf(head, sizeof head,
				  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s"
				  "Connection: close\r\n\r\n",
				  status, strlen(body), hdrs);
		if (write(c, head, (size_t)hl) < 0 || write(c, body, strlen(body)) < 0)
			perror("test server write");
		close(c);
	}
}

static int server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv.fd, 16) != 0 ||
	    getsockname(srv.fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	snprintf(srv.issuer, sizeof srv.issuer, "http://127.0.0.1:%d", srv.port);
	return pthread_create(&srv.thread, NULL, serve, NULL);
}

static void server_stop(void)
{
	shutdown(srv.fd, SHUT_RDWR);
	close(srv.fd);
	pthread_join(srv.thread, NULL);
}

static int seen_count(void)
{
	pthread_mutex_lock(&srv.mu);
	int n = srv.nseen;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

static seen_request seen_at(int i)
{
	pthread_mutex_lock(&srv.mu);
	seen_request r = srv.seen[i];
	pthread_mutex_unlock(&srv.mu);
	return r;
}

/* ---- tests */

static void test_pkce(void)
{
	char *c = oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
	is_str(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "PKCE S256 challenge of RFC 7636 appendix B");
	free(c);
	char *v1 = oauth_pkce_verifier(), *v2 = oauth_pkce_verifier();
	check(v1 && strlen(v1) == 43 &&
		      strspn(v1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	      "a verifier is 43 base64url characters (%s)", v1 ? v1 : "NULL");
	check(v1 && v2 && strcmp(v1, v2) != 0, "two verifiers differ");
	c = oauth_pkce_challenge(v1);
	check(c && strlen(c) == 43, "a generated verifier has a challenge");
	free(c);
	free(v1);
	free(v2);
	check(oauth_pkce_challenge("short") == NULL, "a 5-character verifier is refused");
	check(oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+") == NULL,
	      "a verifier with '+' is refused");
	char longv[130];
	memset(longv, 'a', 129);
	longv[129] = '\0';
	check(oauth_pkce_challenge(longv) == NULL, "a 129-character verifier is refused");
	longv[128] = '\0';
	c = oauth_pkce_challenge(longv);
	check(c != NULL, "a 128-character verifier is accepted");
	free(c);

	char *s1 = oauth_random_string(16), *s2 = oauth_random_string(16);
	check(s1 && s2 && strlen(s1) == 22 && strcmp(s1, s2) != 0, "16-byte random strings: 22 characters, distinct");
	free(s1);
	free(s2);
	check(oauth_random_string(0) == NULL && oauth_random_string(65) == NULL,
	      "random string sizes outside 1..64 refused");
}

static void test_jwk(void)
{
	char *err = NULL;
	json_object *jwk = json_object_new_object();
	json_object_object_add(jwk, "kty", json_object_new_string("EC"));
	json_object_object_add(jwk, "crv", json_object_new_string("P-256"));
	json_object_object_add(jwk, "x", json_object_new_string(RFC9449_X));
	json_object_object_add(jwk, "y", json_object_new_string(RFC9449_Y));
	crypto_key *k = oauth_jwk_to_key(jwk, &err);
	check(k != NULL, "RFC 9449's JWK is a P-256 key (%s)", err ? err : "ok");
	char *t = oauth_jwk_thumbprint(k);
	is_str(t, RFC9449_JKT, "thumbprint of RFC 9449's key");
	free(t);
	json_object *back = oauth_jwk_public(k);
	is_str(jstr_or_null(back, "x"), RFC9449_X, "JWK export keeps x");
	is_str(jstr_or_null(back, "y"), RFC9449_Y, "JWK export keeps y");
	is_str(jstr_or_null(back, "kty"), "EC", "JWK export: kty EC");
	is_str(jstr_or_null(back, "crv"), "P-256", "JWK export: crv P-256");
	check(back && !json_object_object_get_ex(back, "d", NULL), "JWK export has no private part");
	json_object_put(back);
	crypto_key_free(k);

	k = fixed_key();
	back = oauth_jwk_public(k);
	is_str(jstr_or_null(back, "x"), FIXED_X, "x of the fixed private key (Python's answer)");
	is_str(jstr_or_null(back, "y"), FIXED_Y, "y of the fixed private key (Python's answer)");
	json_object_put(back);
	t = oauth_jwk_thumbprint(k);
	is_str(t, FIXED_JKT, "thumbprint of the fixed private key (Python's answer)");
	free(t);
	crypto_key_free(k);

	crypto_key *kk = crypto_key_generate(CRYPTO_K256);
	check(oauth_jwk_thumbprint(kk) == NULL && oauth_jwk_public(kk) == NULL, "no P-256 JWK for a K-256 key");
	crypto_key_free(kk);

	struct {
		const char *key, *value, *why;
	} bad[] = {
		{"kty", "\"RSA\"", "kty RSA"},
		{"crv", "\"P-384\"", "crv P-384"},
		{"x", "\"AAAA\"", "a short x"},
		{"y", "\"!!notb64\"", "y not base64url"},
		{"y", "\"" RFC9449_X "\"", "a point not on the curve"},
		{"d", "\"" RFC9449_X "\"", "a private JWK"},
		{"x", NULL, "no x"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_object *b = NULL;
		json_object_deep_copy(jwk, &b, NULL);
		json_object_object_del(b, bad[i].key);
		if (bad[i].value)
			json_object_object_add(b, bad[i].key, json_tokener_parse(bad[i].value));
		free(err);
		err = NULL;
		k = oauth_jwk_to_key(b, &err);
		check(k == NULL && err, "JWK with %s refused: %s", bad[i].why, err ? err : "(no message)");
		crypto_key_free(k);
		json_object_put(b);
	}
	free(err);
	json_object_put(jwk);
}

/* Decode a DPoP proof and verify it with the key in its own header; 0 ok. */
static int verify_embedded(const char *tok, jwt_t *t, char **err)
{
	json_object *jwk = NULL;
	if (jwt_decode(tok, t, err) != 0)
		return -1;
	json_object_object_get_ex(t->header, "jwk", &jwk);
	crypto_key *k = oauth_jwk_to_key(jwk, err);
	int rc = k && jwt_verify(t, k, err) == 0 ? 0 : -1;
	crypto_key_free(k);
	return rc;
}

static void test_dpop(void)
{
	char *err = NULL;
	crypto_key *k = fixed_key();
	jwt_t t = {0};
	char *p = oauth_dpop_proof(k, "POST", "https://pds.example/xrpc/com.atproto.repo.putRecord?x=1#frag", "n-1",
				   "abc", 1700000000, &err);
	check(p != NULL, "a DPoP proof is made (%s)", err ? err : "ok");
	check(verify_embedded(p, &t, &err) == 0, "the proof verifies with lib/jwt and its embedded JWK (%s)",
	      err ? err : "ok");
	is_str(jstr_or_null(t.header, "typ"), "dpop+jwt", "header typ dpop+jwt");
	is_str(t.alg, "ES256", "header alg ES256");
	json_object *jwk = NULL;
	json_object_object_get_ex(t.header, "jwk", &jwk);
	is_str(jstr_or_null(jwk, "x"), FIXED_X, "header jwk is the signing key's public JWK");
	check(jwk && !json_object_object_get_ex(jwk, "d", NULL), "header jwk has no private part");
	is_str(jwt_claim_str(&t, "htm"), "POST", "htm");
	is_str(jwt_claim_str(&t, "htu"), "https://pds.example/xrpc/com.atproto.repo.putRecord",
	       "htu has no query or fragment");
	is_int(jwt_claim_int(&t, "iat", 0), 1700000000, "iat is the given time");
	is_str(jwt_claim_str(&t, "nonce"), "n-1", "nonce");
	/* sha256("abc") from FIPS 180-2, in base64url. */
	is_str(jwt_claim_str(&t, "ath"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0", "ath = b64url(sha256(token))");
	char *jti1 = jwt_claim_str(&t, "jti") ? strdup(jwt_claim_str(&t, "jti")) : NULL;
	check(jti1 && strlen(jti1) >= 16, "jti present");
	crypto_key *other = crypto_key_generate(CRYPTO_P256);
	check(jwt_verify(&t, other, NULL) != 0, "the proof does not verify with another key");
	crypto_key_free(other);
	jwt_free(&t);
	free(p);

	p = oauth_dpop_proof(k, "GET", "http://localhost:2583/oauth/par", NULL, NULL, 1700000001, &err);
	check(p && verify_embedded(p, &t, &err) == 0, "a proof without nonce or token verifies");
	check(jwt_claim_str(&t, "nonce") == NULL && jwt_claim_str(&t, "ath") == NULL, "no nonce, no ath claims");
	check(jti1 && jwt_claim_str(&t, "jti") && strcmp(jti1, jwt_claim_str(&t, "jti")) != 0,
	      "each proof has its own jti");
	jwt_free(&t);
	free(p);
	free(jti1);

	crypto_key *pub = crypto_key_public_copy(k), *kk = crypto_key_generate(CRYPTO_K256);
	check(oauth_dpop_proof(pub, "GET", "https://a.example/", NULL, NULL, 1, &err) == NULL && err,
	      "a public key cannot make proofs: %s", err);
	check(oauth_dpop_proof(kk, "GET", "https://a.example/", NULL, NULL, 1, &err) == NULL, "a K-256 key is refused");
	check(oauth_dpop_proof(k, "GET", "ftp://a.example/", NULL, NULL, 1, &err) == NULL, "a non-http URL is refused");
	check(oauth_dpop_proof(k, "", "https://a.example/", NULL, NULL, 1, &err) == NULL, "an empty method is refused");
	crypto_key_free(pub);
	crypto_key_free(kk);
	crypto_key_free(k);
	free(err);
}

static void test_discovery_docs(void)
{
	char *err = NULL, *as = oauth_resource_parse(resource_doc, strlen(resource_doc), &err);
	is_str(as, "http://localhost:12783", "authorization server from the reference PDS's resource document");
	free(as);
	struct {
		const char *doc, *why;
	} bad[] = {
		{"{\"resource\":\"x\"}", "no authorization_servers"},
		{"{\"authorization_servers\":[]}", "an empty list"},
		{"{\"authorization_servers\":[\"https://as.example/path\"]}", "a URL with a path"},
		{"{\"authorization_servers\":[\"ftp://as.example\"]}", "an ftp URL"},
		{"{\"authorization_servers\":[7]}", "a number"},
		{"[\"https://as.example\"]", "an array document"},
		{"not json", "not JSON"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(err);
		err = NULL;
		as = oauth_resource_parse(bad[i].doc, strlen(bad[i].doc), &err);
		check(as == NULL && err, "resource document with %s refused: %s", bad[i].why,
		      err ? err : "(no message)");
		free(as);
	}

	const char *iss = "http://localhost:12783";
	char *doc = server_doc(iss);
	oauth_server s;
	check(oauth_server_parse(doc, strlen(doc), iss, &s, &err) == 0, "the reference server's metadata is accepted");
	is_str(s.issuer, iss, "issuer");
	is_str(s.par_endpoint, "http://localhost:12783/oauth/par", "PAR endpoint");
	is_str(s.authorization_endpoint, "http://localhost:12783/oauth/authorize", "authorization endpoint");
	is_str(s.token_endpoint, "http://localhost:12783/oauth/token", "token endpoint");
	is_str(s.revocation_endpoint, "http://localhost:12783/oauth/revoke", "revocation endpoint");
	oauth_server_free(&s);
	check(oauth_server_parse(doc, strlen(doc), "http://localhost:12784", &s, &err) != 0 && strstr(err, "issuer"),
	      "another issuer is refused: %s", err);
	free(doc);

	doc = server_doc_with(iss, "revocation_endpoint", NULL);
	check(oauth_server_parse(doc, strlen(doc), iss, &s, &err) == 0 && s.revocation_endpoint == NULL,
	      "a server without revocation is accepted");
	oauth_server_free(&s);
	free(doc);

	struct {
		const char *key, *value, *why;
	} mut[] = {
		{"pushed_authorization_request_endpoint", NULL, "no PAR endpoint"},
		{"authorization_endpoint", NULL, "no authorization endpoint"},
		{"token_endpoint", "\"/oauth/token\"", "a relative token endpoint"},
		{"revocation_endpoint", "\"javascript:x\"", "a bad revocation endpoint"},
		{"require_pushed_authorization_requests", "false", "PAR not required"},
		{"require_pushed_authorization_requests", NULL, "PAR requirement absent"},
		{"dpop_signing_alg_values_supported", "[\"RS256\",\"ES256K\"]", "no ES256 for DPoP"},
		{"dpop_signing_alg_values_supported", NULL, "no DPoP support"},
		{"code_challenge_methods_supported", "[\"plain\"]", "no S256"},
		{"response_types_supported", "[\"token\"]", "no code response type"},
		{"authorization_response_iss_parameter_supported", "false", "no iss parameter"},
		{"issuer", NULL, "no issuer"},
	};
	for (size_t i = 0; i < sizeof mut / sizeof mut[0]; i++) {
		doc = server_doc_with(iss, mut[i].key, mut[i].value);
		free(err);
		err = NULL;
		int rc = oauth_server_parse(doc, strlen(doc), iss, &s, &err);
		check(rc != 0 && err && s.issuer == NULL, "server metadata with %s refused: %s", mut[i].why,
		      err ? err : "(no message)");
		free(doc);
	}
	free(err);
}

static void test_client(void)
{
	char *err = NULL;
	oauth_client c;
	check(oauth_client_init(&c, "http://localhost:5000/", NULL, NULL, &err) == 0, "loopback client for localhost");
	/* The id the reference PDS itself printed in its access token for oauth-flow.mjs's client. */
	is_str(c.client_id,
	       "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fauth%2Foauth%2Fcallback&scope=atproto%20"
	       "transition%3Ageneric",
	       "loopback client_id encodes redirect_uri and scope");
	is_str(c.redirect_uri, "http://127.0.0.1:5000/auth/oauth/callback", "loopback redirect names 127.0.0.1");
	is_str(c.base_url, "http://localhost:5000", "trailing slash dropped");
	check(c.key == NULL && c.jwks_uri == NULL, "loopback client has no key and no JWKS");
	check(oauth_client_metadata_json(&c, &err) == NULL && err, "no metadata document for the loopback client");
	check(oauth_client_assertion(&c, "https://as.example", 1, &err) == NULL, "no client assertion for it either");
	oauth_client_free(&c);
	check(oauth_client_init(&c, "http://[::1]:8000", "atproto", NULL, &err) == 0, "loopback client for [::1]");
	is_str(c.redirect_uri, "http://[::1]:8000/auth/oauth/callback", "[::1] redirect");
	is_str(c.client_id,
	       "http://"
	       "localhost?redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%3A8000%2Fauth%2Foauth%2Fcallback&scope=atproto",
	       "[::1] client id with the given scope");
	oauth_client_free(&c);

	crypto_key *k = fixed_key(), *kk = crypto_key_generate(CRYPTO_K256), *pub = crypto_key_public_copy(k);
	check(oauth_client_init(&c, "https://localhost:5000", NULL, k, &err) != 0, "https loopback refused: %s", err);
	check(oauth_client_init(&c, "http://registry.example", NULL, k, &err) != 0, "plain http public URL refused: %s",
	      err);
	check(oauth_client_init(&c, "https://registry.example", NULL, NULL, &err) != 0, "a public URL needs a key: %s",
	      err);
	check(oauth_client_init(&c, "https://registry.example", NULL, kk, &err) != 0, "a K-256 key is refused");
	check(oauth_client_init(&c, "https://registry.example", NULL, pub, &err) != 0, "a public-only key is refused");
	check(oauth_client_init(&c, "registry.example", NULL, k, &err) != 0, "a URL without scheme is refused");
	check(oauth_client_init(&c, "https://registry.example?x=1", NULL, k, &err) != 0,
	      "a URL with a query is refused");

	check(oauth_client_init(&c, "https://registry.example/", NULL, k, &err) == 0, "confidential client (%s)",
	      err ? err : "ok");
	is_str(c.client_id, "https://registry.example/client-metadata.json", "confidential client_id");
	is_str(c.kid, FIXED_JKT, "kid is the key's thumbprint");
	char *meta = oauth_client_metadata_json(&c, &err);
	json_object *m = meta ? json_tokener_parse(meta) : NULL;
	check(m != NULL, "metadata document is JSON");
	is_str(jstr_or_null(m, "client_id"), "https://registry.example/client-metadata.json", "metadata client_id");
	is_str(jstr_or_null(m, "application_type"), "web", "application_type web");
	is_str(jstr_or_null(m, "scope"), "atproto transition:generic", "scope");
	is_str(jstr_or_null(m, "token_endpoint_auth_method"), "private_key_jwt", "private_key_jwt");
	is_str(jstr_or_null(m, "token_endpoint_auth_signing_alg"), "ES256", "ES256 assertions");
	is_str(jstr_or_null(m, "jwks_uri"), "https://registry.example/auth/oauth/jwks.json", "jwks_uri");
	json_object *v = NULL;
	check(m && json_object_object_get_ex(m, "dpop_bound_access_tokens", &v) && json_object_get_boolean(v),
	      "dpop_bound_access_tokens true");
	check(m && json_object_object_get_ex(m, "redirect_uris", &v) && json_object_array_length(v) == 1 &&
		      strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
			     "https://registry.example/auth/oauth/callback") == 0,
	      "redirect_uris");
	check(m && json_object_object_get_ex(m, "response_types", &v) && json_object_array_length(v) == 1 &&
		      strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "code") == 0,
	      "response_types [code]");
	check(m && json_object_object_get_ex(m, "grant_types", &v) && json_object_array_length(v) == 2,
	      "grant_types authorization_code and refresh_token");
	check(meta && !strstr(meta, "\\/"), "URLs are not slash-escaped");
	json_object_put(m);
	free(meta);

	char *jwks = oauth_jwks_json(k);
	json_object *doc = jwks ? json_tokener_parse(jwks) : NULL, *keys = NULL;
	check(doc && json_object_object_get_ex(doc, "keys", &keys) && json_object_array_length(keys) == 1,
	      "JWKS has one key");
	json_object *key0 = keys ? json_object_array_get_idx(keys, 0) : NULL;
	is_str(jstr_or_null(key0, "kid"), FIXED_JKT, "JWKS kid");
	is_str(jstr_or_null(key0, "alg"), "ES256", "JWKS alg");
	is_str(jstr_or_null(key0, "use"), "sig", "JWKS use");
	check(key0 && !json_object_object_get_ex(key0, "d", NULL), "JWKS holds no private part");

	char *a = oauth_client_assertion(&c, "https://bsky.social", 1700000000, &err);
	jwt_t t = {0};
	crypto_key *jk = oauth_jwk_to_key(key0, &err);
	check(a && jk && jwt_decode(a, &t, &err) == 0 && jwt_verify(&t, jk, &err) == 0,
	      "client assertion verifies with the published JWKS key (%s)", err ? err : "ok");
	is_str(jstr_or_null(t.header, "kid"), FIXED_JKT, "assertion header kid");
	is_str(t.alg, "ES256", "assertion alg");
	is_str(jwt_claim_str(&t, "iss"), c.client_id, "assertion iss = client_id");
	is_str(jwt_claim_str(&t, "sub"), c.client_id, "assertion sub = client_id");
	is_str(jwt_claim_str(&t, "aud"), "https://bsky.social", "assertion aud = issuer");
	is_int(jwt_claim_int(&t, "iat", 0), 1700000000, "assertion iat");
	is_int(jwt_claim_int(&t, "exp", 0), 1700000060, "assertion exp = iat + 60");
	check(jwt_claim_str(&t, "jti") != NULL, "assertion jti");
	jwt_free(&t);
	crypto_key_free(jk);
	free(a);
	json_object_put(doc);
	free(jwks);
	oauth_client_free(&c);
	check(oauth_jwks_json(kk) == NULL, "no JWKS for a K-256 key");
	crypto_key_free(k);
	crypto_key_free(kk);
	crypto_key_free(pub);
	free(err);
}

static void test_callback_and_tokens(void)
{
	char *err = NULL, *code = NULL;
	const char *iss = "http://localhost:12783";
	int rc = oauth_callback_parse("state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Flocalhost%3A12783&code=cod-2f6e",
				      "NmT0RC1aELJ0HVAkaXSFbA", iss, &code, &err);
	check(rc == OAUTH_OK, "the reference PDS's redirect is accepted (%s)", err ? err : "ok");
	is_str(code, "cod-2f6e", "code");
	free(code);
	struct {
		const char *q, *why;
		int want;
	} bad[] = {
		{"state=other&iss=http%3A%2F%2Flocalhost%3A12783&code=c", "another state", OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbB&iss=http%3A%2F%2Flocalhost%3A12783&code=c", "a state off by one",
		 OAUTH_ERROR},
		{"iss=http%3A%2F%2Flocalhost%3A12783&code=c", "no state", OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Fevil.example&code=c", "another iss", OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&code=c", "no iss", OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Flocalhost%3A12783", "no code", OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Flocalhost%3A12783&code=a&code=b", "two codes",
		 OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Flocalhost%3A12783&code=%zz", "a bad escape",
		 OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Flocalhost%3A12783&code=a%00b", "an encoded NUL",
		 OAUTH_ERROR},
		{"state=NmT0RC1aELJ0HVAkaXSFbA&iss=http%3A%2F%2Flocalhost%3A12783&error=access_denied&error_"
		 "description="
		 "Access+denied",
		 "an error", OAUTH_DENIED},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(err);
		err = NULL;
		rc = oauth_callback_parse(bad[i].q, "NmT0RC1aELJ0HVAkaXSFbA", iss, &code, &err);
		check(rc == bad[i].want && code == NULL && err, "callback with %s refused: %s", bad[i].why,
		      err ? err : "(no message)");
		free(code);
	}
	check(err && strncmp(err, "access_denied: Access denied (", 30) == 0,
	      "the error and its description are reported");

	oauth_tokens t;
	check(oauth_token_parse(token_doc, strlen(token_doc), DID, 1000, &t, &err) == 0, "the reference token answer");
	is_str(t.access_token, "eyJ0eXAiOiJhdCtqd3QifQ.e30.sig", "access_token");
	is_str(t.refresh_token, "ref-59d6", "refresh_token");
	is_str(t.sub, DID, "sub");
	is_str(t.scope, "atproto transition:generic", "scope");
	is_int(t.expires_at, 1000 + 3599, "expires_at = now + expires_in");
	check(!oauth_tokens_expiring(t.expires_at, 1000, 60), "fresh tokens need no refresh");
	check(oauth_tokens_expiring(t.expires_at, 1000 + 3599 - 60, 60), "tokens within the margin need a refresh");
	check(!oauth_tokens_expiring(0, 1000, 60), "tokens without expiry are not refreshed on a timer");
	oauth_tokens_free(&t);
	check(oauth_token_parse(token_doc, strlen(token_doc), NULL, 1000, &t, &err) == 0,
	      "sub unchecked when not expected");
	oauth_tokens_free(&t);

	struct {
		const char *key, *value, *why;
	} mut[] = {
		{"token_type", "\"Bearer\"", "token_type Bearer"},
		{"token_type", NULL, "no token_type"},
		{"access_token", NULL, "no access_token"},
		{"access_token", "\"\"", "an empty access_token"},
		{"sub", "\"did:plc:someoneelse\"", "another sub"},
		{"sub", "\"alice.test\"", "a sub that is not a DID"},
		{"scope", "\"transition:generic\"", "no atproto scope"},
		{"scope", "\"atprotox\"", "a scope that only starts with atproto"},
		{"expires_in", "-5", "a negative expires_in"},
		{"expires_in", "\"3599\"", "a string expires_in"},
	};
	json_object *base = json_tokener_parse(token_doc);
	for (size_t i = 0; i < sizeof mut / sizeof mut[0]; i++) {
		json_object *j = NULL;
		json_object_deep_copy(base, &j, NULL);
		json_object_object_del(j, mut[i].key);
		if (mut[i].value)
			json_object_object_add(j, mut[i].key, json_tokener_parse(mut[i].value));
		const char *s = json_object_to_json_string(j);
		free(err);
		err = NULL;
		rc = oauth_token_parse(s, strlen(s), DID, 1000, &t, &err);
		check(rc != 0 && err && t.access_token == NULL, "token answer with %s refused: %s", mut[i].why,
		      err ? err : "(no message)");
		json_object_put(j);
	}
	json_object *j = NULL;
	json_object_deep_copy(base, &j, NULL);
	json_object_object_del(j, "refresh_token");
	json_object_object_add(j, "token_type", json_object_new_string("dpop"));
	const char *s = json_object_to_json_string(j);
	check(oauth_token_parse(s, strlen(s), DID, 1000, &t, &err) == 0 && t.refresh_token == NULL,
	      "no refresh_token is fine; token_type is case-insensitive");
	oauth_tokens_free(&t);
	json_object_put(j);
	json_object_put(base);
	free(err);
}

static void test_flow_against_server(void)
{
	char *err = NULL;
	http_opts o = {.timeout_s = 10, .connect_timeout_s = 5, .max_response = 1 << 20, .allow_private = 1};
	oauth_server as;
	char pds[64];
	if (server_start() != 0) {
		check(0, "test server started");
		return;
	}
	snprintf(pds, sizeof pds, "http://127.0.0.1:%d/", srv.port);
	check(oauth_discover(&o, pds, &as, &err) == 0, "discovery through the resource document (%s)",
	      err ? err : "ok");
	is_str(as.issuer, srv.issuer, "discovered issuer");
	is_int(seen_count(), 2, "two metadata requests");
	http_opts strict = o;
	strict.allow_private = 0;
	oauth_server none;
	check(oauth_discover(&strict, pds, &none, &err) != 0, "outside test mode a loopback PDS is refused: %s", err);
	is_int(seen_count(), 2, "and nothing was sent");
	check(oauth_discover(&o, "not a url", &none, &err) != 0, "a malformed PDS URL is refused");

	oauth_client c;
	crypto_key *dpop = crypto_key_generate(CRYPTO_P256), *ck = fixed_key();
	oauth_client_init(&c, "http://127.0.0.1:5000", NULL, NULL, &err);
	oauth_flow f = {.http = &o, .client = &c, .server = &as, .dpop_key = dpop, .nonce = NULL};

	char *verifier = oauth_pkce_verifier(), *challenge = oauth_pkce_challenge(verifier);
	char *state = oauth_random_string(16), *request_uri = NULL;
	int before = seen_count();
	int rc = oauth_par(&f, state, challenge, "alice.test", &request_uri, &err);
	check(rc == OAUTH_OK, "PAR succeeds after the nonce retry (%s)", rc ? err : "ok");
	is_str(request_uri, "urn:ietf:params:oauth:request_uri:req-1", "request_uri");
	is_int(seen_count() - before, 2, "PAR took two requests: refused for the nonce, then accepted");
	is_str(f.nonce, "nonce-1", "the rotated nonce from the success is kept");
	seen_request r0 = seen_at(before), r1 = seen_at(before + 1);
	char n0[64], n1[64];
	proof_nonce(r0.dpop, n0, sizeof n0);
	proof_nonce(r1.dpop, n1, sizeof n1);
	check(r0.dpop[0] && n0[0] == '\0', "the first proof had no nonce");
	is_str(n1, "nonce-0", "the retry carried the server's nonce");
	jwt_t t = {0};
	check(verify_embedded(r1.dpop, &t, &err) == 0, "the PAR proof verifies");
	is_str(jwt_claim_str(&t, "htu"), as.par_endpoint, "PAR proof htu");
	is_str(jwt_claim_str(&t, "htm"), "POST", "PAR proof htm");
	jwt_free(&t);
	char *want_cc = buf_strf("code_challenge=%s&", challenge), *want_st = buf_strf("state=%s&", state);
	check(strstr(r1.body, "response_type=code&") && strstr(r1.body, want_cc) &&
		      strstr(r1.body, "code_challenge_method=S256") && strstr(r1.body, want_st) &&
		      strstr(r1.body, "login_hint=alice.test") &&
		      strstr(r1.body, "redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fauth%2Foauth%2Fcallback") &&
		      strstr(r1.body, "scope=atproto%20transition%3Ageneric") &&
		      strstr(r1.body, "client_id=http%3A%2F%2Flocalhost%3Fredirect_uri%3D") &&
		      !strstr(r1.body, "client_assertion"),
	      "PAR form: %s", r1.body);
	free(want_cc);
	free(want_st);
	char *url = oauth_authorize_url(&f, request_uri);
	char *want_url =
		buf_strf("%s/oauth/authorize?client_id=http%%3A%%2F%%2Flocalhost%%3Fredirect_uri%%3D"
			 "http%%253A%%252F%%252F127.0.0.1%%253A5000%%252Fauth%%252Foauth%%252Fcallback%%26scope%%3D"
			 "atproto%%2520transition%%253Ageneric&request_uri=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
			 "request_uri%%3Areq-1",
			 srv.issuer);
	is_str(url, want_url, "authorize URL");
	free(url);
	free(want_url);

	oauth_tokens tok;
	before = seen_count();
	rc = oauth_token_code(&f, "good", verifier, DID, &tok, &err);
	check(rc == OAUTH_OK, "code exchange (%s)", rc ? err : "ok");
	is_int(seen_count() - before, 1, "the kept nonce made the retry unnecessary");
	r0 = seen_at(before);
	char *want_v = buf_strf("code_verifier=%s", verifier);
	check(strstr(r0.body, "grant_type=authorization_code&code=good&") && strstr(r0.body, want_v), "token form: %s",
	      r0.body);
	free(want_v);
	is_str(tok.sub, DID, "token sub");
	oauth_tokens_free(&tok);
	rc = oauth_token_code(&f, "good", verifier, "did:plc:someoneelse", &tok, &err);
	check(rc == OAUTH_ERROR && strstr(err, "not did:plc:someoneelse"), "a token for someone else is refused: %s",
	      err);
	rc = oauth_token_code(&f, "stale", verifier, DID, &tok, &err);
	check(rc == OAUTH_DENIED && strncmp(err, "invalid_grant: Invalid code", 27) == 0, "invalid_grant is DENIED: %s",
	      err);
	rc = oauth_token_refresh(&f, "ref-59d6", DID, &tok, &err);
	check(rc == OAUTH_OK && tok.access_token, "refresh (%s)", rc ? err : "ok");
	r0 = seen_at(seen_count() - 1);
	check(strstr(r0.body, "grant_type=refresh_token&refresh_token=ref-59d6&client_id="), "refresh form: %s",
	      r0.body);

	/* A resource request: Authorization: DPoP, ath, and the 401 nonce challenge of a resource server. */
	free(f.nonce);
	f.nonce = NULL;
	char *rurl = buf_strf("%s/xrpc/com.atproto.server.getSession", srv.issuer);
	http_request req = {.url = rurl};
	http_response resp = {0};
	before = seen_count();
	rc = oauth_dpop_do(&o, dpop, &f.nonce, tok.access_token, &req, &resp, &err);
	check(rc == 0 && resp.status == 200, "resource request after a 401 nonce challenge (status %ld)", resp.status);
	is_int(seen_count() - before, 2, "one retry");
	r0 = seen_at(before + 1);
	char *want_auth = buf_strf("DPoP %s", tok.access_token);
	is_str(r0.auth, want_auth, "Authorization: DPoP <token>");
	free(want_auth);
	check(verify_embedded(r0.dpop, &t, &err) == 0 && jwt_claim_str(&t, "ath") &&
		      strcmp(jwt_claim_str(&t, "htm"), "GET") == 0,
	      "resource proof verifies, with ath and htm GET");
	jwt_free(&t);
	http_response_free(&resp);
	free(rurl);

	/* A server that wants a new nonce every time: one retry, then its refusal is returned. */
	oauth_server loop = as;
	loop.par_endpoint = buf_strf("%s/oauth/always-new-nonce", srv.issuer);
	oauth_flow lf = f;
	lf.server = &loop;
	before = seen_count();
	free(request_uri);
	rc = oauth_par(&lf, state, challenge, NULL, &request_uri, &err);
	check(rc == OAUTH_DENIED && strstr(err, "use_dpop_nonce"), "a second nonce demand is not retried: %s", err);
	is_int(seen_count() - before, 2, "exactly two requests");
	f.nonce = lf.nonce;
	free(loop.par_endpoint);
	loop.par_endpoint = buf_strf("%s/oauth/broken", srv.issuer);
	rc = oauth_par(&lf, state, challenge, NULL, &request_uri, &err);
	check(rc == OAUTH_ERROR && strstr(err, "500"), "a 500 is an error, not a denial: %s", err);
	f.nonce = lf.nonce;
	free(loop.par_endpoint);

	rc = oauth_revoke(&f, tok.refresh_token, &err);
	check(rc == OAUTH_OK, "revocation (%s)", rc ? err : "ok");
	r0 = seen_at(seen_count() - 1);
	check(strcmp(r0.path, "/oauth/revoke") == 0 && strncmp(r0.body, "token=ref-59d6&client_id=", 25) == 0,
	      "revocation form: %s", r0.body);
	oauth_server norev = as;
	norev.revocation_endpoint = NULL;
	lf = f;
	lf.server = &norev;
	check(oauth_revoke(&lf, "x", &err) == OAUTH_ERROR, "no revocation endpoint: %s", err);
	oauth_tokens_free(&tok);

	/* A confidential client adds its assertion, audience = the issuer. */
	oauth_client cc;
	oauth_client_init(&cc, "https://registry.example", NULL, ck, &err);
	oauth_flow cf = f;
	cf.client = &cc;
	rc = oauth_par(&cf, state, challenge, NULL, &request_uri, &err);
	check(rc == OAUTH_OK, "PAR as a confidential client (%s)", rc ? err : "ok");
	f.nonce = cf.nonce;
	r0 = seen_at(seen_count() - 1);
	const char *ca = strstr(r0.body, "client_assertion=");
	check(strstr(r0.body, "client_id=https%3A%2F%2Fregistry.example%2Fclient-metadata.json&") &&
		      strstr(r0.body, "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-"
				      "bearer") &&
		      ca,
	      "confidential PAR form carries the assertion");
	if (ca) {
		char assertion[2048];
		snprintf(assertion, sizeof assertion, "%.*s", (int)strcspn(ca + 17, "&"), ca + 17);
		crypto_key *pub = crypto_key_public_copy(ck);
		check(jwt_decode(assertion, &t, &err) == 0 && jwt_verify(&t, pub, &err) == 0 &&
			      strcmp(jwt_claim_str(&t, "aud"), srv.issuer) == 0,
		      "the assertion verifies and names the issuer");
		jwt_free(&t);
		crypto_key_free(pub);
	}
	oauth_client_free(&cc);
	free(request_uri);

	crypto_key *kk = crypto_key_generate(CRYPTO_K256);
	oauth_flow bad = f;
	bad.dpop_key = kk;
	check(oauth_par(&bad, state, challenge, NULL, &request_uri, &err) == OAUTH_ERROR && request_uri == NULL,
	      "a flow with a K-256 DPoP key is refused: %s", err);
	check(oauth_par(&f, "", challenge, NULL, &request_uri, &err) == OAUTH_ERROR, "PAR without state refused");
	check(oauth_token_code(&f, "good", NULL, DID, &tok, &err) == OAUTH_ERROR, "exchange without verifier refused");
	http_request streamed = {.url = "http://127.0.0.1:1/", .read_cb = no_body};
	check(oauth_dpop_do(&o, dpop, &f.nonce, NULL, &streamed, &resp, &err) != 0, "streamed bodies refused: %s", err);
	http_response_free(&resp);
	crypto_key_free(kk);

	free(f.nonce);
	free(request_uri);
	free(verifier);
	free(challenge);
	free(state);
	oauth_client_free(&c);
	oauth_server_free(&as);
	crypto_key_free(dpop);
	crypto_key_free(ck);
	free(err);
	http_thread_cleanup();
	server_stop();
}

int main(void)
{
	test_pkce();
	test_jwk();
	test_dpop();
	test_discovery_docs();
	test_client();
	test_callback_and_tokens();
	test_flow_against_server();
	return tap_done();
}
