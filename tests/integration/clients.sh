#!/usr/bin/env bash
# clients.sh - push and pull with real clients (skopeo, podman, ctr, oras) through lighttpd, the AppView, the
# hold and the reference PDS (tests/peers/start-stack): one layer, several layers, a multi-arch index, an
# OCI 1.1 artifact with a subject (referrers), names by handle and by DID, digests kept byte for byte, the
# io.atcr.manifest / io.atcr.tag records in the PDS, moving a tag, delete, wrong passwords, another user's
# namespace, podman's chunked PATCH, a 1 GiB layer under a memory bound, and kill -9 of the AppView
# mid-upload. TAP output. The oras checks run when oras is installed (scripts/setup takes Debian trixie's).
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (15200 13583 13582 18200 19200).
# ATCR_TEST_BIG_MIB sizes the big layer (1024; below 64 the upload may end before the kill).
# ATCR_TEST_KEEP=1 keeps the temporary directory (logs, client outputs) for a look after the run.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
# shellcheck source=lib/oci-clients.sh
. "$top/tests/integration/lib/oci-clients.sh"
tmp=$(lc_tmpdir atcr-clients) || exit 1
stack=$tmp/stack images=$tmp/images
ctd_pid="" sampler_pid=""
cleanup() {
	rm -f "$tmp/sampling"
	[ -n "$sampler_pid" ] && wait "$sampler_pid" 2>/dev/null
	containerd_stop
	"$top/tests/peers/stop-stack" "$stack" >/dev/null
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then
		echo "# kept $tmp (logs: stack/lighttpd/logs, stack/appview.log, stack/hold/hold.log, out)" >&2
		return
	fi
	rm_tree "$tmp"
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15200} PDS_PORT=${ATCR_TEST_PDS_PORT:-13583}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-13582} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18200}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19200} STACK_HANDLE=alice.test
big_mib=${ATCR_TEST_BIG_MIB:-1024}
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
eval "$("$top/tests/peers/create-account" "$stack/pds" bob.test | sed 's/^/BOB_/')"
t "the stack is up: two accounts, the AppView and the hold answer" \
	'[ -n "$DID" ] && [ -n "$BOB_DID" ] && curl -sf -o /dev/null "$APPVIEW_URL/health" && curl -sf -o /dev/null "$HOLD_URL/xrpc/_health"'
ALICE="$HANDLE:$APP_PASSWORD" BOB="bob.test:$BOB_APP_PASSWORD"
R=$REGISTRY/$HANDLE
access_log=$stack/lighttpd/logs/lighttpd-access.log
lighttpd_pid=$(cat "$stack/lighttpd/lighttpd.pid")

"$top/tests/images/make-images" "$images" >"$tmp/images.txt"
BB=$(awk '$1 == "busybox" {print $2}' "$tmp/images.txt")
ML=$(awk '$1 == "multilayer" {print $2}' "$tmp/images.txt")
MA=$(awk '$1 == "multiarch" {print $2}' "$tmp/images.txt")
MA_AMD=$(sed -n 's/^multiarch .*(amd64 \(sha256:[0-9a-f]*\), arm64 \(sha256:[0-9a-f]*\))$/\1/p' "$tmp/images.txt")
MA_ARM=$(sed -n 's/^multiarch .*(amd64 \(sha256:[0-9a-f]*\), arm64 \(sha256:[0-9a-f]*\))$/\2/p' "$tmp/images.txt")
ART=$(awk '$1 == "artifact" {print $2}' "$tmp/images.txt")
t "test images built (busybox, multilayer, multiarch, artifact)" \
	'[ -n "$BB" ] && [ -n "$ML" ] && [ -n "$MA" ] && [ -n "$MA_AMD" ] && [ -n "$MA_ARM" ] && [ -n "$ART" ]'
MANIFEST=application/vnd.oci.image.manifest.v1+json INDEX=application/vnd.oci.image.index.v1+json
SBOM=application/vnd.example.sbom.v1+json

