/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an admin may ask a VM's supervisor (its control socket): one
 * allow-list table. Anything not in it (human-monitor-command,
 * dump-guest-memory, pmemsave, memsave, gdbserver, device_add, migrate,
 * ...) is refused and logged. Pure code.
 */
#pragma once

#include <stddef.h>

enum vm_action {
	VM_ACTION_STATUS,   /* QMP query-status + the supervisor's view */
	VM_ACTION_STOP,	    /* QMP system_powerdown, quit after a timeout */
	VM_ACTION_POWEROFF, /* QMP quit */
	VM_ACTION_RESET,    /* QMP system_reset */
};

struct vm_filter_entry {
	const char *name; /* what the admin sends: {"execute": name} */
	enum vm_action action;
	const char *qmp; /* the QMP command it becomes */
};

/* The entry for a request name, or NULL: refused. */
const struct vm_filter_entry *vm_filter_lookup(const char *name);

/* The whole table (for docs and tests). */
const struct vm_filter_entry *vm_filter_table(size_t *n);
