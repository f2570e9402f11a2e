/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token signing keys, held in the store (every node signs with the same
 * primary key and publishes the same JWK Set).
 *
 * At the first start of a cluster no key exists: each starting node makes
 * a candidate and offers it through store_setting_get_or_create(), so the
 * first node wins and every node adopts the winner's key; the key is then
 * recorded in the key table and the setting is overwritten with its kid,
 * so the private key does not stay behind in the settings.
 *
 * Only the primary key's private half is kept in memory; the other enabled
 * keys contribute their public JWK to the JWK Set (tokens signed before a
 * rotation stay verifiable).
 */
#pragma once

#include <jansson.h>

#include "attest/token.h"
#include "common/err.h"
#include "hgsd/kek.h"
#include "hgsd/store.h"

#define KEYS_FIRST_SETTING "token_key_first"

struct keys;

/* With a KEK (kek_file), private keys are written sealed, and keys stored
 * before it was configured are sealed now (*ret_sealed counts them). */
int keys_load(struct store *s, const struct kek *kek, struct keys **ret, unsigned *ret_sealed,
	      struct err *e);
void keys_free(struct keys *k);

/* The key new tokens are signed with. */
const struct token_key *keys_primary(const struct keys *k);
/* {"keys": [...]} public JWKs of the enabled keys (kid, alg, use). */
const json_t *keys_jwks(const struct keys *k);
