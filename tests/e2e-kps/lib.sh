# shellcheck shell=bash
# Harness of the e2e-kps suite: the e2e-attest fixture (swtpm "booted" by
# replaying a real firmware log, hgsd on loopback with a temporary SQLite
# store) with the real guarded-host agent (`shieldvm host`) as the host and
# the owner CLI (`shieldvm guardian`, `shieldvm kp`).
#
# Environment (tests/e2e-kps/meson.build): HGSD, HGSCTL, SHIELDVM,
# E2E_CLIENT, REPLAY_LOG, KPS_TOOL (tests/hgsd-server/kps-tool: tokens
# signed with a given key, KP digests), E2E_KPS_TOOL (this
# directory's kps_tool: sealed answers opened in a TPM),
# SHIELDVM_TESTDATA.
#
# Each script defines case_NAME functions and ends with `run_case "$@"`.
# shellcheck source=tests/e2e-attest/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e-attest/lib.sh"

: "${KPS_TOOL:?KPS_TOOL must point at tests/hgsd-server/kps-tool}"
: "${E2E_KPS_TOOL:?E2E_KPS_TOOL must point at tests/e2e-kps/kps_tool}"
: "${HGSCTL:?HGSCTL must point at hgsctl}"

mkdir -p "$TMP/ek-ca"
VM_ID=0b7c7e52-3c4f-4d2e-9a61-5f0e8d3c2b1a

# ---- owner side: the owner CLI (shieldvm guardian, shieldvm kp) ---------------

# owner_new NAME FILE: an owner guardian (private file, 0600).
owner_new() {
	"$SHIELDVM" guardian new "$1" --out "$2" >/dev/null 2>"$W/owner.err" ||
		{ cat "$W/owner.err" >&2; fail "shieldvm guardian new $1"; }
}

# guardian_meta PRIVATE OUT: its signed public metadata.
guardian_meta() {
	"$SHIELDVM" guardian export "$1" --out "$2" || fail "shieldvm guardian export $1"
}

# kp_new OWNER POLICY OUT META...: a generation-0 KP for VM_ID (OUT is
# replaced).
kp_new() {
	local owner=$1 policy=$2 out=$3 m args=()
	shift 3
	for m in "$@"; do args+=(--guardian "$m"); done
	rm -f "$out"
	"$SHIELDVM" kp new --owner "$owner" "${args[@]}" --policy "$policy" --vm-id "$VM_ID" \
		--out "$out" 2>"$W/kp.err" || { cat "$W/kp.err" >&2; fail "shieldvm kp new"; }
	chmod 600 "$out"
}

# owner_tk OWNER KP: the TK (hex) as the owner unwraps it offline
# (`shieldvm kp unwrap --owner`).
owner_tk() {
	"$SHIELDVM" kp unwrap "$2" --owner "$1"
}

# ---- the host: swtpm + the shieldvm host agent -----------------------------------

