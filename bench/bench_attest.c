/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end TPM-mode attestation rate of hgsd (driven by bench_attest.sh):
 * many simulated hosts, each with a software ECC P-256 EK and AK
 * (tests/tpm/soft_quote.c), registered by EK over the admin API and
 * enrolled through the real POST /v1/enroll + /v1/enroll/finish (the
 * credential is activated in software below: the inverse of
 * src/attest/credential.c). Then K concurrent clients (one thread and one
 * keep-alive libcurl handle each) loop: POST /v1/attest/nonce, a quote over
 * 24 sha256 PCRs (the replay of a real event log, reset values elsewhere)
 * and a certify of a software transport key, POST /v1/attest, expect 200
 * and a token. Beside it, in the same run: the crypto floor (what hgsd
 * cannot avoid per attestation: 2 ECDSA P-256 verifies, 1 ECDSA P-256
 * sign, SHA-256 over the log) and the client's own cost.
 *
 * Usage:
 *   bench_attest TESTDATA           crypto floor only (what `make bench`
 *                                   runs for executables without a driver)
 *   bench_attest --url URL --admin SOCKET --pid HGSD_PID --log LOG
 *                [--hosts N] [--seconds S] [--warmup S] [--levels 1,16,...]
 *                [--no-floor] [--no-goals]
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <jose/b64.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <tss2/tss2_mu.h>

#include "../tests/tpm/soft_quote.h"
#include "attest/appraise.h"
#include "attest/baseline.h"
#include "attest/credential.h"
#include "attest/ektemplate.h"
#include "attest/eventlog.h"
#include "attest/policy.h"
#include "attest/tpm2.h"
#include "common/file.h"
#include "common/hex.h"

#define DEFAULT_LOG "gotpmtools__sp800-155.bin"
#define MAX_LEVELS 8
#define RESP_MAX (256u * 1024u)

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_attest: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- base64url (no padding) -------------------------------------------- */

