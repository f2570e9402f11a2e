/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM 2.0 evidence on the command line:
 *   shieldvm quote verify      --ak F --quote F --sig F --nonce HEX [--pcrs F]
 *   shieldvm certify verify    --ak F --attest F --sig F --nonce HEX --key F
 *   shieldvm credential make   --ek F --name HEX|--name-file F --secret F -o F
 *   shieldvm ekcert verify     --cert F --ca-dir DIR [--ek-pub F]
 *   shieldvm tpm2-name         PUBFILE
 * The judging is in src/attest (quote.c, credential.c, ekcert.c); this file
 * reads files, parses options and prints verdicts.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "attest/credential.h"
#include "attest/ekcert.h"
#include "attest/eventlog.h"
#include "attest/evidence.h"
#include "attest/hash.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "shieldvm/cmd.h"
#include "shieldvm/json_out.h"

DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)
DEFINE_CLEANUP_FUNC(struct ekcert_cas, ekcert_cas_free)
DEFINE_CLEANUP_FUNC(DIR, closedir)

static const struct option help_only[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* libtss2-mu logs every malformed structure on stderr; our one-line error
 * says it better. An explicit TSS2_LOG from the user still wins. */
static void quiet_tss(void)
{
	setenv("TSS2_LOG", "all+none", 0);
}

/* Exit code for a failed verification function. */
static int exit_for(int r)
{
	if (r == -EKEYREJECTED || r == -ENOENT)
		return EXIT_FAIL;
	return EXIT_INPUT;
}

static int read_input(const char *cmd, const char *what, const char *path,
		      size_t max, uint8_t **ret, size_t *ret_len)
{
	struct err e = { 0 };

	if (file_read(path, max, ret, ret_len, &e) < 0) {
		cli_error(cmd, "%s: %s", what, err_str(&e));
		return -EIO;
	}
	return 0;
}

static bool is_pem(const uint8_t *buf, size_t len)
{
	static const char tag[] = "-----BEGIN";

	for (size_t i = 0; i + sizeof(tag) - 1 <= len && i < 64; i++)
		if (memcmp(buf + i, tag, sizeof(tag) - 1) == 0)
			return true;
	return false;
}

/* AK or other verification key: TPM2B_PUBLIC, TPMT_PUBLIC or PEM. */
static int load_key(const char *cmd, const char *what, const char *path,
		    struct tpm2_key **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { 0 };
	size_t len;
	int r;

	if (read_input(cmd, what, path, 8 * TPM_MAX_PUBLIC_SIZE, &buf, &len) <
	    0)
		return -EIO;
	if (is_pem(buf, len))
		r = tpm2_key_from_pem(buf, len, ret, &e);
	else
		r = tpm2_key_from_public(buf, len, ret, &e);
	if (r < 0)
		cli_error(cmd, "%s %s: %s", what, path, err_str(&e));
	return r;
}

static int load_public(const char *cmd, const char *what, const char *path,
		       TPMT_PUBLIC *ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct err e = { 0 };
	size_t len;
	int r;

	if (read_input(cmd, what, path, TPM_MAX_PUBLIC_SIZE, &buf, &len) < 0)
		return -EIO;
	r = tpm2_public_unmarshal(buf, len, ret, &e);
	if (r < 0)
		cli_error(cmd, "%s %s: %s", what, path, err_str(&e));
	return r;
}

static int parse_nonce(const char *cmd, const char *hex, uint8_t *out,
		       size_t *ret_len)
{
	int n;

	if (strncmp(hex, "0x", 2) == 0 || strncmp(hex, "0X", 2) == 0)
		hex += 2;
	n = hex_decode(hex, out, TPM_MAX_NONCE_SIZE);
	if (n < 0) {
		cli_error(cmd, "--nonce '%s' is not hex of at most %u bytes",
			  hex, TPM_MAX_NONCE_SIZE);
		return -EINVAL;
	}
	*ret_len = (size_t)n;
	return 0;
}

/* {"sha256": {"0": "hex", ...}, ...}, optionally inside {"pcrs": ...};
 * keys that are not hash names are ignored. */
static int pcrs_from_json(const uint8_t *buf, size_t len,
			  struct quote_pcrs *pcrs, struct err *e)
{
	_cleanup_(json_decrefp) json_t *root = NULL;
	json_error_t je;
	json_t *top, *bank;
	const char *alg;
	int banks = 0;

	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(e, EBADMSG, "line %d: %s", je.line, je.text);
	top = root;
	if (json_is_object(json_object_get(root, "pcrs")))
		top = json_object_get(root, "pcrs");
	if (!json_is_object(top))
		return err_set(e, EBADMSG, "top level is not an object");
	json_object_foreach(top, alg, bank) {
		const struct hash_alg *h = hash_alg_by_name(alg);
		struct quote_pcr_bank *b;
		const char *idx;
		json_t *val;

		if (!h)
			continue;
		if (!json_is_object(bank))
			return err_set(e, EBADMSG, "\"%s\" is not an object",
				       alg);
		b = quote_pcrs_add_bank(pcrs, h->tpm_id);
		if (!b)
			return err_set(e, EMSGSIZE, "more than %u banks",
				       QUOTE_MAX_BANKS);
		banks++;
		json_object_foreach(bank, idx, val) {
			char *end = NULL;
			unsigned long p;
			int n;

			errno = 0;
			p = strtoul(idx, &end, 10);
			if (!*idx || *end || errno || p >= QUOTE_NUM_PCRS ||
			    (idx[0] == '0' && idx[1]))
				return err_set(e, EBADMSG,
					       "%s: \"%s\" is not a PCR index "
					       "0..23",
					       alg, idx);
			if (!json_is_string(val))
				return err_set(e, EBADMSG,
					       "%s PCR %lu is not a string",
					       alg, p);
			n = hex_decode(json_string_value(val), b->values[p],
				       QUOTE_MAX_DIGEST);
			if (n != h->size)
				return err_set(e, EBADMSG,
					       "%s PCR %lu is not %u bytes of "
					       "hex",
					       alg, p, h->size);
			b->mask |= 1u << p;
		}
	}
	if (!banks)
		return err_set(e, EBADMSG, "no PCR bank (sha1, sha256, ...)");
	return 0;
}

static json_t *selection_json(const struct quote_info *qi)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < qi->n_banks; i++) {
		json_t *a = json_array();

		for (unsigned p = 0; a && p < 32; p++)
			if (qi->banks[i].mask & (1u << p))
				json_array_append_new(a, json_integer(p));
		json_object_set_new(o, tpm2_alg_name(qi->banks[i].alg), a);
	}
	return o;
}

