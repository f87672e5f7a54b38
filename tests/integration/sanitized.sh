#!/usr/bin/env bash
# sanitized.sh - the registry, UI, network-indexing, hold data, quota, gc, device-login, Apache and
# did:plc suites again, with every program (atcr-appview under lighttpd, atcr-hold, atcr-jetstream,
# docker-credential-atcr) from the ASan+UBSan build (build-san/, made by scripts/test before the
# integration suites): a memory error or undefined behaviour under real traffic kills the process and
# fails the suite's checks. Leak reports are off (servers are stopped by signals). TAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
san=$top/build-san
if [ ! -f "$san/Makefile" ]; then
	t "the sanitizer build exists (scripts/test makes build-san/ before the integration suites)" false
	echo "1..$n"
	exit 1
fi
make -C "$san" -j"$(nproc)" >/dev/null 2>&1
t "build-san is up to date with the programs" '[ -x "$san/cgi/atcr-appview" ] && [ -x "$san/cgi/atcr-jetstream" ] && [ -x "$san/hold/atcr-hold" ] &&
	[ -x "$san/credential-helper/docker-credential-atcr" ]'
export ATCR_BUILD=$san
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for s in registry ui jetstream userdata quota gc device apache plc; do
	out=$(mktemp)
	bash "$top/tests/integration/$s.sh" >"$out" 2>&1
	fold "$s" "$out"
	t "$s under the sanitizers ran to its plan" 'grep -q "^1\.\.[1-9]" "$out"'
	t "$s: no sanitizer report" '! grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$out"'
	rm -f "$out"
done
echo "1..$n"
[ "$fails" -eq 0 ]
