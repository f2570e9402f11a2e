/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/hash.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/util.h"

static const struct hash_alg algs[] = {
	{ TPM_ALG_SHA1, 20, "sha1", "SHA1" },
	{ TPM_ALG_SHA256, 32, "sha256", "SHA2-256" },
	{ TPM_ALG_SHA384, 48, "sha384", "SHA2-384" },
	{ TPM_ALG_SHA512, 64, "sha512", "SHA2-512" },
	{ TPM_ALG_SM3_256, 32, "sm3_256", "SM3" },
};

static EVP_MD *mds[ARRAY_SIZE(algs)];
static pthread_once_t mds_once = PTHREAD_ONCE_INIT;

static void mds_fetch(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		mds[i] = EVP_MD_fetch(NULL, algs[i].ossl, NULL);
}

const struct hash_alg *hash_alg_by_id(uint16_t tpm_id)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (algs[i].tpm_id == tpm_id)
			return &algs[i];
	return NULL;
}

const struct hash_alg *hash_alg_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (strcasecmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

const EVP_MD *hash_alg_md(const struct hash_alg *alg)
{
	pthread_once(&mds_once, mds_fetch);
	return mds[alg - algs];
}

int hash_digest(const struct hash_alg *alg, const void *data, size_t len,
		uint8_t *out)
{
	const EVP_MD *md = hash_alg_md(alg);
	unsigned int n = 0;

	if (!md)
		return -EOPNOTSUPP;
	if (!EVP_Digest(data, len, out, &n, md, NULL) || n != alg->size)
		return -EIO;
	return 0;
}

int hash_extend(const struct hash_alg *alg, uint8_t *pcr, const uint8_t *digest)
{
	uint8_t buf[2 * 64];

	memcpy(buf, pcr, alg->size);
	memcpy(buf + alg->size, digest, alg->size);
	return hash_digest(alg, buf, 2u * alg->size, pcr);
}
