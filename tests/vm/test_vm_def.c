/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM definition (src/vm/def.c): a valid one parses; every rejection
 * has its case; the security profile is canonical and its digest is the
 * SHA-256 of exactly the printed bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "vm/def.h"

#define FW "d50189a486d22af418198226a3a5bcb6ddac775590f6a808bd629474ee034d62"
#define UUID "12345678-1234-4234-8234-123456789abc"

static const char *const good =
	"{\"version\": 1, \"name\": \"web-1\", \"uuid\": \"" UUID "\","
	" \"memory_mb\": 512, \"vcpus\": 2,"
	" \"disks\": [{\"name\": \"root\", \"file\": \"disks/root.qcow2\","
	"  \"format\": \"qcow2-luks\", \"size_mb\": 1024}],"
	" \"network\": \"none\","
	" \"security\": {\"policy\": \"shielded\", \"firmware\": {\"code\": \"" FW
	"\"}, \"secure_boot\": true, \"vtpm\": \"tpm-crb\", \"console\": "
	"\"none\", \"lockdown\": \"qemu-7.2-v1\", \"devices\": "
	"[\"disk-luks\"]}}";

/* src with the first occurrence of `from` replaced by `to` (malloc'ed). */
static char *replace(const char *src, const char *from, const char *to)
{
	const char *p = strstr(src, from);
	size_t a, b, c;
	char *out;

	assert_non_null(p);
	a = (size_t)(p - src);
	b = strlen(to);
	c = strlen(p + strlen(from));
	out = malloc(a + b + c + 1);
	assert_non_null(out);
	memcpy(out, src, a);
	memcpy(out + a, to, b);
	memcpy(out + a + b, p + strlen(from), c + 1);
	return out;
}

static char *edit(const char *from, const char *to)
{
	return replace(good, from, to);
}

static void test_good(void **state)
{
	struct vm_def d;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(vm_def_parse(good, strlen(good), &d, &e), 0);
	assert_string_equal(d.name, "web-1");
	assert_string_equal(d.uuid, UUID);
	assert_int_equal(d.memory_mb, 512);
	assert_int_equal(d.vcpus, 2);
	assert_int_equal(d.n_disks, 1);
	assert_string_equal(d.disks[0].file, "disks/root.qcow2");
	assert_int_equal(d.disks[0].format, VM_DISK_QCOW2_LUKS);
	assert_int_equal(d.security.policy, KP_POLICY_SHIELDED);
	assert_true(d.security.secure_boot);
	assert_false(d.security.serial_console);
	assert_string_equal(d.firmware_path, VM_OVMF_CODE);
}

struct bad {
	const char *from, *to;
	int err;
	const char *msg; /* a substring of the message */
};

