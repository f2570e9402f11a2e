/* SPDX-License-Identifier: Apache-2.0 */
#include "shieldvm/json_out.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attest/eventlog.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/util.h"

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

int cli_load_eventlog(const char *cmd, const char *path, struct eventlog **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { 0 };
	size_t len;

	if (file_read(path, EVENTLOG_MAX_SIZE, &buf, &len, &e) < 0 ||
	    eventlog_parse(buf, len, ret, &e) < 0) {
		/* file_read's messages already start with the path */
		if (strncmp(err_str(&e), path, strlen(path)) == 0)
			cli_error(cmd, "%s", err_str(&e));
		else
			cli_error(cmd, "%s: %s", path, err_str(&e));
		return -EBADMSG;
	}
	return 0;
}
