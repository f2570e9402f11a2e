/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health tokens: ES256 compact JWS over EAR claims (layout in token.h).
 *
 * What goes through libjose and what does not:
 *  - RFC 7638 thumbprints use libjose (jose_jwk_thp_buf), as DESIGN.md
 *    asks. EVP_PKEY -> JWK conversion (the signing key's public JWK,
 *    transport keys given to token_jwk_from_pkey) writes what libjose's
 *    jose_openssl_jwk_from_EVP_PKEY writes, from the key's public
 *    parameters: libjose needs a DER round trip to drop the private half
 *    and a legacy key export, together ~3x an attestation's crypto floor
 *    on hgsd's hot path. tests/unit/test_token.c compares the two.
 *  - The compact JWS itself (ES256 sign and verify) is done here with
 *    OpenSSL's EVP API. Measured on this machine (bench/bench_token.c),
 *    jose_jws_sig costs about 5-6x a raw ECDSA P-256 signature: libjose
 *    rebuilds an EC_KEY from the JWK on every call (its
 *    jose_openssl_jwk_to_EVP_PKEY alone costs ~2x a signature here), goes
 *    through its generic JSON/IO machinery and emits the flattened JSON
 *    serialization, which we would then have to re-pack into compact form.
 *    hgsd's budget (5,000 attestations/s on 2 cores, one token each) cannot
 *    afford that. For the same reason the per-token JWK work is done here:
 *    the cnf key's point is checked against a curve built once, and JWK Set
 *    keys become EVP_PKEYs once and are cached. See docs/tokens.md.
 *
 * Verification is written for hostile input: the size is checked before
 * anything else, the segments are strict base64url, the header is read (alg
 * allow-list, kid in the JWK Set) and the signature verified before the
 * payload is even parsed, and then every claim's presence, type and range
 * is checked.
 */
#include "attest/token.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <jose/jose.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "attest/hash.h"
#include "common/b64.h"
#include "common/util.h"

DEFINE_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
DEFINE_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
DEFINE_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_CLEANUP_FUNC(BIO, BIO_free)
DEFINE_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)
/* json_decrefp comes with jansson (json_auto_t) */
DEFINE_CLEANUP_FUNC(struct token_key, token_key_free)

#define ES256_COORD_SIZE 32                   /* P-256 field element */
#define ES256_SIG_SIZE (2 * ES256_COORD_SIZE) /* JWS r || s */
#define ES256_DER_MAX 80                      /* DER ECDSA-Sig-Value, P-256 */
#define TOKEN_JTI_BYTES 16                    /* 128-bit random jti */
#define THUMBPRINT_BYTES 32                   /* SHA-256 */

/* AR4SI trustworthiness claim values (draft-ietf-rats-ar4si). */
#define AR4SI_AFFIRMING 2
#define AR4SI_WARNING 32
#define AR4SI_CONTRAINDICATED 96
#define AR4SI_MIN (-128)
#define AR4SI_MAX 127

static const char *const status_names[] = {
	[TOKEN_AFFIRMING] = "affirming",
	[TOKEN_WARNING] = "warning",
	[TOKEN_CONTRAINDICATED] = "contraindicated",
};

static const char *const mode_names[] = {
	[TOKEN_MODE_TPM] = "tpm",
	[TOKEN_MODE_HOST_KEY] = "host-key",
};

/* The four AR4SI claims every token carries. */
static const char *const tv_required[] = {
	"instance-identity",
	"configuration",
	"executables",
	"hardware",
};

/* Further AR4SI claims a verifier accepts (integers in range) but ignores. */
static const char *const tv_optional[] = {
	"file-system",
	"runtime-opaque",
	"sourced-data",
	"storage-opaque",
};

/* SHA-256 fetched once (hash.c), not at every signature: EVP_sha256()
 * makes OpenSSL look the implementation up again on each init. */
static const EVP_MD *sha256_md(void)
{
	const EVP_MD *md = hash_alg_md(hash_alg_by_id(TPM_ALG_SHA256));

	return md ? md : EVP_sha256();
}

/* ---- base64url (RFC 4648 section 5, no padding) ---- */

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Syntax only (alphabet, length, canonical last character), no output. */
static bool b64url_valid(const char *in, size_t n)
{
	int last;

	if (n % 4 == 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (b64url_value(in[i]) < 0)
			return false;
	if (n == 0 || n % 4 == 0)
		return true;
	/* the last character holds 4 (n % 4 == 2) or 2 (n % 4 == 3) bits
	 * that must be zero */
	last = b64url_value(in[n - 1]);
	return (last & (n % 4 == 2 ? 0x0f : 0x03)) == 0;
}

/* Decode a JWK member that must be a base64url string; -EBADMSG otherwise. */
static int jwk_b64(const json_t *jwk, const char *name, uint8_t *out,
		   size_t cap, size_t *ret_len, struct err *e)
{
	const json_t *v = json_object_get(jwk, name);
	int r;

	if (!json_is_string(v))
		return err_set(e, EBADMSG, "JWK member \"%s\" missing or not a string",
			       name);
	r = b64url_decode(json_string_value(v), json_string_length(v), out,
			  cap, ret_len);
	if (r < 0)
		return err_set(e, EBADMSG,
			       "JWK member \"%s\": %s", name,
			       r == -E2BIG ? "too long" : "not base64url");
	return 0;
}

/* ---- JWKs ---- */

static const char *jwk_str(const json_t *jwk, const char *name)
{
	return json_string_value(json_object_get(jwk, name));
}

/* Private members of EC and RSA JWKs (RFC 7518 section 6). */
static const char *const jwk_private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

static bool jwk_has_private(const json_t *jwk)
{
	for (size_t i = 0; i < ARRAY_SIZE(jwk_private_members); i++)
		if (json_object_get(jwk, jwk_private_members[i]))
			return true;
	return false;
}

/* Number of significant bits of a big-endian unsigned integer. */
static size_t be_bits(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] == 0)
		i++;
	if (i == n)
		return 0;
	size_t bits = (n - i) * 8;

	for (uint8_t top = p[i]; !(top & 0x80); top <<= 1)
		bits--;
	return bits;
}

/* Curves are built once per process: creating an EC_GROUP (Montgomery
 * context, generator precomputation) costs about as much as a signature.
 * EC_GROUPs are read-only after creation and safe to share across threads. */
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;
static EC_GROUP *group_p256, *group_p384;

