/* SPDX-License-Identifier: Apache-2.0 */
/* TPM hash algorithm identifiers and their OpenSSL digests. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define TPM_ALG_SHA1 0x0004
#define TPM_ALG_SHA256 0x000B
#define TPM_ALG_SHA384 0x000C
#define TPM_ALG_SHA512 0x000D
#define TPM_ALG_SM3_256 0x0012

struct hash_alg {
	uint16_t tpm_id;
	uint16_t size;
	const char *name;   /* "sha256": the name used in JSON and on the CLI */
	const char *ossl;   /* OpenSSL fetch name */
};

/* NULL when the algorithm is unknown. */
const struct hash_alg *hash_alg_by_id(uint16_t tpm_id);
const struct hash_alg *hash_alg_by_name(const char *name);
/* Fetched once per process; NULL if this OpenSSL lacks the algorithm. */
const EVP_MD *hash_alg_md(const struct hash_alg *alg);
/* One-shot digest; out must hold alg->size bytes. 0 or -errno. */
int hash_digest(const struct hash_alg *alg, const void *data, size_t len,
		uint8_t *out);
/* PCR extend: pcr = H(pcr || digest), both alg->size bytes. */
int hash_extend(const struct hash_alg *alg, uint8_t *pcr, const uint8_t *digest);
