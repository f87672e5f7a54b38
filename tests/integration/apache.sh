#!/usr/bin/env bash
# apache.sh - ATCR behind Apache 2.4, end to end: the project's apache/atcr.conf, copied as an operator
# copies it and included unchanged (its site values Defined first), in front of `atcr-appview serve` and
# `atcr-hold serve` on unix sockets, with the reference PDS + PLC. Checks the health endpoint, the token
# challenge, Basic and Bearer credentials reaching the programs (CGIPassAuth), a skopeo push and pull
# with identical digests, blob redirects into the hold vhost (X-Sendfile with mod_xsendfile: bytes,
# HEAD, Range), a chunked PATCH without Content-Length, encoded paths handed on as sent, UI pages,
# static files served by Apache itself, OCI error JSON, the other clients of clients.sh (a multi-arch
# index pushed with skopeo --all and one platform pulled; podman pushing a three-layer image with its
# chunked PATCHes and pulling it back; ctr with a containerd of this suite's own; oras when installed),
# access logs without query strings, and that everything started is stopped again. TAP output.
# Ports: ATCR_TEST_APACHE_{APPVIEW,HOLD,PDS,PLC}_PORT (25200 25280 25283 25282). APACHE2 names the
# binary (/usr/sbin/apache2), its modules come from /usr/lib/apache2/modules. Apache never runs as
# root: as root, it runs as www-data and the AppView and the hold run in group www-data with umask 007
# (as atcr.conf tells operators); otherwise all of it runs as the current user.
# ATCR_TEST_KEEP=1 keeps the temporary directory (logs, configs) for a look after the run.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
# shellcheck source=lib/oci-clients.sh
. "$top/tests/integration/lib/oci-clients.sh"
apache2=${APACHE2:-/usr/sbin/apache2}
modules=/usr/lib/apache2/modules
port=${ATCR_TEST_APACHE_APPVIEW_PORT:-25200} hold_port=${ATCR_TEST_APACHE_HOLD_PORT:-25280}
export PDS_PORT=${ATCR_TEST_APACHE_PDS_PORT:-25283} PLC_PORT=${ATCR_TEST_APACHE_PLC_PORT:-25282}
tmp=$(lc_tmpdir atcr-apache) || exit 1
web=$tmp/apache sock=$tmp/sock out=$tmp/out
apache_pid="" appview_pid="" hold_pid="" ctd_pid=""

stop_pid() { # stop_pid PID: SIGTERM, up to 10 s to finish, then SIGKILL; reaps it (our child)
	[ -n "$1" ] || return 0
	if kill -TERM "$1" 2>/dev/null; then
		for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}
stop_all() {
	containerd_stop
	stop_pid "$apache_pid"
	stop_pid "$appview_pid"
	stop_pid "$hold_pid"
	"$top/tests/peers/stop-pds" "$tmp/pds" >/dev/null 2>&1
}
cleanup() {
	stop_all
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then
		echo "# kept $tmp (logs: apache/logs, appview.log, hold/hold.log, containerd/log; out)" >&2
		return
	fi
	rm_tree "$tmp"
}
trap cleanup EXIT
bail() { echo "# $*"; echo "1..$((n + 1))"; echo "not ok $((n + 1)) - $*"; exit 1; }

if ! [ -x "$apache2" ] || ! [ -f "$modules/mod_proxy_fcgi.so" ] || ! [ -f "$modules/mod_xsendfile.so" ]; then
	bail "apache2 and mod_xsendfile are installed (scripts/setup: apache2 libapache2-mod-xsendfile)"
fi
for b in "$ATCR_BUILD/cgi/atcr-appview" "$ATCR_BUILD/hold/atcr-hold"; do
	[ -x "$b" ] || bail "no $b (build first, or set ATCR_BUILD)"
done
for p in "$port" "$hold_port" "$PDS_PORT" "$PLC_PORT"; do
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && bail "port $p on 127.0.0.1 is free (another run of this suite?)"
done

