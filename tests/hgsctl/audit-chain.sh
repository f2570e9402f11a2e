#!/usr/bin/env bash
# The audit hash chain (docs/store.md): hgsctl audit verify over records
# hgsd wrote (admin changes, attestation refusals), intact; hgsd logs the
# head (audit_head) at start, stop and every minute it moved; the same
# check with that head as --anchor. Then, each on its own copy of the
# store: a record changed, a record removed, the tail cut, the chain
# rewritten from a record on: each is reported by id with exit 1, the
# anchor catching what the walk cannot.
. "$(dirname "$0")/lib.sh"

DB=$TMP/state/hgsd.db

start_hgsd hgs1
# records: admin changes and refused attestations
expect 0 host add --name node1 --ek-pub "$KEYLIME/ek.pub"
expect 0 host disable node1
expect 0 host enable node1
for i in 1 2 3; do
	http POST /v1/attest -d '{"mode": "host-key", "host": "nobody-'$i'", "nonce": "AAAA", "signature": "AAAA", "transport_key": {"jwk": {}}}'
	[[ $STATUS == 403 ]] || fail "refused attestation $i: HTTP $STATUS"
done
expect 0 audit verify
out_has '^6 audit records, 0 without a chain'
out_has '^intact$'
expect 0 --json audit verify
jq -e '.intact and .records == 6 and .unchained == 0 and .first_chained == 1 and .broken_at == null
	and .head.id == 6 and (.head.chain | test("^[0-9a-f]{64}$"))' "$TMP/out" >/dev/null ||
	{ show_output; fail "audit verify --json"; }
head_json=$(jq -c .head "$TMP/out")
stop_hgsd "$HGSD_PID"

# the head hgsd logged at stop is the one verify reports
logged=$(jq -c 'select(.event == "audit_head") | {id, chain}' "$TMP/hgs1.log" | tail -n 1)
[[ $logged == "$head_json" ]] || fail "audit_head logged $logged, verify says $head_json"
anchor=$(jq -r '"\(.id):\(.chain)"' <<<"$logged")
jq -s -e 'map(select(.event == "audit_head")) | length >= 1' "$TMP/hgs1.log" >/dev/null ||
	fail "no audit_head event"
ok "6 records (admin changes, refused attestations) chained and intact; the head logged at stop matches"

cp "$DB" "$TMP/good.db"
start_hgsd hgs1
# the start logs the head too, and new records go on from it
jq -s -e --argjson h "$head_json" 'map(select(.event == "audit_head")) | .[0] | .id == $h.id and .chain == $h.chain' \
	"$TMP/hgs1.log" >/dev/null || fail "the head logged at start is not the last one"
expect 0 host disable node1
expect 0 audit verify --anchor "$anchor"
out_has '^anchor 6: matches$'
out_has '^7 audit records'
ok "the chain goes on across a restart; the earlier head as --anchor matches"

expect 2 audit verify --anchor "6:abc"
expect 2 audit verify --anchor "x:$(printf '0%.0s' {1..64})"
admin GET "/v1/admin/audit/verify?anchor=6:zz"
expect_status 400 bad_request
admin GET "/v1/admin/audit/verify?anchor=0:$(printf '0%.0s' {1..64})"
expect_status 400 bad_request
ok "a malformed --anchor is a usage error; hgsd refuses a malformed anchor too"
stop_hgsd "$HGSD_PID"

# tamper TEXT SQL: on a copy of the good store, SQL makes verify fail
# saying TEXT (exit 1); the good store goes back afterwards.
tamper() {
	local text=$1 sql=$2
	shift 2
	cp "$TMP/good.db" "$DB"
	rm -f "$DB-wal" "$DB-shm"
	sqlite3 "$DB" "$sql"
	start_hgsd hgs1
	expect 1 audit verify "$@"
	cat "$TMP/out" >>"$TMP/tamper.log"
	out_has "$text"
	out_has '^NOT intact$'
	stop_hgsd "$HGSD_PID"
}
tamper '^BROKEN at record 3:' "UPDATE audit SET result = 'fail' WHERE id = 3"
tamper '^BROKEN at record 5:' "DELETE FROM audit WHERE id = 4"
tamper '^ANCHOR record 6 is gone' "DELETE FROM audit WHERE id = 6" --anchor "$anchor"
# a rewrite that recomputes the chain (here: every chain from record 2 on
# emptied, so the walk restarts) is invisible to the walk, not to the anchor
tamper '^ANCHOR record 6 has another chain now' "UPDATE audit SET chain = NULL WHERE id >= 2" --anchor "$anchor"
ok "a changed record, a removed record, a cut tail and a rewritten chain: each reported, exit 1"
