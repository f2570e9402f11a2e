/* SPDX-License-Identifier: Apache-2.0 */
#include "host/keyop.h"

#include <errno.h>

#include "attest/token.h"
#include "attest/tpm2.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)

static int rsa_oaep_decrypt(void *userdata, const uint8_t *in, size_t in_len,
			    uint8_t *out, size_t max, size_t *ret_len,
			    struct err *e)
{
	struct host_keyop *k = userdata;

	return host_tpm_rsa_decrypt(k->tpm, k->key, in, in_len, out, max,
				    ret_len, e);
}

static int ecdh_zgen(void *userdata, const uint8_t *peer, size_t peer_len,
		     uint8_t *z, size_t max, size_t *ret_len, struct err *e)
{
	struct host_keyop *k = userdata;

	return host_tpm_ecdh_zgen(k->tpm, k->key, peer, peer_len, z, max,
				  ret_len, e);
}

void host_keyop_init(struct host_keyop *k, struct host_tpm *t,
		     const struct host_tpm_key *key)
{
	k->op.rsa_oaep_decrypt = rsa_oaep_decrypt;
	k->op.ecdh_zgen = ecdh_zgen;
	k->op.userdata = k;
	k->tpm = t;
	k->key = key;
}

int host_tpm_key_jwk(const struct host_tpm_key *k, json_t **ret, struct err *e)
{
	_cleanup_(tpm2_key_freep) struct tpm2_key *key = NULL;
	int r;

	r = tpm2_key_from_public(k->pub.pub, k->pub.pub_len, &key, e);
	if (r < 0)
		return r;
	return token_jwk_from_pkey(key->pkey, ret, e);
}

int host_tpm_key_thumbprint(const struct host_tpm_key *k, char out[64],
			    struct err *e)
{
	_cleanup_(json_decrefp) json_t *jwk = NULL;
	int r;

	r = host_tpm_key_jwk(k, &jwk, e);
	if (r < 0)
		return r;
	return token_jwk_thumbprint(jwk, out, e);
}