as_apache=() as_service=()
if [ "$(id -u)" = 0 ]; then
	# Apache refuses to serve as root; the sockets and the blob files reach it through the group.
	as_apache=(setpriv --reuid=www-data --regid=www-data --clear-groups)
	as_service=(setpriv --regid=www-data --clear-groups)
	chgrp www-data "$tmp" && chmod 0750 "$tmp"
fi
mkdir -p "$web/logs" "$web/run" "$web/sites" "$sock" "$tmp/hold"
[ "$(id -u)" = 0 ] && chown www-data:www-data "$web/logs" "$web/run" && chgrp www-data "$sock" && chmod 0750 "$sock"

# ---- the reference PDS + PLC and an account
if ! "$top/tests/peers/start-pds" "$tmp/pds" >/dev/null 2>"$tmp/pds.err"; then
	cat "$tmp/pds.err" >&2
	bail "the PDS starts"
fi
# shellcheck disable=SC1091
. "$tmp/pds/pds.env"
eval "$("$top/tests/peers/create-account" "$tmp/pds" alice.test)"
REGISTRY=127.0.0.1:$port BASE=http://127.0.0.1:$port
HOLD_URL=http://localhost:$hold_port HOLD_DID="did:web:localhost%3A$hold_port"

# ---- the hold and the AppView, each on its unix socket
cat >"$tmp/hold.yaml" <<YAML
server:
  public_url: $HOLD_URL
  listen: $sock/hold.sock
  test_mode: true
log:
  file: $tmp/hold/hold.log
database:
  path: $tmp/hold/hold.db
hold:
  owner: $DID
  public: true
  allow_all_crew: true
  key_path: $tmp/hold/signing.key
storage:
  root: $tmp/hold/blobs
identity:
  plc_url: $PLC_URL
  handle_resolver_url: $PDS_URL
YAML
cat >"$tmp/appview.yaml" <<YAML
server:
  base_url: $BASE
  listen: $sock/appview.sock
  test_mode: true
log:
  file: $tmp/appview.log
database:
  path: $tmp/appview.db
auth:
  key_path: $tmp/auth/token-key.pem
identity:
  plc_url: $PLC_URL
  handle_resolver_url: $PDS_URL
registry:
  default_hold_did: "$HOLD_DID"
ui:
  templates_dir: $top/templates
YAML
"$ATCR_BUILD/cgi/atcr-appview" --config "$tmp/appview.yaml" migrate >/dev/null || bail "atcr-appview migrate"
(umask 007 && exec "${as_service[@]}" "$ATCR_BUILD/hold/atcr-hold" --config "$tmp/hold.yaml" serve) \
	</dev/null >>"$tmp/hold.out" 2>&1 &
hold_pid=$!
(umask 007 && exec "${as_service[@]}" "$ATCR_BUILD/cgi/atcr-appview" --config "$tmp/appview.yaml" serve) \
	</dev/null >>"$tmp/appview.out" 2>&1 &
appview_pid=$!
for _ in $(seq 1 100); do [ -S "$sock/hold.sock" ] && [ -S "$sock/appview.sock" ] && break; sleep 0.1; done

# ---- Apache: a minimal server config (Debian's apache2.conf stands here) around the site file
cp "$top/apache/atcr.conf" "$web/sites/atcr.conf"
cp -R "$top/static" "$web/static"
cat >"$web/httpd.conf" <<CONF
ServerRoot "$web"
ServerName 127.0.0.1
PidFile "$web/run/apache2.pid"
DefaultRuntimeDir "$web/run"
Mutex "file:$web/run" default
ErrorLog "$web/logs/error.log"
LogLevel warn
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule alias_module $modules/mod_alias.so
LoadModule env_module $modules/mod_env.so
LoadModule mime_module $modules/mod_mime.so
LoadModule proxy_module $modules/mod_proxy.so
LoadModule proxy_fcgi_module $modules/mod_proxy_fcgi.so
LoadModule xsendfile_module $modules/mod_xsendfile.so
StartServers 1
TypesConfig /etc/mime.types
<Directory />
	AllowOverride None
	Require all denied
