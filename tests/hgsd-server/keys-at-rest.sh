#!/usr/bin/env bash
# Keys at rest ([keys] kek_file, docs/hgsd.md): a store made without a KEK
# holds its keys in plaintext (the control); the first start with a KEK
# seals the nonce key, the token signing key and the guardian key in place,
# after which no private key is left in the database files; tokens, the
# guardian metadata and a KP unwrap work with the sealed keys, and a
# guardian key added later is stored sealed. Every refusal leaves the store
# as it was: no KEK, another KEK, a KEK file others can read, a KEK of the
# wrong size, a sealed row changed by one character, a sealed row moved to
# another key's row. Then a rotation to a new KEK with old_kek_file.
. "$(dirname "$0")/kps-lib.sh"

DB=$TMP/state/hgsd.db

# plaintext_in_db: the database files hold a private key or a private JWK.
plaintext_in_db() {
	local f files=()
	for f in "$DB" "$DB-wal"; do
		[[ -e $f ]] && files+=("$f")
	done
	grep -a -q -E 'PRIVATE KEY|"d":"' "${files[@]}"
}

# with_kek FILE: the node's config names FILE as its KEK.
with_kek() {
	write_config hgs1
	printf '[keys]\nkek_file = %s\n' "$1" >>"$TMP/hgs1.conf"
}

# store_digest: the key rows and secret settings, to show a refusal changed
# nothing.
store_digest() {
	sqlite3 "$DB" "SELECT kid, private_pem FROM signing_key ORDER BY kid;
		SELECT id, private_json FROM guardian_key ORDER BY id;
		SELECT key, hex(value) FROM setting ORDER BY key" | sha256sum | cut -d' ' -f1
}

# refused TEXT: hgsd with the current config exits non-zero at start,
# saying TEXT, and the store is unchanged.
refused() {
	local before rc=0
	before=$(store_digest)
	"$HGSD" --foreground --config "$TMP/hgs1.conf" 2>"$TMP/refused.log" || rc=$?
	[[ $rc != 0 ]] || fail "hgsd started although: $1"
	grep -qF "$1" "$TMP/refused.log" || { cat "$TMP/refused.log" >&2; fail "hgsd's error does not say: $1"; }
	[[ $(store_digest) == "$before" ]] || fail "the store changed at a refused start ($1)"
	! grep -q '"event":"ready"' "$TMP/refused.log" || fail "hgsd served although: $1"
}

# ---- a store from before the KEK: plaintext (the control) ----
write_config hgs1
start_hgsd hgs1
grep -q '"event":"keys_at_rest_unsealed"' "$TMP/hgs1.log" || fail "no warning about keys at rest without a KEK"
http GET /v1/keys
expect_status 200
kid=$(jq -r '.keys[0].kid' "$TMP/body")
http GET /v1/guardian
expect_status 200
cp "$TMP/body" "$TMP/hgs-before.json"
stop_hgsd "$HGSD_PID"
plaintext_in_db || fail "control: no plaintext key found in a store made without a KEK"
sqlite3 "$DB" "SELECT private_pem FROM signing_key" | grep -q 'BEGIN PRIVATE KEY' ||
	fail "control: the token key is not in plaintext"
ok "without a KEK the store holds the keys in plaintext, and hgsd warns"

# ---- first start with a KEK: everything sealed in place ----
openssl rand -hex 32 >"$TMP/kek"
chmod 0400 "$TMP/kek"
kek_id=
with_kek "$TMP/kek"
start_hgsd hgs1
kek_id=$(jq -r 'select(.event == "kek") | .id' "$TMP/hgs1.log")
[[ $kek_id =~ ^[0-9a-f]{16}$ ]] || fail "no KEK id logged"
jq -s -e 'map(select(.event == "keys_sealed")) | length == 1 and
	(.[0] | .nonce_key == 1 and .token_keys == 1 and .guardian_keys == 1)' "$TMP/hgs1.log" >/dev/null || { cat "$TMP/hgs1.log" >&2; fail "keys_sealed does not count 1 + 1 + 1"; }
