/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation baselines: the ordered measured events, per PCR, of a
 * reference host's event log. A host matches a baseline when, for every PCR
 * the baseline covers, its log measured the same events (type and digest in
 * the baseline's bank) in the same order.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/eventlog.h"
#include "common/err.h"

#define BASELINE_DEFAULT_PCRS 0xFFu /* PCRs 0-7: firmware and boot chain */

struct baseline_event {
	uint32_t type;
	uint8_t digest[EVENTLOG_MAX_DIGEST];
	char *description;
};

struct baseline_pcr {
	uint32_t n_events;
	struct baseline_event *events;
};

struct baseline {
	char *name;
	char *source;        /* file or host the log came from (informative) */
	const struct hash_alg *alg;
	uint32_t pcr_mask;
	struct baseline_pcr pcrs[EVENTLOG_NUM_PCRS];
	/* dbx revocations present in the reference log (SHA-256 of each
	 * EFI_SIGNATURE_DATA's data), sorted, for the dbx-current rule. */
	bool has_dbx;
	uint32_t n_dbx;
	uint8_t (*dbx)[32];
};

/* Capture from a parsed log; alg NULL = the log's strongest bank. */
int baseline_capture(const struct eventlog *log, const char *name,
		     const char *source, const struct hash_alg *alg,
		     uint32_t pcr_mask, struct baseline **ret, struct err *e);
void baseline_free(struct baseline *b);

json_t *baseline_to_json(const struct baseline *b);
int baseline_from_json(const json_t *j, struct baseline **ret, struct err *e);

/* Collect the verified dbx entries of a log (SHA-256 of each signature's
 * data), sorted. *ret_n = 0 and *ret NULL with has = false when no dbx
 * measurement with a valid digest exists. */
int baseline_collect_dbx(const struct eventlog *log, bool *ret_has,
			 uint8_t (**ret)[32], uint32_t *ret_n, struct err *e);

/* qsort/bsearch comparator for the 32-byte dbx entries. */
int baseline_cmp_sha256(const void *a, const void *b);

/* How a log compares with a baseline. */
struct baseline_diff {
	bool match;
	uint32_t matched;      /* events that matched, summed over PCRs */
	uint32_t pcr;          /* first difference: PCR, */
	uint32_t pos;          /* position within that PCR's sequence, */
	int32_t log_index;     /* index in the host log (-1: log ran out) */
	char message[ERR_MSG_MAX];
};

/* The log must have had eventlog_check_digests() run. */
int baseline_compare(const struct baseline *b, const struct eventlog *log,
		     struct baseline_diff *ret);
