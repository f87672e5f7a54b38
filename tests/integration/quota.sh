#!/usr/bin/env bash
# quota.sh - storage quotas with tiers on the hold, through the whole loopback stack (tests/peers/start-stack:
# real PDS + PLC, lighttpd, the AppView, the hold owned by alice, public, open to every user's pushes) with
# a tiers file: deckhand 3 MiB (new crew), bosun 20 MiB, quartermaster unlimited. Bob (crew, not captain)
# pushes with skopeo: an image under his limit works and getQuota shows his tier and limit; a layer that
# would cross it (at completeUpload), one larger than the whole tier (cut off at uploadPart) and two layers
# that fit only one at a time are refused with DENIED naming the quota, and nothing of them stays (records,
# getQuota, storage); a re-push of the first image works; the operator raises his tier (`atcr-hold crew
# tier`) and the refused pushes go through. updateCrewTier: only the captain or a crew:admin member
# (AuthRequired otherwise), UserNotFound, ranks out of range 400. The captain is never limited. A bad
# tiers file stops the hold from starting, naming the line. TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (24200 24583 24582 24280 24290).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
hold=$ATCR_BUILD/hold/atcr-hold
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-quota.XXXXXX)
stack=$tmp/stack images=$tmp/images
cleanup() {
	"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/tiers.yaml" <<'YAML'
tiers:                  # in rank order
  - name: deckhand
    limit: 3MB          # powers of 1024: 3 MiB
  - name: bosun
    limit: 20 MiB
  - name: quartermaster
    limit: unlimited
defaults:
  new_crew_tier: deckhand
YAML
export HOLD_QUOTA_TIERS_FILE=$tmp/tiers.yaml # start-stack's hold and every CLI call below read it
MiB=1048576

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-24200} PDS_PORT=${ATCR_TEST_PDS_PORT:-24583}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-24582} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-24280}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-24290} STACK_HANDLE=alice.test
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
for who in bob carol dave; do
	"$top/tests/peers/create-account" "$stack/pds" "$who.test" | sed "s/^/${who^^}_/" >"$tmp/$who.env"
	# shellcheck disable=SC1090
	. "$tmp/$who.env"
