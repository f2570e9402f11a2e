/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/quote.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "attest/hash.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)
DEFINE_CLEANUP_FUNC(BIGNUM, BN_free)

struct quote_pcr_bank *quote_pcrs_bank(struct quote_pcrs *pcrs, uint16_t alg)
{
	for (unsigned i = 0; i < pcrs->n_banks && i < QUOTE_MAX_BANKS; i++)
		if (pcrs->banks[i].alg == alg)
			return &pcrs->banks[i];
	return NULL;
}

static const struct quote_pcr_bank *pcrs_bank_const(const struct quote_pcrs *p,
						    uint16_t alg)
{
	return quote_pcrs_bank((struct quote_pcrs *)p, alg);
}

struct quote_pcr_bank *quote_pcrs_add_bank(struct quote_pcrs *pcrs,
					   uint16_t alg)
{
	struct quote_pcr_bank *b = quote_pcrs_bank(pcrs, alg);

	if (b)
		return b;
	if (pcrs->n_banks >= QUOTE_MAX_BANKS)
		return NULL;
	b = &pcrs->banks[pcrs->n_banks++];
	memset(b, 0, sizeof(*b));
	b->alg = alg;
	return b;
}

void quote_format_selection(const struct quote_selection_bank *sel,
			    unsigned n_sel, char *buf, size_t size)
{
	size_t off = 0;

#define APPEND(...)                                                    \
	do {                                                           \
		int _n = snprintf(buf + off, size - off, __VA_ARGS__); \
		if (_n < 0 || (size_t)_n >= size - off) {              \
			off = size - 1;                                \
			goto out;                                      \
		}                                                      \
		off += (size_t)_n;                                     \
	} while (0)

	if (!size)
		return;
	buf[0] = 0;
	for (unsigned i = 0; i < n_sel; i++) {
		bool first = true;

		APPEND("%s%s:{", i ? "+" : "", tpm2_alg_name(sel[i].alg));
		for (unsigned p = 0; p < 32; p++)
			if (sel[i].mask & (1u << p)) {
				APPEND("%s%u", first ? "" : ",", p);
				first = false;
			}
		APPEND("}");
	}
out:
	buf[off] = 0;
#undef APPEND
}

static const struct hash_alg *sig_hash_alg(uint16_t id, struct err *e, int *r)
{
	const struct hash_alg *h = NULL;

	switch (id) {
	case TPM2_ALG_SHA1:
	case TPM2_ALG_SHA256:
	case TPM2_ALG_SHA384:
	case TPM2_ALG_SHA512:
		h = hash_alg_by_id(id);
		break;
	default:
		break;
	}
	if (!h || !hash_alg_md(h))
		*r = err_set(e, EOPNOTSUPP,
			     "signature hash 0x%04x (%s) is not supported", id,
			     tpm2_alg_name(id));
	return h;
}

/* ECDSA (r, s) from the TPM as a DER ECDSA-Sig-Value. */
static int ecdsa_der(const TPMS_SIGNATURE_ECC *s, uint8_t *out, size_t max,
		     size_t *ret_len, struct err *e)
{
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
	_cleanup_(BN_freep) BIGNUM *r = NULL, *ss = NULL;
	unsigned char *p = out;
	int n;

	if (s->signatureR.size == 0 || s->signatureS.size == 0)
		return err_set(e, EKEYREJECTED,
			       "ECDSA signature has an empty r or s");
	r = BN_bin2bn(s->signatureR.buffer, s->signatureR.size, NULL);
	ss = BN_bin2bn(s->signatureS.buffer, s->signatureS.size, NULL);
	es = ECDSA_SIG_new();
	if (!r || !ss || !es || !ECDSA_SIG_set0(es, r, ss))
		return err_set(e, ENOMEM, "out of memory");
	r = ss = NULL; /* owned by es now */
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > max)
		return err_set(e, EKEYREJECTED, "ECDSA signature is malformed");
	n = i2d_ECDSA_SIG(es, &p);
	if (n <= 0)
		return err_set(e, EKEYREJECTED, "ECDSA signature is malformed");
	*ret_len = (size_t)n;
	return 0;
}

