#!/usr/bin/env bash
# Refusals of the evidence itself: PCR values that do not match the quote,
# a log that does not match the PCRs (another real log; one digest byte), a
# log whose data was changed under an unchanged digest, a bad quote
# signature, and transport keys that are not TPM-resident decryption keys.
#   evidence.sh CASE
. "$(dirname "$0")/lib.sh"

# one_byte_changed A B: B is A with exactly one byte changed.
one_byte_changed() {
	local n
	n=$(cmp -l "$1" "$2" | wc -l || true)
	[[ $(stat -c %s "$1") == $(stat -c %s "$2") && $n == 1 ]] || fail "$2: $n bytes changed, want 1"
}

case_pcr_mismatch() {
	fixture
	enroll_ok
	evidence pcr --break pcr-value
	attest pcr
	expect_answer 403 pcr_mismatch
	expect_audit attest fail pcr_mismatch node1
	ok "a reported PCR value (PCR 7) that is not the quoted one: 403 pcr_mismatch, audited"
}

case_quote_signature() {
	fixture
	enroll_ok
	evidence sig --break quote-sig
	attest sig
	expect_answer 403 quote_invalid
	expect_audit attest fail quote_invalid node1
	ok "one byte of the quote's signature flipped: 403 quote_invalid, audited"
}

# Another real firmware log (OVMF booting a kernel directly) with the
# quote of a TPM booted with the shim log.
case_log_mismatch() {
	fixture
	enroll_ok
	evidence other --log "$LOGS/local__ovmf_sb_directkernel.bin"
	attest other
	expect_answer 403 log_mismatch
	expect_audit attest fail log_mismatch node1
	ok "another real log than the one the TPM measured: 403 log_mismatch, audited"
}

# One byte of one event's digest (event 23: shim, PCR 4).
case_log_digest_byte() {
	fixture
	enroll_ok
	cl edit-log --in "$SHIM_LOG" --out "$W/digest.bin" --digest-byte 23 >/dev/null
	grep -q "event 23 (EV_EFI_BOOT_SERVICES_APPLICATION, PCR 4)" "$W/client.err" ||
		fail "edit-log: $(cat "$W/client.err")"
	one_byte_changed "$SHIM_LOG" "$W/digest.bin"
	evidence digest --log "$W/digest.bin"
	attest digest
	expect_answer 403 log_mismatch "PCR 4"
	expect_audit attest fail log_mismatch node1
	ok "one digest byte of the log changed: 403 log_mismatch naming PCR 4, audited"
}

# One byte of the SecureBoot variable's data (1 -> 0) under its original
# digest: the log still replays to the PCRs, but its data no longer
# matches its digest.
case_log_secureboot_byte() {
	fixture
	enroll_ok
	cl edit-log --in "$SHIM_LOG" --out "$W/sb.bin" --secureboot-data 0 >/dev/null
	one_byte_changed "$SHIM_LOG" "$W/sb.bin"
	evidence sb --log "$W/sb.bin"
	attest sb
	policy_failure log-integrity "event 4"
	jq -e 'any(.body.failures[]; .rule == "secure-boot-enabled")' "$W/answer" >/dev/null ||
		{ answer >&2; fail "secure-boot-enabled did not fail on SecureBoot = 0 data"; }
	expect_audit attest fail policy_failed node1
	admin GET "/v1/admin/audit?host=node1&limit=1"
	jq_expect '.records[0].details.failures | any(.[]; .rule == "log-integrity")'
	ok "SecureBoot data byte changed under its digest: policy_failed naming log-integrity and secure-boot-enabled, audited with failures"
}

# A transport key without fixedTPM/fixedParent (created with tpm2-tools under
# the same SRK, so the host module can load and certify it).
case_tk_not_resident() {
	fixture sha256
	enroll_ok
	(
		export TPM2TOOLS_TCTI=$TCTI_host
		cd "$W"
		tpm2_createprimary -Q -C o -g sha256 -G ecc256:null:aes128cfb \
			-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' \
			-c srk.ctx
		tpm2_create -Q -C srk.ctx -g sha256 -G ecc256:null:null \
			-a 'decrypt|userwithauth|sensitivedataorigin' -u soft.pub -r soft.priv
		tpm2_flushcontext -t
	) >"$W/tpm2-tools.err" 2>&1 || fail "tpm2-tools: $(cat "$W/tpm2-tools.err")"
	cl wrap-key --pub "$W/soft.pub" --priv "$W/soft.priv" --out "$W/soft.key" >/dev/null
	cl nonce --out "$W/soft.nonce" >/dev/null
	cl evidence --nonce "$W/soft.nonce" --ak "$W/ak.key" --tk "$W/soft.key" --log "$SHIM_LOG" \
		--out "$W/soft.json" >/dev/null
	attest soft
	expect_answer 403 transport_key_invalid "fixedTPM"
	expect_audit attest fail transport_key_invalid node1
	ok "certified transport key without fixedTPM: 403 transport_key_invalid naming fixedTPM, audited"
}

# The AK (a restricted signing key) certified as the transport key.
case_tk_sign_key() {
	fixture sha256
	enroll_ok
	evidence signkey --break tk-is-ak
	attest signkey
	expect_answer 403 transport_key_invalid
	expect_audit attest fail transport_key_invalid node1
	ok "a signing key certified as transport key: 403 transport_key_invalid, audited"
}

# The certify of the transport key made over another nonce.
case_certify_nonce() {
	fixture sha256
	enroll_ok
	evidence cn --break certify-nonce
	attest cn
	expect_answer 403 transport_key_invalid
	expect_audit attest fail transport_key_invalid node1
	ok "transport key certified over another nonce: 403 transport_key_invalid, audited"
}

run_case "$@"
