/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Read a whole regular file (or "-" for stdin) of at most max bytes.
 * *ret is malloc'ed and NUL-terminated (not counted in *ret_len). */
int file_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len,
	      struct err *e);
/* Write atomically-enough for tools: create with mode, write all, fsync. */
int file_write(const char *path, const void *buf, size_t len, int mode,
	       struct err *e);
