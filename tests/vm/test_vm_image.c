/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images to import (src/vm/image.c): raw and qcow2 are recognised, with
 * their virtual size and SHA-256; everything that is not a standalone
 * unencrypted raw or qcow2 image is refused with its reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "common/util.h"
#include "vm/image.h"

static char dir[] = "/tmp/test-vm-image.XXXXXX";

/* a file of len bytes: head (hlen bytes) then zeros; its path */
static const char *mkimg(const char *name, const void *head, size_t hlen,
			 size_t len)
{
	static char path[256];
	FILE *f;
	uint8_t *buf = calloc(1, len ? len : 1);

	assert_non_null(buf);
	memcpy(buf, head, hlen < len ? hlen : len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	return path;
}

static int probe(const char *path, struct vm_image *im, struct err *e)
{
	int fd = vm_image_open(path, e), r;

	if (fd < 0)
		return fd;
	r = vm_image_probe(fd, path, im, e);
	close(fd);
	return r;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* a qcow2 header: version, virtual size */
static void qcow2(uint8_t h[512], uint32_t version, uint64_t size)
{
	memset(h, 0, 512);
	memcpy(h, "QFI\xfb", 4);
	put_be32(h + 4, version);
	put_be32(h + 20, 16); /* cluster_bits */
	put_be64(h + 24, size);
	if (version == 3)
		put_be32(h + 100, 104); /* header_length */
}

static void expect_refused(const char *path, const char *msg)
{
	struct vm_image im;
	struct err e = { 0 };
	int r = probe(path, &im, &e);

	if (r != -EMEDIUMTYPE || !strstr(e.msg, msg))
		fail_msg("%s: %d '%s', expected -EMEDIUMTYPE '%s'", path, r,
			 e.msg, msg);
}

static void test_raw(void **state)
{
	uint8_t *zeros = calloc(1, 3 << 20), dg[32];
	char hex[65];
	struct vm_image im;
	struct err e = { 0 };
	const char *p;

	(void)state;
	assert_non_null(zeros);
	p = mkimg("raw.img", "", 0, (3 << 20) - 512);
	assert_int_equal(probe(p, &im, &e), 0);
	assert_int_equal(im.format, VM_IMAGE_RAW);
	assert_int_equal(im.virtual_size, (3 << 20) - 512);
	assert_int_equal(im.file_size, (3 << 20) - 512);
	assert_int_equal(vm_image_size_mb(&im), 3); /* rounded up */
	assert_string_equal(vm_image_format_to_string(im.format), "raw");
	assert_int_equal(EVP_Digest(zeros, (3 << 20) - 512, dg, NULL,
				    EVP_sha256(), NULL),
			 1);
	hex_encode(dg, sizeof(dg), hex);
	assert_string_equal(im.sha256, hex); /* the whole file, over chunks */
	free(zeros);
}

static void test_qcow2(void **state)
{
	uint8_t h[512];
	struct vm_image im;
	struct err e = { 0 };
	const char *p;

	(void)state;
	qcow2(h, 3, 10 << 20);
	p = mkimg("v3.qcow2", h, sizeof(h), 196608); /* not a 512 multiple */
	assert_int_equal(probe(p, &im, &e), 0);
	assert_int_equal(im.format, VM_IMAGE_QCOW2);
	assert_int_equal(im.virtual_size, 10 << 20);
	assert_int_equal(im.file_size, 196608);
	assert_int_equal(vm_image_size_mb(&im), 10);
	qcow2(h, 2, (1 << 20) + 1);
	p = mkimg("v2.qcow2", h, sizeof(h), 4096);
	assert_int_equal(probe(p, &im, &e), 0);
	assert_int_equal(vm_image_size_mb(&im), 2);
}

static void test_refused(void **state)
{
	uint8_t h[512];
	struct vm_image im;
	struct err e = { 0 };

	(void)state;
	expect_refused(mkimg("empty.img", "", 0, 0), "not a disk image");
	expect_refused(mkimg("odd.img", "hello", 5, 1000),
		       "1000 bytes is not a non-zero multiple of 512");
	qcow2(h, 3, 1 << 20);
	put_be64(h + 8, 512); /* backing_file_offset */
	expect_refused(mkimg("backing.qcow2", h, sizeof(h), 4096),
		       "with a backing file");
	qcow2(h, 3, 1 << 20);
	put_be32(h + 32, 2); /* crypt_method luks */
	expect_refused(mkimg("enc.qcow2", h, sizeof(h), 4096),
		       "an encrypted qcow2 image");
	qcow2(h, 3, 1 << 20);
	put_be64(h + 72, 1 << 2); /* external data file */
	expect_refused(mkimg("data.qcow2", h, sizeof(h), 4096),
		       "external data file");
	qcow2(h, 3, 1 << 20);
	put_be64(h + 72, 1 << 1);
	expect_refused(mkimg("corrupt.qcow2", h, sizeof(h), 4096),
		       "marked corrupt");
	qcow2(h, 4, 1 << 20);
	expect_refused(mkimg("v4.qcow2", h, sizeof(h), 4096),
		       "qcow2 version 4");
	qcow2(h, 3, 1 << 20);
	expect_refused(mkimg("short.qcow2", h, 50, 50), "truncated qcow2");
	qcow2(h, 3, 0);
	expect_refused(mkimg("zero.qcow2", h, sizeof(h), 4096),
		       "virtual size 0 bytes");
	qcow2(h, 3, UINT64_MAX);
	expect_refused(mkimg("huge.qcow2", h, sizeof(h), 4096),
		       "virtual size");
	expect_refused(mkimg("luks.img", "LUKS\xba\xbe\0\2", 8, 4096),
		       "a LUKS image");
	expect_refused(mkimg("a.vmdk", "KDMV", 4, 4096), "a VMDK image");
	memset(h, 0, sizeof(h));
	memcpy(h + 0x40, "\x7f\x10\xda\xbe", 4);
	expect_refused(mkimg("a.vdi", h, sizeof(h), 4096), "a VDI image");
	expect_refused(mkimg("a.vhdx", "vhdxfile", 8, 4096), "a VHDX image");

	/* open: missing, not a regular file */
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/nothing.img", dir);
		assert_int_equal(probe(p, &im, &e), -ENOENT);
		assert_non_null(strstr(e.msg, "nothing.img is missing"));
		e = (struct err){ 0 };
		assert_int_equal(probe(dir, &im, &e), -EMEDIUMTYPE);
		assert_non_null(strstr(e.msg, "not a regular file"));
	}
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_qcow2),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
