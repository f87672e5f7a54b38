#!/usr/bin/env bash
# auth.sh - the Docker token endpoint (/auth/token) through lighttpd against the real PDS: app-password
# logins by handle and by DID (Basic, and containerd's POST form), wrong passwords, anonymous pull tokens,
# access limited to the caller's own namespace, and the remembered login. TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-auth-test.XXXXXX)
cleanup() {
	[ -f "$tmp/web/lighttpd.pid" ] && "$top/scripts/lighttpd-run" stop "$tmp/web" >/dev/null 2>&1
	"$top/tests/peers/stop-pds" "$tmp/pds"
	rm -rf "$tmp"
}
trap cleanup EXIT
export PDS_PORT=${ATCR_TEST_PDS_PORT:-12583} PLC_PORT=${ATCR_TEST_PLC_PORT:-12582}
port=${ATCR_TEST_APPVIEW_PORT:-15100}
base=http://127.0.0.1:$port
"$top/tests/peers/start-pds" "$tmp/pds" 2>"$tmp/pds.err" || { cat "$tmp/pds.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/pds/pds.env"
eval "$("$top/tests/peers/create-account" "$tmp/pds" bob.test | sed 's/^/BOB_/')"
eval "$("$top/tests/peers/create-account" "$tmp/pds" alice.test)"
t "accounts on the PDS" '[ -n "$DID" ] && [ -n "$BOB_DID" ]'

export ATCR_SERVER_TEST_MODE=true ATCR_SERVER_BASE_URL=$base ATCR_SERVER_SERVICE_NAME=atcr-test
export ATCR_IDENTITY_PLC_URL=$PLC_URL ATCR_IDENTITY_HANDLE_RESOLVER_URL=$PDS_URL
export ATCR_DATABASE_PATH=$tmp/appview.db ATCR_AUTH_KEY_PATH=$tmp/auth/key.pem ATCR_LOG_FILE=$tmp/appview.log
APPVIEW_PORT=$port HOLD_PORT=$((port + 8)) ATCR_APPVIEW_BIN="$build/cgi/atcr-appview" \
	"$top/scripts/lighttpd-run" start "$tmp/web" >/dev/null
t "the AppView starts behind lighttpd" '[ "$(curl -s "$base/health")" = "{\"status\":\"ok\"}" ]'
t "the token key is created mode 0600 in a 0700 directory" '[ "$(stat -c %a "$tmp/auth/key.pem") $(stat -c %a "$tmp/auth")" = "600 700" ]'

claims() { python3 -c 'import sys,json,base64;p=json.load(sys.stdin)["token"].split(".")[1];print(base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode())'; }
access() { jq -c '[.access[] | [.name, (.actions|join(","))]]'; }
get() { # get USER:PASS SCOPE -> status; body in $tmp/out
	curl -s -o "$tmp/out" -w '%{http_code}' ${1:+-u "$1"} -G "$base/auth/token" --data-urlencode service=atcr-test \
		${2:+--data-urlencode "scope=$2"}
}

t "anonymous: 200 with a token" '[ "$(get "" "repository:alice.test/app:pull,push")" = 200 ]'
c=$(claims <"$tmp/out")
t "anonymous: pull only, empty subject" '[ "$(access <<<"$c")" = "[[\"alice.test/app\",\"pull\"]]" ] && [ "$(jq -r .sub <<<"$c")" = "" ]'
t "claims: iss and aud are the service, 300 s lifetime" '[ "$(jq -r "[.iss,.aud,(.exp-.iat)]|join(\" \")" <<<"$c")" = "atcr-test atcr-test 300" ]'
t "token and access_token both present" '[ "$(jq -r "(.token==.access_token) and (.expires_in==300)" "$tmp/out")" = true ]'

t "wrong password: 401" '[ "$(get "alice.test:wrong-password" "repository:alice.test/app:pull")" = 401 ]'
t "wrong password: OCI error UNAUTHORIZED" '[ "$(jq -r ".errors[0].code" "$tmp/out")" = UNAUTHORIZED ]'
t "unknown user: 401" '[ "$(get "nobody.test:$APP_PASSWORD" "repository:nobody.test/app:pull")" = 401 ]'

t "handle + app password: 200" '[ "$(get "alice.test:$APP_PASSWORD" "repository:alice.test/app:pull,push")" = 200 ]'
c=$(claims <"$tmp/out")
t "own namespace: pull and push, subject is the DID" '[ "$(access <<<"$c")" = "[[\"alice.test/app\",\"pull,push\"]]" ] && [ "$(jq -r .sub <<<"$c")" = "$DID" ]'
t "another identity's namespace: pull only" '[ "$(get "alice.test:$APP_PASSWORD" "repository:bob.test/app:pull,push")" = 200 ] && [ "$(claims <"$tmp/out" | access)" = "[[\"bob.test/app\",\"pull\"]]" ]'
t "DID as user name, namespace by DID: push granted" '[ "$(get "$DID:$APP_PASSWORD" "repository:$DID/app:push")" = 200 ] && [ "$(claims <"$tmp/out" | access)" = "[[\"$DID/app\",\"push\"]]" ]'
t "several scopes in one request" '[ "$(curl -s -u "alice.test:$APP_PASSWORD" -G "$base/auth/token" --data-urlencode service=atcr-test --data-urlencode "scope=repository:alice.test/a:pull,push" --data-urlencode "scope=repository:bob.test/b:pull,push" | claims | access)" = "[[\"alice.test/a\",\"pull,push\"],[\"bob.test/b\",\"pull\"]]" ]'
t "the account password works too (createSession accepts it)" '[ "$(get "alice.test:$PASSWORD" "repository:alice.test/app:pull")" = 200 ]'

post=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST "$base/auth/token" -H 'Content-Type: application/x-www-form-urlencoded' \
	--data-urlencode grant_type=password --data-urlencode username=alice.test --data-urlencode "password=$APP_PASSWORD" \
	--data-urlencode service=atcr-test --data-urlencode client_id=containerd --data-urlencode "scope=repository:alice.test/app:pull,push")
