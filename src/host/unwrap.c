/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key release and the roll of a VM key directory (host/unwrap.h,
 * docs/host-agent.md "Key release", docs/protocol.md /v1/unwrap).
 */
#include "host/unwrap.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jose/b64.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/b64.h"
#include "common/file.h"
#include "common/util.h"
#include "host/keyop.h"
#include "host/secmem.h"
#include "host/secrets.h"
#include "kp/kp.h"
#include "kp/seal.h"

#define COMMIT_INFO "shieldvm kp commit v1"
#define SECMEM_SIZE (SEAL_MAX_PLAINTEXT + 4096)

static void response_clearp(struct host_client_response *r)
{
	host_client_response_clear(r);
}

/* Wipe every string in a JSON tree (the sealed plaintext's parse holds the
 * TKs' base64url text) before freeing it. */
static void json_wipe(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j) && json_string_length(j))
		explicit_bzero((char *)json_string_value(j),
			       json_string_length(j));
	else if (json_is_object(j))
		json_object_foreach(j, k, v)
			json_wipe(v);
	else if (json_is_array(j))
		json_array_foreach(j, i, v)
			json_wipe(v);
}

static void json_wipe_decrefp(json_t **j)
{
	if (*j) {
		json_wipe(*j);
		json_decref(*j);
	}
}

/* The fault-injection hook of the tests (unwrap.h). */
static void crash_point(const char *step)
{
	const char *at = getenv(HOST_UNWRAP_CRASH_ENV);

	if (at && streq(at, step)) {
		fprintf(stderr, "shieldvm host: %s=%s: exiting\n",
			HOST_UNWRAP_CRASH_ENV, step);
		_exit(HOST_UNWRAP_CRASH_EXIT);
	}
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static json_t *refusal(const char *step, const struct host_client_response *r)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	json_object_set_new(j, "result", json_string("fail"));
	json_object_set_new(j, "step", json_string(step));
	json_object_set_new(j, "url", json_string(r->url));
	json_object_set_new(j, "http_status", json_integer(r->status));
	json_object_set_new(j, "error", json_string(r->error));
	json_object_set_new(j, "message", json_string(r->message));
	return j;
}

/* ---- one release --------------------------------------------------------*/

struct release {
	struct host_secmem *mem;
	uint8_t *tk;	  /* KP_TK_SIZE, locked */
	uint8_t *next_tk; /* KP_TK_SIZE, locked */
	struct kp *next;
	char *next_text; /* the next KP as JSON text */
	char *token;
	char url[HOST_CLIENT_URL_MAX];
	bool attested;
};

static void release_clear(struct release *r)
{
	host_secmem_free(r->mem); /* wipes tk and next_tk */
	kp_free(r->next);
	free(r->next_text);
	free(r->token);
	memset(r, 0, sizeof(*r));
}

static bool same_digest(const uint8_t *a, const uint8_t *b)
{
	if (!a || !b)
		return a == b;
	return CRYPTO_memcmp(a, b, KP_DIGEST_SIZE) == 0;
}

/* A base64url member of the sealed plaintext into out (exactly n bytes). */
static int get_secret(const json_t *pt, const char *key, uint8_t *out, size_t n,
		      struct err *e)
{
	json_t *v = json_object_get(pt, key);
	size_t len = 0;

	if (!json_is_string(v) ||
	    b64url_decode(json_string_value(v), json_string_length(v), out, n,
			  &len) < 0 ||
	    len != n) {
		explicit_bzero(out, n);
		return err_set(e, EBADMSG,
			       "sealed answer: '%s' is not base64url of %zu "
			       "bytes",
			       key, n);
	}
	return 0;
}

static int get_u64(const json_t *o, const char *key, uint64_t *ret,
		   const char *what, struct err *e)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return err_set(e, EBADMSG,
			       "%s: '%s' missing or not a "
			       "non-negative integer",
			       what, key);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* Check the sealed plaintext against the KP we sent and the next KP. */
static int check_plaintext(const uint8_t *pt, size_t pt_len,
			   const struct kp *kp, struct release *rel,
			   struct err *e)
{
	_cleanup_(json_wipe_decrefp) json_t *j = NULL;
	char d[48], nd[48];
	json_t *v;
	uint64_t gen = 0, next_gen = 0;
	int r;

