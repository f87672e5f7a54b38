#!/usr/bin/env bash
# hold.sh - atcr-hold behind lighttpd, against the real PDS + PLC: service tokens minted by the PDS for
# four accounts through every cell of the permission matrix (private, then public hold), forged and
# wrong tokens, multipart upload flows, range reads, crafted inputs, and kill -9 mid-upload. TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
hold="$build/hold/atcr-hold"
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-hold-test.XXXXXX)
hold_pid=""
cleanup() {
	[ -n "$hold_pid" ] && kill "$hold_pid" 2>/dev/null && wait "$hold_pid" 2>/dev/null
	[ -f "$tmp/web/lighttpd.pid" ] && "$top/scripts/lighttpd-run" stop "$tmp/web" >/dev/null 2>&1
	"$top/tests/peers/stop-pds" "$tmp/pds"
	rm -rf "$tmp"
}
trap cleanup EXIT

export PDS_PORT=${ATCR_TEST_PDS_PORT:-12583} PLC_PORT=${ATCR_TEST_PLC_PORT:-12582}
HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18080}
FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19080}
HOLD_URL="http://localhost:$HOLD_PORT"
HOLD_DID="did:web:localhost%3A$HOLD_PORT"
HOLD_DID_Q="did:web:localhost%253A$HOLD_PORT" # as a query parameter value

