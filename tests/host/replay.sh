#!/usr/bin/env bash
# tools/shieldvm-tpm-replay-log boots a fresh swtpm with a real firmware log
# (local__ovmf_sb_shim_grub.bin, sha256 only; the TPM also allocates sha1,
# which stays unextended): the PCRs equal `shieldvm eventlog replay`, a quote
# verifies and evidence_check_log accepts that log and rejects another one.
# A log with StartupLocality 3 is refused before the TPM is touched.
#   replay.sh REPLAY_TOOL TEST_BINARY SHIELDVM TESTDATA
set -euo pipefail
# shellcheck source=tests/lib/swtpm.sh
source "$(dirname "$0")/../lib/swtpm.sh"

tool=$(realpath "$1") test_bin=$(realpath "$2") shieldvm=$(realpath "$3") data=$(realpath "$4")
log=$data/eventlogs/local__ovmf_sb_shim_grub.bin
other=$data/eventlogs/local__ovmf_sb_directkernel.bin
loc3=$data/eventlogs/goattest__short_no_action.bin

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

swtpm_lib_init
swtpm_lib_provision "$SWTPM_DIR/state" sha1,sha256
swtpm_lib_start "$SWTPM_DIR/state"
cd "$SWTPM_DIR"

# StartupLocality 3: refused (exit 1), nothing extended.
set +e
"$tool" --tcti "$SWTPM_TCTI" "$loc3" >out 2>err
rc=$?
set -e
[[ $rc == 1 ]] || { cat out err >&2; fail "locality-3 log: exit $rc, want 1"; }
grep -q "StartupLocality is 3" err || fail "message: $(cat err)"
tpm2_pcrread sha256:0 -o pcr0.bin >/dev/null 2>>"$SWTPM_LOG"
[[ $(od -An -v -tx1 pcr0.bin | tr -d ' \n') == "$(printf '0%.0s' {1..64})" ]] ||
	fail "PCR 0 changed by a refused log"
echo "ok: StartupLocality 3 log refused, PCR 0 untouched"

"$tool" --tcti "$SWTPM_TCTI" "$log" >out 2>err || { cat out err >&2; fail "replay"; }
grep -q "sha1 bank" err && fail "sha1 is not in this log: $(cat err)"
echo "ok: $(cat out)"

# Peer: the TPM's PCRs equal our offline replay of the log.
"$shieldvm" eventlog replay "$log" --json --bank sha256 >expected.json
for p in 0 1 2 3 4 5 6 7 8 9; do
	want=$(sed -n "s/.*\"$p\": \"\([0-9a-f]*\)\".*/\1/p" expected.json)
	tpm2_pcrread "sha256:$p" -o pcr.bin >/dev/null 2>>"$SWTPM_LOG"
	got=$(od -An -v -tx1 pcr.bin | tr -d ' \n')
	[[ $got == "$want" ]] || fail "PCR $p: TPM $got, log replay $want"
done
echo "ok: PCRs 0-9 equal the offline replay"

export SHIELDVM_TEST_TCTI=$SWTPM_TCTI
"$test_bin" "$log" "$other"
