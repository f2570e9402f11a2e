#!/usr/bin/env bash
# Rejections of the key protection service, one per meson test (the case
# is the first argument). Each refusal must carry its documented status and
# reason and be audited with that reason; nothing sealed is returned.
. "$(dirname "$0")/kps-lib.sh"

case_name=${1:?usage: kps-reject.sh CASE}
kps_setup
new_kp "$TMP/kp0.json" encryption-supported 0 "$TMP/hgs.json"
now=$(date +%s)

# tamper FILTER: $TMP/kp0.json with one base64url member changed (its first
# character replaced) into $TMP/bad.json.
tamper() {
	jq -c "$1 |= (if startswith(\"A\") then \"B\" + .[1:] else \"A\" + .[1:] end)" \
		"$TMP/kp0.json" >"$TMP/bad.json"
	cmp -s "$TMP/kp0.json" "$TMP/bad.json" && fail "tampering changed nothing"
	return 0
}

no_secret() {
	jq -e 'has("sealed") or has("next_kp") | not' "$TMP/body" >/dev/null ||
		fail "a refusal carried key material"
}

case $case_name in
foreign-token)
	# A token in the right form, signed by another service's key.
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/other.pem" 2>/dev/null
	kps token "$TMP/other.pem" hk1 "$TMP/tk.pub.jwk" host-key warning "$now" $((now + 3600)) >"$TMP/foreign"
	unwrap "$TMP/kp0.json" "$TMP/foreign"
	expect_refused 401 token_invalid unwrap
	# and a second hgsd with its own store: its real token is foreign here
	write_config hgs2
	sed -i "s#uri = sqlite:.*#uri = sqlite:$TMP/state/other.db#" "$TMP/hgs2.conf"
	saved_base=$BASE_URL saved_admin=$ADMIN
	start_hgsd hgs2
	admin POST /v1/admin/hosts -d "{\"name\": \"hk1\", \"host_key_pem\": $(jq -Rs . "$TMP/host.pub")}"
	expect_status 201
	host_key_token hk1 "$TMP/token2"
	BASE_URL=$saved_base ADMIN=$saved_admin
	unwrap "$TMP/kp0.json" "$TMP/token2"
	expect_refused 401 token_invalid unwrap
	# garbage
	echo 'abc.def.ghi' >"$TMP/garbage"
	unwrap "$TMP/kp0.json" "$TMP/garbage"
	expect_refused 401 token_invalid unwrap
	;;
expired-token)
	kps token "$TMP/token-key.pem" hk1 "$TMP/tk.pub.jwk" host-key warning \
		$((now - 7200)) $((now - 3600)) >"$TMP/expired"
	unwrap "$TMP/kp0.json" "$TMP/expired"
	expect_refused 401 token_expired unwrap
	# an unverified token names no host for the record
	audit_expect '.host == "" and (.details.kp_digest | length == 43)'
	;;
no-guardian)
	kps owner other-fabric "$TMP/other-guardian.json" >/dev/null
	kps meta "$TMP/other-guardian.json" >"$TMP/other-meta.json"
	new_kp "$TMP/kp-other.json" encryption-supported 0 "$TMP/other-meta.json"
	unwrap "$TMP/kp-other.json"
	expect_refused 403 kp_no_guardian unwrap
	audit_expect ".details.vm_id == \"$VM_ID\""
	;;
tampered-ciphertext)
	tamper .wrap.ciphertext
	unwrap "$TMP/bad.json"
	expect_refused 403 kp_signature_invalid unwrap
	;;
tampered-header)
	tamper .wrap.protected
	unwrap "$TMP/bad.json"
	[[ $STATUS == 400 ]] && expect_refused 400 kp_malformed unwrap ||
		expect_refused 403 kp_signature_invalid unwrap
	;;
tampered-signature)
	tamper .descriptor.signature
	unwrap "$TMP/bad.json"
	expect_refused 403 kp_signature_invalid unwrap
	tamper .seal.signature
	unwrap "$TMP/bad.json"
	expect_refused 403 kp_signature_invalid unwrap
	;;
