#!/usr/bin/env bash
# Secure Boot refusals of the test guest without the launcher: QEMU 7.2 under
# TCG, OVMF Secure Boot (Microsoft keys) -> Debian's signed shim -> signed
# grub -> signed kernel -> busybox /init, with swtpm as vTPM. The guest
# reports through its report disk only (no serial device, no display).
#
#   boot.sh unsigned-kernel     kernel without signature: refused, no report
#   boot.sh untrusted-kernel    kernel signed by a key nobody trusts: refused
#   boot.sh no-keys-control     the unsigned kernel does boot when no Secure
#                               Boot keys are enrolled (so the refusals above
#                               are the signature check, not a broken image)
# The guest's good boot, twice on the same vTPM, is shown through the
# launcher itself: run-guest.sh shielded-run-twice.
# shellcheck source=tests/e2e-vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A refused kernel makes grub power off (~18 s); past this the test stops
# QEMU itself.
REFUSE_TIMEOUT=${E2E_VM_REFUSE_TIMEOUT:-90}

# check_booted N: the guest ran /init to the end and powered off.
check_booted()
{
	[[ $BOOT_STATUS == exited ]] ||
		fail "boot $1: no power-off within ${BOOT_TIMEOUT}s ($BOOT_SECONDS s)"
	expect shieldvm_guest_report 1
	expect end 1
	echo "boot $1: ${BOOT_SECONDS} s from QEMU start to power-off" \
		"(guest kernel uptime at report $(report_get uptime) s)"
}

# check_refused IMG WHAT: boot IMG under Secure Boot; nothing may run.
check_refused()
{
	local img=$1 what=$2 k sigs
	# The image really carries the kernel we claim it does.
	k=$T/vmlinuz
	image_kernel "$img" "$k"
	sigs=$(sbverify --list "$k" 2>&1 | grep -c '^signature [0-9]' || true)
	case $what in
	unsigned) [[ $sigs == 0 ]] || fail "$img: kernel has $sigs signatures, expected none" ;;
	untrusted) [[ $sigs == 1 ]] || fail "$img: kernel has $sigs signatures, expected 1" ;;
	esac

	cp "$OVMF_VARS_MS" "$T/vars.fd"
	report_reset
	vtpm_start "$T/vtpm"
	qemu_boot "$img" "$T/vars.fd" "$REFUSE_TIMEOUT"
	if [[ -n $(report_text) ]]; then
		fail "$what kernel: the guest ran and wrote a report"
	fi
	case $BOOT_STATUS in
	exited) echo "$what kernel refused: grub powered off after ${BOOT_SECONDS} s, no report" ;;
	timeout) echo "$what kernel refused: no report; QEMU stopped after ${BOOT_SECONDS} s" ;;
	esac
}

case_unsigned-kernel()
{
	local img
	img=$(guest_image unsigned)
	check_refused "$img" unsigned
}

case_untrusted-kernel()
{
	local img
	img=$(guest_image badsig)
	check_refused "$img" untrusted
}

case_no-keys-control()
{
	local img
	img=$(guest_image unsigned)
	cp "$OVMF_VARS_NOKEYS" "$T/vars.fd"
	report_reset
	vtpm_start "$T/vtpm"
	qemu_boot "$img" "$T/vars.fd" "$BOOT_TIMEOUT"
	check_booted 1
	expect tpm present
	expect secureboot 0
	[[ $(report_get lockdown) == *"[none]"* ]] ||
		fail "kernel lockdown is '$(report_get lockdown)' without Secure Boot"
	expect nv_state created
	echo "no keys enrolled: the unsigned kernel boots, Secure Boot reported off" \
		"(event log: $(report_get eventlog))"
}

run_case "$@"
