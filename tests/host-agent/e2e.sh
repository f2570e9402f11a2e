#!/usr/bin/env bash
# End to end, happy path: swtpm "booted" with a real firmware log (replay
# tool), hgsd on loopback, the host registered by its EK public key with
# its baseline, then `shieldvm host init` and `host attest` store a token
# that `host status` verifies against hgsd's JWK Set. Also: fail-over from
# a dead URL, and a refusal (another log) removes the token and is shown.
# Environment: HGSD, SHIELDVM, SHIELDVM_TESTDATA, REPLAY_LOG.
set -euo pipefail
here=$(realpath "$(dirname "$0")")
# shellcheck source=tests/lib/swtpm.sh
source "$here/../lib/swtpm.sh"
swtpm_lib_init
# shellcheck source=tests/hgsd-server/lib.sh
source "$here/../hgsd-server/lib.sh"
# Both fixtures must go even when the test failed: without errexit (whose
# first non-zero status would end the trap and leave hgsd holding the test's
# output open), swtpm first, then hgsd's cleanup, which exits with $rc.
trap 'rc=$?; set +e; swtpm_lib_cleanup; (exit $rc); cleanup' EXIT

: "${SHIELDVM:?}" "${REPLAY_LOG:?}"
sv=$(realpath "$SHIELDVM")
log=$SHIELDVM_TESTDATA/eventlogs/local__ovmf_sb_shim_grub.bin
other=$SHIELDVM_TESTDATA/eventlogs/local__ovmf_sb_directkernel.bin

run() {
	local want=$1 rc=0
	shift
	"$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[[ $rc == "$want" ]] || { cat "$TMP/out" "$TMP/err" >&2; fail "'$*' exited $rc, want $want"; }
}

swtpm_lib_provision "$SWTPM_DIR/state" sha1,sha256
swtpm_lib_start "$SWTPM_DIR/state"
export SHIELDVM_TCTI=$SWTPM_TCTI
"$REPLAY_LOG" --tcti "$SWTPM_TCTI" "$log" >/dev/null 2>"$TMP/replay.log" || { cat "$TMP/replay.log" >&2; fail "replay"; }

mkdir -p "$TMP/ek-ca"
cp "$SWTPM_DIR"/ca/cadir/*.pem "$TMP/ek-ca/"
start_hgsd node1

D=$SWTPM_DIR/agent
run 0 "$sv" host capture-baseline --state-dir "$D" --event-log "$log" --name e2e-host --json --quiet
ek_pub=$(jq -r .ek_pub "$TMP/out")
admin POST /v1/admin/hosts -H 'Content-Type: application/json' \
	-d "$(jq -n --arg n e2e-host --arg ek "$ek_pub" '{name: $n, ek_pub: $ek}')"
expect_status 201
admin POST /v1/admin/baselines -H 'Content-Type: application/json' \
	-d "$(jq -n --slurpfile b "$D/baseline.json" '{name: "e2e-host", baseline: $b[0]}')"
expect_status 201
admin POST /v1/admin/rules/iommu-enabled/disable
expect_status 200
ok "host registered by EK public key, baseline added, iommu-enabled disabled"

run 0 "$sv" host init --state-dir "$D" --hgs "$BASE_URL"
grep -q "enrolled as host 'e2e-host'" "$TMP/out" || fail "init: $(cat "$TMP/out")"
for f in ak.key transport.key ek.pub enrollment.json config; do
	[[ $(stat -c %a "$D/$f") == 600 ]] || fail "$f: mode $(stat -c %a "$D/$f")"
done
ok "host init enrolled the AK (ActivateCredential) and stored its state (0600)"

run 0 "$sv" host attest --state-dir "$D" --event-log "$log"
grep -q "token stored" "$TMP/out" || fail "attest: $(cat "$TMP/out")"
[[ $(stat -c %a "$D/token.jwt") == 600 ]] || fail "token mode"
admin POST /v1/admin/tokens/verify -H 'Content-Type: application/json' \
	-d "$(jq -n --rawfile t "$D/token.jwt" '{token: $t}')"
expect_status 200
jq_expect '.valid and .claims.host == "e2e-host" and .claims.mode == "tpm" and .claims.status == "affirming" and .claims.baseline == "e2e-host"'
ok "host attest (URL from config) stored a token hgsd verifies: affirming, tpm, baseline e2e-host"

run 0 "$sv" host status --state-dir "$D"
grep -q "signature and claims valid" "$TMP/out" || fail "status: $(cat "$TMP/out")"
grep -q "status affirming, mode tpm, host e2e-host" "$TMP/out" || fail "status: $(cat "$TMP/out")"
run 0 "$sv" host status --state-dir "$D" --json
jq -e '.healthy and .token.verified and .token.bound_to_transport_key and .last_attestation.result == "pass"' \
	"$TMP/out" >/dev/null || fail "status json: $(cat "$TMP/out")"
ok "host status verifies the token against GET /v1/keys; bound to the transport key"

port=$((20000 + RANDOM % 20000))
while ! swtpm_lib_port_free "$port"; do port=$((port + 1)); done
run 0 "$sv" host attest --state-dir "$D" --event-log "$log" --hgs "http://127.0.0.1:$port" --hgs "$BASE_URL"
ok "attest fails over from a dead URL to hgsd"

run 1 "$sv" host attest --state-dir "$D" --event-log "$other"
grep -q "attestation refused by $BASE_URL: HTTP 403" "$TMP/err" || fail "refusal: $(cat "$TMP/err")"
[[ ! -e $D/token.jwt ]] || fail "token kept after a refusal"
run 1 "$sv" host status --state-dir "$D"
grep -q "last attestation .*: fail" "$TMP/out" || fail "status after refusal: $(cat "$TMP/out")"
ok "a refused attestation (another log: $(jq -r .error "$D/status.json")) removes the token; status shows why"
