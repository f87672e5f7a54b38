/* test_quota.c - storage quotas: the tiers file (sizes and their units, rank order, defaults, every
 * refusal naming its line), and the accounting in a hold database (unique digests, blobs pending until
 * a manifest names them, the check before a blob is assembled, part budgets, expiry, tiers in crew
 * records). */
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "hold.h"
#include "tap.h"
#include "tiers.h"

#define OWNER "did:plc:owner0000000000000000000"
#define ALICE "did:plc:alice0000000000000000000"
#define BOB "did:plc:bob000000000000000000000"
#define CAROL "did:plc:carol0000000000000000000"
#define DIGEST(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define MiB (1024LL * 1024)
#define ETAG(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char good_file[] = "# a hold's tiers\n"
				"tiers:\n"
				"  - name: deckhand\n"
				"    limit: 3MB\n"
				"  - name: bosun\n"
				"    limit: 10 MiB\n"
				"  - name: quartermaster\n"
				"    limit: unlimited\n"
				"defaults:\n"
				"  new_crew_tier: bosun\n";

static void sizes(void)
{
	static const struct {
		const char *text;
		long long bytes;
	} good[] = {
		{"0", 0},
		{"512", 512},
		{"1048576", 1048576},
		{"512B", 512},
		{"10 kb", 10240},
		{"10K", 10240},
		{"10KiB", 10240},
		{"3MB", 3 * MiB},
		{"3mib", 3 * MiB},
		{"5GB", 5368709120LL},
		{"5 GiB", 5368709120LL},
		{"1.5GB", 1610612736LL},
		{"2.25 TiB", 2473901162496LL},
		{"0.5k", 512},
		{"1TB", 1099511627776LL},
		{"2PB", 2251799813685248LL},
		{"  7 MB  ", 7 * MiB},
		{"unlimited", TIER_UNLIMITED},
		{"Unlimited", TIER_UNLIMITED},
		{"8191PB", 8191LL << 50},
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		long long got = -2;
		int rc = tiers_parse_size(good[i].text, &got);
		ok(rc == 0 && got == good[i].bytes, "size '%s' = %lld (got %lld)", good[i].text, good[i].bytes, got);
	}
	static const char *const bad[] = {"",      "GB",   "5XB",    "-1",      "1.2.3",  "5 G B", "1e9",   "1.5",
					  "1.2345GB", "8192PB", "99999999999999999999", "5GB extra", ".5GB", "5.GB", "unlimited!"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		long long got = 42;
		ok(tiers_parse_size(bad[i], &got) == -1 && got == 42, "not a size: '%s'", bad[i]);
	}
	ok(tiers_parse_size(NULL, &(long long){0}) == -1, "not a size: NULL");
	static const struct {
		long long bytes;
		const char *text;
	} shown[] = {
		{0, "0 bytes"},         {1, "1 byte"},           {1023, "1023 bytes"},       {1024, "1.0 KiB"},
		{3 * MiB, "3.0 MiB"},   {2621440, "2.5 MiB"},    {5368709120LL, "5.0 GiB"},  {1610612736LL, "1.5 GiB"},
		{1099511627776LL, "1.0 TiB"}, {LLONG_MAX, "8.0 EiB"},
	};
	for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
		char out[32];
		tiers_format_size(shown[i].bytes, out);
		is_str(out, shown[i].text, "%lld bytes shown in words", shown[i].bytes);
	}
}

static hold_tiers *parse(const char *text, char **err)
{
	free(*err);
	*err = NULL;
	return tiers_parse(text, strlen(text), "tiers.yaml", err);
}

