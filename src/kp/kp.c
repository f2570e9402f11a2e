/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key protectors (format in kp.h, reference in docs/key-protection.md).
 *
 * Parsing is written for hostile input: the size is checked first, every
 * object's members are allow-listed, every base64url field is decoded
 * strictly and to a bounded size, the descriptor's signature is checked
 * before anything it says is used, recipients must match the descriptor's
 * guardians one to one and in order, and the seal must name this exact
 * KP (digest) and generation. Nothing is decrypted by kp_parse.
 */
#include "kp/kp.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "kp/jw.h"

#define KP_TYPE "shieldvm-kp"
#define KP_VERSION 1
#define KP_DESCRIPTOR_CTY "shieldvm-kp-descriptor+json"
#define KP_SEAL_CTY "shieldvm-kp-seal+json"
#define KP_WRAP_CTY "shieldvm-tk+json"
#define KP_ENC "A256GCM"
#define KP_GEN_HEADER "svm.gen"
#define KP_DESCRIPTOR_MAX (256 * 1024) /* decoded descriptor payload */
#define KP_SEAL_MAX 1024               /* decoded seal payload */
#define KP_PLAINTEXT_MAX 1024          /* decrypted wrap payload */
#define KP_RECIPIENTS_MAX (KP_MAX_GUARDIANS + 1)

DEFINE_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)

struct kp {
	json_t *root;
	char vm_id[KP_VM_ID_LEN + 1];
	enum kp_policy policy;
	uint64_t generation;
	bool has_config;
	uint8_t config[KP_DIGEST_SIZE];
	uint8_t digest[KP_DIGEST_SIZE];
	struct guardian *owner;
	struct guardian *guardians[KP_MAX_GUARDIANS];
	size_t n_guardians;
	char sealed_by[GUARDIAN_ID_MAX];
	int64_t created;
	/* owner and guardians belong to this verified-descriptor cache
	 * entry (a reference) rather than to the KP */
	struct desc_entry *shared;
};

static const char *const policy_names[] = {
	[KP_POLICY_SHIELDED] = "shielded",
	[KP_POLICY_ENCRYPTION_SUPPORTED] = "encryption-supported",
};

int kp_policy_from_string(const char *s, enum kp_policy *ret)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(policy_names); i++)
		if (streq(s, policy_names[i])) {
			*ret = (enum kp_policy)i;
			return 0;
		}
	return -EINVAL;
}

const char *kp_policy_to_string(enum kp_policy p)
{
	return (unsigned)p < ARRAY_SIZE(policy_names) ? policy_names[p] : "unknown";
}

static void desc_entry_put(struct desc_entry *d);

void kp_free(struct kp *kp)
{
	if (!kp)
		return;
	json_decref(kp->root);
	if (kp->shared) {
		desc_entry_put(kp->shared);
	} else {
		guardian_free(kp->owner);
		for (size_t i = 0; i < kp->n_guardians; i++)
			guardian_free(kp->guardians[i]);
	}
	free(kp);
}

const char *kp_vm_id(const struct kp *kp) { return kp->vm_id; }
enum kp_policy kp_policy(const struct kp *kp) { return kp->policy; }
uint64_t kp_generation(const struct kp *kp) { return kp->generation; }
const uint8_t *kp_config_digest(const struct kp *kp)
{
	return kp->has_config ? kp->config : NULL;
}
const uint8_t *kp_digest(const struct kp *kp) { return kp->digest; }
const struct guardian *kp_owner(const struct kp *kp) { return kp->owner; }
size_t kp_guardian_count(const struct kp *kp) { return kp->n_guardians; }
const struct guardian *kp_guardian(const struct kp *kp, size_t i)
{
	return i < kp->n_guardians ? kp->guardians[i] : NULL;
}
const char *kp_sealed_by(const struct kp *kp) { return kp->sealed_by; }
int64_t kp_created(const struct kp *kp) { return kp->created; }

/* Recipient i: 0 the owner, then the guardians. */
static const struct guardian *recipient(const struct kp *kp, size_t i)
{
	return i == 0 ? kp->owner : kp->guardians[i - 1];
}

bool kp_has_recipient(const struct kp *kp, const char *guardian_id)
{
	for (size_t i = 0; kp && guardian_id && i <= kp->n_guardians; i++)
		if (streq(recipient(kp, i)->id, guardian_id))
			return true;
	return false;
}

void kp_digest_text(const uint8_t d[KP_DIGEST_SIZE], char out[48])
{
	jw_b64_encode_to(d, KP_DIGEST_SIZE, out);
}

static const char *sig_kid(const struct guardian *g)
{
	return json_string_value(json_object_get(g->sig, "kid"));
}

static const char *sig_alg(const struct guardian *g)
{
	return json_string_value(json_object_get(g->sig, "alg"));
}

static const char *enc_alg(const struct guardian *g)
{
	return json_string_value(json_object_get(g->enc, "alg"));
}

static bool vm_id_valid(const char *s)
{
	if (strlen(s) != KP_VM_ID_LEN)
		return false;
	for (size_t i = 0; i < KP_VM_ID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* A generation member: an integer 0..KP_MAX_GENERATION. */
static int get_generation(const json_t *o, const char *name, const char *what,
			  uint64_t *ret, struct err *e)
{
	const json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > KP_MAX_GENERATION)
		return err_set(e, EBADMSG, "%s: \"%s\" is not an integer in 0..2^53",
			       what, name);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* A base64url member of exactly n bytes. */
static int get_b64_exact(const json_t *o, const char *name, const char *what,
			 uint8_t *out, size_t n, struct err *e)
{
	const char *s;
	size_t len;
	int r;

	if ((r = jw_str(o, name, what, &s, e)) < 0)
		return r;
	if (jw_b64_decode(s, strlen(s), out, n, &len) < 0 || len != n)
		return err_set(e, EBADMSG, "%s: \"%s\" is not %zu bytes of base64url",
			       what, name, n);
	return 0;
}

/* ---- digest ---- */

static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
	ERR_clear_error();
}

/* SHA-256 fetched once (EVP_sha256() is looked up at every init). */
static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_fetched ? sha256_fetched : EVP_sha256();
}

