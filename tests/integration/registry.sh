#!/usr/bin/env bash
# registry.sh - the OCI Distribution API of the AppView, request by request with curl, against the whole
# loopback stack (real PDS + PLC, the hold, lighttpd): token challenges, blob uploads in every shape a
# client uses (chunks with Content-Range, chunked transfer, monolithic POST, PUT with the last chunk),
# out-of-order chunks, wrong digests, cancel, cross-repository mount, blob reads through the hold, and
# pushing into someone else's namespace. Real clients (skopeo, podman, ctr) are in clients.sh. TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-registry-test.XXXXXX)
cleanup() {
	"$top/tests/peers/stop-hold" "$tmp/ph" >/dev/null 2>&1
	"$top/tests/peers/stop-stack" "$tmp/stack" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15060} PDS_PORT=${ATCR_TEST_PDS_PORT:-12693}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-12692} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18060}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19060}
# Small parts, so that every upload below crosses several of them.
export ATCR_REGISTRY_PART_SIZE=1048576
if ! "$top/tests/peers/start-stack" "$tmp/stack" 2>"$tmp/start.err"; then
	cat "$tmp/start.err" >&2
	echo "1..0"
	exit 1
fi
# shellcheck disable=SC1091
. "$tmp/stack/stack.env"
eval "$("$top/tests/peers/create-account" "$tmp/stack/pds" bob.test | sed 's/^/BOB_/')"
base=$APPVIEW_URL
name=$HANDLE/app
service=$REGISTRY

token() { # token USER:PASS SCOPE -> prints the registry token
	curl -s ${1:+-u "$1"} -G "$base/auth/token" --data-urlencode "service=$service" --data-urlencode "scope=$2" | jq -r .token
}
# shellcheck source=lib/req.sh
. "$top/tests/integration/lib/req.sh"

TOK=$(token "$HANDLE:$APP_PASSWORD" "repository:$name:pull,push")
AUTH="Authorization: Bearer $TOK"
t "a push token for the own namespace" '[ "${TOK:0:3}" = eyJ ]'

req base "$base/v2/"
t "GET /v2/ without a token: 401 with the challenge" '[ "$(st base)" = 401 ] && [ "$(hdr base WWW-Authenticate)" = "Bearer realm=\"$base/auth/token\",service=\"$service\"" ]'
req base "$base/v2/" -H "$AUTH"
t "GET /v2/ with the token: 200 {}" '[ "$(st base)" = 200 ] && [ "$(cat "$tmp/base.b")" = "{}" ]'
req noauth -X POST -d '' "$base/v2/$name/blobs/uploads/"
t "POST upload without a token: 401, scope pull,push" '[ "$(st noauth)" = 401 ] && hdr noauth WWW-Authenticate | grep -qF "scope=\"repository:$name:pull,push\""'

# deterministic test data: 3.5 MiB (4 parts of 1 MiB at most)
head -c 3670016 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 2>/dev/null >"$tmp/blob"
head -c 1500000 "$tmp/blob" >"$tmp/c1"
tail -c +1500001 "$tmp/blob" | head -c 1500000 >"$tmp/c2"
tail -c +3000001 "$tmp/blob" >"$tmp/c3"
D=sha256:$(sha256sum "$tmp/blob" | cut -d' ' -f1)

