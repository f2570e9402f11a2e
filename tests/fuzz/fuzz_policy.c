/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: policy evaluation over an untrusted event log. A
 * baseline is captured from the input itself and from a fixed synthetic
 * reference, so both the matching and the mismatch-explaining paths run,
 * along with every rule's decoding of event data.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "attest/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eventlog *log = NULL;
	struct policy *p;
	struct baseline *b = NULL;
	struct policy_verdict v;
	struct err e = { { 0 } };
	json_t *j;

	if (eventlog_parse(data, size, &log, &e) < 0)
		return 0;
	p = policy_new("fuzz");
	if (!p)
		abort();
	policy_add_pattern(p, false, "init=*", &e);
	policy_add_pattern(p, true, "*", &e);
	p->enabled[RULE_BOOT_APPS] = true;
	eventlog_check_digests(log, &e);
	if (baseline_capture(log, "self", "fuzz", NULL, 0x3FF, &b, &e) == 0) {
		/* round trip through JSON, as hgsd stores baselines */
		struct baseline *b2 = NULL;

		j = baseline_to_json(b);
		if (baseline_from_json(j, &b2, &e) == 0)
			policy_add_baseline(p, b2, &e);
		json_decref(j);
		baseline_free(b);
	}
	if (policy_evaluate(p, log, &v, &e) == 0) {
		j = policy_verdict_to_json(&v);
		json_decref(j);
	}
	policy_free(p);
	eventlog_free(log);
	return 0;
}
