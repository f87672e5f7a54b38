/* jwt.c - compact JWS tokens (ES256, ES256K, RS256) and the common claim checks. */
#include "jwt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "encoding.h"

/* The JWS "alg" matching a key, or NULL. */
static const char *alg_for_key(crypto_alg alg)
{
	switch (alg) {
	case CRYPTO_K256:
		return "ES256K";
	case CRYPTO_P256:
		return "ES256";
	case CRYPTO_RSA:
		return "RS256";
	default:
		return NULL;
	}
}

/* Decode one base64url segment holding a JSON object; NULL when it is anything else. */
static json_object *decode_json_segment(const char *s, size_t len)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	json_tokener *tok = NULL;
	json_object *obj = NULL;

	if (enc_b64url_decode(s, len, &raw, &rawlen) < 0 || rawlen == 0 || rawlen > 0x7fffffff)
		goto out;
	tok = json_tokener_new();
	if (!tok)
		goto out;
	obj = json_tokener_parse_ex(tok, (const char *)raw, (int)rawlen);
	/* the whole segment must be exactly one JSON object */
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != rawlen || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
	}
out:
	if (tok) /* json-c 0.16 does not accept NULL here */
		json_tokener_free(tok);
	free(raw);
	return obj;
}

int jwt_decode(const char *token, jwt_t *out, char **err)
{
	const char *dot1, *dot2;
	json_object *alg;

	memset(out, 0, sizeof *out);
	if (!token) {
		buf_error(err, "jwt: no token");
		return -1;
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot2 || strchr(dot2 + 1, '.')) {
		buf_error(err, "jwt: not a compact JWS (want three dot-separated parts)");
		return -1;
	}
	out->header = decode_json_segment(token, (size_t)(dot1 - token));
	if (!out->header) {
		buf_error(err, "jwt: header is not base64url JSON object");
		goto bad;
	}
	if (!json_object_object_get_ex(out->header, "alg", &alg) ||
	    !json_object_is_type(alg, json_type_string)) {
		buf_error(err, "jwt: header has no alg");
		goto bad;
	}
	out->claims = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!out->claims) {
		buf_error(err, "jwt: payload is not base64url JSON object");
		goto bad;
	}
	if (enc_b64url_decode(dot2 + 1, strlen(dot2 + 1), &out->sig, &out->siglen) < 0) {
		buf_error(err, "jwt: signature is not base64url");
		goto bad;
	}
	out->alg = strdup(json_object_get_string(alg));
	out->signing_input = strndup(token, (size_t)(dot2 - token));
	if (!out->alg || !out->signing_input) {
		buf_error(err, "jwt: out of memory");
		goto bad;
	}
	return 0;
bad:
	jwt_free(out);
	return -1;
}

int jwt_verify(const jwt_t *t, const crypto_key *k, char **err)
{
	const char *want;
	size_t inlen;
	int valid;

	if (!t || !t->alg || !t->signing_input || !k) {
		buf_error(err, "jwt: nothing to verify");
		return -1;
	}
	want = alg_for_key(crypto_key_alg(k));
	if (strcmp(t->alg, "ES256K") && strcmp(t->alg, "ES256") && strcmp(t->alg, "RS256")) {
		buf_error(err, "jwt: alg '%s' not accepted", t->alg);
		return -1;
	}
	if (!want || strcmp(t->alg, want) != 0) {
		buf_error(err, "jwt: alg '%s' does not match the key (%s)", t->alg, want ? want : "?");
		return -1;
	}
	inlen = strlen(t->signing_input);
	if (crypto_key_alg(k) == CRYPTO_RSA)
		valid = crypto_rsa_verify(k, t->signing_input, inlen, t->sig, t->siglen);
	else
		valid = crypto_ecdsa_verify(k, t->signing_input, inlen, t->sig, t->siglen);
	if (!valid) {
		buf_error(err, "jwt: bad signature");
		return -1;
	}
	return 0;
}

