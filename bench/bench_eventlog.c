/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event log parse + replay throughput over the shared real logs, beside the
 * raw SHA-256 rate over the same bytes measured in the same run.
 *
 * Usage: bench_eventlog [TESTDATA_DIR] [SECONDS]
 */
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/eventlog.h"
#include "common/file.h"
#include "common/util.h"

struct blob {
	uint8_t *buf;
	size_t len;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum mode { RAW_SHA256, PARSE, PARSE_REPLAY_SHA256, PARSE_REPLAY_CHECK_SHA256, PARSE_REPLAY_ALL, PARSE_REPLAY_CHECK };

static const char *const mode_names[] = {
	"raw SHA-256 over the log bytes (floor)",
	"parse only",
	"parse + replay (sha256 bank)",
	"parse + replay + digest checks (sha256)",
	"parse + replay (all banks)",
	"parse + replay (all) + digest checks",
};

static double raw_rate;

static void run(const struct blob *b, size_t n, enum mode m, double seconds)
{
	const EVP_MD *md = EVP_sha256();
	size_t logs = 0, bytes = 0;
	double t0 = now(), t;
	volatile uint8_t sink = 0;

	do {
		for (size_t i = 0; i < n; i++) {
			struct eventlog *log = NULL;
			struct eventlog_pcrs pcrs;
			struct err e = { 0 };
			uint8_t d[32];
			uint32_t mask = ~0u;

			if (m == RAW_SHA256) {
				EVP_Digest(b[i].buf, b[i].len, d, NULL, md, NULL);
				sink ^= d[0];
			} else {
				if (eventlog_parse(b[i].buf, b[i].len, &log, &e) < 0)
					abort();
				if (m == PARSE_REPLAY_SHA256 || m == PARSE_REPLAY_CHECK_SHA256) {
					mask = 0;
					for (uint32_t k = 0; k < log->n_algs; k++)
						if (log->algs[k]->tpm_id == TPM_ALG_SHA256)
							mask = 1u << k;
				}
				if (m >= PARSE_REPLAY_SHA256 && eventlog_replay(log, mask, &pcrs, &e) < 0)
					abort();
				if (m == PARSE_REPLAY_CHECK && eventlog_check_digests(log, &e) < 0)
					abort();
				if (m == PARSE_REPLAY_CHECK_SHA256 &&
				    eventlog_check_digests_banks(log, mask, &e) < 0)
					abort();
				eventlog_free(log);
			}
			logs++;
			bytes += b[i].len;
		}
		t = now() - t0;
	} while (t < seconds);
	if (m == RAW_SHA256)
		raw_rate = (double)logs / t;
	printf("  %-42s %9.0f logs/s %8.1f MB/s   %5.2fx the raw SHA-256 time\n", mode_names[m],
	       (double)logs / t, (double)bytes / t / 1e6, raw_rate / ((double)logs / t));
	(void)sink;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "../shared/testdata";
	double seconds = argc > 2 ? strtod(argv[2], NULL) : 2.0;
	char path[4096];
	struct blob b[256];
	size_t n = 0, total = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/eventlogs", dir);
	d = opendir(path);
	if (!d) {
		perror(path);
		return 1;
	}
	while ((de = readdir(d)) && n < ARRAY_SIZE(b)) {
		struct eventlog *log = NULL;
		struct err e = { 0 };
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".bin"))
			continue;
		snprintf(path, sizeof(path), "%s/eventlogs/%s", dir, de->d_name);
		if (file_read(path, EVENTLOG_MAX_SIZE, &b[n].buf, &b[n].len, &e) < 0)
			continue;
		/* only logs that parse and carry a sha256 bank of real size */
		if (b[n].len < 2048 || eventlog_parse(b[n].buf, b[n].len, &log, &e) < 0) {
			free(b[n].buf);
			continue;
		}
		eventlog_free(log);
		total += b[n].len;
		n++;
	}
	closedir(d);
	printf("bench_eventlog: %zu real logs, %zu bytes (mean %zu bytes), %.1f s per figure\n",
	       n, total, n ? total / n : 0, seconds);
	for (int m = RAW_SHA256; m <= PARSE_REPLAY_CHECK; m++)
		run(b, n, (enum mode)m, seconds);
	for (size_t i = 0; i < n; i++)
		free(b[i].buf);
	return 0;
}
