/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/credential.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "attest/hash.h"
#include "attest/tpm2.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
DEFINE_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_MAC, EVP_MAC_free)
DEFINE_CLEANUP_FUNC(EVP_MAC_CTX, EVP_MAC_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_CIPHER, EVP_CIPHER_free)
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
DEFINE_CLEANUP_FUNC(BIGNUM, BN_free)

#define KDF_MAX_OUT 128u
#define KDF_BLOCK_MAX 64u

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int hmac_init(EVP_MAC_CTX **ret, const struct hash_alg *h,
		     const uint8_t *key, size_t key_len)
{
	_cleanup_(EVP_MAC_freep)
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;

	if (!mac)
		return -EIO;
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)h->ossl, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, key_len, params)) {
		EVP_MAC_CTX_free(ctx);
		ERR_clear_error();
		return -EIO;
	}
	*ret = ctx;
	return 0;
}

int credential_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len,
		    const char *label, const uint8_t *ctx_u, size_t ctx_u_len,
		    const uint8_t *ctx_v, size_t ctx_v_len, uint8_t *out,
		    size_t out_len)
{
	const struct hash_alg *h = hash_alg_by_id(hash_alg);
	uint8_t block[KDF_BLOCK_MAX], be[4], bits[4];
	size_t done = 0;
	uint32_t i = 1;
	int r = 0;

	if (!h || out_len > KDF_MAX_OUT || out_len > UINT32_MAX / 8)
		return -EINVAL;
	put_be32(bits, (uint32_t)(out_len * 8));
	while (done < out_len) {
		_cleanup_(EVP_MAC_CTX_freep) EVP_MAC_CTX *ctx = NULL;
		size_t n = 0;

		r = hmac_init(&ctx, h, key, key_len);
		if (r < 0)
			break;
		put_be32(be, i++);
		if (!EVP_MAC_update(ctx, be, 4) ||
		    !EVP_MAC_update(ctx, (const uint8_t *)label,
				    strlen(label) + 1) ||
		    (ctx_u_len && !EVP_MAC_update(ctx, ctx_u, ctx_u_len)) ||
		    (ctx_v_len && !EVP_MAC_update(ctx, ctx_v, ctx_v_len)) ||
		    !EVP_MAC_update(ctx, bits, 4) ||
		    !EVP_MAC_final(ctx, block, &n, sizeof(block)) ||
		    n != h->size) {
			r = -EIO;
			break;
		}
		if (n > out_len - done)
			n = out_len - done;
		memcpy(out + done, block, n);
		done += n;
	}
	OPENSSL_cleanse(block, sizeof(block));
	if (r < 0)
		OPENSSL_cleanse(out, out_len);
	return r;
}

int credential_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len,
		    const char *label, const uint8_t *party_u, size_t u_len,
		    const uint8_t *party_v, size_t v_len, uint8_t *out,
		    size_t out_len)
{
	const struct hash_alg *h = hash_alg_by_id(hash_alg);
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t block[KDF_BLOCK_MAX], be[4];
	size_t done = 0;
	uint32_t i = 1;
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	if (!h || !hash_alg_md(h) || out_len > KDF_MAX_OUT)
		return -EINVAL;
	while (done < out_len) {
		unsigned int n = 0;

		put_be32(be, i++);
		if (!EVP_DigestInit_ex(ctx, hash_alg_md(h), NULL) ||
		    !EVP_DigestUpdate(ctx, be, 4) ||
		    !EVP_DigestUpdate(ctx, z, z_len) ||
		    !EVP_DigestUpdate(ctx, label, strlen(label) + 1) ||
		    (u_len && !EVP_DigestUpdate(ctx, party_u, u_len)) ||
		    (v_len && !EVP_DigestUpdate(ctx, party_v, v_len)) ||
		    !EVP_DigestFinal_ex(ctx, block, &n) || n != h->size) {
			r = -EIO;
			break;
		}
		if (n > out_len - done)
			n = (unsigned int)(out_len - done);
		memcpy(out + done, block, n);
		done += n;
	}
	OPENSSL_cleanse(block, sizeof(block));
	if (r < 0)
		OPENSSL_cleanse(out, out_len);
	return r;
}

