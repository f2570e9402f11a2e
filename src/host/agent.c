/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guarded-host agent: state directory, enrollment, attestation, status
 * and baseline capture (docs/host-agent.md).
 */
#include "host/agent.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <jose/b64.h>

#include "attest/baseline.h"
#include "attest/eventlog.h"
#include "attest/hash.h"
#include "attest/token.h"
#include "attest/tpm2.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/limits.h"
#include "common/util.h"

#define F_CONFIG "config"
#define F_AK "ak.key"
#define F_TK "transport.key"
#define F_EK_PUB "ek.pub"
#define F_EK_CERT "ek.crt"
#define F_ENROLLMENT "enrollment.json"
#define F_TOKEN "token.jwt"
#define F_STATUS "status.json"
#define F_BASELINE "baseline.json"

struct host_agent {
	char *state_dir;
	int dfd;
	char *tcti;
	char *urls[HOST_CLIENT_MAX_URLS];
	size_t n_urls;
	bool urls_from_options;
	char *ca_file;
	char *vm_user; /* config vm_user: QEMU and swtpm's user (run) */
	bool quiet;
	struct host_client *client;
};

DEFINE_CLEANUP_FUNC(struct eventlog, eventlog_free)
DEFINE_CLEANUP_FUNC(struct baseline, baseline_free)
DEFINE_CLEANUP_FUNC(struct tpm2_key, tpm2_key_free)

static void vprogress(const struct host_agent *a, const char *fmt, va_list ap)
{
	if (a->quiet)
		return;
	fputs("shieldvm host: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void progress(const struct host_agent *a, const char *fmt, ...)
	_printf_(2, 3);
static void progress(const struct host_agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprogress(a, fmt, ap);
	va_end(ap);
}

void host_agent_progress(const struct host_agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprogress(a, fmt, ap);
	va_end(ap);
}

/* Forget a message (err_set keeps the first one) to replace it. */
static void err_clear(struct err *e)
{
	if (e)
		e->msg[0] = '\0';
}

static void response_clearp(struct host_client_response *r)
{
	host_client_response_clear(r);
}

/* A host_tpm_key holds no secret (the private part is wrapped by the
 * TPM), but a secret buffer does: */
static void wipe_secret(uint8_t (*s)[HOST_TPM_SECRET_MAX])
{
	explicit_bzero(*s, sizeof(*s));
}

/* A JSON object whose string members may hold secrets: wipe every string
 * member's bytes before the object goes. */
static void json_wipe_decrefp(json_t **j)
{
	const char *k;
	json_t *v;

	if (!*j)
		return;
	json_object_foreach(*j, k, v) {
		if (json_is_string(v) && json_string_length(v))
			explicit_bzero((char *)json_string_value(v),
				       json_string_length(v));
	}
	json_decref(*j);
}

/* ---- state directory ----------------------------------------------------*/

static int mkdir_parents(const char *path, struct err *e)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return err_set(e, ENOMEM, "out of memory");
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return err_set(e, errno, "cannot create %s: %s", p,
				       strerror(errno));
		*s = '/';
	}
	return 0;
}

static int state_dir_open(struct host_agent *a, bool create, struct err *e)
{
	struct stat st;

	if (create) {
		int r = mkdir_parents(a->state_dir, e);

		if (r < 0)
			return r;
		if (mkdir(a->state_dir, 0700) < 0 && errno != EEXIST)
			return err_set(e, errno, "cannot create %s: %s",
				       a->state_dir, strerror(errno));
	}
	a->dfd = open(a->state_dir,
		      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (a->dfd < 0) {
		if (errno == ENOENT)
			return err_set(e, ENOENT,
				       "state directory %s does not exist "
				       "(run 'shieldvm host init')",
				       a->state_dir);
		return err_set(e, errno, "state directory %s: %s",
			       a->state_dir, strerror(errno));
	}
	if (fstat(a->dfd, &st) < 0)
		return err_set(e, errno, "%s: %s", a->state_dir,
			       strerror(errno));
	if (st.st_uid != geteuid())
		return err_set(e, EPERM,
			       "state directory %s is owned by uid %u, not by "
			       "us (uid %u)",
			       a->state_dir, (unsigned)st.st_uid,
			       (unsigned)geteuid());
	if (st.st_mode & 077)
		return err_set(e, EPERM,
			       "state directory %s has mode %04o; it must not "
			       "be accessible to group or others (chmod 700 %s)",
			       a->state_dir, (unsigned)(st.st_mode & 07777),
			       a->state_dir);
	return 0;
}

/*
 * Read a state file: regular, ours, no group/other access (config: no
 * group/other write), at most max bytes. -ENOENT when absent (message
 * names the file). *ret is NUL-terminated.
 */
static int state_read(struct host_agent *a, const char *name, size_t max,
		      uint8_t **ret, size_t *ret_len, struct err *e)
{
	_cleanup_close_ int fd = -1;
	char label[PATH_MAX + 256];
	mode_t forbidden = streq(name, F_CONFIG) ? 022 : 077;
	struct stat st;

	fd = openat(a->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s/%s: %s", a->state_dir, name,
			       strerror(errno));
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s/%s: %s", a->state_dir, name,
			       strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, EINVAL, "%s/%s: not a regular file",
			       a->state_dir, name);
	if (st.st_uid != geteuid())
		return err_set(e, EPERM, "%s/%s: owned by uid %u, not by us",
			       a->state_dir, name, (unsigned)st.st_uid);
	if (st.st_mode & forbidden)
		return err_set(e, EPERM,
			       "refusing %s/%s: mode %04o is too open (chmod "
			       "600 it)",
			       a->state_dir, name,
			       (unsigned)(st.st_mode & 07777));
	if ((uintmax_t)st.st_size > max)
		return err_set(e, EFBIG, "%s/%s: %jd bytes, limit is %zu",
			       a->state_dir, name, (intmax_t)st.st_size, max);
	snprintf(label, sizeof(label), "%s/%s", a->state_dir, name);
	return file_read_fd(fd, label, max, ret, ret_len, e);
}

static bool state_exists(struct host_agent *a, const char *name)
{
	struct stat st;

	return fstatat(a->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Replace a state file atomically, mode 0600. */
static int state_write(struct host_agent *a, const char *name,
		       const void *buf, size_t len, struct err *e)
{
	char tmp[256];
	_cleanup_close_ int fd = -1;
	const uint8_t *p = buf;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return err_set(e, EINVAL, "file name too long");
	(void)unlinkat(a->dfd, tmp, 0);
	fd = openat(a->dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, errno, "%s/%s: %s", a->state_dir, tmp,
			       strerror(errno));
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (renameat(a->dfd, tmp, a->dfd, name) < 0)
		goto fail;
	(void)fsync(a->dfd);
	return 0;
fail:;
	int r = errno;

	(void)unlinkat(a->dfd, tmp, 0);
	return err_set(e, r, "%s/%s: %s", a->state_dir, name, strerror(r));
}

static int state_write_json(struct host_agent *a, const char *name,
			    const json_t *j, struct err *e)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(1) |
						      JSON_PRESERVE_ORDER);
	size_t n;

	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	n = strlen(s);
	s[n] = '\n'; /* the terminator becomes the final newline */
	return state_write(a, name, s, n + 1, e);
}

