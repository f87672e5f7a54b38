/* jwt.h - compact JWS tokens (ES256, ES256K, RS256): decode, verify, sign; plus the common
 * claim checks (exp, iat, aud, lxm) used by service auth and registry tokens. */
#ifndef ATCR_JWT_H
#define ATCR_JWT_H
#include <json-c/json.h>
#include <stddef.h>
#include "crypto.h"

typedef struct {
	json_object *header; /* owned by the jwt_t */
	json_object *claims; /* owned */
	char *alg;           /* header "alg" */
	/* private: signing input and signature */
	char *signing_input; /* "header.payload" as received */
	unsigned char *sig;
	size_t siglen;
} jwt_t;

/* Parse only, no verification; 0 ok (free with jwt_free), -1 with *err set (t left empty). */
int jwt_decode(const char *token, jwt_t *out, char **err);
/* 0 ok: alg must match the key (ES256K<->K256, ES256<->P256, RS256<->RSA); "none" and any other
 * alg are refused; ECDSA signatures must be 64-byte r||s and low-S. -1 with *err set. */
int jwt_verify(const jwt_t *t, const crypto_key *k, char **err);
/* A string claim; NULL when absent or not a string. Valid while t lives. */
const char *jwt_claim_str(const jwt_t *t, const char *name);
/* An integer claim; dflt when absent or not a number. */
long long jwt_claim_int(const jwt_t *t, const char *name, long long dflt);
/* Sign claims with k: header = header_extra (may be NULL) plus alg and typ "JWT" from the key
 * (header_extra may override typ, never alg). Caller frees; NULL with *err set. */
char *jwt_sign(const json_object *header_extra, const json_object *claims, const crypto_key *k,
	       char **err);
/* Check exp (with skew seconds), optional iat not in the future beyond skew, aud equality
 * (if want_aud non-NULL), lxm equality (if want_lxm non-NULL and the token has lxm).
 * 0 ok, else -1 with *err naming the failed check. */
int jwt_check_claims(const jwt_t *t, long long now, int skew, const char *want_aud,
		     const char *want_lxm, char **err);
/* Release everything t owns and zero it; safe on a zeroed or already-freed jwt_t. */
void jwt_free(jwt_t *t);

#endif
