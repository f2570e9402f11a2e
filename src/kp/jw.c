/* SPDX-License-Identifier: Apache-2.0 */
/* JOSE building blocks on OpenSSL EVP (see jw.h for what and why). */
#include "kp/jw.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <jose/jose.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/b64.h"

DEFINE_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_KDF_CTX, EVP_KDF_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_KDF, EVP_KDF_free)
DEFINE_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)

#define JW_DER_SIG_MAX 128 /* DER ECDSA-Sig-Value, P-384 */
#define JW_KDF_INFO_MAX (4 + 32 + 2 * (4 + JW_PARTY_INFO_MAX) + 4)

/* ---- base64url ---- */

size_t jw_b64_len(size_t n)
{
	return b64url_encoded_len(n);
}

void jw_b64_encode_to(const void *in, size_t n, char *out)
{
	b64url_encode(in, n, out);
}

char *jw_b64_encode(const void *in, size_t n)
{
	char *s = malloc(jw_b64_len(n) + 1);

	if (s)
		jw_b64_encode_to(in, n, s);
	return s;
}

json_t *jw_b64_json(const void *in, size_t n)
{
	char *s = jw_b64_encode(in, n);
	json_t *j;

	if (!s)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

int jw_b64_decode(const char *in, size_t len, uint8_t *out, size_t max,
		  size_t *ret_len)
{
	int r = b64url_decode(in, len, out, max, ret_len);

	return r == -E2BIG ? -E2BIG : r < 0 ? -EBADMSG : 0;
}

int jw_b64_decode_alloc(const char *in, size_t len, size_t max, uint8_t **ret,
			size_t *ret_len)
{
	size_t n = b64url_decoded_len(len);
	uint8_t *buf;
	int r;

	if (n > max)
		return -E2BIG;
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	r = jw_b64_decode(in, len, buf, n, ret_len);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

/* ---- JSON ---- */

int jw_only_members(const json_t *o, const char *const *names, size_t n,
		    const char *what, struct err *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return err_set(e, EBADMSG, "%s is not a JSON object", what);
	json_object_foreach((json_t *)o, k, v) {
		bool ok = false;

		for (size_t i = 0; i < n && !ok; i++)
			ok = streq(k, names[i]);
		if (!ok)
			return err_set(e, EBADMSG, "%s has an unknown member \"%.64s\"",
				       what, k);
	}
	return 0;
}

int jw_str(const json_t *o, const char *name, const char *what,
	   const char **ret, struct err *e)
{
	const json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || json_string_length(v) == 0)
		return err_set(e, EBADMSG, "%s: \"%s\" missing or not a non-empty string",
			       what, name);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return err_set(e, EBADMSG, "%s: \"%s\" contains a NUL character",
			       what, name);
	*ret = json_string_value(v);
	return 0;
}

static size_t json_depth(const json_t *j)
{
	size_t d = 0, c;
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
			if ((c = json_depth(v)) > d)
				d = c;
		return d + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((c = json_depth(v)) > d)
				d = c;
		return d + 1;
	}
	return 0;
}

int jw_parse_object(const char *text, size_t len, const char *what,
		    json_t **ret, struct err *e)
{
	json_error_t je;
	json_t *j;
	int r;

	/* jansson parses recursively with its own depth limit (2048);
	 * ours is much lower and checked right after. */
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return err_set(e, EBADMSG, "%s is not JSON: %s (at %d)", what,
			       je.text, je.position);
	if ((r = jw_check_object(j, what, e)) < 0) {
		json_decref(j);
		return r;
	}
	*ret = j;
	return 0;
}

/* Length of a string as json_dumpb writes it, quotes included (jansson
 * escapes '"', '\\' and control characters, and nothing else without
 * JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH). */
static size_t dumped_string_len(const char *s, size_t n)
{
	size_t len = n + 2;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' ||
		    c == '\n' || c == '\r' || c == '\t')
			len += 1;
		else if (c < 0x20)
			len += 5; /* \u00XX */
	}
	return len;
}

size_t jw_compact_size(const json_t *j)
{
	char buf[32];
	const char *k;
	json_t *v;
	size_t n = 0, i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)j, k, v)
			n += (n ? 1 : 0) + dumped_string_len(k, strlen(k)) + 1 +
			     jw_compact_size(v);
		return n + 2;
	case JSON_ARRAY:
		json_array_foreach(j, i, v)
			n += (i ? 1 : 0) + jw_compact_size(v);
		return n + 2;
	case JSON_STRING:
		return dumped_string_len(json_string_value(j),
					 json_string_length(j));
	case JSON_INTEGER:
		return (size_t)snprintf(buf, sizeof(buf),
					"%" JSON_INTEGER_FORMAT,
					json_integer_value(j));
	case JSON_TRUE:
	case JSON_NULL:
		return 4;
	case JSON_FALSE:
		return 5;
	default: /* reals: however jansson writes them */
		return json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

int jw_check_object(const json_t *j, const char *what, struct err *e)
{
	if (!json_is_object(j))
		return err_set(e, EBADMSG, "%s is not a JSON object", what);
	if (json_depth(j) > JW_JSON_MAX_DEPTH)
		return err_set(e, EBADMSG, "%s nests deeper than %d levels",
			       what, JW_JSON_MAX_DEPTH);
	return 0;
}

char *jw_dump(const json_t *o)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	size_t n = json_dumpb(o, NULL, 0, flags);
	char *s;

	if (n == 0)
		return NULL;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	if (json_dumpb(o, s, n, flags) != n) {
		OPENSSL_cleanse(s, n);
		free(s);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

/* ---- JWKs ---- */

static const char *const ec_private[] = { "d" };
static const char *const rsa_private[] = { "d", "p", "q", "dp", "dq", "qi" };
static const char *const all_private[] = { "d", "p", "q", "dp", "dq", "qi",
					   "oth", "k" };

bool jw_jwk_has_private(const json_t *jwk)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_private); i++)
		if (json_object_get(jwk, all_private[i]))
			return true;
	return false;
}

static int jwk_b64(const json_t *jwk, const char *name, uint8_t *out,
		   size_t max, size_t *ret_len, struct err *e)
{
	const json_t *v = json_object_get(jwk, name);
	int r;

	if (!json_is_string(v))
		return err_set(e, EBADMSG, "JWK member \"%s\" missing or not a string",
			       name);
	r = jw_b64_decode(json_string_value(v), json_string_length(v), out, max,
			  ret_len);
	if (r < 0)
		return err_set(e, EBADMSG, "JWK member \"%s\": %s", name,
			       r == -E2BIG ? "too long" : "not base64url");
	return 0;
}

static size_t be_bits(const uint8_t *p, size_t n)
{
	size_t i = 0, bits;

	while (i < n && p[i] == 0)
		i++;
	if (i == n)
		return 0;
	bits = (n - i) * 8;
	for (uint8_t top = p[i]; !(top & 0x80); top <<= 1)
		bits--;
	return bits;
}

