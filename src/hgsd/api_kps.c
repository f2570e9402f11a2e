/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Key Protection Service (docs/protocol.md): GET /v1/guardian,
 * POST /v1/unwrap and POST /v1/unwrap/commit.
 *
 * An unwrap releases a KP's transport key (TK) to a host with a valid
 * health token, sealed to the transport key in the token's cnf (only that
 * host's TPM can open it), together with the next generation of the KP
 * (a fresh TK, wrapped for the same guardians) and its TK. A commit records
 * the next generation once the host proves it holds the next TK; from then
 * on older generations of that VM are refused (rollback protection).
 *
 * The checks run in the documented order and the first failure answers;
 * every decision is an audit record (host, vm_id, KP digest, result,
 * reason). TKs live in stack buffers wiped before return.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "attest/token.h"
#include "common/b64.h"
#include "common/util.h"
#include "hgsd/api.h"
#include "hgsd/guardians.h"
#include "hgsd/log.h"
#include "kp/kp.h"
#include "kp/seal.h"

#define KPS_COMMIT_INFO "shieldvm kp commit v1" /* HKDF info of the MAC key */
#define KPS_MAC_SIZE 32				/* HMAC-SHA256 */
#define KPS_B64_32 44	      /* base64url of 32 bytes + NUL */
#define KPS_SEALED_PT_MAX 640 /* the sealed plaintext */

enum kps_action { KPS_UNWRAP, KPS_COMMIT };

/* What one request learned so far: the audit record says as much as is
 * known when it ends. */
struct kps_req {
	enum kps_action action;
	struct token_claims claims;
	bool have_claims;
	struct kp *kp;
	char digest[48];    /* KP digest, base64url; "" before parsing */
	const char *key_id; /* the guardian key that unwrapped */
	struct guardian_set *set;
};

static const char *action_name(enum kps_action a)
{
	return a == KPS_UNWRAP ? "unwrap" : "unwrap-commit";
}

static void kps_req_clear(struct api_ctx *ctx, struct kps_req *q)
{
	token_claims_clear(&q->claims);
	kp_free(q->kp);
	if (q->set)
		guardians_put(ctx->guardians, q->set);
}

/* Audit details: what is known of the request, plus extra (stolen). */
static json_t *kps_details(const struct kps_req *q, json_t *extra)
{
	json_t *d = extra ? extra : json_object();

	if (!d)
		return NULL;
	if (q->kp) {
		json_object_set_new(d, "vm_id", json_string(kp_vm_id(q->kp)));
		json_object_set_new(d, "kp_digest", json_string(q->digest));
		json_object_set_new(d, "generation",
				    json_integer(
					    (json_int_t)kp_generation(q->kp)));
		json_object_set_new(d, "owner",
				    json_string(kp_owner(q->kp)->id));
	}
	if (q->key_id)
		json_object_set_new(d, "key_id", json_string(q->key_id));
	if (q->have_claims)
		json_object_set_new(d, "jti", json_string(q->claims.jti));
	return d;
}

static const char *kps_host(const struct kps_req *q)
{
	return q->have_claims ? q->claims.host : "";
}

