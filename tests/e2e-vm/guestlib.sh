# shellcheck shell=bash
# The test guest and what it reports, for any harness of the e2e-vm suite:
# lib.sh (QEMU directly) and the scripts that boot it with `shieldvm run`
# on the guarded-host fixture (run-guest.sh). Source it after a harness that
# defines fail(); set REPORT (the report disk's file) and GUEST_TMP (a
# scratch directory) before calling the report functions.
#
# Environment (tests/e2e-vm/meson.build): GUEST_BUILD (guest/build-guest.sh),
# GUEST_DIR (where the images are cached, in the build directory), SHIELDVM.
#
#   guest_image [VARIANT]     build the guest if needed; print the path of
#                             guest.img, or guest-VARIANT.img (unsigned,
#                             badsig)
#   image_kernel IMG OUT      the /vmlinuz on IMG's ESP
#   report_text               the report block of $REPORT
#   report_get KEY            the value of KEY in it
#   expect KEY VALUE          fail unless the report says KEY=VALUE
#   guest_evlog OUT           the event log the guest copied to $REPORT
#   check_shielded            TPM 2.0 on tpm_crb, Secure Boot on, lockdown
#                             [integrity], and an event log (read with
#                             `shieldvm eventlog show`) in which shim, grub
#                             and a kernel of $KERNEL_BYTES bytes were
#                             measured into PCR 4 from the disk
#   file_count FILE TEXT      occurrences of TEXT's bytes in FILE
#   file_count_hex FILE HEX   occurrences of the bytes HEX encodes

: "${GUEST_BUILD:?GUEST_BUILD must point at tests/e2e-vm/guest/build-guest.sh}"
: "${GUEST_DIR:?GUEST_DIR must name the guest image cache directory}"
: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary (its event log parser)}"

REPORT=${REPORT:-}
GUEST_TMP=${GUEST_TMP:-}
KERNEL_BYTES=${KERNEL_BYTES:-}

guest_image()
{
	local variant=${1:-} img
	"$GUEST_BUILD" "$GUEST_DIR" >&2 || fail "building the test guest ($GUEST_BUILD $GUEST_DIR)"
	img=$GUEST_DIR/guest${variant:+-$variant}.img
	[[ -f $img ]] || fail "no guest image $img"
	echo "$img"
}

image_kernel()
{
	MTOOLS_SKIP_CHECK=1 mcopy -n -i "$1@@1M" ::/vmlinuz "$2"
}

report_text()
{
	head -c 4096 "$REPORT" | tr -d '\000'
}

report_get()
{
	# awk reads the whole report (no early exit: no SIGPIPE upstream).
	report_text | awk -v k="$1" 'index($0, k "=") == 1 && !done {
		print substr($0, length(k) + 2); done = 1 }'
}

expect()
{
	local v
	v=$(report_get "$1")
	[[ $v == "$2" ]] || fail "report: $1='$v', expected '$2'"
}

guest_evlog()
{
	local off n
	off=$(report_get eventlog_offset)
	n=$(report_get eventlog_bytes)
	[[ -n $off && -n $n ]] || fail "the report has no event log"
	dd if="$REPORT" of="$1" bs=64K iflag=skip_bytes,count_bytes \
		skip="$off" count="$n" status=none
}

# evlog_has PCR TYPE TEXT: an event of TYPE in PCR whose description holds
# TEXT ($GUEST_TMP/evlog.json from check_shielded).
evlog_has()
{
	local n
	n=$(jq --argjson pcr "$1" --arg type "$2" --arg text "$3" \
		'[.[] | select(.pcr == $pcr and .type == $type and
			(.description | contains($text)))] | length' "$GUEST_TMP/evlog.json")
	[[ $n -ge 1 ]] || fail "guest event log: no $2 in PCR $1 with '$3'"
}

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
	[[ -n $KERNEL_BYTES ]] || fail "check_shielded: KERNEL_BYTES is not set"
	guest_evlog "$GUEST_TMP/evlog.bin"
	"$SHIELDVM" eventlog show --json "$GUEST_TMP/evlog.bin" >"$GUEST_TMP/evlog.json" ||
		fail "shieldvm eventlog show: cannot parse the guest's event log"
	evlog_has 7 EV_EFI_VARIABLE_DRIVER_CONFIG 'SecureBoot = 1 '
	evlog_has 4 EV_EFI_BOOT_SERVICES_APPLICATION '\EFI\BOOT\BOOTX64.EFI ('
	evlog_has 4 EV_EFI_BOOT_SERVICES_APPLICATION '\EFI\BOOT\grubx64.efi ('
	evlog_has 4 EV_EFI_BOOT_SERVICES_APPLICATION "($KERNEL_BYTES bytes at "
	evlog_has 8 EV_IPL 'kernel_cmdline: /vmlinuz '
}

# file_count_hex FILE HEX: how many times the bytes HEX encodes occur in
# FILE (any bytes, NUL and newline included; not line-based like grep).
file_count_hex()
{
	perl -e 'my ($f, $h) = @ARGV; my $p = pack("H*", $h);
		open(my $fh, "<:raw", $f) or die "$f: $!\n";
		local $/; my $d = <$fh> // ""; my ($n, $i) = (0, 0);
		while (($i = index($d, $p, $i)) >= 0) { $n++; $i++ }
		print "$n\n"' "$1" "$2"
}

file_count()
{
	file_count_hex "$1" "$(printf '%s' "$2" | xxd -p | tr -d '\n')"
}
