#!/usr/bin/env bash
# The admin API on the Unix socket: hosts (by EK public, EK certificate,
# host key), baselines from a captured log, rules, token verification, the
# audit log of every change, and the peer check (SO_PEERCRED) refusing a
# non-admin.
. "$(dirname "$0")/lib.sh"

: "${SHIELDVM:?SHIELDVM must point at the shieldvm binary}"
KEYLIME=$SHIELDVM_TESTDATA/quotes/keylime

# A TPM vendor CA for EK certificates, and an EK certificate it issued for
# an RSA key (what a TPM's NV holds), plus one from an untrusted CA.
mkdir -p "$TMP/ek-ca" "$TMP/pki"
(
	cd "$TMP/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -days 30 -subj "/CN=Test TPM Vendor CA" 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout rogue.key -out rogue.pem -days 30 -subj "/CN=Rogue CA" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ek.key 2>/dev/null
	openssl req -new -key ek.key -subj "/CN=tpm-ek" -out ek.csr 2>/dev/null
	openssl x509 -req -in ek.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 30 -outform DER -out ek.der 2>/dev/null
	openssl x509 -req -in ek.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial \
		-days 30 -outform DER -out ek-rogue.der 2>/dev/null
	openssl ec -in ca.key -pubout -out hostkey.pem 2>/dev/null
)
cp "$TMP/pki/ca.pem" "$TMP/ek-ca/vendor.pem"
# and swtpm's local CA (root + intermediate) with real swtpm EK certificates
SWTPM_CA=$(dirname "$0")/../tpm/data/swtpm-localca
cp "$SWTPM_CA/root.pem" "$TMP/ek-ca/swtpm-root.pem"
cp "$SWTPM_CA/issuer.pem" "$TMP/ek-ca/swtpm-issuer.pem"

start_hgsd hgs1

# ---- hosts ----
ekpub=$(b64url "$KEYLIME/ek.pub")
admin POST /v1/admin/hosts -d "{\"name\": \"node1\", \"ek_pub\": \"$ekpub\"}"
expect_status 201
jq_expect '.name == "node1" and .modes == ["tpm"] and .enabled == true
	and (.ek_name | test("^000b[0-9a-f]{64}$")) and .has_ek_pub and (.created > 0)'
ek_name=$(jq -r .ek_name "$TMP/body")
# The EK name must be what tpm2-tools computes for the same public area.
want=$("$SHIELDVM" tpm2-name "$KEYLIME/ek.pub")
[[ $want == "$ek_name" ]] || fail "EK name $ek_name, shieldvm tpm2-name says $want"
ok "host add by EK public (name $ek_name)"

admin POST /v1/admin/hosts -d "{\"name\": \"node1\", \"host_key_pem\": $(jq -Rs . "$TMP/pki/hostkey.pem")}"
expect_status 409 conflict
admin POST /v1/admin/hosts -d "{\"name\": \"node1b\", \"ek_pub\": \"$ekpub\"}"
expect_status 409 conflict
ok "duplicate name or EK: 409 conflict"

admin POST /v1/admin/hosts -d '{"name": "bad name", "ek_pub": "AAAA"}'
expect_status 400 bad_request
admin POST /v1/admin/hosts -d '{"name": "node9"}'
expect_status 400 bad_request
admin POST /v1/admin/hosts -d '{"name": "node9", "ek_pub": "not base64!"}'
expect_status 400 bad_request
admin POST /v1/admin/hosts -d '{"name": "node9", "ek_pub": "AAECAwQ"}'
expect_status 400 bad_tpm_structure
akpub=$(b64url "$KEYLIME/ak.pub")
admin POST /v1/admin/hosts -d "{\"name\": \"node9\", \"ek_pub\": \"$akpub\"}"
expect_status 400 bad_request
jq_expect '.message | test("endorsement key")'
admin POST /v1/admin/hosts -d '{"name": "node9", "host_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}'
expect_status 400 bad_request
ok "invalid registrations: 400 naming the field"

