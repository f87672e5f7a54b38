/* svcauth.h - inter-service auth: verify an atproto service token (a JWT minted by the caller's PDS with
 * com.atproto.server.getServiceAuth) for this service's DID and the called method. */
#ifndef ATCR_SVCAUTH_H
#define ATCR_SVCAUTH_H
#include "identity.h"

#define SVCAUTH_SKEW 30 /* seconds of clock skew allowed on exp and iat */

/* Verify an "Authorization: Bearer <jwt>" value. Rules: alg ES256K or ES256 (never none/HS/RS), low-S
 * signature by the #atproto key of the iss DID (resolved through ictx; a failed check is retried once with
 * a fresh document in case the key rotated), aud equal to service_did (bare or with a #fragment), exp in
 * the future (with skew), lxm equal to method when the token has one. 0 with *caller_did (caller frees);
 * -1 with *err (caller frees) saying which check failed. */
int svcauth_verify(const identity_ctx *ictx, const char *authorization, const char *service_did,
		   const char *method, long long now, char **caller_did, char **err);
/* 1 when aud names service_did, bare or with a "#fragment" (pure; unit tested). */
int svcauth_aud_ok(const char *aud, const char *service_did);

#endif
