#!/usr/bin/env bash
# Nonce refusals: a stale nonce, a nonce from another server, a replayed
# quote.
#   nonce.sh CASE
. "$(dirname "$0")/lib.sh"

# nonce_lifetime is configured to its minimum (10 s, docs/hgsd.md); the
# evidence is made at once, posted after the nonce expired.
case_stale_nonce() {
	NONCE_LIFETIME=10 fixture
	enroll_ok
	cl nonce --out "$W/stale.nonce" >/dev/null
	answer_expect '(.body.expires - now) <= 11'
	cl evidence --nonce "$W/stale.nonce" --ak "$W/ak.key" --tk "$W/tk.key" --log "$SHIM_LOG" \
		--out "$W/stale.json" >/dev/null
	sleep 11.5
	attest stale
	expect_answer 403 nonce_expired
	expect_audit attest fail nonce_expired
	ok "a nonce older than nonce_lifetime (10 s): 403 nonce_expired, audited"
}

# Another hgsd with its own store (so its own nonce key) issues the nonce.
case_foreign_nonce() {
	fixture
	enroll_ok
	hgsd_up hgs2
	cl nonce --out "$W/foreign.nonce" >/dev/null
	expect_answer 200
	use_hgsd hgs1
	cl evidence --nonce "$W/foreign.nonce" --ak "$W/ak.key" --tk "$W/tk.key" --log "$SHIM_LOG" \
		--out "$W/foreign.json" >/dev/null
	attest foreign
	expect_answer 403 nonce_invalid
	expect_audit attest fail nonce_invalid
	ok "a nonce issued by another service: 403 nonce_invalid, audited"
	# the same evidence is fine for the server that issued the nonce
	# (after the AK is enrolled there: it has its own store)
	use_hgsd hgs2
	admin POST /v1/admin/hosts -d "{\"name\": \"node1\", \"ek_pub\": \"$(b64url "$W/ek.pub")\"}"
	expect_status 201
	add_baseline shim "$SHIM_LOG"
	admin POST /v1/admin/rules/iommu-enabled/disable
	enroll_ok
	attest foreign
	expect_answer 200
	ok "the issuing server accepts that very evidence"
}

# The same complete attest body twice.
case_replayed_quote() {
	fixture
	enroll_ok
	evidence replay
	attest replay
	expect_answer 200
	attest replay
	expect_answer 403 nonce_reused "already used"
	expect_audit attest fail nonce_reused node1
	ok "a replayed attestation: 403 nonce_reused, audited"
}

run_case "$@"
