#!/usr/bin/env bash
# userdata.sh - the hold's io.atcr.hold.exportUserData and deleteUserData against the whole loopback stack
# (tests/peers/start-stack: real PDS + PLC, lighttpd, the AppView, the hold owned by alice, public, open to
# every user's pushes). Alice and bob push with skopeo, so the AppView's notifyManifest writes their layer
# and stats records; service tokens come from the PDS (getServiceAuth). Checks: no token or another
# method's token refused, each export holds exactly its caller's records and conforms to the lexicon
# (tests/integration/lexicons, lib/lexicon.jq), a failure part way deletes nothing (500 DeletionFailed),
# bob's deletion takes his crew, layer and stats records and leaves alice's and every blob, the captain
# keeps her crew record, a second deletion answers zeros. TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (26200 26583 26582 26280 26290).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-userdata.XXXXXX)
stack=$tmp/stack images=$tmp/images
cleanup() {
	"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-26200} PDS_PORT=${ATCR_TEST_PDS_PORT:-26583}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-26582} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-26280}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-26290} STACK_HANDLE=alice.test
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
eval "$("$top/tests/peers/create-account" "$stack/pds" bob.test | sed 's/^/BOB_/')"
HOLD_DID_Q=${HOLD_DID//%/%25} # as a query parameter value
hold_log=$stack/hold/hold.log
t "the stack is up: alice (the hold's captain) and bob" '[ -n "$DID" ] && [ -n "$BOB_DID" ] && curl -sf -o /dev/null "$HOLD_URL/xrpc/_health"'

# ---- pushes: alice busybox (one layer), bob multilayer (three, the first shared with busybox)
"$top/tests/images/make-images" "$images" >"$tmp/images.txt"
push() { # push LAYOUT REF CREDS
	timeout 600 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$3" \
		"oci:$images/$1:latest" "docker://$2" >"$tmp/skopeo.out" 2>&1
}
layers_of() { # layers_of LAYOUT -> the layer digests of its image, sorted
	local m
	m=$(jq -r '.manifests[0].digest' "$images/$1/index.json")
	jq -r '.layers[].digest' "$images/$1/blobs/sha256/${m#sha256:}" | sort
}
manifest_hex() { jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$images/$1/index.json"; }
t "alice pushes busybox with skopeo" 'push busybox "$REGISTRY/$HANDLE/busybox:1.0" "$HANDLE:$APP_PASSWORD"'
t "bob pushes multilayer with skopeo (joining the crew)" 'push multilayer "$REGISTRY/bob.test/multi:1.0" "bob.test:$BOB_APP_PASSWORD"'
t "alice pulls busybox (a pull for the stats)" \
	'timeout 600 skopeo copy -q --src-tls-verify=false --src-creds "$HANDLE:$APP_PASSWORD" "docker://$REGISTRY/$HANDLE/busybox:1.0" "oci:$tmp/pulled:latest" >"$tmp/skopeo.out" 2>&1'
ALICE_LAYERS=$(layers_of busybox)
BOB_LAYERS=$(layers_of multilayer)
t "the images share a layer (so a deletion must tell the owners apart)" \
	'[ -n "$(comm -12 <(echo "$ALICE_LAYERS") <(echo "$BOB_LAYERS"))" ] && [ "$(wc -l <<<"$BOB_LAYERS")" = 3 ]'

# ---- helpers
session() { # session HANDLE APP_PASSWORD -> an access token
	curl -s -X POST "$PDS_URL/xrpc/com.atproto.server.createSession" -H 'Content-Type: application/json' \
		-d "{\"identifier\":\"$1\",\"password\":\"$2\"}" | jq -r .accessJwt
}
ALICE_AT=$(session "$HANDLE" "$APP_PASSWORD")
BOB_AT=$(session bob.test "$BOB_APP_PASSWORD")
svc() { # svc ACCESS_TOKEN LXM -> a service token for the hold from the PDS
	curl -s -G "$PDS_URL/xrpc/com.atproto.server.getServiceAuth" -H "Authorization: Bearer $1" \
		--data-urlencode "aud=$HOLD_DID" --data-urlencode "lxm=$2" | jq -r .token
}
export_data() { # export_data TOKEN -> "<status> <error>"; body in $tmp/out
	curl -s -o "$tmp/out" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$HOLD_URL/xrpc/io.atcr.hold.exportUserData"
	printf ' %s' "$(jq -r '.error // empty' "$tmp/out" 2>/dev/null)"
}
delete_data() { # delete_data TOKEN [BODY] -> "<status> <error>"; body ({} by default) in $tmp/out
	local body=${2:-}
	[ -n "$body" ] || body='{}'
	curl -s -o "$tmp/out" -w '%{http_code}' -X POST ${1:+-H "Authorization: Bearer $1"} -H 'Content-Type: application/json' \
		--data-binary "$body" "$HOLD_URL/xrpc/io.atcr.hold.deleteUserData"
	printf ' %s' "$(jq -r '.error // empty' "$tmp/out" 2>/dev/null)"
}
export_of() { # export_of ACCESS_TOKEN -> the caller's export (empty when refused)
	[ "$(export_data "$(svc "$1" io.atcr.hold.exportUserData)")" = "200 " ] && cat "$tmp/out"
}
lexicon_problems() { # lexicon_problems NSID <JSON -> one line per way the JSON departs from NSID's output
	jq -r --slurpfile lex "$top/tests/integration/lexicons/$1.json" -f "$top/tests/integration/lib/lexicon.jq"
}
hold_records() { # hold_records COLLECTION -> every record's value on the hold, one JSON per line
	local cursor="" page
	while :; do
		page=$(curl -s -G "$HOLD_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=$HOLD_DID" \
			--data-urlencode "collection=$1" --data-urlencode limit=100 ${cursor:+--data-urlencode "cursor=$cursor"})
		jq -c '.records[].value' <<<"$page"
		cursor=$(jq -r '.cursor // empty' <<<"$page")
		[ -n "$cursor" ] || break
	done
}
count_records() { # count_records COLLECTION FIELD DID -> how many records of the hold have FIELD == DID
	hold_records "$1" | jq -s --arg f "$2" --arg d "$3" '[.[] | select(.[$f] == $d)] | length'
}

# ---- authentication
t "export without a token: 401 AuthRequired" '[ "$(export_data "")" = "401 AuthRequired" ]'
t "export with a deleteUserData token (lxm): 401 AuthRequired" '[ "$(export_data "$(svc "$ALICE_AT" io.atcr.hold.deleteUserData)")" = "401 AuthRequired" ]'
t "export with a getQuota token (lxm): 401" '[ "$(export_data "$(svc "$ALICE_AT" io.atcr.hold.getQuota)")" = "401 AuthRequired" ]'
t "export with a forged token: 401 AuthRequired" '[ "$(export_data "eyJhbGciOiJFUzI1NksifQ.eyJpc3MiOiJkaWQ6cGxjOngifQ.AAAA")" = "401 AuthRequired" ]'

# ---- alice's export
A=$(export_of "$ALICE_AT")
t "alice's export: 200" '[ -n "$A" ]'
lexicon_problems io.atcr.hold.exportUserData <<<"$A" >"$tmp/problems"
t "alice's export conforms to the exportUserData lexicon (required fields, types, no others)" '[ ! -s "$tmp/problems" ] || { sed "s/^/# /" "$tmp/problems"; false; }'
t "the lexicon check finds a missing field, a wrong type, a stray field" \
	'[ "$(jq -c "del(.userDid) | .isCaptain = \"yes\" | .layerRecords[0].size = \"1\" | .layerRecords[0].userDid = .userDid" <<<"$A" | lexicon_problems io.atcr.hold.exportUserData | wc -l)" = 4 ]'
t "alice's export: her DID, the hold's, isCaptain true, exportedAt now" \
	'[ "$(jq -r "[.userDid, .holdDid, .isCaptain] | join(\" \")" <<<"$A")" = "$DID $HOLD_DID true" ] && [ "$(jq -r ".exportedAt[:10]" <<<"$A")" = "$(date -u +%F)" ]'
t "alice's export: her crew record (owner, crew:admin), blueskyPosts empty" \
	'[ "$(jq -c "[.crewRecord.role, (.crewRecord.permissions | index(\"crew:admin\") != null), .blueskyPosts]" <<<"$A")" = "[\"owner\",true,[]]" ]'
t "alice's export: her layer records are busybox's layers" '[ "$(jq -r ".layerRecords[].digest" <<<"$A" | sort)" = "$ALICE_LAYERS" ]'
t "alice's export: each names her busybox manifest" \
	'[ "$(jq -r ".layerRecords[].manifest" <<<"$A" | sort -u)" = "at://$DID/io.atcr.manifest/$(manifest_hex busybox)" ]'
t "alice's export: busybox stats, pushCount >= 1, pullCount >= 1" \
	'[ "$(jq -r "[.statsRecords[] | select(.pushCount >= 1 and .pullCount >= 1) | .repository] | join(\" \")" <<<"$A")" = busybox ] && [ "$(jq ".statsRecords | length" <<<"$A")" = 1 ]'

# ---- bob's export
B=$(export_of "$BOB_AT")
t "bob's export: 200, conforms to the lexicon" '[ -n "$B" ] && [ -z "$(lexicon_problems io.atcr.hold.exportUserData <<<"$B")" ]'
t "bob's export: isCaptain false, his crew record from requestCrew" \
	'[ "$(jq -r "[.userDid, .isCaptain, .crewRecord.role] | join(\" \")" <<<"$B")" = "$BOB_DID false member" ]'
t "bob's export: his layer records are multilayer's three layers" '[ "$(jq -r ".layerRecords[].digest" <<<"$B" | sort)" = "$BOB_LAYERS" ]'
t "bob's export: none of alice's records (every manifest his, only his repository)" \
	'[ "$(jq -r ".layerRecords[].manifest" <<<"$B" | sort -u)" = "at://$BOB_DID/io.atcr.manifest/$(manifest_hex multilayer)" ] && [ "$(jq -c "[.statsRecords[].repository]" <<<"$B")" = "[\"multi\"]" ]'

# ---- deleteUserData: authentication, then a failure part way
t "delete without a token: 401 AuthRequired" '[ "$(delete_data "")" = "401 AuthRequired" ]'
t "delete with an exportUserData token (lxm): 401 AuthRequired" '[ "$(delete_data "$(svc "$BOB_AT" io.atcr.hold.exportUserData)")" = "401 AuthRequired" ]'
t "delete with a body that is not a JSON object: 400" '[ "$(delete_data "$(svc "$BOB_AT" io.atcr.hold.deleteUserData)" "[]")" = "400 InvalidRequest" ]'
t "after the refused calls bob's export is whole" '[ "$(export_of "$BOB_AT")" != "" ] && [ "$(jq ".layerRecords | length" "$tmp/out")" = 3 ] && jq -e .crewRecord "$tmp/out" >/dev/null'
# A trigger in the hold's database makes deleting a stats record fail, after the crew and layer records.
sqlite3 "$stack/hold/hold.db" "CREATE TRIGGER fail_stats BEFORE DELETE ON records WHEN old.collection = 'io.atcr.hold.stats' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
t "a failure part way: 500 DeletionFailed" '[ "$(delete_data "$(svc "$BOB_AT" io.atcr.hold.deleteUserData)")" = "500 DeletionFailed" ]'
t "and nothing was deleted (bob's export is unchanged)" '[ "$(export_of "$BOB_AT" | jq -S "del(.exportedAt)")" = "$(jq -S "del(.exportedAt)" <<<"$B")" ]'
sqlite3 "$stack/hold/hold.db" "DROP TRIGGER fail_stats;"

# ---- bob deletes his data
alice_layers_before=$(count_records io.atcr.hold.layer userDid "$DID")
blocks_naming() { sqlite3 "$stack/hold/hold.db" "SELECT count(*) FROM blocks WHERE instr(bytes, CAST('$1' AS BLOB)) > 0"; }
t "before: blocks of the hold's database name bob (crew, layers, stats and older stats versions)" '[ "$(blocks_naming "$BOB_DID")" -ge 5 ]'
t "bob's deleteUserData: 200" '[ "$(delete_data "$(svc "$BOB_AT" io.atcr.hold.deleteUserData)")" = "200 " ]'
D=$(cat "$tmp/out")
t "the answer conforms to the deleteUserData lexicon" '[ -z "$(lexicon_problems io.atcr.hold.deleteUserData <<<"$D")" ]'
t "the answer: success, crew deleted, 3 layer records, 1 stats record" \
	'[ "$(jq -c "[.success, .crewDeleted, .layersDeleted, .statsDeleted]" <<<"$D")" = "[true,true,3,1]" ]'
t "listRecords: bob's crew record is gone, alice's stays" \
	'[ "$(count_records io.atcr.hold.crew member "$BOB_DID")" = 0 ] && [ "$(count_records io.atcr.hold.crew member "$DID")" = 1 ]'
t "listRecords: no layer or stats record of bob's" \
	'[ "$(count_records io.atcr.hold.layer userDid "$BOB_DID")" = 0 ] && [ "$(count_records io.atcr.hold.stats ownerDid "$BOB_DID")" = 0 ]'
t "listRecords: alice's layer and stats records stay (the shared layer too)" \
	'[ "$(count_records io.atcr.hold.layer userDid "$DID")" = "$alice_layers_before" ] && [ "$(count_records io.atcr.hold.stats ownerDid "$DID")" = 1 ]'
t "alice's export is unchanged by bob's deletion" '[ "$(export_of "$ALICE_AT" | jq -S "del(.exportedAt)")" = "$(jq -S "del(.exportedAt)" <<<"$A")" ]'
t "bob's export now: no crew record, no layer or stats records" \
	'[ "$(export_of "$BOB_AT" | jq -c "[has(\"crewRecord\"), .layerRecords, .statsRecords]")" = "[false,[],[]]" ]'
t "getQuota counts nothing for bob any more" \
	'[ "$(curl -s "$HOLD_URL/xrpc/io.atcr.hold.getQuota?userDid=$BOB_DID" | jq -c "[.uniqueBlobs, .totalSize]")" = "[0,0]" ]'
blob_status() { curl -s -o /dev/null -w '%{http_code}' "$HOLD_URL/xrpc/com.atproto.sync.getBlob?did=$HOLD_DID_Q&cid=$1"; }
t "every blob of bob's image stays on the hold" 'for d in $BOB_LAYERS; do [ "$(blob_status "$d")" = 200 ] || exit 1; done'
t "no block of the hold's database names bob any more" '[ "$(blocks_naming "$BOB_DID")" = 0 ]'
t "bob's second deletion answers zeros" \
	'[ "$(delete_data "$(svc "$BOB_AT" io.atcr.hold.deleteUserData)")" = "200 " ] && [ "$(jq -c "[.success, .crewDeleted, .layersDeleted, .statsDeleted]" "$tmp/out")" = "[true,false,0,0]" ]'

# ---- the captain deletes hers
n_alice=$(wc -l <<<"$ALICE_LAYERS")
t "alice's (the captain's) deleteUserData: crew kept, her layer and stats records deleted" \
	'[ "$(delete_data "$(svc "$ALICE_AT" io.atcr.hold.deleteUserData)")" = "200 " ] && [ "$(jq -c "[.success, .crewDeleted, .layersDeleted, .statsDeleted]" "$tmp/out")" = "[true,false,$n_alice,1]" ]'
t "listRecords: the captain's crew record stays" '[ "$(count_records io.atcr.hold.crew member "$DID")" = 1 ]'
t "alice's export now: isCaptain, her crew record, nothing else" \
	'[ "$(export_of "$ALICE_AT" | jq -c "[.isCaptain, .crewRecord.role, .layerRecords, .statsRecords]")" = "[true,\"owner\",[],[]]" ]'
t "her image still pulls (blobs stay)" \
	'rm -rf "$tmp/pulled" && timeout 600 skopeo copy -q --src-tls-verify=false --src-creds "$HANDLE:$APP_PASSWORD" "docker://$REGISTRY/$HANDLE/busybox:1.0" "oci:$tmp/pulled:latest" >"$tmp/skopeo.out" 2>&1'
t "the hold logged the deletions" '[ "$(grep -c "deleteUserData for" "$hold_log")" -ge 3 ]'
t "no sanitizer report in the hold's log" '! grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$hold_log"'

"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
t "nothing left running" '! pgrep -f "$stack/" >/dev/null'
echo "1..$n"
[ "$fails" -eq 0 ]
