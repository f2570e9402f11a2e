#!/usr/bin/env bash
# Refusals of key release through the real agent, one per meson test:
# every refusal reaches `shieldvm host unwrap` as exit 1 with hgsd's
# status and reason, is audited, and leaves the VM key directory as it was.
#   reject.sh CASE
# Some cases forge tokens with the token key read from the store: keys in
# plaintext here (tests/hgsd-server/keys-at-rest.sh covers the KEK).
HGSD_KEK=0
. "$(dirname "$0")/lib.sh"

# tamper FILTER IN OUT: one base64url member changed (first character).
tamper() {
	jq -c "$1 |= (if startswith(\"A\") then \"B\" + .[1:] else \"A\" + .[1:] end)" "$2" >"$3"
	cmp -s "$2" "$3" && fail "tampering changed nothing"
	chmod 600 "$3"
}

# unchanged: the VM directory is as the fixture left it.
unchanged() {
	[[ $(dir_state "$W/vm") == "kp" ]] || fail "the VM directory changed: $(dir_state "$W/vm")"
	cmp -s "$W/vm/kp" "$W/kp0" || fail "kp changed"
}

fixture_kp0() {
	kps_fixture
	cp "$W/vm/kp" "$W/kp0"
}

# A token from another HGS (its own store and signing keys), bound to this
# host's transport key: refused as invalid; the agent then attests with
# its own hgsd and the start goes through.
case_token_other_hgs() {
	fixture_kp0
	hgsd_up hgs2
	tk_jwk host "$W/tk.jwk"
	host_key_token edge "$W/tk.jwk" "$W/other.jwt"
	use_hgsd hgs1
	put_token host "$W/other.jwt"
	sv host unwrap "$W/vm" --no-attest --json --quiet
	refused_expect 401 token_invalid
	jq -e '.message | test("signature|kid|key")' "$W/sv.out" >/dev/null ||
		{ cat "$W/sv.out" >&2; fail "refused for another reason than its signing key"; }
	audit_newest unwrap fail token_invalid
	unchanged
	ok "a token signed by another HGS: 401 token_invalid, audited, directory untouched"
	start
	start_expect '.attested == true and .committed == true and .generation == 0'
	ok "without --no-attest the agent attests with its own hgsd and starts the VM"
}

# An expired token (signed with this hgsd's own key, as read from its
# store): 401 token_expired; the agent renews it by itself.
case_token_expired() {
	fixture_kp0
	sqlite3 "$TMP/state-hgs1/hgsd.db" "SELECT private_pem FROM signing_key WHERE is_primary" \
		>"$W/token-key.pem"
	tk_jwk host "$W/tk.jwk"
	now=$(date +%s)
	"$KPS_TOOL" token "$W/token-key.pem" host "$W/tk.jwk" tpm affirming \
		$((now - 7200)) $((now - 3600)) >"$W/expired.jwt"
	put_token host "$W/expired.jwt"
	sv host unwrap "$W/vm" --no-attest --json --quiet
	refused_expect 401 token_expired
	audit_newest unwrap fail token_expired
	unchanged
	ok "an expired token: 401 token_expired, audited"
	start
	start_expect '.attested == true and .committed == true'
	ok "the agent attests again by itself (token expired) and starts the VM"
}

