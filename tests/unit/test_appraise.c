/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The appraisal behind POST /v1/attest, on real event logs with quotes and
 * transport-key certifications made in the exact TPM wire format by a
 * software AK (tests/tpm/soft_quote.c). Every rejection path has its test.
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
#include <tss2/tss2_mu.h>

#include "../tpm/soft_quote.h"
#include "attest/appraise.h"
#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "common/file.h"
#include "common/util.h"

struct fixture {
	struct soft_ak ak, tk;       /* attestation key; transport key */
	struct tpm2_key *ak_key;
	uint8_t nonce[41];
	uint8_t *log;
	size_t log_len;
	struct quote_pcrs pcrs;      /* what the TPM holds after this boot */
	uint8_t quote[2048], qsig[1024], cert[2048], csig[1024], tkpub[1024];
	size_t quote_len, qsig_len, cert_len, csig_len, tkpub_len;
	struct policy *policy;
};

static uint8_t *load_log(const char *name, size_t *len)
{
	char path[4096];
	uint8_t *buf = NULL;
	struct err e = { 0 };

	snprintf(path, sizeof(path), "%s/eventlogs/%s.bin", getenv("SHIELDVM_TESTDATA"), name);
	if (file_read(path, 1u << 22, &buf, len, &e) < 0)
		fail_msg("%s", err_str(&e));
	return buf;
}

/* The PCR values a TPM would hold after booting with this log: the replay,
 * plus reset values for every PCR the log does not extend. */
static void tpm_pcrs(const uint8_t *log_bytes, size_t len, struct quote_pcrs *out)
{
	struct eventlog *log = NULL;
	struct eventlog_pcrs r;
	struct err e = { 0 };

	assert_int_equal(eventlog_parse(log_bytes, len, &log, &e), 0);
	assert_int_equal(eventlog_replay(log, ~0u, &r, &e), 0);
	memset(out, 0, sizeof(*out));
	for (uint32_t b = 0; b < r.n_banks; b++) {
		struct quote_pcr_bank *qb = quote_pcrs_add_bank(out, r.banks[b].alg->tpm_id);

		qb->mask = 0xffffff;
		for (unsigned p = 0; p < 24; p++)
			memcpy(qb->values[p], r.banks[b].pcr[p], r.banks[b].alg->size);
	}
	eventlog_free(log);
}

static void make_evidence(struct fixture *f, const char *logname)
{
	struct quote_selection_bank sel = { .alg = TPM2_ALG_SHA256, .mask = 0xffffff };
	uint8_t name[TPM2_NAME_MAX];
	size_t name_len, off = 0;
	struct err e = { 0 };
	TPM2B_PUBLIC tk2b = { 0 };

	free(f->log);
	f->log = load_log(logname, &f->log_len);
	tpm_pcrs(f->log, f->log_len, &f->pcrs);
	assert_int_equal(soft_quote(&f->ak, f->nonce, sizeof(f->nonce), &sel, 1, &f->pcrs,
				    f->quote, sizeof(f->quote), &f->quote_len, f->qsig,
				    sizeof(f->qsig), &f->qsig_len), 0);
	/* the transport key: a decryption key, certified by the AK */
	assert_int_equal(tpm2_public_name(&f->tk.pub, name, &name_len, &e), 0);
	assert_int_equal(soft_certify(&f->ak, f->nonce, sizeof(f->nonce), name, name_len, f->cert,
				      sizeof(f->cert), &f->cert_len, f->csig, sizeof(f->csig),
				      &f->csig_len), 0);
	tk2b.publicArea = f->tk.pub;
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&tk2b, f->tkpub, sizeof(f->tkpub), &off), 0);
	f->tkpub_len = off;
}

static struct appraise_input input(const struct fixture *f)
{
	return (struct appraise_input){
		.ak = f->ak_key, .nonce = f->nonce, .nonce_len = sizeof(f->nonce),
		.quote = f->quote, .quote_len = f->quote_len,
		.quote_sig = f->qsig, .quote_sig_len = f->qsig_len,
		.pcrs = &f->pcrs, .event_log = f->log, .event_log_len = f->log_len,
		.tk_public = f->tkpub, .tk_public_len = f->tkpub_len,
		.tk_certify = f->cert, .tk_certify_len = f->cert_len,
		.tk_certify_sig = f->csig, .tk_certify_sig_len = f->csig_len,
		.policy = f->policy,
	};
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct eventlog *log = NULL;
	struct baseline *b = NULL;
	struct err e = { 0 };
	uint8_t pub[1024];
	size_t pub_len;

	assert_int_equal(soft_ak_new(&f->ak, TPM2_ALG_ECC, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA,
				     TPM2_ALG_SHA256), 0);
	assert_int_equal(soft_ak_public(&f->ak, pub, sizeof(pub), &pub_len), 0);
	assert_int_equal(tpm2_key_from_public(pub, pub_len, &f->ak_key, &e), 0);
	assert_int_equal(soft_ak_new(&f->tk, TPM2_ALG_ECC, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA,
				     TPM2_ALG_SHA256), 0);
	f->tk.pub.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				     TPMA_OBJECT_DECRYPT;
	f->tk.pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	memset(f->nonce, 0x5a, sizeof(f->nonce));

