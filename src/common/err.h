/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error reports for pure code: functions return 0 or a negative errno and,
 * when given a struct err, leave one human-readable line in it that names
 * what was wrong and where ("event 17 at offset 0x1a2c: ...").
 */
#pragma once

#include <stddef.h>

#define ERR_MSG_MAX 512

struct err {
	char msg[ERR_MSG_MAX];
};

/* Record a message (first one wins) and return -code (code > 0). */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with more context. */
void err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline const char *err_str(const struct err *e)
{
	return e && e->msg[0] ? e->msg : "unknown error";
}
