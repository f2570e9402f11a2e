/* SPDX-License-Identifier: Apache-2.0 */
/*
 * e2e_client: the guarded host's side of the hgsd host API
 * (docs/protocol.md), one protocol step per command, for the e2e-attest
 * suite. Each step can be made to go wrong in exactly one way, so that the
 * shell scripts can provoke every refusal hgsd knows.
 *
 *   e2e_client [--tcti T] [--url BASE] COMMAND [OPTIONS]
 *
 * TPM work goes through src/host/tpm.h (the agent's own TPM module), HTTP
 * through libcurl, tokens are checked with src/attest/token.h. Commands that
 * talk to hgsd print one JSON line on stdout:
 *   {"step": "...", "status": HTTP status, "body": the answer's JSON}
 * and exit 0 whenever a server answered (the scripts judge the answer);
 * exit 1 is a local failure (TPM, file, connection), 2 a usage error.
 * See tests/e2e-attest/README.md for the commands.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <jose/b64.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "attest/eventlog.h"
#include "attest/hash.h"
#include "attest/quote.h"
#include "attest/token.h"
#include "attest/tpm2.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"
#include "host/tpm.h"

#define E2E_MAX_RESPONSE (1024u * 1024) /* response body we accept */
#define E2E_MAX_FILE (8u * 1024 * 1024) /* any input file */
#define E2E_HTTP_TIMEOUT 30L		/* seconds per request */

static const char *opt_tcti;
static const char *opt_url = "http://127.0.0.1:8443";

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)
DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)

static int fail(const char *what, const struct err *e)
{
	fprintf(stderr, "e2e_client: %s: %s\n", what, err_str(e));
	return 1;
}

static int usage(const char *msg)
{
	fprintf(stderr, "e2e_client: %s (see tests/e2e-attest/README.md)\n",
		msg);
	return 2;
}

/* A command's option; every one takes a value. */
struct e2e_opt {
	const char *name;
	const char **value; /* the last one given */
};

#define E2E_MAX_OPTS 8 /* options of one command */

/* getopt_long over a command's options (argv[0] is the command): 0, or the
 * usage exit code after "COMMAND: unknown option". */
static int parse_opts(int argc, char **argv, const struct e2e_opt *opts,
		      size_t n)
{
	struct option lo[E2E_MAX_OPTS + 1] = { 0 };
	char msg[64];
	int c;

	if (n > E2E_MAX_OPTS)
		return usage("too many options");
	for (size_t i = 0; i < n; i++)
		lo[i] = (struct option){ opts[i].name, required_argument, NULL,
					 (int)i + 1 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c < 1 || (size_t)c > n) {
			snprintf(msg, sizeof(msg), "%s: unknown option",
				 argv[0]);
			return usage(msg);
		}
		*opts[c - 1].value = optarg;
	}
	return 0;
}

/* ---- files ---------------------------------------------------------------*/

static int write_out(const char *path, const void *buf, size_t len,
		     struct err *e)
{
	(void)unlink(path);
	return file_write(path, buf, len, 0600, e);
}

static int load_key(const char *path, struct host_tpm_key *ret, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = file_read(path, HOST_TPM_KEY_FILE_MAX, &buf, &len, e);

	if (r < 0)
		return r;
	return host_tpm_key_from_bytes(buf, len, ret, e);
}

static int save_key(const char *path, const struct host_tpm_key *k,
		    struct err *e)
{
	uint8_t buf[HOST_TPM_KEY_FILE_MAX];
	size_t len;
	int r = host_tpm_key_to_bytes(k, buf, sizeof(buf), &len, e);

	if (r < 0)
		return r;
	return write_out(path, buf, len, e);
}

/* A text file's content without trailing white space. */
static int read_text(const char *path, size_t max, char **ret, struct err *e)
{
	uint8_t *buf = NULL;
	size_t len;
	int r = file_read(path, max, &buf, &len, e);

	if (r < 0)
		return r;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' ' ||
		       buf[len - 1] == '\r'))
		buf[--len] = '\0';
	*ret = (char *)buf;
	return 0;
}

static json_t *b64(const void *buf, size_t len)
{
	return jose_b64_enc(buf, len);
}

