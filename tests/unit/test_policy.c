/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation policy: baselines and rules, on real logs and on small
 * synthetic logs built with correct digests, one rule at a time.
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
#include <jansson.h>

#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "attest/eventlog_decode.h"
#include "attest/policy.h"
#include "common/file.h"
#include "common/util.h"
#include "logbuild.h"

#include <openssl/evp.h>

static struct eventlog *load(const char *name)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len;
	struct err e = { 0 };
	struct eventlog *log = NULL;

	snprintf(path, sizeof(path), "%s/eventlogs/%s.bin", getenv("SHIELDVM_TESTDATA"), name);
	if (file_read(path, 64u << 20, &buf, &len, &e) < 0 ||
	    eventlog_parse(buf, len, &log, &e) < 0)
		fail_msg("%s: %s", name, err_str(&e));
	free(buf);
	return log;
}

static struct policy *policy_from_log(const char *name, uint32_t pcrs)
{
	struct eventlog *log = load(name);
	struct policy *p = policy_new("test");
	struct baseline *b = NULL;
	struct err e = { 0 };

	assert_int_equal(eventlog_check_digests(log, &e) >= 0, 1);
	assert_int_equal(baseline_capture(log, name, name, NULL, pcrs, &b, &e), 0);
	assert_int_equal(policy_add_baseline(p, b, &e), 0);
	eventlog_free(log);
	return p;
}

static struct policy_verdict judge(const struct policy *p, const char *name)
{
	struct eventlog *log = load(name);
	struct policy_verdict v;
	struct err e = { 0 };

	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	eventlog_free(log);
	return v;
}

static void test_baseline_self_match(void **state)
{
	struct policy *p = policy_from_log("local__ovmf_sb_shim_grub", BASELINE_DEFAULT_PCRS);
	struct policy_verdict v = judge(p, "local__ovmf_sb_shim_grub");

	assert_int_equal(v.results[RULE_BASELINE].status, POLICY_PASS);
	assert_true(v.baseline_matched);
	assert_int_equal(v.results[RULE_SECURE_BOOT].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_BOOT_APPS_MEASURED].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_DBX_CURRENT].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_LOG_INTEGRITY].status, POLICY_PASS);
	/* no IOMMU evidence on this VM's command line */
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_FAIL);
	assert_false(v.pass);
	p->enabled[RULE_IOMMU] = false;
	v = judge(p, "local__ovmf_sb_shim_grub");
	assert_true(v.pass);
	policy_free(p);
}

static void test_directkernel_fails_boot_apps(void **state)
{
	struct policy *p = policy_from_log("local__ovmf_sb_shim_grub", BASELINE_DEFAULT_PCRS);
	struct policy_verdict v = judge(p, "local__ovmf_sb_directkernel");

	assert_int_equal(v.results[RULE_BOOT_APPS_MEASURED].status, POLICY_FAIL);
	assert_int_equal(v.results[RULE_BOOT_APPS_MEASURED].event, 12);
	assert_non_null(strstr(v.results[RULE_BOOT_APPS_MEASURED].message,
			       "not followed by a measured boot application"));
	/* Secure Boot itself was on */
	assert_int_equal(v.results[RULE_SECURE_BOOT].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_BASELINE].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_BASELINE].message, "PCR 1"));
	assert_false(v.pass);
	policy_free(p);
}

static void test_no_secure_boot_logs(void **state)
{
	static const char *const logs[] = { "gotpmtools__ubuntu-2104-no-secure-boot",
					    "goattest__coreos_36_shielded_vm_no_secure_boot" };
	struct policy *p = policy_from_log("gotpmtools__ubuntu-2104-no-dbx", BASELINE_DEFAULT_PCRS);

	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		struct policy_verdict v = judge(p, logs[i]);
		const struct policy_rule_result *r = &v.results[RULE_SECURE_BOOT];

		assert_int_equal(r->status, POLICY_FAIL);
		assert_true(r->event >= 0);
		assert_non_null(strstr(r->message, "SecureBoot is 0, policy requires 1"));
		assert_non_null(strstr(r->message, "PCR 7"));
		assert_false(v.pass);
	}
	policy_free(p);
}

