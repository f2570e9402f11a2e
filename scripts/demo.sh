#!/usr/bin/env bash
# `make demo`: a Host Guardian Service's first decision, on real evidence.
#
# Captures an attestation baseline from one real TCG event log (a QEMU/OVMF
# Secure Boot VM booting Debian's signed shim -> grub -> kernel), writes a
# policy with that baseline and the standard rules, then judges several other
# logs against it and narrates each verdict with the reasons shieldvm gives.
#
# Expected failures are part of the story: the script does not stop on them.
# It exits non-zero only if a verdict differs from the expected one or a
# command fails in an unexpected way (exit status other than 0 or 1).
#
# Environment: BUILD_DIR (default build), SHIELDVM (default
# $BUILD_DIR/src/shieldvm/shieldvm), TESTDATA (default ../shared/testdata,
# relative to the repository root).
set -uo pipefail

cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
shieldvm=${SHIELDVM:-$build/src/shieldvm/shieldvm}
logs=${TESTDATA:-../shared/testdata}/eventlogs
work=$build/demo

if [[ -t 1 ]]; then
	bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' off=$'\e[0m'
else
	bold='' green='' red='' dim='' off=''
fi

heading()
{
	echo
	echo "${bold}== $* ==${off}"
}

# show_cmd ARGS...: print the command as a reader would type it.
show_cmd()
{
	echo "${dim}  \$ shieldvm $*${off}"
}

indent()
{
	sed 's/^/    /'
}

die()
{
	echo "${red}demo: $*${off}" >&2
	exit 1
}

[[ -x $shieldvm ]] || die "$shieldvm not built (run 'make demo')"
[[ -d $logs ]] || die "$logs not found: the shared test data must sit beside the repository"
mkdir -p "$work"

cat <<INTRO
${bold}shieldvm demo: may this host run shielded VMs?${off}

A guarded host proves how it booted with its TPM's measured-boot event log:
every firmware component, Secure Boot variable and boot program is hashed
into the TPM before it runs. The Host Guardian Service compares that log with
a baseline captured from a host known to be good, and applies rules (Secure
Boot on, every boot stage measured, no debugger, ...). Only a host that
passes gets a health token, and only a host with a token can obtain the keys
that unlock a shielded VM. Every event log below was recorded from real
firmware, on this project's machines or by public projects.
INTRO

# ---------------------------------------------------------------------------
reference=local__ovmf_sb_shim_grub.bin

heading "Step 1: capture a baseline from a known-good host"
cat <<STEP1
  Reference log: $reference
    QEMU q35 with SMM, OVMF with Secure Boot on (Microsoft keys), booting
    Debian 12's signed shim -> grub -> signed kernel, with an swtpm vTPM.
    The baseline records, per PCR, the ordered measured events of this boot.
STEP1
show_cmd baseline capture --name debian12-ovmf-sb "$logs/$reference" -o "$work/baseline.json"
"$shieldvm" baseline capture --name debian12-ovmf-sb "$logs/$reference" \
	-o "$work/baseline.json" 2>&1 | indent
((PIPESTATUS[0] == 0)) || die "baseline capture failed"
[[ -s $work/baseline.json ]] || die "baseline capture wrote no $work/baseline.json"
echo "  Baseline written to $work/baseline.json ($(wc -c <"$work/baseline.json") bytes)."

# ---------------------------------------------------------------------------
heading "Step 2: a policy: that baseline plus the standard rules"
cat <<STEP2
  The rules (shieldvm policy rules):
STEP2
"$shieldvm" policy rules 2>&1 | indent
cat <<STEP2

  The reference VMs run without a virtual IOMMU (their kernel command line
  has no intel_iommu=on), so this demo turns iommu-enabled off; a
  production fabric keeps it on. The cmdline rule gets deny patterns for
  kernel debugger arguments.
STEP2
policy_args=(-o "$work/policy.json" --baseline "$work/baseline.json"
	--disable iommu-enabled --deny "kgdboc=*" --deny "kgdbwait")
show_cmd policy new "${policy_args[@]}"
"$shieldvm" policy new "${policy_args[@]}" 2>&1 | indent
((PIPESTATUS[0] == 0)) || die "policy new failed"

# ---------------------------------------------------------------------------
# A forged variant of the reference: the log of a host that booted another
# kernel through the same chain. One byte of the digest of the last boot
# application measured into PCR 4 (the kernel) is changed.
make_tampered()
{
	local src=$1 dst=$2 offset pos byte

	offset=$("$shieldvm" eventlog show --json "$src" 2>/dev/null |
		jq -r '[.[] | select(.pcr == 4 and .type == "EV_EFI_BOOT_SERVICES_APPLICATION")]
		       | last | .offset // empty' 2>/dev/null)
	[[ $offset =~ ^[0-9]+$ ]] || return 1
	# Crypto-agile event header: PCR (4), type (4), digest count (4), then
	# the first bank's algorithm id (2) and its digest.
	pos=$((offset + 14))
	byte=$(od -An -tu1 -j "$pos" -N1 "$src" | tr -d ' ')
	[[ $byte =~ ^[0-9]+$ ]] || return 1
	cp "$src" "$dst" || return 1
	# shellcheck disable=SC2059 # the format is the octal escape itself
	printf "$(printf '\\%03o' $((byte ^ 0xff)))" |
		dd of="$dst" bs=1 seek="$pos" conv=notrunc status=none
}

# name|file|what it is|expected verdict|rule expected to fail|why
judgments=(
	"$reference|$logs/$reference|the reference host itself, booted again|pass||every event matches the baseline and every rule holds"
	"local__ovmf_sb_directkernel.bin|$logs/local__ovmf_sb_directkernel.bin|the same VM and firmware, but the kernel passed with QEMU -kernel|fail|boot-apps-measured|rule boot-apps-measured: -kernel bypasses Secure Boot verification and the kernel is never measured into PCR 4"
	"gotpmtools__ubuntu-2104-no-secure-boot.bin|$logs/gotpmtools__ubuntu-2104-no-secure-boot.bin|a Google Compute Engine Ubuntu 21.04 VM with Secure Boot turned off|fail|secure-boot-enabled|rule secure-boot-enabled: the SecureBoot variable measured into PCR 7 is 0 (and its firmware matches no baseline)"
)
if make_tampered "$logs/$reference" "$work/tampered-kernel.bin"; then
	judgments+=("tampered-kernel.bin (made from $reference)|$work/tampered-kernel.bin|the reference log with one byte of the kernel's PCR 4 measurement changed, as a host that booted another kernel would report|fail|baseline|rule baseline: the kernel's measurement differs from the baseline (PCR 4)")
else
	echo
	echo "  (could not locate the kernel's event to forge a tampered log; that case is skipped)"
fi

heading "Step 3: judge hosts against the policy"
n=0 unexpected=0 total=${#judgments[@]}
for j in "${judgments[@]}"; do
	IFS='|' read -r name file what expect rule why <<<"$j"
	n=$((n + 1))
	echo
	echo "${bold}[$n/$total] $name${off}"
	echo "  What:     $what"
	echo "  Expected: ${expect^^}, $why"
	show_cmd policy judge "$work/policy.json" "$file"
	out=$("$shieldvm" policy judge "$work/policy.json" "$file" 2>&1)
	rc=$?
	[[ -n $out ]] && indent <<<"$out"
	case $rc in
	0) got=pass ;;
	1) got=fail ;;
	*) got="error (exit $rc)" ;;
	esac
	# The rule the story is about must be among the failed ones.
	if [[ $got == fail && -n $rule ]]; then
		json=$("$shieldvm" policy judge "$work/policy.json" "$file" --json 2>/dev/null)
		jq -e --arg r "$rule" '.failed_rules | index($r)' <<<"$json" >/dev/null ||
			got="fail, but not on rule $rule"
	fi
	if [[ $got == "$expect" ]]; then
		colour=$green
		[[ $got == fail ]] && colour=$red
		note="as expected"
		[[ -n $rule ]] && note+=", rule $rule among the failures"
		echo "  Verdict:  ${colour}${got^^}${off} ($note)"
	else
		echo "  Verdict:  ${red}${got^^}: UNEXPECTED, expected ${expect^^}${off}"
		unexpected=$((unexpected + 1))
	fi
done

heading "Summary"
if ((unexpected == 0)); then
	echo "  $total logs judged; every verdict is the expected one."
	echo "  Only the reference host would receive a health token."
else
	echo "  $total logs judged; ${red}$unexpected verdict(s) differ from the expected ones${off}."
	exit 1
fi
