#!/usr/bin/env bash
# The CLI on the real quotes from public projects (no TPM needed): verdicts,
# exit codes (0 ok, 1 rejected, 2 usage, 3 malformed), one-line errors,
# --json, --help.
source "${TPM_TEST_LIB:-$(dirname "$0")/lib.sh}"

Q=$SHIELDVM_TESTDATA/quotes
G=$Q/gotpmtools__gce-cos-85-nonce9009
W=$Q/goattest__windows_gcp_shielded_vm
K=$Q/keylime
D=$TPM_TEST_DIR/data
S=$SHIELDVM
cd "$TMP"

for b in sha1 sha256 sha384; do
	expect_rc 0 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin \
		--quote $G/quote_$b.TPMS_ATTEST.bin \
		--sig $G/quote_$b.TPMT_SIGNATURE.bin --nonce 9009 \
		--pcrs $D/gce-cos-85-pcrs.json --json
	grep -q '"verified": true' out || fail "gce $b json"
	grep -q '"pcr_digest_checked": true' out || fail "gce $b digest"
	grep -q "\"$b\": \[" out || fail "gce $b selection"
	# 0x prefix accepted for the nonce
	expect_rc 0 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin \
		--quote $G/quote_$b.TPMS_ATTEST.bin \
		--sig $G/quote_$b.TPMT_SIGNATURE.bin --nonce 0x9009 \
		--pcrs $D/gce-cos-85-pcrs.json
	grep -q "pcrDigest matches" out || fail "gce $b text"
done
ok "GCE quotes (sha1, sha256, sha384 banks) verify"

expect_rc 0 "$S" quote verify --ak $W/AK.Public.bin --quote $W/Quote.Quote.bin \
	--sig $W/Quote.Signature.bin --nonce "" --pcrs $D/windows-gcp-pcrs.json
expect_rc 0 "$S" certify verify --ak $W/AK.Public.bin \
	--attest $W/AK.CreateAttestation.bin --sig $W/AK.CreateSignature.bin \
	--nonce "" --key $W/AK.Public.bin --creation-data $W/AK.CreateData.bin \
	--role ak --json
grep -q '"type": "certify-creation"' out || fail "creation type"
grep -q '"creation_hash_checked": true' out || fail "creation hash"
# an AK is not a transport key
expect_rc 1 "$S" certify verify --ak $W/AK.Public.bin \
	--attest $W/AK.CreateAttestation.bin --sig $W/AK.CreateSignature.bin \
	--nonce "" --key $W/AK.Public.bin
ok "Windows quote and AK certify-creation verify"

expect_rc 0 "$S" quote verify --ak $K/ak.pub --quote $K/quote.out \
	--sig $K/quotesig.out --nonce db1db298db6d60e6385b7231743e9c3056a18003 \
	--pcrs-tpm2-tools $K/quotepcr.out
expect_rc 0 "$S" quote verify --ak $K/akpub.pem --quote $K/quote.out \
	--sig $K/quotesig.out --nonce db1db298db6d60e6385b7231743e9c3056a18003 \
	--pcrs-tpm2-tools $K/quotepcr.out
[[ $("$S" tpm2-name $K/ak.pub) == $(hexof $K/ak.name) ]] || fail "keylime name"
ok "keylime quote (TPM2B_PUBLIC and PEM AK, tpm2-tools PCR file) verifies"

# rejections: exit 1, one line on stderr
expect_rc 1 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin \
	--quote $G/quote_sha256.TPMS_ATTEST.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9008 \
	--pcrs $D/gce-cos-85-pcrs.json
expect_one_error_line
grep -q "quote extraData does not match nonce (2 bytes)" err || fail "nonce msg"
expect_rc 1 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin \
	--quote $G/quote_sha256.TPMS_ATTEST.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009 \
	--pcrs $D/windows-gcp-pcrs.json --json
grep -q '"verified": false' out || fail "json rejection"
grep -q "no sha256 values were supplied" err || fail "bank msg"
sed 's/"5": "158c/"5": "158d/' $D/gce-cos-85-pcrs.json >bad.json
expect_rc 1 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin \
	--quote $G/quote_sha256.TPMS_ATTEST.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009 --pcrs bad.json
grep -q "pcrDigest mismatch for selection sha256:{0,1,2" err || fail "pcr msg"
cp $G/quote_sha256.TPMS_ATTEST.bin q.bin
printf '\x01' | dd of=q.bin bs=1 seek=60 conv=notrunc status=none
expect_rc 1 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin --quote q.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009
grep -q "does not verify with the AK" err || fail "sig msg"
ok "wrong nonce, wrong bank, wrong PCR value, tampered quote rejected (exit 1)"

# malformed input: exit 3
head -c 100 $G/quote_sha256.TPMS_ATTEST.bin >trunc.bin
expect_rc 3 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin --quote trunc.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009
expect_one_error_line
{ cat $G/quote_sha256.TPMS_ATTEST.bin; printf '\0'; } >long.bin
expect_rc 3 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin --quote long.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009
grep -q "trailing" err || fail "trailing msg"
head -c 5000 /dev/zero >huge.bin
expect_rc 3 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin --quote huge.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009
expect_rc 3 "$S" quote verify --ak $G/quote_sha256.TPMS_ATTEST.bin \
	--quote $G/quote_sha256.TPMS_ATTEST.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009
expect_rc 3 "$S" quote verify --ak $G/ak_pub.TPMT_PUBLIC.bin \
	--quote $G/quote_sha256.TPMS_ATTEST.bin \
	--sig $G/quote_sha256.TPMT_SIGNATURE.bin --nonce 9009 --pcrs trunc.bin
expect_rc 3 "$S" quote verify --ak nonexistent --quote q.bin --sig q.bin \
	--nonce 00
expect_one_error_line
expect_rc 3 "$S" tpm2-name trunc.bin
expect_rc 3 "$S" ekcert verify --cert trunc.bin --ca-dir .
ok "truncated, oversized, wrong-type and missing inputs: exit 3, one line"

# usage: exit 2; --help: exit 0
expect_rc 2 "$S" quote verify --ak x
expect_rc 2 "$S" quote frobnicate
expect_rc 2 "$S" quote verify --ak x --quote x --sig x --nonce xyz
expect_rc 2 "$S" certify verify --ak x --attest x --sig x --nonce 00 --key x \
	--role nobody
expect_rc 2 "$S" tpm2-name
for c in quote certify credential ekcert tpm2-name; do
	expect_rc 0 "$S" $c --help
	grep -q "Usage: shieldvm $c" out || fail "$c --help"
done
expect_rc 0 "$S" quote verify --help
ok "usage errors exit 2, --help documents every command"