static int compute_digest(const json_t *desc, const json_t *wrap,
			  uint8_t out[KP_DIGEST_SIZE], struct err *e)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = EVP_MD_CTX_new();
	const char *parts[] = {
		json_string_value(json_object_get(desc, "protected")),
		json_string_value(json_object_get(desc, "payload")),
		json_string_value(json_object_get(desc, "signature")),
		json_string_value(json_object_get(wrap, "protected")),
		json_string_value(json_object_get(wrap, "iv")),
		json_string_value(json_object_get(wrap, "ciphertext")),
		json_string_value(json_object_get(wrap, "tag")),
	};
	static const char seps[] = "..|...";
	unsigned int len = 0;

	if (!m || EVP_DigestInit_ex(m, sha256(), NULL) != 1)
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		if (!parts[i])
			return err_set(e, EBADMSG, "KP digest: member missing");
		if (EVP_DigestUpdate(m, parts[i], strlen(parts[i])) != 1 ||
		    (i + 1 < ARRAY_SIZE(parts) &&
		     EVP_DigestUpdate(m, &seps[i], 1) != 1))
			goto fail;
	}
	if (EVP_DigestFinal_ex(m, out, &len) != 1 || len != KP_DIGEST_SIZE)
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	return err_set(e, EIO, "SHA-256 failed");
}

/* ---- parsing ---- */

static const char *const top_members[] = { "type", "version", "descriptor",
					   "wrap", "seal" };
static const char *const desc_members[] = { "vm_id", "policy", "config_digest",
					    "owner", "guardians", "iat" };
static const char *const wrap_members[] = { "protected", "iv", "ciphertext",
					    "tag", "recipients" };
static const char *const wrap_hdr_members[] = { "enc", "cty", KP_GEN_HEADER };
static const char *const rcp_members[] = { "header", "encrypted_key" };
static const char *const rcp_hdr_members[] = { "alg", "kid", "epk" };
static const char *const seal_members[] = { "vm_id", "generation", "digest" };

static int parse_descriptor_full(struct kp *kp, const json_t *desc,
				 struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *p = NULL;
	const json_t *gs, *iat, *cd;
	const char *s;
	size_t n;
	int r;

	if ((r = jw_jws_open(desc, KP_DESCRIPTOR_CTY, KP_DESCRIPTOR_MAX, &hdr, &p,
			     e)) < 0)
		return r;
	if ((r = jw_only_members(p, desc_members, ARRAY_SIZE(desc_members),
				 "descriptor", e)) < 0 ||
	    (r = jw_str(p, "vm_id", "descriptor", &s, e)) < 0)
		return r;
	if (!vm_id_valid(s))
		return err_set(e, EBADMSG,
			       "descriptor: vm_id \"%.40s\" is not a lower-case UUID", s);
	memcpy(kp->vm_id, s, KP_VM_ID_LEN + 1);
	if ((r = jw_str(p, "policy", "descriptor", &s, e)) < 0)
		return r;
	if (kp_policy_from_string(s, &kp->policy) < 0)
		return err_set(e, EBADMSG, "descriptor: unknown policy \"%.40s\"", s);
	cd = json_object_get(p, "config_digest");
	if (cd) {
		if ((r = get_b64_exact(p, "config_digest", "descriptor", kp->config,
				       KP_DIGEST_SIZE, e)) < 0)
			return r;
		kp->has_config = true;
	}
	iat = json_object_get(p, "iat");
	if (!json_is_integer(iat) || json_integer_value(iat) < 0)
		return err_set(e, EBADMSG, "descriptor: \"iat\" is not a NumericDate");
	kp->created = json_integer_value(iat);

	if ((r = guardian_from_public_json(json_object_get(p, "owner"), &kp->owner,
					   e)) < 0) {
		err_prefix(e, "descriptor owner");
		return r;
	}
	gs = json_object_get(p, "guardians");
	if (!json_is_array(gs) || json_array_size(gs) == 0)
		return err_set(e, EBADMSG, "descriptor: \"guardians\" is not a non-empty array");
	n = json_array_size(gs);
	if (n > KP_MAX_GUARDIANS)
		return err_set(e, E2BIG, "descriptor: %zu guardians (max %d)", n,
			       KP_MAX_GUARDIANS);
	for (size_t i = 0; i < n; i++) {
		struct guardian *g;

		if ((r = guardian_from_public_json(json_array_get(gs, i), &g, e)) < 0) {
			err_prefix(e, "descriptor guardian %zu", i);
			return r;
		}
		kp->guardians[kp->n_guardians++] = g;
		for (size_t j = 0; j < kp->n_guardians; j++) {
			const struct guardian *o = j == kp->n_guardians - 1 ?
							   kp->owner : kp->guardians[j];

			if (streq(o->id, g->id) || streq(sig_kid(o), sig_kid(g)))
				return err_set(e, EBADMSG,
					       "descriptor: guardian %zu (%s) repeats %s",
					       i, g->id, o == kp->owner ? "the owner" : "another guardian");
		}
	}

	/* the owner's signature over all of the above */
	s = json_string_value(json_object_get(hdr, "kid"));
	if (!streq(s, sig_kid(kp->owner)))
		return err_set(e, EKEYREJECTED,
			       "descriptor is signed by kid \"%.64s\", not by its owner", s);
	if ((r = jw_jws_verify(desc, kp->owner->sig_key, sig_alg(kp->owner), e)) < 0) {
		err_prefix(e, "descriptor (owner signature)");
		return r;
	}
	return 0;
}

/*
 * Verified descriptors, by their exact bytes. The descriptor is the same
 * in every generation of a VM's KP (kp_roll keeps it), so hgsd would
 * otherwise check the same owner signature, parse the same payload and
 * rebuild the same guardian keys at every start. An entry is made only
 * after parse_descriptor_full accepted the descriptor, and holds only what
 * that parse produced from those bytes (public keys, VM id, policy,
 * configuration digest, iat): a descriptor whose protected header, payload
 * and signature are byte for byte those of an entry gets the same result
 * again, and any other one is parsed and verified in full. Failures are
 * never cached. Bounded: KP_DESC_CACHE_SIZE entries, least recently used
 * out first, descriptors over KP_DESC_CACHE_MAX_BYTES not cached. Entries
 * are shared by the KPs that use them (reference counted, read-only).
 */
#define KP_DESC_CACHE_SIZE 256
#define KP_DESC_CACHE_MAX_BYTES (16 * 1024)

struct desc_entry {
	unsigned refs; /* under desc_cache_lock */
	uint64_t hash, used;
	size_t len[3]; /* protected, payload, signature */
	char *bytes;   /* the three, one after the other */
	char vm_id[KP_VM_ID_LEN + 1];
	enum kp_policy policy;
	bool has_config;
	uint8_t config[KP_DIGEST_SIZE];
	int64_t created;
	struct guardian *owner;
	struct guardian *guardians[KP_MAX_GUARDIANS];
	size_t n_guardians;
};