# A token stolen from host A, used by host B: hgsd releases (it cannot know
# who asks), but sealed to A's transport key. B's agent refuses the answer
# (kid is not its key) and B's TPM cannot open it: TPM2_RSA_Decrypt fails.
# A's TPM opens the very same answer.
case_token_other_host() {
	kps_fixture rsa
	cp "$W/vm/kp" "$W/kp0"
	agent_host thief rsa
	put_token thief "$W/agent-host/token.jwt"
	sv thief unwrap "$W/kp0" --no-attest --json --quiet
	[[ $SV_RC == 3 ]] || { cat "$W/sv.out" "$W/sv.err" >&2; fail "expected exit 3, got $SV_RC"; }
	grep -q "does not open with this host's transport key" "$W/sv.err" ||
		{ cat "$W/sv.err" >&2; fail "message"; }
	audit_newest unwrap pass
	ok "host B with host A's token: hgsd released, B's agent refuses the answer ($(head -c 160 "$W/sv.err"))"

	unwrap_raw "$W/kp0" "$W/agent-host/token.jwt"
	expect_status 200
	jq -r .sealed "$TMP/body" >"$W/sealed.jwe"
	"$E2E_KPS_TOOL" open --tcti "$TCTI_thief" --tk "$W/agent-thief/transport.key" \
		--jwe "$W/sealed.jwe" --no-kid-check >"$W/thief.json" && fail "B's TPM opened A's answer"
	jq -e '.ok == false and .errno == "EKEYREJECTED"' "$W/thief.json" >/dev/null ||
		{ cat "$W/thief.json" >&2; fail "B's TPM: expected EKEYREJECTED"; }
	ok "B's TPM refuses A's sealed answer: $(jq -r .message "$W/thief.json" | head -c 200)"
	"$E2E_KPS_TOOL" open --tcti "$TCTI_host" --tk "$W/agent-host/transport.key" \
		--jwe "$W/sealed.jwe" >"$W/owner.json.out" || { cat "$W/owner.json.out" >&2; fail "A's TPM"; }
	tk=$(owner_tk "$W/owner.json" "$W/kp0")
	jq -e --arg fp "$("$E2E_KPS_TOOL" tk-fingerprint "$tk")" '.ok and .tk_fingerprint == $fp' \
		"$W/owner.json.out" >/dev/null || fail "A's TPM opened another TK"
	ok "A's TPM opens the same answer: the owner's TK"
}

# A KP without this service's guardian (only another fabric's).
case_kp_no_guardian() {
	fixture_kp0
	owner_new fabric2 "$W/fabric2.json"
	guardian_meta "$W/fabric2.json" "$W/fabric2.meta"
	kp_new "$W/owner.json" shielded "$W/vm/kp" "$W/fabric2.meta"
	cp "$W/vm/kp" "$W/kp0"
	sv host unwrap "$W/vm" --json --quiet
	refused_expect 403 kp_no_guardian
	audit_newest unwrap fail kp_no_guardian
	unchanged
	ok "KP for another fabric only: 403 kp_no_guardian"
}

# tampered_case FILTER: the agent refuses a tampered KP before sending it;
# sent anyway (curl with the agent's real token), hgsd refuses it too.
tampered_case() {
	fixture_kp0
	tamper "$1" "$W/kp0" "$W/vm/kp"
	cp "$W/vm/kp" "$W/kp0"
	sv host unwrap "$W/vm" --json --quiet
	[[ $SV_RC == 3 ]] && grep -q "vm/kp" "$W/sv.err" ||
		{ cat "$W/sv.out" "$W/sv.err" >&2; fail "the agent did not refuse the KP locally ($SV_RC)"; }
	unchanged
	ok "$1 tampered: the agent refuses the KP ($(head -c 140 "$W/sv.err"))"
	unwrap_raw "$W/kp0" "$W/agent-host/token.jwt"
	local verdict="$STATUS $(jq -r .error "$TMP/body")"
	jq -e 'has("sealed") | not' "$TMP/body" >/dev/null || fail "a refusal carried a sealed key"
	if [[ $STATUS == 400 ]]; then
		expect_status 400 kp_malformed
		audit_newest unwrap fail kp_malformed
	else
		expect_status 403 kp_signature_invalid
		audit_newest unwrap fail kp_signature_invalid
	fi
	ok "$1 tampered: hgsd refuses it ($verdict)"
}