static const struct bad bads[] = {
	{ "{\"version\": 1,", "[", -EBADMSG, "line" },
	{ "\"version\": 1,", "\"version\": 1, \"extra\": 1,", -EBADMSG,
	  "unknown member 'extra'" },
	{ "\"version\": 1,", "", -EBADMSG, "version: missing" },
	{ "\"version\": 1,", "\"version\": 2,", -EINVAL, "version 2" },
	{ "\"version\": 1,", "\"version\": 1, \"version\": 1,", -EBADMSG,
	  "duplicate" },
	{ "\"web-1\"", "\"-web\"", -EINVAL, "name '-web'" },
	{ "\"web-1\"", "\"a/b\"", -EINVAL, "name 'a/b'" },
	{ "\"web-1\"", "\"\"", -EINVAL, "name ''" },
	{ "\"web-1\"", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
	  -EINVAL, "longer than" },
	{ "\"web-1\"", "1", -EBADMSG, "name: not a string" },
	{ UUID, "12345678-1234-4234-8234-123456789ABC", -EINVAL, "uuid" },
	{ UUID, "12345678", -EINVAL, "uuid" },
	{ "\"memory_mb\": 512", "\"memory_mb\": 64", -EINVAL, "memory_mb 64" },
	{ "\"memory_mb\": 512", "\"memory_mb\": 99999999", -EINVAL,
	  "memory_mb 99999999" },
	{ "\"memory_mb\": 512", "\"memory_mb\": -1", -EINVAL, "negative" },
	{ "\"memory_mb\": 512", "\"memory_mb\": \"512\"", -EBADMSG,
	  "not an integer" },
	{ "\"vcpus\": 2", "\"vcpus\": 0", -EINVAL, "vcpus 0" },
	{ "\"vcpus\": 2", "\"vcpus\": 65", -EINVAL, "vcpus" },
	{ "\"disks\": [", "\"disks\": {\"a\":[", -EBADMSG, "line" },
	{ "\"disks\": [{", "\"disks\": 1, \"x\": [{", -EBADMSG, "unknown" },
	{ "\"name\": \"root\"", "\"name\": \"Root\"", -EINVAL,
	  "disks[0].name 'Root'" },
	{ "\"name\": \"root\",", "\"name\": \"root\", \"cache\": 1,", -EBADMSG,
	  "disks[0].unknown member 'cache'" },
	{ "\"disks/root.qcow2\"", "\"../root.qcow2\"", -EINVAL,
	  "disks[0].file" },
	{ "\"disks/root.qcow2\"", "\"/etc/shadow\"", -EINVAL, "disks[0].file" },
	{ "\"disks/root.qcow2\"", "\"disks/a,b\"", -EINVAL, "disks[0].file" },
	{ "\"disks/root.qcow2\"", "\"disks//a\"", -EINVAL, "disks[0].file" },
	{ "\"qcow2-luks\"", "\"qcow2\"", -EINVAL, "format 'qcow2'" },
	{ "\"size_mb\": 1024", "\"size_mb\": 0", -EINVAL, "size_mb 0" },
	{ "\"network\": \"none\"", "\"network\": \"user\"", -EINVAL,
	  "network 'user'" },
	{ "\"network\": \"none\",", "", -EBADMSG, "network: missing" },
	{ "\"shielded\"", "\"open\"", -EINVAL, "security.policy 'open'" },
	{ FW, "D50189A486D22AF418198226A3A5BCB6DDAC775590F6A808BD629474EE034D62",
	  -EINVAL, "security.firmware.code" },
	{ FW, "abc", -EINVAL, "security.firmware.code" },
	{ "\"secure_boot\": true", "\"secure_boot\": 1", -EBADMSG,
	  "secure_boot: not a boolean" },
	{ "\"secure_boot\": true", "\"secure_boot\": false", -EINVAL,
	  "requires Secure Boot" },
	{ "\"tpm-crb\"", "\"tpm-tis\"", -EINVAL, "security.vtpm 'tpm-tis'" },
	{ "\"console\": \"none\"", "\"console\": \"serial\"", -EINVAL,
	  "allows no console" },
	{ "\"console\": \"none\"", "\"console\": \"vga\"", -EINVAL,
	  "security.console 'vga'" },
	{ "\"qemu-7.2-v1\"", "\"none\"", -EINVAL, "security.lockdown 'none'" },
	{ "[\"disk-luks\"]", "[]", -EINVAL, "security.devices" },
	{ "[\"disk-luks\"]", "[\"disk-luks\", \"disk-raw\"]", -EINVAL,
	  "security.devices" },
	{ "\"devices\": ", "\"debug\": true, \"devices\": ", -EBADMSG,
	  "security: unknown member 'debug'" },
	{ "\"security\": {", "\"security\": 1, \"x\": {", -EBADMSG, "unknown" },
};

static void test_rejections(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		char *t = edit(bads[i].from, bads[i].to);
		struct vm_def d;
		struct err e = { 0 };
		int r = vm_def_parse(t, strlen(t), &d, &e);

		if (r != bads[i].err || !strstr(e.msg, bads[i].msg))
			fail_msg("case %zu (%s -> %s): %d '%s', expected %d "
				 "'%s'",
				 i, bads[i].from, bads[i].to, r, e.msg,
				 bads[i].err, bads[i].msg);
		free(t);
	}
}

static void test_too_big(void **state)
{
	size_t n = VM_DEF_MAX_SIZE + 1;
	char *t = malloc(n);
	struct vm_def d;
	struct err e = { 0 };

	(void)state;
	memset(t, ' ', n);
	assert_int_equal(vm_def_parse(t, n, &d, &e), -E2BIG);
	free(t);
}

/* Encryption-supported may have a serial console and no Secure Boot. */
static void test_encryption_supported(void **state)
{
	char *t;
	struct vm_def d;
	struct err e = { 0 };

	(void)state;
	t = edit("\"policy\": \"shielded\", ",
		 "\"policy\": \"encryption-supported\", ");
	{
		char *u = replace(t, "\"console\": \"none\"",
				  "\"console\": \"serial\"");

		free(t);
		t = u;
	}
	assert_int_equal(vm_def_parse(t, strlen(t), &d, &e), 0);
	assert_true(d.security.serial_console);
	assert_int_equal(d.security.policy, KP_POLICY_ENCRYPTION_SUPPORTED);
	free(t);
}

