/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm-tpm-replay-log: "boot" a fresh TPM (swtpm) with a real firmware
 * event log by extending every measured event's digests into its PCRs, in
 * every bank both the TPM and the log have. Afterwards a quote from that
 * TPM matches the log. For tests and demos; never point it at a real host's
 * TPM (it would spoil that boot's measurements).
 *
 * Usage: shieldvm-tpm-replay-log [--tcti TCTI] LOG
 * Exit: 0 done, 1 refused (StartupLocality != 0, no shared bank), 2 usage,
 * 3 input or TPM error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "attest/eventlog.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/util.h"
#include "host/tpm.h"

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shieldvm-tpm-replay-log [--tcti TCTI] LOG\n"
		"  Extend every event of the TCG event log LOG into the TPM's PCRs\n"
		"  (all banks the TPM has and the log carries). TCTI defaults to\n"
		"  $TPM2TOOLS_TCTI, then %s.\n",
		HOST_TPM_DEFAULT_TCTI);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(host_tpm_closep) struct host_tpm *tpm = NULL;
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	const char *tcti = getenv("TPM2TOOLS_TCTI");
	uint16_t banks[TPM2_NUM_PCR_BANKS];
	uint16_t use[EVENTLOG_MAX_BANKS];
	size_t n_banks, n_use = 0, len, extended = 0;
	struct err e = { 0 };
	int c, r;

	while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			tcti = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}

	r = file_read(argv[optind], EVENTLOG_MAX_SIZE, &buf, &len, &e);
	if (r >= 0)
		r = eventlog_parse(buf, len, &log, &e);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[optind], err_str(&e));
		return 3;
	}
	/* PCR 0 starts at the StartupLocality; extends cannot set it. */
	if (log->has_startup_locality && log->startup_locality != 0) {
		fprintf(stderr,
			"%s: StartupLocality is %u: PCR 0 of a TPM started at locality 0 cannot reach this log's value\n",
			argv[optind], log->startup_locality);
		return 1;
	}

	r = host_tpm_open(tcti, &tpm, &e);
	if (r >= 0)
		r = host_tpm_pcr_banks(tpm, banks, ARRAY_SIZE(banks), &n_banks,
				       &e);
	if (r < 0) {
		fprintf(stderr, "TPM: %s\n", err_str(&e));
		return 3;
	}
	for (size_t i = 0; i < log->n_algs; i++) {
		bool found = false;

		for (size_t j = 0; j < n_banks; j++)
			if (banks[j] == log->algs[i]->tpm_id)
				found = true;
		if (found)
			use[n_use++] = log->algs[i]->tpm_id;
		else
			fprintf(stderr,
				"note: the log's %s bank is not allocated in the TPM; skipped\n",
				log->algs[i]->name);
	}
	if (n_use == 0) {
		fprintf(stderr,
			"%s: the TPM allocates none of the log's banks\n",
			argv[optind]);
		return 1;
	}

	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const uint8_t *digests[EVENTLOG_MAX_BANKS];
		uint16_t algs[EVENTLOG_MAX_BANKS];
		unsigned n = 0;

		if (ev->type == EV_NO_ACTION)
			continue;
		if (ev->pcr >= EVENTLOG_NUM_PCRS) {
			fprintf(stderr, "event %u: PCR %u out of range\n",
				ev->index, ev->pcr);
			return 3;
		}
		for (size_t b = 0; b < n_use; b++) {
			const struct eventlog_digest *d =
				eventlog_event_digest(ev, use[b]);

			if (!d) {
				fprintf(stderr,
					"event %u: no %s digest although the log declares the bank\n",
					ev->index, tpm2_alg_name(use[b]));
				return 3;
			}
			algs[n] = use[b];
			digests[n] = d->bytes;
			n++;
		}
		r = host_tpm_pcr_extend(tpm, ev->pcr, n, algs, digests, &e);
		if (r < 0) {
			fprintf(stderr, "event %u: %s\n", ev->index,
				err_str(&e));
			return 3;
		}
		extended++;
	}
	printf("extended %zu events in %zu bank(s)\n", extended, n_use);
	return 0;
}
