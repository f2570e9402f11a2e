/* SPDX-License-Identifier: Apache-2.0 */
/* hgsd's key-encryption key (src/hgsd/kek.c): loading the KEK file, and
 * sealing and opening values bound to their row. */
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

#include "hgsd/kek.h"

struct fx {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-kek.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/kek", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_kek(const struct fx *f, const void *buf, size_t len, mode_t mode)
{
	FILE *fp;

	unlink(f->path);
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(f->path, mode), 0);
}

static struct kek *load_ok(const struct fx *f)
{
	struct kek *k = NULL;
	struct err e = { 0 };

	if (kek_load(f->path, &k, &e) < 0)
		fail_msg("kek_load: %s", err_str(&e));
	return k;
}

static void load_fails(const struct fx *f, int want, const char *text)
{
	struct kek *k = NULL;
	struct err e = { 0 };

	assert_int_equal(kek_load(f->path, &k, &e), want);
	assert_null(k);
	if (!strstr(e.msg, text))
		fail_msg("error '%s' does not say '%s'", e.msg, text);
}

static void test_load(void **state)
{
	static const char hex[] = "000102030405060708090a0b0c0d0e0f"
				  "101112131415161718191a1b1c1d1e1f";
	struct fx *f = *state;
	uint8_t raw[KEK_SIZE];
	struct kek *a, *b;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	write_kek(f, raw, sizeof(raw), 0600);
	a = load_ok(f);
	write_kek(f, hex, 64, 0400);
	b = load_ok(f);
	/* raw bytes and hex name the same key */
	assert_string_equal(kek_id(a), kek_id(b));
	assert_int_equal(strlen(kek_id(a)), KEK_ID_LEN);
	kek_free(b);
	write_kek(f, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 65,
		  0600);
	b = load_ok(f);
	assert_string_equal(kek_id(a), kek_id(b));
	kek_free(a);
	kek_free(b);
	kek_free(NULL);

	write_kek(f, raw, sizeof(raw), 0640);
	load_fails(f, -EPERM, "group or others");
	write_kek(f, raw, sizeof(raw), 0604);
	load_fails(f, -EPERM, "group or others");
	write_kek(f, raw, 31, 0600);
	load_fails(f, -EINVAL, "32 random bytes or 64 hex digits");
	write_kek(f, raw, 0, 0600);
	load_fails(f, -EINVAL, "32 random bytes or 64 hex digits");
	write_kek(f, "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64,
		  0600);
	load_fails(f, -EINVAL, "64 hex digits");
	unlink(f->path);
	load_fails(f, -ENOENT, "No such file");
	assert_int_equal(mkdir(f->path, 0700), 0);
	load_fails(f, -EINVAL, "not a regular file");
	rmdir(f->path);
}

static void test_seal_open(void **state)
{
	struct fx *f = *state;
	uint8_t raw[KEK_SIZE], secret[300], *out = NULL;
	struct kek *k, *other;
	struct err e = { 0 };
	char *s1 = NULL, *s2 = NULL;
	size_t l1 = 0, l2 = 0, n = 0;
	bool sealed = false;

	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 7);
	memset(raw, 0x5a, sizeof(raw));
	write_kek(f, raw, sizeof(raw), 0600);
	k = load_ok(f);
	memset(raw, 0xa5, sizeof(raw));
	write_kek(f, raw, sizeof(raw), 0600);
	other = load_ok(f);
	assert_string_not_equal(kek_id(k), kek_id(other));

	assert_int_equal(kek_seal(k, "guardian_key:g1", secret, sizeof(secret), &s1, &l1, &e), 0);
	assert_int_equal(strlen(s1), l1);
	assert_true(kek_is_sealed((const uint8_t *)s1, l1));
	assert_int_equal(strncmp(s1 + strlen(KEK_PREFIX), kek_id(k), KEK_ID_LEN), 0);
	assert_null(memmem(s1, l1, secret, 16));
	/* a fresh IV every time */
	assert_int_equal(kek_seal(k, "guardian_key:g1", secret, sizeof(secret), &s2, &l2, &e), 0);
	assert_string_not_equal(s1, s2);
	free(s2);

	assert_int_equal(kek_open(k, "guardian_key:g1", (uint8_t *)s1, l1, &out, &n, &sealed, &e), 0);
	assert_true(sealed);
	assert_int_equal(n, sizeof(secret));
	assert_memory_equal(out, secret, n);
	assert_int_equal(out[n], 0);
	free(out);

	/* another row, another KEK, no KEK, one changed character */
	assert_int_equal(kek_open(k, "guardian_key:g2", (uint8_t *)s1, l1, &out, &n, &sealed, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "moved from another row"));
	e = (struct err){ 0 };
	assert_int_equal(kek_open(other, "guardian_key:g1", (uint8_t *)s1, l1, &out, &n, &sealed,
				  &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, kek_id(other)));
	assert_non_null(strstr(e.msg, kek_id(k)));
	e = (struct err){ 0 };
	assert_int_equal(kek_open(NULL, "guardian_key:g1", (uint8_t *)s1, l1, &out, &n, &sealed,
				  &e),
			 -ENOKEY);
	assert_non_null(strstr(e.msg, "kek_file"));
	e = (struct err){ 0 };
	for (size_t i = strlen(KEK_PREFIX) + KEK_ID_LEN + 1; i < l1; i += 7) {
		char c = s1[i];

		s1[i] = c == 'A' ? 'B' : 'A';
		assert_true(kek_open(k, "guardian_key:g1", (uint8_t *)s1, l1, &out, &n, &sealed,
				     &e) < 0);
		e = (struct err){ 0 };
		s1[i] = c;
	}
	/* truncated, malformed */
	assert_int_equal(kek_open(k, "guardian_key:g1", (uint8_t *)s1, 30, &out, &n, &sealed, &e),
			 -EBADMSG);
	e = (struct err){ 0 };
	assert_int_equal(kek_open(k, "x", (const uint8_t *)"kek1:0123", 9, &out, &n, &sealed, &e),
			 -EBADMSG);
	e = (struct err){ 0 };
	assert_int_equal(kek_open(k, "x", (const uint8_t *)"kek1:0123456789ABCDEF:AAAA", 26, &out,
				  &n, &sealed, &e),
			 -EBADMSG);
	e = (struct err){ 0 };
	free(s1);

	/* plaintext (from before the KEK) passes, marked as such */
	assert_int_equal(kek_open(k, "x", (const uint8_t *)"-----BEGIN", 10, &out, &n, &sealed, &e),
			 0);
	assert_false(sealed);
	assert_int_equal(n, 10);
	assert_string_equal((char *)out, "-----BEGIN");
	free(out);
	/* without a KEK, sealing copies */
	assert_int_equal(kek_seal(NULL, "x", secret, 5, &s1, &l1, &e), 0);
	assert_int_equal(l1, 5);
	assert_memory_equal(s1, secret, 5);
	free(s1);

	/* text helpers: a sealed value that is not text is refused as text */
	assert_int_equal(kek_seal_text(k, "signing_key:a", "PEM TEXT", &s1, &e), 0);
	assert_int_equal(kek_open_text(k, "signing_key:a", s1, &s2, &sealed, &e), 0);
	assert_string_equal(s2, "PEM TEXT");
	free(s1);
	free(s2);
	assert_int_equal(kek_seal(k, "signing_key:a", (const uint8_t *)"a\0b", 3, &s1, &l1, &e), 0);
	assert_int_equal(kek_open_text(k, "signing_key:a", s1, &s2, &sealed, &e), -EBADMSG);
	free(s1);
	kek_free(k);
	kek_free(other);
}

