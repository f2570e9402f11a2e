/* SPDX-License-Identifier: Apache-2.0 */
/* Guardians: key pairs, private files, signed public metadata (guardian.h). */
#include "kp/guardian.h"

#include <errno.h>
#include <string.h>

#include <jose/jose.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "kp/jw.h"

#define GUARDIAN_PRIVATE_TYPE "shieldvm-guardian-private"
#define GUARDIAN_PUBLIC_TYPE "shieldvm-guardian"
#define GUARDIAN_VERSION 1
#define GUARDIAN_METADATA_CTY "shieldvm-guardian+json"

static const struct {
	const char *name;
	const char *enc_alg;
	const char *sig_alg;
	enum jw_kty kty;
	unsigned bits;
} algs[] = {
	[GUARDIAN_EC_P256] = { "ec-p256", "ECDH-ES+A256KW", "ES256", JW_EC_P256, 256 },
	[GUARDIAN_EC_P384] = { "ec-p384", "ECDH-ES+A256KW", "ES384", JW_EC_P384, 384 },
	[GUARDIAN_RSA3072] = { "rsa3072", "RSA-OAEP-256", "PS256", JW_RSA, 3072 },
	[GUARDIAN_RSA4096] = { "rsa4096", "RSA-OAEP-256", "PS256", JW_RSA, 4096 },
};

int guardian_alg_from_string(const char *s, enum guardian_alg *ret)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(algs); i++)
		if (streq(s, algs[i].name)) {
			*ret = (enum guardian_alg)i;
			return 0;
		}
	return -EINVAL;
}

const char *guardian_alg_to_string(enum guardian_alg alg)
{
	return (unsigned)alg < ARRAY_SIZE(algs) ? algs[alg].name : "unknown";
}

void guardian_free(struct guardian *g)
{
	if (!g)
		return;
	jw_jwk_wipe_free(g->enc);
	jw_jwk_wipe_free(g->sig);
	EVP_PKEY_free(g->enc_key);
	EVP_PKEY_free(g->sig_key);
	OPENSSL_cleanse(g, sizeof(*g));
	free(g);
}

static int check_name(const char *name, size_t len, struct err *e)
{
	if (len == 0 || len > GUARDIAN_NAME_MAX)
		return err_set(e, EBADMSG, "guardian name must be 1..%d bytes (got %zu)",
			       GUARDIAN_NAME_MAX, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return err_set(e, EBADMSG,
				       "guardian name contains a control character (byte %zu)", i);
	}
	return 0;
}

/* Members a guardian JWK may have, in the order we write them. */
static const char *const ec_members[] = { "kty", "crv", "x", "y", "d",
					  "alg", "use", "kid" };
static const char *const rsa_members[] = { "kty", "n", "e", "d", "p", "q",
					   "dp", "dq", "qi", "alg", "use", "kid" };

/* A guardian JWK with exactly the members above, in that order. */
static json_t *canonical_jwk(const json_t *src, bool rsa, const char *alg,
			     const char *use, const char *kid)
{
	const char *const *m = rsa ? rsa_members : ec_members;
	size_t n = rsa ? ARRAY_SIZE(rsa_members) : ARRAY_SIZE(ec_members);
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_object_get(src, m[i]);

		if (streq(m[i], "alg") || streq(m[i], "use") || streq(m[i], "kid")) {
			const char *s = streq(m[i], "alg") ? alg :
					streq(m[i], "use") ? use : kid;

			if (json_object_set_new(o, m[i], json_string(s)) < 0)
				goto fail;
			continue;
		}
		if (v && json_object_set_new(o, m[i], json_deep_copy(v)) < 0)
			goto fail;
	}
	return o;
fail:
	jw_jwk_wipe_free(o);
	return NULL;
}

/*
 * One of a guardian's JWKs: the key fits alg (type, curve or exact modulus
 * size), "alg" and "use" are the ones this role needs, "kid" is the
 * thumbprint, nothing else is present, private exactly when priv.
 */
