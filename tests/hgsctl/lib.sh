# shellcheck shell=bash
# Harness for the hgsctl suite: the hgsd-server harness (a real hgsd on
# loopback with a temporary SQLite store and admin socket; see
# tests/hgsd-server/lib.sh) plus helpers that run hgsctl against it.
#
# Environment (set by tests/hgsctl/meson.build):
#   HGSCTL, HGSD, SHIELDVM, SHIELDVM_TESTDATA
# shellcheck source=../hgsd-server/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../hgsd-server/lib.sh"

: "${HGSCTL:?HGSCTL must point at the hgsctl binary}"
KEYLIME=$SHIELDVM_TESTDATA/quotes/keylime
mkdir -p "$TMP/ek-ca"

# hgsctl ARGS...: run hgsctl on $ADMIN; stdout in $TMP/out, stderr in
# $TMP/err, the exit status in $RC (never fails by itself).
hgsctl() {
	RC=0
	"$HGSCTL" --socket "$ADMIN" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

show_output() {
	echo "--- stdout:" >&2
	cat "$TMP/out" >&2
	echo "--- stderr:" >&2
	cat "$TMP/err" >&2
}

# expect RC ARGS...: run hgsctl and require exit status RC.
expect() {
	local want=$1
	shift
	hgsctl "$@"
	[[ $RC == "$want" ]] || { show_output; fail "hgsctl $*: exit $RC, expected $want"; }
}

# out_has REGEX / err_has REGEX: the last stdout / stderr matches (grep -E).
out_has() {
	grep -qE -- "$1" "$TMP/out" || { show_output; fail "stdout does not match: $1"; }
}
err_has() {
	grep -qE -- "$1" "$TMP/err" || { show_output; fail "stderr does not match: $1"; }
}
out_lacks() {
	! grep -qE -- "$1" "$TMP/out" || { show_output; fail "stdout matches: $1"; }
}

# out_jq FILTER: the last stdout is JSON satisfying the jq filter.
out_jq() {
	jq -e "$1" "$TMP/out" >/dev/null || { show_output; fail "stdout does not satisfy: $1"; }
}