static void groups_init(void)
{
	group_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	group_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

/* Decode a JWK's "x" and "y" (coord bytes each) into an uncompressed
 * point 04 || x || y. */
static int jwk_ec_xy(const json_t *jwk, const char *crv, size_t coord,
		     uint8_t point[1 + 2 * TOKEN_EC_MAX_COORD], struct err *e)
{
	size_t len;
	int r;

	point[0] = 0x04;
	if ((r = jwk_b64(jwk, "x", point + 1, coord, &len, e)) < 0)
		return r;
	if (len != coord)
		return err_set(e, EBADMSG, "JWK x is %zu bytes, %s needs %zu", len,
			       crv, coord);
	if ((r = jwk_b64(jwk, "y", point + 1 + coord, coord, &len, e)) < 0)
		return r;
	if (len != coord)
		return err_set(e, EBADMSG, "JWK y is %zu bytes, %s needs %zu", len,
			       crv, coord);
	return 0;
}

/* Is the JWK's point on the curve (coord 32: P-256, 48: P-384)? */
static int jwk_ec_check(const json_t *jwk, const char *crv, size_t coord,
			struct err *e)
{
	uint8_t point[1 + 2 * TOKEN_EC_MAX_COORD];
	const EC_GROUP *g;
	EC_POINT *pt;
	int r, ok;

	if (pthread_once(&groups_once, groups_init) != 0)
		return err_set(e, EIO, "cannot set up the EC curves");
	g = coord == 32 ? group_p256 : group_p384;
	if (!g)
		return err_set(e, EIO, "OpenSSL lacks curve %s", crv);
	if ((r = jwk_ec_xy(jwk, crv, coord, point, e)) < 0)
		return r;
	pt = EC_POINT_new(g);
	if (!pt)
		return err_set(e, ENOMEM, "out of memory");
	/* oct2point already refuses a point off the curve; say it twice */
	ok = EC_POINT_oct2point(g, pt, point, 1 + 2 * coord, NULL) == 1 &&
	     EC_POINT_is_on_curve(g, pt, NULL) == 1 &&
	     !EC_POINT_is_at_infinity(g, pt);
	EC_POINT_free(pt);
	ERR_clear_error();
	if (!ok)
		return err_set(e, EBADMSG, "JWK x/y is not a point on %s", crv);
	return 0;
}

/* A P-256 public EVP_PKEY from an uncompressed point. */
static int p256_pkey(const uint8_t point[1 + 2 * ES256_COORD_SIZE],
		     EVP_PKEY **ret, struct err *e)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	uint8_t buf[1 + 2 * ES256_COORD_SIZE];
	char group_name[] = "P-256";
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[3];

	memcpy(buf, point, sizeof(buf));
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     group_name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      buf, sizeof(buf));
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ERR_clear_error();
		return err_set(e, EBADMSG, "JWK x/y is not a point on P-256");
	}
	*ret = pkey;
	return 0;
}

/*
 * Verification keys, cached by their point: building an EVP_PKEY from a
 * JWK (EVP_PKEY_fromdata builds the curve each time; libjose's
 * jose_openssl_jwk_to_EVP_PKEY was measured at ~2x a signature here) costs
 * about as much as the verification itself, and a relying party checks
 * every token against the same few keys of one JWK Set. Public data only;
 * a small round-robin table under a lock.
 */
#define TOKEN_KEY_CACHE_SIZE 8

static struct {
	uint8_t point[1 + 2 * ES256_COORD_SIZE];
	EVP_PKEY *pkey;
} key_cache[TOKEN_KEY_CACHE_SIZE];
static unsigned key_cache_next;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int p256_pkey_cached(const uint8_t point[1 + 2 * ES256_COORD_SIZE],
			    EVP_PKEY **ret, struct err *e)
{
	EVP_PKEY *pkey = NULL, *old = NULL;
	unsigned slot;
	int r;

	pthread_mutex_lock(&key_cache_lock);
	for (unsigned i = 0; i < TOKEN_KEY_CACHE_SIZE; i++)
		if (key_cache[i].pkey &&
		    memcmp(key_cache[i].point, point,
			   sizeof(key_cache[i].point)) == 0 &&
		    EVP_PKEY_up_ref(key_cache[i].pkey) == 1) {
			pkey = key_cache[i].pkey;
			break;
		}
	pthread_mutex_unlock(&key_cache_lock);
	if (pkey) {
		*ret = pkey;
		return 0;
	}

	if ((r = p256_pkey(point, &pkey, e)) < 0)
		return r;
	if (EVP_PKEY_up_ref(pkey) == 1) { /* the cache's reference */
		pthread_mutex_lock(&key_cache_lock);
		slot = key_cache_next++ % TOKEN_KEY_CACHE_SIZE;
		old = key_cache[slot].pkey;
		memcpy(key_cache[slot].point, point, sizeof(key_cache[slot].point));
		key_cache[slot].pkey = pkey;
		pthread_mutex_unlock(&key_cache_lock);
		EVP_PKEY_free(old);
	}
	*ret = pkey;
	return 0;
}

/* An ES256 verification key from a JWK Set entry: EC P-256 public point
 * (also into ret_point). Private members, if any, are ignored (only x and
 * y are read). */
static int jwk_to_p256(const json_t *jwk, EVP_PKEY **ret,
		       uint8_t ret_point[1 + 2 * ES256_COORD_SIZE],
		       struct err *e)
{
	uint8_t point[1 + 2 * TOKEN_EC_MAX_COORD];
	const char *kty = jwk_str(jwk, "kty"), *crv = jwk_str(jwk, "crv");
	const char *alg = jwk_str(jwk, "alg"), *use = jwk_str(jwk, "use");
	int r;

	if (!kty || !streq(kty, "EC") || !crv || !streq(crv, "P-256"))
		return err_set(e, EKEYREJECTED,
			       "signing key is %s/%s, ES256 needs EC/P-256",
			       kty ? kty : "?", crv ? crv : "?");
	if ((json_object_get(jwk, "alg") && (!alg || !streq(alg, "ES256"))) ||
	    (json_object_get(jwk, "use") && (!use || !streq(use, "sig"))))
		return err_set(e, EKEYREJECTED,
			       "signing key is not for ES256 signatures (alg/use)");
	if ((r = jwk_ec_xy(jwk, crv, ES256_COORD_SIZE, point, e)) < 0 ||
	    (r = p256_pkey_cached(point, ret, e)) < 0)
		err_prefix(e, "signing key");
	else
		memcpy(ret_point, point, 1 + 2 * ES256_COORD_SIZE);
	return r;
}