static struct desc_entry *desc_cache[KP_DESC_CACHE_SIZE];
static uint64_t desc_cache_clock;
static pthread_mutex_t desc_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The descriptor's three strings, when it is exactly a flattened JWS of
 * strings (anything else goes to the full parse, which says what is
 * wrong). */
struct desc_key {
	const char *part[3];
	size_t len[3];
	uint64_t hash;
};

static bool desc_key_get(const json_t *desc, struct desc_key *k)
{
	static const char *const names[3] = { "protected", "payload",
					      "signature" };
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	if (!json_is_object(desc) || json_object_size(desc) != 3)
		return false;
	for (size_t i = 0; i < 3; i++) {
		const json_t *v = json_object_get(desc, names[i]);

		if (!json_is_string(v))
			return false;
		k->part[i] = json_string_value(v);
		k->len[i] = json_string_length(v);
		for (size_t j = 0; j < k->len[i]; j++) {
			h ^= (uint8_t)k->part[i][j];
			h *= 1099511628211ull;
		}
		h ^= '.';
		h *= 1099511628211ull;
	}
	k->hash = h;
	return k->len[0] + k->len[1] + k->len[2] <= KP_DESC_CACHE_MAX_BYTES;
}

static bool desc_key_equal(const struct desc_entry *d, const struct desc_key *k)
{
	const char *p = d->bytes;

	if (d->hash != k->hash)
		return false;
	for (size_t i = 0; i < 3; i++) {
		if (d->len[i] != k->len[i] ||
		    memcmp(p, k->part[i], k->len[i]) != 0)
			return false;
		p += d->len[i];
	}
	return true;
}

static void desc_entry_free(struct desc_entry *d)
{
	if (!d)
		return;
	guardian_free(d->owner);
	for (size_t i = 0; i < d->n_guardians; i++)
		guardian_free(d->guardians[i]);
	free(d->bytes);
	free(d);
}

static void desc_entry_put(struct desc_entry *d)
{
	bool last;

	pthread_mutex_lock(&desc_cache_lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&desc_cache_lock);
	if (last)
		desc_entry_free(d);
}

/* What entry d says, into kp (which takes a reference to d). */
static void desc_entry_use(struct kp *kp, struct desc_entry *d)
{
	memcpy(kp->vm_id, d->vm_id, sizeof(kp->vm_id));
	kp->policy = d->policy;
	kp->has_config = d->has_config;
	memcpy(kp->config, d->config, sizeof(kp->config));
	kp->created = d->created;
	kp->owner = d->owner;
	for (size_t i = 0; i < d->n_guardians; i++)
		kp->guardians[i] = d->guardians[i];
	kp->n_guardians = d->n_guardians;
	kp->shared = d;
}

static bool desc_cache_lookup(struct kp *kp, const struct desc_key *k)
{
	struct desc_entry *d = NULL;

	pthread_mutex_lock(&desc_cache_lock);
	for (size_t i = 0; i < KP_DESC_CACHE_SIZE && !d; i++)
		if (desc_cache[i] && desc_key_equal(desc_cache[i], k))
			d = desc_cache[i];
	if (d) {
		d->refs++;
		d->used = ++desc_cache_clock;
	}
	pthread_mutex_unlock(&desc_cache_lock);
	if (d)
		desc_entry_use(kp, d);
	return d != NULL;
}

/* kp has just been verified from the descriptor with key k: move its
 * parsed descriptor into a new entry that kp and the cache share. Out of
 * memory only means not cached. */
static void desc_cache_insert(struct kp *kp, const struct desc_key *k)
{
	struct desc_entry *d = calloc(1, sizeof(*d)), *old = NULL;
	size_t slot = 0;
	char *p;

	if (!d || !(d->bytes = malloc(k->len[0] + k->len[1] + k->len[2] + 1))) {
		free(d);
		return;
	}
	p = d->bytes;
	for (size_t i = 0; i < 3; i++) {
		memcpy(p, k->part[i], k->len[i]);
		p += k->len[i];
		d->len[i] = k->len[i];
	}
	d->hash = k->hash;
	memcpy(d->vm_id, kp->vm_id, sizeof(d->vm_id));
	d->policy = kp->policy;
	d->has_config = kp->has_config;
	memcpy(d->config, kp->config, sizeof(d->config));
	d->created = kp->created;
	d->owner = kp->owner;
	for (size_t i = 0; i < kp->n_guardians; i++)
		d->guardians[i] = kp->guardians[i];
	d->n_guardians = kp->n_guardians;
	d->refs = 2; /* the cache's and kp's */
	kp->shared = d;

	pthread_mutex_lock(&desc_cache_lock);
	d->used = ++desc_cache_clock;
	for (size_t i = 0; i < KP_DESC_CACHE_SIZE; i++) {
		if (!desc_cache[i]) {
			slot = i;
			break;
		}
		if (desc_key_equal(desc_cache[i], k)) {
			/* another thread verified the same one meanwhile */
			d->refs--;
			pthread_mutex_unlock(&desc_cache_lock);
			return;
		}
		if (desc_cache[i]->used < desc_cache[slot]->used)
			slot = i;
	}
	if (desc_cache[slot] && --desc_cache[slot]->refs == 0)
		old = desc_cache[slot];
	desc_cache[slot] = d;
	pthread_mutex_unlock(&desc_cache_lock);
	desc_entry_free(old);
}

static int parse_descriptor(struct kp *kp, const json_t *desc, struct err *e)
{
	struct desc_key k;
	bool cacheable = desc_key_get(desc, &k);
	int r;

	if (cacheable && desc_cache_lookup(kp, &k))
		return 0;
	r = parse_descriptor_full(kp, desc, e);
	if (r == 0 && cacheable)
		desc_cache_insert(kp, &k);
	return r;
}

