/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API (docs/protocol.md, "Admin API"): hosts, baselines, rules,
 * token verification and the audit log, over the store. Served only on the
 * Unix socket, to root and members of [admin] group; every change (and
 * every refused change) is an audit record with action "admin".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jose/b64.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "attest/baseline.h"
#include "attest/ektemplate.h"
#include "attest/policy.h"
#include "attest/token.h"
#include "attest/tpm2.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsd/api.h"
#include "hgsd/log.h"

DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)
DEFINE_CLEANUP_FUNC(struct baseline, baseline_free)

static void store_host_clearp(struct store_host *h)
{
	store_host_clear(h);
}

/* ---- who may administer ---- */

int api_admin_check(struct http_request *rq, const char **why)
{
	struct api_ctx *ctx = api_ctx(rq);
	const struct http_peer *p = &rq->peer;

	if (p->uid == 0)
		return 0;
	if (ctx->has_admin_group) {
		if (p->gid == ctx->admin_gid)
			return 0;
		if (p->groups_known)
			for (size_t i = 0; i < p->n_groups; i++)
				if (p->groups[i] == ctx->admin_gid)
					return 0;
	}
	*why = !ctx->has_admin_group ? "not root, and no admin group exists" :
	       p->groups_known ? "not root and not in the admin group" :
				 "not root, and the peer's groups are unknown";
	api_audit(rq, NULL, "admin", "fail",
		  json_pack("{s:s, s:s, s:s, s:I}", "op", "connect", "reason",
			    *why, "path", rq->path, "peer_gid",
			    (json_int_t)p->gid));
	return -EPERM;
}

/* Run a change handler and record its outcome: "pass" for 2xx, "fail" for
 * an error reply, "error" when it failed without one. */
static int audited(struct http_request *rq, const char *op, const char *host,
		   int (*fn)(struct http_request *rq, json_t *details))
{
	json_t *details = json_pack("{s:s}", "op", op);
	unsigned status;
	int r;

	if (!details)
		return -ENOMEM;
	r = fn(rq, details);
	status = http_status(rq);
	json_object_set_new(details, "status", json_integer(status ? status : 500));
	api_audit(rq, host, "admin",
		  status && status < 400 && r >= 0 ? "pass" :
		  status >= 400 ? "fail" : "error",
		  details);
	return r;
}

int api_admin_audited(struct http_request *rq, const char *op, const char *host,
		      int (*fn)(struct http_request *rq, json_t *details))
{
	return audited(rq, op, host, fn);
}

/* ---- hosts ---- */

static json_t *host_modes_json(unsigned modes)
{
	json_t *a = json_array();

	if (a && (modes & STORE_MODE_TPM))
		json_array_append_new(a, json_string("tpm"));
	if (a && (modes & STORE_MODE_HOST_KEY))
		json_array_append_new(a, json_string("host-key"));
	return a;
}

static json_t *host_json(const struct store_host *h, bool full)
{
	char hex[2 * TPM2_NAME_MAX + 1];
	json_t *j;

	j = json_pack("{s:s, s:o, s:b, s:o, s:I, s:b, s:b, s:b}", "name", h->name,
		      "modes", host_modes_json(h->modes), "enabled", h->enabled,
		      "ek_name",
		      h->ek_name_len && h->ek_name_len <= TPM2_NAME_MAX ?
			      json_string(hex_encode(h->ek_name, h->ek_name_len, hex)) :
			      json_null(),
		      "created", (json_int_t)h->created, "has_ek_pub",
		      h->ek_pub != NULL, "has_ek_cert", h->ek_cert != NULL,
		      "has_host_key", h->host_key_pem != NULL);
	if (!j || !full)
		return j;
	if (h->ek_pub)
		json_object_set_new(j, "ek_pub", jose_b64_enc(h->ek_pub, h->ek_pub_len));
	if (h->ek_cert)
		json_object_set_new(j, "ek_cert", jose_b64_enc(h->ek_cert, h->ek_cert_len));
	if (h->host_key_pem)
		json_object_set_new(j, "host_key_pem", json_string(h->host_key_pem));
	return j;
}

int api_admin_hosts_list(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct store_host *v = NULL;
	struct err e = { 0 };
	size_t n = 0;
	json_t *arr;
	int r;

	r = store_host_list(ctx->store, &v, &n, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "hosts");
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, host_json(&v[i], false)) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	store_hosts_free(v, n);
	if (!arr)
		return -ENOMEM;
	return http_reply(rq, 200, json_pack("{s:o}", "hosts", arr));
}