static int state_read_json(struct host_agent *a, const char *name,
			   json_t **ret, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	json_error_t je;
	size_t len;
	int r;

	r = state_read(a, name, HOST_AGENT_STATE_FILE_MAX, &buf, &len, e);
	if (r < 0)
		return r;
	*ret = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!*ret || !json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		return err_set(e, EBADMSG, "%s/%s: line %d: %s", a->state_dir,
			       name, je.line, je.text);
	}
	return 0;
}

static int state_read_key(struct host_agent *a, const char *name,
			  struct host_tpm_key *ret, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	r = state_read(a, name, HOST_TPM_KEY_FILE_MAX, &buf, &len, e);
	if (r == -ENOENT) {
		err_clear(e);
		return err_set(e, ENOENT,
			       "%s/%s is missing: this host is not enrolled "
			       "(run 'shieldvm host init')",
			       a->state_dir, name);
	}
	if (r < 0)
		return r;
	r = host_tpm_key_from_bytes(buf, len, ret, e);
	if (r < 0)
		err_prefix(e, "%s/%s", a->state_dir, name);
	return r;
}

static int state_write_key(struct host_agent *a, const char *name,
			   const struct host_tpm_key *k, struct err *e)
{
	uint8_t buf[HOST_TPM_KEY_FILE_MAX];
	size_t len;
	int r;

	r = host_tpm_key_to_bytes(k, buf, sizeof(buf), &len, e);
	if (r < 0)
		return r;
	return state_write(a, name, buf, len, e);
}

/* ---- config -------------------------------------------------------------*/

struct config_ctx {
	struct host_agent *a;
	bool want_urls, want_ca;
	int error;
	char msg[ERR_MSG_MAX];
};

static int add_url(struct host_agent *a, const char *u)
{
	if (a->n_urls >= HOST_CLIENT_MAX_URLS)
		return -E2BIG;
	a->urls[a->n_urls] = strdup(u);
	if (!a->urls[a->n_urls])
		return -ENOMEM;
	a->n_urls++;
	return 0;
}