</Directory>
# the suite's own log, beside the site's: how each request body came (chunked or with a length)
LogFormat "%m %U %>s te=%{Transfer-Encoding}i cl=%{Content-Length}i \"%{User-Agent}i\"" framing
GlobalLog "$web/logs/framing.log" framing
Define APACHE_LOG_DIR "$web/logs"
Define ATCR_PORT $port
Define ATCR_LISTEN 127.0.0.1:$port
Define ATCR_SOCKET $sock/appview.sock
Define ATCR_STATIC $web/static
Define ATCR_HOLD_PORT $hold_port
Define ATCR_HOLD_LISTEN 127.0.0.1:$hold_port
Define ATCR_HOLD_SOCKET $sock/hold.sock
Define ATCR_HOLD_BLOBS $tmp/hold/blobs
Include "$web/sites/atcr.conf"
CONF
t "apache2 -t accepts apache/atcr.conf" '"${as_apache[@]}" "$apache2" -f "$web/httpd.conf" -t >"$tmp/configtest" 2>&1'
"${as_apache[@]}" "$apache2" -f "$web/httpd.conf" -DFOREGROUND </dev/null >>"$web/logs/stderr.log" 2>&1 &
apache_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/health" && curl -sf -o /dev/null "$HOLD_URL/xrpc/_health" && break; sleep 0.1; done

t "the recorded PIDs are the programs themselves (apache2, atcr-appview, atcr-hold)" \
	'[ "$(ps -o comm= -p "$apache_pid")" = apache2 ] && [ "$(ps -o comm= -p "$appview_pid")" = atcr-appview ] &&
		[ "$(ps -o comm= -p "$hold_pid")" = atcr-hold ]'

