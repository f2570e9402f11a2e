#!/usr/bin/env bash
# Refusals around host identity: unregistered EK, EK certificate from an
# untrusted CA, an AK that was never enrolled, credential activation by
# another TPM, a disabled host.
#   enroll.sh CASE
. "$(dirname "$0")/lib.sh"

case_unregistered_ek() {
	tpm_up host sha256 "$SHIM_LOG"
	EK_CA_DIR=$TMP/tpm-host/ca/cadir
	hgsd_up hgs1
	cl ek --type rsa2048 --pub "$W/ek.pub" --cert "$W/ek.der" >/dev/null
	cl create-key --kind ak --type ecc-p256 --out "$W/ak.key" >/dev/null
	# another host is registered, not this one
	tpm_up other sha256
	cl --tpm other ek --type rsa2048 --pub "$W/other-ek.pub" --cert "$W/other-ek.der" >/dev/null
	admin POST /v1/admin/hosts -d "{\"name\": \"node2\", \"ek_pub\": \"$(b64url "$W/other-ek.pub")\"}"
	expect_status 201

	cl enroll --ek-pub "$W/ek.pub" --ek-cert "$W/ek.der" --ak "$W/ak.key" >/dev/null
	answer_expect '.step == "enroll"'
	expect_answer 403 ek_not_registered "no host is registered with EK"
	expect_audit enroll fail ek_not_registered
	ok "enrollment for an EK no host was registered with: 403 ek_not_registered, audited"
}

# A TPM whose EK certificate was issued by a CA hgsd does not trust (its
# own swtpm local CA; hgsd trusts only the first TPM's).
case_untrusted_ek_ca() {
	tpm_up host sha256
	EK_CA_DIR=$TMP/tpm-host/ca/cadir
	hgsd_up hgs1
	tpm_up rogue sha256 "$SHIM_LOG"
	cl --tpm rogue ek --type rsa2048 --pub "$W/ek.pub" --cert "$W/ek.der" >/dev/null
	# the two CAs really differ
	! cmp -s "$TMP/tpm-host/ca/cadir/issuercert.pem" "$TMP/tpm-rogue/ca/cadir/issuercert.pem" ||
		fail "the two swtpm local CAs are the same"

	# Registration by that certificate is refused...
	admin POST /v1/admin/hosts -d "{\"name\": \"rogue1\", \"ek_cert\": \"$(b64url "$W/ek.der")\"}"
	expect_status 403 ek_cert_untrusted
	admin GET "/v1/admin/audit?limit=5"
	jq_expect '.records[0] | .action == "admin" and .result == "fail"
		and .details.op == "host-add" and .details.status == 403'
	ok "registration by an EK certificate from an untrusted CA: 403 ek_cert_untrusted, audited"

	# ... and so is enrollment presenting it, even for a host an admin
	# registered by the bare EK public key.
	admin POST /v1/admin/hosts -d "{\"name\": \"rogue1\", \"ek_pub\": \"$(b64url "$W/ek.pub")\"}"
	expect_status 201
	cl --tpm rogue create-key --kind ak --type ecc-p256 --out "$W/ak.key" >/dev/null
	cl --tpm rogue enroll --ek-pub "$W/ek.pub" --ek-cert "$W/ek.der" --ak "$W/ak.key" >/dev/null
	answer_expect '.step == "enroll"'
	expect_answer 403 ek_cert_untrusted "EK certificate"
	expect_audit enroll fail ek_cert_untrusted rogue1
	ok "enrollment with an EK certificate from an untrusted CA: 403 ek_cert_untrusted, audited"
}

case_ak_not_enrolled() {
	fixture
	enroll_ok
	# a second AK of the same (registered, enrolled) TPM, never enrolled
	cl create-key --kind ak --type ecc-p256 --out "$W/ak2.key" >/dev/null
	cl nonce --out "$W/n.nonce" >/dev/null
	cl evidence --nonce "$W/n.nonce" --ak "$W/ak2.key" --tk "$W/tk.key" --log "$SHIM_LOG" \
		--out "$W/n.json" >/dev/null
	attest n
	expect_answer 403 ak_not_enrolled "never enrolled"
	expect_audit attest fail ak_not_enrolled
	ok "attestation with an AK never enrolled: 403 ak_not_enrolled, audited"
}

# An impostor holds an AK in its own TPM and claims the registered host's
# EK. The credential is made for that EK; the impostor's TPM cannot
# activate it, so the secret it returns is wrong: enrollment_failed, and
# the AK is not recorded.
case_activation_other_tpm() {
	fixture
	tpm_up impostor sha256 "$SHIM_LOG"
	cl --tpm impostor create-key --kind ak --type ecc-p256 --out "$W/ak-imp.key" >/dev/null
	cl --tpm impostor create-key --kind tk --type ecc-p256 --out "$W/tk-imp.key" >/dev/null
	cl --tpm impostor enroll --ek-pub "$W/ek.pub" --ek-cert "$W/ek.der" --ak "$W/ak-imp.key" \
		--activate-tcti "$TCTI_impostor" >/dev/null
	grep -q "refused the credential" "$W/client.err" ||
		fail "the other TPM did not refuse the credential: $(cat "$W/client.err")"
	answer_expect '.step == "finish" and .activated_by_other_tpm == true'
	expect_answer 403 enrollment_failed "secret is not the one"
	expect_audit enroll fail enrollment_failed node1
	ok "credential activated by another TPM: 403 enrollment_failed, audited"

	# The AK was not recorded: attesting with it is ak_not_enrolled.
	cl nonce --out "$W/imp.nonce" >/dev/null
	cl --tpm impostor evidence --nonce "$W/imp.nonce" --ak "$W/ak-imp.key" --tk "$W/tk-imp.key" \
		--log "$SHIM_LOG" --out "$W/imp.json" >/dev/null
	attest imp
	expect_answer 403 ak_not_enrolled
	ok "the impostor's AK was not recorded (ak_not_enrolled)"

	# The enrollment id was single-use: the right TPM cannot finish it
	# either; a fresh enrollment by the right TPM still works.
	enroll_ok
	ok "the registered TPM still enrolls"
}

case_host_disabled() {
	fixture
	enroll_ok
	evidence d1
	admin POST /v1/admin/hosts/node1/disable
	expect_status 200
	attest d1
	expect_answer 403 host_disabled "node1 is disabled"
	expect_audit attest fail host_disabled node1
	ok "attestation by a disabled host: 403 host_disabled, audited"

	cl create-key --kind ak --type ecc-p256 --out "$W/ak2.key" >/dev/null
	cl enroll --ek-pub "$W/ek.pub" --ek-cert "$W/ek.der" --ak "$W/ak2.key" >/dev/null
	expect_answer 403 host_disabled
	expect_audit enroll fail host_disabled node1
	ok "enrollment by a disabled host: 403 host_disabled, audited"

	# enabled again, the same (unused) nonce and evidence pass
	admin POST /v1/admin/hosts/node1/enable
	expect_status 200
	attest d1
	expect_answer 200
	ok "re-enabled: the same evidence passes"
}

run_case "$@"
