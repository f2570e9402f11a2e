/* SPDX-License-Identifier: Apache-2.0 */
/* hgsctl token verify FILE: ask hgsd whether a health token (JWT) is valid
 * (POST /v1/admin/tokens/verify); exit 0 valid, 1 invalid with the reason. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/token.h"
#include "common/util.h"
#include "hgsctl/hgsctl.h"

static void token_usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl token verify FILE [--json]\n"
		"\n"
		"Verify a health token (a JWT in FILE, or - for standard input) with\n"
		"hgsd's token keys. Exit 0 if it is valid, 1 if not (with the reason).\n");
}

static void print_claims(const json_t *cl)
{
	char iat[HGSCTL_TIME_MAX], exp[HGSCTL_TIME_MAX];
	int64_t left = hgsctl_json_int(cl, "exp", 0) - (int64_t)time(NULL);
	const json_t *jwk = json_object_get(json_object_get(cl, "cnf"), "jwk");
	const char *baseline;

	printf("token valid\n");
	printf("  host:        %s\n", hgsctl_json_str(cl, "host", "?"));
	printf("  status:      %s\n", hgsctl_json_str(cl, "status", "?"));
	printf("  mode:        %s\n", hgsctl_json_str(cl, "mode", "?"));
	printf("  policy:      %s\n", hgsctl_json_str(cl, "policy_id", "?"));
	baseline = hgsctl_json_str(cl, "baseline", "");
	printf("  baseline:    %s\n",
	       baseline[0] ? baseline : "- (none matched or host-key mode)");
	printf("  issued:      %s\n",
	       hgsctl_format_time(hgsctl_json_int(cl, "iat", 0), iat,
				  sizeof(iat)));
	printf("  expires:     %s (in %lldh%02lldm)\n",
	       hgsctl_format_time(hgsctl_json_int(cl, "exp", 0), exp,
				  sizeof(exp)),
	       (long long)(left > 0 ? left / 3600 : 0),
	       (long long)(left > 0 ? left % 3600 / 60 : 0));
	printf("  verifier:    %s\n",
	       hgsctl_json_str(cl, "verifier_build", "?"));
	printf("  jti:         %s\n", hgsctl_json_str(cl, "jti", "?"));
	if (json_is_object(jwk))
		printf("  cnf key:     %s %s\n",
		       hgsctl_json_str(jwk, "kty", "?"),
		       hgsctl_json_str(jwk, "crv", ""));
}

static int verify_token(struct hgsctl *ctx, int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_(json_decrefp) json_t *reply = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	const json_t *valid;
	const char *path;
	size_t len, start = 0;
	int r;

	r = hgsctl_simple_args(ctx, "token verify", token_usage, argc, argv, 1,
			       &path);
	if (r >= 0)
		return r;
	/* a little room for the line end a file usually has */
	if (hgsctl_read_file("token verify", path, TOKEN_MAX_SIZE + 16, &buf,
			     &len) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	while (start < len && strchr(" \t\r\n", buf[start]))
		start++;
	while (len > start && strchr(" \t\r\n", buf[len - 1]))
		len--;
	if (len == start) {
		hgsctl_error("token verify", "%s: no token in the file", path);
		return HGSCTL_EXIT_UNREACHABLE;
	}
	if (len - start > TOKEN_MAX_SIZE) {
		hgsctl_error("token verify",
			     "%s: %zu bytes, a token is at most %u", path,
			     len - start, TOKEN_MAX_SIZE);
		return HGSCTL_EXIT_UNREACHABLE;
	}
	for (size_t i = start; i < len; i++)
		if (buf[i] < 0x21 || buf[i] > 0x7e) {
			hgsctl_error("token verify",
				     "%s: byte %zu (0x%02x) cannot be part of a JWT",
				     path, i, buf[i]);
			return HGSCTL_EXIT_UNREACHABLE;
		}
	req = json_pack("{s:s%}", "token", (const char *)buf + start,
			len - start);
	if (!req)
		return HGSCTL_EXIT_UNREACHABLE;
	r = hgsctl_call(ctx, "POST", "/v1/admin/tokens/verify", req, &reply);
	if (r != HGSCTL_EXIT_OK)
		return r;
	valid = json_object_get(reply, "valid");
	if (!json_is_boolean(valid)) {
		hgsctl_error("token verify", "hgsd's answer has no 'valid'");
		return HGSCTL_EXIT_UNREACHABLE;
	}
	if (ctx->json) {
		r = hgsctl_print_json(reply);
		return r != HGSCTL_EXIT_OK ? r :
		       json_is_true(valid) ? HGSCTL_EXIT_OK :
					     HGSCTL_EXIT_REFUSED;
	}
	if (json_is_true(valid)) {
		print_claims(json_object_get(reply, "claims"));
		return HGSCTL_EXIT_OK;
	}
	printf("token invalid (%s): %s\n", hgsctl_json_str(reply, "error", "?"),
	       hgsctl_json_str(reply, "message", "?"));
	return HGSCTL_EXIT_REFUSED;
}

int cmd_token(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "verify", verify_token, "verify a health token" },
	};

	return hgsctl_dispatch(ctx, "token", verbs, ARRAY_SIZE(verbs),
			       token_usage, argc, argv);
}
