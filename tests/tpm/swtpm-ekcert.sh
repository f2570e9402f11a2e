#!/usr/bin/env bash
# EK certificate chain: swtpm_setup --create-ek-cert with swtpm-localca in a
# temporary directory (own swtpm_setup.conf, swtpm-localca.conf and
# .options; nothing under /etc or /var/lib), read the EK certificates from NV,
# validate against the local CA (root + intermediate) -> ok; against an empty
# or another CA directory -> rejected; every single flipped byte -> rejected.
source "${TPM_TEST_LIB:-$(dirname "$0")/lib.sh}"

cd "$TMP"
mkdir -p ca state
cat >ca/swtpm-localca.conf <<CONF
statedir = $TMP/ca
signingkey = $TMP/ca/signkey.pem
issuercert = $TMP/ca/issuercert.pem
certserial = $TMP/ca/certserial
CONF
cat >ca/swtpm-localca.options <<CONF
--platform-manufacturer shieldvm-test
--platform-version 2.1
--platform-model swtpm
CONF
cat >swtpm_setup.conf <<CONF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $TMP/ca/swtpm-localca.conf
create_certs_tool_options = $TMP/ca/swtpm-localca.options
active_pcr_banks = sha256
CONF
tpm swtpm_setup --tpm2 --tpmstate "$TMP/state" --config "$TMP/swtpm_setup.conf" \
	--create-ek-cert --create-platform-cert --overwrite

# The trusted directory: the local CA's root and intermediate only (no keys).
mkdir cadir empty other
cp ca/swtpm-localca-rootca-cert.pem ca/issuercert.pem cadir/

start_swtpm "$TMP/state"
tpm tpm2_nvread 0x01c00002 -o ek-rsa.der
tpm tpm2_nvread 0x01c00016 -o ek-ecc.der
tpm tpm2_createek -c ek.ctx -G rsa -u ek-rsa.pub
flush
stop_swtpm

for c in ek-rsa ek-ecc; do
	expect_rc 0 "$SHIELDVM" ekcert verify --cert $c.der --ca-dir cadir
	expect_rc 0 "$SHIELDVM" ekcert verify --cert $c.der --ca-dir cadir --json
	grep -q '"chain_length": 3' out || fail "chain length: $(cat out)"
	grep -q '"tpm_model": "swtpm"' out || fail "TPM model from SAN"
	grep -q '"ek_eku": true' out || fail "EK EKU"
done
ok "RSA and ECC EK certificates chain to the local CA (root + intermediate)"

# PEM input works the same
{
	echo "-----BEGIN CERTIFICATE-----"
	base64 ek-rsa.der
	echo "-----END CERTIFICATE-----"
} >ek-rsa.pem
expect_rc 0 "$SHIELDVM" ekcert verify --cert ek-rsa.pem --ca-dir cadir

# The certified key is the TPM's EK
expect_rc 0 "$SHIELDVM" ekcert verify --cert ek-rsa.der --ca-dir cadir \
	--ek-pub ek-rsa.pub
expect_rc 1 "$SHIELDVM" ekcert verify --cert ek-ecc.der --ca-dir cadir \
	--ek-pub ek-rsa.pub
grep -q "is not the EK public key" err || fail "key mismatch message"
ok "EK certificate key matches the EK public area (and only that one)"

# Empty directory, intermediate only, another CA
expect_rc 1 "$SHIELDVM" ekcert verify --cert ek-rsa.der --ca-dir empty
expect_one_error_line
cp ca/issuercert.pem other/
expect_rc 1 "$SHIELDVM" ekcert verify --cert ek-rsa.der --ca-dir other
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout other/key.pem -out other/ca.pem -subj "/CN=other CA" -days 2 \
	>>tools.log 2>&1 || fail "openssl req"
expect_rc 1 "$SHIELDVM" ekcert verify --cert ek-rsa.der --ca-dir other
grep -q "unable to get" err || fail "chain message: $(cat err)"
ok "empty, intermediate-only and foreign CA directories rejected"

# Flipped bytes through the CLI are rejected (1) or unparsable (3): a dense
# sample here (every bit of every byte is covered in-process by
# test_tpm_evidence's test_ekcert_chain), always including the signature.
len=$(stat -c %s ek-rsa.der)
rejected=0 tried=0
for ((i = 0; i < len; i += (i > len - 64 ? 1 : 13))); do
	tried=$((tried + 1))
	cp ek-rsa.der flip.der
	b=$(od -An -tu1 -j $i -N 1 ek-rsa.der | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x01)))" |
		dd of=flip.der bs=1 seek=$i conv=notrunc status=none
	set +e
	"$SHIELDVM" ekcert verify --cert flip.der --ca-dir cadir >/dev/null 2>&1
	rc=$?
	set -e
	[[ $rc == 1 || $rc == 3 ]] || fail "flipped byte $i: exit $rc"
	[[ $rc == 1 ]] && rejected=$((rejected + 1))
done
ok "$tried single-byte flips of $len refused ($rejected judged and rejected)"