t "containerd's POST form: 200 with access_token" '[ "$post" = 200 ] && [ "$(jq -r .access_token "$tmp/out" | cut -c1-3)" = eyJ ]'
post=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST "$base/auth/token" --data "grant_type=password&username=alice.test&password=nope&service=atcr-test")
t "POST with a wrong password: 401" '[ "$post" = 401 ]'
post=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST "$base/auth/token" --data "grant_type=magic&service=atcr-test")
t "POST with an unknown grant_type: 400" '[ "$post" = 400 ]'

pds_logins=$(grep -c "checked with its PDS" "$tmp/appview.log")
for _ in 1 2 3; do get "alice.test:$APP_PASSWORD" "repository:alice.test/app:pull" >/dev/null; done
t "repeated logins are answered from the remembered hash (no createSession)" '[ "$(grep -c "checked with its PDS" "$tmp/appview.log")" = "$pds_logins" ]'
t "the remembered hash does not accept another password" '[ "$(get "alice.test:${APP_PASSWORD}x" "repository:alice.test/app:pull")" = 401 ]'
t "no password in the log" '! grep -qF "$APP_PASSWORD" "$tmp/appview.log" && ! grep -qF "$PASSWORD" "$tmp/appview.log"'
t "the index keeps a salted hash, not the password" '[ "$(sqlite3 "$tmp/appview.db" "select substr(password_hash,1,14) from registry_logins where did=\"$DID\"" 2>/dev/null || python3 -c "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute(\"select substr(password_hash,1,14) from registry_logins where did=?\",(sys.argv[2],)).fetchone()[0])" "$tmp/appview.db" "$DID")" = "pbkdf2-sha256\$" ]'

"$top/scripts/lighttpd-run" stop "$tmp/web" >/dev/null
echo "1..$n"
[ "$fails" -eq 0 ]
