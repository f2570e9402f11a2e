/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JOSE building blocks for the key protection formats (guardian.c, kp.c,
 * seal.c), done with OpenSSL 3 EVP. Internal to src/kp.
 *
 * Why not libjose for these: Debian 12's libjose 11 built against OpenSSL 3
 * has no RSA-OAEP at all (its rsaes.c tests EVP_PKEY_CTX_set_rsa_oaep_md as
 * a macro, which it no longer is: latchset/jose#145), so RSA guardians and
 * RSA transport keys cannot go through it; its base64url decoding is
 * lenient; and it accepts GCM tags of any length OpenSSL does. libjose is
 * still used where it is correct: key generation (jose_jwk_gen) and RFC
 * 7638 thumbprints of JWKs that are not plain EC/RSA (jose_jwk_thp_buf;
 * jw_thumbprint writes the others itself); the tests use it as an
 * independent oracle (jose_jwe_dec, jose_jws_ver, jose_jwe_enc_jwk).
 *
 * Algorithms here, and nothing else:
 *   JWS  ES256 (P-256), ES384 (P-384), PS256 (RSA, PSS salt 32, MGF1-SHA256)
 *   JWE  key management ECDH-ES+A256KW, ECDH-ES (direct), RSA-OAEP-256;
 *        content A256GCM (96-bit IV, 128-bit tag, never truncated)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "common/util.h"

#define JW_KID_MAX 64             /* base64url SHA-256 thumbprint + NUL */
#define JW_CEK_SIZE 32            /* A256GCM key */
#define JW_IV_SIZE 12             /* A256GCM IV */
#define JW_TAG_SIZE 16            /* A256GCM tag */
#define JW_KW_SIZE (JW_CEK_SIZE + 8) /* A256KW-wrapped CEK */
#define JW_EC_MAX_COORD 48        /* P-384 */
#define JW_EC_POINT_MAX (1 + 2 * JW_EC_MAX_COORD)
#define JW_RSA_MIN_BITS 2048
#define JW_RSA_MAX_BITS 16384
#define JW_RSA_MAX_BYTES (JW_RSA_MAX_BITS / 8)
#define JW_SIG_MAX JW_RSA_MAX_BYTES
#define JW_HEADER_MAX 4096        /* a decoded protected header, bytes */
#define JW_PARTY_INFO_MAX 256     /* decoded apu / apv, bytes */
#define JW_JSON_MAX_DEPTH 8       /* nesting of any JOSE JSON we parse */

DEFINE_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
DEFINE_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)

/* ---- base64url ---- */

/* Length of the encoding of n bytes (no NUL). */
size_t jw_b64_len(size_t n);
/* Encode into out (jw_b64_len(n) + 1 bytes), NUL-terminated. */
void jw_b64_encode_to(const void *in, size_t n, char *out);
/* Encode into a fresh string; NULL when out of memory. */
char *jw_b64_encode(const void *in, size_t n);
/* A JSON string holding the encoding; NULL when out of memory. */
json_t *jw_b64_json(const void *in, size_t n);
/* Strict decode (common/b64.h) into out[max]; -EBADMSG if not canonical
 * base64url, -E2BIG if it does not fit. */
int jw_b64_decode(const char *in, size_t len, uint8_t *out, size_t max,
		  size_t *ret_len);
/* Same into a fresh buffer (at most max bytes); *ret freed by the caller. */
int jw_b64_decode_alloc(const char *in, size_t len, size_t max, uint8_t **ret,
			size_t *ret_len);

/* ---- JSON helpers ---- */

/* Every member of o is one of names[0..n); otherwise -EBADMSG naming it. */
int jw_only_members(const json_t *o, const char *const *names, size_t n,
		    const char *what, struct err *e);
/* A string member (non-empty); -EBADMSG otherwise. */
int jw_str(const json_t *o, const char *name, const char *what,
	   const char **ret, struct err *e);
/* Parse JSON text: one object, no duplicate names, depth-limited. */
int jw_parse_object(const char *text, size_t len, const char *what,
		    json_t **ret, struct err *e);
/* The length of json_dumpb(j, ..., JSON_COMPACT | JSON_PRESERVE_ORDER)
 * (object keys in jansson's order), counted without writing anything. */
size_t jw_compact_size(const json_t *j);
/* What jw_parse_object checks after parsing: an object, nested at most
 * JW_JSON_MAX_DEPTH levels. -EBADMSG otherwise. */
int jw_check_object(const json_t *j, const char *what, struct err *e);
/* Compact JSON text with members in insertion order; NULL on ENOMEM.
 * Written straight into one buffer of the exact size (json_dumpb), so no
 * grown-and-freed copies are left behind: fit for secrets. */
char *jw_dump(const json_t *o);

/* ---- JWKs ---- */

enum jw_kty { JW_EC_P256, JW_EC_P384, JW_RSA };

/* Check a JWK's key members: kty EC with crv P-256/P-384 (x, y of the
 * right size, on the curve) or kty RSA (n of min_bits..max_bits, odd e);
 * private members (d, or d p q dp dq qi) present exactly when priv. Other
 * members are not looked at. -EBADMSG otherwise. A private JWK must also
 * pass OpenSSL's pairwise check. ret_pkey (or NULL): the key as an
 * EVP_PKEY, to keep rather than convert again for each operation. */
int jw_jwk_check(const json_t *jwk, bool priv, unsigned min_bits,
		 unsigned max_bits, enum jw_kty *ret_kty, EVP_PKEY **ret_pkey,
		 struct err *e);
