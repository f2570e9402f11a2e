/* SPDX-License-Identifier: Apache-2.0 */
/* base64url without padding (RFC 4648 section 5), strict and single-pass. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Characters of the base64url text of n bytes (no padding). */
static inline size_t b64url_encoded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Encode n bytes into out (b64url_encoded_len(n) + 1 bytes), NUL-terminated.
 * Returns the text's length. */
size_t b64url_encode(const void *in, size_t n, char *out);

/* Bytes a valid base64url text of len characters decodes to. */
static inline size_t b64url_decoded_len(size_t len)
{
	return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}

/*
 * Decode exactly: only the URL-safe alphabet, no padding, no whitespace,
 * a length that is not 1 modulo 4, and zero bits left over in the last
 * character (one canonical text per value). out holds max bytes.
 * 0 and *ret_len, -EINVAL for bad text, -E2BIG when it does not fit.
 */
int b64url_decode(const char *in, size_t len, uint8_t *out, size_t max, size_t *ret_len);