/*
 * Signatures that verified, by their exact bytes: the key's point, the
 * signing input (header.payload) and r || s. A host presents the same
 * token at every start until it expires, so hgsd would check the same
 * ES256 signature again each time; the result depends on those bytes
 * only. A hit stands for that one check: the key is still looked up in
 * the JWK Set given to token_verify (kid, kty, crv, alg, use) and every
 * claim (exp, nbf, ...) is still checked at every call. Only successes
 * are kept; a token whose signing input is over TOKEN_VERIFIED_MAX bytes
 * is not; at most TOKEN_VERIFIED_CACHE_SIZE, least recently used out.
 */
#define TOKEN_VERIFIED_CACHE_SIZE 256
#define TOKEN_VERIFIED_MAX 4096

static struct {
	uint64_t hash, used;
	uint8_t point[1 + 2 * ES256_COORD_SIZE];
	uint8_t sig[ES256_SIG_SIZE];
	size_t n;
	char *in; /* NULL: free slot */
} verified[TOKEN_VERIFIED_CACHE_SIZE];
static uint64_t verified_clock;
static pthread_mutex_t verified_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t verified_hash(const uint8_t *point, const char *in, size_t n,
			      const uint8_t *sig)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < 1 + 2 * ES256_COORD_SIZE; i++)
		h = (h ^ point[i]) * 1099511628211ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)in[i]) * 1099511628211ull;
	for (size_t i = 0; i < ES256_SIG_SIZE; i++)
		h = (h ^ sig[i]) * 1099511628211ull;
	return h;
}

/* The slot holding exactly these bytes, or -1 (under verified_lock). */
static int verified_find(uint64_t h, const uint8_t *point, const char *in,
			 size_t n, const uint8_t *sig)
{
	for (int i = 0; i < TOKEN_VERIFIED_CACHE_SIZE; i++)
		if (verified[i].in && verified[i].hash == h &&
		    verified[i].n == n &&
		    memcmp(verified[i].point, point,
			   sizeof(verified[i].point)) == 0 &&
		    memcmp(verified[i].sig, sig, sizeof(verified[i].sig)) ==
			    0 &&
		    memcmp(verified[i].in, in, n) == 0)
			return i;
	return -1;
}

static bool verified_get(uint64_t h, const uint8_t *point, const char *in,
			 size_t n, const uint8_t *sig)
{
	int i;

	if (n > TOKEN_VERIFIED_MAX)
		return false;
	pthread_mutex_lock(&verified_lock);
	i = verified_find(h, point, in, n, sig);
	if (i >= 0)
		verified[i].used = ++verified_clock;
	pthread_mutex_unlock(&verified_lock);
	return i >= 0;
}

static void verified_put(uint64_t h, const uint8_t *point, const char *in,
			 size_t n, const uint8_t *sig)
{
	char *copy, *old = NULL;
	int slot = 0;

	if (n > TOKEN_VERIFIED_MAX || !(copy = malloc(n ? n : 1)))
		return;
	memcpy(copy, in, n);
	pthread_mutex_lock(&verified_lock);
	if (verified_find(h, point, in, n, sig) >= 0) {
		pthread_mutex_unlock(&verified_lock);
		free(copy);
		return;
	}
	for (int i = 0; i < TOKEN_VERIFIED_CACHE_SIZE; i++) {
		if (!verified[i].in) {
			slot = i;
			break;
		}
		if (verified[i].used < verified[slot].used)
			slot = i;
	}
	old = verified[slot].in;
	verified[slot].in = copy;
	verified[slot].n = n;
	verified[slot].hash = h;
	verified[slot].used = ++verified_clock;
	memcpy(verified[slot].point, point, sizeof(verified[slot].point));
	memcpy(verified[slot].sig, sig, sizeof(verified[slot].sig));
	pthread_mutex_unlock(&verified_lock);
	free(old);
}

/*
 * A transport key in "cnf": a public EC P-256/P-384 or RSA >= 2048-bit JWK,
 * well formed, and a key OpenSSL accepts (point on the curve).
 */
static int cnf_jwk_check(const json_t *jwk, struct err *e)
{
	size_t len, coord;
	const char *kty;
	int r;

	if (!json_is_object(jwk))
		return err_set(e, EBADMSG, "cnf.jwk is not an object");
	if (jwk_has_private(jwk))
		return err_set(e, EBADMSG,
			       "cnf.jwk holds private key material; only a public key is allowed");
	kty = jwk_str(jwk, "kty");
	if (!kty)
		return err_set(e, EBADMSG, "cnf.jwk: \"kty\" missing or not a string");
	if (streq(kty, "EC")) {
		const char *crv = jwk_str(jwk, "crv");

		if (crv && streq(crv, "P-256"))
			coord = 32;
		else if (crv && streq(crv, "P-384"))
			coord = 48;
		else
			return err_set(e, EBADMSG,
				       "cnf.jwk: EC curve \"%s\" not allowed (P-256, P-384)",
				       crv ? crv : "(missing)");
		if ((r = jwk_ec_check(jwk, crv, coord, e)) < 0) {
			err_prefix(e, "cnf.jwk");
			return r;
		}
	} else if (streq(kty, "RSA")) {
		/* A public RSA key is just (n, e): check their sizes; there is
		 * nothing further OpenSSL could validate without the primes. */
		uint8_t n[TOKEN_RSA_MAX_BITS / 8 + 1];
		size_t bits;

		if ((r = jwk_b64(jwk, "n", n, sizeof(n), &len, e)) < 0)
			return r;
		bits = be_bits(n, len);
		if (bits < TOKEN_RSA_MIN_BITS || bits > TOKEN_RSA_MAX_BITS)
			return err_set(e, EBADMSG,
				       "cnf.jwk: RSA modulus of %zu bits (allowed %d..%d)",
				       bits, TOKEN_RSA_MIN_BITS, TOKEN_RSA_MAX_BITS);
		if (!(n[len - 1] & 1))
			return err_set(e, EBADMSG, "cnf.jwk: RSA modulus is even");
		if ((r = jwk_b64(jwk, "e", n, 8, &len, e)) < 0)
			return r;
		if (len == 0 || be_bits(n, len) < 2 || !(n[len - 1] & 1))
			return err_set(e, EBADMSG, "cnf.jwk: bad RSA exponent");
	} else {
		return err_set(e, EBADMSG,
			       "cnf.jwk: key type \"%s\" not allowed (EC, RSA)", kty);
	}
	return 0;
}

