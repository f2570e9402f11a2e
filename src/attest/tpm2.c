/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/tpm2.h"

#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "attest/hash.h"
#include "attest/keycache.h"
#include "common/limits.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
DEFINE_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
DEFINE_CLEANUP_FUNC(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
DEFINE_CLEANUP_FUNC(OSSL_PARAM, OSSL_PARAM_free)
DEFINE_CLEANUP_FUNC(BIGNUM, BN_free)
DEFINE_CLEANUP_FUNC(BIO, BIO_free)
DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)

int tpm2_rc_to_errno(TSS2_RC rc)
{
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	switch (rc & 0xFFFF) {
	case TSS2_BASE_RC_BAD_REFERENCE:
	case TSS2_BASE_RC_BAD_VALUE:
		return -EINVAL;
	case TSS2_BASE_RC_INSUFFICIENT_BUFFER:
		return -ENOBUFS;
	case TSS2_BASE_RC_BAD_SIZE:
	case TSS2_BASE_RC_MALFORMED_RESPONSE:
		return -EBADMSG;
	case TSS2_BASE_RC_MEMORY:
		return -ENOMEM;
	case TSS2_BASE_RC_NOT_IMPLEMENTED:
		return -EOPNOTSUPP;
	case TSS2_BASE_RC_IO_ERROR:
	case TSS2_BASE_RC_NO_CONNECTION:
		return -EIO;
	case TSS2_BASE_RC_TRY_AGAIN:
		return -EAGAIN;
	default:
		/* Layer-specific or TPM response codes: the input was refused.
		 */
		return (rc & TSS2_RC_LAYER_MASK) == TSS2_MU_RC_LAYER ?
			       -EBADMSG :
			       -EPROTO;
	}
}

static const struct {
	uint16_t id;
	const char *name;
} alg_names[] = {
	{ TPM2_ALG_RSA, "rsa" },
	{ TPM2_ALG_SHA1, "sha1" },
	{ TPM2_ALG_HMAC, "hmac" },
	{ TPM2_ALG_AES, "aes" },
	{ TPM2_ALG_KEYEDHASH, "keyedhash" },
	{ TPM2_ALG_XOR, "xor" },
	{ TPM2_ALG_SHA256, "sha256" },
	{ TPM2_ALG_SHA384, "sha384" },
	{ TPM2_ALG_SHA512, "sha512" },
	{ TPM2_ALG_NULL, "null" },
	{ TPM2_ALG_SM3_256, "sm3_256" },
	{ TPM2_ALG_RSASSA, "rsassa" },
	{ TPM2_ALG_RSAES, "rsaes" },
	{ TPM2_ALG_RSAPSS, "rsapss" },
	{ TPM2_ALG_OAEP, "oaep" },
	{ TPM2_ALG_ECDSA, "ecdsa" },
	{ TPM2_ALG_ECDH, "ecdh" },
	{ TPM2_ALG_ECDAA, "ecdaa" },
	{ TPM2_ALG_SM2, "sm2" },
	{ TPM2_ALG_ECSCHNORR, "ecschnorr" },
	{ TPM2_ALG_ECC, "ecc" },
	{ TPM2_ALG_SYMCIPHER, "symcipher" },
	{ TPM2_ALG_CFB, "cfb" },
};

const char *tpm2_alg_name(uint16_t alg)
{
	for (size_t i = 0; i < ARRAY_SIZE(alg_names); i++)
		if (alg_names[i].id == alg)
			return alg_names[i].name;
	return "unknown";
}

const char *tpm2_curve_name(uint16_t curve)
{
	switch (curve) {
	case TPM2_ECC_NIST_P192:
		return "nist_p192";
	case TPM2_ECC_NIST_P224:
		return "nist_p224";
	case TPM2_ECC_NIST_P256:
		return "nist_p256";
	case TPM2_ECC_NIST_P384:
		return "nist_p384";
	case TPM2_ECC_NIST_P521:
		return "nist_p521";
	case TPM2_ECC_BN_P256:
		return "bn_p256";
	case TPM2_ECC_BN_P638:
		return "bn_p638";
	case TPM2_ECC_SM2_P256:
		return "sm2_p256";
	default:
		return "unknown";
	}
}

/* Common shape of every unmarshal: size bound, parse, consumed exactly. */
typedef TSS2_RC (*unmarshal_fn)(const uint8_t *buf, size_t len, size_t *off,
				void *dest);

static int unmarshal(unmarshal_fn fn, const char *what, size_t limit,
		     const uint8_t *buf, size_t len, void *dest, size_t size,
		     struct err *e)
{
	size_t off = 0;
	TSS2_RC rc;

