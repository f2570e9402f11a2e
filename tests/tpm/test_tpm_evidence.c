/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/attest/{tpm2,quote,credential,ekcert}.c against real
 * quotes from public projects (../shared/testdata/quotes, see its README)
 * and against software-made quotes in every supported scheme.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/rsa.h>

#include "attest/credential.h"
#include "attest/ekcert.h"
#include "attest/hash.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/limits.h"
#include "soft_quote.h"

#define GCE "quotes/gotpmtools__gce-cos-85-nonce9009/"
#define WIN "quotes/goattest__windows_gcp_shielded_vm/"
#define KEYLIME "quotes/keylime/"

static uint8_t *slurp(const char *rel, size_t *len)
{
	const char *dir = getenv("SHIELDVM_TESTDATA");
	char path[1024];
	uint8_t *buf = NULL;
	struct err e = { 0 };

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (file_read(path, FILE_MAX_SIZE, &buf, len, &e) < 0)
		fail_msg("%s", err_str(&e));
	return buf;
}

static struct tpm2_key *load_key(const char *rel)
{
	struct tpm2_key *k = NULL;
	struct err e = { 0 };
	size_t len;
	uint8_t *buf = slurp(rel, &len);
	int r = tpm2_key_from_public(buf, len, &k, &e);

	if (r < 0)
		fail_msg("%s: %s", rel, err_str(&e));
	free(buf);
	return k;
}

/* PCR values of one bank from {"0": "hex", ...}. */
static void bank_from_json(json_t *obj, uint16_t alg, struct quote_pcrs *p)
{
	struct quote_pcr_bank *b = quote_pcrs_add_bank(p, alg);
	const char *k;
	json_t *v;

	assert_non_null(b);
	json_object_foreach(obj, k, v) {
		int idx = (int)strtol(k, NULL, 10);

		assert_true(idx >= 0 && idx < 24);
		assert_int_equal(hex_decode(json_string_value(v),
					    b->values[idx], QUOTE_MAX_DIGEST),
				 hash_alg_by_id(alg)->size);
		b->mask |= 1u << idx;
	}
}

static void gce_pcrs(struct quote_pcrs *p)
{
	size_t len;
	uint8_t *buf = slurp(GCE "meta.json", &len);
	json_t *root = json_loadb((char *)buf, len, 0, NULL), *q;
	size_t i;

	assert_non_null(root);
	memset(p, 0, sizeof(*p));
	json_array_foreach(json_object_get(root, "quotes"), i, q) {
		const struct hash_alg *h = hash_alg_by_name(
			json_string_value(json_object_get(q, "bank")));

		assert_non_null(h);
		bank_from_json(json_object_get(q, "pcrs"), h->tpm_id, p);
	}
	json_decref(root);
	free(buf);
}

static void win_pcrs(struct quote_pcrs *p)
{
	size_t len;
	uint8_t *buf = slurp(WIN "meta.json", &len);
	json_t *root = json_loadb((char *)buf, len, 0, NULL);

	assert_non_null(root);
	memset(p, 0, sizeof(*p));
	bank_from_json(json_object_get(root, "pcrs_sha1"), TPM2_ALG_SHA1, p);
	json_decref(root);
	free(buf);
}

static const uint8_t gce_nonce[] = { 0x90, 0x09 };
static const char *const gce_banks[] = { "sha1", "sha256", "sha384" };

struct evidence {
	uint8_t *attest, *sig;
	size_t attest_len, sig_len;
};

static struct evidence gce_quote(const char *bank)
{
	struct evidence ev;
	char p[128];

	snprintf(p, sizeof(p), GCE "quote_%s.TPMS_ATTEST.bin", bank);
	ev.attest = slurp(p, &ev.attest_len);
	snprintf(p, sizeof(p), GCE "quote_%s.TPMT_SIGNATURE.bin", bank);
	ev.sig = slurp(p, &ev.sig_len);
	return ev;
}

static void evidence_free(struct evidence *ev)
{
	free(ev->attest);
	free(ev->sig);
}

/* ---- real quotes ---- */

static void test_gce_quotes(void **state)
{
	struct tpm2_key *ak = load_key(GCE "ak_pub.TPMT_PUBLIC.bin");
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));

	gce_pcrs(pcrs);
	for (size_t i = 0; i < 3; i++) {
		struct evidence ev = gce_quote(gce_banks[i]);
		struct quote_info qi;
		struct err e = { 0 };
		int r = quote_verify(ak, ev.attest, ev.attest_len, ev.sig,
				     ev.sig_len, gce_nonce, 2, pcrs, &qi, &e);

		if (r < 0)
			fail_msg("%s: %s", gce_banks[i], err_str(&e));
		assert_true(qi.pcr_digest_checked);
		assert_int_equal(qi.n_banks, 1);
		assert_int_equal(qi.banks[0].mask, 0xffffff);
		assert_int_equal(qi.banks[0].alg,
				 hash_alg_by_name(gce_banks[i])->tpm_id);
		assert_int_equal(qi.sig_alg, TPM2_ALG_RSASSA);
		assert_int_equal(qi.sig_hash, TPM2_ALG_SHA256);
		assert_int_equal(qi.type, TPM2_ST_ATTEST_QUOTE);
		assert_true(qi.clock > 0);
		assert_int_equal(qi.pcr_digest_len, 32);
		evidence_free(&ev);
	}
	free(pcrs);
	tpm2_key_free(ak);
}

/* Flip every byte of quote, signature, nonce and every PCR value byte:
 * each must fail. */
