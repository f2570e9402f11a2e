/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsctl host add|list|show|disable|enable|remove: guarded hosts registered
 * by EK public key, EK certificate and/or host public key
 * (POST/GET/DELETE /v1/admin/hosts...).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>

#include "attest/ekcert.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsctl/hgsctl.h"
#include "hgsctl/table.h"

DEFINE_CLEANUP_FUNC(struct ekcert_cas, ekcert_cas_free)

/* Shown in 'host list'; 'host show' prints the whole TPM name. */
#define HOST_LIST_EK_NAME_CHARS 20

static void host_usage(FILE *f)
{
	fprintf(f,
		"Usage: hgsctl host add --name NAME (--ek-pub FILE | --ek-cert FILE | --host-key FILE)...\n"
		"       hgsctl host list [--json]\n"
		"       hgsctl host show NAME [--json]\n"
		"       hgsctl host disable NAME\n"
		"       hgsctl host enable NAME\n"
		"       hgsctl host remove NAME\n"
		"\n"
		"Register and manage guarded hosts.\n"
		"  --name NAME       1-127 of A-Z a-z 0-9 . _ -, not starting with . or -\n"
		"  --ek-pub FILE     the TPM's endorsement key, a TPM2B_PUBLIC (TPM mode)\n"
		"  --ek-cert FILE    the TPM's EK certificate, DER or PEM (TPM mode); it must\n"
		"                    chain to hgsd's TPM vendor CAs; with --ek-pub it must\n"
		"                    certify that key\n"
		"  --host-key FILE   a host public key, SubjectPublicKeyInfo PEM (host-key mode)\n"
		"  --json            print hgsd's JSON\n"
		"FILE may be - for standard input.\n");
}

static void modes_str(const json_t *host, char *buf, size_t size)
{
	const json_t *modes = json_object_get(host, "modes");
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; json_is_array(modes) && i < json_array_size(modes);
	     i++) {
		const json_t *m = json_array_get(modes, i);
		int w;

		if (!json_is_string(m))
			continue;
		w = snprintf(buf + n, size - n, "%s%s", n ? "," : "",
			     json_string_value(m));
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

/* Base64url field of the full host form, decoded; NULL if absent. */
static uint8_t *b64_field(const json_t *host, const char *key, size_t *ret_len)
{
	const json_t *v = json_object_get(host, key);
	uint8_t *buf;
	size_t n;

	if (!json_is_string(v))
		return NULL;
	n = jose_b64_dec(v, NULL, 0);
	if (n == SIZE_MAX || n == 0)
		return NULL;
	buf = malloc(n);
	if (!buf)
		return NULL;
	if (jose_b64_dec(v, buf, n) != n) {
		free(buf);
		return NULL;
	}
	*ret_len = n;
	return buf;
}

/* What the registered EK certificate says (hgsd checked its chain). */
static void print_ek_cert(const json_t *host)
{
	_cleanup_(ekcert_cas_freep) struct ekcert_cas *none = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	struct ekcert_info info = { 0 };
	struct err e = { 0 };
	size_t len = 0;

	der = b64_field(host, "ek_cert", &len);
	if (!der) {
		printf("ek cert:       yes (not decodable: %s)\n",
		       hgsctl_json_str(host, "ek_cert", "missing"));
		return;
	}
	printf("ek cert:       %zu bytes\n", len);
	/* Parsing only: with no CA the chain check fails after info is filled.
	 */
	if (ekcert_cas_new(&none, &e) < 0)
		return;
	(void)ekcert_verify(none, der, len, 0, &info, &e);
	if (info.subject[0])
		printf("  subject:     %s\n", info.subject);
	if (info.issuer[0])
		printf("  issuer:      %s\n", info.issuer);
	if (info.manufacturer[0] || info.model[0])
		printf("  tpm:         %s %s %s\n", info.manufacturer,
		       info.model, info.version);
	if (info.not_after[0])
		printf("  valid:       %s to %s\n", info.not_before,
		       info.not_after);
}

static void print_host(const json_t *h)
{
	char modes[64], when[HGSCTL_TIME_MAX];
	const char *pem = hgsctl_json_str(h, "host_key_pem", NULL);
	size_t len = 0;

	modes_str(h, modes, sizeof(modes));
	printf("name:          %s\n", hgsctl_json_str(h, "name", "?"));
	printf("enabled:       %s\n",
	       hgsctl_json_bool(h, "enabled", false) ? "yes" : "no");
	printf("modes:         %s\n", modes);
	printf("registered:    %s\n",
	       hgsctl_format_time(hgsctl_json_int(h, "created", 0), when,
				  sizeof(when)));
	printf("ek name:       %s\n", hgsctl_json_str(h, "ek_name", "-"));
	if (hgsctl_json_bool(h, "has_ek_pub", false)) {
		_cleanup_free_ uint8_t *pub = b64_field(h, "ek_pub", &len);

		if (pub)
			printf("ek public:     %zu bytes (TPM2B_PUBLIC)\n",
			       len);
		else
			printf("ek public:     yes\n");
	}
	if (hgsctl_json_bool(h, "has_ek_cert", false))
		print_ek_cert(h);
	if (pem) {
		printf("host key:\n");
		for (const char *p = pem; *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);

			printf("  %.*s\n", (int)n, p);
			p += n + (nl ? 1 : 0);
		}
	}
}