done
HOLD_DID_Q=${HOLD_DID//%/%25} # as a query parameter value
hold_log=$stack/hold/hold.log
store=$stack/hold/blobs
t "the stack is up with the tiers file: alice (the captain), bob, carol, dave" \
	'[ -n "$DID" ] && [ -n "$BOB_DID" ] && [ -n "$DAVE_DID" ] && curl -sf -o /dev/null "$HOLD_URL/xrpc/_health"'
t "status lists the tiers in rank order, the default marked" \
	'"$hold" --config "$HOLD_CONFIG" status >"$tmp/status" 2>&1 && grep -qx "tier 0: deckhand 3.0 MiB (new crew)" "$tmp/status" && grep -qx "tier 1: bosun 20.0 MiB" "$tmp/status" && grep -qx "tier 2: quartermaster unlimited" "$tmp/status"'

# ---- a bad tiers file: the hold does not start, and says where
bad_file() { # bad_file NAME CONTENT -> path
	printf '%b' "$2" >"$tmp/$1.yaml"
	echo "$tmp/$1.yaml"
}
refused() { # refused FILE WANT [COMMAND...]: the hold refuses to start with FILE, stderr naming WANT
	local f=$1 want=$2
	shift 2
	HOLD_QUOTA_TIERS_FILE=$f timeout 30 "$hold" --config "$HOLD_CONFIG" "${@:-status}" >/dev/null 2>"$tmp/refused.err"
	local rc=$?
	[ "$rc" = 1 ] && grep -qF -- "$want" "$tmp/refused.err" &&
		! grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$tmp/refused.err" ||
		{ sed 's/^/# /' "$tmp/refused.err"; echo "# exit $rc"; false; }
}
f=$(bad_file unknown 'tiers:\n  - name: a\n    limit: 1GB\n    quota: 2GB\ndefaults:\n  new_crew_tier: a\n')
t "an unknown key: refused, naming file and line" 'refused "$f" "quota.tiers_file: $f:4: unknown key '"'"'quota'"'"' in tier 0"'
f=$(bad_file nodefault 'tiers:\n  - name: a\n    limit: 1GB\n')
t "no defaults.new_crew_tier: refused" 'refused "$f" "$f:1: defaults: is missing"'
f=$(bad_file badyaml 'tiers:\n  - name: a\n    limit: 1GB\n   - name: b\n')
t "not YAML: refused with the line" 'refused "$f" "$f:4: not YAML"'
f=$(bad_file badsize 'tiers:\n  - name: a\n    limit: 5 parsecs\ndefaults:\n  new_crew_tier: a\n')
t "a limit that is not a size: refused with the line" 'refused "$f" "$f:3: tier '"'"'a'"'"': limit '"'"'5 parsecs'"'"' is not a size"'
t "serve refuses too (a missing file), before it listens" \
	'HOLD_SERVER_LISTEN=127.0.0.1:$((HOLD_FCGI_PORT + 7)) refused "$tmp/none.yaml" "cannot open the tiers file $tmp/none.yaml" serve'

# ---- images: one uncompressed tar layer of random bytes per size (fresh bytes every run)
image() { # image LAYOUT SIZE...
	local dir=$images/$1 layers="" diffs="" s d n c m
	shift
	rm -rf "$dir" "$tmp/l"
	mkdir -p "$dir/blobs/sha256" "$tmp/l"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	for s in "$@"; do
		rm -f "$tmp/l/data"
		head -c "$s" /dev/urandom >"$tmp/l/data"
		tar --format=ustar -C "$tmp/l" -cf "$tmp/layer.tar" data
		d=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1) n=$(stat -c %s "$tmp/layer.tar")
		mv "$tmp/layer.tar" "$dir/blobs/sha256/$d"
		layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$d\",\"size\":$n}"
		diffs+="${diffs:+,}\"sha256:$d\""
	done
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" >"$tmp/c"
	c=$(sha256sum "$tmp/c" | cut -d' ' -f1)
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$c" "$(stat -c %s "$tmp/c")" "$layers" >"$tmp/m"
	mv "$tmp/c" "$dir/blobs/sha256/$c"
	m=$(sha256sum "$tmp/m" | cut -d' ' -f1)
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$m" "$(stat -c %s "$tmp/m")" >"$dir/index.json"
	mv "$tmp/m" "$dir/blobs/sha256/$m"
}
manifest_of() { jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$images/$1/index.json"; }
layers_of() { jq -r '.layers[].digest' "$images/$1/blobs/sha256/$(manifest_of "$1")"; }
bytes_of() { jq '[.layers[].size] | add' "$images/$1/blobs/sha256/$(manifest_of "$1")"; }
image small $MiB              # fits deckhand
image big $((5 * MiB / 2))    # fits alone, not beside small: refused at completeUpload
image huge $((4 * MiB))       # larger than the whole tier: cut off at uploadPart
image pair $((6 * MiB / 5)) $((6 * MiB / 5)) # each fits beside small, both do not
image captain $((4 * MiB))
t "five test images" '[ "$(layers_of pair | wc -l)" = 2 ] && [ "$(bytes_of huge)" -gt $((4 * MiB)) ]'

push() { # push LAYOUT REF CREDS: skopeo's output in $tmp/skopeo.out
	timeout 600 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$3" \
		"oci:$images/$1:latest" "docker://$2" >"$tmp/skopeo.out" 2>&1
}
bob_push() { push "$1" "$REGISTRY/bob.test/$1:1.0" "bob.test:$BOB_APP_PASSWORD"; }
quota() { curl -s "$HOLD_URL/xrpc/io.atcr.hold.getQuota?userDid=$1"; }
quota_is() { # quota_is DID JQ WANT: the JQ of DID's getQuota equals WANT
	local got
	got=$(quota "$1" | jq -c "$2")
	[ "$got" = "$3" ] || { echo "# getQuota $2: $got, want $3"; false; }
}
lexicon_problems() { # lexicon_problems NSID <JSON -> one line per way the JSON departs from NSID's output
	jq -r --slurpfile lex "$top/tests/integration/lexicons/$1.json" -f "$top/tests/integration/lib/lexicon.jq"
}
stored() { [ -f "$store/blobs/sha256/${1:7:2}/${1#sha256:}" ]; } # stored DIGEST: the blob is on the hold's disk
served() { [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$HOLD_URL/xrpc/com.atproto.sync.getBlob?did=$HOLD_DID_Q&cid=$1")" = 200 ]; }
no_uploads_left() { [ -z "$(find "$store/uploads" -mindepth 1 -maxdepth 1 2>/dev/null)" ]; }
layer_records() { # layer_records DID -> how many io.atcr.hold.layer records name DID
	curl -s -G "$HOLD_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=$HOLD_DID" \
		--data-urlencode collection=io.atcr.hold.layer --data-urlencode limit=100 |
		jq --arg d "$1" '[.records[].value | select(.userDid == $d)] | length'
}
crew_tier() { # crew_tier DID -> the tier field of DID's crew record on the hold ("null" when absent)
	curl -s -G "$HOLD_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=$HOLD_DID" \
		--data-urlencode collection=io.atcr.hold.crew --data-urlencode limit=100 |
		jq -r --arg d "$1" '.records[].value | select(.member == $d) | .tier'
}
denied_for_quota() { # skopeo's output names the quota as the registry's DENIED error
	grep -q "denied: storage quota exceeded: 3.0 MiB tier deckhand" "$tmp/skopeo.out" ||
		{ sed 's/^/# /' "$tmp/skopeo.out"; false; }
}

# ---- under the limit
t "bob pushes small (1 MiB) with skopeo, joining the crew" 'bob_push small || { sed "s/^/# /" "$tmp/skopeo.out"; false; }'
SMALL=$(bytes_of small)
t "getQuota: tier deckhand, limit 3 MiB, one blob" 'quota_is "$BOB_DID" "[.tier, .limit, .uniqueBlobs, .totalSize]" "[\"deckhand\",$((3 * MiB)),1,$SMALL]"'
t "getQuota conforms to its lexicon" '[ -z "$(quota "$BOB_DID" | lexicon_problems io.atcr.hold.getQuota)" ]'
t "the captain pushes 4 MiB: never limited" 'push captain "$REGISTRY/$HANDLE/captain:1.0" "$HANDLE:$APP_PASSWORD" || { sed "s/^/# /" "$tmp/skopeo.out"; false; }'
t "getQuota of the captain: no tier, no limit" 'quota_is "$DID" "[has(\"tier\"), has(\"limit\"), .totalSize]" "[false,false,$(bytes_of captain)]"'
t "a user who is not crew: the default tier" 'quota_is "$CAROL_DID" "[.tier, .limit, .totalSize]" "[\"deckhand\",$((3 * MiB)),0]"'

# ---- over it
t "bob pushes big (2.5 MiB beside his 1 MiB): skopeo fails" '! bob_push big'
t "skopeo shows DENIED with the hold's message (tier, usage, blob)" \
	'denied_for_quota && grep -q "tier deckhand, 1.0 MiB used, this blob 2.5 MiB" "$tmp/skopeo.out"'
t "bob pushes huge (4 MiB, over the whole tier): skopeo fails, DENIED naming the quota" \
	'! bob_push huge && denied_for_quota && grep -q "this blob over 3.0 MiB" "$tmp/skopeo.out"'
t "the hold logged both refusals" '[ "$(grep -c "refused: storage quota exceeded" "$hold_log")" -ge 2 ]'
BIG=$(layers_of big) HUGE=$(layers_of huge)
t "nothing of the refused blobs stays: not on disk, not served" '! stored "$BIG" && ! stored "$HUGE" && ! served "$BIG" && ! served "$HUGE"'
t "no upload left in the hold's storage" 'no_uploads_left || find "$store/uploads" | sed "s/^/# /"'
t "getQuota unchanged" 'quota_is "$BOB_DID" "[.uniqueBlobs, .totalSize]" "[1,$SMALL]"'
t "listRecords: bob still has one layer record" '[ "$(layer_records "$BOB_DID")" = 1 ]'
t "a re-push of small (the same blobs) works" 'bob_push small || { sed "s/^/# /" "$tmp/skopeo.out"; false; }'
t "getQuota unchanged by it" 'quota_is "$BOB_DID" "[.uniqueBlobs, .totalSize]" "[1,$SMALL]"'
t "bob pushes pair (two 1.2 MiB layers: each fits, both do not): skopeo fails, DENIED" '! bob_push pair && denied_for_quota'
n_pair=0
for d in $(layers_of pair); do stored "$d" && n_pair=$((n_pair + 1)); done
t "not both of its layers were kept" '[ "$n_pair" -le 1 ]'
t "getQuota and the layer records still show only small" 'quota_is "$BOB_DID" "[.uniqueBlobs, .totalSize]" "[1,$SMALL]" && [ "$(layer_records "$BOB_DID")" = 1 ]'

# ---- io.atcr.hold.updateCrewTier
session() { # session HANDLE APP_PASSWORD -> an access token
	curl -s -X POST "$PDS_URL/xrpc/com.atproto.server.createSession" -H 'Content-Type: application/json' \
		-d "{\"identifier\":\"$1\",\"password\":\"$2\"}" | jq -r .accessJwt
}
ALICE_AT=$(session "$HANDLE" "$APP_PASSWORD")
BOB_AT=$(session bob.test "$BOB_APP_PASSWORD")
DAVE_AT=$(session dave.test "$DAVE_APP_PASSWORD")
svc() { # svc ACCESS_TOKEN [LXM] -> a service token for the hold from the PDS
	curl -s -G "$PDS_URL/xrpc/com.atproto.server.getServiceAuth" -H "Authorization: Bearer $1" \
		--data-urlencode "aud=$HOLD_DID" --data-urlencode "lxm=${2:-io.atcr.hold.updateCrewTier}" | jq -r .token
}
set_tier() { # set_tier TOKEN BODY -> "<status> <error>"; body in $tmp/out
	curl -s -o "$tmp/out" -w '%{http_code}' -X POST ${1:+-H "Authorization: Bearer $1"} -H 'Content-Type: application/json' \
		--data-binary "$2" "$HOLD_URL/xrpc/io.atcr.hold.updateCrewTier"
	printf ' %s' "$(jq -r '.error // empty' "$tmp/out" 2>/dev/null)"
}
rank() { printf '{"userDid":"%s","tierRank":%s}' "$1" "$2"; }
t "updateCrewTier without a token: 401 AuthRequired" '[ "$(set_tier "" "$(rank "$BOB_DID" 1)")" = "401 AuthRequired" ]'
t "with a forged token: 401 AuthRequired" '[ "$(set_tier "eyJhbGciOiJFUzI1NksifQ.eyJpc3MiOiJkaWQ6cGxjOngifQ.AAAA" "$(rank "$BOB_DID" 1)")" = "401 AuthRequired" ]'
t "with bob's own token (crew, not crew:admin): 401 AuthRequired" '[ "$(set_tier "$(svc "$BOB_AT")" "$(rank "$BOB_DID" 1)")" = "401 AuthRequired" ]'
t "with the captain's token for another method (lxm): 401 AuthRequired" '[ "$(set_tier "$(svc "$ALICE_AT" io.atcr.hold.getQuota)" "$(rank "$BOB_DID" 1)")" = "401 AuthRequired" ]'
t "the refused calls changed nothing" '[ "$(crew_tier "$BOB_DID")" = null ]'
ALICE_TOK=$(svc "$ALICE_AT")
t "carol is not crew: UserNotFound" '[ "$(set_tier "$ALICE_TOK" "$(rank "$CAROL_DID" 1)")" = "404 UserNotFound" ]'
t "tierRank 3 of three tiers: 400 InvalidRequest" '[ "$(set_tier "$ALICE_TOK" "$(rank "$BOB_DID" 3)")" = "400 InvalidRequest" ]'
t "tierRank -1: 400" '[ "$(set_tier "$ALICE_TOK" "$(rank "$BOB_DID" -1)")" = "400 InvalidRequest" ]'
t "tierRank as a string, or no userDid: 400" \
	'[ "$(set_tier "$ALICE_TOK" "{\"userDid\":\"$BOB_DID\",\"tierRank\":\"1\"}")" = "400 InvalidRequest" ] && [ "$(set_tier "$ALICE_TOK" "{\"tierRank\":1}")" = "400 InvalidRequest" ]'
t "the captain puts bob in rank 0: 200 {tierName: deckhand}" \
	'[ "$(set_tier "$ALICE_TOK" "$(rank "$BOB_DID" 0)")" = "200 " ] && [ "$(jq -c . "$tmp/out")" = "{\"tierName\":\"deckhand\"}" ]'
t "the answer conforms to the updateCrewTier lexicon" '[ -z "$(lexicon_problems io.atcr.hold.updateCrewTier <"$tmp/out")" ]'
t "bob's crew record names the tier; his role and permissions stay" \
	'[ "$(crew_tier "$BOB_DID")" = deckhand ] && "$hold" --config "$HOLD_CONFIG" crew ls | grep -qP "^\Q$BOB_DID\E\tmember\t\[\"blob:read\",\"blob:write\"\]\tdeckhand$"'

# A tier the file does not know (renamed since, say): the default applies, and the hold says so.
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
rkey=$(curl -s -G "$HOLD_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=$HOLD_DID" \
	--data-urlencode collection=io.atcr.hold.crew | jq -r --arg d "$BOB_DID" '.records[] | select(.value.member == $d) | .uri | split("/") | last')
record=$(jq -nc --arg m "$BOB_DID" --arg now "$now" \
	'{"$type":"io.atcr.hold.crew",member:$m,role:"member",permissions:["blob:read","blob:write"],addedAt:$now,tier:"admiral"}')
t "the captain writes bob's crew record with tier admiral (putRecord)" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $(svc "$ALICE_AT" com.atproto.repo.putRecord)" -H "Content-Type: application/json" --data-binary "{\"repo\":\"$HOLD_DID\",\"collection\":\"io.atcr.hold.crew\",\"rkey\":\"$rkey\",\"record\":$record}" "$HOLD_URL/xrpc/com.atproto.repo.putRecord")" = 200 ]'
t "getQuota: an unknown tier counts as the default" 'quota_is "$BOB_DID" "[.tier, .limit]" "[\"deckhand\",$((3 * MiB))]"'
t "and the hold logged it" 'grep -q "tier '"'"'admiral'"'"' is not in the tiers file; the default tier deckhand applies" "$hold_log"'

# ---- the operator's CLI
t "crew tier with a name not in the file: refused, listing the tiers" \
	'! "$hold" --config "$HOLD_CONFIG" crew tier "$BOB_DID" admiral 2>"$tmp/cli.err" && grep -q "no tier .admiral. (tiers: deckhand, bosun, quartermaster)" "$tmp/cli.err"'
t "crew tier of someone not crew: refused" \
	'! "$hold" --config "$HOLD_CONFIG" crew tier "$CAROL_DID" bosun 2>"$tmp/cli.err" && grep -q "not a crew member" "$tmp/cli.err"'
t "crew tier DID bosun raises bob" \
	'"$hold" --config "$HOLD_CONFIG" crew tier "$BOB_DID" bosun | grep -qx "$BOB_DID is in tier bosun (20.0 MiB)"'
t "getQuota: bosun, 20 MiB" 'quota_is "$BOB_DID" "[.tier, .limit]" "[\"bosun\",$((20 * MiB))]"'
t "now bob's big push goes through" 'bob_push big || { sed "s/^/# /" "$tmp/skopeo.out"; false; }'
t "and huge, and pair" 'bob_push huge && bob_push pair || { sed "s/^/# /" "$tmp/skopeo.out"; false; }'
ALL=$(($(bytes_of small) + $(bytes_of big) + $(bytes_of huge) + $(bytes_of pair)))
t "getQuota counts the five layers once each" 'quota_is "$BOB_DID" "[.uniqueBlobs, .totalSize]" "[5,$ALL]"'
t "their blobs are on the hold" 'for d in $BIG $HUGE $(layers_of pair); do served "$d" || exit 1; done'
t "big pulls back whole" \
	'timeout 600 skopeo copy -q --preserve-digests --src-tls-verify=false --src-creds "bob.test:$BOB_APP_PASSWORD" "docker://$REGISTRY/bob.test/big:1.0" "oci:$tmp/pulled:latest" >"$tmp/skopeo.out" 2>&1 && cmp "$tmp/pulled/blobs/sha256/${BIG#sha256:}" "$images/big/blobs/sha256/${BIG#sha256:}" || { sed "s/^/# /" "$tmp/skopeo.out"; ls -l "$tmp/pulled/blobs/sha256" | sed "s/^/# /"; false; }'
t "a push he has no room for is refused again once he is full" \
	'"$hold" --config "$HOLD_CONFIG" crew tier "$BOB_DID" deckhand >/dev/null && image more $((MiB / 2)) && ! bob_push more && grep -Eq "denied: storage quota exceeded: 3.0 MiB tier deckhand, [0-9.]+ MiB used, this blob [0-9.]+ KiB" "$tmp/skopeo.out"'

# ---- a crew:admin member may set tiers too
t "dave is made crew:admin with the CLI" '"$hold" --config "$HOLD_CONFIG" crew add "$DAVE_DID" --role admin --perm crew:admin >/dev/null'
t "dave puts bob in rank 2: quartermaster" \
	'[ "$(set_tier "$(svc "$DAVE_AT")" "$(rank "$BOB_DID" 2)")" = "200 " ] && [ "$(jq -r .tierName "$tmp/out")" = quartermaster ]'
t "getQuota: quartermaster, no limit" 'quota_is "$BOB_DID" "[.tier, has(\"limit\")]" "[\"quartermaster\",false]"'
t "and the push he had no room for goes through" 'bob_push more || { sed "s/^/# /" "$tmp/skopeo.out"; false; }'
t "the hold logged the tier changes" '[ "$(grep -c "is now in tier" "$hold_log")" = 2 ]'

"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
t "nothing left running" '! pgrep -f "$stack/" >/dev/null'
# After the stop, so that what a sanitizer says at exit is in the log too.
t "no sanitizer report in the hold's log" '! grep -E -A3 "AddressSanitizer|LeakSanitizer|runtime error:" "$hold_log" | sed "s/^/# /" | grep -q .'
t "no sanitizer report in the AppView's logs" '! cat "$stack/appview.log" "$stack/lighttpd/logs/"* 2>/dev/null | grep -qE "AddressSanitizer|LeakSanitizer|runtime error:"'
echo "1..$n"
[ "$fails" -eq 0 ]
