/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM 2.0 structures from untrusted bytes (libtss2-mu), TPM public areas as
 * OpenSSL keys, and TPM object names. Pure code: bytes in, verdict out.
 *
 * Every unmarshal function checks the size bound from common/limits.h before
 * parsing and requires the input to be consumed exactly: trailing bytes are
 * an error, not something to ignore.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

/* The one place TSS2_RC becomes an errno (TSS2_RC_SUCCESS -> 0). */
int tpm2_rc_to_errno(TSS2_RC rc);

/* Readable names for the algorithm and ECC curve ids we meet ("rsassa",
 * "sha256", "nist_p256"); "unknown" otherwise. Never NULL. */
const char *tpm2_alg_name(uint16_t alg);
const char *tpm2_curve_name(uint16_t curve);

/* Unmarshal exactly len bytes. 0, -EMSGSIZE (over the limit) or -EBADMSG. */
int tpm2_attest_unmarshal(const uint8_t *buf, size_t len, TPMS_ATTEST *ret,
			  struct err *e);
int tpm2_signature_unmarshal(const uint8_t *buf, size_t len,
			     TPMT_SIGNATURE *ret, struct err *e);
int tpm2_tpmt_public_unmarshal(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret,
			       struct err *e);
int tpm2_tpm2b_public_unmarshal(const uint8_t *buf, size_t len,
				TPMT_PUBLIC *ret, struct err *e);
/* Either of the two above: a TPM2B_PUBLIC is recognised by its leading
 * big-endian size being exactly len - 2 (a TPMT_PUBLIC starts with its type,
 * which can never equal that for a well-formed area). */
int tpm2_public_unmarshal(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret,
			  struct err *e);
/* TPMS_CREATION_DATA (certify-creation evidence). */
int tpm2_creation_data_unmarshal(const uint8_t *buf, size_t len,
				 TPMS_CREATION_DATA *ret, struct err *e);

/* Marshal a TPMT_PUBLIC (no size prefix) into buf. */
int tpm2_public_marshal(const TPMT_PUBLIC *pub, uint8_t *buf, size_t max,
			size_t *ret_len, struct err *e);

/* Longest TPM name: 2-byte nameAlg + SHA-512 digest. */
#define TPM2_NAME_MAX (2 + 64)

/* Name of an object: nameAlg (big-endian) || H_nameAlg(TPMT_PUBLIC). */
int tpm2_public_name(const TPMT_PUBLIC *pub, uint8_t name[TPM2_NAME_MAX],
		     size_t *ret_len, struct err *e);

/* The public key of an RSA (any exponent; 0 means 65537, at least 2048
 * bits) or ECC (NIST P-256/P-384/P-521) area as an OpenSSL key. Accepted
 * keys are kept by content (keycache.h): the same fields again give a new
 * reference to the same, already checked key; the caller frees it as
 * usual and must not modify it. */
int tpm2_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret, struct err *e);

/*
 * A verification key prepared once and used for many verifications: the
 * parsed public area (when known), its OpenSSL key and its name. Read-only
 * after creation, so one key may serve several threads at once.
 */
struct tpm2_key {
	EVP_PKEY *pkey;
	int has_public; /* pub and name are valid */
	TPMT_PUBLIC pub;
	uint8_t name[TPM2_NAME_MAX];
	size_t name_len;
};

/* From a marshalled TPM2B_PUBLIC or TPMT_PUBLIC. */
int tpm2_key_from_public(const uint8_t *buf, size_t len, struct tpm2_key **ret,
			 struct err *e);
/* From a parsed public area. */
int tpm2_key_from_tpmt(const TPMT_PUBLIC *pub, struct tpm2_key **ret,
		       struct err *e);
/* From a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"): no TPM
 * public area, so no name and no scheme check. RSA >= 2048 or EC only. */
int tpm2_key_from_pem(const uint8_t *buf, size_t len, struct tpm2_key **ret,
		      struct err *e);
void tpm2_key_free(struct tpm2_key *k);
