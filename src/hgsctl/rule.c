/* SPDX-License-Identifier: Apache-2.0 */
/* hgsctl rule list|enable|disable: the attestation policy's rules
 * (src/attest/policy.h) as hgsd applies them (/v1/admin/rules...). */
#include <stdlib.h>

#include "common/util.h"
#include "hgsctl/hgsctl.h"
#include "hgsctl/table.h"

DEFINE_CLEANUP_FUNC(struct table, table_free)

static void rule_usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl rule list [--json]\n"
		"       hgsctl rule enable ID [--json]\n"
		"       hgsctl rule disable ID [--json]\n"
		"\n"
		"The rules of hgsd's attestation policy; 'rule list' names their ids.\n"
		"A disabled rule is not evaluated for any host.\n");
}

static int rule_list(struct hgsctl *ctx, int argc, char **argv)
{
	static const char *const headers[] = { "ID", "ENABLED", "DEFAULT",
					       "DESCRIPTION" };
	_cleanup_(json_decrefp) json_t *reply = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	const json_t *rules;
	int r;

	r = hgsctl_simple_args(ctx, "rule list", rule_usage, argc, argv, 0,
			       NULL);
	if (r >= 0)
		return r;
	r = hgsctl_call(ctx, "GET", "/v1/admin/rules", NULL, &reply);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return hgsctl_print_json(reply);
	rules = json_object_get(reply, "rules");
	if (!json_is_array(rules)) {
		hgsctl_error("rule list", "hgsd's answer has no 'rules' array");
		return HGSCTL_EXIT_UNREACHABLE;
	}
	if (table_new(ARRAY_SIZE(headers), headers, &t) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	for (size_t i = 0; i < json_array_size(rules); i++) {
		const json_t *ru = json_array_get(rules, i);
		const char *cells[4] = {
			hgsctl_json_str(ru, "id", "?"),
			hgsctl_json_bool(ru, "enabled", false) ? "yes" : "no",
			hgsctl_json_bool(ru, "default", false) ? "on" : "off",
			hgsctl_json_str(ru, "description", ""),
		};

		if (table_add(t, cells) < 0)
			return HGSCTL_EXIT_UNREACHABLE;
	}
	table_print(t, stdout);
	return HGSCTL_EXIT_OK;
}

static int rule_set(struct hgsctl *ctx, int argc, char **argv, const char *what,
		    const char *verb)
{
	_cleanup_(json_decrefp) json_t *reply = NULL;
	char path[HGSCTL_RULE_ID_MAX * 3 + 64];
	const char *id;
	bool on, dflt;
	int r;

	r = hgsctl_simple_args(ctx, what, rule_usage, argc, argv, 1, &id);
	if (r >= 0)
		return r;
	if (!hgsctl_rule_id_valid(id)) {
		hgsctl_error(what,
			     "rule id '%s': expected 1-%u of a-z 0-9 - ('hgsctl rule list' names them)",
			     id, HGSCTL_RULE_ID_MAX);
		return HGSCTL_EXIT_USAGE;
	}
	if (hgsctl_path(path, sizeof(path), "rules", id, verb) < 0)
		return HGSCTL_EXIT_USAGE;
	r = hgsctl_call(ctx, "POST", path, NULL, &reply);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return hgsctl_print_json(reply);
	on = hgsctl_json_bool(reply, "enabled", false);
	dflt = hgsctl_json_bool(reply, "default", false);
	printf("rule %s %s%s\n", hgsctl_json_str(reply, "id", id),
	       on ? "enabled" : "disabled",
	       on == dflt ? " (its default)" :
	       on	  ? " (off by default)" :
			    " (on by default)");
	return HGSCTL_EXIT_OK;
}

static int rule_enable(struct hgsctl *ctx, int argc, char **argv)
{
	return rule_set(ctx, argc, argv, "rule enable", "enable");
}

static int rule_disable(struct hgsctl *ctx, int argc, char **argv)
{
	return rule_set(ctx, argc, argv, "rule disable", "disable");
}

int cmd_rule(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "list", rule_list, "list rules" },
		{ "enable", rule_enable, "enable a rule" },
		{ "disable", rule_disable, "disable a rule" },
	};

	return hgsctl_dispatch(ctx, "rule", verbs, ARRAY_SIZE(verbs),
			       rule_usage, argc, argv);
}
