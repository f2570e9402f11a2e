/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A real TPM quote and the event log of the same boot (Google Compute
 * Engine vTPM, COS 85, from go-tpm-tools; ../shared/testdata/quotes): the
 * quote verifies over the reported PCRs, the log replays to exactly those
 * PCRs in all three banks, and any change to the log is caught.
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

#include "attest/eventlog.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"

#define DIR "quotes/gotpmtools__gce-cos-85-nonce9009"
static const uint8_t nonce[] = { 0x90, 0x09 };

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[4096];
	uint8_t *buf = NULL;
	struct err e = { 0 };

	snprintf(path, sizeof(path), "%s/%s/%s", getenv("SHIELDVM_TESTDATA"), DIR, name);
	if (file_read(path, 1u << 20, &buf, len, &e) < 0)
		fail_msg("%s", err_str(&e));
	return buf;
}

/* The PCR values the host reported with quote q (bank, PCRs 0-23). */
static void reported_pcrs(size_t q, struct quote_pcrs *out, uint16_t *alg)
{
	char path[4096];
	json_t *m, *quote, *v;
	const char *key;
	struct quote_pcr_bank *b;

	snprintf(path, sizeof(path), "%s/%s/meta.json", getenv("SHIELDVM_TESTDATA"), DIR);
	m = json_load_file(path, 0, NULL);
	assert_non_null(m);
	quote = json_array_get(json_object_get(m, "quotes"), q);
	assert_non_null(quote);
	*alg = hash_alg_by_name(json_string_value(json_object_get(quote, "bank")))->tpm_id;
	memset(out, 0, sizeof(*out));
	b = quote_pcrs_add_bank(out, *alg);
	json_object_foreach(json_object_get(quote, "pcrs"), key, v) {
		unsigned p = (unsigned)strtoul(key, NULL, 10);

		assert_true(p < 24);
		assert_true(hex_decode(json_string_value(v), b->values[p], QUOTE_MAX_DIGEST) > 0);
		b->mask |= 1u << p;
	}
	json_decref(m);
}

static struct eventlog *parse(const uint8_t *buf, size_t len)
{
	struct eventlog *log = NULL;
	struct err e = { 0 };

	if (eventlog_parse(buf, len, &log, &e) < 0)
		fail_msg("%s", err_str(&e));
	return log;
}

static void test_real_quote_and_log(void **state)
{
	static const char *const files[][2] = {
		{ "quote_sha1.TPMS_ATTEST.bin", "quote_sha1.TPMT_SIGNATURE.bin" },
		{ "quote_sha256.TPMS_ATTEST.bin", "quote_sha256.TPMT_SIGNATURE.bin" },
		{ "quote_sha384.TPMS_ATTEST.bin", "quote_sha384.TPMT_SIGNATURE.bin" },
	};
	size_t aklen, loglen;
	uint8_t *akbuf = slurp("ak_pub.TPMT_PUBLIC.bin", &aklen);
	uint8_t *logbuf = slurp("event_log.bin", &loglen);
	struct tpm2_key *ak = NULL;
	struct err e = { 0 };
	struct eventlog *log = parse(logbuf, loglen);

	assert_int_equal(tpm2_key_from_public(akbuf, aklen, &ak, &e), 0);
	for (size_t q = 0; q < ARRAY_SIZE(files); q++) {
		struct quote_pcrs pcrs;
		uint16_t alg;
		size_t alen, slen;
		uint8_t *attest = slurp(files[q][0], &alen), *sig = slurp(files[q][1], &slen);
		struct quote_info info;

		reported_pcrs(q, &pcrs, &alg);
		memset(&e, 0, sizeof(e));
		if (quote_verify(ak, attest, alen, sig, slen, nonce, sizeof(nonce), &pcrs, &info, &e) < 0)
			fail_msg("quote %zu: %s", q, err_str(&e));
		if (evidence_check_log(log, &info, &pcrs, &e) < 0)
			fail_msg("quote %zu: %s", q, err_str(&e));

		/* every event's digest in this bank, changed in turn: the log no
		 * longer replays to the quoted PCRs, and the error names the PCR */
		for (size_t i = 0; i < log->n_events; i++) {
			const struct eventlog_digest *d = eventlog_event_digest(&log->events[i], alg);
			struct eventlog *bad;
			char want[32];
			size_t off;

			if (!d || log->events[i].type == EV_NO_ACTION)
				continue;
			off = (size_t)(d->bytes - log->raw);
			logbuf[off + i % d->alg->size] ^= 0x40;
			bad = parse(logbuf, loglen);
			memset(&e, 0, sizeof(e));
			assert_int_equal(evidence_check_log(bad, &info, &pcrs, &e), -EKEYREJECTED);
			snprintf(want, sizeof(want), "PCR %u (%s)", log->events[i].pcr, d->alg->name);
			if (!strstr(e.msg, want))
				fail_msg("event %zu: %s", i, e.msg);
			eventlog_free(bad);
			logbuf[off + i % d->alg->size] ^= 0x40;
		}

		/* a log with its last measured event removed */
		{
			const struct eventlog_event *last = &log->events[log->n_events - 1];
			struct eventlog *cut = parse(logbuf, last->offset);

			memset(&e, 0, sizeof(e));
			assert_int_equal(evidence_check_log(cut, &info, &pcrs, &e), -EKEYREJECTED);
			eventlog_free(cut);
		}

		/* the quote does not select a PCR the log extends: a value
		 * supplied for it is not trusted, even if it matches */
		{
			struct quote_info narrow = info;

			narrow.banks[0].mask &= ~(1u << 4);
			memset(&e, 0, sizeof(e));
			assert_int_equal(evidence_check_log(log, &narrow, &pcrs, &e), -EKEYREJECTED);
			assert_non_null(strstr(e.msg, "extends PCR 4"));
			/* nor a bank the quote did not select */
			narrow = info;
			narrow.banks[0].alg = TPM_ALG_SHA512;
			memset(&e, 0, sizeof(e));
			assert_int_equal(evidence_check_log(log, &narrow, &pcrs, &e), -EINVAL);
			/* nor values whose pcrDigest was never checked */
			narrow = info;
			narrow.pcr_digest_checked = false;
			memset(&e, 0, sizeof(e));
			assert_int_equal(evidence_check_log(log, &narrow, &pcrs, &e), -EINVAL);
		}
		pcrs.banks[0].mask &= ~(1u << 4);
		memset(&e, 0, sizeof(e));
		assert_int_equal(evidence_check_log(log, &info, &pcrs, &e), -EKEYREJECTED);
		assert_non_null(strstr(e.msg, "extends PCR 4"));
		free(attest);
		free(sig);
	}

	/* reported PCRs made to agree with a tampered log fail the quote */
	{
		struct quote_pcrs pcrs;
		uint16_t alg;
		size_t alen, slen;
		uint8_t *attest = slurp(files[1][0], &alen), *sig = slurp(files[1][1], &slen);

		reported_pcrs(1, &pcrs, &alg);
		pcrs.banks[0].values[4][0] ^= 1;
		memset(&e, 0, sizeof(e));
		assert_true(quote_verify(ak, attest, alen, sig, slen, nonce, sizeof(nonce), &pcrs, NULL, &e) < 0);
		free(attest);
		free(sig);
	}

	/* no bank in common */
	{
		struct quote_pcrs none = { 0 };
		struct quote_info qi = { .n_banks = 1, .pcr_digest_checked = true };

		qi.banks[0].alg = TPM_ALG_SHA512;
		qi.banks[0].mask = 0xffffff;
		quote_pcrs_add_bank(&none, TPM_ALG_SHA512)->mask = 0xffffff;
		memset(&e, 0, sizeof(e));
		assert_int_equal(evidence_check_log(log, &qi, &none, &e), -EINVAL);
	}
	tpm2_key_free(ak);
	eventlog_free(log);
	free(logbuf);
	free(akbuf);
}

