/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsctl baseline add|list|show|remove: attestation baselines, captured here
 * from a reference host's TCG event log (or read from 'shieldvm baseline
 * capture' output) and stored by hgsd (/v1/admin/baselines...).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "attest/hash.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsctl/hgsctl.h"
#include "hgsctl/table.h"

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)
DEFINE_CLEANUP_FUNC(struct baseline, baseline_free)

static void baseline_usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl baseline add --name NAME --from-log LOG [--pcrs LIST] [--bank ALG]\n"
		"       hgsctl baseline add --name NAME --from-file BASELINE.json\n"
		"       hgsctl baseline list [--json]\n"
		"       hgsctl baseline show NAME [--json]\n"
		"       hgsctl baseline remove NAME\n"
		"\n"
		"Attestation baselines: the measured boot events of a reference host.\n"
		"  --name NAME       1-127 of A-Z a-z 0-9 . _ -, not starting with . or -\n"
		"  --from-log LOG    capture from a TCG event log (binary_bios_measurements)\n"
		"  --pcrs LIST       PCRs to capture, e.g. 0,2,4,7 (default 0-7)\n"
		"  --bank ALG        digest bank (default: the log's strongest complete bank)\n"
		"  --from-file FILE  a baseline captured by 'shieldvm baseline capture'\n"
		"  --json            print hgsd's JSON\n"
		"LOG and FILE may be - for standard input.\n");
}

/* "0,2,4,7": each a PCR number, whole and in range. */
static int parse_pcr_list(const char *s, uint32_t *ret)
{
	uint32_t mask = 0;
	const char *p = s;

	for (;;) {
		unsigned v = 0;
		const char *start = p;

		while (*p >= '0' && *p <= '9' && p - start < 3)
			v = v * 10 + (unsigned)(*p++ - '0');
		if (p == start || v >= EVENTLOG_NUM_PCRS)
			return -EINVAL;
		mask |= 1u << v;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return -EINVAL;
	}
	*ret = mask;
	return 0;
}

/* [0,1,2,3,7] -> "0-3,7" */
static void pcrs_str(const json_t *pcrs, char *buf, size_t size)
{
	uint32_t mask = 0;
	size_t n = 0;

	for (size_t i = 0; json_is_array(pcrs) && i < json_array_size(pcrs);
	     i++) {
		const json_t *v = json_array_get(pcrs, i);

		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) < EVENTLOG_NUM_PCRS)
			mask |= 1u << json_integer_value(v);
	}
	buf[0] = '\0';
	for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
		unsigned q = p;
		int w;

		if (!(mask & (1u << p)))
			continue;
		while (q + 1 < EVENTLOG_NUM_PCRS && (mask & (1u << (q + 1))))
			q++;
		w = q == p ? snprintf(buf + n, size - n, "%s%u", n ? "," : "",
				      p) :
			     snprintf(buf + n, size - n, "%s%u-%u",
				      n ? "," : "", p, q);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
		p = q;
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