	j = json_loadb((const char *)pt, pt_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j))
		return err_set(e, EBADMSG,
			       "sealed answer: plaintext is not a JSON object");
	v = json_object_get(j, "vm_id");
	if (!json_is_string(v) || !streq(json_string_value(v), kp_vm_id(kp)))
		return err_set(e, EBADMSG,
			       "sealed answer: vm_id is not the KP's (%s)",
			       kp_vm_id(kp));
	if ((r = get_u64(j, "generation", &gen, "sealed answer", e)) < 0 ||
	    (r = get_u64(j, "next_generation", &next_gen, "sealed answer", e)) <
		    0)
		return r;
	if (gen != kp_generation(kp) || next_gen != gen + 1 ||
	    next_gen != kp_generation(rel->next))
		return err_set(e, EBADMSG,
			       "sealed answer: generations %llu -> %llu, the "
			       "KPs are %llu -> %llu",
			       (unsigned long long)gen,
			       (unsigned long long)next_gen,
			       (unsigned long long)kp_generation(kp),
			       (unsigned long long)kp_generation(rel->next));
	kp_digest_text(kp_digest(kp), d);
	kp_digest_text(kp_digest(rel->next), nd);
	v = json_object_get(j, "kp_digest");
	if (!json_is_string(v) || !streq(json_string_value(v), d))
		return err_set(e, EBADMSG,
			       "sealed answer: kp_digest is not the digest of "
			       "the KP sent (%s)",
			       d);
	v = json_object_get(j, "next_kp_digest");
	if (!json_is_string(v) || !streq(json_string_value(v), nd))
		return err_set(e, EBADMSG,
			       "sealed answer: next_kp_digest is not the "
			       "digest of next_kp (%s)",
			       nd);
	r = get_secret(j, "tk", rel->tk, KP_TK_SIZE, e);
	if (r < 0)
		return r;
	return get_secret(j, "next_tk", rel->next_tk, KP_TK_SIZE, e);
}

/* The next KP must be the same VM, owner, policy and configuration. */
static int check_next(const struct kp *kp, const struct kp *next, struct err *e)
{
	if (!streq(kp_vm_id(next), kp_vm_id(kp)))
		return err_set(e, EBADMSG, "next_kp is for VM %s, not %s",
			       kp_vm_id(next), kp_vm_id(kp));
	if (kp_generation(next) != kp_generation(kp) + 1)
		return err_set(e, EBADMSG,
			       "next_kp has generation %llu, expected %llu",
			       (unsigned long long)kp_generation(next),
			       (unsigned long long)kp_generation(kp) + 1);
	if (!streq(kp_owner(next)->id, kp_owner(kp)->id) ||
	    kp_policy(next) != kp_policy(kp) ||
	    !same_digest(kp_config_digest(next), kp_config_digest(kp)) ||
	    kp_guardian_count(next) != kp_guardian_count(kp))
		return err_set(e, EBADMSG,
			       "next_kp changes the owner, policy, "
			       "configuration or guardians of VM %s",
			       kp_vm_id(kp));
	for (size_t i = 0; i < kp_guardian_count(kp); i++)
		if (!streq(kp_guardian(next, i)->id, kp_guardian(kp, i)->id))
			return err_set(e, EBADMSG,
				       "next_kp changes the guardians of VM %s",
				       kp_vm_id(kp));
	return 0;
}

/*
 * Steps 1 of the roll: token, POST /v1/unwrap, open the sealed answer in
 * the TPM, check everything. On -EREMOTEIO, *ret_refusal says why.
 */