! grep -q '"event":"keys_at_rest_unsealed"' "$TMP/hgs1.log" || fail "warned about plaintext with a KEK"
http GET /v1/keys
expect_status 200
jq_expect ".keys | length == 1 and .[0].kid == \"$kid\""
http GET /v1/guardian
expect_status 200
same_guardian "$TMP/body" "$TMP/hgs-before.json" || fail "the guardian changed when it was sealed"
cp "$TMP/body" "$TMP/hgs.json"
[[ $(sqlite3 "$DB" "SELECT count(*) FROM signing_key WHERE private_pem NOT LIKE 'kek1:$kek_id:%'") == 0 ]] ||
	fail "a token key row is not sealed under $kek_id"
[[ $(sqlite3 "$DB" "SELECT count(*) FROM guardian_key WHERE private_json NOT LIKE 'kek1:$kek_id:%'") == 0 ]] ||
	fail "a guardian key row is not sealed under $kek_id"
[[ $(sqlite3 "$DB" "SELECT substr(value, 1, 22) FROM setting WHERE key = 'nonce_key'") == "kek1:$kek_id:" ]] ||
	fail "the nonce key is not sealed"
# the private keys' numbers live in OpenSSL's secure heap, locked when the
# memlock limit allows the 1 MiB (hgsd has dropped to the service user)
lim=$(ulimit -l)
want_locked=false
[[ $lim == unlimited || $lim -ge 1100 ]] && want_locked=true
jq -s -e --argjson l "$want_locked" 'map(select(.event == "ready")) | .[0].secure_heap |
	.size == 1048576 and .used > 0 and .locked == $l' "$TMP/hgs1.log" >/dev/null ||
	{ grep '"ready"' "$TMP/hgs1.log" >&2; fail "the keys are not in a secure heap (locked: $want_locked)"; }
ok "the first start with KEK $kek_id sealed the nonce, token and guardian keys; same kid and guardian; keys in the secure heap"

# ---- the sealed keys work: a token, a KP unwrap, a new guardian key ----
kps_host_owner
new_kp "$TMP/kp0.json" encryption-supported 0 "$TMP/hgs.json"
unwrap "$TMP/kp0.json"
expect_status 200
open_sealed
tk0=$(kps owner-tk "$TMP/owner.json" "$TMP/kp0.json")
[[ $(jq -r .tk "$TMP/sealed.json") == "$tk0" ]] || fail "the TK released with the sealed guardian key is not the owner's"
admin POST /v1/admin/guardian-keys -d '{"name": "hgs2"}'
expect_status 201
gk2=$(jq -r .id "$TMP/body")
[[ $(sqlite3 "$DB" "SELECT private_json LIKE 'kek1:$kek_id:%' FROM guardian_key WHERE id = '$gk2'") == 1 ]] ||
	fail "a guardian key added with a KEK is not stored sealed"
admin GET "/v1/admin/guardian-keys/$gk2/export"
expect_status 200
stop_hgsd "$HGSD_PID"
! plaintext_in_db || fail "a private key is still in the database files after sealing"
ok "a token, a KP unwrap and a new (sealed) guardian key with the sealed keys; no plaintext key left in the files"

start_hgsd hgs1
grep -q '"event":"ready"' "$TMP/hgs1.log" && ! grep -q '"event":"keys_sealed"' "$TMP/hgs1.log" ||
	fail "sealed again at a restart"
http GET /v1/keys
jq_expect ".keys[0].kid == \"$kid\""
stop_hgsd "$HGSD_PID"
ok "a restart with the KEK opens the sealed keys"

# ---- refusals: nothing is released, nothing in the store changes ----
write_config hgs1
refused "sealed under KEK $kek_id, and hgsd has no KEK ([keys] kek_file)"
openssl rand -hex 32 >"$TMP/kek2"
chmod 0600 "$TMP/kek2"
with_kek "$TMP/kek2"
refused "sealed under KEK $kek_id, but hgsd's KEK is"
chmod 0644 "$TMP/kek2"
refused "lets group or others at it"
head -c 31 /dev/urandom >"$TMP/kek3"
chmod 0600 "$TMP/kek3"
with_kek "$TMP/kek3"
refused "a KEK is 32 random bytes or 64 hex digits"
ok "no KEK, another KEK, a KEK others can read, a KEK of 31 bytes: each refused by name, the store unchanged"

