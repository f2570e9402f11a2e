/* SPDX-License-Identifier: Apache-2.0 */
/* AES-256-GCM, one shot (the host's secrets file, a VM's vars.enc, hgsd's
 * keys at rest). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define AEAD_KEY_SIZE 32
#define AEAD_IV_SIZE 12
#define AEAD_TAG_SIZE 16

/* Encrypt (tag out) or decrypt (tag in) len bytes of in to out under key
 * and the 96-bit iv, with aad authenticated. -EKEYREJECTED, e left to the
 * caller (who knows what did not open), when the tag does not verify; -EIO
 * otherwise. On failure out is wiped. */
int aes256gcm(bool enc, const uint8_t key[AEAD_KEY_SIZE], const uint8_t iv[AEAD_IV_SIZE],
	      const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
	      uint8_t tag[AEAD_TAG_SIZE], struct err *e);
