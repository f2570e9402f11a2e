/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hgsd's endpoints (docs/protocol.md): the context every handler shares,
 * the route tables of the two listeners, and helpers for reading request
 * fields and mapping store errors the same way everywhere.
 *
 * Helper convention: 0 on success; a negative errno after replying with
 * an error (the handler returns it as is: http.c keeps an error reply); a
 * negative errno without a reply becomes a 500.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "attest/ekcert.h"
#include "attest/nonce.h"
#include "common/err.h"
#include "hgsd/config.h"
#include "hgsd/guardians.h"
#include "hgsd/http.h"
#include "hgsd/keys.h"
#include "hgsd/policy_cache.h"
#include "hgsd/store.h"

/* Read-only after start, shared by every request thread. */
struct api_ctx {
	const struct config *cfg;
	struct store *store;
	struct keys *keys;
	const uint8_t *nonce_key;     /* NONCE_KEY_SIZE bytes, mlocked */
	struct ekcert_cas *ek_cas;    /* NULL: no EK CA configured */
	struct policy_cache *policies; /* the attestation policy (shared) */
	struct guardians *guardians;  /* guardian keys (key protection) */
	const struct kek *kek;        /* keys at rest ([keys] kek_file), or NULL */
	bool has_admin_group;
	gid_t admin_gid;
	int64_t started;              /* Unix seconds */
};

static inline struct api_ctx *api_ctx(struct http_request *rq)
{
	return rq->app;
}

/* Route tables (api.c). */
extern const struct http_route api_host_routes[];
extern const size_t api_host_routes_n;
extern const struct http_route api_admin_routes[];
extern const size_t api_admin_routes_n;

/* Host API. */
int api_info_get(struct http_request *rq);
int api_nonce_post(struct http_request *rq);
int api_keys_get(struct http_request *rq);
int api_enroll_post(struct http_request *rq);        /* api_enroll.c */
int api_enroll_finish_post(struct http_request *rq);
int api_attest_post(struct http_request *rq);        /* api_attest.c */
int api_guardian_get(struct http_request *rq);       /* api_kps.c */
int api_unwrap_post(struct http_request *rq);
int api_unwrap_commit_post(struct http_request *rq);

/* Admin API (api_admin.c). */
int api_admin_check(struct http_request *rq, const char **why);
int api_admin_hosts_list(struct http_request *rq);
int api_admin_hosts_add(struct http_request *rq);
int api_admin_hosts_show(struct http_request *rq);
int api_admin_hosts_enable(struct http_request *rq);
int api_admin_hosts_disable(struct http_request *rq);
int api_admin_hosts_remove(struct http_request *rq);
int api_admin_baselines_list(struct http_request *rq);
int api_admin_baselines_add(struct http_request *rq);
int api_admin_baselines_show(struct http_request *rq);
int api_admin_baselines_remove(struct http_request *rq);
int api_admin_rules_list(struct http_request *rq);
int api_admin_rules_enable(struct http_request *rq);
int api_admin_rules_disable(struct http_request *rq);
int api_admin_tokens_verify(struct http_request *rq);
int api_admin_audit_list(struct http_request *rq);
int api_admin_audit_verify(struct http_request *rq);
/* Run an admin change handler and audit it (action "admin", details.op
 * op, result from the reply's status). */
int api_admin_audited(struct http_request *rq, const char *op, const char *host,
		      int (*fn)(struct http_request *rq, json_t *details));
/* Guardian keys (api_admin_keys.c). */
int api_admin_gkeys_list(struct http_request *rq);
int api_admin_gkeys_add(struct http_request *rq);
int api_admin_gkeys_show(struct http_request *rq);
int api_admin_gkeys_export(struct http_request *rq);
int api_admin_gkeys_set_primary(struct http_request *rq);
int api_admin_gkeys_enable(struct http_request *rq);
int api_admin_gkeys_disable(struct http_request *rq);
int api_admin_gkeys_remove(struct http_request *rq);

/* ---- helpers (api.c) ---- */

/* Store failure -> reply: -ENOENT 404 not_found, -EEXIST 409 conflict,
 * anything else 503 unavailable (logged with the store's message). what
 * names the object ("host 'node17'"). Returns a negative errno. */
int api_store_error(struct http_request *rq, int r, const struct err *e,
		    const char *what);

/* A string member: 400 when missing (required), not a string, empty,
 * longer than max or holding a NUL. *ret = NULL when optional and absent. */
int api_get_string(struct http_request *rq, const json_t *obj, const char *key,
		   bool required, size_t max, const char **ret);
/* A base64url (no padding) member decoded into a new buffer of at most max
 * bytes. *ret = NULL when optional and absent. */
int api_get_b64(struct http_request *rq, const json_t *obj, const char *key,
		bool required, size_t max, uint8_t **ret, size_t *ret_len);

/* Host and baseline names: 1..HGSD_NAME_MAX of [A-Za-z0-9._-], not
 * starting with '.' or '-'. */
bool api_name_valid(const char *s);

/* Append an audit record: details (stolen, may be NULL) gets "rid" and,
 * on the admin listener, the peer's uid and pid. Failures are logged and
 * returned. */
int api_audit(struct http_request *rq, const char *host, const char *action,
	      const char *result, json_t *details);
/* api_audit in two halves, for a record written together with other
 * changes: the record (a->details is allocated: free it), and the log line
 * of a record the store refused. */
int api_audit_record(struct http_request *rq, const char *host,
		     const char *action, const char *result, json_t *details,
		     struct store_audit *a);
void api_audit_failed(struct http_request *rq, const char *action, int r,
		      const struct err *e);