/* base64url text -> malloc'ed bytes. */
static int unb64(const char *s, uint8_t **ret, size_t *ret_len, struct err *e)
{
	_cleanup_(json_decrefp) json_t *j = json_string(s);
	size_t n = j ? jose_b64_dec(j, NULL, 0) : SIZE_MAX;
	uint8_t *out;

	if (n == SIZE_MAX)
		return err_set(e, EBADMSG, "not base64url: '%.40s'", s);
	out = malloc(n + 1);
	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	if (jose_b64_dec(j, out, n) != n) {
		free(out);
		return err_set(e, EBADMSG, "not base64url: '%.40s'", s);
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

/* ---- HTTP ----------------------------------------------------------------*/

struct body_buf {
	char *p;
	size_t len;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t n, void *userdata)
{
	struct body_buf *b = userdata;
	size_t add = size * n;
	char *p;

	if (add > E2E_MAX_RESPONSE - b->len) {
		b->too_big = true;
		return 0;
	}
	p = realloc(b->p, b->len + add + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/*
 * method path [request JSON] -> status and body (the parsed JSON, or the
 * raw text as a JSON string when the body is not JSON, or null when empty).
 * 0 when a server answered, whatever the status.
 */
static int http(const char *method, const char *path, const json_t *req,
		long *ret_status, json_t **ret_body, struct err *e)
{
	struct body_buf b = { 0 };
	struct curl_slist *hdr = NULL;
	_cleanup_free_ char *url = NULL, *data = NULL;
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;
	int r = 0;

	if (!c)
		return err_set(e, ENOMEM, "curl_easy_init failed");
	if (asprintf(&url, "%s%s", opt_url, path) < 0) {
		curl_easy_cleanup(c);
		return err_set(e, ENOMEM, "out of memory");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, E2E_HTTP_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (streq(method, "POST")) {
		data = req ? json_dumps(req, JSON_COMPACT) : strdup("{}");
		if (!data) {
			curl_easy_cleanup(c);
			return err_set(e, ENOMEM, "out of memory");
		}
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(data));
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		r = err_set(e, EIO, "%s %s: %s%s", method, url,
			    curl_easy_strerror(cc),
			    b.too_big ? " (response too large)" : "");
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
	if (!b.p || b.len == 0) {
		*ret_body = json_null();
	} else {
		*ret_body =
			json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL);
		if (!*ret_body)
			*ret_body = json_stringn(b.p, b.len);
	}
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(b.p);
	return r;
}

/* Print the decisive answer as one JSON line; extra (may be NULL) is
 * merged in and released. */
static void emit(const char *step, long status, json_t *body, json_t *extra)
{
	_cleanup_(json_decrefp) json_t *x = extra;
	_cleanup_(json_decrefp)
		json_t *o = json_pack("{s:s, s:I, s:O}", "step", step, "status",
				      (json_int_t)status, "body",
				      body ? body : json_null());
	_cleanup_free_ char *s = NULL;

	if (o && x)
		json_object_update(o, x);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	printf("%s\n", s ? s : "{}");
	fflush(stdout);
}

static int open_tpm(const char *tcti, struct host_tpm **ret)
{
	struct err e = { 0 };

	if (!tcti)
		return usage("--tcti is required for this command");
	if (host_tpm_open(tcti, ret, &e) < 0)
		return fail("open TPM", &e);
	return 0;
}

/* ---- ek: public area and certificate -------------------------------------*/

static int cmd_ek(int argc, char **argv)
{
	const char *type_s = "rsa2048", *pub_path = NULL, *cert_path = NULL;
	const struct e2e_opt opts[] = {
		{ "type", &type_s },
		{ "pub", &pub_path },
		{ "cert", &cert_path },
	};
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_free_ uint8_t *cert = NULL;
	enum host_tpm_ek_type type;
	struct host_tpm_public pub;
	char hex[2 * TPM2_NAME_MAX + 1];
	size_t cert_len = 0;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!pub_path || host_tpm_ek_type_from_string(type_s, &type) < 0)
		return usage(
			"ek: --pub FILE [--type rsa2048|ecc-p256|ecc-p384] [--cert FILE]");
	if ((r = open_tpm(opt_tcti, &t)) != 0)
		return r;
	if (host_tpm_ek_public(t, type, &pub, &e) < 0)
		return fail("EK public", &e);
	if (write_out(pub_path, pub.pub, pub.pub_len, &e) < 0)
		return fail("write EK public", &e);
	if (cert_path) {
		if (host_tpm_ek_cert(t, type, &cert, &cert_len, &e) < 0)
			return fail("EK certificate", &e);
		if (write_out(cert_path, cert, cert_len, &e) < 0)
			return fail("write EK certificate", &e);
	}
	printf("{\"ek_name\": \"%s\", \"cert_bytes\": %zu}\n",
	       hex_encode(pub.name, pub.name_len, hex), cert_len);
	return 0;
}

/* ---- create-key / wrap-key ------------------------------------------------*/

static int cmd_create_key(int argc, char **argv)
{
	const char *kind = NULL, *type_s = "ecc-p256", *out = NULL;
	const struct e2e_opt opts[] = {
		{ "kind", &kind },
		{ "type", &type_s },
		{ "out", &out },
	};
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	enum host_tpm_key_type type;
	struct host_tpm_key k;
	char hex[2 * TPM2_NAME_MAX + 1];
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!kind || !out || (!streq(kind, "ak") && !streq(kind, "tk")) ||
	    host_tpm_key_type_from_string(type_s, &type) < 0)
		return usage(
			"create-key: --kind ak|tk [--type ecc-p256|rsa2048] --out FILE");
	if ((r = open_tpm(opt_tcti, &t)) != 0)
		return r;
	r = streq(kind, "ak") ? host_tpm_ak_create(t, type, &k, &e) :
				host_tpm_transport_key_create(t, type, &k, &e);
	if (r < 0)
		return fail(kind, &e);
	if (save_key(out, &k, &e) < 0)
		return fail("save key", &e);
	printf("{\"name\": \"%s\"}\n",
	       hex_encode(k.pub.name, k.pub.name_len, hex));
	return 0;
}

/* A TPM2B_PUBLIC + TPM2B_PRIVATE pair from tpm2_create (-u, -r) as a key
 * file of the host module, so host_tpm_certify can load it. */
static int cmd_wrap_key(int argc, char **argv)
{
	const char *pub_path = NULL, *priv_path = NULL, *out = NULL;
	const struct e2e_opt opts[] = {
		{ "pub", &pub_path },
		{ "priv", &priv_path },
		{ "out", &out },
	};
	_cleanup_free_ uint8_t *pub = NULL, *priv = NULL;
	uint8_t buf[HOST_TPM_KEY_FILE_MAX];
	size_t pub_len, priv_len, len;
	struct host_tpm_key k;
	char hex[2 * TPM2_NAME_MAX + 1];
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!pub_path || !priv_path || !out)
		return usage("wrap-key: --pub FILE --priv FILE --out FILE");
	if (file_read(pub_path, sizeof(TPM2B_PUBLIC), &pub, &pub_len, &e) < 0 ||
	    file_read(priv_path, sizeof(TPM2B_PRIVATE), &priv, &priv_len, &e) <
		    0)
		return fail("read blobs", &e);
	/* "SVTK", UINT16 version 1, TPM2B_PUBLIC, TPM2B_PRIVATE */
	if (6 + pub_len + priv_len > sizeof(buf))
		return fail("blobs", &(struct err){ "too large" });
	memcpy(buf, "SVTK\x00\x01", 6);
	memcpy(buf + 6, pub, pub_len);
	memcpy(buf + 6 + pub_len, priv, priv_len);
	len = 6 + pub_len + priv_len;
	if (host_tpm_key_from_bytes(buf, len, &k, &e) < 0)
		return fail("blobs", &e);
	if (write_out(out, buf, len, &e) < 0)
		return fail("write key", &e);
	printf("{\"name\": \"%s\"}\n",
	       hex_encode(k.pub.name, k.pub.name_len, hex));
	return 0;
}

/* ---- enroll ---------------------------------------------------------------*/

/*
 * POST /v1/enroll, TPM2_ActivateCredential, POST /v1/enroll/finish.
 * --activate-tcti: another TPM answers the credential (an impostor that
 * holds the AK but not the registered EK). That TPM refuses the credential,
 * so the impostor can only guess: it sends 32 random bytes as the secret.
 */
static int cmd_enroll(int argc, char **argv)
{
	const char *type_s = "rsa2048", *ek_path = NULL, *cert_path = NULL,
		   *ak_path = NULL, *act_tcti = NULL;
	const struct e2e_opt opts[] = {
		{ "ek-type", &type_s },		{ "ek-pub", &ek_path },
		{ "ek-cert", &cert_path },	{ "ak", &ak_path },
		{ "activate-tcti", &act_tcti },
	};
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_free_ uint8_t *ek = NULL, *cert = NULL, *blob = NULL,
			       *encsec = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *body = NULL, *req2 = NULL,
				       *body2 = NULL;
	size_t ek_len, cert_len = 0, blob_len, encsec_len, secret_len = 0;
	uint8_t secret[HOST_TPM_SECRET_MAX];
	enum host_tpm_ek_type type;
	struct host_tpm_key ak;
	const char *id, *blob_s, *encsec_s;
	long status;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!ek_path || !ak_path ||
	    host_tpm_ek_type_from_string(type_s, &type) < 0)
		return usage(
			"enroll: --ek-pub F --ak F [--ek-cert F] [--ek-type T] [--activate-tcti T]");
	if (file_read(ek_path, sizeof(TPM2B_PUBLIC), &ek, &ek_len, &e) < 0 ||
	    (cert_path &&
	     file_read(cert_path, 4096, &cert, &cert_len, &e) < 0) ||
	    load_key(ak_path, &ak, &e) < 0)
		return fail("enroll inputs", &e);
	req = json_pack("{s:o, s:o}", "ek_pub", b64(ek, ek_len), "ak_pub",
			b64(ak.pub.pub, ak.pub.pub_len));
	if (req && cert)
		json_object_set_new(req, "ek_cert", b64(cert, cert_len));
	if (!req)
		return fail("enroll", &(struct err){ "out of memory" });
	if (http("POST", "/v1/enroll", req, &status, &body, &e) < 0)
		return fail("POST /v1/enroll", &e);
	if (status != 200) {
		emit("enroll", status, body, NULL);
		return 0;
	}
	id = json_string_value(json_object_get(body, "enrollment_id"));
	blob_s = json_string_value(json_object_get(body, "credential_blob"));
	encsec_s = json_string_value(json_object_get(body, "encrypted_secret"));
	if (!id || !blob_s || !encsec_s ||
	    unb64(blob_s, &blob, &blob_len, &e) < 0 ||
	    unb64(encsec_s, &encsec, &encsec_len, &e) < 0) {
		emit("enroll", status, body, NULL);
		return fail("enroll answer", &e);
	}
	if ((r = open_tpm(act_tcti ? act_tcti : opt_tcti, &t)) != 0)
		return r;
	r = host_tpm_activate_credential(t, type, &ak, blob, blob_len, encsec,
					 encsec_len, secret, &secret_len, &e);
	if (r < 0 && !act_tcti)
		return fail("ActivateCredential", &e);
	if (r < 0) {
		fprintf(stderr,
			"e2e_client: the other TPM refused the credential (%s); "
			"sending a guessed secret\n",
			err_str(&e));
		secret_len = 32;
		if (RAND_bytes(secret, (int)secret_len) != 1)
			return fail("RAND_bytes", &(struct err){ "failed" });
	}
	req2 = json_pack("{s:s, s:o}", "enrollment_id", id, "secret",
			 b64(secret, secret_len));
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!req2)
		return fail("enroll", &(struct err){ "out of memory" });
	if (http("POST", "/v1/enroll/finish", req2, &status, &body2, &e) < 0)
		return fail("POST /v1/enroll/finish", &e);
	emit("finish", status, body2,
	     json_pack("{s:b}", "activated_by_other_tpm",
		       act_tcti != NULL && r < 0));
	return 0;
}

