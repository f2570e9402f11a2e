# shellcheck shell=bash
# Harness of the e2e-vm suite: the test guest (tests/e2e-vm/guest/, built
# once per build directory from Debian packages) booted by QEMU under TCG
# through OVMF Secure Boot, with swtpm as its vTPM. Source it.
#
# Environment (tests/e2e-vm/meson.build): GUEST_BUILD (guest/build-guest.sh),
# GUEST_DIR (where the images are cached, in the build directory), SHIELDVM.
#
#   vm_lib_init               temp dir $T, traps that stop what we started
#   vtpm_start STATE          swtpm (log level 1) on STATE; $VTPM_SOCK
#   vtpm_stop
#   qemu_boot IMG VARS TIMEOUT [EXTRA QEMU ARGS]
#                             boot IMG (read-only) with VARS, the vTPM, the
#                             report disk $T/report.img (serial "report")
#                             and, if it exists, $T/data.img (serial
#                             "data"); sets BOOT_STATUS (exited | timeout)
#                             and BOOT_SECONDS
#   report_reset              a fresh, zeroed report disk ($REPORT)
#   fail MSG                  print MSG and the report, exit 1
# and guestlib.sh's guest_image, report_get, expect, check_shielded, ...
# (REPORT=$T/report.img, GUEST_TMP=$T).
#
# Each script defines case_NAME functions and ends with `run_case "$@"`.
set -euo pipefail

# shellcheck source=tests/e2e-vm/guestlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/guestlib.sh"

OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.secboot.fd}
OVMF_VARS_MS=${OVMF_VARS_MS:-/usr/share/OVMF/OVMF_VARS_4M.ms.fd}
# Secure Boot off (the control case): the same firmware with no keys
# enrolled (setup mode), so it verifies nothing.
OVMF_VARS_NOKEYS=${OVMF_VARS_NOKEYS:-/usr/share/OVMF/OVMF_VARS_4M.fd}

GUEST_MEM_MB=512 # OVMF needs >= 384 MB for the shim + grub path under TCG
# A boot is ~13 s under TCG on a quiet machine, 30-75 s when other builds
# load it (load average 3-8 on 2 cores); a refused kernel powers off after
# 20-50 s.
BOOT_TIMEOUT=${E2E_VM_BOOT_TIMEOUT:-200}

T=
VTPM_PID=
VTPM_SOCK=
QEMU_PID=
BOOT_STATUS=
BOOT_SECONDS=

vm_lib_cleanup()
{
	local rc=$?
	if [[ -n $QEMU_PID ]]; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	vtpm_stop
	if [[ $rc != 0 && -n $T ]]; then
		local f
		for f in "$T"/swtpm.log "$T"/qemu.err; do
			if [[ -s $f ]]; then
				echo "--- $f (last 20 lines):" >&2
				tail -n 20 "$f" >&2
			fi
		done
	fi
	[[ -n $T && -d $T ]] && rm -rf "$T"
	return "$rc"
}

vm_lib_init()
{
	T=$(mktemp -d "${TMPDIR:-/tmp}/shieldvm-e2e-vm.XXXXXX")
	REPORT=$T/report.img
	GUEST_TMP=$T
	trap 'vm_lib_cleanup; exit $?' EXIT
	trap 'exit 130' INT TERM
}

fail()
{
	echo "FAIL: $*" >&2
	if [[ -n $REPORT && -f $REPORT ]]; then
		echo "--- guest report:" >&2
		report_text >&2 || true
	fi
	exit 1
}

vtpm_start()
{
	local state=$1 i
	mkdir -p "$state"
	VTPM_SOCK=$T/swtpm.sock
	rm -f "$VTPM_SOCK"
	# Log level 1 at most: level 2 and up dump TPM traffic, secrets included.
	swtpm socket --tpm2 --tpmstate dir="$state" \
		--ctrl type=unixio,path="$VTPM_SOCK" --flags startup-clear \
		--log level=1,file="$T/swtpm.log" &
	VTPM_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S $VTPM_SOCK ]] && return 0
		kill -0 "$VTPM_PID" 2>/dev/null || fail "swtpm exited at start"
		sleep 0.1
	done
	fail "swtpm did not create $VTPM_SOCK"
}

vtpm_stop()
{
	local i
	if [[ -n $VTPM_PID ]]; then
		# swtpm ends by itself once QEMU is gone; give it a moment.
		for ((i = 0; i < 50; i++)); do
			kill -0 "$VTPM_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$VTPM_PID" 2>/dev/null || true
		wait "$VTPM_PID" 2>/dev/null || true
		VTPM_PID=
	fi
}

report_reset()
{
	rm -f "$REPORT"
	truncate -s 1M "$REPORT"
}

# qemu_boot IMG VARS TIMEOUT [EXTRA QEMU ARGS...]
qemu_boot()
{
	local img=$1 vars=$2 timeout=$3 t0 t1 i
	shift 3
	local serial=(-serial none)
	[[ -n ${E2E_VM_SERIAL:-} ]] && serial=(-serial "file:$E2E_VM_SERIAL")
	local disks=(
		-drive "if=none,id=boot,file=$img,format=raw,readonly=on"
		-device virtio-blk-pci,drive=boot
		-drive "if=none,id=report,file=$T/report.img,format=raw"
		-device virtio-blk-pci,drive=report,serial=report)
	if [[ -f $T/data.img ]]; then
		disks+=(-drive "if=none,id=data,file=$T/data.img,format=raw"
			-device virtio-blk-pci,drive=data,serial=data)
	fi
	t0=$(date +%s.%N)
	qemu-system-x86_64 -accel tcg -machine q35,smm=on \
		-global driver=cfi.pflash01,property=secure,value=on \
		-drive "if=pflash,format=raw,unit=0,file=$OVMF_CODE,readonly=on" \
		-drive "if=pflash,format=raw,unit=1,file=$vars" \
		-chardev "socket,id=chrtpm,path=$VTPM_SOCK" \
		-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-crb,tpmdev=tpm0 \
		-nodefaults -display none -vga none "${serial[@]}" -monitor none \
		-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny \
		-m "$GUEST_MEM_MB" -no-reboot \
		"${disks[@]}" "$@" </dev/null >"$T/qemu.out" 2>"$T/qemu.err" &
	QEMU_PID=$!
	BOOT_STATUS=timeout
	for ((i = 0; i < timeout * 10; i++)); do
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			BOOT_STATUS=exited
			break
		fi
		sleep 0.1
	done
	if [[ $BOOT_STATUS == timeout ]]; then
		kill "$QEMU_PID" 2>/dev/null || true
	fi
	local rc=0
	wait "$QEMU_PID" || rc=$?
	QEMU_PID=
	t1=$(date +%s.%N)
	BOOT_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [[ $BOOT_STATUS == exited && $rc != 0 ]]; then
		fail "qemu exited with status $rc: $(tail -n 3 "$T/qemu.err")"
	fi
	vtpm_stop
}

run_case()
{
	local c=${1:?usage: $0 CASE}
	declare -F "case_$c" >/dev/null || {
		echo "unknown case: $c" >&2
		exit 2
	}
	vm_lib_init
	"case_$c"
}