	if (len > limit)
		return err_set(e, EMSGSIZE, "%s is %zu bytes, limit is %zu",
			       what, len, limit);
	if (len == 0 || !buf)
		return err_set(e, EBADMSG, "%s is empty", what);
	memset(dest, 0, size);
	rc = fn(buf, len, &off, dest);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(e, EBADMSG, "%s (%zu bytes) is malformed: %s",
			       what, len, Tss2_RC_Decode(rc));
	if (off != len)
		return err_set(e, EBADMSG,
			       "%s has %zu trailing bytes after %zu bytes of "
			       "structure",
			       what, len - off, off);
	return 0;
}

#define TPM2_UNMARSHAL(fn, what, limit, buf, len, dest, e)         \
	unmarshal((unmarshal_fn)(fn), what, limit, buf, len, dest, \
		  sizeof(*(dest)), e)

int tpm2_attest_unmarshal(const uint8_t *buf, size_t len, TPMS_ATTEST *ret,
			  struct err *e)
{
	return TPM2_UNMARSHAL(Tss2_MU_TPMS_ATTEST_Unmarshal, "TPMS_ATTEST",
			      TPM_MAX_ATTEST_SIZE, buf, len, ret, e);
}

int tpm2_signature_unmarshal(const uint8_t *buf, size_t len,
			     TPMT_SIGNATURE *ret, struct err *e)
{
	return TPM2_UNMARSHAL(Tss2_MU_TPMT_SIGNATURE_Unmarshal,
			      "TPMT_SIGNATURE", TPM_MAX_SIGNATURE_SIZE, buf,
			      len, ret, e);
}

int tpm2_tpmt_public_unmarshal(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret,
			       struct err *e)
{
	return TPM2_UNMARSHAL(Tss2_MU_TPMT_PUBLIC_Unmarshal, "TPMT_PUBLIC",
			      TPM_MAX_PUBLIC_SIZE, buf, len, ret, e);
}

int tpm2_tpm2b_public_unmarshal(const uint8_t *buf, size_t len,
				TPMT_PUBLIC *ret, struct err *e)
{
	TPM2B_PUBLIC p;
	int r;

	r = TPM2_UNMARSHAL(Tss2_MU_TPM2B_PUBLIC_Unmarshal, "TPM2B_PUBLIC",
			   TPM_MAX_PUBLIC_SIZE, buf, len, &p, e);
	if (r < 0)
		return r;
	*ret = p.publicArea;
	return 0;
}

int tpm2_public_unmarshal(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret,
			  struct err *e)
{
	if (len >= 2 && (((size_t)buf[0] << 8) | buf[1]) == len - 2)
		return tpm2_tpm2b_public_unmarshal(buf, len, ret, e);
	return tpm2_tpmt_public_unmarshal(buf, len, ret, e);
}

int tpm2_creation_data_unmarshal(const uint8_t *buf, size_t len,
				 TPMS_CREATION_DATA *ret, struct err *e)
{
	return TPM2_UNMARSHAL(Tss2_MU_TPMS_CREATION_DATA_Unmarshal,
			      "TPMS_CREATION_DATA", TPM_MAX_ATTEST_SIZE, buf,
			      len, ret, e);
}

int tpm2_public_marshal(const TPMT_PUBLIC *pub, uint8_t *buf, size_t max,
			size_t *ret_len, struct err *e)
{
	size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, max, &off);

	if (rc != TSS2_RC_SUCCESS)
		return err_set(e, -tpm2_rc_to_errno(rc),
			       "cannot marshal TPMT_PUBLIC: %s",
			       Tss2_RC_Decode(rc));
	*ret_len = off;
	return 0;
}

int tpm2_public_name(const TPMT_PUBLIC *pub, uint8_t name[TPM2_NAME_MAX],
		     size_t *ret_len, struct err *e)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	const struct hash_alg *h;
	size_t len;
	int r;

	h = hash_alg_by_id(pub->nameAlg);
	if (!h || h->size > TPM2_NAME_MAX - 2)
		return err_set(e, EOPNOTSUPP,
			       "public area nameAlg 0x%04x (%s) is not supported",
			       pub->nameAlg, tpm2_alg_name(pub->nameAlg));
	r = tpm2_public_marshal(pub, buf, sizeof(buf), &len, e);
	if (r < 0)
		return r;
	name[0] = (uint8_t)(pub->nameAlg >> 8);
	name[1] = (uint8_t)pub->nameAlg;
	r = hash_digest(h, buf, len, name + 2);
	if (r < 0)
		return err_set(e, -r, "cannot hash public area with %s",
			       h->name);
	*ret_len = 2u + h->size;
	return 0;
}