/* ---- nonce ----------------------------------------------------------------*/

static int cmd_nonce(int argc, char **argv)
{
	const char *out = NULL, *raw_out = NULL, *nonce;
	const struct e2e_opt opts[] = {
		{ "out", &out },
		{ "raw-out", &raw_out },
	};
	_cleanup_(json_decrefp) json_t *body = NULL;
	_cleanup_free_ uint8_t *raw = NULL;
	size_t raw_len;
	long status;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!out)
		return usage("nonce: --out FILE [--raw-out FILE]");
	if (http("POST", "/v1/attest/nonce", NULL, &status, &body, &e) < 0)
		return fail("POST /v1/attest/nonce", &e);
	emit("nonce", status, body, NULL);
	nonce = json_string_value(json_object_get(body, "nonce"));
	if (status != 200 || !nonce)
		return 1;
	if (write_out(out, nonce, strlen(nonce), &e) < 0)
		return fail("write nonce", &e);
	if (raw_out && (unb64(nonce, &raw, &raw_len, &e) < 0 ||
			write_out(raw_out, raw, raw_len, &e) < 0))
		return fail("raw nonce", &e);
	return 0;
}

/* ---- evidence: quote + certify -> the POST /v1/attest body ----------------*/

/* tpm2-tools' "serialized" PCR file (what tpm2_quote -o writes and
 * tpm2_checkquote -f reads): TPML_PCR_SELECTION, UINT32 count, TPML_DIGEST
 * x count, all as the in-memory structures of this platform. */