static void test_secure_boot_on_real_logs(void **state)
{
	static const char *const logs[] = { "gotpmtools__debian-10", "keylime__mb_log",
					    "goattest__windows_gcp_shielded_vm",
					    "gotpmtools__attest_gce-cos-85" };
	struct policy *p = policy_from_log("local__ovmf_sb_shim_grub", BASELINE_DEFAULT_PCRS);

	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		struct policy_verdict v = judge(p, logs[i]);

		if (v.results[RULE_SECURE_BOOT].status != POLICY_PASS)
			fail_msg("%s: %s", logs[i], v.results[RULE_SECURE_BOOT].message);
		if (v.results[RULE_BOOT_APPS_MEASURED].status != POLICY_PASS)
			fail_msg("%s: %s", logs[i], v.results[RULE_BOOT_APPS_MEASURED].message);
		/* a different platform: the baseline names the first difference */
		assert_int_equal(v.results[RULE_BASELINE].status, POLICY_FAIL);
		assert_non_null(strstr(v.results[RULE_BASELINE].message, "PCR "));
	}
	policy_free(p);
}

static void test_dbx_current(void **state)
{
	/* 186-entry dbx baseline vs a log whose dbx has 77 entries */
	struct policy *p = policy_from_log("gotpmtools__ubuntu-2104-no-secure-boot", 0x80);
	struct policy_verdict v = judge(p, "goattest__windows_gcp_shielded_vm");

	assert_int_equal(v.results[RULE_DBX_CURRENT].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_DBX_CURRENT].message, "missing"));
	v = judge(p, "gotpmtools__ubuntu-2104-no-secure-boot");
	assert_int_equal(v.results[RULE_DBX_CURRENT].status, POLICY_PASS);
	policy_free(p);
}

static void test_windows_debug(void **state)
{
	struct policy *p = policy_from_log("goattest__windows_gcp_shielded_vm", BASELINE_DEFAULT_PCRS);
	struct policy_verdict v = judge(p, "goattest__windows_gcp_shielded_vm");

	/* this GCE Windows VM booted without boot or kernel debugging */
	if (v.results[RULE_NO_DEBUG].status != POLICY_PASS)
		fail_msg("%s", v.results[RULE_NO_DEBUG].message);
	assert_int_equal(v.results[RULE_BASELINE].status, POLICY_PASS);
	policy_free(p);
}