static void flip_all(struct tpm2_key *ak, struct evidence *ev,
		     const uint8_t *nonce, size_t nlen, struct quote_pcrs *pcrs)
{
	uint8_t n2[TPM_MAX_NONCE_SIZE];
	struct err e = { 0 };

	assert_int_equal(quote_verify(ak, ev->attest, ev->attest_len, ev->sig,
				      ev->sig_len, nonce, nlen, pcrs, NULL, &e),
			 0);
	for (size_t i = 0; i < ev->attest_len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 7) {
			ev->attest[i] ^= (uint8_t)(1u << bit);
			assert_true(quote_verify(ak, ev->attest, ev->attest_len,
						 ev->sig, ev->sig_len, nonce,
						 nlen, pcrs, NULL, NULL) < 0);
			ev->attest[i] ^= (uint8_t)(1u << bit);
		}
	}
	for (size_t i = 0; i < ev->sig_len; i++) {
		ev->sig[i] ^= 0x01;
		assert_true(quote_verify(ak, ev->attest, ev->attest_len,
					 ev->sig, ev->sig_len, nonce, nlen,
					 pcrs, NULL, NULL) < 0);
		ev->sig[i] ^= 0x01;
	}
	memcpy(n2, nonce, nlen);
	for (size_t i = 0; i < nlen; i++) {
		n2[i] ^= 0x80;
		assert_int_equal(quote_verify(ak, ev->attest, ev->attest_len,
					      ev->sig, ev->sig_len, n2, nlen,
					      pcrs, NULL, NULL),
				 -EKEYREJECTED);
		n2[i] ^= 0x80;
	}
	/* a nonce one byte longer or shorter */
	n2[nlen] = 0;
	assert_int_equal(quote_verify(ak, ev->attest, ev->attest_len, ev->sig,
				      ev->sig_len, n2, nlen + 1, pcrs, NULL,
				      NULL),
			 -EKEYREJECTED);
	if (nlen)
		assert_int_equal(quote_verify(ak, ev->attest, ev->attest_len,
					      ev->sig, ev->sig_len, n2,
					      nlen - 1, pcrs, NULL, NULL),
				 -EKEYREJECTED);
	for (unsigned b = 0; b < pcrs->n_banks; b++) {
		struct quote_pcr_bank *bk = &pcrs->banks[b];
		size_t sz = hash_alg_by_id(bk->alg)->size;

		for (unsigned p = 0; p < 24; p++)
			for (size_t i = 0; i < sz; i++) {
				int r;

				bk->values[p][i] ^= 0x01;
				r = quote_verify(ak, ev->attest, ev->attest_len,
						 ev->sig, ev->sig_len, nonce,
						 nlen, pcrs, NULL, NULL);
				bk->values[p][i] ^= 0x01;
				/* Only banks the quote selects matter. */
				if (r == 0) {
					struct quote_info qi;

					assert_int_equal(
						quote_verify(ak, ev->attest,
							     ev->attest_len,
							     ev->sig,
							     ev->sig_len, nonce,
							     nlen, pcrs, &qi,
							     NULL),
						0);
					assert_int_not_equal(qi.banks[0].alg,
							     bk->alg);
				} else {
					assert_int_equal(r, -EKEYREJECTED);
				}
			}
	}
}

static void test_gce_flips(void **state)
{
	struct tpm2_key *ak = load_key(GCE "ak_pub.TPMT_PUBLIC.bin");
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));

	gce_pcrs(pcrs);
	for (size_t i = 0; i < 3; i++) {
		struct evidence ev = gce_quote(gce_banks[i]);

		flip_all(ak, &ev, gce_nonce, 2, pcrs);
		evidence_free(&ev);
	}
	free(pcrs);
	tpm2_key_free(ak);
}

static void test_windows_quote(void **state)
{
	struct tpm2_key *ak = load_key(WIN "AK.Public.bin");
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	struct evidence ev;
	struct quote_info qi;
	struct err e = { 0 };
	int r;

	win_pcrs(pcrs);
	ev.attest = slurp(WIN "Quote.Quote.bin", &ev.attest_len);
	ev.sig = slurp(WIN "Quote.Signature.bin", &ev.sig_len);
	r = quote_verify(ak, ev.attest, ev.attest_len, ev.sig, ev.sig_len, NULL,
			 0, pcrs, &qi, &e);
	if (r < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(qi.sig_hash, TPM2_ALG_SHA1);
	assert_int_equal(qi.banks[0].alg, TPM2_ALG_SHA1);
	flip_all(ak, &ev, (const uint8_t *)"", 0, pcrs);
	evidence_free(&ev);
	free(pcrs);
	tpm2_key_free(ak);
}

static void test_windows_creation(void **state)
{
	struct tpm2_key *ak = load_key(WIN "AK.Public.bin");
	struct tpm2_key *other = load_key(GCE "ak_pub.TPMT_PUBLIC.bin");
	size_t alen, slen, clen;
	uint8_t *att = slurp(WIN "AK.CreateAttestation.bin", &alen);
	uint8_t *sig = slurp(WIN "AK.CreateSignature.bin", &slen);
	uint8_t *cd = slurp(WIN "AK.CreateData.bin", &clen);
	struct quote_info qi;
	struct err e = { 0 };
	int r;

	r = quote_verify_creation(ak, att, alen, sig, slen, NULL, 0, &ak->pub,
				  cd, clen, &qi, &e);
	if (r < 0)
		fail_msg("%s", err_str(&e));
	assert_true(qi.creation_hash_checked);
	assert_int_equal(qi.type, TPM2_ST_ATTEST_CREATION);
	/* the AK's attributes are an AK's, not a transport key's */
	assert_int_equal(quote_check_transport_key(&ak->pub, NULL),
			 -EKEYREJECTED);
	/* another key's name */
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify_creation(ak, att, alen, sig, slen, NULL,
					       0, &other->pub, cd, clen, NULL,
					       &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "objectName"));
	/* tampered creation data */
	cd[clen - 6] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify_creation(ak, att, alen, sig, slen, NULL,
					       0, &ak->pub, cd, clen, NULL, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "creationHash"));
	cd[clen - 6] ^= 1;
	for (size_t i = 0; i < clen; i++) {
		cd[i] ^= 0x01;
		assert_true(quote_verify_creation(ak, att, alen, sig, slen,
						  NULL, 0, &ak->pub, cd, clen,
						  NULL, NULL) < 0);
		cd[i] ^= 0x01;
	}
	/* a certify-creation is not a quote and not a certify */
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(ak, att, alen, sig, slen, NULL, 0, NULL,
				      NULL, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "type"));
	assert_int_equal(quote_verify_certify(ak, att, alen, sig, slen, NULL, 0,
					      &ak->pub, NULL, NULL),
			 -EKEYREJECTED);
	/* every flipped byte of attestation and signature */
	for (size_t i = 0; i < alen; i++) {
		att[i] ^= 0x40;
		assert_true(quote_verify_creation(ak, att, alen, sig, slen,
						  NULL, 0, &ak->pub, cd, clen,
						  NULL, NULL) < 0);
		att[i] ^= 0x40;
	}
	for (size_t i = 0; i < slen; i++) {
		sig[i] ^= 0x40;
		assert_true(quote_verify_creation(ak, att, alen, sig, slen,
						  NULL, 0, &ak->pub, cd, clen,
						  NULL, NULL) < 0);
		sig[i] ^= 0x40;
	}
	free(att);
	free(sig);
	free(cd);
	tpm2_key_free(ak);
	tpm2_key_free(other);
}

