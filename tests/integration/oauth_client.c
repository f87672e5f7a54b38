/* oauth_client.c - lib/oauth against the real reference PDS: discovery, PAR with the DPoP nonce retry as the
 * loopback client, then a login without a browser (the provider's sign-in and consent API, as
 * /work/shared/peers/pds/oauth-flow.mjs drives it), the code exchange, a DPoP-bound PDS call, refresh and
 * revocation. Env: PDS_URL, HANDLE, DID, PASSWORD (the account password). TAP output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "jwt.h"
#include "oauth.h"
#include "tap.h"

#define check(cond, ...)                                                                                               \
	do {                                                                                                           \
		int c_ = !!(cond);                                                                                     \
		tap_ok(c_, __VA_ARGS__);                                                                               \
	} while (0)

/* The provider's cookies, "name=value; ..." for the Cookie header. */
typedef struct {
	buf_t jar;
	char csrf[256];
} browser;

static void take_cookies(browser *b, const http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *h = r->headers[i];
		if (strncasecmp(h, "Set-Cookie:", 11) != 0)
			continue;
		h += 11;
		h += strspn(h, " ");
		size_t n = strcspn(h, ";");
		if (strncmp(h, "csrf-token=", 11) == 0)
			snprintf(b->csrf, sizeof b->csrf, "%.*s", (int)(n - 11), h + 11);
		/* A later cookie of the same name wins on the server side; sending both is harmless here. */
		buf_printf(&b->jar, "%s%.*s", b->jar.len ? "; " : "", (int)n, h);
	}
}

/* One browser-like request; 0 when a response arrived. */
static int browse(const http_opts *o, browser *b, const char *method, const char *url, const char *const *extra,
		  const char *body, http_response *resp)
{
	const char *headers[16];
	char *cookie = buf_strf("Cookie: %s", buf_str(&b->jar));
	size_t n = 0;
	for (size_t i = 0; extra && extra[i] && n < 14; i++)
		headers[n++] = extra[i];
	if (b->jar.len)
		headers[n++] = cookie;
	headers[n] = NULL;
	http_request req = {
		.method = method, .url = url, .headers = headers, .body = body, .body_len = body ? strlen(body) : 0};
	int rc = http_do(o, &req, resp);
	if (rc == 0)
		take_cookies(b, resp);
	free(cookie);
	return rc;
}

static json_object *parse_body(const http_response *r)
{
	return r->body.data ? json_tokener_parse(r->body.data) : NULL;
}

