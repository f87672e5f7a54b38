# tap.sh - sourced by the integration suites: TAP counters and checks. (Not a suite itself: scripts/test
# runs tests/integration/*.sh only.)
#   t NAME CHECK        run CHECK (a string eval'd now) and print "ok N - NAME" or "not ok N - NAME"
#   fold NAME TAPFILE   renumber another TAP program's results into this plan
#   ... | has PATTERN   grep's -q test, after reading all of stdin: `curl ... | grep -q` can close the pipe
#                       early, and under pipefail curl's failed write would fail the check by chance
# A suite ends with: echo "1..$n"; [ "$fails" -eq 0 ]
n=0 fails=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi; }
has() { local s; s=$(cat); grep -q -- "$1" <<<"$s"; }
fold() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok "*) n=$((n + 1)); echo "ok $n - $1:${line#ok [0-9]* -}" ;;
		"not ok "*) n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1:${line#not ok [0-9]* -}" ;;
		"1.."*) ;;
		*) echo "# $line" ;;
		esac
	done <"$2"
}