static size_t b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static char *b64url(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = t[v >> 6 & 63];
		out[o++] = t[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = t[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

static char *b64url_alloc(const uint8_t *in, size_t n)
{
	char *s = malloc(b64url_len(n) + 1);

	if (!s)
		die("out of memory");
	return b64url(in, n, s);
}

/* A base64url member of a JSON object, decoded into out (at most max). */
static size_t json_b64(const json_t *obj, const char *key, uint8_t *out, size_t max)
{
	const json_t *v = json_object_get(obj, key);
	size_t n;

	if (!json_is_string(v))
		return 0;
	n = jose_b64_dec(v, NULL, 0);
	if (n == SIZE_MAX || n > max || jose_b64_dec(v, out, max) != n)
		return 0;
	return n;
}

/* ---- the shared boot: event log, its PCR values ------------------------ */

struct boot {
	uint8_t *log;
	size_t log_len;
	char *log_b64;
	struct quote_pcrs pcrs; /* sha256 bank, PCRs 0-23 */
	char *pcrs_json;	/* {"sha256":{"0":"..",...}} */
};

static void boot_load(struct boot *b, const char *path)
{
	struct eventlog *log = NULL;
	struct eventlog_pcrs r;
	const struct eventlog_bank *bank;
	struct quote_pcr_bank *qb;
	struct err e = { 0 };
	size_t cap = 24 * (8 + 64) + 32, off;
	char hex[65];

	if (file_read(path, 1u << 22, &b->log, &b->log_len, &e) < 0)
		die("%s: %s", path, err_str(&e));
	if (eventlog_parse(b->log, b->log_len, &log, &e) < 0 ||
	    eventlog_replay(log, ~0u, &r, &e) < 0)
		die("%s: %s", path, err_str(&e));
	bank = eventlog_pcrs_bank(&r, TPM2_ALG_SHA256);
	if (!bank)
		die("%s has no sha256 bank", path);
	memset(&b->pcrs, 0, sizeof(b->pcrs));
	qb = quote_pcrs_add_bank(&b->pcrs, TPM2_ALG_SHA256);
	qb->mask = 0xffffff;
	b->pcrs_json = malloc(cap);
	if (!b->pcrs_json)
		die("out of memory");
	off = (size_t)snprintf(b->pcrs_json, cap, "{\"sha256\":{");
	for (unsigned p = 0; p < 24; p++) {
		memcpy(qb->values[p], bank->pcr[p], 32);
		hex_encode(bank->pcr[p], 32, hex);
		off += (size_t)snprintf(b->pcrs_json + off, cap - off, "%s\"%u\":\"%s\"",
					p ? "," : "", p, hex);
	}
	snprintf(b->pcrs_json + off, cap - off, "}}");
	b->log_b64 = b64url_alloc(b->log, b->log_len);
	eventlog_free(log);
}

/* ---- HTTP --------------------------------------------------------------- */

struct resp {
	char *buf;
	size_t len;
	bool overflow;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n;

	if (r->len + len + 1 > RESP_MAX) {
		r->overflow = true;
		return len;
	}
	memcpy(r->buf + r->len, p, len);
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

struct http {
	CURL *c;
	struct curl_slist *hdr;
	struct resp resp;
	char url[512];
	size_t url_base;
	char errbuf[CURL_ERROR_SIZE];
};

static void http_init(struct http *h, const char *base, const char *unix_socket)
{
	memset(h, 0, sizeof(*h));
	h->c = curl_easy_init();
	h->resp.buf = malloc(RESP_MAX);
	if (!h->c || !h->resp.buf)
		die("out of memory");
	h->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	h->hdr = curl_slist_append(h->hdr, "Expect:");
	h->url_base = (size_t)snprintf(h->url, sizeof(h->url), "%s", base);
	curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdr);
	curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &h->resp);
	curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h->c, CURLOPT_ERRORBUFFER, h->errbuf);
	if (unix_socket)
		curl_easy_setopt(h->c, CURLOPT_UNIX_SOCKET_PATH, unix_socket);
}

static void http_free(struct http *h)
{
	curl_easy_cleanup(h->c);
	curl_slist_free_all(h->hdr);
	free(h->resp.buf);
}

/* POST body to path; the status, or -1 on a transport error. */
static long http_post(struct http *h, const char *path, const char *body, size_t len)
{
	long st = 0;

	snprintf(h->url + h->url_base, sizeof(h->url) - h->url_base, "%s", path);
	h->resp.len = 0;
	h->resp.overflow = false;
	h->resp.buf[0] = '\0';
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->c, CURLOPT_URL, h->url);
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (curl_easy_perform(h->c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

/* ---- simulated hosts ----------------------------------------------------- */

struct host {
	struct soft_ak ak, tk;
	char ak_name_hex[2 * TPM2_NAME_MAX + 1];
	uint8_t tk_name[TPM2_NAME_MAX];
	size_t tk_name_len;
	char *tk_pub_b64;
};

static char *tpm2b_public_b64(const TPMT_PUBLIC *pub)
{
	TPM2B_PUBLIC p2b = { .publicArea = *pub };
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&p2b, buf, sizeof(buf), &off))
		die("cannot marshal a TPM2B_PUBLIC");
	return b64url_alloc(buf, off);
}

/* TPM2_ActivateCredential in software for an ECC EK (the inverse of
 * credential_make): Z = ECDH(EK, ephemeral point), seed = KDFe, check the
 * outer HMAC, AES-CFB decrypt the TPM2B_DIGEST credential. */
static int activate(EVP_PKEY *ek_priv, const TPMT_PUBLIC *ek, const uint8_t *name,
		    size_t name_len, const uint8_t *idobj, size_t idobj_len,
		    const uint8_t *encsec, size_t encsec_len, uint8_t *cred, size_t *cred_len)
{
	uint8_t pt[1 + 2 * 32], z[32], seed[32], symkey[16], hmackey[32], mac[32];
	uint8_t plain[2 + 64], iv[16] = { 0 }, *hmac_in;
	EVP_PKEY_CTX *pctx = NULL, *dctx = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	EVP_PKEY *peer = NULL;
	OSSL_PARAM params[3];
	size_t zlen = sizeof(z), macl = 0, enc_len;
	const uint8_t *enc;
	int r = -1, n1 = 0, n2 = 0;
	char group[] = "P-256";

	/* TPM2B_ENCRYPTED_SECRET(TPMS_ECC_POINT(x[32], y[32])) */
	if (encsec_len != 2 + 2 + 32 + 2 + 32 || encsec[2] != 0 || encsec[3] != 32 ||
	    encsec[36] != 0 || encsec[37] != 32)
		return -1;
	pt[0] = 0x04;
	memcpy(pt + 1, encsec + 4, 32);
	memcpy(pt + 33, encsec + 38, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
	params[2] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!pctx || EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek_priv, NULL);
	if (!dctx || EVP_PKEY_derive_init(dctx) <= 0 || EVP_PKEY_derive_set_peer(dctx, peer) <= 0 ||
	    EVP_PKEY_derive(dctx, z, &zlen) <= 0 || zlen != 32)
		goto out;
	if (credential_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", encsec + 4, 32,
			    ek->unique.ecc.x.buffer, ek->unique.ecc.x.size, seed, 32) < 0 ||
	    credential_kdfa(TPM2_ALG_SHA256, seed, 32, "STORAGE", name, name_len, NULL, 0,
			    symkey, sizeof(symkey)) < 0 ||
	    credential_kdfa(TPM2_ALG_SHA256, seed, 32, "INTEGRITY", NULL, 0, NULL, 0, hmackey,
			    sizeof(hmackey)) < 0)
		goto out;
	/* TPM2B_ID_OBJECT: size, TPM2B_DIGEST(outerHMAC[32]), encIdentity */
	if (idobj_len < 2 + 2 + 32 + 3 || idobj[2] != 0 || idobj[3] != 32 ||
	    (size_t)(idobj[0] << 8 | idobj[1]) != idobj_len - 2)
		goto out;
	enc = idobj + 36;
	enc_len = idobj_len - 36;
	if (enc_len > sizeof(plain))
		goto out;
	hmac_in = malloc(enc_len + name_len);
	if (!hmac_in)
		goto out;
	memcpy(hmac_in, enc, enc_len);
	memcpy(hmac_in + enc_len, name, name_len);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmackey, sizeof(hmackey), hmac_in,
		       enc_len + name_len, mac, sizeof(mac), &macl) ||
	    macl != 32 || CRYPTO_memcmp(mac, idobj + 4, 32) != 0) {
		free(hmac_in);
		goto out;
	}
	free(hmac_in);
	cctx = EVP_CIPHER_CTX_new();
	if (!cctx || !EVP_DecryptInit_ex(cctx, EVP_aes_128_cfb128(), NULL, symkey, iv) ||
	    !EVP_DecryptUpdate(cctx, plain, &n1, enc, (int)enc_len) ||
	    !EVP_DecryptFinal_ex(cctx, plain + n1, &n2) || (size_t)(n1 + n2) != enc_len)
		goto out;
	*cred_len = (size_t)(plain[0] << 8 | plain[1]);
	if (*cred_len == 0 || *cred_len + 2 != enc_len)
		goto out;
	memcpy(cred, plain + 2, *cred_len);
	r = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(symkey, sizeof(symkey));
	OPENSSL_cleanse(hmackey, sizeof(hmackey));
	OPENSSL_cleanse(plain, sizeof(plain));
	EVP_CIPHER_CTX_free(cctx);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(peer);
	ERR_clear_error();
	return r;
}