int token_jwk_thumbprint(const json_t *jwk, char out[64], struct err *e)
{
	uint8_t thp[THUMBPRINT_BYTES];
	size_t n;

	_Static_assert(THUMBPRINT_BYTES * 4 / 3 + 2 < 64, "thumbprint fits");
	if (!json_is_object(jwk))
		return err_set(e, EINVAL, "thumbprint: JWK is not an object");
	n = jose_jwk_thp_buf(NULL, jwk, "S256", thp, sizeof(thp));
	if (n != sizeof(thp))
		return err_set(e, EINVAL,
			       "thumbprint: JWK lacks the members RFC 7638 needs for its kty");
	b64url_encode(thp, sizeof(thp), out);
	return 0;
}

/* "P-256" etc. of an EC key, "" for other types. */
static int pkey_allowed(EVP_PKEY *pkey, bool *ret_p256, struct err *e)
{
	char group[64];
	size_t len = 0;

	*ret_p256 = false;
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (EVP_PKEY_get_bits(pkey) < TOKEN_RSA_MIN_BITS)
			return err_set(e, EINVAL, "RSA key of %d bits (minimum %d)",
				       EVP_PKEY_get_bits(pkey), TOKEN_RSA_MIN_BITS);
		return 0;
	}
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return err_set(e, EINVAL, "key type %s not supported (EC, RSA)",
			       EVP_PKEY_get0_type_name(pkey));
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &len) != 1) {
		ERR_clear_error();
		return err_set(e, EINVAL, "EC key without a named curve");
	}
	switch (OBJ_sn2nid(group)) {
	case NID_X9_62_prime256v1:
		*ret_p256 = true;
		return 0;
	case NID_secp384r1:
	case NID_secp521r1:
		return 0;
	default:
		return err_set(e, EINVAL, "EC curve %s not supported", group);
	}
}

/* Set member name of jwk to the base64url of the big-endian integer at p:
 * left-padded with zeros to width bytes, or without leading zeros when
 * width is 0 (what libjose writes: EC coordinates at the field size, RSA
 * n and e minimal). -1 when it does not fit width. */
static int jwk_set_int(json_t *jwk, const char *name, const uint8_t *p, size_t len,
		       size_t width)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *text = NULL;
	size_t n;

	while (len && !p[0]) {
		p++;
		len--;
	}
	if (!width)
		width = len;
	if (len > width)
		return -1;
	buf = calloc(1, width ? width : 1);
	text = malloc(b64url_encoded_len(width) + 1);
	if (!buf || !text)
		return -1;
	memcpy(buf + width - len, p, len);
	n = b64url_encode(buf, width, text);
	return json_object_set_new(jwk, name, json_stringn(text, n));
}

/* The same from one of the key's public parameters. */
static int jwk_set_param(json_t *jwk, const char *name, EVP_PKEY *pkey,
			 const char *param, size_t width)
{
	_cleanup_free_ uint8_t *buf = NULL;
	BIGNUM *bn = NULL;
	int len, r = -1;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) {
		ERR_clear_error();
		return -1;
	}
	len = BN_num_bytes(bn);
	buf = malloc(len ? (size_t)len : 1);
	if (buf && BN_bn2bin(bn, buf) == len)
		r = jwk_set_int(jwk, name, buf, (size_t)len, width);
	BN_free(bn);
	return r;
}

/* The kid (RFC 7638 thumbprint) and out. */
static int jwk_finish(json_t **jwk, json_t **ret, struct err *e)
{
	char kid[64];
	int r;

	if (jwk_has_private(*jwk))
		return err_set(e, EIO, "public JWK came out with private members");
	if ((r = token_jwk_thumbprint(*jwk, kid, e)) < 0)
		return r;
	if (json_object_set_new(*jwk, "kid", json_string(kid)) < 0)
		return err_set(e, ENOMEM, "out of memory");
	*ret = TAKE_PTR(*jwk);
	return 0;
}

int token_jwk_from_ec(const char *crv, const uint8_t *x, size_t x_len, const uint8_t *y,
		      size_t y_len, json_t **ret, struct err *e)
{
	_cleanup_(json_decrefp) json_t *jwk = NULL;
	size_t coord;

	if (streq(crv, "P-256"))
		coord = 32;
	else if (streq(crv, "P-384"))
		coord = 48;
	else if (streq(crv, "P-521"))
		coord = 66;
	else
		return err_set(e, EINVAL, "EC curve %s not supported", crv);
	jwk = json_object();
	if (!jwk)
		return err_set(e, ENOMEM, "out of memory");
	if (json_object_set_new(jwk, "kty", json_string("EC")) < 0 ||
	    json_object_set_new(jwk, "crv", json_string(crv)) < 0 ||
	    jwk_set_int(jwk, "x", x, x_len, coord) < 0 ||
	    jwk_set_int(jwk, "y", y, y_len, coord) < 0)
		return err_set(e, EINVAL, "cannot express the EC key as a JWK");
	return jwk_finish(&jwk, ret, e);
}

int token_jwk_from_rsa(const uint8_t *n, size_t n_len, const uint8_t *exp, size_t exp_len,
		       json_t **ret, struct err *e)
{
	_cleanup_(json_decrefp) json_t *jwk = NULL;

	jwk = json_object();
	if (!jwk)
		return err_set(e, ENOMEM, "out of memory");
	if (json_object_set_new(jwk, "kty", json_string("RSA")) < 0 ||
	    jwk_set_int(jwk, "n", n, n_len, 0) < 0 || jwk_set_int(jwk, "e", exp, exp_len, 0) < 0)
		return err_set(e, EINVAL, "cannot express the RSA key as a JWK");
	return jwk_finish(&jwk, ret, e);
}

