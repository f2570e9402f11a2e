/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation nonces that any hgsd node can check without shared state.
 *
 * A nonce is NONCE_SIZE bytes:
 *   version (1 byte, NONCE_VERSION) || issued_at (8 bytes, big-endian Unix
 *   seconds) || random (16 bytes) || tag (16 bytes)
 * where tag = HMAC-SHA-256(key, version || issued_at || random) truncated to
 * 16 bytes and key is the cluster's nonce key (NONCE_KEY_SIZE random bytes
 * kept in the store, the same on every node). It travels base64url-encoded
 * and is the quote's extraData as raw bytes (41 <= 64, TPM2B_DATA's limit).
 *
 * Authenticated and time-limited, but not single-use by itself: the attest
 * handler records each accepted nonce (store_nonce_consume) so a replayed
 * quote fails even within the lifetime.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define NONCE_VERSION 1
#define NONCE_KEY_SIZE 32
#define NONCE_SIZE 41
#define NONCE_DEFAULT_LIFETIME 300 /* seconds */
#define NONCE_MAX_CLOCK_SKEW 30    /* seconds a nonce may come from the future */

/* Fill out with a fresh nonce issued at now. 0 or -EIO (no randomness). */
int nonce_issue(const uint8_t key[NONCE_KEY_SIZE], int64_t now,
		uint8_t out[NONCE_SIZE]);

/*
 * Check a nonce received from a host:
 *   -EBADMSG      wrong size or version
 *   -EKEYREJECTED tag does not verify (forged, or issued by another service)
 *   -ETIME        older than lifetime seconds, or more than
 *                 NONCE_MAX_CLOCK_SKEW seconds in the future
 * The tag is compared in constant time. *ret_issued (may be NULL) gets the
 * issue time on success.
 */
int nonce_check(const uint8_t key[NONCE_KEY_SIZE], const uint8_t *nonce,
		size_t len, int64_t now, uint32_t lifetime, int64_t *ret_issued,
		struct err *e);
