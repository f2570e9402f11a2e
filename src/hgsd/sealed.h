/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's secrets in the store under its KEK (docs/hgsd.md "Keys at rest"):
 * the steps the token signing keys (keys.c) and the guardian keys
 * (guardians.c) share. Without a KEK (kek NULL) values pass in plaintext.
 */
#pragma once

#include <stddef.h>

#include "common/err.h"
#include "hgsd/kek.h"
#include "hgsd/store.h"

/* "signing_key:ID", "guardian_key:ID": the associated data of a sealed key
 * row, which binds the value to its row. */
#define SEALED_AAD_MAX (STORE_GUARDIAN_ID_MAX + 16)
void sealed_row_aad(enum store_private_kind kind, const char *id, char out[SEALED_AAD_MAX]);

/* Wipe len bytes (strlen for _str) and free; NULL is fine. */
void sealed_free(void *p, size_t len);
void sealed_free_str(char *s);

/*
 * First start of a cluster: every starting node offers its candidate key
 * (text) through the store setting, sealed like a key row; the first offer
 * wins. 1 with *ret_won the winning candidate's text (the caller frees it
 * with sealed_free_str), or 0 when the setting holds no candidate any more
 * (the winner already recorded its key and left its id there).
 * plain_prefix: how a candidate a node without a KEK offered begins.
 */
int sealed_offer_first(struct store *s, const struct kek *kek, const char *setting,
		       const char *candidate, const char *plain_prefix, char **ret_won,
		       struct err *e);

/* Seal plain, the opened private text of key row id, under kek in place of
 * stored (what the row holds: plaintext, or sealed under the KEK kek
 * replaces). A row another node changed meanwhile is left to it; *count
 * grows by one for a row replaced here. */
int sealed_replace_row(struct store *s, const struct kek *kek, enum store_private_kind kind,
		       const char *id, const char *stored, const char *plain, unsigned *count,
		       struct err *e);
