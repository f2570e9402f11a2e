/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shieldvm host init|attest|status|capture-baseline: the guarded-host agent
 * (docs/host-agent.md). The logic is in src/host/agent.c; this file parses
 * options and prints results.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "common/file.h"
#include "common/util.h"
#include "host/agent.h"
#include "host/client.h"
#include "host/tpm.h"
#include "host/unwrap.h"
#include "kp/kp.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"

/* No hgsd answered (all URLs down or 5xx): worth retrying later. */
#define EXIT_UNREACHABLE 4

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm host init [--ek rsa|ecc|ecc-p384] [--ak rsa|ecc]\n"
		"                          [--transport-key rsa|ecc] [--new-transport-key]\n"
		"       shieldvm host attest [--event-log FILE]\n"
		"       shieldvm host status [--offline]\n"
		"       shieldvm host capture-baseline [--event-log FILE] [--name N] [-o FILE]\n"
		"                          [--ek rsa|ecc|ecc-p384]\n"
		"       shieldvm host unwrap KP|VMKEYDIR [--event-log FILE] [--no-attest]\n"
		"\n"
		"The guarded-host agent: enroll this host's TPM attestation key with hgsd,\n"
		"attest for a health token, show the agent's state, capture what an\n"
		"admin needs to register the host, and release a VM's transport key.\n"
		"\n"
		"unwrap KP: one release of the key protector KP (nothing written, nothing\n"
		"committed): prints the VM id, generation, policy and a fingerprint of the\n"
		"transport key. unwrap VMKEYDIR: the whole start procedure on a VM key\n"
		"directory (kp, kp.next, secrets): release, re-encrypt the VM's secrets\n"
		"under the next transport key, commit the next generation. It attests\n"
		"first when the stored token is missing or expires within %ds\n"
		"(--no-attest: send token.jwt as it is).\n"
		"\n"
		"Common options:\n"
		"  --tcti T        TPM (default $SHIELDVM_TCTI, else %s)\n"
		"  --state-dir D   agent state (default %s)\n"
		"  --hgs URL       hgsd URL, repeatable, tried in order (default: hgs_urls\n"
		"                  in D/config; init saves --hgs there)\n"
		"  --ca-file F     CA certificates (PEM) for hgsd's TLS certificate\n"
		"  --json          machine-readable output\n"
		"  --quiet         no progress messages\n"
		"\n"
		"Exit status: 0 done (status: a valid token), 1 refused by hgsd (status:\n"
		"no valid token), 2 usage, 3 local error (TPM, files), 4 no hgsd reachable.\n",
		HOST_UNWRAP_TOKEN_MARGIN, HOST_TPM_DEFAULT_TCTI, HOST_AGENT_DEFAULT_STATE_DIR);
}

enum {
	OPT_TCTI = 0x100,
	OPT_STATE_DIR,
	OPT_HGS,
	OPT_CA_FILE,
	OPT_JSON,
	OPT_QUIET,
	OPT_EK,
	OPT_AK,
	OPT_TK,
	OPT_NEW_TK,
	OPT_EVENT_LOG,
	OPT_NAME,
	OPT_OFFLINE,
	OPT_NO_ATTEST,
};

static int exit_for(int r)
{
	switch (r) {
	case -EREMOTEIO:
		return EXIT_FAIL;
	case -EAGAIN:
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -EKEYREJECTED:
	case -EPROTO:
	case -EMSGSIZE:
	case -EIO:
		return EXIT_UNREACHABLE;
	default:
		return EXIT_INPUT;
	}
}

/* The agent's codes are ambiguous between TPM and network (-EIO, -EPROTO,
 * -EKEYREJECTED come from both); the caller knows which phase failed. */
static int exit_for_phase(int r, bool network)
{
	if (r == -EREMOTEIO)
		return EXIT_FAIL;
	return network ? exit_for(r) : EXIT_INPUT;
}

static bool is_network_error(const struct err *e)
{
	return strstr(err_str(e), "failed on every hgsd URL") != NULL;
}