/* Synthetic logs: a minimal Secure Boot chain plus one variable part. */
static void base_log(struct logbuild *b, const char *cmdline, const char *extra_action)
{
	static const uint8_t one = 1, pk[] = "pk", kek[] = "kek", db[] = "db";
	uint8_t img[32 + 4] = { 0 };

	lb_init(b);
	lb_variable(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, efi_guid_global_variable, "SecureBoot",
		    &one, 1);
	lb_variable(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, efi_guid_global_variable, "PK", pk, 2);
	lb_variable(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, efi_guid_global_variable, "KEK", kek, 3);
	lb_variable(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, efi_guid_image_security_db, "db", db, 2);
	lb_variable(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, efi_guid_image_security_db, "dbx", NULL, 0);
	if (extra_action)
		lb_event(b, 7, EV_EFI_ACTION, extra_action, strlen(extra_action));
	lb_event(b, 7, EV_SEPARATOR, "\0\0\0\0", 4);
	lb_event(b, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option", 40);
	lb_event(b, 4, EV_SEPARATOR, "\0\0\0\0", 4);
	img[0] = 0x10; /* image load event with an empty device path */
	lb_event(b, 4, EV_EFI_BOOT_SERVICES_APPLICATION, img, sizeof(img) - 4);
	if (cmdline) {
		uint8_t d[32];
		unsigned int n;
		char text[8192];

		EVP_Digest(cmdline, strlen(cmdline), d, &n, EVP_sha256(), NULL);
		snprintf(text, sizeof(text), "kernel_cmdline: %s", cmdline);
		lb_event_digest(b, 8, EV_IPL, d, text, strlen(text) + 1);
	}
}

static struct policy_verdict judge_synthetic(struct policy *p, const char *cmdline,
					     const char *action)
{
	struct logbuild b;
	struct eventlog *log = NULL;
	struct policy_verdict v;
	struct err e = { 0 };

	base_log(&b, cmdline, action);
	if (eventlog_parse(b.buf, b.len, &log, &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	eventlog_free(log);
	lb_free(&b);
	return v;
}

static struct policy *synthetic_policy(void)
{
	struct logbuild b;
	struct eventlog *log = NULL;
	struct baseline *bl = NULL;
	struct policy *p = policy_new("synthetic");
	struct err e = { 0 };

	base_log(&b, "/vmlinuz root=/dev/vda1 intel_iommu=on", NULL);
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	eventlog_check_digests(log, &e);
	assert_int_equal(baseline_capture(log, "synthetic", "test", NULL, 0x90, &bl, &e), 0);
	assert_int_equal(policy_add_baseline(p, bl, &e), 0);
	eventlog_free(log);
	lb_free(&b);
	return p;
}

static void test_synthetic_rules(void **state)
{
	struct policy *p = synthetic_policy();
	struct policy_verdict v;
	struct err e = { 0 };

	v = judge_synthetic(p, "/vmlinuz root=/dev/vda1 intel_iommu=on", NULL);
	for (int i = 0; i < _RULE_MAX; i++)
		if (p->enabled[i] && v.results[i].status != POLICY_PASS)
			fail_msg("%s: %s", policy_rule_info(i)->id, v.results[i].message);
	assert_true(v.pass);

	/* no-debug: kernel debugger on the command line */
	v = judge_synthetic(p, "/vmlinuz root=/dev/vda1 intel_iommu=on kgdboc=ttyS0,115200 kgdbwait", NULL);
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_NO_DEBUG].message, "kgdboc=ttyS0,115200"));
	assert_false(v.pass);
	/* no-debug: firmware debug mode */
	v = judge_synthetic(p, "/vmlinuz intel_iommu=on", "UEFI Debug Mode");
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_NO_DEBUG].message, "UEFI Debug Mode"));
	/* iommu-enabled: missing, explicitly off, passthrough, DMA protection off */
	v = judge_synthetic(p, "/vmlinuz root=/dev/vda1", NULL);
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_FAIL);
	v = judge_synthetic(p, "/vmlinuz intel_iommu=on iommu=pt", NULL);
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_IOMMU].message, "iommu=pt"));
	v = judge_synthetic(p, "/vmlinuz amd_iommu=on", "DMA Protection Disabled");
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_FAIL);
	v = judge_synthetic(p, "/vmlinuz amd_iommu=on", NULL);
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_PASS);
	/* no kernel command line at all */
	v = judge_synthetic(p, NULL, NULL);
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_FAIL);

	/* a long command line is read whole: kgdbwait after 6000 bytes of
	 * padding is still found */
	{
		char longcl[6000];

		memset(longcl, 'a', sizeof(longcl));
		memcpy(longcl, "/vmlinuz intel_iommu=on x=", 26);
		memcpy(longcl + sizeof(longcl) - 10, " kgdbwait", 10);
		v = judge_synthetic(p, longcl, NULL);
		assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_FAIL);
		assert_non_null(strstr(v.results[RULE_NO_DEBUG].message, "\"kgdbwait\""));
	}

	/* cmdline deny and allow patterns */
	assert_int_equal(policy_add_pattern(p, false, "init=*", &e), 0);
	v = judge_synthetic(p, "/vmlinuz intel_iommu=on init=/bin/sh", NULL);
	assert_int_equal(v.results[RULE_CMDLINE].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_CMDLINE].message, "init=/bin/sh"));
	assert_int_equal(policy_add_pattern(p, true, "root=*", &e), 0);
	assert_int_equal(policy_add_pattern(p, true, "intel_iommu=on", &e), 0);
	v = judge_synthetic(p, "/vmlinuz intel_iommu=on root=/dev/vda1", NULL);
	assert_int_equal(v.results[RULE_CMDLINE].status, POLICY_PASS);
	v = judge_synthetic(p, "/vmlinuz intel_iommu=on root=/dev/vda1 quiet", NULL);
	assert_int_equal(v.results[RULE_CMDLINE].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_CMDLINE].message, "\"quiet\" matches no allow"));

	/* boot-apps allowlist */
	p->enabled[RULE_BOOT_APPS] = true;
	v = judge_synthetic(p, "/vmlinuz intel_iommu=on root=/dev/vda1", NULL);
	assert_int_equal(v.results[RULE_BOOT_APPS].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_BOOT_APPS].message, "not on the boot-apps allowlist"));
	policy_free(p);
}