static int rsa_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret, struct err *e)
{
	_cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
	_cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(BN_freep) BIGNUM *n = NULL, *ex = NULL;
	const TPM2B_PUBLIC_KEY_RSA *mod = &pub->unique.rsa;
	uint32_t exp = pub->parameters.rsaDetail.exponent;
	uint16_t bits = pub->parameters.rsaDetail.keyBits;
	EVP_PKEY *pkey = NULL;

	if (bits < 2048 || bits > 16384 || bits % 8)
		return err_set(e, EOPNOTSUPP,
			       "RSA keyBits %u is not supported (2048 or more)",
			       bits);
	if (mod->size != bits / 8u)
		return err_set(e, EBADMSG,
			       "RSA modulus is %u bytes, keyBits %u needs %u",
			       mod->size, bits, bits / 8u);
	if (!(mod->buffer[0] & 0x80))
		return err_set(e, EBADMSG,
			       "RSA modulus is shorter than keyBits %u", bits);
	if (exp == 0)
		exp = 65537;
	if (exp < 3 || !(exp & 1))
		return err_set(e, EBADMSG, "RSA exponent %u is invalid", exp);

	n = BN_bin2bn(mod->buffer, mod->size, NULL);
	ex = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !ex || !bld || !BN_set_word(ex, exp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ex))
		return err_set(e, ENOMEM, "out of memory building RSA key");
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		ERR_clear_error();
		return err_set(e, EBADMSG, "RSA public key is not usable");
	}
	*ret = pkey;
	return 0;
}

/* OpenSSL group name and field size in bytes of a TPM curve; NULL if we do
 * not accept it. */
static const char *ecc_group(uint16_t curve, size_t *ret_size)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256:
		*ret_size = 32;
		return "P-256";
	case TPM2_ECC_NIST_P384:
		*ret_size = 48;
		return "P-384";
	case TPM2_ECC_NIST_P521:
		*ret_size = 66;
		return "P-521";
	default:
		return NULL;
	}
}

static int ecc_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret, struct err *e)
{
	_cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
	_cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *check = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	uint16_t curve = pub->parameters.eccDetail.curveID;
	const TPMS_ECC_POINT *pt = &pub->unique.ecc;
	uint8_t point[1 + 2 * 66] = { 0x04 };
	const char *group;
	size_t fs = 0;

	group = ecc_group(curve, &fs);
	if (!group)
		return err_set(e, EOPNOTSUPP,
			       "ECC curve 0x%04x (%s) is not supported "
			       "(NIST P-256, P-384, P-521)",
			       curve, tpm2_curve_name(curve));
	if (pt->x.size == 0 || pt->x.size > fs || pt->y.size == 0 ||
	    pt->y.size > fs)
		return err_set(e, EBADMSG,
			       "ECC point coordinates are %u and %u bytes, "
			       "%s needs at most %zu",
			       pt->x.size, pt->y.size, group, fs);
	/* Coordinates may come without their leading zero bytes. */
	memcpy(point + 1 + fs - pt->x.size, pt->x.buffer, pt->x.size);
	memcpy(point + 1 + 2 * fs - pt->y.size, pt->y.buffer, pt->y.size);

	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					      point, 1 + 2 * fs))
		return err_set(e, ENOMEM, "out of memory building EC key");
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		ERR_clear_error();
		return err_set(e, EBADMSG, "ECC point is not on curve %s",
			       group);
	}
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!check || EVP_PKEY_public_check(check) <= 0) {
		ERR_clear_error();
		return err_set(e, EBADMSG, "ECC point is not a valid %s key",
			       group);
	}
	*ret = TAKE_PTR(pkey);
	return 0;
}

static size_t put_bytes(uint8_t *out, size_t o, const void *p, size_t n)
{
	memcpy(out + o, p, n);
	return o + n;
}

/* The fields the key and its validation depend on (type, RSA keyBits,
 * exponent and modulus, ECC curve and point), as the key cache's id; 0
 * when a size is out of its buffer's range (such a key is not cached). */
