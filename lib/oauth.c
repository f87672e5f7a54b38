/* oauth.c - ATProto OAuth client primitives over lib/jwt, lib/crypto and lib/http. */
#include "oauth.h"

#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "encoding.h"
#include "jwt.h"
#include "syntax.h"
#include "xrpc.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_LIFETIME 60
#define METADATA_MAX (256 * 1024)

/* ---- small helpers */

static const char *jstr(const json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex((json_object *)o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* 1 when the member is the JSON literal true. */
static int jtrue(const json_object *o, const char *key)
{
	json_object *v = NULL;
	return json_object_object_get_ex((json_object *)o, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/* 1 when the member is an array holding the string want. */
static int jarray_has(const json_object *o, const char *key, const char *want)
{
	json_object *a = NULL;
	if (!json_object_object_get_ex((json_object *)o, key, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *v = json_object_array_get_idx(a, i);
		if (json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), want) == 0)
			return 1;
	}
	return 0;
}

static json_object *parse_object(const char *json, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *j = NULL;
	if (!tok || !json || len > (size_t)0x7fffffff)
		goto out;
	j = json_tokener_parse_ex(tok, json, (int)len);
	if (j && (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(j, json_type_object))) {
		json_object_put(j);
		j = NULL;
	}
out:
	if (tok)
		json_tokener_free(tok);
	return j;
}

/* Compact JSON text of o without escaped slashes. Caller frees. */
static char *json_text(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return s ? strdup(s) : NULL;
}

/* Length of the "scheme://" prefix for http and https URLs, else 0. */
static size_t http_scheme_len(const char *url)
{
	if (!url)
		return 0;
	if (strncmp(url, "https://", 8) == 0)
		return 8;
	if (strncmp(url, "http://", 7) == 0)
		return 7;
	return 0;
}

/* 1 for an absolute http(s) URL with a host and no whitespace, control characters or fragment. */
static int is_http_url(const char *url)
{
	size_t n = http_scheme_len(url);
	if (!n || !url[n] || url[n] == '/' || url[n] == '?' || url[n] == ':')
		return 0;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '#')
			return 0;
	return 1;
}

/* 1 for an http(s) origin: scheme://host[:port] and nothing after it. */
static int is_origin(const char *url)
{
	return is_http_url(url) && strpbrk(url + http_scheme_len(url), "/?#") == NULL;
}

/* The host of an http(s) URL (brackets kept for IPv6) and where the rest (":port/path") starts. */
static int url_host(const char *url, const char **host, size_t *hostlen)
{
	size_t n = http_scheme_len(url);
	const char *h = url + n, *e;
	if (!n)
		return -1;
	if (*h == '[') {
		e = strchr(h, ']');
		if (!e)
			return -1;
		e++;
	} else {
		e = h + strcspn(h, ":/?#");
	}
	if (e == h)
		return -1;
	*host = h;
	*hostlen = (size_t)(e - h);
	return 0;
}

static void form_add(buf_t *b, const char *key, const char *value)
{
	char *v = xrpc_escape(value);
	buf_printf(b, "%s%s=%s", b->len ? "&" : "", key, v ? v : "");
	free(v);
}

/* Percent-decode a form/query value ('+' is a space). Caller frees; NULL on a bad escape. */
static char *form_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? enc_hex_digit((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < len ? enc_hex_digit((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { /* truncated, not hex, or a NUL */
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* ---- random values, PKCE */

char *oauth_random_string(size_t nbytes)
{
	unsigned char r[64];
	char *s = NULL;
	if (nbytes == 0 || nbytes > sizeof r || crypto_random(r, nbytes) != 0)
		return NULL;
	s = enc_b64url_encode(r, nbytes);
	memset(r, 0, sizeof r);
	return s;
}

char *oauth_pkce_verifier(void)
{
	return oauth_random_string(32);
}

char *oauth_pkce_challenge(const char *verifier)
{
	unsigned char h[32];
	size_t n = verifier ? strlen(verifier) : 0;
	if (n < 43 || n > 128 ||
	    strspn(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != n)
		return NULL;
	crypto_sha256(verifier, n, h);
	return enc_b64url_encode(h, sizeof h);
}

/* ---- JWKs */

/* The affine coordinates x||y of a P-256 key: crypto only exports the compressed point. */
static int p256_xy(const crypto_key *k, unsigned char xy[64])
{
	unsigned char comp[33], unc[65];
	EC_GROUP *g = NULL;
	EC_POINT *p = NULL;
	int rc = -1;
	if (!k || crypto_key_alg(k) != CRYPTO_P256 || crypto_key_public_compressed(k, comp) != 0)
		return -1;
	g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	p = g ? EC_POINT_new(g) : NULL;
	if (p && EC_POINT_oct2point(g, p, comp, sizeof comp, NULL) == 1 &&
	    EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, unc, sizeof unc, NULL) == sizeof unc) {
		memcpy(xy, unc + 1, 64);
		rc = 0;
	}
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return rc;
}

/* The base64url x and y of a P-256 key; 0 ok (caller frees both). */
static int p256_xy64(const crypto_key *k, char **x, char **y)
{
	unsigned char xy[64];
	*x = *y = NULL;
	if (p256_xy(k, xy) != 0)
		return -1;
	*x = enc_b64url_encode(xy, 32);
	*y = enc_b64url_encode(xy + 32, 32);
	if (!*x || !*y) {
		free(*x);
		free(*y);
		*x = *y = NULL;
		return -1;
	}
	return 0;
}

json_object *oauth_jwk_public(const crypto_key *k)
{
	char *x, *y;
	json_object *j;
	if (p256_xy64(k, &x, &y) != 0)
		return NULL;
	j = json_object_new_object();
	if (j) {
		json_object_object_add(j, "kty", json_object_new_string("EC"));
		json_object_object_add(j, "crv", json_object_new_string("P-256"));
		json_object_object_add(j, "x", json_object_new_string(x));
		json_object_object_add(j, "y", json_object_new_string(y));
	}
	free(x);
	free(y);
	return j;
}

char *oauth_jwk_thumbprint(const crypto_key *k)
{
	char *x, *y, *canon, *out = NULL;
	unsigned char h[32];
	if (p256_xy64(k, &x, &y) != 0)
		return NULL;
	/* RFC 7638: the required members only, in lexicographic order, no whitespace. */
	canon = buf_strf("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
	if (canon) {
		crypto_sha256(canon, strlen(canon), h);
		out = enc_b64url_encode(h, sizeof h);
	}
	free(canon);
	free(x);
	free(y);
	return out;
}

crypto_key *oauth_jwk_to_key(const json_object *jwk, char **err)
{
	const char *kty = jstr(jwk, "kty"), *crv = jstr(jwk, "crv"), *x = jstr(jwk, "x"), *y = jstr(jwk, "y");
	unsigned char *xb = NULL, *yb = NULL, point[65];
	size_t xl = 0, yl = 0;
	crypto_key *k = NULL;
	if (!jwk || !json_object_is_type((json_object *)jwk, json_type_object)) {
		buf_error(err, "oauth: JWK is not an object");
		return NULL;
	}
	if (!kty || strcmp(kty, "EC") != 0 || !crv || strcmp(crv, "P-256") != 0) {
		buf_error(err, "oauth: JWK is not an EC P-256 key");
		return NULL;
	}
	if (jstr(jwk, "d")) {
		buf_error(err, "oauth: JWK holds a private key");
		return NULL;
	}
	if (!x || !y || enc_b64url_decode(x, strlen(x), &xb, &xl) != 0 ||
	    enc_b64url_decode(y, strlen(y), &yb, &yl) != 0 || xl != 32 || yl != 32) {
		buf_error(err, "oauth: JWK x and y must be 32-byte base64url values");
		goto out;
	}
	point[0] = 0x04;
	memcpy(point + 1, xb, 32);
	memcpy(point + 33, yb, 32);
	k = crypto_key_from_public(CRYPTO_P256, point, sizeof point);
	if (!k)
		buf_error(err, "oauth: JWK point is not on P-256");
out:
	free(xb);
	free(yb);
	return k;
}

/* ---- DPoP */

static int is_p256_private(const crypto_key *k)
{
	return k && crypto_key_alg(k) == CRYPTO_P256 && crypto_key_is_private(k);
}

char *oauth_dpop_proof(const crypto_key *key, const char *htm, const char *url, const char *nonce,
		       const char *access_token, long long now, char **err)
{
	json_object *hdr = NULL, *claims = NULL, *jwk = NULL;
	char *jti = NULL, *htu = NULL, *ath = NULL, *tok = NULL;
	unsigned char h[32];

	if (!is_p256_private(key)) {
		buf_error(err, "oauth: a DPoP proof needs a private P-256 key");
		return NULL;
	}
	htu = url ? strndup(url, strcspn(url, "?#")) : NULL;
	if (!htm || !*htm || !url || (htu && !is_http_url(htu))) {
		buf_error(err, "oauth: a DPoP proof needs a method and an http(s) URL");
		free(htu);
		return NULL;
	}
	jti = oauth_random_string(16);
	jwk = oauth_jwk_public(key);
	if (access_token) {
		crypto_sha256(access_token, strlen(access_token), h);
		ath = enc_b64url_encode(h, sizeof h);
	}
	hdr = json_object_new_object();
	claims = json_object_new_object();
	if (!htu || !jti || !jwk || !hdr || !claims || (access_token && !ath)) {
		buf_error(err, "oauth: out of memory");
		goto out;
	}
	json_object_object_add(hdr, "typ", json_object_new_string("dpop+jwt"));
	json_object_object_add(hdr, "jwk", jwk);
	jwk = NULL;
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	json_object_object_add(claims, "htm", json_object_new_string(htm));
	json_object_object_add(claims, "htu", json_object_new_string(htu));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	if (nonce)
		json_object_object_add(claims, "nonce", json_object_new_string(nonce));
	if (ath)
		json_object_object_add(claims, "ath", json_object_new_string(ath));
	tok = jwt_sign(hdr, claims, key, err);
out:
	json_object_put(jwk);
	json_object_put(hdr);
	json_object_put(claims);
	free(jti);
	free(htu);
	free(ath);
	return tok;
}

/* 1 when the response refuses the request for want of a (fresh) DPoP nonce. */
static int asks_for_nonce(const http_response *r)
{
	if (r->status == 401) {
		const char *w = http_response_header(r, "WWW-Authenticate");
		return w && strstr(w, "use_dpop_nonce") != NULL;
	}
	if (r->status == 400) {
		json_object *j = parse_object(r->body.data, r->body.len);
		const char *e = jstr(j, "error");
		int yes = e && strcmp(e, "use_dpop_nonce") == 0;
		json_object_put(j);
		return yes;
	}
	return 0;
}

int oauth_dpop_do(const http_opts *o, const crypto_key *key, char **nonce, const char *access_token,
		  const http_request *req, http_response *resp, char **err)
{
	static const http_opts dflt = {0};
	const char **headers = NULL;
	char *dpop_h = NULL, *auth_h = NULL;
	size_t nh = 0;
	int rc = -1;
	const char *method = req->method ? req->method : (req->body ? "POST" : "GET");

	if (req->read_cb) {
		buf_error(err, "oauth: a DPoP request body must be in memory (it may be sent twice)");
		return -1;
	}
	while (req->headers && req->headers[nh])
		nh++;
	headers = calloc(nh + 3, sizeof *headers);
	if (!headers) {
		buf_error(err, "oauth: out of memory");
		return -1;
	}
	if (nh)
		memcpy(headers, req->headers, nh * sizeof *headers);
	if (access_token && !(auth_h = buf_strf("Authorization: DPoP %s", access_token))) {
		buf_error(err, "oauth: out of memory");
		goto out;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		char *proof = oauth_dpop_proof(key, method, req->url, *nonce, access_token, (long long)time(NULL), err);
		size_t i = nh;
		if (!proof)
			goto out;
		free(dpop_h);
		dpop_h = buf_strf("DPoP: %s", proof);
		free(proof);
		if (!dpop_h) {
			buf_error(err, "oauth: out of memory");
			goto out;
		}
		headers[i++] = dpop_h;
		if (auth_h)
			headers[i++] = auth_h;
		headers[i] = NULL;

		http_request r = *req;
		r.method = method;
		r.headers = headers;
		http_response_free(resp);
		if (http_do(o ? o : &dflt, &r, resp) != 0) {
			buf_error(err, "oauth: %s: %s", req->url, resp->error ? resp->error : "request failed");
			goto out;
		}
		const char *n = http_response_header(resp, "DPoP-Nonce");
		int fresh = 0;
		if (n && *n && (!*nonce || strcmp(*nonce, n) != 0)) {
			char *copy = strdup(n);
			if (copy) {
				free(*nonce);
				*nonce = copy;
				fresh = 1;
			}
		}
		if (!(attempt == 0 && fresh && asks_for_nonce(resp)))
			break;
	}
	rc = 0;
out:
	free(headers);
	free(dpop_h);
	free(auth_h);
	return rc;
}

/* ---- discovery */

char *oauth_resource_parse(const char *json, size_t len, char **err)
{
	json_object *j = parse_object(json, len), *a = NULL;
	char *as = NULL;
	if (!j) {
		buf_error(err, "oauth: protected resource metadata is not a JSON object");
		return NULL;
	}
	if (!json_object_object_get_ex(j, "authorization_servers", &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) == 0) {
		buf_error(err, "oauth: protected resource metadata names no authorization_servers");
		goto out;
	}
	json_object *first = json_object_array_get_idx(a, 0);
	if (!json_object_is_type(first, json_type_string) || !is_origin(json_object_get_string(first))) {
		buf_error(err, "oauth: authorization_servers[0] is not an http(s) origin");
		goto out;
	}
	as = strdup(json_object_get_string(first));
	if (!as)
		buf_error(err, "oauth: out of memory");
out:
	json_object_put(j);
	return as;
}

void oauth_server_free(oauth_server *s)
{
	if (!s)
		return;
	free(s->issuer);
	free(s->par_endpoint);
	free(s->authorization_endpoint);
	free(s->token_endpoint);
	free(s->revocation_endpoint);
	memset(s, 0, sizeof *s);
}

int oauth_server_parse(const char *json, size_t len, const char *issuer, oauth_server *out, char **err)
{
	json_object *j = parse_object(json, len);
	const char *iss, *par, *authz, *token, *revoke;
	int rc = -1;
	memset(out, 0, sizeof *out);
	if (!j) {
		buf_error(err, "oauth: authorization server metadata is not a JSON object");
		return -1;
	}
	iss = jstr(j, "issuer");
	par = jstr(j, "pushed_authorization_request_endpoint");
	authz = jstr(j, "authorization_endpoint");
	token = jstr(j, "token_endpoint");
	revoke = jstr(j, "revocation_endpoint");
	if (!iss || !issuer || strcmp(iss, issuer) != 0) {
		buf_error(err, "oauth: authorization server issuer '%s' is not '%s'", iss ? iss : "(none)",
			  issuer ? issuer : "(none)");
		goto out;
	}
	if (!is_http_url(par) || !is_http_url(authz) || !is_http_url(token)) {
		buf_error(err, "oauth: authorization server metadata lacks a valid %s",
			  !is_http_url(par)	? "pushed_authorization_request_endpoint"
			  : !is_http_url(authz) ? "authorization_endpoint"
						: "token_endpoint");
		goto out;
	}
	if (revoke && !is_http_url(revoke)) {
		buf_error(err, "oauth: authorization server revocation_endpoint is not an http(s) URL");
		goto out;
	}
	if (!jtrue(j, "require_pushed_authorization_requests")) {
		buf_error(err, "oauth: authorization server does not require pushed authorization requests");
		goto out;
	}
	if (!jarray_has(j, "dpop_signing_alg_values_supported", "ES256")) {
		buf_error(err, "oauth: authorization server does not accept ES256 DPoP proofs");
		goto out;
	}
	if (!jarray_has(j, "response_types_supported", "code")) {
		buf_error(err, "oauth: authorization server does not support response type code");
		goto out;
	}
	if (!jarray_has(j, "code_challenge_methods_supported", "S256")) {
		buf_error(err, "oauth: authorization server does not support S256 PKCE");
		goto out;
	}
	if (!jtrue(j, "authorization_response_iss_parameter_supported")) {
		buf_error(err, "oauth: authorization server does not send iss in its responses");
		goto out;
	}
	out->issuer = strdup(iss);
	out->par_endpoint = strdup(par);
	out->authorization_endpoint = strdup(authz);
	out->token_endpoint = strdup(token);
	out->revocation_endpoint = revoke ? strdup(revoke) : NULL;
	if (!out->issuer || !out->par_endpoint || !out->authorization_endpoint || !out->token_endpoint ||
	    (revoke && !out->revocation_endpoint)) {
		oauth_server_free(out);
		buf_error(err, "oauth: out of memory");
		goto out;
	}
	rc = 0;
out:
	json_object_put(j);
	return rc;
}

/* GET a JSON metadata document; 0 with the response (status 200), -1 with *err. */
static int fetch_metadata(const http_opts *o, const char *url, http_response *resp, char **err)
{
	http_opts opts = o ? *o : (http_opts){0};
	http_request req = {0};
	const char *headers[] = {"Accept: application/json", NULL};
	if (opts.max_response == 0 || opts.max_response > METADATA_MAX)
		opts.max_response = METADATA_MAX;
	req.url = url;
	req.headers = headers;
	if (http_do(&opts, &req, resp) != 0)
		return buf_error(err, "oauth: %s: %s", url, resp->error ? resp->error : "request failed");
	if (resp->status != 200)
		return buf_error(err, "oauth: %s: HTTP status %ld", url, resp->status);
	return 0;
}

int oauth_discover(const http_opts *o, const char *pds_url, oauth_server *out, char **err)
{
	http_response resp = {0};
	char *url = NULL, *as = NULL;
	size_t n;
	int rc = -1;
	memset(out, 0, sizeof *out);
	if (!is_http_url(pds_url) || strchr(pds_url, '?'))
		return buf_error(err, "oauth: PDS URL '%s' is not an http(s) URL", pds_url ? pds_url : "(null)");
	n = strlen(pds_url);
	while (n > 0 && pds_url[n - 1] == '/')
		n--;
	url = buf_strf("%.*s/.well-known/oauth-protected-resource", (int)n, pds_url);
	if (!url || fetch_metadata(o, url, &resp, err) != 0)
		goto out;
	as = oauth_resource_parse(resp.body.data, resp.body.len, err);
	if (!as)
		goto out;
	free(url);
	http_response_free(&resp);
	url = buf_strf("%s/.well-known/oauth-authorization-server", as);
	if (!url || fetch_metadata(o, url, &resp, err) != 0)
		goto out;
	rc = oauth_server_parse(resp.body.data, resp.body.len, as, out, err);
out:
	if (!url && rc != 0)
		buf_error(err, "oauth: out of memory");
	http_response_free(&resp);
	free(url);
	free(as);
	return rc;
}

/* ---- the client */

char *oauth_loopback_client_id(const char *redirect_uri, const char *scope)
{
	char *r = xrpc_escape(redirect_uri), *s = xrpc_escape(scope), *id = NULL;
	if (r && s)
		id = buf_strf("http://localhost?redirect_uri=%s&scope=%s", r, s);
	free(r);
	free(s);
	return id;
}

void oauth_client_free(oauth_client *c)
{
	if (!c)
		return;
	free(c->base_url);
	free(c->client_id);
	free(c->redirect_uri);
	free(c->scope);
	free(c->jwks_uri);
	free(c->kid);
	memset(c, 0, sizeof *c);
}

static int host_is(const char *host, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(host, name, len) == 0;
}

int oauth_client_init(oauth_client *c, const char *base_url, const char *scope, const crypto_key *key, char **err)
{
	const char *host;
	size_t hostlen, n;
	memset(c, 0, sizeof *c);
	if (!is_http_url(base_url) || strchr(base_url, '?') || url_host(base_url, &host, &hostlen) != 0)
		return buf_error(err, "oauth: base URL '%s' is not an http(s) URL", base_url ? base_url : "(null)");
	n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		n--;
	c->base_url = strndup(base_url, n);
	c->scope = strdup(scope ? scope : OAUTH_SCOPE);
	if (!c->base_url || !c->scope)
		goto oom;

	if (host_is(host, hostlen, "localhost") || host_is(host, hostlen, "127.0.0.1") ||
	    host_is(host, hostlen, "[::1]")) {
		/* The loopback public client: redirect URIs must name the IP, never "localhost". */
		const char *rest = host + hostlen, *ip = host_is(host, hostlen, "[::1]") ? "[::1]" : "127.0.0.1";
		if (strncmp(base_url, "http://", 7) != 0) {
			oauth_client_free(c);
			return buf_error(err, "oauth: a loopback base URL must use http");
		}
		c->redirect_uri = buf_strf("http://%s%.*s%s", ip, (int)(n - (size_t)(rest - base_url)), rest,
					   OAUTH_CALLBACK_PATH);
		c->client_id = c->redirect_uri ? oauth_loopback_client_id(c->redirect_uri, c->scope) : NULL;
		if (!c->redirect_uri || !c->client_id)
			goto oom;
		return 0;
	}
	if (strncmp(base_url, "https://", 8) != 0) {
		oauth_client_free(c);
		return buf_error(err, "oauth: a public base URL must use https");
	}
	if (!is_p256_private(key)) {
		oauth_client_free(c);
		return buf_error(err, "oauth: a confidential client needs a private P-256 key");
	}
	c->key = key;
	c->client_id = buf_strf("%s%s", c->base_url, OAUTH_METADATA_PATH);
	c->redirect_uri = buf_strf("%s%s", c->base_url, OAUTH_CALLBACK_PATH);
	c->jwks_uri = buf_strf("%s%s", c->base_url, OAUTH_JWKS_PATH);
	c->kid = oauth_jwk_thumbprint(key);
	if (!c->client_id || !c->redirect_uri || !c->jwks_uri || !c->kid)
		goto oom;
	return 0;
oom:
	oauth_client_free(c);
	return buf_error(err, "oauth: out of memory");
}

static json_object *string_array1(const char *s)
{
	json_object *a = json_object_new_array();
	if (a)
		json_object_array_add(a, json_object_new_string(s));
	return a;
}

char *oauth_client_metadata_json(const oauth_client *c, char **err)
{
	json_object *j, *grants;
	char *out;
	if (!c || !c->key || !c->jwks_uri) {
		buf_error(err, "oauth: only a confidential client has a metadata document");
		return NULL;
	}
	j = json_object_new_object();
	grants = json_object_new_array();
	if (!j || !grants) {
		json_object_put(j);
		json_object_put(grants);
		buf_error(err, "oauth: out of memory");
		return NULL;
	}
	json_object_array_add(grants, json_object_new_string("authorization_code"));
	json_object_array_add(grants, json_object_new_string("refresh_token"));
	json_object_object_add(j, "client_id", json_object_new_string(c->client_id));
	json_object_object_add(j, "client_name", json_object_new_string("ATCR"));
	json_object_object_add(j, "client_uri", json_object_new_string(c->base_url));
	json_object_object_add(j, "application_type", json_object_new_string("web"));
	json_object_object_add(j, "redirect_uris", string_array1(c->redirect_uri));
	json_object_object_add(j, "scope", json_object_new_string(c->scope));
	json_object_object_add(j, "grant_types", grants);
	json_object_object_add(j, "response_types", string_array1("code"));
	json_object_object_add(j, "token_endpoint_auth_method", json_object_new_string("private_key_jwt"));
	json_object_object_add(j, "token_endpoint_auth_signing_alg", json_object_new_string("ES256"));
	json_object_object_add(j, "jwks_uri", json_object_new_string(c->jwks_uri));
	json_object_object_add(j, "dpop_bound_access_tokens", json_object_new_boolean(1));
	out = json_text(j);
	json_object_put(j);
	if (!out)
		buf_error(err, "oauth: out of memory");
	return out;
}

char *oauth_jwks_json(const crypto_key *key)
{
	json_object *jwk = oauth_jwk_public(key), *keys = NULL, *doc = NULL;
	char *kid = oauth_jwk_thumbprint(key), *out = NULL;
	if (!jwk || !kid)
		goto out;
	json_object_object_add(jwk, "kid", json_object_new_string(kid));
	json_object_object_add(jwk, "use", json_object_new_string("sig"));
	json_object_object_add(jwk, "alg", json_object_new_string("ES256"));
	keys = json_object_new_array();
	doc = json_object_new_object();
	if (!keys || !doc)
		goto out;
	json_object_array_add(keys, jwk);
	jwk = NULL;
	json_object_object_add(doc, "keys", keys);
	keys = NULL;
	out = json_text(doc);
out:
	json_object_put(jwk);
	json_object_put(keys);
	json_object_put(doc);
	free(kid);
	return out;
}

char *oauth_client_assertion(const oauth_client *c, const char *aud, long long now, char **err)
{
	json_object *hdr = NULL, *claims = NULL;
	char *jti = NULL, *tok = NULL;
	if (!c || !c->key || !c->kid) {
		buf_error(err, "oauth: a public client has no client assertion");
		return NULL;
	}
	if (!aud || !*aud) {
		buf_error(err, "oauth: a client assertion needs the issuer as audience");
		return NULL;
	}
	jti = oauth_random_string(16);
	hdr = json_object_new_object();
	claims = json_object_new_object();
	if (!jti || !hdr || !claims) {
		buf_error(err, "oauth: out of memory");
		goto out;
	}
	json_object_object_add(hdr, "kid", json_object_new_string(c->kid));
	json_object_object_add(claims, "iss", json_object_new_string(c->client_id));
	json_object_object_add(claims, "sub", json_object_new_string(c->client_id));
	json_object_object_add(claims, "aud", json_object_new_string(aud));
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "exp", json_object_new_int64(now + ASSERTION_LIFETIME));
	tok = jwt_sign(hdr, claims, c->key, err);
out:
	json_object_put(hdr);
	json_object_put(claims);
	free(jti);
	return tok;
}

/* ---- the flow */

static int flow_ok(const oauth_flow *f, char **err)
{
	if (!f || !f->client || !f->client->client_id || !f->server || !f->server->issuer)
		return buf_error(err, "oauth: the flow needs a client and a server");
	if (!is_p256_private(f->dpop_key))
		return buf_error(err, "oauth: the flow needs a private P-256 DPoP key");
	return 0;
}

/* client_id, and for a confidential client its signed assertion. */
static int add_client_auth(const oauth_flow *f, buf_t *form, char **err)
{
	form_add(form, "client_id", f->client->client_id);
	if (f->client->key) {
		char *a = oauth_client_assertion(f->client, f->server->issuer, (long long)time(NULL), err);
		if (!a)
			return -1;
		form_add(form, "client_assertion_type", ASSERTION_TYPE);
		form_add(form, "client_assertion", a);
		free(a);
	}
	return 0;
}

/* POST a form to an endpoint of the authorization server with DPoP and client authentication.
 * OAUTH_OK with *out the JSON answer (caller puts; NULL allowed when out is NULL or the body is empty),
 * OAUTH_DENIED for an OAuth error answer, OAUTH_ERROR otherwise. */
static int as_post(oauth_flow *f, const char *what, const char *endpoint, buf_t *form, json_object **out, char **err)
{
	const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL};
	http_request req = {0};
	http_response resp = {0};
	json_object *j = NULL;
	int rc = OAUTH_ERROR;

	if (out)
		*out = NULL;
	if (!endpoint) {
		buf_error(err, "oauth: the authorization server has no %s endpoint", what);
		goto out;
	}
	if (add_client_auth(f, form, err) != 0)
		goto out;
	req.method = "POST";
	req.url = endpoint;
	req.headers = headers;
	req.body = buf_str(form);
	req.body_len = form->len;
	if (oauth_dpop_do(f->http, f->dpop_key, &f->nonce, NULL, &req, &resp, err) != 0)
		goto out;
	j = resp.body.len ? parse_object(resp.body.data, resp.body.len) : NULL;
	if (resp.status >= 200 && resp.status <= 299) {
		if (out && !j) {
			buf_error(err, "oauth: %s: the answer is not a JSON object", what);
			goto out;
		}
		if (out) {
			*out = j;
			j = NULL;
		}
		rc = OAUTH_OK;
	} else if (resp.status >= 400 && resp.status <= 499 && jstr(j, "error")) {
		const char *desc = jstr(j, "error_description");
		buf_error(err, "%s: %s (%s, HTTP %ld)", jstr(j, "error"), desc ? desc : "refused", what, resp.status);
		rc = OAUTH_DENIED;
	} else {
		buf_error(err, "oauth: %s: HTTP status %ld", what, resp.status);
	}
out:
	json_object_put(j);
	http_response_free(&resp);
	return rc;
}

int oauth_par(oauth_flow *f, const char *state, const char *code_challenge, const char *login_hint, char **request_uri,
	      char **err)
{
	buf_t form = BUF_INIT;
	json_object *j = NULL;
	int rc;
	*request_uri = NULL;
	if (flow_ok(f, err) != 0)
		return OAUTH_ERROR;
	if (!state || !*state || !code_challenge || !*code_challenge)
		return buf_error(err, "oauth: PAR needs a state and a code challenge");
	form_add(&form, "response_type", "code");
	form_add(&form, "redirect_uri", f->client->redirect_uri);
	form_add(&form, "scope", f->client->scope);
	form_add(&form, "state", state);
	form_add(&form, "code_challenge", code_challenge);
	form_add(&form, "code_challenge_method", "S256");
	if (login_hint)
		form_add(&form, "login_hint", login_hint);
	rc = as_post(f, "PAR", f->server->par_endpoint, &form, &j, err);
	if (rc == OAUTH_OK) {
		const char *uri = jstr(j, "request_uri");
		if (!uri || !*uri) {
			rc = buf_error(err, "oauth: PAR answer has no request_uri");
		} else if (!(*request_uri = strdup(uri))) {
			rc = buf_error(err, "oauth: out of memory");
		}
	}
	json_object_put(j);
	buf_free(&form);
	return rc;
}

char *oauth_authorize_url(const oauth_flow *f, const char *request_uri)
{
	char *id = xrpc_escape(f->client->client_id), *ru = xrpc_escape(request_uri), *url = NULL;
	const char *ep = f->server->authorization_endpoint;
	if (id && ru)
		url = buf_strf("%s%cclient_id=%s&request_uri=%s", ep, strchr(ep, '?') ? '&' : '?', id, ru);
	free(id);
	free(ru);
	return url;
}

int oauth_callback_parse(const char *query, const char *want_state, const char *want_iss, char **code, char **err)
{
	static const char *const names[] = {"code", "state", "iss", "error", "error_description"};
	char *v[5] = {NULL};
	int rc = OAUTH_ERROR;
	const char *p = query ? query : "";
	*code = NULL;
	while (*p) {
		size_t len = strcspn(p, "&"), klen = strcspn(p, "=");
		if (klen > len)
			klen = len;
		for (size_t i = 0; i < 5; i++) {
			if (strlen(names[i]) != klen || strncmp(p, names[i], klen) != 0)
				continue;
			if (v[i]) {
				buf_error(err, "oauth: callback repeats '%s'", names[i]);
				goto out;
			}
			v[i] = klen < len ? form_decode(p + klen + 1, len - klen - 1) : strdup("");
			if (!v[i]) {
				buf_error(err, "oauth: callback parameter '%s' is badly encoded", names[i]);
				goto out;
			}
		}
		p += len;
		if (*p == '&')
			p++;
	}
	if (v[3]) {
		buf_error(err, "%s: %s (authorization)", v[3], v[4] ? v[4] : "refused");
		rc = OAUTH_DENIED;
		goto out;
	}
	if (!v[1] || !want_state || strlen(v[1]) != strlen(want_state) ||
	    !crypto_memeq(v[1], want_state, strlen(want_state))) {
		buf_error(err, "oauth: callback state does not match the login");
		goto out;
	}
	if (want_iss && (!v[2] || strcmp(v[2], want_iss) != 0)) {
		buf_error(err, "oauth: callback iss '%s' is not '%s'", v[2] ? v[2] : "(none)", want_iss);
		goto out;
	}
	if (!v[0] || !*v[0]) {
		buf_error(err, "oauth: callback has no code");
		goto out;
	}
	*code = v[0];
	v[0] = NULL;
	rc = OAUTH_OK;
out:
	for (size_t i = 0; i < 5; i++)
		free(v[i]);
	return rc;
}

void oauth_tokens_free(oauth_tokens *t)
{
	if (!t)
		return;
	free(t->access_token);
	free(t->refresh_token);
	free(t->scope);
	free(t->sub);
	memset(t, 0, sizeof *t);
}

/* 1 when the space-separated list holds word. */
static int has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, " ");
		if (n == wl && strncmp(p, word, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

static int token_object(json_object *j, const char *want_sub, long long now, oauth_tokens *out, char **err)
{
	const char *at = jstr(j, "access_token"), *type = jstr(j, "token_type"), *sub = jstr(j, "sub");
	const char *scope = jstr(j, "scope"), *rt = jstr(j, "refresh_token");
	json_object *exp = NULL;
	long long expires_in = 0;
	memset(out, 0, sizeof *out);
	if (!at || !*at)
		return buf_error(err, "oauth: token answer has no access_token");
	if (!type || strcasecmp(type, "DPoP") != 0)
		return buf_error(err, "oauth: token_type is '%s', not DPoP", type ? type : "(none)");
	if (!sub || !syntax_did_ok(sub))
		return buf_error(err, "oauth: token answer's sub is not a DID");
	if (want_sub && strcmp(sub, want_sub) != 0)
		return buf_error(err, "oauth: token is for %s, not %s", sub, want_sub);
	if (!scope || !has_word(scope, "atproto"))
		return buf_error(err, "oauth: token scope '%s' lacks atproto", scope ? scope : "(none)");
	if (json_object_object_get_ex(j, "expires_in", &exp)) {
		if (!json_object_is_type(exp, json_type_int) || (expires_in = json_object_get_int64(exp)) <= 0)
			return buf_error(err, "oauth: token expires_in is not a positive integer");
	}
	out->access_token = strdup(at);
	out->refresh_token = rt ? strdup(rt) : NULL;
	out->scope = strdup(scope);
	out->sub = strdup(sub);
	out->expires_at = expires_in ? now + expires_in : 0;
	if (!out->access_token || !out->scope || !out->sub || (rt && !out->refresh_token)) {
		oauth_tokens_free(out);
		return buf_error(err, "oauth: out of memory");
	}
	return 0;
}

int oauth_token_parse(const char *json, size_t len, const char *want_sub, long long now, oauth_tokens *out, char **err)
{
	json_object *j = parse_object(json, len);
	int rc;
	if (!j) {
		memset(out, 0, sizeof *out);
		return buf_error(err, "oauth: token answer is not a JSON object");
	}
	rc = token_object(j, want_sub, now, out, err);
	json_object_put(j);
	return rc;
}

static int token_request(oauth_flow *f, buf_t *form, const char *want_sub, oauth_tokens *out, char **err)
{
	json_object *j = NULL;
	long long now = (long long)time(NULL);
	int rc = as_post(f, "token", f->server->token_endpoint, form, &j, err);
	if (rc == OAUTH_OK && token_object(j, want_sub, now, out, err) != 0)
		rc = OAUTH_ERROR;
	json_object_put(j);
	return rc;
}

int oauth_token_code(oauth_flow *f, const char *code, const char *verifier, const char *want_sub, oauth_tokens *out,
		     char **err)
{
	buf_t form = BUF_INIT;
	int rc;
	memset(out, 0, sizeof *out);
	if (flow_ok(f, err) != 0)
		return OAUTH_ERROR;
	if (!code || !*code || !verifier || !*verifier)
		return buf_error(err, "oauth: the token exchange needs a code and the PKCE verifier");
	form_add(&form, "grant_type", "authorization_code");
	form_add(&form, "code", code);
	form_add(&form, "redirect_uri", f->client->redirect_uri);
	form_add(&form, "code_verifier", verifier);
	rc = token_request(f, &form, want_sub, out, err);
	buf_free(&form);
	return rc;
}

int oauth_token_refresh(oauth_flow *f, const char *refresh_token, const char *want_sub, oauth_tokens *out, char **err)
{
	buf_t form = BUF_INIT;
	int rc;
	memset(out, 0, sizeof *out);
	if (flow_ok(f, err) != 0)
		return OAUTH_ERROR;
	if (!refresh_token || !*refresh_token)
		return buf_error(err, "oauth: no refresh token");
	form_add(&form, "grant_type", "refresh_token");
	form_add(&form, "refresh_token", refresh_token);
	rc = token_request(f, &form, want_sub, out, err);
	buf_free(&form);
	return rc;
}

int oauth_tokens_expiring(long long expires_at, long long now, long long margin)
{
	return expires_at > 0 && now + margin >= expires_at;
}

int oauth_revoke(oauth_flow *f, const char *token, char **err)
{
	buf_t form = BUF_INIT;
	int rc;
	if (flow_ok(f, err) != 0)
		return OAUTH_ERROR;
	if (!token || !*token)
		return buf_error(err, "oauth: no token to revoke");
	form_add(&form, "token", token);
	rc = as_post(f, "revocation", f->server->revocation_endpoint, &form, NULL, err);
	buf_free(&form);
	return rc;
}
