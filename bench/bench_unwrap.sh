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

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${BENCH_UNWRAP:?BENCH_UNWRAP must point at bench_unwrap}"
tangd=${TANGD:-/usr/libexec/tangd}
TANG_PID=
bench_pid_vars+=" TANG_PID"
bench_init bench_unwrap
bench_start_hgsd 0 "tpm, host-key"

echo "== hgsd on $URL (pid $PID, $threads threads, log level notice, SQLite store in $TMP/state)"
"$BENCH_UNWRAP" --url "$URL" --admin "$ADMIN" --pid "$PID" \
	--seconds "$secs" --levels "$levels"
bench_stop "$PID"
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
	bench_stop "$TANG_PID"
	TANG_PID=
done
[[ -n $TANG_PID ]] || { echo "tangd under socat did not start" >&2; exit 1; }
"$BENCH_UNWRAP" --tang "http://127.0.0.1:$p" --pid "$TANG_PID" --seconds "$secs" --levels "$levels"