static size_t key_cache_id(const TPMT_PUBLIC *pub, uint8_t *out)
{
	size_t o = put_bytes(out, 0, &pub->type, sizeof(pub->type));

	if (pub->type == TPM2_ALG_RSA) {
		const TPM2B_PUBLIC_KEY_RSA *m = &pub->unique.rsa;

		if (m->size > sizeof(m->buffer))
			return 0;
		o = put_bytes(out, o, &pub->parameters.rsaDetail.keyBits,
			      sizeof(pub->parameters.rsaDetail.keyBits));
		o = put_bytes(out, o, &pub->parameters.rsaDetail.exponent,
			      sizeof(pub->parameters.rsaDetail.exponent));
		o = put_bytes(out, o, &m->size, sizeof(m->size));
		return put_bytes(out, o, m->buffer, m->size);
	}
	if (pub->type == TPM2_ALG_ECC) {
		const TPMS_ECC_POINT *pt = &pub->unique.ecc;

		if (pt->x.size > sizeof(pt->x.buffer) ||
		    pt->y.size > sizeof(pt->y.buffer))
			return 0;
		o = put_bytes(out, o, &pub->parameters.eccDetail.curveID,
			      sizeof(pub->parameters.eccDetail.curveID));
		o = put_bytes(out, o, &pt->x.size, sizeof(pt->x.size));
		o = put_bytes(out, o, pt->x.buffer, pt->x.size);
		o = put_bytes(out, o, &pt->y.size, sizeof(pt->y.size));
		return put_bytes(out, o, pt->y.buffer, pt->y.size);
	}
	return 0;
}

int tpm2_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret, struct err *e)
{
	uint8_t id[16 + sizeof(TPMU_PUBLIC_ID)];
	size_t id_len = key_cache_id(pub, id);
	EVP_PKEY *pkey = id_len ? keycache_get(id, id_len) : NULL;
	int r;

	/* A key these exact fields gave before, checked then (keycache.h). */
	if (pkey) {
		*ret = pkey;
		return 0;
	}
	switch (pub->type) {
	case TPM2_ALG_RSA:
		r = rsa_to_pkey(pub, &pkey, e);
		break;
	case TPM2_ALG_ECC:
		r = ecc_to_pkey(pub, &pkey, e);
		break;
	default:
		return err_set(e, EOPNOTSUPP,
			       "public area type 0x%04x (%s) is not an RSA or "
			       "ECC key",
			       pub->type, tpm2_alg_name(pub->type));
	}
	if (r < 0)
		return r;
	if (id_len)
		keycache_put(id, id_len, pkey);
	*ret = pkey;
	return 0;
}

void tpm2_key_free(struct tpm2_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int tpm2_key_from_tpmt(const TPMT_PUBLIC *pub, struct tpm2_key **ret,
		       struct err *e)
{
	_cleanup_(tpm2_key_freep) struct tpm2_key *k = NULL;
	int r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return err_set(e, ENOMEM, "out of memory");
	k->pub = *pub;
	k->has_public = 1;
	r = tpm2_public_name(pub, k->name, &k->name_len, e);
	if (r < 0)
		return r;
	r = tpm2_public_to_pkey(pub, &k->pkey, e);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(k);
	return 0;
}

int tpm2_key_from_public(const uint8_t *buf, size_t len, struct tpm2_key **ret,
			 struct err *e)
{
	TPMT_PUBLIC pub;
	int r;

	r = tpm2_public_unmarshal(buf, len, &pub, e);
	if (r < 0)
		return r;
	return tpm2_key_from_tpmt(&pub, ret, e);
}

int tpm2_key_from_pem(const uint8_t *buf, size_t len, struct tpm2_key **ret,
		      struct err *e)
{
	_cleanup_(tpm2_key_freep) struct tpm2_key *k = NULL;
	_cleanup_(BIO_freep) BIO *bio = NULL;
	int id;

	if (len > TPM_MAX_PUBLIC_SIZE * 4)
		return err_set(e, EMSGSIZE,
			       "PEM public key is %zu bytes, "
			       "limit is %u",
			       len, TPM_MAX_PUBLIC_SIZE * 4);
	k = calloc(1, sizeof(*k));
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!k || !bio)
		return err_set(e, ENOMEM, "out of memory");
	k->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k->pkey) {
		ERR_clear_error();
		return err_set(e, EBADMSG, "not a PEM public key");
	}
	id = EVP_PKEY_get_base_id(k->pkey);
	if (id == EVP_PKEY_RSA) {
		if (EVP_PKEY_get_bits(k->pkey) < 2048)
			return err_set(e, EOPNOTSUPP,
				       "RSA key of %d bits is too short",
				       EVP_PKEY_get_bits(k->pkey));
	} else if (id != EVP_PKEY_EC) {
		return err_set(e, EOPNOTSUPP, "PEM key is neither RSA nor EC");
	}
	*ret = TAKE_PTR(k);
	return 0;
}
