#!/usr/bin/env bash
# Refusals of `shieldvm run` (suite 'e2e-vm', docs/vm.md "Refusals"): the
# real CLI and supervisor on a guarded host of the e2e-kps fixture (swtpm
# host TPM booted by replaying a real firmware log, hgsd on loopback, the
# owner CLI). Each case shows the refusal with its message AND that nothing
# was released or lost: the KP not rolled, or the secrets left in their
# clean-stop state so that the good VM directory still starts afterwards.
#
# No guest boots here: the VM has no boot disk, so OVMF stays in its boot
# manager. Every refusal below happens before the guest could run (at hgsd,
# at the definition check, at the rollback check, at the disk check, or
# when QEMU opens its disks) or is a control-socket request, none of which
# depends on what the guest does; a TCG boot of the test guest costs 30-70 s
# on the CI machines, a start to OVMF about a second. The VM has one
# qcow2-luks disk `data` that its first run creates (the disk refusals need
# a real LUKS disk). Boots of the real guest are boot.sh's.
# shellcheck source=tests/e2e-kps/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e-kps/lib.sh"

export SHIELDVM_RUNTIME_DIR=$TMP/run
mkdir -m 0700 "$SHIELDVM_RUNTIME_DIR"
VM2_ID=5d1e3c8a-7a3f-4b61-8c0e-2f9b6a4d7e10

# every VM directory a case makes goes into VM_DIRS: powered off at the end
trap vm_cleanup EXIT