static void tiers_file(void)
{
	char *err = NULL;
	hold_tiers *t = parse(good_file, &err);
	ok(t != NULL, "the example file parses: %s", err ? err : "ok");
	if (!t)
		return;
	is_int((long long)t->count, 3, "three tiers");
	is_str(t->tier[0].name, "deckhand", "rank 0 is the first listed");
	is_str(t->tier[1].name, "bosun", "rank 1");
	is_str(t->tier[2].name, "quartermaster", "rank 2");
	ok(t->tier[0].limit == 3 * MiB && t->tier[1].limit == 10 * MiB && t->tier[2].limit == TIER_UNLIMITED,
	   "limits: 3 MiB, 10 MiB, unlimited");
	is_int((long long)t->default_rank, 1, "defaults.new_crew_tier: bosun is rank 1");
	ok(tiers_find(t, "bosun") == &t->tier[1] && tiers_find(t, "Bosun") == NULL && tiers_find(t, NULL) == NULL,
	   "tiers_find: exact names only");
	int unknown = 7;
	ok(tiers_for_member(t, NULL, &unknown) == &t->tier[1] && unknown == 0, "a record without a tier: the default");
	ok(tiers_for_member(t, "", &unknown) == &t->tier[1] && unknown == 0, "an empty tier: the default");
	ok(tiers_for_member(t, "quartermaster", &unknown) == &t->tier[2] && unknown == 0, "a known tier: that tier");
	ok(tiers_for_member(t, "admiral", &unknown) == &t->tier[1] && unknown == 1, "an unknown tier: the default, flagged");
	ok(tiers_for_member(NULL, "bosun", &unknown) == NULL && unknown == 0, "no tiers file: no tier");
	tiers_free(t);

	t = parse("tiers:\n- {name: solo, limit: 1048576}\ndefaults: {new_crew_tier: solo}\n", &err);
	ok(t && t->count == 1 && t->tier[0].limit == 1048576 && t->default_rank == 0, "flow style, a plain byte count");
	tiers_free(t);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{"tiers:\n  - name: a\n    limit: 1GB\ndefaults:\n  new_crew_tier: a\nextra: 1\n",
		 "tiers.yaml:6: unknown key 'extra' in the tiers file (known: tiers, defaults)"},
		{"tiers:\n  - name: a\n    limit: 1GB\n    quota: 2GB\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:4: unknown key 'quota' in tier 0 (known: name, limit)"},
		{"tiers:\n  - name: a\n    limit: 1GB\n", "tiers.yaml:1: defaults: is missing"},
		{"tiers:\n  - name: a\n    limit: 1GB\ndefaults:\n  other: a\n",
		 "tiers.yaml:5: unknown key 'other' in defaults (known: new_crew_tier)"},
		{"tiers:\n  - name: a\n    limit: 1GB\ndefaults: {}\n", "tiers.yaml:4: defaults.new_crew_tier is missing"},
		{"tiers:\n  - name: a\n    limit: 1GB\ndefaults:\n  new_crew_tier: b\n",
		 "tiers.yaml:5: defaults.new_crew_tier 'b' is not one of the tiers"},
		{"tiers:\n  - name: a\n    limit: 1GB\n   - name: b\n", "tiers.yaml:4: not YAML:"},
		{"tiers: [\n", "tiers.yaml:2: not YAML:"},
		{"tiers:\n  - name: a\n    limit: 5XB\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:3: tier 'a': limit '5XB' is not a size"},
		{"tiers:\n  - name: a\n    limit: 1GB\n  - name: a\n    limit: 2GB\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:4: tier 'a' is listed twice"},
		{"tiers:\n  - name: a\n    limit: 1GB\n  - name: b\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:4: tier 1 needs both name: and limit:"},
		{"tiers: []\ndefaults:\n  new_crew_tier: a\n", "tiers.yaml:1: tiers: lists no tier"},
		{"tiers:\n  deckhand: 5GB\n", "tiers.yaml:2: tiers: must be a list"},
		{"defaults:\n  new_crew_tier: a\n", "tiers.yaml:1: tiers: is missing"},
		{"", "tiers.yaml: the file is empty"},
		{"# only a comment\n", "tiers.yaml: the file is empty"},
		{"- a\n- b\n", "tiers.yaml:1: the tiers file must be a mapping"},
		{"tiers:\n  - name: a23456789012345678901234567890123\n    limit: 1GB\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:2: tier name 'a23456789012345678901234567890123': 1 to 32"},
		{"tiers:\n  - name: has space\n    limit: 1GB\ndefaults:\n  new_crew_tier: a\n", "tiers.yaml:2: tier name 'has space'"},
		{"tiers:\n  - name: [a]\n    limit: 1GB\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:2: a tier's name must be a single value, not a list"},
		{"tiers:\n  - name: a\n    limit: 1GB\ndefaults:\n  new_crew_tier:\n    - a\n",
		 "tiers.yaml:6: defaults.new_crew_tier must be a single value, not a list"},
		{"tiers:\n  - name: a\n    limit: 1GB\ntiers:\n  - name: b\n    limit: 1GB\ndefaults:\n  new_crew_tier: a\n",
		 "tiers.yaml:4: duplicate key 'tiers'"},
		{"tiers:\n  - name: a\n    limit: 1GB\ndefaults:\n  new_crew_tier: a\n---\ntiers: []\n",
		 "tiers.yaml:7: only one YAML document is allowed"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		t = parse(bad[i].text, &err);
		ok(t == NULL && err && strncmp(err, bad[i].want, strlen(bad[i].want)) == 0, "refused: %s", bad[i].want);
		if (t || !err || strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			diag("got %s", err ? err : "(a tier list)");
		tiers_free(t);
	}
	free(err);
}

static void tiers_files(const char *dir)
{
	char path[512], *err = NULL;
	snprintf(path, sizeof path, "%s/tiers.yaml", dir);
	hold_tiers *t = tiers_load(path, &err);
	ok(t == NULL && err && strstr(err, "cannot open the tiers file") && strstr(err, path), "a missing file: %s",
	   err ? err : "?");
	free(err);
	err = NULL;
	FILE *f = fopen(path, "w");
	fputs(good_file, f);
	fclose(f);
	t = tiers_load(path, &err);
	ok(t && t->count == 3 && strcmp(t->tier[t->default_rank].name, "bosun") == 0, "tiers_load reads the file: %s",
	   err ? err : "ok");
	tiers_free(t);
	f = fopen(path, "w");
	fputs("tiers:\n  - name: a\n    limit: lots\n", f);
	fclose(f);
	t = tiers_load(path, &err);
	char want[600];
	snprintf(want, sizeof want, "%s:3: tier 'a': limit 'lots' is not a size", path);
	ok(t == NULL && err && strncmp(err, want, strlen(want)) == 0, "its messages name the path and line: %s",
	   err ? err : "?");
	free(err);
	unlink(path);
}

/* ---- accounting in a hold database */

static void layer_row(sqlite3 *db, const char *rkey, const char *user, const char *digest, long long size)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO layers (rkey, manifest, user_did, digest, size) VALUES (?,?,?,?,?)");
	sqlite3_bind_text(st, 1, rkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "at://x/io.atcr.manifest/y", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, size);
	sqlite3_step(st);
	sqlite3_reset(st);
}

