#!/usr/bin/env bash
# `shieldvm run` on a guarded host (suite 'vm'): the e2e-kps fixture (swtpm
# host TPM booted with a real event log, hgsd on loopback, the owner CLI)
# makes a KP bound to the VM's profile; `shieldvm vm new`, `run` (attest,
# unwrap, roll, commit, supervisor, swtpm, QEMU with OVMF and no disk),
# `status`, `stop`, a second run, and the refusals that happen before any
# key is released.
# shellcheck source=tests/e2e-kps/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e-kps/lib.sh"

export SHIELDVM_RUNTIME_DIR=$TMP/run

VM_DIRS=("$W/vm")
trap vm_cleanup EXIT

# run_vm ARGS: `shieldvm run $W/vm` as the host; output in $W/run.out/.err,
# status in RUN_RC.
run_vm() {
	RUN_RC=0
	"$SHIELDVM" run "$W/vm" --tcti "$TCTI_host" --state-dir "$W/agent-host" \
		--event-log "$SHIM_LOG" --quiet --stop-timeout 2 "$@" \
		>"$W/run.out" 2>"$W/run.err" || RUN_RC=$?
}

# wait_stopped: the supervisor has finished (runtime directory gone).
wait_stopped() {
	for _ in $(seq 1 150); do
		[[ -e $SHIELDVM_RUNTIME_DIR/$VM_ID ]] || return 0
		sleep 0.1
	done
	fail "the VM did not stop"
}

setup() {
	guarded_fabric
	vm_kp shielded "$W/kp.json"
}

