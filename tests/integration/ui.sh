#!/usr/bin/env bash
# ui.sh - the web UI's read-only pages through lighttpd, on a stack with pushed images
# (tests/peers/start-stack): home, repository (README from an io.atcr.repo.page record, tags, sizes,
# platforms, pull commands, the hold's health), manifest detail (layers, platforms, referrers), user,
# search (name, handle, description; paging), 404 pages in the layout, HEAD, and escaping: a page record
# whose description carries <script> and a javascript: link must never reach a page as markup. TAP output.
# Ports: ATCR_TEST_{APPVIEW,PDS,PLC,HOLD,HOLD_FCGI}_PORT (15500 13683 13682 18500 19500).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export ATCR_BUILD=${ATCR_BUILD:-$top/build}
# shellcheck source=lib/tap.sh
. "$top/tests/integration/lib/tap.sh"
tmp=$(mktemp -d /tmp/atcr-ui.XXXXXX)
stack=$tmp/stack images=$tmp/images
cleanup() {
	"$top/tests/peers/stop-stack" "$stack" >/dev/null 2>&1
	if [ -n "${ATCR_TEST_KEEP:-}" ]; then echo "# kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

export APPVIEW_PORT=${ATCR_TEST_APPVIEW_PORT:-15500} PDS_PORT=${ATCR_TEST_PDS_PORT:-13683}
export PLC_PORT=${ATCR_TEST_PLC_PORT:-13682} HOLD_PORT=${ATCR_TEST_HOLD_PORT:-18500}
export HOLD_FCGI_PORT=${ATCR_TEST_HOLD_FCGI_PORT:-19500} STACK_HANDLE=alice.test
"$top/tests/peers/start-stack" "$stack" 2>"$tmp/stack.err" || { cat "$tmp/stack.err" >&2; echo "1..0"; exit 1; }
# shellcheck disable=SC1091
. "$stack/stack.env"
R=$REGISTRY/$HANDLE
"$top/tests/images/make-images" "$images" >"$tmp/images.txt"
BB=$(awk '$1 == "busybox" {print $2}' "$tmp/images.txt")
MA=$(awk '$1 == "multiarch" {print $2}' "$tmp/images.txt")
ART=$(awk '$1 == "artifact" {print $2}' "$tmp/images.txt")
push() { # push LAYOUT REF [skopeo options...]
	local l=$1 ref=$2
	shift 2
	timeout 300 skopeo copy -q --preserve-digests --dest-tls-verify=false --dest-creds "$HANDLE:$APP_PASSWORD" "$@" \
		"oci:$images/$l:latest" "docker://$ref" >"$tmp/push.out" 2>&1
}
t "push busybox as app:1.0" 'push busybox "$R/app:1.0"'
t "push the multi-arch index as app:multi" 'push multiarch "$R/app:multi" --all'
t "push an artifact whose subject is app:1.0 (app:sbom)" 'push artifact "$R/app:sbom"'
t "push busybox as tools/cli:latest (a name with /)" 'push busybox "$R/tools/cli:latest"'

# The owner's page record, written straight to the PDS: Markdown with raw HTML, a script and a javascript: link.
AT=$(curl -s -X POST "$PDS_URL/xrpc/com.atproto.server.createSession" -H 'Content-Type: application/json' \
	-d "{\"identifier\":\"$HANDLE\",\"password\":\"$APP_PASSWORD\"}" | jq -r .accessJwt)
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
desc='# Zebrafish app

Serves <script>alert(1)</script> **quickly**. [click me](javascript:alert(2)) and [docs](https://example.com/docs).

<img src=x onerror=alert(3)>'
record=$(jq -n --arg d "$desc" --arg now "$now" --arg did "$DID" \
	'{repo: $did, collection: "io.atcr.repo.page", rkey: "app",
	  record: {"$type": "io.atcr.repo.page", repository: "app", description: $d, createdAt: $now, updatedAt: $now}}')
st=$(curl -s -o "$tmp/put.json" -w '%{http_code}' -X POST "$PDS_URL/xrpc/com.atproto.repo.putRecord" \
	-H "Authorization: Bearer $AT" -H 'Content-Type: application/json' -d "$record")
t "io.atcr.repo.page record written to the PDS ($st)" '[ "$st" = 200 ]'

pages=$tmp/pages
mkdir -p "$pages"
get() { # get NAME PATH: body into $pages/NAME, headers into $pages/NAME.h; prints the status
	curl -s -o "$pages/$1" -D "$pages/$1.h" -w '%{http_code}' "$APPVIEW_URL$2"
}
has() { grep -qF -- "$2" "$pages/$1"; }
html() { grep -qi '^content-type: text/html; charset=utf-8' "$pages/$1.h"; }
layout() { has "$1" '<link rel="stylesheet" href="/static/style.css">' && has "$1" '<header class="top">'; }

# One pull of app:1.0 by tag (what the pull count counts), anonymous.
tok=$(curl -s "$APPVIEW_URL/auth/token?service=$REGISTRY&scope=repository:$HANDLE/app:pull" | jq -r .token)
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' "$APPVIEW_URL/v2/$HANDLE/app/manifests/1.0")
t "one anonymous pull of app:1.0 ($st)" '[ "$st" = 200 ]'

# ---- repository page (first: it fetches and caches the page record, which search then finds)
st=$(get repo /r/$HANDLE/app)
t "repository page: 200, HTML, in the layout ($st)" '[ "$st" = 200 ] && html repo && layout repo'
t "repository page: the README rendered from the page record" 'has repo "<h1>Zebrafish app</h1>" && has repo "<strong>quickly</strong>"'
t "repository page: the description's <script> is not markup" '! grep -qi "<script>alert" "$pages/repo" && ! grep -qi "onerror" "$pages/repo"'
t "repository page: the javascript: link lost its URL, the https one kept it" \
	'! grep -qi "javascript:" "$pages/repo" && has repo "href=\"https://example.com/docs\""'
t "repository page: tags 1.0, multi and sbom" 'has repo ">1.0<" && has repo ">multi" && has repo ">sbom<"'
t "repository page: the pull command" "has repo 'docker pull $REGISTRY/$HANDLE/app:1.0'"
t "a visitor's header offers the login, no logout form" 'has repo "href=\"/login\"" && ! has repo "action=\"/auth/logout\""'
t "pages are not stored and not framed" 'grep -qi "^cache-control: no-store" "$pages/repo.h" && grep -qi "^x-frame-options: deny" "$pages/repo.h"'
t "repository page: a copy button for progressive enhancement" 'has repo "class=\"copy\" data-copy=\"docker pull $REGISTRY/$HANDLE/app:multi\""'
t "repository page: platforms of the index" 'has repo "linux/amd64" && has repo "linux/arm64/v8"'
t "repository page: short digest linking to the manifest page" "has repo \"/r/$HANDLE/app/manifests/$BB\" && has repo \"${BB:0:19}\""
t "repository page: sizes" 'grep -qE "<td>[0-9.]+ (B|KB|MB)</td>" "$pages/repo"'
t "repository page: counts in words (1 pull, 0 stars)" 'has repo ">1 pull</span>" && has repo "★ 0 stars</span>"'
t "repository page: the hold DID, answering" "has repo '$HOLD_DID' && has repo 'class=\"status up\"'"
t "repository page: security headers (CSP without inline script)" \
	'grep -qi "^content-security-policy: .*script-src .self.;" "$pages/repo.h" && grep -qi "^x-content-type-options: nosniff" "$pages/repo.h"'
st=$(get cli /r/$HANDLE/tools/cli)
t "repository page: a name with / ($st)" '[ "$st" = 200 ] && has cli "tools/cli" && has cli "docker pull $REGISTRY/$HANDLE/tools/cli:latest"'
st=$(get bydid "/r/$DID/app")
t "repository page by DID: 200, links by handle ($st)" '[ "$st" = 200 ] && has bydid "docker pull $REGISTRY/$HANDLE/app:1.0"'
hs=$(curl -s -I -o "$pages/head.h" -w '%{http_code}' "$APPVIEW_URL/r/$HANDLE/app")
t "HEAD on the repository page: 200 with a Content-Length and no body ($hs)" \
	'[ "$hs" = 200 ] && grep -qi "^content-length: [1-9]" "$pages/head.h" && grep -qi "^content-type: text/html" "$pages/head.h"'

# ---- home
st=$(get home /)
t "home: 200, HTML, in the layout ($st)" '[ "$st" = 200 ] && html home && layout home'
t "home: recent pushes name the tags" 'has home "$HANDLE/app</a><span class=\"tag\">:sbom" && has home "$HANDLE/tools/cli</a><span class=\"tag\">:latest"'
t "home: popular repositories with pulls and stars" 'has home "class=\"repos\"" && grep -qE "[0-9]+ pulls?</span> · <span title=\"stars\">★ [0-9]+" "$pages/home"'
t "home: the description summary is escaped text" 'has home "Serves &lt;script&gt;" || has home "Serves alert(1) quickly" || has home "Serves quickly"'
t "home: no raw <script>alert" '! grep -qi "<script>alert" "$pages/home"'
hs=$(curl -s -I -o /dev/null -w '%{http_code}' "$APPVIEW_URL/")
t "HEAD / is 200 ($hs)" '[ "$hs" = 200 ]'

# ---- manifest pages
st=$(get man "/r/$HANDLE/app/manifests/$BB")
t "manifest page: 200 in the layout ($st)" '[ "$st" = 200 ] && layout man && has man "$BB"'
t "manifest page: config, layers with sizes, tag 1.0" 'has man "<h2>Config</h2>" && has man "<h2>Layers</h2>" && grep -qE "· [0-9.]+ (B|KB|MB)" "$pages/man" && has man "<span class=\"tag\">1.0</span>"'
t "manifest page: the artifact among the referrers" 'has man "/r/$HANDLE/app/manifests/$ART" && has man "application/vnd.example.sbom.v1+json"'
st=$(get idx "/r/$HANDLE/app/manifests/$MA")
t "manifest page of the index: its platforms, linked ($st)" '[ "$st" = 200 ] && has idx "linux/amd64" && has idx "linux/arm64/v8" && grep -q "href=\"/r/$HANDLE/app/manifests/sha256:" "$pages/idx"'
st=$(get art "/r/$HANDLE/app/manifests/$ART")
t "manifest page of the artifact: its subject and artifact type ($st)" '[ "$st" = 200 ] && has art "$BB" && has art "application/vnd.example.sbom.v1+json"'

# ---- user
st=$(get user "/u/$HANDLE")
t "user page: 200 with both repositories ($st)" '[ "$st" = 200 ] && layout user && has user ">$HANDLE/app</a>" && has user ">$HANDLE/tools/cli</a>"'
t "user page: no raw <script>alert" '! grep -qi "<script>alert" "$pages/user"'

# ---- search
st=$(get s1 "/search?q=tools")
t "search by name ($st)" '[ "$st" = 200 ] && has s1 ">$HANDLE/tools/cli</a>" && ! has s1 ">$HANDLE/app</a>"'
st=$(get s2 "/search?q=${HANDLE%%.*}")
t "search by handle finds both ($st)" '[ "$st" = 200 ] && has s2 ">$HANDLE/app</a>" && has s2 ">$HANDLE/tools/cli</a>"'
st=$(get s3 "/search?q=zebrafish")
t "search by description ($st)" '[ "$st" = 200 ] && has s3 ">$HANDLE/app</a>" && ! has s3 "tools/cli</a>"'
st=$(get s4 "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22")
t "search: the query is echoed escaped ($st)" '[ "$st" = 200 ] && ! grep -qi "<script>alert" "$pages/s4" && has s4 "&lt;script&gt;alert(1)&lt;/script&gt;&quot;"'
st=$(get s5 '/search?q=nothing%20matches%20this')
t "search: no match is 200 with a message ($st)" '[ "$st" = 200 ] && has s5 "No repository matches"'
# paging: 21 more repositories (20 a page) pushed as single tags
for i in $(seq -w 1 21); do push busybox "$R/page$i:1" || break; done
st=$(get p1 "/search?q=page")
t "search paging: page 1 has 20 results and a next link ($st)" \
	'[ "$st" = 200 ] && [ "$(grep -c "class=\"repo\"" "$pages/p1")" = 20 ] && has p1 "page=2\">Next"'
st=$(get p2 "/search?q=page&page=2")
t "search paging: page 2 has the last one and a previous link ($st)" \
	'[ "$st" = 200 ] && [ "$(grep -c "class=\"repo\"" "$pages/p2")" = 1 ] && has p2 "page=1\">← Previous" && ! has p2 "Next →"'
t "search paging: the pages do not overlap" \
	'! grep -o "href=\"/r/[^\"]*\"" "$pages/p2" | head -1 | xargs -I{} grep -qF {} "$pages/p1"'
st=$(get pbad "/search?q=page&page=zero")
t "search: a bad page number is 400 in the layout ($st)" '[ "$st" = 400 ] && layout pbad'

# ---- 404s
st=$(get n1 /r/$HANDLE/nope)
t "unknown repository: 404 in the layout ($st)" '[ "$st" = 404 ] && html n1 && layout n1 && has n1 "404"'
st=$(get n2 /u/nobody.test)
t "unknown user: 404 in the layout ($st)" '[ "$st" = 404 ] && layout n2'
st=$(get n3 "/r/$HANDLE/app/manifests/sha256:$(printf '0%.0s' $(seq 64))")
t "unknown manifest: 404 in the layout ($st)" '[ "$st" = 404 ] && layout n3'
st=$(get n4 "/no/such/page%3Cscript%3Ealert(1)%3C/script%3E")
t "unknown path: 404 in the layout, the path not echoed as markup ($st)" '[ "$st" = 404 ] && layout n4 && ! grep -qi "<script>alert" "$pages/n4"'
hs=$(curl -s -I -o /dev/null -w '%{http_code}' "$APPVIEW_URL/no/such/page")
t "HEAD on an unknown path is 404 ($hs)" '[ "$hs" = 404 ]'
st=$(curl -s -o "$pages/x" -w '%{http_code}' "$APPVIEW_URL/xrpc/io.example.nothing")
t "unknown /xrpc/ path stays JSON ($st)" '[ "$st" = 404 ] && jq -e . "$pages/x" >/dev/null'
st=$(curl -s -o "$pages/v" -w '%{http_code}' "$APPVIEW_URL/v2/$HANDLE/nope/tags/list")
t "/v2 errors stay OCI JSON ($st)" '[ "$st" = 401 ] && jq -e .errors "$pages/v" >/dev/null'

# ---- a handle carrying markup (the PDS would never accept one, but the index caches what documents
# say): every page that names the owner prints it as text
sqlite3 "$stack/appview.db" "UPDATE users SET handle = '<script>alert(9)</script>' WHERE did = '$DID'"
for p in "hh /" "hr /r/$DID/app" "hu /u/$DID" "hs /search?q=app" "hm /r/$DID/app/manifests/$BB"; do
	get ${p%% *} "${p#* }" >/dev/null
done
t "a handle with <script> is escaped on home, repository, user, search and manifest pages" \
	'( for n in hh hr hu hs hm; do grep -qi "<script>alert(9)" "$pages/$n" && exit 1; grep -q "&lt;script&gt;alert(9)" "$pages/$n" || exit 1; done )'

# ---- static files come from lighttpd
st=$(curl -s -o "$pages/css" -D "$pages/css.h" -w '%{http_code}' "$APPVIEW_URL/static/style.css")
t "static/style.css served by lighttpd as text/css ($st)" '[ "$st" = 200 ] && grep -qi "^content-type: text/css" "$pages/css.h"'
st=$(curl -s -o /dev/null -w '%{http_code}' "$APPVIEW_URL/static/app.js")
t "static/app.js served ($st)" '[ "$st" = 200 ]'

# ---- nothing anywhere carried the page record's script as markup
t "no page carries a raw <script>alert" '! grep -li "<script>alert" "$pages"/* | grep -q .'
echo "1..$n"
[ "$fails" -eq 0 ]
