/* SPDX-License-Identifier: Apache-2.0 */
/* Shared bits of the host suite's cmocka tests (header-only). */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/err.h"
#include "host/tpm.h"

#include "../lib/check.h"

static inline const char *test_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		fail_msg("%s is not set (run under tests/host/with-swtpm.sh)",
			 name);
	return v;
}

static inline struct host_tpm *test_tpm_open(void)
{
	struct host_tpm *t = NULL;
	struct err e = { 0 };

	check_ok(host_tpm_open(test_env("SHIELDVM_TEST_TCTI"), &t, &e), &e);
	return t;
}
