/* SPDX-License-Identifier: Apache-2.0 */
#include "common/b64.h"

#include <errno.h>

/* value + 1 for the alphabet, 0 for anything else */
static const uint8_t dec[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
	['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
	['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

int b64url_decode(const char *in, size_t len, uint8_t *out, size_t max, size_t *ret_len)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t n = b64url_decoded_len(len), o = 0, i = 0;
	uint32_t acc = 0;

	if (len % 4 == 1)
		return -EINVAL;
	if (n > max)
		return -E2BIG;
	for (; i + 4 <= len; i += 4) {
		uint8_t a = dec[p[i]], b = dec[p[i + 1]], c = dec[p[i + 2]], d = dec[p[i + 3]];

		if (!a || !b || !c || !d)
			return -EINVAL;
		acc = (uint32_t)(a - 1) << 18 | (uint32_t)(b - 1) << 12 | (uint32_t)(c - 1) << 6 |
		      (uint32_t)(d - 1);
		out[o++] = (uint8_t)(acc >> 16);
		out[o++] = (uint8_t)(acc >> 8);
		out[o++] = (uint8_t)acc;
	}
	if (len - i == 2) {
		uint8_t a = dec[p[i]], b = dec[p[i + 1]];

		if (!a || !b || ((b - 1) & 0x0f))
			return -EINVAL;
		out[o++] = (uint8_t)((a - 1) << 2 | (b - 1) >> 4);
	} else if (len - i == 3) {
		uint8_t a = dec[p[i]], b = dec[p[i + 1]], c = dec[p[i + 2]];

		if (!a || !b || !c || ((c - 1) & 0x03))
			return -EINVAL;
		out[o++] = (uint8_t)((a - 1) << 2 | (b - 1) >> 4);
		out[o++] = (uint8_t)((b - 1) << 4 | (c - 1) >> 2);
	}
	*ret_len = o;
	return 0;
}

size_t b64url_encode(const void *in, size_t n, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const uint8_t *p = in;
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}
