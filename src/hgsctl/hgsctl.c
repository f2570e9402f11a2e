/* SPDX-License-Identifier: Apache-2.0 */
/* What the command groups share: the call to hgsd and how its failures are
 * reported, argument checks, file input, output helpers. */
#include "hgsctl/hgsctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/file.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsctl/client.h"
#include "hgsctl/table.h"

DEFINE_CLEANUP_FUNC(struct client, client_free)
DEFINE_CLEANUP_FUNC(struct table, table_free)

void hgsctl_error(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hgsctl: ");
	if (what)
		fprintf(stderr, "%s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *transport_hint(int r)
{
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
		return "is hgsd running? Choose the socket with --socket or " HGSCTL_SOCKET_ENV;
	case -EACCES:
	case -EPERM:
		return "only root and members of hgsd's admin group ([admin] group in hgsd.conf) may use the admin socket";
	case -ENOTSOCK:
		return "the path is not a socket; choose hgsd's admin socket with --socket or " HGSCTL_SOCKET_ENV;
	default:
		return NULL;
	}
}

int hgsctl_call(struct hgsctl *ctx, const char *method, const char *path,
		const json_t *body, json_t **ret)
{
	_cleanup_(client_freep) struct client *c = NULL;
	struct client_reply reply = { 0 };
	struct err e = { 0 };
	const char *hint, *code, *msg;
	const json_t *failures;
	int r;

	r = client_new(ctx->socket, &c, &e);
	if (r < 0) {
		hgsctl_error(NULL, "%s", err_str(&e));
		return HGSCTL_EXIT_UNREACHABLE;
	}
	r = client_request(c, method, path, body, &reply, &e);
	if (r < 0) {
		hint = transport_hint(r);
		hgsctl_error(NULL, "%s%s%s", err_str(&e),
			     hint ? "\n  hint: " : "", hint ? hint : "");
		return HGSCTL_EXIT_UNREACHABLE;
	}
	if (reply.status >= 200 && reply.status < 300) {
		*ret = reply.body;
		return HGSCTL_EXIT_OK;
	}

	code = hgsctl_json_str(reply.body, "error", NULL);
	msg = hgsctl_json_str(reply.body, "message", NULL);
	if (!code || !msg) {
		hgsctl_error(NULL,
			     "%s %s: hgsd answered HTTP %ld without an error object",
			     method, path, reply.status);
		client_reply_clear(&reply);
		return HGSCTL_EXIT_UNREACHABLE;
	}
	if (ctx->json)
		hgsctl_print_json(reply.body);
	hgsctl_error(NULL, "hgsd refused (%s, HTTP %ld): %s", code,
		     reply.status, msg);
	failures = json_object_get(reply.body, "failures");
	for (size_t i = 0;
	     json_is_array(failures) && i < json_array_size(failures); i++)
		fprintf(stderr, "  %s: %s\n",
			hgsctl_json_str(json_array_get(failures, i), "rule",
					"?"),
			hgsctl_json_str(json_array_get(failures, i), "message",
					"?"));
	if (streq(code, "forbidden"))
		fprintf(stderr, "  hint: %s\n", transport_hint(-EACCES));
	if (streq(code, "unavailable"))
		fprintf(stderr,
			"  hint: hgsd's store is unavailable; retry, or use another node\n");
	client_reply_clear(&reply);
	return HGSCTL_EXIT_REFUSED;
}

/* RFC 3986 unreserved characters pass; everything else is %XX. */
int hgsctl_path(char *buf, size_t size, const char *prefix, const char *name,
		const char *suffix)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t n;
	int w;

	w = snprintf(buf, size, "/v1/admin/%s/", prefix);
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	n = (size_t)w;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') ||
			     (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' ||
			     *p == '.' || *p == '_' || *p == '~';

		if (size - n < (plain ? 2u : 4u))
			return -ENAMETOOLONG;
		if (plain) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hexd[*p >> 4];
			buf[n++] = hexd[*p & 15];
		}
	}
	buf[n] = '\0';
	if (suffix) {
		w = snprintf(buf + n, size - n, "/%s", suffix);
		if (w < 0 || (size_t)w >= size - n)
			return -ENAMETOOLONG;
	}
	return 0;
}

bool hgsctl_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > HGSD_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int hgsctl_name_arg(const char *what, const char *kind, const char *name)
{
	if (hgsctl_name_valid(name))
		return 0;
	hgsctl_error(what,
		     "%s name '%s': expected 1-%u of A-Z a-z 0-9 . _ -, not starting with . or -",
		     kind, name, HGSD_NAME_MAX);
	return -EINVAL;
}

bool hgsctl_rule_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > HGSCTL_RULE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

int hgsctl_read_file(const char *what, const char *path, size_t max,
		     uint8_t **ret, size_t *ret_len)
{
	struct err e = { 0 };
	int r;

	r = file_read(path, max, ret, ret_len, &e);
	if (r < 0) {
		hgsctl_error(what, "%s", err_str(&e));
		return r;
	}
	if (*ret_len == 0) {
		free(*ret);
		*ret = NULL;
		hgsctl_error(what, "%s: the file is empty", path);
		return -ENODATA;
	}
	return 0;
}

int hgsctl_print_json(const json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(2)) < 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		hgsctl_error(NULL, "cannot write to standard output");
		return HGSCTL_EXIT_UNREACHABLE;
	}
	return HGSCTL_EXIT_OK;
}

