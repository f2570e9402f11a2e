/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Public keys that passed validation, by their content.
 *
 * Turning a TPM public area into an OpenSSL key and validating it (the
 * point on its curve, times the order) costs more than verifying an ECDSA
 * signature, and an attestation did it three times: the AK, and the
 * transport key twice. The AK and transport key of a host are the same
 * bytes attestation after attestation, so tpm2_public_to_pkey() keeps what
 * it accepted here, keyed by the SHA-256 of exactly the fields the key and
 * its validation depend on. A hit is the same key the same checks accepted
 * before; a key never seen is converted and checked in full. Only accepted
 * keys are kept, at most TPM_KEY_CACHE_ENTRIES, least recently used out
 * first. Thread-safe; the keys are shared read-only (EVP_PKEY_up_ref).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* A new reference to the key cached for these bytes, or NULL. */
EVP_PKEY *keycache_get(const uint8_t *id, size_t len);

/* Keep pkey (a reference of its own) for these bytes. */
void keycache_put(const uint8_t *id, size_t len, EVP_PKEY *pkey);

/* Entries now (tests). */
size_t keycache_size(void);
