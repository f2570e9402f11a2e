/* SPDX-License-Identifier: Apache-2.0 */
/* hgsctl [--socket PATH] [--json] COMMAND ...: the dispatch table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "hgsctl/hgsctl.h"

static const struct hgsctl_cmd commands[] = {
	{ "host", cmd_host,
	  "register, list, show, enable, disable or remove guarded hosts" },
	{ "baseline", cmd_baseline,
	  "add, list, show or remove attestation baselines" },
	{ "rule", cmd_rule,
	  "list, enable or disable attestation policy rules" },
	{ "token", cmd_token, "verify a health token" },
	{ "audit", cmd_audit, "list and verify audit records" },
	{ "key", cmd_key,
	  "list, add, set-primary, enable, disable, remove or export guardian keys" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl [--socket PATH] [--json] COMMAND [ARGS...]\n\n"
		"Administer a Host Guardian Service (hgsd) over its admin socket.\n\n"
		"Options:\n"
		"  --socket PATH  hgsd's admin socket (default: $" HGSCTL_SOCKET_ENV
		", else " HGSCTL_DEFAULT_SOCKET ")\n"
		"  --json         print hgsd's JSON instead of tables\n"
		"  --help         this help; 'hgsctl COMMAND --help' for a command\n"
		"  --version      the version\n\n"
		"Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f,
		"\nExit status: 0 ok, 1 hgsd refused (or the token is invalid),\n"
		"2 usage error, 3 hgsd unreachable or bad local input. See hgsctl(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct hgsctl ctx = { 0 };
	const char *env = getenv(HGSCTL_SOCKET_ENV);
	int c;

	ctx.socket = env && env[0] ? env : HGSCTL_DEFAULT_SOCKET;
	/* '+': stop at the command, its options are its own */
	while ((c = getopt_long(argc, argv, "+hj", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!optarg[0]) {
				hgsctl_error(NULL, "--socket: empty path");
				return HGSCTL_EXIT_USAGE;
			}
			ctx.socket = optarg;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'h':
			usage(stdout);
			return HGSCTL_EXIT_OK;
		case 'V':
			printf("hgsctl %s\n", HGSCTL_VERSION);
			return HGSCTL_EXIT_OK;
		default:
			usage(stderr);
			return HGSCTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return HGSCTL_EXIT_USAGE;
	}
	if (streq(argv[optind], "help")) {
		usage(stdout);
		return HGSCTL_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(argv[optind], commands[i].name))
			return commands[i].run(&ctx, argc - optind,
					       argv + optind);
	hgsctl_error(NULL, "unknown command '%s' (try 'hgsctl --help')",
		     argv[optind]);
	return HGSCTL_EXIT_USAGE;
}