static int reply_host(struct http_request *rq, unsigned status, const char *name)
{
	_cleanup_(store_host_clearp) struct store_host h = { 0 };
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	int r;

	snprintf(what, sizeof(what), "host '%s'", name);
	r = store_host_get(api_ctx(rq)->store, name, &h, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	return http_reply(rq, status, host_json(&h, true));
}

int api_admin_hosts_show(struct http_request *rq)
{
	if (!api_name_valid(rq->param)) {
		http_error(rq, 404, "not_found", "host not found");
		return -ENOENT;
	}
	return reply_host(rq, 200, rq->param);
}

static int host_set_ek(struct http_request *rq, const TPMT_PUBLIC *pub,
		       struct store_host *h);

/* EK public: a restricted decryption key, normalised to a TPM2B_PUBLIC. */
static int host_add_ek_pub(struct http_request *rq, const uint8_t *buf,
			   size_t len, struct store_host *h)
{
	TPMT_PUBLIC pub;
	struct err e = { 0 };
	int r;

	r = tpm2_public_unmarshal(buf, len, &pub, &e);
	if (r < 0) {
		http_error(rq, 400, "bad_tpm_structure", "ek_pub: %s", err_str(&e));
		return r;
	}
	if (!(pub.objectAttributes & TPMA_OBJECT_RESTRICTED) ||
	    !(pub.objectAttributes & TPMA_OBJECT_DECRYPT) ||
	    (pub.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT)) {
		http_error(rq, 400, "bad_request",
			   "ek_pub: not an endorsement key (attributes 0x%08" PRIx32
			   ": an EK is a restricted decryption key)",
			   (uint32_t)pub.objectAttributes);
		return -EBADMSG;
	}
	return host_set_ek(rq, &pub, h);
}

/*
 * The EK public area a TPM makes from the TCG EK Credential Profile's
 * standard template for the certified key (src/attest/ektemplate.h). Lets a
 * host registered by certificate alone be found by EK name.
 */
static int ek_public_from_cert(const uint8_t *cert, size_t len,
			       TPMT_PUBLIC *p, const char **ret_template,
			       struct err *e)
{
	enum ektemplate t;
	EVP_PKEY *pk = NULL;
	int r;

	r = ekcert_public_key(cert, len, &pk, e);
	if (r < 0)
		return r;
	r = ektemplate_from_pkey(pk, p, &t);
	EVP_PKEY_free(pk);
	if (r < 0)
		return err_set(e, EINVAL, "the certified key is not an RSA 2048 (exponent 65537), ECC P-256 or P-384 key of a standard EK template; register with ek_pub as well");
	*ret_template = ektemplate_name(t);
	return 0;
}

/* Normalise a public area to a stored TPM2B_PUBLIC and compute its name. */
static int host_set_ek(struct http_request *rq, const TPMT_PUBLIC *pub,
		       struct store_host *h)
{
	struct err e = { 0 };
	uint8_t *m;
	size_t mlen;
	int r;

	r = tpm2_public_name(pub, h->ek_name, &h->ek_name_len, &e);
	if (r < 0) {
		http_error(rq, 400, "bad_tpm_structure", "ek_pub: %s", err_str(&e));
		return r;
	}
	m = malloc(2 + TPM_MAX_PUBLIC_SIZE);
	if (!m)
		return -ENOMEM;
	r = tpm2_public_marshal(pub, m + 2, TPM_MAX_PUBLIC_SIZE, &mlen, &e);
	if (r < 0 || mlen > UINT16_MAX) {
		free(m);
		http_error(rq, 400, "bad_tpm_structure", "ek_pub: %s", err_str(&e));
		return r < 0 ? r : -EBADMSG;
	}
	m[0] = (uint8_t)(mlen >> 8);
	m[1] = (uint8_t)mlen;
	free(h->ek_pub);
	h->ek_pub = m;
	h->ek_pub_len = mlen + 2;
	return 0;
}

static int host_add_ek_cert(struct http_request *rq, const uint8_t *cert,
			    size_t len, const uint8_t *ek_pub, size_t ek_pub_len,
			    json_t *details)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct ekcert_info info;
	struct err e = { 0 };
	int r;

	if (!ctx->ek_cas) {
		http_error(rq, 403, "ek_cert_untrusted",
			   "no TPM vendor CA is configured ([attestation] ek_ca_dir)");
		return -EKEYREJECTED;
	}
	r = ekcert_verify(ctx->ek_cas, cert, len, 0, &info, &e);
	if (r == -EBADMSG || r == -EMSGSIZE) {
		http_error(rq, 400, "bad_request", "ek_cert: %s", err_str(&e));
		return r;
	}
	if (r == -EKEYREJECTED || r == -ENOENT) {
		http_error(rq, 403, "ek_cert_untrusted", "ek_cert: %s", err_str(&e));
		return r;
	}
	if (r < 0)
		return r;
	json_object_set_new(details, "ek_cert_issuer", json_string(info.issuer));
	if (ek_pub) {
		TPMT_PUBLIC pub;

		r = tpm2_public_unmarshal(ek_pub, ek_pub_len, &pub, &e);
		if (r == 0)
			r = ekcert_match_public(cert, len, &pub, &e);
		if (r < 0) {
			http_error(rq, 400, "bad_request",
				   "ek_cert does not certify ek_pub: %s", err_str(&e));
			return r;
		}
	}
	return 0;
}