int token_jwk_from_pkey(EVP_PKEY *pkey, json_t **ret, struct err *e)
{
	_cleanup_(json_decrefp) json_t *jwk = NULL;
	char group[64];
	size_t coord = 0, len = 0;
	bool p256;
	int r;

	if (!pkey)
		return err_set(e, EINVAL, "no key");
	if ((r = pkey_allowed(pkey, &p256, e)) < 0)
		return r;
	/* Only the public parameters are read: a private key never passes
	 * through jansson strings, which are freed without being wiped. The
	 * members and their order are libjose's (jose_openssl_jwk_from_
	 * EVP_PKEY), without its DER round trip, which cost more than an ECDSA
	 * signature per call (tests/unit/test_token.c compares the two). */
	jwk = json_object();
	if (!jwk)
		return err_set(e, ENOMEM, "out of memory");
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (json_object_set_new(jwk, "kty", json_string("RSA")) < 0 ||
		    jwk_set_param(jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0) < 0 ||
		    jwk_set_param(jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0) < 0)
			return err_set(e, EINVAL, "cannot express the RSA key as a JWK");
	} else {
		/* pkey_allowed: a named curve, P-256, P-384 or P-521 */
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &len) != 1) {
			ERR_clear_error();
			return err_set(e, EINVAL, "EC key without a named curve");
		}
		switch (OBJ_sn2nid(group)) {
		case NID_X9_62_prime256v1:
			snprintf(group, sizeof(group), "P-256");
			coord = 32;
			break;
		case NID_secp384r1:
			snprintf(group, sizeof(group), "P-384");
			coord = 48;
			break;
		default:
			snprintf(group, sizeof(group), "P-521");
			coord = 66;
			break;
		}
		if (json_object_set_new(jwk, "kty", json_string("EC")) < 0 ||
		    json_object_set_new(jwk, "crv", json_string(group)) < 0 ||
		    jwk_set_param(jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, coord) < 0 ||
		    jwk_set_param(jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, coord) < 0)
			return err_set(e, EINVAL, "cannot express the EC key as a JWK");
	}
	return jwk_finish(&jwk, ret, e);
}

/* ---- signing keys ---- */

static int token_key_new(EVP_PKEY *pkey, struct token_key **ret,
			 struct err *e)
{
	_cleanup_(token_key_freep) struct token_key *k = NULL;
	bool p256;
	int r;

	k = calloc(1, sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pkey);
		return err_set(e, ENOMEM, "out of memory");
	}
	k->pkey = pkey;
	if ((r = pkey_allowed(pkey, &p256, e)) < 0)
		return r;
	if (!p256)
		return err_set(e, EINVAL, "token signing key must be EC P-256 (ES256)");
	if ((r = token_jwk_from_pkey(pkey, &k->jwk, e)) < 0)
		return r;
	if (json_object_set_new(k->jwk, "alg", json_string("ES256")) < 0 ||
	    json_object_set_new(k->jwk, "use", json_string("sig")) < 0)
		return err_set(e, ENOMEM, "out of memory");
	snprintf(k->kid, sizeof(k->kid), "%s", jwk_str(k->jwk, "kid"));
	*ret = TAKE_PTR(k);
	return 0;
}

int token_key_generate(struct token_key **ret, struct err *e)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");

	if (!pkey) {
		ERR_clear_error();
		return err_set(e, EIO, "cannot generate an EC P-256 key");
	}
	return token_key_new(pkey, ret, e);
}

/* Never prompt for a passphrase: encrypted key files are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

int token_key_from_pem(const char *pem, size_t len, struct token_key **ret,
		       struct err *e)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	EVP_PKEY *pkey;

	if (!pem || len == 0 || len > TOKEN_KEY_PEM_MAX)
		return err_set(e, EINVAL, "PEM key of %zu bytes (max %d)", len,
			       TOKEN_KEY_PEM_MAX);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return err_set(e, ENOMEM, "out of memory");
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	ERR_clear_error();
	if (!pkey)
		return err_set(e, EINVAL,
			       "not a PEM private key (or an encrypted one)");
	return token_key_new(pkey, ret, e);
}

int token_key_to_pem(const struct token_key *k, char **ret_pem, struct err *e)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	char *data = NULL, *out;
	long n;

	if (!k || !k->pkey)
		return err_set(e, EINVAL, "no key");
	/* secure-heap memory BIO: cleansed when freed */
	bio = BIO_new(BIO_s_secmem());
	if (!bio)
		return err_set(e, ENOMEM, "out of memory");
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL,
				     NULL) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "cannot encode the private key as PKCS#8 PEM");
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || !data)
		return err_set(e, EIO, "cannot encode the private key");
	out = malloc((size_t)n + 1);
	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*ret_pem = out;
	return 0;
}

void token_key_free(struct token_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	json_decref(k->jwk);
	free(k);
}

void token_claims_clear(struct token_claims *c)
{
	if (!c)
		return;
	json_decref(c->cnf_jwk);
	c->cnf_jwk = NULL;
}

int token_new_jti(char out[64])
{
	uint8_t r[TOKEN_JTI_BYTES];

	if (RAND_bytes(r, sizeof(r)) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	b64url_encode(r, sizeof(r), out);
	return 0;
}

/* ---- issuing ---- */

static json_t *trust_vector(enum token_status s)
{
	int v[ARRAY_SIZE(tv_required)];
	json_t *tv = json_object();

	for (size_t i = 0; i < ARRAY_SIZE(tv_required); i++)
		v[i] = s == TOKEN_AFFIRMING ? AR4SI_AFFIRMING :
		       s == TOKEN_CONTRAINDICATED ? AR4SI_CONTRAINDICATED :
		       /* warning: the host is identified by an admin-trusted
			* key, not by TPM-rooted hardware evidence */
		       (streq(tv_required[i], "instance-identity") ||
			streq(tv_required[i], "hardware")) ? AR4SI_WARNING :
							     AR4SI_AFFIRMING;
	if (!tv)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(tv_required); i++)
		if (json_object_set_new(tv, tv_required[i], json_integer(v[i])) < 0) {
			json_decref(tv);
			return NULL;
		}
	return tv;
}

/* Compact JWS ES256 signature of in[0..n): raw r || s, base64url. */
static int es256_sign(EVP_PKEY *pkey, const char *in, size_t n,
		      char out[ES256_SIG_SIZE * 2], struct err *e)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = NULL;
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
	uint8_t der[ES256_DER_MAX], raw[ES256_SIG_SIZE];
	size_t der_len = sizeof(der);
	const unsigned char *p = der;
	const BIGNUM *r, *s;

	m = EVP_MD_CTX_new();
	if (!m || EVP_DigestSignInit(m, NULL, sha256_md(), NULL, pkey) != 1 ||
	    EVP_DigestSign(m, der, &der_len, (const unsigned char *)in, n) != 1 ||
	    !(sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len))) {
		ERR_clear_error();
		return err_set(e, EIO, "ES256 signature failed");
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, ES256_COORD_SIZE) != ES256_COORD_SIZE ||
	    BN_bn2binpad(s, raw + ES256_COORD_SIZE, ES256_COORD_SIZE) !=
		    ES256_COORD_SIZE)
		return err_set(e, EIO, "ES256 signature: r or s too large");
	b64url_encode(raw, sizeof(raw), out);
	return 0;
}

