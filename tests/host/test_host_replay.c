/* SPDX-License-Identifier: Apache-2.0 */
/*
 * After tools/shieldvm-tpm-replay-log "booted" swtpm with a real firmware
 * log (tests/host/replay.sh): a quote over the PCRs verifies, and
 * evidence_check_log accepts that log against the quoted PCRs and rejects
 * another one.
 *   test_host_replay BOOTED_LOG OTHER_LOG
 */
#include <errno.h>
#include <string.h>

#include "attest/eventlog.h"
#include "attest/evidence.h"
#include "attest/quote.h"
#include "common/file.h"
#include "common/util.h"
#include "helpers.h"

static const char *booted_path, *other_path;

static struct eventlog *load_log(const char *path)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct eventlog *log = NULL;
	struct err e = { 0 };
	size_t len;

	check_ok(file_read(path, EVENTLOG_MAX_SIZE, &buf, &len, &e), &e);
	check_ok(eventlog_parse(buf, len, &log, &e), &e);
	return log;
}

static void test_booted_quote(void **state)
{
	static const uint8_t nonce[32] = { 0xb0, 0x07 };
	_cleanup_(host_tpm_closep) struct host_tpm *t = test_tpm_open();
	_cleanup_free_ struct host_tpm_quote *q = calloc(1, sizeof(*q));
	struct eventlog *booted = load_log(booted_path);
	struct eventlog *other = load_log(other_path);
	struct host_tpm_key ak;
	struct tpm2_key *key = NULL;
	struct quote_info info;
	struct err e = { 0 };

	(void)state;
	assert_non_null(q);
	check_ok(host_tpm_ak_create(t, HOST_TPM_KEY_ECC_P256, &ak, &e), &e);
	/* Every allocated bank, including ones the log lacks. */
	check_ok(host_tpm_quote(t, &ak, NULL, 0, nonce, sizeof(nonce), q, &e),
		 &e);
	check_ok(tpm2_key_from_public(ak.pub.pub, ak.pub.pub_len, &key, &e),
		 &e);
	check_ok(quote_verify(key, q->att.attest, q->att.attest_len, q->att.sig,
			      q->att.sig_len, nonce, sizeof(nonce), &q->pcrs,
			      &info, &e),
		 &e);
	assert_true(info.pcr_digest_checked);

	check_ok(evidence_check_log(booted, &info, &q->pcrs, &e), &e);

	memset(&e, 0, sizeof(e));
	assert_int_equal(evidence_check_log(other, &info, &q->pcrs, &e),
			 -EKEYREJECTED);
	printf("# other log rejected: %s\n", e.msg);

	tpm2_key_free(key);
	eventlog_free(booted);
	eventlog_free(other);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_booted_quote),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s BOOTED_LOG OTHER_LOG\n", argv[0]);
		return 2;
	}
	booted_path = argv[1];
	other_path = argv[2];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
