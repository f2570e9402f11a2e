#!/usr/bin/env bash
# TLS on the host API: a self-signed certificate made here; curl with that
# CA succeeds, plain HTTP fails, a world-readable key is refused.
. "$(dirname "$0")/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TMP/tls.key" -out "$TMP/tls.pem" -days 2 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
chmod 0600 "$TMP/tls.key"

# The key is read as root before the drop (it stays 0600, owned by root).
write_config hgs1
start_hgsd hgs1 --tls-cert "$TMP/tls.pem" --tls-key "$TMP/tls.key"
jq -e -s 'any(.[]; .event == "listening" and .tls == true)' "$TMP/hgs1.log" >/dev/null || fail "not listening with TLS"

BASE_URL=https://127.0.0.1:$PORT
http GET /v1/info --cacert "$TMP/tls.pem"
expect_status 200
jq_expect '.service == "hgsd"'
http POST /v1/attest/nonce --cacert "$TMP/tls.pem" -d '{}'
expect_status 200
ok "HTTPS with the configured certificate"

set +e
curl -sS --max-time 5 --cacert "$TMP/tls.pem" "https://localhost:$PORT/v1/info" -o /dev/null
rc_name=$?
curl -sS --max-time 5 -o /dev/null "https://127.0.0.1:$PORT/v1/info" 2>/dev/null
rc_unknown_ca=$?
curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/v1/info" 2>/dev/null
rc_plain=$?
curl -sS --max-time 5 --tls-max 1.1 --cacert "$TMP/tls.pem" -o /dev/null "https://127.0.0.1:$PORT/v1/info" 2>/dev/null
rc_old=$?
set -e
[[ $rc_name == 0 ]] || fail "https://localhost failed ($rc_name)"
[[ $rc_unknown_ca != 0 ]] || fail "a client without the CA connected"
[[ $rc_plain != 0 ]] || fail "plain HTTP was answered on the TLS port"
[[ $rc_old != 0 ]] || fail "TLS 1.1 was accepted"
ok "plain HTTP, unknown CA and TLS <= 1.1 fail"

# The admin socket stays plain HTTP on the Unix socket.
admin GET /v1/admin/hosts
expect_status 200
stop_hgsd "$HGSD_PID"
grep -q -- '-----BEGIN' "$TMP/hgs1.log" && fail "key material in the log"

# A key file others can read is refused, naming the file and its mode.
chmod 0644 "$TMP/tls.key"
set +e
"$HGSD" --foreground --config "$TMP/hgs1.conf" --tls-cert "$TMP/tls.pem" --tls-key "$TMP/tls.key" 2>"$TMP/refused.log"
rc=$?
set -e
[[ $rc != 0 ]] || fail "hgsd served with a world-readable key"
grep -q 'mode 0644 is too open' "$TMP/refused.log" || { cat "$TMP/refused.log" >&2; fail "no mode message"; }
ok "world-readable TLS key refused"

# A certificate without its key is a configuration error.
set +e
"$HGSD" --foreground --config "$TMP/hgs1.conf" --tls-cert "$TMP/tls.pem" 2>"$TMP/refused.log"
rc=$?
set -e
[[ $rc == 2 ]] || fail "tls_cert without tls_key: exit $rc"
grep -q 'tls_cert and tls_key' "$TMP/refused.log" || fail "no message for tls_cert without tls_key"
ok "tls_cert without tls_key refused"
