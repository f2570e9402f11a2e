/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event log parser and replay against the shared real-world logs and their
 * expected PCR values (../shared/testdata/eventlogs), plus rejection paths.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attest/eventlog.h"
#include "attest/eventlog_decode.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "logbuild.h"

static const char *testdata(void)
{
	const char *d = getenv("SHIELDVM_TESTDATA");

	assert_non_null(d);
	return d;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	struct err e = { 0 };

	if (file_read(path, 64u << 20, &buf, len, &e) < 0)
		fail_msg("%s", err_str(&e));
	return buf;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.bin in the folder, sorted; new files are covered automatically. */
static size_t list_logs(char ***ret)
{
	char dir[4096];
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%s/eventlogs", testdata());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".bin"))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strndup(de->d_name, l - 4);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmpstr);
	*ret = v;
	return n;
}

static void test_replay_matches_expected(void **state)
{
	char **names;
	size_t n = list_logs(&names), checked = 0, rejected = 0;

	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		uint8_t *buf;
		size_t len;
		json_error_t je;
		json_t *exp, *pcrs;
		struct eventlog *log = NULL;
		struct eventlog_pcrs out;
		struct err e = { 0 };
		const char *from, *bank;
		json_t *vals;
		bool invalid, tpm_read;
		int r;

		snprintf(path, sizeof(path), "%s/eventlogs/%s.expected.json", testdata(), names[i]);
		exp = json_load_file(path, 0, &je);
		if (!exp)
			fail_msg("%s: %s", path, je.text);
		invalid = json_is_string(json_object_get(exp, "format")) &&
			  streq(json_string_value(json_object_get(exp, "format")), "invalid");
		from = json_string_value(json_object_get(exp, "expected_pcrs_from"));
		tpm_read = from && strncmp(from, "read from", 9) == 0;
		pcrs = json_object_get(exp, "pcrs");
		snprintf(path, sizeof(path), "%s/eventlogs/%s.bin", testdata(), names[i]);
		buf = slurp(path, &len);
		r = eventlog_parse(buf, len, &log, &e);
		if (invalid) {
			if (r == 0)
				fail_msg("%s: malformed log accepted", names[i]);
			assert_true(strlen(e.msg) > 10);
			print_message("  %-50s rejected: %s\n", names[i], e.msg);
			rejected++;
			free(buf);
			json_decref(exp);
			continue;
		}
		if (r < 0)
			fail_msg("%s: %s", names[i], e.msg);
		assert_int_equal(eventlog_replay(log, ~0u, &out, &e), 0);
		/* Expected values are equal to ours, bank by bank, PCR by PCR. */
		json_object_foreach(pcrs, bank, vals) {
			const struct hash_alg *alg = hash_alg_by_name(bank);
			const struct eventlog_bank *bk;
			const char *key;
			json_t *hex;

			assert_non_null(alg);
			bk = eventlog_pcrs_bank(&out, alg->tpm_id);
			if (!bk)
				fail_msg("%s: bank %s missing", names[i], bank);
			json_object_foreach(vals, key, hex) {
				unsigned p = (unsigned)strtoul(key, NULL, 10);
				char got[2 * EVENTLOG_MAX_DIGEST + 1];

				if (!(bk->extended & (1u << p)))
					fail_msg("%s: %s PCR %u not extended", names[i], bank, p);
				hex_encode(bk->pcr[p], alg->size, got);
				if (strcmp(got, json_string_value(hex)))
					fail_msg("%s: %s PCR %u: got %s, expected %s", names[i], bank, p,
						 got, json_string_value(hex));
			}
			/* And we report no PCR the expectation lacks, unless the
			 * expectation was read from a TPM that was asked for fewer. */
			if (!tpm_read)
				assert_int_equal(__builtin_popcount(bk->extended),
						 json_object_size(vals));
		}
		/* No bank with extended PCRs that the expectation lacks. */
		for (uint32_t b = 0; b < out.n_banks; b++)
			if (out.banks[b].extended && !tpm_read &&
			    !json_object_get(pcrs, out.banks[b].alg->name))
				fail_msg("%s: unexpected bank %s", names[i], out.banks[b].alg->name);
		checked++;
		eventlog_free(log);
		free(buf);
		json_decref(exp);
	}
	print_message("  %zu logs replayed to their expected PCRs, %zu malformed rejected\n",
		      checked, rejected);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Every truncation of real logs: parse fails with an event/offset message
 * or succeeds exactly at an event boundary. Never crashes (ASan build). */
static void test_truncations(void **state)
{
	static const char *const logs[] = { "local__ovmf_sb_shim_grub", "goattest__linux_tpm12",
					    "tpm2tools__event-uefivar" };

	for (size_t k = 0; k < ARRAY_SIZE(logs); k++) {
		char path[4096];
		size_t len;
		uint8_t *buf;
		struct eventlog *full = NULL;
		struct err e = { 0 };

		snprintf(path, sizeof(path), "%s/eventlogs/%s.bin", testdata(), logs[k]);
		buf = slurp(path, &len);
		assert_int_equal(eventlog_parse(buf, len, &full, &e), 0);
		for (size_t cut = 0; cut < len; cut++) {
			struct eventlog *log = NULL;
			struct err e2 = { 0 };
			int r = eventlog_parse(buf, cut, &log, &e2);
			bool boundary = false;

			/* a tail shorter than 8 bytes after an event is padding */
			for (size_t i = 1; i < full->n_events; i++)
				if (cut >= full->events[i].offset && cut - full->events[i].offset < 8)
					boundary = true;
			if (r == 0) {
				if (!boundary)
					fail_msg("%s cut at %zu accepted off an event boundary",
						 logs[k], cut);
				eventlog_free(log);
			} else {
				assert_true(cut == 0 || strstr(e2.msg, "event") != NULL);
			}
		}
		eventlog_free(full);
		free(buf);
	}
}

static void test_rejections(void **state)
{
	struct logbuild b;
	struct eventlog *log = NULL;
	struct err e = { 0 };
	uint8_t big[64];

	/* event data size over the limit */
	lb_init(&b);
	{
		uint8_t hdr[4 + 4 + 4 + 2 + 32 + 4] = { 0 };

		hdr[8] = 1;
		hdr[12] = 0x0B;
		hdr[46] = 0xff; hdr[47] = 0xff; hdr[48] = 0xff; hdr[49] = 0x7f;
		memcpy(b.buf + b.len - 0, hdr, 0);
		b.buf = realloc(b.buf, b.len + sizeof(hdr));
		memcpy(b.buf + b.len, hdr, sizeof(hdr));
		b.len += sizeof(hdr);
	}
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "event 1 at offset"));
	assert_non_null(strstr(e.msg, "exceeds limit"));
	lb_free(&b);

	/* PCR index out of range */
	memset(&e, 0, sizeof(e));
	lb_init(&b);
	lb_event(&b, 24, EV_EFI_ACTION, "x", 1);
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "PCR index 24 out of range"));
	lb_free(&b);

	/* digest algorithm not declared by SpecID (sha1 in a sha256-only log) */
	memset(&e, 0, sizeof(e));
	lb_init(&b);
	lb_event(&b, 0, EV_EFI_ACTION, "x", 1);
	b.buf[b.len - 1 - 4 - 32 - 2] = 0x04; /* alg id low byte: sha256 -> sha1 */
	assert_true(eventlog_parse(b.buf, b.len, &log, &e) < 0);
	assert_non_null(strstr(e.msg, "not declared in the SpecID event"));
	lb_free(&b);

	/* too many events */
	memset(&e, 0, sizeof(e));
	lb_init(&b);
	for (unsigned i = 0; i <= EVENTLOG_MAX_EVENTS; i++)
		lb_event(&b, 1, EV_EFI_ACTION, "", 0);
	assert_true(eventlog_parse(b.buf, b.len, &log, &e) < 0);
	assert_non_null(strstr(e.msg, "events (limit)"));
	lb_free(&b);

	/* SpecID declaring zero algorithms */
	memset(&e, 0, sizeof(e));
	lb_init(&b);
	b.buf[32 + 24] = 0; /* numberOfAlgorithms = 0 */
	assert_true(eventlog_parse(b.buf, b.len, &log, &e) < 0);
	assert_non_null(strstr(e.msg, "no digest algorithms"));
	lb_free(&b);

	/* SpecID with a non-zero digest */
	memset(&e, 0, sizeof(e));
	lb_init(&b);
	b.buf[8] = 1;
	assert_true(eventlog_parse(b.buf, b.len, &log, &e) < 0);
	assert_non_null(strstr(e.msg, "digest is not zero"));
	lb_free(&b);

	/* whole log over the size limit, and empty */
	memset(&e, 0, sizeof(e));
	assert_int_equal(eventlog_parse(big, (size_t)EVENTLOG_MAX_SIZE + 1, &log, &e), -EFBIG);
	memset(&e, 0, sizeof(e));
	assert_int_equal(eventlog_parse(big, 0, &log, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "empty"));
}

