#!/usr/bin/env bash
# The exact CLI contract other tools rely on:
#   shieldvm eventlog replay FILE --json -> {"sha256": {"0": "hex"}} (exit 0)
#   malformed log -> non-zero exit, exactly one line on stderr, nothing on stdout
set -uo pipefail
shieldvm=${SHIELDVM:?}
data=${SHIELDVM_TESTDATA:?}/eventlogs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

n=0
for bin in "$data"/*.bin; do
	name=$(basename "$bin" .bin)
	exp="$data/$name.expected.json"
	"$shieldvm" eventlog replay "$bin" --json >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$(jq -r .format "$exp")" = invalid ]; then
		[ $rc -ne 0 ] || fail "$name: malformed log accepted"
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$name: stderr is not one line"
		[ ! -s "$tmp/out" ] || fail "$name: output on stdout for a malformed log"
		echo "ok $name rejected: $(cat "$tmp/err")"
		continue
	fi
	[ $rc -eq 0 ] || { fail "$name: exit $rc: $(cat "$tmp/err")"; continue; }
	# every expected value present and equal; keys lowercase hex
	if ! jq -e --slurpfile o "$tmp/out" '.pcrs | to_entries | all(.key as $b | .value | to_entries | all(.value == $o[0][$b][.key]))' "$exp" >/dev/null; then
		fail "$name: replay differs from expected"
		continue
	fi
	jq -e '[.. | strings] | all(test("^[0-9a-f]+$"))' "$tmp/out" >/dev/null || fail "$name: not lowercase hex"
	"$shieldvm" eventlog show "$bin" >/dev/null || fail "$name: show failed"
	"$shieldvm" eventlog show "$bin" --json | jq -e 'type == "array"' >/dev/null || fail "$name: show --json is not an array"
	n=$((n + 1))
done
echo "ok $n logs replayed through the CLI"

# usage errors
"$shieldvm" eventlog replay >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing FILE is not a usage error"
"$shieldvm" eventlog frobnicate "$data/local__seabios.bin" >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown verb accepted"
"$shieldvm" eventlog replay /nonexistent --json >/dev/null 2>"$tmp/err"; [ $? -eq 3 ] || fail "missing file: wrong exit"
grep -q "/nonexistent" "$tmp/err" || fail "missing file: error does not name the file"
"$shieldvm" eventlog replay "$data/local__seabios.bin" --bank sha384 --json >/dev/null 2>&1; [ $? -eq 3 ] || fail "absent bank accepted"
"$shieldvm" eventlog --help | grep -q replay || fail "--help"
# a truncated real log names the event and offset
head -c 5000 "$data/local__ovmf_sb_shim_grub.bin" >"$tmp/trunc.bin"
"$shieldvm" eventlog replay "$tmp/trunc.bin" --json >/dev/null 2>"$tmp/err"; [ $? -eq 3 ] || fail "truncated log accepted"
grep -Eq "event [0-9]+ at offset [0-9]+" "$tmp/err" || fail "truncation error does not name event and offset: $(cat "$tmp/err")"
# stdin
"$shieldvm" eventlog replay - --json <"$data/local__seabios.bin" | jq -e '.sha256."0"' >/dev/null || fail "stdin"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all CLI checks passed"