static int check_jwk(const json_t *jwk, enum guardian_alg alg, bool enc,
		     bool priv, char kid_out[JW_KID_MAX], EVP_PKEY **ret_pkey,
		     struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pk = NULL;
	const char *role = enc ? "encryption" : "signing";
	const char *want_alg = enc ? algs[alg].enc_alg : algs[alg].sig_alg;
	const char *want_use = enc ? "enc" : "sig";
	const char *a, *u, *k;
	char thp[JW_KID_MAX];
	enum jw_kty kty;
	bool rsa = algs[alg].kty == JW_RSA;
	int r;

	if (!json_is_object(jwk))
		return err_set(e, EBADMSG, "%s key is not a JSON object", role);
	if ((r = jw_only_members(jwk, rsa ? rsa_members : ec_members,
				 rsa ? ARRAY_SIZE(rsa_members) : ARRAY_SIZE(ec_members),
				 role, e)) < 0)
		return r;
	if ((r = jw_jwk_check(jwk, priv, algs[alg].bits, algs[alg].bits, &kty,
			      &pk, e)) < 0) {
		err_prefix(e, "%s key", role);
		return r;
	}
	if (kty != algs[alg].kty)
		return err_set(e, EBADMSG, "%s key does not fit algorithm %s", role,
			       algs[alg].name);
	if ((r = jw_str(jwk, "alg", role, &a, e)) < 0 ||
	    (r = jw_str(jwk, "use", role, &u, e)) < 0 ||
	    (r = jw_str(jwk, "kid", role, &k, e)) < 0)
		return r;
	if (!streq(a, want_alg))
		return err_set(e, EINVAL, "%s key alg \"%.32s\" not allowed for %s (%s)",
			       role, a, algs[alg].name, want_alg);
	if (!streq(u, want_use))
		return err_set(e, EBADMSG, "%s key use is \"%.8s\", expected \"%s\"",
			       role, u, want_use);
	if ((r = jw_thumbprint(jwk, thp, e)) < 0)
		return r;
	if (!streq(k, thp))
		return err_set(e, EBADMSG, "%s key kid \"%.64s\" is not its thumbprint %s",
			       role, k, thp);
	memcpy(kid_out, thp, sizeof(thp));
	*ret_pkey = TAKE_PTR(pk);
	return 0;
}

static int new_key(enum guardian_alg alg, bool enc, json_t **ret,
		   struct err *e)
{
	_cleanup_(jw_jwk_wipe_freep) json_t *tmpl = NULL;
	json_t *jwk;
	char kid[JW_KID_MAX];
	bool rsa = algs[alg].kty == JW_RSA;
	int r;

	if (rsa)
		tmpl = json_pack("{s:s, s:i}", "kty", "RSA", "bits", (int)algs[alg].bits);
	else
		tmpl = json_pack("{s:s, s:s}", "kty", "EC", "crv",
				 algs[alg].kty == JW_EC_P256 ? "P-256" : "P-384");
	if (!tmpl)
		return err_set(e, ENOMEM, "out of memory");
	if (!jose_jwk_gen(NULL, tmpl))
		return err_set(e, EIO, "cannot generate a %s key", algs[alg].name);
	if ((r = jw_thumbprint(tmpl, kid, e)) < 0)
		return r;
	jwk = canonical_jwk(tmpl, rsa, enc ? algs[alg].enc_alg : algs[alg].sig_alg,
			    enc ? "enc" : "sig", kid);
	if (!jwk)
		return err_set(e, ENOMEM, "out of memory");
	*ret = jwk;
	return 0;
}

int guardian_generate(const char *name, enum guardian_alg alg,
		      struct guardian **ret, struct err *e)
{
	_cleanup_(guardian_freep) struct guardian *g = NULL;
	EVP_PKEY *pk = NULL;
	char kid[JW_KID_MAX];
	int r;

	if (!name || !ret)
		return err_set(e, EINVAL, "guardian_generate: missing argument");
	if ((unsigned)alg >= ARRAY_SIZE(algs))
		return err_set(e, EINVAL, "unknown guardian algorithm");
	if ((r = check_name(name, strlen(name), e)) < 0)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(g->name, name, strlen(name) + 1);
	g->alg = alg;
	g->has_private = true;
	if ((r = new_key(alg, true, &g->enc, e)) < 0 ||
	    (r = new_key(alg, false, &g->sig, e)) < 0)
		return r;
	/* a self-check of what we just made, with the parser's rules */
	if ((r = check_jwk(g->enc, alg, true, true, kid, &pk, e)) < 0)
		return r;
	g->enc_key = TAKE_PTR(pk);
	memcpy(g->id, kid, sizeof(kid));
	if ((r = check_jwk(g->sig, alg, false, true, kid, &pk, e)) < 0)
		return r;
	g->sig_key = TAKE_PTR(pk);
	*ret = TAKE_PTR(g);
	return 0;
}

static const char *const private_members[] = {
	"type", "version", "name", "id", "algorithm", "encryption", "signing",
};

/* Common to the private and the public JSON: everything but the type. */
static int from_json(const json_t *o, const char *type, bool priv,
		     struct guardian **ret, struct err *e)
{
	_cleanup_(guardian_freep) struct guardian *g = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ek = NULL, *sk = NULL;
	const json_t *ver = json_object_get(o, "version");
	const char *t, *name, *id, *alg_s;
	char kid[JW_KID_MAX];
	enum guardian_alg alg;
	int r;

