/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-purpose keys of a VM: HKDF-SHA256(ikm = the VM root key from the
 * secrets file, salt = empty, info = label, 32 bytes), one label each:
 *   "shieldvm vtpm v1"            swtpm state (--key, aes-256-cbc)
 *   "shieldvm vars v1"            vars.enc (AES-256-GCM)
 *   "shieldvm disk v1 " + NAME    a disk's LUKS passphrase (as hex)
 *   "shieldvm saved-state v1"     saved state / migration streams
 * Keys are secrets: the caller keeps them in locked memory and wipes them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "vm/limits.h"

#define VM_KEY_SIZE 32
#define VM_KEY_LABEL_MAX 64

enum vm_key_purpose {
	VM_KEY_VTPM,
	VM_KEY_VARS,
	VM_KEY_DISK, /* with a disk name */
	VM_KEY_SAVED_STATE,
};

/* The HKDF info of a purpose (disk: with its name). -EINVAL for a disk
 * without a valid name. */
int vm_key_label(enum vm_key_purpose p, const char *disk, char *out, size_t max,
		 struct err *e);

int vm_key_derive(const uint8_t root[VM_KEY_SIZE], enum vm_key_purpose p,
		  const char *disk, uint8_t out[VM_KEY_SIZE], struct err *e);
