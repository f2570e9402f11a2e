/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health tokens: issue/verify round trip, interoperability with libjose in
 * both directions, and each way a token must be refused. Tokens with bad
 * claims are re-signed with the real key here, so the claim checks (not the
 * signature) are what rejects them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <jose/jose.h>
/* jose/openssl.h names the legacy RSA and EC_KEY types; only its EVP_PKEY
 * function is called here. */
typedef struct rsa_st RSA;
typedef struct ec_key_st EC_KEY;
#include <jose/openssl.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "attest/token.h"
#include "common/util.h"

#define NOW ((int64_t)1700000000)

static struct token_key *key;
static json_t *jwks;
static json_t *transport_jwk;
static EVP_PKEY *transport;

/* ---- helpers ---- */

static char *b64(const void *p, size_t n)
{
	size_t len = jose_b64_enc_buf(p, n, NULL, 0);
	char *s = malloc(len + 1);

	assert_non_null(s);
	assert_int_equal(jose_b64_enc_buf(p, n, s, len), len);
	s[len] = '\0';
	return s;
}

static char *b64_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	char *r;

	assert_non_null(s);
	r = b64(s, strlen(s));
	free(s);
	return r;
}

static json_t *segment(const char *jwt, int idx)
{
	const char *p = jwt, *end;
	uint8_t buf[TOKEN_MAX_SIZE];
	size_t n;
	json_t *j;

	for (int i = 0; i < idx; i++)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	n = jose_b64_dec_buf(p, end ? (size_t)(end - p) : strlen(p), buf,
			     sizeof(buf));
	assert_true(n != SIZE_MAX);
	j = json_loadb((const char *)buf, n, 0, NULL);
	assert_non_null(j);
	return j;
}

static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "%s.%s.%s", a, b, c);
	return s;
}

/* Compact JWS over arbitrary header and payload, ES256 with pkey. */
static char *sign_es256(EVP_PKEY *pkey, const char *hdr64, const char *pl64)
{
	uint8_t der[128], raw[64];
	size_t der_len = sizeof(der);
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	ECDSA_SIG *sig;
	char *in = join3(hdr64, pl64, ""), *sig64, *out;

	in[strlen(in) - 1] = '\0'; /* "h.p" */
	assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(m, der, &der_len, (uint8_t *)in,
					strlen(in)),
			 1);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(sig);
	ECDSA_SIG_get0(sig, &r, &s);
	BN_bn2binpad(r, raw, 32);
	BN_bn2binpad(s, raw + 32, 32);
	sig64 = b64(raw, sizeof(raw));
	out = join3(hdr64, pl64, sig64);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(m);
	free(sig64);
	free(in);
	return out;
}

static char *sign_json(EVP_PKEY *pkey, const json_t *hdr, const json_t *pl)
{
	char *h = b64_json(hdr), *p = b64_json(pl);
	char *r = sign_es256(pkey, h, p);

	free(h);
	free(p);
	return r;
}

static json_t *std_header(void)
{
	return json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT",
			 "kid", key->kid);
}

static struct token_claims claims_template(void)
{
	struct token_claims c = { 0 };

	c.iat = NOW;
	c.exp = NOW + TOKEN_DEFAULT_LIFETIME;
	c.status = TOKEN_AFFIRMING;
	c.mode = TOKEN_MODE_TPM;
	snprintf(c.host, sizeof(c.host), "host-17.example");
	snprintf(c.policy_id, sizeof(c.policy_id), "policy:default/3");
	snprintf(c.baseline, sizeof(c.baseline), "ovmf-sb-2024");
	snprintf(c.verifier_build, sizeof(c.verifier_build), "hgsd 0.1.0");
	c.cnf_jwk = transport_jwk; /* borrowed */
	return c;
}

static char *issue_claims(const struct token_claims *c)
{
	struct err e = { { 0 } };
	char *jwt = NULL;

	if (token_issue(key, c, &jwt, &e) < 0)
		fail_msg("token_issue: %s", err_str(&e));
	if (!jwt)
		abort();
	return jwt;
}

static char *issue_default(void)
{
	struct token_claims c = claims_template();

	return issue_claims(&c);
}

/* Verify at NOW; the error message is required on failure. */
static int verify(const json_t *set, const char *jwt)
{
	struct token_claims c = { 0 };
	struct err e = { { 0 } };
	int r = token_verify(set, jwt, NOW, &c, &e);

	if (r < 0) {
		assert_true(e.msg[0] != '\0');
		assert_null(c.cnf_jwk); /* ret untouched */
	}
	token_claims_clear(&c);
	return r;
}

/* The default token's payload with a change applied, re-signed with the
 * real key. */
