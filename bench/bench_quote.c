/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quotes verified per second (quote_verify: unmarshal TPMS_ATTEST and
 * TPMT_SIGNATURE, signature, magic, type, nonce, pcrDigest over 24 SHA-256
 * PCRs) for an RSA-2048 and an ECC P-256 AK, beside the crypto floor measured
 * in the same run: OpenSSL's EVP_DigestVerifyInit + EVP_DigestVerify over
 * the same bytes with the same key. The AK is prepared once (struct
 * tpm2_key caches the EVP_PKEY), as a verifier serving many quotes would.
 *
 * Usage: bench_quote [SECONDS per measurement, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "attest/hash.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "soft_quote.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
	struct tpm2_key *key;
	EVP_PKEY *pkey;
	const EVP_MD *md;
	const uint8_t *attest, *sig, *raw_sig, *nonce;
	size_t attest_len, sig_len, raw_sig_len, nonce_len;
	const struct quote_pcrs *pcrs;
};

static int one_quote(const struct ctx *c)
{
	return quote_verify(c->key, c->attest, c->attest_len, c->sig,
			    c->sig_len, c->nonce, c->nonce_len, c->pcrs, NULL,
			    NULL);
}

static int one_raw(const struct ctx *c)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *p = NULL;
	int ok = m && EVP_DigestVerifyInit(m, &p, c->md, NULL, c->pkey) == 1 &&
		 (EVP_PKEY_get_base_id(c->pkey) != EVP_PKEY_RSA ||
		  EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PADDING) == 1) &&
		 EVP_DigestVerify(m, c->raw_sig, c->raw_sig_len, c->attest,
				  c->attest_len) == 1;

	EVP_MD_CTX_free(m);
	return ok ? 0 : -1;
}

static double rate(int (*fn)(const struct ctx *), const struct ctx *c,
		   double secs)
{
	double t0 = now(), t;
	long n = 0;

	do {
		for (int i = 0; i < 64; i++)
			if (fn(c) != 0) {
				fprintf(stderr,
					"bench_quote: verification failed\n");
				exit(1);
			}
		n += 64;
		t = now() - t0;
	} while (t < secs);
	return (double)n / t;
}

static void bench(const char *label, uint16_t type, uint16_t param,
		  uint16_t scheme, double secs)
{
	static const struct quote_selection_bank sel[] = {
		{ TPM2_ALG_SHA256, 0xffffff },
	};
	static const uint8_t nonce[32] = { 1, 2, 3, 4, 5 };
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	uint8_t attest[1024], sig[1024], raw[1024];
	size_t alen, slen, rlen = sizeof(raw);
	struct quote_pcr_bank *b;
	struct soft_ak ak;
	struct err e = { 0 };
	struct ctx c;
	EVP_MD_CTX *m;
	double q, r;

	b = quote_pcrs_add_bank(pcrs, TPM2_ALG_SHA256);
	b->mask = 0xffffff;
	for (unsigned i = 0; i < 24; i++)
		memset(b->values[i], (int)(i * 17), 32);
	if (soft_ak_new(&ak, type, param, scheme, TPM2_ALG_SHA256) < 0 ||
	    soft_quote(&ak, nonce, sizeof(nonce), sel, 1, pcrs, attest,
		       sizeof(attest), &alen, sig, sizeof(sig), &slen) < 0) {
		fprintf(stderr, "bench_quote: cannot make a quote\n");
		exit(1);
	}
	/* The raw floor's signature: the same scheme, in OpenSSL's encoding. */
	m = EVP_MD_CTX_new();
	if (!m ||
	    EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, ak.priv) != 1 ||
	    EVP_DigestSign(m, raw, &rlen, attest, alen) != 1) {
		fprintf(stderr, "bench_quote: cannot sign\n");
		exit(1);
	}
	EVP_MD_CTX_free(m);

	memset(&c, 0, sizeof(c));
	if (tpm2_key_from_tpmt(&ak.pub, &c.key, &e) < 0) {
		fprintf(stderr, "bench_quote: %s\n", err_str(&e));
		exit(1);
	}
	c.pkey = c.key->pkey;
	c.md = hash_alg_md(hash_alg_by_id(TPM2_ALG_SHA256));
	c.attest = attest;
	c.attest_len = alen;
	c.sig = sig;
	c.sig_len = slen;
	c.raw_sig = raw;
	c.raw_sig_len = rlen;
	c.nonce = nonce;
	c.nonce_len = sizeof(nonce);
	c.pcrs = pcrs;
	if (one_quote(&c) != 0 || one_raw(&c) != 0) {
		fprintf(stderr, "bench_quote: self-check failed\n");
		exit(1);
	}
	/* warm up, then alternate so both see the same machine state */
	rate(one_raw, &c, secs / 4);
	r = rate(one_raw, &c, secs);
	q = rate(one_quote, &c, secs);
	r = (r + rate(one_raw, &c, secs)) / 2;
	printf("%-22s quote_verify %9.0f/s   raw EVP_DigestVerify %9.0f/s   "
	       "raw/quote %.3fx\n",
	       label, q, r, r / q);
	tpm2_key_free(c.key);
	soft_ak_free(&ak);
	free(pcrs);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;

	if (!(secs > 0 && secs < 600)) {
		fprintf(stderr, "usage: bench_quote [SECONDS]\n");
		return 2;
	}
	printf("TPM2_Quote verification, 24 SHA-256 PCRs, 32-byte nonce, "
	       "one core (%.1f s per measurement)\n",
	       secs);
	bench("RSA-2048 RSASSA-SHA256", TPM2_ALG_RSA, 2048, TPM2_ALG_RSASSA,
	      secs);
	bench("ECC P-256 ECDSA-SHA256", TPM2_ALG_ECC, TPM2_ECC_NIST_P256,
	      TPM2_ALG_ECDSA, secs);
	return 0;
}
