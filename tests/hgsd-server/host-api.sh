#!/usr/bin/env bash
# The host API's simple endpoints: /v1/info, /v1/attest/nonce, /v1/keys;
# two nodes started at once on one empty store agree on one signing key.
. "$(dirname "$0")/lib.sh"

# Two nodes racing on an empty store: both must end up with the same key.
write_config hgs1
write_config hgs2
launch_hgsd hgs1
pid1=$HGSD_PID
launch_hgsd hgs2
pid2=$HGSD_PID
wait_hgsd hgs2 "$pid2"
port2=$PORT
wait_hgsd hgs1 "$pid1"
port1=$PORT

BASE_URL=http://127.0.0.1:$port1
http GET /v1/info
expect_status 200
jq_expect '.service == "hgsd" and .api == 1 and .node == "hgs1"
	and (.version | type == "string" and length > 0)
	and .modes == ["tpm", "host-key"] and .nonce_lifetime == 300
	and .token_lifetime == 28800 and .policy_id == "shieldvm-default"'
ok "/v1/info"

http POST /v1/attest/nonce -H 'Content-Type: application/json' -d '{}'
expect_status 200
jq_expect '(.nonce | type == "string") and (.expires | type == "number")'
n1=$(jq -r .nonce "$TMP/body")
exp=$(jq -r .expires "$TMP/body")
now=$(date +%s)
((exp >= now + 290 && exp <= now + 310)) || fail "nonce expires at $exp, now is $now"
[[ $n1 =~ ^[A-Za-z0-9_-]+$ ]] || fail "nonce is not base64url: $n1"
len=$(printf '%s' "$n1" | basenc --base64url -d 2>/dev/null | wc -c || true)
# 41 bytes encode to 55 characters without padding
[[ ${#n1} == 55 ]] || fail "nonce has ${#n1} characters, expected 55"
len=$(printf '%s=' "$n1" | basenc --base64url -d | wc -c)
[[ $len == 41 ]] || fail "nonce decodes to $len bytes, expected 41"
[[ $(printf '%s=' "$n1" | basenc --base64url -d | head -c 1 | od -An -tu1 | tr -d ' ') == 1 ]] ||
	fail "nonce version byte is not 1"
BASE_URL=http://127.0.0.1:$port2
http POST /v1/attest/nonce -d '{}'
expect_status 200
n2=$(jq -r .nonce "$TMP/body")
[[ $n1 != "$n2" ]] || fail "two nonces are equal"
ok "nonces: 41 bytes, fresh each time, from either node"

# The nonce endpoint takes a JSON object and nothing else.
http POST /v1/attest/nonce -d '[]'
expect_status 400 bad_request
http POST /v1/attest/nonce
expect_status 400 bad_request
ok "nonce request body must be an object"

http GET /v1/keys
expect_status 200
jq_expect '.keys | length == 1'
jq_expect '.keys[0] | .kty == "EC" and .crv == "P-256" and .alg == "ES256"
	and .use == "sig" and (.kid | length > 0) and (.x | length > 0)
	and (.y | length > 0) and has("d") == false'
kid2=$(jq -r '.keys[0].kid' "$TMP/body")
BASE_URL=http://127.0.0.1:$port1
http GET /v1/keys
expect_status 200
kid1=$(jq -r '.keys[0].kid' "$TMP/body")
[[ $kid1 == "$kid2" ]] || fail "nodes disagree on the signing key: $kid1 vs $kid2"
[[ $(grep -c '"event":"token_key_created"' "$TMP/hgs1.log" "$TMP/hgs2.log" | awk -F: '{s += $2} END {print s}') -ge 1 ]] ||
	fail "no node logged creating the key"
ok "/v1/keys: one EC P-256 key, same kid ($kid1) on two nodes"

# A restarted node keeps the key.
stop_hgsd "$pid1"
stop_hgsd "$pid2"
rm -f "$TMP/hgs1.log"
start_hgsd hgs1
http GET /v1/keys
[[ $(jq -r '.keys[0].kid' "$TMP/body") == "$kid1" ]] || fail "key changed across a restart"
grep -q '"event":"token_key_created"' "$TMP/hgs1.log" && fail "restart created a new key"
ok "key survives a restart"

# Logs: JSON lines with time, level, node, event; requests carry a rid that
# the response names in X-Request-Id; no key material.
rid=$(curl -sS -D - -o /dev/null "$BASE_URL/v1/info" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" {print $2}')
[[ -n $rid ]] || fail "no X-Request-Id header"
sleep 0.2
jq -e -s 'all(.[]; has("time") and has("level") and .node == "hgs1" and has("event"))' "$TMP/hgs1.log" >/dev/null ||
	fail "a log line lacks time/level/node/event"
jq -e -s --arg rid "$rid" 'any(.[]; .event == "request" and .rid == $rid and .path == "/v1/info" and .status == 200)' \
	"$TMP/hgs1.log" >/dev/null || fail "no request log line with rid $rid"
grep -q -- '-----BEGIN' "$TMP/hgs1.log" "$TMP/hgs2.log" && fail "key material in the log"
ok "structured logs with request ids, no key material"

# SIGTERM stops cleanly and removes the admin socket.
stop_hgsd "$HGSD_PID"
[[ ! -e $TMP/run-hgs1/admin.sock ]] || fail "admin socket left behind"
grep -q '"event":"stopped"' "$TMP/hgs1.log" || fail "no 'stopped' log line"
ok "SIGTERM: clean stop"
