/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's key-encryption key (KEK, docs/hgsd.md "Keys at rest"). With one
 * configured ([keys] kek_file), the private parts of the token signing keys
 * and guardian keys, and the nonce key, are stored sealed under it
 * (AES-256-GCM, the row they belong to as associated data), so that the
 * store, or a backup of it, holds no usable secret without the KEK. The KEK
 * is kept apart from the store: a file read before hgsd drops privileges,
 * typically a systemd credential that systemd itself keeps encrypted with
 * the node's TPM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KEK_SIZE 32
#define KEK_ID_LEN 16		  /* hex characters */
#define KEK_PREFIX "kek1:"	  /* a sealed value starts with it */
#define KEK_FILE_MAX 128	  /* 32 raw bytes or 64 hex digits, and a newline */

struct kek;

/* Read the KEK from path: exactly 32 bytes, or 64 hex digits with an
 * optional newline. The file must be a regular file that neither group nor
 * others may read or write. The key is held in a locked page that core
 * dumps leave out. */
int kek_load(const char *path, struct kek **ret, struct err *e);
void kek_free(struct kek *k);

/* Lock the KEK's pages (and its previous KEK's) again, best effort:
 * memory locks do not pass to a child of fork(), such as the daemon. */
void kek_lock(struct kek *k);

/* A non-secret name of the KEK: the first 8 bytes of
 * SHA-256("shieldvm hgsd kek id" || KEK), in hex. */
const char *kek_id(const struct kek *k);

/* A rotation ([keys] old_kek_file): values sealed under previous (which k
 * now owns) still open, reported as not sealed (*ret_sealed false) so that
 * the caller seals them again under k. -EINVAL: the same key. */
int kek_set_previous(struct kek *k, struct kek *previous, struct err *e);
const struct kek *kek_previous(const struct kek *k); /* or NULL */

/* Does this stored value look sealed (it starts with KEK_PREFIX)? */
bool kek_is_sealed(const uint8_t *stored, size_t len);

/*
 * Seal len bytes for storage in the row aad names ("signing_key:KID",
 * "guardian_key:ID", "setting:NAME"): "kek1:<kek id>:<base64url(iv |
 * ciphertext | tag)>", NUL-terminated (*ret_len does not count the NUL).
 * Without a KEK (k NULL) the result is a copy of the bytes, NUL-terminated.
 * The caller wipes and frees *ret.
 */
int kek_seal(const struct kek *k, const char *aad, const uint8_t *plain, size_t len, char **ret,
	     size_t *ret_len, struct err *e);

/*
 * Open what kek_seal wrote for the same aad. *ret_sealed says whether it
 * was sealed under k itself: a value that is not sealed (stored before a
 * KEK was configured) comes back as it is, and one sealed under k's
 * previous KEK opened, both with *ret_sealed false. Errors: -ENOKEY sealed but no KEK is configured;
 * -EKEYREJECTED sealed under another KEK, or it does not open (changed, or
 * moved from another row); -EBADMSG not a well-formed sealed value. *ret is
 * NUL-terminated (not counted); the caller wipes and frees it.
 */
int kek_open(const struct kek *k, const char *aad, const uint8_t *stored, size_t len,
	     uint8_t **ret, size_t *ret_len, bool *ret_sealed, struct err *e);

/* The same for NUL-terminated text (private PEM, private guardian JSON). */
int kek_seal_text(const struct kek *k, const char *aad, const char *plain, char **ret,
		  struct err *e);
int kek_open_text(const struct kek *k, const char *aad, const char *stored, char **ret,
		  bool *ret_sealed, struct err *e);
