/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm baseline capture|show
 * shieldvm policy new|show|rules|judge
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "attest/policy.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/util.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)
DEFINE_CLEANUP_FUNC(struct baseline, baseline_free)
DEFINE_CLEANUP_FUNC(struct policy, policy_free)

static int load_json(const char *cmd, const char *path, json_t **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { 0 };
	json_error_t je;
	size_t len;

	if (file_read(path, POLICY_MAX_FILE_SIZE, &buf, &len, &e) < 0) {
		cli_error(cmd, "%s", err_str(&e));
		return -EIO;
	}
	*ret = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!*ret) {
		cli_error(cmd, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return -EBADMSG;
	}
	return 0;
}

static int write_json(const char *cmd, const char *path, json_t *j)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	struct err e = { 0 };
	size_t n;

	if (!s) {
		cli_error(cmd, "out of memory");
		return -ENOMEM;
	}
	if (!path || streq(path, "-")) {
		puts(s);
		return 0;
	}
	n = strlen(s);
	s[n] = '\n';
	if (file_write(path, s, n + 1, 0644, &e) < 0) {
		cli_error(cmd, "%s", err_str(&e));
		return -EIO;
	}
	return 0;
}

static int parse_pcr_list(const char *s, uint32_t *ret)
{
	uint32_t mask = 0;
	_cleanup_free_ char *copy = strdup(s);
	char *tok, *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(tok, &end, 10);
		if (errno || end == tok || *end || v >= EVENTLOG_NUM_PCRS || tok[0] == '-')
			return -EINVAL;
		mask |= 1u << v;
	}
	if (!mask)
		return -EINVAL;
	*ret = mask;
	return 0;
}

static void baseline_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm baseline capture --name NAME LOG [-o FILE] [--pcrs LIST] [--bank ALG]\n"
		"       shieldvm baseline show FILE [--json]\n"
		"\n"
		"Capture an attestation baseline from a reference host's event log: the\n"
		"ordered measured events of each covered PCR, and its dbx revocations.\n"
		"\n"
		"  --name NAME   baseline name (required for capture)\n"
		"  -o FILE       write the baseline here (default: standard output)\n"
		"  --pcrs LIST   PCRs to cover, e.g. 0,2,4,7 (default 0-7)\n"
		"  --bank ALG    digest bank to record (default: strongest in the log)\n"
		"  --json        show: print the baseline JSON\n");
}

int cmd_baseline(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "output", required_argument, NULL, 'o' },
		{ "pcrs", required_argument, NULL, 'p' }, { "bank", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },	  { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = NULL, *out = NULL, *bank = NULL, *verb;
	uint32_t mask = BASELINE_DEFAULT_PCRS;
	bool json = false;
	int c;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		baseline_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "hn:o:p:b:j", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			if (parse_pcr_list(optarg, &mask) < 0) {
				cli_error("baseline", "--pcrs '%s': expected a list like 0,2,4,7", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'b':
			bank = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			baseline_usage(stdout);
			return EXIT_OK;
		default:
			baseline_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc - 1) {
		cli_error("baseline", "%s takes exactly one file", verb);
		return EXIT_USAGE;
	}
	if (streq(verb, "capture")) {
		_cleanup_(eventlog_freep) struct eventlog *log = NULL;
		_cleanup_(baseline_freep) struct baseline *b = NULL;
		_cleanup_(json_decrefp) json_t *j = NULL;
		const struct hash_alg *alg = NULL;
		struct err e = { 0 };
		const char *path = argv[optind + 1], *base = strrchr(path, '/');

		if (!name) {
			cli_error("baseline", "capture needs --name");
			return EXIT_USAGE;
		}
		if (bank && !(alg = hash_alg_by_name(bank))) {
			cli_error("baseline", "unknown bank '%s'", bank);
			return EXIT_USAGE;
		}
		if (cli_load_eventlog("baseline", path, &log) < 0)
			return EXIT_INPUT;
		eventlog_check_digests(log, &e);
		if (baseline_capture(log, name, base ? base + 1 : path, alg, mask, &b, &e) < 0) {
			cli_error("baseline", "%s: %s", path, err_str(&e));
			return EXIT_INPUT;
		}
		j = baseline_to_json(b);
		return write_json("baseline", out, j) < 0 ? EXIT_INPUT : EXIT_OK;
	}
	if (streq(verb, "show")) {
		_cleanup_(json_decrefp) json_t *j = NULL;
		_cleanup_(baseline_freep) struct baseline *b = NULL;
		struct err e = { 0 };

		if (load_json("baseline", argv[optind + 1], &j) < 0)
			return EXIT_INPUT;
		if (baseline_from_json(j, &b, &e) < 0) {
			cli_error("baseline", "%s: %s", argv[optind + 1], err_str(&e));
			return EXIT_INPUT;
		}
		if (json)
			return write_json("baseline", NULL, j) < 0 ? EXIT_INPUT : EXIT_OK;
		printf("baseline %s (bank %s, from %s)\n", b->name, b->alg->name,
		       b->source[0] ? b->source : "?");
		for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
			if (!(b->pcr_mask & (1u << p)))
				continue;
			printf("  PCR %u: %u event(s)\n", p, b->pcrs[p].n_events);
			for (uint32_t i = 0; i < b->pcrs[p].n_events; i++) {
				const char *tn = eventlog_type_name(b->pcrs[p].events[i].type);

				printf("    %-34s %s\n", tn ? tn : "?",
				       b->pcrs[p].events[i].description);
			}
		}
		if (b->has_dbx)
			printf("  dbx: %u revocation(s)\n", b->n_dbx);
		return EXIT_OK;
	}
	cli_error("baseline", "unknown verb '%s' (capture, show)", verb);
	return EXIT_USAGE;
}

