/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/attest (docs/protocol.md): TPM-mode attestation appraised by
 * src/attest/appraise.c, or the weaker host-key mode, answered with an EAR
 * health token whose cnf is the host's transport key.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jose/b64.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "attest/appraise.h"
#include "attest/hash.h"
#include "attest/nonce.h"
#include "attest/token.h"
#include "attest/tpm2.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsd/api.h"
#include "hgsd/policy_cache.h"

DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)

#define ATTEST_SIG_MAX 1024

/* Refuse (403, or the given status) with a protocol reason, audit it. */
static int refuse(struct http_request *rq, unsigned status, const char *host, const char *code,
		  json_t *failures, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int refuse(struct http_request *rq, unsigned status, const char *host, const char *code,
		  json_t *failures, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;
	json_t *details;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	details = json_pack("{s:s, s:s}", "reason", code, "message", msg);
	if (details && failures)
		json_object_set(details, "failures", failures);
	api_audit(rq, host ? host : "", "attest", "fail", details);
	if (failures)
		http_error_json(rq, status, code, json_pack("{s:o}", "failures", failures), "%s", msg);
	else
		http_error(rq, status, code, "%s", msg);
	return -EPERM;
}

/* The nonce: ours (tag), fresh (age). */
static int check_nonce(struct http_request *rq, const uint8_t *nonce, size_t len,
		       int64_t now, int64_t *ret_issued)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct err e = { 0 };
	int r = nonce_check(ctx->nonce_key, nonce, len, now, ctx->cfg->nonce_lifetime, ret_issued, &e);

	if (r == -ETIME)
		return refuse(rq, 403, NULL, "nonce_expired", NULL, "%s", e.msg);
	if (r < 0)
		return refuse(rq, 403, NULL, "nonce_invalid", NULL, "%s", e.msg);
	return 0;
}

/* A nonce to consume: the one the evidence answers, when it was issued. */
struct nonce_use {
	const uint8_t *nonce;
	size_t len;
	int64_t issued;
};

/* What store_nonce_consume answered, as the reply. */
static int nonce_outcome(struct http_request *rq, const char *host, int r, const struct err *e)
{
	if (r == -EEXIST)
		return refuse(rq, 403, host, "nonce_reused", NULL, "%s",
			      "this nonce was already used: a replayed attestation");
	if (r < 0)
		return api_store_error(rq, r, e, "nonce");
	return 0;
}

/* The digest the store keeps, and until when. */
static int nonce_digest(struct http_request *rq, const struct nonce_use *n, uint8_t h[32],
			int64_t *ret_expires)
{
	*ret_expires = n->issued + api_ctx(rq)->cfg->nonce_lifetime + NONCE_MAX_CLOCK_SKEW;
	return hash_digest(hash_alg_by_id(TPM_ALG_SHA256), n->nonce, n->len, h) < 0 ? -EIO : 0;
}

/* Single use, cluster-wide: only after everything else passed. */
static int consume_nonce(struct http_request *rq, const char *host, const struct nonce_use *n,
			 int64_t now)
{
	struct api_ctx *ctx = api_ctx(rq);
	uint8_t h[32];
	struct err e = { 0 };
	int64_t expires;

	if (nonce_digest(rq, n, h, &expires) < 0)
		return -EIO;
	return nonce_outcome(rq, host, store_nonce_consume(ctx->store, h, expires, now, &e), &e);
}

/* The token and its audit record. With consume set, the nonce is consumed
 * here, after the token is signed and together with the record (one store
 * commit); the token is returned only once the nonce is consumed. */
