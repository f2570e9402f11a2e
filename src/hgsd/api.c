/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/api.h"
#include "common/b64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jose/b64.h>

#include "common/limits.h"
#include "common/util.h"
#include "hgsd/log.h"

/* The host API, on TCP. POST /v1/enroll, /v1/enroll/finish and /v1/attest
 * join this table when they are implemented. */
const struct http_route api_host_routes[] = {
	{ "GET", "/v1/info", api_info_get, 0 },
	{ "POST", "/v1/attest/nonce", api_nonce_post, HTTP_ROUTE_BODY },
	{ "GET", "/v1/keys", api_keys_get, 0 },
	{ "POST", "/v1/enroll", api_enroll_post, HTTP_ROUTE_BODY },
	{ "POST", "/v1/enroll/finish", api_enroll_finish_post, HTTP_ROUTE_BODY },
	{ "POST", "/v1/attest", api_attest_post, HTTP_ROUTE_BODY },
	{ "GET", "/v1/guardian", api_guardian_get, 0 },
	{ "POST", "/v1/unwrap", api_unwrap_post,
	  HTTP_ROUTE_BODY | HTTP_ROUTE_BODY_ERRORS },
	{ "POST", "/v1/unwrap/commit", api_unwrap_commit_post,
	  HTTP_ROUTE_BODY | HTTP_ROUTE_BODY_ERRORS },
};
const size_t api_host_routes_n = ARRAY_SIZE(api_host_routes);

/* The admin API, on the Unix socket only. */
const struct http_route api_admin_routes[] = {
	{ "GET", "/v1/admin/hosts", api_admin_hosts_list, 0 },
	{ "POST", "/v1/admin/hosts", api_admin_hosts_add, HTTP_ROUTE_BODY },
	{ "GET", "/v1/admin/hosts/*", api_admin_hosts_show, 0 },
	{ "DELETE", "/v1/admin/hosts/*", api_admin_hosts_remove, 0 },
	{ "POST", "/v1/admin/hosts/*/enable", api_admin_hosts_enable, 0 },
	{ "POST", "/v1/admin/hosts/*/disable", api_admin_hosts_disable, 0 },
	{ "GET", "/v1/admin/baselines", api_admin_baselines_list, 0 },
	{ "POST", "/v1/admin/baselines", api_admin_baselines_add, HTTP_ROUTE_BODY },
	{ "GET", "/v1/admin/baselines/*", api_admin_baselines_show, 0 },
	{ "DELETE", "/v1/admin/baselines/*", api_admin_baselines_remove, 0 },
	{ "GET", "/v1/admin/rules", api_admin_rules_list, 0 },
	{ "POST", "/v1/admin/rules/*/enable", api_admin_rules_enable, 0 },
	{ "POST", "/v1/admin/rules/*/disable", api_admin_rules_disable, 0 },
	{ "POST", "/v1/admin/tokens/verify", api_admin_tokens_verify, HTTP_ROUTE_BODY },
	{ "GET", "/v1/admin/audit", api_admin_audit_list, 0 },
	{ "GET", "/v1/admin/audit/verify", api_admin_audit_verify, 0 },
	{ "GET", "/v1/admin/guardian-keys", api_admin_gkeys_list, 0 },
	{ "POST", "/v1/admin/guardian-keys", api_admin_gkeys_add, HTTP_ROUTE_BODY },
	{ "GET", "/v1/admin/guardian-keys/*", api_admin_gkeys_show, 0 },
	{ "GET", "/v1/admin/guardian-keys/*/export", api_admin_gkeys_export, 0 },
	{ "POST", "/v1/admin/guardian-keys/*/primary", api_admin_gkeys_set_primary, 0 },
	{ "POST", "/v1/admin/guardian-keys/*/enable", api_admin_gkeys_enable, 0 },
	{ "POST", "/v1/admin/guardian-keys/*/disable", api_admin_gkeys_disable, 0 },
	{ "DELETE", "/v1/admin/guardian-keys/*", api_admin_gkeys_remove, 0 },
};
const size_t api_admin_routes_n = ARRAY_SIZE(api_admin_routes);

