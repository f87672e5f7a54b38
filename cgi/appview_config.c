/* appview_config.c - every setting of atcr-appview, with its default and the help text that
 * `atcr-appview config init` writes into the template. Environment: ATCR_ + KEY (SERVER_BASE_URL). */
#include "appview_config.h"

#include <stddef.h>

const cfg_option appview_options[] = {
	/* server */
	{"server.base_url", CFG_STRING, "http://127.0.0.1:5000",
	 "Public URL of the AppView as docker and browsers reach it (scheme, host, optional port, no\n"
	 "trailing slash). Used for the token realm, OAuth client metadata and links."},
	{"server.service_name", CFG_STRING, "",
	 "Name of this registry in issued tokens (the JWT issuer and the Docker token \"service\").\n"
	 "Empty: the host (and port) of server.base_url."},
	{"server.listen", CFG_STRING, "",
	 "Where to accept FastCGI connections. Empty: the socket the web server passes on fd 0\n"
	 "(lighttpd bin-path, spawn-fcgi). Otherwise \"127.0.0.1:9000\" or a unix socket path."},
	{"server.threads", CFG_INT, "8", "Worker threads answering requests in this process."},
	{"server.test_mode", CFG_BOOL, "false",
	 "Allow plain http and loopback/private addresses when resolving identities and talking to\n"
	 "PDSes and holds. For local test networks only: never enable this in production."},

	/* log */
	{"log.level", CFG_STRING, "info", "Least important messages written: debug, info, warn or error."},
	{"log.format", CFG_STRING, "text", "text (one readable line per entry) or json (one object per line)."},
	{"log.file", CFG_STRING, "",
	 "Log file, reopened on SIGHUP for rotation. Empty: standard error (the web server's error log)."},

	/* database */
	{"database.path", CFG_STRING, "/var/lib/atcr/appview.db",
	 "SQLite index of manifests, tags, stars, sessions and caches. Its directory must be writable\n"
	 "by the AppView (SQLite keeps -wal and -shm files beside it). Create or upgrade it with\n"
	 "`atcr-appview migrate`."},

	/* identity */
	{"identity.plc_url", CFG_STRING, "https://plc.directory", "PLC directory used to resolve did:plc identities."},
	{"identity.handle_resolver_url", CFG_STRING, "",
	 "Optional PDS or AppView URL asked first (com.atproto.identity.resolveHandle) to turn a handle\n"
	 "into a DID, before DNS TXT and https://<handle>/.well-known/atproto-did. Empty: DNS and HTTPS only."},
	{"identity.cache_ttl", CFG_INT, "3600", "Seconds a resolved handle or DID document is trusted before resolving again."},

	/* http (outbound) */
	{"http.timeout", CFG_INT, "30", "Seconds allowed for each outbound request (PDS, PLC, holds)."},
	{"http.max_response_bytes", CFG_INT, "67108864",
	 "Largest outbound response body accepted, in bytes (64 MiB): bigger answers are refused."},

	/* auth */
	{"auth.key_path", CFG_STRING, "/var/lib/atcr/auth/private-key.pem",
	 "Private key (P-256, PEM) that signs registry tokens (ES256). Generated on first run (mode 0600,\n"
	 "its directory 0700) when missing."},
	{"auth.token_expiry", CFG_INT, "300", "Lifetime of issued registry tokens, in seconds."},
	{"auth.login_cache_ttl", CFG_INT, "3600",
	 "Seconds a checked app password is remembered (as a salted hash) so that repeated token requests\n"
	 "do not call createSession on the user's PDS (which rate-limits it). 0: always ask the PDS."},
	{"auth.device_code_ttl", CFG_INT, "600",
	 "Seconds a device login of docker-credential-atcr waits for its code to be approved on /device."},
	{"auth.device_poll_interval", CFG_INT, "5",
	 "Seconds the credential helper waits between polls of /auth/device/token (faster: slow_down)."},

	/* registry */
	{"registry.default_hold_did", CFG_STRING, "",
	 "DID of the hold that stores blobs for users whose io.atcr.sailor.profile names no defaultHold\n"
	 "(e.g. did:web:hold.example.com). Empty: such users cannot push."},
	{"registry.tag_ttl", CFG_INT, "30",
	 "Seconds a tag in the index is served without asking the owner's PDS again. Pushes through this\n"
	 "AppView update the index at once; this bounds how long a tag moved elsewhere is served stale."},
	{"registry.part_size", CFG_INT, "16777216",
	 "Bytes of an upload sent to the hold in one part (16 MiB). Blob bytes stream through the AppView\n"
	 "without being buffered whole; at least 5 MiB suits S3-backed holds."},

	/* ui */
	{"ui.templates_dir", CFG_STRING, ATCR_PKGDATADIR "/templates",
	 "Directory of the web UI's HTML templates (the repository's templates/), read once at start-up.\n"
	 "Its static/ files are served by the web server itself (lighttpd.conf: var.atcr_docroot)."},

	/* network indexing: atcr-jetstream */
	{"jetstream.mode", CFG_STRING, "jetstream",
	 "How atcr-jetstream follows the network: jetstream (JSON messages from a Jetstream service,\n"
	 "jetstream.url) or firehose (com.atproto.sync.subscribeRepos of a relay or a PDS, jetstream.firehose_url)."},
	{"jetstream.url", CFG_STRING, "wss://jetstream2.us-east.bsky.network/subscribe",
	 "Jetstream v1 subscribe endpoint (ws:// or wss://); wantedCollections and cursor are added."},
	{"jetstream.firehose_url", CFG_STRING, "wss://bsky.network",
	 "Relay or PDS whose subscribeRepos firehose mode reads (ws:// or wss://, no path)."},
	{"jetstream.rewind_seconds", CFG_INT, "5",
	 "On reconnecting to Jetstream, resume this many seconds before the saved cursor (events applied\n"
	 "twice change nothing, so overlap is safe and covers events still in flight)."},
	{"jetstream.max_backoff", CFG_INT, "60", "Most seconds waited between reconnection attempts."},
	{"backfill.relay", CFG_STRING, "https://relay1.us-east.bsky.network",
	 "Relay asked for the repositories holding io.atcr records (com.atproto.sync.listReposByCollection)\n"
	 "by `atcr-jetstream backfill`. `backfill --pds URL` walks one PDS's repositories instead."},

	{NULL, 0, NULL, NULL},
};