/* Refuse with a protocol reason, audited. Returns -EPERM. */
static int kps_refuse(struct http_request *rq, struct kps_req *q,
		      unsigned status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int kps_refuse(struct http_request *rq, struct kps_req *q,
		      unsigned status, const char *reason, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_audit(rq, kps_host(q), action_name(q->action), "fail",
		  kps_details(q, json_pack("{s:s, s:s, s:i}", "reason", reason,
					   "message", msg, "status",
					   (int)status)));
	http_error(rq, status, reason, "%s", msg);
	return -EPERM;
}

/* A store failure: 503 (or what api_store_error says), audited as error. */
static int kps_store_error(struct http_request *rq, struct kps_req *q, int r,
			   const struct err *e, const char *what)
{
	api_audit(rq, kps_host(q), action_name(q->action), "error",
		  kps_details(q,
			      json_pack("{s:s, s:s}", "reason", "unavailable",
					"message", err_str(e))));
	return api_store_error(rq, r, e, what);
}

/* The audit record of a success could not be written: 503, nothing
 * released (api_audit logged why). */
static int kps_unaudited(struct http_request *rq)
{
	http_error(rq, 503, "unavailable",
		   "the audit log is unavailable; retry (another node)");
	return -EAGAIN;
}

/* ---- the commit MAC ---- */

static EVP_KDF *kps_hkdf;
static EVP_MAC *kps_hmac;
static pthread_once_t kps_fetch_once = PTHREAD_ONCE_INIT;

static void kps_fetch(void)
{
	kps_hkdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	kps_hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
}

/*
 * mac = HMAC-SHA256(HKDF-SHA256(ikm = tk, salt = empty, info =
 * KPS_COMMIT_INFO, 32 bytes), digest). Shared with the host side
 * (docs/protocol.md); 0 or -EIO.
 */
static int kps_commit_mac(const uint8_t tk[KP_TK_SIZE],
			  const uint8_t digest[KP_DIGEST_SIZE],
			  uint8_t mac[KPS_MAC_SIZE])
{
	char sha256[] = "SHA256";
	char info[] = KPS_COMMIT_INFO;
	uint8_t key[32];
	EVP_KDF_CTX *kctx = NULL;
	EVP_MAC_CTX *mctx = NULL;
	size_t len = 0;
	int r = -EIO;
	OSSL_PARAM kp[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, sha256,
						 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						  (void *)tk, KP_TK_SIZE),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						  sizeof(info) - 1),
		OSSL_PARAM_construct_end(),
	};
	OSSL_PARAM mp[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256,
						 0),
		OSSL_PARAM_construct_end(),
	};

	pthread_once(&kps_fetch_once, kps_fetch);
	if (!kps_hkdf || !kps_hmac)
		return -EIO;
	kctx = EVP_KDF_CTX_new(kps_hkdf);
	mctx = EVP_MAC_CTX_new(kps_hmac);
	if (kctx && mctx && EVP_KDF_derive(kctx, key, sizeof(key), kp) == 1 &&
	    EVP_MAC_init(mctx, key, sizeof(key), mp) == 1 &&
	    EVP_MAC_update(mctx, digest, KP_DIGEST_SIZE) == 1 &&
	    EVP_MAC_final(mctx, mac, &len, KPS_MAC_SIZE) == 1 &&
	    len == KPS_MAC_SIZE)
		r = 0;
	OPENSSL_cleanse(key, sizeof(key));
	EVP_KDF_CTX_free(kctx);
	EVP_MAC_CTX_free(mctx);
	return r;
}

/* ---- the checks, in order ---- */

/* 1. The body: {"token", "kp"[, "mac"]} and nothing else; the KP parses
 * and its signatures verify. */
