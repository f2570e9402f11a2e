/* SPDX-License-Identifier: Apache-2.0 */
/* src/attest/keycache.c: hits by content, references, LRU eviction at
 * TPM_KEY_CACHE_ENTRIES; and tpm2_public_to_pkey through it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "attest/keycache.h"
#include "attest/tpm2.h"
#include "common/limits.h"

static void id_of(uint32_t n, uint8_t id[8])
{
	memcpy(id, "keyid", 4);
	memcpy(id + 4, &n, sizeof(n));
}

static void test_lru(void **state)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256"), *got;
	uint8_t id[8];

	assert_non_null(pkey);
	id_of(0, id);
	assert_null(keycache_get(id, sizeof(id)));
	keycache_put(id, sizeof(id), pkey);
	got = keycache_get(id, sizeof(id));
	assert_ptr_equal(got, pkey);
	EVP_PKEY_free(got);
	/* the same bytes again: kept once */
	keycache_put(id, sizeof(id), pkey);
	assert_int_equal(keycache_size(), 1);
	/* fill up; id 0 is used on the way, so id 1 is the oldest */
	for (uint32_t n = 1; n < TPM_KEY_CACHE_ENTRIES; n++) {
		id_of(n, id);
		keycache_put(id, sizeof(id), pkey);
	}
	assert_int_equal(keycache_size(), TPM_KEY_CACHE_ENTRIES);
	id_of(0, id);
	got = keycache_get(id, sizeof(id));
	assert_non_null(got);
	EVP_PKEY_free(got);
	id_of(TPM_KEY_CACHE_ENTRIES, id);
	keycache_put(id, sizeof(id), pkey);
	assert_int_equal(keycache_size(), TPM_KEY_CACHE_ENTRIES);
	id_of(1, id);
	assert_null(keycache_get(id, sizeof(id)));
	for (uint32_t n = 0; n <= TPM_KEY_CACHE_ENTRIES; n++) {
		id_of(n, id);
		got = keycache_get(id, sizeof(id));
		assert_true(n == 1 ? got == NULL : got == pkey);
		EVP_PKEY_free(got);
	}
	/* the cache holds its own references */
	EVP_PKEY_free(pkey);
	id_of(0, id);
	got = keycache_get(id, sizeof(id));
	assert_non_null(got);
	assert_true(EVP_PKEY_is_a(got, "EC"));
	EVP_PKEY_free(got);
}

/* The same TPM public fields give the same (checked) key; a changed point
 * is checked anew and refused when off the curve. */
static void test_tpm2_public(void **state)
{
	static const uint8_t gx[32] = {
		0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6,
		0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
		0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	};
	static const uint8_t gy[32] = {
		0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
		0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
		0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
	};
	TPMT_PUBLIC pub = { .type = TPM2_ALG_ECC };
	EVP_PKEY *a = NULL, *b = NULL, *c = NULL;
	struct err e = { { 0 } };

	pub.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pub.unique.ecc.x.size = 32;
	pub.unique.ecc.y.size = 32;
	memcpy(pub.unique.ecc.x.buffer, gx, 32);
	memcpy(pub.unique.ecc.y.buffer, gy, 32);
	assert_int_equal(tpm2_public_to_pkey(&pub, &a, &e), 0);
	pub.objectAttributes ^= 0xffffffff; /* not part of the key */
	assert_int_equal(tpm2_public_to_pkey(&pub, &b, &e), 0);
	assert_ptr_equal(a, b);
	pub.unique.ecc.y.buffer[31] ^= 1;
	assert_int_equal(tpm2_public_to_pkey(&pub, &c, &e), -EBADMSG);
	assert_null(c);
	assert_int_equal(tpm2_public_to_pkey(&pub, &c, &e), -EBADMSG);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru), /* first: counts from empty */
		cmocka_unit_test(test_tpm2_public),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
