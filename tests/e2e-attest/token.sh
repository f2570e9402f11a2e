#!/usr/bin/env bash
# Health token refusals: a forged signature, an expired token. Both with
# token_verify against GET /v1/keys (e2e_client verify) and with the admin
# API's POST /v1/admin/tokens/verify.
#   token.sh CASE
. "$(dirname "$0")/lib.sh"

# admin_verify FILE: POST /v1/admin/tokens/verify with the token in FILE.
admin_verify() {
	admin POST /v1/admin/tokens/verify -d "{\"token\": \"$(cat "$1")\"}"
	expect_status 200
}

case_token_forged() {
	fixture
	enroll_ok
	evidence t
	attest t
	expect_answer 200
	cl verify --token "$W/t.jwt" >/dev/null
	answer_expect '.valid == true'
	cl forge --token "$W/t.jwt" --out "$W/forged.jwt"
	[[ $(cut -d. -f1-2 "$W/t.jwt") == $(cut -d. -f1-2 "$W/forged.jwt") ]] || fail "forge changed more than the signature"
	cl verify --token "$W/forged.jwt" >/dev/null
	answer_expect '.valid == false and .error == "invalid" and .errno == 129'
	ok "token_verify refuses a token with one signature byte flipped (-EKEYREJECTED)"
	admin_verify "$W/forged.jwt"
	jq_expect '.valid == false and .error == "token_invalid" and (.message | length > 0)'
	admin_verify "$W/t.jwt"
	jq_expect '.valid == true'
	ok "POST /v1/admin/tokens/verify: forged -> token_invalid, genuine -> valid"

	# A token of another service (its own signing key) is refused too.
	hgsd_up hgs2
	cl verify --token "$W/t.jwt" >/dev/null
	answer_expect '.valid == false and .error == "invalid"'
	admin_verify "$W/t.jwt"
	jq_expect '.valid == false and .error == "token_invalid"'
	ok "a genuine token of another hgsd (unknown kid) is refused by this one"
}

# token lifetime at its minimum (60 s, docs/hgsd.md) and verifiers allow
# TOKEN_MAX_CLOCK_SKEW (60 s): a token is refused 121 s after it was issued.
case_token_expired() {
	TOKEN_LIFETIME=60 fixture
	enroll_ok
	evidence t
	attest t
	expect_answer 200
	cl verify --token "$W/t.jwt" >/dev/null
	answer_expect '.valid == true and (.claims.exp - .claims.iat) == 60'
	exp=$(jq -r .claims.exp "$W/answer")
	# token_verify at a later time (its clock is a parameter): expired
	cl verify --token "$W/t.jwt" --at-offset 122 >/dev/null
	answer_expect '.valid == false and .error == "expired"'
	ok "token_verify 122 s later: expired"
	# the real wait, for the admin API (hgsd's own clock)
	while (($(date +%s) <= exp + 61)); do sleep 1; done
	admin_verify "$W/t.jwt"
	jq_expect '.valid == false and .error == "token_expired"'
	cl verify --token "$W/t.jwt" >/dev/null
	answer_expect '.valid == false and .error == "expired"'
	ok "after exp + 60 s skew: admin verify says token_expired, token_verify says expired"
}

run_case "$@"