static int kps_check_body(struct http_request *rq, struct kps_req *q,
			  const char **ret_jwt, uint8_t mac[KPS_MAC_SIZE])
{
	const json_t *tok, *kpj;
	const char *key;
	json_t *v;
	struct err e = { 0 };
	size_t n;
	int r;

	if (!rq->body)
		return kps_refuse(rq, q, 400, "malformed_json", "%s",
				  rq->body_error ?
					  rq->body_error :
					  "the body is not a JSON object");
	json_object_foreach(rq->body, key, v) {
		if (!streq(key, "token") && !streq(key, "kp") &&
		    !(q->action == KPS_COMMIT && streq(key, "mac")))
			return kps_refuse(rq, q, 400, "invalid_request",
					  "unknown field '%.64s'", key);
	}
	tok = json_object_get(rq->body, "token");
	kpj = json_object_get(rq->body, "kp");
	if (!json_is_string(tok) || json_string_length(tok) == 0 ||
	    json_string_length(tok) > TOKEN_MAX_SIZE ||
	    strlen(json_string_value(tok)) != json_string_length(tok))
		return kps_refuse(rq, q, 400, "invalid_request",
				  "field 'token' must be a health token (a JWT of "
				  "at most %d bytes)",
				  TOKEN_MAX_SIZE);
	if (!json_is_object(kpj))
		return kps_refuse(rq, q, 400, "invalid_request",
				  "field 'kp' must be a key protector (a JSON "
				  "object)");
	if (q->action == KPS_COMMIT) {
		const json_t *macj = json_object_get(rq->body, "mac");

		if (!json_is_string(macj) ||
		    b64url_decode(json_string_value(macj),
				  json_string_length(macj), mac, KPS_MAC_SIZE,
				  &n) < 0 ||
		    n != KPS_MAC_SIZE)
			return kps_refuse(rq, q, 400, "invalid_request",
					  "field 'mac' must be %d bytes of "
					  "base64url",
					  KPS_MAC_SIZE);
	}
	/* The body was parsed refusing duplicate names, so kp_parse_json
	 * takes the parsed KP as it is (it checks the size of its text). */
	r = kp_parse_json(kpj, &q->kp, &e);
	if (r == -E2BIG &&
	    json_dumpb(kpj, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER) >
		    KP_MAX_SIZE)
		return kps_refuse(rq, q, 400, "kp_malformed",
				  "the KP is over %d bytes", KP_MAX_SIZE);
	if (r == -ENOMEM)
		return r;
	if (r == -EKEYREJECTED)
		return kps_refuse(rq, q, 403, "kp_signature_invalid", "KP: %s",
				  err_str(&e));
	if (r < 0)
		return kps_refuse(rq, q, 400, "kp_malformed", "KP: %s",
				  err_str(&e));
	kp_digest_text(kp_digest(q->kp), q->digest);
	*ret_jwt = json_string_value(tok);
	return 0;
}

/* 2. The token: signed by this service's token keys, unexpired. */
static int kps_check_token(struct http_request *rq, struct kps_req *q,
			   const char *jwt, int64_t now)
{
	struct err e = { 0 };
	int r = token_verify(keys_jwks(api_ctx(rq)->keys), jwt, now, &q->claims,
			     &e);

	if (r == -ETIME)
		return kps_refuse(rq, q, 401, "token_expired",
				  "health token: %s", err_str(&e));
	if (r == -EBADMSG || r == -EKEYREJECTED || r == -EINVAL)
		return kps_refuse(rq, q, 401, "token_invalid",
				  "health token: %s", err_str(&e));
	if (r < 0)
		return r;
	q->have_claims = true;
	if (!q->claims.cnf_jwk)
		return kps_refuse(rq, q, 401, "token_invalid",
				  "health token without a transport key (cnf)");
	return 0;
}

/* 3. The token's host exists and is enabled. */
static int kps_check_host(struct http_request *rq, struct kps_req *q)
{
	struct store_host h = { 0 };
	struct err e = { 0 };
	bool enabled;
	int r;

	if (!api_name_valid(q->claims.host))
		return kps_refuse(rq, q, 403, "host_unknown",
				  "the token names no valid host");
	r = store_host_get(api_ctx(rq)->store, q->claims.host, &h, &e);
	if (r == -ENOENT)
		return kps_refuse(rq, q, 403, "host_unknown",
				  "host %s of the token is not registered",
				  q->claims.host);
	if (r < 0)
		return kps_store_error(rq, q, r, &e, "host");
	enabled = h.enabled;
	store_host_clear(&h);
	if (!enabled)
		return kps_refuse(rq, q, 403, "host_disabled",
				  "host %s is disabled", q->claims.host);
	return 0;
}