static int parse_wrap(struct kp *kp, const json_t *wrap, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t iv[JW_IV_SIZE], tag[JW_TAG_SIZE];
	const json_t *rcps;
	const char *s;
	size_t len;
	int r;

	if ((r = jw_only_members(wrap, wrap_members, ARRAY_SIZE(wrap_members),
				 "wrap", e)) < 0 ||
	    (r = jw_str(wrap, "protected", "wrap", &s, e)) < 0)
		return r;
	r = jw_b64_decode_alloc(s, strlen(s), JW_HEADER_MAX, &buf, &len);
	if (r < 0)
		return err_set(e, r == -E2BIG ? E2BIG : EBADMSG, "wrap: protected header %s",
			       r == -E2BIG ? "too large" : "is not base64url");
	if ((r = jw_parse_object((const char *)buf, len, "wrap protected header",
				 &hdr, e)) < 0 ||
	    (r = jw_only_members(hdr, wrap_hdr_members,
				 ARRAY_SIZE(wrap_hdr_members),
				 "wrap protected header", e)) < 0 ||
	    (r = jw_str(hdr, "enc", "wrap protected header", &s, e)) < 0)
		return r;
	if (!streq(s, KP_ENC))
		return err_set(e, EINVAL, "wrap: enc \"%.32s\" not allowed (A256GCM)", s);
	if ((r = jw_str(hdr, "cty", "wrap protected header", &s, e)) < 0)
		return r;
	if (!streq(s, KP_WRAP_CTY))
		return err_set(e, EBADMSG, "wrap: cty is not \"%s\"", KP_WRAP_CTY);
	if ((r = get_generation(hdr, KP_GEN_HEADER, "wrap protected header",
				&kp->generation, e)) < 0)
		return r;

	if ((r = get_b64_exact(wrap, "iv", "wrap", iv, sizeof(iv), e)) < 0 ||
	    (r = get_b64_exact(wrap, "tag", "wrap", tag, sizeof(tag), e)) < 0)
		return r;
	if ((r = jw_str(wrap, "ciphertext", "wrap", &s, e)) < 0)
		return r;
	free(TAKE_PTR(buf));
	r = jw_b64_decode_alloc(s, strlen(s), KP_PLAINTEXT_MAX, &buf, &len);
	if (r < 0)
		return err_set(e, r == -E2BIG ? E2BIG : EBADMSG, "wrap: ciphertext %s",
			       r == -E2BIG ? "too large" : "is not base64url");

	rcps = json_object_get(wrap, "recipients");
	if (!json_is_array(rcps))
		return err_set(e, EBADMSG, "wrap: \"recipients\" is not an array");
	if (json_array_size(rcps) > KP_RECIPIENTS_MAX)
		return err_set(e, E2BIG, "wrap: %zu recipients (max %d)",
			       json_array_size(rcps), KP_RECIPIENTS_MAX);
	if (json_array_size(rcps) != kp->n_guardians + 1)
		return err_set(e, EBADMSG,
			       "wrap: %zu recipients for an owner and %zu guardians",
			       json_array_size(rcps), kp->n_guardians);
	for (size_t i = 0; i <= kp->n_guardians; i++) {
		const struct guardian *g = recipient(kp, i);
		const json_t *rcp = json_array_get(rcps, i), *h, *epk;
		const char *alg, *kid, *want;
		char what[32];
		uint8_t ek[JW_RSA_MAX_BYTES];

		snprintf(what, sizeof(what), "wrap recipient %zu", i);
		if ((r = jw_only_members(rcp, rcp_members, ARRAY_SIZE(rcp_members),
					 what, e)) < 0)
			return r;
		h = json_object_get(rcp, "header");
		if ((r = jw_only_members(h, rcp_hdr_members,
					 ARRAY_SIZE(rcp_hdr_members), what, e)) < 0 ||
		    (r = jw_str(h, "alg", what, &alg, e)) < 0 ||
		    (r = jw_str(h, "kid", what, &kid, e)) < 0)
			return r;
		want = json_string_value(json_object_get(g->enc, "alg"));
		if (!streq(alg, "ECDH-ES+A256KW") && !streq(alg, "RSA-OAEP-256"))
			return err_set(e, EINVAL,
				       "%s: alg \"%.32s\" not allowed (ECDH-ES+A256KW, RSA-OAEP-256)",
				       what, alg);
		if (!streq(kid, g->id))
			return err_set(e, EBADMSG,
				       "%s: kid \"%.64s\" is not guardian %s (owner first, then the descriptor's guardians in order)",
				       what, kid, g->id);
		if (!streq(alg, want))
			return err_set(e, EINVAL, "%s: alg %s, but guardian %s uses %s",
				       what, alg, g->id, want);
		epk = json_object_get(h, "epk");
		if (streq(alg, "ECDH-ES+A256KW") != (epk != NULL))
			return err_set(e, EBADMSG, "%s: epk %s", what,
				       epk ? "with a non-ECDH alg" : "missing");
		if (epk && (r = jw_only_members(epk, (const char *const[]){ "kty", "crv", "x", "y" },
						4, "epk", e)) < 0)
			return r;
		if ((r = jw_str(rcp, "encrypted_key", what, &s, e)) < 0)
			return r;
		if (jw_b64_decode(s, strlen(s), ek, sizeof(ek), &len) < 0)
			return err_set(e, EBADMSG, "%s: encrypted_key is not base64url (or too long)",
				       what);
	}
	return 0;
}

static int parse_seal(struct kp *kp, const json_t *seal, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *p = NULL;
	const struct guardian *signer = NULL;
	uint8_t d[KP_DIGEST_SIZE];
	const char *kid, *s;
	uint64_t gen;
	int r;

	if ((r = jw_jws_open(seal, KP_SEAL_CTY, KP_SEAL_MAX, &hdr, &p, e)) < 0)
		return r;
	kid = json_string_value(json_object_get(hdr, "kid"));
	for (size_t i = 0; i <= kp->n_guardians && !signer; i++)
		if (streq(kid, sig_kid(recipient(kp, i))))
			signer = recipient(kp, i);
	if (!signer)
		return err_set(e, EKEYREJECTED,
			       "seal is signed by kid \"%.64s\", neither the owner nor a listed guardian",
			       kid);
	if ((r = jw_jws_verify(seal, signer->sig_key, sig_alg(signer), e)) < 0) {
		err_prefix(e, "seal (signed by %s)", signer->id);
		return r;
	}
	if ((r = jw_only_members(p, seal_members, ARRAY_SIZE(seal_members), "seal",
				 e)) < 0 ||
	    (r = jw_str(p, "vm_id", "seal", &s, e)) < 0)
		return r;
	if (!streq(s, kp->vm_id))
		return err_set(e, EKEYREJECTED, "seal is for VM %.40s, the descriptor for %s",
			       s, kp->vm_id);
	if ((r = get_generation(p, "generation", "seal", &gen, e)) < 0)
		return r;
	if (gen != kp->generation)
		return err_set(e, EKEYREJECTED,
			       "seal is for generation %" PRIu64 ", the wrap is generation %" PRIu64,
			       gen, kp->generation);
	if ((r = get_b64_exact(p, "digest", "seal", d, sizeof(d), e)) < 0)
		return r;
	if (CRYPTO_memcmp(d, kp->digest, sizeof(d)) != 0)
		return err_set(e, EKEYREJECTED,
			       "seal digest does not match this KP (descriptor or wrap changed)");
	memcpy(kp->sealed_by, signer->id, strlen(signer->id) + 1);
	return 0;
}

