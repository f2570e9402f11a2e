/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/filter.h"

#include <string.h>

#include "common/util.h"

static const struct vm_filter_entry table[] = {
	{ "status", VM_ACTION_STATUS, "query-status" },
	{ "stop", VM_ACTION_STOP, "system_powerdown" },
	{ "poweroff", VM_ACTION_POWEROFF, "quit" },
	{ "reset", VM_ACTION_RESET, "system_reset" },
};

const struct vm_filter_entry *vm_filter_lookup(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (streq(name, table[i].name))
			return &table[i];
	return NULL;
}

const struct vm_filter_entry *vm_filter_table(size_t *n)
{
	*n = ARRAY_SIZE(table);
	return table;
}
