/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsctl, the fabric admin's CLI for hgsd's admin API (docs/protocol.md,
 * "Admin API"; docs/man/hgsctl.8). One file per command group behind the
 * dispatch table in main.c; this header is what they share.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <getopt.h>

#include <jansson.h>

#include "common/err.h"

/* Exit codes (hgsctl(8), EXIT STATUS). */
#define HGSCTL_EXIT_OK 0
#define HGSCTL_EXIT_REFUSED 1	  /* hgsd refused, or a token is invalid */
#define HGSCTL_EXIT_USAGE 2	  /* bad command line */
#define HGSCTL_EXIT_UNREACHABLE 3 /* cannot reach hgsd, or bad local input */

#define HGSCTL_DEFAULT_SOCKET "/run/shieldvm/hgsd.sock"
#define HGSCTL_SOCKET_ENV "HGSCTL_SOCKET"

/*
 * Limits of hgsctl itself. Inputs sent to hgsd are capped by the server's
 * own limits (common/limits.h, attest/token.h) so that an oversize file is
 * refused locally with its name; these are the rest.
 */
#define HGSCTL_MAX_RESPONSE (64u * 1024 * 1024)	    /* one answer from hgsd */
#define HGSCTL_CONNECT_TIMEOUT 10L		    /* seconds */
#define HGSCTL_REQUEST_TIMEOUT 120L		    /* seconds, whole request */
#define HGSCTL_RULE_ID_MAX 64u			    /* policy rule id */
#define HGSCTL_BASELINE_JSON_MAX (8u * 1024 * 1024) /* --from-file */

/* Options that precede the command. */
struct hgsctl {
	const char *socket;
	bool json;
};

struct table;

struct hgsctl_cmd {
	const char *name;
	/* argv starts at the command's own name; returns an exit code */
	int (*run)(struct hgsctl *ctx, int argc, char **argv);
	const char *summary;
};

int cmd_host(struct hgsctl *ctx, int argc, char **argv);
int cmd_baseline(struct hgsctl *ctx, int argc, char **argv);
int cmd_rule(struct hgsctl *ctx, int argc, char **argv);
int cmd_token(struct hgsctl *ctx, int argc, char **argv);
int cmd_audit(struct hgsctl *ctx, int argc, char **argv);
int cmd_key(struct hgsctl *ctx, int argc, char **argv);