static char *resign_payload(void (*mutate)(json_t *pl, const void *arg),
			    const void *arg)
{
	char *jwt = issue_default();
	json_t *pl = segment(jwt, 1), *hdr = std_header();
	char *out;

	mutate(pl, arg);
	out = sign_json(key->pkey, hdr, pl);
	json_decref(pl);
	json_decref(hdr);
	free(jwt);
	return out;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct err e = { { 0 } };

	if (token_key_generate(&key, &e) < 0) {
		fprintf(stderr, "%s\n", err_str(&e));
		return -1;
	}
	jwks = json_pack("{s:[O]}", "keys", key->jwk);
	transport = EVP_EC_gen("P-256");
	if (!jwks || !transport ||
	    token_jwk_from_pkey(transport, &transport_jwk, &e) < 0) {
		fprintf(stderr, "%s\n", err_str(&e));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	token_key_free(key);
	json_decref(jwks);
	json_decref(transport_jwk);
	EVP_PKEY_free(transport);
	return 0;
}

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
	struct token_claims in = claims_template(), out = { 0 };
	struct err e = { { 0 } };
	char *jwt = issue_claims(&in), *jwt2 = issue_claims(&in);
	json_t *hdr = segment(jwt, 0), *pl = segment(jwt, 1);
	char thp[64];

	assert_int_equal(token_verify(jwks, jwt, NOW, &out, &e), 0);
	assert_int_equal(out.iat, in.iat);
	assert_int_equal(out.exp, in.exp);
	assert_int_equal(out.status, TOKEN_AFFIRMING);
	assert_int_equal(out.mode, TOKEN_MODE_TPM);
	assert_string_equal(out.host, in.host);
	assert_string_equal(out.policy_id, in.policy_id);
	assert_string_equal(out.baseline, in.baseline);
	assert_string_equal(out.verifier_build, in.verifier_build);
	assert_int_equal(strlen(out.jti), 22); /* 128 bits, base64url */
	assert_non_null(out.cnf_jwk);
	assert_true(jose_jwk_eql(NULL, out.cnf_jwk, transport_jwk));

	/* header */
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")), key->kid);
	/* claims exactly as documented */
	assert_string_equal(json_string_value(json_object_get(pl, "eat_profile")),
			    TOKEN_EAR_PROFILE);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(pl, "ear.verifier-id"), "developer")),
			    "shieldvm");
	assert_int_equal(json_object_size(pl), 7);
	assert_int_equal(token_jwk_thumbprint(transport_jwk, thp, &e), 0);
	assert_string_equal(json_string_value(json_object_get(out.cnf_jwk, "kid")),
			    thp);
	/* a fresh jti each time */
	{
		struct token_claims o2 = { 0 };

		assert_int_equal(token_verify(jwks, jwt2, NOW, &o2, &e), 0);
		assert_string_not_equal(o2.jti, out.jti);
		token_claims_clear(&o2);
	}
	/* within the skew at both ends */
	assert_int_equal(verify(jwks, jwt), 0);
	assert_int_equal(token_verify(jwks, jwt, in.iat - TOKEN_MAX_CLOCK_SKEW,
				      NULL, NULL),
			 0);
	assert_int_equal(token_verify(jwks, jwt, in.exp + TOKEN_MAX_CLOCK_SKEW - 1,
				      NULL, NULL),
			 0);
	/* a caller-chosen jti is kept */
	snprintf(in.jti, sizeof(in.jti), "audit-1234");
	free(jwt2);
	jwt2 = issue_claims(&in);
	token_claims_clear(&out);
	assert_int_equal(token_verify(jwks, jwt2, NOW, &out, &e), 0);
	assert_string_equal(out.jti, "audit-1234");

	token_claims_clear(&out);
	json_decref(hdr);
	json_decref(pl);
	free(jwt);
	free(jwt2);
}

static void expect_vector(enum token_status s, enum token_mode m,
			  const char *status, int ii, int cfg, int ex, int hw)
{
	struct token_claims c = claims_template(), out = { 0 };
	char *jwt;
	json_t *pl, *sub, *tv;

	c.status = s;
	c.mode = m;
	jwt = issue_claims(&c);
	pl = segment(jwt, 1);
	sub = json_object_get(json_object_get(pl, "submods"), "shieldvm-host");
	tv = json_object_get(sub, "ear.trustworthiness-vector");
	assert_string_equal(json_string_value(json_object_get(sub, "ear.status")),
			    status);
	assert_int_equal(json_object_size(tv), 4);
	assert_int_equal(json_integer_value(json_object_get(tv, "instance-identity")), ii);
	assert_int_equal(json_integer_value(json_object_get(tv, "configuration")), cfg);
	assert_int_equal(json_integer_value(json_object_get(tv, "executables")), ex);
	assert_int_equal(json_integer_value(json_object_get(tv, "hardware")), hw);
	assert_int_equal(token_verify(jwks, jwt, NOW, &out, NULL), 0);
	assert_int_equal(out.status, s);
	assert_int_equal(out.mode, m);
	token_claims_clear(&out);
	json_decref(pl);
	free(jwt);
}

static void test_trust_vectors(void **state)
{
	expect_vector(TOKEN_AFFIRMING, TOKEN_MODE_TPM, "affirming", 2, 2, 2, 2);
	expect_vector(TOKEN_WARNING, TOKEN_MODE_HOST_KEY, "warning", 32, 2, 2, 32);
	expect_vector(TOKEN_CONTRAINDICATED, TOKEN_MODE_TPM, "contraindicated",
		      96, 96, 96, 96);
}

/* Peer oracle: libjose verifies our compact tokens, and we verify tokens
 * libjose signed. */
static void test_libjose_interop(void **state)
{
	char *jwt = issue_default(), *dot1 = strchr(jwt, '.'),
	     *dot2 = strchr(dot1 + 1, '.');
	json_t *jws, *priv_jwk, *sig_tmpl, *plj;
	char *ours, *h, *p, *s;

	jws = json_pack("{s:s%, s:s%, s:s}", "protected", jwt,
			(size_t)(dot1 - jwt), "payload", dot1 + 1,
			(size_t)(dot2 - dot1 - 1), "signature", dot2 + 1);
	assert_non_null(jws);
	assert_true(jose_jws_ver(NULL, jws, NULL, key->jwk, false));
	json_decref(jws);

	/* libjose signs the default claims with a key it generated */
	priv_jwk = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");
	{
		/* a separate libjose-generated key listed in a JWK Set */
		json_t *pub, *set;
		char thp[64];
		struct err e = { { 0 } };

		assert_true(jose_jwk_gen(NULL, priv_jwk));
		pub = json_deep_copy(priv_jwk);
		assert_true(jose_jwk_pub(NULL, pub));
		assert_int_equal(token_jwk_thumbprint(pub, thp, &e), 0);
		json_object_set_new(pub, "kid", json_string(thp));
		set = json_pack("{s:[o]}", "keys", pub);

		plj = segment(jwt, 1);
		ours = json_dumps(plj, JSON_COMPACT);
		jws = json_pack("{s:o}", "payload", jose_b64_enc(ours, strlen(ours)));
		sig_tmpl = json_pack("{s:{s:s, s:s, s:s}}", "protected", "alg",
				     "ES256", "typ", "JWT", "kid", thp);
		assert_true(jose_jws_sig(NULL, jws, sig_tmpl, priv_jwk));
		h = (char *)json_string_value(json_object_get(jws, "protected"));
		p = (char *)json_string_value(json_object_get(jws, "payload"));
		s = (char *)json_string_value(json_object_get(jws, "signature"));
		{
			char *compact = join3(h, p, s);

			assert_int_equal(verify(set, compact), 0);
			/* and the same token is not accepted with our JWKS */
			assert_int_equal(verify(jwks, compact), -EKEYREJECTED);
			free(compact);
		}
		json_decref(sig_tmpl);
		json_decref(jws);
		json_decref(set);
		json_decref(plj);
		free(ours);
	}
	json_decref(priv_jwk);
	free(jwt);
}

