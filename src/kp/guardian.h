/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guardians: a named pair of keys, one to receive wrapped transport keys
 * (encryption) and one to sign (key protectors, metadata). Owners keep
 * theirs in a private file; hgsd keeps its own in the store. Pure code: no
 * file or network I/O (callers read and write files).
 *
 * Algorithms (named, never defaulted; see docs/key-protection.md):
 *   GUARDIAN_EC_P256  encryption ECDH-ES+A256KW on P-256, signing ES256
 *   GUARDIAN_EC_P384  encryption ECDH-ES+A256KW on P-384, signing ES384
 *   GUARDIAN_RSA3072  encryption RSA-OAEP-256, signing PS256 (3072 bits)
 *   GUARDIAN_RSA4096  the same with 4096 bits
 * Input is allow-listed: a JWK whose "alg" is not one of these (RSA1_5,
 * ECDH-ES+A128KW, none, HS*, ...) or whose key does not fit it is refused.
 *
 * Identity: id = RFC 7638 thumbprint (SHA-256, base64url) of the public
 * encryption JWK; each JWK's "kid" is its own thumbprint. The JWE recipient
 * of a key protector names the guardian by kid = id.
 *
 * Private file (0600, the caller checks modes):
 *   {"type": "shieldvm-guardian-private", "version": 1, "name": "...",
 *    "id": "...", "algorithm": "ec-p256",
 *    "encryption": {private JWK}, "signing": {private JWK}}
 * Public metadata (what `guardian export` and GET /v1/guardian give): a JWS
 * in flattened JSON serialization, signed by the guardian's own signing key
 * (protected header {"alg", "kid", "cty": "shieldvm-guardian+json"}), whose
 * payload is the public JSON:
 *   {"type": "shieldvm-guardian", "version": 1, "name": "...", "id": "...",
 *    "algorithm": "ec-p256", "encryption": {public JWK},
 *    "signing": {public JWK}}
 * Self-signed: it proves possession and integrity, not identity. Whoever
 * imports metadata compares the id with one obtained out of band.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

#define GUARDIAN_NAME_MAX 127     /* bytes of a guardian's name (UTF-8) */
#define GUARDIAN_ID_MAX 64        /* thumbprint: 43 chars + NUL, rounded */
#define GUARDIAN_FILE_MAX 65536   /* private file or metadata we will parse */

enum guardian_alg {
	GUARDIAN_EC_P256,
	GUARDIAN_EC_P384,
	GUARDIAN_RSA3072,
	GUARDIAN_RSA4096,
};

/* "ec-p256", "ec-p384", "rsa3072", "rsa4096" <-> enum; -EINVAL otherwise. */
int guardian_alg_from_string(const char *s, enum guardian_alg *ret);
const char *guardian_alg_to_string(enum guardian_alg alg);

struct guardian {
	char name[GUARDIAN_NAME_MAX + 1];
	char id[GUARDIAN_ID_MAX];
	enum guardian_alg alg;
	json_t *enc;       /* JWK with kid, alg, use "enc"; private if has_private */
	json_t *sig;       /* JWK with kid, alg, use "sig"; private if has_private */
	bool has_private;
	/* internal to src/kp: enc and sig as OpenSSL keys (EVP_PKEY *),
	 * made once when the guardian is generated or parsed so that each
	 * operation does not convert the JWK again */
	void *enc_key, *sig_key;
};

void guardian_free(struct guardian *g); /* wipes and frees private JWKs */

/* A fresh guardian. name: 1..GUARDIAN_NAME_MAX bytes, no control chars. */
int guardian_generate(const char *name, enum guardian_alg alg,
		      struct guardian **ret, struct err *e);

/* The private file (text above) in and out. Parsing checks type, version,
 * allow-listed algorithms, that the two keys fit the algorithm, that both
 * are private, and that id and kids are the thumbprints. -EBADMSG on any
 * malformed input (the message says what), -EINVAL for a bad algorithm.
 * The returned text is a secret: the caller wipes it (explicit_bzero). */
int guardian_from_private_json(const char *text, size_t len,
			       struct guardian **ret, struct err *e);
int guardian_to_private_json(const struct guardian *g, char **ret_text,
			     struct err *e);

/* Public JSON object {type, version, name, id, algorithm, encryption,
 * signing} (no private members), new reference. */
json_t *guardian_public_json(const struct guardian *g);
/* From such an object (as embedded in a key protector's descriptor):
 * allow-list and thumbprint checks as above; private members refused. */
int guardian_from_public_json(const json_t *o, struct guardian **ret,
			      struct err *e);

/* Signed metadata (flattened JWS JSON text) of a guardian with its private
 * signing key; and its parse + self-signature check. */
int guardian_metadata(const struct guardian *g, char **ret_text,
		      struct err *e);
int guardian_from_metadata(const char *text, size_t len,
			   struct guardian **ret, struct err *e);

/* A guardian with only its public halves (e.g. the owner's view of itself
 * inside a descriptor). */
int guardian_public_copy(const struct guardian *g, struct guardian **ret,
			 struct err *e);

static inline void guardian_freep(struct guardian **g)
{
	if (*g)
		guardian_free(*g);
}