static void set_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
	char *h = hex_encode_alloc(b, n);

	json_object_set_new(o, key, h ? json_string(h) : json_null());
	free(h);
}

static json_t *info_json(const struct quote_info *qi, const char *what)
{
	char fw[32];
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "verified", json_true());
	json_object_set_new(o, "type", json_string(what));
	json_object_set_new(o, "sig_alg",
			    json_string(tpm2_alg_name(qi->sig_alg)));
	json_object_set_new(o, "sig_hash",
			    json_string(tpm2_alg_name(qi->sig_hash)));
	set_hex(o, "qualified_signer", qi->signer, qi->signer_len);
	json_object_set_new(o, "clock", json_integer((json_int_t)qi->clock));
	json_object_set_new(o, "reset_count", json_integer(qi->reset_count));
	json_object_set_new(o, "restart_count",
			    json_integer(qi->restart_count));
	json_object_set_new(o, "safe", json_boolean(qi->safe));
	snprintf(fw, sizeof(fw), "0x%016llx",
		 (unsigned long long)qi->firmware_version);
	json_object_set_new(o, "firmware_version", json_string(fw));
	return o;
}

static int print_rejection(const char *cmd, bool json, int r,
			   const struct err *e)
{
	cli_error(cmd, "%s", err_str(e));
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string(err_str(e)));
		json_print(o);
	}
	return exit_for(r);
}

/* Commands with a single verb ("quote verify"): help, verb check, dispatch. */
static int one_verb(int argc, char **argv, const char *cmd, const char *verb,
		    void (*usage)(FILE *), int (*run)(int, char **))
{
	quiet_tss();
	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!streq(argv[1], verb)) {
		cli_error(cmd, "unknown verb '%s' (%s)", argv[1], verb);
		return EXIT_USAGE;
	}
	return run(argc - 1, argv + 1);
}

