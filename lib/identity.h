/* identity.h - atproto identity: handle -> DID (resolver XRPC, DNS TXT, HTTPS well-known), DID -> document
 * (PLC directory, did:web), the PDS endpoint and signing key from it, the bidirectional handle check, and
 * a TTL cache in the index. Safe to call from many threads (each with its own sqlite handle or none). */
#ifndef ATCR_IDENTITY_H
#define ATCR_IDENTITY_H
#include <json-c/json.h>
#include <sqlite3.h>

#include "config.h"
#include "crypto.h"
#include "http.h"

typedef struct {
	const char *plc_url;             /* "https://plc.directory" */
	const char *handle_resolver_url; /* optional service for com.atproto.identity.resolveHandle; NULL/"" = none */
	int test_mode;                   /* allows http:// and loopback/private addresses */
	long cache_ttl;                  /* seconds a cached resolution stays fresh */
	long timeout_s;                  /* per HTTP request; 0 = http default */
	sqlite3 *db;                     /* the index (users table) for caching; NULL = no cache */
} identity_ctx;

typedef struct {
	char *did;
	char *handle;        /* the document's handle; "handle.invalid" when it does not resolve back */
	int handle_verified; /* 1 when handle -> DID gives this DID back */
	char *pds;           /* #atproto_pds service endpoint */
	char *signing_key;   /* #atproto key as a Multikey ("zQ3sh...", "zDn...") */
	const char *key_type; /* "K-256" or "P-256" (static string) */
	crypto_key *key;
	json_object *doc;    /* the DID document */
} identity;

/* The resolver settings every ATCR program shares (identity.plc_url, identity.handle_resolver_url,
 * identity.cache_ttl, server.test_mode, http.timeout); .db is left NULL. */
identity_ctx identity_ctx_from_config(const config *cfg);

/* The users table the cache lives in, for the owning program's migration list. */
extern const char identity_cache_schema_sql[];

/* Resolve a handle or DID into out (zeroed by the caller; free with identity_free). force = 1 bypasses
 * the cache. 0 ok, -1 with *err (caller frees). */
int identity_resolve(const identity_ctx *ctx, const char *handle_or_did, int force, identity *out, char **err);
/* Handle -> DID only (no document). Caller frees *did. */
int identity_resolve_handle(const identity_ctx *ctx, const char *handle, char **did, char **err);
/* DID -> document (caller puts). */
json_object *identity_fetch_doc(const identity_ctx *ctx, const char *did, char **err);
void identity_free(identity *id);

/* Pure parts, unit tested. */
/* Fill did, handle (unverified, NULL if none), pds, signing_key, key_type and key from a DID document;
 * -1 with *err when the id does not match did or the PDS or key is missing or malformed. */
int identity_parse_doc(const char *did, json_object *doc, identity *out, char **err);
/* The did.json URL of a did:web ("did:web:localhost%3A8080" -> "http[s]://localhost:8080/.well-known/did.json";
 * http only in test mode; paths after ':' map to "/a/b/did.json"). NULL with *err. */
char *identity_did_web_url(const char *did, int test_mode, char **err);
/* The DID in one _atproto TXT string ("did=did:plc:..."), or NULL. Caller frees. */
char *identity_dns_txt_did(const char *txt);

#endif
