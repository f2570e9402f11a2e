/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of the shieldvm CLI: one file each, one dispatch table. */
#pragma once

#include <stdbool.h>

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Each takes argv starting at its own name; returns a process exit code. */
int cmd_eventlog(int argc, char **argv);
int cmd_quote(int argc, char **argv);
int cmd_certify(int argc, char **argv);
int cmd_credential(int argc, char **argv);
int cmd_ekcert(int argc, char **argv);
int cmd_tpm2_name(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_host(int argc, char **argv);

/* Exit codes shared by all subcommands. */
#define EXIT_OK 0
#define EXIT_FAIL 1     /* the input was judged and rejected */
#define EXIT_USAGE 2    /* bad command line */
#define EXIT_INPUT 3    /* input unreadable or malformed */