static int ec_coord(const char *crv, size_t *coord, enum jw_kty *kty)
{
	if (crv && streq(crv, "P-256")) {
		*coord = 32;
		*kty = JW_EC_P256;
		return 0;
	}
	if (crv && streq(crv, "P-384")) {
		*coord = 48;
		*kty = JW_EC_P384;
		return 0;
	}
	return -1;
}

static const char *group_name(size_t coord)
{
	return coord == 32 ? "P-256" : "P-384";
}

/*
 * An EVP_PKEY made with EVP_PKEY_fromdata builds its curve from the name
 * (an EC_GROUP with its Montgomery context, a modular inversion), which
 * costs about as much as the ECDH it is then used for. A copy of a
 * parameters-only key per curve, made once, already holds the curve; the
 * point then goes in with EVP_PKEY_set1_encoded_public_key, which decodes
 * it with the same EC_POINT_oct2point and refuses a point off the curve
 * just as EVP_PKEY_fromdata does.
 */
static EVP_PKEY *ec_params[2]; /* P-256, P-384 */
static pthread_once_t ec_params_once = PTHREAD_ONCE_INIT;

static void ec_params_make(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(ec_params); i++) {
		_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
		char group[8];
		OSSL_PARAM params[2];

		snprintf(group, sizeof(group), "%s",
			 group_name(i == 0 ? 32 : 48));
		params[0] =
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							 group, 0);
		params[1] = OSSL_PARAM_construct_end();
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &ec_params[i],
				      EVP_PKEY_KEY_PARAMETERS, params) != 1)
			ec_params[i] = NULL; /* jw_ec_pub builds each key itself
					      */
	}
	ERR_clear_error();
}

int jw_ec_pub(const uint8_t *point, size_t len, EVP_PKEY **ret, struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	uint8_t buf[JW_EC_POINT_MAX];
	char group[8];
	EVP_PKEY *pkey = NULL, *tmpl;
	OSSL_PARAM params[3];

	if ((len != 65 && len != 97) || point[0] != 0x04)
		return err_set(
			e, EBADMSG,
			"EC point of %zu bytes is not an uncompressed P-256/P-384 point",
			len);
	snprintf(group, sizeof(group), "%s", group_name((len - 1) / 2));
	pthread_once(&ec_params_once, ec_params_make);
	tmpl = ec_params[len == 65 ? 0 : 1];
	if (tmpl) {
		pkey = EVP_PKEY_dup(tmpl);
		if (!pkey ||
		    EVP_PKEY_set1_encoded_public_key(pkey, point, len) != 1) {
			EVP_PKEY_free(pkey);
			ERR_clear_error();
			return err_set(e, EBADMSG, "not a point on %s", group);
		}
		*ret = pkey;
		return 0;
	}
	memcpy(buf, point, len);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      buf, len);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ERR_clear_error();
		return err_set(e, EBADMSG, "not a point on %s", group);
	}
	*ret = pkey;
	return 0;
}

/*
 * Public keys from JWKs, cached by their point: building an EVP_PKEY
 * builds its curve (Montgomery contexts, a modular inversion), which costs
 * about as much as a signature check, and hgsd sees the same few owner and
 * guardian keys in KP after KP, and the transport keys of the hosts it
 * seals to. Public data only; a round-robin
 * table under a lock (the same approach as attest/token.c). Ephemeral
 * keys (epk) do not go through it.
 */
#define JW_KEY_CACHE_SIZE 256

static struct {
	uint8_t point[JW_EC_POINT_MAX];
	size_t len;
	EVP_PKEY *pkey;
} key_cache[JW_KEY_CACHE_SIZE];
static unsigned key_cache_next;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int ec_pub_cached(const uint8_t *point, size_t len, EVP_PKEY **ret,
			 struct err *e)
{
	EVP_PKEY *pkey = NULL, *old = NULL;
	unsigned slot;
	int r;

	pthread_mutex_lock(&key_cache_lock);
	for (unsigned i = 0; i < JW_KEY_CACHE_SIZE; i++)
		if (key_cache[i].pkey && key_cache[i].len == len &&
		    memcmp(key_cache[i].point, point, len) == 0 &&
		    EVP_PKEY_up_ref(key_cache[i].pkey) == 1) {
			pkey = key_cache[i].pkey;
			break;
		}
	pthread_mutex_unlock(&key_cache_lock);
	if (pkey) {
		*ret = pkey;
		return 0;
	}
	if ((r = jw_ec_pub(point, len, &pkey, e)) < 0)
		return r;
	if (EVP_PKEY_up_ref(pkey) == 1) { /* the cache's reference */
		pthread_mutex_lock(&key_cache_lock);
		slot = key_cache_next++ % JW_KEY_CACHE_SIZE;
		old = key_cache[slot].pkey;
		memcpy(key_cache[slot].point, point, len);
		key_cache[slot].len = len;
		key_cache[slot].pkey = pkey;
		pthread_mutex_unlock(&key_cache_lock);
		EVP_PKEY_free(old);
	}
	*ret = pkey;
	return 0;
}

static int jwk_check(const json_t *jwk, bool priv, unsigned min_bits,
		     unsigned max_bits, enum jw_kty *ret_kty, EVP_PKEY **ret_pub,
		     struct err *e)
{
	const char *kty;
	size_t len;
	int r;

