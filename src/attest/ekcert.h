/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endorsement key certificates: chain validation against a configured set
 * of TPM-vendor CAs, and matching the certified key against a TPM public
 * area. Pure code: the caller reads the files and hands over their bytes.
 *
 * CA set: every certificate added is sorted by what it is. A self-signed
 * certificate is a trust anchor; any other certificate is an intermediate,
 * offered to the chain builder but never trusted by itself (so a vendor
 * intermediate is only useful together with its root). PEM inputs may hold
 * several certificates.
 *
 * Validation is OpenSSL's X509_verify_cert with every signature and every
 * validity period checked (at the current time, or a given one), depth at
 * most EKCERT_MAX_CHAIN_DEPTH. TCG quirks real EK certificates have are
 * tolerated, and only these:
 *   - an empty subject (the identity is in a critical subjectAltName
 *     directoryName with TPM manufacturer/model/version, 2.23.133.2.1-3);
 *   - critical extensions OpenSSL does not know, when every such extension
 *     is TCG-defined (2.23.133.*) or subjectDirectoryAttributes (2.5.29.9,
 *     which carries the TPM specification version) -- on the EK
 *     certificate itself only, not on CAs;
 *   - extendedKeyUsage tcg-kp-EKCertificate (2.23.133.8.1). When an EK
 *     certificate carries an extendedKeyUsage at all, it must include it.
 *
 * Errors: -EBADMSG / -EMSGSIZE (not a certificate, too big), -EKEYREJECTED
 * (chain, signature, validity, extension or key mismatch), -ENOENT (no
 * trust anchor was configured), -ENOMEM, -EIO.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

struct ekcert_cas;

int ekcert_cas_new(struct ekcert_cas **ret, struct err *e);
void ekcert_cas_free(struct ekcert_cas *cas);
/* Add the certificates in buf (DER, or PEM with one or more). label names
 * the source in messages. Returns the number added (>= 1) or -errno. */
int ekcert_cas_add(struct ekcert_cas *cas, const uint8_t *buf, size_t len,
		   const char *label, struct err *e);
/* Counts of anchors and intermediates held. */
void ekcert_cas_count(const struct ekcert_cas *cas, size_t *anchors,
		      size_t *intermediates);

struct ekcert_info {
	char subject[256]; /* RFC 2253 one-line, may be "" */
	char issuer[256];
	char manufacturer[64]; /* from the SAN directoryName */
	char model[64];
	char version[64];
	char not_before[32]; /* "YYYY-MM-DDTHH:MM:SSZ" */
	char not_after[32];
	int key_type; /* EVP_PKEY_RSA or EVP_PKEY_EC */
	int key_bits;
	bool ek_eku;   /* carries tcg-kp-EKCertificate */
	int chain_len; /* leaf to anchor, inclusive */
};

/* Validate cert (DER or PEM, at most EKCERT_MAX_SIZE) against cas.
 * at == 0 means now. info may be NULL; it is filled as far as parsing got,
 * even on rejection. */
int ekcert_verify(const struct ekcert_cas *cas, const uint8_t *cert, size_t len,
		  time_t at, struct ekcert_info *info, struct err *e);

/* The certified public key. */
int ekcert_public_key(const uint8_t *cert, size_t len, EVP_PKEY **ret,
		      struct err *e);

/* The certificate's key equals the TPM public area's key (same RSA modulus
 * and exponent, or same EC curve and point). */
int ekcert_match_public(const uint8_t *cert, size_t len, const TPMT_PUBLIC *pub,
			struct err *e);
