#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # t() evals its single-quoted checks later (pid included)
# oauth.sh - lib/oauth against the real reference PDS + PLC (tests/peers/), on test ports: discovery, PAR
# with the DPoP nonce retry as the loopback client, a login through the provider's sign-in API (no
# browser), the code exchange, a DPoP-bound PDS call, refresh and revocation. TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
data=$(mktemp -d /tmp/atcr-oauth-test.XXXXXX)
cleanup() {
	"$top/tests/peers/stop-pds" "$data/pds"
	rm -rf "$data"
}
trap cleanup EXIT

export PDS_PORT=${ATCR_TEST_PDS_PORT:-12783} PLC_PORT=${ATCR_TEST_PLC_PORT:-12782}
"$top/tests/peers/start-pds" "$data/pds" 2>"$data/start.err"
t "the PDS and PLC start" '[ -s "$data/pds/pds.env" ]'
[ -s "$data/pds/pds.env" ] || { cat "$data/start.err" >&2; echo "1..$n"; exit 1; }
pid=$(cat "$data/pds/pds.pid")
# shellcheck disable=SC1091
. "$data/pds/pds.env"
export PDS_URL
acct=$("$top/tests/peers/create-account" "$data/pds" alice.test)
t "an account" '[ -n "$acct" ]'
eval "$acct"
export HANDLE DID PASSWORD

# oauth_client is a TAP program of its own: fold its results into this plan.
"$build/tests/integration/oauth_client" >"$data/client.tap" 2>&1
rc=$?
fold oauth_client "$data/client.tap"
t "oauth_client ran to its plan (exit $rc)" 'grep -q "^1\.\." "$data/client.tap"'

"$top/tests/peers/stop-pds" "$data/pds"
t "stop-pds leaves no process behind" '! kill -0 "$pid" 2>/dev/null'
echo "1..$n"
[ "$fails" -eq 0 ]
