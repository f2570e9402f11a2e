#!/usr/bin/env bash
# `shieldvm host` against swtpm, without hgsd: capture-baseline (baseline,
# EK public and certificate, suggested hgsctl lines), and the error paths
# of init, attest and status (no URL, hgsd unreachable, bad TPM, state
# directory and file modes, bad options), status of a stored token.
# Environment: SHIELDVM, SHIELDVM_TESTDATA (tests/host-agent/meson.build).
set -euo pipefail
# shellcheck source=tests/lib/swtpm.sh
source "$(dirname "$0")/../lib/swtpm.sh"

: "${SHIELDVM:?}" "${SHIELDVM_TESTDATA:?}"
sv=$(realpath "$SHIELDVM")
log=$SHIELDVM_TESTDATA/eventlogs/local__ovmf_sb_shim_grub.bin
corpus=$(realpath "$(dirname "$0")/../fuzz/corpus/token")

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() {
	echo "ok: $*"
}
mode_of() {
	stat -c %a "$1"
}
# run EXPECTED_EXIT CMD...: run, keep stdout/stderr in out/err.
run() {
	local want=$1 rc=0
	shift
	"$@" >out 2>err || rc=$?
	[[ $rc == "$want" ]] || { cat out err >&2; fail "'$*' exited $rc, want $want"; }
}

swtpm_lib_init
swtpm_lib_provision "$SWTPM_DIR/state" sha1,sha256
swtpm_lib_start "$SWTPM_DIR/state"
cd "$SWTPM_DIR"
export SHIELDVM_TCTI=$SWTPM_TCTI
D=$SWTPM_DIR/agent

# ---- capture-baseline ----
run 0 "$sv" host capture-baseline --state-dir "$D" --event-log "$log" --name test-host-1
[[ $(mode_of "$D") == 700 ]] || fail "state dir mode $(mode_of "$D")"
for f in baseline.json ek.pub ek.crt; do
	[[ -f $D/$f ]] || fail "$f not written"
	[[ $(mode_of "$D/$f") == 600 ]] || fail "$f mode $(mode_of "$D/$f")"
done
grep -q "hgsctl host add --name test-host-1 --ek-pub $D/ek.pub" out || fail "no host add line: $(cat out)"
grep -q "$D/baseline.json" out || fail "baseline path not printed"
"$sv" baseline show "$D/baseline.json" >show || fail "baseline does not load"
grep -q "baseline test-host-1 (bank sha256" show || fail "baseline: $(head -1 show)"
ok "capture-baseline writes baseline.json, ek.pub, ek.crt (0600) and the hgsctl lines"

run 0 "$sv" host capture-baseline --state-dir "$D" --event-log "$log" --name test-host-1 --json --quiet
jq -e '.name == "test-host-1" and .bank == "sha256" and (.commands | length) == 3' out >/dev/null ||
	fail "json: $(cat out)"
name=$("$sv" tpm2-name "$D/ek.pub")
[[ $(jq -r .ek_name out) == "$name" ]] || fail "ek_name $(jq -r .ek_name out) != tpm2-name $name"
jq -r .ek_pub out | tr -- '-_' '+/' | awk '{ n = length($0) % 4; if (n) $0 = $0 substr("==", 1, 4 - n); print }' |
	base64 -d >ek.pub.dec
cmp -s ek.pub.dec "$D/ek.pub" || fail "ek_pub (base64url) is not ek.pub"
# the certificate is the swtpm CA's and certifies exactly this EK
"$sv" ekcert verify --cert "$D/ek.crt" --ca-dir "$SWTPM_DIR/ca/cadir" --ek-pub "$D/ek.pub" >/dev/null ||
	fail "ek.crt does not verify against ek.pub"
ok "capture-baseline --json: EK name and public match, EK certificate verifies"

run 0 "$sv" host capture-baseline --state-dir "$D" --event-log "$log" --name p384 --ek ecc-p384 -o "$SWTPM_DIR/b384.json" --quiet
[[ -f $SWTPM_DIR/b384.json ]] || fail "-o not honoured"
"$sv" ekcert verify --cert "$D/ek.crt" --ca-dir "$SWTPM_DIR/ca/cadir" --ek-pub "$D/ek.pub" >/dev/null ||
	fail "P-384 ek.crt does not verify against ek.pub"
run 0 "$sv" host capture-baseline --state-dir "$D" --event-log "$log" --name p256 --ek ecc --quiet
[[ -e $D/ek.crt ]] && fail "P-256 EK has no certificate, but a stale ek.crt remains"
grep -q "ek-cert" out && fail "P-256 EK has no certificate, but one is suggested"
ok "capture-baseline --ek ecc-p384 -o F, --ek ecc (no certificate)"

