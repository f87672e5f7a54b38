#!/bin/sh
# http.sh - atcr-appview behind a real lighttpd (scripts/lighttpd-run), checked over HTTP. TAP output.
#
#   ATCR_BUILD=/path/to/build tests/integration/http.sh     # from the repo root
#
# APPVIEW_PORT picks the port (15000). Covers /v2/, HEAD, /health, OCI 404s, 405, chunked
# bodies reaching the program (no 411), config precedence env > file > default as seen
# through lighttpd (log.file), `config init` loading back, and a clean stop.
set -u

: "${ATCR_BUILD:?set ATCR_BUILD to the build directory holding cgi/atcr-appview}"
APPVIEW=$(cd "$ATCR_BUILD" && pwd)/cgi/atcr-appview
PORT=${APPVIEW_PORT:-15000}
# The hold vhost of lighttpd.conf listens too: keep it off the default :8080 (a running demo).
export HOLD_PORT=${HOLD_PORT:-15008}
BASE=http://127.0.0.1:$PORT
RUNNER=scripts/lighttpd-run
[ -x "$APPVIEW" ] || { echo "Bail out! no $APPVIEW"; exit 1; }
[ -x "$RUNNER" ] || { echo "Bail out! run from the repo root"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/atcr-http.XXXXXX")
# The AppView opens its index and token key at start-up: keep both in the temporary directory.
export ATCR_DATABASE_PATH="$T/index.db" ATCR_AUTH_KEY_PATH="$T/auth/key.pem"
RUN=$T/run
n=0
failed=0
seen_pids=""

ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@"; then ok 0 "$d"; else ok 1 "$d"; fi
}
diag() { sed 's/^/# /' "$@"; }

start() { # start [ENV=VALUE...]: lighttpd with the AppView; extra env reaches the AppView
	if env APPVIEW_PORT="$PORT" ATCR_APPVIEW_BIN="$APPVIEW" "$@" "$RUNNER" start "$RUN" >"$T/start.out" 2>&1; then
		seen_pids="$seen_pids $(cat "$RUN/lighttpd.pid") $(pgrep -P "$(cat "$RUN/lighttpd.pid")" | tr '\n' ' ')"
		return 0
	fi
	diag "$T/start.out"
	return 1
}
stop() { "$RUNNER" stop "$RUN" >"$T/stop.out" 2>&1 || { diag "$T/stop.out"; return 1; }; }

