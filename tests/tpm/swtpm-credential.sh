#!/usr/bin/env bash
# shieldvm credential make for an EK public and an AK name ->
# tpm2_activatecredential on swtpm recovers exactly the secret, for an RSA
# and an ECC EK; a credential made for another key's name is refused by the
# TPM; a credential made for another EK is refused too.
source "${TPM_TEST_LIB:-$(dirname "$0")/lib.sh}"

start_swtpm "$TMP/state"
cd "$TMP"

# activate AKCTX EKCTX CREDFILE OUT: TPM2_ActivateCredential with the EK's
# policy (PolicySecret on the endorsement hierarchy). Returns its status.
activate() {
	local rc=0
	flush
	tpm tpm2_startauthsession --policy-session -S session.ctx
	tpm tpm2_policysecret -S session.ctx -c e
	tpm2_activatecredential -c "$1" -C "$2" -i "$3" -o "$4" \
		-P"session:session.ctx" >>tools.log 2>&1 || rc=$?
	flush
	return $rc
}

for ek in rsa ecc; do
	tpm tpm2_createek -c "ek-$ek.ctx" -G "$ek" -u "ek-$ek.pub"
	flush
	tpm tpm2_createak -C "ek-$ek.ctx" -c "ak-$ek.ctx" -G "$ek" -g sha256 \
		-u "ak-$ek.pub" -n "ak-$ek.name" -r "ak-$ek.priv"
	flush
	# our name computation agrees with the TPM's
	[[ $("$SHIELDVM" tpm2-name "ak-$ek.pub") == $(hexof "ak-$ek.name") ]] ||
		fail "tpm2-name differs from the TPM's name"

	for len in 32 1 16; do
		head -c "$len" /dev/urandom >secret.bin
		expect_rc 0 "$SHIELDVM" credential make --ek "ek-$ek.pub" \
			--name-file "ak-$ek.name" --secret secret.bin -o cred.bin
		activate "ak-$ek.ctx" "ek-$ek.ctx" cred.bin recovered.bin ||
			fail "$ek EK: tpm2_activatecredential refused our credential"
		cmp -s secret.bin recovered.bin ||
			fail "$ek EK: recovered secret differs"
	done
	# --name HEX
	expect_rc 0 "$SHIELDVM" credential make --ek "ek-$ek.pub" \
		--name "$(hexof "ak-$ek.name")" --secret secret.bin -o cred2.bin
	activate "ak-$ek.ctx" "ek-$ek.ctx" cred2.bin recovered.bin ||
		fail "$ek EK: --name credential refused"
	cmp -s secret.bin recovered.bin || fail "$ek EK: --name secret differs"
	ok "$ek EK: tpm2_activatecredential recovers the secret"
done

# Another key's name: the TPM refuses (integrity check fails).
head -c 32 /dev/urandom >secret.bin
expect_rc 0 "$SHIELDVM" credential make --ek ek-rsa.pub \
	--name-file ak-ecc.name --secret secret.bin -o wrongname.bin
if activate ak-rsa.ctx ek-rsa.ctx wrongname.bin recovered.bin; then
	fail "TPM accepted a credential made for another name"
fi
# Another EK: the TPM refuses too.
expect_rc 0 "$SHIELDVM" credential make --ek ek-ecc.pub \
	--name-file ak-rsa.name --secret secret.bin -o wrongek.bin
if activate ak-rsa.ctx ek-rsa.ctx wrongek.bin recovered.bin; then
	fail "TPM accepted a credential made for another EK"
fi
ok "credentials for another name or another EK are refused by the TPM"

# Input errors
expect_rc 3 "$SHIELDVM" credential make --ek ak-rsa.pub \
	--name-file ak-rsa.name --secret secret.bin -o x.bin
grep -q "not a restricted decryption key" err || fail "EK check message"
expect_one_error_line
head -c 33 /dev/urandom >long.bin
expect_rc 3 "$SHIELDVM" credential make --ek ek-rsa.pub \
	--name-file ak-rsa.name --secret long.bin -o x.bin
expect_rc 2 "$SHIELDVM" credential make --ek ek-rsa.pub --secret long.bin -o x.bin
expect_rc 2 "$SHIELDVM" credential make --ek ek-rsa.pub --name zz \
	--secret secret.bin -o x.bin
ok "unusable EK, oversized secret and bad arguments refused"