	if ((r = jw_only_members(o, private_members, ARRAY_SIZE(private_members),
				 "guardian", e)) < 0 ||
	    (r = jw_str(o, "type", "guardian", &t, e)) < 0)
		return r;
	if (!streq(t, type))
		return err_set(e, EBADMSG, "guardian type is \"%.64s\", expected \"%s\"",
			       t, type);
	if (!json_is_integer(ver) || json_integer_value(ver) != GUARDIAN_VERSION)
		return err_set(e, EBADMSG, "guardian version is not %d", GUARDIAN_VERSION);
	if ((r = jw_str(o, "name", "guardian", &name, e)) < 0 ||
	    (r = check_name(name, strlen(name), e)) < 0 ||
	    (r = jw_str(o, "id", "guardian", &id, e)) < 0 ||
	    (r = jw_str(o, "algorithm", "guardian", &alg_s, e)) < 0)
		return r;
	if (guardian_alg_from_string(alg_s, &alg) < 0)
		return err_set(e, EINVAL,
			       "guardian algorithm \"%.32s\" not allowed (ec-p256, ec-p384, rsa3072, rsa4096)",
			       alg_s);
	if ((r = check_jwk(json_object_get(o, "encryption"), alg, true, priv,
			   kid, &ek, e)) < 0)
		return r;
	if (!streq(id, kid))
		return err_set(e, EBADMSG,
			       "guardian id \"%.64s\" is not the encryption key's thumbprint %s",
			       id, kid);
	if ((r = check_jwk(json_object_get(o, "signing"), alg, false, priv, kid,
			   &sk, e)) < 0)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(g->name, name, strlen(name) + 1);
	memcpy(g->id, id, strlen(id) + 1);
	g->alg = alg;
	g->has_private = priv;
	g->enc_key = TAKE_PTR(ek);
	g->sig_key = TAKE_PTR(sk);
	g->enc = jw_jwk_copy(json_object_get(o, "encryption"));
	g->sig = jw_jwk_copy(json_object_get(o, "signing"));
	if (!g->enc || !g->sig)
		return err_set(e, ENOMEM, "out of memory");
	*ret = TAKE_PTR(g);
	return 0;
}

int guardian_from_private_json(const char *text, size_t len,
			       struct guardian **ret, struct err *e)
{
	json_t *o = NULL;
	int r;

	if (!text || !ret)
		return err_set(e, EINVAL, "guardian_from_private_json: missing argument");
	if (len > GUARDIAN_FILE_MAX)
		return err_set(e, E2BIG, "guardian file of %zu bytes (max %d)", len,
			       GUARDIAN_FILE_MAX);
	if ((r = jw_parse_object(text, len, "guardian file", &o, e)) < 0)
		return r;
	if (json_is_string(json_object_get(o, "type")) &&
	    streq(json_string_value(json_object_get(o, "type")), GUARDIAN_PUBLIC_TYPE))
		r = err_set(e, EBADMSG,
			    "this is public guardian metadata, not a private guardian file");
	else
		r = from_json(o, GUARDIAN_PRIVATE_TYPE, true, ret, e);
	jw_jwk_wipe(json_object_get(o, "encryption"));
	jw_jwk_wipe(json_object_get(o, "signing"));
	json_decref(o);
	return r;
}

static json_t *public_jwk(const json_t *jwk)
{
	json_t *p = json_deep_copy(jwk);
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi" };

	if (!p)
		return NULL;
	jw_jwk_wipe(p);
	for (size_t i = 0; i < ARRAY_SIZE(priv); i++)
		json_object_del(p, priv[i]);
	return p;
}

static json_t *to_json(const struct guardian *g, bool priv)
{
	json_t *enc = priv ? json_incref(g->enc) : public_jwk(g->enc);
	json_t *sig = priv ? json_incref(g->sig) : public_jwk(g->sig);

	if (!enc || !sig) {
		json_decref(enc);
		json_decref(sig);
		return NULL;
	}
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:o}", "type",
			 priv ? GUARDIAN_PRIVATE_TYPE : GUARDIAN_PUBLIC_TYPE,
			 "version", GUARDIAN_VERSION, "name", g->name, "id", g->id,
			 "algorithm", guardian_alg_to_string(g->alg),
			 "encryption", enc, "signing", sig);
}

int guardian_to_private_json(const struct guardian *g, char **ret_text,
			     struct err *e)
{
	json_t *o;
	char *s;

	if (!g || !ret_text)
		return err_set(e, EINVAL, "guardian_to_private_json: missing argument");
	if (!g->has_private)
		return err_set(e, EINVAL, "guardian %s has no private keys", g->id);
	o = to_json(g, true);
	if (!o)
		return err_set(e, ENOMEM, "out of memory");
	s = jw_dump(o);
	json_decref(o); /* the keys stay referenced by g: nothing to wipe */
	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	*ret_text = s;
	return 0;
}