req post -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/"
loc=$(hdr post Location)
t "POST starts a session: 202, Location, Range 0-0, Docker-Upload-UUID" '[ "$(st post)" = 202 ] && [[ $loc == /v2/$name/blobs/uploads/* ]] && [ "$(hdr post Range)" = 0-0 ] && [ -n "$(hdr post Docker-Upload-UUID)" ]'
req status -H "$AUTH" "$base$loc"
t "GET status of a fresh session: 204, Range 0-0" '[ "$(st status)" = 204 ] && [ "$(hdr status Range)" = 0-0 ]'
req p1 -X PATCH -H "$AUTH" -H "Content-Type: application/octet-stream" -H "Content-Range: 0-1499999" --data-binary @"$tmp/c1" "$base$loc"
t "PATCH the first chunk with Content-Range: 202, Range 0-1499999" '[ "$(st p1)" = 202 ] && [ "$(hdr p1 Range)" = 0-1499999 ]'
req bad -X PATCH -H "$AUTH" -H "Content-Range: 0-1499999" --data-binary @"$tmp/c2" "$base$loc"
t "PATCH out of order: 416 RANGE_INVALID with the current Range" '[ "$(st bad)" = 416 ] && [ "$(code bad)" = RANGE_INVALID ] && [ "$(hdr bad Range)" = 0-1499999 ]'
req p2 -X PATCH -H "$AUTH" -H "Transfer-Encoding: chunked" --data-binary @"$tmp/c2" "$base$loc"
t "PATCH with a chunked body: 202, Range 0-2999999" '[ "$(st p2)" = 202 ] && [ "$(hdr p2 Range)" = 0-2999999 ]'
req status -H "$AUTH" "$base$loc"
t "GET status after two chunks: 204, Range 0-2999999" '[ "$(st status)" = 204 ] && [ "$(hdr status Range)" = 0-2999999 ]'
req put -X PUT -H "$AUTH" --data-binary @"$tmp/c3" "$base$loc?digest=$D"
t "PUT ?digest= with the last chunk: 201, Location, Docker-Content-Digest" '[ "$(st put)" = 201 ] && [ "$(hdr put Location)" = "/v2/$name/blobs/$D" ] && [ "$(hdr put Docker-Content-Digest)" = "$D" ]'
req gone -H "$AUTH" "$base$loc"
t "the finished session is gone: 404 BLOB_UPLOAD_UNKNOWN" '[ "$(st gone)" = 404 ] && [ "$(code gone)" = BLOB_UPLOAD_UNKNOWN ]'

req head -I -H "$AUTH" "$base/v2/$name/blobs/$D"
t "HEAD blob: 200, Content-Length, Docker-Content-Digest" '[ "$(st head)" = 200 ] && [ "$(hdr head Content-Length)" = 3670016 ] && [ "$(hdr head Docker-Content-Digest)" = "$D" ]'
req get -H "$AUTH" "$base/v2/$name/blobs/$D"
t "GET blob: 307 to the hold's getBlob" '[ "$(st get)" = 307 ] && [[ "$(hdr get Location)" == "$HOLD_URL/xrpc/com.atproto.sync.getBlob?did="* ]]'
t "GET blob, following the redirect: the same bytes" '[ "$(curl -sL -H "$AUTH" "$base/v2/$name/blobs/$D" | sha256sum | cut -d" " -f1)" = "${D#sha256:}" ]'
t "a Range request through the redirect: 206 and those bytes" '[ "$(curl -sL -r 1000-1999 -o "$tmp/range" -w "%{http_code}" -H "$AUTH" "$base/v2/$name/blobs/$D")" = 206 ] && cmp -s "$tmp/range" <(tail -c +1001 "$tmp/blob" | head -c 1000)'
req unknown -I -H "$AUTH" "$base/v2/$name/blobs/sha256:$(printf '%064d' 0)"
t "HEAD of an unknown blob: 404" '[ "$(st unknown)" = 404 ]'
req unknown -H "$AUTH" "$base/v2/$name/blobs/sha256:$(printf '%064d' 0)"
t "GET of an unknown blob: 404 BLOB_UNKNOWN" '[ "$(st unknown)" = 404 ] && [ "$(code unknown)" = BLOB_UNKNOWN ]'
req del -X DELETE -H "$AUTH" "$base/v2/$name/blobs/$D"
t "DELETE blob: 405 UNSUPPORTED (the hold collects garbage)" '[ "$(st del)" = 405 ] && [ "$(code del)" = UNSUPPORTED ]'

