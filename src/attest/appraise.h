/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appraisal of a TPM-mode attestation (POST /v1/attest, docs/protocol.md):
 * everything hgsd decides from the evidence itself, with no I/O. The caller
 * has already found the enrolled AK and the host, checked the nonce's tag and
 * age, and consumes the nonce after a pass.
 *
 * Order: quote (signature, magic, type, extraData == nonce), pcrDigest over
 * the reported PCR values, the transport key's certify (by the AK, same
 * nonce, name of the reported public) and its attributes, the event log
 * replays to the quoted PCRs, event digests in the quoted banks, policy.
 * The first failure ends the appraisal, except the policy, whose failures
 * are all reported.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/policy.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/err.h"

/* The stable reasons of docs/protocol.md this appraisal can return. */
enum appraise_result_code {
	APPRAISE_PASS = 0,
	APPRAISE_BAD_TPM_STRUCTURE,  /* "bad_tpm_structure" */
	APPRAISE_BAD_EVENT_LOG,      /* "bad_event_log" */
	APPRAISE_QUOTE_INVALID,      /* "quote_invalid" */
	APPRAISE_PCR_MISMATCH,       /* "pcr_mismatch" */
	APPRAISE_TRANSPORT_KEY_INVALID, /* "transport_key_invalid" */
	APPRAISE_LOG_MISMATCH,       /* "log_mismatch" */
	APPRAISE_POLICY_FAILED,      /* "policy_failed" */
	APPRAISE_INTERNAL,           /* "internal" */
};

const char *appraise_code_name(enum appraise_result_code c);

struct appraise_input {
	const struct tpm2_key *ak;  /* the enrolled AK (with its public area) */
	const uint8_t *nonce;
	size_t nonce_len;
	const uint8_t *quote, *quote_sig; /* TPMS_ATTEST, TPMT_SIGNATURE */
	size_t quote_len, quote_sig_len;
	const struct quote_pcrs *pcrs;    /* the PCR values the host reported */
	const uint8_t *event_log;
	size_t event_log_len;
	const uint8_t *tk_public;         /* transport key: TPM2B_PUBLIC */
	size_t tk_public_len;
	const uint8_t *tk_certify, *tk_certify_sig;
	size_t tk_certify_len, tk_certify_sig_len;
	const struct policy *policy;
};

struct appraise_result {
	enum appraise_result_code code;
	char message[ERR_MSG_MAX];     /* the first failure, or a summary */
	struct quote_info quote;       /* valid from APPRAISE_PCR_MISMATCH on */
	TPMT_PUBLIC transport_key;     /* valid when code is PASS or POLICY_FAILED */
	bool evaluated;                /* verdict below is valid */
	struct policy_verdict verdict;
};

/* Fills *ret; returns 0 when an appraisal was made (pass or a failure the
 * code names) and a negative errno only for internal errors (ENOMEM). */
int appraise_tpm(const struct appraise_input *in, struct appraise_result *ret);
