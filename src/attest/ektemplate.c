/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/ektemplate.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "common/util.h"

/* PolicyA: PolicySecret(TPM_RH_ENDORSEMENT), SHA-256. */
static const uint8_t ek_policy_a_sha256[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
	0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
	0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* PolicyB (PolicyOR of PolicyA and PolicyC), SHA-384: template H-3. */
static const uint8_t ek_policy_b_sha384[48] = {
	0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc,
	0xf5, 0xfd, 0x3a, 0x1a, 0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4,
	0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca, 0xcb, 0x47, 0xba, 0x09,
	0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
};

#define EK_ATTRS_L                                                       \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY | \
	 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
#define EK_ATTRS_H (EK_ATTRS_L | TPMA_OBJECT_USERWITHAUTH)

const char *ektemplate_name(enum ektemplate t)
{
	switch (t) {
	case EKTEMPLATE_RSA2048_L1:
		return "L-1";
	case EKTEMPLATE_ECC_P256_L2:
		return "L-2";
	case EKTEMPLATE_ECC_P384_H3:
		return "H-3";
	}
	return "?";
}

static void ecc_params(TPMT_PUBLIC *p, uint16_t curve, uint16_t aes_bits)
{
	TPMS_ECC_PARMS *ep = &p->parameters.eccDetail;

	p->type = TPM2_ALG_ECC;
	ep->symmetric.algorithm = TPM2_ALG_AES;
	ep->symmetric.keyBits.aes = aes_bits;
	ep->symmetric.mode.aes = TPM2_ALG_CFB;
	ep->scheme.scheme = TPM2_ALG_NULL;
	ep->curveID = curve;
	ep->kdf.scheme = TPM2_ALG_NULL;
}

void ektemplate_public(enum ektemplate t, TPMT_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = EK_ATTRS_L;
	p->authPolicy.size = sizeof(ek_policy_a_sha256);
	memcpy(p->authPolicy.buffer, ek_policy_a_sha256, sizeof(ek_policy_a_sha256));
	switch (t) {
	case EKTEMPLATE_RSA2048_L1: {
		TPMS_RSA_PARMS *rp = &p->parameters.rsaDetail;

		p->type = TPM2_ALG_RSA;
		rp->symmetric.algorithm = TPM2_ALG_AES;
		rp->symmetric.keyBits.aes = 128;
		rp->symmetric.mode.aes = TPM2_ALG_CFB;
		rp->scheme.scheme = TPM2_ALG_NULL;
		rp->keyBits = 2048;
		rp->exponent = 0;
		p->unique.rsa.size = 256; /* zeros */
		return;
	}
	case EKTEMPLATE_ECC_P256_L2:
		ecc_params(p, TPM2_ECC_NIST_P256, 128);
		p->unique.ecc.x.size = 32; /* zeros */
		p->unique.ecc.y.size = 32;
		return;
	case EKTEMPLATE_ECC_P384_H3:
		ecc_params(p, TPM2_ECC_NIST_P384, 256);
		p->nameAlg = TPM2_ALG_SHA384;
		p->objectAttributes = EK_ATTRS_H;
		p->authPolicy.size = sizeof(ek_policy_b_sha384);
		memcpy(p->authPolicy.buffer, ek_policy_b_sha384, sizeof(ek_policy_b_sha384));
		return; /* H templates: empty unique */
	}
}

static int bn_param(EVP_PKEY *pk, const char *name, uint8_t *out, size_t len)
{
	BIGNUM *bn = NULL;
	int r = 0;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1 ||
	    BN_bn2binpad(bn, out, (int)len) != (int)len)
		r = -EINVAL;
	BN_free(bn);
	return r;
}

int ektemplate_from_pkey(EVP_PKEY *pk, TPMT_PUBLIC *ret, enum ektemplate *ret_t)
{
	char group[64] = "";
	TPMT_PUBLIC p;

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) == 2048) {
		uint8_t ex[4];

		ektemplate_public(EKTEMPLATE_RSA2048_L1, &p);
		if (bn_param(pk, OSSL_PKEY_PARAM_RSA_E, ex, sizeof(ex)) < 0 || ex[0] != 0 ||
		    ex[1] != 1 || ex[2] != 0 || ex[3] != 1 ||
		    bn_param(pk, OSSL_PKEY_PARAM_RSA_N, p.unique.rsa.buffer, 256) < 0)
			return -EINVAL;
		*ret = p;
		*ret_t = EKTEMPLATE_RSA2048_L1;
		return 0;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) == 1) {
		enum ektemplate t;
		size_t n;

		if (streq(group, "prime256v1")) {
			t = EKTEMPLATE_ECC_P256_L2;
			n = 32;
		} else if (streq(group, "secp384r1")) {
			t = EKTEMPLATE_ECC_P384_H3;
			n = 48;
		} else {
			return -EINVAL;
		}
		ektemplate_public(t, &p);
		if (bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, p.unique.ecc.x.buffer, n) < 0 ||
		    bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, p.unique.ecc.y.buffer, n) < 0)
			return -EINVAL;
		p.unique.ecc.x.size = p.unique.ecc.y.size = (UINT16)n;
		*ret = p;
		*ret_t = t;
		return 0;
	}
	return -EINVAL;
}
