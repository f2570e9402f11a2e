# shellcheck shell=bash
# Harness for the hgsd-server suite: a temporary directory, hgsd processes
# started on free loopback ports (port 0; the port is read from hgsd's
# "listening" log line) with a temporary SQLite store and admin socket, and
# teardown of every hgsd started, on any exit.
#
# Environment (set by tests/hgsd-server/meson.build):
#   HGSD               the hgsd binary
#   SHIELDVM           the shieldvm binary (baseline capture)
#   SHIELDVM_TESTDATA  ../shared/testdata
set -euo pipefail

: "${HGSD:?HGSD must point at the hgsd binary}"
: "${SHIELDVM_TESTDATA:?SHIELDVM_TESTDATA must point at the test data}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hgsd-server.XXXXXX")
chmod 0755 "$TMP"
HGSD_PIDS=()

# Under root, hgsd must drop to a service user (it refuses to run as root):
# the tests use nobody and give it the store directory.
if [[ $(id -u) == 0 ]]; then
	HGSD_USER=nobody
	mkdir -p "$TMP/state"
	chown nobody: "$TMP/state"
else
	HGSD_USER=
	mkdir -p "$TMP/state"
fi

stop_all() {
	local pid
	for pid in "${HGSD_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${HGSD_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	HGSD_PIDS=()
}

cleanup() {
	local rc=$?
	stop_all
	if [[ $rc != 0 ]]; then
		for f in "$TMP"/*.log; do
			[[ -e $f ]] || continue
			echo "--- last lines of $f:" >&2
			tail -n 15 "$f" >&2
		done
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

# write_config NAME [EXTRA INI LINES...]: $TMP/NAME.conf for one node with
# its own admin socket and the shared store; extra lines go to [server].
write_config() {
	local name=$1
	shift
	{
		echo "[server]"
		echo "listen = 127.0.0.1:0"
		echo "node = $name"
		echo "threads = 2"
		echo "max_body = ${MAX_BODY:-65536}"
		echo "timeout = 10"
		[[ -n $HGSD_USER ]] && echo "user = $HGSD_USER"
		local l
		for l in "$@"; do echo "$l"; done
		echo "[store]"
		echo "uri = sqlite:$TMP/state/hgsd.db"
		echo "[attestation]"
		echo "ek_ca_dir = $TMP/ek-ca"
		echo "[admin]"
		echo "socket = $TMP/run-$name/admin.sock"
		echo "group = ${ADMIN_GROUP:-root}"
		echo "[log]"
		echo "level = info"
	} >"$TMP/$name.conf"
}

# launch_hgsd NAME [FLAGS...]: start hgsd with $TMP/NAME.conf (written with
# defaults if missing) in the background; HGSD_PID is its pid.
launch_hgsd() {
	local name=$1
	shift
	[[ -e $TMP/$name.conf ]] || write_config "$name"
	# Empty the log here, not only in the background job's redirection:
	# on a restart, wait_hgsd could otherwise read the previous run's
	# "ready" and port before the new process truncates the file.
	: >"$TMP/$name.log"
	"$HGSD" --foreground --config "$TMP/$name.conf" "$@" 2>"$TMP/$name.log" &
	HGSD_PID=$!
	HGSD_PIDS+=("$HGSD_PID")
}

# wait_hgsd NAME PID: wait until it serves (or fail with its log); sets
# PORT, ADMIN (socket path) and BASE_URL.
wait_hgsd() {
	local name=$1 pid=$2 i port
	for ((i = 0; i < 100; i++)); do
		if grep -q '"event":"ready"' "$TMP/$name.log" 2>/dev/null; then
			port=$(jq -r 'select(.event == "listening") | .port' "$TMP/$name.log" | head -n 1)
			PORT=$port
			ADMIN=$TMP/run-$name/admin.sock
			BASE_URL=http://127.0.0.1:$PORT
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.log" >&2; fail "hgsd $name exited during start"; }
		sleep 0.1
	done
	cat "$TMP/$name.log" >&2
	fail "hgsd $name did not become ready"
}

# start_hgsd NAME [FLAGS...]: launch and wait.
start_hgsd() {
	launch_hgsd "$@"
	wait_hgsd "$1" "$HGSD_PID"
}

# stop_hgsd PID: SIGTERM, and require a clean exit (0) within 10 s.
stop_hgsd() {
	local pid=$1 rc=0 i
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" || rc=$?
	local rest=()
	for p in "${HGSD_PIDS[@]}"; do [[ $p == "$pid" ]] || rest+=("$p"); done
	HGSD_PIDS=("${rest[@]}")
	[[ $rc == 0 ]] || fail "hgsd $pid exited with $rc after SIGTERM"
}

# http METHOD PATH [curl args...]: request on the host API; the status goes
# to $STATUS and the body to $TMP/body (also printed by 'body').
http() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl -sS -o "$TMP/body" -w '%{http_code}' -X "$method" "$@" "$BASE_URL$path")
}

# admin METHOD PATH [curl args...]: the same on the admin socket.
admin() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl -sS -o "$TMP/body" -w '%{http_code}' --unix-socket "$ADMIN" -X "$method" "$@" "http://hgsd$path")
}

body() {
	cat "$TMP/body"
}

# expect_status CODE [ERROR]: the last request answered CODE (and, for an
# error, {"error": ERROR, "message": non-empty}).
expect_status() {
	local want=$1 err=${2:-}
	[[ $STATUS == "$want" ]] || { body >&2; echo >&2; fail "expected HTTP $want, got $STATUS"; }
	if [[ -n $err ]]; then
		jq -e --arg e "$err" '.error == $e and (.message | type == "string" and length > 0)' "$TMP/body" >/dev/null ||
			{ body >&2; echo >&2; fail "expected error '$err'"; }
	fi
}

# jq_expect FILTER: the last body satisfies the jq filter.
jq_expect() {
	jq -e "$1" "$TMP/body" >/dev/null || { body >&2; echo >&2; fail "body does not satisfy: $1"; }
}

# b64url FILE: base64url without padding.
b64url() {
	basenc --base64url -w0 "$1" | tr -d '='
}