/* ---- quote ---- */

static void quote_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm quote verify --ak AK --quote QUOTE --sig SIG --nonce HEX\n"
		"                             [--pcrs FILE.json | --pcrs-tpm2-tools FILE]\n"
		"                             [--event-log LOG] [--json]\n"
		"\n"
		"Verify a TPM2_Quote: the signature by the attestation key over QUOTE (the\n"
		"marshalled TPMS_ATTEST, as tpm2_quote -m writes it), TPM_GENERATED_VALUE,\n"
		"type TPM_ST_ATTEST_QUOTE, extraData == nonce, and -- when PCR values are\n"
		"given -- pcrDigest == H_sig(selected PCR values in selection order). Every\n"
		"PCR the quote selects must have a supplied value.\n"
		"\n"
		"  --ak F               AK public key: TPM2B_PUBLIC, TPMT_PUBLIC or PEM\n"
		"  --quote F            TPMS_ATTEST bytes\n"
		"  --sig F              TPMT_SIGNATURE bytes (tpm2_quote -s, -f tss)\n"
		"  --nonce HEX          expected extraData (\"\" for none)\n"
		"  --pcrs F             PCR values as JSON, the 'shieldvm eventlog replay\n"
		"                       --json' format {\"sha256\": {\"0\": \"hex\", ...}}\n"
		"  --pcrs-tpm2-tools F  PCR values as tpm2_quote -o writes them\n"
		"                       (-F serialized or -F values)\n"
		"  --event-log LOG      also require that this TCG event log replays to\n"
		"                       the quoted PCR values (needs --pcrs*)\n"
		"  --json               machine-readable verdict on stdout\n"
		"  -h, --help           this text\n"
		"\n"
		"Without --pcrs the pcrDigest is reported but not checked.\n"
		"Exit status: 0 verified, 1 rejected, 2 usage, 3 malformed input.\n");
}

