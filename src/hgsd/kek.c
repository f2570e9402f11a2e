/* SPDX-License-Identifier: Apache-2.0 */
#include "hgsd/kek.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/aead.h"
#include "common/b64.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/util.h"

#define ID_LABEL "shieldvm hgsd kek id"
#define AAD_LABEL "shieldvm hgsd kek1|"
#define AAD_MAX 512
#define SEALED_OVERHEAD (AEAD_IV_SIZE + AEAD_TAG_SIZE)

struct kek {
	uint8_t key[KEK_SIZE];
	char id[KEK_ID_LEN + 1];
	size_t mapped;	     /* the locked page this struct lives in */
	struct kek *previous; /* during a rotation: the KEK being replaced */
};

static int key_from_file(const uint8_t *buf, size_t len, uint8_t key[KEK_SIZE], struct err *e)
{
	size_t n = len;

	if (len == KEK_SIZE) {
		memcpy(key, buf, KEK_SIZE);
		return 0;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n == 2 * KEK_SIZE) {
		char hex[2 * KEK_SIZE + 1];
		int r;

		memcpy(hex, buf, n);
		hex[n] = '\0';
		r = hex_decode(hex, key, KEK_SIZE);
		OPENSSL_cleanse(hex, sizeof(hex));
		if (r == KEK_SIZE)
			return 0;
	}
	return err_set(e, EINVAL,
		       "%zu bytes: a KEK is 32 random bytes or 64 hex digits "
		       "(openssl rand -hex 32)",
		       len);
}

int kek_load(const char *path, struct kek **ret, struct err *e)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *buf = NULL, digest[32];
	size_t len = 0;
	struct stat stt;
	struct kek *k;
	EVP_MD_CTX *md;
	void *p;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode)) {
		close(fd);
		return err_set(e, EINVAL, "%s: not a regular file", path);
	}
	if (stt.st_mode & 077) {
		close(fd);
		return err_set(e, EPERM,
			       "%s: mode %04o lets group or others at it; the KEK "
			       "must be 0400 or 0600",
			       path, (unsigned)(stt.st_mode & 07777));
	}
	r = file_read_fd(fd, path, KEK_FILE_MAX, &buf, &len, e);
	close(fd);
	if (r < 0)
		return r;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		return err_set(e, ENOMEM, "mmap: %s", strerror(errno));
	}
	/* best effort, like the nonce key: a failed mlock is not fatal */
	(void)mlock(p, (size_t)page);
	madvise(p, (size_t)page, MADV_DONTDUMP);
	k = p;
	k->mapped = (size_t)page;
	r = key_from_file(buf, len, k->key, e);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (r < 0) {
		err_prefix(e, "%s", path);
		kek_free(k);
		return r;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, ID_LABEL, strlen(ID_LABEL)) != 1 ||
	    EVP_DigestUpdate(md, k->key, KEK_SIZE) != 1 ||
	    EVP_DigestFinal_ex(md, digest, NULL) != 1) {
		EVP_MD_CTX_free(md);
		kek_free(k);
		return err_set(e, EIO, "SHA-256 failed");
	}
	EVP_MD_CTX_free(md);
	hex_encode(digest, KEK_ID_LEN / 2, k->id);
	*ret = k;
	return 0;
}

void kek_free(struct kek *k)
{
	size_t mapped;

	if (!k)
		return;
	kek_free(k->previous);
	mapped = k->mapped;
	OPENSSL_cleanse(k, sizeof(*k));
	munmap(k, mapped);
}

const char *kek_id(const struct kek *k)
{
	return k->id;
}

void kek_lock(struct kek *k)
{
	for (; k; k = k->previous)
		(void)mlock(k, k->mapped);
}

int kek_set_previous(struct kek *k, struct kek *previous, struct err *e)
{
	if (strcmp(k->id, previous->id) == 0)
		return err_set(e, EINVAL, "the old KEK is the KEK itself (%s)", k->id);
	kek_free(k->previous);
	k->previous = previous;
	return 0;
}

const struct kek *kek_previous(const struct kek *k)
{
	return k->previous;
}

bool kek_is_sealed(const uint8_t *stored, size_t len)
{
	return len >= strlen(KEK_PREFIX) && memcmp(stored, KEK_PREFIX, strlen(KEK_PREFIX)) == 0;
}

/* A NUL-terminated copy of len bytes (values that are not sealed). */
static int copy_nul(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len, struct err *e)
{
	uint8_t *out = malloc(len + 1);

	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(out, in, len);
	out[len] = '\0';
	*ret = out;
	*ret_len = len;
	return 0;
}

/* The associated data: version, KEK id and the row. */
static int make_aad(const char *kid, const char *aad, char out[AAD_MAX], size_t *ret_len,
		    struct err *e)
{
	int n = snprintf(out, AAD_MAX, "%s%s|%s", AAD_LABEL, kid, aad);

	if (n < 0 || n >= AAD_MAX)
		return err_set(e, EINVAL, "KEK: row name too long");
	*ret_len = (size_t)n;
	return 0;
}