tampered-recipient)
	# Encrypted keys are outside the signed digest: changing ours leaves
	# a well-signed KP that this service cannot decrypt.
	hgs_id=$(sqlite3 "$TMP/state/hgsd.db" "SELECT id FROM guardian_key WHERE is_primary")
	jq -c --arg id "$hgs_id" '(.wrap.recipients[] | select(.header.kid == $id) | .encrypted_key) |=
		(if startswith("A") then "B" + .[1:] else "A" + .[1:] end)' "$TMP/kp0.json" >"$TMP/bad.json"
	cmp -s "$TMP/kp0.json" "$TMP/bad.json" && fail "tampering changed nothing"
	unwrap "$TMP/bad.json"
	expect_refused 403 kp_decrypt_failed unwrap
	;;
shielded-host-key)
	new_kp "$TMP/kp-sh.json" shielded 0 "$TMP/hgs.json"
	unwrap "$TMP/kp-sh.json"
	expect_refused 403 policy_not_satisfied unwrap
	# a TPM-mode token that is only "warning" is not enough either
	kps token "$TMP/token-key.pem" hk1 "$TMP/tk.pub.jwk" tpm warning "$now" $((now + 3600)) >"$TMP/tpm-warn"
	unwrap "$TMP/kp-sh.json" "$TMP/tpm-warn"
	expect_refused 403 policy_not_satisfied unwrap
	# the same shielded KP with an affirming TPM-mode token is released
	kps token "$TMP/token-key.pem" hk1 "$TMP/tk.pub.jwk" tpm affirming "$now" $((now + 3600)) >"$TMP/tpm-ok"
	unwrap "$TMP/kp-sh.json" "$TMP/tpm-ok"
	expect_status 200
	# a contraindicated host gets nothing, whatever the policy
	kps token "$TMP/token-key.pem" hk1 "$TMP/tk.pub.jwk" tpm contraindicated "$now" $((now + 3600)) >"$TMP/tpm-bad"
	unwrap "$TMP/kp0.json" "$TMP/tpm-bad"
	expect_refused 403 policy_not_satisfied unwrap
	;;
disabled-key)
	admin POST /v1/admin/guardian-keys -d '{"name": "hgs-2", "primary": true}'
	expect_status 201
	old=$(sqlite3 "$TMP/state/hgsd.db" "SELECT id FROM guardian_key WHERE NOT is_primary")
	admin POST "/v1/admin/guardian-keys/$old/disable"
	expect_status 200
	unwrap "$TMP/kp0.json"
	expect_refused 403 kp_key_disabled unwrap
	;;
older-generation)
	unwrap "$TMP/kp0.json"
	expect_status 200
	open_sealed
	commit "$TMP/next.json" "$(jq -r .next_tk "$TMP/sealed.json")"
	expect_status 200
	unwrap "$TMP/kp0.json"
	expect_refused 409 kp_rolled_back unwrap
	;;
same-generation)
	unwrap "$TMP/kp0.json"
	expect_status 200
	open_sealed
	commit "$TMP/next.json" "$(jq -r .next_tk "$TMP/sealed.json")"
	expect_status 200
	# another owner's VM with the same id is not blocked by this record
	cp "$TMP/owner.json" "$TMP/alice.json"
	kps owner mallory "$TMP/owner.json" >/dev/null
	new_kp "$TMP/kp-m.json" encryption-supported 0 "$TMP/hgs.json"
	unwrap "$TMP/kp-m.json"
	expect_status 200
	cp "$TMP/alice.json" "$TMP/owner.json"
	# the owner makes another generation-1 KP (another TK, another digest)
	new_kp "$TMP/kp1b.json" encryption-supported 1 "$TMP/hgs.json"
	unwrap "$TMP/kp1b.json"
	expect_refused 409 kp_rolled_back unwrap
	commit "$TMP/kp1b.json" "$(kps owner-tk "$TMP/owner.json" "$TMP/kp1b.json")"
	expect_refused 409 kp_rolled_back unwrap-commit
	;;
