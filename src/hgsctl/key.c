/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsctl key list|add|set-primary|enable|disable|remove|export: hgsd's
 * guardian keys, the keys key protectors are wrapped for
 * (/v1/admin/guardian-keys...). Private halves never leave hgsd.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "hgsctl/hgsctl.h"
#include "hgsctl/table.h"

#define KEY_ID_MAX 63u /* RFC 7638 thumbprint, base64url (43 chars) */
#define KEY_NAME_MAX 127u

static void key_usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl key list [--json]\n"
		"       hgsctl key add [--name NAME] [--algorithm ALG] [--primary] [--json]\n"
		"       hgsctl key set-primary ID\n"
		"       hgsctl key enable ID\n"
		"       hgsctl key disable ID\n"
		"       hgsctl key remove ID\n"
		"       hgsctl key export [ID]\n"
		"\n"
		"Manage hgsd's guardian keys: key protectors are wrapped for them, and hgsd\n"
		"unwraps with every enabled key. New KPs should use the primary key, whose\n"
		"signed metadata 'export' prints (and GET /v1/guardian serves).\n"
		"  --name NAME       the guardian's name in its metadata (default hgs)\n"
		"  --algorithm ALG   ec-p256 (default), ec-p384, rsa3072 or rsa4096\n"
		"  --primary         make the new key the primary key\n"
		"  --json            print hgsd's JSON\n"
		"A disabled key releases nothing; only a disabled key that is not the\n"
		"primary can be removed. export without ID: the primary key.\n");
}

/* Key ids are base64url thumbprints; checked locally so that an operand
 * cannot change the request path. */
static int key_id_arg(const char *what, const char *id)
{
	size_t n = strlen(id);
	bool ok = n > 0 && n <= KEY_ID_MAX;

	for (size_t i = 0; ok && i < n; i++) {
		char c = id[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || c == '-' || c == '_';
	}
	if (ok)
		return 0;
	hgsctl_error(what,
		     "key id '%s': expected the key's id (base64url, as 'hgsctl key list' shows)",
		     id);
	return -EINVAL;
}

/*
 * The options and operands of a verb taking key ids: --json/-j, --help/-h,
 * and at most max ids. Key ids are base64url and may start with '-'
 * ("-AlNV..."), which getopt would take for options: anything else that
 * starts with '-' is an operand (and "--" ends the options). Returns -1 to
 * go on with *ret_n ids in ids[], or an exit code.
 */
static int key_args(struct hgsctl *ctx, const char *what, int argc, char **argv,
		    size_t min, size_t max, const char **ids, size_t *ret_n)
{
	bool options = true;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (options && streq(a, "--")) {
			options = false;
			continue;
		}
		if (options && (streq(a, "--json") || streq(a, "-j"))) {
			ctx->json = true;
			continue;
		}
		if (options && (streq(a, "--help") || streq(a, "-h"))) {
			key_usage(stdout);
			return HGSCTL_EXIT_OK;
		}
		if (options && strncmp(a, "--", 2) == 0) {
			hgsctl_error(what,
				     "unknown option '%s' (try 'hgsctl key --help')",
				     a);
			return HGSCTL_EXIT_USAGE;
		}
		if (n == max) {
			hgsctl_error(what,
				     "unexpected argument '%s' (try 'hgsctl key --help')",
				     a);
			return HGSCTL_EXIT_USAGE;
		}
		ids[n++] = a;
	}
	if (n < min) {
		hgsctl_error(what,
			     "expected a key id (try 'hgsctl key --help')");
		return HGSCTL_EXIT_USAGE;
	}
	*ret_n = n;
	return -1;
}

static void print_key(const json_t *k, const char *verb)
{
	printf("key %s %s (%s, %s%s)\n", hgsctl_json_str(k, "id", "?"), verb,
	       hgsctl_json_str(k, "name", "?"),
	       hgsctl_json_str(k, "algorithm", "?"),
	       hgsctl_json_bool(k, "primary", false) ? ", primary" :
	       hgsctl_json_bool(k, "enabled", false) ? "" :
						       ", disabled");
}

static int key_row(struct table *t, const json_t *k)
{
	char when[HGSCTL_TIME_MAX];
	const char *cells[6];

	cells[0] = hgsctl_json_str(k, "id", "?");
	cells[1] = hgsctl_json_str(k, "name", "?");
	cells[2] = hgsctl_json_str(k, "algorithm", "?");
	cells[3] = hgsctl_json_bool(k, "primary", false) ? "yes" : "no";
	cells[4] = hgsctl_json_bool(k, "enabled", false) ? "yes" : "no";
	cells[5] = hgsctl_format_time(hgsctl_json_int(k, "created", 0), when,
				      sizeof(when));
	return table_add(t, cells);
}

