/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/ekcert.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/tpm2.h"
#include "common/limits.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(X509, X509_free)
DEFINE_CLEANUP_FUNC(X509_STORE_CTX, X509_STORE_CTX_free)
DEFINE_CLEANUP_FUNC(BIO, BIO_free)
DEFINE_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
DEFINE_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free)
DEFINE_CLEANUP_FUNC(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free)

/* Total size accepted for one CA file (a PEM bundle). */
#define EKCERT_MAX_CA_FILE (64u * EKCERT_MAX_SIZE)
#define EKCERT_MAX_CAS 1024u

struct ekcert_cas {
	X509_STORE *store;
	STACK_OF(X509) * intermediates;
	size_t anchors;
};

void ekcert_cas_free(struct ekcert_cas *cas)
{
	if (!cas)
		return;
	X509_STORE_free(cas->store);
	sk_X509_pop_free(cas->intermediates, X509_free);
	free(cas);
}
DEFINE_CLEANUP_FUNC(struct ekcert_cas, ekcert_cas_free)

int ekcert_cas_new(struct ekcert_cas **ret, struct err *e)
{
	_cleanup_(ekcert_cas_freep) struct ekcert_cas *cas = NULL;

	cas = calloc(1, sizeof(*cas));
	if (!cas)
		return err_set(e, ENOMEM, "out of memory");
	cas->store = X509_STORE_new();
	cas->intermediates = sk_X509_new_null();
	if (!cas->store || !cas->intermediates)
		return err_set(e, ENOMEM, "out of memory");
	*ret = TAKE_PTR(cas);
	return 0;
}

void ekcert_cas_count(const struct ekcert_cas *cas, size_t *anchors,
		      size_t *intermediates)
{
	*anchors = cas->anchors;
	*intermediates = (size_t)sk_X509_num(cas->intermediates);
}

static bool looks_der(const uint8_t *buf, size_t len)
{
	return len >= 2 && buf[0] == 0x30;
}

/* One DER certificate, or the first of a PEM input. */
static int parse_one(const uint8_t *buf, size_t len, X509 **ret, struct err *e)
{
	X509 *x = NULL;

	if (len > EKCERT_MAX_SIZE * 2)
		return err_set(e, EMSGSIZE,
			       "certificate is %zu bytes, limit is %u", len,
			       EKCERT_MAX_SIZE);
	if (looks_der(buf, len)) {
		const unsigned char *p = buf;

		if (len > EKCERT_MAX_SIZE)
			return err_set(e, EMSGSIZE,
				       "certificate is %zu bytes, limit is %u",
				       len, EKCERT_MAX_SIZE);
		x = d2i_X509(NULL, &p, (long)len);
		if (x && p != buf + len) {
			X509_free(x);
			ERR_clear_error();
			return err_set(e, EBADMSG,
				       "certificate has %zu trailing bytes",
				       (size_t)(buf + len - p));
		}
	} else {
		_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(buf, (int)len);

		if (!bio)
			return err_set(e, ENOMEM, "out of memory");
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	}
	ERR_clear_error();
	if (!x)
		return err_set(e, EBADMSG,
			       "not a DER or PEM X.509 certificate");
	*ret = x;
	return 0;
}

static int cas_add_one(struct ekcert_cas *cas, X509 *x, const char *label,
		       struct err *e)
{
	if (cas->anchors + (size_t)sk_X509_num(cas->intermediates) >=
	    EKCERT_MAX_CAS)
		return err_set(e, EMSGSIZE, "%s: more than %u CA certificates",
			       label, EKCERT_MAX_CAS);
	if (X509_self_signed(x, 1) == 1) {
		if (!X509_STORE_add_cert(cas->store, x)) {
			unsigned long le = ERR_peek_last_error();

			ERR_clear_error();
			/* The same anchor twice is harmless. */
			if (ERR_GET_REASON(le) !=
			    X509_R_CERT_ALREADY_IN_HASH_TABLE)
				return err_set(e, ENOMEM,
					       "%s: cannot add trust anchor",
					       label);
		} else {
			cas->anchors++;
		}
		return 0;
	}
	ERR_clear_error();
	if (!X509_up_ref(x))
		return err_set(e, EIO, "cannot reference certificate");
	if (!sk_X509_push(cas->intermediates, x)) {
		X509_free(x);
		return err_set(e, ENOMEM, "out of memory");
	}
	return 0;
}

