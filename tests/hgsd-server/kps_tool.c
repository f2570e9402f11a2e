/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kps-tool: the client side of hgsd's Key Protection Service for the
 * hgsd-server tests, on the src/kp library (what an owner and a host do),
 * plus tokens signed with a given key (expired ones, TPM-mode ones, ones
 * from another service).
 *
 *   kps-tool owner NAME FILE              private owner guardian (0600)
 *   kps-tool kp-new OWNER POLICY VM_ID GEN META...
 *                                         a KP for the guardians in the
 *                                         metadata files, on stdout
 *   kps-tool meta FILE                    signed metadata of a private guardian
 *   kps-tool jwk-gen [ec-p256|ec-p384|rsa]  a private JWK on stdout
 *   kps-tool open SEALED_FILE PRIV_JWK_FILE the sealed plaintext
 *   kps-tool mac TK_B64 KP_FILE           the commit MAC for KP
 *   kps-tool digest KP_FILE               "<digest> <generation>"
 *   kps-tool owner-tk OWNER KP_FILE       the TK as the owner unwraps it
 *   kps-tool token KEY_PEM HOST CNF_JWK_FILE tpm|host-key
 *            affirming|warning|contraindicated IAT EXP
 *                                         a token signed with KEY_PEM
 * Exit 0 on success, 1 with a message otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jose/jose.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "attest/token.h"
#include "common/b64.h"
#include "common/util.h"
#include "kp/guardian.h"
#include "kp/kp.h"
#include "kp/seal.h"

#define TOOL_FILE_MAX (2u << 20)

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kps-tool: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(TOOL_FILE_MAX + 1);
	size_t n;

	if (!f || !buf)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, TOOL_FILE_MAX + 1, f);
	fclose(f);
	if (n > TOOL_FILE_MAX)
		die("%s: too large", path);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return buf;
}

static struct guardian *load_owner(const char *path)
{
	struct guardian *g = NULL;
	struct err e = { 0 };
	size_t len;
	char *text = slurp(path, &len);

	if (guardian_from_private_json(text, len, &g, &e) < 0)
		die("%s: %s", path, err_str(&e));
	explicit_bzero(text, len);
	free(text);
	return g;
}

static struct kp *load_kp(const char *path)
{
	struct kp *kp = NULL;
	struct err e = { 0 };
	size_t len;
	char *text = slurp(path, &len);

	if (kp_parse(text, len, &kp, &e) < 0)
		die("%s: %s", path, err_str(&e));
	free(text);
	return kp;
}

static void b64url_print(const uint8_t *p, size_t n)
{
	json_t *s = jose_b64_enc(p, n);

	if (!s)
		die("out of memory");
	printf("%s\n", json_string_value(s));
	json_decref(s);
}

static int cmd_owner(int argc, char **argv)
{
	struct guardian *g = NULL;
	struct err e = { 0 };
	char *text = NULL;
	int fd;

	if (argc != 4)
		die("usage: owner NAME FILE");
	if (guardian_generate(argv[2], GUARDIAN_EC_P256, &g, &e) < 0 ||
	    guardian_to_private_json(g, &text, &e) < 0)
		die("owner: %s", err_str(&e));
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("%s: %s", argv[3], strerror(errno));
	close(fd);
	explicit_bzero(text, strlen(text));
	free(text);
	printf("%s\n", g->id);
	guardian_free(g);
	return 0;
}

static int cmd_meta(int argc, char **argv)
{
	struct guardian *g;
	struct err e = { 0 };
	char *text = NULL;

	if (argc != 3)
		die("usage: meta FILE");
	g = load_owner(argv[2]);
	if (guardian_metadata(g, &text, &e) < 0)
		die("metadata: %s", err_str(&e));
	printf("%s\n", text);
	free(text);
	guardian_free(g);
	return 0;
}

