/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API for hgsd's guardian keys (docs/protocol.md, "Admin API"):
 * list, add, show, export (signed public metadata), set-primary, enable,
 * disable, remove. Every change is audited (action "admin", op "key-...").
 * The private halves never leave the store through this API.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "hgsd/api.h"
#include "hgsd/guardians.h"
#include "hgsd/log.h"
#include "kp/guardian.h"

#define GKEY_DEFAULT_NAME "hgs"
#define GKEY_PRIMARY_ALIAS "primary" /* export: the primary key */

/* Key ids are RFC 7638 thumbprints: base64url, 1..STORE_GUARDIAN_ID_MAX. */
static bool gkey_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > STORE_GUARDIAN_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static json_t *gkey_json(const struct store_guardian *g)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:b, s:I}", "id", g->id, "name",
			 g->name, "algorithm", g->algorithm, "primary",
			 g->primary, "enabled", g->enabled, "created",
			 (json_int_t)g->created);
}

static int gkey_param(struct http_request *rq)
{
	if (gkey_id_valid(rq->param))
		return 0;
	http_error(rq, 404, "not_found", "guardian key not found");
	return -ENOENT;
}

static int reply_gkey(struct http_request *rq, unsigned status, const char *id)
{
	_cleanup_(store_guardian_clearp) struct store_guardian g = { 0 };
	struct err e = { 0 };
	char what[STORE_GUARDIAN_ID_MAX + 32];
	int r;

	snprintf(what, sizeof(what), "guardian key '%s'", id);
	r = store_guardian_get(api_ctx(rq)->store, id, &g, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	return http_reply(rq, status, gkey_json(&g));
}

int api_admin_gkeys_list(struct http_request *rq)
{
	struct store_guardian *v = NULL;
	struct err e = { 0 };
	size_t n = 0;
	json_t *arr;
	int r;

	r = store_guardian_list(api_ctx(rq)->store, false, &v, &n, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "guardian keys");
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, gkey_json(&v[i])) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	store_guardians_free(v, n);
	if (!arr)
		return -ENOMEM;
	return http_reply(rq, 200, json_pack("{s:o}", "keys", arr));
}

int api_admin_gkeys_show(struct http_request *rq)
{
	int r = gkey_param(rq);

	if (r < 0)
		return r;
	return reply_gkey(rq, 200, rq->param);
}

/* The signed public metadata of a key (ID, or "primary"). */
int api_admin_gkeys_export(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_(store_guardian_clearp) struct store_guardian g = { 0 };
	_cleanup_(guardian_freep) struct guardian *gd = NULL;
	_cleanup_free_ char *meta = NULL;
	struct err e = { 0 };
	json_t *j;
	int r;

	if ((r = gkey_param(rq)) < 0)
		return r;
	if (streq(rq->param, GKEY_PRIMARY_ALIAS)) {
		struct store_guardian *v = NULL;
		size_t n = 0;

		r = store_guardian_list(ctx->store, true, &v, &n, &e);
		if (r < 0)
			return api_store_error(rq, r, &e, "guardian keys");
		for (size_t i = 0; i < n; i++)
			if (v[i].primary) {
				g = v[i];
				v[i] = (struct store_guardian){ 0 };
			}
		store_guardians_free(v, n);
		if (!g.id[0]) {
			http_error(rq, 404, "not_found",
				   "no primary guardian key");
			return -ENOENT;
		}
	} else {
		char what[STORE_GUARDIAN_ID_MAX + 32];

		snprintf(what, sizeof(what), "guardian key '%s'", rq->param);
		r = store_guardian_get(ctx->store, rq->param, &g, &e);
		if (r < 0)
			return api_store_error(rq, r, &e, what);
	}
	r = guardian_open_row(ctx->kek, &g, &gd, NULL, NULL, &e);
	if (r == 0)
		r = guardian_metadata(gd, &meta, &e);
	if (r < 0) {
		log_event(LOG_LEVEL_ERROR, rq->rid, "guardian_key_invalid",
			  "{s:s, s:s}", "id", g.id, "message", err_str(&e));
		return r == -ENOMEM ? r : -EIO;
	}
	j = json_loads(meta, JSON_REJECT_DUPLICATES, NULL);
	if (!j)
		return -ENOMEM;
	return http_reply(rq, 200, j);
}

/* ---- changes ---- */