/* A command line whose data does not match its digest is never trusted. */
static void test_forged_cmdline(void **state)
{
	struct policy *p = synthetic_policy();
	struct logbuild b;
	struct eventlog *log = NULL;
	struct policy_verdict v;
	struct err e = { 0 };
	char *at;

	base_log(&b, "/vmlinuz intel_iommu=on kgdbwait", NULL);
	/* rewrite the logged text to hide the debugger; the digest stays */
	at = memmem(b.buf, b.len, "kgdbwait", 8);
	assert_non_null(at);
	memcpy(at, "quietxxx", 8);
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_NO_DEBUG].message, "does not match its digest"));
	eventlog_free(log);
	lb_free(&b);
	policy_free(p);
}

/* The event type and grub's "kernel_cmdline: " prefix are not measured:
 * relabelling the kernel command line must not hide it. */
static void test_disguised_cmdline(void **state)
{
	struct policy *p = synthetic_policy();
	struct logbuild b;
	struct eventlog *log = NULL;
	struct policy_verdict v;
	struct err e = { 0 };
	char *at;

	/* "kernel_cmdline: " rewritten as "grub_cmd: " + padding: the string
	 * still verifies, and its debugger argument is still seen */
	base_log(&b, "/vmlinuz intel_iommu=on kgdbwait", NULL);
	at = memmem(b.buf, b.len, "kernel_cmdline: ", 16);
	assert_non_null(at);
	memcpy(at, "kernel_cmdlinX: ", 16);
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_FAIL);
	/* and without a recognised command line there is no IOMMU evidence */
	assert_int_equal(v.results[RULE_IOMMU].status, POLICY_FAIL);
	eventlog_free(log);

	/* the event type changed from EV_IPL: not verifiable, fails closed */
	lb_free(&b);
	base_log(&b, "/vmlinuz intel_iommu=on", NULL);
	{
		/* the EV_IPL header: pcr 8, type 0x0D, one sha256 digest */
		static const uint8_t hdr[] = { 8, 0, 0, 0, 0x0D, 0, 0, 0, 1, 0, 0, 0, 0x0B, 0 };
		uint8_t *h = memmem(b.buf, b.len, hdr, sizeof(hdr));

		assert_non_null(h);
		h[4] = 0x01; /* EV_POST_CODE */
	}
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_NO_DEBUG].message, "does not match its digest"));
	assert_int_equal(v.results[RULE_CMDLINE].status, POLICY_FAIL);
	eventlog_free(log);
	lb_free(&b);
	policy_free(p);
}

