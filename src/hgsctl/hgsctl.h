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