with_kek "$TMP/kek"
cp "$DB" "$TMP/good.db"
sqlite3 "$DB" "UPDATE signing_key SET private_pem = substr(private_pem, 1, 40) ||
	(CASE substr(private_pem, 41, 1) WHEN 'A' THEN 'B' ELSE 'A' END) || substr(private_pem, 42)"
refused "does not open under KEK $kek_id"
cp "$TMP/good.db" "$DB"
# the sealed private part of hgs2 put into the primary guardian's row
sqlite3 "$DB" "UPDATE guardian_key SET private_json = (SELECT private_json FROM guardian_key WHERE id = '$gk2')
	WHERE is_primary"
refused "does not open under KEK $kek_id: it was changed, or moved from another row"
cp "$TMP/good.db" "$DB"
start_hgsd hgs1
http GET /v1/keys
jq_expect ".keys[0].kid == \"$kid\""
stop_hgsd "$HGSD_PID"
ok "a sealed row changed by one character, or moved to another key's row, is refused by name; the good store starts"

# ---- rotation: old_kek_file opens, everything is sealed again under the new KEK ----
openssl rand -hex 32 >"$TMP/kek-new"
chmod 0600 "$TMP/kek-new"
write_config hgs1
printf '[keys]\nkek_file = %s\nold_kek_file = %s\n' "$TMP/kek" "$TMP/kek" >>"$TMP/hgs1.conf"
refused "the old KEK is the KEK itself ($kek_id)"
write_config hgs1
printf '[keys]\nold_kek_file = %s\n' "$TMP/kek" >>"$TMP/hgs1.conf"
refused "old_kek_file needs kek_file"
write_config hgs1
printf '[keys]\nkek_file = %s\nold_kek_file = %s\n' "$TMP/kek-new" "$TMP/kek" >>"$TMP/hgs1.conf"
start_hgsd hgs1
new_id=$(jq -r 'select(.event == "kek") | .id' "$TMP/hgs1.log")
jq -s -e --arg old "$kek_id" 'map(select(.event == "kek")) | .[0].replaces == $old' "$TMP/hgs1.log" >/dev/null ||
	fail "the kek event does not name the KEK it replaces"
jq -s -e 'map(select(.event == "keys_sealed")) | length == 1 and
	(.[0] | .nonce_key == 1 and .token_keys == 1 and .guardian_keys == 2)' "$TMP/hgs1.log" >/dev/null ||
	{ cat "$TMP/hgs1.log" >&2; fail "the rotation did not seal 1 + 1 + 2 keys again"; }
http GET /v1/keys
jq_expect ".keys[0].kid == \"$kid\""
http GET /v1/guardian
expect_status 200
same_guardian "$TMP/body" "$TMP/hgs.json" || fail "the guardian changed in the rotation"
stop_hgsd "$HGSD_PID"
[[ $(sqlite3 "$DB" "SELECT count(*) FROM signing_key WHERE private_pem NOT LIKE 'kek1:$new_id:%'") == 0 &&
	$(sqlite3 "$DB" "SELECT count(*) FROM guardian_key WHERE private_json NOT LIKE 'kek1:$new_id:%'") == 0 &&
	$(sqlite3 "$DB" "SELECT substr(value, 1, 22) FROM setting WHERE key = 'nonce_key'") == "kek1:$new_id:" ]] ||
	fail "not every key is sealed under the new KEK $new_id"
with_kek "$TMP/kek-new"
start_hgsd hgs1
http GET /v1/keys
jq_expect ".keys[0].kid == \"$kid\""
stop_hgsd "$HGSD_PID"
with_kek "$TMP/kek"
refused "sealed under KEK $new_id, but hgsd's KEK is $kek_id"
ok "rotation from KEK $kek_id to $new_id with old_kek_file: every key sealed again, same keys; the old KEK alone no longer opens the store"