	if (!json_is_object(jwk))
		return err_set(e, EBADMSG, "JWK is not an object");
	if ((r = jw_str(jwk, "kty", "JWK", &kty, e)) < 0)
		return r;
	if (streq(kty, "EC")) {
		uint8_t point[JW_EC_POINT_MAX], d[JW_EC_MAX_COORD];
		const char *crv = json_string_value(json_object_get(jwk, "crv"));
		_cleanup_(EVP_PKEY_freep) EVP_PKEY *pk = NULL;
		enum jw_kty t;
		size_t coord;

		if (ec_coord(crv, &coord, &t) < 0)
			return err_set(e, EBADMSG, "JWK curve \"%.16s\" not allowed (P-256, P-384)",
				       crv ? crv : "(missing)");
		for (size_t i = 0; i < ARRAY_SIZE(rsa_private); i++)
			if (!streq(rsa_private[i], "d") &&
			    json_object_get(jwk, rsa_private[i]))
				return err_set(e, EBADMSG, "EC JWK has RSA member \"%s\"",
					       rsa_private[i]);
		point[0] = 0x04;
		if ((r = jwk_b64(jwk, "x", point + 1, coord, &len, e)) < 0)
			return r;
		if (len != coord)
			return err_set(e, EBADMSG, "JWK x is %zu bytes, %s needs %zu",
				       len, crv, coord);
		if ((r = jwk_b64(jwk, "y", point + 1 + coord, coord, &len, e)) < 0)
			return r;
		if (len != coord)
			return err_set(e, EBADMSG, "JWK y is %zu bytes, %s needs %zu",
				       len, crv, coord);
		if ((r = (priv ? jw_ec_pub : ec_pub_cached)(point, 1 + 2 * coord,
							     &pk, e)) < 0)
			return r;
		if (ret_pub && !priv)
			*ret_pub = TAKE_PTR(pk);
		if (priv) {
			r = jwk_b64(jwk, "d", d, sizeof(d), &len, e);
			OPENSSL_cleanse(d, sizeof(d));
			if (r < 0)
				return err_set(e, EBADMSG, "EC JWK is not private (no valid \"d\")");
			if (len != coord)
				return err_set(e, EBADMSG, "JWK d is %zu bytes, %s needs %zu",
					       len, crv, coord);
		} else if (json_object_get(jwk, ec_private[0])) {
			return err_set(e, EBADMSG, "JWK holds a private key where a public one is expected");
		}
		*ret_kty = t;
		return 0;
	}
	if (streq(kty, "RSA")) {
		uint8_t n[JW_RSA_MAX_BYTES + 1];
		size_t bits;

		if (json_object_get(jwk, "crv") || json_object_get(jwk, "x") ||
		    json_object_get(jwk, "y"))
			return err_set(e, EBADMSG, "RSA JWK has EC members");
		if ((r = jwk_b64(jwk, "n", n, sizeof(n), &len, e)) < 0)
			return r;
		bits = be_bits(n, len);
		if (bits < min_bits || bits > max_bits || len != (bits + 7) / 8)
			return err_set(e, EBADMSG,
				       "RSA modulus of %zu bits (allowed %u..%u, no leading zeros)",
				       bits, min_bits, max_bits);
		if (!(n[len - 1] & 1))
			return err_set(e, EBADMSG, "RSA modulus is even");
		if ((r = jwk_b64(jwk, "e", n, 8, &len, e)) < 0)
			return r;
		if (len == 0 || n[0] == 0 || be_bits(n, len) < 2 ||
		    !(n[len - 1] & 1))
			return err_set(e, EBADMSG, "bad RSA exponent");
		if (json_object_get(jwk, "oth"))
			return err_set(e, EBADMSG, "multi-prime RSA (\"oth\") not supported");
		for (size_t i = 0; i < ARRAY_SIZE(rsa_private); i++) {
			const json_t *v = json_object_get(jwk, rsa_private[i]);

			if (!priv && v)
				return err_set(e, EBADMSG, "JWK holds a private key where a public one is expected");
			if (!priv)
				continue;
			if (!json_is_string(v))
				return err_set(e, EBADMSG, "RSA JWK is not private (no \"%s\")",
					       rsa_private[i]);
			/* strict base64url of at most the modulus size: libjose
			 * is never handed a member it would choke on (it leaks
			 * on some of those paths) */
			r = jwk_b64(jwk, rsa_private[i], n, sizeof(n), &len, e);
			OPENSSL_cleanse(n, sizeof(n));
			if (r < 0)
				return r;
			if (len == 0)
				return err_set(e, EBADMSG, "RSA JWK member \"%s\" is empty",
					       rsa_private[i]);
		}
		*ret_kty = JW_RSA;
		return 0;
	}
	return err_set(e, EBADMSG, "JWK key type \"%.16s\" not allowed (EC, RSA)", kty);
}

int jw_jwk_check(const json_t *jwk, bool priv, unsigned min_bits,
		 unsigned max_bits, enum jw_kty *ret_kty, EVP_PKEY **ret_pkey,
		 struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pk = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = NULL;
	int r;

	if ((r = jwk_check(jwk, priv, min_bits, max_bits, ret_kty,
			   ret_pkey ? &pk : NULL, e)) < 0)
		return r;
	if (!ret_pkey && !priv)
		return 0;
	/* EC public keys came out of the point check; build the others */
	if (!pk && (r = jw_jwk_to_pkey(jwk, &pk, e)) < 0)
		return r;
	if (priv) {
		c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (!c || EVP_PKEY_pairwise_check(c) != 1) {
			ERR_clear_error();
			return err_set(e, EBADMSG,
				       "JWK private and public members do not belong together");
		}
	}
	if (ret_pkey)
		*ret_pkey = TAKE_PTR(pk);
	return 0;
}

/* A member fit for the thumbprint's fast path: a string of base64url
 * characters (or a plain curve name), which JSON writes as it is. */
static const char *thp_member(const json_t *jwk, const char *name)
{
	const json_t *v = json_object_get(jwk, name);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (!s || n == 0 || n > 2 * JW_RSA_MAX_BYTES || strlen(s) != n)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return NULL;
	return s;
}

/*
 * RFC 7638 thumbprint: SHA-256 of the required members in lexicographic
 * order, compact. For EC P-256/P-384 and RSA keys whose members are plain
 * base64url (every key jw_jwk_check accepts) the JSON is written here
 * directly, which is byte for byte what libjose writes (json_dumps with
 * JSON_SORT_KEYS | JSON_COMPACT of the same members: no character of
 * these needs escaping); anything else goes to jose_jwk_thp_buf as before.
 */
int jw_thumbprint(const json_t *jwk, char out[JW_KID_MAX], struct err *e)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = NULL, *a = NULL, *b = NULL;
	_cleanup_free_ char *buf = NULL;
	uint8_t thp[32];
	unsigned int len = 0;
	int n = -1;

	if (kty && streq(kty, "EC")) {
		crv = json_string_value(json_object_get(jwk, "crv"));
		if (crv && (streq(crv, "P-256") || streq(crv, "P-384"))) {
			a = thp_member(jwk, "x");
			b = thp_member(jwk, "y");
		}
	} else if (kty && streq(kty, "RSA")) {
		a = thp_member(jwk, "e");
		b = thp_member(jwk, "n");
	}
	if (a && b) {
		size_t max = strlen(a) + strlen(b) + 64;

		buf = malloc(max);
		if (!buf)
			return err_set(e, ENOMEM, "out of memory");
		n = crv ? snprintf(buf, max,
				   "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
				   crv, a, b) :
			  snprintf(buf, max,
				   "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
				   a, b);
	}
	if (n > 0 && (size_t)n < strlen(a) + strlen(b) + 64) {
		if (EVP_Digest(buf, (size_t)n, thp, &len, EVP_sha256(), NULL) !=
			    1 ||
		    len != sizeof(thp)) {
			ERR_clear_error();
			return err_set(e, EIO, "SHA-256 failed");
		}
	} else if (jose_jwk_thp_buf(NULL, jwk, "S256", thp, sizeof(thp)) !=
		   sizeof(thp)) {
		return err_set(e, EBADMSG, "JWK lacks the members RFC 7638 needs");
	}
	jw_b64_encode_to(thp, sizeof(thp), out);
	return 0;
}

/* A base64url member as a BIGNUM (secret members are wiped from the
 * scratch buffer; the caller BN_clear_free's the result). */
static int jwk_bn(const json_t *jwk, const char *name, BIGNUM **ret,
		  struct err *e)
{
	uint8_t buf[JW_RSA_MAX_BYTES + 1];
	size_t len;
	int r;