static int cmd_kp_new(int argc, char **argv)
{
	struct guardian *owner, *gs[KP_MAX_GUARDIANS];
	const struct guardian *cg[KP_MAX_GUARDIANS];
	enum kp_policy pol;
	struct err e = { 0 };
	uint8_t tk[KP_TK_SIZE];
	char *text = NULL, *end;
	unsigned long long gen;
	size_t n = 0;

	if (argc < 7 || argc - 6 > KP_MAX_GUARDIANS)
		die("usage: kp-new OWNER POLICY VM_ID GEN META...");
	owner = load_owner(argv[2]);
	if (kp_policy_from_string(argv[3], &pol) < 0)
		die("policy '%s'", argv[3]);
	gen = strtoull(argv[5], &end, 10);
	if (*end || end == argv[5])
		die("generation '%s'", argv[5]);
	for (int i = 6; i < argc; i++) {
		size_t len;
		char *meta = slurp(argv[i], &len);

		if (guardian_from_metadata(meta, len, &gs[n], &e) < 0)
			die("%s: %s", argv[i], err_str(&e));
		cg[n] = gs[n];
		n++;
		free(meta);
	}
	if (RAND_bytes(tk, sizeof(tk)) != 1)
		die("RAND_bytes");
	if (kp_create(owner, cg, n, argv[4], pol, NULL, tk, gen, time(NULL),
		      &text, &e) < 0)
		die("kp_create: %s", err_str(&e));
	printf("%s\n", text);
	free(text);
	for (size_t i = 0; i < n; i++)
		guardian_free(gs[i]);
	guardian_free(owner);
	return 0;
}

static int cmd_jwk_gen(int argc, char **argv)
{
	const char *kind = argc > 2 ? argv[2] : "ec-p256";
	json_t *jwk;
	char *text;

	if (streq(kind, "ec-p256"))
		jwk = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");
	else if (streq(kind, "ec-p384"))
		jwk = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-384");
	else if (streq(kind, "rsa"))
		jwk = json_pack("{s:s, s:i}", "kty", "RSA", "bits", 2048);
	else
		return die("jwk-gen: unknown kind '%s'", kind);
	if (!jwk || !jose_jwk_gen(NULL, jwk))
		die("jwk-gen failed");
	text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", text);
	free(text);
	json_decref(jwk);
	return 0;
}

static int cmd_open(int argc, char **argv)
{
	uint8_t out[SEAL_MAX_PLAINTEXT];
	struct err e = { 0 };
	size_t len, jlen;
	char *jwe, *jtext;
	json_t *jwk;

	if (argc != 4)
		die("usage: open SEALED_FILE PRIV_JWK_FILE");
	jwe = slurp(argv[2], &len);
	jtext = slurp(argv[3], &jlen);
	jwk = json_loadb(jtext, jlen, 0, NULL);
	if (!jwk)
		die("%s: not JSON", argv[3]);
	if (seal_open_jwk(jwe, len, jwk, out, sizeof(out), &len, &e) < 0)
		die("open: %s", err_str(&e));
	fwrite(out, 1, len, stdout);
	putchar('\n');
	explicit_bzero(out, sizeof(out));
	json_decref(jwk);
	free(jwe);
	free(jtext);
	return 0;
}

/* The commit MAC as docs/protocol.md defines it, written independently of
 * hgsd's code. */
static int cmd_mac(int argc, char **argv)
{
	struct kp *kp;
	uint8_t tk[KP_TK_SIZE], key[32], mac[32];
	char sha256[] = "SHA256", info[] = "shieldvm kp commit v1";
	size_t n = 0;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, sha256,
						 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, tk,
						  sizeof(tk)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, info, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						  sizeof(info) - 1),
		OSSL_PARAM_construct_end(),
	};
	size_t mlen = 0;

	if (argc != 4)
		die("usage: mac TK_B64 KP_FILE");
	if (b64url_decode(argv[2], strlen(argv[2]), tk, sizeof(tk), &n) < 0 ||
	    n != sizeof(tk))
		die("TK: not 32 bytes of base64url");
	kp = load_kp(argv[3]);
	if (!kctx || EVP_KDF_derive(kctx, key, sizeof(key), p) != 1)
		die("HKDF failed");
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof(key),
		       kp_digest(kp), KP_DIGEST_SIZE, mac, sizeof(mac),
		       &mlen) ||
	    mlen != sizeof(mac))
		die("HMAC failed");
	b64url_print(mac, sizeof(mac));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	kp_free(kp);
	return 0;
}

