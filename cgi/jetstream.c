/* jetstream.c - atcr-jetstream: follows the network's io.atcr records into the AppView's index.
 *
 *   run        read Jetstream (JSON) or a firehose (subscribeRepos: CBOR frames with CAR blocks) from
 *              the saved cursor and apply what it says (lib/ingest); --max-seconds for cron, --follow
 *   backfill   read every io.atcr record of a relay's or a PDS's repositories (cgi/backfill.c)
 *   cursor     print the saved cursors
 *
 * Events are applied in small batches, each in one transaction with the stream's cursor, so a run
 * stopped at any point (kill -9 included) resumes where its last batch ended; a replay changes nothing. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appview_config.h"
#include "backfill.h"
#include "buf.h"
#include "config.h"
#include "db.h"
#include "firehose.h"
#include "ingest.h"
#include "log.h"
#include "netevent.h"
#include "ws.h"

#define BATCH_EVENTS 200     /* events applied in one transaction at most */
#define BATCH_MS 250         /* longest an event waits to be applied */
#define CURSOR_SAVE_MS 5000  /* how often the cursor moves on when no wanted event came */
#define RECV_SLICE_MS 500    /* how long a receive waits before checking the clock and signals */
#define MAX_PENDING 20000    /* events held while the index refuses writes before giving up */

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: atcr-jetstream [--config FILE] [COMMAND [OPTIONS]]\n"
		"\n"
		"commands:\n"
		"  run [--max-seconds N | --follow] [--mode jetstream|firehose] [--url URL]\n"
		"          apply the network's io.atcr records to the index from the saved cursor (the default\n"
		"          command); --max-seconds N stops after N seconds with exit 0 (cron: 55 every minute),\n"
		"          --follow runs until SIGTERM. The mode and URL default to jetstream.mode and\n"
		"          jetstream.url (or jetstream.firehose_url)\n"
		"  backfill [--relay URL | --pds URL] [--restart]\n"
		"          index every io.atcr record of the repositories a relay (listReposByCollection;\n"
		"          default backfill.relay) or a PDS (listRepos) lists; resumes a run cut short\n"
		"          unless --restart\n"
		"  backfill --did DID\n"
		"          index one repository's records\n"
		"  cursor  print the saved cursor of each stream\n"
		"\n"
		"options:\n"
		"  --config FILE   the AppView's YAML configuration (default: $ATCR_CONFIG); ATCR_* variables\n"
		"                  override it\n"
		"  --help, --version\n");
}

/* ---- the stream consumer */

typedef struct {
	sqlite3 *db;
	backfill_ctx bf;   /* for tooBig commits: the repository is read whole */
	int firehose;      /* 0: Jetstream JSON; 1: subscribeRepos frames */
	const char *url;   /* the endpoint, without cursor */
	char *source;      /* the cursor's name in ingest_cursors */
	long long rewind_us, max_backoff_s;
	long long deadline_ms; /* 0: --follow */
	ws_options wso;
	/* the batch */
	netevent *batch;
	size_t n, cap;
	long long cursor, saved_cursor, last_flush_ms;
	long long applied, seen;
	int broken; /* the index kept refusing the batch: stop (exit 1) rather than hold events forever */
} consumer;

static int expired(const consumer *c)
{
	return stopping || c->broken || (c->deadline_ms && now_ms() >= c->deadline_ms);
}

/* Apply the batch and the cursor. On a database failure the batch is kept for the next try. */
static int flush(consumer *c)
{
	char *err = NULL;
	c->last_flush_ms = now_ms();
	if (c->n == 0 && c->cursor == c->saved_cursor)
		return 0;
	if (ingest_apply(c->db, c->batch, c->n, c->source, c->cursor, &err) != 0) {
		log_error("jetstream: applying %zu events: %s", c->n, err ? err : "failed");
		free(err);
		if (c->n > MAX_PENDING)
			c->broken = 1;
		return -1;
	}
	c->applied += (long long)c->n;
	netevent_free_all(c->batch, c->n);
	c->batch = NULL;
	c->n = c->cap = 0;
	c->saved_cursor = c->cursor;
	return 0;
}

