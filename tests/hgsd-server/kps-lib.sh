# shellcheck shell=bash
# Harness for the key protection tests: the hgsd-server harness plus a
# host in host-key mode with a software transport key whose private half
# the test holds (so it can open what hgsd seals to it), a real health
# token for that host, an owner guardian, and helpers for unwrap/commit.
#
# Environment (tests/hgsd-server/meson.build): HGSD, KPS_TOOL,
# SHIELDVM_TESTDATA.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${KPS_TOOL:?KPS_TOOL must point at the kps-tool binary}"

VM_ID=6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab

kps() {
	"$KPS_TOOL" "$@"
}

# host_key_token HOST OUT: a health token for HOST (registered in host-key
# mode with $TMP/host.key) bound to $TMP/tk.pub.jwk, by attestation.
host_key_token() {
	local host=$1 out=$2 nonce b64
	http POST /v1/attest/nonce -d '{}'
	expect_status 200
	nonce=$(jq -r .nonce "$TMP/body")
	b64=$(printf '%s' "$nonce" | tr '_-' '/+')
	while ((${#b64} % 4)); do b64+="="; done
	printf '%s' "$b64" | base64 -d >"$TMP/nonce.bin"
	openssl dgst -sha256 -sign "$TMP/host.key" -out "$TMP/nonce.sig" "$TMP/nonce.bin"
	http POST /v1/attest -d "{\"mode\": \"host-key\", \"host\": \"$host\", \"nonce\": \"$nonce\",
		\"signature\": \"$(b64url "$TMP/nonce.sig")\", \"transport_key\": {\"jwk\": $(cat "$TMP/tk.pub.jwk")}}"
	expect_status 200
	jq -r .token "$TMP/body" >"$out"
}

# same_guardian A B: two metadata files describe the same guardian (the
# signed payloads are equal; ECDSA signatures differ at every signing).
same_guardian() {
	[[ $(jq -r .payload "$1") == $(jq -r .payload "$2") ]]
}

# kps_host_owner: on the running hgsd, host hk1 registered in host-key mode
# with $TMP/host.key, its transport key $TMP/tk.jwk (private) / tk.pub.jwk,
# a token for it in $TMP/token, and an owner $TMP/owner.json.
kps_host_owner() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/host.key" 2>/dev/null
	openssl pkey -in "$TMP/host.key" -pubout -out "$TMP/host.pub"
	admin POST /v1/admin/hosts -d "{\"name\": \"hk1\", \"host_key_pem\": $(jq -Rs . "$TMP/host.pub")}"
	expect_status 201
	kps jwk-gen ec-p256 >"$TMP/tk.jwk"
	jq -c 'del(.d)' "$TMP/tk.jwk" >"$TMP/tk.pub.jwk"
	host_key_token hk1 "$TMP/token"
	kps owner alice "$TMP/owner.json" >/dev/null
}

# kps_setup: hgsd hgs1 running, host hk1 (host-key mode), its transport
# key $TMP/tk.jwk (private) / tk.pub.jwk, a token $TMP/token, the
# service's guardian metadata $TMP/hgs.json, an owner $TMP/owner.json and
# the token signing key $TMP/token-key.pem (read from the store, to make
# tokens the service would not issue: expired, TPM mode).
kps_setup() {
	start_hgsd hgs1
	kps_host_owner
	http GET /v1/guardian
	expect_status 200
	cp "$TMP/body" "$TMP/hgs.json"
	sqlite3 "$TMP/state/hgsd.db" "SELECT private_pem FROM signing_key WHERE is_primary" >"$TMP/token-key.pem"
	grep -q 'BEGIN PRIVATE KEY' "$TMP/token-key.pem" || fail "no token signing key in the store"
}

# new_kp OUT POLICY GEN META...: a KP by the owner for the guardians.
new_kp() {
	local out=$1 policy=$2 gen=$3
	shift 3
	kps kp-new "$TMP/owner.json" "$policy" "$VM_ID" "$gen" "$@" >"$out"
}

# unwrap KP_FILE [TOKEN_FILE]: POST /v1/unwrap.
unwrap() {
	local kp=$1 tok=${2:-$TMP/token}
	jq -n --rawfile t "$tok" --slurpfile k "$kp" '{token: ($t | rtrimstr("\n")), kp: $k[0]}' >"$TMP/req.json"
	http POST /v1/unwrap --data-binary @"$TMP/req.json"
}

# open_sealed: the plaintext of the last unwrap's "sealed" into
# $TMP/sealed.json, and its next_kp into $TMP/next.json.
open_sealed() {
	jq -r .sealed "$TMP/body" >"$TMP/sealed.jwe"
	jq -c .next_kp "$TMP/body" >"$TMP/next.json"
	kps open "$TMP/sealed.jwe" "$TMP/tk.jwk" >"$TMP/sealed.json"
}

# commit KP_FILE TK_B64 [TOKEN_FILE]: POST /v1/unwrap/commit with the MAC
# made from TK.
commit() {
	local kp=$1 tk=$2 tok=${3:-$TMP/token} mac
	mac=$(kps mac "$tk" "$kp")
	jq -n --rawfile t "$tok" --slurpfile k "$kp" --arg m "$mac" \
		'{token: ($t | rtrimstr("\n")), kp: $k[0], mac: $m}' >"$TMP/req.json"
	http POST /v1/unwrap/commit --data-binary @"$TMP/req.json"
}

# last_audit ACTION: the newest audit record of ACTION into $TMP/audit.json.
last_audit() {
	local saved_status=$STATUS
	cp "$TMP/body" "$TMP/body.saved"
	admin GET "/v1/admin/audit?limit=20"
	expect_status 200
	jq --arg a "$1" '[.records[] | select(.action == $a)][0]' "$TMP/body" >"$TMP/audit.json"
	cp "$TMP/body.saved" "$TMP/body"
	STATUS=$saved_status
}

# audit_expect FILTER: the record last_audit fetched satisfies FILTER.
audit_expect() {
	jq -e "$1" "$TMP/audit.json" >/dev/null || { cat "$TMP/audit.json" >&2; fail "audit record does not satisfy: $1"; }
}

# expect_refused STATUS REASON ACTION: the last request was refused with
# STATUS/REASON and audited as a failure with that reason.
expect_refused() {
	expect_status "$1" "$2"
	last_audit "$3"
	audit_expect ".result == \"fail\" and .details.reason == \"$2\""
}