# By EK certificate: trusted vendor CA accepted, untrusted refused.
admin POST /v1/admin/hosts -d "{\"name\": \"node2\", \"ek_cert\": \"$(b64url "$TMP/pki/ek.der")\"}"
expect_status 201
jq_expect '.modes == ["tpm"] and .has_ek_cert and .has_ek_pub and (.ek_name | test("^000b"))'
# A real swtpm EK certificate alone: the EK public is derived from the TCG
# template (L-1) and must have the name of the EK that swtpm created.
admin POST /v1/admin/hosts -d "{\"name\": \"swtpm-rsa\", \"ek_cert\": \"$(b64url "$SWTPM_CA/ek-rsa.der")\"}"
expect_status 201
derived=$(jq -r .ek_name "$TMP/body")
admin POST /v1/admin/hosts/swtpm-rsa/disable
admin DELETE /v1/admin/hosts/swtpm-rsa
expect_status 204
admin POST /v1/admin/hosts -d "{\"name\": \"swtpm-rsa\", \"ek_pub\": \"$(b64url "$SWTPM_CA/ek-rsa.pub")\"}"
expect_status 201
[[ $(jq -r .ek_name "$TMP/body") == "$derived" ]] || fail "EK name from the certificate ($derived) differs from the TPM's EK ($(jq -r .ek_name "$TMP/body"))"
admin DELETE /v1/admin/hosts/swtpm-rsa
# Both together, matching: accepted. The P-384 certificate (template H-3).
admin POST /v1/admin/hosts -d "{\"name\": \"swtpm-rsa\", \"ek_pub\": \"$(b64url "$SWTPM_CA/ek-rsa.pub")\", \"ek_cert\": \"$(b64url "$SWTPM_CA/ek-rsa.der")\"}"
expect_status 201
jq_expect '.ek_name == "'"$derived"'" and .has_ek_cert'
admin POST /v1/admin/hosts -d "{\"name\": \"swtpm-ecc\", \"ek_cert\": \"$(b64url "$SWTPM_CA/ek-ecc.der")\"}"
expect_status 201
jq_expect '.ek_name | test("^000c[0-9a-f]{96}$")'
admin DELETE /v1/admin/hosts/swtpm-rsa
admin DELETE /v1/admin/hosts/swtpm-ecc
admin POST /v1/admin/hosts -d "{\"name\": \"node3\", \"ek_cert\": \"$(b64url "$TMP/pki/ek-rogue.der")\"}"
expect_status 403 ek_cert_untrusted
# A certificate together with an EK public it does not certify.
admin POST /v1/admin/hosts -d "{\"name\": \"node3\", \"ek_cert\": \"$(b64url "$TMP/pki/ek.der")\", \"ek_pub\": \"$ekpub\"}"
expect_status 400 bad_request
jq_expect '.message | test("does not certify")'
ok "host add by EK certificate: vendor CA checked"

# By host public key (host-key mode).
admin POST /v1/admin/hosts -d "{\"name\": \"node4\", \"host_key_pem\": $(jq -Rs . "$TMP/pki/hostkey.pem")}"
expect_status 201
jq_expect '.modes == ["host-key"] and .has_host_key and (.host_key_pem | startswith("-----BEGIN PUBLIC KEY-----"))'
ok "host add by host public key"

admin GET /v1/admin/hosts
expect_status 200
jq_expect '[.hosts[].name] == ["node1", "node2", "node4"]'
jq_expect 'all(.hosts[]; has("ek_pub") == false and has("modes") and has("enabled") and has("created"))'
admin GET /v1/admin/hosts/node1
expect_status 200
jq_expect '.name == "node1" and (.ek_pub | length > 0)'
admin GET /v1/admin/hosts/nobody-here
expect_status 404 not_found
ok "host list and show"

admin POST /v1/admin/hosts/node1/disable
expect_status 200
jq_expect '.enabled == false'
admin GET /v1/admin/hosts/node1
jq_expect '.enabled == false'
admin POST /v1/admin/hosts/node1/enable
expect_status 200
jq_expect '.enabled == true'
admin POST /v1/admin/hosts/ghost/enable
expect_status 404 not_found
admin DELETE /v1/admin/hosts/node4
expect_status 204
admin GET /v1/admin/hosts/node4
expect_status 404 not_found
admin DELETE /v1/admin/hosts/node4
expect_status 404 not_found
ok "host disable, enable, remove"

