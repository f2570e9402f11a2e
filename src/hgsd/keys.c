/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "hgsd/log.h"

struct keys {
	struct token_key *primary;
	json_t *jwks;
};

DEFINE_CLEANUP_FUNC(struct token_key, token_key_free)

static void wipe_free(uint8_t *p, size_t len)
{
	if (p) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
}

static void wipe_free_str(char *s)
{
	if (s)
		wipe_free((uint8_t *)s, strlen(s));
}

/* The associated data of a key row's sealed private part. */
static void row_aad(const char *kid, char out[96])
{
	snprintf(out, 96, "signing_key:%s", kid);
}

/* First start: agree on one key with every other node starting now. The
 * candidate goes through the settings sealed like the key row. */
static int keys_create_first(struct store *s, const struct kek *kek, struct err *e)
{
	_cleanup_(token_key_freep) struct token_key *cand = NULL, *won = NULL;
	struct store_key sk = { 0 };
	char *pem = NULL, *sealed = NULL, aad[96];
	uint8_t *val = NULL, *plain = NULL;
	size_t val_len = 0, plain_len = 0, sealed_len = 0;
	bool was_sealed;
	int r;

	r = token_key_generate(&cand, e);
	if (r < 0)
		return r;
	r = token_key_to_pem(cand, &pem, e);
	if (r < 0)
		return r;
	r = kek_seal(kek, "setting:" KEYS_FIRST_SETTING, (const uint8_t *)pem, strlen(pem),
		     &sealed, &sealed_len, e);
	wipe_free_str(pem);
	pem = NULL;
	if (r < 0)
		return r;
	r = store_setting_get_or_create(s, KEYS_FIRST_SETTING, (const uint8_t *)sealed,
					sealed_len + 1, &val, &val_len, e);
	wipe_free_str(sealed);
	if (r < 0)
		return r;
	if (!val_len || val[val_len - 1] != '\0' ||
	    (!kek_is_sealed(val, val_len - 1) &&
	     (val_len < 11 || memcmp(val, "-----BEGIN", 10) != 0))) {
		/* Holds a kid: another node finished already. */
		wipe_free(val, val_len);
		return 0;
	}
	r = kek_open(kek, "setting:" KEYS_FIRST_SETTING, val, val_len - 1, &plain, &plain_len,
		     &was_sealed, e);
	wipe_free(val, val_len);
	if (r >= 0)
		r = token_key_from_pem((const char *)plain, plain_len, &won, e);
	if (r < 0) {
		wipe_free(plain, plain_len);
		err_prefix(e, "setting %s", KEYS_FIRST_SETTING);
		return r;
	}
	row_aad(won->kid, aad);
	r = kek_seal_text(kek, aad, (const char *)plain, &sk.private_pem, e);
	wipe_free(plain, plain_len);
	if (r < 0)
		return r;
	memcpy(sk.kid, won->kid, sizeof(sk.kid));
	sk.kid[sizeof(sk.kid) - 1] = '\0';
	sk.primary = true;
	sk.enabled = true;
	sk.created = time(NULL);
	r = store_key_add(s, &sk, e);
	wipe_free_str(sk.private_pem);
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

/* Seal under the KEK, in the store, the private key pem of row k, stored
 * in plaintext before the KEK was configured or sealed under the KEK it
 * replaces; another node doing the same at once is not an error. */
static int seal_stored(struct store *s, const struct kek *kek, const struct store_key *k,
		       const char *pem, unsigned *count, struct err *e)
{
	char aad[96], *sealed = NULL;
	int r;

	row_aad(k->kid, aad);
	r = kek_seal_text(kek, aad, pem, &sealed, e);
	if (r < 0)
		return r;
	r = store_private_replace(s, STORE_PRIVATE_TOKEN_KEY, k->kid, k->private_pem, sealed, e);
	wipe_free_str(sealed);
	if (r == -ESTALE) {
		memset(e, 0, sizeof(*e));
		return 0;
	}
	if (r < 0)
		return r;
	(*count)++;
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
		char aad[96], *pem = NULL;
		bool was_sealed = false;

		if (!v[i].private_pem)
			continue;
		row_aad(v[i].kid, aad);
		r = kek_open_text(kek, aad, v[i].private_pem, &pem, &was_sealed, e);
		if (r >= 0 && kek && !was_sealed)
			r = seal_stored(s, kek, &v[i], pem, sealed_count, e);
		if (r < 0 || !v[i].enabled) {
			wipe_free_str(pem);
			if (r < 0) {
				err_prefix(e, "token key %s", v[i].kid);
				return r;
			}
			continue;
		}
		r = token_key_from_pem(pem, strlen(pem), &tk, e);
		wipe_free_str(pem);
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