static long long rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	long long n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	if (st)
		sqlite3_reset(st);
	return n;
}

/* reserve: quota_reserve of an upload's parts as digest for user at time now. */
static int reserve(sqlite3 *db, const hold_tier *tier, const char *user, const char *id, const char *digest,
		   const bs_part *parts, size_t n, long long now, long long since, char **msg)
{
	char *err = NULL;
	free(*msg);
	*msg = NULL;
	int rc = quota_reserve(db, tier, user, id, digest, parts, n, now, since, msg, &err);
	if (rc < 0)
		diag("quota_reserve: %s", err ? err : "?");
	free(err);
	return rc;
}

static void accounting(const char *dir, hold_tiers *tiers)
{
	char path[512], *err = NULL, *msg = NULL;
	snprintf(path, sizeof path, "%s/hold.db", dir);
	sqlite3 *setup = hold_db_open(path, &err);
	ok(setup != NULL, "a hold database with the quota tables (migration 4): %s", err ? err : "ok");
	db_close(setup);
	free(err);
	err = NULL;
	/* The DID and key sign the commit each crew change makes (repo.c). */
	crypto_key *key = crypto_key_generate(CRYPTO_K256);
	hold_ctx h = {.owner = OWNER, .db_path = path, .tiers = tiers, .did = "did:web:hold.example", .key = key};
	sqlite3 *db = hold_db(&h);
	if (!db) {
		crypto_key_free(key);
		return;
	}
	const hold_tier *deckhand = &tiers->tier[0], *bosun = &tiers->tier[1], *qm = &tiers->tier[2];

	/* who is measured, and in which tier */
	ok(quota_on(&h, ALICE) && !quota_on(&h, OWNER), "quotas apply to crew, never to the captain");
	hold_ctx none = {.owner = OWNER, .db_path = path};
	ok(!quota_on(&none, ALICE) && quota_tier(&none, db, ALICE) == NULL, "without a tiers file nobody is measured");
	json_object *perms = json_object_new_array();
	json_object_array_add(perms, json_object_new_string("blob:write"));
	ok(crew_put(&h, ALICE, "write", perms, &err) == 0 && crew_put(&h, BOB, "write", perms, &err) == 0 &&
		   crew_put(&h, OWNER, "owner", perms, &err) == 0,
	   "crew: alice, bob, the captain");
	ok(quota_tier(&h, db, ALICE) == bosun, "alice's record names no tier: the default (bosun)");
	ok(quota_tier(&h, db, CAROL) == bosun, "carol is not crew: the default");
	ok(quota_tier(&h, db, OWNER) == NULL, "the captain: no tier");
	is_int(crew_set_tier(&h, ALICE, "deckhand", &err), 1, "crew_set_tier alice deckhand");
	ok(quota_tier(&h, db, ALICE) == deckhand, "alice is in deckhand now");
	json_object *rec = crew_get(db, ALICE);
	ok(rec && strcmp(jsonget_str(rec, "role"), "write") == 0 && strcmp(jsonget_str(rec, "tier"), "deckhand") == 0,
	   "her record keeps its role and names the tier");
	json_object_put(rec);
	ok(crew_put(&h, ALICE, "admin", perms, &err) == 0 && quota_tier(&h, db, ALICE) == deckhand,
	   "a new role for alice keeps her tier");
	is_int(crew_set_tier(&h, CAROL, "bosun", &err), 0, "crew_set_tier of a stranger: 0, not crew");
	ok(crew_get(db, CAROL) == NULL, "and no record was made for her");
	is_int(crew_set_tier(&h, BOB, "admiral", &err), 1, "bob's record names a tier the file does not know");
	ok(quota_tier(&h, db, BOB) == bosun, "bob: the default tier");
	json_object_put(perms);

	/* usage: each digest once, layer records only */
	layer_row(db, "3l1", ALICE, DIGEST("a"), MiB);
	layer_row(db, "3l2", ALICE, DIGEST("a"), MiB); /* the same blob in a second manifest */
	layer_row(db, "3l3", BOB, DIGEST("b"), 5 * MiB);
	long long blobs = -1, bytes = -1;
	ok(quota_usage(db, ALICE, &blobs, &bytes, &err) == 0 && blobs == 1 && bytes == MiB,
	   "getQuota: alice has one blob of 1 MiB (%lld, %lld)", blobs, bytes);

	/* the check before assembly: alice (deckhand, 3 MiB) holds 1 MiB */
	long long now = 100000, since = now - 86400;
	bs_part two[] = {{1, ETAG("1")}, {2, ETAG("2")}};
	ok(quota_note_part(db, "up1", 1, ETAG("1"), MiB, now, &err) == 0 &&
		   quota_note_part(db, "up1", 2, ETAG("2"), MiB, now, &err) == 0,
	   "uploadPart records two parts of 1 MiB");
	is_int(reserve(db, deckhand, ALICE, "up1", DIGEST("c"), two, 2, now, since, &msg), QUOTA_RESERVED,
	       "1 MiB used + a 2 MiB blob = exactly the 3 MiB tier: reserved");
	ok(quota_usage(db, ALICE, &blobs, &bytes, &err) == 0 && bytes == MiB, "getQuota still counts layer records only");
	is_int(rows(db, "SELECT size FROM pending_blobs WHERE digest = '" DIGEST("c") "'"), 2 * MiB, "the blob is pending, 2 MiB");
	bs_part one[] = {{1, ETAG("3")}};
	quota_note_part(db, "up2", 1, ETAG("3"), 1, now, &err);
	is_int(reserve(db, deckhand, ALICE, "up2", DIGEST("d"), one, 1, now, since, &msg), QUOTA_OVER,
	       "one byte more is refused");
	is_str(msg, "storage quota exceeded: 3.0 MiB tier deckhand, 3.0 MiB used, this blob 1 byte",
	       "the message: tier, limit, usage, blob");
	is_int(rows(db, "SELECT count(*) FROM pending_blobs WHERE digest = '" DIGEST("d") "'"), 0, "nothing reserved for it");
	is_int(reserve(db, deckhand, ALICE, "up2", DIGEST("a"), one, 1, now, since, &msg), QUOTA_FREE,
	       "a blob alice has in a layer record never counts twice");
	is_int(reserve(db, deckhand, ALICE, "up2", DIGEST("c"), one, 1, now, since, &msg), QUOTA_FREE,
	       "nor one pending for her");
	is_int(reserve(db, deckhand, BOB, "up2", DIGEST("a"), one, 1, now, since, &msg), QUOTA_OVER,
	       "alice's blob is not free for bob: his 5 MiB and it exceed deckhand");
	is_int(reserve(db, bosun, BOB, "up2", DIGEST("a"), one, 1, now, since, &msg), QUOTA_RESERVED,
	       "in bosun (10 MiB) it fits");
	is_int(reserve(db, bosun, BOB, "up2", DIGEST("e"), one, 1, now, since, &msg), QUOTA_RESERVED,
	       "and another");
	is_int(reserve(db, deckhand, ALICE, "up2", DIGEST("d"), one, 1, now, now + 1, &msg), QUOTA_RESERVED,
	       "once her pending blob is older than the expiry it no longer counts");
	quota_release(db, ALICE, DIGEST("d"));
	is_int(rows(db, "SELECT count(*) FROM pending_blobs WHERE user_did = '" ALICE "'"), 1, "quota_release drops a reservation");
	bs_part unknown_part[] = {{1, ETAG("9")}};
	is_int(reserve(db, deckhand, ALICE, "up3", DIGEST("f"), unknown_part, 1, now, since, &msg), QUOTA_FREE,
	       "parts of unknown size: not checked");
	is_int(reserve(db, qm, ALICE, "up2", DIGEST("f"), one, 1, now, since, &msg), QUOTA_FREE, "an unlimited tier: no check");
	is_int(reserve(db, NULL, ALICE, "up2", DIGEST("f"), one, 1, now, since, &msg), QUOTA_FREE, "no tier: no check");

	/* a manifest names the pending blob: it counts through its layer record now */
	json_object *m = json_tokener_parse("{\"config\":{\"digest\":\"" DIGEST("c") "\"},\"layers\":[]}");
	ok(quota_settle(db, ALICE, m, &err) == 0 &&
		   rows(db, "SELECT count(*) FROM pending_blobs WHERE user_did = '" ALICE "'") == 0,
	   "notifyManifest settles its config's pending blob");
	json_object_put(m);
	m = json_tokener_parse("{\"layers\":[{\"digest\":\"" DIGEST("a") "\"},{\"digest\":\"" DIGEST("e") "\"}]}");
	ok(quota_settle(db, BOB, m, &err) == 0 && rows(db, "SELECT count(*) FROM pending_blobs") == 0,
	   "and its layers' (bob's two)");
	json_object_put(m);

	/* uploadPart's budget: the whole tier minus the upload's other parts */
	ok(quota_part_budget(db, deckhand, "up1", 3) == MiB, "part 3 of up1 may bring 1 MiB (3 MiB - two parts)");
	ok(quota_part_budget(db, deckhand, "up1", 2) == 2 * MiB, "part 2 sent again: only part 1 is another");
	quota_note_part(db, "up1", 2, ETAG("4"), 2 * MiB + 1, now, &err);
	ok(quota_part_budget(db, deckhand, "up1", 3) == -1, "part 2 resent larger counts at its largest: over");
	ok(quota_part_budget(db, qm, "up1", 3) == LLONG_MAX && quota_part_budget(db, NULL, "up1", 3) == LLONG_MAX,
	   "no limit, no budget");
	quota_forget_upload(db, "up1");
	ok(rows(db, "SELECT count(*) FROM upload_parts WHERE upload_id = 'up1'") == 0 &&
		   quota_part_budget(db, deckhand, "up1", 1) == 3 * MiB,
	   "a finished upload's part sizes are forgotten");

	/* expiry */
	quota_note_part(db, "old", 1, ETAG("5"), 10, 50, &err);
	reserve(db, bosun, CAROL, "old", DIGEST("9"), (bs_part[]){{1, ETAG("5")}}, 1, 50, 0, &msg);
	is_int(quota_expire(db, 60, &err), 2, "quota_expire drops part sizes and pending blobs older than the cutoff");
	is_int(rows(db, "SELECT count(*) FROM upload_parts") + rows(db, "SELECT count(*) FROM pending_blobs"), 1,
	       "and keeps the newer ones");

	char *x = quota_exceeded_message(deckhand, -1, deckhand->limit);
	is_str(x, "storage quota exceeded: 3.0 MiB tier deckhand, this blob over 3.0 MiB", "the message of a blob cut short");
	free(x);
	free(msg);
	free(err);
	crypto_key_free(key);
}

typedef struct {
	const char *dir;
	hold_tiers *tiers;
} db_args;

/* The accounting runs in a thread of its own: hold_db's per-thread connection closes when it ends. */
static void *accounting_thread(void *arg)
{
	db_args *a = arg;
	accounting(a->dir, a->tiers);
	return NULL;
}

int main(void)
{
	sizes();
	tiers_file();
	char dir[] = "/tmp/test_quota.XXXXXX";
	if (!mkdtemp(dir)) {
		ok(0, "a temporary directory");
		return tap_done();
	}
	tiers_files(dir);
	char *err = NULL;
	db_args a = {dir, tiers_parse(good_file, strlen(good_file), "tiers.yaml", &err)};
	pthread_t t;
	if (a.tiers && pthread_create(&t, NULL, accounting_thread, &a) == 0)
		pthread_join(t, NULL);
	else
		ok(0, "the accounting tests ran");
	tiers_free(a.tiers);
	free(err);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return tap_done();
}