static void policy_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm policy new -o FILE --baseline B.json [--baseline ...] [options]\n"
		"       shieldvm policy show POLICY [--json]\n"
		"       shieldvm policy rules [--json]\n"
		"       shieldvm policy judge POLICY LOG [--json]\n"
		"\n"
		"An attestation policy is a set of named baselines plus rules. 'judge'\n"
		"evaluates a host's event log and explains every failed rule.\n"
		"\n"
		"Options for new:\n"
		"  --id ID             appraisal policy id (default shieldvm-default)\n"
		"  --baseline FILE     add a baseline (repeatable)\n"
		"  --enable RULE       enable a rule; --disable RULE disables one\n"
		"  --allow PATTERN     cmdline rule: every argument must match an allow pattern\n"
		"  --deny PATTERN      cmdline rule: no argument may match a deny pattern\n"
		"  --boot-app ALG:HEX  boot-apps rule: allow this application digest\n"
		"\n"
		"Exit status of judge: 0 the log passes, 1 it fails (reasons printed),\n"
		"2 usage, 3 unreadable or malformed input.\n");
}

static int policy_rules_list(bool json)
{
	json_t *arr = json_array();

	for (int i = 0; i < _RULE_MAX; i++) {
		const struct policy_rule_info *ri = policy_rule_info((enum policy_rule_id)i);
		json_t *o = json_object();

		if (!json)
			printf("%-20s %-8s %s\n", ri->id, ri->default_enabled ? "on" : "off",
			       ri->description);
		json_object_set_new(o, "id", json_string(ri->id));
		json_object_set_new(o, "default_enabled", json_boolean(ri->default_enabled));
		json_object_set_new(o, "description", json_string(ri->description));
		json_array_append_new(arr, o);
	}
	if (json)
		return json_print(arr) < 0 ? EXIT_INPUT : EXIT_OK;
	json_decref(arr);
	return EXIT_OK;
}

static int load_policy(const char *path, struct policy **ret)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	struct err e = { 0 };

	if (load_json("policy", path, &j) < 0)
		return -EBADMSG;
	if (policy_from_json(j, ret, &e) < 0) {
		cli_error("policy", "%s: %s", path, err_str(&e));
		return -EBADMSG;
	}
	return 0;
}