int api_store_error(struct http_request *rq, int r, const struct err *e,
		    const char *what)
{
	if (r == -ENOENT) {
		http_error(rq, 404, "not_found", "%s not found", what);
		return r;
	}
	if (r == -EEXIST) {
		http_error(rq, 409, "conflict", "%s: %s", what, err_str(e));
		return r;
	}
	if (r == -EINVAL) {
		http_error(rq, 400, "bad_request", "%s: %s", what, err_str(e));
		return r;
	}
	if (r == -ENOMEM)
		return r; /* a 500 */
	log_event(LOG_LEVEL_ERROR, rq->rid, "store_error", "{s:s, s:s, s:s}",
		  "object", what, "error", strerror(-r), "message", err_str(e));
	http_error(rq, 503, "unavailable",
		   "the store is unavailable; retry (another node)");
	return -EAGAIN; /* keeps the reply, as a client error would */
}

int api_get_string(struct http_request *rq, const json_t *obj, const char *key,
		   bool required, size_t max, const char **ret)
{
	const json_t *v = json_object_get(obj, key);
	size_t len;

	*ret = NULL;
	if (!v) {
		if (!required)
			return 0;
		http_error(rq, 400, "bad_request", "missing field '%s'", key);
		return -EBADMSG;
	}
	if (!json_is_string(v)) {
		http_error(rq, 400, "bad_request", "field '%s' must be a string", key);
		return -EBADMSG;
	}
	len = json_string_length(v);
	if (len == 0 || len > max || strlen(json_string_value(v)) != len) {
		http_error(rq, 400, "bad_request",
			   "field '%s' must be 1 to %zu characters", key, max);
		return -EBADMSG;
	}
	*ret = json_string_value(v);
	return 0;
}

int api_get_b64(struct http_request *rq, const json_t *obj, const char *key,
		bool required, size_t max, uint8_t **ret, size_t *ret_len)
{
	const json_t *v = json_object_get(obj, key);
	uint8_t *buf;
	size_t n;

	*ret = NULL;
	*ret_len = 0;
	if (!v) {
		if (!required)
			return 0;
		http_error(rq, 400, "bad_request", "missing field '%s'", key);
		return -EBADMSG;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		http_error(rq, 400, "bad_request",
			   "field '%s' must be a non-empty base64url string", key);
		return -EBADMSG;
	}
	/* Size check on the encoded text before decoding anything. */
	if (json_string_length(v) > (max / 3 + 1) * 4) {
		http_error(rq, 400, "bad_request", "field '%s' is over %zu bytes",
			   key, max);
		return -EBADMSG;
	}
	/* One strict pass (src/common/b64.c): the event log field alone is
	 * tens of kilobytes of text on every attestation. */
	n = b64url_decoded_len(json_string_length(v));
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	if (b64url_decode(json_string_value(v), json_string_length(v), buf, n, &n) < 0) {
		free(buf);
		http_error(rq, 400, "bad_request",
			   "field '%s' is not valid base64url (RFC 4648 section 5, no padding)",
			   key);
		return -EBADMSG;
	}
	if (n == 0 || n > max) {
		free(buf);
		http_error(rq, 400, "bad_request", "field '%s': %zu bytes, expected 1 to %zu",
			   key, n, max);
		return -EBADMSG;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

bool api_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HGSD_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int api_audit_record(struct http_request *rq, const char *host,
		     const char *action, const char *result, json_t *details,
		     struct store_audit *a)
{
	char *text;

	*a = (struct store_audit){ .time = time(NULL) };
	if (!details)
		details = json_object();
	if (!details)
		return -ENOMEM;
	json_object_set_new(details, "rid", json_string(rq->rid));
	if (rq->admin && rq->peer.known) {
		json_object_set_new(details, "peer_uid", json_integer(rq->peer.uid));
		json_object_set_new(details, "peer_pid", json_integer(rq->peer.pid));
	}
	text = json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(details);
	if (!text)
		return -ENOMEM;
	snprintf(a->host, sizeof(a->host), "%s", host ? host : "");
	snprintf(a->action, sizeof(a->action), "%s", action);
	snprintf(a->result, sizeof(a->result), "%s", result);
	a->details = text;
	return 0;
}

void api_audit_failed(struct http_request *rq, const char *action, int r,
		      const struct err *e)
{
	log_event(LOG_LEVEL_ERROR, rq->rid, "audit_failed",
		  "{s:s, s:s, s:s}", "action", action, "error",
		  strerror(-r), "message", err_str(e));
}

int api_audit(struct http_request *rq, const char *host, const char *action,
	      const char *result, json_t *details)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct store_audit a;
	struct err e = { 0 };
	int r;

	r = api_audit_record(rq, host, action, result, details, &a);
	if (r < 0)
		return r;
	r = store_audit_add(ctx->store, &a, &e);
	free(a.details);
	if (r < 0)
		api_audit_failed(rq, action, r, &e);
	return r;
}
