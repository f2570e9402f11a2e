#!/usr/bin/env bash
# `make demo`: the whole shielded-VM story on one machine, narrated.
#
#   1. a Host Guardian Service (hgsd, SQLite store, loopback, temp dir)
#   2. a simulated guarded host: swtpm "booted" by replaying a real TCG event
#      log (QEMU/OVMF Secure Boot -> Debian's signed shim -> grub -> kernel)
#   3. the fabric admin registers the host and adds the baseline
#   4. the host attests and gets a health token (its claims shown)
#   5. the VM owner: a guardian, and a key protector (KP) bound to the VM's
#      security profile
#   6. `shieldvm vm new` with the test guest (built from Debian packages,
#      cached under the build directory) and `shieldvm run`: the shielded VM
#      boots under OVMF Secure Boot with its vTPM, reports, powers off
#   7. what it reported, and that its disks, vTPM state and VARS hold no
#      plaintext of what the guest wrote
#   8. the VM directory copied to a second, unregistered host: it does not
#      start, and the reason is shown
#
# It exits non-zero if a step does not turn out as narrated. Everything runs
# in a temporary directory that is removed at the end (DEMO_KEEP=1 keeps
# it); the guest image is cached in $BUILD_DIR/demo-guest.
#
# Environment: BUILD_DIR (default build), TESTDATA (default
# ../shared/testdata, relative to the repository root), DEMO_BOOT_TIMEOUT
# (seconds, default 400: a TCG boot takes 15-70 s depending on load).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)