/* The baseline to send: captured from a log, or read from a file. */
static int capture_from_log(const char *path, const char *name,
			    const char *bank, uint32_t mask, json_t **ret)
{
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	const struct hash_alg *alg = NULL;
	const char *base = strrchr(path, '/');
	struct err e = { 0 };
	size_t len;

	if (bank && !(alg = hash_alg_by_name(bank))) {
		hgsctl_error("baseline add",
			     "--bank '%s': unknown digest algorithm (sha1, sha256, sha384, sha512)",
			     bank);
		return HGSCTL_EXIT_USAGE;
	}
	if (hgsctl_read_file("baseline add", path, EVENTLOG_MAX_SIZE, &buf,
			     &len) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	if (eventlog_parse(buf, len, &log, &e) < 0) {
		hgsctl_error("baseline add", "%s: %s", path, err_str(&e));
		return HGSCTL_EXIT_UNREACHABLE;
	}
	/* Mismatching digests are the reference host's business; capture
	 * records what was measured (as 'shieldvm baseline capture' does). */
	eventlog_check_digests(log, &e);
	e = (struct err){ 0 };
	if (baseline_capture(log, name,
			     streq(path, "-") ? "stdin" :
			     base	      ? base + 1 :
						path,
			     alg, mask, &b, &e) < 0) {
		hgsctl_error("baseline add", "%s: %s", path, err_str(&e));
		return HGSCTL_EXIT_UNREACHABLE;
	}
	*ret = baseline_to_json(b);
	if (!*ret) {
		hgsctl_error("baseline add", "out of memory");
		return HGSCTL_EXIT_UNREACHABLE;
	}
	return HGSCTL_EXIT_OK;
}

static int load_from_file(const char *path, json_t **ret)
{
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	json_error_t jerr;
	struct err e = { 0 };
	json_t *j;
	size_t len;

	if (hgsctl_read_file("baseline add", path, HGSCTL_BASELINE_JSON_MAX,
			     &buf, &len) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		hgsctl_error("baseline add",
			     "%s: not JSON: line %d column %d: %s", path,
			     jerr.line, jerr.column, jerr.text);
		return HGSCTL_EXIT_UNREACHABLE;
	}
	/* Refuse locally what hgsd would refuse, naming the file. */
	if (baseline_from_json(j, &b, &e) < 0) {
		hgsctl_error("baseline add", "%s: not a baseline: %s", path,
			     err_str(&e));
		json_decref(j);
		return HGSCTL_EXIT_UNREACHABLE;
	}
	*ret = j;
	return HGSCTL_EXIT_OK;
}

static int baseline_add(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "from-log", required_argument, NULL, 'l' },
		{ "from-file", required_argument, NULL, 'f' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "bank", required_argument, NULL, 'b' },
		HGSCTL_OPTS_END,
	};
	const char *name = NULL, *from_log = NULL, *from_file = NULL,
		   *bank = NULL;
	_cleanup_(json_decrefp) json_t *bl = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_(json_decrefp) json_t *reply = NULL;
	uint32_t mask = BASELINE_DEFAULT_PCRS;
	bool pcrs_given = false;
	char pcrs[128];
	int c, r;

	optind = 0;
	while ((c = hgsctl_getopt(ctx, "baseline add", baseline_usage, argc,
				  argv, opts, &r)) > 0) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'l':
			from_log = optarg;
			break;
		case 'f':
			from_file = optarg;
			break;
		case 'p':
			if (parse_pcr_list(optarg, &mask) < 0) {
				hgsctl_error("baseline add",
					     "--pcrs '%s': expected PCR numbers 0-%u separated by commas, like 0,2,4,7",
					     optarg, EVENTLOG_NUM_PCRS - 1);
				return HGSCTL_EXIT_USAGE;
			}
			pcrs_given = true;
			break;
		case 'b':
			bank = optarg;
			break;
		}
	}
	if (c < 0)
		return r;
	if (!name) {
		hgsctl_error("baseline add", "--name is required");
		return HGSCTL_EXIT_USAGE;
	}
	if (hgsctl_name_arg("baseline add", "baseline", name) < 0)
		return HGSCTL_EXIT_USAGE;
	if (!from_log == !from_file) {
		hgsctl_error("baseline add",
			     "give exactly one of --from-log and --from-file");
		return HGSCTL_EXIT_USAGE;
	}
	if (from_file && (bank || pcrs_given)) {
		hgsctl_error("baseline add",
			     "--pcrs and --bank apply to --from-log only");
		return HGSCTL_EXIT_USAGE;
	}

	r = from_log ? capture_from_log(from_log, name, bank, mask, &bl) :
		       load_from_file(from_file, &bl);
	if (r != HGSCTL_EXIT_OK)
		return r;
	req = json_pack("{s:s, s:O}", "name", name, "baseline", bl);
	if (!req)
		return HGSCTL_EXIT_UNREACHABLE;
	r = hgsctl_call(ctx, "POST", "/v1/admin/baselines", req, &reply);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return hgsctl_print_json(reply);
	pcrs_str(json_object_get(reply, "pcrs"), pcrs, sizeof(pcrs));
	printf("baseline %s added (bank %s, PCRs %s, %lld events)\n",
	       hgsctl_json_str(reply, "name", name),
	       hgsctl_json_str(reply, "bank", "?"), pcrs,
	       (long long)hgsctl_json_int(reply, "events", 0));
	return HGSCTL_EXIT_OK;
}