int quote_check_signature(const struct tpm2_key *ak, const uint8_t *msg,
			  size_t msg_len, const TPMT_SIGNATURE *sig,
			  struct err *e)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md_ctx = NULL;
	uint8_t der[2 * 70 + 16];
	const struct hash_alg *h;
	EVP_PKEY_CTX *pctx = NULL;
	const uint8_t *sigbytes;
	size_t siglen = 0;
	int key_type, r = 0, ok;
	uint16_t hash_id;

	if (!ak || !ak->pkey)
		return err_set(e, EINVAL, "no attestation key");
	key_type = EVP_PKEY_get_base_id(ak->pkey);
	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		if (key_type != EVP_PKEY_RSA)
			return err_set(e, EKEYREJECTED,
				       "signature scheme %s needs an RSA key, "
				       "the AK is not RSA",
				       tpm2_alg_name(sig->sigAlg));
		hash_id = sig->signature.rsassa.hash;
		sigbytes = sig->signature.rsassa.sig.buffer;
		siglen = sig->signature.rsassa.sig.size;
		break;
	case TPM2_ALG_ECDSA:
		if (key_type != EVP_PKEY_EC)
			return err_set(e, EKEYREJECTED,
				       "signature scheme ecdsa needs an ECC "
				       "key, the AK is not ECC");
		hash_id = sig->signature.ecdsa.hash;
		r = ecdsa_der(&sig->signature.ecdsa, der, sizeof(der), &siglen,
			      e);
		if (r < 0)
			return r;
		sigbytes = der;
		break;
	default:
		return err_set(e, EOPNOTSUPP,
			       "signature scheme 0x%04x (%s) is not supported "
			       "(rsassa, rsapss, ecdsa)",
			       sig->sigAlg, tpm2_alg_name(sig->sigAlg));
	}
	h = sig_hash_alg(hash_id, e, &r);
	if (!h)
		return r;

	if (ak->has_public) {
		const TPMT_ASYM_SCHEME *ks =
			&ak->pub.parameters.asymDetail.scheme;

		if (ks->scheme != TPM2_ALG_NULL &&
		    (ks->scheme != sig->sigAlg ||
		     ks->details.anySig.hashAlg != hash_id))
			return err_set(e, EKEYREJECTED,
				       "signature is %s/%s but the AK's scheme "
				       "is %s/%s",
				       tpm2_alg_name(sig->sigAlg),
				       tpm2_alg_name(hash_id),
				       tpm2_alg_name(ks->scheme),
				       tpm2_alg_name(
					       ks->details.anySig.hashAlg));
		if (!(ak->pub.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
			return err_set(e, EKEYREJECTED,
				       "the AK is not a signing key "
				       "(sign attribute clear)");
	}

	md_ctx = EVP_MD_CTX_new();
	if (!md_ctx)
		return err_set(e, ENOMEM, "out of memory");
	if (EVP_DigestVerifyInit(md_ctx, &pctx, hash_alg_md(h), NULL,
				 ak->pkey) <= 0)
		goto ossl_fail;
	if (sig->sigAlg == TPM2_ALG_RSAPSS) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <=
			    0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
						     RSA_PSS_SALTLEN_AUTO) <= 0)
			goto ossl_fail;
	} else if (sig->sigAlg == TPM2_ALG_RSASSA) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
			goto ossl_fail;
	}
	ok = EVP_DigestVerify(md_ctx, sigbytes, siglen, msg, msg_len);
	ERR_clear_error();
	if (ok != 1)
		return err_set(e, EKEYREJECTED,
			       "%s/%s signature (%zu bytes) does not verify "
			       "with the AK",
			       tpm2_alg_name(sig->sigAlg), h->name, siglen);
	return 0;

