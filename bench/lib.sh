# shellcheck shell=bash
# shellcheck disable=SC2034 # secs, levels, URL, ADMIN, threads: for the benchmark
# Sourced by the benchmarks that drive hgsd over HTTP (bench_attest.sh,
# bench_unwrap.sh): hgsd on loopback with a temporary SQLite store, log
# level notice, torn down at exit.
#
# Environment: HGSD (the binary); BENCH_SECONDS (per level, default 10),
# BENCH_LEVELS (default 1,16,64,256) give $secs and $levels.

: "${HGSD:?HGSD must point at the hgsd binary}"
secs=${BENCH_SECONDS:-10}
levels=${BENCH_LEVELS:-1,16,64,256}

# The variables holding the pids bench_cleanup stops; a benchmark that
# starts more servers adds their names.
bench_pid_vars=PID
PID=

# bench_stop PID: stop a process this script started, whatever its state.
bench_stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

bench_cleanup() {
	local v
	for v in $bench_pid_vars; do
		[[ -n ${!v:-} ]] || continue
		bench_stop "${!v}"
	done
	rm -rf "$TMP"
}

# bench_init NAME: check the tools every benchmark needs; $TMP (0755, with
# $TMP/state for hgsd) removed at exit with the processes still running.
bench_init() {
	local name=$1 tool
	for tool in curl jq; do
		command -v "$tool" >/dev/null || { echo "$name: $tool is not installed" >&2; exit 1; }
	done
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/${name//_/-}.XXXXXX")
	chmod 0755 "$TMP"
	mkdir "$TMP/state"
	trap bench_cleanup EXIT
}

# bench_start_hgsd THREADS MODES: hgsd with [server] threads = THREADS and
# [attestation] modes = MODES, as nobody when run as root; once it is ready:
# PID, PORT, URL, ADMIN (its admin socket) and threads (the count it runs).
bench_start_hgsd() {
	local nthreads=$1 modes=$2 user='' i
	if [[ $(id -u) == 0 ]]; then
		user="user = nobody"
		chown nobody: "$TMP/state"
	fi
	cat >"$TMP/hgsd.conf" <<EOC
[server]
listen = 127.0.0.1:0
node = bench
threads = $nthreads
max_connections = 2048
$user
[store]
uri = sqlite:$TMP/state/hgsd.db
[attestation]
modes = $modes
ek_ca_dir = $TMP/ek-ca
[admin]
socket = $TMP/run/admin.sock
group = root
[log]
level = notice
EOC
	"$HGSD" --foreground --config "$TMP/hgsd.conf" 2>"$TMP/hgsd.log" &
	PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '"event":"ready"' "$TMP/hgsd.log" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	PORT=$(jq -r 'select(.event == "listening") | .port' "$TMP/hgsd.log" 2>/dev/null | head -n 1)
	[[ -n $PORT && $PORT != null ]] || { cat "$TMP/hgsd.log" >&2; exit 1; }
	URL=http://127.0.0.1:$PORT
	ADMIN=$TMP/run/admin.sock
	threads=$(jq -r 'select(.event == "listening") | .threads' "$TMP/hgsd.log" | head -n 1)
}