static int config_handler(void *user, const char *section, const char *key,
			  const char *value)
{
	struct config_ctx *c = user;

	if (section[0] && !streq(section, "host")) {
		snprintf(c->msg, sizeof(c->msg), "unknown section [%s]",
			 section);
		return 0;
	}
	if (streq(key, "hgs_urls")) {
		_cleanup_free_ char *copy = strdup(value);
		char *tok, *save = NULL;

		if (!copy)
			return 0;
		if (!c->want_urls)
			return 1;
		for (tok = strtok_r(copy, " \t,", &save); tok;
		     tok = strtok_r(NULL, " \t,", &save))
			if (add_url(c->a, tok) < 0) {
				snprintf(c->msg, sizeof(c->msg),
					 "hgs_urls: more than %d URLs",
					 HOST_CLIENT_MAX_URLS);
				return 0;
			}
		return 1;
	}
	if (streq(key, "ca_file")) {
		if (c->want_ca && !c->a->ca_file && value[0])
			c->a->ca_file = strdup(value);
		return 1;
	}
	if (streq(key, "vm_user")) {
		if (!value[0] || strlen(value) > HOST_AGENT_USER_MAX ||
		    strspn(value, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			    strlen(value) ||
		    value[0] == '-') {
			snprintf(c->msg, sizeof(c->msg),
				 "vm_user '%.64s': not a user name", value);
			return 0;
		}
		free(c->a->vm_user);
		c->a->vm_user = strdup(value);
		return 1;
	}
	snprintf(c->msg, sizeof(c->msg), "unknown key '%s'", key);
	return 0;
}

static int config_load(struct host_agent *a, bool want_urls, bool want_ca,
		       struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct config_ctx c = { .a = a, .want_urls = want_urls,
				.want_ca = want_ca };
	size_t len;
	int r;

	r = state_read(a, F_CONFIG, HOST_AGENT_CONFIG_MAX, &buf, &len, e);
	if (r == -ENOENT) {
		err_clear(e);
		return 0;
	}
	if (r < 0)
		return r;
	if (memchr(buf, '\0', len))
		return err_set(e, EINVAL, "%s/%s: contains a NUL byte",
			       a->state_dir, F_CONFIG);
	r = ini_parse_string((const char *)buf, config_handler, &c);
	if (r != 0)
		return err_set(e, EINVAL, "%s/%s:%d: %s", a->state_dir,
			       F_CONFIG, r, c.msg[0] ? c.msg : "syntax error");
	return 0;
}

static int config_write(struct host_agent *a, struct err *e)
{
	char buf[HOST_AGENT_CONFIG_MAX];
	size_t len;
	int w;

	w = snprintf(buf, sizeof(buf),
		     "# shieldvm host agent (docs/host-agent.md), written by "
		     "'shieldvm host init'\nhgs_urls =");
	for (size_t i = 0; i < a->n_urls && w > 0 && (size_t)w < sizeof(buf);
	     i++)
		w += snprintf(buf + w, sizeof(buf) - (size_t)w, " %s",
			      a->urls[i]);
	if (w > 0 && (size_t)w < sizeof(buf) && a->ca_file)
		w += snprintf(buf + w, sizeof(buf) - (size_t)w,
			      "\nca_file = %s", a->ca_file);
	if (w > 0 && (size_t)w < sizeof(buf))
		w += snprintf(buf + w, sizeof(buf) - (size_t)w, "\n");
	if (w < 0 || (size_t)w >= sizeof(buf))
		return err_set(e, E2BIG, "config too long");
	len = (size_t)w;
	return state_write(a, F_CONFIG, buf, len, e);
}

/* ---- open / free --------------------------------------------------------*/

int host_agent_open(const struct host_agent_options *o,
		    struct host_agent **ret, struct err *e)
{
	struct host_agent *a;
	const char *tcti;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return err_set(e, ENOMEM, "out of memory");
	a->dfd = -1;
	a->quiet = o->quiet;
	a->state_dir = strdup(o->state_dir ? o->state_dir
					   : HOST_AGENT_DEFAULT_STATE_DIR);
	tcti = o->tcti ? o->tcti : getenv(HOST_AGENT_TCTI_ENV);
	if (tcti && !*tcti)
		tcti = NULL;
	a->tcti = strdup(tcti ? tcti : HOST_TPM_DEFAULT_TCTI);
	if (!a->state_dir || !a->tcti) {
		r = err_set(e, ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < o->n_urls; i++) {
		r = add_url(a, o->urls[i]);
		if (r < 0) {
			r = err_set(e, -r, "more than %d --hgs URLs",
				    HOST_CLIENT_MAX_URLS);
			goto fail;
		}
	}
	a->urls_from_options = o->n_urls > 0;
	if (o->ca_file && !(a->ca_file = strdup(o->ca_file))) {
		r = err_set(e, ENOMEM, "out of memory");
		goto fail;
	}
	r = state_dir_open(a, o->create, e);
	if (r < 0)
		goto fail;
	r = config_load(a, o->n_urls == 0, o->ca_file == NULL, e);
	if (r < 0)
		goto fail;
	*ret = a;
	return 0;
fail:
	host_agent_free(a);
	return r;
}

const char *host_agent_vm_user(const struct host_agent *a)
{
	return a->vm_user;
}

void host_agent_free(struct host_agent *a)
{
	if (!a)
		return;
	host_client_free(a->client);
	for (size_t i = 0; i < a->n_urls; i++)
		free(a->urls[i]);
	free(a->ca_file);
	free(a->vm_user);
	free(a->tcti);
	free(a->state_dir);
	if (a->dfd >= 0)
		close(a->dfd);
	free(a);
}

static int get_client(struct host_agent *a, struct host_client **ret,
		      struct err *e)
{
	struct host_client_options o = {
		.urls = (const char *const *)a->urls,
		.n_urls = a->n_urls,
		.ca_file = a->ca_file,
	};
	int r;

	if (!a->client) {
		r = host_client_new(&o, &a->client, e);
		if (r < 0)
			return r;
	}
	*ret = a->client;
	return 0;
}

static int open_tpm(struct host_agent *a, struct host_tpm **ret,
		    struct err *e)
{
	int r = host_tpm_open(a->tcti, ret, e);

	if (r < 0)
		err_prefix(e, "TPM (%s)", a->tcti);
	return r;
}

/* ---- JSON helpers -------------------------------------------------------*/

static json_t *json_hex(const uint8_t *b, size_t n)
{
	_cleanup_free_ char *h = hex_encode_alloc(b, n);

	return h ? json_string(h) : NULL;
}

/* Set obj[key] = v (stolen); false when v is NULL or on failure. */
static bool set(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0;
}

/* Decode a base64url member of a server answer into buf. */
static int get_b64(const json_t *obj, const char *key, uint8_t *buf,
		   size_t max, size_t *ret_len, struct err *e)
{
	json_t *v = json_object_get(obj, key);
	size_t n;

	if (!json_is_string(v))
		return err_set(e, EBADMSG,
			       "hgsd answer: '%s' missing or not a string", key);
	n = jose_b64_dec(v, NULL, 0);
	if (n == SIZE_MAX || n == 0 || n > max)
		return err_set(e, EBADMSG,
			       "hgsd answer: '%s' is not base64url of 1..%zu "
			       "bytes",
			       key, max);
	if (jose_b64_dec(v, buf, max) != n)
		return err_set(e, EBADMSG, "hgsd answer: '%s': bad base64url",
			       key);
	*ret_len = n;
	return 0;
}

static json_t *refusal_json(const struct host_client_response *r)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	json_object_set_new(j, "url", json_string(r->url));
	json_object_set_new(j, "http_status", json_integer(r->status));
	json_object_set_new(j, "error", json_string(r->error));
	json_object_set_new(j, "message", json_string(r->message));
	if (r->failures)
		json_object_set(j, "failures", r->failures);
	return j;
}

/* ---- init ---------------------------------------------------------------*/

static int enroll(struct host_agent *a, struct host_tpm *t,
		  const struct host_agent_init_options *io,
		  const struct host_tpm_public *ek, const uint8_t *cert,
		  size_t cert_len, const struct host_tpm_key *ak,
		  json_t **ret_finish, json_t **ret_refusal, struct err *e)
{
	_cleanup_(response_clearp) struct host_client_response resp = { 0 };
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_(json_wipe_decrefp) json_t *fin = NULL;
	_cleanup_(wipe_secret) uint8_t secret[HOST_TPM_SECRET_MAX] = { 0 };
	uint8_t id_object[sizeof(TPM2B_ID_OBJECT)];
	uint8_t enc_secret[sizeof(TPM2B_ENCRYPTED_SECRET)];
	size_t id_len, enc_len, secret_len = 0;
	struct host_client *c;
	json_t *id, *ak_name;
	char our_name[2 * TPM2_NAME_MAX + 1];
	int r;

	r = get_client(a, &c, e);
	if (r < 0)
		return r;
	req = json_object();
	if (!req || !set(req, "ek_pub", jose_b64_enc(ek->pub, ek->pub_len)) ||
	    (cert && !set(req, "ek_cert", jose_b64_enc(cert, cert_len))) ||
	    !set(req, "ak_pub", jose_b64_enc(ak->pub.pub, ak->pub.pub_len)))
		return err_set(e, ENOMEM, "out of memory");
	progress(a, "enrolling the AK with hgsd (POST /v1/enroll)");
	r = host_client_request(c, "POST", "/v1/enroll", req, &resp, e);
	if (r == -EREMOTEIO && ret_refusal)
		*ret_refusal = refusal_json(&resp);
	if (r < 0)
		return r;
	id = json_object_get(resp.body, "enrollment_id");
	if (!json_is_string(id) || !json_string_length(id))
		return err_set(e, EBADMSG,
			       "%s: /v1/enroll answer without enrollment_id",
			       resp.url);
	r = get_b64(resp.body, "credential_blob", id_object, sizeof(id_object),
		    &id_len, e);
	if (r < 0)
		return r;
	r = get_b64(resp.body, "encrypted_secret", enc_secret,
		    sizeof(enc_secret), &enc_len, e);
	if (r < 0)
		return r;

	progress(a, "activating the credential (TPM2_ActivateCredential)");
	r = host_tpm_activate_credential(t, io->ek, ak, id_object, id_len,
					 enc_secret, enc_len, secret,
					 &secret_len, e);
	if (r == -EKEYREJECTED)
		err_prefix(e, "the credential from %s was not made for this "
			      "TPM's EK and AK",
			   resp.url);
	if (r < 0)
		return r;
	fin = json_object();
	if (!fin || !set(fin, "enrollment_id", json_copy(id)) ||
	    !set(fin, "secret", jose_b64_enc(secret, secret_len)))
		return err_set(e, ENOMEM, "out of memory");
	explicit_bzero(secret, sizeof(secret));

	host_client_response_clear(&resp);
	progress(a, "finishing enrollment (POST /v1/enroll/finish)");
	r = host_client_request(c, "POST", "/v1/enroll/finish", fin, &resp, e);
	if (r == -EREMOTEIO && ret_refusal)
		*ret_refusal = refusal_json(&resp);
	if (r < 0)
		return r;
	hex_encode(ak->pub.name, ak->pub.name_len, our_name);
	ak_name = json_object_get(resp.body, "ak_name");
	if (!json_is_string(ak_name) || !json_is_string(json_object_get(resp.body, "host")))
		return err_set(e, EBADMSG,
			       "%s: /v1/enroll/finish answer without host or "
			       "ak_name",
			       resp.url);
	if (strcasecmp(json_string_value(ak_name), our_name) != 0)
		return err_set(e, EPROTO,
			       "%s enrolled AK %.80s, but ours is %s", resp.url,
			       json_string_value(ak_name), our_name);
	*ret_finish = json_pack("{s:O, s:s}", "host",
				json_object_get(resp.body, "host"), "url",
				resp.url);
	return *ret_finish ? 0 : err_set(e, ENOMEM, "out of memory");
}

static int key_type_name(enum host_tpm_key_type t, const char **ret)
{
	*ret = t == HOST_TPM_KEY_RSA2048 ? "rsa2048" : "ecc-p256";
	return 0;
}

int host_agent_init(struct host_agent *a,
		    const struct host_agent_init_options *io, json_t **ret,
		    json_t **ret_refusal, struct err *e)
{
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_free_ uint8_t *cert = NULL;
	_cleanup_(json_decrefp) json_t *fin = NULL, *rec = NULL;
	struct host_tpm_public ek;
	struct host_tpm_key ak, tk;
	const char *ak_type, *tk_type;
	size_t cert_len = 0;
	bool new_tk;
	int r;

	if (ret_refusal)
		*ret_refusal = NULL;
	if (!a->n_urls)
		return err_set(e, EINVAL,
			       "no hgsd URL: give --hgs URL (it is saved in "
			       "%s/%s) or set hgs_urls there",
			       a->state_dir, F_CONFIG);
	key_type_name(io->ak, &ak_type);
	key_type_name(io->transport_key, &tk_type);
	r = open_tpm(a, &t, e);
	if (r < 0)
		return r;
	progress(a, "reading the endorsement key (%s)",
		 host_tpm_ek_type_to_string(io->ek));
	r = host_tpm_ek_public(t, io->ek, &ek, e);
	if (r < 0) {
		err_prefix(e, "EK (%s)", host_tpm_ek_type_to_string(io->ek));
		return r;
	}
	r = host_tpm_ek_cert(t, io->ek, &cert, &cert_len, e);
	if (r == -ENOENT) {
		progress(a, "no EK certificate in NV for %s: enrolling by EK "
			    "public key",
			 host_tpm_ek_type_to_string(io->ek));
		err_clear(e);
	} else if (r < 0) {
		err_prefix(e, "EK certificate");
		return r;
	}
	progress(a, "creating the attestation key (%s)", ak_type);
	r = host_tpm_ak_create(t, io->ak, &ak, e);
	if (r < 0) {
		err_prefix(e, "creating the AK");
		return r;
	}
	r = enroll(a, t, io, &ek, cert, cert_len, &ak, &fin, ret_refusal, e);
	if (r < 0)
		return r;

	/* Enrolled: now the state. */
	r = state_write_key(a, F_AK, &ak, e);
	if (r < 0)
		return r;
	r = state_write(a, F_EK_PUB, ek.pub, ek.pub_len, e);
	if (r < 0)
		return r;
	if (cert)
		r = state_write(a, F_EK_CERT, cert, cert_len, e);
	else if (unlinkat(a->dfd, F_EK_CERT, 0) < 0 && errno != ENOENT)
		r = err_set(e, errno, "%s/%s: %s", a->state_dir, F_EK_CERT,
			    strerror(errno));
	if (r < 0)
		return r;

	new_tk = io->new_transport_key || !state_exists(a, F_TK);
	if (new_tk) {
		progress(a, "creating the host transport key (%s)", tk_type);
		r = host_tpm_transport_key_create(t, io->transport_key, &tk, e);
		if (r < 0) {
			err_prefix(e, "creating the transport key");
			return r;
		}
		r = state_write_key(a, F_TK, &tk, e);
		if (r < 0)
			return r;
		/* a token names the old key in cnf: it is useless now */
		(void)unlinkat(a->dfd, F_TOKEN, 0);
	} else {
		r = state_read_key(a, F_TK, &tk, e);
		if (r < 0)
			return r;
	}

	rec = json_object();
	if (!rec || !set(rec, "host", json_copy(json_object_get(fin, "host"))) ||
	    !set(rec, "hgs_url", json_copy(json_object_get(fin, "url"))) ||
	    !set(rec, "enrolled_at", json_integer((json_int_t)time(NULL))) ||
	    !set(rec, "ak_type", json_string(ak_type)) ||
	    !set(rec, "ak_name", json_hex(ak.pub.name, ak.pub.name_len)) ||
	    !set(rec, "ek_type",
		 json_string(host_tpm_ek_type_to_string(io->ek))) ||
	    !set(rec, "ek_name", json_hex(ek.name, ek.name_len)) ||
	    !set(rec, "ek_cert", json_boolean(cert != NULL)) ||
	    !set(rec, "transport_key_name",
		 json_hex(tk.pub.name, tk.pub.name_len)) ||
	    !set(rec, "transport_key_created", json_boolean(new_tk)))
		return err_set(e, ENOMEM, "out of memory");
	r = state_write_json(a, F_ENROLLMENT, rec, e);
	if (r < 0)
		return r;
	if (a->urls_from_options && !state_exists(a, F_CONFIG)) {
		r = config_write(a, e);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(rec);
	return 0;
}

/* ---- attest -------------------------------------------------------------*/

static json_t *pcrs_json(const struct quote_pcrs *p)
{
	json_t *all = json_object();

	for (unsigned i = 0; all && i < p->n_banks; i++) {
		const struct quote_pcr_bank *b = &p->banks[i];
		const struct hash_alg *h = hash_alg_by_id(b->alg);
		json_t *bank;

		if (!h)
			continue;
		bank = json_object();
		if (!set(all, h->name, bank)) {
			json_decref(all);
			return NULL;
		}
		for (unsigned pcr = 0; pcr < QUOTE_NUM_PCRS; pcr++) {
			char idx[4];

			if (!(b->mask & (1u << pcr)))
				continue;
			snprintf(idx, sizeof(idx), "%u", pcr);
			if (!set(bank, idx, json_hex(b->values[pcr], h->size))) {
				json_decref(all);
				return NULL;
			}
		}
	}
	return all;
}

static void bank_names(const uint16_t *algs, size_t n, char *out, size_t max)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len < max; i++) {
		const struct hash_alg *h = hash_alg_by_id(algs[i]);
		int w;

		w = snprintf(out + len, max - len, "%s%s", i ? "," : "",
			     h ? h->name : "?");
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* Gather evidence and send it. *resp holds the answer (or refusal). */
static int attest_send(struct host_agent *a, const char *event_log,
		       struct host_client_response *resp, struct err *e)
{
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	_cleanup_free_ uint8_t *raw = NULL;
	_cleanup_free_ struct host_tpm_quote *q = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *tkj = NULL;
	struct host_tpm_attestation cert;
	struct host_tpm_key ak, tk;
	uint16_t tpm_banks[8], banks[8];
	size_t n_tpm = 0, n_banks = 0, raw_len, nonce_len;
	uint8_t nonce[TPM_MAX_NONCE_SIZE];
	struct host_client *c;
	int r;

	r = state_read_key(a, F_AK, &ak, e);
	if (r < 0)
		return r;
	r = state_read_key(a, F_TK, &tk, e);
	if (r < 0)
		return r;
	r = file_read(event_log, EVENTLOG_MAX_SIZE, &raw, &raw_len, e);
	if (r < 0) {
		err_prefix(e, "event log");
		return r;
	}
	r = eventlog_parse(raw, raw_len, &log, e);
	if (r < 0) {
		err_prefix(e, "event log %s", event_log);
		return r;
	}
	r = get_client(a, &c, e);
	if (r < 0)
		return r;
	r = open_tpm(a, &t, e);
	if (r < 0)
		return r;
	r = host_tpm_pcr_banks(t, tpm_banks, ARRAY_SIZE(tpm_banks), &n_tpm, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_tpm; i++)
		for (uint32_t j = 0; j < log->n_algs; j++)
			if (log->algs[j]->tpm_id == tpm_banks[i] &&
			    n_banks < ARRAY_SIZE(banks))
				banks[n_banks++] = tpm_banks[i];
	if (!n_banks) {
		char tb[64], lb[64];
		uint16_t la[EVENTLOG_MAX_BANKS];

		for (uint32_t j = 0; j < log->n_algs; j++)
			la[j] = log->algs[j]->tpm_id;
		bank_names(tpm_banks, n_tpm, tb, sizeof(tb));
		bank_names(la, log->n_algs, lb, sizeof(lb));
		return err_set(e, EOPNOTSUPP,
			       "event log %s has banks %s, the TPM has %s: no "
			       "common PCR bank to quote",
			       event_log, lb, tb);
	}

	progress(a, "requesting a nonce (POST /v1/attest/nonce)");
	r = host_client_request(c, "POST", "/v1/attest/nonce", NULL, resp, e);
	if (r < 0)
		return r;
	r = get_b64(resp->body, "nonce", nonce, sizeof(nonce), &nonce_len, e);
	if (r < 0)
		return r;
	host_client_response_clear(resp);

	q = malloc(sizeof(*q));
	if (!q)
		return err_set(e, ENOMEM, "out of memory");
	progress(a, "quoting PCRs 0-23 (TPM2_Quote) and certifying the "
		    "transport key (TPM2_Certify)");
	r = host_tpm_quote(t, &ak, banks, n_banks, nonce, nonce_len, q, e);
	if (r < 0) {
		err_prefix(e, "quote");
		return r;
	}
	r = host_tpm_certify(t, &ak, &tk, nonce, nonce_len, &cert, e);
	if (r < 0) {
		err_prefix(e, "certify");
		return r;
	}

	tkj = json_object();
	req = json_object();
	if (!tkj || !req ||
	    !set(tkj, "public", jose_b64_enc(tk.pub.pub, tk.pub.pub_len)) ||
	    !set(tkj, "certify", jose_b64_enc(cert.attest, cert.attest_len)) ||
	    !set(tkj, "signature", jose_b64_enc(cert.sig, cert.sig_len)) ||
	    !set(req, "mode", json_string("tpm")) ||
	    !set(req, "ak_name", json_hex(ak.pub.name, ak.pub.name_len)) ||
	    !set(req, "nonce", jose_b64_enc(nonce, nonce_len)) ||
	    !set(req, "quote", jose_b64_enc(q->att.attest, q->att.attest_len)) ||
	    !set(req, "signature", jose_b64_enc(q->att.sig, q->att.sig_len)) ||
	    !set(req, "pcrs", pcrs_json(&q->pcrs)) ||
	    !set(req, "event_log", jose_b64_enc(raw, raw_len)) ||
	    json_object_set(req, "transport_key", tkj) < 0)
		return err_set(e, ENOMEM, "out of memory");
	progress(a, "sending the evidence (POST /v1/attest, %zu-byte event "
		    "log)",
		 raw_len);
	return host_client_request(c, "POST", "/v1/attest", req, resp, e);
}

/* The claims worth showing: {"iat","exp","status","mode","host",
 * "baseline","policy_id","jti"}; missing ones are left out. */
static json_t *claims_summary(const json_t *claims)
{
	json_t *sub = json_object_get(json_object_get(claims, "submods"),
				      "shieldvm-host");
	json_t *s = json_object();
	static const struct {
		const char *out, *in;
		bool top;
	} map[] = {
		{ "iat", "iat", true },
		{ "exp", "exp", true },
		{ "jti", "jti", true },
		{ "status", "ear.status", false },
		{ "mode", "shieldvm.attestation-mode", false },
		{ "host", "shieldvm.host", false },
		{ "baseline", "shieldvm.baseline", false },
		{ "policy_id", "ear.appraisal-policy-id", false },
	};

	for (size_t i = 0; s && i < ARRAY_SIZE(map); i++) {
		json_t *v = json_object_get(map[i].top ? claims : sub, map[i].in);

		if (json_is_string(v) || json_is_integer(v))
			json_object_set(s, map[i].out, v);
	}
	return s;
}

int host_agent_jwt_claims_unverified(const char *jwt, size_t len,
				     json_t **ret, struct err *e)
{
	const char *p1, *p2;
	_cleanup_free_ char *buf = NULL;
	json_error_t je;
	size_t n, plen;

	if (len > TOKEN_MAX_SIZE)
		return err_set(e, EMSGSIZE, "token larger than %d bytes",
			       TOKEN_MAX_SIZE);
	p1 = memchr(jwt, '.', len);
	p2 = p1 ? memchr(p1 + 1, '.', len - (size_t)(p1 + 1 - jwt)) : NULL;
	if (!p1 || !p2)
		return err_set(e, EBADMSG, "token is not a compact JWS");
	plen = (size_t)(p2 - p1 - 1);
	n = jose_b64_dec_buf(p1 + 1, plen, NULL, 0);
	if (n == SIZE_MAX || !n)
		return err_set(e, EBADMSG, "token payload is not base64url");
	buf = malloc(n);
	if (!buf)
		return err_set(e, ENOMEM, "out of memory");
	if (jose_b64_dec_buf(p1 + 1, plen, buf, n) != n)
		return err_set(e, EBADMSG, "token payload is not base64url");
	*ret = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
	if (!*ret || !json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		return err_set(e, EBADMSG, "token claims are not a JSON object");
	}
	return 0;
}

static int record_status(struct host_agent *a, json_t *st, struct err *e)
{
	struct err we = { 0 };
	int r = state_write_json(a, F_STATUS, st, &we);

	if (r < 0 && e)
		return err_set(e, -r, "%s", err_str(&we));
	if (r < 0)
		fprintf(stderr, "shieldvm host: warning: %s\n", err_str(&we));
	return r;
}

int host_agent_attest(struct host_agent *a, const char *event_log,
		      json_t **ret, struct err *e)
{
	_cleanup_(response_clearp) struct host_client_response resp = { 0 };
	_cleanup_(json_decrefp) json_t *st = json_object();
	int r;

	if (ret)
		*ret = NULL;
	if (!st)
		return err_set(e, ENOMEM, "out of memory");
	json_object_set_new(st, "time", json_integer((json_int_t)time(NULL)));
	if (!event_log)
		event_log = HOST_AGENT_DEFAULT_EVENT_LOG;
	json_object_set_new(st, "event_log", json_string(event_log));
	r = attest_send(a, event_log, &resp, e);
	if (resp.url[0])
		json_object_set_new(st, "url", json_string(resp.url));
	if (resp.status)
		json_object_set_new(st, "http_status",
				    json_integer(resp.status));
	if (r == 0) {
		json_t *tok = json_object_get(resp.body, "token");
		json_t *exp = json_object_get(resp.body, "expires");
		_cleanup_(json_decrefp) json_t *claims = NULL;
		struct err ce = { 0 };
		const char *s;

		if (!json_is_string(tok) || !json_string_length(tok) ||
		    json_string_length(tok) > TOKEN_MAX_SIZE) {
			r = err_set(e, EBADMSG,
				    "%s: /v1/attest answer without a token",
				    resp.url);
			goto error;
		}
		s = json_string_value(tok);
		for (size_t i = 0; s[i]; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				    "qrstuvwxyz0123456789-_.",
				    s[i])) {
				r = err_set(e, EBADMSG,
					    "%s: the token is not a compact "
					    "JWS",
					    resp.url);
				goto error;
			}
		r = state_write(a, F_TOKEN, s, json_string_length(tok), e);
		if (r < 0)
			goto error;
		json_object_set_new(st, "result", json_string("pass"));
		if (json_is_integer(exp))
			json_object_set(st, "expires", exp);
		if (host_agent_jwt_claims_unverified(s, json_string_length(tok),
						     &claims, &ce) == 0)
			json_object_set_new(st, "claims",
					    claims_summary(claims));
		r = record_status(a, st, e);
		if (r < 0)
			return r;
		if (ret)
			*ret = TAKE_PTR(st);
		return 0;
	}
	if (r == -EREMOTEIO) {
		json_object_set_new(st, "result", json_string("fail"));
		json_object_set_new(st, "error", json_string(resp.error));
		json_object_set_new(st, "message", json_string(resp.message));
		/* failures is borrowed from the response body: take a reference;
		 * a fresh empty array is handed over */
		if (resp.failures)
			json_object_set(st, "failures", resp.failures);
		else
			json_object_set_new(st, "failures", json_array());
		if (unlinkat(a->dfd, F_TOKEN, 0) == 0)
			progress(a, "removed the previous token (%s/%s)",
				 a->state_dir, F_TOKEN);
		record_status(a, st, NULL);
		if (ret)
			*ret = TAKE_PTR(st);
		return r;
	}
error:
	json_object_set_new(st, "result", json_string("error"));
	json_object_set_new(st, "message", json_string(err_str(e)));
	if (resp.error[0])
		json_object_set_new(st, "error", json_string(resp.error));
	record_status(a, st, NULL);
	if (ret)
		*ret = TAKE_PTR(st);
	return r;
}

/* ---- status -------------------------------------------------------------*/

/* RFC 7638 thumbprint of the transport key in transport.key. */
static int transport_key_thumbprint(struct host_agent *a, char out[64],
				    struct err *e)
{
	_cleanup_(tpm2_key_freep) struct tpm2_key *k = NULL;
	_cleanup_(json_decrefp) json_t *jwk = NULL;
	struct host_tpm_key tk;
	int r;

	r = state_read_key(a, F_TK, &tk, e);
	if (r < 0)
		return r;
	r = tpm2_key_from_public(tk.pub.pub, tk.pub.pub_len, &k, e);
	if (r < 0)
		return r;
	r = token_jwk_from_pkey(k->pkey, &jwk, e);
	if (r < 0)
		return r;
	return token_jwk_thumbprint(jwk, out, e);
}

static void token_status(struct host_agent *a, bool fetch_keys, json_t *out,
			 bool *healthy)
{
	_cleanup_free_ uint8_t *jwt = NULL;
	_cleanup_(json_decrefp) json_t *claims = NULL;
	_cleanup_(response_clearp) struct host_client_response resp = { 0 };
	json_t *tj = json_object(), *exp;
	struct host_client *c;
	struct err e = { 0 };
	int64_t now = (int64_t)time(NULL);
	char tk_thp[64], cnf_thp[64];
	size_t len;
	int r;

	*healthy = false;
	if (!tj)
		return;
	json_object_set_new(out, "token", tj);
	r = state_read(a, F_TOKEN, TOKEN_MAX_SIZE, &jwt, &len, &e);
	json_object_set_new(tj, "present", json_boolean(r == 0));
	if (r < 0) {
		if (r != -ENOENT)
			json_object_set_new(tj, "error", json_string(err_str(&e)));
		return;
	}
	json_object_set_new(tj, "file", json_sprintf("%s/%s", a->state_dir,
						     F_TOKEN));
	r = host_agent_jwt_claims_unverified((const char *)jwt, len, &claims,
					     &e);
	if (r < 0) {
		json_object_set_new(tj, "error", json_string(err_str(&e)));
		return;
	}
	json_object_set_new(tj, "claims", claims_summary(claims));
	exp = json_object_get(claims, "exp");
	json_object_set_new(tj, "expired",
			    json_boolean(!json_is_integer(exp) ||
					 json_integer_value(exp) <= now));
	if (json_is_integer(exp))
		json_object_set_new(tj, "expires_in",
				    json_integer(json_integer_value(exp) - now));
	*healthy = json_is_integer(exp) && json_integer_value(exp) > now;

	/* bound to our transport key? (thumbprint computed, not cnf.kid) */
	if (transport_key_thumbprint(a, tk_thp, &e) == 0 &&
	    json_is_object(json_object_get(json_object_get(claims, "cnf"), "jwk")) &&
	    token_jwk_thumbprint(json_object_get(json_object_get(claims, "cnf"),
						 "jwk"),
				 cnf_thp, &e) == 0) {
		bool same = streq(tk_thp, cnf_thp);

		json_object_set_new(tj, "bound_to_transport_key",
				    json_boolean(same));
		if (!same)
			*healthy = false;
	}

	e.msg[0] = '\0';
	if (!fetch_keys || !a->n_urls || get_client(a, &c, &e) < 0) {
		json_object_set_new(tj, "verified", json_false());
		json_object_set_new(tj, "verification",
				    json_string("not verified: claims decoded "
						"without checking the "
						"signature (no hgsd URL "
						"configured)"));
		return;
	}
	r = host_client_request(c, "GET", "/v1/keys", NULL, &resp, &e);
	if (r < 0) {
		json_object_set_new(tj, "verified", json_false());
		json_object_set_new(tj, "verification",
				    json_sprintf("not verified: claims decoded "
						 "without checking the "
						 "signature (GET /v1/keys: %s)",
						 err_str(&e)));
		return;
	}
	r = token_verify(resp.body, (const char *)jwt, now, NULL, &e);
	json_object_set_new(tj, "verified", json_boolean(r == 0));
	if (r == 0)
		json_object_set_new(tj, "verification",
				    json_sprintf("signature and claims valid "
						 "(JWK Set from %s)",
						 resp.url));
	else {
		json_object_set_new(tj, "verification",
				    json_sprintf("INVALID against the JWK Set "
						 "from %s: %s",
						 resp.url, err_str(&e)));
		*healthy = false;
	}
}

int host_agent_status(struct host_agent *a, bool fetch_keys, json_t **ret,
		      bool *ret_healthy, struct err *e)
{
	_cleanup_(json_decrefp) json_t *out = json_object();
	json_t *enr = NULL, *last = NULL;
	struct err le = { 0 };
	bool healthy = false;
	int r;

	if (!out)
		return err_set(e, ENOMEM, "out of memory");
	json_object_set_new(out, "state_dir", json_string(a->state_dir));
	r = state_read_json(a, F_ENROLLMENT, &enr, &le);
	json_object_set_new(out, "enrolled",
			    json_boolean(r == 0 && state_exists(a, F_AK)));
	if (r == 0)
		json_object_set_new(out, "enrollment", enr);
	else if (r != -ENOENT)
		json_object_set_new(out, "enrollment_error",
				    json_string(err_str(&le)));
	json_object_set_new(out, "transport_key",
			    json_boolean(state_exists(a, F_TK)));
	token_status(a, fetch_keys, out, &healthy);
	le.msg[0] = '\0';
	r = state_read_json(a, F_STATUS, &last, &le);
	if (r == 0)
		json_object_set_new(out, "last_attestation", last);
	else if (r != -ENOENT)
		json_object_set_new(out, "last_attestation_error",
				    json_string(err_str(&le)));
	json_object_set_new(out, "healthy", json_boolean(healthy));
	*ret_healthy = healthy;
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- capture-baseline ---------------------------------------------------*/

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > HGSD_NAME_MAX || n[0] == '.' || n[0] == '-')
		return false;
	for (; *n; n++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
			    "wxyz0123456789._-",
			    *n))
			return false;
	return true;
}