ossl_fail:
	ERR_clear_error();
	return err_set(e, EIO, "OpenSSL cannot set up %s/%s verification",
		       tpm2_alg_name(sig->sigAlg), h->name);
}

/* Shared front half: unmarshal, signature, magic, type, nonce, info. */
static const char *attest_kind(uint16_t type)
{
	switch (type) {
	case TPM2_ST_ATTEST_QUOTE:
		return "quote";
	case TPM2_ST_ATTEST_CERTIFY:
		return "certify";
	case TPM2_ST_ATTEST_CREATION:
		return "certify-creation";
	default:
		return "attestation";
	}
}

static int check_attest(const struct tpm2_key *ak, const uint8_t *attest,
			size_t attest_len, const uint8_t *sig, size_t sig_len,
			const uint8_t *nonce, size_t nonce_len,
			uint16_t want_type, TPMS_ATTEST *a, TPMT_SIGNATURE *s,
			struct quote_info *info, struct err *e)
{
	const char *kind = attest_kind(want_type);
	int r;

	/* Only a restricted key proves the TPM made what it signed: the TPM
	 * refuses to sign, with such a key, data that starts with
	 * TPM_GENERATED_VALUE unless it produced that data itself. */
	if (ak && ak->has_public &&
	    (ak->pub.objectAttributes & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)) !=
		    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT))
		return err_set(e, EKEYREJECTED,
			       "the attestation key is not a restricted signing key "
			       "(attributes 0x%08x): its signature does not prove the "
			       "TPM produced the %s",
			       ak->pub.objectAttributes, kind);
	r = tpm2_attest_unmarshal(attest, attest_len, a, e);
	if (r < 0)
		return r;
	r = tpm2_signature_unmarshal(sig, sig_len, s, e);
	if (r < 0)
		return r;
	r = quote_check_signature(ak, attest, attest_len, s, e);
	if (r < 0) {
		err_prefix(e, "%s", kind);
		return r;
	}
	if (a->magic != TPM2_GENERATED_VALUE)
		return err_set(e, EKEYREJECTED,
			       "%s magic is 0x%08x, not TPM_GENERATED_VALUE "
			       "0xff544347",
			       kind, a->magic);
	if (a->type != want_type)
		return err_set(e, EKEYREJECTED,
			       "%s: attestation type is 0x%04x (%s), "
			       "expected 0x%04x",
			       kind, a->type, attest_kind(a->type), want_type);
	if (nonce_len > TPM_MAX_NONCE_SIZE)
		return err_set(e, EMSGSIZE, "nonce is %zu bytes, limit is %u",
			       nonce_len, TPM_MAX_NONCE_SIZE);
	if (a->extraData.size != nonce_len)
		return err_set(e, EKEYREJECTED,
			       "%s extraData (%u bytes) does not match nonce "
			       "(%zu bytes)",
			       kind, a->extraData.size, nonce_len);
	if (nonce_len &&
	    CRYPTO_memcmp(a->extraData.buffer, nonce, nonce_len) != 0)
		return err_set(e, EKEYREJECTED,
			       "%s extraData does not match nonce (%zu bytes)",
			       kind, nonce_len);

	if (info) {
		memset(info, 0, sizeof(*info));
		info->type = a->type;
		info->sig_alg = s->sigAlg;
		info->sig_hash = s->signature.any.hashAlg;
		info->signer_len = a->qualifiedSigner.size;
		memcpy(info->signer, a->qualifiedSigner.name,
		       a->qualifiedSigner.size);
		info->clock = a->clockInfo.clock;
		info->reset_count = a->clockInfo.resetCount;
		info->restart_count = a->clockInfo.restartCount;
		info->safe = a->clockInfo.safe != 0;
		info->firmware_version = a->firmwareVersion;
	}
	return 0;
}

