#!/usr/bin/env bash
# Key releases on hgsd (loopback, temporary SQLite store, log level notice,
# one thread per core): bench_unwrap registers N software hosts in host-key
# mode, attests them (token cnf = a software EC P-256 transport key), gives
# each a key protector for hgsd's primary guardian, then drives POST
# /v1/unwrap at 1, 16, 64 and 256 clients, each opening the sealed answer
# with seal_open_jwk (in software: a real host does that step in its TPM),
# and prints rate, latency and CPU beside the crypto floor of a release
# measured in the same run. Then Tang (Debian's tangd, under socat as its
# systemd socket unit would run it: one process per connection) on
# loopback with the same clients and a Clevis recovery request. Not a test:
# it passes unless something fails to run. Server and load generator share
# this machine's cores.
#
# Environment: HGSD, BENCH_UNWRAP (binaries); BENCH_SECONDS (per level,
# default 10), BENCH_LEVELS (default 1,16,64,256), BENCH_TANG (default 1;
# 0 skips Tang), TANGD (default /usr/libexec/tangd).
set -euo pipefail

: "${HGSD:?HGSD must point at the hgsd binary}"
: "${BENCH_UNWRAP:?BENCH_UNWRAP must point at bench_unwrap}"
secs=${BENCH_SECONDS:-10}
levels=${BENCH_LEVELS:-1,16,64,256}
tangd=${TANGD:-/usr/libexec/tangd}
for tool in curl jq; do
	command -v "$tool" >/dev/null || { echo "bench_unwrap: $tool is not installed" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-unwrap.XXXXXX")
chmod 0755 "$TMP"
mkdir "$TMP/state"
PID=
TANG_PID=
cleanup() {
	local p
	for p in "$PID" "$TANG_PID"; do
		[[ -n $p ]] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

user=
if [[ $(id -u) == 0 ]]; then
	user="user = nobody"
	chown nobody: "$TMP/state"
fi

cat >"$TMP/hgsd.conf" <<EOC
[server]
listen = 127.0.0.1:0
node = bench
threads = 0
max_connections = 2048
$user
[store]
uri = sqlite:$TMP/state/hgsd.db
[attestation]
modes = tpm, host-key
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
threads=$(jq -r 'select(.event == "listening") | .threads' "$TMP/hgsd.log" | head -n 1)

echo "== hgsd on $URL (pid $PID, $threads threads, log level notice, SQLite store in $TMP/state)"
"$BENCH_UNWRAP" --url "$URL" --admin "$TMP/run/admin.sock" --pid "$PID" \
	--seconds "$secs" --levels "$levels"
kill "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
PID=

if [[ ${BENCH_TANG:-1} == 0 ]]; then
	exit 0
fi
if [[ ! -x $tangd ]] || ! command -v socat >/dev/null; then
	echo
	echo "== Tang not measured: $tangd or socat missing (Debian packages tang, socat)"
	exit 0
fi
mkdir "$TMP/tang"
/usr/libexec/tangd-keygen "$TMP/tang" >/dev/null 2>&1 || { echo "tangd-keygen failed" >&2; exit 1; }
for ((p = 20000 + RANDOM % 20000, i = 0; i < 50; i++, p++)); do
	socat TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr,fork,backlog=1024 \
		EXEC:"$tangd $TMP/tang" 2>"$TMP/tang.log" &
	TANG_PID=$!
	sleep 0.3
	if kill -0 "$TANG_PID" 2>/dev/null && curl -sf "http://127.0.0.1:$p/adv" >/dev/null 2>&1; then
		break
	fi
	kill "$TANG_PID" 2>/dev/null || true
	wait "$TANG_PID" 2>/dev/null || true
	TANG_PID=
done
[[ -n $TANG_PID ]] || { echo "tangd under socat did not start" >&2; exit 1; }
"$BENCH_UNWRAP" --tang "http://127.0.0.1:$p" --pid "$TANG_PID" --seconds "$secs" --levels "$levels"
