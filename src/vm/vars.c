/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/vars.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/aead.h"
#include "common/util.h"
#include "host/secrets.h"
#include "vm/def.h"

#define MAGIC "SVVR"
#define VERSION 1
#define IV_SIZE 12
#define TAG_SIZE 16
#define AAD_LABEL "shieldvm vars v1"

/* AAD = AAD_LABEL || uuid || the header. */
static int gcm(bool enc, const uint8_t key[VM_KEY_SIZE], const char *uuid,
	       const uint8_t *hdr, const uint8_t *in, size_t len, uint8_t *out,
	       uint8_t *tag, struct err *e)
{
	uint8_t aad[sizeof(AAD_LABEL) - 1 + KP_VM_ID_LEN + VM_VARS_HEADER_SIZE];
	size_t ul = strlen(uuid);
	int r;

	if (ul != KP_VM_ID_LEN)
		return err_set(e, EINVAL, "VARS: bad VM uuid");
	memcpy(aad, AAD_LABEL, sizeof(AAD_LABEL) - 1);
	memcpy(aad + sizeof(AAD_LABEL) - 1, uuid, ul);
	memcpy(aad + sizeof(AAD_LABEL) - 1 + ul, hdr, VM_VARS_HEADER_SIZE);
	r = aes256gcm(enc, key, hdr + VM_VARS_HEADER_SIZE - IV_SIZE, aad, sizeof(aad), in, len,
		      out, tag, e);
	if (r == -EKEYREJECTED)
		return err_set(e, EKEYREJECTED,
			       "vars.enc does not decrypt with this VM's key "
			       "(another VM or key, or the file was "
			       "modified)");
	return r;
}

int vm_vars_seal(const uint8_t key[VM_KEY_SIZE], const char *uuid,
		 const uint8_t *plain, size_t len, uint8_t **ret,
		 size_t *ret_len, struct err *e)
{
	_cleanup_free_ uint8_t *out = NULL;
	int r;

	if (len == 0 || len > VM_VARS_MAX_SIZE)
		return err_set(e, EINVAL,
			       "VARS image: %zu bytes, expected "
			       "1..%d",
			       len, VM_VARS_MAX_SIZE);
	if (!vm_uuid_valid(uuid))
		return err_set(e, EINVAL, "VARS: bad VM uuid");
	out = malloc(len + VM_VARS_OVERHEAD);
	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(out, MAGIC, 4);
	out[4] = 0;
	out[5] = VERSION;
	out[6] = out[7] = 0;
	if (RAND_bytes(out + 8, IV_SIZE) != 1)
		return err_set(e, EIO, "no random bytes for the IV");
	r = gcm(true, key, uuid, out, plain, len, out + VM_VARS_HEADER_SIZE,
		out + VM_VARS_HEADER_SIZE + len, e);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	*ret_len = len + VM_VARS_OVERHEAD;
	return 0;
}

int vm_vars_open(const uint8_t key[VM_KEY_SIZE], const char *uuid,
		 const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len,
		 struct err *e)
{
	_cleanup_free_ uint8_t *out = NULL;
	uint8_t tag[TAG_SIZE];
	size_t plen;
	int r;

	if (len <= VM_VARS_OVERHEAD ||
	    len > VM_VARS_MAX_SIZE + VM_VARS_OVERHEAD)
		return err_set(e, EBADMSG, "vars.enc: %zu bytes", len);
	if (memcmp(buf, MAGIC, 4) != 0)
		return err_set(e, EBADMSG, "vars.enc: bad magic");
	if (buf[4] != 0 || buf[5] != VERSION || buf[6] || buf[7])
		return err_set(e, EBADMSG, "vars.enc: version %u, expected %d",
			       (unsigned)(buf[4] << 8 | buf[5]), VERSION);
	if (!vm_uuid_valid(uuid))
		return err_set(e, EINVAL, "VARS: bad VM uuid");
	plen = len - VM_VARS_OVERHEAD;
	out = malloc(plen);
	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	memcpy(tag, buf + len - TAG_SIZE, TAG_SIZE);
	r = gcm(false, key, uuid, buf, buf + VM_VARS_HEADER_SIZE, plen, out,
		tag, e);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	*ret_len = plen;
	return 0;
}

int vm_digest(const uint8_t *buf, size_t len, uint8_t out[VM_DIGEST_SIZE],
	      struct err *e)
{
	if (EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL) != 1)
		return err_set(e, EIO, "SHA-256 failed");
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static void md_freep(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}

int vm_digest_dir(const char *path, uint8_t out[VM_DIGEST_SIZE], struct err *e)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_(md_freep) EVP_MD_CTX *md = NULL;
	char *names[VM_VTPM_MAX_FILES];
	size_t n = 0;
	struct dirent *de;
	int r = 0;

	d = opendir(path);
	if (!d)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		return err_set(e, ENOMEM, "SHA-256 unavailable");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == VM_VTPM_MAX_FILES) {
			r = err_set(e, E2BIG, "%s: more than %d files", path,
				    VM_VTPM_MAX_FILES);
			goto out;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = err_set(e, ENOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_close_ int fd = -1;
		_cleanup_free_ uint8_t *buf = NULL;
		struct stat st;
		uint8_t sz[8];
		ssize_t got;

		fd = openat(dirfd(d), names[i],
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = err_set(e, errno == ELOOP ? EINVAL : errno,
				    "%s/%s: %s", path, names[i],
				    strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode) ||
		    st.st_size > VM_VTPM_MAX_FILE_SIZE) {
			r = err_set(e, EINVAL,
				    "%s/%s: not a regular file of at most %d "
				    "bytes",
				    path, names[i], VM_VTPM_MAX_FILE_SIZE);
			break;
		}
		buf = malloc((size_t)st.st_size + 1);
		if (!buf) {
			r = err_set(e, ENOMEM, "out of memory");
			break;
		}
		got = pread(fd, buf, (size_t)st.st_size + 1, 0);
		if (got != st.st_size) {
			r = err_set(e, EIO, "%s/%s: changed while read", path,
				    names[i]);
			break;
		}
		for (int k = 0; k < 8; k++)
			sz[k] = (uint8_t)((uint64_t)got >> (56 - 8 * k));
		if (EVP_DigestUpdate(md, names[i], strlen(names[i]) + 1) != 1 ||
		    EVP_DigestUpdate(md, sz, 8) != 1 ||
		    EVP_DigestUpdate(md, buf, (size_t)got) != 1)
			r = err_set(e, EIO, "SHA-256 failed");
	}
	if (r == 0 && EVP_DigestFinal_ex(md, out, NULL) != 1)
		r = err_set(e, EIO, "SHA-256 failed");
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}