int quote_pcr_digest(uint16_t hash_alg, const struct quote_selection_bank *sel,
		     unsigned n_sel, const struct quote_pcrs *pcrs,
		     uint8_t *out, size_t *ret_len, struct err *e)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
	const struct hash_alg *h = hash_alg_by_id(hash_alg);
	unsigned int n = 0;

	if (!h || !hash_alg_md(h))
		return err_set(e, EOPNOTSUPP, "hash 0x%04x is not supported",
			       hash_alg);
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, hash_alg_md(h), NULL))
		return err_set(e, ENOMEM, "cannot start %s digest", h->name);
	for (unsigned i = 0; i < n_sel; i++) {
		const struct hash_alg *bh = hash_alg_by_id(sel[i].alg);
		const struct quote_pcr_bank *b;

		if (!sel[i].mask)
			continue;
		if (!bh)
			return err_set(e, EOPNOTSUPP,
				       "quote selects PCR bank 0x%04x, an "
				       "unknown hash",
				       sel[i].alg);
		b = pcrs_bank_const(pcrs, sel[i].alg);
		if (!b)
			return err_set(e, EKEYREJECTED,
				       "quote selects %s PCRs but no %s values "
				       "were supplied",
				       bh->name, bh->name);
		for (unsigned p = 0; p < 32; p++) {
			if (!(sel[i].mask & (1u << p)))
				continue;
			if (p >= QUOTE_NUM_PCRS || !(b->mask & (1u << p)))
				return err_set(e, EKEYREJECTED,
					       "quote selects %s PCR %u but no "
					       "value was supplied for it",
					       bh->name, p);
			if (!EVP_DigestUpdate(ctx, b->values[p], bh->size))
				return err_set(e, EIO, "digest failed");
		}
	}
	if (!EVP_DigestFinal_ex(ctx, out, &n) || n != h->size)
		return err_set(e, EIO, "digest failed");
	*ret_len = n;
	return 0;
}

int quote_verify(const struct tpm2_key *ak, const uint8_t *attest,
		 size_t attest_len, const uint8_t *sig, size_t sig_len,
		 const uint8_t *nonce, size_t nonce_len,
		 const struct quote_pcrs *pcrs, struct quote_info *info,
		 struct err *e)
{
	struct quote_selection_bank banks[TPM2_NUM_PCR_BANKS];
	const TPML_PCR_SELECTION *ps;
	const TPM2B_DIGEST *pd;
	uint8_t digest[QUOTE_MAX_DIGEST];
	TPMT_SIGNATURE s;
	TPMS_ATTEST a;
	size_t dlen = 0;
	uint32_t any = 0;
	unsigned n = 0;
	int r;

	r = check_attest(ak, attest, attest_len, sig, sig_len, nonce, nonce_len,
			 TPM2_ST_ATTEST_QUOTE, &a, &s, info, e);
	if (r < 0)
		return r;

	ps = &a.attested.quote.pcrSelect;
	pd = &a.attested.quote.pcrDigest;
	if (ps->count > TPM2_NUM_PCR_BANKS)
		return err_set(e, EBADMSG, "quote selects %u PCR banks",
			       ps->count);
	for (unsigned i = 0; i < ps->count; i++) {
		const TPMS_PCR_SELECTION *p = &ps->pcrSelections[i];
		uint32_t m = 0;

		if (p->sizeofSelect > sizeof(p->pcrSelect))
			return err_set(e, EBADMSG,
				       "quote PCR selection %u is %u bytes", i,
				       p->sizeofSelect);
		for (unsigned j = 0; j < p->sizeofSelect; j++)
			m |= (uint32_t)p->pcrSelect[j] << (8 * j);
		banks[n].alg = p->hash;
		banks[n].mask = m;
		any |= m;
		n++;
	}
	if (info) {
		info->n_banks = n;
		memcpy(info->banks, banks, n * sizeof(banks[0]));
		info->pcr_digest_len = pd->size;
		memcpy(info->pcr_digest, pd->buffer,
		       pd->size < sizeof(info->pcr_digest) ?
			       pd->size :
			       sizeof(info->pcr_digest));
	}
	if (!pcrs)
		return 0;
	if (!any)
		return err_set(e, EKEYREJECTED, "quote selects no PCRs");
	r = quote_pcr_digest(s.signature.any.hashAlg, banks, n, pcrs, digest,
			     &dlen, e);
	if (r < 0)
		return r;
	if (pd->size != dlen || CRYPTO_memcmp(pd->buffer, digest, dlen) != 0) {
		char selbuf[400];

		quote_format_selection(banks, n, selbuf, sizeof(selbuf));
		return err_set(e, EKEYREJECTED,
			       "pcrDigest mismatch for selection %s", selbuf);
	}
	if (info)
		info->pcr_digest_checked = true;
	return 0;
}

