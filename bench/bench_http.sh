#!/usr/bin/env bash
# HTTP rate of POST /v1/attest/nonce on hgsd (loopback, wrk at 16 and 64
# connections, keep-alive), beside the raw cost of nonce_issue measured in
# the same run. Not a test: it prints figures and passes unless something
# fails to run. Server and load generator share this machine's cores.
#
# Environment: HGSD, BENCH_NONCE (binaries); BENCH_SECONDS (default 5).
set -euo pipefail

: "${HGSD:?HGSD must point at the hgsd binary}"
: "${BENCH_NONCE:?BENCH_NONCE must point at bench_nonce}"
secs=${BENCH_SECONDS:-5}
command -v wrk >/dev/null || { echo "bench_http: wrk is not installed (Debian package wrk)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
chmod 0755 "$TMP"
mkdir "$TMP/state"
PID=
cleanup() {
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

user=
if [[ $(id -u) == 0 ]]; then
	user="user = nobody"
	chown nobody: "$TMP/state"
fi

# start LOGLEVEL: hgsd with the default thread pool (one thread per core).
start() {
	cat >"$TMP/hgsd.conf" <<EOC
[server]
listen = 127.0.0.1:0
node = bench
$user
[store]
uri = sqlite:$TMP/state/hgsd.db
[admin]
socket = $TMP/run/admin.sock
[log]
level = $1
EOC
	"$HGSD" --foreground --config "$TMP/hgsd.conf" 2>"$TMP/hgsd.log" &
	PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '"event":"ready"' "$TMP/hgsd.log" 2>/dev/null && break
		sleep 0.1
	done
	PORT=$(jq -r 'select(.event == "listening") | .port' "$TMP/hgsd.log" 2>/dev/null | head -n 1)
	[[ -n $PORT ]] || { cat "$TMP/hgsd.log" >&2; exit 1; }
}

stop() {
	kill "$PID"
	wait "$PID" || true
	PID=
}

cat >"$TMP/post.lua" <<'EOL'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
EOL

echo "== crypto floor (one core)"
"$BENCH_NONCE" 1

for level in info notice; do
	start "$level"
	echo "== POST /v1/attest/nonce, log level $level ($(nproc) cores shared by hgsd and wrk)"
	for c in 16 64; do
		out=$(wrk -t2 -c"$c" -d"${secs}s" --latency -s "$TMP/post.lua" "http://127.0.0.1:$PORT/v1/attest/nonce")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)
		printf '  %3d connections: %8s req/s  p50 %-8s p99 %-8s %s\n' "$c" "$rps" "$p50" "$p99" "$errs"
	done
	rss=$(awk '/^VmHWM/ {print $2, $3}' /proc/"$PID"/status)
	echo "  hgsd peak RSS: $rss"
	stop
done