/* ---- add ---- */

static int read_b64(json_t *req, const char *key, const char *opt,
		    const char *path, size_t max)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	json_t *v;

	if (hgsctl_read_file(opt, path, max, &buf, &len) < 0)
		return -EINVAL;
	v = jose_b64_enc(buf, len);
	if (!v || json_object_set_new(req, key, v) < 0)
		return -ENOMEM;
	return 0;
}

static int host_add(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "ek-pub", required_argument, NULL, 'p' },
		{ "ek-cert", required_argument, NULL, 'c' },
		{ "host-key", required_argument, NULL, 'k' },
		HGSCTL_OPTS_END,
	};
	const char *name = NULL, *ek_pub = NULL, *ek_cert = NULL,
		   *host_key = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_(json_decrefp) json_t *host = NULL;
	char modes[64];
	int c, r;

	optind = 0;
	while ((c = hgsctl_getopt(ctx, "host add", host_usage, argc, argv, opts,
				  &r)) > 0) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
			ek_pub = optarg;
			break;
		case 'c':
			ek_cert = optarg;
			break;
		case 'k':
			host_key = optarg;
			break;
		}
	}
	if (c < 0)
		return r;
	if (!name) {
		hgsctl_error("host add", "--name is required");
		return HGSCTL_EXIT_USAGE;
	}
	if (hgsctl_name_arg("host add", "host", name) < 0)
		return HGSCTL_EXIT_USAGE;
	if (!ek_pub && !ek_cert && !host_key) {
		hgsctl_error("host add",
			     "host '%s' needs --ek-pub, --ek-cert or --host-key",
			     name);
		return HGSCTL_EXIT_USAGE;
	}
	if ((ek_pub && streq(ek_pub, "-")) + (ek_cert && streq(ek_cert, "-")) +
		    (host_key && streq(host_key, "-")) >
	    1) {
		hgsctl_error("host add",
			     "only one FILE may be - (standard input)");
		return HGSCTL_EXIT_USAGE;
	}

	req = json_pack("{s:s}", "name", name);
	if (!req)
		return HGSCTL_EXIT_UNREACHABLE;
	if (ek_pub && read_b64(req, "ek_pub", "--ek-pub", ek_pub,
			       TPM_MAX_PUBLIC_SIZE) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	if (ek_cert &&
	    read_b64(req, "ek_cert", "--ek-cert", ek_cert, EKCERT_MAX_SIZE) < 0)
		return HGSCTL_EXIT_UNREACHABLE;
	if (host_key) {
		_cleanup_free_ uint8_t *pem = NULL;
		size_t len;
		json_t *v;

		if (hgsctl_read_file("--host-key", host_key,
				     HGSD_HOST_KEY_PEM_MAX, &pem, &len) < 0)
			return HGSCTL_EXIT_UNREACHABLE;
		if (memchr(pem, '\0', len) ||
		    !strstr((char *)pem, "-----BEGIN ")) {
			hgsctl_error("host add",
				     "--host-key %s: not a PEM file (expected -----BEGIN PUBLIC KEY-----)",
				     host_key);
			return HGSCTL_EXIT_UNREACHABLE;
		}
		v = json_stringn((char *)pem, len);
		if (!v || json_object_set_new(req, "host_key_pem", v) < 0) {
			hgsctl_error("host add",
				     "--host-key %s: not UTF-8 text", host_key);
			return HGSCTL_EXIT_UNREACHABLE;
		}
	}

	r = hgsctl_call(ctx, "POST", "/v1/admin/hosts", req, &host);
	if (r != HGSCTL_EXIT_OK)
		return r;
	if (ctx->json)
		return hgsctl_print_json(host);
	modes_str(host, modes, sizeof(modes));
	printf("host %s registered (modes %s",
	       hgsctl_json_str(host, "name", name), modes);
	if (json_is_string(json_object_get(host, "ek_name")))
		printf(", EK name %s", hgsctl_json_str(host, "ek_name", ""));
	printf(")\n");
	return HGSCTL_EXIT_OK;
}

