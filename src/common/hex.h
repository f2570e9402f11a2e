/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex of n bytes into out (needs 2n+1 bytes). Returns out. */
char *hex_encode(const uint8_t *in, size_t n, char *out);
/* Allocating variant; NULL on allocation failure. */
char *hex_encode_alloc(const uint8_t *in, size_t n);
/* Decode exactly: every character must be hex, even count, fits max.
 * Returns the byte count or a negative errno. */
int hex_decode(const char *in, uint8_t *out, size_t max);