static void host_new(struct host *h)
{
	uint8_t name[TPM2_NAME_MAX];
	size_t name_len;
	struct err e = { 0 };

	if (soft_ak_new(&h->ak, TPM2_ALG_ECC, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256) ||
	    soft_ak_new(&h->tk, TPM2_ALG_ECC, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256))
		die("cannot create software keys");
	/* the transport key: a decryption key the AK certifies */
	h->tk.pub.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				     TPMA_OBJECT_DECRYPT;
	h->tk.pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	if (tpm2_public_name(&h->ak.pub, name, &name_len, &e) < 0 ||
	    tpm2_public_name(&h->tk.pub, h->tk_name, &h->tk_name_len, &e) < 0)
		die("%s", err_str(&e));
	hex_encode(name, name_len, h->ak_name_hex);
	h->tk_pub_b64 = tpm2b_public_b64(&h->tk.pub);
}

/* Register host i by its software EK and enroll its AK the real way. */
static void host_enroll(struct host *h, unsigned i, struct http *admin, struct http *api,
			const char *run_id)
{
	EVP_PKEY *ek_priv = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t idobj[sizeof(TPM2B_ID_OBJECT)], encsec[sizeof(TPM2B_ENCRYPTED_SECRET)];
	uint8_t cred[64], name[TPM2_NAME_MAX];
	size_t idobj_len, encsec_len, cred_len = 0, name_len;
	char *ek_b64, *ak_b64, *body, cred_b64[100], hname[64];
	enum ektemplate t;
	TPMT_PUBLIC ek;
	struct err e = { 0 };
	json_error_t je;
	json_t *j;
	long st;

	if (!ek_priv || ektemplate_from_pkey(ek_priv, &ek, &t) < 0)
		die("cannot create a software EK");
	ek_b64 = tpm2b_public_b64(&ek);
	ak_b64 = tpm2b_public_b64(&h->ak.pub);
	if (tpm2_public_name(&h->ak.pub, name, &name_len, &e) < 0)
		die("%s", err_str(&e));
	snprintf(hname, sizeof(hname), "bench-%s-%u", run_id, i);
	j = json_pack("{s:s, s:s}", "name", hname, "ek_pub", ek_b64);
	if (!j)
		die("out of memory");
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	st = http_post(admin, "/v1/admin/hosts", body, strlen(body));
	free(body);
	if (st != 201)
		die("registering host %u: HTTP %ld %s %s", i, st, admin->errbuf, admin->resp.buf);

	j = json_pack("{s:s, s:s}", "ek_pub", ek_b64, "ak_pub", ak_b64);
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	st = http_post(api, "/v1/enroll", body, strlen(body));
	free(body);
	if (st != 200)
		die("enrolling host %u: HTTP %ld %s %s", i, st, api->errbuf, api->resp.buf);
	j = json_loads(api->resp.buf, 0, &je);
	if (!j)
		die("enroll: bad JSON: %s", je.text);
	idobj_len = json_b64(j, "credential_blob", idobj, sizeof(idobj));
	encsec_len = json_b64(j, "encrypted_secret", encsec, sizeof(encsec));
	if (!idobj_len || !encsec_len || !json_is_string(json_object_get(j, "enrollment_id")))
		die("enroll: unexpected answer %s", api->resp.buf);
	if (activate(ek_priv, &ek, name, name_len, idobj, idobj_len, encsec, encsec_len, cred,
		     &cred_len) < 0)
		die("host %u: software ActivateCredential failed (HMAC or format)", i);
	b64url(cred, cred_len, cred_b64);
	OPENSSL_cleanse(cred, sizeof(cred));
	{
		json_t *f = json_pack("{s:O, s:s}", "enrollment_id",
				      json_object_get(j, "enrollment_id"), "secret", cred_b64);

		body = json_dumps(f, JSON_COMPACT);
		json_decref(f);
	}
	json_decref(j);
	OPENSSL_cleanse(cred_b64, sizeof(cred_b64));
	st = http_post(api, "/v1/enroll/finish", body, strlen(body));
	free(body);
	if (st != 200)
		die("finishing enrollment of host %u: HTTP %ld %s", i, st, api->resp.buf);
	free(ek_b64);
	free(ak_b64);
	EVP_PKEY_free(ek_priv);
}