int ekcert_cas_add(struct ekcert_cas *cas, const uint8_t *buf, size_t len,
		   const char *label, struct err *e)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	int n = 0, r;

	if (len > EKCERT_MAX_CA_FILE)
		return err_set(e, EMSGSIZE, "%s is %zu bytes, limit is %u",
			       label, len, EKCERT_MAX_CA_FILE);
	if (looks_der(buf, len)) {
		_cleanup_(X509_freep) X509 *x = NULL;

		r = parse_one(buf, len, &x, e);
		if (r < 0) {
			err_prefix(e, "%s", label);
			return r;
		}
		r = cas_add_one(cas, x, label, e);
		return r < 0 ? r : 1;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		return err_set(e, ENOMEM, "out of memory");
	for (;;) {
		_cleanup_(X509_freep)
			X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (!x)
			break;
		r = cas_add_one(cas, x, label, e);
		if (r < 0)
			return r;
		n++;
	}
	ERR_clear_error();
	if (n == 0)
		return err_set(e, EBADMSG, "%s holds no DER or PEM certificate",
			       label);
	return n;
}

static bool tcg_tolerated_oid(const ASN1_OBJECT *obj)
{
	char txt[80];
	int n = OBJ_obj2txt(txt, sizeof(txt), obj, 1);

	if (n <= 0 || (size_t)n >= sizeof(txt))
		return false;
	return streq(txt, "2.5.29.9") || strncmp(txt, "2.23.133.", 9) == 0;
}

/* Every critical extension OpenSSL does not handle is a TCG one. */
static bool only_tcg_unhandled_critical(X509 *x)
{
	int n = X509_get_ext_count(x);

	for (int i = 0; i < n; i++) {
		X509_EXTENSION *ext = X509_get_ext(x, i);

		if (!X509_EXTENSION_get_critical(ext) ||
		    X509_supported_extension(ext))
			continue;
		if (!tcg_tolerated_oid(X509_EXTENSION_get_object(ext)))
			return false;
	}
	return true;
}

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return ok;
	if (X509_STORE_CTX_get_error(ctx) ==
		    X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION &&
	    X509_STORE_CTX_get_error_depth(ctx) == 0 &&
	    only_tcg_unhandled_critical(X509_STORE_CTX_get_current_cert(ctx)))
		return 1;
	return 0;
}

static void copy_asn1_string(const ASN1_STRING *s, char *out, size_t size)
{
	int n = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	size_t j = 0;

	for (int i = 0; i < n && j + 1 < size; i++)
		out[j++] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
	out[j] = 0;
}

static void name_oneline(const X509_NAME *n, char *out, size_t size)
{
	_cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long len;

	out[0] = 0;
	if (!b || X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) < 0)
		return;
	len = BIO_get_mem_data(b, &p);
	if (len < 0 || !p)
		return;
	if ((size_t)len >= size)
		len = (long)size - 1;
	memcpy(out, p, (size_t)len);
	out[len] = 0;
}

static void time_str(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;

	out[0] = 0;
	if (t && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void tpm_identity(X509 *x, struct ekcert_info *info)
{
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gns =
		X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	for (int i = 0; gns && i < sk_GENERAL_NAME_num(gns); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gns, i);

		if (gn->type != GEN_DIRNAME)
			continue;
		for (int j = 0; j < X509_NAME_entry_count(gn->d.dirn); j++) {
			const X509_NAME_ENTRY *ne =
				X509_NAME_get_entry(gn->d.dirn, j);
			char oid[40];

			if (OBJ_obj2txt(oid, sizeof(oid),
					X509_NAME_ENTRY_get_object(ne), 1) <= 0)
				continue;
			if (streq(oid, "2.23.133.2.1"))
				copy_asn1_string(X509_NAME_ENTRY_get_data(ne),
						 info->manufacturer,
						 sizeof(info->manufacturer));
			else if (streq(oid, "2.23.133.2.2"))
				copy_asn1_string(X509_NAME_ENTRY_get_data(ne),
						 info->model,
						 sizeof(info->model));
			else if (streq(oid, "2.23.133.2.3"))
				copy_asn1_string(X509_NAME_ENTRY_get_data(ne),
						 info->version,
						 sizeof(info->version));
		}
	}
	ERR_clear_error();
}

/* -1: no EKU; 0: EKU without tcg-kp-EKCertificate; 1: with it. */
static int ek_eku(X509 *x)
{
	_cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = NULL;
	int crit = 0;

	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	ERR_clear_error();
	if (!eku)
		return crit == -1 ? -1 : 0;
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		char oid[40];

		if (OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i),
				1) > 0 &&
		    streq(oid, "2.23.133.8.1"))
			return 1;
	}
	return 0;
}

