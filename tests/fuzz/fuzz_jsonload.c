/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: hgsd's request-body loader (src/hgsd/jsonload.c)
 * against json_loadb(JSON_REJECT_DUPLICATES) on the same bytes. Any
 * disagreement (accepted by one only, different trees, different errors)
 * aborts.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hgsd/jsonload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DEPTH 16u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	json_error_t e1, e2;
	json_t *a = NULL, *b;
	int r = jsonload_body(buf, size, FUZZ_DEPTH, &a, &e1);

	if (jsonload_depth(buf, size) > FUZZ_DEPTH) {
		if (r != -E2BIG)
			abort();
		return 0;
	}
	b = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &e2);
	if (!b) {
		if (r == 0 || strcmp(e1.text, e2.text) || e1.line != e2.line ||
		    e1.column != e2.column || e1.position != e2.position)
			abort();
		return 0;
	}
	if (r != 0 || !json_equal(a, b))
		abort();
	json_decref(a);
	json_decref(b);
	return 0;
}