# shellcheck source=lib/req.sh
. "$top/tests/integration/lib/req.sh"
token() { # token SCOPE [USER:PASS] -> a registry token
	curl -s ${2:+-u "$2"} -G "$BASE/auth/token" --data-urlencode "service=$REGISTRY" --data-urlencode "scope=$1" |
		jq -r '.token // empty'
}
access() { # access JWT -> its "access" claim, compact JSON
	local p=${1#*.}
	p=${p%%.*}
	p=$(tr '_-' '/+' <<<"$p")
	while [ $((${#p} % 4)) != 0 ]; do p+="="; done
	base64 -d <<<"$p" 2>/dev/null | jq -c '.access'
}
in_log() { # in_log FILE ERE: a line matches (Apache writes its logs as requests finish)
	for _ in $(seq 1 50); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

req health "$BASE/health"
t "GET /health through Apache: 200 from the AppView" '[ "$(st health)" = 200 ] && [[ $(hdr health Server) == Apache* ]] && [ -n "$(hdr health X-Request-Id)" ]'
t "the AppView's Content-Length is kept, not replaced by chunking (ap_trust_cgilike_cl)" \
	'[ "$(hdr health Content-Length)" = "$(wc -c <"$tmp/health.b")" ] && [ -z "$(hdr health Transfer-Encoding)" ]'
req hhealth "$HOLD_URL/xrpc/_health"
t "the hold vhost answers too (xrpc/_health)" '[ "$(st hhealth)" = 200 ] && [[ $(hdr hhealth Server) == Apache* ]]'
req v2 "$BASE/v2/"
t "GET /v2/ without a token: 401 with the realm and service of the base URL" \
	'[ "$(st v2)" = 401 ] && [ "$(hdr v2 WWW-Authenticate)" = "Bearer realm=\"$BASE/auth/token\",service=\"$REGISTRY\"" ]'

name=$HANDLE/busybox
TOK=$(token "repository:$name:pull,push" "$HANDLE:$APP_PASSWORD")
t "/auth/token with Basic credentials: a token that may push (Authorization reached the AppView)" \
	'[ "$(access "$TOK")" = "[{\"type\":\"repository\",\"name\":\"$name\",\"actions\":[\"pull\",\"push\"]}]" ]'
req badpw -u "$HANDLE:wrong-password" -G "$BASE/auth/token" --data-urlencode "service=$REGISTRY" --data-urlencode "scope=repository:$name:push"
t "/auth/token with a wrong password: 401" '[ "$(st badpw)" = 401 ]'
AUTH="Authorization: Bearer $TOK"
req v2ok -H "$AUTH" "$BASE/v2/"
t "GET /v2/ with the Bearer token: 200 {}" '[ "$(st v2ok)" = 200 ] && [ "$(cat "$tmp/v2ok.b")" = "{}" ]'

# ---- skopeo push and pull of a small image
images=$tmp/images
"$top/tests/images/make-images" "$images" >"$tmp/images.txt" 2>"$tmp/images.err"
BB=$(awk '$1 == "busybox" {print $2}' "$tmp/images.txt")
creds="$HANDLE:$APP_PASSWORD" ALICE="$HANDLE:$APP_PASSWORD"
t "skopeo push through Apache: $REGISTRY/$name:1.0" \
	'[ -n "$BB" ] && timeout 300 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$creds" \
		"oci:$images/busybox:latest" "docker://$REGISTRY/$name:1.0" >"$tmp/push.out" 2>&1'
t "skopeo pull back: the same manifest digest and identical blobs" \
	'timeout 300 skopeo copy -q --src-tls-verify=false --src-creds "$creds" "docker://$REGISTRY/$name:1.0" "oci:$tmp/pulled:latest" \
		>"$tmp/pull.out" 2>&1 && [ "$(jq -r ".manifests[0].digest" "$tmp/pulled/index.json")" = "$BB" ] &&
		diff -r "$images/busybox/blobs" "$tmp/pulled/blobs" >/dev/null'
req mhead -I -H "$AUTH" -H "Accept: application/vnd.oci.image.manifest.v1+json" "$BASE/v2/$name/manifests/1.0"
t "HEAD manifest by tag: Docker-Content-Digest and the manifest's Content-Length" \
	'[ "$(st mhead)" = 200 ] && [ "$(hdr mhead Docker-Content-Digest)" = "$BB" ] &&
		[ "$(hdr mhead Content-Length)" = "$(wc -c <"$images/busybox/blobs/sha256/${BB#sha256:}")" ]'

# ---- blobs: the redirect to the hold vhost, where mod_xsendfile sends the file
layer=$(jq -r '.layers[0].digest' "$images/busybox/blobs/sha256/${BB#sha256:}")
lsize=$(wc -c <"$images/busybox/blobs/sha256/${layer#sha256:}")
req bget -H "$AUTH" "$BASE/v2/$name/blobs/$layer"
loc=$(hdr bget Location)
t "blob GET: 307 to the hold vhost's getBlob" '[ "$(st bget)" = 307 ] && [[ $loc == "$HOLD_URL/xrpc/com.atproto.sync.getBlob?"* ]]'
req hblob "$loc"
t "the hold vhost sends the layer: its bytes, Content-Length, the hold's ETag" \
	'[ "$(st hblob)" = 200 ] && [ "sha256:$(sha256sum <"$tmp/hblob.b" | cut -d" " -f1)" = "$layer" ] &&
		[ "$(hdr hblob Content-Length)" = "$lsize" ] && [ "$(hdr hblob ETag)" = "\"$layer\"" ] && [ -z "$(hdr hblob X-Sendfile)" ]'
req hrange -r 100-199 "$loc"
t "a Range request to the hold: 206 and those bytes" \
	'[ "$(st hrange)" = 206 ] && cmp -s "$tmp/hrange.b" <(tail -c +101 "$images/busybox/blobs/sha256/${layer#sha256:}" | head -c 100)'
req bhead -I -H "$AUTH" "$BASE/v2/$name/blobs/$layer"
t "blob HEAD: 200 with the blob's Content-Length" '[ "$(st bhead)" = 200 ] && [ "$(hdr bhead Content-Length)" = "$lsize" ]'

# ---- a chunked PATCH (no Content-Length: Apache passes the body to the end of FastCGI stdin)
head -c 300000 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 2>/dev/null >"$tmp/blob"
D=sha256:$(sha256sum "$tmp/blob" | cut -d' ' -f1)
req post -X POST -d '' -H "$AUTH" "$BASE/v2/$name/blobs/uploads/"
uloc=$(hdr post Location)
t "POST starts an upload: 202 and a Location" '[ "$(st post)" = 202 ] && [[ $uloc == /v2/$name/blobs/uploads/* ]]'
req patch -X PATCH -H "$AUTH" -H "Transfer-Encoding: chunked" -H "Content-Type: application/octet-stream" \
	--data-binary @"$tmp/blob" "$BASE$uloc"
t "a chunked PATCH: 202, Range 0-299999 (Apache saw no Content-Length)" \
	'[ "$(st patch)" = 202 ] && [ "$(hdr patch Range)" = 0-299999 ] &&
		in_log "$web/logs/framing.log" "^PATCH ${uloc%%\?*} 202 te=chunked cl=- \"curl/"'
req put -X PUT -H "$AUTH" -H "Content-Length: 0" "$BASE$uloc?digest=$D"
t "PUT ?digest=: 201 with Docker-Content-Digest" '[ "$(st put)" = 201 ] && [ "$(hdr put Docker-Content-Digest)" = "$D" ]'
t "the chunked blob reads back through both vhosts" \
	'[ "sha256:$(curl -sL -H "$AUTH" "$BASE/v2/$name/blobs/$D" | sha256sum | cut -d" " -f1)" = "$D" ]'

# ---- encoded paths and errors: handed to the AppView as sent, answered in OCI error JSON
req nomf -H "$AUTH" "$BASE/v2/$name/manifests/no-such-tag"
t "an unknown tag: 404 MANIFEST_UNKNOWN as JSON" \
	'[ "$(st nomf)" = 404 ] && [ "$(code nomf)" = MANIFEST_UNKNOWN ] && [[ $(hdr nomf Content-Type) == application/json* ]]'
req enc -H "$AUTH" "$BASE/v2/${name/\//%2F}/manifests/1.0"
t "a name with %2F reaches the AppView (AllowEncodedSlashes NoDecode): OCI error JSON, not Apache's page" \
	'[ "$(st enc)" -ge 400 ] && [ "$(code enc)" != null ] && [ -n "$(code enc)" ] && grep -qF "/v2/${name/\//%2F}/manifests" "$tmp/appview.log"'
req tags -H "$(printf 'Authorization: Bearer %s' "$(token "repository:$DID/busybox:pull" "$creds")")" "$BASE/v2/$DID/busybox/tags/list"
t "a name by DID (colons in the path): tags/list 200 with 1.0" '[ "$(st tags)" = 200 ] && [ "$(jq -c .tags "$tmp/tags.b")" = "[\"1.0\"]" ]'

# ---- the web UI and static files
req home "$BASE/"
t "the home page: 200 HTML naming the pushed repository" \
	'[ "$(st home)" = 200 ] && [[ $(hdr home Content-Type) == text/html* ]] && grep -q "busybox" "$tmp/home.b"'
req repo "$BASE/r/$name"
t "the repository page /r/$name: 200 with the tag and its digest" \
	'[ "$(st repo)" = 200 ] && grep -q "1\.0" "$tmp/repo.b" && grep -qF "${BB:0:19}" "$tmp/repo.b"'
req css "$BASE/static/style.css"
t "/static/style.css served by Apache: the file's bytes, text/css, never asked of the AppView" \
	'[ "$(st css)" = 200 ] && cmp -s "$tmp/css.b" "$top/static/style.css" && [[ $(hdr css Content-Type) == text/css* ]] &&
		[ -z "$(hdr css X-Request-Id)" ] && ! grep -q " /static/" "$tmp/appview.log"'
req nocss "$BASE/static/no-such-file.css"
t "a missing static file: Apache's own 404" '[ "$(st nocss)" = 404 ] && [ -z "$(hdr nocss X-Request-Id)" ]'

# ---- the other clients of clients.sh, through Apache
R=$REGISTRY/$HANDLE
ML=$(awk '$1 == "multilayer" {print $2}' "$tmp/images.txt")
MA=$(awk '$1 == "multiarch" {print $2}' "$tmp/images.txt")
MA_ARM=$(sed -n 's/^multiarch .*, arm64 \(sha256:[0-9a-f]*\))$/\1/p' "$tmp/images.txt")
same_blobs_of() { # same_blobs_of LAYOUT MANIFEST DIR: DIR holds that manifest, its config and layers, as in LAYOUT
	local want got f
	want=$( (echo "${2#sha256:}"; jq -r '.config.digest, .layers[].digest' "$images/$1/blobs/sha256/${2#sha256:}" |
		sed 's/^sha256://') | sort)
	got=$(ls "$3/blobs/sha256" | sort)
	[ -n "$want" ] && [ "$want" = "$got" ] || return 1
	for f in $got; do cmp -s "$3/blobs/sha256/$f" "$images/$1/blobs/sha256/$f" || return 1; done
}
t "skopeo push --all of a multi-arch index: $R/multiarch:1.0" \
	'[ -n "$MA" ] && timeout 300 skopeo copy -q --all --preserve-digests --dest-tls-verify=false --dest-creds "$creds" \
		"oci:$images/multiarch:latest" "docker://$R/multiarch:1.0" >"$out" 2>&1 && [ "$(raw_digest "$R/multiarch:1.0")" = "$MA" ]'
t "skopeo pull of one platform (linux/arm64/v8): its manifest digest, only its blobs, identical" \
	'[ -n "$MA_ARM" ] && timeout 300 skopeo --override-arch arm64 --override-variant v8 copy -q --src-tls-verify=false \
		--src-creds "$creds" "docker://$R/multiarch:1.0" "oci:$tmp/p-arm:latest" >"$out" 2>&1 &&
		[ "$(layout_digest "$tmp/p-arm")" = "$MA_ARM" ] && same_blobs_of multiarch "$MA_ARM" "$tmp/p-arm"'

# podman stores layers uncompressed and compresses them anew on push: blobs this registry has never
# seen, uploaded with POST, chunked PATCH (no Content-Length), PUT.
podman_init
"${P[@]}" pull -q "oci:$images/multilayer:latest" >"$tmp/podman-id" 2>"$out"
ml_id=$(cat "$tmp/podman-id")
t "podman push of the three-layer image: $R/podman:ml" \
	'[ -n "$ml_id" ] && podman_push "$ml_id" "$R/podman:ml" && [ "$(raw_digest "$R/podman:ml")" = "$(cat "$tmp/podman-digest")" ] &&
		[ "$(skopeo inspect --raw --tls-verify=false --creds "$creds" "docker://$R/podman:ml" | jq ".layers | length")" = 3 ]'
pm_digest=$(cat "$tmp/podman-digest" 2>/dev/null)
t "podman's PATCHes went through Apache chunked (no Content-Length): 202" \
	'in_log "$web/logs/framing.log" "^PATCH /v2/$HANDLE/podman/blobs/uploads/[^ ]* 202 te=chunked cl=- \"containers/"'
"${P[@]}" rmi -af >/dev/null 2>&1
t "podman pull $R/podman:ml: the same image id and manifest digest" \
	'timeout 300 "${P[@]}" pull -q --tls-verify=false --creds "$creds" "$R/podman:ml" >"$tmp/podman-id" 2>"$out" &&
		[ "$(cat "$tmp/podman-id")" = "$ml_id" ] && [ -n "$pm_digest" ] &&
		[ "$("${P[@]}" image inspect --format "{{.Digest}}" "$R/podman:ml" 2>"$out")" = "$pm_digest" ]'

# ctr: containerd's token request is a POST form (grant_type=password), and it uploads with a monolithic PUT
t "containerd of this suite's own is up (root, state and socket below $tmp)" 'containerd_start'
ctr_import "$images/multilayer" src/multilayer
t "ctr push of the three-layer image: $R/ctr:1, the digest the layout has" \
	'timeout 300 "${C[@]}" images push --plain-http --user "$creds" "$R/ctr:1" src/multilayer:latest >"$out" 2>&1 &&
		[ "$(raw_digest "$R/ctr:1")" = "$ML" ]'
t "ctr's POST /auth/token went through Apache: 200" 'in_log "$web/logs/atcr-access.log" "\"POST /auth/token HTTP/1.1\" 200 .*containerd/"'
"${C[@]}" images rm --sync src/multilayer:latest >/dev/null 2>&1
t "ctr pull $R/ctr:1 into an emptied content store: the same digest, every layer's bytes" \
	'[ -z "$("${C[@]}" content ls -q)" ] && [ "$(ctr_pull "$R/ctr:1")" = "$ML" ] &&
		ctr_layers_ok "$images/multilayer/blobs/sha256/${ML#sha256:}"'
t "ctr's layers came from the hold vhost (getBlob 200 to containerd)" \
	'in_log "$web/logs/atcr-hold-access.log" "\"GET /xrpc/com.atproto.sync.getBlob HTTP/1.1\" 200 .*containerd/"'

# oras (when installed): an artifact, a signature attached to it (the referrers API), pull
if command -v oras >/dev/null; then
	oras_init
	t "oras push of an artifact: $R/oras:v1, the digest oras reports" \
		'oras_push "$R/oras:v1" && [ "$(raw_digest "$R/oras:v1")" = "$(cat "$tmp/oras-digest")" ]'
	t "oras attach a signature; oras discover lists it (referrers)" \
		'oras_attach "$R/oras:v1" && timeout 60 oras discover "${O[@]}" --format json "$R/oras:v1" 2>"$out" |
			jq -e --arg d "$(cat "$tmp/oras-digest")" "[.manifests[] | select(.digest == \$d)] | length == 1" >/dev/null'
	t "oras pull: the file comes back identical" 'oras_pull "$R/oras:v1"'
fi

# ---- logs
t "the access logs carry the requests but no query strings (tokens, OAuth codes)" \
	'in_log "$web/logs/atcr-access.log" "\"GET /v2/$name/blobs/$layer HTTP/1.1\" 307" &&
		in_log "$web/logs/atcr-hold-access.log" "\"GET /xrpc/com.atproto.sync.getBlob HTTP/1.1\" 206" &&
		! grep -q "?" "$web/logs/atcr-access.log" "$web/logs/atcr-hold-access.log"'

# ---- stop: every process by its PID, and nothing of it remains
ctd_was=$ctd_pid
stop_all
t "stopped: Apache, the AppView, the hold, containerd and the PDS are gone, the ports closed" \
	'! kill -0 "$apache_pid" 2>/dev/null && ! kill -0 "$appview_pid" 2>/dev/null && ! kill -0 "$hold_pid" 2>/dev/null &&
		[ -n "$ctd_was" ] && ! kill -0 "$ctd_was" 2>/dev/null && [ ! -S "$tmp/containerd/containerd.sock" ] &&
		[ ! -f "$tmp/pds/pds.pid" ] && ! curl -s -o /dev/null --max-time 2 "$BASE/health" &&
		! curl -s -o /dev/null --max-time 2 "$HOLD_URL/xrpc/_health" && ! pgrep -f "$web/httpd.conf" >/dev/null'
apache_pid="" appview_pid="" hold_pid=""
echo "1..$n"
[ "$fails" -eq 0 ]