static int write_tpm2_tools_pcrs(const char *path, const TPMS_ATTEST *att,
				 const struct quote_pcrs *pcrs, struct err *e)
{
	const TPML_PCR_SELECTION *sel = &att->attested.quote.pcrSelect;
	_cleanup_free_ TPML_DIGEST *lists = calloc(16, sizeof(*lists));
	_cleanup_fclose_ FILE *f = NULL;
	uint32_t count = 0;

	if (!lists)
		return err_set(e, ENOMEM, "out of memory");
	for (uint32_t b = 0; b < sel->count; b++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
		const struct quote_pcr_bank *bank =
			quote_pcrs_bank((struct quote_pcrs *)pcrs, s->hash);
		const struct hash_alg *h = hash_alg_by_id(s->hash);

		if (!bank || !h)
			return err_set(e, EINVAL,
				       "no PCR values for bank 0x%04x",
				       s->hash);
		for (unsigned p = 0; p < 24; p++) {
			TPML_DIGEST *l;

			if (!(s->pcrSelect[p / 8] & (1u << (p % 8))))
				continue;
			if (count == 0 || lists[count - 1].count == 8)
				count++;
			if (count > 16)
				return err_set(e, E2BIG, "too many PCRs");
			l = &lists[count - 1];
			l->digests[l->count].size = h->size;
			memcpy(l->digests[l->count].buffer, bank->values[p],
			       h->size);
			l->count++;
		}
	}
	f = fopen(path, "wbx");
	if (!f || fwrite(sel, sizeof(*sel), 1, f) != 1 ||
	    fwrite(&count, sizeof(count), 1, f) != 1 ||
	    fwrite(lists, sizeof(lists[0]), count, f) != count)
		return err_set(e, EIO, "%s: %s", path, strerror(errno));
	return 0;
}

static int write_peer_files(const char *dir, const struct host_tpm_key *ak,
			    const struct host_tpm_quote *q,
			    const uint8_t *nonce, size_t nonce_len,
			    struct err *e)
{
	char path[4096], hex[2 * TPM_MAX_NONCE_SIZE + 1];
	TPMS_ATTEST att;
	int r;

	if ((r = tpm2_attest_unmarshal(q->att.attest, q->att.attest_len, &att,
				       e)) < 0)
		return r;
#define PEER_FILE(name, buf, len)                                 \
	do {                                                      \
		snprintf(path, sizeof(path), "%s/%s", dir, name); \
		if ((r = write_out(path, buf, len, e)) < 0)       \
			return r;                                 \
	} while (0)
	PEER_FILE("ak.pub", ak->pub.pub, ak->pub.pub_len);
	PEER_FILE("quote.msg", q->att.attest, q->att.attest_len);
	PEER_FILE("quote.sig", q->att.sig, q->att.sig_len);
	hex_encode(nonce, nonce_len, hex);
	PEER_FILE("nonce.hex", hex, strlen(hex));
#undef PEER_FILE
	snprintf(path, sizeof(path), "%s/pcrs.ser", dir);
	(void)unlink(path);
	return write_tpm2_tools_pcrs(path, &att, &q->pcrs, e);
}

static json_t *pcrs_json(const struct quote_pcrs *pcrs)
{
	json_t *o = json_object();

	for (unsigned b = 0; o && b < pcrs->n_banks; b++) {
		const struct quote_pcr_bank *bank = &pcrs->banks[b];
		const struct hash_alg *h = hash_alg_by_id(bank->alg);
		json_t *vals = json_object();

		if (!h || !vals) {
			json_decref(vals);
			json_decref(o);
			return NULL;
		}
		for (unsigned p = 0; p < QUOTE_NUM_PCRS; p++) {
			char key[4], hex[2 * QUOTE_MAX_DIGEST + 1];

			if (!(bank->mask & (1u << p)))
				continue;
			snprintf(key, sizeof(key), "%u", p);
			json_object_set_new(vals, key,
					    json_string(
						    hex_encode(bank->values[p],
							       h->size, hex)));
		}
		json_object_set_new(o, h->name, vals);
	}
	return o;
}

static int parse_banks(const char *s, uint16_t *algs, size_t max, size_t *ret_n)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL, *tok;
	size_t n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		const struct hash_alg *h = hash_alg_by_name(tok);

		if (!h || n == max)
			return -EINVAL;
		algs[n++] = h->tpm_id;
	}
	*ret_n = n;
	return 0;
}

enum evidence_break {
	BREAK_NONE,
	BREAK_PCR_VALUE, /* a reported PCR value differs from the quoted one */
	BREAK_QUOTE_SIG, /* one byte of the quote's signature flipped */
	BREAK_TK_IS_AK,	 /* the AK (a restricted signing key) certified as TK */
	BREAK_CERTIFY_NONCE, /* the certify made over another nonce */
};