static int host_add(struct http_request *rq, json_t *details)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_(store_host_clearp) struct store_host h = { 0 };
	_cleanup_free_ uint8_t *ek_pub = NULL, *ek_cert = NULL;
	_cleanup_(tpm2_key_freep) struct tpm2_key *hk = NULL;
	size_t ek_pub_len, ek_cert_len;
	const char *name, *pem;
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	int64_t id;
	int r;

	r = api_get_string(rq, rq->body, "name", true, HGSD_NAME_MAX, &name);
	if (r < 0)
		return r;
	if (!api_name_valid(name)) {
		http_error(rq, 400, "bad_request",
			   "name: 1 to %u of A-Z a-z 0-9 . _ -, not starting with . or -",
			   HGSD_NAME_MAX);
		return -EBADMSG;
	}
	r = api_get_b64(rq, rq->body, "ek_pub", false, TPM_MAX_PUBLIC_SIZE,
			&ek_pub, &ek_pub_len);
	if (r < 0)
		return r;
	r = api_get_b64(rq, rq->body, "ek_cert", false, EKCERT_MAX_SIZE,
			&ek_cert, &ek_cert_len);
	if (r < 0)
		return r;
	r = api_get_string(rq, rq->body, "host_key_pem", false,
			   HGSD_HOST_KEY_PEM_MAX, &pem);
	if (r < 0)
		return r;
	if (!ek_pub && !ek_cert && !pem) {
		http_error(rq, 400, "bad_request",
			   "a host needs ek_pub, ek_cert or host_key_pem");
		return -EBADMSG;
	}
	if ((ek_pub || ek_cert) && !(ctx->cfg->modes & CONFIG_MODE_TPM)) {
		http_error(rq, 400, "bad_request",
			   "TPM mode is disabled on this server ([attestation] modes)");
		return -EBADMSG;
	}
	if (pem && !(ctx->cfg->modes & CONFIG_MODE_HOST_KEY)) {
		http_error(rq, 400, "bad_request",
			   "host-key mode is disabled on this server ([attestation] modes)");
		return -EBADMSG;
	}

	snprintf(h.name, sizeof(h.name), "%s", name);
	h.enabled = true;
	h.created = time(NULL);
	if (ek_pub) {
		r = host_add_ek_pub(rq, ek_pub, ek_pub_len, &h);
		if (r < 0)
			return r;
		h.modes |= STORE_MODE_TPM;
	}
	if (ek_cert) {
		r = host_add_ek_cert(rq, ek_cert, ek_cert_len, h.ek_pub,
				     h.ek_pub_len, details);
		if (r < 0)
			return r;
		if (!ek_pub) {
			TPMT_PUBLIC pub;
			const char *tmpl = NULL;

			r = ek_public_from_cert(ek_cert, ek_cert_len, &pub, &tmpl, &e);
			if (r < 0) {
				http_error(rq, 400, "bad_request", "ek_cert: %s", err_str(&e));
				return r;
			}
			r = host_set_ek(rq, &pub, &h);
			if (r < 0)
				return r;
			json_object_set_new(details, "ek_template", json_string(tmpl));
		}
		h.ek_cert = TAKE_PTR(ek_cert);
		h.ek_cert_len = ek_cert_len;
		h.modes |= STORE_MODE_TPM;
	}
	if (pem) {
		r = tpm2_key_from_pem((const uint8_t *)pem, strlen(pem), &hk, &e);
		if (r < 0) {
			http_error(rq, 400, "bad_request", "host_key_pem: %s",
				   err_str(&e));
			return r;
		}
		h.host_key_pem = strdup(pem);
		if (!h.host_key_pem)
			return -ENOMEM;
		h.modes |= STORE_MODE_HOST_KEY;
	}
	if (h.ek_name_len) {
		char hex[2 * TPM2_NAME_MAX + 1];

		json_object_set_new(details, "ek_name",
				    json_string(hex_encode(h.ek_name, h.ek_name_len, hex)));
	}
	json_object_set_new(details, "modes", host_modes_json(h.modes));

	snprintf(what, sizeof(what), "host '%s'", name);
	r = store_host_add(ctx->store, &h, &id, &e);
	if (r == -EEXIST) {
		http_error(rq, 409, "conflict",
			   "host '%s': the name or the EK is registered already", name);
		return r;
	}
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	return reply_host(rq, 201, name);
}

