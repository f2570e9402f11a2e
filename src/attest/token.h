/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health tokens: JWTs (JWS compact serialization, ES256) whose claims follow
 * the IETF RATS EAT Attestation Result (EAR) profile, plus an RFC 7800 "cnf"
 * claim holding the host transport key as a JWK, so a stolen token is
 * useless without the TPM that holds that key.
 *
 * Claims issued (JSON):
 *   "eat_profile": "tag:github.com,2023:veraison/ear"
 *   "iat", "exp": NumericDate
 *   "ear.verifier-id": { "developer": "shieldvm", "build": "hgsd <version>" }
 *   "ear.raw-evidence"? not included (size)
 *   "submods": { "shieldvm-host": {
 *       "ear.status": "affirming" | "warning" | "contraindicated",
 *       "ear.trustworthiness-vector": { "instance-identity": N,
 *           "configuration": N, "executables": N, "hardware": N,
 *           "runtime-opaque"? ... },   (AR4SI values: 2 affirming,
 *                                       32 warning, 96 contraindicated)
 *       "ear.appraisal-policy-id": "<policy id>",
 *       "shieldvm.attestation-mode": "tpm" | "host-key",
 *       "shieldvm.host": "<host name>",
 *       "shieldvm.baseline": "<matched baseline>" } }
 *   "cnf": { "jwk": { transport key, public, with "kid" = RFC 7638
 *            thumbprint } }
 *   "jti": random id (audit cross-reference)
 * Header: { "alg": "ES256", "typ": "JWT", "kid": "<signing key thumbprint>" }
 *
 * Verification accepts only ES256 (ES384 is not implemented yet), checks
 * the kid against the JWK Set, the signature, exp/iat with a small skew, the
 * profile, and returns the parsed claims.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/err.h"

#define TOKEN_EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define TOKEN_DEFAULT_LIFETIME (8 * 3600)
#define TOKEN_MAX_SIZE 16384      /* a compact JWT we will parse */
#define TOKEN_MAX_CLOCK_SKEW 60   /* seconds */
#define TOKEN_MAX_JWKS_KEYS 64    /* keys of a JWK Set searched for a kid */
#define TOKEN_KEY_PEM_MAX 16384   /* a PEM signing key we will parse */
#define TOKEN_RSA_MIN_BITS 2048   /* RSA transport keys in cnf */
#define TOKEN_RSA_MAX_BITS 16384
#define TOKEN_EC_MAX_COORD 48     /* P-384: largest cnf curve */
#define TOKEN_VERIFIER_DEVELOPER "shieldvm"

enum token_status {
	TOKEN_AFFIRMING,
	TOKEN_WARNING,
	TOKEN_CONTRAINDICATED,
};

enum token_mode {
	TOKEN_MODE_TPM,
	TOKEN_MODE_HOST_KEY,
};

struct token_claims {
	int64_t iat, exp;
	enum token_status status;
	enum token_mode mode;
	char host[128];
	char policy_id[128];
	char baseline[128];
	char verifier_build[64];
	char jti[64];
	json_t *cnf_jwk; /* owned; the transport key as a public JWK */
};

void token_claims_clear(struct token_claims *c); /* frees cnf_jwk */

/* A signing key: an EC P-256 private key and its public JWK with "kid". */
struct token_key {
	EVP_PKEY *pkey;
	json_t *jwk;   /* public JWK incl. kid, alg "ES256", use "sig" */
	char kid[64];  /* RFC 7638 thumbprint, base64url */
};

int token_key_generate(struct token_key **ret, struct err *e);
/* PEM (PKCS#8) private key in, key out; and back. */
int token_key_from_pem(const char *pem, size_t len, struct token_key **ret,
		       struct err *e);
int token_key_to_pem(const struct token_key *k, char **ret_pem, struct err *e);
void token_key_free(struct token_key *k);

/* Public JWK of an EVP_PKEY (EC P-256/384/521 or RSA), kid = thumbprint. */
int token_jwk_from_pkey(EVP_PKEY *pkey, json_t **ret, struct err *e);
/* The same JWK from the public numbers (big-endian, leading zeros
 * optional) of a key the caller has already accepted, without OpenSSL:
 * crv "P-256", "P-384" or "P-521". */
int token_jwk_from_ec(const char *crv, const uint8_t *x, size_t x_len, const uint8_t *y,
		      size_t y_len, json_t **ret, struct err *e);
int token_jwk_from_rsa(const uint8_t *n, size_t n_len, const uint8_t *exp, size_t exp_len,
		       json_t **ret, struct err *e);
/* RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. */
int token_jwk_thumbprint(const json_t *jwk, char out[64], struct err *e);

/* A fresh jti: 128 random bits, base64url (22 characters). 0 or -EIO. */
int token_new_jti(char out[64]);

/* Signs the claim set above. c->jti is used when set (so the caller can
 * record it before issuing, e.g. with token_new_jti); when empty a random
 * one is generated. c->cnf_jwk must be a public EC P-256/P-384 or RSA
 * (>= 2048 bits) JWK; its "kid" in the token is its RFC 7638 thumbprint.
 * -EINVAL for claims that cannot be issued. */
int token_issue(const struct token_key *key, const struct token_claims *c,
		char **ret_jwt, struct err *e);

/* jwks: {"keys": [...]} of acceptable signing keys. Errors: -EBADMSG
 * malformed, -EKEYREJECTED bad signature / unknown kid / wrong alg,
 * -ETIME expired or not yet valid, -EINVAL a JWK Set without "keys".
 * *ret (may be NULL) is written only on success; clear it with
 * token_claims_clear. */
int token_verify(const json_t *jwks, const char *jwt, int64_t now,
		 struct token_claims *ret, struct err *e);
