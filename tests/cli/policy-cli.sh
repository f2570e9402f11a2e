#!/usr/bin/env bash
# baseline capture / policy new / policy judge through the CLI: verdicts,
# exit codes, and the reasons printed for the documented failures.
set -uo pipefail
shieldvm=${SHIELDVM:?}
data=${SHIELDVM_TESTDATA:?}/eventlogs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$shieldvm" baseline capture --name ovmf "$data/local__ovmf_sb_shim_grub.bin" -o "$tmp/b.json" || fail "capture"
jq -e '.name == "ovmf" and .bank == "sha256" and (.pcrs | has("7"))' "$tmp/b.json" >/dev/null || fail "baseline content"
"$shieldvm" baseline show "$tmp/b.json" | grep -q "PCR 7" || fail "baseline show"
"$shieldvm" policy new -o "$tmp/p.json" --baseline "$tmp/b.json" --disable iommu-enabled --deny 'init=*' || fail "policy new"
"$shieldvm" policy show "$tmp/p.json" | grep -q "iommu-enabled *disabled" || fail "policy show"
"$shieldvm" policy rules --json | jq -e 'length >= 8' >/dev/null || fail "policy rules"

"$shieldvm" policy judge "$tmp/p.json" "$data/local__ovmf_sb_shim_grub.bin" >"$tmp/out"
[ $? -eq 0 ] || fail "reference log does not pass: $(cat "$tmp/out")"

"$shieldvm" policy judge "$tmp/p.json" "$data/local__ovmf_sb_directkernel.bin" >"$tmp/out"
[ $? -eq 1 ] || fail "direct kernel boot passes"
grep -q "FAIL *boot-apps-measured *event 12 " "$tmp/out" || fail "boot-apps-measured reason: $(cat "$tmp/out")"

"$shieldvm" policy judge --json "$tmp/p.json" "$data/gotpmtools__ubuntu-2104-no-secure-boot.bin" >"$tmp/out.json"
[ $? -eq 1 ] || fail "no-secure-boot passes"
jq -e '.result == "fail" and (.failed_rules | index("secure-boot-enabled")) and
       (.rules[] | select(.rule == "secure-boot-enabled") | .message | test("SecureBoot is 0"))' \
	"$tmp/out.json" >/dev/null || fail "secure-boot reason: $(cat "$tmp/out.json")"

# rejections: unknown rule, malformed policy, malformed log
"$shieldvm" policy new -o "$tmp/x.json" --disable no-such-rule 2>/dev/null; [ $? -eq 2 ] || fail "unknown rule accepted"
echo '{"version": 1, "id": "x", "rules": {"bogus": true}}' >"$tmp/bad.json"
"$shieldvm" policy judge "$tmp/bad.json" "$data/local__seabios.bin" 2>"$tmp/err"; [ $? -eq 3 ] || fail "bad policy accepted"
grep -q 'unknown rule "bogus"' "$tmp/err" || fail "bad policy message: $(cat "$tmp/err")"
"$shieldvm" policy judge "$tmp/p.json" "$data/keylime__bogus.bin" 2>"$tmp/err"; [ $? -eq 3 ] || fail "bad log accepted"
echo '{"version": 1, "id": "x",' >"$tmp/trunc.json"
"$shieldvm" policy judge "$tmp/trunc.json" "$data/local__seabios.bin" 2>"$tmp/err"; [ $? -eq 3 ] || fail "truncated JSON accepted"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all policy CLI checks passed"
