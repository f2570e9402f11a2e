/* SPDX-License-Identifier: Apache-2.0 */
#include "soft_quote.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest/hash.h"
#include "attest/tpm2.h"

static int bn_param(EVP_PKEY *k, const char *name, uint8_t *out, size_t size)
{
	BIGNUM *bn = NULL;
	int r = -EIO;

	if (EVP_PKEY_get_bn_param(k, name, &bn) &&
	    BN_bn2binpad(bn, out, (int)size) == (int)size)
		r = 0;
	BN_free(bn);
	return r;
}

int soft_ak_new(struct soft_ak *ak, uint16_t type, uint16_t param,
		uint16_t sig_alg, uint16_t hash)
{
	TPMT_PUBLIC *p = &ak->pub;

	memset(ak, 0, sizeof(*ak));
	ak->sig_alg = sig_alg;
	ak->hash = hash;
	ak->pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
	p->type = type;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if (type == TPM2_ALG_RSA) {
		ak->priv = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)param);
		if (!ak->priv)
			return -EIO;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = sig_alg;
		p->parameters.rsaDetail.scheme.details.anySig.hashAlg = hash;
		p->parameters.rsaDetail.keyBits = param;
		p->parameters.rsaDetail.exponent = 0;
		p->unique.rsa.size = param / 8;
		return bn_param(ak->priv, OSSL_PKEY_PARAM_RSA_N,
				p->unique.rsa.buffer, param / 8);
	} else {
		const char *group = param == TPM2_ECC_NIST_P256 ? "P-256" :
				    param == TPM2_ECC_NIST_P384 ? "P-384" :
								  "P-521";
		size_t fs = param == TPM2_ECC_NIST_P256 ? 32 :
			    param == TPM2_ECC_NIST_P384 ? 48 :
							  66;

		ak->priv = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
		if (!ak->priv)
			return -EIO;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = sig_alg;
		p->parameters.eccDetail.scheme.details.anySig.hashAlg = hash;
		p->parameters.eccDetail.curveID = param;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = (uint16_t)fs;
		p->unique.ecc.y.size = (uint16_t)fs;
		if (bn_param(ak->priv, OSSL_PKEY_PARAM_EC_PUB_X,
			     p->unique.ecc.x.buffer, fs) < 0 ||
		    bn_param(ak->priv, OSSL_PKEY_PARAM_EC_PUB_Y,
			     p->unique.ecc.y.buffer, fs) < 0)
			return -EIO;
		return 0;
	}
}

void soft_ak_free(struct soft_ak *ak)
{
	EVP_PKEY_free(ak->priv);
	ak->priv = NULL;
}

int soft_ak_public(const struct soft_ak *ak, uint8_t *buf, size_t max,
		   size_t *ret_len)
{
	TPM2B_PUBLIC p = { .publicArea = ak->pub };
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, max, &off))
		return -EIO;
	*ret_len = off;
	return 0;
}

