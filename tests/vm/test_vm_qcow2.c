/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qcow2-luks disk check (src/vm/qcow2.c): a header as qemu-img makes it
 * is accepted; every refusal, each with its message; the file-level check
 * (LUKS magic where the extension points, not a regular file); the headers
 * of images made by qemu-img (tests/fuzz/corpus/qcow2/, given as argv[1]).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/qcow2.h"

#define CLUSTER 65536
#define LUKS_OFF 0x40000 /* cluster-aligned, as qemu-img puts it */

static uint8_t img[CLUSTER];

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* A v3 header like qemu-img's: 64 KiB clusters, LUKS, the LUKS header
 * extension, a feature-name table, the end marker. */
static void make_v3(void)
{
	memset(img, 0, sizeof(img));
	put32(img, 0x514649fb);
	put32(img + 4, 3);
	put32(img + 20, 16);
	put64(img + 24, 16 << 20);
	put32(img + 32, 2);
	put32(img + 96, 4);    /* refcount_order */
	put32(img + 100, 112); /* header_length */
	put32(img + 112, 0x0537be77);
	put32(img + 116, 16);
	put64(img + 120, LUKS_OFF);
	put64(img + 128, 0x1f9000);
	put32(img + 136, 0x6803f857); /* feature names, 2 entries */
	put32(img + 140, 96);
	memcpy(img + 144 + 2, "dirty bit", 9);
	/* end marker at 144 + 96 = 240 (already zero) */
}

static void expect(int code, const char *phrase)
{
	struct err e = { 0 };
	struct vm_qcow2_info i;
	int r = vm_qcow2_check(img, sizeof(img), &i, &e);

	if (r != -code || !strstr(e.msg, phrase))
		fail_msg("expected -%d '%s', got %d '%s'", code, phrase, r,
			 e.msg);
}

static void test_valid(void **state)
{
	struct vm_qcow2_info i;
	struct err e = { 0 };

	(void)state;
	make_v3();
	assert_int_equal(vm_qcow2_check(img, sizeof(img), &i, &e), 0);
	assert_int_equal(i.version, 3);
	assert_int_equal(i.crypt_method, 2);
	assert_int_equal(i.size, 16 << 20);
	assert_int_equal(i.luks_offset, LUKS_OFF);
	/* v2 (compat 0.10): extensions right after the 72-byte header */
	memset(img, 0, sizeof(img));
	put32(img, 0x514649fb);
	put32(img + 4, 2);
	put32(img + 20, 16);
	put32(img + 32, 2);
	put32(img + 72, 0x0537be77);
	put32(img + 76, 16);
	put64(img + 80, LUKS_OFF);
	put64(img + 88, 4096);
	assert_int_equal(vm_qcow2_check(img, sizeof(img), &i, &e), 0);
	assert_int_equal(i.version, 2);
	/* dirty and extended-L2 bits are fine */
	make_v3();
	put64(img + 72, 1 | 16);
	assert_int_equal(vm_qcow2_check(img, sizeof(img), &i, &e), 0);
}