static void test_profile(void **state)
{
	static const char want[] =
		"{\"console\":\"none\",\"devices\":[\"disk-luks\"],"
		"\"firmware\":{\"code\":\"" FW "\"},\"lockdown\":"
		"\"qemu-7.2-v1\",\"policy\":\"shielded\",\"secure_boot\":true,"
		"\"vtpm\":\"tpm-crb\"}";
	struct vm_def d, d2;
	struct err e = { 0 };
	uint8_t dg[32], dg2[32], sha[32];
	char *text = NULL, *back;
	json_t *j = NULL;

	(void)state;
	assert_int_equal(vm_def_parse(good, strlen(good), &d, &e), 0);
	assert_int_equal(vm_profile_text(&d, &text, &e), 0);
	assert_string_equal(text, want);
	assert_int_equal(vm_profile_digest(&d, dg, &e), 0);
	assert_int_equal(EVP_Digest(want, strlen(want), sha, NULL,
				    EVP_sha256(), NULL),
			 1);
	assert_memory_equal(dg, sha, 32);
	free(text);

	/* vm.json written back parses to the same profile */
	assert_int_equal(vm_def_to_json(&d, &j, &e), 0);
	back = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	assert_int_equal(vm_def_parse(back, strlen(back), &d2, &e), 0);
	free(back);
	assert_int_equal(vm_profile_digest(&d2, dg2, &e), 0);
	assert_memory_equal(dg, dg2, 32);

	/* anything security-relevant changes the digest; memory does not */
	d2.memory_mb = 4096;
	assert_int_equal(vm_profile_digest(&d2, dg2, &e), 0);
	assert_memory_equal(dg, dg2, 32);
	d2.security.policy = KP_POLICY_ENCRYPTION_SUPPORTED;
	assert_int_equal(vm_profile_digest(&d2, dg2, &e), 0);
	assert_memory_not_equal(dg, dg2, 32);
	d2.security.serial_console = true;
	assert_int_equal(vm_profile_digest(&d2, sha, &e), 0);
	assert_memory_not_equal(sha, dg2, 32);
	d2.security.serial_console = false;
	d2.security.secure_boot = false;
	assert_int_equal(vm_profile_digest(&d2, sha, &e), 0);
	assert_memory_not_equal(sha, dg2, 32);
	d2.security.secure_boot = true;
	d2.disks[0].format = VM_DISK_RAW;
	assert_int_equal(vm_profile_digest(&d2, sha, &e), 0);
	assert_memory_not_equal(sha, dg2, 32);
	d2.disks[0].format = VM_DISK_QCOW2_LUKS;
	d2.security.firmware_code[0] = 'e';
	assert_int_equal(vm_profile_digest(&d2, sha, &e), 0);
	assert_memory_not_equal(sha, dg2, 32);
	/* an invalid combination has no profile */
	d2.security.policy = KP_POLICY_SHIELDED;
	d2.security.serial_console = true;
	assert_int_equal(vm_profile_text(&d2, &text, &e), -EINVAL);
}

/* ---- "import" on a disk ------------------------------------------------*/

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define IMPORT                                                      \
	", \"import\": {\"path\": \"/srv/images/guest.img\", \"sha256\": " \
	"\"" SHA "\"}"

static char *good_import(void)
{
	return edit("\"size_mb\": 1024", "\"size_mb\": 1024" IMPORT);
}

