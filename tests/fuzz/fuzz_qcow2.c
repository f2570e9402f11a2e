/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: the qcow2 header check of qcow2-luks disks
 * (src/vm/qcow2.c) on untrusted bytes, what an admin who can write a VM
 * directory puts at the start of disks/NAME.qcow2. Seeds in corpus/qcow2/:
 * the first 4 KiB of images made by qemu-img (LUKS v3 as the launcher makes
 * them, LUKS v2 compat 0.10, unencrypted, a LUKS overlay with a backing
 * file) and a raw file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vm/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_qcow2_info i;
	struct err e = { 0 };

	if (size > VM_QCOW2_HEAD_MAX)
		size = VM_QCOW2_HEAD_MAX;
	if (vm_qcow2_check(data, size, &i, &e) == 0) {
		/* what an accepted header guarantees */
		if (i.crypt_method != VM_QCOW2_CRYPT_LUKS ||
		    (i.version != 2 && i.version != 3) || i.luks_offset == 0 ||
		    i.luks_length == 0)
			abort();
	} else if (!e.msg[0]) {
		abort(); /* every refusal says why */
	}
	return 0;
}