wrong-mac)
	unwrap "$TMP/kp0.json"
	expect_status 200
	open_sealed
	commit "$TMP/next.json" "$(kps owner-tk "$TMP/owner.json" "$TMP/kp0.json")"
	expect_refused 403 commit_mac_invalid unwrap-commit
	jq -n --rawfile t "$TMP/token" --slurpfile k "$TMP/next.json" \
		'{token: ($t | rtrimstr("\n")), kp: $k[0], mac: "AAAA"}' >"$TMP/req.json"
	http POST /v1/unwrap/commit --data-binary @"$TMP/req.json"
	expect_refused 400 invalid_request unwrap-commit
	[[ -z $(sqlite3 "$TMP/state/hgsd.db" "SELECT generation FROM vm_rollback") ]] ||
		fail "a refused commit was recorded"
	;;
disabled-host)
	admin POST /v1/admin/hosts/hk1/disable
	expect_status 200
	unwrap "$TMP/kp0.json"
	expect_refused 403 host_disabled unwrap
	audit_expect '.host == "hk1"'
	kps token "$TMP/token-key.pem" ghost "$TMP/tk.pub.jwk" host-key warning "$now" $((now + 3600)) >"$TMP/ghost"
	unwrap "$TMP/kp0.json" "$TMP/ghost"
	expect_refused 403 host_unknown unwrap
	;;
malformed)
	http POST /v1/unwrap -d '{"token": '
	expect_refused 400 malformed_json unwrap
	http POST /v1/unwrap/commit -d '[1, 2]'
	expect_refused 400 malformed_json unwrap-commit
	http POST /v1/unwrap -d '{"token": "a", "token": "b"}'
	expect_refused 400 malformed_json unwrap
	http POST /v1/unwrap -d '{"kp": {}}'
	expect_refused 400 invalid_request unwrap
	http POST /v1/unwrap -d "{\"token\": \"$(cat "$TMP/token")\", \"kp\": \"text\"}"
	expect_refused 400 invalid_request unwrap
	http POST /v1/unwrap -d "{\"token\": \"$(cat "$TMP/token")\", \"kp\": {}, \"extra\": 1}"
	expect_refused 400 invalid_request unwrap
	http POST /v1/unwrap -d "{\"token\": \"$(cat "$TMP/token")\", \"kp\": {\"type\": \"shieldvm-kp\"}}"
	expect_refused 400 kp_malformed unwrap
	http GET /v1/unwrap
	expect_status 405 method_not_allowed
	;;
oversize)
	# over max_body (64 KiB here): refused before parsing
	jq -n --rawfile t "$TMP/token" --slurpfile k "$TMP/kp0.json" \
		'{token: ($t | rtrimstr("\n")), kp: ($k[0] + {pad: ("x" * 70000)})}' >"$TMP/big.json"
	http POST /v1/unwrap --data-binary @"$TMP/big.json"
	expect_status 413 payload_too_large
	http POST /v1/unwrap/commit -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big.json"
	expect_status 413 payload_too_large
	;;
audit-down)
	# A release the audit log cannot record is not made (fail closed).
	sqlite3 "$TMP/state/hgsd.db" "CREATE TRIGGER no_pass BEFORE INSERT ON audit
		WHEN NEW.result = 'pass' AND NEW.action LIKE 'unwrap%'
		BEGIN SELECT RAISE(ABORT, 'audit log down'); END;"
	unwrap "$TMP/kp0.json"
	expect_status 503 unavailable
	no_secret
	grep -q '"event":"audit_failed"' "$TMP/hgs1.log" || fail "no audit_failed log line"
	sqlite3 "$TMP/state/hgsd.db" "DROP TRIGGER no_pass"
	unwrap "$TMP/kp0.json"
	expect_status 200
	open_sealed
	sqlite3 "$TMP/state/hgsd.db" "CREATE TRIGGER no_pass BEFORE INSERT ON audit
		WHEN NEW.result = 'pass' AND NEW.action LIKE 'unwrap%'
		BEGIN SELECT RAISE(ABORT, 'audit log down'); END;"
	commit "$TMP/next.json" "$(jq -r .next_tk "$TMP/sealed.json")"
	expect_status 503 unavailable
	sqlite3 "$TMP/state/hgsd.db" "DROP TRIGGER no_pass"
	commit "$TMP/next.json" "$(jq -r .next_tk "$TMP/sealed.json")"
	expect_status 200
	# and refusals go on being refused
	unwrap "$TMP/kp0.json"
	expect_refused 409 kp_rolled_back unwrap
	;;
*)
	fail "unknown case $case_name"
	;;
esac
no_secret
ok "$case_name"
