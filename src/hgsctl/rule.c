/* SPDX-License-Identifier: Apache-2.0 */
/* hgsctl rule list|enable|disable: the attestation policy's rules
 * (src/attest/policy.h) as hgsd applies them (/v1/admin/rules...). */
#include <stdlib.h>

#include "common/util.h"
#include "hgsctl/hgsctl.h"
#include "hgsctl/table.h"

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

static int rule_row(struct table *t, const json_t *ru)
{
	const char *cells[4] = {
		hgsctl_json_str(ru, "id", "?"),
		hgsctl_json_bool(ru, "enabled", false) ? "yes" : "no",
		hgsctl_json_bool(ru, "default", false) ? "on" : "off",
		hgsctl_json_str(ru, "description", ""),
	};

	return table_add(t, cells);
}

static int rule_list(struct hgsctl *ctx, int argc, char **argv)
{
	static const char *const headers[] = { "ID", "ENABLED", "DEFAULT",
					       "DESCRIPTION" };
	int r;

	r = hgsctl_simple_args(ctx, "rule list", rule_usage, argc, argv, 0,
			       NULL);
	if (r >= 0)
		return r;
	return hgsctl_list(ctx, "rule list", "/v1/admin/rules", "rules", NULL,
			   headers, ARRAY_SIZE(headers), rule_row);
}

/* enable, disable */
static int rule_set(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_action actions[] = {
		{ "enable", "POST", "enable", NULL },
		{ "disable", "POST", "disable", NULL },
	};
	_cleanup_(json_decrefp) json_t *reply = NULL;
	const struct hgsctl_action *a;
	char what[HGSCTL_WHAT_MAX];
	const char *id;
	bool on, dflt;
	int r;

	a = hgsctl_action_find("rule", actions, ARRAY_SIZE(actions), argv,
			       what);
	if (!a)
		return HGSCTL_EXIT_USAGE;
	r = hgsctl_simple_args(ctx, what, rule_usage, argc, argv, 1, &id);
	if (r >= 0)
		return r;
	if (!hgsctl_rule_id_valid(id)) {
		hgsctl_error(what,
			     "rule id '%s': expected 1-%u of a-z 0-9 - ('hgsctl rule list' names them)",
			     id, HGSCTL_RULE_ID_MAX);
		return HGSCTL_EXIT_USAGE;
	}
	r = hgsctl_action_call(ctx, a, "rules", id, &reply);
	if (r >= 0)
		return r;
	on = hgsctl_json_bool(reply, "enabled", false);
	dflt = hgsctl_json_bool(reply, "default", false);
	printf("rule %s %s%s\n", hgsctl_json_str(reply, "id", id),
	       on ? "enabled" : "disabled",
	       on == dflt ? " (its default)" :
	       on	  ? " (off by default)" :
			    " (on by default)");
	return HGSCTL_EXIT_OK;
}

int cmd_rule(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "list", rule_list, "list rules" },
		{ "enable", rule_set, "enable a rule" },
		{ "disable", rule_set, "disable a rule" },
	};

	return hgsctl_dispatch(ctx, "rule", verbs, ARRAY_SIZE(verbs),
			       rule_usage, argc, argv);
}