const char *hgsctl_format_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || !gmtime_r(&tt, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

const char *hgsctl_json_str(const json_t *o, const char *key, const char *dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

int64_t hgsctl_json_int(const json_t *o, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

bool hgsctl_json_bool(const json_t *o, const char *key, bool dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int hgsctl_dispatch(struct hgsctl *ctx, const char *group,
		    const struct hgsctl_cmd *verbs, size_t n_verbs,
		    void (*usage)(FILE *f), int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HGSCTL_EXIT_USAGE;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") ||
	    streq(argv[1], "help")) {
		usage(stdout);
		return HGSCTL_EXIT_OK;
	}
	for (size_t i = 0; i < n_verbs; i++)
		if (streq(argv[1], verbs[i].name))
			return verbs[i].run(ctx, argc - 1, argv + 1);
	hgsctl_error(group, "unknown command '%s' (try 'hgsctl %s --help')",
		     argv[1], group);
	return HGSCTL_EXIT_USAGE;
}

int hgsctl_simple_args(struct hgsctl *ctx, const char *what,
		       void (*usage)(FILE *f), int argc, char **argv,
		       size_t n_args, const char **args)
{
	static const struct option opts[] = {
		HGSCTL_OPTS_END,
	};
	int c;

	optind = 0; /* GNU: reinitialise and permute; argv[0] is the verb */
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctx->json = true;
			break;
		case 'h':
			usage(stdout);
			return HGSCTL_EXIT_OK;
		default:
			hgsctl_error(what, "try 'hgsctl %s --help'", what);
			return HGSCTL_EXIT_USAGE;
		}
	}
	if ((size_t)(argc - optind) != n_args) {
		if ((size_t)(argc - optind) > n_args)
			hgsctl_error(what,
				     "unexpected argument '%s' (try 'hgsctl %s --help')",
				     argv[optind + (int)n_args], what);
		else
			hgsctl_error(what,
				     "expected %zu argument%s (try 'hgsctl %s --help')",
				     n_args, n_args == 1 ? "" : "s", what);
		return HGSCTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < n_args; i++)
		args[i] = argv[optind + (int)i];
	return -1;
}

int hgsctl_getopt(struct hgsctl *ctx, const char *what, void (*usage)(FILE *f),
		  int argc, char **argv, const struct option *opts,
		  int *ret_exit)
{
	int c;

	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) == 'j')
		ctx->json = true;
	switch (c) {
	case -1:
		if (optind < argc) {
			hgsctl_error(what, "unexpected argument '%s'",
				     argv[optind]);
			*ret_exit = HGSCTL_EXIT_USAGE;
			return -1;
		}
		return 0;
	case 'h':
		usage(stdout);
		*ret_exit = HGSCTL_EXIT_OK;
		return -1;
	case '?':
	case ':':
		/* "host add" -> "try 'hgsctl host --help'" */
		hgsctl_error(what, "try 'hgsctl %.*s --help'",
			     (int)strcspn(what, " "), what);
		*ret_exit = HGSCTL_EXIT_USAGE;
		return -1;
	default:
		return c;
	}
}

int hgsctl_list(struct hgsctl *ctx, const char *what, const char *path,
		const char *key, const char *empty, const char *const *headers,
		size_t n_cols, int (*row)(struct table *t, const json_t *item))
{
	_cleanup_(json_decrefp) json_t *reply = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	const json_t *list;
	int r;

	r = hgsctl_call(ctx, "GET", path, NULL, &reply);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return hgsctl_print_json(reply);
	list = json_object_get(reply, key);
	if (!json_is_array(list)) {
		hgsctl_error(what, "hgsd's answer has no '%s' array", key);
		return HGSCTL_EXIT_UNREACHABLE;
	}
	if (empty && json_array_size(list) == 0) {
		printf("%s\n", empty);
		return HGSCTL_EXIT_OK;
	}
	if (table_new(n_cols, headers, &t) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	for (size_t i = 0; i < json_array_size(list); i++)
		if (row(t, json_array_get(list, i)) < 0)
			return HGSCTL_EXIT_UNREACHABLE;
	table_print(t, stdout);
	return HGSCTL_EXIT_OK;
}

const struct hgsctl_action *
hgsctl_action_find(const char *group, const struct hgsctl_action *actions,
		   size_t n, char **argv, char *what)
{
	for (size_t i = 0; i < n; i++)
		if (streq(argv[0], actions[i].verb)) {
			snprintf(what, HGSCTL_WHAT_MAX, "%s %s", group,
				 actions[i].verb);
			return &actions[i];
		}
	return NULL;
}

int hgsctl_action_call(struct hgsctl *ctx, const struct hgsctl_action *a,
		       const char *prefix, const char *name, json_t **ret)
{
	char path[HGSD_NAME_MAX * 3 + 64];
	int r;

	if (hgsctl_path(path, sizeof(path), prefix, name, a->suffix) < 0)
		return HGSCTL_EXIT_USAGE;
	r = hgsctl_call(ctx, a->method, path, NULL, ret);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return *ret ? hgsctl_print_json(*ret) : HGSCTL_EXIT_OK;
	return -1;
}

int hgsctl_object_action(struct hgsctl *ctx, const struct hgsctl_object *o,
			 int argc, char **argv,
			 const struct hgsctl_action **ret_action,
			 const char **ret_name, json_t **ret)
{
	const struct hgsctl_action *a;
	char what[HGSCTL_WHAT_MAX];
	const char *name;
	int r;

	a = hgsctl_action_find(o->group, o->actions, o->n_actions, argv, what);
	if (!a)
		return HGSCTL_EXIT_USAGE;
	r = hgsctl_simple_args(ctx, what, o->usage, argc, argv, 1, &name);
	if (r >= 0)
		return r;
	if (hgsctl_name_arg(what, o->group, name) < 0)
		return HGSCTL_EXIT_USAGE;
	r = hgsctl_action_call(ctx, a, o->prefix, name, ret);
	if (r >= 0)
		return r;
	*ret_action = a;
	*ret_name = name;
	return -1;
}