# ---- helpers
out=$tmp/out # the last client's combined output
push() { # push LAYOUT REF [CREDS] [skopeo options...]: skopeo copy oci:LAYOUT -> docker://REF
	local l=$1 ref=$2 creds=${3:-$ALICE}
	shift 3 2>/dev/null || shift $#
	timeout 600 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$creds" "$@" \
		"oci:$images/$l:latest" "docker://$ref" >"$out" 2>&1
}
pull() { # pull REF DIR [skopeo options...]: skopeo copy docker://REF -> oci:DIR (fresh)
	local ref=$1 dir=$2
	shift 2
	rm -rf "$dir"
	timeout 600 skopeo copy -q --src-tls-verify=false --src-creds "$ALICE" "$@" "docker://$ref" "oci:$dir:latest" >"$out" 2>&1
}
same_blobs() { diff -r "$images/$1/blobs" "$2/blobs" >/dev/null; }
service=$(curl -s -D - -o /dev/null "$APPVIEW_URL/v2/" | sed -n 's/^WWW-Authenticate:.*service="\([^"]*\)".*/\1/ip' | tr -d '\r')
token() { # token SCOPE [CREDS] -> a registry token (empty when refused)
	curl -s ${2:+-u "$2"} -G "$APPVIEW_URL/auth/token" --data-urlencode "service=$service" \
		--data-urlencode "scope=$1" | jq -r '.token // empty'
}
api() { # api METHOD PATH SCOPE [CREDS] [curl args...] -> HTTP status; headers in $tmp/hdr, body in $tmp/body
	local m=$1 p=$2 s=$3 c=${4:-$ALICE} tok
	shift 4 2>/dev/null || shift $#
	tok=$(token "$s" "$c")
	curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X "$m" ${tok:+-H "Authorization: Bearer $tok"} "$@" \
		"$APPVIEW_URL$p"
}
header() { sed -n "s/^$1: *//ip" "$tmp/hdr" | tr -d '\r' | tail -n 1; }
err_code() { jq -r '.errors[0].code // empty' "$tmp/body" 2>/dev/null; }
head_digest() { # head_DIGEST NAME REF -> Docker-Content-Digest of HEAD /v2/NAME/manifests/REF
	[ "$(api HEAD "/v2/$1/manifests/$2" "repository:$1:pull" "$ALICE" -I \
		-H "Accept: $MANIFEST, $INDEX, application/vnd.docker.distribution.manifest.v2+json")" = 200 ] &&
		header Docker-Content-Digest
}
records() { # records COLLECTION [DID]: every record of the collection in the account's repo -> $tmp/rec.json
	curl -s -G "$PDS_URL/xrpc/com.atproto.repo.listRecords" --data-urlencode "repo=${2:-$DID}" \
		--data-urlencode "collection=$1" --data-urlencode limit=100 >"$tmp/rec.json"
}
manifest_rec() { # manifest_rec REPOSITORY DIGEST: that io.atcr.manifest record ({uri, value}) from $tmp/rec.json
	jq -c --arg r "$1" --arg d "$2" '[.records[] | select(.value.repository == $r and .value.digest == $d)] | first // empty' \
		"$tmp/rec.json"
}
tag_rec() { # tag_rec REPOSITORY TAG -> records of that tag in $tmp/rec.json (a JSON array)
	jq -c --arg r "$1" --arg t "$2" '[.records[] | select(.value.repository == $r and .value.tag == $t)]' "$tmp/rec.json"
}
manifest_uri() { records io.atcr.manifest && manifest_rec "$1" "$2" | jq -r '.uri // empty'; }
in_log() { # in_log ERE: a line of lighttpd's access log matches (it is written out within seconds)
	local i
	for i in $(seq 1 50); do
		grep -qE "$1" "$access_log" && return 0
		sleep 0.2
	done
	return 1
}

