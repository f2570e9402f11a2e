/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The standard EK templates of the TCG EK Credential Profile that shieldvm
 * uses: the host creates its EK from them, and hgsd derives from an EK
 * certificate's key the EK public area (hence the EK name) a TPM makes
 * from the same template.
 */
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

enum ektemplate {
	EKTEMPLATE_RSA2048_L1,  /* RSA 2048, AES-128-CFB, SHA-256, PolicyA */
	EKTEMPLATE_ECC_P256_L2, /* NIST P-256, AES-128-CFB, SHA-256, PolicyA */
	EKTEMPLATE_ECC_P384_H3, /* NIST P-384, AES-256-CFB, SHA-384, PolicyB,
				 * userWithAuth (what swtpm_setup 0.7 certifies) */
};

/* "L-1", "L-2", "H-3". */
const char *ektemplate_name(enum ektemplate t);

/* The template as TPM2_CreatePrimary takes it: L templates carry an
 * all-zero unique of the key's size, H templates an empty one. */
void ektemplate_public(enum ektemplate t, TPMT_PUBLIC *ret);

/* The EK public area a TPM derives from the template that fits pk (an RSA
 * 2048 key with exponent 65537, or an EC P-256/P-384 key), with pk as its
 * unique. -EINVAL when pk fits no template. */
int ektemplate_from_pkey(EVP_PKEY *pk, TPMT_PUBLIC *ret, enum ektemplate *ret_t);
