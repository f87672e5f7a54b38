/* oauth.h - the AppView as an ATProto OAuth client of each user's PDS: PKCE, DPoP proofs (RFC 9449), JWK
 * thumbprints, authorization server discovery, client metadata, PAR, token exchange, refresh, revocation. */
#ifndef ATCR_OAUTH_H
#define ATCR_OAUTH_H
#include <json-c/json.h>
#include <stddef.h>

#include "crypto.h"
#include "http.h"

#define OAUTH_SCOPE "atproto transition:generic"
/* Paths under the AppView's base URL; the routes serving them use the same constants. */
#define OAUTH_METADATA_PATH "/client-metadata.json"
#define OAUTH_JWKS_PATH "/auth/oauth/jwks.json"
#define OAUTH_CALLBACK_PATH "/auth/oauth/callback"

/* Return codes of the calls to the authorization server. */
#define OAUTH_OK 0
#define OAUTH_ERROR -1  /* transport failure, bad response, bad input */
#define OAUTH_DENIED -2 /* the server answered with an OAuth error (e.g. invalid_grant): *err starts with it */

/* ---- random values, PKCE */

/* base64url of nbytes (1..64) random bytes: `state` (16), DPoP and assertion `jti` (16). Caller frees;
 * NULL on failure. */
char *oauth_random_string(size_t nbytes);
/* A PKCE code verifier: 43 characters, base64url of 32 random bytes (RFC 7636). Caller frees. */
char *oauth_pkce_verifier(void);
/* The S256 challenge of a verifier: base64url(sha256(verifier)). NULL when the verifier is not 43..128
 * unreserved characters. Caller frees. */
char *oauth_pkce_challenge(const char *verifier);

/* ---- JWKs of P-256 keys */

/* The public JWK {"kty":"EC","crv":"P-256","x","y"} of a P-256 key (public or private); NULL for other keys.
 * Caller puts. */
json_object *oauth_jwk_public(const crypto_key *k);
/* The RFC 7638 thumbprint (base64url SHA-256 of the canonical JWK) of a P-256 key; used as `kid` and as
 * the `jkt` that binds access tokens to a DPoP key. Caller frees; NULL for other keys. */
char *oauth_jwk_thumbprint(const crypto_key *k);
/* A public P-256 key from a JWK object; NULL with *err set when it is anything else. */
crypto_key *oauth_jwk_to_key(const json_object *jwk, char **err);

/* ---- DPoP */

/* A DPoP proof for one request: header {typ "dpop+jwt", alg ES256, jwk}, claims {jti, htm, htu (url without
 * query and fragment), iat = now, nonce (when not NULL), ath (base64url sha256 of access_token, when not
 * NULL)}. key: private P-256. Caller frees; NULL with *err set. */
char *oauth_dpop_proof(const crypto_key *key, const char *htm, const char *url, const char *nonce,
		       const char *access_token, long long now, char **err);

/* Send req (body from memory only: it may be sent twice) with a DPoP proof, and with
 * "Authorization: DPoP <access_token>" when access_token is not NULL (resource requests). *nonce (may
 * point to NULL) is the server's last DPoP nonce: it is sent, replaced by any DPoP-Nonce the server
 * answers (caller frees it), and a "use_dpop_nonce" refusal (400 from an authorization server, 401 from a
 * resource server) is retried once with the new nonce. 0 when a response arrived (any status), -1 with
 * *err set; resp must be zeroed, and the caller always frees it. */
int oauth_dpop_do(const http_opts *o, const crypto_key *key, char **nonce, const char *access_token,
		  const http_request *req, http_response *resp, char **err);

/* ---- authorization server discovery */

typedef struct {
	char *issuer;
	char *par_endpoint;
	char *authorization_endpoint;
	char *token_endpoint;
	char *revocation_endpoint; /* NULL when the server has none */
} oauth_server;

/* authorization_servers[0] of a PDS's /.well-known/oauth-protected-resource document (an http(s) origin).
 * Caller frees; NULL with *err set. */
char *oauth_resource_parse(const char *json, size_t len, char **err);
/* Validate an /.well-known/oauth-authorization-server document fetched for issuer: the issuer is identical,
 * the PAR, authorization and token endpoints are http(s) URLs, PAR is required, "code" response type,
 * "S256" PKCE, "ES256" for DPoP, and the `iss` authorization response parameter are supported.
 * 0 and out filled (free with oauth_server_free), or -1 with *err naming the first failed check. */
int oauth_server_parse(const char *json, size_t len, const char *issuer, oauth_server *out, char **err);
/* Discovery from a PDS URL: its protected resource document, then its authorization server's metadata,
 * both fetched with o (the SSRF guard applies unless o->allow_private). Same contract as
 * oauth_server_parse. */
int oauth_discover(const http_opts *o, const char *pds_url, oauth_server *out, char **err);
void oauth_server_free(oauth_server *s);

/* ---- the client's identity */

