#!/usr/bin/env bash
# install.sh - `make install` honours DESTDIR and installs the programs and deployable configs.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
prefix=$(sed -n 's/^prefix = //p' "$build/Makefile")
make -C "$build" install DESTDIR="$dest" >"$dest.log" 2>&1
rc=$?
t "make install DESTDIR=... succeeds" '[ $rc -eq 0 ]'
t "atcr-appview installed under DESTDIR$prefix/bin" '[ -x "$dest$prefix/bin/atcr-appview" ]'
t "every installed file lies under DESTDIR/prefix" '[ -z "$(find "$dest" -type f | grep -v "^$dest$prefix/")" ]'
t "lighttpd.conf shipped in the doc dir" '[ -f "$dest$prefix/share/doc/atcr/lighttpd.conf" ]'
t "apache config shipped in the doc dir" '[ -f "$dest$prefix/share/doc/atcr/atcr.conf" ]'
t "atcr-jetstream and atcr-hold installed too" '[ -x "$dest$prefix/bin/atcr-jetstream" ] && [ -x "$dest$prefix/bin/atcr-hold" ]'
t "docker-credential-atcr installed where docker looks for it (PATH)" '[ -x "$dest$prefix/bin/docker-credential-atcr" ]'
t "the UI's templates and static files under DESTDIR$prefix/share/atcr" \
	'[ -f "$dest$prefix/share/atcr/templates/layout.html" ] && [ -f "$dest$prefix/share/atcr/templates/settings.html" ] &&
	 [ -f "$dest$prefix/share/atcr/static/style.css" ] && [ -f "$dest$prefix/share/atcr/static/app.js" ]'
t "every template the repository has is installed" \
	'( for f in "$top"/templates/*.html; do [ -f "$dest$prefix/share/atcr/templates/${f##*/}" ] || exit 1; done )'
t "the cron entries shipped in the doc dir" '[ -f "$dest$prefix/share/doc/atcr/atcr.cron" ]'
units="atcr-hold atcr-appview atcr-jetstream"
t "systemd units for the hold, the AppView (Apache) and the consumer in the doc dir" \
	'( for u in $units; do [ -f "$dest$prefix/share/doc/atcr/systemd/$u.service" ] || exit 1; done )'
t "their ExecStart names the installed programs" \
	'( for u in $units; do grep -q "^ExecStart=$prefix/bin/$u " "$dest$prefix/share/doc/atcr/systemd/$u.service" || exit 1; done )'
# systemd-analyze verify: every key known, the programs there (their DESTDIR copies stand in)
mkdir -p "$dest/units"
for u in $units; do
	sed "s|^ExecStart=$prefix/bin/|ExecStart=$dest$prefix/bin/|" "$dest$prefix/share/doc/atcr/systemd/$u.service" >"$dest/units/$u.service"
done
if command -v systemd-analyze >/dev/null; then
	(cd "$dest/units" && systemd-analyze verify ./*.service) >"$dest/verify.out" 2>&1
	rc=$?
	t "systemd-analyze verify accepts them, without a warning (exit $rc)" '[ "$rc" = 0 ] && [ ! -s "$dest/verify.out" ]' ||
		sed 's/^/# /' "$dest/verify.out"
else
	t "systemd-analyze (Debian's systemd, installed by scripts/setup)" false
fi
t "the installed AppView looks for its templates there" \
	'"$dest$prefix/bin/atcr-appview" config init | grep -A3 "templates_dir" | grep -q "$prefix/share/atcr/templates"'
t "installed binary runs (--version)" '"$dest$prefix/bin/atcr-appview" --version | grep -q atcr'
make -C "$build" uninstall DESTDIR="$dest" >>"$dest.log" 2>&1
t "make uninstall removes the binary" '[ ! -e "$dest$prefix/bin/atcr-appview" ]'
rm -f "$dest.log"
echo "1..$n"
[ "$fails" -eq 0 ]
