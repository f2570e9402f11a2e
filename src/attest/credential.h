/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM2_MakeCredential in software (TPM 2.0 Part 1, "Credential Protection"
 * and Annex B/C; Part 3 TPM2_MakeCredential). hgsd uses it to enroll an AK:
 * only the TPM holding the EK's private part, and only for an object with
 * the given name, can TPM2_ActivateCredential the result.
 *
 *   seed      RSA EK: random, nameAlg-digest bytes, RSA-OAEP(nameAlg, MGF1
 *             nameAlg, label "IDENTITY\0") -> encrypted secret.
 *             ECC EK: ephemeral key on the EK's curve; Z = ECDH x-coordinate;
 *             seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x);
 *             encrypted secret = the ephemeral TPMS_ECC_POINT.
 *   symKey    KDFa(nameAlg, seed, "STORAGE", name, "", EK symmetric keyBits)
 *   encIdentity  AES-CFB(symKey, IV 0)(TPM2B_DIGEST(credential))
 *   HMACkey   KDFa(nameAlg, seed, "INTEGRITY", "", "", nameAlg bits)
 *   outerHMAC HMAC-nameAlg(HMACkey, encIdentity || name)
 *   result    TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity),
 *             TPM2B_ENCRYPTED_SECRET(encrypted secret)
 *
 * The EK must be a restricted decryption (storage) key with an AES-CFB
 * symmetric definition (the TCG EK templates: AES-128 for the low range,
 * AES-256 for the high range), RSA >= 2048 or ECC NIST P-256/P-384/P-521.
 * Seeds, derived keys and the ECDH secret are wiped before returning.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

struct credential {
	uint8_t id_object[sizeof(TPM2B_ID_OBJECT)]; /* marshalled */
	size_t id_object_len;
	uint8_t secret[sizeof(TPM2B_ENCRYPTED_SECRET)]; /* marshalled */
	size_t secret_len;
};

/*
 * name: the object's TPM name (nameAlg || digest), e.g. the AK's.
 * credential: 1 .. digest size of the EK's nameAlg bytes (the TPM refuses
 * longer ones). 0, -EBADMSG (bad name or credential), -EOPNOTSUPP (EK not
 * usable), -ENOMEM, -EIO.
 */
int credential_make(const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_len,
		    const uint8_t *credential, size_t credential_len,
		    struct credential *out, struct err *e);

/*
 * The file tpm2_makecredential -o writes and tpm2_activatecredential -i
 * reads: magic 0xBADCC0DE, version 1 (both UINT32 big-endian), then the
 * marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
 * *ret is malloc'ed.
 */
#define CREDENTIAL_TPM2_TOOLS_MAGIC 0xBADCC0DEu
#define CREDENTIAL_TPM2_TOOLS_VERSION 1u
int credential_to_tpm2_tools(const struct credential *c, uint8_t **ret,
			     size_t *ret_len);

/* The KDFs, exported for tests (SP 800-108 counter / SP 800-56A concat as
 * the TPM uses them; labels get their terminating NUL). */
int credential_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len,
		    const char *label, const uint8_t *ctx_u, size_t ctx_u_len,
		    const uint8_t *ctx_v, size_t ctx_v_len, uint8_t *out,
		    size_t out_len);
int credential_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len,
		    const char *label, const uint8_t *party_u, size_t u_len,
		    const uint8_t *party_v, size_t v_len, uint8_t *out,
		    size_t out_len);
