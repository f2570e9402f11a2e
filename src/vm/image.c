/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "common/util.h"
#include "vm/limits.h"
#include "vm/qcow2.h"

#define QCOW2_MAGIC "QFI\xfb"
#define HASH_CHUNK (1024 * 1024)

const char *vm_image_format_to_string(enum vm_image_format f)
{
	return f == VM_IMAGE_QCOW2 ? "qcow2" : "raw";
}

uint64_t vm_image_size_mb(const struct vm_image *im)
{
	return (im->virtual_size >> 20) +
	       ((im->virtual_size & ((1ULL << 20) - 1)) != 0);
}

int vm_image_open(const char *path, struct err *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int r = errno;

		if (r == ENOENT)
			return err_set(e, ENOENT, "%s is missing", path);
		return err_set(e, r, "%s: %s", path, strerror(r));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, EMEDIUMTYPE,
			       "%s: not a regular file (import an image file)",
			       path);
	}
	return fd;
}

/* Other image formats, refused by name: importing them as raw would give
 * the guest their container bytes. */
static const struct {
	size_t off;
	const char *magic;
	size_t len;
	const char *name;
} other_formats[] = {
	{ 0, "LUKS\xba\xbe", 6, "LUKS" },
	{ 0, "KDMV", 4, "VMDK" },
	{ 0, "# Disk DescriptorFile", 21, "VMDK descriptor" },
	{ 0x40, "\x7f\x10\xda\xbe", 4, "VDI" },
	{ 0, "vhdxfile", 8, "VHDX" },
	{ 0, "conectix", 8, "VHD (dynamic)" },
	{ 0, "QED\0", 4, "QED" },
	{ 0, "QEVM", 4, "QEMU saved state" },
	{ 0, "WithoutFreeSpace", 16, "Parallels" },
	{ 0, "WithouFreSpacExt", 16, "Parallels" },
	{ 0, "Bochs Virtual HD Image", 22, "Bochs" },
	{ 0, "#!/bin/sh\n#V2.0 Format", 22, "cloop" },
};

static int probe_qcow2(const uint8_t *h, size_t n, const char *path,
		       struct vm_image *im, struct err *e)
{
	struct vm_qcow2_info q;
	int r = vm_qcow2_parse(h, n, &q, e);

	if (r < 0) {
		err_prefix(e, "%s: not a disk image we import", path);
		return -EMEDIUMTYPE;
	}
	if (q.backing)
		return err_set(e, EMEDIUMTYPE,
			       "%s: a qcow2 image with a backing file: "
			       "import a standalone image (`qemu-img "
			       "convert` it first)",
			       path);
	if (q.crypt_method != 0)
		return err_set(e, EMEDIUMTYPE,
			       "%s: an encrypted qcow2 image: import a "
			       "plain one (it is encrypted with the VM's "
			       "key on import)",
			       path);
	if (q.incompat & VM_QCOW2_INCOMPAT_DATA_FILE)
		return err_set(e, EMEDIUMTYPE,
			       "%s: a qcow2 image with an external "
			       "data file: import a standalone image",
			       path);
	if (q.incompat & VM_QCOW2_INCOMPAT_CORRUPT)
		return err_set(e, EMEDIUMTYPE,
			       "%s: a qcow2 image marked corrupt "
			       "(`qemu-img check -r all` it first)",
			       path);
	im->format = VM_IMAGE_QCOW2;
	im->virtual_size = q.size;
	return 0;
}

int vm_image_probe(int fd, const char *path, struct vm_image *ret,
		   struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL, *h = NULL;
	struct vm_image im = { 0 };
	uint8_t dg[32];
	struct stat st;
	EVP_MD_CTX *ctx;
	uint64_t off = 0;
	size_t n = 0;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, EMEDIUMTYPE, "%s: not a regular file", path);
	im.file_size = (uint64_t)st.st_size;
	/* the first 64 KiB: a qcow2 header with its extensions */
	h = malloc(VM_QCOW2_HEAD_MAX);
	if (!h)
		return err_set(e, ENOMEM, "out of memory");
	while (n < VM_QCOW2_HEAD_MAX) {
		ssize_t k = pread(fd, h + n, VM_QCOW2_HEAD_MAX - n, (off_t)n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_set(e, errno, "%s: %s", path,
				       strerror(errno));
		if (k == 0)
			break;
		n += (size_t)k;
	}
	for (size_t i = 0; i < ARRAY_SIZE(other_formats); i++)
		if (n >= other_formats[i].off + other_formats[i].len &&
		    memcmp(h + other_formats[i].off, other_formats[i].magic,
			   other_formats[i].len) == 0)
			return err_set(e, EMEDIUMTYPE,
				       "%s: a %s image: only raw and qcow2 "
				       "images can be imported",
				       path, other_formats[i].name);
	if (n >= 4 && memcmp(h, QCOW2_MAGIC, 4) == 0) {
		r = probe_qcow2(h, n, path, &im, e);
		if (r < 0)
			return r;
	} else {
		if (im.file_size == 0 || im.file_size % 512 != 0)
			return err_set(e, EMEDIUMTYPE,
				       "%s: not a disk image (not qcow2, and "
				       "%" PRIu64
				       " bytes is not a non-zero multiple of "
				       "512 for a raw one)",
				       path, im.file_size);
		im.format = VM_IMAGE_RAW;
		im.virtual_size = im.file_size;
	}
	if (im.virtual_size == 0 ||
	    vm_image_size_mb(&im) > VM_DISK_SIZE_MAX_MB)
		return err_set(e, EMEDIUMTYPE,
			       "%s: virtual size %" PRIu64
			       " bytes: must be 1 byte..%d MiB",
			       path, im.virtual_size, VM_DISK_SIZE_MAX_MB);

	buf = malloc(HASH_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		EVP_MD_CTX_free(ctx);
		return err_set(e, ENOMEM, "out of memory");
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		r = err_set(e, EIO, "SHA-256 failed");
	while (r == 0) {
		ssize_t k = pread(fd, buf, HASH_CHUNK, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = err_set(e, errno, "%s: %s", path, strerror(errno));
			break;
		}
		if (k == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)k) != 1)
			r = err_set(e, EIO, "SHA-256 failed");
		off += (uint64_t)k;
	}
	if (r == 0 && off != im.file_size)
		r = err_set(e, EAGAIN, "%s: changed size while it was read",
			    path);
	if (r == 0 && EVP_DigestFinal_ex(ctx, dg, NULL) != 1)
		r = err_set(e, EIO, "SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		return r;
	hex_encode(dg, sizeof(dg), im.sha256);
	*ret = im;
	return 0;
}
