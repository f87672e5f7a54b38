/* regtoken.h - Docker registry token auth: scopes, the registry JWT (issue and verify), the
 * WWW-Authenticate challenge, the token endpoint's request parsing and JSON answer, Basic auth. */
#ifndef ATCR_REGTOKEN_H
#define ATCR_REGTOKEN_H
#include <stddef.h>
#include "crypto.h"

#define REGTOKEN_DEFAULT_EXPIRY 300 /* seconds a registry token lives */
#define REGTOKEN_DEFAULT_SKEW 60    /* seconds of clock skew tolerated on exp/nbf/iat */

/* Actions of the Docker token spec as bits. REGTOKEN_ANY is the literal "*" (every action on a
 * repository; the only action of "registry:catalog:*"). Well-formed actions we do not know are
 * dropped when parsing: a token server grants a subset of what is asked. */
enum { REGTOKEN_PULL = 1, REGTOKEN_PUSH = 2, REGTOKEN_DELETE = 4, REGTOKEN_ANY = 8 };

/* One resource: "repository:alice.test/app:pull,push" is {"repository", "alice.test/app", PULL|PUSH}. */
typedef struct {
	char *type;       /* "repository", "registry", "repository(plugin)" */
	char *name;       /* "alice.test/app", "did:plc:xyz/app", "catalog" */
	unsigned actions; /* REGTOKEN_* bits */
} regtoken_access;

/* A set of resources; entries are unique by (type, name). Zero-initialise; free with
 * regtoken_access_list_free. */
typedef struct {
	regtoken_access *v;
	size_t n;
} regtoken_access_list;

/* Parse one scope parameter (one or more scopes separated by spaces) and merge it into l, so
 * repeated scope parameters accumulate. 0 ok; -1 with *err set for a malformed scope (l unchanged). */
int regtoken_scope_parse(regtoken_access_list *l, const char *scope, char **err);
/* Merge one resource into l (actions are OR-ed with an existing entry). type and name are
 * checked like a parsed scope's. 0 ok, -1 with *err set. */
int regtoken_access_add(regtoken_access_list *l, const char *type, const char *name,
			unsigned actions, char **err);
/* The actions of (type, name) in l; 0 when absent. */
unsigned regtoken_access_get(const regtoken_access_list *l, const char *type, const char *name);
/* 1 when l grants every action bit in want on (type, name) ("*" grants them all), else 0
 * (also for want == 0: asking for nothing is a caller bug, not a grant). */
int regtoken_allows(const regtoken_access_list *l, const char *type, const char *name,
		    unsigned want);
/* The scope string of l: "repository:a:pull,push registry:catalog:*" (space separated, actions
 * in the order pull, push, delete, *; entries without actions left out). Caller frees; NULL when
 * out of memory. */
char *regtoken_scope_format(const regtoken_access_list *l);
void regtoken_access_list_free(regtoken_access_list *l);

/* How tokens are issued and checked; the caller owns every pointer. */
typedef struct {
	const crypto_key *key; /* private for issuing (P-256: ES256, RSA: RS256); public suffices to verify */
	const char *service;   /* the service name: aud, and iss unless issuer is set */
	const char *issuer;    /* NULL: same as service */
	const char *kid;       /* optional JWT header "kid"; NULL for none */
	int expiry;            /* seconds; 0: REGTOKEN_DEFAULT_EXPIRY */
	int skew;              /* seconds; 0: REGTOKEN_DEFAULT_SKEW */
} regtoken_config;

/* A registry JWT for subject (a DID, or "" for anonymous) granting access (NULL: nothing), with
 * iss, sub, aud, exp = now + expiry, nbf, iat, a random jti and the Docker "access" claim.
 * Caller frees; NULL with *err set. */
char *regtoken_issue(const regtoken_config *cfg, const char *subject,
		     const regtoken_access_list *access, long long now, char **err);
/* Check a registry JWT: signature with cfg->key, iss, aud, exp/nbf/iat with skew, a well-formed
 * access claim. 0 ok: *subject (caller frees; "" for anonymous) and access (merged into, so pass
 * a zeroed list) are set when not NULL. -1 with *err set (nothing returned). */
int regtoken_verify(const regtoken_config *cfg, const char *token, long long now, char **subject,
		    regtoken_access_list *access, char **err);

/* The WWW-Authenticate value docker expects:
 *   Bearer realm="<realm>",service="<service>"[,scope="<scope>"][,error="<error>"]
 * realm is the token endpoint's URL ("<base>/auth/token"); scope and error may be NULL (error is
 * e.g. "insufficient_scope"). '"' and '\' are backslash-escaped. Caller frees; NULL when a value
 * holds a control character (header injection) or out of memory. */
char *regtoken_challenge(const char *realm, const char *service, const char *scope,
			 const char *error);

/* The token endpoint's JSON answer: {"token","access_token","expires_in","issued_at"} (docker
 * reads token, containerd access_token) and "refresh_token" when refresh_token is not NULL.
 * issued_at is RFC 3339 UTC. Caller frees; NULL when out of memory. */
char *regtoken_response_json(const char *token, int expires_in, long long issued_at,
			     const char *refresh_token);

/* A token request's parameters: the GET query (service, scope, account, offline_token, client_id)
 * or containerd's POST form (grant_type, username, password, refresh_token, service, scope,
 * client_id, access_type). Absent fields are NULL; every scope parameter is merged into scope. */
typedef struct {
	char *grant_type;
	char *username;
	char *password;
	char *refresh_token;
	char *service;
	char *client_id;
	char *access_type;
	char *account;
	char *offline_token;
	regtoken_access_list scope;
} regtoken_form;

/* Parse an application/x-www-form-urlencoded body or a query string (len bytes, '+' is a space).
 * A bad escape, a repeated single-valued field or a malformed scope is refused; unknown fields
 * are ignored. 0 ok (free with regtoken_form_free); -1 with *err set (f left empty). */
int regtoken_form_parse(regtoken_form *f, const char *body, size_t len, char **err);
/* The POST form's rules: grant_type "password" needs username and password, "refresh_token"
 * needs refresh_token; any other grant_type is refused. 0 ok, -1 with *err set. */
int regtoken_form_check_post(const regtoken_form *f, char **err);
void regtoken_form_free(regtoken_form *f);

/* Parse an Authorization header "Basic base64(user:pass)" (scheme case-insensitive; the password
 * may contain ':'). The user ends at the first ':', except that a user starting "did:" is a whole
 * atproto DID (did:method:id). 0 ok: *user and *pass malloc'd (caller frees). -1 with *err set
 * for another scheme, bad base64, no ':', an empty user or a NUL byte. */
int regtoken_basic_parse(const char *header, char **user, char **pass, char **err);

#endif