C3D=sha256:$(sha256sum "$tmp/c3" | cut -d' ' -f1)
# monolithic upload: POST ?digest= with the whole body
printf 'small monolithic blob %s' "$D" >"$tmp/mono"
MD=sha256:$(sha256sum "$tmp/mono" | cut -d' ' -f1)
req mono -X POST -H "$AUTH" -H "Content-Type: application/octet-stream" --data-binary @"$tmp/mono" "$base/v2/$name/blobs/uploads/?digest=$MD"
t "monolithic POST ?digest=: 201 and Docker-Content-Digest" '[ "$(st mono)" = 201 ] && [ "$(hdr mono Docker-Content-Digest)" = "$MD" ]'
t "the monolithic blob reads back" 'cmp -s "$tmp/mono" <(curl -sL -H "$AUTH" "$base/v2/$name/blobs/$MD")'

# the whole blob in a chunked final PUT (lighttpd buffers PUT and PATCH bodies for that)
req post -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/"
req chput -X PUT -H "$AUTH" -H "Transfer-Encoding: chunked" --data-binary @"$tmp/c3" "$base$(hdr post Location)?digest=$C3D"
t "a chunked PUT with the whole blob: 201" '[ "$(st chput)" = 201 ] && [ "$(hdr chput Docker-Content-Digest)" = "$C3D" ]'

# sha512: a monolithic upload names its algorithm up front
MD5=sha512:$(sha512sum "$tmp/mono" | cut -d' ' -f1)
req mono5 -X POST -H "$AUTH" --data-binary @"$tmp/mono" "$base/v2/$name/blobs/uploads/?digest=$MD5"
t "monolithic POST with a sha512 digest: 201" '[ "$(st mono5)" = 201 ] && [ "$(hdr mono5 Docker-Content-Digest)" = "$MD5" ]'
t "the sha512 blob reads back" 'cmp -s "$tmp/mono" <(curl -sL -H "$AUTH" "$base/v2/$name/blobs/$MD5")'

# an empty blob (some artifacts have one)
ED=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
req empty -X POST -H "$AUTH" -H "Content-Length: 0" --data-binary '' "$base/v2/$name/blobs/uploads/?digest=$ED"
t "an empty blob: 201" '[ "$(st empty)" = 201 ]'
t "the empty blob is on the hold with length 0" '[ "$(curl -s -I -H "$AUTH" "$base/v2/$name/blobs/$ED" | tr -d "\r" | sed -n "s/^Content-Length: //Ip")" = 0 ]'

# a wrong digest: nothing is kept
req post -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/"
loc=$(hdr post Location)
WD=sha256:$(printf 'not these bytes' | sha256sum | cut -d' ' -f1)
req wrong -X PUT -H "$AUTH" --data-binary @"$tmp/c1" "$base$loc?digest=$WD"
t "PUT with a digest that does not match: 400 DIGEST_INVALID" '[ "$(st wrong)" = 400 ] && [ "$(code wrong)" = DIGEST_INVALID ]'
req wrong2 -I -H "$AUTH" "$base/v2/$name/blobs/$WD"
t "the claimed digest is not on the hold" '[ "$(st wrong2)" = 404 ]'
C1D=sha256:$(sha256sum "$tmp/c1" | cut -d' ' -f1)
req wrong3 -I -H "$AUTH" "$base/v2/$name/blobs/$C1D"
t "nor are the bytes under their real digest" '[ "$(st wrong3)" = 404 ]'
req wrong4 -H "$AUTH" "$base$loc"
t "the failed session is gone" '[ "$(st wrong4)" = 404 ]'
req nodigest -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/"
req nodigest2 -X PUT -H "$AUTH" -d '' "$base$(hdr nodigest Location)"
t "PUT without ?digest=: 400 DIGEST_INVALID" '[ "$(st nodigest2)" = 400 ] && [ "$(code nodigest2)" = DIGEST_INVALID ]'
req baddigest -X PUT -H "$AUTH" -d '' "$base$(hdr nodigest Location)?digest=md5:abc"
t "PUT with a malformed digest: 400 DIGEST_INVALID" '[ "$(st baddigest)" = 400 ] && [ "$(code baddigest)" = DIGEST_INVALID ]'