cleanup() {
	[ -f "$RUN/lighttpd.pid" ] && "$RUNNER" stop "$RUN" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

# fetch NAME CURL-ARGS...: status in $T/NAME.status, headers in $T/NAME.h, body in $T/NAME.b
fetch() {
	name=$1
	shift
	curl -s --max-time 10 -D "$T/$name.h" -o "$T/$name.b" -w '%{http_code}' "$@" >"$T/$name.status" 2>/dev/null
	tr -d '\r' <"$T/$name.h" >"$T/$name.hh"
}
status_is() { [ "$(cat "$T/$1.status")" = "$2" ] || { echo "# $1: status $(cat "$T/$1.status"), want $2"; return 1; }; }
body_is() { [ "$(cat "$T/$1.b")" = "$2" ] || { echo "# $1: body '$(cat "$T/$1.b")', want '$2'"; return 1; }; }
header_is() { grep -qi "^$2: $3\$" "$T/$1.hh" || { echo "# $1: no '$2: $3' in:"; diag "$T/$1.hh"; return 1; }; }
body_has() { grep -q "$2" "$T/$1.b" || { echo "# $1: body lacks $2:"; diag "$T/$1.b"; return 1; }; }
# lines of FILE that log a request for PATH (the AppView logs one line per request)
logged() { if [ -f "$1" ]; then grep -c -- "$2" "$1"; else echo 0; fi; }

# ---- config init, and the template loading back
check "config init writes a template" "$APPVIEW" config init "$T/appview.yaml"
check "config init file has mode 0644" [ "$(stat -c %a "$T/appview.yaml")" = 644 ]
"$APPVIEW" config init "$T/appview.yaml" 2>"$T/init2.err"
rc=$?
check "config init refuses to overwrite" [ $rc -ne 0 ]
check "and says the file exists" grep -q "exists" "$T/init2.err"
"$APPVIEW" config init >"$T/stdout.yaml" 2>/dev/null
check "config init without FILE prints the same template" cmp -s "$T/stdout.yaml" "$T/appview.yaml"
ATCR_CONFIG="$T/appview.yaml" ATCR_DATABASE_PATH="$T/index.db" \
	"$APPVIEW" --config "$T/appview.yaml" migrate >"$T/migrate.out" 2>&1
rc=$?
[ $rc -eq 0 ] || diag "$T/migrate.out"
check "the template loads back (migrate with it)" [ $rc -eq 0 ]
printf 'log:\n  level: [unclosed\n' >"$T/bad.yaml"
"$APPVIEW" --config "$T/bad.yaml" migrate >"$T/bad.out" 2>&1
rc=$?
check "a bad config exits 1" [ $rc -eq 1 ]
check "and the error names the file" grep -q "bad.yaml" "$T/bad.out"

# ---- run 1: the template (every default): log lines go to stderr = lighttpd's error log
if ! start ATCR_CONFIG="$T/appview.yaml"; then
	echo "Bail out! lighttpd did not start"
	exit 1
fi
ERRLOG=$RUN/logs/lighttpd-error.log

# Run 1 keeps every default: the realm and service come from server.base_url (http://127.0.0.1:5000),
# whatever Host the request used.
CFG_BASE=http://127.0.0.1:5000 CFG_SERVICE=127.0.0.1:5000
fetch v2anon "$BASE/v2/"
check "GET /v2/ without a token -> 401" status_is v2anon 401
check "401 carries the Bearer challenge with the token realm" header_is v2anon WWW-Authenticate "Bearer realm=\"$CFG_BASE/auth/token\",service=\"$CFG_SERVICE\""
check "401 is an OCI error UNAUTHORIZED" body_has v2anon '"code":"UNAUTHORIZED"'
fetch tok "$BASE/auth/token?service=$CFG_SERVICE&scope=repository:alice.example.com/app:pull"
TOKEN=$(jq -r .token "$T/tok.b" 2>/dev/null)
check "an anonymous token from /auth/token" [ "${TOKEN:0:3}" = eyJ ]
AUTH="Authorization: Bearer $TOKEN"
fetch badtok -H "Authorization: Bearer ${TOKEN}x" "$BASE/v2/"
check "a token with a broken signature -> 401" status_is badtok 401

fetch v2 -H "$AUTH" "$BASE/v2/"
check "GET /v2/ -> 200" status_is v2 200
check "GET /v2/ body is {}" body_is v2 '{}'
check "GET /v2/ Docker-Distribution-Api-Version" header_is v2 Docker-Distribution-Api-Version registry/2.0
check "GET /v2/ Content-Type application/json" header_is v2 Content-Type application/json

fetch v2b -H "$AUTH" "$BASE/v2"
check "GET /v2 (no slash) -> 200" status_is v2b 200

fetch head -H "$AUTH" -I "$BASE/v2/"
check "HEAD /v2/ -> 200" status_is head 200
check "HEAD /v2/ keeps the GET Content-Length" header_is head Content-Length 2
# curl -I writes the headers to -o: anything after the blank line would be a body
check "HEAD /v2/ has no body" [ -z "$(sed '1,/^\r*$/d' "$T/head.b")" ]

fetch health "$BASE/health?token=s3cr3t-value"
check "GET /health -> 200" status_is health 200
check "GET /health body" body_is health '{"status":"ok"}'

fetch unknown "$BASE/v2/x/y"
check "GET /v2/x/y -> 404" status_is unknown 404
check "404 has an OCI error body" body_has unknown '"errors":\[{"code":"\(NAME_UNKNOWN\|UNSUPPORTED\)"'
check "404 has the API version header" header_is unknown Docker-Distribution-Api-Version registry/2.0

fetch manauth "$BASE/v2/alice.example.com/app/manifests/latest"
check "a repository request without a token -> 401 with its scope" header_is manauth WWW-Authenticate "Bearer realm=\"$CFG_BASE/auth/token\",service=\"$CFG_SERVICE\",scope=\"repository:alice.example.com/app:pull\""
fetch man -H "$AUTH" "$BASE/v2/alice.example.com/app/manifests/latest"
check "unknown repository -> 404 NAME_UNKNOWN" body_has man '"code":"NAME_UNKNOWN"'
check "NAME_UNKNOWN names the repository" body_has man '"name":"alice.example.com/app"'

fetch post -X POST --data '' "$BASE/health"
check "POST /health -> 405" status_is post 405
check "405 has Allow: GET, HEAD" header_is post Allow "GET, HEAD"

fetch put405 -X PUT --data 'x' "$BASE/v2/"
check "PUT /v2/ -> 405 in OCI form" body_has put405 '"code":"UNSUPPORTED"'

fetch nowhere "$BASE/no/such/page"
check "unknown path outside /v2 -> 404" status_is nowhere 404

fetch badq "$BASE/v2/?n=%zz"
check "malformed query -> 400" status_is badq 400

# lighttpd 1.4.69 answers 411 to chunked bodies unless lighttpd.conf buffers them: the AppView's
# own 401 (an OCI body) proves the request reached it.
fetch chput -X PUT -H 'Transfer-Encoding: chunked' --data-binary 'layer bytes' "$BASE/v2/a.test/b/blobs/uploads/u1"
check "chunked PUT reaches the AppView (401, not 411)" body_has chput '"code":"UNAUTHORIZED"'
fetch chpatch -X PATCH -H 'Transfer-Encoding: chunked' --data-binary 'layer bytes' "$BASE/v2/a.test/b/blobs/uploads/u1"
check "chunked PATCH reaches the AppView (401, not 411)" body_has chpatch '"code":"UNAUTHORIZED"'

fetch rid -H 'X-Request-Id: test-req-42' "$BASE/health"
check "a sane X-Request-Id is echoed" header_is rid X-Request-Id test-req-42

# static/ is served by lighttpd itself (the AppView would answer 404 with an X-Request-Id)
fetch static "$BASE/static/README.md"
check "GET /static/README.md -> 200 from lighttpd" status_is static 200
check "static file bytes intact" cmp -s "$T/static.b" static/README.md
check "static file did not go through the AppView" [ -z "$(grep -i '^X-Request-Id:' "$T/static.hh")" ]

sleep 0.3
check "default log.file: request lines in lighttpd's error log" [ "$(logged "$ERRLOG" 'GET /health')" -ge 2 ]
check "request lines carry status (GET /v2/x/y 404)" grep -q 'GET /v2/x/y 404' "$ERRLOG"
check "query strings are not logged" [ "$(logged "$ERRLOG" 's3cr3t')" -eq 0 ]
check "stop (run 1)" stop

# ---- run 2: log.file from the config file
A=$T/from-file.log
B=$T/from-env.log
printf 'log:\n  file: %s\n' "$A" >"$T/file.yaml"
if start ATCR_CONFIG="$T/file.yaml"; then
	fetch h2 "$BASE/health"
	sleep 0.3
	check "file log.file: request line lands in A" [ "$(logged "$A" 'GET /health')" -ge 1 ]
	check "stop (run 2)" stop
else
	ok 1 "lighttpd with log.file from the config file"
fi
count_a=$(logged "$A" 'GET /health')

# ---- run 3: the same file, ATCR_LOG_FILE in the environment wins
if start ATCR_CONFIG="$T/file.yaml" ATCR_LOG_FILE="$B"; then
	fetch h3 "$BASE/health"
	sleep 0.3
	check "env ATCR_LOG_FILE: request line lands in B" [ "$(logged "$B" 'GET /health')" -ge 1 ]
	check "env beats file: nothing new in A" [ "$(logged "$A" 'GET /health')" -eq "$count_a" ]
	check "stop (run 3)" stop
else
	ok 1 "lighttpd with ATCR_LOG_FILE"
fi

# ---- nothing left behind
sleep 0.2
left=""
for p in $seen_pids; do
	kill -0 "$p" 2>/dev/null && left="$left $p"
done
check "no lighttpd or atcr-appview process left (pids:$seen_pids)" [ -z "$left" ]

echo "1..$n"
[ $failed -eq 0 ]
