#!/usr/bin/env bash
# tpm2_certify of a TPM-resident key by the AK on swtpm -> shieldvm certify
# verify accepts it for a host transport key; rejects a key that is not
# fixedTPM, a key that can sign, another key, a wrong nonce.
source "${TPM_TEST_LIB:-$(dirname "$0")/lib.sh}"

start_swtpm "$TMP/state"
cd "$TMP"

# tpm2_certify 5.4 sets qualifyingData to this fixed value.
nonce=00ff55aa
transport="fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt"

tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub
flush
tpm tpm2_createprimary -C o -g sha256 -G ecc -c prim.ctx
flush

# make_key NAME ALG ATTRS: create and load a child of the primary.
make_key() {
	tpm tpm2_create -C prim.ctx -G "$2" -a "$3" -u "$1.pub" -r "$1.priv"
	flush
	tpm tpm2_load -C prim.ctx -u "$1.pub" -r "$1.priv" -c "$1.ctx"
	flush
}

# certify KEY AK
certify() {
	tpm tpm2_certify -c "$1.ctx" -C "$2.ctx" -g sha256 -o "$1.att" \
		-s "$1.sig" -f tss
	flush
}

make_key tk-rsa rsa2048 "$transport"
make_key tk-ecc ecc256 "$transport"
make_key notfixed rsa2048 "sensitivedataorigin|userwithauth|decrypt"
make_key signer rsa2048 "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt|sign"

for ak in rsa ecc; do
	tpm tpm2_createak -C ek.ctx -c "ak-$ak.ctx" -G "$ak" -g sha256 \
		-u "ak-$ak.pub" -n "ak-$ak.name" -r "ak-$ak.priv"
	flush
	for tk in tk-rsa tk-ecc; do
		certify "$tk" "ak-$ak"
		expect_rc 0 "$SHIELDVM" certify verify --ak "ak-$ak.pub" \
			--attest "$tk.att" --sig "$tk.sig" --nonce $nonce \
			--key "$tk.pub"
		expect_rc 0 "$SHIELDVM" certify verify --ak "ak-$ak.pub" \
			--attest "$tk.att" --sig "$tk.sig" --nonce $nonce \
			--key "$tk.pub" --json
		grep -q '"verified": true' out || fail "json verdict"
	done
	ok "$ak AK: certified RSA and ECC transport keys verify"

	# another key than the certified one
	expect_rc 1 "$SHIELDVM" certify verify --ak "ak-$ak.pub" \
		--attest tk-rsa.att --sig tk-rsa.sig --nonce $nonce --key tk-ecc.pub
	grep -q "certified name" err || fail "name message"
	# wrong nonce
	expect_rc 1 "$SHIELDVM" certify verify --ak "ak-$ak.pub" \
		--attest tk-rsa.att --sig tk-rsa.sig --nonce 00ff55ab --key tk-rsa.pub
	# a certify is not a quote
	expect_rc 1 "$SHIELDVM" quote verify --ak "ak-$ak.pub" \
		--quote tk-rsa.att --sig tk-rsa.sig --nonce $nonce
	expect_one_error_line
	ok "$ak AK: other key, wrong nonce, wrong type rejected"
done

# attributes: not fixedTPM, or a signing key, is no transport key
certify notfixed ak-rsa
expect_rc 1 "$SHIELDVM" certify verify --ak ak-rsa.pub --attest notfixed.att \
	--sig notfixed.sig --nonce $nonce --key notfixed.pub
grep -q "fixedTPM is required but clear" err || fail "fixedTPM message: $(cat err)"
expect_one_error_line
expect_rc 0 "$SHIELDVM" certify verify --ak ak-rsa.pub --attest notfixed.att \
	--sig notfixed.sig --nonce $nonce --key notfixed.pub --role any
certify signer ak-rsa
expect_rc 1 "$SHIELDVM" certify verify --ak ak-rsa.pub --attest signer.att \
	--sig signer.sig --nonce $nonce --key signer.pub
grep -q "sign is set but not allowed" err || fail "sign message: $(cat err)"
ok "key that is not fixedTPM, and a signing key, rejected as transport keys"

# an AK certified by another AK, checked as an AK
certify ak-ecc ak-rsa
expect_rc 0 "$SHIELDVM" certify verify --ak ak-rsa.pub --attest ak-ecc.att \
	--sig ak-ecc.sig --nonce $nonce --key ak-ecc.pub --role ak
expect_rc 1 "$SHIELDVM" certify verify --ak ak-rsa.pub --attest ak-ecc.att \
	--sig ak-ecc.sig --nonce $nonce --key ak-ecc.pub
ok "AK role check"
