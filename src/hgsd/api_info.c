/* SPDX-License-Identifier: Apache-2.0 */
/* GET /v1/info: what this service is and how it is configured. */
#include <errno.h>

#include "hgsd/api.h"

#ifndef HGSD_VERSION
#define HGSD_VERSION "unknown"
#endif

int api_info_get(struct http_request *rq)
{
	const struct config *cfg = api_ctx(rq)->cfg;
	json_t *modes = json_array();

	if (!modes)
		return -ENOMEM;
	if (cfg->modes & CONFIG_MODE_TPM)
		json_array_append_new(modes, json_string("tpm"));
	if (cfg->modes & CONFIG_MODE_HOST_KEY)
		json_array_append_new(modes, json_string("host-key"));
	return http_reply(rq, 200,
			  json_pack("{s:s, s:s, s:i, s:s, s:o, s:I, s:I, s:s}",
				    "service", "hgsd", "version", HGSD_VERSION,
				    "api", 1, "node", cfg->node, "modes", modes,
				    "nonce_lifetime", (json_int_t)cfg->nonce_lifetime,
				    "token_lifetime", (json_int_t)cfg->token_lifetime,
				    "policy_id", cfg->policy_id));
}