# ---- skopeo: one layer, by handle
t "skopeo push, one layer: $R/app:1.0" 'push busybox "$R/app:1.0"'
t "the registry serves the manifest bytes pushed (skopeo inspect --raw | sha256sum)" '[ "$(raw_digest "$R/app:1.0")" = "$BB" ]'
t "HEAD manifest by tag: Docker-Content-Digest" '[ "$(head_digest "$HANDLE/app" 1.0)" = "$BB" ]'
layer=$(jq -r '.layers[0].digest' "$images/busybox/blobs/sha256/${BB#sha256:}")
st=$(api GET "/v2/$HANDLE/app/blobs/$layer" "repository:$HANDLE/app:pull")
loc=$(header Location)
t "blob GET: 307 to the hold ($st ${loc%%\?*})" '[ "$st" = 307 ] && [ "${loc#"$HOLD_URL"/}" != "$loc" ]'
t "the hold serves the layer bytes (sha256 matches)" \
	'[ -n "$loc" ] && [ "sha256:$(curl -s "$loc" | sha256sum | cut -d" " -f1)" = "$layer" ]'
t "skopeo pull by handle: same manifest digest" 'pull "$R/app:1.0" "$tmp/p-bb" && [ "$(layout_digest "$tmp/p-bb")" = "$BB" ]'
t "skopeo pull by handle: every blob identical" 'same_blobs busybox "$tmp/p-bb"'
# By DID: skopeo, podman and oras refuse 127.0.0.1:PORT/did:plc:.../app:1.0 client-side (':' is outside the
# reference grammar) and ctr cuts it to the repository "did" (it sends /v2/did/blobs/...), so names by DID
# are checked over plain HTTP with the registry token a client would get.
t "by DID: GET /v2/<did>/app/manifests/1.0 serves the same bytes" \
	'[ "$(api GET "/v2/$DID/app/manifests/1.0" "repository:$DID/app:pull" "$ALICE" -H "Accept: $MANIFEST")" = 200 ] && [ "sha256:$(sha256sum <"$tmp/body" | cut -d" " -f1)" = "$BB" ]'
st=$(api GET "/v2/$DID/app/blobs/$layer" "repository:$DID/app:pull")
t "by DID: blob GET is a 307 to the hold ($st)" '[ "$st" = 307 ] && [ "$(header Location)" = "$loc" ]'
st=$(api PUT "/v2/$DID/bydid/manifests/1" "repository:$DID/bydid:pull,push" "$ALICE" -H "Content-Type: $MANIFEST" \
	--data-binary "@$images/busybox/blobs/sha256/${BB#sha256:}")
t "by DID: manifest PUT /v2/<did>/bydid/manifests/1 with alice's token: 201 ($st $(err_code))" \
	'[ "$st" = 201 ] && [ "$(header Docker-Content-Digest)" = "$BB" ]'
t "the DID name and the handle name are the same repository (skopeo inspect by handle)" '[ "$(raw_digest "$R/bydid:1")" = "$BB" ]'

# ---- several layers, a multi-arch index, an artifact with a subject
t "skopeo push, three layers: $R/multi:1.0" 'push multilayer "$R/multi:1.0"'
t "multilayer: the registry serves the digest pushed" '[ "$(raw_digest "$R/multi:1.0")" = "$ML" ]'
t "multilayer: pull gives identical blobs" 'pull "$R/multi:1.0" "$tmp/p-ml" && [ "$(layout_digest "$tmp/p-ml")" = "$ML" ] && same_blobs multilayer "$tmp/p-ml"'
t "skopeo push --all, multi-arch index: $R/multiarch:1.0" 'push multiarch "$R/multiarch:1.0" "$ALICE" --all'
t "multiarch: the registry serves the index digest" '[ "$(raw_digest "$R/multiarch:1.0")" = "$MA" ]'
t "multiarch: both platform manifests are there by digest" \
	'[ "$(head_digest "$HANDLE/multiarch" "$MA_AMD")" = "$MA_AMD" ] && [ "$(head_digest "$HANDLE/multiarch" "$MA_ARM")" = "$MA_ARM" ]'
