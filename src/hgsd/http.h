/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's HTTP layer on libmicrohttpd: listeners, size caps, JSON bodies,
 * routing, JSON error replies (docs/protocol.md) and per-request logs.
 *
 * Handlers see a parsed request and answer with http_reply() or
 * http_error(). A handler that returns a negative errno keeps an error
 * reply (4xx/5xx) it made; otherwise the client gets 500 `internal`, never
 * a success built before the failure. Request bodies are capped at max_body before any
 * parsing (413 `payload_too_large`), parsed with jansson rejecting
 * duplicate keys (through jsonload.h, which keeps long strings away from
 * jansson's lexer), and must be objects nested at most HGSD_JSON_MAX_DEPTH
 * deep.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"

struct http_request;

typedef int (*http_handler_fn)(struct http_request *rq);

enum {
	HTTP_ROUTE_BODY = 1u << 0, /* the handler needs a JSON object body */
	/* With HTTP_ROUTE_BODY: a body that is not a JSON object still
	 * reaches the handler, with body NULL and body_error saying why, so
	 * the handler can answer (and audit) it its own way. */
	HTTP_ROUTE_BODY_ERRORS = 1u << 1,
};

struct http_route {
	const char *method; /* "GET", "POST", "DELETE" */
	const char *path;   /* "/v1/admin/hosts/ *" without the space: '*' is
			     * one path segment, available as rq->param */
	http_handler_fn fn;
	unsigned flags;
};

#define HTTP_PEER_MAX_GROUPS 256

/* The peer of an admin connection: SO_PEERCRED, and its supplementary
 * groups from SO_PEERGROUPS (or /proc/PID/status where that is missing). */
struct http_peer {
	bool known;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool groups_known;
	size_t n_groups;
	gid_t groups[HTTP_PEER_MAX_GROUPS];
};

struct http_request {
	const char *method;
	const char *path;   /* decoded, without the query */
	const char *param;  /* the '*' segment of the route, or NULL */
	json_t *body;       /* HTTP_ROUTE_BODY routes: the parsed object */
	const char *body_error; /* HTTP_ROUTE_BODY_ERRORS: why body is NULL */
	const char *rid;    /* request id (logs, X-Request-Id) */
	bool admin;         /* came in on the admin listener */
	struct http_peer peer;
	void *app;          /* the application context given to http_listen */

	/* private */
	struct http_conn_state *state;
};

/* A query argument ("?host=..."), or NULL. */
const char *http_query(struct http_request *rq, const char *key);

/* Answer with status and a JSON body (stolen). Returns 0, or -ENOMEM (also
 * for a NULL body, so a failed json_pack() becomes a 500). */
int http_reply(struct http_request *rq, unsigned status, json_t *body);
/* Answer with status and no body (204). */
int http_reply_empty(struct http_request *rq, unsigned status);
/* The status of the reply made so far, 0 for none. */
unsigned http_status(const struct http_request *rq);
/* Answer with {"error": code, "message": ...}. Returns 0. */
int http_error(struct http_request *rq, unsigned status, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same, with extra members merged into the error object (stolen). */
int http_error_json(struct http_request *rq, unsigned status, const char *code,
		    json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

struct http_options {
	size_t max_body;
	unsigned threads;         /* >= 1 */
	unsigned max_connections;
	unsigned timeout;         /* seconds */
	bool keep_alive;
	const char *tls_cert_pem; /* NUL-terminated, or NULL: plain HTTP */
	const char *tls_key_pem;
	const char *tls_priorities;
};

/* Called for every request on the admin listener, with rq->peer filled,
 * before anything else: return 0 to serve, or a negative errno to deny
 * (403 `forbidden`). The callback may record the denial (audit); *why is a
 * short reason for the log. */
typedef int (*http_admin_check_fn)(struct http_request *rq, const char **why);

struct http_server;

/*
 * Serve routes on an already bound and listening socket fd (taken). admin:
 * the listener is the admin Unix socket; check is called for each request.
 */
int http_server_start(int fd, bool admin, const struct http_route *routes,
		      size_t n_routes, const struct http_options *o,
		      http_admin_check_fn check, void *app,
		      struct http_server **ret, struct err *e);
/* Stop accepting, let requests in flight finish for up to grace seconds,
 * then close everything. NULL is fine. */
void http_server_stop(struct http_server *s, unsigned grace);

/* True when libmicrohttpd was built with TLS (GnuTLS). */
bool http_tls_supported(void);
