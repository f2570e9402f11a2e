/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/sealed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void sealed_row_aad(enum store_private_kind kind, const char *id, char out[SEALED_AAD_MAX])
{
	snprintf(out, SEALED_AAD_MAX, "%s:%s",
		 kind == STORE_PRIVATE_TOKEN_KEY ? "signing_key" : "guardian_key", id);
}

void sealed_free(void *p, size_t len)
{
	if (p) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
}

void sealed_free_str(char *s)
{
	if (s)
		sealed_free(s, strlen(s));
}

int sealed_offer_first(struct store *s, const struct kek *kek, const char *setting,
		       const char *candidate, const char *plain_prefix, char **ret_won,
		       struct err *e)
{
	char aad[SEALED_AAD_MAX], *sealed = NULL;
	uint8_t *val = NULL, *plain = NULL;
	size_t sealed_len = 0, val_len = 0, plain_len = 0;
	bool was_sealed;
	int r;

	snprintf(aad, sizeof(aad), "setting:%s", setting);
	r = kek_seal(kek, aad, (const uint8_t *)candidate, strlen(candidate), &sealed, &sealed_len,
		     e);
	if (r < 0)
		return r;
	r = store_setting_get_or_create(s, setting, (const uint8_t *)sealed, sealed_len + 1, &val,
					&val_len, e);
	sealed_free(sealed, sealed_len);
	if (r < 0)
		return r;
	if (!val_len || val[val_len - 1] != '\0' ||
	    (!kek_is_sealed(val, val_len - 1) &&
	     strncmp((const char *)val, plain_prefix, strlen(plain_prefix)) != 0)) {
		/* Holds an id: another node finished already. */
		sealed_free(val, val_len);
		return 0;
	}
	r = kek_open(kek, aad, val, val_len - 1, &plain, &plain_len, &was_sealed, e);
	sealed_free(val, val_len);
	if (r < 0) {
		err_prefix(e, "setting %s", setting);
		return r;
	}
	*ret_won = (char *)plain;
	return 1;
}

int sealed_replace_row(struct store *s, const struct kek *kek, enum store_private_kind kind,
		       const char *id, const char *stored, const char *plain, unsigned *count,
		       struct err *e)
{
	char aad[SEALED_AAD_MAX], *sealed = NULL;
	int r;

	sealed_row_aad(kind, id, aad);
	r = kek_seal_text(kek, aad, plain, &sealed, e);
	if (r < 0)
		return r;
	r = store_private_replace(s, kind, id, stored, sealed, e);
	sealed_free_str(sealed);
	if (r == -ESTALE) {
		memset(e, 0, sizeof(*e));
		return 0;
	}
	if (r < 0)
		return r;
	(*count)++;
	return 0;
}
