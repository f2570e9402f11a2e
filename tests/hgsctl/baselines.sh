#!/usr/bin/env bash
# hgsctl baseline add|list|show|remove (captured here from a real OVMF +
# shim + grub event log, or read from 'shieldvm baseline capture' output)
# and rule list|enable|disable against a real hgsd.
. "$(dirname "$0")/lib.sh"

LOG=$SHIELDVM_TESTDATA/eventlogs/local__ovmf_sb_shim_grub.bin
start_hgsd hgs1

# ---- add from a log ----
expect 0 baseline list
out_has '^no baselines$'
expect 0 baseline add --name ovmf-sb --from-log "$LOG"
out_has '^baseline ovmf-sb added \(bank sha256, PCRs 0-7, [0-9]+ events\)$'
events=$(sed -E 's/.*, ([0-9]+) events\)$/\1/' "$TMP/out")
((events > 0)) || fail "no events captured"
# What hgsctl captured is what 'shieldvm baseline capture' captures.
"$SHIELDVM" baseline capture --name ref "$LOG" -o "$TMP/ref.json"
expect 0 --json baseline show ovmf-sb
jq -S '.baseline | del(.name)' "$TMP/out" >"$TMP/a.json"
jq -S 'del(.name)' "$TMP/ref.json" >"$TMP/b.json"
cmp -s "$TMP/a.json" "$TMP/b.json" || { diff "$TMP/a.json" "$TMP/b.json" | head >&2; fail "stored baseline differs from shieldvm's capture"; }
ok "baseline add --from-log ($events events, identical to 'shieldvm baseline capture')"

# ---- add from a captured file, from stdin, with --pcrs and --bank ----
expect 0 baseline add --name from-file --from-file "$TMP/ref.json"
out_has '^baseline from-file added \(bank sha256, PCRs 0-7, '"$events"' events\)$'
expect 0 baseline add --name boot-only --from-log - --pcrs 4,7 --bank sha256 <"$LOG"
out_has '^baseline boot-only added \(bank sha256, PCRs 4,7, [0-9]+ events\)$'
expect 0 --json baseline add --name json-out --from-log "$LOG" --pcrs 0,1,2
out_jq '.name == "json-out" and .bank == "sha256" and .pcrs == [0, 1, 2]'
ok "baseline add --from-file, stdin, --pcrs, --bank, --json"

# ---- list, show ----
expect 0 baseline list
out_has '^NAME +BANK +PCRS +EVENTS +SOURCE$'
out_has "^ovmf-sb +sha256 +0-7 +$events +local__ovmf_sb_shim_grub.bin$"
out_has '^boot-only +sha256 +4,7 +[0-9]+ +stdin$'
expect 0 baseline list --json
out_jq '[.baselines[].name] | sort == ["boot-only", "from-file", "json-out", "ovmf-sb"]'
expect 0 baseline show ovmf-sb
out_has "^baseline ovmf-sb \(bank sha256, $events events, from local__ovmf_sb_shim_grub.bin\)$"
out_has '^  PCR 7: [0-9]+ event\(s\)$'
out_has 'EV_EFI_VARIABLE_DRIVER_CONFIG +SecureBoot'
expect 0 baseline show ovmf-sb --json
out_jq '.name == "ovmf-sb" and .baseline.name == "ovmf-sb"'
ok "baseline list and show, human and --json"

# ---- refusals, usage, local input ----
expect 1 baseline add --name ovmf-sb --from-log "$LOG"
err_has "hgsd refused \(conflict, HTTP 409\): baseline 'ovmf-sb' exists already"
expect 1 baseline show nothing-here
err_has 'not_found, HTTP 404'
expect 1 baseline remove nothing-here
expect 2 baseline add --name x
err_has 'exactly one of --from-log and --from-file'
expect 2 baseline add --name x --from-log "$LOG" --from-file "$TMP/ref.json"
expect 2 baseline add --name x --from-file "$TMP/ref.json" --pcrs 1
err_has 'apply to --from-log only'
expect 2 baseline add --name x --from-log "$LOG" --pcrs 1,24
err_has "\-\-pcrs '1,24'"
expect 2 baseline add --name x --from-log "$LOG" --pcrs 1,,2
expect 2 baseline add --name x --from-log "$LOG" --bank md5
err_has "\-\-bank 'md5'"
expect 2 baseline add --name .hidden --from-log "$LOG"
err_has "baseline name '.hidden'"
expect 2 baseline show 'x/y'
expect 3 baseline add --name x --from-log "$KEYLIME/ek.pub"
err_has 'ek.pub: '
echo '{"name": "x"}' >"$TMP/bad.json"
expect 3 baseline add --name x --from-file "$TMP/bad.json"
err_has 'bad.json: not a baseline'
echo '{"name": ' >"$TMP/broken.json"
expect 3 baseline add --name x --from-file "$TMP/broken.json"
err_has 'broken.json: not JSON: line'
expect 3 baseline add --name x --from-log "$TMP/none.bin"
err_has 'none.bin: No such file'
ok "baseline refusals (1), usage (2), bad local input (3)"

# ---- remove ----
expect 0 baseline remove from-file
out_has '^baseline from-file removed$'
expect 1 baseline show from-file
expect 0 --json baseline list
out_jq '[.baselines[].name] | sort == ["boot-only", "json-out", "ovmf-sb"]'
ok "baseline remove"

# ---- rules ----
expect 0 rule list
out_has '^ID +ENABLED +DEFAULT +DESCRIPTION$'
out_has '^secure-boot-enabled +yes +on +UEFI Secure Boot'
expect 0 rule disable secure-boot-enabled
out_has '^rule secure-boot-enabled disabled \(on by default\)$'
expect 0 rule list
out_has '^secure-boot-enabled +no +on '
expect 0 --json rule list
out_jq 'any(.rules[]; .id == "secure-boot-enabled" and .enabled == false and .default == true)'
expect 0 rule enable secure-boot-enabled
out_has '^rule secure-boot-enabled enabled \(its default\)$'
expect 0 rule enable secure-boot-enabled --json
out_jq '.id == "secure-boot-enabled" and .enabled == true'
off=$(jq -r '[.rules[] | select(.default == false)][0].id // empty' < <("$HGSCTL" --socket "$ADMIN" --json rule list))
if [[ -n $off ]]; then
	expect 0 rule enable "$off"
	out_has "^rule $off enabled \(off by default\)$"
	expect 0 rule disable "$off"
fi
expect 1 rule disable no-such-rule
err_has "not_found, HTTP 404\): unknown rule 'no-such-rule'"
expect 2 rule disable 'Bad_Rule'
err_has "rule id 'Bad_Rule'"
expect 2 rule disable
expect 0 rule --help
out_has '^Usage: hgsctl rule list'
ok "rule list, disable, enable (human and --json); unknown rule refused"

stop_hgsd "$HGSD_PID"