	r = jwk_b64(jwk, name, buf, sizeof(buf), &len, e);
	if (r == 0 && !(*ret = BN_bin2bn(buf, (int)len, NULL)))
		r = err_set(e, ENOMEM, "out of memory");
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

static const struct {
	const char *jwk;
	const char *param;
} rsa_params[] = {
	{ "n", OSSL_PKEY_PARAM_RSA_N },
	{ "e", OSSL_PKEY_PARAM_RSA_E },
	{ "d", OSSL_PKEY_PARAM_RSA_D },
	{ "p", OSSL_PKEY_PARAM_RSA_FACTOR1 },
	{ "q", OSSL_PKEY_PARAM_RSA_FACTOR2 },
	{ "dp", OSSL_PKEY_PARAM_RSA_EXPONENT1 },
	{ "dq", OSSL_PKEY_PARAM_RSA_EXPONENT2 },
	{ "qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
};

DEFINE_CLEANUP_FUNC(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
DEFINE_CLEANUP_FUNC(OSSL_PARAM, OSSL_PARAM_free)

/*
 * JWK -> EVP_PKEY with OSSL_PARAM (EVP_PKEY_fromdata), for a JWK that
 * jw_jwk_check accepted. Not libjose's converter: it goes through the
 * legacy EC_KEY/RSA objects, builds a curve per call and leaks on some
 * malformed inputs (found by fuzzing).
 */
int jw_jwk_to_pkey(const json_t *jwk, EVP_PKEY **ret, struct err *e)
{
	_cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	_cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn[ARRAY_SIZE(rsa_params)] = { NULL };
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	bool priv = jw_jwk_has_private(jwk), rsa;
	uint8_t point[JW_EC_POINT_MAX];
	EVP_PKEY *pkey = NULL;
	enum jw_kty t;
	size_t coord, len, n = 0;
	int r = 0;

	if (!bld)
		return err_set(e, ENOMEM, "out of memory");
	rsa = kty && streq(kty, "RSA");
	if (rsa) {
		for (; n < ARRAY_SIZE(rsa_params) && (priv || n < 2); n++)
			if ((r = jwk_bn(jwk, rsa_params[n].jwk, &bn[n], e)) < 0 ||
			    !OSSL_PARAM_BLD_push_BN(bld, rsa_params[n].param, bn[n])) {
				r = r < 0 ? r : err_set(e, ENOMEM, "out of memory");
				goto out;
			}
	} else if (kty && streq(kty, "EC") &&
		   ec_coord(json_string_value(json_object_get(jwk, "crv")), &coord,
			    &t) == 0) {
		point[0] = 0x04;
		if ((r = jwk_b64(jwk, "x", point + 1, coord, &len, e)) < 0 ||
		    len != coord ||
		    (r = jwk_b64(jwk, "y", point + 1 + coord, coord, &len, e)) < 0 ||
		    len != coord) {
			r = r < 0 ? r : err_set(e, EBADMSG, "JWK x/y has the wrong size");
			goto out;
		}
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						     group_name(coord), 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
						      point, 1 + 2 * coord)) {
			r = err_set(e, ENOMEM, "out of memory");
			goto out;
		}
		if (priv) {
			if ((r = jwk_bn(jwk, "d", &bn[0], e)) < 0)
				goto out;
			n = 1;
			if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn[0])) {
				r = err_set(e, ENOMEM, "out of memory");
				goto out;
			}
		}
	} else {
		r = err_set(e, EBADMSG, "JWK is not an EC P-256/P-384 or RSA key");
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) != 1) {
		ERR_clear_error();
		r = err_set(e, EBADMSG, "JWK is not a usable key");
		goto out;
	}
	*ret = pkey;
out:
	for (size_t i = 0; i < n; i++)
		BN_clear_free(bn[i]);
	/* params holds copies of the private numbers (OpenSSL 3.0 has no
	 * OSSL_PARAM_clear_free) */
	for (OSSL_PARAM *p = params; p && p->key; p++)
		if (p->data)
			OPENSSL_cleanse(p->data, p->data_size);
	return r;
}

void jw_jwk_wipe(json_t *jwk)
{
	if (json_is_object(jwk))
		for (size_t i = 0; i < ARRAY_SIZE(all_private); i++) {
			json_t *v = json_object_get(jwk, all_private[i]);

			if (json_is_string(v))
				/* jansson's own buffer: wipe it before it is
				 * freed (json_string_value is const only to
				 * keep callers from editing by accident) */
				OPENSSL_cleanse((char *)json_string_value(v),
						json_string_length(v));
		}
}

void jw_jwk_wipe_free(json_t *jwk)
{
	if (!jwk)
		return;
	if (jwk->refcount == 1)
		jw_jwk_wipe(jwk);
	json_decref(jwk);
}

json_t *jw_jwk_copy(const json_t *jwk)
{
	return json_deep_copy(jwk);
}

/* ---- JWS ---- */

struct jws_alg {
	const char *name;
	const char *md;
	enum jw_kty kty;
	size_t coord; /* EC: field element bytes; 0 for RSA */
};

static const struct jws_alg jws_algs[] = {
	{ "ES256", "SHA256", JW_EC_P256, 32 },
	{ "ES384", "SHA384", JW_EC_P384, 48 },
	{ "PS256", "SHA256", JW_RSA, 0 },
};

static const struct jws_alg *jws_alg_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(jws_algs); i++)
		if (streq(name, jws_algs[i].name))
			return &jws_algs[i];
	return NULL;
}

static int pss_params(EVP_PKEY_CTX *pctx)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
}

static int jws_sign_raw(EVP_PKEY *pkey, const struct jws_alg *a,
			const char *in, size_t n, uint8_t *out, size_t max,
			size_t *ret_len, struct err *e)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = EVP_MD_CTX_new();
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t der[JW_DER_SIG_MAX];
	size_t len = 0;
	const unsigned char *p = der;
	const BIGNUM *r, *s;

	if (!m || EVP_DigestSignInit_ex(m, &pctx, a->md, NULL, NULL, pkey,
					NULL) != 1 ||
	    (a->kty == JW_RSA && !pss_params(pctx)))
		goto fail;
	if (a->kty == JW_RSA) {
		if (EVP_DigestSign(m, NULL, &len, (const uint8_t *)in, n) != 1 ||
		    len > max ||
		    EVP_DigestSign(m, out, &len, (const uint8_t *)in, n) != 1)
			goto fail;
		*ret_len = len;
		return 0;
	}
	len = sizeof(der);
	if (EVP_DigestSign(m, der, &len, (const uint8_t *)in, n) != 1 ||
	    !(sig = d2i_ECDSA_SIG(NULL, &p, (long)len)))
		goto fail;
	ECDSA_SIG_get0(sig, &r, &s);
	if (2 * a->coord > max ||
	    BN_bn2binpad(r, out, (int)a->coord) != (int)a->coord ||
	    BN_bn2binpad(s, out + a->coord, (int)a->coord) != (int)a->coord)
		goto fail;
	*ret_len = 2 * a->coord;
	return 0;