int host_agent_capture_baseline(struct host_agent *a,
				 const struct host_agent_capture_options *co,
				 json_t **ret, struct err *e)
{
	_cleanup_(eventlog_freep) struct eventlog *log = NULL;
	_cleanup_(baseline_freep) struct baseline *b = NULL;
	_cleanup_(host_tpm_closep) struct host_tpm *t = NULL;
	_cleanup_(json_decrefp) json_t *bj = NULL, *out = NULL;
	_cleanup_free_ uint8_t *raw = NULL, *cert = NULL;
	_cleanup_free_ char *dump = NULL, *bfile = NULL;
	const char *log_path = co->event_log ? co->event_log
					     : HOST_AGENT_DEFAULT_EVENT_LOG;
	char host[HGSD_NAME_MAX + 1] = "";
	const char *name = co->name;
	struct host_tpm_public ek;
	size_t raw_len, cert_len = 0, n;
	json_t *cmds;
	int r;

	if (!name) {
		if (gethostname(host, sizeof(host) - 1) < 0)
			return err_set(e, errno, "gethostname: %s",
				       strerror(errno));
		char *dot = strchr(host, '.');

		if (dot)
			*dot = '\0';
		name = host;
	}
	if (!name_ok(name))
		return err_set(e, EINVAL,
			       "name '%s': use 1-%u of A-Z a-z 0-9 . _ -, not "
			       "starting with . or - (--name N)",
			       name, HGSD_NAME_MAX);
	r = file_read(log_path, EVENTLOG_MAX_SIZE, &raw, &raw_len, e);
	if (r < 0) {
		err_prefix(e, "event log");
		return r;
	}
	r = eventlog_parse(raw, raw_len, &log, e);
	if (r < 0) {
		err_prefix(e, "event log %s", log_path);
		return r;
	}
	r = eventlog_check_digests(log, e);
	if (r < 0) {
		err_prefix(e, "event log %s", log_path);
		return r;
	}
	err_clear(e);
	r = baseline_capture(log, name, log_path, NULL, BASELINE_DEFAULT_PCRS,
			     &b, e);
	if (r < 0) {
		err_prefix(e, "baseline from %s", log_path);
		return r;
	}
	bj = baseline_to_json(b);
	dump = bj ? json_dumps(bj, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
	if (!dump)
		return err_set(e, ENOMEM, "out of memory");
	n = strlen(dump);
	dump[n] = '\n';

	r = open_tpm(a, &t, e);
	if (r < 0)
		return r;
	r = host_tpm_ek_public(t, co->ek, &ek, e);
	if (r < 0) {
		err_prefix(e, "EK (%s)", host_tpm_ek_type_to_string(co->ek));
		return r;
	}
	r = host_tpm_ek_cert(t, co->ek, &cert, &cert_len, e);
	if (r == -ENOENT) {
		cert = NULL;
		err_clear(e);
	} else if (r < 0) {
		err_prefix(e, "EK certificate");
		return r;
	}

	if (co->output) {
		r = file_write(co->output, dump, n + 1, 0644, e);
		bfile = strdup(co->output);
	} else {
		r = state_write(a, F_BASELINE, dump, n + 1, e);
		if (r == 0 && asprintf(&bfile, "%s/%s", a->state_dir,
				       F_BASELINE) < 0)
			bfile = NULL;
	}
	if (r < 0)
		return r;
	if (!bfile)
		return err_set(e, ENOMEM, "out of memory");
	r = state_write(a, F_EK_PUB, ek.pub, ek.pub_len, e);
	if (r < 0)
		return r;
	if (cert)
		r = state_write(a, F_EK_CERT, cert, cert_len, e);
	else if (unlinkat(a->dfd, F_EK_CERT, 0) < 0 && errno != ENOENT)
		r = err_set(e, errno, "%s/%s: %s", a->state_dir, F_EK_CERT,
			    strerror(errno));
	if (r < 0)
		return r;

	out = json_object();
	cmds = json_array();
	if (!out || !cmds ||
	    !set(out, "name", json_string(name)) ||
	    !set(out, "event_log", json_string(log_path)) ||
	    !set(out, "baseline_file", json_string(bfile)) ||
	    !set(out, "bank", json_string(b->alg->name)) ||
	    !set(out, "ek_type",
		 json_string(host_tpm_ek_type_to_string(co->ek))) ||
	    !set(out, "ek_pub_file",
		 json_sprintf("%s/%s", a->state_dir, F_EK_PUB)) ||
	    !set(out, "ek_pub", jose_b64_enc(ek.pub, ek.pub_len)) ||
	    !set(out, "ek_name", json_hex(ek.name, ek.name_len)) ||
	    (cert && !set(out, "ek_cert_file",
			  json_sprintf("%s/%s", a->state_dir, F_EK_CERT))) ||
	    !set(out, "commands", cmds) ||
	    json_array_append_new(
		    cmds, json_sprintf("hgsctl host add --name %s --ek-pub "
				       "%s/%s",
				       name, a->state_dir, F_EK_PUB)) < 0 ||
	    (cert && json_array_append_new(
			     cmds, json_sprintf("hgsctl host add --name %s "
						"--ek-cert %s/%s",
						name, a->state_dir,
						F_EK_CERT)) < 0) ||
	    json_array_append_new(
		    cmds, json_sprintf("hgsctl baseline add --name %s "
				       "--from-file %s",
				       name, bfile)) < 0)
		return err_set(e, ENOMEM, "out of memory");
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- for key release ----------------------------------------------------*/

int host_agent_client(struct host_agent *a, struct host_client **ret,
		      struct err *e)
{
	if (!a->n_urls)
		return err_set(e, EINVAL,
			       "no hgsd URL: give --hgs or set hgs_urls in "
			       "%s/%s",
			       a->state_dir, F_CONFIG);
	return get_client(a, ret, e);
}

int host_agent_open_tpm(struct host_agent *a, struct host_tpm **ret,
			struct err *e)
{
	return open_tpm(a, ret, e);
}

int host_agent_transport_key(struct host_agent *a, struct host_tpm_key *ret,
			     struct err *e)
{
	return state_read_key(a, F_TK, ret, e);
}

/* Is the stored token good for margin more seconds and bound to our
 * transport key? A reason when not. */
static bool token_usable(struct host_agent *a, const char *jwt, size_t len,
			 int64_t margin, char *why, size_t why_len)
{
	_cleanup_(json_decrefp) json_t *claims = NULL;
	json_t *exp, *iat, *jwk;
	char tk_thp[64], cnf_thp[64];
	struct err e = { 0 };

	if (host_agent_jwt_claims_unverified(jwt, len, &claims, &e) < 0) {
		snprintf(why, why_len, "its claims do not decode");
		return false;
	}
	exp = json_object_get(claims, "exp");
	iat = json_object_get(claims, "iat");
	/* short-lived tokens (lifetime under 4 margins): a quarter of it */
	if (json_is_integer(exp) && json_is_integer(iat) &&
	    json_integer_value(exp) > json_integer_value(iat) &&
	    (json_integer_value(exp) - json_integer_value(iat)) / 4 < margin)
		margin = (json_integer_value(exp) - json_integer_value(iat)) / 4;
	if (!json_is_integer(exp) ||
	    json_integer_value(exp) - (int64_t)time(NULL) < margin) {
		snprintf(why, why_len, "it expires in less than %llds",
			 (long long)margin);
		return false;
	}
	jwk = json_object_get(json_object_get(claims, "cnf"), "jwk");
	if (!json_is_object(jwk) ||
	    transport_key_thumbprint(a, tk_thp, &e) < 0 ||
	    token_jwk_thumbprint(jwk, cnf_thp, &e) < 0 ||
	    !streq(tk_thp, cnf_thp)) {
		snprintf(why, why_len,
			 "it is not bound to this host's transport key");
		return false;
	}
	return true;
}

int host_agent_token(struct host_agent *a, const char *event_log,
		     int64_t margin, bool no_attest, char **ret_jwt,
		     bool *ret_attested, struct err *e)
{
	_cleanup_free_ uint8_t *jwt = NULL;
	char why[160] = "there is none";
	size_t len = 0;
	int r;

	if (ret_attested)
		*ret_attested = false;
	r = state_read(a, F_TOKEN, TOKEN_MAX_SIZE, &jwt, &len, e);
	if (r < 0 && r != -ENOENT)
		return r;
	/* a token put there by hand may end with a newline */
	while (r == 0 && len && (jwt[len - 1] == '\n' || jwt[len - 1] == '\r'))
		jwt[--len] = '\0';
	if (r == 0 && margin < 0 && !no_attest)
		snprintf(why, sizeof(why), "hgsd refused it");
	else if (r == 0 &&
		 (no_attest || token_usable(a, (const char *)jwt, len, margin,
					    why, sizeof(why)))) {
		*ret_jwt = (char *)TAKE_PTR(jwt);
		return 0;
	}
	if (no_attest)
		return r; /* -ENOENT, e says which file */
	err_clear(e);
	progress(a, "attesting first: the stored token is not usable (%s)",
		 why);
	r = host_agent_attest(a, event_log, NULL, e);
	if (r < 0) {
		err_prefix(e, "attestation");
		return r;
	}
	free(jwt);
	jwt = NULL;
	r = state_read(a, F_TOKEN, TOKEN_MAX_SIZE, &jwt, &len, e);
	if (r < 0)
		return r;
	if (ret_attested)
		*ret_attested = true;
	*ret_jwt = (char *)TAKE_PTR(jwt);
	return 0;
}
