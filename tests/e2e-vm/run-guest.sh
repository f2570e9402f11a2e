#!/usr/bin/env bash
# The test guest booted by the launcher itself (suite 'e2e-vm'): the e2e-kps
# guarded-host fixture (swtpm host TPM booted with a real event log, hgsd on
# loopback, the owner CLI) makes a KP bound to the VM's profile; `shieldvm
# vm new` imports guest.img as the VM's LUKS root disk; `shieldvm run`
# attests, releases the keys and starts swtpm + QEMU under the supervisor;
# the guest checks its vTPM and Secure Boot, writes its report and powers
# itself off; then the same again.
#
#   run-guest.sh shielded-run-twice
#
# Environment (tests/e2e-vm/meson.build): the e2e-kps variables (HGSD,
# SHIELDVM, KPS_TOOL, ...) and GUEST_BUILD, GUEST_DIR.
# shellcheck source=tests/e2e-kps/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e-kps/lib.sh"
# shellcheck source=tests/e2e-vm/guestlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/guestlib.sh"

export SHIELDVM_RUNTIME_DIR=$TMP/run
VMD=$W/vm
REPORT=$VMD/disks/report.raw
GUEST_TMP=$W
# One guest boot (launcher start to the guest's power-off): ~30 s with the
# machine to itself, up to ~80 s under load (docs/guest-image.md).
BOOT_TIMEOUT=${E2E_VM_BOOT_TIMEOUT:-200}
hex32='^[0-9a-f]{32}$'

VM_DIRS=("$VMD")
# vm_cleanup's hook: on failure, what the guest reported
vm_cleanup_more() {
	if [[ $1 != 0 && -f $REPORT ]]; then
		echo "--- guest report" >&2
		report_text >&2 || true
	fi
}
trap vm_cleanup EXIT

# run_guest N: `shieldvm run` as the guarded host; while the guest boots,
# `shieldvm status` says running; then wait until the guest has powered off
# and the supervisor has stopped cleanly. Sets BOOT_SECONDS.
run_guest() {
	local n=$1 t0 t1 json rc=0 i
	: >"$REPORT.tmp" && truncate -s 1M "$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
	t0=$(date +%s.%N)
	"$SHIELDVM" run "$VMD" --tcti "$TCTI_host" --state-dir "$W/agent-host" \
		--event-log "$SHIM_LOG" --quiet >"$W/run.out" 2>"$W/run.err" || rc=$?
	[[ $rc == 0 ]] || { cat "$W/run.out" "$W/run.err" >&2; fail "run $n: shieldvm run exited $rc"; }
	json=$("$SHIELDVM" status "$VMD" --json) || fail "run $n: shieldvm status"
	jq -e '.state == "running"' <<<"$json" >/dev/null || fail "run $n: status $json"
	ok "run $n: started; shieldvm status says running while the guest boots"
	for ((i = 0; i < BOOT_TIMEOUT * 10; i++)); do
		[[ -e $SHIELDVM_RUNTIME_DIR/$VM_ID ]] || break
		sleep 0.1
	done
	[[ ! -e $SHIELDVM_RUNTIME_DIR/$VM_ID ]] ||
		fail "run $n: the guest did not power off within ${BOOT_TIMEOUT} s"
	t1=$(date +%s.%N)
	BOOT_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	[[ $(grep -c "stopped cleanly" "$VMD/supervisor.log") == "$n" ]] ||
		fail "run $n: the supervisor did not stop cleanly"
	"$SHIELDVM" status "$VMD" >/dev/null 2>&1 && fail "run $n: status after the power-off"
	expect shieldvm_guest_report 1
	expect end 1
	check_shielded
	ok "run $n: guest powered off after ${BOOT_SECONDS} s (shieldvm run to the supervisor's clean stop; guest kernel uptime at report $(report_get uptime) s): Secure Boot on, TPM 2.0 on tpm_crb, shim, grub and the kernel measured into PCR 4"
}

# kp_generation: the generation in the VM's KP (`shieldvm kp show`).
kp_generation() {
	"$SHIELDVM" kp show "$VMD/kp" --json | jq -r '.generation'
}