/* Take the events we index from a decoded message into the batch (the rest are freed). */
static int take(consumer *c, netevent *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ev[i].kind == NETEVENT_COMMIT && !ingest_wants(ev[i].collection)) {
			netevent_clear(&ev[i]);
			continue;
		}
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			netevent *b = realloc(c->batch, cap * sizeof *b);
			if (!b) {
				for (size_t j = i; j < n; j++)
					netevent_clear(&ev[j]);
				free(ev);
				return -1;
			}
			c->batch = b;
			c->cap = cap;
		}
		c->batch[c->n++] = ev[i];
	}
	free(ev);
	return 0;
}

/* One firehose frame. 0 go on, -1 reconnect (an error frame). */
static int on_frame(consumer *c, const buf_t *msg)
{
	firehose_frame f = {0};
	netevent *ev = NULL;
	size_t n = 0;
	char *err = NULL;
	int rc = 0;
	if (firehose_decode(msg->data, msg->len, &f, &ev, &n, &err) != 0) {
		if (!f.type && f.name) {
			log_warn("jetstream: %s: error frame %s: %s", c->url, f.name, f.message ? f.message : "");
			if (strcmp(f.name, "FutureCursor") == 0) {
				/* the server was reset behind our cursor: start from its present */
				c->cursor = c->saved_cursor = 0;
				sqlite3_stmt *st = db_prepare(c->db, "DELETE FROM ingest_cursors WHERE source = ?");
				if (st) {
					sqlite3_bind_text(st, 1, c->source, -1, SQLITE_STATIC);
					sqlite3_step(st);
					sqlite3_reset(st);
				}
			}
			rc = -1;
		} else {
			log_warn("jetstream: %s: a frame that does not decode (seq %lld): %s", c->url, f.seq, err);
			if (f.seq > c->cursor)
				c->cursor = f.seq;
		}
		goto out;
	}
	c->seen++;
	if (f.name)
		log_info("jetstream: %s: %s%s%s", c->url, f.name, f.message ? ": " : "", f.message ? f.message : "");
	if (f.too_big && f.did) {
		long long records = 0;
		flush(c);
		if (backfill_repo(&c->bf, f.did, &records, NULL, &err) != 0)
			log_warn("jetstream: %s: a tooBig commit of %s, and reading the repository failed: %s", c->url, f.did, err);
	}
	if (take(c, ev, n) != 0)
		rc = -1;
	ev = NULL;
	if (f.seq > c->cursor)
		c->cursor = f.seq;
out:
	free(ev);
	firehose_frame_clear(&f);
	free(err);
	return rc;
}

/* One Jetstream message. */
static void on_message(consumer *c, const buf_t *msg)
{
	netevent *ev = NULL;
	size_t n = 0;
	long long cursor = 0;
	char *err = NULL;
	if (netevent_from_jetstream(msg->data, msg->len, &ev, &n, &cursor, &err) != 0) {
		log_warn("jetstream: %s: a message that does not decode: %s", c->url, err);
		free(err);
		return;
	}
	c->seen++;
	take(c, ev, n);
	if (cursor > c->cursor)
		c->cursor = cursor;
}

/* The URL to connect to now: the endpoint with the collections we want and where to resume. */
static char *connect_url(consumer *c)
{
	const char *sep = strchr(c->url, '?') ? "&" : "?";
	if (c->firehose) {
		size_t n = strlen(c->url);
		while (n > 0 && c->url[n - 1] == '/')
			n--;
		return c->cursor > 0 ? buf_strf("%.*s/xrpc/com.atproto.sync.subscribeRepos?cursor=%lld", (int)n, c->url, c->cursor)
				     : buf_strf("%.*s/xrpc/com.atproto.sync.subscribeRepos", (int)n, c->url);
	}
	long long from = c->cursor > c->rewind_us ? c->cursor - c->rewind_us : 0;
	return from > 0 ? buf_strf("%s%swantedCollections=io.atcr.*&cursor=%lld", c->url, sep, from)
			: buf_strf("%s%swantedCollections=io.atcr.*", c->url, sep);
}

