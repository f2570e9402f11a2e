# shellcheck shell=bash
# Harness of the e2e-attest suite: swtpm "booted" with a real firmware event
# log (tests/lib/swtpm.sh + tools/shieldvm-tpm-replay-log), hgsd on loopback
# with a temporary SQLite store (tests/hgsd-server/lib.sh), and the host side
# played by e2e_client one protocol step at a time. Everything started here
# is stopped on any exit, and the temporary directory removed.
#
# Environment (tests/e2e-attest/meson.build):
#   HGSD, SHIELDVM, E2E_CLIENT, REPLAY_LOG   binaries
#   SHIELDVM_TESTDATA                        ../shared/testdata
#
# Each script defines case_NAME functions and ends with `run_case "$@"`.
set -euo pipefail

: "${E2E_CLIENT:?E2E_CLIENT must point at e2e_client}"
: "${REPLAY_LOG:?REPLAY_LOG must point at shieldvm-tpm-replay-log}"
: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary}"

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hgsd-server/lib.sh
. "$E2E_DIR/../hgsd-server/lib.sh"
# shellcheck source=tests/lib/swtpm.sh
. "$E2E_DIR/../lib/swtpm.sh"

LOGS=$SHIELDVM_TESTDATA/eventlogs
SHIM_LOG=$LOGS/local__ovmf_sb_shim_grub.bin
W=$TMP/work
mkdir -p "$W"

# ---- teardown ---------------------------------------------------------------

E2E_SWTPM_PIDS=()