case_run_guarded() {
	local json gen
	setup
	# a KP for another profile is refused by vm new
	"$SHIELDVM" vm profile --policy encryption-supported --serial-console >"$W/p2.json"
	"$SHIELDVM" kp new --owner "$W/owner.json" --guardian "$W/hgs1.json" \
		--policy encryption-supported --vm-id "$VM_ID" --vm-config "$W/profile.json" \
		--out "$W/kp2.json" 2>/dev/null || fail "kp new 2"
	if "$SHIELDVM" vm new t2 --kp "$W/kp2.json" --serial-console --dir "$W/vm2" 2>"$W/new.err"; then
		fail "vm new accepted a KP bound to another profile"
	fi
	grep -q "is not the one" "$W/new.err" || { cat "$W/new.err" >&2; fail "vm new: wrong error"; }
	[[ ! -e $W/vm2 ]] || fail "a refused vm new left a directory"
	ok "vm new refuses a KP bound to another profile"

	"$SHIELDVM" vm new t1 --kp "$W/kp.json" --memory 256 --dir "$W/vm" >/dev/null || fail "vm new"
	[[ $(stat -c %a "$W/vm") == 700 ]] || fail "VM directory mode"
	[[ $("$SHIELDVM" vm profile --dir "$W/vm") == "$(cat "$W/profile.json")" ]] ||
		fail "the VM's profile is not the one the KP binds"
	ok "vm new: directory, vm.json, kp"

	run_vm
	[[ $RUN_RC == 0 ]] || { cat "$W/run.out" "$W/run.err" >&2; fail "run exited $RUN_RC"; }
	grep -q "running" "$W/run.out" || fail "run: $(cat "$W/run.out")"
	json=$("$SHIELDVM" status "$W/vm" --json) || fail "status"
	jq -e '.state == "running"' <<<"$json" >/dev/null || fail "status: $json"
	[[ -f $W/vm/vars.enc && -d $W/vm/vtpm ]] || fail "first run made no vars.enc / vtpm"
	grep -Eq 'start timings: token [0-9]+ ms, unwrap [0-9]+ ms, commit [0-9]+ ms, keys [0-9]+ ms, vars [0-9]+ ms, swtpm [0-9]+ ms, qemu [0-9]+ ms, total [0-9]+ ms$' \
		"$W/vm/supervisor.log" || { cat "$W/vm/supervisor.log" >&2; fail "no start timings line"; }
	ok "run: attested, released, committed, VM running; start timings logged"
	# a second run while it runs
	run_vm
	[[ $RUN_RC == 1 ]] && grep -q "already running" "$W/run.err" ||
		{ cat "$W/run.err" >&2; fail "a second run: exit $RUN_RC"; }
	ok "a second run of a running VM is refused"
	# the filter, through the CLI's only door (no other verbs exist)
	"$SHIELDVM" stop "$W/vm" >/dev/null || fail "stop"
	wait_stopped
	grep -q "stopped cleanly" "$W/vm/supervisor.log" || fail "no clean stop"
	"$KPS_TOOL" digest "$W/vm/kp" >"$W/digest"
	gen=$(cut -d' ' -f2 "$W/digest")
	[[ $gen == 1 ]] || fail "kp generation $gen after one run"
	ok "stop: clean, KP at generation 1"

	run_vm
	[[ $RUN_RC == 0 ]] || { cat "$W/run.err" >&2; fail "second run exited $RUN_RC"; }
	"$SHIELDVM" poweroff "$W/vm" >/dev/null || fail "poweroff"
	wait_stopped
	"$KPS_TOOL" digest "$W/vm/kp" >"$W/digest"
	[[ $(cut -d' ' -f2 "$W/digest") == 2 ]] || fail "kp generation after two runs"
	ok "second run (digests of the first stop verified), KP at generation 2"

	# the definition weakened: another firmware image (no Secure Boot
	# build); refused before anything is released
	fw=$(sha256sum /usr/share/OVMF/OVMF_CODE_4M.fd | cut -d' ' -f1)
	cp "$W/vm/vm.json" "$W/vm.json.good"
	jq --arg fw "$fw" '.firmware_path = "/usr/share/OVMF/OVMF_CODE_4M.fd" | .security.firmware.code = $fw' \
		"$W/vm.json.good" >"$W/vm/vm.json"
	run_vm
	[[ $RUN_RC == 1 ]] && grep -q "not the one bound in the KP" "$W/run.err" ||
		{ cat "$W/run.err" >&2; fail "weakened definition: exit $RUN_RC"; }
	"$KPS_TOOL" digest "$W/vm/kp" >"$W/digest"
	[[ $(cut -d' ' -f2 "$W/digest") == 2 ]] || fail "a refused run rolled the KP"
	cp "$W/vm.json.good" "$W/vm/vm.json"
	ok "a weakened definition is refused before any release"

	# a rolled-back VARS is refused after the release, and the secrets keep
	# their clean-stop state (the next good run starts)
	cp "$W/vm/vars.enc" "$W/vars.cur"
	printf '\x01' | dd of="$W/vm/vars.enc" bs=1 seek=200 conv=notrunc status=none
	run_vm
	[[ $RUN_RC == 1 ]] && grep -q "differs from the one recorded" "$W/run.err" ||
		{ cat "$W/run.err" >&2; fail "tampered VARS: exit $RUN_RC"; }
	cp "$W/vars.cur" "$W/vm/vars.enc"
	run_vm
	[[ $RUN_RC == 0 ]] || { cat "$W/run.err" >&2; fail "run after the refusal exited $RUN_RC"; }
	"$SHIELDVM" poweroff "$W/vm" >/dev/null || fail "poweroff"
	wait_stopped
	ok "tampered VARS refused; the good state still starts"

	# an image to import that is gone by the first run: refused before
	# the key is released (the KP stays at generation 0)
	truncate -s 1M "$W/small.img"
	local VM_ID_SAVED=$VM_ID
	VM_ID=2b7f0d9c-5a1e-4c3b-9d8e-7f6a5b4c3d2e
	vm_kp shielded "$W/kp3.json" --disk root:import="$W/small.img"
	"$SHIELDVM" vm new t3 --kp "$W/kp3.json" --disk root:import="$W/small.img" \
		--memory 256 --dir "$W/vm3" >/dev/null || fail "vm new t3"
	rm "$W/small.img"
	RUN_RC=0
	"$SHIELDVM" run "$W/vm3" --tcti "$TCTI_host" --state-dir "$W/agent-host" \
		--event-log "$SHIM_LOG" --quiet >/dev/null 2>"$W/run3.err" || RUN_RC=$?
	[[ $RUN_RC != 0 ]] && grep -q "disk root: the image to import: $W/small.img is missing" "$W/run3.err" ||
		{ cat "$W/run3.err" >&2; fail "a missing import image: exit $RUN_RC"; }
	"$KPS_TOOL" digest "$W/vm3/kp" >"$W/digest"
	[[ $(cut -d' ' -f2 "$W/digest") == 0 ]] || fail "a refused import rolled the KP"
	VM_ID=$VM_ID_SAVED
	ok "an image to import that is gone: refused before any release"

	# the agent config's vm_user: QEMU and swtpm run as that user (the
	# directories above the VM made searchable, as an admin would)
	printf 'vm_user = nobody\n' >>"$W/agent-host/config"
	chmod 0711 "$TMP" "$W"
	run_vm
	[[ $RUN_RC == 0 ]] || { cat "$W/run.err" >&2; fail "run with vm_user exited $RUN_RC"; }
	json=$("$SHIELDVM" status "$W/vm" --json) || fail "status"
	[[ $(ps -o uid= -p "$(jq -r .qemu_pid <<<"$json")" | tr -d ' ') == 65534 ]] ||
		fail "QEMU does not run as nobody with vm_user = nobody in the config"
	grep -q "QEMU and swtpm run as user nobody" "$W/vm/supervisor.log" || fail "no user line"
	"$SHIELDVM" poweroff "$W/vm" >/dev/null || fail "poweroff"
	wait_stopped
	# a bad value is refused with the config line
	printf 'vm_user = -x\n' >>"$W/agent-host/config"
	run_vm
	[[ $RUN_RC != 0 ]] && grep -q "vm_user '-x': not a user name" "$W/run.err" ||
		{ cat "$W/run.err" >&2; fail "config vm_user '-x': exit $RUN_RC"; }
	ok "config vm_user: QEMU runs as nobody; a bad name refused"
}

run_case "$@"
