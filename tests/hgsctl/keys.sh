#!/usr/bin/env bash
# hgsctl key list|add|set-primary|enable|disable|remove|export: hgsd's
# guardian keys from the admin's side, human and --json output, the
# invariants (one primary, the primary enabled, removal only of disabled
# secondary keys) as refusals (exit 1), usage errors (exit 2), and the audit
# records of every change.
. "$(dirname "$0")/lib.sh"

start_hgsd hgs1

# ---- list: the key hgsd made at its first start ----
expect 0 key list
out_has '^ID +NAME +ALGORITHM +PRIMARY +ENABLED +CREATED$'
out_has '^[A-Za-z0-9_-]{43} +hgs +ec-p256 +yes +yes +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
expect 0 key list --json
out_jq '(.keys | length) == 1 and .keys[0].primary and .keys[0].enabled and .keys[0].algorithm == "ec-p256"
	and (.keys[0] | has("private_json") | not)'
first=$(jq -r '.keys[0].id' "$TMP/out")
ok "key list: the first-start primary key ($first)"

# ---- export ----
expect 0 key export
out_jq '(.payload | type == "string") and (.signature | type == "string")'
cp "$TMP/out" "$TMP/export-primary.json"
http GET /v1/guardian
[[ $(jq -r .payload "$TMP/body") == $(jq -r .payload "$TMP/export-primary.json") ]] || fail "key export differs from GET /v1/guardian"
expect 0 key export "$first"
[[ $(jq -r .payload "$TMP/out") == $(jq -r .payload "$TMP/export-primary.json") ]] || fail "key export ID differs from key export"
# what owners do with it: a KP for this service's guardian
"$SHIELDVM" guardian new owner --out "$TMP/owner.guardian" >/dev/null 2>&1
"$SHIELDVM" kp new --owner "$TMP/owner.guardian" --guardian "$TMP/export-primary.json" \
	--policy shielded --out "$TMP/kp.json" 2>/dev/null
"$SHIELDVM" kp show "$TMP/kp.json" --json | jq -e --arg id "$first" '.guardians[0].id == $id' >/dev/null ||
	fail "a KP made from 'hgsctl key export' does not name the key"
ok "key export [ID]: the signed metadata GET /v1/guardian serves; shieldvm kp new takes it"

# ---- add ----
expect 0 key add --name fabric-b --algorithm ec-p384
out_has '^key [A-Za-z0-9_-]{43} added \(fabric-b, ec-p384\)$'
second=$(sed -nE 's/^key ([A-Za-z0-9_-]+) added.*/\1/p' "$TMP/out")
expect 0 key add --algorithm rsa3072 --primary --json
out_jq '.algorithm == "rsa3072" and .primary and .enabled and .name == "hgs"'
third=$(jq -r .id "$TMP/out")
expect 0 key list --json
out_jq "[.keys[] | select(.primary)] | length == 1 and .[0].id == \"$third\""
out_jq "[.keys[].id] | sort == ([\"$first\", \"$second\", \"$third\"] | sort)"
expect 0 key export "$second"
expect 0 key export
out_jq '.payload | type == "string"'
ok "key add (ec-p384, rsa3072 --primary): one primary"

# ---- set-primary, disable, enable ----
expect 0 key set-primary "$first"
out_has "^key $first is now the primary key \(hgs, ec-p256, primary\)$"
expect 1 key disable "$first"
err_has 'hgsd refused \(conflict, HTTP 409\): .*primary'
expect 0 key disable "$third"
out_has "^key $third disabled \(hgs, rsa3072, disabled\)$"
expect 1 key set-primary "$third"
err_has 'conflict, HTTP 409'
expect 0 key enable "$third"
out_has "^key $third enabled \(hgs, rsa3072\)$"
ok "key set-primary, disable, enable; the primary cannot be disabled, a disabled key cannot be primary"

# ---- remove ----
expect 1 key remove "$second"
err_has 'conflict, HTTP 409\): .*(enabled|disable)'
expect 1 key remove "$first"
err_has 'conflict, HTTP 409\): .*primary'
expect 0 key disable "$second"
expect 0 key remove "$second"
out_has "^key $second removed$"
expect 1 key remove "$second"
err_has 'not_found, HTTP 404'
expect 1 key export "$second"
expect 0 key list --json
out_jq '(.keys | length) == 2'
ok "key remove: only a disabled, non-primary key"

# ---- usage errors ----
expect 2 key add --algorithm rsa1024
err_has "\-\-algorithm 'rsa1024'"
expect 2 key add extra
expect 2 key enable 'a/b'
err_has "key id 'a/b'"
expect 2 key enable
expect 2 key export a b
expect 2 key frobnicate
expect 2 key enable --bogus
# ids are base64url and may start with '-': operands, not options
expect 1 key enable -AAAAAAAA
err_has 'not_found, HTTP 404'
expect 1 key export -AAAAAAAA
expect 1 key remove -- -AAAAAAAA
err_has 'not_found, HTTP 404'
expect 0 key --help
out_has '^Usage: hgsctl key list'
ok "key usage errors (2)"

# ---- audit ----
expect 0 --json audit list --limit 50
out_jq '[.records[] | select(.action == "admin") | .details.op] | map(select(startswith("key-")))
	| (index("key-add") != null) and (index("key-set-primary") != null) and (index("key-disable") != null)
	  and (index("key-enable") != null) and (index("key-remove") != null)'
out_jq "any(.records[]; .details.op == \"key-remove\" and .details.key_id == \"$second\" and .result == \"pass\")"
out_jq 'any(.records[]; .details.op == "key-disable" and .result == "fail" and .details.status == 409)'
ok "every key change audited (pass and fail)"

stop_hgsd "$HGSD_PID"
