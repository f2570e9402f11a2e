/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation policy as the store defines it (baselines, rule switches,
 * settings "policy_id", "cmdline_allow", "cmdline_deny"), built once and
 * shared by request threads. A built policy is reused for at most
 * POLICY_CACHE_TTL_MS, so an admin change reaches every node within that
 * time without a store read per attestation.
 */
#pragma once

#include "attest/policy.h"
#include "common/err.h"
#include "hgsd/store.h"

#define POLICY_CACHE_TTL_MS 1000

struct policy_cache;
struct policy_ref; /* a reference to one built policy */

int policy_cache_new(struct store *s, const char *default_id, struct policy_cache **ret,
		     struct err *e);
void policy_cache_free(struct policy_cache *c);

/* The current policy (rebuilt when older than the TTL). Release with
 * policy_cache_put(). */
int policy_cache_get(struct policy_cache *c, struct policy_ref **ret, struct err *e);
const struct policy *policy_ref_policy(const struct policy_ref *r);
void policy_cache_put(struct policy_cache *c, struct policy_ref *r);