int api_admin_hosts_add(struct http_request *rq)
{
	const json_t *n = json_object_get(rq->body, "name");

	return audited(rq, "host-add", json_is_string(n) ? json_string_value(n) : NULL,
		       host_add);
}

static int host_set_enabled(struct http_request *rq, json_t *details, bool on)
{
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	int r;

	if (!api_name_valid(rq->param)) {
		http_error(rq, 404, "not_found", "host not found");
		return -ENOENT;
	}
	snprintf(what, sizeof(what), "host '%s'", rq->param);
	r = store_host_set_enabled(api_ctx(rq)->store, rq->param, on, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	return reply_host(rq, 200, rq->param);
}

static int host_enable(struct http_request *rq, json_t *details)
{
	return host_set_enabled(rq, details, true);
}

static int host_disable(struct http_request *rq, json_t *details)
{
	return host_set_enabled(rq, details, false);
}

int api_admin_hosts_enable(struct http_request *rq)
{
	return audited(rq, "host-enable", rq->param, host_enable);
}

int api_admin_hosts_disable(struct http_request *rq)
{
	return audited(rq, "host-disable", rq->param, host_disable);
}

static int host_remove(struct http_request *rq, json_t *details)
{
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	int r;

	if (!api_name_valid(rq->param)) {
		http_error(rq, 404, "not_found", "host not found");
		return -ENOENT;
	}
	snprintf(what, sizeof(what), "host '%s'", rq->param);
	r = store_host_remove(api_ctx(rq)->store, rq->param, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	return http_reply_empty(rq, 204);
}

int api_admin_hosts_remove(struct http_request *rq)
{
	return audited(rq, "host-remove", rq->param, host_remove);
}

/* ---- baselines ---- */

/* {"name", "bank", "pcrs": [...], "events": N} of a stored baseline. */
static json_t *baseline_summary(const char *name, const char *text)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	struct err e = { 0 };
	uint32_t events = 0;
	json_t *pcrs;

	j = json_loads(text, 0, NULL);
	if (!j || baseline_from_json(j, &b, &e) < 0)
		return json_pack("{s:s, s:s}", "name", name, "error",
				 j ? err_str(&e) : "stored baseline is not JSON");
	pcrs = json_array();
	for (unsigned i = 0; pcrs && i < EVENTLOG_NUM_PCRS; i++) {
		if (b->pcr_mask & (1u << i))
			json_array_append_new(pcrs, json_integer(i));
		events += b->pcrs[i].n_events;
	}
	return json_pack("{s:s, s:s, s:o, s:I, s:s?}", "name", name, "bank",
			 b->alg ? b->alg->name : "?", "pcrs", pcrs, "events",
			 (json_int_t)events, "source", b->source);
}

int api_admin_baselines_list(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	char **names = NULL;
	struct err e = { 0 };
	size_t n = 0;
	json_t *arr;
	int r;

	r = store_baseline_list(ctx->store, &names, &n, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "baselines");
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char *text = NULL;

		if (arr && store_baseline_get(ctx->store, names[i], &text, &e) == 0)
			json_array_append_new(arr, baseline_summary(names[i], text));
		free(text);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!arr)
		return -ENOMEM;
	return http_reply(rq, 200, json_pack("{s:o}", "baselines", arr));
}