static int policy_judge(const char *ppath, const char *lpath, bool json)
{
	_cleanup_(policy_freep) struct policy *p = NULL;
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	struct policy_verdict v;
	struct err e = { 0 };

	if (load_policy(ppath, &p) < 0 || cli_load_eventlog("policy", lpath, &log) < 0)
		return EXIT_INPUT;
	if (policy_evaluate(p, log, &v, &e) < 0) {
		cli_error("policy", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	if (json) {
		json_t *o = policy_verdict_to_json(&v);

		json_object_set_new(o, "policy", json_string(p->id));
		json_object_set_new(o, "log", json_string(lpath));
		if (json_print(o) < 0)
			return EXIT_INPUT;
	} else {
		printf("%s: %s (policy %s", lpath, v.pass ? "PASS" : "FAIL", p->id);
		if (v.baseline)
			printf(", %s baseline %s", v.baseline_matched ? "matched" : "closest", v.baseline);
		printf(")\n");
		for (int i = 0; i < _RULE_MAX; i++) {
			const struct policy_rule_result *r = &v.results[i];

			printf("  %-7s %-20s %s\n",
			       r->status == POLICY_PASS ? "pass" : r->status == POLICY_FAIL ? "FAIL" : "skip",
			       policy_rule_info((enum policy_rule_id)i)->id,
			       r->status == POLICY_SKIPPED ? "(disabled)" : r->message);
		}
	}
	return v.pass ? EXIT_OK : EXIT_FAIL;
}

int cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },   { "id", required_argument, NULL, 'i' },
		{ "baseline", required_argument, NULL, 'B' }, { "enable", required_argument, NULL, 'E' },
		{ "disable", required_argument, NULL, 'D' },  { "allow", required_argument, NULL, 'A' },
		{ "deny", required_argument, NULL, 'N' },     { "boot-app", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },	      { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(policy_freep) struct policy *p = NULL;
	const char *out = NULL, *verb;
	struct err e = { 0 };
	bool json = false;
	int c, r;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		policy_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	p = policy_new(NULL);
	if (!p)
		return EXIT_INPUT;
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "ho:j", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'i':
			free(p->id);
			p->id = strdup(optarg);
			if (!p->id)
				return EXIT_INPUT;
			break;
		case 'B': {
			_cleanup_(json_decrefp) json_t *j = NULL;
			struct baseline *b;

			if (load_json("policy", optarg, &j) < 0)
				return EXIT_INPUT;
			if (baseline_from_json(j, &b, &e) < 0 || policy_add_baseline(p, b, &e) < 0) {
				cli_error("policy", "%s: %s", optarg, err_str(&e));
				return EXIT_INPUT;
			}
			break;
		}
		case 'E':
		case 'D':
			r = policy_rule_lookup(optarg);
			if (r < 0) {
				cli_error("policy", "unknown rule '%s' (see 'shieldvm policy rules')", optarg);
				return EXIT_USAGE;
			}
			p->enabled[r] = c == 'E';
			break;
		case 'A':
		case 'N':
			if (policy_add_pattern(p, c == 'A', optarg, &e) < 0) {
				cli_error("policy", "%s", err_str(&e));
				return EXIT_USAGE;
			}
			break;
		case 'P':
			if (policy_add_boot_app(p, optarg, &e) < 0) {
				cli_error("policy", "%s", err_str(&e));
				return EXIT_USAGE;
			}
			p->enabled[RULE_BOOT_APPS] = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			policy_usage(stdout);
			return EXIT_OK;
		default:
			policy_usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc--;
	argv++;
	if (streq(verb, "rules"))
		return policy_rules_list(json);
	if (streq(verb, "new")) {
		_cleanup_(json_decrefp) json_t *j = NULL;

		if (optind != argc) {
			cli_error("policy", "new takes no positional arguments");
			return EXIT_USAGE;
		}
		if (!p->n_baselines)
			fprintf(stderr, "shieldvm policy: warning: no --baseline; every log will fail the baseline rule\n");
		j = policy_to_json(p);
		return write_json("policy", out, j) < 0 ? EXIT_INPUT : EXIT_OK;
	}
	if (streq(verb, "show")) {
		_cleanup_(policy_freep) struct policy *q = NULL;
		_cleanup_(json_decrefp) json_t *j = NULL;

		if (optind + 1 != argc) {
			cli_error("policy", "show takes one POLICY file");
			return EXIT_USAGE;
		}
		if (load_policy(argv[optind], &q) < 0)
			return EXIT_INPUT;
		j = policy_to_json(q);
		if (json)
			return write_json("policy", NULL, j) < 0 ? EXIT_INPUT : EXIT_OK;
		printf("policy %s\n", q->id);
		for (int i = 0; i < _RULE_MAX; i++)
			printf("  %-20s %s\n", policy_rule_info((enum policy_rule_id)i)->id,
			       q->enabled[i] ? "enabled" : "disabled");
		for (uint32_t i = 0; i < q->n_baselines; i++)
			printf("  baseline %s (%s, from %s)\n", q->baselines[i]->name,
			       q->baselines[i]->alg->name, q->baselines[i]->source);
		for (uint32_t i = 0; i < q->n_allow; i++)
			printf("  cmdline allow %s\n", q->allow[i]);
		for (uint32_t i = 0; i < q->n_deny; i++)
			printf("  cmdline deny %s\n", q->deny[i]);
		for (uint32_t i = 0; i < q->n_apps; i++)
			printf("  boot app %s\n", q->apps[i]);
		return EXIT_OK;
	}
	if (streq(verb, "judge")) {
		if (optind + 2 != argc) {
			cli_error("policy", "judge takes POLICY and LOG");
			return EXIT_USAGE;
		}
		return policy_judge(argv[optind], argv[optind + 1], json);
	}
	cli_error("policy", "unknown verb '%s' (new, show, rules, judge)", verb);
	return EXIT_USAGE;
}
