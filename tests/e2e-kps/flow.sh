#!/usr/bin/env bash
# Key release end to end with the real agent: one-shot releases, VM starts
# that roll and commit the key protector, the owner's offline recovery.
#   flow.sh CASE
. "$(dirname "$0")/lib.sh"

# Several starts: each rolls the KP one generation and commits it, the
# VM's secrets survive every roll (same fingerprint), nothing secret is
# left on disk.
case_full_flow() {
	kps_fixture
	local gen s0 fps=()
	for gen in 0 1 2 3; do
		start
		start_expect ".vm_id == \"$VM_ID\" and .policy == \"shielded\"
			and .generation == $gen and .new_generation == $((gen + 1))
			and .committed == true and .recovery == \"none\"
			and .secrets_created == $([[ $gen == 0 ]] && echo true || echo false)
			and (.tk_fingerprint | length == 43) and (.secrets_fingerprint | length == 43)"
		[[ $gen == 0 ]] && start_expect '.attested == false'
		fps+=("$(jq -r .tk_fingerprint "$W/start.json")")
		if [[ $gen == 0 ]]; then
			s0=$(jq -r .secrets_fingerprint "$W/start.json")
		else
			start_expect ".secrets_fingerprint == \"$s0\""
		fi
		[[ $(dir_state "$W/vm") == "kp secrets" ]] || fail "after start $gen: $(dir_state "$W/vm")"
		[[ $(stat -c %a "$W/vm/kp") == 600 && $(stat -c %a "$W/vm/secrets") == 600 ]] ||
			fail "kp or secrets not 0600"
		audit_newest unwrap pass
		audit_newest unwrap-commit pass
		"$KPS_TOOL" digest "$W/vm/kp" >"$W/digest"
		[[ $(cut -d' ' -f2 "$W/digest") == $((gen + 1)) ]] || fail "kp is not generation $((gen + 1))"
	done
	ok "4 starts: generations 0 -> 4, each committed, secrets fingerprint unchanged"
	# every generation had its own TK
	[[ $(printf '%s\n' "${fps[@]}" | sort -u | wc -l) == 4 ]] || fail "a TK was reused: ${fps[*]}"
	ok "a new TK at every generation"

	# hgsd's rollback record is the committed generation and digest
	sqlite3 "$TMP/state-hgs1/hgsd.db" "SELECT generation FROM vm_rollback" >"$W/rb" 2>/dev/null ||
		fail "reading vm_rollback"
	[[ $(cat "$W/rb") == 4 ]] || fail "vm_rollback holds $(cat "$W/rb"), expected 4"
	ok "hgsd's rollback record: generation 4"

	# The TK of the current KP, as the owner recovers it, is nowhere on disk.
	tkhex=$(owner_tk "$W/owner.json" "$W/vm/kp")
	[[ ${#tkhex} == 64 ]] || fail "kp unwrap --owner printed '$tkhex'"
	tk=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$tkhex")" | basenc --base64url -w0 | tr -d '=')
	for f in "$W"/vm/* "$W"/agent-host/*; do
		grep -qF "$tk" "$f" && fail "$f holds the TK (base64url)"
		grep -qiF "$tkhex" "$f" && fail "$f holds the TK (hex)"
		od -An -tx1 -v "$f" | tr -d ' \n' | grep -q "$tkhex" && fail "$f holds the TK bytes"
	done
	ok "the current TK is in no file of the VM directory or the agent state"

	# one start at a time: a held lock on the directory refuses a second
	flock -n "$W/vm" sleep 10 &
	holder=$!
	sleep 0.3
	sv host unwrap "$W/vm" --json --quiet
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	[[ $SV_RC == 3 ]] && grep -q "in use by another start" "$W/sv.err" ||
		{ cat "$W/sv.err" >&2; fail "concurrent start: exit $SV_RC"; }
	[[ $(dir_state "$W/vm") == "kp secrets" ]] || fail "a refused concurrent start changed the directory"
	ok "a second, concurrent start of the same VM is refused (flock)"
}

# `host unwrap KP`: a release without roll or commit; the same TK each time.
case_one_shot() {
	kps_fixture
	sv_ok host unwrap "$W/vm/kp" --json --quiet
	jq -e ".vm_id == \"$VM_ID\" and .generation == 0 and .next_generation == 1
		and .policy == \"shielded\" and (has(\"committed\") | not)" "$W/sv.out" >/dev/null ||
		{ cat "$W/sv.out" >&2; fail "one-shot result"; }
	fp=$(jq -r .tk_fingerprint "$W/sv.out")
	sv_ok host unwrap "$W/vm/kp" --json --quiet
	jq -e ".tk_fingerprint == \"$fp\" and .generation == 0" "$W/sv.out" >/dev/null ||
		fail "a second one-shot release gave another TK"
	[[ -z $(sqlite3 "$TMP/state-hgs1/hgsd.db" "SELECT generation FROM vm_rollback") ]] ||
		fail "a one-shot release committed something"
	audit_newest unwrap pass
	ok "one-shot release: generation 0, same TK twice, nothing committed"

	# human output names the VM and the fingerprint, never a key
	sv_ok host unwrap "$W/vm/kp"
	grep -q "VM $VM_ID, generation 0 (shielded)" "$W/sv.out" || { cat "$W/sv.out" >&2; fail "text output"; }
	grep -q "TK fingerprint  $fp" "$W/sv.out" || fail "text output: fingerprint"
	ok "text output: VM, generation, policy, TK fingerprint"

	# a missing token: the agent attests first
	rm "$W/agent-host/token.jwt"
	sv_ok host unwrap "$W/vm/kp" --event-log "$SHIM_LOG" --json --quiet
	jq -e '.attested == true' "$W/sv.out" >/dev/null || fail "did not attest without a token"
	[[ -f $W/agent-host/token.jwt ]] || fail "no token stored"
	ok "without a token the agent attests first"

	# fail-over across hgsd URLs: a dead one first
	sv_ok host unwrap "$W/vm/kp" --hgs http://127.0.0.1:1 --hgs "$BASE_URL" --json --quiet
	jq -e --arg u "$BASE_URL" '.url == $u and .generation == 0' "$W/sv.out" >/dev/null ||
		{ cat "$W/sv.out" >&2; fail "fail-over"; }
	sv host unwrap "$W/vm/kp" --hgs http://127.0.0.1:1 --json --quiet
	[[ $SV_RC == 4 ]] || { cat "$W/sv.err" >&2; fail "no hgsd reachable: exit $SV_RC, expected 4"; }
	ok "fail-over from a dead URL; exit 4 when no hgsd answers"

	# usage errors
	sv host unwrap
	[[ $SV_RC == 2 ]] || fail "no argument: exit $SV_RC"
	sv host unwrap "$W/vm/kp" "$W/vm/kp"
	[[ $SV_RC == 2 ]] || fail "two arguments: exit $SV_RC"
	sv host unwrap "$W/nonexistent"
	[[ $SV_RC == 3 ]] && grep -q nonexistent "$W/sv.err" || fail "missing file: exit $SV_RC"
	sv host status --no-attest
	[[ $SV_RC == 2 ]] || fail "--no-attest on status: exit $SV_RC"
	"$SHIELDVM" host unwrap --help | grep -q "unwrap KP|VMKEYDIR" || fail "--help"
	ok "usage errors"
}

# The owner's break-glass recovery: `kp unwrap --owner` gives the TK the
# host was released (same fingerprint); another owner key gets nothing.
case_owner_recovery() {
	kps_fixture
	sv_ok host unwrap "$W/vm/kp" --json --quiet
	fp=$(jq -r .tk_fingerprint "$W/sv.out")
	tk=$(owner_tk "$W/owner.json" "$W/vm/kp")
	[[ $("$E2E_KPS_TOOL" tk-fingerprint "$tk") == "$fp" ]] || fail "owner's TK has another fingerprint"
	ok "the owner recovers generation 0's TK offline (fingerprint $fp)"
	start
	start
	sv_ok host unwrap "$W/vm/kp" --json --quiet
	fp=$(jq -r .tk_fingerprint "$W/sv.out")
	tk=$(owner_tk "$W/owner.json" "$W/vm/kp")
	[[ $("$E2E_KPS_TOOL" tk-fingerprint "$tk") == "$fp" ]] || fail "rolled KP: owner's TK differs"
	ok "... and generation 2's, rolled by hgsd (the owner stays a recipient)"
	owner_new mallory "$W/mallory.json"
	if owner_tk "$W/mallory.json" "$W/vm/kp" >/dev/null 2>"$W/mallory.err"; then
		fail "another owner key unwrapped the KP"
	fi
	ok "another owner key recovers nothing: $(head -c 120 "$W/mallory.err")"
}

run_case "$@"