static int quote_verify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ak", required_argument, NULL, 'a' },
		{ "quote", required_argument, NULL, 'q' },
		{ "sig", required_argument, NULL, 's' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "pcrs-tpm2-tools", required_argument, NULL, 't' },
		{ "event-log", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ak_path = NULL, *quote_path = NULL, *sig_path = NULL;
	const char *nonce_hex = NULL, *pcrs_json = NULL, *pcrs_t2t = NULL;
	const char *event_log = NULL;
	_cleanup_(tpm2_key_freep) struct tpm2_key *ak = NULL;
	_cleanup_free_ uint8_t *quote = NULL, *sig = NULL, *pbuf = NULL;
	_cleanup_free_ struct quote_pcrs *pcrs = NULL;
	uint8_t nonce[TPM_MAX_NONCE_SIZE];
	size_t quote_len, sig_len, nonce_len, plen;
	struct quote_info qi;
	struct err e = { 0 };
	bool json = false;
	int c, r;
	json_t *o;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			ak_path = optarg;
			break;
		case 'q':
			quote_path = optarg;
			break;
		case 's':
			sig_path = optarg;
			break;
		case 'n':
			nonce_hex = optarg;
			break;
		case 'p':
			pcrs_json = optarg;
			break;
		case 't':
			pcrs_t2t = optarg;
			break;
		case 'l':
			event_log = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			quote_usage(stdout);
			return EXIT_OK;
		default:
			quote_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !ak_path || !quote_path || !sig_path ||
	    !nonce_hex) {
		cli_error("quote",
			  "verify needs --ak, --quote, --sig and --nonce "
			  "(see --help)");
		return EXIT_USAGE;
	}
	if (event_log && !pcrs_json && !pcrs_t2t) {
		cli_error("quote", "--event-log needs the PCR values (--pcrs or --pcrs-tpm2-tools)");
		return EXIT_USAGE;
	}
	if (pcrs_json && pcrs_t2t) {
		cli_error("quote",
			  "give --pcrs or --pcrs-tpm2-tools, not both");
		return EXIT_USAGE;
	}
	if (parse_nonce("quote", nonce_hex, nonce, &nonce_len) < 0)
		return EXIT_USAGE;
	if (load_key("quote", "--ak", ak_path, &ak) < 0 ||
	    read_input("quote", "--quote", quote_path, TPM_MAX_ATTEST_SIZE,
		       &quote, &quote_len) < 0 ||
	    read_input("quote", "--sig", sig_path, TPM_MAX_SIGNATURE_SIZE, &sig,
		       &sig_len) < 0)
		return EXIT_INPUT;

	if (pcrs_json || pcrs_t2t) {
		pcrs = calloc(1, sizeof(*pcrs));
		if (!pcrs)
			return EXIT_INPUT;
		if (read_input("quote", "PCR file",
			       pcrs_json ? pcrs_json : pcrs_t2t, FILE_MAX_SIZE,
			       &pbuf, &plen) < 0)
			return EXIT_INPUT;
	}
	if (pcrs_json) {
		r = pcrs_from_json(pbuf, plen, pcrs, &e);
		if (r < 0) {
			cli_error("quote", "--pcrs %s: %s", pcrs_json,
				  err_str(&e));
			return EXIT_INPUT;
		}
	} else if (pcrs_t2t) {
		/* The values format needs the quote's selection: read it
		 * from the signed quote first (nothing is trusted yet). */
		r = quote_verify(ak, quote, quote_len, sig, sig_len, nonce,
				 nonce_len, NULL, &qi, &e);
		if (r < 0)
			return print_rejection("quote", json, r, &e);
		r = quote_pcrs_from_tpm2_tools(pbuf, plen, qi.banks, qi.n_banks,
					       pcrs, &e);
		if (r < 0) {
			cli_error("quote", "--pcrs-tpm2-tools %s: %s", pcrs_t2t,
				  err_str(&e));
			return EXIT_INPUT;
		}
	}

	r = quote_verify(ak, quote, quote_len, sig, sig_len, nonce, nonce_len,
			 pcrs, &qi, &e);
	if (r < 0)
		return print_rejection("quote", json, r, &e);
	if (event_log) {
		struct eventlog *log = NULL;

		if (cli_load_eventlog("quote", event_log, &log) < 0)
			return EXIT_INPUT;
		r = evidence_check_log(log, &qi, pcrs, &e);
		eventlog_free(log);
		if (r < 0)
			return print_rejection("quote", json, r, &e);
	}

	if (json) {
		o = info_json(&qi, "quote");
		json_object_set_new(o, "selection", selection_json(&qi));
		set_hex(o, "pcr_digest", qi.pcr_digest, qi.pcr_digest_len);
		json_object_set_new(o, "pcr_digest_checked",
				    json_boolean(qi.pcr_digest_checked));
		set_hex(o, "nonce", nonce, nonce_len);
		return json_print(o) < 0 ? EXIT_INPUT : EXIT_OK;
	} else {
		char sel[400];

		quote_format_selection(qi.banks, qi.n_banks, sel, sizeof(sel));
		printf("quote verified: %s/%s signature, nonce %zu bytes, "
		       "selection %s, pcrDigest %s, clock %llu, firmware "
		       "0x%016llx\n",
		       tpm2_alg_name(qi.sig_alg), tpm2_alg_name(qi.sig_hash),
		       nonce_len, sel,
		       qi.pcr_digest_checked ? "matches the PCR values" :
					       "NOT checked (no --pcrs)",
		       (unsigned long long)qi.clock,
		       (unsigned long long)qi.firmware_version);
	}
	return EXIT_OK;
}

int cmd_quote(int argc, char **argv)
{
	return one_verb(argc, argv, "quote", "verify", quote_usage, quote_verify_cmd);
}

/* ---- certify ---- */