static int cmd_evidence(int argc, char **argv)
{
	const char *nonce_path = NULL, *ak_path = NULL, *tk_path = NULL,
		   *log_path = NULL, *banks_s = NULL, *peer_dir = NULL,
		   *out = NULL, *break_s = NULL;
	const struct e2e_opt opts[] = {
		{ "nonce", &nonce_path },  { "ak", &ak_path },
		{ "tk", &tk_path },	   { "log", &log_path },
		{ "banks", &banks_s },	   { "break", &break_s },
		{ "peer-dir", &peer_dir }, { "out", &out },
	};
	enum evidence_break brk = BREAK_NONE;
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_free_ char *nonce_b64 = NULL, *text = NULL;
	_cleanup_free_ uint8_t *nonce = NULL, *log = NULL;
	_cleanup_free_ struct host_tpm_quote *q = calloc(1, sizeof(*q));
	_cleanup_(json_decrefp) json_t *body = NULL;
	struct host_tpm_attestation cert;
	struct host_tpm_key ak, tk;
	size_t nonce_len, log_len, n_banks = 0;
	uint16_t banks[QUOTE_MAX_BANKS];
	char ak_hex[2 * TPM2_NAME_MAX + 1];
	struct err e = { 0 };
	int r;

	if (!q)
		return fail("evidence", &(struct err){ "out of memory" });
	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!break_s)
		brk = BREAK_NONE;
	else if (streq(break_s, "pcr-value"))
		brk = BREAK_PCR_VALUE;
	else if (streq(break_s, "quote-sig"))
		brk = BREAK_QUOTE_SIG;
	else if (streq(break_s, "tk-is-ak"))
		brk = BREAK_TK_IS_AK;
	else if (streq(break_s, "certify-nonce"))
		brk = BREAK_CERTIFY_NONCE;
	else
		return usage(
			"evidence: --break pcr-value|quote-sig|tk-is-ak|certify-nonce");
	if (!nonce_path || !ak_path || !log_path || !out ||
	    (!tk_path && brk != BREAK_TK_IS_AK))
		return usage(
			"evidence: --nonce F --ak F --tk F --log F --out F [--banks B,...] "
			"[--break X] [--peer-dir D]");
	if (banks_s &&
	    parse_banks(banks_s, banks, ARRAY_SIZE(banks), &n_banks) < 0)
		return usage(
			"evidence: --banks: a comma-separated list of sha1, sha256, ...");
	if (read_text(nonce_path, 256, &nonce_b64, &e) < 0 ||
	    unb64(nonce_b64, &nonce, &nonce_len, &e) < 0 ||
	    file_read(log_path, E2E_MAX_FILE, &log, &log_len, &e) < 0 ||
	    load_key(ak_path, &ak, &e) < 0 ||
	    (tk_path && load_key(tk_path, &tk, &e) < 0))
		return fail("evidence inputs", &e);
	if (brk == BREAK_TK_IS_AK)
		tk = ak;
	if ((r = open_tpm(opt_tcti, &t)) != 0)
		return r;
	if (host_tpm_quote(t, &ak, banks, n_banks, nonce, nonce_len, q, &e) < 0)
		return fail("quote", &e);
	if (brk == BREAK_CERTIFY_NONCE)
		nonce[nonce_len - 1] ^= 0x01;
	r = host_tpm_certify(t, &ak, &tk, nonce, nonce_len, &cert, &e);
	if (brk == BREAK_CERTIFY_NONCE)
		nonce[nonce_len - 1] ^= 0x01;
	if (r < 0)
		return fail("certify", &e);
	/* The peer oracle gets the genuine quote. */
	if (peer_dir &&
	    write_peer_files(peer_dir, &ak, q, nonce, nonce_len, &e) < 0)
		return fail("peer files", &e);
	if (brk == BREAK_PCR_VALUE) {
		struct quote_pcr_bank *bank =
			&q->pcrs.banks[q->pcrs.n_banks - 1];

		bank->values[7][0] ^= 0x01; /* PCR 7: Secure Boot state */
	}
	if (brk == BREAK_QUOTE_SIG)
		q->att.sig[q->att.sig_len - 1] ^= 0x01;
	body = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}}",
			 "mode", "tpm", "ak_name",
			 hex_encode(ak.pub.name, ak.pub.name_len, ak_hex),
			 "nonce", nonce_b64, "quote",
			 b64(q->att.attest, q->att.attest_len), "signature",
			 b64(q->att.sig, q->att.sig_len), "pcrs",
			 pcrs_json(&q->pcrs), "event_log", b64(log, log_len),
			 "transport_key", "public",
			 b64(tk.pub.pub, tk.pub.pub_len), "certify",
			 b64(cert.attest, cert.attest_len), "signature",
			 b64(cert.sig, cert.sig_len));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text)
		return fail("evidence",
			    &(struct err){ "cannot build the request body" });
	if (write_out(out, text, strlen(text), &e) < 0)
		return fail("write body", &e);
	printf("{\"ak_name\": \"%s\", \"banks\": %u, \"body_bytes\": %zu}\n",
	       ak_hex, q->pcrs.n_banks, strlen(text));
	return 0;
}

/* ---- attest ---------------------------------------------------------------*/

static int cmd_attest(int argc, char **argv)
{
	const char *body_path = NULL, *token_out = NULL, *token;
	const struct e2e_opt opts[] = {
		{ "body", &body_path },
		{ "token-out", &token_out },
	};
	_cleanup_(json_decrefp) json_t *req = NULL, *body = NULL;
	json_error_t je;
	long status;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!body_path)
		return usage("attest: --body FILE [--token-out FILE]");
	req = json_load_file(body_path, JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		fprintf(stderr, "e2e_client: %s: %s\n", body_path, je.text);
		return 1;
	}
	if (http("POST", "/v1/attest", req, &status, &body, &e) < 0)
		return fail("POST /v1/attest", &e);
	emit("attest", status, body, NULL);
	token = json_string_value(json_object_get(body, "token"));
	if (status == 200 && token && token_out &&
	    write_out(token_out, token, strlen(token), &e) < 0)
		return fail("write token", &e);
	return 0;
}

/* ---- verify: token_verify with the service's JWK Set ----------------------*/

/* Compare a base64url JWK member with big-endian bytes (leading zeros of
 * either side ignored, as the JWK pads to the field size). */
static bool b64_equals(const json_t *jwk, const char *member,
		       const uint8_t *want, size_t want_len)
{
	const json_t *v = json_object_get(jwk, member);
	_cleanup_free_ uint8_t *buf = NULL;
	const uint8_t *got;
	size_t got_len;
	struct err e = { 0 };

	if (!json_is_string(v) ||
	    unb64(json_string_value(v), &buf, &got_len, &e) < 0)
		return false;
	got = buf;
	while (got_len && got[0] == 0)
		got++, got_len--;
	while (want_len && want[0] == 0)
		want++, want_len--;
	return got_len == want_len && memcmp(got, want, want_len) == 0;
}

