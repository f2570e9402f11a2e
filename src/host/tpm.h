/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guarded host's TPM (tpm2-tss ESAPI). This module owns the ESYS
 * context: nothing else in shieldvm talks to the TPM. TSS2_RC codes become a
 * negative errno here, once, with Tss2_RC_Decode's text in the struct err.
 *
 * Every transient object and session a call creates is flushed before the
 * call returns (swtpm has no resource manager), so at most three objects are
 * loaded at once (EK, SRK or AK, and one more key).
 *
 * Key hierarchy (docs/host-tpm.md):
 *   EK   endorsement primary from a TCG EK Credential Profile template,
 *        re-created on demand (same template + same seed = same key);
 *   SRK  owner primary, ECC P-256 storage template (TCG Provisioning
 *        Guidance), re-created for each call that loads a key;
 *   AK   restricted signing key under the SRK, kept by the caller as blobs;
 *   transport key  decrypt-only key under the SRK, kept as blobs.
 * The owner and endorsement hierarchy authorizations are assumed empty (the
 * default on Linux hosts).
 *
 * Errors: -ENOENT (NV index or handle absent), -EKEYREJECTED (the TPM
 * refused a credential or ciphertext: integrity or value check), -EACCES
 * (authorization or policy failure), -EOPNOTSUPP (algorithm, bank or curve
 * the TPM lacks), -EAGAIN (TPM busy/retry after the retries we do), -ENOSPC
 * (TPM out of object or session memory), -EIO (TCTI), -EBADMSG (malformed
 * blob or TPM answer), -EPROTO (any other TPM error), -ENOMEM, -EINVAL.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/err.h"
#include "common/limits.h"

#define HOST_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"

struct host_tpm;

/* tcti: a tctildr string ("swtpm:host=127.0.0.1,port=2321",
 * "device:/dev/tpmrm0"); NULL means HOST_TPM_DEFAULT_TCTI. A TPM that was
 * never started up gets TPM2_Startup(CLEAR). Sets TSS2_LOG=all+NONE unless
 * TSS2_LOG is already set (tpm2-tss would log each failure a second time). */
int host_tpm_open(const char *tcti, struct host_tpm **ret, struct err *e);
/* Finalizes ESYS and the TCTI. NULL is fine. */
void host_tpm_close(struct host_tpm *t);

static inline void host_tpm_closep(struct host_tpm **t)
{
	host_tpm_close(*t);
}

/* ---- PCR banks ---------------------------------------------------------*/

/* The allocated PCR banks (TPM2_GetCapability PCRS, banks with at least one
 * PCR selected), as TPM_ALG_SHA1, _SHA256, ... in the TPM's order. */
int host_tpm_pcr_banks(struct host_tpm *t, uint16_t *algs, size_t max,
		       size_t *ret_n, struct err *e);

/* ---- Endorsement key ---------------------------------------------------*/

enum host_tpm_ek_type {
	HOST_TPM_EK_RSA2048,  /* template L-1, certificate NV 0x01c00002 */
	HOST_TPM_EK_ECC_P256, /* template L-2, certificate NV 0x01c0000a */
	HOST_TPM_EK_ECC_P384, /* template H-3, certificate NV 0x01c00016
			       * (what swtpm_setup 0.7 provisions for ECC) */
};

/* A TPM object's public part: marshalled TPM2B_PUBLIC and TPM name. */
struct host_tpm_public {
	uint8_t pub[sizeof(TPM2B_PUBLIC)];
	size_t pub_len;
	uint8_t name[TPM2_NAME_MAX];
	size_t name_len;
};

/* "rsa2048", "ecc-p256", "ecc-p384" <-> type; -EINVAL for others. */
int host_tpm_ek_type_from_string(const char *s, enum host_tpm_ek_type *ret);
const char *host_tpm_ek_type_to_string(enum host_tpm_ek_type type);

/* Create the EK from its standard template (TPM2_CreatePrimary in the
 * endorsement hierarchy) and return its public part; the EK is flushed. */
int host_tpm_ek_public(struct host_tpm *t, enum host_tpm_ek_type type,
		       struct host_tpm_public *ret, struct err *e);

/* The EK certificate from its NV index, read in chunks of at most
 * TPM_PT_NV_BUFFER_MAX. *ret is malloc'ed (DER, at most EKCERT_MAX_SIZE).
 * -ENOENT when the index is not defined. */
int host_tpm_ek_cert(struct host_tpm *t, enum host_tpm_ek_type type,
		     uint8_t **ret, size_t *ret_len, struct err *e);

/* ---- Keys under the SRK (AK, transport key) ----------------------------*/

enum host_tpm_key_type {
	HOST_TPM_KEY_RSA2048,
	HOST_TPM_KEY_ECC_P256,
};

int host_tpm_key_type_from_string(const char *s, enum host_tpm_key_type *ret);

/*
 * A key below the SRK as the TPM handed it out: the marshalled TPM2B_PRIVATE
 * (wrapped by the SRK: useless without this TPM's owner seed) and
 * TPM2B_PUBLIC, plus its name. This is what the agent persists.
 */
struct host_tpm_key {
	uint8_t priv[sizeof(TPM2B_PRIVATE)];
	size_t priv_len;
	struct host_tpm_public pub;
};

/* Attestation key: restricted signing key, RSASSA-SHA256 or ECDSA-SHA256,
 * fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign. */