static int release(struct host_agent *a, const struct kp *kp,
		   const char *kp_text, size_t kp_len,
		   const struct host_unwrap_options *o, struct release *rel,
		   json_t **ret_refusal, struct err *e)
{
	_cleanup_(response_clearp) struct host_client_response resp = { 0 };
	_cleanup_(json_decrefp) json_t *req = NULL, *kpj = NULL;
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	struct host_tpm_key tk;
	struct host_keyop op;
	struct host_client *c;
	json_t *v, *sealed, *next;
	char kid[64];
	uint8_t *pt;
	size_t pt_len = 0;
	uint64_t n;
	int64_t t0 = mono_us(), tt = 0, ts;
	int r;

	r = host_secmem_protect_process(e);
	if (r < 0)
		return r;
	r = host_secmem_new(SECMEM_SIZE, &rel->mem, e);
	if (r < 0)
		return r;
	rel->tk = host_secmem_alloc(rel->mem, KP_TK_SIZE);
	rel->next_tk = host_secmem_alloc(rel->mem, KP_TK_SIZE);
	pt = host_secmem_alloc(rel->mem, SEAL_MAX_PLAINTEXT);
	if (!rel->tk || !rel->next_tk || !pt)
		return err_set(e, ENOMEM, "locked memory too small");

	/* what we will need the TPM for, before asking anything */
	r = host_agent_transport_key(a, &tk, e);
	if (r < 0)
		return r;
	r = host_tpm_key_thumbprint(&tk, kid, e);
	if (r < 0)
		return r;
	r = host_agent_client(a, &c, e);
	if (r < 0)
		return r;
	ts = mono_us();
	r = host_agent_token(a, o->event_log,
			     o->token_margin ? o->token_margin :
					       HOST_UNWRAP_TOKEN_MARGIN,
			     o->no_attest, &rel->token, &rel->attested, e);
	tt += mono_us() - ts;
	if (r < 0)
		return r;

	kpj = json_loadb(kp_text, kp_len, JSON_REJECT_DUPLICATES, NULL);
	if (!kpj)
		return err_set(e, EBADMSG, "key protector: not JSON");
	for (int attempt = 0;; attempt++) {
		json_decref(req);
		req = json_object();
		if (!req ||
		    json_object_set_new(req, "token", json_string(rel->token)) <
			    0 ||
		    json_object_set(req, "kp", kpj) < 0)
			return err_set(e, ENOMEM, "out of memory");
		host_agent_progress(a,
				    "asking for the transport key of VM %s, "
				    "generation %llu (POST /v1/unwrap)",
				    kp_vm_id(kp),
				    (unsigned long long)kp_generation(kp));
		host_client_response_clear(&resp);
		r = host_client_request(c, "POST", "/v1/unwrap", req, &resp, e);
		/* A token the service no longer takes (401: expired early,
		 * signing key rotated, another HGS): attest once more. */
		if (r != -EREMOTEIO || resp.status != 401 || o->no_attest ||
		    rel->attested || attempt > 0)
			break;
		host_agent_progress(a,
				    "the token was refused (%s): attesting "
				    "again",
				    resp.error);
		if (e)
			e->msg[0] = '\0';
		free(rel->token);
		rel->token = NULL;
		ts = mono_us();
		r = host_agent_token(a, o->event_log, -1, false, &rel->token,
				     &rel->attested, e);
		tt += mono_us() - ts;
		if (r < 0)
			return r;
	}
	snprintf(rel->url, sizeof(rel->url), "%s", resp.url);
	if (r == -EREMOTEIO && ret_refusal)
		*ret_refusal = refusal("unwrap", &resp);
	if (r < 0)
		return r;

	/* the answer must be about what we asked */
	v = json_object_get(resp.body, "vm_id");
	if (!json_is_string(v) || !streq(json_string_value(v), kp_vm_id(kp)))
		return err_set(e, EBADMSG,
			       "%s: /v1/unwrap answered for "
			       "another VM",
			       resp.url);
	if ((r = get_u64(resp.body, "generation", &n, "/v1/unwrap answer", e)) <
	    0)
		return r;
	if (n != kp_generation(kp))
		return err_set(e, EBADMSG,
			       "%s: /v1/unwrap answered for "
			       "generation %llu, we sent %llu",
			       resp.url, (unsigned long long)n,
			       (unsigned long long)kp_generation(kp));
	sealed = json_object_get(resp.body, "sealed");
	next = json_object_get(resp.body, "next_kp");
	if (!json_is_string(sealed) || !json_is_object(next))
		return err_set(e, EBADMSG,
			       "%s: /v1/unwrap answer without "
			       "'sealed' or 'next_kp'",
			       resp.url);
	if (json_string_length(sealed) > SEAL_MAX_SIZE)
		return err_set(e, E2BIG, "%s: sealed answer over %d bytes",
			       resp.url, SEAL_MAX_SIZE);
	rel->next_text = json_dumps(next, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!rel->next_text)
		return err_set(e, ENOMEM, "out of memory");
	r = kp_parse(rel->next_text, strlen(rel->next_text), &rel->next, e);
	if (r < 0) {
		err_prefix(e, "%s: next_kp", resp.url);
		return r;
	}
	r = check_next(kp, rel->next, e);
	if (r < 0)
		return r;

	/* open it inside the TPM */
	r = host_agent_open_tpm(a, &t, e);
	if (r < 0)
		return r;
	host_keyop_init(&op, t, &tk);
	r = seal_open(json_string_value(sealed), json_string_length(sealed),
		      &op.op, kid, pt, SEAL_MAX_PLAINTEXT, &pt_len, e);
	if (r < 0) {
		err_prefix(e, "the sealed answer does not open with this "
			      "host's transport key");
		return r;
	}
	host_tpm_close(TAKE_PTR(t));
	r = check_plaintext(pt, pt_len, kp, rel, e);
	explicit_bzero(pt, pt_len);
	if (o->timings) {
		o->timings->token_us = tt;
		o->timings->unwrap_us = mono_us() - t0 - tt;
	}
	return r;
}