fail:
	ERR_clear_error();
	return err_set(e, EIO, "%s signature failed", a->name);
}

int jw_jws_sign(EVP_PKEY *pkey, const char *alg, const char *kid,
		const char *cty, const char *payload, size_t len, json_t **ret,
		struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *jws = NULL;
	_cleanup_free_ char *hdr_s = NULL, *input = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	const struct jws_alg *a;
	size_t hl, pl, sig_len = 0;
	int r;

	a = jws_alg_find(alg);
	if (!a || !pkey)
		return err_set(e, EINVAL, "signing alg \"%.32s\" not allowed (ES256, ES384, PS256)",
			       alg ? alg : "(none)");
	hdr = json_pack("{s:s, s:s, s:s}", "alg", a->name, "kid", kid, "cty", cty);
	if (!hdr || !(hdr_s = jw_dump(hdr)))
		return err_set(e, ENOMEM, "out of memory");
	hl = jw_b64_len(strlen(hdr_s));
	pl = jw_b64_len(len);
	input = malloc(hl + 1 + pl + 1);
	sig = malloc(JW_SIG_MAX);
	if (!input || !sig)
		return err_set(e, ENOMEM, "out of memory");
	jw_b64_encode_to(hdr_s, strlen(hdr_s), input);
	input[hl] = '.';
	jw_b64_encode_to(payload, len, input + hl + 1);
	if ((r = jws_sign_raw(pkey, a, input, hl + 1 + pl, sig, JW_SIG_MAX,
			      &sig_len, e)) < 0)
		return r;
	input[hl] = '\0';
	jws = json_object();
	if (!jws ||
	    json_object_set_new(jws, "protected", json_string(input)) < 0 ||
	    json_object_set_new(jws, "payload", json_string(input + hl + 1)) < 0 ||
	    json_object_set_new(jws, "signature", jw_b64_json(sig, sig_len)) < 0)
		return err_set(e, ENOMEM, "out of memory");
	*ret = TAKE_PTR(jws);
	return 0;
}

static const char *const jws_members[] = { "protected", "payload", "signature" };
static const char *const jws_hdr_members[] = { "alg", "kid", "cty" };

int jw_jws_open(const json_t *jws, const char *cty, size_t max_payload,
		json_t **ret_hdr, json_t **ret_payload, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *payload = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	const char *s, *alg, *kid, *c;
	size_t len;
	int r;

	if ((r = jw_only_members(jws, jws_members, ARRAY_SIZE(jws_members),
				 "JWS", e)) < 0)
		return r;
	if ((r = jw_str(jws, "protected", "JWS", &s, e)) < 0)
		return r;
	r = jw_b64_decode_alloc(s, strlen(s), JW_HEADER_MAX, &buf, &len);
	if (r < 0)
		return err_set(e, r == -E2BIG ? E2BIG : EBADMSG,
			       "JWS protected header: %s",
			       r == -E2BIG ? "too large" : "not base64url");
	if ((r = jw_parse_object((const char *)buf, len, "JWS protected header",
				 &hdr, e)) < 0 ||
	    (r = jw_only_members(hdr, jws_hdr_members,
				 ARRAY_SIZE(jws_hdr_members),
				 "JWS protected header", e)) < 0 ||
	    (r = jw_str(hdr, "alg", "JWS protected header", &alg, e)) < 0 ||
	    (r = jw_str(hdr, "kid", "JWS protected header", &kid, e)) < 0 ||
	    (r = jw_str(hdr, "cty", "JWS protected header", &c, e)) < 0)
		return r;
	if (!jws_alg_find(alg))
		return err_set(e, EINVAL, "JWS alg \"%.32s\" not allowed (ES256, ES384, PS256)",
			       alg);
	if (strlen(kid) >= JW_KID_MAX)
		return err_set(e, EBADMSG, "JWS kid is too long");
	if (!streq(c, cty))
		return err_set(e, EBADMSG, "JWS cty is \"%.64s\", expected \"%s\"", c,
			       cty);
	free(TAKE_PTR(buf));
	if ((r = jw_str(jws, "payload", "JWS", &s, e)) < 0)
		return r;
	r = jw_b64_decode_alloc(s, strlen(s), max_payload, &buf, &len);
	if (r < 0)
		return err_set(e, r == -E2BIG ? E2BIG : EBADMSG, "JWS payload: %s",
			       r == -E2BIG ? "too large" : "not base64url");
	if ((r = jw_parse_object((const char *)buf, len, "JWS payload",
				 &payload, e)) < 0)
		return r;
	if ((r = jw_str(jws, "signature", "JWS", &s, e)) < 0)
		return r;
	*ret_hdr = TAKE_PTR(hdr);
	*ret_payload = TAKE_PTR(payload);
	return 0;
}