/* ---- load generator -------------------------------------------------------- */

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };
static atomic_int phase;

struct samples {
	double *v;
	size_t n, cap;
};

static void samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			die("out of memory");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

struct client {
	pthread_t th;
	const char *url;
	const struct boot *boot;
	struct host *host;
	struct samples full, attest;
	unsigned long ok, errors;
	char first_error[256];
	char *body;
	size_t body_cap;
};

static void client_error(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void client_error(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (atomic_load(&phase) == PHASE_MEASURE)
		c->errors++;
	if (c->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
	va_end(ap);
}

/* The JSON string member key of a flat answer, copied into out. */
static bool find_str(const char *json, const char *key, char *out, size_t max)
{
	char pat[64];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(json, pat);
	if (!p)
		return false;
	p += strlen(pat);
	q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= max)
		return false;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return true;
}

static void *client_run(void *arg)
{
	struct client *c = arg;
	const struct boot *b = c->boot;
	struct host *h = c->host;
	struct quote_selection_bank sel = { .alg = TPM2_ALG_SHA256, .mask = 0xffffff };
	uint8_t nonce[128], quote[2048], qsig[512], cert[2048], csig[512];
	size_t nonce_len, quote_len, qsig_len, cert_len, csig_len;
	char nonce_b64[200], quote_b64[2800], qsig_b64[700], cert_b64[2800], csig_b64[700];
	struct http http;

	http_init(&http, c->url, NULL);
	while (atomic_load(&phase) != PHASE_STOP) {
		double t0 = now_s(), t1, t2;
		bool measured = atomic_load(&phase) == PHASE_MEASURE;
		long st;
		int n;

		st = http_post(&http, "/v1/attest/nonce", "{}", 2);
		if (st != 200 || !find_str(http.resp.buf, "nonce", nonce_b64, sizeof(nonce_b64))) {
			client_error(c, "nonce: HTTP %ld %s %.160s", st, http.errbuf, http.resp.buf);
			continue;
		}
		{
			json_t *js = json_string(nonce_b64);

			nonce_len = jose_b64_dec(js, nonce, sizeof(nonce));
			json_decref(js);
		}
		if (nonce_len == SIZE_MAX || nonce_len == 0 || nonce_len > sizeof(nonce)) {
			client_error(c, "nonce: bad base64url");
			continue;
		}
		if (soft_quote(&h->ak, nonce, nonce_len, &sel, 1, &b->pcrs, quote, sizeof(quote),
			       &quote_len, qsig, sizeof(qsig), &qsig_len) < 0 ||
		    soft_certify(&h->ak, nonce, nonce_len, h->tk_name, h->tk_name_len, cert,
				 sizeof(cert), &cert_len, csig, sizeof(csig), &csig_len) < 0)
			die("soft_quote/soft_certify failed");
		b64url(quote, quote_len, quote_b64);
		b64url(qsig, qsig_len, qsig_b64);
		b64url(cert, cert_len, cert_b64);
		b64url(csig, csig_len, csig_b64);
		n = snprintf(c->body, c->body_cap,
			     "{\"mode\":\"tpm\",\"ak_name\":\"%s\",\"nonce\":\"%s\","
			     "\"quote\":\"%s\",\"signature\":\"%s\",\"pcrs\":%s,"
			     "\"event_log\":\"%s\",\"transport_key\":{\"public\":\"%s\","
			     "\"certify\":\"%s\",\"signature\":\"%s\"}}",
			     h->ak_name_hex, nonce_b64, quote_b64, qsig_b64, b->pcrs_json,
			     b->log_b64, h->tk_pub_b64, cert_b64, csig_b64);
		if (n < 0 || (size_t)n >= c->body_cap)
			die("attest body does not fit");
		t1 = now_s();
		st = http_post(&http, "/v1/attest", c->body, (size_t)n);
		t2 = now_s();
		if (st != 200 || !strstr(http.resp.buf, "\"token\":\"")) {
			client_error(c, "attest: HTTP %ld %s %.200s", st, http.errbuf,
				     http.resp.buf);
			continue;
		}
		if (measured && atomic_load(&phase) == PHASE_MEASURE) {
			c->ok++;
			samples_add(&c->full, t2 - t0);
			samples_add(&c->attest, t2 - t1);
		}
	}
	http_free(&http);
	return NULL;
}

/* ---- /proc ---------------------------------------------------------------- */

/* utime + stime of pid, in seconds. */
static double proc_cpu(long pid)
{
	char path[64], buf[4096], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_hwm_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct samples *s, double q)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(q * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

struct level_result {
	unsigned clients;
	double rate, full_p50, full_p99, att_p50, att_p99, hgsd_cores, client_cores;
	unsigned long ok, errors;
	char first_error[256];
};

static void run_level(unsigned k, const char *url, const struct boot *b, struct host *hosts,
		      unsigned n_hosts, long pid, double warmup, double secs,
		      struct level_result *res)
{
	struct client *cl = calloc(k, sizeof(*cl));
	struct samples full = { 0 }, att = { 0 };
	size_t body_cap = b64url_len(b->log_len) + strlen(b->pcrs_json) + 16384;
	double c0, c1, s0, s1, t0, t1;
	pthread_attr_t attr;

	if (!cl)
		die("out of memory");
	memset(res, 0, sizeof(*res));
	res->clients = k;
	atomic_store(&phase, PHASE_WARMUP);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned i = 0; i < k; i++) {
		cl[i].url = url;
		cl[i].boot = b;
		cl[i].host = &hosts[i % n_hosts];
		cl[i].body_cap = body_cap;
		cl[i].body = malloc(body_cap);
		if (!cl[i].body)
			die("out of memory");
		if (pthread_create(&cl[i].th, &attr, client_run, &cl[i]))
			die("cannot start client thread %u of %u", i, k);
	}
	pthread_attr_destroy(&attr);
	usleep((useconds_t)(warmup * 1e6));
	c0 = proc_cpu(pid);
	s0 = self_cpu();
	t0 = now_s();
	atomic_store(&phase, PHASE_MEASURE);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&phase, PHASE_STOP);
	t1 = now_s();
	c1 = proc_cpu(pid);
	s1 = self_cpu();
	for (unsigned i = 0; i < k; i++) {
		pthread_join(cl[i].th, NULL);
		res->ok += cl[i].ok;
		res->errors += cl[i].errors;
		if (!res->first_error[0] && cl[i].first_error[0])
			memcpy(res->first_error, cl[i].first_error, sizeof(res->first_error));
		for (size_t j = 0; j < cl[i].full.n; j++) {
			samples_add(&full, cl[i].full.v[j]);
			samples_add(&att, cl[i].attest.v[j]);
		}
		free(cl[i].full.v);
		free(cl[i].attest.v);
		free(cl[i].body);
	}
	free(cl);
	qsort(full.v, full.n, sizeof(double), cmp_double);
	qsort(att.v, att.n, sizeof(double), cmp_double);
	res->rate = (double)res->ok / (t1 - t0);
	res->full_p50 = pct(&full, 0.50) * 1e3;
	res->full_p99 = pct(&full, 0.99) * 1e3;
	res->att_p50 = pct(&att, 0.50) * 1e3;
	res->att_p99 = pct(&att, 0.99) * 1e3;
	res->hgsd_cores = c0 >= 0 && c1 >= 0 ? (c1 - c0) / (t1 - t0) : -1;
	res->client_cores = (s1 - s0) / (t1 - t0);
	free(full.v);
	free(att.v);
}