bool jw_jwk_has_private(const json_t *jwk);
/* RFC 7638 thumbprint, SHA-256, base64url. */
int jw_thumbprint(const json_t *jwk, char out[JW_KID_MAX], struct err *e);
/* EVP_PKEY of a (checked) JWK; private if the JWK is. */
int jw_jwk_to_pkey(const json_t *jwk, EVP_PKEY **ret, struct err *e);

/* Overwrite the private members' text with zeros in place (in jansson's
 * buffers), e.g. in a parsed document before it is freed. NULL-safe. */
void jw_jwk_wipe(json_t *jwk);
/* Overwrite the private members' text with zeros (in jansson's buffers)
 * and drop them; then json_decref. NULL-safe. */
void jw_jwk_wipe_free(json_t *jwk);
static inline void jw_jwk_wipe_freep(json_t **j)
{
	jw_jwk_wipe_free(*j);
	*j = NULL;
}
/* Deep copy of a JWK (private members included); NULL on ENOMEM. The copy
 * must be freed with jw_jwk_wipe_free. */
json_t *jw_jwk_copy(const json_t *jwk);

/* ---- JWS (flattened JSON serialization) ---- */

/* Sign payload (bytes) with a private key and alg ES256, ES384 or PS256;
 * protected header {"alg", "kid", "cty"}. */
int jw_jws_sign(EVP_PKEY *pkey, const char *alg, const char *kid,
		const char *cty, const char *payload, size_t len, json_t **ret,
		struct err *e);
/* Structure of a flattened JWS: exactly protected/payload/signature,
 * protected header exactly {alg, kid, cty} with alg ES256/ES384/PS256 and
 * cty == cty. Returns the header (new ref) and the payload parsed as a JSON
 * object (new ref, at most max_payload bytes). No signature check. */
int jw_jws_open(const json_t *jws, const char *cty, size_t max_payload,
		json_t **ret_hdr, json_t **ret_payload, struct err *e);
/* Signature check with a public key whose JWK "alg" (key_alg) must equal
 * the header's. */
int jw_jws_verify(const json_t *jws, EVP_PKEY *pkey, const char *key_alg,
		  struct err *e);

/* ---- key management and content encryption ---- */

/* Wrap cek for a public key with alg ECDH-ES+A256KW or RSA-OAEP-256:
 * *ret_hdr gets {"alg", "kid", "epk"?} (kid given), *ret_ek the encrypted
 * key (base64url string). */
int jw_wrap_cek(EVP_PKEY *pub, const char *alg, const char *kid,
		const uint8_t cek[JW_CEK_SIZE], json_t **ret_hdr,
		json_t **ret_ek, struct err *e);
/* The reverse with a private EVP_PKEY. alg: the recipient's allow-listed
 * algorithm; epk: the header's epk (ECDH) or NULL. -EKEYREJECTED when the
 * key does not open it. */
int jw_unwrap_cek(EVP_PKEY *priv, const char *alg, const json_t *epk,
		  const uint8_t *ek, size_t ek_len, uint8_t cek[JW_CEK_SIZE],
		  struct err *e);

/* An ephemeral key on the curve of pub (EC), and the epk JWK for it. */
int jw_ec_ephemeral(EVP_PKEY *pub, EVP_PKEY **ret_eph, json_t **ret_epk,
		    struct err *e);
/* epk JWK (exactly kty, crv, x, y) -> uncompressed point, checked on the
 * curve; *ret_coord: field element size; *ret_pub (if not NULL) the key. */
int jw_epk_point(const json_t *epk, uint8_t point[JW_EC_POINT_MAX],
		 size_t *ret_len, size_t *ret_coord, EVP_PKEY **ret_pub,
		 struct err *e);
/* Z = ECDH(priv, peer), x-coordinate. */
int jw_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t *z, size_t max,
	    size_t *ret_len, struct err *e);
/* EC public key from an uncompressed point (coord 32: P-256, 48: P-384). */
int jw_ec_pub(const uint8_t *point, size_t len, EVP_PKEY **ret,
	      struct err *e);
/* Concat KDF (RFC 7518 4.6.2) with SHA-256, 256 bits out. */
int jw_concat_kdf(const uint8_t *z, size_t z_len, const char *alg_id,
		  const uint8_t *apu, size_t apu_len, const uint8_t *apv,
		  size_t apv_len, uint8_t out[JW_CEK_SIZE], struct err *e);
/* RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label. */
int jw_rsa_oaep_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t max, size_t *ret_len,
			struct err *e);
int jw_rsa_oaep_decrypt(EVP_PKEY *priv, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t max, size_t *ret_len,
			struct err *e);
/* AES-256-GCM; aad is the protected header's base64url text. */
int jw_gcm_encrypt(const uint8_t key[JW_CEK_SIZE], const uint8_t iv[JW_IV_SIZE],
		   const char *aad, size_t aad_len, const uint8_t *pt,
		   size_t pt_len, uint8_t *ct, uint8_t tag[JW_TAG_SIZE],
		   struct err *e);
int jw_gcm_decrypt(const uint8_t key[JW_CEK_SIZE], const uint8_t iv[JW_IV_SIZE],
		   const char *aad, size_t aad_len, const uint8_t *ct,
		   size_t ct_len, const uint8_t tag[JW_TAG_SIZE], uint8_t *pt,
		   struct err *e);
/* Random bytes; -EIO when the RNG fails. */
int jw_random(void *out, size_t n, struct err *e);