static const char *jget(json_object *o, const char *k)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Sign in and consent through the provider's API; the redirect's query string (caller frees) or NULL. */
static char *sign_in(const http_opts *o, const char *issuer, const char *authorize_url, const char *handle,
		     const char *password)
{
	browser b = {BUF_INIT, ""};
	http_response r = {0};
	json_object *si = NULL, *acct = NULL, *co = NULL;
	char *query = NULL, *api = NULL, *body = NULL, *referer = NULL, *origin = NULL, *csrf = NULL, *bearer = NULL;

	const char *nav[] = {"Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "Sec-Fetch-Site: cross-site",
			     "Accept: text/html", NULL};
	if (browse(o, &b, "GET", authorize_url, nav, NULL, &r) != 0 || r.status != 200) {
		check(0, "the authorize page answers: HTTP %ld %s", r.status, r.error ? r.error : "");
		goto out;
	}
	check(b.csrf[0] != '\0', "the authorize page sets the provider's cookies (csrf-token)");
	http_response_free(&r);

	referer = buf_strf("Referer: %s", authorize_url);
	origin = buf_strf("Origin: %s", issuer);
	csrf = buf_strf("x-csrf-token: %s", b.csrf);
	api = buf_strf("%s/@atproto/oauth-provider/~api/sign-in", issuer);
	json_object *req = json_object_new_object();
	json_object_object_add(req, "locale", json_object_new_string("en"));
	json_object_object_add(req, "username", json_object_new_string(handle));
	json_object_object_add(req, "password", json_object_new_string(password));
	json_object_object_add(req, "remember", json_object_new_boolean(0));
	body = strdup(json_object_to_json_string(req));
	json_object_put(req);
	const char *apih[] = {"Content-Type: application/json", origin, referer, "Sec-Fetch-Mode: same-origin",
			      "Sec-Fetch-Site: same-origin",	csrf,	NULL};
	if (browse(o, &b, "POST", api, apih, body, &r) != 0 || r.status != 200 || !(si = parse_body(&r)) ||
	    !json_object_object_get_ex(si, "account", &acct) || !jget(si, "ephemeralToken")) {
		check(0, "sign-in: HTTP %ld %s", r.status, r.body.data ? r.body.data : "");
		goto out;
	}
	check(1, "signed in through the provider's API");
	http_response_free(&r);

	free(api);
	free(body);
	api = buf_strf("%s/@atproto/oauth-provider/~api/consent", issuer);
	body = buf_strf("{\"did\":\"%s\"}", jget(acct, "did") ? jget(acct, "did") : "");
	bearer = buf_strf("Authorization: Bearer %s", jget(si, "ephemeralToken"));
	const char *coh[] = {"Content-Type: application/json", origin, referer, "Sec-Fetch-Mode: same-origin",
			     "Sec-Fetch-Site: same-origin",    csrf,   bearer,	NULL};
	if (browse(o, &b, "POST", api, coh, body, &r) != 0 || r.status != 200 || !(co = parse_body(&r)) ||
	    !jget(co, "url")) {
		check(0, "consent: HTTP %ld %s", r.status, r.body.data ? r.body.data : "");
		goto out;
	}
	check(1, "consented through the provider's API");
	char *next = strdup(jget(co, "url"));
	http_response_free(&r);

	const char *rdh[] = {"Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "Sec-Fetch-Site: same-origin",
			     referer, NULL};
	int rc = browse(o, &b, "GET", next, rdh, NULL, &r);
	free(next);
	const char *loc = rc == 0 ? http_response_header(&r, "Location") : NULL;
	if (!loc || !strchr(loc, '?')) {
		check(0, "redirect: HTTP %ld, no Location with a query", r.status);
		goto out;
	}
	diag("redirected to %.*s...", (int)strcspn(loc, "?"), loc);
	query = strdup(strchr(loc, '?') + 1);
out:
	http_response_free(&r);
	json_object_put(si);
	json_object_put(co);
	buf_free(&b.jar);
	free(api);
	free(body);
	free(referer);
	free(origin);
	free(csrf);
	free(bearer);
	return query;
}