int api_admin_baselines_show(struct http_request *rq)
{
	_cleanup_free_ char *text = NULL;
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	json_t *j;
	int r;

	if (!api_name_valid(rq->param)) {
		http_error(rq, 404, "not_found", "baseline not found");
		return -ENOENT;
	}
	snprintf(what, sizeof(what), "baseline '%s'", rq->param);
	r = store_baseline_get(api_ctx(rq)->store, rq->param, &text, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	j = json_loads(text, 0, NULL);
	if (!j)
		return -EBADMSG;
	return http_reply(rq, 200, json_pack("{s:s, s:o}", "name", rq->param,
					     "baseline", j));
}

static int baseline_add(struct http_request *rq, json_t *details)
{
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	_cleanup_free_ char *text = NULL;
	const json_t *bj;
	const char *name;
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	json_t *canon, *summary;
	int r;

	r = api_get_string(rq, rq->body, "name", true, HGSD_NAME_MAX, &name);
	if (r < 0)
		return r;
	if (!api_name_valid(name)) {
		http_error(rq, 400, "bad_request",
			   "name: 1 to %u of A-Z a-z 0-9 . _ -, not starting with . or -",
			   HGSD_NAME_MAX);
		return -EBADMSG;
	}
	json_object_set_new(details, "baseline", json_string(name));
	bj = json_object_get(rq->body, "baseline");
	if (!json_is_object(bj)) {
		http_error(rq, 400, "bad_request",
			   "field 'baseline' must be the JSON of 'shieldvm baseline capture'");
		return -EBADMSG;
	}
	r = baseline_from_json(bj, &b, &e);
	if (r < 0) {
		http_error(rq, 400, "bad_request", "baseline: %s", err_str(&e));
		return r == -ENOMEM ? r : -EBADMSG;
	}
	/* The stored copy is canonical and carries the name it is stored by. */
	free(b->name);
	b->name = strdup(name);
	if (!b->name)
		return -ENOMEM;
	canon = baseline_to_json(b);
	if (!canon)
		return -ENOMEM;
	text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(canon);
	if (!text)
		return -ENOMEM;
	snprintf(what, sizeof(what), "baseline '%s'", name);
	r = store_baseline_put(api_ctx(rq)->store, name, text, &e);
	if (r == -EEXIST) {
		http_error(rq, 409, "conflict", "baseline '%s' exists already", name);
		return r;
	}
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	summary = baseline_summary(name, text);
	if (summary && json_is_string(json_object_get(summary, "bank")))
		json_object_set(details, "bank", json_object_get(summary, "bank"));
	return http_reply(rq, 201, summary);
}

int api_admin_baselines_add(struct http_request *rq)
{
	return audited(rq, "baseline-add", NULL, baseline_add);
}

static int baseline_remove(struct http_request *rq, json_t *details)
{
	struct err e = { 0 };
	char what[HGSD_NAME_MAX + 16];
	int r;

	if (!api_name_valid(rq->param)) {
		http_error(rq, 404, "not_found", "baseline not found");
		return -ENOENT;
	}
	json_object_set_new(details, "baseline", json_string(rq->param));
	snprintf(what, sizeof(what), "baseline '%s'", rq->param);
	r = store_baseline_remove(api_ctx(rq)->store, rq->param, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, what);
	return http_reply_empty(rq, 204);
}

int api_admin_baselines_remove(struct http_request *rq)
{
	return audited(rq, "baseline-remove", NULL, baseline_remove);
}

/* ---- rules ---- */

struct rule_state {
	bool set[_RULE_MAX];
	bool enabled[_RULE_MAX];
};

static int rule_collect(const char *rule, bool enabled, void *userdata)
{
	struct rule_state *rs = userdata;
	int id = policy_rule_lookup(rule);

	if (id >= 0 && id < _RULE_MAX) {
		rs->set[id] = true;
		rs->enabled[id] = enabled;
	}
	return 0;
}

static json_t *rule_json(int id, const struct rule_state *rs)
{
	const struct policy_rule_info *ri = policy_rule_info((enum policy_rule_id)id);

	return json_pack("{s:s, s:s, s:b, s:b}", "id", ri->id, "description",
			 ri->description, "enabled",
			 rs->set[id] ? rs->enabled[id] : ri->default_enabled,
			 "default", ri->default_enabled);
}

static int rules_load(struct http_request *rq, struct rule_state *rs)
{
	struct err e = { 0 };
	int r;

	*rs = (struct rule_state){ 0 };
	r = store_rule_list(api_ctx(rq)->store, rule_collect, rs, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "rules");
	return 0;
}

int api_admin_rules_list(struct http_request *rq)
{
	struct rule_state rs;
	json_t *arr;
	int r;

	r = rules_load(rq, &rs);
	if (r < 0)
		return r;
	arr = json_array();
	for (int i = 0; arr && i < _RULE_MAX; i++)
		json_array_append_new(arr, rule_json(i, &rs));
	if (!arr)
		return -ENOMEM;
	return http_reply(rq, 200, json_pack("{s:o}", "rules", arr));
}

static int rule_set(struct http_request *rq, json_t *details, bool on)
{
	struct rule_state rs;
	struct err e = { 0 };
	int id, r;

	id = policy_rule_lookup(rq->param);
	if (id < 0) {
		http_error(rq, 404, "not_found",
			   "unknown rule '%s' (GET /v1/admin/rules lists them)",
			   rq->param);
		return -ENOENT;
	}
	json_object_set_new(details, "rule", json_string(rq->param));
	r = store_rule_set(api_ctx(rq)->store, rq->param, on, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "rule");
	r = rules_load(rq, &rs);
	if (r < 0)
		return r;
	return http_reply(rq, 200, rule_json(id, &rs));
}

static int rule_enable(struct http_request *rq, json_t *details)
{
	return rule_set(rq, details, true);
}

static int rule_disable(struct http_request *rq, json_t *details)
{
	return rule_set(rq, details, false);
}

int api_admin_rules_enable(struct http_request *rq)
{
	return audited(rq, "rule-enable", NULL, rule_enable);
}

int api_admin_rules_disable(struct http_request *rq)
{
	return audited(rq, "rule-disable", NULL, rule_disable);
}

/* ---- tokens ---- */

static const char *token_status_name(enum token_status s)
{
	switch (s) {
	case TOKEN_AFFIRMING:
		return "affirming";
	case TOKEN_WARNING:
		return "warning";
	case TOKEN_CONTRAINDICATED:
		return "contraindicated";
	}
	return "unknown";
}

int api_admin_tokens_verify(struct http_request *rq)
{
	struct token_claims c = { 0 };
	const char *jwt, *code;
	struct err e = { 0 };
	json_t *claims;
	int r;

	r = api_get_string(rq, rq->body, "token", true, TOKEN_MAX_SIZE, &jwt);
	if (r < 0)
		return r;
	r = token_verify(keys_jwks(api_ctx(rq)->keys), jwt, time(NULL), &c, &e);
	switch (r) {
	case 0:
		break;
	case -EBADMSG:
		code = "token_malformed";
		goto invalid;
	case -EKEYREJECTED:
		code = "token_invalid";
		goto invalid;
	case -ETIME:
		code = "token_expired";
		goto invalid;
	default:
		return r;
	}
	claims = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			   "iat", (json_int_t)c.iat, "exp", (json_int_t)c.exp,
			   "status", token_status_name(c.status), "mode",
			   c.mode == TOKEN_MODE_TPM ? "tpm" : "host-key",
			   "host", c.host, "policy_id", c.policy_id, "baseline",
			   c.baseline, "verifier_build", c.verifier_build, "jti",
			   c.jti);
	if (claims && c.cnf_jwk)
		json_object_set_new(claims, "cnf",
				    json_pack("{s:O}", "jwk", c.cnf_jwk));
	token_claims_clear(&c);
	if (!claims)
		return -ENOMEM;
	return http_reply(rq, 200, json_pack("{s:b, s:o}", "valid", 1, "claims", claims));

invalid:
	return http_reply(rq, 200, json_pack("{s:b, s:s, s:s}", "valid", 0,
					     "error", code, "message", err_str(&e)));
}