static int check_claim_str(const char *s, size_t cap, const char *what,
			   bool may_be_empty, struct err *e)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		return err_set(e, EINVAL, "claim %s is not terminated", what);
	if (n == 0 && !may_be_empty)
		return err_set(e, EINVAL, "claim %s is empty", what);
	return 0;
}

int token_issue(const struct token_key *key, const struct token_claims *c,
		char **ret_jwt, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *claims = NULL,
				       *cnf = NULL, *tv = NULL;
	_cleanup_free_ char *hdr_s = NULL, *claims_s = NULL, *jwt = NULL;
	char jti[64], thp[64], sig[ES256_SIG_SIZE * 2];
	size_t hl, cl, h64, c64, total;
	int r;

	if (!key || !key->pkey || !c || !ret_jwt)
		return err_set(e, EINVAL, "token_issue: missing argument");
	if ((unsigned)c->status >= ARRAY_SIZE(status_names) ||
	    (unsigned)c->mode >= ARRAY_SIZE(mode_names))
		return err_set(e, EINVAL, "token_issue: bad status or mode");
	if (c->iat < 0 || c->exp <= c->iat)
		return err_set(e, EINVAL,
			       "token_issue: exp %" PRId64 " not after iat %" PRId64,
			       c->exp, c->iat);
	if ((r = check_claim_str(c->host, sizeof(c->host), "shieldvm.host", false, e)) < 0 ||
	    (r = check_claim_str(c->policy_id, sizeof(c->policy_id),
				 "ear.appraisal-policy-id", false, e)) < 0 ||
	    (r = check_claim_str(c->baseline, sizeof(c->baseline),
				 "shieldvm.baseline", true, e)) < 0 ||
	    (r = check_claim_str(c->verifier_build, sizeof(c->verifier_build),
				 "ear.verifier-id.build", false, e)) < 0 ||
	    (r = check_claim_str(c->jti, sizeof(c->jti), "jti", true, e)) < 0)
		return r;
	if ((r = cnf_jwk_check(c->cnf_jwk, e)) < 0) {
		err_prefix(e, "token_issue");
		return -EINVAL;
	}
	if (c->jti[0]) {
		memcpy(jti, c->jti, strlen(c->jti) + 1);
	} else if (token_new_jti(jti) < 0) {
		return err_set(e, EIO, "token_issue: no randomness for jti");
	}

	/* cnf.jwk: the transport key, public members only, kid = thumbprint */
	if ((r = token_jwk_thumbprint(c->cnf_jwk, thp, e)) < 0)
		return r;
	cnf = json_deep_copy(c->cnf_jwk);
	tv = trust_vector(c->status);
	if (!cnf || !tv || json_object_set_new(cnf, "kid", json_string(thp)) < 0)
		return err_set(e, ENOMEM, "out of memory");

	hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT",
			"kid", key->kid);
	claims = json_pack(
		"{s:s, s:I, s:I, s:{s:s, s:s},"
		" s:{s:{s:s, s:O, s:s, s:s, s:s, s:s}}, s:{s:O}, s:s}",
		"eat_profile", TOKEN_EAR_PROFILE,
		"iat", (json_int_t)c->iat,
		"exp", (json_int_t)c->exp,
		"ear.verifier-id",
			"developer", TOKEN_VERIFIER_DEVELOPER,
			"build", c->verifier_build,
		"submods",
			"shieldvm-host",
				"ear.status", status_names[c->status],
				"ear.trustworthiness-vector", tv,
				"ear.appraisal-policy-id", c->policy_id,
				"shieldvm.attestation-mode", mode_names[c->mode],
				"shieldvm.host", c->host,
				"shieldvm.baseline", c->baseline,
		"cnf", "jwk", cnf,
		"jti", jti);
	if (!hdr || !claims)
		return err_set(e, ENOMEM, "token_issue: cannot build the claims");
	hdr_s = json_dumps(hdr, JSON_COMPACT);
	claims_s = json_dumps(claims, JSON_COMPACT);
	if (!hdr_s || !claims_s)
		return err_set(e, ENOMEM, "out of memory");
	hl = strlen(hdr_s);
	cl = strlen(claims_s);
	h64 = b64url_encoded_len(hl);
	c64 = b64url_encoded_len(cl);
	total = h64 + 1 + c64 + 1 + b64url_encoded_len(ES256_SIG_SIZE);
	if (total > TOKEN_MAX_SIZE)
		return err_set(e, EINVAL,
			       "token_issue: token of %zu bytes exceeds %d", total,
			       TOKEN_MAX_SIZE);
	jwt = malloc(total + 1);
	if (!jwt)
		return err_set(e, ENOMEM, "out of memory");
	b64url_encode((const uint8_t *)hdr_s, hl, jwt);
	jwt[h64] = '.';
	b64url_encode((const uint8_t *)claims_s, cl, jwt + h64 + 1);
	if ((r = es256_sign(key->pkey, jwt, h64 + 1 + c64, sig, e)) < 0)
		return r;
	jwt[h64 + 1 + c64] = '.';
	memcpy(jwt + h64 + 1 + c64 + 1, sig, strlen(sig) + 1);
	*ret_jwt = TAKE_PTR(jwt);
	return 0;
}

/* ---- verification ---- */

static const json_t *find_key(const json_t *jwks, const char *kid,
			      struct err *e)
{
	const json_t *keys = json_object_get(jwks, "keys");
	size_t n = json_array_size(keys);

	if (!json_is_array(keys)) {
		err_set(e, EINVAL, "JWK Set without a \"keys\" array");
		return NULL;
	}
	if (n > TOKEN_MAX_JWKS_KEYS)
		n = TOKEN_MAX_JWKS_KEYS;
	for (size_t i = 0; i < n; i++) {
		const json_t *k = json_array_get(keys, i);
		const char *id = jwk_str(k, "kid");

		if (id && streq(id, kid))
			return k;
	}
	err_set(e, EKEYREJECTED, "token signed by unknown key \"%.64s\"", kid);
	return NULL;
}

