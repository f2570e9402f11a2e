/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kps_tool: what the e2e-kps scripts need below the `shieldvm host unwrap`
 * command line.
 *
 *   kps_tool open --tcti T --tk KEYFILE --jwe FILE [--no-kid-check]
 *       open a sealed JWE (the "sealed" member of a /v1/unwrap answer)
 *       inside the TPM with the transport key in KEYFILE (host_keyop), and
 *       print {"ok": true, "tk_fingerprint", "next_tk_fingerprint",
 *       "vm_id", "generation"} (only fingerprints: the TKs are secrets).
 *       --no-kid-check skips the kid comparison so the TPM itself decides.
 *       Exit 1 with {"ok": false, "errno": "EKEYREJECTED", "message"}.
 *   kps_tool thumbprint --tk KEYFILE
 *       the RFC 7638 thumbprint of the transport key's public JWK.
 *   kps_tool tk-fingerprint TK
 *       the fingerprint `shieldvm host unwrap` prints, for a TK (hex, as
 *       `shieldvm kp unwrap --owner` prints it, or base64url).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/b64.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "host/keyop.h"
#include "host/secrets.h"
#include "host/tpm.h"
#include "kp/seal.h"

static int print_error(int r, const struct err *e)
{
	const char *name = r == -EKEYREJECTED ? "EKEYREJECTED" :
			   r == -EBADMSG      ? "EBADMSG" :
			   r == -EINVAL	      ? "EINVAL" :
						"other";
	json_t *j = json_pack("{s:b, s:s, s:i, s:s}", "ok", 0, "errno", name,
			      "code", -r, "message", err_str(e));

	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(j);
	return 1;
}

static int load_key(const char *path, struct host_tpm_key *k, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = file_read(path, HOST_TPM_KEY_FILE_MAX, &buf, &len, e);

	return r < 0 ? r : host_tpm_key_from_bytes(buf, len, k, e);
}

static int fp_member(json_t *pt, const char *in, json_t *out, const char *name,
		     struct err *e)
{
	uint8_t tk[32];
	size_t len = 0;
	char fp[48];
	json_t *v = json_object_get(pt, in);
	int r;

	if (!json_is_string(v) ||
	    b64url_decode(json_string_value(v), json_string_length(v), tk,
			  sizeof(tk), &len) < 0 ||
	    len != sizeof(tk))
		return err_set(e, EBADMSG, "plaintext: bad '%s'", in);
	r = host_tk_fingerprint(tk, fp, e);
	OPENSSL_cleanse(tk, sizeof(tk));
	if (r == 0)
		json_object_set_new(out, name, json_string(fp));
	return r;
}

static int cmd_open(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' },
		{ "tk", required_argument, NULL, 'k' },
		{ "jwe", required_argument, NULL, 'j' },
		{ "no-kid-check", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tcti = NULL, *tkf = NULL, *jwef = NULL;
	bool kid_check = true;
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_free_ uint8_t *jwe = NULL;
	struct host_tpm_key tk;
	struct host_keyop op;
	struct err e = { 0 };
	static uint8_t pt[SEAL_MAX_PLAINTEXT];
	size_t jwe_len, pt_len = 0;
	char kid[64];
	json_t *j, *out;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			tcti = optarg;
			break;
		case 'k':
			tkf = optarg;
			break;
		case 'j':
			jwef = optarg;
			break;
		case 'n':
			kid_check = false;
			break;
		default:
			return 2;
		}
	}
	if (!tcti || !tkf || !jwef)
		return 2;
	if ((r = load_key(tkf, &tk, &e)) < 0 ||
	    (r = file_read(jwef, SEAL_MAX_SIZE, &jwe, &jwe_len, &e)) < 0 ||
	    (r = host_tpm_key_thumbprint(&tk, kid, &e)) < 0 ||
	    (r = host_tpm_open(tcti, &t, &e)) < 0)
		return print_error(r, &e);
	while (jwe_len && (jwe[jwe_len - 1] == '\n'))
		jwe[--jwe_len] = '\0';
	host_keyop_init(&op, t, &tk);
	r = seal_open((const char *)jwe, jwe_len, &op.op,
		      kid_check ? kid : NULL, pt, sizeof(pt), &pt_len, &e);
	if (r < 0)
		return print_error(r, &e);
	j = json_loadb((const char *)pt, pt_len, 0, NULL);
	OPENSSL_cleanse(pt, sizeof(pt));
	out = json_pack("{s:b}", "ok", 1);
	if (!j || !out)
		return 1;
	json_object_set(out, "vm_id", json_object_get(j, "vm_id"));
	json_object_set(out, "generation", json_object_get(j, "generation"));
	if ((r = fp_member(j, "tk", out, "tk_fingerprint", &e)) < 0 ||
	    (r = fp_member(j, "next_tk", out, "next_tk_fingerprint", &e)) < 0)
		return print_error(r, &e);
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	{
		const char *k;
		json_t *v;

		json_object_foreach(j, k, v)
			if (json_is_string(v))
				explicit_bzero((char *)json_string_value(v),
					       json_string_length(v));
	}
	json_decref(j);
	return 0;
}

int main(int argc, char **argv)
{
	struct err e = { 0 };

	if (argc < 2)
		return 2;
	if (streq(argv[1], "open"))
		return cmd_open(argc - 1, argv + 1);
	if (streq(argv[1], "thumbprint") && argc == 4 &&
	    streq(argv[2], "--tk")) {
		struct host_tpm_key tk;
		char kid[64];
		int r;

		if ((r = load_key(argv[3], &tk, &e)) < 0 ||
		    (r = host_tpm_key_thumbprint(&tk, kid, &e)) < 0)
			return print_error(r, &e);
		puts(kid);
		return 0;
	}
	if (streq(argv[1], "tk-fingerprint") && argc == 3) {
		uint8_t tk[32];
		size_t len = 0;
		char fp[48];

		if (strlen(argv[2]) == 2 * sizeof(tk)) /* hex (kp unwrap) */
			len = hex_decode(argv[2], tk, sizeof(tk)) ==
					      (int)sizeof(tk) ?
				      sizeof(tk) :
				      0;
		else if (b64url_decode(argv[2], strlen(argv[2]), tk, sizeof(tk),
				       &len) < 0)
			len = 0;
		if (len != sizeof(tk) || host_tk_fingerprint(tk, fp, &e) < 0) {
			fprintf(stderr, "kps_tool: not a 32-byte TK in hex or "
					"base64url\n");
			return 1;
		}
		OPENSSL_cleanse(tk, sizeof(tk));
		puts(fp);
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of kps_tool.c\n");
	return 2;
}
