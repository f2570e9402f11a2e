/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealing to a host transport key (seal.h): compact JWE, RSA-OAEP-256 or
 * ECDH-ES (direct), A256GCM. seal_open parses the JWE itself and leaves
 * only the private-key step to the caller's keyop (the host's TPM), so no
 * JOSE library ever needs the key.
 */
#include "kp/seal.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "kp/jw.h"

#define SEAL_ENC "A256GCM"
#define SEAL_CTY "shieldvm-sealed+json"
#define SEAL_ALG_RSA "RSA-OAEP-256"
#define SEAL_ALG_ECDH "ECDH-ES"
#define SEAL_PARTS 5

static const char *const hdr_members[] = { "alg", "enc", "kid", "cty", "epk",
					   "apu", "apv" };

int seal_to_jwk(const json_t *jwk, const uint8_t *pt, size_t pt_len,
		char **ret_jwe, struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL, *eph = NULL;
	_cleanup_(json_decrefp) json_t *hdr = NULL, *epk = NULL;
	_cleanup_free_ char *hdr_s = NULL, *prot = NULL;
	_cleanup_free_ uint8_t *ct = NULL;
	uint8_t cek[JW_CEK_SIZE], iv[JW_IV_SIZE], tag[JW_TAG_SIZE];
	uint8_t ek[JW_RSA_MAX_BYTES], z[JW_EC_MAX_COORD];
	char kid[JW_KID_MAX];
	size_t ek_len = 0, z_len, o, total;
	enum jw_kty kty;
	char *out;
	int r;

	if (!jwk || (!pt && pt_len) || !ret_jwe)
		return err_set(e, EINVAL, "seal_to_jwk: missing argument");
	if (pt_len > SEAL_MAX_PLAINTEXT)
		return err_set(e, E2BIG, "sealed plaintext of %zu bytes (max %d)", pt_len,
			       SEAL_MAX_PLAINTEXT);
	if ((r = jw_jwk_check(jwk, false, JW_RSA_MIN_BITS, JW_RSA_MAX_BITS, &kty,
			      &pub, e)) < 0 ||
	    (r = jw_thumbprint(jwk, kid, e)) < 0) {
		err_prefix(e, "transport key");
		return -EINVAL;
	}
	if (kty == JW_RSA) {
		if ((r = jw_random(cek, sizeof(cek), e)) < 0 ||
		    (r = jw_rsa_oaep_encrypt(pub, cek, sizeof(cek), ek, sizeof(ek),
					     &ek_len, e)) < 0)
			goto out;
		hdr = json_pack("{s:s, s:s, s:s, s:s}", "alg", SEAL_ALG_RSA, "enc",
				SEAL_ENC, "kid", kid, "cty", SEAL_CTY);
	} else {
		if ((r = jw_ec_ephemeral(pub, &eph, &epk, e)) < 0)
			goto out;
		r = jw_ecdh(eph, pub, z, sizeof(z), &z_len, e);
		if (r == 0)
			r = jw_concat_kdf(z, z_len, SEAL_ENC, NULL, 0, NULL, 0, cek, e);
		OPENSSL_cleanse(z, sizeof(z));
		if (r < 0)
			goto out;
		hdr = json_pack("{s:s, s:s, s:s, s:s, s:O}", "alg", SEAL_ALG_ECDH, "enc",
				SEAL_ENC, "kid", kid, "cty", SEAL_CTY, "epk", epk);
	}
	if (!hdr || !(hdr_s = jw_dump(hdr)) ||
	    !(prot = jw_b64_encode(hdr_s, strlen(hdr_s))) ||
	    !(ct = malloc(pt_len ? pt_len : 1))) {
		r = err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = jw_random(iv, sizeof(iv), e)) < 0 ||
	    (r = jw_gcm_encrypt(cek, iv, prot, strlen(prot), pt, pt_len, ct, tag,
				e)) < 0)
		goto out;
	total = strlen(prot) + 1 + jw_b64_len(ek_len) + 1 + jw_b64_len(sizeof(iv)) +
		1 + jw_b64_len(pt_len) + 1 + jw_b64_len(sizeof(tag));
	out = malloc(total + 1);
	if (!out) {
		r = err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	o = strlen(prot);
	memcpy(out, prot, o);
	out[o++] = '.';
	jw_b64_encode_to(ek, ek_len, out + o);
	o += jw_b64_len(ek_len);
	out[o++] = '.';
	jw_b64_encode_to(iv, sizeof(iv), out + o);
	o += jw_b64_len(sizeof(iv));
	out[o++] = '.';
	jw_b64_encode_to(ct, pt_len, out + o);
	o += jw_b64_len(pt_len);
	out[o++] = '.';
	jw_b64_encode_to(tag, sizeof(tag), out + o);
	*ret_jwe = out;
	r = 0;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	return r;
}

