/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qcow2 header of a disk the definition says is "qcow2-luks", checked
 * before QEMU starts (docs/vm.md, "Refusals"). A disk replaced by an
 * unencrypted qcow2 or a raw file must be refused by us with a clear
 * reason, not depend on an error of QEMU's; and a qcow2 with a backing
 * file or an external data file would make QEMU open another file, one the
 * admin chose. The bytes are untrusted (the admin can write the VM
 * directory): every offset and length is checked against the buffer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* What we read of a disk: the header and its extensions (QEMU requires
 * them in the first cluster; we accept them in the first 64 KiB). */
#define VM_QCOW2_HEAD_MAX (64 * 1024)
#define VM_QCOW2_CRYPT_LUKS 2
#define VM_QCOW2_EXT_LUKS 0x0537be77u

#define VM_QCOW2_INCOMPAT_DIRTY (1u << 0)
#define VM_QCOW2_INCOMPAT_CORRUPT (1u << 1)
#define VM_QCOW2_INCOMPAT_DATA_FILE (1u << 2)

struct vm_qcow2_info {
	uint32_t version;      /* 2 or 3 */
	uint32_t cluster_bits; /* 9..21 */
	uint32_t crypt_method; /* 0 none, 1 AES (refused), 2 LUKS */
	uint64_t size;	       /* virtual size, bytes */
	bool backing;	       /* names a backing file */
	uint64_t incompat;     /* incompatible feature bits (v3) */
	bool has_luks;	       /* the LUKS header extension */
	uint64_t luks_offset;  /* the LUKS header in the file (extension) */
	uint64_t luks_length;
};

/* The structure of the first len bytes of a qcow2 file, no policy: magic
 * (-EMEDIUMTYPE "not a qcow2 image"), a whole header of version 2 or 3,
 * cluster_bits in range, a valid v3 header length, the header extensions
 * inside the first cluster (the LUKS one read). Else -EINVAL with e set.
 * The one parser of qcow2 headers: the LUKS disk check below and the
 * import probe (vm/image.h) judge what it found. */
int vm_qcow2_parse(const uint8_t *buf, size_t len, struct vm_qcow2_info *out,
		   struct err *e);

/* Parse the first len bytes of a qcow2 file and check that it is a qcow2
 * image QEMU opens with its own LUKS encryption and nothing else: magic,
 * version 2 or 3, crypt_method 2 with the LUKS header extension, no backing
 * file, no external data file or unknown incompatible feature. 0, or
 * -EINVAL / -EKEYREJECTED (not encrypted with LUKS) with e set. */
int vm_qcow2_check(const uint8_t *buf, size_t len, struct vm_qcow2_info *out,
		   struct err *e);

/* The same for the file at path; also reads the LUKS header's magic where
 * the extension says it is. Messages name the disk `name`. */
int vm_qcow2_check_file(const char *path, const char *name, struct err *e);
