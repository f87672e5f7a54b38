#!/usr/bin/env bash
# gc.sh - garbage collection on the hold (`atcr-hold gc`) through the whole loopback stack
# (tests/peers/start-stack: real PDS + PLC, lighttpd, the AppView, the hold owned by alice). Alice pushes
# busybox, multilayer (whose first layer is busybox's) and multiarch (an index; its amd64 manifest is
# busybox's) with skopeo, and one blob with a monolithic POST and no manifest; then deletes multilayer's
# manifest through the registry (DELETE by digest), so its record leaves her PDS. Checks: a dry run
# changes nothing and names what would go; while her PDS does not answer (a PLC that points her DID at a
# dead port) or her DID does not resolve (no PLC), gc keeps everything and says why; with the default
# grace period the deleted manifest's layer records go (getQuota drops) but no young blob does; with
# gc.grace_seconds 0 (HOLD_GC_GRACE_SECONDS=0) multilayer's own layers, its config and the orphan blob
# go, the shared layer and every config other manifests name stay, busybox and multiarch pull back
# whole with skopeo; a second run changes nothing; multilayer can be pushed again; getBlob restarts an
# old blob's mark; the crontab's gc line runs under flock. TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI,FAKE_PLC}_PORT (23200 23583 23582 23280 23290 23270).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
hold=$ATCR_BUILD/hold/atcr-hold
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-gc.XXXXXX)
stack=$tmp/stack images=$tmp/images
plc_pid=
cleanup() {
	[ -n "$plc_pid" ] && kill "$plc_pid" 2>/dev/null
	"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-23200} PDS_PORT=${ATCR_TEST_PDS_PORT:-23583}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-23582} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-23280}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-23290} STACK_HANDLE=alice.test
FAKE_PLC_PORT=${ATCR_TEST_FAKE_PLC_PORT:-23270}
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
HOLD_DID_Q=${HOLD_DID//%/%25} # as a query parameter value
hold_log=$stack/hold/hold.log store=$stack/hold/blobs hold_db=$stack/hold/hold.db
t "the stack is up" '[ -n "$DID" ] && curl -sf -o /dev/null "$HOLD_URL/xrpc/_health"'

# ---- images and pushes
"$top/tests/images/make-images" "$images" >"$tmp/images.txt"
manifest_of() { jq -r '.manifests[0].digest' "$images/$1/index.json"; }
layers_of() { jq -r '.layers[].digest' "$images/$1/blobs/sha256/$(manifest_of "$1" | cut -d: -f2)"; }
config_of() { jq -r '.config.digest' "$images/$1/blobs/sha256/$(manifest_of "$1" | cut -d: -f2)"; }
size_of() { stat -c %s "$images/$1/blobs/sha256/${2#sha256:}"; }
MULTI=$(manifest_of multilayer) MULTI_CONFIG=$(config_of multilayer) BB_CONFIG=$(config_of busybox)
read -r BASE L2 L3 < <(layers_of multilayer | tr '\n' ' ')
t "multilayer's first layer is busybox's, the other two its own" \
	'[ "$(layers_of busybox)" = "$BASE" ] && [ -n "$L3" ] && [ "$L2" != "$BASE" ] && [ "$L3" != "$BASE" ]'
MA_AMD=$(sed -n 's/^multiarch .*(amd64 \(sha256:[0-9a-f]*\), arm64 \(sha256:[0-9a-f]*\))$/\1/p' "$tmp/images.txt")
t "multiarch's amd64 manifest is busybox's (the same bytes)" '[ "$MA_AMD" = "$(manifest_of busybox)" ]'

push() { # push LAYOUT REPO [--all]
	timeout 600 skopeo copy -q ${3:+"$3"} --preserve-digests --dest-tls-verify=false --dest-creds "$HANDLE:$APP_PASSWORD" \
		"oci:$images/$1:latest" "docker://$REGISTRY/$HANDLE/$2:1.0" >"$tmp/skopeo.out" 2>&1 || { sed 's/^/# /' "$tmp/skopeo.out"; false; }
}
pull() { # pull REPO LAYOUT [--all]: pulled into $tmp/pulled-REPO, every blob compared with the layout's
	local out=$tmp/pulled-$1 f
	rm -rf "$out"
	timeout 600 skopeo copy -q ${3:+"$3"} --preserve-digests --src-tls-verify=false --src-creds "$HANDLE:$APP_PASSWORD" \
		"docker://$REGISTRY/$HANDLE/$1:1.0" "oci:$out:latest" >"$tmp/skopeo.out" 2>&1 || { sed 's/^/# /' "$tmp/skopeo.out"; return 1; }
	[ "$(jq -r '.manifests[0].digest' "$out/index.json")" = "$(manifest_of "$2")" ] || { echo "# $1: another manifest"; return 1; }
	for f in "$out"/blobs/sha256/*; do
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "# $f: bad digest"; return 1; }
		cmp -s "$f" "$images/$2/blobs/sha256/$(basename "$f")" || { echo "# $f: not the pushed bytes"; return 1; }
	done
}
t "alice pushes busybox with skopeo" 'push busybox busybox'
t "and multilayer (sharing busybox's layer)" 'push multilayer multi'
t "and multiarch (an index, --all)" 'push multiarch multiarch --all'

token() { # token SCOPE -> a registry token of alice's
	curl -s -u "$HANDLE:$APP_PASSWORD" -G "$APPVIEW_URL/auth/token" --data-urlencode "service=$REGISTRY" \
		--data-urlencode "scope=$1" | jq -r .token
}
printf 'a blob no manifest names %s' "$(date +%s%N)" >"$tmp/orphan"
ORPHAN=sha256:$(sha256sum "$tmp/orphan" | cut -d' ' -f1)
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(token "repository:$HANDLE/loose:pull,push")" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$tmp/orphan" "$APPVIEW_URL/v2/$HANDLE/loose/blobs/uploads/?digest=$ORPHAN")
t "a blob uploaded with a monolithic POST and no manifest ($st)" '[ "$st" = 201 ]'

# ---- helpers
stored() { [ -f "$store/blobs/sha256/${1:7:2}/${1#sha256:}" ]; } # stored DIGEST: on the hold's disk
served() { [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$HOLD_URL/xrpc/com.atproto.sync.getBlob?did=$HOLD_DID_Q&cid=$1")" = 200 ]; }
blobs_on_disk() { find "$store/blobs" -type f | wc -l; }
layer_records() { # layer_records [MANIFEST_URI] -> how many io.atcr.hold.layer records (naming the manifest)
	curl -s -G "$HOLD_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=$HOLD_DID" \
		--data-urlencode collection=io.atcr.hold.layer --data-urlencode limit=100 |
		jq --arg m "${1:-}" '[.records[].value | select($m == "" or .manifest == $m)] | length'
}
quota() { curl -s "$HOLD_URL/xrpc/io.atcr.hold.getQuota?userDid=$DID" | jq -c '[.uniqueBlobs, .totalSize]'; }
gc() { # gc [ARGS...]: atcr-hold gc, its report in $tmp/gc.out, stderr in $tmp/gc.err (and gc-all.err); its status
	local rc
	"$hold" --config "$HOLD_CONFIG" gc "$@" >"$tmp/gc.out" 2>"$tmp/gc.err"
	rc=$?
	cat "$tmp/gc.err" >>"$tmp/gc-all.err"
	return $rc
}
said() { # said TEXT: the last report has the line TEXT (whole)
	grep -qxF -- "$1" "$tmp/gc.out" || { echo "# not said: $1"; sed 's/^/#   /' "$tmp/gc.out"; false; }
}
q() { sqlite3 "$hold_db" "$1"; } # q SQL: a query of the hold's database (read while it serves)
manifests_known() { q "SELECT count(*) FROM (SELECT manifest FROM layers UNION SELECT manifest FROM manifests)"; }
MULTI_URI="at://$DID/io.atcr.manifest/${MULTI#sha256:}"
OWN=("$L2" "$L3" "$MULTI_CONFIG")

records_before=$(layer_records) quota_before=$(quota) disk_before=$(blobs_on_disk) known=$(manifests_known)
t "the hold has multilayer's 3 layer records, every blob served" \
	'[ "$(layer_records "$MULTI_URI")" = 3 ] && for d in $BASE $L2 $L3 $MULTI_CONFIG $BB_CONFIG $ORPHAN; do served "$d" || exit 1; done'
t "notifyManifest recorded each manifest's config blob (no layer record names it)" \
	'[ "$(q "SELECT config FROM manifests WHERE manifest = '"'"'$MULTI_URI'"'"'")" = "$MULTI_CONFIG" ] && [ "$(q "SELECT count(*) FROM manifests WHERE config = '"'"'$BB_CONFIG'"'"'")" = 1 ] || { q "SELECT * FROM manifests" | sed "s/^/# /"; false; }'
t "getQuota counts busybox's and multilayer's layers (3 unique blobs)" \
	'[ "$(quota)" = "[3,$(($(size_of busybox "$BASE") + $(size_of multilayer "$L2") + $(size_of multilayer "$L3")))]" ]'

# ---- nothing to collect yet
t "gc with nothing deleted: exit 0" 'gc'
t "it checks every manifest the hold knows and finds them all present" \
	'said "manifests checked: $known (present $known, gone 0, undecided 0)" && said "layer records removed: 0"'
t "every blob is young: none removed" 'said "blobs removed: 0, 0 bytes freed" && [ "$(blobs_on_disk)" = "$disk_before" ]'

# ---- multilayer's manifest deleted through the registry
st=$(curl -s -o "$tmp/del.out" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $(token "repository:$HANDLE/multi:pull,push,delete")" \
	"$APPVIEW_URL/v2/$HANDLE/multi/manifests/$MULTI")
t "DELETE /v2/$HANDLE/multi/manifests/<digest>: 202" '[ "$st" = 202 ] || cat "$tmp/del.out"'
t "its record left alice's PDS" \
	'! curl -s "$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DID&collection=io.atcr.manifest&limit=100" | jq -r ".records[].value.digest" | grep -qx "$MULTI"'

# ---- a dry run (grace 0, so that blobs are named too)
t "gc --dry-run with grace 0: exit 0" 'HOLD_GC_GRACE_SECONDS=0 gc --dry-run'
t "it says it is one" 'said "dry run: nothing is deleted"'
t "it names multilayer's manifest: gone, 3 layer records would go" 'said "manifest $MULTI_URI: gone; would remove 3 layer records"'
t "it names multilayer's own layers and config, and the orphan, as blobs that would go" \
	'for d in "${OWN[@]}" "$ORPHAN"; do grep -q "^blob $d: would remove (" "$tmp/gc.out" || exit 1; done'
t "and not the shared layer, nor busybox's config" '! grep -qE "^blob ($BASE|$BB_CONFIG):" "$tmp/gc.out"'
t "the summary: 4 blobs to remove" 'grep -qE "^blobs to remove: 4, [0-9]+ bytes to free$" "$tmp/gc.out"'
t "nothing changed: layer records, getQuota, blobs on disk" \
	'[ "$(layer_records)" = "$records_before" ] && [ "$(quota)" = "$quota_before" ] && [ "$(blobs_on_disk)" = "$disk_before" ] && stored "$ORPHAN"'

# ---- alice's PDS does not answer: a PLC directory whose copy of her document points at a dead port
mkdir -p "$tmp/plc"
curl -s "$PLC_URL/$DID" | jq --arg pds "http://localhost:$((FAKE_PLC_PORT + 1))" \
	'.service |= map(if .id == "#atproto_pds" then .serviceEndpoint = $pds else . end)' >"$tmp/plc/$DID"
python3 -m http.server "$FAKE_PLC_PORT" --bind 127.0.0.1 --directory "$tmp/plc" >"$tmp/plc.log" 2>&1 &
plc_pid=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$FAKE_PLC_PORT/$DID" && break; sleep 0.1; done
t "gc while her PDS does not answer (grace 0): exit 0" \
	'HOLD_IDENTITY_PLC_URL=http://127.0.0.1:$FAKE_PLC_PORT HOLD_GC_GRACE_SECONDS=0 gc'
t "every manifest kept, undecided" 'said "manifests checked: $known (present 0, gone 0, undecided $known)" && said "layer records removed: 0"'
t "and it says why: her PDS did not answer" \
	'grep -qF "manifest $MULTI_URI: kept: $DID'"'"'s PDS http://localhost:$((FAKE_PLC_PORT + 1)) did not answer getRecord: " "$tmp/gc.out"'
t "multilayer's layer records and blobs stay" \
	'[ "$(layer_records "$MULTI_URI")" = 3 ] && for d in "${OWN[@]}"; do stored "$d" || exit 1; done'
t "only the orphan went (nothing names it)" '! stored "$ORPHAN" && said "blobs removed: 1, $(stat -c %s "$tmp/orphan") bytes freed"'
kill "$plc_pid" 2>/dev/null
wait "$plc_pid" 2>/dev/null
plc_pid=
t "gc while her DID does not resolve (no PLC directory): exit 0, everything kept, and why" \
	'HOLD_IDENTITY_PLC_URL=http://127.0.0.1:$FAKE_PLC_PORT gc && said "manifests checked: $known (present 0, gone 0, undecided $known)" && grep -qF "manifest $MULTI_URI: kept: $DID does not resolve: " "$tmp/gc.out"'
t "gc logged the manifests it kept (stderr: log.file is for serve)" 'grep -q "WARN gc: manifest $MULTI_URI kept: " "$tmp/gc.err"'

# ---- another orphan, for the grace period
printf 'another blob no manifest names %s' "$(date +%s%N)" >"$tmp/orphan2"
ORPHAN2=sha256:$(sha256sum "$tmp/orphan2" | cut -d' ' -f1)
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(token "repository:$HANDLE/loose:pull,push")" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$tmp/orphan2" "$APPVIEW_URL/v2/$HANDLE/loose/blobs/uploads/?digest=$ORPHAN2")
t "a second blob without a manifest ($st)" '[ "$st" = 201 ]'

# ---- the default grace period: records go, young blobs stay
t "gc (default grace, a day): exit 0" 'gc'
t "multilayer's manifest is gone, its 3 layer records removed" \
	'said "manifest $MULTI_URI: gone; removed 3 layer records" && said "layer records removed: 3" && [ "$(layer_records "$MULTI_URI")" = 0 ]'
t "the other manifests are present" "said \"manifests checked: $known (present $((known - 1)), gone 1, undecided 0)\""
t "their record blocks are pruned" 'said "record blocks pruned: 3"'
t "getQuota dropped by multilayer's own layers" \
	'[ "$(quota)" = "[1,$(size_of busybox "$BASE")]" ]'
t "no blob is older than a day: none removed, the orphan survives" \
	'said "blobs removed: 0, 0 bytes freed" && stored "$ORPHAN2" && for d in "${OWN[@]}"; do stored "$d" || exit 1; done'

# ---- grace 0: what nothing names goes
t "gc with HOLD_GC_GRACE_SECONDS=0: exit 0" 'HOLD_GC_GRACE_SECONDS=0 gc'
bytes=$(($(size_of multilayer "$L2") + $(size_of multilayer "$L3") + $(size_of multilayer "$MULTI_CONFIG") + $(stat -c %s "$tmp/orphan2")))
t "multilayer's own layers and config, and the orphan, are removed ($bytes bytes)" \
	'for d in "${OWN[@]}" "$ORPHAN2"; do grep -q "^blob $d: removed (" "$tmp/gc.out" || exit 1; done && said "blobs removed: 4, $bytes bytes freed"'
t "they are gone from storage and from getBlob" \
	'for d in "${OWN[@]}" "$ORPHAN2"; do ! stored "$d" && ! served "$d" || exit 1; done'
t "the shared layer, busybox's config and multiarch's blobs stay" \
	'for d in $BASE $BB_CONFIG $(jq -r ".config.digest" "$images/multiarch/blobs/sha256/$(sed -n "s/^multiarch .*arm64 sha256:\([0-9a-f]*\))$/\1/p" "$tmp/images.txt")"); do stored "$d" || exit 1; done'
# twice: nothing more (before the pulls below, which update stats records and so leave blocks to prune)
t "gc again (grace 0): exit 0, nothing changes" \
	'on_disk=$(blobs_on_disk) && HOLD_GC_GRACE_SECONDS=0 gc && said "layer records removed: 0" && said "blobs removed: 0, 0 bytes freed" && said "record blocks pruned: 0" && [ "$(blobs_on_disk)" = "$on_disk" ]'
t "busybox pulls back whole with skopeo" 'pull busybox busybox'
t "multiarch pulls back whole (--all: both platforms)" 'pull multiarch multiarch --all'
t "multilayer is gone from the registry" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(token "repository:$HANDLE/multi:pull")" "$APPVIEW_URL/v2/$HANDLE/multi/manifests/$MULTI")" = 404 ]'


# ---- multilayer again: the blobs gc removed are uploaded again
t "multilayer can be pushed again" 'push multilayer multi'
t "and pulls back whole" 'pull multi multilayer'
t "its layer records are back, getQuota too" \
	'[ "$(layer_records "$MULTI_URI")" = 3 ] && [ "$(quota)" = "$quota_before" ]'

# ---- getBlob marks what it is asked for (a push that found a blob with a HEAD gets a grace period)
f=$store/blobs/sha256/${BASE:7:2}/${BASE#sha256:}
t "a HEAD on getBlob restarts an old blob's mark" \
	'touch -d "2 days ago" "$f" && served "$BASE" && [ $(($(date +%s) - $(stat -c %Y "$f"))) -lt 60 ]'

# ---- the crontab's gc line, as cron would run it (paths replaced)
line=$(grep -E '^[^#].*atcr-hold .* gc$' "$top/scripts/atcr.cron" | head -1)
cmd=$(echo "$line" | awk '{for (i = 7; i <= NF; i++) printf "%s ", $i}' |
	sed -e "s|/run/lock/|$tmp/|" -e "s|/etc/atcr/hold.yaml|$HOLD_CONFIG|" -e "s|atcr-hold |$hold |")
sh -c "$cmd" >"$tmp/gc.out" 2>"$tmp/gc.err"
rc=$?
cat "$tmp/gc.err" >>"$tmp/gc-all.err"
t "the crontab's gc line runs under flock (exit $rc) and reports" '[ -n "$line" ] && [ "$rc" = 0 ] && said "layer records removed: 0"'
flock "$tmp/atcr-hold-gc.lock" sleep 3 &
sleep 0.5
sh -c "$cmd" >/dev/null 2>&1
rc=$?
wait $!
t "while one run holds the lock, the next one skips (exit $rc)" '[ "$rc" = 1 ]'
t "gc with an unknown argument: exit 2" '"$hold" --config "$HOLD_CONFIG" gc --force >/dev/null 2>&1; [ $? = 2 ]'
t "a negative grace period is refused: exit 1" 'HOLD_GC_GRACE_SECONDS=-1 gc; [ $? = 1 ] && grep -q "grace period cannot be negative" "$tmp/gc.err"'

"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
t "nothing left running" '! pgrep -f "$stack/" >/dev/null'
t "no sanitizer report in the hold's log or gc's output" \
	'! cat "$hold_log" "$tmp/gc-all.err" | grep -E -A3 "AddressSanitizer|LeakSanitizer|runtime error:" | sed "s/^/# /" | grep -q .'
echo "1..$n"
[ "$fails" -eq 0 ]
