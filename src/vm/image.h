/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A disk image to import (`shieldvm vm new --disk NAME:import=PATH`,
 * docs/vm.md "Importing a disk image"): its format (raw or qcow2), virtual
 * size and SHA-256, read from one open file descriptor.
 *
 * The format is decided from the image's first bytes here, not by
 * qemu-img's probing: a qcow2 image (magic "QFI\xfb", version 2 or 3) with
 * no backing file, no external data file and no encryption; any other
 * known image format (LUKS, VMDK, VDI, VHDX, QED, ...) is refused; anything
 * else is a raw image whose size must be a non-zero multiple of 512 bytes.
 * The converting `qemu-img convert` is then told the format (-f), so what
 * it reads is what was hashed.
 */
#pragma once

#include <stdint.h>

#include "common/err.h"

enum vm_image_format {
	VM_IMAGE_RAW,
	VM_IMAGE_QCOW2,
};

struct vm_image {
	enum vm_image_format format;
	uint64_t virtual_size; /* bytes the guest sees */
	uint64_t file_size;
	char sha256[65]; /* of the whole file, lower-case hex */
};

/* Open PATH read-only (close-on-exec; a regular file). -ENOENT with
 * "... is missing" when it does not exist. */
int vm_image_open(const char *path, struct err *e);

/* Probe and hash the image open on fd (read with pread; the offset is not
 * used). -EMEDIUMTYPE: not a disk image we import, with the reason. */
int vm_image_probe(int fd, const char *path, struct vm_image *ret,
		   struct err *e);

const char *vm_image_format_to_string(enum vm_image_format f);

/* size_mb of an imported disk: the virtual size in MiB, rounded up. */
uint64_t vm_image_size_mb(const struct vm_image *im);