	/* policy: baseline of the reference boot; this VM has no IOMMU flag */
	f->log = load_log("local__ovmf_sb_shim_grub", &f->log_len);
	assert_int_equal(eventlog_parse(f->log, f->log_len, &log, &e), 0);
	eventlog_check_digests(log, &e);
	assert_int_equal(baseline_capture(log, "ovmf", "test", NULL, BASELINE_DEFAULT_PCRS, &b, &e), 0);
	f->policy = policy_new("test-policy");
	assert_int_equal(policy_add_baseline(f->policy, b, &e), 0);
	f->policy->enabled[RULE_IOMMU] = false;
	eventlog_free(log);
	make_evidence(f, "local__ovmf_sb_shim_grub");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	soft_ak_free(&f->ak);
	soft_ak_free(&f->tk);
	tpm2_key_free(f->ak_key);
	policy_free(f->policy);
	free(f->log);
	free(f);
	return 0;
}

static struct appraise_result run(const struct appraise_input *in)
{
	struct appraise_result r;

	assert_int_equal(appraise_tpm(in, &r), 0);
	return r;
}

static void expect(const struct appraise_input *in, enum appraise_result_code code,
		   const char *needle)
{
	struct appraise_result r = run(in);

	if (r.code != code || (needle && !strstr(r.message, needle)))
		fail_msg("expected %s (%s), got %s: %s", appraise_code_name(code),
			 needle ? needle : "", appraise_code_name(r.code), r.message);
}

static void test_pass(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in = input(f);
	struct appraise_result r = run(&in);

	if (r.code != APPRAISE_PASS)
		fail_msg("%s: %s", appraise_code_name(r.code), r.message);
	assert_true(r.verdict.pass);
	assert_string_equal(r.verdict.baseline, "ovmf");
	assert_true(r.transport_key.objectAttributes & TPMA_OBJECT_DECRYPT);
}

static void test_quote_rejections(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in = input(f);
	uint8_t other[41];

	/* stale or foreign nonce: extraData differs */
	memset(other, 0x11, sizeof(other));
	in.nonce = other;
	expect(&in, APPRAISE_QUOTE_INVALID, "extraData");
	in = input(f);
	/* a byte of the signature */
	f->qsig[f->qsig_len - 3] ^= 1;
	expect(&in, APPRAISE_QUOTE_INVALID, NULL);
	f->qsig[f->qsig_len - 3] ^= 1;
	/* truncated quote */
	in.quote_len = 10;
	expect(&in, APPRAISE_BAD_TPM_STRUCTURE, NULL);
}

static void test_pcr_mismatch(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in = input(f);

	f->pcrs.banks[0].values[7][0] ^= 1;
	expect(&in, APPRAISE_PCR_MISMATCH, "pcrDigest");
	f->pcrs.banks[0].values[7][0] ^= 1;
	expect(&in, APPRAISE_PASS, NULL);
}

static void test_log_mismatch(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in;
	size_t len;
	uint8_t *other = load_log("local__ovmf_sb_directkernel", &len);

	/* another boot's log against this boot's quote */
	in = input(f);
	in.event_log = other;
	in.event_log_len = len;
	expect(&in, APPRAISE_LOG_MISMATCH, "the event log replays to");
	free(other);

	/* one byte of this log's last event digest */
	in = input(f);
	f->log[f->log_len - 1 - 4 - 20] ^= 0x80; /* inside the EV_EFI_ACTION string? */
	{
		struct appraise_result r = run(&in);

		assert_true(r.code == APPRAISE_LOG_MISMATCH || r.code == APPRAISE_POLICY_FAILED ||
			    r.code == APPRAISE_BAD_EVENT_LOG);
	}
	f->log[f->log_len - 1 - 4 - 20] ^= 0x80;
	/* malformed log */
	in.event_log_len = 7;
	expect(&in, APPRAISE_BAD_EVENT_LOG, NULL);
}

/*
 * Every byte of the log, changed in turn. Bytes that bind the log to the
 * quote (PCR index, digest list, sizes), the event type wherever the
 * baseline compares it (PCRs 0-7), and data the policy trusts because it
 * matches its digest must never still pass. The rest may: the TPM never saw
 * it and no decision reads it (the SpecID header and other EV_NO_ACTION
 * events, the event type outside the baseline's PCRs, data the spec does not
 * hash such as image load addresses, the Boot#### names EDK2 leaves out of
 * the digest, EV_EFI_VARIABLE_AUTHORITY data, which log-integrity exempts
 * for real firmware's sake, and EV_IPL strings other than the kernel command
 * line, which no rule reads).
 */
