/* SPDX-License-Identifier: Apache-2.0 */
#include "common/aead.h"

#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

int aes256gcm(bool enc, const uint8_t key[AEAD_KEY_SIZE], const uint8_t iv[AEAD_IV_SIZE],
	      const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
	      uint8_t tag[AEAD_TAG_SIZE], struct err *e)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, ok = 0;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		goto done;
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, enc, NULL) !=
		    1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto done;
	if (!enc &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_SIZE, tag) != 1)
		goto done;
	if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1) {
		ok = -1;
		goto done;
	}
	if (enc &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_SIZE, tag) != 1)
		goto done;
	ok = 1;
done:
	EVP_CIPHER_CTX_free(ctx);
	if (ok == 1)
		return 0;
	OPENSSL_cleanse(out, len);
	if (ok == -1)
		return -EKEYREJECTED; /* the caller says what did not open */
	return err_set(e, EIO, "AES-256-GCM failed");
}