static int es256_verify(const json_t *jwk, const char *in, size_t n,
			const uint8_t raw[ES256_SIG_SIZE], struct err *e)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = NULL;
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
	uint8_t der[ES256_DER_MAX], *p = der;
	uint8_t point[1 + 2 * ES256_COORD_SIZE];
	BIGNUM *r = NULL, *s = NULL;
	int der_len, rc;
	uint64_t h;

	if ((rc = jwk_to_p256(jwk, &pkey, point, e)) < 0)
		return rc;
	h = verified_hash(point, in, n, raw);
	if (verified_get(h, point, in, n, raw))
		return 0;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, ES256_COORD_SIZE, NULL);
	s = BN_bin2bn(raw + ES256_COORD_SIZE, ES256_COORD_SIZE, NULL);
	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		return err_set(e, ENOMEM, "out of memory");
	}
	der_len = i2d_ECDSA_SIG(sig, NULL);
	if (der_len <= 0 || der_len > (int)sizeof(der) ||
	    i2d_ECDSA_SIG(sig, &p) != der_len) {
		ERR_clear_error();
		return err_set(e, EIO, "cannot encode the ECDSA signature");
	}
	m = EVP_MD_CTX_new();
	if (!m || EVP_DigestVerifyInit(m, NULL, sha256_md(), NULL, pkey) != 1) {
		ERR_clear_error();
		return err_set(e, EIO, "ES256 verification setup failed");
	}
	rc = EVP_DigestVerify(m, der, (size_t)der_len, (const unsigned char *)in,
			      n);
	ERR_clear_error();
	if (rc != 1)
		return err_set(e, EKEYREJECTED, "token signature does not verify");
	verified_put(h, point, in, n, raw);
	return 0;
}

/* Decode a segment and parse it as a JSON object (no duplicate names). */
static int segment_json(const char *seg, size_t len, const char *what,
			json_t **ret, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	json_error_t je;
	size_t n;
	json_t *j;

	buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return err_set(e, ENOMEM, "out of memory");
	if (b64url_decode(seg, len, buf, len / 4 * 3 + 3, &n) < 0)
		return err_set(e, EBADMSG, "token %s is not base64url (unpadded)",
			       what);
	j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return err_set(e, EBADMSG, "token %s is not JSON: %s", what,
			       je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(e, EBADMSG, "token %s is not a JSON object", what);
	}
	*ret = j;
	return 0;
}

static const char *const alg_allowed[] = { "ES256" };

static int check_header(const json_t *hdr, const char **ret_kid,
			struct err *e)
{
	const char *alg = jwk_str(hdr, "alg"), *kid = jwk_str(hdr, "kid");
	const json_t *typ = json_object_get(hdr, "typ");
	bool ok = false;

	if (!alg)
		return err_set(e, EBADMSG, "token header: \"alg\" missing or not a string");
	for (size_t i = 0; i < ARRAY_SIZE(alg_allowed); i++)
		ok = ok || streq(alg, alg_allowed[i]);
	if (!ok)
		return err_set(e, EKEYREJECTED,
			       "token header: alg \"%.32s\" not allowed (ES256)", alg);
	if (json_object_get(hdr, "crit"))
		return err_set(e, EBADMSG,
			       "token header: \"crit\" extensions are not supported");
	if (typ && (!json_is_string(typ) || !streq(json_string_value(typ), "JWT")))
		return err_set(e, EBADMSG, "token header: typ is not \"JWT\"");
	if (!kid || !kid[0])
		return err_set(e, EKEYREJECTED,
			       "token header: \"kid\" missing or not a string");
	*ret_kid = kid;
	return 0;
}

static int get_member(const json_t *o, const char *path, const char *name,
		      json_type type, const json_t **ret, struct err *e)
{
	static const char *const type_names[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
		[JSON_REAL] = "a number",    [JSON_TRUE] = "a boolean",
		[JSON_FALSE] = "a boolean",  [JSON_NULL] = "null",
	};
	const json_t *v = json_object_get(o, name);

	if (!v)
		return err_set(e, EBADMSG, "claim %s%s is missing", path, name);
	if (json_typeof(v) != type)
		return err_set(e, EBADMSG, "claim %s%s is not %s", path, name,
			       type_names[type]);
	*ret = v;
	return 0;
}