/* Digest checks catch event data that does not match its digest. */
static void test_digest_check(void **state)
{
	static const uint8_t one = 1;
	struct logbuild b;
	struct eventlog *log = NULL;
	struct err e = { 0 };

	lb_init(&b);
	lb_variable(&b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, efi_guid_global_variable, "SecureBoot",
		    &one, 1);
	lb_event(&b, 7, EV_SEPARATOR, "\0\0\0\0", 4);
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(eventlog_check_digests(log, &e), 0);
	assert_int_equal(log->events[1].check, EVENTLOG_CHECK_OK);
	assert_int_equal(log->events[2].check, EVENTLOG_CHECK_OK);
	eventlog_free(log);
	/* flip the SecureBoot value byte */
	b.buf[b.len - (4 + 4 + 4 + 2 + 32 + 4 + 4) - 1] ^= 1;
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(eventlog_check_digests(log, &e), 1);
	assert_int_equal(log->events[1].check, EVENTLOG_CHECK_MISMATCH);
	eventlog_free(log);
	lb_free(&b);
}

/* The real logs: Secure Boot variables' digests verify. */
static void test_real_logs_digests(void **state)
{
	char **names;
	size_t n = list_logs(&names);

	for (size_t i = 0; i < n; i++) {
		char path[4096];
		uint8_t *buf;
		size_t len;
		struct eventlog *log = NULL;
		struct err e = { 0 };

		snprintf(path, sizeof(path), "%s/eventlogs/%s.bin", testdata(), names[i]);
		buf = slurp(path, &len);
		if (eventlog_parse(buf, len, &log, &e) == 0) {
			assert_true(eventlog_check_digests(log, &e) >= 0);
			for (size_t k = 0; k < log->n_events; k++) {
				const struct eventlog_event *ev = &log->events[k];

				if (ev->type == EV_EFI_VARIABLE_DRIVER_CONFIG || ev->type == EV_SEPARATOR ||
				    ev->type == EV_EFI_ACTION)
					if (ev->check == EVENTLOG_CHECK_MISMATCH)
						fail_msg("%s: event %zu digest mismatch", names[i], k);
			}
			eventlog_free(log);
		}
		free(buf);
		free(names[i]);
	}
	free(names);
}

