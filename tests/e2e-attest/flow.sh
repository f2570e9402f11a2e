#!/usr/bin/env bash
# The happy paths: TPM-mode attestation end to end (register, baseline,
# enroll, nonce, quote, certify, attest, token), tpm2_checkquote as a peer
# oracle of the host's quote, and host-key mode.
#   flow.sh CASE
. "$(dirname "$0")/lib.sh"

# The token verifies with GET /v1/keys (token_verify), and its claims are
# those of docs/tokens.md for this host, baseline and transport key.
check_tpm_token() {
	local jwt=$1 tk=$2
	cl verify --token "$jwt" --tk "$tk" >/dev/null
	answer_expect '.valid == true'
	answer_expect '.claims.status == "affirming" and .claims.mode == "tpm"
		and .claims.host == "node1" and .claims.baseline == "shim"
		and .claims.policy_id == "shieldvm-default"
		and (.claims.exp - .claims.iat) == 28800'
	answer_expect '.payload.eat_profile == "tag:github.com,2023:veraison/ear"
		and .payload["ear.verifier-id"].developer == "shieldvm"
		and (.payload["ear.verifier-id"].build | startswith("hgsd "))
		and (.payload.submods["shieldvm-host"]
		     | .["ear.status"] == "affirming"
		       and .["shieldvm.attestation-mode"] == "tpm"
		       and .["shieldvm.host"] == "node1"
		       and .["shieldvm.baseline"] == "shim"
		       and .["ear.appraisal-policy-id"] == "shieldvm-default"
		       and (.["ear.trustworthiness-vector"]
			    | .["instance-identity"] == 2 and .configuration == 2
			      and .executables == 2 and .hardware == 2))'
	# cnf is the transport key the TPM certified: same point / modulus
	answer_expect '.cnf_matches_tk == true'
	jq -c .claims "$W/answer" >"$W/claims.json"
}

case_happy_path() {
	fixture
	enroll_ok
	expect_audit enroll-finish pass "" node1
	ok "AK enrolled by MakeCredential/ActivateCredential"

	evidence flow
	attest flow
	expect_answer 200
	answer_expect '(.body.token | type == "string") and (.body.expires > now)'
	check_tpm_token "$W/flow.jwt" "$W/tk.key"
	answer_expect '.payload.cnf.jwk.kty == "EC" and .payload.cnf.jwk.crv == "P-256"'
	jti=$(jq -r .jti "$W/claims.json")
	ok "attestation (sha1+sha256 quote, shim log) -> affirming token, cnf = TPM transport key"

	# The decision is in the audit trail, with the token's jti.
	admin GET "/v1/admin/audit?host=node1&limit=10"
	expect_status 200
	jq_expect '[.records[] | select(.action == "attest")][0]
		| .result == "pass" and .details.mode == "tpm" and .details.baseline == "shim"
		  and .details.jti == "'"$jti"'"'
	# The admin API's verifier agrees with token_verify.
	admin POST /v1/admin/tokens/verify -d "{\"token\": \"$(cat "$W/flow.jwt")\"}"
	expect_status 200
	jq_expect '.valid == true and .claims.host == "node1" and .claims.mode == "tpm"
		and .claims.status == "affirming" and .claims.baseline == "shim"'
	ok "audit record (pass, jti) and POST /v1/admin/tokens/verify agree"

	# An RSA AK and an RSA transport key on the same host, quoting the
	# sha256 bank only: cnf carries the TPM key's modulus.
	cl create-key --kind ak --type rsa2048 --out "$W/ak-rsa.key" >/dev/null
	cl create-key --kind tk --type rsa2048 --out "$W/tk-rsa.key" >/dev/null
	enroll_ok "$W/ak-rsa.key"
	cl nonce --out "$W/rsa.nonce" >/dev/null
	cl evidence --nonce "$W/rsa.nonce" --ak "$W/ak-rsa.key" --tk "$W/tk-rsa.key" \
		--log "$SHIM_LOG" --banks sha256 --out "$W/rsa.json" >/dev/null
	attest rsa
	expect_answer 200
	check_tpm_token "$W/rsa.jwt" "$W/tk-rsa.key"
	answer_expect '.payload.cnf.jwk.kty == "RSA"'
	# the EC token's cnf is not this key
	cl verify --token "$W/flow.jwt" --tk "$W/tk-rsa.key" >/dev/null
	answer_expect '.valid == true and .cnf_matches_tk == false'
	ok "RSA AK + RSA transport key: token cnf = TPM modulus"
}