/* Does cnf.jwk hold the public key of this TPM key? */
static int cnf_matches(const json_t *jwk, const char *tk_path, bool *ret,
		       struct err *e)
{
	struct host_tpm_key tk;
	TPMT_PUBLIC pub;
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	int r;

	if ((r = load_key(tk_path, &tk, e)) < 0 ||
	    (r = tpm2_public_unmarshal(tk.pub.pub, tk.pub.pub_len, &pub, e)) <
		    0)
		return r;
	if (pub.type == TPM2_ALG_ECC) {
		const char *crv =
			json_string_value(json_object_get(jwk, "crv"));

		*ret = kty && streq(kty, "EC") && crv &&
		       streq(crv, pub.parameters.eccDetail.curveID ==
						  TPM2_ECC_NIST_P256 ?
					  "P-256" :
					  "P-384") &&
		       b64_equals(jwk, "x", pub.unique.ecc.x.buffer,
				  pub.unique.ecc.x.size) &&
		       b64_equals(jwk, "y", pub.unique.ecc.y.buffer,
				  pub.unique.ecc.y.size);
	} else if (pub.type == TPM2_ALG_RSA) {
		static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
		uint32_t exp = pub.parameters.rsaDetail.exponent;
		uint8_t eb[4] = { (uint8_t)(exp >> 24), (uint8_t)(exp >> 16),
				  (uint8_t)(exp >> 8), (uint8_t)exp };

		*ret = kty && streq(kty, "RSA") &&
		       b64_equals(jwk, "n", pub.unique.rsa.buffer,
				  pub.unique.rsa.size) &&
		       (exp == 0 ? b64_equals(jwk, "e", f4, sizeof(f4)) :
				   b64_equals(jwk, "e", eb, sizeof(eb)));
	} else {
		*ret = false;
	}
	return 0;
}

static json_t *claims_json(const struct token_claims *c)
{
	static const char *const status[] = { "affirming", "warning",
					      "contraindicated" };

	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:O}}",
			 "iat", (json_int_t)c->iat, "exp", (json_int_t)c->exp,
			 "status", status[c->status], "mode",
			 c->mode == TOKEN_MODE_TPM ? "tpm" : "host-key", "host",
			 c->host, "policy_id", c->policy_id, "baseline",
			 c->baseline, "verifier_build", c->verifier_build,
			 "jti", c->jti, "cnf", "jwk",
			 c->cnf_jwk ? c->cnf_jwk : json_null());
}

/* The token's payload as JSON (only shown after the signature verified). */
static json_t *payload_json(const char *jwt)
{
	const char *a = strchr(jwt, '.'), *b = a ? strchr(a + 1, '.') : NULL;
	_cleanup_free_ char *seg = NULL;
	_cleanup_free_ uint8_t *raw = NULL;
	size_t len;
	struct err e = { 0 };

	if (!b)
		return NULL;
	seg = strndup(a + 1, (size_t)(b - a - 1));
	if (!seg || unb64(seg, &raw, &len, &e) < 0)
		return NULL;
	return json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
}

static int cmd_verify(int argc, char **argv)
{
	const char *token_path = NULL, *tk_path = NULL, *offset_s = NULL;
	const struct e2e_opt opts[] = {
		{ "token", &token_path },
		{ "tk", &tk_path },
		{ "at-offset", &offset_s },
	};
	_cleanup_free_ char *jwt = NULL;
	_cleanup_(json_decrefp) json_t *jwks = NULL, *out = NULL;
	struct token_claims claims = { 0 };
	long status, offset = 0;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (offset_s) {
		char *end;

		errno = 0;
		offset = strtol(offset_s, &end, 10);
		if (errno || end == offset_s || *end)
			return usage("verify: --at-offset SECONDS");
	}
	if (!token_path)
		return usage(
			"verify: --token FILE [--tk FILE] [--at-offset SECONDS]");
	if (read_text(token_path, TOKEN_MAX_SIZE + 1, &jwt, &e) < 0)
		return fail("read token", &e);
	if (http("GET", "/v1/keys", NULL, &status, &jwks, &e) < 0)
		return fail("GET /v1/keys", &e);
	if (status != 200) {
		emit("keys", status, jwks, NULL);
		return 1;
	}
	r = token_verify(jwks, jwt, (int64_t)time(NULL) + offset, &claims, &e);
	if (r < 0) {
		out = json_pack("{s:b, s:s, s:i, s:s}", "valid", false, "error",
				r == -ETIME	   ? "expired" :
				r == -EKEYREJECTED ? "invalid" :
				r == -EBADMSG	   ? "malformed" :
						     "other",
				"errno", -r, "message", err_str(&e));
	} else {
		out = json_pack("{s:b, s:o, s:o}", "valid", true, "claims",
				claims_json(&claims), "payload",
				payload_json(jwt));
		if (out && tk_path) {
			bool match = false;

			if (cnf_matches(claims.cnf_jwk, tk_path, &match, &e) <
			    0) {
				token_claims_clear(&claims);
				return fail("transport key", &e);
			}
			json_object_set_new(out, "cnf_matches_tk",
					    json_boolean(match));
		}
		token_claims_clear(&claims);
	}
	if (!out)
		return fail("verify", &(struct err){ "out of memory" });
	{
		_cleanup_free_ char *s = json_dumps(out, JSON_COMPACT);

		printf("%s\n", s ? s : "{}");
	}
	return 0;
}

/* ---- forge: one signature byte flipped
 * -------------------------------------*/

static int cmd_forge(int argc, char **argv)
{
	const char *token_path = NULL, *out = NULL, *dot;
	const struct e2e_opt opts[] = {
		{ "token", &token_path },
		{ "out", &out },
	};
	_cleanup_free_ char *jwt = NULL, *forged = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	_cleanup_(json_decrefp) json_t *enc = NULL;
	size_t sig_len;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!token_path || !out)
		return usage("forge: --token FILE --out FILE");
	if (read_text(token_path, TOKEN_MAX_SIZE + 1, &jwt, &e) < 0)
		return fail("read token", &e);
	dot = strrchr(jwt, '.');
	if (!dot || unb64(dot + 1, &sig, &sig_len, &e) < 0 || sig_len == 0)
		return fail("token signature", &e);
	sig[sig_len / 2] ^= 0x01;
	enc = b64(sig, sig_len);
	if (!enc || asprintf(&forged, "%.*s.%s", (int)(dot - jwt), jwt,
			     json_string_value(enc)) < 0)
		return fail("forge", &(struct err){ "out of memory" });
	if (write_out(out, forged, strlen(forged), &e) < 0)
		return fail("write token", &e);
	return 0;
}