static int check_name(const char *what, const TPM2B_NAME *got,
		      const TPMT_PUBLIC *key, struct quote_info *info,
		      struct err *e)
{
	uint8_t name[TPM2_NAME_MAX];
	size_t len = 0;
	int r;

	if (info) {
		info->name_len = got->size;
		memcpy(info->name, got->name, got->size);
	}
	r = tpm2_public_name(key, name, &len, e);
	if (r < 0)
		return r;
	if (got->size != len || CRYPTO_memcmp(got->name, name, len) != 0)
		return err_set(e, EKEYREJECTED,
			       "%s (%u bytes) is not the name of the supplied "
			       "key (%zu bytes)",
			       what, got->size, len);
	return 0;
}

int quote_verify_certify(const struct tpm2_key *ak, const uint8_t *attest,
			 size_t attest_len, const uint8_t *sig, size_t sig_len,
			 const uint8_t *nonce, size_t nonce_len,
			 const TPMT_PUBLIC *key, struct quote_info *info,
			 struct err *e)
{
	TPMT_SIGNATURE s;
	TPMS_ATTEST a;
	int r;

	r = check_attest(ak, attest, attest_len, sig, sig_len, nonce, nonce_len,
			 TPM2_ST_ATTEST_CERTIFY, &a, &s, info, e);
	if (r < 0)
		return r;
	return check_name("certified name", &a.attested.certify.name, key, info,
			  e);
}

int quote_verify_creation(const struct tpm2_key *ak, const uint8_t *attest,
			  size_t attest_len, const uint8_t *sig, size_t sig_len,
			  const uint8_t *nonce, size_t nonce_len,
			  const TPMT_PUBLIC *key, const uint8_t *creation_data,
			  size_t creation_data_len, struct quote_info *info,
			  struct err *e)
{
	const TPM2B_DIGEST *ch;
	const struct hash_alg *h;
	TPMS_CREATION_DATA cd;
	uint8_t digest[QUOTE_MAX_DIGEST];
	TPMT_SIGNATURE s;
	TPMS_ATTEST a;
	int r;

	r = check_attest(ak, attest, attest_len, sig, sig_len, nonce, nonce_len,
			 TPM2_ST_ATTEST_CREATION, &a, &s, info, e);
	if (r < 0)
		return r;
	r = check_name("creation objectName", &a.attested.creation.objectName,
		       key, info, e);
	if (r < 0)
		return r;
	ch = &a.attested.creation.creationHash;
	if (info) {
		info->creation_hash_len = ch->size;
		memcpy(info->creation_hash, ch->buffer,
		       ch->size < sizeof(info->creation_hash) ?
			       ch->size :
			       sizeof(info->creation_hash));
	}
	if (!creation_data)
		return 0;
	r = tpm2_creation_data_unmarshal(creation_data, creation_data_len, &cd,
					 e);
	if (r < 0)
		return r;
	h = hash_alg_by_id(key->nameAlg);
	if (!h)
		return err_set(e, EOPNOTSUPP, "key nameAlg 0x%04x unsupported",
			       key->nameAlg);
	r = hash_digest(h, creation_data, creation_data_len, digest);
	if (r < 0)
		return err_set(e, -r, "cannot hash creation data");
	if (ch->size != h->size || CRYPTO_memcmp(ch->buffer, digest, h->size))
		return err_set(e, EKEYREJECTED,
			       "creationHash does not match the %s of the "
			       "creation data",
			       h->name);
	if (info)
		info->creation_hash_checked = true;
	return 0;
}

