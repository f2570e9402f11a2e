#!/usr/bin/env bash
# Guardian key rotation: a new primary key is what GET /v1/guardian serves;
# KPs wrapped for the old key still unwrap while it is enabled; disabled,
# it releases nothing (kp_key_disabled), while a KP for both keys still
# unwraps with the new one; enabled again it works; removal only of a
# disabled, non-primary key, after which its KPs are not ours at all. A
# second node on the same store picks the changes up within the TTL, and
# every admin change is audited.
. "$(dirname "$0")/kps-lib.sh"
: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary}"

kps_setup
old_id=$(sqlite3 "$TMP/state/hgsd.db" "SELECT id FROM guardian_key WHERE is_primary")
cp "$TMP/hgs.json" "$TMP/old.json"
new_kp "$TMP/kp-old.json" encryption-supported 0 "$TMP/old.json"
# a second node on the same store
HGS1_BASE=$BASE_URL HGS1_ADMIN=$ADMIN
start_hgsd hgs2
HGS2_BASE=$BASE_URL
BASE_URL=$HGS1_BASE ADMIN=$HGS1_ADMIN
BASE_URL=$HGS2_BASE http GET /v1/guardian
same_guardian "$TMP/body" "$TMP/old.json" || fail "the two nodes serve different guardian keys"
ok "two nodes, one primary guardian key ($old_id)"

# ---- a new primary ----
admin POST /v1/admin/guardian-keys -d '{"name": "hgs-2026", "algorithm": "ec-p384", "primary": true}'
expect_status 201
jq_expect '.name == "hgs-2026" and .algorithm == "ec-p384" and .primary and .enabled and (.id | length == 43)'
new_id=$(jq -r .id "$TMP/body")
last_audit admin
audit_expect ".result == \"pass\" and .details.op == \"key-add\" and .details.key_id == \"$new_id\" and .details.primary"
http GET /v1/guardian
expect_status 200
cp "$TMP/body" "$TMP/new.json"
same_guardian "$TMP/new.json" "$TMP/old.json" && fail "GET /v1/guardian still serves the old key"
admin GET "/v1/admin/guardian-keys/$new_id/export"
expect_status 200
same_guardian "$TMP/body" "$TMP/new.json" || fail "export differs from GET /v1/guardian"
sleep 1.2
BASE_URL=$HGS2_BASE http GET /v1/guardian
same_guardian "$TMP/body" "$TMP/new.json" || fail "node 2 did not pick up the new primary within the TTL"
ok "new primary (ec-p384): served by this node at once and by the other within the TTL"

new_kp "$TMP/kp-new.json" encryption-supported 0 "$TMP/new.json"
new_kp "$TMP/kp-both.json" encryption-supported 0 "$TMP/old.json" "$TMP/new.json"
unwrap "$TMP/kp-old.json"
expect_status 200
last_audit unwrap
audit_expect ".details.key_id == \"$old_id\""
unwrap "$TMP/kp-new.json"
expect_status 200
last_audit unwrap
audit_expect ".details.key_id == \"$new_id\""
# the next KP is sealed by the key that unwrapped and stays wrapped for all
open_sealed
kps digest "$TMP/next.json" >/dev/null
ok "KPs for the old key still unwrap while it is enabled; new KPs use the new key"

# ---- disable the old key ----
admin POST "/v1/admin/guardian-keys/$new_id/disable"
expect_status 409 conflict
admin POST "/v1/admin/guardian-keys/$old_id/disable"
expect_status 200
jq_expect '.enabled == false and .primary == false'
last_audit admin
audit_expect ".details.op == \"key-disable\" and .details.key_id == \"$old_id\" and .result == \"pass\""
unwrap "$TMP/kp-old.json"
expect_refused 403 kp_key_disabled unwrap
unwrap "$TMP/kp-both.json"
expect_status 200
last_audit unwrap
audit_expect ".details.key_id == \"$new_id\""
sleep 1.2
BASE_URL=$HGS2_BASE unwrap "$TMP/kp-old.json"
expect_status 403 kp_key_disabled
ok "a disabled key releases nothing (on both nodes); a KP for both keys unwraps with the enabled one"

