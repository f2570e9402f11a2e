# shellcheck shell=bash
# Shared harness for the tpm suite: temporary directory, expectations, and
# one swtpm per test on free loopback ports (torn down on any exit).
#
# Environment (set by tests/tpm/meson.build):
#   SHIELDVM           the shieldvm binary
#   SHIELDVM_TESTDATA  ../shared/testdata
set -euo pipefail

: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary}"
: "${SHIELDVM_TESTDATA:?SHIELDVM_TESTDATA must point at the test data}"

TPM_TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shieldvm-tpm.XXXXXX")
SWTPM_PID=

stop_swtpm() {
	if [[ -n $SWTPM_PID ]]; then
		kill "$SWTPM_PID" 2>/dev/null || true
		wait "$SWTPM_PID" 2>/dev/null || true
		SWTPM_PID=
	fi
}

cleanup() {
	local rc=$?
	stop_swtpm
	if [[ $rc != 0 && -s $TMP/tools.log ]]; then
		echo "--- last tool output:" >&2
		tail -n 20 "$TMP/tools.log" >&2
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	echo "ok: $*"
}

# expect_rc CODE CMD...: run CMD, require exit CODE; output in $TMP/out,
# $TMP/err.
expect_rc() {
	local want=$1 rc
	shift
	set +e
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	set -e
	if [[ $rc != "$want" ]]; then
		cat "$TMP/out" "$TMP/err" >&2
		fail "expected exit $want, got $rc: $*"
	fi
}

# A failure message is exactly one line on stderr.
expect_one_error_line() {
	local n
	n=$(wc -l <"$TMP/err")
	[[ $n == 1 ]] || { cat "$TMP/err" >&2; fail "stderr has $n lines"; }
}

# Run a tpm2-tools command quietly (output kept for failure reports).
tpm() {
	echo "+ $*" >>"$TMP/tools.log"
	"$@" >>"$TMP/tools.log" 2>&1 || fail "$* failed (see tools.log)"
}

# swtpm has no resource manager: drop transient objects and sessions.
flush() {
	tpm2_flushcontext -t >>"$TMP/tools.log" 2>&1 || true
	tpm2_flushcontext -s >>"$TMP/tools.log" 2>&1 || true
}

# hex of a file, lowercase, no separators
hexof() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# start_swtpm STATEDIR: swtpm on two free loopback ports; exports
# TPM2TOOLS_TCTI for tpm2-tools.
start_swtpm() {
	local state=$1 port try
	mkdir -p "$state"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + (RANDOM * 7 + $$ + try * 131) % 40000))
		swtpm socket --tpm2 \
			--server type=tcp,port=$port,bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--tpmstate dir="$state" >>"$TMP/swtpm.log" 2>&1 &
		SWTPM_PID=$!
		export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
		for _ in $(seq 1 50); do
			if ! kill -0 "$SWTPM_PID" 2>/dev/null; then
				break
			fi
			if tpm2_getrandom 4 >/dev/null 2>&1; then
				return 0
			fi
			sleep 0.05
		done
		stop_swtpm
	done
	cat "$TMP/swtpm.log" >&2
	fail "cannot start swtpm"
}
