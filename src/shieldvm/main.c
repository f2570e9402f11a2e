/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "shieldvm/cmd.h"

static const struct cmd commands[] = {
	{ "eventlog", cmd_eventlog, "show or replay a TCG event log" },
	{ "baseline", cmd_baseline, "capture or show an attestation baseline" },
	{ "policy", cmd_policy, "judge event logs against an attestation policy" },
	{ "quote", cmd_quote, "verify a TPM 2.0 quote" },
	{ "certify", cmd_certify, "verify a TPM2_Certify attestation" },
	{ "credential", cmd_credential, "make a TPM2 credential for an EK (MakeCredential)" },
	{ "ekcert", cmd_ekcert, "validate an EK certificate chain" },
	{ "tpm2-name", cmd_tpm2_name, "compute the TPM name of a public area" },
	{ "guardian", cmd_guardian, "VM owner: make a guardian, export its metadata" },
	{ "kp", cmd_kp, "VM owner: key protectors: new, show, grant, revoke, unwrap" },
	{ "host", cmd_host, "guarded-host agent: enroll, attest, status, unwrap, ..." },
	{ "vm", cmd_vm, "shielded VMs: the security profile, a new VM directory" },
	{ "run", cmd_run, "start a shielded VM under its supervisor" },
	{ "status", cmd_run, "a VM's state, from its supervisor" },
	{ "stop", cmd_run, "stop a VM (ACPI power button, then quit)" },
	{ "poweroff", cmd_run, "power a VM off now" },
	{ "reset", cmd_run, "reset a VM" },
	{ "console", cmd_console, "a VM's serial console (encryption-supported only)" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: shieldvm COMMAND [ARGS...]\n\n"
		   "Shielded virtual machines for Linux/KVM.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'shieldvm COMMAND --help' for a command's options.\n"
		   "See shieldvm(1).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (streq(argv[1], "--version")) {
		printf("shieldvm %s\n", SHIELDVM_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "shieldvm: unknown command '%s' (try 'shieldvm --help')\n",
		argv[1]);
	return EXIT_USAGE;
}
