/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM secrets file (src/host/secrets.c) and locked memory
 * (src/host/secmem.c): round trip, binding, every byte authenticated,
 * fingerprints against an independent HMAC.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <jose/b64.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "helpers.h"
#include "host/secmem.h"
#include "host/secrets.h"

static void fill(uint8_t *b, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v + i);
}

static void test_round_trip(void **state)
{
	struct host_secrets s, out;
	struct host_secrets_binding b = { .generation = 7 }, got;
	uint8_t tk[KP_TK_SIZE], other[KP_TK_SIZE];
	uint8_t file[HOST_SECRETS_FILE_SIZE], file2[HOST_SECRETS_FILE_SIZE];
	struct err e = { 0 };
	char fp1[48], fp2[48];

	(void)state;
	fill(tk, sizeof(tk), 1);
	fill(other, sizeof(other), 2);
	fill(b.kp_digest, sizeof(b.kp_digest), 0x40);
	check_ok(host_secrets_generate(&s, &e), &e);
	check_ok(host_secrets_seal(&s, tk, &b, file, &e), &e);
	check_ok(host_secrets_binding(file, sizeof(file), &got, &e), &e);
	assert_int_equal(got.generation, 7);
	assert_memory_equal(got.kp_digest, b.kp_digest, KP_DIGEST_SIZE);
	check_ok(host_secrets_open(file, sizeof(file), tk, &b, &out, &e), &e);
	assert_memory_equal(&out, &s, sizeof(s));

	/* a fresh IV each time: the same keys give another file */
	check_ok(host_secrets_seal(&s, tk, &b, file2, &e), &e);
	assert_memory_not_equal(file, file2, sizeof(file));

	/* the fingerprint follows the keys, not the file */
	check_ok(host_secrets_fingerprint(&s, fp1, &e), &e);
	check_ok(host_secrets_fingerprint(&out, fp2, &e), &e);
	assert_string_equal(fp1, fp2);
	assert_int_equal(strlen(fp1), 43);

	/* another TK */
	assert_int_equal(host_secrets_open(file, sizeof(file), other, &b, &out,
					   &e),
			 -EKEYREJECTED);
	/* bound to another generation or KP */
	b.generation = 8;
	memset(&e, 0, sizeof(e));
	assert_int_equal(host_secrets_open(file, sizeof(file), tk, &b, &out,
					   &e),
			 -ESTALE);
	assert_non_null(strstr(e.msg, "generation 7"));
	b.generation = 7;
	b.kp_digest[5] ^= 1;
	assert_int_equal(host_secrets_open(file, sizeof(file), tk, &b, &out,
					   &e),
			 -ESTALE);
	b.kp_digest[5] ^= 1;
	explicit_bzero(&s, sizeof(s));
	explicit_bzero(&out, sizeof(out));
}

/* Every byte is covered: the header by the AAD, the rest by GCM. */
static void test_every_byte(void **state)
{
	struct host_secrets s, out;
	struct host_secrets_binding b = { .generation = 1 }, got;
	uint8_t tk[KP_TK_SIZE], file[HOST_SECRETS_FILE_SIZE];
	struct err e = { 0 };

	(void)state;
	fill(tk, sizeof(tk), 9);
	check_ok(host_secrets_generate(&s, &e), &e);
	check_ok(host_secrets_seal(&s, tk, &b, file, &e), &e);
	for (size_t i = 0; i < sizeof(file); i++) {
		int r;

		file[i] ^= 0x80;
		memset(&e, 0, sizeof(e));
		r = host_secrets_open(file, sizeof(file), tk, &b, &out, &e);
		if (i < 8)
			assert_int_equal(r, -EBADMSG); /* magic, version, count
							*/
		else if (i < 16 + KP_DIGEST_SIZE)
			assert_int_equal(r, -ESTALE); /* the binding */
		else
			assert_int_equal(r, -EKEYREJECTED);
		file[i] ^= 0x80;
	}
	/* sizes */
	assert_int_equal(host_secrets_binding(file, sizeof(file) - 1, &got, &e),
			 -EBADMSG);
	check_ok(host_secrets_open(file, sizeof(file), tk, &b, &out, &e), &e);
	explicit_bzero(&s, sizeof(s));
	explicit_bzero(&out, sizeof(out));
}

/* The TK fingerprint is HMAC-SHA256(TK, "shieldvm tk fingerprint"),
 * computed here with EVP_MAC independently. */
static void test_tk_fingerprint(void **state)
{
	uint8_t tk[KP_TK_SIZE], mac[32];
	char fp[48], want[48];
	size_t mac_len = 0;
	struct err e = { 0 };
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(m);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	static const char label[] = "shieldvm tk fingerprint";

	(void)state;
	fill(tk, sizeof(tk), 0x11);
	assert_int_equal(EVP_MAC_init(c, tk, sizeof(tk), p), 1);
	assert_int_equal(EVP_MAC_update(c, (const uint8_t *)label,
					strlen(label)),
			 1);
	assert_int_equal(EVP_MAC_final(c, mac, &mac_len, sizeof(mac)), 1);
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	assert_int_equal(jose_b64_enc_buf(mac, sizeof(mac), want, 47), 43);
	want[43] = '\0';
	check_ok(host_tk_fingerprint(tk, fp, &e), &e);
	assert_string_equal(fp, want);
}

/* HKDF-SHA256 against RFC 5869 test case 3 (empty salt and info). */
static void test_hkdf(void **state)
{
	uint8_t ikm[22], okm[42];
	static const uint8_t want[42] = {
		0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71,
		0x5f, 0x80, 0x2a, 0x06, 0x3c, 0x5a, 0x31, 0xb8, 0xa1,
		0x1f, 0x5c, 0x5e, 0xe1, 0x87, 0x9e, 0xc3, 0x45, 0x4e,
		0x5f, 0x3c, 0x73, 0x8d, 0x2d, 0x9d, 0x20, 0x13, 0x95,
		0xfa, 0xa4, 0xb6, 0x1a, 0x96, 0xc8,
	};
	struct err e = { 0 };

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	check_ok(host_hkdf_sha256(ikm, sizeof(ikm), "", okm, sizeof(okm), &e),
		 &e);
	assert_memory_equal(okm, want, sizeof(want));
}

static void test_secmem(void **state)
{
	struct host_secmem *m = NULL;
	struct err e = { 0 };
	uint8_t *a, *b;

	(void)state;
	check_ok(host_secmem_new(100, &m, &e), &e);
	a = host_secmem_alloc(m, 1);
	b = host_secmem_alloc(m, 32);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(((uintptr_t)a) % 16, 0);
	assert_int_equal(((uintptr_t)b) % 16, 0);
	assert_true(b >= a + 16);
	/* the arena is one page at least; it runs out, it does not grow */
	assert_null(host_secmem_alloc(m, 1u << 20));
	assert_null(host_secmem_alloc(m, 0));
	/* locked: mincore says resident */
	{
		unsigned char vec = 0;
		uintptr_t page = (uintptr_t)b & ~(uintptr_t)4095;

		assert_int_equal(mincore((void *)page, 4096, &vec), 0);
		assert_true(vec & 1);
	}
	host_secmem_free(m);
	host_secmem_free(NULL);
	assert_int_equal(host_secmem_new(HOST_SECMEM_MAX + 1, &m, &e), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_tk_fingerprint),
		cmocka_unit_test(test_hkdf),
		cmocka_unit_test(test_secmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
