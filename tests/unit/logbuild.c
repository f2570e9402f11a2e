/* SPDX-License-Identifier: Apache-2.0 */
#include "logbuild.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static void put(struct logbuild *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 256;
		b->buf = realloc(b->buf, b->cap);
		if (!b->buf)
			abort();
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void put32(struct logbuild *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	put(b, x, 4);
}

static void put16(struct logbuild *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put(b, x, 2);
}

static void put64(struct logbuild *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

void lb_init(struct logbuild *b)
{
	static const uint8_t zero[20];
	static const char sig[16] = "Spec ID Event03";

	memset(b, 0, sizeof(*b));
	put32(b, 0);
	put32(b, 3); /* EV_NO_ACTION */
	put(b, zero, 20);
	put32(b, 16 + 4 + 4 + 4 + 4 + 1);
	put(b, sig, 16);
	put32(b, 0);            /* platform class */
	put(b, "\0\2\0\2", 4);  /* minor, major, errata, uintn size */
	put32(b, 1);            /* one algorithm */
	put16(b, 0x000B);
	put16(b, 32);
	put(b, "", 1); /* vendor info size 0 */
}

void lb_event_digest(struct logbuild *b, uint32_t pcr, uint32_t type,
		     const uint8_t digest[32], const void *data, size_t len)
{
	put32(b, pcr);
	put32(b, type);
	put32(b, 1);
	put16(b, 0x000B);
	put(b, digest, 32);
	put32(b, (uint32_t)len);
	put(b, data, len);
}

void lb_event(struct logbuild *b, uint32_t pcr, uint32_t type, const void *data, size_t len)
{
	uint8_t d[32];
	unsigned int n;

	EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
	lb_event_digest(b, pcr, type, d, data, len);
}

void lb_variable(struct logbuild *b, uint32_t pcr, uint32_t type, const uint8_t guid[16],
		 const char *name, const void *data, size_t len)
{
	struct logbuild v = { 0 };
	size_t nl = strlen(name);

	put(&v, guid, 16);
	put64(&v, nl);
	put64(&v, len);
	for (size_t i = 0; i < nl; i++)
		put16(&v, (uint16_t)name[i]);
	put(&v, data, len);
	lb_event(b, pcr, type, v.buf, v.len);
	free(v.buf);
}

void lb_free(struct logbuild *b)
{
	free(b->buf);
	b->buf = NULL;
}
