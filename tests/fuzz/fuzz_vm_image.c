/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: disk images to import (src/vm/image.c) from untrusted
 * bytes, through a memfd as `vm new` and `run` read a file.
 *
 *  - vm_image_probe on the input;
 *  - when it accepts it: a virtual size of 1 byte..the disk limit, a raw
 *    image a non-zero multiple of 512 bytes, the file size the input's;
 *    otherwise abort.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm/image.h"
#include "vm/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	struct vm_image im;
	struct err e = { 0 };
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	if (vm_image_probe(fd, "fuzz", &im, &e) == 0) {
		if (im.file_size != size || im.virtual_size == 0 ||
		    vm_image_size_mb(&im) > VM_DISK_SIZE_MAX_MB ||
		    (im.format == VM_IMAGE_RAW &&
		     (im.virtual_size != size || size % 512 != 0)))
			abort();
	}
	close(fd);
	return 0;
}
