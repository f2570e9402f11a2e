/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation policy: named baselines plus rules, each with a stable id,
 * a description, an enabled flag and a failure message naming the evidence.
 * Evaluation is pure: a parsed event log in, a verdict with reasons out.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "common/err.h"

enum policy_rule_id {
	RULE_BASELINE,
	RULE_SECURE_BOOT,
	RULE_BOOT_APPS_MEASURED,
	RULE_NO_DEBUG,
	RULE_IOMMU,
	RULE_DBX_CURRENT,
	RULE_CMDLINE,
	RULE_BOOT_APPS,
	RULE_LOG_INTEGRITY,
	_RULE_MAX,
};

struct policy_rule_info {
	const char *id;          /* stable: "secure-boot-enabled" */
	const char *description; /* one line */
	bool default_enabled;
};

const struct policy_rule_info *policy_rule_info(enum policy_rule_id id);
int policy_rule_lookup(const char *id); /* enum value or -ENOENT */

struct policy {
	char *id; /* appraisal policy id, e.g. "shieldvm-default" */
	bool enabled[_RULE_MAX];
	uint32_t n_baselines;
	struct baseline **baselines;
	uint32_t n_allow, n_deny;
	char **allow; /* cmdline allow patterns (fnmatch on each argument) */
	char **deny;  /* cmdline deny patterns */
	uint32_t n_apps;
	char **apps;  /* boot-apps allowlist: "sha256:<hex>" */
};

struct policy *policy_new(const char *id);
void policy_free(struct policy *p);
int policy_add_baseline(struct policy *p, struct baseline *b, struct err *e); /* takes b */
int policy_add_pattern(struct policy *p, bool allow, const char *pattern, struct err *e);
int policy_add_boot_app(struct policy *p, const char *digest, struct err *e);
json_t *policy_to_json(const struct policy *p);
int policy_from_json(const json_t *j, struct policy **ret, struct err *e);

enum policy_status {
	POLICY_PASS,
	POLICY_FAIL,
	POLICY_SKIPPED, /* disabled */
};

struct policy_rule_result {
	enum policy_rule_id rule;
	enum policy_status status;
	int32_t event;  /* evidence: event index, or -1 */
	char message[ERR_MSG_MAX];
};

struct policy_verdict {
	bool pass;
	const char *baseline;   /* matched (or closest) baseline name, or NULL */
	bool baseline_matched;
	struct policy_rule_result results[_RULE_MAX];
};

/* Judge a parsed log. Runs eventlog_check_digests() itself. Returns 0 when
 * the evaluation ran (see verdict->pass), negative errno on internal error. */
int policy_evaluate(const struct policy *p, struct eventlog *log,
		    struct policy_verdict *ret, struct err *e);
/* The same, for a log whose digests the caller already checked (for
 * example with eventlog_check_digests_banks() over the banks a verified
 * quote covers): the rules trust exactly what that check marked. */
int policy_evaluate_checked(const struct policy *p, const struct eventlog *log,
			    struct policy_verdict *ret, struct err *e);
json_t *policy_verdict_to_json(const struct policy_verdict *v);
const char *policy_status_name(enum policy_status s);