t "multiarch: pull --all gives identical blobs" 'pull "$R/multiarch:1.0" "$tmp/p-ma" --all && [ "$(layout_digest "$tmp/p-ma")" = "$MA" ] && same_blobs multiarch "$tmp/p-ma"'
t "skopeo push, OCI 1.1 artifact with a subject: $R/app:sbom" 'push artifact "$R/app:sbom"'
t "artifact: the registry serves the digest pushed" '[ "$(raw_digest "$R/app:sbom")" = "$ART" ]'
st=$(api GET "/v2/$HANDLE/app/referrers/$BB" "repository:$HANDLE/app:pull")
t "referrers of the subject: 200, an image index ($st)" \
	'[ "$st" = 200 ] && [ "$(jq -r .mediaType "$tmp/body")" = "$INDEX" ] && header Content-Type | grep -qF "$INDEX"'
t "referrers lists the artifact with its artifactType and size" \
	'jq -e --arg d "$ART" --arg a "$SBOM" "[.manifests[] | select(.digest == \$d and .artifactType == \$a and .mediaType == \"$MANIFEST\" and .size > 0)] | length == 1" "$tmp/body" >/dev/null'
st=$(api GET "/v2/$HANDLE/app/referrers/$BB?artifactType=application/x-none" "repository:$HANDLE/app:pull")
t "referrers filtered by another artifactType: empty list, OCI-Filters-Applied ($st)" \
	'[ "$st" = 200 ] && [ "$(jq ".manifests | length" "$tmp/body")" = 0 ] && [ "$(header OCI-Filters-Applied)" = artifactType ]'
t "skopeo list-tags: 1.0 and sbom" \
	'[ "$(timeout 60 skopeo list-tags --tls-verify=false --creds "$ALICE" "docker://$R/app" 2>"$out" | jq -c ".Tags | sort")" = "[\"1.0\",\"sbom\"]" ]'
st=$(api GET "/v2/_catalog" "registry:catalog:*")
t "_catalog lists alice's repositories ($st)" \
	'[ "$st" = 200 ] && jq -e --arg h "$HANDLE" --arg d "$DID" "[\"app\", \"multi\", \"multiarch\"] - [.repositories[] | select(startswith(\$h + \"/\") or startswith(\$d + \"/\")) | sub(\"^[^/]*/\"; \"\")] == []" "$tmp/body" >/dev/null'

# ---- the records in the PDS
records io.atcr.manifest
rec=$(manifest_rec app "$BB")
t "io.atcr.manifest record for app@busybox in the PDS" '[ -n "$rec" ]'
t "manifest record: repository, digest, mediaType, schemaVersion, holdDid, createdAt" \
	'[ -n "$rec" ] && jq -e --arg h "$HOLD_DID" --arg m "$MANIFEST" ".value | .repository == \"app\" and .mediaType == \$m and .schemaVersion == 2 and .holdDid == \$h and (.createdAt | type) == \"string\" and .\"\$type\" == \"io.atcr.manifest\"" <<<"$rec" >/dev/null'
t "manifest record: config and layers descriptors" \
	'[ "$(jq -r ".value.layers[0].digest" <<<"$rec")" = "$layer" ] && [ "$(jq -r ".value.config.digest" <<<"$rec")" = "$(jq -r .config.digest "$images/busybox/blobs/sha256/${BB#sha256:}")" ]'
cid=$(jq -r '.value.manifestBlob.ref["$link"] // empty' <<<"$rec")
t "manifest record: manifestBlob is a blob ref of the manifest's size" \
	'[ -n "$cid" ] && [ "$(jq -r ".value.manifestBlob.\"\$type\"" <<<"$rec")" = blob ] && [ "$(jq -r ".value.manifestBlob.size" <<<"$rec")" = "$(stat -c %s "$images/busybox/blobs/sha256/${BB#sha256:}")" ]'
t "manifestBlob fetched from the PDS hashes to the manifest digest" \
	'[ -n "$cid" ] && [ "sha256:$(curl -s -G "$PDS_URL/xrpc/com.atproto.sync.getBlob" --data-urlencode "did=$DID" --data-urlencode "cid=$cid" | sha256sum | cut -d" " -f1)" = "$BB" ]'
mrec=$(manifest_rec multiarch "$MA")
t "multiarch: an index record listing both platforms, and a record per platform manifest" \
	'[ "$(jq -r .value.mediaType <<<"$mrec")" = "$INDEX" ] && [ "$(jq -c "[.value.manifests[].digest]" <<<"$mrec")" = "[\"$MA_AMD\",\"$MA_ARM\"]" ] && [ "$(jq -r ".value.manifests[1].platform.variant" <<<"$mrec")" = v8 ] && [ -n "$(manifest_rec multiarch "$MA_AMD")" ] && [ -n "$(manifest_rec multiarch "$MA_ARM")" ]'