/* Everything after the JSON parse; root is a JSON value kp takes a
 * reference to. */
static int parse_root(json_t *root, struct kp **ret, struct err *e)
{
	_cleanup_(kp_freep) struct kp *kp = NULL;
	const json_t *ver;
	const char *t;
	int r;

	kp = calloc(1, sizeof(*kp));
	if (!kp) {
		json_decref(root);
		return err_set(e, ENOMEM, "out of memory");
	}
	kp->root = root;
	if ((r = jw_only_members(kp->root, top_members, ARRAY_SIZE(top_members),
				 "KP", e)) < 0 ||
	    (r = jw_str(kp->root, "type", "KP", &t, e)) < 0)
		return r;
	if (!streq(t, KP_TYPE))
		return err_set(e, EBADMSG, "KP type is \"%.40s\", expected \"%s\"", t,
			       KP_TYPE);
	ver = json_object_get(kp->root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != KP_VERSION)
		return err_set(e, EBADMSG, "KP version is not %d", KP_VERSION);
	if ((r = parse_descriptor(kp, json_object_get(kp->root, "descriptor"), e)) < 0) {
		err_prefix(e, "KP descriptor");
		return r;
	}
	if ((r = parse_wrap(kp, json_object_get(kp->root, "wrap"), e)) < 0) {
		err_prefix(e, "KP");
		return r;
	}
	if ((r = compute_digest(json_object_get(kp->root, "descriptor"),
				json_object_get(kp->root, "wrap"), kp->digest, e)) < 0)
		return r;
	if ((r = parse_seal(kp, json_object_get(kp->root, "seal"), e)) < 0) {
		err_prefix(e, "KP seal");
		return r;
	}
	*ret = TAKE_PTR(kp);
	return 0;
}

int kp_parse(const char *text, size_t len, struct kp **ret, struct err *e)
{
	json_t *root = NULL;
	int r;

	if (!text || !ret)
		return err_set(e, EINVAL, "kp_parse: missing argument");
	if (len > KP_MAX_SIZE)
		return err_set(e, E2BIG, "KP of %zu bytes (max %d)", len,
			       KP_MAX_SIZE);
	if ((r = jw_parse_object(text, len, "KP", &root, e)) < 0)
		return r;
	return parse_root(root, ret, e);
}

int kp_parse_json(const json_t *root, struct kp **ret, struct err *e)
{
	size_t len;
	int r;

	if (!root || !ret)
		return err_set(e, EINVAL, "kp_parse_json: missing argument");
	/* the same limits kp_parse applies to the text, in its order: size
	 * first (of the compact text, counted without writing it), then the
	 * nesting */
	len = jw_compact_size(root);
	if (len > KP_MAX_SIZE)
		return err_set(e, E2BIG, "KP of %zu bytes (max %d)", len,
			       KP_MAX_SIZE);
	if ((r = jw_check_object(root, "KP", e)) < 0)
		return r;
	return parse_root(json_incref((json_t *)root), ret, e);
}

int kp_digest_unverified(const char *text, size_t len,
			 uint8_t out[KP_DIGEST_SIZE], struct err *e)
{
	_cleanup_(json_decrefp) json_t *root = NULL;
	int r;

	if (!text || !out)
		return err_set(e, EINVAL, "kp_digest_unverified: missing argument");
	if (len > KP_MAX_SIZE)
		return err_set(e, E2BIG, "KP of %zu bytes (max %d)", len, KP_MAX_SIZE);
	if ((r = jw_parse_object(text, len, "KP", &root, e)) < 0)
		return r;
	return compute_digest(json_object_get(root, "descriptor"),
			      json_object_get(root, "wrap"), out, e);
}

/* ---- unwrap ---- */

/* The wrap plaintext must repeat what the descriptor and header say. */
static int check_plaintext(const struct kp *kp, const json_t *p,
			   uint8_t tk[KP_TK_SIZE], struct err *e)
{
	static const char *const members[] = { "tk", "vm_id", "policy",
					       "generation", "config_digest" };
	uint8_t cd[KP_DIGEST_SIZE];
	const char *s;
	uint64_t gen;
	int r;

	if ((r = jw_only_members(p, members, ARRAY_SIZE(members), "wrap plaintext",
				 e)) < 0 ||
	    (r = jw_str(p, "vm_id", "wrap plaintext", &s, e)) < 0)
		return r;
	if (!streq(s, kp->vm_id))
		return err_set(e, EKEYREJECTED, "wrap plaintext is for another VM");
	if ((r = jw_str(p, "policy", "wrap plaintext", &s, e)) < 0)
		return r;
	if (!streq(s, kp_policy_to_string(kp->policy)))
		return err_set(e, EKEYREJECTED, "wrap plaintext has another policy");
	if ((r = get_generation(p, "generation", "wrap plaintext", &gen, e)) < 0)
		return r;
	if (gen != kp->generation)
		return err_set(e, EKEYREJECTED, "wrap plaintext has another generation");
	if (json_object_get(p, "config_digest") != NULL) {
		if ((r = get_b64_exact(p, "config_digest", "wrap plaintext", cd,
				       sizeof(cd), e)) < 0)
			return r;
		if (!kp->has_config || memcmp(cd, kp->config, sizeof(cd)) != 0)
			return err_set(e, EKEYREJECTED,
				       "wrap plaintext has another config digest");
	} else if (kp->has_config) {
		return err_set(e, EKEYREJECTED, "wrap plaintext lacks the config digest");
	}
	return get_b64_exact(p, "tk", "wrap plaintext", tk, KP_TK_SIZE, e);
}

