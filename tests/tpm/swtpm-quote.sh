#!/usr/bin/env bash
# tpm2_quote on swtpm (RSA RSASSA, RSA RSAPSS and ECC ECDSA AKs, sha256 PCRs,
# a nonce) -> shieldvm quote verify accepts it, with tpm2-tools' PCR file and
# with JSON PCR values; rejects a wrong nonce and wrong PCR values.
source "${TPM_TEST_LIB:-$(dirname "$0")/lib.sh}"

start_swtpm "$TMP/state"
cd "$TMP"

# Give a few PCRs non-trivial values.
tpm tpm2_pcrextend 0:sha256=$(printf 'a%.0s' {1..64}) \
	7:sha256=$(printf '7%.0s' {1..64}) 16:sha256=$(printf 'c%.0s' {1..64})

tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub
flush

sel=sha256:0,1,2,3,4,5,6,7,16
nonce=5eed0123456789abcdef0123456789abcdef0001

for ak in rsa:rsassa rsa:rsapss ecc:ecdsa; do
	alg=${ak%%:*} scheme=${ak##*:}
	tpm tpm2_createak -C ek.ctx -c ak.ctx -G "$alg" -g sha256 -s "$scheme" \
		-u "ak-$scheme.pub" -n "ak-$scheme.name" -r "ak-$scheme.priv"
	flush
	tpm tpm2_quote -c ak.ctx -l "$sel" -q "$nonce" -m quote.msg -s quote.sig \
		-o pcrs.ser -g sha256 --scheme "$scheme"
	flush
	tpm tpm2_quote -c ak.ctx -l "$sel" -q "$nonce" -m quote2.msg \
		-s quote2.sig -o pcrs.val -F values -g sha256 --scheme "$scheme"
	flush
	# tpm2-tools itself agrees (peer oracle); tpm2_checkquote 5.4 cannot
	# check the TPM's RSAPSS salt length, we can.
	[[ $scheme == rsapss ]] || tpm tpm2_checkquote -u "ak-$scheme.pub" -m quote.msg -s quote.sig \
		-f pcrs.ser -g sha256 -q "$nonce"

	expect_rc 0 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote.msg --sig quote.sig --nonce "$nonce" \
		--pcrs-tpm2-tools pcrs.ser
	grep -q "pcrDigest matches" out || fail "no pcrDigest check"
	expect_rc 0 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote2.msg --sig quote2.sig --nonce "$nonce" \
		--pcrs-tpm2-tools pcrs.val --json
	grep -q '"pcr_digest_checked": true' out || fail "json verdict"
	ok "$scheme AK quote verifies (serialized and values PCR files)"

	# JSON PCR values as 'shieldvm eventlog replay --json' writes them
	{
		printf '{"sha256": {'
		i=0
		for p in 0 1 2 3 4 5 6 7 16; do
			v=$(od -An -v -tx1 -j $((i * 32)) -N 32 pcrs.val | tr -d ' \n')
			[[ $i == 0 ]] || printf ', '
			printf '"%s": "%s"' "$p" "$v"
			i=$((i + 1))
		done
		printf '}}\n'
	} >pcrs.json
	expect_rc 0 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote2.msg --sig quote2.sig --nonce "$nonce" --pcrs pcrs.json

	# wrong nonce
	expect_rc 1 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote.msg --sig quote.sig --nonce "${nonce%01}02" \
		--pcrs-tpm2-tools pcrs.ser
	grep -q "extraData does not match nonce" err || fail "nonce message"
	expect_one_error_line
	expect_rc 1 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote.msg --sig quote.sig --nonce "" \
		--pcrs-tpm2-tools pcrs.ser
	# wrong PCR value (PCR 7 replaced by PCR 16's)
	v16=$(od -An -v -tx1 -j $((8 * 32)) -N 32 pcrs.val | tr -d ' \n')
	sed "s/\"7\": \"[0-9a-f]*\"/\"7\": \"$v16\"/" pcrs.json >bad.json
	expect_rc 1 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote2.msg --sig quote2.sig --nonce "$nonce" --pcrs bad.json
	grep -q "pcrDigest mismatch for selection sha256:{0,1,2,3,4,5,6,7,16}" err ||
		fail "pcr message: $(cat err)"
	# a PCR missing from the values
	sed 's/"16": "[0-9a-f]*"/"17": "'"$v16"'"/' pcrs.json >missing.json
	expect_rc 1 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote2.msg --sig quote2.sig --nonce "$nonce" \
		--pcrs missing.json
	grep -q "PCR 16 but no value" err || fail "coverage message"
	# the other quote's signature
	expect_rc 1 "$SHIELDVM" quote verify --ak "ak-$scheme.pub" \
		--quote quote.msg --sig quote2.sig --nonce "$nonce"
	ok "$scheme AK: wrong nonce, wrong PCR, missing PCR, wrong signature rejected"
done

# an AK is not interchangeable
expect_rc 1 "$SHIELDVM" quote verify --ak ak-rsassa.pub --quote quote.msg \
	--sig quote.sig --nonce "$nonce"
ok "quote by another AK rejected"
