/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's guardian keys (Key Protection Service, docs/hgsd.md): the key
 * pairs KPs are wrapped for, held in the store so that every node unwraps
 * with the same keys.
 *
 * At the first start of a cluster no key exists: each starting node makes
 * an EC P-256 candidate and offers it through store_setting_get_or_create
 * (GUARDIANS_FIRST_SETTING); the first node wins, every node adopts the
 * winner's key, records it as the primary guardian key and overwrites the
 * setting with its id (the private key does not stay in the settings).
 * The same approach as the token signing keys (keys.h).
 *
 * Admin changes (a new key, a new primary, enable, disable, remove) may be
 * made through any node: each node re-reads the key table when its
 * snapshot is older than GUARDIANS_TTL_MS, so a change reaches every node
 * within that time; the node that made the change drops its snapshot at
 * once (guardians_invalidate). The re-read lists ids and flags only; the
 * keys are parsed again (and the metadata signed again) only when those
 * changed. Only enabled keys are parsed and held in
 * memory (private halves included); of disabled keys only the ids are
 * kept, to tell "a key of ours, disabled" from "not ours".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "hgsd/kek.h"
#include "hgsd/store.h"
#include "kp/guardian.h"
#include "kp/kp.h"

#define GUARDIANS_FIRST_SETTING "guardian_key_first"
#define GUARDIANS_TTL_MS 1000
#define GUARDIANS_FIRST_NAME "hgs" /* name of the key made at first start */

struct guardians;
struct guardian_set; /* one snapshot of the key table, reference counted */

/* The store row of g (enabled; primary as given), its private JSON sealed
 * under kek (copied as it is without one). */
int guardian_row_new(const struct guardian *g, const struct kek *kek, bool primary,
		     struct store_guardian *row, struct err *e);
/* The guardian in a row read with its private part (opened under kek);
 * *ret_text (may be NULL): the opened private JSON (the caller frees it with
 * sealed_free_str); *ret_sealed (may be NULL): whether it was stored sealed
 * under kek itself. */
int guardian_open_row(const struct kek *kek, const struct store_guardian *row,
		      struct guardian **ret, char **ret_text, bool *ret_sealed, struct err *e);

/* Load the keys; at the first start of a cluster create the primary.
 * With a KEK (kek_file), private keys are written sealed, and keys stored
 * before it was configured are sealed now (*ret_sealed counts them). */
int guardians_new(struct store *s, const struct kek *kek, struct guardians **ret,
		  unsigned *ret_sealed, struct err *e);
void guardians_free(struct guardians *g);

/* The current snapshot (re-read when older than the TTL). Release it with
 * guardians_put(). */
int guardians_get(struct guardians *g, struct guardian_set **ret,
		  struct err *e);
void guardians_put(struct guardians *g, struct guardian_set *set);
/* Forget the snapshot: the next guardians_get() reads the store. */
void guardians_invalidate(struct guardians *g);

/* The primary key's signed metadata (guardian_metadata), parsed. */
const json_t *guardian_set_metadata(const struct guardian_set *set);
const char *guardian_set_primary_id(const struct guardian_set *set);

/*
 * Unwrap kp's TK with an enabled key of this service that is one of its
 * recipients (each such key is tried). *ret_key: the key that did.
 * -ENOKEY: no recipient is a key of ours; -EKEYREVOKED: only disabled keys
 * of ours are; -EKEYREJECTED: decryption failed with every enabled key that
 * is a recipient. tk is a secret: the caller wipes it.
 */
int guardian_set_unwrap(const struct guardian_set *set, const struct kp *kp,
			uint8_t tk[KP_TK_SIZE], const struct guardian **ret_key,
			struct err *e);