static void certify_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm certify verify --ak AK --attest F --sig F --nonce HEX --key KEY\n"
		"                               [--creation-data F] [--role ROLE] [--json]\n"
		"\n"
		"Verify that the attestation key certified KEY: a TPM2_Certify\n"
		"(TPM_ST_ATTEST_CERTIFY) or TPM2_CertifyCreation (TPM_ST_ATTEST_CREATION)\n"
		"attestation, chosen by the attestation's own type. Checks the signature\n"
		"by AK, TPM_GENERATED_VALUE, extraData == nonce, that the certified name is\n"
		"the name of KEY and that KEY's attributes fit ROLE.\n"
		"\n"
		"  --ak F             AK public key: TPM2B_PUBLIC, TPMT_PUBLIC or PEM\n"
		"  --attest F         TPMS_ATTEST bytes (tpm2_certify -o)\n"
		"  --sig F            TPMT_SIGNATURE bytes (tpm2_certify -s, -f tss)\n"
		"  --nonce HEX        expected extraData (\"\" for none)\n"
		"  --key F            certified key: TPM2B_PUBLIC or TPMT_PUBLIC\n"
		"  --creation-data F  TPMS_CREATION_DATA: check creationHash too\n"
		"  --role ROLE        transport (default): fixedTPM, fixedParent,\n"
		"                       sensitiveDataOrigin, decrypt; not sign, not\n"
		"                       restricted (the host transport key)\n"
		"                     ak: fixedTPM, fixedParent, sensitiveDataOrigin,\n"
		"                       sign, restricted; not decrypt\n"
		"                     any: no attribute check\n"
		"  --json             machine-readable verdict on stdout\n"
		"  -h, --help         this text\n"
		"\n"
		"Exit status: 0 verified, 1 rejected, 2 usage, 3 malformed input.\n");
}

#define AK_REQUIRED                                                   \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |             \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT | \
	 TPMA_OBJECT_RESTRICTED)

static int certify_verify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ak", required_argument, NULL, 'a' },
		{ "attest", required_argument, NULL, 'q' },
		{ "sig", required_argument, NULL, 's' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "key", required_argument, NULL, 'k' },
		{ "creation-data", required_argument, NULL, 'c' },
		{ "role", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ak_path = NULL, *att_path = NULL, *sig_path = NULL;
	const char *nonce_hex = NULL, *key_path = NULL, *cd_path = NULL;
	const char *role = "transport";
	_cleanup_(tpm2_key_freep) struct tpm2_key *ak = NULL;
	_cleanup_free_ uint8_t *att = NULL, *sig = NULL, *cd = NULL;
	uint8_t nonce[TPM_MAX_NONCE_SIZE];
	size_t att_len, sig_len, nonce_len, cd_len = 0;
	struct quote_info qi;
	struct err e = { 0 };
	TPMT_PUBLIC key;
	bool json = false, creation;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			ak_path = optarg;
			break;
		case 'q':
			att_path = optarg;
			break;
		case 's':
			sig_path = optarg;
			break;
		case 'n':
			nonce_hex = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'c':
			cd_path = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			certify_usage(stdout);
			return EXIT_OK;
		default:
			certify_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !ak_path || !att_path || !sig_path ||
	    !nonce_hex || !key_path) {
		cli_error("certify",
			  "verify needs --ak, --attest, --sig, --nonce "
			  "and --key (see --help)");
		return EXIT_USAGE;
	}
	if (!streq(role, "transport") && !streq(role, "ak") &&
	    !streq(role, "any")) {
		cli_error("certify", "--role '%s' is not transport, ak or any",
			  role);
		return EXIT_USAGE;
	}
	if (parse_nonce("certify", nonce_hex, nonce, &nonce_len) < 0)
		return EXIT_USAGE;
	if (load_key("certify", "--ak", ak_path, &ak) < 0 ||
	    load_public("certify", "--key", key_path, &key) < 0 ||
	    read_input("certify", "--attest", att_path, TPM_MAX_ATTEST_SIZE,
		       &att, &att_len) < 0 ||
	    read_input("certify", "--sig", sig_path, TPM_MAX_SIGNATURE_SIZE,
		       &sig, &sig_len) < 0 ||
	    (cd_path && read_input("certify", "--creation-data", cd_path,
				   TPM_MAX_ATTEST_SIZE, &cd, &cd_len) < 0))
		return EXIT_INPUT;

	/* The type (after the 4-byte magic) picks the check; the check
	 * itself verifies the type again under the signature. */
	creation = att_len >= 6 && att[4] == 0x80 && att[5] == 0x1A;
	if (creation)
		r = quote_verify_creation(ak, att, att_len, sig, sig_len, nonce,
					  nonce_len, &key, cd, cd_len, &qi, &e);
	else if (cd_path) {
		cli_error("certify", "--creation-data needs a certify-creation "
				     "attestation");
		return EXIT_USAGE;
	} else
		r = quote_verify_certify(ak, att, att_len, sig, sig_len, nonce,
					 nonce_len, &key, &qi, &e);
	if (r == 0 && streq(role, "transport"))
		r = quote_check_transport_key(&key, &e);
	else if (r == 0 && streq(role, "ak"))
		r = quote_check_attributes(&key, AK_REQUIRED,
					   TPMA_OBJECT_DECRYPT, &e);
	if (r < 0)
		return print_rejection("certify", json, r, &e);

	if (json) {
		json_t *o = info_json(&qi, creation ? "certify-creation" :
						      "certify");
		char attr[16];

		set_hex(o, "name", qi.name, qi.name_len);
		snprintf(attr, sizeof(attr), "0x%08x", key.objectAttributes);
		json_object_set_new(o, "attributes", json_string(attr));
		json_object_set_new(o, "role", json_string(role));
		if (creation)
			json_object_set_new(o, "creation_hash_checked",
					    json_boolean(
						    qi.creation_hash_checked));
		return json_print(o) < 0 ? EXIT_INPUT : EXIT_OK;
	}
	printf("%s verified: %s/%s signature, key name %s, attributes "
	       "0x%08x fit role %s%s\n",
	       creation ? "certify-creation" : "certify",
	       tpm2_alg_name(qi.sig_alg), tpm2_alg_name(qi.sig_hash),
	       tpm2_alg_name((uint16_t)(qi.name_len >= 2 ?
						(qi.name[0] << 8) | qi.name[1] :
						0)),
	       key.objectAttributes, role,
	       creation ? (qi.creation_hash_checked ?
				   ", creationHash matches" :
				   ", creationHash not checked") :
			  "");
	return EXIT_OK;
}

