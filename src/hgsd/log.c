/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static char log_node[128] = "hgsd";
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_ERROR] = "error",
};

void log_setup(const char *node, enum log_level min)
{
	if (node && *node)
		snprintf(log_node, sizeof(log_node), "%s", node);
	log_min = min;
}

int log_level_parse(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (streq(s, level_names[i])) {
			*ret = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

const char *log_level_name(enum log_level l)
{
	return (size_t)l < ARRAY_SIZE(level_names) ? level_names[l] : "unknown";
}

bool log_enabled(enum log_level l)
{
	return l >= log_min;
}

static void format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void write_line(const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = write(STDERR_FILENO, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere to report a failing log */
		s += n;
		len -= (size_t)n;
	}
}

void log_event_json(enum log_level level, const char *rid, const char *event,
		    const json_t *fields)
{
	char when[40];
	json_t *line;
	char *text;

	if (!log_enabled(level))
		return;
	format_time(when, sizeof(when));
	line = json_pack("{s:s, s:s, s:s}", "time", when, "level",
			 log_level_name(level), "node", log_node);
	if (!line)
		return;
	if (rid)
		json_object_set_new(line, "rid", json_string(rid));
	json_object_set_new(line, "event", json_string(event ? event : "?"));
	if (fields && json_is_object(fields)) {
		const char *k;
		json_t *v;

		/* Reserved keys keep their meaning: fields cannot override them. */
		json_object_foreach((json_t *)fields, k, v)
			if (!json_object_get(line, k))
				json_object_set(line, k, v);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (!text)
		return;
	/* One write per line: append the newline in place. */
	size_t n = strlen(text);
	char *withnl = realloc(text, n + 2);

	if (!withnl) {
		free(text);
		return;
	}
	withnl[n] = '\n';
	withnl[n + 1] = '\0';
	write_line(withnl);
	free(withnl);
}

void log_event(enum log_level level, const char *rid, const char *event,
	       const char *fmt, ...)
{
	json_t *fields = NULL;
	json_error_t jerr;
	va_list ap;

	if (!log_enabled(level))
		return;
	if (fmt) {
		va_start(ap, fmt);
		fields = json_vpack_ex(&jerr, 0, fmt, ap);
		va_end(ap);
		if (!fields) {
			/* A bug in a log call: report it, keep the event. */
			fields = json_pack("{s:s}", "log_format_error", jerr.text);
		}
	}
	log_event_json(level, rid, event, fields);
	json_decref(fields);
}