# sv HOST VERB ARGS...: `shieldvm host VERB` as HOST (its TPM, state dir
# $W/agent-HOST, current hgsd). Output in $W/sv.out / $W/sv.err, exit
# status in SV_RC (never fails by itself).
sv() {
	local host=$1 verb=$2 v=TCTI_${1//-/_}
	shift 2
	SV_RC=0
	"$SHIELDVM" host "$verb" --tcti "${!v}" --state-dir "$W/agent-$host" "$@" \
		>"$W/sv.out" 2>"$W/sv.err" || SV_RC=$?
}

# sv_ok HOST VERB ARGS...: the same, which must succeed.
sv_ok() {
	sv "$@"
	[[ $SV_RC == 0 ]] || { cat "$W/sv.out" "$W/sv.err" >&2; fail "shieldvm host $2 exited $SV_RC"; }
}

# agent_host NAME [TK_TYPE]: a swtpm NAME booted with the shim log, its EK
# registered with the current hgsd (by EK public key), then `host init`
# (transport key TK_TYPE, default ecc) and `host attest`.
agent_host() {
	local name=$1 tk=${2:-ecc} d=$W/agent-$1
	tpm_up "$name" sha1,sha256 "$SHIM_LOG"
	sv_ok "$name" capture-baseline --event-log "$SHIM_LOG" --name "$name" --json --quiet
	admin POST /v1/admin/hosts -d "{\"name\": \"$name\", \"ek_pub\": \"$(b64url "$d/ek.pub")\"}"
	expect_status 201
	sv_ok "$name" init --hgs "$BASE_URL" --transport-key "$tk" --json --quiet
	sv_ok "$name" attest --event-log "$SHIM_LOG" --json --quiet
}

# kps_fixture [TK_TYPE]: hgsd hgs1 (baseline "shim", iommu-enabled off),
# host "host" attested, hgsd's guardian metadata $W/hgs1.json, owner
# $W/owner.json, a shielded KP in the VM key directory $W/vm/kp.
kps_fixture() {
	hgsd_up hgs1
	add_baseline shim "$SHIM_LOG"
	admin POST /v1/admin/rules/iommu-enabled/disable
	expect_status 200
	agent_host host "${1:-ecc}"
	http GET /v1/guardian
	expect_status 200
	cp "$TMP/body" "$W/hgs1.json"
	owner_new owner "$W/owner.json"
	mkdir -m 0700 "$W/vm"
	kp_new "$W/owner.json" shielded "$W/vm/kp" "$W/hgs1.json"
}

# start [HOST] [DIR]: `shieldvm host unwrap DIR --json` (a VM start), which
# must succeed; the result in $W/start.json.
start() {
	local host=${1:-host} dir=${2:-$W/vm}
	sv_ok "$host" unwrap "$dir" --event-log "$SHIM_LOG" --json --quiet
	cp "$W/sv.out" "$W/start.json"
}

# start_expect FILTER: the last start's result satisfies the jq filter.
start_expect() {
	jq -e "$1" "$W/start.json" >/dev/null || { cat "$W/start.json" >&2; fail "start result does not satisfy: $1"; }
}

# refused_expect STATUS ERROR: the last sv exited 1 with hgsd's refusal.
refused_expect() {
	[[ $SV_RC == 1 ]] || { cat "$W/sv.out" "$W/sv.err" >&2; fail "expected exit 1 (refused), got $SV_RC"; }
	jq -e --argjson s "$1" --arg e "$2" '.http_status == $s and .error == $e' "$W/sv.out" >/dev/null ||
		{ cat "$W/sv.out" "$W/sv.err" >&2; fail "expected HTTP $1 $2"; }
}

# unwrap_raw KP TOKEN_FILE: POST /v1/unwrap with curl (no client checks).
unwrap_raw() {
	jq -n --rawfile t "$2" --slurpfile k "$1" '{token: ($t | rtrimstr("\n")), kp: $k[0]}' >"$W/req.json"
	http POST /v1/unwrap --data-binary @"$W/req.json"
}

# dir_state DIR: "kp kp.next secrets" as present.
dir_state() {
	(cd "$1" && ls -1 | sort | tr '\n' ' ' | sed 's/ $//')
}

# host_key_token HOST TK_JWK_FILE OUT: a host-key mode host HOST registered
# on the current hgsd (key $W/HOST.key) attests with the transport key JWK.
host_key_token() {
	local host=$1 jwk=$2 out=$3 nonce b64
	if [[ ! -e $W/$host.key ]]; then
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$host.key" 2>/dev/null
		openssl pkey -in "$W/$host.key" -pubout -out "$W/$host.pub"
		admin POST /v1/admin/hosts -d "{\"name\": \"$host\", \"host_key_pem\": $(jq -Rs . "$W/$host.pub")}"
		expect_status 201
	fi
	http POST /v1/attest/nonce -d '{}'
	expect_status 200
	nonce=$(jq -r .nonce "$TMP/body")
	b64=$(printf '%s' "$nonce" | tr '_-' '/+')
	while ((${#b64} % 4)); do b64+="="; done
	printf '%s' "$b64" | base64 -d >"$W/nonce.bin"
	openssl dgst -sha256 -sign "$W/$host.key" -out "$W/nonce.sig" "$W/nonce.bin"
	http POST /v1/attest -d "{\"mode\": \"host-key\", \"host\": \"$host\", \"nonce\": \"$nonce\",
		\"signature\": \"$(b64url "$W/nonce.sig")\", \"transport_key\": {\"jwk\": $(cat "$jwk")}}"
	expect_status 200
	jq -r .token "$TMP/body" >"$out"
}

# tk_jwk HOST OUT: the public JWK of HOST's TPM transport key.
tk_jwk() {
	cl --tpm "$1" tk-jwk --tk "$W/agent-$1/transport.key" >"$2"
}

# put_token HOST FILE: make FILE the agent's stored token (0600).
put_token() {
	install -m 0600 "$2" "$W/agent-$1/token.jwt"
}

# audit_newest ACTION RESULT [REASON]: the newest record of ACTION.
audit_newest() {
	local action=$1 result=$2 reason=${3:-}
	admin GET "/v1/admin/audit?limit=50"
	expect_status 200
	jq -e --arg a "$action" --arg r "$result" --arg why "$reason" '
		[.records[] | select(.action == $a)][0]
		| .result == $r and ($why == "" or .details.reason == $why)' "$TMP/body" >/dev/null ||
		{ body >&2; echo >&2; fail "newest $action audit record is not $result/$reason"; }
}

# ---- a guarded fabric (the launcher's tests, bench/bench_start.sh, demo) ----

# guarded_fabric: hgsd "hgs1" with the shim baseline (the IOMMU rule off:
# the replayed firmware log has no DMAR), the attested host "host" (ECC
# EK), hgsd's guardian metadata in $W/hgs1.json and an owner guardian in
# $W/owner.json.
guarded_fabric() {
	hgsd_up hgs1
	add_baseline shim "$SHIM_LOG"
	admin POST /v1/admin/rules/iommu-enabled/disable
	expect_status 200
	agent_host host ecc
	http GET /v1/guardian
	expect_status 200
	cp "$TMP/body" "$W/hgs1.json"
	owner_new owner "$W/owner.json"
}

# vm_kp POLICY OUT [vm profile ARGS...]: a KP for VM_ID bound to the
# profile `shieldvm vm profile --policy POLICY ARGS` prints ($W/profile.json).
vm_kp() {
	local policy=$1 out=$2
	shift 2
	"$SHIELDVM" vm profile --policy "$policy" "$@" >"$W/profile.json" || fail "vm profile"
	"$SHIELDVM" kp new --owner "$W/owner.json" --guardian "$W/hgs1.json" \
		--policy "$policy" --vm-id "$VM_ID" --vm-config "$W/profile.json" \
		--out "$out" 2>"$W/kp.err" || { cat "$W/kp.err" >&2; fail "kp new"; }
}

# vm_teardown RC DIR...: power off every VM directory DIR that has a
# definition and wait (5 s at most) for their supervisors to finish; when RC
# (the exit status being cleaned up after) is not 0, show the last 30 lines
# of each supervisor.log. For EXIT traps, before e2e_cleanup.
vm_teardown() {
	local rc=$1 d
	shift
	for d in "$@"; do
		[[ -f $d/vm.json ]] && "$SHIELDVM" poweroff "$d" >/dev/null 2>&1
	done
	for _ in $(seq 1 50); do
		[[ -n $(ls -A "$SHIELDVM_RUNTIME_DIR" 2>/dev/null) ]] || break
		sleep 0.1
	done
	if [[ $rc != 0 ]]; then
		for d in "$@"; do
			[[ -f $d/supervisor.log ]] || continue
			echo "--- $d/supervisor.log (last 30 lines)" >&2
			tail -n 30 "$d/supervisor.log" >&2
		done
	fi
	return 0
}

# The EXIT trap of the VM tests (trap vm_cleanup EXIT): vm_teardown over
# VM_DIRS, then vm_cleanup_more RC if the script defines one, then the
# fabric's teardown (e2e_cleanup). A script lists its VM directories in
# VM_DIRS.
VM_DIRS=()
vm_cleanup() {
	local rc=$?
	set +e # teardown runs to its end ((exit 1) would end it under -e)
	vm_teardown "$rc" "${VM_DIRS[@]}"
	if declare -F vm_cleanup_more >/dev/null; then
		vm_cleanup_more "$rc"
	fi
	(exit "$rc")
	e2e_cleanup
}