run 3 "$sv" host capture-baseline --state-dir "$D" --event-log /nonexistent/log
grep -q "/nonexistent/log" err || fail "missing log: $(cat err)"
run 3 "$sv" host capture-baseline --state-dir "$D" --event-log "$log" --name ".bad"
grep -q "name '.bad'" err || fail "bad name: $(cat err)"
ok "capture-baseline errors name the log and the name"

# ---- init error paths ----
I=$SWTPM_DIR/init
run 3 "$sv" host init --state-dir "$I"
grep -q "no hgsd URL" err || fail "no URL: $(cat err)"

port=$((20000 + RANDOM % 20000))
while ! swtpm_lib_port_free "$port"; do port=$((port + 1)); done
run 4 "$sv" host init --state-dir "$I" --hgs "http://127.0.0.1:$port" --hgs "http://127.0.0.1:$port/second"
grep -q "failed on every hgsd URL" err || fail "unreachable: $(cat err)"
grep -q "http://127.0.0.1:$port/second" err || fail "second URL not named: $(cat err)"
[[ ! -e $I/ak.key && ! -e $I/enrollment.json && ! -e $I/config ]] || fail "state written after a failed enrollment"
ok "init: no URL (3), hgsd unreachable (4, both URLs named, nothing stored)"

run 3 "$sv" host init --state-dir "$I" --hgs "ftp://127.0.0.1/"
grep -q "must start with https:// or http://" err || fail "ftp URL: $(cat err)"
run 3 "$sv" host init --state-dir "$I" --hgs "http://127.0.0.1:$port" --tcti "swtpm:host=127.0.0.1,port=$port"
grep -q "TPM (swtpm:host=127.0.0.1,port=$port)" err || fail "bad TPM: $(cat err)"
run 2 "$sv" host init --state-dir "$I" --ek dsa
run 2 "$sv" host init --state-dir "$I" --event-log "$log"
run 2 "$sv" host frobnicate
run 0 "$sv" host --help
ok "init: bad URL, unreachable TPM named, bad options (2)"

mkdir -m 0755 "$SWTPM_DIR/open"
run 3 "$sv" host init --state-dir "$SWTPM_DIR/open" --hgs "http://127.0.0.1:$port"
grep -q "chmod 700" err || fail "open state dir: $(cat err)"
run 3 "$sv" host status --state-dir "$SWTPM_DIR/missing"
grep -q "does not exist" err || fail "missing state dir: $(cat err)"
ok "state directory: 0755 refused, missing one reported"

# ---- attest / status without enrollment ----
run 3 "$sv" host attest --state-dir "$D" --hgs "http://127.0.0.1:$port" --event-log "$log"
grep -q "not enrolled" err || fail "attest without init: $(cat err)"
run 1 "$sv" host status --state-dir "$D" --offline
grep -q "enrolled        no" out || fail "status: $(cat out)"
grep -q "token           none" out || fail "status: $(cat out)"
grep -q "last attestation .*: error" out || fail "status does not show the failed attempt: $(cat out)"
ok "attest without enrollment refused; status says so (exit 1)"

# a stored token (expired, from the token corpus), decoded without verifying
install -m 0600 "$corpus/valid-affirming-ec.jwt" "$D/token.jwt"
run 1 "$sv" host status --state-dir "$D" --offline
grep -q "token           EXPIRED, expires 2023-11-15" out || fail "token: $(cat out)"
grep -q "status affirming, mode tpm, host host-1, baseline ovmf-sb, policy default" out || fail "claims: $(cat out)"
grep -q "not verified: claims decoded without checking the signature" out || fail "verification: $(cat out)"
run 1 "$sv" host status --state-dir "$D" --offline --json
jq -e '.token.present and .token.expired and (.token.verified | not) and (.healthy | not)' out >/dev/null ||
	fail "status json: $(cat out)"
ok "status shows an expired token's claims, unverified"

chmod 0644 "$D/token.jwt"
run 1 "$sv" host status --state-dir "$D" --offline
grep -q "refusing .*token.jwt: mode 0644" out || fail "0644 token accepted: $(cat out)"
ok "a 0644 token file is refused"
echo "garbage" >"$D/config"
chmod 0600 "$D/config"
run 3 "$sv" host status --state-dir "$D"
grep -q "config:1" err || fail "bad config: $(cat err)"
printf 'hgs_urls = http://127.0.0.1:%s\n' "$port" >"$D/config"
chmod 0666 "$D/config"
run 3 "$sv" host status --state-dir "$D"
grep -q "refusing .*config: mode 0666" err || fail "writable config: $(cat err)"
chmod 0644 "$D/config"
chmod 0600 "$D/token.jwt"
run 1 "$sv" host status --state-dir "$D"
grep -q "GET /v1/keys" out || fail "status with config URL: $(cat out)"
ok "config: syntax error and group/world-writable refused; hgs_urls used"
