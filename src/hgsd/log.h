/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's structured log: one JSON object per line on stderr,
 *
 *   {"time":"2026-11-02T10:00:00.123Z","level":"info","node":"hgs1",
 *    "rid":"5f1c...","event":"request", ...fields}
 *
 * Each line is written with one write(2), so lines from several threads do
 * not interleave. Fields are given as a jansson json_pack() format and its
 * arguments. Never pass a secret, a token, a nonce key or key material: the
 * log is for operators and is shipped off the host.
 */
#pragma once

#include <stdbool.h>

#include <jansson.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,    /* one line per request, and routine events */
	LOG_LEVEL_NOTICE,  /* start, listening, ready, stop */
	LOG_LEVEL_WARNING,
	LOG_LEVEL_ERROR,
};

/* node: the node name in every line (copied). */
void log_setup(const char *node, enum log_level min);
/* "debug", "info", "notice", "warning", "error" -> level; -EINVAL
 * otherwise. */
int log_level_parse(const char *s, enum log_level *ret);
const char *log_level_name(enum log_level l);
bool log_enabled(enum log_level l);

/*
 * Log one event. rid: request id or NULL. fmt: a json_pack() object format
 * ("{s:s, s:i}") or NULL for no fields. A field format error is itself
 * logged (the event is not lost).
 */
void log_event(enum log_level level, const char *rid, const char *event,
	       const char *fmt, ...);

/* Same, with a ready object of fields (not stolen; may be NULL). */
void log_event_json(enum log_level level, const char *rid, const char *event,
		    const json_t *fields);