static void test_keylime(void **state)
{
	struct tpm2_key *ak = load_key(KEYLIME "ak.pub"), *pem = NULL;
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	size_t nlen, alen, slen, plen, klen;
	uint8_t *name = slurp(KEYLIME "ak.name", &nlen);
	uint8_t *att = slurp(KEYLIME "quote.out", &alen);
	uint8_t *sig = slurp(KEYLIME "quotesig.out", &slen);
	uint8_t *pv = slurp(KEYLIME "quotepcr.out", &plen);
	uint8_t *pemb = slurp(KEYLIME "akpub.pem", &klen);
	uint8_t nonce[20];
	struct quote_info qi;
	struct err e = { 0 };

	assert_int_equal(hex_decode("db1db298db6d60e6385b7231743e9c3056a18003",
				    nonce, sizeof(nonce)),
			 20);
	assert_int_equal(ak->name_len, nlen);
	assert_memory_equal(ak->name, name, nlen);

	/* signature only first, then with tpm2-tools serialized PCRs */
	assert_int_equal(quote_verify(ak, att, alen, sig, slen, nonce, 20, NULL,
				      &qi, &e),
			 0);
	assert_false(qi.pcr_digest_checked);
	assert_int_equal(qi.banks[0].mask,
			 (1u << 15) | (1u << 16) | (1u << 22));
	if (quote_pcrs_from_tpm2_tools(pv, plen, qi.banks, qi.n_banks, pcrs,
				       &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(pcrs->banks[0].mask, qi.banks[0].mask);
	if (quote_verify(ak, att, alen, sig, slen, nonce, 20, pcrs, &qi, &e) <
	    0)
		fail_msg("%s", err_str(&e));
	assert_true(qi.pcr_digest_checked);

	/* the same values in -F values form */
	{
		struct quote_pcrs *p2 = calloc(1, sizeof(*p2));
		uint8_t vals[3 * 32];

		memcpy(vals, pcrs->banks[0].values[15], 32);
		memcpy(vals + 32, pcrs->banks[0].values[16], 32);
		memcpy(vals + 64, pcrs->banks[0].values[22], 32);
		assert_int_equal(quote_pcrs_from_tpm2_tools(vals, sizeof(vals),
							    qi.banks,
							    qi.n_banks, p2,
							    NULL),
				 0);
		assert_int_equal(quote_verify(ak, att, alen, sig, slen, nonce,
					      20, p2, NULL, NULL),
				 0);
		memset(p2, 0, sizeof(*p2));
		assert_int_equal(quote_pcrs_from_tpm2_tools(vals, 95, qi.banks,
							    qi.n_banks, p2,
							    NULL),
				 -EBADMSG);
		memset(p2, 0, sizeof(*p2));
		assert_int_equal(quote_pcrs_from_tpm2_tools(pv, plen - 1,
							    qi.banks,
							    qi.n_banks, p2,
							    NULL),
				 -EBADMSG);
		free(p2);
	}

	/* PEM AK */
	assert_int_equal(tpm2_key_from_pem(pemb, klen, &pem, &e), 0);
	assert_int_equal(pem->has_public, 0);
	assert_int_equal(quote_verify(pem, att, alen, sig, slen, nonce, 20,
				      pcrs, NULL, NULL),
			 0);
	/* a different AK */
	{
		struct tpm2_key *gce = load_key(GCE "ak_pub.TPMT_PUBLIC.bin");

		memset(&e, 0, sizeof(e));
		assert_int_equal(quote_verify(gce, att, alen, sig, slen, nonce,
					      20, pcrs, NULL, &e),
				 -EKEYREJECTED);
		assert_non_null(strstr(e.msg, "does not verify"));
		tpm2_key_free(gce);
	}
	tpm2_key_free(pem);
	tpm2_key_free(ak);
	free(name);
	free(att);
	free(sig);
	free(pv);
	free(pemb);
	free(pcrs);
}

/* Truncated and oversized inputs: clean errors, no crash. */
static void test_truncated_oversized(void **state)
{
	struct tpm2_key *ak = load_key(GCE "ak_pub.TPMT_PUBLIC.bin");
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	struct evidence ev = gce_quote("sha256");
	uint8_t *big = calloc(1, 2 * TPM_MAX_ATTEST_SIZE);
	size_t plen, klen;
	uint8_t *pub = slurp(GCE "ak_pub.TPMT_PUBLIC.bin", &plen);
	uint8_t *pub2b = slurp(KEYLIME "ak.pub", &klen);
	struct err e = { 0 };
	TPMT_PUBLIC tp;
	int r;

	gce_pcrs(pcrs);
	for (size_t n = 0; n < ev.attest_len; n++) {
		r = quote_verify(ak, ev.attest, n, ev.sig, ev.sig_len,
				 gce_nonce, 2, pcrs, NULL, NULL);
		assert_true(r == -EBADMSG || r == -EKEYREJECTED);
	}
	for (size_t n = 0; n < ev.sig_len; n++) {
		r = quote_verify(ak, ev.attest, ev.attest_len, ev.sig, n,
				 gce_nonce, 2, pcrs, NULL, NULL);
		assert_true(r == -EBADMSG || r == -EKEYREJECTED);
	}
	/* one trailing byte */
	memcpy(big, ev.attest, ev.attest_len);
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(ak, big, ev.attest_len + 1, ev.sig,
				      ev.sig_len, gce_nonce, 2, pcrs, NULL, &e),
			 -EBADMSG);
	assert_non_null(strstr(e.msg, "trailing"));
	/* over the limits */
	assert_int_equal(tpm2_attest_unmarshal(big, TPM_MAX_ATTEST_SIZE + 1,
					       &(TPMS_ATTEST){ 0 }, NULL),
			 -EMSGSIZE);
	assert_int_equal(tpm2_signature_unmarshal(big,
						  TPM_MAX_SIGNATURE_SIZE + 1,
						  &(TPMT_SIGNATURE){ 0 }, NULL),
			 -EMSGSIZE);
	assert_int_equal(tpm2_public_unmarshal(big, TPM_MAX_PUBLIC_SIZE + 1,
					       &tp, NULL),
			 -EMSGSIZE);
	assert_int_equal(quote_verify(ak, ev.attest, ev.attest_len, ev.sig,
				      ev.sig_len, big, TPM_MAX_NONCE_SIZE + 1,
				      pcrs, NULL, NULL),
			 -EMSGSIZE);
	/* public areas: every prefix of both encodings */
	for (size_t n = 0; n < plen; n++)
		assert_true(tpm2_public_unmarshal(pub, n, &tp, NULL) < 0);
	for (size_t n = 0; n < klen; n++)
		assert_true(tpm2_public_unmarshal(pub2b, n, &tp, NULL) < 0);
	assert_int_equal(tpm2_public_unmarshal(pub, plen, &tp, NULL), 0);
	assert_int_equal(tpm2_public_unmarshal(pub2b, klen, &tp, NULL), 0);
	assert_int_equal(tpm2_public_unmarshal(NULL, 0, &tp, NULL), -EBADMSG);

	evidence_free(&ev);
	free(big);
	free(pub);
	free(pub2b);
	free(pcrs);
	tpm2_key_free(ak);
}

static void test_selection_coverage(void **state)
{
	struct tpm2_key *ak = load_key(GCE "ak_pub.TPMT_PUBLIC.bin");
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	struct evidence ev = gce_quote("sha256");
	struct err e = { 0 };

	gce_pcrs(pcrs);
	quote_pcrs_bank(pcrs, TPM2_ALG_SHA256)->mask &= ~(1u << 5);
	assert_int_equal(quote_verify(ak, ev.attest, ev.attest_len, ev.sig,
				      ev.sig_len, gce_nonce, 2, pcrs, NULL, &e),
			 -EKEYREJECTED);
	assert_string_equal(e.msg, "quote selects sha256 PCR 5 but no value "
				   "was supplied for it");
	quote_pcrs_bank(pcrs, TPM2_ALG_SHA256)->alg = TPM2_ALG_SHA512;
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(ak, ev.attest, ev.attest_len, ev.sig,
				      ev.sig_len, gce_nonce, 2, pcrs, NULL, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "no sha256 values"));
	/* message naming the selection on mismatch */
	gce_pcrs(pcrs);
	quote_pcrs_bank(pcrs, TPM2_ALG_SHA256)->values[0][0] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(ak, ev.attest, ev.attest_len, ev.sig,
				      ev.sig_len, gce_nonce, 2, pcrs, NULL, &e),
			 -EKEYREJECTED);
	assert_string_equal(e.msg,
			    "pcrDigest mismatch for selection sha256:{0,1,2,3,"
			    "4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,"
			    "22,23}");
	/* nonce messages */
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(ak, ev.attest, ev.attest_len, ev.sig,
				      ev.sig_len,
				      (const uint8_t *)"0123456789"
						       "0123456789",
				      20, pcrs, NULL, &e),
			 -EKEYREJECTED);
	assert_string_equal(e.msg, "quote extraData (2 bytes) does not match "
				   "nonce (20 bytes)");
	/* bank table limits */
	for (uint16_t a = 0x100; a < 0x110; a++)
		quote_pcrs_add_bank(pcrs, a);
	assert_int_equal(pcrs->n_banks, QUOTE_MAX_BANKS);
	assert_null(quote_pcrs_add_bank(pcrs, 0x200));
	evidence_free(&ev);
	free(pcrs);
	tpm2_key_free(ak);
}