# cancel
req post -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/"
loc=$(hdr post Location)
req p1 -X PATCH -H "$AUTH" --data-binary @"$tmp/c1" "$base$loc"
req cancel -X DELETE -H "$AUTH" "$base$loc"
t "DELETE the session: 204" '[ "$(st cancel)" = 204 ]'
req cancel2 -H "$AUTH" "$base$loc"
t "then its status is 404 BLOB_UPLOAD_UNKNOWN" '[ "$(st cancel2)" = 404 ] && [ "$(code cancel2)" = BLOB_UPLOAD_UNKNOWN ]'
req unknownid -X PATCH -H "$AUTH" --data-binary x "$base/v2/$name/blobs/uploads/no-such-session"
t "PATCH an unknown session: 404 BLOB_UPLOAD_UNKNOWN" '[ "$(st unknownid)" = 404 ] && [ "$(code unknownid)" = BLOB_UPLOAD_UNKNOWN ]'

# cross-repository mount
TOK2=$(token "$HANDLE:$APP_PASSWORD" "repository:$HANDLE/other:pull,push repository:$name:pull")
req mount -X POST -d '' -H "Authorization: Bearer $TOK2" "$base/v2/$HANDLE/other/blobs/uploads/?mount=$D&from=$name"
t "mount of a blob on the hold: 201 with Location" '[ "$(st mount)" = 201 ] && [ "$(hdr mount Location)" = "/v2/$HANDLE/other/blobs/$D" ]'
req mount2 -X POST -d '' -H "Authorization: Bearer $TOK2" "$base/v2/$HANDLE/other/blobs/uploads/?mount=$WD&from=$name"
t "mount of an unknown blob: a normal 202 session" '[ "$(st mount2)" = 202 ] && [ -n "$(hdr mount2 Location)" ]'

# sessions belong to their owner and name
req other -H "Authorization: Bearer $TOK2" "$base/v2/$HANDLE/other/blobs/uploads/$(hdr post Docker-Upload-UUID)"
t "a session is not reachable under another name" '[ "$(st other)" = 404 ]'