/* "hgsctl: WHAT: message" on stderr. */
void hgsctl_error(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * One request to hgsd's admin API. body may be NULL. On a 2xx answer,
 * *ret holds its JSON (NULL for an empty body) and the result is
 * HGSCTL_EXIT_OK. Otherwise the failure has been reported on stderr (and,
 * with --json, the server's error object printed on stdout) and the result
 * is HGSCTL_EXIT_REFUSED or HGSCTL_EXIT_UNREACHABLE.
 */
int hgsctl_call(struct hgsctl *ctx, const char *method, const char *path,
		const json_t *body, json_t **ret);

/* "/v1/admin/PREFIX/NAME[/SUFFIX]" with NAME percent-encoded. */
int hgsctl_path(char *buf, size_t size, const char *prefix, const char *name,
		const char *suffix);

/* Host and baseline names as hgsd accepts them: 1-127 of A-Z a-z 0-9 . _ -,
 * not starting with . or -. Rule ids: 1-64 of a-z 0-9 -. */
bool hgsctl_name_valid(const char *name);
bool hgsctl_rule_id_valid(const char *id);

/* 0 for a valid name operand; otherwise "WHAT: KIND name 'NAME': expected
 * ..." on stderr and -EINVAL. Checked locally so that a name cannot change
 * the request path. */
int hgsctl_name_arg(const char *what, const char *kind, const char *name);

/* Read a local file (or - for stdin) of at most max bytes; reports the
 * failure naming the file and returns a negative errno. */
int hgsctl_read_file(const char *what, const char *path, size_t max,
		     uint8_t **ret, size_t *ret_len);

/* Pretty-print JSON on stdout; 0 or HGSCTL_EXIT_UNREACHABLE. */
int hgsctl_print_json(const json_t *j);

/* "2026-11-22T10:00:00Z" (UTC); buf of at least HGSCTL_TIME_MAX. */
#define HGSCTL_TIME_MAX 32
const char *hgsctl_format_time(int64_t t, char *buf, size_t size);

/* Field accessors that tolerate a missing or mistyped field. */
const char *hgsctl_json_str(const json_t *o, const char *key, const char *dflt);
int64_t hgsctl_json_int(const json_t *o, const char *key, int64_t dflt);
bool hgsctl_json_bool(const json_t *o, const char *key, bool dflt);

/* Find VERB in a group's table and run it, with --help handling;
 * usage() prints the group's help. */
int hgsctl_dispatch(struct hgsctl *ctx, const char *group,
		    const struct hgsctl_cmd *verbs, size_t n_verbs,
		    void (*usage)(FILE *f), int argc, char **argv);

/*
 * Options of a verb that takes exactly n_args operands and no options but
 * --json and --help (argv[0] is the verb). Returns -1 to go on with the
 * operands in args[], or an exit code to return (help shown, usage error).
 */
int hgsctl_simple_args(struct hgsctl *ctx, const char *what,
		       void (*usage)(FILE *f), int argc, char **argv,
		       size_t n_args, const char **args);

/* Ends the option table of every verb: --json as 'j', --help as 'h'. */
/* clang-format off */
#define HGSCTL_OPTS_END                                                        \
	{ "json", no_argument, NULL, 'j' },                                    \
	{ "help", no_argument, NULL, 'h' },                                    \
	{ 0 }
/* clang-format on */

/*
 * getopt_long for a verb that takes options of its own and no operands
 * (argv[0] is the verb, optind set to 0 before the first call). opts ends
 * with HGSCTL_OPTS_END: --json and --help are handled here. Returns the
 * next of the verb's own options (its val), 0 at the end of the command
 * line, or -1 after --help or a usage error, with the exit code to return
 * in *ret_exit.
 */
int hgsctl_getopt(struct hgsctl *ctx, const char *what, void (*usage)(FILE *f),
		  int argc, char **argv, const struct option *opts,
		  int *ret_exit);

/*
 * GET path and print the array member key of hgsd's answer: as JSON with
 * --json, as empty (when not NULL) if it has no elements, else as a table
 * of n_cols headers with a row() of each element. An exit code.
 */
int hgsctl_list(struct hgsctl *ctx, const char *what, const char *path,
		const char *key, const char *empty, const char *const *headers,
		size_t n_cols, int (*row)(struct table *t, const json_t *item));

/* A verb acting on one object: method on /v1/admin/PREFIX/NAME[/suffix];
 * done is what the human output says of the object ("removed"), NULL to
 * print hgsd's answer instead. */
struct hgsctl_action {
	const char *verb;
	const char *method;
	const char *suffix;
	const char *done;
};

/* The action named argv[0] in actions (n of them), with "GROUP VERB" in
 * what (HGSCTL_WHAT_MAX bytes); NULL if there is none. */
#define HGSCTL_WHAT_MAX 64
const struct hgsctl_action *
hgsctl_action_find(const char *group, const struct hgsctl_action *actions,
		   size_t n, char **argv, char *what);

/*
 * Do action a on /v1/admin/PREFIX/NAME (NAME checked by the caller).
 * Returns -1 with hgsd's answer in *ret (NULL when empty) for the caller to
 * print, or an exit code: the call failed, or --json printed the answer.
 */
int hgsctl_action_call(struct hgsctl *ctx, const struct hgsctl_action *a,
		       const char *prefix, const char *name, json_t **ret);

/* A group of actions on objects named like hosts (hgsctl_name_valid). */
struct hgsctl_object {
	const char *group;  /* "host" */
	const char *prefix; /* "hosts": /v1/admin/hosts/NAME */
	void (*usage)(FILE *f);
	const struct hgsctl_action *actions;
	size_t n_actions;
};

/*
 * The action of o that argv[0] names, on the object its one operand names.
 * Returns -1 for the caller to print, with the action in *ret_action, the
 * name in *ret_name and hgsd's answer in *ret (NULL when empty); or an exit
 * code (usage, a failed call, --json printed the answer).
 */
int hgsctl_object_action(struct hgsctl *ctx, const struct hgsctl_object *o,
			 int argc, char **argv,
			 const struct hgsctl_action **ret_action,
			 const char **ret_name, json_t **ret);