int kp_unwrap(const struct kp *kp, const struct guardian *me,
	      uint8_t tk[KP_TK_SIZE], struct err *e)
{
	_cleanup_free_ uint8_t *ct = NULL, *pt = NULL;
	const json_t *wrap, *rcp, *h;
	uint8_t cek[JW_CEK_SIZE], iv[JW_IV_SIZE], tag[JW_TAG_SIZE];
	uint8_t ek[JW_RSA_MAX_BYTES], out[KP_TK_SIZE];
	const char *s, *prot;
	json_t *p = NULL;
	size_t i, ek_len, ct_len;
	int r;

	if (!kp || !me || !tk)
		return err_set(e, EINVAL, "kp_unwrap: missing argument");
	if (!me->has_private)
		return err_set(e, EINVAL, "guardian %s: unwrapping needs its private key",
			       me->id);
	for (i = 0; i <= kp->n_guardians; i++)
		if (streq(recipient(kp, i)->id, me->id))
			break;
	if (i > kp->n_guardians)
		return err_set(e, ENOKEY, "KP has no recipient for guardian %s", me->id);
	wrap = json_object_get(kp->root, "wrap");
	rcp = json_array_get(json_object_get(wrap, "recipients"), i);
	h = json_object_get(rcp, "header");
	s = json_string_value(json_object_get(rcp, "encrypted_key"));
	prot = json_string_value(json_object_get(wrap, "protected"));
	if (jw_b64_decode(s, strlen(s), ek, sizeof(ek), &ek_len) < 0)
		return err_set(e, EBADMSG, "encrypted_key is not base64url");
	if ((r = get_b64_exact(wrap, "iv", "wrap", iv, sizeof(iv), e)) < 0 ||
	    (r = get_b64_exact(wrap, "tag", "wrap", tag, sizeof(tag), e)) < 0)
		return r;
	s = json_string_value(json_object_get(wrap, "ciphertext"));
	if (jw_b64_decode_alloc(s, strlen(s), KP_PLAINTEXT_MAX, &ct, &ct_len) < 0)
		return err_set(e, EBADMSG, "wrap ciphertext is not base64url");
	pt = malloc(ct_len + 1);
	if (!pt)
		return err_set(e, ENOMEM, "out of memory");
	if (!me->enc_key)
		return err_set(e, EINVAL, "guardian %s has no key", me->id);
	r = jw_unwrap_cek(me->enc_key, json_string_value(json_object_get(h, "alg")),
			  json_object_get(h, "epk"), ek, ek_len, cek, e);
	if (r == 0)
		r = jw_gcm_decrypt(cek, iv, prot, strlen(prot), ct, ct_len, tag, pt, e);
	OPENSSL_cleanse(cek, sizeof(cek));
	if (r < 0) {
		err_prefix(e, "KP recipient %s", me->id);
		return r == -EKEYREJECTED ? r : -EKEYREJECTED;
	}
	r = jw_parse_object((const char *)pt, ct_len, "wrap plaintext", &p, e);
	OPENSSL_cleanse(pt, ct_len);
	if (r == 0) {
		r = check_plaintext(kp, p, out, e);
		json_t *t = json_object_get(p, "tk");

		if (json_is_string(t))
			OPENSSL_cleanse((char *)json_string_value(t),
					json_string_length(t));
		json_decref(p);
	}
	if (r < 0) {
		OPENSSL_cleanse(out, sizeof(out));
		return r == -EKEYREJECTED ? r : err_set(e, EKEYREJECTED, "%s", err_str(e));
	}
	memcpy(tk, out, KP_TK_SIZE);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

/* ---- building ---- */

static json_t *make_wrap(const struct guardian *const *rcps, size_t n,
			 const char *vm_id, enum kp_policy policy,
			 const uint8_t *config, const uint8_t tk[KP_TK_SIZE],
			 uint64_t gen, struct err *e)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL, *arr = NULL, *pt = NULL,
				       *wrap = NULL;
	_cleanup_free_ char *hdr_s = NULL, *prot = NULL;
	uint8_t cek[JW_CEK_SIZE], iv[JW_IV_SIZE], tag[JW_TAG_SIZE];
	uint8_t ct[KP_PLAINTEXT_MAX];
	char *pt_s = NULL;
	json_t *tk_j;
	size_t pt_len = 0;
	int r;

	hdr = json_pack("{s:s, s:s, s:I}", "enc", KP_ENC, "cty", KP_WRAP_CTY,
			KP_GEN_HEADER, (json_int_t)gen);
	arr = json_array();
	tk_j = jw_b64_json(tk, KP_TK_SIZE);
	pt = json_pack("{s:o, s:s, s:s, s:I}", "tk", tk_j, "vm_id", vm_id, "policy",
		       kp_policy_to_string(policy), "generation", (json_int_t)gen);
	if (!hdr || !arr || !pt || !(hdr_s = jw_dump(hdr)))
		goto nomem;
	if (config && json_object_set_new(pt, "config_digest",
					  jw_b64_json(config, KP_DIGEST_SIZE)) < 0)
		goto nomem;
	if ((r = jw_random(cek, sizeof(cek), e)) < 0 ||
	    (r = jw_random(iv, sizeof(iv), e)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		json_t *h = NULL, *ek = NULL;

		if ((r = jw_wrap_cek(rcps[i]->enc_key, enc_alg(rcps[i]), rcps[i]->id, cek,
				       &h, &ek, e)) < 0)
			goto fail;
		if (json_array_append_new(arr, json_pack("{s:o, s:o}", "header", h,
							 "encrypted_key", ek)) < 0)
			goto nomem;
	}
	pt_s = jw_dump(pt);
	OPENSSL_cleanse((char *)json_string_value(json_object_get(pt, "tk")),
			json_string_length(json_object_get(pt, "tk")));
	if (!pt_s)
		goto nomem;
	pt_len = strlen(pt_s);
	if (pt_len > sizeof(ct)) {
		r = err_set(e, EINVAL, "wrap plaintext too large");
		goto fail;
	}
	prot = jw_b64_encode(hdr_s, strlen(hdr_s));
	if (!prot)
		goto nomem;
	if ((r = jw_gcm_encrypt(cek, iv, prot, strlen(prot), (const uint8_t *)pt_s,
				pt_len, ct, tag, e)) < 0)
		goto fail;
	OPENSSL_cleanse(cek, sizeof(cek));
	OPENSSL_cleanse(pt_s, pt_len);
	free(pt_s);
	wrap = json_pack("{s:s, s:o, s:o, s:o, s:O}", "protected", prot, "iv",
			 jw_b64_json(iv, sizeof(iv)), "ciphertext",
			 jw_b64_json(ct, pt_len), "tag", jw_b64_json(tag, sizeof(tag)),
			 "recipients", arr);
	if (!wrap)
		err_set(e, ENOMEM, "out of memory");
	return TAKE_PTR(wrap);
nomem:
	err_set(e, ENOMEM, "out of memory");
fail:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (pt_s) {
		OPENSSL_cleanse(pt_s, pt_len);
		free(pt_s);
	}
	if (pt) {
		json_t *t = json_object_get(pt, "tk");

		if (json_is_string(t))
			OPENSSL_cleanse((char *)json_string_value(t),
					json_string_length(t));
	}
	return NULL;
}

static json_t *make_seal(const struct guardian *signer, const char *vm_id,
			 uint64_t gen, const uint8_t digest[KP_DIGEST_SIZE],
			 struct err *e)
{
	_cleanup_(json_decrefp) json_t *p = NULL;
	_cleanup_free_ char *s = NULL;
	json_t *jws = NULL;

	p = json_pack("{s:s, s:I, s:o}", "vm_id", vm_id, "generation",
		      (json_int_t)gen, "digest", jw_b64_json(digest, KP_DIGEST_SIZE));
	if (!p || !(s = jw_dump(p))) {
		err_set(e, ENOMEM, "out of memory");
		return NULL;
	}
	if (jw_jws_sign(signer->sig_key, sig_alg(signer), sig_kid(signer),
			KP_SEAL_CTY, s, strlen(s),
			&jws, e) < 0)
		return NULL;
	return jws;
}

/* descriptor (new ref taken), wrap (taken) -> the sealed KP as JSON and
 * its digest */
static int assemble_json(json_t *desc, json_t *wrap,
			 const struct guardian *signer, const char *vm_id,
			 uint64_t gen, json_t **ret,
			 uint8_t digest[KP_DIGEST_SIZE], struct err *e)
{
	json_t *seal, *top;
	int r;

	if ((r = compute_digest(desc, wrap, digest, e)) < 0) {
		json_decref(desc);
		json_decref(wrap);
		return r;
	}
	seal = make_seal(signer, vm_id, gen, digest, e);
	if (!seal) {
		json_decref(desc);
		json_decref(wrap);
		return -EIO;
	}
	top = json_pack("{s:s, s:i, s:o, s:o, s:o}", "type", KP_TYPE, "version",
			KP_VERSION, "descriptor", desc, "wrap", wrap, "seal", seal);
	if (!top)
		return err_set(e, ENOMEM, "out of memory");
	*ret = top;
	return 0;
}

/* descriptor (new ref taken), wrap (taken) -> sealed KP text */
static int assemble(json_t *desc, json_t *wrap, const struct guardian *signer,
		    const char *vm_id, uint64_t gen, char **ret_text,
		    struct err *e)
{
	_cleanup_(json_decrefp) json_t *top = NULL;
	uint8_t digest[KP_DIGEST_SIZE];
	char *s;
	int r;

	if ((r = assemble_json(desc, wrap, signer, vm_id, gen, &top, digest,
			       e)) < 0)
		return r;
	if (!(s = jw_dump(top)))
		return err_set(e, ENOMEM, "out of memory");
	*ret_text = s;
	return 0;
}

static json_t *make_descriptor(const struct guardian *owner,
			       const struct guardian *const *guardians, size_t n,
			       const char *vm_id, enum kp_policy policy,
			       const uint8_t *config, int64_t now, struct err *e)
{
	_cleanup_(json_decrefp) json_t *p = NULL, *gs = NULL;
	_cleanup_free_ char *s = NULL;
	json_t *jws = NULL;

	gs = json_array();
	p = json_pack("{s:s, s:s}", "vm_id", vm_id, "policy",
		      kp_policy_to_string(policy));
	if (!gs || !p)
		goto nomem;
	if (config && json_object_set_new(p, "config_digest",
					  jw_b64_json(config, KP_DIGEST_SIZE)) < 0)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(gs, guardian_public_json(guardians[i])) < 0)
			goto nomem;
	if (json_object_set_new(p, "owner", guardian_public_json(owner)) < 0 ||
	    json_object_set(p, "guardians", gs) < 0 ||
	    json_object_set_new(p, "iat", json_integer(now)) < 0 ||
	    !(s = jw_dump(p)))
		goto nomem;
	if (jw_jws_sign(owner->sig_key, sig_alg(owner), sig_kid(owner),
			KP_DESCRIPTOR_CTY, s,
			strlen(s), &jws, e) < 0)
		return NULL;
	return jws;
nomem:
	err_set(e, ENOMEM, "out of memory");
	return NULL;
}