int main(void)
{
	const char *pds = tap_env("PDS_URL"), *handle = tap_env("HANDLE"), *did = tap_env("DID");
	const char *password = tap_env("PASSWORD");
	http_opts o = {.timeout_s = 30, .connect_timeout_s = 5, .max_response = 1 << 20, .allow_private = 1};
	char *err = NULL, *request_uri = NULL, *query = NULL, *code = NULL, *url = NULL;
	oauth_server as = {0};
	oauth_client c = {0};
	oauth_tokens tok = {0}, tok2 = {0}, tok3 = {0};
	jwt_t at = {0};
	crypto_key *dpop = crypto_key_generate(CRYPTO_P256);
	oauth_flow f = {.http = &o, .client = &c, .server = &as, .dpop_key = dpop, .nonce = NULL};
	char *verifier = oauth_pkce_verifier(), *challenge = oauth_pkce_challenge(verifier);
	char *state = oauth_random_string(16);
	int rc;

	/* Discovery: the reference PDS is its own authorization server. */
	rc = oauth_discover(&o, pds, &as, &err);
	check(rc == 0, "discovery from the PDS URL (%s)", rc ? err : "ok");
	if (rc != 0)
		goto out;
	is_str(as.issuer, pds, "the PDS is its own issuer");
	check(as.revocation_endpoint != NULL, "it has a revocation endpoint");
	http_opts strict = o;
	strict.allow_private = 0;
	oauth_server none;
	check(oauth_discover(&strict, pds, &none, &err) != 0, "outside test mode discovery refuses it: %s", err);

	check(oauth_client_init(&c, "http://localhost:5000", NULL, NULL, &err) == 0, "the loopback client");

	/* PAR: the reference PDS refuses the first proof (no nonce); lib/oauth retries with its nonce. */
	rc = oauth_par(&f, state, challenge, handle, &request_uri, &err);
	check(rc == OAUTH_OK, "PAR accepted (%s)", rc ? err : "ok");
	check(request_uri && strncmp(request_uri, "urn:ietf:params:oauth:request_uri:", 34) == 0, "request_uri %s",
	      request_uri ? request_uri : "(none)");
	check(f.nonce && *f.nonce, "the server's DPoP nonce is kept for the next call");
	char *saved_nonce = f.nonce ? strdup(f.nonce) : NULL;

	/* The same PAR with a stale nonce still works: the server sends a fresh one and the call retries. */
	free(f.nonce);
	f.nonce = strdup("stale-nonce");
	char *uri2 = NULL;
	rc = oauth_par(&f, state, challenge, handle, &uri2, &err);
	check(rc == OAUTH_OK && f.nonce && strcmp(f.nonce, "stale-nonce") != 0, "a stale nonce is replaced (%s)",
	      rc ? err : "ok");
	free(uri2);
	free(saved_nonce);

	/* A bogus code is refused as an OAuth error. */
	rc = oauth_token_code(&f, "cod-0000", verifier, did, &tok, &err);
	check(rc == OAUTH_DENIED, "a bogus code is DENIED: %s", rc ? err : "accepted!");

	if (!request_uri)
		goto out;
	url = oauth_authorize_url(&f, request_uri);
	query = sign_in(&o, as.issuer, url, handle, password);
	check(query != NULL, "the provider redirected to our callback");
	if (!query) {
		diag("login without a browser failed; the token exchange cannot be tested");
		goto out;
	}
	rc = oauth_callback_parse(query, "wrong-state-0000000000", as.issuer, &code, &err);
	check(rc == OAUTH_ERROR && code == NULL, "the callback with another state is refused: %s", err);
	rc = oauth_callback_parse(query, state, as.issuer, &code, &err);
	check(rc == OAUTH_OK && code, "the callback carries our state, the issuer and a code (%s)", rc ? err : "ok");
	if (!code)
		goto out;

	rc = oauth_token_code(&f, code, "wrong-verifier-wrong-verifier-wrong-verifier", did, &tok, &err);
	check(rc == OAUTH_DENIED, "a wrong PKCE verifier is DENIED: %s", rc ? err : "accepted!");
	/* A refused exchange may burn the code (RFC 6749 4.1.2): get a fresh one for the real exchange. */
	free(code);
	code = NULL;
	free(request_uri);
	free(query);
	free(url);
	request_uri = query = url = NULL;
	free(state);
	state = oauth_random_string(16);
	free(verifier);
	free(challenge);
	verifier = oauth_pkce_verifier();
	challenge = oauth_pkce_challenge(verifier);
	rc = oauth_par(&f, state, challenge, handle, &request_uri, &err);
	url = request_uri ? oauth_authorize_url(&f, request_uri) : NULL;
	query = url ? sign_in(&o, as.issuer, url, handle, password) : NULL;
	if (!query || oauth_callback_parse(query, state, as.issuer, &code, &err) != OAUTH_OK) {
		check(0, "a second login (%s)", err ? err : "no redirect");
		goto out;
	}

	long long now = (long long)time(NULL);
	rc = oauth_token_code(&f, code, verifier, did, &tok, &err);
	check(rc == OAUTH_OK, "code exchange with DPoP (%s)", rc ? err : "ok");
	if (rc != OAUTH_OK)
		goto out;
	is_str(tok.sub, did, "the token is for our account");
	check(tok.scope && strstr(tok.scope, "atproto"), "scope %s", tok.scope);
	check(tok.expires_at > now && !oauth_tokens_expiring(tok.expires_at, now, 60), "expires in %lld s",
	      tok.expires_at - now);
	check(tok.refresh_token != NULL, "a refresh token was issued");

	/* The access token is bound to our DPoP key: its cnf.jkt is our key's thumbprint. */
	json_object *cnf = NULL;
	char *jkt = oauth_jwk_thumbprint(dpop);
	check(jwt_decode(tok.access_token, &at, &err) == 0 && json_object_object_get_ex(at.claims, "cnf", &cnf) &&
		      jget(cnf, "jkt") && strcmp(jget(cnf, "jkt"), jkt) == 0,
	      "access token cnf.jkt = our thumbprint %s", jkt);
	free(jkt);
	jwt_free(&at);

	/* Use it on the PDS (a resource server with its own nonce and 401 challenge). */
	char *gs = buf_strf("%s/xrpc/com.atproto.server.getSession", pds), *rs_nonce = NULL;
	http_request req = {.url = gs};
	http_response resp = {0};
	rc = oauth_dpop_do(&o, dpop, &rs_nonce, tok.access_token, &req, &resp, &err);
	json_object *sess = rc == 0 ? parse_body(&resp) : NULL;
	check(rc == 0 && resp.status == 200 && jget(sess, "did") && strcmp(jget(sess, "did"), did) == 0,
	      "getSession with the DPoP-bound token (HTTP %ld)", resp.status);
	check(rs_nonce != NULL, "the PDS's own DPoP nonce is kept");
	json_object_put(sess);
	http_response_free(&resp);
	/* The same call with a Bearer header is refused: the token is DPoP-bound. */
	char *bearer = buf_strf("Authorization: Bearer %s", tok.access_token);
	const char *bh[] = {bearer, NULL};
	http_request breq = {.url = gs, .headers = bh};
	check(http_do(&o, &breq, &resp) == 0 && (resp.status == 401 || resp.status == 400),
	      "as a Bearer token it is refused (HTTP %ld)", resp.status);
	http_response_free(&resp);
	free(bearer);
	free(rs_nonce);
	free(gs);

	/* Refresh: new tokens, same account; then revoke (logout) and the refresh token is dead. */
	rc = oauth_token_refresh(&f, tok.refresh_token, did, &tok2, &err);
	check(rc == OAUTH_OK, "refresh with DPoP (%s)", rc ? err : "ok");
	check(rc == OAUTH_OK && strcmp(tok2.access_token, tok.access_token) != 0 && tok2.refresh_token &&
		      strcmp(tok2.refresh_token, tok.refresh_token) != 0,
	      "refresh gives a new access token and a new refresh token");
	if (rc == OAUTH_OK) {
		rc = oauth_revoke(&f, tok2.refresh_token, &err);
		check(rc == OAUTH_OK, "revocation (%s)", rc ? err : "ok");
		rc = oauth_token_refresh(&f, tok2.refresh_token, did, &tok3, &err);
		check(rc == OAUTH_DENIED, "a revoked refresh token is DENIED: %s", rc ? err : "accepted!");
	}
	/* Last: the provider answers a replayed code by revoking what the code gave (RFC 6749 4.1.2). */
	oauth_tokens_free(&tok3);
	rc = oauth_token_code(&f, code, verifier, did, &tok3, &err);
	check(rc == OAUTH_DENIED, "the code cannot be used twice: %s", rc ? err : "accepted!");
out:
	oauth_tokens_free(&tok);
	oauth_tokens_free(&tok2);
	oauth_tokens_free(&tok3);
	free(f.nonce);
	free(request_uri);
	free(query);
	free(code);
	free(url);
	free(state);
	free(verifier);
	free(challenge);
	crypto_key_free(dpop);
	oauth_client_free(&c);
	oauth_server_free(&as);
	free(err);
	http_thread_cleanup();
	return tap_done();
}