static int get_string(const json_t *o, const char *path, const char *name,
		      char *out, size_t cap, struct err *e)
{
	const json_t *v;
	size_t n;
	int r;

	if ((r = get_member(o, path, name, JSON_STRING, &v, e)) < 0)
		return r;
	n = json_string_length(v);
	if (n >= cap)
		return err_set(e, EBADMSG, "claim %s%s is %zu bytes (max %zu)",
			       path, name, n, cap - 1);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

static int lookup_name(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (streq(s, names[i]))
			return (int)i;
	return -1;
}

static int check_trust_vector(const json_t *tv, struct err *e)
{
	const char *k;
	json_t *v;

	for (size_t i = 0; i < ARRAY_SIZE(tv_required); i++)
		if (!json_object_get(tv, tv_required[i]))
			return err_set(e, EBADMSG,
				       "claim ear.trustworthiness-vector.%s is missing",
				       tv_required[i]);
	json_object_foreach((json_t *)tv, k, v) {
		bool known = false;

		for (size_t i = 0; i < ARRAY_SIZE(tv_required); i++)
			known = known || streq(k, tv_required[i]);
		for (size_t i = 0; i < ARRAY_SIZE(tv_optional); i++)
			known = known || streq(k, tv_optional[i]);
		if (!known)
			return err_set(e, EBADMSG,
				       "claim ear.trustworthiness-vector has unknown member \"%.64s\"",
				       k);
		if (!json_is_integer(v) || json_integer_value(v) < AR4SI_MIN ||
		    json_integer_value(v) > AR4SI_MAX)
			return err_set(e, EBADMSG,
				       "claim ear.trustworthiness-vector.%s is not an integer in %d..%d",
				       k, AR4SI_MIN, AR4SI_MAX);
	}
	return 0;
}

static int parse_claims(const json_t *p, int64_t now, struct token_claims *c,
			struct err *e)
{
	const json_t *v, *vid, *subs, *sub, *tv, *cnf, *jwk;
	char buf[64];
	int r, idx;

	if ((r = get_member(p, "", "eat_profile", JSON_STRING, &v, e)) < 0)
		return r;
	if (!streq(json_string_value(v), TOKEN_EAR_PROFILE))
		return err_set(e, EBADMSG, "claim eat_profile is \"%.80s\", expected \"%s\"",
			       json_string_value(v), TOKEN_EAR_PROFILE);
	if ((r = get_member(p, "", "iat", JSON_INTEGER, &v, e)) < 0)
		return r;
	c->iat = json_integer_value(v);
	if ((r = get_member(p, "", "exp", JSON_INTEGER, &v, e)) < 0)
		return r;
	c->exp = json_integer_value(v);
	if (c->iat < 0 || c->exp <= c->iat)
		return err_set(e, EBADMSG, "claims: exp %" PRId64
			       " is not after iat %" PRId64, c->exp, c->iat);
	if ((r = get_string(p, "", "jti", c->jti, sizeof(c->jti), e)) < 0)
		return r;
	if (!c->jti[0])
		return err_set(e, EBADMSG, "claim jti is empty");

	if ((r = get_member(p, "", "ear.verifier-id", JSON_OBJECT, &vid, e)) < 0 ||
	    (r = get_string(vid, "ear.verifier-id.", "developer", buf,
			    sizeof(buf), e)) < 0 ||
	    (r = get_string(vid, "ear.verifier-id.", "build", c->verifier_build,
			    sizeof(c->verifier_build), e)) < 0)
		return r;

	if ((r = get_member(p, "", "submods", JSON_OBJECT, &subs, e)) < 0 ||
	    (r = get_member(subs, "submods.", "shieldvm-host", JSON_OBJECT,
			    &sub, e)) < 0)
		return r;
#define SUB "submods.shieldvm-host."
	if ((r = get_string(sub, SUB, "ear.status", buf, sizeof(buf), e)) < 0)
		return r;
	idx = lookup_name(buf, status_names, ARRAY_SIZE(status_names));
	if (idx < 0)
		return err_set(e, EBADMSG, "claim " SUB "ear.status \"%s\" is unknown",
			       buf);
	c->status = (enum token_status)idx;
	if ((r = get_member(sub, SUB, "ear.trustworthiness-vector", JSON_OBJECT,
			    &tv, e)) < 0 ||
	    (r = check_trust_vector(tv, e)) < 0)
		return r;
	if ((r = get_string(sub, SUB, "ear.appraisal-policy-id", c->policy_id,
			    sizeof(c->policy_id), e)) < 0 ||
	    (r = get_string(sub, SUB, "shieldvm.host", c->host,
			    sizeof(c->host), e)) < 0 ||
	    (r = get_string(sub, SUB, "shieldvm.baseline", c->baseline,
			    sizeof(c->baseline), e)) < 0 ||
	    (r = get_string(sub, SUB, "shieldvm.attestation-mode", buf,
			    sizeof(buf), e)) < 0)
		return r;
	idx = lookup_name(buf, mode_names, ARRAY_SIZE(mode_names));
	if (idx < 0)
		return err_set(e, EBADMSG,
			       "claim " SUB "shieldvm.attestation-mode \"%s\" is unknown",
			       buf);
	c->mode = (enum token_mode)idx;
#undef SUB
	if (!c->host[0])
		return err_set(e, EBADMSG, "claim shieldvm.host is empty");

	if ((r = get_member(p, "", "cnf", JSON_OBJECT, &cnf, e)) < 0 ||
	    (r = get_member(cnf, "cnf.", "jwk", JSON_OBJECT, &jwk, e)) < 0)
		return r;
	if ((r = cnf_jwk_check(jwk, e)) < 0)
		return r;

	/* Time last: a well-formed but stale token says so. */
	if (c->exp <= now - TOKEN_MAX_CLOCK_SKEW)
		return err_set(e, ETIME, "token expired at %" PRId64 " (now %" PRId64 ")",
			       c->exp, now);
	if (c->iat > now + TOKEN_MAX_CLOCK_SKEW)
		return err_set(e, ETIME,
			       "token issued at %" PRId64 ", in the future (now %" PRId64 ")",
			       c->iat, now);
	c->cnf_jwk = json_deep_copy(jwk);
	if (!c->cnf_jwk)
		return err_set(e, ENOMEM, "out of memory");
	return 0;
}

int token_verify(const json_t *jwks, const char *jwt, int64_t now,
		 struct token_claims *ret, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *payload = NULL;
	struct token_claims c = { 0 };
	uint8_t sig[ES256_SIG_SIZE];
	const char *dot1, *dot2, *kid = NULL;
	const json_t *jwk;
	size_t len, n;
	int r;

	if (!jwt)
		return err_set(e, EBADMSG, "no token");
	len = strnlen(jwt, TOKEN_MAX_SIZE + 1);
	if (len > TOKEN_MAX_SIZE)
		return err_set(e, EBADMSG, "token larger than %d bytes",
			       TOKEN_MAX_SIZE);
	dot1 = memchr(jwt, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
	if (!dot1 || !dot2 ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jwt)))
		return err_set(e, EBADMSG,
			       "token is not a compact JWS (three segments)");
	if (dot1 == jwt || dot2 == dot1 + 1 || dot2 + 1 == jwt + len)
		return err_set(e, EBADMSG, "token has an empty segment");
	if (!b64url_valid(jwt, (size_t)(dot1 - jwt)) ||
	    !b64url_valid(dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
	    !b64url_valid(dot2 + 1, len - (size_t)(dot2 + 1 - jwt)))
		return err_set(e, EBADMSG,
			       "token segment is not base64url (unpadded, URL-safe alphabet)");

	if ((r = segment_json(jwt, (size_t)(dot1 - jwt), "header", &hdr, e)) < 0 ||
	    (r = check_header(hdr, &kid, e)) < 0)
		return r;
	if (!(jwk = find_key(jwks, kid, e)))
		return json_is_object(jwks) && json_is_array(json_object_get(jwks, "keys")) ?
			       -EKEYREJECTED : -EINVAL;
	if (b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - jwt), sig,
			  sizeof(sig), &n) < 0 ||
	    n != sizeof(sig))
		return err_set(e, EBADMSG,
			       "token signature is not %d bytes of base64url (r || s)",
			       ES256_SIG_SIZE);
	if ((r = es256_verify(jwk, jwt, (size_t)(dot2 - jwt), sig, e)) < 0)
		return r;

	/* Authentic from here: parse and check the claims. */
	if ((r = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1), "payload",
			      &payload, e)) < 0)
		return r;
	if ((r = parse_claims(payload, now, &c, e)) < 0) {
		token_claims_clear(&c);
		return r;
	}
	if (ret)
		*ret = c;
	else
		token_claims_clear(&c);
	return 0;
}