/* ---- tk-jwk: the transport key's public JWK
 * ---------------------------------*/

static int cmd_tk_jwk(int argc, char **argv)
{
	const char *tk_path = NULL;
	const struct e2e_opt opts[] = {
		{ "tk", &tk_path },
	};
	struct host_tpm_key tk;
	TPMT_PUBLIC pub;
	EVP_PKEY *pkey = NULL;
	json_t *jwk = NULL;
	_cleanup_free_ char *s = NULL;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if (!tk_path)
		return usage("tk-jwk: --tk FILE");
	if (load_key(tk_path, &tk, &e) < 0 ||
	    tpm2_public_unmarshal(tk.pub.pub, tk.pub.pub_len, &pub, &e) < 0 ||
	    tpm2_public_to_pkey(&pub, &pkey, &e) < 0 ||
	    token_jwk_from_pkey(pkey, &jwk, &e) < 0) {
		EVP_PKEY_free(pkey);
		return fail("transport key JWK", &e);
	}
	EVP_PKEY_free(pkey);
	s = json_dumps(jwk, JSON_COMPACT);
	json_decref(jwk);
	printf("%s\n", s ? s : "{}");
	return s ? 0 : 1;
}

/* ---- edit-log: change a real log one way, consistently or not
 * ---------------*/

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The UEFI_VARIABLE_DATA of an EV_EFI_VARIABLE_DRIVER_CONFIG event named
 * name (ASCII): offset of its VariableData within the event data. */
static bool uefi_var_is(const struct eventlog_event *ev, const char *name,
			size_t *ret_off, size_t *ret_len)
{
	size_t nlen = strlen(name);
	uint64_t chars, dlen;

	if (ev->type != EV_EFI_VARIABLE_DRIVER_CONFIG || ev->data_len < 32)
		return false;
	chars = get_le64(ev->data + 16);
	dlen = get_le64(ev->data + 24);
	if (chars != nlen || 32 + 2 * chars + dlen != ev->data_len)
		return false;
	for (size_t i = 0; i < nlen; i++)
		if (ev->data[32 + 2 * i] != (uint8_t)name[i] ||
		    ev->data[33 + 2 * i] != 0)
			return false;
	*ret_off = 32 + 2 * nlen;
	*ret_len = (size_t)dlen;
	return true;
}

/* A PCR 8 string event of grub that holds the kernel command line:
 * "kernel_cmdline: ..." and/or "grub_cmd: linux ..." (which = "kernel",
 * "grub" or "all"). */
static const char *cmdline_label(const struct eventlog_event *ev,
				 const char *which)
{
	static const char *const labels[] = { "kernel_cmdline: ",
					      "grub_cmd: linux " };

	if (ev->type != EV_IPL || ev->pcr != 8)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(labels); i++)
		if ((streq(which, "all") ||
		     streq(which, i == 0 ? "kernel" : "grub")) &&
		    ev->data_len > strlen(labels[i]) &&
		    memcmp(ev->data, labels[i], strlen(labels[i])) == 0)
			return labels[i];
	return NULL;
}

/* grub measures "kernel_cmdline: X" as H(X) and "grub_cmd: X" as H(X). */
static size_t measured_skip(const char *label)
{
	return streq(label, "kernel_cmdline: ") ? strlen(label) :
						  strlen("grub_cmd: ");
}

struct growbuf {
	uint8_t *p;
	size_t len;
};

static int grow_add(struct growbuf *g, const void *src, size_t n)
{
	uint8_t *p = realloc(g->p, g->len + n + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p + g->len, src, n);
	g->p = p;
	g->len += n;
	return 0;
}

