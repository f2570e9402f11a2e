/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guarded host's HTTP+JSON client for hgsd's host API
 * (docs/protocol.md), on libcurl.
 *
 * A client holds a list of hgsd base URLs ("https://hgs1.example:8443").
 * Every request tries them in order and moves on to the next URL when the
 * current one gives no answer that decides anything:
 *   - connection errors (refused, unreachable, DNS, timeout, TLS handshake
 *     or certificate verification),
 *   - HTTP 5xx (500 internal, 502/504 from a proxy, 503 unavailable),
 *   - an answer that is not what the protocol promises (a body over the
 *     size limit, a success body that is not a JSON object).
 * A 4xx answer is final: a refusal by one node is the service's verdict,
 * and asking the next node would only repeat it (or, for an attestation,
 * consume a second nonce).
 *
 * TLS peer and host name verification are always on; ca_file replaces the
 * system CA store. Only http:// and https:// URLs are accepted and
 * redirects are not followed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

/* Limits of the client (what it accepts from a server). */
#define HOST_CLIENT_MAX_URLS 16                   /* hgsd URLs per client */
#define HOST_CLIENT_URL_MAX 1024                  /* one base URL, bytes */
#define HOST_CLIENT_MAX_RESPONSE (1024u * 1024)   /* response body default */
#define HOST_CLIENT_JSON_MAX_DEPTH 16u            /* nesting of a response */
#define HOST_CLIENT_CONNECT_TIMEOUT 10            /* seconds, default */
#define HOST_CLIENT_TIMEOUT 60                    /* seconds per request */

struct host_client_options {
	const char *const *urls; /* base URLs, tried in this order */
	size_t n_urls;
	const char *ca_file;     /* PEM CA bundle; NULL: system store */
	long connect_timeout;    /* seconds; 0: HOST_CLIENT_CONNECT_TIMEOUT */
	long timeout;            /* seconds; 0: HOST_CLIENT_TIMEOUT */
	size_t max_response;     /* bytes; 0: HOST_CLIENT_MAX_RESPONSE */
};

struct host_client;

/* Checks the URLs (http/https, no query, fragment or user info, at most
 * HOST_CLIENT_MAX_URLS) and copies them and the options. -EINVAL for a
 * bad URL (the message quotes it). */
int host_client_new(const struct host_client_options *o,
		    struct host_client **ret, struct err *e);
void host_client_free(struct host_client *c);

static inline void host_client_freep(struct host_client **c)
{
	host_client_free(*c);
}

/* What the server that decided answered. */
struct host_client_response {
	long status;            /* HTTP status; 0 when no server answered */
	char url[HOST_CLIENT_URL_MAX]; /* base URL of that server */
	json_t *body;           /* the parsed body (an object), or NULL */
	/* For an error answer (status >= 400): the protocol's error body.
	 * error is "" and message holds the raw start of the body when the
	 * body is not the protocol's JSON. failures points into body (a JSON
	 * array of {rule, event?, message}) or is NULL. */
	char error[64];
	char message[ERR_MSG_MAX];
	json_t *failures;
};

/* Frees body and resets the response. NULL is fine. */
void host_client_response_clear(struct host_client_response *r);

/*
 * method "GET" or "POST"; path starts with "/" ("/v1/attest"); req is the
 * JSON body for POST (NULL: "{}"). The serialized request is wiped before
 * it is freed (it may hold a secret). *ret is always initialised.
 *
 * 0: a 2xx answer with a JSON object body in ret->body.
 * -EREMOTEIO: a server refused (any answer that is neither 2xx nor 5xx,
 *   e.g. 403): ret holds status, error, message, failures; e names the URL.
 * Otherwise no server gave a usable answer; e lists each URL and how it
 * failed, and the code is the last URL's: -EAGAIN (HTTP 5xx; ret holds that
 * answer), -ECONNREFUSED, -ETIMEDOUT,
 * -EHOSTUNREACH (resolve, route), -EKEYREJECTED (TLS certificate
 * verification), -EPROTO (TLS or HTTP protocol), -EMSGSIZE (body over the
 * limit), -EBADMSG (a 2xx body that is not a JSON object), -EIO.
 * -ENOMEM, -EINVAL for local failures (nothing was sent).
 */
int host_client_request(struct host_client *c, const char *method,
			const char *path, const json_t *req,
			struct host_client_response *ret, struct err *e);