# someone else's namespace
BTOK=$(token "bob.test:$BOB_APP_PASSWORD" "repository:$name:pull,push")
req bob -X POST -d '' -H "Authorization: Bearer $BTOK" "$base/v2/$name/blobs/uploads/"
t "bob pushing into alice's namespace: 403 DENIED" '[ "$(st bob)" = 403 ] && [ "$(code bob)" = DENIED ]'
req bobread -I -H "Authorization: Bearer $BTOK" "$base/v2/$name/blobs/$D"
t "bob may read alice's blob (public hold): 200" '[ "$(st bobread)" = 200 ]'
ATOK=$(token "" "repository:$name:pull,push")
req anon -X POST -d '' -H "Authorization: Bearer $ATOK" "$base/v2/$name/blobs/uploads/"
t "an anonymous token cannot push: 401 insufficient_scope" '[ "$(st anon)" = 401 ] && hdr anon WWW-Authenticate | grep -q "error=\"insufficient_scope\""'
req anonread -I -H "Authorization: Bearer $ATOK" "$base/v2/$name/blobs/$D"
t "an anonymous token reads from a public hold: 200" '[ "$(st anonread)" = 200 ]'
# change one character in the middle of the signature (the last one may only carry padding bits)
sig=${TOK##*.}
c=${sig:20:1}
[ "$c" = A ] && r=B || r=A
req forged -I -H "Authorization: Bearer ${TOK%.*}.${sig:0:20}$r${sig:21}" "$base/v2/$name/blobs/$D"
t "a token with a changed signature: 401" '[ "$(st forged)" = 401 ]'

# two simultaneous first pushes of one manifest (under two tags): one io.atcr.manifest record
cat >"$tmp/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$MD","size":$(stat -c %s "$tmp/mono")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$D","size":3670016}]}
JSON
MFD=sha256:$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
for tag in race1 race2; do
	curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
		--data-binary @"$tmp/manifest.json" "$base/v2/$name/manifests/$tag" >"$tmp/$tag.s" &
done
wait
t "two simultaneous pushes of a new manifest: both 201" '[ "$(cat "$tmp/race1.s" "$tmp/race2.s")" = 201201 ]'
t "and the PDS holds one io.atcr.manifest record for it" '[ "$(curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.manifest&limit=100" | jq --arg d "$MFD" "[.records[] | select(.value.digest == \$d)] | length")" = 1 ]'

# a stranger to the hold: allowAllCrew lets the AppView enrol her (requestCrew) on her first push
eval "$("$top/tests/peers/create-account" "$tmp/stack/pds" carol.test | sed 's/^/CAROL_/')"
CTOK=$(token "carol.test:$CAROL_APP_PASSWORD" "repository:carol.test/app:pull,push")
printf 'carol was here' >"$tmp/carol"
CD=sha256:$(sha256sum "$tmp/carol" | cut -d' ' -f1)
req carol -X POST -H "Authorization: Bearer $CTOK" --data-binary @"$tmp/carol" "$base/v2/carol.test/app/blobs/uploads/?digest=$CD"
t "a new user's first push to an allowAllCrew hold: 201" '[ "$(st carol)" = 201 ]'
t "and she is now crew of the hold" 'curl -s "$HOLD_URL/xrpc/com.atproto.repo.listRecords?repo=$(printf %s "$HOLD_DID" | sed "s/%/%25/g")&collection=io.atcr.hold.crew" | has "$CAROL_DID"'

# a private hold: bob's profile names it as his defaultHold; only bob (its owner) reads its blobs
PH_PORT=$((HOLD_PORT + 1)) PH_FCGI=$((HOLD_FCGI_PORT + 1))
PH_DID="did:web:localhost%3A$PH_PORT"
HOLD_PORT=$PH_PORT HOLD_FCGI_PORT=$PH_FCGI HOLD_OWNER=$BOB_DID HOLD_PUBLIC=false HOLD_ALLOW_ALL_CREW=false PLC_URL=$PLC_URL PDS_URL=$PDS_URL \
	"$top/tests/peers/start-hold" "$tmp/ph" 2>"$tmp/ph.err" || sed 's/^/# /' "$tmp/ph.err"
bob_jwt=$(curl -s -X POST -H 'Content-Type: application/json' "$PDS_URL/xrpc/com.atproto.server.createSession" \
	-d "{\"identifier\":\"$BOB_DID\",\"password\":\"$BOB_PASSWORD\"}" | jq -r .accessJwt)
profile=$(jq -nc --arg h "$PH_DID" --arg d "$BOB_DID" '{repo:$d,collection:"io.atcr.sailor.profile",rkey:"self",
	record:{"$type":"io.atcr.sailor.profile",defaultHold:$h,createdAt:"2026-11-23T00:00:00.000Z"}}')
t "bob's profile names the private hold" '[ "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $bob_jwt" -H "Content-Type: application/json" "$PDS_URL/xrpc/com.atproto.repo.putRecord" -d "$profile")" = 200 ]'
BPUSH=$(token "bob.test:$BOB_APP_PASSWORD" "repository:bob.test/secret:pull,push")
printf 'private bytes of bob' >"$tmp/secret"
SD=sha256:$(sha256sum "$tmp/secret" | cut -d' ' -f1)
req bpush -X POST -H "Authorization: Bearer $BPUSH" --data-binary @"$tmp/secret" "$base/v2/bob.test/secret/blobs/uploads/?digest=$SD"
t "bob's push lands on his defaultHold" '[ "$(st bpush)" = 201 ] && [ -n "$(find "$tmp/ph/blobs" -type f -name "*${SD#sha256:}*")" ]'
t "and not on the AppView's default hold" '[ -z "$(find "$STACK_DIR/hold/blobs" -type f -name "*${SD#sha256:}*")" ]'
req bget -H "Authorization: Bearer $BPUSH" "$base/v2/bob.test/secret/blobs/$SD"
t "bob's GET: 307 with a token in the URL, not cacheable" '[ "$(st bget)" = 307 ] && [[ "$(hdr bget Location)" == "http://localhost:$PH_PORT/"*"&token="* ]] && [ "$(hdr bget Cache-Control)" = "private, no-store" ]'
t "following it gives bob his bytes" 'cmp -s "$tmp/secret" <(curl -sL -H "Authorization: Bearer $BPUSH" "$base/v2/bob.test/secret/blobs/$SD")'
t "the hold's URL without the token: 401" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$(hdr bget Location | sed "s/&token=.*//")")" = 401 ]'
APULL=$(token "$HANDLE:$APP_PASSWORD" "repository:bob.test/secret:pull")
req aread -I -H "Authorization: Bearer $APULL" "$base/v2/bob.test/secret/blobs/$SD"
t "alice (not crew) cannot read it: 403" '[ "$(st aread)" = 403 ]'
NPULL=$(token "" "repository:bob.test/secret:pull")
req nread -H "Authorization: Bearer $NPULL" "$base/v2/bob.test/secret/blobs/$SD"
t "anonymous: 401 with a challenge to log in" '[ "$(st nread)" = 401 ] && hdr nread WWW-Authenticate | grep -q "scope=\"repository:bob.test/secret:pull\""'
"$top/tests/peers/stop-hold" "$tmp/ph"
# (lighttpd writes its access log out at the latest when it stops)
t "the hold's access log has the blob request but not its token" 'grep -q "GET /xrpc/com.atproto.sync.getBlob HTTP" "$tmp/ph/web/logs/lighttpd-access.log" && ! grep -q "token=" "$tmp/ph/web/logs/lighttpd-access.log"'

