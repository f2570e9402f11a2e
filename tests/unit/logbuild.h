/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: build small crypto-agile (SHA-256) event logs in memory
 * with correct digests, so rules can be exercised event by event. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct logbuild {
	uint8_t *buf;
	size_t len, cap;
};

void lb_init(struct logbuild *b);                    /* writes the SpecID event */
void lb_event(struct logbuild *b, uint32_t pcr, uint32_t type, const void *data,
	      size_t len);                            /* digest = SHA-256(data) */
void lb_event_digest(struct logbuild *b, uint32_t pcr, uint32_t type,
		     const uint8_t digest[32], const void *data, size_t len);
void lb_variable(struct logbuild *b, uint32_t pcr, uint32_t type,
		 const uint8_t guid[16], const char *name, const void *data, size_t len);
void lb_free(struct logbuild *b);