typedef struct {
	char *base_url;     /* the AppView's base URL, no trailing slash */
	char *client_id;    /* <base>/client-metadata.json, or the loopback http://localhost?... id */
	char *redirect_uri; /* <base>/auth/oauth/callback (loopback: host 127.0.0.1) */
	char *scope;
	char *jwks_uri;     /* confidential clients only, else NULL */
	char *kid;          /* the signing key's thumbprint; confidential only */
	const crypto_key *key; /* the ES256 client key (not owned); NULL for the loopback public client */
} oauth_client;

/* The loopback (development) client id: http://localhost?redirect_uri=<enc>&scope=<enc>. Caller frees. */
char *oauth_loopback_client_id(const char *redirect_uri, const char *scope);
/* The client for base_url: when its host is localhost, 127.0.0.1 or [::1], the loopback public client
 * (key ignored); otherwise base_url must be https and key a private P-256 key, giving the confidential
 * client that authenticates with private_key_jwt. scope NULL = OAUTH_SCOPE. 0, or -1 with *err set. */
int oauth_client_init(oauth_client *c, const char *base_url, const char *scope, const crypto_key *key,
		      char **err);
void oauth_client_free(oauth_client *c);
/* The client metadata document served at client_id (confidential clients only). Caller frees; NULL with
 * *err set. */
char *oauth_client_metadata_json(const oauth_client *c, char **err);
/* The JWKS served at jwks_uri: {"keys":[{kty,crv,x,y,kid,use "sig",alg "ES256"}]}. Caller frees; NULL
 * when the key is not P-256. */
char *oauth_jwks_json(const crypto_key *key);
/* A private_key_jwt client assertion: iss = sub = client_id, aud = the issuer, jti, iat = now,
 * exp = now + 60; header kid. Caller frees; NULL with *err set (also for a public client). */
char *oauth_client_assertion(const oauth_client *c, const char *aud, long long now, char **err);

/* ---- the authorization code flow */

/* One login or session's conversation with its authorization server. nonce is the server's latest DPoP
 * nonce: malloc'd, updated by every call, kept with the session and freed by its owner. */
typedef struct {
	const http_opts *http;
	const oauth_client *client;
	const oauth_server *server;
	const crypto_key *dpop_key; /* the session's own private P-256 key (not the client key) */
	char *nonce;
} oauth_flow;

/* Pushed authorization request (response_type code, client_id, redirect_uri, scope, state, S256
 * code_challenge, login_hint when not NULL) with DPoP and the nonce retry. *request_uri: caller frees.
 * OAUTH_OK, OAUTH_DENIED (the server refused the request) or OAUTH_ERROR, with *err set. */
int oauth_par(oauth_flow *f, const char *state, const char *code_challenge, const char *login_hint,
	      char **request_uri, char **err);
/* Where to send the browser: authorization_endpoint?client_id=..&request_uri=... Caller frees. */
char *oauth_authorize_url(const oauth_flow *f, const char *request_uri);
/* Check the redirect's query string (without '?'): error -> OAUTH_DENIED with the error in *err; state must
 * equal want_state (constant time) and iss want_iss; then *code (caller frees) and OAUTH_OK. */
int oauth_callback_parse(const char *query, const char *want_state, const char *want_iss, char **code,
			 char **err);

typedef struct {
	char *access_token;
	char *refresh_token; /* NULL when none was issued */
	char *scope;
	char *sub;           /* the account's DID */
	long long expires_at; /* unix seconds; 0 when the server gave no expires_in */
} oauth_tokens;

/* Validate a token endpoint response: access_token, token_type "DPoP", sub a DID (equal to want_sub when
 * not NULL), scope containing "atproto"; expires_at = now + expires_in. 0, or -1 with *err set.
 * When want_sub is NULL the caller must still check that sub's PDS uses this authorization server. */
int oauth_token_parse(const char *json, size_t len, const char *want_sub, long long now, oauth_tokens *out,
		      char **err);
/* Exchange the authorization code (with the PKCE verifier); refresh with a refresh token (the new
 * refresh token replaces the old, which the server retires). Both use DPoP, the nonce retry and the
 * client assertion for confidential clients. OAUTH_OK with out filled (free with oauth_tokens_free),
 * OAUTH_DENIED (e.g. invalid_grant: the session is over) or OAUTH_ERROR, with *err set. */
int oauth_token_code(oauth_flow *f, const char *code, const char *verifier, const char *want_sub,
		     oauth_tokens *out, char **err);
int oauth_token_refresh(oauth_flow *f, const char *refresh_token, const char *want_sub, oauth_tokens *out,
			char **err);
/* 1 when tokens expiring at expires_at should be refreshed now (within margin seconds of expiry). */
int oauth_tokens_expiring(long long expires_at, long long now, long long margin);
void oauth_tokens_free(oauth_tokens *t);
/* Revoke a token at the revocation endpoint (RFC 7009; logout). OAUTH_OK, OAUTH_DENIED or OAUTH_ERROR. */
int oauth_revoke(oauth_flow *f, const char *token, char **err);

#endif
