/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/evidence.h"

#include <errno.h>
#include <string.h>

#include "common/hex.h"

/* The PCRs of one bank that the quote selected and the caller supplied. */
static uint32_t covered(const struct quote_info *quote, const struct quote_pcrs *quoted,
			uint16_t alg, const struct quote_pcr_bank **ret)
{
	uint32_t sel = 0;

	*ret = NULL;
	for (unsigned i = 0; i < quote->n_banks; i++)
		if (quote->banks[i].alg == alg)
			sel |= quote->banks[i].mask;
	for (unsigned k = 0; k < quoted->n_banks; k++)
		if (quoted->banks[k].alg == alg) {
			*ret = &quoted->banks[k];
			return sel & quoted->banks[k].mask;
		}
	return 0;
}

int evidence_check_log(const struct eventlog *log, const struct quote_info *quote,
		       const struct quote_pcrs *quoted, struct err *e)
{
	struct eventlog_pcrs replay;
	uint32_t mask = 0;
	int r;

	if (!quote->pcr_digest_checked)
		return err_set(e, EINVAL, "the quote's pcrDigest was not checked against PCR values");
	for (uint32_t i = 0; i < log->n_algs; i++) {
		const struct quote_pcr_bank *qb;

		if (covered(quote, quoted, log->algs[i]->tpm_id, &qb))
			mask |= 1u << i;
	}
	if (!mask)
		return err_set(e, EINVAL,
			       "the event log and the quote share no PCR bank");
	r = eventlog_replay(log, mask, &replay, e);
	if (r < 0)
		return r;
	for (uint32_t b = 0; b < replay.n_banks; b++) {
		const struct eventlog_bank *bk = &replay.banks[b];
		const struct quote_pcr_bank *qb;
		uint32_t cov = covered(quote, quoted, bk->alg->tpm_id, &qb);

		for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
			char got[2 * EVENTLOG_MAX_DIGEST + 1], want[2 * EVENTLOG_MAX_DIGEST + 1];

			if (!(bk->extended & (1u << p)))
				continue;
			if (!(cov & (1u << p)))
				return err_set(e, EKEYREJECTED,
					       "the event log extends PCR %u (%s), which the quote does not cover",
					       p, bk->alg->name);
			if (memcmp(qb->values[p], bk->pcr[p], bk->alg->size) == 0)
				continue;
			hex_encode(bk->pcr[p], bk->alg->size, got);
			hex_encode(qb->values[p], bk->alg->size, want);
			return err_set(e, EKEYREJECTED,
				       "PCR %u (%s): the event log replays to %s, the quoted value is %s",
				       p, bk->alg->name, got, want);
		}
	}
	return 0;
}