"$top/tests/peers/start-pds" "$tmp/pds" 2>"$tmp/pds-start.err" || { cat "$tmp/pds-start.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/pds/pds.env"
for who in alice bob carol dave; do
	"$top/tests/peers/create-account" "$tmp/pds" "$who.test" | sed "s/^/${who^^}_/" >"$tmp/$who.env"
	# shellcheck disable=SC1090
	. "$tmp/$who.env"
done
t "four accounts on the PDS" '[ -n "$ALICE_DID" ] && [ -n "$DAVE_DID" ]'

session() { # session HANDLE APP_PASSWORD -> access token
	curl -s -X POST "$PDS_URL/xrpc/com.atproto.server.createSession" -H 'Content-Type: application/json' \
		-d "{\"identifier\":\"$1\",\"password\":\"$2\"}" | jq -r .accessJwt
}
ALICE_AT=$(session alice.test "$ALICE_APP_PASSWORD")
BOB_AT=$(session bob.test "$BOB_APP_PASSWORD")
CAROL_AT=$(session carol.test "$CAROL_APP_PASSWORD")
DAVE_AT=$(session dave.test "$DAVE_APP_PASSWORD")
svc() { # svc ACCESS_TOKEN LXM [AUD] [EXP] -> a service token from the PDS
	curl -s -G "$PDS_URL/xrpc/com.atproto.server.getServiceAuth" -H "Authorization: Bearer $1" \
		--data-urlencode "aud=${3:-$HOLD_DID}" --data-urlencode "lxm=$2" ${4:+--data-urlencode "exp=$4"} |
		jq -r .token
}
# A short-lived token, used at the very end to check expiry.
SHORT=$(svc "$DAVE_AT" io.atcr.hold.initiateUpload "$HOLD_DID" $(($(date +%s) + 2)))
jwt_part() { # jwt_part TOKEN N -> the decoded JSON of part N (1 header, 2 claims)
	python3 -c 'import sys,base64;p=sys.argv[1].split(".")[int(sys.argv[2])-1];print(base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode())' "$1" "$2"
}
t "getServiceAuth mints tokens for the hold's did:web" '[ "$(jwt_part "$SHORT" 1 | jq -r .alg)" = ES256K ]'

# ---- the hold, behind lighttpd
export HOLD_SERVER_PUBLIC_URL=$HOLD_URL HOLD_SERVER_LISTEN=127.0.0.1:$FCGI_PORT HOLD_SERVER_TEST_MODE=true
export HOLD_DATABASE_PATH=$tmp/hold/hold.db HOLD_STORAGE_ROOT=$tmp/hold/blobs HOLD_HOLD_KEY_PATH=$tmp/hold/signing.key
export HOLD_HOLD_OWNER=$ALICE_DID HOLD_IDENTITY_PLC_URL=$PLC_URL HOLD_IDENTITY_HANDLE_RESOLVER_URL=$PDS_URL
export HOLD_LOG_FILE=$tmp/hold/hold.log HOLD_STORAGE_MAX_PART_SIZE=67108864
mkdir -p "$tmp/hold"
start_hold() {
	"$hold" serve 2>>"$tmp/hold/stderr" &
	hold_pid=$!
	for _ in $(seq 1 50); do
		curl -s -o /dev/null "$HOLD_URL/xrpc/_health" && [ "$(curl -s -o /dev/null -w '%{http_code}' "$HOLD_URL/xrpc/_health")" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}
stop_hold() { kill -TERM "$hold_pid"; wait "$hold_pid"; local rc=$?; hold_pid=""; return $rc; }
# lighttpd also spawns the AppView (its vhost is unused here): keep its files in the test directory.
export ATCR_DATABASE_PATH=$tmp/appview.db ATCR_AUTH_KEY_PATH=$tmp/auth/key.pem
HOLD_PORT=$HOLD_PORT HOLD_FCGI=127.0.0.1:$FCGI_PORT HOLD_SENDFILE_ROOT=$tmp/hold/blobs APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15080} \
	ATCR_APPVIEW_BIN="$build/cgi/atcr-appview" "$top/scripts/lighttpd-run" start "$tmp/web" >/dev/null
start_hold
started=$?
t "atcr-hold serve answers /xrpc/_health through lighttpd" '[ $started -eq 0 ]'
ls -l "$tmp/hold/signing.key" >"$tmp/keymode"
t "signing key created with mode 0600" 'grep -q "^-rw-------" "$tmp/keymode"'

doc=$(curl -s "$HOLD_URL/.well-known/did.json")
t "did.json: id is the did:web" '[ "$(jq -r .id <<<"$doc")" = "$HOLD_DID" ]'
t "did.json: #atproto Multikey (K-256)" 'jq -r ".verificationMethod[0].publicKeyMultibase" <<<"$doc" | grep -q "^zQ3sh"'
t "did.json: #atproto_pds service is the hold" '[ "$(jq -r ".service[] | select(.id==\"#atproto_pds\") | .serviceEndpoint" <<<"$doc")" = "$HOLD_URL" ]'
t "atproto-did" '[ "$(curl -s "$HOLD_URL/.well-known/atproto-did")" = "$HOLD_DID" ]'
t "the hold's did:web resolves with our identity code" 'ATCR_SERVER_TEST_MODE=true "$build/cgi/atcr-appview" resolve "$HOLD_DID" 2>&1 | grep -q "pds: $HOLD_URL"'

cap=$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.getRecord?repo=$HOLD_DID_Q&collection=io.atcr.hold.captain&rkey=self")
t "captain record: owner and policy" '[ "$(jq -r "[.value.owner,.value.public,.value.allowAllCrew]|join(\" \")" <<<"$cap")" = "$ALICE_DID false false" ]'
t "captain record has a dag-cbor CID" 'jq -r .cid <<<"$cap" | grep -q "^bafyrei"'
crew=$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.listRecords?repo=$HOLD_DID_Q&collection=io.atcr.hold.crew")
t "the owner is the first crew member (crew:admin)" '[ "$(jq -r ".records[0].value | [.member, (.permissions|index(\"crew:admin\")|tostring)] | join(\" \")" <<<"$crew")" = "$ALICE_DID 2" ]'
desc=$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.describeRepo?repo=$HOLD_DID_Q")
t "describeRepo lists the collections" '[ "$(jq -c .collections <<<"$desc")" = "[\"io.atcr.hold.captain\",\"io.atcr.hold.crew\"]" ]'
t "getRecord of a missing record: RecordNotFound" '[ "$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.getRecord?repo=$HOLD_DID_Q&collection=io.atcr.hold.crew&rkey=nobody" | jq -r .error)" = RecordNotFound ]'
t "another repo: RepoNotFound" '[ "$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.getRecord?repo=$ALICE_DID&collection=io.atcr.hold.captain&rkey=self" | jq -r .error)" = RepoNotFound ]'
t "unknown method: 501 MethodNotImplemented" '[ "$(curl -s -w " %{http_code}" "$HOLD_URL/xrpc/io.atcr.hold.nothing")" = "{\"error\":\"MethodNotImplemented\",\"message\":\"this hold does not implement that method\"} 501" ]'

# crew: carol reads, dave writes (the CLI runs beside the daemon on the same database)
"$hold" crew add "$CAROL_DID" --role read --perm blob:read >/dev/null
"$hold" crew add "$DAVE_DID" >/dev/null
t "crew add via the CLI" '[ "$("$hold" crew ls | wc -l)" = 3 ]'

# ---- helpers for XRPC calls
post() { # post TOKEN NSID JSON -> "<status> <error>" ; body in ${OUT:-$tmp/out}
	local o=${OUT:-$tmp/out}
	curl -s -o "$o" -w '%{http_code}' -X POST "$HOLD_URL/xrpc/$2" ${1:+-H "Authorization: Bearer $1"} \
		-H 'Content-Type: application/json' --data-binary "$3"
	printf ' %s' "$(jq -r '.error // empty' "$o" 2>/dev/null)"
}
getblob() { # getblob TOKEN DIGEST [curl args...] -> status; body in $tmp/blob
	local tok=$1 d=$2; shift 2
	curl -s -o "$tmp/blob" -w '%{http_code}' ${tok:+-H "Authorization: Bearer $tok"} "$@" \
		"$HOLD_URL/xrpc/com.atproto.sync.getBlob?did=$HOLD_DID_Q&cid=$d"
}
digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
# upload FILE TOKEN_OWNER PARTS -> uploads FILE in PARTS parts with fresh tokens; prints the final status line
upload() {
	local file=$1 at=$2 parts=$3 d size chunk i id etags="" tok w
	w=$(mktemp -d -p "$tmp")
	local OUT=$w/out
	d=$(digest_of "$file")
	size=$(stat -c %s "$file")
	chunk=$(((size + parts - 1) / parts))
	tok=$(svc "$at" io.atcr.hold.initiateUpload)
	post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"$d\"}" >/dev/null
	id=$(jq -r .uploadId "$OUT")
	tok=$(svc "$at" io.atcr.hold.uploadPart)
	for i in $(seq 1 "$parts"); do
		dd if="$file" of="$w/part" bs="$chunk" skip=$((i - 1)) count=1 status=none
		curl -s -X PUT "$HOLD_URL/xrpc/io.atcr.hold.uploadPart" -H "Authorization: Bearer $tok" \
			-H "X-Upload-Id: $id" -H "X-Part-Number: $i" --data-binary @"$w/part" >"$w/part.out"
		etags="$etags{\"partNumber\":$i,\"etag\":\"$(jq -r .etag "$w/part.out")\"},"
	done
	tok=$(svc "$at" io.atcr.hold.completeUpload)
	post "$tok" io.atcr.hold.completeUpload "{\"uploadId\":\"$id\",\"digest\":\"$d\",\"parts\":[${etags%,}]}"
}

head -c 1048576 /dev/urandom >"$tmp/small"
SMALL=$(digest_of "$tmp/small")
t "owner uploads a blob in one part" '[ "$(upload "$tmp/small" "$ALICE_AT" 1)" = "200 " ]'

# ---- private hold: the matrix
read_tok() { svc "$1" com.atproto.sync.getBlob; }
t "private: anonymous read refused (401)" '[ "$(getblob "" "$SMALL")" = 401 ]'
t "private: stranger read refused (403)" '[ "$(getblob "$(read_tok "$BOB_AT")" "$SMALL")" = 403 ]'
t "private: crew blob:read reads" '[ "$(getblob "$(read_tok "$CAROL_AT")" "$SMALL")" = 200 ] && cmp -s "$tmp/blob" "$tmp/small"'
t "private: crew blob:write reads" '[ "$(getblob "$(read_tok "$DAVE_AT")" "$SMALL")" = 200 ]'
t "private: captain reads" '[ "$(getblob "$(read_tok "$ALICE_AT")" "$SMALL")" = 200 ]'
init() { post "$1" io.atcr.hold.initiateUpload "{\"digest\":\"$SMALL\"}"; }
t "private: anonymous write refused" '[ "$(init "")" = "401 AuthRequired" ]'
t "private: stranger write refused" '[ "$(init "$(svc "$BOB_AT" io.atcr.hold.initiateUpload)")" = "403 Forbidden" ]'
t "private: crew blob:read cannot write" '[ "$(init "$(svc "$CAROL_AT" io.atcr.hold.initiateUpload)")" = "403 Forbidden" ]'
t "private: crew blob:write writes" '[ "$(init "$(svc "$DAVE_AT" io.atcr.hold.initiateUpload)")" = "200 " ]'
t "private: captain writes" '[ "$(init "$(svc "$ALICE_AT" io.atcr.hold.initiateUpload)")" = "200 " ]'
t "private: requestCrew refused without allowAllCrew" '[ "$(post "$(svc "$BOB_AT" io.atcr.hold.requestCrew)" io.atcr.hold.requestCrew "{}")" = "403 RegistrationDisabled" ]'
BOBKEY=$(python3 -c "import hashlib,base64,sys;print(base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()[:16]).decode().lower().rstrip('='))" "$BOB_DID")
crewrec() { echo "{\"repo\":\"$HOLD_DID\",\"collection\":\"io.atcr.hold.crew\",\"rkey\":\"$BOBKEY\",\"record\":{\"\$type\":\"io.atcr.hold.crew\",\"member\":\"$BOB_DID\",\"role\":\"read\",\"permissions\":[\"blob:read\"],\"addedAt\":\"2026-11-23T08:00:00.000Z\"}}"; }
t "crew management: blob:write crew cannot add crew" '[ "$(post "$(svc "$DAVE_AT" com.atproto.repo.putRecord)" com.atproto.repo.putRecord "$(crewrec)")" = "403 Forbidden" ]'
t "crew management: the captain adds bob (blob:read)" '[ "$(post "$(svc "$ALICE_AT" com.atproto.repo.putRecord)" com.atproto.repo.putRecord "$(crewrec)")" = "200 " ]'
t "private: bob reads now" '[ "$(getblob "$(read_tok "$BOB_AT")" "$SMALL")" = 200 ]'
t "crew management: the captain removes bob" '[ "$(post "$(svc "$ALICE_AT" com.atproto.repo.deleteRecord)" com.atproto.repo.deleteRecord "{\"repo\":\"$HOLD_DID\",\"collection\":\"io.atcr.hold.crew\",\"rkey\":\"$BOBKEY\"}")" = "200 " ]'
t "private: bob is refused again" '[ "$(getblob "$(read_tok "$BOB_AT")" "$SMALL")" = 403 ]'

# ---- bad tokens
good=$(svc "$DAVE_AT" io.atcr.hold.initiateUpload)
forged=$(python3 - "$good" <<'PY'
import sys, base64, json
h, p, s = sys.argv[1].split('.')
pad = lambda x: x + '=' * (-len(x) % 4)
c = json.loads(base64.urlsafe_b64decode(pad(p)))
c['iss'] = c['iss']  # same claims, one byte changed below
raw = bytearray(base64.urlsafe_b64decode(pad(p)))
raw[-2] ^= 1
print(h + '.' + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=') + '.' + s)
PY
)
t "forged token (payload byte changed) refused" '[ "$(init "$forged")" = "401 InvalidToken" ]'
highs=$(python3 - "$good" <<'PY'
import sys, base64
h, p, s = sys.argv[1].split('.')
sig = base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
r, sv = sig[:32], int.from_bytes(sig[32:], 'big')
print(h + '.' + p + '.' + base64.urlsafe_b64encode(r + (n - sv).to_bytes(32, 'big')).decode().rstrip('='))
PY
)
t "high-S form of a valid signature refused" '[ "$(init "$highs")" = "401 InvalidToken" ]'
none="$(printf '{"alg":"none","typ":"JWT"}' | base64 -w0 | tr '+/' '-_' | tr -d =).$(cut -d. -f2 <<<"$good")."
t "alg none refused" '[ "$(init "$none")" = "401 InvalidToken" ]'
t "token for another audience refused" '[ "$(init "$(svc "$DAVE_AT" io.atcr.hold.initiateUpload did:web:localhost%3A9999)")" = "401 InvalidToken" ]'
t "token for another method (lxm) refused" '[ "$(init "$(svc "$DAVE_AT" io.atcr.hold.abortUpload)")" = "401 InvalidToken" ]'
t "a token is reusable until it expires" '[ "$(init "$good")" = "200 " ] && [ "$(init "$good")" = "200 " ]'

# ---- upload flows (dave, blob:write)
head -c $((100 * 1024 * 1024)) /dev/urandom >"$tmp/big"
BIG=$(digest_of "$tmp/big")
t "100 MiB in 4 parts" '[ "$(upload "$tmp/big" "$DAVE_AT" 4)" = "200 " ]'
rt=$(read_tok "$DAVE_AT")
t "getBlob returns it byte-identical" '[ "$(getblob "$rt" "$BIG")" = 200 ] && cmp -s "$tmp/blob" "$tmp/big"'
hdr=$(curl -s -I -H "Authorization: Bearer $rt" "$HOLD_URL/xrpc/com.atproto.sync.getBlob?did=$HOLD_DID_Q&cid=$BIG" | tr -d '\r')
t "HEAD: exact Content-Length" 'grep -qi "^Content-Length: 104857600$" <<<"$hdr"'
t "HEAD: Docker-Content-Digest" 'grep -qi "^Docker-Content-Digest: $BIG$" <<<"$hdr"'
t "HEAD: ETag" 'grep -qi "^ETag: \"$BIG\"$" <<<"$hdr"'
t "Range read: 206 and the right bytes" '[ "$(getblob "$rt" "$BIG" -r 1000-1999)" = 206 ] && cmp -s "$tmp/blob" <(dd if="$tmp/big" bs=1000 skip=1 count=1 status=none)'
t "Range beyond the end: 416" '[ "$(getblob "$rt" "$BIG" -r 104857600-104857700)" = 416 ]'
t "unknown blob: 404 BlobNotFound" '[ "$(getblob "$rt" "sha256:$(printf %064d 0)")" = 404 ] && [ "$(jq -r .error "$tmp/blob")" = BlobNotFound ]'
t "crafted digest refused" '[ "$(getblob "$rt" "sha256:..%2F..%2F..%2Fetc%2Fpasswd")" = 400 ]'
head -c 300000 /dev/urandom >"$tmp/many"
t "many parts (7)" '[ "$(upload "$tmp/many" "$DAVE_AT" 7)" = "200 " ]'

# wrong digest: the bytes do not match, nothing is kept
cp "$tmp/small" "$tmp/wrong"
printf x >>"$tmp/wrong"
tok=$(svc "$DAVE_AT" io.atcr.hold.initiateUpload)
WRONGD="sha256:$(printf %064d 7)"
post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"$WRONGD\"}" >/dev/null
id=$(jq -r .uploadId "$tmp/out")
ptok=$(svc "$DAVE_AT" io.atcr.hold.uploadPart)
etag=$(curl -s -X PUT "$HOLD_URL/xrpc/io.atcr.hold.uploadPart" -H "Authorization: Bearer $ptok" -H "X-Upload-Id: $id" -H "X-Part-Number: 1" --data-binary @"$tmp/wrong" | jq -r .etag)
ctok=$(svc "$DAVE_AT" io.atcr.hold.completeUpload)
t "wrong digest: 400 InvalidDigest" '[ "$(post "$ctok" io.atcr.hold.completeUpload "{\"uploadId\":\"$id\",\"digest\":\"$WRONGD\",\"parts\":[{\"partNumber\":1,\"etag\":\"$etag\"}]}")" = "400 InvalidDigest" ]'
t "wrong digest: no blob under it" '[ "$(getblob "$(read_tok "$DAVE_AT")" "$WRONGD")" = 404 ]'
t "wrong digest: the upload is gone" '[ "$(post "$ctok" io.atcr.hold.completeUpload "{\"uploadId\":\"$id\",\"digest\":\"$WRONGD\",\"parts\":[{\"partNumber\":1,\"etag\":\"$etag\"}]}")" = "404 InvalidUploadId" ]'
# missing part
post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"$SMALL\"}" >/dev/null
id=$(jq -r .uploadId "$tmp/out")
etag=$(curl -s -X PUT "$HOLD_URL/xrpc/io.atcr.hold.uploadPart" -H "Authorization: Bearer $ptok" -H "X-Upload-Id: $id" -H "X-Part-Number: 1" --data-binary @"$tmp/small" | jq -r .etag)
t "missing part: 400 MissingParts" '[ "$(post "$ctok" io.atcr.hold.completeUpload "{\"uploadId\":\"$id\",\"digest\":\"$SMALL\",\"parts\":[{\"partNumber\":1,\"etag\":\"$etag\"},{\"partNumber\":2,\"etag\":\"$etag\"}]}")" = "400 MissingParts" ]'
atok=$(svc "$DAVE_AT" io.atcr.hold.abortUpload)
t "abortUpload" '[ "$(post "$atok" io.atcr.hold.abortUpload "{\"uploadId\":\"$id\"}")" = "200 " ] && [ "$(jq -r .status "$tmp/out")" = aborted ]'
t "abort again: InvalidUploadId" '[ "$(post "$atok" io.atcr.hold.abortUpload "{\"uploadId\":\"$id\"}")" = "404 InvalidUploadId" ]'
t "crafted upload id refused" '[ "$(curl -s -o /dev/null -w %{http_code} -X PUT "$HOLD_URL/xrpc/io.atcr.hold.uploadPart" -H "Authorization: Bearer $ptok" -H "X-Upload-Id: ../../../../tmp/x" -H "X-Part-Number: 1" --data-binary x)" = 404 ]'
t "initiate with an empty digest refused" '[ "$(post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"\"}")" = "400 InvalidDigest" ]'
post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"../../../etc/passwd\"}" >/dev/null
id=$(jq -r .uploadId "$tmp/out")
etag=$(curl -s -X PUT "$HOLD_URL/xrpc/io.atcr.hold.uploadPart" -H "Authorization: Bearer $ptok" -H "X-Upload-Id: $id" -H "X-Part-Number: 1" --data-binary @"$tmp/small" | jq -r .etag)
t "a path-like placeholder at initiate stays a placeholder; a crafted digest at completion is refused" '[ "$(post "$ctok" io.atcr.hold.completeUpload "{\"uploadId\":\"$id\",\"digest\":\"sha256:../../../etc/passwd\",\"parts\":[{\"partNumber\":1,\"etag\":\"$etag\"}]}")" = "400 InvalidDigest" ] && [ ! -e "$tmp/hold/etc" ]'
t "completion with the real digest then works (initiate named a placeholder)" '[ "$(post "$ctok" io.atcr.hold.completeUpload "{\"uploadId\":\"$id\",\"digest\":\"$SMALL\",\"parts\":[{\"partNumber\":1,\"etag\":\"$etag\"}]}")" = "200 " ]'
purl=$(post "$(svc "$DAVE_AT" io.atcr.hold.getPartUploadUrl)" io.atcr.hold.getPartUploadUrl "{\"uploadId\":\"$(printf %032d 1)\",\"partNumber\":3}" >/dev/null; cat "$tmp/out")
t "getPartUploadUrl points at the hold's own uploadPart" '[ "$(jq -r "[.url,.method,.headers[\"X-Part-Number\"]]|join(\" \")" <<<"$purl")" = "$HOLD_URL/xrpc/io.atcr.hold.uploadPart PUT 3" ]'

# concurrent uploads of one digest
head -c 5000000 /dev/urandom >"$tmp/same"
SAME=$(digest_of "$tmp/same")
pids=""
for i in 1 2 3; do
	upload "$tmp/same" "$DAVE_AT" 2 >"$tmp/conc.$i" &
	pids="$pids $!"
done
wait $pids
t "three concurrent uploads of one digest all succeed" '[ "$(cat "$tmp/conc.1" "$tmp/conc.2" "$tmp/conc.3")" = "200 200 200 " ]'
t "and the blob is whole" '[ "$(getblob "$(read_tok "$DAVE_AT")" "$SAME")" = 200 ] && cmp -s "$tmp/blob" "$tmp/same"'

# ---- notifyManifest, layer records, quota
man="{\"repository\":\"app\",\"userDid\":\"$DAVE_DID\",\"manifestDigest\":\"$SAME\",\"tag\":\"1.0\",\"manifest\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"$SMALL\",\"size\":1048576},\"layers\":[{\"digest\":\"$BIG\",\"size\":104857600,\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\"},{\"digest\":\"$SAME\",\"size\":5000000,\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\"}]}}"
ntok=$(svc "$DAVE_AT" io.atcr.hold.notifyManifest)
t "notifyManifest push: 2 layer records" '[ "$(post "$ntok" io.atcr.hold.notifyManifest "$man")" = "200 " ] && [ "$(jq -r .layersCreated "$tmp/out")" = 2 ]'
t "notifyManifest push again: idempotent" '[ "$(post "$ntok" io.atcr.hold.notifyManifest "$man")" = "200 " ] && [ "$(jq -r .layersCreated "$tmp/out")" = 0 ]'
t "notifyManifest for another user: UserMismatch" '[ "$(post "$(svc "$ALICE_AT" io.atcr.hold.notifyManifest)" io.atcr.hold.notifyManifest "$man")" = "403 UserMismatch" ]'
pull=$(jq -c '.operation="pull"' <<<"$man")
t "notifyManifest pull by a reader" '[ "$(post "$(svc "$CAROL_AT" io.atcr.hold.notifyManifest)" io.atcr.hold.notifyManifest "$pull")" = "200 " ]'
STATSKEY=$(python3 -c "import hashlib,base64,sys;print(base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()[:16]).decode().lower().rstrip('='))" "$DAVE_DID/app")
st=$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.getRecord?repo=$HOLD_DID_Q&collection=io.atcr.hold.stats&rkey=$STATSKEY")
t "stats record under the deterministic key: 2 pushes, 1 pull" '[ "$(jq -r "[.value.pushCount,.value.pullCount]|join(\" \")" <<<"$st")" = "2 1" ]'
q=$(curl -s -H "Authorization: Bearer $(svc "$DAVE_AT" io.atcr.hold.getQuota)" "$HOLD_URL/xrpc/io.atcr.hold.getQuota?userDid=$DAVE_DID")
t "getQuota: unique blob bytes" '[ "$(jq -r "[.uniqueBlobs,.totalSize]|join(\" \")" <<<"$q")" = "2 109857600" ]'
ml=$(curl -s -H "Authorization: Bearer $(svc "$DAVE_AT" io.atcr.hold.getLayersForManifest)" "$HOLD_URL/xrpc/io.atcr.hold.getLayersForManifest?manifest=at://$DAVE_DID/io.atcr.manifest/${SAME#sha256:}")
t "getLayersForManifest" '[ "$(jq ".layers|length" <<<"$ml")" = 2 ]'

# ---- kill -9 mid-upload
head -c $((20 * 1024 * 1024)) /dev/urandom >"$tmp/crash"
CRASH=$(digest_of "$tmp/crash")
tok=$(svc "$DAVE_AT" io.atcr.hold.initiateUpload)
post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"$CRASH\"}" >/dev/null
id=$(jq -r .uploadId "$tmp/out")
ptok=$(svc "$DAVE_AT" io.atcr.hold.uploadPart)
# straight to the hold's FastCGI socket (lighttpd would hold the part back until it had it whole):
# 10 MiB now, the rest never, since the hold dies in between
fcgi_part() { # fcgi_part TOKEN ID NUMBER LENGTH: a FastCGI uploadPart request reading its body from stdin
	env -i REQUEST_METHOD=PUT REQUEST_URI=/xrpc/io.atcr.hold.uploadPart SCRIPT_NAME=/xrpc/io.atcr.hold.uploadPart \
		QUERY_STRING= SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 CONTENT_LENGTH="$4" \
		CONTENT_TYPE=application/octet-stream HTTP_AUTHORIZATION="Bearer $1" HTTP_X_UPLOAD_ID="$2" \
		HTTP_X_PART_NUMBER="$3" cgi-fcgi -bind -connect "127.0.0.1:$FCGI_PORT" 2>/dev/null
}
(head -c $((10 * 1024 * 1024)) "$tmp/crash"; sleep 3) | fcgi_part "$ptok" "$id" 1 $((20 * 1024 * 1024)) >/dev/null &
fcgi_pid=$!
sleep 1.5
t "mid-upload: the hold is writing the part" '[ -n "$(find "$tmp/hold/blobs/uploads/$id" \( -name data -o -name ".part-*" \) -size +1M 2>/dev/null)" ]'
kill -9 "$hold_pid"
wait "$hold_pid" 2>/dev/null
hold_pid=""
wait "$fcgi_pid" 2>/dev/null
t "after kill -9 no part of the interrupted upload is visible" '[ -z "$(find "$tmp/hold/blobs/uploads/$id" \( -name "part-*" -o -name "span-*" \) 2>/dev/null)" ]'
start_hold
started=$?
t "the hold restarts" '[ $started -eq 0 ]'
t "no assembly leftovers after the restart" '[ "$(find "$tmp/hold/blobs/tmp" -type f | wc -l)" = 0 ]'
t "the interrupted blob is not visible" '[ "$(getblob "$(read_tok "$DAVE_AT")" "$CRASH")" = 404 ]'
t "a new upload of the same blob succeeds" '[ "$(upload "$tmp/crash" "$DAVE_AT" 2)" = "200 " ] && [ "$(getblob "$(read_tok "$DAVE_AT")" "$CRASH")" = 200 ] && cmp -s "$tmp/blob" "$tmp/crash"'

# ---- signals: SIGHUP reopens the log, SIGTERM lets an upload in flight finish
mv "$tmp/hold/hold.log" "$tmp/hold/hold.log.1"
kill -HUP "$hold_pid"
sleep 0.5
curl -s -o /dev/null "$HOLD_URL/xrpc/_health"
sleep 0.3
t "SIGHUP reopens the log file (a rotated log is not written to again)" 'grep -q "GET /xrpc/_health" "$tmp/hold/hold.log" 2>/dev/null'
head -c $((8 * 1024 * 1024)) /dev/urandom >"$tmp/inflight"
tok=$(svc "$DAVE_AT" io.atcr.hold.initiateUpload)
post "$tok" io.atcr.hold.initiateUpload "{\"digest\":\"$(digest_of "$tmp/inflight")\"}" >/dev/null
id=$(jq -r .uploadId "$tmp/out")
ptok=$(svc "$DAVE_AT" io.atcr.hold.uploadPart) # service tokens live 60 s: a fresh one
# straight to the hold's FastCGI socket again: half the part now, half after the SIGTERM; the hold
# must keep reading it and answer.
(head -c $((4 * 1024 * 1024)) "$tmp/inflight"; sleep 2; tail -c +$((4 * 1024 * 1024 + 1)) "$tmp/inflight") |
	fcgi_part "$ptok" "$id" 1 $((8 * 1024 * 1024)) |
	sed '1,/^\r*$/d' >"$tmp/inflight.out" &
fcgi_pid=$!
sleep 1
kill -TERM "$hold_pid"
wait "$fcgi_pid"
wait "$hold_pid"
rc=$?
hold_pid=""
t "SIGTERM: the part being uploaded still gets its answer" '[ "$(jq -r .etag "$tmp/inflight.out" 2>/dev/null)" = "$(sha256sum "$tmp/inflight" | cut -d" " -f1)" ]'
t "SIGTERM: the hold then exits 0" '[ $rc -eq 0 ]'

# ---- public hold with allowAllCrew (restart with a new policy)
export HOLD_HOLD_PUBLIC=true HOLD_HOLD_ALLOW_ALL_CREW=true
start_hold
cap=$(curl -s "$HOLD_URL/xrpc/com.atproto.repo.getRecord?repo=$HOLD_DID_Q&collection=io.atcr.hold.captain&rkey=self")
t "captain updated: public, allowAllCrew" '[ "$(jq -r "[.value.public,.value.allowAllCrew]|join(\" \")" <<<"$cap")" = "true true" ]'
t "public: anonymous read" '[ "$(getblob "" "$SMALL")" = 200 ] && cmp -s "$tmp/blob" "$tmp/small"'
t "public: stranger read" '[ "$(getblob "$(read_tok "$BOB_AT")" "$SMALL")" = 200 ]'
t "public: a bad token is still refused" '[ "$(getblob "$forged" "$SMALL")" = 401 ]'
t "public: anonymous write refused" '[ "$(init "")" = "401 AuthRequired" ]'
t "public: stranger write refused" '[ "$(init "$(svc "$BOB_AT" io.atcr.hold.initiateUpload)")" = "403 Forbidden" ]'
t "public: crew blob:read cannot write" '[ "$(init "$(svc "$CAROL_AT" io.atcr.hold.initiateUpload)")" = "403 Forbidden" ]'
t "public: crew blob:write writes" '[ "$(init "$(svc "$DAVE_AT" io.atcr.hold.initiateUpload)")" = "200 " ]'
t "public: requestCrew creates bob's crew record" '[ "$(post "$(svc "$BOB_AT" io.atcr.hold.requestCrew)" io.atcr.hold.requestCrew "{}")" = "200 " ] && [ "$(jq -r .status "$tmp/out")" = created ]'
t "public: requestCrew again: already_member" '[ "$(post "$(svc "$BOB_AT" io.atcr.hold.requestCrew)" io.atcr.hold.requestCrew "{}")" = "200 " ] && [ "$(jq -r .status "$tmp/out")" = already_member ]'
t "public: requestCrew cannot ask for crew:admin" '[ "$(post "$(svc "$CAROL_AT" io.atcr.hold.requestCrew)" io.atcr.hold.requestCrew "{\"permissions\":[\"crew:admin\"]}")" = "200 " ] && [ "$(jq -r .status "$tmp/out")" = already_member ]'
t "public: bob writes now" '[ "$(init "$(svc "$BOB_AT" io.atcr.hold.initiateUpload)")" = "200 " ]'

# the short-lived token minted at the start
now=$(date +%s)
exp=$(jwt_part "$SHORT" 2 | jq -r .exp)
[ $((exp + 31 - now)) -gt 0 ] && sleep $((exp + 31 - now))
t "expired token refused" '[ "$(init "$SHORT")" = "401 InvalidToken" ]'

stop_hold
"$top/scripts/lighttpd-run" stop "$tmp/web" >/dev/null
t "nothing left running" '! pgrep -f "$tmp" >/dev/null'
echo "1..$n"
[ "$fails" -eq 0 ]