static int issue(struct http_request *rq, const struct store_host *host, enum token_mode mode,
		 enum token_status status, const char *policy_id, const char *baseline,
		 json_t *cnf, int64_t now, const struct nonce_use *consume)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct token_claims c = { .iat = now, .exp = now + ctx->cfg->token_lifetime,
				  .status = status, .mode = mode, .cnf_jwk = cnf };
	_cleanup_free_ char *jwt = NULL;
	json_t *details;
	struct err e = { 0 };
	int r;

	snprintf(c.host, sizeof(c.host), "%s", host->name);
	snprintf(c.policy_id, sizeof(c.policy_id), "%s", policy_id);
	snprintf(c.baseline, sizeof(c.baseline), "%s", baseline ? baseline : "");
	snprintf(c.verifier_build, sizeof(c.verifier_build), "hgsd %s", HGSD_VERSION);
	if (token_new_jti(c.jti) < 0)
		return -EIO;
	r = token_issue(keys_primary(ctx->keys), &c, &jwt, &e);
	if (r < 0)
		return r;
	details = json_pack("{s:s, s:s, s:s, s:s, s:I}", "mode",
			    mode == TOKEN_MODE_TPM ? "tpm" : "host-key", "policy", policy_id,
			    "baseline", baseline ? baseline : "", "jti", c.jti, "exp", (json_int_t)c.exp);
	if (!consume) {
		api_audit(rq, host->name, "attest", "pass", details);
	} else {
		struct store_audit a;
		struct err ae = { 0 };
		uint8_t h[32];
		int64_t expires;
		int ar;

		if (nonce_digest(rq, consume, h, &expires) < 0) {
			json_decref(details);
			return -EIO;
		}
		r = api_audit_record(rq, host->name, "attest", "pass", details, &a);
		if (r < 0)
			return r;
		r = store_nonce_consume_audit(ctx->store, h, expires, now, &a, &ar, &ae, &e);
		free(a.details);
		if (r < 0)
			return nonce_outcome(rq, host->name, r, &e);
		if (ar < 0)
			api_audit_failed(rq, "attest", ar, &ae);
	}
	return http_reply(rq, 200, json_pack("{s:s, s:I}", "token", jwt, "expires", (json_int_t)c.exp));
}

/* {"sha256": {"0": "hex", ...}, ...} into quote_pcrs. */
static int parse_pcrs(struct http_request *rq, const json_t *obj, struct quote_pcrs *out)
{
	const char *bank, *key;
	json_t *vals, *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj) || json_object_size(obj) == 0 ||
	    json_object_size(obj) > QUOTE_MAX_BANKS)
		return http_error(rq, 400, "bad_request",
				  "field 'pcrs' must map 1 to %u bank names to PCR values",
				  QUOTE_MAX_BANKS), -EBADMSG;
	json_object_foreach((json_t *)obj, bank, vals) {
		const struct hash_alg *alg = hash_alg_by_name(bank);
		struct quote_pcr_bank *b;

		if (!alg || !json_is_object(vals))
			return http_error(rq, 400, "bad_request", "pcrs: unknown bank '%.16s'", bank),
			       -EBADMSG;
		b = quote_pcrs_add_bank(out, alg->tpm_id);
		if (!b || b->mask)
			return http_error(rq, 400, "bad_request", "pcrs: bank '%s' given twice", bank),
			       -EBADMSG;
		json_object_foreach(vals, key, v) {
			char *end;
			unsigned long p = strtoul(key, &end, 10);

			if (end == key || *end || p >= QUOTE_NUM_PCRS || key[0] == '-' ||
			    (key[0] == '0' && key[1]) || !json_is_string(v) ||
			    hex_decode(json_string_value(v), b->values[p], QUOTE_MAX_DIGEST) !=
				    (int)alg->size)
				return http_error(rq, 400, "bad_request",
						  "pcrs.%s: '%.8s' must be a PCR index 0-23 with a %u-byte hex value",
						  bank, key, alg->size),
				       -EBADMSG;
			b->mask |= 1u << p;
		}
	}
	return 0;
}

/* The transport key as the token's cnf JWK. The key is the one the
 * appraisal accepted (tpm2_public_to_pkey, a cache hit by now, says so
 * again); the JWK is written from the public area's numbers, which is what
 * token_jwk_from_pkey would write from the OpenSSL key, minus the cost of
 * reading them back out of OpenSSL. */
