/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: private guardian files from untrusted bytes.
 * guardian_from_private_json on the input; what it accepts must write
 * back (guardian_to_private_json) to a file it accepts again, and sign
 * metadata that guardian_from_metadata accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kp/guardian.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guardian *g = NULL, *again = NULL, *pub = NULL;
	struct err e = { { 0 } };
	char *text = NULL, *meta = NULL;

	if (guardian_from_private_json((const char *)data, size, &g, &e) < 0)
		return 0;
	if (guardian_to_private_json(g, &text, &e) < 0 ||
	    guardian_from_private_json(text, strlen(text), &again, &e) < 0 ||
	    strcmp(again->id, g->id) != 0)
		abort();
	if (guardian_metadata(g, &meta, &e) < 0 ||
	    guardian_from_metadata(meta, strlen(meta), &pub, &e) < 0 ||
	    strcmp(pub->id, g->id) != 0)
		abort();
	explicit_bzero(text, strlen(text));
	free(text);
	free(meta);
	guardian_free(g);
	guardian_free(again);
	guardian_free(pub);
	return 0;
}