t "artifact: its record carries the subject" '[ "$(manifest_rec app "$ART" | jq -r .value.subject.digest)" = "$BB" ]'
bb_uri=$(jq -r '.uri // empty' <<<"$rec")
records io.atcr.tag
t "io.atcr.tag app:1.0 points at the manifest record's at-uri" \
	'[ -n "$bb_uri" ] && [ "$(tag_rec app 1.0 | jq -r ".[0].value.manifest")" = "$bb_uri" ] && [ "$(tag_rec app 1.0 | jq length)" = 1 ]'
t "tag record: \$type, repository, tag, a time" \
	'tag_rec app 1.0 | jq -e ".[0].value | .\"\$type\" == \"io.atcr.tag\" and .repository == \"app\" and .tag == \"1.0\" and ((.createdAt // .updatedAt) | type) == \"string\"" >/dev/null'
t "the tag record's key is the repository and tag (app:1.0)" '[ "$(tag_rec app 1.0 | jq -r ".[0].uri")" = "at://$DID/io.atcr.tag/app:1.0" ]'

# ---- moving a tag, delete
t "push another image to the same tag (app:1.0 <- multilayer)" 'push multilayer "$R/app:1.0"'
t "the tag now serves the new digest" '[ "$(raw_digest "$R/app:1.0")" = "$ML" ]'
t "pull of the moved tag: new digest, identical blobs" 'pull "$R/app:1.0" "$tmp/p-moved" && [ "$(layout_digest "$tmp/p-moved")" = "$ML" ] && same_blobs multilayer "$tmp/p-moved"'
ml_uri=$(manifest_uri app "$ML")
records io.atcr.tag
t "the tag record now points at the new manifest record (one record for app:1.0)" \
	'[ -n "$ml_uri" ] && [ "$(tag_rec app 1.0 | jq -r ".[0].value.manifest")" = "$ml_uri" ] && [ "$(tag_rec app 1.0 | jq length)" = 1 ]'
t "the old manifest stays reachable by digest" '[ "$(head_digest "$HANDLE/app" "$BB")" = "$BB" ]'
t "push busybox to $R/del:1, its record is in the PDS" 'push busybox "$R/del:1" && records io.atcr.manifest && [ -n "$(manifest_rec del "$BB")" ]'
t "skopeo delete $R/del:1" 'timeout 60 skopeo delete --tls-verify=false --creds "$ALICE" "docker://$R/del:1" >"$out" 2>&1'
st=$(api GET "/v2/$HANDLE/del/manifests/$BB" "repository:$HANDLE/del:pull" "$ALICE" -H "Accept: $MANIFEST")
t "deleted manifest: 404 MANIFEST_UNKNOWN ($st $(err_code))" '[ "$st" = 404 ] && [ "$(err_code)" = MANIFEST_UNKNOWN ]'
t "the deleted manifest's record is gone from the PDS" 'records io.atcr.manifest && [ -z "$(manifest_rec del "$BB")" ]'
t "the same digest in another repository is untouched" '[ "$(head_digest "$HANDLE/app" "$BB")" = "$BB" ]'

# ---- wrong password, another user's namespace
t "skopeo push with a wrong password fails, unauthorized" \
	'! push busybox "$R/app:wrong" "$HANDLE:not-the-password" && grep -qiE "unauthorized|401" "$out"'
t "the token endpoint answered 401 to skopeo's wrong password" 'in_log "\"GET /auth/token[^\"]*\" 401 .*skopeo"'
t "/auth/token with a wrong password: 401 UNAUTHORIZED" \
	'[ "$(curl -s -o "$tmp/body" -w "%{http_code}" -u "$HANDLE:wrong" -G "$APPVIEW_URL/auth/token" --data-urlencode "service=$service" --data-urlencode "scope=repository:$HANDLE/app:pull,push")" = 401 ] && [ "$(err_code)" = UNAUTHORIZED ]'