int cmd_certify(int argc, char **argv)
{
	return one_verb(argc, argv, "certify", "verify", certify_usage, certify_verify_cmd);
}

/* ---- credential ---- */

static void credential_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm credential make --ek EK --name HEX|--name-file F --secret F -o OUT\n"
		"\n"
		"TPM2_MakeCredential in software: protect SECRET so that only the TPM\n"
		"holding EK can recover it, and only for the object with the given name\n"
		"(tpm2_activatecredential -i OUT).\n"
		"\n"
		"  --ek F          EK public: TPM2B_PUBLIC or TPMT_PUBLIC (RSA or ECC\n"
		"                  storage key with AES-CFB, e.g. tpm2_createek -u)\n"
		"  --name HEX      name of the object (e.g. the AK), nameAlg || digest\n"
		"  --name-file F   the same as raw bytes (tpm2_createak -n)\n"
		"  --secret F      the credential, 1 to digest-size bytes (32 for a\n"
		"                  SHA-256 EK)\n"
		"  -o, --output F  tpm2-tools credential file: 0xBADCC0DE, version 1,\n"
		"                  TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET\n"
		"  -h, --help      this text\n"
		"\n"
		"Exit status: 0 written, 2 usage, 3 unusable input or output.\n");
}

static int credential_make_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ek", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "name-file", required_argument, NULL, 'N' },
		{ "secret", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ek_path = NULL, *name_hex = NULL, *name_path = NULL;
	const char *secret_path = NULL, *out_path = NULL;
	_cleanup_free_ uint8_t *secret = NULL, *nbuf = NULL, *blob = NULL;
	uint8_t name[sizeof(TPMU_NAME)];
	size_t name_len = 0, secret_len = 0, blob_len = 0;
	struct credential cred;
	struct err e = { 0 };
	TPMT_PUBLIC ek;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			ek_path = optarg;
			break;
		case 'n':
			name_hex = optarg;
			break;
		case 'N':
			name_path = optarg;
			break;
		case 's':
			secret_path = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			credential_usage(stdout);
			return EXIT_OK;
		default:
			credential_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !ek_path || !secret_path || !out_path ||
	    !name_hex == !name_path) {
		cli_error("credential",
			  "make needs --ek, one of --name or "
			  "--name-file, --secret and -o (see --help)");
		return EXIT_USAGE;
	}
	if (name_hex) {
		r = hex_decode(name_hex, name, sizeof(name));
		if (r < 0) {
			cli_error("credential",
				  "--name is not hex of at most "
				  "%zu bytes",
				  sizeof(name));
			return EXIT_USAGE;
		}
		name_len = (size_t)r;
	} else {
		if (read_input("credential", "--name-file", name_path,
			       sizeof(name), &nbuf, &name_len) < 0)
			return EXIT_INPUT;
		memcpy(name, nbuf, name_len);
	}
	if (load_public("credential", "--ek", ek_path, &ek) < 0 ||
	    read_input("credential", "--secret", secret_path, QUOTE_MAX_DIGEST,
		       &secret, &secret_len) < 0)
		return EXIT_INPUT;
	r = credential_make(&ek, name, name_len, secret, secret_len, &cred, &e);
	OPENSSL_cleanse(secret, secret_len);
	if (r < 0) {
		cli_error("credential", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	r = credential_to_tpm2_tools(&cred, &blob, &blob_len);
	if (r < 0) {
		cli_error("credential", "out of memory");
		return EXIT_INPUT;
	}
	if (file_write(out_path, blob, blob_len, 0600, &e) < 0) {
		cli_error("credential", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

int cmd_credential(int argc, char **argv)
{
	return one_verb(argc, argv, "credential", "make", credential_usage, credential_make_cmd);
}

/* ---- ekcert ---- */

static void ekcert_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm ekcert verify --cert F --ca-dir DIR [--ek-pub F] [--json]\n"
		"\n"
		"Validate an EK certificate (DER or PEM, e.g. tpm2_nvread 0x01c00002)\n"
		"against the CA certificates in DIR. Every regular file in DIR is read as\n"
		"PEM (one or more certificates) or DER; files holding no certificate are\n"
		"skipped. Self-signed certificates are trust anchors, the others are\n"
		"intermediates used to build the chain. Signatures and validity periods\n"
		"are always checked; TCG quirks (empty subject with a critical SAN,\n"
		"TCG-defined critical extensions, EKU 2.23.133.8.1) are tolerated.\n"
		"\n"
		"  --cert F      the EK certificate\n"
		"  --ca-dir DIR  the trusted TPM vendor CAs\n"
		"  --ek-pub F    also require the certified key to be this TPM public\n"
		"                area (TPM2B_PUBLIC or TPMT_PUBLIC)\n"
		"  --json        machine-readable verdict on stdout\n"
		"  -h, --help    this text\n"
		"\n"
		"Exit status: 0 valid, 1 rejected (including: no anchor in DIR), 2 usage,\n"
		"3 malformed input.\n");
}

static int load_ca_dir(const char *dir, struct ekcert_cas *cas)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		cli_error("ekcert", "--ca-dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		_cleanup_free_ uint8_t *buf = NULL;
		_cleanup_free_ char *path = NULL;
		struct err e = { 0 };
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			path = NULL;
			return -ENOMEM;
		}
		if (file_read(path, 64u * EKCERT_MAX_SIZE, &buf, &len, &e) <
		    0) {
			if (e.msg[0] && strstr(e.msg, "directory"))
				continue;
			cli_error("ekcert", "%s", err_str(&e));
			return -EIO;
		}
		/* Not a certificate file (a key, a serial): skip. */
		(void)ekcert_cas_add(cas, buf, len, path, &e);
	}
	return 0;
}

