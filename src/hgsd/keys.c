/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/keys.h"

#include <errno.h>
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

/* First start: agree on one key with every other node starting now. */
static int keys_create_first(struct store *s, struct err *e)
{
	_cleanup_(token_key_freep) struct token_key *cand = NULL, *won = NULL;
	struct store_key sk = { 0 };
	char *pem = NULL;
	uint8_t *val = NULL;
	size_t val_len = 0;
	int r;

	r = token_key_generate(&cand, e);
	if (r < 0)
		return r;
	r = token_key_to_pem(cand, &pem, e);
	if (r < 0)
		return r;
	r = store_setting_get_or_create(s, KEYS_FIRST_SETTING, (const uint8_t *)pem,
					strlen(pem) + 1, &val, &val_len, e);
	wipe_free_str(pem);
	pem = NULL;
	if (r < 0)
		return r;
	if (val_len < 11 || memcmp(val, "-----BEGIN", 10) != 0 ||
	    val[val_len - 1] != '\0') {
		/* Holds a kid: another node finished already. */
		wipe_free(val, val_len);
		return 0;
	}
	r = token_key_from_pem((const char *)val, val_len - 1, &won, e);
	if (r < 0) {
		wipe_free(val, val_len);
		err_prefix(e, "setting %s", KEYS_FIRST_SETTING);
		return r;
	}
	memcpy(sk.kid, won->kid, sizeof(sk.kid));
	sk.kid[sizeof(sk.kid) - 1] = '\0';
	sk.private_pem = (char *)val;
	sk.primary = true;
	sk.enabled = true;
	sk.created = time(NULL);
	r = store_key_add(s, &sk, e);
	wipe_free(val, val_len);
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

static int keys_build(struct store_key *v, size_t n, struct keys *k,
		      struct err *e)
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

		if (!v[i].enabled || !v[i].private_pem)
			continue;
		r = token_key_from_pem(v[i].private_pem, strlen(v[i].private_pem),
				       &tk, e);
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

int keys_load(struct store *s, struct keys **ret, struct err *e)
{
	struct store_key *v = NULL;
	struct keys *k;
	size_t n = 0;
	int r;

	r = store_key_list(s, &v, &n, e);
	if (r < 0)
		return r;
	if (n == 0) {
		store_keys_free(v, n);
		v = NULL;
		r = keys_create_first(s, e);
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
	r = keys_build(v, n, k, e);
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
