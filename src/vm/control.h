/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket of a VM's supervisor: RUNDIR/control.sock, mode 0600,
 * peers checked with SO_PEERCRED (uid 0, or the supervisor's own uid).
 * One request per connection, one JSON line each way:
 *   -> {"execute": "status" | "stop" | "poweroff" | "reset"}
 *   <- {"return": {...}}  or  {"error": {"class", "desc"}}
 * Anything outside the allow-list (filter.h) gets {"error": {"class":
 * "Refused", ...}} and a line in the supervisor's log.
 */
#pragma once

#include <jansson.h>

#include "common/err.h"

/* Send {"execute": name} to the supervisor of rundir. *ret: the whole
 * answer. -ENOENT/-ECONNREFUSED: no supervisor runs (the VM is stopped). */
int vm_control_request(const char *rundir, const char *name, json_t **ret,
		       struct err *e);