/* token_jwk_from_pkey writes what libjose's jose_openssl_jwk_from_EVP_PKEY
 * writes for the public half (members, values, order), plus the kid. */
static void test_jwk_from_pkey_as_libjose(void **state)
{
	static const char *const curves[] = { "P-256", "P-384", "P-521" };

	for (size_t i = 0; i < 3 * ARRAY_SIZE(curves) + 4; i++) {
		EVP_PKEY *pkey = i < 3 * ARRAY_SIZE(curves)
					 ? EVP_EC_gen(curves[i % ARRAY_SIZE(curves)])
					 : EVP_RSA_gen(i % 2 ? 2048 : 3072);
		json_t *ours = NULL, *theirs;
		struct err e = { { 0 } };
		char *a, *b;

		assert_non_null(pkey);
		assert_int_equal(token_jwk_from_pkey(pkey, &ours, &e), 0);
		theirs = jose_openssl_jwk_from_EVP_PKEY(NULL, pkey);
		assert_non_null(theirs);
		assert_true(jose_jwk_pub(NULL, theirs));
		json_object_set(theirs, "kid", json_object_get(ours, "kid"));
		a = json_dumps(ours, JSON_COMPACT);
		b = json_dumps(theirs, JSON_COMPACT);
		assert_string_equal(a, b);
		assert_null(json_object_get(ours, "d"));
		free(a);
		free(b);
		{
			/* from the numbers (minimal big-endian, as in a TPM
			 * public area without leading zeros): the same JWK */
			bool ec = i < 3 * ARRAY_SIZE(curves);
			BIGNUM *u = NULL, *v = NULL;
			uint8_t ub[600], vb[600];
			json_t *num = NULL;
			int ul, vl;

			assert_int_equal(EVP_PKEY_get_bn_param(pkey, ec ? "qx" : "n", &u), 1);
			assert_int_equal(EVP_PKEY_get_bn_param(pkey, ec ? "qy" : "e", &v), 1);
			ul = BN_bn2bin(u, ub);
			vl = BN_bn2bin(v, vb);
			if (ec)
				assert_int_equal(token_jwk_from_ec(curves[i % ARRAY_SIZE(curves)], ub,
								   (size_t)ul, vb, (size_t)vl, &num, &e),
						 0);
			else
				assert_int_equal(token_jwk_from_rsa(ub, (size_t)ul, vb, (size_t)vl, &num,
								    &e),
						 0);
			a = json_dumps(ours, JSON_COMPACT);
			b = json_dumps(num, JSON_COMPACT);
			assert_string_equal(a, b);
			free(a);
			free(b);
			json_decref(num);
			BN_free(u);
			BN_free(v);
		}
		json_decref(ours);
		json_decref(theirs);
		EVP_PKEY_free(pkey);
	}
}

/* Coordinates are padded to the field size, given with or without their
 * leading zeros; numbers that do not fit are refused. */
static void test_jwk_from_numbers_padding(void **state)
{
	uint8_t x[32] = { 0 }, y[33] = { 0 };
	json_t *a = NULL, *b = NULL;
	struct err e = { { 0 } };

	x[31] = 1;
	y[32] = 2;
	assert_int_equal(token_jwk_from_ec("P-256", x, 32, y + 1, 32, &a, &e), 0);
	assert_int_equal(token_jwk_from_ec("P-256", x + 31, 1, y, 33, &b, &e), 0);
	assert_true(json_equal(a, b));
	assert_string_equal(json_string_value(json_object_get(a, "x")),
			    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE");
	json_decref(a);
	json_decref(b);
	y[0] = 1; /* 33 significant bytes */
	assert_int_equal(token_jwk_from_ec("P-256", x, 32, y, 33, &a, &e), -EINVAL);
	assert_int_equal(token_jwk_from_ec("P-192", x, 32, y + 1, 32, &a, &e), -EINVAL);
}

/* ---- algorithm and key confusion ---- */

static char *with_header(const json_t *hdr, const char *jwt, const char *sig)
{
	char *h = b64_json(hdr), *dot1 = strchr(jwt, '.'),
	     *dot2 = strchr(dot1 + 1, '.');
	char pl[TOKEN_MAX_SIZE];
	char *r;

	snprintf(pl, sizeof(pl), "%.*s", (int)(dot2 - dot1 - 1), dot1 + 1);
	r = join3(h, pl, sig ? sig : dot2 + 1);
	free(h);
	return r;
}

static void test_alg_none(void **state)
{
	char *jwt = issue_default();
	json_t *hdr = json_pack("{s:s, s:s}", "alg", "none", "kid", key->kid);
	char *t1 = with_header(hdr, jwt, "AAAA"), *t2 = with_header(hdr, jwt, "");

	assert_int_equal(verify(jwks, t1), -EKEYREJECTED);
	assert_true(verify(jwks, t2) < 0);
	/* even with the original, valid signature bytes */
	free(t1);
	t1 = with_header(hdr, jwt, NULL);
	assert_int_equal(verify(jwks, t1), -EKEYREJECTED);
	json_decref(hdr);
	free(t1);
	free(t2);
	free(jwt);
}

/* The classic confusion: HS256 keyed with the verifier's public key. */
static void test_hs256_public_key_as_secret(void **state)
{
	char *jwt = issue_default(), *dot1 = strchr(jwt, '.'),
	     *dot2 = strchr(dot1 + 1, '.');
	json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "typ", "JWT",
				"kid", key->kid);
	char *secrets[2];
	uint8_t mac[32];
	unsigned mac_len = 0;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem_data;
	long pem_len;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, key->pkey), 1);
	pem_len = BIO_get_mem_data(bio, &pem_data);
	secrets[0] = json_dumps(key->jwk, JSON_COMPACT | JSON_SORT_KEYS);
	/* the PEM is not NUL-terminated in the BIO: copy it whole */
	secrets[1] = calloc(1, (size_t)pem_len + 1);
	assert_non_null(secrets[1]);
	memcpy(secrets[1], pem_data, (size_t)pem_len);
	for (int i = 0; i < 2; i++) {
		char *h = b64_json(hdr), pl[TOKEN_MAX_SIZE], input[2 * TOKEN_MAX_SIZE + 2];
		char *sig, *t;

		snprintf(pl, sizeof(pl), "%.*s", (int)(dot2 - dot1 - 1), dot1 + 1);
		snprintf(input, sizeof(input), "%s.%s", h, pl);
		assert_non_null(HMAC(EVP_sha256(), secrets[i], (int)strlen(secrets[i]),
				     (uint8_t *)input, strlen(input), mac, &mac_len));
		sig = b64(mac, mac_len);
		t = join3(h, pl, sig);
		assert_int_equal(verify(jwks, t), -EKEYREJECTED);
		free(t);
		free(sig);
		free(h);
		free(secrets[i]);
	}
	BIO_free(bio);
	json_decref(hdr);
	free(jwt);
}