/* ---- crypto floor ------------------------------------------------------------ */

#define FLOOR_SECONDS 0.4

/* Seconds per call of fn, run for about FLOOR_SECONDS. */
static double per_op(void (*fn)(void *), void *arg)
{
	double t0 = now_s(), t;
	unsigned long n = 0;

	for (int i = 0; i < 20; i++)
		fn(arg); /* warm */
	do {
		for (int i = 0; i < 32; i++)
			fn(arg);
		n += 32;
		t = now_s();
	} while (t - t0 < FLOOR_SECONDS);
	return (t - t0) / (double)n;
}

struct floor_ctx {
	EVP_PKEY *key;
	uint8_t msg[160]; /* about a marshalled TPMS_ATTEST of a quote */
	uint8_t sig[80];
	size_t sig_len;
	const struct boot *boot;
	struct host *host;
	struct appraise_input in;
	struct appraise_result res;
};

static void op_sign(void *arg)
{
	struct floor_ctx *f = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[80];
	size_t len = sizeof(sig);

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, f->key) <= 0 ||
	    EVP_DigestSign(ctx, sig, &len, f->msg, sizeof(f->msg)) <= 0)
		die("ECDSA sign failed");
	EVP_MD_CTX_free(ctx);
}

static void op_verify(void *arg)
{
	struct floor_ctx *f = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, f->key) <= 0 ||
	    EVP_DigestVerify(ctx, f->sig, f->sig_len, f->msg, sizeof(f->msg)) != 1)
		die("ECDSA verify failed");
	EVP_MD_CTX_free(ctx);
}