static int cmd_digest(int argc, char **argv)
{
	struct kp *kp;
	char d[48];

	if (argc != 3)
		die("usage: digest KP_FILE");
	kp = load_kp(argv[2]);
	kp_digest_text(kp_digest(kp), d);
	printf("%s %llu\n", d, (unsigned long long)kp_generation(kp));
	kp_free(kp);
	return 0;
}

static int cmd_owner_tk(int argc, char **argv)
{
	struct guardian *owner;
	struct kp *kp;
	struct err e = { 0 };
	uint8_t tk[KP_TK_SIZE];

	if (argc != 4)
		die("usage: owner-tk OWNER KP_FILE");
	owner = load_owner(argv[2]);
	kp = load_kp(argv[3]);
	if (kp_unwrap(kp, owner, tk, &e) < 0)
		die("unwrap: %s", err_str(&e));
	b64url_print(tk, sizeof(tk));
	explicit_bzero(tk, sizeof(tk));
	kp_free(kp);
	guardian_free(owner);
	return 0;
}

static int cmd_token(int argc, char **argv)
{
	struct token_claims c = { 0 };
	struct token_key *key = NULL;
	struct err e = { 0 };
	char *pem, *jwk_text, *jwt = NULL;
	size_t len, jlen;

	if (argc != 9)
		die("usage: token KEY_PEM HOST CNF_JWK_FILE MODE STATUS IAT EXP");
	pem = slurp(argv[2], &len);
	if (token_key_from_pem(pem, len, &key, &e) < 0)
		die("%s: %s", argv[2], err_str(&e));
	jwk_text = slurp(argv[4], &jlen);
	c.cnf_jwk = json_loadb(jwk_text, jlen, 0, NULL);
	if (!c.cnf_jwk)
		die("%s: not JSON", argv[4]);
	json_object_del(c.cnf_jwk, "d"); /* the public half */
	json_object_del(c.cnf_jwk, "p");
	json_object_del(c.cnf_jwk, "q");
	json_object_del(c.cnf_jwk, "dp");
	json_object_del(c.cnf_jwk, "dq");
	json_object_del(c.cnf_jwk, "qi");
	snprintf(c.host, sizeof(c.host), "%s", argv[3]);
	c.mode = streq(argv[5], "tpm") ? TOKEN_MODE_TPM : TOKEN_MODE_HOST_KEY;
	c.status = streq(argv[6], "affirming") ? TOKEN_AFFIRMING :
		   streq(argv[6], "warning")   ? TOKEN_WARNING :
						 TOKEN_CONTRAINDICATED;
	c.iat = strtoll(argv[7], NULL, 10);
	c.exp = strtoll(argv[8], NULL, 10);
	snprintf(c.policy_id, sizeof(c.policy_id), "test");
	snprintf(c.verifier_build, sizeof(c.verifier_build), "kps-tool");
	if (token_issue(key, &c, &jwt, &e) < 0)
		die("token_issue: %s", err_str(&e));
	printf("%s\n", jwt);
	free(jwt);
	token_claims_clear(&c);
	token_key_free(key);
	explicit_bzero(pem, len);
	free(pem);
	free(jwk_text);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "owner", cmd_owner },	  { "kp-new", cmd_kp_new },
		{ "meta", cmd_meta },	  { "jwk-gen", cmd_jwk_gen },
		{ "open", cmd_open },	  { "mac", cmd_mac },
		{ "digest", cmd_digest }, { "owner-tk", cmd_owner_tk },
		{ "token", cmd_token },
	};

	if (argc < 2)
		die("usage: kps-tool COMMAND ...");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (streq(argv[1], cmds[i].name))
			return cmds[i].fn(argc, argv);
	return die("unknown command '%s'", argv[1]);
}
