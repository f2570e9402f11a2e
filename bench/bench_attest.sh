#!/usr/bin/env bash
# End-to-end TPM-mode attestation on hgsd (loopback, temporary SQLite
# store, log level notice, one thread per core): bench_attest registers and
# really enrolls N simulated hosts (software EKs and AKs), then drives
# nonce + quote + certify + /v1/attest at 1, 16, 64 and 256 clients and
# prints rate, latency, hgsd CPU and RSS beside the crypto floor measured in
# the same run. Then, if perf works here, a short profile of hgsd at 64
# clients shows where its time goes. Not a test: it passes unless something
# fails to run. Server and load generator share this machine's cores.
#
# Environment: HGSD, SHIELDVM, BENCH_ATTEST (binaries), SHIELDVM_TESTDATA;
# BENCH_SECONDS (per level, default 10), BENCH_LEVELS (default 1,16,64,256),
# BENCH_HOSTS (default: the largest level), BENCH_THREADS (hgsd [server]
# threads, default 0 = one per core), BENCH_LOG (default
# gotpmtools__sp800-155, 26.8 KB, passes every default rule but
# iommu-enabled), BENCH_PERF (default 1; 0 skips the profile).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary}"
: "${BENCH_ATTEST:?BENCH_ATTEST must point at bench_attest}"
: "${SHIELDVM_TESTDATA:?SHIELDVM_TESTDATA must point at the test data}"
logname=${BENCH_LOG:-gotpmtools__sp800-155}
LOG=$SHIELDVM_TESTDATA/eventlogs/$logname.bin
[[ -r $LOG ]] || { echo "bench_attest: no event log $LOG" >&2; exit 1; }
bench_init bench_attest
bench_start_hgsd "${BENCH_THREADS:-0}" tpm

# admin METHOD PATH [curl args...]: body to $TMP/body, status checked by caller.
admin() {
	local method=$1 path=$2
	shift 2
	curl -sS -o "$TMP/body" -w '%{http_code}' --unix-socket "$ADMIN" -X "$method" "$@" "http://hgsd$path"
}

# The policy: a baseline captured from the log the hosts send, and the one
# default rule this (QEMU/OVMF-like, no IOMMU flag) log cannot pass.
"$SHIELDVM" baseline capture --name bench "$LOG" -o "$TMP/baseline.json"
jq -c '{name: "bench", baseline: .}' "$TMP/baseline.json" >"$TMP/baseline-req.json"
st=$(admin POST /v1/admin/baselines -H 'Content-Type: application/json' --data-binary "@$TMP/baseline-req.json")
[[ $st == 201 ]] || { echo "adding the baseline: HTTP $st $(cat "$TMP/body")" >&2; exit 1; }
st=$(admin POST /v1/admin/rules/iommu-enabled/disable)
[[ $st == 200 ]] || { echo "disabling iommu-enabled: HTTP $st $(cat "$TMP/body")" >&2; exit 1; }

echo "== hgsd on $URL (pid $PID, $threads threads, log level notice, SQLite store in $TMP/state)"
echo "== event log $logname.bin ($(stat -c %s "$LOG") bytes); baseline 'bench' captured from it;"
echo "   rules disabled: iommu-enabled (the log has no IOMMU evidence); all other default rules on"

# The HTTP floor, same hgsd, same run: wrk (a lean C client) driving the
# cheapest POST hgsd has, /v1/attest/nonce, at 64 keep-alive connections.
# The machine's busy CPU time (/proc/stat, every process) over the run,
# divided by the requests, is what one round trip costs server and client
# together; an attestation needs two (nonce, then attest with ~37 KB).
rt_args=()
if command -v wrk >/dev/null; then
	printf 'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n' >"$TMP/post.lua"
	busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
	b0=$(busy)
	out=$(wrk -t2 -c64 -d3s -s "$TMP/post.lua" "$URL/v1/attest/nonce")
	b1=$(busy)
	total=$(awk '/requests in/ { print $1 }' <<<"$out")
	secs_run=$(awk '/requests in/ { sub(/s,$/, "", $4); print $4 }' <<<"$out")
	busy_s=$(awk -v a="$b0" -v b="$b1" -v hz="$(getconf CLK_TCK)" 'BEGIN { print (b - a) / hz }')
	if [[ -n $total && -n $secs_run ]] && ! grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		rt_args=(--http-rt "$total:$secs_run:$busy_s")
	else
		echo "bench_attest: the wrk run of the HTTP floor failed:" >&2
		echo "$out" >&2
	fi
fi

"$BENCH_ATTEST" --url "$URL" --admin "$ADMIN" --pid "$PID" --log "$LOG" \
	--seconds "$secs" --levels "$levels" ${BENCH_HOSTS:+--hosts "$BENCH_HOSTS"} "${rt_args[@]}"

# Where hgsd's time goes: perf at 64 clients for a few seconds.
if [[ ${BENCH_PERF:-1} != 0 ]] && command -v perf >/dev/null &&
	perf record -q -o "$TMP/probe.data" -- true >/dev/null 2>&1; then
	echo
	echo "== where hgsd's time goes: perf record on hgsd (self time; hgsd has no frame pointers, so no call graph), 64 clients, 5 s (figures above were taken without perf)"
	perf record -q -F 999 -p "$PID" -o "$TMP/perf.data" -- sleep 7 >/dev/null 2>&1 &
	perf_pid=$!
	"$BENCH_ATTEST" --url "$URL" --admin "$ADMIN" --pid "$PID" --log "$LOG" \
		--seconds 5 --warmup 1 --levels 64 --hosts 64 --no-floor --no-goals >"$TMP/perf-run.out"
	wait "$perf_pid" || true
	echo "-- self time by shared object"
	perf report -i "$TMP/perf.data" --no-children --sort dso --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 12 || true
	echo "-- self time by symbol (top 30)"
	perf report -i "$TMP/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 30 || true
fi