static int ekcert_verify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "ca-dir", required_argument, NULL, 'd' },
		{ "ek-pub", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cert_path = NULL, *dir = NULL, *ek_path = NULL;
	_cleanup_(ekcert_cas_freep) struct ekcert_cas *cas = NULL;
	_cleanup_free_ uint8_t *cert = NULL;
	struct ekcert_info info;
	struct err e = { 0 };
	size_t cert_len;
	TPMT_PUBLIC ek;
	bool json = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cert_path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'e':
			ek_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			ekcert_usage(stdout);
			return EXIT_OK;
		default:
			ekcert_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !cert_path || !dir) {
		cli_error("ekcert",
			  "verify needs --cert and --ca-dir (see --help)");
		return EXIT_USAGE;
	}
	if (read_input("ekcert", "--cert", cert_path, EKCERT_MAX_SIZE * 2,
		       &cert, &cert_len) < 0 ||
	    (ek_path && load_public("ekcert", "--ek-pub", ek_path, &ek) < 0))
		return EXIT_INPUT;
	if (ekcert_cas_new(&cas, &e) < 0) {
		cli_error("ekcert", "%s", err_str(&e));
		return EXIT_INPUT;
	}
	if (load_ca_dir(dir, cas) < 0)
		return EXIT_INPUT;
	r = ekcert_verify(cas, cert, cert_len, 0, &info, &e);
	if (r == 0 && ek_path)
		r = ekcert_match_public(cert, cert_len, &ek, &e);
	if (r < 0)
		return print_rejection("ekcert", json, r, &e);
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "verified", json_true());
		json_object_set_new(o, "subject", json_string(info.subject));
		json_object_set_new(o, "issuer", json_string(info.issuer));
		json_object_set_new(o, "tpm_manufacturer",
				    json_string(info.manufacturer));
		json_object_set_new(o, "tpm_model", json_string(info.model));
		json_object_set_new(o, "tpm_version",
				    json_string(info.version));
		json_object_set_new(o, "not_before",
				    json_string(info.not_before));
		json_object_set_new(o, "not_after",
				    json_string(info.not_after));
		json_object_set_new(o, "key_type",
				    json_string(info.key_type == EVP_PKEY_RSA ?
							"rsa" :
							"ec"));
		json_object_set_new(o, "key_bits", json_integer(info.key_bits));
		json_object_set_new(o, "ek_eku", json_boolean(info.ek_eku));
		json_object_set_new(o, "chain_length",
				    json_integer(info.chain_len));
		json_object_set_new(o, "ek_pub_matches",
				    ek_path ? json_true() : json_null());
		return json_print(o) < 0 ? EXIT_INPUT : EXIT_OK;
	}
	printf("EK certificate valid: issuer \"%s\", TPM %s %s %s, chain of %d%s\n",
	       info.issuer, info.manufacturer[0] ? info.manufacturer : "?",
	       info.model[0] ? info.model : "?",
	       info.version[0] ? info.version : "?", info.chain_len,
	       ek_path ? ", key matches --ek-pub" : "");
	return EXIT_OK;
}

