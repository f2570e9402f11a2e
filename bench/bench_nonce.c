/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The crypto floor of POST /v1/attest/nonce: nonce_issue() per second on
 * one core (16 random bytes + HMAC-SHA-256), plus base64url, for
 * bench_http.sh to print beside the HTTP rate. Usage: bench_nonce [SECONDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jose/b64.h>

#include "attest/nonce.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint8_t key[NONCE_KEY_SIZE] = { 1, 2, 3 };
	uint8_t nonce[NONCE_SIZE];
	double secs = 1.0, t0, t;
	char *end;
	long n = 0, m = 0;

	if (argc > 1) {
		secs = strtod(argv[1], &end);
		if (*end || secs <= 0 || secs > 60) {
			fprintf(stderr, "usage: bench_nonce [SECONDS]\n");
			return 2;
		}
	}
	t0 = now_s();
	do {
		for (int i = 0; i < 1000; i++)
			if (nonce_issue(key, (int64_t)time(NULL), nonce) < 0)
				return 1;
		n += 1000;
		t = now_s() - t0;
	} while (t < secs);
	printf("nonce_issue: %.0f/s (%.2f us each)\n", (double)n / t, t * 1e6 / (double)n);
	t0 = now_s();
	do {
		for (int i = 0; i < 1000; i++) {
			json_t *j;

			if (nonce_issue(key, (int64_t)time(NULL), nonce) < 0)
				return 1;
			j = jose_b64_enc(nonce, sizeof(nonce));
			json_decref(j);
		}
		m += 1000;
		t = now_s() - t0;
	} while (t < secs);
	printf("nonce_issue+base64url: %.0f/s (%.2f us each)\n", (double)m / t,
	       t * 1e6 / (double)m);
	return 0;
}