static int result_json(const struct kp *kp, const struct release *rel,
		       json_t **ret, struct err *e)
{
	char d[48], nd[48], fp[48];
	json_t *out = json_object();
	int r;

	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	r = host_tk_fingerprint(rel->tk, fp, e);
	if (r < 0) {
		json_decref(out);
		return r;
	}
	kp_digest_text(kp_digest(kp), d);
	kp_digest_text(kp_digest(rel->next), nd);
	json_object_set_new(out, "vm_id", json_string(kp_vm_id(kp)));
	json_object_set_new(out, "policy",
			    json_string(kp_policy_to_string(kp_policy(kp))));
	json_object_set_new(out, "generation",
			    json_integer((json_int_t)kp_generation(kp)));
	json_object_set_new(out, "kp_digest", json_string(d));
	json_object_set_new(out, "tk_fingerprint", json_string(fp));
	json_object_set_new(out, "next_generation",
			    json_integer((json_int_t)kp_generation(rel->next)));
	json_object_set_new(out, "next_kp_digest", json_string(nd));
	json_object_set_new(out, "url", json_string(rel->url));
	json_object_set_new(out, "attested", json_boolean(rel->attested));
	*ret = out;
	return 0;
}

int host_unwrap_kp(struct host_agent *a, const char *kp_text, size_t len,
		   const struct host_unwrap_options *o, json_t **ret,
		   struct err *e)
{
	_cleanup_(kp_freep) struct kp *kp = NULL;
	struct release rel = { 0 };
	json_t *refused = NULL;
	int r;

	*ret = NULL;
	r = kp_parse(kp_text, len, &kp, e);
	if (r < 0) {
		err_prefix(e, "key protector");
		return r;
	}
	r = release(a, kp, kp_text, len, o, &rel, &refused, e);
	if (r == 0)
		r = result_json(kp, &rel, ret, e);
	else if (refused)
		*ret = refused;
	release_clear(&rel);
	return r;
}

/* ---- the VM key directory -----------------------------------------------*/

struct vmdir {
	const char *path;
	int dfd;
};

static void vmdir_close(struct vmdir *d)
{
	if (d->dfd >= 0)
		close(d->dfd); /* also drops the flock */
}

static int vmdir_open(struct vmdir *d, const char *path, struct err *e)
{
	struct stat st;

	d->path = path;
	d->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (d->dfd < 0)
		return err_set(e, errno, "VM key directory %s: %s", path,
			       strerror(errno));
	if (fstat(d->dfd, &st) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (st.st_uid != geteuid())
		return err_set(e, EPERM,
			       "VM key directory %s is owned by uid %u, not by "
			       "us",
			       path, (unsigned)st.st_uid);
	if (st.st_mode & 022)
		return err_set(e, EPERM,
			       "VM key directory %s has mode %04o: it must not "
			       "be writable by group or others",
			       path, (unsigned)(st.st_mode & 07777));
	if (flock(d->dfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return err_set(e, EBUSY,
				       "VM key directory %s is in use by "
				       "another start",
				       path);
		return err_set(e, errno, "flock %s: %s", path, strerror(errno));
	}
	return 0;
}

/* A file of the directory: regular, ours, not writable by others, at most
 * max bytes (NUL-terminated). -ENOENT when absent. */
static int vmdir_read(struct vmdir *d, const char *name, size_t max,
		      uint8_t **ret, size_t *ret_len, struct err *e)
{
	_cleanup_close_ int fd = -1;
	char label[PATH_MAX + 256];
	struct stat st;

	fd = openat(d->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s/%s: %s", d->path, name,
			       strerror(errno));
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s/%s: %s", d->path, name,
			       strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022))
		return err_set(e, EPERM,
			       "%s/%s: not a regular file of ours that only we "
			       "can write",
			       d->path, name);
	if ((uintmax_t)st.st_size > max)
		return err_set(e, EFBIG, "%s/%s: over %zu bytes", d->path, name,
			       max);
	snprintf(label, sizeof(label), "%s/%s", d->path, name);
	return file_read_fd(fd, label, max, ret, ret_len, e);
}

