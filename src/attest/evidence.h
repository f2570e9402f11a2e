/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Binding an event log to a verified quote. quote_verify() proves the PCR
 * values the host reported are the ones its TPM holds; this proves the event
 * log the host sent replays to exactly those values, so every event the
 * policy reads is covered by the TPM's signature.
 */
#pragma once

#include "attest/eventlog.h"
#include "attest/quote.h"
#include "common/err.h"

/*
 * quote is what quote_verify() returned for a quote it accepted with the PCR
 * values in quoted (so quote->pcr_digest_checked is true). Replay log in every
 * bank the quote selects, and require, for each PCR the log extends in such a
 * bank, that the quote selected it and that the quoted value equals the
 * replayed one. At least one bank must be shared; values for banks or PCRs
 * the quote did not select are never trusted. PCRs the quote covers but the log never extends (IMA's
 * PCR 10, for example) are not the log's business. 0, -EKEYREJECTED on mismatch or
 * missing coverage (with a message naming PCR, bank and both values),
 * -EINVAL when no bank is shared.
 */
int evidence_check_log(const struct eventlog *log, const struct quote_info *quote,
		       const struct quote_pcrs *quoted, struct err *e);