int jw_jws_verify(const json_t *jws, EVP_PKEY *pkey, const char *key_alg,
		  struct err *e)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = NULL;
	_cleanup_(json_decrefp) json_t *hdr = NULL;
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
	_cleanup_free_ uint8_t *raw = NULL, *hbuf = NULL;
	_cleanup_free_ char *input = NULL;
	const char *prot, *payload, *sig_s, *alg;
	const struct jws_alg *a;
	uint8_t der[JW_DER_SIG_MAX], *dp = der;
	EVP_PKEY_CTX *pctx = NULL;
	const uint8_t *sig_p;
	size_t raw_len, hlen, plen, sig_len;
	int r, der_len;

	if ((r = jw_str(jws, "protected", "JWS", &prot, e)) < 0 ||
	    (r = jw_str(jws, "payload", "JWS", &payload, e)) < 0 ||
	    (r = jw_str(jws, "signature", "JWS", &sig_s, e)) < 0)
		return r;
	if (jw_b64_decode_alloc(prot, strlen(prot), JW_HEADER_MAX, &hbuf,
				&hlen) < 0 ||
	    jw_parse_object((const char *)hbuf, hlen, "JWS protected header",
			    &hdr, e) < 0 ||
	    jw_str(hdr, "alg", "JWS protected header", &alg, e) < 0)
		return err_set(e, EBADMSG, "JWS protected header is malformed");
	a = jws_alg_find(alg);
	if (!a)
		return err_set(e, EINVAL, "JWS alg \"%.32s\" not allowed", alg);
	if (!key_alg || !streq(key_alg, a->name))
		return err_set(e, EKEYREJECTED, "JWS alg %s does not match the key's (%s)",
			       a->name, key_alg ? key_alg : "none");
	r = jw_b64_decode_alloc(sig_s, strlen(sig_s), JW_SIG_MAX, &raw, &raw_len);
	if (r < 0)
		return err_set(e, EBADMSG, "JWS signature is not base64url or too long");
	if (!pkey)
		return err_set(e, EINVAL, "no verification key");
	if (a->kty == JW_RSA) {
		sig_p = raw;
		sig_len = raw_len;
		if (raw_len != (size_t)EVP_PKEY_get_size(pkey))
			return err_set(e, EKEYREJECTED, "%s signature has the wrong size",
				       a->name);
	} else {
		BIGNUM *br, *bs;

		if (raw_len != 2 * a->coord)
			return err_set(e, EKEYREJECTED, "%s signature is %zu bytes, not %zu",
				       a->name, raw_len, 2 * a->coord);
		sig = ECDSA_SIG_new();
		br = BN_bin2bn(raw, (int)a->coord, NULL);
		bs = BN_bin2bn(raw + a->coord, (int)a->coord, NULL);
		if (!sig || !br || !bs || ECDSA_SIG_set0(sig, br, bs) != 1) {
			BN_free(br);
			BN_free(bs);
			return err_set(e, ENOMEM, "out of memory");
		}
		der_len = i2d_ECDSA_SIG(sig, NULL);
		if (der_len <= 0 || der_len > (int)sizeof(der) ||
		    i2d_ECDSA_SIG(sig, &dp) != der_len) {
			ERR_clear_error();
			return err_set(e, EIO, "cannot encode the ECDSA signature");
		}
		sig_p = der;
		sig_len = (size_t)der_len;
	}
	hlen = strlen(prot);
	plen = strlen(payload);
	input = malloc(hlen + 1 + plen);
	if (!input)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(input, prot, hlen);
	input[hlen] = '.';
	memcpy(input + hlen + 1, payload, plen);
	m = EVP_MD_CTX_new();
	if (!m || EVP_DigestVerifyInit_ex(m, &pctx, a->md, NULL, NULL, pkey,
					  NULL) != 1 ||
	    (a->kty == JW_RSA && !pss_params(pctx))) {
		ERR_clear_error();
		return err_set(e, EIO, "%s verification setup failed", a->name);
	}
	r = EVP_DigestVerify(m, sig_p, sig_len, (const uint8_t *)input,
			     hlen + 1 + plen);
	ERR_clear_error();
	if (r != 1)
		return err_set(e, EKEYREJECTED, "%s signature does not verify", a->name);
	return 0;
}

/* ---- key agreement, key wrapping, content encryption ---- */

/*
 * Algorithms fetched once: EVP_aes_256_gcm() and friends make OpenSSL 3
 * look the implementation up in its provider store at every init, and
 * EVP_KDF_fetch did the same per Concat KDF. A fetched object is
 * immutable and may be used from any thread. NULL (a provider without
 * it) falls back to the per-call lookup, which then fails as it did.
 */
static EVP_CIPHER *aes_gcm_fetched, *aes_kw_fetched;
static EVP_KDF *sskdf_fetched;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
	aes_gcm_fetched = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	aes_kw_fetched = EVP_CIPHER_fetch(NULL, "AES-256-WRAP", NULL);
	sskdf_fetched = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	ERR_clear_error();
}

static const EVP_CIPHER *aes_gcm(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	return aes_gcm_fetched ? aes_gcm_fetched : EVP_aes_256_gcm();
}

static const EVP_CIPHER *aes_kw(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	return aes_kw_fetched ? aes_kw_fetched : EVP_aes_256_wrap();
}

int jw_random(void *out, size_t n, struct err *e)
{
	if (RAND_bytes(out, (int)n) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "the random number generator failed");
	}
	return 0;
}

/*
 * Ephemeral keys: a keygen context per thread and curve, made once from
 * the curve's parameters key (jw_ec_pub) and used for every key after, so
 * that each key does not set up (and tear down) a context and copy the
 * curve into it. Contexts are not shared between threads; a thread's are
 * freed when it ends. They hold no key material between calls.
 */
static pthread_key_t keygen_key;
static pthread_once_t keygen_once = PTHREAD_ONCE_INIT;
static bool keygen_key_ok;

static void keygen_ctxs_free(void *p)
{
	EVP_PKEY_CTX **c = p;

	for (size_t i = 0; i < ARRAY_SIZE(ec_params); i++)
		EVP_PKEY_CTX_free(c[i]);
	free(c);
}

static void keygen_key_make(void)
{
	keygen_key_ok = pthread_key_create(&keygen_key, keygen_ctxs_free) == 0;
}

/* NULL: use a context of its own (no memory, no parameters key). */
static EVP_PKEY_CTX *keygen_ctx(size_t curve)
{
	EVP_PKEY_CTX **c;

	pthread_once(&ec_params_once, ec_params_make);
	pthread_once(&keygen_once, keygen_key_make);
	if (!keygen_key_ok || !ec_params[curve])
		return NULL;
	c = pthread_getspecific(keygen_key);
	if (!c) {
		c = calloc(ARRAY_SIZE(ec_params), sizeof(*c));
		if (!c || pthread_setspecific(keygen_key, c) != 0) {
			free(c);
			return NULL;
		}
	}
	if (!c[curve]) {
		c[curve] = EVP_PKEY_CTX_new_from_pkey(NULL, ec_params[curve],
						      NULL);
		if (c[curve] && EVP_PKEY_keygen_init(c[curve]) != 1) {
			EVP_PKEY_CTX_free(c[curve]);
			c[curve] = NULL;
		}
		ERR_clear_error();
	}
	return c[curve];
}

int jw_ec_ephemeral(EVP_PKEY *pub, EVP_PKEY **ret_eph, json_t **ret_epk,
		    struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
	uint8_t point[JW_EC_POINT_MAX];
	size_t len = 0, coord;
	json_t *epk;

	coord = EVP_PKEY_get_bits(pub) == 256 ? 32 :
		EVP_PKEY_get_bits(pub) == 384 ? 48 : 0;
	if (!EVP_PKEY_is_a(pub, "EC") || !coord)
		return err_set(e, EINVAL, "not an EC P-256/P-384 key");
	/* this thread's keygen context for the curve, else one with the
	 * peer as template (which copies its curve instead of building it
	 * again) */
	{
		EVP_PKEY_CTX *t = keygen_ctx(coord == 32 ? 0 : 1);
		_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c =
			t ? NULL : EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);

		if (t ? EVP_PKEY_keygen(t, &eph) != 1 :
			(!c || EVP_PKEY_keygen_init(c) != 1 ||
			 EVP_PKEY_keygen(c, &eph) != 1))
			eph = NULL;
	}
	if (!eph ||
	    EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					    point, sizeof(point), &len) != 1 ||
	    len != 1 + 2 * coord || point[0] != 0x04) {
		ERR_clear_error();
		return err_set(e, EIO, "cannot make an ephemeral %s key",
			       group_name(coord));
	}
	epk = json_pack("{s:s, s:s, s:o, s:o}", "kty", "EC", "crv",
			group_name(coord), "x", jw_b64_json(point + 1, coord), "y",
			jw_b64_json(point + 1 + coord, coord));
	if (!epk)
		return err_set(e, ENOMEM, "out of memory");
	*ret_eph = TAKE_PTR(eph);
	*ret_epk = epk;
	return 0;
}

