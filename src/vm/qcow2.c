/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/qcow2.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* The qcow2 header (QEMU's docs/interop/qcow2.txt), big-endian. */
#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HEADER 72
#define QCOW2_V3_HEADER 104
#define OFF_VERSION 4
#define OFF_BACKING_OFFSET 8
#define OFF_BACKING_SIZE 16
#define OFF_CLUSTER_BITS 20
#define OFF_SIZE 24
#define OFF_CRYPT 32
#define OFF_INCOMPAT 72
#define OFF_HEADER_LENGTH 100
#define CLUSTER_BITS_MIN 9
#define CLUSTER_BITS_MAX 21
/* incompatible features QEMU may set on an image of ours: dirty, corrupt,
 * compression type, extended L2. Bit 2 is an external data file. */
#define INCOMPAT_OK                                           \
	(VM_QCOW2_INCOMPAT_DIRTY | VM_QCOW2_INCOMPAT_CORRUPT | \
	 (1u << 3) | (1u << 4))
#define INCOMPAT_DATA_FILE VM_QCOW2_INCOMPAT_DATA_FILE
#define EXT_END 0u
#define EXT_MAX 64 /* header extensions we walk */

static const uint8_t luks_magic[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int vm_qcow2_parse(const uint8_t *buf, size_t len, struct vm_qcow2_info *out,
		   struct err *e)
{
	struct vm_qcow2_info i = { 0 };
	uint32_t hdr_len;
	size_t off, end;

	if (len < 4 || be32(buf) != QCOW2_MAGIC)
		return err_set(e, EMEDIUMTYPE, "not a qcow2 image");
	if (len < QCOW2_V2_HEADER)
		return err_set(e, EINVAL, "a truncated qcow2 header");
	i.version = be32(buf + OFF_VERSION);
	if (i.version != 2 && i.version != 3)
		return err_set(e, EINVAL, "qcow2 version %u is not 2 or 3",
			       i.version);
	i.cluster_bits = be32(buf + OFF_CLUSTER_BITS);
	if (i.cluster_bits < CLUSTER_BITS_MIN ||
	    i.cluster_bits > CLUSTER_BITS_MAX)
		return err_set(e, EINVAL, "qcow2 cluster_bits %u out of range",
			       i.cluster_bits);
	i.size = be64(buf + OFF_SIZE);
	i.crypt_method = be32(buf + OFF_CRYPT);
	i.backing = be64(buf + OFF_BACKING_OFFSET) != 0 ||
		    be32(buf + OFF_BACKING_SIZE) != 0;
	if (i.version == 2) {
		hdr_len = QCOW2_V2_HEADER;
	} else {
		if (len < QCOW2_V3_HEADER)
			return err_set(e, EINVAL, "a truncated qcow2 header");
		i.incompat = be64(buf + OFF_INCOMPAT);
		hdr_len = be32(buf + OFF_HEADER_LENGTH);
		if (hdr_len < QCOW2_V3_HEADER || hdr_len % 8 != 0)
			return err_set(e, EINVAL,
				       "qcow2 header_length %u invalid",
				       hdr_len);
	}
	/* header extensions, in the first cluster */
	end = len;
	if (((size_t)1 << i.cluster_bits) < end)
		end = (size_t)1 << i.cluster_bits;
	off = hdr_len;
	for (int n = 0;; n++) {
		uint32_t type, elen;

		if (n >= EXT_MAX)
			return err_set(e, EINVAL,
				       "more than %d qcow2 header extensions",
				       EXT_MAX);
		if (off > end || end - off < 8)
			return err_set(e, EINVAL,
				       "qcow2 header extensions run past the "
				       "first cluster");
		type = be32(buf + off);
		elen = be32(buf + off + 4);
		off += 8;
		if (type == EXT_END)
			break;
		if (elen > end - off)
			return err_set(e, EINVAL,
				       "qcow2 header extension 0x%08x of %u "
				       "bytes runs past the first cluster",
				       type, elen);
		if (type == VM_QCOW2_EXT_LUKS) {
			if (i.has_luks || elen < 16)
				return err_set(e, EINVAL,
					       "qcow2 LUKS header extension "
					       "invalid");
			i.luks_offset = be64(buf + off);
			i.luks_length = be64(buf + off + 8);
			i.has_luks = true;
		}
		/* data padded to 8 bytes */
		off += ((size_t)elen + 7) & ~(size_t)7;
	}
	*out = i;
	return 0;
}

int vm_qcow2_check(const uint8_t *buf, size_t len, struct vm_qcow2_info *out,
		   struct err *e)
{
	struct vm_qcow2_info i;
	int r = vm_qcow2_parse(buf, len, &i, e);

	if (r == -EMEDIUMTYPE || (r < 0 && len < QCOW2_V2_HEADER)) {
		if (e)
			e->msg[0] = '\0';
		return err_set(e, EKEYREJECTED,
			       "not a qcow2 image (a raw or unencrypted file): "
			       "refused");
	}
	if (r < 0)
		return r;
	if (i.crypt_method == 0)
		return err_set(e, EKEYREJECTED,
			       "a qcow2 image without encryption (crypt_method "
			       "0), the definition says qcow2-luks: refused");
	if (i.crypt_method != VM_QCOW2_CRYPT_LUKS)
		return err_set(e, EKEYREJECTED,
			       "qcow2 crypt_method %u is not LUKS (2): refused",
			       i.crypt_method);
	if (i.backing)
		return err_set(e, EKEYREJECTED,
			       "the qcow2 image names a backing file (QEMU "
			       "would open another file): refused");
	if (i.incompat & INCOMPAT_DATA_FILE)
		return err_set(e, EKEYREJECTED,
			       "the qcow2 image has an external data file "
			       "(QEMU would open another file): refused");
	if (i.incompat & ~(uint64_t)INCOMPAT_OK)
		return err_set(e, EINVAL,
			       "qcow2 incompatible features 0x%llx unknown",
			       (unsigned long long)i.incompat);
	if (!i.has_luks || i.luks_offset == 0 || i.luks_length == 0 ||
	    i.luks_offset % ((uint64_t)1 << i.cluster_bits) != 0)
		return err_set(e, EKEYREJECTED,
			       "the qcow2 image says LUKS but has no valid LUKS "
			       "header extension: refused");
	if (out)
		*out = i;
	return 0;
}

static int read_at(int fd, uint8_t *buf, size_t max, off_t at, size_t *got)
{
	size_t n = 0;

	while (n < max) {
		ssize_t r = pread(fd, buf + n, max - n, at + (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

int vm_qcow2_check_file(const char *path, const char *name, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct vm_qcow2_info i;
	uint8_t magic[sizeof(luks_magic) + 2];
	struct stat st;
	size_t got;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno, "disk %s: %s: %s", name, path,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return err_set(e, EKEYREJECTED,
			       "disk %s: %s is not a regular file: refused",
			       name, path);
	buf = malloc(VM_QCOW2_HEAD_MAX);
	if (!buf)
		return err_set(e, ENOMEM, "out of memory");
	r = read_at(fd, buf, VM_QCOW2_HEAD_MAX, 0, &got);
	if (r < 0)
		return err_set(e, -r, "disk %s: %s: %s", name, path,
			       strerror(-r));
	r = vm_qcow2_check(buf, got, &i, e);
	if (r == 0) {
		if ((uint64_t)st.st_size < i.luks_offset ||
		    (uint64_t)st.st_size - i.luks_offset < sizeof(magic))
			r = err_set(e, EKEYREJECTED,
				    "the LUKS header is past the end of the "
				    "file: refused");
		else if ((r = read_at(fd, magic, sizeof(magic),
				      (off_t)i.luks_offset, &got)) < 0)
			r = err_set(e, -r, "%s", strerror(-r));
		else if (got != sizeof(magic) ||
			 memcmp(magic, luks_magic, sizeof(luks_magic)) != 0 ||
			 magic[6] != 0 || magic[7] != 1)
			r = err_set(e, EKEYREJECTED,
				    "no LUKS version 1 header where the qcow2 "
				    "image says: refused");
	}
	if (r < 0)
		err_prefix(e, "disk %s (%s)", name, path);
	return r;
}
