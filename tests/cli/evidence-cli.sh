#!/usr/bin/env bash
# shieldvm quote verify --event-log: the real GCE quote with the event log of
# the same boot verifies in all three banks; another boot's log is refused.
set -uo pipefail
shieldvm=${SHIELDVM:?}
d=${SHIELDVM_TESTDATA:?}/quotes/gotpmtools__gce-cos-85-nonce9009
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for i in 0 1 2; do
	bank=$(jq -r ".quotes[$i].bank" "$d/meta.json")
	jq ".quotes[$i] | {(.bank): .pcrs}" "$d/meta.json" >"$tmp/pcrs.json"
	args=(--ak "$d/ak_pub.TPMT_PUBLIC.bin" --quote "$d/quote_$bank.TPMS_ATTEST.bin"
	      --sig "$d/quote_$bank.TPMT_SIGNATURE.bin" --nonce 9009 --pcrs "$tmp/pcrs.json")
	"$shieldvm" quote verify "${args[@]}" --event-log "$d/event_log.bin" >/dev/null ||
		fail "$bank: quote + its own event log rejected"
	"$shieldvm" quote verify "${args[@]}" \
		--event-log "$SHIELDVM_TESTDATA/eventlogs/gotpmtools__cos-85-amd-sev.bin" \
		>/dev/null 2>"$tmp/err"
	[ $? -eq 1 ] || fail "$bank: another boot's log accepted"
	grep -q "the event log replays to" "$tmp/err" || fail "$bank: reason: $(cat "$tmp/err")"
	"$shieldvm" quote verify "${args[@]}" --event-log "$SHIELDVM_TESTDATA/eventlogs/keylime__bogus.bin" \
		>/dev/null 2>&1
	[ $? -eq 3 ] || fail "$bank: malformed log not reported as bad input"
	echo "ok $bank"
done
"$shieldvm" quote verify --ak "$d/ak_pub.TPMT_PUBLIC.bin" --quote "$d/quote_sha256.TPMS_ATTEST.bin" \
	--sig "$d/quote_sha256.TPMT_SIGNATURE.bin" --nonce 9009 --event-log "$d/event_log.bin" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--event-log without PCR values is not a usage error"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all evidence CLI checks passed"