/* seed for an RSA EK: random, OAEP-encrypted with label "IDENTITY\0". */
static int seed_rsa(EVP_PKEY *ek, const struct hash_alg *h, uint8_t *seed,
		    uint8_t *enc, size_t enc_max, size_t *enc_len,
		    struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	static const char label[] = "IDENTITY";
	unsigned char *l = NULL;
	size_t n = enc_max;

	if (RAND_bytes(seed, (int)h->size) != 1)
		return err_set(e, EIO, "no random bytes for the seed");
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	l = OPENSSL_memdup(label, sizeof(label));
	if (!ctx || !l) {
		OPENSSL_free(l);
		return err_set(e, ENOMEM, "out of memory");
	}
	if (EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, h->ossl, NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, h->ossl, NULL) <= 0) {
		OPENSSL_free(l);
		ERR_clear_error();
		return err_set(e, EIO, "cannot set up RSA-OAEP-%s", h->name);
	}
	if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, sizeof(label)) <= 0) {
		OPENSSL_free(l);
		ERR_clear_error();
		return err_set(e, EIO, "cannot set the OAEP label");
	}
	if (EVP_PKEY_encrypt(ctx, enc, &n, seed, h->size) <= 0) {
		ERR_clear_error();
		return err_set(e, EIO,
			       "RSA-OAEP encryption of the seed failed");
	}
	*enc_len = n;
	return 0;
}

/* seed for an ECC EK: ephemeral ECDH + KDFe; enc = TPMS_ECC_POINT. */
static int seed_ecc(EVP_PKEY *ek, const TPMT_PUBLIC *pub,
		    const struct hash_alg *h, uint8_t *seed, uint8_t *enc,
		    size_t enc_max, size_t *enc_len, struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *gctx = NULL, *dctx = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
	_cleanup_(BN_freep) BIGNUM *x = NULL, *y = NULL;
	uint8_t z[66];
	size_t zlen = sizeof(z), fs;
	int r = 0;

	fs = ((size_t)EVP_PKEY_get_bits(ek) + 7) / 8;
	if (fs == 0 || fs > 66 || 2 + fs + 2 + fs > enc_max)
		return err_set(e, EOPNOTSUPP, "unsupported EK curve size");
	gctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	if (!gctx || EVP_PKEY_keygen_init(gctx) <= 0 ||
	    EVP_PKEY_keygen(gctx, &eph) <= 0) {
		ERR_clear_error();
		return err_set(e, EIO, "cannot create an ephemeral %s key",
			       tpm2_curve_name(
				       pub->parameters.eccDetail.curveID));
	}
	if (!EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
		ERR_clear_error();
		return err_set(e, EIO, "cannot read the ephemeral public key");
	}
	put_be16(enc, fs);
	put_be16(enc + 2 + fs, fs);
	if (BN_bn2binpad(x, enc + 2, (int)fs) < 0 ||
	    BN_bn2binpad(y, enc + 4 + fs, (int)fs) < 0)
		return err_set(e, EIO, "ephemeral point does not fit");
	*enc_len = 4 + 2 * fs;

	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	if (!dctx || EVP_PKEY_derive_init(dctx) <= 0 ||
	    EVP_PKEY_derive_set_peer(dctx, ek) <= 0 ||
	    EVP_PKEY_derive(dctx, z, &zlen) <= 0 || zlen != fs) {
		ERR_clear_error();
		OPENSSL_cleanse(z, sizeof(z));
		return err_set(e, EIO, "ECDH with the EK failed");
	}
	r = credential_kdfe(h->tpm_id, z, zlen, "IDENTITY", enc + 2, fs,
			    pub->unique.ecc.x.buffer, pub->unique.ecc.x.size,
			    seed, h->size);
	OPENSSL_cleanse(z, sizeof(z));
	if (r < 0)
		return err_set(e, -r, "KDFe failed");
	return 0;
}

static int check_name(const uint8_t *name, size_t len, struct err *e)
{
	const struct hash_alg *h;

	if (len < 2 || len > sizeof(TPMU_NAME))
		return err_set(e, EBADMSG, "object name is %zu bytes", len);
	h = hash_alg_by_id((uint16_t)((name[0] << 8) | name[1]));
	if (!h || len != 2u + h->size)
		return err_set(e, EBADMSG,
			       "object name (%zu bytes) is not nameAlg || "
			       "digest",
			       len);
	return 0;
}