static int vmdir_sync(struct vmdir *d, struct err *e)
{
	if (fsync(d->dfd) < 0)
		return err_set(e, errno, "fsync %s: %s", d->path,
			       strerror(errno));
	return 0;
}

/* Replace a file atomically: temporary file, fsync, rename, fsync dir. */
static int vmdir_write(struct vmdir *d, const char *name, const void *buf,
		       size_t len, struct err *e)
{
	char tmp[64];
	_cleanup_close_ int fd = -1;
	const uint8_t *p = buf;
	int r;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	(void)unlinkat(d->dfd, tmp, 0);
	fd = openat(d->dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, errno, "%s/%s: %s", d->path, tmp,
			       strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || renameat(d->dfd, tmp, d->dfd, name) < 0)
		goto fail;
	return vmdir_sync(d, e);
fail:
	r = errno;
	(void)unlinkat(d->dfd, tmp, 0);
	return err_set(e, r, "%s/%s: %s", d->path, name, strerror(r));
}

static int vmdir_parse_kp(struct vmdir *d, const char *name, char **ret_text,
			  size_t *ret_len, struct kp **ret, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	r = vmdir_read(d, name, KP_MAX_SIZE, &buf, &len, e);
	if (r < 0)
		return r;
	r = kp_parse((const char *)buf, len, ret, e);
	if (r < 0) {
		err_prefix(e, "%s/%s", d->path, name);
		return r;
	}
	*ret_text = (char *)TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static bool bound_to(const struct host_secrets_binding *b, const struct kp *kp)
{
	return b->generation == kp_generation(kp) &&
	       CRYPTO_memcmp(b->kp_digest, kp_digest(kp), KP_DIGEST_SIZE) == 0;
}

/*
 * Step 0: which KP is current. *ret_kp/_text: that KP; *ret_secrets: the
 * secrets file or NULL at a first start.
 */
static int recover(struct host_agent *a, struct vmdir *d, struct kp **ret_kp,
		   char **ret_text, size_t *ret_len, uint8_t **ret_secrets,
		   size_t *ret_secrets_len, const char **ret_recovery,
		   struct err *e)
{
	_cleanup_(kp_freep) struct kp *kp = NULL, *next = NULL;
	_cleanup_free_ char *text = NULL, *next_text = NULL;
	_cleanup_free_ uint8_t *sec = NULL;
	struct host_secrets_binding b;
	size_t len = 0, next_len = 0, sec_len = 0;
	bool have_next;
	struct stat st;
	int r;

	*ret_recovery = "none";
	r = vmdir_parse_kp(d, HOST_VM_KP, &text, &len, &kp, e);
	if (r < 0)
		return r;
	r = vmdir_read(d, HOST_VM_SECRETS, HOST_SECRETS_MAX_FILE_SIZE, &sec,
		       &sec_len, e);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		r = host_secrets_binding(sec, sec_len, &b, e);
		if (r < 0) {
			err_prefix(e, "%s/%s", d->path, HOST_VM_SECRETS);
			return r;
		}
	}
	if (e)
		e->msg[0] = '\0';
	have_next =
		fstatat(d->dfd, HOST_VM_KP_NEXT, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (have_next && sec && !bound_to(&b, kp)) {
		/* secrets re-encrypted for kp.next: it is the current KP */
		r = vmdir_parse_kp(d, HOST_VM_KP_NEXT, &next_text, &next_len,
				   &next, e);
		if (r < 0)
			return r;
		if (!bound_to(&b, next))
			return err_set(e, ESTALE,
				       "%s: secrets are bound to generation "
				       "%llu, kp is %llu and kp.next %llu",
				       d->path,
				       (unsigned long long)b.generation,
				       (unsigned long long)kp_generation(kp),
				       (unsigned long long)kp_generation(next));
		if (renameat(d->dfd, HOST_VM_KP_NEXT, d->dfd, HOST_VM_KP) < 0)
			return err_set(e, errno, "%s: rename kp.next: %s",
				       d->path, strerror(errno));
		r = vmdir_sync(d, e);
		if (r < 0)
			return r;
		kp_free(kp);
		kp = TAKE_PTR(next);
		free(text);
		text = TAKE_PTR(next_text);
		len = next_len;
		*ret_recovery = "adopted kp.next";
		host_agent_progress(a,
				    "%s: kp.next (generation %llu) holds "
				    "the secrets' key: it is the current KP",
				    d->path,
				    (unsigned long long)kp_generation(kp));
	} else if (have_next) {
		if (unlinkat(d->dfd, HOST_VM_KP_NEXT, 0) < 0)
			return err_set(e, errno, "%s: remove kp.next: %s",
				       d->path, strerror(errno));
		r = vmdir_sync(d, e);
		if (r < 0)
			return r;
		*ret_recovery = "removed stale kp.next";
		host_agent_progress(a, "%s: removed a stale kp.next", d->path);
	} else if (sec && !bound_to(&b, kp)) {
		return err_set(e, ESTALE,
			       "%s: secrets are bound to generation %llu, not "
			       "to kp (generation %llu): restore kp and "
			       "secrets together",
			       d->path, (unsigned long long)b.generation,
			       (unsigned long long)kp_generation(kp));
	}
	*ret_kp = TAKE_PTR(kp);
	*ret_text = TAKE_PTR(text);
	*ret_len = len;
	*ret_secrets = TAKE_PTR(sec);
	*ret_secrets_len = sec_len;
	return 0;
}

/* Step 5: POST /v1/unwrap/commit. */
static int commit(struct host_agent *a, const struct release *rel,
		  json_t **ret_refusal, struct err *e)
{
	_cleanup_(response_clearp) struct host_client_response resp = { 0 };
	_cleanup_(json_decrefp) json_t *req = NULL, *kpj = NULL;
	struct host_client *c;
	uint8_t *key = host_secmem_alloc(rel->mem, 32), mac[32];
	char mac_b64[48];
	size_t mac_len = 0;
	uint64_t gen = 0;
	json_t *v;
	int r;

	if (!key)
		return err_set(e, ENOMEM, "locked memory too small");
	r = host_hkdf_sha256(rel->next_tk, KP_TK_SIZE, COMMIT_INFO, key, 32, e);
	if (r < 0)
		return r;
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32,
		       kp_digest(rel->next), KP_DIGEST_SIZE, mac, sizeof(mac),
		       &mac_len) ||
	    mac_len != sizeof(mac))
		r = err_set(e, EIO, "HMAC-SHA256 failed");
	explicit_bzero(key, 32);
	if (r < 0)
		return r;
	if (jose_b64_enc_buf(mac, sizeof(mac), mac_b64, 47) != 43)
		return err_set(e, EIO, "base64url encoding failed");
	mac_b64[43] = '\0';

	kpj = json_loads(rel->next_text, JSON_REJECT_DUPLICATES, NULL);
	req = json_object();
	if (!kpj || !req ||
	    json_object_set_new(req, "token", json_string(rel->token)) < 0 ||
	    json_object_set(req, "kp", kpj) < 0 ||
	    json_object_set_new(req, "mac", json_string(mac_b64)) < 0)
		return err_set(e, ENOMEM, "out of memory");
	r = host_agent_client(a, &c, e);
	if (r < 0)
		return r;
	host_agent_progress(a,
			    "committing generation %llu of VM %s (POST "
			    "/v1/unwrap/commit)",
			    (unsigned long long)kp_generation(rel->next),
			    kp_vm_id(rel->next));
	r = host_client_request(c, "POST", "/v1/unwrap/commit", req, &resp, e);
	if (r == -EREMOTEIO && ret_refusal)
		*ret_refusal = refusal("commit", &resp);
	if (r < 0)
		return r;
	v = json_object_get(resp.body, "vm_id");
	if (!json_is_string(v) ||
	    !streq(json_string_value(v), kp_vm_id(rel->next)) ||
	    get_u64(resp.body, "generation", &gen, "commit answer", e) < 0 ||
	    gen != kp_generation(rel->next) ||
	    !json_is_true(json_object_get(resp.body, "committed")))
		return err_set(e, EBADMSG,
			       "%s: /v1/unwrap/commit answer is not a commit "
			       "of VM %s generation %llu",
			       resp.url, kp_vm_id(rel->next),
			       (unsigned long long)kp_generation(rel->next));
	return 0;
}