# The owner moves the VM to the new key with the real CLI (kp grant: same
# TK, next generation), from the metadata the service serves.
"$SHIELDVM" kp grant "$TMP/kp-old.json" --owner "$TMP/owner.json" --guardian "$TMP/new.json" \
	--out "$TMP/kp-granted.json" >/dev/null
unwrap "$TMP/kp-granted.json"
expect_status 200
open_sealed
[[ $(jq -r .tk "$TMP/sealed.json") == $(kps owner-tk "$TMP/owner.json" "$TMP/kp-old.json") ]] ||
	fail "kp grant changed the TK"
jq -e '.generation == 1' "$TMP/sealed.json" >/dev/null || fail "the granted KP is not generation 1"
# and a KP made by 'shieldvm kp new' for the served metadata unwraps
"$SHIELDVM" kp new --owner "$TMP/owner.json" --guardian "$TMP/new.json" --policy encryption-supported \
	--out "$TMP/kp-cli.json" >/dev/null
unwrap "$TMP/kp-cli.json"
expect_status 200
ok "shieldvm kp grant moves a VM to the new key; shieldvm kp new KPs unwrap"

admin POST "/v1/admin/guardian-keys/$old_id/primary"
expect_status 409 conflict
admin POST "/v1/admin/guardian-keys/$old_id/enable"
expect_status 200
unwrap "$TMP/kp-old.json"
expect_status 200
ok "enabled again, the old key unwraps again; a disabled key cannot become primary"

# ---- removal ----
admin DELETE "/v1/admin/guardian-keys/$old_id"
expect_status 409 conflict
admin DELETE "/v1/admin/guardian-keys/$new_id"
expect_status 409 conflict
admin POST "/v1/admin/guardian-keys/$old_id/disable"
expect_status 200
admin DELETE "/v1/admin/guardian-keys/$old_id"
expect_status 204
last_audit admin
audit_expect ".details.op == \"key-remove\" and .details.key_id == \"$old_id\" and .details.status == 204"
admin DELETE "/v1/admin/guardian-keys/$old_id"
expect_status 404 not_found
unwrap "$TMP/kp-old.json"
expect_refused 403 kp_no_guardian unwrap
admin GET /v1/admin/guardian-keys
expect_status 200
jq_expect "(.keys | length) == 1 and .keys[0].id == \"$new_id\" and .keys[0].primary
	and (.keys[0] | has(\"private_json\") | not)"
ok "only a disabled, non-primary key is removed; its KPs are then not ours"

# ---- admin input errors ----
admin POST /v1/admin/guardian-keys -d '{"algorithm": "rsa1024"}'
expect_status 400 bad_request
admin POST /v1/admin/guardian-keys -d '{"primary": "yes"}'
expect_status 400 bad_request
admin POST /v1/admin/guardian-keys -d '{"bits": 4096}'
expect_status 400 bad_request
admin GET /v1/admin/guardian-keys/no%2Fsuch
expect_status 404 not_found
admin POST /v1/admin/guardian-keys/AAAA/enable
expect_status 404 not_found
last_audit admin
audit_expect '.result == "fail" and .details.op == "key-enable" and .details.status == 404'
http GET /v1/admin/guardian-keys
expect_status 404 not_found
ok "admin input errors; the admin routes are not on the host listener"

# ---- a restart keeps the keys (no new first key) ----
stop_all
start_hgsd hgs1
http GET /v1/guardian
same_guardian "$TMP/body" "$TMP/new.json" || fail "restart changed the primary key"
[[ $(sqlite3 "$TMP/state/hgsd.db" "SELECT count(*) FROM guardian_key") == 1 ]] || fail "restart added a key"
ok "restart: same primary, no new key"