static void test_rotation(void **state)
{
	struct fx *f = *state;
	uint8_t raw[KEK_SIZE], *out = NULL;
	struct kek *k, *old, *third, *same;
	struct err e = { 0 };
	char *s_old = NULL, *s_new = NULL, *s_third = NULL;
	size_t l_old = 0, l_new = 0, l_third = 0, n = 0;
	bool sealed = true;

	memset(raw, 1, sizeof(raw));
	write_kek(f, raw, sizeof(raw), 0600);
	old = load_ok(f);
	same = load_ok(f);
	memset(raw, 2, sizeof(raw));
	write_kek(f, raw, sizeof(raw), 0600);
	k = load_ok(f);
	memset(raw, 3, sizeof(raw));
	write_kek(f, raw, sizeof(raw), 0600);
	third = load_ok(f);
	assert_int_equal(kek_seal(old, "setting:a", (const uint8_t *)"old", 3, &s_old, &l_old, &e), 0);
	assert_int_equal(kek_seal(k, "setting:a", (const uint8_t *)"new", 3, &s_new, &l_new, &e), 0);
	assert_int_equal(kek_seal(third, "setting:a", (const uint8_t *)"3rd", 3, &s_third, &l_third,
				  &e),
			 0);

	assert_int_equal(kek_set_previous(old, same, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "itself"));
	e = (struct err){ 0 };
	kek_free(same);
	assert_null(kek_previous(k));
	assert_int_equal(kek_set_previous(k, old, &e), 0);
	assert_ptr_equal(kek_previous(k), old);

	/* under the old KEK: opens, to be sealed again */
	assert_int_equal(kek_open(k, "setting:a", (uint8_t *)s_old, l_old, &out, &n, &sealed, &e), 0);
	assert_false(sealed);
	assert_string_equal((char *)out, "old");
	free(out);
	/* bound to its row under the old KEK as well */
	assert_int_equal(kek_open(k, "setting:b", (uint8_t *)s_old, l_old, &out, &n, &sealed, &e),
			 -EKEYREJECTED);
	e = (struct err){ 0 };
	/* under the KEK: sealed */
	assert_int_equal(kek_open(k, "setting:a", (uint8_t *)s_new, l_new, &out, &n, &sealed, &e), 0);
	assert_true(sealed);
	assert_string_equal((char *)out, "new");
	free(out);
	/* under a third: refused, naming both */
	assert_int_equal(kek_open(k, "setting:a", (uint8_t *)s_third, l_third, &out, &n, &sealed,
				  &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, kek_id(k)));
	assert_non_null(strstr(e.msg, kek_id(old)));
	assert_non_null(strstr(e.msg, kek_id(third)));
	/* the old KEK alone does not open what the new one sealed */
	e = (struct err){ 0 };
	assert_int_equal(kek_open(third, "setting:a", (uint8_t *)s_new, l_new, &out, &n, &sealed,
				  &e),
			 -EKEYREJECTED);
	free(s_old);
	free(s_new);
	free(s_third);
	kek_free(k); /* and old, which it owns */
	kek_free(third);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
