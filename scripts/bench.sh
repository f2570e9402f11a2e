#!/usr/bin/env bash
# `make bench`: run every benchmark defined in bench/meson.build.
#
# * Benchmarks registered with meson's benchmark() run through
#   `meson test --benchmark` (arguments, environment and working directory as
#   bench/meson.build gives them), one at a time so they do not compete for
#   the 2 cores.
# * Executables defined in bench/meson.build that are not registered as
#   benchmarks run afterwards, from the repository root, with the shared
#   test data directory as their only argument.
#
# Benchmarks print their own figures (achieved rate beside the crypto floor
# measured in the same run); they are not tests and do not pass or fail on
# speed. Exit status is non-zero if one of them exits non-zero.
#
# Usage: scripts/bench.sh [BUILDDIR]   (default build, already built)
set -uo pipefail

cd "$(dirname "$0")/.."

dir=${1:-build}
testdata=${TESTDATA:-../shared/testdata}
failed=0

benchmarks=$(meson introspect "$dir" --benchmarks 2>/dev/null | jq -r '.[].name' 2>/dev/null)
if [[ -n $benchmarks ]]; then
	echo "==== meson benchmarks ===="
	meson test -C "$dir" --benchmark --no-rebuild --verbose --num-processes 1 ||
		failed=1
fi

# Executables defined in bench/ that no benchmark() runs.
mapfile -t executables < <(
	meson introspect "$dir" --targets 2>/dev/null |
		jq -r --argjson run "$(meson introspect "$dir" --benchmarks 2>/dev/null | jq '[.[].cmd[0]]' 2>/dev/null || echo '[]')" '
		.[] | select(.type == "executable")
		    | select(.defined_in | test("/bench/meson\\.build$"))
		    | .filename[0]
		    | select(. as $f | $run | index($f) | not)' 2>/dev/null)

for exe in "${executables[@]}"; do
	[[ -x $exe ]] || continue
	echo
	echo "==== ${exe##*/} ===="
	"$exe" "$testdata" || {
		echo "bench: ${exe##*/} exited $?"
		failed=1
	}
done

if [[ -z $benchmarks && ${#executables[@]} -eq 0 ]]; then
	echo "bench: bench/meson.build defines no benchmark yet"
fi
exit "$failed"
