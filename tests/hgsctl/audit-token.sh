#!/usr/bin/env bash
# hgsctl token verify (a real health token from a host-key attestation, a
# garbage token, a file that holds no token) and hgsctl audit list with its
# --host, --since (Unix seconds, ISO 8601, relative) and --limit filters.
. "$(dirname "$0")/lib.sh"

start_hgsd hgs1

# A host in host-key mode and a token for it: the host signs hgsd's nonce
# with its key (ECDSA P-256, DER) and names a transport key as a JWK.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/host.key" 2>/dev/null
openssl pkey -in "$TMP/host.key" -pubout -out "$TMP/host.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/tk.key" 2>/dev/null
openssl pkey -in "$TMP/tk.key" -pubout -outform DER | tail -c 64 >"$TMP/tk.xy"
head -c 32 "$TMP/tk.xy" >"$TMP/tk.x"
tail -c 32 "$TMP/tk.xy" >"$TMP/tk.y"
jwk="{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"$(b64url "$TMP/tk.x")\",\"y\":\"$(b64url "$TMP/tk.y")\"}"

expect 0 host add --name hk1 --host-key "$TMP/host.pub"
expect 0 host add --name node1 --ek-pub "$KEYLIME/ek.pub"
expect 0 host disable node1
expect 0 host enable node1

http POST /v1/attest/nonce -d '{}'
expect_status 200
nonce=$(jq -r .nonce "$TMP/body")
b64=$(printf '%s' "$nonce" | tr '_-' '/+')
while ((${#b64} % 4)); do b64+="="; done
printf '%s' "$b64" | base64 -d >"$TMP/nonce.bin"
openssl dgst -sha256 -sign "$TMP/host.key" -out "$TMP/sig.der" "$TMP/nonce.bin"
http POST /v1/attest -d "{\"mode\": \"host-key\", \"host\": \"hk1\", \"nonce\": \"$nonce\",
	\"signature\": \"$(b64url "$TMP/sig.der")\", \"transport_key\": {\"jwk\": $jwk}}"
expect_status 200
jq -r .token "$TMP/body" >"$TMP/token"

# ---- token verify ----
expect 0 token verify "$TMP/token"
out_has '^token valid$'
out_has '^  host: +hk1$'
out_has '^  mode: +host-key$'
out_has '^  status: +warning$'
out_has '^  expires: +20[0-9-]+T[0-9:]+Z \(in [0-9]+h[0-9]{2}m\)$'
out_has '^  cnf key: +EC P-256$'
expect 0 token verify - <"$TMP/token"
expect 0 --json token verify "$TMP/token"
out_jq '.valid == true and .claims.host == "hk1" and .claims.mode == "host-key" and (.claims.cnf.jwk.x | length > 0)'
ok "token verify: a real host-key token is valid (file, stdin, --json)"

echo 'abc.def.ghi' >"$TMP/garbage"
expect 1 token verify "$TMP/garbage"
out_has '^token invalid \(token_malformed\): .+'
expect 1 --json token verify "$TMP/garbage"
out_jq '.valid == false and .error == "token_malformed" and (.message | length > 0)'
# the same token with its signature's last character changed
tok=$(cat "$TMP/token")
last=${tok: -1}
[[ $last == A ]] && repl=B || repl=A
printf '%s%s\n' "${tok%?}" "$repl" >"$TMP/forged"
expect 1 token verify "$TMP/forged"
out_has '^token invalid \(token_(invalid|malformed)\): '
printf '\n  \n' >"$TMP/blank"
expect 3 token verify "$TMP/blank"
err_has 'blank: no token in the file'
printf 'abc\001def' >"$TMP/binary"
expect 3 token verify "$TMP/binary"
err_has 'byte 3 \(0x01\)'
head -c 20000 /dev/zero | tr '\0' 'a' >"$TMP/huge"
expect 3 token verify "$TMP/huge"
err_has 'huge: 20000 bytes, limit is'
expect 3 token verify "$TMP/missing"
expect 2 token verify
expect 2 token check "$TMP/token"
ok "token verify: garbage and forged tokens exit 1 with the reason; bad files exit 3"

# ---- audit list ----
expect 0 audit list
out_has '^ID +TIME +HOST +ACTION +RESULT +DETAILS$'
out_has '^[0-9]+ +20[0-9-]+T[0-9:]+Z +hk1 +attest +pass +'
out_has '^[0-9]+ +[0-9TZ:-]+ +node1 +admin +pass +op=host-disable '
out_lacks 'rid='
expect 0 --json audit list
out_jq '(.records | length) >= 5 and (.records | . == (sort_by(.id) | reverse))'
total=$(jq '.records | length' "$TMP/out")

expect 0 audit list --host node1 --json
out_jq '(.records | length) == 3 and all(.records[]; .host == "node1")'
expect 0 audit list --host node1
[[ $(grep -c ' node1 ' "$TMP/out") == 3 ]] || { show_output; fail "--host node1: expected 3 rows"; }
out_lacks ' hk1 '
expect 0 audit list --limit 2 --json
out_jq '(.records | length) == 2'
expect 0 audit list --host node1 --limit 1 --json
out_jq '(.records | length) == 1 and .records[0].details.op == "host-enable"'
ok "audit list: table, --json, --host, --limit"

now=$(date +%s)
expect 0 --json audit list --since 10m
out_jq "(.records | length) == $total"
expect 0 --json audit list --since 1h --host hk1
out_jq '(.records | length) >= 2 and all(.records[]; .host == "hk1")'
expect 0 --json audit list --since $((now - 600))
out_jq "(.records | length) == $total"
expect 0 --json audit list --since "$(date -u -d @$((now - 86400)) +%Y-%m-%dT%H:%M:%SZ)"
out_jq "(.records | length) == $total"
expect 0 --json audit list --since "$(date -u -d @$((now - 3 * 86400)) +%Y-%m-%d)"
out_jq "(.records | length) == $total"
expect 0 audit list --since $((now + 3600))
out_has '^no audit records$'
expect 0 --json audit list --since 2999-01-01T00:00:00Z
out_jq '.records == []'
# a zone offset: 2999-01-01T01:00+01:00 is the same instant
expect 0 --json audit list --since 2999-01-01T01:00+01:00
out_jq '.records == []'
expect 0 --json audit list --since 7d
out_jq "(.records | length) == $total"
ok "audit list --since: Unix seconds, ISO 8601 date, date-time with Z and offset, relative"

expect 2 audit list --since yesterday
err_has "\-\-since 'yesterday': expected Unix seconds"
expect 2 audit list --since 2026-02-30
err_has "'2026-02-30'"
expect 2 audit list --since 2026-11-22T25:00:00Z
expect 2 audit list --since 5y
expect 2 audit list --since 99999999999999999999
err_has 'out of range'
expect 2 audit list --since 999999999999d
err_has 'out of range'
expect 2 audit list --limit 0
err_has "\-\-limit '0': expected an integer in \[1, 10000\]"
expect 2 audit list --limit 10001
expect 2 audit list --limit 5x
expect 2 audit list --host 'no such'
err_has "\-\-host 'no such'"
expect 2 audit list extra
expect 0 audit list --help
out_has '^Usage: hgsctl audit list'
ok "audit list: malformed --since, --limit, --host exit 2 quoting the input"

stop_hgsd "$HGSD_PID"
