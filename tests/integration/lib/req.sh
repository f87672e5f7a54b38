# shellcheck shell=bash
# req.sh - one HTTP exchange kept on disk for checks, for suites that speak to the registry with curl.
# Needs $tmp (the suite's temporary directory).

# req NAME CURL-ARGS...: status in $tmp/NAME.s, headers (no CR) in $tmp/NAME.h, body in $tmp/NAME.b
req() {
	local r=$1
	shift
	curl -s -D "$tmp/$r.hr" -o "$tmp/$r.b" -w '%{http_code}' "$@" >"$tmp/$r.s"
	tr -d '\r' <"$tmp/$r.hr" >"$tmp/$r.h"
}
# st NAME: the status; hdr NAME HEADER: the last value of a header; code NAME: the OCI error code
st() { cat "$tmp/$1.s"; }
hdr() { sed -n "s/^$2: //Ip" "$tmp/$1.h" | tail -n 1; }
code() { jq -r '.errors[0].code' "$tmp/$1.b" 2>/dev/null; }
