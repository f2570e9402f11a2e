/* SPDX-License-Identifier: Apache-2.0 */
/* For cmocka tests: fail with a struct err's message. Include after
 * <cmocka.h> and "common/err.h". */
#pragma once

/* Fail the test with e's message unless r >= 0. */
#define check_ok(r, e)                                                      \
	do {                                                                \
		int _r = (r);                                               \
		if (_r < 0)                                                 \
			fail_msg("%s:%d: %s -> %d: %s", __FILE__, __LINE__, \
				 #r, _r, err_str(e));                       \
	} while (0)