int credential_make(const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_len,
		    const uint8_t *credential, size_t credential_len,
		    struct credential *out, struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	_cleanup_(EVP_CIPHER_freep) EVP_CIPHER *cipher = NULL;
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *cctx = NULL;
	_cleanup_(EVP_MAC_CTX_freep) EVP_MAC_CTX *mac = NULL;
	const TPMT_SYM_DEF_OBJECT *sym;
	const struct hash_alg *h;
	uint8_t seed[64], symkey[32], hmackey[64], plain[2 + 64];
	uint8_t iv[16] = { 0 };
	char cname[32];
	size_t enc_len = 0, macl = 0, off;
	int r = -EIO, n1 = 0, n2 = 0;
	uint16_t bits;
	uint8_t *enc;

	memset(out, 0, sizeof(*out));
	r = check_name(name, name_len, e);
	if (r < 0)
		return r;
	if (ek->type != TPM2_ALG_RSA && ek->type != TPM2_ALG_ECC)
		return err_set(e, EOPNOTSUPP, "EK type %s is not RSA or ECC",
			       tpm2_alg_name(ek->type));
	if ((ek->objectAttributes &
	     (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) !=
	    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT))
		return err_set(e, EOPNOTSUPP,
			       "EK is not a restricted decryption key "
			       "(attributes 0x%08x)",
			       ek->objectAttributes);
	h = hash_alg_by_id(ek->nameAlg);
	if (!h || !hash_alg_md(h) || h->size > sizeof(seed))
		return err_set(e, EOPNOTSUPP, "EK nameAlg 0x%04x unsupported",
			       ek->nameAlg);
	if (credential_len == 0 || credential_len > h->size)
		return err_set(e, EBADMSG,
			       "credential is %zu bytes; the EK's nameAlg %s "
			       "allows 1 to %u",
			       credential_len, h->name, h->size);
	sym = ek->type == TPM2_ALG_RSA ? &ek->parameters.rsaDetail.symmetric :
					 &ek->parameters.eccDetail.symmetric;
	bits = sym->keyBits.aes;
	if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
	    (bits != 128 && bits != 192 && bits != 256))
		return err_set(e, EOPNOTSUPP,
			       "EK symmetric definition %s-%u-%s is not "
			       "AES-CFB",
			       tpm2_alg_name(sym->algorithm), bits,
			       tpm2_alg_name(sym->mode.aes));
	r = tpm2_public_to_pkey(ek, &pkey, e);
	if (r < 0)
		return r;

	/* TPM2B_ENCRYPTED_SECRET */
	enc = out->secret + 2;
	if (ek->type == TPM2_ALG_RSA)
		r = seed_rsa(pkey, h, seed, enc, sizeof(out->secret) - 2,
			     &enc_len, e);
	else
		r = seed_ecc(pkey, ek, h, seed, enc, sizeof(out->secret) - 2,
			     &enc_len, e);
	if (r < 0)
		goto out;
	put_be16(out->secret, enc_len);
	out->secret_len = 2 + enc_len;

	/* symKey and HMAC key */
	if (credential_kdfa(h->tpm_id, seed, h->size, "STORAGE", name, name_len,
			    NULL, 0, symkey, bits / 8u) < 0 ||
	    credential_kdfa(h->tpm_id, seed, h->size, "INTEGRITY", NULL, 0,
			    NULL, 0, hmackey, h->size) < 0) {
		r = err_set(e, EIO, "KDFa failed");
		goto out;
	}

	/* TPM2B_ID_OBJECT: size, TPM2B_DIGEST(outerHMAC), encIdentity */
	off = 2 + 2 + h->size;
	put_be16(plain, credential_len);
	memcpy(plain + 2, credential, credential_len);
	snprintf(cname, sizeof(cname), "AES-%u-CFB", bits);
	cipher = EVP_CIPHER_fetch(NULL, cname, NULL);
	cctx = EVP_CIPHER_CTX_new();
	if (!cipher || !cctx ||
	    !EVP_EncryptInit_ex2(cctx, cipher, symkey, iv, NULL) ||
	    !EVP_EncryptUpdate(cctx, out->id_object + off, &n1, plain,
			       (int)(2 + credential_len)) ||
	    !EVP_EncryptFinal_ex(cctx, out->id_object + off + n1, &n2) ||
	    (size_t)(n1 + n2) != 2 + credential_len) {
		ERR_clear_error();
		r = err_set(e, EIO, "%s encryption failed", cname);
		goto out;
	}
	r = hmac_init(&mac, h, hmackey, h->size);
	if (r < 0 ||
	    !EVP_MAC_update(mac, out->id_object + off, 2 + credential_len) ||
	    !EVP_MAC_update(mac, name, name_len) ||
	    !EVP_MAC_final(mac, out->id_object + 4, &macl, h->size) ||
	    macl != h->size) {
		ERR_clear_error();
		r = err_set(e, EIO, "HMAC-%s failed", h->name);
		goto out;
	}
	put_be16(out->id_object + 2, h->size);
	put_be16(out->id_object, off - 2 + 2 + credential_len);
	out->id_object_len = off + 2 + credential_len;
	r = 0;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(symkey, sizeof(symkey));
	OPENSSL_cleanse(hmackey, sizeof(hmackey));
	OPENSSL_cleanse(plain, sizeof(plain));
	if (r < 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return r;
}

int credential_to_tpm2_tools(const struct credential *c, uint8_t **ret,
			     size_t *ret_len)
{
	size_t len = 8 + c->id_object_len + c->secret_len;
	uint8_t *buf = malloc(len);

	if (!buf)
		return -ENOMEM;
	put_be32(buf, CREDENTIAL_TPM2_TOOLS_MAGIC);
	put_be32(buf + 4, CREDENTIAL_TPM2_TOOLS_VERSION);
	memcpy(buf + 8, c->id_object, c->id_object_len);
	memcpy(buf + 8 + c->id_object_len, c->secret, c->secret_len);
	*ret = buf;
	*ret_len = len;
	return 0;
}
