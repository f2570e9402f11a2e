/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the TPM 2.0 evidence code (src/attest/tpm2.c,
 * quote.c, credential.c, ekcert.c). One input carries every part:
 *
 *   u8     flags     bit 0: also run MakeCredential on the public area
 *   u8     n         nonce length (clamped to TPM_MAX_NONCE_SIZE)
 *   n      nonce
 *   u16be  a, a bytes   TPMS_ATTEST  (also: TPMS_CREATION_DATA, a name)
 *   u16be  s, s bytes   TPMT_SIGNATURE (also: a tpm2-tools PCR file, secret)
 *   rest               TPM2B_PUBLIC or TPMT_PUBLIC (AK, certified key, EK)
 *
 * Lengths that run past the end are clamped, so every input is usable.
 * The whole input is also offered as an EK certificate. Verdicts do not
 * matter here; memory safety and termination do.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/credential.h"
#include "attest/ekcert.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/limits.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct quote_pcrs pcrs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint16_t algs[] = { 0x0004, 0x000B, 0x000C, 0x000D };

	(void)argc;
	(void)argv;
	/* libtss2-mu logs each malformed structure. */
	setenv("TSS2_LOG", "all+none", 1);
	for (size_t i = 0; i < 4; i++) {
		struct quote_pcr_bank *b = quote_pcrs_add_bank(&pcrs, algs[i]);

		b->mask = 0xffffff;
		memset(b->values, (int)i, sizeof(b->values));
	}
	return 0;
}

struct part {
	const uint8_t *p;
	size_t n;
};

static struct part take(const uint8_t **data, size_t *size, size_t want)
{
	struct part r = { *data, want < *size ? want : *size };

	*data += r.n;
	*size -= r.n;
	return r;
}

static size_t be16(const uint8_t **data, size_t *size)
{
	struct part p = take(data, size, 2);

	return p.n == 2 ? ((size_t)p.p[0] << 8) | p.p[1] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *all = data, *d = data;
	size_t all_size = size, left = size;
	struct tpm2_key *key = NULL;
	struct part flags, nonce, att, sig, pub;
	struct quote_info qi;
	struct err e = { 0 };
	TPMT_PUBLIC tp;
	size_t nlen;

	if (!pcrs.n_banks)
		LLVMFuzzerInitialize(NULL, NULL);

	flags = take(&d, &left, 1);
	nlen = take(&d, &left, 1).n ? d[-1] : 0;
	if (nlen > TPM_MAX_NONCE_SIZE)
		nlen = TPM_MAX_NONCE_SIZE;
	nonce = take(&d, &left, nlen);
	att = take(&d, &left, be16(&d, &left));
	sig = take(&d, &left, be16(&d, &left));
	pub = take(&d, &left, left);

	if (tpm2_key_from_public(pub.p, pub.n, &key, &e) == 0) {
		quote_verify(key, att.p, att.n, sig.p, sig.n, nonce.p, nonce.n,
			     &pcrs, &qi, &e);
		quote_verify(key, att.p, att.n, sig.p, sig.n, nonce.p, nonce.n,
			     NULL, &qi, &e);
		quote_verify_certify(key, att.p, att.n, sig.p, sig.n, nonce.p,
				     nonce.n, &key->pub, &qi, &e);
		quote_verify_creation(key, att.p, att.n, sig.p, sig.n, nonce.p,
				      nonce.n, &key->pub, sig.p, sig.n, &qi,
				      &e);
		quote_check_transport_key(&key->pub, &e);
		tpm2_key_free(key);
	}
	if (tpm2_public_unmarshal(pub.p, pub.n, &tp, &e) == 0 && flags.n &&
	    (flags.p[0] & 1)) {
		struct credential c;

		credential_make(&tp, att.p, att.n, sig.p, sig.n, &c, &e);
	}

	/* tpm2-tools PCR files, against the quote's selection if it parses */
	{
		TPMS_ATTEST a;
		struct quote_pcrs *p = calloc(1, sizeof(*p));
		struct quote_selection_bank sel[TPM2_NUM_PCR_BANKS];
		unsigned n = 0;

		if (p && tpm2_attest_unmarshal(att.p, att.n, &a, &e) == 0) {
			const TPML_PCR_SELECTION *ps =
				&a.attested.quote.pcrSelect;

			for (unsigned i = 0;
			     i < ps->count && i < TPM2_NUM_PCR_BANKS; i++) {
				const TPMS_PCR_SELECTION *s =
					&ps->pcrSelections[i];
				uint32_t m = 0;

				for (unsigned j = 0;
				     j < s->sizeofSelect && j < 4; j++)
					m |= (uint32_t)s->pcrSelect[j]
					     << (8 * j);
				sel[n].alg = s->hash;
				sel[n++].mask = m;
			}
		}
		if (p)
			quote_pcrs_from_tpm2_tools(sig.p, sig.n, sel, n, p, &e);
		free(p);
	}
	{
		TPMS_CREATION_DATA cd;
		TPMT_SIGNATURE ts;

		tpm2_creation_data_unmarshal(att.p, att.n, &cd, &e);
		tpm2_signature_unmarshal(sig.p, sig.n, &ts, &e);
	}

	/* the whole input as an EK certificate (no anchors: parse + info) */
	{
		struct ekcert_cas *cas = NULL;
		struct ekcert_info info;

		if (ekcert_cas_new(&cas, &e) == 0) {
			ekcert_cas_add(cas, all, all_size, "fuzz", &e);
			ekcert_verify(cas, all, all_size, 0, &info, &e);
			ekcert_cas_free(cas);
		}
	}
	return 0;
}