static int gkey_add(struct http_request *rq, json_t *details)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_(guardian_freep) struct guardian *gd = NULL;
	_cleanup_(store_guardian_clearp) struct store_guardian row = { 0 };
	const char *name = NULL, *alg_s = NULL;
	const json_t *prim = json_object_get(rq->body, "primary");
	enum guardian_alg alg = GUARDIAN_EC_P256;
	struct err e = { 0 };
	const char *key;
	json_t *v;
	int r;

	json_object_foreach(rq->body, key, v) {
		if (!streq(key, "name") && !streq(key, "algorithm") &&
		    !streq(key, "primary")) {
			http_error(rq, 400, "bad_request",
				   "unknown field '%.64s'", key);
			return -EBADMSG;
		}
	}
	if ((r = api_get_string(rq, rq->body, "name", false, GUARDIAN_NAME_MAX,
				&name)) < 0 ||
	    (r = api_get_string(rq, rq->body, "algorithm", false, 16, &alg_s)) <
		    0)
		return r;
	if (prim && !json_is_boolean(prim)) {
		http_error(rq, 400, "bad_request",
			   "field 'primary' must be a boolean");
		return -EBADMSG;
	}
	if (alg_s && guardian_alg_from_string(alg_s, &alg) < 0) {
		http_error(rq, 400, "bad_request",
			   "algorithm '%s': expected ec-p256, ec-p384, rsa3072 "
			   "or rsa4096",
			   alg_s);
		return -EBADMSG;
	}
	r = guardian_generate(name ? name : GKEY_DEFAULT_NAME, alg, &gd, &e);
	if (r == -EINVAL || r == -EBADMSG) {
		http_error(rq, 400, "bad_request", "%s", err_str(&e));
		return r;
	}
	if (r < 0)
		return r;
	r = guardian_row_new(gd, ctx->kek, false, &row, &e);
	if (r < 0)
		return r;
	json_object_set_new(details, "key_id", json_string(gd->id));
	json_object_set_new(details, "algorithm", json_string(row.algorithm));
	/* Added as a secondary key first: the one-primary rule holds at every
	 * step; then promoted in its own transaction. */
	r = store_guardian_add(ctx->store, &row, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "guardian key");
	if (json_is_true(prim)) {
		json_object_set_new(details, "primary", json_true());
		r = store_guardian_set_primary(ctx->store, gd->id, &e);
		if (r < 0)
			return api_store_error(rq, r, &e, "guardian key");
	}
	guardians_invalidate(ctx->guardians);
	return reply_gkey(rq, 201, gd->id);
}

int api_admin_gkeys_add(struct http_request *rq)
{
	return api_admin_audited(rq, "key-add", NULL, gkey_add);
}

enum gkey_change { GKEY_PRIMARY, GKEY_ENABLE, GKEY_DISABLE, GKEY_REMOVE };

static int gkey_change(struct http_request *rq, json_t *details,
		       enum gkey_change what)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct err e = { 0 };
	char obj[STORE_GUARDIAN_ID_MAX + 32];
	int r;

	if ((r = gkey_param(rq)) < 0)
		return r;
	json_object_set_new(details, "key_id", json_string(rq->param));
	snprintf(obj, sizeof(obj), "guardian key '%s'", rq->param);
	switch (what) {
	case GKEY_PRIMARY:
		r = store_guardian_set_primary(ctx->store, rq->param, &e);
		break;
	case GKEY_ENABLE:
	case GKEY_DISABLE:
		r = store_guardian_set_enabled(ctx->store, rq->param,
					       what == GKEY_ENABLE, &e);
		break;
	case GKEY_REMOVE:
		r = store_guardian_remove(ctx->store, rq->param, &e);
		break;
	}
	if (r == -EINVAL) {
		/* an invariant: the primary stays enabled, only disabled
		 * secondary keys go, a disabled key cannot become primary */
		http_error(rq, 409, "conflict", "%s", err_str(&e));
		return r;
	}
	if (r < 0)
		return api_store_error(rq, r, &e, obj);
	guardians_invalidate(ctx->guardians);
	if (what == GKEY_REMOVE)
		return http_reply_empty(rq, 204);
	return reply_gkey(rq, 200, rq->param);
}

static int gkey_set_primary(struct http_request *rq, json_t *details)
{
	return gkey_change(rq, details, GKEY_PRIMARY);
}

static int gkey_enable(struct http_request *rq, json_t *details)
{
	return gkey_change(rq, details, GKEY_ENABLE);
}

static int gkey_disable(struct http_request *rq, json_t *details)
{
	return gkey_change(rq, details, GKEY_DISABLE);
}

static int gkey_remove(struct http_request *rq, json_t *details)
{
	return gkey_change(rq, details, GKEY_REMOVE);
}

int api_admin_gkeys_set_primary(struct http_request *rq)
{
	return api_admin_audited(rq, "key-set-primary", NULL, gkey_set_primary);
}

int api_admin_gkeys_enable(struct http_request *rq)
{
	return api_admin_audited(rq, "key-enable", NULL, gkey_enable);
}

int api_admin_gkeys_disable(struct http_request *rq)
{
	return api_admin_audited(rq, "key-disable", NULL, gkey_disable);
}

int api_admin_gkeys_remove(struct http_request *rq)
{
	return api_admin_audited(rq, "key-remove", NULL, gkey_remove);
}