static void op_sha_log(void *arg)
{
	struct floor_ctx *f = arg;
	uint8_t md[32];
	unsigned int n;

	if (!EVP_Digest(f->boot->log, f->boot->log_len, md, &n, EVP_sha256(), NULL))
		die("SHA-256 failed");
}

static void op_client(void *arg)
{
	struct floor_ctx *f = arg;
	struct quote_selection_bank sel = { .alg = TPM2_ALG_SHA256, .mask = 0xffffff };
	uint8_t quote[2048], qsig[512], cert[2048], csig[512];
	size_t ql, qsl, cl, csl;

	if (soft_quote(&f->host->ak, f->msg, 41, &sel, 1, &f->boot->pcrs, quote, sizeof(quote),
		       &ql, qsig, sizeof(qsig), &qsl) < 0 ||
	    soft_certify(&f->host->ak, f->msg, 41, f->host->tk_name, f->host->tk_name_len, cert,
			 sizeof(cert), &cl, csig, sizeof(csig), &csl) < 0)
		die("soft_quote failed");
}

static void op_appraise(void *arg)
{
	struct floor_ctx *f = arg;

	if (appraise_tpm(&f->in, &f->res) < 0 || f->res.code != APPRAISE_PASS)
		die("in-process appraisal did not pass: %s: %s", appraise_code_name(f->res.code),
		    f->res.message);
}

struct floor {
	double verify, sign, sha, client, appraise;
};

static void measure_floor(const struct boot *b, struct floor *out)
{
	struct floor_ctx *f = calloc(1, sizeof(*f));
	struct quote_selection_bank sel = { .alg = TPM2_ALG_SHA256, .mask = 0xffffff };
	static uint8_t quote[2048], qsig[512], cert[2048], csig[512], tkpub[1024];
	struct eventlog *log = NULL;
	struct baseline *base = NULL;
	struct tpm2_key *ak_key = NULL;
	struct policy *pol;
	struct err e = { 0 };
	struct host h;
	uint8_t pub[1024];
	size_t pub_len, ql, qsl, cl, csl, tkl;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!f || !ctx)
		die("out of memory");
	memset(&h, 0, sizeof(h));
	host_new(&h);
	f->boot = b;
	f->host = &h;
	f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	memset(f->msg, 0x5a, sizeof(f->msg));
	f->sig_len = sizeof(f->sig);
	if (!f->key || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, f->key) <= 0 ||
	    EVP_DigestSign(ctx, f->sig, &f->sig_len, f->msg, sizeof(f->msg)) <= 0)
		die("ECDSA sign failed");
	EVP_MD_CTX_free(ctx);
	out->verify = per_op(op_verify, f);
	out->sign = per_op(op_sign, f);
	out->sha = per_op(op_sha_log, f);
	out->client = per_op(op_client, f);

	/* the whole in-process appraisal (parse, replay, digests, policy,
	 * both signatures) as hgsd runs it, without HTTP, JSON, store, token */
	if (eventlog_parse(b->log, b->log_len, &log, &e) < 0)
		die("%s", err_str(&e));
	eventlog_check_digests(log, &e);
	if (baseline_capture(log, "bench", "bench", NULL, BASELINE_DEFAULT_PCRS, &base, &e) < 0)
		die("%s", err_str(&e));
	eventlog_free(log);
	pol = policy_new("bench");
	if (policy_add_baseline(pol, base, &e) < 0)
		die("%s", err_str(&e));
	pol->enabled[RULE_IOMMU] = false;
	if (soft_ak_public(&h.ak, pub, sizeof(pub), &pub_len) < 0 ||
	    tpm2_key_from_public(pub, pub_len, &ak_key, &e) < 0)
		die("AK public: %s", err_str(&e));
	if (soft_quote(&h.ak, f->msg, 41, &sel, 1, &b->pcrs, quote, sizeof(quote), &ql, qsig,
		       sizeof(qsig), &qsl) < 0 ||
	    soft_certify(&h.ak, f->msg, 41, h.tk_name, h.tk_name_len, cert, sizeof(cert), &cl,
			 csig, sizeof(csig), &csl) < 0)
		die("soft_quote failed");
	{
		TPM2B_PUBLIC t2b = { .publicArea = h.tk.pub };

		tkl = 0;
		if (Tss2_MU_TPM2B_PUBLIC_Marshal(&t2b, tkpub, sizeof(tkpub), &tkl))
			die("marshal");
	}
	f->in = (struct appraise_input){
		.ak = ak_key, .nonce = f->msg, .nonce_len = 41,
		.quote = quote, .quote_len = ql, .quote_sig = qsig, .quote_sig_len = qsl,
		.pcrs = &b->pcrs, .event_log = b->log, .event_log_len = b->log_len,
		.tk_public = tkpub, .tk_public_len = tkl,
		.tk_certify = cert, .tk_certify_len = cl,
		.tk_certify_sig = csig, .tk_certify_sig_len = csl,
		.policy = pol,
	};
	out->appraise = per_op(op_appraise, f);
	tpm2_key_free(ak_key);
	policy_free(pol);
	EVP_PKEY_free(f->key);
	soft_ak_free(&h.ak);
	soft_ak_free(&h.tk);
	free(h.tk_pub_b64);
	free(f);
}