static int baseline_row(struct table *t, const json_t *b)
{
	const char *bad = hgsctl_json_str(b, "error", NULL);
	char pcrs[128], events[24];
	const char *cells[5];

	pcrs_str(json_object_get(b, "pcrs"), pcrs, sizeof(pcrs));
	snprintf(events, sizeof(events), "%lld",
		 (long long)hgsctl_json_int(b, "events", 0));
	cells[0] = hgsctl_json_str(b, "name", "?");
	cells[1] = bad ? "?" : hgsctl_json_str(b, "bank", "?");
	cells[2] = bad ? "-" : pcrs;
	cells[3] = bad ? "-" : events;
	cells[4] = bad ? bad : hgsctl_json_str(b, "source", "-");
	return table_add(t, cells);
}

static int baseline_list(struct hgsctl *ctx, int argc, char **argv)
{
	static const char *const headers[] = { "NAME", "BANK", "PCRS", "EVENTS",
					       "SOURCE" };
	int r;

	r = hgsctl_simple_args(ctx, "baseline list", baseline_usage, argc, argv,
			       0, NULL);
	if (r >= 0)
		return r;
	return hgsctl_list(ctx, "baseline list", "/v1/admin/baselines",
			   "baselines", "no baselines", headers,
			   ARRAY_SIZE(headers), baseline_row);
}

static void print_baseline(const struct baseline *b)
{
	uint32_t total = 0;

	for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++)
		total += b->pcrs[p].n_events;
	printf("baseline %s (bank %s, %u events, from %s)\n", b->name,
	       b->alg->name, total,
	       b->source && b->source[0] ? b->source : "?");
	for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
		if (!(b->pcr_mask & (1u << p)))
			continue;
		printf("  PCR %u: %u event(s)\n", p, b->pcrs[p].n_events);
		for (uint32_t i = 0; i < b->pcrs[p].n_events; i++) {
			const struct baseline_event *ev = &b->pcrs[p].events[i];
			const char *tn = eventlog_type_name(ev->type);

			printf("    %-34s %s\n", tn ? tn : "?",
			       ev->description ? ev->description : "");
		}
	}
	if (b->has_dbx)
		printf("  dbx: %u revocation(s)\n", b->n_dbx);
}

/* show, remove */
static int baseline_one(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_action actions[] = {
		{ "show", "GET", NULL, NULL },
		{ "remove", "DELETE", NULL, "removed" },
	};
	static const struct hgsctl_object baselines = {
		"baseline", "baselines",	 baseline_usage,
		actions,    ARRAY_SIZE(actions),
	};
	_cleanup_(json_decrefp) json_t *reply = NULL;
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	const struct hgsctl_action *a;
	struct err e = { 0 };
	const char *name;
	int r;

	r = hgsctl_object_action(ctx, &baselines, argc, argv, &a, &name,
				 &reply);
	if (r >= 0)
		return r;
	if (a->done) {
		printf("baseline %s %s\n", name, a->done);
		return HGSCTL_EXIT_OK;
	}
	if (baseline_from_json(json_object_get(reply, "baseline"), &b, &e) <
	    0) {
		hgsctl_error("baseline show",
			     "hgsd's baseline '%s' does not load: %s", name,
			     err_str(&e));
		return HGSCTL_EXIT_UNREACHABLE;
	}
	print_baseline(b);
	return HGSCTL_EXIT_OK;
}

int cmd_baseline(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "add", baseline_add, "capture and store a baseline" },
		{ "list", baseline_list, "list baselines" },
		{ "show", baseline_one, "show a baseline's events" },
		{ "remove", baseline_one, "remove a baseline" },
	};

	return hgsctl_dispatch(ctx, "baseline", verbs, ARRAY_SIZE(verbs),
			       baseline_usage, argc, argv);
}