static void test_other_algs(void **state)
{
	static const char *const algs[] = {
		"HS384", "HS512", "RS256", "PS256", "ES384", "ES512", "EdDSA",
		"es256", "ES256 ", "",
	};
	char *jwt = issue_default();

	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		json_t *hdr = json_pack("{s:s, s:s}", "alg", algs[i], "kid", key->kid);
		char *t = with_header(hdr, jwt, NULL);

		assert_int_equal(verify(jwks, t), -EKEYREJECTED);
		json_decref(hdr);
		free(t);
	}
	/* alg not a string, missing */
	{
		json_t *hdr = json_pack("{s:i, s:s}", "alg", 7, "kid", key->kid);
		char *t = with_header(hdr, jwt, NULL);

		assert_int_equal(verify(jwks, t), -EBADMSG);
		json_decref(hdr);
		free(t);
		hdr = json_pack("{s:s}", "kid", key->kid);
		t = with_header(hdr, jwt, NULL);
		assert_int_equal(verify(jwks, t), -EBADMSG);
		json_decref(hdr);
		free(t);
	}
	free(jwt);
}

static void test_header_rules(void **state)
{
	char *jwt = issue_default(), *t;
	json_t *hdr;

	/* crit is refused */
	hdr = json_pack("{s:s, s:s, s:[s], s:b}", "alg", "ES256", "kid", key->kid,
			"crit", "b64", "b64", 0);
	t = with_header(hdr, jwt, NULL);
	assert_int_equal(verify(jwks, t), -EBADMSG);
	json_decref(hdr);
	free(t);
	/* typ other than JWT */
	hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "kid", key->kid,
			"typ", "JOSE+JSON");
	t = with_header(hdr, jwt, NULL);
	assert_int_equal(verify(jwks, t), -EBADMSG);
	json_decref(hdr);
	free(t);
	/* duplicate alg in the header JSON: a classic parser differential */
	{
		const char *raw = "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"x\"}";
		char *h = b64(raw, strlen(raw)), *dot1 = strchr(jwt, '.');

		t = join3(h, "e30", "AAAA");
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		free(h);
		(void)dot1;
	}
	/* header that is not an object */
	{
		char *h = b64("[1]", 3);

		t = join3(h, "e30", "AAAA");
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		free(h);
	}
	free(jwt);
}

static void test_unknown_kid(void **state)
{
	char *jwt = issue_default(), *t;
	json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT",
				"kid", "not-a-known-key");

	t = with_header(hdr, jwt, NULL);
	assert_int_equal(verify(jwks, t), -EKEYREJECTED);
	free(t);
	json_decref(hdr);
	/* no kid at all */
	hdr = json_pack("{s:s, s:s}", "alg", "ES256", "typ", "JWT");
	t = with_header(hdr, jwt, NULL);
	assert_int_equal(verify(jwks, t), -EKEYREJECTED);
	free(t);
	json_decref(hdr);
	/* an empty or malformed JWK Set */
	{
		json_t *empty = json_pack("{s:[]}", "keys"), *bad = json_object();

		assert_int_equal(verify(empty, jwt), -EKEYREJECTED);
		assert_int_equal(verify(bad, jwt), -EINVAL);
		assert_int_equal(verify(NULL, jwt), -EINVAL);
		json_decref(empty);
		json_decref(bad);
	}
	free(jwt);
}

/* Replace character i of s by another base64url character. */
static void flip_char(char *s, size_t i)
{
	s[i] = s[i] == 'A' ? 'B' : 'A';
}

static void test_flipped_signature(void **state)
{
	char *jwt = issue_default();
	size_t sig_off = (size_t)(strrchr(jwt, '.') - jwt) + 1, len = strlen(jwt);

	for (size_t i = sig_off; i < len; i++) {
		char *t = strdup(jwt);
		int r;

		flip_char(t, i);
		r = verify(jwks, t);
		/* the last character also carries 4 padding bits: either the
		 * encoding is non-canonical or the signature differs */
		if (i == len - 1)
			assert_true(r == -EKEYREJECTED || r == -EBADMSG);
		else
			assert_int_equal(r, -EKEYREJECTED);
		free(t);
	}
	/* a signature of the wrong length */
	{
		char *t = malloc(len + 8);

		assert_non_null(t);
		memcpy(t, jwt, len);
		memcpy(t + len, "AAAA", 5);
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		t = strdup(jwt);
		t[len - 4] = '\0';
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
	}
	/* r = s = 0 */
	{
		uint8_t zero[64] = { 0 };
		char *z = b64(zero, sizeof(zero)), *t = strdup(jwt);
		char *h = t, *p = strchr(t, '.') + 1;
		char *r;

		*strchr(p, '.') = '\0';
		p[-1] = '\0';
		r = join3(h, p, z);
		assert_int_equal(verify(jwks, r), -EKEYREJECTED);
		free(r);
		free(t);
		free(z);
	}
	free(jwt);
}

/* Verified signatures are kept by their bytes (token.c): a token seen
 * before still has its key looked up and every claim checked, and any
 * other signature, key or signing input is verified in full. */
