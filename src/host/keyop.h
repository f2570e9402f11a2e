/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host transport key as a seal_open key operation (src/kp/seal.h): the
 * private-key step of opening a sealed JWE runs inside the TPM
 * (TPM2_RSA_Decrypt with OAEP-SHA256, or TPM2_ECDH_ZGen), so the key never
 * exists outside it.
 */
#pragma once

#include "common/err.h"
#include "host/tpm.h"
#include "kp/seal.h"

struct host_keyop {
	struct seal_keyop op; /* pass &k->op to seal_open */
	struct host_tpm *tpm;
	const struct host_tpm_key *key;
};

/* op points into k; k must outlive its use. */
void host_keyop_init(struct host_keyop *k, struct host_tpm *t,
		     const struct host_tpm_key *key);

/* RFC 7638 thumbprint (SHA-256, base64url) of a TPM key's public JWK: what
 * a health token's cnf and a sealed JWE's kid name. */
int host_tpm_key_thumbprint(const struct host_tpm_key *k, char out[64],
			    struct err *e);

/* The public JWK of a TPM key (new reference). */
int host_tpm_key_jwk(const struct host_tpm_key *k, json_t **ret, struct err *e);