int ekcert_verify(const struct ekcert_cas *cas, const uint8_t *cert, size_t len,
		  time_t at, struct ekcert_info *info, struct err *e)
{
	_cleanup_(X509_freep) X509 *x = NULL;
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
	struct ekcert_info tmp;
	X509_VERIFY_PARAM *param;
	EVP_PKEY *pk;
	int r, eku, err;

	if (!info)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	r = parse_one(cert, len, &x, e);
	if (r < 0)
		return r;

	name_oneline(X509_get_subject_name(x), info->subject,
		     sizeof(info->subject));
	name_oneline(X509_get_issuer_name(x), info->issuer,
		     sizeof(info->issuer));
	time_str(X509_get0_notBefore(x), info->not_before,
		 sizeof(info->not_before));
	time_str(X509_get0_notAfter(x), info->not_after,
		 sizeof(info->not_after));
	tpm_identity(x, info);
	pk = X509_get0_pubkey(x);
	if (pk) {
		info->key_type = EVP_PKEY_get_base_id(pk);
		info->key_bits = EVP_PKEY_get_bits(pk);
	}
	ERR_clear_error();
	eku = ek_eku(x);
	info->ek_eku = eku == 1;

	if (cas->anchors == 0)
		return err_set(e, ENOENT,
			       "no trust anchor (self-signed CA certificate) "
			       "is configured");
	ctx = X509_STORE_CTX_new();
	if (!ctx ||
	    !X509_STORE_CTX_init(ctx, cas->store, x, cas->intermediates))
		return err_set(e, ENOMEM, "out of memory");
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_depth(param, EKCERT_MAX_CHAIN_DEPTH);
	if (at)
		X509_VERIFY_PARAM_set_time(param, at);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	r = X509_verify_cert(ctx);
	err = X509_STORE_CTX_get_error(ctx);
	if (r != 1) {
		int depth = X509_STORE_CTX_get_error_depth(ctx);

		ERR_clear_error();
		return err_set(e, EKEYREJECTED,
			       "EK certificate (subject \"%s\", issuer \"%s\") "
			       "rejected at chain depth %d: %s",
			       info->subject, info->issuer, depth,
			       X509_verify_cert_error_string(err));
	}
	info->chain_len = sk_X509_num(X509_STORE_CTX_get0_chain(ctx));
	if (eku == 0)
		return err_set(e, EKEYREJECTED,
			       "EK certificate has an extendedKeyUsage without "
			       "tcg-kp-EKCertificate (2.23.133.8.1)");
	if (!pk)
		return err_set(e, EKEYREJECTED,
			       "EK certificate public key is not readable");
	return 0;
}

int ekcert_public_key(const uint8_t *cert, size_t len, EVP_PKEY **ret,
		      struct err *e)
{
	_cleanup_(X509_freep) X509 *x = NULL;
	EVP_PKEY *pk;
	int r;

	r = parse_one(cert, len, &x, e);
	if (r < 0)
		return r;
	pk = X509_get_pubkey(x);
	ERR_clear_error();
	if (!pk)
		return err_set(e, EBADMSG,
			       "EK certificate public key is not readable");
	*ret = pk;
	return 0;
}

int ekcert_match_public(const uint8_t *cert, size_t len, const TPMT_PUBLIC *pub,
			struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ck = NULL, *tk = NULL;
	int r;

	r = ekcert_public_key(cert, len, &ck, e);
	if (r < 0)
		return r;
	r = tpm2_public_to_pkey(pub, &tk, e);
	if (r < 0) {
		err_prefix(e, "EK public area");
		return r;
	}
	r = EVP_PKEY_eq(ck, tk);
	ERR_clear_error();
	if (r != 1)
		return err_set(e, EKEYREJECTED,
			       "EK certificate key (%s, %d bits) is not the "
			       "EK public key (%s)",
			       EVP_PKEY_get_base_id(ck) == EVP_PKEY_RSA ?
				       "RSA" :
				       "EC",
			       EVP_PKEY_get_bits(ck), tpm2_alg_name(pub->type));
	return 0;
}