# no_plaintext WHAT HEX: the bytes HEX encodes are in none of the VM's
# encrypted files.
no_plaintext() {
	local f n
	for f in "$VMD"/disks/*.qcow2 "$VMD"/vtpm/* "$VMD"/vars.enc "$VMD"/kp* "$VMD"/secrets*; do
		[[ -f $f ]] || continue
		n=$(file_count_hex "$f" "$2")
		[[ $n == 0 ]] || fail "$1 found $n times in ${f#"$VMD"/}"
	done
}

case_shielded_run_twice() {
	local img sha nv marker marker1 gen0 files=() f bytes
	img=$(guest_image)
	image_kernel "$img" "$W/vmlinuz"
	KERNEL_BYTES=$(stat -c %s "$W/vmlinuz")
	sha=$(sha256sum "$img" | cut -d' ' -f1)

	guarded_fabric
	local disks=(--disk root:import="$img" --disk report:1:raw --disk data:16)
	vm_kp shielded "$W/kp.json" "${disks[@]}"
	jq -e '.devices == ["disk-luks", "disk-raw"]' "$W/profile.json" >/dev/null ||
		fail "profile: $(cat "$W/profile.json")"

	# vm new refuses what it cannot import, and leaves no directory
	head -c 1000 /dev/urandom >"$W/text.img"
	for f in "$W/nothing.img:is missing" "$W/text.img:not a disk image (not qcow2, and 1000 bytes"; do
		if "$SHIELDVM" vm new t1 --kp "$W/kp.json" --disk root:import="${f%%:*}" \
			--disk report:1:raw --disk data:16 --dir "$VMD" >/dev/null 2>"$W/new.err"; then
			fail "vm new imported ${f%%:*}"
		fi
		grep -qF "${f#*:}" "$W/new.err" || { cat "$W/new.err" >&2; fail "vm new ${f%%:*}: wrong error"; }
		[[ ! -e $VMD ]] || fail "a refused vm new left a directory"
	done
	ok "vm new refuses a missing image and a file that is not a disk image"

	"$SHIELDVM" vm new t1 --kp "$W/kp.json" --memory 512 "${disks[@]}" --dir "$VMD" \
		>"$W/new.out" || fail "vm new"
	grep -q "disk root: imports $img (raw, 48 MiB, SHA-256 $sha)" "$W/new.out" ||
		fail "vm new: $(cat "$W/new.out")"
	jq -e --arg p "$img" --arg s "$sha" '.disks[0] == {"name": "root",
		"file": "disks/root.qcow2", "format": "qcow2-luks", "size_mb": 48,
		"import": {"path": $p, "sha256": $s}}' "$VMD/vm.json" >/dev/null ||
		fail "vm.json disks: $(jq -c .disks "$VMD/vm.json")"
	gen0=$(kp_generation)
	ok "vm new: root imports guest.img (48 MiB, its SHA-256), report raw, data LUKS; KP generation $gen0"

	# run 1: the import, a fresh vTPM, an empty data disk
	run_guest 1
	grep -q "first start: disk root imported from $img (raw, SHA-256 $sha" "$VMD/supervisor.log" ||
		fail "no import in the supervisor log"
	ok "run 1: $(grep -o 'disk root imported .*' "$VMD/supervisor.log" | sed 's/SHA-256 [0-9a-f]*, //')"
	expect nv_state created
	nv=$(report_get nv_value)
	[[ $nv =~ $hex32 ]] || fail "run 1: nv_value '$nv' is not 16 bytes of hex"
	expect data_disk /dev/vdc
	expect data_marker_prev ""
	marker1=$(report_get data_marker)
	[[ $marker1 =~ $hex32 ]] || fail "run 1: data_marker '$marker1'"
	[[ $(kp_generation) == $((gen0 + 1)) ]] || fail "KP generation $(kp_generation) after run 1"
	ok "run 1: NV index $(report_get nv_index) created with $nv, data marker $marker1, KP generation $((gen0 + 1))"

	# run 2: the same vTPM state and data disk, through the launcher again
	run_guest 2
	[[ $(grep -c "imported from" "$VMD/supervisor.log") == 1 ]] || fail "run 2 imported again"
	expect nv_state existing
	expect nv_value "$nv"
	expect data_marker_prev "$marker1"
	marker=$(report_get data_marker)
	[[ $marker =~ $hex32 && $marker != "$marker1" ]] || fail "run 2: data_marker '$marker'"
	[[ $(kp_generation) == $((gen0 + 2)) ]] || fail "KP generation $(kp_generation) after run 2"
	ok "run 2: the vTPM kept NV $nv, the data disk kept marker $marker1 (now $marker), KP generation $((gen0 + 2))"

	# After the stop: neither marker nor the NV value (as the text the
	# guest reports and as the 16 raw bytes in the vTPM) is in any file
	# the launcher encrypts. The checks find them where they are in clear:
	# the report disk holds both as text, and a file holding the raw NV
	# bytes is found by the byte search.
	for f in "$marker1" "$marker" "$nv"; do
		[[ $(file_count "$REPORT" "$f") -ge 1 ]] || fail "the check does not find $f in the plaintext report"
	done
	{ head -c 1001 /dev/urandom; xxd -r -p <<<"$nv"; head -c 999 /dev/urandom; } >"$W/control.bin"
	[[ $(file_count_hex "$W/control.bin" "$nv") == 1 ]] || fail "the byte search misses the raw NV value"
	for f in "$VMD"/disks/*.qcow2 "$VMD"/vtpm/* "$VMD"/vars.enc "$VMD"/kp* "$VMD"/secrets*; do
		[[ -f $f ]] && files+=("${f#"$VMD"/}")
	done
	[[ " ${files[*]} " == *" disks/root.qcow2 "* && " ${files[*]} " == *" disks/data.qcow2 "* &&
		" ${files[*]} " == *" vars.enc "* && " ${files[*]} " == *" vtpm/"* ]] ||
		fail "expected disks, vtpm and vars.enc: ${files[*]}"
	bytes=$(du -cb "${files[@]/#/$VMD/}" | tail -1 | cut -f1)
	for f in "SHIELDVM-DATA $marker1" "SHIELDVM-DATA $marker" "$marker1" "$marker" "$nv"; do
		no_plaintext "'$f'" "$(printf '%s' "$f" | xxd -p | tr -d '\n')"
	done
	no_plaintext "the raw NV value" "$nv"
	ok "after the stop: no data marker, no NV value (text or raw bytes) in ${files[*]} ($bytes bytes)"
}

run_case "$@"