int soft_sign(const struct soft_ak *ak, const uint8_t *msg, size_t len,
	      uint8_t *sig, size_t max, size_t *ret_len)
{
	const struct hash_alg *h = hash_alg_by_id(ak->hash);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t der[600];
	size_t dlen = sizeof(der), off = 0;
	TPMT_SIGNATURE s;
	int r = -EIO;

	memset(&s, 0, sizeof(s));
	if (!ctx || !h ||
	    EVP_DigestSignInit(ctx, &pctx, hash_alg_md(h), NULL, ak->priv) <= 0)
		goto out;
	if (ak->sig_alg == TPM2_ALG_RSAPSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, ak->pss_saltlen) <= 0))
		goto out;
	if (EVP_DigestSign(ctx, der, &dlen, msg, len) <= 0)
		goto out;
	s.sigAlg = ak->sig_alg;
	if (ak->sig_alg == TPM2_ALG_ECDSA) {
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
		size_t fs = ak->pub.unique.ecc.x.size;

		if (!es)
			goto out;
		s.signature.ecdsa.hash = ak->hash;
		s.signature.ecdsa.signatureR.size = (uint16_t)fs;
		s.signature.ecdsa.signatureS.size = (uint16_t)fs;
		BN_bn2binpad(ECDSA_SIG_get0_r(es),
			     s.signature.ecdsa.signatureR.buffer, (int)fs);
		BN_bn2binpad(ECDSA_SIG_get0_s(es),
			     s.signature.ecdsa.signatureS.buffer, (int)fs);
		ECDSA_SIG_free(es);
	} else {
		s.signature.rsassa.hash = ak->hash;
		s.signature.rsassa.sig.size = (uint16_t)dlen;
		memcpy(s.signature.rsassa.sig.buffer, der, dlen);
	}
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&s, sig, max, &off))
		goto out;
	*ret_len = off;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static void attest_header(const struct soft_ak *ak, TPMS_ATTEST *a,
			  uint16_t type, const uint8_t *nonce, size_t nlen)
{
	size_t name_len = 0;

	memset(a, 0, sizeof(*a));
	a->magic = TPM2_GENERATED_VALUE;
	a->type = type;
	if (tpm2_public_name(&ak->pub, a->qualifiedSigner.name, &name_len,
			     NULL) == 0)
		a->qualifiedSigner.size = (uint16_t)name_len;
	a->extraData.size = (uint16_t)nlen;
	if (nlen)
		memcpy(a->extraData.buffer, nonce, nlen);
	a->clockInfo.clock = 123456789;
	a->clockInfo.resetCount = 3;
	a->clockInfo.restartCount = 1;
	a->clockInfo.safe = 1;
	a->firmwareVersion = 0x2019102300163636ull;
}

static int finish(const struct soft_ak *ak, const TPMS_ATTEST *a,
		  uint8_t *attest, size_t amax, size_t *alen, uint8_t *sig,
		  size_t smax, size_t *slen)
{
	size_t off = 0;

	if (Tss2_MU_TPMS_ATTEST_Marshal(a, attest, amax, &off))
		return -EIO;
	*alen = off;
	return soft_sign(ak, attest, off, sig, smax, slen);
}

int soft_quote(const struct soft_ak *ak, const uint8_t *nonce, size_t nlen,
	       const struct quote_selection_bank *sel, unsigned n_sel,
	       const struct quote_pcrs *pcrs, uint8_t *attest, size_t amax,
	       size_t *alen, uint8_t *sig, size_t smax, size_t *slen)
{
	TPMS_ATTEST a;
	size_t dlen = 0;

	attest_header(ak, &a, TPM2_ST_ATTEST_QUOTE, nonce, nlen);
	a.attested.quote.pcrSelect.count = n_sel;
	for (unsigned i = 0; i < n_sel; i++) {
		TPMS_PCR_SELECTION *p =
			&a.attested.quote.pcrSelect.pcrSelections[i];

		p->hash = sel[i].alg;
		p->sizeofSelect = 3;
		p->pcrSelect[0] = (uint8_t)sel[i].mask;
		p->pcrSelect[1] = (uint8_t)(sel[i].mask >> 8);
		p->pcrSelect[2] = (uint8_t)(sel[i].mask >> 16);
	}
	if (quote_pcr_digest(ak->hash, sel, n_sel, pcrs,
			     a.attested.quote.pcrDigest.buffer, &dlen,
			     NULL) < 0)
		return -EIO;
	a.attested.quote.pcrDigest.size = (uint16_t)dlen;
	return finish(ak, &a, attest, amax, alen, sig, smax, slen);
}

int soft_certify(const struct soft_ak *ak, const uint8_t *nonce, size_t nlen,
		 const uint8_t *name, size_t name_len, uint8_t *attest,
		 size_t amax, size_t *alen, uint8_t *sig, size_t smax,
		 size_t *slen)
{
	TPMS_ATTEST a;

	attest_header(ak, &a, TPM2_ST_ATTEST_CERTIFY, nonce, nlen);
	a.attested.certify.name.size = (uint16_t)name_len;
	memcpy(a.attested.certify.name.name, name, name_len);
	return finish(ak, &a, attest, amax, alen, sig, smax, slen);
}
