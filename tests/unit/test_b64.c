/* SPDX-License-Identifier: Apache-2.0 */
/* src/common/b64.c against RFC 4648's vectors and libjose's encoder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <jose/b64.h>
#include <openssl/rand.h>

#include "common/b64.h"

static void test_vectors(void **state)
{
	/* RFC 4648 section 10, in the URL alphabet without padding */
	static const char *const vec[][2] = {
		{ "f", "Zg" },		{ "fo", "Zm8" },	{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg" },	{ "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	uint8_t out[16];
	size_t n;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(b64url_decode(vec[i][1], strlen(vec[i][1]), out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(vec[i][0]));
		assert_memory_equal(out, vec[i][0], n);
	}
	/* the URL-safe characters: 0xfb 0xff -> "-_8" */
	assert_int_equal(b64url_decode("-_8", 3, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
}

static void test_rejections(void **state)
{
	static const char *const bad[] = {
		"Zg==",	 /* padding */
		"Zm9v+w", /* standard alphabet */
		"Zm9v/w", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", /* length 1 mod 4 */
		"Zh",	 /* non-zero leftover bits */
		"Zm9",	 /* "Zm8" is canonical; '9' leaves bits */
	};
	uint8_t out[16];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 5, &n), -E2BIG);
	/* a NUL inside the text is not part of the alphabet */
	assert_int_equal(b64url_decode("Zm\0v", 4, out, sizeof(out), &n), -EINVAL);
}

/* Round trips with libjose's encoder, every length up to 300 bytes. */
static void test_against_jose(void **state)
{
	uint8_t in[300], out[300];

	for (size_t len = 0; len <= sizeof(in); len++) {
		json_t *enc;
		size_t n = 0;

		assert_int_equal(RAND_bytes(in, (int)sizeof(in)), 1);
		enc = jose_b64_enc(in, len);
		assert_non_null(enc);
		assert_int_equal(b64url_decoded_len(json_string_length(enc)), len);
		assert_int_equal(b64url_decode(json_string_value(enc), json_string_length(enc), out,
					       sizeof(out), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
		json_decref(enc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_against_jose),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