e2e_cleanup() {
	local rc=$? pid
	set +e # teardown must run to its end
	for pid in "${E2E_SWTPM_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${E2E_SWTPM_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ $rc != 0 ]]; then
		for f in "$TMP"/tpm-*/swtpm.log "$W"/*.err; do
			[[ -s $f ]] || continue
			echo "--- last lines of $f:" >&2
			tail -n 10 "$f" >&2
		done
	fi
	# hgsd-server/lib.sh: stops every hgsd, prints their logs on failure,
	# removes $TMP and exits with rc.
	(exit "$rc")
	cleanup # exits with $?
}
trap e2e_cleanup EXIT

# ---- swtpm ------------------------------------------------------------------

# tpm_up NAME BANKS [LOG]: a swtpm of its own, EK certificates from its own
# local CA ($TMP/tpm-NAME/ca/cadir), PCRs "booted" by replaying LOG.
# Sets TCTI_NAME (NAME with - as _).
tpm_up() {
	local name=$1 banks=$2 log=${3:-} var
	SWTPM_DIR=$TMP/tpm-$name
	SWTPM_LOG=$SWTPM_DIR/swtpm.log
	mkdir -p "$SWTPM_DIR"
	: >"$SWTPM_LOG"
	swtpm_lib_provision "$SWTPM_DIR/state" "$banks" || fail "swtpm_setup for $name"
	swtpm_lib_start "$SWTPM_DIR/state" || fail "swtpm $name did not start"
	E2E_SWTPM_PIDS+=("$SWTPM_PID")
	SWTPM_PID= # ours to stop, not swtpm.sh's
	var=TCTI_${name//-/_}
	printf -v "$var" '%s' "$SWTPM_TCTI"
	if [[ -n $log ]]; then
		"$REPLAY_LOG" --tcti "$SWTPM_TCTI" "$log" >"$W/replay-$name.out" 2>"$W/replay-$name.err" ||
			fail "replaying $(basename "$log") into swtpm $name: $(cat "$W/replay-$name.err")"
	fi
	SWTPM_DIR=
}

# ---- hgsd -------------------------------------------------------------------

# hgsd_up NAME [STORE]: hgsd on a free loopback port with the SQLite store
# $TMP/state-STORE (default: its own), its keys sealed under the KEK
# $TMP/hgsd.kek as in production (HGSD_KEK=0: keys in plaintext, for tests
# that read them from the store). Knobs: MODES, NONCE_LIFETIME,
# TOKEN_LIFETIME, E2E_MAX_BODY, EK_CA_DIR. Sets URL_NAME, ADMIN_NAME and
# makes it the current server (BASE_URL, ADMIN).
hgsd_up() {
	local name=$1 store=${2:-$1}
	if [[ ${HGSD_KEK:-1} != 0 && ! -e $TMP/hgsd.kek ]]; then
		(umask 077 && openssl rand -hex 32 >"$TMP/hgsd.kek")
	fi
	mkdir -p "$TMP/state-$store"
	[[ -z $HGSD_USER ]] || chown "$HGSD_USER:" "$TMP/state-$store"
	{
		echo "[server]"
		echo "listen = 127.0.0.1:0"
		echo "node = $name"
		echo "threads = 2"
		echo "max_body = ${E2E_MAX_BODY:-1048576}"
		echo "timeout = 10"
		[[ -n $HGSD_USER ]] && echo "user = $HGSD_USER"
		echo "[store]"
		echo "uri = sqlite:$TMP/state-$store/hgsd.db"
		echo "[tokens]"
		echo "lifetime = ${TOKEN_LIFETIME:-28800}"
		if [[ ${HGSD_KEK:-1} != 0 ]]; then
			echo "[keys]"
			echo "kek_file = $TMP/hgsd.kek"
		fi
		echo "[attestation]"
		echo "modes = ${MODES:-tpm, host-key}"
		echo "nonce_lifetime = ${NONCE_LIFETIME:-300}"
		echo "ek_ca_dir = ${EK_CA_DIR:-$TMP/ek-ca}"
		echo "[admin]"
		echo "socket = $TMP/run-$name/admin.sock"
		echo "group = root"
		echo "[log]"
		echo "level = info"
	} >"$TMP/$name.conf"
	start_hgsd "$name"
	printf -v "URL_${name//-/_}" '%s' "$BASE_URL"
	printf -v "ADMIN_${name//-/_}" '%s' "$ADMIN"
}

# use_hgsd NAME: make NAME the current server.
use_hgsd() {
	local u=URL_${1//-/_} a=ADMIN_${1//-/_}
	BASE_URL=${!u}
	ADMIN=${!a}
}

# ---- the host side ------------------------------------------------------------

# cl [--tpm NAME] COMMAND ARGS...: e2e_client against the current hgsd and
# the host TPM (or NAME's); its JSON line goes to $W/answer and stdout.
cl() {
	local tcti=${TCTI_host:-}
	if [[ $1 == --tpm ]]; then
		local v=TCTI_${2//-/_}
		tcti=${!v}
		shift 2
	fi
	"$E2E_CLIENT" --tcti "$tcti" --url "$BASE_URL" "$@" >"$W/answer" 2>"$W/client.err" || {
		cat "$W/answer" "$W/client.err" >&2
		fail "e2e_client $1 failed"
	}
	cat "$W/answer"
}

answer() {
	cat "$W/answer"
}

# expect_answer STATUS [ERROR [PHRASE]]: the last e2e_client answer.
expect_answer() {
	local st=$1 err=${2:-} phrase=${3:-}
	jq -e --argjson s "$st" '.status == $s' "$W/answer" >/dev/null ||
		{ answer >&2; fail "expected HTTP $st"; }
	if [[ -n $err ]]; then
		jq -e --arg e "$err" '.body.error == $e and (.body.message | type == "string" and length > 0)' \
			"$W/answer" >/dev/null || { answer >&2; fail "expected error '$err'"; }
	fi
	if [[ -n $phrase ]]; then
		jq -e --arg p "$phrase" '.body.message | test($p)' "$W/answer" >/dev/null ||
			{ answer >&2; fail "message does not say '$phrase'"; }
	fi
}

# answer_expect FILTER: the last e2e_client answer satisfies the jq filter.
answer_expect() {
	jq -e "$1" "$W/answer" >/dev/null || { answer >&2; fail "answer does not satisfy: $1"; }
}

# expect_audit ACTION RESULT [REASON [HOST]]: the newest host-API audit
# record (admin changes left out) is this decision.
expect_audit() {
	local action=$1 result=$2 reason=${3:-} host=${4:-}
	admin GET "/v1/admin/audit?limit=50"
	expect_status 200
	jq -e --arg a "$action" --arg r "$result" --arg why "$reason" --arg h "$host" '
		[.records[] | select(.action != "admin")][0]
		| .action == $a and .result == $r
		  and ($why == "" or .details.reason == $why)
		  and ($h == "" or .host == $h)' "$TMP/body" >/dev/null ||
		{ body >&2; echo >&2; fail "newest audit record is not $action/$result/$reason/$host"; }
}

# ---- the standard fixture -------------------------------------------------------

# fixture [BANKS [LOG]]: a host TPM booted with LOG (default: the OVMF +
# shim + grub boot), hgsd trusting that TPM's EK CA, the host registered by
# its EK certificate as node1, baseline "shim" captured from the shim log,
# iommu-enabled disabled (that VM had no IOMMU flag), an AK and a transport
# key created in the TPM ($W/ak.key, $W/tk.key).
fixture() {
	local banks=${1:-sha1,sha256} log=${2:-$SHIM_LOG}
	tpm_up host "$banks" "$log"
	EK_CA_DIR=$TMP/tpm-host/ca/cadir
	hgsd_up hgs1
	cl ek --type rsa2048 --pub "$W/ek.pub" --cert "$W/ek.der" >/dev/null
	register_host node1 "$W/ek.der"
	add_baseline shim "$SHIM_LOG"
	admin POST /v1/admin/rules/iommu-enabled/disable
	expect_status 200
	cl create-key --kind ak --type ecc-p256 --out "$W/ak.key" >/dev/null
	cl create-key --kind tk --type ecc-p256 --out "$W/tk.key" >/dev/null
}

# register_host NAME EK_CERT_DER (admin API, by EK certificate).
register_host() {
	admin POST /v1/admin/hosts -d "{\"name\": \"$1\", \"ek_cert\": \"$(b64url "$2")\"}"
	expect_status 201
}

# add_baseline NAME LOG: `shieldvm baseline capture` of LOG, added.
add_baseline() {
	"$SHIELDVM" baseline capture --name "$1" "$2" -o "$W/baseline-$1.json"
	jq -c --arg n "$1" '{name: $n, baseline: .}' "$W/baseline-$1.json" >"$W/baseline-$1.body"
	admin POST /v1/admin/baselines --data-binary @"$W/baseline-$1.body"
	expect_status 201
}

# enroll_ok [AK_FILE]: enrollment of the AK for the host TPM's EK.
enroll_ok() {
	cl enroll --ek-pub "$W/ek.pub" --ek-cert "$W/ek.der" --ak "${1:-$W/ak.key}" >/dev/null
	expect_answer 200
	answer_expect '.step == "finish" and .body.host == "node1"'
}

# evidence NAME [e2e_client evidence options...]: a fresh nonce and the
# attest body for it in $W/NAME.json (log: the shim log unless --log).
evidence() {
	local name=$1
	shift
	cl nonce --out "$W/$name.nonce" >/dev/null
	local have_log=no a
	for a in "$@"; do [[ $a == --log ]] && have_log=yes; done
	if [[ $have_log == no ]]; then
		set -- --log "$SHIM_LOG" "$@"
	fi
	cl evidence --nonce "$W/$name.nonce" --ak "$W/ak.key" --tk "$W/tk.key" \
		--out "$W/$name.json" "$@" >/dev/null
}

# attest NAME: POST the body $W/NAME.json; the token (if any) to $W/NAME.jwt.
attest() {
	cl attest --body "$W/$1.json" --token-out "$W/$1.jwt" >/dev/null
}

# policy_failure RULE [PHRASE]: the last answer is policy_failed and its
# failures name RULE (with PHRASE in that failure's message).
policy_failure() {
	local rule=$1 phrase=${2:-}
	expect_answer 403 policy_failed
	jq -e --arg r "$rule" --arg p "$phrase" \
		'any(.body.failures[]; .rule == $r and ($p == "" or (.message | test($p))))' \
		"$W/answer" >/dev/null || { answer >&2; fail "failures do not name $rule${phrase:+ with '$phrase'}"; }
}

# run_case NAME: run case_NAME (dashes become underscores).
run_case() {
	local fn=case_${1//-/_}
	declare -F "$fn" >/dev/null || fail "no test case '$1' in $0"
	"$fn"
	ok "$1"
}