t "bob pushing into alice's namespace fails, denied" '! push busybox "$R/app:bob" "$BOB" && grep -qiE "denied|403" "$out"'
st=$(api POST "/v2/$HANDLE/app/blobs/uploads/" "repository:$HANDLE/app:pull,push" "$BOB" -H "Content-Length: 0")
t "bob's upload into alice.test/app: 403 DENIED ($st $(err_code))" '[ "$st" = 403 ] && [ "$(err_code)" = DENIED ]'
st=$(api PUT "/v2/$HANDLE/app/manifests/bob" "repository:$HANDLE/app:pull,push" "$BOB" -H "Content-Type: $MANIFEST" \
	--data-binary "@$images/busybox/blobs/sha256/${BB#sha256:}")
t "bob's manifest PUT into alice.test/app: 403 DENIED ($st $(err_code))" '[ "$st" = 403 ] && [ "$(err_code)" = DENIED ]'
t "bob pushes into his own namespace" 'push busybox "$REGISTRY/bob.test/app:1" "$BOB" && [ "$(raw_digest "$REGISTRY/bob.test/app:1")" = "$BB" ]'
t "bob's record is in bob's PDS repo, with the hold" \
	'[ -n "$BOB_DID" ] && records io.atcr.manifest "$BOB_DID" && [ "$(manifest_rec app "$BB" | jq -r .value.holdDid)" = "$HOLD_DID" ]'