case_peer_checkquote() {
	fixture
	enroll_ok
	mkdir -p "$W/peer"
	evidence peer --peer-dir "$W/peer"
	(
		cd "$W/peer"
		tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig -f pcrs.ser -g sha256 \
			-q "$(cat nonce.hex)" >checkquote.out 2>&1 ||
			{ cat checkquote.out >&2; exit 1; }
	) || fail "tpm2_checkquote refuses the host's quote"
	ok "tpm2_checkquote accepts the quote (signature, nonce, PCR digest over sha1+sha256)"
	# ... and refuses it for another nonce (the oracle is not a rubber stamp)
	other=$(sed 's/^\(..\)\(.*\)$/\2/' "$W/peer/nonce.hex")
	other=00$other
	[[ $other != "$(cat "$W/peer/nonce.hex")" ]] || other=ff${other#00}
	if (cd "$W/peer" && tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig -f pcrs.ser \
		-g sha256 -q "$other" >/dev/null 2>&1); then
		fail "tpm2_checkquote accepts the quote for another nonce"
	fi
	# hgsd accepts the same evidence
	attest peer
	expect_answer 200
	ok "tpm2_checkquote refuses another nonce; hgsd accepts the same quote"
}

# host-key mode: a host registered by a public key signs the nonce with it
# (openssl); the token says warning / host-key.
case_host_key() {
	tpm_up host sha256
	EK_CA_DIR=$TMP/tpm-host/ca/cadir
	hgsd_up hgs1
	cl create-key --kind tk --type ecc-p256 --out "$W/tk.key" >/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/host.key" 2>/dev/null
	openssl pkey -in "$W/host.key" -pubout -out "$W/host.pem"
	admin POST /v1/admin/hosts -d "{\"name\": \"edge1\", \"host_key_pem\": $(jq -Rs . "$W/host.pem")}"
	expect_status 201
	jq_expect '.modes == ["host-key"]'

	cl nonce --out "$W/hk.nonce" --raw-out "$W/hk.nonce.bin" >/dev/null
	openssl dgst -sha256 -sign "$W/host.key" -out "$W/hk.sig" "$W/hk.nonce.bin"
	jwk=$(cl tk-jwk --tk "$W/tk.key")
	jq -n --arg n "$(cat "$W/hk.nonce")" --arg s "$(b64url "$W/hk.sig")" --argjson j "$jwk" \
		'{mode: "host-key", host: "edge1", nonce: $n, signature: $s, transport_key: {jwk: $j}}' \
		>"$W/hk.json"
	attest hk
	expect_answer 200
	expect_audit attest pass "" edge1
	cl verify --token "$W/hk.jwt" --tk "$W/tk.key" >/dev/null
	answer_expect '.valid == true and .claims.status == "warning" and .claims.mode == "host-key"
		and .claims.host == "edge1" and .claims.baseline == "" and .cnf_matches_tk == true'
	answer_expect '.payload.submods["shieldvm-host"]
		| .["ear.status"] == "warning" and .["shieldvm.attestation-mode"] == "host-key"
		  and .["ear.trustworthiness-vector"]["instance-identity"] == 32
		  and .["ear.trustworthiness-vector"].hardware == 32'
	ok "host-key mode: signature over the nonce -> warning token, mode host-key"

	# The same signature over another nonce is refused.
	cl nonce --out "$W/hk2.nonce" >/dev/null
	jq --arg n "$(cat "$W/hk2.nonce")" '.nonce = $n' "$W/hk.json" >"$W/hk2.json"
	attest hk2
	expect_answer 403 quote_invalid "does not verify"
	expect_audit attest fail quote_invalid edge1
	ok "host-key mode: a signature over another nonce is refused"
}

# A host registered only for TPM attestation (shielded-style) cannot fall
# back to the weaker host-key mode.
case_host_key_refused() {
	fixture sha256
	enroll_ok
	cl nonce --out "$W/hk.nonce" --raw-out "$W/hk.nonce.bin" >/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/rogue.key" 2>/dev/null
	openssl dgst -sha256 -sign "$W/rogue.key" -out "$W/hk.sig" "$W/hk.nonce.bin"
	jwk=$(cl tk-jwk --tk "$W/tk.key")
	jq -n --arg n "$(cat "$W/hk.nonce")" --arg s "$(b64url "$W/hk.sig")" --argjson j "$jwk" \
		'{mode: "host-key", host: "node1", nonce: $n, signature: $s, transport_key: {jwk: $j}}' \
		>"$W/hk.json"
	attest hk
	expect_answer 403 mode_not_allowed "host-key"
	expect_audit attest fail mode_not_allowed node1
	ok "a TPM-only host is refused host-key mode (mode_not_allowed)"
}

# The real agent, `shieldvm host`, for the whole happy path: capture what
# the admin registers, init (enrollment), attest; the token it stores
# verifies and names its transport key.
case_agent_happy_path() {
	tpm_up host sha1,sha256 "$SHIM_LOG"
	EK_CA_DIR=$TMP/tpm-host/ca/cadir
	hgsd_up hgs1
	local d=$W/agent
	sv() {
		"$SHIELDVM" host "$1" --tcti "$TCTI_host" --state-dir "$d" "${@:2}" >"$W/agent.out" 2>"$W/agent.err" ||
			{ cat "$W/agent.out" "$W/agent.err" >&2; fail "shieldvm host $1 exited $?"; }
	}
	sv capture-baseline --event-log "$SHIM_LOG" --name agent-host --json --quiet
	jq -e '.name == "agent-host"' "$W/agent.out" >/dev/null || fail "capture-baseline: $(cat "$W/agent.out")"
	register_host agent-host "$d/ek.crt"
	jq -c '{name: "agent-host", baseline: .}' "$d/baseline.json" >"$W/agent-bl.json"
	admin POST /v1/admin/baselines --data-binary @"$W/agent-bl.json"
	expect_status 201
	admin POST /v1/admin/rules/iommu-enabled/disable
	expect_status 200
	ok "shieldvm host capture-baseline: EK certificate and baseline registered"

	sv init --hgs "$BASE_URL" --json --quiet
	expect_audit enroll-finish pass "" agent-host
	ok "shieldvm host init: AK enrolled"

	sv attest --event-log "$SHIM_LOG" --json --quiet
	[[ -f $d/token.jwt && $(stat -c %a "$d/token.jwt") == 600 ]] || fail "token.jwt missing or not 0600"
	expect_audit attest pass "" agent-host
	cl verify --token "$d/token.jwt" --tk "$d/transport.key" >/dev/null
	answer_expect '.valid == true and .claims.status == "affirming" and .claims.mode == "tpm"
		and .claims.host == "agent-host" and .claims.baseline == "agent-host"
		and .cnf_matches_tk == true'
	sv status --json --quiet
	ok "shieldvm host attest: affirming token (0600), cnf = the agent's transport key"
}

run_case "$@"