# ---- baselines ----
log=$SHIELDVM_TESTDATA/eventlogs/goattest__crypto_agile.bin
"$SHIELDVM" baseline capture --name ref "$log" -o "$TMP/baseline.json"
jq -c '{name: "fleet-2026", baseline: .}' "$TMP/baseline.json" >"$TMP/bl-body.json"
admin POST /v1/admin/baselines --data-binary @"$TMP/bl-body.json"
expect_status 201
jq_expect '.name == "fleet-2026" and .bank == "sha256" and .events > 0 and (.pcrs | length) > 0'
admin POST /v1/admin/baselines --data-binary @"$TMP/bl-body.json"
expect_status 409 conflict
admin POST /v1/admin/baselines -d '{"name": "broken", "baseline": {"name": "x"}}'
expect_status 400 bad_request
admin GET /v1/admin/baselines
expect_status 200
jq_expect '[.baselines[].name] == ["fleet-2026"]'
admin GET /v1/admin/baselines/fleet-2026
expect_status 200
jq_expect '.name == "fleet-2026" and .baseline.name == "fleet-2026"'
# What is stored judges like what was captured.
jq '.baseline' "$TMP/body" >"$TMP/stored.json"
"$SHIELDVM" baseline show "$TMP/stored.json" >/dev/null || fail "stored baseline does not load"
admin DELETE /v1/admin/baselines/fleet-2026
expect_status 204
admin GET /v1/admin/baselines/fleet-2026
expect_status 404 not_found
admin POST /v1/admin/baselines --data-binary @"$TMP/bl-body.json"
expect_status 201
ok "baselines: add from a captured log, list, show, remove, conflict"

# ---- rules ----
admin GET /v1/admin/rules
expect_status 200
jq_expect '(.rules | length) >= 5 and any(.rules[]; .id == "secure-boot-enabled" and .enabled)'
admin POST /v1/admin/rules/secure-boot-enabled/disable
expect_status 200
jq_expect '.id == "secure-boot-enabled" and .enabled == false and .default == true'
admin GET /v1/admin/rules
jq_expect 'any(.rules[]; .id == "secure-boot-enabled" and (.enabled | not))'
admin POST /v1/admin/rules/secure-boot-enabled/enable
expect_status 200
jq_expect '.enabled == true'
admin POST /v1/admin/rules/no-such-rule/disable
expect_status 404 not_found
ok "rules: list, disable, enable"

# ---- tokens ----
admin POST /v1/admin/tokens/verify -d '{"token": "abc.def.ghi"}'
expect_status 200
jq_expect '.valid == false and (.error | startswith("token_")) and (.message | length > 0)'
admin POST /v1/admin/tokens/verify -d '{}'
expect_status 400 bad_request
ok "tokens/verify answers with the reason"

# ---- audit ----
admin GET /v1/admin/audit
expect_status 200
jq_expect 'all(.records[]; .action == "admin" and (.details.rid | length > 0) and .details.peer_uid == 0)'
for op in host-add host-disable host-enable host-remove baseline-add baseline-remove rule-disable rule-enable; do
	jq -e --arg op "$op" 'any(.records[]; .details.op == $op and .result == "pass")' "$TMP/body" >/dev/null ||
		fail "no audit record for $op"
done
jq_expect 'any(.records[]; .details.op == "host-add" and .result == "fail" and .details.status == 409)'
jq_expect '.records | . == (sort_by(.id) | reverse)'
admin GET '/v1/admin/audit?host=node1'
jq_expect '(.records | length) > 0 and all(.records[]; .host == "node1")'
admin GET '/v1/admin/audit?limit=2'
jq_expect '.records | length == 2'
admin GET "/v1/admin/audit?since=$(($(date +%s) + 3600))"
jq_expect '.records | length == 0'
admin GET '/v1/admin/audit?limit=abc'
expect_status 400 bad_request
admin GET '/v1/admin/audit?since=-1'
expect_status 400 bad_request
ok "audit: every change recorded; host, since, limit filters"

# ---- peer check ----
n_before=$(jq '.records | length' < <(curl -sS --unix-socket "$ADMIN" 'http://hgsd/v1/admin/audit?limit=10000'))
if [[ $(id -u) == 0 ]]; then
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		curl -sS -w '\n%{http_code}' --unix-socket "$ADMIN" http://hgsd/v1/admin/hosts)
	STATUS=${out##*$'\n'}
	printf '%s' "${out%$'\n'*}" >"$TMP/body"
	expect_status 403 forbidden
	admin GET '/v1/admin/audit?limit=10000'
	jq_expect "(.records | length) == $n_before + 1"
	jq_expect '.records[0] | .result == "fail" and .details.op == "connect" and .details.peer_uid == 65534'
	grep -q '"event":"admin_denied"' "$TMP/hgs1.log" || fail "denial not logged"
	ok "non-admin peer (nobody): 403 forbidden, audited"
else
	echo "skip: peer check needs root to run curl as nobody"
fi

stop_hgsd "$HGSD_PID"