static void print_floor(const struct boot *b, const struct floor *fl)
{
	double server = 2 * fl->verify + fl->sign + fl->sha;
	double shared = server + fl->client;

	printf("== crypto floor (one core, this run; log %zu bytes)\n", b->log_len);
	printf("  ECDSA P-256 verify           %8.1f us   (x2 per attestation: quote, certify)\n",
	       fl->verify * 1e6);
	printf("  ECDSA P-256 sign             %8.1f us   (x1: the token)\n", fl->sign * 1e6);
	printf("  SHA-256 over the log         %8.1f us   (x1)\n", fl->sha * 1e6);
	printf("  server floor                 %8.1f us = %7.0f attestations/s per core, %7.0f on 2 cores\n",
	       server * 1e6, 1 / server, 2 / server);
	printf("  client: quote + certify      %8.1f us   (2 ECDSA signs + marshalling)\n",
	       fl->client * 1e6);
	printf("  server + client floor        %8.1f us = %7.0f attestations/s on 2 shared cores\n",
	       shared * 1e6, 2 / shared);
	printf("  appraise_tpm in-process      %8.1f us = %7.0f /s per core (parse, replay, digests,\n"
	       "                                             policy, 2 verifies; no HTTP/JSON/store/token)\n",
	       fl->appraise * 1e6, 1 / fl->appraise);
}

/* ---- main ------------------------------------------------------------------ */

static double arg_double(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 3600)
		die("bad %s '%s'", what, s);
	return v;
}

