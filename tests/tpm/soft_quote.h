/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A software attestation key for tests and benchmarks: OpenSSL keys dressed
 * as TPM objects, producing quotes in the exact TPM wire format (TPMS_ATTEST
 * and TPMT_SIGNATURE marshalled by libtss2-mu), signed as a TPM signs them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/quote.h"

struct soft_ak {
	EVP_PKEY *priv;
	TPMT_PUBLIC pub;
	uint16_t sig_alg; /* TPM2_ALG_RSASSA, _RSAPSS, _ECDSA */
	uint16_t hash;	  /* TPM2_ALG_SHA256, ... */
	int pss_saltlen;  /* RSAPSS: RSA_PSS_SALTLEN_DIGEST or _MAX */
};

/* RSA keys: param = bits; ECC keys: param = TPM2_ECC_NIST_P256 etc. */
int soft_ak_new(struct soft_ak *ak, uint16_t type, uint16_t param,
		uint16_t sig_alg, uint16_t hash);
void soft_ak_free(struct soft_ak *ak);

/* Marshalled TPM2B_PUBLIC of the AK. */
int soft_ak_public(const struct soft_ak *ak, uint8_t *buf, size_t max,
		   size_t *ret_len);

/* TPMT_SIGNATURE over msg. */
int soft_sign(const struct soft_ak *ak, const uint8_t *msg, size_t len,
	      uint8_t *sig, size_t max, size_t *ret_len);

/* A TPM2_Quote over the selection (one bank per entry) of pcrs, with nonce
 * as extraData; pcrDigest uses the AK's hash. */
int soft_quote(const struct soft_ak *ak, const uint8_t *nonce, size_t nlen,
	       const struct quote_selection_bank *sel, unsigned n_sel,
	       const struct quote_pcrs *pcrs, uint8_t *attest, size_t amax,
	       size_t *alen, uint8_t *sig, size_t smax, size_t *slen);

/* A TPM2_Certify of an object with the given name. */
int soft_certify(const struct soft_ak *ak, const uint8_t *nonce, size_t nlen,
		 const uint8_t *name, size_t name_len, uint8_t *attest,
		 size_t amax, size_t *alen, uint8_t *sig, size_t smax,
		 size_t *slen);