/* ---- software quotes, every scheme ---- */

static void fill_pcrs(struct quote_pcrs *p)
{
	static const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256,
					 TPM2_ALG_SHA384 };

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < 3; i++) {
		struct quote_pcr_bank *b = quote_pcrs_add_bank(p, algs[i]);

		b->mask = 0xffffff;
		for (unsigned r = 0; r < 24; r++)
			for (unsigned j = 0; j < 64; j++)
				b->values[r][j] = (uint8_t)(r * 7 + j + i);
	}
}

static void soft_roundtrip(uint16_t type, uint16_t param, uint16_t sig_alg,
			   uint16_t hash, int saltlen)
{
	static const struct quote_selection_bank sel[] = {
		{ TPM2_ALG_SHA256, 0x0000ff },
		{ TPM2_ALG_SHA1, 0x800001 },
		{ TPM2_ALG_SHA384, 0x00f000 },
	};
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	uint8_t att[1024], sig[1024], pub[1024];
	size_t alen, slen, plen;
	struct tpm2_key *k = NULL;
	struct quote_info qi;
	struct soft_ak ak;
	struct err e = { 0 };

	fill_pcrs(pcrs);
	assert_int_equal(soft_ak_new(&ak, type, param, sig_alg, hash), 0);
	if (saltlen)
		ak.pss_saltlen = saltlen;
	assert_int_equal(soft_ak_public(&ak, pub, sizeof(pub), &plen), 0);
	if (tpm2_key_from_public(pub, plen, &k, &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(soft_quote(&ak, (const uint8_t *)"nonce", 5, sel, 3,
				    pcrs, att, sizeof(att), &alen, sig,
				    sizeof(sig), &slen),
			 0);
	if (quote_verify(k, att, alen, sig, slen, (const uint8_t *)"nonce", 5,
			 pcrs, &qi, &e) < 0)
		fail_msg("%s/%s: %s", tpm2_alg_name(sig_alg),
			 tpm2_alg_name(hash), err_str(&e));
	assert_int_equal(qi.n_banks, 3);
	assert_int_equal(qi.banks[1].mask, 0x800001);
	assert_int_equal(qi.sig_alg, sig_alg);
	/* bank order matters: swap two banks' values */
	quote_pcrs_bank(pcrs, TPM2_ALG_SHA1)->values[23][0] ^= 1;
	assert_int_equal(quote_verify(k, att, alen, sig, slen,
				      (const uint8_t *)"nonce", 5, pcrs, NULL,
				      NULL),
			 -EKEYREJECTED);
	quote_pcrs_bank(pcrs, TPM2_ALG_SHA1)->values[23][0] ^= 1;
	/* an unselected PCR does not matter */
	quote_pcrs_bank(pcrs, TPM2_ALG_SHA1)->values[5][0] ^= 1;
	assert_int_equal(quote_verify(k, att, alen, sig, slen,
				      (const uint8_t *)"nonce", 5, pcrs, NULL,
				      NULL),
			 0);
	sig[slen - 1] ^= 1;
	assert_int_equal(quote_verify(k, att, alen, sig, slen,
				      (const uint8_t *)"nonce", 5, pcrs, NULL,
				      NULL),
			 -EKEYREJECTED);
	tpm2_key_free(k);
	soft_ak_free(&ak);
	free(pcrs);
}

static void test_soft_schemes(void **state)
{
	static const uint16_t hashes[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256,
					   TPM2_ALG_SHA384, TPM2_ALG_SHA512 };

	for (size_t i = 0; i < 4; i++) {
		soft_roundtrip(TPM2_ALG_RSA, 2048, TPM2_ALG_RSASSA, hashes[i],
			       0);
		soft_roundtrip(TPM2_ALG_RSA, 2048, TPM2_ALG_RSAPSS, hashes[i],
			       RSA_PSS_SALTLEN_DIGEST);
		soft_roundtrip(TPM2_ALG_RSA, 2048, TPM2_ALG_RSAPSS, hashes[i],
			       RSA_PSS_SALTLEN_MAX);
		soft_roundtrip(TPM2_ALG_ECC, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA,
			       hashes[i], 0);
	}
	soft_roundtrip(TPM2_ALG_RSA, 3072, TPM2_ALG_RSASSA, TPM2_ALG_SHA384, 0);
	soft_roundtrip(TPM2_ALG_ECC, TPM2_ECC_NIST_P384, TPM2_ALG_ECDSA,
		       TPM2_ALG_SHA384, 0);
	soft_roundtrip(TPM2_ALG_ECC, TPM2_ECC_NIST_P521, TPM2_ALG_ECDSA,
		       TPM2_ALG_SHA512, 0);
}

static void test_scheme_mismatch(void **state)
{
	static const struct quote_selection_bank sel[] = {
		{ TPM2_ALG_SHA256, 0xffffff },
	};
	struct quote_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	uint8_t att[1024], sig[1024];
	size_t alen, slen;
	struct tpm2_key *k = NULL;
	struct soft_ak ak;
	struct err e = { 0 };

	fill_pcrs(pcrs);
	assert_int_equal(soft_ak_new(&ak, TPM2_ALG_RSA, 2048, TPM2_ALG_RSAPSS,
				     TPM2_ALG_SHA256),
			 0);
	assert_int_equal(soft_quote(&ak, NULL, 0, sel, 1, pcrs, att,
				    sizeof(att), &alen, sig, sizeof(sig),
				    &slen),
			 0);
	/* the public area says RSASSA: a PSS signature is refused */
	ak.pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
	assert_int_equal(tpm2_key_from_tpmt(&ak.pub, &k, NULL), 0);
	assert_int_equal(quote_verify(k, att, alen, sig, slen, NULL, 0, pcrs,
				      NULL, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "AK's scheme"));
	tpm2_key_free(k);
	/* a NULL scheme accepts whatever verifies */
	ak.pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	assert_int_equal(tpm2_key_from_tpmt(&ak.pub, &k, NULL), 0);
	assert_int_equal(quote_verify(k, att, alen, sig, slen, NULL, 0, pcrs,
				      NULL, NULL),
			 0);
	tpm2_key_free(k);
	/* an AK without the sign attribute */
	ak.pub.objectAttributes &= ~TPMA_OBJECT_SIGN_ENCRYPT;
	assert_int_equal(tpm2_key_from_tpmt(&ak.pub, &k, NULL), 0);
	assert_int_equal(quote_verify(k, att, alen, sig, slen, NULL, 0, pcrs,
				      NULL, NULL),
			 -EKEYREJECTED);
	tpm2_key_free(k);
	soft_ak_free(&ak);
	free(pcrs);
}

static TPMT_PUBLIC transport_key(void)
{
	struct soft_ak t;
	TPMT_PUBLIC p;

	assert_int_equal(soft_ak_new(&t, TPM2_ALG_RSA, 2048, TPM2_ALG_NULL,
				     TPM2_ALG_NULL),
			 0);
	p = t.pub;
	p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			     TPMA_OBJECT_SENSITIVEDATAORIGIN |
			     TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_DECRYPT;
	soft_ak_free(&t);
	return p;
}

static void test_certify_soft(void **state)
{
	TPMT_PUBLIC tk = transport_key(), other = transport_key();
	uint8_t att[1024], sig[1024], name[TPM2_NAME_MAX];
	size_t alen, slen, nlen;
	struct tpm2_key *k = NULL;
	struct quote_info qi;
	struct soft_ak ak;
	struct err e = { 0 };

	assert_int_equal(soft_ak_new(&ak, TPM2_ALG_ECC, TPM2_ECC_NIST_P256,
				     TPM2_ALG_ECDSA, TPM2_ALG_SHA256),
			 0);
	assert_int_equal(tpm2_key_from_tpmt(&ak.pub, &k, NULL), 0);
	assert_int_equal(tpm2_public_name(&tk, name, &nlen, NULL), 0);
	assert_int_equal(soft_certify(&ak, (const uint8_t *)"n", 1, name, nlen,
				      att, sizeof(att), &alen, sig, sizeof(sig),
				      &slen),
			 0);
	if (quote_verify_certify(k, att, alen, sig, slen, (const uint8_t *)"n",
				 1, &tk, &qi, &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(qi.name_len, nlen);
	assert_int_equal(quote_check_transport_key(&tk, NULL), 0);
	assert_int_equal(quote_verify_certify(k, att, alen, sig, slen,
					      (const uint8_t *)"n", 1, &other,
					      NULL, &e),
			 -EKEYREJECTED);
	memset(&e, 0, sizeof(e));
	assert_int_equal(quote_verify(k, att, alen, sig, slen,
				      (const uint8_t *)"n", 1, NULL, NULL, &e),
			 -EKEYREJECTED);
	assert_string_equal(e.msg, "quote: attestation type is 0x8017 "
				   "(certify), expected 0x8018");
	for (size_t i = 0; i < alen; i++) {
		att[i] ^= 0x10;
		assert_true(quote_verify_certify(k, att, alen, sig, slen,
						 (const uint8_t *)"n", 1, &tk,
						 NULL, NULL) < 0);
		att[i] ^= 0x10;
	}
	tpm2_key_free(k);
	soft_ak_free(&ak);
}

static void test_transport_attributes(void **state)
{
	static const uint32_t required[] = { TPMA_OBJECT_FIXEDTPM,
					     TPMA_OBJECT_FIXEDPARENT,
					     TPMA_OBJECT_SENSITIVEDATAORIGIN,
					     TPMA_OBJECT_DECRYPT };
	static const char *const names[] = { "fixedTPM", "fixedParent",
					     "sensitiveDataOrigin", "decrypt" };
	TPMT_PUBLIC tk = transport_key(), t;
	struct err e;

	assert_int_equal(quote_check_transport_key(&tk, NULL), 0);
	for (size_t i = 0; i < 4; i++) {
		t = tk;
		t.objectAttributes &= ~required[i];
		memset(&e, 0, sizeof(e));
		assert_int_equal(quote_check_transport_key(&t, &e),
				 -EKEYREJECTED);
		assert_non_null(strstr(e.msg, names[i]));
	}
	t = tk;
	t.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
	assert_int_equal(quote_check_transport_key(&t, NULL), -EKEYREJECTED);
	t = tk;
	t.objectAttributes |= TPMA_OBJECT_RESTRICTED;
	assert_int_equal(quote_check_transport_key(&t, NULL), -EKEYREJECTED);
	/* allowed extras */
	t = tk;
	t.objectAttributes |= TPMA_OBJECT_NODA | TPMA_OBJECT_ADMINWITHPOLICY;
	t.objectAttributes &= ~TPMA_OBJECT_USERWITHAUTH;
	assert_int_equal(quote_check_transport_key(&t, NULL), 0);
	/* not a usable key */
	t = tk;
	t.type = TPM2_ALG_KEYEDHASH;
	assert_true(quote_check_transport_key(&t, NULL) < 0);
	t = tk;
	t.unique.rsa.size = 128;
	assert_true(quote_check_transport_key(&t, NULL) < 0);
}

/* ---- keys and names ---- */

static void test_public_keys(void **state)
{
	struct soft_ak ak;
	EVP_PKEY *pk = NULL;
	TPMT_PUBLIC p;

	/* RSA exponent 0 means 65537; explicit 65537 gives the same key */
	assert_int_equal(soft_ak_new(&ak, TPM2_ALG_RSA, 2048, TPM2_ALG_RSASSA,
				     TPM2_ALG_SHA256),
			 0);
	p = ak.pub;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), 0);
	assert_int_equal(EVP_PKEY_eq(pk, ak.priv), 1);
	EVP_PKEY_free(pk);
	p.parameters.rsaDetail.exponent = 65537;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), 0);
	assert_int_equal(EVP_PKEY_eq(pk, ak.priv), 1);
	EVP_PKEY_free(pk);
	p.parameters.rsaDetail.exponent = 3;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), 0);
	assert_int_not_equal(EVP_PKEY_eq(pk, ak.priv), 1);
	EVP_PKEY_free(pk);
	p.parameters.rsaDetail.exponent = 4;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), -EBADMSG);
	p = ak.pub;
	p.parameters.rsaDetail.keyBits = 1024;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), -EOPNOTSUPP);
	soft_ak_free(&ak);

	/* ECC: a point off the curve is refused */
	assert_int_equal(soft_ak_new(&ak, TPM2_ALG_ECC, TPM2_ECC_NIST_P384,
				     TPM2_ALG_ECDSA, TPM2_ALG_SHA384),
			 0);
	p = ak.pub;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), 0);
	assert_int_equal(EVP_PKEY_eq(pk, ak.priv), 1);
	EVP_PKEY_free(pk);
	p.unique.ecc.y.buffer[10] ^= 1;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), -EBADMSG);
	p = ak.pub;
	p.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
	assert_int_equal(tpm2_public_to_pkey(&p, &pk, NULL), -EOPNOTSUPP);
	soft_ak_free(&ak);
}

