/* SPDX-License-Identifier: Apache-2.0 */
#include "host/secrets.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <jose/b64.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "common/aead.h"
#include "common/util.h"

#define MAGIC "SVSC"
#define VERSION 2
#define VERSION_1 1
#define IV_SIZE 12
#define TAG_SIZE 16
#define INFO_KEY "shieldvm secrets v1"
#define LABEL_SECRETS_FP "shieldvm secrets fingerprint v1"
#define LABEL_TK_FP "shieldvm tk fingerprint"
#define INFO_V1_ROOT "shieldvm secrets v1 to v2 root"

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int host_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *info,
		     uint8_t *out, size_t out_len, struct err *e)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5];
	int ok;

	EVP_KDF_free(kdf);
	if (!ctx)
		return err_set(e, ENOMEM, "HKDF unavailable");
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)ikm, ikm_len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (void *)info, strlen(info));
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 (void *)"", 0);
	p[4] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, out_len, p) == 1;
	EVP_KDF_CTX_free(ctx);
	if (!ok)
		return err_set(e, EIO, "HKDF-SHA256 failed");
	return 0;
}

static int hmac_b64(const uint8_t *key, size_t key_len, const char *msg,
		    char out[48], struct err *e)
{
	uint8_t mac[32];
	size_t mac_len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len,
		       (const uint8_t *)msg, strlen(msg), mac, sizeof(mac),
		       &mac_len) ||
	    mac_len != sizeof(mac))
		return err_set(e, EIO, "HMAC-SHA256 failed");
	if (jose_b64_enc_buf(mac, sizeof(mac), out, 47) != 43)
		return err_set(e, EIO, "base64url encoding failed");
	out[43] = '\0';
	return 0;
}

int host_secrets_fingerprint(const struct host_secrets *s, char out[48],
			     struct err *e)
{
	return hmac_b64(s->root, sizeof(s->root), LABEL_SECRETS_FP, out, e);
}

int host_tk_fingerprint(const uint8_t tk[KP_TK_SIZE], char out[48],
			struct err *e)
{
	return hmac_b64(tk, KP_TK_SIZE, LABEL_TK_FP, out, e);
}

int host_secrets_generate(struct host_secrets *s, struct err *e)
{
	explicit_bzero(s, sizeof(*s));
	if (RAND_priv_bytes(s->root, sizeof(s->root)) != 1)
		return err_set(e, EIO, "no random bytes for the VM's keys");
	s->state = HOST_SECRETS_FRESH;
	return 0;
}

int host_secrets_binding(const uint8_t *buf, size_t len,
			 struct host_secrets_binding *ret, struct err *e)
{
	uint16_t version, count;
	size_t want;

	if (len < HOST_SECRETS_HEADER_SIZE)
		return err_set(e, EBADMSG, "secrets file: %zu bytes, too short",
			       len);
	if (memcmp(buf, MAGIC, 4) != 0)
		return err_set(e, EBADMSG, "secrets file: bad magic");
	version = get_u16(buf + 4);
	count = get_u16(buf + 6);
	if (version != VERSION && version != VERSION_1)
		return err_set(e, EBADMSG,
			       "secrets file: version %u, expected %d or %d",
			       version, VERSION_1, VERSION);
	if (count != (version == VERSION ? HOST_SECRETS_N : HOST_SECRETS_V1_N))
		return err_set(e, EBADMSG,
			       "secrets file: %u items, expected %d", count,
			       version == VERSION ? HOST_SECRETS_N
						  : HOST_SECRETS_V1_N);
	want = version == VERSION ? HOST_SECRETS_FILE_SIZE
				  : HOST_SECRETS_V1_FILE_SIZE;
	if (len != want)
		return err_set(e, EBADMSG,
			       "secrets file: %zu bytes, expected %zu for "
			       "version %u",
			       len, want, version);
	ret->generation = get_u64(buf + 8);
	memcpy(ret->kp_digest, buf + 16, KP_DIGEST_SIZE);
	ret->version = version;
	return 0;
}

/* AES-256-GCM under the TK-derived key, one shot either way. */
static int gcm(bool enc, const uint8_t key[HOST_SECRETS_KEY_SIZE],
	       const uint8_t *iv, const uint8_t *aad, size_t aad_len,
	       const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag,
	       struct err *e)
{
	int r = aes256gcm(enc, key, iv, aad, aad_len, in, len, out, tag,
			       e);

	if (r == -EKEYREJECTED)
		return err_set(e, EKEYREJECTED,
			       "secrets file does not decrypt with this "
			       "transport key (another TK, or the file was "
			       "modified)");
	return r;
}

