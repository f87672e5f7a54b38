/* svcauth.c - service token verification (see svcauth.h). */
#include "svcauth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jwt.h"
#include "syntax.h"

int svcauth_aud_ok(const char *aud, const char *service_did)
{
	size_t n = strlen(service_did);
	return aud && strncmp(aud, service_did, n) == 0 && (aud[n] == '\0' || (aud[n] == '#' && aud[n + 1] != '\0'));
}

int svcauth_verify(const identity_ctx *ictx, const char *authorization, const char *service_did,
		   const char *method, long long now, char **caller_did, char **err)
{
	*caller_did = NULL;
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return buf_error(err, "a Bearer service token is required");
	const char *token = authorization + 7;
	while (*token == ' ')
		token++;
	jwt_t t = {0};
	identity id = {0};
	char *jerr = NULL;
	int rc = -1;
	if (jwt_decode(token, &t, &jerr) != 0) {
		buf_error(err, "malformed token: %s", jerr ? jerr : "?");
		goto out;
	}
	if (!t.alg || (strcmp(t.alg, "ES256K") != 0 && strcmp(t.alg, "ES256") != 0)) {
		buf_error(err, "token algorithm not allowed: %s", t.alg ? t.alg : "(none)");
		goto out;
	}
	const char *iss = jwt_claim_str(&t, "iss");
	/* iss may carry a service fragment ("did:plc:x#atproto_labeler"); the key is the DID's. */
	buf_t did = BUF_INIT;
	if (iss)
		buf_append(&did, iss, strcspn(iss, "#"));
	if (!iss || !syntax_did_ok(buf_str(&did))) {
		buf_free(&did);
		buf_error(err, "token iss is not a DID: %s", iss ? iss : "(none)");
		goto out;
	}
	if (!svcauth_aud_ok(jwt_claim_str(&t, "aud"), service_did)) {
		buf_free(&did);
		buf_error(err, "token audience is not this service: %s", jwt_claim_str(&t, "aud") ? jwt_claim_str(&t, "aud") : "(none)");
		goto out;
	}
	if (jwt_check_claims(&t, now, SVCAUTH_SKEW, NULL, method, &jerr) != 0) {
		buf_free(&did);
		buf_error(err, "token claims refused: %s", jerr ? jerr : "?");
		goto out;
	}
	if (jwt_claim_int(&t, "exp", 0) <= 0) {
		buf_free(&did);
		buf_error(err, "token has no exp");
		goto out;
	}
	for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
		identity_free(&id);
		free(jerr);
		jerr = NULL;
		if (identity_resolve(ictx, buf_str(&did), attempt, &id, &jerr) != 0) {
			buf_error(err, "cannot resolve the token issuer: %s", jerr ? jerr : "?");
			break;
		}
		if (jwt_verify(&t, id.key, &jerr) == 0) {
			*caller_did = strdup(id.did);
			rc = 0;
		} else if (attempt == 1) {
			buf_error(err, "bad token signature: %s", jerr ? jerr : "?");
		}
	}
	buf_free(&did);
out:
	free(jerr);
	jwt_free(&t);
	identity_free(&id);
	return rc;
}