/* An EVENT or VALUE option: an integer in [0, 0xffff]. */
static int edit_log_number(const char *s, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 0xffff)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int cmd_edit_log(int argc, char **argv)
{
	const char *in = NULL, *out = NULL, *append = NULL, *which = "all";
	const char *digest_s = NULL, *sb_s = NULL;
	const struct e2e_opt opts[] = {
		{ "in", &in },
		{ "out", &out },
		{ "digest-byte", &digest_s },
		{ "secureboot-data", &sb_s },
		{ "cmdline-append", &append },
		{ "cmdline-event", &which },
	};
	long digest_event = -1, sb_value = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	struct growbuf g = { 0 };
	size_t len, pos = 0, edits = 0;
	struct err e = { 0 };
	int r;

	if ((r = parse_opts(argc, argv, opts, ARRAY_SIZE(opts))) != 0)
		return r;
	if ((digest_s && edit_log_number(digest_s, &digest_event) < 0) ||
	    (sb_s && edit_log_number(sb_s, &sb_value) < 0))
		return usage("edit-log: a non-negative integer is needed");
	if (!in || !out ||
	    (digest_event >= 0) + (sb_value >= 0) + (append != NULL) != 1)
		return usage(
			"edit-log: --in F --out F and one of --digest-byte EVENT, "
			"--secureboot-data VALUE, --cmdline-append ARG [--cmdline-event kernel|grub|all]");
	if (file_read(in, E2E_MAX_FILE, &buf, &len, &e) < 0 ||
	    eventlog_parse(buf, len, &log, &e) < 0)
		return fail("event log", &e);
	if (!log->crypto_agile || log->raw_len != len)
		return fail("event log",
			    &(struct err){ "a crypto-agile log is needed" });

	for (size_t i = 0; i < log->n_events; i++) {
		const struct eventlog_event *ev = &log->events[i];
		size_t data_off = (size_t)(ev->data - log->raw);
		size_t var_off, var_len;
		const char *label;

		if ((long)i == digest_event) {
			/* One byte of the first digest: the log no longer
			 * replays to the TPM's PCRs. */
			if (ev->n_digests == 0)
				return fail("--digest-byte",
					    &(struct err){
						    "event has no digest" });
			buf[ev->digests[0].bytes - log->raw] ^= 0x01;
			fprintf(stderr,
				"e2e_client: event %zu (%s, PCR %u): %s digest byte 0 flipped\n",
				i,
				eventlog_type_name(ev->type) ?
					eventlog_type_name(ev->type) :
					"?",
				ev->pcr, ev->digests[0].alg->name);
			edits++;
		}
		if (sb_value >= 0 &&
		    uefi_var_is(ev, "SecureBoot", &var_off, &var_len) &&
		    var_len >= 1) {
			/* The data says something else; the digest (and so the
			 * PCRs) still hold what the firmware measured. */
			uint8_t *p = &buf[data_off + var_off + var_len - 1];

			if (*p == (uint8_t)sb_value)
				return fail(
					"--secureboot-data",
					&(struct err){
						"the log has that value already" });
			fprintf(stderr,
				"e2e_client: event %zu: SecureBoot data %u -> %ld, digest kept\n",
				i, *p, sb_value);
			*p = (uint8_t)sb_value;
			edits++;
		}
		if (append && (label = cmdline_label(ev, which))) {
			/* A command line with one more argument, measured as
			 * grub measures: new data, new digests, new size. */
			size_t skip = measured_skip(label),
			       old_len = ev->data_len;
			bool nul = ev->data[old_len - 1] == '\0';
			size_t mlen = old_len - skip - (nul ? 1 : 0);
			_cleanup_free_ uint8_t *nd =
				malloc(old_len + strlen(append) + 2);
			size_t nlen;

			if (!nd)
				return fail("edit-log",
					    &(struct err){ "out of memory" });
			for (uint32_t d = 0; d < ev->n_digests; d++) {
				uint8_t h[EVENTLOG_MAX_DIGEST];

				if (hash_digest(ev->digests[d].alg,
						ev->data + skip, mlen, h) < 0 ||
				    memcmp(h, ev->digests[d].bytes,
					   ev->digests[d].alg->size) != 0)
					return fail(
						"--cmdline-append",
						&(struct err){
							"a command-line event's digest is not H(text after the label): unknown measurement convention" });
			}
			memcpy(nd, ev->data, skip + mlen);
			nlen = skip + mlen;
			nd[nlen++] = ' ';
			memcpy(nd + nlen, append, strlen(append));
			nlen += strlen(append);
			for (uint32_t d = 0; d < ev->n_digests; d++) {
				uint8_t h[EVENTLOG_MAX_DIGEST];

				if (hash_digest(ev->digests[d].alg, nd + skip,
						nlen - skip, h) < 0)
					return fail("--cmdline-append",
						    &(struct err){
							    "hash failed" });
				memcpy(&buf[ev->digests[d].bytes - log->raw], h,
				       ev->digests[d].alg->size);
			}
			if (nul)
				nd[nlen++] = '\0';
			/* everything up to the event size field (digests
			 * patched), the new size, the new data */
			{
				uint8_t size_le[4];

				put_le32(size_le, (uint32_t)nlen);
				if (grow_add(&g, buf + pos,
					     data_off - 4 - pos) < 0 ||
				    grow_add(&g, size_le, 4) < 0 ||
				    grow_add(&g, nd, nlen) < 0) {
					free(g.p);
					return fail("edit-log",
						    &(struct err){
							    "out of memory" });
				}
			}
			pos = data_off + old_len;
			fprintf(stderr,
				"e2e_client: event %zu (PCR 8): \"%.*s\"\n", i,
				(int)(nlen - (nul ? 1 : 0)), (const char *)nd);
			edits++;
		}
	}
	if (edits == 0) {
		free(g.p);
		return fail("edit-log",
			    &(struct err){ "nothing in the log to edit" });
	}
	if (grow_add(&g, buf + pos, len - pos) < 0) {
		free(g.p);
		return fail("edit-log", &(struct err){ "out of memory" });
	}
	/* The edited log must still parse. */
	{
		_cleanup_(eventlog_freep) struct eventlog *check = NULL;

		r = eventlog_parse(g.p, g.len, &check, &e);
		if (r == 0)
			r = write_out(out, g.p, g.len, &e);
	}
	free(g.p);
	if (r < 0)
		return fail("edited log", &e);
	printf("{\"edits\": %zu}\n", edits);
	return 0;
}

/* ---- main
 * -------------------------------------------------------------------*/

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "ek", cmd_ek },
	{ "create-key", cmd_create_key },
	{ "wrap-key", cmd_wrap_key },
	{ "enroll", cmd_enroll },
	{ "nonce", cmd_nonce },
	{ "evidence", cmd_evidence },
	{ "attest", cmd_attest },
	{ "verify", cmd_verify },
	{ "forge", cmd_forge },
	{ "tk-jwk", cmd_tk_jwk },
	{ "edit-log", cmd_edit_log },
};

int main(int argc, char **argv)
{
	int i = 1, r;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (streq(argv[i], "--tcti"))
			opt_tcti = argv[i + 1];
		else if (streq(argv[i], "--url"))
			opt_url = argv[i + 1];
		else
			return usage("global options: --tcti T, --url BASE");
	}
	if (!opt_tcti)
		opt_tcti = getenv("SWTPM_TCTI");
	if (i >= argc)
		return usage("no command");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	for (size_t k = 0; k < ARRAY_SIZE(commands); k++) {
		if (streq(argv[i], commands[k].name)) {
			optind = 1;
			r = commands[k].run(argc - i, argv + i);
			curl_global_cleanup();
			return r;
		}
	}
	curl_global_cleanup();
	return usage("unknown command");
}