/* ---- audit ---- */

static int query_uint(struct http_request *rq, const char *key,
		      unsigned long long max, unsigned long long *ret)
{
	const char *v = http_query(rq, key);
	char *end;

	if (!v)
		return 0;
	errno = 0;
	if (v[0] < '0' || v[0] > '9' ||
	    (*ret = strtoull(v, &end, 10), errno || *end) || *ret > max) {
		http_error(rq, 400, "bad_request",
			   "query '%s' must be an integer in [0, %llu]", key, max);
		return -EBADMSG;
	}
	return 1;
}

static int audit_collect(const struct store_audit *a, void *userdata)
{
	json_t *arr = userdata;
	json_t *details = a->details ? json_loads(a->details, 0, NULL) : json_null();
	json_t *rec;

	if (!details)
		details = json_string(a->details);
	rec = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)a->id,
			"time", (json_int_t)a->time, "host", a->host, "action",
			a->action, "result", a->result, "details", details);
	if (!rec || json_array_append_new(arr, rec) < 0)
		return -ENOMEM;
	return 0;
}

int api_admin_audit_list(struct http_request *rq)
{
	unsigned long long since = 0, limit = HGSD_AUDIT_DEFAULT_LIMIT;
	const char *host = http_query(rq, "host");
	struct err e = { 0 };
	json_t *arr;
	int r;

	if (host && !api_name_valid(host)) {
		http_error(rq, 400, "bad_request", "query 'host' is not a host name");
		return -EBADMSG;
	}
	r = query_uint(rq, "since", INT64_MAX, &since);
	if (r < 0)
		return r;
	r = query_uint(rq, "limit", HGSD_AUDIT_MAX_LIMIT, &limit);
	if (r < 0)
		return r;
	if (limit == 0)
		limit = HGSD_AUDIT_DEFAULT_LIMIT;
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	r = store_audit_list(api_ctx(rq)->store, host, (int64_t)since,
			     (size_t)limit, audit_collect, arr, &e);
	if (r < 0) {
		json_decref(arr);
		return api_store_error(rq, r, &e, "audit");
	}
	return http_reply(rq, 200, json_pack("{s:o}", "records", arr));
}

