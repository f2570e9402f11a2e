/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/enroll and /v1/enroll/finish: attestation-key enrollment by
 * credential activation (DESIGN.md flow 2). hgsd answers a registered EK
 * with TPM2_MakeCredential(EK, name of the AK, random secret); only the TPM
 * holding that EK can ActivateCredential it, and only for an object with
 * that name. The host returns the secret; the AK is then recorded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jose/b64.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "attest/credential.h"
#include "attest/ekcert.h"
#include "attest/quote.h"
#include "attest/tpm2.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"
#include "hgsd/api.h"

#define ENROLL_SECRET_SIZE 32
#define ENROLL_LIFETIME 300 /* seconds */
#define ENROLL_ID_BYTES 18

/* A restricted signing key the TPM made and cannot export. */
#define AK_REQUIRED                                                        \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                  \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |        \
	 TPMA_OBJECT_SIGN_ENCRYPT)
#define AK_FORBIDDEN TPMA_OBJECT_DECRYPT

/* Refuse (403 with a protocol reason) and audit the refusal. */
static int deny(struct http_request *rq, const char *host, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int deny(struct http_request *rq, const char *host, const char *code,
		const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_audit(rq, host ? host : "", "enroll", "fail",
		  json_pack("{s:s, s:s}", "reason", code, "message", msg));
	http_error(rq, 403, code, "%s", msg);
	return -EPERM;
}

int api_enroll_post(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_free_ uint8_t *ek_buf = NULL, *ak_buf = NULL, *cert = NULL;
	size_t ek_len, ak_len, cert_len;
	uint8_t ek_name[TPM2_NAME_MAX], ak_name[TPM2_NAME_MAX];
	uint8_t secret[ENROLL_SECRET_SIZE], digest[32], idraw[ENROLL_ID_BYTES];
	size_t ek_name_len, ak_name_len;
	struct store_host host = { 0 };
	struct credential cred;
	TPMT_PUBLIC ek, ak;
	struct err e = { 0 };
	json_t *id = NULL;
	int64_t now = time(NULL);
	int r;

	if ((r = api_get_b64(rq, rq->body, "ek_pub", true, TPM_MAX_PUBLIC_SIZE, &ek_buf, &ek_len)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "ak_pub", true, TPM_MAX_PUBLIC_SIZE, &ak_buf, &ak_len)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "ek_cert", false, EKCERT_MAX_SIZE, &cert, &cert_len)) < 0)
		return r;
	if (tpm2_public_unmarshal(ek_buf, ek_len, &ek, &e) < 0 ||
	    tpm2_public_name(&ek, ek_name, &ek_name_len, &e) < 0)
		return http_error(rq, 400, "bad_tpm_structure", "ek_pub: %s", e.msg), -EBADMSG;
	memset(&e, 0, sizeof(e));
	if (tpm2_public_unmarshal(ak_buf, ak_len, &ak, &e) < 0 ||
	    tpm2_public_name(&ak, ak_name, &ak_name_len, &e) < 0)
		return http_error(rq, 400, "bad_tpm_structure", "ak_pub: %s", e.msg), -EBADMSG;

	memset(&e, 0, sizeof(e));
	r = store_host_get_by_ek(ctx->store, ek_name, ek_name_len, &host, &e);
	if (r == -ENOENT) {
		char hex[2 * TPM2_NAME_MAX + 1];

		hex_encode(ek_name, ek_name_len, hex);
		return deny(rq, NULL, "ek_not_registered", "no host is registered with EK %s", hex);
	}
	if (r < 0)
		return api_store_error(rq, r, &e, "host by EK");
	if (!host.enabled) {
		r = deny(rq, host.name, "host_disabled", "host %s is disabled", host.name);
		goto out;
	}
	if (!(host.modes & STORE_MODE_TPM)) {
		r = deny(rq, host.name, "mode_not_allowed",
			 "host %s is not registered for TPM attestation", host.name);
		goto out;
	}
	/* The EK is identified by its name, registered by an admin (directly,
	 * or from a certificate checked at registration). A certificate the
	 * host sends is checked again when TPM vendor CAs are configured: it
	 * must still chain to them and certify this very EK. */
	if (cert && ctx->ek_cas) {
		memset(&e, 0, sizeof(e));
		if (ekcert_verify(ctx->ek_cas, cert, cert_len, time(NULL), NULL, &e) < 0 ||
		    ekcert_match_public(cert, cert_len, &ek, &e) < 0) {
			r = deny(rq, host.name, "ek_cert_untrusted", "EK certificate: %s", e.msg);
			goto out;
		}
	}
	memset(&e, 0, sizeof(e));
	if (quote_check_attributes(&ak, AK_REQUIRED, AK_FORBIDDEN, &e) < 0) {
		r = deny(rq, host.name, "ak_invalid", "attestation key: %s", e.msg);
		goto out;
	}

	if (RAND_bytes(secret, sizeof(secret)) != 1 || RAND_bytes(idraw, sizeof(idraw)) != 1) {
		r = -EIO;
		goto out;
	}
	memset(&e, 0, sizeof(e));
	r = credential_make(&ek, ak_name, ak_name_len, secret, sizeof(secret), &cred, &e);
	EVP_Digest(secret, sizeof(secret), digest, NULL, EVP_sha256(), NULL);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r < 0) {
		http_error(rq, 400, "bad_tpm_structure", "EK cannot protect a credential: %s",
			   e.msg);
		r = -EBADMSG;
		goto out;
	}
	id = jose_b64_enc(idraw, sizeof(idraw));
	if (!id) {
		r = -ENOMEM;
		goto out;
	}
	memset(&e, 0, sizeof(e));
	r = store_enrollment_put(ctx->store, json_string_value(id), host.id, ak_buf, ak_len, digest,
				 now + ENROLL_LIFETIME, &e);
	if (r < 0) {
		r = api_store_error(rq, r, &e, "enrollment");
		goto out;
	}
	{
		char hex[2 * TPM2_NAME_MAX + 1];

		api_audit(rq, host.name, "enroll", "pass",
			  json_pack("{s:s, s:s}", "step", "credential issued", "ak_name",
				    hex_encode(ak_name, ak_name_len, hex)));
	}
	r = http_reply(rq, 200,
		       json_pack("{s:O, s:o, s:o, s:I}", "enrollment_id", id, "credential_blob",
				 jose_b64_enc(cred.id_object, cred.id_object_len), "encrypted_secret",
				 jose_b64_enc(cred.secret, cred.secret_len), "expires",
				 (json_int_t)(now + ENROLL_LIFETIME)));