/* ---- MakeCredential ---- */

static TPMT_PUBLIC ek_template(uint16_t type)
{
	struct soft_ak t;
	TPMT_PUBLIC p;

	assert_int_equal(soft_ak_new(&t, type,
				     type == TPM2_ALG_RSA ? 2048 :
							    TPM2_ECC_NIST_P256,
				     TPM2_ALG_NULL, TPM2_ALG_NULL),
			 0);
	p = t.pub;
	p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			     TPMA_OBJECT_SENSITIVEDATAORIGIN |
			     TPMA_OBJECT_ADMINWITHPOLICY |
			     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p.parameters.asymDetail.symmetric.algorithm = TPM2_ALG_AES;
	p.parameters.asymDetail.symmetric.keyBits.aes = 128;
	p.parameters.asymDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	p.parameters.asymDetail.scheme.scheme = TPM2_ALG_NULL;
	soft_ak_free(&t);
	return p;
}

static void test_credential(void **state)
{
	TPMT_PUBLIC rsa = ek_template(TPM2_ALG_RSA);
	TPMT_PUBLIC ecc = ek_template(TPM2_ALG_ECC), bad;
	uint8_t name[34] = { 0x00, 0x0b },
		secret[33] = "0123456789abcdef0123456789abcdef";
	struct credential c;
	struct err e = { 0 };
	uint8_t *blob = NULL;
	size_t blen;

	if (credential_make(&rsa, name, 34, secret, 32, &c, &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(c.id_object_len, 2 + 2 + 32 + 2 + 32);
	assert_int_equal(c.secret_len, 2 + 256);
	assert_int_equal((c.id_object[0] << 8) | c.id_object[1],
			 c.id_object_len - 2);
	assert_int_equal(credential_to_tpm2_tools(&c, &blob, &blen), 0);
	assert_int_equal(blen, 8 + c.id_object_len + c.secret_len);
	assert_memory_equal(blob, "\xba\xdc\xc0\xde\x00\x00\x00\x01", 8);
	free(blob);

	assert_int_equal(credential_make(&ecc, name, 34, secret, 16, &c, &e),
			 0);
	assert_int_equal(c.id_object_len, 2 + 2 + 32 + 2 + 16);
	assert_int_equal(c.secret_len, 2 + 2 + 32 + 2 + 32);

	/* refusals */
	assert_int_equal(credential_make(&rsa, name, 34, secret, 33, &c, NULL),
			 -EBADMSG);
	assert_int_equal(credential_make(&rsa, name, 34, secret, 0, &c, NULL),
			 -EBADMSG);
	assert_int_equal(credential_make(&rsa, name, 33, secret, 32, &c, NULL),
			 -EBADMSG);
	name[1] = 0x77;
	assert_int_equal(credential_make(&rsa, name, 34, secret, 32, &c, NULL),
			 -EBADMSG);
	name[1] = 0x0b;
	bad = rsa;
	bad.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	assert_int_equal(credential_make(&bad, name, 34, secret, 32, &c, NULL),
			 -EOPNOTSUPP);
	bad = rsa;
	bad.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_NULL;
	assert_int_equal(credential_make(&bad, name, 34, secret, 32, &c, NULL),
			 -EOPNOTSUPP);
	/* AES-256 (high-range templates) works */
	bad = ecc;
	bad.parameters.eccDetail.symmetric.keyBits.aes = 256;
	assert_int_equal(credential_make(&bad, name, 34, secret, 32, &c, NULL),
			 0);
}

static void test_kdfa(void **state)
{
	/* Two calls agree, labels and contexts separate outputs, and a
	 * longer output extends a shorter one (counter mode). */
	uint8_t k[32] = { 1 }, a[64], b[64], c[16];

	assert_int_equal(credential_kdfa(TPM2_ALG_SHA256, k, 32, "STORAGE",
					 (const uint8_t *)"n", 1, NULL, 0, a,
					 64),
			 0);
	assert_int_equal(credential_kdfa(TPM2_ALG_SHA256, k, 32, "STORAGE",
					 (const uint8_t *)"n", 1, NULL, 0, b,
					 64),
			 0);
	assert_memory_equal(a, b, 64);
	assert_int_equal(credential_kdfa(TPM2_ALG_SHA256, k, 32, "INTEGRITY",
					 (const uint8_t *)"n", 1, NULL, 0, b,
					 64),
			 0);
	assert_memory_not_equal(a, b, 64);
	/* L is part of the input: 16 bytes are not a prefix of 64 */
	assert_int_equal(credential_kdfa(TPM2_ALG_SHA256, k, 32, "STORAGE",
					 (const uint8_t *)"n", 1, NULL, 0, c,
					 16),
			 0);
	assert_memory_not_equal(a, c, 16);
	assert_int_equal(credential_kdfe(TPM2_ALG_SHA256, k, 32, "IDENTITY",
					 NULL, 0, NULL, 0, a, 32),
			 0);
	assert_int_equal(credential_kdfa(0x1234, k, 32, "X", NULL, 0, NULL, 0,
					 a, 32),
			 -EINVAL);
}

/* ---- EK certificates (chains are tested against swtpm's local CA) ---- */

static void test_ekcert_basic(void **state)
{
	struct ekcert_cas *cas = NULL;
	struct ekcert_info info;
	struct err e = { 0 };
	size_t clen, plen;
	uint8_t *cert = slurp(GCE "ak_cert.der", &clen);
	uint8_t *pub = slurp(GCE "ak_pub.TPMT_PUBLIC.bin", &plen);
	struct tpm2_key *win = load_key(WIN "AK.Public.bin");
	size_t anchors, inter;
	TPMT_PUBLIC tp;

	assert_int_equal(ekcert_cas_new(&cas, NULL), 0);
	/* no anchor yet */
	assert_int_equal(ekcert_verify(cas, cert, clen, 0, &info, &e), -ENOENT);
	assert_true(info.subject[0] || info.issuer[0]);
	/* a non-self-signed certificate is only an intermediate */
	assert_int_equal(ekcert_cas_add(cas, cert, clen, "ak_cert", NULL), 1);
	ekcert_cas_count(cas, &anchors, &inter);
	assert_int_equal(anchors, 0);
	assert_int_equal(inter, 1);
	assert_int_equal(ekcert_verify(cas, cert, clen, 0, NULL, NULL),
			 -ENOENT);
	/* garbage */
	assert_int_equal(ekcert_cas_add(cas, pub, plen, "junk", &e), -EBADMSG);
	assert_int_equal(ekcert_verify(cas, pub, plen, 0, NULL, NULL),
			 -EBADMSG);
	assert_int_equal(ekcert_verify(cas, cert, clen - 1, 0, NULL, NULL),
			 -EBADMSG);
	/* the GCE AK certificate certifies exactly this AK */
	assert_int_equal(tpm2_public_unmarshal(pub, plen, &tp, NULL), 0);
	assert_int_equal(ekcert_match_public(cert, clen, &tp, &e), 0);
	assert_int_equal(ekcert_match_public(cert, clen, &win->pub, NULL),
			 -EKEYREJECTED);
	ekcert_cas_free(cas);
	tpm2_key_free(win);
	free(cert);
	free(pub);
}

static uint8_t *fixture(const char *name, size_t *len)
{
	const char *dir = getenv("TPM_TEST_DATA");
	char path[1024];
	uint8_t *buf = NULL;
	struct err e = { 0 };

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/swtpm-localca/%s", dir, name);
	if (file_read(path, FILE_MAX_SIZE, &buf, len, &e) < 0)
		fail_msg("%s", err_str(&e));
	return buf;
}

/* 2026-11-23T00:22:00Z: one hour into the fixtures' validity. */
#define FIXTURE_TIME ((time_t)1795393320)

static void test_ekcert_chain(void **state)
{
	size_t rlen, ilen, clen, elen, plen;
	uint8_t *root = fixture("root.pem", &rlen);
	uint8_t *issuer = fixture("issuer.pem", &ilen);
	uint8_t *cert = fixture("ek-rsa.der", &clen);
	uint8_t *ecc = fixture("ek-ecc.der", &elen);
	uint8_t *pub = fixture("ek-rsa.pub", &plen);
	struct ekcert_cas *cas = NULL, *root_only = NULL;
	struct ekcert_info info;
	struct err e = { 0 };
	TPMT_PUBLIC ek;
	size_t a, i;

	assert_int_equal(ekcert_cas_new(&cas, NULL), 0);
	assert_int_equal(ekcert_cas_add(cas, issuer, ilen, "issuer", NULL), 1);
	/* intermediate only: no anchor */
	assert_int_equal(ekcert_verify(cas, cert, clen, FIXTURE_TIME, NULL, NULL),
			 -ENOENT);
	assert_int_equal(ekcert_cas_add(cas, root, rlen, "root", NULL), 1);
	ekcert_cas_count(cas, &a, &i);
	assert_int_equal(a, 1);
	assert_int_equal(i, 1);

	if (ekcert_verify(cas, cert, clen, FIXTURE_TIME, &info, &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(info.chain_len, 3);
	assert_string_equal(info.model, "swtpm");
	assert_string_equal(info.manufacturer, "id:00001014");
	assert_true(info.ek_eku);
	assert_int_equal(info.key_type, EVP_PKEY_RSA);
	if (ekcert_verify(cas, ecc, elen, FIXTURE_TIME, &info, &e) < 0)
		fail_msg("%s", err_str(&e));
	assert_int_equal(info.key_bits, 384);

	/* the key is the EK's, and only that one */
	assert_int_equal(tpm2_public_unmarshal(pub, plen, &ek, NULL), 0);
	assert_int_equal(ekcert_match_public(cert, clen, &ek, NULL), 0);
	assert_int_equal(ekcert_match_public(ecc, elen, &ek, NULL),
			 -EKEYREJECTED);

	/* validity is checked: before notBefore */
	memset(&e, 0, sizeof(e));
	assert_int_equal(ekcert_verify(cas, cert, clen, FIXTURE_TIME - 86400,
				       NULL, &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "not yet valid"));

	/* root alone: the intermediate is missing */
	assert_int_equal(ekcert_cas_new(&root_only, NULL), 0);
	assert_int_equal(ekcert_cas_add(root_only, root, rlen, "root", NULL), 1);
	memset(&e, 0, sizeof(e));
	assert_int_equal(ekcert_verify(root_only, cert, clen, FIXTURE_TIME, NULL,
				       &e),
			 -EKEYREJECTED);
	assert_non_null(strstr(e.msg, "unable to get local issuer"));

	/* every single-bit flip of the EK certificate is refused */
	for (size_t k = 0; k < clen; k++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			int r;

			cert[k] ^= (uint8_t)(1u << bit);
			r = ekcert_verify(cas, cert, clen, FIXTURE_TIME, NULL,
					  NULL);
			cert[k] ^= (uint8_t)(1u << bit);
			if (r != -EKEYREJECTED && r != -EBADMSG)
				fail_msg("flip at %zu bit %u: %d", k, bit, r);
		}
	}
	/* and of the intermediate: the chain no longer builds */
	for (size_t k = 0; k < ilen; k += 3) {
		struct ekcert_cas *c2 = NULL;

		issuer[k] ^= 0x04;
		assert_int_equal(ekcert_cas_new(&c2, NULL), 0);
		assert_int_equal(ekcert_cas_add(c2, root, rlen, "root", NULL), 1);
		(void)ekcert_cas_add(c2, issuer, ilen, "issuer", NULL);
		if (ekcert_verify(c2, cert, clen, FIXTURE_TIME, NULL, NULL) == 0)
			fail_msg("intermediate with a flip at %zu accepted", k);
		ekcert_cas_free(c2);
		issuer[k] ^= 0x04;
	}
	ekcert_cas_free(cas);
	ekcert_cas_free(root_only);
	free(root);
	free(issuer);
	free(cert);
	free(ecc);
	free(pub);
}

int main(void)
{
	/* libtss2-mu logs every malformed input; the flips make thousands */
	setenv("TSS2_LOG", "all+none", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gce_quotes),
		cmocka_unit_test(test_gce_flips),
		cmocka_unit_test(test_windows_quote),
		cmocka_unit_test(test_windows_creation),
		cmocka_unit_test(test_keylime),
		cmocka_unit_test(test_truncated_oversized),
		cmocka_unit_test(test_selection_coverage),
		cmocka_unit_test(test_soft_schemes),
		cmocka_unit_test(test_scheme_mismatch),
		cmocka_unit_test(test_certify_soft),
		cmocka_unit_test(test_transport_attributes),
		cmocka_unit_test(test_public_keys),
		cmocka_unit_test(test_credential),
		cmocka_unit_test(test_kdfa),
		cmocka_unit_test(test_ekcert_basic),
		cmocka_unit_test(test_ekcert_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