static unsigned long arg_ulong(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		die("bad %s '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *admin_sock = NULL, *log_path = NULL;
	double secs = 10, warmup = 1;
	unsigned levels[MAX_LEVELS] = { 1, 16, 64, 256 }, n_levels = 4, n_hosts = 0, max_k = 0;
	bool floor_only = false, do_floor = true, do_goals = true;
	struct level_result res[MAX_LEVELS];
	char path_buf[4096], run_id[32];
	struct host *hosts;
	struct boot boot;
	struct floor fl;
	long pid = 0;
	double t0;

	if (argc == 2 && argv[1][0] != '-') {
		floor_only = true;
		snprintf(path_buf, sizeof(path_buf), "%s/eventlogs/%s", argv[1], DEFAULT_LOG);
		log_path = path_buf;
	}
	for (int i = 1; !floor_only && i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-floor")) {
			do_floor = false;
			continue;
		}
		if (!strcmp(a, "--no-goals")) {
			do_goals = false;
			continue;
		}
		if (!v)
			die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--url"))
			url = v;
		else if (!strcmp(a, "--admin"))
			admin_sock = v;
		else if (!strcmp(a, "--log"))
			log_path = v;
		else if (!strcmp(a, "--pid"))
			pid = (long)arg_ulong(v, "pid", LONG_MAX);
		else if (!strcmp(a, "--hosts"))
			n_hosts = (unsigned)arg_ulong(v, "host count", 100000);
		else if (!strcmp(a, "--seconds"))
			secs = arg_double(v, "duration");
		else if (!strcmp(a, "--warmup"))
			warmup = arg_double(v, "warm-up");
		else if (!strcmp(a, "--levels")) {
			char buf[128], *save = NULL, *tok;

			snprintf(buf, sizeof(buf), "%s", v);
			n_levels = 0;
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (n_levels == MAX_LEVELS)
					die("at most %d levels", MAX_LEVELS);
				levels[n_levels++] = (unsigned)arg_ulong(tok, "level", 4096);
			}
			if (!n_levels)
				die("no levels");
		} else
			die("unknown option %s", a);
	}
	if (!log_path)
		die("usage: bench_attest TESTDATA | --url URL --admin SOCKET --pid PID --log LOG ...");

	boot_load(&boot, log_path);
	if (floor_only || do_floor) {
		measure_floor(&boot, &fl);
		print_floor(&boot, &fl);
	}
	if (floor_only)
		return 0;
	if (!url || !admin_sock || !pid)
		die("--url, --admin and --pid are required");
	for (unsigned i = 0; i < n_levels; i++)
		if (levels[i] > max_k)
			max_k = levels[i];
	if (!n_hosts)
		n_hosts = max_k;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		die("curl_global_init failed");

	/* registration and real enrollment of every simulated host */
	snprintf(run_id, sizeof(run_id), "%ld", (long)getpid());
	hosts = calloc(n_hosts, sizeof(*hosts));
	if (!hosts)
		die("out of memory");
	t0 = now_s();
	{
		struct http admin, api;

		http_init(&admin, "http://hgsd", admin_sock);
		http_init(&api, url, NULL);
		for (unsigned i = 0; i < n_hosts; i++) {
			host_new(&hosts[i]);
			host_enroll(&hosts[i], i, &admin, &api, run_id);
		}
		http_free(&admin);
		http_free(&api);
	}
	printf("\n== %u simulated hosts registered by software ECC P-256 EK and enrolled through "
	       "/v1/enroll + /v1/enroll/finish (software ActivateCredential) in %.2f s\n",
	       n_hosts, now_s() - t0);
	printf("== POST /v1/attest/nonce + POST /v1/attest (TPM mode, quote over 24 sha256 PCRs, "
	       "certify, %zu-byte log), %.0f s per level after %.0f s warm-up, %ld cores shared\n",
	       boot.log_len, secs, warmup, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);

	for (unsigned i = 0; i < n_levels; i++) {
		run_level(levels[i], url, &boot, hosts, n_hosts, pid, warmup, secs, &res[i]);
		fprintf(stderr, "  level %u clients done: %.0f/s\n", levels[i], res[i].rate);
	}

	printf("\n%8s %10s %10s %10s %10s %10s %8s %7s %7s\n", "clients", "attest/s", "full p50",
	       "full p99", "/attest", "/attest", "errors", "hgsd", "client");
	printf("%8s %10s %10s %10s %10s %10s %8s %7s %7s\n", "", "", "ms", "ms", "p50 ms",
	       "p99 ms", "", "cores", "cores");
	for (unsigned i = 0; i < n_levels; i++)
		printf("%8u %10.0f %10.2f %10.2f %10.2f %10.2f %8lu %7.2f %7.2f\n", res[i].clients,
		       res[i].rate, res[i].full_p50, res[i].full_p99, res[i].att_p50,
		       res[i].att_p99, res[i].errors, res[i].hgsd_cores, res[i].client_cores);
	for (unsigned i = 0; i < n_levels; i++)
		if (res[i].first_error[0])
			printf("  first error at %u clients: %s\n", res[i].clients,
			       res[i].first_error);
	printf("  full = nonce round trip + client quote/certify signing + attest round trip; "
	       "/attest = the POST /v1/attest round trip alone\n");
	printf("  hgsd peak RSS (VmHWM): %ld kB\n", proc_hwm_kb(pid));

	if (do_goals) {
		double best = 0, p99_64 = -1;
		unsigned best_k = 0;

		for (unsigned i = 0; i < n_levels; i++) {
			if (res[i].rate > best) {
				best = res[i].rate;
				best_k = res[i].clients;
			}
			if (res[i].clients == 64)
				p99_64 = res[i].full_p99;
		}
		printf("\ngoal: >= 5000 attestations/s with a ~30 KB log: reached %.0f "
		       "(at %u clients, %zu-byte log)%s\n",
		       best, best_k, boot.log_len, best >= 5000 ? "" : " -- NOT met");
		if (p99_64 >= 0)
			printf("goal: p99 < 20 ms at 64 clients: reached %.2f ms%s\n", p99_64,
			       p99_64 < 20 ? "" : " -- NOT met");
		else
			printf("goal: p99 < 20 ms at 64 clients: not measured (no 64-client level)\n");
	}
	for (unsigned i = 0; i < n_hosts; i++) {
		soft_ak_free(&hosts[i].ak);
		soft_ak_free(&hosts[i].tk);
		free(hosts[i].tk_pub_b64);
	}
	free(hosts);
	free(boot.log);
	free(boot.log_b64);
	free(boot.pcrs_json);
	curl_global_cleanup();
	return 0;
}