# concurrent uploads of different blobs
for i in 1 2 3; do
	(
		head -c $((1200000 + i)) /dev/zero | openssl enc -aes-128-ctr -nosalt -K 0f0e0d0c0b0a09080706050403020100 -iv "$i" 2>/dev/null >"$tmp/par$i"
		d=sha256:$(sha256sum "$tmp/par$i" | cut -d' ' -f1)
		l=$(curl -s -D - -o /dev/null -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/" | tr -d '\r' | sed -n 's/^Location: //p')
		curl -s -o /dev/null -X PATCH -H "$AUTH" --data-binary @"$tmp/par$i" "$base$l"
		curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -d '' "$base$l?digest=$d" >"$tmp/par$i.s"
		curl -sL -H "$AUTH" "$base/v2/$name/blobs/$d" | cmp -s - "$tmp/par$i" && echo same >"$tmp/par$i.same"
	) &
done
wait
t "three concurrent uploads: all 201 and all read back" '[ "$(cat "$tmp"/par?.s)" = 201201201 ] && [ "$(cat "$tmp"/par?.same | wc -l)" = 3 ]' ||
	{ echo "statuses: $(cat "$tmp"/par?.s), read back: $(cat "$tmp"/par?.same 2>/dev/null | wc -l)"
	  grep -E "ERROR|WARN" "$tmp/stack/appview.log" | tail -n 5; } | sed 's/^/# /'

# abandoned sessions: expire-uploads aborts them on the hold and forgets them
req post -X POST -d '' -H "$AUTH" "$base/v2/$name/blobs/uploads/"
loc=$(hdr post Location)
req p1 -X PATCH -H "$AUTH" --data-binary @"$tmp/c1" "$base$loc"
appview() { "$ATCR_BUILD/cgi/atcr-appview" --config "$ATCR_CONFIG" "$@"; }
appview expire-uploads abc >/dev/null 2>&1
rc=$?
t "expire-uploads refuses a malformed age (exit 2)" '[ "$rc" = 2 ]'
t "expire-uploads 3600 keeps a fresh session" 'appview expire-uploads 3600 | grep -q "^expired 0 " && [ "$(curl -s -o /dev/null -w "%{http_code}" -H "$AUTH" "$base$loc")" = 204 ]'
sleep 1
t "the hold has parts of open sessions" '[ -n "$(find "$STACK_DIR/hold/blobs/uploads" -type f)" ]'
t "expire-uploads 0 aborts every open session on the hold" 'appview expire-uploads 0 | grep -Eq "^expired ([1-9][0-9]*) upload sessions \(\1 aborted on their holds\)"'
t "then the session is gone" '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "$AUTH" "$base$loc")" = 404 ]'
t "and the hold keeps no part of any of them" '[ -z "$(find "$STACK_DIR/hold/blobs/uploads" -type f)" ]'

# several AppView processes (lighttpd's max-procs 4) pushing one new manifest at once: one record
"$top/scripts/lighttpd-run" stop "$tmp/stack/lighttpd" >/dev/null
HOLD_FCGI=127.0.0.1:$HOLD_FCGI_PORT HOLD_SENDFILE_ROOT="$tmp/stack/hold/blobs" APPVIEW_PROCS=4 ATCR_CONFIG=$ATCR_CONFIG \
	ATCR_APPVIEW_BIN="$ATCR_BUILD/cgi/atcr-appview" "$top/scripts/lighttpd-run" start "$tmp/stack/lighttpd" >/dev/null
procs=$(pgrep -c -P "$(cat "$tmp/stack/lighttpd/lighttpd.pid")" -f atcr-appview)
t "lighttpd runs 4 AppView processes ($procs)" '[ "$procs" = 4 ]'
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"created":"%s"}' "$(date -u +%FT%T.%NZ)" >"$tmp/config-mp"
CMP=sha256:$(sha256sum "$tmp/config-mp" | cut -d' ' -f1)
req cmp -X POST -H "$AUTH" --data-binary @"$tmp/config-mp" "$base/v2/$name/blobs/uploads/?digest=$CMP"
cat >"$tmp/manifest-mp.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CMP","size":$(stat -c %s "$tmp/config-mp")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$D","size":3670016}]}
JSON
MPD=sha256:$(sha256sum "$tmp/manifest-mp.json" | cut -d' ' -f1)
for i in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
		--data-binary @"$tmp/manifest-mp.json" "$base/v2/$name/manifests/mp$i" >"$tmp/mp$i.s" &
done
wait
t "8 simultaneous pushes of a new manifest across the processes ($(st cmp) for its config): all 201" \
	'[ "$(cat "$tmp"/mp?.s)" = 201201201201201201201201 ]'
records=$(curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.manifest&limit=100" | jq --arg d "$MPD" "[.records[] | select(.value.digest == \$d)] | length")
t "and the PDS holds one io.atcr.manifest record for it ($records)" '[ "$records" = 1 ]'
t "every tag names that record" '[ "$(curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.tag&limit=100" |
	jq -r "[.records[] | select(.value.tag | startswith(\"mp\")) | .value.manifest] | unique | length")" = 1 ]'

t "the AppView log has no password or token" '! grep -qF "$APP_PASSWORD" "$tmp/stack/appview.log" && ! grep -qF "$TOK" "$tmp/stack/appview.log"'

echo "1..$n"
[ "$fails" -eq 0 ]