/* Sleep up to seconds, waking early on a signal or the deadline. */
static void pause_for(const consumer *c, long long seconds)
{
	long long until = now_ms() + seconds * 1000;
	while (!expired(c) && now_ms() < until) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static int consume(consumer *c)
{
	char *err = NULL;
	long long backoff = 1;
	if (ingest_cursor_get(c->db, c->source, &c->cursor, &err) < 0) {
		log_error("jetstream: %s", err);
		fprintf(stderr, "atcr-jetstream: %s\n", err);
		free(err);
		return 1;
	}
	c->saved_cursor = c->cursor;
	buf_t msg = {0};
	while (!expired(c)) {
		char *url = connect_url(c);
		ws_conn *conn = url ? ws_connect(url, &c->wso, &err) : NULL;
		if (!conn) {
			log_warn("jetstream: connecting to %s: %s (again in %lld s)", url ? url : c->url, err ? err : "out of memory",
				 backoff);
			free(err);
			err = NULL;
			free(url);
			pause_for(c, backoff);
			backoff = backoff * 2 > c->max_backoff_s ? c->max_backoff_s : backoff * 2;
			continue;
		}
		log_info("jetstream: connected to %s", url);
		free(url);
		long long seen_before = c->seen;
		c->last_flush_ms = now_ms();
		while (!expired(c)) {
			int binary = 0;
			int got = ws_recv(conn, &msg, &binary, RECV_SLICE_MS, &err);
			if (got < 0) {
				log_warn("jetstream: %s: %s", c->url, err ? err : "connection lost");
				free(err);
				err = NULL;
				break;
			}
			if (got == 1 && (c->firehose ? on_frame(c, &msg) : (on_message(c, &msg), 0)) != 0)
				break;
			long long since = now_ms() - c->last_flush_ms;
			if (c->n >= BATCH_EVENTS || (c->n > 0 && since >= BATCH_MS) || since >= CURSOR_SAVE_MS)
				flush(c);
		}
		flush(c);
		ws_close(conn);
		if (c->seen > seen_before)
			backoff = 1; /* it worked for a while: the next failure starts the back-off again */
		if (!expired(c)) {
			/* Jetstream: resume a little before the last event (connect_url rewinds); both: wait first */
			pause_for(c, backoff);
			backoff = backoff * 2 > c->max_backoff_s ? c->max_backoff_s : backoff * 2;
		}
	}
	buf_free(&msg);
	int rc = flush(c) == 0 && !c->broken ? 0 : 1;
	log_info("jetstream: stopping: %lld messages read, %lld events applied, cursor %lld", c->seen, c->applied,
		 c->saved_cursor);
	return rc;
}

/* ---- commands */

static int cmd_run(const config *cfg, sqlite3 *db, int argc, char **argv)
{
	consumer c = {.db = db};
	const char *mode = config_str(cfg, "jetstream.mode"), *url = NULL;
	long long max_seconds = -1;
	int follow = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
			char *end = NULL;
			max_seconds = strtoll(argv[++i], &end, 10);
			if (!*argv[i] || *end || max_seconds <= 0) {
				fprintf(stderr, "atcr-jetstream run: --max-seconds takes a positive whole number\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--follow") == 0) {
			follow = 1;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			mode = argv[++i];
		} else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
			url = argv[++i];
		} else {
			fprintf(stderr, "atcr-jetstream run: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (follow == (max_seconds > 0)) {
		fprintf(stderr, "atcr-jetstream run: give exactly one of --max-seconds N and --follow\n");
		return 2;
	}
	if (strcmp(mode, "jetstream") != 0 && strcmp(mode, "firehose") != 0) {
		fprintf(stderr, "atcr-jetstream run: the mode is jetstream or firehose, not %s\n", mode);
		return 2;
	}
	c.firehose = strcmp(mode, "firehose") == 0;
	c.url = url ? url : config_str(cfg, c.firehose ? "jetstream.firehose_url" : "jetstream.url");
	if (strncmp(c.url, "ws://", 5) != 0 && strncmp(c.url, "wss://", 6) != 0) {
		fprintf(stderr, "atcr-jetstream run: %s is not a ws:// or wss:// URL\n", c.url);
		return 2;
	}
	c.source = buf_strf("%s:%s", mode, c.url);
	c.rewind_us = config_int(cfg, "jetstream.rewind_seconds") * 1000000LL;
	c.max_backoff_s = config_int(cfg, "jetstream.max_backoff");
	if (c.max_backoff_s < 1)
		c.max_backoff_s = 1;
	c.deadline_ms = follow ? 0 : now_ms() + max_seconds * 1000;
	c.wso = (ws_options){.timeout_ms = 10000, .max_message = 8u << 20};
	c.bf = (backfill_ctx){.db = db, .ident = identity_ctx_from_config(cfg)};
	c.bf.ident.db = db;
	c.bf.http = (http_opts){.timeout_s = (long)config_int(cfg, "http.timeout"), .connect_timeout_s = 10,
				.max_response = (size_t)config_int(cfg, "http.max_response_bytes"),
				.allow_private = config_bool(cfg, "server.test_mode")};
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = consume(&c);
	netevent_free_all(c.batch, c.n);
	free(c.source);
	return rc;
}

static int cmd_backfill(const config *cfg, sqlite3 *db, int argc, char **argv)
{
	const char *relay = NULL, *pds = NULL, *did = NULL;
	int restart = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--relay") == 0 && i + 1 < argc)
			relay = argv[++i];
		else if (strcmp(argv[i], "--pds") == 0 && i + 1 < argc)
			pds = argv[++i];
		else if (strcmp(argv[i], "--did") == 0 && i + 1 < argc)
			did = argv[++i];
		else if (strcmp(argv[i], "--restart") == 0)
			restart = 1;
		else {
			fprintf(stderr, "atcr-jetstream backfill: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if ((relay != NULL) + (pds != NULL) + (did != NULL) > 1) {
		fprintf(stderr, "atcr-jetstream backfill: give at most one of --relay, --pds and --did\n");
		return 2;
	}
	backfill_ctx b = {.db = db, .ident = identity_ctx_from_config(cfg), .progress = stdout};
	b.ident.db = db;
	b.http = (http_opts){.timeout_s = (long)config_int(cfg, "http.timeout"), .connect_timeout_s = 10,
			     .max_response = (size_t)config_int(cfg, "http.max_response_bytes"),
			     .allow_private = config_bool(cfg, "server.test_mode")};
	char *err = NULL;
	int rc;
	if (did) {
		long long records = 0, removed = 0;
		rc = backfill_repo(&b, did, &records, &removed, &err);
		if (rc == 0)
			printf("backfill: %s: %lld records, %lld removed\n", did, records, removed);
	} else {
		if (!relay && !pds)
			relay = config_str(cfg, "backfill.relay");
		rc = backfill_all(&b, relay, pds, restart, &err);
	}
	if (rc != 0) {
		log_error("backfill: %s", err ? err : "failed");
		fprintf(stderr, "atcr-jetstream backfill: %s\n", err ? err : "failed");
	}
	free(err);
	return rc == 0 ? 0 : 1;
}

static int cmd_cursor(sqlite3 *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT source, cursor, updated_at FROM ingest_cursors ORDER BY source");
	if (!st)
		return 1;
	while (sqlite3_step(st) == SQLITE_ROW)
		printf("%s %lld %lld\n", (const char *)sqlite3_column_text(st, 0), (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2));
	sqlite3_reset(st);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = getenv("ATCR_CONFIG");
	int exit_code = 0;
	int i = config_parse_options(argc, argv, "atcr-jetstream", ATCR_VERSION, usage, &config_path, &exit_code);
	if (i < 0)
		return exit_code;
	const char *cmd = i < argc ? argv[i++] : "run";
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "backfill") != 0 && strcmp(cmd, "cursor") != 0) {
		fprintf(stderr, "atcr-jetstream: bad command: %s\n", cmd);
		usage(stderr);
		return 2;
	}
	char *err = NULL;
	if (config_path && !*config_path)
		config_path = NULL;
	config *cfg = config_load(appview_options, config_path, "ATCR_", &err);
	if (!cfg) {
		fprintf(stderr, "atcr-jetstream: %s\n", err ? err : "cannot load the configuration");
		free(err);
		return 1;
	}
	int rc = 1;
	sqlite3 *db = NULL;
	if (log_setup(config_str(cfg, "log.level"), config_str(cfg, "log.format"), config_str(cfg, "log.file"), &err) != 0) {
		fprintf(stderr, "atcr-jetstream: log: %s\n", err ? err : "cannot set up logging");
		goto out;
	}
	if (!(db = db_open(config_str(cfg, "database.path"), 1, &err))) {
		fprintf(stderr, "atcr-jetstream: %s: %s\n", config_str(cfg, "database.path"), err ? err : "cannot open");
		goto out;
	}
	if (strcmp(cmd, "run") == 0)
		rc = cmd_run(cfg, db, argc - i, argv + i);
	else if (strcmp(cmd, "backfill") == 0)
		rc = cmd_backfill(cfg, db, argc - i, argv + i);
	else
		rc = cmd_cursor(db);
out:
	if (db)
		db_close(db);
	config_free(cfg);
	free(err);
	return rc;
}
