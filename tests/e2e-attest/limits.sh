#!/usr/bin/env bash
# Size and syntax limits on POST /v1/attest with real evidence: an
# oversize body (413 before parsing), malformed JSON and fields (400).
# Nothing is decided, so no attest audit record may appear.
#   limits.sh CASE
. "$(dirname "$0")/lib.sh"

# post_attest FILE [curl args]: raw POST /v1/attest (status in $STATUS,
# body in $TMP/body).
post_attest() {
	local f=$1
	shift
	http POST /v1/attest -H 'Content-Type: application/json' --data-binary @"$f" "$@"
}

# attest_records: the number of attest audit records.
attest_records() {
	admin GET "/v1/admin/audit?limit=10000"
	jq '[.records[] | select(.action == "attest")] | length' "$TMP/body"
}

case_oversize_body() {
	E2E_MAX_BODY=1048576 fixture
	enroll_ok
	evidence big
	before=$(attest_records)
	# the real evidence plus padding to just over 1 MiB
	pad=$((1048576 - $(stat -c %s "$W/big.json") + 16))
	{
		head -c -1 "$W/big.json"
		printf ', "padding": "'
		head -c "$pad" /dev/zero | tr '\0' 'A'
		printf '"}'
	} >"$W/big2.json"
	jq -e 'has("padding")' "$W/big2.json" >/dev/null || fail "padded body is not JSON"
	(($(stat -c %s "$W/big2.json") > 1048576)) || fail "padding too short"
	post_attest "$W/big2.json"
	expect_status 413 payload_too_large
	sleep 0.2
	jq -e -s 'any(.[]; .event == "request" and .path == "/v1/attest" and .status == 413 and .body_bytes == 0)' \
		"$TMP/hgs1.log" >/dev/null || fail "the 413 should come from the headers, before the body is read"
	# chunked (no Content-Length): refused once the stream passes the limit
	post_attest "$W/big2.json" -H 'Transfer-Encoding: chunked'
	expect_status 413 payload_too_large
	[[ $(attest_records) == "$before" ]] || fail "an oversize body left an attest audit record"
	# the same evidence within the limit still passes (the nonce is unused)
	attest big
	expect_answer 200
	ok "oversize /v1/attest (Content-Length and chunked): 413 payload_too_large, nothing decided; the evidence alone passes"
}

case_malformed_json() {
	fixture sha256
	enroll_ok
	evidence m
	before=$(attest_records)
	head -c 5000 "$W/m.json" >"$W/trunc.json"
	post_attest "$W/trunc.json"
	expect_status 400 bad_request
	jq_expect '.message | test("JSON")'
	printf '{"mode": "tpm", "mode": "tpm"}' >"$W/dup.json"
	post_attest "$W/dup.json"
	expect_status 400 bad_request
	jq -c 'del(.quote)' "$W/m.json" >"$W/noquote.json"
	post_attest "$W/noquote.json"
	expect_status 400 bad_request
	jq_expect '.message | test("quote")'
	jq -c '.event_log = "not base64url!"' "$W/m.json" >"$W/badb64.json"
	post_attest "$W/badb64.json"
	expect_status 400 bad_request
	jq_expect '.message | test("event_log")'
	jq -c '.pcrs = {"sha256": {"0": "zz"}}' "$W/m.json" >"$W/badpcr.json"
	post_attest "$W/badpcr.json"
	expect_status 400 bad_request
	jq_expect '.message | test("pcrs")'
	jq -c '.mode = "sgx"' "$W/m.json" >"$W/badmode.json"
	post_attest "$W/badmode.json"
	expect_status 400 bad_request
	jq_expect '.message | test("mode")'
	[[ $(attest_records) == "$before" ]] || fail "a malformed request left an attest audit record"
	ok "malformed /v1/attest (truncated JSON, duplicate key, missing field, bad base64url, bad PCR, bad mode): 400 bad_request naming the problem, nothing decided"
	# and then the evidence itself passes
	attest m
	expect_answer 200
}

run_case "$@"