static int check_guardians(const struct guardian *owner,
			   const struct guardian *const *gs, size_t n,
			   struct err *e)
{
	if (n == 0)
		return err_set(e, EINVAL, "a KP needs at least one guardian besides the owner");
	if (n > KP_MAX_GUARDIANS)
		return err_set(e, E2BIG, "%zu guardians (max %d)", n, KP_MAX_GUARDIANS);
	for (size_t i = 0; i < n; i++) {
		if (!gs[i])
			return err_set(e, EINVAL, "guardian %zu missing", i);
		if (streq(gs[i]->id, owner->id) || streq(sig_kid(gs[i]), sig_kid(owner)))
			return err_set(e, EINVAL, "guardian %s is the owner", gs[i]->id);
		for (size_t j = 0; j < i; j++)
			if (streq(gs[i]->id, gs[j]->id) ||
			    streq(sig_kid(gs[i]), sig_kid(gs[j])))
				return err_set(e, EEXIST, "guardian %s listed twice",
					       gs[i]->id);
	}
	return 0;
}

static int build(const struct guardian *owner,
		 const struct guardian *const *guardians, size_t n,
		 const char *vm_id, enum kp_policy policy,
		 const uint8_t *config, const uint8_t tk[KP_TK_SIZE],
		 uint64_t gen, int64_t now, char **ret_text, struct err *e)
{
	const struct guardian *rcps[KP_RECIPIENTS_MAX];
	json_t *desc, *wrap;
	int r;

	if ((r = check_guardians(owner, guardians, n, e)) < 0)
		return r;
	rcps[0] = owner;
	for (size_t i = 0; i < n; i++)
		rcps[i + 1] = guardians[i];
	desc = make_descriptor(owner, guardians, n, vm_id, policy, config, now, e);
	if (!desc)
		return -EIO;
	wrap = make_wrap(rcps, n + 1, vm_id, policy, config, tk, gen, e);
	if (!wrap) {
		json_decref(desc);
		return -EIO;
	}
	return assemble(desc, wrap, owner, vm_id, gen, ret_text, e);
}

int kp_create(const struct guardian *owner,
	      const struct guardian *const *guardians, size_t n_guardians,
	      const char *vm_id, enum kp_policy policy,
	      const uint8_t *config_digest, const uint8_t tk[KP_TK_SIZE],
	      uint64_t generation, int64_t now, char **ret_text, struct err *e)
{
	if (!owner || !guardians || !vm_id || !tk || !ret_text)
		return err_set(e, EINVAL, "kp_create: missing argument");
	if (!owner->has_private)
		return err_set(e, EINVAL, "kp_create: the owner's private keys are needed");
	if (!vm_id_valid(vm_id))
		return err_set(e, EINVAL, "vm id \"%.40s\" is not a lower-case UUID", vm_id);
	if ((unsigned)policy >= ARRAY_SIZE(policy_names))
		return err_set(e, EINVAL, "unknown policy");
	if (generation > KP_MAX_GENERATION)
		return err_set(e, EOVERFLOW, "generation beyond 2^53");
	if (now < 0)
		return err_set(e, EINVAL, "negative time");
	return build(owner, guardians, n_guardians, vm_id, policy, config_digest,
		     tk, generation, now, ret_text, e);
}

