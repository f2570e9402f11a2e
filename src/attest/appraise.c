/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/appraise.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "attest/eventlog.h"
#include "attest/evidence.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)

static const char *const code_names[] = {
	[APPRAISE_PASS] = "pass",
	[APPRAISE_BAD_TPM_STRUCTURE] = "bad_tpm_structure",
	[APPRAISE_BAD_EVENT_LOG] = "bad_event_log",
	[APPRAISE_QUOTE_INVALID] = "quote_invalid",
	[APPRAISE_PCR_MISMATCH] = "pcr_mismatch",
	[APPRAISE_TRANSPORT_KEY_INVALID] = "transport_key_invalid",
	[APPRAISE_LOG_MISMATCH] = "log_mismatch",
	[APPRAISE_POLICY_FAILED] = "policy_failed",
	[APPRAISE_INTERNAL] = "internal",
};

const char *appraise_code_name(enum appraise_result_code c)
{
	return (size_t)c < ARRAY_SIZE(code_names) ? code_names[c] : "internal";
}

static int fail(struct appraise_result *ret, enum appraise_result_code c,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct appraise_result *ret, enum appraise_result_code c,
		const char *fmt, ...)
{
	va_list ap;

	ret->code = c;
	va_start(ap, fmt);
	vsnprintf(ret->message, sizeof(ret->message), fmt, ap);
	va_end(ap);
	return 0;
}

int appraise_tpm(const struct appraise_input *in, struct appraise_result *ret)
{
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	struct quote_info cinfo;
	struct err e = { 0 };
	uint32_t banks = 0;
	int r;

	memset(ret, 0, sizeof(*ret));

	/* 1. the quote (signature, magic, type, nonce), then the reported PCR
	 *    values against its pcrDigest */
	r = quote_verify(in->ak, in->quote, in->quote_len, in->quote_sig, in->quote_sig_len,
			 in->nonce, in->nonce_len, NULL, &ret->quote, &e);
	if (r == -ENOMEM)
		return r;
	if (r == -EBADMSG || r == -EMSGSIZE)
		return fail(ret, APPRAISE_BAD_TPM_STRUCTURE, "quote: %s", e.msg);
	if (r < 0)
		return fail(ret, APPRAISE_QUOTE_INVALID, "%s", e.msg);
	{
		uint8_t digest[QUOTE_MAX_DIGEST];
		size_t dlen = 0;
		bool any = false;

		for (unsigned b = 0; b < ret->quote.n_banks; b++)
			any |= ret->quote.banks[b].mask != 0;
		if (!any)
			return fail(ret, APPRAISE_PCR_MISMATCH, "the quote selects no PCRs");
		r = quote_pcr_digest(ret->quote.sig_hash, ret->quote.banks, ret->quote.n_banks,
				     in->pcrs, digest, &dlen, &e);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return fail(ret, APPRAISE_PCR_MISMATCH, "%s", e.msg);
		if (dlen != ret->quote.pcr_digest_len ||
		    CRYPTO_memcmp(digest, ret->quote.pcr_digest, dlen) != 0)
			return fail(ret, APPRAISE_PCR_MISMATCH,
				    "the reported PCR values do not hash to the quote's pcrDigest");
		ret->quote.pcr_digest_checked = true;
	}

	/* 2. the transport key: certified by this AK for this nonce, and a
	 *    TPM-resident decryption key */
	memset(&e, 0, sizeof(e));
	if (tpm2_tpm2b_public_unmarshal(in->tk_public, in->tk_public_len, &ret->transport_key,
					&e) < 0)
		return fail(ret, APPRAISE_BAD_TPM_STRUCTURE, "transport key: %s", e.msg);
	r = quote_verify_certify(in->ak, in->tk_certify, in->tk_certify_len, in->tk_certify_sig,
				 in->tk_certify_sig_len, in->nonce, in->nonce_len,
				 &ret->transport_key, &cinfo, &e);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(ret, APPRAISE_TRANSPORT_KEY_INVALID, "transport key certify: %s", e.msg);
	if (quote_check_transport_key(&ret->transport_key, &e) < 0)
		return fail(ret, APPRAISE_TRANSPORT_KEY_INVALID, "transport key: %s", e.msg);

	/* 3. the event log is the one that produced the quoted PCRs */
	memset(&e, 0, sizeof(e));
	r = eventlog_parse(in->event_log, in->event_log_len, &log, &e);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(ret, APPRAISE_BAD_EVENT_LOG, "%s", e.msg);
	r = evidence_check_log(log, &ret->quote, in->pcrs, &e);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(ret, APPRAISE_LOG_MISMATCH, "%s", e.msg);

	/* 4. event data is trusted only where it matches its digest in a bank
	 *    the quote covers; then the policy */
	for (uint32_t i = 0; i < log->n_algs; i++)
		for (unsigned b = 0; b < ret->quote.n_banks; b++)
			if (ret->quote.banks[b].alg == log->algs[i]->tpm_id &&
			    ret->quote.banks[b].mask)
				banks |= 1u << i;
	r = eventlog_check_digests_banks(log, banks, &e);
	if (r < 0)
		return r == -ENOMEM ? r : fail(ret, APPRAISE_INTERNAL, "%s", e.msg);
	r = policy_evaluate_checked(in->policy, log, &ret->verdict, &e);
	if (r < 0)
		return r == -ENOMEM ? r : fail(ret, APPRAISE_INTERNAL, "%s", e.msg);
	ret->evaluated = true;
	if (!ret->verdict.pass) {
		unsigned n = 0;

		for (int i = 0; i < _RULE_MAX; i++)
			n += ret->verdict.results[i].status == POLICY_FAIL;
		return fail(ret, APPRAISE_POLICY_FAILED, "%u rule%s failed", n, n == 1 ? "" : "s");
	}
	ret->code = APPRAISE_PASS;
	snprintf(ret->message, sizeof(ret->message), "pass%s%s",
		 ret->verdict.baseline ? ", baseline " : "",
		 ret->verdict.baseline ? ret->verdict.baseline : "");
	return 0;
}