/* 4. A recipient for an enabled guardian key of ours, and it decrypts. */
static int kps_check_unwrap(struct http_request *rq, struct kps_req *q,
			    uint8_t tk[KP_TK_SIZE],
			    const struct guardian **ret_key)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct err e = { 0 };
	int r;

	r = guardians_get(ctx->guardians, &q->set, &e);
	if (r < 0)
		return kps_store_error(rq, q, r, &e, "guardian keys");
	e = (struct err){ 0 };
	r = guardian_set_unwrap(q->set, q->kp, tk, ret_key, &e);
	switch (r) {
	case 0:
		q->key_id = (*ret_key)->id;
		return 0;
	case -ENOKEY:
		return kps_refuse(rq, q, 403, "kp_no_guardian", "%s",
				  err_str(&e));
	case -EKEYREVOKED:
		return kps_refuse(rq, q, 403, "kp_key_disabled", "%s",
				  err_str(&e));
	case -EKEYREJECTED:
		return kps_refuse(rq, q, 403, "kp_decrypt_failed", "%s",
				  err_str(&e));
	default:
		return r;
	}
}

static const char *status_name(enum token_status s)
{
	return s == TOKEN_AFFIRMING ? "affirming" :
	       s == TOKEN_WARNING   ? "warning" :
				      "contraindicated";
}

/* 5. The KP's policy fits the token. */
static int kps_check_policy(struct http_request *rq, struct kps_req *q)
{
	const struct token_claims *c = &q->claims;
	const char *mode = c->mode == TOKEN_MODE_TPM ? "tpm" : "host-key";
	bool ok;

	if (kp_policy(q->kp) == KP_POLICY_SHIELDED)
		ok = c->mode == TOKEN_MODE_TPM && c->status == TOKEN_AFFIRMING;
	else
		ok = (c->mode == TOKEN_MODE_TPM ||
		      c->mode == TOKEN_MODE_HOST_KEY) &&
		     (c->status == TOKEN_AFFIRMING ||
		      c->status == TOKEN_WARNING);
	if (!ok)
		return kps_refuse(rq, q, 403, "policy_not_satisfied",
				  "policy %s needs %s; the token says "
				  "attestation mode %s, status %s",
				  kp_policy_to_string(kp_policy(q->kp)),
				  kp_policy(q->kp) == KP_POLICY_SHIELDED ?
					  "TPM-mode attestation, affirming" :
					  "an affirming or warning attestation",
				  mode, status_name(c->status));
	return 0;
}

/* 6. Rollback: no generation older than the committed one, and the
 * committed generation only with its own digest. */
