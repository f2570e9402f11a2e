/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm eventlog show FILE [--json]
 * shieldvm eventlog replay FILE [--json] [--bank ALG]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "attest/eventlog.h"
#include "attest/eventlog_decode.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm eventlog show FILE [--json]\n"
		"       shieldvm eventlog replay FILE [--json] [--bank ALG]\n"
		"\n"
		"Parse a TCG PC Client event log (binary_bios_measurements, crypto-agile\n"
		"or legacy SHA-1). FILE may be '-' for standard input.\n"
		"\n"
		"  show     one line per event: index, PCR, type, digest, decoded data and\n"
		"           whether the digest matches the data where the spec defines it\n"
		"  replay   final PCR values per bank, as the TPM would hold them\n"
		"\n"
		"Options:\n"
		"  --json       machine-readable output (replay: {\"sha256\": {\"0\": hex}})\n"
		"  --bank ALG   replay only this bank (sha1, sha256, sha384, sha512, sm3_256)\n"
		"  -h, --help   this text\n"
		"\n"
		"Exit status: 0 ok, 2 usage, 3 malformed or unreadable log.\n");
}

static const char *check_name(enum eventlog_check c)
{
	switch (c) {
	case EVENTLOG_CHECK_OK:
		return "ok";
	case EVENTLOG_CHECK_MISMATCH:
		return "mismatch";
	case EVENTLOG_CHECK_DATA_ONLY:
		return "data-only";
	default:
		return "n/a";
	}
}

static json_t *event_json(const struct eventlog_event *ev)
{
	char desc[EVENTLOG_MAX_DESCRIPTION];
	const char *tn = eventlog_type_name(ev->type);
	json_t *o = json_object(), *digests = json_object();
	char typebuf[16];

	if (!o || !digests) {
		json_decref(o);
		json_decref(digests);
		return NULL;
	}
	if (!tn) {
		snprintf(typebuf, sizeof(typebuf), "0x%08x", ev->type);
		tn = typebuf;
	}
	for (uint32_t d = 0; d < ev->n_digests; d++) {
		char hex[2 * EVENTLOG_MAX_DIGEST + 1];

		json_object_set_new(digests, ev->digests[d].alg->name,
				    json_string(hex_encode(ev->digests[d].bytes,
							   ev->digests[d].alg->size,
							   hex)));
	}
	eventlog_event_describe(ev, desc, sizeof(desc));
	json_object_set_new(o, "index", json_integer(ev->index));
	json_object_set_new(o, "offset", json_integer((json_int_t)ev->offset));
	json_object_set_new(o, "pcr", json_integer(ev->pcr));
	json_object_set_new(o, "type", json_string(tn));
	json_object_set_new(o, "type_value", json_integer(ev->type));
	json_object_set_new(o, "digests", digests);
	json_object_set_new(o, "data_size", json_integer(ev->data_len));
	json_object_set_new(o, "description", json_string(desc));
	json_object_set_new(o, "digest_check", json_string(check_name(ev->check)));
	return o;
}

static int show(struct eventlog *log, bool json)
{
	struct err e = { 0 };
	int mism = eventlog_check_digests(log, &e);

	if (mism < 0) {
		cli_error("eventlog", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < log->n_events; i++)
			json_array_append_new(arr, event_json(&log->events[i]));
		return json_print(arr) < 0 ? EXIT_INPUT : EXIT_OK;
	}
	printf("# %s log, %zu events, banks:", log->crypto_agile ? "crypto-agile" : "legacy SHA-1",
	       log->n_events);
	for (uint32_t i = 0; i < log->n_algs; i++)
		printf(" %s", log->algs[i]->name);
	printf("\n");
	for (size_t i = 0; i < log->n_warnings; i++)
		printf("# warning: %s\n", log->warnings[i]);
	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const char *tn = eventlog_type_name(ev->type);
		char desc[EVENTLOG_MAX_DESCRIPTION];
		char hex[2 * EVENTLOG_MAX_DIGEST + 1] = "-";
		const struct eventlog_digest *d = NULL;

		for (uint32_t k = 0; k < ev->n_digests; k++)
			if (!d || ev->digests[k].alg->size > d->alg->size)
				d = &ev->digests[k];
		if (d)
			hex_encode(d->bytes, 8, hex);
		eventlog_event_describe(ev, desc, sizeof(desc));
		printf("%4zu  PCR %-2u  %-34s %s:%s..  %s%s\n", i, ev->pcr,
		       tn ? tn : "(unknown)", d ? d->alg->name : "-", hex, desc,
		       ev->check == EVENTLOG_CHECK_MISMATCH ? "  [DIGEST MISMATCH]" : "");
	}
	if (mism)
		printf("# %d event(s) whose digest does not match their data\n", mism);
	return EXIT_OK;
}

static int replay(struct eventlog *log, bool json, const char *bank)
{
	struct eventlog_pcrs pcrs;
	struct err e = { 0 };
	uint32_t mask = ~0u;
	json_t *root;

	if (bank) {
		const struct hash_alg *alg = hash_alg_by_name(bank);

		mask = 0;
		for (uint32_t i = 0; alg && i < log->n_algs; i++)
			if (log->algs[i] == alg)
				mask = 1u << i;
		if (!mask) {
			cli_error("eventlog", "the log has no '%s' bank", bank);
			return EXIT_INPUT;
		}
	}
	if (eventlog_replay(log, mask, &pcrs, &e) < 0) {
		cli_error("eventlog", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	root = json_object();
	for (uint32_t b = 0; b < pcrs.n_banks; b++) {
		const struct eventlog_bank *bk = &pcrs.banks[b];
		json_t *o;

		if (!bk->extended)
			continue;
		o = json_object();
		for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
			char key[4], hex[2 * EVENTLOG_MAX_DIGEST + 1];

			if (!(bk->extended & (1u << p)))
				continue;
			snprintf(key, sizeof(key), "%u", p);
			json_object_set_new(o, key, json_string(hex_encode(bk->pcr[p], bk->alg->size, hex)));
		}
		json_object_set_new(root, bk->alg->name, o);
	}
	if (json)
		return json_print(root) < 0 ? EXIT_INPUT : EXIT_OK;
	for (uint32_t b = 0; b < pcrs.n_banks; b++) {
		const struct eventlog_bank *bk = &pcrs.banks[b];

		for (unsigned p = 0; p < EVENTLOG_NUM_PCRS; p++) {
			char hex[2 * EVENTLOG_MAX_DIGEST + 1];

			if (bk->extended & (1u << p))
				printf("%s:%-2u %s\n", bk->alg->name, p,
				       hex_encode(bk->pcr[p], bk->alg->size, hex));
		}
	}
	json_decref(root);
	return EXIT_OK;
}

int cmd_eventlog(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "bank", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	const char *bank = NULL, *verb;
	bool json = false;
	int c;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "hjb:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'b':
			bank = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc - 1) {
		cli_error("eventlog", "%s takes exactly one FILE", verb);
		return EXIT_USAGE;
	}
	if (!streq(verb, "show") && !streq(verb, "replay")) {
		cli_error("eventlog", "unknown verb '%s' (show, replay)", verb);
		return EXIT_USAGE;
	}
	if (cli_load_eventlog("eventlog", argv[optind + 1], &log) < 0)
		return EXIT_INPUT;
	if (streq(verb, "show")) {
		if (bank) {
			cli_error("eventlog", "--bank applies to replay only");
			return EXIT_USAGE;
		}
		return show(log, json);
	}
	return replay(log, json, bank);
}