const char *jwt_claim_str(const jwt_t *t, const char *name)
{
	json_object *v;
	if (!t || !t->claims || !json_object_object_get_ex(t->claims, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* 1 and *val when the claim is a number. */
static int claim_num(const jwt_t *t, const char *name, long long *val)
{
	json_object *v;
	if (!t || !t->claims || !json_object_object_get_ex(t->claims, name, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*val = (long long)json_object_get_int64(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (d != d || d > 9.0e18 || d < -9.0e18)
			return 0;
		*val = (long long)d;
		return 1;
	}
	return 0;
}

long long jwt_claim_int(const jwt_t *t, const char *name, long long dflt)
{
	long long v;
	return claim_num(t, name, &v) ? v : dflt;
}

static int aud_matches(const jwt_t *t, const char *want)
{
	json_object *aud;
	size_t i, n;

	if (!json_object_object_get_ex(t->claims, "aud", &aud))
		return 0;
	if (json_object_is_type(aud, json_type_string))
		return strcmp(json_object_get_string(aud), want) == 0;
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(aud, i);
		if (json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), want) == 0)
			return 1;
	}
	return 0;
}

int jwt_check_claims(const jwt_t *t, long long now, int skew, const char *want_aud,
		     const char *want_lxm, char **err)
{
	long long exp, iat, nbf;
	const char *lxm;

	if (!t || !t->claims) {
		buf_error(err, "jwt: no claims");
		return -1;
	}
	if (!claim_num(t, "exp", &exp)) {
		buf_error(err, "jwt: exp missing");
		return -1;
	}
	if (now > exp + skew) {
		buf_error(err, "jwt: expired (exp)");
		return -1;
	}
	if (claim_num(t, "iat", &iat) && iat > now + skew) {
		buf_error(err, "jwt: issued in the future (iat)");
		return -1;
	}
	if (claim_num(t, "nbf", &nbf) && nbf > now + skew) {
		buf_error(err, "jwt: not valid yet (nbf)");
		return -1;
	}
	if (want_aud && !aud_matches(t, want_aud)) {
		buf_error(err, "jwt: wrong audience (aud)");
		return -1;
	}
	if (want_lxm && json_object_object_get_ex(t->claims, "lxm", NULL)) {
		lxm = jwt_claim_str(t, "lxm");
		if (!lxm || strcmp(lxm, want_lxm) != 0) {
			buf_error(err, "jwt: wrong method (lxm)");
			return -1;
		}
	}
	return 0;
}

/* base64url of a JSON object's compact serialisation; caller frees. json-c caches the text
 * inside the object it serialises, so serialise a private copy: the caller's object may be
 * shared between threads. */
static char *b64url_json(const json_object *obj)
{
	json_object *copy = NULL;
	const char *s;
	char *out = NULL;

	if (json_object_deep_copy((json_object *)obj, &copy, NULL) != 0)
		return NULL;
	s = json_object_to_json_string_ext(copy,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		out = enc_b64url_encode(s, strlen(s));
	json_object_put(copy);
	return out;
}

char *jwt_sign(const json_object *header_extra, const json_object *claims, const crypto_key *k,
	       char **err)
{
	const char *alg = k ? alg_for_key(crypto_key_alg(k)) : NULL;
	json_object *header = NULL;
	char *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL, *token = NULL;
	unsigned char ecsig[64], *rsasig = NULL;
	size_t rsalen = 0;

	if (!alg || !crypto_key_is_private(k)) {
		buf_error(err, "jwt: need a private K-256, P-256 or RSA key to sign");
		return NULL;
	}
	if (!claims || !json_object_is_type((json_object *)claims, json_type_object)) {
		buf_error(err, "jwt: claims must be a JSON object");
		return NULL;
	}
	header = json_object_new_object();
	if (!header)
		goto oom;
	json_object_object_add(header, "alg", json_object_new_string(alg));
	json_object_object_add(header, "typ", json_object_new_string("JWT"));
	if (header_extra && json_object_is_type((json_object *)header_extra, json_type_object)) {
		json_object_object_foreach((json_object *)header_extra, key, val)
		{
			if (strcmp(key, "alg") == 0)
				continue;
			json_object_object_add(header, key, json_object_get(val));
		}
	}
	h64 = b64url_json(header);
	c64 = b64url_json(claims);
	if (!h64 || !c64 || asprintf(&input, "%s.%s", h64, c64) < 0) {
		input = NULL;
		goto oom;
	}
	if (crypto_key_alg(k) == CRYPTO_RSA) {
		if (crypto_rsa_sign(k, input, strlen(input), &rsasig, &rsalen) < 0)
			goto signfail;
		s64 = enc_b64url_encode(rsasig, rsalen);
	} else {
		if (crypto_ecdsa_sign(k, input, strlen(input), ecsig) < 0)
			goto signfail;
		s64 = enc_b64url_encode(ecsig, sizeof ecsig);
	}
	if (!s64 || asprintf(&token, "%s.%s", input, s64) < 0) {
		token = NULL;
		goto oom;
	}
	goto out;
signfail:
	buf_error(err, "jwt: signing failed");
	goto out;
oom:
	buf_error(err, "jwt: out of memory");
out:
	json_object_put(header);
	free(h64);
	free(c64);
	free(input);
	free(s64);
	free(rsasig);
	return token;
}

void jwt_free(jwt_t *t)
{
	if (!t)
		return;
	json_object_put(t->header);
	json_object_put(t->claims);
	free(t->alg);
	free(t->signing_input);
	free(t->sig);
	memset(t, 0, sizeof *t);
}