static int kps_check_rollback(struct http_request *rq, struct kps_req *q)
{
	struct store_vm_record rec;
	struct err e = { 0 };
	uint64_t gen = kp_generation(q->kp);
	int r;

	r = store_vm_get(api_ctx(rq)->store, kp_owner(q->kp)->id,
			 kp_vm_id(q->kp), &rec, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return kps_store_error(rq, q, r, &e, "rollback record");
	if (gen > rec.generation ||
	    (gen == rec.generation &&
	     CRYPTO_memcmp(rec.digest, kp_digest(q->kp), KP_DIGEST_SIZE) == 0))
		return 0;
	return kps_refuse(rq, q, 409, "kp_rolled_back",
			  "VM %s: generation %" PRIu64 " was committed%s; this "
			  "KP is generation %" PRIu64,
			  kp_vm_id(q->kp), rec.generation,
			  gen == rec.generation ? " with another KP" : "", gen);
}

/* Steps 1-4, shared by unwrap and commit. */
static int kps_checks(struct http_request *rq, struct kps_req *q,
		      uint8_t mac[KPS_MAC_SIZE], uint8_t tk[KP_TK_SIZE],
		      const struct guardian **ret_key)
{
	const char *jwt = NULL;
	int r;

	if ((r = kps_check_body(rq, q, &jwt, mac)) < 0 ||
	    (r = kps_check_token(rq, q, jwt, time(NULL))) < 0 ||
	    (r = kps_check_host(rq, q)) < 0 ||
	    (r = kps_check_unwrap(rq, q, tk, ret_key)) < 0)
		return r;
	return 0;
}

/* ---- POST /v1/unwrap ---- */

/* The next generation: a fresh TK, kp_roll by the key that unwrapped. */
static int kps_roll(struct http_request *rq, struct kps_req *q,
		    const struct guardian *key, uint8_t next_tk[KP_TK_SIZE],
		    json_t **ret_next, uint8_t next_digest[KP_DIGEST_SIZE])
{
	struct err e = { 0 };
	int r;

	if (RAND_priv_bytes(next_tk, KP_TK_SIZE) != 1)
		return -EIO;
	/* Our own output, as JSON for the answer, and its digest without
	 * verifying the two signatures just made (the tests check it equals
	 * what kp_parse computes). */
	r = kp_roll_json(q->kp, key, next_tk, ret_next, next_digest, &e);
	if (r == -EOVERFLOW)
		return kps_refuse(rq, q, 409, "kp_generation_exhausted", "%s",
				  err_str(&e));
	if (r < 0) {
		log_event(LOG_LEVEL_ERROR, rq->rid, "kp_roll_failed", "{s:s}",
			  "message", err_str(&e));
		return r == -ENOMEM ? r : -EIO;
	}
	return 0;
}

/* The sealed plaintext, built in a wiped stack buffer (it holds both
 * TKs), sealed to the token's cnf key. */
static int kps_seal(struct kps_req *q, const char *next_digest,
		    const uint8_t tk[KP_TK_SIZE],
		    const uint8_t next_tk[KP_TK_SIZE], char **ret_jwe)
{
	char pt[KPS_SEALED_PT_MAX];
	char tk64[KPS_B64_32], ntk64[KPS_B64_32];
	struct err e = { 0 };
	int n, r;

	b64url_encode(tk, KP_TK_SIZE, tk64);
	b64url_encode(next_tk, KP_TK_SIZE, ntk64);
	/* vm_id is a canonical UUID (kp_parse), the rest base64url and
	 * integers: nothing needs JSON escaping */
	n = snprintf(pt, sizeof(pt),
		     "{\"vm_id\":\"%s\",\"generation\":%" PRIu64
		     ",\"kp_digest\":\"%s\",\"tk\":\"%s\",\"next_generation\":%" PRIu64
		     ",\"next_kp_digest\":\"%s\",\"next_tk\":\"%s\"}",
		     kp_vm_id(q->kp), kp_generation(q->kp), q->digest, tk64,
		     kp_generation(q->kp) + 1, next_digest, ntk64);
	OPENSSL_cleanse(tk64, sizeof(tk64));
	OPENSSL_cleanse(ntk64, sizeof(ntk64));
	if (n < 0 || (size_t)n >= sizeof(pt)) {
		OPENSSL_cleanse(pt, sizeof(pt));
		return -EIO;
	}
	r = seal_to_jwk(q->claims.cnf_jwk, (const uint8_t *)pt, (size_t)n,
			ret_jwe, &e);
	OPENSSL_cleanse(pt, sizeof(pt));
	return r;
}

int api_unwrap_post(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct kps_req q = { .action = KPS_UNWRAP };
	uint8_t tk[KP_TK_SIZE] = { 0 }, next_tk[KP_TK_SIZE] = { 0 };
	uint8_t next_digest[KP_DIGEST_SIZE];
	const struct guardian *key = NULL;
	json_t *next_json = NULL;
	char *jwe = NULL;
	char nd[48];
	json_int_t next_gen;
	int r;

	if ((r = kps_checks(rq, &q, NULL, tk, &key)) < 0 ||
	    (r = kps_check_policy(rq, &q)) < 0 ||
	    (r = kps_check_rollback(rq, &q)) < 0 ||
	    (r = kps_roll(rq, &q, key, next_tk, &next_json, next_digest)) < 0)
		goto out;
	/* kp_roll refuses to pass KP_MAX_GENERATION: this does not wrap */
	next_gen = (json_int_t)kp_generation(q.kp) + 1;
	kp_digest_text(next_digest, nd);
	r = kps_seal(&q, nd, tk, next_tk, &jwe);
	if (r == -EINVAL) {
		/* a key type seal_to_jwk does not take (token_issue accepted
		 * it when the token was issued) */
		r = kps_refuse(rq, &q, 401, "token_invalid",
			       "cannot seal to the token's transport key");
		goto out;
	}
	if (r < 0)
		goto out; /* 500: nothing released */
	/* Fail closed: no release that the audit log does not record. */
	r = api_audit(rq, kps_host(&q), "unwrap", "pass",
		      kps_details(&q, json_pack("{s:s, s:I, s:s}", "policy",
						kp_policy_to_string(
							kp_policy(q.kp)),
						"next_generation", next_gen,
						"next_kp_digest", nd)));
	if (r < 0) {
		r = kps_unaudited(rq);
		goto out;
	}
	r = http_reply(rq, 200,
		       json_pack("{s:s, s:I, s:I, s:s, s:O}", "vm_id",
				 kp_vm_id(q.kp), "generation",
				 (json_int_t)kp_generation(q.kp),
				 "next_generation", next_gen, "sealed", jwe,
				 "next_kp", next_json));
out:
	OPENSSL_cleanse(tk, sizeof(tk));
	OPENSSL_cleanse(next_tk, sizeof(next_tk));
	free(jwe);
	json_decref(next_json);
	kps_req_clear(ctx, &q);
	return r;
}

/* ---- POST /v1/unwrap/commit ---- */

int api_unwrap_commit_post(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct kps_req q = { .action = KPS_COMMIT };
	uint8_t tk[KP_TK_SIZE] = { 0 }, mac[KPS_MAC_SIZE] = { 0 },
		want[KPS_MAC_SIZE] = { 0 };
	const struct guardian *key = NULL;
	struct store_vm_record cur = { 0 };
	struct err e = { 0 };
	int r;

	if ((r = kps_checks(rq, &q, mac, tk, &key)) < 0)
		goto out;
	r = kps_commit_mac(tk, kp_digest(q.kp), want);
	OPENSSL_cleanse(tk, sizeof(tk));
	if (r < 0)
		goto out;
	if (CRYPTO_memcmp(mac, want, KPS_MAC_SIZE) != 0) {
		r = kps_refuse(rq, &q, 403, "commit_mac_invalid",
			       "the MAC does not prove possession of this KP's "
			       "transport key");
		goto out;
	}
	r = store_vm_commit(ctx->store, kp_owner(q.kp)->id, kp_vm_id(q.kp),
			    kp_generation(q.kp), kp_digest(q.kp), 0, &cur, &e);
	if (r == -ESTALE) {
		r = kps_refuse(rq, &q, 409, "kp_rolled_back",
			       "VM %s: generation %" PRIu64 " was committed%s; "
			       "this KP is generation %" PRIu64,
			       kp_vm_id(q.kp), cur.generation,
			       cur.generation == kp_generation(q.kp) ?
				       " with another KP" :
				       "",
			       kp_generation(q.kp));
		goto out;
	}
	if (r < 0) {
		r = kps_store_error(rq, &q, r, &e, "rollback record");
		goto out;
	}
	/* The record is written; an unaudited commit answers 503 and the
	 * host's retry (idempotent) gets audited. */
	r = api_audit(rq, kps_host(&q), "unwrap-commit", "pass",
		      kps_details(&q, NULL));
	if (r < 0) {
		r = kps_unaudited(rq);
		goto out;
	}
	r = http_reply(rq, 200,
		       json_pack("{s:s, s:I, s:b}", "vm_id", kp_vm_id(q.kp),
				 "generation", (json_int_t)kp_generation(q.kp),
				 "committed", 1));
out:
	OPENSSL_cleanse(tk, sizeof(tk));
	OPENSSL_cleanse(want, sizeof(want));
	kps_req_clear(ctx, &q);
	return r;
}

/* ---- GET /v1/guardian ---- */

int api_guardian_get(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	struct guardian_set *set = NULL;
	struct err e = { 0 };
	json_t *meta;
	int r;

	r = guardians_get(ctx->guardians, &set, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "guardian keys");
	meta = json_deep_copy(guardian_set_metadata(set));
	guardians_put(ctx->guardians, set);
	if (!meta)
		return -ENOMEM;
	return http_reply(rq, 200, meta);
}
