#!/usr/bin/env bash
# Boot smoke tests of the test guest without the launcher: QEMU 7.2 under
# TCG, OVMF Secure Boot (Microsoft keys) -> Debian's signed shim -> signed
# grub -> signed kernel -> busybox /init, with swtpm as vTPM. The guest
# reports through its report disk only (no serial device, no display).
#
#   boot.sh secure-boot-twice   boots, reports TPM + event log + Secure Boot
#                               on; a second boot on the same vTPM state reads
#                               the NV value the first one wrote, and the data
#                               disk marker the first one left
#   boot.sh unsigned-kernel     kernel without signature: refused, no report
#   boot.sh untrusted-kernel    kernel signed by a key nobody trusts: refused
#   boot.sh no-keys-control     the unsigned kernel does boot when no Secure
#                               Boot keys are enrolled (so the refusals above
#                               are the signature check, not a broken image)
# shellcheck source=tests/e2e-vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary (its event log parser)}"

# A refused kernel makes grub power off (~18 s); past this the test stops
# QEMU itself.
REFUSE_TIMEOUT=${E2E_VM_REFUSE_TIMEOUT:-90}

hex32='^[0-9a-f]{32}$'

# expect KEY VALUE
expect()
{
	local v
	v=$(report_get "$1")
	[[ $v == "$2" ]] || fail "report: $1='$v', expected '$2'"
}

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

# check_shielded: what every shielded boot must show.
check_shielded()
{
	expect tpm present
	expect tpm_version_major 2
	expect tpm_driver tpm_crb
	expect eventlog present
	expect secureboot 1
	[[ $(report_get lockdown) == *"[integrity]"* ]] ||
		fail "kernel lockdown is '$(report_get lockdown)', expected [integrity] (Secure Boot)"
	# The chain went from the disk through shim and grub (not -kernel): the
	# project's own event log parser finds Secure Boot on in PCR 7, shim,
	# grub and a kernel of /vmlinuz's size measured into PCR 4, and grub's
	# kernel command line in PCR 8.
	guest_evlog "$T/evlog.bin"
	"$SHIELDVM" eventlog show --json "$T/evlog.bin" >"$T/evlog.json" ||
		fail "shieldvm eventlog show: cannot parse the guest's event log"
	evlog_has 7 EV_EFI_VARIABLE_DRIVER_CONFIG 'SecureBoot = 1 '
	evlog_has 4 EV_EFI_BOOT_SERVICES_APPLICATION '\EFI\BOOT\BOOTX64.EFI ('
	evlog_has 4 EV_EFI_BOOT_SERVICES_APPLICATION '\EFI\BOOT\grubx64.efi ('
	evlog_has 4 EV_EFI_BOOT_SERVICES_APPLICATION "($KERNEL_BYTES bytes at "
	evlog_has 8 EV_IPL 'kernel_cmdline: /vmlinuz '
}

# evlog_has PCR TYPE TEXT: an event of TYPE in PCR whose description holds
# TEXT.
evlog_has()
{
	local n
	n=$(jq --argjson pcr "$1" --arg type "$2" --arg text "$3" \
		'[.[] | select(.pcr == $pcr and .type == $type and
			(.description | contains($text)))] | length' "$T/evlog.json")
	[[ $n -ge 1 ]] || fail "guest event log: no $2 in PCR $1 with '$3'"
}

# image_kernel IMG OUT: the /vmlinuz on IMG's ESP.
image_kernel()
{
	MTOOLS_SKIP_CHECK=1 mcopy -n -i "$1@@1M" ::/vmlinuz "$2"
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

case_secure-boot-twice()
{
	local img nv marker
	img=$(guest_image)
	image_kernel "$img" "$T/vmlinuz"
	KERNEL_BYTES=$(stat -c %s "$T/vmlinuz")
	cp "$OVMF_VARS_MS" "$T/vars.fd"
	truncate -s 16M "$T/data.img"

	report_reset
	vtpm_start "$T/vtpm"
	qemu_boot "$img" "$T/vars.fd" "$BOOT_TIMEOUT"
	check_booted 1
	check_shielded
	expect nv_state created
	nv=$(report_get nv_value)
	[[ $nv =~ $hex32 ]] || fail "run 1: nv_value '$nv' is not 16 bytes of hex"
	expect data_disk /dev/vdc
	expect data_marker_prev ""
	marker=$(report_get data_marker)
	[[ $marker =~ $hex32 ]] || fail "run 1: data_marker '$marker'"
	grep -q "SHIELDVM-DATA $marker" "$T/data.img" ||
		fail "run 1: the data disk does not hold the marker"
	echo "run 1: NV index $(report_get nv_index) created with $nv"

	# Run 2: same vTPM state, same VARS, same data disk.
	report_reset
	vtpm_start "$T/vtpm"
	qemu_boot "$img" "$T/vars.fd" "$BOOT_TIMEOUT"
	check_booted 2
	check_shielded
	expect nv_state existing
	expect nv_value "$nv"
	expect data_marker_prev "$marker"
	echo "run 2: NV index read back $nv; data disk marker kept"
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
