/* SPDX-License-Identifier: Apache-2.0 */
#include "common/hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char hexdigits[] = "0123456789abcdef";

char *hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
	return out;
}

char *hex_encode_alloc(const uint8_t *in, size_t n)
{
	char *out;

	if (n > (SIZE_MAX - 1) / 2)
		return NULL;
	out = malloc(2 * n + 1);
	return out ? hex_encode(in, n, out) : NULL;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t max)
{
	size_t len = strlen(in);

	if (len % 2)
		return -EINVAL;
	if (len / 2 > max)
		return -E2BIG;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = nibble(in[2 * i]), lo = nibble(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}
