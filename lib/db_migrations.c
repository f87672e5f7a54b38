/* db_migrations.c - the numbered schema migrations of the SQLite index, applied in order by db_migrate.
 *
 * Rules: append only; never edit a migration that has shipped. Everything that mirrors the network
 * can be rebuilt by backfill, but the sessions and devices tables (OAuth/UI sessions, devices and
 * device authorizations) cannot: NO migration may ever drop or recreate them. */
#include "db.h"

const struct db_migration db_migrations[] = {
	{1, "users and jetstream cursor",
	 /* IF NOT EXISTS: db_migrate_with creates it first, so any migration table can be applied */
	 "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
	 "  version INTEGER PRIMARY KEY,\n"
	 "  name TEXT NOT NULL,\n"
	 "  applied_at INTEGER NOT NULL\n"
	 ");\n"
	 "CREATE TABLE users (\n"
	 "  did TEXT PRIMARY KEY,\n"
	 "  handle TEXT,\n"
	 "  handle_verified INTEGER NOT NULL DEFAULT 0,\n"
	 "  pds_endpoint TEXT,\n"
	 "  signing_key TEXT,\n"      /* multibase multikey */
	 "  key_type TEXT,\n"
	 "  doc TEXT,\n"              /* the DID document, JSON */
	 "  resolved_at INTEGER\n"    /* unix seconds */
	 ");\n"
	 "CREATE INDEX users_handle ON users(handle);\n"
	 "CREATE TABLE jetstream_cursor (\n"
	 "  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
	 "  cursor INTEGER\n"
	 ");\n"},
	{2, "registry logins",
	 /* A sessions table: never dropped (see the top of this file). Holds PDS session tokens: the
	  * database file must stay private to the AppView. */
	 "CREATE TABLE registry_logins (\n"
	 "  did TEXT PRIMARY KEY,\n"
	 "  pds TEXT NOT NULL,\n"
	 "  password_hash TEXT NOT NULL,\n"   /* crypto_password_hash of the app password */
	 "  access_jwt TEXT NOT NULL,\n"
	 "  refresh_jwt TEXT NOT NULL,\n"
	 "  checked_at INTEGER NOT NULL\n"    /* unix seconds of the last createSession */
	 ");\n"},
	{3, "registry index: repositories, manifests, tags, upload sessions",
	 /* repositories, manifests, manifest_blobs and tags mirror records in users' PDSes (rebuildable
	  * by backfill); uploads is per-AppView state of unfinished blob uploads. */
	 "CREATE TABLE repositories (\n"
	 "  did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  created_at INTEGER NOT NULL,\n"
	 "  updated_at INTEGER NOT NULL,\n"       /* last push (unix seconds) */
	 "  pull_count INTEGER NOT NULL DEFAULT 0,\n"
	 "  push_count INTEGER NOT NULL DEFAULT 0,\n"
	 "  last_pull INTEGER,\n"
	 "  PRIMARY KEY (did, repository)\n"
	 ");\n"
	 "CREATE TABLE manifests (\n"
	 "  did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  digest TEXT NOT NULL,\n"
	 "  media_type TEXT NOT NULL,\n"
	 "  size INTEGER NOT NULL,\n"
	 "  artifact_type TEXT,\n"                /* artifactType, else the config's media type */
	 "  subject_digest TEXT,\n"               /* referrers */
	 "  annotations TEXT,\n"                  /* JSON object or NULL */
	 "  hold_did TEXT,\n"
	 "  record_rkey TEXT,\n"                  /* io.atcr.manifest record key (TID) */
	 "  blob_cid TEXT,\n"                     /* manifestBlob in the PDS */
	 "  raw BLOB,\n"                          /* the exact bytes; NULL when not cached */
	 "  created_at INTEGER NOT NULL,\n"
	 "  PRIMARY KEY (did, repository, digest)\n"
	 ");\n"
	 "CREATE INDEX manifests_subject ON manifests(did, repository, subject_digest);\n"
	 "CREATE TABLE manifest_blobs (\n"        /* config, layers and index children of a manifest */
	 "  did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  manifest_digest TEXT NOT NULL,\n"
	 "  role TEXT NOT NULL,\n"                /* config | layer | manifest */
	 "  position INTEGER NOT NULL,\n"
	 "  digest TEXT NOT NULL,\n"
	 "  size INTEGER NOT NULL,\n"
	 "  media_type TEXT,\n"
	 "  platform TEXT,\n"                     /* JSON, index children only */
	 "  PRIMARY KEY (did, repository, manifest_digest, role, position)\n"
	 ");\n"
	 "CREATE INDEX manifest_blobs_digest ON manifest_blobs(digest);\n"
	 "CREATE TABLE tags (\n"
	 "  did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  tag TEXT NOT NULL,\n"
	 "  digest TEXT NOT NULL,\n"
	 "  updated_at INTEGER NOT NULL,\n"       /* when the tag was pushed */
	 "  checked_at INTEGER NOT NULL,\n"       /* when this row was last confirmed with the PDS */
	 "  PRIMARY KEY (did, repository, tag)\n"
	 ");\n"
	 "CREATE TABLE uploads (\n"
	 "  id TEXT PRIMARY KEY,\n"               /* the id in the Location URL */
	 "  did TEXT NOT NULL,\n"                 /* who pushes (the token's subject) */
	 "  repository TEXT NOT NULL,\n"          /* <identity>/<repo> as the client named it */
	 "  hold_did TEXT NOT NULL,\n"
	 "  hold_url TEXT NOT NULL,\n"
	 "  hold_upload_id TEXT NOT NULL,\n"
	 /* received: bytes hashed and stored in parts; also the optimistic lock (a request stores its
	  * new state only WHERE received is still what it started from) */
	 "  received INTEGER NOT NULL DEFAULT 0,\n"
	 "  parts TEXT NOT NULL DEFAULT '[]',\n"  /* JSON [{partNumber, etag}] */
	 "  digest_state BLOB NOT NULL,\n"        /* digest_save of the running sha256 */
	 "  created_at INTEGER NOT NULL,\n"
	 "  updated_at INTEGER NOT NULL\n"
	 ");\n"},
	{4, "web UI: stars, repository pages, search",
	 /* stars mirror io.atcr.sailor.star records (subject at://<owner>/io.atcr.repo.page/<repository>);
	  * repo_pages caches io.atcr.repo.page records (fetched_at bounds how long); repo_search is the
	  * FTS5 index of repository names, handles and descriptions, kept by the triggers below. */
	 "CREATE TABLE stars (\n"
	 "  starrer_did TEXT NOT NULL,\n"
	 "  owner_did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  rkey TEXT,\n"                          /* the star record's key in the starrer's PDS */
	 "  created_at INTEGER NOT NULL,\n"
	 "  PRIMARY KEY (starrer_did, owner_did, repository)\n"
	 ");\n"
	 "CREATE INDEX stars_repository ON stars(owner_did, repository);\n"
	 "CREATE TABLE repo_pages (\n"
	 "  did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  description TEXT,\n"                   /* Markdown; NULL when the owner has no page record */
	 "  fetched_at INTEGER NOT NULL,\n"
	 "  PRIMARY KEY (did, repository)\n"
	 ");\n"
	 "CREATE VIRTUAL TABLE repo_search USING fts5(did UNINDEXED, repository, handle, description,\n"
	 "  tokenize = 'unicode61');\n"
	 "INSERT INTO repo_search (did, repository, handle, description)\n"
	 "  SELECT r.did, r.repository, (SELECT handle FROM users u WHERE u.did = r.did), NULL FROM repositories r;\n"
	 "CREATE TRIGGER repo_search_add AFTER INSERT ON repositories BEGIN\n"
	 "  INSERT INTO repo_search (did, repository, handle, description) VALUES (new.did, new.repository,\n"
	 "    (SELECT handle FROM users WHERE did = new.did),\n"
	 "    (SELECT description FROM repo_pages WHERE did = new.did AND repository = new.repository));\n"
	 "END;\n"
	 "CREATE TRIGGER repo_search_drop AFTER DELETE ON repositories BEGIN\n"
	 "  DELETE FROM repo_search WHERE did = old.did AND repository = old.repository;\n"
	 "END;\n"
	 "CREATE TRIGGER repo_search_handle_add AFTER INSERT ON users BEGIN\n"
	 "  UPDATE repo_search SET handle = new.handle WHERE did = new.did;\n"
	 "END;\n"
	 "CREATE TRIGGER repo_search_handle AFTER UPDATE OF handle ON users BEGIN\n"
	 "  UPDATE repo_search SET handle = new.handle WHERE did = new.did;\n"
	 "END;\n"
	 "CREATE TRIGGER repo_search_page_add AFTER INSERT ON repo_pages BEGIN\n"
	 "  UPDATE repo_search SET description = new.description\n"
	 "    WHERE did = new.did AND repository = new.repository;\n"
	 "END;\n"
	 "CREATE TRIGGER repo_search_page AFTER UPDATE OF description ON repo_pages BEGIN\n"
	 "  UPDATE repo_search SET description = new.description\n"
	 "    WHERE did = new.did AND repository = new.repository;\n"
	 "END;\n"},
	{5, "web login: UI sessions, pending OAuth logins, OAuth sessions",
	 /* Sessions tables: never dropped (see the top of this file). They hold OAuth tokens and DPoP
	  * private keys: the database file must stay private to the AppView. */
	 "CREATE TABLE ui_sessions (\n"
	 "  id_hash TEXT PRIMARY KEY,\n"          /* hex SHA-256 of the cookie value; the value is never stored */
	 "  did TEXT NOT NULL,\n"
	 "  handle TEXT,\n"
	 "  csrf TEXT NOT NULL,\n"                /* the session's CSRF token */
	 "  created_at INTEGER NOT NULL,\n"
	 "  expires_at INTEGER NOT NULL\n"
	 ");\n"
	 "CREATE INDEX ui_sessions_did ON ui_sessions(did);\n"
	 "CREATE TABLE oauth_requests (\n"        /* pending logins, from PAR to the callback */
	 "  state TEXT PRIMARY KEY,\n"
	 "  did TEXT NOT NULL,\n"
	 "  handle TEXT,\n"
	 "  pds TEXT NOT NULL,\n"
	 "  issuer TEXT NOT NULL,\n"
	 "  token_endpoint TEXT NOT NULL,\n"
	 "  revocation_endpoint TEXT,\n"
	 "  verifier TEXT NOT NULL,\n"            /* PKCE code verifier */
	 "  dpop_key TEXT NOT NULL,\n"            /* PKCS#8 PEM */
	 "  nonce TEXT,\n"
	 "  return_to TEXT NOT NULL,\n"
	 "  created_at INTEGER NOT NULL\n"
	 ");\n"
	 "CREATE TABLE oauth_sessions (\n"
	 "  did TEXT PRIMARY KEY,\n"
	 "  handle TEXT,\n"
	 "  pds TEXT NOT NULL,\n"
	 "  issuer TEXT NOT NULL,\n"
	 "  token_endpoint TEXT NOT NULL,\n"
	 "  revocation_endpoint TEXT,\n"
	 "  access_token TEXT NOT NULL,\n"
	 "  refresh_token TEXT,\n"
	 "  scope TEXT,\n"
	 "  expires_at INTEGER NOT NULL,\n"       /* 0: the server gave no lifetime */
	 "  dpop_key TEXT NOT NULL,\n"            /* PKCS#8 PEM */
	 "  as_nonce TEXT,\n"
	 "  pds_nonce TEXT,\n"
	 "  updated_at INTEGER NOT NULL\n"
	 ");\n"},
	{6, "network indexing: account state, profiles, ingest cursors and tombstones",
	 /* Filled by lib/ingest from Jetstream, the firehose and backfill. users.active/status follow
	  * account events (an inactive account's repositories stay, marked); profiles mirror
	  * io.atcr.sailor.profile records; ingest_cursors replaces migration 1's jetstream_cursor (one
	  * row per stream); ingest_tombstones remembers recent deletes so that an older create seen later
	  * (a backfill listing, a replayed event) does not bring the record back. */
	 "ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;\n"
	 "ALTER TABLE users ADD COLUMN status TEXT;\n"   /* takendown, suspended, deleted, deactivated... */
	 "CREATE TABLE profiles (\n"
	 "  did TEXT PRIMARY KEY,\n"
	 "  default_hold TEXT,\n"                 /* defaultHold, NULL when absent */
	 "  record TEXT NOT NULL,\n"              /* the record, JSON */
	 "  updated_at INTEGER NOT NULL\n"        /* when the row last changed (unix seconds) */
	 ");\n"
	 "CREATE TABLE ingest_cursors (\n"
	 "  source TEXT PRIMARY KEY,\n"           /* e.g. jetstream:wss://host, firehose:http://pds */
	 "  cursor INTEGER NOT NULL,\n"           /* Jetstream time_us or firehose seq */
	 "  updated_at INTEGER NOT NULL\n"
	 ");\n"
	 "CREATE TABLE ingest_tombstones (\n"
	 "  did TEXT NOT NULL,\n"
	 "  collection TEXT NOT NULL,\n"
	 "  rkey TEXT NOT NULL,\n"
	 "  source TEXT NOT NULL,\n"              /* the stream the delete came from ('' when unnamed) */
	 "  cursor INTEGER NOT NULL,\n"           /* the delete event's cursor in that stream */
	 "  deleted_at INTEGER NOT NULL,\n"
	 "  PRIMARY KEY (did, collection, rkey)\n"
	 ");\n"
	 "CREATE INDEX ingest_tombstones_age ON ingest_tombstones(deleted_at);\n"
	 "CREATE INDEX manifests_rkey ON manifests(did, record_rkey);\n"},
	{7, "backfill progress",
	 /* atcr-jetstream backfill walks a relay's or a PDS's repository listing page by page; the page
	  * cursor is saved once every repository of the page is indexed, so a run cut short resumes there. */
	 "CREATE TABLE backfill_progress (\n"
	 "  source TEXT PRIMARY KEY,\n"            /* e.g. listRepos:http://pds, listReposByCollection:https://relay */
	 "  cursor TEXT,\n"                        /* the listing's cursor after the last finished page; NULL at the start */
	 "  repos INTEGER NOT NULL DEFAULT 0,\n"   /* repositories read so far */
	 "  records INTEGER NOT NULL DEFAULT 0,\n" /* records applied so far */
	 "  done INTEGER NOT NULL DEFAULT 0,\n"    /* 1 when the listing was walked to its end */
	 "  updated_at INTEGER NOT NULL\n"
	 ");\n"},
	{8, "manifest record key claims",
	 /* A push of a manifest the index does not know claims the io.atcr.manifest record key it will
	  * write; a simultaneous push of the same manifest by another AppView process (max-procs > 1)
	  * finds the claim and writes the same record. Claims older than a push can take are replaced. */
	 "CREATE TABLE manifest_claims (\n"
	 "  did TEXT NOT NULL,\n"
	 "  repository TEXT NOT NULL,\n"
	 "  digest TEXT NOT NULL,\n"
	 "  rkey TEXT NOT NULL,\n"                 /* the record key (TID) the first push chose */
	 "  claimed_at INTEGER NOT NULL,\n"
	 "  PRIMARY KEY (did, repository, digest)\n"
	 ");\n"},
	{9, "devices and pending device authorizations",
	 /* Sessions tables: never dropped (see the top of this file). The credential helper's device login
	  * (lib/device): device_codes holds authorizations from the helper's request to its redemption
	  * (minutes), devices the secrets they became. Codes and secrets are kept as hex SHA-256 only. */
	 "CREATE TABLE device_codes (\n"
	 "  code_hash TEXT PRIMARY KEY,\n"        /* SHA-256 of the device code the helper polls with */
	 "  user_code TEXT NOT NULL UNIQUE,\n"    /* ABCD-EFGH, typed or followed in the browser */
	 "  name TEXT NOT NULL,\n"                /* the device's name, as the helper sent it */
	 "  state INTEGER NOT NULL DEFAULT 0,\n"  /* 0 pending, 1 approved, 2 denied */
	 "  did TEXT,\n"                          /* who approved (or denied) it */
	 "  handle TEXT,\n"
	 "  created_at INTEGER NOT NULL,\n"
	 "  expires_at INTEGER NOT NULL,\n"
	 "  decided_at INTEGER,\n"
	 "  last_poll_ms INTEGER NOT NULL DEFAULT 0\n" /* unix milliseconds of the last poll (slow_down) */
	 ");\n"
	 "CREATE TABLE devices (\n"
	 "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	 "  did TEXT NOT NULL,\n"
	 "  name TEXT NOT NULL,\n"
	 "  secret_hash TEXT NOT NULL UNIQUE,\n"  /* SHA-256 of the device secret; the secret is never stored */
	 "  created_at INTEGER NOT NULL,\n"
	 "  last_used_at INTEGER,\n"              /* the last /auth/token with it (to the minute) */
	 "  revoked_at INTEGER\n"                 /* set on /settings: the secret no longer works */
	 ");\n"
	 "CREATE INDEX devices_did ON devices(did);\n"},
};

const int db_migrations_count = (int)(sizeof db_migrations / sizeof db_migrations[0]);