static void test_log_every_byte(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in = input(f);
	unsigned counts[APPRAISE_INTERNAL + 1] = { 0 }, unbound_pass = 0;
	struct eventlog *log = NULL;
	struct err e = { 0 };
	uint8_t *bound = calloc(f->log_len, 1);

	assert_int_equal(eventlog_parse(f->log, f->log_len, &log, &e), 0);
	eventlog_check_digests(log, &e);
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		size_t data_off = (size_t)(ev->data - log->raw);

		if (ev->type == EV_NO_ACTION)
			continue;
		memset(bound + ev->offset, 1, 4);                           /* PCR */
		if (ev->pcr < 8)
			memset(bound + ev->offset + 4, 1, 4);               /* type */
		memset(bound + ev->offset + 8, 1, data_off - ev->offset - 8); /* digests, size */
		if (ev->check == EVENTLOG_CHECK_OK && ev->type != EV_EFI_VARIABLE_BOOT &&
		    ev->type != EV_EFI_VARIABLE_BOOT2 && ev->type != EV_EFI_VARIABLE_AUTHORITY &&
		    (ev->type != EV_IPL ||
		     (ev->data_len > 16 && memcmp(ev->data, "kernel_cmdline: ", 16) == 0)))
			memset(bound + data_off, 1, ev->data_len);
	}
	eventlog_free(log);
	for (size_t i = 0; i < f->log_len; i++) {
		struct appraise_result r;

		f->log[i] ^= 0x01;
		r = run(&in);
		f->log[i] ^= 0x01;
		if (r.code == APPRAISE_PASS) {
			if (bound[i])
				fail_msg("measured log byte %zu changed and the attestation still passes", i);
			unbound_pass++;
			continue;
		}
		counts[r.code]++;
	}
	print_message("  %zu byte flips: %u bad_event_log, %u log_mismatch, %u policy_failed, "
		      "%u passed (bytes no decision reads)\n",
		      f->log_len, counts[APPRAISE_BAD_EVENT_LOG], counts[APPRAISE_LOG_MISMATCH],
		      counts[APPRAISE_POLICY_FAILED], unbound_pass);
	free(bound);
}

static void test_transport_key_rejections(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in = input(f);
	uint32_t attrs = f->tk.pub.objectAttributes;

	/* a key that is not TPM-resident (attributes) */
	f->tk.pub.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM;
	make_evidence(f, "local__ovmf_sb_shim_grub");
	in = input(f);
	expect(&in, APPRAISE_TRANSPORT_KEY_INVALID, "fixedTPM");
	/* a signing key */
	f->tk.pub.objectAttributes = attrs | TPMA_OBJECT_SIGN_ENCRYPT;
	make_evidence(f, "local__ovmf_sb_shim_grub");
	in = input(f);
	expect(&in, APPRAISE_TRANSPORT_KEY_INVALID, NULL);
	f->tk.pub.objectAttributes = attrs;
	make_evidence(f, "local__ovmf_sb_shim_grub");
	in = input(f);
	expect(&in, APPRAISE_PASS, NULL);
	/* certify of another key: the reported public is not what was certified */
	f->tkpub[f->tkpub_len - 1] ^= 1;
	expect(&in, APPRAISE_TRANSPORT_KEY_INVALID, "certify");
	f->tkpub[f->tkpub_len - 1] ^= 1;
	/* certify signature */
	f->csig[f->csig_len - 2] ^= 1;
	expect(&in, APPRAISE_TRANSPORT_KEY_INVALID, "certify");
	f->csig[f->csig_len - 2] ^= 1;
	expect(&in, APPRAISE_PASS, NULL);
}

static void test_policy_failed(void **state)
{
	struct fixture *f = *state;
	struct appraise_input in;
	struct appraise_result r;

	/* a host that really booted its kernel with -kernel: the quote and log
	 * agree, the policy says no and explains */
	make_evidence(f, "local__ovmf_sb_directkernel");
	in = input(f);
	r = run(&in);
	assert_int_equal(r.code, APPRAISE_POLICY_FAILED);
	assert_true(r.evaluated);
	assert_int_equal(r.verdict.results[RULE_BOOT_APPS_MEASURED].status, POLICY_FAIL);
	assert_int_equal(r.verdict.results[RULE_BASELINE].status, POLICY_FAIL);
	/* Secure Boot off */
	make_evidence(f, "gotpmtools__ubuntu-2104-no-secure-boot");
	in = input(f);
	r = run(&in);
	assert_int_equal(r.code, APPRAISE_POLICY_FAILED);
	assert_non_null(strstr(r.verdict.results[RULE_SECURE_BOOT].message, "SecureBoot is 0"));
	make_evidence(f, "local__ovmf_sb_shim_grub");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_quote_rejections),
		cmocka_unit_test(test_pcr_mismatch),
		cmocka_unit_test(test_log_mismatch),
		cmocka_unit_test(test_log_every_byte),
		cmocka_unit_test(test_transport_key_rejections),
		cmocka_unit_test(test_policy_failed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
