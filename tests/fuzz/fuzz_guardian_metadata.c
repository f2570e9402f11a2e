/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: signed guardian metadata from untrusted bytes (what
 * `kp new --guardian HGS.json` and GET /v1/guardian clients read).
 * guardian_from_metadata on the input; what it accepts must round-trip
 * through guardian_public_json / guardian_from_public_json.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kp/guardian.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guardian *g = NULL, *again = NULL;
	struct err e = { { 0 } };
	json_t *pub;

	if (guardian_from_metadata((const char *)data, size, &g, &e) < 0)
		return 0;
	if (g->has_private)
		abort();
	pub = guardian_public_json(g);
	if (!pub || guardian_from_public_json(pub, &again, &e) < 0 ||
	    strcmp(again->id, g->id) != 0)
		abort();
	json_decref(pub);
	guardian_free(again);
	guardian_free(g);
	return 0;
}