/* GET /v1/admin/audit/verify[?anchor=ID:HEX]: the audit hash chain
 * recomputed over every record, and optionally compared with a head hgsd
 * logged earlier (event audit_head). */
int api_admin_audit_verify(struct http_request *rq)
{
	const char *anchor_q = http_query(rq, "anchor");
	uint8_t anchor[STORE_AUDIT_CHAIN_SIZE];
	char head_hex[2 * STORE_AUDIT_CHAIN_SIZE + 1];
	unsigned long long anchor_id = 0;
	struct store_audit_check c;
	struct err e = { 0 };
	json_t *body;
	int r;

	if (anchor_q) {
		const char *colon = strchr(anchor_q, ':');
		char *end;

		errno = 0;
		if (!colon || anchor_q[0] < '1' || anchor_q[0] > '9' ||
		    (anchor_id = strtoull(anchor_q, &end, 10), errno || end != colon) ||
		    anchor_id > INT64_MAX || strlen(colon + 1) != 2 * STORE_AUDIT_CHAIN_SIZE ||
		    hex_decode(colon + 1, anchor, sizeof(anchor)) != STORE_AUDIT_CHAIN_SIZE) {
			http_error(rq, 400, "bad_request",
				   "query 'anchor' must be ID:CHAIN (a record id and its 64-hex-digit chain, "
				   "as the audit_head log event gives them)");
			return -EBADMSG;
		}
	}
	r = store_audit_check(api_ctx(rq)->store, (int64_t)anchor_id, anchor_q ? anchor : NULL,
			      &c, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "audit");
	hex_encode(c.head, sizeof(c.head), head_hex);
	body = json_pack("{s:b, s:I, s:I, s:o, s:{s:I, s:s}, s:o}", "intact",
			 !c.broken_id && (!c.anchor_given || c.anchor_matches), "records",
			 (json_int_t)c.records, "unchained", (json_int_t)c.unchained,
			 "first_chained",
			 c.first_chained ? json_integer(c.first_chained) : json_null(), "head",
			 "id", (json_int_t)c.head_id, "chain", c.head_id ? head_hex : "",
			 "broken_at", c.broken_id ? json_integer(c.broken_id) : json_null());
	if (body && c.anchor_given)
		json_object_set_new(body, "anchor",
				    json_pack("{s:I, s:b, s:b}", "id", (json_int_t)anchor_id, "found",
					      c.anchor_found, "matches", c.anchor_matches));
	return http_reply(rq, 200, body);
}
