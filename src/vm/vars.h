/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's encrypted UEFI variable store (DIR/vars.enc) and the digests
 * the secrets file records at a clean stop. Pure code except the digest
 * of a directory.
 *
 * vars.enc (big-endian): "SVVR" u16 version = 1 u16 reserved = 0
 *   IV (12)  ciphertext (the OVMF VARS image)  GCM tag (16)
 * AES-256-GCM under the "shieldvm vars v1" key (keys.h), AAD =
 * "shieldvm vars v1" || vm uuid (36 characters) || the 20-byte header.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "vm/keys.h"

#define VM_VARS_HEADER_SIZE 20
#define VM_VARS_OVERHEAD (VM_VARS_HEADER_SIZE + 16)
#define VM_DIGEST_SIZE 32

/* Encrypt plain (1..VM_VARS_MAX_SIZE bytes) into *ret (malloc'ed,
 * len + VM_VARS_OVERHEAD bytes). */
int vm_vars_seal(const uint8_t key[VM_KEY_SIZE], const char *uuid,
		 const uint8_t *plain, size_t len, uint8_t **ret,
		 size_t *ret_len, struct err *e);

/* Decrypt; -EBADMSG malformed, -EKEYREJECTED tag mismatch (another key,
 * another VM, or a modified file). *ret is malloc'ed; the caller wipes it. */
int vm_vars_open(const uint8_t key[VM_KEY_SIZE], const char *uuid,
		 const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len,
		 struct err *e);

/* SHA-256 of a buffer. */
int vm_digest(const uint8_t *buf, size_t len, uint8_t out[VM_DIGEST_SIZE],
	      struct err *e);

/* SHA-256 over the regular files of a directory, sorted by name, each as
 * name NUL u64 size content; ".lock" and dot-files are skipped; any other
 * entry type (symlink, subdirectory) is an error (-EINVAL). An empty or
 * missing directory gives the digest of nothing (missing: -ENOENT). */
int vm_digest_dir(const char *path, uint8_t out[VM_DIGEST_SIZE], struct err *e);