/* Error separators and forged Secure Boot data fail log-integrity. */
static void test_log_integrity(void **state)
{
	struct policy *p = synthetic_policy();
	struct logbuild b;
	struct eventlog *log = NULL;
	struct policy_verdict v;
	struct err e = { 0 };
	uint8_t *sb;

	base_log(&b, "/vmlinuz intel_iommu=on", NULL);
	lb_event(&b, 5, EV_SEPARATOR, "\1\0\0\0", 4);
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	assert_int_equal(v.results[RULE_LOG_INTEGRITY].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_LOG_INTEGRITY].message, "error separator"));
	eventlog_free(log);
	lb_free(&b);

	/* SecureBoot measured as 0, log data rewritten to 1 */
	base_log(&b, "/vmlinuz intel_iommu=on", NULL);
	sb = memmem(b.buf, b.len, "S\0e\0c\0u\0r\0e\0B\0o\0o\0t\0", 20);
	assert_non_null(sb);
	sb[20] = 0;
	assert_int_equal(eventlog_parse(b.buf, b.len, &log, &e), 0);
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	assert_int_equal(v.results[RULE_SECURE_BOOT].status, POLICY_FAIL);
	assert_non_null(strstr(v.results[RULE_SECURE_BOOT].message, "does not match its digest"));
	assert_int_equal(v.results[RULE_LOG_INTEGRITY].status, POLICY_FAIL);
	eventlog_free(log);
	lb_free(&b);
	policy_free(p);
}

static void test_json_round_trip(void **state)
{
	struct policy *p = policy_from_log("local__ovmf_sb_shim_grub", BASELINE_DEFAULT_PCRS);
	struct policy *q = NULL;
	struct err e = { 0 };
	json_t *j, *j2;
	struct policy_verdict v1, v2;

	assert_int_equal(policy_add_pattern(p, false, "kgdb*", &e), 0);
	assert_int_equal(policy_add_boot_app(p, "sha256:" "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", &e), 0);
	j = policy_to_json(p);
	assert_int_equal(policy_from_json(j, &q, &e), 0);
	j2 = policy_to_json(q);
	assert_true(json_equal(j, j2));
	v1 = judge(p, "local__ovmf_sb_directkernel");
	v2 = judge(q, "local__ovmf_sb_directkernel");
	for (int i = 0; i < _RULE_MAX; i++) {
		assert_int_equal(v1.results[i].status, v2.results[i].status);
		assert_string_equal(v1.results[i].message, v2.results[i].message);
	}
	json_decref(j);
	json_decref(j2);
	policy_free(p);
	policy_free(q);
}

static void test_json_rejections(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"version\": 2, \"id\": \"x\"}",
		"{\"version\": 1}",
		"{\"version\": 1, \"id\": \"x\", \"rules\": {\"no-such-rule\": true}}",
		"{\"version\": 1, \"id\": \"x\", \"rules\": {\"no-debug\": 1}}",
		"{\"version\": 1, \"id\": \"x\", \"boot_apps\": [\"sha256:00\"]}",
		"{\"version\": 1, \"id\": \"x\", \"boot_apps\": [\"md5:00112233445566778899aabbccddeeff\"]}",
		"{\"version\": 1, \"id\": \"x\", \"cmdline_deny\": [\"\"]}",
		"{\"version\": 1, \"id\": \"x\", \"baselines\": [{\"name\": \"b\"}]}",
		"{\"version\": 1, \"id\": \"x\", \"baselines\": [{\"name\": \"b\", \"bank\": \"sha256\", \"pcrs\": {\"24\": []}}]}",
		"{\"version\": 1, \"id\": \"x\", \"baselines\": [{\"name\": \"b\", \"bank\": \"sha256\", \"pcrs\": {\"7\": [{\"type\": 4, \"digest\": \"00\"}]}}]}",
		"{\"version\": 1, \"id\": \"x\", \"baselines\": [{\"name\": \"b\", \"bank\": \"sha256\", \"pcrs\": {\"07\": []}}]}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct policy *p = NULL;
		struct err e = { 0 };

		assert_non_null(j);
		if (policy_from_json(j, &p, &e) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strlen(e.msg) > 5);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baseline_self_match),
		cmocka_unit_test(test_directkernel_fails_boot_apps),
		cmocka_unit_test(test_no_secure_boot_logs),
		cmocka_unit_test(test_secure_boot_on_real_logs),
		cmocka_unit_test(test_dbx_current),
		cmocka_unit_test(test_windows_debug),
		cmocka_unit_test(test_synthetic_rules),
		cmocka_unit_test(test_forged_cmdline),
		cmocka_unit_test(test_disguised_cmdline),
		cmocka_unit_test(test_log_integrity),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_rejections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
