/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification of TPM 2.0 attestations signed by an attestation key (AK):
 * TPM2_Quote, TPM2_Certify and TPM2_CertifyCreation. Pure code.
 *
 * Return values: 0 when the evidence is accepted; otherwise a negative errno
 * and one line in the struct err:
 *   -EBADMSG, -EMSGSIZE  the input is malformed (does not unmarshal, too big)
 *   -EOPNOTSUPP          an algorithm or key we do not accept
 *   -EKEYREJECTED        the evidence was judged and rejected: bad signature,
 *                        wrong magic or type, nonce mismatch, pcrDigest
 *                        mismatch, PCR not covered by the supplied values,
 *                        wrong attested name, object attributes refused
 *   -ENOMEM, -EIO        internal failure
 *
 * Signatures accepted: RSASSA-PKCS1-v1_5, RSASSA-PSS (any salt length, so
 * both the TPM conventions -- salt = digest length and salt = maximum -- are
 * accepted; PSS is secure for every salt length) and ECDSA, with SHA-1,
 * SHA-256, SHA-384 or SHA-512. When the AK's public area names a signing
 * scheme (as a restricted AK's must), the signature must use that scheme and
 * hash. The signature covers the raw TPMS_ATTEST bytes exactly as given.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/tpm2.h"
#include "common/err.h"
#include "common/limits.h"

#define QUOTE_NUM_PCRS 24u /* PC Client PCRs 0..23 */
#define QUOTE_MAX_BANKS EVENTLOG_MAX_BANKS
#define QUOTE_MAX_DIGEST 64u

/*
 * PCR values the verifier believes in, per bank: typically the result of an
 * event log replay, or the values the host reported. Bank order does not
 * matter; the quote's own selection order is what gets hashed. A quote that
 * selects a PCR whose bit is clear in mask (or a bank that is absent) is
 * rejected: the supplied values must cover the whole selection.
 */
struct quote_pcr_bank {
	uint16_t alg;  /* TPM_ALG_SHA1, TPM_ALG_SHA256, ... */
	uint32_t mask; /* bit i set: values[i] is PCR i */
	uint8_t values[QUOTE_NUM_PCRS][QUOTE_MAX_DIGEST];
};

struct quote_pcrs {
	unsigned n_banks;
	struct quote_pcr_bank banks[QUOTE_MAX_BANKS];
};

/* Find a bank by algorithm; NULL if absent. */
struct quote_pcr_bank *quote_pcrs_bank(struct quote_pcrs *pcrs, uint16_t alg);
/* Find or append a bank; NULL when all QUOTE_MAX_BANKS are in use. */
struct quote_pcr_bank *quote_pcrs_add_bank(struct quote_pcrs *pcrs,
					   uint16_t alg);

struct quote_selection_bank {
	uint16_t alg;
	uint32_t mask; /* bit i: PCR i selected */
};

/* What a verified attestation says, for callers and for --json. */
struct quote_info {
	uint16_t type;	   /* TPM2_ST_ATTEST_* */
	uint16_t sig_alg;  /* TPM2_ALG_RSASSA, _RSAPSS, _ECDSA */
	uint16_t sig_hash; /* TPM2_ALG_SHA256, ... */
	uint8_t signer[sizeof(TPMU_NAME)]; /* qualifiedSigner */
	size_t signer_len;
	uint64_t clock; /* clockInfo */
	uint32_t reset_count;
	uint32_t restart_count;
	bool safe;
	uint64_t firmware_version;

	/* TPM2_ST_ATTEST_QUOTE */
	unsigned n_banks;
	struct quote_selection_bank banks[TPM2_NUM_PCR_BANKS];
	uint8_t pcr_digest[QUOTE_MAX_DIGEST];
	size_t pcr_digest_len;
	bool pcr_digest_checked; /* false only if pcrs was NULL */

	/* TPM2_ST_ATTEST_CERTIFY (name) and _CREATION (objectName) */
	uint8_t name[sizeof(TPMU_NAME)];
	size_t name_len;
	uint8_t creation_hash[QUOTE_MAX_DIGEST];
	size_t creation_hash_len;
	bool creation_hash_checked;
};

/*
 * Verify a TPM2_Quote: signature by ak over attest, TPM_GENERATED_VALUE,
 * type TPM_ST_ATTEST_QUOTE, extraData == nonce (same length, constant-time
 * compare), and pcrDigest == H_sig(selected PCR values in selection order:
 * banks in the order of the quote's TPML_PCR_SELECTION, PCRs ascending)
 * where H_sig is the signature's hash.
 *
 * pcrs may be NULL only when the caller checks info->pcr_digest itself;
 * info->pcr_digest_checked then stays false. info may be NULL.
 */
int quote_verify(const struct tpm2_key *ak, const uint8_t *attest,
		 size_t attest_len, const uint8_t *sig, size_t sig_len,
		 const uint8_t *nonce, size_t nonce_len,
		 const struct quote_pcrs *pcrs, struct quote_info *info,
		 struct err *e);

/*
 * Verify a TPM2_Certify: signature by ak, magic, type TPM_ST_ATTEST_CERTIFY,
 * nonce, and attested name == name of key (nameAlg || H(TPMT_PUBLIC)).
 * The key's attributes are a separate question: see quote_check_*_key().
 */
int quote_verify_certify(const struct tpm2_key *ak, const uint8_t *attest,
			 size_t attest_len, const uint8_t *sig, size_t sig_len,
			 const uint8_t *nonce, size_t nonce_len,
			 const TPMT_PUBLIC *key, struct quote_info *info,
			 struct err *e);

/*
 * Verify a TPM2_CertifyCreation: signature by ak, magic, type
 * TPM_ST_ATTEST_CREATION, nonce, objectName == name of key and, when
 * creation_data is given (a marshalled TPMS_CREATION_DATA), creationHash ==
 * H_nameAlg(creation_data) with key's nameAlg.
 */
int quote_verify_creation(const struct tpm2_key *ak, const uint8_t *attest,
			  size_t attest_len, const uint8_t *sig, size_t sig_len,
			  const uint8_t *nonce, size_t nonce_len,
			  const TPMT_PUBLIC *key, const uint8_t *creation_data,
			  size_t creation_data_len, struct quote_info *info,
			  struct err *e);

/* The signature check alone (no magic/type/nonce checks). */
int quote_check_signature(const struct tpm2_key *ak, const uint8_t *msg,
			  size_t msg_len, const TPMT_SIGNATURE *sig,
			  struct err *e);

/* pcrDigest for a selection: out holds h's size. -EKEYREJECTED when pcrs
 * does not cover the selection. */
int quote_pcr_digest(uint16_t hash_alg, const struct quote_selection_bank *sel,
		     unsigned n_sel, const struct quote_pcrs *pcrs,
		     uint8_t *out, size_t *ret_len, struct err *e);

/* Every bit of required must be set and every bit of forbidden clear in
 * pub->objectAttributes; the message names the first offending attribute. */
int quote_check_attributes(const TPMT_PUBLIC *pub, uint32_t required,
			   uint32_t forbidden, struct err *e);

/*
 * The host transport key (DESIGN.md flow 3/4): a TPM-resident key that hgsd
 * wraps the VM transport key to, and that only this TPM can use.
 *   required:  fixedTPM, fixedParent, sensitiveDataOrigin, decrypt
 *   forbidden: sign (one purpose only), restricted (a restricted decryption
 *              key is a storage parent: it cannot RSA_Decrypt/ECDH_ZGen a
 *              wrapped secret), encryptedDuplication is irrelevant once
 *              fixedParent is set and is not checked
 *   allowed:   userWithAuth, adminWithPolicy, noDA, stClear
 *   type:      RSA (>= 2048 bits) or ECC (NIST P-256/384/521).
 */
#define QUOTE_TRANSPORT_KEY_REQUIRED                      \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_DECRYPT)
#define QUOTE_TRANSPORT_KEY_FORBIDDEN \
	(TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED)
int quote_check_transport_key(const TPMT_PUBLIC *pub, struct err *e);

/* "sha256:{0,1,2}+sha1:{7}" into buf (always NUL-terminated). */
void quote_format_selection(const struct quote_selection_bank *sel,
			    unsigned n_sel, char *buf, size_t size);

/*
 * PCR values as written by tpm2_quote -o / tpm2_pcrread -o:
 *   -F serialized: TPML_PCR_SELECTION (C struct, little-endian, 132 bytes),
 *                  UINT32 count, count x TPML_DIGEST (C struct, 532 bytes);
 *   -F values:     the selected digests concatenated in selection order,
 *                  which needs the quote's selection (sel) to be read.
 * The format is recognised by its exact size. Results are added to pcrs.
 */
int quote_pcrs_from_tpm2_tools(const uint8_t *buf, size_t len,
			       const struct quote_selection_bank *sel,
			       unsigned n_sel, struct quote_pcrs *pcrs,
			       struct err *e);