# run_vm DIR [HOST [EVENT_LOG]] [-- ARGS]: `shieldvm run DIR` as HOST
# (default host); output in $W/run.out/.err, status in RUN_RC.
run_vm() {
	local dir=$1 host=${2:-host} log=${3:-$SHIM_LOG} v
	v=TCTI_${host//-/_}
	shift $(($# < 3 ? $# : 3))
	[[ ${1:-} == -- ]] && shift
	RUN_RC=0
	"$SHIELDVM" run "$dir" --tcti "${!v}" --state-dir "$W/agent-$host" \
		--event-log "$log" --quiet --stop-timeout 2 "$@" \
		>"$W/run.out" 2>"$W/run.err" || RUN_RC=$?
}

# run_ok DIR: the VM starts (and runs).
run_ok() {
	run_vm "$1"
	[[ $RUN_RC == 0 ]] || { cat "$W/run.out" "$W/run.err" >&2; fail "run $1 exited $RUN_RC"; }
	grep -q "running" "$W/run.out" || fail "run: $(cat "$W/run.out")"
	vm_state "$1" running
}

# refused PATTERN [STATUS]: the last run exited STATUS (default 1, refused;
# 3 for a definition that does not parse) and said PATTERN.
refused() {
	local want=${2:-1}
	[[ $RUN_RC == "$want" ]] || { cat "$W/run.out" "$W/run.err" >&2; fail "expected a refusal (exit $want), got $RUN_RC"; }
	grep -q -- "$1" "$W/run.err" || { cat "$W/run.err" >&2; fail "the refusal does not say '$1'"; }
}

# vm_state DIR running|stopped: what `shieldvm status` says.
vm_state() {
	local st=0
	"$SHIELDVM" status "$1" --json >"$W/status.json" 2>/dev/null || st=$?
	case $2 in
	running) [[ $st == 0 ]] && jq -e '.state == "running"' "$W/status.json" >/dev/null ||
		fail "status of $1: exit $st, $(cat "$W/status.json")" ;;
	stopped) [[ $st == 4 ]] || fail "status of $1: exit $st (expected 4, not running)" ;;
	esac
}

# poweroff_vm DIR: quit now (a clean stop: state saved, digests recorded).
poweroff_vm() {
	local uuid n
	uuid=$(jq -r .uuid "$1/vm.json")
	n=$(grep -c "stopped cleanly" "$1/supervisor.log" || true)
	"$SHIELDVM" poweroff "$1" >/dev/null || fail "poweroff $1"
	for _ in $(seq 1 150); do
		[[ -e $SHIELDVM_RUNTIME_DIR/$uuid ]] || break
		sleep 0.1
	done
	[[ ! -e $SHIELDVM_RUNTIME_DIR/$uuid ]] || fail "$1 did not stop"
	[[ $(grep -c "stopped cleanly" "$1/supervisor.log") == $((n + 1)) ]] || fail "$1: no clean stop"
}

# gen DIR: the generation of DIR's KP.
gen() {
	"$KPS_TOOL" digest "$1/kp" | cut -d' ' -f2
}

# gen_is DIR N
gen_is() {
	local g
	g=$(gen "$1")
	[[ $g == "$2" ]] || fail "$1: KP at generation $g, expected $2"
}

# state_sum DIR: the digest of everything a refusal must leave alone.
state_sum() {
	(cd "$1" && sha256sum kp secrets && data_sum .)
}

# data_sum DIR: VARS, disks and vTPM state (a refusal after the release
# rolls the KP and re-seals the secrets, and must leave these alone).
data_sum() {
	(
		cd "$1" || exit 1
		sha256sum vars.enc disks/* 2>/dev/null || echo "(vars.enc or a disk missing)"
		if [[ -d vtpm ]]; then
			find vtpm -type f | sort | xargs -r sha256sum
		else
			echo "(no vtpm/)"
		fi
	)
}

# setup [POLICY]: hgsd, host "host" attested, an owner and a VM $W/vm
# (policy POLICY, default shielded) with a qcow2-luks disk "data" that has
# run once (KP at generation 1, stopped cleanly).
setup() {
	guarded_fabric
	new_vm vm "$VM_ID" "${1:-shielded}"
	run_ok "$W/vm"
	poweroff_vm "$W/vm"
	gen_is "$W/vm" 1
	[[ -f $W/vm/disks/data.qcow2 && -f $W/vm/vars.enc ]] || fail "the first run made no data disk / vars.enc"
}

# new_vm NAME UUID [POLICY [DISK]]: a VM $W/NAME with its own KP and the
# data disk (DISK "none": no disk; each LUKS disk costs its first run
# qemu-img's PBKDF2 calibration, 1-5 s on a loaded machine).
new_vm() {
	local name=$1 id=$2 policy=${3:-shielded} disk=()
	[[ ${4:-data} == none ]] || disk=(--disk data:16)
	"$SHIELDVM" vm profile --policy "$policy" "${disk[@]}" >"$W/profile-$name.json" || fail "vm profile"
	"$SHIELDVM" kp new --owner "$W/owner.json" --guardian "$W/hgs1.json" \
		--policy "$policy" --vm-id "$id" --vm-config "$W/profile-$name.json" \
		--out "$W/kp-$name.json" 2>"$W/kp.err" || { cat "$W/kp.err" >&2; fail "kp new"; }
	"$SHIELDVM" vm new "$name" --kp "$W/kp-$name.json" --policy "$policy" \
		--memory 256 "${disk[@]}" \
		--dir "$W/$name" >/dev/null || fail "vm new $name"
	VM_DIRS+=("$W/$name")
}

# other_vm [DISK]: a second VM $W/vm2 (its own uuid and KP) that has run
# once, with the data disk (DISK "none": without).
other_vm() {
	new_vm vm2 "$VM2_ID" shielded "${1:-data}"
	run_ok "$W/vm2"
	poweroff_vm "$W/vm2"
}

# good_still_starts DIR: the (restored) good state starts and stops.
good_still_starts() {
	run_ok "$1"
	poweroff_vm "$1"
}

# ---- hosts ------------------------------------------------------------------

# The VM directory copied to another machine: a second swtpm (booted with
# the same firmware log) that was never registered with hgsd.
case_refuse_unregistered_host() {
	setup
	cp -a "$W/vm" "$W/copy"
	VM_DIRS+=("$W/copy")
	tpm_up other sha1,sha256 "$SHIM_LOG"
	state_sum "$W/copy" >"$W/sum.before"
	# the other host cannot enroll: hgsd does not know its EK
	sv other init --hgs "$BASE_URL" --transport-key ecc --json --quiet
	[[ $SV_RC == 1 ]] && grep -q "ek_not_registered" "$W/sv.err" ||
		{ cat "$W/sv.out" "$W/sv.err" >&2; fail "init on an unregistered host: exit $SV_RC"; }
	audit_newest enroll fail ek_not_registered
	run_vm "$W/copy" other
	[[ $RUN_RC != 0 ]] && grep -q "shieldvm host init" "$W/run.err" ||
		{ cat "$W/run.err" >&2; fail "run on an unregistered host: exit $RUN_RC"; }
	ok "the VM directory on an unregistered host: enrollment refused (403 ek_not_registered), run refused"
	# the guarded host's agent state copied as well (its token, AK and
	# transport key blobs): they belong to the other TPM
	rm -rf "$W/agent-other"
	cp -a "$W/agent-host" "$W/agent-other"
	run_vm "$W/copy" other
	refused "does not open with this host.s transport key"
	state_sum "$W/copy" >"$W/sum.after"
	cmp -s "$W/sum.before" "$W/sum.after" || fail "a refused run changed the copy"
	gen_is "$W/copy" 1
	vm_state "$W/copy" stopped
	# hgsd answered the real host's token, sealed to the real host's TPM:
	# nothing was committed
	audit_count unwrap-commit 1
	ok "with the guarded host's agent state copied too: the answer does not open in the other TPM, nothing committed or changed"
	good_still_starts "$W/vm"
	gen_is "$W/vm" 2
	ok "the original still starts on its guarded host"
}

# A registered host that fails attestation: its TPM measured another boot
# (direct kernel boot, no shim) than the baseline allows.
case_refuse_unhealthy_host() {
	local dk=$LOGS/local__ovmf_sb_directkernel.bin d=$W/agent-sick
	setup
	tpm_up sick sha1,sha256 "$dk"
	sv_ok sick capture-baseline --event-log "$dk" --name sick --json --quiet
	admin POST /v1/admin/hosts -d "{\"name\": \"sick\", \"ek_pub\": \"$(b64url "$d/ek.pub")\"}"
	expect_status 201
	sv_ok sick init --hgs "$BASE_URL" --transport-key ecc --json --quiet
	cp -a "$W/vm" "$W/copy"
	VM_DIRS+=("$W/copy")
	state_sum "$W/copy" >"$W/sum.before"
	run_vm "$W/copy" sick "$dk"
	refused "HTTP 403 policy_failed"
	state_sum "$W/copy" >"$W/sum.after"
	cmp -s "$W/sum.before" "$W/sum.after" || fail "a refused run changed the copy"
	gen_is "$W/copy" 1
	vm_state "$W/copy" stopped
	audit_newest attest fail policy_failed
	ok "a registered host that measured another boot: attestation refused (policy_failed), no key released"
	# the healthy host's log claimed by the sick TPM: the quote does not
	# match the log
	run_vm "$W/copy" sick "$SHIM_LOG"
	refused "HTTP 403 log_mismatch: PCR"
	audit_newest attest fail log_mismatch
	gen_is "$W/copy" 1
	ok "the same host presenting the good event log: refused (its quote does not match)"
	good_still_starts "$W/vm"
	ok "the original still starts on its guarded host"
}

# ---- copies and rollback ----------------------------------------------------

# Fork/rollback: a copy of the VM directory taken before a run cannot start
# beside the original (while it runs) nor after it (put back in place).
case_refuse_copied_stale() {
	setup
	cp -a "$W/vm" "$W/stale"
	VM_DIRS+=("$W/stale")
	run_ok "$W/vm"
	gen_is "$W/vm" 2
	# beside the original, which runs
	run_vm "$W/stale"
	refused "kp_rolled_back"
	gen_is "$W/stale" 1
	vm_state "$W/vm" running
	ok "a copy taken before the last start is refused beside the running original (409 kp_rolled_back)"
	poweroff_vm "$W/vm"
	# brought back in place of the original after it ran
	mv "$W/vm" "$W/cur"
	cp -a "$W/stale" "$W/vm"
	run_vm "$W/vm"
	refused "kp_rolled_back"
	gen_is "$W/vm" 1
	rm -rf "$W/vm"
	mv "$W/cur" "$W/vm"
	gen_is "$W/vm" 2
	ok "the same copy put back after the original ran: refused (the generation check)"
	good_still_starts "$W/vm"
	gen_is "$W/vm" 3
	ok "the current directory still starts"
}

# ---- weakened definitions -------------------------------------------------------

# weaken FILTER MESSAGE [STATUS]: vm.json edited by the jq FILTER is
# refused with MESSAGE (exit STATUS) before any key is released (KP not
# rolled, nothing changed).
weaken() {
	cp "$W/vm/vm.json" "$W/vm.json.good"
	jq "$1" "$W/vm.json.good" >"$W/vm/vm.json"
	state_sum "$W/vm" >"$W/sum.before"
	run_vm "$W/vm"
	refused "$2" "${3:-1}"
	state_sum "$W/vm" >"$W/sum.after"
	cmp -s "$W/sum.before" "$W/sum.after" || fail "a refused run changed the VM directory"
	gen_is "$W/vm" 1
	cp "$W/vm.json.good" "$W/vm/vm.json"
}

# A shielded VM allows no console and needs Secure Boot (vm-def's unit
# tests); an encryption-supported VM may have a console and Secure Boot off,
# so there the KP's profile digest is all that stops an admin: these cases
# use an encryption-supported VM whose KP binds no console and Secure Boot.
case_refuse_weakened_serial() {
	setup encryption-supported
	weaken '.security.console = "serial"' 'not the one bound in the KP'
	ok "a serial console added to the definition: refused before any release (the KP binds another profile), KP not rolled"
	weaken '.security.console = "serial" | .security.policy = "shielded"' \
		"policy 'shielded' allows no console" 3
	ok "the same with the policy changed to shielded: refused by the definition check"
	audit_count unwrap 1 # setup's: nothing asked for since
	good_still_starts "$W/vm"
	gen_is "$W/vm" 2
	ok "the unchanged definition still starts"
}

case_refuse_weakened_secureboot() {
	local fw
	setup encryption-supported
	fw=$(sha256sum /usr/share/OVMF/OVMF_CODE_4M.fd | cut -d' ' -f1)
	weaken '.security.secure_boot = false' 'not the one bound in the KP'
	ok "Secure Boot off: refused before any release (the KP binds another profile)"
	weaken '.security.secure_boot = false | .security.policy = "shielded"' \
		"policy 'shielded' requires Secure Boot" 3
	ok "the same with the policy changed to shielded: refused by the definition check"
	weaken ".security.secure_boot = false | .firmware_path = \"/usr/share/OVMF/OVMF_CODE_4M.fd\"
		| .security.firmware.code = \"$fw\"" 'not the one bound in the KP'
	ok "Secure Boot off with the non-Secure-Boot firmware and its digest: refused before any release"
	# the firmware swapped under the old digest: the image is hashed
	weaken '.firmware_path = "/usr/share/OVMF/OVMF_CODE_4M.fd"' 'has SHA-256'
	ok "the non-Secure-Boot firmware under the Secure Boot firmware's digest: refused before any release"
	audit_count unwrap 1 # setup's: nothing asked for since
	good_still_starts "$W/vm"
	gen_is "$W/vm" 2
	ok "the unchanged definition still starts"
}

# ---- state on disk ----------------------------------------------------------

# run_refused_after_release PATTERN: a run of $W/vm is refused with PATTERN
# after the release (the KP rolls, as at every release), the running mark
# is taken back (the secrets keep their clean-stop state: the good state
# starts later without --accept-unclean-stop) and VARS, disks and vTPM
# state are left as they were.
run_refused_after_release() {
	local g
	g=$(gen "$W/vm")
	data_sum "$W/vm" >"$W/data.before"
	run_vm "$W/vm"
	refused "$1"
	data_sum "$W/vm" >"$W/data.after"
	cmp -s "$W/data.before" "$W/data.after" || fail "a refused run changed VARS, a disk or the vTPM state"
	gen_is "$W/vm" $((g + 1))
	vm_state "$W/vm" stopped
	if grep -q "could not take back" "$W/vm/supervisor.log"; then
		fail "the running mark stayed"
	fi
}

case_refuse_vars_tampered() {
	setup
	other_vm none
	cp "$W/vm/vars.enc" "$W/vars.good"
	printf '\x01' | dd of="$W/vm/vars.enc" bs=1 seek=200 conv=notrunc status=none
	cmp -s "$W/vm/vars.enc" "$W/vars.good" && fail "the byte did not change"
	run_refused_after_release "vars.enc differs from the one recorded at the last clean stop"
	ok "one byte of vars.enc changed: refused"
	cp "$W/vm2/vars.enc" "$W/vm/vars.enc"
	run_refused_after_release "vars.enc differs from the one recorded at the last clean stop"
	ok "another VM's vars.enc: refused"
	cp "$W/vars.good" "$W/vm/vars.enc"
	good_still_starts "$W/vm"
	ok "the good vars.enc still starts (no unclean-stop mark left)"
}

case_refuse_vtpm_rollback() {
	setup
	cp -a "$W/vm/vtpm" "$W/vtpm.old"
	run_ok "$W/vm"
	# OVMF's TPM start-up (TPM2_Startup after an unorderly quit: a TPM
	# Reset, counted in NV) changes the state once the firmware got that far
	for i in $(seq 1 300); do
		diff -r -q "$W/vtpm.old" "$W/vm/vtpm" >/dev/null || break
		sleep 0.1
	done
	poweroff_vm "$W/vm"
	diff -r -q "$W/vtpm.old" "$W/vm/vtpm" >/dev/null && fail "the run left the vTPM state unchanged: nothing to roll back"
	mv "$W/vm/vtpm" "$W/vtpm.cur"
	cp -a "$W/vtpm.old" "$W/vm/vtpm"
	run_refused_after_release "the vTPM state differs from the one recorded at the last clean stop"
	ok "vtpm/ replaced by the copy from before the last run: refused"
	rm -rf "$W/vm/vtpm"
	run_refused_after_release "the vTPM state recorded at the last clean stop is missing"
	ok "vtpm/ removed: refused"
	mv "$W/vtpm.cur" "$W/vm/vtpm"
	good_still_starts "$W/vm"
	ok "the current vTPM state still starts"
}

# ---- disks ----------------------------------------------------------------------

# Another VM's data disk (a LUKS qcow2 under another key): the header check
# passes, QEMU cannot unlock it; the refusal names the disk and QEMU's
# reason, and nothing ran, so the secrets keep their clean-stop state.
case_refuse_disk_wrong_key() {
	setup
	other_vm
	mv "$W/vm/disks/data.qcow2" "$W/data.good"
	cp "$W/vm2/disks/data.qcow2" "$W/vm/disks/data.qcow2"
	run_refused_after_release "disk data (disks/data.qcow2): QEMU cannot unlock it with this VM's key"
	grep -q "Invalid password, cannot unlock any keyslot" "$W/run.err" ||
		{ cat "$W/run.err" >&2; fail "the refusal does not carry QEMU's reason"; }
	grep -q "QEMU did not run and the vTPM state is unchanged" "$W/vm/supervisor.log" ||
		fail "the supervisor did not find the vTPM state unchanged"
	ok "another VM's data disk: refused, naming the disk and QEMU's reason"
	mv "$W/data.good" "$W/vm/disks/data.qcow2"
	good_still_starts "$W/vm"
	ok "the right disk still starts (the secrets stayed consistent)"
}

# A data disk that is not encrypted: refused by the header check before any
# release and before QEMU starts.
case_refuse_disk_no_key() {
	local qemu_starts
	setup
	qemu_starts=$(grep -c "QEMU started" "$W/vm/supervisor.log")
	mv "$W/vm/disks/data.qcow2" "$W/data.good"
	qemu-img create -q -f qcow2 "$W/vm/disks/data.qcow2" 16M
	run_vm "$W/vm"
	refused "disk data .*without encryption (crypt_method 0)"
	gen_is "$W/vm" 1
	vm_state "$W/vm" stopped
	ok "an unencrypted qcow2 as the data disk: refused before any release"
	rm "$W/vm/disks/data.qcow2"
	truncate -s 16M "$W/vm/disks/data.qcow2"
	run_vm "$W/vm"
	refused "disk data .*not a qcow2 image"
	gen_is "$W/vm" 1
	ok "a raw file as the data disk: refused before any release"
	rm "$W/vm/disks/data.qcow2"
	# a LUKS qcow2 overlay (any key) whose backing file QEMU would open
	qemu-img create -q -f qcow2 -u -b "$W/data.good" -F qcow2 \
		--object secret,id=s0,data=test-only \
		-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
		"$W/vm/disks/data.qcow2" 16M || fail "qemu-img create (overlay)"
	run_vm "$W/vm"
	refused "disk data .*backing file"
	gen_is "$W/vm" 1
	ok "a qcow2 overlay on a backing file: refused before any release"
	mv "$W/data.good" "$W/vm/disks/data.qcow2"
	[[ $(grep -c "QEMU started" "$W/vm/supervisor.log") == "$qemu_starts" ]] ||
		fail "QEMU was started for a refused disk"
	good_still_starts "$W/vm"
	gen_is "$W/vm" 2
	ok "the encrypted disk still starts"
}

# ---- the supervisor's control socket ----------------------------------------------

case_refuse_supervisor_dump() {
	local uuid sock c out
	setup
	run_ok "$W/vm"
	uuid=$(jq -r .uuid "$W/vm/vm.json")
	sock=$SHIELDVM_RUNTIME_DIR/$uuid/control.sock
	for c in human-monitor-command dump-guest-memory pmemsave memsave gdbserver device_add; do
		out=$(printf '{"execute": "%s"}\n' "$c" | socat -t 5 - "UNIX-CONNECT:$sock") ||
			fail "control socket: $c"
		jq -e '.error.class == "Refused"' <<<"$out" >/dev/null || fail "$c was not refused: $out"
		grep -q "control: REFUSED '$c'" "$W/vm/supervisor.log" || fail "$c: no REFUSED line in supervisor.log"
		vm_state "$W/vm" running
	done
	ok "human-monitor-command, dump-guest-memory, pmemsave, memsave, gdbserver, device_add refused, logged as REFUSED; the VM keeps running"
	# the same with arguments, as QMP would take them
	out=$(printf '%s\n' '{"execute": "dump-guest-memory", "arguments": {"paging": false, "protocol": "file:/tmp/x"}}' |
		socat -t 5 - "UNIX-CONNECT:$sock") || fail "control socket"
	jq -e '.error.class == "Refused"' <<<"$out" >/dev/null || fail "dump-guest-memory with arguments: $out"
	[[ $(grep -c "control: REFUSED 'dump-guest-memory'" "$W/vm/supervisor.log") == 2 ]] ||
		fail "the second dump request was not logged"
	vm_state "$W/vm" running
	ok "dump-guest-memory with QMP arguments: refused"
	poweroff_vm "$W/vm"
	gen_is "$W/vm" 2
	good_still_starts "$W/vm"
	ok "the VM stops cleanly and starts again"
}

# audit_count ACTION N: hgsd has N audit records of ACTION (unwrap,
# unwrap-commit, ...).
audit_count() {
	local n
	admin GET "/v1/admin/audit?limit=500"
	expect_status 200
	n=$(jq --arg a "$1" '[.records[] | select(.action == $a)] | length' "$TMP/body")
	[[ $n == "$2" ]] || fail "hgsd has $n $1 records, expected $2"
}

run_case "$@"
