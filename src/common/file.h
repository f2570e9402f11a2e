/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Read a whole regular file (or "-" for stdin) of at most max bytes.
 * *ret is malloc'ed and NUL-terminated (not counted in *ret_len). */
int file_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len,
	      struct err *e);
/* The same for an open fd the caller has already checked, from its current
 * offset to EOF; label names it in messages. */
int file_read_fd(int fd, const char *label, size_t max, uint8_t **ret,
		 size_t *ret_len, struct err *e);
/* Write atomically-enough for tools: create with mode, write all, fsync. */
int file_write(const char *path, const void *buf, size_t len, int mode,
	       struct err *e);
