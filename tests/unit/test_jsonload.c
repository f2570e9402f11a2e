/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src/hgsd/jsonload.c against json_loadb(JSON_REJECT_DUPLICATES): the same
 * tree for every text jansson accepts, the same error (text, line, column,
 * position) for every text it refuses, on hand-made texts and on many
 * random mutations of attestation-like bodies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hgsd/jsonload.h"

#define DEPTH 16u

/* Both parsers on one text: 1 when jansson accepted it. */
static int same(const char *buf, size_t len)
{
	json_error_t e1, e2;
	json_t *a = NULL, *b;
	unsigned depth = jsonload_depth(buf, len);
	int r = jsonload_body(buf, len, DEPTH, &a, &e1);

	if (depth > DEPTH) {
		assert_int_equal(r, -E2BIG);
		return 0;
	}
	b = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e2);
	if (!b) {
		assert_int_equal(r, -EBADMSG);
		assert_string_equal(e1.text, e2.text);
		assert_int_equal(e1.line, e2.line);
		assert_int_equal(e1.column, e2.column);
		assert_int_equal(e1.position, e2.position);
		return 0;
	}
	assert_int_equal(r, 0);
	assert_non_null(a);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	return 1;
}

static char *long_string(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(c ? c : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i % 64]);
	s[n] = '\0';
	return s;
}

static int samef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int samef(const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	r = same(text, (size_t)n);
	free(text);
	return r;
}

static void test_cases(void **state)
{
	char *L = long_string(JSONLOAD_LONG_STRING, 0);
	char *M = long_string(JSONLOAD_LONG_STRING - 1, 0);
	char *K = long_string(40000, 0);

	/* accepted: long values in objects and arrays, nested, many */
	assert_true(samef("{\"a\":\"%s\"}", L));
	assert_true(samef("{\"a\":\"%s\",\"b\":\"%s\",\"c\":[\"%s\",1,{\"d\":\"%s\"}]}", L, M, K, L));
	assert_true(samef(" { \"a\" : \"%s\" \n\t, \"b\" : [ \"%s\" , \"%s\" ] } ", K, L, L));
	{
		/* more long strings than spans: the rest stay in the text */
		size_t n = JSONLOAD_MAX_SPANS + 2, cap = n * (strlen(K) + 4) + 4, o = 0;
		char *t = malloc(cap);

		assert_non_null(t);
		t[o++] = '[';
		for (size_t i = 0; i < n; i++)
			o += (size_t)snprintf(t + o, cap - o, "%s\"%s\"", i ? "," : "",
					      i % 2 ? K : L);
		t[o++] = ']';
		assert_true(same(t, o));
		free(t);
	}
	/* a long key stays in the text (duplicates are keys) */
	assert_true(samef("{\"%s\":\"%s\"}", L, L));
	assert_false(samef("{\"%s\":1,\"%s\":2}", L, L));
	assert_false(samef("{\"a\":\"%s\",\"a\":\"%s\"}", L, K));
	/* strings that look like placeholders, escapes, non-ASCII */
	assert_true(samef("{\"a\":\"\\\\u00000\",\"b\":\"%s\"}", L));
	assert_true(samef("{\"a\":\"%s\\n\",\"b\":\"%s\u00e9\"}", L, L));
	assert_false(samef("{\"a\":\"\\u0000\",\"b\":\"%s\"}", L));
	assert_false(samef("{\"a\":\"%s\\u0000\"}", L));
	/* invalid texts around long strings: jansson's own errors */
	assert_false(samef("{\"a\":\"%s\"", L));
	assert_false(samef("{\"a\":\"%s", L));
	assert_false(samef("{\"a\" \"%s\"}", L));
	assert_false(samef("{\"a\":\"%s\",}", L));
	assert_false(samef("{\"a\":\"%s\"} x", L));
	assert_false(samef("\"%s\"", L));
	assert_false(samef("{\"a\":\"%s\x01\"}", L));
	assert_false(samef("{\"a\":\"%s\xff\"}", L));
	assert_false(samef("{\"a\":[\"%s\":1]}", L));
	assert_false(samef("{\"%s\"}", L));
	assert_false(same("", 0));
	assert_false(same("{\"a\":1}\0", 8));
	free(L);
	free(M);
	free(K);
}

static void test_depth(void **state)
{
	char buf[64];

	memset(buf, '[', 16);
	memset(buf + 16, ']', 16);
	assert_int_equal(jsonload_depth(buf, 32), 16);
	assert_true(same(buf, 32));
	memset(buf, '[', 17);
	memset(buf + 17, ']', 17);
	assert_int_equal(jsonload_depth(buf, 34), 17);
	assert_false(same(buf, 34));
	assert_int_equal(jsonload_depth("[\"[[[\\\"[[\"]", 11), 1);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Random edits of bodies shaped like attestations. */
static void test_mutations(void **state)
{
	static const char alphabet[] = "\"\\:,{}[] \nu0aZ-\x01\x1f!\x7f~\xc3\xa9";
	char *L = long_string(600, 0), *K = long_string(3000, 0);
	char *base[3];
	size_t accepted = 0;

	assert_true(asprintf(&base[0], "{\"ak_name\":\"000b12\",\"nonce\":\"abc\",\"event_log\":\"%s\","
			     "\"transport_key\":{\"public\":\"%s\",\"certify\":\"x\"},"
			     "\"pcrs\":{\"sha256\":{\"0\":\"00\"}}}", K, L) > 0);
	assert_true(asprintf(&base[1], "[\"%s\",\"%s\",{\"k\":\"%s\"},null,true,1.5,-2]", L, L, K) > 0);
	assert_true(asprintf(&base[2], "{\"%s\":\"%s\",\"b\":\"\\u00e9%s\"}", L, L, L) > 0);
	for (int it = 0; it < 20000; it++) {
		const char *b = base[rnd(3)];
		size_t len = strlen(b);
		char *t = malloc(len + 8);
		int edits = 1 + (int)rnd(3);

		assert_non_null(t);
		memcpy(t, b, len + 1);
		for (int k = 0; k < edits; k++) {
			size_t pos = rnd((uint32_t)len);

			switch (rnd(3)) {
			case 0: /* replace */
				t[pos] = alphabet[rnd(sizeof(alphabet) - 1)];
				break;
			case 1: /* delete */
				memmove(t + pos, t + pos + 1, len - pos);
				len--;
				break;
			default: /* insert */
				memmove(t + pos + 1, t + pos, len - pos + 1);
				t[pos] = alphabet[rnd(sizeof(alphabet) - 1)];
				len++;
				break;
			}
		}
		accepted += (size_t)same(t, len);
		free(t);
	}
	/* some mutants stay valid: both paths were exercised */
	assert_true(accepted > 100);
	for (int i = 0; i < 3; i++)
		free(base[i]);
	free(L);
	free(K);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
