#!/usr/bin/env bash
# Peer oracle: compare `shieldvm eventlog replay` with tpm2-tools'
# tpm2_eventlog on every shared event log. Prints one line per log:
#   NAME agree | NAME disagree: DETAIL | NAME peer-rejected | NAME both-rejected
# and fails if the set of logs that do not agree differs from the list
# documented in tpm2_eventlog-differences.txt (docs/eventlog.md explains each).
set -uo pipefail

shieldvm=${SHIELDVM:?SHIELDVM must point at the shieldvm binary}
data=${SHIELDVM_TESTDATA:?}/eventlogs
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# tpm2_eventlog's YAML "pcrs:" section -> "bank pcr hex" lines
peer_pcrs() {
	awk '/^pcrs:/ { on = 1; next }
	     on && /^  [a-z0-9_]+:$/ { bank = $1; sub(":", "", bank); next }
	     on && /^    [0-9]+ *: 0x/ { v = $3; sub("^0x", "", v); print bank, $1, tolower(v) }
	     on && /^[^ ]/ { on = 0 }' "$1" | sort
}

for bin in "$data"/*.bin; do
	name=$(basename "$bin" .bin)
	timeout 30 tpm2_eventlog "$bin" >"$tmp/peer.yaml" 2>/dev/null
	peer_rc=$?
	"$shieldvm" eventlog replay "$bin" --json >"$tmp/ours.json" 2>/dev/null
	ours_rc=$?
	if [ $peer_rc -ne 0 ] && [ $ours_rc -ne 0 ]; then
		echo "$name both-rejected"
		continue
	fi
	if [ $peer_rc -ne 0 ]; then
		echo "$name peer-rejected (tpm2_eventlog exit $peer_rc)"
		continue
	fi
	if [ $ours_rc -ne 0 ]; then
		echo "$name ours-rejected"
		continue
	fi
	jq -r 'to_entries[] | .key as $b | .value | to_entries[] | "\($b) \(.key) \(.value)"' \
		"$tmp/ours.json" | sort >"$tmp/ours.txt"
	peer_pcrs "$tmp/peer.yaml" >"$tmp/peer.txt"
	if cmp -s "$tmp/ours.txt" "$tmp/peer.txt"; then
		echo "$name agree"
	else
		d=$(diff "$tmp/ours.txt" "$tmp/peer.txt" | grep '^[<>]' | head -3 | tr '\n' ';')
		echo "$name disagree: $d"
	fi
done >"$tmp/result.txt"

cat "$tmp/result.txt"
grep -v ' agree$' "$tmp/result.txt" | awk '{ print $1, $2 }' | sed 's/:$//' | sort >"$tmp/differ.txt"
grep -v '^#' "$here/tpm2_eventlog-differences.txt" | awk 'NF { print $1, $2 }' | sort >"$tmp/documented.txt"
agree=$(grep -c ' agree$' "$tmp/result.txt")
echo "# $agree logs agree with tpm2_eventlog"
if ! diff -u "$tmp/documented.txt" "$tmp/differ.txt"; then
	echo "FAIL: differences with tpm2_eventlog changed; update tests/cli/tpm2_eventlog-differences.txt and docs/eventlog.md"
	exit 1
fi
[ "$agree" -ge 25 ] || { echo "FAIL: only $agree logs agree"; exit 1; }