/* Split a compact JWE into its five segments (pointers into jwe). */
static int split(const char *jwe, size_t len, const char *seg[SEAL_PARTS],
		 size_t seg_len[SEAL_PARTS], struct err *e)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && jwe[i] == '\0')
			return err_set(e, EBADMSG, "sealed JWE contains a NUL byte");
		if (i == len || jwe[i] == '.') {
			if (n == SEAL_PARTS)
				return err_set(e, EBADMSG,
					       "sealed JWE is not compact (more than five segments)");
			seg[n] = jwe + start;
			seg_len[n++] = i - start;
			start = i + 1;
		}
	}
	if (n != SEAL_PARTS)
		return err_set(e, EBADMSG, "sealed JWE is not compact (%zu segments, not five)",
			       n);
	return 0;
}

static int seg_exact(const char *s, size_t len, uint8_t *out, size_t n,
		     const char *what, struct err *e)
{
	size_t got;

	if (jw_b64_decode(s, len, out, n, &got) < 0 || got != n)
		return err_set(e, EBADMSG, "sealed JWE %s is not %zu bytes of base64url",
			       what, n);
	return 0;
}

int seal_open(const char *jwe, size_t len, const struct seal_keyop *op,
	      const char *expect_kid, uint8_t *out, size_t max,
	      size_t *ret_len, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL;
	_cleanup_free_ uint8_t *hbuf = NULL, *ct = NULL;
	const char *seg[SEAL_PARTS], *alg, *enc, *kid, *cty;
	size_t seg_len[SEAL_PARTS], hlen, ct_len, ek_len, got;
	uint8_t iv[JW_IV_SIZE], tag[JW_TAG_SIZE], ek[JW_RSA_MAX_BYTES];
	uint8_t cek[JW_CEK_SIZE], buf[JW_RSA_MAX_BYTES];
	const json_t *epk;
	int r;

	if (!jwe || !op || (!out && max) || !ret_len)
		return err_set(e, EINVAL, "seal_open: missing argument");
	if (len > SEAL_MAX_SIZE)
		return err_set(e, E2BIG, "sealed JWE of %zu bytes (max %d)", len,
			       SEAL_MAX_SIZE);
	if ((r = split(jwe, len, seg, seg_len, e)) < 0)
		return r;

	/* header: allow-listed members and algorithms only */
	r = jw_b64_decode_alloc(seg[0], seg_len[0], JW_HEADER_MAX, &hbuf, &hlen);
	if (r < 0)
		return err_set(e, r == -E2BIG ? E2BIG : EBADMSG,
			       "sealed JWE header %s",
			       r == -E2BIG ? "too large" : "is not base64url");
	if ((r = jw_parse_object((const char *)hbuf, hlen, "sealed JWE header",
				 &hdr, e)) < 0 ||
	    (r = jw_only_members(hdr, hdr_members, ARRAY_SIZE(hdr_members),
				 "sealed JWE header", e)) < 0 ||
	    (r = jw_str(hdr, "alg", "sealed JWE header", &alg, e)) < 0 ||
	    (r = jw_str(hdr, "enc", "sealed JWE header", &enc, e)) < 0 ||
	    (r = jw_str(hdr, "kid", "sealed JWE header", &kid, e)) < 0 ||
	    (r = jw_str(hdr, "cty", "sealed JWE header", &cty, e)) < 0)
		return r;
	if (!streq(enc, SEAL_ENC))
		return err_set(e, EINVAL, "sealed JWE enc \"%.32s\" not allowed (A256GCM)",
			       enc);
	if (!streq(alg, SEAL_ALG_RSA) && !streq(alg, SEAL_ALG_ECDH))
		return err_set(e, EINVAL,
			       "sealed JWE alg \"%.32s\" not allowed (RSA-OAEP-256, ECDH-ES)",
			       alg);
	if (!streq(cty, SEAL_CTY))
		return err_set(e, EBADMSG, "sealed JWE cty is not \"%s\"", SEAL_CTY);
	if (expect_kid && !streq(kid, expect_kid))
		return err_set(e, EKEYREJECTED,
			       "sealed for key \"%.64s\", not for this transport key (%.64s)",
			       kid, expect_kid);
	epk = json_object_get(hdr, "epk");
	if (streq(alg, SEAL_ALG_RSA) &&
	    (epk || json_object_get(hdr, "apu") || json_object_get(hdr, "apv")))
		return err_set(e, EBADMSG, "sealed JWE: epk/apu/apv with RSA-OAEP-256");

	/* the other segments, sizes first */
	if ((r = seg_exact(seg[2], seg_len[2], iv, sizeof(iv), "iv", e)) < 0 ||
	    (r = seg_exact(seg[4], seg_len[4], tag, sizeof(tag), "tag", e)) < 0)
		return r;
	r = jw_b64_decode_alloc(seg[3], seg_len[3], SEAL_MAX_PLAINTEXT, &ct, &ct_len);
	if (r < 0)
		return err_set(e, r == -E2BIG ? E2BIG : EBADMSG, "sealed JWE ciphertext %s",
			       r == -E2BIG ? "too large" : "is not base64url");
	if (ct_len > max)
		return err_set(e, E2BIG, "sealed plaintext of %zu bytes does not fit %zu",
			       ct_len, max);
	if (jw_b64_decode(seg[1], seg_len[1], ek, sizeof(ek), &ek_len) < 0)
		return err_set(e, EBADMSG, "sealed JWE encrypted key is not base64url (or too long)");

	if (streq(alg, SEAL_ALG_ECDH)) {
		uint8_t point[JW_EC_POINT_MAX], z[JW_EC_MAX_COORD];
		uint8_t apu[JW_PARTY_INFO_MAX], apv[JW_PARTY_INFO_MAX];
		size_t plen, coord, z_len = 0, apu_len = 0, apv_len = 0;
		const char *s;

		if (ek_len != 0)
			return err_set(e, EBADMSG, "sealed JWE: ECDH-ES with an encrypted key");
		if (!epk)
			return err_set(e, EBADMSG, "sealed JWE: ECDH-ES without epk");
		if ((r = jw_epk_point(epk, point, &plen, &coord, NULL, e)) < 0) {
			err_prefix(e, "sealed JWE");
			return r;
		}
		if (json_object_get(hdr, "apu") &&
		    ((r = jw_str(hdr, "apu", "sealed JWE header", &s, e)) < 0 ||
		     jw_b64_decode(s, strlen(s), apu, sizeof(apu), &apu_len) < 0))
			return err_set(e, EBADMSG, "sealed JWE apu is not base64url (or too long)");
		if (json_object_get(hdr, "apv") &&
		    ((r = jw_str(hdr, "apv", "sealed JWE header", &s, e)) < 0 ||
		     jw_b64_decode(s, strlen(s), apv, sizeof(apv), &apv_len) < 0))
			return err_set(e, EBADMSG, "sealed JWE apv is not base64url (or too long)");
		if (!op->ecdh_zgen)
			return err_set(e, EINVAL, "sealed JWE uses ECDH-ES but the key cannot do ECDH");
		r = op->ecdh_zgen(op->userdata, point, plen, z, sizeof(z), &z_len, e);
		if (r == 0 && z_len != coord)
			r = err_set(e, EKEYREJECTED, "ECDH gave %zu bytes, not %zu", z_len,
				    coord);
		if (r == 0)
			r = jw_concat_kdf(z, z_len, SEAL_ENC, apu, apu_len, apv, apv_len,
					  cek, e);
		OPENSSL_cleanse(z, sizeof(z));
		if (r < 0)
			return r == -ENOMEM || r == -EIO ? r : -EKEYREJECTED;
	} else {
		if (ek_len < JW_RSA_MIN_BITS / 8)
			return err_set(e, EBADMSG,
				       "sealed JWE encrypted key of %zu bytes is too short for RSA",
				       ek_len);
		if (!op->rsa_oaep_decrypt)
			return err_set(e, EINVAL, "sealed JWE uses RSA-OAEP-256 but the key cannot do RSA");
		r = op->rsa_oaep_decrypt(op->userdata, ek, ek_len, buf, sizeof(buf),
					 &got, e);
		if (r == 0 && got != JW_CEK_SIZE)
			r = err_set(e, EKEYREJECTED, "RSA-OAEP-256 gave a %zu-byte key, not %d",
				    got, JW_CEK_SIZE);
		if (r == 0)
			memcpy(cek, buf, sizeof(cek));
		OPENSSL_cleanse(buf, sizeof(buf));
		if (r < 0)
			return r == -ENOMEM || r == -EIO ? r : -EKEYREJECTED;
	}

	r = jw_gcm_decrypt(cek, iv, seg[0], seg_len[0], ct, ct_len, tag,
			   ct_len ? out : buf, e);
	OPENSSL_cleanse(cek, sizeof(cek));
	if (r < 0)
		return r;
	*ret_len = ct_len;
	return 0;
}

