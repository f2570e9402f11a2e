/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's secrets file (docs/host-agent.md, "VM key directory"): the random
 * per-purpose keys a VM uses (vTPM state, UEFI variable store, disks),
 * created at its first start and encrypted under a key derived from the
 * VM's current transport key (TK), bound to the key protector (KP) of that
 * TK by generation and KP digest. Pure code, no I/O.
 *
 * Layout (big-endian), HOST_SECRETS_FILE_SIZE bytes:
 *   "SVSC"  u16 version = 1  u16 count = HOST_SECRETS_N
 *   u64 generation  KP digest (32)  GCM IV (12)
 *   ciphertext (count * 32)  GCM tag (16)
 * AES-256-GCM, key = HKDF-SHA256(ikm = TK, salt = empty,
 * info = "shieldvm secrets v1", 32 bytes), AAD = everything before the
 * ciphertext (so the binding to generation and digest is authenticated),
 * a fresh random IV for every write.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "kp/kp.h"

#define HOST_SECRETS_KEY_SIZE 32
enum host_secret_id {
	HOST_SECRET_VTPM,      /* swtpm state encryption */
	HOST_SECRET_UEFI_VARS, /* OVMF variable store */
	HOST_SECRET_DISK,      /* LUKS volume key of the VM's disks */
	HOST_SECRETS_N,
};
#define HOST_SECRETS_HEADER_SIZE (4 + 2 + 2 + 8 + KP_DIGEST_SIZE + 12)
#define HOST_SECRETS_FILE_SIZE \
	(HOST_SECRETS_HEADER_SIZE + HOST_SECRETS_N * HOST_SECRETS_KEY_SIZE + 16)

/* The plaintext: lives in locked memory (host/secmem.h). */
struct host_secrets {
	uint8_t key[HOST_SECRETS_N][HOST_SECRETS_KEY_SIZE];
};

/* What a secrets file is bound to (read without any key). */
struct host_secrets_binding {
	uint64_t generation;
	uint8_t kp_digest[KP_DIGEST_SIZE];
};

/* Fresh random keys. */
int host_secrets_generate(struct host_secrets *s, struct err *e);

/* The binding of a file; -EBADMSG when it is not a version 1 secrets file
 * of the right size. */
int host_secrets_binding(const uint8_t *buf, size_t len,
			 struct host_secrets_binding *ret, struct err *e);

/* Decrypt with tk; the file must be bound to exactly *b (-ESTALE when it
 * is bound to something else, -EKEYREJECTED when the tag does not verify:
 * another TK, or a modified file). */
int host_secrets_open(const uint8_t *buf, size_t len,
		      const uint8_t tk[KP_TK_SIZE],
		      const struct host_secrets_binding *b,
		      struct host_secrets *ret, struct err *e);

/* Encrypt s under tk bound to *b into out (HOST_SECRETS_FILE_SIZE). */
int host_secrets_seal(const struct host_secrets *s,
		      const uint8_t tk[KP_TK_SIZE],
		      const struct host_secrets_binding *b,
		      uint8_t out[HOST_SECRETS_FILE_SIZE], struct err *e);

/* A non-secret fingerprint of the keys: base64url of
 * HMAC-SHA256(key = all keys, "shieldvm secrets fingerprint v1"). */
int host_secrets_fingerprint(const struct host_secrets *s, char out[48],
			     struct err *e);

/* A non-secret fingerprint of a TK: base64url of
 * HMAC-SHA256(key = TK, "shieldvm tk fingerprint") (what `shieldvm host
 * unwrap` prints; an owner recovering the TK offline can compare). */
int host_tk_fingerprint(const uint8_t tk[KP_TK_SIZE], char out[48],
			struct err *e);

/* HKDF-SHA256(ikm, salt = empty, info) to out (secret: the caller wipes). */
int host_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *info,
		     uint8_t *out, size_t out_len, struct err *e);