int cmd_ekcert(int argc, char **argv)
{
	return one_verb(argc, argv, "ekcert", "verify", ekcert_usage, ekcert_verify_cmd);
}

/* ---- tpm2-name ---- */

static void name_usage(FILE *f)
{
	fprintf(f,
		"Usage: shieldvm tpm2-name PUBFILE\n"
		"\n"
		"Print the TPM name (nameAlg || H_nameAlg(TPMT_PUBLIC)) of a public area,\n"
		"TPM2B_PUBLIC or TPMT_PUBLIC, in hex: the value tpm2_createak -n and\n"
		"tpm2_readpublic -n write in binary.\n"
		"\n"
		"Exit status: 0 ok, 2 usage, 3 malformed input.\n");
}

int cmd_tpm2_name(int argc, char **argv)
{
	uint8_t name[TPM2_NAME_MAX];
	char hex[2 * TPM2_NAME_MAX + 1];
	struct err e = { 0 };
	TPMT_PUBLIC pub;
	size_t len;
	int c;

	quiet_tss();
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", help_only, NULL)) != -1) {
		if (c == 'h') {
			name_usage(stdout);
			return EXIT_OK;
		}
		name_usage(stderr);
		return EXIT_USAGE;
	}
	if (optind != argc - 1) {
		name_usage(stderr);
		return EXIT_USAGE;
	}
	if (load_public("tpm2-name", "public area", argv[optind], &pub) < 0)
		return EXIT_INPUT;
	if (tpm2_public_name(&pub, name, &len, &e) < 0) {
		cli_error("tpm2-name", "%s: %s", argv[optind], err_str(&e));
		return EXIT_INPUT;
	}
	printf("%s\n", hex_encode(name, len, hex));
	return EXIT_OK;
}
