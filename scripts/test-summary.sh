#!/usr/bin/env bash
# Count the results of the last `meson test` run in each given build
# directory, from BUILDDIR/meson-logs/testlog.json (one JSON object per test).
#
# Usage: scripts/test-summary.sh BUILDDIR...
# Prints "PASSED FAILED SKIPPED" (three integers) summed over the directories.
#   passed:  OK, EXPECTEDFAIL
#   failed:  FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS (and anything unknown)
#   skipped: SKIP
# A directory without a testlog.json counts as one failure.
set -euo pipefail

passed=0 failed=0 skipped=0
for dir in "$@"; do
	log=$dir/meson-logs/testlog.json
	if [[ ! -s $log ]]; then
		failed=$((failed + 1))
		continue
	fi
	read -r p f s < <(jq -rs '
		[.[] | .result] as $r
		| [ ($r | map(select(. == "OK" or . == "EXPECTEDFAIL")) | length),
		    ($r | map(select(. != "OK" and . != "EXPECTEDFAIL" and . != "SKIP")) | length),
		    ($r | map(select(. == "SKIP")) | length) ]
		| @tsv' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done
echo "$passed $failed $skipped"
