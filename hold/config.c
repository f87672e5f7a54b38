/* config.c - every option of atcr-hold (YAML keys; environment HOLD_ + upper-cased key). */
#include "hold.h"

const cfg_option hold_options[] = {
	{"server.public_url", CFG_STRING, "http://localhost:8080",
	 "Public URL of this hold. Its did:web is derived from it (did:web:localhost%3A8080 for the\n"
	 "default; the reference PDS only accepts ports on localhost). A did:plc hold publishes it\n"
	 "in its PLC document (and updates the document when it changes)."},
	{"server.listen", CFG_STRING, "127.0.0.1:9080",
	 "FastCGI socket the web server connects to: \"host:port\" or a unix socket path;\n"
	 "empty = the socket on fd 0 (spawn-fcgi)."},
	{"server.threads", CFG_INT, "8", "Request threads."},
	{"server.test_mode", CFG_BOOL, "false",
	 "Allow plain http and loopback/private addresses when resolving identities. Never in production."},
	{"log.level", CFG_STRING, "info", "debug, info, warn or error."},
	{"log.format", CFG_STRING, "text", "text or json (one object per line)."},
	{"log.file", CFG_STRING, "", "Log file; empty = stderr. SIGHUP reopens it."},
	{"database.path", CFG_STRING, "/var/lib/atcr-hold/hold.db",
	 "SQLite file with the hold's records (captain, crew, layers, stats) and caches."},
	{"hold.owner", CFG_STRING, "",
	 "DID of the hold's owner (the captain). Required: written into the captain record and made\n"
	 "the first crew member on first start."},
	{"hold.public", CFG_BOOL, "false", "Anyone may read (pull) blobs without a token."},
	{"hold.allow_all_crew", CFG_BOOL, "false",
	 "Any authenticated user may join the crew (blob:read, blob:write) through io.atcr.hold.requestCrew."},
	{"hold.region", CFG_STRING, "", "Optional region shown in the captain record."},
	{"hold.key_path", CFG_STRING, "/var/lib/atcr-hold/signing.key",
	 "The hold's K-256 signing key (PEM, created mode 0600 on first start)."},
	{"hold.did_method", CFG_STRING, "web",
	 "The hold's identity: web (did:web from server.public_url, its document served at\n"
	 "/.well-known/did.json) or plc (a did:plc registered with hold.plc_url on first start and kept\n"
	 "in the database; each `serve` compares the PLC document with server.public_url and the\n"
	 "signing key and posts an update when they differ, e.g. after moving the hold). Changing it\n"
	 "gives the hold another DID: users whose profile names the old one must choose the hold again."},
	{"hold.plc_url", CFG_STRING, "https://plc.directory",
	 "did:plc: the PLC directory the hold registers with and updates (identity.plc_url is the one\n"
	 "it resolves its callers' DIDs with; usually the same)."},
	{"hold.rotation_key_path", CFG_STRING, "/var/lib/atcr-hold/rotation.key",
	 "did:plc: the K-256 rotation key (PEM, created mode 0600 on first start) that signs the\n"
	 "hold's PLC operations; whoever has it controls the DID. Another file than hold.key_path;\n"
	 "keep a copy offline: without it the DID can no longer be updated."},
	{"storage.driver", CFG_STRING, "filesystem", "Blob storage driver: filesystem."},
	{"storage.root", CFG_STRING, "/var/lib/atcr-hold/blobs",
	 "Filesystem driver: root directory. The web server's X-Sendfile docroot must include it."},
	{"storage.max_part_size", CFG_INT, "5368709120", "Largest accepted upload part, in bytes."},
	{"storage.upload_expiry", CFG_INT, "86400", "Seconds after which an abandoned upload is removed."},
	{"quota.tiers_file", CFG_STRING, "",
	 "Storage quotas: a YAML file of tiers; empty = no quotas (everyone unlimited). Format:\n"
	 "  tiers:                  # in rank order: updateCrewTier's tierRank 0 is the first\n"
	 "    - name: deckhand      # 1-32 letters, digits, '-', '_', '.'\n"
	 "      limit: 5GB          # bytes, or with KB/MB/GB/TB/PB (powers of 1024: 5GB = 5 GiB), or unlimited\n"
	 "    - name: bosun\n"
	 "      limit: 50GB\n"
	 "    - name: quartermaster\n"
	 "      limit: unlimited\n"
	 "  defaults:\n"
	 "    new_crew_tier: deckhand   # for crew whose record names no tier, or one not in this file\n"
	 "A member's tier is the crew record's `tier` (atcr-hold crew tier DID NAME, or updateCrewTier).\n"
	 "The captain is never limited. Read at start-up: restart the hold after editing it."},
	{"gc.grace_seconds", CFG_INT, "86400",
	 "Garbage collection (atcr-hold gc, daily from cron) keeps a blob nothing names when it was stored\n"
	 "or asked for (getBlob) less than this many seconds ago: a push in progress has uploaded blobs\n"
	 "whose manifest is not written yet."},
	{"identity.plc_url", CFG_STRING, "https://plc.directory", "PLC directory for did:plc documents."},
	{"identity.handle_resolver_url", CFG_STRING, "",
	 "Optional service answering com.atproto.identity.resolveHandle (e.g. a PDS on a local network),\n"
	 "tried before DNS and HTTPS."},
	{"identity.cache_ttl", CFG_INT, "3600", "Seconds a resolved identity (DID document, key) is cached."},
	{"http.timeout", CFG_INT, "10", "Seconds for each outbound HTTP request (identity resolution)."},
	{NULL, 0, NULL, NULL},
};
