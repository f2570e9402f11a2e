/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's secrets file (docs/host-agent.md, "VM key directory"; docs/vm.md):
 * the VM's random root key (every per-purpose key is derived from it:
 * src/vm/keys.h) and what the launcher recorded at the VM's last clean
 * stop (the SHA-256 of its vTPM state files and of vars.enc), created at
 * its first start and encrypted under a key derived from the VM's current
 * transport key (TK), bound to the key protector (KP) of that TK by
 * generation and KP digest. Pure code, no I/O.
 *
 * Layout (big-endian), version 2, HOST_SECRETS_FILE_SIZE bytes:
 *   "SVSC"  u16 version = 2  u16 count = HOST_SECRETS_N
 *   u64 generation  KP digest (32)  GCM IV (12)
 *   ciphertext (HOST_SECRETS_PLAIN_SIZE)  GCM tag (16)
 * plaintext: root key (32) | vTPM digest (32) | VARS digest (32) |
 *            u32 state (enum host_secrets_state)
 * AES-256-GCM, key = HKDF-SHA256(ikm = TK, salt = empty,
 * info = "shieldvm secrets v1", 32 bytes) (the "sealing key"), AAD =
 * everything before the ciphertext (so the binding to generation and
 * digest is authenticated), a fresh random IV for every write.
 *
 * Version 1 (issue 4, HOST_SECRETS_V1_FILE_SIZE bytes) had three random
 * keys (vTPM, UEFI variables, disk) as its plaintext and no digests; it is
 * still read: the root key is HKDF-SHA256(ikm = the 96 key bytes, info =
 * "shieldvm secrets v1 to v2 root") and the state HOST_SECRETS_FRESH.
 * Every write is version 2 (the upgrade happens at the next start).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "kp/kp.h"

#define HOST_SECRETS_KEY_SIZE 32
#define HOST_SECRETS_DIGEST_SIZE 32
#define HOST_SECRETS_N 3 /* 32-byte items: root key, two digests */
#define HOST_SECRETS_V1_N 3 /* version 1: three keys */
#define HOST_SECRETS_PLAIN_SIZE (HOST_SECRETS_N * 32 + 4)
#define HOST_SECRETS_HEADER_SIZE (4 + 2 + 2 + 8 + KP_DIGEST_SIZE + 12)
#define HOST_SECRETS_FILE_SIZE \
	(HOST_SECRETS_HEADER_SIZE + HOST_SECRETS_PLAIN_SIZE + 16)
#define HOST_SECRETS_V1_FILE_SIZE \
	(HOST_SECRETS_HEADER_SIZE + HOST_SECRETS_V1_N * 32 + 16)
#define HOST_SECRETS_MAX_FILE_SIZE HOST_SECRETS_FILE_SIZE

/* What the digests mean. */
enum host_secrets_state {
	HOST_SECRETS_FRESH = 0,	  /* never stopped cleanly: no digests */
	HOST_SECRETS_STOPPED = 1, /* digests of the last clean stop */
	HOST_SECRETS_RUNNING = 2, /* digests of the last clean stop, and a
				     start happened since without a clean
				     stop (crash, kill, power loss) */
};

/* The plaintext: lives in locked memory (host/secmem.h). */
struct host_secrets {
	uint8_t root[HOST_SECRETS_KEY_SIZE];
	uint8_t vtpm_digest[HOST_SECRETS_DIGEST_SIZE];
	uint8_t vars_digest[HOST_SECRETS_DIGEST_SIZE];
	uint32_t state; /* enum host_secrets_state */
};

/* What a secrets file is bound to (read without any key). */
struct host_secrets_binding {
	uint64_t generation;
	uint8_t kp_digest[KP_DIGEST_SIZE];
	uint16_t version; /* set by host_secrets_binding (1 or 2) */
};

/* Fresh random keys. */
int host_secrets_generate(struct host_secrets *s, struct err *e);

/* The binding of a file; -EBADMSG when it is not a version 1 or 2
 * secrets file of the right size. */
int host_secrets_binding(const uint8_t *buf, size_t len,
			 struct host_secrets_binding *ret, struct err *e);

/* Decrypt with tk; the file must be bound to exactly *b (-ESTALE when it
 * is bound to something else, -EKEYREJECTED when the tag does not verify:
 * another TK, or a modified file; -EBADMSG for a state out of range). A
 * version 1 file is upgraded in *ret (see above). */
int host_secrets_open(const uint8_t *buf, size_t len,
		      const uint8_t tk[KP_TK_SIZE],
		      const struct host_secrets_binding *b,
		      struct host_secrets *ret, struct err *e);

/* Encrypt s under tk bound to *b into out (HOST_SECRETS_FILE_SIZE,
 * version 2; b->version is ignored). */
int host_secrets_seal(const struct host_secrets *s,
		      const uint8_t tk[KP_TK_SIZE],
		      const struct host_secrets_binding *b,
		      uint8_t out[HOST_SECRETS_FILE_SIZE], struct err *e);

/* The sealing key of a TK (secret: keep it in locked memory, wipe it),
 * and sealing with it: what a launcher that must re-seal at shutdown
 * keeps instead of the TK itself. */
int host_secrets_sealing_key(const uint8_t tk[KP_TK_SIZE],
			     uint8_t out[HOST_SECRETS_KEY_SIZE],
			     struct err *e);
int host_secrets_seal_with(const struct host_secrets *s,
			   const uint8_t key[HOST_SECRETS_KEY_SIZE],
			   const struct host_secrets_binding *b,
			   uint8_t out[HOST_SECRETS_FILE_SIZE], struct err *e);

/* A non-secret fingerprint of the VM's keys: base64url of
 * HMAC-SHA256(key = root key, "shieldvm secrets fingerprint v1"). */
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