int host_secrets_sealing_key(const uint8_t tk[KP_TK_SIZE],
			     uint8_t out[HOST_SECRETS_KEY_SIZE], struct err *e)
{
	return host_hkdf_sha256(tk, KP_TK_SIZE, INFO_KEY, out,
				HOST_SECRETS_KEY_SIZE, e);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int host_secrets_open(const uint8_t *buf, size_t len,
		      const uint8_t tk[KP_TK_SIZE],
		      const struct host_secrets_binding *b,
		      struct host_secrets *ret, struct err *e)
{
	struct host_secrets_binding have;
	uint8_t tag[TAG_SIZE], key[HOST_SECRETS_KEY_SIZE];
	uint8_t plain[HOST_SECRETS_PLAIN_SIZE];
	size_t plen;
	uint32_t state;
	int r;

	r = host_secrets_binding(buf, len, &have, e);
	if (r < 0)
		return r;
	if (have.generation != b->generation ||
	    CRYPTO_memcmp(have.kp_digest, b->kp_digest, KP_DIGEST_SIZE) != 0)
		return err_set(e, ESTALE,
			       "secrets file is bound to generation %llu of "
			       "another key protector, not to generation %llu",
			       (unsigned long long)have.generation,
			       (unsigned long long)b->generation);
	plen = have.version == VERSION ? HOST_SECRETS_PLAIN_SIZE
				       : HOST_SECRETS_V1_N * 32;
	memcpy(tag, buf + HOST_SECRETS_HEADER_SIZE + plen, TAG_SIZE);
	r = host_secrets_sealing_key(tk, key, e);
	if (r < 0)
		return r;
	r = gcm(false, key, buf + HOST_SECRETS_HEADER_SIZE - IV_SIZE, buf,
		HOST_SECRETS_HEADER_SIZE, buf + HOST_SECRETS_HEADER_SIZE, plen,
		plain, tag, e);
	OPENSSL_cleanse(key, sizeof(key));
	if (r < 0)
		return r;
	explicit_bzero(ret, sizeof(*ret));
	if (have.version == VERSION_1) {
		/* upgrade: one root key from the three version 1 keys */
		r = host_hkdf_sha256(plain, plen, INFO_V1_ROOT, ret->root,
				     sizeof(ret->root), e);
		OPENSSL_cleanse(plain, sizeof(plain));
		ret->state = HOST_SECRETS_FRESH;
		return r;
	}
	state = (uint32_t)plain[96] << 24 | (uint32_t)plain[97] << 16 |
		(uint32_t)plain[98] << 8 | plain[99];
	if (state > HOST_SECRETS_RUNNING) {
		OPENSSL_cleanse(plain, sizeof(plain));
		return err_set(e, EBADMSG, "secrets file: state %u unknown",
			       state);
	}
	memcpy(ret->root, plain, 32);
	memcpy(ret->vtpm_digest, plain + 32, 32);
	memcpy(ret->vars_digest, plain + 64, 32);
	ret->state = state;
	OPENSSL_cleanse(plain, sizeof(plain));
	return 0;
}

int host_secrets_seal_with(const struct host_secrets *s,
			   const uint8_t key[HOST_SECRETS_KEY_SIZE],
			   const struct host_secrets_binding *b,
			   uint8_t out[HOST_SECRETS_FILE_SIZE], struct err *e)
{
	uint8_t *iv = out + HOST_SECRETS_HEADER_SIZE - IV_SIZE;
	uint8_t plain[HOST_SECRETS_PLAIN_SIZE];
	int r;

	memcpy(out, MAGIC, 4);
	put_u16(out + 4, VERSION);
	put_u16(out + 6, HOST_SECRETS_N);
	put_u64(out + 8, b->generation);
	memcpy(out + 16, b->kp_digest, KP_DIGEST_SIZE);
	if (RAND_bytes(iv, IV_SIZE) != 1)
		return err_set(e, EIO, "no random bytes for the IV");
	memcpy(plain, s->root, 32);
	memcpy(plain + 32, s->vtpm_digest, 32);
	memcpy(plain + 64, s->vars_digest, 32);
	put_u32(plain + 96, s->state);
	r = gcm(true, key, iv, out, HOST_SECRETS_HEADER_SIZE, plain,
		sizeof(plain), out + HOST_SECRETS_HEADER_SIZE,
		out + HOST_SECRETS_HEADER_SIZE + sizeof(plain), e);
	OPENSSL_cleanse(plain, sizeof(plain));
	return r;
}

int host_secrets_seal(const struct host_secrets *s,
		      const uint8_t tk[KP_TK_SIZE],
		      const struct host_secrets_binding *b,
		      uint8_t out[HOST_SECRETS_FILE_SIZE], struct err *e)
{
	uint8_t key[HOST_SECRETS_KEY_SIZE];
	int r;

	r = host_secrets_sealing_key(tk, key, e);
	if (r == 0)
		r = host_secrets_seal_with(s, key, b, out, e);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}
