/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounds-checked reader over untrusted bytes. Every read either succeeds
 * completely or fails with -EBADMSG and leaves the cursor where it was.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cursor {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

static inline struct cursor cursor_init(const void *buf, size_t len)
{
	return (struct cursor){ .buf = buf, .len = len, .off = 0 };
}

static inline size_t cursor_left(const struct cursor *c)
{
	return c->len - c->off;
}

static inline bool cursor_eof(const struct cursor *c)
{
	return c->off >= c->len;
}

static inline int cursor_bytes(struct cursor *c, size_t n, const uint8_t **ret)
{
	if (n > cursor_left(c))
		return -EBADMSG;
	if (ret)
		*ret = c->buf + c->off;
	c->off += n;
	return 0;
}

static inline int cursor_skip(struct cursor *c, size_t n)
{
	return cursor_bytes(c, n, NULL);
}

static inline int cursor_copy(struct cursor *c, void *dst, size_t n)
{
	const uint8_t *p;
	int r = cursor_bytes(c, n, &p);

	if (r == 0 && n)
		__builtin_memcpy(dst, p, n);
	return r;
}

static inline int cursor_u8(struct cursor *c, uint8_t *ret)
{
	const uint8_t *p;
	int r = cursor_bytes(c, 1, &p);

	if (r == 0)
		*ret = p[0];
	return r;
}

static inline int cursor_u16le(struct cursor *c, uint16_t *ret)
{
	const uint8_t *p;
	int r = cursor_bytes(c, 2, &p);

	if (r == 0)
		*ret = (uint16_t)(p[0] | (p[1] << 8));
	return r;
}

static inline int cursor_u32le(struct cursor *c, uint32_t *ret)
{
	const uint8_t *p;
	int r = cursor_bytes(c, 4, &p);

	if (r == 0)
		*ret = (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
		       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
	return r;
}

static inline int cursor_u64le(struct cursor *c, uint64_t *ret)
{
	uint32_t lo, hi;
	size_t start = c->off;

	if (cursor_u32le(c, &lo) < 0 || cursor_u32le(c, &hi) < 0) {
		c->off = start;
		return -EBADMSG;
	}
	*ret = ((uint64_t)hi << 32) | lo;
	return 0;
}

static inline int cursor_u16be(struct cursor *c, uint16_t *ret)
{
	const uint8_t *p;
	int r = cursor_bytes(c, 2, &p);

	if (r == 0)
		*ret = (uint16_t)((p[0] << 8) | p[1]);
	return r;
}

static inline int cursor_u32be(struct cursor *c, uint32_t *ret)
{
	const uint8_t *p;
	int r = cursor_bytes(c, 4, &p);

	if (r == 0)
		*ret = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
	return r;
}
