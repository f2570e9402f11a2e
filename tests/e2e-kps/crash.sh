#!/usr/bin/env bash
# Crash safety of a VM start: SHIELDVM_CRASH_AT=<step> makes `shieldvm host
# unwrap DIR` exit (99) right after that step, as kill -9 would; the next
# start must succeed with the VM's secrets intact, and hgsd's rollback
# record must follow.
#   crash.sh CASE   (CASE = after-unwrap, after-kp-next, after-secrets,
#                    after-commit)
. "$(dirname "$0")/lib.sh"

rollback_gen() {
	sqlite3 "$TMP/state-hgs1/hgsd.db" "SELECT generation FROM vm_rollback"
}

# kp_gen FILE: the generation of a KP file.
kp_gen() {
	"$KPS_TOOL" digest "$1" | cut -d' ' -f2
}

# crash_case STEP STATE KP_NEXT_GEN COMMITTED RECOVERY NEXT_GEN
crash_case() {
	local step=$1 state=$2 committed=$3 recovery=$4 next_gen=$5 s
	kps_fixture
	start
	s=$(jq -r .secrets_fingerprint "$W/start.json")
	SHIELDVM_CRASH_AT=$step sv host unwrap "$W/vm" --json --quiet
	[[ $SV_RC == 99 ]] || { cat "$W/sv.out" "$W/sv.err" >&2; fail "expected the crash exit 99, got $SV_RC"; }
	[[ $(dir_state "$W/vm") == "$state" ]] || fail "after the crash: '$(dir_state "$W/vm")', expected '$state'"
	[[ $(rollback_gen) == "$committed" ]] || fail "committed generation $(rollback_gen), expected $committed"
	[[ ! -e $W/vm/kp.next ]] || [[ $(kp_gen "$W/vm/kp.next") == 2 ]] || fail "kp.next is not generation 2"
	ok "crash $step: directory '$state', committed generation $committed"

	start
	start_expect ".generation == $next_gen and .new_generation == $((next_gen + 1))
		and .committed == true and .recovery == \"$recovery\"
		and .secrets_created == false and .secrets_fingerprint == \"$s\""
	[[ $(dir_state "$W/vm") == "kp secrets" ]] || fail "after the restart: $(dir_state "$W/vm")"
	[[ $(rollback_gen) == $((next_gen + 1)) ]] || fail "not committed after the restart"
	ok "next start: recovery '$recovery', generation $next_gen -> $((next_gen + 1)), secrets intact"
	start
	start_expect ".generation == $((next_gen + 1)) and .recovery == \"none\" and .secrets_fingerprint == \"$s\""
	ok "and the one after"
}

case_after_unwrap() {
	crash_case after-unwrap "kp secrets" 1 none 1
}

case_after_kp_next() {
	crash_case after-kp-next "kp kp.next secrets" 1 "removed stale kp.next" 1
	# at a first start (no secrets yet): kp.next is stale, new secrets
	mkdir -m 0700 "$W/vm2"
	VM_ID=3d0c9a4e-1f2b-4c3d-8e9f-a0b1c2d3e4f5 kp_new "$W/owner.json" shielded "$W/vm2/kp" "$W/hgs1.json"
	SHIELDVM_CRASH_AT=after-kp-next sv host unwrap "$W/vm2" --json --quiet
	[[ $SV_RC == 99 && $(dir_state "$W/vm2") == "kp kp.next" ]] || fail "first-start crash: $SV_RC $(dir_state "$W/vm2")"
	start host "$W/vm2"
	start_expect '.generation == 0 and .recovery == "removed stale kp.next" and .secrets_created == true'
	ok "crash after kp.next at a first start: the next start creates the secrets"
}

case_after_secrets() {
	crash_case after-secrets "kp kp.next secrets" 1 "adopted kp.next" 2
}

case_after_commit() {
	crash_case after-commit "kp kp.next secrets" 2 "adopted kp.next" 2
	# the last step: a crash after the rename leaves a clean directory
	SHIELDVM_CRASH_AT=after-rename sv host unwrap "$W/vm" --json --quiet
	[[ $SV_RC == 99 && $(dir_state "$W/vm") == "kp secrets" ]] || fail "after-rename: $SV_RC"
	start
	start_expect '.recovery == "none" and .committed == true'
	ok "crash after the rename: nothing to recover"
}

run_case "$@"