build=${BUILD_DIR:-build}
[[ $build == /* ]] || build=$repo/$build
shieldvm=$build/src/shieldvm/shieldvm
hgsd=$build/src/hgsd/hgsd
hgsctl_bin=$build/src/hgsctl/hgsctl
replay=$build/tools/shieldvm-tpm-replay-log
testdata=${TESTDATA:-../shared/testdata}
[[ $testdata == /* ]] || testdata=$repo/$testdata
log=$testdata/eventlogs/local__ovmf_sb_shim_grub.bin
guest_cache=$build/demo-guest
boot_timeout=${DEMO_BOOT_TIMEOUT:-400}

if [[ -t 1 ]]; then
	bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' off=$'\e[0m'
else
	bold='' green='' red='' dim='' off=''
fi

step=0
heading() {
	step=$((step + 1))
	echo
	echo "${bold}== $step. $* ==${off}"
}
say() { echo "  $*"; }
good() { echo "  ${green}$*${off}"; }
indent() { sed 's/^/      /'; }
die() {
	echo "${red}demo: $*${off}" >&2
	exit 1
}

# show CMD ARGS...: print the command as a reader would type it (paths
# shortened), run it, indent its output; its status in RC.
show() {
	local shown="$*"
	shown=${shown//$W\//}
	shown=${shown//$build\//}
	shown=${shown//$testdata\//testdata/}
	echo "${dim}    \$ ${shown}${off}"
	RC=0
	"$@" >"$W/out" 2>&1 || RC=$?
	if ((${#SHOW_LINES} > 0)) && (($(wc -l <"$W/out") > SHOW_LINES)); then
		head -n "$SHOW_LINES" "$W/out" | indent
		echo "      ${dim}...${off}"
	else
		indent <"$W/out"
	fi
}
SHOW_LINES=
must() {
	show "$@"
	((RC == 0)) || die "'$1 $2' failed (exit $RC)"
}

# the commands, by the names a user types
shieldvm() { "$shieldvm" "$@"; }
hgsctl() { "$hgsctl_bin" --socket "$W/hgsd-run/admin.sock" "$@"; }

for b in "$shieldvm" "$hgsd" "$hgsctl_bin" "$replay"; do
	[[ -x $b ]] || die "$b not built (run 'make demo')"
done
[[ -f $log ]] || die "$log not found: the shared test data must sit beside the repository (../shared)"
for t in swtpm swtpm_setup swtpm_localca tpm2_getrandom qemu-system-x86_64 qemu-img curl jq python3; do
	command -v "$t" >/dev/null || die "$t is not installed (scripts/install-deps.sh)"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/shieldvm-demo.XXXXXX")
chmod 0755 "$W"
# the VM's runtime directory (plaintext VARS while it runs) on tmpfs, as
# /run/shieldvm is in production
if [[ -d /dev/shm && -w /dev/shm ]]; then
	SHIELDVM_RUNTIME_DIR=$(mktemp -d /dev/shm/shieldvm-demo.XXXXXX)
else
	SHIELDVM_RUNTIME_DIR=$W/run
fi
export SHIELDVM_RUNTIME_DIR
HGSD_PID=
SWTPM_PIDS=()
TCTI_host1='' TCTI_host2='' # set by tpm_host
cleanup() {
	local rc=$? p
	set +e
	if [[ -f $W/vm/vm.json ]]; then
		"$shieldvm" poweroff "$W/vm" >/dev/null 2>&1
		for _ in $(seq 1 50); do
			[[ -n $(ls -A "$SHIELDVM_RUNTIME_DIR" 2>/dev/null) ]] || break
			sleep 0.1
		done
	fi
	for p in "${SWTPM_PIDS[@]}" $HGSD_PID; do
		kill "$p" 2>/dev/null
	done
	for p in "${SWTPM_PIDS[@]}" $HGSD_PID; do
		wait "$p" 2>/dev/null
	done
	if [[ $rc != 0 ]]; then
		for f in "$W/hgsd/hgsd.log" "$W/vm/supervisor.log"; do
			[[ -s $f ]] || continue
			echo "--- last lines of $f:" >&2
			tail -n 15 "$f" >&2
		done
	fi
	[[ $SHIELDVM_RUNTIME_DIR == /dev/shm/shieldvm-demo.* ]] && rm -rf "$SHIELDVM_RUNTIME_DIR"
	if [[ ${DEMO_KEEP:-0} == 1 ]]; then
		echo "demo: kept $W"
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the swtpm helpers the tests use (provisioning with a local EK CA, start)
# shellcheck source=tests/lib/swtpm.sh
. "$repo/tests/lib/swtpm.sh"

# tpm_host NAME: a swtpm with EK certificates from its own CA, "booted" by
# replaying the real event log; sets TCTI_NAME.
tpm_host() {
	local name=$1
	SWTPM_DIR=$W/tpm-$name
	SWTPM_LOG=$SWTPM_DIR/swtpm.log
	mkdir -p "$SWTPM_DIR"
	: >"$SWTPM_LOG"
	swtpm_lib_provision "$SWTPM_DIR/state" sha1,sha256 || die "swtpm_setup for $name (see $SWTPM_LOG)"
	swtpm_lib_start "$SWTPM_DIR/state" || die "swtpm for $name did not start"
	SWTPM_PIDS+=("$SWTPM_PID")
	SWTPM_PID=
	printf -v "TCTI_$name" '%s' "$SWTPM_TCTI"
	"$replay" --tcti "$SWTPM_TCTI" "$log" >"$W/replay-$name.out" 2>&1 ||
		die "replaying the event log into $name: $(cat "$W/replay-$name.out")"
	SWTPM_DIR=
}

cat <<INTRO
${bold}shieldvm demo: a shielded VM runs only on a host the guardian has attested${off}

A fabric admin can start, stop and move a shielded VM, but cannot read it:
its vTPM state, firmware variables (VARS) and disks are encrypted under
keys that the Host Guardian Service releases only into the TPM of a host
that proved it booted healthy software. Everything below runs on this
machine: the guardian service, two simulated hosts (software TPMs), and a
real Debian guest booted by QEMU under OVMF Secure Boot.
INTRO

# ---------------------------------------------------------------------------
heading "The Host Guardian Service"
say "hgsd: attestation and key release over HTTP (loopback here, TLS in"
say "production), admin over a local socket, state in SQLite, its keys"
say "sealed in the store under a key-encryption key kept apart from it."
mkdir -p "$W/hgsd/state"
(umask 077 && openssl rand -hex 32 >"$W/hgsd/kek")
user_line=
if [[ $(id -u) == 0 ]]; then
	user_line="user = nobody" # hgsd refuses to run as root
	chown nobody: "$W/hgsd/state"
fi
cat >"$W/hgsd/hgsd.conf" <<EOC
[server]
listen = 127.0.0.1:0
node = demo
threads = 2
$user_line
[store]
uri = sqlite:$W/hgsd/state/hgsd.db
[keys]
kek_file = $W/hgsd/kek
[attestation]
modes = tpm
ek_ca_dir = $W/ek-ca
[admin]
socket = $W/hgsd-run/admin.sock
group = root
[log]
level = info
EOC
mkdir -p "$W/ek-ca"
"$hgsd" --foreground --config "$W/hgsd/hgsd.conf" 2>"$W/hgsd/hgsd.log" &
HGSD_PID=$!
for ((i = 0; i < 100; i++)); do
	grep -q '"event":"ready"' "$W/hgsd/hgsd.log" 2>/dev/null && break
	kill -0 "$HGSD_PID" 2>/dev/null || die "hgsd exited: $(tail -n 3 "$W/hgsd/hgsd.log")"
	sleep 0.1
done
port=$(jq -r 'select(.event == "listening") | .port' "$W/hgsd/hgsd.log" 2>/dev/null | head -n 1)
[[ $port =~ ^[0-9]+$ ]] || die "hgsd did not start"
URL=http://127.0.0.1:$port
good "hgsd is serving on $URL (pid $HGSD_PID)"

# ---------------------------------------------------------------------------
heading "A guarded host"
say "A software TPM (swtpm) stands in for the host's TPM; its EK certificate"
say "comes from a local CA playing the TPM vendor. The host's \"boot\" is the"
say "real event log of a QEMU/OVMF machine with Secure Boot booting Debian 12's"
say "signed shim -> grub -> kernel, replayed into the TPM's PCRs."
tpm_host host1
good "host1's TPM: $TCTI_host1, PCRs extended with $(basename "$log")"
say "The host's agent reads its EK, for the fabric admin to register:"
SHOW_LINES=3 must shieldvm host capture-baseline --tcti "$TCTI_host1" --state-dir "$W/host1" \
	--event-log "$log" --name host1 --quiet -o "$W/host1-baseline.json"

# ---------------------------------------------------------------------------
heading "The fabric admin registers the host and approves its boot"
say "Only registered TPMs may attest; a host passes only if its boot matches"
say "an approved baseline and the rules hold (Secure Boot on, no debugger...)."
must hgsctl host add --name host1 --ek-pub "$W/host1/ek.pub"
must hgsctl baseline add --name debian12-ovmf-sb --from-log "$log"
say "The reference machine ran without a virtual IOMMU; a production fabric"
say "keeps this rule on:"
must hgsctl rule disable iommu-enabled
say "A host whose log differs (another kernel, Secure Boot off, a kernel"
say "passed with QEMU -kernel) would get no token and so no key; the"
say "e2e-attest suite shows each of those refusals."

# ---------------------------------------------------------------------------
heading "The host attests"
say "It enrolls an attestation key (AK) and a transport key in its TPM, then"
say "sends a TPM quote of its PCRs with the event log; hgsd judges it and"
say "answers with a signed health token bound to the host's transport key."
must shieldvm host init --tcti "$TCTI_host1" --state-dir "$W/host1" --hgs "$URL" \
	--transport-key ecc --quiet
must shieldvm host attest --tcti "$TCTI_host1" --state-dir "$W/host1" --event-log "$log" --quiet
[[ -s $W/host1/token.jwt ]] || die "no token after attest"
say "The token's claims (an EAR, signed by hgsd; cnf: the host's transport key):"
cut -d. -f2 "$W/host1/token.jwt" | tr '_-' '/+' | { b=$(cat); while ((${#b} % 4)); do b+="="; done; echo "$b"; } |
	base64 -d 2>/dev/null | jq '{iat: (.iat | todate), exp: (.exp | todate)} + .submods["shieldvm-host"]
		+ {"cnf.jwk.kid": .cnf.jwk.kid}' | indent
must hgsctl token verify "$W/host1/token.jwt"

# ---------------------------------------------------------------------------
heading "The VM owner: a guardian and a key protector"
say "The owner's guardian holds the owner's keys (offline recovery). The KP"
say "wraps the VM's transport key for the owner and for hgsd's guardian"
say "(published at $URL/v1/guardian), and binds the VM's security profile:"
say "firmware, Secure Boot, vTPM, lockdown, device set. Changing any of these"
say "needs a new KP from the owner."
must shieldvm guardian new owner --out "$W/owner.guardian"
curl -sf "$URL/v1/guardian" -o "$W/hgs.json" || die "GET /v1/guardian"
"$repo/tests/e2e-vm/guest/build-guest.sh" "$guest_cache" >"$W/guest-build.out" 2>&1 ||
	die "building the test guest: $(tail -n 5 "$W/guest-build.out")"
guest=$guest_cache/guest.img
say "The guest: $(basename "$guest") ($(du -h "$guest" | cut -f1)), a GPT disk with Debian's signed shim,"
say "grub and kernel and a small initramfs that checks its TPM and Secure Boot,"
say "writes a report and a marker to a data disk, and powers off"
say "(tests/e2e-vm/guest/, built from Debian packages, cached in $(basename "$guest_cache")/)."
VM_ID=$(cat /proc/sys/kernel/random/uuid)
disks=(--disk "root:import=$guest" --disk report:1:raw --disk data:16)
shieldvm vm profile --policy shielded "${disks[@]}" >"$W/profile.json" 2>"$W/out" ||
	die "vm profile: $(cat "$W/out")"
echo "${dim}    \$ shieldvm vm profile --policy shielded ${disks[*]//$build\//} > profile.json${off}"
jq -c . "$W/profile.json" | cut -c1-150 | sed 's/$/ .../' | indent
must shieldvm kp new --owner "$W/owner.guardian" --guardian "$W/hgs.json" --policy shielded \
	--vm-id "$VM_ID" --vm-config "$W/profile.json" --out "$W/demo.kp"
must shieldvm kp show "$W/demo.kp"

# ---------------------------------------------------------------------------
heading "The shielded VM is created and started on host1"
say "vm new writes the definition and the KP. No key exists on the host yet:"
say "the first start, on an attested host, creates the encrypted VARS, vTPM"
say "state and disks (the guest image is imported into a LUKS qcow2)."
must shieldvm vm new demo-vm --kp "$W/demo.kp" --memory 512 "${disks[@]}" --dir "$W/vm"
say "run: a valid token -> hgsd releases the transport key into host1's TPM"
say "(and rolls the KP to its next generation) -> per-purpose keys -> VARS"
say "decrypted into a private tmpfs -> swtpm (state key by fd) -> QEMU locked"
say "down (Secure Boot firmware, no console, no monitor, disk keys by fd)."
must shieldvm run "$W/vm" --tcti "$TCTI_host1" --state-dir "$W/host1" --event-log "$log" --quiet
grep 'start timings' "$W/vm/supervisor.log" | sed 's/.*\]: //' | indent
say "(the supervisor's start timings; this first start's total includes"
say "importing the guest image into an encrypted qcow2: later starts add some"
say "40-60 ms before QEMU, see docs/vm.md, \"Start time\")"
say "The supervisor alone holds QEMU's control channel; admins get status,"
say "stop, poweroff, reset, nothing that reads guest memory:"
must shieldvm status "$W/vm"
say "Waiting for the guest to boot through shim, grub and the kernel (TCG,"
say "no KVM: 15-70 s) and power itself off..."
t0=$SECONDS
while [[ -n $(ls -A "$SHIELDVM_RUNTIME_DIR" 2>/dev/null) ]]; do
	((SECONDS - t0 < boot_timeout)) || die "the VM did not stop within $boot_timeout s"
	sleep 1
done
grep -q "stopped cleanly" "$W/vm/supervisor.log" || die "the VM did not stop cleanly"
good "The VM ran $((SECONDS - t0)) s and stopped; the supervisor says:"
grep -E 'QEMU exited|stopped cleanly' "$W/vm/supervisor.log" | sed 's/.*\]: //' | indent

# ---------------------------------------------------------------------------
heading "What the guest saw"
report=$W/vm/disks/report.raw
report_get() {
	head -c 4096 "$report" | tr -d '\000' | awk -v k="$1" 'index($0, k "=") == 1 && !done {
		print substr($0, length(k) + 2); done = 1 }'
}
[[ $(report_get end) == 1 ]] || die "the guest wrote no report"
say "Its report (a raw disk kept unencrypted for this demo only):"
for k in kernel secureboot lockdown tpm tpm_version_major tpm_driver eventlog nv_state nv_index data_disk data_marker; do
	printf '      %-18s %s\n' "$k" "$(report_get "$k")"
done
[[ $(report_get secureboot) == 1 && $(report_get tpm) == present && $(report_get eventlog) == present ]] ||
	die "the guest did not see Secure Boot on, a TPM and an event log"
dd if="$report" of="$W/guest-evlog.bin" bs=64K iflag=skip_bytes,count_bytes \
	skip="$(report_get eventlog_offset)" count="$(report_get eventlog_bytes)" status=none
say "The event log its vTPM recorded, the boot chain it shows (PCR 4: what"
say "the firmware ran; PCR 7: Secure Boot state):"
shieldvm eventlog show --json "$W/guest-evlog.bin" >"$W/guest-evlog.json" || die "eventlog show"
jq -r '.[] | select((.pcr == 4 and .type == "EV_EFI_BOOT_SERVICES_APPLICATION")
	or (.pcr == 7 and (.description | test("SecureBoot")))) |
	"PCR \(.pcr)  \(.description | sub("^.*\\)/"; "") | sub(" \\[[-0-9a-f]+\\]$"; ""))"' \
	"$W/guest-evlog.json" | cut -c1-110 | indent
say "(shim, then grub, then the kernel: measured by shim and by grub)"
good "Secure Boot on, a TPM 2.0 (tpm_crb) with its event log, booted from its own disk."

# ---------------------------------------------------------------------------
heading "Nothing readable on the host's disk"
marker=$(report_get data_marker)
nv=$(report_get nv_value)
say "The guest wrote \"SHIELDVM-DATA $marker\" all over its data disk and"
say "the secret $nv into an NV index of its vTPM. On the host:"
qemu-img convert -O qcow2 "$guest" "$W/control.qcow2" || die "qemu-img convert (control)"
python3 - "$marker" "$nv" "$guest" "$W/vm" "$W/control.qcow2" <<'PY' | indent || die "plaintext found on the host"
import os, sys
marker, nv, guest, vm, control = sys.argv[1:6]
needles = {
    "the data marker": ("SHIELDVM-DATA " + marker).encode(),
    "the vTPM NV secret": bytes.fromhex(nv),
    "the guest disk's GPT header": open(guest, "rb").read()[512:512 + 92],
}
bad = 0
files = []
for root, _, names in os.walk(vm):
    for n in sorted(names):
        p = os.path.join(root, n)
        if os.path.isfile(p) and not p.endswith("report.raw") and not n.endswith(".log"):
            files.append(p)
for p in files:
    data = open(p, "rb").read()
    found = [k for k, v in needles.items() if v in data]
    rel = os.path.relpath(p, vm)
    print(f"{rel:28} {len(data):>10} bytes  " + ("CONTAINS " + ", ".join(found) if found else "none of them"))
    bad += bool(found)
# control: an unencrypted qcow2 of the same image holds the header, so the
# search would have caught a plaintext import
if needles["the guest disk's GPT header"] not in open(control, "rb").read():
    print("control failed: no header found in a plain qcow2 of the guest image")
    bad += 1
else:
    print(f"{'(control: plain qcow2 of it)':28} {os.path.getsize(control):>10} bytes  CONTAINS the guest disk's GPT header")
sys.exit(1 if bad else 0)
PY
say "(disks/report.raw, this demo's plaintext window, and the logs left out)"
for d in root data; do
	fmt=$(qemu-img info --output=json "$W/vm/disks/$d.qcow2" 2>/dev/null |
		jq -r '"\(.format), encryption \(."format-specific".data.encrypt.format // "NONE")"')
	printf '      disks/%-22s %s\n' "$d.qcow2:" "$fmt"
done
good "Disks, vTPM state and VARS hold no plaintext of what the guest wrote."

# ---------------------------------------------------------------------------
heading "The same VM on another host"
say "A host admin copies the whole VM directory to host2: a healthy machine"
say "(same boot log) that the fabric admin never registered."
tpm_host host2
cp -a "$W/vm" "$W/vm-copy"
say "host2's agent tries to enroll with hgsd:"
show shieldvm host init --tcti "$TCTI_host2" --state-dir "$W/host2" --hgs "$URL" --transport-key ecc --quiet
((RC != 0)) || die "an unregistered host was enrolled"
# copy_refused STATE_DIR WHAT: the copied VM does not start on host2 with
# the agent state STATE_DIR, and leaves no runtime directory.
copy_refused() {
	show shieldvm run "$W/vm-copy" --tcti "$TCTI_host2" --state-dir "$1" --event-log "$log" --quiet
	((RC != 0)) || die "the copied VM started $2"
	[[ ! -e $SHIELDVM_RUNTIME_DIR/$VM_ID ]] || die "a runtime directory exists for the copy"
}
say "and to start the copied VM:"
copy_refused "$W/host2" "on an unregistered host"
say "Even with host1's agent state copied as well (its health token and its"
say "transport key's TPM blob): hgsd honours the token, which names host1, but"
say "seals the VM's key to host1's transport key, and that key loads only into"
say "host1's TPM."
cp -a "$W/host1" "$W/host2-stolen"
copy_refused "$W/host2-stolen" "with a copied agent state"
good "Refused both ways: host2 cannot get a token of its own, and what hgsd"
good "releases for host1 opens only in host1's TPM. Nothing was committed; the"
good "copy's vTPM, VARS and disks stay ciphertext."
say "hgsd's audit trail (newest first):"
hgsctl audit list --limit 5 2>&1 | cut -c1-120 | indent
say "Each audit record's hash covers the one before; hgsd logs the head, so a"
say "record changed or removed later shows:"
hgsctl audit verify 2>&1 | indent || die "the audit chain does not verify"

echo
echo "${bold}Done.${off} One attested host ran the shielded VM with Secure Boot and a vTPM;"
echo "what it left on disk is ciphertext; a copy on an unregistered host did not start."