static void test_verified_cache(void **state)
{
	struct token_claims c = claims_template();
	struct token_key *k2 = NULL;
	struct err e = { { 0 } };
	char *jwt = issue_default(), *t;
	json_t *wrong;
	size_t len = strlen(jwt);

	assert_int_equal(verify(jwks, jwt), 0);
	assert_int_equal(verify(jwks, jwt), 0);
	/* the same token later: expired all the same */
	{
		struct token_claims got = { 0 };

		assert_int_equal(token_verify(jwks, jwt,
					      c.exp + TOKEN_MAX_CLOCK_SKEW + 1,
					      &got, &e),
				 -ETIME);
		token_claims_clear(&got);
	}
	/* another signature over the same input */
	t = strdup(jwt);
	flip_char(t, len - 10);
	assert_int_equal(verify(jwks, t), -EKEYREJECTED);
	free(t);
	/* the same kid with another key's point */
	assert_int_equal(token_key_generate(&k2, &e), 0);
	wrong = json_deep_copy(k2->jwk);
	json_object_set(wrong, "kid", json_object_get(key->jwk, "kid"));
	{
		json_t *set = json_pack("{s:[o]}", "keys", wrong);

		assert_int_equal(verify(set, jwt), -EKEYREJECTED);
		json_decref(set);
	}
	/* an empty set */
	{
		json_t *set = json_pack("{s:[]}", "keys");

		assert_int_equal(verify(set, jwt), -EKEYREJECTED);
		json_decref(set);
	}
	/* more tokens than the cache holds, then the first again */
	for (int i = 0; i < 300; i++) {
		char *u;

		c.iat = NOW - i;
		u = issue_claims(&c);
		assert_int_equal(verify(jwks, u), 0);
		free(u);
	}
	assert_int_equal(verify(jwks, jwt), 0);
	token_key_free(k2);
	free(jwt);
}

static void test_flipped_payload(void **state)
{
	char *jwt = issue_default();
	size_t end = (size_t)(strrchr(jwt, '.') - jwt);

	/* every character of header and payload */
	for (size_t i = 0; i < end; i++) {
		char *t;
		int r;

		if (jwt[i] == '.')
			continue;
		t = strdup(jwt);
		flip_char(t, i);
		r = verify(jwks, t);
		assert_true(r == -EKEYREJECTED || r == -EBADMSG);
		free(t);
	}
	free(jwt);
}

/* ---- time ---- */

static void test_expired(void **state)
{
	struct token_claims c = claims_template();
	char *jwt;

	c.iat = NOW - 3600;
	c.exp = NOW - TOKEN_MAX_CLOCK_SKEW;
	jwt = issue_claims(&c);
	assert_int_equal(verify(jwks, jwt), -ETIME);
	free(jwt);
	c.exp = NOW - TOKEN_MAX_CLOCK_SKEW + 1; /* still inside the skew */
	jwt = issue_claims(&c);
	assert_int_equal(verify(jwks, jwt), 0);
	free(jwt);
	c.exp = NOW - 7 * 24 * 3600 + 1;
	c.iat = c.exp - 1;
	jwt = issue_claims(&c);
	assert_int_equal(verify(jwks, jwt), -ETIME);
	free(jwt);
}

static void test_not_yet_valid(void **state)
{
	struct token_claims c = claims_template();
	char *jwt;

	c.iat = NOW + TOKEN_MAX_CLOCK_SKEW + 1;
	c.exp = c.iat + 3600;
	jwt = issue_claims(&c);
	assert_int_equal(verify(jwks, jwt), -ETIME);
	free(jwt);
	c.iat = NOW + TOKEN_MAX_CLOCK_SKEW;
	jwt = issue_claims(&c);
	assert_int_equal(verify(jwks, jwt), 0);
	free(jwt);
}

/* ---- claims ---- */

static void set_profile(json_t *pl, const void *arg)
{
	json_object_set_new(pl, "eat_profile", json_string(arg));
}

static void test_wrong_profile(void **state)
{
	static const char *const profiles[] = {
		"tag:github.com,2022:veraison/ear",
		"tag:github.com,2023:veraison/ear ",
		"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(profiles); i++) {
		char *t = resign_payload(set_profile, profiles[i]);

		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
	}
}

/* A claim path "a/b/c" (slash-separated: claim names contain dots). */
static json_t *parent_of(json_t *pl, const char *path, const char **ret_leaf)
{
	static char buf[256];
	char *save = NULL, *tok, *next;
	json_t *o = pl;

	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, "/", &save);
	while ((next = strtok_r(NULL, "/", &save))) {
		o = json_object_get(o, tok);
		assert_non_null(o);
		tok = next;
	}
	*ret_leaf = tok;
	return o;
}

static void del_claim(json_t *pl, const void *arg)
{
	const char *leaf;
	json_t *o = parent_of(pl, arg, &leaf);

	assert_int_equal(json_object_del(o, leaf), 0);
}

static const char *const claim_paths[] = {
	"eat_profile",
	"iat",
	"exp",
	"jti",
	"ear.verifier-id",
	"ear.verifier-id/developer",
	"ear.verifier-id/build",
	"submods",
	"submods/shieldvm-host",
	"submods/shieldvm-host/ear.status",
	"submods/shieldvm-host/ear.trustworthiness-vector",
	"submods/shieldvm-host/ear.trustworthiness-vector/instance-identity",
	"submods/shieldvm-host/ear.trustworthiness-vector/configuration",
	"submods/shieldvm-host/ear.trustworthiness-vector/executables",
	"submods/shieldvm-host/ear.trustworthiness-vector/hardware",
	"submods/shieldvm-host/ear.appraisal-policy-id",
	"submods/shieldvm-host/shieldvm.attestation-mode",
	"submods/shieldvm-host/shieldvm.host",
	"submods/shieldvm-host/shieldvm.baseline",
	"cnf",
	"cnf/jwk",
	"cnf/jwk/kty",
	"cnf/jwk/x",
	"cnf/jwk/y",
	"cnf/jwk/crv",
};

static void test_missing_claim(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(claim_paths); i++) {
		char *t = resign_payload(del_claim, claim_paths[i]);
		int r = verify(jwks, t);

		if (r != -EBADMSG)
			fail_msg("without %s: %d", claim_paths[i], r);
		free(t);
	}
	/* and the untouched default verifies (the helper is not the cause) */
	{
		char *t = issue_default();

		assert_int_equal(verify(jwks, t), 0);
		free(t);
	}
}

struct retype {
	const char *path;
	const char *json; /* the wrong-typed value */
};