static void test_refused(void **state)
{
	struct err e = { 0 };

	(void)state;
	make_v3();
	assert_int_equal(vm_qcow2_check(img, 71, NULL, &e), -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "not a qcow2 image"));

	make_v3();
	img[0] = 0;
	expect(EKEYREJECTED, "not a qcow2 image");
	make_v3();
	put32(img + 4, 4);
	expect(EINVAL, "qcow2 version 4 is not 2 or 3");
	make_v3();
	put32(img + 20, 8);
	expect(EINVAL, "cluster_bits 8 out of range");
	make_v3();
	put32(img + 20, 22);
	expect(EINVAL, "cluster_bits 22 out of range");
	make_v3();
	put32(img + 32, 0);
	expect(EKEYREJECTED, "without encryption (crypt_method 0)");
	make_v3();
	put32(img + 32, 1);
	expect(EKEYREJECTED, "crypt_method 1 is not LUKS");
	make_v3();
	put64(img + 8, 512);
	put32(img + 16, 10);
	expect(EKEYREJECTED, "backing file");
	make_v3();
	put32(img + 16, 1);
	expect(EKEYREJECTED, "backing file");
	make_v3();
	put32(img + 100, 100);
	expect(EINVAL, "header_length 100 invalid");
	make_v3();
	put32(img + 100, 113);
	expect(EINVAL, "header_length 113 invalid");
	make_v3();
	put64(img + 72, 4);
	expect(EKEYREJECTED, "external data file");
	make_v3();
	put64(img + 72, 1ull << 40);
	expect(EINVAL, "incompatible features 0x10000000000 unknown");
	/* extensions */
	make_v3();
	put32(img + 116, CLUSTER);
	expect(EINVAL, "runs past the first cluster");
	make_v3();
	put32(img + 116, 8);
	expect(EINVAL, "LUKS header extension invalid");
	make_v3();
	put32(img + 136, 0x0537be77); /* a second LUKS extension */
	put32(img + 140, 16);
	expect(EINVAL, "LUKS header extension invalid");
	make_v3();
	put32(img + 112, 0x12345678); /* no LUKS extension */
	expect(EKEYREJECTED, "no valid LUKS header extension");
	make_v3();
	put64(img + 120, 0);
	expect(EKEYREJECTED, "no valid LUKS header extension");
	make_v3();
	put64(img + 120, LUKS_OFF + 512);
	expect(EKEYREJECTED, "no valid LUKS header extension");
	make_v3();
	put64(img + 128, 0);
	expect(EKEYREJECTED, "no valid LUKS header extension");
	/* no end marker: extensions (of 0 bytes) to the end of the buffer */
	make_v3();
	for (size_t off = 112; off + 8 <= 112 + 8 * 70; off += 8) {
		put32(img + off, 0x1000 + (uint32_t)off);
		put32(img + off + 4, 0);
	}
	expect(EINVAL, "more than 64 qcow2 header extensions");
	/* the end marker cut off by the buffer's end */
	make_v3();
	assert_int_equal(vm_qcow2_check(img, 112 + 24 + 4, NULL, &e), -EINVAL);
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void test_file(void **state)
{
	char dir[] = "/tmp/test-vm-qcow2.XXXXXX", path[64];
	static const uint8_t luks[8] = { 'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 1 };
	uint8_t *big = calloc(1, LUKS_OFF + 4096);
	struct err e = { 0 };

	(void)state;
	assert_non_null(big);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/data.qcow2", dir);
	make_v3();
	memcpy(big, img, sizeof(img));
	memcpy(big + LUKS_OFF, luks, sizeof(luks));
	write_file(path, big, LUKS_OFF + 4096);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), 0);
	/* no LUKS magic where the extension points */
	big[LUKS_OFF] = 'X';
	write_file(path, big, LUKS_OFF + 4096);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "disk data ("));
	assert_non_null(strstr(e.msg, "no LUKS version 1 header"));
	/* LUKS version 2 (QEMU's driver opens version 1) */
	memset(&e, 0, sizeof(e));
	big[LUKS_OFF] = 'L';
	big[LUKS_OFF + 7] = 2;
	write_file(path, big, LUKS_OFF + 4096);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -EKEYREJECTED);
	/* the file ends before the LUKS header */
	memset(&e, 0, sizeof(e));
	write_file(path, big, LUKS_OFF + 4);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "past the end of the file"));
	/* a raw file */
	memset(&e, 0, sizeof(e));
	memset(big, 0, LUKS_OFF);
	write_file(path, big, 4096);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "disk data ("));
	assert_non_null(strstr(e.msg, "not a qcow2 image"));
	/* an empty file */
	memset(&e, 0, sizeof(e));
	write_file(path, big, 0);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -EKEYREJECTED);
	unlink(path);
	/* a directory, a missing file */
	memset(&e, 0, sizeof(e));
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "not a regular file"));
	rmdir(path);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_qcow2_check_file(path, "data", &e), -ENOENT);
	assert_non_null(strstr(e.msg, "disk data:"));
	rmdir(dir);
	free(big);
}

static const char *corpus;

/* the first 4 KiB of images qemu-img made */
static void test_qemu_img(void **state)
{
	static const struct {
		const char *file, *phrase; /* NULL: accepted */
	} cases[] = {
		{ "luks3", NULL },
		{ "luks2", NULL },
		{ "plain", "without encryption (crypt_method 0)" },
		{ "overlay", "backing file" },
		{ "raw", "not a qcow2 image" },
	};
	uint8_t buf[8192];

	(void)state;
	if (!corpus)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[4096];
		struct vm_qcow2_info info;
		struct err e = { 0 };
		FILE *f;
		size_t n;
		int r;

		snprintf(path, sizeof(path), "%s/%s", corpus, cases[i].file);
		f = fopen(path, "rb");
		if (!f)
			fail_msg("%s: cannot open", path);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		r = vm_qcow2_check(buf, n, &info, &e);
		if (!cases[i].phrase) {
			if (r != 0)
				fail_msg("%s: %s", cases[i].file, e.msg);
			assert_int_equal(info.crypt_method, 2);
			assert_int_equal(info.size, 16 << 20);
		} else if (r == 0 || !strstr(e.msg, cases[i].phrase)) {
			fail_msg("%s: %d '%s'", cases[i].file, r, e.msg);
		}
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_qemu_img),
	};

	corpus = argc > 1 ? argv[1] : NULL;

	return cmocka_run_group_tests(tests, NULL, NULL);
}
