/* SPDX-License-Identifier: Apache-2.0 */
#include "shieldvm/json_out.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int json_print(json_t *v)
{
	int r = 0;

	if (!v)
		return -ENOMEM;
	if (json_dumpf(v, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER) < 0)
		r = -EIO;
	fputc('\n', stdout);
	json_decref(v);
	if (fflush(stdout) != 0)
		r = -EIO;
	return r;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shieldvm %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
