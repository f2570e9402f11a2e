#!/usr/bin/env bash
# Request limits and errors of the HTTP layer: 413 before parsing (announced
# by Content-Length, or reached while a chunked body streams in), 400 for
# malformed JSON, duplicate keys and deep nesting, 404/405, and the split
# of routes between the host listener and the admin socket.
. "$(dirname "$0")/lib.sh"

MAX_BODY=65536
start_hgsd hgs1

# Content-Length over the limit: refused from the headers alone.
head -c 100000 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
http POST /v1/attest/nonce -H 'Content-Type: application/json' --data-binary @"$TMP/big.json"
expect_status 413 payload_too_large
sleep 0.2
jq -e -s 'any(.[]; .event == "request" and .status == 413 and .body_bytes == 0)' "$TMP/hgs1.log" >/dev/null ||
	fail "413 by Content-Length should not read the body"
ok "413 by Content-Length, body not read"

# Exactly at the limit is fine as far as size goes (then it is not JSON).
head -c $MAX_BODY /dev/zero | tr '\0' ' ' >"$TMP/edge.json"
http POST /v1/attest/nonce --data-binary @"$TMP/edge.json"
expect_status 400 bad_request
ok "a body of exactly max_body is read (and judged as JSON)"

# Chunked: no length up front, refused once the stream passes the limit.
http POST /v1/attest/nonce -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big.json"
expect_status 413 payload_too_large
ok "413 for a chunked body over the limit"

# A client that streams on far past the limit is cut off.
head -c 1000000 /dev/zero | tr '\0' ' ' >"$TMP/huge.json"
set +e
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' \
	--data-binary @"$TMP/huge.json" "$BASE_URL/v1/attest/nonce" 2>/dev/null)
set -e
[[ $code == 413 || $code == 000 ]] || fail "huge chunked body: got HTTP $code"
ok "a huge chunked body is refused or cut off (HTTP $code)"

# Malformed JSON, duplicate keys, wrong top-level type, deep nesting.
http POST /v1/attest/nonce -d '{"a": '
expect_status 400 bad_request
jq_expect '.message | test("JSON")'
http POST /v1/attest/nonce -d '{"a": 1, "a": 2}'
expect_status 400 bad_request
jq_expect '.message | test("duplicate")'
http POST /v1/attest/nonce -d '"text"'
expect_status 400 bad_request
deep=$(printf '[%.0s' {1..17})$(printf ']%.0s' {1..17})
http POST /v1/attest/nonce -d "{\"a\": $deep}"
expect_status 400 bad_request
jq_expect '.message | test("nested")'
ok16=$(printf '[%.0s' {1..15})$(printf ']%.0s' {1..15})
http POST /v1/attest/nonce -d "{\"a\": $ok16}"
expect_status 200
http POST /v1/attest/nonce -d "$(printf '{"a": "\\u0000"}')"
expect_status 400 bad_request
ok "400 for malformed JSON, duplicate keys, non-objects, nesting over 16, NUL"

# Unknown paths and wrong methods.
http GET /v1/nope
expect_status 404 not_found
http GET /
expect_status 404 not_found
http GET /v1/info/
expect_status 404 not_found
http DELETE /v1/info
expect_status 405 method_not_allowed
http GET /v1/attest/nonce -D "$TMP/headers"
expect_status 405 method_not_allowed
grep -qi '^Allow: POST' "$TMP/headers" || fail "405 without Allow: POST"
http POST /v1/keys -d '{}'
expect_status 405 method_not_allowed
ok "404 and 405 (with Allow)"

# Admin routes exist only on the admin socket, host routes only on TCP.
http GET /v1/admin/hosts
expect_status 404 not_found
admin GET /v1/info
expect_status 404 not_found
admin POST /v1/attest/nonce -d '{}'
expect_status 404 not_found
admin GET /v1/admin/hosts
expect_status 200
ok "admin API only on the Unix socket, host API only on TCP"

# Errors are JSON with Content-Type and a request id.
curl -sS -D "$TMP/h" -o /dev/null "$BASE_URL/v1/nope"
grep -qi '^Content-Type: application/json' "$TMP/h" || fail "error without Content-Type"
grep -qi '^X-Request-Id: [0-9a-f]\{20\}' "$TMP/h" || fail "error without X-Request-Id"
ok "error replies are JSON with X-Request-Id"

# Keep-alive: two requests over one connection.
out=$(curl -sS -v "$BASE_URL/v1/info" "$BASE_URL/v1/info" 2>&1 >/dev/null)
grep -q 'Re-using existing connection' <<<"$out" || fail "connection not kept alive"
ok "keep-alive"

stop_hgsd "$HGSD_PID"
