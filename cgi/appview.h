/* appview.h - the atcr-appview program's shared context and the handlers its route table names.
 * Handlers live in one file per surface (registry.c, health.c, ...); appview.c only wires them. */
#ifndef ATCR_APPVIEW_H
#define ATCR_APPVIEW_H
#include "config.h"
#include "crypto.h"
#include "fcgi.h"
#include "identity.h"
#include "regtoken.h"

/* Read-only after startup; every request sees it as r->app. */
typedef struct {
	const config *cfg;
	const char *base_url;     /* server.base_url */
	const char *service_name; /* server.service_name, or the host of base_url */
	crypto_key *token_key;    /* signs registry tokens (auth.key_path) */
	regtoken_config tokens;
	identity_ctx ident;       /* template: .db is set per thread by appview_identity() */
	const char *db_path;
} appview;

/* This thread's connection to the index (NULL, logged, when it cannot be opened). */
sqlite3 *appview_db(const appview *av);
/* The identity resolver bound to this thread's connection. */
identity_ctx appview_identity(const appview *av);

/* cgi/auth.c: the Docker token endpoint, GET and POST /auth/token. */
int auth_token(fcgi_req *r);

/* cgi/registry.c: the OCI Distribution API under /v2/. */

/* GET /v2/ (and /v2): the API version check docker starts with. */
int registry_base(fcgi_req *r);
/* Everything below /v2/ (r->rest is the part after "/v2/"); parses <name>/<endpoint>/<ref>. */
int registry_v2(fcgi_req *r);
/* An OCI error body {"errors":[{"code","message","detail"}]} with the API version header.
 * detail_name, when not NULL, becomes {"name": ...}. */
int registry_send_error(fcgi_req *r, int status, const char *code, const char *message, const char *detail_name);
/* The layer's own errors (400/404/405/413/500) for /v2 paths, in OCI form. */
void registry_layer_error(fcgi_req *r, int status, const char *message);

/* cgi/health.c: GET /health, for load balancers and the test runner. */
int health_get(fcgi_req *r);

#endif
