# shellcheck shell=bash
# oci-clients.sh - skopeo, podman and ctr as the client suites run them, whichever web server is in front
# (clients.sh: lighttpd, apache.sh: Apache). Sourced. The functions use $tmp (the suite's temporary
# directory: podman's storage and the suite's own containerd live below it), $out (a client's combined
# output goes there) and $ALICE (USER:PASSWORD for the registry).
#   lc_tmpdir PREFIX           a new temporary directory whose name is lower case
#   rm_tree DIR                rm -rf, after making podman's and containerd's read-only directories writable
#   raw_digest REF             sha256 of the manifest bytes the registry serves for REF (skopeo inspect --raw)
#   layout_digest DIR          the digest an oci: layout's index.json names first
#   podman_init                P=(podman ...) with private storage under $tmp/podman
#   podman_push IMAGE REF      push with TLS off; the digest podman pushed in $tmp/podman-digest
#   containerd_start           a containerd of the suite's own under $tmp/containerd (root, state and socket
#                              there, so that two suites never share one); ctd_pid, C=(ctr ...); 0 once it answers
#   containerd_stop            SIGTERM, up to 10 s, then SIGKILL, by ctd_pid; reaps it
#   ctr_import LAYOUT NAME     an oci: layout into containerd as NAME:latest, not unpacked
#   ctr_pull REF [options]     pull (unpacked with the native snapshotter); prints the image's target digest
#   ctr_layers_ok MANIFEST     every layer the manifest file lists reads back from containerd with its digest
#   oras_init                  $tmp/oras/in/hello.txt and sig.txt, an empty $tmp/oras/out, O=(oras's login, TLS off)
#   oras_push REF              hello.txt as an artifact; the digest oras reports in $tmp/oras-digest
#   oras_attach REF            sig.txt as a signature whose subject is REF; its digest in $tmp/oras-digest
#   oras_pull REF              pull into $tmp/oras/out; 0 when hello.txt comes back identical

# podman names images loaded from an oci: layout after its path, and image names are lower case.
lc_tmpdir() {
	local d
	d=$(mktemp -d "/tmp/$1.XXXXXX") || return 1
	if [ "${d,,}" != "$d" ]; then mv -T "$d" "${d,,}" || return 1; fi
	echo "${d,,}"
}
rm_tree() { chmod -R u+w "$1" 2>/dev/null; rm -rf "$1"; }

raw_digest() {
	local m
	m=$(timeout 120 skopeo inspect --raw --tls-verify=false --creds "$ALICE" "docker://$1" 2>"$out") || return 1
	printf '%s' "$m" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}
layout_digest() { jq -r '.manifests[0].digest' "$1/index.json"; }

podman_init() {
	mkdir -p "$tmp/podman/tmp"
	P=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver vfs --events-backend file
		--cgroup-manager cgroupfs --tmpdir "$tmp/podman/tmp")
}
podman_push() {
	rm -f "$tmp/podman-digest"
	timeout 300 "${P[@]}" push -q --tls-verify=false --creds "$ALICE" --digestfile "$tmp/podman-digest" "$1" \
		"docker://$2" >"$out" 2>&1
}

containerd_start() {
	local c=$tmp/containerd
	mkdir -p "$c"
	cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
TOML
	containerd --config "$c/config.toml" --root "$c/root" --state "$c/state" --address "$c/containerd.sock" \
		</dev/null >"$c/log" 2>&1 &
	ctd_pid=$!
	C=(ctr --address "$c/containerd.sock" -n atcr-test)
	for _ in $(seq 1 100); do "${C[@]}" version >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
containerd_stop() {
	[ -n "${ctd_pid:-}" ] || return 0
	if kill -TERM "$ctd_pid" 2>/dev/null; then
		for _ in $(seq 1 100); do kill -0 "$ctd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$ctd_pid" 2>/dev/null
	fi
	wait "$ctd_pid" 2>/dev/null
	ctd_pid=""
}

ctr_import() {
	tar -C "$1" -cf "$tmp/ctr-import.tar" . &&
		"${C[@]}" images import --no-unpack --base-name "$2" "$tmp/ctr-import.tar" >"$out" 2>&1
	local rc=$?
	rm -f "$tmp/ctr-import.tar"
	return "$rc"
}
ctr_pull() {
	local ref=$1
	shift
	"${C[@]}" images rm "$ref" >/dev/null 2>&1
	timeout 300 "${C[@]}" images pull --plain-http --user "$ALICE" --snapshotter native "$@" "$ref" >"$out" 2>&1 &&
		"${C[@]}" images ls | awk -v r="$ref" '$1 == r {print $3}'
}
ctr_layers_ok() {
	local l
	for l in $(jq -r '.layers[].digest' "$1"); do
		[ "sha256:$("${C[@]}" content get "$l" | sha256sum | cut -d' ' -f1)" = "$l" ] || return 1
	done
}

oras_init() {
	mkdir -p "$tmp/oras/in" "$tmp/oras/out"
	printf 'hello from oras\n' >"$tmp/oras/in/hello.txt"
	printf 'a stand-in signature\n' >"$tmp/oras/in/sig.txt"
	O=(--plain-http -u "${ALICE%%:*}" -p "${ALICE#*:}")
}
oras_push() { oras_run push application/vnd.example.file.v1 "$1" hello.txt; }
oras_attach() { oras_run attach application/vnd.example.sig.v1 "$1" sig.txt; }
oras_pull() {
	(cd "$tmp/oras/out" && timeout 120 oras pull "${O[@]}" "$1") >"$out" 2>&1 &&
		cmp -s "$tmp/oras/in/hello.txt" "$tmp/oras/out/hello.txt"
}
oras_run() { # oras_run push|attach ARTIFACT_TYPE REF FILE
	rm -f "$tmp/oras-digest"
	(cd "$tmp/oras/in" && timeout 120 oras "$1" "${O[@]}" --artifact-type "$2" "$3" "$4:text/plain") >"$out" 2>&1 &&
		sed -n 's/^Digest: *//p' "$out" >"$tmp/oras-digest" && [ -s "$tmp/oras-digest" ]
}