/* A quote is only evidence when signed by a restricted signing key. */
static void test_unrestricted_ak(void **state)
{
	size_t aklen, alen, slen;
	uint8_t *akbuf = slurp("ak_pub.TPMT_PUBLIC.bin", &aklen);
	uint8_t *attest = slurp("quote_sha256.TPMS_ATTEST.bin", &alen);
	uint8_t *sig = slurp("quote_sha256.TPMT_SIGNATURE.bin", &slen);
	struct tpm2_key *ak = NULL;
	struct err e = { 0 };
	TPMT_PUBLIC pub;

	assert_int_equal(tpm2_public_unmarshal(akbuf, aklen, &pub, &e), 0);
	assert_true(pub.objectAttributes & TPMA_OBJECT_RESTRICTED);
	pub.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	assert_int_equal(tpm2_key_from_tpmt(&pub, &ak, &e), 0);
	assert_int_equal(quote_verify(ak, attest, alen, sig, slen, nonce, sizeof(nonce), NULL,
				      NULL, &e), -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "not a restricted signing key"));
	tpm2_key_free(ak);
	free(akbuf);
	free(attest);
	free(sig);
}

/* The same boot judged by policy: Secure Boot on, every stage measured. */
static void test_real_log_policy(void **state)
{
	size_t loglen;
	uint8_t *logbuf = slurp("event_log.bin", &loglen);
	struct eventlog *log = parse(logbuf, loglen);
	struct policy *p = policy_new("test");
	struct baseline *b = NULL;
	struct policy_verdict v;
	struct err e = { 0 };

	eventlog_check_digests(log, &e);
	assert_int_equal(baseline_capture(log, "gce-cos-85", "test", NULL, BASELINE_DEFAULT_PCRS, &b, &e), 0);
	assert_int_equal(policy_add_baseline(p, b, &e), 0);
	assert_int_equal(policy_evaluate(p, log, &v, &e), 0);
	assert_int_equal(v.results[RULE_BASELINE].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_SECURE_BOOT].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_BOOT_APPS_MEASURED].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_NO_DEBUG].status, POLICY_PASS);
	assert_int_equal(v.results[RULE_LOG_INTEGRITY].status, POLICY_PASS);
	policy_free(p);
	eventlog_free(log);
	free(logbuf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_quote_and_log),
		cmocka_unit_test(test_unrestricted_ak),
		cmocka_unit_test(test_real_log_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