# ---- podman (root, private storage)
podman_init
# podman recompresses layers on push: a layer the registry has never seen makes it upload (POST, then
# PATCH with a chunked body, then PUT) where known layers would be mounted from another repository.
mkdir -p "$tmp/podman/layer/etc"
printf 'a layer only podman pushes\n' >"$tmp/podman/layer/etc/podman.txt"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/podman/layer" -cf "$tmp/podman/layer.tar" .
pm_id=$("${P[@]}" import -q "$tmp/podman/layer.tar" localhost/imported:1 2>"$out")
pm_id=${pm_id#sha256:}
t "podman imports a one-layer image" '[ -n "$pm_id" ]'
t "podman push $R/podman:1" 'podman_push "$pm_id" "$R/podman:1"'
pm_digest=$(cat "$tmp/podman-digest" 2>/dev/null)
t "podman's pushed digest is what the registry serves" '[ -n "$pm_digest" ] && [ "$(raw_digest "$R/podman:1")" = "$pm_digest" ] && [ "$(head_digest "$HANDLE/podman" 1)" = "$pm_digest" ]'
t "podman's chunked PATCH uploads were accepted (202)" 'in_log "\"PATCH /v2/$HANDLE/podman/blobs/uploads/[^\"]*\" 202 .*containers/"'
"${P[@]}" pull -q "oci:$images/multilayer:latest" >"$tmp/podman-id" 2>"$out"
ml_id=$(cat "$tmp/podman-id")
t "podman push of the multilayer image (its layers mounted or uploaded): $R/podman:ml" \
	'[ -n "$ml_id" ] && podman_push "$ml_id" "$R/podman:ml" && [ "$(raw_digest "$R/podman:ml")" = "$(cat "$tmp/podman-digest")" ]'
"${P[@]}" rmi -af >/dev/null 2>&1
t "podman pull $R/podman:1: the same image id" \
	'timeout 300 "${P[@]}" pull -q --tls-verify=false --creds "$ALICE" "$R/podman:1" >"$tmp/podman-id" 2>"$out" && [ "$(cat "$tmp/podman-id")" = "$pm_id" ]'
t "podman pull $R/podman:ml: the same image id" \
	'timeout 300 "${P[@]}" pull -q --tls-verify=false --creds "$ALICE" "$R/podman:ml" >"$tmp/podman-id" 2>"$out" && [ "$(cat "$tmp/podman-id")" = "$ml_id" ]'
amd_config=$(jq -r .config.digest "$images/multiarch/blobs/sha256/${MA_AMD#sha256:}")
t "podman pull of the skopeo-pushed index picks linux/amd64" \
	'timeout 300 "${P[@]}" pull -q --tls-verify=false --creds "$ALICE" --arch amd64 "$R/multiarch:1.0" >"$tmp/podman-id" 2>"$out" && [ "sha256:$(cat "$tmp/podman-id")" = "$amd_config" ]'

# ---- ctr, with a containerd of our own
containerd_start
t "containerd is up (private root, state and socket)" '"${C[@]}" version >/dev/null 2>&1'
ctr_import "$images/multilayer" src/multilayer
t "ctr push by handle: $R/ctr:1" \
	'timeout 300 "${C[@]}" images push --plain-http --user "$ALICE" "$R/ctr:1" src/multilayer:latest >"$out" 2>&1'
t "ctr push: the registry serves the digest pushed" '[ "$(raw_digest "$R/ctr:1")" = "$ML" ]'
t "ctr logs in with the DID as user name: $R/ctrdid:1" \
	'timeout 300 "${C[@]}" images push --plain-http --user "$DID:$APP_PASSWORD" "$R/ctrdid:1" src/multilayer:latest >"$out" 2>&1 && [ "$(head_digest "$HANDLE/ctrdid" 1)" = "$ML" ]'
"${C[@]}" images rm src/multilayer:latest >/dev/null 2>&1
t "ctr pull by handle: the same digest" '[ "$(ctr_pull "$R/ctr:1")" = "$ML" ]'
t "ctr pull: every layer's bytes hash to its digest" 'ctr_layers_ok "$images/multilayer/blobs/sha256/${ML#sha256:}"'
t "ctr pull of skopeo's push (multi:1.0)" '[ "$(ctr_pull "$R/multi:1.0")" = "$ML" ]'
t "ctr pull --all-platforms of the index" '[ "$(ctr_pull "$R/multiarch:1.0" --all-platforms)" = "$MA" ]'
# an artifact has nothing to unpack: fetch its content only
t "ctr content fetch of the artifact (app:sbom): manifest bytes hash to its digest" \
	'timeout 120 "${C[@]}" content fetch --plain-http --user "$ALICE" "$R/app:sbom" >"$out" 2>&1 && [ "sha256:$("${C[@]}" content get "$ART" | sha256sum | cut -d" " -f1)" = "$ART" ]'
t "ctr with a wrong password fails, unauthorized" \
	'! timeout 120 "${C[@]}" images pull --plain-http --user "$HANDLE:wrong" "$R/ctr:1" >"$out" 2>&1 && grep -qiE "unauthorized|401" "$out"'

# ---- oras (Debian trixie's package, when installed)
if command -v oras >/dev/null; then
	oras_init
	t "oras push an artifact: $R/oras:v1" 'oras_push "$R/oras:v1"'
	oras_md=$(cat "$tmp/oras-digest" 2>/dev/null)
	t "oras: the registry serves the digest pushed" '[ -n "$oras_md" ] && [ "$(raw_digest "$R/oras:v1")" = "$oras_md" ]'
	t "oras attach a signature to it" 'oras_attach "$R/oras:v1"'
	sig_md=$(cat "$tmp/oras-digest" 2>/dev/null)
	t "oras discover lists the signature" \
		'[ -n "$sig_md" ] && timeout 60 oras discover "${O[@]}" --format json "$R/oras:v1" 2>"$out" | jq -e --arg d "$sig_md" "[.manifests[] | select(.digest == \$d and .artifactType == \"application/vnd.example.sig.v1\")] | length == 1" >/dev/null'
	t "oras discover used the referrers API (200)" 'in_log "\"GET /v2/$HANDLE/oras/referrers/$oras_md[^\"]*\" 200 .*oras/"'
	t "oras pull: the file comes back identical" 'oras_pull "$R/oras:v1"'
fi

# ---- a big layer: kill -9 of the AppView mid-upload, the client's retry, the AppView's memory
"$top/tests/images/make-big-image" "$images/big" "$big_mib" >"$tmp/big.txt" 2>"$out"
read -r BIG BIG_LAYER BIG_SIZE <"$tmp/big.txt"
t "a $big_mib MiB layer image built" '[ -n "${BIG_SIZE:-}" ] && [ "$BIG_SIZE" -gt $((big_mib * 1024 * 1024)) ]'
appview_pids() { pgrep -P "$lighttpd_pid" -x atcr-appview | paste -sd' '; }
sampler() { # while $tmp/sampling exists, record the AppView processes' total RSS (KiB) every 0.5 s
	local pids rss
	while [ -f "$tmp/sampling" ]; do
		pids=$(appview_pids)
		rss=0
		[ -n "$pids" ] && rss=$(ps -o rss= -p "${pids// /,}" | awk '{s += $1} END {print s + 0}')
		echo "$rss" >>"$1"
		sleep 0.5
	done
}
max_rss() { sort -n "$1" 2>/dev/null | tail -n 1; }
hold_bytes() { du -sb "$stack/hold/blobs" | cut -f1; }

before=$(hold_bytes) threshold=$((big_mib * 1024 * 1024 / 8))
[ "$threshold" -gt $((16 * 1024 * 1024)) ] && threshold=$((16 * 1024 * 1024))
push big "$R/big:1" &
push_pid=$!
went=0
for _ in $(seq 1 1500); do # up to 5 minutes for the first bytes to reach the hold
	if [ $(($(hold_bytes) - before)) -gt "$threshold" ]; then went=1; break; fi
	kill -0 "$push_pid" 2>/dev/null || break
	sleep 0.2
done
killed=$(appview_pids)
# shellcheck disable=SC2086
[ "$went" = 1 ] && [ -n "$killed" ] && kill -KILL $killed
wait "$push_pid"
first_rc=$?
t "mid-upload: bytes reached the hold, then kill -9 of the AppView (pids $killed)" '[ "$went" = 1 ] && [ -n "$killed" ]'
t "the interrupted push failed (exit $first_rc)" '[ "$went" = 1 ] && [ "$first_rc" != 0 ]'
# lighttpd restarts a dead FastCGI program on a later request, after its backend's disable-time
back=0
for _ in $(seq 1 150); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$APPVIEW_URL/health")" = 200 ] && { back=1; break; }
	sleep 0.2
