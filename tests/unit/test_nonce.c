/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stateless attestation nonces: round trip, and every rejection: size,
 * version, each byte altered, another server's key, expired, from the future.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "attest/nonce.h"

#define NOW ((int64_t)1700000000)

static const uint8_t key[NONCE_KEY_SIZE] = {
	0x6b, 0x65, 0x79, 0x20, 0x6f, 0x66, 0x20, 0x74, 0x68, 0x69, 0x73,
	0x20, 0x63, 0x6c, 0x75, 0x73, 0x74, 0x65, 0x72, 0x01, 0x02, 0x03,
	0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
};

static void issue(int64_t when, uint8_t n[NONCE_SIZE])
{
	assert_int_equal(nonce_issue(key, when, n), 0);
}

static int check(const uint8_t *n, size_t len, int64_t now, int64_t *issued)
{
	struct err e = { { 0 } };
	int r = nonce_check(key, n, len, now, NONCE_DEFAULT_LIFETIME, issued,
			    &e);

	if (r < 0)
		assert_true(e.msg[0] != '\0'); /* every rejection explains */
	return r;
}

static void test_round_trip(void **state)
{
	uint8_t a[NONCE_SIZE], b[NONCE_SIZE];
	int64_t issued = 0;

	issue(NOW, a);
	issue(NOW, b);
	assert_int_equal(a[0], NONCE_VERSION);
	assert_memory_not_equal(a, b, NONCE_SIZE); /* random part differs */
	assert_int_equal(check(a, sizeof(a), NOW, &issued), 0);
	assert_int_equal(issued, NOW);
	assert_int_equal(check(b, sizeof(b), NOW + NONCE_DEFAULT_LIFETIME, NULL),
			 0);
	/* the issue time is big-endian at offset 1 */
	assert_int_equal(a[1 + 7], (uint8_t)(NOW & 0xff));
	assert_int_equal(a[1 + 4], (uint8_t)((NOW >> 24) & 0xff));
}

static void test_wrong_size(void **state)
{
	uint8_t n[NONCE_SIZE + 1];

	issue(NOW, n);
	n[NONCE_SIZE] = 0;
	assert_int_equal(check(n, NONCE_SIZE - 1, NOW, NULL), -EBADMSG);
	assert_int_equal(check(n, NONCE_SIZE + 1, NOW, NULL), -EBADMSG);
	assert_int_equal(check(n, 0, NOW, NULL), -EBADMSG);
	assert_int_equal(check(NULL, NONCE_SIZE, NOW, NULL), -EBADMSG);
}

static void test_wrong_version(void **state)
{
	uint8_t n[NONCE_SIZE];

	issue(NOW, n);
	n[0] = NONCE_VERSION + 1;
	assert_int_equal(check(n, sizeof(n), NOW, NULL), -EBADMSG);
}

/* Any single flipped bit, in any byte, is caught: the version byte by the
 * version check, every other byte by the tag. */
static void test_flipped_bits(void **state)
{
	uint8_t n[NONCE_SIZE], m[NONCE_SIZE];

	issue(NOW, n);
	for (size_t i = 0; i < NONCE_SIZE; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(m, n, sizeof(m));
			m[i] ^= (uint8_t)(1u << bit);
			int r = check(m, sizeof(m), NOW, NULL);

			if (i == 0)
				assert_int_equal(r, -EBADMSG);
			else
				assert_int_equal(r, -EKEYREJECTED);
		}
}

static void test_another_server(void **state)
{
	uint8_t other[NONCE_KEY_SIZE], n[NONCE_SIZE];
	struct err e = { { 0 } };

	memcpy(other, key, sizeof(other));
	other[NONCE_KEY_SIZE - 1] ^= 1;
	assert_int_equal(nonce_issue(other, NOW, n), 0);
	assert_int_equal(nonce_check(key, n, sizeof(n), NOW,
				     NONCE_DEFAULT_LIFETIME, NULL, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "another service"));
	assert_int_equal(nonce_check(other, n, sizeof(n), NOW,
				     NONCE_DEFAULT_LIFETIME, NULL, NULL),
			 0);
}

static void test_expired(void **state)
{
	uint8_t n[NONCE_SIZE];
	struct err e = { { 0 } };
	int64_t issued = 42;

	issue(NOW - NONCE_DEFAULT_LIFETIME - 1, n);
	assert_int_equal(check(n, sizeof(n), NOW, &issued), -ETIME);
	assert_int_equal(issued, 42); /* untouched on failure */
	/* a shorter configured lifetime */
	issue(NOW - 11, n);
	assert_int_equal(nonce_check(key, n, sizeof(n), NOW, 10, NULL, &e),
			 -ETIME);
	assert_int_equal(nonce_check(key, n, sizeof(n), NOW, 11, NULL, NULL),
			 0);
}

static void test_from_the_future(void **state)
{
	uint8_t n[NONCE_SIZE];

	issue(NOW + NONCE_MAX_CLOCK_SKEW, n);
	assert_int_equal(check(n, sizeof(n), NOW, NULL), 0);
	issue(NOW + NONCE_MAX_CLOCK_SKEW + 1, n);
	assert_int_equal(check(n, sizeof(n), NOW, NULL), -ETIME);
	/* an issue time near INT64_MAX / INT64_MIN must not overflow */
	issue(INT64_MAX, n);
	assert_int_equal(check(n, sizeof(n), NOW, NULL), -ETIME);
	issue(INT64_MIN, n);
	assert_int_equal(check(n, sizeof(n), NOW, NULL), -ETIME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_size),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_flipped_bits),
		cmocka_unit_test(test_another_server),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_from_the_future),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