static int transport_key_jwk(const TPMT_PUBLIC *pub, json_t **ret, struct err *e)
{
	EVP_PKEY *pkey = NULL;
	int r = tpm2_public_to_pkey(pub, &pkey, e);

	EVP_PKEY_free(pkey);
	if (r < 0)
		return r;
	if (pub->type == TPM2_ALG_RSA) {
		uint32_t x = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent
							      : 65537;
		const uint8_t exp[4] = { (uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8),
					 (uint8_t)x };

		return token_jwk_from_rsa(pub->unique.rsa.buffer, pub->unique.rsa.size, exp,
					  sizeof(exp), ret, e);
	}
	switch (pub->parameters.eccDetail.curveID) {
	case TPM2_ECC_NIST_P256:
	case TPM2_ECC_NIST_P384:
	case TPM2_ECC_NIST_P521: {
		const TPMS_ECC_POINT *pt = &pub->unique.ecc;
		uint16_t curve = pub->parameters.eccDetail.curveID;

		return token_jwk_from_ec(curve == TPM2_ECC_NIST_P256   ? "P-256"
					 : curve == TPM2_ECC_NIST_P384 ? "P-384"
								       : "P-521",
					 pt->x.buffer, pt->x.size, pt->y.buffer, pt->y.size, ret, e);
	}
	default:
		return err_set(e, EINVAL, "transport key curve 0x%04x", pub->parameters.eccDetail.curveID);
	}
}

static json_t *failures_json(const struct policy_verdict *v)
{
	json_t *arr = json_array();

	for (int i = 0; i < _RULE_MAX; i++) {
		const struct policy_rule_result *r = &v->results[i];

		if (r->status != POLICY_FAIL)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:o, s:s}", "rule",
						     policy_rule_info((enum policy_rule_id)i)->id,
						     "event", r->event >= 0 ? json_integer(r->event) : json_null(),
						     "message", r->message));
	}
	return arr;
}