/* Digest checks limited to some banks: only those banks count. */
static void test_digest_check_banks(void **state)
{
	char path[4096];
	uint8_t *buf;
	size_t len, ok = 0;
	struct eventlog *log = NULL;
	struct err e = { 0 };
	uint32_t sha256 = 0;

	snprintf(path, sizeof(path), "%s/eventlogs/gotpmtools__attest_gce-cos-85.bin", testdata());
	buf = slurp(path, &len);
	assert_int_equal(eventlog_parse(buf, len, &log, &e), 0);
	assert_int_equal(log->n_algs, 3);
	for (uint32_t i = 0; i < log->n_algs; i++)
		if (log->algs[i]->tpm_id == TPM_ALG_SHA256)
			sha256 = 1u << i;
	assert_true(eventlog_check_digests_banks(log, sha256, &e) >= 0);
	for (size_t i = 0; i < log->n_events; i++)
		if (log->events[i].type == EV_EFI_VARIABLE_DRIVER_CONFIG) {
			assert_int_equal(log->events[i].check, EVENTLOG_CHECK_OK);
			ok++;
		}
	assert_true(ok >= 5);
	/* no bank selected: nothing is verified, so nothing is trusted */
	assert_int_equal(eventlog_check_digests_banks(log, 0, &e), 0);
	for (size_t i = 0; i < log->n_events; i++)
		assert_int_equal(log->events[i].check, EVENTLOG_CHECK_NONE);
	eventlog_free(log);
	free(buf);
}

static void test_device_path(void **state)
{
	/* PciRoot(0x0)/Pci(0x3,0x0)/\EFI\BOOT\BOOTX64.EFI */
	static const uint8_t dp[] = {
		2, 1, 12, 0, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0,
		1, 1, 6, 0, 0, 3,
		4, 4, 14, 0, '\\', 0, 'E', 0, 'F', 0, 'I', 0, 0, 0,
		0x7f, 0xff, 4, 0,
	};
	char out[256];

	assert_int_equal(efi_device_path_text(dp, sizeof(dp), out, sizeof(out)), 0);
	assert_string_equal(out, "PciRoot(0x0)/Pci(0x3,0x0)/\\EFI");
	/* node length below the header size */
	assert_int_equal(efi_device_path_text((const uint8_t *)"\x04\x04\x02\x00", 4, out,
					      sizeof(out)), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_matches_expected),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_digest_check),
		cmocka_unit_test(test_real_logs_digests),
		cmocka_unit_test(test_digest_check_banks),
		cmocka_unit_test(test_device_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
