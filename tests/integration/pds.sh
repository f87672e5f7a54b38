#!/usr/bin/env bash
# pds.sh - lib/ and atcr-appview against the real reference PDS + PLC (tests/peers/), on test ports.
# Runs tests/integration/pds_client (identity, sessions, records, blobs, service tokens) with two
# accounts, then the operator commands `atcr-appview resolve` and `migrate`. TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
appview="$build/cgi/atcr-appview"
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
data=$(mktemp -d /tmp/atcr-pds-test.XXXXXX)
cleanup() {
	"$top/tests/peers/stop-pds" "$data/pds"
	rm -rf "$data"
}
trap cleanup EXIT

export PDS_PORT=${ATCR_TEST_PDS_PORT:-12583} PLC_PORT=${ATCR_TEST_PLC_PORT:-12582}
"$top/tests/peers/start-pds" "$data/pds" 2>"$data/start.err"
t "the PDS and PLC start" '[ -s "$data/pds/pds.env" ]'
[ -s "$data/pds/pds.env" ] || { cat "$data/start.err" >&2; echo "1..$n"; exit 1; }
pid=$(cat "$data/pds/pds.pid")
# shellcheck disable=SC1091
. "$data/pds/pds.env"
export PDS_URL PLC_URL
acct1=$("$top/tests/peers/create-account" "$data/pds" alice.test)
acct2=$("$top/tests/peers/create-account" "$data/pds" bob.test)
t "two accounts with app passwords" '[ -n "$acct1" ] && [ -n "$acct2" ]'
eval "$acct2"
export HANDLE2=$HANDLE DID2=$DID APP_PASSWORD2=$APP_PASSWORD
eval "$acct1"
export HANDLE DID APP_PASSWORD

# pds_client is a TAP program of its own: fold its results into this plan.
"$build/tests/integration/pds_client" >"$data/client.tap" 2>&1
rc=$?
fold pds_client "$data/client.tap"
t "pds_client ran to its plan (exit $rc)" 'grep -q "^1\.\." "$data/client.tap"'

# svctoken_client: service tokens from a session in the index (cache, refresh), folded in the same way.
DB_PATH="$data/svctoken.db" "$build/tests/integration/svctoken_client" >"$data/svctoken.tap" 2>&1
rc=$?
fold svctoken "$data/svctoken.tap"
t "svctoken_client ran to its plan (exit $rc)" 'grep -q "^1\.\." "$data/svctoken.tap"'

export ATCR_SERVER_TEST_MODE=true ATCR_IDENTITY_PLC_URL=$PLC_URL ATCR_IDENTITY_HANDLE_RESOLVER_URL=$PDS_URL
export ATCR_DATABASE_PATH="$data/appview.db" ATCR_LOG_FILE="$data/appview.log"
out=$("$appview" migrate 2>&1)
t "atcr-appview migrate creates the index ($out)" '[ -f "$data/appview.db" ] && grep -q "schema version [1-9]" <<<"$out"'
out2=$("$appview" migrate 2>&1)
t "atcr-appview migrate twice is a no-op" '[ "$out" = "$out2" ]'
out=$("$appview" resolve "$HANDLE" 2>&1)
echo "$out" | sed 's/^/# /'
t "resolve <handle> prints the DID" 'grep -qx "did: $DID" <<<"$out"'
t "resolve <handle> prints the PDS endpoint" 'grep -qx "pds: $PDS_URL" <<<"$out"'
t "resolve <handle> prints a verified handle" 'grep -qx "handle: $HANDLE (verified)" <<<"$out"'
t "resolve <handle> prints the K-256 key" 'grep -Eqx "key: zQ3sh[1-9A-HJ-NP-Za-km-z]+ \(K-256\)" <<<"$out"'
out=$("$appview" resolve "$DID2" 2>&1)
t "resolve <did> prints the handle" 'grep -qx "handle: $HANDLE2 (verified)" <<<"$out"'
out=$("$appview" resolve nobody.test 2>&1)
rc=$?
t "resolve of an unknown handle fails with a message" '[ $rc -ne 0 ] && grep -q "nobody.test" <<<"$out"'
ATCR_SERVER_TEST_MODE=false out=$("$appview" resolve "$HANDLE" 2>&1)
rc=$?
t "outside test mode the loopback PDS is refused" '[ $rc -ne 0 ]'

"$top/tests/peers/stop-pds" "$data/pds"
t "stop-pds leaves no process behind" '! kill -0 "$pid" 2>/dev/null'
echo "1..$n"
[ "$fails" -eq 0 ]
