/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key protectors (KP): a VM's transport key (TK, 32 random bytes) wrapped
 * for each guardian that may run the VM, bound to the VM's id, security
 * policy and configuration digest, and signed. Pure code, no I/O.
 *
 * Format (JSON text, docs/key-protection.md is the full reference):
 *
 *   {"type": "shieldvm-kp", "version": 1,
 *    "descriptor": <flattened JWS, signed by the owner's signing key>,
 *    "wrap":       <JWE, general JSON serialization>,
 *    "seal":       <flattened JWS, signed by the owner or a listed guardian>}
 *
 * descriptor: what the owner decided, fixed across generations. Protected
 *   header {"alg", "kid": owner signing kid, "cty":
 *   "shieldvm-kp-descriptor+json"}; payload
 *     {"vm_id": "<RFC 4122 UUID, lower case>",
 *      "policy": "shielded" | "encryption-supported",
 *      "config_digest": "<base64url SHA-256>"   (optional),
 *      "owner": <guardian public JSON>,
 *      "guardians": [<guardian public JSON>, ...]   (1..KP_MAX_GUARDIANS,
 *                                                    distinct ids, owner
 *                                                    not among them),
 *      "iat": <NumericDate>}
 *   The signature is checked with owner.signing; its kid must match.
 *
 * wrap: protected header {"enc": "A256GCM", "cty": "shieldvm-tk+json",
 *   "svm.gen": <generation>}; one recipient per guardian (owner first, then
 *   descriptor.guardians in order), per-recipient header {"alg":
 *   "ECDH-ES+A256KW" | "RSA-OAEP-256", "kid": <guardian id>, "epk"...}.
 *   Plaintext {"tk": "<base64url, 32 bytes>", "vm_id", "policy",
 *   "generation", "config_digest"?}; every field must equal the
 *   descriptor's / header's. Only A256GCM and the two key-management
 *   algorithms are accepted (never RSA1_5 or library defaults).
 *
 * seal: binds one generation of wrap to the descriptor. Protected header
 *   {"alg", "kid": signing kid of the owner or of a descriptor guardian,
 *   "cty": "shieldvm-kp-seal+json"}; payload {"vm_id", "generation",
 *   "digest": "<base64url KP digest>"}.
 *
 * KP digest (identifies one KP; what hgsd records at commit):
 *   SHA-256 over  descriptor.protected "." descriptor.payload "."
 *   descriptor.signature "|" wrap.protected "." wrap.iv "." wrap.ciphertext
 *   "." wrap.tag   (the base64url strings exactly as they appear).
 *   Recipients' encrypted keys are not covered: changing one only makes
 *   that recipient unable to decrypt.
 *
 * Generations: the owner creates generation 0 (kp_create); each start on
 * a guarded host has hgsd roll it (kp_roll: fresh TK, generation + 1,
 * sealed by hgsd's guardian); kp_grant/kp_revoke by the owner keep the TK
 * and also move to generation + 1.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "kp/guardian.h"

#define KP_TK_SIZE 32
#define KP_DIGEST_SIZE 32
#define KP_MAX_GUARDIANS 16       /* fabric guardians besides the owner */
#define KP_MAX_SIZE (1 << 20)     /* a KP we will parse, bytes */
#define KP_VM_ID_LEN 36           /* canonical UUID text */
#define KP_MAX_GENERATION ((uint64_t)1 << 53) /* exact in JSON numbers */

enum kp_policy {
	KP_POLICY_SHIELDED,
	KP_POLICY_ENCRYPTION_SUPPORTED,
};

/* "shielded", "encryption-supported" <-> enum; -EINVAL otherwise. */
int kp_policy_from_string(const char *s, enum kp_policy *ret);
const char *kp_policy_to_string(enum kp_policy p);

struct kp;  /* a parsed KP whose descriptor and seal signatures verified */

/*
 * Parse and verify the signatures (descriptor by its owner, seal by the
 * owner or a listed guardian, seal digest = computed KP digest, seal and
 * header generation and vm_id agree). Nothing is decrypted. Errors:
 * -EBADMSG malformed (the message names the member), -EKEYREJECTED a
 * signature that does not verify or a signer not in the descriptor,
 * -EINVAL an algorithm outside the allow-list, -E2BIG over a limit.
 */
int kp_parse(const char *text, size_t len, struct kp **ret, struct err *e);
/*
 * kp_parse of a KP that is already a JSON value (e.g. a member of a request
 * body), with the same checks and errors: root must come from a parser
 * that refuses duplicate names (JSON_REJECT_DUPLICATES), its compact text
 * must be at most KP_MAX_SIZE bytes (-E2BIG; counted, not written) and it
 * must nest at most as deep as kp_parse allows. The KP keeps a reference
 * to root, which the caller must not change while the KP lives.
 */
int kp_parse_json(const json_t *root, struct kp **ret, struct err *e);
void kp_free(struct kp *kp);

static inline void kp_freep(struct kp **kp)
{
	if (*kp)
		kp_free(*kp);
}

/* Read-only views of a parsed KP (valid while kp lives). */
const char *kp_vm_id(const struct kp *kp);
enum kp_policy kp_policy(const struct kp *kp);
uint64_t kp_generation(const struct kp *kp);
/* NULL when the KP binds no configuration digest. */
const uint8_t *kp_config_digest(const struct kp *kp);
const uint8_t *kp_digest(const struct kp *kp);       /* KP_DIGEST_SIZE */
const struct guardian *kp_owner(const struct kp *kp); /* public */
size_t kp_guardian_count(const struct kp *kp);
const struct guardian *kp_guardian(const struct kp *kp, size_t i);
/* Guardian id of the seal's signer (the owner's or a guardian's). */
const char *kp_sealed_by(const struct kp *kp);
int64_t kp_created(const struct kp *kp);             /* descriptor iat */
/* Is there a wrap recipient for guardian id (kid)? */
bool kp_has_recipient(const struct kp *kp, const char *guardian_id);

/*
 * Decrypt the TK as recipient `me` (private; the owner or one of the
 * descriptor's guardians, matched by id). The plaintext's fields must equal
 * the descriptor's and header's. tk is a secret: the caller wipes it.
 * -ENOKEY: no recipient for me; -EKEYREJECTED: decryption failed
 * (tampered ciphertext, header or encrypted key).
 */
int kp_unwrap(const struct kp *kp, const struct guardian *me,
	      uint8_t tk[KP_TK_SIZE], struct err *e);

/*
 * A new KP, generation `generation`, sealed by the owner (private).
 * guardians: public fabric guardians (1..KP_MAX_GUARDIANS, distinct, not
 * the owner). config_digest: 32 bytes or NULL. vm_id: canonical UUID.
 * *ret_text is JSON text (malloc'ed).
 */
int kp_create(const struct guardian *owner,
	      const struct guardian *const *guardians, size_t n_guardians,
	      const char *vm_id, enum kp_policy policy,
	      const uint8_t *config_digest, const uint8_t tk[KP_TK_SIZE],
	      uint64_t generation, int64_t now, char **ret_text, struct err *e);

/*
 * The next generation of kp: same descriptor, wrapped anew to every
 * recipient with next_tk, sealed by `signer` (private; must be the owner
 * or a descriptor guardian). -EOVERFLOW at KP_MAX_GENERATION.
 */
int kp_roll(const struct kp *kp, const struct guardian *signer,
	    const uint8_t next_tk[KP_TK_SIZE], char **ret_text,
	    struct err *e);
/*
 * kp_roll giving the next KP as JSON (what kp_roll writes as text) and its
 * KP digest (what kp_parse would compute from it), so that a caller that
 * puts the KP into a JSON answer neither writes nor parses it again. The
 * value shares the descriptor with kp's JSON: treat both as read-only.
 */
int kp_roll_json(const struct kp *kp, const struct guardian *signer,
		 const uint8_t next_tk[KP_TK_SIZE], json_t **ret,
		 uint8_t ret_digest[KP_DIGEST_SIZE], struct err *e);

/* Owner edits (owner private; tk from kp_unwrap as the owner): the same
 * TK, generation + 1, a new descriptor with the guardian added (-EEXIST if
 * present, -E2BIG beyond KP_MAX_GUARDIANS) or removed by id (-ENOENT if
 * absent; -EINVAL if it would leave no guardian). -EKEYREJECTED when owner
 * is not this KP's owner or tk is not its TK (checked by unwrapping). */
int kp_grant(const struct kp *kp, const struct guardian *owner,
	     const uint8_t tk[KP_TK_SIZE], const struct guardian *add,
	     int64_t now, char **ret_text, struct err *e);
int kp_revoke(const struct kp *kp, const struct guardian *owner,
	      const uint8_t tk[KP_TK_SIZE], const char *guardian_id,
	      int64_t now, char **ret_text, struct err *e);

/*
 * The KP digest of KP text WITHOUT verifying anything (no signatures, no
 * seal): only for a KP this process has just made (e.g. hgsd putting the
 * digest of kp_roll's output in its response), where a full kp_parse would
 * verify two signatures it has just made. -EBADMSG if the members the
 * digest covers are missing.
 */
int kp_digest_unverified(const char *text, size_t len,
			 uint8_t out[KP_DIGEST_SIZE], struct err *e);

/* base64url text of a KP digest (43 chars + NUL). */
void kp_digest_text(const uint8_t d[KP_DIGEST_SIZE], char out[48]);