json_t *guardian_public_json(const struct guardian *g)
{
	return g ? to_json(g, false) : NULL;
}

int guardian_from_public_json(const json_t *o, struct guardian **ret,
			      struct err *e)
{
	if (!ret)
		return err_set(e, EINVAL, "guardian_from_public_json: missing argument");
	return from_json(o, GUARDIAN_PUBLIC_TYPE, false, ret, e);
}

int guardian_public_copy(const struct guardian *g, struct guardian **ret,
			 struct err *e)
{
	_cleanup_(guardian_freep) struct guardian *c = NULL;
	EVP_PKEY *pk = NULL;
	char kid[JW_KID_MAX];
	int r;

	if (!g || !ret)
		return err_set(e, EINVAL, "guardian_public_copy: missing argument");
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(c->name, g->name, sizeof(c->name));
	memcpy(c->id, g->id, sizeof(c->id));
	c->alg = g->alg;
	c->enc = public_jwk(g->enc);
	c->sig = public_jwk(g->sig);
	if (!c->enc || !c->sig)
		return err_set(e, ENOMEM, "out of memory");
	if ((r = check_jwk(c->enc, c->alg, true, false, kid, &pk, e)) < 0)
		return r;
	c->enc_key = pk;
	if ((r = check_jwk(c->sig, c->alg, false, false, kid, &pk, e)) < 0)
		return r;
	c->sig_key = pk;
	*ret = TAKE_PTR(c);
	return 0;
}

int guardian_metadata(const struct guardian *g, char **ret_text,
		      struct err *e)
{
	_cleanup_(json_decrefp) json_t *pub = NULL, *jws = NULL;
	_cleanup_free_ char *payload = NULL;
	char *s;
	int r;

	if (!g || !ret_text)
		return err_set(e, EINVAL, "guardian_metadata: missing argument");
	if (!g->has_private)
		return err_set(e, EINVAL,
			       "guardian %s: metadata needs the private signing key", g->id);
	pub = guardian_public_json(g);
	if (!pub || !(payload = jw_dump(pub)))
		return err_set(e, ENOMEM, "out of memory");
	if ((r = jw_jws_sign(g->sig_key, algs[g->alg].sig_alg,
			     json_string_value(json_object_get(g->sig, "kid")),
			     GUARDIAN_METADATA_CTY, payload, strlen(payload), &jws,
			     e)) < 0)
		return r;
	s = jw_dump(jws);
	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	*ret_text = s;
	return 0;
}

int guardian_from_metadata(const char *text, size_t len,
			   struct guardian **ret, struct err *e)
{
	_cleanup_(json_decrefp) json_t *jws = NULL, *hdr = NULL, *payload = NULL;
	_cleanup_(guardian_freep) struct guardian *g = NULL;
	const char *kid;
	int r;

	if (!text || !ret)
		return err_set(e, EINVAL, "guardian_from_metadata: missing argument");
	if (len > GUARDIAN_FILE_MAX)
		return err_set(e, E2BIG, "guardian metadata of %zu bytes (max %d)", len,
			       GUARDIAN_FILE_MAX);
	if ((r = jw_parse_object(text, len, "guardian metadata", &jws, e)) < 0)
		return r;
	if (json_object_get(jws, "type")) {
		const char *t = json_string_value(json_object_get(jws, "type"));

		return err_set(e, EBADMSG,
			       "guardian metadata must be the signed JWS, not a \"%.40s\" object%s",
			       t ? t : "typed",
			       t && streq(t, GUARDIAN_PRIVATE_TYPE) ?
				       " (this is a PRIVATE guardian file: export it first)" : "");
	}
	if ((r = jw_jws_open(jws, GUARDIAN_METADATA_CTY, GUARDIAN_FILE_MAX, &hdr,
			     &payload, e)) < 0) {
		err_prefix(e, "guardian metadata");
		return r;
	}
	if ((r = guardian_from_public_json(payload, &g, e)) < 0) {
		err_prefix(e, "guardian metadata");
		return r;
	}
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (!streq(kid, json_string_value(json_object_get(g->sig, "kid"))))
		return err_set(e, EKEYREJECTED,
			       "guardian metadata is signed by kid \"%.64s\", not by the guardian's own signing key",
			       kid);
	if ((r = jw_jws_verify(jws, g->sig_key, algs[g->alg].sig_alg, e)) < 0) {
		err_prefix(e, "guardian metadata");
		return r;
	}
	*ret = TAKE_PTR(g);
	return 0;
}