int host_unwrap_vm(struct host_agent *a, const char *dir,
		   const struct host_unwrap_options *o, json_t **ret,
		   struct err *e)
{
	return host_unwrap_vm_keys(a, dir, o, ret, NULL, e);
}

void host_vm_keys_free(struct host_vm_keys *k)
{
	if (!k)
		return;
	host_secmem_free(k->mem);
	explicit_bzero(k, sizeof(*k));
	free(k);
}

/* A copy of the secrets and the next TK's sealing key for the caller. */
static int keys_new(const struct kp *next, const struct host_secrets *s,
		    const uint8_t next_tk[KP_TK_SIZE], bool created,
		    struct host_vm_keys **ret, struct err *e)
{
	_cleanup_(host_vm_keys_freep) struct host_vm_keys *k = NULL;
	int r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return err_set(e, ENOMEM, "out of memory");
	r = host_secmem_new(4096, &k->mem, e);
	if (r < 0)
		return r;
	k->secrets = host_secmem_alloc(k->mem, sizeof(*k->secrets));
	k->seal_key = host_secmem_alloc(k->mem, HOST_SECRETS_KEY_SIZE);
	if (!k->secrets || !k->seal_key)
		return err_set(e, ENOMEM, "locked memory too small");
	memcpy(k->secrets, s, sizeof(*s));
	r = host_secrets_sealing_key(next_tk, k->seal_key, e);
	if (r < 0)
		return r;
	k->binding.generation = kp_generation(next);
	memcpy(k->binding.kp_digest, kp_digest(next), KP_DIGEST_SIZE);
	k->binding.version = 2;
	snprintf(k->vm_id, sizeof(k->vm_id), "%s", kp_vm_id(next));
	k->policy = kp_policy(next);
	if (kp_config_digest(next)) {
		memcpy(k->config_digest, kp_config_digest(next),
		       KP_DIGEST_SIZE);
		k->has_config_digest = true;
	}
	k->created = created;
	*ret = TAKE_PTR(k);
	return 0;
}

