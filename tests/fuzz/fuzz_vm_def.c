/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: VM definitions (vm.json) from untrusted bytes — the
 * file sits in a VM directory a host admin can edit.
 *
 *  - vm_def_parse on the input;
 *  - when it parses, vm_def_to_json must write it back, the text must
 *    parse again to the same security profile (digest) and the same
 *    imports; otherwise abort.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm/def.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_def *d = malloc(sizeof(*d)), *d2 = malloc(sizeof(*d2));
	uint8_t dg[32], dg2[32];
	struct err e = { 0 };
	json_t *j = NULL;
	char *text;

	if (!d || !d2)
		abort();
	if (vm_def_parse((const char *)data, size, d, &e) < 0)
		goto out;
	if (vm_def_to_json(d, &j, &e) < 0)
		abort();
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		abort();
	if (vm_def_parse(text, strlen(text), d2, &e) < 0)
		abort();
	free(text);
	if (vm_profile_digest(d, dg, &e) < 0 ||
	    vm_profile_digest(d2, dg2, &e) < 0 || memcmp(dg, dg2, 32) != 0)
		abort();
	if (d->n_disks != d2->n_disks)
		abort();
	for (size_t i = 0; i < d->n_disks; i++)
		if (strcmp(d->disks[i].import_path, d2->disks[i].import_path) ||
		    strcmp(d->disks[i].import_sha256,
			   d2->disks[i].import_sha256))
			abort();
out:
	free(d);
	free(d2);
	return 0;
}
