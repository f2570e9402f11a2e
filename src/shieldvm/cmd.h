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
int cmd_guardian(int argc, char **argv);
int cmd_kp(int argc, char **argv);
int cmd_vm(int argc, char **argv);
/* run, status, stop, poweroff, reset (argv[0] says which) */
int cmd_run(int argc, char **argv);
int cmd_console(int argc, char **argv);

struct guardian;
/* A private guardian file: a regular file (not a symlink) whose mode gives
 * group and others no access; parsed and its buffer wiped. On failure one
 * line on stderr says why (and how to fix a loose mode). */
int cli_load_private_guardian(const char *cmd, const char *path,
			      struct guardian **ret);
/* Signed guardian metadata (guardian export, GET /v1/guardian). */
int cli_load_guardian_metadata(const char *cmd, const char *path,
			       struct guardian **ret);

/* Exit codes shared by all subcommands. */
#define EXIT_OK 0
#define EXIT_FAIL 1     /* the input was judged and rejected */
#define EXIT_USAGE 2    /* bad command line */
#define EXIT_INPUT 3    /* input unreadable or malformed */
