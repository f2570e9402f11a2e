#!/usr/bin/env bash
# The key protection service end to end on loopback: GET /v1/guardian, an
# owner's KP for it, POST /v1/unwrap with a real health token (host-key
# mode), the sealed answer opened with the transport key's private half and
# checked against what the owner can unwrap offline, the commit of the next
# generation, idempotent commits, the rolled KP unwrapping, the old one
# refused, and the audit trail of each decision.
. "$(dirname "$0")/kps-lib.sh"

kps_setup

# ---- GET /v1/guardian ----
jq -e '(.payload | type == "string") and (.protected | type == "string") and (.signature | type == "string")' \
	"$TMP/hgs.json" >/dev/null || fail "GET /v1/guardian is not a flattened JWS"
curl -sS -D "$TMP/headers" -o /dev/null "$BASE_URL/v1/guardian"
grep -qi '^content-type: application/json' "$TMP/headers" || fail "GET /v1/guardian: not application/json"
hgs_id=$(sqlite3 "$TMP/state/hgsd.db" "SELECT id FROM guardian_key WHERE is_primary")
[[ -n $hgs_id ]] || fail "no primary guardian key recorded"
payload=$(jq -r .payload "$TMP/hgs.json" | tr '_-' '/+')
while ((${#payload} % 4)); do payload+="="; done
printf '%s' "$payload" | base64 -d | jq -e --arg id "$hgs_id" \
	'.type == "shieldvm-guardian" and .id == $id and .algorithm == "ec-p256"
	 and (.encryption | has("d") | not) and (.signing | has("d") | not)' >/dev/null ||
	fail "the metadata is not the primary key's public guardian"
admin GET /v1/guardian
expect_status 404
ok "GET /v1/guardian: the primary key's signed public metadata ($hgs_id)"

# ---- unwrap ----
new_kp "$TMP/kp0.json" encryption-supported 0 "$TMP/hgs.json"
read -r d0 _ < <(kps digest "$TMP/kp0.json")
unwrap "$TMP/kp0.json"
expect_status 200
jq_expect ".vm_id == \"$VM_ID\" and .generation == 0 and .next_generation == 1
	and (.sealed | split(\".\") | length == 5) and (.next_kp | type == \"object\")"
open_sealed
read -r d1 g1 < <(kps digest "$TMP/next.json")
[[ $g1 == 1 ]] || fail "next KP has generation $g1"
tk0=$(kps owner-tk "$TMP/owner.json" "$TMP/kp0.json")
tk1=$(kps owner-tk "$TMP/owner.json" "$TMP/next.json")
[[ $tk0 != "$tk1" ]] || fail "the next KP reuses the TK"
jq -e --arg vm "$VM_ID" --arg d0 "$d0" --arg d1 "$d1" --arg tk0 "$tk0" --arg tk1 "$tk1" \
	'.vm_id == $vm and .generation == 0 and .kp_digest == $d0 and .tk == $tk0
	 and .next_generation == 1 and .next_kp_digest == $d1 and .next_tk == $tk1
	 and (keys | length == 7)' "$TMP/sealed.json" >/dev/null ||
	{ jq 'del(.tk, .next_tk)' "$TMP/sealed.json" >&2; fail "sealed plaintext does not match the KPs"; }
ok "unwrap: sealed to the token's key; TK and next TK equal what the owner unwraps offline"

last_audit unwrap
audit_expect ".result == \"pass\" and .host == \"hk1\" and .details.vm_id == \"$VM_ID\"
	and .details.kp_digest == \"$d0\" and .details.generation == 0
	and .details.next_kp_digest == \"$d1\" and .details.key_id == \"$hgs_id\""
grep -q "$tk0" "$TMP/hgs1.log" && fail "the TK appears in hgsd's log"
sqlite3 "$TMP/state/hgsd.db" "SELECT details FROM audit" | grep -q "$tk0" && fail "the TK appears in the audit log"
ok "unwrap audited (host, vm_id, KP digest, key), no TK in logs or audit"

# Before any commit, unwrapping generation 0 again works (a host that
# crashed before committing retries, or a second host starts the VM): each
# unwrap rolls to another generation-1 KP. Only one of them can be
# committed; the other host's commit is refused.
unwrap "$TMP/kp0.json"
expect_status 200
cp "$TMP/sealed.json" "$TMP/sealed-a.json"
cp "$TMP/next.json" "$TMP/kp1-a.json"
open_sealed
cp "$TMP/next.json" "$TMP/kp1-b.json"
read -r d1b _ < <(kps digest "$TMP/kp1-b.json")
[[ $d1b != "$d1" ]] || fail "two unwraps rolled to the same KP"

# ---- commit ----
cp "$TMP/kp1-a.json" "$TMP/kp1.json"
commit "$TMP/kp1.json" "$tk1"
expect_status 200
jq_expect ".vm_id == \"$VM_ID\" and .generation == 1 and .committed == true"
last_audit unwrap-commit
audit_expect ".result == \"pass\" and .host == \"hk1\" and .details.kp_digest == \"$d1\" and .details.generation == 1"
[[ $(sqlite3 "$TMP/state/hgsd.db" "SELECT generation FROM vm_rollback WHERE vm_id = '$VM_ID'") == 1 ]] ||
	fail "rollback record not written"
commit "$TMP/kp1.json" "$tk1"
expect_status 200
commit "$TMP/kp1-b.json" "$(jq -r .next_tk "$TMP/sealed.json")"
expect_refused 409 kp_rolled_back unwrap-commit
unwrap "$TMP/kp1-b.json"
expect_refused 409 kp_rolled_back unwrap
ok "commit of generation 1 (and again: idempotent); the other generation-1 KP is refused"

# The committed generation unwraps; the older one is refused.
unwrap "$TMP/kp1.json"
expect_status 200
open_sealed
jq -e '.generation == 1 and .next_generation == 2' "$TMP/sealed.json" >/dev/null || fail "generation 1 unwrap"
unwrap "$TMP/kp0.json"
expect_refused 409 kp_rolled_back unwrap
audit_expect ".details.generation == 0 and .details.kp_digest == \"$d0\""
ok "after the commit: generation 1 unwraps, generation 0 answers 409 kp_rolled_back"

# Roll on: commit generation 2, then generation 1 is refused too.
cp "$TMP/next.json" "$TMP/kp2.json"
tk2=$(jq -r .next_tk "$TMP/sealed.json")
commit "$TMP/kp2.json" "$tk2"
expect_status 200
unwrap "$TMP/kp1.json"
expect_refused 409 kp_rolled_back unwrap
commit "$TMP/kp1.json" "$tk1"
expect_refused 409 kp_rolled_back unwrap-commit
ok "generation 2 committed; generation 1 refused for unwrap and commit"

# A commit is possible only with the TK the unwrap released.
unwrap "$TMP/kp2.json"
expect_status 200
open_sealed
cp "$TMP/next.json" "$TMP/kp3.json"
commit "$TMP/kp3.json" "$(jq -r .tk "$TMP/sealed.json")"
expect_refused 403 commit_mac_invalid unwrap-commit
commit "$TMP/kp3.json" "$(jq -r .next_tk "$TMP/sealed.json")"
expect_status 200
ok "commit MAC must come from the next TK"

# Transport keys of every kind a token may carry: the answer is sealed to
# each and opens with its private half only.
cp "$TMP/tk.jwk" "$TMP/tk-p256.jwk"
for kind in ec-p384 rsa; do
	kps jwk-gen "$kind" >"$TMP/tk.jwk"
	jq -c 'del(.d, .p, .q, .dp, .dq, .qi)' "$TMP/tk.jwk" >"$TMP/tk.pub.jwk"
	host_key_token hk1 "$TMP/token-$kind"
	unwrap "$TMP/kp3.json" "$TMP/token-$kind"
	expect_status 200
	open_sealed
	jq -e '.generation == 3' "$TMP/sealed.json" >/dev/null || fail "$kind: sealed plaintext"
	jq -r .sealed "$TMP/body" >"$TMP/sealed.jwe"
	! kps open "$TMP/sealed.jwe" "$TMP/tk-p256.jwk" >/dev/null 2>&1 || fail "$kind: another key opened the answer"
done
ok "sealed to EC P-384 and RSA transport keys too; another key cannot open it"