int host_vm_keys_reseal(const struct host_vm_keys *k, const char *dir,
			const struct host_secrets *s, struct err *e)
{
	_cleanup_(vmdir_close) struct vmdir d = { .dfd = -1 };
	_cleanup_free_ uint8_t *sec = NULL;
	struct host_secrets_binding have;
	uint8_t sealed[HOST_SECRETS_FILE_SIZE];
	size_t len = 0;
	int r;

	r = vmdir_open(&d, dir, e);
	if (r < 0)
		return r;
	r = vmdir_read(&d, HOST_VM_SECRETS, HOST_SECRETS_MAX_FILE_SIZE, &sec,
		       &len, e);
	if (r < 0)
		return r;
	r = host_secrets_binding(sec, len, &have, e);
	if (r < 0) {
		err_prefix(e, "%s/%s", dir, HOST_VM_SECRETS);
		return r;
	}
	if (have.generation != k->binding.generation ||
	    CRYPTO_memcmp(have.kp_digest, k->binding.kp_digest,
			  KP_DIGEST_SIZE) != 0)
		return err_set(e, ESTALE,
			       "%s/%s is now bound to generation %llu, not to "
			       "generation %llu of this start: not re-sealed",
			       dir, HOST_VM_SECRETS,
			       (unsigned long long)have.generation,
			       (unsigned long long)k->binding.generation);
	r = host_secrets_seal_with(s, k->seal_key, &k->binding, sealed, e);
	if (r < 0)
		return r;
	return vmdir_write(&d, HOST_VM_SECRETS, sealed, sizeof(sealed), e);
}