static int attest_tpm(struct http_request *rq, int64_t now)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_free_ uint8_t *nonce = NULL, *quote = NULL, *qsig = NULL, *log = NULL,
			       *tk = NULL, *cert = NULL, *csig = NULL, *ak_pub = NULL;
	size_t nonce_len, quote_len, qsig_len, log_len, tk_len, cert_len, csig_len, ak_pub_len;
	_cleanup_(tpm2_key_freep) struct tpm2_key *ak = NULL;
	_cleanup_free_ struct quote_pcrs *pcrs = NULL;
	_cleanup_free_ struct appraise_result *res = NULL;
	struct store_host host = { 0 };
	struct policy_ref *pref = NULL;
	struct appraise_input in;
	const json_t *tkobj = json_object_get(rq->body, "transport_key");
	const char *ak_hex = NULL;
	uint8_t ak_name[TPM2_NAME_MAX];
	int64_t host_id, issued;
	json_t *cnf = NULL;
	struct err e = { 0 };
	int n, r;

	if ((r = api_get_string(rq, rq->body, "ak_name", true, 2 * TPM2_NAME_MAX, &ak_hex)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "nonce", true, TPM_MAX_NONCE_SIZE, &nonce, &nonce_len)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "quote", true, TPM_MAX_ATTEST_SIZE, &quote, &quote_len)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "signature", true, TPM_MAX_SIGNATURE_SIZE, &qsig, &qsig_len)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "event_log", true, EVENTLOG_MAX_SIZE, &log, &log_len)) < 0)
		return r;
	if (!json_is_object(tkobj))
		return http_error(rq, 400, "bad_request", "missing object 'transport_key'"), -EBADMSG;
	if ((r = api_get_b64(rq, tkobj, "public", true, TPM_MAX_PUBLIC_SIZE, &tk, &tk_len)) < 0 ||
	    (r = api_get_b64(rq, tkobj, "certify", true, TPM_MAX_ATTEST_SIZE, &cert, &cert_len)) < 0 ||
	    (r = api_get_b64(rq, tkobj, "signature", true, TPM_MAX_SIGNATURE_SIZE, &csig, &csig_len)) < 0)
		return r;
	pcrs = calloc(1, sizeof(*pcrs));
	res = calloc(1, sizeof(*res));
	if (!pcrs || !res)
		return -ENOMEM;
	if ((r = parse_pcrs(rq, json_object_get(rq->body, "pcrs"), pcrs)) < 0)
		return r;
	n = hex_decode(ak_hex, ak_name, sizeof(ak_name));
	if (n < 2)
		return http_error(rq, 400, "bad_request", "ak_name must be a TPM name in hex"), -EBADMSG;

	if ((r = check_nonce(rq, nonce, nonce_len, now, &issued)) < 0)
		return r;
	r = store_ak_get(ctx->store, ak_name, (size_t)n, &host_id, &ak_pub, &ak_pub_len, &e);
	if (r == -ENOENT)
		return refuse(rq, 403, NULL, "ak_not_enrolled", NULL,
			      "attestation key %.132s was never enrolled", ak_hex);
	if (r < 0)
		return api_store_error(rq, r, &e, "attestation key");
	memset(&e, 0, sizeof(e));
	r = store_host_get_by_id(ctx->store, host_id, &host, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "host of the attestation key");
	if (!host.enabled) {
		r = refuse(rq, 403, host.name, "host_disabled", NULL, "host %s is disabled", host.name);
		goto out;
	}
	if (!(host.modes & STORE_MODE_TPM) || !(ctx->cfg->modes & CONFIG_MODE_TPM)) {
		r = refuse(rq, 403, host.name, "mode_not_allowed", NULL,
			   "host %s may not attest in TPM mode", host.name);
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if (tpm2_key_from_public(ak_pub, ak_pub_len, &ak, &e) < 0) {
		r = -EIO;
		goto out;
	}
	r = policy_cache_get(ctx->policies, &pref, &e);
	if (r < 0) {
		r = api_store_error(rq, r, &e, "attestation policy");
		goto out;
	}
	in = (struct appraise_input){
		.ak = ak, .nonce = nonce, .nonce_len = nonce_len,
		.quote = quote, .quote_len = quote_len, .quote_sig = qsig, .quote_sig_len = qsig_len,
		.pcrs = pcrs, .event_log = log, .event_log_len = log_len,
		.tk_public = tk, .tk_public_len = tk_len,
		.tk_certify = cert, .tk_certify_len = cert_len,
		.tk_certify_sig = csig, .tk_certify_sig_len = csig_len,
		.policy = policy_ref_policy(pref),
	};
	r = appraise_tpm(&in, res);
	if (r < 0)
		goto out;
	if (res->code != APPRAISE_PASS) {
		unsigned status = res->code == APPRAISE_BAD_TPM_STRUCTURE ||
						  res->code == APPRAISE_BAD_EVENT_LOG
					  ? 400
				  : res->code == APPRAISE_INTERNAL ? 500 : 403;

		r = refuse(rq, status, host.name, appraise_code_name(res->code),
			   res->evaluated ? failures_json(&res->verdict) : NULL, "%s", res->message);
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if (transport_key_jwk(&res->transport_key, &cnf, &e) < 0) {
		r = refuse(rq, 403, host.name, "transport_key_invalid", NULL, "transport key: %s", e.msg);
		goto out;
	}
	r = issue(rq, &host, TOKEN_MODE_TPM, TOKEN_AFFIRMING, policy_ref_policy(pref)->id,
		  res->verdict.baseline, cnf, now,
		  &(struct nonce_use){ .nonce = nonce, .len = nonce_len, .issued = issued });
out:
	json_decref(cnf);
	if (pref)
		policy_cache_put(ctx->policies, pref);
	store_host_clear(&host);
	return r;
}

/* Host-key mode: the host proves possession of its registered key over the
 * nonce. Weaker: nothing about the host's boot is measured; the token says
 * so (ear.status warning, attestation mode host-key). */
static int attest_host_key(struct http_request *rq, int64_t now)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_free_ uint8_t *nonce = NULL, *sig = NULL;
	size_t nonce_len, sig_len;
	struct store_host host = { 0 };
	const json_t *tkobj = json_object_get(rq->body, "transport_key");
	const json_t *jwk = tkobj ? json_object_get(tkobj, "jwk") : NULL;
	const char *name = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	BIO *bio = NULL;
	struct err e = { 0 };
	int64_t issued;
	int r;

	if ((r = api_get_string(rq, rq->body, "host", true, 127, &name)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "nonce", true, TPM_MAX_NONCE_SIZE, &nonce, &nonce_len)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "signature", true, ATTEST_SIG_MAX, &sig, &sig_len)) < 0)
		return r;
	if (!json_is_object(jwk))
		return http_error(rq, 400, "bad_request", "missing object 'transport_key.jwk'"),
		       -EBADMSG;
	if ((r = check_nonce(rq, nonce, nonce_len, now, &issued)) < 0)
		return r;
	r = store_host_get(ctx->store, name, &host, &e);
	if (r == -ENOENT)
		return refuse(rq, 403, NULL, "unknown_host", NULL, "no host named %.64s", name);
	if (r < 0)
		return api_store_error(rq, r, &e, "host");
	if (!host.enabled) {
		r = refuse(rq, 403, host.name, "host_disabled", NULL, "host %s is disabled", host.name);
		goto out;
	}
	if (!(host.modes & STORE_MODE_HOST_KEY) || !host.host_key_pem ||
	    !(ctx->cfg->modes & CONFIG_MODE_HOST_KEY)) {
		r = refuse(rq, 403, host.name, "mode_not_allowed", NULL,
			   "host %s may not attest in host-key mode", host.name);
		goto out;
	}
	bio = BIO_new_mem_buf(host.host_key_pem, -1);
	pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	md = EVP_MD_CTX_new();
	if (!pkey || !md) {
		r = -EIO;
		goto out;
	}
	/* ECDSA (DER) or RSA-PSS, SHA-256, over the nonce bytes. */
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA &&
	     EVP_PKEY_CTX_set_rsa_padding(EVP_MD_CTX_get_pkey_ctx(md), RSA_PKCS1_PSS_PADDING) != 1) ||
	    EVP_DigestVerify(md, sig, sig_len, nonce, nonce_len) != 1) {
		r = refuse(rq, 403, host.name, "quote_invalid", NULL,
			   "the signature over the nonce does not verify with host %s's key", host.name);
		goto out;
	}
	r = consume_nonce(rq, host.name,
			  &(struct nonce_use){ .nonce = nonce, .len = nonce_len, .issued = issued },
			  now);
	if (r < 0)
		goto out;
	{
		struct policy_ref *pref = NULL;

		r = policy_cache_get(ctx->policies, &pref, &e);
		if (r < 0) {
			r = api_store_error(rq, r, &e, "attestation policy");
			goto out;
		}
		/* token_issue checks the JWK is a public key of an allowed type */
		r = issue(rq, &host, TOKEN_MODE_HOST_KEY, TOKEN_WARNING, policy_ref_policy(pref)->id,
			  NULL, (json_t *)jwk, now, NULL);
		policy_cache_put(ctx->policies, pref);
		if (r == -EINVAL)
			r = refuse(rq, 400, host.name, "bad_request", NULL, "%s",
				   "transport_key.jwk is not a public EC P-256/P-384 or RSA >= 2048 key");
	}
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	store_host_clear(&host);
	return r;
}

int api_attest_post(struct http_request *rq)
{
	const json_t *mode = json_object_get(rq->body, "mode");
	int64_t now = time(NULL);

	if (!mode || (json_is_string(mode) && streq(json_string_value(mode), "tpm")))
		return attest_tpm(rq, now);
	if (json_is_string(mode) && streq(json_string_value(mode), "host-key"))
		return attest_host_key(rq, now);
	return http_error(rq, 400, "bad_request", "field 'mode' must be \"tpm\" or \"host-key\""),
	       -EBADMSG;
}
