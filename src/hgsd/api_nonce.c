/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/attest/nonce: a fresh nonce, authenticated with the cluster's
 * nonce key (src/attest/nonce.h) so any node can check it statelessly.
 */
#include <errno.h>
#include <time.h>

#include <jose/b64.h>

#include "hgsd/api.h"

int api_nonce_post(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	uint8_t nonce[NONCE_SIZE];
	int64_t now = time(NULL);
	json_t *enc;
	int r;

	/* The body is "{}"; members are reserved for later versions. */
	r = nonce_issue(ctx->nonce_key, now, nonce);
	if (r < 0)
		return r;
	enc = jose_b64_enc(nonce, sizeof(nonce));
	if (!enc)
		return -ENOMEM;
	return http_reply(rq, 200,
			  json_pack("{s:o, s:I}", "nonce", enc, "expires",
				    (json_int_t)(now + ctx->cfg->nonce_lifetime)));
}