int host_tpm_ak_create(struct host_tpm *t, enum host_tpm_key_type type,
		       struct host_tpm_key *ret, struct err *e);

/* Host transport key: decrypt-only, not restricted, scheme NULL (RSA: the
 * caller picks OAEP at decrypt time; ECC: ECDH_ZGen),
 * fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|decrypt. */
int host_tpm_transport_key_create(struct host_tpm *t,
				  enum host_tpm_key_type type,
				  struct host_tpm_key *ret, struct err *e);

/*
 * A key as one byte string for a state file: "SVTK" magic, UINT16 version 1,
 * then the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE (all big-endian).
 * Loading checks the structures unmarshal exactly and recomputes the name;
 * it does not touch the TPM (a blob from another TPM fails at Esys_Load).
 */
#define HOST_TPM_KEY_FILE_MAX \
	(4 + 2 + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE))
int host_tpm_key_to_bytes(const struct host_tpm_key *k, uint8_t *buf,
			  size_t max, size_t *ret_len, struct err *e);
int host_tpm_key_from_bytes(const uint8_t *buf, size_t len,
			    struct host_tpm_key *ret, struct err *e);

/* ---- Enrollment --------------------------------------------------------*/

/* Largest secret ActivateCredential can return (a TPM2B_DIGEST). */
#define HOST_TPM_SECRET_MAX sizeof(TPMU_HA)

/*
 * TPM2_ActivateCredential of (id_object: marshalled TPM2B_ID_OBJECT,
 * enc_secret: marshalled TPM2B_ENCRYPTED_SECRET), as credential_make()
 * produces them, for ak under the EK of type ek. The EK is authorized by
 * PolicySecret(TPM_RH_ENDORSEMENT) (L templates) or by its empty auth value
 * (H templates, which set userWithAuth). The secret goes to secret; the
 * caller wipes it. -EKEYREJECTED when the credential was not made for this
 * EK and this AK's name.
 */
int host_tpm_activate_credential(struct host_tpm *t, enum host_tpm_ek_type ek,
				 const struct host_tpm_key *ak,
				 const uint8_t *id_object, size_t id_object_len,
				 const uint8_t *enc_secret,
				 size_t enc_secret_len,
				 uint8_t secret[HOST_TPM_SECRET_MAX],
				 size_t *ret_len, struct err *e);

/* ---- Attestation -------------------------------------------------------*/

/* A signed attestation: the marshalled TPMS_ATTEST (TPM2B_ATTEST's bytes,
 * exactly what was signed) and the marshalled TPMT_SIGNATURE. */
struct host_tpm_attestation {
	uint8_t attest[TPM_MAX_ATTEST_SIZE];
	size_t attest_len;
	uint8_t sig[TPM_MAX_SIGNATURE_SIZE];
	size_t sig_len;
};

struct host_tpm_quote {
	struct host_tpm_attestation att;
	/* PCR values read with TPM2_PCR_Read, same selection as the quote
	 * (every selected bank, PCRs 0-23); they reproduce its pcrDigest. */
	struct quote_pcrs pcrs;
};

/*
 * TPM2_Quote with ak over PCRs 0-23 of each bank in banks (TPM_ALG_*; n=0:
 * every allocated bank this build can hash), qualifyingData = nonce
 * (1..TPM_MAX_NONCE_SIZE bytes), plus the PCR values. The values are read
 * before the quote; if the PCR update counter moved or the values do not
 * reproduce the quote's pcrDigest, the whole thing is retried (a few times,
 * then -EAGAIN). -EOPNOTSUPP for a bank that is not allocated.
 */
int host_tpm_quote(struct host_tpm *t, const struct host_tpm_key *ak,
		   const uint16_t *banks, size_t n_banks, const uint8_t *nonce,
		   size_t nonce_len, struct host_tpm_quote *ret, struct err *e);

/* TPM2_Certify of key by ak, qualifyingData = nonce. */
int host_tpm_certify(struct host_tpm *t, const struct host_tpm_key *ak,
		     const struct host_tpm_key *key, const uint8_t *nonce,
		     size_t nonce_len, struct host_tpm_attestation *ret,
		     struct err *e);

/* ---- Transport key operations (issue 4) --------------------------------*/

/* TPM2_RSA_Decrypt, RSAES-OAEP with SHA-256 (MGF1 SHA-256), empty label.
 * out receives the plaintext (a secret: the caller wipes it).
 * -EKEYREJECTED when the ciphertext does not decrypt. */
int host_tpm_rsa_decrypt(struct host_tpm *t, const struct host_tpm_key *key,
			 const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t max, size_t *ret_len, struct err *e);

/* TPM2_ECDH_ZGen: peer is an uncompressed SEC1 point (0x04 || X || Y) on the
 * key's curve; z receives the shared secret's x-coordinate (coordinate size
 * bytes, a secret: the caller wipes it). */
int host_tpm_ecdh_zgen(struct host_tpm *t, const struct host_tpm_key *key,
		       const uint8_t *peer, size_t peer_len, uint8_t *z,
		       size_t max, size_t *ret_len, struct err *e);

/* ---- Raw PCR access (tools, tests) -------------------------------------*/

/* TPM2_PCR_Extend of PCR pcr with the digests given (one per bank, TPM_ALG
 * id and the digest of that algorithm's size). */
int host_tpm_pcr_extend(struct host_tpm *t, unsigned pcr, unsigned n,
			const uint16_t *algs, const uint8_t *const *digests,
			struct err *e);
