/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "common/util.h"
#include "hgsd/log.h"
#include "hgsd/sealed.h"

struct keys {
	struct token_key *primary;
	json_t *jwks;
};

DEFINE_CLEANUP_FUNC(struct token_key, token_key_free)

/* First start: agree on one key with every other node starting now. */
static int keys_create_first(struct store *s, const struct kek *kek, struct err *e)
{
	_cleanup_(token_key_freep) struct token_key *cand = NULL, *won = NULL;
	struct store_key sk = { 0 };
	char *pem = NULL, *won_pem = NULL, aad[SEALED_AAD_MAX];
	int r;

	r = token_key_generate(&cand, e);
	if (r < 0)
		return r;
	r = token_key_to_pem(cand, &pem, e);
	if (r < 0)
		return r;
	r = sealed_offer_first(s, kek, KEYS_FIRST_SETTING, pem, "-----BEGIN", &won_pem, e);
	sealed_free_str(pem);
	if (r <= 0)
		return r;
	r = token_key_from_pem(won_pem, strlen(won_pem), &won, e);
	if (r < 0) {
		sealed_free_str(won_pem);
		err_prefix(e, "setting %s", KEYS_FIRST_SETTING);
		return r;
	}
	sealed_row_aad(STORE_PRIVATE_TOKEN_KEY, won->kid, aad);
	r = kek_seal_text(kek, aad, won_pem, &sk.private_pem, e);
	sealed_free_str(won_pem);
	if (r < 0)
		return r;
	memcpy(sk.kid, won->kid, sizeof(sk.kid));
	sk.kid[sizeof(sk.kid) - 1] = '\0';
	sk.primary = true;
	sk.enabled = true;
	sk.created = time(NULL);
	r = store_key_add(s, &sk, e);
	sealed_free_str(sk.private_pem);
	if (r < 0 && r != -EEXIST)
		return r;
	/* Everyone writes the same kid: the PEM leaves the settings. */
	r = store_setting_put(s, KEYS_FIRST_SETTING, (const uint8_t *)won->kid,
			      strlen(won->kid), e);
	if (r < 0)
		return r;
	log_event(LOG_LEVEL_INFO, NULL, "token_key_created", "{s:s}", "kid",
		  won->kid);
	return 0;
}

static int keys_build(struct store *s, const struct kek *kek, struct store_key *v, size_t n,
		      struct keys *k, unsigned *sealed_count, struct err *e)
{
	json_t *arr = json_array();
	int r;

	if (!arr)
		return err_set(e, ENOMEM, "out of memory");
	k->jwks = json_pack("{s:o}", "keys", arr);
	if (!k->jwks)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		_cleanup_(token_key_freep) struct token_key *tk = NULL;
		char aad[SEALED_AAD_MAX], *pem = NULL;
		bool was_sealed = false;

		if (!v[i].private_pem)
			continue;
		sealed_row_aad(STORE_PRIVATE_TOKEN_KEY, v[i].kid, aad);
		r = kek_open_text(kek, aad, v[i].private_pem, &pem, &was_sealed, e);
		if (r >= 0 && kek && !was_sealed)
			/* stored before the KEK, or under the one it replaces */
			r = sealed_replace_row(s, kek, STORE_PRIVATE_TOKEN_KEY, v[i].kid,
					       v[i].private_pem, pem, sealed_count, e);
		if (r < 0 || !v[i].enabled) {
			sealed_free_str(pem);
			if (r < 0) {
				err_prefix(e, "token key %s", v[i].kid);
				return r;
			}
			continue;
		}
		r = token_key_from_pem(pem, strlen(pem), &tk, e);
		sealed_free_str(pem);
		if (r < 0) {
			err_prefix(e, "token key %s", v[i].kid);
			return r;
		}
		if (json_array_append(arr, tk->jwk) < 0)
			return err_set(e, ENOMEM, "out of memory");
		if (v[i].primary && !k->primary)
			k->primary = TAKE_PTR(tk);
	}
	if (!k->primary)
		return err_set(e, ENOKEY, "no enabled primary token signing key in the store");
	return 0;
}

int keys_load(struct store *s, const struct kek *kek, struct keys **ret, unsigned *ret_sealed,
	      struct err *e)
{
	struct store_key *v = NULL;
	struct keys *k;
	size_t n = 0;
	int r;

	*ret_sealed = 0;
	r = store_key_list(s, &v, &n, e);
	if (r < 0)
		return r;
	if (n == 0) {
		store_keys_free(v, n);
		v = NULL;
		r = keys_create_first(s, kek, e);
		if (r < 0)
			return r;
		r = store_key_list(s, &v, &n, e);
		if (r < 0)
			return r;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		store_keys_free(v, n);
		return err_set(e, ENOMEM, "out of memory");
	}
	r = keys_build(s, kek, v, n, k, ret_sealed, e);
	store_keys_free(v, n);
	if (r < 0) {
		keys_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	token_key_free(k->primary);
	json_decref(k->jwks);
	free(k);
}

const struct token_key *keys_primary(const struct keys *k)
{
	return k->primary;
}

const json_t *keys_jwks(const struct keys *k)
{
	return k->jwks;
}