static const struct {
	uint32_t bit;
	const char *name;
} attr_names[] = {
	{ TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
	{ TPMA_OBJECT_STCLEAR, "stClear" },
	{ TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
	{ TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
	{ TPMA_OBJECT_USERWITHAUTH, "userWithAuth" },
	{ TPMA_OBJECT_ADMINWITHPOLICY, "adminWithPolicy" },
	{ TPMA_OBJECT_NODA, "noDA" },
	{ TPMA_OBJECT_ENCRYPTEDDUPLICATION, "encryptedDuplication" },
	{ TPMA_OBJECT_RESTRICTED, "restricted" },
	{ TPMA_OBJECT_DECRYPT, "decrypt" },
	{ TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
};

int quote_check_attributes(const TPMT_PUBLIC *pub, uint32_t required,
			   uint32_t forbidden, struct err *e)
{
	uint32_t a = pub->objectAttributes;

	for (size_t i = 0; i < ARRAY_SIZE(attr_names); i++) {
		uint32_t bit = attr_names[i].bit;

		if ((required & bit) && !(a & bit))
			return err_set(e, EKEYREJECTED,
				       "key attributes 0x%08x: %s is required "
				       "but clear",
				       a, attr_names[i].name);
		if ((forbidden & bit) && (a & bit))
			return err_set(e, EKEYREJECTED,
				       "key attributes 0x%08x: %s is set but "
				       "not allowed",
				       a, attr_names[i].name);
	}
	if ((required & ~a) || (forbidden & a))
		return err_set(e, EKEYREJECTED,
			       "key attributes 0x%08x do not meet required "
			       "0x%08x / forbidden 0x%08x",
			       a, required, forbidden);
	return 0;
}

int quote_check_transport_key(const TPMT_PUBLIC *pub, struct err *e)
{
	EVP_PKEY *pkey = NULL;
	int r;

	r = quote_check_attributes(pub, QUOTE_TRANSPORT_KEY_REQUIRED,
				   QUOTE_TRANSPORT_KEY_FORBIDDEN, e);
	if (r < 0)
		return r;
	/* The key must be one we can wrap a secret to. */
	r = tpm2_public_to_pkey(pub, &pkey, e);
	EVP_PKEY_free(pkey);
	if (r < 0) {
		err_prefix(e, "transport key");
		return r == -EBADMSG ? r : -EKEYREJECTED;
	}
	return 0;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* Layout of tpm2-tools' host structs, written little-endian. */
#define T2T_SEL_ENTRY 8u /* UINT16 hash, UINT8 sizeofSelect, BYTE[4], pad */
#define T2T_SEL_SIZE (4u + 16u * T2T_SEL_ENTRY)	     /* 132 */
#define T2T_DIGEST_ENTRY (2u + 64u)		     /* TPM2B_DIGEST */
#define T2T_TPML_DIGEST (4u + 8u * T2T_DIGEST_ENTRY) /* 532 */
#define T2T_MAX_TPML_DIGEST 32u

static int assign(struct quote_pcrs *pcrs, uint16_t alg, unsigned pcr,
		  const uint8_t *val, size_t len, struct err *e)
{
	const struct hash_alg *h = hash_alg_by_id(alg);
	struct quote_pcr_bank *b;

	if (!h)
		return err_set(e, EOPNOTSUPP, "PCR bank 0x%04x is unknown",
			       alg);
	if (len != h->size)
		return err_set(e, EBADMSG, "%s PCR %u value is %zu bytes",
			       h->name, pcr, len);
	if (pcr >= QUOTE_NUM_PCRS)
		return err_set(e, EBADMSG, "%s PCR %u is out of range", h->name,
			       pcr);
	b = quote_pcrs_add_bank(pcrs, alg);
	if (!b)
		return err_set(e, EMSGSIZE, "more than %u PCR banks",
			       QUOTE_MAX_BANKS);
	memcpy(b->values[pcr], val, len);
	b->mask |= 1u << pcr;
	return 0;
}

static int t2t_serialized(const uint8_t *buf, size_t len,
			  struct quote_pcrs *pcrs, struct err *e)
{
	uint32_t nsel = le32(buf), ndig = le32(buf + T2T_SEL_SIZE);
	unsigned vi = 0, di = 0;
	int r;

	if (nsel > 16)
		return err_set(e, EBADMSG,
			       "tpm2-tools PCR file selects %u banks", nsel);
	for (unsigned i = 0; i < nsel; i++) {
		const uint8_t *s = buf + 4 + i * T2T_SEL_ENTRY;
		uint16_t alg = le16(s);
		uint8_t sz = s[2];

		if (sz > 4)
			return err_set(e, EBADMSG,
				       "tpm2-tools PCR file: selection %u is "
				       "%u bytes",
				       i, sz);
		for (unsigned p = 0; p < 8u * sz; p++) {
			const uint8_t *td, *dg;
			uint32_t cnt;
			uint16_t dsz;

			if (!(s[3 + p / 8] & (1u << (p % 8))))
				continue;
			if (vi >= ndig)
				return err_set(e, EBADMSG,
					       "tpm2-tools PCR file has fewer "
					       "values than its selection");
			td = buf + T2T_SEL_SIZE + 4 + vi * T2T_TPML_DIGEST;
			cnt = le32(td);
			if (cnt > 8 || di >= cnt)
				return err_set(e, EBADMSG,
					       "tpm2-tools PCR file: digest list "
					       "%u has count %u",
					       vi, cnt);
			dg = td + 4 + di * T2T_DIGEST_ENTRY;
			dsz = le16(dg);
			if (dsz > 64)
				return err_set(e, EBADMSG,
					       "tpm2-tools PCR file: digest is "
					       "%u bytes",
					       dsz);
			r = assign(pcrs, alg, p, dg + 2, dsz, e);
			if (r < 0)
				return r;
			if (++di >= cnt) {
				di = 0;
				vi++;
			}
		}
	}
	return 0;
}

int quote_pcrs_from_tpm2_tools(const uint8_t *buf, size_t len,
			       const struct quote_selection_bank *sel,
			       unsigned n_sel, struct quote_pcrs *pcrs,
			       struct err *e)
{
	size_t off = 0;
	int r;

	if (len >= T2T_SEL_SIZE + 4 &&
	    (len - T2T_SEL_SIZE - 4) % T2T_TPML_DIGEST == 0 &&
	    le32(buf + T2T_SEL_SIZE) ==
		    (len - T2T_SEL_SIZE - 4) / T2T_TPML_DIGEST &&
	    le32(buf + T2T_SEL_SIZE) <= T2T_MAX_TPML_DIGEST)
		return t2t_serialized(buf, len, pcrs, e);

	/* -F values: digests back to back in the quote's selection order. */
	for (unsigned i = 0; i < n_sel; i++) {
		const struct hash_alg *h = hash_alg_by_id(sel[i].alg);

		if (!sel[i].mask)
			continue;
		if (!h)
			return err_set(e, EOPNOTSUPP,
				       "PCR bank 0x%04x is unknown",
				       sel[i].alg);
		for (unsigned p = 0; p < 32; p++) {
			if (!(sel[i].mask & (1u << p)))
				continue;
			if (len - off < h->size)
				return err_set(e, EBADMSG,
					       "tpm2-tools PCR values file (%zu "
					       "bytes) is too short for the "
					       "quote's selection",
					       len);
			r = assign(pcrs, sel[i].alg, p, buf + off, h->size, e);
			if (r < 0)
				return r;
			off += h->size;
		}
	}
	if (off != len)
		return err_set(e, EBADMSG,
			       "tpm2-tools PCR file is %zu bytes; neither the "
			       "serialized format nor %zu bytes of values for "
			       "the quote's selection",
			       len, off);
	return 0;
}