static int parse_ek(const char *s, enum host_tpm_ek_type *ret)
{
	if (streq(s, "rsa"))
		s = "rsa2048";
	else if (streq(s, "ecc"))
		s = "ecc-p256";
	return host_tpm_ek_type_from_string(s, ret);
}

static void fmt_time(json_t *t, char *buf, size_t n)
{
	time_t tt;
	struct tm tm;

	if (!json_is_integer(t)) {
		snprintf(buf, n, "?");
		return;
	}
	tt = (time_t)json_integer_value(t);
	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, n, "%lld", (long long)json_integer_value(t));
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Server text is untrusted: no terminal escapes. */
static void print_safe(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

static void print_failures(FILE *f, const json_t *fails)
{
	size_t i;
	json_t *fl;

	json_array_foreach(fails, i, fl) {
		json_t *ev = json_object_get(fl, "event");

		fputs("  - ", f);
		print_safe(f, str(fl, "rule")[0] ? str(fl, "rule") : "?");
		if (json_is_integer(ev))
			fprintf(f, " (event %lld)", (long long)json_integer_value(ev));
		fputs(": ", f);
		print_safe(f, str(fl, "message"));
		fputc('\n', f);
	}
}

static void print_refusal(FILE *f, const char *what, const json_t *r)
{
	fprintf(f, "shieldvm host: %s refused by ", what);
	print_safe(f, str(r, "url"));
	fprintf(f, ": HTTP %lld ", (long long)json_integer_value(json_object_get(r, "http_status")));
	print_safe(f, str(r, "error"));
	if (str(r, "message")[0]) {
		fputs(": ", f);
		print_safe(f, str(r, "message"));
	}
	fputc('\n', f);
	print_failures(f, json_object_get(r, "failures"));
}

static int do_init(struct host_agent *a, const struct host_agent_init_options *io, bool json)
{
	_cleanup_(json_decrefp) json_t *refusal = NULL;
	json_t *rec = NULL;
	struct err e = { 0 };
	int r;

	r = host_agent_init(a, io, &rec, &refusal, &e);
	if (r == -EREMOTEIO && refusal) {
		print_refusal(stderr, "enrollment", refusal);
		if (json)
			json_print(json_incref(refusal));
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_error("host init", "%s", err_str(&e));
		return exit_for_phase(r, is_network_error(&e));
	}
	if (json)
		return json_print(rec) < 0 ? EXIT_INPUT : EXIT_OK;
	printf("enrolled as host '");
	print_safe(stdout, str(rec, "host"));
	printf("' with ");
	print_safe(stdout, str(rec, "hgs_url"));
	printf("\n  AK            %s, name %s\n", str(rec, "ak_type"), str(rec, "ak_name"));
	printf("  EK            %s, name %s%s\n", str(rec, "ek_type"), str(rec, "ek_name"),
	       json_is_true(json_object_get(rec, "ek_cert")) ? " (certificate sent)" : "");
	printf("  transport key %s, name %s\n",
	       json_is_true(json_object_get(rec, "transport_key_created")) ? "created" : "kept",
	       str(rec, "transport_key_name"));
	json_decref(rec);
	return EXIT_OK;
}

static int do_attest(struct host_agent *a, const char *log, bool json)
{
	_cleanup_(json_decrefp) json_t *st = NULL;
	struct err e = { 0 };
	char when[64];
	int r;

	r = host_agent_attest(a, log, &st, &e);
	if (json && st)
		json_print(json_incref(st));
	if (r == -EREMOTEIO) {
		print_refusal(stderr, "attestation", st);
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_error("host attest", "%s", err_str(&e));
		return exit_for_phase(r, is_network_error(&e) ||
						 json_object_get(st, "http_status"));
	}
	if (json)
		return EXIT_OK;
	fmt_time(json_object_get(st, "expires"), when, sizeof(when));
	printf("attested by ");
	print_safe(stdout, str(st, "url"));
	printf(": token stored, valid until %s\n", when);
	{
		json_t *c = json_object_get(st, "claims");

		printf("  status %s, mode %s, host ", str(c, "status"), str(c, "mode"));
		print_safe(stdout, str(c, "host"));
		printf(", baseline ");
		print_safe(stdout, str(c, "baseline"));
		printf("\n");
	}
	return EXIT_OK;
}

static int do_status(struct host_agent *a, bool offline, bool json)
{
	_cleanup_(json_decrefp) json_t *st = NULL;
	json_t *enr, *tok, *last, *claims;
	struct err e = { 0 };
	bool healthy = false;
	char when[64];
	int r;

	r = host_agent_status(a, !offline, &st, &healthy, &e);
	if (r < 0) {
		cli_error("host status", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	if (json) {
		if (json_print(json_incref(st)) < 0)
			return EXIT_INPUT;
		return healthy ? EXIT_OK : EXIT_FAIL;
	}
	printf("state directory %s\n", str(st, "state_dir"));
	enr = json_object_get(st, "enrollment");
	if (json_is_true(json_object_get(st, "enrolled"))) {
		fmt_time(json_object_get(enr, "enrolled_at"), when, sizeof(when));
		printf("enrolled        yes: host '");
		print_safe(stdout, str(enr, "host"));
		printf("', AK %s %s, %s\n", str(enr, "ak_type"), str(enr, "ak_name"), when);
	} else {
		printf("enrolled        no%s%s\n",
		       str(st, "enrollment_error")[0] ? ": " : " (run 'shieldvm host init')",
		       str(st, "enrollment_error"));
	}
	printf("transport key   %s\n",
	       json_is_true(json_object_get(st, "transport_key")) ? "present" : "missing");
	tok = json_object_get(st, "token");
	claims = json_object_get(tok, "claims");
	if (!json_is_true(json_object_get(tok, "present"))) {
		printf("token           none%s%s\n", str(tok, "error")[0] ? ": " : "",
		       str(tok, "error"));
	} else if (!claims) {
		printf("token           unreadable: %s\n", str(tok, "error"));
	} else {
		json_t *in = json_object_get(tok, "expires_in");

		fmt_time(json_object_get(claims, "exp"), when, sizeof(when));
		printf("token           %s, expires %s",
		       json_is_true(json_object_get(tok, "expired")) ? "EXPIRED" : "present",
		       when);
		if (json_is_integer(in) && json_integer_value(in) > 0)
			printf(" (in %lldh%02lldm)", (long long)json_integer_value(in) / 3600,
			       (long long)(json_integer_value(in) % 3600) / 60);
		printf("\n  status %s, mode %s, host ", str(claims, "status"), str(claims, "mode"));
		print_safe(stdout, str(claims, "host"));
		printf(", baseline ");
		print_safe(stdout, str(claims, "baseline"));
		printf(", policy ");
		print_safe(stdout, str(claims, "policy_id"));
		printf("\n  ");
		print_safe(stdout, str(tok, "verification"));
		printf("\n");
		if (json_is_false(json_object_get(tok, "bound_to_transport_key")))
			printf("  NOT bound to this host's transport key (attest again)\n");
	}
	last = json_object_get(st, "last_attestation");
	if (last) {
		fmt_time(json_object_get(last, "time"), when, sizeof(when));
		printf("last attestation %s: %s", when, str(last, "result"));
		if (str(last, "url")[0]) {
			printf(" (");
			print_safe(stdout, str(last, "url"));
			printf(")");
		}
		printf("\n");
		if (!streq(str(last, "result"), "pass")) {
			printf("  ");
			if (str(last, "error")[0]) {
				print_safe(stdout, str(last, "error"));
				printf(": ");
			}
			print_safe(stdout, str(last, "message"));
			printf("\n");
			print_failures(stdout, json_object_get(last, "failures"));
		}
	} else if (str(st, "last_attestation_error")[0]) {
		printf("last attestation unreadable: %s\n", str(st, "last_attestation_error"));
	} else {
		printf("last attestation none\n");
	}
	return healthy ? EXIT_OK : EXIT_FAIL;
}

static int do_capture(struct host_agent *a, const struct host_agent_capture_options *co,
		      bool json)
{
	json_t *out = NULL, *cmd;
	struct err e = { 0 };
	size_t i;
	int r;

	r = host_agent_capture_baseline(a, co, &out, &e);
	if (r < 0) {
		cli_error("host capture-baseline", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	if (json)
		return json_print(out) < 0 ? EXIT_INPUT : EXIT_OK;
	printf("baseline '%s' (bank %s) of %s written to %s\n", str(out, "name"), str(out, "bank"),
	       str(out, "event_log"), str(out, "baseline_file"));
	printf("EK %s public area written to %s\n", str(out, "ek_type"), str(out, "ek_pub_file"));
	if (str(out, "ek_cert_file")[0])
		printf("EK certificate written to %s\n", str(out, "ek_cert_file"));
	printf("  EK name    %s\n  EK public  %s\n\nOn the admin host:\n", str(out, "ek_name"),
	       str(out, "ek_pub"));
	json_array_foreach(json_object_get(out, "commands"), i, cmd)
		printf("  %s\n", json_string_value(cmd));
	json_decref(out);
	return EXIT_OK;
}

static int do_unwrap(struct host_agent *a, const char *path, const struct host_unwrap_options *uo,
		     bool json)
{
	_cleanup_(json_decrefp) json_t *out = NULL;
	_cleanup_free_ uint8_t *kp = NULL;
	struct err e = { 0 };
	struct stat st;
	bool dir;
	size_t len;
	int r;

	if (stat(path, &st) < 0) {
		cli_error("host unwrap", "%s: %s", path, strerror(errno));
		return EXIT_INPUT;
	}
	dir = S_ISDIR(st.st_mode);
	if (dir) {
		r = host_unwrap_vm(a, path, uo, &out, &e);
	} else {
		r = file_read(path, KP_MAX_SIZE, &kp, &len, &e);
		if (r == 0)
			r = host_unwrap_kp(a, (const char *)kp, len, uo, &out, &e);
	}
	if (r == -EREMOTEIO && out) {
		print_refusal(stderr, streq(str(out, "step"), "commit") ? "commit" : "key release",
			      out);
		if (json)
			json_print(json_incref(out));
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_error("host unwrap", "%s", err_str(&e));
		return exit_for_phase(r, is_network_error(&e));
	}
	if (json)
		return json_print(json_incref(out)) < 0 ? EXIT_INPUT : EXIT_OK;
	printf("VM %s, generation %lld (%s): transport key released by ", str(out, "vm_id"),
	       (long long)json_integer_value(json_object_get(out, "generation")),
	       str(out, "policy"));
	print_safe(stdout, str(out, "url"));
	printf("%s\n  TK fingerprint  %s\n", json_is_true(json_object_get(out, "attested")) ?
		" (attested first)" : "", str(out, "tk_fingerprint"));
	if (!dir) {
		printf("  next generation %lld offered, not committed (one-shot release)\n",
		       (long long)json_integer_value(json_object_get(out, "next_generation")));
		return EXIT_OK;
	}
	printf("  new generation  %lld committed, %s/kp rolled\n",
	       (long long)json_integer_value(json_object_get(out, "new_generation")), path);
	printf("  secrets         %s, fingerprint %s\n",
	       json_is_true(json_object_get(out, "secrets_created")) ? "created" : "re-encrypted",
	       str(out, "secrets_fingerprint"));
	if (!streq(str(out, "recovery"), "none"))
		printf("  recovery        %s\n", str(out, "recovery"));
	return EXIT_OK;
}

int cmd_host(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, OPT_TCTI },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "hgs", required_argument, NULL, OPT_HGS },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "ek", required_argument, NULL, OPT_EK },
		{ "ak", required_argument, NULL, OPT_AK },
		{ "transport-key", required_argument, NULL, OPT_TK },
		{ "new-transport-key", no_argument, NULL, OPT_NEW_TK },
		{ "event-log", required_argument, NULL, OPT_EVENT_LOG },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "output", required_argument, NULL, 'o' },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "no-attest", no_argument, NULL, OPT_NO_ATTEST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *urls[HOST_CLIENT_MAX_URLS];
	struct host_agent_options ao = { .urls = urls };
	struct host_agent_init_options io = {
		.ek = HOST_TPM_EK_RSA2048,
		.ak = HOST_TPM_KEY_ECC_P256,
		.transport_key = HOST_TPM_KEY_RSA2048,
	};
	struct host_agent_capture_options co = { .ek = HOST_TPM_EK_RSA2048 };
	struct host_unwrap_options uo = { 0 };
	_cleanup_(host_agent_freep) struct host_agent *a = NULL;
	const char *verb, *event_log = NULL;
	bool json = false, offline = false, init_only = false, capture_only = false;
	bool no_attest = false;
	const char *target = NULL;
	struct err e = { 0 };
	int c, r;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	if (!streq(verb, "init") && !streq(verb, "attest") && !streq(verb, "status") &&
	    !streq(verb, "capture-baseline") && !streq(verb, "unwrap")) {
		cli_error("host",
			  "unknown verb '%s' (init, attest, status, capture-baseline, unwrap)",
			  verb);
		return EXIT_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TCTI:
			ao.tcti = optarg;
			break;
		case OPT_STATE_DIR:
			ao.state_dir = optarg;
			break;
		case OPT_HGS:
			if (ao.n_urls == HOST_CLIENT_MAX_URLS) {
				cli_error("host", "at most %d --hgs URLs", HOST_CLIENT_MAX_URLS);
				return EXIT_USAGE;
			}
			urls[ao.n_urls++] = optarg;
			break;
		case OPT_CA_FILE:
			ao.ca_file = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_QUIET:
			ao.quiet = true;
			break;
		case OPT_EK:
			if (parse_ek(optarg, &io.ek) < 0) {
				cli_error("host", "--ek '%s': expected rsa, ecc or ecc-p384",
					  optarg);
				return EXIT_USAGE;
			}
			co.ek = io.ek;
			break;
		case OPT_AK:
			init_only = true;
			if (host_tpm_key_type_from_string(optarg, &io.ak) < 0) {
				cli_error("host", "--ak '%s': expected rsa or ecc", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_TK:
			init_only = true;
			if (host_tpm_key_type_from_string(optarg, &io.transport_key) < 0) {
				cli_error("host", "--transport-key '%s': expected rsa or ecc",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_NEW_TK:
			init_only = true;
			io.new_transport_key = true;
			break;
		case OPT_EVENT_LOG:
			event_log = optarg;
			break;
		case OPT_NAME:
			capture_only = true;
			co.name = optarg;
			break;
		case 'o':
			capture_only = true;
			co.output = optarg;
			break;
		case OPT_OFFLINE:
			offline = true;
			break;
		case OPT_NO_ATTEST:
			no_attest = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (streq(verb, "unwrap")) {
		if (optind != argc - 2) {
			cli_error("host", "unwrap needs one KP file or VM key directory");
			return EXIT_USAGE;
		}
		target = argv[optind + 1];
	} else if (optind != argc - 1) {
		cli_error("host", "unexpected argument '%s'", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if ((init_only && !streq(verb, "init")) ||
	    (no_attest && !streq(verb, "unwrap")) ||
	    (capture_only && !streq(verb, "capture-baseline")) ||
	    (event_log && !streq(verb, "attest") && !streq(verb, "capture-baseline") &&
	     !streq(verb, "unwrap")) ||
	    (offline && !streq(verb, "status"))) {
		cli_error("host", "an option given is not one of '%s' (see --help)", verb);
		return EXIT_USAGE;
	}
	ao.create = streq(verb, "init") || streq(verb, "capture-baseline");
	r = host_agent_open(&ao, &a, &e);
	if (r < 0) {
		cli_error("host", "%s: %s", verb, err_str(&e));
		return EXIT_INPUT;
	}
	if (streq(verb, "init"))
		return do_init(a, &io, json);
	if (streq(verb, "attest"))
		return do_attest(a, event_log, json);
	if (streq(verb, "status"))
		return do_status(a, offline, json);
	if (streq(verb, "unwrap")) {
		uo.event_log = event_log;
		uo.no_attest = no_attest;
		return do_unwrap(a, target, &uo, json);
	}
	co.event_log = event_log;
	return do_capture(a, &co, json);
}