static void test_import(void **state)
{
	char *t = good_import(), *back, *p1 = NULL, *p2 = NULL;
	struct vm_def d, d0, d2;
	struct err e = { 0 };
	json_t *j = NULL;

	(void)state;
	assert_int_equal(vm_def_parse(t, strlen(t), &d, &e), 0);
	assert_string_equal(d.disks[0].import_path, "/srv/images/guest.img");
	assert_string_equal(d.disks[0].import_sha256, SHA);
	assert_int_equal(d.disks[0].format, VM_DISK_QCOW2_LUKS);
	free(t);
	/* without the member: empty */
	assert_int_equal(vm_def_parse(good, strlen(good), &d0, &e), 0);
	assert_string_equal(d0.disks[0].import_path, "");
	assert_string_equal(d0.disks[0].import_sha256, "");

	/* the profile does not change with an import */
	assert_int_equal(vm_profile_text(&d, &p1, &e), 0);
	assert_int_equal(vm_profile_text(&d0, &p2, &e), 0);
	assert_string_equal(p1, p2);
	free(p1);
	free(p2);

	/* written back and parsed again: the same import */
	assert_int_equal(vm_def_to_json(&d, &j, &e), 0);
	assert_true(json_is_object(
		json_object_get(json_array_get(json_object_get(j, "disks"), 0),
				"import")));
	back = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	assert_int_equal(vm_def_parse(back, strlen(back), &d2, &e), 0);
	free(back);
	assert_string_equal(d2.disks[0].import_path, "/srv/images/guest.img");
	assert_string_equal(d2.disks[0].import_sha256, SHA);
	/* a disk without one is written without the member */
	assert_int_equal(vm_def_to_json(&d0, &j, &e), 0);
	assert_null(json_object_get(
		json_array_get(json_object_get(j, "disks"), 0), "import"));
	json_decref(j);

	/* vm_def_check on code-filled structs */
	d2.disks[0].format = VM_DISK_RAW;
	assert_int_equal(vm_def_check(&d2, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "disks[0].import: only a 'qcow2-luks' "
				      "disk can be imported"));
	d2.disks[0].format = VM_DISK_QCOW2_LUKS;
	d2.disks[0].import_sha256[0] = '\0';
	e = (struct err){ 0 };
	assert_int_equal(vm_def_check(&d2, &e), -EINVAL);
	if (!strstr(e.msg, "disks[0].import.sha256 ''"))
		fail_msg("%s", e.msg);
}

static const struct bad import_bads[] = {
	{ "\"/srv/images/guest.img\"", "\"guest.img\"", -EINVAL,
	  "disks[0].import.path 'guest.img': an absolute path" },
	{ "\"/srv/images/guest.img\"", "\"/srv/a,b.img\"", -EINVAL,
	  "disks[0].import.path '/srv/a,b.img'" },
	{ "\"/srv/images/guest.img\"", "\"/srv/a\\nb\"", -EINVAL,
	  "disks[0].import.path" },
	{ "\"/srv/images/guest.img\"", "\"\"", -EINVAL,
	  "disks[0].import.path ''" },
	{ "\"/srv/images/guest.img\"", "1", -EBADMSG,
	  "disks[0].import.path: not a string" },
	{ SHA, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  -EINVAL, "disks[0].import.sha256" },
	{ SHA, "abc", -EINVAL, "disks[0].import.sha256 'abc'" },
	{ "\"sha256\": \"" SHA "\"", "\"sha256\": \"" SHA "\", \"format\": 1",
	  -EBADMSG, "disks[0].import.unknown member 'format'" },
	{ ", \"sha256\": \"" SHA "\"", "", -EBADMSG,
	  "disks[0].import.sha256: missing" },
	{ "\"path\": \"/srv/images/guest.img\", ", "", -EBADMSG,
	  "disks[0].import.path: missing" },
	{ "{\"path\": \"/srv/images/guest.img\", \"sha256\": \"" SHA "\"}",
	  "\"/srv/images/guest.img\"", -EBADMSG,
	  "disks[0].import: not an object" },
};

static void test_import_rejections(void **state)
{
	char *base = good_import();

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(import_bads); i++) {
		char *t = replace(base, import_bads[i].from, import_bads[i].to);
		struct vm_def d;
		struct err e = { 0 };
		int r = vm_def_parse(t, strlen(t), &d, &e);

		if (r != import_bads[i].err ||
		    !strstr(e.msg, import_bads[i].msg))
			fail_msg("import case %zu (%s -> %s): %d '%s', "
				 "expected %d '%s'",
				 i, import_bads[i].from, import_bads[i].to, r,
				 e.msg, import_bads[i].err,
				 import_bads[i].msg);
		free(t);
	}
	/* too long a path */
	{
		char big[VM_PATH_MAX + 8], *t;
		struct vm_def d;
		struct err e = { 0 };

		memset(big, 'a', sizeof(big) - 1);
		big[0] = '/';
		big[sizeof(big) - 1] = '\0';
		t = replace(base, "/srv/images/guest.img", big);
		assert_int_equal(vm_def_parse(t, strlen(t), &d, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "import.path: longer than"));
		free(t);
	}
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_encryption_supported),
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_import_rejections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
