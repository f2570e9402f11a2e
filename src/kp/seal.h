/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealing to a host transport key: a JWE (compact serialization) for the
 * public JWK in a health token's cnf, which only the TPM holding that key
 * can open. Pure code; the private-key operation is a callback so the host
 * can do it inside its TPM (TPM2_RSA_Decrypt / TPM2_ECDH_ZGen).
 *
 *   RSA (2048..16384 bits): alg "RSA-OAEP-256" (OAEP, SHA-256, MGF1
 *                           SHA-256, empty label), enc "A256GCM"
 *   EC P-256 / P-384:       alg "ECDH-ES" (direct key agreement, Concat
 *                           KDF of RFC 7518 4.6 with SHA-256, AlgorithmID
 *                           "A256GCM", apu/apv as in the header or empty,
 *                           256 bits), enc "A256GCM"
 * The protected header also carries "kid" (the cnf JWK's thumbprint) and
 * "cty": "shieldvm-sealed+json". Nothing else is accepted on input.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define SEAL_MAX_SIZE 65536       /* a compact JWE we will parse */
#define SEAL_MAX_PLAINTEXT 16384

/* Encrypt pt to the public JWK (EC P-256/P-384 or RSA >= 2048 bits; other
 * keys -EINVAL). *ret_jwe is malloc'ed text. */
int seal_to_jwk(const json_t *jwk, const uint8_t *pt, size_t pt_len,
		char **ret_jwe, struct err *e);

/* The private-key operation, done wherever the key lives. Both return 0 or
 * a negative errno with *e set; outputs are secrets the caller of
 * seal_open wipes (seal_open wipes its copies). */
struct seal_keyop {
	/* RSAES-OAEP-SHA256 decrypt of in (the JWE encrypted key). */
	int (*rsa_oaep_decrypt)(void *userdata, const uint8_t *in,
				size_t in_len, uint8_t *out, size_t max,
				size_t *ret_len, struct err *e);
	/* ECDH: peer is an uncompressed SEC1 point (the header's epk);
	 * z receives the shared x-coordinate. */
	int (*ecdh_zgen)(void *userdata, const uint8_t *peer, size_t peer_len,
			 uint8_t *z, size_t max, size_t *ret_len,
			 struct err *e);
	void *userdata;
};

/*
 * Decrypt a sealed JWE with op. expect_kid (or NULL): the thumbprint the
 * header's kid must equal. Plaintext goes to out (a secret). Errors:
 * -EBADMSG malformed, -EINVAL an algorithm outside the list above,
 * -EKEYREJECTED the key operation or the GCM tag failed, -E2BIG limits.
 */
int seal_open(const char *jwe, size_t len, const struct seal_keyop *op,
	      const char *expect_kid, uint8_t *out, size_t max,
	      size_t *ret_len, struct err *e);

/* seal_open with a software private JWK (tests, tools). */
int seal_open_jwk(const char *jwe, size_t len, const json_t *priv_jwk,
		  uint8_t *out, size_t max, size_t *ret_len, struct err *e);
