/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <jansson.h>

struct eventlog;

/* Print a JSON value to stdout (indented, keys in insertion order) and
 * release the reference. Returns 0 or -EIO. */
int json_print(json_t *v);
/* Print "shieldvm CMD: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Read and parse an event log file ("-" for stdin); on failure print one
 * line naming the file ("shieldvm CMD: FILE: reason") and return < 0. */
int cli_load_eventlog(const char *cmd, const char *path, struct eventlog **ret);