/* ---- list, show ---- */

static int host_row(struct table *t, const json_t *h)
{
	const char *ek = hgsctl_json_str(h, "ek_name", NULL);
	char modes[64], when[HGSCTL_TIME_MAX],
		ekbuf[HOST_LIST_EK_NAME_CHARS + 4];
	const char *cells[5];

	modes_str(h, modes, sizeof(modes));
	if (ek && strlen(ek) > HOST_LIST_EK_NAME_CHARS)
		snprintf(ekbuf, sizeof(ekbuf), "%.*s...",
			 HOST_LIST_EK_NAME_CHARS, ek);
	else
		snprintf(ekbuf, sizeof(ekbuf), "%s", ek ? ek : "-");
	cells[0] = hgsctl_json_str(h, "name", "?");
	cells[1] = hgsctl_json_bool(h, "enabled", false) ? "yes" : "no";
	cells[2] = modes;
	cells[3] = hgsctl_format_time(hgsctl_json_int(h, "created", 0), when,
				      sizeof(when));
	cells[4] = ekbuf;
	return table_add(t, cells);
}

static int host_list(struct hgsctl *ctx, int argc, char **argv)
{
	static const char *const headers[] = { "NAME", "ENABLED", "MODES",
					       "REGISTERED", "EK NAME" };
	int r;

	r = hgsctl_simple_args(ctx, "host list", host_usage, argc, argv, 0,
			       NULL);
	if (r >= 0)
		return r;
	return hgsctl_list(ctx, "host list", "/v1/admin/hosts", "hosts",
			   "no hosts registered", headers, ARRAY_SIZE(headers),
			   host_row);
}

/* show, enable, disable, remove */
static int host_one(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_action actions[] = {
		{ "show", "GET", NULL, NULL },
		{ "enable", "POST", "enable", "enabled" },
		{ "disable", "POST", "disable", "disabled" },
		{ "remove", "DELETE", NULL, "removed" },
	};
	static const struct hgsctl_object hosts = {
		"host", "hosts", host_usage, actions, ARRAY_SIZE(actions),
	};
	_cleanup_(json_decrefp) json_t *reply = NULL;
	const struct hgsctl_action *a;
	const char *name;
	int r;

	r = hgsctl_object_action(ctx, &hosts, argc, argv, &a, &name, &reply);
	if (r >= 0)
		return r;
	if (!a->done)
		print_host(reply);
	else
		printf("host %s %s\n", name, a->done);
	return HGSCTL_EXIT_OK;
}

int cmd_host(struct hgsctl *ctx, int argc, char **argv)
{
	static const struct hgsctl_cmd verbs[] = {
		{ "add", host_add, "register a host" },
		{ "list", host_list, "list hosts" },
		{ "show", host_one, "show one host" },
		{ "disable", host_one, "refuse a host's attestations" },
		{ "enable", host_one, "accept a host's attestations again" },
		{ "remove", host_one, "forget a host and its AKs" },
	};

	return hgsctl_dispatch(ctx, "host", verbs, ARRAY_SIZE(verbs),
			       host_usage, argc, argv);
}
