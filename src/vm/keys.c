/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/keys.h"

#include <errno.h>
#include <stdio.h>

#include "host/secrets.h"
#include "vm/def.h"

int vm_key_label(enum vm_key_purpose p, const char *disk, char *out, size_t max,
		 struct err *e)
{
	int n;

	switch (p) {
	case VM_KEY_VTPM:
		n = snprintf(out, max, "shieldvm vtpm v1");
		break;
	case VM_KEY_VARS:
		n = snprintf(out, max, "shieldvm vars v1");
		break;
	case VM_KEY_SAVED_STATE:
		n = snprintf(out, max, "shieldvm saved-state v1");
		break;
	case VM_KEY_DISK:
		if (!disk || !vm_disk_name_valid(disk))
			return err_set(e, EINVAL,
				       "disk key: bad disk name '%s'",
				       disk ? disk : "(none)");
		n = snprintf(out, max, "shieldvm disk v1 %s", disk);
		break;
	default:
		return err_set(e, EINVAL, "unknown key purpose %d", (int)p);
	}
	if (n < 0 || (size_t)n >= max)
		return err_set(e, ENAMETOOLONG, "key label too long");
	return 0;
}

int vm_key_derive(const uint8_t root[VM_KEY_SIZE], enum vm_key_purpose p,
		  const char *disk, uint8_t out[VM_KEY_SIZE], struct err *e)
{
	char label[VM_KEY_LABEL_MAX];
	int r;

	r = vm_key_label(p, disk, label, sizeof(label), e);
	if (r < 0)
		return r;
	return host_hkdf_sha256(root, VM_KEY_SIZE, label, out, VM_KEY_SIZE, e);
}
