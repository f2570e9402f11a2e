/* SPDX-License-Identifier: Apache-2.0 */
/* GET /v1/keys: the JWK Set of the token signing keys (public parts). */
#include <errno.h>

#include "hgsd/api.h"

int api_keys_get(struct http_request *rq)
{
	json_t *jwks = json_deep_copy(keys_jwks(api_ctx(rq)->keys));

	if (!jwks)
		return -ENOMEM;
	return http_reply(rq, 200, jwks);
}