static void set_claim(json_t *pl, const void *arg)
{
	const struct retype *rt = arg;
	const char *leaf;
	json_t *o = parent_of(pl, rt->path, &leaf);
	json_t *v = json_loads(rt->json, JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	assert_int_equal(json_object_set_new(o, leaf, v), 0);
}

static void test_wrong_types(void **state)
{
	static const struct retype cases[] = {
		{ "eat_profile", "1" },
		{ "iat", "\"1700000000\"" },
		{ "iat", "1700000000.5" },
		{ "exp", "null" },
		{ "exp", "1699999999" }, /* before iat */
		{ "jti", "42" },
		{ "jti", "\"\"" },
		{ "ear.verifier-id", "\"hgsd\"" },
		{ "ear.verifier-id/build", "[]" },
		{ "submods", "[]" },
		{ "submods/shieldvm-host", "\"x\"" },
		{ "submods/shieldvm-host/ear.status", "2" },
		{ "submods/shieldvm-host/ear.status", "\"affirmed\"" },
		{ "submods/shieldvm-host/ear.trustworthiness-vector", "[2,2,2,2]" },
		{ "submods/shieldvm-host/ear.trustworthiness-vector/hardware", "\"2\"" },
		{ "submods/shieldvm-host/ear.trustworthiness-vector/hardware", "128" },
		{ "submods/shieldvm-host/ear.trustworthiness-vector/bogus", "2" },
		{ "submods/shieldvm-host/ear.appraisal-policy-id", "true" },
		{ "submods/shieldvm-host/shieldvm.attestation-mode", "\"tpm2\"" },
		{ "submods/shieldvm-host/shieldvm.host", "{}" },
		{ "submods/shieldvm-host/shieldvm.host", "\"\"" },
		{ "submods/shieldvm-host/shieldvm.baseline", "0" },
		{ "cnf", "\"key\"" },
		{ "cnf/jwk", "\"key\"" },
		{ "cnf/jwk/kty", "\"oct\"" },
		{ "cnf/jwk/crv", "\"P-521\"" },
		{ "cnf/jwk/crv", "\"secp256k1\"" },
		{ "cnf/jwk/x", "\"AAAA\"" },
		{ "cnf/jwk/y", "7" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *t = resign_payload(set_claim, &cases[i]);
		int r = verify(jwks, t);

		if (r != -EBADMSG)
			fail_msg("%s = %s: %d", cases[i].path, cases[i].json, r);
		free(t);
	}
	/* unknown top-level claims are ignored (JWT convention) */
	{
		struct retype extra = { "nbf", "1" };
		char *t = resign_payload(set_claim, &extra);

		assert_int_equal(verify(jwks, t), 0);
		free(t);
	}
}

static void test_payload_not_object(void **state)
{
	json_t *hdr = std_header();
	char *h = b64_json(hdr);
	static const char *const payloads[] = { "[]", "\"x\"", "{", "" , "{}"};

	for (size_t i = 0; i < ARRAY_SIZE(payloads); i++) {
		char *p = b64(payloads[i], strlen(payloads[i]));
		char *t = sign_es256(key->pkey, h, p);

		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		free(p);
	}
	json_decref(hdr);
	free(h);
}

/* ---- encoding ---- */

static void test_oversize(void **state)
{
	char *big = malloc(TOKEN_MAX_SIZE + 2), *jwt = issue_default();
	size_t n = strlen(jwt);

	memset(big, 'A', TOKEN_MAX_SIZE + 1);
	big[TOKEN_MAX_SIZE + 1] = '\0';
	assert_int_equal(verify(jwks, big), -EBADMSG);
	/* a real token padded past the limit with a long header */
	memcpy(big, jwt, n);
	big[n] = '\0';
	{
		json_t *hdr = std_header();
		char *filler = malloc(TOKEN_MAX_SIZE);
		char *t;

		memset(filler, 'x', TOKEN_MAX_SIZE - 1);
		filler[TOKEN_MAX_SIZE - 1] = '\0';
		json_object_set_new(hdr, "x-filler", json_string(filler));
		t = with_header(hdr, jwt, NULL);
		assert_true(strlen(t) > TOKEN_MAX_SIZE);
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		free(filler);
		json_decref(hdr);
	}
	free(big);
	free(jwt);
}

static char *splice(const char *jwt, size_t at, const char *ins)
{
	size_t n = strlen(jwt) + strlen(ins) + 1;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "%.*s%s%s", (int)at, jwt, ins, jwt + at);
	return s;
}

static void test_bad_base64url(void **state)
{
	char *jwt = issue_default();
	size_t dot1 = (size_t)(strchr(jwt, '.') - jwt),
	       dot2 = (size_t)(strrchr(jwt, '.') - jwt), len = strlen(jwt);
	static const char *const inserts[] = { "=", "==", "+", "/", " ", "\n",
					       "*", "\xc3\xa9" };
	const size_t where[] = { dot1, dot2, len, 0, dot1 + 1 };

	for (size_t i = 0; i < ARRAY_SIZE(inserts); i++)
		for (size_t w = 0; w < ARRAY_SIZE(where); w++) {
			char *t = splice(jwt, where[w], inserts[i]);

			assert_int_equal(verify(jwks, t), -EBADMSG);
			free(t);
		}
	/* standard-alphabet signature (+ and / instead of - and _) */
	{
		char *t = strdup(jwt);
		int changed = 0;

		for (size_t i = dot2 + 1; i < len; i++) {
			if (t[i] == '-') {
				t[i] = '+';
				changed = 1;
			} else if (t[i] == '_') {
				t[i] = '/';
				changed = 1;
			}
		}
		if (changed)
			assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
	}
	/* a signature segment with impossible length (4n + 1) */
	{
		char *t = splice(jwt, len, "A");

		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
	}
	/* non-canonical trailing bits: 64 bytes encode to 86 characters
	 * whose last one holds 2 bits of data and 4 zero bits */
	{
		char *t = strdup(jwt);
		char *last = t + len - 1;
		const char *alpha = JOSE_B64_MAP;
		int v = (int)(strchr(alpha, *last) - alpha);

		*last = alpha[v | 1];
		if (alpha[v | 1] != jwt[len - 1])
			assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
	}
	free(jwt);
}

static void test_segments(void **state)
{
	char *jwt = issue_default();
	char *t;
	size_t dot2 = (size_t)(strrchr(jwt, '.') - jwt);

	/* four segments */
	t = splice(jwt, strlen(jwt), ".AAAA");
	assert_int_equal(verify(jwks, t), -EBADMSG);
	free(t);
	t = splice(jwt, dot2, ".e30");
	assert_int_equal(verify(jwks, t), -EBADMSG);
	free(t);
	/* two segments, one segment */
	t = strdup(jwt);
	t[dot2] = '\0';
	assert_int_equal(verify(jwks, t), -EBADMSG);
	*strchr(t, '.') = '\0';
	assert_int_equal(verify(jwks, t), -EBADMSG);
	free(t);
	/* empty segments and the empty string */
	static const char *const odd[] = { "", ".", "..", "...", "a..b", ".a.b",
					   "a.b." };

	for (size_t i = 0; i < ARRAY_SIZE(odd); i++)
		assert_int_equal(verify(jwks, odd[i]), -EBADMSG);
	assert_int_equal(verify(jwks, NULL), -EBADMSG);
	free(jwt);
}

/* ---- cnf ---- */

static void add_private(json_t *pl, const void *arg)
{
	json_t *jwk = json_object_get(json_object_get(pl, "cnf"), "jwk");

	json_object_set_new(jwk, arg, json_string("AAAA"));
}

static void test_cnf_private_key(void **state)
{
	static const char *const members[] = { "d", "p", "q", "dp", "dq", "qi",
					       "k" };
	struct token_claims c = claims_template();
	struct err e = { { 0 } };
	char *jwt = NULL;
	json_t *priv = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");

	for (size_t i = 0; i < ARRAY_SIZE(members); i++) {
		char *t = resign_payload(add_private, members[i]);

		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
	}
	/* and the issuer refuses to put a private key into a token */
	assert_true(jose_jwk_gen(NULL, priv));
	c.cnf_jwk = priv;
	assert_int_equal(token_issue(key, &c, &jwt, &e), -EINVAL);
	assert_null(jwt);
	assert_non_null(strstr(e.msg, "private"));
	json_decref(priv);
}

static void test_cnf_key_types(void **state)
{
	struct token_claims c = claims_template(), out = { 0 };
	struct err e = { { 0 } };
	EVP_PKEY *p384 = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048);
	json_t *j384 = NULL, *jrsa = NULL, *weak, *offcurve;
	char *jwt;
	uint8_t n1024[128];
	char *n64;

	assert_int_equal(token_jwk_from_pkey(p384, &j384, &e), 0);
	assert_int_equal(token_jwk_from_pkey(rsa, &jrsa, &e), 0);
	assert_null(json_object_get(jrsa, "d"));
	assert_null(json_object_get(jrsa, "p"));
	/* allowed: P-384 and RSA-2048 */
	c.cnf_jwk = j384;
	jwt = issue_claims(&c);
	assert_int_equal(token_verify(jwks, jwt, NOW, &out, &e), 0);
	assert_string_equal(json_string_value(json_object_get(out.cnf_jwk, "crv")),
			    "P-384");
	token_claims_clear(&out);
	free(jwt);
	c.cnf_jwk = jrsa;
	jwt = issue_claims(&c);
	assert_int_equal(verify(jwks, jwt), 0);
	free(jwt);

	/* refused: RSA-1024, a point off the curve, a symmetric key */
	memset(n1024, 0xc5, sizeof(n1024));
	n64 = b64(n1024, sizeof(n1024));
	weak = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", "AQAB");
	c.cnf_jwk = weak;
	jwt = NULL;
	assert_int_equal(token_issue(key, &c, &jwt, &e), -EINVAL);
	offcurve = json_deep_copy(transport_jwk);
	{
		uint8_t y[32];
		const char *ys = json_string_value(json_object_get(offcurve, "y"));
		char *y64;

		assert_int_equal(jose_b64_dec_buf(ys, strlen(ys), y, sizeof(y)), 32);
		y[31] ^= 1;
		y64 = b64(y, sizeof(y));
		json_object_set_new(offcurve, "y", json_string(y64));
		free(y64);
	}
	c.cnf_jwk = offcurve;
	memset(&e, 0, sizeof(e));
	assert_int_equal(token_issue(key, &c, &jwt, &e), -EINVAL);
	{
		json_t *oct = json_pack("{s:s, s:s}", "kty", "oct", "k", "AAAA");

		c.cnf_jwk = oct;
		assert_int_equal(token_issue(key, &c, &jwt, NULL), -EINVAL);
		json_decref(oct);
	}
	/* and the same keys smuggled into a signed token */
	{
		struct retype rt = { "cnf/jwk", NULL };
		char *s = json_dumps(weak, JSON_COMPACT), *t;

		rt.json = s;
		t = resign_payload(set_claim, &rt);
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		free(s);
		s = json_dumps(offcurve, JSON_COMPACT);
		rt.json = s;
		t = resign_payload(set_claim, &rt);
		assert_int_equal(verify(jwks, t), -EBADMSG);
		free(t);
		free(s);
	}
	json_decref(weak);
	json_decref(offcurve);
	json_decref(j384);
	json_decref(jrsa);
	free(n64);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
}

