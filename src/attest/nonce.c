/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stateless attestation nonces (format in nonce.h):
 *   version || issued_at (BE64) || random[16] || HMAC-SHA-256(key, ...)[:16]
 *
 * The key stays the caller's: OpenSSL's one-shot HMAC() keys a context that
 * lives only for the call and is cleansed when freed; the full MAC is wiped
 * here after use.
 */
#include "attest/nonce.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_OFF_TIME 1
#define NONCE_OFF_RANDOM 9
#define NONCE_RANDOM_SIZE 16
#define NONCE_OFF_TAG (NONCE_OFF_RANDOM + NONCE_RANDOM_SIZE)
#define NONCE_TAG_SIZE 16

_Static_assert(NONCE_OFF_TAG + NONCE_TAG_SIZE == NONCE_SIZE,
	       "nonce layout does not add up to NONCE_SIZE");

/* tag = HMAC-SHA-256(key, nonce[0 .. NONCE_OFF_TAG))[:NONCE_TAG_SIZE] */
static int nonce_tag(const uint8_t key[NONCE_KEY_SIZE], const uint8_t *nonce,
		     uint8_t tag[NONCE_TAG_SIZE])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!HMAC(EVP_sha256(), key, NONCE_KEY_SIZE, nonce, NONCE_OFF_TAG, mac,
		  &mac_len) ||
	    mac_len < NONCE_TAG_SIZE) {
		OPENSSL_cleanse(mac, sizeof(mac));
		return -EIO;
	}
	memcpy(tag, mac, NONCE_TAG_SIZE);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int nonce_issue(const uint8_t key[NONCE_KEY_SIZE], int64_t now,
		uint8_t out[NONCE_SIZE])
{
	uint8_t n[NONCE_SIZE];
	uint64_t t = (uint64_t)now;

	n[0] = NONCE_VERSION;
	for (unsigned i = 0; i < 8; i++)
		n[NONCE_OFF_TIME + i] = (uint8_t)(t >> (56 - 8 * i));
	if (RAND_bytes(n + NONCE_OFF_RANDOM, NONCE_RANDOM_SIZE) != 1)
		return -EIO;
	if (nonce_tag(key, n, n + NONCE_OFF_TAG) < 0)
		return -EIO;
	memcpy(out, n, NONCE_SIZE);
	return 0;
}

int nonce_check(const uint8_t key[NONCE_KEY_SIZE], const uint8_t *nonce,
		size_t len, int64_t now, uint32_t lifetime, int64_t *ret_issued,
		struct err *e)
{
	uint8_t tag[NONCE_TAG_SIZE];
	uint64_t t = 0;
	int64_t issued, age;
	int ok;

	if (!nonce || len != NONCE_SIZE)
		return err_set(e, EBADMSG, "nonce: %zu bytes, expected %d", len,
			       NONCE_SIZE);
	if (nonce[0] != NONCE_VERSION)
		return err_set(e, EBADMSG, "nonce: version %u, expected %d",
			       nonce[0], NONCE_VERSION);
	if (nonce_tag(key, nonce, tag) < 0)
		return err_set(e, EIO, "nonce: HMAC-SHA-256 failed");
	ok = CRYPTO_memcmp(tag, nonce + NONCE_OFF_TAG, NONCE_TAG_SIZE) == 0;
	OPENSSL_cleanse(tag, sizeof(tag));
	if (!ok)
		return err_set(e, EKEYREJECTED,
			       "nonce: authentication tag does not verify "
			       "(forged, altered, or issued by another service)");

	/* Authentic from here on, but still judged with overflow-safe math. */
	for (unsigned i = 0; i < 8; i++)
		t = (t << 8) | nonce[NONCE_OFF_TIME + i];
	issued = (int64_t)t;
	if (__builtin_sub_overflow(now, issued, &age))
		return err_set(e, ETIME, "nonce: issued at %" PRId64
			       ", now %" PRId64 ": out of range", issued, now);
	if (age > (int64_t)lifetime)
		return err_set(e, ETIME,
			       "nonce: issued %" PRId64 " s ago, lifetime %" PRIu32
			       " s", age, lifetime);
	if (age < -(int64_t)NONCE_MAX_CLOCK_SKEW)
		return err_set(e, ETIME,
			       "nonce: issued %" PRId64 " s in the future (max %d)",
			       -age, NONCE_MAX_CLOCK_SKEW);
	if (ret_issued)
		*ret_issued = issued;
	return 0;
}