static const char *const epk_members[] = { "kty", "crv", "x", "y" };

int jw_epk_point(const json_t *epk, uint8_t point[JW_EC_POINT_MAX],
		 size_t *ret_len, size_t *ret_coord, EVP_PKEY **ret_pub,
		 struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pk = NULL;
	const char *kty, *crv;
	enum jw_kty t;
	size_t coord, len;
	int r;

	if ((r = jw_only_members(epk, epk_members, ARRAY_SIZE(epk_members),
				 "epk", e)) < 0 ||
	    (r = jw_str(epk, "kty", "epk", &kty, e)) < 0 ||
	    (r = jw_str(epk, "crv", "epk", &crv, e)) < 0)
		return r;
	if (!streq(kty, "EC") || ec_coord(crv, &coord, &t) < 0)
		return err_set(e, EBADMSG, "epk is not an EC P-256/P-384 key");
	point[0] = 0x04;
	if ((r = jwk_b64(epk, "x", point + 1, coord, &len, e)) < 0)
		return r;
	if (len != coord)
		return err_set(e, EBADMSG, "epk x has the wrong size");
	if ((r = jwk_b64(epk, "y", point + 1 + coord, coord, &len, e)) < 0)
		return r;
	if (len != coord)
		return err_set(e, EBADMSG, "epk y has the wrong size");
	if ((r = jw_ec_pub(point, 1 + 2 * coord, &pk, e)) < 0)
		return r;
	*ret_len = 1 + 2 * coord;
	*ret_coord = coord;
	if (ret_pub)
		*ret_pub = TAKE_PTR(pk);
	return 0;
}

int jw_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t *z, size_t max,
	    size_t *ret_len, struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	size_t len = 0;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
	    /* peers are built by jw_ec_pub / jw_jwk_check, which refuse
	     * points off the curve (P-256 and P-384 have cofactor 1), so
	     * OpenSSL's full check (a scalar multiplication by the order)
	     * would only repeat that at the cost of a second ECDH */
	    EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1 ||
	    EVP_PKEY_derive(ctx, NULL, &len) != 1 || len > max ||
	    EVP_PKEY_derive(ctx, z, &len) != 1) {
		ERR_clear_error();
		return err_set(e, EKEYREJECTED, "ECDH key agreement failed");
	}
	*ret_len = len;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int jw_concat_kdf(const uint8_t *z, size_t z_len, const char *alg_id,
		  const uint8_t *apu, size_t apu_len, const uint8_t *apv,
		  size_t apv_len, uint8_t out[JW_CEK_SIZE], struct err *e)
{
	_cleanup_(EVP_KDF_freep) EVP_KDF *kdf = NULL;
	_cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *ctx = NULL;
	uint8_t info[JW_KDF_INFO_MAX];
	size_t al = strlen(alg_id), o = 0;
	char md[] = "SHA256";
	OSSL_PARAM params[4];

	if (al > 32 || apu_len > JW_PARTY_INFO_MAX || apv_len > JW_PARTY_INFO_MAX)
		return err_set(e, EINVAL, "Concat KDF input too long");
	/* OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo,
	 * each of the first three a 32-bit big-endian length and its bytes */
	put32(info + o, (uint32_t)al);
	memcpy(info + o + 4, alg_id, al);
	o += 4 + al;
	put32(info + o, (uint32_t)apu_len);
	if (apu_len)
		memcpy(info + o + 4, apu, apu_len);
	o += 4 + apu_len;
	put32(info + o, (uint32_t)apv_len);
	if (apv_len)
		memcpy(info + o + 4, apv, apv_len);
	o += 4 + apv_len;
	put32(info + o, JW_CEK_SIZE * 8);
	o += 4;
	/* SSKDF with a digest is SP 800-56A's single-step KDF:
	 * H(counter || Z || OtherInfo), which RFC 7518 4.6.2 names. */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)z, z_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, o);
	params[3] = OSSL_PARAM_construct_end();
	pthread_once(&fetch_once, fetch_algorithms);
	if (sskdf_fetched)
		ctx = EVP_KDF_CTX_new(sskdf_fetched);
	else if ((kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL)))
		ctx = EVP_KDF_CTX_new(kdf);
	if (!ctx || EVP_KDF_derive(ctx, out, JW_CEK_SIZE, params) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "Concat KDF (SSKDF) failed");
	}
	return 0;
}

static int aeskw(bool wrap, const uint8_t kek[JW_CEK_SIZE], const uint8_t *in,
		 size_t in_len, uint8_t *out, size_t *ret_len, struct err *e)
{
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	if (!c)
		return err_set(e, ENOMEM, "out of memory");
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(c, aes_kw(), NULL, kek, NULL, wrap) != 1 ||
	    EVP_CipherUpdate(c, out, &l1, in, (int)in_len) != 1 || l1 <= 0 ||
	    EVP_CipherFinal_ex(c, out + l1, &l2) != 1) {
		ERR_clear_error();
		return wrap ? err_set(e, EIO, "A256KW wrap failed") :
			      err_set(e, EKEYREJECTED, "A256KW unwrap failed (wrong key or tampered encrypted_key)");
	}
	*ret_len = (size_t)l1 + (size_t)l2;
	return 0;
}

int jw_rsa_oaep_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t max, size_t *ret_len,
			struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	size_t len = 0;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_encrypt(ctx, NULL, &len, in, in_len) != 1 || len > max ||
	    EVP_PKEY_encrypt(ctx, out, &len, in, in_len) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "RSA-OAEP-256 encryption failed");
	}
	*ret_len = len;
	return 0;
}

int jw_rsa_oaep_decrypt(EVP_PKEY *priv, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t max, size_t *ret_len,
			struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	uint8_t buf[JW_RSA_MAX_BYTES];
	size_t len = sizeof(buf);
	int r;

	if (in_len != (size_t)EVP_PKEY_get_size(priv))
		return err_set(e, EKEYREJECTED,
			       "RSA-OAEP-256 encrypted key is %zu bytes, the key's size is %d",
			       in_len, EVP_PKEY_get_size(priv));
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (!ctx || EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "RSA-OAEP-256 setup failed");
	}
	r = EVP_PKEY_decrypt(ctx, buf, &len, in, in_len);
	ERR_clear_error();
	if (r != 1 || len > max) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return err_set(e, EKEYREJECTED, "RSA-OAEP-256 decryption failed");
	}
	memcpy(out, buf, len);
	OPENSSL_cleanse(buf, sizeof(buf));
	*ret_len = len;
	return 0;
}

static const char *const ecdh_kw = "ECDH-ES+A256KW";
static const char *const rsa_oaep = "RSA-OAEP-256";