/* ---- keys ---- */

static void test_jwks_several_keys(void **state)
{
	struct token_key *k2 = NULL, *k3 = NULL;
	struct err e = { { 0 } };
	json_t *set, *wrong;
	char *jwt;

	assert_int_equal(token_key_generate(&k2, &e), 0);
	assert_int_equal(token_key_generate(&k3, &e), 0);
	assert_string_not_equal(k2->kid, key->kid);
	set = json_pack("{s:[O, O, O]}", "keys", k2->jwk, key->jwk, k3->jwk);
	{
		struct token_claims c = claims_template();

		assert_int_equal(token_issue(k3, &c, &jwt, &e), 0);
	}
	assert_int_equal(verify(set, jwt), 0);       /* third key */
	assert_int_equal(verify(jwks, jwt), -EKEYREJECTED); /* not in the set */
	free(jwt);
	jwt = issue_default();
	assert_int_equal(verify(set, jwt), 0);       /* second key */
	/* the kid names k2 but the token is signed by key: signature fails */
	{
		json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ",
					"JWT", "kid", k2->kid);
		char *t = with_header(hdr, jwt, NULL);

		assert_int_equal(verify(set, t), -EKEYREJECTED);
		free(t);
		json_decref(hdr);
	}
	/* a JWK Set whose entry for this kid carries another key's point */
	wrong = json_deep_copy(k2->jwk);
	json_object_set(wrong, "kid", json_object_get(key->jwk, "kid"));
	{
		json_t *s2 = json_pack("{s:[o]}", "keys", wrong);

		assert_int_equal(verify(s2, jwt), -EKEYREJECTED);
		json_decref(s2);
	}
	/* entries that are not ES256 keys are not used for a matching kid */
	{
		json_t *k = json_deep_copy(key->jwk), *s2;

		json_object_set_new(k, "alg", json_string("RS256"));
		s2 = json_pack("{s:[o]}", "keys", k);
		assert_int_equal(verify(s2, jwt), -EKEYREJECTED);
		json_decref(s2);
		k = json_deep_copy(key->jwk);
		json_object_set_new(k, "crv", json_string("P-384"));
		s2 = json_pack("{s:[o]}", "keys", k);
		assert_int_equal(verify(s2, jwt), -EKEYREJECTED);
		json_decref(s2);
		k = json_deep_copy(key->jwk);
		json_object_set_new(k, "use", json_string("enc"));
		s2 = json_pack("{s:[o]}", "keys", k);
		assert_int_equal(verify(s2, jwt), -EKEYREJECTED);
		json_decref(s2);
	}
	/* private members in a JWK Set entry are ignored, not used */
	{
		json_t *k = json_deep_copy(key->jwk), *s2;

		json_object_set_new(k, "d", json_string("AAAA"));
		s2 = json_pack("{s:[o]}", "keys", k);
		assert_int_equal(verify(s2, jwt), 0);
		json_decref(s2);
	}
	free(jwt);
	json_decref(set);
	token_key_free(k2);
	token_key_free(k3);
}