static int key_list(struct hgsctl *ctx, int argc, char **argv)
{
	static const char *const headers[] = { "ID",	    "NAME",
					       "ALGORITHM", "PRIMARY",
					       "ENABLED",   "CREATED" };
	int r;

	r = hgsctl_simple_args(ctx, "key list", key_usage, argc, argv, 0, NULL);
	if (r >= 0)
		return r;
	return hgsctl_list(ctx, "key list", "/v1/admin/guardian-keys", "keys",
			   NULL, headers, ARRAY_SIZE(headers), key_row);
}

static int key_add(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "algorithm", required_argument, NULL, 'a' },
		{ "primary", no_argument, NULL, 'p' },
		HGSCTL_OPTS_END,
	};
	static const char *const algs[] = { "ec-p256", "ec-p384", "rsa3072",
					    "rsa4096" };
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_(json_decrefp) json_t *key = NULL;
	const char *name = NULL, *alg = NULL;
	bool primary = false, known = false;
	int c, r;

	optind = 0;
	while ((c = hgsctl_getopt(ctx, "key add", key_usage, argc, argv, opts,
				  &r)) > 0) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'a':
			alg = optarg;
			break;
		case 'p':
			primary = true;
			break;
		}
	}
	if (c < 0)
		return r;
	if (name && (!name[0] || strlen(name) > KEY_NAME_MAX)) {
		hgsctl_error("key add", "--name: 1 to %u bytes", KEY_NAME_MAX);
		return HGSCTL_EXIT_USAGE;
	}
	for (size_t i = 0; alg && i < ARRAY_SIZE(algs); i++)
		known |= streq(alg, algs[i]);
	if (alg && !known) {
		hgsctl_error("key add",
			     "--algorithm '%s': expected ec-p256, ec-p384, rsa3072 or rsa4096",
			     alg);
		return HGSCTL_EXIT_USAGE;
	}
	req = json_object();
	if (!req ||
	    (name && json_object_set_new(req, "name", json_string(name)) < 0) ||
	    (alg &&
	     json_object_set_new(req, "algorithm", json_string(alg)) < 0) ||
	    (primary && json_object_set_new(req, "primary", json_true()) < 0)) {
		hgsctl_error("key add", "--name: not UTF-8 text");
		return HGSCTL_EXIT_USAGE;
	}
	r = hgsctl_call(ctx, "POST", "/v1/admin/guardian-keys", req, &key);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return hgsctl_print_json(key);
	print_key(key, "added");
	return HGSCTL_EXIT_OK;
}

/* set-primary, enable, disable, remove */
static int key_one(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_action actions[] = {
		{ "set-primary", "POST", "primary", "is now the primary key" },
		{ "enable", "POST", "enable", "enabled" },
		{ "disable", "POST", "disable", "disabled" },
		{ "remove", "DELETE", NULL, "removed" },
	};
	_cleanup_(json_decrefp) json_t *reply = NULL;
	const struct hgsctl_action *a;
	char what[HGSCTL_WHAT_MAX];
	const char *id = NULL;
	size_t n;
	int r;

	a = hgsctl_action_find("key", actions, ARRAY_SIZE(actions), argv, what);
	if (!a)
		return HGSCTL_EXIT_USAGE;
	r = key_args(ctx, what, argc, argv, 1, 1, &id, &n);
	if (r >= 0)
		return r;
	if (key_id_arg(what, id) < 0)
		return HGSCTL_EXIT_USAGE;
	r = hgsctl_action_call(ctx, a, "guardian-keys", id, &reply);
	if (r >= 0)
		return r;
	if (reply)
		print_key(reply, a->done);
	else
		printf("key %s %s\n", id, a->done);
	return HGSCTL_EXIT_OK;
}

/* export [ID]: the key's signed public metadata, for owners' KPs. */
static int key_export(struct hgsctl *ctx, int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *reply = NULL;
	char path[KEY_ID_MAX * 3 + 64];
	const char *id = "primary";
	size_t n;
	int r;

	r = key_args(ctx, "key export", argc, argv, 0, 1, &id, &n);
	if (r >= 0)
		return r;
	if (n == 1 && key_id_arg("key export", id) < 0)
		return HGSCTL_EXIT_USAGE;
	if (hgsctl_path(path, sizeof(path), "guardian-keys", id, "export") < 0)
		return HGSCTL_EXIT_USAGE;
	/* the output is JSON with or without --json */
	r = hgsctl_call(ctx, "GET", path, NULL, &reply);
	if (r != HGSCTL_EXIT_OK)
		return r;
	return hgsctl_print_json(reply);
}

int cmd_key(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "list", key_list, "list guardian keys" },
		{ "add", key_add, "create a guardian key" },
		{ "set-primary", key_one, "make a key the one new KPs use" },
		{ "enable", key_one, "unwrap with a key again" },
		{ "disable", key_one, "release nothing with a key" },
		{ "remove", key_one, "delete a disabled, non-primary key" },
		{ "export", key_export,
		  "print a key's signed public metadata (default: primary)" },
	};

	return hgsctl_dispatch(ctx, "key", verbs, ARRAY_SIZE(verbs), key_usage,
			       argc, argv);
}