int jw_wrap_cek(EVP_PKEY *pub, const char *alg, const char *kid,
		const uint8_t cek[JW_CEK_SIZE], json_t **ret_hdr,
		json_t **ret_ek, struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
	_cleanup_(json_decrefp) json_t *epk = NULL, *hdr = NULL, *ek = NULL;
	uint8_t z[JW_EC_MAX_COORD], kek[JW_CEK_SIZE], out[JW_RSA_MAX_BYTES];
	size_t z_len, out_len;
	int r;

	if (!pub)
		return err_set(e, EINVAL, "no recipient key");
	if (alg && streq(alg, ecdh_kw)) {
		if ((r = jw_ec_ephemeral(pub, &eph, &epk, e)) < 0)
			return r;
		r = jw_ecdh(eph, pub, z, sizeof(z), &z_len, e);
		if (r == 0)
			r = jw_concat_kdf(z, z_len, ecdh_kw, NULL, 0, NULL, 0, kek, e);
		if (r == 0)
			r = aeskw(true, kek, cek, JW_CEK_SIZE, out, &out_len, e);
		OPENSSL_cleanse(z, sizeof(z));
		OPENSSL_cleanse(kek, sizeof(kek));
		if (r < 0)
			return r;
		hdr = json_pack("{s:s, s:s, s:O}", "alg", ecdh_kw, "kid", kid,
				"epk", epk);
	} else if (alg && streq(alg, rsa_oaep)) {
		if ((r = jw_rsa_oaep_encrypt(pub, cek, JW_CEK_SIZE, out,
					     sizeof(out), &out_len, e)) < 0)
			return r;
		hdr = json_pack("{s:s, s:s}", "alg", rsa_oaep, "kid", kid);
	} else {
		return err_set(e, EINVAL, "key management alg \"%.32s\" not allowed (%s, %s)",
			       alg ? alg : "(none)", ecdh_kw, rsa_oaep);
	}
	ek = jw_b64_json(out, out_len);
	if (!hdr || !ek)
		return err_set(e, ENOMEM, "out of memory");
	*ret_hdr = TAKE_PTR(hdr);
	*ret_ek = TAKE_PTR(ek);
	return 0;
}

int jw_unwrap_cek(EVP_PKEY *priv, const char *alg, const json_t *epk,
		  const uint8_t *ek, size_t ek_len, uint8_t cek[JW_CEK_SIZE],
		  struct err *e)
{
	uint8_t buf[JW_RSA_MAX_BYTES];
	size_t len;
	int r;

	if (streq(alg, ecdh_kw)) {
		_cleanup_(EVP_PKEY_freep) EVP_PKEY *peer = NULL;
		uint8_t point[JW_EC_POINT_MAX], z[JW_EC_MAX_COORD], kek[JW_CEK_SIZE];
		size_t plen, coord, z_len;

		if (!EVP_PKEY_is_a(priv, "EC"))
			return err_set(e, EKEYREJECTED, "%s recipient for a non-EC key", alg);
		if (!epk)
			return err_set(e, EBADMSG, "%s recipient without epk", alg);
		if ((r = jw_epk_point(epk, point, &plen, &coord, &peer, e)) < 0)
			return r;
		if ((size_t)EVP_PKEY_get_bits(priv) != coord * 8)
			return err_set(e, EKEYREJECTED, "epk is on another curve than the key");
		if (ek_len != JW_KW_SIZE)
			return err_set(e, EKEYREJECTED, "%s encrypted key is %zu bytes, not %d",
				       alg, ek_len, JW_KW_SIZE);
		r = jw_ecdh(priv, peer, z, sizeof(z), &z_len, e);
		if (r == 0)
			r = jw_concat_kdf(z, z_len, ecdh_kw, NULL, 0, NULL, 0, kek, e);
		if (r == 0)
			r = aeskw(false, kek, ek, ek_len, buf, &len, e);
		OPENSSL_cleanse(z, sizeof(z));
		OPENSSL_cleanse(kek, sizeof(kek));
	} else if (streq(alg, rsa_oaep)) {
		if (!EVP_PKEY_is_a(priv, "RSA"))
			return err_set(e, EKEYREJECTED, "%s recipient for a non-RSA key", alg);
		if (epk)
			return err_set(e, EBADMSG, "%s recipient with an epk", alg);
		r = jw_rsa_oaep_decrypt(priv, ek, ek_len, buf, sizeof(buf), &len, e);
	} else {
		return err_set(e, EINVAL, "key management alg \"%.32s\" not allowed", alg);
	}
	if (r == 0 && len != JW_CEK_SIZE)
		r = err_set(e, EKEYREJECTED, "unwrapped CEK is %zu bytes, not %d", len,
			    JW_CEK_SIZE);
	if (r == 0)
		memcpy(cek, buf, JW_CEK_SIZE);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

int jw_gcm_encrypt(const uint8_t key[JW_CEK_SIZE], const uint8_t iv[JW_IV_SIZE],
		   const char *aad, size_t aad_len, const uint8_t *pt,
		   size_t pt_len, uint8_t *ct, uint8_t tag[JW_TAG_SIZE],
		   struct err *e)
{
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;

	if (!c || pt_len > INT32_MAX || aad_len > INT32_MAX ||
	    EVP_EncryptInit_ex(c, aes_gcm(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &l, (const uint8_t *)aad,
			      (int)aad_len) != 1 ||
	    (pt_len && EVP_EncryptUpdate(c, ct, &l, pt, (int)pt_len) != 1) ||
	    EVP_EncryptFinal_ex(c, ct + (pt_len ? (size_t)l : 0), &l) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, JW_TAG_SIZE, tag) !=
		    1) {
		ERR_clear_error();
		return err_set(e, EIO, "A256GCM encryption failed");
	}
	return 0;
}

int jw_gcm_decrypt(const uint8_t key[JW_CEK_SIZE], const uint8_t iv[JW_IV_SIZE],
		   const char *aad, size_t aad_len, const uint8_t *ct,
		   size_t ct_len, const uint8_t tag[JW_TAG_SIZE], uint8_t *pt,
		   struct err *e)
{
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t t[JW_TAG_SIZE];
	int l = 0, r;

	memcpy(t, tag, sizeof(t));
	if (!c || ct_len > INT32_MAX || aad_len > INT32_MAX ||
	    EVP_DecryptInit_ex(c, aes_gcm(), NULL, key, iv) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)aad,
			      (int)aad_len) != 1 ||
	    (ct_len && EVP_DecryptUpdate(c, pt, &l, ct, (int)ct_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, JW_TAG_SIZE, t) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "A256GCM decryption setup failed");
	}
	r = EVP_DecryptFinal_ex(c, pt + (ct_len ? (size_t)l : 0), &l);
	ERR_clear_error();
	if (r != 1) {
		OPENSSL_cleanse(pt, ct_len);
		return err_set(e, EKEYREJECTED,
			       "A256GCM authentication failed (tampered header, iv, ciphertext or tag, or a wrong key)");
	}
	return 0;
}