static void test_thumbprint_rfc7638(void **state)
{
	/* RFC 7638 section 3.1: the example RSA key and its thumbprint */
	json_t *jwk = json_pack(
		"{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n",
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		"e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
	struct err e = { { 0 } };
	char thp[64];

	assert_int_equal(token_jwk_thumbprint(jwk, thp, &e), 0);
	assert_string_equal(thp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	/* members outside the required set do not change it */
	json_object_set_new(jwk, "use", json_string("sig"));
	assert_int_equal(token_jwk_thumbprint(jwk, thp, &e), 0);
	assert_string_equal(thp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	/* a JWK missing a required member has none */
	json_object_del(jwk, "e");
	assert_true(token_jwk_thumbprint(jwk, thp, &e) < 0);
	json_decref(jwk);
	/* the signing key's kid is its own thumbprint */
	assert_int_equal(token_jwk_thumbprint(key->jwk, thp, &e), 0);
	assert_string_equal(thp, key->kid);
	assert_string_equal(json_string_value(json_object_get(key->jwk, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(key->jwk, "use")), "sig");
	assert_null(json_object_get(key->jwk, "d"));
}

static void test_key_pem(void **state)
{
	struct token_key *k2 = NULL;
	struct err e = { { 0 } };
	char *pem = NULL, *jwt;
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	assert_int_equal(token_key_to_pem(key, &pem, &e), 0);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(token_key_from_pem(pem, strlen(pem), &k2, &e), 0);
	assert_string_equal(k2->kid, key->kid);
	{
		struct token_claims c = claims_template();

		assert_int_equal(token_issue(k2, &c, &jwt, &e), 0);
	}
	assert_int_equal(verify(jwks, jwt), 0);
	free(jwt);
	token_key_free(k2);
	free(pem);

	/* not a P-256 key, garbage, empty, oversize */
	assert_int_equal(PEM_write_bio_PrivateKey(bio, rsa, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	k2 = NULL;
	assert_int_equal(token_key_from_pem(data, (size_t)n, &k2, &e), -EINVAL);
	assert_null(k2);
	assert_int_equal(token_key_from_pem("hello", 5, &k2, NULL), -EINVAL);
	assert_int_equal(token_key_from_pem("", 0, &k2, NULL), -EINVAL);
	assert_int_equal(token_key_from_pem(data, TOKEN_KEY_PEM_MAX + 1, &k2, NULL),
			 -EINVAL);
	token_key_free(NULL);
	BIO_free(bio);
	EVP_PKEY_free(rsa);
}

static void test_issue_rejects(void **state)
{
	struct token_claims c = claims_template();
	char *jwt = NULL;

	c.exp = c.iat;
	assert_int_equal(token_issue(key, &c, &jwt, NULL), -EINVAL);
	c = claims_template();
	c.host[0] = '\0';
	assert_int_equal(token_issue(key, &c, &jwt, NULL), -EINVAL);
	c = claims_template();
	c.status = (enum token_status)7;
	assert_int_equal(token_issue(key, &c, &jwt, NULL), -EINVAL);
	c = claims_template();
	c.cnf_jwk = NULL;
	assert_int_equal(token_issue(key, &c, &jwt, NULL), -EINVAL);
	c = claims_template();
	memset(c.policy_id, 'p', sizeof(c.policy_id)); /* unterminated */
	assert_int_equal(token_issue(key, &c, &jwt, NULL), -EINVAL);
	assert_null(jwt);
	token_claims_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_trust_vectors),
		cmocka_unit_test(test_libjose_interop),
		cmocka_unit_test(test_jwk_from_pkey_as_libjose),
		cmocka_unit_test(test_jwk_from_numbers_padding),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_hs256_public_key_as_secret),
		cmocka_unit_test(test_other_algs),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_unknown_kid),
		cmocka_unit_test(test_flipped_signature),
		cmocka_unit_test(test_verified_cache),
		cmocka_unit_test(test_flipped_payload),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_wrong_profile),
		cmocka_unit_test(test_missing_claim),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_payload_not_object),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_bad_base64url),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_cnf_private_key),
		cmocka_unit_test(test_cnf_key_types),
		cmocka_unit_test(test_jwks_several_keys),
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_key_pem),
		cmocka_unit_test(test_issue_rejects),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