out:
	json_decref(id);
	store_host_clear(&host);
	return r;
}

int api_enroll_finish_post(struct http_request *rq)
{
	struct api_ctx *ctx = api_ctx(rq);
	_cleanup_free_ uint8_t *secret = NULL, *ak_buf = NULL;
	size_t secret_len = 0, ak_len;
	uint8_t digest[32], want[32], ak_name[TPM2_NAME_MAX];
	size_t ak_name_len;
	char hex[2 * TPM2_NAME_MAX + 1];
	struct store_host host = { 0 };
	const char *id = NULL;
	int64_t host_id;
	struct err e = { 0 };
	TPMT_PUBLIC ak;
	int r;

	if ((r = api_get_string(rq, rq->body, "enrollment_id", true, 64, &id)) < 0 ||
	    (r = api_get_b64(rq, rq->body, "secret", true, 64, &secret, &secret_len)) < 0)
		return r;
	/* Single use: taken (deleted) whatever the outcome. */
	r = store_enrollment_take(ctx->store, id, time(NULL), &host_id, &ak_buf, &ak_len, want, &e);
	if (r == -ENOENT || r == -ETIME) {
		OPENSSL_cleanse(secret, secret_len);
		return deny(rq, NULL, "enrollment_failed", "%s",
			    r == -ETIME ? "the enrollment expired" : "unknown or already used enrollment id");
	}
	if (r < 0) {
		OPENSSL_cleanse(secret, secret_len);
		return api_store_error(rq, r, &e, "enrollment");
	}
	EVP_Digest(secret, secret_len, digest, NULL, EVP_sha256(), NULL);
	OPENSSL_cleanse(secret, secret_len);
	memset(&e, 0, sizeof(e));
	r = store_host_get_by_id(ctx->store, host_id, &host, &e);
	if (r < 0)
		return api_store_error(rq, r, &e, "host of the enrollment");
	if (CRYPTO_memcmp(digest, want, sizeof(want)) != 0) {
		r = deny(rq, host.name, "enrollment_failed", "%s",
			 "the secret is not the one the credential protected: this TPM does not hold the registered EK, or the AK is not the one enrolled");
		goto out;
	}
	if (!host.enabled) {
		r = deny(rq, host.name, "host_disabled", "host %s is disabled", host.name);
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if (tpm2_public_unmarshal(ak_buf, ak_len, &ak, &e) < 0 ||
	    tpm2_public_name(&ak, ak_name, &ak_name_len, &e) < 0) {
		r = -EIO;
		goto out;
	}
	r = store_ak_add(ctx->store, host.id, ak_name, ak_name_len, ak_buf, ak_len, &e);
	if (r < 0 && r != -EEXIST) {
		r = api_store_error(rq, r, &e, "attestation key");
		goto out;
	}
	hex_encode(ak_name, ak_name_len, hex);
	api_audit(rq, host.name, "enroll-finish", "pass", json_pack("{s:s}", "ak_name", hex));
	r = http_reply(rq, 200, json_pack("{s:s, s:s}", "host", host.name, "ak_name", hex));
out:
	store_host_clear(&host);
	return r;
}