/* ---- software key ---- */

static int sw_rsa(void *userdata, const uint8_t *in, size_t in_len,
		  uint8_t *out, size_t max, size_t *ret_len, struct err *e)
{
	return jw_rsa_oaep_decrypt(userdata, in, in_len, out, max, ret_len, e);
}

static int sw_ecdh(void *userdata, const uint8_t *peer, size_t peer_len,
		   uint8_t *z, size_t max, size_t *ret_len, struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *p = NULL;
	int r;

	if ((r = jw_ec_pub(peer, peer_len, &p, e)) < 0)
		return r;
	if (EVP_PKEY_get_bits(p) != EVP_PKEY_get_bits(userdata))
		return err_set(e, EKEYREJECTED, "epk is on another curve than the key");
	return jw_ecdh(userdata, p, z, max, ret_len, e);
}

int seal_open_jwk(const char *jwe, size_t len, const json_t *priv_jwk,
		  uint8_t *out, size_t max, size_t *ret_len, struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	struct seal_keyop op = { 0 };
	char kid[JW_KID_MAX];
	enum jw_kty kty;
	int r;

	if (!priv_jwk)
		return err_set(e, EINVAL, "seal_open_jwk: missing key");
	if ((r = jw_jwk_check(priv_jwk, true, JW_RSA_MIN_BITS, JW_RSA_MAX_BITS,
			      &kty, &pkey, e)) < 0 ||
	    (r = jw_thumbprint(priv_jwk, kid, e)) < 0) {
		err_prefix(e, "transport key");
		return -EINVAL;
	}
	if (kty == JW_RSA)
		op.rsa_oaep_decrypt = sw_rsa;
	else
		op.ecdh_zgen = sw_ecdh;
	op.userdata = pkey;
	return seal_open(jwe, len, &op, kid, out, max, ret_len, e);
}