int kp_roll_json(const struct kp *kp, const struct guardian *signer,
		 const uint8_t next_tk[KP_TK_SIZE], json_t **ret,
		 uint8_t ret_digest[KP_DIGEST_SIZE], struct err *e)
{
	const struct guardian *rcps[KP_RECIPIENTS_MAX], *listed = NULL;
	json_t *desc, *wrap;

	if (!kp || !signer || !next_tk || !ret || !ret_digest)
		return err_set(e, EINVAL, "kp_roll: missing argument");
	if (!signer->has_private)
		return err_set(e, EINVAL, "kp_roll: the signer's private keys are needed");
	if (kp->generation >= KP_MAX_GENERATION)
		return err_set(e, EOVERFLOW, "KP generation %" PRIu64 " cannot grow",
			       kp->generation);
	for (size_t i = 0; i <= kp->n_guardians; i++) {
		rcps[i] = recipient(kp, i);
		if (streq(rcps[i]->id, signer->id) &&
		    streq(sig_kid(rcps[i]), sig_kid(signer)))
			listed = rcps[i];
	}
	if (!listed)
		return err_set(e, EKEYREJECTED,
			       "guardian %s is neither this KP's owner nor one of its guardians",
			       signer->id);
	/* the same descriptor object: nothing changes it (kp.h) */
	desc = json_incref(json_object_get(kp->root, "descriptor"));
	if (!desc)
		return err_set(e, EBADMSG, "KP without a descriptor");
	wrap = make_wrap(rcps, kp->n_guardians + 1, kp->vm_id, kp->policy,
			 kp_config_digest(kp), next_tk, kp->generation + 1, e);
	if (!wrap) {
		json_decref(desc);
		return -EIO;
	}
	return assemble_json(desc, wrap, signer, kp->vm_id, kp->generation + 1,
			     ret, ret_digest, e);
}

int kp_roll(const struct kp *kp, const struct guardian *signer,
	    const uint8_t next_tk[KP_TK_SIZE], char **ret_text, struct err *e)
{
	_cleanup_(json_decrefp) json_t *top = NULL;
	uint8_t digest[KP_DIGEST_SIZE];
	int r;

	if (!ret_text)
		return err_set(e, EINVAL, "kp_roll: missing argument");
	if ((r = kp_roll_json(kp, signer, next_tk, &top, digest, e)) < 0)
		return r;
	if (!(*ret_text = jw_dump(top)))
		return err_set(e, ENOMEM, "out of memory");
	return 0;
}

/* Owner edits: the caller's owner key and TK must be this KP's. */
static int check_owner_edit(const struct kp *kp, const struct guardian *owner,
			    const uint8_t tk[KP_TK_SIZE], struct err *e)
{
	uint8_t cur[KP_TK_SIZE];
	int r;

	if (!owner->has_private)
		return err_set(e, EINVAL, "the owner's private keys are needed");
	if (!streq(owner->id, kp->owner->id) ||
	    !streq(sig_kid(owner), sig_kid(kp->owner)))
		return err_set(e, EKEYREJECTED, "guardian %s is not this KP's owner (%s)",
			       owner->id, kp->owner->id);
	if (kp->generation >= KP_MAX_GENERATION)
		return err_set(e, EOVERFLOW, "KP generation cannot grow");
	if ((r = kp_unwrap(kp, owner, cur, e)) < 0)
		return r;
	r = CRYPTO_memcmp(cur, tk, KP_TK_SIZE) == 0 ? 0 :
		err_set(e, EKEYREJECTED, "the TK given is not this KP's");
	OPENSSL_cleanse(cur, sizeof(cur));
	return r;
}

int kp_grant(const struct kp *kp, const struct guardian *owner,
	     const uint8_t tk[KP_TK_SIZE], const struct guardian *add,
	     int64_t now, char **ret_text, struct err *e)
{
	const struct guardian *gs[KP_MAX_GUARDIANS + 1];
	int r;

	if (!kp || !owner || !tk || !add || !ret_text)
		return err_set(e, EINVAL, "kp_grant: missing argument");
	if ((r = check_owner_edit(kp, owner, tk, e)) < 0)
		return r;
	if (kp_has_recipient(kp, add->id))
		return err_set(e, EEXIST, "guardian %s is already in the KP", add->id);
	if (kp->n_guardians >= KP_MAX_GUARDIANS)
		return err_set(e, E2BIG, "the KP already has %d guardians",
			       KP_MAX_GUARDIANS);
	for (size_t i = 0; i < kp->n_guardians; i++)
		gs[i] = kp->guardians[i];
	gs[kp->n_guardians] = add;
	return build(owner, gs, kp->n_guardians + 1, kp->vm_id, kp->policy,
		     kp_config_digest(kp), tk, kp->generation + 1, now, ret_text, e);
}

int kp_revoke(const struct kp *kp, const struct guardian *owner,
	      const uint8_t tk[KP_TK_SIZE], const char *guardian_id,
	      int64_t now, char **ret_text, struct err *e)
{
	const struct guardian *gs[KP_MAX_GUARDIANS];
	size_t n = 0;
	int r;

	if (!kp || !owner || !tk || !guardian_id || !ret_text)
		return err_set(e, EINVAL, "kp_revoke: missing argument");
	if ((r = check_owner_edit(kp, owner, tk, e)) < 0)
		return r;
	for (size_t i = 0; i < kp->n_guardians; i++)
		if (!streq(kp->guardians[i]->id, guardian_id))
			gs[n++] = kp->guardians[i];
	if (n == kp->n_guardians)
		return err_set(e, ENOENT, "guardian %.64s is not in the KP%s", guardian_id,
			       streq(guardian_id, kp->owner->id) ? " (it is the owner)" : "");
	if (n == 0)
		return err_set(e, EINVAL,
			       "guardian %s is the KP's only guardian: grant another first",
			       guardian_id);
	return build(owner, gs, n, kp->vm_id, kp->policy, kp_config_digest(kp), tk,
		     kp->generation + 1, now, ret_text, e);
}