case_kp_tampered_ciphertext() {
	tampered_case .wrap.ciphertext
	# An encrypted key is outside the signed digest: hgsd gets a
	# well-signed KP whose recipient for it does not decrypt.
	hgs_id=$(jq -r '.payload' "$W/hgs1.json" | tr '_-' '/+' | { b=$(cat); while ((${#b} % 4)); do b+="="; done; printf '%s' "$b"; } | base64 -d | jq -r .id)
	cp "$W/kp0" "$W/kp.tampered"
	kp_new "$W/owner.json" shielded "$W/kp.fresh" "$W/hgs1.json"
	jq -c --arg id "$hgs_id" '(.wrap.recipients[] | select(.header.kid == $id) | .encrypted_key) |=
		(if startswith("A") then "B" + .[1:] else "A" + .[1:] end)' "$W/kp.fresh" >"$W/vm/kp"
	cmp -s "$W/kp.fresh" "$W/vm/kp" && fail "recipient tampering changed nothing"
	sv host unwrap "$W/vm" --json --quiet
	refused_expect 403 kp_decrypt_failed
	audit_newest unwrap fail kp_decrypt_failed
	[[ $(dir_state "$W/vm") == "kp" ]] || fail "directory changed"
	ok "hgsd's encrypted key tampered: 403 kp_decrypt_failed through the agent"
}

case_kp_tampered_header() {
	tampered_case .wrap.protected
}

case_kp_tampered_signature() {
	tampered_case .descriptor.signature
}

# A shielded KP needs TPM-mode attestation: a host-key-mode token (bound to
# this host's TPM transport key) is refused; an encryption-supported KP is
# released with the same token.
case_shielded_host_key() {
	fixture_kp0
	tk_jwk host "$W/tk.jwk"
	host_key_token edge "$W/tk.jwk" "$W/hk.jwt"
	put_token host "$W/hk.jwt"
	sv host unwrap "$W/vm" --no-attest --json --quiet
	refused_expect 403 policy_not_satisfied
	audit_newest unwrap fail policy_not_satisfied
	unchanged
	ok "shielded KP with a host-key-mode token: 403 policy_not_satisfied"
	mkdir -m 0700 "$W/vm-es"
	kp_new "$W/owner.json" encryption-supported "$W/vm-es/kp" "$W/hgs1.json"
	sv_ok host unwrap "$W/vm-es" --no-attest --json --quiet
	jq -e '.policy == "encryption-supported" and .committed == true' "$W/sv.out" >/dev/null ||
		fail "encryption-supported start"
	ok "encryption-supported KP with the same token: released and committed"
}

# A disabled guardian key releases nothing (hgsctl key add --primary, key
# disable of the old one); enabled again, it does.
case_key_disabled() {
	fixture_kp0
	hgsctl() { "$HGSCTL" --socket "$ADMIN" "$@"; }
	old=$(hgsctl key list --json | jq -r '.keys[] | select(.primary) | .id')
	hgsctl key add --name hgs-2 --primary --json >"$W/newkey.json" || fail "hgsctl key add"
	hgsctl key disable "$old" >/dev/null || fail "hgsctl key disable"
	sv host unwrap "$W/vm" --json --quiet
	refused_expect 403 kp_key_disabled
	audit_newest unwrap fail kp_key_disabled
	unchanged
	ok "KP wrapped for a disabled guardian key: 403 kp_key_disabled"
	hgsctl key enable "$old" >/dev/null || fail "hgsctl key enable"
	start
	start_expect '.committed == true'
	ok "enabled again (no longer primary): the old KP still starts"
}

# Restoring an older copy of the VM key directory after a start: hgsd
# refuses the older generation (409 kp_rolled_back).
case_kp_rolled_back() {
	fixture_kp0
	start
	cp -a "$W/vm" "$W/vm.copy"
	start
	start_expect '.generation == 1 and .new_generation == 2'
	rm -rf "$W/vm"
	cp -a "$W/vm.copy" "$W/vm"
	sv host unwrap "$W/vm" --json --quiet
	refused_expect 409 kp_rolled_back
	audit_newest unwrap fail kp_rolled_back
	[[ $(dir_state "$W/vm") == "kp secrets" ]] || fail "directory changed: $(dir_state "$W/vm")"
	cmp -s "$W/vm/kp" "$W/vm.copy/kp" || fail "kp changed"
	ok "older generation (1) after a commit of 2: 409 kp_rolled_back, nothing changed"
}

# A valid token of a host the admin has since disabled.
case_host_disabled() {
	fixture_kp0
	admin POST /v1/admin/hosts/host/disable
	expect_status 200
	sv host unwrap "$W/vm" --json --quiet
	refused_expect 403 host_disabled
	audit_newest unwrap fail host_disabled
	unchanged
	ok "valid token, disabled host: 403 host_disabled"
}

run_case "$@"