done
t "the AppView answers again (lighttpd respawned it: $(appview_pids))" '[ "$back" = 1 ]'
: >"$tmp/sampling"
sampler "$tmp/rss-push" &
sampler_pid=$!
push big "$R/big:1" "$ALICE" --retry-times 3
retry_rc=$?
rm -f "$tmp/sampling"
wait "$sampler_pid"
t "the retried push of the big layer succeeds" '[ "$retry_rc" = 0 ]'
all_gone() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
# shellcheck disable=SC2086
t "lighttpd started a new AppView process ($(appview_pids))" '[ -n "$(appview_pids)" ] && all_gone $killed'
t "while pushing $big_mib MiB the AppView stayed below 200 MiB RSS (max $(max_rss "$tmp/rss-push") KiB)" \
	'[ "$(grep -cv "^0$" "$tmp/rss-push")" -gt 0 ] && [ "$(max_rss "$tmp/rss-push")" -lt $((200 * 1024)) ]'
: >"$tmp/sampling"
sampler "$tmp/rss-pull" &
sampler_pid=$!
pull "$R/big:1" "$tmp/p-big"
pull_rc=$?
rm -f "$tmp/sampling"
wait "$sampler_pid"
t "big pull: the same manifest digest" '[ "$pull_rc" = 0 ] && [ "$(layout_digest "$tmp/p-big")" = "$BIG" ]'
t "big pull: the layer is identical" 'cmp -s "$images/big/blobs/sha256/${BIG_LAYER#sha256:}" "$tmp/p-big/blobs/sha256/${BIG_LAYER#sha256:}"'
t "while pulling the AppView stayed below 200 MiB RSS (max $(max_rss "$tmp/rss-pull") KiB)" \
	'[ -s "$tmp/rss-pull" ] && [ "$(max_rss "$tmp/rss-pull")" -lt $((200 * 1024)) ]'
rm -rf "$tmp/p-big"

echo "1..$n"
[ "$fails" -eq 0 ]
