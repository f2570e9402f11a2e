/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP + JSON over hgsd's admin Unix socket (libcurl,
 * CURLOPT_UNIX_SOCKET_PATH). Transport only: what an answer means is the
 * caller's business.
 */
#pragma once

#include <jansson.h>

#include "common/err.h"

struct client;

struct client_reply {
	long status;  /* HTTP status */
	json_t *body; /* parsed JSON body, NULL when the body was empty */
};

int client_new(const char *socket_path, struct client **ret, struct err *e);
void client_free(struct client *c);

/*
 * METHOD PATH with an optional JSON body. 0 when hgsd answered (any HTTP
 * status) with an empty or JSON body; otherwise a negative errno and a
 * message naming the socket: -ENOENT/-ECONNREFUSED/-EACCES/... when the
 * socket cannot be reached, -ETIMEDOUT, -EFBIG for an answer over
 * HGSCTL_MAX_RESPONSE, -EBADMSG for an answer that is not JSON.
 */
int client_request(struct client *c, const char *method, const char *path,
		   const json_t *body, struct client_reply *ret, struct err *e);

void client_reply_clear(struct client_reply *r);