int host_unwrap_vm_keys(struct host_agent *a, const char *dir,
			const struct host_unwrap_options *o, json_t **ret,
			struct host_vm_keys **ret_keys, struct err *e)
{
	_cleanup_(vmdir_close) struct vmdir d = { .dfd = -1 };
	_cleanup_(kp_freep) struct kp *kp = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ uint8_t *sec = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL;
	struct release rel = { 0 };
	struct host_secrets *keys;
	struct host_secrets_binding b;
	uint8_t sealed[HOST_SECRETS_FILE_SIZE];
	const char *recovery;
	json_t *refused = NULL;
	size_t len = 0, sec_len = 0;
	char fp[48];
	int64_t t_roll;
	int r;

	*ret = NULL;
	if (ret_keys)
		*ret_keys = NULL;
	r = vmdir_open(&d, dir, e);
	if (r < 0)
		return r;
	r = recover(a, &d, &kp, &text, &len, &sec, &sec_len, &recovery, e);
	if (r < 0)
		return r;

	/* 1 */
	r = release(a, kp, text, len, o, &rel, &refused, e);
	if (r < 0)
		goto done;
	crash_point("after-unwrap");
	t_roll = mono_us();

	/* 2 */
	keys = host_secmem_alloc(rel.mem, sizeof(*keys));
	if (!keys) {
		r = err_set(e, ENOMEM, "locked memory too small");
		goto done;
	}
	if (sec) {
		b.generation = kp_generation(kp);
		memcpy(b.kp_digest, kp_digest(kp), KP_DIGEST_SIZE);
		r = host_secrets_open(sec, sec_len, rel.tk, &b, keys, e);
		if (r < 0) {
			err_prefix(e, "%s/%s", dir, HOST_VM_SECRETS);
			goto done;
		}
	} else {
		host_agent_progress(a,
				    "first start of VM %s: creating its "
				    "keys",
				    kp_vm_id(kp));
		r = host_secrets_generate(keys, e);
		if (r < 0)
			goto done;
	}

	/* 3 */
	r = vmdir_write(&d, HOST_VM_KP_NEXT, rel.next_text,
			strlen(rel.next_text), e);
	if (r < 0)
		goto done;
	crash_point("after-kp-next");

	/* 4 */
	b.generation = kp_generation(rel.next);
	memcpy(b.kp_digest, kp_digest(rel.next), KP_DIGEST_SIZE);
	if (o && o->mark_running) {
		struct host_secrets *run =
			host_secmem_alloc(rel.mem, sizeof(*run));

		if (!run) {
			r = err_set(e, ENOMEM, "locked memory too small");
			goto done;
		}
		memcpy(run, keys, sizeof(*run));
		run->state = HOST_SECRETS_RUNNING;
		r = host_secrets_seal(run, rel.next_tk, &b, sealed, e);
	} else {
		r = host_secrets_seal(keys, rel.next_tk, &b, sealed, e);
	}
	if (r < 0)
		goto done;
	r = vmdir_write(&d, HOST_VM_SECRETS, sealed, sizeof(sealed), e);
	if (r < 0)
		goto done;
	crash_point("after-secrets");

	/* 5 */
	r = commit(a, &rel, &refused, e);
	if (r < 0)
		goto done;
	crash_point("after-commit");

	/* 6 */
	if (renameat(d.dfd, HOST_VM_KP_NEXT, d.dfd, HOST_VM_KP) < 0) {
		r = err_set(e, errno, "%s: rename kp.next: %s", dir,
			    strerror(errno));
		goto done;
	}
	r = vmdir_sync(&d, e);
	if (r < 0)
		goto done;
	crash_point("after-rename");
	if (o && o->timings)
		o->timings->commit_us = mono_us() - t_roll;

	r = result_json(kp, &rel, &out, e);
	if (r < 0)
		goto done;
	r = host_secrets_fingerprint(keys, fp, e);
	if (r < 0)
		goto done;
	json_object_set_new(out, "new_generation",
			    json_integer((json_int_t)kp_generation(rel.next)));
	json_object_set_new(out, "committed", json_true());
	json_object_set_new(out, "secrets_fingerprint", json_string(fp));
	json_object_set_new(out, "secrets_created", json_boolean(!sec));
	json_object_set_new(out, "recovery", json_string(recovery));
	if (ret_keys) {
		r = keys_new(rel.next, keys, rel.next_tk, !sec, ret_keys, e);
		if (r < 0)
			goto done;
	}
	*ret = TAKE_PTR(out);
done:
	if (r < 0 && refused)
		*ret = refused;
	else
		json_decref(refused);
	release_clear(&rel);
	return r;
}