int kek_seal(const struct kek *k, const char *aad, const uint8_t *plain, size_t len, char **ret,
	     size_t *ret_len, struct err *e)
{
	char ad[AAD_MAX], *out;
	uint8_t *blob;
	size_t ad_len, blob_len, prefix;
	int r;

	if (!k)
		return copy_nul(plain, len, (uint8_t **)ret, ret_len, e);
	r = make_aad(k->id, aad, ad, &ad_len, e);
	if (r < 0)
		return r;
	if (len > SIZE_MAX / 2 - SEALED_OVERHEAD)
		return err_set(e, E2BIG, "KEK: value too large");
	blob_len = AEAD_IV_SIZE + len + AEAD_TAG_SIZE;
	blob = malloc(blob_len);
	prefix = strlen(KEK_PREFIX) + KEK_ID_LEN + 1;
	out = malloc(prefix + b64url_encoded_len(blob_len) + 1);
	if (!blob || !out) {
		free(blob);
		free(out);
		return err_set(e, ENOMEM, "out of memory");
	}
	if (RAND_bytes(blob, AEAD_IV_SIZE) != 1) {
		free(blob);
		free(out);
		return err_set(e, EIO, "no randomness for the KEK's IV");
	}
	r = aes256gcm(true, k->key, blob, (const uint8_t *)ad, ad_len, plain, len,
		      blob + AEAD_IV_SIZE, blob + AEAD_IV_SIZE + len, e);
	if (r < 0) {
		free(blob);
		free(out);
		return r == -EKEYREJECTED ? err_set(e, EIO, "AES-256-GCM failed") : r;
	}
	snprintf(out, prefix + 1, "%s%s:", KEK_PREFIX, k->id);
	*ret_len = prefix + b64url_encode(blob, blob_len, out + prefix);
	free(blob); /* ciphertext: nothing to wipe */
	*ret = out;
	return 0;
}

int kek_open(const struct kek *k, const char *aad, const uint8_t *stored, size_t len,
	     uint8_t **ret, size_t *ret_len, bool *ret_sealed, struct err *e)
{
	size_t pl = strlen(KEK_PREFIX), blob_len = 0, ad_len, n;
	char id[KEK_ID_LEN + 1], ad[AAD_MAX];
	uint8_t *blob, *out;
	int r;

	if (!kek_is_sealed(stored, len)) {
		*ret_sealed = false;
		return copy_nul(stored, len, ret, ret_len, e);
	}
	if (len < pl + KEK_ID_LEN + 1 || stored[pl + KEK_ID_LEN] != ':')
		return err_set(e, EBADMSG, "not a well-formed sealed value");
	memcpy(id, stored + pl, KEK_ID_LEN);
	id[KEK_ID_LEN] = '\0';
	for (size_t i = 0; i < KEK_ID_LEN; i++)
		if (!strchr("0123456789abcdef", id[i]) || !id[i])
			return err_set(e, EBADMSG, "not a well-formed sealed value");
	if (!k)
		return err_set(e, ENOKEY,
			       "sealed under KEK %s, and hgsd has no KEK ([keys] kek_file)", id);
	/* under the KEK: sealed as it should be; under the previous one
	 * (a rotation): opened, and to be sealed again */
	*ret_sealed = strcmp(id, k->id) == 0;
	if (!*ret_sealed) {
		if (!k->previous || strcmp(id, k->previous->id) != 0)
			return err_set(e, EKEYREJECTED, "sealed under KEK %s, but hgsd's KEK is %s%s%s",
				       id, k->id, k->previous ? " and its old KEK " : "",
				       k->previous ? k->previous->id : "");
		k = k->previous;
	}
	n = len - pl - KEK_ID_LEN - 1;
	blob = malloc(b64url_decoded_len(n) + 1);
	if (!blob)
		return err_set(e, ENOMEM, "out of memory");
	if (b64url_decode((const char *)stored + pl + KEK_ID_LEN + 1, n, blob,
			  b64url_decoded_len(n), &blob_len) < 0 ||
	    blob_len < SEALED_OVERHEAD) {
		free(blob);
		return err_set(e, EBADMSG, "not a well-formed sealed value");
	}
	r = make_aad(k->id, aad, ad, &ad_len, e);
	if (r < 0) {
		free(blob);
		return r;
	}
	n = blob_len - SEALED_OVERHEAD;
	out = malloc(n + 1);
	if (!out) {
		free(blob);
		return err_set(e, ENOMEM, "out of memory");
	}
	r = aes256gcm(false, k->key, blob, (const uint8_t *)ad, ad_len, blob + AEAD_IV_SIZE, n, out,
		      blob + AEAD_IV_SIZE + n, e);
	free(blob);
	if (r < 0) {
		free(out);
		return r == -EKEYREJECTED
			       ? err_set(e, EKEYREJECTED,
					 "does not open under KEK %s: it was changed, or moved "
					 "from another row",
					 k->id)
			       : r;
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

int kek_seal_text(const struct kek *k, const char *aad, const char *plain, char **ret,
		  struct err *e)
{
	size_t n;

	return kek_seal(k, aad, (const uint8_t *)plain, strlen(plain), ret, &n, e);
}

int kek_open_text(const struct kek *k, const char *aad, const char *stored, char **ret,
		  bool *ret_sealed, struct err *e)
{
	uint8_t *out = NULL;
	size_t n = 0;
	int r = kek_open(k, aad, (const uint8_t *)stored, strlen(stored), &out, &n, ret_sealed, e);

	if (r < 0)
		return r;
	if (strlen((const char *)out) != n) {
		OPENSSL_cleanse(out, n);
		free(out);
		return err_set(e, EBADMSG, "the opened value is not text");
	}
	*ret = (char *)out;
	return 0;
}
